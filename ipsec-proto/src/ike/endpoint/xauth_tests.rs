//! XAUTH over the Transaction exchange between two of our endpoints on the in-memory network:
//! an Easy VPN client (Aggressive Mode, XAUTHInitPreShared) against a concentrator with a local
//! user database; wrong passwords, retries, the refusal of 65001 without a `client
//! authentication list`, the `no-xauth` exemption, and Quick Mode held back until STATUS=OK.

use super::aggressive_tests::{client, concentrator, exchanges, failure, up, GROUP_KEY};
use super::transaction::Xauth;
use super::*;
use crate::ike::config::Phase1Id;
use crate::policy::{LocalUser, Password, XauthCredentials, XauthServer};
use crate::testing::{Pair, Side};
use crate::wire::{CfgAttrType, CfgType, ConfigPayload};

fn users(max_attempts: u8) -> XauthServer {
    XauthServer {
        list: "vpnusers".into(),
        users: vec![LocalUser {
            name: "alice".into(),
            password: Password::new("wonderland"),
        }],
        max_attempts,
    }
}

fn xauth_client(user: &str, password: &str) -> EndpointConfig {
    let mut c = client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY);
    c.peers[0].xauth_client = Some(XauthCredentials {
        name: user.into(),
        password: Password::new(password),
    });
    c
}

fn server(max_attempts: u8) -> EndpointConfig {
    concentrator(|p| p.xauth_server = Some(users(max_attempts)))
}

/// Decrypts nothing: the cfg-types can only be seen through the endpoints' own state, so the
/// log gives who sent which exchange type, in order.
fn transaction_senders(p: &Pair) -> Vec<Side> {
    exchanges(p)
        .into_iter()
        .filter(|(_, e)| *e == 6)
        .map(|(s, _)| s)
        .collect()
}

fn run(a: EndpointConfig, b: EndpointConfig, seed: u64, ms: u64) -> Pair {
    let mut p = Pair::new(a, b, seed);
    p.initiate(0, 0);
    p.run_until(ms, up);
    p
}

#[test]
fn xauth_ok_then_quick_mode_and_show_has_x_and_the_user() {
    let p = run(xauth_client("alice", "wonderland"), server(3), 1, 20_000);
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    let ex = exchanges(&p);
    // AM1..AM3, then REQUEST (B), REPLY (A), SET (B), ACK (A), and only then Quick Mode.
    assert_eq!(
        &ex[..7],
        &[
            (Side::A, 4),
            (Side::B, 4),
            (Side::A, 4),
            (Side::B, 6),
            (Side::A, 6),
            (Side::B, 6),
            (Side::A, 6)
        ],
        "{ex:?}"
    );
    assert!(ex[7..].iter().all(|(_, e)| *e == 32), "{ex:?}");
    // Both offered/echoed 65001 and both show X; the server knows the user.
    let b = p.b.isakmp_sas(p.now);
    let sa = b.iter().find(|s| s.state == IsakmpState::QmIdle).unwrap();
    assert!(sa.capabilities().ends_with('X'), "{}", sa.capabilities());
    assert_eq!(sa.xauth_user.as_deref(), Some("alice"));
    let a = p.a.isakmp_sas(p.now);
    assert_eq!(a[0].xauth_user.as_deref(), Some("alice"));
}

#[test]
fn the_request_asks_for_type_name_and_password_and_is_hashed_and_encrypted() {
    let mut p = Pair::new(xauth_client("alice", "wonderland"), server(3), 2);
    p.initiate(0, 0);
    p.run_until(5_000, |p| {
        p.log.iter().any(|(_, _, m)| m.get(18) == Some(&6))
    });
    let (side, _, req) = p
        .log
        .iter()
        .find(|(_, _, m)| m.get(18) == Some(&6))
        .unwrap();
    assert_eq!(*side, Side::B);
    let h = Header::parse(req).unwrap();
    assert!(h.flags.encrypted());
    assert_ne!(h.message_id, 0);
    // Decrypt with the server's own IV chain copy: build a fresh one from its keys would need
    // the Phase 1 IV, so decrypt through A's endpoint state instead.
    let a_sa = p.a.sas.values().next().unwrap();
    let (plain, _) = Endpoint::decrypt(a_sa, &h, req)
        .ok()
        .expect("A can decrypt the REQUEST");
    let list = PayloadList::parse(h.next_payload, &plain).unwrap();
    let (hash, after) = leading_hash(&plain, &list, "HASH")
        .ok()
        .expect("HASH first");
    let keys = a_sa.keys.as_ref().unwrap();
    assert!(keys.transaction_hash(h.message_id, after).ct_eq(hash));
    // A wrong message ID gives a different hash: the M-ID is covered.
    assert!(!keys.transaction_hash(h.message_id ^ 1, after).ct_eq(hash));
    let c = ConfigPayload::parse(list.find(PayloadType::ATTRIBUTES).unwrap().body).unwrap();
    assert_eq!(c.cfg_type(), CfgType::REQUEST);
    let kinds: Vec<u16> = c.attributes().map(|a| a.attr_type()).collect();
    assert_eq!(
        kinds,
        [
            CfgAttrType::XAUTH_TYPE.0,
            CfgAttrType::XAUTH_USER_NAME.0,
            CfgAttrType::XAUTH_USER_PASSWORD.0
        ]
    );
}

