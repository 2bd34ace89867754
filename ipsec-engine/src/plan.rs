//! From configuration facts and command-line options to an [`EngineConfig`], plus the warnings
//! an operator should read (static routes the host does not have).

use crate::engine::{
    map_interfaces, vti_device_name, EngineConfig, InterfaceMap, MapError, VtiConfig,
};
use crate::ios_facts::IosFacts;
use crate::nat::NatOverload;
use crate::sys::ifaddr::IfAddr;
use crate::sys::route::{check_route, HostRoute, RouteCheck, StaticNextHop};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Command-line choices of `ipsec-engine run`.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `--map-interface IOS=LINUX`.
    pub map: Vec<(String, String)>,
    /// `--tun NAME`.
    pub tun_name: Option<String>,
    /// `--control PATH`.
    pub control: Option<PathBuf>,
    /// `--apply-nat`.
    pub apply_nat: bool,
    /// `--mark N`.
    pub mark: Option<u32>,
    /// `--table N`.
    pub table: Option<u32>,
    /// `--underlay-table N`.
    pub underlay_table: Option<u32>,
    /// `--force-udp-encaps`: ESP in UDP 4500 even without a NAT (applied to the configuration
    /// at start and at every reload by [`RunOptions::apply_to`]).
    pub force_udp_encaps: bool,
    /// `--key-dir DIR`: private keys (`LABEL.pem`) and CRLs (`TRUSTPOINT.crl`) of the
    /// trustpoints, read at start and at every reload.
    pub key_dir: Option<PathBuf>,
}

impl RunOptions {
    /// Applies the options that change the IOS configuration rather than the host plumbing:
    /// `--force-udp-encaps` has no IOS command, so it is set here on what was parsed.
    pub fn apply_to(&self, config: &mut ipsec_proto::policy::GatewayConfig) {
        if self.force_udp_encaps {
            config.ipsec.force_udp_encaps = true;
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No interface has `crypto map NAME` and none is a static VTI.
    #[error("no interface carries a crypto map or is a static VTI (tunnel mode ipsec ipv4)")]
    NoCryptoInterface,
    /// An interface could not be matched to a Linux interface.
    #[error(transparent)]
    Map(#[from] MapError),
    /// `ip nat ... list N` names an ACL that does not exist.
    #[error("ip nat inside source list {0}: no such access list")]
    NoSuchAcl(String),
    /// `tunnel source A` names an address no interface of this host has.
    #[error("interface {0}: tunnel source {1} is not an address of this host")]
    TunnelSource(String, std::net::Ipv4Addr),
    /// A VTI lacks what its TUN needs.
    #[error("interface {0}: {1}")]
    Vti(String, String),
    /// Several local addresses are served and one comes from an interface without a configured
    /// address (`ip address dhcp`): the tunnel layer is given one address to use instead of
    /// the configuration's, not one per interface.
    #[error(
        "interface {0}: ip address dhcp|negotiated (the host has {1}) works when it is the only \
         local address in use; here there are several (crypto map interfaces, tunnel sources)"
    )]
    DynamicWithSeveral(String, std::net::Ipv4Addr),
    /// Several local addresses are served, and one of them is not the configured one: the
    /// core takes every address from the configuration, so it must match the host.
    #[error(
        "interface {ios}: the configuration says {configured}, the host has {host} on {linux}; \
         with several local addresses (crypto map interfaces, tunnel sources) every one must be \
         the host's own"
    )]
    Renumbered {
        /// IOS name.
        ios: String,
        /// Linux name.
        linux: String,
        /// `ip address` of the configuration.
        configured: std::net::Ipv4Addr,
        /// The host's address used instead.
        host: std::net::Ipv4Addr,
    },
}

