//! UDP sockets for IKE (500) and NAT-T (4500, IKE and UDP-encapsulated ESP on one socket; the
//! core's classifier tells them apart by the non-ESP marker).
//!
//! Non-blocking, SO_REUSEADDR so a restart does not wait for anything, SO_MARK so the engine's
//! own datagrams bypass the TUN routes (see [`crate::sys::route`]), IP_PKTINFO so every datagram
//! tells which local address it was sent to.
//!
//! UDP segmentation offload both ways, when the kernel has it: [`UdpSock::send_segmented`] hands
//! runs of equal-sized datagrams to one peer to the kernel as one message (`UDP_SEGMENT`), which
//! walks the stack once and is cut into datagrams at the device (or by the NIC); with
//! [`UdpSock::enable_gro`] the kernel may deliver a train of such datagrams as one buffer, which
//! [`UdpRecv::segment`] says how to cut.

use super::tun::would_block_is_none;
use super::{cvt, cvt_size, from_sockaddr_in, setsockopt_int, sockaddr_in};
use std::cell::Cell;
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
    /// Whether segmented sends are tried: the kernel knows `UDP_SEGMENT` and no send refused
    /// it with EIO (a route through a device without checksum offload).
    gso: Cell<bool>,
    /// Segment size from which segmented sends are not tried: the smallest one the kernel
    /// refused as too large for the path MTU (such packets are sent, and fragmented, alone).
    gso_refused: Cell<usize>,
    /// `UDP_GRO` is on: received buffers may be trains of datagrams.
    gro: Cell<bool>,
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
    /// With [`UdpSock::enable_gro`]: the size of the datagrams the kernel coalesced into this
    /// buffer (every one but the last has exactly this size); 0 for a single datagram.
    pub segment: usize,
}

impl UdpRecv {
    /// The datagrams in `data` (the buffer this describes): `data` itself, or the segments of a
    /// coalesced train.
    pub fn datagrams<'a>(&self, data: &'a [u8]) -> std::slice::Chunks<'a, u8> {
        // A single datagram is one chunk of its own length (`max(1)`: chunks(0) would panic,
        // and an empty datagram then yields nothing).
        let size = if self.segment > 0 {
            self.segment
        } else {
            data.len().max(1)
        };
        data.chunks(size)
    }
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
        // Probing with size 0 (the socket default, "no segmentation unless a message asks")
        // tells whether the kernel knows the option: ENOPROTOOPT before Linux 4.18.
        let gso = setsockopt_int(raw, libc::SOL_UDP, libc::UDP_SEGMENT, 0).is_ok();
        Ok(UdpSock {
            fd,
            local,
            df: super::DfState::default(),
            gso: Cell::new(gso),
            gso_refused: Cell::new(usize::MAX),
            gro: Cell::new(false),
        })
    }

    /// Whether [`UdpSock::send_segmented`] coalesces (the kernel supports it and has not
    /// refused it on this socket's route).
    pub fn gso(&self) -> bool {
        self.gso.get()
    }

    /// Turns segmented sends off (or back on where the kernel supports them): for tests and for
    /// comparing the two paths.
    pub fn set_gso(&self, on: bool) {
        let supported =
            setsockopt_int(self.fd.as_raw_fd(), libc::SOL_UDP, libc::UDP_SEGMENT, 0).is_ok();
        self.gso.set(on && supported);
        self.gso_refused.set(usize::MAX);
    }

    /// Asks the kernel to deliver trains of equal-sized datagrams from one sender as one buffer
    /// (`UDP_GRO`, Linux 5.0): fewer trips through the stack for bulk ESP-in-UDP. Every
    /// receive then reports the segment size in [`UdpRecv::segment`], and the caller must cut
    /// the buffer ([`UdpRecv::datagrams`]). An error means the kernel lacks it; nothing changed.
    pub fn enable_gro(&self) -> io::Result<()> {
        self.set_gro(true)
    }

    /// [`UdpSock::enable_gro`], or turns it off again.
    pub fn set_gro(&self, on: bool) -> io::Result<()> {
        setsockopt_int(
            self.fd.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            libc::c_int::from(on),
        )?;
        self.gro.set(on);
        Ok(())
    }

    /// Whether [`UdpSock::enable_gro`] succeeded.
    pub fn gro(&self) -> bool {
        self.gro.get()
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
        // Room for the in_pktinfo and UDP_GRO control messages; u64 array keeps it aligned for
        // cmsghdr.
        let mut cbuf = [0u64; CMSG_WORDS];
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
        msg.msg_controllen = size_of::<[u64; CMSG_WORDS]>() as _;
        // SAFETY: every pointer in `msg` refers to a live buffer of the stated length.
        let r = cvt_size(unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) });
        let Some(len) = would_block_is_none(r)? else {
            return Ok(None);
        };
        // SAFETY: recvmsg filled `from` (AF_INET socket, namelen checked by the kernel).
        let remote = from_sockaddr_in(unsafe { from.assume_init_ref() });
        let (local_ip, segment) = self.control_info(&msg);
        Ok(Some(UdpRecv {
            len: len.min(buf.len()),
            remote,
            local: SocketAddrV4::new(local_ip, self.local.port()),
            segment,
        }))
    }

    /// The local address (IP_PKTINFO) and GRO segment size (0: none) in a received message's
    /// control buffer.
    fn control_info(&self, msg: &libc::msghdr) -> (Ipv4Addr, usize) {
        let mut local_ip = *self.local.ip();
        let mut segment = 0;
        // SAFETY: CMSG_* walk the control buffer the kernel just filled, within msg_controllen;
        // each payload is read unaligned at the type the kernel writes for that message.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(msg);
            while !c.is_null() {
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                        let info =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                        local_ip = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
                    }
                    (libc::SOL_UDP, libc::UDP_GRO) => {
                        let size =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                        segment = usize::try_from(size).unwrap_or(0);
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(msg, c);
            }
        }
        (local_ip, segment)
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

