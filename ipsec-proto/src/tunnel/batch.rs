//! The batched data verbs: many cleartext packets, or many ESP packets, in one call.
//!
//! A batch is worked in two passes over chunks of [`BATCH`] packets. The first finds each
//! packet's pair (classification and flow bookkeeping outbound, the SPI index inbound) and
//! reads the pair once, so that the cache misses of all the packets of the chunk overlap instead
//! of each stalling its own packet: with thousands of tunnels the pairs live in main memory, and
//! this is what keeps the cost of a packet from growing with their number. The second pass does
//! the cryptography, expanding an SA's key once for a run of packets of that SA (the per-batch
//! cipher scratch; nothing expanded is kept per SA). Packets keep their order: a packet that
//! must be handled on its own (a TCP SYN to clamp) first finishes the packets before it.
//!
//! 3DES packets of a chunk share one constant-time bitsliced cipher pass, and AES-CBC packets
//! one multi-buffer encryption (`cbc_batch`).
//!
//! A batch of one is valid and is what the single-packet verbs are.

use super::*;

/// Packets worked per pass (see the module documentation).
pub const BATCH: usize = 32;

/// The interface a cleartext packet came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Iface {
    /// The protected side of the crypto-map interfaces (the engine's TUN): crypto ACLs decide.
    Inside,
    /// Route-based tunnel interface `TunnelN` (IOS static VTI): everything goes to its peer.
    /// Packets for a number no running VTI has are refused and counted in
    /// [`BatchVerdicts::no_interface`].
    Tunnel(u32),
}

/// What a batch verb did with its packets, summed by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchVerdicts {
    /// [`TunVerdict::Protected`], or for ESP: decapsulated and queued for delivery.
    pub protected: usize,
    /// [`TunVerdict::NoSa`].
    pub no_sa: usize,
    /// [`TunVerdict::SendError`].
    pub send_error: usize,
    /// [`TunVerdict::NotProtected`].
    pub not_protected: usize,
    /// [`TunVerdict::Malformed`].
    pub malformed: usize,
    /// Packets for an interface that does not exist.
    pub no_interface: usize,
    /// ESP packets dropped (each counted where [`Dropped`] says).
    pub dropped: usize,
}

impl BatchVerdicts {
    /// The verdict of a batch of one cleartext packet.
    pub(super) fn only(&self) -> Option<TunVerdict> {
        [
            (self.protected, TunVerdict::Protected),
            (self.no_sa, TunVerdict::NoSa),
            (self.send_error, TunVerdict::SendError),
            (self.not_protected, TunVerdict::NotProtected),
            (self.malformed, TunVerdict::Malformed),
        ]
        .into_iter()
        .find(|(n, _)| *n > 0)
        .map(|(_, v)| v)
    }

    pub(super) fn add(&mut self, v: TunVerdict) {
        match v {
            TunVerdict::Protected => self.protected += 1,
            TunVerdict::NoSa => self.no_sa += 1,
            TunVerdict::SendError => self.send_error += 1,
            TunVerdict::NotProtected => self.not_protected += 1,
            TunVerdict::Malformed => self.malformed += 1,
        }
    }

    /// Packets handled.
    pub fn total(&self) -> usize {
        self.protected
            + self.no_sa
            + self.send_error
            + self.not_protected
            + self.malformed
            + self.no_interface
            + self.dropped
    }
}

/// Fills `chunk` from `it`; returns how many.
fn fill<'a>(it: &mut impl Iterator<Item = &'a [u8]>, chunk: &mut [&'a [u8]; BATCH]) -> usize {
    let mut n = 0;
    for slot in chunk.iter_mut() {
        match it.next() {
            Some(p) => {
                *slot = p;
                n += 1;
            }
            None => break,
        }
    }
    n
}

