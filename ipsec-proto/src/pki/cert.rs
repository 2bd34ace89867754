//! A parsed X.509 certificate: what IKE and the show commands need from it.

use std::net::Ipv4Addr;

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

impl Certificate {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let _ = der;
        unimplemented!()
    }

    /// Parses every `-----BEGIN CERTIFICATE-----` block of a PEM text, in order.
    pub fn from_pem(text: &str) -> Result<Vec<Self>, PkiError> {
        let _ = text;
        unimplemented!()
    }

    /// Checks a raw PKCS#1 v1.5 signature (no DigestInfo, as in SIG_I/SIG_R) of `data` made
    /// with this certificate's key.
    pub fn verify_raw(&self, data: &[u8], signature: &[u8]) -> bool {
        let _ = (data, signature);
        unimplemented!()
    }

    /// Whether `name` (an ID_FQDN identity) is one of the dNSName subjectAltNames (ASCII
    /// case-insensitive).
    pub fn has_dns_name(&self, name: &str) -> bool {
        self.dns_names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The certificate's validity as `(start, end)` in IOS's layout (`10:42:23 UTC Nov 2 2026`).
    pub fn validity_ios(&self) -> (String, String) {
        unimplemented!()
    }
}

/// A DER Name (the whole SEQUENCE) as IOS prints it (`cn=gw1,o=Example`); `None` when it does
/// not parse.
pub fn dn_text(der: &[u8]) -> Option<String> {
    let _ = der;
    unimplemented!()
}
