//! Issue 11's remaining L2L features against strongSwan 5.9.8 (kernel-libipsec, so ESP in UDP
//! 4500) in the namespace lab: `crypto ipsec df-bit` seen in a packet capture, FQDN identities
//! (`crypto isakmp identity hostname`, `match identity host`, strongSwan `id = @...`), a
//! dynamic map without `match address`, `set security-association idle-time`, `lifetime
//! kilobytes disable`, and a reload with two tunnels.

mod common;

use common::*;
use ipsec_netlab::{addr, Capture, Charon, CharonConn, Netns};
use std::time::Duration;

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

/// The DF flags of the plain ESP (IP protocol 50) packets gwA sends for `count` pings with
/// inner DF `df`.
fn outer_df_of_raw_esp(t: &ipsec_netlab::Topology, df: bool, count: u32) -> Vec<String> {
    let mut cap = Capture::start(&t.gw_a, addr::IF_GW_WAN, "ip proto 50").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..count {
        assert!(ping_df(&t.host_a, addr::HOST_B, df));
    }
    cap.fields(&format!("ip.src == {}", addr::GW_A_WAN), &["ip.flags.df"])
        .unwrap()
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect()
}

#[test]
fn lab_l2l_df_bit_on_plain_esp_between_two_engines() {
    let Some(lab) = Lab::new("l2l_df_raw") else {
        return;
    };
    let t = &lab.topo;
    // siteA sets DF on every ESP packet (raw socket, IP_PMTUDISC_WANT), siteB on none.
    let a = site_a(addr::GW_B_WAN).replace(
        "crypto ipsec transform-set",
        "crypto ipsec df-bit set\ncrypto ipsec transform-set",
    );
    let b = site_b(addr::GW_A_WAN).replace(
        " crypto map VPN\n",
        " crypto map VPN\n crypto ipsec df-bit clear\n",
    );
    let (da, db) = lab.engines(&a, &b);
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        db.state()
    );
    let set = outer_df_of_raw_esp(t, false, 5);
    println!("df-bit set, inner DF clear: {set:?}");
    assert!(
        !set.is_empty() && set.iter().all(|d| d == "1" || d == "True"),
        "{set:?}"
    );
    // siteB's echo requests with DF (its interface's df-bit clear), seen arriving at gwA.
    // (Linux sends echo replies without DF, so requests from hostB are what can show it.)
    let mut cap = Capture::start(&t.gw_a, addr::IF_GW_WAN, "ip proto 50").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        assert!(ping_df(&t.host_b, addr::HOST_A, true));
    }
    let clear: Vec<String> = cap
        .fields(&format!("ip.src == {}", addr::GW_B_WAN), &["ip.flags.df"])
        .unwrap()
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect();
    println!("siteB df-bit clear: {clear:?}");
    assert!(
        !clear.is_empty() && clear.iter().all(|d| d == "0" || d == "False"),
        "{clear:?}"
    );
    da.stop();
    db.stop();
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
    let mut peer = Charon::start(&t.gw_b, &[seed_charon_conn()]).unwrap();
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
    let good = seed_charon_conn()
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

#[test]
fn lab_l2l_dynamic_map_without_match_address_takes_strongswans_proxies() {
    let Some(lab) = Lab::new("l2l_dynopen") else {
        return;
    };
    let t = &lab.topo;
    let mut peer = Charon::start(&t.gw_b, &[seed_charon_conn()]).unwrap();
    peer.load_all().unwrap();
    // A hub that names neither the peer nor the networks: a wildcard key and a dynamic entry
    // with only a transform set.
    let hub = site_a(addr::GW_B_WAN)
        .replace(
            "crypto isakmp key ciscokey address 203.0.113.2\n",
            "crypto isakmp key ciscokey address 0.0.0.0 0.0.0.0\n",
        )
        .replace(
            "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n match address 100\n",
            "crypto dynamic-map DYN 10\n set transform-set TRANSFORM\ncrypto map VPN 65535 ipsec-isakmp dynamic DYN\n",
        );
    assert!(!hub.contains("set peer"), "{hub}");
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &hub);
    let out = peer.initiate("lans");
    assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    assert_eq!(ping(&t.host_a, addr::HOST_B, 3), 3);
    let sa = da.exec("show crypto ipsec sa");
    println!("{sa}");
    assert!(
        sa.contains("   local  ident (addr/mask/prot/port): (10.1.1.0/255.255.255.0/0/0)\n   remote ident (addr/mask/prot/port): (10.2.2.0/255.255.255.0/0/0)\n   current_peer 203.0.113.2 port 4500"),
        "{sa}"
    );
    let map = da.exec("show crypto map");
    println!("{map}");
    assert!(map.contains("Current peer: 203.0.113.2 (learned)"), "{map}");
    let v = da.exec("diagnose");
    println!("{v}");
    assert!(
        v.contains("peer 203.0.113.2: Phase 1 (QM_IDLE) and Phase 2 up, traffic both ways"),
        "{v}"
    );
    assert!(!v.contains("IncompleteMapEntry"), "{v}");
    let only = da.exec("diagnose peer 203.0.113.2");
    assert!(only.contains("(10.2.2.0/255.255.255.0/0/0)"), "{only}");
    da.stop();
    peer.stop();
}

