//! Easy VPN `mode client`: the inside LAN behind the one address the server assigned.
//!
//! The server's Quick Mode admits only its lease as our proxy identity, so a packet from an
//! inside host would be refused there (and is outside our own pair's identities). As an IOS
//! remote does, the tunnel layer translates such packets (PAT, many-to-one, [`Pat`]) to the
//! assigned address before they are classified and sealed, and translates the answers back
//! after they are opened. Only packets that the profile's entry would carry are translated:
//! other crypto maps of the same gateway see their own sources. Packets to the assigned
//! address that no mapping names (the gateway's own traffic) are delivered as they are.

use super::pat::{Pat, PatLimits, Translated};
use super::*;

/// The translation of the one `mode client` connection that is up.
#[derive(Debug)]
pub(super) struct ClientPat {
    /// The entry of the profile whose connection is translated.
    entry: usize,
    /// The address the server assigned.
    public: Ipv4Addr,
    pat: Pat,
    /// A copy of the outbound packet being translated (the verbs take `&[u8]`); grown once,
    /// kept, so translation allocates nothing per packet.
    scratch: Vec<u8>,
}

impl Tunnels {
    /// A `mode client` profile of `entry` was given `public`: translate its inside hosts from
    /// now on (a new address starts an empty table).
    pub(super) fn pat_start(&mut self, entry: usize, public: Ipv4Addr) {
        match &mut self.client_pat {
            Some(c) if c.entry == entry && c.public == public => {}
            _ => {
                self.client_pat = Some(Box::new(ClientPat {
                    entry,
                    public,
                    pat: Pat::new(PatLimits::default()),
                    scratch: Vec::new(),
                }))
            }
        }
    }

    /// The connection of `entry` went: its mappings go with it.
    pub(super) fn pat_stop(&mut self, entry: usize) {
        if self.client_pat.as_ref().is_some_and(|c| c.entry == entry) {
            self.client_pat = None;
        }
    }

    /// Whether cleartext packets may need translating (the batch verbs then go one by one).
    pub(super) fn pat_active(&self) -> bool {
        self.client_pat.is_some()
    }

    /// The earliest idle mapping's expiry.
    pub(super) fn pat_due(&self) -> Option<Instant> {
        self.client_pat.as_ref().and_then(|c| c.pat.next_deadline())
    }

    /// Removes the mappings idle past their timeout.
    pub(super) fn pat_expire(&mut self, now: Instant) {
        if let Some(c) = &mut self.client_pat {
            c.pat.expire(now);
        }
    }

    /// Protects `pkt`, translated first when it comes from an inside host and the profile's
    /// entry carries it; `None` when no translation applies (the caller protects `pkt`).
    pub(super) fn pat_protect(
        &mut self,
        now: Instant,
        pkt: &[u8],
        out: &mut Outputs,
    ) -> Option<TunVerdict> {
        let c = self.client_pat.as_ref()?;
        let t = five_tuple(pkt)?;
        if t.src == c.public {
            return None;
        }
        let flow = self.classify_after(&t, None).ok()??;
        if self.flows.get(flow).map(|f| f.entry) != Some(c.entry) {
            return None;
        }
        let mut c = self.client_pat.take()?;
        c.scratch.clear();
        c.scratch.extend_from_slice(pkt);
        let verdict = match c.pat.outbound(now, &mut c.scratch, c.public) {
            Ok(Translated::Unchanged) => None,
            // `protect` again (the MSS clamp applies to the translated SYN); the table is out
            // of `self` meanwhile, so it does not come back here.
            Ok(_) => Some(self.protect(now, &c.scratch, out)),
            Err(e) => {
                self.counters.pat_dropped += 1;
                out.debug(
                    DebugKind::Ipsec,
                    format_args!("NAT: packet from {} not translated: {e}", t.src),
                );
                Some(TunVerdict::SendError)
            }
        };
        self.client_pat = Some(c);
        verdict
    }

    /// An opened packet of flow `flow` for the assigned address: back to the inside host whose
    /// mapping it names (as it is when none does: it is for the gateway itself).
    pub(super) fn pat_inbound(&mut self, now: Instant, flow: usize, inner: &mut [u8]) {
        let Some(c) = &mut self.client_pat else {
            return;
        };
        if self.flows.get(flow).map(|f| f.entry) != Some(c.entry) {
            return;
        }
        // No mapping, or a protocol PAT does not translate: the packet is for the gateway
        // itself and goes on untouched (PAT leaves a packet it refuses as it was).
        let _ = c.pat.inbound(now, inner, c.public);
    }

    /// `show ip nat translations`: the mappings of the `mode client` connection, IOS columns.
    pub fn show_nat_translations(&self, now: Instant) -> String {
        let mut o = String::new();
        let Some(c) = &self.client_pat else {
            return o;
        };
        o.push_str(super::pat::PatEntry::HEADER);
        o.push('\n');
        for e in c.pat.entries(now) {
            o.push_str(&e.to_string());
            o.push('\n');
        }
        o
    }
}
