//! IKEv1 and ESP as sans-IO state machines.
//!
//! Nothing in this crate opens a socket, reads a clock, spawns a thread or touches a global random
//! number generator. Bytes, time ([`time::Instant`]) and randomness ([`rng::Rng`]) go in through
//! method calls; bytes, events and the next deadline come out by polling.
//!
//! Layout, one concept per module:
//! - [`wire`]: ISAKMP byte formats, zero-copy parsing from `&[u8]`, emitting into caller buffers.
//! - [`crypto`]: ciphers, PRFs/HMACs, MODP groups, IKEv1 key derivation and IV chains.
//! - [`esp`]: ESP security associations, anti-replay, lifetimes, counters, UDP-4500 framing.
//! - [`ike`]: the IKEv1 endpoint (Main Mode, Quick Mode, Informational, DPD, NAT-T, timers).
//! - [`policy`]: proposals, transform sets, traffic selectors, peers and keys.
//! - [`ios`]: IOS configuration text to policy, and IOS-style renderings of show output.
//! - [`pki`]: X.509 certificates, RSA keys and path validation for `rsa-sig`.
//! - [`keylog`]: the hook through which Wireshark keys leave the endpoint.
//!
//! Cargo feature `fuzzing` (off by default; the crate's own tests and the fuzz crate turn it on):
//! the fuzz-target bodies, `wire::fuzzing`, `esp::fuzzing`, `ios::fuzzing`, `ike::fuzzing` and
//! `ike::fuzzing_wildcard`, and a 64-bit Diffie-Hellman group that keeps fuzzed handshakes
//! cheap. Never enable it in a product: without it no configuration can name that group.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
pub mod diagnose;
pub mod esp;
pub mod ike;
mod index;
pub mod ios;
pub mod keylog;
pub mod pki;
pub mod policy;
pub mod rng;
#[cfg(test)]
mod test_util;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod tunnel;
pub mod wire;
