//! `crypto keyring` and `crypto isakmp profile`, and the one rule that picks a peer's key from
//! the global keys and the keyrings (IOS picks it in Main Mode before any identity is seen: the
//! most specific address match; the profile chosen by identity must own the keyring it came
//! from).

use std::net::Ipv4Addr;

use super::isakmp::{KeyEncoding, PreSharedKey, PskPeer};
use super::GatewayConfig;

/// `crypto keyring NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// Its name.
    pub name: String,
    /// `pre-shared-key address A [M] key K` / `pre-shared-key hostname H key K`.
    pub keys: Vec<PreSharedKey>,
    /// `local-address A` or `local-address IF`: the keyring serves only IKE on that address.
    pub local_address: Option<LocalAddress>,
}

/// Where a keyring's `local-address` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAddress {
    /// An address.
    Address(Ipv4Addr),
    /// An interface (its `ip address`).
    Interface(String),
}

/// `match identity host NAME` / `match identity host domain D` in an ISAKMP profile: the
/// peer's ID_FQDN identities the profile takes (compared without regard to case, as DNS does).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostIdentity {
    /// `match identity host NAME`: exactly NAME.
    Host(String),
    /// `match identity host domain D`: D itself or any name ending in `.D`.
    Domain(String),
}

impl HostIdentity {
    /// Whether the ID_FQDN `name` is taken.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        match self {
            HostIdentity::Host(h) => name.eq_ignore_ascii_case(h.trim_end_matches('.')),
            HostIdentity::Domain(d) => {
                let d = d.trim_start_matches('.').trim_end_matches('.');
                name.eq_ignore_ascii_case(d)
                    || (name.len() > d.len()
                        && name.get(name.len() - d.len() - 1..).is_some_and(|tail| {
                            tail.starts_with('.') && tail[1..].eq_ignore_ascii_case(d)
                        }))
            }
        }
    }
}

/// What we identify with in Main Mode (MM5 as initiator, MM6 as responder): `crypto isakmp
/// identity address|hostname` globally, `self-identity address|fqdn|user-fqdn U` in a profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum LocalIdentity {
    /// ID_IPV4_ADDR, our address towards the peer (the IOS default).
    #[default]
    Address,
    /// ID_FQDN with this name (`hostname` plus `ip domain name`).
    Fqdn(String),
    /// ID_USER_FQDN with this `user@domain`.
    UserFqdn(String),
    /// ID_DER_ASN1_DN: the subject of our certificate (`crypto isakmp identity dn`).
    Dn,
}

/// `self-identity` of an ISAKMP profile, as written (the FQDN is resolved against `hostname`
/// and `ip domain name` when the configuration runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelfIdentity {
    /// `self-identity address`.
    Address,
    /// `self-identity fqdn`: `hostname.domain`.
    Fqdn,
    /// `self-identity user-fqdn USER@DOMAIN`.
    UserFqdn(String),
}

/// `crypto isakmp profile NAME`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IsakmpProfile {
    /// Its name.
    pub name: String,
    /// `keyring NAME` lines (none: any key may be used).
    pub keyrings: Vec<String>,
    /// `match identity address A [M]`: the peer's ID_IPV4_ADDR identities the profile takes.
    pub match_addresses: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// `keepalive S retry R`: DPD with the profile's peers (its mode is the global
    /// `crypto isakmp keepalive`'s, on-demand without one).
    pub keepalive: Option<(u32, u32)>,
    /// `local-address A | IF`: the profile serves only IKE on that address of ours (a crypto
    /// map entry or VTI naming it from another address does not run).
    pub local_address: Option<LocalAddress>,
    /// `initiate mode aggressive`: Phase 1 with the profile's peers is Aggressive Mode.
    pub initiate_aggressive: bool,
    /// `match identity host NAME | domain D`: the peer's ID_FQDN identities the profile takes.
    pub match_hosts: Vec<HostIdentity>,
    /// `self-identity ...` (None: the global `crypto isakmp identity`).
    pub self_identity: Option<SelfIdentity>,
    /// `client authentication list L`: XAUTH for the profile's peers against list `L`.
    pub client_auth_list: Option<String>,
    /// `match identity group G`: the Easy VPN groups (ID_KEY_ID) the profile takes.
    pub match_groups: Vec<String>,
    /// `isakmp authorization list L`: Mode Config group policy from list `L`.
    pub isakmp_authorization_list: Option<String>,
    /// `client configuration address respond|initiate`.
    pub client_configuration: Option<super::modecfg::AddressAssignment>,
    /// `ca trust-point T` lines: the trustpoints the profile's peers' certificates may chain
    /// to (none: any trustpoint).
    pub ca_trustpoints: Vec<String>,
    /// `match certificate MAP` lines: the peer's certificate must match one of these maps.
    pub match_certificates: Vec<String>,
}

impl IsakmpProfile {
    /// The profile serves IKE on our address `local` (its `local-address`, if any, is it).
    pub fn serves(&self, cfg: &GatewayConfig, local: Ipv4Addr) -> bool {
        match &self.local_address {
            None => true,
            Some(LocalAddress::Address(a)) => *a == local,
            Some(LocalAddress::Interface(i)) => cfg
                .interface(i)
                .and_then(|i| i.address)
                .is_some_and(|(a, _)| a == local),
        }
    }

