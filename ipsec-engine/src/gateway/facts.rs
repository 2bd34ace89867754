//! The host-plumbing facts ([`IosFacts`]: interfaces, crypto ACL destinations, routes, NAT) taken
//! from the real configuration parser's output, so `run` reads the configuration once.

use crate::ios_facts::{
    CryptoMapEntry, IosFacts, IosInterface, NatStatement, StaticRoute, VtiFacts,
};
use crate::nat::{AclLine, Action, Proto};
use crate::net::Ipv4Net;
use crate::sys::route::StaticNextHop;
use ipsec_proto::policy::{AclAction, AclProtocol, GatewayConfig, TunnelSource};

/// Reduces a parsed configuration to what [`crate::plan::plan`] needs. ACL lines whose
/// wildcards are not contiguous cannot become routes or nftables prefixes: they are left out
/// with a warning (line number 0: the parser's origins are per list, not per use here).
pub fn facts(cfg: &GatewayConfig) -> IosFacts {
    let mut f = IosFacts {
        vtis: cfg
            .vtis()
            .filter_map(|i| {
                let t = i.tunnel.as_ref()?;
                Some(VtiFacts {
                    name: i.name.clone(),
                    number: i.tunnel_number()?,
                    addr: i
                        .address
                        .and_then(|(a, m)| Ipv4Net::from_mask(a, m).ok().map(|n| (a, n))),
                    unnumbered: i.unnumbered.clone(),
                    mtu: i.ip_mtu,
                    source: t.source.as_ref().map(|s| match s {
                        TunnelSource::Address(a) => Ok(*a),
                        TunnelSource::Interface(n) => Err(n.clone()),
                    }),
                    destination: t.destination,
                    shutdown: i.shutdown,
                })
            })
            .collect(),
        map_local_addresses: cfg.map_local_addresses.clone(),
        ezvpn_peers: cfg
            .ezvpn_clients
            .iter()
            .filter(|z| {
                cfg.interfaces.iter().any(|i| {
                    i.ezvpn
                        .as_ref()
                        .is_some_and(|(n, inside)| *n == z.name && !inside)
                })
            })
            .flat_map(|z| z.peers.iter().copied())
            .collect(),
        ..IosFacts::default()
    };
    for i in &cfg.interfaces {
        f.interfaces.push(IosInterface {
            name: i.name.clone(),
            addr: i
                .address
                .and_then(|(a, m)| Ipv4Net::from_mask(a, m).ok().map(|n| (a, n))),
            // An Easy VPN remote's outside interface carries the entry the tunnel layer makes
            // of its profile (nothing is routed into the TUN for it until the server
            // configures the client).
            crypto_map: i.crypto_map.clone().or_else(|| {
                i.ezvpn
                    .as_ref()
                    .filter(|(_, inside)| !inside)
                    .map(|(n, _)| format!("ezvpn {n}"))
            }),
        });
    }
    for e in &cfg.crypto_maps {
        match &e.dynamic {
            // Each entry of the dynamic map protects its ACL's destinations for whichever
            // peer negotiates them: they are routed into the TUN like a static entry's.
            Some(d) => {
                for de in cfg.dynamic_map(d) {
                    f.crypto_maps.push(CryptoMapEntry {
                        name: e.map.clone(),
                        seq: u32::from(e.seq),
                        acl: de.acl.clone(),
                        peers: Vec::new(),
                    });
                }
            }
            None => f.crypto_maps.push(CryptoMapEntry {
                name: e.map.clone(),
                seq: u32::from(e.seq),
                acl: e.acl.clone(),
                peers: e.peers.clone(),
            }),
        }
    }
    for acl in &cfg.access_lists {
        let mut lines = Vec::new();
        for l in &acl.entries {
            let (Ok(src), Ok(dst)) = (
                Ipv4Net::from_wildcard(l.src.addr, l.src.wildcard),
                Ipv4Net::from_wildcard(l.dst.addr, l.dst.wildcard),
            ) else {
                f.warnings.push((
                    0,
                    format!(
                        "access-list {} line {}: wildcard not contiguous, ignored for routes and NAT",
                        acl.name, l.seq
                    ),
                ));
                continue;
            };
            let proto = match l.protocol {
                AclProtocol::Ip => Proto::Any,
                AclProtocol::Number(6) => Proto::Tcp,
                AclProtocol::Number(17) => Proto::Udp,
                AclProtocol::Number(1) => Proto::Icmp,
                AclProtocol::Number(n) => Proto::Number(n),
            };
            lines.push(AclLine {
                action: match l.action {
                    AclAction::Permit => Action::Permit,
                    AclAction::Deny => Action::Deny,
                },
                proto,
                src,
                dst,
            });
        }
        f.acls.insert(acl.name.clone(), lines);
    }
    for r in &cfg.routes {
        let Ok(dst) = Ipv4Net::from_mask(r.prefix, r.mask) else {
            f.warnings.push((
                0,
                format!("ip route {} {}: mask not contiguous", r.prefix, r.mask),
            ));
            continue;
        };
        let next_hop = match (&r.next_hop, &r.interface) {
            // A route into a VTI goes into it whatever next hop is named with it (a
            // point-to-point interface has no neighbours to choose from).
            (_, Some(i)) if f.vtis.iter().any(|v| v.name.eq_ignore_ascii_case(i)) => {
                StaticNextHop::Interface(i.clone())
            }
            (Some(a), _) => StaticNextHop::Address(*a),
            (None, Some(i)) => StaticNextHop::Interface(i.clone()),
            (None, None) => continue,
        };
        f.routes.push(StaticRoute {
            dst,
            next_hop,
            distance: r.distance,
        });
    }
    for n in &cfg.nat_rules {
        f.nat.push(NatStatement {
            acl: n.acl.clone(),
            interface: n.interface.clone(),
        });
    }
    f
}
