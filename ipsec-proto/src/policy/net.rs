//! Interfaces, static routes and NAT: the router context a crypto map lives in.

use std::net::Ipv4Addr;

/// Which side of NAT an interface is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatSide {
    /// `ip nat inside`.
    Inside,
    /// `ip nat outside`.
    Outside,
}

/// `interface X` and the sub-commands we keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Interface name as written (`FastEthernet4`, `Vlan1`).
    pub name: String,
    /// `ip address A M`.
    pub address: Option<(Ipv4Addr, Ipv4Addr)>,
    /// `ip nat inside|outside`.
    pub nat: Option<NatSide>,
    /// `crypto map NAME`.
    pub crypto_map: Option<String>,
    /// `ip tcp adjust-mss N`.
    pub tcp_adjust_mss: Option<u16>,
    /// `description ...`.
    pub description: Option<String>,
    /// `shutdown`.
    pub shutdown: bool,
}

impl Interface {
    /// An interface with nothing configured.
    pub fn new(name: impl Into<String>) -> Self {
        Interface {
            name: name.into(),
            address: None,
            nat: None,
            crypto_map: None,
            tcp_adjust_mss: None,
            description: None,
            shutdown: false,
        }
    }
}

/// `ip route P M {next-hop | interface [next-hop]} [distance]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    /// Destination prefix.
    pub prefix: Ipv4Addr,
    /// Destination mask.
    pub mask: Ipv4Addr,
    /// Outgoing interface, if given.
    pub interface: Option<String>,
    /// Next-hop address, if given.
    pub next_hop: Option<Ipv4Addr>,
    /// Administrative distance, if given.
    pub distance: Option<u8>,
}

impl StaticRoute {
    /// Whether `dst` falls inside the route's prefix.
    pub fn covers(&self, dst: Ipv4Addr) -> bool {
        let m = u32::from(self.mask);
        u32::from(self.prefix) & m == u32::from(dst) & m
    }
}

/// `ip nat inside source list ACL interface IF overload` (PAT to the interface address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatRule {
    /// ACL selecting the inside sources to translate.
    pub acl: String,
    /// Interface whose address is used.
    pub interface: String,
    /// `overload` (port address translation).
    pub overload: bool,
}
