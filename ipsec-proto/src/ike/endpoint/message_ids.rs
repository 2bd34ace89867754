//! The message IDs an ISAKMP SA has seen, so a captured Quick Mode or Informational cannot be
//! replayed into it (RFC 2408 section 3.1 asks for unique message IDs; nothing in IKEv1 stops a
//! replay of an encrypted, correctly hashed message otherwise).
//!
//! The record is bounded, so it cannot be the only defence: anything that would act on a replay
//! after the ID has been evicted (a path move, a DPD answer) has its own ordering check.

/// IDs remembered per ISAKMP SA. Eight Quick Modes of each side in flight, their Informationals
/// and some history; at four bytes each this is 256 bytes of a tunnel's budget.
pub(super) const MESSAGE_ID_RECORD: usize = 64;

/// A ring of the last [`MESSAGE_ID_RECORD`] message IDs used on one ISAKMP SA, by either side.
/// Zero never enters it: message ID 0 belongs to Main Mode.
#[derive(Debug)]
pub(super) struct MessageIds {
    ids: [u32; MESSAGE_ID_RECORD],
    next: usize,
}

impl Default for MessageIds {
    fn default() -> Self {
        MessageIds {
            ids: [0; MESSAGE_ID_RECORD],
            next: 0,
        }
    }
}

impl MessageIds {
    /// Whether `mid` was used on this SA (and is still remembered).
    pub(super) fn contains(&self, mid: u32) -> bool {
        mid != 0 && self.ids.contains(&mid)
    }

    /// Remembers `mid`, forgetting the oldest entry when the record is full.
    pub(super) fn insert(&mut self, mid: u32) {
        if mid == 0 || self.contains(mid) {
            return;
        }
        if let Some(slot) = self.ids.get_mut(self.next) {
            *slot = mid;
        }
        self.next = (self.next + 1) % MESSAGE_ID_RECORD;
    }
}

/// RFC 1982 serial-number order on 32-bit DPD sequence numbers: whether `a` comes after `b`. The
/// initial number is random, so the counter may wrap during an SA's life.
pub(super) fn seq_after(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ids_and_forgets_the_oldest() {
        let mut r = MessageIds::default();
        assert!(!r.contains(0));
        r.insert(0);
        assert!(!r.contains(0));
        for mid in 1..=MESSAGE_ID_RECORD as u32 {
            r.insert(mid);
        }
        assert!((1..=MESSAGE_ID_RECORD as u32).all(|m| r.contains(m)));
        r.insert(1); // already there: no eviction
        r.insert(1000);
        assert!(!r.contains(1));
        assert!(r.contains(2) && r.contains(1000));
    }

    #[test]
    fn serial_order_survives_the_wrap() {
        assert!(seq_after(2, 1));
        assert!(!seq_after(1, 2));
        assert!(!seq_after(5, 5));
        assert!(seq_after(3, u32::MAX - 2));
        assert!(!seq_after(u32::MAX - 2, 3));
    }
}
