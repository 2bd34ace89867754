//! Golden encodings and the error-to-notify mapping.

use super::error::{AuthFailure, Error, InvalidMessage, NotifyType, PeerIncompatible};
use super::evidence::{Phase1Evidence, Phase1Refusal, ProposalEvidence};
use super::proposal::{self, Phase2Offer};
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn seed_policy() -> IsakmpPolicy {
    IsakmpPolicy {
        priority: 1,
        encryption: IkeEncryption::TripleDes,
        hash: IkeHash::Sha1,
        authentication: IkeAuth::PreShare,
        group: 2,
        lifetime_secs: 86_400,
    }
}

#[test]
fn mm1_sa_payload_is_sai_b_of_test_vector_5_2() {
    let p = seed_policy();
    let body = proposal::phase1_sa_body(&[&p], false, false).unwrap();
    assert_eq!(
        body,
        hex("00000001000000010000002c01010001000000240101000080010005800200028003000180040002800b0001000c000400015180")
    );
}

#[test]
fn qm1_transform_is_ios_order() {
    let ts = TransformSet {
        name: "TRANSFORM".into(),
        esp_encryption: EspEncryption::TripleDes,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    };
    let offer = Phase2Offer {
        spi: 0x1122_3344,
        lifetime_secs: 3600,
        lifetime_kb: 4_608_000,
        pfs_group: None,
        udp_encap: false,
        draft_encap: false,
    };
    let body = proposal::phase2_sa_body(std::slice::from_ref(&ts), &offer).unwrap();
    // DOI, situation | proposal #1 ESP, SPI size 4, 1 transform, SPI | transform #1 ESP_3DES:
    // encaps 1 (Tunnel), life type seconds, 3600 (TV), life type kilobytes, 4608000 (4-byte TLV),
    // authenticator HMAC-SHA.
    assert_eq!(
        body,
        hex(
            "00000001 00000001 00000030 01030401 11223344 00000024 01030000
             80040001 80010001 80020e10 80010002 00020004 00465000 80050002"
        )
    );
    // AES-256 with PFS group 14 behind a NAT: key length and group come last, encaps 3.
    let aes = TransformSet {
        esp_encryption: EspEncryption::Aes256,
        ..ts
    };
    let offer = Phase2Offer {
        pfs_group: Some(14),
        udp_encap: true,
        ..offer
    };
    let body = proposal::phase2_sa_body(&[aes], &offer).unwrap();
    assert!(body.ends_with(&hex(
        "80040003 80010001 80020e10 80010002 00020004 00465000 80050002 80060100 8003000e"
    )));
}

#[test]
fn responder_walks_transforms_against_policies_by_priority() {
    let mut aes = seed_policy();
    aes.priority = 5;
    aes.encryption = IkeEncryption::Aes { bits: 256 };
    aes.group = 14;
    let tdes = seed_policy();
    let offer = proposal::phase1_sa_body(&[&aes, &tdes], false, false).unwrap();
    let mut only = seed_policy();
    only.lifetime_secs = 600;
    let (suite, pnum, echoed) = proposal::choose_phase1(&offer, &[&only], false, false)
        .unwrap()
        .unwrap();
    assert_eq!(pnum, 1);
    assert_eq!(suite.lifetime_secs, 600);
    assert_eq!(
        echoed[0], 2,
        "the second transform was chosen and is echoed with its number"
    );
    let mut md5 = seed_policy();
    md5.hash = IkeHash::Md5;
    let err = proposal::choose_phase1(&offer, &[&md5], false, false)
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("transform 1 vs priority 1 policy: encryption offered AES-256 does not match policy 3DES"), "{text}");
    assert!(
        text.contains(
            "transform 2 vs priority 1 policy: hash offered SHA does not match policy MD5"
        ),
        "{text}"
    );
}

