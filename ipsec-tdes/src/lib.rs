//! Constant-time bitsliced DES/3DES-CBC for many packets at once.
//!
//! Each bit of a machine word is a *lane*: a 64-bit block of one packet with its own 3-key
//! 3DES key (EDE). A *pass* runs 48 DES rounds as a network of boolean gates on words of
//! 64 (`u64`, every target), 256 (AVX2) or 512 (AVX-512F) lanes; it costs the same however
//! many lanes are filled and, having no data- or key-dependent branch or memory index, takes
//! the same time and touches the same addresses whatever the keys and data are.
//!
//! * [`TdesCbc::encrypt`]: CBC encryption of many independent packets, one lane per packet
//!   (CBC is sequential inside a packet), a lane refilled with the next packet as soon as its
//!   packet ends. Packets of different SAs share a pass: the key schedule is bitsliced per
//!   lane.
//! * [`TdesCbc::decrypt`]: CBC decryption spreads every block of every packet over the lanes,
//!   so it is parallel even inside one packet.
//! * The narrow path: a call picks the width that is cheapest for its amount of work
//!   ([`TdesCbc::width_for`]). A few packets to encrypt run [`Width::Vbmi`] where the CPU has
//!   AVX-512 VBMI (DES's SP tables held in registers and read with `vpermt2b` permutes, eight
//!   packets per register, so its cost grows with the batch instead of being a whole wide
//!   pass), or else the 64-lane `u64` pass; both constant-time by construction.
//!
//! * Where the CPU has AVX-512VL, the 64- and 256-lane passes are compiled for it: the same
//!   gate network, but LLVM fuses gate pairs into three-input `vpternlogq` and has 32 vector
//!   registers (the 64 lanes sit in an SSE register), about 15 % faster in the criterion
//!   benchmark. [`TdesCbc::set_ternlog`] keeps the plain kernels. Valgrind hides AVX-512, so
//!   the CI valgrind check covers the plain kernels and the dudect test the AVX-512 ones.
//!
//! Outputs go to caller buffers; a [`TdesCbc`] holds all scratch space, allocated once by its
//! constructor, so a call allocates nothing. Key material (the [`TdesKey`]s, the bitsliced key
//! words and the block scratch) is zeroized after each call and on drop.
//!
//! The width can be capped with the environment variable `IPSEC_TDES_WIDTH` (`u64`, `avx2`,
//! `vbmi`, `avx512`; the order of [`Width`]), read once per process, or fixed per context with [`TdesCbc::with_width`]; tests
//! and valgrind runs use these (valgrind does not emulate AVX-512).
//!
//! The S-box circuits are Roman Rusakov's published gate networks (see `sbox.rs`).
//!
//! The crate also holds the batched ESP path's other shared pass, multi-buffer AES-CBC
//! encryption with AES-NI ([`aes`]): the same lane-per-packet shape on a smaller scale.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod aes;
mod des;
mod narrow;
mod sbox;
mod word;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_aes;

pub use aes::{aes_cbc_encrypt, aes_is_available, AesEncryptJob, AesKey, AesKeyError};

use std::sync::OnceLock;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The widest pass: lanes of the AVX-512 word.
const MAX_LANES: usize = 512;

/// A bitsliced word width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Width {
    /// 64 lanes in a `u64`; portable, always available.
    U64,
    /// 256 lanes in an AVX2 register (x86-64 with AVX2).
    Avx2,
    /// The narrow path for a few packets (x86-64 with AVX-512F/BW/VBMI; encryption only,
    /// decryption runs [`Width::U64`] instead): up to 32 lanes, eight per 512-bit register,
    /// DES's SP tables held in registers and read with `vpermt2b` permutes, so a round costs
    /// the same for any key and data. Not bitsliced; its cost grows with each register of
    /// eight lanes used.
    Vbmi,
    /// 512 lanes in an AVX-512 register (x86-64 with AVX-512F).
    Avx512,
}

