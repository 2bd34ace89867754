//! Multi-buffer AES-CBC encryption: many independent packets through AES-NI at once.
//!
//! CBC encryption is sequential inside a packet: each block waits for the one before it, so
//! one packet keeps a single AES round in flight and the CPU's AES units (several rounds in
//! flight each, on every x86-64 with AES-NI) sit mostly idle. Here [`LANES`] packets are
//! encrypted side by side, one lane each, the lanes' rounds interleaved, a lane refilled with
//! the next packet as soon as its packet ends. Each lane has its own expanded key, so packets of
//! different SAs share the interleaving. AES-NI instructions take the same time whatever the
//! key and data, and the lane schedule depends only on packet lengths, so this is constant-time
//! like the 3DES passes.
//!
//! Decryption is not here: CBC decryption is parallel inside one packet already.
//!
//! Available on x86-64 with AES-NI ([`aes_is_available`]); elsewhere a caller keeps its
//! per-packet path.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// Packets encrypted side by side: enough independent rounds in flight to keep two AES units
/// with a four-cycle latency busy (the widest AES-NI of current x86-64 cores), and few enough
/// that the lanes' states stay in the sixteen SSE registers.
pub const LANES: usize = 8;

/// Most rounds (AES-256), and so round keys (one more).
pub(crate) const MAX_ROUND_KEYS: usize = 15;

/// Whether this CPU has AES-NI (runtime detection; false off x86-64).
pub fn aes_is_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("sse2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Why an AES key could not be expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AesKeyError {
    /// Not 16, 24 or 32 bytes.
    #[error("{0} bytes is not an AES key length (16, 24 or 32)")]
    BadLength(usize),
    /// This CPU has no AES-NI (see [`aes_is_available`]).
    #[error("this CPU has no AES-NI")]
    Unavailable,
}

/// An AES-128/192/256 encryption key, expanded once (FIPS-197 §5.2). Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AesKey {
    pub(crate) rk: [[u8; 16]; MAX_ROUND_KEYS],
    pub(crate) rounds: u8,
}

impl AesKey {
    /// Expands `key` (16, 24 or 32 bytes).
    pub fn new(key: &[u8]) -> Result<AesKey, AesKeyError> {
        let rounds = match key.len() {
            16 => 10,
            24 => 12,
            32 => 14,
            n => return Err(AesKeyError::BadLength(n)),
        };
        if !aes_is_available() {
            return Err(AesKeyError::Unavailable);
        }
        let mut k = AesKey {
            rk: [[0; 16]; MAX_ROUND_KEYS],
            rounds,
        };
        #[cfg(target_arch = "x86_64")]
        crate::x86_aes::expand(key, &mut k.rk);
        Ok(k)
    }

    /// A key to fill the unused slots of a job array: it encrypts nothing (only jobs with data
    /// are run), and running it with data is refused like any job where AES-NI is missing.
    pub fn empty() -> AesKey {
        AesKey {
            rk: [[0; 16]; MAX_ROUND_KEYS],
            rounds: 10,
        }
    }

    /// Rounds: 10, 12 or 14.
    pub fn rounds(&self) -> u8 {
        self.rounds
    }
}

impl core::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AesKey(AES-{}, ..)", 32 * (usize::from(self.rounds) - 6))
    }
}

/// One packet to CBC-encrypt in place with AES.
pub struct AesEncryptJob<'a> {
    /// Its key.
    pub key: &'a AesKey,
    /// Its IV.
    pub iv: [u8; 16],
    /// Plaintext in, ciphertext out; a multiple of 16 bytes (may be empty).
    pub data: &'a mut [u8],
}

/// CBC-encrypts every job in place, [`LANES`] packets side by side (see the module
/// documentation). Nothing is written when a job is refused: all are checked first.
/// Keys of different lengths may be mixed; the jobs of each length run together.
pub fn aes_cbc_encrypt(jobs: &mut [AesEncryptJob<'_>]) -> Result<(), Error> {
    for (i, j) in jobs.iter().enumerate() {
        if j.data.len() % 16 != 0 {
            return Err(Error::NotBlockAligned {
                job: i,
                len: j.data.len(),
            });
        }
    }
    if jobs.iter().all(|j| j.data.is_empty()) {
        return Ok(());
    }
    if !aes_is_available() {
        return Err(Error::Unavailable);
    }
    #[cfg(target_arch = "x86_64")]
    for rounds in [10u8, 12, 14] {
        if jobs
            .iter()
            .any(|j| j.key.rounds == rounds && !j.data.is_empty())
        {
            crate::x86_aes::cbc_encrypt(jobs, rounds);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // NIST SP 800-38A, F.2.1 / F.2.3 / F.2.5 (CBC-AES128/192/256.Encrypt).
    const PT: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                      30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
    const IV: &str = "000102030405060708090a0b0c0d0e0f";
    const CASES: [(&str, &str); 3] = [
        (
            "2b7e151628aed2a6abf7158809cf4f3c",
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
             73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
        ),
        (
            "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
            "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a\
             571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
        ),
        (
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d\
             39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
        ),
    ];

    #[test]
    fn sp800_38a_cbc_vectors_in_one_batch() {
        if !aes_is_available() {
            return;
        }
        let keys: Vec<AesKey> = CASES
            .iter()
            .map(|(k, _)| AesKey::new(&hex(k)).unwrap())
            .collect();
        let mut bufs: Vec<Vec<u8>> = CASES.iter().map(|_| hex(PT)).collect();
        let iv: [u8; 16] = hex(IV).try_into().unwrap();
        let mut jobs: Vec<AesEncryptJob<'_>> = keys
            .iter()
            .zip(bufs.iter_mut())
            .map(|(key, data)| AesEncryptJob {
                key,
                iv,
                data: data.as_mut_slice(),
            })
            .collect();
        aes_cbc_encrypt(&mut jobs).unwrap();
        drop(jobs);
        for ((_, ct), got) in CASES.iter().zip(&bufs) {
            assert_eq!(got, &hex(ct));
        }
    }

    #[test]
    fn misaligned_job_is_refused_and_nothing_written() {
        if !aes_is_available() {
            return;
        }
        let key = AesKey::new(&[7; 16]).unwrap();
        let mut a = [1u8; 32];
        let mut b = [2u8; 20];
        let r = aes_cbc_encrypt(&mut [
            AesEncryptJob {
                key: &key,
                iv: [0; 16],
                data: &mut a,
            },
            AesEncryptJob {
                key: &key,
                iv: [0; 16],
                data: &mut b,
            },
        ]);
        assert_eq!(r, Err(Error::NotBlockAligned { job: 1, len: 20 }));
        assert_eq!(a, [1; 32]);
        assert_eq!(
            AesKey::new(&[0; 17]).unwrap_err(),
            AesKeyError::BadLength(17)
        );
    }
}
