//! `crypto pki ...`, `crypto isakmp identity` and the profile's certificate lines: reading,
//! errors with their line and column, rendering and reading again.

use super::*;
use crate::pki::RevocationCheck;
use crate::policy::{CertField, CertMatchOp, CertMatchRule, Enrollment, IsakmpIdentity};

fn ok(text: &str) -> ParsedConfig {
    match parse(text) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(p) => panic!("expected an error, got {:#?}", p.config),
        Err(e) => e,
    }
}

fn round_trip(c: &GatewayConfig) {
    let text = render(c);
    let again = ok(&text);
    assert_eq!(&again.config, c, "{text}");
}

/// The start of a DER certificate (SEQUENCE, 0x327 bytes, then the TBSCertificate) as IOS
/// prints it: lower case on the second line, which IOS never prints but people paste.
const CHAIN: &str = "crypto pki trustpoint LAB
 enrollment terminal
 subject-name cn=gw1.example.com, o=Example Inc
 revocation-check crl none
 rsakeypair GW1 2048
!
crypto pki certificate chain LAB
 certificate 02
  30820327 3082020F A0030201 02020102 300D0609 2A864886 F70D0101 0B050030
  23310f30 0d060355 0403 0C064C
  \tquit
 certificate ca 01
  3082030D 308201F5
  quit
";

#[test]
fn trustpoint_and_chain_are_read() {
    let p = ok(CHAIN);
    let t = &p.config.trustpoints[0];
    assert_eq!(t.name, "LAB");
    assert_eq!(t.enrollment, Some(Enrollment::Terminal));
    assert_eq!(
        t.subject_name.as_deref(),
        Some("cn=gw1.example.com, o=Example Inc")
    );
    assert_eq!(t.revocation_check, RevocationCheck::CrlOrNone);
    assert_eq!(t.rsakeypair.as_deref(), Some("GW1"));
    assert_eq!(t.chain.len(), 2);
    assert!(!t.chain[0].ca);
    assert_eq!(t.chain[0].serial, "02");
    assert_eq!(t.chain[0].der.len(), 32 + 13);
    assert_eq!(&t.chain[0].der[..4], &[0x30, 0x82, 0x03, 0x27]);
    assert_eq!(
        &t.chain[0].der[32..],
        &[0x23, 0x31, 0x0F, 0x30, 0x0D, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0C, 0x06, 0x4C]
    );
    assert!(t.chain[1].ca);
    assert_eq!(
        t.chain[1].der,
        vec![0x30, 0x82, 0x03, 0x0D, 0x30, 0x82, 0x01, 0xF5]
    );
    assert_eq!(p.origins.line(&Item::Trustpoint("LAB".into())), Some(1));
    round_trip(&p.config);
}

#[test]
fn trustpoint_defaults_and_forms() {
    // Without `revocation-check` IOS checks CRLs.
    let p = ok("crypto pki trustpoint T\n");
    assert_eq!(
        p.config.trustpoints[0].revocation_check,
        RevocationCheck::Crl
    );
    assert_eq!(p.config.trustpoints[0].key_label(), "T");
    round_trip(&p.config);
    let cases: &[(&str, Option<Enrollment>, RevocationCheck)] = &[
        (
            " enrollment selfsigned\n revocation-check none\n",
            Some(Enrollment::SelfSigned),
            RevocationCheck::None,
        ),
        (
            " enrollment url http://192.0.2.5:80\n revocation-check crl\n",
            Some(Enrollment::Url("http://192.0.2.5:80".into())),
            RevocationCheck::Crl,
        ),
        (
            " enrollment terminal pem\n revocation-check none\n no revocation-check\n",
            Some(Enrollment::Terminal),
            RevocationCheck::Crl,
        ),
        (
            " enrollment terminal\n no enrollment\n",
            None,
            RevocationCheck::Crl,
        ),
    ];
    for (body, enrollment, revocation) in cases {
        let p = ok(&format!("crypto pki trustpoint T\n{body}"));
        let t = &p.config.trustpoints[0];
        assert_eq!(&t.enrollment, enrollment, "{body}");
        assert_eq!(t.revocation_check, *revocation, "{body}");
        round_trip(&p.config);
    }
}

