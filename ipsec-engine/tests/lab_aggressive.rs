//! Aggressive Mode (RFC 2409 section 5.4) with pre-shared keys against real peers:
//!
//! - strongSwan 5.9.8 in gwB initiates Aggressive Mode with a group name (`keyid:vpngroup`,
//!   ID_KEY_ID, as Cisco clients send it) to our hub in gwA, which keys it by that name
//!   (`crypto isakmp key K hostname vpngroup`) on a dynamic crypto map; pings pass both ways.
//!   The same with an FQDN (`@branch.example.net`, ID_FQDN).
//! - our engine initiates Aggressive Mode (`crypto isakmp peer address` + `set aggressive-mode
//!   password/client-endpoint fqdn`) to strongSwan answering it (which needs its
//!   `i_dont_care_about_security_and_use_aggressive_mode_psk`); pings pass both ways.
//! - ike-scan probes our hub with a known and an invented group name: both get an Aggressive
//!   Mode answer with the same payloads and lengths (no enumeration), and psk-crack recovers a
//!   dictionary group key from one captured answer (why `check` warns about Aggressive Mode).

mod common;

use common::*;
use ipsec_netlab::{addr, Charon, CharonConn};
use std::time::Duration;

/// Our hub: siteA with a dynamic crypto map and only `keys` (hostname keys) to choose from.
fn hub(keys: &str) -> String {
    dynamic(&site_a(addr::GW_B_WAN), addr::GW_B_WAN, keys)
}

/// `config` (peering with `peer`) with its crypto map entry made dynamic and its key replaced
/// by `keys`.
fn dynamic(config: &str, peer: &str, keys: &str) -> String {
    let config = config
        .replace(
            &format!("crypto map VPN 10 ipsec-isakmp\n set peer {peer}\n set transform-set TRANSFORM\n match address 100\n"),
            "crypto dynamic-map SPOKES 10\n set transform-set TRANSFORM\n match address 100\ncrypto map VPN 65535 ipsec-isakmp dynamic SPOKES\n",
        )
        .replace(&format!("crypto isakmp key ciscokey address {peer}\n"), keys);
    assert!(
        config.contains("dynamic SPOKES") && config.contains(keys),
        "{config}"
    );
    config
}

fn pings_both_ways(lab: &Lab, da: &Daemon, peer: &Charon) {
    let t = &lab.topo;
    let n = ping(&t.host_a, addr::HOST_B, 10);
    let m = ping(&t.host_b, addr::HOST_A, 10);
    assert_eq!(
        n + m,
        20,
        "{}\n{}",
        da.state(),
        peer.list_sas().unwrap_or_default()
    );
    let sa = da.exec("show crypto ipsec sa");
    assert!(num(&sa, "#pkts encaps:") >= 20, "{sa}");
    assert!(num(&sa, "#pkts decaps:") >= 20, "{sa}");
    assert_eq!(num(&sa, "#recv errors"), 0, "{sa}");
}

const GROUP_KEY: &str = "Vq8#nT2!pK7@wL4$zR9x";

#[test]
fn lab_aggressive_strongswan_initiates_with_a_group_key_id_to_our_hub() {
    strongswan_initiates("am_resp", "keyid:vpngroup", "vpngroup");
}

#[test]
fn lab_aggressive_strongswan_initiates_with_an_fqdn_to_our_hub() {
    strongswan_initiates("am_resp_fqdn", "@branch.example.net", "branch.example.net");
}

/// strongSwan in gwB initiates Aggressive Mode identifying as `id`; our hub keys it by
/// `crypto isakmp key K hostname <hostname>`.
fn strongswan_initiates(tag: &str, id: &str, hostname: &str) {
    let Some(lab) = Lab::new(tag) else {
        return;
    };
    let conn = CharonConn::new("group", "lans")
        .local(addr::GW_B_WAN)
        .local_id(id)
        .remote(addr::GW_A_WAN)
        .psk(GROUP_KEY)
        .aggressive(true)
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A);
    let peer = Charon::start(&lab.topo.gw_b, &[conn]).unwrap();
    peer.load_all().unwrap();
    let config = hub(&format!(
        "crypto isakmp key {GROUP_KEY} hostname {hostname}\n"
    ));
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "siteA", &config);
    let tap = da.debug();
    let out = peer.initiate("lans");
    assert!(out.is_ok(), "{out:?}\n{}\n{}", peer.log(), da.state());
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("198.51.100.2    203.0.113.2     QM_IDLE"),
        "{isa}"
    );
    // The responder went through AG_INIT_EXCH (AM2 sent, waiting for HASH_I).
    assert!(
        tap.wait_for("IKE_R_AM2", Duration::from_secs(5)),
        "{}",
        tap.text()
    );
    let log = peer.log();
    assert!(
        log.contains("AGGRESSIVE"),
        "strongSwan did not run Aggressive Mode:\n{log}"
    );
    let sas = peer.list_sas().unwrap();
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    pings_both_ways(&lab, &da, &peer);
    println!("{isa}\n{}\nstrongSwan:\n{sas}", tap.text());
    da.stop();
}

