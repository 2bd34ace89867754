//! History recording for `diagnose`, the IOS failure signatures of cisco-ios.md C.4 (debug lines
//! timestamped as an IOS router with an unset clock prints them, and `tracing` events for
//! embedders), the snapshot that feeds [`crate::diagnose`], and the key log setter.

use super::KeyLog;
use super::{Flow, Tunnels};
use crate::diagnose::{
    self, FailureKind, FlowView, Happening, History, IsakmpView, PeerInput, Verdict,
};
use crate::esp::{EspError, InboundError};
use crate::ike::{
    Error, Event, IsakmpState, Path, PeerIncompatible, Phase1Attribute, Phase1Difference,
    ProposalEvidence, Role,
};
use crate::policy::TrafficSelector;
use crate::time::Instant;
use crate::tunnel::output::{DebugKind, Outputs};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// `*Mar  1 00:01:02.345: `: IOS `service timestamps debug datetime msec` on a router whose
/// clock was never set counts from March 1st; our clock is the caller's monotonic one.
pub struct IosTime(pub Instant);

impl fmt::Display for IosTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MONTHS: [(&str, u64); 12] = [
            ("Mar", 31),
            ("Apr", 30),
            ("May", 31),
            ("Jun", 30),
            ("Jul", 31),
            ("Aug", 31),
            ("Sep", 30),
            ("Oct", 31),
            ("Nov", 30),
            ("Dec", 31),
            ("Jan", 31),
            ("Feb", 28),
        ];
        let ms = self.0 .0;
        let mut days = (ms / 86_400_000) % 365;
        let mut month = "Mar";
        for (m, n) in MONTHS {
            month = m;
            if days < n {
                break;
            }
            days -= n;
        }
        let s = ms / 1000;
        write!(
            f,
            "*{month} {:>2} {:02}:{:02}:{:02}.{:03}",
            days + 1,
            (s / 3600) % 24,
            (s / 60) % 60,
            s % 60,
            ms % 1000
        )
    }
}

/// One failure-signature line: timestamped on the debug stream, and a warning for the host's
/// log whether or not anyone is debugging.
fn signature(out: &mut Outputs, now: Instant, kind: DebugKind, line: fmt::Arguments<'_>) {
    out.warning(line);
    out.debug(kind, format_args!("{}: {}", IosTime(now), line));
}

/// The transform-against-policy lines `debug crypto isakmp` prints before refusing MM1, made
/// from the refusal's evidence (debug only: the warning is the summary that follows).
fn phase1_checks(out: &mut Outputs, now: Instant, error: &Error) {
    let Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(ProposalEvidence::Phase1(e))) =
        error
    else {
        return;
    };
    let k = DebugKind::Isakmp;
    let t = IosTime(now);
    for m in e.mismatches() {
        out.debug(
            k,
            format_args!(
                "{t}: ISAKMP:(0):Checking ISAKMP transform {} against priority {} policy",
                m.transform, m.policy
            ),
        );
        let what = match m.attribute() {
            Phase1Attribute::Encryption => "Encryption algorithm",
            Phase1Attribute::Hash => "Hash algorithm",
            Phase1Attribute::Authentication => "Authentication method",
            Phase1Attribute::Group => "Diffie-Hellman group",
        };
        match m.difference {
            Phase1Difference::Encryption { .. }
            | Phase1Difference::Hash { .. }
            | Phase1Difference::Authentication { .. }
            | Phase1Difference::Group { .. } => out.debug(
                k,
                format_args!(
                    "{t}: ISAKMP:(0):{what} offered does not match policy! ({})",
                    m.difference
                ),
            ),
            // Not an IOS line: IOS runs every policy it accepts, we refuse some at check time.
            _ => out.debug(k, format_args!("{t}: ISAKMP:(0):{}", m.difference)),
        }
    }
}

fn ident(s: &TrafficSelector) -> String {
    let (a, m) = s.addr.addr_mask();
    format!(
        "({a}/{m}/{}/{})",
        s.protocol,
        s.ports.ikev1_port().unwrap_or(0)
    )
}

impl Tunnels {
    /// The newest ISAKMP SA with `peer` as last seen: (conn-id, state, initiator).
    fn known_state(&self, peer: IpAddr) -> Option<(u32, IsakmpState, bool)> {
        let conn = self.states_by_peer.last(&peer)?;
        self.states.get(&conn).map(|v| (conn, v.1, v.2))
    }

