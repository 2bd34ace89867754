//! CBC block ciphers shared by ISAKMP message encryption and ESP: DES, 3DES, AES-128/192/256.
//!
//! A [`CbcCipher`] holds an expanded key schedule; the schedules come from RustCrypto crates built
//! with their `zeroize` feature, so they are wiped when the cipher is dropped. Encryption and
//! decryption work in place on whole blocks with an explicit IV, which is what both ISAKMP (IV
//! chains) and ESP (a fresh IV per packet) need.
//!
//! A [`CipherKey`] is the other way to hold a key: the raw key bytes only (at most 32), expanded
//! for one direction when a packet or a batch needs it ([`CipherKey::encryptor`],
//! [`CipherKey::decryptor`]). An SA that keeps a `CipherKey` instead of a schedule costs 40 bytes
//! rather than up to a kilobyte (the AES crate's schedule holds both its hardware and its
//! bitsliced software layout), and a packet of a tunnel that has been idle reads one cache line of
//! key instead of sixteen: with thousands of tunnels that is what decides the per-packet cost.
//! Expanding an AES key with AES-NI takes a few tens of nanoseconds; a batch of packets of one SA
//! expands once.

use aes::{
    Aes128, Aes128Dec, Aes128Enc, Aes192, Aes192Dec, Aes192Enc, Aes256, Aes256Dec, Aes256Enc,
};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use des::{Des, TdesEde3};

/// A CBC-mode cipher algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherAlg {
    /// DES-CBC, 56-bit key (8 bytes with parity).
    Des,
    /// Three-key triple DES (EDE3) in CBC mode, 24-byte key.
    TripleDes,
    /// AES-128-CBC.
    Aes128,
    /// AES-192-CBC.
    Aes192,
    /// AES-256-CBC.
    Aes256,
}

impl CipherAlg {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            CipherAlg::Des => 8,
            CipherAlg::TripleDes => 24,
            CipherAlg::Aes128 => 16,
            CipherAlg::Aes192 => 24,
            CipherAlg::Aes256 => 32,
        }
    }

    /// Block length in bytes (also the CBC IV length).
    pub const fn block_len(self) -> usize {
        match self {
            CipherAlg::Des | CipherAlg::TripleDes => 8,
            _ => 16,
        }
    }

    /// AES key length in bits for the `esp-aes N` / Key Length attribute, `None` for DES ciphers.
    pub const fn aes_key_bits(self) -> Option<u16> {
        match self {
            CipherAlg::Aes128 => Some(128),
            CipherAlg::Aes192 => Some(192),
            CipherAlg::Aes256 => Some(256),
            _ => None,
        }
    }
}