#[test]
fn lab_aggressive_engine_initiates_to_strongswan_by_fqdn() {
    let Some(lab) = Lab::new("am_init") else {
        return;
    };
    let conn = CharonConn::new("siteA", "lans")
        .local(addr::GW_B_WAN)
        .remote(addr::GW_A_WAN)
        .remote_id("@sitea.example.net")
        .psk(GROUP_KEY)
        .aggressive(true)
        .proposals("3des-sha1-modp1024")
        .esp_proposals("3des-sha1")
        .ts(addr::LAN_B, addr::LAN_A);
    let peer = Charon::start_with(
        &lab.topo.gw_b,
        &[conn],
        "  i_dont_care_about_security_and_use_aggressive_mode_psk = yes",
    )
    .unwrap();
    peer.load_all().unwrap();
    let config = site_a(addr::GW_B_WAN).replace(
        "crypto isakmp key ciscokey address 203.0.113.2\n",
        &format!(
            "crypto isakmp peer address 203.0.113.2\n set aggressive-mode password {GROUP_KEY}\n set aggressive-mode client-endpoint fqdn sitea.example.net\n"
        ),
    );
    assert!(!config.contains("crypto isakmp key"), "{config}");
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "siteA", &config);
    let tap = da.debug();
    assert!(
        ping_until_up(&lab.topo.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}\n{}",
        da.state(),
        tap.text(),
        peer.log()
    );
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("203.0.113.2     198.51.100.2    QM_IDLE"),
        "{isa}"
    );
    for line in [
        "IKE_I_AM1",
        "beginning Aggressive Mode exchange",
        "(I) AG_NO_STATE",
    ] {
        assert!(
            tap.wait_for(line, Duration::from_secs(5)),
            "{line}: {}",
            tap.text()
        );
    }
    let log = peer.log();
    assert!(
        log.contains("sitea.example.net"),
        "strongSwan never saw our FQDN identity:\n{log}"
    );
    let sas = peer.list_sas().unwrap();
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("INSTALLED"),
        "{sas}"
    );
    pings_both_ways(&lab, &da, &peer);
    println!("{isa}\n{}\nstrongSwan:\n{sas}", tap.text());
    da.stop();
}

