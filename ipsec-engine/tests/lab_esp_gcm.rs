//! ESP with AES-GCM (RFC 4106) against strongSwan 5.9.8 (charon with kernel-libipsec, gwB):
//! IOS `esp-gcm` and `esp-gcm 256` transform sets against charon's aes128gcm16 and aes256gcm16,
//! each side initiating once. Pings both ways must pass, charon must report the GCM CHILD SA,
//! and both ends must count the packets (an IV, salt or AAD that differs from RFC 4106 fails
//! every tag check and shows as `#recv errors` or charon's silence).

mod common;

use common::*;
use ipsec_netlab::{addr, Charon};
use std::time::Duration;

fn run(tag: &str, ios: &str, charon: &str, shown: &str, we_initiate: bool) {
    let Some(lab) = Lab::new(tag) else {
        return;
    };
    let conn = seed_charon_conn().esp_proposals(charon);
    let peer = Charon::start(&lab.topo.gw_b, &[conn]).unwrap();
    peer.load_all().unwrap();
    let cfg = site_a(addr::GW_B_WAN).replace("esp-3des esp-sha-hmac", ios);
    assert!(cfg.contains(ios), "{cfg}");
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "siteA", &cfg);
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
    let n = ping(&t.host_a, addr::HOST_B, 10) + ping(&t.host_b, addr::HOST_A, 10);
    let sas = peer.list_sas().unwrap_or_default();
    assert_eq!(n, 20, "{}\n{sas}", da.state());
    assert!(sas.contains(&format!("ESP:{shown}")), "want {shown}: {sas}");
    let sa = da.exec("show crypto ipsec sa");
    assert!(sa.contains(&format!("transform: {ios} ,")), "{sa}");
    assert!(sa.contains("IV size: 8 bytes"), "{sa}");
    assert!(sa.contains("replay detection support: Y"), "{sa}");
    assert!(num(&sa, "#pkts encaps:") >= 20, "{sa}");
    assert!(num(&sa, "#pkts decaps:") >= 20, "{sa}");
    assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
    println!("{sa}\nstrongSwan:\n{sas}");
    da.stop();
}

#[test]
fn lab_esp_gcm_128_charon_initiates() {
    run("gcm128", "esp-gcm", "aes128gcm16", "AES_GCM_16-128", false);
}

#[test]
fn lab_esp_gcm_256_we_initiate() {
    run(
        "gcm256",
        "esp-gcm 256",
        "aes256gcm16",
        "AES_GCM_16-256",
        true,
    );
}
