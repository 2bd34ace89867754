//! Crate-internal hooks for the fuzz harnesses (cargo feature `fuzzing` only).
//!
//! `ike::fuzzing_wildcard` plays an attacker who holds a wildcard pre-shared key: an honest
//! [`Endpoint`] with its own authenticated ISAKMP SA, made to send messages of the harness's
//! choosing over that SA. They carry a correct HASH(1) and are encrypted with the SA's real
//! SKEYID_a, SKEYID_e and IV chain, so they pass authentication at the peer, which random bytes
//! never do.
#![cfg(feature = "fuzzing")]

use super::*;

impl Endpoint {
    /// Sends a message of exchange type `exchange` over ISAKMP SA `id`, protected like our
    /// Informationals and Quick Mode messages: a HASH(1) = prf(SKEYID_a, M-ID | payloads) in front
    /// of the payloads `add` writes, the body encrypted on the SA's IV chain for the message ID,
    /// queued for [`Endpoint::poll_transmit`] on the SA's path.
    ///
    /// `mid`: the message ID; `None` draws a fresh one and records it like ours, `Some` is sent as
    /// given, even when used before (replays). `cookies`: header cookies in place of the SA's own
    /// (the keys stay the SA's). Returns the message ID, or `None` when the SA is not in QM_IDLE or
    /// the payloads do not fit. The IV chain of the message ID is forgotten afterwards unless one
    /// of our Quick Modes uses that ID (its chain then has moved on: the harness asked for it).
    pub(crate) fn fuzz_send_protected(
        &mut self,
        id: IkeSaId,
        exchange: ExchangeType,
        mid: Option<u32>,
        cookies: Option<([u8; 8], [u8; 8])>,
        add: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::wire::WireError>,
    ) -> Option<u32> {
        if self.sas.get(&id)?.state != P1State::QmIdle {
            return None;
        }
        let mid = match mid {
            Some(m) => m,
            None => self.fresh_mid(id),
        };
        let sa = self.sas.get_mut(&id)?;
        let keys = sa.keys.as_ref()?;
        let hlen = keys.hash_alg().output_len();
        let h = match cookies {
            Some((ci, cr)) => Header::new(Cookie(ci), Cookie(cr), exchange, Flags::ENCRYPTION, mid),
            None => sa.header(exchange, Flags::ENCRYPTION, mid),
        };
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h).ok()?;
        let slot = b.add_hash_placeholder(hlen).ok()?;
        add(&mut b).ok()?;
        let hv = keys.hash1(mid, b.bytes_after(slot));
        b.fill(slot, &hv).ok()?;
        let fin = b.finish().ok()?;
        let m = encrypt_message(sa, fin, mid).ok()?;
        if !sa.qms.iter().any(|q| q.mid == mid) {
            if let Some(c) = sa.crypt.as_mut() {
                c.forget(mid);
            }
        }
        let path = sa.path;
        self.send(path, m);
        Some(mid)
    }

    /// The cookies (CKY-I, CKY-R) of ISAKMP SA `id`.
    pub(crate) fn fuzz_cookies(&self, id: IkeSaId) -> Option<([u8; 8], [u8; 8])> {
        self.sas.get(&id).map(|s| (s.ci, s.cr))
    }
}