/// The payload summary of ike-scan's answer line with the values that change per exchange
/// (cookies) removed: what a prober compares between names.
fn shape(line: &str) -> String {
    line.split_whitespace()
        .filter(|w| !w.starts_with("HDR=(CKY-R=") && !w.contains("CKY-R"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ike_scan(lab: &Lab, id: &str, extra: &[&str]) -> String {
    let mut args = vec!["-A", "--id", id, "-r", "2", "-t", "1000"];
    args.extend_from_slice(extra);
    args.push(addr::GW_A_WAN);
    lab.topo
        .gw_b
        .run("ike-scan", &args)
        .unwrap_or_else(|e| format!("{e:?}"))
}

#[test]
fn lab_aggressive_ike_scan_cannot_tell_a_known_group_from_an_invented_one() {
    let Some(lab) = Lab::new("am_scan") else {
        return;
    };
    if lab.topo.gw_b.run("ike-scan", &["--version"]).is_err() {
        eprintln!("ike-scan not installed: skipping");
        return;
    }
    // A dictionary word as the group key: the crack below shows why that is fatal in AM.
    let weak = "letmein";
    let config = hub(&format!("crypto isakmp key {weak} hostname vpngroup\n"));
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "siteA", &config);
    let psk_file = lab.dir.path().join("vpngroup.psk");
    let pskcrack = format!("--pskcrack={}", psk_file.display());
    let known = ike_scan(&lab, "vpngroup", &[&pskcrack]);
    let unknown = ike_scan(&lab, "nosuchgroup", &[]);
    for (name, out) in [("known", &known), ("unknown", &unknown)] {
        assert!(
            out.contains("Aggressive Mode Handshake returned"),
            "{name}: {out}\n{}",
            da.state()
        );
    }
    let answer = |out: &str| {
        out.lines()
            .find(|l| l.contains("Aggressive Mode Handshake returned"))
            .map(shape)
            .unwrap_or_default()
    };
    let (k, u) = (answer(&known), answer(&unknown));
    assert_eq!(
        k, u,
        "the answers differ:\nknown:   {known}\nunknown: {unknown}"
    );
    assert!(k.contains("Hash(20 bytes)"), "{k}");
    println!("known group:\n{known}\ninvented group:\n{unknown}");
    // One capture is enough for an offline dictionary attack on the group key.
    let words = lab.dir.path().join("words.txt");
    std::fs::write(&words, "password\ncisco\nvpn\nletmein\nsecret\n").unwrap();
    let crack = lab
        .topo
        .gw_b
        .run(
            "psk-crack",
            &["-d", words.to_str().unwrap(), psk_file.to_str().unwrap()],
        )
        .unwrap_or_else(|e| format!("{e:?}"));
    assert!(crack.contains("key \"letmein\" matches"), "{crack}");
    println!("psk-crack:\n{crack}");
    let c = da.exec("show crypto isakmp sa");
    println!("{c}");
    da.stop();
}

/// A remote-access client behind a NAPT: our siteA (behind rtr's masquerade) initiates
/// Aggressive Mode by FQDN to our siteB hub, which knows it only as rtr's address. NAT-D in
/// AM2/AM3 shows the NAT, AM3 floats to 4500, ESP goes in UDP.
#[test]
fn lab_aggressive_two_engines_through_a_nat() {
    let Some(lab) = Lab::with_nat("am_nat") else {
        return;
    };
    let client = site_a(addr::GW_B_WAN).replace(
        "crypto isakmp key ciscokey address 203.0.113.2\n",
        &format!(
            "crypto isakmp peer address 203.0.113.2\n set aggressive-mode password {GROUP_KEY}\n set aggressive-mode client-endpoint fqdn sitea.example.net\n"
        ),
    );
    let hub = dynamic(
        &site_b(addr::RTR_B),
        addr::RTR_B,
        &format!("crypto isakmp key {GROUP_KEY} hostname sitea.example.net\n"),
    );
    let (da, db) = lab.engines(&client, &hub);
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}\n{}",
        da.state(),
        db.state()
    );
    assert_eq!(ping(&t.host_a, addr::HOST_B, 10), 10, "{}", da.state());
    assert_eq!(ping(&t.host_b, addr::HOST_A, 10), 10, "{}", db.state());
    let sa_b = db.exec("show crypto ipsec sa");
    assert!(
        sa_b.contains("current_peer 203.0.113.1 port 4500"),
        "{sa_b}"
    );
    assert!(
        sa_b.contains("in use settings ={Tunnel UDP-Encaps, }"),
        "{sa_b}"
    );
    let isa_a = da.exec("show crypto isakmp sa");
    let isa_b = db.exec("show crypto isakmp sa");
    assert!(isa_a.contains("QM_IDLE"), "{isa_a}");
    assert!(
        isa_b.contains("203.0.113.1") && isa_b.contains("QM_IDLE"),
        "{isa_b}"
    );
    println!("client#show crypto isakmp sa\n{isa_a}hub#show crypto isakmp sa\n{isa_b}");
    da.stop();
    db.stop();
}

/// strongSwan with a wrong group key, and with a group name we do not know: in both cases it
/// gets an AM2 it cannot verify (HASH_R) and gives up; our hub never leaves AG_INIT_EXCH.
#[test]
fn lab_aggressive_wrong_group_key_and_unknown_group_fail_at_hash_r() {
    let Some(lab) = Lab::new("am_wrong") else {
        return;
    };
    let conn = |name: &str, child: &str, id: &str, psk: &str| {
        CharonConn::new(name, child)
            .local(addr::GW_B_WAN)
            .local_id(id)
            .remote(addr::GW_A_WAN)
            .psk(psk)
            .aggressive(true)
            .proposals("3des-sha1-modp1024")
            .esp_proposals("3des-sha1")
            .ts(addr::LAN_B, addr::LAN_A)
    };
    let peer = Charon::start(
        &lab.topo.gw_b,
        &[
            conn(
                "wrongkey",
                "lans-wrongkey",
                "keyid:vpngroup",
                "not-the-group-key",
            ),
            conn("stranger", "lans-stranger", "keyid:strangers", GROUP_KEY),
        ],
    )
    .unwrap();
    peer.load_all().unwrap();
    let config = hub(&format!(
        "crypto isakmp key {GROUP_KEY} hostname vpngroup\n"
    ));
    let da = Daemon::start(&lab.topo.gw_a, lab.dir.path(), "siteA", &config);
    for child in ["lans-wrongkey", "lans-stranger"] {
        let out = peer.initiate(child);
        assert!(out.is_err(), "{child}: {out:?}");
    }
    let isa = da.exec("show crypto isakmp sa");
    assert!(!isa.contains("QM_IDLE"), "{isa}");
    assert!(isa.contains("AG_INIT_EXCH"), "{isa}");
    let log = peer.log();
    let hash_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("hash"))
        .collect();
    // Both look the same from strongSwan's side: an AM2 whose HASH_R does not verify.
    let mismatches = hash_lines
        .iter()
        .filter(|l| l.contains("calculated HASH does not match HASH payload"))
        .count();
    assert_eq!(mismatches, 2, "{log}");
    println!("{isa}\nstrongSwan:\n{}", hash_lines.join("\n"));
    da.stop();
}