/// The plan and what the operator should be told.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Engine setup.
    pub config: EngineConfig,
    /// IOS to Linux interface names.
    pub interfaces: Vec<InterfaceMap>,
    /// Warnings (configuration lines skipped, routes missing on the host, NAT not applied).
    pub warnings: Vec<String>,
    /// The local address the tunnel layer should use instead of the configured ones
    /// ([`ipsec_proto::tunnel::CoreOptions::local_addr`]): the one address served when there
    /// is one (labs renumber), `None` when several are (each is then the configured one).
    pub core_local: Option<std::net::Ipv4Addr>,
}

/// Builds the plan. Interfaces that are neither the crypto interface nor a NAT or route
/// interface are only mapped if they can be (a LAN interface absent on a lab host is fine).
pub fn plan(
    facts: &IosFacts,
    opts: &RunOptions,
    host_addrs: &[IfAddr],
    host_routes: &[HostRoute],
) -> Result<Plan, PlanError> {
    let mut warnings: Vec<String> = facts
        .warnings
        .iter()
        .map(|(n, m)| format!("line {n}: {m}"))
        .collect();
    let cryptos: Vec<&crate::ios_facts::IosInterface> = facts
        .interfaces
        .iter()
        .filter(|i| i.crypto_map.is_some())
        .collect();
    if cryptos.is_empty() && facts.vtis.is_empty() {
        return Err(PlanError::NoCryptoInterface);
    }
    let mut interfaces: Vec<InterfaceMap> = Vec::new();
    // (IOS interface, configured address, address served): one per local address in use.
    let mut locals: Vec<(String, Option<Ipv4Addr>, Ipv4Addr)> = Vec::new();
    for c in &cryptos {
        let m = map_interfaces(
            &[(c.name.clone(), c.addr.map(|a| a.0))],
            &opts.map,
            host_addrs,
        )?;
        let addr = m
            .first()
            .and_then(|m| m.addr)
            .ok_or_else(|| MapError::Unaddressed(c.name.clone()))?;
        locals.push((c.name.clone(), c.addr.map(|a| a.0), addr));
        interfaces.extend(m);
    }
    for ifc in facts
        .interfaces
        .iter()
        .filter(|i| i.crypto_map.is_none() && !facts.vtis.iter().any(|v| v.name == i.name))
    {
        if let Ok(mut m) = map_interfaces(
            &[(ifc.name.clone(), ifc.addr.map(|a| a.0))],
            &opts.map,
            host_addrs,
        ) {
            interfaces.append(&mut m);
        }
    }
    // The address an IOS interface has on this host (mapped, or by its configured address).
    let served = |ios: &str,
                  interfaces: &[InterfaceMap]|
     -> Result<(Ipv4Addr, Option<Ipv4Addr>), PlanError> {
        if let Some(m) = interfaces.iter().find(|m| m.ios.eq_ignore_ascii_case(ios)) {
            let configured = facts
                .interfaces
                .iter()
                .find(|i| i.name.eq_ignore_ascii_case(ios))
                .and_then(|i| i.addr.map(|a| a.0));
            return m
                .addr
                .map(|a| (a, configured))
                .ok_or_else(|| MapError::Unaddressed(ios.to_string()).into());
        }
        Err(MapError::Unaddressed(ios.to_string()).into())
    };
    // `crypto map M local-address IF`: the map's IKE and ESP use IF's address instead of the
    // address of the interface the map is applied to.
    for (ios, conf, a) in locals.iter_mut() {
        let map = cryptos
            .iter()
            .find(|c| c.name == *ios)
            .and_then(|c| c.crypto_map.as_ref());
        if let Some(ifc) = map.and_then(|m| facts.map_local_addresses.get(m)) {
            if !ifc.eq_ignore_ascii_case(ios) {
                let (served_addr, configured) = served(ifc, &interfaces)?;
                *a = served_addr;
                *conf = configured;
                *ios = ifc.clone();
            }
        }
    }
    let mut vtis = Vec::new();
    for v in &facts.vtis {
        let dev = vti_device_name(v.number).ok_or_else(|| {
            PlanError::Vti(
                v.name.clone(),
                "tunnel number too large for a Linux name".into(),
            )
        })?;
        match &v.source {
            Some(Ok(a)) => {
                if crate::sys::ifaddr::interface_with_address(host_addrs, *a).is_none() {
                    return Err(PlanError::TunnelSource(v.name.clone(), *a));
                }
                locals.push((v.name.clone(), Some(*a), *a));
            }
            Some(Err(ifc)) => {
                let (a, configured) = served(ifc, &interfaces)?;
                locals.push((ifc.clone(), configured, a));
            }
            None => {
                return Err(PlanError::Vti(v.name.clone(), "no tunnel source".into()));
            }
        }
        let addr = match (&v.addr, &v.unnumbered) {
            (Some((a, n)), _) => Some((*a, n.prefix())),
            (None, Some(u)) => Some((served(u, &interfaces)?.0, 32)),
            (None, None) => None,
        };
        interfaces.push(InterfaceMap {
            ios: v.name.clone(),
            linux: dev.clone(),
            addr: addr.map(|a| a.0),
        });
        vtis.push(VtiConfig {
            number: v.number,
            dev,
            addr,
            mtu: v.mtu.map(u32::from),
            destination: v.destination,
            routes: Vec::new(),
            admin_down: v.shutdown,
        });
    }
    let mut addrs: Vec<Ipv4Addr> = Vec::new();
    for (_, _, a) in &locals {
        if !addrs.contains(a) {
            addrs.push(*a);
        }
    }
    let core_local = match addrs.as_slice() {
        [one] => Some(*one),
        _ => {
            for (ios, configured, a) in &locals {
                if configured.is_none() {
                    return Err(PlanError::DynamicWithSeveral(ios.clone(), *a));
                }
                if let Some(c) = configured.filter(|c| c != a) {
                    let linux = interfaces
                        .iter()
                        .find(|m| m.ios == *ios)
                        .map(|m| m.linux.clone())
                        .unwrap_or_default();
                    return Err(PlanError::Renumbered {
                        ios: ios.clone(),
                        linux,
                        configured: c,
                        host: *a,
                    });
                }
            }
            None
        }
    };
    let Some(&local) = addrs.first() else {
        return Err(PlanError::NoCryptoInterface);
    };
    let linux_of = |ios: &str| {
        interfaces
            .iter()
            .find(|m| m.ios.eq_ignore_ascii_case(ios))
            .map(|m| m.linux.clone())
    };

    for r in &facts.routes {
        if let StaticNextHop::Interface(i) = &r.next_hop {
            if let Some(v) = facts
                .vtis
                .iter()
                .position(|v| v.name.eq_ignore_ascii_case(i))
                .and_then(|k| vtis.get_mut(k))
            {
                // IOS's default distance of a static route is 1.
                v.routes.push((r.dst, u32::from(r.distance.unwrap_or(1))));
                continue;
            }
        }
        let hop = match &r.next_hop {
            StaticNextHop::Interface(i) => match linux_of(i) {
                Some(l) => StaticNextHop::Interface(l),
                None => {
                    warnings.push(format!(
                        "ip route {} {i}: interface not mapped to Linux",
                        r.dst
                    ));
                    continue;
                }
            },
            a => a.clone(),
        };
        let shown = match &r.next_hop {
            StaticNextHop::Address(a) => a.to_string(),
            StaticNextHop::Interface(i) => i.clone(),
        };
        match check_route(host_routes, r.dst, &hop) {
            RouteCheck::Present => {}
            RouteCheck::Differs(h) => warnings.push(format!(
                "ip route {} {shown}: the host routes it via {} dev {} (not applied; check the host)",
                r.dst,
                h.gateway.map(|g| g.to_string()).unwrap_or_else(|| "direct".into()),
                h.dev
            )),
            RouteCheck::Missing(cover) => warnings.push(format!(
                "ip route {} {shown}: the host has no such route{} (not applied; check the host)",
                r.dst,
                cover
                    .map(|c| format!(", it uses {} dev {}", c.dst, c.dev))
                    .unwrap_or_default()
            )),
        }
    }

    let mut nat = Vec::new();
    for n in &facts.nat {
        if !opts.apply_nat {
            warnings.push(format!(
                "ip nat inside source list {} interface {} overload: not applied (use --apply-nat)",
                n.acl, n.interface
            ));
            continue;
        }
        let acl = facts
            .acls
            .get(&n.acl)
            .ok_or_else(|| PlanError::NoSuchAcl(n.acl.clone()))?;
        let out =
            linux_of(&n.interface).ok_or_else(|| MapError::Unaddressed(n.interface.clone()))?;
        nat.push(NatOverload {
            out_interface: out,
            acl: acl.clone(),
        });
    }

    if !host_forwarding_ipv4() {
        warnings.push(
            "net.ipv4.ip_forward is 0: traffic from the LAN will not be routed into the tunnel \
             (the engine does not change it)"
                .into(),
        );
    }
    let mut config = EngineConfig::new(local);
    for c in &cryptos {
        for n in facts.protected_networks(c) {
            if !config.protected.contains(&n) {
                config.protected.push(n);
            }
        }
    }
    config.crypto_tun = !cryptos.is_empty();
    config.extra_local_addrs = addrs.get(1..).unwrap_or(&[]).to_vec();
    // The one local address comes from an interface without a configured one: follow it.
    if core_local.is_some() {
        config.follow_interface = locals
            .iter()
            .find(|(_, configured, _)| configured.is_none())
            .and_then(|(ios, _, _)| Some((ios.clone(), linux_of(ios)?)));
    }
    config.vtis = vtis;
    config.underlay_peers = facts.ezvpn_peers.clone();
    config.nat = nat;
    if let Some(t) = &opts.tun_name {
        config.tun_name = t.clone();
    }
    if let Some(c) = &opts.control {
        config.control = Some(c.clone());
    }
    if let Some(m) = opts.mark {
        config.mark = m;
    }
    if let Some(t) = opts.table {
        config.table = t;
    }
    if let Some(t) = opts.underlay_table {
        config.underlay_table = t;
    }
    Ok(Plan {
        config,
        interfaces,
        warnings,
        core_local,
    })
}

