//! Errors of the IKE endpoint, in rustls-style categories, and the one place that maps an error to
//! the notify a responder sends.

pub use crate::wire::NotifyType;

use super::evidence::{ConfigProblem, PfsMismatch, ProposalEvidence, ProxyMismatch, Unoffered};
use crate::policy::ipsec::TransformSet;

/// Malformed bytes: the datagram is dropped and counted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// The ISAKMP framing or a payload chain is broken.
    #[error("{0}")]
    Wire(#[from] crate::wire::WireError),
    /// A payload the exchange needs is missing.
    #[error("{0} payload missing")]
    MissingPayload(&'static str),
    /// A payload body has the wrong size or content.
    #[error("bad {0} payload")]
    BadPayload(&'static str),
    /// The encrypted part is not a whole number of cipher blocks.
    #[error("encrypted length {0} is not a multiple of the cipher block")]
    BadCiphertextLength(usize),
    /// The message carries no ISAKMP version 1.0 header.
    #[error("not an ISAKMP 1.0 message")]
    NotIsakmp,
    /// An IKE fragment was refused (see [`crate::ike::FragmentError`]).
    #[error("{0}")]
    Fragment(crate::ike::FragmentError),
}

/// Well-formed but not allowed at this point.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A message arrived that the current state does not expect.
    #[error("unexpected {what} in state {state}")]
    Unexpected {
        /// What arrived.
        what: &'static str,
        /// Our state.
        state: crate::ike::IsakmpState,
    },
    /// The peer's Diffie-Hellman public value was refused.
    #[error("Diffie-Hellman public value refused: {0}")]
    BadKe(crate::crypto::DhError),
    /// The responder chose something we never offered (the transform as it answered).
    #[error("responder chose a proposal we did not offer: {0}")]
    ChoseUnoffered(Unoffered),
    /// A cleartext message where encryption is required, or the other way round.
    #[error("encryption flag wrong for {0}")]
    Encryption(&'static str),
}

/// No common ground with the peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerIncompatible {
    /// No ISAKMP policy or transform set matched; the evidence says which attribute differed
    /// for each offered transform.
    #[error("no proposal chosen: {0}")]
    NoProposalChosen(ProposalEvidence),
    /// The proxy identities (crypto ACLs) are not mirror images.
    #[error("proxy identities not supported: {0}")]
    ProxyIdentities(ProxyMismatch),
    /// PFS is configured on one side only or with different groups.
    #[error("PFS mismatch: {0}")]
    Pfs(PfsMismatch),
    /// No pre-shared key / peer entry for this address.
    #[error("no pre-shared key with {0}")]
    NoKey(std::net::IpAddr),
    /// A transform set matched, but its algorithms are not ones we can run.
    #[error("unsupported: {}", .0.display_transforms())]
    Unsupported(TransformSet),
    /// The peer authenticated with an identity its ISAKMP profile does not `match identity`.
    #[error("peer identity {} is not matched by the ISAKMP profile (match identity address)", .0.map_or("(not an IPv4 address)".to_string(), |a| a.to_string()))]
    IdentityNotMatched(Option<std::net::Ipv4Addr>),
    /// The peer identified with an ID_FQDN no ISAKMP profile of its entries takes (`match
    /// identity host`), or with an identity of a type the profile does not match.
    #[error("peer identity {0} is not matched by the ISAKMP profile (match identity host)")]
    HostIdentityNotMatched(String),
    /// A Mode Config client proposed a Quick Mode whose own proxy identity is not the address
    /// it was leased (or it has no lease yet where its group hands out addresses).
    #[error("{}", match .leased { Some(a) => format!("Quick Mode proxy identity {offered} is not the address leased to the client ({a}/32)"), None => format!("Quick Mode proxy identity {offered} before Mode Config leased the client an address") })]
    ProxyNotLeased {
        /// The client's proxy identity as offered.
        offered: String,
        /// Its lease.
        leased: Option<std::net::Ipv4Addr>,
    },
    /// Mode Config could not be given to a client.
    #[error("Mode Config refused: {0}")]
    ModeConfig(ModeConfigRefusal),
}

/// Why a Mode Config server did not configure a client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModeConfigRefusal {
    /// The client's Phase 1 identity names no `crypto isakmp client configuration group` (an
    /// address identity names none: the group comes from a key-ID, FQDN or user-FQDN
    /// identity).
    #[error("no client configuration group {0:?} (the client's Phase 1 identity)")]
    UnknownGroup(String),
    /// The client's Phase 1 identity (shown) names no group at all: an address or DN
    /// identity, as a Main Mode client sends by default.
    #[error("the client's Phase 1 identity {0} names no client configuration group (Easy VPN clients send the group as ID_KEY_ID)")]
    IdentityNamesNoGroup(String),
    /// Every address of the group's pool is leased.
    #[error("ip local pool {pool} of group {group} is exhausted ({size} addresses leased)")]
    PoolExhausted {
        /// Group.
        group: String,
        /// Pool.
        pool: String,
        /// Its size.
        size: u64,
    },
    /// The group's `pool` names no `ip local pool`.
    #[error("group {group} names pool {pool}, which has no ip local pool")]
    MissingPool {
        /// Group.
        group: String,
        /// Pool.
        pool: String,
    },
    /// `max-users` clients of the group are connected.
    #[error("group {group} has its max-users {max} clients connected")]
    MaxUsers {
        /// Group.
        group: String,
        /// Its `max-users`.
        max: u32,
    },
}

