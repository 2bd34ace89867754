//! A parsed X.509 certificate: what IKE and the show commands need from it.

use std::net::Ipv4Addr;

use x509_cert::der::{self, Decode, Encode, Tag, Tagged};
use x509_cert::ext::pkix::{self, name::GeneralName};
use x509_cert::name::Name;

use super::PkiError;

/// keyUsage bits (RFC 5280 section 4.2.1.3) that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation (contentCommitment).
    pub non_repudiation: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
    /// cRLSign.
    pub crl_sign: bool,
}

/// One X.509 certificate, DER kept as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The whole certificate, DER.
    pub der: Vec<u8>,
    /// The subject Name, DER (the whole SEQUENCE, tag included): what an ID_DER_ASN1_DN
    /// identity carries and is compared with.
    pub subject_der: Vec<u8>,
    /// The issuer Name, DER (tag included).
    pub issuer_der: Vec<u8>,
    /// The subject as IOS prints it (`cn=gw1.example.com,o=Example`): attribute short names
    /// in lower case, in certificate order, comma-separated.
    pub subject: String,
    /// The issuer, same form.
    pub issuer: String,
    /// Serial number, big-endian bytes without leading zeros.
    pub serial: Vec<u8>,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// subjectAltName iPAddress entries (IPv4).
    pub ip_addresses: Vec<Ipv4Addr>,
    /// subjectAltName rfc822Name entries.
    pub emails: Vec<String>,
    /// keyUsage, `None` when the extension is absent.
    pub key_usage: Option<KeyUsage>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// RSA modulus size in bits.
    pub key_bits: usize,
}

/// A DER decoding error as ours, keeping the offset the decoder reached.
fn der_error(what: &str, e: der::Error) -> PkiError {
    PkiError::BadCertificate {
        reason: format!("{what}: {}", e.kind()),
        offset: e.position().and_then(|p| usize::try_from(p).ok()),
    }
}

fn bad(reason: impl Into<String>) -> PkiError {
    PkiError::BadCertificate {
        reason: reason.into(),
        offset: None,
    }
}

fn unix_seconds(t: x509_cert::time::Time, what: &str) -> Result<i64, PkiError> {
    i64::try_from(t.to_unix_duration().as_secs()).map_err(|_| bad(format!("{what} out of range")))
}

/// The subjectPublicKey of an rsaEncryption SPKI, as a PKCS#1 RSAPublicKey DER; `None` for
/// other algorithms.
fn rsa_spki_key(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Option<&[u8]> {
    if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return None;
    }
    spki.subject_public_key.as_bytes()
}

impl Certificate {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let cert =
            x509_cert::Certificate::from_der(der).map_err(|e| der_error("certificate", e))?;
        let tbs = cert.tbs_certificate();
        let subject_der = tbs
            .subject()
            .to_der()
            .map_err(|e| der_error("subject", e))?;
        let issuer_der = tbs.issuer().to_der().map_err(|e| der_error("issuer", e))?;
        let subject = name_text(tbs.subject());
        let issuer = name_text(tbs.issuer());

        let raw_serial = tbs.serial_number().as_bytes();
        let mut serial: Vec<u8> = raw_serial.iter().copied().skip_while(|b| *b == 0).collect();
        if serial.is_empty() {
            serial.push(0);
        }

        let validity = tbs.validity();
        let not_before = unix_seconds(validity.not_before, "notBefore")?;
        let not_after = unix_seconds(validity.not_after, "notAfter")?;

        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut emails = Vec::new();
        if let Some((_, san)) = tbs
            .get_extension::<pkix::SubjectAltName>()
            .map_err(|e| der_error("subjectAltName", e))?
        {
            for name in &san.0 {
                match name {
                    GeneralName::DnsName(s) => dns_names.push(s.to_string()),
                    GeneralName::Rfc822Name(s) => emails.push(s.to_string()),
                    GeneralName::IpAddress(o) => {
                        // IPv6 entries are skipped: the identities compared with them are IPv4.
                        if let Ok(octets) = <[u8; 4]>::try_from(o.as_bytes()) {
                            ip_addresses.push(Ipv4Addr::from(octets));
                        }
                    }
                    _ => {}
                }
            }
        }

