//! Regression tests of the attacks the endpoint must withstand: an off-path sender who never saw
//! our answers, and an authenticated peer (it knows a shared wildcard key) acting against other
//! peers. Each test names the attack it stops. They live inside the endpoint so a test can play
//! the attacker with a peer's real keys: messages that pass HASH(1), not random bytes.

use super::quick_mode::MAX_RESPONDER_QM;
use super::*;
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use crate::testing::{Link, Nat, Network, Node};

const GW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const NAT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
const PSK: &[u8] = b"wildcard-group-key";

fn subnet(a: [u8; 4], bits: u32) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::from(u32::MAX << (32 - bits)))
}

fn suite(peer: Ipv4Addr, local: TrafficSelector, remote: TrafficSelector) -> PeerConfig {
    let mut p = PeerConfig::new(peer, PskSecret::new(PSK));
    p.isakmp_policies = vec![IsakmpPolicy {
        priority: 1,
        encryption: IkeEncryption::Aes { bits: 128 },
        hash: IkeHash::Sha1,
        authentication: IkeAuth::PreShare,
        group: 2,
        lifetime_secs: 86_400,
    }];
    p.transform_sets = vec![TransformSet {
        name: "T".into(),
        esp_encryption: EspEncryption::Aes128,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    }];
    p.selectors = vec![SelectorPair { local, remote }];
    p
}

/// The gateway: one wildcard key (`crypto isakmp key K address 0.0.0.0 0.0.0.0`) for every
/// branch in 10.0.0.0/8, or a key bound to one address.
fn gateway(peer: Ipv4Addr, tune: impl FnOnce(&mut EndpointConfig)) -> Endpoint {
    let mut cfg = EndpointConfig {
        peers: vec![suite(
            peer,
            subnet([192, 168, 2, 0], 24),
            subnet([10, 0, 0, 0], 8),
        )],
        ..EndpointConfig::default()
    };
    tune(&mut cfg);
    Endpoint::new(cfg, Rng::from_u64(0x6a7e))
}

/// A branch router: its own address, where the gateway sees it (its NAT mapping), its LAN.
struct Branch {
    ep: Endpoint,
    private: Ipv4Addr,
    /// Public address and the ports its 500 and 4500 map to.
    public: (Ipv4Addr, u16, u16),
    events: Vec<Event>,
}

impl Branch {
    fn new(n: u8, private: Ipv4Addr, public: (Ipv4Addr, u16, u16)) -> Branch {
        let cfg = EndpointConfig {
            peers: vec![suite(
                GW,
                subnet([10, 1, n, 0], 24),
                subnet([192, 168, 2, 0], 24),
            )],
            ..EndpointConfig::default()
        };
        Branch {
            ep: Endpoint::new(cfg, Rng::from_u64(u64::from(n) * 7919)),
            private,
            public,
            events: Vec::new(),
        }
    }

    fn direct(n: u8, addr: Ipv4Addr) -> Branch {
        Branch::new(n, addr, (addr, 500, 4500))
    }

    fn behind_nat(n: u8, port_base: u16) -> Branch {
        Branch::new(
            n,
            Ipv4Addr::new(10, 9, 9, n),
            (NAT_IP, port_base, port_base + 1),
        )
    }

    fn public_port(&self, local_port: u16) -> u16 {
        if local_port == 4500 {
            self.public.2
        } else {
            self.public.1
        }
    }

    /// The path at the gateway of a datagram this branch sends from local port `port`.
    fn seen_at_gw(&self, port: u16, gw_port: u16) -> Path {
        Path {
            local: SocketAddr::new(GW.into(), gw_port),
            remote: SocketAddr::new(self.public.0.into(), self.public_port(port)),
        }
    }

    fn isakmp_sa(&self) -> IkeSaId {
        self.ep
            .sas
            .values()
            .find(|s| s.state == P1State::QmIdle)
            .map(|s| s.id)
            .expect("branch has an ISAKMP SA")
    }
}

fn drain(ep: &mut Endpoint, now: Instant) -> Vec<(Path, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(Some(t)) = ep.poll_transmit(now, &mut buf) {
        out.push((t.path, buf[..t.len].to_vec()));
    }
    out
}

struct Net {
    gw: Endpoint,
    branches: Vec<Branch>,
    gw_events: Vec<Event>,
    /// Why the gateway dropped the last datagram [`Net::deliver`] gave it.
    last_drop: Option<DatagramDrop>,
    now: Instant,
}

impl Net {
    fn new(gw: Endpoint, branches: Vec<Branch>) -> Net {
        Net {
            gw,
            branches,
            gw_events: Vec::new(),
            last_drop: None,
            now: Instant::from_millis(1_000_000),
        }
    }

    /// Branch `i`'s datagrams to the gateway, as the gateway receives them.
    fn sent_by(&mut self, i: usize) -> Vec<(Path, Vec<u8>)> {
        let b = &mut self.branches[i];
        drain(&mut b.ep, self.now)
            .into_iter()
            .map(|(p, m)| (b.seen_at_gw(p.local.port(), p.remote.port()), m))
            .collect()
    }

