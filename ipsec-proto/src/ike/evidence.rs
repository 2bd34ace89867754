//! What a refused negotiation was refused over, as data: the attributes the peer offered next to
//! ours, the proxy identities it proposed next to our crypto ACL lines, the PFS groups of both
//! sides. The errors in [`crate::ike::PeerIncompatible`] carry these; their `Display` writes the
//! prose the IOS-style debug and the diagnosis show, so programs match on fields and people read
//! sentences made from the same values.
//!
//! Values the peer sent are kept as the numbers it sent (an unknown algorithm is still evidence);
//! `to_policy` methods map them to the configuration enums when they name something we know.

use core::fmt;

use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash};

use super::config::SelectorPair;
use super::proposal::{
    selector_text, ENCAPS_UDP_TRANSPORT, ENCAPS_UDP_TRANSPORT_DRAFT, ENCAPS_UDP_TUNNEL,
    ENCAPS_UDP_TUNNEL_DRAFT,
};

// Phase 1 encryption attribute values (RFC 2409 appendix A).
const P1_DES: u16 = 1;
const P1_3DES: u16 = 5;
const P1_AES: u16 = 7;

/// A Phase 1 encryption attribute as sent: the algorithm number and the key length attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Encryption {
    /// RFC 2409 encryption algorithm (1 DES, 5 3DES, 7 AES-CBC).
    pub id: u16,
    /// The key length attribute, when present (AES needs it).
    pub key_bits: Option<u16>,
}

impl Phase1Encryption {
    /// How we send a policy's encryption, or `None` for one we do not implement.
    pub fn from_policy(e: IkeEncryption) -> Option<Self> {
        let (id, key_bits) = match e {
            IkeEncryption::Des => (P1_DES, None),
            IkeEncryption::TripleDes => (P1_3DES, None),
            IkeEncryption::Aes {
                bits: b @ (128 | 192 | 256),
            } => (P1_AES, Some(b)),
            _ => return None,
        };
        Some(Phase1Encryption { id, key_bits })
    }

    /// The policy encryption this names, or `None` for an algorithm or key length we do not know.
    pub fn to_policy(&self) -> Option<IkeEncryption> {
        match (self.id, self.key_bits) {
            (P1_DES, _) => Some(IkeEncryption::Des),
            (P1_3DES, _) => Some(IkeEncryption::TripleDes),
            (P1_AES, Some(b @ (128 | 192 | 256))) => Some(IkeEncryption::Aes { bits: b }),
            _ => None,
        }
    }
}

impl fmt::Display for Phase1Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.id, self.key_bits) {
            (P1_DES, _) => f.write_str("DES"),
            (P1_3DES, _) => f.write_str("3DES"),
            (P1_AES, Some(b)) => write!(f, "AES-{b}"),
            (P1_AES, None) => f.write_str("AES (no key length)"),
            (v, _) => write!(f, "encryption {v}"),
        }
    }
}

/// A Phase 1 hash attribute as sent (RFC 2409 / RFC 4868 numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Hash(pub u16);

impl Phase1Hash {
    /// How we send a policy's hash.
    pub fn from_policy(h: IkeHash) -> Option<Self> {
        Some(Phase1Hash(match h {
            IkeHash::Md5 => 1,
            IkeHash::Sha1 => 2,
            IkeHash::Sha256 => 4,
            IkeHash::Sha384 => 5,
            IkeHash::Sha512 => 6,
            #[allow(unreachable_patterns)]
            _ => return None,
        }))
    }

    /// The policy hash this names, or `None` for a number we do not know.
    pub fn to_policy(&self) -> Option<IkeHash> {
        Some(match self.0 {
            1 => IkeHash::Md5,
            2 => IkeHash::Sha1,
            4 => IkeHash::Sha256,
            5 => IkeHash::Sha384,
            6 => IkeHash::Sha512,
            _ => return None,
        })
    }
}

impl fmt::Display for Phase1Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("MD5"),
            2 => f.write_str("SHA"),
            4 => f.write_str("SHA256"),
            5 => f.write_str("SHA384"),
            6 => f.write_str("SHA512"),
            v => write!(f, "hash {v}"),
        }
    }
}

/// A Phase 1 authentication method attribute as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Auth(pub u16);

impl Phase1Auth {
    /// Pre-shared keys.
    pub const PRE_SHARE: Phase1Auth = Phase1Auth(1);
    /// RSA signatures.
    pub const RSA_SIG: Phase1Auth = Phase1Auth(3);
    /// XAUTHInitPreShared (65001): pre-shared keys, then XAUTH with the Phase 1 initiator as
    /// the XAUTH client. Accepted as `pre-share` where XAUTH is configured.
    pub const XAUTH_INIT_PRE_SHARE: Phase1Auth = Phase1Auth(65001);

