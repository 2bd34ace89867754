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
                let address = i.address.map(|a| a.0).or_else(|| {
                    i.unnumbered
                        .as_ref()
                        .and_then(|u| cfg.interface(u))
                        .and_then(|u| u.address)
                        .map(|a| a.0)
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
}