#[test]
fn a_wrong_password_is_asked_again_then_refused_and_the_sa_deleted() {
    let mut p = run(xauth_client("alice", "not-it"), server(2), 3, 20_000);
    p.run(30_000);
    assert!(!up(&p));
    // REQUEST, REPLY, REQUEST again, REPLY, SET(FAIL), ACK; then a Delete (Informational 5).
    assert_eq!(
        transaction_senders(&p),
        [Side::B, Side::A, Side::B, Side::A, Side::B, Side::A]
    );
    assert!(
        exchanges(&p).iter().any(|(s, e)| *s == Side::B && *e == 5),
        "{:?}",
        exchanges(&p)
    );
    assert!(!exchanges(&p).iter().any(|(_, e)| *e == 32));
    assert_eq!(
        failure(&p.events_b),
        Some(&Error::AuthenticationFailed(AuthFailure::XauthRejected {
            user: "alice".into(),
            attempts: 2
        }))
    );
    assert_eq!(
        failure(&p.events_a),
        Some(&Error::AuthenticationFailed(
            AuthFailure::XauthRefusedByServer
        ))
    );
    assert!(p.events_b.iter().any(|e| matches!(
        e,
        Event::Phase1Deleted {
            reason: DeleteReason::XauthFailed,
            ..
        }
    )));
    // The server holds no ISAKMP SA for the client any more.
    assert!(
        p.b.isakmp_sas(p.now).is_empty(),
        "{:?}",
        p.b.isakmp_sas(p.now)
    );
    // The reason never shows the password.
    let text = format!("{:?} {}", p.events_b, failure(&p.events_b).unwrap());
    assert!(!text.contains("not-it"), "{text}");
}

#[test]
fn a_wrong_user_name_with_the_right_password_is_refused_too() {
    let mut p = run(xauth_client("mallory", "wonderland"), server(1), 4, 20_000);
    p.run(30_000);
    assert!(!up(&p));
    assert_eq!(
        failure(&p.events_b),
        Some(&Error::AuthenticationFailed(AuthFailure::XauthRejected {
            user: "mallory".into(),
            attempts: 1
        }))
    );
}

#[test]
fn xauth_offer_without_a_client_authentication_list_is_refused_by_name() {
    let mut p = run(
        xauth_client("alice", "wonderland"),
        concentrator(|_| {}),
        5,
        10_000,
    );
    p.run(10_000);
    assert!(!up(&p));
    let e = failure(&p.events_b).expect("responder failure").to_string();
    assert!(e.contains("XAUTHInitPreShared"), "{e}");
}

#[test]
fn a_plain_pre_share_peer_runs_no_xauth_even_where_xauth_is_configured() {
    let p = run(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        server(3),
        6,
        20_000,
    );
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    assert!(transaction_senders(&p).is_empty());
    let b = p.b.isakmp_sas(p.now);
    assert!(b.iter().all(|s| !s.capabilities().contains('X')));
}

#[test]
fn a_no_xauth_address_key_refuses_the_xauth_offer() {
    let b = concentrator(|p| {
        p.xauth_server = Some(users(3));
        p.keys = vec![crate::policy::PreSharedKey {
            key: crate::policy::PskSecret::new(GROUP_KEY.to_vec()),
            encoding: crate::policy::KeyEncoding::Clear,
            peer: crate::policy::PskPeer::Address {
                addr: crate::testing::A_PRIV,
                mask: Ipv4Addr::BROADCAST,
            },
            no_xauth: true,
        }];
    });
    let mut p = run(xauth_client("alice", "wonderland"), b, 7, 10_000);
    p.run(10_000);
    assert!(!up(&p));
    assert!(transaction_senders(&p).is_empty());
    let e = failure(&p.events_b).expect("responder failure").to_string();
    assert!(e.contains("XAUTHInitPreShared"), "{e}");
}

