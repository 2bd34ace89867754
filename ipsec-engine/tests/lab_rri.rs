//! Reverse route injection against a real peer and a real routing daemon: siteA (our engine in
//! gwA) with `reverse-route`, `set reverse-route tag 42` and `set reverse-route distance 5`,
//! strongSwan 5.9.8 in gwB, and bird2 in gwA learning kernel routes (`protocol kernel { learn;
//! }`, importing only our protocol number 229). While the SA exists bird has 10.2.2.0/24 (the
//! remote proxy) with metric 5; after `clear crypto sa` it is gone. A reload to
//! `reverse-route static` publishes the crypto ACL's destination without an SA; stopping the
//! engine withdraws it.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, Netns};
use std::time::Duration;

/// bird learning the routes the engine injects (protocol 229), nothing else; never writing
/// the kernel; plus one route of its own, as what it would announce to its neighbours.
const BIRD_CONF: &str = r#"router id 198.51.100.2;
protocol device { scan time 1; }
protocol kernel kern {
    learn;
    scan time 1;
    ipv4 {
        import filter { if krt_source = 229 then accept; reject; };
        export none;
    };
}
protocol static own {
    ipv4;
    route 192.0.2.0/24 blackhole;
}
"#;

/// Our protocol's routes in gwA's main table.
fn rri_routes(ns: &Netns) -> String {
    ns.ip(&["route", "show", "table", "main", "proto", "229"])
        .unwrap_or_default()
}

#[test]
fn lab_rri_bird_learns_and_withdraws_the_reverse_route_with_the_sa() {
    let Some(lab) = Lab::new("rri") else {
        return;
    };
    let t = &lab.topo;
    let Some(bird) = Bird::start(&t.gw_a, lab.dir.path(), "bird", BIRD_CONF) else {
        return;
    };
    let peer = Charon::start(&t.gw_b, &[seed_charon_conn()]).unwrap();
    peer.load_all().unwrap();
    let config = site_a(addr::GW_B_WAN).replace(
        " match address 100\n",
        " match address 100\n reverse-route\n set reverse-route tag 42\n set reverse-route distance 5\n",
    );
    assert!(config.contains(" reverse-route\n"), "{config}");
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &config);
    let map = da.exec("show crypto map");
    assert!(map.contains("Reverse Route Injection Enabled"), "{map}");
    assert_eq!(rri_routes(&t.gw_a), "", "no route before an SA");
    assert!(!bird.routes().contains("10.2.2.0/24"));

    // The SA comes up: the remote proxy is in the main table with our protocol and metric,
    // and bird learned it.
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        peer.log()
    );
    let main = rri_routes(&t.gw_a);
    assert!(
        main.contains("10.2.2.0/24 dev ipsec0") && main.contains("metric 5"),
        "{main}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || bird
            .routes()
            .contains("10.2.2.0/24")),
        "bird did not learn the route:\n{}",
        bird.routes()
    );
    let learned = bird.routes();
    println!("bird while the SA exists:\n{learned}");
    assert!(learned.contains("kern"), "{learned}");
    assert!(learned.contains("Kernel.metric: 5"), "{learned}");
    assert!(learned.contains("Kernel.source: 229"), "{learned}");
    // The tag travels as the route's realm (it fits in 16 bits).
    assert!(learned.contains("Kernel.realm: 42"), "{learned}");
    // The peer's own address is never routed into the tunnel.
    assert!(!main.contains("203.0.113."), "{main}");
    assert_eq!(ping(&t.host_a, addr::HOST_B, 5), 5, "{}", da.state());

    // `clear crypto sa`: the route goes with the SA, and bird withdraws it.
    da.exec("clear crypto sa");
    assert!(
        wait_until(Duration::from_secs(10), || rri_routes(&t.gw_a).is_empty()),
        "{}",
        rri_routes(&t.gw_a)
    );
    assert!(
        wait_until(Duration::from_secs(10), || !bird
            .routes()
            .contains("10.2.2.0/24")),
        "bird still has the route:\n{}",
        bird.routes()
    );
    println!("bird after clear crypto sa:\n{}", bird.routes());

    // `reverse-route static`: the ACL's destination from the moment the map is applied, SA
    // or not (the entry's SAs are kept: only the routes changed).
    da.write_config(&config.replace(" reverse-route\n", " reverse-route static\n"));
    let r = da.exec("reload");
    assert!(r.contains("Configuration reloaded"), "{r}");
    assert!(
        wait_until(Duration::from_secs(10), || bird
            .routes()
            .contains("10.2.2.0/24")),
        "{}\n{}",
        rri_routes(&t.gw_a),
        bird.routes()
    );

    // Stopping the engine removes what it installed.
    let err = da.stop();
    assert!(!err.contains("warning: reverse route"), "{err}");
    assert_eq!(rri_routes(&t.gw_a), "");
    assert!(
        wait_until(Duration::from_secs(10), || !bird
            .routes()
            .contains("10.2.2.0/24")),
        "{}",
        bird.routes()
    );
}