/// Most datagrams moved by one recvmmsg/sendmmsg call (messages, for segmented sends).
pub const MAX_BATCH: usize = 32;

/// Control buffer of one received message, in u64 words: an `in_pktinfo` message (32 bytes
/// with its header and padding) and a `UDP_GRO` one (24 bytes), with room to spare.
const CMSG_WORDS: usize = 12;

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
        let mut cbufs = [[0u64; CMSG_WORDS]; MAX_BATCH];
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
            h.msg_controllen = size_of::<[u64; CMSG_WORDS]>() as _;
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
            let (local_ip, segment) = self.control_info(&h.msg_hdr);
            b.truncated.push(h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0);
            b.meta.push(UdpRecv {
                len: (h.msg_len as usize).min(b.slot),
                remote: from_sockaddr_in(name),
                local: SocketAddrV4::new(local_ip, self.local.port()),
                segment,
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

/// Most datagrams the kernel accepts in one segmented message (`UDP_MAX_SEGMENTS`).
pub const GSO_MAX_SEGMENTS: usize = 64;

/// Most payload bytes of one segmented message: the kernel builds it as one IPv4 datagram before
/// cutting it, so payload, UDP header (8) and IPv4 header (20) must fit in IPv4's 65 535.
pub const GSO_MAX_BYTES: usize = 65_535 - 20 - 8;

/// Most datagrams one [`UdpSock::send_segmented`] call takes. [`MAX_BATCH`] full messages of
/// ~1400-byte ESP would be ~1500; 256 keeps the call's arrays a few KiB of stack and still
/// covers what one flush of the event loop usually holds for a peer.
pub const GSO_BATCH: usize = 256;

/// Control buffer of one segmented message, in u64 words: CMSG_SPACE of a u16 is 24 bytes.
const GSO_CMSG_WORDS: usize = 3;

/// What one [`UdpSock::send_segmented`] call did, in datagrams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentedSend {
    /// Datagrams taken from the iterator (at most [`GSO_BATCH`], fewer when [`MAX_BATCH`]
    /// messages were full first).
    pub taken: usize,
    /// Datagrams the kernel accepted, segments one by one; less than `taken` when a send failed
    /// or the socket buffer was full (the rest is dropped, as a router would).
    pub sent: usize,
    /// Segmented messages accepted (each of two or more datagrams).
    pub gso_messages: usize,
    /// Datagrams that went inside those messages.
    pub gso_segments: usize,
    /// Segmented messages the kernel refused (EMSGSIZE or EINVAL: a segment above the path
    /// MTU; EIO: no checksum offload on the route) and that went again as plain datagrams.
    pub fallbacks: usize,
}

/// One message of a segmented batch: a range of the iovecs, all to `to`.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    segs: usize,
    /// The first datagram's length: the segment size.
    size: usize,
    last: usize,
    bytes: usize,
    to: SocketAddrV4,
    coalesce: bool,
}

