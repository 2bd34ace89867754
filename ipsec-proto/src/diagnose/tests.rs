//! The rules over hand-made inputs (the engine's tests produce the faults for real).

use super::*;
use std::net::Ipv4Addr;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

fn up_input() -> PeerInput {
    PeerInput {
        peer: Some(PEER),
        local: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))),
        map: "VPN 10".into(),
        isakmp: vec![IsakmpView {
            conn_id: 1001,
            state: crate::ike::IsakmpState::QmIdle,
            initiator: true,
            nat_t: false,
        }],
        flows: vec![FlowView {
            acl_line: "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255"
                .into(),
            local_ident: "(192.168.1.0/255.255.255.0/0/0)".into(),
            remote_ident: "(192.168.2.0/255.255.255.0/0/0)".into(),
            sa_up: true,
            encaps: 10,
            decaps: 10,
            path_mtu: 1500,
            plaintext_mtu: 1438,
            largest_plaintext: 84,
            ..FlowView::default()
        }],
        ..PeerInput::default()
    }
}

fn causes(p: &PeerInput) -> Vec<Cause> {
    diagnose_peer(Instant(10_000), p)
        .iter()
        .map(|v| v.cause)
        .collect()
}

#[test]
fn history_spots_retransmissions_and_keeps_totals_past_the_ring() {
    let mut h = History::new();
    assert!(!h.record_ike_sent(
        PEER,
        Instant(0),
        b"mm1",
        Some(crate::ike::IsakmpState::MmNoState),
        true,
        500
    ));
    assert!(h.record_ike_sent(
        PEER,
        Instant(2000),
        b"mm1",
        Some(crate::ike::IsakmpState::MmNoState),
        true,
        500
    ));
    assert!(h.record_ike_sent(
        PEER,
        Instant(6000),
        b"mm1",
        Some(crate::ike::IsakmpState::MmNoState),
        true,
        500
    ));
    assert!(!h.record_ike_sent(
        PEER,
        Instant(7000),
        b"mm3",
        Some(crate::ike::IsakmpState::MmSaSetup),
        true,
        500
    ));
    let p = h.peer(PEER).unwrap();
    assert_eq!((p.ike_tx, p.retransmissions, p.retrans_run), (4, 2, 0));
    for i in 0..(HISTORY_LEN as u64 * 2) {
        h.record(
            PEER,
            Instant(8000 + i),
            Happening::IkeReceived {
                state: None,
                local_port: 4500,
                remote_port: 4500,
            },
        );
    }
    let p = h.peer(PEER).unwrap();
    assert_eq!(p.events.len(), HISTORY_LEN);
    assert_eq!(p.ike_rx_4500, HISTORY_LEN as u64 * 2);
    assert_eq!(p.last_rx, Some(Instant(8000 + HISTORY_LEN as u64 * 2 - 1)));
}

#[test]
fn routine_traffic_of_an_established_sa_takes_two_slots() {
    let mut h = History::new();
    let qm_idle = Some(crate::ike::IsakmpState::QmIdle);
    h.record(
        PEER,
        Instant(1),
        Happening::Phase1Up {
            nat: false,
            local_behind_nat: false,
            remote_port: 500,
            peer_nat_t: false,
        },
    );
    // A thousand DPD exchanges: R-U-THERE out, ACK in.
    for i in 0..1000u64 {
        assert!(!h.record_ike_sent(
            PEER,
            Instant(10 + 2 * i),
            format!("r-u-there {i}").as_bytes(),
            qm_idle,
            true,
            500
        ));
        h.record(
            PEER,
            Instant(11 + 2 * i),
            Happening::IkeReceived {
                state: qm_idle,
                local_port: 500,
                remote_port: 500,
            },
        );
    }
    let p = h.peer(PEER).unwrap();
    assert_eq!(p.events.len(), 3, "{:?}", p.events);
    assert!(matches!(p.events[0].what, Happening::Phase1Up { .. }));
    assert_eq!(
        p.events[2].at,
        Instant(11 + 2 * 999),
        "the newest time is kept"
    );
    assert_eq!(
        (p.ike_tx, p.ike_rx),
        (1000, 1000),
        "the totals count every one"
    );
    // A retransmission is not routine: it takes a slot of its own.
    assert!(!h.record_ike_sent(PEER, Instant(5000), b"r-u-there 1000", qm_idle, true, 500));
    assert_eq!(h.peer(PEER).unwrap().events.len(), 3);
    assert!(h.record_ike_sent(PEER, Instant(5001), b"r-u-there 1000", qm_idle, true, 500));
    assert_eq!(h.peer(PEER).unwrap().events.len(), 4);
}

