//! AES-NI entry points of [`crate::aes`]: key expansion and the interleaved CBC lanes.
//!
//! Each entry point is `#[target_feature(enable = "aes,sse2")]` and reached only after
//! `aes_is_available` confirmed AES-NI (`AesKey::new` for the expansion, `aes_cbc_encrypt`
//! for the lanes).

use core::arch::x86_64::*;

use crate::aes::{AesEncryptJob, LANES, MAX_ROUND_KEYS};

/// Expands `key` (16, 24 or 32 bytes) into `rk` (FIPS-197 §5.2).
pub(crate) fn expand(key: &[u8], rk: &mut [[u8; 16]; MAX_ROUND_KEYS]) {
    // SAFETY: reached from `AesKey::new` after `aes_is_available` returned true.
    unsafe { expand_ni(key, rk) }
}

/// `SubWord` of a word held little-endian (its first byte lowest), by AESKEYGENASSIST, whose
/// low dword is `SubWord` of the second dword of its source.
#[inline]
#[target_feature(enable = "aes,sse2")]
fn sub_word(w: u32) -> u32 {
    let v = _mm_set_epi32(0, 0, w as i32, 0);
    _mm_cvtsi128_si32(_mm_aeskeygenassist_si128::<0>(v)) as u32
}

#[target_feature(enable = "aes,sse2")]
fn expand_ni(key: &[u8], rk: &mut [[u8; 16]; MAX_ROUND_KEYS]) {
    const RCON: [u32; 10] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];
    let nk = key.len() / 4;
    let total = 4 * (nk + 7);
    let mut w = [0u32; 4 * MAX_ROUND_KEYS];
    for (i, c) in key.chunks_exact(4).enumerate().take(nk) {
        w[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in nk..total.min(w.len()) {
        let mut t = w[i - 1];
        if i % nk == 0 {
            // RotWord then SubWord equals SubWord then a byte rotation; the first byte is lowest.
            t = sub_word(t).rotate_right(8) ^ RCON[i / nk - 1];
        } else if nk > 6 && i % nk == 4 {
            t = sub_word(t);
        }
        w[i] = w[i - nk] ^ t;
    }
    for (r, out) in rk.iter_mut().enumerate() {
        for (j, b) in out.chunks_exact_mut(4).enumerate() {
            b.copy_from_slice(&w[4 * r + j].to_le_bytes());
        }
    }
    zeroize::Zeroize::zeroize(&mut w);
}

/// Encrypts the non-empty jobs whose keys have `rounds` rounds, up to [`LANES`] at a time.
/// Fewer jobs than lanes run on fewer lanes: an idle lane costs as much as a busy one.
pub(crate) fn cbc_encrypt(jobs: &mut [AesEncryptJob<'_>], rounds: u8) {
    let n = jobs
        .iter()
        .filter(|j| j.key.rounds == rounds && !j.data.is_empty())
        .count();
    // SAFETY (every arm): `aes_cbc_encrypt` checked that AES-NI is available.
    unsafe {
        match (rounds, n) {
            (10, 1) => cbc_encrypt_ni::<10, 1>(jobs),
            (10, 2) => cbc_encrypt_ni::<10, 2>(jobs),
            (10, 3..=4) => cbc_encrypt_ni::<10, 4>(jobs),
            (10, _) => cbc_encrypt_ni::<10, LANES>(jobs),
            (12, 1..=2) => cbc_encrypt_ni::<12, 2>(jobs),
            (12, _) => cbc_encrypt_ni::<12, LANES>(jobs),
            (_, 1..=2) => cbc_encrypt_ni::<14, 2>(jobs),
            _ => cbc_encrypt_ni::<14, LANES>(jobs),
        }
    }
}

#[inline(always)]
fn load(b: &[u8]) -> __m128i {
    match <&[u8; 16]>::try_from(b) {
        // SAFETY: `b` is 16 readable bytes; loadu has no alignment requirement, and SSE2 is
        // part of x86-64.
        Ok(b) => unsafe { _mm_loadu_si128(b.as_ptr().cast()) },
        Err(_) => unsafe { _mm_setzero_si128() },
    }
}

/// The lanes: the jobs' data is moved into its lane while it runs and put back when it ends.
// Lanes and rounds are indexes into parallel arrays: the loops are unrolled over them.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "aes,sse2")]
fn cbc_encrypt_ni<const NR: usize, const L: usize>(jobs: &mut [AesEncryptJob<'_>]) {
    const IDLE: usize = usize::MAX;
    let rounds = NR as u8;
    let mut job = [IDLE; L];
    let mut data: [&mut [u8]; L] = core::array::from_fn(|_| <&mut [u8]>::default());
    // Offset of the lane's next block, its chain (the previous ciphertext) and round keys.
    let mut at = [0usize; L];
    let mut chain = [_mm_setzero_si128(); L];
    let mut rk = [[_mm_setzero_si128(); MAX_ROUND_KEYS]; L];
    let mut next = 0usize;
    loop {
        for l in 0..L {
            if job[l] != IDLE {
                continue;
            }
            while let Some(j) = jobs.get_mut(next) {
                next += 1;
                if j.key.rounds == rounds && !j.data.is_empty() {
                    job[l] = next - 1;
                    at[l] = 0;
                    chain[l] = load(&j.iv);
                    for (k, r) in rk[l].iter_mut().zip(&j.key.rk) {
                        *k = load(r);
                    }
                    data[l] = core::mem::take(&mut j.data);
                    break;
                }
            }
        }
        // Blocks every live lane has left: run them without looking at the lanes again.
        let run = (0..L)
            .filter(|&l| job[l] != IDLE)
            .map(|l| (data[l].len() - at[l]) / 16)
            .min();
        let Some(run) = run else { break };
        for _ in 0..run {
            // Idle lanes encrypt zeros under zero keys: no branch inside the rounds.
            let mut x = [_mm_setzero_si128(); L];
            for l in 0..L {
                let p = data[l]
                    .get(at[l]..at[l] + 16)
                    .map_or(_mm_setzero_si128(), load);
                x[l] = _mm_xor_si128(_mm_xor_si128(p, chain[l]), rk[l][0]);
            }
            for r in 1..NR {
                for l in 0..L {
                    x[l] = _mm_aesenc_si128(x[l], rk[l][r]);
                }
            }
            for l in 0..L {
                x[l] = _mm_aesenclast_si128(x[l], rk[l][NR]);
                chain[l] = x[l];
                if let Some(b) = data[l].get_mut(at[l]..at[l] + 16) {
                    // SAFETY: `b` is 16 writable bytes; storeu has no alignment requirement.
                    unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), x[l]) };
                    at[l] += 16;
                }
            }
        }
        for l in 0..L {
            if job[l] != IDLE && at[l] >= data[l].len() {
                if let Some(j) = jobs.get_mut(job[l]) {
                    j.data = core::mem::take(&mut data[l]);
                }
                job[l] = IDLE;
                rk[l] = [_mm_setzero_si128(); MAX_ROUND_KEYS];
            }
        }
    }
    // Round keys are secret: none stays on the stack. (The chains are ciphertext.)
    for k in rk.iter_mut().flatten() {
        // SAFETY: `k` is a valid, writable __m128i; a volatile write is not elided.
        unsafe { core::ptr::write_volatile(k, _mm_setzero_si128()) };
    }
}
