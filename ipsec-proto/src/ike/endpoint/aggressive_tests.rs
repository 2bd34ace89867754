//! Aggressive Mode between two of our endpoints on the in-memory network: both roles, every
//! identity type, lost and repeated messages, NAT-T, wrong keys, the decoy answer for unknown
//! identities and the switch that turns the responder off.

use super::*;
use crate::ike::config::{IdentityKey, Phase1Id};
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use crate::testing::{assert_keys_match, Pair, Side, A_PRIV, B_ADDR};

pub(super) const GROUP_KEY: &[u8] = b"vpngroup-secret";

fn net24(a: [u8; 4]) -> TrafficSelector {
    TrafficSelector::subnet(Ipv4Addr::from(a), Ipv4Addr::new(255, 255, 255, 0))
}

pub(super) fn peer(addr: Ipv4Addr, psk: &[u8], local: [u8; 4], remote: [u8; 4]) -> PeerConfig {
    let mut p = PeerConfig::new(addr, PskSecret::new(psk));
    p.isakmp_policies = vec![
        IsakmpPolicy {
            priority: 10,
            encryption: IkeEncryption::Aes { bits: 128 },
            hash: IkeHash::Sha1,
            authentication: IkeAuth::PreShare,
            group: 2,
            lifetime_secs: 86_400,
        },
        IsakmpPolicy {
            priority: 20,
            encryption: IkeEncryption::TripleDes,
            hash: IkeHash::Md5,
            authentication: IkeAuth::PreShare,
            group: 2,
            lifetime_secs: 86_400,
        },
    ];
    p.transform_sets = vec![TransformSet {
        name: "T".into(),
        esp_encryption: EspEncryption::Aes128,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    }];
    p.selectors = vec![SelectorPair {
        local: net24(local),
        remote: net24(remote),
    }];
    p
}

/// A: a remote-access client initiating Aggressive Mode as `id` with `key`.
pub(super) fn client(id: Phase1Id, key: &[u8]) -> EndpointConfig {
    let mut p = peer(B_ADDR, key, [10, 9, 1, 0], [192, 168, 2, 0]);
    p.aggressive = Some(id);
    EndpointConfig {
        peers: vec![p],
        ..EndpointConfig::default()
    }
}

/// B: a wildcard entry (dynamic crypto map) that keys Aggressive Mode initiators by identity.
pub(super) fn concentrator(tune: impl FnOnce(&mut PeerConfig)) -> EndpointConfig {
    let mut p = peer(Ipv4Addr::UNSPECIFIED, b"", [192, 168, 2, 0], [10, 9, 1, 0]);
    p.identity_keys = vec![
        IdentityKey {
            id: Phase1Id::KeyId(b"vpngroup".to_vec()),
            key: PskSecret::new(GROUP_KEY),
        },
        IdentityKey {
            id: Phase1Id::Fqdn("branch.example.net".into()),
            key: PskSecret::new(b"fqdn-key".to_vec()),
        },
        IdentityKey {
            id: Phase1Id::UserFqdn("alice@example.net".into()),
            key: PskSecret::new(b"user-key".to_vec()),
        },
    ];
    tune(&mut p);
    EndpointConfig {
        peers: vec![p],
        aggressive_mode: true,
        ..EndpointConfig::default()
    }
}

pub(super) fn up(p: &Pair) -> bool {
    let two = |v: &[Event]| v.iter().any(|e| matches!(e, Event::Phase2Established(_)));
    two(&p.events_a) && two(&p.events_b)
}

pub(super) fn failure(v: &[Event]) -> Option<&Error> {
    v.iter().find_map(|e| match e {
        Event::NegotiationFailed { error, .. } => Some(error),
        _ => None,
    })
}

/// Exchange types of the logged datagrams (ISAKMP only, marker stripped).
pub(super) fn exchanges(p: &Pair) -> Vec<(Side, u8)> {
    p.log
        .iter()
        .filter(|(_, _, m)| m.len() >= 28)
        .map(|(s, _, m)| (*s, m[18]))
        .collect()
}

/// The states an endpoint announced, in order.
fn states(v: &[Event]) -> Vec<&'static str> {
    v.iter()
        .filter_map(|e| match e {
            Event::IsakmpStateChanged { to: Some(s), .. } => Some(s.name()),
            _ => None,
        })
        .collect()
}

