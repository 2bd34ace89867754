//! IKEv1 Phase 1 against Libreswan 4.10 (Debian's package, extracted under /opt/libreswan; see
//! ipsec_netlab::pluto): Main Mode with a pre-shared key, AES-256 with SHA-256 or SHA-1, for
//! the Diffie-Hellman groups MODP 14, 15, 16 and ECP 19, 20, 21, with pluto initiating to us and us initiating to pluto.
//!
//! pluto runs in gwB; our engine in gwA. The kernel has XFRM but no ESP, so pluto cannot
//! install IPsec SAs and Quick Mode does not complete on its side: the tests assert Phase 1 on
//! both ends (pluto's "IKE SA established" log line with the agreed algorithms, its ISAKMP state
//! STATE_MAIN_I4 or STATE_MAIN_R3 in `whack --status`, our `show crypto isakmp sa` listing pluto
//! in QM_IDLE with the agreed group), and that Quick Mode got as far as pluto's attempt to
//! install the SAs (it accepted our Quick Mode message).

mod common;

use common::*;
use ipsec_netlab::addr;
use ipsec_netlab::pluto::{require_pluto, Pluto, PlutoConn};
use std::time::{Duration, Instant};

/// How long Phase 1 may take (MODP 4096 on a loaded host included).
const PHASE1: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
}

/// Libreswan's name of IKE group `g` in `ike=`.
fn pluto_group(g: u16) -> &'static str {
    match g {
        14 => "modp2048",
        15 => "modp3072",
        16 => "modp4096",
        19 => "dh19",
        20 => "dh20",
        21 => "dh21",
        _ => panic!("group {g} is not in this test"),
    }
}

/// How pluto names the group when it reports the established SA.
fn pluto_group_shown(g: u16) -> &'static str {
    match g {
        14 => "MODP2048",
        15 => "MODP3072",
        16 => "MODP4096",
        19 => "DH19",
        20 => "DH20",
        _ => "DH21",
    }
}

/// siteA with AES-256, `hash`, `group g` in its ISAKMP policy and an AES-256/SHA-1 transform set.
fn site_a_with(g: u16, hash: Hash) -> String {
    let hash = match hash {
        Hash::Sha1 => "sha",
        Hash::Sha256 => "sha256",
    };
    let text = site_a(addr::GW_B_WAN)
        .replace(" encr 3des\n", &format!(" encr aes 256\n hash {hash}\n"))
        .replace(" group 2\n", &format!(" group {g}\n"))
        .replace(
            "transform-set TRANSFORM esp-3des esp-sha-hmac",
            "transform-set TRANSFORM esp-aes 256 esp-sha-hmac",
        );
    for needle in [
        format!(" group {g}\n"),
        format!(" hash {hash}\n"),
        " encr aes 256\n".to_string(),
        "esp-aes 256 esp-sha-hmac".to_string(),
    ] {
        assert!(text.contains(&needle), "{needle}: {text}");
    }
    text
}

/// siteB as pluto sees it: siteA is the peer, key `ciscokey`, the two LANs.
fn pluto_conn(g: u16, hash: Hash) -> PlutoConn {
    let hash = match hash {
        Hash::Sha1 => "sha1",
        Hash::Sha256 => "sha2_256",
    };
    PlutoConn::new("siteA")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .subnets(addr::LAN_B, addr::LAN_A)
        .psk("ciscokey")
        .ike(&format!("aes256-{hash}-{}", pluto_group(g)))
        .esp("aes256-sha1")
}

/// pluto's log lines reporting an established ISAKMP SA (4.10 logs "IKE SA established" for
/// IKEv1 too; "ISAKMP SA established" is accepted as well).
fn established(peer: &Pluto) -> Vec<String> {
    peer.log()
        .lines()
        .filter(|l| l.contains("ISAKMP SA established") || l.contains("IKE SA established"))
        .map(str::to_string)
        .collect()
}

