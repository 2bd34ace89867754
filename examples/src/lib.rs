//! Runnable examples of embedding the stack.
//!
//! - [`driver`]: the reference embedding of the tunnel layer in a blocking program,
//!   [`driver::TunnelDriver`] (an IOS configuration on UDP 500/4500, timers, inner packets in
//!   and out). The binary `ike_udp_driver` uses it.
//! - [`config`]: an endpoint configuration from strongSwan-style proposal strings.
//! - [`packet`]: IPv4/ICMP echo crafting and checking, to ping through a tunnel without a TUN.
#![warn(missing_docs)]

pub mod config;
pub mod driver;
pub mod packet;
