//! Proposals, transform sets, traffic selectors (crypto ACLs), peers and keys.
//!
//! Plain data describing what a gateway is configured with, independent of IOS text: the IKE state
//! machine and the C/Python bindings build these directly, and [`crate::ios`] converts IOS
//! configuration text to and from them.

pub mod acl;
pub mod ipsec;
pub mod isakmp;
pub mod net;

use std::net::Ipv4Addr;

pub use acl::{
    AccessList, AclAction, AclEntry, AclKind, AclProtocol, AddrMatch, FiveTuple, PortMatch,
    PortRange, SelectorAddr, TrafficSelector,
};
pub use ipsec::{
    CryptoMapEntry, DpdConfig, DpdMode, EspEncryption, EspIntegrity, EspMode, IpsecGlobals,
    TransformSet,
};
pub use isakmp::{
    group_bits, lookup_key, lookup_key_by_hostname, IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy,
    KeyEncoding, PreSharedKey, PskPeer, PskSecret, KNOWN_GROUPS,
};
pub use net::{Interface, NatRule, NatSide, StaticRoute};

/// Everything a gateway is configured with.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GatewayConfig {
    /// `hostname`.
    pub hostname: Option<String>,
    /// ISAKMP policies sorted by priority.
    pub isakmp_policies: Vec<IsakmpPolicy>,
    /// Pre-shared keys in configuration order.
    pub keys: Vec<PreSharedKey>,
    /// Global IPsec / NAT-T / DPD settings.
    pub ipsec: IpsecGlobals,
    /// Transform sets in configuration order.
    pub transform_sets: Vec<TransformSet>,
    /// Crypto map entries sorted by map name then sequence number.
    pub crypto_maps: Vec<CryptoMapEntry>,
    /// Access lists in configuration order.
    pub access_lists: Vec<AccessList>,
    /// Interfaces in configuration order.
    pub interfaces: Vec<Interface>,
    /// Static routes in configuration order.
    pub routes: Vec<StaticRoute>,
    /// NAT rules in configuration order.
    pub nat_rules: Vec<NatRule>,
}

/// A problem found by [`GatewayConfig::validate`]: the configuration is usable but something will not
/// work as written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationWarning {
    /// An ISAKMP policy uses a DH group this stack does not implement.
    UnknownGroup {
        /// Policy priority (None for a crypto map PFS group).
        priority: Option<u16>,
        /// The group.
        group: u16,
    },
    /// AES key size other than 128/192/256.
    BadAesKeySize {
        /// Policy priority.
        priority: u16,
        /// Bits.
        bits: u16,
    },
    /// A value outside the range IOS accepts.
    OutOfRange {
        /// What (e.g. `isakmp policy 10 lifetime`).
        what: String,
        /// The value.
        value: u64,
    },
    /// A crypto map entry names a transform set that does not exist.
    MissingTransformSet {
        /// Map.
        map: String,
        /// Seq.
        seq: u16,
        /// Name.
        name: String,
    },
    /// A crypto map entry or NAT rule names an ACL that does not exist.
    MissingAcl {
        /// Who refers to it (`crypto map VPN 10`, `ip nat inside source`).
        user: String,
        /// ACL name.
        acl: String,
    },
    /// An interface names a crypto map with no entries.
    MissingCryptoMap {
        /// Interface.
        interface: String,
        /// Map.
        map: String,
    },
    /// A NAT rule names an interface that does not exist.
    MissingInterface {
        /// Interface name.
        interface: String,
    },
    /// A crypto map entry is incomplete (IOS keeps it disabled).
    IncompleteMapEntry {
        /// Map.
        map: String,
        /// Seq.
        seq: u16,
        /// What is missing: `peer`, `transform-set` or `match address`.
        missing: &'static str,
    },
    /// A transform set with neither encryption nor integrity (esp-null alone).
    NullTransformSet {
        /// Name.
        name: String,
    },
}