fn connect(a: EndpointConfig, b: EndpointConfig, seed: u64) -> Pair {
    let mut p = Pair::new(a, b, seed);
    p.initiate(0, 0);
    p.run_until(20_000, up);
    p
}

#[test]
fn key_id_group_both_roles_reach_qm_idle_then_quick_mode() {
    let p = connect(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        concentrator(|_| {}),
        1,
    );
    assert!(up(&p), "a: {:?}\nb: {:?}", p.events_a, p.events_b);
    assert_keys_match(&p.events_a, &p.events_b);
    // Three Aggressive Mode messages, then Quick Mode (and nothing in Main Mode).
    let ex = exchanges(&p);
    assert_eq!(
        &ex[..3],
        &[(Side::A, 4), (Side::B, 4), (Side::A, 4)],
        "{ex:?}"
    );
    assert!(ex[3..].iter().all(|(_, e)| *e == 32), "{ex:?}");
    // AM3 is encrypted (as IOS sends it); AM1 and AM2 are not.
    assert_eq!(p.log[0].2[19] & 1, 0);
    assert_eq!(p.log[1].2[19] & 1, 0);
    assert_eq!(p.log[2].2[19] & 1, 1);
    assert_eq!(states(&p.events_a).first(), Some(&"AG_NO_STATE"));
    assert!(states(&p.events_a).contains(&"QM_IDLE"));
    assert_eq!(states(&p.events_b).first(), Some(&"AG_INIT_EXCH"));
    assert!(states(&p.events_b).contains(&"QM_IDLE"));
    let shown = p.b.isakmp_sas(p.now);
    assert!(
        shown.iter().any(|s| s.state == IsakmpState::QmIdle),
        "{shown:?}"
    );
}

#[test]
fn am1_carries_the_id_as_configured_and_offers_one_group() {
    let mut p = Pair::new(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        concentrator(|_| {}),
        2,
    );
    p.initiate(0, 0);
    p.run_until(1, |p| !p.log.is_empty());
    let am1 = &p.log[0].2;
    let h = Header::parse(am1).unwrap();
    assert_eq!(h.exchange, ExchangeType::AGGRESSIVE);
    assert_eq!(h.responder_cookie, Cookie::ZERO);
    let list = PayloadList::parse(h.next_payload, &am1[HEADER_LEN..]).unwrap();
    let kinds: Vec<PayloadType> = list.as_slice().iter().map(|p| p.ty).collect();
    assert_eq!(
        &kinds[..4],
        &[
            PayloadType::SA,
            PayloadType::KE,
            PayloadType::NONCE,
            PayloadType::ID
        ]
    );
    // ID_KEY_ID, UDP, port 500, the group name.
    let id = list.find(PayloadType::ID).unwrap().body;
    assert_eq!(id, b"\x0b\x11\x01\xf4vpngroup");
    // MODP 1024: 128 bytes of g^x.
    assert_eq!(list.find(PayloadType::KE).unwrap().body.len(), 128);
}

#[test]
fn fqdn_user_fqdn_and_address_identities_pick_their_keys() {
    for (n, (id, key)) in [
        (
            Phase1Id::Fqdn("BRANCH.example.net".into()),
            b"fqdn-key".as_slice(),
        ),
        (Phase1Id::UserFqdn("alice@example.net".into()), b"user-key"),
        (Phase1Id::Ipv4(A_PRIV), b"address-key"),
    ]
    .into_iter()
    .enumerate()
    {
        let b = concentrator(|p| {
            p.keys = vec![crate::policy::PreSharedKey {
                key: PskSecret::new(b"address-key".to_vec()),
                encoding: crate::policy::KeyEncoding::Clear,
                peer: crate::policy::PskPeer::Address {
                    addr: A_PRIV,
                    mask: Ipv4Addr::BROADCAST,
                },
                no_xauth: false,
            }];
        });
        let p = connect(client(id.clone(), key), b, 10 + n as u64);
        assert!(up(&p), "{id}: a {:?}\nb {:?}", p.events_a, p.events_b);
    }
}

