//! A blocking, TUN-less driver of the tunnel layer ([`ipsec_proto::tunnel::Tunnel`]): all an
//! embedder writes to run an IOS configuration over real UDP sockets.
//!
//! One loop over UDP 500 and 4500 of one local address: `poll(2)` on both sockets until one
//! is readable or [`Tunnel::poll_timeout`] is reached; every datagram goes to
//! [`Tunnel::handle_udp`] (it tells IKE, ESP in UDP and keepalives apart), an expired deadline
//! to [`Tunnel::handle_timeout`]; then the polled outputs are drained in the documented
//! order: datagrams to the sockets, decrypted inner packets to [`TunnelDriver::recv_packet`],
//! events to the caller. Inner packets to protect come from [`TunnelDriver::send_packet`]
//! (the first one for a crypto ACL without an SA starts IKE, as on IOS). A gateway would read
//! and write the inner packets on a TUN device; plain ESP (IP protocol 50) would need a raw
//! socket, and this driver drops it.
//!
//! ```no_run
//! use std::time::Duration;
//! use ipsec_examples::driver::TunnelDriver;
//! use ipsec_proto::tunnel::{CoreOptions, TunnelEvent};
//!
//! # const SITE_A: &str = "";
//! // Seed from the OS in a real program (e.g. /dev/urandom); the tunnel never reads it itself.
//! let opts = CoreOptions::seeded(1);
//! let mut driver = TunnelDriver::bind(SITE_A, opts).unwrap();
//! loop {
//!     for event in driver.step(Duration::from_secs(1)).unwrap() {
//!         if let TunnelEvent::IpsecUp { spi_in, spi_out, .. } = event {
//!             println!("IPsec SA pair up: in {spi_in:#010x} out {spi_out:#010x}");
//!         }
//!     }
//!     while let Some(inner) = driver.recv_packet() {
//!         // write `inner` to a TUN device ...
//! #       let _ = inner;
//!     }
//! }
//! ```

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ipsec_proto::time::Instant;
use ipsec_proto::tunnel::{CoreOptions, Dest, TunVerdict, Tunnel, TunnelError, TunnelEvent};

/// Largest datagram the driver reads or writes.
const MAX_DATAGRAM: usize = 65_535;

/// Why a driver could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The IOS configuration does not parse or cannot run.
    #[error("configuration: {0}")]
    Config(#[from] TunnelError),
    /// The sockets are not bound to one IPv4 address on ports 500 and 4500.
    #[error("sockets must be bound to one IPv4 address, ports 500 and 4500")]
    Sockets,
}

/// The tunnel and its two sockets. See the module documentation.
#[derive(Debug)]
pub struct TunnelDriver {
    tunnel: Tunnel,
    sock500: UdpSocket,
    sock4500: UdpSocket,
    local: Ipv4Addr,
    epoch: std::time::Instant,
    received: VecDeque<Vec<u8>>,
    /// Datagrams that could not be sent (plain ESP, or a socket error the peer's
    /// retransmission or our rekey will cover).
    unsent: u64,
    buf: Vec<u8>,
}

impl TunnelDriver {
    /// Runs the IOS configuration `ios` on UDP 500 and 4500 of its crypto interface's address
    /// (or `opts.local_addr`).
    pub fn bind(ios: &str, opts: CoreOptions) -> Result<Self, DriverError> {
        let tunnel = Tunnel::from_ios(ios, opts)?;
        let local = tunnel
            .tunnels()
            .entries()
            .first()
            .map_or(Ipv4Addr::UNSPECIFIED, |e| e.local);
        let s500 = UdpSocket::bind((local, 500))?;
        let s4500 = UdpSocket::bind((local, 4500))?;
        Self::new(tunnel, s500, s4500)
    }

    /// Wraps already-bound sockets (for example bound inside another network namespace), one
    /// IPv4 address, ports 500 and 4500.
    pub fn new(
        tunnel: Tunnel,
        sock500: UdpSocket,
        sock4500: UdpSocket,
    ) -> Result<Self, DriverError> {
        let (SocketAddr::V4(a), SocketAddr::V4(b)) =
            (sock500.local_addr()?, sock4500.local_addr()?)
        else {
            return Err(DriverError::Sockets);
        };
        if a.ip() != b.ip() || a.port() != 500 || b.port() != 4500 {
            return Err(DriverError::Sockets);
        }
        sock500.set_nonblocking(true)?;
        sock4500.set_nonblocking(true)?;
        Ok(TunnelDriver {
            tunnel,
            sock500,
            sock4500,
            local: *a.ip(),
            epoch: std::time::Instant::now(),
            received: VecDeque::new(),
            unsent: 0,
            buf: vec![0u8; MAX_DATAGRAM],
        })
    }

