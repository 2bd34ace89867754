//! IKE fragmentation (Cisco/Microsoft payload 132) against strongSwan 5.9.8 (charon with
//! kernel-libipsec, gwB). Pre-shared-key messages are small, so both sides are told to cut
//! small: siteA has `crypto isakmp fragmentation mtu 200`, charon `fragmentation = force` and
//! `charon.fragment_size = 200`. Main Mode must complete with fragments on the wire in both
//! directions, whoever initiates; the tunnel then carries pings, and tshark dissects our
//! fragments as payload 132 ("Fragment" fields).

mod common;

use common::*;
use ipsec_netlab::{addr, Capture, Charon, CharonConn};
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
    let conn = CharonConn::new("siteA", "lans")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .psk("ciscokey")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A)
        .conn_option("fragmentation", "force");
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
    // tshark dissects payload 132: one of ours, in full, for the record.
    let text = cap
        .decode(&[
            "-Y",
            &format!("ip.src == {} && isakmp.frag.packetid", addr::GW_A_WAN),
        ])
        .unwrap();
    assert!(text.contains("Fragment"), "{text}");
    let first = text
        .split("\n\n")
        .find(|p| p.contains("Fragment"))
        .unwrap_or_default();
    println!(
        "fragments seen: ours {}, charon's {}",
        ours.len(),
        theirs.len()
    );
    println!("tshark -V of our first fragment:\n{first}");
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
