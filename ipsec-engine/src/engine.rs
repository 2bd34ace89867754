//! Setting the gateway up on the host and taking it down again, in order.
//!
//! The engine never changes host addresses or default routes. It adds: one TUN device for the
//! crypto maps, routes for the remote protected networks in its own table plus one `not fwmark`
//! rule (see [`crate::sys::route`]), the routes reverse route injection asks for (main table,
//! protocol [`crate::sys::route::RTPROT_IPSEC_RRI`]; a dynamic map's learned networks in its
//! own table); per static VTI a TUN named after it with its address and MTU and its
//! `ip route ... TunnelN` routes (main table, while its line protocol is up), and the underlay
//! table and rule that keep the engine's own packets out of the tunnels
//! ([`crate::sys::route::Underlay`]); UDP 500/4500 and raw ESP sockets on every local address
//! in use; optionally one nftables table for NAT overload, and a control socket file. [`Engine::teardown`] removes them in reverse order after the core's Delete
//! notifications have been sent.

use crate::event_loop::{EventLoop, Gateway, LoopStats, StopReason};
use crate::nat::{self, NatGuard, NatOverload};
use crate::net::Ipv4Net;
use crate::sys::ifaddr::IfAddr;
use crate::sys::raw_esp::RawEsp;
use crate::sys::route::{self, Routing};
use crate::sys::signal::StopHandle;
use crate::sys::tun::Tun;
use crate::sys::udp::UdpSock;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

/// Everything the host plumbing needs, already reduced from the IOS configuration.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// TUN device name (default `ipsec0`).
    pub tun_name: String,
    /// Address of the interface carrying the crypto map: IKE and ESP sockets bind to it.
    pub local_addr: Ipv4Addr,
    /// IKE port (500).
    pub ike_port: u16,
    /// NAT-T port (4500).
    pub natt_port: u16,
    /// Open the raw protocol-50 socket (plain ESP).
    pub raw_esp: bool,
    /// Remote protected networks (crypto ACL destinations) routed into the TUN.
    pub protected: Vec<Ipv4Net>,
    /// SO_MARK of the engine's sockets.
    pub mark: u32,
    /// Routing table of the TUN routes.
    pub table: u32,
    /// Preference of the `not fwmark` rule.
    pub rule_pref: u32,
    /// Control socket path; `None` for no control socket.
    pub control: Option<PathBuf>,
    /// NAT overload statements to apply (empty: none).
    pub nat: Vec<NatOverload>,
    /// Watch SIGTERM/SIGINT (they must be blocked in every thread).
    pub signals: bool,
    /// Open the crypto-map TUN ([`EngineConfig::tun_name`]) and its `not fwmark` rule; false
    /// when no interface carries a crypto map (a VTI-only router).
    pub crypto_tun: bool,
    /// Further local addresses served besides [`EngineConfig::local_addr`] (several crypto-map
    /// interfaces, `tunnel source` of VTIs): each gets its own UDP 500/4500 and raw ESP sockets.
    pub extra_local_addrs: Vec<Ipv4Addr>,
    /// Static VTIs, one TUN each.
    pub vtis: Vec<VtiConfig>,
    /// Easy VPN servers: like tunnel destinations, their /32 goes into the underlay table (a
    /// full-tunnel remote routes 0.0.0.0/1 and 128.0.0.0/1 into the TUN).
    pub underlay_peers: Vec<Ipv4Addr>,
    /// Routing table the engine's own (marked) packets look up first: a /32 to each tunnel
    /// destination via the physical next hop, so that no route into a tunnel (a routing
    /// daemon's 0.0.0.0/0 or the peer's /32 through TunnelN) can take them.
    pub underlay_table: u32,
    /// Preference of the `fwmark MARK lookup UNDERLAY` rule.
    pub underlay_rule_pref: u32,
    /// The crypto interface whose host address the engine follows, (IOS name, Linux name):
    /// set when it is `ip address dhcp|negotiated` and [`EngineConfig::local_addr`] is the
    /// only local address (see [`crate::addr_watch`]).
    pub follow_interface: Option<(String, String)>,
}

