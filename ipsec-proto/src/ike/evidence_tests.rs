//! The refusal evidence as data: built from real SA payloads by the proposal code, inspected
//! field by field, and its prose checked against the wording the debug and diagnosis rely on.

use super::error::{ApiMisuse, Error, PeerIncompatible, PeerMisbehaved};
use super::evidence::*;
use super::proposal::{self, Phase2Offer};
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy};
use std::net::Ipv4Addr;

fn policy(priority: u16, encryption: IkeEncryption, hash: IkeHash, group: u16) -> IsakmpPolicy {
    IsakmpPolicy {
        priority,
        encryption,
        hash,
        authentication: IkeAuth::PreShare,
        group,
        lifetime_secs: 86_400,
    }
}

fn tset(e: EspEncryption, i: EspIntegrity) -> TransformSet {
    TransformSet {
        name: "T".into(),
        esp_encryption: e,
        esp_integrity: i,
        mode: EspMode::Tunnel,
    }
}

fn offer(pfs_group: Option<u16>) -> Phase2Offer {
    Phase2Offer {
        spi: 0x1000,
        lifetime_secs: 3600,
        lifetime_kb: 4_608_000,
        pfs_group,
        udp_encap: false,
        draft_encap: false,
    }
}

fn phase1_refusal(offered: &[&IsakmpPolicy], ours: &[&IsakmpPolicy]) -> Phase1Evidence {
    let body = proposal::phase1_sa_body(offered, false, false).unwrap();
    match proposal::choose_phase1(&body, ours, false, false).unwrap() {
        Err(PeerIncompatible::NoProposalChosen(ProposalEvidence::Phase1(e))) => e,
        other => panic!("expected a Phase 1 refusal, got {other:?}"),
    }
}

#[test]
fn aes256_against_3des_policy_names_encryption_with_both_values() {
    let theirs = policy(5, IkeEncryption::Aes { bits: 256 }, IkeHash::Sha1, 14);
    let ours = policy(10, IkeEncryption::TripleDes, IkeHash::Sha1, 14);
    let e = phase1_refusal(&[&theirs], &[&ours]);
    let m: Vec<&Phase1Mismatch> = e.mismatches().collect();
    assert_eq!(m.len(), 1, "{e:?}");
    let m = m[0];
    assert_eq!((m.transform, m.policy), (1, 10));
    assert_eq!(m.attribute(), Phase1Attribute::Encryption);
    let Phase1Difference::Encryption { offered, ours } = m.difference else {
        panic!("{m:?}");
    };
    assert_eq!(offered.to_policy(), Some(IkeEncryption::Aes { bits: 256 }));
    assert_eq!(ours.to_policy(), Some(IkeEncryption::TripleDes));
    assert_eq!(
        offered,
        Phase1Encryption {
            id: 7,
            key_bits: Some(256)
        }
    );
    // The whole transform as offered travels with the mismatch.
    assert_eq!(m.offered.hash.to_policy(), Some(IkeHash::Sha1));
    assert_eq!(m.offered.authentication, Phase1Auth::PRE_SHARE);
    assert_eq!(m.offered.group, 14);
    assert_eq!(
        m.to_string(),
        "transform 1 vs priority 10 policy: encryption offered AES-256 does not match policy 3DES"
    );
    let err = Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(
        ProposalEvidence::Phase1(e),
    ));
    assert_eq!(
        err.to_string(),
        "no proposal chosen: phase 1 SA policy not acceptable: transform 1 vs priority 10 policy: encryption offered AES-256 does not match policy 3DES"
    );
}

