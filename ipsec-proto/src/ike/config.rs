//! Endpoint and peer configuration: what IOS calls `crypto isakmp policy`, `crypto isakmp key`,
//! `crypto ipsec transform-set` and one `crypto map` entry with its crypto ACL.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::policy::acl::TrafficSelector;
pub use crate::policy::aggressive::Phase1Id;
use crate::policy::ipsec::{DpdConfig, TransformSet};
use crate::policy::isakmp::{IsakmpPolicy, PskSecret};

/// Index of a peer in [`EndpointConfig::peers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub usize);

/// One permit line of a crypto ACL, seen from this side: the proxy identities of one IPsec SA pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectorPair {
    /// Our side (source of outbound traffic; IDci when we initiate).
    pub local: TrafficSelector,
    /// The peer's side (IDcr when we initiate).
    pub remote: TrafficSelector,
}

/// Everything negotiated with one peer: a `set peer` with its key, the ISAKMP policies, and the
/// crypto map entry (transform sets, PFS, lifetimes, crypto ACL permit lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's address (`set peer` / `crypto isakmp key ... address`). `0.0.0.0` makes this a
    /// wildcard entry, used as responder for peers no other entry names.
    pub address: Ipv4Addr,
    /// Our address towards this peer (the crypto map interface). `None`: Main Mode message 1
    /// leaves with an unspecified local address and the caller's socket picks it; the answer
    /// tells the endpoint its real address before anything depends on it (NAT-D, IDii).
    pub local_address: Option<Ipv4Addr>,
    /// Pre-shared key (chosen by the peer's IP address).
    pub psk: PskSecret,
    /// For a wildcard entry (`address` 0.0.0.0, a dynamic crypto map): the keys to choose from
    /// by the peer's address, most specific first as IOS does (`crypto isakmp key K address A
    /// M`); a peer no key covers is refused. Empty: `psk` for every peer.
    pub keys: Vec<crate::policy::PreSharedKey>,
    /// The ISAKMP profile's `match identity address A M`: the peer's Main Mode identity
    /// (ID_IPV4_ADDR) must lie in one, else Phase 1 is refused. Empty: any identity.
    pub identities: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// The ISAKMP profile's `match identity host NAME | domain D`: ID_FQDN identities the
    /// peer may use. With [`PeerConfig::identities`], the peer's Main Mode identity must match
    /// one of the two lists when either is not empty.
    pub host_identities: Vec<crate::policy::HostIdentity>,
    /// What we send in our Main Mode ID payload (`crypto isakmp identity`, the profile's
    /// `self-identity`).
    pub local_identity: crate::policy::LocalIdentity,
    /// The ISAKMP profile's `keepalive`: DPD with this peer instead of
    /// [`EndpointConfig::dpd`].
    pub dpd: Option<crate::policy::DpdConfig>,
    /// ISAKMP policies; offered and checked in ascending priority number.
    pub isakmp_policies: Vec<IsakmpPolicy>,
    /// Transform sets, offered in this order (one Quick Mode proposal each).
    pub transform_sets: Vec<TransformSet>,
    /// `set pfs groupN`: the Quick Mode DH group, `None` without PFS.
    pub pfs_group: Option<u16>,
    /// IPsec SA lifetime in seconds (IOS default 3600).
    pub lifetime_secs: u32,
    /// IPsec SA lifetime in kilobytes (IOS default 4608000);
    /// [`crate::policy::KILOBYTES_DISABLED`] proposes none and never rekeys on volume.
    pub lifetime_kb: u64,
    /// The crypto ACL's permit lines, one IPsec SA pair each.
    pub selectors: Vec<SelectorPair>,
    /// Initiate Aggressive Mode (RFC 2409 section 5.4) instead of Main Mode, identifying as
    /// this (IOS `crypto isakmp peer address A` with `set aggressive-mode client-endpoint`, or
    /// an ISAKMP profile's `initiate mode aggressive`); the key is [`PeerConfig::psk`] (`set
    /// aggressive-mode password`). `None`: Main Mode.
    pub aggressive: Option<Phase1Id>,
    /// Keys chosen by the identity an Aggressive Mode initiator sends in its first message
    /// (IDii travels in clear there, unlike Main Mode's): `crypto isakmp key K hostname H`
    /// and keyring `pre-shared-key hostname H`. An ID_IPV4_ADDR identity is looked up among the
    /// address keys instead ([`PeerConfig::keys`], or [`PeerConfig::psk`]).
    pub identity_keys: Vec<IdentityKey>,
    /// `client authentication list L` on the map or profile: an offer of XAUTHInitPreShared
    /// (65001) is accepted as `pre-share`, and after Phase 1 we, the responder, run XAUTH
    /// against this user database before any Quick Mode. A peer whose address key says
    /// `no-xauth` is exempt. `None`: 65001 is refused.
    pub xauth_server: Option<crate::policy::XauthServer>,
    /// As initiator, offer XAUTHInitPreShared and answer the responder's XAUTH REQUEST with
    /// these credentials (an Easy VPN client). `None`: offer `pre-share`.
    pub xauth_client: Option<crate::policy::XauthCredentials>,
    /// As initiator, offer XAUTHInitPreShared even without stored credentials: each REQUEST
    /// then waits for [`crate::ike::Endpoint::xauth_answer`] (IOS `xauth userid mode
    /// interactive`, or an Easy VPN profile without `username`).
    pub xauth_prompt: bool,
    /// `isakmp authorization list L` with `client configuration address respond|initiate`:
    /// after Phase 1 (and XAUTH, when it applies) we, the responder, configure the client
    /// over Mode Config from its group (its Aggressive Mode ID_KEY_ID), leasing it an address
    /// of the group's pool; its Quick Modes must then use that address. `None`: a Mode Config
    /// REQUEST is refused.
    pub mode_config: Option<crate::policy::ModeConfigServer>,
    /// As initiator, be configured by the responder over Mode Config after Phase 1 and XAUTH
    /// (an Easy VPN client): ask with a REQUEST, or wait for its SET. Quick Mode waits for the
    /// configuration, which arrives as [`crate::ike::ModeConfigStep::Configured`]. `None`: no
    /// Mode Config.
    pub mode_config_client: Option<crate::policy::ClientMode>,
    /// `authentication rsa-sig`: our key and certificate, and the trustpoints and certificate
    /// maps the peer's certificate must satisfy. `None`: rsa-sig policies are not offered and
    /// refused (named in the evidence) when the peer offers them.
    pub rsa_sig: Option<crate::policy::RsaSigConfig>,
}

