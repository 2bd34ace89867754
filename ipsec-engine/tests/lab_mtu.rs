//! Path MTU below 1500 on the WAN and `ip tcp adjust-mss`. Needs root.
//!
//! The link rtr -- gwB has MTU 1400. siteA's ESP packets carry DF; rtr answers the large ones
//! with ICMP fragmentation-needed, the kernel of gwA records the path MTU, the engine reads it
//! (`path mtu 1400` in `show crypto ipsec sa`) and lowers the TUN MTU to the plaintext MTU, so
//! the kernel answers hosts' DF packets that no longer fit with fragmentation-needed and
//! fragments the others before encryption.

mod common;

use common::*;
use ipsec_netlab::addr;
use std::time::Duration;

fn set_wan_b_mtu(lab: &Lab, mtu: &str) {
    lab.topo
        .rtr
        .ip(&["link", "set", "ethB", "mtu", mtu])
        .unwrap();
    lab.topo
        .gw_b
        .ip(&["link", "set", "wan", "mtu", mtu])
        .unwrap();
}

#[test]
fn lab_mtu_path_1400_tcp_transfer_completes() {
    let Some(lab) = Lab::new("pmtu") else { return };
    set_wan_b_mtu(&lab, "1400");
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &site_b(addr::GW_A_WAN));
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}",
        da.state()
    );

    // Both directions, 2 MB each, checked byte for byte.
    let len = 2 << 20;
    let ab = tcp_transfer(
        &t.host_a,
        &t.host_b,
        addr::HOST_B,
        5003,
        len,
        Duration::from_secs(300),
    );
    assert!(ab.intact && ab.bytes == len, "{ab:?}");
    let ba = tcp_transfer(
        &t.host_b,
        &t.host_a,
        addr::HOST_A,
        5004,
        len,
        Duration::from_secs(300),
    );
    assert!(ba.intact && ba.bytes == len, "{ba:?}");

    // siteA learned the path MTU from rtr's ICMP; siteB has it from its own interface.
    for d in [&da, &db] {
        let learned = wait_until(Duration::from_secs(30), || {
            d.exec("show crypto ipsec sa")
                .contains("path mtu 1400, ip mtu 1500")
        });
        assert!(learned, "{}", d.state());
    }
    let sa = da.exec("show crypto ipsec sa");
    // 3DES/SHA1 tunnel over 1400: floor((1400-20-8-8-12)/8)*8-2 = 1350.
    assert!(sa.contains("plaintext mtu 1350, path mtu 1400"), "{sa}");
    assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");

    // A DF packet larger than the plaintext MTU is refused at siteA with fragmentation-needed
    // (ICMP from the gateway, naming the MTU); the same size without DF is fragmented before
    // encryption and answered.
    let o = t
        .host_a
        .command("ping")
        .args([
            "-n",
            "-c",
            "1",
            "-W",
            "2",
            "-M",
            "do",
            "-s",
            "1372",
            addr::HOST_B,
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("mtu = 13") || text.contains("mtu=13"),
        "{text}\n{sa}"
    );
    let before = num(&da.exec("show crypto ipsec sa"), "#pkts encaps:");
    assert_eq!(
        t.host_a
            .command("ping")
            .args([
                "-n",
                "-q",
                "-c",
                "3",
                "-W",
                "2",
                "-M",
                "dont",
                "-s",
                "1372",
                addr::HOST_B
            ])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let after = num(&da.exec("show crypto ipsec sa"), "#pkts encaps:");
    // Each 1400-byte echo became two fragments, each its own ESP packet.
    assert!(after - before >= 6, "{before} -> {after}");
    println!(
        "siteA#show crypto ipsec sa\n{}\n{ab:?}\n{ba:?}",
        da.exec("show crypto ipsec sa")
    );
    da.stop();
    db.stop();
}

/// `ip tcp adjust-mss 1300` on siteA's inside interface: SYNs in both directions through the
/// tunnel carry MSS 1300 at most, so each end's send MSS (TCP_MAXSEG, MSS minus the 12-byte
/// timestamp option) is below 1300, where it would be 1448 without the clamp.
#[test]
fn lab_mtu_adjust_mss_clamps_syns_both_ways() {
    let Some(lab) = Lab::new("mss") else { return };
    let a = site_a(addr::GW_B_WAN).replace(
        " ip address 10.1.1.1 255.255.255.0\n",
        " ip address 10.1.1.1 255.255.255.0\n ip tcp adjust-mss 1300\n",
    );
    assert!(a.contains("adjust-mss"));
    let (da, _db) = lab.engines(&a, &site_b(addr::GW_A_WAN));
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}",
        da.state()
    );
    let len = 256 << 10;
    let ab = tcp_transfer(
        &t.host_a,
        &t.host_b,
        addr::HOST_B,
        5005,
        len,
        Duration::from_secs(120),
    );
    let ba = tcp_transfer(
        &t.host_b,
        &t.host_a,
        addr::HOST_A,
        5006,
        len,
        Duration::from_secs(120),
    );
    assert!(ab.intact && ba.intact);
    // The server's send MSS comes from the client's SYN (clamped on its way into the tunnel
    // for hostA -> hostB, on its way out of it for hostB -> hostA).
    assert!(ab.mss.unwrap() <= 1300, "{ab:?}");
    assert!(ba.mss.unwrap() <= 1300, "{ba:?}");
    println!("{ab:?}\n{ba:?}");
}
