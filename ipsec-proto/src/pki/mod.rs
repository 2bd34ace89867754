//! X.509 certificates and RSA keys for `authentication rsa-sig` (RFC 2409 section 5.1, the PKI
//! profile of RFC 4945).
//!
//! - [`key`]: our RSA private key (PKCS#1 or PKCS#8 PEM/DER) and the raw PKCS#1 v1.5 signature
//!   IKEv1 puts in SIG_I/SIG_R (over HASH_I/HASH_R itself, no DigestInfo).
//! - [`cert`]: a parsed certificate: names, validity, subjectAltNames, its public key.
//! - [`verify`]: certificate path validation against configured CAs and CRLs at the caller's
//!   wall-clock time (sans-IO: the time comes in).
//!
//! The private-key operation is RustCrypto `rsa` 0.10, whose arithmetic is constant-time
//! (`crypto-bigint`): 0.9 and earlier carry RUSTSEC-2023-0071 (a timing side channel in
//! decryption and signing). Path validation is `rustls-webpki`.

mod algs;
pub mod cert;
pub mod key;
mod pem;
pub mod verify;

pub use cert::{Certificate, KeyUsage};
pub use key::PrivateKey;
pub use verify::{CertRejected, RevocationCheck, TrustStore};

/// Why certificate or key material could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Not a certificate (DER or PEM), or one this stack cannot read; `offset` is where the
    /// DER decoder stopped, when known.
    #[error("certificate unreadable{}: {reason}", offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    BadCertificate {
        /// What was wrong.
        reason: String,
        /// Byte offset in the DER, when known.
        offset: Option<usize>,
    },
    /// Not an RSA private key in PKCS#1 or PKCS#8 (PEM or DER).
    #[error("private key unreadable: {0}")]
    BadKey(String),
    /// The certificate's key is not RSA (only `rsa-sig` is implemented).
    #[error("certificate key is not RSA")]
    NotRsa,
    /// RSA key outside 1024..=8192 bits.
    #[error("RSA key of {0} bits refused (1024..=8192)")]
    KeySize(usize),
    /// The data to sign does not fit the modulus with PKCS#1 v1.5 padding.
    #[error("data of {0} bytes too long for the RSA modulus")]
    DataTooLong(usize),
    /// A CRL that cannot be parsed.
    #[error("CRL unreadable: {0}")]
    BadCrl(String),
}