    fn deliver(&mut self, path: Path, msg: &[u8]) -> usize {
        self.last_drop = self.gw.handle_datagram(self.now, path, msg).err();
        while let Some(e) = self.gw.poll_event() {
            self.gw_events.push(e);
        }
        self.gw.transmits.len()
    }

    /// Delivers everything in flight, both ways, until the network is quiet: the gateway and
    /// the branches on the in-memory network (5 ms apart), each NATed branch behind its
    /// mapping.
    fn run(&mut self) {
        let mut net = Network::new(self.now, 0);
        net.set_default_link(Link::with_latency(Duration::from_millis(5)));
        net.add_node(GW);
        for b in &self.branches {
            let n = net.add_node(b.private);
            if b.public.0 != b.private {
                let (ip, p500, p4500) = b.public;
                net.set_nat(n, Some(Nat::ports(ip, &[(500, p500), (4500, p4500)])));
            }
        }
        let mut nodes: Vec<&mut dyn Node> = vec![&mut self.gw];
        nodes.extend(self.branches.iter_mut().map(|b| &mut b.ep as &mut dyn Node));
        assert!(
            net.settle(&mut nodes, Duration::from_secs(1)),
            "never quiet"
        );
        self.now = net.now();
        while let Some(e) = self.gw.poll_event() {
            self.gw_events.push(e);
        }
        for b in &mut self.branches {
            while let Some(e) = b.ep.poll_event() {
                b.events.push(e);
            }
        }
    }

    /// Branch `i` brings its tunnel up (Main Mode and Quick Mode).
    fn connect(&mut self, i: usize) {
        self.branches[i]
            .ep
            .initiate(self.now, PeerId(0), 0)
            .expect("initiate");
        self.run();
        assert!(
            self.branches[i]
                .events
                .iter()
                .any(|e| matches!(e, Event::Phase2Established(_))),
            "branch {i} did not get its IPsec SAs"
        );
    }

    /// The gateway's IPsec SAs with branch `i`, by the branch's LAN.
    fn gw_children_of(&self, i: usize) -> Vec<IpsecSaInfo> {
        let n = u8::try_from(i + 1).unwrap();
        self.gw
            .ipsec_sas(self.now)
            .into_iter()
            .filter(|c| c.selectors.remote == subnet([10, 1, n, 0], 24))
            .collect()
    }

    fn gw_sa_for(&self, i: usize) -> Option<&IkeSa> {
        let (ci, _) = self.branches[i]
            .ep
            .isakmp_cookies(self.branches[i].isakmp_sa())?;
        self.gw.sas.values().find(|s| s.ci == ci).map(|s| &**s)
    }
}

/// An Informational on `sa` of `ep` with message ID `mid`, hashed and encrypted with the SA's
/// real keys, returned instead of sent (the attacker decides where it goes).
fn craft_informational(
    ep: &mut Endpoint,
    sa: IkeSaId,
    mid: u32,
    add: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::wire::WireError>,
) -> Vec<u8> {
    let sa = ep.sas.get_mut(&sa).expect("sa");
    let keys = sa.keys.as_ref().expect("keys");
    let hlen = keys.hash_alg().output_len();
    let h = sa.header(ExchangeType::INFORMATIONAL, Flags::ENCRYPTION, mid);
    let mut buf = vec![0u8; MAX_MSG];
    let mut b = MessageBuilder::new(&mut buf, h).unwrap();
    let slot = b.add_hash_placeholder(hlen).unwrap();
    add(&mut b).unwrap();
    let hv = keys.info_hash(mid, b.bytes_after(slot));
    b.fill(slot, &hv).unwrap();
    let fin = b.finish().unwrap();
    let m = encrypt_message(sa, fin, mid).unwrap();
    if let Some(c) = sa.crypt.as_mut() {
        c.forget(mid);
    }
    m
}

fn delete(
    protocol: ProtocolId,
    spi_size: u8,
    spis: Vec<u8>,
) -> impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::wire::WireError> {
    move |b| {
        b.add_delete(&DeleteSpec {
            doi: 1,
            protocol,
            spi_size,
            spis: &spis,
        })
        .map(|_| ())
    }
}

fn notify(
    t: NotifyType,
    spi: Vec<u8>,
    data: Vec<u8>,
) -> impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::wire::WireError> {
    move |b| {
        b.add_notify(&NotifySpec {
            doi: 1,
            protocol: ProtocolId::ISAKMP,
            notify_type: t,
            spi: &spi,
            data: &data,
        })
        .map(|_| ())
    }
}