/// Authentication failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// MM5/MM6 decrypted to garbage: the two sides derived different keys.
    #[error("Main Mode message {message} from {peer} decrypted to garbage: pre-shared keys probably differ")]
    PskMismatch {
        /// 5 or 6.
        message: u8,
        /// The peer's address.
        peer: std::net::IpAddr,
    },
    /// A HASH payload did not verify.
    #[error("{0} did not verify")]
    HashMismatch(&'static str),
    /// Aggressive Mode: no key is configured for the identity the initiator sent. It got a
    /// decoy AM2 (so probing cannot tell known identities from unknown ones) and its AM3
    /// could not verify.
    #[error("Aggressive Mode identity {0} has no pre-shared key (answered with a decoy; HASH_I cannot verify)")]
    UnknownIdentity(String),
    /// XAUTH: the client's user name or password was wrong on every allowed attempt; we sent
    /// STATUS=FAIL and deleted the ISAKMP SA.
    #[error(
        "XAUTH failed for user {user:?} after {attempts} attempt(s): wrong user name or password"
    )]
    XauthRejected {
        /// The user name of the last REPLY (never the password).
        user: String,
        /// REPLYs received.
        attempts: u8,
    },
    /// XAUTH: the server sent STATUS=FAIL to our credentials.
    #[error("XAUTH server refused our credentials (STATUS=FAIL)")]
    XauthRefusedByServer,
    /// rsa-sig: the peer's certificate was refused (expired, unknown CA, revoked, ...).
    #[error("certificate of {peer} refused: {reason}")]
    Certificate {
        /// The peer's address.
        peer: std::net::IpAddr,
        /// Why.
        reason: crate::pki::CertRejected,
    },
    /// rsa-sig: MM5/MM6 carried no X.509 certificate (encoding 4), and we keep none of the
    /// peer's: our CR was not answered.
    #[error("Main Mode message {message} from {peer} carries no certificate (our certificate request unanswered)")]
    NoCertificate {
        /// 5 or 6.
        message: u8,
        /// The peer's address.
        peer: std::net::IpAddr,
    },
    /// rsa-sig: SIG_I / SIG_R did not verify with the certificate's key.
    #[error("{0} did not verify with the peer certificate's key")]
    SignatureMismatch(&'static str),
    /// rsa-sig: the peer's ID payload is not its certificate's (subject DN, or a
    /// subjectAltName for an FQDN, user FQDN or address identity).
    #[error("identity {identity} does not match certificate {subject}")]
    IdentityNotInCertificate {
        /// The identity sent.
        identity: String,
        /// The certificate's subject.
        subject: String,
    },
    /// rsa-sig: the certificate matched none of the ISAKMP profile's `match certificate` maps.
    #[error("certificate {subject} matches no certificate map of the profile")]
    CertificateMapNotMatched {
        /// The certificate's subject.
        subject: String,
    },
    /// rsa-sig: the embedder never told the endpoint the wall-clock time
    /// ([`crate::ike::Endpoint::set_wall_clock`]), so certificate dates cannot be checked.
    #[error("wall-clock time unknown: certificate validity cannot be checked")]
    WallClockUnknown,
    /// rsa-sig: our own signature could not be made (key too small for the hash).
    #[error("our signature could not be made: {0}")]
    OwnSignature(crate::pki::PkiError),
}

