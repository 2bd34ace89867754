//! The Diffie-Hellman groups beyond the seed's group 2 against strongSwan 5.9.8 (charon with
//! kernel-libipsec, gwB): each run puts one group in the ISAKMP policy and another in `set pfs`,
//! so Main Mode and Quick Mode with PFS both see every group IOS offers (15, 16, 19, 20, 21, 24).
//! Charon names them modp3072, modp4096, ecp256, ecp384, ecp521 and modp2048s256.

mod common;

use common::*;
use ipsec_netlab::{addr, Charon};
use std::time::Duration;

/// IKE group number to charon's keyword.
fn charon_group(g: u16) -> &'static str {
    match g {
        15 => "modp3072",
        16 => "modp4096",
        19 => "ecp256",
        20 => "ecp384",
        21 => "ecp521",
        24 => "modp2048s256",
        _ => panic!("group {g} is not in this test"),
    }
}

/// siteA with `group ike` in its policy and `set pfs group<pfs>` in its map entry.
fn site_a_with(ike: u16, pfs: u16) -> String {
    let text = site_a(addr::GW_B_WAN)
        .replace(" group 2\n", &format!(" group {ike}\n"))
        .replace(
            " set transform-set",
            &format!(" set pfs group{pfs}\n set transform-set"),
        );
    assert!(text.contains(&format!(" group {ike}\n")), "{text}");
    assert!(text.contains(&format!("set pfs group{pfs}")), "{text}");
    text
}

fn run(tag: &str, ike: u16, pfs: u16, we_initiate: bool) {
    let Some(lab) = Lab::new(tag) else {
        return;
    };
    let conn = seed_charon_conn()
        .proposals(&format!("3des-sha1-{}", charon_group(ike)))
        .esp_proposals(&format!("3des-sha1-{}", charon_group(pfs)));
    let peer = Charon::start(&lab.topo.gw_b, &[conn]).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(
        &lab.topo.gw_a,
        lab.dir.path(),
        "siteA",
        &site_a_with(ike, pfs),
    );
    if we_initiate {
        assert!(
            ping_until_up(&lab.topo.host_a, addr::HOST_B, Duration::from_secs(30)),
            "{}\n{}",
            da.state(),
            peer.log()
        );
    } else {
        let out = peer.initiate("lans");
        assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    }
    let t = &lab.topo;
    let n = ping(&t.host_a, addr::HOST_B, 5) + ping(&t.host_b, addr::HOST_A, 5);
    let sas = peer.list_sas().unwrap_or_default();
    assert_eq!(n, 10, "{}\n{sas}", da.state());
    // charon reports the groups it agreed: the IKE SA's and the CHILD SA's.
    let shown = |g: u16| match g {
        19 => "ECP_256",
        20 => "ECP_384",
        21 => "ECP_521",
        24 => "MODP_2048_256",
        15 => "MODP_3072",
        _ => "MODP_4096",
    };
    let want_ike = format!("PRF_HMAC_SHA1/{}", shown(ike));
    let want_esp = format!("ESP:3DES_CBC/HMAC_SHA1_96/{}", shown(pfs));
    assert!(sas.contains(&want_ike), "want {want_ike}: {sas}");
    assert!(sas.contains(&want_esp), "want {want_esp}: {sas}");
    let detail = da.exec("show crypto isakmp sa detail");
    assert!(detail.contains(&format!("psk  {ike} ")), "{detail}");
    let ipsec = da.exec("show crypto ipsec sa");
    assert!(num(&ipsec, "#pkts decaps:") >= 10, "{ipsec}");
    println!("{detail}\nstrongSwan:\n{sas}");
    da.stop();
}

#[test]
fn lab_dh_ecp256_with_ecp384_pfs_charon_initiates() {
    run("dh_19_20", 19, 20, false);
}

#[test]
fn lab_dh_ecp521_with_modp2048s256_pfs_we_initiate() {
    run("dh_21_24", 21, 24, true);
}

#[test]
fn lab_dh_modp3072_with_modp4096_pfs_we_initiate() {
    run("dh_15_16", 15, 16, true);
}
