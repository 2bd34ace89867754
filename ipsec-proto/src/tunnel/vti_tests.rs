//! Static VTIs end to end in memory: two gateways from their IOS configurations.

use super::polled::tests::{carry, ping};
use super::{BatchVerdicts, CoreOptions, Dest, Iface, Show, Tunnel, TunnelEvent};
use crate::time::Instant;

/// One end of a VTI: `me` on GigabitEthernet0/0, the peer `peer`, tunnel address `tun`.
pub(in crate::tunnel) fn vti_site(me: &str, peer: &str, tun: &str, lan: &str) -> String {
    format!(
        "\
hostname R-{me}
crypto isakmp policy 10
 encr aes 256
 authentication pre-share
 group 14
crypto isakmp key vtisecret address {peer}
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac
 mode tunnel
crypto ipsec profile VTI
 set transform-set TS
 set pfs group14
 set security-association lifetime seconds 3600
interface GigabitEthernet0/0
 ip address {me} 255.255.255.0
interface GigabitEthernet0/1
 ip address {lan} 255.255.255.0
interface Tunnel0
 ip address {tun} 255.255.255.252
 ip mtu 1400
 ip tcp adjust-mss 1360
 tunnel source GigabitEthernet0/0
 tunnel mode ipsec ipv4
 tunnel destination {peer}
 tunnel protection ipsec profile VTI
 keepalive 10 3
ip route 0.0.0.0 0.0.0.0 Tunnel0 250
"
    )
}

const A: &str = "198.51.100.1";
const B: &str = "203.0.113.2";

fn pair() -> (Tunnel, Tunnel) {
    let a = Tunnel::from_ios(
        &vti_site(A, B, "10.255.0.1", "192.168.1.1"),
        CoreOptions::seeded(1),
    )
    .unwrap();
    let b = Tunnel::from_ios(
        &vti_site(B, A, "10.255.0.2", "192.168.2.1"),
        CoreOptions::seeded(2),
    )
    .unwrap();
    (a, b)
}

fn line_events(t: &mut Tunnel) -> Vec<bool> {
    let mut v = Vec::new();
    while let Some(e) = t.poll_event() {
        if let TunnelEvent::LineProtocol { iface, up } = e {
            assert_eq!(iface, 0);
            v.push(up);
        }
    }
    v
}

/// Timers of both ends and datagrams both ways, for `steps` steps of 10 ms.
fn run(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant, steps: u32) {
    for _ in 0..steps {
        for t in [&mut *a, &mut *b] {
            if t.poll_timeout().is_some_and(|d| d <= *now) {
                t.handle_timeout(*now);
            }
        }
        carry(a, b, *now);
        carry(b, a, *now);
        *now = Instant::from_millis(now.as_millis() + 10);
    }
}

/// Sends `pkts` into Tunnel0 of `from`; what `to` delivers, with its interface.
fn through(
    from: &mut Tunnel,
    to: &mut Tunnel,
    now: Instant,
    pkts: &[Vec<u8>],
) -> (BatchVerdicts, Vec<(Vec<u8>, Iface)>) {
    let v = from.handle_plaintext_batch(now, Iface::Tunnel(0), pkts.iter().map(|p| p.as_slice()));
    let mut buf = vec![0u8; 65_536];
    let mut moved = Vec::new();
    while let Ok(Some(t)) = from.poll_transmit(&mut buf) {
        moved.push((t, buf[..t.len].to_vec()));
    }
    let mut got = Vec::new();
    for (t, m) in moved {
        match t.dest {
            Dest::Udp { local, remote } => to.handle_udp(now, remote, local, &m).unwrap(),
            Dest::Esp { src, .. } => to.handle_esp(now, src, &m).unwrap(),
            _ => unreachable!(),
        }
        while let Ok(Some((n, iface))) = to.poll_plaintext_iface(&mut buf) {
            got.push((buf[..n].to_vec(), iface));
        }
    }
    (v, got)
}

/// The SPIs of the one pair each end has, checked to be the same pair.
fn one_pair(a: &Tunnel, b: &Tunnel) -> u32 {
    assert_eq!(a.tunnels().installed_pairs(), 1, "one SA pair at A");
    assert_eq!(b.tunnels().installed_pairs(), 1, "one SA pair at B");
    let (ca, cb) = (
        a.tunnels().children.iter().next().unwrap().1,
        b.tunnels().children.iter().next().unwrap().1,
    );
    assert_eq!(ca.spi_in, cb.out.spi(), "the same pair at both ends");
    assert_eq!(cb.spi_in, ca.out.spi(), "the same pair at both ends");
    ca.spi_in
}

