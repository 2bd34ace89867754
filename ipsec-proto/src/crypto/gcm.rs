//! AES-GCM for ESP (RFC 4106): the combined-mode cipher behind IOS `esp-gcm` and `esp-gcm 256`.
//!
//! A [`GcmKey`] keeps the raw AES key and the 4-byte salt that KEYMAT supplies after it
//! (RFC 4106 §8.1), and expands them when a packet or a batch needs them ([`GcmKey::expand`]),
//! for the reason [`super::cipher::CipherKey`] gives: an idle SA then holds 40 bytes of key, not
//! a schedule and a GHASH table. The 12-byte nonce is the salt followed by the packet's 8-byte
//! explicit IV (§4); the IV comes from the caller and must never repeat under one key (ESP uses
//! the SA's sequence number: see [`crate::esp::OutboundSa`]). The ICV is the full 16-byte tag.
//!
//! Opening checks the tag in constant time before a single byte is decrypted (the RustCrypto
//! `aes-gcm` crate computes GHASH over the ciphertext first), so a forged packet never yields
//! plaintext.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, Tag};

use super::cipher::CipherAlg;

/// AES-192 in GCM with the standard 12-byte nonce (the crate names only 128 and 256).
type Aes192Gcm = AesGcm<aes::Aes192, U12>;

/// Length of the salt that follows the AES key in KEYMAT.
pub const SALT_LEN: usize = 4;
/// Length of the explicit IV carried in each packet.
pub const IV_LEN: usize = 8;
/// Length of the ICV (the full tag: ESP transform 20, `ENCR_AES_GCM_16`).
pub const ICV_LEN: usize = 16;

/// A rejected key, or a packet whose tag does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GcmError {
    /// The algorithm is not AES, or the key (with its salt) has the wrong length.
    #[error("AES-GCM needs an AES key followed by a 4-byte salt")]
    Key,
    /// The tag does not match: a forged, corrupted or misrouted packet.
    #[error("GCM tag mismatch")]
    Tag,
    /// A buffer too long for GCM or a misused call.
    #[error("GCM input out of range")]
    Length,
}

/// A raw AES-GCM key with its salt, wiped on drop.
#[derive(Clone)]
pub struct GcmKey {
    alg: CipherAlg,
    key: [u8; 32],
    salt: [u8; SALT_LEN],
}

impl core::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GcmKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

/// An expanded AES-GCM key (schedule and GHASH key), wiped on drop by the crate. It lives on
/// the stack for one packet or one batch: boxing it would allocate per packet.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // never stored; one of the three is built per use
pub enum GcmCipher {
    /// AES-128-GCM.
    Aes128(Aes128Gcm, [u8; SALT_LEN]),
    /// AES-192-GCM.
    Aes192(Aes192Gcm, [u8; SALT_LEN]),
    /// AES-256-GCM.
    Aes256(Aes256Gcm, [u8; SALT_LEN]),
}

impl core::fmt::Debug for GcmCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GcmCipher(..)")
    }
}

impl GcmKey {
    /// `keymat` is the AES key followed by the salt: 20, 28 or 36 bytes for `alg` AES-128,
    /// AES-192 or AES-256.
    pub fn new(alg: CipherAlg, keymat: &[u8]) -> Result<GcmKey, GcmError> {
        let bits = alg.aes_key_bits().ok_or(GcmError::Key)?;
        let klen = usize::from(bits / 8);
        if keymat.len() != klen + SALT_LEN {
            return Err(GcmError::Key);
        }
        let mut key = [0u8; 32];
        let mut salt = [0u8; SALT_LEN];
        let (k, s) = keymat.split_at(klen);
        key.get_mut(..klen).ok_or(GcmError::Key)?.copy_from_slice(k);
        salt.copy_from_slice(s);
        Ok(GcmKey { alg, key, salt })
    }

    /// The AES variant.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// The key expanded for sealing and opening.
    pub fn expand(&self) -> GcmCipher {
        let k = &self.key[..self.alg.key_len()];
        // Lengths were fixed by `new`, so `new_from_slice` cannot fail (the fallback is never
        // reached).
        match self.alg {
            CipherAlg::Aes192 => GcmCipher::Aes192(
                Aes192Gcm::new_from_slice(k).unwrap_or_else(|_| unreachable_key()),
                self.salt,
            ),
            CipherAlg::Aes256 => GcmCipher::Aes256(
                Aes256Gcm::new_from_slice(k).unwrap_or_else(|_| unreachable_key()),
                self.salt,
            ),
            _ => GcmCipher::Aes128(
                Aes128Gcm::new_from_slice(k).unwrap_or_else(|_| unreachable_key()),
                self.salt,
            ),
        }
    }
}