#[test]
fn lab_l2l_idle_time_deletes_the_pair_and_strongswan_sees_the_delete() {
    let Some(lab) = Lab::new("l2l_idle") else {
        return;
    };
    let t = &lab.topo;
    let mut peer = Charon::start(&t.gw_b, &[seed_charon_conn()]).unwrap();
    peer.load_all().unwrap();
    let config = site_a(addr::GW_B_WAN).replace(
        " match address 100\n",
        " match address 100\n set security-association idle-time 60\n",
    );
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &config);
    peer.initiate("lans").unwrap();
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    let map = da.exec("show crypto map");
    assert!(
        map.contains("Security association idle time: 60 seconds"),
        "{map}"
    );
    // No traffic from now on: the pair goes, with a Delete strongSwan acts on.
    assert!(
        wait_until(Duration::from_secs(150), || peer
            .log()
            .contains("received DELETE for ESP CHILD_SA")),
        "{}\n{}",
        peer.log(),
        da.state()
    );
    let sas = peer.list_sas().unwrap();
    println!("{sas}");
    assert!(
        !sas.contains("lans:"),
        "strongSwan still has the child: {sas}"
    );
    assert!(sas.contains("ESTABLISHED"), "the ISAKMP SA stays: {sas}");
    let ours = da.exec("show crypto ipsec sa");
    assert!(!ours.contains("inbound esp sas:\n      spi:"), "{ours}");
    // Traffic afterwards negotiates a new pair.
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    da.stop();
    peer.stop();
}

#[test]
fn lab_l2l_lifetime_kilobytes_disable_proposes_no_volume_and_never_rekeys_on_it() {
    let Some(lab) = Lab::new("l2l_nokb") else {
        return;
    };
    let t = &lab.topo;
    let mut peer = Charon::start(&t.gw_b, &[seed_charon_conn()]).unwrap();
    peer.load_all().unwrap();
    // Globally the smallest volume IOS takes; the entry disables it. Were `disable` ignored,
    // the transfer below (4 times that volume) would rekey.
    let config = site_a(addr::GW_B_WAN)
        .replace(
            "crypto ipsec transform-set",
            "crypto ipsec security-association lifetime kilobytes 2560\ncrypto ipsec transform-set",
        )
        .replace(
            " match address 100\n",
            " match address 100\n set security-association lifetime kilobytes disable\n",
        );
    let keys = lab.dir.path().join("keys");
    let keys_arg = keys.display().to_string();
    let da = Daemon::start_with(
        t.gw_a.name(),
        lab.dir.path(),
        "siteA",
        &config,
        &["--keylog", &keys_arg],
    );
    let mut cap = Capture::start(&t.gw_a, addr::IF_GW_WAN, "udp").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // We initiate: our Quick Mode offer is what is checked.
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(20)),
        "{}",
        da.state()
    );
    let before = da.exec("show crypto ipsec sa");
    let spi = before
        .lines()
        .find(|l| l.contains("current outbound spi:"))
        .map(str::to_string)
        .unwrap();
    let text = cap.decode_with(&keys, &[]).unwrap();
    let qm: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Life-Type") || l.contains("Life-Duration"))
        .map(str::trim)
        .collect();
    println!("Quick Mode lifetime attributes seen: {qm:?}");
    assert!(
        qm.iter().any(|l| l.contains("SA-Life-Type: Seconds")),
        "QM1 not decrypted: {qm:?}"
    );
    assert!(!qm.iter().any(|l| l.contains("Kilobytes")), "{qm:?}");
    // 10 MB, four times the global volume: no rekey, the same outbound SPI.
    let x = tcp_transfer(
        &t.host_a,
        &t.host_b,
        addr::HOST_B,
        5301,
        10 << 20,
        Duration::from_secs(120),
    );
    assert!(x.intact);
    let after = da.exec("show crypto ipsec sa");
    assert!(after.contains(&spi), "rekeyed: {spi}\n{after}");
    assert!(
        after.contains("sa timing: remaining key lifetime (sec):"),
        "{after}"
    );
    let sas = peer.list_sas().unwrap();
    assert_eq!(sas.matches("INSTALLED").count(), 1, "{sas}");
    da.stop();
    peer.stop();
}

