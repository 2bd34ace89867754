//! Lifecycle scenarios: duplicates, peer reboot, rekeys, DPD, half-open limit.

mod ike_common;

use std::time::Duration;

use ike_common::*;
use ipsec_proto::ike::{DeleteReason, Endpoint, Event, Path, PeerId};
use ipsec_proto::policy::ipsec::{DpdConfig, DpdMode};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

fn up() -> Pair {
    let (a, b) = seed_configs();
    let mut p = Pair::new(a, b, 40);
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    p
}

#[test]
fn retransmitted_mm1_gets_the_cached_mm2() {
    let (a, b) = seed_configs();
    let mut p = Pair::new(a, b, 41);
    p.drop_nth.push((Side::B, 0)); // MM2
    p.initiate(0, 0);
    assert!(p.run_until(60_000, |p| p.both_up()));
    assert_eq!(p.b.isakmp_sas(p.now).len(), 1, "no second responder SA");
    assert!(p.b.counters().duplicates >= 1);
    // B's second datagram is a byte-identical copy of its first (MM2 from the cache).
    let b_msgs: Vec<&Vec<u8>> = p
        .log
        .iter()
        .filter(|l| l.0 == Side::B)
        .map(|l| &l.2)
        .collect();
    assert_eq!(b_msgs[0], b_msgs[1]);
}

#[test]
fn initial_contact_after_peer_reboot_clears_old_sas() {
    let mut p = up();
    let old_spi = p.b.ipsec_sas(p.now)[0].spi_in;
    // A reboots: same configuration, new state.
    let (a, _) = seed_configs();
    p.a = Endpoint::new(a, Rng::from_u64(999));
    p.events_a.clear();
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| Pair::p2_count(&p.events_a) == 1
        && Pair::p2_count(&p.events_b) == 2));
    assert!(p.events_b.iter().any(|e| matches!(
        e,
        Event::Phase1Deleted {
            reason: DeleteReason::InitialContact,
            ..
        }
    )));
    assert!(p.events_b.iter().any(|e| matches!(
        e,
        Event::Phase2Deleted { spi_in, reason: DeleteReason::InitialContact, .. } if *spi_in == old_spi
    )));
    assert_eq!(p.b.isakmp_sas(p.now).len(), 1);
    assert_eq!(p.b.ipsec_sas(p.now).len(), 1);
    assert_keys_match(&p.events_a, &p.events_b[p.events_b.len() - 3..]);
}

#[test]
fn simultaneous_rekey_from_both_sides_keeps_both() {
    let mut p = up();
    let ca = p.a.ipsec_sas(p.now)[0].child;
    let cb = p.b.ipsec_sas(p.now)[0].child;
    p.a.rekey_child(p.now, ca).unwrap();
    p.b.rekey_child(p.now, cb).unwrap();
    assert!(p.run_until(10_000, |p| Pair::p2_count(&p.events_a) == 3
        && Pair::p2_count(&p.events_b) == 3));
    let sa = p.a.ipsec_sas(p.now);
    let sb = p.b.ipsec_sas(p.now);
    assert_eq!(sa.len(), 3);
    for x in &sa {
        assert!(sb
            .iter()
            .any(|y| y.spi_in == x.spi_out && y.spi_out == x.spi_in));
    }
}

#[test]
fn volume_rekey_from_esp_usage() {
    let mut p = up();
    let c = p.a.ipsec_sas(p.now)[0].child;
    let now = p.now;
    p.a.report_esp_activity(now, c, Some(now), Some(now), 4_608_000 * 1024 / 10 * 9 + 1);
    assert!(p.run_until(10_000, |p| Pair::p2_count(&p.events_a) == 2));
    assert!(p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::Phase2Expiring { child } if *child == c)));
    let new = p
        .events_a
        .iter()
        .filter_map(|e| match e {
            Event::Phase2Established(x) => Some(x),
            _ => None,
        })
        .nth(1)
        .unwrap();
    assert_eq!(new.replaces, Some(c));
}

