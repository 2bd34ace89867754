//! Proposals, transform sets, traffic selectors (crypto ACLs), peers and keys.
//!
//! Plain data describing what a gateway is configured with, independent of IOS text: the IKE state
//! machine and the C/Python bindings build these directly, and [`crate::ios`] converts IOS
//! configuration text to and from them.

pub mod aaa;
pub mod acl;
pub mod aggressive;
pub mod ipsec;
pub mod isakmp;
pub mod keyring;
pub mod modecfg;
pub mod net;
pub mod pki;

use std::net::Ipv4Addr;

pub use aaa::{
    AaaConfig, LocalUser, LoginMethod, Password, XauthCredentials, XauthServer,
    XAUTH_DEFAULT_ATTEMPTS,
};
pub use acl::{
    AccessList, AclAction, AclEntry, AclKind, AclProtocol, AddrMatch, FiveTuple, PortMatch,
    PortRange, SelectorAddr, TrafficSelector,
};
pub use aggressive::{IsakmpPeer, Phase1Id};
pub use ipsec::{
    volume_limit, CryptoMapEntry, DfBit, DpdConfig, DpdMode, EspEncryption, EspIntegrity, EspMode,
    IdleTime, IpsecGlobals, IpsecProfile, ReverseRoute, TransformSet, KILOBYTES_DISABLED,
};
pub use isakmp::{
    group_bits, group_description, lookup_key, lookup_key_by_hostname, IkeAuth, IkeEncryption,
    IkeHash, IsakmpPolicy, KeyEncoding, PreSharedKey, PskPeer, PskSecret, KNOWN_GROUPS,
};
pub use keyring::{
    HostIdentity, IsakmpProfile, KeySource, Keyring, LocalAddress, LocalIdentity, SelfIdentity,
};
pub use modecfg::{
    AddressAssignment, AuthorizationMethod, ClientGroup, ClientMode, ClientSettings, EasyVpnRemote,
    EzvpnClient, LocalPool, ModeConfigServer, ResolvedGroup,
};
pub use net::{
    tunnel_number, Interface, NatRule, NatSide, StaticRoute, TunnelConfig, TunnelMode, TunnelSource,
};
pub use pki::{
    certificate_map_matches, CertField, CertMatchOp, CertMatchRule, CertificateMap,
    ChainCertificate, Enrollment, IsakmpIdentity, RsaSigConfig, Trustpoint,
};