    /// The policy method this names, or `None` for a number we do not know.
    pub fn to_policy(&self) -> Option<IkeAuth> {
        Some(match self.0 {
            1 => IkeAuth::PreShare,
            3 => IkeAuth::RsaSig,
            5 => IkeAuth::RsaEncr,
            _ => return None,
        })
    }
}

impl fmt::Display for Phase1Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("pre-share"),
            3 => f.write_str("rsa-sig"),
            5 => f.write_str("rsa-encr"),
            64221 => f.write_str("HybridInitRSA"),
            64222 => f.write_str("HybridRespRSA"),
            64223 => f.write_str("HybridInitDSS"),
            64224 => f.write_str("HybridRespDSS"),
            65001 => f.write_str("XAUTHInitPreShared"),
            65002 => f.write_str("XAUTHRespPreShared"),
            65003 => f.write_str("XAUTHInitDSS"),
            65004 => f.write_str("XAUTHRespDSS"),
            65005 => f.write_str("XAUTHInitRSA"),
            65006 => f.write_str("XAUTHRespRSA"),
            65007 => f.write_str("XAUTHInitRSAEncryption"),
            65008 => f.write_str("XAUTHRespRSAEncryption"),
            65009 => f.write_str("XAUTHInitRSARevisedEncryption"),
            65010 => f.write_str("XAUTHRespRSARevisedEncryption"),
            v => write!(f, "auth {v}"),
        }
    }
}

/// The attributes of one Phase 1 transform that a policy is compared on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Transform {
    /// Encryption algorithm and key length.
    pub encryption: Phase1Encryption,
    /// Hash algorithm.
    pub hash: Phase1Hash,
    /// Authentication method.
    pub authentication: Phase1Auth,
    /// Diffie-Hellman group number.
    pub group: u16,
}

impl fmt::Display for Phase1Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} group {}",
            self.encryption, self.hash, self.authentication, self.group
        )
    }
}

/// Which attribute of a Phase 1 transform made a policy refuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase1Attribute {
    /// `encryption`.
    Encryption,
    /// `hash`.
    Hash,
    /// `authentication`.
    Authentication,
    /// `group`.
    Group,
}

/// Why one ISAKMP policy refused one offered transform: the first attribute that differed, in
/// the order IOS checks them, or a policy we cannot run at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase1Difference {
    /// The encryption (or AES key length) differs.
    Encryption {
        /// What the peer offered.
        offered: Phase1Encryption,
        /// What the policy says.
        ours: Phase1Encryption,
    },
    /// The hash differs.
    Hash {
        /// What the peer offered.
        offered: Phase1Hash,
        /// What the policy says.
        ours: Phase1Hash,
    },
    /// The authentication method differs.
    Authentication {
        /// What the peer offered.
        offered: Phase1Auth,
        /// What the policy says.
        ours: Phase1Auth,
    },
    /// The Diffie-Hellman group differs.
    Group {
        /// What the peer offered.
        offered: u16,
        /// What the policy says.
        ours: u16,
    },
    /// The policy's encryption is one we do not implement.
    PolicyEncryptionUnsupported(IkeEncryption),
    /// The policy's hash is one we do not implement.
    PolicyHashUnsupported(IkeHash),
    /// The policy authenticates by something other than pre-shared keys.
    PolicyAuthenticationUnsupported(IkeAuth),
    /// The policy's Diffie-Hellman group is one we do not implement.
    PolicyGroupUnsupported(u16),
}

impl Phase1Difference {
    /// The attribute concerned.
    pub fn attribute(&self) -> Phase1Attribute {
        match self {
            Phase1Difference::Encryption { .. }
            | Phase1Difference::PolicyEncryptionUnsupported(_) => Phase1Attribute::Encryption,
            Phase1Difference::Hash { .. } | Phase1Difference::PolicyHashUnsupported(_) => {
                Phase1Attribute::Hash
            }
            Phase1Difference::Authentication { .. }
            | Phase1Difference::PolicyAuthenticationUnsupported(_) => {
                Phase1Attribute::Authentication
            }
            Phase1Difference::Group { .. } | Phase1Difference::PolicyGroupUnsupported(_) => {
                Phase1Attribute::Group
            }
        }
    }
}

