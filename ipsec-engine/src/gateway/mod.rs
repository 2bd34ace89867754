//! The gateway core: the tunnel layer of `ipsec_proto` ([`Tunnels`]) behind the engine's
//! [`Gateway`] trait, plus what only the Linux gateway needs (IOS exec commands, host facts).
//! It owns no socket and no clock, so the same core runs under the Linux event loop
//! ([`crate::engine`]) and in the in-memory demonstration ([`crate::demo`]).

mod command;
mod facts;

pub use command::command;
pub use facts::facts;
pub use ipsec_proto::tunnel::{
    build, clamp_mss, five_tuple, selector_admits, syn_mss, BuildError, Built, CoreCounters,
    CoreOptions, IosTime, KeyLog, MapEntryInfo, Show, Transition, TunVerdict, Tunnels,
};

use crate::control::{Command, ControlReply};
use crate::event_loop::Gateway;
use crate::outputs::Outputs;
use ipsec_proto::time::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};

/// The entries that send and receive on a local address none of the engine's sockets serve
/// (`served`), one sentence each naming the map, the interface whose address it uses and why:
/// `crypto map NAME local-address IF` on another interface, or another crypto interface.
/// Empty when the engine serves the whole configuration.
pub fn unserved_local_addresses(entries: &[MapEntryInfo], served: &[Ipv4Addr]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let bound = served
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    for e in entries
        .iter()
        .filter(|e| !served.contains(&e.local) && e.vti.is_none())
    {
        let why = if e.local_interface.eq_ignore_ascii_case(&e.interface) {
            format!("crypto map {} on interface {}", e.map, e.interface)
        } else {
            format!(
                "crypto map {} local-address {} (applied to {})",
                e.map, e.local_interface, e.interface
            )
        };
        let line = format!(
            "{why}: IKE and ESP on {} but the engine listens only on {bound}",
            e.local
        );
        if !v.contains(&line) {
            v.push(line);
        }
    }
    v
}

/// The engine's name for [`Tunnels`].
pub type GatewayCore = Tunnels;

impl Gateway for Tunnels {
    fn tun_mtu(&self) -> u32 {
        Tunnels::tun_mtu(self)
    }

    fn pmtu_peers(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        Tunnels::pmtu_peers(self)
    }

    fn on_reload(
        &mut self,
        now: Instant,
        config: ipsec_proto::policy::GatewayConfig,
        out: &mut Outputs,
    ) -> ControlReply {
        match self.reconfigure(now, config, out) {
            Ok(r) => {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                ControlReply::Text(format!(
                    "Configuration reloaded: SAs kept for {}; cleared for {}; new entries {}\n",
                    list(&r.kept),
                    list(&r.cleared),
                    list(&r.added)
                ))
            }
            Err(e) => ControlReply::Error(format!(
                "% reload refused, the running configuration stays: {e}"
            )),
        }
    }

    fn rri_generation(&self) -> u64 {
        self.routes_generation()
    }

    fn client_addresses(&self) -> Vec<Ipv4Addr> {
        self.ezvpn_addresses()
    }

    fn pushed_resolver(&self) -> Option<(&[Ipv4Addr], Option<&str>)> {
        // The first profile in configuration order with something to say: one file holds
        // one resolver configuration.
        self.config().ezvpn_clients.iter().find_map(|z| {
            let s = self.ezvpn_settings(&z.name)?;
            (!s.dns.is_empty() || s.domain.is_some()).then_some((&s.dns[..], s.domain.as_deref()))
        })
    }

    fn rri_routes(&self) -> Vec<crate::sys::route::RriRoute> {
        self.injected_routes()
            .filter_map(|r| {
                Some(crate::sys::route::RriRoute {
                    net: crate::net::Ipv4Net::new(r.prefix, r.prefix_len()).ok()?,
                    publish: r.publish,
                    metric: u32::from(r.distance),
                    tag: r.tag,
                })
            })
            .collect()
    }

    fn on_path_mtu(&mut self, _now: Instant, peer: Ipv4Addr, mtu: u32, out: &mut Outputs) {
        self.set_path_mtu(peer, mtu, out);
    }

    fn on_vti_packets(&mut self, now: Instant, tunnel: u32, packets: &[&[u8]], out: &mut Outputs) {
        // Counted by the tunnel layer per verdict (no SA while the line protocol is down).
        let _ = self.handle_plaintext_batch(
            now,
            ipsec_proto::tunnel::Iface::Tunnel(tunnel),
            packets.iter().copied(),
            out,
        );
    }

    fn line_protocol(&self, tunnel: u32) -> bool {
        Tunnels::line_protocol(self, tunnel).unwrap_or(false)
    }

    fn tunnel_interface(
        &self,
        tunnel: u32,
    ) -> Option<ipsec_proto::ios::show_interface::TunnelInterfaceSnapshot> {
        Tunnels::tunnel_interface(self, tunnel)
    }

