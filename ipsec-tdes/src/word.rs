//! The bitsliced word: one bit per lane, `CHUNKS` 64-bit chunks wide.

/// Operations the bitsliced DES core needs from a word of lanes.
///
/// Every operation is lane-wise and branch-free, so a DES computed on these words takes the same
/// time and touches the same addresses whatever the keys and data are. The shifts act within
/// each 64-bit chunk: they are only used by the 64×64 bit-matrix transposition, which runs on
/// `CHUNKS` matrices at once.
pub(crate) trait Word: Copy {
    /// Number of 64-bit chunks, i.e. lanes / 64.
    const CHUNKS: usize;
    /// A word with `x` in every chunk.
    fn splat(x: u64) -> Self;
    /// Loads `CHUNKS` consecutive chunks from the start of `src` (panics if it is shorter).
    fn load(src: &[u64]) -> Self;
    /// Stores `CHUNKS` consecutive chunks at the start of `dst` (panics if it is shorter).
    fn store(self, dst: &mut [u64]);
    /// `self & b`.
    fn and(self, b: Self) -> Self;
    /// `self | b`.
    fn or(self, b: Self) -> Self;
    /// `self ^ b`.
    fn xor(self, b: Self) -> Self;
    /// `self & !b`.
    fn andnot(self, b: Self) -> Self;
    /// `!self`.
    fn not(self) -> Self;
    /// Shift left by `N` bits within each chunk.
    fn shl<const N: u32>(self) -> Self;
    /// Shift right by `N` bits within each chunk.
    fn shr<const N: u32>(self) -> Self;
}

/// The portable width: 64 lanes in a `u64`, for every target.
impl Word for u64 {
    const CHUNKS: usize = 1;
    #[inline(always)]
    fn splat(x: u64) -> Self {
        x
    }
    #[inline(always)]
    fn load(src: &[u64]) -> Self {
        src[0]
    }
    #[inline(always)]
    fn store(self, dst: &mut [u64]) {
        dst[0] = self;
    }
    #[inline(always)]
    fn and(self, b: Self) -> Self {
        self & b
    }
    #[inline(always)]
    fn or(self, b: Self) -> Self {
        self | b
    }
    #[inline(always)]
    fn xor(self, b: Self) -> Self {
        self ^ b
    }
    #[inline(always)]
    fn andnot(self, b: Self) -> Self {
        self & !b
    }
    #[inline(always)]
    fn not(self) -> Self {
        !self
    }
    #[inline(always)]
    fn shl<const N: u32>(self) -> Self {
        self << N
    }
    #[inline(always)]
    fn shr<const N: u32>(self) -> Self {
        self >> N
    }
}
