//! Our RSA private key and the raw PKCS#1 v1.5 signature of IKEv1.

use super::{Certificate, PkiError};
use crate::rng::Rng;

/// An RSA private key (`crypto pki trustpoint T` / `rsakeypair LABEL`).
#[derive(Clone)]
pub struct PrivateKey {
    _todo: (),
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({} bits)", self.modulus_bits())
    }
}

impl PartialEq for PrivateKey {
    /// Keys are equal when their public halves are (configurations compare that way).
    fn eq(&self, other: &Self) -> bool {
        self.public_der() == other.public_der()
    }
}
impl Eq for PrivateKey {}

impl PrivateKey {
    /// Reads a PEM key: `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1) or `-----BEGIN PRIVATE
    /// KEY-----` (PKCS#8, unencrypted).
    pub fn from_pem(text: &str) -> Result<Self, PkiError> {
        let _ = text;
        unimplemented!()
    }

    /// Reads a DER key, PKCS#1 or PKCS#8.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let _ = der;
        unimplemented!()
    }

    /// Size of the modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        unimplemented!()
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_der(&self) -> Vec<u8> {
        unimplemented!()
    }

    /// Whether `cert` carries this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        let _ = cert;
        unimplemented!()
    }

    /// PKCS#1 v1.5 (block type 1) signature of `data` as it is, with no DigestInfo: what SIG_I
    /// and SIG_R carry (`data` is HASH_I or HASH_R). Blinded with `rng`.
    pub fn sign_raw(&self, rng: &mut Rng, data: &[u8]) -> Result<Vec<u8>, PkiError> {
        let _ = (rng, data);
        unimplemented!()
    }
}