#[test]
fn each_phase1_attribute_is_reported_in_ios_order() {
    let theirs = policy(1, IkeEncryption::TripleDes, IkeHash::Sha1, 2);
    let hash = policy(1, IkeEncryption::TripleDes, IkeHash::Sha256, 2);
    let group = policy(2, IkeEncryption::TripleDes, IkeHash::Sha1, 14);
    let mut rsa = policy(3, IkeEncryption::TripleDes, IkeHash::Sha1, 2);
    rsa.authentication = IkeAuth::RsaSig;
    let e = phase1_refusal(&[&theirs], &[&hash, &group, &rsa]);
    let diffs: Vec<Phase1Difference> = e.mismatches().map(|m| m.difference).collect();
    assert_eq!(
        diffs,
        vec![
            Phase1Difference::Hash {
                offered: Phase1Hash(2),
                ours: Phase1Hash(4)
            },
            Phase1Difference::Group {
                offered: 2,
                ours: 14
            },
            Phase1Difference::PolicyAuthenticationUnsupported(IkeAuth::RsaSig),
        ]
    );
    assert_eq!(diffs[2].attribute(), Phase1Attribute::Authentication);
    let text = e.to_string();
    assert!(
        text.contains("hash offered SHA does not match policy SHA256"),
        "{text}"
    );
    assert!(
        text.contains("Diffie-Hellman group offered 2 does not match policy group 14"),
        "{text}"
    );
    assert!(text.contains("not pre-share"), "{text}");
}

#[test]
fn no_policy_and_nothing_offered_are_evidence_too() {
    let theirs = policy(1, IkeEncryption::TripleDes, IkeHash::Sha1, 2);
    let e = phase1_refusal(&[&theirs], &[]);
    assert_eq!(e.refusals, vec![Phase1Refusal::NoPolicy]);
    assert!(e.to_string().ends_with("no ISAKMP policy configured"));
}

#[test]
fn responder_choosing_unoffered_phase1_transform_carries_it() {
    let answer = policy(1, IkeEncryption::Aes { bits: 128 }, IkeHash::Md5, 5);
    let body = proposal::phase1_sa_body(&[&answer], false, false).unwrap();
    let ours = policy(1, IkeEncryption::TripleDes, IkeHash::Sha1, 2);
    let Err(u) = proposal::accept_phase1_answer(&body, &[&ours], false, false).unwrap() else {
        panic!("accepted an unoffered transform");
    };
    let Unoffered::Phase1(t) = u else {
        panic!("{u:?}")
    };
    assert_eq!(
        t.encryption.to_policy(),
        Some(IkeEncryption::Aes { bits: 128 })
    );
    assert_eq!((t.hash.to_policy(), t.group), (Some(IkeHash::Md5), 5));
    let e = Error::PeerMisbehaved(PeerMisbehaved::ChoseUnoffered(u));
    assert!(
        e.to_string()
            .ends_with("did not offer: AES-128 MD5 pre-share group 5"),
        "{e}"
    );
}

#[test]
fn transform_set_mismatch_carries_the_offered_transform_and_our_sets() {
    let theirs = tset(EspEncryption::Aes256, EspIntegrity::Md5);
    let body = proposal::phase2_sa_body(std::slice::from_ref(&theirs), &offer(None)).unwrap();
    let ours = vec![
        tset(EspEncryption::TripleDes, EspIntegrity::Sha1),
        tset(EspEncryption::Aes128, EspIntegrity::Sha256),
    ];
    let Err(PeerIncompatible::NoProposalChosen(ProposalEvidence::Phase2(e))) =
        proposal::choose_phase2(&body, &ours, None, 3600, 4_608_000).unwrap()
    else {
        panic!("accepted");
    };
    assert_eq!(e.ours, ours);
    let offered: Vec<&EspTransform> = e.offered().collect();
    assert_eq!(offered.len(), 1);
    let t = offered[0];
    assert_eq!(
        *t,
        EspTransform {
            transform_id: 12,
            key_bits: Some(256),
            auth: Some(1),
            encapsulation: 1,
            pfs_group: None,
        }
    );
    assert_eq!(t.encryption(), Some(EspEncryption::Aes256));
    assert_eq!(t.integrity(), Some(EspIntegrity::Md5));
    assert_eq!(t.mode(), EspMode::Tunnel);
    assert!(!t.udp_encapsulated());
    assert_eq!(
        e.to_string(),
        "phase 2 SA policy not acceptable: transform proposal not supported: {esp-aes 256 esp-md5-hmac } (Tunnel); our transform sets: {esp-3des esp-sha-hmac }, {esp-aes esp-sha256-hmac }"
    );
}

