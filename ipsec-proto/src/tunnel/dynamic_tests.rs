//! Dynamic crypto maps in memory: site A as a hub answering through `crypto dynamic-map`, the
//! seed's site B as a spoke that initiates.

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, Show, TunVerdict, Tunnel, TunnelEvent};
use crate::time::Instant;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];

/// Site A with its crypto map entry turned into a dynamic one and `keys` for its keys.
fn hub(keys: &str) -> String {
    let t = SITE_A
        .replace(
            "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n match address 100\n",
            "crypto dynamic-map DYN 10\n set transform-set TRANSFORM\n match address 100\ncrypto map VPN 65535 ipsec-isakmp dynamic DYN\n",
        )
        .replace("crypto isakmp key ciscokey address 203.0.113.2\n", keys);
    assert!(t.contains("dynamic DYN") && t.contains(keys), "{t}");
    t
}

fn settle(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) {
    for _ in 0..20 {
        carry(a, b, *now);
        carry(b, a, *now);
        *now = Instant::from_millis(now.as_millis() + 10);
    }
}

fn up_through_the_hub(keys: &str) -> (Tunnel, Tunnel, Instant) {
    let mut a = Tunnel::from_ios(&hub(keys), CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    // The hub knows no peer to ask: its traffic waits for a spoke.
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0)),
        TunVerdict::NoSa
    );
    assert!(carry(&mut a, &mut b, now).is_empty());
    let mut buf = vec![0u8; 2048];
    assert!(
        matches!(a.poll_transmit(&mut buf), Ok(None)),
        "the hub sent nothing"
    );
    assert_eq!(
        b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0)),
        TunVerdict::NoSa
    );
    settle(&mut a, &mut b, &mut now);
    let up = std::iter::from_fn(|| a.poll_event())
        .filter(|e| matches!(e, TunnelEvent::IpsecUp { .. }))
        .count();
    assert_eq!(up, 1, "the hub installed the spoke's pair");
    (a, b, now)
}

#[test]
fn a_spoke_reaches_a_dynamic_map_with_a_wildcard_key_and_traffic_flows_both_ways() {
    let (mut a, mut b, now) =
        up_through_the_hub("crypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n");
    for seq in 1..=3 {
        let p = ping(HOST_A, HOST_B, seq);
        assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
        assert_eq!(carry(&mut a, &mut b, now), vec![p]);
        let r = ping(HOST_B, HOST_A, seq);
        assert_eq!(b.handle_plaintext(now, &r), TunVerdict::Protected);
        assert_eq!(carry(&mut b, &mut a, now), vec![r]);
    }
    let map = a.show(now, Show::CryptoMap);
    assert!(map.contains("Dynamic map template tag: DYN"), "{map}");
    assert!(map.contains("Current peer: 203.0.113.2 (learned)"), "{map}");
    assert!(a.show(now, Show::IsakmpSa).contains("203.0.113.2"));
    // Traffic outside what the spoke negotiated finds no pair, and nobody is asked.
    let other = ping(HOST_A, [192, 168, 2, 0x80], 9);
    assert_eq!(a.handle_plaintext(now, &other), TunVerdict::Protected);
    let elsewhere = ping(HOST_A, [172, 16, 0, 1], 9);
    assert_eq!(
        a.handle_plaintext(now, &elsewhere),
        TunVerdict::NotProtected
    );
    // `clear crypto sa peer X` finds the learned peer's pair.
    assert_eq!(a.clear_sa(now, Some([203, 0, 113, 2].into())), 1);
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 10)),
        TunVerdict::NoSa
    );
}

#[test]
fn a_host_key_beats_the_wildcard_key_for_a_dynamic_peer() {
    // The wildcard key is wrong for this spoke; its own key is right and more specific.
    let (mut a, mut b, now) = up_through_the_hub(
        "crypto isakmp key wrongkey address 0.0.0.0 0.0.0.0\ncrypto isakmp key ciscokey address 203.0.113.2\n",
    );
    let p = ping(HOST_A, HOST_B, 1);
    assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
    assert_eq!(carry(&mut a, &mut b, now), vec![p]);
}

