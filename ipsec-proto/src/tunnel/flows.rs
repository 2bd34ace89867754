//! The flows of a configuration: one per crypto ACL permit line of every entry (the unit
//! `show crypto ipsec sa` lists and counters outlive SAs in), and what the learned pairs of a
//! dynamic entry's flow admit.

use super::{Flow, MapEntryInfo, Tunnels};
use crate::esp::EspStats;
use crate::tunnel::selector_admits;

/// One flow per crypto ACL permit line of every entry, and where each entry's flows start.
pub(super) fn flows_of(
    peers: &[crate::ike::PeerConfig],
    entries: &[MapEntryInfo],
) -> (Vec<Flow>, Vec<usize>) {
    let mut flows = Vec::new();
    let mut flow_base = Vec::new();
    for (i, pc) in peers.iter().enumerate() {
        flow_base.push(flows.len());
        for (s, sel) in pc.selectors.iter().enumerate() {
            flows.push(Flow {
                entry: i,
                dynamic: entries.get(i).is_some_and(|e| e.dynamic.is_some()),
                any_proxies: entries.get(i).is_some_and(|e| e.any_proxies),
                selector: s,
                selectors: *sel,
                retired: EspStats::default(),
                invalid_identity: 0,
                current_out: None,
                next_out: None,
                live: Vec::new(),
                requested: false,
                up_since: None,
                largest_plain: 0,
                oversize: 0,
            });
        }
    }
    (flows, flow_base)
}

impl Tunnels {
    /// Whether a live pair of dynamic flow `f` admits `t` (its peer negotiated those proxies).
    pub(super) fn learned_admits(&self, f: &Flow, t: &crate::policy::FiveTuple) -> bool {
        f.live.iter().any(|c| {
            self.children.get(c).is_some_and(|ch| {
                selector_admits(&ch.selectors.remote, t.dst, t.protocol, t.dst_port)
                    && selector_admits(&ch.selectors.local, t.src, t.protocol, t.src_port)
            })
        })
    }
}
