//! UDP sockets for IKE (500) and NAT-T (4500, IKE and UDP-encapsulated ESP on one socket; the
//! core's classifier tells them apart by the non-ESP marker).
//!
//! Non-blocking, SO_REUSEADDR so a restart does not wait for anything, SO_MARK so the engine's
//! own datagrams bypass the TUN routes (see [`crate::sys::route`]), IP_PKTINFO so every datagram
//! tells which local address it was sent to.

use super::tun::would_block_is_none;
use super::{cvt, cvt_size, from_sockaddr_in, setsockopt_int, sockaddr_in};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A bound, non-blocking UDP socket.
#[derive(Debug)]
pub struct UdpSock {
    fd: OwnedFd,
    local: SocketAddrV4,
    df: super::DfState,
}

/// One received datagram's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRecv {
    /// Bytes written into the caller's buffer.
    pub len: usize,
    /// Sender.
    pub remote: SocketAddrV4,
    /// Local address and port the datagram was addressed to (from IP_PKTINFO; the bound address
    /// when the kernel gave none).
    pub local: SocketAddrV4,
}

impl UdpSock {
    /// Binds `local`; `mark` sets SO_MARK (needs CAP_NET_ADMIN).
    pub fn bind(local: SocketAddrV4, mark: Option<u32>) -> io::Result<UdpSock> {
        // SAFETY: plain socket(2) call.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        setsockopt_int(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        // UDP 4500 carries ESP under NAT-T: the same bursts as the raw socket.
        super::set_socket_buffers(raw, super::SOCKET_BUFFER);
        if let Some(m) = mark {
            setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_MARK, m as libc::c_int)?;
        }
        let sa = sockaddr_in(local);
        // SAFETY: `sa` is a valid sockaddr_in of the size passed.
        cvt(unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        })?;
        let local = local_addr(raw)?;
        Ok(UdpSock {
            fd,
            local,
            df: super::DfState::default(),
        })
    }

    /// The bound address (with the kernel-chosen port if 0 was asked).
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// The SO_MARK currently set.
    pub fn mark(&self) -> io::Result<u32> {
        let mut v: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` and `len` are valid for writes and `len` holds v's size.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MARK,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        Ok(v as u32)
    }

    /// Receives one datagram into `buf`; `Ok(None)` when none is waiting. A datagram longer than
    /// `buf` is reported with `len == buf.len()` and must be treated as truncated by the caller
    /// (the engine's buffers are 64 KiB, the UDP maximum, so that does not happen there).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<UdpRecv>> {
        let mut from = MaybeUninit::<libc::sockaddr_in>::zeroed();
        // Room for one in_pktinfo control message; u64 array keeps it aligned for cmsghdr.
        let mut cbuf = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = from.as_mut_ptr().cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 8]>() as _;
        // SAFETY: every pointer in `msg` refers to a live buffer of the stated length.
        let r = cvt_size(unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) });
        let Some(len) = would_block_is_none(r)? else {
            return Ok(None);
        };
        // SAFETY: recvmsg filled `from` (AF_INET socket, namelen checked by the kernel).
        let remote = from_sockaddr_in(unsafe { from.assume_init_ref() });
        let mut local_ip = *self.local.ip();
        // SAFETY: CMSG_* walk the control buffer the kernel just filled, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                    let info =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                    local_ip = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(UdpRecv {
            len,
            remote,
            local: SocketAddrV4::new(local_ip, self.local.port()),
        }))
    }

    /// Sends one datagram. `Ok(false)` if the socket buffer is full (datagram dropped, as a
    /// router would).
    pub fn send_to(&self, data: &[u8], to: SocketAddrV4) -> io::Result<bool> {
        let sa = sockaddr_in(to);
        // SAFETY: `data` and `sa` are valid for the lengths passed.
        let r = cvt_size(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        });
        Ok(would_block_is_none(r)?.is_some())
    }
}

/// Most datagrams moved by one recvmmsg/sendmmsg call.
pub const MAX_BATCH: usize = 32;

/// Receive buffers for [`UdpSock::recv_batch`], allocated once: `count` slots of `slot` bytes.
#[derive(Debug)]
pub struct RecvBatch {
    data: Vec<u8>,
    slot: usize,
    meta: Vec<UdpRecv>,
    truncated: Vec<bool>,
}

impl RecvBatch {
    /// `count` (at most [`MAX_BATCH`]) slots of `slot` bytes each. 65 535-byte slots never
    /// truncate a UDP datagram.
    pub fn new(count: usize, slot: usize) -> RecvBatch {
        let count = count.clamp(1, MAX_BATCH);
        RecvBatch {
            data: vec![0; count * slot],
            slot,
            meta: Vec::with_capacity(count),
            truncated: Vec::with_capacity(count),
        }
    }

    /// Datagrams from the last call.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// True if the last call received nothing.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// The `i`-th datagram: addresses and bytes; `None` past the end or if it was truncated
    /// (longer than a slot).
    pub fn get(&self, i: usize) -> Option<(UdpRecv, &[u8])> {
        let m = *self.meta.get(i)?;
        if self.truncated.get(i).copied().unwrap_or(true) {
            return None;
        }
        let start = i * self.slot;
        Some((m, self.data.get(start..start + m.len)?))
    }
}

impl UdpSock {
    /// Receives up to the batch's slot count of datagrams with one recvmmsg(2); returns how many
    /// (0 when none is waiting).
    pub fn recv_batch(&self, b: &mut RecvBatch) -> io::Result<usize> {
        b.meta.clear();
        b.truncated.clear();
        let count = (b.data.len() / b.slot.max(1)).min(MAX_BATCH);
        // SAFETY: these are plain old data; all-zero is valid for each.
        let mut names: [libc::sockaddr_in; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let mut cbufs = [[0u64; 8]; MAX_BATCH];
        // SAFETY: as above.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let base = b.data.as_mut_ptr();
        for i in 0..count {
            // The slots are disjoint `slot`-byte ranges of `data`, inside its length.
            iovs[i].iov_base = base.wrapping_add(i * b.slot).cast();
            iovs[i].iov_len = b.slot;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = cbufs[i].as_mut_ptr().cast();
            h.msg_controllen = size_of::<[u64; 8]>() as _;
        }
        // SAFETY: `hdrs[..count]` point at live buffers (names, iovecs over `data`, control
        // buffers) of the stated lengths, all outliving the call.
        let r = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let n = match would_block_is_none(cvt(r))? {
            Some(n) => n as usize,
            None => return Ok(0),
        };
        for (h, name) in hdrs.iter().zip(names.iter()).take(n) {
            let mut local_ip = *self.local.ip();
            // SAFETY: CMSG_* walk the control buffer the kernel filled, within msg_controllen.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                        let info =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                        local_ip = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                    }
                    c = libc::CMSG_NXTHDR(&h.msg_hdr, c);
                }
            }
            b.truncated.push(h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0);
            b.meta.push(UdpRecv {
                len: (h.msg_len as usize).min(b.slot),
                remote: from_sockaddr_in(name),
                local: SocketAddrV4::new(local_ip, self.local.port()),
            });
        }
        Ok(n)
    }

    /// Sends up to [`MAX_BATCH`] datagrams from `msgs` with one sendmmsg(2); returns how many
    /// the kernel took (0 if the socket buffer is full). The caller retries or drops the rest.
    pub fn send_batch<'a>(
        &self,
        msgs: impl IntoIterator<Item = (&'a [u8], SocketAddrV4)>,
    ) -> io::Result<usize> {
        super::send_mmsg(self.fd.as_raw_fd(), msgs)
    }
}

impl UdpSock {
    /// The DF bit of the packets sent next (`crypto ipsec df-bit`, see
    /// [`ipsec_proto::tunnel::Outputs::outer_df`]); a system call only when it changes.
    pub fn set_df(&self, df: bool) -> io::Result<()> {
        self.df.set(self.fd.as_raw_fd(), df)
    }
}

impl AsRawFd for UdpSock {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// getsockname(2) for an AF_INET socket.
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SocketAddrV4> {
    let mut sa = MaybeUninit::<libc::sockaddr_in>::zeroed();
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa` is writable for `len` bytes.
    cvt(unsafe { libc::getsockname(fd, sa.as_mut_ptr().cast(), &mut len) })?;
    // SAFETY: zero-initialised and then filled by the kernel.
    Ok(from_sockaddr_in(unsafe { sa.assume_init_ref() }))
}
