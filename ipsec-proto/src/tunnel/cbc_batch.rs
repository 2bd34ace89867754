//! CBC packets of one batch through shared cipher passes, whatever their SAs: 3DES through one
//! bitsliced pass (`ipsec_tdes::TdesCbc`), AES-CBC encryption through the multi-buffer lanes of
//! `ipsec_tdes::aes_cbc_encrypt` on CPUs with AES-NI.
//!
//! A bitsliced pass costs the same however many of its lanes are filled, and CBC encryption is
//! sequential within a packet, so 3DES is fast only when many packets share a pass. AES-NI has
//! the same shape at a smaller scale: one CBC chain keeps one AES round in flight where the
//! CPU could run eight, so packets encrypted side by side cost little more than one (one run,
//! 1392 bytes per packet, `ipsec-tdes/benches/aes_cbc.rs`: RustCrypto `aes` 1.35 us per
//! packet, the lanes 1.05 us for one packet, 2.1 us for eight, 8.0 us for 32).
//!
//! The batch verbs gather a chunk's packets of such SAs, prepare each on its SA
//! ([`crate::esp::OutboundSa`]'s `prepare_cbc`), encrypt them all at once (one pass per
//! cipher), then finish each (ICV, queueing) in the chunk's order. Inbound, every 3DES packet is
//! checked and its ICV verified, then the replay windows committed (a packet twice in a batch
//! passes once), then one pass decrypts them all, then padding and proxy identities are checked
//! per packet. AES-CBC decryption is parallel inside one packet already and keeps the
//! per-packet path.
//!
//! Constant time: the bitsliced pass has no secret-dependent branch or address, and here it
//! also computes the IV (`E_K(seq | salt)`, the first block of the pass). Decryption takes
//! every 3DES packet of a chunk, even a lone one ([`TDES_OPEN_MIN`]): its blocks spread over
//! the lanes, so one packet is cheap. Encryption takes a lone 3DES packet too
//! ([`TDES_SEAL_MIN`]): the per-packet RustCrypto `des` path indexes its S-box tables by
//! secret data (not constant time), and a batch of one is what an idle tunnel sends, so that
//! is where a timing observer would look. It costs more for that one packet (one run, 1400
//! bytes, `benches/tdes_batch.rs` `tdes_lone`): RustCrypto 128 us, the narrow VBMI path of
//! `ipsec_tdes` 176 us (1.4x; constant-time by construction but with weaker evidence, see its
//! README), the bitsliced `u64` pass on CPUs without VBMI 497 us (3.9x). The single-packet
//! verbs (`handle_plaintext`, `handle_esp`, `handle_udp`) take the passes too, for 3DES, as a
//! batch of one (`seal_alone`, `open_alone`): with the shared passes on (the default), no
//! 3DES packet of the tunnel layer meets table-indexed DES.

use ipsec_tdes::{AesEncryptJob, AesKey, DecryptJob, EncryptJob, TdesCbc, TdesKey};

use super::*;
use crate::crypto::cipher::CipherAlg;
use crate::esp::sa::PassKey;
use crate::esp::EspCipher;

/// Fewest packets with a shared pass (3DES, or AES-CBC with AES-NI) in a chunk for the
/// passes: one (see the module documentation).
pub const TDES_SEAL_MIN: usize = 1;

/// Fewest 3DES packets in a chunk for the bitsliced decryption pass: one. Decryption spreads a
/// packet's blocks over the lanes, so a lone 1400-byte packet is a few passes: constant-time
/// and cheaper than RustCrypto `des` (one run: 9 us vs 114 us per packet through the tunnel
/// layer, `benches/tdes_batch.rs` `decap/lone_*`).
pub const TDES_OPEN_MIN: usize = 1;

/// Bytes of scratch first reserved per packet: a full-size packet plus ESP overhead.
const SCRATCH_PER_PACKET: usize = 1600;

/// The batch verbs' 3DES context and scratch, allocated once per [`Tunnels`].
pub(super) struct TdesScratch {
    ctx: TdesCbc,
    /// Packets being sealed, or plaintexts being opened, back to back.
    buf: Vec<u8>,
}

