//! The receiver's anti-replay window (RFC 4303 section 3.4.3 and Appendix A).
//!
//! The bitmap is a ring of `u64` words (RFC 6479): sliding the window right clears whole words
//! instead of shifting every bit, so a jump far ahead costs at most one pass over the ring and
//! small steps cost nothing but the cleared words. The ring has one spare word beyond the
//! window, which is what lets the right edge advance inside a word without losing the oldest
//! bits. Checking never mutates; only [`ReplayWindow::commit`], called after the ICV verified,
//! moves the window.

/// Default window size in packets (IOS `replay window-size` default).
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;
/// Largest window accepted (IOS offers up to 1024; RFC 6479 style rings scale further).
pub const MAX_REPLAY_WINDOW: u32 = 65_536;

/// Why a sequence number is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Sequence number 0 is never sent.
    #[error("sequence number 0")]
    Zero,
    /// Already received.
    #[error("sequence number {0} replayed")]
    Replayed(u32),
    /// Left of the window.
    #[error("sequence number {0} older than the window")]
    TooOld(u32),
}

/// An anti-replay window of `size` packets behind the highest authenticated sequence number.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Highest committed sequence number (the right edge T); 0 before the first packet.
    top: u32,
    size: u32,
    /// Ring of words; its length is a power of two so the word index is a mask.
    ring: Ring,
}

/// Words of a ring up to this many live inside the window itself (a 192-packet window or less,
/// IOS's default of 64 included): checking a packet then touches no second allocation.
const INLINE_WORDS: usize = 4;

#[derive(Clone, Debug)]
enum Ring {
    Inline {
        words: [u64; INLINE_WORDS],
        len: usize,
    },
    Heap(Box<[u64]>),
}

impl core::ops::Deref for Ring {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        match self {
            Ring::Inline { words, len } => words.get(..*len).unwrap_or(&[]),
            Ring::Heap(w) => w,
        }
    }
}

impl core::ops::DerefMut for Ring {
    fn deref_mut(&mut self) -> &mut [u64] {
        match self {
            Ring::Inline { words, len } => words.get_mut(..*len).unwrap_or(&mut []),
            Ring::Heap(w) => w,
        }
    }
}

impl ReplayWindow {
    /// A window of `size` packets (1..=[`MAX_REPLAY_WINDOW`]), allocated once here if it is
    /// larger than the inline ring.
    pub fn new(size: u32) -> Option<Self> {
        if size == 0 || size > MAX_REPLAY_WINDOW {
            return None;
        }
        // Enough whole words for `size` bits plus the partly filled word of the right edge.
        let words = (size as usize).div_ceil(64) + 1;
        let words = words.next_power_of_two();
        Some(ReplayWindow {
            top: 0,
            size,
            ring: if words <= INLINE_WORDS {
                Ring::Inline {
                    words: [0; INLINE_WORDS],
                    len: words,
                }
            } else {
                Ring::Heap(vec![0u64; words].into_boxed_slice())
            },
        })
    }

    /// The window size in packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The highest sequence number committed so far (0 if none).
    pub fn highest(&self) -> u32 {
        self.top
    }

    fn mask(&self) -> usize {
        self.ring.len() - 1
    }

    fn locate(&self, seq: u32) -> (usize, u64) {
        let word = ((seq >> 6) as usize) & self.mask();
        (word, 1u64 << (seq & 63))
    }