impl Width {
    /// All widths, narrowest first.
    pub const ALL: [Width; 4] = [Width::U64, Width::Avx2, Width::Vbmi, Width::Avx512];

    /// Lanes (blocks) per pass.
    pub const fn lanes(self) -> usize {
        match self {
            Width::U64 => 64,
            Width::Avx2 => 256,
            Width::Vbmi => narrow::LANES,
            Width::Avx512 => 512,
        }
    }

    /// Whether this CPU runs this width (runtime detection).
    pub fn is_available(self) -> bool {
        match self {
            Width::U64 => true,
            #[cfg(target_arch = "x86_64")]
            Width::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Width::Vbmi => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vbmi")
            }
            #[cfg(target_arch = "x86_64")]
            Width::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widths this CPU runs, narrowest first.
    pub fn available() -> impl Iterator<Item = Width> {
        Width::ALL.into_iter().filter(|w| w.is_available())
    }

    /// Parses `u64`, `avx2`, `vbmi` or `avx512`.
    pub fn parse(s: &str) -> Option<Width> {
        match s.trim().to_ascii_lowercase().as_str() {
            "u64" | "64" | "portable" => Some(Width::U64),
            "avx2" | "256" => Some(Width::Avx2),
            "vbmi" | "narrow" => Some(Width::Vbmi),
            "avx512" | "avx-512" | "512" => Some(Width::Avx512),
            _ => None,
        }
    }

    /// The widest width allowed for new contexts: the widest available, capped by
    /// `IPSEC_TDES_WIDTH` if set (an unknown value or an unavailable width is ignored in
    /// favour of the next narrower available width). Read once per process.
    pub fn default_max() -> Width {
        static MAX: OnceLock<Width> = OnceLock::new();
        *MAX.get_or_init(|| {
            let cap = std::env::var("IPSEC_TDES_WIDTH")
                .ok()
                .and_then(|v| Width::parse(&v))
                .unwrap_or(Width::Avx512);
            Width::available()
                .filter(|w| *w <= cap)
                .last()
                .unwrap_or(Width::U64)
        })
    }

    /// Relative cost of one pass (u64 = 40), from the criterion benchmark on the development
    /// machine (2-core AMD EPYC with AVX-512VL; noisy, shared; per-lane bookkeeping included):
    /// a bitsliced pass costs the same however many lanes are filled, so the width for `n`
    /// lanes of work minimises `ceil(n / lanes) × cost`. The narrow kernel's pass costs
    /// [`VBMI_BASE`] plus this per register of eight lanes: one register alone is bound by
    /// the rounds' latency, and four interleaved hide most of it (batch 64: 2 × 4 registers
    /// 513 us against one `u64` pass 615 us; batch 1: 115 against 510 us).
    const fn pass_cost(self) -> usize {
        match self {
            Width::U64 => 40,
            Width::Avx2 => 44,
            Width::Vbmi => 3,
            Width::Avx512 => 56,
        }
    }
}

/// The narrow kernel's cost per pass before its registers (see `Width::pass_cost`).
const VBMI_BASE: usize = 6;

/// A three-key 3DES key (K1, K2, K3; EDE). Parity bits are ignored. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TdesKey {
    k: [u64; 3],
}

impl TdesKey {
    /// The key from its 24 bytes K1‖K2‖K3.
    pub fn new(key: &[u8; 24]) -> Self {
        let mut k = [0u64; 3];
        for (i, ki) in k.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&key[8 * i..8 * i + 8]);
            *ki = u64::from_be_bytes(b);
            b.zeroize();
        }
        TdesKey { k }
    }

    /// The key from a 24-byte slice; `None` for any other length.
    pub fn from_slice(key: &[u8]) -> Option<Self> {
        let key: &[u8; 24] = key.try_into().ok()?;
        Some(Self::new(key))
    }
}

impl core::fmt::Debug for TdesKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TdesKey(..)")
    }
}