/// API misuse: never caused by network input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// No such peer index.
    #[error("no peer {0}")]
    NoSuchPeer(usize),
    /// No such selector index for the peer.
    #[error("peer has no crypto ACL line {0}")]
    NoSuchSelector(usize),
    /// No such SA.
    #[error("no such SA")]
    NoSuchSa,
    /// The configuration cannot work (for example a peer without ISAKMP policy).
    #[error("configuration: {0}")]
    Config(ConfigProblem),
}

/// Every error of the IKE endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed bytes.
    #[error("malformed message: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    /// Illegal peer behaviour.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// No common ground.
    #[error("{0}")]
    PeerIncompatible(#[from] PeerIncompatible),
    /// Authentication failed.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(#[from] AuthFailure),
    /// The peer sent an error notify.
    #[error("peer sent notify {0}")]
    NotifyReceived(NotifyType),
    /// The peer stopped answering.
    #[error("no reply after {retransmissions} retransmissions in state {state}{}{hint}", quick_mode_suffix(*.quick_mode))]
    NoReply {
        /// Retransmissions sent.
        retransmissions: u32,
        /// Our state when giving up.
        state: crate::ike::IsakmpState,
        /// The Quick Mode that went unanswered, when it was one (the ISAKMP SA is then QM_IDLE).
        quick_mode: Option<QuickModeWait>,
        /// What probably went wrong (empty when nothing specific is known).
        hint: &'static str,
    },
    /// We answered, but the initiator went quiet before the exchange finished.
    #[error("peer stopped negotiating in state {state}{hint}")]
    PeerStopped {
        /// Our state when we gave up waiting.
        state: crate::ike::IsakmpState,
        /// What probably went wrong.
        hint: &'static str,
    },
    /// API misuse.
    #[error("API misuse: {0}")]
    ApiMisuse(#[from] ApiMisuse),
}

/// Why [`crate::ike::Endpoint::handle_datagram`] dropped a datagram; each is also counted in
/// [`crate::ike::Counters`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramDrop {
    /// Not a well-formed ISAKMP message (the error says where).
    #[error("malformed: {0}")]
    Malformed(InvalidMessage),
    /// No ISAKMP SA has these cookies and the message cannot start one.
    #[error("for an unknown ISAKMP SA")]
    UnknownSa,
    /// A zero responder cookie on anything but a repeated MM1 (a blind MM3).
    #[error("zero responder cookie on a message past MM1")]
    ZeroResponderCookie,
    /// Well-formed, but not acceptable in the SA's state.
    #[error("not acceptable in this state")]
    Unexpected,
    /// A HASH payload did not verify.
    #[error("with a bad HASH")]
    BadHash,
    /// A message ID this ISAKMP SA has already used (a replay, or ours reflected).
    #[error("replayed message ID")]
    ReplayedMessageId,
    /// A DPD notify with the wrong SPI, length or a stale sequence number.
    #[error("bad or stale DPD notify")]
    BadDpd,
    /// Too many Quick Modes open as responder on one ISAKMP SA.
    #[error("too many Quick Modes open on this ISAKMP SA")]
    QuickModeFlood,
    /// An Aggressive Mode message 1 beyond the Diffie-Hellman budget.
    #[error("Aggressive Mode Diffie-Hellman budget spent")]
    DhRateLimited,
    /// An Aggressive Mode message 1 while Aggressive Mode is disabled.
    #[error("Aggressive Mode is disabled")]
    AggressiveModeDisabled,
}

