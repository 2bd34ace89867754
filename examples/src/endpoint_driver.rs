//! A blocking UDP driver for the bare [`ipsec_proto::ike::Endpoint`] with its own ESP SAs.
//! Embedders should use [`crate::driver`] (the tunnel layer); this one stays while the
//! strongSwan lab tests, which assert on the endpoint's own events and key material, still
//! drive the endpoint directly.
//!
//! The whole integration is one loop over two UDP sockets (ports 500 and 4500 of one local
//! address):
//!
//! 1. wait until a socket is readable or [`Endpoint::poll_timeout`] is reached (`poll(2)` on
//!    both sockets, with that deadline as its timeout);
//! 2. feed every datagram that arrived to [`Endpoint::handle_datagram`] (on 4500, IKE is told
//!    apart from ESP by the non-ESP marker, see [`classify_udp4500`]) and, when the deadline has
//!    passed, call [`Endpoint::handle_timeout`];
//! 3. drain [`Endpoint::poll_transmit`] (adding the non-ESP marker when asked), then
//!    [`Endpoint::poll_event`]; a [`Event::Phase2Established`] installs an [`OutboundSa`] /
//!    [`InboundSa`] pair, a [`Event::Phase2Deleted`] removes it.
//!
//! The driver also carries the ESP data path for UDP-encapsulated ESP (NAT-T, which is what a
//! strongSwan 5.9.8 peer always negotiates): [`UdpDriver::send_packet`] protects a whole inner
//! IPv4 packet with the newest SA whose proxy identities cover it (a rekeyed pair takes over
//! after [`OUTBOUND_SWITCH_DELAY`] or its first inbound packet) and sends it to UDP 4500;
//! ESP arriving on 4500 is decapsulated and queued for [`UdpDriver::recv_packet`]. A real
//! gateway would read and write those inner packets on a TUN device; the example leaves that
//! to the caller. Plain ESP (IP protocol 50) needs a raw socket and is not handled here.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//! use ipsec_examples::endpoint_driver::UdpDriver;
//! use ipsec_proto::ike::{Endpoint, EndpointConfig, Event, PeerId};
//! use ipsec_proto::rng::Rng;
//!
//! # fn config() -> EndpointConfig { EndpointConfig::default() }
//! let local = Ipv4Addr::new(198, 51, 100, 2);
//! let mut seed = [0u8; 32];
//! // Seed from the OS in a real program (e.g. /dev/urandom); the endpoint never reads it itself.
//! # seed[0] = 1;
//! let endpoint = Endpoint::new(config(), Rng::from_seed(seed));
//! let mut driver = UdpDriver::bind(endpoint, local, Rng::from_seed(seed)).unwrap();
//! driver.initiate(PeerId(0), 0).unwrap();
//! loop {
//!     for event in driver.step(Duration::from_secs(1)).unwrap() {
//!         if let Event::Phase2Established(p2) = &event {
//!             println!("IPsec SA pair up: in {:#010x} out {:#010x}",
//!                      p2.keys.inbound.spi(), p2.keys.outbound.spi());
//!         }
//!     }
//!     while let Some(inner) = driver.recv_packet() {
//!         // write `inner` to a TUN device ...
//! #       let _ = inner;
//!     }
//! }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ipsec_proto::esp::{
    classify_udp4500, EspConfig, EspError, EspKeys, EspMode, InboundError, InboundSa,
    InboundSaTable, LifetimeConfig, OutboundSa, Udp4500, DEFAULT_REPLAY_WINDOW,
};
use ipsec_proto::ike::{ChildId, Endpoint, Error as IkeError, Event, Path, PeerId, SelectorPair};
use ipsec_proto::policy::acl::{PortRange, TrafficSelector};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

