//! Certificate authentication through the C ABI: keystore, `_with_keys` constructors, the wall
//! clock and the PKI show commands.

use super::*;
use crate::keystore::*;

const CA: &str = include_str!("../../../../ipsec-proto/src/pki/testdata/ca.pem");
const GW1: (&str, &str) = (
    include_str!("../../../../ipsec-proto/src/pki/testdata/gw1.pem"),
    include_str!("../../../../ipsec-proto/src/pki/testdata/gw1.key"),
);
const GW2: (&str, &str) = (
    include_str!("../../../../ipsec-proto/src/pki/testdata/gw2.pem"),
    include_str!("../../../../ipsec-proto/src/pki/testdata/gw2.key"),
);
const CRL: &str = include_str!("../../../../ipsec-proto/src/pki/testdata/ca.crl.pem");
/// 2027-01-01T00:00:00Z, inside the fixtures' validity.
const JAN_2027: i64 = 1_798_761_600;

/// The base64 body of the first PEM block of `pem`, decoded.
pub(crate) fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in body.bytes().filter(|c| *c != b'=') {
        acc = acc << 6 | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// `certificate [ca] SERIAL` and its hex block, as IOS prints it.
fn chain_block(pem: &str, ca: bool) -> String {
    let cert = ipsec_proto::pki::Certificate::from_pem(pem)
        .unwrap()
        .remove(0);
    let hex: String = cert.der.iter().map(|b| format!("{b:02X}")).collect();
    let mut out = format!(
        " certificate {}{}\n",
        if ca { "ca " } else { "" },
        cert.serial_hex()
    );
    for line in hex.as_bytes().chunks(64) {
        let groups: Vec<&str> = line
            .chunks(8)
            .map(|g| std::str::from_utf8(g).unwrap())
            .collect();
        out.push_str(&format!("  {}\n", groups.join(" ")));
    }
    out.push_str("  quit\n");
    out
}

/// A seed site as `host`.example.com: rsa-sig, no pre-shared key, trustpoint LAB with the
/// fixtures' CA and `cert`, key label `gw`.
fn cert_site(seed_text: &str, host: &str, cert: &str, revocation: &str) -> String {
    let pki = format!(
        "ip domain name example.com\ncrypto isakmp identity hostname\n\
         crypto pki trustpoint LAB\n enrollment terminal\n revocation-check {revocation}\n \
         rsakeypair gw\ncrypto pki certificate chain LAB\n{}{}!\n",
        chain_block(cert, false),
        chain_block(CA, true)
    );
    seed_text
        .lines()
        .filter(|l| !l.starts_with("crypto isakmp key"))
        .map(|l| match l {
            _ if l.starts_with("hostname ") => format!("hostname {host}\n"),
            "crypto isakmp policy 1" => format!("{pki}{l}\n"),
            " authentication pre-share" => " authentication rsa-sig\n".to_string(),
            _ => format!("{l}\n"),
        })
        .collect()
}

fn keystore() -> *mut ipsec_keystore {
    let mut ks = std::ptr::null_mut();
    assert_eq!(
        unsafe { ipsec_keystore_new(&mut ks) },
        ipsec_result::IPSEC_RESULT_OK
    );
    assert!(!ks.is_null());
    ks
}

fn add_key(ks: *mut ipsec_keystore, label: &str, pem: &str) -> ipsec_result {
    unsafe {
        ipsec_keystore_add_rsa_key_pem(ks, label.as_ptr(), label.len(), pem.as_ptr(), pem.len())
    }
}

fn add_crl(ks: *mut ipsec_keystore, tp: &str, der: &[u8]) -> ipsec_result {
    unsafe { ipsec_keystore_add_crl_der(ks, tp.as_ptr(), tp.len(), der.as_ptr(), der.len()) }
}

fn new_with(
    text: &str,
    ks: *const ipsec_keystore,
    seed: u8,
) -> Result<*mut ipsec_tunnel, (ipsec_result, usize, usize)> {
    let mut t = std::ptr::null_mut();
    let (mut line, mut col) = (usize::MAX, usize::MAX);
    let s = [seed; 32];
    let rc = unsafe {
        ipsec_tunnel_new_from_ios_with_keys(
            text.as_ptr(),
            text.len(),
            ks,
            s.as_ptr(),
            &mut t,
            &mut line,
            &mut col,
        )
    };
    if rc == ipsec_result::IPSEC_RESULT_OK {
        assert_eq!((line, col), (usize::MAX, usize::MAX), "written on success");
        Ok(t)
    } else {
        assert!(t.is_null(), "out written on failure");
        Err((rc, line, col))
    }
}

fn explain_with(text: &str, ks: *const ipsec_keystore) -> String {
    let mut buf = [0u8; 512];
    let mut n = 0;
    let rc = unsafe {
        ipsec_tunnel_explain_ios_with_keys(
            text.as_ptr(),
            text.len(),
            ks,
            buf.as_mut_ptr(),
            buf.len(),
            &mut n,
        )
    };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn show_certs(t: *mut ipsec_tunnel, trustpoint: Option<&str>) -> String {
    let (p, len) = trustpoint.map_or((std::ptr::null(), 0), |s| (s.as_ptr(), s.len()));
    let mut need = 0;
    let rc = unsafe {
        ipsec_tunnel_show_pki_certificates(t, p, len, std::ptr::null_mut(), 0, &mut need)
    };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_BUFFER_TOO_SMALL);
    let mut buf = vec![0u8; need];
    let mut n = 0;
    let rc =
        unsafe { ipsec_tunnel_show_pki_certificates(t, p, len, buf.as_mut_ptr(), need, &mut n) };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// Site A (gw1) and site B (gw2) with certificates, `clock` set on both or not.
fn cert_pair(clock: bool, revocation: &str) -> (*mut ipsec_tunnel, *mut ipsec_tunnel) {
    let (mut ka, mut kb) = (keystore(), keystore());
    assert_eq!(add_key(ka, "gw", GW1.1), ipsec_result::IPSEC_RESULT_OK);
    assert_eq!(add_key(kb, "gw", GW2.1), ipsec_result::IPSEC_RESULT_OK);
    if revocation == "crl" {
        for k in [ka, kb] {
            assert_eq!(
                add_crl(k, "LAB", &pem_der(CRL)),
                ipsec_result::IPSEC_RESULT_OK
            );
        }
    }
    let a = new_with(&cert_site(SITE_A, "gw1", GW1.0, revocation), ka, 1).unwrap();
    let b = new_with(&cert_site(SITE_B, "gw2", GW2.0, revocation), kb, 2).unwrap();
    // The tunnels hold copies: the keystores can go now.
    unsafe {
        ipsec_keystore_free(&mut ka);
        ipsec_keystore_free(&mut kb);
    }
    assert!(ka.is_null() && kb.is_null());
    if clock {
        for t in [a, b] {
            assert_eq!(
                unsafe { ipsec_tunnel_set_wall_clock(t, 0, JAN_2027) },
                ipsec_result::IPSEC_RESULT_OK
            );
        }
    }
    (a, b)
}

/// A's first packet, a while of exchanges, then whether a ping crossed.
fn negotiate(a: *mut ipsec_tunnel, b: *mut ipsec_tunnel) -> bool {
    let (lan_a, lan_b) = ([192, 168, 1, 10], [192, 168, 2, 10]);
    let mut now = 1_000;
    assert_eq!(
        plaintext(a, now, &ping(lan_a, lan_b, 0)),
        IPSEC_TUN_VERDICT_NO_SA
    );
    for _ in 0..30 {
        carry(a, b, now);
        carry(b, a, now);
        now += 10;
    }
    let p = ping(lan_a, lan_b, 1);
    plaintext(a, now, &p) == IPSEC_TUN_VERDICT_PROTECTED && carry(a, b, now) == vec![p]
}

fn free2(mut a: *mut ipsec_tunnel, mut b: *mut ipsec_tunnel) {
    unsafe {
        ipsec_tunnel_free(&mut a);
        ipsec_tunnel_free(&mut b);
    }
}

#[test]
fn certificates_bring_the_tunnel_up_without_a_preshared_key() {
    let (a, b) = cert_pair(true, "none");
    assert!(negotiate(a, b));
    let detail = show(a, 2_000, IPSEC_SHOW_ISAKMP_SA_DETAIL);
    assert!(detail.contains("rsig"), "{detail}");
    let certs = show(a, 2_000, IPSEC_SHOW_CRYPTO_PKI_CERTIFICATES);
    assert!(
        certs.starts_with("Certificate\n") && certs.contains("\nCA Certificate\n"),
        "{certs}"
    );
    assert!(certs.contains("Associated Trustpoints: LAB"), "{certs}");
    assert!(certs.contains("gw1.example.com"), "{certs}");
    let tps = show(a, 2_000, IPSEC_SHOW_CRYPTO_PKI_TRUSTPOINTS);
    assert!(tps.starts_with("Trustpoint LAB:\n"), "{tps}");
    // The named form; an empty name is every trustpoint.
    assert_eq!(show_certs(a, Some("LAB")), certs);
    assert_eq!(show_certs(a, None), certs);
    assert_eq!(show_certs(a, Some("")), certs);
    assert_eq!(show_certs(a, Some("NONE")), "% Trustpoint NONE not found\n");
    free2(a, b);
}

#[test]
fn a_crl_from_the_keystore_is_used_under_revocation_check_crl() {
    let (a, b) = cert_pair(true, "crl");
    assert!(negotiate(a, b));
    free2(a, b);
}

#[test]
fn without_the_wall_clock_certificate_peers_are_refused() {
    let (a, b) = cert_pair(false, "none");
    assert!(!negotiate(a, b));
    let d = show(a, 2_000, IPSEC_SHOW_ISAKMP_SA);
    assert!(!d.contains("QM_IDLE"), "{d}");
    free2(a, b);
}

#[test]
fn reconfiguring_keeps_the_keys_and_a_new_keystore_replaces_them() {
    let (a, b) = cert_pair(true, "none");
    assert!(negotiate(a, b));
    let text = cert_site(SITE_A, "gw1", GW1.0, "none");
    let (mut kept, mut cleared, mut line, mut col) = (9, 9, 7, 7);
    let rc = unsafe {
        ipsec_tunnel_reconfigure_ios(
            a,
            3_000,
            text.as_ptr(),
            text.len(),
            &mut kept,
            &mut cleared,
            &mut line,
            &mut col,
        )
    };
    assert_eq!((rc, kept, cleared), (ipsec_result::IPSEC_RESULT_OK, 1, 0));
    // An empty keystore has no key for `rsakeypair gw`: refused, the running one stays.
    let mut empty = keystore();
    let rc = unsafe {
        ipsec_tunnel_reconfigure_ios_with_keys(
            a,
            3_000,
            text.as_ptr(),
            text.len(),
            empty,
            &mut kept,
            &mut cleared,
            &mut line,
            &mut col,
        )
    };
    assert_eq!(
        (rc, line, col),
        (ipsec_result::IPSEC_RESULT_INVALID_CONFIG, 0, 0)
    );
    let rc = unsafe {
        ipsec_tunnel_reconfigure_ios_with_keys(
            a,
            3_000,
            text.as_ptr(),
            text.len(),
            std::ptr::null(),
            &mut kept,
            &mut cleared,
            &mut line,
            &mut col,
        )
    };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_NULL_PARAMETER);
    let mut fresh = keystore();
    assert_eq!(add_key(fresh, "gw", GW1.1), ipsec_result::IPSEC_RESULT_OK);
    let rc = unsafe {
        ipsec_tunnel_reconfigure_ios_with_keys(
            a,
            3_000,
            text.as_ptr(),
            text.len(),
            fresh,
            &mut kept,
            &mut cleared,
            &mut line,
            &mut col,
        )
    };
    assert_eq!(rc, ipsec_result::IPSEC_RESULT_OK);
    let p = ping([192, 168, 1, 10], [192, 168, 2, 10], 9);
    assert_eq!(plaintext(a, 3_000, &p), IPSEC_TUN_VERDICT_PROTECTED);
    assert_eq!(carry(a, b, 3_000), vec![p]);
    unsafe {
        ipsec_keystore_free(&mut empty);
        ipsec_keystore_free(&mut fresh);
    }
    free2(a, b);
}

#[test]
fn missing_or_mismatched_keys_are_refused_with_a_reason() {
    let text = cert_site(SITE_A, "gw1", GW1.0, "none");
    // Without a keystore (the plain constructor): no key for the trustpoint.
    assert_eq!(
        new(&text, 1).unwrap_err(),
        (ipsec_result::IPSEC_RESULT_INVALID_CONFIG, 0, 0)
    );
    let mut ks = keystore();
    assert_eq!(
        new_with(&text, ks, 1).unwrap_err(),
        (ipsec_result::IPSEC_RESULT_INVALID_CONFIG, 0, 0)
    );
    let why = explain_with(&text, ks);
    assert!(why.contains("LAB") && why.contains("no key"), "{why}");
    // A key under another label is fine but does not help.
    assert_eq!(add_key(ks, "unused", GW2.1), ipsec_result::IPSEC_RESULT_OK);
    assert!(new_with(&text, ks, 1).is_err());
    // gw2's key for gw1's certificate.
    assert_eq!(add_key(ks, "gw", GW2.1), ipsec_result::IPSEC_RESULT_OK);
    let why = explain_with(&text, ks);
    assert!(why.contains("not the key of its certificate"), "{why}");
    // The right key replaces it under the same label; the unused one stays harmless.
    assert_eq!(add_key(ks, "gw", GW1.1), ipsec_result::IPSEC_RESULT_OK);
    assert_eq!(explain_with(&text, ks), "");
    let (mut nkeys, mut ncrls) = (9, 9);
    assert_eq!(
        unsafe { ipsec_keystore_count(ks, &mut nkeys, &mut ncrls) },
        ipsec_result::IPSEC_RESULT_OK
    );
    assert_eq!((nkeys, ncrls), (2, 0));
    let mut t = new_with(&text, ks, 1).unwrap();
    unsafe {
        ipsec_tunnel_free(&mut t);
        ipsec_keystore_free(&mut ks);
    }
}

#[test]
fn null_arguments_are_refused() {
    let text = cert_site(SITE_A, "gw1", GW1.0, "none");
    let ks = keystore();
    assert_eq!(add_key(ks, "gw", GW1.1), ipsec_result::IPSEC_RESULT_OK);
    assert_eq!(
        new_with(&text, std::ptr::null(), 1).unwrap_err().0,
        ipsec_result::IPSEC_RESULT_NULL_PARAMETER
    );
    let seed = [1u8; 32];
    let mut t = std::ptr::null_mut();
    let null = ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
    unsafe {
        // NULL seed, NULL out, NULL text with a length.
        let r = ipsec_tunnel_new_from_ios_with_keys(
            text.as_ptr(),
            text.len(),
            ks,
            std::ptr::null(),
            &mut t,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(r, null);
        let r = ipsec_tunnel_new_from_ios_with_keys(
            text.as_ptr(),
            text.len(),
            ks,
            seed.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(r, null);
        let r = ipsec_tunnel_new_from_ios_with_keys(
            std::ptr::null(),
            5,
            ks,
            seed.as_ptr(),
            &mut t,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(r, null);
        assert!(t.is_null());
        let mut n = 0;
        let r = ipsec_tunnel_explain_ios_with_keys(
            text.as_ptr(),
            text.len(),
            std::ptr::null(),
            std::ptr::null_mut(),
            0,
            &mut n,
        );
        assert_eq!(r, null);
        assert_eq!(
            ipsec_tunnel_set_wall_clock(std::ptr::null_mut(), 0, JAN_2027),
            null
        );
        let r = ipsec_tunnel_show_pki_certificates(
            std::ptr::null(),
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            0,
            &mut n,
        );
        assert_eq!(r, null);
    }
    let mut t = new_with(&text, ks, 1).unwrap();
    let mut n = 0;
    unsafe {
        // A NULL name with a length, a name that is not UTF-8, a NULL out_len.
        let r = ipsec_tunnel_show_pki_certificates(
            t,
            std::ptr::null(),
            3,
            std::ptr::null_mut(),
            0,
            &mut n,
        );
        assert_eq!(r, null);
        let bad = [0xffu8, 0xfe];
        let r =
            ipsec_tunnel_show_pki_certificates(t, bad.as_ptr(), 2, std::ptr::null_mut(), 0, &mut n);
        assert_eq!(r, ipsec_result::IPSEC_RESULT_INVALID_UTF8);
        let r = ipsec_tunnel_show_pki_certificates(
            t,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        );
        assert_eq!(r, null);
        ipsec_tunnel_free(&mut t);
        let mut ks = ks;
        ipsec_keystore_free(&mut ks);
    }
}

#[test]
fn a_certificate_the_keystore_crl_revokes_is_refused() {
    let revoked = (
        include_str!("../../../../ipsec-proto/src/pki/testdata/revoked.pem"),
        include_str!("../../../../ipsec-proto/src/pki/testdata/revoked.key"),
    );
    let pair = |revocation: &str| {
        let (ka, kb) = (keystore(), keystore());
        assert_eq!(add_key(ka, "gw", GW1.1), ipsec_result::IPSEC_RESULT_OK);
        assert_eq!(add_key(kb, "gw", revoked.1), ipsec_result::IPSEC_RESULT_OK);
        for k in [ka, kb] {
            assert_eq!(
                add_crl(k, "LAB", &pem_der(CRL)),
                ipsec_result::IPSEC_RESULT_OK
            );
        }
        // revoked.pem has no subjectAltName: both identify by distinguished name.
        let dn = |t: String| t.replace("identity hostname", "identity dn");
        let a = new_with(&dn(cert_site(SITE_A, "gw1", GW1.0, revocation)), ka, 1).unwrap();
        let b = dn(cert_site(SITE_B, "revoked", revoked.0, revocation));
        let b = new_with(&b, kb, 2).unwrap();
        for t in [a, b] {
            unsafe { ipsec_tunnel_set_wall_clock(t, 0, JAN_2027) };
        }
        let (mut ka, mut kb) = (ka, kb);
        unsafe {
            ipsec_keystore_free(&mut ka);
            ipsec_keystore_free(&mut kb);
        }
        (a, b)
    };
    // Revocation not checked: the certificate is otherwise fine.
    let (a, b) = pair("none");
    assert!(negotiate(a, b));
    free2(a, b);
    // `revocation-check crl` with the CA's CRL from the keystore: refused.
    let (a, b) = pair("crl");
    assert!(!negotiate(a, b));
    free2(a, b);
}
