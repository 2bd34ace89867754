//! Route-based tunnels: IOS static virtual tunnel interfaces (`interface TunnelN`, `tunnel mode
//! ipsec ipv4`, `tunnel protection ipsec profile NAME`).
//!
//! A VTI is an entry of its own (see [`MapEntryInfo::vti`]) with one flow whose proxy
//! identities are 0.0.0.0/0 ⇄ 0.0.0.0/0, as IOS negotiates them. No crypto ACL classifies for
//! it: what the host routes into `TunnelN` ([`Iface::Tunnel`]) goes to its peer whatever the
//! addresses, and what its SAs decrypt comes out tagged [`Dest::Vti`]. As on IOS:
//! - the line protocol follows the IPsec SA: up when the flow has a pair, down otherwise,
//!   announced as [`TunnelEvent::LineProtocol`] so that the host withdraws the routes through a
//!   down tunnel (and a floating static route takes over);
//! - the tunnel initiates on its own, at start and whenever its line protocol goes down, without
//!   waiting for traffic (a deadline of [`Tunnels::poll_timeout`]); a failed attempt is retried
//!   with exponential back-off;
//! - when both ends initiate at once, each ends with two pairs (one it initiated, one it
//!   answered); both keep the pair whose Quick Mode the end with the lower address initiated
//!   and delete the other, so they converge to one pair without talking about it.

use super::*;

/// First retry after a failed attempt; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(64);
/// Two fresh pairs of one VTI negotiated this close together (by Quick Modes of opposite roles)
/// are a simultaneous initiation, not a peer that came back.
const COLLISION_WINDOW: Duration = Duration::from_secs(30);

/// The run-time state of one static VTI.
#[derive(Debug)]
pub(super) struct Vti {
    /// `N` of `TunnelN`.
    pub(super) number: u32,
    /// Its entry (and endpoint peer) index.
    pub(super) entry: usize,
    /// Its one flow.
    pub(super) flow: usize,
    /// `ip tcp adjust-mss` of the tunnel interface.
    pub(super) mss: Option<u16>,
    /// Line protocol as last announced.
    pub(super) line_up: bool,
    /// When to initiate next (`None`: an attempt is under way, or the line is up).
    pub(super) next_attempt: Option<Instant>,
    /// Wait after the next failure.
    pub(super) backoff: Duration,
    /// Failed attempts since the line was last up.
    pub(super) failures: u32,
}

/// The VTIs of `entries`, and their index by interface number.
pub(super) fn vtis_of(
    entries: &[MapEntryInfo],
    flow_base: &[usize],
    config: &GatewayConfig,
) -> (Vec<Vti>, std::collections::HashMap<u32, usize>) {
    let mut v = Vec::new();
    let mut by_number = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(n) = e.vti else { continue };
        let mss = config
            .interface(&e.interface)
            .and_then(|x| x.tcp_adjust_mss);
        by_number.insert(n, v.len());
        v.push(Vti {
            number: n,
            entry: i,
            flow: flow_base.get(i).copied().unwrap_or(usize::MAX),
            mss,
            line_up: false,
            // At start: as soon as the host first calls.
            next_attempt: Some(Instant::from_millis(0)),
            backoff: FIRST_BACKOFF,
            failures: 0,
        });
    }
    (v, by_number)
}

impl Tunnels {
    /// The VTI whose entry is `entry`.
    fn vti_of_entry(&self, entry: usize) -> Option<usize> {
        let n = self.entries.get(entry)?.vti?;
        self.vti_by_number.get(&n).copied()
    }

    /// Earliest VTI attempt, cached for [`Tunnels::poll_timeout`].
    pub(super) fn refresh_vti_due(&mut self) {
        self.vti_due = self.vtis.iter().filter_map(|v| v.next_attempt).min();
    }