/// Largest datagram the driver reads or writes.
const MAX_DATAGRAM: usize = 65_535;
/// The non-ESP marker in front of IKE on UDP 4500 (RFC 3948).
const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// How long a new SA pair waits before it takes over outbound traffic from an older pair with
/// the same proxy identities (unless the peer already sent on it).
pub const OUTBOUND_SWITCH_DELAY: Duration = Duration::from_secs(1);
/// Early ESP packets (unknown SPI) kept for one turn, at most.
const MAX_WAITING: usize = 64;
/// IP protocol number of IPv4-in-ESP (tunnel mode next header).
const NEXT_HEADER_IPV4: u8 = 4;

/// What can go wrong in the driver (the endpoint itself reports protocol failures as events).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// A command was refused by the endpoint.
    #[error("endpoint: {0}")]
    Ike(#[from] IkeError),
    /// No installed SA pair covers this inner packet (it would be dropped, or trigger
    /// [`Endpoint::initiate`] in a gateway).
    #[error("no IPsec SA covers {src} -> {dst}")]
    NoSa {
        /// Inner source.
        src: Ipv4Addr,
        /// Inner destination.
        dst: Ipv4Addr,
    },
    /// Not an IPv4 packet.
    #[error("inner packet is not IPv4")]
    NotIpv4,
    /// The SA pair was negotiated without UDP encapsulation; this driver has no raw ESP socket.
    #[error("plain ESP (protocol 50) is not handled by this driver")]
    PlainEsp,
    /// ESP protection failed.
    #[error("ESP: {0}")]
    Esp(#[from] EspError),
}

/// Datagram and packet counters of the driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// IKE datagrams received (both ports).
    pub ike_in: u64,
    /// IKE datagrams sent.
    pub ike_out: u64,
    /// ESP packets decapsulated successfully.
    pub esp_in: u64,
    /// ESP packets sent.
    pub esp_out: u64,
    /// ESP packets refused (unknown SPI, bad ICV, replay...).
    pub esp_in_errors: u64,
    /// Malformed UDP 4500 payloads.
    pub malformed: u64,
}

/// One installed SA pair, as the data path sees it.
#[derive(Debug)]
struct Tunnel {
    outbound: OutboundSa,
    installed: Instant,
    spi_in: u32,
    selectors: SelectorPair,
    remote: SocketAddr,
    udp_encap: bool,
}

/// The endpoint, its two sockets and the ESP SAs it negotiated. See the module documentation.
#[derive(Debug)]
pub struct UdpDriver {
    endpoint: Endpoint,
    sock500: UdpSocket,
    sock4500: UdpSocket,
    local500: SocketAddr,
    local4500: SocketAddr,
    epoch: std::time::Instant,
    rng: Rng,
    tunnels: BTreeMap<ChildId, Tunnel>,
    inbound: InboundSaTable,
    received: VecDeque<Vec<u8>>,
    /// ESP for unknown SPIs received in this turn, retried once after the IKE messages.
    waiting: Vec<Vec<u8>>,
    stats: DriverStats,
    buf: Vec<u8>,
}

fn esp_mode(m: ipsec_proto::policy::ipsec::EspMode) -> EspMode {
    match m {
        ipsec_proto::policy::ipsec::EspMode::Transport => EspMode::Transport,
        _ => EspMode::Tunnel,
    }
}

/// A copy of `k` for the data path; the event keeps its own (both wipe on drop).
fn copy_keys(k: &EspKeys) -> Result<EspKeys, EspError> {
    EspKeys::new(k.spi(), k.transform(), k.enc_key(), k.auth_key())
}