/// Site B moved to `addr` with LAN `lan` (a second spoke).
fn spoke(addr: &str, lan: u8) -> String {
    SITE_B
        .replace("203.0.113.2", addr)
        .replace("192.168.2.", &format!("192.168.{lan}."))
}

/// Moves every datagram of `from` to whichever of `to` has the destination address.
fn route(from: &mut Tunnel, to: &mut [(&str, &mut Tunnel)], now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let mut moved = Vec::new();
    while let Ok(Some(t)) = from.poll_transmit(&mut buf) {
        moved.push((t, buf[..t.len].to_vec()));
    }
    let mut delivered = Vec::new();
    for (t, m) in moved {
        let (dst, v) = match t.dest {
            super::Dest::Udp { local, remote } => (*remote.ip(), (local, remote)),
            super::Dest::Esp { src, dst } => (
                dst,
                (
                    std::net::SocketAddrV4::new(src, 0),
                    std::net::SocketAddrV4::new(dst, 0),
                ),
            ),
            _ => continue,
        };
        let Some((_, peer)) = to.iter_mut().find(|(a, _)| a.parse() == Ok(dst)) else {
            continue;
        };
        let r = match t.dest {
            super::Dest::Udp { .. } => peer.handle_udp(now, v.1, v.0, &m),
            _ => peer.handle_esp(now, *v.0.ip(), &m),
        };
        assert_eq!(r, Ok(()));
        while let Ok(Some(n)) = peer.poll_plaintext(&mut buf) {
            delivered.push(buf[..n].to_vec());
        }
    }
    delivered
}

#[test]
fn a_dynamic_entry_without_match_address_takes_each_spokes_proxies() {
    let text = hub("crypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n")
        .replace(" match address 100\ncrypto map", "crypto map");
    let parsed = crate::ios::parse(&text).unwrap();
    assert!(parsed.config.dynamic_maps[0].acl.is_none());
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    assert!(a.tunnels().entries()[0].any_proxies);
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut c = Tunnel::from_ios(&spoke("203.0.113.3", 3), CoreOptions::seeded(3)).unwrap();
    let mut now = Instant::from_millis(1_000);
    // Before any spoke: nothing claims the hub's traffic, it goes in clear.
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 0)),
        TunVerdict::NotProtected
    );
    let host_c = [192, 168, 3, 10];
    assert_eq!(
        b.handle_plaintext(now, &ping(HOST_B, HOST_A, 0)),
        TunVerdict::NoSa
    );
    assert_eq!(
        c.handle_plaintext(now, &ping(host_c, HOST_A, 0)),
        TunVerdict::NoSa
    );
    for _ in 0..20 {
        route(&mut b, &mut [("198.51.100.1", &mut a)], now);
        route(&mut c, &mut [("198.51.100.1", &mut a)], now);
        route(
            &mut a,
            &mut [("203.0.113.2", &mut b), ("203.0.113.3", &mut c)],
            now,
        );
        now = Instant::from_millis(now.as_millis() + 10);
    }
    // Each spoke's own networks go to it, both ways.
    for (seq, dst, addr) in [(1, HOST_B, "203.0.113.2"), (2, host_c, "203.0.113.3")] {
        let p = ping(HOST_A, dst, seq);
        assert_eq!(a.handle_plaintext(now, &p), TunVerdict::Protected);
        let (spoke, other) = if addr == "203.0.113.2" {
            (&mut b, &mut c)
        } else {
            (&mut c, &mut b)
        };
        let got = route(&mut a, &mut [(addr, spoke), ("0.0.0.0", other)], now);
        assert_eq!(got, vec![p]);
    }
    let r = ping(host_c, HOST_A, 3);
    assert_eq!(c.handle_plaintext(now, &r), TunVerdict::Protected);
    assert_eq!(route(&mut c, &mut [("198.51.100.1", &mut a)], now), vec![r]);
    // What no spoke negotiated stays in clear.
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, [172, 16, 0, 1], 9)),
        TunVerdict::NotProtected
    );
    // One block per learned peer with the proxies it negotiated and its own counters.
    let sa = a.show(
        now,
        Show::IpsecSa {
            peer: None,
            detail: false,
        },
    );
    for (peer, lan, encaps) in [("203.0.113.2", 2, 1), ("203.0.113.3", 3, 1)] {
        let block = format!(
            "   remote ident (addr/mask/prot/port): (192.168.{lan}.0/255.255.255.0/0/0)\n   current_peer {peer} port 500\n"
        );
        assert!(sa.contains(&block), "{sa}");
        let one = a.show(
            now,
            Show::IpsecSa {
                peer: Some(peer.parse().unwrap()),
                detail: false,
            },
        );
        assert_eq!(one.matches("current_peer").count(), 1, "{one}");
        assert!(
            one.contains(&format!("#pkts encaps: {encaps}, #pkts encrypt: {encaps}")),
            "{one}"
        );
    }
    // `diagnose` speaks of each learned peer, none of them a stranger.
    let v = a.diagnose(now, None);
    for peer in ["203.0.113.2", "203.0.113.3"] {
        let p: std::net::IpAddr = peer.parse().unwrap();
        let mine: Vec<_> = v.iter().filter(|x| x.peer == Some(p)).collect();
        assert_eq!(mine.len(), 1, "{v:#?}");
        assert_eq!(
            mine[0].cause,
            crate::diagnose::Cause::Healthy,
            "{:#?}",
            mine[0]
        );
    }
    let only = a.diagnose(now, Some("203.0.113.3".parse().unwrap()));
    assert_eq!(only.len(), 1, "{only:#?}");
}