    /// Runs the VTI attempts that are due.
    pub(super) fn vti_timeout(&mut self, now: Instant, out: &mut Outputs) {
        if self.vti_due.is_none_or(|t| t > now) {
            return;
        }
        for i in 0..self.vtis.len() {
            let Some(v) = self.vtis.get_mut(i) else {
                continue;
            };
            if v.next_attempt.is_none_or(|t| t > now) {
                continue;
            }
            v.next_attempt = None;
            let (entry, flow) = (v.entry, v.flow);
            let up = self.flows.get(flow).is_some_and(|f| !f.live.is_empty());
            if up {
                continue;
            }
            if let Err(err) = self.initiate_unprompted(now, entry, flow, out) {
                out.debug(
                    DebugKind::Isakmp,
                    format_args!("ISAKMP:(0):Can not start Main mode: {err}"),
                );
                self.vti_failed(now, entry);
            }
        }
        self.refresh_vti_due();
        self.pump(now, out);
    }

    /// Starts Phase 1 (and the Quick Mode of its one flow) for `entry` with no packet asking for
    /// it: a VTI's line coming up, an Easy VPN profile's `connect auto`. Marks the flow
    /// requested and prints the `IPSEC(sa_request)` a packet would have caused.
    pub(super) fn initiate_unprompted(
        &mut self,
        now: Instant,
        entry: usize,
        flow: usize,
        out: &mut Outputs,
    ) -> Result<(), crate::ike::Error> {
        if let Some(f) = self.flows.get_mut(flow) {
            f.requested = true;
        }
        self.debug_sa_request(flow, out);
        match self.entries.get(entry).map(|e| e.peer) {
            Some(peer) => self.endpoint.initiate(now, peer, 0),
            None => Ok(()),
        }
    }

    /// A negotiation of entry `entry` failed: when it is a VTI that is down, try again later.
    pub(super) fn vti_failed(&mut self, now: Instant, entry: usize) {
        let Some(i) = self.vti_of_entry(entry) else {
            return;
        };
        let up = self
            .vtis
            .get(i)
            .and_then(|v| self.flows.get(v.flow))
            .is_some_and(|f| !f.live.is_empty());
        if let Some(v) = self.vtis.get_mut(i) {
            if !up {
                v.failures = v.failures.saturating_add(1);
                v.next_attempt = Some(now.saturating_add(v.backoff));
                v.backoff = (v.backoff * 2).min(MAX_BACKOFF);
            }
        }
        self.refresh_vti_due();
    }

    /// The flow `fi` got its first pair (`up`) or lost its last one: the line protocol of its
    /// VTI, if it is one, follows.
    pub(super) fn vti_line(&mut self, now: Instant, fi: usize, up: bool) {
        let Some(entry) = self.flows.get(fi).map(|f| f.entry) else {
            return;
        };
        let Some(i) = self.vti_of_entry(entry) else {
            return;
        };
        let Some(v) = self.vtis.get_mut(i) else {
            return;
        };
        if v.line_up == up {
            return;
        }
        v.line_up = up;
        let iface = v.number;
        if up {
            v.backoff = FIRST_BACKOFF;
            v.failures = 0;
            v.next_attempt = None;
        } else {
            // IOS brings the tunnel back without waiting for traffic.
            v.next_attempt = Some(now);
        }
        self.refresh_vti_due();
        self.push_event(TunnelEvent::LineProtocol { iface, up });
    }

    /// Simultaneous initiation (see the module documentation): a fresh pair `new` of a VTI
    /// flow `fi` that already has a fresh pair negotiated the other way round. Returns the
    /// pair to delete, if any.
    pub(super) fn vti_collision(&self, fi: usize, new: ChildId) -> Option<ChildId> {
        let f = self.flows.get(fi)?;
        let e = self.entries.get(f.entry)?;
        e.vti?;
        let n = self.children.get(&new)?;
        let (n_role, n_at) = n.fresh?;
        let low_local = u32::from(e.local) < u32::from(e.peer_addr);
        // Whether the Quick Mode of a pair was initiated by the end with the lower address.
        let by_low = |we_initiated: bool| we_initiated == low_local;
        for id in f.live.iter().filter(|c| **c != new) {
            let Some(o) = self.children.get(id) else {
                continue;
            };
            let Some((o_role, o_at)) = o.fresh else {
                continue;
            };
            if o_role == n_role || n_at.saturating_duration_since(o_at) > COLLISION_WINDOW {
                continue;
            }
            return Some(if by_low(n_role) { *id } else { new });
        }
        None
    }

