//! RFC 2409 derivations recomputed from what the parser pulled out of real charon logs: proves
//! each field is what its name says (g^xy, cookies, public values, KEYMAT seeds), and gives the
//! IKE code known answers produced by strongSwan.

use ipsec_netlab::parse_keys;
use ipsec_proto::crypto::hmac::{HashAlg, HmacKey};

fn prf(alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    HmacKey::new(alg, key).compute(parts).as_bytes().to_vec()
}

/// K1 = prf(key, first), Kn = prf(key, Kn-1 | seed), concatenated and cut to `len`: KEYMAT
/// (RFC 2409 5.5: first = seed) and the Appendix B key expansion (first = 0, seed empty).
fn expand(alg: HashAlg, key: &[u8], first: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = prf(alg, key, &[first]);
    let mut last = out.clone();
    while out.len() < len {
        last = prf(alg, key, &[&last, seed]);
        out.extend_from_slice(&last);
    }
    out.truncate(len);
    out
}

fn check(log: &str, alg: HashAlg, block: usize) {
    let k = parse_keys(log);
    let p = &k.phase1[0];
    let cky = [&p.cookie_i[..], &p.cookie_r[..]].concat();
    let d = prf(alg, &p.skeyid, &[&p.dh_shared, &cky, &[0]]);
    assert_eq!(d, p.skeyid_d, "SKEYID_d");
    let a = prf(alg, &p.skeyid, &[&d, &p.dh_shared, &cky, &[1]]);
    assert_eq!(a, p.skeyid_a, "SKEYID_a");
    let e = prf(alg, &p.skeyid, &[&a, &p.dh_shared, &cky, &[2]]);
    assert_eq!(e, p.skeyid_e, "SKEYID_e");
    let ka = if e.len() >= p.enc_key.len() {
        e[..p.enc_key.len()].to_vec()
    } else {
        expand(alg, &e, &[0], &[], p.enc_key.len())
    };
    assert_eq!(ka, p.enc_key, "Ka");
    let iv = alg.digest(&[&p.dh_public_i, &p.dh_public_r]);
    assert_eq!(&iv.as_bytes()[..block], &p.initial_iv[..], "initial IV");
    for sa in &k.sas {
        let n = sa.enc_key.len() + sa.integ_key.len();
        let km = expand(alg, &p.skeyid_d, &sa.seed, &sa.seed, n);
        // The keys are longer than one PRF output, so this exercises the K2 chaining too.
        assert!(n > alg.output_len());
        assert_eq!(
            km[..sa.enc_key.len()],
            sa.enc_key[..],
            "ESP encryption key {:08x}",
            sa.spi
        );
        assert_eq!(
            km[sa.enc_key.len()..],
            sa.integ_key[..],
            "ESP integrity key {:08x}",
            sa.spi
        );
    }
}

#[test]
fn derivations_3des_sha1_modp1024() {
    for log in [
        include_str!("fixtures/3des-initiator.log"),
        include_str!("fixtures/3des-responder.log"),
    ] {
        check(log, HashAlg::Sha1, 8);
    }
}

#[test]
fn derivations_aes256_sha256_modp2048_pfs() {
    for log in [
        include_str!("fixtures/aes256pfs-initiator.log"),
        include_str!("fixtures/aes256pfs-responder.log"),
    ] {
        check(log, HashAlg::Sha256, 16);
    }
}
