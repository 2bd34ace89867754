//! CBC packets in three steps, so that many packets (of many SAs) share one cipher pass:
//! 3DES through the constant-time bitsliced [`ipsec_tdes::TdesCbc`], AES-CBC encryption
//! through the multi-buffer [`ipsec_tdes::aes_cbc_encrypt`] (AES-NI keeps many independent
//! blocks in flight; one CBC chain keeps one).
//!
//! Sealing: [`OutboundSa::prepare_cbc`] (lifetime, sequence number, header, IV nonce block,
//! payload, padding and trailer), then the caller's one pass over [`SealingCbc::cbc_range`] of
//! every packet with an all-zero IV, then [`OutboundSa::finish_cbc`] (the ICV). Encrypting the
//! nonce block `seq | salt` as the first CBC block under a zero IV yields `E_K(seq | salt)`,
//! the IV the single-packet path computes, and chains the payload from it: the same bytes,
//! with no separate IV encryption (which for 3DES would be table-based).
//!
//! Opening (3DES only: AES-CBC decryption is parallel inside one packet already):
//! [`InboundSa::check_tdes`] (parse, replay check without mutation, ICV in constant
//! time), [`InboundSa::commit_tdes`] (replay re-checked, then committed: a packet present twice
//! in one batch passes the first step twice and the second commit only once), the caller's one
//! [`ipsec_tdes::TdesCbc::decrypt`], then [`InboundSa::finish_tdes`] (padding, usage). This is
//! the order of the design (check, verify, commit, decrypt, padding), each step batch-wide.

use core::ops::Range;

use ipsec_tdes::{AesKey, TdesKey};

use super::*;
use crate::crypto::cipher::CipherAlg;

/// A packet written by [`OutboundSa::prepare_cbc`] but not yet encrypted nor authenticated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SealingCbc {
    total: usize,
    cbc_end: usize,
}

impl SealingCbc {
    /// What the cipher pass encrypts in place, with an all-zero IV: the IV slot (holding the
    /// nonce block) and the padded payload.
    pub(crate) fn cbc_range(&self) -> Range<usize> {
        ESP_HEADER_LEN..self.cbc_end
    }
}

/// A 3DES packet that passed [`InboundSa::check_tdes`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenedTdes {
    seq: u32,
    ct: (usize, usize),
    iv: [u8; 8],
}

impl OpenedTdes {
    /// The IV of the CBC decryption.
    pub(crate) fn iv(&self) -> [u8; 8] {
        self.iv
    }

    /// Where the ciphertext lies in the ESP packet.
    pub(crate) fn ct_range(&self) -> Range<usize> {
        self.ct.0..self.ct.1
    }
}

fn tdes_key_of(e: &Engine) -> Option<TdesKey> {
    match (&e.transform.cipher, &e.cipher) {
        (EspCipher::Cbc(CipherAlg::TripleDes), Some(SaKey::Cbc(k))) => k.tdes_key(),
        _ => None,
    }
}

/// A key for one of the shared passes.
// Held in a fixed array on the stack per chunk; boxing the large variant would allocate per
// packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PassKey {
    /// For the bitsliced 3DES pass.
    Tdes(TdesKey),
    /// For the multi-buffer AES-CBC encryption.
    Aes(AesKey),
}

/// Which shared pass seals an SA's packets, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SealPass {
    /// [`ipsec_tdes::TdesCbc::encrypt`].
    Tdes,
    /// [`ipsec_tdes::aes_cbc_encrypt`] (only where the CPU has AES-NI).
    Aes,
}

impl OutboundSa {
    /// The shared pass that can seal this SA's packets: 3DES always, AES-CBC where the CPU has
    /// AES-NI; `None` for the other ciphers (they keep the per-packet path).
    pub(crate) fn seal_pass(&self) -> Option<SealPass> {
        match (&self.engine.transform.cipher, &self.engine.cipher) {
            (EspCipher::Cbc(CipherAlg::TripleDes), Some(SaKey::Cbc(_))) => Some(SealPass::Tdes),
            (
                EspCipher::Cbc(CipherAlg::Aes128 | CipherAlg::Aes192 | CipherAlg::Aes256),
                Some(SaKey::Cbc(_)),
            ) if ipsec_tdes::aes_is_available() => Some(SealPass::Aes),
            _ => None,
        }
    }

    /// The SA's key for its [`OutboundSa::seal_pass`].
    pub(crate) fn pass_key(&self) -> Option<PassKey> {
        match (self.seal_pass()?, &self.engine.cipher) {
            (SealPass::Tdes, Some(SaKey::Cbc(k))) => k.tdes_key().map(PassKey::Tdes),
            (SealPass::Aes, Some(SaKey::Cbc(k))) => k.aes_key().map(PassKey::Aes),
            _ => None,
        }
    }

    /// Step one of sealing (see the module documentation). The SA's sequence number and usage
    /// advance here, not after the ICV: the next packet of the same batch must see them, or a
    /// batch could carry an SA past its hard lifetime. Nothing after this step can fail for a
    /// prepared packet (its lengths are checked here), so no number is burnt in practice.
    pub(crate) fn prepare_cbc(
        &mut self,
        now: Instant,
        inner: &[u8],
        next_header: u8,
        out: &mut [u8],
    ) -> Result<SealingCbc, EspError> {
        let r = self.prepare_cbc_inner(now, inner, next_header, out);
        if let Err(e) = &r {
            self.stats.count_outbound_error(e);
        }
        r
    }