/// Attack: an off-path sender who saw our MM1 go by (or guessed its cookie) but never saw MM2
/// sends MM3 with a zero responder cookie, to make us compute Diffie-Hellman and answer.
#[test]
fn blind_mm3_with_zero_responder_cookie_costs_no_dh_and_gets_no_answer() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1))],
    );
    net.branches[0].ep.initiate(net.now, PeerId(0), 0).unwrap();
    let mm1 = net.sent_by(0).remove(0);
    assert_eq!(net.deliver(mm1.0, &mm1.1), 1, "MM2");
    let mm2 = drain(&mut net.gw, net.now).remove(0);
    // An exact retransmission of MM1 still reaches the half-open SA and gets MM2 again.
    assert_eq!(net.deliver(mm1.0, &mm1.1), 1, "MM1 repeat answered");
    assert_eq!(drain(&mut net.gw, net.now)[0].1, mm2.1);
    let b = &mut net.branches[0];
    let path = Path {
        local: SocketAddr::new(b.private.into(), 500),
        remote: mm2.0.local,
    };
    let _ = b.ep.handle_datagram(net.now, path, &mm2.1);
    let mm3 = net.sent_by(0).remove(0);
    let mut blind = mm3.1.clone();
    blind[8..16].fill(0);
    let dh_before = net.gw.sas.values().filter(|s| s.keys.is_some()).count();
    assert_eq!(net.deliver(mm3.0, &blind), 0, "a blind MM3 gets no MM4");
    assert_eq!(net.gw.counters().zero_responder_cookie, 1);
    assert_eq!(net.last_drop, Some(DatagramDrop::ZeroResponderCookie));
    assert_eq!(
        net.gw.sas.values().filter(|s| s.keys.is_some()).count(),
        dh_before,
        "no key exchange was computed"
    );
    assert!(net.gw.sas.values().all(|s| s.state == P1State::MmSaSetup));
    assert_eq!(
        net.deliver(mm3.0, &mm3.1),
        1,
        "the honest MM3 still gets MM4"
    );
    net.run();
    assert!(net.branches[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase1Established { .. })));
}

/// Attack: branch A2, which knows the shared wildcard key, names branch A1's SPIs and cookies in
/// its own (authenticated) Deletes to take A1's tunnel down.
#[test]
fn a_peer_cannot_delete_another_peers_sas_under_one_wildcard_key() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![
            Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1)),
            Branch::direct(2, Ipv4Addr::new(198, 51, 100, 7)),
        ],
    );
    net.connect(0);
    net.connect(1);
    let a1 = net.gw_children_of(0);
    assert_eq!(a1.len(), 1);
    let a1_cookies = net.branches[0]
        .ep
        .isakmp_cookies(net.branches[0].isakmp_sa())
        .unwrap();
    let a2 = net.branches[1].isakmp_sa();
    let mut spis: Vec<u8> = a1[0].spi_out.to_be_bytes().to_vec();
    spis.extend_from_slice(&a1[0].spi_in.to_be_bytes());
    let m = craft_informational(
        &mut net.branches[1].ep,
        a2,
        0x1111,
        delete(ProtocolId::ESP, 4, spis),
    );
    let from = net.branches[1].seen_at_gw(500, 500);
    net.deliver(from, &m);
    let cookies: Vec<u8> = a1_cookies
        .0
        .iter()
        .chain(a1_cookies.1.iter())
        .copied()
        .collect();
    let m = craft_informational(
        &mut net.branches[1].ep,
        a2,
        0x2222,
        delete(ProtocolId::ISAKMP, 16, cookies),
    );
    net.deliver(from, &m);
    assert_eq!(net.gw_children_of(0).len(), 1, "A1's IPsec SAs survive");
    assert!(net.gw_sa_for(0).is_some(), "A1's ISAKMP SA survives");
    assert_eq!(net.gw.counters().delete_not_owned, 3);
    // A Delete longer than any peer needs is ignored whole.
    let many: Vec<u8> = (0..=MAX_DELETE_SPIS as u32)
        .flat_map(|s| (s + 256).to_be_bytes())
        .collect();
    let m = craft_informational(
        &mut net.branches[1].ep,
        a2,
        0x3333,
        delete(ProtocolId::ESP, 4, many),
    );
    net.deliver(from, &m);
    assert_eq!(net.gw.counters().delete_too_many_spis, 1);
    // A2's own Delete still works.
    let own = net.gw_children_of(1);
    let m = craft_informational(
        &mut net.branches[1].ep,
        a2,
        0x4444,
        delete(ProtocolId::ESP, 4, own[0].spi_out.to_be_bytes().to_vec()),
    );
    net.deliver(from, &m);
    assert!(net.gw_children_of(1).is_empty(), "A2 deleted its own SA");
    assert_eq!(net.gw_children_of(0).len(), 1);
}