#[test]
fn enrollment_only_lines_are_notices() {
    let p = ok("crypto pki trustpoint T
 fqdn gw1.example.com
 serial-number none
 ip-address none
 enrollment pkcs12
 subject-alt-name gw1.example.com
 auto-enroll 70
");
    let lines: Vec<usize> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7], "{:#?}", p.warnings);
    assert!(p.warnings[0].message.starts_with("fqdn ignored"));
    assert_eq!(p.config.trustpoints[0].enrollment, None);
}

#[test]
fn ocsp_is_refused_with_its_line_and_column() {
    let e = err("crypto pki trustpoint T\n revocation-check ocsp none\n");
    assert_eq!((e.line, e.column), (2, 2));
    assert!(e.message.contains("OCSP (revocation-check ocsp)"), "{e}");
    assert!(e.message.ends_with("is not supported"), "{e}");
}

#[test]
fn refused_trustpoint_lines() {
    for (body, what) in [
        (
            " match certificate M\n",
            "certificate authorization in a trustpoint",
        ),
        (
            " chain-validation continue SUB\n",
            "trustpoint chain-validation",
        ),
        (" primary\n", "trustpoint primary"),
    ] {
        let e = err(&format!("crypto pki trustpoint T\n{body}"));
        assert_eq!((e.line, e.column), (2, 2), "{body}");
        assert!(e.message.contains(what), "{e}");
    }
}

#[test]
fn bad_hex_is_an_error_at_its_token() {
    let e = err("crypto pki trustpoint T
crypto pki certificate chain T
 certificate ca 01
  30820327 3082020F
  A0030201 0202XY02
  quit
");
    assert_eq!((e.line, e.column), (5, 12), "{e}");
    assert!(e.message.contains("certificate 01 of chain T"), "{e}");
    assert!(e.message.contains("\"0202XY02\" is not hex"), "{e}");
    // A group cut in half.
    let e = err("crypto pki trustpoint T\ncrypto pki certificate chain T\n certificate 01\n  3082032 7\n quit\n");
    assert_eq!((e.line, e.column), (4, 3), "{e}");
    assert!(e.message.contains("odd number of digits"), "{e}");
    // No data, and no `quit` at all.
    let e =
        err("crypto pki trustpoint T\ncrypto pki certificate chain T\n certificate 01\n  quit\n");
    assert_eq!((e.line, e.column), (4, 3), "{e}");
    assert!(e.message.contains("no hex data"), "{e}");
    let e =
        err("crypto pki trustpoint T\ncrypto pki certificate chain T\n certificate 01\n  3082\n");
    assert_eq!((e.line, e.column), (3, 2), "{e}");
    assert!(e.message.contains("not ended by a line `quit`"), "{e}");
    // A missing `quit` runs into the next command, which is not hex.
    let e = err("crypto pki trustpoint T\ncrypto pki certificate chain T\n certificate 01\n  3082\ncrypto isakmp policy 10\n");
    assert_eq!((e.line, e.column), (5, 1), "{e}");
    // A serial that is not hex.
    let e = err("crypto pki trustpoint T\ncrypto pki certificate chain T\n certificate ca 0G\n");
    assert_eq!((e.line, e.column), (3, 17), "{e}");
}

#[test]
fn chain_of_an_unknown_trustpoint_is_an_error() {
    let e = err("crypto pki trustpoint A\ncrypto pki certificate chain B\n certificate ca 01\n  3082\n  quit\n");
    assert_eq!((e.line, e.column), (2, 30), "{e}");
    assert!(e.message.contains("no trustpoint B"), "{e}");
}

#[test]
fn chain_certificates_are_replaced_and_removed() {
    let p = ok("crypto pki trustpoint T
crypto pki certificate chain T
 certificate ca 01
  3082
  quit
 certificate 02
  3083
  quit
 certificate ca 01
  3084
  quit
 no certificate 02
");
    let chain = &p.config.trustpoints[0].chain;
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].der, vec![0x30, 0x84]);
    // `self-signed` certificates are ours.
    let p = ok("crypto pki trustpoint TP-self-signed-1\n enrollment selfsigned\ncrypto pki certificate chain TP-self-signed-1\n certificate self-signed 01\n  3082\n  quit\n");
    assert!(!p.config.trustpoints[0].chain[0].ca);
    round_trip(&p.config);
}

