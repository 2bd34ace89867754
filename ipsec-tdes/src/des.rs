//! The bitsliced DES/3DES core, generic over the word width.
//!
//! Layout of a pass: `64 × CHUNKS` lanes, one 64-bit block per lane, lane `i * CHUNKS + c`
//! stored at index `i * CHUNKS + c` of a `u64` slice (blocks read big-endian, so DES bit 1 is
//! bit 63). Loading 64 words of `CHUNKS` chunks and transposing each 64×64 bit matrix gives
//! word `j` = bit `j` of every lane's block; the keys are transposed the same way, so every
//! lane carries its own key and lanes of different SAs share a pass.
//!
//! All DES permutations (IP, E, P, PC-1, PC-2, the key rotations, FP) are wiring here: they
//! only choose which word feeds which gate, at indices fixed by the tables below. No table is
//! ever indexed by key or data, so the code is constant-time by construction.
//!
//! Everything here is `#[inline(always)]` in optimised builds, so that it is compiled inside
//! the `#[target_feature]` entry points of `x86.rs`; debug builds keep the functions apart
//! (`cfg_attr(not(debug_assertions), ...)`), as one inlined pass needs a stack frame larger than
//! a test thread's stack when nothing is optimised.

use crate::sbox::{s1, s2, s3, s4, s5, s6, s7, s8};
use crate::word::Word;

/// Initial permutation (FIPS 46-3): output bit n comes from input bit `IP[n - 1]`.
#[rustfmt::skip]
pub(crate) const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// Expansion E: bit k of E(R) is bit `E[k] - 1` of R.
#[rustfmt::skip]
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
    16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];

/// Permutation P: bit i of f is bit `P[i] - 1` of the S-box outputs.
#[rustfmt::skip]
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];

/// Permuted choice 1: bit m of C‖D is key bit `PC1[m - 1]`.
#[rustfmt::skip]
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3,
    60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37,
    29, 21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: subkey bit k is bit `PC2[k] - 1` of the rotated C‖D.
#[rustfmt::skip]
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of C and D before each round.
const SHIFTS: [u8; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// S-box output position p (0..32, S1's o1 first) lands on f bit `PINV[p]`.
pub(crate) const PINV: [u8; 32] = {
    let mut inv = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        inv[P[i] as usize - 1] = i as u8;
        i += 1;
    }
    inv
};

/// The key schedule as wiring: `KS[r][k]` is the bit index (0 = least significant) of the
/// big-endian 64-bit key that becomes bit k of round r's subkey. Bitslicing turns the whole
/// schedule into this table: a lane's key words are read at these indices, never computed.
pub(crate) const KS: [[u8; 48]; 16] = {
    let mut out = [[0u8; 48]; 16];
    let mut shift = 0usize;
    let mut r = 0;
    while r < 16 {
        shift += SHIFTS[r] as usize;
        let mut k = 0;
        while k < 48 {
            let p = PC2[k] as usize - 1;
            let src = if p < 28 {
                (p + shift) % 28
            } else {
                28 + (p - 28 + shift) % 28
            };
            out[r][k] = 64 - PC1[src];
            k += 1;
        }
        r += 1;
    }
    out
};

/// Transposes `CHUNKS` 64×64 bit matrices at once: bit c of chunk g of `v[r]` trades places
/// with bit r of chunk g of `v[c]` (the classic recursive block swap, 6 stages of 32 swaps).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn transpose<W: Word>(v: &mut [W; 64]) {
    macro_rules! stage {
        ($j:literal, $m:literal) => {{
            let m = W::splat($m);
            for k in (0..64).filter(|k| k & $j == 0) {
                let t = v[k].shr::<$j>().xor(v[k + $j]).and(m);
                v[k + $j] = v[k + $j].xor(t);
                v[k] = v[k].xor(t.shl::<$j>());
            }
        }};
    }
    stage!(32, 0x0000_0000_FFFF_FFFF);
    stage!(16, 0x0000_FFFF_0000_FFFF);
    stage!(8, 0x00FF_00FF_00FF_00FF);
    stage!(4, 0x0F0F_0F0F_0F0F_0F0F);
    stage!(2, 0x3333_3333_3333_3333);
    stage!(1, 0x5555_5555_5555_5555);
}

/// Loads 64 words from `src` (`64 × CHUNKS` u64s) and transposes them.
#[cfg_attr(not(debug_assertions), inline(always))]
fn load_transposed<W: Word>(src: &[u64]) -> [W; 64] {
    let g = W::CHUNKS;
    let mut v = [W::splat(0); 64];
    for (i, w) in v.iter_mut().enumerate() {
        *w = W::load(&src[i * g..]);
    }
    transpose(&mut v);
    v
}

/// Bitslices the three keys of every lane: `keys` holds `3 × 64 × CHUNKS` big-endian key
/// halves (key 1 of all lanes, then key 2, then key 3); `out` receives, for each key, its 64
/// bit-words (parity bits included, never read).
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn transpose_keys<W: Word>(keys: &[u64], out: &mut [u64]) {
    let n = 64 * W::CHUNKS;
    for k in 0..3 {
        let t: [W; 64] = load_transposed(&keys[k * n..(k + 1) * n]);
        for (j, w) in t.iter().enumerate() {
            w.store(&mut out[k * n + j * W::CHUNKS..]);
        }
    }
}

