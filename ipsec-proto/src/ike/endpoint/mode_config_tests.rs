//! Mode Config between two of our endpoints on the in-memory network: an Easy VPN client
//! (Aggressive Mode with the group name, XAUTH, then a Mode Config REQUEST) against a server
//! that leases addresses from a pool and hands out its group's attributes; the toy-proof rules
//! (Quick Mode only for the leased address, the lease freed with the client's SA, pool
//! exhaustion and unknown groups refused by name) and the `initiate` (push) variant.

use std::net::Ipv4Addr;

use super::aggressive_tests::{client, concentrator, exchanges, failure, up, GROUP_KEY};
use super::*;
use crate::ike::config::Phase1Id;
use crate::ike::{ModeConfigRefusal, ModeConfigStep};
use crate::policy::{
    AddressAssignment, ClientGroup, ClientMode, ClientSettings, LocalPool, LocalUser,
    ModeConfigServer, Password, ResolvedGroup, TrafficSelector, XauthCredentials, XauthServer,
    XAUTH_DEFAULT_ATTEMPTS,
};
use crate::testing::{Pair, Side};

const FIRST: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 10);

fn group(pool_last: Ipv4Addr) -> ResolvedGroup {
    ResolvedGroup {
        group: ClientGroup {
            name: "vpngroup".into(),
            key: None,
            dns: vec![Ipv4Addr::new(192, 168, 2, 53)],
            wins: vec![],
            domain: Some("example.test".into()),
            pool: Some("EZ".into()),
            split_acl: Some("150".into()),
            save_password: true,
            pfs: false,
            netmask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            banner: Some("Welcome\nto the hub".into()),
            max_users: None,
            backup_gateways: vec![Ipv4Addr::new(192, 0, 2, 7)],
            split_dns: vec!["corp.test".into()],
        },
        pool: Some(LocalPool {
            name: "EZ".into(),
            ranges: vec![(FIRST, pool_last)],
        }),
        split: vec![(
            Ipv4Addr::new(192, 168, 2, 0),
            Ipv4Addr::new(255, 255, 255, 0),
        )],
    }
}

fn server_with(assignment: AddressAssignment, g: ResolvedGroup) -> EndpointConfig {
    concentrator(|p| {
        p.xauth_server = Some(XauthServer {
            list: "vpnusers".into(),
            users: vec![LocalUser {
                name: "alice".into(),
                password: Password::new("wonderland"),
            }],
            max_attempts: XAUTH_DEFAULT_ATTEMPTS,
        });
        p.mode_config = Some(ModeConfigServer {
            list: "vpngroups".into(),
            assignment,
            groups: vec![g],
        });
    })
}

fn server(assignment: AddressAssignment) -> EndpointConfig {
    server_with(assignment, group(Ipv4Addr::new(10, 9, 1, 12)))
}

/// The client proposes `inner`/32 as its side of the Quick Mode.
fn ez_client(id: &[u8], inner: Ipv4Addr) -> EndpointConfig {
    ez_client_mode(id, inner, ClientMode::Pull)
}

fn ez_client_mode(id: &[u8], inner: Ipv4Addr, mode: ClientMode) -> EndpointConfig {
    let mut c = client(Phase1Id::KeyId(id.to_vec()), GROUP_KEY);
    let p = &mut c.peers[0];
    p.xauth_client = Some(XauthCredentials {
        name: "alice".into(),
        password: Password::new("wonderland"),
    });
    p.mode_config_client = Some(mode);
    p.selectors[0].local = TrafficSelector::subnet(inner, Ipv4Addr::BROADCAST);
    c
}

fn run(a: EndpointConfig, b: EndpointConfig, seed: u64) -> Pair {
    let mut p = Pair::new(a, b, seed);
    p.initiate(0, 0);
    p.run_until(20_000, up);
    p
}

fn configured(v: &[Event]) -> Option<&ClientSettings> {
    v.iter().find_map(|e| match e {
        Event::ModeConfig {
            step: ModeConfigStep::Configured(s),
            ..
        } => Some(s),
        _ => None,
    })
}