    fn prepare_cbc_inner(
        &mut self,
        now: Instant,
        inner: &[u8],
        next_header: u8,
        out: &mut [u8],
    ) -> Result<SealingCbc, EspError> {
        if self.seal_pass().is_none() {
            return Err(EspError::InvalidConfig("no shared cipher pass for this SA"));
        }
        if self.lifetime.state(now) == LifetimeState::Hard {
            return Err(EspError::Expired);
        }
        let seq = self.seq.checked_add(1).ok_or(EspError::SequenceExhausted)?;
        let e = &self.engine;
        let total = self
            .encapsulated_len(inner.len())
            .ok_or(EspError::BufferTooSmall { needed: usize::MAX })?;
        let short = EspError::BufferTooSmall { needed: total };
        let out = out.get_mut(..total).ok_or(short)?;
        let hdr = e.header_len();
        let cbc_end = total - e.icv_len();
        let pad_len = cbc_end - hdr - inner.len() - ESP_TRAILER_LEN;
        out.get_mut(..4)
            .ok_or(short)?
            .copy_from_slice(&e.spi.to_be_bytes());
        out.get_mut(4..8)
            .ok_or(short)?
            .copy_from_slice(&seq.to_be_bytes());
        // The IV nonce block, as in `encapsulate_with`: seq | salt, encrypted by the pass.
        let nonce = out.get_mut(ESP_HEADER_LEN..hdr).ok_or(short)?;
        nonce.copy_from_slice(self.iv_salt.get(..nonce.len()).ok_or(short)?);
        nonce
            .get_mut(..4)
            .ok_or(short)?
            .copy_from_slice(&seq.to_be_bytes());
        let ct = out.get_mut(hdr..cbc_end).ok_or(short)?;
        let (payload, trailer) = ct.split_at_mut(inner.len());
        payload.copy_from_slice(inner);
        for (i, b) in trailer.iter_mut().take(pad_len).enumerate() {
            *b = (i + 1) as u8;
        }
        if let Some([pl, nh]) = trailer.get_mut(pad_len..) {
            *pl = pad_len as u8;
            *nh = next_header;
        }
        self.seq = seq;
        self.lifetime.record(now, inner.len());
        Ok(SealingCbc { total, cbc_end })
    }

    /// Step three of sealing: the ICV over the encrypted packet in `out`; the packet's length.
    pub(crate) fn finish_cbc(&self, s: &SealingCbc, out: &mut [u8]) -> usize {
        if let Some(h) = &self.engine.hmac {
            let (authed, icv) = out.split_at_mut(s.cbc_end.min(out.len()));
            if let Some(icv) = icv.get_mut(..self.engine.icv_len()) {
                h.compute_into(&[authed], icv);
            }
        }
        s.total
    }
}

impl InboundSa {
    /// The SA's key for the bitsliced pass; `None` unless the SA is 3DES.
    pub(crate) fn tdes_key(&self) -> Option<TdesKey> {
        tdes_key_of(&self.engine)
    }

    /// Step one of opening: everything before the replay commit, the window untouched.
    /// Refusals are counted as [`InboundSa::decapsulate`] counts them.
    pub(crate) fn check_tdes(&mut self, now: Instant, esp: &[u8]) -> Result<OpenedTdes, EspError> {
        let r = self.check_tdes_inner(now, esp);
        if let Err(e) = &r {
            self.stats.count_inbound_error(e);
        }
        r
    }

    fn check_tdes_inner(&self, now: Instant, esp: &[u8]) -> Result<OpenedTdes, EspError> {
        if tdes_key_of(&self.engine).is_none() {
            return Err(EspError::InvalidConfig("not a 3DES SA"));
        }
        let Checked { seq, hdr, ct_len } = self.check_and_verify(now, esp, None)?;
        let truncated = EspError::Truncated {
            len: esp.len(),
            min: self.min_packet_len(),
        };
        let iv: [u8; 8] = esp
            .get(ESP_HEADER_LEN..hdr)
            .and_then(|s| s.try_into().ok())
            .ok_or(truncated)?;
        Ok(OpenedTdes {
            seq,
            ct: (hdr, hdr + ct_len),
            iv,
        })
    }

    /// Step two of opening: the replay window re-checked (an earlier packet of the batch may
    /// have taken the number) and committed.
    pub(crate) fn commit_tdes(&mut self, o: &OpenedTdes) -> Result<(), EspError> {
        if let Some(w) = &mut self.replay {
            if let Err(e) = w.check_and_commit(o.seq).map_err(replay_error) {
                self.stats.count_inbound_error(&e);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Step four of opening: the padding of the decrypted `pt`, and the usage. The hard
    /// lifetime is checked again: the packets before this one in the batch counted their
    /// bytes only now, and the single-packet path would have refused this one.
    pub(crate) fn finish_tdes(
        &mut self,
        now: Instant,
        o: &OpenedTdes,
        pt: &[u8],
    ) -> Result<Decapsulated, EspError> {
        let r = if self.lifetime.state(now) == LifetimeState::Hard {
            Err(EspError::Expired)
        } else {
            check_padding(pt)
        };
        match r {
            Ok((len, next_header)) => {
                self.lifetime.record(now, len);
                Ok(Decapsulated {
                    len,
                    next_header,
                    seq: o.seq,
                })
            }
            Err(e) => {
                self.stats.count_inbound_error(&e);
                Err(e)
            }
        }
    }
}