#[cold]
fn unreachable_key<T: KeyInit>() -> T {
    T::new(&Default::default())
}

macro_rules! with_gcm {
    ($c:expr, $g:ident, $salt:ident => $body:expr) => {
        match $c {
            GcmCipher::Aes128($g, $salt) => $body,
            GcmCipher::Aes192($g, $salt) => $body,
            GcmCipher::Aes256($g, $salt) => $body,
        }
    };
}

fn nonce(salt: &[u8; SALT_LEN], iv: &[u8; IV_LEN]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..SALT_LEN].copy_from_slice(salt);
    n[SALT_LEN..].copy_from_slice(iv);
    n
}

impl GcmCipher {
    /// Encrypts `buf` in place under the explicit IV `iv`, authenticating `aad` too, and writes
    /// the 16-byte tag into `tag`.
    pub fn seal(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8; ICV_LEN],
    ) -> Result<(), GcmError> {
        with_gcm!(self, g, salt => {
            let n = nonce(salt, iv);
            let t = g
                .encrypt_in_place_detached(Nonce::from_slice(&n), aad, buf)
                .map_err(|_| GcmError::Length)?;
            tag.copy_from_slice(&t);
            Ok(())
        })
    }

    /// Verifies `tag` over `aad` and the ciphertext in `buf` and, only if it matches, decrypts
    /// `buf` in place.
    pub fn open(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; ICV_LEN],
    ) -> Result<(), GcmError> {
        with_gcm!(self, g, salt => {
            let n = nonce(salt, iv);
            g.decrypt_in_place_detached(Nonce::from_slice(&n), aad, buf, Tag::from_slice(tag))
                .map_err(|_| GcmError::Tag)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;

    fn check(alg: CipherAlg, key: &str, salt_iv: &str, aad: &str, pt: &str, ct_tag: &str) {
        let (key, salt_iv, aad, pt, ct_tag) =
            (hex(key), hex(salt_iv), hex(aad), hex(pt), hex(ct_tag));
        let (c, iv) = cipher_for(alg, &key, &salt_iv);
        let mut buf = pt.clone();
        let mut tag = [0u8; ICV_LEN];
        c.seal(&iv, &aad, &mut buf, &mut tag).unwrap();
        let (want_ct, want_tag) = ct_tag.split_at(pt.len());
        assert_eq!(buf, want_ct);
        assert_eq!(tag.as_slice(), want_tag);
        c.open(&iv, &aad, &mut buf, &tag).unwrap();
        assert_eq!(buf, pt);
        // A flipped ciphertext bit: refused, and the buffer still holds the ciphertext.
        let mut forged = want_ct.to_vec();
        forged[0] ^= 1;
        let before = forged.clone();
        assert_eq!(c.open(&iv, &aad, &mut forged, &tag), Err(GcmError::Tag));
        assert_eq!(forged, before, "nothing decrypted before the tag verified");
        let mut bad_aad = aad.clone();
        bad_aad[0] ^= 1;
        let mut ct = want_ct.to_vec();
        assert_eq!(c.open(&iv, &bad_aad, &mut ct, &tag), Err(GcmError::Tag));
    }

    /// The ESP test vectors of draft-mcgrew-gcm-test-01 (packets with SPI | sequence number as
    /// the AAD, the salt and explicit IV as the nonce).
    #[test]
    fn draft_mcgrew_gcm_test_01_vectors() {
        // Test case 2 (AES-128; its 12-byte AAD is SPI | 64-bit extended sequence number).
        check(
            CipherAlg::Aes128,
            "4c80cdefbb5d10da906ac73c3613a634",
            "2e443b684956ed7e3b244cfe",
            "000043218765432100000000",
            "45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000
             00000000045f736970045f756470037369700963796265726369747902646b00
             0021000101020201",
            "fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34
             cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce
             61bc17d768fd9732459018148f6cbe722fd04796562dfdb4",
        );
        // Test case 3 (AES-256; 8-byte AAD: SPI | 32-bit sequence number, what ESP here uses).
        check(
            CipherAlg::Aes256,
            "abbccddef00112233445566778899aababbccddef00112233445566778899aab",
            "112233440102030405060708",
            "4a2cbfe300000002",
            "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000
             7002400020bf0000020405b40101040201020201",
            "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763
             748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49
             15956c96",
        );
    }

    /// One CAVP record: the fields of one `Count = ` paragraph, `FAIL` as a field without value.
    fn cavp_records(text: &str) -> Vec<std::collections::HashMap<&str, &str>> {
        text.split("\n\n")
            .filter(|p| p.contains("Count = "))
            .map(|p| {
                p.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('['))
                    .map(|l| {
                        l.split_once('=')
                            .map_or((l, ""), |(k, v)| (k.trim(), v.trim()))
                    })
                    .collect()
            })
            .collect()
    }

    /// The cipher for `key` and a 12-byte nonce, split the way ESP carries it: the first
    /// [`SALT_LEN`] bytes become the salt at the end of KEYMAT, the rest the explicit IV.
    fn cipher_for(alg: CipherAlg, key: &[u8], iv12: &[u8]) -> (GcmCipher, [u8; IV_LEN]) {
        let mut keymat = key.to_vec();
        keymat.extend_from_slice(&iv12[..SALT_LEN]);
        let iv = iv12[SALT_LEN..].try_into().unwrap();
        (GcmKey::new(alg, &keymat).unwrap().expand(), iv)
    }

    /// NIST CAVP GCM (`testdata/gcm/`, 96-bit IVs, 128-bit tags): every encryption record
    /// seals to its ciphertext and tag, every decryption record opens to its plaintext, and
    /// every `FAIL` record is refused with the buffer left as it was.
    #[test]
    fn nist_cavp_gcm_vectors() {
        let files = [
            (
                CipherAlg::Aes128,
                include_str!("testdata/gcm/gcmEncryptExtIV128.rsp"),
            ),
            (
                CipherAlg::Aes192,
                include_str!("testdata/gcm/gcmEncryptExtIV192.rsp"),
            ),
            (
                CipherAlg::Aes256,
                include_str!("testdata/gcm/gcmEncryptExtIV256.rsp"),
            ),
        ];
        let mut sealed = 0;
        for (alg, text) in files {
            for r in cavp_records(text) {
                let (c, iv) = cipher_for(alg, &hex(r["Key"]), &hex(r["IV"]));
                let mut buf = hex(r["PT"]);
                let mut tag = [0u8; ICV_LEN];
                c.seal(&iv, &hex(r["AAD"]), &mut buf, &mut tag).unwrap();
                assert_eq!(buf, hex(r["CT"]), "Key {}", r["Key"]);
                assert_eq!(tag.to_vec(), hex(r["Tag"]), "Key {}", r["Key"]);
                sealed += 1;
            }
        }
        let files = [
            (
                CipherAlg::Aes128,
                include_str!("testdata/gcm/gcmDecrypt128.rsp"),
            ),
            (
                CipherAlg::Aes192,
                include_str!("testdata/gcm/gcmDecrypt192.rsp"),
            ),
            (
                CipherAlg::Aes256,
                include_str!("testdata/gcm/gcmDecrypt256.rsp"),
            ),
        ];
        let (mut opened, mut refused) = (0, 0);
        for (alg, text) in files {
            for r in cavp_records(text) {
                let (c, iv) = cipher_for(alg, &hex(r["Key"]), &hex(r["IV"]));
                let ct = hex(r["CT"]);
                let tag: [u8; ICV_LEN] = hex(r["Tag"]).try_into().unwrap();
                let mut buf = ct.clone();
                let got = c.open(&iv, &hex(r["AAD"]), &mut buf, &tag);
                if r.contains_key("FAIL") {
                    assert_eq!(got, Err(GcmError::Tag), "Key {}", r["Key"]);
                    assert_eq!(buf, ct, "nothing decrypted before the tag verified");
                    refused += 1;
                } else {
                    assert_eq!(got, Ok(()), "Key {}", r["Key"]);
                    assert_eq!(buf, hex(r["PT"]), "Key {}", r["Key"]);
                    opened += 1;
                }
            }
        }
        assert_eq!(sealed, 3 * 375);
        assert_eq!(opened + refused, 3 * 375);
        assert!(
            opened > 0 && refused > 0,
            "{opened} opened, {refused} refused"
        );
    }

    #[test]
    fn keys_must_be_aes_with_a_salt() {
        assert_eq!(
            GcmKey::new(CipherAlg::TripleDes, &[0; 28]).unwrap_err(),
            GcmError::Key
        );
        assert_eq!(
            GcmKey::new(CipherAlg::Aes128, &[0; 16]).unwrap_err(),
            GcmError::Key
        );
        assert!(GcmKey::new(CipherAlg::Aes128, &[0; 20]).is_ok());
        assert!(GcmKey::new(CipherAlg::Aes192, &[0; 28]).is_ok());
        assert!(GcmKey::new(CipherAlg::Aes256, &[0; 36]).is_ok());
        assert!(!format!("{:?}", GcmKey::new(CipherAlg::Aes128, &[7; 20]).unwrap()).contains('7'));
    }
}
