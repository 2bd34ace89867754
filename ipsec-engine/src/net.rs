//! IPv4 prefixes as the engine needs them: IOS writes address + mask (or wildcard), `ip` and
//! nftables want `a.b.c.d/len`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network: address with the host bits cleared, and a prefix length 0..=32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a prefix or mask was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Prefix length above 32.
    #[error("prefix length {0} is above 32")]
    PrefixTooLong(u32),
    /// A netmask whose one bits are not contiguous (e.g. 255.0.255.0).
    #[error("mask {0} is not contiguous")]
    NonContiguousMask(Ipv4Addr),
    /// Text that is not `a.b.c.d` or `a.b.c.d/len`.
    #[error("cannot parse {0:?} as an IPv4 network")]
    Syntax(String),
}

impl Ipv4Net {
    /// `addr/prefix`, host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, NetError> {
        if prefix > 32 {
            return Err(NetError::PrefixTooLong(u32::from(prefix)));
        }
        let mask = prefix_to_mask(prefix);
        Ok(Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    /// From an IOS netmask (`255.255.255.0`).
    pub fn from_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Result<Self, NetError> {
        let m = u32::from(mask);
        let prefix = m.leading_ones();
        if m.checked_shl(prefix).unwrap_or(0) != 0 {
            return Err(NetError::NonContiguousMask(mask));
        }
        Self::new(addr, prefix as u8)
    }

    /// From an IOS wildcard (`0.0.0.255`), as ACLs write it.
    pub fn from_wildcard(addr: Ipv4Addr, wildcard: Ipv4Addr) -> Result<Self, NetError> {
        Self::from_mask(addr, Ipv4Addr::from(!u32::from(wildcard)))
            .map_err(|_| NetError::NonContiguousMask(wildcard))
    }

    /// A single host (`/32`).
    pub fn host(addr: Ipv4Addr) -> Self {
        Ipv4Net { addr, prefix: 32 }
    }

    /// Network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Netmask as an integer.
    pub fn mask(&self) -> u32 {
        prefix_to_mask(self.prefix)
    }

    /// True if `ip` lies inside this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// True if every address of `other` lies inside this network.
    pub fn covers(&self, other: &Ipv4Net) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }
}

fn prefix_to_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Self, NetError> {
        let syntax = || NetError::Syntax(s.to_string());
        match s.split_once('/') {
            Some((a, p)) => {
                let addr: Ipv4Addr = a.parse().map_err(|_| syntax())?;
                let prefix: u32 = p.parse().map_err(|_| syntax())?;
                let prefix = u8::try_from(prefix).map_err(|_| NetError::PrefixTooLong(prefix))?;
                Ipv4Net::new(addr, prefix)
            }
            None => Ok(Ipv4Net::host(s.parse().map_err(|_| syntax())?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_wildcards() {
        let n = Ipv4Net::from_mask([10, 1, 1, 77].into(), [255, 255, 255, 0].into()).unwrap();
        assert_eq!(n.to_string(), "10.1.1.0/24");
        let w = Ipv4Net::from_wildcard([10, 2, 2, 0].into(), [0, 0, 0, 255].into()).unwrap();
        assert_eq!(w.to_string(), "10.2.2.0/24");
        assert!(Ipv4Net::from_mask([1, 2, 3, 4].into(), [255, 0, 255, 0].into()).is_err());
        assert_eq!(
            Ipv4Net::from_mask([1, 2, 3, 4].into(), [0, 0, 0, 0].into())
                .unwrap()
                .to_string(),
            "0.0.0.0/0"
        );
        assert!(n.contains([10, 1, 1, 200].into()));
        assert!(!n.contains([10, 1, 2, 1].into()));
        assert!("10.0.0.0/8".parse::<Ipv4Net>().unwrap().covers(&n));
        assert!("1.2.3.4/33".parse::<Ipv4Net>().is_err());
    }
}
