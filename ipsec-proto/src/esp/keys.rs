//! The zeroizing value that carries Phase 2 keys from the IKE side into an ESP SA.

use zeroize::{Zeroize, Zeroizing};

use super::error::EspError;
use super::transform::EspTransform;

/// Keys of one ESP SA (one direction): its SPI, the transform and the two keys. Built by the IKE
/// side from Quick Mode KEYMAT and moved into [`crate::esp::OutboundSa`] or
/// [`crate::esp::InboundSa`]; the key bytes are wiped when it is dropped.
pub struct EspKeys {
    spi: u32,
    transform: EspTransform,
    enc_key: Zeroizing<Vec<u8>>,
    auth_key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EspKeys")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .finish_non_exhaustive()
    }
}

impl EspKeys {
    /// Keys with their lengths checked against the transform. SPI 0 is reserved and refused.
    pub fn new(
        spi: u32,
        transform: EspTransform,
        enc_key: &[u8],
        auth_key: &[u8],
    ) -> Result<Self, EspError> {
        if spi == 0 {
            return Err(EspError::InvalidConfig("SPI 0 is reserved"));
        }
        let enc_len = transform.cipher.key_len();
        if enc_key.len() != enc_len {
            return Err(EspError::KeyLength {
                what: "encryption",
                expected: enc_len,
                got: enc_key.len(),
            });
        }
        let auth_len = transform.integrity.map_or(0, |i| i.key_len());
        if auth_key.len() != auth_len {
            return Err(EspError::KeyLength {
                what: "integrity",
                expected: auth_len,
                got: auth_key.len(),
            });
        }
        if transform.integrity.is_some() && transform.cipher.is_aead() {
            return Err(EspError::InvalidConfig(
                "a combined-mode cipher takes no separate integrity algorithm",
            ));
        }
        if transform.integrity.is_none() && transform.cipher == super::EspCipher::Null {
            return Err(EspError::InvalidConfig(
                "NULL encryption without integrity protects nothing",
            ));
        }
        Ok(EspKeys {
            spi,
            transform,
            enc_key: Zeroizing::new(enc_key.to_vec()),
            auth_key: Zeroizing::new(auth_key.to_vec()),
        })
    }

    /// Splits Quick Mode KEYMAT (at least [`EspTransform::keymat_len`] bytes): the encryption key
    /// is taken first, the integrity key right after it (RFC 2409 section 5.5).
    pub fn from_keymat(spi: u32, transform: EspTransform, keymat: &[u8]) -> Result<Self, EspError> {
        let enc_len = transform.cipher.key_len();
        let need = transform.keymat_len();
        let (Some(enc), Some(auth)) = (keymat.get(..enc_len), keymat.get(enc_len..need)) else {
            return Err(EspError::KeyLength {
                what: "KEYMAT",
                expected: need,
                got: keymat.len(),
            });
        };
        EspKeys::new(spi, transform, enc, auth)
    }

    /// The SPI (the receiver's choice: ours for inbound SAs, the peer's for outbound).
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn transform(&self) -> EspTransform {
        self.transform
    }

    /// The encryption key (empty for NULL encryption).
    pub fn enc_key(&self) -> &[u8] {
        &self.enc_key
    }

    /// The integrity key (empty without integrity).
    pub fn auth_key(&self) -> &[u8] {
        &self.auth_key
    }
}

impl Drop for EspKeys {
    fn drop(&mut self) {
        // Zeroizing wipes the vectors too; doing it here keeps the guarantee if the field types
        // ever change.
        self.enc_key.zeroize();
        self.auth_key.zeroize();
    }
}