impl TdesScratch {
    fn new() -> Box<Self> {
        Box::new(TdesScratch {
            ctx: TdesCbc::new(),
            buf: vec![0; SCRATCH_PER_PACKET * BATCH],
        })
    }
}

/// At least `n` bytes of scratch: grows only for bigger packets than seen before.
fn room(buf: &mut Vec<u8>, n: usize) -> &mut [u8] {
    if buf.len() < n {
        buf.resize(n, 0);
    }
    buf.get_mut(..n).unwrap_or(&mut [])
}

impl core::fmt::Debug for TdesScratch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TdesScratch").finish_non_exhaustive()
    }
}

fn is_tdes(t: crate::esp::EspTransform) -> bool {
    t.cipher == EspCipher::Cbc(CipherAlg::TripleDes)
}

/// A key no lane uses: fills the unused job slots, which are empty and so skipped.
fn idle_key() -> TdesKey {
    TdesKey::new(&[0; 24])
}

impl Tunnels {
    /// Whether the batch verbs put 3DES and AES-CBC packets through the shared passes (the
    /// default), or seal and open every packet on its own with RustCrypto's ciphers, as the
    /// single-packet verbs do. Off is for comparisons (`ipsec-engine run
    /// --per-packet-ciphers`): it is slower for AES and, for 3DES, not constant-time.
    pub fn set_shared_passes(&mut self, on: bool) {
        self.shared_passes = on;
    }