impl Tunnels {
    /// Protects a batch of cleartext packets that came in on `iface` (see the module
    /// documentation); per packet exactly what [`Tunnels::handle_plaintext`] does.
    pub fn handle_plaintext_batch<'a>(
        &mut self,
        now: Instant,
        iface: Iface,
        batch: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Outputs,
    ) -> BatchVerdicts {
        let mut v = BatchVerdicts::default();
        let mut it = batch.into_iter();
        if let Iface::Tunnel(n) = iface {
            if let Some(vi) = self.vti_by_number.get(&n).copied() {
                return self.vti_plaintext_batch(now, vi, it, out);
            }
            v.no_interface = it.count();
            self.counters.no_interface = self
                .counters
                .no_interface
                .saturating_add(v.no_interface as u64);
            return v;
        }
        if self.pat_active() {
            // Translation copies each packet; the ciphers' batching matters less than the
            // one table every packet consults in order.
            for p in it {
                v.add(self.protect(now, p, out));
            }
            return v;
        }
        let mut chunk: [&[u8]; BATCH] = [&[]; BATCH];
        let mut routed: [Option<ChildId>; BATCH] = [None; BATCH];
        loop {
            let n = fill(&mut it, &mut chunk);
            if n == 0 {
                return v;
            }
            let mut done = 0;
            for i in 0..n {
                let pkt = chunk.get(i).copied().unwrap_or(&[]);
                let clamp = self
                    .mss_clamp
                    .is_some_and(|max| syn_mss(pkt).is_some_and(|(_, m)| m > max));
                if clamp {
                    // Order within a flow: what came before goes first.
                    self.seal_run(now, &chunk, &mut routed, done, i, &mut v, out);
                    v.add(self.protect(now, pkt, out));
                    done = i + 1;
                    continue;
                }
                let r = match self.route(now, pkt, out) {
                    Route::Pair(c) => {
                        // One read of the pair now, so its cache lines are on their way while
                        // the next packets are classified.
                        if let Some(p) = self.children.get(&c) {
                            core::hint::black_box(p.out.sequence());
                        }
                        Some(c)
                    }
                    Route::Done(verdict) => {
                        v.add(verdict);
                        None
                    }
                };
                if let Some(slot) = routed.get_mut(i) {
                    *slot = r;
                }
            }
            self.seal_run(now, &chunk, &mut routed, done, n, &mut v, out);
        }
    }

    /// Seals the routed packets `from..to` of a chunk.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn seal_run(
        &mut self,
        now: Instant,
        chunk: &[&[u8]; BATCH],
        routed: &mut [Option<ChildId>; BATCH],
        from: usize,
        to: usize,
        v: &mut BatchVerdicts,
        out: &mut Outputs,
    ) {
        if self.seal_run_cbc(now, chunk, routed, from, to, v, out) {
            return;
        }
        let mut key = None;
        for i in from..to {
            let Some(c) = routed.get_mut(i).and_then(Option::take) else {
                continue;
            };
            let pkt = chunk.get(i).copied().unwrap_or(&[]);
            v.add(self.seal(now, c, pkt, Some(&mut key), out));
        }
    }

    /// A batch of raw ESP packets (IP protocol 50, each from the SPI on) from `src`; per packet
    /// exactly what [`Tunnels::handle_esp`] does. Dropped packets are counted where their
    /// [`Dropped`] reason says and summed in [`BatchVerdicts::dropped`].
    pub fn handle_esp_batch<'a>(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        batch: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Outputs,
    ) -> BatchVerdicts {
        let mut v = BatchVerdicts::default();
        let mut it = batch.into_iter();
        let mut chunk: [&[u8]; BATCH] = [&[]; BATCH];
        loop {
            let n = fill(&mut it, &mut chunk);
            if n == 0 {
                return v;
            }
            self.open_chunk(now, src, &chunk, n, true, &mut v, out);
        }
    }

    /// One ESP packet of a batch outside the wide pass: raw ESP as [`Tunnels::handle_esp`],
    /// ESP out of UDP 4500 as [`Tunnels::handle_udp`] opens it.
    pub(super) fn open_one(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        pkt: &[u8],
        raw: bool,
        out: &mut Outputs,
    ) -> Result<(), Dropped> {
        if raw {
            self.handle_esp(now, src, pkt, out)
        } else {
            self.receive_esp(now, src, pkt, out)
        }
    }

    /// Opens `chunk[..n]`, ESP packets from `src`: all 3DES ones through one bitsliced pass
    /// when they can be, else one by one. `raw`: they came as IP protocol 50 (else out of UDP
    /// 4500, where raw-ESP-behind-NAT evidence does not apply).
    #[allow(clippy::too_many_arguments)] // the batch verbs' shared state, passed once
    fn open_chunk(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        chunk: &[&[u8]; BATCH],
        n: usize,
        raw: bool,
        v: &mut BatchVerdicts,
        out: &mut Outputs,
    ) {
        // First pass: each packet's pair, read once (see the module documentation).
        for pkt in chunk.iter().take(n) {
            if let Some((_, p)) = crate::esp::peek_spi(pkt).and_then(|s| self.children.by_spi(s)) {
                core::hint::black_box(p.inbound.highest_sequence());
            }
        }
        if self.open_chunk_tdes(now, src, chunk, n, raw, v, None, out) {
            return;
        }
        for pkt in chunk.iter().take(n) {
            match self.open_one(now, src, pkt, raw, out) {
                Ok(()) => v.protected += 1,
                Err(_) => v.dropped += 1,
            }
        }
    }

    /// A batch of UDP datagrams from `remote` to `local` (a GRO train cut at its segment size,
    /// or datagrams of one `recvmmsg`); per datagram exactly what [`Tunnels::handle_udp`] does.
    pub fn handle_udp_batch<'a>(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        batch: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Outputs,
    ) -> BatchVerdicts {
        let mut v = BatchVerdicts::default();
        // Runs of ESP datagrams are opened as ESP batches (3DES gets its wide pass); IKE and
        // keepalives between them go one by one, in order.
        let esp_port = local.port() != 500 && remote.port() != 500;
        let mut chunk: [&[u8]; BATCH] = [&[]; BATCH];
        let mut n = 0;
        for d in batch {
            if let (true, crate::esp::Udp4500::Esp(esp)) = (esp_port, classify_udp4500(d)) {
                if let Some(slot) = chunk.get_mut(n) {
                    *slot = esp;
                    n += 1;
                }
                if n == BATCH {
                    self.open_chunk(now, *remote.ip(), &chunk, n, false, &mut v, out);
                    n = 0;
                }
                continue;
            }
            if n > 0 {
                self.open_chunk(now, *remote.ip(), &chunk, n, false, &mut v, out);
                n = 0;
            }
            match self.handle_udp(now, local, remote, d, out) {
                Ok(()) => v.protected += 1,
                Err(_) => v.dropped += 1,
            }
        }
        if n > 0 {
            self.open_chunk(now, *remote.ip(), &chunk, n, false, &mut v, out);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_sum() {
        let mut v = BatchVerdicts::default();
        for t in [
            TunVerdict::Protected,
            TunVerdict::Protected,
            TunVerdict::NoSa,
            TunVerdict::SendError,
            TunVerdict::NotProtected,
            TunVerdict::Malformed,
        ] {
            v.add(t);
        }
        assert_eq!((v.protected, v.no_sa, v.total()), (2, 1, 6));
    }
}
