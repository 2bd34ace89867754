//! Per-SA counters with the meaning of IOS `show crypto ipsec sa` (and its `detail` form).
//!
//! IOS counters belong to the flow (the proxy pair) and survive rekeys, while these live in one
//! SA; the engine adds each SA's counters into the flow's with [`EspStats::add`] when the SA goes.

use super::error::EspError;

/// Counters of one ESP SA (or, once added up, of one flow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EspStats {
    /// `#pkts encaps`: outbound packets protected.
    pub encaps: u64,
    /// `#pkts encrypt`: counted once per protected packet, as IOS does.
    pub encrypt: u64,
    /// `#pkts digest`: counted once per protected packet, even for encryption-only transforms,
    /// as IOS does.
    pub digest: u64,
    /// `#pkts decaps`: inbound packets accepted.
    pub decaps: u64,
    /// `#pkts decrypt`: inbound packets decrypted and accepted.
    pub decrypt: u64,
    /// `#pkts verify`: inbound packets accepted (ICV verified, or no integrity configured).
    pub verify: u64,
    /// `##pkts replay failed (rcv)`: replayed, too old, or sequence number zero.
    pub replay_failed: u64,
    /// `#pkts verify failed`: ICV mismatch.
    pub verify_failed: u64,
    /// `#pkts invalid len (rcv)`: truncated or not block aligned.
    pub invalid_len: u64,
    /// `#pkts decaps failed (rcv)`: bad padding, expired SA, or a packet for another SPI.
    pub decaps_failed: u64,
    /// `#pkts encaps failed (send)`: outbound refused because the SA expired.
    pub encaps_failed: u64,
    /// `#pkts replay rollover (send)`: outbound refused because the sequence space is used up.
    pub replay_rollover_send: u64,
    /// `#send errors` counted by the engine (no SA yet, negotiation failed); the SA itself adds
    /// its refused packets through [`EspStats::send_errors`].
    pub no_sa_send: u64,
    /// Plaintext bytes protected.
    pub bytes_encaps: u64,
    /// Plaintext bytes accepted.
    pub bytes_decaps: u64,
}

impl EspStats {
    /// Adds `other` into `self` (aggregating SAs into a flow, or flows into a total).
    pub fn add(&mut self, other: &EspStats) {
        let EspStats {
            encaps,
            encrypt,
            digest,
            decaps,
            decrypt,
            verify,
            replay_failed,
            verify_failed,
            invalid_len,
            decaps_failed,
            encaps_failed,
            replay_rollover_send,
            no_sa_send,
            bytes_encaps,
            bytes_decaps,
        } = *other;
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.encaps, encaps);
        add(&mut self.encrypt, encrypt);
        add(&mut self.digest, digest);
        add(&mut self.decaps, decaps);
        add(&mut self.decrypt, decrypt);
        add(&mut self.verify, verify);
        add(&mut self.replay_failed, replay_failed);
        add(&mut self.verify_failed, verify_failed);
        add(&mut self.invalid_len, invalid_len);
        add(&mut self.decaps_failed, decaps_failed);
        add(&mut self.encaps_failed, encaps_failed);
        add(&mut self.replay_rollover_send, replay_rollover_send);
        add(&mut self.no_sa_send, no_sa_send);
        add(&mut self.bytes_encaps, bytes_encaps);
        add(&mut self.bytes_decaps, bytes_decaps);
    }

    /// `self` and `other` added up.
    pub fn merge(mut self, other: &EspStats) -> EspStats {
        self.add(other);
        self
    }

    /// `#recv errors`: every inbound packet this flow dropped.
    pub fn recv_errors(&self) -> u64 {
        self.replay_failed
            .saturating_add(self.verify_failed)
            .saturating_add(self.invalid_len)
            .saturating_add(self.decaps_failed)
    }

    /// `#send errors`: outbound packets that could not be sent protected.
    pub fn send_errors(&self) -> u64 {
        self.encaps_failed
            .saturating_add(self.replay_rollover_send)
            .saturating_add(self.no_sa_send)
    }
}

/// What one SA counts itself: its refusals. Its packets and bytes are its lifetime's usage, so
/// an SA does not carry the fifteen counters of an [`EspStats`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SaCounters {
    replay_failed: u64,
    verify_failed: u64,
    invalid_len: u64,
    decaps_failed: u64,
    encaps_failed: u64,
    replay_rollover_send: u64,
}

