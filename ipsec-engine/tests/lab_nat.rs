//! Two of our engines with a NAPT router between them (nftables masquerade in rtr): NAT-D shows
//! the NAT, IKE floats to 4500 and ESP goes in UDP (RFC 3947/3948). siteB knows siteA only as
//! rtr's outside address 203.0.113.1. The second test has no NAT: siteA alone runs with
//! `--force-udp-encaps`, and ESP must still go in UDP 4500 both ways. Needs root.

mod common;

use common::*;
use ipsec_netlab::addr;
use std::time::Duration;

#[test]
fn lab_nat_t_between_two_engines() {
    let Some(lab) = Lab::with_nat("nat") else {
        return;
    };
    // Counts raw ESP crossing rtr: with NAT-T there must be none.
    count_esp_and_udp4500(&lab);
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &site_b(addr::RTR_B));
    let t = &lab.topo;
    pings_both_ways(&lab, &da, &db);
    let tr = tcp_transfer(
        &t.host_b,
        &t.host_a,
        addr::HOST_A,
        5002,
        1 << 20,
        Duration::from_secs(120),
    );
    assert!(tr.intact && tr.bytes == 1 << 20);

    // Let the last segments of the transfer land before reading both ends.
    std::thread::sleep(Duration::from_millis(500));
    let (sa_a, sa_b) = show_ipsec_sa(&da, &db);
    assert!(
        sa_a.contains("current_peer 203.0.113.2 port 4500"),
        "{sa_a}"
    );
    // siteB sees siteA as the NAT's address; masquerade kept the source port 4500.
    assert!(
        sa_b.contains("current_peer 203.0.113.1 port 4500"),
        "{sa_b}"
    );
    for s in [&sa_a, &sa_b] {
        assert!(s.contains("in use settings ={Tunnel UDP-Encaps, }"), "{s}");
        assert!(!s.contains("in use settings ={Tunnel, }"), "{s}");
        assert_eq!(num(s, "#recv errors"), 0, "{s}");
        assert!(num(s, "#pkts decaps:") >= 20, "{s}");
        // plaintext mtu accounts for the 8-byte UDP header: 1500-20-8-8-8-12 -> 1448 -> 1438.
        assert!(s.contains("plaintext mtu 1438, path mtu 1500"), "{s}");
    }
    assert_transit(
        num(&sa_a, "#pkts encaps:"),
        num(&sa_b, "#pkts decaps:"),
        "siteA -> siteB",
    );
    assert_transit(
        num(&sa_b, "#pkts encaps:"),
        num(&sa_a, "#pkts decaps:"),
        "siteB -> siteA",
    );
    let isa = da.exec("show crypto isakmp sa detail");
    // Cap. N: NAT-traversal in use (D: the peer does DPD).
    assert!(
        isa.contains("ACTIVE 3des sha    psk  2") && isa.contains(" DN"),
        "{isa}"
    );
    let session = db.exec("show crypto session");
    assert!(session.contains("Peer: 203.0.113.1 port 4500"), "{session}");
    println!("siteA#show crypto isakmp sa detail\n{isa}siteB#show crypto session\n{session}");
    let (esp, udp) = esp_and_udp4500(&lab);
    assert_eq!(esp, 0, "raw ESP crossed the NAT");
    assert!(udp >= 40, "{udp} UDP/4500 packets");
    da.stop();
    db.stop();
}

/// Counts, in rtr, the raw ESP and the UDP-to-4500 packets it forwards (read with
/// [`esp_and_udp4500`]).
fn count_esp_and_udp4500(lab: &Lab) {
    lab.rtr_nft("table ip cnt {\n chain fw {\n  type filter hook forward priority 0;\n  ip protocol esp counter\n  udp dport 4500 counter\n }\n}\n");
}

/// The tunnel comes up on hostA's first pings, then 10 pings each way all pass.
fn pings_both_ways(lab: &Lab, da: &Daemon, db: &Daemon) {
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        db.state()
    );
    assert_eq!(ping(&t.host_a, addr::HOST_B, 10), 10, "{}", da.state());
    assert_eq!(ping(&t.host_b, addr::HOST_A, 10), 10, "{}", db.state());
}

/// Both ends' `show crypto ipsec sa`, printed for the record.
fn show_ipsec_sa(da: &Daemon, db: &Daemon) -> (String, String) {
    let sa_a = da.exec("show crypto ipsec sa");
    let sa_b = db.exec("show crypto ipsec sa");
    println!("siteA#show crypto ipsec sa\n{sa_a}siteB#show crypto ipsec sa\n{sa_b}");
    (sa_a, sa_b)
}

/// Counts of (raw ESP, UDP to 4500) packets forwarded by rtr, from the `cnt` table.
fn esp_and_udp4500(lab: &Lab) -> (u64, u64) {
    let counters = lab
        .topo
        .rtr
        .run("nft", &["list", "table", "ip", "cnt"])
        .unwrap();
    let pkts: Vec<u64> = counters
        .lines()
        .filter_map(|l| l.split("packets ").nth(1))
        .map(|r| r.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(pkts.len(), 2, "{counters}");
    (pkts[0], pkts[1])
}

#[test]
fn lab_force_udp_encaps_without_nat() {
    let Some(lab) = Lab::new("fenc") else {
        return;
    };
    count_esp_and_udp4500(&lab);
    let t = &lab.topo;
    let da = Daemon::start_with(
        t.gw_a.name(),
        lab.dir.path(),
        "siteA",
        &site_a(addr::GW_B_WAN),
        &["--force-udp-encaps"],
    );
    let db = Daemon::start(&t.gw_b, lab.dir.path(), "siteB", &site_b(addr::GW_A_WAN));
    pings_both_ways(&lab, &da, &db);
    std::thread::sleep(Duration::from_millis(300));
    let (sa_a, sa_b) = show_ipsec_sa(&da, &db);
    // No NAT: each side sees the other's real address, yet both float to 4500.
    assert!(
        sa_a.contains("current_peer 203.0.113.2 port 4500"),
        "{sa_a}"
    );
    assert!(
        sa_b.contains("current_peer 198.51.100.2 port 4500"),
        "{sa_b}"
    );
    for s in [&sa_a, &sa_b] {
        assert!(s.contains("in use settings ={Tunnel UDP-Encaps, }"), "{s}");
        assert_eq!(num(s, "#recv errors"), 0, "{s}");
    }
    let (esp, udp) = esp_and_udp4500(&lab);
    assert_eq!(
        esp, 0,
        "raw ESP crossed rtr although encapsulation was forced"
    );
    assert!(udp >= 40, "{udp} UDP/4500 packets");
    da.stop();
    db.stop();
}
