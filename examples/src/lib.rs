//! Runnable examples of embedding the stack.
//!
//! - [`driver`]: the reference embedding of the sans-IO IKEv1 endpoint in a blocking program,
//!   [`driver::UdpDriver`] (sockets on UDP 500/4500, timers, ESP-in-UDP data path). The binary
//!   `ike_udp_driver` and the strongSwan interop tests (`tests/interop_strongswan.rs`) use it.
//! - [`config`]: an endpoint configuration from strongSwan-style proposal strings.
//! - [`packet`]: IPv4/ICMP echo crafting and checking, to ping through a tunnel without a TUN.
#![warn(missing_docs)]

pub mod config;
pub mod driver;
pub mod packet;