impl std::fmt::Display for ValidationWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValidationWarning::UnknownGroup {
                priority: Some(p),
                group,
            } => {
                write!(
                    f,
                    "isakmp policy {p}: Diffie-Hellman group {group} is not supported"
                )
            }
            ValidationWarning::UnknownGroup {
                priority: None,
                group,
            } => {
                write!(f, "PFS group {group} is not supported")
            }
            ValidationWarning::BadAesKeySize { priority, bits } => {
                write!(
                    f,
                    "isakmp policy {priority}: AES key size {bits} is not 128, 192 or 256"
                )
            }
            ValidationWarning::OutOfRange { what, value } => {
                write!(f, "{what} {value} is out of range")
            }
            ValidationWarning::MissingTransformSet { map, seq, name } => {
                write!(
                    f,
                    "crypto map {map} {seq}: transform set {name} does not exist"
                )
            }
            ValidationWarning::MissingAcl { user, acl } => {
                write!(f, "{user}: access list {acl} does not exist")
            }
            ValidationWarning::MissingCryptoMap { interface, map } => {
                write!(f, "interface {interface}: crypto map {map} has no entries")
            }
            ValidationWarning::MissingInterface { interface } => {
                write!(f, "interface {interface} does not exist")
            }
            ValidationWarning::IncompleteMapEntry { map, seq, missing } => {
                write!(
                    f,
                    "crypto map {map} {seq}: no {missing}; the entry stays disabled"
                )
            }
            ValidationWarning::NullTransformSet { name } => {
                write!(
                    f,
                    "transform set {name}: esp-null without integrity protects nothing"
                )
            }
        }
    }
}

impl GatewayConfig {
    /// The ISAKMP policy with this priority.
    pub fn isakmp_policy(&self, priority: u16) -> Option<&IsakmpPolicy> {
        self.isakmp_policies.iter().find(|p| p.priority == priority)
    }

    /// Policies in the order they are offered and checked (ascending priority), followed by the
    /// default protection suite.
    pub fn effective_isakmp_policies(&self) -> Vec<IsakmpPolicy> {
        let mut v = self.isakmp_policies.clone();
        v.sort_by_key(|p| p.priority);
        v.push(IsakmpPolicy::default_suite());
        v
    }

    /// Key for a peer address (longest mask wins).
    pub fn key_for(&self, peer: Ipv4Addr) -> Option<&PreSharedKey> {
        lookup_key(&self.keys, peer)
    }

    /// Transform set by name.
    pub fn transform_set(&self, name: &str) -> Option<&TransformSet> {
        self.transform_sets.iter().find(|t| t.name == name)
    }

    /// Access list by name or number.
    pub fn access_list(&self, name: &str) -> Option<&AccessList> {
        self.access_lists.iter().find(|a| a.name == name)
    }

