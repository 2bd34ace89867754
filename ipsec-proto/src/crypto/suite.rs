//! Negotiated attribute values to algorithms: IKE Phase 1 attributes (RFC 2409 App. A) and
//! IPsec DOI ESP transform ids / authentication algorithms (RFC 2407 §4.4.4, §4.5).
//!
//! An unsupported value is a typed [`SuiteError`], so the proposal code can record why it
//! rejected a transform (evidence for NO-PROPOSAL-CHOSEN) instead of silently skipping it.

use super::cipher::CipherAlg;
use super::dh::DhGroup;
use super::hmac::HashAlg;

/// Why a transform's algorithm values cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// IKE Encryption Algorithm value we do not implement (IDEA, Blowfish, CAST, Camellia, ...).
    #[error("unsupported IKE encryption algorithm {0}")]
    IkeEncryption(u16),
    /// IKE Hash Algorithm value we do not implement (Tiger, ...).
    #[error("unsupported IKE hash algorithm {0}")]
    IkeHash(u16),
    /// IKE Group Description we do not implement (EC groups, MODP 3072+, ...).
    #[error("unsupported Diffie-Hellman group {0}")]
    Group(u16),
    /// ESP transform id we do not implement (NULL, CAST, GCM, ...).
    #[error("unsupported ESP transform {0}")]
    EspTransform(u8),
    /// ESP Authentication Algorithm value we do not implement (or none, which we refuse).
    #[error("unsupported ESP authentication algorithm {0}")]
    EspAuth(u16),
    /// AES without the Key Length attribute, which RFC 3602 requires for both IKE and ESP.
    #[error("AES without a Key Length attribute")]
    MissingKeyLength,
    /// A Key Length that the cipher does not have (AES other than 128/192/256, or a fixed-length
    /// cipher with a Key Length other than its own).
    #[error("key length {bits} bits is not valid for this cipher")]
    KeyLength {
        /// The Key Length attribute, in bits.
        bits: u16,
    },
}

fn aes(bits: Option<u16>) -> Result<CipherAlg, SuiteError> {
    match bits {
        None => Err(SuiteError::MissingKeyLength),
        Some(128) => Ok(CipherAlg::Aes128),
        Some(192) => Ok(CipherAlg::Aes192),
        Some(256) => Ok(CipherAlg::Aes256),
        Some(bits) => Err(SuiteError::KeyLength { bits }),
    }
}

/// A fixed-length cipher: the Key Length attribute must be absent, though some implementations
/// send the native length, which we accept.
fn fixed(alg: CipherAlg, native_bits: u16, bits: Option<u16>) -> Result<CipherAlg, SuiteError> {
    match bits {
        None => Ok(alg),
        Some(b) if b == native_bits => Ok(alg),
        Some(bits) => Err(SuiteError::KeyLength { bits }),
    }
}

/// IKE Encryption Algorithm (attribute 1) + Key Length (attribute 14, bits) to a cipher:
/// 1 DES, 5 3DES, 7 AES-128/192/256.
pub fn ike_cipher(encryption: u16, key_bits: Option<u16>) -> Result<CipherAlg, SuiteError> {
    match encryption {
        1 => fixed(CipherAlg::Des, 64, key_bits),
        5 => fixed(CipherAlg::TripleDes, 192, key_bits),
        7 => aes(key_bits),
        other => Err(SuiteError::IkeEncryption(other)),
    }
}

/// The IKE Encryption Algorithm value and Key Length attribute (AES only) to propose `alg`.
pub fn ike_cipher_attrs(alg: CipherAlg) -> (u16, Option<u16>) {
    match alg {
        CipherAlg::Des => (1, None),
        CipherAlg::TripleDes => (5, None),
        CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256 => (7, alg.aes_key_bits()),
    }
}

/// IKE Hash Algorithm (attribute 2): 1 MD5, 2 SHA, 4 SHA2-256, 5 SHA2-384, 6 SHA2-512.
pub fn ike_hash(value: u16) -> Result<HashAlg, SuiteError> {
    match value {
        1 => Ok(HashAlg::Md5),
        2 => Ok(HashAlg::Sha1),
        4 => Ok(HashAlg::Sha256),
        5 => Ok(HashAlg::Sha384),
        6 => Ok(HashAlg::Sha512),
        other => Err(SuiteError::IkeHash(other)),
    }
}

/// The IKE Hash Algorithm value for `alg`.
pub fn ike_hash_id(alg: HashAlg) -> u16 {
    match alg {
        HashAlg::Md5 => 1,
        HashAlg::Sha1 => 2,
        HashAlg::Sha256 => 4,
        HashAlg::Sha384 => 5,
        HashAlg::Sha512 => 6,
    }
}