/// One static VTI as the host runs it: IOS `interface TunnelN` becomes the TUN device
/// `TunnelN` (the same name, so that `ip route`, routing daemons and `show` agree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtiConfig {
    /// `N` of `TunnelN`.
    pub number: u32,
    /// Linux device name ([`vti_device_name`]).
    pub dev: String,
    /// Address and prefix length given to the TUN: `ip address`, or the borrowed address as a
    /// /32 for `ip unnumbered IF`.
    pub addr: Option<(Ipv4Addr, u8)>,
    /// `ip mtu` (else the core's plaintext MTU).
    pub mtu: Option<u32>,
    /// `tunnel destination`: its /32 goes into the underlay table.
    pub destination: Option<Ipv4Addr>,
    /// `ip route P M TunnelN [distance]`: installed in the main table with the distance as
    /// metric while the line protocol is up, withdrawn while it is down.
    pub routes: Vec<(Ipv4Net, u32)>,
    /// `shutdown`: the TUN exists but stays down (administratively down), so nothing is routed
    /// into it.
    pub admin_down: bool,
}

/// The Linux name of IOS `TunnelN`: `TunnelN` itself (at most 15 bytes, so N < 10^9).
pub fn vti_device_name(n: u32) -> Option<String> {
    let name = format!("Tunnel{n}");
    (name.len() < libc::IFNAMSIZ).then_some(name)
}

impl EngineConfig {
    /// Defaults for everything but the local address.
    pub fn new(local_addr: Ipv4Addr) -> EngineConfig {
        EngineConfig {
            tun_name: "ipsec0".into(),
            local_addr,
            ike_port: 500,
            natt_port: 4500,
            raw_esp: true,
            protected: Vec::new(),
            mark: route::DEFAULT_MARK,
            table: route::DEFAULT_TABLE,
            rule_pref: route::DEFAULT_RULE_PREF,
            control: Some(PathBuf::from(crate::control::DEFAULT_PATH)),
            nat: Vec::new(),
            signals: true,
            crypto_tun: true,
            extra_local_addrs: Vec::new(),
            vtis: Vec::new(),
            underlay_peers: Vec::new(),
            underlay_table: route::DEFAULT_UNDERLAY_TABLE,
            underlay_rule_pref: route::DEFAULT_UNDERLAY_RULE_PREF,
            follow_interface: None,
        }
    }

    /// Every local address served: [`EngineConfig::local_addr`] first.
    pub fn local_addrs(&self) -> Vec<Ipv4Addr> {
        let mut v = vec![self.local_addr];
        for a in &self.extra_local_addrs {
            if !v.contains(a) {
                v.push(*a);
            }
        }
        v
    }
}

/// A setup step that failed, with what it was doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Could not open or configure the TUN device.
    #[error("TUN device {name}: {source}")]
    Tun {
        /// Device name.
        name: String,
        /// Cause.
        source: io::Error,
    },
    /// Could not bind a socket.
    #[error("socket {what}: {source}")]
    Socket {
        /// Which socket.
        what: String,
        /// Cause.
        source: io::Error,
    },
    /// `ip route`/`ip rule` failed.
    #[error("routing: {0}")]
    Routing(io::Error),
    /// `nft` failed.
    #[error("NAT: {0}")]
    Nat(io::Error),
    /// The control socket could not be created.
    #[error("control socket: {0}")]
    Control(io::Error),
    /// The event loop failed (epoll or a socket read).
    #[error("event loop: {0}")]
    Loop(io::Error),
}

/// A running setup: the loop with its descriptors and the host state to remove.
pub struct Engine {
    event_loop: EventLoop,
    routing: Option<Routing>,
    underlay: Option<route::Underlay>,
    nat: Option<NatGuard>,
}

/// Router solicitations and the like would only be noise for the core: the tunnels carry
/// IPv4. Absent IPv6 support makes this fail, which is fine.
fn quiet_ipv6(dev: &str) {
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
}

/// Transmit queue of the TUN device (packets waiting to be protected).
const TUN_TXQUEUELEN: u32 = 2000;

