//! Certificate path validation: chain to a configured CA, validity at the caller's time, key
//! usage, CRLs.

use core::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{
    BorrowedCertRevocationList, CertRevocationList, EndEntityCert, ExtendedKeyUsageValidator,
    KeyPurposeId, KeyPurposeIdIter, RequiredEkuNotFoundContext, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};

use super::{Certificate, PkiError};

/// `revocation-check` of a trustpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RevocationCheck {
    /// `revocation-check none`.
    #[default]
    None,
    /// `revocation-check crl`: a certificate whose issuer has no CRL loaded is refused.
    Crl,
    /// `revocation-check crl none`: CRLs are checked where loaded, a missing CRL passes.
    CrlOrNone,
}

/// What a peer's certificate is validated against: one trustpoint's CAs and CRLs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrustStore {
    /// The trustpoint name (for messages and show output).
    pub name: String,
    /// The CA certificates (trust anchors).
    pub anchors: Vec<Certificate>,
    /// CRLs, DER.
    pub crls: Vec<Vec<u8>>,
    /// How revocation is checked.
    pub revocation: RevocationCheck,
}

/// Why a peer's certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertRejected {
    /// Past notAfter at the time of validation.
    #[error("certificate {subject} expired at {not_after} (unix time)")]
    Expired {
        /// Its subject.
        subject: String,
        /// notAfter, Unix seconds.
        not_after: i64,
    },
    /// Before notBefore.
    #[error("certificate {subject} not valid before {not_before} (unix time)")]
    NotYetValid {
        /// Its subject.
        subject: String,
        /// notBefore, Unix seconds.
        not_before: i64,
    },
    /// No configured CA issued it (or a chain to one could not be built).
    #[error("certificate {subject} issued by {issuer}, not by a trusted CA")]
    UnknownCa {
        /// Its subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// Revoked by a loaded CRL.
    #[error("certificate {subject} (serial {serial}) revoked")]
    Revoked {
        /// Its subject.
        subject: String,
        /// Its serial, hex.
        serial: String,
    },
    /// `revocation-check crl` and no CRL of the issuer is loaded.
    #[error("no CRL of {issuer} loaded (revocation-check crl)")]
    CrlUnavailable {
        /// The issuer.
        issuer: String,
    },
    /// keyUsage present without digitalSignature or nonRepudiation.
    #[error("certificate {subject} not usable for signatures (keyUsage)")]
    KeyUsage {
        /// Its subject.
        subject: String,
    },
    /// A signature in the chain does not verify, or another structural fault.
    #[error("certificate {subject} invalid: {reason}")]
    Invalid {
        /// Its subject.
        subject: String,
        /// What the validator said.
        reason: String,
    },
}

/// extendedKeyUsage purposes that make a certificate usable for IKE (DER OID contents).
const IKE_PURPOSES: [&[u8]; 7] = [
    // id-kp-ipsecIKE (RFC 4945 section 5.1.3.12).
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x11],
    // anyExtendedKeyUsage.
    &[0x55, 0x1d, 0x25, 0x00],
    // serverAuth and clientAuth: what most CAs put in VPN gateway certificates.
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    // The obsolete ipsecEndSystem, ipsecTunnel, ipsecUser (RFC 2459), still in old CAs.
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x05],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x06],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x07],
];

/// No extendedKeyUsage passes (strongSwan `pki --issue` and IOS enrolment add none); when
/// present it must name an IKE-compatible purpose.
struct IkeEku;

impl ExtendedKeyUsageValidator for IkeEku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if IKE_PURPOSES.iter().any(|p| KeyPurposeId::new(p) == id) {
                return Ok(());
            }
            present.push(id.to_decoded_oid());
        }
        if present.is_empty() {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            RequiredEkuNotFoundContext {
                required: webpki::KeyUsage::required(IKE_PURPOSES[0]),
                present,
            },
        ))
    }
}

