//! Recovery from a peer that lost its state: INITIAL-CONTACT after a restart, and Dead Peer
//! Detection (`crypto isakmp keepalive 10 2`) when the peer is gone. Needs root.

mod common;

use common::*;
use ipsec_netlab::addr;
use std::time::Duration;

/// The SPIs listed under `inbound esp sas:` (hex as printed).
fn inbound_spis(sa: &str) -> Vec<String> {
    let Some(start) = sa.find("inbound esp sas:") else {
        return Vec::new();
    };
    let end = sa[start..]
        .find("inbound ah sas:")
        .map_or(sa.len(), |e| start + e);
    sa[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("spi: "))
        .map(|s| s.split('(').next().unwrap().to_string())
        .collect()
}

fn outbound_spi(sa: &str) -> String {
    let i = sa.find("current outbound spi: ").unwrap() + "current outbound spi: ".len();
    sa[i..].split('(').next().unwrap().to_string()
}

/// siteB's engine is killed (no Deletes) and started again: siteA still holds the old SAs.
/// Traffic from hostB makes the new siteB initiate; its MM5 carries INITIAL-CONTACT, so siteA
/// drops every old SA of that peer and only the new pair remains on both sides.
#[test]
fn lab_recovery_initial_contact_after_peer_restart() {
    let Some(lab) = Lab::new("ic") else { return };
    let (da, mut db) = lab.engines(&site_a(addr::GW_B_WAN), &site_b(addr::GW_A_WAN));
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}",
        da.state()
    );
    let before = da.exec("show crypto ipsec sa");
    let old_in = inbound_spis(&before);
    assert_eq!(old_in.len(), 1, "{before}");

    db.restart();
    let ta = da.debug();
    // siteA still believes in the old pair (no Delete came).
    assert_eq!(inbound_spis(&da.exec("show crypto ipsec sa")), old_in);
    assert!(
        ping_until_up(&t.host_b, addr::HOST_A, Duration::from_secs(60)),
        "{}\n{}\n{}",
        da.state(),
        db.state(),
        ta.text()
    );
    assert_eq!(ping(&t.host_a, addr::HOST_B, 5), 5, "{}", da.state());
    let after_a = da.exec("show crypto ipsec sa");
    let after_b = db.exec("show crypto ipsec sa");
    let all = format!(
        "{}\n{}\nsiteA debug:\n{}",
        da.state(),
        db.state(),
        ta.text()
    );
    let new_in = inbound_spis(&after_a);
    assert_eq!(new_in.len(), 1, "old SAs dropped: {all}");
    assert_ne!(new_in, old_in, "{all}");
    // The pair matches across the two engines.
    assert_eq!(outbound_spi(&after_b), new_in[0], "{all}");
    assert_eq!(
        inbound_spis(&after_b),
        vec![outbound_spi(&after_a)],
        "{all}"
    );
    // One ISAKMP SA left on siteA, initiated by siteB this time (dst = siteA).
    let isa = da.exec("show crypto isakmp sa");
    assert_eq!(isa.matches("QM_IDLE").count(), 1, "{all}");
    assert!(
        isa.contains("198.51.100.2    203.0.113.2     QM_IDLE"),
        "{all}"
    );
    assert!(ta.text().contains("INITIAL-CONTACT"), "{all}");
    println!("{all}");
}

/// DPD: siteA has `crypto isakmp keepalive 10 2`. siteB's engine dies; while hostA keeps
/// sending, siteA sends R-U-THERE, gets no answer and declares the peer dead: the ISAKMP SA
/// and the IPsec SAs of that peer go away, and the next packets start a new negotiation.
#[test]
fn lab_recovery_dpd_declares_peer_dead() {
    let Some(lab) = Lab::new("dpd") else { return };
    let a = site_a(addr::GW_B_WAN).replace(
        "crypto isakmp key ciscokey",
        "crypto isakmp keepalive 10 2\ncrypto isakmp key ciscokey",
    );
    let (da, mut db) = lab.engines(&a, &site_b(addr::GW_A_WAN));
    let t = &lab.topo;
    assert!(
        ping_until_up(&t.host_a, addr::HOST_B, Duration::from_secs(30)),
        "{}",
        da.state()
    );
    let detail = da.exec("show crypto isakmp sa detail");
    assert!(detail.contains(" D"), "{detail}");
    let ta = da.debug();
    db.kill();
    // Keep traffic flowing (on-demand DPD probes only when we send and hear nothing).
    let dead = wait_until(Duration::from_secs(120), || {
        ping(&t.host_a, addr::HOST_B, 1);
        !da.exec("show crypto ipsec sa").contains("Status: ACTIVE")
    });
    let all = format!("{}\nsiteA debug:\n{}", da.state(), ta.text());
    assert!(dead, "{all}");
    assert!(ta.text().contains("Dead Peer Detection"), "{all}");
    assert!(
        da.exec("show crypto ipsec sa")
            .contains("current outbound spi: 0x0(0)"),
        "{all}"
    );
    println!("{all}");
}