/// A pre-shared key chosen by the Aggressive Mode identity of the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityKey {
    /// The identity.
    pub id: Phase1Id,
    /// Its key.
    pub key: PskSecret,
}

impl PeerConfig {
    /// A peer with IOS defaults for the Phase 2 lifetimes and no PFS.
    pub fn new(address: Ipv4Addr, psk: PskSecret) -> Self {
        PeerConfig {
            address,
            local_address: None,
            psk,
            keys: Vec::new(),
            identities: Vec::new(),
            host_identities: Vec::new(),
            local_identity: crate::policy::LocalIdentity::Address,
            dpd: None,
            isakmp_policies: Vec::new(),
            transform_sets: Vec::new(),
            pfs_group: None,
            lifetime_secs: 3600,
            lifetime_kb: 4_608_000,
            selectors: Vec::new(),
            aggressive: None,
            identity_keys: Vec::new(),
            xauth_server: None,
            xauth_client: None,
            xauth_prompt: false,
            mode_config: None,
            mode_config_client: None,
            rsa_sig: None,
        }
    }

    /// We offer XAUTHInitPreShared as initiator, with credentials stored or asked for.
    pub fn offers_xauth(&self) -> bool {
        self.xauth_client.is_some() || self.xauth_prompt
    }

    /// Whether the ISAKMP profile takes a peer whose Main Mode ID payload body (type,
    /// protocol, port, data) is `id`: always when it names no identity.
    pub fn takes_identity(&self, id: &[u8]) -> bool {
        if self.identities.is_empty() && self.host_identities.is_empty() {
            return true;
        }
        match id {
            [1, _, _, _, a, b, c, d] => {
                let a = Ipv4Addr::new(*a, *b, *c, *d);
                self.identities
                    .iter()
                    .any(|(n, m)| u32::from(a) & u32::from(*m) == u32::from(*n) & u32::from(*m))
            }
            [2, _, _, _, name @ ..] => std::str::from_utf8(name)
                .is_ok_and(|n| self.host_identities.iter().any(|h| h.matches(n))),
            _ => false,
        }
    }