/// Attack: two branches behind one NAT address share the wildcard key; one reboots (or pretends
/// to) and its INITIAL-CONTACT must clear only its own stale SAs, not its neighbour's.
#[test]
fn initial_contact_from_one_peer_behind_a_nat_keeps_the_others_sas() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::behind_nat(1, 40_000), Branch::behind_nat(2, 41_000)],
    );
    net.connect(0);
    net.connect(1);
    assert!(net.gw.sas.values().all(|s| s.nat.nat_detected()));
    let old_a2 = net.gw_children_of(1);
    assert_eq!(old_a2.len(), 1);
    // A2 reboots: a fresh endpoint behind the same NAT mapping, knowing nothing of its SAs.
    net.branches[1] = Branch::behind_nat(2, 41_000);
    net.branches[1].ep.rng = Rng::from_u64(0xbad);
    net.connect(1);
    assert!(net.gw_events.iter().any(|e| matches!(
        e,
        Event::Phase2Deleted { spi_in, reason: DeleteReason::InitialContact, .. } if *spi_in == old_a2[0].spi_in
    )), "A2's stale IPsec SA went");
    assert_eq!(net.gw_children_of(0).len(), 1, "A1's IPsec SAs survive");
    assert!(net.gw_sa_for(0).is_some(), "A1's ISAKMP SA survives");
    assert_eq!(net.gw_children_of(1).len(), 1, "A2 has only its new pair");
}

/// One branch behind a NAT sends an R-U-THERE; `n` the gateway answers.
fn r_u_there(net: &mut Net) -> (Path, Vec<u8>) {
    let sa = net.branches[0].isakmp_sa();
    net.branches[0].ep.send_r_u_there(net.now, sa);
    let m = net.sent_by(0).remove(0);
    assert_eq!(net.deliver(m.0, &m.1), 1, "R-U-THERE answered");
    net.run();
    m
}

fn gw_paths(net: &Net) -> (Path, Vec<Path>) {
    let sa = net.gw_sa_for(0).unwrap().path;
    let children = net
        .gw
        .ipsec_sas(net.now)
        .into_iter()
        .map(|c| c.path)
        .collect();
    (sa, children)
}

/// Attack: a captured R-U-THERE replayed from the attacker's own address, to pull the peer's IKE
/// and NAT-T ESP traffic there (a NAT-T SA follows authenticated packets to new addresses).
#[test]
fn a_replayed_r_u_there_moves_neither_ike_nor_esp() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::behind_nat(1, 40_000)],
    );
    net.connect(0);
    let before = gw_paths(&net);
    let (_, captured) = r_u_there(&mut net);
    let attacker = Path {
        local: SocketAddr::new(GW.into(), 4500),
        remote: SocketAddr::new(Ipv4Addr::new(192, 0, 2, 66).into(), 4500),
    };
    assert_eq!(
        net.deliver(attacker, &captured),
        0,
        "no answer to the replay"
    );
    assert_eq!(net.gw.counters().replayed_message_id, 1);
    assert_eq!(net.last_drop, Some(DatagramDrop::ReplayedMessageId));
    assert_eq!(gw_paths(&net), before, "nothing moved");
    // Long after, when the bounded message-ID record has forgotten it: the DPD sequence
    // number still orders it before the R-U-THEREs that followed.
    for _ in 0..1000 {
        r_u_there(&mut net);
    }
    assert_eq!(
        net.deliver(attacker, &captured),
        0,
        "no answer to the late replay"
    );
    assert_eq!(net.gw.counters().bad_dpd, 1);
    assert_eq!(net.last_drop, Some(DatagramDrop::BadDpd));
    assert_eq!(gw_paths(&net), before, "nothing moved");
    assert!(!net
        .gw_events
        .iter()
        .any(|e| matches!(e, Event::PathChanged { .. })));
}

/// Attack: R-U-THEREs naming another SA's cookies, or with a malformed sequence number, are not
/// DPD and get no answer (an ACK would echo attacker-chosen bytes under our keys).
#[test]
fn r_u_there_with_a_wrong_spi_or_length_is_dropped_and_counted() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1))],
    );
    net.connect(0);
    let sa = net.branches[0].isakmp_sa();
    let (ci, cr) = net.branches[0].ep.isakmp_cookies(sa).unwrap();
    let good_spi: Vec<u8> = ci.iter().chain(cr.iter()).copied().collect();
    let from = net.branches[0].seen_at_gw(500, 500);
    let cases = [
        (vec![0u8; 16], 7u32.to_be_bytes().to_vec()),
        (Vec::new(), 8u32.to_be_bytes().to_vec()),
        (good_spi.clone(), vec![0, 0, 9]),
        (good_spi.clone(), vec![0, 0, 0, 9, 0]),
    ];
    for (i, (spi, data)) in cases.into_iter().enumerate() {
        let m = craft_informational(
            &mut net.branches[0].ep,
            sa,
            0x100 + i as u32,
            notify(NotifyType::R_U_THERE, spi, data),
        );
        assert_eq!(net.deliver(from, &m), 0, "case {i} answered");
    }
    assert_eq!(net.gw.counters().bad_dpd, 4);
    let m = craft_informational(
        &mut net.branches[0].ep,
        sa,
        0x200,
        notify(
            NotifyType::R_U_THERE,
            good_spi,
            10u32.to_be_bytes().to_vec(),
        ),
    );
    assert_eq!(net.deliver(from, &m), 1, "a proper R-U-THERE is answered");
}

