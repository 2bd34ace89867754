//! The diagnosis over a bare [`ike::Endpoint`] (no gateway around it), for embedders that run
//! the five-call loop themselves, such as the C and Python bindings: [`EndpointRecorder`] keeps
//! the [`History`] as datagrams and events pass, and builds the [`PeerInput`]s from the
//! endpoint's views plus the ESP counters the caller holds.

use super::{
    diagnose, diagnose_stranger, FailureKind, FlowView, Happening, History, IsakmpView,
    PeerHistory, PeerInput, Verdict,
};
use crate::esp::EspStats;
use crate::ike::{self, ChildId, Event, Path, PeerId, Role};
use crate::policy::{GatewayConfig, TrafficSelector};
use crate::time::Instant;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// The ESP counters of one IPsec SA pair as the caller holds them: `(inbound, outbound)`.
pub type EspPairStats = (EspStats, EspStats);

/// Records what passes through an [`ike::Endpoint`]'s five calls, as the engine's gateway does
/// for its own endpoint. Call [`ike_received`](Self::ike_received) before handing a datagram
/// to the endpoint, [`ike_sent`](Self::ike_sent) for each datagram it returns,
/// [`event`](Self::event) for each event it emits, and [`sync`](Self::sync) after each input
/// (it notes ISAKMP states, so that a failure is recorded with the state the SA was in).
#[derive(Clone, Debug, Default)]
pub struct EndpointRecorder {
    history: History,
    /// conn-id -> (peer address, IOS state, initiator), as last seen (kept after the SA is
    /// gone so that late events still find their peer).
    states: BTreeMap<u32, (IpAddr, &'static str, bool)>,
}

/// `(192.168.1.0/255.255.255.0/0/0)`, as `show crypto ipsec sa` prints an identity.
fn ident(s: &TrafficSelector) -> String {
    let (a, m) = s.addr.addr_mask();
    format!(
        "({a}/{m}/{}/{})",
        s.protocol,
        s.ports.ikev1_port().unwrap_or(0)
    )
}

/// The crypto ACL line a selector pair stands for (the endpoint keeps no ACL text).
fn acl_line(index: usize, local: &TrafficSelector, remote: &TrafficSelector) -> String {
    let operand = |s: &TrafficSelector| {
        let (a, m) = s.addr.addr_mask();
        if m == Ipv4Addr::BROADCAST {
            format!("host {a}")
        } else {
            format!("{a} {}", Ipv4Addr::from(!u32::from(m)))
        }
    };
    let proto = if local.protocol == 0 {
        "ip".to_string()
    } else {
        local.protocol.to_string()
    };
    format!(
        "crypto ACL line {}: permit {proto} {} {}",
        index + 1,
        operand(local),
        operand(remote)
    )
}

impl EndpointRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        EndpointRecorder::default()
    }

    /// What was recorded so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    fn known_state(&self, peer: IpAddr) -> Option<(u32, &'static str, bool)> {
        self.states
            .iter()
            .rev()
            .find(|(_, v)| v.0 == peer)
            .map(|(c, v)| (*c, v.1, v.2))
    }

    /// An IKE datagram arrived on `path` (call before the endpoint processes it, so that the
    /// state recorded is the one it arrived in).
    pub fn ike_received(&mut self, now: Instant, path: &Path) {
        let peer = path.remote.ip();
        let state = self.known_state(peer).map(|s| s.1.to_string());
        self.history.record(
            peer,
            now,
            Happening::IkeReceived {
                state,
                local_port: path.local.port(),
                remote_port: path.remote.port(),
            },
        );
    }

    /// The endpoint sent `data` on `path` (without the non-ESP marker).
    pub fn ike_sent(&mut self, now: Instant, path: &Path, data: &[u8]) {
        let peer = path.remote.ip();
        let st = self.known_state(peer);
        self.history.record_ike_sent(
            peer,
            now,
            data,
            st.map(|s| s.1),
            st.is_some_and(|s| s.2),
            path.local.port(),
        );
    }

    /// Notes the ISAKMP states of `ep` (and NAT detection) as they are now.
    pub fn sync(&mut self, now: Instant, ep: &ike::Endpoint) {
        for s in ep.isakmp_sas(now) {
            let peer = s.path.remote.ip();
            if s.nat_t {
                self.history.entry(peer).nat_detected = true;
            }
            self.states
                .insert(s.conn_id, (peer, s.state, s.role == Role::Initiator));
        }
        // Forget SAs long gone, keeping the newest per peer (enough for late events).
        if self.states.len() > 4 * super::HISTORY_PEERS {
            let mut newest: BTreeMap<IpAddr, u32> = BTreeMap::new();
            for (c, v) in &self.states {
                newest.insert(v.0, *c);
            }
            self.states.retain(|c, v| newest.get(&v.0) == Some(c));
        }
    }

    /// Records what an endpoint event says about its peer.
    pub fn event(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::NegotiationFailed {
                remote,
                phase,
                error,
                ..
            } => self.history.record(
                remote.ip(),
                now,
                Happening::Failed {
                    phase: *phase,
                    kind: FailureKind::from_error(error),
                    text: error.to_string(),
                },
            ),
            Event::NotifyReceived {
                sa: Some(sa),
                notify,
                authenticated,
            } => {
                if let Some((peer, _, _)) = self.states.get(&sa.0).copied() {
                    self.history.record(
                        peer,
                        now,
                        Happening::NotifyReceived {
                            name: super::notify_name(*notify),
                            authenticated: *authenticated,
                        },
                    );
                }
            }
            Event::Phase1Established { path, nat, .. } => self.history.record(
                path.remote.ip(),
                now,
                Happening::Phase1Up {
                    nat: nat.nat_detected(),
                    local_behind_nat: nat.local_behind_nat,
                    remote_port: path.remote.port(),
                    peer_nat_t: nat.peer_supports,
                },
            ),
            Event::Phase2Established(p) => self.history.record(
                p.path.remote.ip(),
                now,
                Happening::Phase2Up {
                    spi_in: p.keys.inbound.spi(),
                    spi_out: p.keys.outbound.spi(),
                    udp_encap: p.udp_encap,
                },
            ),
            _ => {}
        }
    }

    /// One [`PeerInput`] per configured peer of `ep` (peer index order). `esp` gives the
    /// caller's ESP counters of an IPsec SA pair, `path_mtu` the MTU of the path to the peers;
    /// `map` names the crypto map entry of a peer index (`VPN 10`).
    pub fn inputs(
        &self,
        now: Instant,
        ep: &ike::Endpoint,
        esp: &dyn Fn(ChildId) -> Option<EspPairStats>,
        path_mtu: u16,
        map: &dyn Fn(usize) -> String,
    ) -> Vec<PeerInput> {
        let isakmp = ep.isakmp_sas(now);
        let ipsec = ep.ipsec_sas(now);
        let strangers: Vec<(IpAddr, u64)> =
            self.strangers(ep).map(|(a, h)| (a, h.ike_rx)).collect();
        ep.config()
            .peers
            .iter()
            .enumerate()
            .map(|(i, pc)| {
                let addr = IpAddr::V4(pc.address);
                let flows = pc
                    .selectors
                    .iter()
                    .enumerate()
                    .map(|(line, sel)| {
                        let children: Vec<&ike::IpsecSaInfo> = ipsec
                            .iter()
                            .filter(|s| s.peer == PeerId(i) && s.selectors == *sel)
                            .collect();
                        let mut f = FlowView {
                            acl_line: acl_line(line, &sel.local, &sel.remote),
                            local_ident: ident(&sel.local),
                            remote_ident: ident(&sel.remote),
                            sa_up: !children.is_empty(),
                            udp_encap: children.iter().any(|c| c.udp_encap),
                            path_mtu,
                            plaintext_mtu: path_mtu,
                            ..FlowView::default()
                        };
                        for c in &children {
                            let Some((inb, out)) = esp(c.child) else {
                                continue;
                            };
                            f.encaps = f.encaps.saturating_add(out.encaps);
                            f.decaps = f.decaps.saturating_add(inb.decaps);
                            f.send_errors = f.send_errors.saturating_add(out.send_errors());
                            f.verify_failed = f.verify_failed.saturating_add(inb.verify_failed);
                            f.replay_failed = f.replay_failed.saturating_add(inb.replay_failed);
                            f.decrypt_failed = f
                                .decrypt_failed
                                .saturating_add(inb.invalid_len.saturating_add(inb.decaps_failed));
                        }
                        f
                    })
                    .collect();
                PeerInput {
                    peer: Some(addr),
                    local: pc.local_address.map(IpAddr::V4),
                    map: map(i),
                    policies: pc
                        .isakmp_policies
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
                        .collect(),
                    transform_sets: pc
                        .transform_sets
                        .iter()
                        .map(|t| format!("{}: {}", t.name, t.display_transforms()))
                        .collect(),
                    pfs: pc.pfs_group,
                    isakmp: isakmp
                        .iter()
                        .filter(|s| s.peer == PeerId(i) || s.path.remote.ip() == addr)
                        .map(|s| IsakmpView {
                            conn_id: s.conn_id,
                            state: s.state.to_string(),
                            initiator: s.role == Role::Initiator,
                            nat_t: s.nat_t,
                        })
                        .collect(),
                    flows,
                    history: self.history.peer(addr).cloned().unwrap_or_default(),
                    strangers: strangers.clone(),
                }
            })
            .collect()
    }

    /// Addresses that sent IKE and are no configured peer.
    fn strangers<'a>(
        &'a self,
        ep: &'a ike::Endpoint,
    ) -> impl Iterator<Item = (IpAddr, &'a PeerHistory)> + 'a {
        self.history.peers().filter(move |(a, h)| {
            h.ike_rx > 0
                && !ep
                    .config()
                    .peers
                    .iter()
                    .any(|p| IpAddr::V4(p.address) == *a)
        })
    }

    /// The whole diagnosis: findings of `cfg` (when given), a verdict list per configured
    /// peer, then addresses that sent IKE without being a peer. Arguments as for
    /// [`inputs`](Self::inputs).
    pub fn diagnose(
        &self,
        now: Instant,
        ep: &ike::Endpoint,
        cfg: Option<&GatewayConfig>,
        esp: &dyn Fn(ChildId) -> Option<EspPairStats>,
        path_mtu: u16,
        map: &dyn Fn(usize) -> String,
    ) -> Vec<Verdict> {
        let inputs = self.inputs(now, ep, esp, path_mtu, map);
        let mut v = diagnose(now, cfg, &inputs);
        v.extend(
            self.strangers(ep)
                .filter_map(|(a, h)| diagnose_stranger(now, a, h)),
        );
        v
    }
}
