//! The diagnosis over a bare [`ike::Endpoint`] (no gateway around it), for embedders that run
//! the five-call loop themselves, such as the C and Python bindings: [`EndpointRecorder`] feeds
//! the same [`History`] the tunnel layer keeps (the recording itself is `History`'s; this adds
//! only the ISAKMP states a bare endpoint does not announce), and builds the [`PeerInput`]s
//! from the endpoint's views plus the ESP counters the caller holds.

use super::{
    diagnose, diagnose_stranger, FlowView, History, IsakmpView, PeerHistory, PeerInput, Verdict,
};
use crate::esp::EspStats;
use crate::ike::{self, ChildId, Event, IsakmpState, Path, PeerId, Role};
use crate::policy::{GatewayConfig, TrafficSelector};
use crate::time::Instant;
use std::collections::{BTreeMap, VecDeque};
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
    states: BTreeMap<u32, (IpAddr, IsakmpState, bool)>,
    /// See [`EndpointRecorder::latest`].
    latest: Instant,
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

    fn known_state(&self, peer: IpAddr) -> Option<(u32, IsakmpState, bool)> {
        self.states
            .iter()
            .rev()
            .find(|(_, v)| v.0 == peer)
            .map(|(c, v)| (*c, v.1, v.2))
    }

    /// An IKE datagram arrived on `path` (call before the endpoint processes it, so that the
    /// state recorded is the one it arrived in).
    pub fn ike_received(&mut self, now: Instant, path: &Path) {
        let state = self.known_state(path.remote.ip()).map(|s| s.1);
        self.history.record_ike_received(now, path, state);
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
        let states = &self.states;
        self.history
            .record_event(now, ev, &|sa| states.get(&sa.0).map(|v| v.0));
    }

    /// Moves every event `ep` has queued to the back of `queue`, recording each while the
    /// ISAKMP states are those it happened in ([`sync`](Self::sync) before and after). The
    /// drain the C and Python endpoints run after each input and before handing out events;
    /// `now` is the time of the input (see [`latest`](Self::latest) for drains outside one).
    pub fn take_events(
        &mut self,
        now: Instant,
        ep: &mut ike::Endpoint,
        queue: &mut VecDeque<Event>,
    ) {
        self.latest = self.latest.max(now);
        self.sync(now, ep);
        while let Some(ev) = ep.poll_event() {
            self.event(now, &ev);
            queue.push_back(ev);
        }
        self.sync(now, ep);
    }

    /// The latest `now` [`take_events`](Self::take_events) was given: the time to drain at
    /// when the caller asks for events without an input.
    pub fn latest(&self) -> Instant {
        self.latest
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
                    vti: None,
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
                            state: s.state,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Cause;
    use crate::ike::fuzzing::{peer_config, Suite};
    use crate::ike::{Endpoint, EndpointConfig};
    use crate::rng::Rng;
    use std::net::SocketAddr;

    const A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

    struct Side {
        ep: Endpoint,
        rec: EndpointRecorder,
        addr: Ipv4Addr,
    }

    fn side(local: Ipv4Addr, peer: Ipv4Addr, psk: &[u8], suite: Suite, seed: u64) -> Side {
        let (l, r) = if local == A {
            ([192, 168, 1, 0], [192, 168, 2, 0])
        } else {
            ([192, 168, 2, 0], [192, 168, 1, 0])
        };
        let cfg = EndpointConfig {
            peers: vec![peer_config(peer, local, psk, &[suite], l, r)],
            ..EndpointConfig::default()
        };
        Side {
            ep: Endpoint::new(cfg, Rng::from_u64(seed)),
            rec: EndpointRecorder::new(),
            addr: local,
        }
    }

    fn pump(s: &mut Side, now: Instant) {
        s.rec.take_events(now, &mut s.ep, &mut VecDeque::new());
    }

    /// Moves what `from` sends to `to`; returns how many datagrams moved.
    fn deliver(from: &mut Side, to: &mut Side, now: Instant) -> usize {
        let mut buf = vec![0u8; 4096];
        let mut n = 0;
        pump(from, now);
        while let Ok(Some(t)) = from.ep.poll_transmit(now, &mut buf) {
            let data = buf.get(..t.len).unwrap().to_vec();
            from.rec.ike_sent(now, &t.path, &data);
            let path = Path {
                local: SocketAddr::new(IpAddr::V4(to.addr), t.path.remote.port()),
                remote: SocketAddr::new(IpAddr::V4(from.addr), t.path.local.port()),
            };
            to.rec.ike_received(now, &path);
            let _ = to.ep.handle_datagram(now, path, &data);
            pump(to, now);
            n += 1;
        }
        n
    }

    fn run(a: &mut Side, b: &mut Side) -> Instant {
        let mut now = Instant::from_millis(1000);
        a.ep.initiate(now, PeerId(0), 0).unwrap();
        for _ in 0..40 {
            while deliver(a, b, now) + deliver(b, a, now) > 0 {}
            let next = [a.ep.poll_timeout(), b.ep.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else { break };
            now = now.max(t);
            a.ep.handle_timeout(now);
            b.ep.handle_timeout(now);
            pump(a, now);
            pump(b, now);
        }
        now
    }

    fn causes(s: &Side, now: Instant) -> Vec<Cause> {
        let v = s
            .rec
            .diagnose(now, &s.ep, None, &|_| None, 1500, &|_| "VPN 10".into());
        v.iter().map(|v| v.cause).collect()
    }

    #[test]
    fn wrong_psk_is_named_by_the_responder_and_suspected_by_the_initiator() {
        let mut a = side(A, B, b"ciscokey", Suite::TripleDesSha1Group2, 1);
        let mut b = side(B, A, b"otherkey", Suite::TripleDesSha1Group2, 2);
        let now = run(&mut a, &mut b);
        assert_eq!(causes(&b, now), [Cause::PskMismatch]);
        assert_eq!(causes(&a, now), [Cause::StuckKeyExch]);
        let h = a.rec.history().peer(IpAddr::V4(B)).unwrap();
        assert_eq!(h.retransmissions, 5);
    }

    #[test]
    fn phase1_mismatch_is_refused_by_the_responder() {
        let mut a = side(A, B, b"k", Suite::TripleDesSha1Group2, 1);
        let mut b = side(B, A, b"k", Suite::Aes256Sha256Group14, 2);
        let now = run(&mut a, &mut b);
        assert_eq!(causes(&b, now), [Cause::Phase1RefusedByUs]);
        assert_eq!(causes(&a, now), [Cause::Phase1RefusedByPeer]);
    }

    #[test]
    fn matching_sides_are_healthy_once_traffic_flows() {
        let mut a = side(A, B, b"k", Suite::TripleDesSha1Group2, 1);
        let mut b = side(B, A, b"k", Suite::TripleDesSha1Group2, 2);
        let now = run(&mut a, &mut b);
        let child = a.ep.ipsec_sas(now).first().unwrap().child;
        let mut stats = (EspStats::default(), EspStats::default());
        stats.0.decaps = 10;
        stats.1.encaps = 10;
        let v = a.rec.diagnose(
            now,
            &a.ep,
            None,
            &|c| (c == child).then_some(stats),
            1500,
            &|_| String::new(),
        );
        assert_eq!(
            v.iter().map(|v| v.cause).collect::<Vec<_>>(),
            [Cause::Healthy]
        );
        // The caller's counters reach the rules: encrypting with nothing decrypted is one-way.
        stats.0.decaps = 0;
        let v = a.rec.diagnose(
            now,
            &a.ep,
            None,
            &|c| (c == child).then_some(stats),
            1500,
            &|_| String::new(),
        );
        assert_eq!(v.first().map(|v| v.cause), Some(Cause::OneWayOutbound));
    }
}
