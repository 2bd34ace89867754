//! ESP straight over IP (protocol 50) through a raw socket. The kernel has no ESP of its own here,
//! so it hands every protocol-50 packet to this socket, IPv4 header included; sends go out with a
//! kernel-built header (no IP_HDRINCL).

use super::tun::would_block_is_none;
use super::{cvt, cvt_size, setsockopt_int, sockaddr_in};
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// IP protocol number of ESP.
pub const IPPROTO_ESP: libc::c_int = 50;

/// A raw IPPROTO_ESP socket.
#[derive(Debug)]
pub struct RawEsp {
    fd: OwnedFd,
    local: Option<Ipv4Addr>,
    df: super::DfState,
}

/// Where one received ESP packet sits in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspRecv {
    /// Source address from the IPv4 header.
    pub src: Ipv4Addr,
    /// Destination address from the IPv4 header.
    pub dst: Ipv4Addr,
    /// Offset of the ESP header (the IPv4 header length).
    pub offset: usize,
    /// Length of the ESP part (SPI onwards).
    pub len: usize,
}

/// A raw packet that could not be an IPv4/ESP packet; dropped and counted by the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RawEspError {
    /// Shorter than an IPv4 header, or IHL outside 5..=15, or IHL beyond the read length.
    #[error("malformed IPv4 header on a protocol-50 packet")]
    BadIpHeader,
}

impl RawEsp {
    /// Opens the socket; `local` binds the source address (and filters the destination),
    /// `mark` sets SO_MARK.
    pub fn open(local: Option<Ipv4Addr>, mark: Option<u32>) -> io::Result<RawEsp> {
        // SAFETY: plain socket(2) call.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                IPPROTO_ESP,
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if let Some(m) = mark {
            setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_MARK, m as libc::c_int)?;
        }
        super::set_socket_buffers(raw, super::SOCKET_BUFFER);
        if let Some(ip) = local {
            let sa = sockaddr_in(SocketAddrV4::new(ip, 0));
            // SAFETY: `sa` is a valid sockaddr_in of the size passed.
            cvt(unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })?;
        }
        Ok(RawEsp {
            fd,
            local,
            df: super::DfState::default(),
        })
    }

    /// The bound local address, if any.
    pub fn local(&self) -> Option<Ipv4Addr> {
        self.local
    }

    /// Receives one packet into `buf` (IPv4 header included); `Ok(None)` when none is waiting,
    /// `Ok(Some(Err(_)))` for a packet whose IPv4 header does not parse.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Result<EspRecv, RawEspError>>> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the source address comes
        // from the IP header, so no sockaddr is needed.
        let r = cvt_size(unsafe {
            libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
        });
        let Some(n) = would_block_is_none(r)? else {
            return Ok(None);
        };
        Ok(Some(parse_ipv4(buf.get(..n).unwrap_or(&[]))))
    }

    /// Sends `esp` (SPI onwards) to `dst`.
    pub fn send_to(&self, esp: &[u8], dst: Ipv4Addr) -> io::Result<bool> {
        let sa = sockaddr_in(SocketAddrV4::new(dst, 0));
        // SAFETY: `esp` and `sa` are valid for the lengths passed.
        let r = cvt_size(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                esp.as_ptr().cast(),
                esp.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        });
        Ok(would_block_is_none(r)?.is_some())
    }
}

/// Receive buffers for [`RawEsp::recv_batch`], allocated once.
#[derive(Debug)]
pub struct EspBatch {
    data: Vec<u8>,
    slot: usize,
    lens: Vec<usize>,
}

impl EspBatch {
    /// `count` (at most [`crate::sys::udp::MAX_BATCH`]) slots of `slot` bytes each.
    pub fn new(count: usize, slot: usize) -> EspBatch {
        let count = count.clamp(1, super::udp::MAX_BATCH);
        EspBatch {
            data: vec![0; count * slot],
            slot,
            lens: Vec::with_capacity(count),
        }
    }

