//! The few facts of an IOS configuration that the host plumbing needs: interfaces and their
//! addresses, which interface carries which crypto map, the crypto ACLs (whose destinations are
//! routed into the TUN), `ip route` lines (checked against the host, never applied) and
//! `ip nat inside source list N interface X overload`.
//!
//! This is deliberately not the configuration parser: negotiation policy (ISAKMP policies,
//! transform sets, keys) is read by `ipsec_proto::ios`. Lines this module does not know are
//! skipped; known lines that do not parse are returned as warnings with their line number.
//! Indentation is not trusted (pasted configurations lose it); a sub-command belongs to the last
//! section header seen.

use crate::nat::{AclLine, Action, Proto};
use crate::net::Ipv4Net;
use crate::sys::route::StaticNextHop;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// An `interface` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IosInterface {
    /// IOS name as written (`FastEthernet4`).
    pub name: String,
    /// `ip address A M`.
    pub addr: Option<(Ipv4Addr, Ipv4Net)>,
    /// `crypto map NAME` applied to it.
    pub crypto_map: Option<String>,
}

/// One `crypto map NAME SEQ ipsec-isakmp` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CryptoMapEntry {
    /// Map name.
    pub name: String,
    /// Sequence number.
    pub seq: u32,
    /// `match address` ACL name or number.
    pub acl: Option<String>,
    /// `set peer` addresses.
    pub peers: Vec<Ipv4Addr>,
}

/// An `ip route` line; the next hop is an address or an IOS interface name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    /// Destination.
    pub dst: Ipv4Net,
    /// Next hop (an interface is still its IOS name here).
    pub next_hop: StaticNextHop,
    /// Administrative distance, if given (IOS's default for a static route is 1).
    pub distance: Option<u8>,
}

/// A static VTI (`interface TunnelN` in `tunnel mode ipsec ipv4`): what the host needs to give
/// it a TUN of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtiFacts {
    /// IOS name, `Tunnel0`.
    pub name: String,
    /// `N` of `TunnelN`.
    pub number: u32,
    /// `ip address A M`.
    pub addr: Option<(Ipv4Addr, Ipv4Net)>,
    /// `ip unnumbered IF`.
    pub unnumbered: Option<String>,
    /// `ip mtu N`.
    pub mtu: Option<u16>,
    /// `tunnel source A` (`Ok`) or `tunnel source IF` (`Err(IF)`).
    pub source: Option<Result<Ipv4Addr, String>>,
    /// `tunnel destination A`.
    pub destination: Option<Ipv4Addr>,
    /// `shutdown`.
    pub shutdown: bool,
}

/// `ip nat inside source list ACL interface IF overload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatStatement {
    /// ACL name or number.
    pub acl: String,
    /// IOS interface name.
    pub interface: String,
}

/// The facts, in configuration order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IosFacts {
    /// Interfaces.
    pub interfaces: Vec<IosInterface>,
    /// Crypto map entries.
    pub crypto_maps: Vec<CryptoMapEntry>,
    /// Access lists by name/number.
    pub acls: BTreeMap<String, Vec<AclLine>>,
    /// Static routes.
    pub routes: Vec<StaticRoute>,
    /// NAT overload statements.
    pub nat: Vec<NatStatement>,
    /// Lines that looked like one of the above but did not parse: (line number, message).
    pub warnings: Vec<(usize, String)>,
    /// Static VTIs (`interface TunnelN` in `tunnel mode ipsec ipv4`), each run on a TUN of
    /// its own (see [`crate::engine::VtiConfig`]).
    pub vtis: Vec<VtiFacts>,
    /// `crypto map NAME local-address IF`: the interface whose address a map's IKE and ESP use
    /// instead of the interface it is applied to.
    pub map_local_addresses: BTreeMap<String, String>,
    /// The servers of applied Easy VPN client profiles: a full-tunnel remote routes every
    /// network into the TUN, so the engine's own packets to them must stay on the underlay.
    pub ezvpn_peers: Vec<Ipv4Addr>,
}

enum Section {
    None,
    Interface(usize),
    CryptoMap(usize),
    NamedAcl(String),
}

fn mask_net(a: &str, m: &str) -> Option<(Ipv4Addr, Ipv4Net)> {
    let addr: Ipv4Addr = a.parse().ok()?;
    let mask: Ipv4Addr = m.parse().ok()?;
    Some((addr, Ipv4Net::from_mask(addr, mask).ok()?))
}

/// Parses `any` | `host A` | `A WILDCARD` from `w`, returning the network and words used.
fn acl_addr(w: &[&str]) -> Option<(Ipv4Net, usize)> {
    match *w.first()? {
        "any" => Some(("0.0.0.0/0".parse().ok()?, 1)),
        "host" => Some((Ipv4Net::host(w.get(1)?.parse().ok()?), 2)),
        a => {
            let addr: Ipv4Addr = a.parse().ok()?;
            match w.get(1).and_then(|x| x.parse::<Ipv4Addr>().ok()) {
                Some(wild) => Some((Ipv4Net::from_wildcard(addr, wild).ok()?, 2)),
                // Standard ACLs allow a bare address.
                None => Some((Ipv4Net::host(addr), 1)),
            }
        }
    }
}

