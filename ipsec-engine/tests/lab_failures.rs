//! Failure cases between two of our engines, each showing what an engineer expects from IOS
//! (cisco-ios.md C.4): the ISAKMP state, the IPsec counters and the debug reason. Needs root.

mod common;

use common::*;
use ipsec_netlab::addr;

/// Sends `n` single pings from hostA (each starts or retries negotiation); the replies seen.
fn poke(lab: &Lab, n: u32) -> u32 {
    (0..n)
        .map(|_| ping(&lab.topo.host_a, addr::HOST_B, 1))
        .sum()
}

fn show(da: &Daemon, db: &Daemon, ta: &DebugTap, tb: &DebugTap) -> String {
    format!(
        "{}\n{}\nsiteA debug:\n{}\nsiteB debug:\n{}",
        da.state(),
        db.state(),
        ta.text(),
        tb.text()
    )
}

/// The PSK differs: siteA's own attempt sticks in MM_KEY_EXCH, retransmitting MM5; siteB
/// cannot decrypt MM5 and says why; no IPsec SA, the pings count as `#send errors`.
#[test]
fn lab_fail_wrong_key() {
    let Some(lab) = Lab::new("wrongkey") else {
        return;
    };
    let b = site_b(addr::GW_A_WAN).replace("key ciscokey", "key otherkey");
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &b);
    let (ta, tb) = (da.debug(), db.debug());
    assert_eq!(poke(&lab, 6), 0);
    let all = show(&da, &db, &ta, &tb);
    let isa = da.exec("show crypto isakmp sa");
    assert!(
        isa.contains("203.0.113.2     198.51.100.2    MM_KEY_EXCH"),
        "{all}"
    );
    assert!(!isa.contains("QM_IDLE"), "{all}");
    let sa = da.exec("show crypto ipsec sa");
    assert_eq!(num(&sa, "#pkts encaps:"), 0, "{all}");
    assert!(num(&sa, "#send errors") >= 6, "{all}");
    assert!(sa.contains("current outbound spi: 0x0(0)"), "{all}");
    assert!(
        da.exec("show crypto session")
            .contains("Session status: DOWN-NEGOTIATING"),
        "{all}"
    );
    // siteA retransmits MM5 (the same state again and again); siteB names the cause.
    assert!(
        ta.text()
            .matches("my_port 500 peer_port 500 (I) MM_KEY_EXCH")
            .count()
            >= 2,
        "{all}"
    );
    assert!(
        tb.text().contains("pre-shared keys probably differ"),
        "{all}"
    );
    assert!(!db.exec("show crypto isakmp sa").contains("QM_IDLE"));
    println!("{all}");
}

/// Phase 1 proposal mismatch (siteB's policy says AES): siteB refuses with NO-PROPOSAL-CHOSEN
/// and says which attribute; siteA keeps no SA beyond MM_NO_STATE attempts.
#[test]
fn lab_fail_phase1_proposal_mismatch() {
    let Some(lab) = Lab::new("p1prop") else {
        return;
    };
    let b = site_b(addr::GW_A_WAN).replace(" encr 3des", " encr aes");
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &b);
    let (ta, tb) = (da.debug(), db.debug());
    assert_eq!(poke(&lab, 4), 0);
    let all = show(&da, &db, &ta, &tb);
    for d in [&da, &db] {
        let isa = d.exec("show crypto isakmp sa");
        assert!(
            !isa.contains("QM_IDLE") && !isa.contains("MM_KEY_EXCH"),
            "{all}"
        );
    }
    assert!(
        tb.text().contains("phase 1 SA policy not acceptable")
            && tb
                .text()
                .contains("encryption offered 3DES does not match policy AES-128"),
        "{all}"
    );
    assert!(ta.text().contains("NO-PROPOSAL-CHOSEN"), "{all}");
    let sa = da.exec("show crypto ipsec sa");
    assert_eq!(num(&sa, "#pkts encaps:"), 0);
    assert!(num(&sa, "#send errors") >= 4, "{all}");
    println!("{all}");
}