#[test]
fn lab_l2l_reload_keeps_the_unchanged_tunnel_while_the_changed_one_renegotiates() {
    let Some(lab) = Lab::new("l2l_reload2") else {
        return;
    };
    let t = &lab.topo;
    const SECOND: &str = "203.0.113.3";
    t.gw_b
        .run(
            "ip",
            &["addr", "add", &format!("{SECOND}/24"), "dev", "wan"],
        )
        .unwrap();
    // The second tunnel's far network is an address of gwB itself.
    t.gw_b
        .run("ip", &["addr", "add", "10.9.9.1/24", "dev", "lo"])
        .unwrap();
    let second = CharonConn::new("second", "lans-second")
        .local(SECOND)
        .remote(addr::GW_A_WAN)
        .psk("secondkey")
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts("10.9.9.0/24", addr::LAN_A);
    let mut peer = Charon::start(&t.gw_b, &[seed_charon_conn(), second]).unwrap();
    peer.load_all().unwrap();
    let two = |lifetime: u32| {
        let c = site_a(addr::GW_B_WAN)
            .replace(
                "crypto isakmp key ciscokey address 203.0.113.2\n",
                &format!("crypto isakmp key ciscokey address 203.0.113.2\ncrypto isakmp key secondkey address {SECOND}\n"),
            )
            .replace(
                " match address 100\n",
                &format!(" match address 100\ncrypto map VPN 20 ipsec-isakmp\n set peer {SECOND}\n set transform-set TRANSFORM\n match address 120\n set security-association lifetime seconds {lifetime}\n"),
            );
        format!("{c}access-list 120 permit ip 10.1.1.0 0.0.0.255 10.9.9.0 0.0.0.255\n")
    };
    let da = Daemon::start(&t.gw_a, lab.dir.path(), "siteA", &two(3600));
    for child in ["lans", "lans-second"] {
        let out = peer.initiate(child);
        assert!(out.is_ok(), "{child}: {out:?}\n{}", da.state());
    }
    assert!(ping_until_up(
        &t.host_a,
        addr::HOST_B,
        Duration::from_secs(20)
    ));
    assert!(ping_until_up(
        &t.host_a,
        "10.9.9.1",
        Duration::from_secs(20)
    ));
    let spi_of = |sa: &str, peer: &str| -> String {
        let i = sa.find(&format!("current_peer {peer} ")).unwrap();
        sa[i..]
            .lines()
            .find(|l| l.contains("current outbound spi:"))
            .unwrap()
            .to_string()
    };
    let before = da.exec("show crypto ipsec sa");
    let (first_spi, second_spi) = (spi_of(&before, "203.0.113.2"), spi_of(&before, SECOND));
    // Pings through the first tunnel for the whole reload: every one must come back.
    let ns = t.host_a.name().to_string();
    let pinger = std::thread::spawn(move || {
        let o = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "ping",
                "-n",
                "-q",
                "-c",
                "50",
                "-i",
                "0.1",
                "-W",
                "2",
                addr::HOST_B,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    });
    std::thread::sleep(Duration::from_millis(1500));
    da.write_config(&two(1800));
    let r = da.exec("reload");
    println!("{r}");
    assert!(
        r.contains("SAs kept for VPN 10") && r.contains("cleared for VPN 20"),
        "{r}"
    );
    let pings = pinger.join().unwrap();
    println!("{pings}");
    assert!(
        pings.contains("50 packets transmitted, 50 received"),
        "the unchanged tunnel lost packets: {pings}"
    );
    // The changed entry renegotiates on traffic, with its new lifetime.
    assert!(
        ping_until_up(&t.host_a, "10.9.9.1", Duration::from_secs(30)),
        "{}",
        da.state()
    );
    let after = da.exec("show crypto ipsec sa");
    assert_eq!(spi_of(&after, "203.0.113.2"), first_spi, "{after}");
    assert_ne!(spi_of(&after, SECOND), second_spi, "{after}");
    let map = da.exec("show crypto map");
    assert!(
        map.contains("Security association lifetime: 4608000 kilobytes/1800 seconds"),
        "{map}"
    );
    da.stop();
    peer.stop();
}