impl Engine {
    /// Opens and configures everything; on failure, whatever was set up is removed again
    /// (the guards' destructors run).
    pub fn setup(cfg: &EngineConfig, tun_mtu: u32) -> Result<Engine, EngineError> {
        let mut event_loop = EventLoop::new().map_err(EngineError::Loop)?;
        // First, while no tunnel exists: the physical next hop of each tunnel destination.
        let mut destinations: Vec<Ipv4Addr> =
            cfg.vtis.iter().filter_map(|v| v.destination).collect();
        for p in &cfg.underlay_peers {
            if !destinations.contains(p) {
                destinations.push(*p);
            }
        }
        let underlay = if destinations.is_empty() {
            None
        } else {
            Some(
                route::Underlay::install(
                    cfg.mark,
                    cfg.underlay_table,
                    cfg.underlay_rule_pref,
                    &destinations,
                )
                .map_err(EngineError::Routing)?,
            )
        };
        let mut dev = None;
        if cfg.crypto_tun {
            let tun_err = |source| EngineError::Tun {
                name: cfg.tun_name.clone(),
                source,
            };
            let tun = Tun::open_offload(&cfg.tun_name).map_err(tun_err)?;
            tun.set_mtu(tun_mtu).map_err(tun_err)?;
            quiet_ipv6(tun.name());
            // The default 500 drops bursts the loop would absorb a moment later; a failure only
            // costs throughput.
            let _ = tun.set_txqueuelen(TUN_TXQUEUELEN);
            tun.set_up().map_err(tun_err)?;
            dev = Some(tun.name().to_string());
            event_loop.set_tun(tun).map_err(EngineError::Loop)?;
        }
        for v in &cfg.vtis {
            let tun_err = |source| EngineError::Tun {
                name: v.dev.clone(),
                source,
            };
            // No offloads: a VTI carries whatever the host routes, one packet per read.
            let tun = Tun::open(&v.dev).map_err(tun_err)?;
            tun.set_mtu(v.mtu.unwrap_or(tun_mtu)).map_err(tun_err)?;
            quiet_ipv6(tun.name());
            let _ = tun.set_txqueuelen(TUN_TXQUEUELEN);
            if let Some((a, len)) = v.addr {
                route::ip(&["addr", "add", &format!("{a}/{len}"), "dev", tun.name()])
                    .map_err(EngineError::Routing)?;
            }
            if !v.admin_down {
                tun.set_up().map_err(tun_err)?;
            }
            let routes = route::VtiRoutes::new(tun.name(), &v.routes);
            event_loop
                .add_vti(v.number, tun, routes)
                .map_err(EngineError::Loop)?;
        }

        for local in cfg.local_addrs() {
            for port in [cfg.ike_port, cfg.natt_port] {
                let addr = SocketAddrV4::new(local, port);
                let s =
                    UdpSock::bind(addr, Some(cfg.mark)).map_err(|source| EngineError::Socket {
                        what: format!("UDP {addr}"),
                        source,
                    })?;
                event_loop
                    .add_ike_udp(s, port == cfg.natt_port)
                    .map_err(EngineError::Loop)?;
            }
            if cfg.raw_esp {
                let s = RawEsp::open(Some(local), Some(cfg.mark)).map_err(|source| {
                    EngineError::Socket {
                        what: format!("raw ESP {local}"),
                        source,
                    }
                })?;
                event_loop.add_esp(s).map_err(EngineError::Loop)?;
            }
        }

        if let Some((ios, linux)) = &cfg.follow_interface {
            event_loop.watch_local_address(
                crate::addr_watch::AddrWatch::new(ios, linux, Some(cfg.local_addr)),
                crate::event_loop::SocketPlan {
                    ike_port: cfg.ike_port,
                    natt_port: cfg.natt_port,
                    raw_esp: cfg.raw_esp,
                    mark: cfg.mark,
                },
            );
        }

        let routing = match &dev {
            Some(dev) => {
                let mut routing = Routing::install(cfg.mark, cfg.table, cfg.rule_pref)
                    .map_err(EngineError::Routing)?;
                for net in &cfg.protected {
                    routing.add_route(*net, dev).map_err(EngineError::Routing)?;
                }
                event_loop.set_rri_routes(route::RriRoutes::new(dev, cfg.table, &cfg.protected));
                Some(routing)
            }
            None => None,
        };
        let nat = if cfg.nat.is_empty() {
            None
        } else {
            Some(nat::apply(&cfg.nat).map_err(EngineError::Nat)?)
        };
        if let Some(path) = &cfg.control {
            event_loop
                .listen_control(path)
                .map_err(EngineError::Control)?;
        }
        if cfg.signals {
            event_loop.watch_signals().map_err(EngineError::Loop)?;
        }
        Ok(Engine {
            event_loop,
            routing,
            underlay,
            nat,
        })
    }

