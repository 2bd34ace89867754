//! Linux system interfaces: every `unsafe` block of the engine lives under this module, each at a
//! single syscall.

pub mod addr_events;
pub mod clock;
pub mod epoll;
pub mod ifaddr;
pub mod pmtu;
pub mod raw_esp;
pub mod route;
pub mod signal;
pub mod tun;
pub mod udp;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Turns a `-1` syscall return into the errno as `io::Error`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`] for calls returning `ssize_t`.
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `sockaddr_in` for an IPv4 socket address (network byte order fields).
pub(crate) fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Inverse of [`sockaddr_in`].
pub(crate) fn from_sockaddr_in(sa: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    )
}

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its exact size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// What a socket's outgoing IPv4 headers carry in DF, changed only when it differs from the
/// last packet's: `IP_MTU_DISCOVER` is a socket option, not a per-packet one, so runs of
/// packets with the same DF share one setting (see [`crate::event_loop`]'s flush).
#[derive(Debug, Default)]
pub(crate) struct DfState(std::cell::Cell<Option<bool>>);

impl DfState {
    /// DF on the next packets of `fd`: `IP_PMTUDISC_WANT` (the Linux default: DF set, the
    /// kernel fragments only above a path MTU it learned) or `IP_PMTUDISC_DONT` (DF clear).
    pub(crate) fn set(&self, fd: libc::c_int, df: bool) -> io::Result<()> {
        if self.0.get() == Some(df) {
            return Ok(());
        }
        let v = if df {
            libc::IP_PMTUDISC_WANT
        } else {
            libc::IP_PMTUDISC_DONT
        };
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, v)?;
        self.0.set(Some(df));
        Ok(())
    }
}

/// Socket buffer size the engine asks for on its data-path sockets: a burst of full-size
/// packets arriving while the loop encrypts must not overflow the kernel default (~200 KiB),
/// since every such drop costs the tunnelled TCP a retransmission.
pub const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// Sets SO_RCVBUF and SO_SNDBUF to `bytes`, beyond the sysctl caps with the FORCE variants when
/// privileged; a refused size is not an error (the kernel default still works, only slower).
pub(crate) fn set_socket_buffers(fd: libc::c_int, bytes: libc::c_int) {
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, libc::SOL_SOCKET, force, bytes).is_err() {
            let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, bytes);
        }
    }
}

/// An `ifreq` with the name filled in; fails if the name does not fit IFNAMSIZ.
pub(crate) fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "interface name {name:?} must be 1..{} bytes",
                libc::IFNAMSIZ - 1
            ),
        ));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// Sends up to [`udp::MAX_BATCH`] datagrams from `msgs` on `fd` with one sendmmsg(2), without
/// blocking; returns how many the kernel took (0 if the socket buffer is full). Shared by the UDP
/// and raw ESP sockets.
pub(crate) fn send_mmsg<'a>(
    fd: std::os::fd::RawFd,
    msgs: impl IntoIterator<Item = (&'a [u8], SocketAddrV4)>,
) -> io::Result<usize> {
    use tun::would_block_is_none;
    use udp::MAX_BATCH;
    // SAFETY: plain old data; all-zero is valid.
    let mut names: [libc::sockaddr_in; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let mut count = 0;
    for (i, (data, to)) in msgs.into_iter().take(MAX_BATCH).enumerate() {
        names[i] = sockaddr_in(to);
        iovs[i].iov_base = data.as_ptr() as *mut libc::c_void;
        iovs[i].iov_len = data.len();
        count = i + 1;
    }
    for i in 0..count {
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut names[i] as *mut libc::sockaddr_in).cast();
        h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = &mut iovs[i];
        h.msg_iovlen = 1;
    }
    if count == 0 {
        return Ok(0);
    }
    // SAFETY: `hdrs[..count]` point at live names and iovecs over the caller's slices
    // (only read by sendmmsg), all outliving the call.
    let r = unsafe {
        libc::sendmmsg(
            fd,
            hdrs.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    Ok(would_block_is_none(cvt(r))?.map_or(0, |n| n as usize))
}
