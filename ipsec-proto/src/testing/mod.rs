//! The in-memory test network (cargo feature `testing`, and the crate's own unit tests): one
//! harness for every in-memory scenario of the workspace, in quinn-proto's style.
//!
//! - [`Network`]: a virtual clock and N nodes on one network; per-link [`Link`] latency, loss,
//!   duplication and reordering drawn from a seeded [`crate::rng::Rng`] (same seed, same run);
//!   a [`Nat`] shim in front of any node rewriting its address and ports; fault rules
//!   ([`Fault`]) that drop chosen packets; a log of everything sent ([`Sent`]).
//! - [`Node`]: what sits on the network. The bare IKE [`crate::ike::Endpoint`] is one;
//!   [`TunnelsNode`] (the tunnel layer's [`crate::tunnel::Tunnels`] with its output arena) and
//!   [`TunnelNode`] (the polled [`crate::tunnel::Tunnel`]) are the others; an embedder can add
//!   its own.
//! - [`Host`]: a host on a gateway's LAN ([`Network::attach`], [`Wire::Ip`]) that answers
//!   pings, so a scenario can ping across a tunnel.
//! - [`Pair`]: the two-endpoint case with the knobs the IKE pair scenarios turn.
//!
//! The network does not own the nodes: each call that moves packets takes them as
//! `&mut [&mut dyn Node]`, so a test reads and drives its nodes directly between steps.

mod host;
mod network;
mod nodes;
mod pair;

pub use host::{Echo, Host};
pub use network::{Fault, Link, Nat, Network, Node, Packet, Sent, Wire};
pub use nodes::{DebugLine, TunnelNode, TunnelsNode};
pub use pair::{assert_keys_match, Pair, Side, A_PRIV, B_ADDR, NAT_PUB};