#[test]
fn repeated_esp_errors_take_one_slot() {
    let mut h = History::new();
    for i in 0..1000 {
        h.record(PEER, Instant(i), Happening::InvalidSpi { spi: 7 });
    }
    let p = h.peer(PEER).unwrap();
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.invalid_spi, 1000);
    assert_eq!(p.events[0].at, Instant(999));
}

#[test]
fn healthy_then_each_counter_fault() {
    assert_eq!(causes(&up_input()), vec![Cause::Healthy]);

    let mut p = up_input();
    p.flows[0].encaps = 0;
    assert_eq!(causes(&p), vec![Cause::OneWayInbound]);

    let mut p = up_input();
    p.flows[0].decaps = 0;
    p.flows[0].udp_encap = true;
    let v = diagnose_peer(Instant(0), &p);
    assert_eq!(v[0].cause, Cause::OneWayOutbound);
    assert!(v[0].check[2].contains("UDP 4500"), "{}", v[0]);

    let mut p = up_input();
    p.flows[0].verify_failed = 3;
    p.flows[0].replay_failed = 2;
    assert_eq!(
        causes(&p),
        vec![Cause::DecryptFailures, Cause::ReplayFailures]
    );

    let mut p = up_input();
    p.flows[0].largest_plaintext = 1500;
    p.flows[0].oversize = 4;
    assert_eq!(causes(&p), vec![Cause::Mtu]);
}

#[test]
fn nat_detected_but_peer_stays_on_500() {
    let mut p = up_input();
    let mut h = History::new();
    h.record(
        PEER,
        Instant(1000),
        Happening::Phase1Up {
            nat: true,
            local_behind_nat: true,
            remote_port: 500,
            peer_nat_t: true,
        },
    );
    h.record(PEER, Instant(2000), Happening::RawEspBehindNat);
    p.history = h.peer(PEER).unwrap().clone();
    let v = diagnose_peer(Instant(3000), &p);
    assert_eq!(
        v.iter().map(|v| v.cause).collect::<Vec<_>>(),
        vec![Cause::NatNotFloating]
    );
    assert!(
        v[0].evidence[0].contains("peer port after Main Mode 500"),
        "{}",
        v[0]
    );
}

#[test]
fn failure_kinds_from_endpoint_errors() {
    use crate::ike::{AuthFailure, Error, PeerIncompatible};
    let e = Error::AuthenticationFailed(AuthFailure::PskMismatch {
        message: 5,
        peer: PEER,
    });
    assert_eq!(FailureKind::from_error(&e), FailureKind::PskMismatch);
    let any = crate::policy::acl::TrafficSelector::subnet(
        std::net::Ipv4Addr::UNSPECIFIED,
        std::net::Ipv4Addr::UNSPECIFIED,
    );
    let e = Error::PeerIncompatible(PeerIncompatible::ProxyIdentities(
        crate::ike::ProxyMismatch {
            proposed_local: any,
            proposed_remote: any,
            ours: Vec::new(),
        },
    ));
    assert_eq!(FailureKind::from_error(&e), FailureKind::ProxyIdentities);
    let e = Error::NotifyReceived(NotifyType::NO_PROPOSAL_CHOSEN);
    assert_eq!(
        FailureKind::from_error(&e),
        FailureKind::Notify("NO-PROPOSAL-CHOSEN".into())
    );
}

#[test]
fn verdict_text_names_peer_evidence_and_checks() {
    let mut p = up_input();
    p.flows[0].decaps = 0;
    let t = render(&diagnose_peer(Instant(0), &p));
    assert!(
        t.starts_with("peer 203.0.113.2: Phase 2 up, #pkts encrypt counting"),
        "{t}"
    );
    assert!(t.contains("\n  evidence: "), "{t}");
    assert!(t.contains("\n  check 1: "), "{t}");
    assert!(t.contains("\n  verify: "), "{t}");
}