    pub(super) fn note_ike_rx(&mut self, now: Instant, path: &Path) {
        let state = self.known_state(path.remote.ip()).map(|s| s.1);
        self.history.record_ike_received(now, path, state);
    }

    pub(super) fn note_ike_tx(
        &mut self,
        now: Instant,
        peer: Ipv4Addr,
        local_port: u16,
        data: &[u8],
        out: &mut Outputs,
    ) {
        let peer = IpAddr::V4(peer);
        let st = self.known_state(peer);
        let retrans = self.history.record_ike_sent(
            peer,
            now,
            data,
            st.map(|s| s.1),
            st.is_some_and(|s| s.2),
            local_port,
        );
        if retrans {
            let (conn, state) = st.map_or((0, IsakmpState::MmNoState), |s| (s.0, s.1));
            let phase = if state == IsakmpState::QmIdle { 2 } else { 1 };
            let attempt = self.history.peer(peer).map_or(1, |h| h.retrans_run);
            let conn = if phase == 1 && state != IsakmpState::MmKeyExch {
                0
            } else {
                conn
            };
            signature(
                out,
                now,
                DebugKind::Isakmp,
                format_args!("ISAKMP:({conn}): retransmitting phase {phase} {state}..."),
            );
            signature(
                out,
                now,
                DebugKind::Isakmp,
                format_args!(
                    "ISAKMP:({conn}):incrementing error counter on sa, attempt {attempt} of 5: retransmit phase {phase}"
                ),
            );
        }
    }

    /// Records what an endpoint event says about its peer and prints the IOS failure
    /// signature.
    pub(super) fn note_event(&mut self, now: Instant, ev: &Event, out: &mut Outputs) {
        if let Event::NegotiationFailed {
            remote,
            phase,
            error,
            ..
        } = ev
        {
            let kind = FailureKind::from_error(error);
            self.failure_signature(now, remote.ip(), *phase, error, &kind, out);
        }
        let states = &self.states;
        self.history
            .record_event(now, ev, &|sa| states.get(&sa.0).map(|v| v.0));
    }