impl fmt::Display for Phase1Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase1Difference::Encryption { offered, ours } => {
                write!(
                    f,
                    "encryption offered {offered} does not match policy {ours}"
                )
            }
            Phase1Difference::Hash { offered, ours } => {
                write!(f, "hash offered {offered} does not match policy {ours}")
            }
            Phase1Difference::Authentication { offered, ours } => {
                write!(
                    f,
                    "authentication offered {offered} does not match policy {ours}"
                )
            }
            Phase1Difference::Group { offered, ours } => write!(
                f,
                "Diffie-Hellman group offered {offered} does not match policy group {ours}"
            ),
            Phase1Difference::PolicyEncryptionUnsupported(e) => {
                write!(f, "policy encryption {} unsupported", e.ios_keyword())
            }
            Phase1Difference::PolicyHashUnsupported(h) => {
                write!(f, "policy hash {} unsupported", h.ios_keyword())
            }
            Phase1Difference::PolicyAuthenticationUnsupported(a) => write!(
                f,
                "policy authentication is {}, not pre-share (only pre-shared keys are implemented)",
                a.ios_keyword()
            ),
            Phase1Difference::PolicyGroupUnsupported(g) => write!(f, "group {g} not implemented"),
        }
    }
}

/// One offered Phase 1 transform checked against one ISAKMP policy, and why it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Mismatch {
    /// The transform number in the peer's proposal.
    pub transform: u8,
    /// The priority of our policy.
    pub policy: u16,
    /// The transform as offered.
    pub offered: Phase1Transform,
    /// The first difference found.
    pub difference: Phase1Difference,
}

impl Phase1Mismatch {
    /// The attribute that differed.
    pub fn attribute(&self) -> Phase1Attribute {
        self.difference.attribute()
    }
}

impl fmt::Display for Phase1Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transform {} vs priority {} policy: {}",
            self.transform, self.policy, self.difference
        )
    }
}

/// One reason a Phase 1 SA payload found no taker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase1Refusal {
    /// A proposal for another protocol than ISAKMP.
    NotIsakmp {
        /// Its proposal number.
        proposal: u8,
        /// Its protocol number.
        protocol: u8,
    },
    /// A transform refused by a policy.
    Transform(Phase1Mismatch),
    /// We have no ISAKMP policy for this peer.
    NoPolicy,
    /// The peer offered no transform at all.
    NothingOffered,
}

impl fmt::Display for Phase1Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase1Refusal::NotIsakmp { proposal, protocol } => {
                write!(
                    f,
                    "proposal {proposal} is not for ISAKMP (protocol {protocol})"
                )
            }
            Phase1Refusal::Transform(m) => m.fmt(f),
            Phase1Refusal::NoPolicy => f.write_str("no ISAKMP policy configured"),
            Phase1Refusal::NothingOffered => f.write_str("the peer offered no transform"),
        }
    }
}

/// A Phase 1 proposal we refused: every transform against every policy, in the order checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Evidence {
    /// The refusals in the order they were found.
    pub refusals: Vec<Phase1Refusal>,
}

impl Phase1Evidence {
    /// The transform-against-policy mismatches alone.
    pub fn mismatches(&self) -> impl Iterator<Item = &Phase1Mismatch> {
        self.refusals.iter().filter_map(|r| match r {
            Phase1Refusal::Transform(m) => Some(m),
            _ => None,
        })
    }
}

impl fmt::Display for Phase1Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("phase 1 SA policy not acceptable: ")?;
        join(f, &self.refusals, "; ")
    }
}

/// One ESP transform as the peer offered it (or as a responder answered), in wire numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EspTransform {
    /// RFC 2407 ESP transform id (2 DES, 3 3DES, 11 NULL, 12 AES-CBC, 20 AES-GCM-16).
    pub transform_id: u8,
    /// The key length attribute, when present.
    pub key_bits: Option<u16>,
    /// The authentication algorithm attribute (1 MD5, 2 SHA-1, 5-7 SHA-2), `None` without one.
    pub auth: Option<u16>,
    /// The encapsulation mode attribute (1 tunnel, 2 transport, 3/4 and 61443/61444 over UDP).
    pub encapsulation: u16,
    /// The group description attribute: the PFS group, `None` without PFS.
    pub pfs_group: Option<u16>,
}

impl EspTransform {
    /// The ESP encryption this names, or `None` for one we do not know.
    pub fn encryption(&self) -> Option<EspEncryption> {
        Some(match (self.transform_id, self.key_bits) {
            (2, _) => EspEncryption::Des,
            (3, _) => EspEncryption::TripleDes,
            (11, _) => EspEncryption::Null,
            (12, None | Some(128)) => EspEncryption::Aes128,
            (12, Some(192)) => EspEncryption::Aes192,
            (12, Some(256)) => EspEncryption::Aes256,
            // GCM has no default key length (RFC 4106 §8.4): a missing attribute is unknown.
            (20, Some(128)) => EspEncryption::AesGcm128,
            (20, Some(192)) => EspEncryption::AesGcm192,
            (20, Some(256)) => EspEncryption::AesGcm256,
            _ => return None,
        })
    }