    /// Whether `seq` would be accepted, without changing the window.
    pub fn check(&self, seq: u32) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(ReplayError::TooOld(seq));
        }
        let (word, bit) = self.locate(seq);
        match self.ring.get(word) {
            Some(w) if w & bit == 0 => Ok(()),
            _ => Err(ReplayError::Replayed(seq)),
        }
    }

    /// Records `seq` as received. Call only after [`ReplayWindow::check`] accepted it and the ICV
    /// verified; a value the check would refuse leaves the window unchanged.
    pub fn commit(&mut self, seq: u32) {
        if self.check(seq).is_err() {
            return;
        }
        if seq > self.top {
            let cur = self.top >> 6;
            let new = seq >> 6;
            let steps = (new - cur) as usize;
            if steps >= self.ring.len() {
                self.ring.fill(0);
            } else {
                // Words strictly after the old edge's word up to the new edge's word now hold
                // sequence numbers nobody has seen yet.
                for i in 1..=steps {
                    let idx = ((cur as usize) + i) & self.mask();
                    if let Some(w) = self.ring.get_mut(idx) {
                        *w = 0;
                    }
                }
            }
            self.top = seq;
        }
        let (word, bit) = self.locate(seq);
        if let Some(w) = self.ring.get_mut(word) {
            *w |= bit;
        }
    }

    /// `check` then `commit`, for callers with nothing to verify in between.
    pub fn check_and_commit(&mut self, seq: u32) -> Result<(), ReplayError> {
        self.check(seq)?;
        self.commit(seq);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// The obviously correct model: every accepted number and the maximum.
    struct Naive {
        seen: HashSet<u32>,
        top: u32,
        size: u32,
    }

    impl Naive {
        fn check(&self, seq: u32) -> Result<(), ReplayError> {
            if seq == 0 {
                Err(ReplayError::Zero)
            } else if seq > self.top {
                Ok(())
            } else if self.top - seq >= self.size {
                Err(ReplayError::TooOld(seq))
            } else if self.seen.contains(&seq) {
                Err(ReplayError::Replayed(seq))
            } else {
                Ok(())
            }
        }
        fn commit(&mut self, seq: u32) {
            if self.check(seq).is_ok() {
                self.seen.insert(seq);
                self.top = self.top.max(seq);
            }
        }
    }

    fn run_model(size: u32, ops: &[(bool, u32)]) {
        let mut w = ReplayWindow::new(size).unwrap();
        let mut n = Naive {
            seen: HashSet::new(),
            top: 0,
            size,
        };
        for &(commit, seq) in ops {
            assert_eq!(w.check(seq), n.check(seq), "check {seq} (top {})", n.top);
            if commit {
                w.commit(seq);
                n.commit(seq);
            }
            assert_eq!(w.highest(), n.top);
        }
    }

    fn op(base: u32) -> impl Strategy<Value = (bool, u32)> {
        (
            any::<bool>(),
            prop_oneof![
                // Mostly near a moving base, sometimes anywhere, sometimes at the extremes.
                6 => (0u32..3000).prop_map(move |d| base.saturating_add(d)),
                1 => any::<u32>(),
                1 => prop_oneof![Just(0u32), Just(u32::MAX), Just(u32::MAX - 1)],
            ],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn matches_naive_model(
            size in prop_oneof![Just(1u32), Just(32), Just(64), Just(100), Just(128), Just(1024), Just(4096), 1u32..5000],
            ops in prop::collection::vec(op(1), 1..400),
        ) {
            run_model(size, &ops);
        }

        #[test]
        fn matches_naive_model_high_base(
            size in prop_oneof![Just(64u32), Just(1024), Just(4096)],
            ops in prop::collection::vec(op(u32::MAX - 2500), 1..300),
        ) {
            run_model(size, &ops);
        }
    }

    #[test]
    fn zero_is_refused() {
        let mut w = ReplayWindow::new(64).unwrap();
        assert_eq!(w.check(0), Err(ReplayError::Zero));
        w.commit(0);
        assert_eq!(w.highest(), 0);
        assert_eq!(w.check(1), Ok(()));
    }

    #[test]
    fn edges_of_the_window() {
        for size in [64u32, 1024, 4096] {
            let mut w = ReplayWindow::new(size).unwrap();
            let top = 10_000;
            w.check_and_commit(top).unwrap();
            // Exactly size-1 behind the right edge is still inside.
            assert_eq!(w.check(top - (size - 1)), Ok(()));
            w.commit(top - (size - 1));
            assert_eq!(
                w.check(top - (size - 1)),
                Err(ReplayError::Replayed(top - (size - 1)))
            );
            // size behind is outside.
            assert_eq!(w.check(top - size), Err(ReplayError::TooOld(top - size)));
            assert_eq!(w.check(top), Err(ReplayError::Replayed(top)));
            // Every number in between is still fresh.
            for s in (top - size + 2)..top {
                assert_eq!(w.check(s), Ok(()), "size {size} seq {s}");
            }
        }
    }

    #[test]
    fn jump_far_ahead_clears_the_ring() {
        let mut w = ReplayWindow::new(1024).unwrap();
        for s in 1..=1024 {
            w.check_and_commit(s).unwrap();
        }
        let far = 1_000_000;
        w.check_and_commit(far).unwrap();
        assert_eq!(w.check(1024), Err(ReplayError::TooOld(1024)));
        for s in (far - 1023)..far {
            assert_eq!(w.check(s), Ok(()), "{s}");
        }
        w.check_and_commit(u32::MAX).unwrap();
        assert_eq!(w.check(u32::MAX), Err(ReplayError::Replayed(u32::MAX)));
        assert_eq!(w.check(u32::MAX - 1), Ok(()));
    }

    #[test]
    fn window_of_one_and_size_limits() {
        let mut w = ReplayWindow::new(1).unwrap();
        w.check_and_commit(5).unwrap();
        assert_eq!(w.check(4), Err(ReplayError::TooOld(4)));
        assert_eq!(w.check(5), Err(ReplayError::Replayed(5)));
        assert!(w.check(6).is_ok());
        assert!(ReplayWindow::new(0).is_none());
        assert!(ReplayWindow::new(MAX_REPLAY_WINDOW + 1).is_none());
        assert_eq!(ReplayWindow::new(4096).unwrap().size(), 4096);
    }

    #[test]
    fn out_of_order_inside_the_window() {
        let mut w = ReplayWindow::new(64).unwrap();
        for s in [3u32, 1, 2, 70, 7, 69] {
            w.check_and_commit(s).unwrap();
        }
        assert_eq!(w.check(6), Err(ReplayError::TooOld(6)));
        assert_eq!(w.check(7), Err(ReplayError::Replayed(7)));
        assert_eq!(w.check(8), Ok(()));
        assert_eq!(w.check(69), Err(ReplayError::Replayed(69)));
    }
}