/// Crypto ACLs that are not mirror images: Phase 1 comes up (QM_IDLE on both), Quick Mode is
/// refused by siteB (proxy identities not supported, NO-PROPOSAL-CHOSEN), no IPsec SA, and
/// siteA's `#send errors` climb with every ping.
#[test]
fn lab_fail_acls_not_mirrored() {
    let Some(lab) = Lab::new("acl") else { return };
    let b = site_b(addr::GW_A_WAN).replace(
        "access-list 100 permit ip 10.2.2.0 0.0.0.255 10.1.1.0",
        "access-list 100 permit ip 10.2.2.0 0.0.0.255 10.9.9.0",
    );
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &b);
    let (ta, tb) = (da.debug(), db.debug());
    assert_eq!(poke(&lab, 3), 0);
    let first = num(&da.exec("show crypto ipsec sa"), "#send errors");
    assert_eq!(poke(&lab, 3), 0);
    let all = show(&da, &db, &ta, &tb);
    for d in [&da, &db] {
        let isa = d.exec("show crypto isakmp sa");
        assert!(isa.contains("QM_IDLE"), "{all}");
        let sa = d.exec("show crypto ipsec sa");
        assert!(sa.contains("current outbound spi: 0x0(0)"), "{all}");
        assert_eq!(num(&sa, "#pkts encaps:"), 0, "{all}");
        assert_eq!(num(&sa, "#pkts decaps:"), 0, "{all}");
        assert!(
            d.exec("show crypto session")
                .contains("Session status: UP-IDLE"),
            "{all}"
        );
    }
    let sa = da.exec("show crypto ipsec sa");
    assert!(num(&sa, "#send errors") >= first + 3, "{all}");
    assert!(
        tb.text().contains("proxy identities not supported"),
        "{all}"
    );
    assert!(
        ta.text()
            .contains("phase 2 negotiation with 203.0.113.2 failed")
            && ta.text().contains("NO-PROPOSAL-CHOSEN"),
        "{all}"
    );
    println!("{all}");
}

/// Transform-set mismatch (siteB offers only esp-aes): Phase 1 up, Quick Mode refused.
#[test]
fn lab_fail_transform_set_mismatch() {
    let Some(lab) = Lab::new("tset") else { return };
    let b = site_b(addr::GW_A_WAN).replace(
        "transform-set TRANSFORM esp-3des esp-sha-hmac",
        "transform-set TRANSFORM esp-aes esp-sha-hmac",
    );
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &b);
    let (ta, tb) = (da.debug(), db.debug());
    assert_eq!(poke(&lab, 4), 0);
    let all = show(&da, &db, &ta, &tb);
    assert!(
        da.exec("show crypto isakmp sa").contains("QM_IDLE"),
        "{all}"
    );
    let sa = da.exec("show crypto ipsec sa");
    assert!(sa.contains("current outbound spi: 0x0(0)"), "{all}");
    assert!(num(&sa, "#send errors") >= 4, "{all}");
    assert!(
        ta.text()
            .contains("phase 2 negotiation with 203.0.113.2 failed"),
        "{all}"
    );
    assert!(
        tb.text()
            .contains("phase 2 negotiation with 198.51.100.2 failed"),
        "{all}"
    );
    println!("{all}");
}

/// A one-way tunnel: rtr drops ESP from siteB, so siteA encrypts (encaps grows) and never
/// decrypts (decaps 0) while siteB decrypts everything and encrypts the replies.
#[test]
fn lab_fail_one_way_tunnel() {
    let Some(lab) = Lab::new("oneway") else {
        return;
    };
    lab.rtr_nft(
        "table ip oneway {\n chain fw {\n  type filter hook forward priority 0;\n  \
         ip saddr 203.0.113.2 ip protocol esp counter drop\n }\n}\n",
    );
    let (da, db) = lab.engines(&site_a(addr::GW_B_WAN), &site_b(addr::GW_A_WAN));
    let (ta, tb) = (da.debug(), db.debug());
    assert_eq!(poke(&lab, 6), 0);
    let all = show(&da, &db, &ta, &tb);
    let (sa_a, sa_b) = (
        da.exec("show crypto ipsec sa"),
        db.exec("show crypto ipsec sa"),
    );
    for d in [&da, &db] {
        assert!(d.exec("show crypto isakmp sa").contains("QM_IDLE"), "{all}");
        assert!(
            d.exec("show crypto session")
                .contains("Session status: UP-ACTIVE"),
            "{all}"
        );
    }
    let enc_a = num(&sa_a, "#pkts encaps:");
    assert!(enc_a >= 4, "{all}");
    assert_eq!(num(&sa_a, "#pkts decaps:"), 0, "{all}");
    assert_eq!(num(&sa_b, "#pkts decaps:"), enc_a, "{all}");
    assert_eq!(num(&sa_b, "#pkts encaps:"), enc_a, "{all}");
    let dropped = lab
        .topo
        .rtr
        .run("nft", &["list", "table", "ip", "oneway"])
        .unwrap();
    assert!(
        dropped.contains(&format!("packets {enc_a} ")),
        "{dropped}\n{all}"
    );
    println!("{all}");
}
