//! The stack's own node kinds: the bare IKE [`Endpoint`] (its events stay in it, to be polled
//! by the test), the tunnel layer's [`Tunnels`] with its output arena ([`TunnelsNode`]), and
//! the polled [`Tunnel`] ([`TunnelNode`]).

use std::net::SocketAddr;

use super::network::{Node, Packet, Wire};
use crate::ike::{Endpoint, Path};
use crate::time::Instant;
use crate::tunnel::{DebugKind, Dest, Outputs, Tunnel, Tunnels};

const MAX_DATAGRAM: usize = 65_536;

impl Node for Endpoint {
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Packet>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let t = match Endpoint::poll_transmit(self, now, &mut buf) {
                Ok(Some(t)) => t,
                Ok(None) => return,
                Err(e) => panic!("datagram larger than 64 KiB: {e}"),
            };
            let mut bytes = Vec::with_capacity(t.len + 4);
            if t.non_esp_marker {
                bytes.extend_from_slice(&[0, 0, 0, 0]);
            }
            bytes.extend_from_slice(&buf[..t.len]);
            out.push(Packet {
                wire: Wire::Udp {
                    src: t.path.local,
                    dst: t.path.remote,
                },
                bytes,
            });
        }
    }

    fn handle_packet(&mut self, now: Instant, p: &Packet) {
        // An endpoint has no ESP data path: raw ESP is not for it.
        if let Wire::Udp { src, dst } = p.wire {
            let path = Path {
                local: dst,
                remote: src,
            };
            let _ = self.handle_datagram(now, path, &p.bytes);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now);
    }
}

/// A debug line a [`TunnelsNode`] printed, with the time it was printed at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugLine {
    /// When.
    pub at: Instant,
    /// Which stream.
    pub kind: DebugKind,
    /// The text.
    pub line: String,
}

/// [`Tunnels`] with its output arena: what it delivers to the protected side is kept in
/// [`TunnelsNode::delivered`] (or sent to its LAN, see [`TunnelsNode::lan`]), its debug lines
/// in [`TunnelsNode::debug`]. A [`Wire::Ip`] packet arriving from its LAN is plaintext to
/// protect.
#[derive(Debug)]
pub struct TunnelsNode {
    /// The tunnels (drive them directly for plaintext and commands, then let the network
    /// collect).
    pub tunnels: Tunnels,
    /// Their output arena.
    pub out: Outputs,
    /// Decrypted packets for the protected side, in order.
    pub delivered: Vec<Vec<u8>>,
    /// Debug lines (when debugging is on in [`TunnelsNode::out`]).
    pub debug: Vec<DebugLine>,
    /// Decrypted packets go onto the network as [`Wire::Ip`], to the hosts on this node's LAN
    /// ([`crate::testing::Network::attach`]), instead of into [`TunnelsNode::delivered`].
    pub lan: bool,
}

impl TunnelsNode {
    /// A node for `tunnels` with a default arena.
    pub fn new(tunnels: Tunnels) -> TunnelsNode {
        TunnelsNode {
            tunnels,
            out: Outputs::default(),
            delivered: Vec::new(),
            debug: Vec::new(),
            lan: false,
        }
    }
}

impl Node for TunnelsNode {
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Packet>) {
        for (kind, line) in self.out.debug_lines() {
            self.debug.push(DebugLine {
                at: now,
                kind,
                line: line.to_string(),
            });
        }
        for (dest, pkt) in self.out.packets() {
            let wire = match dest {
                Dest::Tun | Dest::Vti(_) if self.lan => Wire::ip(pkt),
                Dest::Tun | Dest::Vti(_) => {
                    self.delivered.push(pkt.to_vec());
                    continue;
                }
                Dest::Udp { local, remote } => Wire::Udp {
                    src: SocketAddr::V4(local),
                    dst: SocketAddr::V4(remote),
                },
                Dest::Esp { src, dst } => Wire::Esp { src, dst },
            };
            out.push(Packet {
                wire,
                bytes: pkt.to_vec(),
            });
        }
        self.out.clear();
    }

    fn handle_packet(&mut self, now: Instant, p: &Packet) {
        // A drop is counted by the tunnels (and shown); the network has nothing to add.
        let _ = match p.wire {
            Wire::Udp {
                src: SocketAddr::V4(src),
                dst: SocketAddr::V4(dst),
            } => self
                .tunnels
                .handle_udp(now, dst, src, &p.bytes, &mut self.out),
            Wire::Esp { src, .. } => self.tunnels.handle_esp(now, src, &p.bytes, &mut self.out),
            Wire::Ip { .. } => {
                // Every verdict is counted by the tunnels.
                let _ = self.tunnels.handle_plaintext(now, &p.bytes, &mut self.out);
                Ok(())
            }
            Wire::Udp { .. } => Ok(()),
        };
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tunnels.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.tunnels.handle_timeout(now, &mut self.out);
    }
}

/// The polled [`Tunnel`]: what it delivers to the protected side is kept in
/// [`TunnelNode::delivered`] (or sent to its LAN, see [`TunnelNode::lan`]); a [`Wire::Ip`]
/// packet arriving from its LAN is plaintext to protect.
#[derive(Debug)]
pub struct TunnelNode {
    /// The tunnel.
    pub tunnel: Tunnel,
    /// Decrypted packets for the protected side, in order.
    pub delivered: Vec<Vec<u8>>,
    /// Decrypted packets go onto the network as [`Wire::Ip`] (as [`TunnelsNode::lan`]).
    pub lan: bool,
}

impl TunnelNode {
    /// A node for `tunnel`.
    pub fn new(tunnel: Tunnel) -> TunnelNode {
        TunnelNode {
            tunnel,
            delivered: Vec::new(),
            lan: false,
        }
    }
}

impl Node for TunnelNode {
    fn poll_transmit(&mut self, _now: Instant, out: &mut Vec<Packet>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while let Ok(Some(t)) = self.tunnel.poll_transmit(&mut buf) {
            let wire = match t.dest {
                Dest::Udp { local, remote } => Wire::Udp {
                    src: SocketAddr::V4(local),
                    dst: SocketAddr::V4(remote),
                },
                Dest::Esp { src, dst } => Wire::Esp { src, dst },
                Dest::Tun | Dest::Vti(_) => continue,
            };
            out.push(Packet {
                wire,
                bytes: buf[..t.len].to_vec(),
            });
        }
        while let Ok(Some(n)) = self.tunnel.poll_plaintext(&mut buf) {
            if self.lan {
                out.push(Packet {
                    wire: Wire::ip(&buf[..n]),
                    bytes: buf[..n].to_vec(),
                });
            } else {
                self.delivered.push(buf[..n].to_vec());
            }
        }
    }

    fn handle_packet(&mut self, now: Instant, p: &Packet) {
        let _ = match p.wire {
            Wire::Udp {
                src: SocketAddr::V4(src),
                dst: SocketAddr::V4(dst),
            } => self.tunnel.handle_udp(now, dst, src, &p.bytes),
            Wire::Esp { src, .. } => self.tunnel.handle_esp(now, src, &p.bytes),
            Wire::Ip { .. } => {
                let _ = self.tunnel.handle_plaintext(now, &p.bytes);
                Ok(())
            }
            Wire::Udp { .. } => Ok(()),
        };
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tunnel.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.tunnel.handle_timeout(now);
    }
}