#[test]
fn quick_mode_before_xauth_status_ok_gets_no_sa() {
    // The client is made to skip XAUTH: after Phase 1 it believes none is needed and starts
    // Quick Mode at once, while the server still waits for its REPLY.
    let mut p = Pair::new(xauth_client("alice", "wonderland"), server(3), 8);
    p.initiate(0, 0);
    p.run_until(5_000, |p| {
        p.a.sas
            .values()
            .any(|s| matches!(s.xauth, Xauth::ClientWaiting { .. }))
    });
    let id = p.a.sas.values().next().map(|s| s.id).unwrap();
    if let Some(sa) = p.a.sas.get_mut(&id) {
        sa.xauth = Xauth::NotRequired;
    }
    let now = p.now;
    p.a.drain_pending(now, id);
    p.run(5_000);
    assert!(exchanges(&p).iter().any(|(s, e)| *s == Side::A && *e == 32));
    // B answered no Quick Mode and set up nothing.
    assert!(!exchanges(&p).iter().any(|(s, e)| *s == Side::B && *e == 32));
    assert!(!p
        .events_b
        .iter()
        .any(|e| matches!(e, Event::Phase2Established(_))));
    assert!(p.b.counters().unexpected > 0);
}

#[test]
fn a_lost_request_or_a_lost_reply_is_retransmitted_and_xauth_completes() {
    // B's datagrams: AM2 (0), REQUEST (1). A's: AM1 (0), AM3 (1), REPLY (2).
    for (side, nth) in [(Side::B, 1), (Side::A, 2), (Side::B, 2), (Side::A, 3)] {
        let mut p = Pair::new(
            xauth_client("alice", "wonderland"),
            server(3),
            20 + nth as u64,
        );
        p.drop_nth = vec![(side, nth)];
        p.initiate(0, 0);
        p.run_until(60_000, up);
        assert!(
            up(&p),
            "drop {side:?} #{nth}: a {:?}\nb {:?}",
            p.events_a,
            p.events_b
        );
        assert!(p.b.counters().retransmissions > 0 || p.a.counters().retransmissions > 0);
        let b = p.b.isakmp_sas(p.now);
        assert!(b.iter().any(|s| s.xauth_user.as_deref() == Some("alice")));
    }
}

#[test]
fn a_client_that_never_answers_loses_its_sa_with_the_reason() {
    let mut p = Pair::new(xauth_client("alice", "wonderland"), server(3), 30);
    // A sends AM1 and AM3, then nothing reaches B.
    p.blackhole_from = Some((Side::A, 2));
    p.initiate(0, 0);
    p.run(600_000);
    assert!(!up(&p));
    let e = failure(&p.events_b).expect("server failure");
    assert!(
        matches!(e, Error::NoReply { .. }) && e.to_string().contains("XAUTH client never answered"),
        "{e}"
    );
    assert!(p.b.isakmp_sas(p.now).is_empty());
    // Several REQUESTs went out before giving up.
    assert!(
        transaction_senders(&p)
            .iter()
            .filter(|s| **s == Side::B)
            .count()
            > 1
    );
}

