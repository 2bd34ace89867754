//! IKE fragmentation (Cisco/Microsoft payload 132) against strongSwan 5.9.8 (charon with
//! kernel-libipsec, gwB). Pre-shared-key messages are small, so both sides are told to cut
//! small: siteA has `crypto isakmp fragmentation mtu 200`, charon `fragmentation = force` and
//! `charon.fragment_size = 200`. Main Mode must complete with fragments on the wire in both
//! directions, whoever initiates; the tunnel then carries pings, and tshark dissects our
//! fragments as payload 132 ("Fragment" fields).

mod common;

use common::*;
use ipsec_netlab::{addr, Capture, Charon};
use std::time::Duration;

/// Our fragments and charon's are at most this many bytes of IP datagram.
const MTU: usize = 200;

fn site_a_fragmenting() -> String {
    format!(
        "crypto isakmp fragmentation mtu {MTU}\n{}",
        site_a(addr::GW_B_WAN)
    )
}

/// Rows `(ip.src, ip.len, isakmp.frag.packetid, isakmp.frag.seq)` of every fragment in the
/// capture (tshark's field names for payload 132).
fn fragments(cap: &mut Capture) -> Vec<Vec<String>> {
    cap.fields(
        "isakmp.frag.packetid",
        &[
            "ip.src",
            "ip.len",
            "isakmp.frag.packetid",
            "isakmp.frag.seq",
        ],
    )
    .unwrap_or_default()
}

fn run(tag: &str, we_initiate: bool) {
    let Some(lab) = Lab::new(tag) else {
        return;
    };
    let conn = seed_charon_conn().conn_option("fragmentation", "force");
    let t = &lab.topo;
    let mut cap =
        Capture::start(&t.gw_a, addr::IF_GW_WAN, "udp port 500 or udp port 4500").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let peer = Charon::start_with(&t.gw_b, &[conn], &format!("  fragment_size = {MTU}")).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &site_a_fragmenting());
    if we_initiate {
        assert!(
            ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
            "{}\n{}",
            da.state(),
            peer.log()
        );
    } else {
        let out = peer.initiate("lans");
        assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    }
    let n = ping(&t.host_a, addr::HOST_B, 5) + ping(&t.host_b, addr::HOST_A, 5);
    assert_eq!(n, 10, "{}\n{}", da.state(), peer.log());
    let running = da.exec("show running-config");
    assert!(
        running.contains(&format!("crypto isakmp fragmentation mtu {MTU}\n")),
        "{running}"
    );
    let isakmp = da.exec("show crypto isakmp sa");
    assert!(isakmp.contains("QM_IDLE"), "{isakmp}");
    let ipsec = da.exec("show crypto ipsec sa");
    assert!(num(&ipsec, "#pkts decaps:") >= 10, "{ipsec}");

    let rows = fragments(&mut cap);
    let ours: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == addr::GW_A_WAN).collect();
    let theirs: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == addr::GW_B_WAN).collect();
    assert!(
        ours.len() >= 2 && theirs.len() >= 2,
        "fragments ours {} theirs {}: {rows:?}\n{}",
        ours.len(),
        theirs.len(),
        peer.log()
    );
    for r in &ours {
        let len: usize = r[1].parse().unwrap();
        assert!(len <= MTU, "our fragment of {len} bytes: {r:?}");
    }
    // charon reassembled ours (it logs each fragment it received and the message it made).
    let log = peer.log();
    let reassembled: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reassembled fragmented IKE message"))
        .collect();
    assert!(
        !reassembled.is_empty(),
        "charon reassembled none of ours:\n{log}"
    );
    println!("charon:\n{}", reassembled.join("\n"));
    // tshark dissects payload 132: the ISAKMP part of our first two fragments, for the record
    // (the second also shows tshark's own reassembly).
    let text = cap
        .decode(&[
            "-Y",
            &format!("ip.src == {} && isakmp.frag.packetid", addr::GW_A_WAN),
        ])
        .unwrap();
    let parts: Vec<&str> = text
        .split("\n\n")
        .filter_map(|p| p.find("Internet Security Association").map(|i| &p[i..]))
        .take(2)
        .collect();
    assert_eq!(parts.len(), 2, "{text}");
    for want in [
        "Payload: Cisco-Fragmentation (132)",
        "Frag ID: 0x",
        "Frag seq: 1",
    ] {
        assert!(parts[0].contains(want), "{want}: {}", parts[0]);
    }
    assert!(parts[1].contains("Frag seq: 2"), "{}", parts[1]);
    assert!(
        parts[1].contains("[Reassembled ISAKMP length: "),
        "{}",
        parts[1]
    );
    println!(
        "fragments seen: ours {}, charon's {}",
        ours.len(),
        theirs.len()
    );
    println!("tshark -V, our first two fragments:\n{}", parts.join("\n"));
    println!("{isakmp}");
    da.stop();
}

#[test]
fn lab_ike_frag_main_mode_we_initiate() {
    run("frag_we", true);
}

#[test]
fn lab_ike_frag_main_mode_charon_initiates() {
    run("frag_they", false);
}

/// `check` names the setting (no lab needed: it only parses).
#[test]
fn check_names_ike_fragmentation() {
    let dir = std::env::temp_dir().join(format!("ipsec-frag-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("siteA.cfg");
    std::fs::write(&file, site_a_fragmenting()).unwrap();
    let o = std::process::Command::new(bin())
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "IKE fragmentation on: messages over {MTU} bytes go as fragments to peers that \
             announce it"
        )),
        "{out}"
    );
    std::fs::write(&file, site_a(addr::GW_B_WAN)).unwrap();
    let o = std::process::Command::new(bin())
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("fragmentation"));
    let _ = std::fs::remove_dir_all(&dir);
}