    pub(crate) fn sorted_policies(&self) -> Vec<&IsakmpPolicy> {
        let mut v: Vec<&IsakmpPolicy> = self.isakmp_policies.iter().collect();
        v.sort_by_key(|p| p.priority);
        v
    }
}

/// Retransmission of requests whose answer did not come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// Delay before the first retransmission.
    pub initial: Duration,
    /// Upper bound of one delay after doubling.
    pub max: Duration,
    /// Retransmissions before giving up (IOS: 5).
    pub max_retries: u32,
    /// Random extra delay, in percent of the delay (0 = none), so two peers do not stay in step.
    pub jitter_percent: u8,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        RetransmitConfig {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(32),
            max_retries: 5,
            jitter_percent: 10,
        }
    }
}

/// Configuration of a whole endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// The peers, addressed by [`PeerId`] (their index here).
    pub peers: Vec<PeerConfig>,
    /// Retransmission policy.
    pub retransmit: RetransmitConfig,
    /// Responder SAs not yet authenticated (before a valid MM5) beyond this number are dropped,
    /// oldest first.
    pub half_open_limit: usize,
    /// Half-open responder SAs from one source address beyond this number are dropped, oldest
    /// of that address first, so spoofed MM1s from one address cannot push out other peers'
    /// negotiations. High enough for many remote-access clients behind one NAT address.
    pub half_open_per_source_limit: usize,
    /// NAT traversal (RFC 3947 and drafts); IOS has it on by default.
    pub nat_traversal: bool,
    /// Announce only the draft NAT-T vendor IDs (draft-02/03 payload numbers and encapsulation
    /// modes 61443/61444), as pre-RFC images do. Off: RFC 3947 is announced and preferred.
    pub nat_t_drafts_only: bool,
    /// Encapsulate ESP in UDP 4500 even without a NAT (strongSwan's `forceencaps`): our NAT-D
    /// hash of ourselves is made so that it cannot match, which makes the peer see a NAT in
    /// front of us, and we float as if we had seen one. Needs NAT-T (`nat_traversal`) and a
    /// peer that supports it; with neither, ESP stays raw.
    pub force_udp_encaps: bool,
    /// `crypto isakmp nat keepalive N`: 0xFF keepalives every N when we are behind a NAT.
    pub nat_keepalive: Option<Duration>,
    /// `crypto isakmp keepalive`: RFC 3706 DPD. R-U-THERE is always answered.
    pub dpd: Option<DpdConfig>,
    /// Send the Cisco Unity vendor ID.
    pub send_unity_vid: bool,
    /// Start a Phase 2 rekey this long before the expiry of an SA pair we initiated.
    pub rekey_margin: Duration,
    /// Start a new Main Mode when this percentage of an ISAKMP SA's lifetime has passed (only
    /// for SAs we initiated and while IPsec SAs with the peer exist). 0 disables it.
    pub phase1_rekey_percent: u8,
    /// Answer Aggressive Mode. Off by default: an AM2 carries a hash of the pre-shared key
    /// that anyone who sent the AM1 (or captured the exchange) can attack offline. A
    /// configuration built from IOS text turns it on when it keys peers by identity or
    /// initiates Aggressive Mode (see [`crate::policy::GatewayConfig::aggressive_mode_in_use`]).
    pub aggressive_mode: bool,
    /// With [`EndpointConfig::aggressive_mode`], answer only Aggressive Mode proposals with
    /// certificates (rsa-sig): their AM2 carries a signature, not a crackable hash, so a
    /// configuration with rsa-sig policies answers them even where pre-shared-key Aggressive
    /// Mode stays off.
    pub aggressive_mode_certificates_only: bool,
    /// Aggressive Mode message 1 costs us a Diffie-Hellman exponentiation with no cookie round
    /// trip first: at most this many are answered per second on average...
    pub aggressive_dh_per_sec: u32,
    /// ...with bursts of up to this many. One source address gets half the burst and a
    /// quarter of the rate, so a flood from one address leaves the rest to the others, and the
    /// default half (50) still lets a site's remote-access clients behind one NAT address all
    /// reconnect at once. Beyond either budget AM1 is dropped and counted; the initiator
    /// retransmits.
    pub aggressive_dh_burst: u32,
    /// `crypto isakmp fragmentation`: announce the FRAGMENTATION vendor ID in Phase 1, accept
    /// fragments (payload 132), and split our own messages bigger than the configured size for
    /// peers that announced it. `None`: no vendor ID, and fragments are dropped and counted.
    pub fragmentation: Option<FragmentationConfig>,
}