        let key_usage = tbs
            .get_extension::<pkix::KeyUsage>()
            .map_err(|e| der_error("keyUsage", e))?
            .map(|(_, ku)| KeyUsage {
                digital_signature: ku.digital_signature(),
                non_repudiation: ku.non_repudiation(),
                key_cert_sign: ku.key_cert_sign(),
                crl_sign: ku.crl_sign(),
            });
        let is_ca = tbs
            .get_extension::<pkix::BasicConstraints>()
            .map_err(|e| der_error("basicConstraints", e))?
            .is_some_and(|(_, bc)| bc.ca);

        // Non-RSA keys parse (the certificate may still be a CA or shown), with 0 bits.
        let key_bits = match rsa_spki_key(tbs.subject_public_key_info()) {
            None => 0,
            Some(pkcs1) => {
                let key = rsa::pkcs1::RsaPublicKeyRef::from_der(pkcs1)
                    .map_err(|e| der_error("RSA public key", e))?;
                super::key::uint_bits(key.modulus.as_bytes())
            }
        };

        Ok(Certificate {
            der: der.to_vec(),
            subject_der,
            issuer_der,
            subject,
            issuer,
            serial,
            not_before,
            not_after,
            dns_names,
            ip_addresses,
            emails,
            key_usage,
            is_ca,
            key_bits,
        })
    }

    /// Parses every `-----BEGIN CERTIFICATE-----` block of a PEM text, in order.
    pub fn from_pem(text: &str) -> Result<Vec<Self>, PkiError> {
        let blocks = super::pem::blocks(text).map_err(bad)?;
        let certs = blocks
            .iter()
            .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
            .map(|b| Self::from_der(&b.der))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(bad("no CERTIFICATE block in PEM text"));
        }
        Ok(certs)
    }

    /// The certificate's RSA public key; `None` when it is not RSA, outside the accepted sizes,
    /// or unreadable.
    pub(crate) fn rsa_public_key(&self) -> Option<rsa::PublicKey> {
        let cert = x509_cert::Certificate::from_der(&self.der).ok()?;
        let pkcs1 = rsa_spki_key(cert.tbs_certificate().subject_public_key_info())?;
        rsa::pkcs1::DecodeRsaPublicKey::from_pkcs1_der(pkcs1).ok()
    }

    /// Checks a raw PKCS#1 v1.5 signature (no DigestInfo, as in SIG_I/SIG_R) of `data` made
    /// with this certificate's key.
    pub fn verify_raw(&self, data: &[u8], signature: &[u8]) -> bool {
        self.rsa_public_key().is_some_and(|key| {
            key.verify(rsa::Pkcs1v15Sign::new_unprefixed(), data, signature)
                .is_ok()
        })
    }

    /// Whether `name` (an ID_FQDN identity) is one of the dNSName subjectAltNames (ASCII
    /// case-insensitive).
    pub fn has_dns_name(&self, name: &str) -> bool {
        self.dns_names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The certificate's validity as `(start, end)` in IOS's layout (`10:42:23 UTC Nov 2 2026`).
    pub fn validity_ios(&self) -> (String, String) {
        (ios_time(self.not_before), ios_time(self.not_after))
    }

    /// The serial number in hex as IOS prints it (upper case, no separators).
    pub fn serial_hex(&self) -> String {
        self.serial.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// Unix seconds as `HH:MM:SS UTC Mon D YYYY` (IOS `show crypto pki certificates`).
pub(crate) fn ios_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let name = usize::try_from(month.saturating_sub(1))
        .ok()
        .and_then(|m| MONTHS.get(m))
        .copied()
        .unwrap_or("???");
    format!(
        "{:02}:{:02}:{:02} UTC {name} {day} {year}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Proleptic Gregorian (year, month 1..=12, day 1..=31) of a day count from 1970-01-01.
///
/// Counts in 400-year eras (146 097 days, the calendar's exact period) starting on March 1 so
/// that the leap day falls at the end of each shifted year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // 719 468 days from 0000-03-01 to 1970-01-01.
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era.saturating_mul(400) + i64::from(month <= 2);
    (year, month, day)
}

/// The IOS short name of an attribute type; `None` for those printed as dotted OIDs.
fn short_name(oid: &der::asn1::ObjectIdentifier) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "2.5.4.3" => "cn",
        "2.5.4.10" => "o",
        "2.5.4.11" => "ou",
        "2.5.4.6" => "c",
        "2.5.4.7" => "l",
        "2.5.4.8" => "st",
        "2.5.4.5" => "serialnumber",
        "2.5.4.9" => "street",
        "2.5.4.12" => "title",
        "1.2.840.113549.1.9.1" => "e",
        "0.9.2342.19200300.100.1.25" => "dc",
        // PKCS#9 unstructuredName / unstructuredAddress: what IOS enrolment puts in a router's
        // subject, printed as IOS does.
        "1.2.840.113549.1.9.2" => "hostname",
        "1.2.840.113549.1.9.8" => "ipaddress",
        _ => return None,
    })
}