/// True if the calling thread's namespace forwards IPv4 (false if unreadable).
pub fn host_forwarding_ipv4() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1")
}

/// What a new plan changes in the host plumbing set up at start (the local address the
/// sockets are bound to, the protected networks routed into the TUN, the NAT statements), which
/// `reload` cannot change without a restart; `None` when it changes none of it. The address
/// of a followed `ip address dhcp|negotiated` interface is no plumbing: the loop moves the
/// sockets itself ([`crate::addr_watch`]), so it may differ from the one at start.
pub fn plumbing_change(running: &EngineConfig, new: &EngineConfig) -> Option<String> {
    let followed = running.follow_interface.is_some()
        && running.follow_interface == new.follow_interface
        && running.extra_local_addrs.is_empty()
        && new.extra_local_addrs.is_empty();
    if !followed && running.local_addrs() != new.local_addrs() {
        let list = |v: Vec<Ipv4Addr>| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some(format!(
            "the local addresses served change from [{}] to [{}]",
            list(running.local_addrs()),
            list(new.local_addrs())
        ));
    }
    if running.vtis != new.vtis {
        return Some("the tunnel interfaces (address, MTU, destination or routes) change".into());
    }
    if running.protected != new.protected {
        let list = |v: &[crate::net::Ipv4Net]| {
            v.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some(format!(
            "the protected networks routed into the TUN change from [{}] to [{}]",
            list(&running.protected),
            list(&new.protected)
        ));
    }
    if running.nat != new.nat {
        return Some("the `ip nat inside source` statements change".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const VTI: &str = "\
crypto isakmp key k address 192.0.2.1
crypto isakmp key k address 192.0.2.9
crypto ipsec transform-set T esp-aes esp-sha-hmac
crypto ipsec profile P
 set transform-set T
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 198.51.101.1 255.255.255.0
interface Loopback0
 ip address 10.9.9.9 255.255.255.255
interface Tunnel0
 ip address 169.254.0.1 255.255.255.252
 ip mtu 1400
 tunnel source GigabitEthernet0/0
 tunnel mode ipsec ipv4
 tunnel destination 192.0.2.1
 tunnel protection ipsec profile P
interface Tunnel1
 ip unnumbered Loopback0
 tunnel source 198.51.101.1
 tunnel mode ipsec ipv4
 tunnel destination 192.0.2.9
 tunnel protection ipsec profile P
ip route 10.2.0.0 255.255.0.0 Tunnel0
ip route 10.2.0.0 255.255.0.0 Tunnel1 250
";

    fn ifa(name: &str, a: [u8; 4], p: u8) -> IfAddr {
        IfAddr {
            name: name.into(),
            addr: a.into(),
            net: crate::net::Ipv4Net::new(a.into(), p).unwrap(),
        }
    }

    fn vti_plan(host: &[IfAddr]) -> Result<Plan, PlanError> {
        let parsed = ipsec_proto::ios::parse(VTI).unwrap();
        let facts = crate::gateway::facts(&parsed.config);
        plan(&facts, &RunOptions::default(), host, &[])
    }

    #[test]
    fn vtis_get_a_tun_each_and_every_tunnel_source_is_served() {
        let host = [
            ifa("eth0", [198, 51, 100, 1], 24),
            ifa("eth1", [198, 51, 101, 1], 24),
            ifa("lo", [10, 9, 9, 9], 32),
        ];
        let p = vti_plan(&host).unwrap();
        let c = &p.config;
        assert!(!c.crypto_tun, "no crypto map: no crypto-map TUN");
        assert_eq!(
            c.local_addrs(),
            vec![
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(198, 51, 101, 1)
            ]
        );
        assert_eq!(p.core_local, None, "two addresses: each the configured one");
        let t0 = &c.vtis[0];
        assert_eq!(
            (t0.dev.as_str(), t0.addr, t0.mtu, t0.destination),
            (
                "Tunnel0",
                Some((Ipv4Addr::new(169, 254, 0, 1), 30)),
                Some(1400),
                Some(Ipv4Addr::new(192, 0, 2, 1))
            )
        );
        assert_eq!(t0.routes, vec![("10.2.0.0/16".parse().unwrap(), 1)]);
        let t1 = &c.vtis[1];
        assert_eq!(
            t1.addr,
            Some((Ipv4Addr::new(10, 9, 9, 9), 32)),
            "unnumbered"
        );
        assert_eq!(t1.routes, vec![("10.2.0.0/16".parse().unwrap(), 250)]);
        assert!(p
            .interfaces
            .iter()
            .any(|m| m.ios == "Tunnel1" && m.linux == "Tunnel1"));
    }

    #[test]
    fn a_tunnel_source_without_an_address_takes_the_hosts_with_a_mapping() {
        let text = VTI
            .replace(
                " ip address 198.51.100.1 255.255.255.0\n",
                " ip address dhcp\n",
            )
            .replace(
                " tunnel source 198.51.101.1\n",
                " tunnel source GigabitEthernet0/0\n",
            );
        let parsed = ipsec_proto::ios::parse(&text).unwrap();
        let facts = crate::gateway::facts(&parsed.config);
        let host = [
            ifa("eth0", [192, 0, 2, 77], 24),
            ifa("lo", [10, 9, 9, 9], 32),
        ];
        let e = plan(&facts, &RunOptions::default(), &host, &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("--map-interface GigabitEthernet0/0=DEV"),
            "{e}"
        );
        let opts = RunOptions {
            map: vec![("GigabitEthernet0/0".into(), "eth0".into())],
            ..RunOptions::default()
        };
        let p = plan(&facts, &opts, &host, &[]).unwrap();
        assert_eq!(p.config.local_addrs(), vec![Ipv4Addr::new(192, 0, 2, 77)]);
        assert_eq!(p.core_local, Some(Ipv4Addr::new(192, 0, 2, 77)));
        assert_eq!(
            p.config.follow_interface,
            Some(("GigabitEthernet0/0".into(), "eth0".into())),
            "the engine follows the dhcp interface's address"
        );
    }

    #[test]
    fn a_crypto_map_on_two_interfaces_serves_both_addresses() {
        let text = "\
crypto isakmp key k address 192.0.2.1
crypto ipsec transform-set T esp-aes esp-sha-hmac
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto map M 10 ipsec-isakmp
 set peer 192.0.2.1
 set transform-set T
 match address 101
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
 crypto map M
interface GigabitEthernet0/1
 ip address 198.51.101.1 255.255.255.0
 crypto map M
";
        let parsed = ipsec_proto::ios::parse(text).unwrap();
        let facts = crate::gateway::facts(&parsed.config);
        let host = [
            ifa("eth0", [198, 51, 100, 1], 24),
            ifa("eth1", [198, 51, 101, 1], 24),
        ];
        let p = plan(&facts, &RunOptions::default(), &host, &[]).unwrap();
        assert!(p.config.crypto_tun);
        assert_eq!(
            p.config.local_addrs(),
            vec![
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(198, 51, 101, 1)
            ]
        );
        assert_eq!(p.config.protected, vec!["10.2.0.0/16".parse().unwrap()]);
        // Renumbered by a mapping while several addresses are served: refused by name.
        let host = [
            ifa("eth0", [198, 51, 100, 1], 24),
            ifa("eth1", [198, 51, 102, 9], 24),
        ];
        let opts = RunOptions {
            map: vec![("GigabitEthernet0/1".into(), "eth1".into())],
            ..RunOptions::default()
        };
        let e = plan(&facts, &opts, &host, &[]).unwrap_err();
        assert!(matches!(e, PlanError::Renumbered { .. }), "{e}");
    }

    #[test]
    fn a_tunnel_source_the_host_lacks_is_refused_by_name() {
        let host = [
            ifa("eth0", [198, 51, 100, 1], 24),
            ifa("lo", [10, 9, 9, 9], 32),
        ];
        let e = vti_plan(&host).unwrap_err();
        assert!(
            matches!(e, PlanError::TunnelSource(ref n, _) if n == "Tunnel1"),
            "{e}"
        );
        assert!(e.to_string().contains("198.51.101.1"), "{e}");
    }

    #[test]
    fn a_crypto_map_local_address_is_the_address_served() {
        let text = "\
crypto isakmp policy 1
 authentication pre-share
crypto isakmp key k0123456789abcdef address 192.0.2.1
crypto ipsec transform-set T esp-aes esp-sha-hmac
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto map M 10 ipsec-isakmp
 set peer 192.0.2.1
 set transform-set T
 match address 101
crypto map M local-address Loopback0
interface Loopback0
 ip address 10.9.9.9 255.255.255.255
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
 crypto map M
";
        let parsed = ipsec_proto::ios::parse(text).unwrap();
        let facts = crate::gateway::facts(&parsed.config);
        let host = [
            ifa("eth0", [198, 51, 100, 1], 24),
            ifa("lo", [10, 9, 9, 9], 32),
        ];
        let p = plan(&facts, &RunOptions::default(), &host, &[]).unwrap();
        assert_eq!(p.config.local_addrs(), vec![Ipv4Addr::new(10, 9, 9, 9)]);
        let built = crate::gateway::build(&parsed.config, None).unwrap();
        assert!(
            crate::gateway::unserved_local_addresses(&built.entries, &p.config.local_addrs())
                .is_empty()
        );
        // Served on the interface's own address only, the entry would be refused by name.
        let u = crate::gateway::unserved_local_addresses(
            &built.entries,
            &[Ipv4Addr::new(198, 51, 100, 1)],
        );
        assert!(u[0].contains("local-address Loopback0"), "{u:?}");
    }
}