#[test]
fn a_wrong_group_key_fails_at_hash_r_on_the_initiator() {
    let mut p = connect(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), b"not-the-key"),
        concentrator(|_| {}),
        3,
    );
    p.run(60_000);
    assert!(!up(&p));
    assert_eq!(
        failure(&p.events_a),
        Some(&Error::AuthenticationFailed(AuthFailure::HashMismatch(
            "HASH_R"
        )))
    );
    // No AM3 ever left A: two messages in Aggressive Mode from it would mean it went on.
    let from_a = exchanges(&p)
        .iter()
        .filter(|(s, e)| *s == Side::A && *e == 4)
        .count();
    assert_eq!(from_a, 1);
}

/// The answers to AM1s naming a known and an unknown group, as payload types and lengths.
fn am2_shape(id: &[u8], seed: u64) -> Vec<(PayloadType, usize)> {
    let mut p = Pair::new(
        client(Phase1Id::KeyId(id.to_vec()), GROUP_KEY),
        concentrator(|_| {}),
        seed,
    );
    p.initiate(0, 0);
    p.run_until(1_000, |p| p.log.iter().any(|(s, _, _)| *s == Side::B));
    let am2 = &p.log.iter().find(|(s, _, _)| *s == Side::B).unwrap().2;
    let h = Header::parse(am2).unwrap();
    assert_eq!(h.exchange, ExchangeType::AGGRESSIVE);
    let list = PayloadList::parse(h.next_payload, &am2[HEADER_LEN..]).unwrap();
    let shape = list
        .as_slice()
        .iter()
        .map(|p| (p.ty, p.raw.len()))
        .collect();
    assert_eq!(h.length as usize, am2.len());
    shape
}

#[test]
fn an_unknown_group_gets_an_am2_shaped_exactly_like_a_known_ones() {
    // Same length of name, so the AM1s (and the ID echoes nothing) differ only in content.
    let known = am2_shape(b"vpngroup", 4);
    let unknown = am2_shape(b"nogroup1", 4);
    assert_eq!(known, unknown);
    assert!(
        known.iter().any(|(t, _)| *t == PayloadType::HASH),
        "{known:?}"
    );
    // A name of another length changes nothing either: AM2 does not echo IDii.
    assert_eq!(known, am2_shape(b"x", 5));
}

#[test]
fn an_unknown_group_is_counted_and_its_am3_fails_as_an_unknown_identity() {
    let mut p = Pair::new(
        client(Phase1Id::KeyId(b"guessed".to_vec()), GROUP_KEY),
        concentrator(|_| {}),
        6,
    );
    p.initiate(0, 0);
    p.run(60_000);
    assert!(!up(&p));
    assert_eq!(p.b.counters().aggressive_unknown_identity, 1);
    // Our own client cannot verify the decoy HASH_R.
    assert_eq!(
        failure(&p.events_a),
        Some(&Error::AuthenticationFailed(AuthFailure::HashMismatch(
            "HASH_R"
        )))
    );
    // Someone holding the decoy key (only possible with our local secret) still gets nowhere:
    // give the client exactly that key and its HASH_I verifies, yet the responder refuses.
    let mut p = Pair::new(
        client(Phase1Id::KeyId(b"guessed".to_vec()), b"placeholder"),
        concentrator(|_| {}),
        7,
    );
    p.initiate(0, 0);
    p.run_until(1_000, |p| p.log.iter().any(|(s, _, _)| *s == Side::B));
    let secret = p.b.am.secret.as_ref().unwrap().expose_secret().to_vec();
    let decoy = super::aggressive::decoy_key(HashAlg::Sha1, &secret, b"\x0b\x11\x01\xf4guessed");
    let mut cfg = client(Phase1Id::KeyId(b"guessed".to_vec()), decoy.expose());
    cfg.peers[0].isakmp_policies.truncate(1);
    let mut q = Pair::with_endpoints(
        Endpoint::new(cfg, Rng::from_u64(70)),
        A_PRIV,
        std::mem::replace(
            &mut p.b,
            Endpoint::new(EndpointConfig::default(), Rng::from_u64(0)),
        ),
        B_ADDR,
        p.now,
        71,
    );
    q.initiate(0, 0);
    q.run(10_000);
    assert!(
        q.events_a
            .iter()
            .any(|e| matches!(e, Event::Phase1Established { .. })),
        "the client verified the decoy HASH_R: {:?}",
        q.events_a
    );
    assert_eq!(
        failure(&q.events_b),
        Some(&Error::AuthenticationFailed(AuthFailure::UnknownIdentity(
            "ID_KEY_ID guessed".into()
        )))
    );
    assert!(!q
        .events_b
        .iter()
        .any(|e| matches!(e, Event::Phase1Established { .. })));
}

