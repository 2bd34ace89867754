//! What the core hands back to the engine during one call: packets for the TUN, UDP datagrams,
//! raw ESP packets and debug lines, queued in one reusable arena so that steady-state traffic
//! allocates nothing.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::{Deref, DerefMut, Range};

/// Where a queued packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Into the kernel through the TUN device (a decapsulated cleartext packet).
    Tun,
    /// A decapsulated cleartext packet that came out of VTI `TunnelN`.
    Vti(u32),
    /// A UDP datagram from the engine socket bound to `local` (port 500 or 4500) to `remote`.
    Udp {
        /// Local address and port; picks the socket.
        local: SocketAddrV4,
        /// Peer address and port.
        remote: SocketAddrV4,
    },
    /// An ESP packet (SPI onwards) over IP protocol 50 from `src` to `dst`.
    Esp {
        /// Local address; picks the raw socket.
        src: Ipv4Addr,
        /// Peer address.
        dst: Ipv4Addr,
    },
}

/// Which debug stream a line belongs to (`debug crypto isakmp` / `debug crypto ipsec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DebugKind {
    /// ISAKMP (Phase 1 and Quick Mode negotiation).
    Isakmp,
    /// IPsec (SA installation, ESP events).
    Ipsec,
}

impl DebugKind {
    /// 0 for ISAKMP, 1 for IPsec: an index into per-stream tables.
    pub fn index(self) -> usize {
        match self {
            DebugKind::Isakmp => 0,
            DebugKind::Ipsec => 1,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) dest: Dest,
    pub(crate) range: Range<usize>,
    /// The outer IPv4 header must carry DF (see [`Outputs::outer_df`]).
    pub(crate) df: bool,
}

/// Default bound on queued bytes before new packets are dropped and counted.
pub const DEFAULT_LIMIT: usize = 4 << 20;

/// The output queue every data and timer call of [`super::Tunnels`] fills.
#[derive(Debug)]
pub struct Outputs {
    arena: Vec<u8>,
    items: Vec<Item>,
    debug_text: String,
    debug_items: Vec<(DebugKind, Range<usize>)>,
    debugging: [bool; 2],
    warning_text: String,
    warning_items: Vec<Range<usize>>,
    limit: usize,
    dropped: u64,
    tun_mtu: Option<u32>,
}

impl Default for Outputs {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl Outputs {
    /// A queue that holds at most `limit` bytes of packets at a time.
    pub fn new(limit: usize) -> Outputs {
        Outputs {
            arena: Vec::with_capacity(limit.min(256 << 10)),
            items: Vec::with_capacity(256),
            debug_text: String::new(),
            debug_items: Vec::new(),
            debugging: [false; 2],
            warning_text: String::new(),
            warning_items: Vec::new(),
            limit,
            dropped: 0,
            tun_mtu: None,
        }
    }

    /// Queues a copy of `pkt` for `dest`; false (and counted) if the queue is full.
    pub fn push(&mut self, dest: Dest, pkt: &[u8]) -> bool {
        match self.reserve(dest, pkt.len()) {
            Some(mut slot) => {
                slot.copy_from_slice(pkt);
                slot.commit(pkt.len());
                true
            }
            None => false,
        }
    }

    /// Queues a cleartext packet for the TUN.
    pub fn tun(&mut self, pkt: &[u8]) -> bool {
        self.push(Dest::Tun, pkt)
    }

    /// Queues a UDP datagram.
    pub fn udp(&mut self, local: SocketAddrV4, remote: SocketAddrV4, data: &[u8]) -> bool {
        self.push(Dest::Udp { local, remote }, data)
    }

    /// Queues a raw ESP packet.
    pub fn esp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> bool {
        self.push(Dest::Esp { src, dst }, data)
    }

    /// Zero-copy variant: `max_len` writable bytes for `dest`; the packet is queued only if
    /// [`Slot::commit`] (or [`Slot::commit_as`], when the destination is only known after
    /// writing, as with `poll_transmit`) is called. `None` (and counted) if the queue is full.
    /// The space is zero-filled, so ask for what the packet can need (inner length plus ESP
    /// overhead), not 64 KiB.
    pub fn reserve(&mut self, dest: Dest, max_len: usize) -> Option<Slot<'_>> {
        let start = self.arena.len();
        let end = match start.checked_add(max_len) {
            Some(e) if e <= self.limit => e,
            _ => {
                self.dropped += 1;
                return None;
            }
        };
        self.arena.resize(end, 0);
        Some(Slot {
            out: self,
            dest,
            start,
        })
    }

    /// True while somebody watches `kind`: format debug lines only then.
    pub fn debugging(&self, kind: DebugKind) -> bool {
        self.debugging[kind.index()]
    }

    /// Queues one debug line (without trailing newline) for the subscribers of `kind`; a no-op
    /// when nobody watches.
    pub fn debug(&mut self, kind: DebugKind, line: fmt::Arguments<'_>) {
        if !self.debugging(kind) {
            return;
        }
        let start = self.debug_text.len();
        let _ = fmt::write(&mut self.debug_text, line);
        self.debug_text.push('\n');
        self.debug_items.push((kind, start..self.debug_text.len()));
    }

    /// Packets queued and not yet sent.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes queued.
    pub fn queued_bytes(&self) -> usize {
        self.arena.len()
    }

    /// Packets refused because the queue was full, since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Iterates the queued packets in order.
    pub fn packets(&self) -> impl Iterator<Item = (Dest, &[u8])> {
        self.items
            .iter()
            .map(|i| (i.dest, self.arena.get(i.range.clone()).unwrap_or(&[])))
    }