#[test]
fn pfs_mismatch_carries_both_groups() {
    let sets = vec![tset(EspEncryption::TripleDes, EspIntegrity::Sha1)];
    let refuse = |offered: Option<u16>, ours: Option<u16>| {
        let body = proposal::phase2_sa_body(&sets, &offer(offered)).unwrap();
        match proposal::choose_phase2(&body, &sets, ours, 3600, 4_608_000).unwrap() {
            Err(PeerIncompatible::Pfs(p)) => p,
            other => panic!("expected a PFS refusal, got {other:?}"),
        }
    };
    let p = refuse(Some(5), Some(2));
    assert_eq!(p, PfsMismatch::Different { ours: 2, theirs: 5 });
    assert_eq!((p.ours(), p.theirs()), (Some(2), Some(5)));
    assert_eq!(
        p.to_string(),
        "we require PFS group 2, the peer offered group 5"
    );
    let p = refuse(None, Some(14));
    assert_eq!((p.ours(), p.theirs()), (Some(14), None));
    assert_eq!(
        Error::PeerIncompatible(PeerIncompatible::Pfs(p)).to_string(),
        "PFS mismatch: we require PFS group 14, the peer offered no PFS"
    );
    let p = refuse(Some(99), None);
    assert_eq!(
        p,
        PfsMismatch::NotImplemented {
            ours: None,
            theirs: 99
        }
    );
}

#[test]
fn responder_choosing_unoffered_esp_transform_carries_it() {
    let answer = tset(EspEncryption::Des, EspIntegrity::Md5);
    let body = proposal::phase2_sa_body(std::slice::from_ref(&answer), &offer(Some(2))).unwrap();
    let ours = [tset(EspEncryption::TripleDes, EspIntegrity::Sha1)];
    let Err(Unoffered::Phase2(t)) = proposal::accept_phase2_answer(&body, &ours).unwrap() else {
        panic!("accepted an unoffered transform");
    };
    assert_eq!(t.encryption(), Some(EspEncryption::Des));
    assert_eq!(t.pfs_group, Some(2));
    assert_eq!(
        Unoffered::Phase2(t).to_string(),
        "{esp-des esp-md5-hmac } (Tunnel, PFS group 2)"
    );
}

#[test]
fn proxy_mismatch_carries_the_proposed_selectors_and_our_lines() {
    let net = |a: [u8; 4]| TrafficSelector::subnet(a.into(), Ipv4Addr::new(255, 255, 255, 0));
    let line = super::config::SelectorPair {
        local: net([192, 168, 2, 0]),
        remote: net([192, 168, 9, 0]),
    };
    // The peer's IDci is its side (our remote), IDcr ours.
    let e = proposal::proxy_mismatch(net([192, 168, 1, 0]), net([192, 168, 2, 0]), &[line]);
    let PeerIncompatible::ProxyIdentities(p) = &e else {
        panic!("{e:?}");
    };
    assert_eq!(p.proposed_local, net([192, 168, 2, 0]));
    assert_eq!(p.proposed_remote, net([192, 168, 1, 0]));
    assert_eq!(p.ours, vec![line]);
    assert_eq!(
        e.to_string(),
        "proxy identities not supported: peer proposed local_proxy 192.168.2.0/255.255.255.0/0/0 remote_proxy 192.168.1.0/255.255.255.0/0/0 (its IDci/IDcr), which no permit line of our crypto ACL mirrors; our lines: local 192.168.2.0/255.255.255.0/0/0 remote 192.168.9.0/255.255.255.0/0/0"
    );
}

#[test]
fn configuration_problems_keep_their_wording() {
    let e = Error::ApiMisuse(ApiMisuse::Config(ConfigProblem::PfsGroupNotImplemented(3)));
    assert_eq!(
        e.to_string(),
        "API misuse: configuration: PFS group 3 not implemented"
    );
    assert_eq!(
        ConfigProblem::WildcardInitiate.to_string(),
        "cannot initiate to a wildcard peer"
    );
    let u = PeerIncompatible::Unsupported(tset(EspEncryption::Null, EspIntegrity::None));
    assert_eq!(u.to_string(), "unsupported: esp-null");
}
