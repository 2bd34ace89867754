//! The kernel's path MTU towards a peer: the MTU of the route, lowered by what ICMP
//! fragmentation-needed messages answering our ESP/UDP packets taught it (a route exception).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// `IP_MTU` of a UDP socket from `local` connected to `peer` (no packet is sent).
pub fn path_mtu(local: Ipv4Addr, peer: Ipv4Addr) -> io::Result<u32> {
    let s = UdpSocket::bind(SocketAddrV4::new(local, 0))
        .or_else(|_| UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))?;
    s.connect(SocketAddrV4::new(peer, 500))?;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the c_int we own, on a socket we own.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(v).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_a_path_mtu() {
        let m = path_mtu(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST).unwrap();
        assert!(m >= 576, "{m}");
    }
}