    fn failure_signature(
        &self,
        now: Instant,
        peer: IpAddr,
        phase: u8,
        error: &Error,
        kind: &FailureKind,
        out: &mut Outputs,
    ) {
        let local = self
            .entries
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |e| e.local);
        let conn = self.known_state(peer).map_or(0, |s| s.0);
        let k = DebugKind::Isakmp;
        match (phase, kind) {
            (1, FailureKind::NoProposalChosen) => {
                phase1_checks(out, now, error);
                signature(out, now, k, format_args!("ISAKMP:(0):atts are not acceptable. Next payload is 0"));
                signature(out, now, k, format_args!("ISAKMP:(0):no offers accepted!"));
                signature(
                    out,
                    now,
                    k,
                    format_args!("ISAKMP:(0): phase 1 SA policy not acceptable! (local {local} remote {peer})"),
                );
                signature(
                    out,
                    now,
                    k,
                    format_args!("%CRYPTO-6-IKMP_MODE_FAILURE: Processing of Main mode failed with peer at {peer}"),
                );
            }
            (_, FailureKind::PskMismatch) => signature(
                out,
                now,
                k,
                format_args!("%CRYPTO-4-IKMP_BAD_MESSAGE: IKE message from {peer} failed its sanity check or is malformed"),
            ),
            (_, FailureKind::HashMismatch) => signature(
                out,
                now,
                k,
                format_args!("ISAKMP:({conn}):hash verification failed (peer {peer})"),
            ),
            (_, FailureKind::Certificate(_)) => signature(
                out,
                now,
                k,
                format_args!("%CRYPTO-5-IKMP_INVAL_CERT: Certificate received from {peer} failed validation"),
            ),
            (_, FailureKind::NoKey) => {
                signature(out, now, k, format_args!("ISAKMP:(0):No pre-shared key with {peer}!"));
            }
            (2, FailureKind::ProxyIdentities) => {
                signature(
                    out,
                    now,
                    DebugKind::Ipsec,
                    format_args!("IPSEC(ipsec_process_proposal): proxy identities not supported"),
                );
                signature(
                    out,
                    now,
                    k,
                    format_args!("ISAKMP:({conn}):IPSec policy invalidated proposal with error 32"),
                );
                signature(
                    out,
                    now,
                    k,
                    format_args!("ISAKMP:({conn}): phase 2 SA policy not acceptable! (local {local} remote {peer})"),
                );
            }
            (2, FailureKind::NoProposalChosen | FailureKind::Pfs) => {
                signature(
                    out,
                    now,
                    DebugKind::Ipsec,
                    format_args!("IPSEC(ipsec_process_proposal): transform proposal not supported for identity"),
                );
                signature(
                    out,
                    now,
                    k,
                    format_args!("ISAKMP:({conn}):IPSec policy invalidated proposal with error 256"),
                );
                signature(
                    out,
                    now,
                    k,
                    format_args!("ISAKMP:({conn}): phase 2 SA policy not acceptable! (local {local} remote {peer})"),
                );
            }
            (1, FailureKind::NoReply { state, .. }) => signature(
                out,
                now,
                k,
                format_args!("ISAKMP:({conn}):deleting SA reason \"Death by retransmission P1\" state (I) {state} (peer {peer})"),
            ),
            (2, FailureKind::NoReply { .. }) => signature(
                out,
                now,
                k,
                format_args!("ISAKMP:({conn}):deleting node reason \"Death by retransmission P2\" (peer {peer})"),
            ),
            (_, FailureKind::Notify(n)) => signature(
                out,
                now,
                k,
                format_args!(
                    "ISAKMP:({conn}):processing NOTIFY {} protocol {}",
                    n.replace('-', "_").replace("NO_PROPOSAL_CHOSEN", "PROPOSAL_NOT_CHOSEN"),
                    if phase == 1 { 1 } else { 3 }
                ),
            ),
            _ => signature(out, now, k, format_args!("ISAKMP:({conn}):phase {phase} with {peer} failed: {error}")),
        }
    }

    /// An inbound ESP packet was refused: IOS syslog line, history.
    pub(super) fn note_esp_error(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        spi: u32,
        err: &InboundError,
        out: &mut Outputs,
    ) {
        let local = self
            .entries
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |e| e.local);
        let peer = IpAddr::V4(src);
        match err {
            InboundError::UnknownSpi(spi) => {
                self.history
                    .record(peer, now, Happening::InvalidSpi { spi: *spi });
                signature(
                    out,
                    now,
                    DebugKind::Ipsec,
                    format_args!(
                        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for destaddr={local}, prot=50, spi=0x{spi:X}({spi}), srcaddr={src}"
                    ),
                );
            }
            InboundError::Esp(e) => {
                let conn = self.children.by_spi(spi).map_or(0, |(_, c)| c.conn_in);
                match e {
                    EspError::Authentication => {
                        self.history
                            .record(peer, now, Happening::VerifyFailed { spi });
                        signature(
                            out,
                            now,
                            DebugKind::Ipsec,
                            format_args!("%CRYPTO-4-RECVD_PKT_MAC_ERR: decrypt: mac verify failed for connection id={conn}"),
                        );
                    }
                    EspError::Replayed { .. }
                    | EspError::TooOld { .. }
                    | EspError::SequenceZero => {
                        self.history
                            .record(peer, now, Happening::ReplayFailed { spi });
                        signature(
                            out,
                            now,
                            DebugKind::Ipsec,
                            format_args!("%CRYPTO-4-PKT_REPLAY_ERR: decrypt: replay check failed connection id={conn}"),
                        );
                    }
                    other => out.debug(
                        DebugKind::Ipsec,
                        format_args!("IPSEC(decaps): packet from {src} dropped: {other}"),
                    ),
                }
            }
            other => out.debug(
                DebugKind::Ipsec,
                format_args!("IPSEC(decaps): packet from {src} dropped: {other}"),
            ),
        }
    }

    /// Starts (or stops, with `None`) handing keys to a [`KeyLog`]: the endpoint gets it and
    /// logs the ISAKMP SAs that already have keys at once, then every new ISAKMP SA and IPsec
    /// SA pair as it is keyed.
    pub fn set_keylog(&mut self, log: Option<Box<dyn KeyLog>>) {
        self.endpoint.set_keylog(log);
    }

    /// The recorded history of every peer.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The peers a dynamic entry learned (ISAKMP SAs and IPsec SA pairs it owns), each once.
    fn learned_peers(&self, entry: usize, sas: &[crate::ike::IsakmpSaInfo]) -> Vec<Ipv4Addr> {
        let Some(e) = self.entries.get(entry) else {
            return Vec::new();
        };
        let mut v: Vec<Ipv4Addr> = sas
            .iter()
            .filter(|s| s.peer == e.peer)
            .filter_map(|s| match s.path.remote.ip() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect();
        for f in self.flows.iter().filter(|f| f.entry == entry) {
            v.extend(
                f.live
                    .iter()
                    .filter_map(|id| self.children.get(id))
                    .filter_map(super::ChildSa::peer),
            );
        }
        let mut seen = Vec::new();
        v.retain(|a| {
            let new = !seen.contains(a);
            seen.push(*a);
            new
        });
        v
    }

    /// A flow's view; with `learned` (a dynamic entry's peer) only that peer's pairs, with the
    /// proxy identities it negotiated, and `None` when it has none under this flow.
    fn flow_view_of(&self, f: &Flow, learned: Option<Ipv4Addr>) -> FlowView {
        let mine = |c: &super::ChildSa| learned.is_none_or(|p| c.peer() == Some(p));
        let s = match learned {
            None => self.flow_stats(f),
            Some(_) => {
                let mut s = crate::esp::EspStats::default();
                for c in f.live.iter().filter_map(|id| self.children.get(id)) {
                    if mine(c) {
                        s.add(&c.out.stats());
                        s.add(&c.inbound.stats());
                    }
                }
                s
            }
        };
        let newest = f
            .live
            .iter()
            .rev()
            .filter_map(|id| self.children.get(id))
            .find(|c| mine(c));
        let selectors = match (learned, newest) {
            (Some(_), Some(c)) => c.selectors,
            _ => f.selectors,
        };
        let e = self.entries.get(f.entry);
        let acl_line = e
            .and_then(|e| {
                let line = e
                    .line_selector
                    .iter()
                    .position(|x| *x == Some(f.selector))?;
                let l = e.acl.entries.get(line)?;
                Some(format!(
                    "access-list {} {}",
                    e.acl.name,
                    l.render(e.acl.kind)
                ))
            })
            .unwrap_or_default();
        let current = match learned {
            None => f.current_out.and_then(|c| self.children.get(&c)),
            Some(_) => newest,
        };
        FlowView {
            acl_line,
            local_ident: ident(&selectors.local),
            remote_ident: ident(&selectors.remote),
            sa_up: current.is_some(),
            udp_encap: current.is_some_and(|c| c.out.config().udp_encap),
            encaps: s.encaps,
            decaps: s.decaps,
            send_errors: s.send_errors(),
            verify_failed: s.verify_failed,
            replay_failed: s.replay_failed,
            decrypt_failed: s.invalid_len.saturating_add(s.decaps_failed),
            invalid_identity: f.invalid_identity,
            path_mtu: self.path_mtu,
            plaintext_mtu: u16::try_from(self.tun_mtu).unwrap_or(u16::MAX),
            largest_plaintext: f.largest_plain,
            oversize: f.oversize,
        }
    }

    /// The input of [`crate::diagnose::diagnose`]: one [`PeerInput`] per crypto map
    /// entry (all, or those whose `set peer` is `peer`).
    pub fn diagnose_inputs(&self, now: Instant, peer: Option<Ipv4Addr>) -> Vec<PeerInput> {
        let sas = self.endpoint.isakmp_sas(now);
        let cfg = self.endpoint.config();
        // A dynamic entry is diagnosed per peer it learned (IOS instantiates an entry for
        // each); a template nobody used yet stands as itself (peer 0.0.0.0).
        let mut todo: Vec<(usize, Ipv4Addr, bool)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let learned = match e.dynamic {
                Some(_) => self.learned_peers(i, &sas),
                None => Vec::new(),
            };
            if learned.is_empty() {
                todo.push((i, e.peer_addr, false));
            } else {
                todo.extend(learned.into_iter().map(|a| (i, a, true)));
            }
        }
        let strangers: Vec<(IpAddr, u64)> =
            self.strangers(now).map(|(a, h)| (a, h.ike_rx)).collect();
        todo.into_iter()
            .filter(|(_, a, _)| peer.is_none_or(|p| p == *a))
            .filter_map(|(i, a, learned)| Some((i, self.entries.get(i)?, a, learned)))
            .map(|(i, e, peer_addr, learned)| {
                let pc = cfg.peers.get(i);
                let addr = IpAddr::V4(peer_addr);
                let map = match (&e.dynamic, learned) {
                    (Some((d, s)), true) => {
                        format!(
                            "{} {} (dynamic map {d} {s}, learned peer {peer_addr})",
                            e.map, e.seq
                        )
                    }
                    (Some((d, s)), false) => format!("{} {} (dynamic map {d} {s})", e.map, e.seq),
                    (None, _) => format!("{} {}", e.map, e.seq),
                };
                PeerInput {
                    peer: Some(addr),
                    local: Some(IpAddr::V4(e.local)),
                    map,
                    vti: e.vti,
                    policies: pc
                        .map(|p| {
                            p.isakmp_policies
                                .iter()
                                .map(|x| {
                                    format!(
                                        "priority {}: {} {} group {} {}",
                                        x.priority,
                                        x.encryption.ios_keyword(),
                                        x.hash.ios_keyword(),
                                        x.group,
                                        x.authentication.ios_keyword()
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    transform_sets: pc
                        .map(|p| {
                            p.transform_sets
                                .iter()
                                .map(|t| format!("{}: {}", t.name, t.display_transforms()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    pfs: e.pfs_group,
                    isakmp: sas
                        .iter()
                        .filter(|s| {
                            if learned {
                                s.peer == e.peer && s.path.remote.ip() == addr
                            } else {
                                s.peer == e.peer || s.path.remote.ip() == addr
                            }
                        })
                        .map(|s| IsakmpView {
                            conn_id: s.conn_id,
                            state: s.state,
                            initiator: s.role == Role::Initiator,
                            nat_t: s.nat_t,
                        })
                        .collect(),
                    flows: self
                        .flows
                        .iter()
                        .filter(|f| f.entry == i)
                        .map(|f| self.flow_view_of(f, learned.then_some(peer_addr)))
                        .collect(),
                    history: {
                        let mut h = self.history.peer(addr).cloned().unwrap_or_default();
                        h.last_rx = h.last_rx.max(self.esp_last_rx(i));
                        h
                    },
                    strangers: strangers.clone(),
                }
            })
            .collect()
    }

    /// Addresses that sent IKE and are no `set peer`.
    fn strangers(&self, now: Instant) -> impl Iterator<Item = (IpAddr, &diagnose::PeerHistory)> {
        // Peers a dynamic entry learned are no strangers.
        let sas = self.endpoint.isakmp_sas(now);
        let learned: Vec<Ipv4Addr> = (0..self.entries.len())
            .filter(|i| self.entries.get(*i).is_some_and(|e| e.dynamic.is_some()))
            .flat_map(|i| self.learned_peers(i, &sas))
            .collect();
        self.history.peers().filter(move |(a, h)| {
            h.ike_rx > 0
                && !self.entries.iter().any(|e| IpAddr::V4(e.peer_addr) == *a)
                && !learned.iter().any(|l| IpAddr::V4(*l) == *a)
        })
    }

    /// When the live pairs of entry `entry` last accepted an ESP packet.
    fn esp_last_rx(&self, entry: usize) -> Option<Instant> {
        self.flows
            .iter()
            .filter(|f| f.entry == entry)
            .flat_map(|f| f.live.iter())
            .filter_map(|id| self.children.get(id))
            .filter_map(|c| c.inbound.usage().last_activity)
            .max()
    }

    /// `diagnose [peer X]`: configuration findings, then a verdict per peer with its evidence,
    /// then addresses that sent IKE without being a configured peer.
    pub fn diagnose(&self, now: Instant, peer: Option<Ipv4Addr>) -> Vec<Verdict> {
        let inputs = self.diagnose_inputs(now, peer);
        let cfg = peer.is_none().then_some(&self.config);
        let mut v = diagnose::diagnose(now, cfg, &inputs);
        if peer.is_none() {
            v.extend(
                self.strangers(now)
                    .filter_map(|(a, h)| diagnose::diagnose_stranger(now, a, h)),
            );
        }
        v
    }
}