#[test]
fn spoofed_sources_do_not_grow_the_history_without_bound() {
    let mut h = History::new();
    h.reserve(PEER);
    for i in 0..(HISTORY_PEERS as u32 * 3) {
        let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        h.record(a, Instant(1), Happening::InvalidSpi { spi: i });
    }
    assert_eq!(h.peers().count(), HISTORY_PEERS);
    h.record(PEER, Instant(2), Happening::InvalidSpi { spi: 1 });
    assert_eq!(h.peer(PEER).unwrap().invalid_spi, 1);
}

#[test]
fn a_vti_one_way_tunnel_points_at_routes_not_crypto_acls() {
    let mut p = up_input();
    p.vti = Some(0);
    p.flows[0].local_ident = "(0.0.0.0/0.0.0.0/0/0)".into();
    p.flows[0].remote_ident = "(0.0.0.0/0.0.0.0/0/0)".into();
    p.flows[0].encaps = 0;
    let v = diagnose_peer(Instant(10_000), &p);
    assert_eq!(v[0].cause, Cause::OneWayInbound);
    let text = v[0].to_string();
    assert!(text.contains("not routed into Tunnel0"), "{text}");
    assert!(!text.contains("crypto ACL"), "{text}");
    assert!(!text.contains("crypto map"), "{text}");

    let mut p = up_input();
    p.vti = Some(3);
    p.flows[0].decaps = 0;
    let text = diagnose_peer(Instant(10_000), &p)[0].to_string();
    assert!(
        text.contains("route the return traffic into its tunnel"),
        "{text}"
    );
    assert!(!text.contains("crypto ACL"), "{text}");

    let mut p = up_input();
    p.vti = Some(3);
    p.isakmp.clear();
    p.flows[0].sa_up = false;
    p.flows[0].encaps = 0;
    p.flows[0].decaps = 0;
    let v = diagnose_peer(Instant(10_000), &p);
    assert_eq!(v[0].cause, Cause::NotTriggered);
    let text = v[0].to_string();
    assert!(text.contains("show interfaces Tunnel3"), "{text}");
    assert!(!text.contains("crypto ACL"), "{text}");
}

fn failed(p: &mut PeerInput, phase: u8, e: &crate::ike::Error) {
    // Phase 1 refusals end the ISAKMP SA; a Phase 2 one leaves it and brings no IPsec SA.
    if phase == 1 {
        p.isakmp.clear();
    }
    p.flows[0].sa_up = false;
    p.flows[0].encaps = 0;
    p.flows[0].decaps = 0;
    p.history.events.push_back(Record {
        at: Instant(9_000),
        what: Happening::Failed {
            phase,
            kind: FailureKind::from_error(e),
            text: e.to_string().into(),
        },
    });
}

#[test]
fn remote_access_failures_are_named_wrong_password_pool_and_lease() {
    use crate::ike::{AuthFailure, Error, ModeConfigRefusal, PeerIncompatible};
    let mut p = up_input();
    failed(
        &mut p,
        1,
        &Error::AuthenticationFailed(AuthFailure::XauthRejected {
            user: "alice".into(),
            attempts: 3,
        }),
    );
    assert_eq!(causes(&p)[0], Cause::XauthFailed);
    let t = render(&diagnose_peer(Instant(10_000), &p));
    assert!(
        t.contains("wrong user name or password") && t.contains("alice"),
        "{t}"
    );

    let mut p = up_input();
    failed(
        &mut p,
        1,
        &Error::PeerIncompatible(PeerIncompatible::ModeConfig(
            ModeConfigRefusal::PoolExhausted {
                group: "vpngroup".into(),
                pool: "EZPOOL".into(),
                size: 11,
            },
        )),
    );
    assert_eq!(causes(&p)[0], Cause::ModeConfig);
    let t = render(&diagnose_peer(Instant(10_000), &p));
    assert!(t.contains("EZPOOL") && t.contains("enlarge"), "{t}");

    let mut p = up_input();
    failed(
        &mut p,
        2,
        &Error::PeerIncompatible(PeerIncompatible::ProxyNotLeased {
            offered: "10.99.0.77".into(),
            leased: Some(Ipv4Addr::new(10, 99, 0, 10)),
        }),
    );
    assert!(causes(&p).contains(&Cause::ModeConfig), "{:?}", causes(&p));
}
