//! Aggressive Mode settings (RFC 2409 section 5.4): the identities a peer may send in clear
//! and be keyed by, `crypto isakmp aggressive-mode disable`, and `crypto isakmp peer address A`
//! with `set aggressive-mode password` / `set aggressive-mode client-endpoint` (we initiate
//! Aggressive Mode to that peer, identifying as the client endpoint).

use std::net::Ipv4Addr;

use super::isakmp::{KeyEncoding, PskPeer, PskSecret};
use super::GatewayConfig;

/// A Phase 1 identity (RFC 2407 section 4.6.2): what an Aggressive Mode initiator sends as
/// IDii, and what an [`crate::ike::IdentityKey`] is looked up by.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase1Id {
    /// ID_IPV4_ADDR (IOS `client-endpoint ipv4-address`).
    Ipv4(Ipv4Addr),
    /// ID_FQDN (IOS `client-endpoint fqdn`, strongSwan `@name`).
    Fqdn(String),
    /// ID_USER_FQDN (IOS `client-endpoint user-fqdn`, `user@domain`).
    UserFqdn(String),
    /// ID_KEY_ID: opaque bytes; Cisco VPN clients send the group name as one (strongSwan
    /// `keyid:name`).
    KeyId(Vec<u8>),
    /// ID_DER_ASN1_DN: a certificate subject, DER (compared as DER, never as text).
    Dn(Vec<u8>),
}

impl Phase1Id {
    /// The ID payload body: type, protocol UDP, port 500, then the identity (as IOS sends it).
    pub fn body(&self) -> Vec<u8> {
        let (ty, data): (u8, &[u8]) = match self {
            Phase1Id::Ipv4(_) => (1, &[]),
            Phase1Id::Fqdn(s) => (2, s.as_bytes()),
            Phase1Id::UserFqdn(s) => (3, s.as_bytes()),
            Phase1Id::KeyId(k) => (11, k),
            Phase1Id::Dn(d) => (9, d),
        };
        let mut v = vec![ty, 17, 0x01, 0xf4];
        match self {
            Phase1Id::Ipv4(a) => v.extend_from_slice(&a.octets()),
            _ => v.extend_from_slice(data),
        }
        v
    }

    /// The identity as a name (ID_KEY_ID as text, FQDN, user FQDN); `None` for an address.
    /// An Easy VPN client's group name, and what `show crypto session` prints as Phase1_id.
    pub fn name(&self) -> Option<String> {
        match self {
            Phase1Id::KeyId(k) => Some(String::from_utf8_lossy(k).into_owned()),
            Phase1Id::Fqdn(s) | Phase1Id::UserFqdn(s) => Some(s.clone()),
            Phase1Id::Dn(d) => crate::pki::cert::dn_text(d),
            Phase1Id::Ipv4(_) => None,
        }
    }

    /// Reads a received ID payload body (type, protocol, port, data); `None` for the types an
    /// Aggressive Mode peer cannot be keyed by (subnets, ranges, IPv6, DNs).
    pub fn from_body(body: &[u8]) -> Option<Phase1Id> {
        let (&ty, rest) = body.split_first()?;
        let data = rest.get(3..)?;
        let text = || String::from_utf8_lossy(data).into_owned();
        match ty {
            1 => <[u8; 4]>::try_from(data)
                .ok()
                .map(|a| Phase1Id::Ipv4(a.into())),
            2 => Some(Phase1Id::Fqdn(text())),
            3 => Some(Phase1Id::UserFqdn(text())),
            11 => Some(Phase1Id::KeyId(data.to_vec())),
            9 => Some(Phase1Id::Dn(data.to_vec())),
            _ => None,
        }
    }

    /// Whether a configured identity names the received one: names compare without regard to
    /// ASCII case (DNS names are case-insensitive; so are IOS hostname keys), key IDs exactly.
    pub fn matches(&self, received: &Phase1Id) -> bool {
        match (self, received) {
            (Phase1Id::Ipv4(a), Phase1Id::Ipv4(b)) => a == b,
            (Phase1Id::Fqdn(a), Phase1Id::Fqdn(b))
            | (Phase1Id::UserFqdn(a), Phase1Id::UserFqdn(b)) => a.eq_ignore_ascii_case(b),
            (Phase1Id::KeyId(a), Phase1Id::KeyId(b)) | (Phase1Id::Dn(a), Phase1Id::Dn(b)) => a == b,
            _ => false,
        }
    }
}