/// One packet to CBC-encrypt in place.
pub struct EncryptJob<'a> {
    /// Its key.
    pub key: &'a TdesKey,
    /// Its IV.
    pub iv: [u8; 8],
    /// Plaintext in, ciphertext out; a multiple of 8 bytes (may be empty).
    pub data: &'a mut [u8],
}

/// One packet to CBC-decrypt from `src` into `dst`.
pub struct DecryptJob<'a> {
    /// Its key.
    pub key: &'a TdesKey,
    /// Its IV (for ESP: the 8 bytes before the ciphertext).
    pub iv: [u8; 8],
    /// Ciphertext; a multiple of 8 bytes (may be empty).
    pub src: &'a [u8],
    /// Receives `src.len()` bytes of plaintext at its start.
    pub dst: &'a mut [u8],
}

/// Why a batch was refused. Nothing is written when a batch is refused: jobs are checked
/// before any pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A job's data is not a whole number of cipher blocks (8 bytes for 3DES, 16 for AES).
    #[error("job {job}: {len} bytes is not a whole number of cipher blocks")]
    NotBlockAligned {
        /// Index of the job in the batch.
        job: usize,
        /// Its length.
        len: usize,
    },
    /// A decryption job's output buffer is shorter than its input.
    #[error("job {job}: output buffer too small, {needed} bytes needed")]
    BufferTooSmall {
        /// Index of the job in the batch.
        job: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The CPU lacks the instructions of this cipher's pass (AES-NI for
    /// [`aes_cbc_encrypt`]).
    #[error("this CPU has no instructions for this pass")]
    Unavailable,
}

/// Whether this CPU runs the 64-lane pass on AVX-512VL registers.
fn ternlog_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// No job in a lane.
const EMPTY: u32 = u32::MAX;

/// A reusable 3DES-CBC batch context: scratch for the widest pass, allocated once.
pub struct TdesCbc {
    max: Width,
    forced: Option<Width>,
    /// Whether `width_for` may pick [`Width::Vbmi`].
    vbmi: bool,
    /// Whether the 64-lane pass runs on AVX-512VL registers (three-input logic).
    ternlog: bool,
    /// One block per lane, in the lane order of `des.rs`.
    blocks: Box<[u64]>,
    /// Lane keys: K1 of every lane, then K2, then K3.
    keys: Box<[u64]>,
    /// The bitsliced keys (`des::transpose_keys`).
    tkeys: Box<[u64]>,
    /// Per lane: job index, next block index, CBC chaining value.
    lane_job: Box<[u32]>,
    lane_off: Box<[u32]>,
    lane_chain: Box<[u64]>,
    /// The narrow path's round keys, 48 per lane.
    rk: Box<[u64]>,
    /// Decryption: the segments of the pass in hand.
    segs: Box<[Segment]>,
}

/// Consecutive blocks of one decryption job on consecutive lanes of a pass.
#[derive(Clone, Copy, Default)]
struct Segment {
    job: u32,
    first: u32,
    lanes: u32,
}

impl Default for TdesCbc {
    fn default() -> Self {
        Self::new()
    }
}

impl TdesCbc {
    /// A context that picks, per call, the cheapest width up to [`Width::default_max`].
    pub fn new() -> Self {
        Self::build(Width::default_max(), None)
    }

    /// A context that runs every pass at width `w` (for tests, valgrind and benchmarks);
    /// `None` if this CPU does not run `w`.
    pub fn with_width(w: Width) -> Option<Self> {
        w.is_available().then(|| Self::build(w, Some(w)))
    }

    /// A context that picks widths up to `max` (capped to what this CPU runs).
    pub fn with_max_width(max: Width) -> Self {
        let max = Width::available()
            .filter(|w| *w <= max)
            .last()
            .unwrap_or(Width::U64);
        Self::build(max, None)
    }