#[test]
fn on_demand_dpd_asks_only_when_traffic_gets_no_answer() {
    let (mut a, b) = seed_configs();
    a.dpd = Some(DpdConfig {
        interval_secs: 10,
        retry_secs: 2,
        mode: DpdMode::OnDemand,
    });
    let mut p = Pair::new(a, b, 42);
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    let c = p.a.ipsec_sas(p.now)[0].child;
    p.run(60_000);
    let sent_idle = p.sent[0];
    assert_eq!(sent_idle, 5, "no R-U-THERE while idle");
    // Outbound traffic, nothing back for 20 s: one R-U-THERE, answered.
    let now = p.now;
    let quiet = Instant::from_millis(now.as_millis() - 20_000);
    p.a.report_esp_activity(now, c, Some(quiet), Some(now), 1000);
    p.run(5_000);
    assert_eq!(p.sent[0], 6);
    assert!(!p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::PeerDead { .. })));
    // Peer gone: R-U-THERE retried, then declared dead.
    p.blackhole_from = Some((Side::B, p.sent[1]));
    p.run(30_000);
    let now = p.now;
    let quiet = Instant::from_millis(now.as_millis() - 20_000);
    p.a.report_esp_activity(now, c, Some(quiet), Some(now), 2000);
    p.run(30_000);
    assert!(p
        .events_a
        .iter()
        .any(|e| matches!(e, Event::PeerDead { .. })));
    assert!(p.events_a.iter().any(|e| matches!(
        e,
        Event::Phase2Deleted {
            reason: DeleteReason::DpdTimeout,
            ..
        }
    )));
}

#[test]
fn half_open_limit_drops_oldest() {
    let (a, mut b) = seed_configs();
    b.half_open_limit = 2;
    let mut p = Pair::new(a, b, 43);
    p.blackhole_from = Some((Side::B, 0));
    p.initiate(0, 0);
    p.run(100);
    let mm1 = p.log[0].2.clone();
    let path = Path {
        local: std::net::SocketAddr::new(std::net::IpAddr::V4(B_ADDR), 500),
        remote: p.a_local(500),
    };
    for i in 1..=3u8 {
        let mut m = mm1.clone();
        m[0] ^= i; // another initiator cookie
        let _ = p.b.handle_datagram(p.now, path, &m);
    }
    assert!(p.b.isakmp_sas(p.now).len() <= 2);
    assert!(p.b.counters().half_open_dropped >= 1);
}

#[test]
fn phase1_rekeyed_before_expiry_and_phase2_still_works() {
    let (mut a, mut b) = seed_configs();
    a.peers[0].isakmp_policies[0].lifetime_secs = 600;
    b.peers[0].isakmp_policies[0].lifetime_secs = 600;
    a.peers[0].lifetime_secs = 3600;
    let mut p = Pair::new(a, b, 44);
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    p.run(700_000);
    let est = p
        .events_a
        .iter()
        .filter(|e| matches!(e, Event::Phase1Established { .. }))
        .count();
    assert_eq!(est, 2, "a new ISAKMP SA before the old one expired");
    assert_eq!(p.a.isakmp_sas(p.now).len(), 1, "the old one expired");
    assert_eq!(p.b.isakmp_sas(p.now).len(), 1);
    assert_eq!(p.a.ipsec_sas(p.now).len(), 1, "IPsec SAs survive");
    let c = p.a.ipsec_sas(p.now)[0].child;
    p.a.rekey_child(p.now, c).unwrap();
    assert!(p.run_until(10_000, |p| Pair::p2_count(&p.events_a) == 2
        && Pair::p2_count(&p.events_b) == 2));
    let _ = (PeerId(0), Duration::ZERO);
}

#[test]
fn simultaneous_initiation_from_both_sides() {
    let (a, b) = seed_configs();
    let mut p = Pair::new(a, b, 45);
    p.initiate(0, 0);
    p.b.initiate(p.now, PeerId(0), 0).unwrap();
    assert!(p.run_until(10_000, |p| Pair::p2_count(&p.events_a) >= 2
        && Pair::p2_count(&p.events_b) >= 2));
    // Every pair one side holds, the other holds mirrored.
    let sa = p.a.ipsec_sas(p.now);
    let sb = p.b.ipsec_sas(p.now);
    assert_eq!(sa.len(), sb.len());
    for x in &sa {
        assert!(sb
            .iter()
            .any(|y| y.spi_in == x.spi_out && y.spi_out == x.spi_in));
    }
    assert!(Pair::failures(&p.events_a).is_empty() && Pair::failures(&p.events_b).is_empty());
}

#[test]
fn responder_rekeys_when_the_initiator_does_not() {
    let (mut a, mut b) = seed_configs();
    a.peers[0].lifetime_secs = 300;
    b.peers[0].lifetime_secs = 300;
    a.rekey_margin = Duration::ZERO; // A never rekeys ahead of expiry
    b.rekey_margin = Duration::from_secs(60);
    let mut p = Pair::new(a, b, 46);
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    p.run(275_000);
    assert_eq!(
        Pair::p2_count(&p.events_b),
        2,
        "B rekeyed 30 s before expiry"
    );
    assert_eq!(Pair::p2_count(&p.events_a), 2);
    p.run(60_000);
    assert_eq!(p.a.ipsec_sas(p.now).len(), 1);
    assert_eq!(p.b.ipsec_sas(p.now).len(), 1);
}