    /// Seals the routed packets `from..to` of a chunk, those of SAs with a shared pass
    /// (`OutboundSa::seal_pass`: 3DES, and AES-CBC on CPUs with AES-NI) through one pass
    /// per cipher; false (nothing done) when fewer than [`TDES_SEAL_MIN`] of them have one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn seal_run_cbc(
        &mut self,
        now: Instant,
        chunk: &[&[u8]; BATCH],
        routed: &mut [Option<ChildId>; BATCH],
        from: usize,
        to: usize,
        v: &mut BatchVerdicts,
        out: &mut Outputs,
    ) -> bool {
        if !self.shared_passes {
            return false;
        }
        // Where each such packet's slot lies in the scratch, and its size.
        let mut slots: [Option<(usize, usize)>; BATCH] = [None; BATCH];
        let mut need = 0usize;
        let mut count = 0usize;
        for i in from..to {
            let Some(c) = routed.get(i).copied().flatten() else {
                continue;
            };
            let Some(child) = self.children.get(&c) else {
                continue;
            };
            if child.out.seal_pass().is_some() {
                let max = chunk
                    .get(i)
                    .map_or(0, |p| p.len())
                    .saturating_add(child.out.overhead());
                if let Some(s) = slots.get_mut(i) {
                    *s = Some((need, max));
                }
                need = need.saturating_add(max);
                count += 1;
            }
        }
        if count < TDES_SEAL_MIN {
            return false;
        }
        let mut scratch = self.tdes.take().unwrap_or_else(TdesScratch::new);
        self.passes_busy = true;
        let TdesScratch { ctx, buf } = &mut *scratch;
        let buf = room(buf, need);

        // Step one: prepare each on its SA, in order (a batch stops at the hard lifetime here).
        // A run of packets of one SA shares one key: AES keys are expanded once per run.
        let mut sealing: [Option<crate::esp::sa::SealingCbc>; BATCH] = [None; BATCH];
        let mut keys: [Option<PassKey>; BATCH] = core::array::from_fn(|_| None);
        let mut key_of: [usize; BATCH] = [0; BATCH];
        let mut last: Option<(ChildId, usize)> = None;
        let mut nkeys = 0usize;
        for i in from..to {
            let (Some((off, max)), Some(c)) = (
                slots.get(i).copied().flatten(),
                routed.get(i).copied().flatten(),
            ) else {
                continue;
            };
            let (Some(child), Some(dst)) = (self.children.get_mut(&c), buf.get_mut(off..off + max))
            else {
                continue;
            };
            let pkt = chunk.get(i).copied().unwrap_or(&[]);
            let Ok(s) = child.out.prepare_cbc(now, pkt, NEXT_HEADER_IPV4, dst) else {
                continue;
            };
            let k = match last {
                Some((lc, k)) if lc == c => k,
                _ => {
                    if let Some(slot) = keys.get_mut(nkeys) {
                        *slot = child.out.pass_key();
                    }
                    nkeys += 1;
                    nkeys - 1
                }
            };
            last = Some((c, k));
            if let (Some(slot), Some(ko)) = (sealing.get_mut(i), key_of.get_mut(i)) {
                *slot = Some(s);
                *ko = k;
            }
        }

        // Step two: one pass per cipher over every prepared packet, each with its SA's key.
        {
            let idle = idle_key();
            let mut tdes: [EncryptJob<'_>; BATCH] = core::array::from_fn(|_| EncryptJob {
                key: &idle,
                iv: [0; 8],
                data: &mut [],
            });
            let blank = AesKey::empty();
            let mut aes: [AesEncryptJob<'_>; BATCH] = core::array::from_fn(|_| AesEncryptJob {
                key: &blank,
                iv: [0; 16],
                data: &mut [],
            });
            let (mut nt, mut na) = (0usize, 0usize);
            let mut rest: &mut [u8] = buf;
            let mut at = 0usize;
            for i in from..to {
                let (Some((off, max)), Some(s), Some(key)) = (
                    slots.get(i).copied().flatten(),
                    sealing.get(i).copied().flatten(),
                    key_of
                        .get(i)
                        .and_then(|&k| keys.get(k))
                        .and_then(Option::as_ref),
                ) else {
                    continue;
                };
                let (_, tail) = core::mem::take(&mut rest).split_at_mut(off - at);
                let (mine, tail) = tail.split_at_mut(max);
                rest = tail;
                at = off + max;
                let Some(data) = mine.get_mut(s.cbc_range()) else {
                    continue;
                };
                match key {
                    PassKey::Tdes(key) => {
                        if let Some(j) = tdes.get_mut(nt) {
                            *j = EncryptJob {
                                key,
                                iv: [0; 8],
                                data,
                            };
                            nt += 1;
                        }
                    }
                    PassKey::Aes(key) => {
                        if let Some(j) = aes.get_mut(na) {
                            *j = AesEncryptJob {
                                key,
                                iv: [0; 16],
                                data,
                            };
                            na += 1;
                        }
                    }
                }
            }
            // Every length was made a whole number of blocks by `prepare_cbc`: the passes
            // cannot refuse.
            if nt > 0 {
                let _ = ctx.encrypt(tdes.get_mut(..nt).unwrap_or(&mut []));
            }
            if na > 0 {
                let _ = ipsec_tdes::aes_cbc_encrypt(aes.get_mut(..na).unwrap_or(&mut []));
            }
        }
        drop(keys);

        // Step three, in the chunk's order: ICV and queueing; the other packets as ever.
        let mut cache = None;
        for i in from..to {
            let Some(c) = routed.get_mut(i).and_then(Option::take) else {
                continue;
            };
            let pkt = chunk.get(i).copied().unwrap_or(&[]);
            let Some((off, max)) = slots.get(i).copied().flatten() else {
                v.add(self.seal(now, c, pkt, Some(&mut cache), out));
                continue;
            };
            let prepared = sealing.get(i).copied().flatten();
            let sealed = scratch.buf.get_mut(off..off + max);
            v.add(self.finish_sealed(now, c, pkt, prepared, sealed, out));
        }
        self.tdes = Some(scratch);
        self.passes_busy = false;
        true
    }

    /// Step three of [`Tunnels::seal_run_cbc`] for one packet: what [`Tunnels::seal`] does
    /// after its encapsulation.
    fn finish_sealed(
        &mut self,
        now: Instant,
        child_id: ChildId,
        pkt: &[u8],
        prepared: Option<crate::esp::sa::SealingCbc>,
        sealed: Option<&mut [u8]>,
        out: &mut Outputs,
    ) -> TunVerdict {
        let Some(child) = self.children.get_mut(&child_id) else {
            return TunVerdict::SendError;
        };
        let mut sent = false;
        if let (Some(s), Some(buf)) = (prepared, sealed) {
            let n = child.out.finish_cbc(&s, buf);
            let inner_df = pkt.get(6).is_some_and(|f| f & 0x40 != 0);
            let df = child.df_bit.outer_df(inner_df);
            match (out.reserve(child.dest, n), buf.get(..n)) {
                (Some(mut slot), Some(bytes)) => {
                    if let Some(dst) = slot.get_mut(..n) {
                        dst.copy_from_slice(bytes);
                    }
                    slot.commit_df(n, df);
                    sent = true;
                }
                // The sequence number is spent: to the peer this is a lost packet.
                _ => self.counters.queue_full += 1,
            }
        }
        sealed_verdict(
            SealTail {
                endpoint: &mut self.endpoint,
                pending: &mut self.usage_pending,
                due: &mut self.usage_due,
            },
            child,
            child_id,
            sent,
            now,
            out,
        )
    }

    /// Opens the `n` raw ESP packets of `chunk` from `src`, the 3DES ones through one
    /// bitsliced pass; false (nothing done) when fewer than [`TDES_OPEN_MIN`] are 3DES.
    #[allow(clippy::too_many_arguments)] // the batch verbs' shared state, passed once
    pub(super) fn open_chunk_tdes(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        chunk: &[&[u8]; BATCH],
        n: usize,
        raw: bool,
        v: &mut BatchVerdicts,
        mut first: Option<&mut Option<Result<(), Dropped>>>,
        out: &mut Outputs,
    ) -> bool {
        if !self.shared_passes {
            return false;
        }
        // Raw ESP for a pair that runs in UDP goes the single-packet way (it records the
        // peer not floating, see `handle_esp`); out of UDP 4500 every pair may share the pass.
        let mut spis: [Option<u32>; BATCH] = [None; BATCH];
        let mut count = 0usize;
        for (i, pkt) in chunk.iter().enumerate().take(n) {
            let Some(spi) = crate::esp::peek_spi(pkt) else {
                continue;
            };
            if let Some((_, c)) = self.children.by_spi(spi) {
                if is_tdes(c.inbound.transform()) && !(raw && matches!(c.dest, Dest::Udp { .. })) {
                    if let Some(s) = spis.get_mut(i) {
                        *s = Some(spi);
                    }
                    count += 1;
                }
            }
        }
        if count < TDES_OPEN_MIN {
            return false;
        }
        // Steps one and two: check and verify every packet, then commit every window.
        let mut opened: [Option<crate::esp::sa::OpenedTdes>; BATCH] = [None; BATCH];
        let mut failed: [Option<InboundError>; BATCH] = core::array::from_fn(|_| None);
        for commit in [false, true] {
            for i in 0..n {
                let Some(spi) = spis.get(i).copied().flatten() else {
                    continue;
                };
                let pkt = chunk.get(i).copied().unwrap_or(&[]);
                let Ok((_, child)) = self.children.by_spi_mut(spi) else {
                    continue;
                };
                let r = match (commit, opened.get(i).copied().flatten()) {
                    (false, _) => child.inbound.check_tdes(now, pkt).map(Some),
                    (true, Some(o)) => child.inbound.commit_tdes(&o).map(|()| Some(o)),
                    (true, None) => continue,
                };
                match r {
                    Ok(o) => {
                        if let Some(slot) = opened.get_mut(i) {
                            *slot = o;
                        }
                    }
                    Err(e) => {
                        if let Some(slot) = opened.get_mut(i) {
                            *slot = None;
                        }
                        if let Some(f) = failed.get_mut(i) {
                            *f = Some(InboundError::Esp(e));
                        }
                    }
                }
            }
        }
        // Step three: one decryption pass into the scratch.
        let mut scratch = self.tdes.take().unwrap_or_else(TdesScratch::new);
        self.passes_busy = true;
        let mut offs: [(usize, usize); BATCH] = [(0, 0); BATCH];
        let mut need = 0usize;
        let mut keys: [Option<TdesKey>; BATCH] = core::array::from_fn(|_| None);
        for i in 0..n {
            let (Some(o), Some(spi)) = (
                opened.get(i).copied().flatten(),
                spis.get(i).copied().flatten(),
            ) else {
                continue;
            };
            let len = o.ct_range().len();
            if let (Some(x), Some(k)) = (offs.get_mut(i), keys.get_mut(i)) {
                *x = (need, len);
                *k = self
                    .children
                    .by_spi(spi)
                    .and_then(|(_, c)| c.inbound.tdes_key());
            }
            need += len;
        }
        let TdesScratch { ctx, buf } = &mut *scratch;
        let buf = room(buf, need);
        {
            let idle = idle_key();
            let mut jobs: [DecryptJob<'_>; BATCH] = core::array::from_fn(|_| DecryptJob {
                key: &idle,
                iv: [0; 8],
                src: &[],
                dst: &mut [],
            });
            let mut m = 0usize;
            let mut rest: &mut [u8] = buf;
            for i in 0..n {
                let (Some(o), Some(key), Some(&(_, len))) = (
                    opened.get(i).copied().flatten(),
                    keys.get(i).and_then(Option::as_ref),
                    offs.get(i),
                ) else {
                    continue;
                };
                let (mine, tail) = core::mem::take(&mut rest).split_at_mut(len);
                rest = tail;
                let ct = chunk
                    .get(i)
                    .and_then(|p| p.get(o.ct_range()))
                    .unwrap_or(&[]);
                if let Some(j) = jobs.get_mut(m) {
                    *j = DecryptJob {
                        key,
                        iv: o.iv(),
                        src: ct,
                        dst: mine,
                    };
                    m += 1;
                }
            }
            // Lengths were checked block-aligned and buffers sized: the pass cannot refuse.
            let _ = ctx.decrypt(jobs.get_mut(..m).unwrap_or(&mut []));
        }
        drop(keys);
        // Step four, in the batch's order: padding, proxy identities, delivery; the other
        // packets as ever.
        for i in 0..n {
            let pkt = chunk.get(i).copied().unwrap_or(&[]);
            let Some(spi) = spis.get(i).copied().flatten() else {
                match self.open_one(now, src, pkt, raw, out) {
                    Ok(()) => v.protected += 1,
                    Err(_) => v.dropped += 1,
                }
                continue;
            };
            let r = match (
                opened.get(i).copied().flatten(),
                failed.get_mut(i).and_then(Option::take),
            ) {
                (Some(o), _) => {
                    let (off, len) = offs.get(i).copied().unwrap_or((0, 0));
                    let pt = scratch.buf.get_mut(off..off + len).unwrap_or(&mut []);
                    self.deliver_opened(now, src, spi, &o, pt, out)
                }
                (None, Some(e)) => {
                    self.note_esp_error(now, src, spi, &e, out);
                    Err(Dropped::Esp(e))
                }
                (None, None) => Err(Dropped::Esp(InboundError::Malformed)),
            };
            match &r {
                Ok(()) => v.protected += 1,
                Err(_) => v.dropped += 1,
            }
            if i == 0 {
                if let Some(f) = first.as_deref_mut() {
                    *f = Some(r);
                }
            }
        }
        // Plaintexts do not outlive the call in the scratch.
        if let Some(b) = scratch.buf.get_mut(..need) {
            b.fill(0);
        }
        self.tdes = Some(scratch);
        self.passes_busy = false;
        true
    }

    /// A lone 3DES packet to seal, through the bitsliced pass like a batch of one (the
    /// single-packet verbs come here): `None` when the SA is not 3DES, or the shared passes are
    /// off or already running.
    fn seal_alone(
        &mut self,
        now: Instant,
        child_id: ChildId,
        pkt: &[u8],
        out: &mut Outputs,
    ) -> Option<TunVerdict> {
        let tdes = self
            .children
            .get(&child_id)
            .is_some_and(|c| c.out.seal_pass() == Some(crate::esp::sa::SealPass::Tdes));
        if !tdes || !self.shared_passes || self.passes_busy {
            return None;
        }
        let mut chunk: [&[u8]; BATCH] = [&[]; BATCH];
        let mut routed: [Option<ChildId>; BATCH] = [None; BATCH];
        chunk[0] = pkt;
        routed[0] = Some(child_id);
        let mut v = BatchVerdicts::default();
        if !self.seal_run_cbc(now, &chunk, &mut routed, 0, 1, &mut v, out) {
            return None;
        }
        v.only()
    }

    /// Seals one packet on its own: a 3DES one through the pass ([`Tunnels::seal_alone`]),
    /// any other through the per-packet path.
    pub(super) fn seal_single(
        &mut self,
        now: Instant,
        child_id: ChildId,
        pkt: &[u8],
        out: &mut Outputs,
    ) -> TunVerdict {
        match self.seal_alone(now, child_id, pkt, out) {
            Some(v) => v,
            None => self.seal(now, child_id, pkt, None, out),
        }
    }

    /// A lone ESP packet of a 3DES SA to open, through the bitsliced pass like a batch of one
    /// (`receive_esp`, and so the single-packet verbs, come here): `None` when its SA is not
    /// 3DES, or the shared passes are off or already running.
    pub(super) fn open_alone(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        esp: &[u8],
        out: &mut Outputs,
    ) -> Option<Result<(), Dropped>> {
        if !self.shared_passes || self.passes_busy {
            return None;
        }
        let spi = crate::esp::peek_spi(esp)?;
        let (_, c) = self.children.by_spi(spi)?;
        if !is_tdes(c.inbound.transform()) {
            return None;
        }
        let mut chunk: [&[u8]; BATCH] = [&[]; BATCH];
        chunk[0] = esp;
        let mut v = BatchVerdicts::default();
        let mut first = None;
        // Not `raw`: a raw packet for a UDP pair was recorded by `handle_esp` already.
        if !self.open_chunk_tdes(now, src, &chunk, 1, false, &mut v, Some(&mut first), out) {
            return None;
        }
        first
    }

    /// Step four for one decrypted packet: what `receive_esp` does after decapsulation.
    fn deliver_opened(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        spi: u32,
        o: &crate::esp::sa::OpenedTdes,
        pt: &mut [u8],
        out: &mut Outputs,
    ) -> Result<(), Dropped> {
        let (child_id, child) = match self.children.by_spi_mut(spi) {
            Ok(x) => x,
            Err(e) => return Err(Dropped::Esp(e)),
        };
        let d = match child.inbound.finish_tdes(now, o, pt) {
            Ok(d) => d,
            Err(e) => {
                let e = InboundError::Esp(e);
                self.note_esp_error(now, src, spi, &e, out);
                return Err(Dropped::Esp(e));
            }
        };
        let child: &ChildSa = child;
        let inner = pt.get_mut(..d.len).unwrap_or(&mut []);
        let ok = d.next_header == NEXT_HEADER_IPV4
            && five_tuple(inner).is_some_and(|t| {
                selector_admits(&child.selectors.remote, t.src, t.protocol, t.src_port)
                    && selector_admits(&child.selectors.local, t.dst, t.protocol, t.dst_port)
            });
        if !ok {
            if d.next_header != NEXT_HEADER_IPV4 {
                self.counters.not_ipv4 += 1;
            }
            if let Some(f) = self.flows.get_mut(child.flow) {
                f.invalid_identity += 1;
            }
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC(decaps): decrypted packet from {src} is outside the proxy identities of SPI 0x{spi:X}, dropped"
                ),
            );
            return Err(Dropped::OutsideProxyIdentities);
        }
        let deliver = child.deliver;
        let flow = child.flow;
        if let Some(f) = self.flows.get_mut(flow) {
            f.peer_sent_on(child_id);
        }
        let clamp = match deliver {
            Dest::Vti(n) => self.vti_mss(n),
            _ => self.mss_clamp,
        };
        if let Some(max) = clamp {
            clamp_mss(inner, max);
        }
        if self.client_pat.is_some() {
            self.pat_inbound(now, flow, inner);
        }
        if !out.push(deliver, inner) {
            self.counters.queue_full += 1;
            return Err(Dropped::QueueFull);
        }
        self.note_usage(now, child_id);
        Ok(())
    }
}