#[test]
fn a_vti_comes_up_by_itself_and_carries_anything_routed_into_it() {
    let (mut a, mut b) = pair();
    let mut now = Instant::from_millis(1_000);
    // IOS brings a VTI up without waiting for traffic: the first deadline is now.
    assert!(a.poll_timeout().is_some_and(|t| t <= now));
    // Only A's timer runs: B answers.
    for _ in 0..30 {
        if a.poll_timeout().is_some_and(|d| d <= now) {
            a.handle_timeout(now);
        }
        carry(&mut a, &mut b, now);
        carry(&mut b, &mut a, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    assert_eq!(line_events(&mut a), vec![true]);
    assert_eq!(line_events(&mut b), vec![true]);
    assert_eq!(a.tunnels().line_protocol(0), Some(true));
    one_pair(&a, &b);
    // The proxy identities are 0.0.0.0/0 both ways, as IOS proposes them.
    let sa = a.show(
        now,
        Show::IpsecSa {
            peer: None,
            detail: false,
        },
    );
    assert!(sa.contains("interface: Tunnel0"), "{sa}");
    assert!(
        sa.contains("local  ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)"),
        "{sa}"
    );
    assert!(
        sa.contains("remote ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)"),
        "{sa}"
    );
    // Any addresses at all: the LAN, the tunnel's own /30 (a routing protocol), the Internet.
    let there: Vec<Vec<u8>> = vec![
        ping([192, 168, 1, 10], [192, 168, 2, 10], 1),
        ping([10, 255, 0, 1], [10, 255, 0, 2], 2),
        ping([192, 168, 1, 10], [8, 8, 8, 8], 3),
    ];
    let (v, got) = through(&mut a, &mut b, now, &there);
    assert_eq!(v.protected, 3, "{v:?}");
    assert_eq!(
        got,
        there
            .iter()
            .map(|p| (p.clone(), Iface::Tunnel(0)))
            .collect::<Vec<_>>()
    );
    let back = vec![ping([192, 168, 2, 10], [192, 168, 1, 10], 1)];
    let (v, got) = through(&mut b, &mut a, now, &back);
    assert_eq!(v.protected, 1);
    assert_eq!(got, vec![(back[0].clone(), Iface::Tunnel(0))]);
    // The inside (crypto map) side has no crypto ACL: nothing is protected from there.
    let v = a.handle_plaintext_batch(now, Iface::Inside, [there[0].as_slice()]);
    assert_eq!(v.not_protected, 1);
    // An interface that does not exist is still refused.
    let v = a.handle_plaintext_batch(now, Iface::Tunnel(7), [there[0].as_slice()]);
    assert_eq!(v.no_interface, 1);
    let s = a.show(now, Show::Interface { tunnel: 0 });
    for want in [
        "Tunnel0 is up, line protocol is up",
        "Internet address is 10.255.0.1/30",
        "Tunnel source 198.51.100.1 (GigabitEthernet0/0), destination 203.0.113.2",
        "Tunnel protocol/transport IPSEC/IP",
        "Tunnel protection via IPSec (profile \"VTI\")",
        "3 packets output",
        "1 packets input",
    ] {
        assert!(s.contains(want), "{want:?} in\n{s}");
    }
}

#[test]
fn both_ends_initiating_at_once_converge_to_one_pair() {
    for seed in 0..8u64 {
        let (mut a, mut b) = pair();
        let mut now = Instant::from_millis(1_000 + seed * 3);
        run(&mut a, &mut b, &mut now, 100);
        assert_eq!(line_events(&mut a), vec![true], "seed {seed}");
        assert_eq!(line_events(&mut b), vec![true], "seed {seed}");
        one_pair(&a, &b);
        let p = vec![ping([192, 168, 1, 10], [192, 168, 2, 10], 1)];
        let (v, got) = through(&mut a, &mut b, now, &p);
        assert_eq!((v.protected, got.len()), (1, 1), "seed {seed}");
        let (v, got) = through(&mut b, &mut a, now, &p);
        assert_eq!((v.protected, got.len()), (1, 1), "seed {seed}");
    }
}

#[test]
fn a_lost_sa_takes_the_line_protocol_down_and_the_tunnel_comes_back() {
    let (mut a, mut b) = pair();
    let mut now = Instant::from_millis(1_000);
    run(&mut a, &mut b, &mut now, 100);
    let first = one_pair(&a, &b);
    assert_eq!(line_events(&mut a), vec![true]);
    assert_eq!(line_events(&mut b), vec![true]);
    // B clears its SAs (Deletes to A): both lines go down, and come back up by themselves.
    b.clear_sa(now, None);
    carry(&mut b, &mut a, now);
    assert_eq!(line_events(&mut a), vec![false]);
    assert_eq!(line_events(&mut b), vec![false]);
    assert_eq!(a.tunnels().line_protocol(0), Some(false));
    let p = vec![ping([192, 168, 1, 10], [192, 168, 2, 10], 1)];
    let (v, _) = through(&mut a, &mut b, now, &p);
    assert_eq!(v.no_sa, 1, "no SA: dropped");
    run(&mut a, &mut b, &mut now, 100);
    assert_eq!(line_events(&mut a), vec![true]);
    assert_eq!(line_events(&mut b), vec![true]);
    assert_ne!(one_pair(&a, &b), first, "a new pair");

    // The peer goes away: A's SA expires with nobody to answer; A retries with back-off.
    a.clear_sa(now, None);
    a.clear_isakmp(now, None);
    let mut buf = vec![0u8; 65_536];
    while let Ok(Some(_)) = a.poll_transmit(&mut buf) {}
    assert_eq!(line_events(&mut a), vec![false]);
    let mut b2 = Tunnel::from_ios(
        &vti_site(B, A, "10.255.0.2", "192.168.2.1"),
        CoreOptions::seeded(3),
    )
    .unwrap();
    // A alone for ten minutes: its attempts fail and are spread out.
    let start = now;
    let mut attempts = Vec::new();
    let mut cookies = std::collections::BTreeSet::new();
    while now.as_millis() < start.as_millis() + 600_000 {
        let Some(d) = a.poll_timeout() else { break };
        now = d.max(now);
        a.handle_timeout(now);
        let mut sent_mm1 = false;
        while let Ok(Some(t)) = a.poll_transmit(&mut buf) {
            // A new Main Mode: a new initiator cookie, responder cookie zero (not a
            // retransmission).
            if t.len > 28 && buf[8..16] == [0; 8] && cookies.insert(buf[..8].to_vec()) {
                sent_mm1 = true;
            }
        }
        if sent_mm1 {
            attempts.push(now);
        }
        now = Instant::from_millis(now.as_millis() + 1);
    }
    assert!(attempts.len() >= 3, "{attempts:?}");
    let gaps: Vec<u64> = attempts
        .windows(2)
        .map(|w| w[1].as_millis() - w[0].as_millis())
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0]),
        "back-off grows: {gaps:?}"
    );
    assert!(gaps.len() < 40, "not a storm: {gaps:?}");
    // The peer is back (and initiates on its own too): the tunnel comes up.
    let _ = line_events(&mut b2);
    run(&mut a, &mut b2, &mut now, 6_500);
    assert_eq!(a.tunnels().line_protocol(0), Some(true));
    one_pair(&a, &b2);
}

