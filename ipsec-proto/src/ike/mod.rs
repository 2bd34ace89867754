//! The IKEv1 endpoint: Main Mode with pre-shared keys, Quick Mode, Informational (Delete,
//! notifies), Dead Peer Detection and NAT traversal, as a sans-IO state machine.
//!
//! Start at [`Endpoint`]: its documentation gives the call order. Configuration lives in
//! [`EndpointConfig`] / [`PeerConfig`] (IOS `crypto isakmp policy`, `crypto isakmp key`,
//! `crypto ipsec transform-set`, one `crypto map` entry with its crypto ACL lines); what happens
//! comes out as [`Event`]s; `show crypto isakmp sa` / `show crypto ipsec sa` read
//! [`Endpoint::isakmp_sas`] and [`Endpoint::ipsec_sas`].

mod config;
mod endpoint;
mod error;
mod event;
pub mod fuzzing;
mod proposal;

pub use config::{
    EndpointConfig, GatewayConfigIssue, PeerConfig, PeerId, RetransmitConfig, SelectorPair,
};
pub use endpoint::Endpoint;
pub use error::{
    ApiMisuse, AuthFailure, BufferTooSmall, Error, InvalidMessage, NotifyType, PeerIncompatible,
    PeerMisbehaved,
};
pub use event::{
    ChildId, ChildKeys, Counters, DeleteReason, Event, IkeSaId, IpsecSaInfo, IsakmpSaInfo,
    NatStatus, Path, Phase2Established, Role, Transmit,
};

#[cfg(test)]
mod tests;