    /// Stops [`Engine::run`] from another thread, as SIGTERM would.
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// The TUN device name.
    pub fn tun_name(&self) -> Option<&str> {
        self.event_loop.tun().map(Tun::name)
    }

    /// The VTI TUN device names.
    pub fn vti_names(&self) -> Vec<String> {
        self.event_loop.vti_names()
    }

    /// The underlay /32s installed: (tunnel destination, gateway, device).
    pub fn underlay_routes(&self) -> &[(Ipv4Addr, Option<Ipv4Addr>, String)] {
        self.underlay.as_ref().map_or(&[], |u| u.routes())
    }

    /// `run --resolv-conf PATH`: write the DNS servers and default domain an Easy VPN server
    /// pushes to `path` while the connection is configured; its previous content comes back
    /// when the connection goes down and when the engine stops.
    pub fn set_resolv_conf(&mut self, path: std::path::PathBuf) {
        self.event_loop
            .set_resolv_conf(crate::resolv_conf::ResolvConf::new(path));
    }

    /// IOS to Linux interface names, for `show ip interface brief`.
    pub fn set_interface_map(&mut self, map: Vec<(String, String)>) {
        self.event_loop.set_interface_map(map);
    }

    /// UDP segmentation offload on the NAT-T sockets (on by default; `run --no-udp-offload`),
    /// see [`EventLoop::set_udp_offload`].
    pub fn set_udp_offload(&mut self, on: bool) {
        self.event_loop.set_udp_offload(on);
    }

    /// The loop's counters.
    pub fn stats(&self) -> &LoopStats {
        self.event_loop.stats()
    }

    /// Where `reload` and SIGHUP read the new configuration.
    pub fn set_reload_source(&mut self, source: crate::event_loop::ReloadSource) {
        self.event_loop.set_reload_source(source);
    }

    /// Runs the loop until a signal or stop request (the core's shutdown output is sent).
    pub fn run<G: Gateway>(&mut self, gw: &mut G) -> Result<StopReason, EngineError> {
        self.event_loop.run(gw).map_err(EngineError::Loop)
    }

    /// Removes routes, the rule and the NAT table, then closes the TUN (which deletes it) and
    /// the control socket. Every step is attempted; the first failure is returned.
    pub fn teardown(mut self) -> Result<(), EngineError> {
        let mut first = Ok(());
        if let Some(mut r) = self.event_loop.take_rri_routes() {
            if let Err(e) = r.cleanup() {
                first = Err(EngineError::Routing(e));
            }
        }
        if let Some(e) = self.event_loop.withdraw_vti_routes().into_iter().next() {
            if first.is_ok() {
                first = Err(EngineError::Routing(io::Error::other(e)));
            }
        }
        if let Some(mut r) = self.routing.take() {
            if let Err(e) = r.cleanup() {
                first = Err(EngineError::Routing(e));
            }
        }
        if let Some(mut u) = self.underlay.take() {
            if let Err(e) = u.cleanup() {
                if first.is_ok() {
                    first = Err(EngineError::Routing(e));
                }
            }
        }
        if let Some(mut n) = self.nat.take() {
            if let Err(e) = n.remove() {
                if first.is_ok() {
                    first = Err(EngineError::Nat(e));
                }
            }
        }
        drop(self.event_loop);
        first
    }
}

/// An IOS interface matched to a Linux interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceMap {
    /// IOS name (`FastEthernet4`).
    pub ios: String,
    /// Linux name (`eth0`).
    pub linux: String,
    /// The address the configuration gives it, if any.
    pub addr: Option<Ipv4Addr>,
}

