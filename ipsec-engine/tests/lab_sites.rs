//! The seed's two routers (cisco-ios.md A.8, lab addresses) as two `ipsec-engine run` daemons in
//! the netlab five-namespace layout, with a host behind each: pings and a TCP transfer cross
//! the tunnel and `show crypto ipsec sa` counts them on both ends. Needs root.
//!
//! hostA 10.1.1.10 -- [gwA siteA] 198.51.100.2 -- rtr -- 203.0.113.2 [gwB siteB] -- 10.2.2.10 hostB

mod common;

use common::*;
use ipsec_netlab::addr;
use std::time::Duration;

#[test]
fn lab_sites_ping_and_tcp_transfer_counted_on_both_ends() {
    let Some(lab) = Lab::new("sites") else { return };
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &site_b(addr::GW_A_WAN));
    let t = &lab.topo;

    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        db.state()
    );
    let n = ping(&t.host_a, addr::HOST_B, 10);
    assert_eq!(n, 10, "{}", da.state());
    let n = ping(&t.host_b, addr::HOST_A, 10);
    assert_eq!(n, 10, "{}", db.state());

    // 4 MB hostA -> hostB, checked byte for byte by the receiver.
    let len = 4 << 20;
    let tr = tcp_transfer(
        &t.host_a,
        &t.host_b,
        addr::HOST_B,
        5001,
        len,
        Duration::from_secs(300),
    );
    assert_eq!(tr.bytes, len);
    assert!(tr.intact, "data corrupted");
    println!(
        "TCP {len} bytes in {:?} ({:.1} Mbit/s, debug build), MSS {:?}",
        tr.elapsed,
        len as f64 * 8.0 / tr.elapsed.as_secs_f64() / 1e6,
        tr.mss
    );

    let isa = da.exec("show crypto isakmp sa");
    assert!(isa.contains("QM_IDLE"), "{isa}");
    // Let the last segments of the transfer land before reading both ends.
    std::thread::sleep(Duration::from_millis(500));
    let sa_a = da.exec("show crypto ipsec sa");
    let sa_b = db.exec("show crypto ipsec sa");
    println!("siteA#show crypto ipsec sa\n{sa_a}siteB#show crypto ipsec sa\n{sa_b}");
    // Data segments: at least len / MSS packets each way of the transfer went through ESP.
    let min_pkts = (len / 1500) as u64;
    assert!(num(&sa_a, "#pkts encaps:") >= min_pkts, "{sa_a}");
    assert!(num(&sa_b, "#pkts decaps:") >= min_pkts, "{sa_b}");
    // Nothing lost between the two engines on this clean path: what one encrypted the other
    // decrypted, in both directions, and all three counters of a direction agree.
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
    for s in [&sa_a, &sa_b] {
        assert_eq!(num(s, "#pkts encaps:"), num(s, "#pkts encrypt:"));
        assert_eq!(num(s, "#pkts encaps:"), num(s, "#pkts digest:"));
        assert_eq!(num(s, "#pkts decaps:"), num(s, "#pkts verify:"));
        assert_eq!(num(s, "#recv errors"), 0, "{s}");
        assert!(s.contains("in use settings ={Tunnel, }"), "{s}");
        assert!(s.contains("transform: esp-3des esp-sha-hmac"), "{s}");
        assert!(s.contains("Status: ACTIVE"), "{s}");
    }
    assert!(sa_a.contains("current_peer 203.0.113.2 port 500"), "{sa_a}");
    assert!(
        sa_b.contains("current_peer 198.51.100.2 port 500"),
        "{sa_b}"
    );
    assert!(sa_a.contains("local  ident (addr/mask/prot/port): (10.1.1.0/255.255.255.0/0/0)"));
    // siteB's inbound SA (printed first) decrypted the transfer: its KB lifetime went down by
    // at least 4 MB = 4096 KB of 4608000.
    let kb = {
        let i = sa_b.find("(k/sec): (").unwrap() + "(k/sec): (".len();
        sa_b[i..].split('/').next().unwrap().parse::<u64>().unwrap()
    };
    assert!(kb <= 4_608_000 - 4096, "{sa_b}");

    let s = db.exec("show crypto session");
    assert!(s.contains("Session status: UP-ACTIVE"), "{s}");
    da.stop();
    db.stop();
}
