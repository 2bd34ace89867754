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
    /// `ip unnumbered IF`: the interface borrows IF's address.
    pub unnumbered: Option<String>,
    /// `ip mtu N`.
    pub ip_mtu: Option<u16>,
    /// The `tunnel ...` commands of a `TunnelN` interface (`None` on other interfaces).
    pub tunnel: Option<TunnelConfig>,
    /// `crypto ipsec df-bit clear|set|copy` on this interface: overrides the global setting for
    /// the crypto map applied here.
    pub df_bit: Option<super::ipsec::DfBit>,
    /// `crypto ipsec client ezvpn NAME [inside]`: the Easy VPN client profile NAME runs on
    /// this (outside) interface, or this is its inside LAN interface.
    pub ezvpn: Option<(String, bool)>,
}

/// `tunnel source IF | A`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunnelSource {
    /// `tunnel source GigabitEthernet0/0`: that interface's address.
    Interface(String),
    /// `tunnel source 198.51.100.80`.
    Address(Ipv4Addr),
}

/// `tunnel mode ...` of a tunnel interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TunnelMode {
    /// GRE, the IOS default (with `tunnel protection`: GRE over IPsec, not implemented).
    #[default]
    Gre,
    /// `tunnel mode ipsec ipv4`: a static virtual tunnel interface (VTI).
    IpsecIpv4,
    /// Any other mode, by its words (`gre multipoint`, `ipsec ipv6`, `ipip`).
    Other(String),
}

/// The tunnel side of an `interface TunnelN`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelConfig {
    /// `tunnel source`.
    pub source: Option<TunnelSource>,
    /// `tunnel destination A`.
    pub destination: Option<Ipv4Addr>,
    /// `tunnel mode`.
    pub mode: TunnelMode,
    /// `tunnel protection ipsec profile NAME`.
    pub protection: Option<String>,
    /// `keepalive [S [R]]` was given (GRE keepalives; no effect in IPsec mode).
    pub keepalive: bool,
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
            unnumbered: None,
            ip_mtu: None,
            tunnel: None,
            df_bit: None,
            ezvpn: None,
        }
    }

    /// `N` of an interface named `TunnelN`.
    pub fn tunnel_number(&self) -> Option<u32> {
        tunnel_number(&self.name)
    }

    /// True for a route-based IPsec tunnel (static VTI): `TunnelN` in `tunnel mode ipsec ipv4`.
    pub fn is_vti(&self) -> bool {
        self.tunnel_number().is_some()
            && self
                .tunnel
                .as_ref()
                .is_some_and(|t| t.mode == TunnelMode::IpsecIpv4)
    }
}

/// `N` of an interface name `TunnelN` (as IOS canonicalises it).
pub fn tunnel_number(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("Tunnel")?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
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