    /// The ESP integrity this names (`Some(EspIntegrity::None)` without an authenticator), or
    /// `None` for an algorithm we do not know.
    pub fn integrity(&self) -> Option<EspIntegrity> {
        Some(match self.auth {
            None => EspIntegrity::None,
            Some(1) => EspIntegrity::Md5,
            Some(2) => EspIntegrity::Sha1,
            Some(5) => EspIntegrity::Sha256,
            Some(6) => EspIntegrity::Sha384,
            Some(7) => EspIntegrity::Sha512,
            Some(_) => return None,
        })
    }

    /// Tunnel or transport (unknown encapsulation values count as tunnel, as IOS reads them).
    pub fn mode(&self) -> EspMode {
        match self.encapsulation {
            2 | ENCAPS_UDP_TRANSPORT | ENCAPS_UDP_TRANSPORT_DRAFT => EspMode::Transport,
            _ => EspMode::Tunnel,
        }
    }

    /// Whether the encapsulation asks for ESP in UDP (NAT traversal).
    pub fn udp_encapsulated(&self) -> bool {
        matches!(
            self.encapsulation,
            ENCAPS_UDP_TUNNEL
                | ENCAPS_UDP_TRANSPORT
                | ENCAPS_UDP_TUNNEL_DRAFT
                | ENCAPS_UDP_TRANSPORT_DRAFT
        )
    }
}

impl fmt::Display for EspTransform {
    /// IOS transform-set notation: `{esp-aes esp-sha-hmac } (Tunnel, PFS group 2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        match (self.transform_id, self.key_bits) {
            (2, _) => f.write_str("esp-des")?,
            (3, _) => f.write_str("esp-3des")?,
            (11, _) => f.write_str("esp-null")?,
            (12, Some(128) | None) => f.write_str("esp-aes")?,
            (12, Some(b)) => write!(f, "esp-aes {b}")?,
            (20, Some(128)) => f.write_str("esp-gcm")?,
            (20, Some(b)) => write!(f, "esp-gcm {b}")?,
            (i, _) => write!(f, "esp-transform-{i}")?,
        }
        match self.auth {
            None => {}
            Some(1) => f.write_str(" esp-md5-hmac")?,
            Some(2) => f.write_str(" esp-sha-hmac")?,
            Some(5) => f.write_str(" esp-sha256-hmac")?,
            Some(6) => f.write_str(" esp-sha384-hmac")?,
            Some(7) => f.write_str(" esp-sha512-hmac")?,
            Some(a) => write!(f, " auth-{a}")?,
        }
        let mode = match self.mode() {
            EspMode::Transport => "Transport",
            _ => "Tunnel",
        };
        write!(f, " }} ({mode}")?;
        if let Some(g) = self.pfs_group {
            write!(f, ", PFS group {g}")?;
        }
        f.write_str(")")
    }
}

/// One reason a Quick Mode SA payload found no taker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase2Refusal {
    /// A proposal for another protocol than ESP (AH, IPComp).
    Protocol {
        /// Its proposal number.
        proposal: u8,
        /// Its protocol number.
        protocol: u8,
    },
    /// A transform none of our transform sets matches.
    Transform(EspTransform),
}

impl fmt::Display for Phase2Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase2Refusal::Protocol { proposal, protocol } => write!(
                f,
                "proposal {proposal}: protocol {protocol} not supported (ESP only)"
            ),
            Phase2Refusal::Transform(t) => write!(f, "transform proposal not supported: {t}"),
        }
    }
}

/// A Quick Mode proposal we refused: what the peer offered and the transform sets we had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase2Evidence {
    /// The refusals in the peer's order.
    pub refusals: Vec<Phase2Refusal>,
    /// Our transform sets for this peer.
    pub ours: Vec<TransformSet>,
}

impl Phase2Evidence {
    /// The offered transforms that no transform set matched.
    pub fn offered(&self) -> impl Iterator<Item = &EspTransform> {
        self.refusals.iter().filter_map(|r| match r {
            Phase2Refusal::Transform(t) => Some(t),
            Phase2Refusal::Protocol { .. } => None,
        })
    }
}

impl fmt::Display for Phase2Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("phase 2 SA policy not acceptable: ")?;
        if self.refusals.is_empty() {
            f.write_str("the peer offered no proposal")?;
        }
        join(f, &self.refusals, "; ")?;
        f.write_str("; our transform sets: ")?;
        if self.ours.is_empty() {
            return f.write_str("none");
        }
        for (i, t) in self.ours.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{{{} }}", t.display_transforms())?;
        }
        Ok(())
    }
}