    /// The tunnel's clock: milliseconds since the driver was created (monotonic).
    pub fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The tunnel (show snapshots, entries, counters, the endpoint's read-only view).
    pub fn tunnel(&self) -> &Tunnel {
        &self.tunnel
    }

    /// The tunnel, for commands (`clear_sa`, `delete_sa`, `rekey_sa`, `clear_isakmp`,
    /// `shutdown`, `reconfigure_ios`) and hooks (`set_keylog`, `copy_ike_events`); the next
    /// [`Self::step`] or [`Self::flush`] sends what the commands queued.
    pub fn tunnel_mut(&mut self) -> &mut Tunnel {
        &mut self.tunnel
    }

    /// Our address.
    pub fn local(&self) -> Ipv4Addr {
        self.local
    }

    /// Datagrams the driver could not send (plain ESP, socket errors).
    pub fn unsent(&self) -> u64 {
        self.unsent
    }

    /// Protects an inner IPv4 packet and sends it; without an SA pair yet the packet is
    /// dropped and IKE starts (see [`TunVerdict`]).
    pub fn send_packet(&mut self, inner: &[u8]) -> io::Result<TunVerdict> {
        let now = self.now();
        let verdict = self.tunnel.handle_plaintext(now, inner);
        self.drain()?;
        Ok(verdict)
    }

    /// The next decrypted inner packet.
    pub fn recv_packet(&mut self) -> Option<Vec<u8>> {
        self.received.pop_front()
    }

    /// One turn of the loop: waits at most `max_wait` (less when the tunnel has a deadline
    /// sooner), feeds what arrived and the timers to the tunnel, sends its datagrams, queues
    /// its inner packets and returns its events.
    pub fn step(&mut self, max_wait: Duration) -> io::Result<Vec<TunnelEvent>> {
        let now = self.now();
        let wait = self
            .tunnel
            .poll_timeout()
            .map_or(max_wait, |t| t.saturating_duration_since(now).min(max_wait));
        self.wait_readable(wait)?;
        self.read(false)?;
        self.read(true)?;
        let now = self.now();
        if self.tunnel.poll_timeout().is_some_and(|t| t <= now) {
            self.tunnel.handle_timeout(now);
        }
        self.flush()
    }

    /// Steps until `done` holds for the events collected so far (appended to `events`) or
    /// `timeout` passes; returns whether `done` held.
    pub fn run_until(
        &mut self,
        timeout: Duration,
        events: &mut Vec<TunnelEvent>,
        mut done: impl FnMut(&Self, &[TunnelEvent]) -> bool,
    ) -> io::Result<bool> {
        let until = std::time::Instant::now() + timeout;
        while !done(self, events) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let new = self.step(left.min(Duration::from_millis(200)))?;
            events.extend(new);
        }
        Ok(true)
    }

    /// Sends the datagrams and queues the inner packets the tunnel has, then returns its
    /// events (call after a command on [`Self::tunnel_mut`]).
    pub fn flush(&mut self) -> io::Result<Vec<TunnelEvent>> {
        self.drain()?;
        Ok(std::iter::from_fn(|| self.tunnel.poll_event()).collect())
    }

    /// Datagrams first, then inner packets: the tunnel's documented order.
    fn drain(&mut self) -> io::Result<()> {
        // A 64 KiB buffer holds any datagram: `Err` cannot happen and ends the loop.
        while let Ok(Some(t)) = self.tunnel.poll_transmit(&mut self.buf) {
            let Dest::Udp { local, remote } = t.dest else {
                self.unsent += 1;
                continue;
            };
            let sock = if local.port() == 500 {
                &self.sock500
            } else {
                &self.sock4500
            };
            match sock.send_to(&self.buf[..t.len], remote) {
                Ok(_) => {}
                // A lost datagram is the protocol's business (retransmission, rekey).
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    self.unsent += 1
                }
                Err(e) => return Err(e),
            }
        }
        while let Ok(Some(n)) = self.tunnel.poll_plaintext(&mut self.buf) {
            self.received.push_back(self.buf[..n].to_vec());
        }
        Ok(())
    }

    /// Blocks until a socket is readable or `wait` passes.
    fn wait_readable(&self, wait: Duration) -> io::Result<()> {
        let mut fds =
            [self.sock500.as_raw_fd(), self.sock4500.as_raw_fd()].map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        let ms = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Feeds every datagram waiting on one socket to the tunnel.
    fn read(&mut self, nat_t: bool) -> io::Result<()> {
        let local = SocketAddrV4::new(self.local, if nat_t { 4500 } else { 500 });
        loop {
            let sock = if nat_t { &self.sock4500 } else { &self.sock500 };
            let (n, from) = match sock.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // An ICMP port unreachable from an earlier send, or a signal: read on.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            let SocketAddr::V4(remote) = from else {
                continue;
            };
            let now = self.now();
            // Every drop is counted by the tunnel and shown by `show crypto`.
            let _ = self.tunnel.handle_udp(now, local, remote, &self.buf[..n]);
            self.drain()?;
        }
    }
}
