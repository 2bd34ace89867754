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

/// 64 lanes in the low half of an SSE register, for CPUs with AVX-512VL: the pass then gets
/// AVX-512's three-input logic (`vpternlogq`, which LLVM forms from the S-boxes' gate pairs)
/// and its 32 vector registers, where the scalar pass runs two-input gates on 16 registers
/// and spills. The high half is never read back. Same lanes and layout as `u64`.
#[derive(Clone, Copy)]
pub(crate) struct Vl64(__m128i);

impl Word for Vl64 {
    const CHUNKS: usize = 1;
    #[inline(always)]
    fn splat(x: u64) -> Self {
        // SAFETY: Vl64 values only exist inside `u64_vl_pass`, entered after AVX-512F/VL
        // detection (SSE2 is baseline on x86-64).
        Vl64(unsafe { _mm_cvtsi64_si128(x as i64) })
    }
    #[inline(always)]
    fn load(src: &[u64]) -> Self {
        Self::splat(src[0])
    }
    #[inline(always)]
    fn store(self, dst: &mut [u64]) {
        // SAFETY: as in `splat`.
        dst[0] = unsafe { _mm_cvtsi128_si64(self.0) } as u64;
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        // SAFETY: as in `splat`.
        Vl64(unsafe { _mm_and_si128(self.0, b.0) })
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        // SAFETY: as in `splat`.
        Vl64(unsafe { _mm_or_si128(self.0, b.0) })
    }
    #[inline(always)]
    fn xor(self, b: Self) -> Self {
        // SAFETY: as in `splat`.
        Vl64(unsafe { _mm_xor_si128(self.0, b.0) })
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        // SAFETY: as in `splat`. pandn computes !first & second.
        Vl64(unsafe { _mm_andnot_si128(b.0, self.0) })
    }
    #[inline(always)]
    fn not(self) -> Self {
        // SAFETY: as in `splat`.
        Vl64(unsafe { _mm_xor_si128(self.0, _mm_set1_epi64x(-1)) })
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        // SAFETY: as in `splat`.
        Vl64(unsafe { _mm_sll_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        // SAFETY: as in `splat`.
        Vl64(unsafe { _mm_srl_epi64(self.0, _mm_cvtsi32_si128(N as i32)) })
    }
}

/// The 64-lane pass on AVX-512VL registers (see [`Vl64`]).
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn u64_vl_pass(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
    tdes_pass::<Vl64>(blocks, tkeys, decrypt)
}

/// A 3DES pass on 256 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2_pass(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
    tdes_pass::<Avx2>(blocks, tkeys, decrypt)
}

/// The 256-lane pass compiled with AVX-512VL too: the same AVX2 word, but LLVM then fuses the
/// S-boxes' gate pairs into three-input `vpternlogq` on 256-bit registers, and has 32 of them.
///
/// # Safety
/// The CPU must support AVX2, AVX-512F and AVX-512VL.
#[target_feature(enable = "avx2,avx512f,avx512vl")]
pub(crate) unsafe fn avx2_vl_pass(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
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

/// The narrow path's kernel: 3DES encryption of `8 × regs` blocks (`regs` in 1..=4), block `l`
/// at `blocks[l]` (big-endian value), with round r's key of lane `l` at `rk[32 r + l]`
/// (`narrow::round_keys`). See `narrow.rs` for the design. Only permutes, shifts and
/// bitwise operations on registers: the S-box tables are register operands, so no address
/// depends on keys or data.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn vbmi_encrypt(
    blocks: &mut [u64; crate::narrow::LANES],
    rk: &[u64; 48 * crate::narrow::LANES],
    regs: usize,
    t: &crate::narrow::SpTables,
) {
    const MAXR: usize = crate::narrow::LANES / 8;
    let regs = regs.clamp(1, MAXR);
    // SAFETY (whole body): the features are enabled on this function and its caller checked
    // them; every load/store is through a bounds-checked slice of exactly 8 u64s (64 bytes).
    unsafe {
        let load = |s: &[u64]| _mm512_loadu_si512(s[..8].as_ptr().cast());
        let tab = |pair: usize, plane: usize, half: usize| {
            let s = &t.t[pair][plane][64 * half..64 * half + 64];
            _mm512_loadu_si512(s.as_ptr().cast())
        };
        // L and R are kept doubled (R‖R in each 64-bit element), so that every field of E(R)
        // is contiguous: field s starts at bit 59 - 4s (see narrow.rs, where the fields are
        // described on rotr64(R‖R, 1)), and one multishift extracts all eight.
        let ctrl = _mm512_set1_epi64(i64::from_le_bytes([59, 55, 51, 47, 43, 39, 35, 31]));
        let six = _mm512_set1_epi8(0x3F);
        let zero = _mm512_setzero_si512();
        let lo32 = _mm512_set1_epi64(0xFFFF_FFFF);
        let masks: [u64; 4] = core::array::from_fn(|p| 0x0303_0303_0303_0303u64 << (2 * p));
        let mut l = [zero; MAXR];
        let mut r = [zero; MAXR];
        let permute = |m: &crate::narrow::Moves, x: __m512i| {
            let mut out = zero;
            for j in 0..m.n {
                let b = _mm512_and_si512(x, _mm512_set1_epi64(m.mask[j] as i64));
                let c = _mm_cvtsi32_si128(m.shift[j].abs());
                let moved = if m.shift[j] >= 0 {
                    _mm512_sll_epi64(b, c)
                } else {
                    _mm512_srl_epi64(b, c)
                };
                out = _mm512_or_si512(out, moved);
            }
            out
        };
        for g in 0..regs {
            let v = permute(&crate::narrow::IP_MOVES, load(&blocks[8 * g..]));
            let hi = _mm512_srli_epi64(v, 32);
            let lo = _mm512_and_si512(v, lo32);
            l[g] = _mm512_or_si512(hi, _mm512_slli_epi64(hi, 32));
            r[g] = _mm512_or_si512(lo, _mm512_slli_epi64(lo, 32));
        }
        for round in 0..48 {
            for g in 0..regs {
                let k = load(&rk[round * crate::narrow::LANES + 8 * g..]);
                let idx = _mm512_multishift_epi64_epi8(ctrl, r[g]);
                // (idx & 0x3F) ^ k
                let idx = _mm512_ternarylogic_epi64(idx, six, k, 0x6A);
                let sums: [__m512i; 4] = core::array::from_fn(|plane| {
                    let y: [__m512i; 4] = core::array::from_fn(|pair| {
                        _mm512_maskz_permutex2var_epi8(
                            masks[pair],
                            tab(pair, plane, 0),
                            idx,
                            tab(pair, plane, 1),
                        )
                    });
                    // A tree, not a chain: shorter dependency path per round.
                    let acc =
                        _mm512_or_si512(_mm512_or_si512(y[0], y[1]), _mm512_or_si512(y[2], y[3]));
                    // The eight entries have disjoint bits: their byte sum is their OR.
                    _mm512_sad_epu8(acc, zero)
                });
                // f doubled (f‖f), as a shallow tree of shifted byte-plane sums.
                let f0 = _mm512_or_si512(
                    _mm512_or_si512(sums[0], _mm512_slli_epi64(sums[1], 8)),
                    _mm512_or_si512(
                        _mm512_slli_epi64(sums[2], 16),
                        _mm512_slli_epi64(sums[3], 24),
                    ),
                );
                let f1 = _mm512_or_si512(
                    _mm512_or_si512(
                        _mm512_slli_epi64(sums[0], 32),
                        _mm512_slli_epi64(sums[1], 40),
                    ),
                    _mm512_or_si512(
                        _mm512_slli_epi64(sums[2], 48),
                        _mm512_slli_epi64(sums[3], 56),
                    ),
                );
                let f = _mm512_or_si512(f0, f1);
                let nr = _mm512_xor_si512(l[g], f);
                l[g] = r[g];
                r[g] = nr;
            }
            if round == 15 || round == 31 {
                // Between two DES of the chain: undo the last swap (FP/IP cancel).
                core::mem::swap(&mut l, &mut r);
            }
        }
        for g in 0..regs {
            // Pre-output R16‖L16 (from the doubled halves).
            let v = _mm512_or_si512(_mm512_slli_epi64(r[g], 32), _mm512_and_si512(l[g], lo32));
            let v = permute(&crate::narrow::FP_MOVES, v);
            _mm512_storeu_si512(blocks[8 * g..8 * g + 8].as_mut_ptr().cast(), v);
        }
    }
}
