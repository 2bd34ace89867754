//! AVX2 (256 lanes) and AVX-512 (512 lanes) words and their pass entry points.
//!
//! The only `unsafe` code of the crate. The vector word types are private, and a value of
//! one exists only inside an entry point below, which is `#[target_feature]`-compiled and only
//! called after `is_x86_feature_detected!` confirmed the feature (see `Width::available`).
//! The generic core is `#[inline(always)]`, so it is compiled inside those functions with the
//! feature enabled, while the rest of the crate (and the u64 path) keeps the baseline target.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use crate::des::{tdes_pass, transpose_keys};
use crate::word::Word;

/// 256 lanes in one AVX2 register.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(__m256i);

impl Word for Avx2 {
    const CHUNKS: usize = 4;
    #[inline(always)]
    fn splat(x: u64) -> Self {
        // SAFETY: Avx2 values only exist inside `avx2_*` below, entered after AVX2 detection.
        Avx2(unsafe { _mm256_set1_epi64x(x as i64) })
    }
    #[inline(always)]
    fn load(src: &[u64]) -> Self {
        let s = &src[..4];
        // SAFETY: `s` is 4 readable u64s (bounds checked above); loadu has no alignment need;
        // AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_loadu_si256(s.as_ptr().cast()) })
    }
    #[inline(always)]
    fn store(self, dst: &mut [u64]) {
        let d = &mut dst[..4];
        // SAFETY: `d` is 4 writable u64s; storeu has no alignment need; AVX2 is available.
        unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), self.0) }
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_and_si256(self.0, b.0) })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_or_si256(self.0, b.0) })
    }
    #[inline(always)]
    fn xor(self, b: Self) -> Self {
        // SAFETY: AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_xor_si256(self.0, b.0) })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: AVX2 is available (see `splat`). vpandn computes !first & second.
        Avx2(unsafe { _mm256_andnot_si256(b.0, self.0) })
    }
    #[inline(always)]
    fn not(self) -> Self {
        // SAFETY: AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_xor_si256(self.0, _mm256_set1_epi64x(-1)) })
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        // SAFETY: AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_sll_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        // SAFETY: AVX2 is available (see `splat`).
        Avx2(unsafe { _mm256_srl_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
}

/// 512 lanes in one AVX-512 register (AVX-512F instructions only).
#[derive(Clone, Copy)]
pub(crate) struct Avx512(__m512i);

impl Word for Avx512 {
    const CHUNKS: usize = 8;
    #[inline(always)]
    fn splat(x: u64) -> Self {
        // SAFETY: Avx512 values only exist inside `avx512_*` below, entered after AVX-512F
        // detection.
        Avx512(unsafe { _mm512_set1_epi64(x as i64) })
    }
    #[inline(always)]
    fn load(src: &[u64]) -> Self {
        let s = &src[..8];
        // SAFETY: `s` is 8 readable u64s; loadu has no alignment need; AVX-512F is available.
        Avx512(unsafe { _mm512_loadu_si512(s.as_ptr().cast()) })
    }
    #[inline(always)]
    fn store(self, dst: &mut [u64]) {
        let d = &mut dst[..8];
        // SAFETY: `d` is 8 writable u64s; storeu has no alignment need; AVX-512F is available.
        unsafe { _mm512_storeu_si512(d.as_mut_ptr().cast(), self.0) }
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`).
        Avx512(unsafe { _mm512_and_si512(self.0, b.0) })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`).
        Avx512(unsafe { _mm512_or_si512(self.0, b.0) })
    }
    #[inline(always)]
    fn xor(self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`).
        Avx512(unsafe { _mm512_xor_si512(self.0, b.0) })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`). vpandnq computes !first & second.
        Avx512(unsafe { _mm512_andnot_si512(b.0, self.0) })
    }
    #[inline(always)]
    fn not(self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`).
        Avx512(unsafe { _mm512_xor_si512(self.0, _mm512_set1_epi64(-1)) })
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`).
        Avx512(unsafe { _mm512_sll_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        // SAFETY: AVX-512F is available (see `splat`).
        Avx512(unsafe { _mm512_srl_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
}

/// A 3DES pass on 256 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_pass(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
    tdes_pass::<Avx2>(blocks, tkeys, decrypt)
}

/// Key transposition for 256 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_keys(keys: &[u64], out: &mut [u64]) {
    transpose_keys::<Avx2>(keys, out)
}

/// A 3DES pass on 512 lanes.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512_pass(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
    tdes_pass::<Avx512>(blocks, tkeys, decrypt)
}

/// Key transposition for 512 lanes.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512_keys(keys: &[u64], out: &mut [u64]) {
    transpose_keys::<Avx512>(keys, out)
}

/// The 64-lane pass compiled with BMI1, whose `andn` does the S-boxes' AND-NOT gates in one
/// instruction instead of two (the portable build targets baseline x86-64).
///
/// # Safety
/// The CPU must support BMI1.
#[target_feature(enable = "bmi1")]
pub(crate) unsafe fn u64_bmi1_pass(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
    tdes_pass::<u64>(blocks, tkeys, decrypt)
}