fn run(tag: &str, g: u16, hash: Hash, pluto_initiates: bool) {
    if !require_pluto() {
        return;
    }
    let Some(lab) = Lab::new(tag) else {
        return;
    };
    let began = Instant::now();
    let peer = Pluto::start(&lab.topo.gw_b, &[pluto_conn(g, hash)]).unwrap();
    let da = Daemon::start(
        &lab.topo.gw_a,
        lab.dir.path(),
        "siteA",
        &site_a_with(g, hash),
    );
    let up = if pluto_initiates {
        peer.initiate("siteA").unwrap();
        wait_until(PHASE1, || !established(&peer).is_empty())
    } else {
        // Traffic from LAN A to LAN B matches access-list 100: the engine starts Main Mode.
        wait_until(PHASE1, || {
            ping(&lab.topo.host_a, addr::HOST_B, 1);
            !established(&peer).is_empty()
        })
    };
    assert!(up, "no Phase 1\n{}\n{}", peer.log(), da.state());
    let lines = established(&peer);
    let line = &lines[0];
    let state = if pluto_initiates {
        "STATE_MAIN_I4"
    } else {
        "STATE_MAIN_R3"
    };
    // The Main Mode state as pluto lists it (4.10 logs no state names at this log level).
    let status = peer.status().unwrap();
    let state_line = status
        .lines()
        .find(|l| l.contains(state))
        .unwrap_or_else(|| panic!("{state} missing:\n{status}\n{}", peer.log()));
    println!("pluto state: {}", state_line.trim());
    let group = format!("group={}", pluto_group_shown(g));
    assert!(line.contains(&group), "{group} not in {line}");
    assert!(line.contains("AES_CBC_256"), "{line}");
    let integ = match hash {
        Hash::Sha1 => "HMAC_SHA1",
        Hash::Sha256 => "HMAC_SHA2_256",
    };
    assert!(line.contains(integ), "{integ} not in {line}");
    // Our side: the ISAKMP SA with pluto, finished (QM_IDLE), with the group we configured.
    let ok = wait_until(Duration::from_secs(5), || {
        da.exec("show crypto isakmp sa")
            .lines()
            .any(|l| l.contains(addr::GW_B_WAN) && l.contains("QM_IDLE"))
    });
    let sa = da.exec("show crypto isakmp sa");
    assert!(ok, "{sa}\n{}", peer.log());
    let detail = da.exec("show crypto isakmp sa detail");
    assert!(detail.contains(&format!("psk  {g} ")), "{detail}");
    println!("pluto: {}", line.trim());
    println!("siteA#show crypto isakmp sa\n{sa}");
    // Quick Mode: the kernel has no ESP, so pluto cannot install SAs. It asks the kernel only
    // after it accepted our Quick Mode message (as initiator: our reply with HASH(2); as
    // responder: our proposal with HASH(1)), so reaching "Add SA" is as far as this host lets
    // Phase 2 go; a kernel with ESP would log "IPsec SA established" instead.
    let qm = wait_until(Duration::from_secs(5), || {
        let log = peer.log();
        log.contains("netlink response for Add SA esp.") || log.contains("IPsec SA established")
    });
    assert!(
        qm,
        "Quick Mode did not get to SA installation:\n{}",
        peer.log()
    );
    for l in peer.log().lines().filter(|l| {
        l.contains("Quick Mode")
            || l.contains("QUICK")
            || l.contains("IPsec SA established")
            || l.contains("ERROR")
    }) {
        println!("pluto (phase 2): {}", l.trim());
    }
    println!("{tag}: {:.1?}", began.elapsed());
    drop(peer);
    da.stop();
}

#[test]
fn lab_libreswan_modp2048_sha256_pluto_initiates() {
    run("ls_14_i", 14, Hash::Sha256, true);
}

#[test]
fn lab_libreswan_modp2048_sha1_we_initiate() {
    run("ls_14_r", 14, Hash::Sha1, false);
}

#[test]
fn lab_libreswan_modp3072_sha1_pluto_initiates() {
    run("ls_15_i", 15, Hash::Sha1, true);
}

#[test]
fn lab_libreswan_modp3072_sha256_we_initiate() {
    run("ls_15_r", 15, Hash::Sha256, false);
}

#[test]
fn lab_libreswan_modp4096_sha256_pluto_initiates() {
    run("ls_16_i", 16, Hash::Sha256, true);
}

#[test]
fn lab_libreswan_modp4096_sha1_we_initiate() {
    run("ls_16_r", 16, Hash::Sha1, false);
}

#[test]
fn lab_libreswan_ecp256_sha1_pluto_initiates() {
    run("ls_19_i", 19, Hash::Sha1, true);
}

#[test]
fn lab_libreswan_ecp256_sha256_we_initiate() {
    run("ls_19_r", 19, Hash::Sha256, false);
}

#[test]
fn lab_libreswan_ecp384_sha256_pluto_initiates() {
    run("ls_20_i", 20, Hash::Sha256, true);
}

#[test]
fn lab_libreswan_ecp384_sha1_we_initiate() {
    run("ls_20_r", 20, Hash::Sha1, false);
}

#[test]
fn lab_libreswan_ecp521_sha1_pluto_initiates() {
    run("ls_21_i", 21, Hash::Sha1, true);
}

#[test]
fn lab_libreswan_ecp521_sha256_we_initiate() {
    run("ls_21_r", 21, Hash::Sha256, false);
}