/// IKE Group Description (attribute 4) or the Quick Mode PFS group to a MODP group.
pub fn ike_group(value: u16) -> Result<DhGroup, SuiteError> {
    DhGroup::from_ike_id(value).ok_or(SuiteError::Group(value))
}

/// ESP transform id (IPsec DOI) + Key Length attribute (bits) to a cipher:
/// 2 ESP_DES, 3 ESP_3DES, 12 ESP_AES.
pub fn esp_cipher(transform_id: u8, key_bits: Option<u16>) -> Result<CipherAlg, SuiteError> {
    match transform_id {
        2 => fixed(CipherAlg::Des, 64, key_bits),
        3 => fixed(CipherAlg::TripleDes, 192, key_bits),
        12 => aes(key_bits),
        other => Err(SuiteError::EspTransform(other)),
    }
}

/// The ESP transform id and Key Length attribute (AES only) to propose `alg`.
pub fn esp_cipher_attrs(alg: CipherAlg) -> (u8, Option<u16>) {
    match alg {
        CipherAlg::Des => (2, None),
        CipherAlg::TripleDes => (3, None),
        CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256 => (12, alg.aes_key_bits()),
    }
}

/// An ESP integrity algorithm: HMAC with a hash, a key length and a truncated ICV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegAlg {
    /// HMAC-MD5-96 (RFC 2403): 16-byte key, 12-byte ICV. IOS `esp-md5-hmac`.
    HmacMd5_96,
    /// HMAC-SHA1-96 (RFC 2404): 20-byte key, 12-byte ICV. IOS `esp-sha-hmac`.
    HmacSha1_96,
    /// HMAC-SHA-256-128 (RFC 4868): 32-byte key, 16-byte ICV. IOS `esp-sha256-hmac`.
    HmacSha256_128,
    /// HMAC-SHA-384-192 (RFC 4868): 48-byte key, 24-byte ICV. IOS `esp-sha384-hmac`.
    HmacSha384_192,
    /// HMAC-SHA-512-256 (RFC 4868): 64-byte key, 32-byte ICV. IOS `esp-sha512-hmac`.
    HmacSha512_256,
}

impl IntegAlg {
    /// ESP Authentication Algorithm attribute (IPsec DOI attribute 5): 1 HMAC-MD5, 2 HMAC-SHA,
    /// 5 HMAC-SHA2-256, 6 HMAC-SHA2-384, 7 HMAC-SHA2-512.
    pub fn from_esp_auth(value: u16) -> Result<IntegAlg, SuiteError> {
        match value {
            1 => Ok(IntegAlg::HmacMd5_96),
            2 => Ok(IntegAlg::HmacSha1_96),
            5 => Ok(IntegAlg::HmacSha256_128),
            6 => Ok(IntegAlg::HmacSha384_192),
            7 => Ok(IntegAlg::HmacSha512_256),
            other => Err(SuiteError::EspAuth(other)),
        }
    }

    /// The ESP Authentication Algorithm attribute value.
    pub const fn esp_auth_id(self) -> u16 {
        match self {
            IntegAlg::HmacMd5_96 => 1,
            IntegAlg::HmacSha1_96 => 2,
            IntegAlg::HmacSha256_128 => 5,
            IntegAlg::HmacSha384_192 => 6,
            IntegAlg::HmacSha512_256 => 7,
        }
    }

    /// The hash under the HMAC.
    pub const fn hash(self) -> HashAlg {
        match self {
            IntegAlg::HmacMd5_96 => HashAlg::Md5,
            IntegAlg::HmacSha1_96 => HashAlg::Sha1,
            IntegAlg::HmacSha256_128 => HashAlg::Sha256,
            IntegAlg::HmacSha384_192 => HashAlg::Sha384,
            IntegAlg::HmacSha512_256 => HashAlg::Sha512,
        }
    }

    /// Key length in bytes (the hash output length), i.e. its share of KEYMAT.
    pub const fn key_len(self) -> usize {
        self.hash().output_len()
    }

    /// ICV length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            IntegAlg::HmacMd5_96 | IntegAlg::HmacSha1_96 => 12,
            IntegAlg::HmacSha256_128 => 16,
            IntegAlg::HmacSha384_192 => 24,
            IntegAlg::HmacSha512_256 => 32,
        }
    }
}

/// The algorithms of an ISAKMP SA, from the accepted Phase 1 transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// Encryption of ISAKMP messages (Ka).
    pub cipher: CipherAlg,
    /// Hash; its HMAC is the PRF.
    pub hash: HashAlg,
    /// Diffie-Hellman group.
    pub group: DhGroup,
}