impl core::fmt::Display for Phase1Id {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Phase1Id::Ipv4(a) => write!(f, "ID_IPV4_ADDR {a}"),
            Phase1Id::Fqdn(s) => write!(f, "ID_FQDN {s}"),
            Phase1Id::UserFqdn(s) => write!(f, "ID_USER_FQDN {s}"),
            Phase1Id::KeyId(k) => write!(f, "ID_KEY_ID {}", String::from_utf8_lossy(k)),
            Phase1Id::Dn(d) => match crate::pki::cert::dn_text(d) {
                Some(t) => write!(f, "ID_DER_ASN1_DN {t}"),
                None => write!(f, "ID_DER_ASN1_DN ({} bytes)", d.len()),
            },
        }
    }
}

/// `crypto isakmp peer address A`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsakmpPeer {
    /// The peer.
    pub address: Ipv4Addr,
    /// `set aggressive-mode password K`: the key of Aggressive Mode with this peer.
    pub password: Option<PskSecret>,
    /// `set aggressive-mode client-endpoint ...`: the identity we send as IDii.
    pub client_endpoint: Option<Phase1Id>,
}

impl IsakmpPeer {
    /// Both `set aggressive-mode` commands are present: IOS initiates Aggressive Mode to the
    /// peer (with only one of them it logs "Can not start Aggressive mode, trying Main mode").
    pub fn initiates_aggressive(&self) -> bool {
        self.password.is_some() && self.client_endpoint.is_some()
    }
}

impl GatewayConfig {
    /// The `crypto isakmp peer address` block of `peer`.
    pub fn isakmp_peer(&self, peer: Ipv4Addr) -> Option<&IsakmpPeer> {
        self.isakmp_peers.iter().find(|p| p.address == peer)
    }

    /// The identities Aggressive Mode initiators are keyed by: `crypto isakmp key K hostname
    /// H` and the `pre-shared-key hostname H` of the keyrings serving `local` (only those of
    /// `keyrings` when it is given: an ISAKMP profile's). A hostname key answers ID_FQDN H,
    /// ID_USER_FQDN H (`hostname alice@example.net`) and ID_KEY_ID H, the group name Cisco
    /// clients send, until the keys of Easy VPN groups (`crypto isakmp client configuration
    /// group`, read into [`GatewayConfig::client_groups`]) are used here.
    pub fn identity_keys(
        &self,
        local: Ipv4Addr,
        keyrings: Option<&[String]>,
    ) -> Vec<(Phase1Id, PskSecret)> {
        let restricted = keyrings.filter(|k| !k.is_empty());
        let global = self.keys.iter().filter(|_| restricted.is_none());
        let rings = self
            .keyrings
            .iter()
            .filter(|r| restricted.is_none_or(|k| k.contains(&r.name)))
            .filter(|r| r.serves(self, local))
            .flat_map(|r| r.keys.iter());
        let mut out = Vec::new();
        for k in global.chain(rings) {
            if k.encoding != KeyEncoding::Clear {
                continue;
            }
            if let PskPeer::Hostname(h) = &k.peer {
                out.push((Phase1Id::Fqdn(h.clone()), k.key.clone()));
                out.push((Phase1Id::UserFqdn(h.clone()), k.key.clone()));
                out.push((Phase1Id::KeyId(h.as_bytes().to_vec()), k.key.clone()));
            }
        }
        // Easy VPN group keys: Cisco clients and vpnc send the group name as ID_KEY_ID.
        for g in &self.client_groups {
            if let Some(k) = &g.key {
                out.push((Phase1Id::KeyId(g.name.as_bytes().to_vec()), k.clone()));
            }
        }
        out
    }

    /// Whether this configuration asks for Aggressive Mode: an Aggressive Mode initiator (a
    /// `crypto isakmp peer` with both `set aggressive-mode` commands, or an ISAKMP profile with
    /// `initiate mode aggressive`) or keys chosen by identity (hostname keys), and no
    /// `crypto isakmp aggressive-mode disable`.
    ///
    /// IOS answers Aggressive Mode unless it is disabled. Here it is answered only when the
    /// configuration asks for it: answering with address keys alone hands anyone who sends
    /// an AM1 with an address identity a hash to crack those keys offline (a wildcard key in
    /// particular), for no peer that needs it.
    pub fn aggressive_mode_in_use(&self) -> bool {
        if self.aggressive_mode_disabled {
            return false;
        }
        let hostname_keys = self
            .keys
            .iter()
            .chain(self.keyrings.iter().flat_map(|r| r.keys.iter()))
            .any(|k| matches!(k.peer, PskPeer::Hostname(_)));
        hostname_keys
            || self
                .isakmp_peers
                .iter()
                .any(IsakmpPeer::initiates_aggressive)
            || self.isakmp_profiles.iter().any(|p| p.initiate_aggressive)
            || self.client_groups.iter().any(|g| g.key.is_some())
    }
}