/// Parses an ACL entry after the ACL name: `permit|deny [PROTO] SRC [DST ...]`. Standard ACLs
/// (no protocol) match on the source only. Port qualifiers are ignored (the NAT and routing uses
/// here are per network).
fn acl_entry(w: &[&str], extended: bool) -> Option<AclLine> {
    let action = match *w.first()? {
        "permit" => Action::Permit,
        "deny" => Action::Deny,
        _ => return None,
    };
    let any: Ipv4Net = "0.0.0.0/0".parse().ok()?;
    if !extended {
        let (src, _) = acl_addr(w.get(1..)?)?;
        return Some(AclLine {
            action,
            proto: Proto::Any,
            src,
            dst: any,
        });
    }
    let proto = match *w.get(1)? {
        "ip" => Proto::Any,
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        "esp" => Proto::Number(50),
        "gre" => Proto::Number(47),
        n => Proto::Number(n.parse().ok()?),
    };
    let rest = w.get(2..)?;
    let (src, used) = acl_addr(rest)?;
    let rest = rest.get(used..)?;
    // Skip a source port qualifier.
    let rest = skip_ports(rest);
    let (dst, _) = acl_addr(rest)?;
    Some(AclLine {
        action,
        proto,
        src,
        dst,
    })
}

fn skip_ports<'a>(w: &'a [&'a str]) -> &'a [&'a str] {
    match w.first() {
        Some(&"eq") | Some(&"gt") | Some(&"lt") | Some(&"neq") => w.get(2..).unwrap_or(&[]),
        Some(&"range") => w.get(3..).unwrap_or(&[]),
        _ => w,
    }
}

fn numbered_acl_is_extended(n: &str) -> bool {
    matches!(n.parse::<u32>(), Ok(100..=199) | Ok(2000..=2699))
}

/// Extracts the facts from configuration text.
pub fn parse(text: &str) -> IosFacts {
    let mut f = IosFacts::default();
    let mut sec = Section::None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.split('!').next().unwrap_or("").trim();
        let w: Vec<&str> = line.split_whitespace().collect();
        let mut warn = |m: &str| f.warnings.push((lineno, format!("{m}: {line}")));
        match w.as_slice() {
            [] => {}
            ["interface", name, ..] => {
                f.interfaces.push(IosInterface {
                    name: name.to_string(),
                    ..Default::default()
                });
                sec = Section::Interface(f.interfaces.len() - 1);
            }
            ["crypto", "map", name, seq, kind, ..] if kind.starts_with("ipsec-") => {
                match seq.parse() {
                    Ok(seq) => {
                        f.crypto_maps.push(CryptoMapEntry {
                            name: name.to_string(),
                            seq,
                            ..Default::default()
                        });
                        sec = Section::CryptoMap(f.crypto_maps.len() - 1);
                    }
                    Err(_) => warn("bad crypto map sequence number"),
                }
            }
            ["crypto", "map", name] => match sec {
                Section::Interface(k) => {
                    if let Some(ifc) = f.interfaces.get_mut(k) {
                        ifc.crypto_map = Some(name.to_string());
                    }
                }
                _ => warn("crypto map outside an interface"),
            },
            ["ip", "address", a, m, ..] if matches!(sec, Section::Interface(_)) => {
                match (mask_net(a, m), &sec) {
                    (Some(am), Section::Interface(k)) => {
                        if let Some(ifc) = f.interfaces.get_mut(*k) {
                            ifc.addr = Some(am);
                        }
                    }
                    _ => warn("bad interface address"),
                }
            }
            ["set", "peer", p, ..] => match (p.parse::<Ipv4Addr>(), &sec) {
                (Ok(a), Section::CryptoMap(k)) => {
                    if let Some(e) = f.crypto_maps.get_mut(*k) {
                        e.peers.push(a);
                    }
                }
                _ => warn("bad set peer"),
            },
            ["match", "address", acl] => match &sec {
                Section::CryptoMap(k) => {
                    if let Some(e) = f.crypto_maps.get_mut(*k) {
                        e.acl = Some(acl.to_string());
                    }
                }
                _ => warn("match address outside a crypto map"),
            },
            ["ip", "access-list", "extended", name] => {
                f.acls.entry(name.to_string()).or_default();
                sec = Section::NamedAcl(name.to_string());
            }
            ["access-list", n, rest @ ..] => {
                sec = Section::None;
                match acl_entry(rest, numbered_acl_is_extended(n)) {
                    Some(e) => f.acls.entry(n.to_string()).or_default().push(e),
                    None if rest.first() == Some(&"remark") => {}
                    None => warn("unsupported access-list line"),
                }
            }
            [first, ..]
                if (*first == "permit" || *first == "deny")
                    && matches!(sec, Section::NamedAcl(_)) =>
            {
                if let Section::NamedAcl(name) = &sec {
                    match acl_entry(&w, true) {
                        Some(e) => f.acls.entry(name.clone()).or_default().push(e),
                        None => warn("unsupported access-list line"),
                    }
                }
            }
            ["ip", "route", a, m, hop, ..] => {
                sec = Section::None;
                let dst = mask_net(a, m).map(|(_, n)| n);
                let next_hop = match hop.parse::<Ipv4Addr>() {
                    Ok(h) => StaticNextHop::Address(h),
                    Err(_) => StaticNextHop::Interface(hop.to_string()),
                };
                // `ip route P M IF [A] [distance]`: the last number, if any, is the distance.
                let distance = w.get(5..).and_then(|rest| {
                    rest.iter()
                        .rev()
                        .find_map(|x| x.parse::<u8>().ok().filter(|_| !x.contains('.')))
                });
                match dst {
                    Some(dst) => f.routes.push(StaticRoute {
                        dst,
                        next_hop,
                        distance,
                    }),
                    None => warn("bad ip route"),
                }
            }
            ["ip", "nat", "inside", "source", "list", acl, "interface", ifc, "overload"] => {
                sec = Section::None;
                f.nat.push(NatStatement {
                    acl: acl.to_string(),
                    interface: ifc.to_string(),
                });
            }
            ["ip", "nat", "inside", "source", ..] => {
                warn("only 'list N interface X overload' NAT is supported")
            }
            // Another unindented top-level command ends the section; sub-commands (known or
            // not) keep it, whatever their indentation.
            [first, ..]
                if !raw.starts_with(' ')
                    && !matches!(
                        *first,
                        "ip" | "set"
                            | "match"
                            | "permit"
                            | "deny"
                            | "duplex"
                            | "speed"
                            | "no"
                            | "description"
                            | "shutdown"
                    ) =>
            {
                sec = Section::None;
            }
            _ => {}
        }
    }
    f
}