    fn build(max: Width, forced: Option<Width>) -> Self {
        TdesCbc {
            max,
            forced,
            vbmi: true,
            ternlog: ternlog_available(),
            blocks: vec![0; MAX_LANES].into_boxed_slice(),
            keys: vec![0; 3 * MAX_LANES].into_boxed_slice(),
            tkeys: vec![0; 3 * MAX_LANES].into_boxed_slice(),
            lane_job: vec![EMPTY; MAX_LANES].into_boxed_slice(),
            lane_off: vec![0; MAX_LANES].into_boxed_slice(),
            lane_chain: vec![0; MAX_LANES].into_boxed_slice(),
            rk: vec![0; 48 * narrow::LANES].into_boxed_slice(),
            segs: vec![Segment::default(); MAX_LANES].into_boxed_slice(),
        }
    }

    /// Lets the automatic choice use the narrow [`Width::Vbmi`] path (the default) or not: its
    /// constant-time evidence is weaker than the bitsliced widths' (valgrind cannot run it;
    /// only the by-hand dudect test covers it), so an embedder may prefer the bitsliced `u64`
    /// pass for small batches. A forced width is not affected.
    pub fn set_vbmi_narrow_path(&mut self, enabled: bool) {
        self.vbmi = enabled;
    }

    /// Lets the 64- and 256-lane passes ([`Width::U64`], [`Width::Avx2`]) run on AVX-512VL
    /// registers with three-input logic where the CPU has them (the default), or keeps them on
    /// general-purpose and AVX2 registers. The same gate network either way, constant-time
    /// alike; the switch is for benchmarks and comparisons.
    pub fn set_ternlog(&mut self, enabled: bool) {
        self.ternlog = enabled && ternlog_available();
    }

    /// The width a call with `units` lanes of work uses (packets for [`encrypt`](Self::encrypt),
    /// blocks for [`decrypt`](Self::decrypt)): the forced width, or else the available width
    /// up to the maximum that minimises passes × pass cost (ties go to the narrower width).
    pub fn width_for(&self, units: usize) -> Width {
        if let Some(w) = self.forced {
            return w;
        }
        let mut best = Width::U64;
        let mut best_cost = usize::MAX;
        for w in Width::available().filter(|w| *w <= self.max && (self.vbmi || *w != Width::Vbmi)) {
            let passes = units.div_ceil(w.lanes()).max(1);
            let cost = if w == Width::Vbmi {
                passes * (VBMI_BASE + units.min(w.lanes()).div_ceil(8).max(1) * w.pass_cost())
            } else {
                passes * w.pass_cost()
            };
            if cost < best_cost {
                best = w;
                best_cost = cost;
            }
        }
        best
    }