/// An attribute value as text: the string types decoded, anything else as `#hex` of its DER
/// (RFC 4514 section 2.4) so it still prints.
fn value_text(value: &der::Any) -> String {
    let bytes = value.value();
    let text = match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::NumericString => core::str::from_utf8(bytes).ok().map(str::to_string),
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => {
            let units = bytes
                .chunks(2)
                .map(|c| match c {
                    [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                    _ => None,
                })
                .collect::<Option<Vec<u16>>>();
            units.and_then(|u| String::from_utf16(&u).ok())
        }
        _ => None,
    };
    text.unwrap_or_else(|| {
        let der = value.to_der().unwrap_or_default();
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        format!("#{hex}")
    })
}

fn name_text(name: &Name) -> String {
    name.iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let value = value_text(&atv.value);
                    match short_name(&atv.oid) {
                        Some(short) => format!("{short}={value}"),
                        None => format!("{}={value}", atv.oid),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A DER Name (the whole SEQUENCE) as IOS prints it (`cn=gw1,o=Example`); `None` when it does
/// not parse.
pub fn dn_text(der: &[u8]) -> Option<String> {
    Name::from_der(der).ok().map(|n| name_text(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("testdata/ca.pem");
    const GW1: &str = include_str!("testdata/gw1.pem");
    const GW2: &str = include_str!("testdata/gw2.pem");
    const KENC: &str = include_str!("testdata/kenc.pem");

    fn one(pem: &str) -> Certificate {
        let mut v = Certificate::from_pem(pem).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn pki_cert_parse_gw1() {
        let c = one(GW1);
        assert_eq!(c.subject, "cn=gw1.example.com,o=Example,c=US");
        assert_eq!(c.issuer, "cn=Example Root CA,o=Example,c=US");
        assert_eq!(c.serial, vec![0x10, 0x01]);
        assert_eq!(c.serial_hex(), "1001");
        assert_eq!(c.dns_names, vec!["gw1.example.com".to_string()]);
        assert_eq!(c.ip_addresses, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert!(c.emails.is_empty());
        assert!(c.has_dns_name("GW1.example.COM"));
        assert!(!c.has_dns_name("gw2.example.com"));
        assert_eq!(
            c.key_usage,
            Some(KeyUsage {
                digital_signature: true,
                ..KeyUsage::default()
            })
        );
        assert!(!c.is_ca);
        assert_eq!(c.key_bits, 2048);
        assert_eq!(c.not_after - c.not_before, 7300 * 86_400);
        assert_eq!(dn_text(&c.subject_der).unwrap(), c.subject);
        assert_eq!(dn_text(&c.issuer_der).unwrap(), c.issuer);
        let ca = one(CA);
        assert_eq!(ca.subject_der, c.issuer_der);
        assert!(ca.is_ca);
        assert_eq!(
            ca.key_usage,
            Some(KeyUsage {
                key_cert_sign: true,
                crl_sign: true,
                ..KeyUsage::default()
            })
        );
        assert_eq!(Certificate::from_der(&c.der).unwrap(), c);
    }

    #[test]
    fn pki_cert_parse_gw2_and_kenc() {
        let c = one(GW2);
        assert_eq!(
            c.subject,
            "cn=gw2.example.com,ou=VPN,o=Example,c=US,e=vpn@example.com"
        );
        assert_eq!(c.ip_addresses, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        let k = one(KENC);
        assert_eq!(k.key_usage, Some(KeyUsage::default()));
    }

    #[test]
    fn pki_cert_pem_chain_in_order() {
        let text = format!("{GW1}{CA}");
        let v = Certificate::from_pem(&text).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].subject, "cn=gw1.example.com,o=Example,c=US");
        assert!(v[1].is_ca);
        assert!(Certificate::from_pem("").is_err());
        assert!(Certificate::from_pem(include_str!("testdata/gw1.key")).is_err());
    }

    #[test]
    fn pki_cert_errors_carry_offsets() {
        let der = one(GW1).der;
        match Certificate::from_der(&der[..100]) {
            Err(PkiError::BadCertificate { offset, .. }) => assert!(offset.is_some()),
            other => panic!("{other:?}"),
        }
        assert!(dn_text(&[0x30, 0x05]).is_none());
    }

    #[test]
    fn pki_cert_no_panic_on_truncation_or_bit_flips() {
        let der = one(GW2).der;
        for cut in 0..der.len() {
            assert!(Certificate::from_der(&der[..cut]).is_err());
        }
        for i in 0..der.len() {
            for bit in 0..8 {
                let mut d = der.clone();
                d[i] ^= 1 << bit;
                if let Ok(c) = Certificate::from_der(&d) {
                    let _ = c.validity_ios();
                    let _ = c.verify_raw(b"x", &[0; 256]);
                    let _ = dn_text(&c.subject_der);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn pki_cert_random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = Certificate::from_der(&bytes);
            let _ = dn_text(&bytes);
            let mut framed = vec![0x30, 0x82, 0x02, 0x58];
            framed.extend_from_slice(&bytes);
            let _ = Certificate::from_der(&framed);
        }
    }

    #[test]
    fn pki_cert_validity_ios_layout() {
        assert_eq!(ios_time(0), "00:00:00 UTC Jan 1 1970");
        // 2026-11-02 10:42:23 UTC.
        assert_eq!(ios_time(1_793_616_143), "10:42:23 UTC Nov 2 2026");
        // Leap day and the turn of a century.
        assert_eq!(ios_time(951_782_400), "00:00:00 UTC Feb 29 2000");
        assert_eq!(ios_time(4_107_542_399), "23:59:59 UTC Feb 28 2100");
        assert_eq!(ios_time(4_107_542_400), "00:00:00 UTC Mar 1 2100");
        assert_eq!(ios_time(-1), "23:59:59 UTC Dec 31 1969");
        let _ = ios_time(i64::MIN);
        let _ = ios_time(i64::MAX);
        let (start, end) = one(GW1).validity_ios();
        assert!(
            start.ends_with(" 2026") && end.ends_with(" 2046"),
            "{start} {end}"
        );
    }

    #[test]
    fn pki_cert_dn_unknown_attribute_dotted() {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.99, UTF8String "x" } } }
        let der = [
            0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x63, 0x0c, 0x01, b'x',
        ];
        assert_eq!(dn_text(&der).unwrap(), "2.5.4.99=x");
    }
}