/// Everything a gateway is configured with.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GatewayConfig {
    /// `hostname`.
    pub hostname: Option<String>,
    /// `ip domain name D` (or `ip domain-name D`): the domain of our FQDN identity.
    pub domain_name: Option<String>,
    /// `crypto isakmp identity address | hostname | dn`: what we identify with where no ISAKMP
    /// profile says otherwise.
    pub isakmp_identity: IsakmpIdentity,
    /// ISAKMP policies sorted by priority.
    pub isakmp_policies: Vec<IsakmpPolicy>,
    /// Pre-shared keys in configuration order.
    pub keys: Vec<PreSharedKey>,
    /// `crypto keyring` blocks in configuration order.
    pub keyrings: Vec<Keyring>,
    /// `crypto isakmp profile` blocks in configuration order.
    pub isakmp_profiles: Vec<IsakmpProfile>,
    /// `crypto isakmp peer address A` blocks in configuration order.
    pub isakmp_peers: Vec<IsakmpPeer>,
    /// `crypto isakmp aggressive-mode disable`.
    pub aggressive_mode_disabled: bool,
    /// Global IPsec / NAT-T / DPD settings.
    pub ipsec: IpsecGlobals,
    /// Transform sets in configuration order.
    pub transform_sets: Vec<TransformSet>,
    /// `crypto ipsec profile` blocks in configuration order (the policies of VTIs).
    pub ipsec_profiles: Vec<IpsecProfile>,
    /// Crypto map entries sorted by map name then sequence number.
    pub crypto_maps: Vec<CryptoMapEntry>,
    /// `crypto dynamic-map NAME SEQ` entries (their `map` is the dynamic map's name), sorted
    /// like [`GatewayConfig::crypto_maps`]; a crypto map entry refers to them with
    /// `ipsec-isakmp dynamic NAME`.
    pub dynamic_maps: Vec<CryptoMapEntry>,
    /// `crypto map NAME local-address IF`: map name → interface whose address the map's IKE
    /// and ESP use (instead of the address of the interface the map is applied to).
    pub map_local_addresses: std::collections::BTreeMap<String, String>,
    /// Access lists in configuration order.
    pub access_lists: Vec<AccessList>,
    /// Interfaces in configuration order.
    pub interfaces: Vec<Interface>,
    /// Static routes in configuration order.
    pub routes: Vec<StaticRoute>,
    /// NAT rules in configuration order.
    pub nat_rules: Vec<NatRule>,
    /// `aaa new-model`, `aaa authentication login`, `username` (XAUTH's user database).
    pub aaa: AaaConfig,
    /// `crypto map M client authentication list L`, by map name: XAUTH for that map's
    /// remote-access peers.
    pub map_client_auth: Vec<(String, String)>,
    /// `crypto map M isakmp authorization list L`, by map name: Mode Config group policy.
    pub map_isakmp_authorization: Vec<(String, String)>,
    /// `crypto map M client configuration address respond|initiate`, by map name.
    pub map_client_configuration: Vec<(String, AddressAssignment)>,
    /// `ip local pool` ranges, one entry per pool name, ranges in configuration order.
    pub local_pools: Vec<LocalPool>,
    /// `crypto isakmp client configuration group` blocks in configuration order.
    pub client_groups: Vec<ClientGroup>,
    /// `crypto ipsec client ezvpn NAME` profiles in configuration order.
    pub ezvpn_clients: Vec<EzvpnClient>,
    /// `crypto pki trustpoint` blocks (with their `crypto pki certificate chain`) in
    /// configuration order.
    pub trustpoints: Vec<Trustpoint>,
    /// `crypto pki certificate map NAME SEQ` entries in configuration order.
    pub certificate_maps: Vec<CertificateMap>,
    /// Our RSA private keys by label (`rsakeypair LABEL`), which a running-config never holds:
    /// the embedder or the engine's `--key-dir` supplies them.
    pub rsa_keys: std::collections::BTreeMap<String, crate::pki::PrivateKey>,
    /// CRLs (DER) by trustpoint name, for `revocation-check crl`: like keys, supplied by the
    /// embedder or the engine's key directory (`TRUSTPOINT.crl`).
    pub crls: std::collections::BTreeMap<String, Vec<Vec<u8>>>,
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
    /// A client configuration group's `pool` names no `ip local pool`: its clients get no
    /// address.
    MissingPool {
        /// Group name.
        group: String,
        /// Pool name.
        pool: String,
    },
    /// A client configuration group has no `key`: its clients cannot authenticate.
    GroupWithoutKey {
        /// Group name.
        group: String,
    },
    /// An Easy VPN client profile is applied on no outside interface: it never connects.
    EzvpnNotApplied {
        /// Profile name.
        profile: String,
    },
    /// An applied Easy VPN client profile lacks what a connection needs: `group` (no key to
    /// authenticate with) or `peer` (no server to connect to).
    IncompleteEzvpn {
        /// Profile name.
        profile: String,
        /// `group` or `peer`.
        missing: &'static str,
    },
    /// An applied `connect auto` Easy VPN client profile has no `username`/`password`: the
    /// connection stops at XAUTH until someone enters `crypto ipsec client ezvpn xauth`.
    EzvpnWaitsForCredentials {
        /// Profile name.
        profile: String,
    },
    /// An interface names an Easy VPN client profile that does not exist.
    MissingEzvpn {
        /// Interface.
        interface: String,
        /// Profile name.
        profile: String,
    },
    /// `isakmp authorization list L` (crypto map or ISAKMP profile) finds no group policy:
    /// no `aaa authorization network L local`, or no `aaa new-model`.
    MissingAuthorizationList {
        /// Who names it (`crypto map VPN`, `crypto isakmp profile RA`).
        user: String,
        /// List name.
        list: String,
        /// `aaa new-model` is configured (so the list itself is what is missing).
        new_model: bool,
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
            ValidationWarning::MissingPool { group, pool } => {
                write!(
                    f,
                    "client configuration group {group}: ip local pool {pool} does not exist; its clients get no address"
                )
            }
            ValidationWarning::GroupWithoutKey { group } => {
                write!(
                    f,
                    "client configuration group {group}: no key; its clients cannot authenticate"
                )
            }
            ValidationWarning::EzvpnNotApplied { profile } => {
                write!(
                    f,
                    "crypto ipsec client ezvpn {profile}: applied on no outside interface; it never connects"
                )
            }
            ValidationWarning::IncompleteEzvpn { profile, missing } => {
                write!(
                    f,
                    "crypto ipsec client ezvpn {profile}: no `{missing}`; it cannot connect"
                )
            }
            ValidationWarning::EzvpnWaitsForCredentials { profile } => {
                write!(
                    f,
                    "crypto ipsec client ezvpn {profile}: connect auto without `username U password P`; the connection waits at XAUTH for `crypto ipsec client ezvpn xauth`"
                )
            }
            ValidationWarning::MissingEzvpn { interface, profile } => {
                write!(
                    f,
                    "interface {interface}: crypto ipsec client ezvpn {profile} does not exist"
                )
            }
            ValidationWarning::MissingAuthorizationList {
                user,
                list,
                new_model: true,
            } => {
                write!(
                    f,
                    "{user}: isakmp authorization list {list}: no `aaa authorization network {list} local`; clients get no group policy"
                )
            }
            ValidationWarning::MissingAuthorizationList {
                user,
                list,
                new_model: false,
            } => {
                write!(
                    f,
                    "{user}: isakmp authorization list {list}: no `aaa new-model`, so the list has no effect; clients get no group policy"
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

    /// `crypto ipsec profile` by name.
    pub fn ipsec_profile(&self, name: &str) -> Option<&IpsecProfile> {
        self.ipsec_profiles.iter().find(|p| p.name == name)
    }

    /// The static VTIs (`interface TunnelN` in `tunnel mode ipsec ipv4`), in configuration order.
    pub fn vtis(&self) -> impl Iterator<Item = &Interface> {
        self.interfaces.iter().filter(|i| i.is_vti())
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

    /// Entries of one dynamic crypto map in sequence order.
    pub fn dynamic_map(&self, name: &str) -> impl Iterator<Item = &CryptoMapEntry> {
        let name = name.to_string();
        self.dynamic_maps.iter().filter(move |e| e.map == name)
    }

    /// Entries of one crypto map in sequence order.
    pub fn crypto_map(&self, name: &str) -> impl Iterator<Item = &CryptoMapEntry> {
        let name = name.to_string();
        self.crypto_maps.iter().filter(move |e| e.map == name)
    }

    /// Initiator side: the crypto map entry and permit line that protect an outbound packet leaving an
    /// interface with crypto map `map`. Entries are checked in sequence order; a `deny` (or no match)
    /// in one entry's ACL leaves the packet to the next entry; None = send in clear.
    pub fn outbound_entry(
        &self,
        map: &str,
        pkt: &FiveTuple,
    ) -> Option<(&CryptoMapEntry, &AclEntry)> {
        self.crypto_map(map).find_map(|e| {
            let acl = self.access_list(e.acl.as_deref()?)?;
            let hit = acl.first_match(pkt)?;
            (hit.action == AclAction::Permit).then_some((e, hit))
        })
    }

    /// The proxy identity pairs (local, remote) an entry proposes, one per expressible permit line.
    pub fn proxy_identities(
        &self,
        entry: &CryptoMapEntry,
    ) -> Vec<(TrafficSelector, TrafficSelector)> {
        entry
            .acl
            .as_deref()
            .and_then(|a| self.access_list(a))
            .map(|acl| {
                acl.entries
                    .iter()
                    .filter(|e| e.action == AclAction::Permit)
                    .filter_map(AclEntry::to_selectors)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Responder side of Quick Mode: the first entry of crypto map `map` (sequence order) that lists
    /// `peer` in `set peer` and whose ACL has a permit line containing the proposal, with `local` and
    /// `remote` already in our view (the peer's IDcr is our local side). None = IOS "error 32"
    /// (proxy identities not supported).
    pub fn responder_entry(
        &self,
        map: &str,
        peer: Ipv4Addr,
        local: &TrafficSelector,
        remote: &TrafficSelector,
    ) -> Option<(&CryptoMapEntry, &AclEntry)> {
        self.crypto_map(map)
            .filter(|e| e.peers.contains(&peer))
            .find_map(|e| {
                let acl = self.access_list(e.acl.as_deref()?)?;
                acl.find_containing(local, remote).map(|line| (e, line))
            })
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
        if g.sa_lifetime_kb != KILOBYTES_DISABLED
            && !(2560..=4_294_967_295).contains(&g.sa_lifetime_kb)
        {
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
        for e in self.crypto_maps.iter().chain(&self.dynamic_maps) {
            let incomplete = |missing| ValidationWarning::IncompleteMapEntry {
                map: e.map.clone(),
                seq: e.seq,
                missing,
            };
            if let Some(d) = &e.dynamic {
                if self.dynamic_map(d).next().is_none() {
                    w.push(incomplete("an existing dynamic map"));
                }
                continue;
            }
            // Dynamic map entries answer peers the configuration does not name.
            let dynamic_entry = self.dynamic_maps.iter().any(|x| std::ptr::eq(x, e));
            if e.peers.is_empty() && !dynamic_entry {
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
                // A dynamic map entry without one takes the proxy identities peers offer.
                None if dynamic_entry => {}
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
        for g in &self.client_groups {
            if g.key.is_none() {
                w.push(ValidationWarning::GroupWithoutKey {
                    group: g.name.clone(),
                });
            }
            if let Some(p) = &g.pool {
                if !self.local_pools.iter().any(|x| x.name == *p) {
                    w.push(ValidationWarning::MissingPool {
                        group: g.name.clone(),
                        pool: p.clone(),
                    });
                }
            }
            if let Some(a) = &g.split_acl {
                if self.access_list(a).is_none() {
                    w.push(ValidationWarning::MissingAcl {
                        user: format!("crypto isakmp client configuration group {}", g.name),
                        acl: a.clone(),
                    });
                }
            }
        }
        for z in &self.ezvpn_clients {
            let outside = self.interfaces.iter().any(|i| {
                i.ezvpn
                    .as_ref()
                    .is_some_and(|(n, inside)| *n == z.name && !inside)
            });
            // What an unapplied profile lacks does not matter until it is applied.
            if !outside {
                w.push(ValidationWarning::EzvpnNotApplied {
                    profile: z.name.clone(),
                });
                continue;
            }
            for (missing, absent) in [("group", z.group.is_none()), ("peer", z.peers.is_empty())] {
                if absent {
                    w.push(ValidationWarning::IncompleteEzvpn {
                        profile: z.name.clone(),
                        missing,
                    });
                }
            }
            if z.connect_auto && (z.credentials.is_none() || z.xauth_interactive) {
                w.push(ValidationWarning::EzvpnWaitsForCredentials {
                    profile: z.name.clone(),
                });
            }
        }
        for i in &self.interfaces {
            if let Some((n, _)) = &i.ezvpn {
                if !self.ezvpn_clients.iter().any(|z| z.name == *n) {
                    w.push(ValidationWarning::MissingEzvpn {
                        interface: i.name.clone(),
                        profile: n.clone(),
                    });
                }
            }
        }
        let lists = self
            .map_isakmp_authorization
            .iter()
            .map(|(m, l)| (format!("crypto map {m}"), l))
            .chain(self.isakmp_profiles.iter().filter_map(|p| {
                let l = p.isakmp_authorization_list.as_ref()?;
                Some((format!("crypto isakmp profile {}", p.name), l))
            }));
        for (user, list) in lists {
            if !self.aaa.local_network_authorization(list) {
                w.push(ValidationWarning::MissingAuthorizationList {
                    user,
                    list: list.clone(),
                    new_model: self.aaa.new_model,
                });
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

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn two_entry_config() -> GatewayConfig {
        let mut c = GatewayConfig::default();
        let lan = AddrMatch {
            addr: ip("192.168.1.0"),
            wildcard: ip("0.0.0.255"),
        };
        let rule = |action, dst| AclEntry {
            seq: 0,
            action,
            protocol: AclProtocol::Ip,
            src: lan,
            src_port: PortMatch::Any,
            dst,
            dst_port: PortMatch::Any,
            log: false,
        };
        let mut a100 = AccessList::new("100", true, AclKind::Extended);
        a100.insert(
            None,
            rule(AclAction::Deny, AddrMatch::host(ip("192.168.2.1"))),
        );
        a100.insert(
            None,
            rule(
                AclAction::Permit,
                AddrMatch {
                    addr: ip("192.168.2.0"),
                    wildcard: ip("0.0.0.255"),
                },
            ),
        );
        let mut a110 = AccessList::new("110", true, AclKind::Extended);
        a110.insert(None, rule(AclAction::Permit, AddrMatch::ANY));
        c.access_lists = vec![a100, a110];
        let mut e10 = CryptoMapEntry::new("VPN", 10);
        e10.peers = vec![ip("203.0.113.2")];
        e10.acl = Some("100".into());
        let mut e20 = CryptoMapEntry::new("VPN", 20);
        e20.peers = vec![ip("203.0.113.9")];
        e20.acl = Some("110".into());
        c.crypto_maps = vec![e10, e20];
        c
    }

    #[test]
    fn outbound_and_responder_lookup() {
        let c = two_entry_config();
        let pkt = |d: &str| FiveTuple {
            src: ip("192.168.1.5"),
            dst: ip(d),
            protocol: 6,
            src_port: 1,
            dst_port: 2,
        };
        assert_eq!(
            c.outbound_entry("VPN", &pkt("192.168.2.7"))
                .map(|(e, _)| e.seq),
            Some(10)
        );
        // denied by entry 10, so entry 20 (permit any) protects it
        assert_eq!(
            c.outbound_entry("VPN", &pkt("192.168.2.1"))
                .map(|(e, _)| e.seq),
            Some(20)
        );
        assert_eq!(
            c.outbound_entry("VPN", &pkt("10.0.0.1"))
                .map(|(e, _)| e.seq),
            Some(20)
        );
        assert!(c
            .outbound_entry(
                "VPN",
                &FiveTuple {
                    src: ip("10.9.9.9"),
                    ..pkt("10.0.0.1")
                }
            )
            .is_none());
        assert!(c.outbound_entry("NOPE", &pkt("192.168.2.7")).is_none());

        let ids = c.proxy_identities(&c.crypto_maps[0]);
        assert_eq!(ids.len(), 1);
        let (l, r) = ids[0];
        assert_eq!(
            c.responder_entry("VPN", ip("203.0.113.2"), &l, &r)
                .map(|(e, _)| e.seq),
            Some(10)
        );
        // Right proxies, wrong peer: entry 20 covers them, but only for its own peer.
        assert_eq!(
            c.responder_entry("VPN", ip("203.0.113.9"), &l, &r)
                .map(|(e, _)| e.seq),
            Some(20)
        );
        assert!(c
            .responder_entry("VPN", ip("203.0.113.77"), &l, &r)
            .is_none());
        let wide = TrafficSelector::subnet(ip("192.168.0.0"), ip("255.255.0.0"));
        assert!(
            c.responder_entry("VPN", ip("203.0.113.2"), &wide, &r)
                .is_none(),
            "error 32"
        );
    }

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