#[test]
fn each_lost_message_is_recovered_by_retransmission() {
    // A's AM1 (its datagram 0), B's AM2 (its 0), A's AM3 (its 1).
    for (n, lost) in [(Side::A, 0usize), (Side::B, 0), (Side::A, 1)]
        .into_iter()
        .enumerate()
    {
        let side = lost.0;
        let mut p = Pair::new(
            client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
            concentrator(|_| {}),
            20 + n as u64,
        );
        p.drop_nth = vec![lost];
        p.initiate(0, 0);
        assert!(
            p.run_until(60_000, up),
            "lost {lost:?} of {side:?}: a {:?}\nb {:?}",
            p.events_a,
            p.events_b
        );
        assert_keys_match(&p.events_a, &p.events_b);
        assert!(p.a.counters().retransmissions + p.b.counters().retransmissions >= 1);
    }
}

#[test]
fn duplicated_messages_get_the_cached_answer() {
    let mut p = Pair::new(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        concentrator(|_| {}),
        30,
    );
    p.dup = 1.0;
    p.initiate(0, 0);
    assert!(p.run_until(20_000, up));
    assert!(p.b.counters().duplicates >= 1);
    assert_eq!(
        p.b.isakmp_sas(p.now).len(),
        1,
        "a repeated AM1 made a second SA"
    );
}

#[test]
fn behind_a_nat_am3_floats_to_4500_and_quick_mode_uses_udp_encapsulation() {
    let mut p = Pair::new(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        concentrator(|_| {}),
        40,
    );
    p.nat = true;
    p.initiate(0, 0);
    assert!(p.run_until(20_000, up), "{:?} {:?}", p.events_a, p.events_b);
    // AM3 is A's second datagram: from 4500 with the marker.
    let am3 = p
        .log
        .iter()
        .zip(&p.log_ports)
        .filter(|((s, _, _), _)| *s == Side::A)
        .nth(1)
        .unwrap();
    assert!(am3.0 .1, "AM3 without the non-ESP marker");
    assert_eq!(am3.1 .1, 4500);
    let established = p.events_b.iter().find_map(|e| match e {
        Event::Phase2Established(x) => Some(x),
        _ => None,
    });
    assert!(established.unwrap().udp_encap);
    let nat = p.events_a.iter().find_map(|e| match e {
        Event::Phase1Established { nat, .. } => Some(*nat),
        _ => None,
    });
    assert!(nat.unwrap().local_behind_nat);
}

#[test]
fn aggressive_mode_disabled_drops_am1_and_counts_it() {
    let mut b = concentrator(|_| {});
    b.aggressive_mode = false;
    let mut p = Pair::new(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        b,
        50,
    );
    p.initiate(0, 0);
    p.run(5_000);
    assert!(!up(&p));
    assert!(p.b.counters().aggressive_disabled >= 1);
    assert!(p.log.iter().all(|(s, _, _)| *s == Side::A), "B answered");
}

#[test]
fn main_mode_still_runs_beside_aggressive_mode() {
    // The same responder answers a Main Mode peer keyed by address.
    let mut b = concentrator(|_| {});
    b.peers[0].psk = PskSecret::new(b"mm-key".to_vec());
    let mut a = client(Phase1Id::KeyId(b"vpngroup".to_vec()), b"mm-key");
    a.peers[0].aggressive = None;
    let p = connect(a, b, 60);
    assert!(up(&p));
    assert!(exchanges(&p).iter().any(|(_, e)| *e == 2));
}

fn take(ep: &mut Endpoint, now: Instant) -> Vec<(Path, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(Some(t)) = ep.poll_transmit(now, &mut buf) {
        out.push((t.path, buf[..t.len].to_vec()));
    }
    out
}