/// IKE fragmentation (Cisco/Microsoft payload 132; there is no RFC for IKEv1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentationConfig {
    /// Largest IP datagram (IPv4 and UDP headers, and the non-ESP marker on port 4500,
    /// included) an IKE message may fill before it is sent as fragments; each fragment fills
    /// at most this much too. Between [`FragmentationConfig::MIN_MTU`] and
    /// [`FragmentationConfig::MAX_MTU`].
    pub mtu: u16,
}

impl FragmentationConfig {
    /// 576: the datagram every IPv4 host must accept, which is what IKE fragmentation exists
    /// to fit (Libreswan uses it too).
    pub const DEFAULT_MTU: u16 = 576;
    /// Smallest size accepted: 28 bytes of IP/UDP, 4 of marker, 28 of ISAKMP header and 8 of
    /// fragment payload leave 60 bytes of message per fragment, so even a certificate-sized
    /// message fits in 255 fragments.
    pub const MIN_MTU: u16 = 128;
    /// Largest size accepted (Ethernet).
    pub const MAX_MTU: u16 = 1500;

    /// With `mtu` clamped into the accepted range.
    pub fn with_mtu(mtu: u16) -> Self {
        FragmentationConfig {
            mtu: mtu.clamp(Self::MIN_MTU, Self::MAX_MTU),
        }
    }
}

impl Default for FragmentationConfig {
    fn default() -> Self {
        FragmentationConfig {
            mtu: Self::DEFAULT_MTU,
        }
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            peers: Vec::new(),
            retransmit: RetransmitConfig::default(),
            half_open_limit: 1024,
            half_open_per_source_limit: 64,
            nat_traversal: true,
            nat_t_drafts_only: false,
            force_udp_encaps: false,
            nat_keepalive: None,
            dpd: None,
            send_unity_vid: false,
            rekey_margin: Duration::from_secs(30),
            phase1_rekey_percent: 90,
            aggressive_mode: false,
            aggressive_mode_certificates_only: false,
            aggressive_dh_per_sec: 50,
            aggressive_dh_burst: 100,
            fragmentation: None,
        }
    }
}