/// Attack: replays of a peer's own authenticated Informationals and Quick Modes (the same
/// message ID again), and an Informational under Main Mode's message ID 0.
#[test]
fn reused_message_ids_are_dropped_and_counted() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1))],
    );
    let sa_of = |net: &Net| net.branches[0].isakmp_sa();
    net.branches[0].ep.initiate(net.now, PeerId(0), 0).unwrap();
    // Capture the QM1 on its way to the gateway.
    let mut qm1 = None;
    for _ in 0..8 {
        for (p, m) in net.sent_by(0) {
            if Header::parse(&m).is_ok_and(|h| h.exchange == ExchangeType::QUICK_MODE)
                && qm1.is_none()
            {
                qm1 = Some((p, m.clone()));
            }
            net.deliver(p, &m);
        }
        for (p, m) in drain(&mut net.gw, net.now) {
            let path = Path {
                local: SocketAddr::new(net.branches[0].private.into(), p.local.port()),
                remote: p.local,
            };
            let _ = net.branches[0].ep.handle_datagram(net.now, path, &m);
        }
    }
    let (p, qm1) = qm1.expect("QM1 seen");
    assert_eq!(net.gw.ipsec_sas(net.now).len(), 1);
    // Long after the exchange (its state is gone), the same QM1 again.
    net.now = net.now + net.gw.linger() + Duration::from_secs(1);
    net.gw.handle_timeout(net.now);
    let before = net.gw.counters().replayed_message_id;
    assert_eq!(net.deliver(p, &qm1), 0, "a replayed QM1 gets no QM2");
    assert_eq!(net.gw.counters().replayed_message_id, before + 1);
    assert_eq!(net.last_drop, Some(DatagramDrop::ReplayedMessageId));
    let sa = sa_of(&net);
    let spi = net.gw_children_of(0)[0].spi_out.to_be_bytes().to_vec();
    let m = craft_informational(
        &mut net.branches[0].ep,
        sa,
        0x77,
        notify(NotifyType(40_001), Vec::new(), Vec::new()),
    );
    net.deliver(p, &m);
    let m2 = craft_informational(
        &mut net.branches[0].ep,
        sa,
        0x77,
        delete(ProtocolId::ESP, 4, spi.clone()),
    );
    net.deliver(p, &m2);
    assert_eq!(
        net.gw_children_of(0).len(),
        1,
        "an ID used once is refused the second time"
    );
    // Last: encrypting under message ID 0 moves the branch's own Phase 1 IV chain.
    let m = craft_informational(
        &mut net.branches[0].ep,
        sa,
        0,
        delete(ProtocolId::ESP, 4, spi.clone()),
    );
    net.deliver(p, &m);
    assert_eq!(net.gw_children_of(0).len(), 1, "message ID 0 refused");
    assert_eq!(net.gw.counters().replayed_message_id, before + 3);
}

/// Attack: spoofed MM1s from one address fill the half-open table to push out another peer's
/// negotiation in progress.
#[test]
fn an_mm1_flood_from_one_address_does_not_evict_other_peers() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |c| {
            c.half_open_limit = 8;
            c.half_open_per_source_limit = 4;
        }),
        vec![Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1))],
    );
    net.branches[0].ep.initiate(net.now, PeerId(0), 0).unwrap();
    let (p, mm1) = net.sent_by(0).remove(0);
    net.deliver(p, &mm1);
    let victim = drain(&mut net.gw, net.now);
    let spoofed = Path {
        local: p.local,
        remote: SocketAddr::new(Ipv4Addr::new(10, 66, 0, 1).into(), 500),
    };
    for i in 0..100u64 {
        let mut m = mm1.clone();
        m[..8].copy_from_slice(&(0x000f_100d_0000 + i).to_be_bytes());
        net.deliver(spoofed, &m);
    }
    drain(&mut net.gw, net.now);
    assert_eq!(net.gw.counters().half_open_per_source_dropped, 96);
    let path = Path {
        local: SocketAddr::new(net.branches[0].private.into(), 500),
        remote: p.local,
    };
    let _ = net.branches[0]
        .ep
        .handle_datagram(net.now, path, &victim[0].1);
    net.run();
    assert!(
        net.branches[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Phase2Established(_))),
        "the honest peer got through"
    );
}