    /// The profile takes a peer that identified with `id`.
    pub fn matches_identity(&self, id: Ipv4Addr) -> bool {
        self.match_addresses
            .iter()
            .any(|(a, m)| u32::from(id) & u32::from(*m) == u32::from(*a) & u32::from(*m))
    }
}

/// Where a key was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `crypto isakmp key`.
    Global,
    /// A `crypto keyring`.
    Keyring(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Global => f.write_str("the global keys (crypto isakmp key)"),
            KeySource::Keyring(k) => write!(f, "keyring {k}"),
        }
    }
}

impl Keyring {
    /// The keyring serves IKE on our address `local` (its `local-address`, if any, is it).
    pub fn serves(&self, cfg: &GatewayConfig, local: Ipv4Addr) -> bool {
        match &self.local_address {
            None => true,
            Some(LocalAddress::Address(a)) => *a == local,
            Some(LocalAddress::Interface(i)) => cfg
                .interface(i)
                .and_then(|i| i.address)
                .is_some_and(|(a, _)| a == local),
        }
    }
}

impl GatewayConfig {
    /// Our FQDN as IOS sends it in ID_FQDN: `hostname` and `ip domain name` (the hostname
    /// alone without a domain; IOS's default hostname `Router` without either).
    pub fn fqdn(&self) -> String {
        let host = self.hostname.as_deref().unwrap_or("Router");
        match self.domain_name.as_deref() {
            Some(d) if !d.is_empty() => format!("{host}.{d}"),
            _ => host.to_string(),
        }
    }

    /// What we identify with in Main Mode under `profile` (its `self-identity`, else the global
    /// `crypto isakmp identity`).
    pub fn local_identity(&self, profile: Option<&IsakmpProfile>) -> LocalIdentity {
        match profile.and_then(|p| p.self_identity.as_ref()) {
            Some(SelfIdentity::Address) => LocalIdentity::Address,
            Some(SelfIdentity::Fqdn) => LocalIdentity::Fqdn(self.fqdn()),
            Some(SelfIdentity::UserFqdn(u)) => LocalIdentity::UserFqdn(u.clone()),
            None => match self.isakmp_identity {
                super::IsakmpIdentity::Address => LocalIdentity::Address,
                super::IsakmpIdentity::Hostname => LocalIdentity::Fqdn(self.fqdn()),
                super::IsakmpIdentity::Dn => LocalIdentity::Dn,
            },
        }
    }

    /// The key IOS uses with `peer` on our address `local`: the most specific address match
    /// among the global keys and the keyrings that serve `local` (a keyring without
    /// `local-address` serves every address; on a tie the global key wins, then the keyring
    /// defined first).
    pub fn select_key(
        &self,
        peer: Ipv4Addr,
        local: Ipv4Addr,
    ) -> Option<(&PreSharedKey, KeySource)> {
        let global = self.keys.iter().map(|k| (k, KeySource::Global));
        let rings = self
            .keyrings
            .iter()
            .filter(|k| k.serves(self, local))
            .flat_map(|r| {
                r.keys
                    .iter()
                    .map(|k| (k, KeySource::Keyring(r.name.clone())))
            });
        let mut best: Option<(&PreSharedKey, KeySource, u32)> = None;
        for (k, src) in global.chain(rings) {
            if k.encoding != KeyEncoding::Clear || !k.matches_addr(peer) {
                continue;
            }
            let PskPeer::Address { mask, .. } = &k.peer else {
                continue;
            };
            let len = u32::from(*mask).count_ones();
            if best.as_ref().is_none_or(|b| len > b.2) {
                best = Some((k, src, len));
            }
        }
        best.map(|(k, s, _)| (k, s))
    }

    /// The key for `peer` on `local` as IOS chooses it (global keys and keyrings, most specific
    /// first), refused when an ISAKMP profile's keyrings did not supply it.
    pub fn entry_key(
        &self,
        peer: Ipv4Addr,
        local: Ipv4Addr,
        profile: Option<&IsakmpProfile>,
    ) -> Result<super::PskSecret, String> {
        let Some((k, source)) = self.select_key(peer, local) else {
            return Err(format!(
                "No pre-shared key with {peer}! (no crypto isakmp key or keyring key for the peer)"
            ));
        };
        match (profile, &source) {
            (Some(p), KeySource::Keyring(r))
                if !p.keyrings.is_empty() && !p.keyrings.contains(r) =>
            {
                Err(not_from_profile(peer, &source, p))
            }
            (Some(p), KeySource::Global) if !p.keyrings.is_empty() => {
                Err(not_from_profile(peer, &source, p))
            }
            _ => Ok(k.key.clone()),
        }
    }

    /// Keyring by name.
    pub fn keyring(&self, name: &str) -> Option<&Keyring> {
        self.keyrings.iter().find(|k| k.name == name)
    }

    /// ISAKMP profile by name.
    pub fn isakmp_profile(&self, name: &str) -> Option<&IsakmpProfile> {
        self.isakmp_profiles.iter().find(|p| p.name == name)
    }
}

fn not_from_profile(peer: Ipv4Addr, source: &KeySource, p: &IsakmpProfile) -> String {
    format!(
        "the key for {peer} comes from {source}, not from keyring {} of isakmp profile {}: IOS refuses the SA",
        p.keyrings.join(", "),
        p.name
    )
}
