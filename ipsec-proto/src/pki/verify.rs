//! Certificate path validation: chain to a configured CA, validity at the caller's time, key
//! usage, CRLs.

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

impl TrustStore {
    /// Validates `end_entity` (with `intermediates` the peer also sent) at `unix_time`
    /// (seconds since the Unix epoch).
    pub fn validate(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        unix_time: i64,
    ) -> Result<(), CertRejected> {
        let _ = (end_entity, intermediates, unix_time);
        unimplemented!()
    }

    /// The anchor whose subject is `name_der` (a CR payload's DN, or a certificate's issuer).
    pub fn anchor_by_subject(&self, name_der: &[u8]) -> Option<&Certificate> {
        self.anchors.iter().find(|a| a.subject_der == name_der)
    }

    /// Checks that a DER CRL parses (for configuration time).
    pub fn check_crl(der: &[u8]) -> Result<(), PkiError> {
        let _ = der;
        unimplemented!()
    }
}
