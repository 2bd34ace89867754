//! Issue 11's remaining L2L features against strongSwan 5.9.8 (kernel-libipsec, so ESP in UDP
//! 4500) in the namespace lab: `crypto ipsec df-bit` seen in a packet capture, FQDN identities
//! (`crypto isakmp identity hostname`, `match identity host`, strongSwan `id = @...`), a
//! dynamic map without `match address`, `set security-association idle-time`, `lifetime
//! kilobytes disable`, and a reload with two tunnels.

mod common;

use common::*;
use ipsec_netlab::{addr, Capture, Charon, CharonConn, Netns};
use std::time::Duration;

fn charon_conn() -> CharonConn {
    CharonConn::new("siteA", "lans")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .psk("ciscokey")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A)
}

/// One ping from `ns` to `dst` with DF set (`-M do`) or clear (`-M dont`); whether it came back.
fn ping_df(ns: &Netns, dst: &str, df: bool) -> bool {
    ns.run(
        "ping",
        &[
            "-n",
            "-q",
            "-c",
            "1",
            "-W",
            "2",
            "-M",
            if df { "do" } else { "dont" },
            dst,
        ],
    )
    .is_ok()
}

/// The DF flags of the ESP packets gwA sends for `count` pings to hostB with inner DF `df`
/// (all of them must come back), captured on gwA's WAN.
fn outer_df_of_pings(t: &ipsec_netlab::Topology, df: bool, count: u32) -> Vec<String> {
    let mut cap = Capture::start(&t.gw_a, addr::IF_GW_WAN, "udp port 4500").unwrap();
    // dumpcap says it captures a moment before the first packets reach the file.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..count {
        assert!(ping_df(&t.host_a, addr::HOST_B, df));
    }
    outer_df(&mut cap)
}

/// The DF flags of the ESP-in-UDP packets gwA sent in `cap`.
fn outer_df(cap: &mut Capture) -> Vec<String> {
    let all = cap
        .fields(
            "",
            &[
                "ip.src",
                "ip.dst",
                "udp.length",
                "ip.flags.df",
                "_ws.col.Protocol",
            ],
        )
        .unwrap();
    println!("captured: {all:?}");
    all.into_iter()
        .filter(|r| r.first().map(String::as_str) == Some(addr::GW_A_WAN))
        .filter(|r| r.get(4).is_some_and(|p| p == "ESP"))
        .filter_map(|r| r.get(3).cloned())
        .collect()
}

#[test]
fn lab_l2l_df_bit_sets_the_outer_header_of_esp() {
    let Some(lab) = Lab::new("l2l_df") else {
        return;
    };
    let t = &lab.topo;
    let mut peer = Charon::start(&t.gw_b, &[charon_conn()]).unwrap();
    peer.load_all().unwrap();
    let base = site_a(addr::GW_B_WAN);
    let clear = base.replace(
        "crypto ipsec transform-set",
        "crypto ipsec df-bit clear\ncrypto ipsec transform-set",
    );
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &clear);
    peer.initiate("lans").unwrap();
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    // df-bit clear: pings with DF set leave in ESP without it (the path may fragment them).
    let dfs = outer_df_of_pings(t, true, 5);
    assert!(
        !dfs.is_empty() && dfs.iter().all(|d| d == "0" || d == "False"),
        "{dfs:?}"
    );

    // The default (copy) after a reload: the entry renegotiates, then the outer DF is the
    // inner one.
    da.write_config(&base);
    let r = da.exec("reload");
    assert!(r.contains("cleared for VPN 10"), "{r}");
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    let with_df = outer_df_of_pings(t, true, 5);
    let without = outer_df_of_pings(t, false, 5);
    println!("df-bit clear: {dfs:?}; copy, inner DF: {with_df:?}; copy, inner no DF: {without:?}");
    assert!(
        !with_df.is_empty() && with_df.iter().all(|d| d == "1" || d == "True"),
        "{with_df:?}"
    );
    assert!(
        !without.is_empty() && without.iter().all(|d| d == "0" || d == "False"),
        "{without:?}"
    );
    da.stop();
    peer.stop();
}

/// Site A identifying as `siteA.lab.example` and taking only `siteb.example.net`.
fn fqdn_site_a() -> String {
    site_a(addr::GW_B_WAN)
        .replace(
            "crypto isakmp policy 1\n",
            "ip domain name lab.example\ncrypto isakmp identity hostname\n\
             crypto isakmp profile STRONGSWAN\n   match identity host siteb.example.net\n   self-identity fqdn\n\
             crypto isakmp policy 1\n",
        )
        .replace(
            " match address 100\n",
            " match address 100\n set isakmp-profile STRONGSWAN\n",
        )
}

#[test]
fn lab_l2l_fqdn_identities_both_ways() {
    let Some(lab) = Lab::new("l2l_fqdn") else {
        return;
    };
    let t = &lab.topo;
    let good = charon_conn()
        .local_id("@siteb.example.net")
        .remote_id("@siteA.lab.example");
    // The same peer naming itself otherwise: the profile takes no such host.
    let wrong = CharonConn::new("wrong", "lans-wrong")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .psk("ciscokey")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A)
        .local_id("@other.example.net")
        .remote_id("@siteA.lab.example");
    let mut peer = Charon::start(&t.gw_b, &[good, wrong]).unwrap();
    peer.load_all().unwrap();
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &fqdn_site_a());
    // strongSwan initiates: we pick the profile by its ID_FQDN at MM5 and answer with ours.
    let out = peer.initiate("lans");
    assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    let sas = peer.list_sas().unwrap();
    println!("{sas}");
    assert!(sas.contains("siteA.lab.example"), "{sas}");
    // We initiate: our MM5 carries ID_FQDN siteA.lab.example, strongSwan's MM6 is checked.
    da.exec("clear crypto sa");
    da.exec("clear crypto isakmp");
    peer.terminate_ike("siteA").ok();
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        peer.log()
    );
    let isa = da.exec("show crypto isakmp sa");
    assert!(isa.contains("QM_IDLE"), "{isa}");
    assert!(
        peer.log().contains("siteA.lab.example"),
        "charon saw our FQDN"
    );
    // An FQDN the profile does not match is refused, and diagnose names it.
    da.exec("clear crypto sa");
    da.exec("clear crypto isakmp");
    peer.terminate_ike("siteA").ok();
    let out = peer.initiate("lans-wrong");
    assert!(out.is_err(), "an unmatched FQDN got through: {out:?}");
    let v = da.exec(&format!("diagnose peer {}", addr::GW_B_WAN));
    assert!(
        v.contains("the peer's identity is not matched by the ISAKMP profile")
            && v.contains("other.example.net (ID_FQDN)"),
        "{v}"
    );
    da.stop();
    peer.stop();
}