    /// Runs one pass of width `w` on `blocks`, with keys re-bitsliced first if `new_keys`.
    fn pass(&mut self, w: Width, new_keys: bool, decrypt: bool, used: usize) {
        let n = w.lanes();
        let blocks = &mut self.blocks[..n];
        let tkeys = &mut self.tkeys[..3 * n];
        // Lane keys for width w sit at keys[k * n + lane].
        let keys = &self.keys[..3 * n];
        match w {
            Width::U64 => {
                if new_keys {
                    des::transpose_keys::<u64>(keys, tkeys);
                }
                #[cfg(target_arch = "x86_64")]
                if self.ternlog {
                    // SAFETY: `ternlog` is only set where AVX-512F and VL were detected.
                    unsafe { x86::u64_vl_pass(blocks, tkeys, decrypt) };
                    return;
                }
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("bmi1") {
                    // SAFETY: BMI1 was detected just above.
                    unsafe { x86::u64_bmi1_pass(blocks, tkeys, decrypt) };
                    return;
                }
                des::tdes_pass::<u64>(blocks, tkeys, decrypt);
            }
            #[cfg(target_arch = "x86_64")]
            Width::Avx2 => {
                // SAFETY: a context only ever uses a width that passed `is_available`
                // (`with_width`, `with_max_width`, `default_max` and `width_for` filter on it),
                // so the CPU supports AVX2 here.
                unsafe {
                    if new_keys {
                        x86::avx2_keys(keys, tkeys);
                    }
                    if self.ternlog {
                        // SAFETY: `ternlog` is only set where AVX-512F and VL were detected.
                        x86::avx2_vl_pass(blocks, tkeys, decrypt);
                    } else {
                        x86::avx2_pass(blocks, tkeys, decrypt);
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Width::Vbmi => {
                debug_assert!(!decrypt, "decryption never runs the narrow kernel");
                let _ = new_keys; // round keys are set per lane by `set_lane_key`
                let blocks: &mut [u64; narrow::LANES] = (&mut self.blocks[..narrow::LANES])
                    .try_into()
                    .expect("32 lanes");
                let rk: &[u64; 48 * narrow::LANES] = (&self.rk[..]).try_into().expect("rk");
                // SAFETY: as above, the CPU supports AVX-512F/BW/VBMI here.
                unsafe { x86::vbmi_encrypt(blocks, rk, used.div_ceil(8), narrow::sp_tables()) };
            }
            #[cfg(target_arch = "x86_64")]
            Width::Avx512 => {
                // SAFETY: as above, the CPU supports AVX-512F here.
                unsafe {
                    if new_keys {
                        x86::avx512_keys(keys, tkeys);
                    }
                    x86::avx512_pass(blocks, tkeys, decrypt);
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the u64 width is available on this target"),
        }
    }

    fn set_lane_key(&mut self, w: Width, lane: usize, key: &TdesKey) {
        if w == Width::Vbmi {
            narrow::round_keys(&key.k, lane, &mut self.rk);
            return;
        }
        let n = w.lanes();
        for k in 0..3 {
            self.keys[k * n + lane] = key.k[k];
        }
    }

    /// Writes lane `lane`'s three keys (from `keys`) into the bitsliced keys `tkeys` of width
    /// `w` bit by bit, leaving the other lanes alone: cheaper than re-transposing everything
    /// when a few lanes are refilled. Branch-free in the key bits.
    fn insert_lane_key(&mut self, w: Width, lane: usize) {
        let n = w.lanes();
        let g = n / 64;
        // Lane i * g + c is bit i of chunk c of every word (see des.rs).
        let (i, c) = (lane / g, lane % g);
        for k in 0..3 {
            let key = self.keys[k * n + lane];
            for j in 0..64 {
                let t = &mut self.tkeys[k * n + j * g + c];
                *t = (*t & !(1u64 << i)) | (((key >> j) & 1) << i);
            }
        }
    }

    /// Wipes the key and block scratch used by a call of width `w`.
    fn wipe(&mut self, w: Width) {
        let n = w.lanes();
        self.blocks[..n].zeroize();
        self.keys[..3 * n].zeroize();
        self.tkeys[..3 * n].zeroize();
        self.lane_chain[..n].zeroize();
        if w == Width::Vbmi {
            self.rk.zeroize();
        }
    }

    /// CBC-encrypts every job in place, one lane per packet, lanes refilled as packets end.
    pub fn encrypt(&mut self, jobs: &mut [EncryptJob<'_>]) -> Result<(), Error> {
        for (i, j) in jobs.iter().enumerate() {
            if j.data.len() % 8 != 0 {
                return Err(Error::NotBlockAligned {
                    job: i,
                    len: j.data.len(),
                });
            }
        }
        let live = jobs.iter().filter(|j| !j.data.is_empty()).count();
        if live == 0 {
            return Ok(());
        }
        let w = self.width_for(live);
        let n = w.lanes();
        self.lane_job[..n].fill(EMPTY);
        let mut next = 0usize;
        // A few refilled lanes get their key bits inserted into the bitsliced keys; more
        // than this many and one whole re-transposition is cheaper (rough operation counts).
        let max_inserts = match w {
            Width::U64 => 3,
            Width::Avx2 => 5,
            _ => 8,
        };
        let mut refilled = [0usize; 8];
        loop {
            // Refill empty lanes with the next non-empty packets.
            let mut nref = 0usize;
            let mut active = 0usize;
            for lane in 0..n {
                if self.lane_job[lane] == EMPTY {
                    while next < jobs.len() && jobs[next].data.is_empty() {
                        next += 1;
                    }
                    if next < jobs.len() {
                        self.lane_job[lane] = next as u32;
                        self.lane_off[lane] = 0;
                        self.lane_chain[lane] = u64::from_be_bytes(jobs[next].iv);
                        self.set_lane_key(w, lane, jobs[next].key);
                        if let Some(r) = refilled.get_mut(nref) {
                            *r = lane;
                        }
                        nref += 1;
                        next += 1;
                    }
                }
                if self.lane_job[lane] != EMPTY {
                    active += 1;
                }
            }
            if active == 0 {
                break;
            }
            for lane in 0..n {
                let j = self.lane_job[lane];
                self.blocks[lane] = if j == EMPTY {
                    0
                } else {
                    let off = self.lane_off[lane] as usize;
                    let p = block(&jobs[j as usize].data[off..]);
                    p ^ self.lane_chain[lane]
                };
            }
            let new_keys = nref > max_inserts;
            if !new_keys && w != Width::Vbmi {
                for &lane in &refilled[..nref] {
                    self.insert_lane_key(w, lane);
                }
            }
            let used = (0..n)
                .rev()
                .find(|&l| self.lane_job[l] != EMPTY)
                .map_or(0, |l| l + 1);
            self.pass(w, new_keys, false, used);
            for lane in 0..n {
                let j = self.lane_job[lane];
                if j == EMPTY {
                    continue;
                }
                let c = self.blocks[lane];
                let data = &mut *jobs[j as usize].data;
                let off = self.lane_off[lane] as usize;
                data[off..off + 8].copy_from_slice(&c.to_be_bytes());
                self.lane_chain[lane] = c;
                self.lane_off[lane] = (off + 8) as u32;
                if off + 8 == data.len() {
                    self.lane_job[lane] = EMPTY;
                }
            }
        }
        self.wipe(w);
        Ok(())
    }

    /// CBC-decrypts every job from `src` into `dst`, all blocks of all packets spread over
    /// the lanes (parallel inside a packet too).
    pub fn decrypt(&mut self, jobs: &mut [DecryptJob<'_>]) -> Result<(), Error> {
        let mut total = 0usize;
        for (i, j) in jobs.iter().enumerate() {
            if j.src.len() % 8 != 0 {
                return Err(Error::NotBlockAligned {
                    job: i,
                    len: j.src.len(),
                });
            }
            if j.dst.len() < j.src.len() {
                return Err(Error::BufferTooSmall {
                    job: i,
                    needed: j.src.len(),
                });
            }
            total += j.src.len() / 8;
        }
        if total == 0 {
            return Ok(());
        }
        let w = match self.width_for(total) {
            // The narrow kernel encrypts only; a small decryption is one 64-lane pass anyway.
            Width::Vbmi => Width::U64,
            w => w,
        };
        let n = w.lanes();
        // Cursor over (job, block); a pass takes the next n blocks in order, as segments
        // of consecutive blocks of one job on consecutive lanes.
        let (mut cj, mut cb) = (0usize, 0usize);
        let mut prev_job = EMPTY;
        loop {
            let mut filled = 0usize;
            let mut nseg = 0usize;
            while filled < n && cj < jobs.len() {
                let src = jobs[cj].src;
                let left = src.len() / 8 - cb;
                if left == 0 {
                    cj += 1;
                    cb = 0;
                    continue;
                }
                let m = left.min(n - filled);
                let lanes = &mut self.blocks[filled..filled + m];
                for (d, c) in lanes
                    .iter_mut()
                    .zip(src[cb * 8..(cb + m) * 8].chunks_exact(8))
                {
                    *d = block(c);
                }
                self.segs[nseg] = Segment {
                    job: cj as u32,
                    first: cb as u32,
                    lanes: m as u32,
                };
                nseg += 1;
                filled += m;
                cb += m;
            }
            if filled == 0 {
                break;
            }
            // A pass of one job after a pass of the same job (a long packet) keeps the
            // bitsliced keys; otherwise each segment's lanes get its key.
            let single = nseg == 1;
            let same = single && prev_job == self.segs[0].job;
            if !same {
                let mut lane = 0;
                for seg in &self.segs[..nseg] {
                    let key = &jobs[seg.job as usize].key.k;
                    // A single job fills every lane, so the key words stay uniform.
                    let m = if single { n } else { seg.lanes as usize };
                    for (k, kk) in key.iter().enumerate() {
                        self.keys[k * n + lane..k * n + lane + m].fill(*kk);
                    }
                    lane += m;
                }
            }
            prev_job = if single { self.segs[0].job } else { EMPTY };
            self.blocks[filled..n].fill(0);
            self.pass(w, !same, true, filled);
            let mut lane = 0;
            for seg in &self.segs[..nseg] {
                let j = &mut jobs[seg.job as usize];
                let (b0, m) = (seg.first as usize, seg.lanes as usize);
                let src = j.src;
                let mut prev = if b0 == 0 {
                    u64::from_be_bytes(j.iv)
                } else {
                    block(&src[(b0 - 1) * 8..])
                };
                let dst = &mut j.dst[b0 * 8..(b0 + m) * 8];
                let src = &src[b0 * 8..(b0 + m) * 8];
                let out = &self.blocks[lane..lane + m];
                for ((d, c), x) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)).zip(out) {
                    d.copy_from_slice(&(x ^ prev).to_be_bytes());
                    prev = block(c);
                }
                lane += m;
            }
        }
        self.wipe(w);
        Ok(())
    }

    /// CBC-encrypts one packet in place (a batch of one: the narrow path).
    pub fn encrypt_one(
        &mut self,
        key: &TdesKey,
        iv: [u8; 8],
        data: &mut [u8],
    ) -> Result<(), Error> {
        self.encrypt(&mut [EncryptJob { key, iv, data }])
    }

    /// CBC-decrypts one packet from `src` into `dst`.
    pub fn decrypt_one(
        &mut self,
        key: &TdesKey,
        iv: [u8; 8],
        src: &[u8],
        dst: &mut [u8],
    ) -> Result<(), Error> {
        self.decrypt(&mut [DecryptJob { key, iv, src, dst }])
    }
}

impl Drop for TdesCbc {
    fn drop(&mut self) {
        self.blocks.zeroize();
        self.keys.zeroize();
        self.tkeys.zeroize();
        self.lane_chain.zeroize();
        self.rk.zeroize();
    }
}

/// The big-endian block at the start of `b` (at least 8 bytes).
#[inline(always)]
fn block(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    /// The BMI1 build of the 64-lane pass (what x86-64 CPUs run) and the portable build agree.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn u64_portable_and_bmi1_agree() {
        if !std::arch::is_x86_feature_detected!("bmi1") {
            return;
        }
        let mut x = 0x0123_4567_89AB_CDEFu64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let keys: Vec<u64> = (0..192).map(|_| next()).collect();
        let mut tkeys = vec![0u64; 192];
        crate::des::transpose_keys::<u64>(&keys, &mut tkeys);
        for decrypt in [false, true] {
            let blocks: Vec<u64> = (0..64).map(|_| next()).collect();
            let mut a = blocks.clone();
            let mut b = blocks;
            crate::des::tdes_pass::<u64>(&mut a, &tkeys, decrypt);
            // SAFETY: BMI1 was detected above.
            unsafe { crate::x86::u64_bmi1_pass(&mut b, &tkeys, decrypt) };
            assert_eq!(a, b);
        }
    }
}