#[test]
fn check_and_diagnose_know_a_healthy_vti() {
    let text = vti_site(A, B, "10.255.0.1", "192.168.1.1");
    let parsed = crate::ios::parse(&text).unwrap();
    // The profile uses the transform set: nothing to say.
    let lints = crate::ios::check(&parsed.config, Some(&parsed.origins));
    assert!(lints.is_empty(), "{lints:#?}");
    let (mut a, mut b) = pair();
    let mut now = Instant::from_millis(1_000);
    run(&mut a, &mut b, &mut now, 100);
    let p = vec![ping([192, 168, 1, 10], [192, 168, 2, 10], 1)];
    through(&mut a, &mut b, now, &p);
    through(&mut b, &mut a, now, &p);
    let v = a.diagnose(now, None);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].cause, crate::diagnose::Cause::Healthy, "{v:#?}");
    let session = a.show(now, Show::CryptoSession { detail: false });
    assert!(session.contains("Interface: Tunnel0"), "{session}");
    assert!(
        session.contains("IPSEC FLOW: permit ip 0.0.0.0/0.0.0.0 0.0.0.0/0.0.0.0"),
        "{session}"
    );
    let sa = a.show(
        now,
        Show::IpsecSa {
            peer: None,
            detail: false,
        },
    );
    assert!(
        sa.contains("Crypto map tag: Tunnel0-head-0, local addr 198.51.100.1"),
        "{sa}"
    );
    assert!(sa.contains("ip mtu idb GigabitEthernet0/0"), "{sa}");
}