    fn interfaces_brief(&self) -> Vec<ipsec_proto::ios::show_interface::InterfaceBrief> {
        let cfg = self.config();
        cfg.interfaces
            .iter()
            .map(|i| {
                let address = i
                    .address
                    .map(|a| a.0)
                    .or_else(|| {
                        i.unnumbered
                            .as_ref()
                            .and_then(|u| cfg.interface(u))
                            .and_then(|u| u.address)
                            .map(|a| a.0)
                    })
                    // `ip address dhcp|negotiated`: the host's address the entries use now.
                    .or_else(|| {
                        self.entries()
                            .iter()
                            .find(|e| e.local_interface.eq_ignore_ascii_case(&i.name))
                            .map(|e| e.local)
                    });
                let vti = i.tunnel_number().filter(|_| i.is_vti());
                ipsec_proto::ios::show_interface::InterfaceBrief {
                    name: i.name.clone(),
                    address,
                    admin_down: i.shutdown,
                    // A VTI has no link of its own; the host fills in the others.
                    link_up: vti.is_some(),
                    line_up: vti.and_then(|n| Tunnels::line_protocol(self, n)) == Some(true),
                }
            })
            .collect()
    }

    fn on_tun_packet(&mut self, now: Instant, pkt: &[u8], out: &mut Outputs) {
        // Every verdict is counted by the tunnel layer; NotProtected packets are dropped here
        // (see TunVerdict::NotProtected).
        let _ = self.handle_plaintext(now, pkt, out);
    }

    fn on_udp_batch(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        datagrams: &[&[u8]],
        out: &mut Outputs,
    ) {
        let _ = self.handle_udp_batch(now, local, remote, datagrams.iter().copied(), out);
    }

    fn on_tun_batch(&mut self, now: Instant, packets: &[&[u8]], out: &mut Outputs) {
        let _ = self.handle_plaintext_batch(
            now,
            ipsec_proto::tunnel::Iface::Inside,
            packets.iter().copied(),
            out,
        );
    }

    fn on_udp(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
        out: &mut Outputs,
    ) {
        // A drop is counted in the IKE/ESP counters and shown by `show crypto`; the loop has
        // nothing more to do with it.
        let _ = self.handle_udp(now, local, remote, data, out);
    }

    fn on_esp(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        _dst: Ipv4Addr,
        data: &[u8],
        out: &mut Outputs,
    ) {
        let _ = self.handle_esp(now, src, data, out);
    }

    fn on_esp_batch(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        _dst: Ipv4Addr,
        packets: &[&[u8]],
        out: &mut Outputs,
    ) {
        // Drops are counted by the tunnel layer, as for single packets.
        let _ = self.handle_esp_batch(now, src, packets.iter().copied(), out);
    }

    fn on_timer(&mut self, now: Instant, out: &mut Outputs) {
        self.handle_timeout(now, out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    fn on_control(&mut self, now: Instant, cmd: &Command, out: &mut Outputs) -> ControlReply {
        command(self, now, cmd, out)
    }

    fn on_shutdown(&mut self, now: Instant, out: &mut Outputs) {
        self.shutdown(now, out);
    }

    fn on_local_address(
        &mut self,
        now: Instant,
        addr: Option<Ipv4Addr>,
        out: &mut Outputs,
    ) -> Result<String, String> {
        let (pairs, isakmp) = match addr {
            Some(a) => self
                .set_local_address(now, a, out)
                .map_err(|e| e.to_string())?,
            // Nothing to move to: the SAs go, the entries wait for an address.
            None => (
                self.clear_sa(now, None, out),
                self.clear_isakmp(now, None, out),
            ),
        };
        let to = addr.map_or_else(|| "no address".to_string(), |a| a.to_string());
        Ok(format!(
            "%CRYPTO-6-SA_CLEARED: {pairs} IPsec SA pair(s) and {isakmp} ISAKMP SA(s) cleared, local address now {to}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "crypto isakmp policy 1\n authentication pre-share\n\
crypto isakmp key k address 192.0.2.2\n\
crypto ipsec transform-set T esp-aes esp-sha-hmac\n\
crypto map VPN 10 ipsec-isakmp\n set peer 192.0.2.2\n set transform-set T\n match address 100\n\
crypto map VPN local-address Loopback0\n\
interface Loopback0\n ip address 10.255.0.1 255.255.255.255\n\
interface GigabitEthernet0/0\n ip address 192.0.2.1 255.255.255.0\n crypto map VPN\n\
access-list 100 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255\n";

    #[test]
    fn a_map_local_address_the_engine_does_not_serve_is_named() {
        let p = ipsec_proto::ios::parse(CFG).unwrap();
        let built = build(&p.config, Some(Ipv4Addr::new(192, 0, 2, 1))).unwrap();
        assert_eq!(
            unserved_local_addresses(&built.entries, &[Ipv4Addr::new(192, 0, 2, 1)]),
            vec![
                "crypto map VPN local-address Loopback0 (applied to GigabitEthernet0/0): IKE and \
                 ESP on 10.255.0.1 but the engine listens only on 192.0.2.1"
                    .to_string()
            ]
        );
        // Pointing the map at its own interface is served.
        let own = CFG.replace(
            "local-address Loopback0",
            "local-address GigabitEthernet0/0",
        );
        let p = ipsec_proto::ios::parse(&own).unwrap();
        let built = build(&p.config, Some(Ipv4Addr::new(192, 0, 2, 1))).unwrap();
        assert!(
            unserved_local_addresses(&built.entries, &[Ipv4Addr::new(192, 0, 2, 1)]).is_empty()
        );
    }
}