impl SaCounters {
    /// The [`EspStats`] of an outbound SA that protected `packets` packets of `bytes` bytes.
    pub(crate) fn outbound(&self, packets: u64, bytes: u64) -> EspStats {
        EspStats {
            encaps: packets,
            encrypt: packets,
            digest: packets,
            bytes_encaps: bytes,
            encaps_failed: self.encaps_failed,
            replay_rollover_send: self.replay_rollover_send,
            ..EspStats::default()
        }
    }

    /// The [`EspStats`] of an inbound SA that accepted `packets` packets of `bytes` bytes.
    pub(crate) fn inbound(&self, packets: u64, bytes: u64) -> EspStats {
        EspStats {
            decaps: packets,
            decrypt: packets,
            verify: packets,
            bytes_decaps: bytes,
            replay_failed: self.replay_failed,
            verify_failed: self.verify_failed,
            invalid_len: self.invalid_len,
            decaps_failed: self.decaps_failed,
            ..EspStats::default()
        }
    }

    pub(crate) fn count_outbound_error(&mut self, e: &EspError) {
        match e {
            EspError::SequenceExhausted => self.replay_rollover_send += 1,
            // The caller retries with a larger buffer: not a lost packet.
            EspError::BufferTooSmall { .. } => {}
            _ => self.encaps_failed += 1,
        }
    }

    pub(crate) fn count_inbound_error(&mut self, e: &EspError) {
        match e {
            EspError::Replayed { .. } | EspError::TooOld { .. } | EspError::SequenceZero => {
                self.replay_failed += 1
            }
            EspError::Authentication => self.verify_failed += 1,
            EspError::Truncated { .. } | EspError::NotBlockAligned { .. } => self.invalid_len += 1,
            EspError::BufferTooSmall { .. } => {}
            _ => self.decaps_failed += 1,
        }
    }
}

impl core::ops::AddAssign<&EspStats> for EspStats {
    fn add_assign(&mut self, rhs: &EspStats) {
        self.add(rhs);
    }
}

/// Counters that belong to no SA: IOS logs these globally (`%CRYPTO-4-RECVD_PKT_INV_SPI`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EspGlobalStats {
    /// `#pkts invalid sa (rcv)`: inbound ESP with an SPI no SA owns.
    pub invalid_spi: u64,
    /// Inbound datagrams too short to carry an SPI.
    pub malformed: u64,
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn add_merge_and_totals() {
        let a = EspStats {
            encaps: 3,
            encrypt: 3,
            digest: 3,
            replay_failed: 1,
            verify_failed: 2,
            invalid_len: 4,
            decaps_failed: 8,
            no_sa_send: 5,
            bytes_encaps: 300,
            ..EspStats::default()
        };
        let mut b = EspStats {
            encaps: 1,
            encaps_failed: 1,
            replay_rollover_send: 1,
            ..EspStats::default()
        };
        b += &a;
        assert_eq!(b.encaps, 4);
        assert_eq!(b.recv_errors(), 15);
        assert_eq!(b.send_errors(), 7);
        assert_eq!(a.merge(&a).bytes_encaps, 600);
        let mut c = SaCounters::default();
        let s = &mut c;
        s.count_inbound_error(&EspError::TooOld { seq: 1 });
        s.count_inbound_error(&EspError::SequenceZero);
        s.count_inbound_error(&EspError::Authentication);
        s.count_inbound_error(&EspError::Padding);
        s.count_inbound_error(&EspError::BufferTooSmall { needed: 9 });
        s.count_outbound_error(&EspError::SequenceExhausted);
        s.count_outbound_error(&EspError::Expired);
        let s = c.inbound(3, 30).merge(&c.outbound(2, 20));
        assert_eq!((s.decaps, s.verify, s.bytes_decaps), (3, 3, 30));
        assert_eq!((s.encaps, s.digest, s.bytes_encaps), (2, 2, 20));
        assert_eq!(
            (
                s.replay_failed,
                s.verify_failed,
                s.decaps_failed,
                s.recv_errors()
            ),
            (2, 1, 1, 4)
        );
        // Each direction carries its own refusals once.
        assert_eq!((s.replay_rollover_send, s.encaps_failed), (1, 1));
    }
}