#[test]
fn certificate_hex_is_rendered_as_ios_prints_it() {
    let mut c = GatewayConfig::default();
    c.trustpoints.push(crate::policy::Trustpoint {
        name: "T".into(),
        revocation_check: RevocationCheck::Crl,
        chain: vec![crate::policy::ChainCertificate {
            ca: true,
            serial: "01".into(),
            der: (0u8..40).collect(),
        }],
        ..Default::default()
    });
    let text = render(&c);
    assert!(
        text.contains(
            "crypto pki certificate chain T
 certificate ca 01
  00010203 04050607 08090A0B 0C0D0E0F 10111213 14151617 18191A1B 1C1D1E1F
  20212223 24252627
  \tquit
"
        ),
        "{text}"
    );
    round_trip(&c);
}

#[test]
fn certificate_maps_are_read() {
    let p = ok("crypto pki certificate map PEERS 10
 subject-name co example
 issuer-name eq cn=lab ca,o=example
 alt-subject-name nc evil.example
crypto pki certificate map PEERS 20
 subject-name ne cn=old
 no subject-name ne cn=old
");
    let maps = &p.config.certificate_maps;
    assert_eq!(maps.len(), 2);
    assert_eq!(
        maps[0].rules,
        vec![
            CertMatchRule {
                field: CertField::SubjectName,
                op: CertMatchOp::Co,
                value: "example".into()
            },
            CertMatchRule {
                field: CertField::IssuerName,
                op: CertMatchOp::Eq,
                value: "cn=lab ca,o=example".into()
            },
            CertMatchRule {
                field: CertField::AltSubjectName,
                op: CertMatchOp::Nc,
                value: "evil.example".into()
            },
        ]
    );
    assert!(maps[1].rules.is_empty());
    assert_eq!(
        p.origins.line(&Item::CertificateMap("PEERS".into(), 20)),
        Some(5)
    );
    round_trip(&p.config);
    let e = err("crypto pki certificate map M 10\n subject-name lt x\n");
    assert_eq!((e.line, e.column), (2, 15), "{e}");
    let e = err("crypto pki certificate map M 10\n serial-number eq 01\n");
    assert_eq!((e.line, e.column), (2, 2), "{e}");
    assert!(
        e.message.contains("certificate map field serial-number"),
        "{e}"
    );
}

#[test]
fn isakmp_identity_forms() {
    for (line, want) in [
        ("crypto isakmp identity address\n", IsakmpIdentity::Address),
        (
            "crypto isakmp identity hostname\n",
            IsakmpIdentity::Hostname,
        ),
        ("crypto isakmp identity dn\n", IsakmpIdentity::Dn),
    ] {
        let p = ok(line);
        assert_eq!(p.config.isakmp_identity, want);
        round_trip(&p.config);
    }
    assert_eq!(
        ok("crypto isakmp identity dn\n")
            .config
            .local_identity(None),
        crate::policy::LocalIdentity::Dn
    );
    let e = err("crypto isakmp identity name\n");
    assert_eq!((e.line, e.column), (1, 24), "{e}");
}

#[test]
fn profile_certificate_lines() {
    let p = ok("crypto isakmp profile P
 ca trust-point A
 ca trust-point B
 ca trust-point A
 match certificate M1
 match certificate M2
");
    let prof = p.config.isakmp_profile("P").unwrap();
    assert_eq!(prof.ca_trustpoints, vec!["A".to_string(), "B".to_string()]);
    assert_eq!(
        prof.match_certificates,
        vec!["M1".to_string(), "M2".to_string()]
    );
    round_trip(&p.config);
}

#[test]
fn rsa_sig_is_read_and_rsa_encr_refused() {
    let p = ok("crypto isakmp policy 10\n authentication rsa-sig\n encr aes\n");
    assert_eq!(
        p.config.isakmp_policies[0].authentication,
        crate::policy::IkeAuth::RsaSig
    );
    let e = err("crypto isakmp policy 10\n authentication rsa-encr\n");
    assert_eq!((e.line, e.column), (2, 2));
}
