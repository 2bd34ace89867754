//! The lints of certificate authentication: rsa-sig needs a trustpoint with a CA certificate,
//! our certificate and key, and a CRL under `revocation-check crl`.

use super::*;

fn lints(text: &str) -> Vec<Lint> {
    let p = crate::ios::config::parse_for_check(text.as_bytes()).unwrap();
    check(&p.config, Some(&p.origins))
}

fn of(l: &[Lint], k: LintKind) -> Vec<&Lint> {
    l.iter().filter(|x| x.kind == k).collect()
}

const GATEWAY: &str = "crypto pki trustpoint LAB
 enrollment terminal
 rsakeypair GW1
crypto pki certificate chain LAB
 certificate 02
  3082
  quit
 certificate ca 01
  3083
  quit
crypto isakmp policy 10
 encr aes 256
 authentication rsa-sig
 group 14
crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.40
 set transform-set TS
 match address 140
interface GigabitEthernet0/0
 ip address 198.51.100.40 255.255.255.0
 crypto map VPN
ip route 0.0.0.0 0.0.0.0 198.51.100.1
access-list 140 permit ip 10.40.0.0 0.0.255.255 10.41.0.0 0.0.255.255
";

#[test]
fn rsa_sig_with_a_ca_trustpoint_lists_the_files_it_reads() {
    let l = lints(GATEWAY);
    assert!(of(&l, LintKind::UnusableIsakmpPolicy).is_empty(), "{l:#?}");
    // A certificate peer needs no pre-shared key.
    assert!(of(&l, LintKind::PeerWithoutKey).is_empty(), "{l:#?}");
    let files = of(&l, LintKind::PkiFiles);
    assert_eq!(files.len(), 2, "{l:#?}");
    assert!(files
        .iter()
        .all(|x| x.severity == Severity::Warning && x.line == Some(1)));
    assert_eq!(
        files[0].message,
        "trustpoint LAB: rsakeypair GW1: key expected in KEYDIR/GW1.pem (ipsec-engine --key-dir KEYDIR)"
    );
    // No `revocation-check` line: IOS's default, crl.
    assert!(
        files[1].message.starts_with(
            "trustpoint LAB: revocation-check crl: a CRL is expected in KEYDIR/LAB.crl"
        ),
        "{}",
        files[1]
    );
    assert_eq!(l.len(), 2, "{l:#?}");
    // With `revocation-check none` no CRL is expected; without `rsakeypair` the key is named
    // after the trustpoint.
    let text = GATEWAY.replace(" rsakeypair GW1\n", " revocation-check none\n");
    let l = lints(&text);
    let files = of(&l, LintKind::PkiFiles);
    assert_eq!(files.len(), 1, "{l:#?}");
    assert!(files[0]
        .message
        .contains("rsakeypair LAB: key expected in KEYDIR/LAB.pem"));
}

#[test]
fn rsa_sig_without_a_ca_certificate_is_an_error() {
    let text = GATEWAY.replace(" certificate ca 01\n  3083\n  quit\n", "");
    let l = lints(&text);
    let pol = of(&l, LintKind::UnusableIsakmpPolicy);
    assert_eq!(pol.len(), 1, "{l:#?}");
    assert_eq!((pol[0].severity, pol[0].line), (Severity::Error, Some(8)));
    assert!(
        pol[0]
            .message
            .starts_with("isakmp policy 10 uses rsa-sig but no trustpoint has a CA certificate"),
        "{}",
        pol[0]
    );
    // Nothing to say about files rsa-sig never reads, but the peer has no key either.
    assert!(of(&l, LintKind::PkiFiles).is_empty());
    assert_eq!(of(&l, LintKind::PeerWithoutKey).len(), 1, "{l:#?}");
}

#[test]
fn a_trustpoint_without_our_certificate_is_an_error() {
    let text = GATEWAY.replace(" certificate 02\n  3082\n  quit\n", "");
    let l = lints(&text);
    let t = of(&l, LintKind::TrustpointWithoutCertificate);
    assert_eq!(t.len(), 1, "{l:#?}");
    assert_eq!((t[0].severity, t[0].line), (Severity::Error, Some(1)));
    assert!(t[0]
        .message
        .starts_with("trustpoint LAB: no certificate of ours"));
}

#[test]
fn profiles_choose_the_trustpoints_and_unknown_names_are_warnings() {
    let text = GATEWAY.replace(
        "crypto isakmp policy 10\n",
        "crypto pki trustpoint OTHER\n revocation-check none\n\
         crypto pki certificate chain OTHER\n certificate ca 05\n  3084\n  quit\n\
         crypto isakmp profile P\n ca trust-point LAB\n ca trust-point NOPE\n match certificate NOMAP\n\
         crypto isakmp policy 10\n",
    );
    let l = lints(&text);
    // OTHER is not used by the profile: no error for its missing own certificate.
    assert!(
        of(&l, LintKind::TrustpointWithoutCertificate).is_empty(),
        "{l:#?}"
    );
    assert_eq!(of(&l, LintKind::PkiFiles).len(), 2, "{l:#?}");
    let bad: Vec<&str> = of(&l, LintKind::Inconsistent)
        .iter()
        .filter(|x| x.line == Some(17) && x.severity == Severity::Warning)
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(
        bad,
        vec![
            "isakmp profile P: ca trust-point NOPE does not exist",
            "isakmp profile P: match certificate NOMAP: no crypto pki certificate map NOMAP; no certificate matches it",
        ],
        "{l:#?}"
    );
}

#[test]
fn files_a_key_directory_loaded_are_not_asked_for_again() {
    let mut p = crate::ios::config::parse_for_check(GATEWAY.as_bytes()).unwrap();
    let key = crate::pki::PrivateKey::from_pem(include_str!("../pki/testdata/gw1.key")).unwrap();
    p.config.rsa_keys.insert("GW1".into(), key);
    let l = check(&p.config, Some(&p.origins));
    let files = of(&l, LintKind::PkiFiles);
    assert_eq!(files.len(), 1, "{l:#?}");
    assert!(files[0].message.contains("KEYDIR/LAB.crl"), "{l:#?}");
    p.config.crls.insert("LAB".into(), Vec::new());
    let l = check(&p.config, Some(&p.origins));
    assert_eq!(
        of(&l, LintKind::PkiFiles).len(),
        1,
        "an empty CRL list is no CRL"
    );
    // The lint does not judge the DER (loading did): any block stands for a loaded CRL.
    p.config.crls.insert("LAB".into(), vec![vec![0x30, 0x00]]);
    let l = check(&p.config, Some(&p.origins));
    assert!(of(&l, LintKind::PkiFiles).is_empty(), "{l:#?}");
}
