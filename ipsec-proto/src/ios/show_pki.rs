//! `show crypto pki certificates [TRUSTPOINT]` and `show crypto pki trustpoints` in the IOS
//! layout. Only formatting: the caller parses the chains' certificates and computes their
//! validity dates (see [`PkiCertRow::new`]), so that this module never parses DER.

use std::fmt::Write as _;

use crate::pki::Certificate;
use crate::policy::Trustpoint;

/// One certificate of a trustpoint's chain, ready to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiCertRow<'a> {
    /// The trustpoint whose chain holds it.
    pub trustpoint: String,
    /// `certificate ca`: a CA certificate; otherwise the router's own.
    pub ca: bool,
    /// The certificate.
    pub cert: &'a Certificate,
    /// notBefore as IOS prints it (`10:42:23 UTC Nov 2 2026`).
    pub start: String,
    /// notAfter, same form.
    pub end: String,
}

impl<'a> PkiCertRow<'a> {
    /// A row with the validity dates from [`Certificate::validity_ios`].
    pub fn new(trustpoint: impl Into<String>, ca: bool, cert: &'a Certificate) -> Self {
        let (start, end) = cert.validity_ios();
        PkiCertRow {
            trustpoint: trustpoint.into(),
            ca,
            cert,
            start,
            end,
        }
    }
}