fn released(v: &[Event]) -> Vec<Ipv4Addr> {
    v.iter()
        .filter_map(|e| match e {
            Event::ModeConfig {
                step: ModeConfigStep::Released { address },
                ..
            } => Some(*address),
            _ => None,
        })
        .collect()
}

#[test]
fn client_gets_pool_address_and_group_attributes_then_quick_mode_for_it() {
    let p = run(
        ez_client(b"vpngroup", FIRST),
        server(AddressAssignment::Respond),
        1,
    );
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    let s = configured(&p.events_a).expect("client configured");
    assert_eq!(s.address, Some(FIRST));
    assert_eq!(s.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(s.dns, vec![Ipv4Addr::new(192, 168, 2, 53)]);
    assert_eq!(s.domain.as_deref(), Some("example.test"));
    assert_eq!(s.banner.as_deref(), Some("Welcome\nto the hub"));
    assert_eq!(
        s.split,
        vec![(
            Ipv4Addr::new(192, 168, 2, 0),
            Ipv4Addr::new(255, 255, 255, 0)
        )]
    );
    assert_eq!(s.split_dns, vec!["corp.test".to_string()]);
    assert_eq!(s.backup_servers, vec!["192.0.2.7".to_string()]);
    assert!(s.save_password && !s.pfs);
    assert!(s
        .application_version
        .as_deref()
        .is_some_and(|v| v.starts_with("ipsec-rs")));
    // AM1..AM3, XAUTH's four, REQUEST (A) / REPLY (B), and only then Quick Mode.
    let ex = exchanges(&p);
    let tx: Vec<Side> = ex
        .iter()
        .filter(|(_, e)| *e == 6)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(
        tx,
        [Side::B, Side::A, Side::B, Side::A, Side::A, Side::B],
        "{ex:?}"
    );
    let first_qm = ex.iter().position(|(_, e)| *e == 32).unwrap();
    assert!(ex[..first_qm].iter().filter(|(_, e)| *e == 6).count() == 6);
    let b = p.b.isakmp_sas(p.now);
    let sa = b.iter().find(|s| s.state == IsakmpState::QmIdle).unwrap();
    assert_eq!(sa.assigned_address, Some(FIRST));
    assert_eq!(sa.client_group.as_deref(), Some("vpngroup"));
    assert_eq!(sa.xauth_user.as_deref(), Some("alice"));
}

#[test]
fn a_lost_reply_is_answered_again_from_the_cache() {
    let mut p = Pair::new(
        ez_client(b"vpngroup", FIRST),
        server(AddressAssignment::Respond),
        3,
    );
    // B sends AM2 (0), the XAUTH REQUEST (1), SET (2), then the Mode Config REPLY (3).
    p.drop_nth = vec![(Side::B, 3)];
    p.initiate(0, 0);
    p.run_until(30_000, up);
    assert!(up(&p), "b: {:?}", p.events_b);
    assert_eq!(configured(&p.events_a).and_then(|s| s.address), Some(FIRST));
    // One lease, not two, for the repeated REQUEST.
    let sent = p
        .events_b
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ModeConfig {
                    step: ModeConfigStep::Sent { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(sent, 1);
}

#[test]
fn the_client_proposes_its_assigned_address_whatever_its_configured_selector() {
    // An Easy VPN client knows no inner address before Mode Config: it is configured with
    // `any` and proposes what it was given.
    let mut c = ez_client(b"vpngroup", FIRST);
    c.peers[0].selectors[0].local =
        TrafficSelector::subnet(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
    let p = run(c, server(AddressAssignment::Respond), 9);
    assert!(up(&p), "b: {:?}", p.events_b);
    let est = p
        .events_a
        .iter()
        .find_map(|e| match e {
            Event::Phase2Established(x) => Some(x.selectors),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        est.local,
        TrafficSelector::subnet(FIRST, Ipv4Addr::BROADCAST)
    );
}

#[test]
fn quick_mode_without_mode_config_gets_no_sa_where_the_group_has_a_pool() {
    // A client that skips Mode Config and proposes an address of its own choosing.
    let mut c = ez_client(b"vpngroup", Ipv4Addr::new(10, 9, 1, 77));
    c.peers[0].mode_config_client = None;
    let p = run(c, server(AddressAssignment::Respond), 2);
    assert!(!up(&p));
    let e = failure(&p.events_b).expect("server names the refusal");
    assert!(
        matches!(
            e,
            Error::PeerIncompatible(PeerIncompatible::ProxyNotLeased { leased: None, .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("10.9.1.77"), "{e}");
    assert!(!p
        .events_b
        .iter()
        .any(|e| matches!(e, Event::Phase2Established(_))));
}

#[test]
fn only_the_leased_address_passes_the_proxy_check() {
    let mut p = run(
        ez_client(b"vpngroup", FIRST),
        server(AddressAssignment::Respond),
        2,
    );
    assert!(up(&p));
    let id =
        p.b.isakmp_sas(p.now)
            .iter()
            .find(|s| s.state == IsakmpState::QmIdle)
            .map(|s| IkeSaId(s.conn_id))
            .unwrap();
    let host = |a| TrafficSelector::subnet(a, Ipv4Addr::BROADCAST);
    assert_eq!(p.b.check_leased_proxy(id, &host(FIRST)), Ok(()));
    let e =
        p.b.check_leased_proxy(id, &host(Ipv4Addr::new(10, 9, 1, 11)))
            .unwrap_err();
    assert!(
        matches!(
            e,
            PeerIncompatible::ProxyNotLeased {
                leased: Some(FIRST),
                ..
            }
        ),
        "{e:?}"
    );
    let net = TrafficSelector::subnet(FIRST, Ipv4Addr::new(255, 255, 255, 0));
    assert!(p.b.check_leased_proxy(id, &net).is_err());
}

#[test]
fn an_exhausted_pool_refuses_the_client_by_name_and_ends_its_sa() {
    // A pool whose only range is empty: no address to give.
    let p = run(
        ez_client(b"vpngroup", FIRST),
        server_with(
            AddressAssignment::Respond,
            group(Ipv4Addr::new(10, 9, 1, 9)),
        ),
        4,
    );
    assert!(!up(&p));
    let e = failure(&p.events_b).expect("refusal");
    assert!(
        matches!(
            e,
            Error::PeerIncompatible(PeerIncompatible::ModeConfig(
                ModeConfigRefusal::PoolExhausted { size: 0, .. }
            ))
        ),
        "{e:?}"
    );
    assert_eq!(p.b.counters().mode_config_refused, 1);
    assert!(p
        .b
        .isakmp_sas(p.now)
        .iter()
        .all(|s| s.state != IsakmpState::QmIdle));
}

#[test]
fn a_group_name_without_client_configuration_group_is_refused() {
    // "branch.example.net" has a key on the concentrator (FQDN), but no group of that name.
    let mut c = ez_client(b"unused", FIRST);
    c.peers[0].aggressive = Some(Phase1Id::Fqdn("branch.example.net".into()));
    c.peers[0].psk = crate::policy::PskSecret::new(b"fqdn-key".to_vec());
    let p = run(c, server(AddressAssignment::Respond), 5);
    assert!(!up(&p));
    let e = failure(&p.events_b).expect("refusal");
    assert!(
        matches!(
            e,
            Error::PeerIncompatible(PeerIncompatible::ModeConfig(
                ModeConfigRefusal::UnknownGroup(g)
            )) if g == "branch.example.net"
        ),
        "{e:?}"
    );
}

fn qm_idle(p: &Pair) -> IkeSaId {
    p.a.isakmp_sas(p.now)
        .iter()
        .find(|s| s.state == IsakmpState::QmIdle)
        .map(|s| IkeSaId(s.conn_id))
        .unwrap()
}

#[test]
fn the_lease_is_freed_when_the_client_deletes_its_ipsec_and_isakmp_sas() {
    let mut p = run(
        ez_client(b"vpngroup", FIRST),
        server(AddressAssignment::Respond),
        6,
    );
    assert!(up(&p));
    // vpnc's order on disconnect: the ESP SAs, then the ISAKMP SA.
    let children: Vec<ChildId> = p.a.ipsec_sas(p.now).iter().map(|c| c.child).collect();
    assert_eq!(children.len(), 1);
    for c in children {
        let now = p.now;
        p.a.delete_child(now, c).unwrap();
    }
    p.run(2_000);
    assert_eq!(p.b.ipsec_sas(p.now).len(), 0);
    assert_eq!(
        released(&p.events_b),
        Vec::<Ipv4Addr>::new(),
        "the ISAKMP SA holds it"
    );
    let (now, sa) = (p.now, qm_idle(&p));
    p.a.delete_isakmp_sa(now, sa).unwrap();
    p.run(2_000);
    assert_eq!(released(&p.events_b), vec![FIRST]);
    assert_eq!(p.b.leases.len(), 0);
}

#[test]
fn an_ipsec_sa_outliving_its_isakmp_sa_keeps_the_address_leased() {
    let mut p = run(
        ez_client(b"vpngroup", FIRST),
        server(AddressAssignment::Respond),
        6,
    );
    assert!(up(&p));
    let (now, sa) = (p.now, qm_idle(&p));
    p.a.delete_isakmp_sa(now, sa).unwrap();
    p.run(2_000);
    assert!(p.b.isakmp_sas(p.now).is_empty());
    // The IPsec SA still carries FIRST: nobody else may be given it.
    assert_eq!(p.b.ipsec_sas(p.now).len(), 1);
    assert_eq!(released(&p.events_b), Vec::<Ipv4Addr>::new());
    assert_eq!(p.b.leases.len(), 1);
    assert_eq!(
        p.b.leases.holder(FIRST).map(|c| c.user.as_str()),
        Some("alice")
    );
    // When the pair goes (here `clear crypto sa` on the server), the address goes with it.
    let child = p.b.ipsec_sas(p.now)[0].child;
    let now = p.now;
    p.b.delete_child(now, child).unwrap();
    assert_eq!(p.b.ipsec_sas(p.now).len(), 0);
    p.run(10);
    assert_eq!(released(&p.events_b), vec![FIRST]);
    assert_eq!(p.b.leases.len(), 0);
}

#[test]
fn initiate_pushes_a_set_the_client_acknowledges() {
    let p = run(
        ez_client_mode(b"vpngroup", FIRST, ClientMode::Push),
        server(AddressAssignment::Initiate),
        7,
    );
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    assert_eq!(configured(&p.events_a).and_then(|s| s.address), Some(FIRST));
    assert!(p.events_b.iter().any(|e| matches!(
        e,
        Event::ModeConfig {
            step: ModeConfigStep::Acknowledged,
            ..
        }
    )));
}

#[test]
fn without_xauth_mode_config_follows_phase_one() {
    let mut a = ez_client(b"vpngroup", FIRST);
    a.peers[0].xauth_client = None;
    let b = concentrator(|p| {
        p.mode_config = Some(ModeConfigServer {
            list: "vpngroups".into(),
            assignment: AddressAssignment::Respond,
            groups: vec![group(Ipv4Addr::new(10, 9, 1, 12))],
        });
    });
    let p = run(a, b, 8);
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    assert_eq!(configured(&p.events_a).and_then(|s| s.address), Some(FIRST));
}

#[test]
fn the_lease_is_freed_when_dpd_declares_the_client_dead() {
    let mut b = server(AddressAssignment::Respond);
    b.peers[0].dpd = Some(crate::policy::DpdConfig {
        interval_secs: 10,
        retry_secs: 2,
        mode: crate::policy::DpdMode::Periodic,
    });
    let mut p = run(ez_client(b"vpngroup", FIRST), b, 10);
    assert!(up(&p));
    // The client vanishes without a Delete.
    p.blackhole_from = Some((Side::A, p.sent_by(Side::A)));
    p.run(120_000);
    assert!(
        p.events_b
            .iter()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "{:?}",
        p.events_b
    );
    assert_eq!(released(&p.events_b), vec![FIRST]);
}