/// A hub with two VTIs to two peers, each from its own tunnel source (the two-tunnel cloud
/// layout): what is routed into Tunnel1 goes to C only.
#[test]
fn two_vtis_to_two_peers_each_with_its_own_source() {
    let hub = "\
crypto keyring KR-B
 local-address 198.51.100.1
 pre-shared-key address 203.0.113.2 key keyB
crypto keyring KR-C
 local-address 198.51.101.1
 pre-shared-key address 203.0.113.3 key keyC
crypto isakmp policy 10
 encr aes 256
 authentication pre-share
 group 14
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac
crypto ipsec profile VTI
 set transform-set TS
 set pfs group14
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 198.51.101.1 255.255.255.0
interface Tunnel0
 ip address 169.254.0.1 255.255.255.252
 tunnel source GigabitEthernet0/0
 tunnel mode ipsec ipv4
 tunnel destination 203.0.113.2
 tunnel protection ipsec profile VTI
interface Tunnel1
 ip address 169.254.1.1 255.255.255.252
 tunnel source 198.51.101.1
 tunnel mode ipsec ipv4
 tunnel destination 203.0.113.3
 tunnel protection ipsec profile VTI
";
    let spoke = |me: &str, hub: &str, key: &str| {
        vti_site(me, hub, "169.254.0.2", "192.168.9.1").replace("vtisecret", key)
    };
    let mut h = Tunnel::from_ios(hub, CoreOptions::seeded(10)).unwrap();
    let mut b = Tunnel::from_ios(
        &spoke("203.0.113.2", "198.51.100.1", "keyB"),
        CoreOptions::seeded(11),
    )
    .unwrap();
    let mut c = Tunnel::from_ios(
        &spoke("203.0.113.3", "198.51.101.1", "keyC"),
        CoreOptions::seeded(12),
    )
    .unwrap();
    let entries: Vec<_> = h
        .tunnels()
        .entries()
        .iter()
        .map(|e| (e.vti, e.local.to_string(), e.peer_addr.to_string()))
        .collect();
    assert_eq!(
        entries,
        vec![
            (Some(0), "198.51.100.1".into(), "203.0.113.2".into()),
            (Some(1), "198.51.101.1".into(), "203.0.113.3".into())
        ]
    );
    let mut now = Instant::from_millis(1_000);
    // Only the hub's timers: both spokes answer; each datagram goes to the peer it is for.
    for _ in 0..60 {
        if h.poll_timeout().is_some_and(|d| d <= now) {
            h.handle_timeout(now);
        }
        let mut buf = vec![0u8; 65_536];
        while let Ok(Some(t)) = h.poll_transmit(&mut buf) {
            let Dest::Udp { local, remote } = t.dest else {
                panic!("{t:?}")
            };
            let to = match remote.ip().octets() {
                [203, 0, 113, 2] => &mut b,
                [203, 0, 113, 3] => &mut c,
                _ => panic!("{remote}"),
            };
            assert_eq!(
                local.ip().octets()[2],
                if remote.ip().octets()[3] == 2 {
                    100
                } else {
                    101
                },
                "each tunnel from its own source"
            );
            to.handle_udp(now, remote, local, &buf[..t.len]).unwrap();
        }
        carry(&mut b, &mut h, now);
        carry(&mut c, &mut h, now);
        now = Instant::from_millis(now.as_millis() + 10);
    }
    assert_eq!(h.tunnels().line_protocol(0), Some(true));
    assert_eq!(h.tunnels().line_protocol(1), Some(true));
    let one = h.show(
        now,
        Show::IpsecSaInterface {
            tunnel: 1,
            detail: false,
        },
    );
    assert!(one.contains("interface: Tunnel1"), "{one}");
    assert!(!one.contains("interface: Tunnel0"), "{one}");
    assert!(one.contains("current_peer 203.0.113.3 port 500"), "{one}");
    let p = ping([10, 0, 0, 1], [192, 168, 9, 10], 1);
    let mut buf = vec![0u8; 65_536];
    let v = h.handle_plaintext_batch(now, Iface::Tunnel(1), [p.as_slice()]);
    assert_eq!(v.protected, 1);
    let t = h.poll_transmit(&mut buf).unwrap().unwrap();
    let Dest::Esp { src, dst } = t.dest else {
        panic!("{t:?}")
    };
    assert_eq!(
        (src.octets(), dst.octets()),
        ([198, 51, 101, 1], [203, 0, 113, 3])
    );
    c.handle_esp(now, src, &buf[..t.len]).unwrap();
    assert_eq!(
        c.poll_plaintext_iface(&mut buf).unwrap(),
        Some((p.len(), Iface::Tunnel(0)))
    );
}