    /// Interface by name (case-insensitive, as IOS).
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
    }

    /// Entries of one crypto map in sequence order.
    pub fn crypto_map(&self, name: &str) -> impl Iterator<Item = &CryptoMapEntry> {
        let name = name.to_string();
        self.crypto_maps.iter().filter(move |e| e.map == name)
    }

    /// Checks references and ranges; the list is empty for a consistent configuration.
    pub fn validate(&self) -> Vec<ValidationWarning> {
        let mut w = Vec::new();
        for p in &self.isakmp_policies {
            if !KNOWN_GROUPS.contains(&p.group) {
                w.push(ValidationWarning::UnknownGroup {
                    priority: Some(p.priority),
                    group: p.group,
                });
            }
            if let IkeEncryption::Aes { bits } = p.encryption {
                if !matches!(bits, 128 | 192 | 256) {
                    w.push(ValidationWarning::BadAesKeySize {
                        priority: p.priority,
                        bits,
                    });
                }
            }
            if !(60..=86_400).contains(&p.lifetime_secs) {
                w.push(ValidationWarning::OutOfRange {
                    what: format!("isakmp policy {} lifetime", p.priority),
                    value: p.lifetime_secs.into(),
                });
            }
        }
        let g = &self.ipsec;
        if !(120..=86_400).contains(&g.sa_lifetime_secs) {
            w.push(ValidationWarning::OutOfRange {
                what: "ipsec security-association lifetime seconds".into(),
                value: g.sa_lifetime_secs.into(),
            });
        }
        if !(2560..=4_294_967_295).contains(&g.sa_lifetime_kb) {
            w.push(ValidationWarning::OutOfRange {
                what: "ipsec security-association lifetime kilobytes".into(),
                value: g.sa_lifetime_kb,
            });
        }
        if let Some(d) = g.dpd {
            if !(10..=3600).contains(&d.interval_secs) {
                w.push(ValidationWarning::OutOfRange {
                    what: "isakmp keepalive".into(),
                    value: d.interval_secs.into(),
                });
            }
            if !(2..=60).contains(&d.retry_secs) {
                w.push(ValidationWarning::OutOfRange {
                    what: "isakmp keepalive retry".into(),
                    value: d.retry_secs.into(),
                });
            }
        }
        for t in &self.transform_sets {
            if t.esp_encryption == EspEncryption::Null && t.esp_integrity == EspIntegrity::None {
                w.push(ValidationWarning::NullTransformSet {
                    name: t.name.clone(),
                });
            }
        }
        for e in &self.crypto_maps {
            let incomplete = |missing| ValidationWarning::IncompleteMapEntry {
                map: e.map.clone(),
                seq: e.seq,
                missing,
            };
            if e.peers.is_empty() {
                w.push(incomplete("peer"));
            }
            if e.transform_sets.is_empty() {
                w.push(incomplete("transform-set"));
            }
            for ts in &e.transform_sets {
                if self.transform_set(ts).is_none() {
                    w.push(ValidationWarning::MissingTransformSet {
                        map: e.map.clone(),
                        seq: e.seq,
                        name: ts.clone(),
                    });
                }
            }
            match &e.acl {
                None => w.push(incomplete("match address")),
                Some(a) if self.access_list(a).is_none() => w.push(ValidationWarning::MissingAcl {
                    user: format!("crypto map {} {}", e.map, e.seq),
                    acl: a.clone(),
                }),
                Some(_) => {}
            }
            if let Some(gr) = e.pfs_group {
                if !KNOWN_GROUPS.contains(&gr) {
                    w.push(ValidationWarning::UnknownGroup {
                        priority: None,
                        group: gr,
                    });
                }
            }
        }
        for i in &self.interfaces {
            if let Some(m) = &i.crypto_map {
                if self.crypto_map(m).next().is_none() {
                    w.push(ValidationWarning::MissingCryptoMap {
                        interface: i.name.clone(),
                        map: m.clone(),
                    });
                }
            }
        }
        for n in &self.nat_rules {
            if self.access_list(&n.acl).is_none() {
                w.push(ValidationWarning::MissingAcl {
                    user: "ip nat inside source".into(),
                    acl: n.acl.clone(),
                });
            }
            if self.interface(&n.interface).is_none() {
                w.push(ValidationWarning::MissingInterface {
                    interface: n.interface.clone(),
                });
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_dangling_references() {
        let mut c = GatewayConfig::default();
        let mut e = CryptoMapEntry::new("VPN", 10);
        e.transform_sets.push("NOPE".into());
        e.acl = Some("100".into());
        c.crypto_maps.push(e);
        let mut i = Interface::new("Fa4");
        i.crypto_map = Some("OTHER".into());
        c.interfaces.push(i);
        let mut p = IsakmpPolicy::new(1);
        p.group = 3;
        c.isakmp_policies.push(p);
        let w = c.validate();
        assert!(w.contains(&ValidationWarning::IncompleteMapEntry {
            map: "VPN".into(),
            seq: 10,
            missing: "peer"
        }));
        assert!(w.contains(&ValidationWarning::MissingTransformSet {
            map: "VPN".into(),
            seq: 10,
            name: "NOPE".into()
        }));
        assert!(w.contains(&ValidationWarning::MissingAcl {
            user: "crypto map VPN 10".into(),
            acl: "100".into()
        }));
        assert!(w.contains(&ValidationWarning::MissingCryptoMap {
            interface: "Fa4".into(),
            map: "OTHER".into()
        }));
        assert!(w.contains(&ValidationWarning::UnknownGroup {
            priority: Some(1),
            group: 3
        }));
        assert_eq!(w.len(), 5, "{w:#?}");
        assert!(GatewayConfig::default().validate().is_empty());
    }
}
