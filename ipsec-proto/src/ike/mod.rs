//! The IKEv1 endpoint: Main Mode with pre-shared keys, Quick Mode, Informational (Delete,
//! notifies), Dead Peer Detection and NAT traversal, as a sans-IO state machine.
//!
//! Start at [`Endpoint`]: its documentation gives the call order. Configuration lives in
//! [`EndpointConfig`] / [`PeerConfig`] (IOS `crypto isakmp policy`, `crypto isakmp key`,
//! `crypto ipsec transform-set`, one `crypto map` entry with its crypto ACL lines); what happens
//! comes out as [`Event`]s; `show crypto isakmp sa` / `show crypto ipsec sa` read
//! [`Endpoint::isakmp_sas`] and [`Endpoint::ipsec_sas`], and [`show`] builds their IOS
//! snapshots.
//!
//! Implemented: Main Mode with pre-shared keys (both roles), Quick Mode (both roles, PFS groups
//! 1/2/5/14, several SA pairs per ISAKMP SA, RESPONDER-LIFETIME), Informational (Delete of ESP
//! and ISAKMP SAs, INITIAL-CONTACT, error notifies), DPD (RFC 3706), NAT-T (RFC 3947 and drafts
//! 02/03, float to 4500, encapsulation modes 3/4 and 61443/61444, NAT-OA in transport mode,
//! keepalives, rebinding), retransmission with back-off and jitter, duplicate detection by
//! message hash, half-open limit, Phase 1 and Phase 2 rekeying.
//!
//! Aggressive Mode with pre-shared keys, and XAUTH (XAUTHInitPreShared, both roles) over the
//! Transaction exchange after Main or Aggressive Mode.
//!
//! IKE fragmentation, Cisco/Microsoft flavour (`crypto isakmp fragmentation`, payload 132 and
//! the FRAGMENTATION vendor ID; see [`FragmentationConfig`] and [`FragmentError`]).
//!
//! Not implemented: certificate/RSA authentication, Mode Config (address assignment), Hybrid
//! and RSA XAUTH variants (refused by name), AH and IPComp bundles, IPv6 proxy identities, the CONNECTED notify that
//! answers a commit bit (the bit is tolerated and ignored).

mod config;
mod endpoint;
mod error;
mod event;
mod evidence;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "fuzzing")]
pub mod fuzzing_wildcard;
mod proposal;
pub mod show;

pub use config::{
    EndpointConfig, FragmentationConfig, GatewayConfigIssue, IdentityKey, PeerConfig, PeerId,
    Phase1Id, RetransmitConfig, SelectorPair,
};
/// Fuzz-target body of `ike_fragment` (cargo feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub use endpoint::fuzz_fragment_reassembly;
pub use endpoint::{
    Endpoint, FragmentError, MAX_FRAGMENTS, MAX_REASSEMBLIES, MAX_REASSEMBLIES_PER_ADDRESS,
    MAX_REASSEMBLY_BYTES, REASSEMBLY_TIMEOUT,
};
pub use error::{
    ApiMisuse, AuthFailure, BufferTooSmall, DatagramDrop, Error, InvalidMessage, ModeConfigRefusal,
    NotifyType, PeerIncompatible, PeerMisbehaved, QuickModeWait,
};
pub use event::{
    ChildId, ChildKeys, Counters, DeleteReason, Event, IkeSaId, IpsecSaInfo, IsakmpSaInfo,
    IsakmpState, ModeConfigStep, NatStatus, Path, Phase2Established, Role, Transmit, XauthStep,
};
pub use evidence::{
    ConfigProblem, EspTransform, PfsMismatch, Phase1Attribute, Phase1Auth, Phase1Difference,
    Phase1Encryption, Phase1Evidence, Phase1Hash, Phase1Mismatch, Phase1Refusal, Phase1Transform,
    Phase2Evidence, Phase2Refusal, ProposalEvidence, ProxyMismatch, Unoffered,
};

#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
mod tests;
