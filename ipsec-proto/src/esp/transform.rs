//! ESP transforms (what `crypto ipsec transform-set` names): an encryption algorithm and an
//! optional integrity algorithm, plus the SA mode.

use crate::crypto::cipher::CipherAlg;
use crate::crypto::hmac::HashAlg;

/// ESP encryption: a CBC cipher with an explicit per-packet IV, or NULL encryption (RFC 2410,
/// IOS `esp-null`), which has no IV and a 4-byte alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspCipher {
    /// NULL encryption: the payload travels in the clear, integrity is then mandatory.
    Null,
    /// A CBC cipher (RFC 2451 3DES/DES, RFC 3602 AES).
    Cbc(CipherAlg),
    /// AES-GCM with a 16-byte ICV (RFC 4106, ESP transform 20; IOS `esp-gcm [192|256]`): a
    /// combined mode, so the transform has no separate integrity algorithm. The AES variant is
    /// the argument.
    AesGcm16(CipherAlg),
}

impl From<CipherAlg> for EspCipher {
    fn from(alg: CipherAlg) -> Self {
        EspCipher::Cbc(alg)
    }
}

impl EspCipher {
    /// Encryption key length in bytes, i.e. its share of KEYMAT (0 for NULL; for GCM the AES
    /// key and the 4-byte salt after it, RFC 4106 §8.1).
    pub const fn key_len(self) -> usize {
        match self {
            EspCipher::Null => 0,
            EspCipher::Cbc(a) => a.key_len(),
            EspCipher::AesGcm16(a) => a.key_len() + crate::crypto::gcm::SALT_LEN,
        }
    }

    /// IV length in bytes carried in every packet (0 for NULL).
    pub const fn iv_len(self) -> usize {
        match self {
            EspCipher::Null => 0,
            EspCipher::Cbc(a) => a.block_len(),
            EspCipher::AesGcm16(_) => crate::crypto::gcm::IV_LEN,
        }
    }

    /// The alignment of `payload | padding | pad length | next header`: the cipher block, and
    /// never less than the 4 bytes RFC 4303 requires (GCM is a stream mode: 4).
    pub const fn align(self) -> usize {
        match self {
            EspCipher::Null | EspCipher::AesGcm16(_) => 4,
            EspCipher::Cbc(a) => a.block_len(),
        }
    }

    /// ICV bytes the cipher itself produces (a combined mode's tag), 0 for the others.
    pub const fn icv_len(self) -> usize {
        match self {
            EspCipher::AesGcm16(_) => crate::crypto::gcm::ICV_LEN,
            _ => 0,
        }
    }

    /// Whether this is a combined-mode (AEAD) cipher, which authenticates by itself.
    pub const fn is_aead(self) -> bool {
        matches!(self, EspCipher::AesGcm16(_))
    }
}

/// ESP integrity algorithms (RFC 2403, RFC 2404, RFC 4868) with their ICV truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspIntegrity {
    /// HMAC-MD5-96 (`esp-md5-hmac`): 16-byte key, 12-byte ICV.
    HmacMd5_96,
    /// HMAC-SHA1-96 (`esp-sha-hmac`): 20-byte key, 12-byte ICV.
    HmacSha1_96,
    /// HMAC-SHA-256-128 (`esp-sha256-hmac`): 32-byte key, 16-byte ICV.
    HmacSha256_128,
    /// HMAC-SHA-384-192 (`esp-sha384-hmac`): 48-byte key, 24-byte ICV.
    HmacSha384_192,
    /// HMAC-SHA-512-256 (`esp-sha512-hmac`): 64-byte key, 32-byte ICV.
    HmacSha512_256,
}

impl EspIntegrity {
    /// The underlying hash.
    pub const fn hash(self) -> HashAlg {
        match self {
            EspIntegrity::HmacMd5_96 => HashAlg::Md5,
            EspIntegrity::HmacSha1_96 => HashAlg::Sha1,
            EspIntegrity::HmacSha256_128 => HashAlg::Sha256,
            EspIntegrity::HmacSha384_192 => HashAlg::Sha384,
            EspIntegrity::HmacSha512_256 => HashAlg::Sha512,
        }
    }

    /// Key length in bytes (the hash output length).
    pub const fn key_len(self) -> usize {
        self.hash().output_len()
    }

    /// ICV length in bytes (the truncated HMAC).
    pub const fn icv_len(self) -> usize {
        match self {
            EspIntegrity::HmacMd5_96 | EspIntegrity::HmacSha1_96 => 12,
            EspIntegrity::HmacSha256_128 => 16,
            EspIntegrity::HmacSha384_192 => 24,
            EspIntegrity::HmacSha512_256 => 32,
        }
    }
}

/// An ESP transform: encryption plus optional integrity. Encryption-only (`esp-3des` alone) is
/// allowed, as IOS allows it, but then anti-replay is off (the sequence number is not
/// authenticated). NULL encryption without integrity, and a combined-mode cipher with one, are
/// refused when an SA is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspTransform {
    /// Encryption algorithm.
    pub cipher: EspCipher,
    /// Integrity algorithm, `None` for encryption-only ESP.
    pub integrity: Option<EspIntegrity>,
}

impl EspTransform {
    /// A transform from its two parts.
    pub fn new(cipher: impl Into<EspCipher>, integrity: Option<EspIntegrity>) -> Self {
        EspTransform {
            cipher: cipher.into(),
            integrity,
        }
    }

    /// ICV length in bytes (0 without integrity; a combined-mode cipher's tag).
    pub const fn icv_len(&self) -> usize {
        match self.integrity {
            Some(i) => i.icv_len(),
            None => self.cipher.icv_len(),
        }
    }

    /// Whether packets are authenticated (an integrity algorithm or a combined-mode cipher), so
    /// that anti-replay can work.
    pub const fn authenticates(&self) -> bool {
        self.integrity.is_some() || self.cipher.is_aead()
    }

    /// Bytes of KEYMAT this transform consumes: encryption key first, then integrity key
    /// (RFC 2409 section 5.5).
    pub const fn keymat_len(&self) -> usize {
        self.cipher.key_len()
            + match self.integrity {
                Some(i) => i.key_len(),
                None => 0,
            }
    }
}

/// How the SA's payload relates to the IP packet around it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EspMode {
    /// The payload is a whole inner IP packet (next header 4 or 41).
    #[default]
    Tunnel,
    /// The payload is the transport-layer part of the original packet.
    Transport,
}