#[test]
fn reconfigure_keeps_an_unchanged_vti_and_renegotiates_a_changed_one() {
    let (mut a, mut b) = pair();
    let mut now = Instant::from_millis(1_000);
    run(&mut a, &mut b, &mut now, 100);
    let first = one_pair(&a, &b);
    let _ = (line_events(&mut a), line_events(&mut b));
    let text = vti_site(A, B, "10.255.0.1", "192.168.1.1");
    let r = a.reconfigure_ios(now, &text).unwrap();
    assert_eq!(r.kept, vec!["Tunnel0-head-0 1".to_string()]);
    assert_eq!(line_events(&mut a), Vec::<bool>::new(), "no flap");
    assert_eq!(one_pair(&a, &b), first);
    // A shorter lifetime: the SA goes (Delete to B) and the tunnel comes back by itself.
    let changed = text.replace("lifetime seconds 3600", "lifetime seconds 1800");
    let r = a.reconfigure_ios(now, &changed).unwrap();
    assert_eq!(r.cleared, vec!["Tunnel0-head-0 1".to_string()]);
    assert_eq!(line_events(&mut a), vec![false]);
    run(&mut a, &mut b, &mut now, 100);
    assert_eq!(line_events(&mut a), vec![true]);
    assert_ne!(one_pair(&a, &b), first);
}

#[test]
fn an_isakmp_profile_serves_only_its_local_address() {
    let with = |local: &str| {
        vti_site(A, B, "10.255.0.1", "192.168.1.1")
            .replace(
                "crypto ipsec profile VTI\n",
                &format!(
                    "crypto isakmp profile IP\n local-address {local}\n match identity address {B} 255.255.255.255\ncrypto ipsec profile VTI\n set isakmp-profile IP\n"
                ),
            )
    };
    let ok = Tunnel::from_ios(&with("GigabitEthernet0/0"), CoreOptions::seeded(1)).unwrap();
    assert_eq!(ok.tunnels().entries().len(), 1);
    let e = Tunnel::from_ios(&with("192.0.2.99"), CoreOptions::seeded(1)).unwrap_err();
    assert!(
        e.to_string().contains(
            "interface Tunnel0: isakmp profile IP: its local-address is not 198.51.100.1"
        ),
        "{e}"
    );
}

/// A VTI pair with transform set `esp`, up, and the time.
fn up_with(esp: &str) -> (Tunnel, Tunnel, Instant) {
    let site = |me, peer, tun, lan| vti_site(me, peer, tun, lan).replace("esp-aes 256", esp);
    let mut a = Tunnel::from_ios(
        &site(A, B, "10.255.0.1", "192.168.1.1"),
        CoreOptions::seeded(1),
    )
    .unwrap();
    let mut b = Tunnel::from_ios(
        &site(B, A, "10.255.0.2", "192.168.2.1"),
        CoreOptions::seeded(2),
    )
    .unwrap();
    let mut now = Instant::from_millis(1_000);
    run(&mut a, &mut b, &mut now, 30);
    assert_eq!(a.tunnels().line_protocol(0), Some(true));
    one_pair(&a, &b);
    (a, b, now)
}

#[test]
fn a_vti_batch_goes_through_the_shared_cipher_passes_in_order() {
    for esp in ["esp-3des", "esp-aes 256"] {
        if esp.starts_with("esp-aes") && !ipsec_tdes::aes_is_available() {
            continue;
        }
        let (mut a, mut b, now) = up_with(esp);
        assert!(a.tunnels().tdes.is_none());
        // More packets than a chunk, a TCP SYN to clamp among them (it goes alone, in order).
        let mut pkts: Vec<Vec<u8>> = (0..40u16)
            .map(|i| ping([192, 168, 1, 10], [192, 168, 2, 10], i))
            .collect();
        pkts[17] = super::mss::tests::syn(1460, 0x02);
        let (v, got) = through(&mut a, &mut b, now, &pkts);
        assert_eq!(v.protected, 40, "{esp}: {v:?}");
        assert!(a.tunnels().tdes.is_some(), "{esp}: the shared pass ran");
        assert!(got.iter().all(|(_, i)| *i == Iface::Tunnel(0)), "{esp}");
        let got: Vec<Vec<u8>> = got.into_iter().map(|(p, _)| p).collect();
        assert_eq!(got.len(), 40, "{esp}");
        for (i, (g, p)) in got.iter().zip(&pkts).enumerate() {
            if i == 17 {
                // `ip tcp adjust-mss 1360` of Tunnel0.
                assert_eq!(super::syn_mss(g).map(|(_, m)| m), Some(1360), "{esp}");
            } else {
                assert_eq!(g, p, "{esp}: packet {i} in order and intact");
            }
        }
    }
}