/// Misuse of a cipher: never caused by network input once lengths are checked by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// The key does not have the length the algorithm needs.
    #[error("{alg:?} needs a {expected}-byte key, got {got} bytes")]
    KeyLength {
        /// The algorithm.
        alg: CipherAlg,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The IV is not one block long.
    #[error("{alg:?} needs a {expected}-byte IV, got {got} bytes")]
    IvLength {
        /// The algorithm.
        alg: CipherAlg,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The data is not a whole number of blocks.
    #[error("{len} bytes is not a multiple of the {block}-byte block")]
    NotBlockAligned {
        /// Data length.
        len: usize,
        /// Block length.
        block: usize,
    },
}

#[derive(Clone)]
enum Schedule {
    Des(Des),
    TripleDes(TdesEde3),
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

/// An expanded CBC key (wiped on drop by the underlying crates' `ZeroizeOnDrop`).
#[derive(Clone)]
pub struct CbcCipher {
    alg: CipherAlg,
    schedule: Schedule,
}

impl core::fmt::Debug for CbcCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CbcCipher")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

// Each arm runs the same generic code over a different concrete cipher type.
macro_rules! with_schedule {
    ($sched:expr, $c:ident => $body:expr) => {
        match $sched {
            Schedule::Des($c) => $body,
            Schedule::TripleDes($c) => $body,
            Schedule::Aes128($c) => $body,
            Schedule::Aes192($c) => $body,
            Schedule::Aes256($c) => $body,
        }
    };
}

impl CbcCipher {
    /// Expands `key` for `alg`.
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, CipherError> {
        if key.len() != alg.key_len() {
            return Err(CipherError::KeyLength {
                alg,
                expected: alg.key_len(),
                got: key.len(),
            });
        }
        // Lengths were checked above, so `new_from_slice` cannot fail; map defensively anyway.
        let err = |_| CipherError::KeyLength {
            alg,
            expected: alg.key_len(),
            got: key.len(),
        };
        let schedule = match alg {
            CipherAlg::Des => Schedule::Des(Des::new_from_slice(key).map_err(err)?),
            CipherAlg::TripleDes => {
                Schedule::TripleDes(TdesEde3::new_from_slice(key).map_err(err)?)
            }
            CipherAlg::Aes128 => Schedule::Aes128(Aes128::new_from_slice(key).map_err(err)?),
            CipherAlg::Aes192 => Schedule::Aes192(Aes192::new_from_slice(key).map_err(err)?),
            CipherAlg::Aes256 => Schedule::Aes256(Aes256::new_from_slice(key).map_err(err)?),
        };
        Ok(CbcCipher { alg, schedule })
    }

    /// The algorithm.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// Block length in bytes.
    pub fn block_len(&self) -> usize {
        self.alg.block_len()
    }

    fn check(&self, iv: &[u8], len: usize) -> Result<(), CipherError> {
        let bl = self.alg.block_len();
        if iv.len() != bl {
            return Err(CipherError::IvLength {
                alg: self.alg,
                expected: bl,
                got: iv.len(),
            });
        }
        if !len.is_multiple_of(bl) {
            return Err(CipherError::NotBlockAligned { len, block: bl });
        }
        Ok(())
    }

    /// Encrypts `buf` (a whole number of blocks) in place with CBC and the given IV.
    pub fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CipherError> {
        self.check(iv, buf.len())?;
        let len = buf.len();
        let misaligned = CipherError::NotBlockAligned {
            len,
            block: self.alg.block_len(),
        };
        // The mode borrows the schedule (cipher implements the block traits for `&C`): no
        // per-call copy of the round keys, which would also have to be wiped again.
        with_schedule!(&self.schedule, c => {
            cbc::Encryptor::inner_iv_slice_init(c, iv)
                .map_err(|_| misaligned)?
                .encrypt_padded_mut::<NoPadding>(buf, len)
                .map(|_| ())
                .map_err(|_| misaligned)
        })
    }

    /// Decrypts `buf` (a whole number of blocks) in place with CBC and the given IV.
    pub fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CipherError> {
        self.check(iv, buf.len())?;
        let misaligned = CipherError::NotBlockAligned {
            len: buf.len(),
            block: self.alg.block_len(),
        };
        with_schedule!(&self.schedule, c => {
            cbc::Decryptor::inner_iv_slice_init(c, iv)
                .map_err(|_| misaligned)?
                .decrypt_padded_mut::<NoPadding>(buf)
                .map(|_| ())
                .map_err(|_| misaligned)
        })
    }

    /// Decrypts `input` (a whole number of blocks) into the leading `input.len()` bytes of
    /// `output` with CBC and the given IV, without first copying the ciphertext: ESP decrypts
    /// straight from the received datagram into the caller's buffer this way.
    pub fn decrypt_to(
        &self,
        iv: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CipherError> {
        self.check(iv, input.len())?;
        let misaligned = CipherError::NotBlockAligned {
            len: input.len(),
            block: self.alg.block_len(),
        };
        let out = output.get_mut(..input.len()).ok_or(misaligned)?;
        with_schedule!(&self.schedule, c => {
            cbc::Decryptor::inner_iv_slice_init(c, iv)
                .map_err(|_| misaligned)?
                .decrypt_padded_b2b_mut::<NoPadding>(input, out)
                .map(|_| ())
                .map_err(|_| misaligned)
        })
    }
}

/// Largest key of any supported cipher.
const MAX_KEY: usize = 32;

/// A raw CBC key and its algorithm, wiped on drop; see the module documentation.
#[derive(Clone)]
pub struct CipherKey {
    alg: CipherAlg,
    key: [u8; MAX_KEY],
}

impl core::fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CipherKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Drop for CipherKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

#[derive(Clone)]
enum EncSchedule {
    Des(Des),
    TripleDes(TdesEde3),
    Aes128(Aes128Enc),
    Aes192(Aes192Enc),
    Aes256(Aes256Enc),
}

#[derive(Clone)]
enum DecSchedule {
    Des(Des),
    TripleDes(TdesEde3),
    Aes128(Aes128Dec),
    Aes192(Aes192Dec),
    Aes256(Aes256Dec),
}

// The same generic code over each concrete one-direction cipher type.
macro_rules! with_enc {
    ($sched:expr, $c:ident => $body:expr) => {
        match $sched {
            EncSchedule::Des($c) => $body,
            EncSchedule::TripleDes($c) => $body,
            EncSchedule::Aes128($c) => $body,
            EncSchedule::Aes192($c) => $body,
            EncSchedule::Aes256($c) => $body,
        }
    };
}

macro_rules! with_dec {
    ($sched:expr, $c:ident => $body:expr) => {
        match $sched {
            DecSchedule::Des($c) => $body,
            DecSchedule::TripleDes($c) => $body,
            DecSchedule::Aes128($c) => $body,
            DecSchedule::Aes192($c) => $body,
            DecSchedule::Aes256($c) => $body,
        }
    };
}

/// A key schedule for CBC encryption only (wiped on drop by the underlying crates).
pub struct CbcEncryptor {
    alg: CipherAlg,
    schedule: EncSchedule,
}

/// A key schedule for CBC decryption only (wiped on drop by the underlying crates).
pub struct CbcDecryptor {
    alg: CipherAlg,
    schedule: DecSchedule,
}

impl core::fmt::Debug for CbcEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CbcEncryptor")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for CbcDecryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CbcDecryptor")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn check_iv(alg: CipherAlg, iv: &[u8], len: usize) -> Result<(), CipherError> {
    let bl = alg.block_len();
    if iv.len() != bl {
        return Err(CipherError::IvLength {
            alg,
            expected: bl,
            got: iv.len(),
        });
    }
    if !len.is_multiple_of(bl) {
        return Err(CipherError::NotBlockAligned { len, block: bl });
    }
    Ok(())
}

/// One direction's schedule of a key whose length was checked when the [`CipherKey`] was made:
/// `new_from_slice` cannot fail, and the zero-key fallback only keeps this total.
fn expand<C: KeyInit>(k: &[u8]) -> C {
    C::new_from_slice(k).unwrap_or_else(|_| C::new(&Default::default()))
}

impl CipherKey {
    /// Keeps `key` for `alg` (checked for length, not expanded).
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, CipherError> {
        let mut k = CipherKey {
            alg,
            key: [0; MAX_KEY],
        };
        match k.key.get_mut(..key.len()) {
            Some(dst) if key.len() == alg.key_len() => dst.copy_from_slice(key),
            _ => {
                return Err(CipherError::KeyLength {
                    alg,
                    expected: alg.key_len(),
                    got: key.len(),
                })
            }
        }
        Ok(k)
    }

    /// The algorithm.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// The key as the bitsliced 3DES crate takes it, for a three-key 3DES key only: the
    /// batched ESP path (`esp::sa::batch`) runs many SAs' packets through one constant-time pass.
    pub(crate) fn tdes_key(&self) -> Option<ipsec_tdes::TdesKey> {
        match self.alg {
            CipherAlg::TripleDes => ipsec_tdes::TdesKey::from_slice(self.bytes()),
            _ => None,
        }
    }

    /// The key expanded for the multi-buffer AES-CBC encryption of `ipsec_tdes`: for an AES
    /// key, on a CPU with AES-NI.
    pub(crate) fn aes_key(&self) -> Option<ipsec_tdes::AesKey> {
        match self.alg {
            CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256 => {
                ipsec_tdes::AesKey::new(self.bytes()).ok()
            }
            CipherAlg::Des | CipherAlg::TripleDes => None,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.key.get(..self.alg.key_len()).unwrap_or(&[])
    }

    /// The schedule for both directions (what [`CbcCipher::new`] builds).
    pub fn cipher(&self) -> CbcCipher {
        // The length was checked when the key was made; `new` cannot fail here, and the
        // fallback (an all-zero key of the right length) is unreachable.
        CbcCipher::new(self.alg, self.bytes()).unwrap_or_else(|_| CbcCipher {
            alg: self.alg,
            schedule: Schedule::Aes128(Aes128::new(&Default::default())),
        })
    }

    /// The encryption schedule.
    pub fn encryptor(&self) -> CbcEncryptor {
        let k = self.bytes();
        let schedule = match self.alg {
            CipherAlg::Des => EncSchedule::Des(expand(k)),
            CipherAlg::TripleDes => EncSchedule::TripleDes(expand(k)),
            CipherAlg::Aes128 => EncSchedule::Aes128(expand(k)),
            CipherAlg::Aes192 => EncSchedule::Aes192(expand(k)),
            CipherAlg::Aes256 => EncSchedule::Aes256(expand(k)),
        };
        CbcEncryptor {
            alg: self.alg,
            schedule,
        }
    }

    /// The decryption schedule.
    pub fn decryptor(&self) -> CbcDecryptor {
        let k = self.bytes();
        let schedule = match self.alg {
            CipherAlg::Des => DecSchedule::Des(expand(k)),
            CipherAlg::TripleDes => DecSchedule::TripleDes(expand(k)),
            CipherAlg::Aes128 => DecSchedule::Aes128(expand(k)),
            CipherAlg::Aes192 => DecSchedule::Aes192(expand(k)),
            CipherAlg::Aes256 => DecSchedule::Aes256(expand(k)),
        };
        CbcDecryptor {
            alg: self.alg,
            schedule,
        }
    }
}

impl CbcEncryptor {
    /// The algorithm.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// Encrypts `buf` (a whole number of blocks) in place with CBC and the given IV.
    pub fn encrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CipherError> {
        check_iv(self.alg, iv, buf.len())?;
        let len = buf.len();
        let misaligned = CipherError::NotBlockAligned {
            len,
            block: self.alg.block_len(),
        };
        with_enc!(&self.schedule, c => {
            cbc::Encryptor::inner_iv_slice_init(c, iv)
                .map_err(|_| misaligned)?
                .encrypt_padded_mut::<NoPadding>(buf, len)
                .map(|_| ())
                .map_err(|_| misaligned)
        })
    }

    /// Encrypts one block in place without chaining (the raw block cipher), e.g. to turn a
    /// unique nonce into an IV (NIST SP 800-38A, Appendix C).
    pub fn encrypt_block(&self, block: &mut [u8]) -> Result<(), CipherError> {
        let bl = self.alg.block_len();
        if block.len() != bl {
            return Err(CipherError::NotBlockAligned {
                len: block.len(),
                block: bl,
            });
        }
        // CBC of one block under an all-zero IV is the raw block cipher.
        let zero = [0u8; 16];
        self.encrypt_in_place(zero.get(..bl).unwrap_or(&[]), block)
    }
}

impl CbcDecryptor {
    /// The algorithm.
    pub fn alg(&self) -> CipherAlg {
        self.alg
    }

    /// Decrypts `input` (a whole number of blocks) into the leading `input.len()` bytes of
    /// `output` with CBC and the given IV.
    pub fn decrypt_to(
        &self,
        iv: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CipherError> {
        check_iv(self.alg, iv, input.len())?;
        let misaligned = CipherError::NotBlockAligned {
            len: input.len(),
            block: self.alg.block_len(),
        };
        let out = output.get_mut(..input.len()).ok_or(misaligned)?;
        with_dec!(&self.schedule, c => {
            cbc::Decryptor::inner_iv_slice_init(c, iv)
                .map_err(|_| misaligned)?
                .decrypt_padded_b2b_mut::<NoPadding>(input, out)
                .map(|_| ())
                .map_err(|_| misaligned)
        })
    }

    /// Decrypts `buf` (a whole number of blocks) in place with CBC and the given IV.
    pub fn decrypt_in_place(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CipherError> {
        check_iv(self.alg, iv, buf.len())?;
        let misaligned = CipherError::NotBlockAligned {
            len: buf.len(),
            block: self.alg.block_len(),
        };
        with_dec!(&self.schedule, c => {
            cbc::Decryptor::inner_iv_slice_init(c, iv)
                .map_err(|_| misaligned)?
                .decrypt_padded_mut::<NoPadding>(buf)
                .map(|_| ())
                .map_err(|_| misaligned)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;

    fn roundtrip(alg: CipherAlg, key: &str, iv: &str, pt: &[u8], ct: &str) {
        let c = CbcCipher::new(alg, &hex(key)).unwrap();
        let mut buf = pt.to_vec();
        c.encrypt_in_place(&hex(iv), &mut buf).unwrap();
        assert_eq!(buf, hex(ct), "{alg:?} encrypt");
        let mut out = vec![0u8; buf.len() + 3];
        c.decrypt_to(&hex(iv), &buf, &mut out).unwrap();
        assert_eq!(&out[..pt.len()], pt, "{alg:?} decrypt to another buffer");
        c.decrypt_in_place(&hex(iv), &mut buf).unwrap();
        assert_eq!(buf, pt, "{alg:?} decrypt");
        // The raw key expanded one direction at a time gives the same bytes.
        let k = CipherKey::new(alg, &hex(key)).unwrap();
        let mut buf = pt.to_vec();
        k.encryptor().encrypt_in_place(&hex(iv), &mut buf).unwrap();
        assert_eq!(buf, hex(ct), "{alg:?} encryptor");
        let mut out = vec![0u8; buf.len()];
        k.decryptor().decrypt_to(&hex(iv), &buf, &mut out).unwrap();
        assert_eq!(&out[..], pt, "{alg:?} decryptor");
        k.decryptor().decrypt_in_place(&hex(iv), &mut buf).unwrap();
        assert_eq!(buf, pt, "{alg:?} decryptor in place");
    }

    #[test]
    fn rfc3602_cases_1_to_4() {
        roundtrip(
            CipherAlg::Aes128,
            "06a9214036b8a15b512e03d534120006",
            "3dafba429d9eb430b422da802c9fac41",
            b"Single block msg",
            "e353779c1079aeb82708942dbe77181a",
        );
        let pt2: Vec<u8> = (0u8..0x20).collect();
        roundtrip(
            CipherAlg::Aes128,
            "c286696d887c9aa0611bbb3e2025a45a",
            "562e17996d093d28ddb3ba695a2e6f58",
            &pt2,
            "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
        );
        roundtrip(
            CipherAlg::Aes128,
            "6c3ea0477630ce21a2ce334aa746c2cd",
            "c782dc4c098c66cbd9cd27d825682c81",
            b"This is a 48-byte message (exactly 3 AES blocks)",
            "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684",
        );
        let pt4: Vec<u8> = (0xa0u8..=0xdf).collect();
        roundtrip(
            CipherAlg::Aes128,
            "56e47a38c5598974bc46903dba290349",
            "8ce82eefbea0da3c44699ed7db51b7d9",
            &pt4,
            "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55",
        );
    }

    #[test]
    fn nist_sp800_38a_cbc_aes128_and_aes256() {
        let pt = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
        roundtrip(
            CipherAlg::Aes128,
            "2b7e151628aed2a6abf7158809cf4f3c",
            "000102030405060708090a0b0c0d0e0f",
            &pt,
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
        );
        roundtrip(
            CipherAlg::Aes256,
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            "000102030405060708090a0b0c0d0e0f",
            &pt,
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
        );
    }

    #[test]
    fn nist_3des_mmt() {
        roundtrip(
            CipherAlg::TripleDes,
            "627f460e08104a1043cd265d5840eaf1313edf97df2a8a8c",
            "8e29f75ea77e5475",
            &hex("326a494cd33fe756"),
            "b22b8d66de970692",
        );
        roundtrip(
            CipherAlg::TripleDes,
            "37ae5ebf46dff2dc0754b94f31cbb3855e7fd36dc870bfae",
            "3d1de3cc132e3b65",
            &hex("84401f78fe6c10876d8ea23094ea5309"),
            "7b1f7c7e3b1c948ebd04a75ffba7d2f5",
        );
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        assert!(matches!(
            CbcCipher::new(CipherAlg::Aes128, &[0; 15]),
            Err(CipherError::KeyLength { .. })
        ));
        let c = CbcCipher::new(CipherAlg::TripleDes, &[1; 24]).unwrap();
        let mut buf = [0u8; 12];
        assert!(matches!(
            c.encrypt_in_place(&[0; 8], &mut buf),
            Err(CipherError::NotBlockAligned { len: 12, block: 8 })
        ));
        assert!(matches!(
            c.decrypt_in_place(&[0; 16], &mut buf[..8]),
            Err(CipherError::IvLength { .. })
        ));
        assert!(matches!(
            CipherKey::new(CipherAlg::TripleDes, &[1; 16]),
            Err(CipherError::KeyLength {
                expected: 24,
                got: 16,
                ..
            })
        ));
        let k = CipherKey::new(CipherAlg::TripleDes, &[1; 24]).unwrap();
        assert!(matches!(
            k.encryptor().encrypt_in_place(&[0; 8], &mut buf),
            Err(CipherError::NotBlockAligned { len: 12, block: 8 })
        ));
        assert!(k.encryptor().encrypt_block(&mut buf).is_err());
    }

    #[test]
    fn encrypt_block_is_the_raw_block_cipher() {
        // FIPS 197 Appendix C.1 (AES-128).
        let k =
            CipherKey::new(CipherAlg::Aes128, &hex("000102030405060708090a0b0c0d0e0f")).unwrap();
        let mut b = hex("00112233445566778899aabbccddeeff");
        k.encryptor().encrypt_block(&mut b).unwrap();
        assert_eq!(b, hex("69c4e0d86a7b0430d8cdb78070b4c55a"));
    }
}
