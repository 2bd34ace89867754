//! ESP-in-UDP with UDP segmentation offload between two engines (`run --force-udp-encaps`):
//! a bulk TCP transfer makes the sender hand runs of ESP datagrams to the kernel as
//! UDP_SEGMENT messages and the receiver get them as UDP_GRO trains; both count it and print
//! the counters at exit.
//!
//! `lab_udp_offload_counters` checks that both happen and that the tunnel carries the data
//! without receive errors. `lab_udp_offload_throughput` (ignored; run by hand with
//! `cargo test --release -p ipsec-engine --test lab_udp_offload -- --ignored --nocapture`)
//! prints iperf3 Mbit/s with and without the offload. In this lab the veth pairs pass the
//! segmented packets through unsegmented (and the receiver's socket takes them as one train),
//! so the gain it shows overstates what a real NIC gives, where the kernel or the NIC cuts
//! every message into wire-sized datagrams.

mod common;

use common::*;
use ipsec_netlab::addr;
use std::time::Duration;

/// The `ipsec-engine: udp out ...` counters line of a stopped daemon's stderr, as numbers:
/// out, gso sends, gso segments, fallbacks, in, gro trains, gro segments.
fn udp_counters(stderr: &str) -> [u64; 7] {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("ipsec-engine: udp out "))
        .unwrap_or_else(|| panic!("no udp counters line in {stderr}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    nums.try_into()
        .unwrap_or_else(|n| panic!("{n:?} from {line}"))
}

/// Two engines with AES-SHA1 transforms, ESP forced into UDP 4500; `extra` goes to both
/// `run` command lines. Returns Mbit/s and the counters of siteA and siteB.
fn transfer(tag: &str, extra: &[&str], secs: &str) -> (f64, [u64; 7], [u64; 7]) {
    let lab = Lab::new(tag).expect("lab");
    let ts = "transform-set TRANSFORM esp-aes esp-sha-hmac";
    let a = site_a(addr::GW_B_WAN).replace("transform-set TRANSFORM esp-3des esp-sha-hmac", ts);
    let b = site_b(addr::GW_A_WAN).replace("transform-set TRANSFORM esp-3des esp-sha-hmac", ts);
    let mut args = vec!["--force-udp-encaps"];
    args.extend_from_slice(extra);
    let t = &lab.topo;
    let da = Daemon::start_with(t.gw_a.name(), lab.dir.path(), "siteA", &a, &args);
    let db = Daemon::start_with(t.gw_b.name(), lab.dir.path(), "siteB", &b, extra);
    assert!(ping_until_up(
        &t.host_a,
        addr::HOST_B,
        Duration::from_secs(30)
    ));
    let (mbps, _) = iperf3(&lab.topo, 5203, secs);
    // siteB receives the bulk; siteA only its ACKs (a few hundred in a debug build).
    for (d, least) in [(&da, 1), (&db, 1000)] {
        let sa = d.exec("show crypto ipsec sa");
        assert!(sa.contains("Tunnel UDP-Encaps"), "{sa}");
        assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
        assert!(num(&sa, "#pkts decaps:") >= least, "{sa}");
    }
    let ca = udp_counters(&da.stop());
    let cb = udp_counters(&db.stop());
    (mbps, ca, cb)
}

fn have_iperf3() -> bool {
    std::process::Command::new("iperf3")
        .arg("--version")
        .output()
        .is_ok()
}

#[test]
fn lab_udp_offload_counters() {
    if Lab::new("uoff_probe").is_none() || !have_iperf3() {
        return;
    }
    let (mbps, a, b) = transfer("uoff", &[], "3");
    eprintln!("offload on: {mbps:.0} Mbit/s; siteA {a:?}; siteB {b:?}");
    // siteA sends the bulk (hostA -> hostB): its ESP goes in segmented sends, which siteB
    // receives as trains, cut back into every datagram.
    let [_, a_gso, a_segs, a_fallbacks, ..] = a;
    let [_, _, _, _, b_in, b_gro, b_gro_segs] = b;
    assert!(a_gso > 0 && a_segs >= 2 * a_gso, "siteA {a:?}");
    assert_eq!(a_fallbacks, 0, "siteA {a:?}");
    assert!(b_gro > 0 && b_gro_segs >= 2 * b_gro, "siteB {b:?}");
    assert!(b_in >= b_gro_segs, "siteB {b:?}");

    // Without the offload the same transfer counts none.
    let (_, a, b) = transfer("uoffn", &["--no-udp-offload"], "2");
    assert_eq!(a[1..4], [0, 0, 0], "siteA {a:?}");
    assert_eq!(b[5..7], [0, 0], "siteB {b:?}");
}

#[test]
#[ignore = "measurement; run explicitly"]
fn lab_udp_offload_throughput() {
    if Lab::new("uoff_probe").is_none() || !have_iperf3() {
        return;
    }
    // Alternate, so that the machine's load falls on both alike.
    for round in 0..2 {
        let (off, ..) = transfer(&format!("ubn{round}"), &["--no-udp-offload"], "8");
        let (on, a, b) = transfer(&format!("ubo{round}"), &[], "8");
        eprintln!(
            "round {round}: ESP-in-UDP AES-SHA1 {off:.0} Mbit/s without offload, {on:.0} with \
             (siteA gso {} sends / {} segments, siteB gro {} trains / {} segments)",
            a[1], a[2], b[5], b[6]
        );
    }
}
