//! The TUN device that carries cleartext packets between the kernel's routing and the engine.
//!
//! Opened with IFF_TUN | IFF_NO_PI: every read/write is exactly one IP packet, no packet-info
//! header. The device is not persistent, so it disappears when the descriptor closes, even if the
//! engine is killed without running its cleanup.

use super::{cvt, cvt_size, ifreq_named};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An open TUN device.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    vnet: bool,
}

/// TUN_F_* offload flags (linux/if_tun.h) the engine can take: partial checksums and TCPv4
/// segmentation, ECN included (see [`crate::gso`]).
const TUN_OFFLOADS: libc::c_uint = 0x01 /* CSUM */ | 0x02 /* TSO4 */ | 0x08 /* TSO_ECN */;

impl Tun {
    /// Creates (or attaches to) TUN device `name`, non-blocking.
    pub fn open(name: &str) -> io::Result<Tun> {
        Tun::open_flags(name, false)
    }

    /// Like [`Tun::open`], with IFF_VNET_HDR and TCPv4 segmentation offload: reads may return
    /// 64 KiB TCP super-packets behind a `virtio_net_hdr`, which the caller splits with
    /// [`crate::gso::for_each_segment`]; [`Tun::send`] adds the (empty) header itself. Falls
    /// back to a plain device if the kernel refuses the offloads.
    pub fn open_offload(name: &str) -> io::Result<Tun> {
        let mut tun = Tun::open_flags(name, true)?;
        let flags = TUN_OFFLOADS as libc::c_ulong;
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        if cvt(unsafe { libc::ioctl(tun.fd.as_raw_fd(), libc::TUNSETOFFLOAD, flags) }).is_err() {
            drop(tun);
            tun = Tun::open_flags(name, false)?;
        }
        Ok(tun)
    }

    fn open_flags(name: &str, vnet: bool) -> io::Result<Tun> {
        let mut req = ifreq_named(name)?;
        let vnet_flag = if vnet { libc::IFF_VNET_HDR } else { 0 };
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | vnet_flag) as libc::c_short;
        // SAFETY: the path is a NUL-terminated literal.
        let raw = cvt(unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: `raw` was just returned by open and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: TUNSETIFF reads and writes an ifreq, which `req` is.
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) })?;
        // The kernel may have adjusted the name (e.g. a `%d` pattern); read it back.
        let name_bytes: Vec<u8> = req
            .ifr_name
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        Ok(Tun {
            fd,
            name: String::from_utf8_lossy(&name_bytes).into_owned(),
            vnet,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the MTU (SIOCSIFMTU).
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        let mut req = ifreq_named(&self.name)?;
        req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU out of range"))?;
        let sock = control_socket()?;
        // SAFETY: SIOCSIFMTU reads an ifreq, which `req` is.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, &req) }).map(drop)
    }

    /// Current MTU (SIOCGIFMTU).
    pub fn mtu(&self) -> io::Result<u32> {
        let mut req = ifreq_named(&self.name)?;
        let sock = control_socket()?;
        // SAFETY: SIOCGIFMTU writes into an ifreq, which `req` is.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) })?;
        // SAFETY: after SIOCGIFMTU the union holds the MTU.
        Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
    }

    /// Sets the transmit queue length (SIOCSIFTXQLEN): packets the kernel routed into the TUN
    /// wait there until the loop reads them, and overflow is dropped.
    pub fn set_txqueuelen(&self, len: u32) -> io::Result<()> {
        let mut req = ifreq_named(&self.name)?;
        // ifr_qlen shares the union slot of ifr_ifindex (both an int).
        req.ifr_ifru.ifru_ifindex = libc::c_int::try_from(len).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "queue length out of range")
        })?;
        let sock = control_socket()?;
        // SAFETY: SIOCSIFTXQLEN reads an ifreq, which `req` is.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFTXQLEN, &req) }).map(drop)
    }

    /// Brings the link up (IFF_UP via SIOCGIFFLAGS/SIOCSIFFLAGS).
    pub fn set_up(&self) -> io::Result<()> {
        let mut req = ifreq_named(&self.name)?;
        let sock = control_socket()?;
        // SAFETY: SIOCGIFFLAGS writes into an ifreq, which `req` is.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
        // SAFETY: after SIOCGIFFLAGS the union holds the flags.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
        // SAFETY: SIOCSIFFLAGS reads an ifreq, which `req` is.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
    }

    /// True if reads start with a `virtio_net_hdr` (opened by [`Tun::open_offload`]).
    pub fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    /// Reads one packet (behind a `virtio_net_hdr` if [`Tun::vnet_hdr`]); `Ok(None)` when none
    /// is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let r = cvt_size(unsafe {
            libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
        });
        would_block_is_none(r)
    }

    /// Writes one packet into the kernel (as if it arrived on this interface); returns the IP
    /// bytes written.
    pub fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        if !self.vnet {
            // SAFETY: `pkt` is valid for reads of `pkt.len()` bytes.
            return cvt_size(unsafe {
                libc::write(self.fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len())
            });
        }
        // No GSO, no checksum to complete: an all-zero header.
        let hdr = [0u8; crate::gso::VNET_HDR_LEN];
        let iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: pkt.as_ptr() as *mut libc::c_void,
                iov_len: pkt.len(),
            },
        ];
        // SAFETY: both iovecs describe live buffers that writev only reads.
        let n = cvt_size(unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), 2) })?;
        Ok(n.saturating_sub(hdr.len()))
    }
}

impl Tun {
    /// Writes a buffer that already starts with a `virtio_net_hdr` (a coalesced super-packet
    /// from [`crate::gso::build_super`]); only for a device opened with the header.
    pub fn send_vnet(&self, buf: &[u8]) -> io::Result<usize> {
        if !self.vnet {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TUN opened without IFF_VNET_HDR",
            ));
        }
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        cvt_size(unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Maps EAGAIN to `Ok(None)` for non-blocking reads.
pub(crate) fn would_block_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// An AF_INET datagram socket, the handle interface ioctls go through.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let raw =
        cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}
