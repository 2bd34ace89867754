//! Reverse route injection in memory: the seed's two sites, site A with `reverse-route`,
//! `reverse-route static` or a dynamic map; the route events and the route table follow the
//! SA pairs (see `rri.rs`).

use super::polled::tests::{carry, ping, SITE_A, SITE_B};
use super::{CoreOptions, InjectedRoute, Show, TunVerdict, Tunnel, TunnelEvent};
use crate::time::Instant;
use std::net::Ipv4Addr;

const HOST_A: [u8; 4] = [192, 168, 1, 10];
const HOST_B: [u8; 4] = [192, 168, 2, 10];

fn settle(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) {
    for _ in 0..20 {
        carry(a, b, *now);
        carry(b, a, *now);
        *now = Instant::from_millis(now.as_millis() + 10);
    }
}

/// Site A with `lines` added to its crypto map entry.
fn site_a_with(lines: &str) -> String {
    let t = SITE_A.replace(
        " match address 100\n",
        &format!(" match address 100\n{lines}"),
    );
    assert!(t.contains(lines), "{t}");
    t
}

/// Site A's entry as a dynamic map entry with `lines`, answering any peer.
fn hub_with(lines: &str) -> String {
    let t = SITE_A
        .replace(
            "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n match address 100\n",
            &format!("crypto dynamic-map DYN 10\n set transform-set TRANSFORM\n match address 100\n{lines}crypto map VPN 65535 ipsec-isakmp dynamic DYN\n"),
        )
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2\n",
            "crypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n",
        );
    assert!(t.contains("dynamic DYN"), "{t}");
    t
}

/// (added, removed) routes among the events queued.
fn route_events(t: &mut Tunnel) -> (Vec<InjectedRoute>, Vec<InjectedRoute>) {
    let (mut add, mut del) = (Vec::new(), Vec::new());
    while let Some(e) = t.poll_event() {
        match e {
            TunnelEvent::RouteAdd(r) => add.push(r),
            TunnelEvent::RouteRemove(r) => del.push(r),
            _ => {}
        }
    }
    (add, del)
}

fn lan_b(tag: u32, distance: u8, publish: bool) -> InjectedRoute {
    InjectedRoute {
        entry: 0,
        prefix: Ipv4Addr::new(192, 168, 2, 0),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        tag,
        distance,
        publish,
    }
}

fn table(t: &Tunnel) -> Vec<InjectedRoute> {
    t.tunnels().injected_routes().copied().collect()
}

/// Site B initiates (on its first packet) and the pair comes up at both ends.
fn b_initiates(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) {
    assert_eq!(
        b.handle_plaintext(*now, &ping(HOST_B, HOST_A, 0)),
        TunVerdict::NoSa
    );
    settle(a, b, now);
    let p = ping(HOST_A, HOST_B, 1);
    assert_eq!(a.handle_plaintext(*now, &p), TunVerdict::Protected);
    assert_eq!(carry(a, b, *now), vec![p]);
}

#[test]
fn reverse_route_publishes_the_remote_proxy_while_the_pair_exists() {
    let text =
        site_a_with(" reverse-route\n set reverse-route tag 42\n set reverse-route distance 5\n");
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    assert_eq!(
        route_events(&mut a),
        (vec![], vec![]),
        "nothing before an SA"
    );
    assert!(table(&a).is_empty());
    let g0 = a.tunnels().routes_generation();
    b_initiates(&mut a, &mut b, &mut now);
    let want = lan_b(42, 5, true);
    assert_eq!(route_events(&mut a), (vec![want], vec![]));
    assert_eq!(table(&a), vec![want]);
    assert_eq!(want.network(), "192.168.2.0/24");
    assert!(a.tunnels().routes_generation() > g0);
    let map = a.show(now, Show::CryptoMap);
    assert!(map.contains("\tReverse Route Injection Enabled\n"), "{map}");

    // A rekey installs a second pair for the flow: no second announcement; the old pair's
    // retirement does not withdraw the route either.
    let spi = a
        .tunnels()
        .endpoint()
        .ipsec_sas(now)
        .first()
        .map(|s| s.spi_in)
        .unwrap();
    a.rekey_sa(now, spi).unwrap();
    settle(&mut a, &mut b, &mut now);
    assert_eq!(a.tunnels().installed_pairs(), 2, "old and new pair");
    assert_eq!(route_events(&mut a), (vec![], vec![]));
    a.delete_sa(now, spi).unwrap();
    settle(&mut a, &mut b, &mut now);
    assert_eq!(a.tunnels().installed_pairs(), 1);
    assert_eq!(
        route_events(&mut a),
        (vec![], vec![]),
        "the new pair holds it"
    );

    // `clear crypto sa`: the route goes with the last pair.
    assert_eq!(a.clear_sa(now, None), 1);
    assert_eq!(route_events(&mut a), (vec![], vec![want]));
    assert!(table(&a).is_empty());
}