/// One Feistel round: `l ^= f(r, subkey)`, the subkey read from `k` through `ks`.
#[cfg_attr(not(debug_assertions), inline(always))]
fn round<W: Word>(l: &mut [W; 32], r: &[W; 32], k: &[W; 64], ks: &[u8; 48]) {
    // `& 63` proves the index in range, so no bounds check is emitted; KS entries are < 64.
    let x = |i: usize| r[E[i] as usize - 1].xor(k[(ks[i] & 63) as usize]);
    macro_rules! sbox {
        ($f:ident, $s:literal) => {{
            let o = $f(
                x(6 * $s),
                x(6 * $s + 1),
                x(6 * $s + 2),
                x(6 * $s + 3),
                x(6 * $s + 4),
                x(6 * $s + 5),
            );
            for (q, oq) in o.into_iter().enumerate() {
                let d = PINV[4 * $s + q] as usize;
                l[d] = l[d].xor(oq);
            }
        }};
    }
    sbox!(s1, 0);
    sbox!(s2, 1);
    sbox!(s3, 2);
    sbox!(s4, 3);
    sbox!(s5, 4);
    sbox!(s6, 5);
    sbox!(s7, 6);
    sbox!(s8, 7);
}

/// Sixteen rounds without IP/FP. On return `r` holds R16 and `l` holds L16, so the
/// pre-output R16‖L16 is `r‖l` and the next DES of a 3DES chain takes `(l, r)` swapped.
#[cfg_attr(not(debug_assertions), inline(always))]
fn des16<W: Word>(l: &mut [W; 32], r: &mut [W; 32], k: &[W; 64], decrypt: bool) {
    for i in (0..16).step_by(2) {
        let (r0, r1) = if decrypt {
            (15 - i, 14 - i)
        } else {
            (i, i + 1)
        };
        round(l, r, k, &KS[r0]);
        round(r, l, k, &KS[r1]);
    }
}

/// One 3DES-EDE pass over all lanes, in place: `blocks` holds `64 × CHUNKS` blocks, `tkeys`
/// the output of [`transpose_keys`]. Encryption is E(k3, D(k2, E(k1, x))); decryption its
/// inverse. The FP/IP pairs between the three DES cancel and are skipped.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn tdes_pass<W: Word>(blocks: &mut [u64], tkeys: &[u64], decrypt: bool) {
    let g = W::CHUNKS;
    let n = 64 * g;
    let mut keys = [[W::splat(0); 64]; 3];
    for (k, ks) in keys.iter_mut().enumerate() {
        for (j, w) in ks.iter_mut().enumerate() {
            *w = W::load(&tkeys[k * n + j * g..]);
        }
    }
    let t: [W; 64] = load_transposed(blocks);
    let mut a = [W::splat(0); 32];
    let mut b = [W::splat(0); 32];
    for i in 0..32 {
        a[i] = t[64 - IP[i] as usize];
        b[i] = t[64 - IP[32 + i] as usize];
    }
    if decrypt {
        des16(&mut a, &mut b, &keys[2], true);
        des16(&mut b, &mut a, &keys[1], false);
        des16(&mut a, &mut b, &keys[0], true);
    } else {
        des16(&mut a, &mut b, &keys[0], false);
        des16(&mut b, &mut a, &keys[1], true);
        des16(&mut a, &mut b, &keys[2], false);
    }
    // Pre-output is b‖a; FP is the inverse of IP: pre-output bit IP[n] - 1 goes to bit n.
    let mut out = [W::splat(0); 64];
    for n in 0..64 {
        let src = if n < 32 { b[n] } else { a[n - 32] };
        out[64 - IP[n] as usize] = src;
    }
    transpose(&mut out);
    for (i, w) in out.iter().enumerate() {
        w.store(&mut blocks[i * g..]);
    }
    // Wipe the key words and the state copies on the stack: they are key-dependent.
    for ks in keys.iter_mut() {
        for w in ks.iter_mut() {
            *w = W::splat(0);
        }
    }
    core::hint::black_box(&mut keys);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_is_a_transposition() {
        let mut v = [0u64; 64];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for w in v.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *w = x;
        }
        let orig = v;
        transpose(&mut v);
        for (r, vr) in v.iter().enumerate() {
            for (c, oc) in orig.iter().enumerate() {
                assert_eq!((vr >> c) & 1, (oc >> r) & 1);
            }
        }
    }

    #[test]
    fn key_schedule_uses_56_distinct_bits() {
        for row in KS.iter() {
            let mut seen = 0u64;
            for &b in row.iter() {
                assert!(b < 64 && b % 8 != 0, "parity bit {b} used");
                seen |= 1 << b;
            }
            assert_eq!(seen.count_ones(), 48);
        }
    }
}
