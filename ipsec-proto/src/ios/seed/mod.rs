//! The seed's two routers, as tidy running-config text: siteA is cisco-ios.md A.8 (the seed's
//! configuration with its blanked addresses filled in from the documentation ranges), siteB its
//! mirror. One copy serves the demo and the tests; the fuzz corpus links to the same files
//! (`siteA.cfg`, `siteB.cfg`, `siteA_verbatim.cfg` next to this module).
//!
//! | | WAN (FastEthernet4) | LAN (Vlan1) | peer |
//! |---|---|---|---|
//! | siteA | 198.51.100.1/24 | 192.168.1.0/24 | 203.0.113.2 |
//! | siteB | 203.0.113.2/24 | 192.168.2.0/24 | 198.51.100.1 |
//!
//! Both: ISAKMP policy 1 (3DES, SHA, pre-share, group 2), key `ciscokey`, transform set
//! `TRANSFORM` (esp-3des esp-sha-hmac), crypto map `VPN 10` with ACL 100, and ACL 101 exempting
//! the tunnel from NAT overload.

/// siteA: cisco-ios.md A.8, the seed's configuration with documentation addresses.
pub const SITE_A: &str = include_str!("siteA.cfg");

/// siteB: the mirror of [`SITE_A`].
pub const SITE_B: &str = include_str!("siteB.cfg");

/// siteA exactly as the seed document prints it (irregular indentation, `hostname siteA  !`, the
/// unused FastEthernet0-3, `ip classless`, duplex and speed): the parser's robustness case. It
/// yields the same policy as [`SITE_A`].
pub const SITE_A_VERBATIM: &str = include_str!("siteA_verbatim.cfg");
