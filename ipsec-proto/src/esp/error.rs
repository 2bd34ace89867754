//! The one error type of the ESP data path.

/// Why an ESP packet could not be protected or accepted, or why an SA could not be built.
///
/// Every per-packet failure is a distinct variant so the caller can count it in the matching IOS
/// counter (see [`crate::esp::EspStats`]). The SA counts its own failures; the caller only has to
/// count the ones that belong to no SA (unknown SPI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EspError {
    /// The packet is shorter than the ESP header, IV, ICV and one cipher block.
    #[error("ESP packet of {len} bytes is shorter than the minimum {min}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Smallest acceptable length for this SA.
        min: usize,
    },
    /// The ciphertext is not a whole number of cipher blocks.
    #[error("ESP ciphertext of {len} bytes is not a multiple of the {block}-byte block")]
    NotBlockAligned {
        /// Ciphertext length.
        len: usize,
        /// Alignment required.
        block: usize,
    },
    /// The sequence number was already received inside the anti-replay window.
    #[error("ESP sequence number {seq} replayed")]
    Replayed {
        /// The sequence number.
        seq: u32,
    },
    /// The sequence number is left of the anti-replay window.
    #[error("ESP sequence number {seq} is older than the anti-replay window")]
    TooOld {
        /// The sequence number.
        seq: u32,
    },
    /// Sequence number zero is never sent by a conforming peer (the first packet carries 1).
    #[error("ESP sequence number 0")]
    SequenceZero,
    /// The ICV did not verify: wrong integrity key or a modified packet.
    #[error("ESP ICV verification failed")]
    Authentication,
    /// The decrypted trailer is inconsistent (pad length too large or pad bytes not 1, 2, 3...):
    /// with an encryption-only SA this is how a wrong key shows.
    #[error("ESP padding check failed")]
    Padding,
    /// The output buffer is too small; nothing was changed, retry with `needed` bytes.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
    },
    /// The outbound sequence number reached 2^32-1: the SA must be rekeyed, it never wraps.
    #[error("ESP sequence number space exhausted; rekey the SA")]
    SequenceExhausted,
    /// The SA reached its hard lifetime (seconds, kilobytes or packets).
    #[error("ESP SA hard lifetime expired")]
    Expired,
    /// The packet carries another SPI than this SA's.
    #[error("ESP SPI {got:#010x} does not belong to this SA ({expected:#010x})")]
    WrongSpi {
        /// This SA's SPI.
        expected: u32,
        /// The SPI in the packet.
        got: u32,
    },
    /// API misuse when building an SA: a key of the wrong length for the transform.
    #[error("{what} key must be {expected} bytes, got {got}")]
    KeyLength {
        /// Which key ("encryption" or "integrity").
        what: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// API misuse when building an SA: a transform or configuration that cannot work (NULL
    /// encryption without integrity, SPI zero, replay window out of range).
    #[error("invalid ESP SA configuration: {0}")]
    InvalidConfig(&'static str),
}