/// Why an IOS crypto map entry could not become a [`PeerConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayConfigIssue {
    /// The entry has no `set peer`.
    NoPeer {
        /// Map sequence number.
        seq: u16,
    },
    /// No `crypto isakmp key` covers the peer (IOS: `No pre-shared key with <ip>!`).
    NoKey {
        /// Map sequence number.
        seq: u16,
        /// The peer.
        peer: Ipv4Addr,
    },
    /// A `set transform-set` name is not defined.
    UnknownTransformSet {
        /// Map sequence number.
        seq: u16,
        /// The missing name.
        name: String,
    },
}

impl EndpointConfig {
    /// Builds the endpoint configuration of the interface that carries crypto map `map`: one
    /// [`PeerConfig`] per entry of the map with a `set peer` and a key, in sequence order (so
    /// `PeerId(i)` is the i-th usable entry, reported alongside), with the ISAKMP policies, the
    /// transform sets, PFS, lifetimes (entry override or global) and the ACL's permit lines as
    /// selectors in [`crate::policy::GatewayConfig::proxy_identities`] order. Global DPD, NAT
    /// keepalive and NAT-T settings are taken over.
    pub fn from_gateway(
        gw: &crate::policy::GatewayConfig,
        map: &str,
    ) -> (EndpointConfig, Vec<u16>, Vec<GatewayConfigIssue>) {
        let mut cfg = EndpointConfig {
            nat_traversal: gw.ipsec.nat_t,
            force_udp_encaps: gw.ipsec.force_udp_encaps,
            nat_keepalive: gw
                .ipsec
                .nat_keepalive_secs
                .map(|s| Duration::from_secs(u64::from(s))),
            dpd: gw.ipsec.dpd,
            fragmentation: gw
                .ipsec
                .ike_fragmentation_mtu
                .map(FragmentationConfig::with_mtu),
            ..EndpointConfig::default()
        };
        let local_address = gw
            .interfaces
            .iter()
            .find(|i| i.crypto_map.as_deref() == Some(map))
            .and_then(|i| i.address.map(|(a, _)| a));
        let mut seqs = Vec::new();
        let mut issues = Vec::new();
        let mut entries: Vec<&crate::policy::CryptoMapEntry> = gw.crypto_map(map).collect();
        entries.sort_by_key(|e| e.seq);
        for e in entries {
            let Some(peer) = e.current_peer() else {
                issues.push(GatewayConfigIssue::NoPeer { seq: e.seq });
                continue;
            };
            let Some(key) = gw.key_for(peer) else {
                issues.push(GatewayConfigIssue::NoKey { seq: e.seq, peer });
                continue;
            };
            let mut p = PeerConfig::new(peer, key.key.clone());
            p.local_address = local_address;
            p.isakmp_policies = gw.effective_isakmp_policies();
            for name in &e.transform_sets {
                match gw.transform_set(name) {
                    Some(ts) => p.transform_sets.push(ts.clone()),
                    None => issues.push(GatewayConfigIssue::UnknownTransformSet {
                        seq: e.seq,
                        name: name.clone(),
                    }),
                }
            }
            p.pfs_group = e.pfs_group;
            p.lifetime_secs = e.lifetime_secs.unwrap_or(gw.ipsec.sa_lifetime_secs);
            p.lifetime_kb = e.lifetime_kb.unwrap_or(gw.ipsec.sa_lifetime_kb);
            p.selectors = gw
                .proxy_identities(e)
                .into_iter()
                .map(|(local, remote)| SelectorPair { local, remote })
                .collect();
            cfg.peers.push(p);
            seqs.push(e.seq);
        }
        (cfg, seqs, issues)
    }
}

impl PeerConfig {
    /// Index of the crypto ACL line with exactly these proxy identities (what
    /// [`crate::ike::Endpoint::initiate`] takes).
    pub fn selector_index(
        &self,
        local: &TrafficSelector,
        remote: &TrafficSelector,
    ) -> Option<usize> {
        self.selectors
            .iter()
            .position(|s| s.local == *local && s.remote == *remote)
    }
}