#[test]
fn each_xauth_step_is_an_event_and_no_event_carries_the_password() {
    let mut p = run(xauth_client("alice", "not-it"), server(2), 40, 20_000);
    p.run(30_000);
    use crate::ike::XauthStep as S;
    let b: Vec<&S> = p
        .events_b
        .iter()
        .filter_map(|e| match e {
            Event::Xauth { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    let wrong = |u: &str| S::ReplyReceived {
        user: u.into(),
        accepted: false,
    };
    assert_eq!(
        b,
        [
            &S::RequestSent { attempt: 1 },
            &wrong("alice"),
            &S::RequestSent { attempt: 2 },
            &wrong("alice"),
            &S::StatusSent { ok: false },
            &S::Finished {
                user: "alice".into(),
                ok: false
            },
        ]
    );
    let a: Vec<&S> = p
        .events_a
        .iter()
        .filter_map(|e| match e {
            Event::Xauth { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(a.first(), Some(&&S::Replied));
    assert!(!format!("{:?}{:?}", p.events_a, p.events_b).contains("not-it"));
}

#[test]
fn xauth_runs_after_main_mode_too() {
    use super::aggressive_tests::peer;
    use crate::testing::{A_PRIV, B_ADDR};
    let mut a = peer(B_ADDR, b"site-key", [10, 9, 1, 0], [192, 168, 2, 0]);
    a.xauth_client = Some(XauthCredentials {
        name: "alice".into(),
        password: Password::new("wonderland"),
    });
    let mut b = peer(A_PRIV, b"site-key", [192, 168, 2, 0], [10, 9, 1, 0]);
    b.xauth_server = Some(users(3));
    let cfg = |p: PeerConfig| EndpointConfig {
        peers: vec![p],
        ..EndpointConfig::default()
    };
    let p = run(cfg(a), cfg(b), 50, 20_000);
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    let ex = exchanges(&p);
    // Six Main Mode messages, four Transaction messages, then Quick Mode.
    assert!(ex[..6].iter().all(|(_, e)| *e == 2), "{ex:?}");
    assert_eq!(
        transaction_senders(&p),
        [Side::B, Side::A, Side::B, Side::A]
    );
    let first_qm = ex.iter().position(|(_, e)| *e == 32).unwrap();
    let last_tx = ex.iter().rposition(|(_, e)| *e == 6).unwrap();
    assert!(first_qm > last_tx, "{ex:?}");
    let b = p.b.isakmp_sas(p.now);
    assert!(b.iter().any(|s| s.xauth_user.as_deref() == Some("alice")));
}

/// The client's pending prompt, once its server asked and no credentials are stored.
fn prompt(p: &Pair) -> Option<IkeSaId> {
    p.a.xauth_prompts().map(|(sa, _)| sa).next()
}

fn needed(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Xauth {
                    step: crate::ike::XauthStep::CredentialsNeeded { .. },
                    ..
                }
            )
        })
        .count()
}

#[test]
fn without_stored_credentials_the_request_waits_for_the_user_then_completes() {
    let mut a = xauth_client("alice", "wonderland");
    a.peers[0].xauth_client = None;
    a.peers[0].xauth_prompt = true;
    let mut p = Pair::new(a, server(3), 50);
    p.initiate(0, 0);
    p.run_until(5_000, |p| prompt(p).is_some());
    let sa = prompt(&p).expect("the REQUEST is held for the user");
    assert_eq!(needed(&p.events_a), 1);
    // Nothing answers while the user has not typed: one REQUEST, no REPLY.
    p.run(2_000);
    assert_eq!(transaction_senders(&p), [Side::B]);
    assert!(!up(&p));
    let creds = XauthCredentials {
        name: "alice".into(),
        password: Password::new("wonderland"),
    };
    p.a.xauth_answer(sa, &creds).unwrap();
    // A second answer to the same REQUEST is refused: it was used.
    assert_eq!(
        p.a.xauth_answer(sa, &creds),
        Err(ApiMisuse::NoSuchSa.into())
    );
    p.run_until(20_000, up);
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    let b = p.b.isakmp_sas(p.now);
    let s = b.iter().find(|s| s.state == IsakmpState::QmIdle).unwrap();
    assert_eq!(s.xauth_user.as_deref(), Some("alice"));
    assert!(p.events_a.iter().any(|e| matches!(
        e,
        Event::Xauth {
            step: crate::ike::XauthStep::Finished { user, ok: true },
            ..
        } if user == "alice"
    )));
}

#[test]
fn a_wrong_typed_password_is_asked_for_again() {
    let mut a = xauth_client("alice", "wonderland");
    a.peers[0].xauth_client = None;
    a.peers[0].xauth_prompt = true;
    let mut p = Pair::new(a, server(3), 51);
    p.initiate(0, 0);
    p.run_until(5_000, |p| prompt(p).is_some());
    let sa = prompt(&p).unwrap();
    let wrong = XauthCredentials {
        name: "alice".into(),
        password: Password::new("not-it"),
    };
    p.a.xauth_answer(sa, &wrong).unwrap();
    assert!(prompt(&p).is_none());
    p.run_until(5_000, |p| prompt(p).is_some());
    assert_eq!(
        prompt(&p),
        Some(sa),
        "the server's second REQUEST is held too"
    );
    assert_eq!(needed(&p.events_a), 2);
    let right = XauthCredentials {
        name: "alice".into(),
        password: Password::new("wonderland"),
    };
    p.a.xauth_answer(sa, &right).unwrap();
    p.run_until(20_000, up);
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
}

#[test]
fn an_unanswered_prompt_ends_at_the_servers_timeout() {
    let mut a = xauth_client("alice", "wonderland");
    a.peers[0].xauth_client = None;
    a.peers[0].xauth_prompt = true;
    let mut p = Pair::new(a, server(3), 52);
    p.initiate(0, 0);
    p.run(120_000);
    assert!(!up(&p));
    assert!(
        p.b.isakmp_sas(p.now).is_empty(),
        "{:?}",
        p.b.isakmp_sas(p.now)
    );
    assert!(failure(&p.events_b).is_some(), "{:?}", p.events_b);
}