impl TrustStore {
    /// Validates `end_entity` (with `intermediates` the peer also sent) at `unix_time`
    /// (seconds since the Unix epoch).
    pub fn validate(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        unix_time: i64,
    ) -> Result<(), CertRejected> {
        // Checked here first so the report names this certificate and its own date, whatever
        // webpki would find first in the chain.
        if unix_time < end_entity.not_before {
            return Err(CertRejected::NotYetValid {
                subject: end_entity.subject.clone(),
                not_before: end_entity.not_before,
            });
        }
        if unix_time > end_entity.not_after {
            return Err(CertRejected::Expired {
                subject: end_entity.subject.clone(),
                not_after: end_entity.not_after,
            });
        }
        let invalid = |reason: String| CertRejected::Invalid {
            subject: end_entity.subject.clone(),
            reason,
        };

        let anchor_ders: Vec<CertificateDer<'_>> = self
            .anchors
            .iter()
            .map(|a| CertificateDer::from(a.der.as_slice()))
            .collect();
        // A CA webpki cannot read is as good as absent: the result is UnknownCa.
        let anchors: Vec<_> = anchor_ders
            .iter()
            .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
            .collect();
        let inter_ders: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.der.as_slice()))
            .collect();
        let ee_der = CertificateDer::from(end_entity.der.as_slice());
        let ee = EndEntityCert::try_from(&ee_der).map_err(|e| invalid(e.to_string()))?;

        // CRLs were checked when configured; one that no longer parses is left out.
        let crls: Vec<CertRevocationList<'_>> = self
            .crls
            .iter()
            .filter_map(|d| BorrowedCertRevocationList::from_der(d).ok())
            .map(CertRevocationList::from)
            .collect();
        let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
        let policy = match self.revocation {
            RevocationCheck::None => None,
            RevocationCheck::Crl => Some(UnknownStatusPolicy::Deny),
            RevocationCheck::CrlOrNone => Some(UnknownStatusPolicy::Allow),
        };
        // webpki wants at least one CRL; with none loaded the chain is still validated (an
        // unknown CA is reported as such), and `revocation-check crl` refuses afterwards.
        let mut no_crl_loaded = false;
        let revocation = match policy {
            None => None,
            Some(policy) => match RevocationOptionsBuilder::new(&crl_refs) {
                Ok(b) => Some(b.with_status_policy(policy).build()),
                Err(_) => {
                    no_crl_loaded = policy == UnknownStatusPolicy::Deny;
                    None
                }
            },
        };

        let time =
            UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(unix_time).unwrap_or(0)));
        let result = ee.verify_for_usage(
            super::algs::ALL,
            &anchors,
            &inter_ders,
            time,
            IkeEku,
            revocation,
            None,
        );
        if let Err(e) = result {
            return Err(self.map_error(e, end_entity, intermediates, &crls));
        }
        if no_crl_loaded {
            return Err(CertRejected::CrlUnavailable {
                issuer: end_entity.issuer.clone(),
            });
        }

        if let Some(ku) = end_entity.key_usage {
            if !ku.digital_signature && !ku.non_repudiation {
                return Err(CertRejected::KeyUsage {
                    subject: end_entity.subject.clone(),
                });
            }
        }
        Ok(())
    }

    /// Our account of a webpki refusal, naming the certificate of the chain concerned where
    /// webpki's error does not.
    fn map_error(
        &self,
        e: webpki::Error,
        ee: &Certificate,
        intermediates: &[Certificate],
        crls: &[CertRevocationList<'_>],
    ) -> CertRejected {
        let chain = || {
            core::iter::once(ee)
                .chain(intermediates)
                .chain(&self.anchors)
        };
        match e {
            webpki::Error::CertExpired { not_after, .. } => {
                let not_after = i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX);
                let c = chain().find(|c| c.not_after == not_after).unwrap_or(ee);
                CertRejected::Expired {
                    subject: c.subject.clone(),
                    not_after,
                }
            }
            webpki::Error::CertNotValidYet { not_before, .. } => {
                let not_before = i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX);
                let c = chain().find(|c| c.not_before == not_before).unwrap_or(ee);
                CertRejected::NotYetValid {
                    subject: c.subject.clone(),
                    not_before,
                }
            }
            webpki::Error::UnknownIssuer => CertRejected::UnknownCa {
                subject: ee.subject.clone(),
                issuer: ee.issuer.clone(),
            },
            webpki::Error::CertRevoked => {
                let listed = |c: &Certificate| {
                    crls.iter().any(|crl| {
                        crl.issuer() == name_contents(&c.issuer_der)
                            && matches!(crl.find_serial(&der_serial(&c.serial)), Ok(Some(_)))
                    })
                };
                let c = core::iter::once(ee)
                    .chain(intermediates)
                    .find(|c| listed(c))
                    .unwrap_or(ee);
                CertRejected::Revoked {
                    subject: c.subject.clone(),
                    serial: c.serial_hex(),
                }
            }
            webpki::Error::UnknownRevocationStatus => {
                // The first certificate of the chain whose issuer has no CRL loaded.
                let has_crl = |c: &Certificate| {
                    crls.iter()
                        .any(|crl| crl.issuer() == name_contents(&c.issuer_der))
                };
                let c = core::iter::once(ee)
                    .chain(intermediates)
                    .find(|c| !has_crl(c))
                    .unwrap_or(ee);
                CertRejected::CrlUnavailable {
                    issuer: c.issuer.clone(),
                }
            }
            webpki::Error::RequiredEkuNotFoundContext(_) => CertRejected::Invalid {
                subject: ee.subject.clone(),
                reason: "extendedKeyUsage names no IKE purpose".into(),
            },
            other => CertRejected::Invalid {
                subject: ee.subject.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// The anchor whose subject is `name_der` (a CR payload's DN, or a certificate's issuer).
    pub fn anchor_by_subject(&self, name_der: &[u8]) -> Option<&Certificate> {
        self.anchors.iter().find(|a| a.subject_der == name_der)
    }

    /// Checks that a DER CRL parses (for configuration time).
    pub fn check_crl(der: &[u8]) -> Result<(), PkiError> {
        use x509_cert::der::Decode;
        // x509-cert first for an error with an offset; webpki then decides what validation
        // will accept (CRL version 2, supported extensions).
        x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).map_err(
            |e| {
                let at = e
                    .position()
                    .map(|p| format!(" at byte {}", u32::from(p)))
                    .unwrap_or_default();
                PkiError::BadCrl(format!("{}{at}", e.kind()))
            },
        )?;
        BorrowedCertRevocationList::from_der(der)
            .map(|_| ())
            .map_err(|e| PkiError::BadCrl(e.to_string()))
    }

    /// Every `-----BEGIN X509 CRL-----` block of a PEM text as DER, each checked with
    /// [`TrustStore::check_crl`].
    pub fn crls_from_pem(text: &str) -> Result<Vec<Vec<u8>>, PkiError> {
        let blocks = super::pem::blocks(text).map_err(PkiError::BadCrl)?;
        let crls: Vec<Vec<u8>> = blocks
            .into_iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| b.der)
            .collect();
        if crls.is_empty() {
            return Err(PkiError::BadCrl("no X509 CRL block in PEM text".into()));
        }
        for c in &crls {
            Self::check_crl(c)?;
        }
        Ok(crls)
    }
}

