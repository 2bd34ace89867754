//! RSA signature verification for rustls-webpki, which ships none without ring or aws-lc.
//!
//! PKCS#1 v1.5 is checked by rebuilding the whole DigestInfo (RFC 8017 section 9.2, note 1)
//! from our sha1/sha2 0.10 digests and comparing it under the unprefixed scheme: that keeps a
//! single hash implementation for the stack. PSS goes through `rsa::Pss`, which needs its own
//! digest type (rsa's sha2 0.11) for the mask generation.

use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};
use sha1::Digest as _;

#[derive(Clone, Copy, Debug)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The DER DigestInfo up to (and including) the OCTET STRING header of the digest.
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(message).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
        }
    }
}

/// The contents of the `sha1WithRSAEncryption` AlgorithmIdentifier (OID 1.2.840.113549.1.1.5,
/// NULL parameters), which pki-types does not define: SHA-1 is gone from the web PKI, not from
/// older VPN CAs.
const RSA_PKCS1_SHA1: AlgorithmIdentifier = AlgorithmIdentifier::from_slice(&[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
]);

fn public_key(spk: &[u8]) -> Result<rsa::PublicKey, InvalidSignature> {
    rsa::pkcs1::DecodeRsaPublicKey::from_pkcs1_der(spk).map_err(|_| InvalidSignature)
}

#[derive(Debug)]
struct RsaPkcs1 {
    hash: Hash,
    alg: AlgorithmIdentifier,
}

impl SignatureVerificationAlgorithm for RsaPkcs1 {
    fn verify_signature(
        &self,
        public_key_der: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = public_key(public_key_der)?;
        let mut t = self.hash.digest_info_prefix().to_vec();
        t.extend_from_slice(&self.hash.digest(message));
        key.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &t, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.alg
    }

    fn fips(&self) -> bool {
        false
    }
}

#[derive(Debug)]
struct RsaPss {
    hash: Hash,
    alg: AlgorithmIdentifier,
}

impl SignatureVerificationAlgorithm for RsaPss {
    fn verify_signature(
        &self,
        public_key_der: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = public_key(public_key_der)?;
        let hashed = self.hash.digest(message);
        // The pki-types identifiers fix the salt at the digest length.
        let salt = hashed.len();
        let result = match self.hash {
            Hash::Sha256 => key.verify(
                rsa::Pss::<rsa::sha2::Sha256>::new_with_salt(salt),
                &hashed,
                signature,
            ),
            Hash::Sha384 => key.verify(
                rsa::Pss::<rsa::sha2::Sha384>::new_with_salt(salt),
                &hashed,
                signature,
            ),
            Hash::Sha512 => key.verify(
                rsa::Pss::<rsa::sha2::Sha512>::new_with_salt(salt),
                &hashed,
                signature,
            ),
            Hash::Sha1 => return Err(InvalidSignature),
        };
        result.map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.alg
    }

    fn fips(&self) -> bool {
        false
    }
}

static PKCS1_SHA256: RsaPkcs1 = RsaPkcs1 {
    hash: Hash::Sha256,
    alg: alg_id::RSA_PKCS1_SHA256,
};
static PKCS1_SHA384: RsaPkcs1 = RsaPkcs1 {
    hash: Hash::Sha384,
    alg: alg_id::RSA_PKCS1_SHA384,
};
static PKCS1_SHA512: RsaPkcs1 = RsaPkcs1 {
    hash: Hash::Sha512,
    alg: alg_id::RSA_PKCS1_SHA512,
};
static PKCS1_SHA1: RsaPkcs1 = RsaPkcs1 {
    hash: Hash::Sha1,
    alg: RSA_PKCS1_SHA1,
};
static PSS_SHA256: RsaPss = RsaPss {
    hash: Hash::Sha256,
    alg: alg_id::RSA_PSS_SHA256,
};
static PSS_SHA384: RsaPss = RsaPss {
    hash: Hash::Sha384,
    alg: alg_id::RSA_PSS_SHA384,
};
static PSS_SHA512: RsaPss = RsaPss {
    hash: Hash::Sha512,
    alg: alg_id::RSA_PSS_SHA512,
};

/// Every algorithm path validation accepts for certificate and CRL signatures.
pub(crate) static ALL: &[&dyn SignatureVerificationAlgorithm] = &[
    &PKCS1_SHA256,
    &PKCS1_SHA384,
    &PKCS1_SHA512,
    &PKCS1_SHA1,
    &PSS_SHA256,
    &PSS_SHA384,
    &PSS_SHA512,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_algs_digest_info_lengths() {
        for h in [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            let p = h.digest_info_prefix();
            let d = h.digest(b"abc");
            // Outer SEQUENCE length covers everything after its two header bytes.
            assert_eq!(usize::from(p[1]), p.len() - 2 + d.len());
            assert_eq!(usize::from(p[p.len() - 1]), d.len());
        }
    }
}