/// The selectors of one inner IPv4 packet (source side, destination side): its addresses, its
/// protocol and, for TCP and UDP, its ports, so that protocol- and port-specific proxy
/// identities match only their traffic.
fn packet_selectors(inner: &[u8]) -> Option<(TrafficSelector, TrafficSelector)> {
    let ihl = usize::from(inner.first()? & 0x0f) * 4;
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = inner.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    let protocol = *inner.get(9)?;
    let mut src = TrafficSelector::subnet(addr(12)?, Ipv4Addr::BROADCAST);
    let mut dst = TrafficSelector::subnet(addr(16)?, Ipv4Addr::BROADCAST);
    src.protocol = protocol;
    dst.protocol = protocol;
    // TCP and UDP: ports from the transport header (absent in a non-first fragment).
    let first_fragment = inner
        .get(6..8)
        .is_some_and(|f| f[0] & 0x1f == 0 && f[1] == 0);
    if (protocol == 6 || protocol == 17) && first_fragment {
        if let Some(p) = inner.get(ihl..ihl + 4) {
            let sp = u16::from_be_bytes([p[0], p[1]]);
            let dp = u16::from_be_bytes([p[2], p[3]]);
            src.ports = PortRange { start: sp, end: sp };
            dst.ports = PortRange { start: dp, end: dp };
        }
    }
    Some((src, dst))
}

impl UdpDriver {
    /// Binds `local:500` and `local:4500` and wraps `endpoint`. `rng` seeds the ESP IV
    /// generators (forked per SA).
    pub fn bind(endpoint: Endpoint, local: Ipv4Addr, rng: Rng) -> io::Result<Self> {
        let s500 = UdpSocket::bind((local, 500))?;
        let s4500 = UdpSocket::bind((local, 4500))?;
        Self::new(endpoint, s500, s4500, rng)
    }

    /// Wraps already-bound sockets (for example bound inside another network namespace). They
    /// must be bound to one specific address, ports 500 and 4500, so that the endpoint learns
    /// its local address from every datagram.
    pub fn new(
        endpoint: Endpoint,
        sock500: UdpSocket,
        sock4500: UdpSocket,
        rng: Rng,
    ) -> io::Result<Self> {
        sock500.set_nonblocking(true)?;
        sock4500.set_nonblocking(true)?;
        let local500 = sock500.local_addr()?;
        let local4500 = sock4500.local_addr()?;
        Ok(UdpDriver {
            endpoint,
            sock500,
            sock4500,
            local500,
            local4500,
            epoch: std::time::Instant::now(),
            rng,
            tunnels: BTreeMap::new(),
            inbound: InboundSaTable::new(),
            received: VecDeque::new(),
            waiting: Vec::new(),
            stats: DriverStats::default(),
            buf: vec![0u8; MAX_DATAGRAM],
        })
    }

    /// The endpoint's clock: milliseconds since the driver was created (monotonic).
    pub fn now(&self) -> Instant {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Instant::from_millis(ms)
    }

    /// The endpoint (show commands: `isakmp_sas`, `ipsec_sas`, counters).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, for commands (`delete_child`, `rekey_child`, ...). Call [`Self::step`]
    /// afterwards so that what they queued is sent.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// The local addresses of the two sockets.
    pub fn local_addrs(&self) -> (SocketAddr, SocketAddr) {
        (self.local500, self.local4500)
    }

    /// SA pairs installed in the data path (child and inbound SPI, outbound SPI).
    pub fn installed(&self) -> Vec<(ChildId, u32, u32)> {
        self.tunnels
            .iter()
            .map(|(id, t)| (*id, t.spi_in, t.outbound.spi()))
            .collect()
    }

    /// Starts Main Mode (if needed) and Quick Mode for crypto ACL line `selector` of `peer`.
    pub fn initiate(&mut self, peer: PeerId, selector: usize) -> Result<(), DriverError> {
        let now = self.now();
        self.endpoint.initiate(now, peer, selector)?;
        self.flush()?;
        Ok(())
    }

