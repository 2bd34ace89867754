//! Setting the gateway up on the host and taking it down again, in order.
//!
//! The engine never changes host addresses or default routes. It adds: one TUN device, routes for
//! the remote protected networks in its own table plus one `not fwmark` rule (see
//! [`crate::sys::route`]), the routes reverse route injection asks for (main table, protocol
//! [`crate::sys::route::RTPROT_IPSEC_RRI`]; a dynamic map's learned networks in its own table),
//! optionally one nftables table for NAT overload, and a control socket
//! file. [`Engine::teardown`] removes them in reverse order after the core's Delete
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
        }
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
    nat: Option<NatGuard>,
}

/// Transmit queue of the TUN device (packets waiting to be protected).
const TUN_TXQUEUELEN: u32 = 2000;

impl Engine {
    /// Opens and configures everything; on failure, whatever was set up is removed again
    /// (the guards' destructors run).
    pub fn setup(cfg: &EngineConfig, tun_mtu: u32) -> Result<Engine, EngineError> {
        let mut event_loop = EventLoop::new().map_err(EngineError::Loop)?;
        let tun_err = |source| EngineError::Tun {
            name: cfg.tun_name.clone(),
            source,
        };
        let tun = Tun::open_offload(&cfg.tun_name).map_err(tun_err)?;
        tun.set_mtu(tun_mtu).map_err(tun_err)?;
        // Router solicitations and the like would only be noise for the core: the tunnel
        // carries IPv4. Absent IPv6 support makes this fail, which is fine.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", tun.name()),
            "1",
        );
        // The default 500 drops bursts the loop would absorb a moment later; a failure only
        // costs throughput.
        let _ = tun.set_txqueuelen(TUN_TXQUEUELEN);
        tun.set_up().map_err(tun_err)?;
        let dev = tun.name().to_string();
        event_loop.set_tun(tun).map_err(EngineError::Loop)?;

        for port in [cfg.ike_port, cfg.natt_port] {
            let addr = SocketAddrV4::new(cfg.local_addr, port);
            let s = UdpSock::bind(addr, Some(cfg.mark)).map_err(|source| EngineError::Socket {
                what: format!("UDP {addr}"),
                source,
            })?;
            event_loop.add_udp(s).map_err(EngineError::Loop)?;
        }
        if cfg.raw_esp {
            let s = RawEsp::open(Some(cfg.local_addr), Some(cfg.mark)).map_err(|source| {
                EngineError::Socket {
                    what: format!("raw ESP {}", cfg.local_addr),
                    source,
                }
            })?;
            event_loop.add_esp(s).map_err(EngineError::Loop)?;
        }

        let mut routing =
            Routing::install(cfg.mark, cfg.table, cfg.rule_pref).map_err(EngineError::Routing)?;
        for net in &cfg.protected {
            routing
                .add_route(*net, &dev)
                .map_err(EngineError::Routing)?;
        }
        event_loop.set_rri_routes(route::RriRoutes::new(&dev, cfg.table, &cfg.protected));
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
            routing: Some(routing),
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

    /// Loop counters.
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
        if let Some(mut r) = self.routing.take() {
            if let Err(e) = r.cleanup() {
                first = Err(EngineError::Routing(e));
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