/// The total limit, reached from many addresses, takes from the busiest source first.
#[test]
fn the_total_half_open_limit_evicts_from_the_busiest_source() {
    let mut gw = gateway(Ipv4Addr::UNSPECIFIED, |c| {
        c.half_open_limit = 6;
        c.half_open_per_source_limit = 4;
    });
    let mut b = Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1));
    b.ep.initiate(Instant::from_millis(0), PeerId(0), 0)
        .unwrap();
    let (p, mm1) = drain(&mut b.ep, Instant::from_millis(0)).remove(0);
    let now = Instant::from_millis(1);
    let from = |ip: [u8; 4]| Path {
        local: SocketAddr::new(GW.into(), 500),
        remote: SocketAddr::new(Ipv4Addr::from(ip).into(), 500),
    };
    let send = |gw: &mut Endpoint, ip: [u8; 4], n: u64| {
        let mut m = mm1.clone();
        m[..8].copy_from_slice(&(n + 1).to_be_bytes());
        let _ = gw.handle_datagram(now, from(ip), &m);
    };
    let _ = p;
    send(&mut gw, [10, 0, 0, 1], 1);
    for n in 0..4 {
        send(&mut gw, [10, 0, 0, 2], 10 + n);
    }
    send(&mut gw, [10, 0, 0, 3], 20);
    send(&mut gw, [10, 0, 0, 4], 30);
    let sources: Vec<IpAddr> = gw.sas.values().map(|s| s.path.remote.ip()).collect();
    assert_eq!(sources.len(), 6);
    assert_eq!(
        sources
            .iter()
            .filter(|ip| **ip == IpAddr::from([10, 0, 0, 2]))
            .count(),
        3
    );
    assert!(sources.contains(&IpAddr::from([10, 0, 0, 1])));
}

/// Attack: an authenticated peer floods QM1s on its ISAKMP SA, to hold state and to push out
/// the IV chain of a Quick Mode we started (which would then fail to decrypt its QM2).
#[test]
fn a_quick_mode_flood_is_capped_and_keeps_our_own_quick_mode_alive() {
    let branch_addr = Ipv4Addr::new(198, 51, 100, 1);
    let mut net = Net::new(
        gateway(branch_addr, |_| {}),
        vec![Branch::direct(1, branch_addr)],
    );
    net.gw.config.peers[0].selectors[0].remote = subnet([10, 1, 1, 0], 24);
    net.connect(0);
    let gw_sa = net.gw_sa_for(0).unwrap().id;
    // The gateway starts a rekey of its own; its QM1 is held back while the flood runs.
    net.gw.start_qm(net.now, gw_sa, 0, None);
    let ours = drain(&mut net.gw, net.now);
    assert_eq!(ours.len(), 1);
    let sa = net.branches[0].isakmp_sa();
    for _ in 0..40 {
        net.branches[0]
            .ep
            .start_qm_inner(net.now, sa, 0, None)
            .unwrap();
    }
    for (p, m) in net.sent_by(0) {
        net.deliver(p, &m);
    }
    drain(&mut net.gw, net.now);
    assert_eq!(
        net.gw.counters().quick_mode_flood_dropped,
        40 - MAX_RESPONDER_QM as u64
    );
    net.branches[0].events.clear();
    let (p, m) = &ours[0];
    let path = Path {
        local: SocketAddr::new(branch_addr.into(), 500),
        remote: p.local,
    };
    let _ = net.branches[0].ep.handle_datagram(net.now, path, m);
    net.run();
    assert!(
        net.gw_events.iter().filter(|e| matches!(e, Event::Phase2Established(est) if est.replaces.is_none() && est.selector_index == Some(0))).count() >= 2,
        "our own Quick Mode completed despite the flood"
    );
}

/// Malformed identities: a reversed address range selects nothing and is refused.
#[test]
fn reversed_address_range_in_an_id_payload_is_refused() {
    use crate::wire::{IdSpec, IdValue};
    let body = proposal::write_body(|w| {
        IdSpec {
            value: IdValue::Ipv4Range(Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1)),
            protocol: 0,
            port: 0,
        }
        .write_body(w)
    })
    .unwrap();
    assert!(proposal::id_to_selector(&body).is_err());
}

/// A QM1 from `ep` on `sa` for its first crypto ACL line, built as [`Endpoint::start_qm_inner`]
/// builds it but with a nonce of `nonce_len` bytes.
fn qm1_with_nonce(ep: &mut Endpoint, sa: IkeSaId, mid: u32, nonce_len: usize) -> Vec<u8> {
    let cfg = ep.config.peers[0].clone();
    let offer = Phase2Offer {
        spi: 0x1234_5678,
        lifetime_secs: cfg.lifetime_secs,
        lifetime_kb: cfg.lifetime_kb,
        pfs_group: None,
        udp_encap: false,
        draft_encap: false,
    };
    let sa_body = proposal::phase2_sa_body(&cfg.transform_sets, &offer).unwrap();
    let idci = proposal::selector_id_body(&cfg.selectors[0].local).unwrap();
    let idcr = proposal::selector_id_body(&cfg.selectors[0].remote).unwrap();
    let sa = ep.sas.get_mut(&sa).unwrap();
    let keys = sa.keys.as_ref().unwrap();
    let h = sa.header(ExchangeType::QUICK_MODE, Flags::ENCRYPTION, mid);
    let mut buf = vec![0u8; MAX_MSG];
    let mut b = MessageBuilder::new(&mut buf, h).unwrap();
    let slot = b
        .add_hash_placeholder(keys.hash_alg().output_len())
        .unwrap();
    b.add_raw(PayloadType::SA, &sa_body).unwrap();
    b.add_nonce(&vec![7u8; nonce_len]).unwrap();
    b.add_raw(PayloadType::ID, &idci).unwrap();
    b.add_raw(PayloadType::ID, &idcr).unwrap();
    let h1 = keys.hash1(mid, b.bytes_after(slot));
    b.fill(slot, &h1).unwrap();
    encrypt_message(sa, b.finish().unwrap(), mid).unwrap()
}

