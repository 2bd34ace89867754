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
    /// `self-identity user-fqdn U` (or `address`, the default: `None`): what we send as our
    /// Phase 1 identity in Aggressive Mode.
    pub self_identity: Option<super::Phase1Id>,
    /// `client authentication list L`: XAUTH for the profile's peers against list `L`.
    pub client_auth_list: Option<String>,
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