/// Why an IOS interface could not be matched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// No Linux interface holds the configured address and no `--map-interface` names one.
    #[error(
        "interface {ios}: no Linux interface has address {addr}; use --map-interface {ios}=DEV"
    )]
    NoSuchAddress {
        /// IOS name.
        ios: String,
        /// Its configured address.
        addr: Ipv4Addr,
    },
    /// The interface has no `ip address` and no explicit mapping.
    #[error("interface {0} has no ip address; use --map-interface {0}=DEV")]
    Unaddressed(String),
    /// `--map-interface` names a Linux interface without any IPv4 address.
    #[error("--map-interface {ios}={linux}: {linux} has no IPv4 address")]
    MappedWithoutAddress {
        /// IOS name.
        ios: String,
        /// Linux name.
        linux: String,
    },
}

/// Matches IOS interfaces (name, configured `ip address`) to Linux ones: an explicit
/// `--map-interface IOS=LINUX` wins, otherwise the Linux interface holding the address. For an
/// explicitly mapped interface, `addr` becomes the Linux interface's first address when the
/// configuration's address is not on it (labs often renumber).
pub fn map_interfaces(
    ios: &[(String, Option<Ipv4Addr>)],
    explicit: &[(String, String)],
    host: &[IfAddr],
) -> Result<Vec<InterfaceMap>, MapError> {
    ios.iter()
        .map(|(name, addr)| {
            if let Some((_, linux)) = explicit.iter().find(|(i, _)| i.eq_ignore_ascii_case(name)) {
                let on_dev: Vec<&IfAddr> = host.iter().filter(|a| a.name == *linux).collect();
                let chosen = match addr {
                    Some(a) if on_dev.iter().any(|d| d.addr == *a) => Some(*a),
                    _ => on_dev.first().map(|d| d.addr),
                };
                return match chosen {
                    Some(a) => Ok(InterfaceMap {
                        ios: name.clone(),
                        linux: linux.clone(),
                        addr: Some(a),
                    }),
                    None => Err(MapError::MappedWithoutAddress {
                        ios: name.clone(),
                        linux: linux.clone(),
                    }),
                };
            }
            let a = addr.ok_or_else(|| MapError::Unaddressed(name.clone()))?;
            let dev = crate::sys::ifaddr::interface_with_address(host, a).ok_or_else(|| {
                MapError::NoSuchAddress {
                    ios: name.clone(),
                    addr: a,
                }
            })?;
            Ok(InterfaceMap {
                ios: name.clone(),
                linux: dev.name.clone(),
                addr: Some(a),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifa(name: &str, a: [u8; 4], p: u8) -> IfAddr {
        IfAddr {
            name: name.into(),
            addr: a.into(),
            net: Ipv4Net::new(a.into(), p).unwrap(),
        }
    }

    #[test]
    fn maps_by_address_and_explicitly() {
        let host = vec![
            ifa("eth0", [198, 51, 100, 2], 24),
            ifa("eth1", [10, 1, 1, 1], 24),
        ];
        let ios = vec![
            (
                "FastEthernet4".to_string(),
                Some(Ipv4Addr::new(198, 51, 100, 2)),
            ),
            ("Vlan1".to_string(), Some(Ipv4Addr::new(192, 168, 1, 1))),
        ];
        let err = map_interfaces(&ios, &[], &host).unwrap_err();
        assert!(matches!(err, MapError::NoSuchAddress { .. }), "{err}");
        let m = map_interfaces(&ios, &[("vlan1".into(), "eth1".into())], &host).unwrap();
        assert_eq!(m[0].linux, "eth0");
        assert_eq!(
            (m[1].linux.as_str(), m[1].addr),
            ("eth1", Some(Ipv4Addr::new(10, 1, 1, 1)))
        );
        let e = map_interfaces(&ios, &[("Vlan1".into(), "eth9".into())], &host).unwrap_err();
        assert!(matches!(e, MapError::MappedWithoutAddress { .. }));
    }
}