impl Span {
    /// Whether a datagram of `len` bytes for `to` may join this message: same peer, the
    /// segment size (only the last may be shorter, so nothing joins after a shorter one), and
    /// the kernel's limits on segment count and total size.
    fn takes(&self, len: usize, to: SocketAddrV4, may: bool) -> bool {
        self.coalesce
            && may
            && self.to == to
            && self.last == self.size
            && len > 0
            && len <= self.size
            && self.segs < GSO_MAX_SEGMENTS
            && self.bytes + len <= GSO_MAX_BYTES
    }
}

impl UdpSock {
    /// Sends datagrams `(payload, peer, may_coalesce)` in order like [`UdpSock::send_batch`],
    /// but hands each run of consecutive coalescable datagrams to the same peer with equal
    /// lengths (the last of a run may be shorter) to the kernel as one message with a
    /// `UDP_SEGMENT` control message: one trip through the IP stack for up to
    /// [`GSO_MAX_SEGMENTS`] datagrams, each still leaving as its own datagram. The payloads are
    /// not copied: each message gathers its datagrams' slices. Without kernel support (see
    /// [`UdpSock::gso`]) every datagram is its own message. A message the kernel refuses as
    /// segmented goes again as plain datagrams, and the socket then stops trying (EIO) or
    /// stops trying that size and above (EMSGSIZE, EINVAL: above the path MTU).
    pub fn send_segmented<'a>(
        &self,
        msgs: impl IntoIterator<Item = (&'a [u8], SocketAddrV4, bool)>,
    ) -> io::Result<SegmentedSend> {
        let gso = self.gso.get();
        let refused = self.gso_refused.get();
        let mut datas: [&[u8]; GSO_BATCH] = [&[]; GSO_BATCH];
        let unset = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let mut spans = [Span {
            first: 0,
            segs: 0,
            size: 0,
            last: 0,
            bytes: 0,
            to: unset,
            coalesce: false,
        }; MAX_BATCH];
        let mut nmsg = 0;
        let mut taken = 0;
        let mut it = msgs.into_iter().peekable();
        while let Some(&(data, to, may)) = it.peek() {
            if taken == GSO_BATCH {
                break;
            }
            let joins = nmsg > 0
                && spans
                    .get(nmsg - 1)
                    .is_some_and(|s| s.takes(data.len(), to, may));
            if !joins {
                let Some(s) = spans.get_mut(nmsg) else { break };
                *s = Span {
                    first: taken,
                    segs: 0,
                    size: data.len(),
                    last: data.len(),
                    bytes: 0,
                    to,
                    coalesce: gso
                        && may
                        && !data.is_empty()
                        && data.len() < refused
                        && data.len() <= usize::from(u16::MAX),
                };
                nmsg += 1;
            }
            if let (Some(s), Some(d)) = (spans.get_mut(nmsg - 1), datas.get_mut(taken)) {
                s.segs += 1;
                s.bytes += data.len();
                s.last = data.len();
                *d = data;
            }
            taken += 1;
            it.next();
        }
        let mut report = SegmentedSend {
            taken,
            ..SegmentedSend::default()
        };
        if nmsg == 0 {
            return Ok(report);
        }

        // SAFETY: plain old data; all-zero is valid.
        let mut iovs: [libc::iovec; GSO_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut names: [libc::sockaddr_in; MAX_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let mut cbufs = [[0u64; GSO_CMSG_WORDS]; MAX_BATCH];
        for (iov, d) in iovs.iter_mut().zip(&datas).take(taken) {
            iov.iov_base = d.as_ptr() as *mut libc::c_void;
            iov.iov_len = d.len();
        }
        let spans = spans.get(..nmsg).unwrap_or(&[]);
        for (((s, h), name), cbuf) in spans
            .iter()
            .zip(hdrs.iter_mut())
            .zip(names.iter_mut())
            .zip(cbufs.iter_mut())
        {
            *name = super::sockaddr_in(s.to);
            let h = &mut h.msg_hdr;
            h.msg_name = (name as *mut libc::sockaddr_in).cast();
            h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            // `first + segs <= taken <= GSO_BATCH`: the range lies inside `iovs`.
            h.msg_iov = iovs.as_mut_ptr().wrapping_add(s.first);
            h.msg_iovlen = s.segs as _;
            if s.segs > 1 {
                h.msg_control = cbuf.as_mut_ptr().cast();
                h.msg_controllen = size_of::<[u64; GSO_CMSG_WORDS]>() as _;
                // SAFETY: the control buffer is 24 bytes, aligned for cmsghdr, and
                // CMSG_SPACE(2) == 24: CMSG_FIRSTHDR returns its start and the header plus a
                // u16 of data fit inside it.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = libc::UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as _) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), s.size as u16);
                    h.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as _) as _;
                }
            }
        }

        let fd = self.fd.as_raw_fd();
        let mut start = 0;
        while start < nmsg {
            // SAFETY: `hdrs[start..nmsg]` point at live names, iovecs over the caller's slices
            // (only read by sendmmsg) and control buffers, all outliving the call.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs.as_mut_ptr().wrapping_add(start),
                    (nmsg - start) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            let err = match would_block_is_none(cvt(r)) {
                Ok(Some(n)) if n > 0 => {
                    for s in spans.iter().skip(start).take(n as usize) {
                        report.sent += s.segs;
                        if s.segs > 1 {
                            report.gso_messages += 1;
                            report.gso_segments += s.segs;
                        }
                    }
                    start += n as usize;
                    // Any further message's error shows at the next call.
                    continue;
                }
                // A full socket buffer: drop the rest.
                Ok(_) => break,
                Err(e) => e,
            };
            let Some(s) = spans.get(start) else { break };
            let code = err.raw_os_error();
            // A segment above the path MTU is refused with EMSGSIZE (EINVAL before Linux 6.x);
            // EIO says the route's device cannot checksum a segmented send.
            let size_refused = matches!(code, Some(libc::EMSGSIZE) | Some(libc::EINVAL));
            if s.segs < 2 || !(size_refused || code == Some(libc::EIO)) {
                if report.sent == 0 {
                    return Err(err);
                }
                break;
            }
            if code == Some(libc::EIO) {
                self.gso.set(false);
            } else {
                self.gso_refused.set(self.gso_refused.get().min(s.size));
            }
            report.fallbacks += 1;
            let plain = datas.get(s.first..s.first + s.segs).unwrap_or(&[]);
            let mut done = 0;
            while done < plain.len() {
                let rest = plain.get(done..).unwrap_or(&[]);
                match super::send_mmsg(fd, rest.iter().map(|d| (*d, s.to))) {
                    Ok(n) if n > 0 => done += n,
                    _ => break,
                }
            }
            report.sent += done;
            if done < plain.len() {
                break;
            }
            start += 1;
        }
        Ok(report)
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
