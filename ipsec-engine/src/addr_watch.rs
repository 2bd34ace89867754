//! Following the address of the crypto interface when it is `ip address dhcp` or `ip address
//! negotiated`: the engine took the mapped Linux interface's address at start
//! ([`crate::engine::EngineConfig::follow_interface`]); the event loop looks at that
//! interface's addresses again whenever the kernel announces an IPv4 address change
//! (`RTM_NEWADDR`/`RTM_DELADDR`, [`crate::sys::addr_events`]) and tells the core when the one in
//! use went away. Without the netlink socket it looks every [`ADDR_CHECK_INTERVAL_MS`].
//!
//! The notifications only say when to look; what changed is read back with `getifaddrs`, so a
//! lost or unrelated notification costs one look and decides nothing.

use crate::sys::ifaddr::IfAddr;
use std::net::Ipv4Addr;

/// How often the loop looks at the watched interface's addresses when it gets no netlink
/// notifications (and how soon it retries a failed bind).
pub const ADDR_CHECK_INTERVAL_MS: u64 = 1000;

/// The crypto interface whose address the engine follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrWatch {
    /// IOS name (`GigabitEthernet0/0`), for the log.
    pub ios: String,
    /// Linux name (`eth0`).
    pub linux: String,
    /// The address in use; `None` while the interface has none (the engine is idle).
    pub current: Option<Ipv4Addr>,
}

/// A change [`AddrWatch::observe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrChange {
    /// The address that was in use.
    pub old: Option<Ipv4Addr>,
    /// The address to use from now on; `None` when the interface has none left.
    pub new: Option<Ipv4Addr>,
}

impl AddrWatch {
    /// Watches `linux` (IOS `ios`), starting from `current`.
    pub fn new(ios: &str, linux: &str, current: Option<Ipv4Addr>) -> AddrWatch {
        AddrWatch {
            ios: ios.to_string(),
            linux: linux.to_string(),
            current,
        }
    }

    /// Compares the host's addresses with the one in use and records the new one. The
    /// address in use stays as long as the interface still has it (a second address added
    /// beside it changes nothing, as on IOS, where a DHCP client has one lease); otherwise the
    /// interface's first address is taken, or none.
    pub fn observe(&mut self, host: &[IfAddr]) -> Option<AddrChange> {
        let mine = host.iter().filter(|a| a.name == self.linux);
        if let Some(c) = self.current {
            if mine.clone().any(|a| a.addr == c) {
                return None;
            }
        }
        let new = mine.map(|a| a.addr).next();
        if new == self.current {
            return None;
        }
        let old = std::mem::replace(&mut self.current, new);
        Some(AddrChange { old, new })
    }
}

impl AddrChange {
    /// The line the engine logs, in the form of IOS's interface address messages.
    pub fn log_line(&self, w: &AddrWatch) -> String {
        let show = |a: Option<Ipv4Addr>| a.map_or_else(|| "none".to_string(), |a| a.to_string());
        let what = match (self.old, self.new) {
            (Some(_), Some(_)) => "SAs on the old address cleared, IKE and ESP sockets moved",
            (None, Some(_)) => "IKE and ESP sockets bound, negotiating again",
            (_, None) => "SAs cleared, idle until the interface has an address again",
        };
        format!(
            "%CRYPTO-6-LOCAL_ADDRESS_CHANGE: Interface {} ({}) address changed from {} to {}: {what}",
            w.ios,
            w.linux,
            show(self.old),
            show(self.new)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifa(name: &str, a: [u8; 4]) -> IfAddr {
        IfAddr {
            name: name.into(),
            addr: a.into(),
            net: crate::net::Ipv4Net::new(a.into(), 24).unwrap(),
        }
    }

    #[test]
    fn a_new_lease_a_loss_and_a_return_are_each_one_change() {
        let old = Ipv4Addr::new(198, 51, 100, 2);
        let new = Ipv4Addr::new(198, 51, 100, 3);
        let mut w = AddrWatch::new("FastEthernet4", "wan", Some(old));
        // Unchanged, and other interfaces' addresses do not count.
        let host = [ifa("lan", [10, 1, 1, 1]), ifa("wan", [198, 51, 100, 2])];
        assert_eq!(w.observe(&host), None);
        // A second address beside the one in use changes nothing.
        let both = [ifa("wan", [198, 51, 100, 9]), ifa("wan", [198, 51, 100, 2])];
        assert_eq!(w.observe(&both), None);
        // Renumbered.
        let host = [ifa("lan", [10, 1, 1, 1]), ifa("wan", [198, 51, 100, 3])];
        let c = w.observe(&host).unwrap();
        assert_eq!(
            c,
            AddrChange {
                old: Some(old),
                new: Some(new)
            }
        );
        assert!(c.log_line(&w).contains("from 198.51.100.2 to 198.51.100.3"));
        assert_eq!(w.observe(&host), None, "reported once");
        // Lost: idle.
        let c = w.observe(&[ifa("lan", [10, 1, 1, 1])]).unwrap();
        assert_eq!(c.new, None);
        assert!(c.log_line(&w).contains("idle"), "{}", c.log_line(&w));
        assert_eq!(w.observe(&[]), None);
        // Back.
        let c = w.observe(&host).unwrap();
        assert_eq!((c.old, c.new), (None, Some(new)));
    }
}