    /// Cleartext packets routed into `TunnelN` (VTI `vi`): each goes to the VTI's peer through
    /// its current pair, whatever its addresses. Runs of them are sealed like the crypto-map
    /// batches (the shared cipher passes for 3DES and AES-CBC), in order.
    pub(super) fn vti_plaintext_batch<'a>(
        &mut self,
        now: Instant,
        vi: usize,
        batch: impl Iterator<Item = &'a [u8]>,
        out: &mut Outputs,
    ) -> BatchVerdicts {
        let mut v = BatchVerdicts::default();
        let (fi, mss) = match self.vtis.get(vi) {
            Some(x) => (x.flow, x.mss),
            None => return v,
        };
        let mut chunk: [&[u8]; BATCH] = [&[]; BATCH];
        let mut routed: [Option<ChildId>; BATCH] = [None; BATCH];
        let mut n = 0usize;
        for pkt in batch {
            if pkt.len() < 20 || pkt.first().is_none_or(|b| b >> 4 != 4) {
                self.counters.tun_malformed += 1;
                v.add(TunVerdict::Malformed);
                continue;
            }
            let Some(flow) = self.flows.get_mut(fi) else {
                v.add(TunVerdict::SendError);
                continue;
            };
            let len = u32::try_from(pkt.len()).unwrap_or(u32::MAX);
            flow.largest_plain = flow.largest_plain.max(len);
            if len > self.tun_mtu {
                flow.oversize += 1;
            }
            let Some(child) = flow.outbound(now) else {
                // The line protocol is down; the tunnel is (re)initiating on its own.
                flow.retired.no_sa_send += 1;
                v.add(TunVerdict::NoSa);
                continue;
            };
            match mss {
                Some(max)
                    if syn_mss(pkt).is_some_and(|(_, m)| m > max) && pkt.len() <= SYN_COPY =>
                {
                    // Order within the flow: what came before goes first.
                    self.seal_run(now, &chunk, &mut routed, 0, n, &mut v, out);
                    n = 0;
                    let mut copy = [0u8; SYN_COPY];
                    let len = pkt.len();
                    if let Some(c) = copy.get_mut(..len) {
                        c.copy_from_slice(pkt);
                        clamp_mss(c, max);
                    }
                    let p = copy.get(..len).unwrap_or(&[]);
                    v.add(self.seal_single(now, child, p, out));
                }
                _ => {
                    if let (Some(c), Some(r)) = (chunk.get_mut(n), routed.get_mut(n)) {
                        *c = pkt;
                        *r = Some(child);
                        n += 1;
                    }
                    if n == BATCH {
                        self.seal_run(now, &chunk, &mut routed, 0, n, &mut v, out);
                        n = 0;
                    }
                }
            }
        }
        self.seal_run(now, &chunk, &mut routed, 0, n, &mut v, out);
        v
    }

    /// `ip tcp adjust-mss` of VTI `TunnelN`.
    pub(super) fn vti_mss(&self, n: u32) -> Option<u16> {
        self.vti_by_number
            .get(&n)
            .and_then(|i| self.vtis.get(*i))
            .and_then(|v| v.mss)
    }

    /// Line protocol of `TunnelN`: `None` when no VTI runs with that number.
    pub fn line_protocol(&self, n: u32) -> Option<bool> {
        let v = self.vtis.get(*self.vti_by_number.get(&n)?)?;
        Some(v.line_up)
    }
}
