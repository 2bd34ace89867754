//! From configuration facts and command-line options to an [`EngineConfig`], plus the warnings
//! an operator should read (static routes the host does not have).

use crate::engine::{map_interfaces, EngineConfig, InterfaceMap, MapError};
use crate::ios_facts::IosFacts;
use crate::nat::NatOverload;
use crate::sys::ifaddr::IfAddr;
use crate::sys::route::{check_route, HostRoute, RouteCheck, StaticNextHop};
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
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No interface has `crypto map NAME`.
    #[error("no interface carries a crypto map")]
    NoCryptoInterface,
    /// An interface could not be matched to a Linux interface.
    #[error(transparent)]
    Map(#[from] MapError),
    /// `ip nat ... list N` names an ACL that does not exist.
    #[error("ip nat inside source list {0}: no such access list")]
    NoSuchAcl(String),
    /// Static VTIs: the tunnel layer (and the C and Python bindings) run them, the Linux
    /// plumbing they need is not there yet.
    #[error(
        "interface {}: static VTIs (tunnel mode ipsec ipv4) do not run in the Linux engine yet: \
         it lacks one TUN per tunnel interface (with its address, MTU and routes), an underlay \
         routing table that keeps its own IKE and ESP packets out of the tunnels, and route \
         withdrawal when a tunnel's line protocol goes down; embed the tunnel layer \
         (ipsec_proto::tunnel::Tunnels, ipsec_tunnel in C, ipsec.Tunnel in Python) to run them",
        .0.join(", ")
    )]
    Vti(Vec<String>),
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
    if !facts.vtis.is_empty() {
        return Err(PlanError::Vti(facts.vtis.clone()));
    }
    let crypto = facts
        .crypto_interface()
        .ok_or(PlanError::NoCryptoInterface)?;
    let wan = map_interfaces(
        &[(crypto.name.clone(), crypto.addr.map(|a| a.0))],
        &opts.map,
        host_addrs,
    )?;
    let local = wan
        .first()
        .and_then(|m| m.addr)
        .ok_or_else(|| MapError::Unaddressed(crypto.name.clone()))?;
    let mut interfaces = wan;
    for ifc in facts.interfaces.iter().filter(|i| i.name != crypto.name) {
        if let Ok(mut m) = map_interfaces(
            &[(ifc.name.clone(), ifc.addr.map(|a| a.0))],
            &opts.map,
            host_addrs,
        ) {
            interfaces.append(&mut m);
        }
    }
    let linux_of = |ios: &str| {
        interfaces
            .iter()
            .find(|m| m.ios.eq_ignore_ascii_case(ios))
            .map(|m| m.linux.clone())
    };

    for r in &facts.routes {
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
    config.protected = facts.protected_networks(crypto);
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
    Ok(Plan {
        config,
        interfaces,
        warnings,
    })
}

/// True if the calling thread's namespace forwards IPv4 (false if unreadable).
pub fn host_forwarding_ipv4() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1")
}

/// What a new plan changes in the host plumbing set up at start (the local address the
/// sockets are bound to, the protected networks routed into the TUN, the NAT statements), which
/// `reload` cannot change without a restart; `None` when it changes none of it.
pub fn plumbing_change(running: &EngineConfig, new: &EngineConfig) -> Option<String> {
    if running.local_addr != new.local_addr {
        return Some(format!(
            "the crypto interface address changes from {} to {}",
            running.local_addr, new.local_addr
        ));
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

    #[test]
    fn static_vtis_are_refused_naming_what_is_missing() {
        let text = "\
crypto isakmp key k address 192.0.2.1
crypto ipsec transform-set T esp-aes esp-sha-hmac
crypto ipsec profile P
 set transform-set T
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
interface Tunnel0
 ip address 169.254.0.1 255.255.255.252
 tunnel source GigabitEthernet0/0
 tunnel mode ipsec ipv4
 tunnel destination 192.0.2.1
 tunnel protection ipsec profile P
";
        let parsed = ipsec_proto::ios::parse(text).unwrap();
        let facts = crate::gateway::facts(&parsed.config);
        let e = plan(&facts, &RunOptions::default(), &[], &[]).unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, PlanError::Vti(_)), "{m}");
        for want in [
            "interface Tunnel0",
            "one TUN per tunnel interface",
            "underlay",
        ] {
            assert!(m.contains(want), "{want:?} in {m}");
        }
    }
}