#[test]
fn a_dynamic_entry_without_match_address_passes_unlearned_traffic_to_later_entries() {
    // The open dynamic entry comes first (seq 5); entry 20 protects 172.16.0.0/16 with a peer
    // of its own. Traffic for it still starts entry 20's negotiation.
    let text = hub("crypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n")
        .replace(" match address 100\ncrypto map VPN 65535", "crypto map VPN 5")
        .replace(
            "interface FastEthernet4\n",
            "crypto map VPN 20 ipsec-isakmp\n set peer 192.0.2.20\n set transform-set TRANSFORM\n match address 120\n\
             access-list 120 permit ip 192.168.1.0 0.0.0.255 172.16.0.0 0.0.255.255\ninterface FastEthernet4\n",
        );
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    let e = a.tunnels().entries();
    assert_eq!(
        (e.len(), e[0].seq, e[0].any_proxies, e[1].seq),
        (2, 5, true, 20)
    );
    let now = Instant::from_millis(1_000);
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, [172, 16, 0, 1], 1)),
        TunVerdict::NoSa
    );
    let mut buf = vec![0u8; 2048];
    let t = a
        .poll_transmit(&mut buf)
        .unwrap()
        .expect("Main Mode to entry 20's peer");
    assert!(
        matches!(t.dest, super::Dest::Udp { remote, .. } if remote.ip().octets() == [192, 0, 2, 20]),
        "{:?}",
        t.dest
    );
    // Nobody claims the rest.
    assert_eq!(
        a.handle_plaintext(now, &ping(HOST_A, HOST_B, 2)),
        TunVerdict::NotProtected
    );
}

#[test]
fn set_peer_in_a_dynamic_map_entry_is_refused_by_name() {
    let text = hub("crypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n").replace(
        "crypto dynamic-map DYN 10\n",
        "crypto dynamic-map DYN 10\n set peer 203.0.113.2\n",
    );
    let e = crate::ios::parse(&text).unwrap_err();
    assert!(
        e.to_string().contains("set peer in a dynamic map entry"),
        "{e}"
    );
}