/// Why no ISAKMP policy or transform set matched.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProposalEvidence {
    /// Main Mode: the ISAKMP policies.
    Phase1(Phase1Evidence),
    /// Quick Mode: the transform sets.
    Phase2(Phase2Evidence),
}

impl fmt::Display for ProposalEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposalEvidence::Phase1(e) => e.fmt(f),
            ProposalEvidence::Phase2(e) => e.fmt(f),
        }
    }
}

/// How the PFS settings of the two sides disagree (IOS `set pfs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PfsMismatch {
    /// We require PFS; the peer offered none.
    Missing {
        /// Our group.
        ours: u16,
    },
    /// Both use PFS, with different groups.
    Different {
        /// Our group.
        ours: u16,
        /// The peer's group.
        theirs: u16,
    },
    /// The peer offered a group we do not implement.
    NotImplemented {
        /// Our group, `None` when we do not require PFS.
        ours: Option<u16>,
        /// The peer's group.
        theirs: u16,
    },
}

impl PfsMismatch {
    /// Our PFS group (`None`: no `set pfs`).
    pub fn ours(&self) -> Option<u16> {
        match *self {
            PfsMismatch::Missing { ours } | PfsMismatch::Different { ours, .. } => Some(ours),
            PfsMismatch::NotImplemented { ours, .. } => ours,
        }
    }

    /// The peer's PFS group (`None`: it offered no PFS).
    pub fn theirs(&self) -> Option<u16> {
        match *self {
            PfsMismatch::Missing { .. } => None,
            PfsMismatch::Different { theirs, .. } | PfsMismatch::NotImplemented { theirs, .. } => {
                Some(theirs)
            }
        }
    }
}

impl fmt::Display for PfsMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfsMismatch::Missing { ours } => {
                write!(f, "we require PFS group {ours}, the peer offered no PFS")
            }
            PfsMismatch::Different { ours, theirs } => write!(
                f,
                "we require PFS group {ours}, the peer offered group {theirs}"
            ),
            PfsMismatch::NotImplemented { theirs, .. } => write!(
                f,
                "peer offered PFS group {theirs}, which is not implemented"
            ),
        }
    }
}

/// Proxy identities no permit line of our crypto ACL mirrors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyMismatch {
    /// Our side as the peer proposed it (its IDcr, our `local_proxy`).
    pub proposed_local: TrafficSelector,
    /// Its side as it proposed it (its IDci, our `remote_proxy`).
    pub proposed_remote: TrafficSelector,
    /// Our crypto ACL lines for this peer.
    pub ours: Vec<SelectorPair>,
}

impl fmt::Display for ProxyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peer proposed local_proxy {} remote_proxy {} (its IDci/IDcr), which no permit line of our crypto ACL mirrors; our lines: ",
            selector_text(&self.proposed_local),
            selector_text(&self.proposed_remote),
        )?;
        if self.ours.is_empty() {
            return f.write_str("none");
        }
        for (i, s) in self.ours.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "local {} remote {}",
                selector_text(&s.local),
                selector_text(&s.remote)
            )?;
        }
        Ok(())
    }
}

/// What a responder chose that we never offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unoffered {
    /// In Main Mode message 2.
    Phase1(Phase1Transform),
    /// In Quick Mode message 2.
    Phase2(EspTransform),
}

impl fmt::Display for Unoffered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unoffered::Phase1(t) => t.fmt(f),
            Unoffered::Phase2(t) => t.fmt(f),
        }
    }
}

/// A configuration the endpoint cannot act on (never caused by network input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The peer has no transform set to offer in Quick Mode.
    NoTransformSet,
    /// `set pfs` names a group we do not implement.
    PfsGroupNotImplemented(u16),
    /// An entry with address 0.0.0.0 only answers; it has nobody to initiate to.
    WildcardInitiate,
    /// None of the peer's ISAKMP policies is one we can run.
    NoUsablePolicy,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::NoTransformSet => f.write_str("no transform set for this peer"),
            ConfigProblem::PfsGroupNotImplemented(g) => write!(f, "PFS group {g} not implemented"),
            ConfigProblem::WildcardInitiate => f.write_str("cannot initiate to a wildcard peer"),
            ConfigProblem::NoUsablePolicy => {
                f.write_str("no usable ISAKMP policy (pre-share with group 1, 2, 5 or 14)")
            }
        }
    }
}

fn join<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, t) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        t.fmt(f)?;
    }
    Ok(())
}