impl IkeSuite {
    /// From the raw attribute values: Encryption Algorithm, Key Length (bits, if present), Hash
    /// Algorithm and Group Description.
    pub fn from_attributes(
        encryption: u16,
        key_bits: Option<u16>,
        hash: u16,
        group: u16,
    ) -> Result<IkeSuite, SuiteError> {
        Ok(IkeSuite {
            cipher: ike_cipher(encryption, key_bits)?,
            hash: ike_hash(hash)?,
            group: ike_group(group)?,
        })
    }
}

/// The algorithms of an ESP SA, from the accepted Quick Mode transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// Encryption.
    pub cipher: CipherAlg,
    /// Integrity.
    pub integ: IntegAlg,
}

impl EspSuite {
    /// From the ESP transform id, Key Length attribute (bits, if present) and Authentication
    /// Algorithm attribute.
    pub fn from_attributes(
        transform_id: u8,
        key_bits: Option<u16>,
        auth: u16,
    ) -> Result<EspSuite, SuiteError> {
        Ok(EspSuite {
            cipher: esp_cipher(transform_id, key_bits)?,
            integ: IntegAlg::from_esp_auth(auth)?,
        })
    }

    /// KEYMAT bytes needed: encryption key then integrity key.
    pub const fn keymat_len(&self) -> usize {
        self.cipher.key_len() + self.integ.key_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_values() {
        assert_eq!(ike_cipher(5, None), Ok(CipherAlg::TripleDes));
        assert_eq!(ike_cipher(5, Some(192)), Ok(CipherAlg::TripleDes));
        assert_eq!(
            ike_cipher(5, Some(128)),
            Err(SuiteError::KeyLength { bits: 128 })
        );
        assert_eq!(ike_cipher(1, None), Ok(CipherAlg::Des));
        assert_eq!(ike_cipher(7, Some(256)), Ok(CipherAlg::Aes256));
        assert_eq!(ike_cipher(7, Some(192)), Ok(CipherAlg::Aes192));
        assert_eq!(ike_cipher(7, None), Err(SuiteError::MissingKeyLength));
        assert_eq!(
            ike_cipher(7, Some(64)),
            Err(SuiteError::KeyLength { bits: 64 })
        );
        assert_eq!(ike_cipher(8, Some(128)), Err(SuiteError::IkeEncryption(8)));
        for a in [
            CipherAlg::Des,
            CipherAlg::TripleDes,
            CipherAlg::Aes128,
            CipherAlg::Aes192,
            CipherAlg::Aes256,
        ] {
            let (e, k) = ike_cipher_attrs(a);
            assert_eq!(ike_cipher(e, k), Ok(a));
            let (t, k) = esp_cipher_attrs(a);
            assert_eq!(esp_cipher(t, k), Ok(a));
        }
        for v in [1, 2, 4, 5, 6] {
            assert_eq!(ike_hash_id(ike_hash(v).unwrap()), v);
        }
        assert_eq!(ike_hash(3), Err(SuiteError::IkeHash(3)));
        assert_eq!(ike_group(14), Ok(DhGroup::Modp2048));
        assert_eq!(ike_group(19), Ok(DhGroup::Ecp256));
        assert_eq!(ike_group(22), Err(SuiteError::Group(22)));
        assert_eq!(
            IkeSuite::from_attributes(7, Some(128), 4, 5),
            Ok(IkeSuite {
                cipher: CipherAlg::Aes128,
                hash: HashAlg::Sha256,
                group: DhGroup::Modp1536
            })
        );
    }

    #[test]
    fn esp_values() {
        assert_eq!(esp_cipher(12, Some(128)), Ok(CipherAlg::Aes128));
        assert_eq!(esp_cipher(12, None), Err(SuiteError::MissingKeyLength));
        assert_eq!(esp_cipher(11, None), Err(SuiteError::EspTransform(11)));
        let want = [
            (1, 16, 12),
            (2, 20, 12),
            (5, 32, 16),
            (6, 48, 24),
            (7, 64, 32),
        ];
        for (id, key, icv) in want {
            let a = IntegAlg::from_esp_auth(id).unwrap();
            assert_eq!((a.esp_auth_id(), a.key_len(), a.icv_len()), (id, key, icv));
        }
        assert_eq!(IntegAlg::from_esp_auth(0), Err(SuiteError::EspAuth(0)));
        let s = EspSuite::from_attributes(3, None, 2).unwrap();
        assert_eq!(s.keymat_len(), 44);
    }
}
