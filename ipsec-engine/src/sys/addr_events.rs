//! A netlink socket subscribed to the kernel's IPv4 address notifications (`RTM_NEWADDR`,
//! `RTM_DELADDR`, group `RTMGRP_IPV4_IFADDR`): readable when any interface's address changed.
//! The messages are not parsed; the reader looks at the addresses again (getifaddrs), which
//! also covers a lost notification (`ENOBUFS` when the socket overflowed).

use super::cvt;
use super::tun::would_block_is_none;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The subscribed socket.
#[derive(Debug)]
pub struct AddrEvents {
    fd: OwnedFd,
}

impl AddrEvents {
    /// Opens the socket and joins the IPv4 address group (non-blocking, close-on-exec).
    pub fn open() -> io::Result<AddrEvents> {
        // SAFETY: plain socket(2) call.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; all-zero is valid (pid 0: the kernel assigns).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = libc::RTMGRP_IPV4_IFADDR as u32;
        // SAFETY: `sa` is a valid sockaddr_nl and the length is its size.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        Ok(AddrEvents { fd })
    }

    /// Reads every pending notification; true when there was at least one (or the socket
    /// overflowed and some were lost: the caller must look either way).
    pub fn drain(&self) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        let mut any = false;
        loop {
            // SAFETY: `buf` is writable for its length.
            let r = super::cvt_size(unsafe {
                libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
            });
            match would_block_is_none(r) {
                Ok(Some(_)) => any = true,
                Ok(None) => return Ok(any),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => any = true,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsRawFd for AddrEvents {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