#[test]
fn errors_map_to_responder_notifies() {
    let npc = Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(
        ProposalEvidence::Phase1(Phase1Evidence {
            refusals: vec![Phase1Refusal::NoPolicy],
        }),
    ));
    assert_eq!(npc.notify_to_send(), Some(NotifyType::NO_PROPOSAL_CHOSEN));
    let ids = Error::PeerIncompatible(proposal::proxy_mismatch(
        TrafficSelector::subnet([10, 0, 0, 1].into(), std::net::Ipv4Addr::BROADCAST),
        TrafficSelector::subnet([10, 0, 0, 2].into(), std::net::Ipv4Addr::BROADCAST),
        &[],
    ));
    assert_eq!(ids.notify_to_send(), Some(NotifyType::NO_PROPOSAL_CHOSEN));
    let hash = Error::AuthenticationFailed(AuthFailure::HashMismatch("HASH(1)"));
    assert_eq!(
        hash.notify_to_send(),
        Some(NotifyType::INVALID_HASH_INFORMATION)
    );
    let bad = Error::InvalidMessage(InvalidMessage::MissingPayload("SA"));
    assert_eq!(bad.notify_to_send(), None, "malformed input gets silence");
}

#[test]
fn zero_lifetimes_mean_no_proposal_and_minimum_wins() {
    let ts = TransformSet {
        name: "T".into(),
        esp_encryption: EspEncryption::Aes128,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    };
    let offer = |secs, kb| Phase2Offer {
        spi: 0x1000,
        lifetime_secs: secs,
        lifetime_kb: kb,
        pfs_group: None,
        udp_encap: false,
        draft_encap: false,
    };
    let sets = std::slice::from_ref(&ts);
    let body = proposal::phase2_sa_body(sets, &offer(0, 0)).unwrap();
    let c = proposal::choose_phase2(&body, sets, None, 3600, 4_608_000)
        .unwrap()
        .unwrap();
    assert_eq!((c.lifetime_secs, c.lifetime_kb), (3600, 4_608_000));
    // 86400 s does not fit a TV attribute and goes as a 4-byte TLV; the shorter one wins.
    let body = proposal::phase2_sa_body(sets, &offer(86_400, 1000)).unwrap();
    let c = proposal::choose_phase2(&body, sets, None, 3600, 4_608_000)
        .unwrap()
        .unwrap();
    assert_eq!((c.lifetime_secs, c.lifetime_kb), (3600, 1000));
    assert_eq!(c.peer_spi, 0x1000);
    // PFS required but not offered.
    let err = proposal::choose_phase2(&body, sets, Some(2), 3600, 4_608_000)
        .unwrap()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("we require PFS group 2, the peer offered no PFS"),
        "{err}"
    );
}

#[test]
fn a_disabled_volume_lifetime_proposes_seconds_only_and_adopts_the_peers() {
    use crate::policy::KILOBYTES_DISABLED;
    let ts = TransformSet {
        name: "TRANSFORM".into(),
        esp_encryption: EspEncryption::TripleDes,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    };
    let offer = |kb| Phase2Offer {
        spi: 0x1122_3344,
        lifetime_secs: 3600,
        lifetime_kb: kb,
        pfs_group: None,
        udp_encap: false,
        draft_encap: false,
    };
    let sets = std::slice::from_ref(&ts);
    let body = proposal::phase2_sa_body(sets, &offer(KILOBYTES_DISABLED)).unwrap();
    // encaps 1, life type seconds, 3600, authenticator HMAC-SHA: no life type kilobytes.
    assert_eq!(
        body,
        hex(
            "00000001 00000001 00000024 01030401 11223344 00000018 01030000
             80040001 80010001 80020e10 80050002"
        )
    );
    // A responder with no volume lifetime keeps none when none is proposed...
    let c = proposal::choose_phase2(&body, sets, None, 3600, KILOBYTES_DISABLED)
        .unwrap()
        .unwrap();
    assert_eq!((c.lifetime_secs, c.lifetime_kb), (3600, KILOBYTES_DISABLED));
    // ...and adopts the initiator's when it proposes one.
    let body = proposal::phase2_sa_body(sets, &offer(10_000)).unwrap();
    let c = proposal::choose_phase2(&body, sets, None, 3600, KILOBYTES_DISABLED)
        .unwrap()
        .unwrap();
    assert_eq!(c.lifetime_kb, 10_000);
    // RESPONDER-LIFETIME with no volume lifetime carries the seconds only.
    let data = proposal::responder_lifetime_data(600, KILOBYTES_DISABLED).unwrap();
    assert_eq!(
        proposal::parse_responder_lifetime(&data).unwrap(),
        (Some(600), None)
    );
}
