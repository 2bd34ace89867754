//! The host's IPv4 interface addresses (getifaddrs), used to match an IOS interface's
//! `ip address` to the Linux interface that holds it.

use crate::net::Ipv4Net;
use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;

/// One IPv4 address assigned to a Linux interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// Linux interface name.
    pub name: String,
    /// The address.
    pub addr: Ipv4Addr,
    /// The connected network (address with the interface's netmask).
    pub net: Ipv4Net,
}

/// Every IPv4 address of every interface in the calling thread's network namespace.
pub fn ipv4_addresses() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`, freed below with freeifaddrs.
    super::cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned and has not been freed; its
        // name is a NUL-terminated string and its addr/netmask, when non-null and AF_INET, are
        // sockaddr_in.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                && !ifa.ifa_netmask.is_null()
            {
                let sa = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                let nm = &*ifa.ifa_netmask.cast::<libc::sockaddr_in>();
                let addr = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
                let mask = Ipv4Addr::from(u32::from_be(nm.sin_addr.s_addr));
                if let Ok(net) = Ipv4Net::from_mask(addr, mask) {
                    out.push(IfAddr {
                        name: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                        addr,
                        net,
                    });
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The Linux interface holding `addr`, if any.
pub fn interface_with_address(addrs: &[IfAddr], addr: Ipv4Addr) -> Option<&IfAddr> {
    addrs.iter().find(|a| a.addr == addr)
}

/// Whether Linux interface `dev` is up with a link (`operstate` up, or `unknown` as loopback
/// and TUN devices report); false when it does not exist.
pub fn link_up(dev: &str) -> bool {
    if dev.contains('/') {
        return false;
    }
    std::fs::read_to_string(format!("/sys/class/net/{dev}/operstate"))
        .is_ok_and(|s| matches!(s.trim(), "up" | "unknown"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed() {
        let all = super::ipv4_addresses().unwrap();
        let lo = super::interface_with_address(&all, [127, 0, 0, 1].into()).unwrap();
        assert_eq!(lo.name, "lo");
        assert_eq!(lo.net.to_string(), "127.0.0.0/8");
    }
}