/// The contents of a DER Name SEQUENCE (what webpki compares), without its tag and length.
fn name_contents(name_der: &[u8]) -> &[u8] {
    use x509_cert::der::{Decode, Reader, SliceReader};
    let Ok(mut r) = SliceReader::new(name_der) else {
        return &[];
    };
    if x509_cert::der::Header::decode(&mut r).is_err() {
        return &[];
    }
    let header_len = usize::try_from(r.position()).unwrap_or(usize::MAX);
    name_der.get(header_len..).unwrap_or_default()
}

/// A serial as DER INTEGER contents: a leading zero where the top bit is set.
fn der_serial(serial: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(serial.len() + 1);
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(serial);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("testdata/ca.pem");
    const CA2: &str = include_str!("testdata/ca2.pem");
    const GW1: &str = include_str!("testdata/gw1.pem");
    const GW2: &str = include_str!("testdata/gw2.pem");
    const EXPIRED: &str = include_str!("testdata/expired.pem");
    const OTHER: &str = include_str!("testdata/other.pem");
    const KENC: &str = include_str!("testdata/kenc.pem");
    const REVOKED: &str = include_str!("testdata/revoked.pem");
    const CRL: &str = include_str!("testdata/ca.crl.pem");
    const SUB: &str = include_str!("testdata/sub.pem");
    const LEAF: &str = include_str!("testdata/leaf.pem");
    const PSS: &str = include_str!("testdata/pss.pem");
    const SHA1: &str = include_str!("testdata/sha1.pem");

    /// 2027-01-01T00:00:00Z.
    const T2027: i64 = 1_798_761_600;
    /// 2025-01-01T00:00:00Z, before the fixtures were made.
    const T2025: i64 = 1_735_689_600;

    fn cert(pem: &str) -> Certificate {
        Certificate::from_pem(pem).unwrap().remove(0)
    }

    fn store(revocation: RevocationCheck, crls: bool) -> TrustStore {
        TrustStore {
            name: "TP".into(),
            anchors: vec![cert(CA)],
            crls: if crls {
                TrustStore::crls_from_pem(CRL).unwrap()
            } else {
                Vec::new()
            },
            revocation,
        }
    }

    #[test]
    fn pki_verify_gw1_ok() {
        let s = store(RevocationCheck::None, false);
        assert_eq!(s.validate(&cert(GW1), &[], T2027), Ok(()));
        assert_eq!(s.validate(&cert(GW2), &[], T2027), Ok(()));
        // A CA among the anchors of another trustpoint changes nothing.
        let mut both = s.clone();
        both.anchors.insert(0, cert(CA2));
        assert_eq!(both.validate(&cert(GW1), &[], T2027), Ok(()));
    }

    #[test]
    fn pki_verify_chain_through_intermediate() {
        let s = store(RevocationCheck::None, false);
        let leaf = cert(LEAF);
        assert_eq!(s.validate(&leaf, &[cert(SUB)], T2027), Ok(()));
        assert!(matches!(
            s.validate(&leaf, &[], T2027),
            Err(CertRejected::UnknownCa { .. })
        ));
        // revocation-check crl: the root's CRL covers the sub CA, nothing covers the leaf.
        let s = store(RevocationCheck::Crl, true);
        assert_eq!(
            s.validate(&leaf, &[cert(SUB)], T2027),
            Err(CertRejected::CrlUnavailable {
                issuer: "cn=Example Sub CA,o=Example,c=US".into(),
            })
        );
        let s = store(RevocationCheck::CrlOrNone, true);
        assert_eq!(s.validate(&leaf, &[cert(SUB)], T2027), Ok(()));
    }

    #[test]
    fn pki_verify_pss_and_sha1_signed() {
        let s = store(RevocationCheck::None, false);
        assert_eq!(s.validate(&cert(PSS), &[], T2027), Ok(()));
        assert_eq!(s.validate(&cert(SHA1), &[], T2027), Ok(()));
    }

    #[test]
    fn pki_verify_expired() {
        let s = store(RevocationCheck::None, false);
        let c = cert(EXPIRED);
        assert_eq!(
            s.validate(&c, &[], T2027),
            Err(CertRejected::Expired {
                subject: "cn=expired.example.com,o=Example,c=US".into(),
                not_after: 1_609_459_200,
            })
        );
        // Within its dates it chains fine.
        assert_eq!(s.validate(&c, &[], 1_600_000_000 + 86_400 * 30), Ok(()));
    }

    #[test]
    fn pki_verify_not_yet_valid() {
        let s = store(RevocationCheck::None, false);
        let c = cert(GW1);
        assert_eq!(
            s.validate(&c, &[], T2025),
            Err(CertRejected::NotYetValid {
                subject: c.subject.clone(),
                not_before: c.not_before,
            })
        );
        assert!(matches!(
            s.validate(&c, &[], -5),
            Err(CertRejected::NotYetValid { .. })
        ));
    }

    #[test]
    fn pki_verify_unknown_ca() {
        let s = store(RevocationCheck::None, false);
        assert_eq!(
            s.validate(&cert(OTHER), &[], T2027),
            Err(CertRejected::UnknownCa {
                subject: "cn=other.example.com,o=Other Org,c=DE".into(),
                issuer: "cn=Other Root CA,o=Other Org,c=DE".into(),
            })
        );
        let empty = TrustStore::default();
        assert!(matches!(
            empty.validate(&cert(GW1), &[], T2027),
            Err(CertRejected::UnknownCa { .. })
        ));
    }

    #[test]
    fn pki_verify_revoked_with_crl() {
        for mode in [RevocationCheck::Crl, RevocationCheck::CrlOrNone] {
            let s = store(mode, true);
            assert_eq!(
                s.validate(&cert(REVOKED), &[], T2027),
                Err(CertRejected::Revoked {
                    subject: "cn=revoked.example.com,o=Example,c=US".into(),
                    serial: "1004".into(),
                })
            );
            assert_eq!(s.validate(&cert(GW1), &[], T2027), Ok(()));
        }
        // Without revocation checking the CRL is not consulted.
        let s = store(RevocationCheck::None, true);
        assert_eq!(s.validate(&cert(REVOKED), &[], T2027), Ok(()));
    }

    #[test]
    fn pki_verify_crl_mode_without_crl() {
        let s = store(RevocationCheck::Crl, false);
        assert_eq!(
            s.validate(&cert(GW1), &[], T2027),
            Err(CertRejected::CrlUnavailable {
                issuer: "cn=Example Root CA,o=Example,c=US".into(),
            })
        );
        // The chain is still checked first.
        assert!(matches!(
            s.validate(&cert(OTHER), &[], T2027),
            Err(CertRejected::UnknownCa { .. })
        ));
        // A CRL of another CA only: still unknown for this issuer.
        let mut other = TrustStore {
            anchors: vec![cert(CA), cert(CA2)],
            ..s
        };
        other.crls = TrustStore::crls_from_pem(CRL).unwrap();
        assert!(matches!(
            other.validate(&cert(OTHER), &[], T2027),
            Err(CertRejected::CrlUnavailable { .. })
        ));
    }

    #[test]
    fn pki_verify_crl_or_none_without_crl() {
        let s = store(RevocationCheck::CrlOrNone, false);
        assert_eq!(s.validate(&cert(GW1), &[], T2027), Ok(()));
        assert_eq!(s.validate(&cert(REVOKED), &[], T2027), Ok(()));
    }

    #[test]
    fn pki_verify_key_encipherment_only() {
        let s = store(RevocationCheck::None, false);
        assert_eq!(
            s.validate(&cert(KENC), &[], T2027),
            Err(CertRejected::KeyUsage {
                subject: "cn=kenc.example.com,o=Example,c=US".into(),
            })
        );
    }

    #[test]
    fn pki_verify_bad_signature_is_invalid() {
        let s = store(RevocationCheck::None, false);
        let mut c = cert(GW1);
        let n = c.der.len();
        c.der[n - 10] ^= 0x01;
        assert!(matches!(
            s.validate(&c, &[], T2027),
            Err(CertRejected::Invalid { .. })
        ));
    }

    #[test]
    fn pki_verify_check_crl() {
        let der = TrustStore::crls_from_pem(CRL).unwrap().remove(0);
        assert_eq!(TrustStore::check_crl(&der), Ok(()));
        match TrustStore::check_crl(&der[..50]) {
            Err(PkiError::BadCrl(m)) => assert!(m.contains("at byte"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(TrustStore::check_crl(&cert(GW1).der).is_err());
        assert!(TrustStore::crls_from_pem(GW1).is_err());
        for i in 0..der.len() {
            let mut d = der.clone();
            d[i] ^= 0x40;
            let _ = TrustStore::check_crl(&d);
        }
    }

    #[test]
    fn pki_verify_anchor_by_subject() {
        let s = store(RevocationCheck::None, false);
        let gw1 = cert(GW1);
        assert!(s.anchor_by_subject(&gw1.issuer_der).is_some());
        assert!(s.anchor_by_subject(&gw1.subject_der).is_none());
    }

    #[test]
    fn pki_verify_name_contents_and_serial() {
        assert_eq!(name_contents(&[0x30, 0x02, 0x31, 0x00]), &[0x31, 0x00]);
        assert_eq!(name_contents(&[0x30]), &[] as &[u8]);
        assert_eq!(der_serial(&[0x80]), vec![0, 0x80]);
        assert_eq!(der_serial(&[0x10, 0x04]), vec![0x10, 0x04]);
    }
}