#[test]
fn reverse_route_static_routes_the_acl_destinations_from_the_start() {
    let text = site_a_with(" reverse-route static\n");
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    let want = lan_b(0, 1, true);
    assert_eq!(route_events(&mut a), (vec![want], vec![]), "before any SA");
    b_initiates(&mut a, &mut b, &mut now);
    assert_eq!(route_events(&mut a), (vec![], vec![]), "announced once");
    assert_eq!(a.clear_sa(now, None), 1);
    assert_eq!(
        route_events(&mut a),
        (vec![], vec![]),
        "stays without an SA"
    );
    assert_eq!(table(&a), vec![want]);
    // The same configuration again changes nothing; a new tag replaces the route.
    a.reconfigure_ios(now, &text).unwrap();
    assert_eq!(route_events(&mut a), (vec![], vec![]));
    a.reconfigure_ios(
        now,
        &site_a_with(" reverse-route static\n set reverse-route tag 7\n"),
    )
    .unwrap();
    assert_eq!(route_events(&mut a), (vec![lan_b(7, 1, true)], vec![want]));
    // Removing reverse-route withdraws it; shutting down withdraws what is left.
    a.reconfigure_ios(now, SITE_A).unwrap();
    assert_eq!(route_events(&mut a), (vec![], vec![lan_b(7, 1, true)]));
    a.reconfigure_ios(now, &text).unwrap();
    assert_eq!(route_events(&mut a), (vec![want], vec![]));
    a.shutdown(now);
    assert_eq!(route_events(&mut a), (vec![], vec![want]));
    assert!(table(&a).is_empty());
}

#[test]
fn without_reverse_route_a_static_entry_asks_for_no_route() {
    let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
    let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    b_initiates(&mut a, &mut b, &mut now);
    assert_eq!(route_events(&mut a), (vec![], vec![]));
    assert!(!a
        .show(now, Show::CryptoMap)
        .contains("Reverse Route Injection"));
}

#[test]
fn a_dynamic_map_routes_what_it_learned_and_publishes_it_with_reverse_route() {
    for (lines, publish) in [
        ("", false),
        (" reverse-route\n set reverse-route tag 9\n", true),
    ] {
        let mut a = Tunnel::from_ios(&hub_with(lines), CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        assert_eq!(route_events(&mut a), (vec![], vec![]));
        b_initiates(&mut a, &mut b, &mut now);
        let want = lan_b(if publish { 9 } else { 0 }, 1, publish);
        assert_eq!(route_events(&mut a), (vec![want], vec![]), "{lines:?}");
        assert_eq!(a.clear_sa(now, Some([203, 0, 113, 2].into())), 1);
        assert_eq!(route_events(&mut a), (vec![], vec![want]), "{lines:?}");
    }
}

#[test]
fn a_route_over_a_peers_own_address_is_never_published() {
    // Static: the ACL's destination `any` covers the peer: refused with a note.
    let text = site_a_with(" reverse-route static\n").replace(
        "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255",
        "access-list 100 permit ip 192.168.1.0 0.0.0.255 any",
    );
    let mut a = Tunnel::from_ios(&text, CoreOptions::seeded(1)).unwrap();
    assert_eq!(route_events(&mut a), (vec![], vec![]));
    let notes = a.tunnels().skipped().join("\n");
    assert!(
        notes.contains("crypto map VPN 10: reverse-route static: reverse route 0.0.0.0/0 covers peer 203.0.113.2's own address; not injected"),
        "{notes}"
    );

    // Dynamic: a spoke whose proxy is `any` gets a route in the hub's own routing only.
    let mut a = Tunnel::from_ios(
        &hub_with(" reverse-route\n").replace(
            "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255",
            "access-list 100 permit ip 192.168.1.0 0.0.0.255 any",
        ),
        CoreOptions::seeded(1),
    )
    .unwrap();
    let spoke = SITE_B.replace(
        "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255",
        "access-list 100 permit ip any 192.168.1.0 0.0.0.255",
    );
    let mut b = Tunnel::from_ios(&spoke, CoreOptions::seeded(2)).unwrap();
    let mut now = Instant::from_millis(1_000);
    b_initiates(&mut a, &mut b, &mut now);
    let (add, del) = route_events(&mut a);
    assert!(del.is_empty());
    assert_eq!(
        add,
        vec![InjectedRoute {
            entry: 0,
            prefix: Ipv4Addr::UNSPECIFIED,
            mask: Ipv4Addr::UNSPECIFIED,
            tag: 0,
            distance: 1,
            publish: false,
        }]
    );
}