impl DatagramDrop {
    /// A short stable name for scripts and metrics labels (`ike_bad_hash`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            DatagramDrop::Malformed(_) => "ike_malformed",
            DatagramDrop::UnknownSa => "ike_unknown_sa",
            DatagramDrop::ZeroResponderCookie => "ike_zero_responder_cookie",
            DatagramDrop::Unexpected => "ike_unexpected",
            DatagramDrop::BadHash => "ike_bad_hash",
            DatagramDrop::ReplayedMessageId => "ike_replayed_message_id",
            DatagramDrop::BadDpd => "ike_bad_dpd",
            DatagramDrop::QuickModeFlood => "ike_quick_mode_flood",
            DatagramDrop::DhRateLimited => "ike_dh_rate_limited",
            DatagramDrop::AggressiveModeDisabled => "ike_aggressive_mode_disabled",
        }
    }
}

/// Where an unanswered Quick Mode stood when we gave up on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuickModeWait {
    /// We initiated: QM1 sent, no QM2 came.
    Qm1Sent,
    /// We responded: QM2 sent, no QM3 came.
    Qm2Sent,
}

impl core::fmt::Display for QuickModeWait {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            QuickModeWait::Qm1Sent => "QM1 sent",
            QuickModeWait::Qm2Sent => "QM2 sent, waiting for QM3",
        })
    }
}

fn quick_mode_suffix(q: Option<QuickModeWait>) -> String {
    q.map(|q| format!(" ({q})")).unwrap_or_default()
}

impl From<crate::wire::WireError> for Error {
    fn from(e: crate::wire::WireError) -> Self {
        Error::InvalidMessage(InvalidMessage::Wire(e))
    }
}

impl Error {
    /// The notify a responder sends for this error, or `None` when nothing should be sent
    /// (malformed or unauthenticated input gets silence, so we cannot be used as a reflector).
    pub fn notify_to_send(&self) -> Option<NotifyType> {
        match self {
            Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(_))
            | Error::PeerIncompatible(PeerIncompatible::Pfs(_))
            | Error::PeerIncompatible(PeerIncompatible::Unsupported(_)) => {
                Some(NotifyType::NO_PROPOSAL_CHOSEN)
            }
            // IOS answers a proxy identity mismatch with PROPOSAL_NOT_CHOSEN ("error 32").
            Error::PeerIncompatible(PeerIncompatible::ProxyIdentities(_)) => {
                Some(NotifyType::NO_PROPOSAL_CHOSEN)
            }
            Error::PeerMisbehaved(PeerMisbehaved::BadKe(_)) => {
                Some(NotifyType::INVALID_KEY_INFORMATION)
            }
            Error::AuthenticationFailed(AuthFailure::HashMismatch(_)) => {
                Some(NotifyType::INVALID_HASH_INFORMATION)
            }
            Error::AuthenticationFailed(AuthFailure::SignatureMismatch(_)) => {
                Some(NotifyType::INVALID_SIGNATURE)
            }
            Error::AuthenticationFailed(AuthFailure::Certificate { .. }) => {
                Some(NotifyType::INVALID_CERTIFICATE)
            }
            Error::AuthenticationFailed(AuthFailure::NoCertificate { .. }) => {
                Some(NotifyType::CERTIFICATE_UNAVAILABLE)
            }
            // The peer proved its key but named an identity we do not take.
            Error::PeerIncompatible(
                PeerIncompatible::IdentityNotMatched(_)
                | PeerIncompatible::HostIdentityNotMatched(_)
                | PeerIncompatible::ProxyNotLeased { .. },
            ) => Some(NotifyType::INVALID_ID_INFORMATION),
            Error::InvalidMessage(_)
            | Error::PeerMisbehaved(_)
            | Error::PeerIncompatible(PeerIncompatible::NoKey(_))
            | Error::PeerIncompatible(PeerIncompatible::ModeConfig(_))
            | Error::AuthenticationFailed(_)
            | Error::NotifyReceived(_)
            | Error::NoReply { .. }
            | Error::PeerStopped { .. }
            | Error::ApiMisuse(_) => None,
        }
    }
}

/// The peer's buffer for [`crate::ike::Endpoint::poll_transmit`] was too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("buffer too small: {needed} bytes needed")]
pub struct BufferTooSmall {
    /// Bytes the datagram needs.
    pub needed: usize,
}