    /// Packets from the last call.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// True if the last call received nothing.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// The `i`-th packet (IPv4 header included) and where its ESP part is, or why not.
    pub fn get(&self, i: usize) -> Option<(&[u8], Result<EspRecv, RawEspError>)> {
        let len = *self.lens.get(i)?;
        let start = i * self.slot;
        let pkt = self.data.get(start..start + len)?;
        Some((pkt, parse_ipv4(pkt)))
    }
}

impl RawEsp {
    /// Receives up to the batch's slot count of packets with one recvmmsg(2); returns how many
    /// (0 when none is waiting).
    pub fn recv_batch(&self, b: &mut EspBatch) -> io::Result<usize> {
        const MAX: usize = super::udp::MAX_BATCH;
        b.lens.clear();
        let count = (b.data.len() / b.slot.max(1)).min(MAX);
        // SAFETY: plain old data; all-zero is valid.
        let mut iovs: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
        let base = b.data.as_mut_ptr();
        for i in 0..count {
            // The slots are disjoint `slot`-byte ranges of `data`, inside its length.
            iovs[i].iov_base = base.wrapping_add(i * b.slot).cast();
            iovs[i].iov_len = b.slot;
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `hdrs[..count]` point at iovecs over `data`, which outlives the call; no
        // names or control buffers are asked for.
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
        for h in hdrs.iter().take(n) {
            b.lens.push((h.msg_len as usize).min(b.slot));
        }
        Ok(n)
    }

    /// Sends up to [`crate::sys::udp::MAX_BATCH`] ESP packets (SPI onwards) with one
    /// sendmmsg(2); returns how many the kernel took.
    pub fn send_batch<'a>(
        &self,
        msgs: impl IntoIterator<Item = (&'a [u8], Ipv4Addr)>,
    ) -> io::Result<usize> {
        // Raw IP sockets ignore the port of the destination.
        let msgs = msgs
            .into_iter()
            .map(|(data, to)| (data, SocketAddrV4::new(to, 0)));
        super::send_mmsg(self.fd.as_raw_fd(), msgs)
    }
}

impl RawEsp {
    /// The DF bit of the packets sent next (`crypto ipsec df-bit`, see
    /// [`ipsec_proto::tunnel::Outputs::outer_df`]); a system call only when it changes.
    pub fn set_df(&self, df: bool) -> io::Result<()> {
        self.df.set(self.fd.as_raw_fd(), df)
    }
}

impl AsRawFd for RawEsp {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Finds the ESP payload inside a received IPv4 packet.
pub fn parse_ipv4(pkt: &[u8]) -> Result<EspRecv, RawEspError> {
    let b0 = *pkt.first().ok_or(RawEspError::BadIpHeader)?;
    if b0 >> 4 != 4 {
        return Err(RawEspError::BadIpHeader);
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return Err(RawEspError::BadIpHeader);
    }
    let addr = |at: usize| -> Result<Ipv4Addr, RawEspError> {
        let b: [u8; 4] = pkt
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or(RawEspError::BadIpHeader)?;
        Ok(Ipv4Addr::from(b))
    };
    Ok(EspRecv {
        src: addr(12)?,
        dst: addr(16)?,
        offset: ihl,
        len: pkt.len() - ihl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ipv4_header_with_options() {
        let mut p = vec![0u8; 24 + 8];
        p[0] = 0x46; // IHL 6 = 24 bytes
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 2]);
        let r = parse_ipv4(&p).unwrap();
        assert_eq!((r.offset, r.len), (24, 8));
        assert_eq!(r.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(r.dst, Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(parse_ipv4(&p[..10]), Err(RawEspError::BadIpHeader));
        p[0] = 0x44;
        assert_eq!(parse_ipv4(&p), Err(RawEspError::BadIpHeader));
        assert_eq!(parse_ipv4(&[]), Err(RawEspError::BadIpHeader));
    }
}
