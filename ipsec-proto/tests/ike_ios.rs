//! The seed's two routers, configured from IOS text, negotiate with each other.

mod ike_common;

use ike_common::*;
use ipsec_proto::ike::EndpointConfig;
use ipsec_proto::ios::seed::{SITE_A, SITE_B};

fn endpoint_config(text: &str) -> EndpointConfig {
    let parsed = ipsec_proto::ios::parse(text).expect("IOS config parses");
    let (cfg, seqs, issues) = EndpointConfig::from_gateway(&parsed.config, "VPN");
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(seqs, vec![10]);
    cfg
}

#[test]
fn seed_routers_from_ios_text_reach_qm_idle() {
    let a = endpoint_config(SITE_A);
    let b = endpoint_config(SITE_B);
    assert_eq!(a.peers[0].address.to_string(), "203.0.113.2");
    assert_eq!(
        a.peers[0].local_address.map(|x| x.to_string()).as_deref(),
        Some("198.51.100.1")
    );
    assert_eq!(a.peers[0].selectors.len(), 1);
    assert_eq!(a.peers[0].lifetime_secs, 3600);
    let mut p = Pair::new(a, b, 50);
    p.initiate(0, 0);
    p.assert_up_with_matching_keys(10_000);
    let isa = p.b.isakmp_sas(p.now);
    // R2's view: dst 203.0.113.2 (responder, itself), src 198.51.100.1 (R1 initiated).
    assert_eq!(isa[0].dst.to_string(), "203.0.113.2");
    assert_eq!(isa[0].src.to_string(), "198.51.100.1");
    assert_eq!(isa[0].state, ipsec_proto::ike::IsakmpState::QmIdle);
}

#[test]
fn show_crypto_isakmp_sa_on_both_routers() {
    use ipsec_proto::ios::show::{show_crypto_isakmp_sa, show_crypto_isakmp_sa_detail, IosFlavor};
    let mut p = Pair::new(endpoint_config(SITE_A), endpoint_config(SITE_B), 51);
    p.initiate(0, 0);
    assert!(p.run_until(10_000, |p| p.both_up()));
    let rows = |ep: &ipsec_proto::ike::Endpoint, now| {
        ep.isakmp_sas(now)
            .iter()
            .filter_map(|s| s.show_row())
            .collect::<Vec<_>>()
    };
    let r1 = show_crypto_isakmp_sa(&rows(&p.a, p.now), IosFlavor::V12_4T);
    let r2 = show_crypto_isakmp_sa(&rows(&p.b, p.now), IosFlavor::V12_4T);
    // Both routers show the same row: dst = responder (R2), src = initiator (R1).
    let row = "203.0.113.2     198.51.100.1    QM_IDLE           1001    0 ACTIVE";
    assert!(r1.contains(row), "{r1}");
    assert!(r2.contains(row), "{r2}");
    let details: Vec<_> =
        p.a.isakmp_sas(p.now)
            .iter()
            .filter_map(|s| s.show_detail())
            .collect();
    let d = show_crypto_isakmp_sa_detail(&details);
    assert!(
        d.contains(
            "1001  198.51.100.1    203.0.113.2            ACTIVE 3des sha    psk  2  23:59:59 D"
        ),
        "{d}"
    );
}

/// The seed's routers with `group N` in their ISAKMP policy and `set pfs groupM` in the map:
/// every group IOS offers negotiates Phase 1 and, as PFS, Phase 2, and shows its number.
#[test]
fn every_ios_group_negotiates_main_mode_and_pfs() {
    use ipsec_proto::ios::show::show_crypto_isakmp_sa_detail;
    let with_group = |text: &str, g: u16, pfs: u16| {
        text.replace(" group 2\n", &format!(" group {g}\n"))
            .replace(
                " set transform-set",
                &format!(" set pfs group{pfs}\n set transform-set"),
            )
    };
    // Each Phase 1 group with a different PFS group, so both code paths see every group.
    for (g, pfs) in [(15, 19), (16, 24), (19, 20), (20, 21), (21, 15), (24, 16)] {
        let (ta, tb) = (with_group(SITE_A, g, pfs), with_group(SITE_B, g, pfs));
        assert!(ta.contains(&format!("set pfs group{pfs}")), "{ta}");
        let (ca, cb) = (endpoint_config(&ta), endpoint_config(&tb));
        assert_eq!(ca.peers[0].pfs_group, Some(pfs));
        assert_eq!(cb.peers[0].pfs_group, Some(pfs));
        let mut p = Pair::new(ca, cb, 60 + u64::from(g));
        p.initiate(0, 0);
        p.assert_up_with_matching_keys(10_000);
        let details: Vec<_> =
            p.a.isakmp_sas(p.now)
                .iter()
                .filter_map(|s| s.show_detail())
                .collect();
        let d = show_crypto_isakmp_sa_detail(&details);
        assert!(
            d.contains(&format!("3des sha    psk  {g} ")),
            "group {g}: {d}"
        );
    }
}

/// `esp-gcm`, `esp-gcm 192` and `esp-gcm 256` transform sets: Quick Mode agrees on ESP
/// transform 20 with its key length, and KEYMAT carries the AES key and the salt (RFC 4106 §8.1).
#[test]
fn esp_gcm_transform_sets_negotiate_with_a_salted_key() {
    for (ts, key_len) in [("esp-gcm", 20), ("esp-gcm 192", 28), ("esp-gcm 256", 36)] {
        let with_gcm = |text: &str| text.replace("esp-3des esp-sha-hmac", ts);
        let (ta, tb) = (with_gcm(SITE_A), with_gcm(SITE_B));
        assert!(ta.contains(ts), "{ta}");
        let mut p = Pair::new(endpoint_config(&ta), endpoint_config(&tb), 70);
        p.initiate(0, 0);
        p.assert_up_with_matching_keys(10_000);
        let est = p
            .events_a
            .iter()
            .find_map(|e| match e {
                ipsec_proto::ike::Event::Phase2Established(p) => Some(p),
                _ => None,
            })
            .unwrap();
        assert_eq!(est.keys.outbound.enc_key().len(), key_len, "{ts}");
        assert!(est.keys.outbound.auth_key().is_empty(), "{ts}");
        assert!(est.keys.outbound.transform().cipher.is_aead(), "{ts}");
    }
}