/// strongSwan sends AM3 in clear (RFC 2409's figure has no `*` on it); Cisco encrypts it. The
/// responder takes either: here an AM3 built by hand in clear, HASH_I computed from the
/// initiator's own material, brings it to QM_IDLE.
#[test]
fn a_cleartext_am3_is_accepted() {
    let now = Instant::from_millis(1_000);
    let mut a = Endpoint::new(
        client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY),
        Rng::from_u64(80),
    );
    let mut b = Endpoint::new(concentrator(|_| {}), Rng::from_u64(81));
    a.initiate(now, PeerId(0), 0).unwrap();
    let (_, am1) = take(&mut a, now).remove(0);
    let at_b = Path {
        local: SocketAddr::new(B_ADDR.into(), 500),
        remote: SocketAddr::new(A_PRIV.into(), 500),
    };
    b.handle_datagram(now, at_b, &am1).unwrap();
    let (_, am2) = take(&mut b, now).remove(0);
    let h2 = Header::parse(&am2).unwrap();
    let list = PayloadList::parse(h2.next_payload, &am2[HEADER_LEN..]).unwrap();
    let gxr = list.find(PayloadType::KE).unwrap().body;
    let nr = list.find(PayloadType::NONCE).unwrap().body;
    let sa = a.sas.values().next().unwrap();
    let hs = sa.hs();
    let gxy = hs.dh.as_ref().unwrap().compute_shared(gxr).unwrap();
    // The first policy: AES-128, SHA-1.
    let keys = Phase1Keys::from_psk(
        HashAlg::Sha1,
        crate::crypto::cipher::CipherAlg::Aes128,
        GROUP_KEY,
        &hs.ni,
        nr,
        gxy.expose_secret(),
        &sa.ci,
        &h2.responder_cookie.0,
    );
    let hash_i = keys.hash_i(&hs.gxi, gxr, &hs.sai_b, &hs.idii);
    let h3 = Header::new(
        Cookie(sa.ci),
        h2.responder_cookie,
        ExchangeType::AGGRESSIVE,
        Flags(0),
        0,
    );
    let mut buf = vec![0u8; 512];
    let mut m = MessageBuilder::new(&mut buf, h3).unwrap();
    m.add_hash(&hash_i).unwrap();
    let am3 = m.finish().unwrap().to_vec();
    // A wrong hash in clear fails like a wrong key...
    let mut bad = am3.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut b2 = Endpoint::new(concentrator(|_| {}), Rng::from_u64(81));
    b2.handle_datagram(now, at_b, &am1).unwrap();
    let _ = b2.handle_datagram(now, at_b, &bad);
    let failed = std::iter::from_fn(|| b2.poll_event()).find_map(|e| match e {
        Event::NegotiationFailed { error, .. } => Some(error),
        _ => None,
    });
    assert_eq!(
        failed,
        Some(Error::AuthenticationFailed(AuthFailure::HashMismatch(
            "HASH_I"
        )))
    );
    // ...and the right one establishes.
    b.handle_datagram(now, at_b, &am3).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Phase1Established {
                role: Role::Responder,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(b.isakmp_sas(now)[0].state, IsakmpState::QmIdle);
}

/// The Phase 1 rekey of an SA we initiated in Aggressive Mode is Aggressive Mode again.
#[test]
fn the_phase1_rekey_of_an_aggressive_mode_sa_is_aggressive_mode() {
    let mut a = client(Phase1Id::KeyId(b"vpngroup".to_vec()), GROUP_KEY);
    let mut b = concentrator(|_| {});
    for p in a.peers.iter_mut().chain(b.peers.iter_mut()) {
        for pol in &mut p.isakmp_policies {
            pol.lifetime_secs = 600;
        }
    }
    let mut p = Pair::new(a, b, 90);
    p.initiate(0, 0);
    assert!(p.run_until(20_000, up));
    p.run(600_000);
    let am1s = p
        .log
        .iter()
        .filter(|(s, _, m)| *s == Side::A && m.len() > 28 && m[18] == 4 && m[8..16] == [0; 8])
        .count();
    assert!(am1s >= 2, "no second AM1: {:?}", exchanges(&p));
    assert!(
        !exchanges(&p).iter().any(|(_, e)| *e == 2),
        "Main Mode was used"
    );
    let p1 = p
        .events_b
        .iter()
        .filter(|e| matches!(e, Event::Phase1Established { .. }))
        .count();
    assert!(p1 >= 2, "{:?}", p.events_b);
}