    /// The `i`-th queued packet.
    pub fn packet(&self, i: usize) -> Option<(Dest, &[u8])> {
        let it = self.items.get(i)?;
        Some((it.dest, self.arena.get(it.range.clone())?))
    }

    /// Whether the `i`-th queued packet's outer IPv4 header must carry the DF bit: for ESP
    /// (raw or in UDP) the entry's `crypto ipsec df-bit` applied to the inner packet's DF;
    /// false for IKE, keepalives and cleartext packets (IKE messages with pre-shared keys are
    /// small, and a fragmented one still arrives).
    /// An engine sends DF packets with path MTU discovery on (Linux `IP_PMTUDISC_WANT`) and
    /// the others with it off (`IP_PMTUDISC_DONT`, which clears DF).
    pub fn outer_df(&self, i: usize) -> bool {
        self.items.get(i).is_some_and(|it| it.df)
    }

    /// Iterates the queued debug lines.
    pub fn debug_lines(&self) -> impl Iterator<Item = (DebugKind, &str)> {
        self.debug_items
            .iter()
            .map(|(k, r)| (*k, self.debug_text.get(r.clone()).unwrap_or("")))
    }

    /// Queues a failure signature for the host's log (always, debugging or not: these are the
    /// lines an operator greps for after the fact). Rare, so a line may allocate.
    pub fn warning(&mut self, line: fmt::Arguments<'_>) {
        let start = self.warning_text.len();
        let _ = fmt::write(&mut self.warning_text, line);
        self.warning_items.push(start..self.warning_text.len());
    }

    /// The warnings queued since the last [`Outputs::clear`].
    pub fn warnings(&self) -> impl Iterator<Item = &str> {
        self.warning_items
            .iter()
            .map(|r| self.warning_text.get(r.clone()).unwrap_or(""))
    }

    /// Empties the queue, keeping its memory.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
        self.debug_text.clear();
        self.debug_items.clear();
        self.warning_text.clear();
        self.warning_items.clear();
    }

    /// Asks the engine to change the TUN MTU (e.g. once the transforms, hence the overhead, are
    /// known); applied when the call returns, the last request winning.
    pub fn set_tun_mtu(&mut self, mtu: u32) {
        self.tun_mtu = Some(mtu);
    }

    /// The MTU last asked for with [`Outputs::set_tun_mtu`], once.
    pub fn take_tun_mtu(&mut self) -> Option<u32> {
        self.tun_mtu.take()
    }

    /// Turns a debug stream on or off (the event loop does it for `debug crypto ...`; an
    /// embedder or a test driving a core directly calls it).
    pub fn set_debugging(&mut self, kind: DebugKind, on: bool) {
        self.debugging[kind.index()] = on;
    }
}

/// Writable space for one packet, see [`Outputs::reserve`].
#[derive(Debug)]
pub struct Slot<'a> {
    out: &'a mut Outputs,
    dest: Dest,
    start: usize,
}

impl Slot<'_> {
    /// Queues the first `len` bytes written for the destination given to `reserve`.
    pub fn commit(self, len: usize) {
        let dest = self.dest;
        self.commit_as(dest, len);
    }

    /// [`Slot::commit`] for an ESP packet whose outer header must carry DF when `df` (see
    /// [`Outputs::outer_df`]).
    pub fn commit_df(self, len: usize, df: bool) {
        let dest = self.dest;
        self.commit_full(dest, len, df);
    }

    /// Queues the first `len` bytes written (clamped to the reserved size) for `dest`.
    pub fn commit_as(self, dest: Dest, len: usize) {
        self.commit_full(dest, len, false);
    }

    fn commit_full(mut self, dest: Dest, len: usize, df: bool) {
        self.dest = dest;
        let end = self.start + len.min(self.out.arena.len() - self.start);
        self.out.arena.truncate(end);
        self.out.items.push(Item {
            dest: self.dest,
            range: self.start..end,
            df,
        });
        std::mem::forget(self);
    }
}

impl Deref for Slot<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.out.arena.get(self.start..).unwrap_or(&[])
    }
}

impl DerefMut for Slot<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let s = self.start;
        self.out.arena.get_mut(s..).unwrap_or(&mut [])
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Not committed: give the space back.
        self.out.arena.truncate(self.start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_reserve_commit_and_limit() {
        let mut o = Outputs::new(100);
        assert!(o.tun(&[1, 2, 3]));
        {
            let mut s = o
                .reserve(
                    Dest::Esp {
                        src: [192, 0, 2, 1].into(),
                        dst: [192, 0, 2, 2].into(),
                    },
                    50,
                )
                .unwrap();
            s[..2].copy_from_slice(&[9, 9]);
            s.commit_as(Dest::Tun, 2);
        }
        {
            let _abandoned = o.reserve(Dest::Tun, 40).unwrap();
        }
        assert_eq!(o.queued_bytes(), 5);
        assert!(o.reserve(Dest::Tun, 96).is_none());
        assert_eq!(o.dropped(), 1);
        let v: Vec<_> = o.packets().map(|(d, p)| (d, p.to_vec())).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], (Dest::Tun, vec![1, 2, 3]));
        assert_eq!(v[1], (Dest::Tun, vec![9, 9]));
        o.debug(DebugKind::Isakmp, format_args!("dropped {}", 1));
        assert_eq!(o.debug_lines().count(), 0);
        o.set_debugging(DebugKind::Isakmp, true);
        o.debug(
            DebugKind::Isakmp,
            format_args!("ISAKMP:(0): beginning Main Mode exchange"),
        );
        assert_eq!(
            o.debug_lines().next().unwrap().1,
            "ISAKMP:(0): beginning Main Mode exchange\n"
        );
        let cap = o.arena.capacity();
        o.clear();
        assert!(o.is_empty());
        assert_eq!(o.arena.capacity(), cap);
    }
}