/// `show crypto pki certificates [TRUSTPOINT]`: our certificates and CA certificates, one
/// block each; a certificate in several trustpoints' chains is shown once with all of them
/// (in the order of `rows`). `filter`: only the certificates of that trustpoint.
pub fn show_crypto_pki_certificates(rows: &[PkiCertRow<'_>], filter: Option<&str>) -> String {
    // (row, its trustpoints)
    let mut shown: Vec<(&PkiCertRow<'_>, Vec<&str>)> = Vec::new();
    for r in rows {
        if filter.is_some_and(|f| f != r.trustpoint) {
            continue;
        }
        match shown
            .iter_mut()
            .find(|(s, _)| s.ca == r.ca && s.cert.der == r.cert.der)
        {
            Some((_, tps)) if !tps.contains(&r.trustpoint.as_str()) => {
                tps.push(&r.trustpoint);
            }
            Some(_) => {}
            None => shown.push((r, vec![&r.trustpoint])),
        }
    }
    // IOS names the certificates of other trustpoints too when one is shown by name.
    if filter.is_some() {
        for (s, tps) in &mut shown {
            for r in rows {
                if r.ca == s.ca && r.cert.der == s.cert.der && !tps.contains(&r.trustpoint.as_str())
                {
                    tps.push(&r.trustpoint);
                }
            }
        }
    }
    let mut o = String::new();
    for (r, tps) in shown {
        let c = r.cert;
        o.push_str(if r.ca {
            "CA Certificate\n"
        } else {
            "Certificate\n"
        });
        o.push_str("  Status: Available\n");
        let _ = writeln!(
            o,
            "  Certificate Serial Number (hex): {}",
            serial_hex(&c.serial)
        );
        // Only the CA signs; our certificate serves IKE signatures and, on IOS, encryption.
        let usage = if r.ca { "Signature" } else { "General Purpose" };
        let _ = writeln!(o, "  Certificate Usage: {usage}");
        o.push_str("  Issuer: \n");
        for rdn in dn_parts(&c.issuer) {
            let _ = writeln!(o, "    {rdn}");
        }
        o.push_str("  Subject:\n");
        if !r.ca {
            if let Some(name) = host_name(c) {
                let _ = writeln!(o, "    Name: {name}");
            }
        }
        for rdn in dn_parts(&c.subject) {
            let _ = writeln!(o, "    {rdn}");
        }
        o.push_str("  Validity Date: \n");
        let _ = writeln!(o, "    start date: {}", r.start);
        let _ = writeln!(o, "    end   date: {}", r.end);
        let _ = writeln!(o, "  Associated Trustpoints: {} \n", tps.join(" "));
    }
    o
}

/// `show crypto pki trustpoints`: each trustpoint with the subject and serial number of its
/// CA certificate (`certs`: the shown rows of [`show_crypto_pki_certificates`]; without a row
/// the serial comes from the chain's `certificate ca SERIAL` line).
pub fn show_crypto_pki_trustpoints(tps: &[Trustpoint], certs: &[PkiCertRow<'_>]) -> String {
    let mut o = String::new();
    for t in tps {
        let _ = writeln!(o, "Trustpoint {}:", t.name);
        let row = certs.iter().find(|r| r.ca && r.trustpoint == t.name);
        let chained = t.chain.iter().find(|c| c.ca);
        match (row, chained) {
            (Some(r), _) => {
                o.push_str("    Subject Name: \n");
                for rdn in dn_parts(&r.cert.subject) {
                    let _ = writeln!(o, "    {rdn}");
                }
                let _ = writeln!(
                    o,
                    "          Serial Number (hex): {}",
                    serial_hex(&r.cert.serial)
                );
                o.push_str("    Certificate configured.\n");
            }
            (None, Some(c)) => {
                let _ = writeln!(
                    o,
                    "          Serial Number (hex): {}",
                    c.serial.to_ascii_uppercase()
                );
                o.push_str("    Certificate configured.\n");
            }
            (None, None) => o.push_str("    Not authenticated.\n"),
        }
        o.push('\n');
    }
    o
}

/// A serial number's big-endian bytes as IOS prints them: upper-case hex, at least one byte.
fn serial_hex(serial: &[u8]) -> String {
    if serial.is_empty() {
        return "00".into();
    }
    serial.iter().map(|b| format!("{b:02X}")).collect()
}

/// The attributes of a name as [`Certificate::subject`] holds it (`cn=a,o=b`), one per line;
/// an escaped comma (`\,`) stays inside its attribute.
fn dn_parts(dn: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for ch in dn.chars() {
        match ch {
            ',' if !escaped => parts.push(std::mem::take(&mut cur).trim().to_string()),
            _ => {
                escaped = ch == '\\' && !escaped;
                cur.push(ch);
            }
        }
    }
    if !cur.trim().is_empty() {
        parts.push(cur.trim().to_string());
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// The `Name:` line of our certificate: its first DNS name, else its common name.
fn host_name(c: &Certificate) -> Option<String> {
    c.dns_names.first().cloned().or_else(|| {
        dn_parts(&c.subject)
            .into_iter()
            .find_map(|p| p.strip_prefix("cn=").map(str::to_string))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ChainCertificate;

    fn cert(subject: &str, issuer: &str, serial: u8, der: u8) -> Certificate {
        Certificate {
            der: vec![0x30, der],
            subject_der: Vec::new(),
            issuer_der: Vec::new(),
            subject: subject.into(),
            issuer: issuer.into(),
            serial: vec![serial],
            not_before: 1_793_608_943,
            not_after: 2_424_760_943,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            emails: Vec::new(),
            key_usage: None,
            is_ca: serial == 1,
            key_bits: 2048,
        }
    }

    fn row<'a>(tp: &str, ca: bool, c: &'a Certificate) -> PkiCertRow<'a> {
        PkiCertRow {
            trustpoint: tp.into(),
            ca,
            cert: c,
            start: "10:42:23 UTC Nov 2 2026".into(),
            end: "10:42:23 UTC Nov 2 2046".into(),
        }
    }

    #[test]
    fn certificates_in_ios_layout() {
        let ours = cert("cn=gw1.example.com,o=Example", "cn=Lab CA,o=Example", 2, 1);
        let ca = cert("cn=Lab CA,o=Example", "cn=Lab CA,o=Example", 1, 2);
        let rows = [row("LAB", false, &ours), row("LAB", true, &ca)];
        let want = "Certificate
  Status: Available
  Certificate Serial Number (hex): 02
  Certificate Usage: General Purpose
  Issuer: 
    cn=Lab CA
    o=Example
  Subject:
    Name: gw1.example.com
    cn=gw1.example.com
    o=Example
  Validity Date: 
    start date: 10:42:23 UTC Nov 2 2026
    end   date: 10:42:23 UTC Nov 2 2046
  Associated Trustpoints: LAB 

CA Certificate
  Status: Available
  Certificate Serial Number (hex): 01
  Certificate Usage: Signature
  Issuer: 
    cn=Lab CA
    o=Example
  Subject:
    cn=Lab CA
    o=Example
  Validity Date: 
    start date: 10:42:23 UTC Nov 2 2026
    end   date: 10:42:23 UTC Nov 2 2046
  Associated Trustpoints: LAB 

";
        assert_eq!(show_crypto_pki_certificates(&rows, None), want);
    }

    #[test]
    fn a_shared_ca_is_shown_once_and_filters_select_a_trustpoint() {
        let mut ours = cert("cn=gw1,o=Example\\, Inc", "cn=Lab CA", 2, 1);
        ours.dns_names.push("gw1.example.com".into());
        let ca = cert("cn=Lab CA", "cn=Lab CA", 1, 2);
        let rows = [
            row("A", false, &ours),
            row("A", true, &ca),
            row("B", true, &ca),
        ];
        let all = show_crypto_pki_certificates(&rows, None);
        assert_eq!(all.matches("CA Certificate\n").count(), 1, "{all}");
        assert!(all.contains("  Associated Trustpoints: A B \n"), "{all}");
        // The DNS name, and a comma escaped inside an attribute.
        assert!(
            all.contains("    Name: gw1.example.com\n    cn=gw1\n    o=Example\\, Inc\n"),
            "{all}"
        );
        let b = show_crypto_pki_certificates(&rows, Some("B"));
        assert!(
            !b.contains("\nCertificate\n") && !b.starts_with("Certificate\n"),
            "{b}"
        );
        assert!(b.starts_with("CA Certificate\n"), "{b}");
        assert!(b.contains("  Associated Trustpoints: B A \n"), "{b}");
        assert_eq!(show_crypto_pki_certificates(&rows, Some("NONE")), "");
    }

    #[test]
    fn trustpoints_in_ios_layout() {
        let ca = cert("cn=Lab CA,o=Example", "cn=Lab CA,o=Example", 1, 2);
        let chained = |ca: bool, serial: &str| ChainCertificate {
            ca,
            serial: serial.into(),
            der: vec![0x30],
        };
        let tps = [
            Trustpoint {
                name: "LAB".into(),
                chain: vec![chained(false, "02"), chained(true, "01")],
                ..Default::default()
            },
            Trustpoint {
                name: "UNPARSED".into(),
                chain: vec![chained(true, "0a")],
                ..Default::default()
            },
            Trustpoint {
                name: "EMPTY".into(),
                ..Default::default()
            },
        ];
        let rows = [row("LAB", true, &ca)];
        let want = "Trustpoint LAB:
    Subject Name: 
    cn=Lab CA
    o=Example
          Serial Number (hex): 01
    Certificate configured.

Trustpoint UNPARSED:
          Serial Number (hex): 0A
    Certificate configured.

Trustpoint EMPTY:
    Not authenticated.

";
        assert_eq!(show_crypto_pki_trustpoints(&tps, &rows), want);
    }
}