/// Malformed input from an authenticated peer: Quick Mode nonces outside 8..256 bytes, as in
/// Main Mode (a 1-byte nonce makes KEYMAT depend on almost nothing the responder chose... and
/// a huge one is memory the peer makes us hold).
#[test]
fn quick_mode_nonces_outside_8_to_256_bytes_are_refused() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1))],
    );
    net.connect(0);
    let sa = net.branches[0].isakmp_sa();
    let from = net.branches[0].seen_at_gw(500, 500);
    for (mid, len) in [(0x501, 4usize), (0x502, 257)] {
        let m = qm1_with_nonce(&mut net.branches[0].ep, sa, mid, len);
        assert_eq!(net.deliver(from, &m), 0, "nonce of {len} bytes answered");
    }
    assert_eq!(net.gw.counters().malformed, 2);
    let m = qm1_with_nonce(&mut net.branches[0].ep, sa, 0x503, 16);
    assert_eq!(net.deliver(from, &m), 1, "a 16-byte nonce gets QM2");
}

/// Attack: an authenticated peer rekeys back to back (found by the `ike_wildcard` fuzz target:
/// 64 rekeys left 65 Quick Mode records and 66 pairs on one SA), to make the gateway hold
/// ever more pairs and exchange records.
#[test]
fn back_to_back_rekeys_keep_a_bounded_number_of_pairs_and_records() {
    let mut net = Net::new(
        gateway(Ipv4Addr::UNSPECIFIED, |_| {}),
        vec![Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1))],
    );
    net.connect(0);
    let sa = net.branches[0].isakmp_sa();
    for _ in 0..40 {
        net.branches[0]
            .ep
            .start_qm_inner(net.now, sa, 0, None)
            .unwrap();
        net.run();
    }
    let established = net
        .gw_events
        .iter()
        .filter(|e| matches!(e, Event::Phase2Established(_)))
        .count();
    assert_eq!(established, 41, "every rekey completed");
    assert!(
        net.gw_children_of(0).len() <= 3,
        "{} pairs",
        net.gw_children_of(0).len()
    );
    let records = net.gw_sa_for(0).map_or(0, |s| s.qms.len());
    assert!(records <= 24, "{records} Quick Mode records");
    // The newest pair is among the survivors: traffic keeps its SA.
    let newest = net.gw_events.iter().rev().find_map(|e| match e {
        Event::Phase2Established(p) => Some(p.keys.inbound.spi()),
        _ => None,
    });
    assert!(net
        .gw_children_of(0)
        .iter()
        .any(|c| Some(c.spi_in) == newest));
}

/// The gateway keys Aggressive Mode initiators by the group name they send (ID_KEY_ID).
fn am_gateway(tune: impl FnOnce(&mut EndpointConfig)) -> Endpoint {
    gateway(Ipv4Addr::UNSPECIFIED, |c| {
        c.peers[0].identity_keys = vec![crate::ike::config::IdentityKey {
            id: crate::ike::config::Phase1Id::KeyId(b"vpngroup".to_vec()),
            key: PskSecret::new(PSK),
        }];
        c.aggressive_mode = true;
        tune(c);
    })
}

fn am_branch(mut b: Branch) -> Branch {
    b.ep.config.peers[0].aggressive =
        Some(crate::ike::config::Phase1Id::KeyId(b"vpngroup".to_vec()));
    b
}

/// Aggressive Mode spends a Diffie-Hellman exponentiation per AM1 with no cookie round trip;
/// the budget must still let a site's remote-access clients behind one NAT address all
/// reconnect at the same instant (after an outage of the concentrator or the NAT).
#[test]
fn twenty_aggressive_mode_clients_behind_one_nat_reconnecting_at_once_all_succeed() {
    let branches = (1..=20u8)
        .map(|n| am_branch(Branch::behind_nat(n, 20_000 + 2 * u16::from(n))))
        .collect();
    let mut net = Net::new(am_gateway(|_| {}), branches);
    for b in &mut net.branches {
        b.ep.initiate(net.now, PeerId(0), 0).expect("initiate");
    }
    net.run();
    for (i, b) in net.branches.iter().enumerate() {
        assert!(
            b.events
                .iter()
                .any(|e| matches!(e, Event::Phase2Established(_))),
            "client {i} did not get its IPsec SAs: {:?}",
            b.events
        );
    }
    let c = net.gw.counters();
    assert_eq!(c.aggressive_dh_limited, 0);
    assert_eq!(c.half_open_per_source_dropped + c.half_open_dropped, 0);
    let up = net
        .gw
        .isakmp_sas(net.now)
        .into_iter()
        .filter(|s| s.state == IsakmpState::QmIdle && s.path.remote.ip() == IpAddr::from(NAT_IP))
        .count();
    assert_eq!(up, 20);
}