impl IosFacts {
    /// The interface carrying a crypto map (the first one, as an 800-series has one WAN).
    pub fn crypto_interface(&self) -> Option<&IosInterface> {
        self.interfaces.iter().find(|i| i.crypto_map.is_some())
    }

    /// Remote protected networks: destinations of the permit lines of the ACLs matched by the
    /// crypto map on `ifc`, deduplicated, in order.
    pub fn protected_networks(&self, ifc: &IosInterface) -> Vec<Ipv4Net> {
        let mut out = Vec::new();
        let Some(map) = &ifc.crypto_map else {
            return out;
        };
        for e in self.crypto_maps.iter().filter(|e| &e.name == map) {
            let Some(lines) = e.acl.as_ref().and_then(|a| self.acls.get(a)) else {
                continue;
            };
            for l in lines.iter().filter(|l| l.action == Action::Permit) {
                if !out.contains(&l.dst) {
                    out.push(l.dst);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE_A: &str = "hostname siteA
!
crypto isakmp policy 1
 encr 3des
 authentication pre-share
 group 2
crypto isakmp key ciscokey address 203.0.113.2
crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 203.0.113.2
 set transform-set TRANSFORM
 match address 100
interface FastEthernet4
 ip address 198.51.100.2 255.255.255.0
 ip nat outside
 duplex auto
 crypto map VPN
interface Vlan1
 ip address 10.1.1.1 255.255.255.0
 ip nat inside
ip classless
ip route 0.0.0.0 0.0.0.0 198.51.100.1
ip nat inside source list 101 interface FastEthernet4 overload
access-list 100 permit ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255
access-list 101 deny   ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255
access-list 101 permit ip 10.1.1.0 0.0.0.255 any
access-list 101 permit tcp host 10.1.1.5 eq 80 any
";

    #[test]
    fn site_a_facts() {
        let f = parse(SITE_A);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        let wan = f.crypto_interface().unwrap();
        assert_eq!(wan.name, "FastEthernet4");
        assert_eq!(wan.addr.unwrap().0, Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(f.interfaces[1].crypto_map, None);
        assert_eq!(f.crypto_maps[0].peers, vec![Ipv4Addr::new(203, 0, 113, 2)]);
        let p: Vec<String> = f
            .protected_networks(wan)
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(p, vec!["10.2.2.0/24"]);
        assert_eq!(f.routes.len(), 1);
        assert_eq!(
            f.routes[0].next_hop,
            StaticNextHop::Address(Ipv4Addr::new(198, 51, 100, 1))
        );
        assert_eq!(
            f.nat,
            vec![NatStatement {
                acl: "101".into(),
                interface: "FastEthernet4".into()
            }]
        );
        let acl = &f.acls["101"];
        assert_eq!(acl.len(), 3);
        assert_eq!(acl[0].action, Action::Deny);
        assert_eq!(acl[2].proto, Proto::Tcp);
        assert_eq!(acl[2].src.to_string(), "10.1.1.5/32");
        assert_eq!(acl[2].dst.to_string(), "0.0.0.0/0");
    }

    #[test]
    fn broken_lines_warn() {
        let f = parse("interface Fa0\n ip address 1.2.3 255.0.0.0\nip route 10.0.0.0 255.0.255.0 1.1.1.1\naccess-list 100 permit ip bogus any\n");
        assert_eq!(f.warnings.len(), 3, "{:?}", f.warnings);
        assert_eq!(f.warnings[0].0, 2);
    }
}