    /// One turn of the loop: waits at most `max_wait` (less when the endpoint has a deadline
    /// sooner) for datagrams, processes them and the timers, sends what the endpoint queued and
    /// returns its events (after installing or removing SAs they announce).
    pub fn step(&mut self, max_wait: Duration) -> io::Result<Vec<Event>> {
        let now = self.now();
        let wait = match self.endpoint.poll_timeout() {
            Some(t) => t.saturating_duration_since(now).min(max_wait),
            None => max_wait,
        };
        self.wait_readable(wait)?;
        self.read_socket(false)?;
        self.read_socket(true)?;
        let now = self.now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.report_activity();
        let events = self.flush()?;
        // Now that this turn's Quick Modes have installed their SAs, retry ESP that was early.
        let now = self.now();
        for esp in std::mem::take(&mut self.waiting) {
            self.decapsulate(now, esp, false);
        }
        Ok(events)
    }

    /// Steps until `done` holds for the events collected so far (appended to `events`) or
    /// `timeout` passes; returns whether `done` held.
    pub fn run_until(
        &mut self,
        timeout: Duration,
        events: &mut Vec<Event>,
        mut done: impl FnMut(&Self, &[Event]) -> bool,
    ) -> io::Result<bool> {
        let until = std::time::Instant::now() + timeout;
        loop {
            if done(self, events) {
                return Ok(true);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let new = self.step(left.min(Duration::from_millis(200)))?;
            events.extend(new);
        }
    }

    /// Protects a whole inner IPv4 packet with the newest SA pair whose proxy identities cover
    /// its addresses and sends it in UDP to the peer's port 4500. Returns the pair used.
    pub fn send_packet(&mut self, inner: &[u8]) -> Result<ChildId, DriverError> {
        let (src_sel, dst_sel) = match inner {
            [v, ..] if v >> 4 == 4 && inner.len() >= 20 => {
                packet_selectors(inner).ok_or(DriverError::NotIpv4)?
            }
            _ => return Err(DriverError::NotIpv4),
        };
        let (src, dst) = (src_sel.addr.range().0, dst_sel.addr.range().0);
        let now = self.now();
        let covering: Vec<ChildId> = self
            .tunnels
            .iter()
            .rev()
            .filter(|(_, t)| {
                t.selectors.local.contains(&src_sel) && t.selectors.remote.contains(&dst_sel)
            })
            .map(|(id, _)| *id)
            .collect();
        // The newest pair the peer has surely installed: one that has carried inbound traffic
        // or has existed for a moment. A Quick Mode initiator installs its SAs on QM2, before
        // the peer has even received QM3, so switching at once would lose the first packets.
        let ready = |id: &ChildId| {
            self.tunnels.get(id).is_some_and(|t| {
                now.saturating_duration_since(t.installed) >= OUTBOUND_SWITCH_DELAY
                    || self
                        .inbound
                        .get(t.spi_in)
                        .is_some_and(|i| i.usage().packets > 0)
            })
        };
        let chosen = covering
            .iter()
            .find(|id| ready(id))
            .or(covering.first())
            .copied()
            .ok_or(DriverError::NoSa { src, dst })?;
        let (id, t) = self
            .tunnels
            .get_mut(&chosen)
            .map(|t| (chosen, t))
            .ok_or(DriverError::NoSa { src, dst })?;
        if !t.udp_encap {
            return Err(DriverError::PlainEsp);
        }
        let n = t
            .outbound
            .encapsulate(now, inner, NEXT_HEADER_IPV4, &mut self.buf)?;
        let out = self.buf.get(..n).unwrap_or_default();
        self.sock4500.send_to(out, t.remote)?;
        self.stats.esp_out += 1;
        Ok(id)
    }

    /// The next decapsulated inner packet, if any.
    pub fn recv_packet(&mut self) -> Option<Vec<u8>> {
        self.received.pop_front()
    }

    fn wait_readable(&self, wait: Duration) -> io::Result<()> {
        let mut fds = [
            libc::pollfd {
                fd: self.sock500.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.sock4500.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Round up so that a deadline 0.4 ms away does not spin with a zero timeout.
        let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of two initialised pollfd structures that lives across
        // the call, and its length is passed with it; the descriptors belong to sockets we own.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    fn read_socket(&mut self, nat_t: bool) -> io::Result<()> {
        loop {
            let sock = if nat_t { &self.sock4500 } else { &self.sock500 };
            let local = if nat_t { self.local4500 } else { self.local500 };
            let (n, from) = match sock.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // An ICMP port unreachable from an earlier send: nothing to read.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let now = self.now();
            let path = Path {
                local,
                remote: from,
            };
            let data = self.buf.get(..n).unwrap_or_default();
            if !nat_t {
                self.stats.ike_in += 1;
                // Drops are counted by the endpoint (`counters()`); nothing more to do here.
                let _ = self.endpoint.handle_datagram(now, path, data);
                continue;
            }
            match classify_udp4500(data) {
                Udp4500::Ike(ike) => {
                    self.stats.ike_in += 1;
                    let _ = self.endpoint.handle_datagram(now, path, ike);
                }
                Udp4500::Keepalive => {
                    let _ = self.endpoint.handle_datagram(now, path, &[0xff]);
                }
                Udp4500::Esp(esp) => {
                    let esp = esp.to_vec();
                    self.decapsulate(now, esp, true);
                }
                Udp4500::Malformed(_) => self.stats.malformed += 1,
            }
        }
    }

    /// Decapsulates one ESP packet into the receive queue. With `may_wait`, a packet for an SPI
    /// we do not know yet is kept until the end of this turn: a peer that installs a rekeyed
    /// pair on QM2 may send on it just before its QM3, and both can arrive in one batch.
    fn decapsulate(&mut self, now: Instant, esp: Vec<u8>, may_wait: bool) {
        let mut out = vec![0u8; esp.len()];
        match self.inbound.decapsulate(now, &esp, &mut out) {
            Ok((_, d)) => {
                self.stats.esp_in += 1;
                // Dummy packets (next header 59) carry nothing for the host.
                if d.next_header == NEXT_HEADER_IPV4 {
                    out.truncate(d.len);
                    self.received.push_back(out);
                }
            }
            Err(InboundError::UnknownSpi(_)) if may_wait && self.waiting.len() < MAX_WAITING => {
                self.waiting.push(esp);
            }
            Err(_) => self.stats.esp_in_errors += 1,
        }
    }

    /// Tells the endpoint when each pair last carried traffic (on-demand DPD, volume rekey).
    fn report_activity(&mut self) {
        let now = self.now();
        let reports: Vec<_> = self
            .tunnels
            .iter()
            .map(|(id, t)| {
                let out = t.outbound.usage();
                let inn = self
                    .inbound
                    .get(t.spi_in)
                    .map(|s| s.usage())
                    .unwrap_or_default();
                (
                    *id,
                    inn.last_activity,
                    out.last_activity,
                    out.bytes + inn.bytes,
                )
            })
            .collect();
        for (id, last_in, last_out, bytes) in reports {
            self.endpoint
                .report_esp_activity(now, id, last_in, last_out, bytes);
        }
    }

    /// Sends everything the endpoint queued and applies its events to the data path.
    fn flush(&mut self) -> io::Result<Vec<Event>> {
        let now = self.now();
        let mut out = vec![0u8; MAX_DATAGRAM];
        loop {
            let (head, body) = out.split_at_mut(NON_ESP_MARKER.len());
            let t = match self.endpoint.poll_transmit(now, body) {
                Ok(Some(t)) => t,
                Ok(None) => break,
                // Cannot happen with a 64 KiB buffer; drop rather than loop forever.
                Err(_) => break,
            };
            let sock = if t.path.local.port() == 500 {
                &self.sock500
            } else {
                &self.sock4500
            };
            let bytes = if t.non_esp_marker {
                head.copy_from_slice(&NON_ESP_MARKER);
                out.get(..NON_ESP_MARKER.len() + t.len)
            } else {
                out.get(NON_ESP_MARKER.len()..NON_ESP_MARKER.len() + t.len)
            };
            match sock.send_to(bytes.unwrap_or_default(), t.path.remote) {
                Ok(_) => self.stats.ike_out += 1,
                // A lost datagram is the endpoint's retransmission's business.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        let mut events = Vec::new();
        while let Some(ev) = self.endpoint.poll_event() {
            self.apply(now, &ev);
            events.push(ev);
        }
        Ok(events)
    }

    fn apply(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::Phase2Established(p2) => {
                let config = EspConfig {
                    mode: esp_mode(p2.mode),
                    udp_encap: p2.udp_encap,
                    replay_window: DEFAULT_REPLAY_WINDOW,
                    // The endpoint owns the lifetimes: it rekeys and reports Phase2Deleted.
                    lifetime: LifetimeConfig::unlimited(),
                };
                let out = copy_keys(&p2.keys.outbound)
                    .and_then(|k| OutboundSa::new(k, config, now, &mut self.rng));
                let inn = copy_keys(&p2.keys.inbound).and_then(|k| InboundSa::new(k, config, now));
                if let (Ok(outbound), Ok(inbound)) = (out, inn) {
                    let spi_in = inbound.spi();
                    self.inbound.insert(inbound);
                    let mut remote = p2.path.remote;
                    if p2.udp_encap && remote.port() == 500 {
                        remote = SocketAddr::new(remote.ip(), 4500);
                    }
                    self.tunnels.insert(
                        p2.child,
                        Tunnel {
                            outbound,
                            installed: now,
                            spi_in,
                            selectors: p2.selectors,
                            remote,
                            udp_encap: p2.udp_encap,
                        },
                    );
                }
            }
            Event::PathChanged { old, new, .. } => {
                // NAT rebinding: ESP follows the peer to its new address and port.
                for t in self.tunnels.values_mut() {
                    if t.remote.ip() == old.remote.ip() {
                        t.remote = if t.udp_encap && new.remote.port() == 500 {
                            SocketAddr::new(new.remote.ip(), 4500)
                        } else {
                            new.remote
                        };
                    }
                }
            }
            Event::Phase2Deleted { child, spi_in, .. } => {
                self.tunnels.remove(child);
                self.inbound.remove(*spi_in);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::icmp_echo_request;

    fn sel(cidr: &str, protocol: u8, port: Option<u16>) -> TrafficSelector {
        let mut s = crate::config::subnet(cidr).unwrap();
        s.protocol = protocol;
        if let Some(p) = port {
            s.ports = PortRange { start: p, end: p };
        }
        s
    }

    #[test]
    fn packet_selectors_follow_protocol_and_ports() {
        let icmp = icmp_echo_request(
            Ipv4Addr::new(10, 1, 1, 10),
            Ipv4Addr::new(10, 2, 2, 10),
            1,
            1,
            b"x",
        );
        let (s, d) = packet_selectors(&icmp).unwrap();
        assert!(sel("10.1.1.0/24", 0, None).contains(&s));
        assert!(sel("10.1.1.0/24", 1, None).contains(&s));
        assert!(!sel("10.1.1.0/24", 17, None).contains(&s));
        assert!(sel("10.2.2.10/32", 1, None).contains(&d));
        assert!(!sel("10.2.3.0/24", 1, None).contains(&d));
        // A UDP datagram 10.1.1.10:5000 -> 10.2.2.10:53 (checksums do not matter here).
        let mut udp = icmp.clone();
        udp[9] = 17;
        udp[20..24].copy_from_slice(&[0x13, 0x88, 0x00, 0x35]);
        let (s, d) = packet_selectors(&udp).unwrap();
        assert!(sel("10.2.2.0/24", 17, Some(53)).contains(&d));
        assert!(!sel("10.2.2.0/24", 17, Some(54)).contains(&d));
        assert!(sel("10.1.1.0/24", 17, None).contains(&s));
        assert!(!sel("10.1.1.0/24", 17, Some(53)).contains(&s));
    }
}