/// AM1s beyond the Diffie-Hellman budget cost no exponentiation and get no answer: from many
/// (spoofed) addresses the endpoint's budget runs out; once it refills, an honest client's
/// retransmission gets through.
#[test]
fn an_am1_flood_beyond_the_dh_budget_is_dropped_unanswered_and_counted() {
    let mut net = Net::new(
        am_gateway(|c| {
            c.aggressive_dh_burst = 10;
            c.aggressive_dh_per_sec = 1;
        }),
        vec![am_branch(Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1)))],
    );
    net.branches[0].ep.initiate(net.now, PeerId(0), 0).unwrap();
    let (p, am1) = net.sent_by(0).remove(0);
    let mut answered = 0;
    for i in 0..100u32 {
        let spoofed = Path {
            local: p.local,
            remote: SocketAddr::new(Ipv4Addr::from(0x0a42_0000 + i).into(), 500),
        };
        let mut m = am1.clone();
        m[..8].copy_from_slice(&(0x000f_100d_0000 + u64::from(i)).to_be_bytes());
        net.deliver(spoofed, &m);
        answered += drain(&mut net.gw, net.now).len();
        if i >= 10 {
            assert_eq!(net.last_drop, Some(DatagramDrop::DhRateLimited), "AM1 {i}");
        }
    }
    assert_eq!(answered, 10);
    assert_eq!(net.gw.counters().aggressive_dh_limited, 90);
    // The honest client's first AM1 came in the flood's second: it is dropped too, then
    // a retransmission finds tokens again.
    net.deliver(p, &am1);
    assert_eq!(net.last_drop, Some(DatagramDrop::DhRateLimited));
    drain(&mut net.gw, net.now);
    retransmit_until_up(&mut net, 0);
}

/// Drives branch `i`'s retransmissions (and the gateway's timers) until its tunnel is up.
fn retransmit_until_up(net: &mut Net, i: usize) {
    let start = net.now;
    let mut t = net.now;
    while !net.branches[i]
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase2Established(_)))
    {
        t = t + Duration::from_millis(500);
        assert!(t < start + Duration::from_secs(30), "never got through");
        net.branches[i].ep.handle_timeout(t);
        net.gw.handle_timeout(t);
        net.now = t;
        net.run();
    }
}

/// A flood from one address spends only that address's share of the budget (half the burst):
/// an honest client elsewhere is answered at once, while the flood's AM1s beyond its share are
/// dropped and the per-source half-open cap bounds what the answered ones hold.
#[test]
fn an_am1_flood_from_one_address_leaves_the_budget_to_the_others() {
    let mut net = Net::new(
        am_gateway(|c| {
            c.aggressive_dh_burst = 20;
            c.aggressive_dh_per_sec = 4;
            c.half_open_per_source_limit = 4;
        }),
        vec![am_branch(Branch::direct(1, Ipv4Addr::new(198, 51, 100, 1)))],
    );
    net.branches[0].ep.initiate(net.now, PeerId(0), 0).unwrap();
    let (p, am1) = net.sent_by(0).remove(0);
    let spoofed = Path {
        local: p.local,
        remote: SocketAddr::new(Ipv4Addr::new(10, 66, 0, 1).into(), 500),
    };
    let mut answered = 0;
    for i in 0..100u64 {
        let mut m = am1.clone();
        m[..8].copy_from_slice(&(0x000f_100d_0000 + i).to_be_bytes());
        net.deliver(spoofed, &m);
        answered += drain(&mut net.gw, net.now).len();
    }
    assert_eq!(answered, 10, "half the burst for one address");
    let c = net.gw.counters();
    assert_eq!(c.aggressive_dh_limited, 90);
    assert_eq!(c.half_open_per_source_dropped, 6);
    net.deliver(p, &am1);
    assert_eq!(net.last_drop, None, "the honest client was refused");
    let victim = drain(&mut net.gw, net.now);
    assert_eq!(victim.len(), 1, "AM2 for the honest client");
    let path = Path {
        local: SocketAddr::new(net.branches[0].private.into(), 500),
        remote: p.local,
    };
    let _ = net.branches[0]
        .ep
        .handle_datagram(net.now, path, &victim[0].1);
    net.run();
    assert!(net.branches[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Phase2Established(_))));
}
