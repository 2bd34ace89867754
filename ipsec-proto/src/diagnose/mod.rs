//! Troubleshooting as the classic IOS procedure does it, as pure functions: Phase 1 first
//! (`show crypto isakmp sa`), then Phase 2 (`show crypto ipsec sa`, encrypt vs decrypt), then the
//! error counters, over a snapshot of the live state plus a short history of what happened on the
//! wire ([`History`]).
//!
//! Nothing here touches a socket or a clock: the caller (the engine, the C or Python bindings, a
//! test) fills the plain input structs of [`PeerInput`] and gets [`Verdict`]s back, each naming
//! the `show`/`debug` lines an engineer can use to confirm it by hand.

mod endpoint;
mod rules;

pub use endpoint::{EndpointRecorder, EspPairStats};
pub use rules::{diagnose, diagnose_config, diagnose_peer, diagnose_stranger};

use crate::ike::{
    AuthFailure, Error, Event, IkeSaId, IsakmpState, NotifyType, Path, PeerIncompatible,
    QuickModeWait,
};
use crate::time::Instant;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;

/// Events kept per peer by [`History`] (older ones are dropped first). A negotiation that fails
/// leaves well under this many (Main Mode with all its retransmissions is a dozen); what a healthy
/// tunnel adds once it is up (DPD, rekeys) is folded by [`History::record`], so the ring of every
/// tunnel stays small: it is part of what each of thousands of tunnels holds.
pub const HISTORY_LEN: usize = 32;

/// Addresses [`History`] keeps apart. Anyone can send a datagram from a spoofed address, so
/// beyond this many the rest share one uncounted bucket instead of growing the map.
pub const HISTORY_PEERS: usize = 1024;

/// What a failed negotiation says, reduced to the causes the diagnosis distinguishes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// As responder, no ISAKMP policy (phase 1) or transform set (phase 2) matched; the text
    /// names the attribute that differed.
    NoProposalChosen,
    /// The proxy identities were not mirror images of a crypto ACL line.
    ProxyIdentities,
    /// `set pfs` on one side only, or different groups.
    Pfs,
    /// MM5/MM6 decrypted to garbage.
    PskMismatch,
    /// A HASH payload did not verify.
    HashMismatch,
    /// No pre-shared key for the peer.
    NoKey,
    /// The peer's Main Mode identity is not matched by its ISAKMP profile.
    IdentityNotMatched,
    /// XAUTH refused the user name or password (STATUS=FAIL).
    Xauth,
    /// rsa-sig: the peer's certificate, its identity or its signature was refused.
    Certificate(CertProblem),
    /// An Easy VPN client was not configured (unknown group, pool exhausted, max-users) or
    /// proposed a Quick Mode for an address it was not leased.
    ModeConfig,
    /// We retransmitted until giving up.
    NoReply {
        /// Retransmissions sent.
        retransmissions: u32,
        /// ISAKMP state when giving up.
        state: IsakmpState,
        /// The unanswered Quick Mode, when it was one.
        quick_mode: Option<QuickModeWait>,
    },
    /// We answered, but the initiator went quiet.
    PeerStopped {
        /// ISAKMP state when giving up.
        state: IsakmpState,
    },
    /// The peer sent an error notify.
    Notify(String),
    /// Anything else (malformed, unexpected, unsupported).
    Other,
}

impl FailureKind {
    /// Classifies an endpoint error.
    pub fn from_error(e: &Error) -> FailureKind {
        match e {
            Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(_)) => {
                FailureKind::NoProposalChosen
            }
            Error::PeerIncompatible(PeerIncompatible::ProxyIdentities(_)) => {
                FailureKind::ProxyIdentities
            }
            Error::PeerIncompatible(PeerIncompatible::Pfs(_)) => FailureKind::Pfs,
            Error::PeerIncompatible(PeerIncompatible::NoKey(_)) => FailureKind::NoKey,
            Error::PeerIncompatible(
                PeerIncompatible::IdentityNotMatched(_)
                | PeerIncompatible::HostIdentityNotMatched(_),
            ) => FailureKind::IdentityNotMatched,
            Error::PeerIncompatible(
                PeerIncompatible::ModeConfig(_) | PeerIncompatible::ProxyNotLeased { .. },
            ) => FailureKind::ModeConfig,
            Error::AuthenticationFailed(
                AuthFailure::XauthRejected { .. } | AuthFailure::XauthRefusedByServer,
            ) => FailureKind::Xauth,
            Error::AuthenticationFailed(AuthFailure::PskMismatch { .. }) => {
                FailureKind::PskMismatch
            }
            Error::AuthenticationFailed(AuthFailure::Certificate { reason, .. }) => {
                use crate::pki::CertRejected as R;
                FailureKind::Certificate(match reason {
                    R::Expired { .. } => CertProblem::Expired,
                    R::NotYetValid { .. } => CertProblem::NotYetValid,
                    R::UnknownCa { .. } => CertProblem::UnknownCa,
                    R::Revoked { .. } | R::CrlUnavailable { .. } => CertProblem::Revocation,
                    _ => CertProblem::Invalid,
                })
            }
            Error::AuthenticationFailed(AuthFailure::NoCertificate { .. }) => {
                FailureKind::Certificate(CertProblem::NoCertificate)
            }
            Error::AuthenticationFailed(
                AuthFailure::IdentityNotInCertificate { .. }
                | AuthFailure::CertificateMapNotMatched { .. },
            ) => FailureKind::Certificate(CertProblem::Identity),
            Error::AuthenticationFailed(AuthFailure::SignatureMismatch(_)) => {
                FailureKind::Certificate(CertProblem::Signature)
            }
            Error::AuthenticationFailed(
                AuthFailure::WallClockUnknown | AuthFailure::OwnSignature(_),
            ) => FailureKind::Certificate(CertProblem::Local),
            Error::AuthenticationFailed(_) => FailureKind::HashMismatch,
            Error::NoReply {
                retransmissions,
                state,
                quick_mode,
                ..
            } => FailureKind::NoReply {
                retransmissions: *retransmissions,
                state: *state,
                quick_mode: *quick_mode,
            },
            Error::PeerStopped { state, .. } => FailureKind::PeerStopped { state: *state },
            Error::NotifyReceived(n) => FailureKind::Notify(notify_name(*n)),
            _ => FailureKind::Other,
        }
    }
}

/// What was wrong with certificate authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertProblem {
    /// The peer's certificate is past its notAfter.
    Expired,
    /// The peer's certificate is before its notBefore (a clock is wrong).
    NotYetValid,
    /// No trustpoint holds the CA that issued it.
    UnknownCa,
    /// A CRL revokes it, or `revocation-check crl` has no CRL for its CA.
    Revocation,
    /// Its identity is not the certificate's, or no certificate map of the profile takes it.
    Identity,
    /// No certificate came: our certificate request (CR) was not answered.
    NoCertificate,
    /// SIG_I/SIG_R did not verify with the certificate's key.
    Signature,
    /// Another defect of the certificate or its chain.
    Invalid,
    /// Ours: no wall clock, or our key could not sign.
    Local,
}

/// The RFC 2408 name of a notify type (`NO-PROPOSAL-CHOSEN`).
pub fn notify_name(n: NotifyType) -> String {
    n.to_string()
}

/// One thing that happened with a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Happening {
    /// We sent an IKE datagram.
    IkeSent {
        /// Our ISAKMP state when sending, `None` when no SA is known.
        state: Option<IsakmpState>,
        /// We are the initiator of that SA.
        initiator: bool,
        /// Our UDP port (500, or 4500 after the NAT-T float).
        local_port: u16,
        /// Byte-identical to the previous datagram to this peer: a retransmission.
        retransmission: bool,
        /// UDP payload bytes (the ISAKMP message, with the non-ESP marker on 4500).
        len: usize,
    },
    /// An IKE datagram arrived.
    IkeReceived {
        /// Our ISAKMP state before processing it.
        state: Option<IsakmpState>,
        /// Our port it arrived on.
        local_port: u16,
        /// The peer's source port.
        remote_port: u16,
    },
    /// A negotiation failed.
    Failed {
        /// 1 (Main Mode) or 2 (Quick Mode).
        phase: u8,
        /// Classification.
        kind: FailureKind,
        /// The endpoint's own words (attributes, proxy identities, ...). A boxed `str`, not a
        /// `String`: every record of every peer's ring is as large as the largest variant.
        text: Box<str>,
    },
    /// The peer sent a notify.
    NotifyReceived {
        /// RFC name.
        name: Box<str>,
        /// Inside an authenticated exchange.
        authenticated: bool,
    },
    /// Main Mode finished.
    Phase1Up {
        /// NAT detected (either side).
        nat: bool,
        /// We are the NATed side.
        local_behind_nat: bool,
        /// The peer's port after the exchange (4500 when it floated).
        remote_port: u16,
        /// The peer announced NAT-T (RFC 3947 vendor ID).
        peer_nat_t: bool,
    },
    /// A Quick Mode installed an SA pair.
    Phase2Up {
        /// Our SPI.
        spi_in: u32,
        /// The peer's SPI.
        spi_out: u32,
        /// ESP in UDP 4500.
        udp_encap: bool,
    },
    /// An ESP packet from the peer carried an SPI no SA owns.
    InvalidSpi {
        /// The SPI.
        spi: u32,
    },
    /// An ESP packet failed its ICV.
    VerifyFailed {
        /// The SPI.
        spi: u32,
    },
    /// An ESP packet failed the anti-replay check.
    ReplayFailed {
        /// The SPI.
        spi: u32,
    },
    /// Raw ESP (IP protocol 50) arrived from a peer with which a NAT was detected.
    RawEspBehindNat,
}

/// A [`Happening`] with its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When.
    pub at: Instant,
    /// What.
    pub what: Happening,
}

/// The recent history of one peer: a bounded ring of [`Record`]s plus totals that are never
/// dropped (so "nothing ever arrived" stays true after the ring wrapped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerHistory {
    /// Recent events, oldest first.
    pub events: VecDeque<Record>,
    /// Last time anything (IKE or ESP) arrived from the peer.
    pub last_rx: Option<Instant>,
    /// IKE datagrams received.
    pub ike_rx: u64,
    /// IKE datagrams sent.
    pub ike_tx: u64,
    /// Of those, retransmissions.
    pub retransmissions: u64,
    /// IKE datagrams received on UDP 4500.
    pub ike_rx_4500: u64,
    /// IKE datagrams sent from UDP 4500.
    pub ike_tx_4500: u64,
    /// ESP packets from the peer with an unknown SPI.
    pub invalid_spi: u64,
    /// Raw ESP packets from a peer behind a NAT.
    pub raw_esp_behind_nat: u64,
    /// Fingerprint of the last IKE datagram sent (to spot retransmissions).
    pub last_tx_digest: u64,
    /// Retransmissions in a row of the same datagram (IOS `attempt N of 5`).
    pub retrans_run: u32,
    /// Some ISAKMP SA with the peer detected a NAT (NAT-D payloads of MM3/MM4).
    pub nat_detected: bool,
}

/// Per-peer histories, keyed by the peer's address.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// By address for every datagram's lookup; `order` lists them for reports.
    peers: HashMap<IpAddr, PeerHistory>,
    order: BTreeSet<IpAddr>,
    /// Where events of addresses beyond [`HISTORY_PEERS`] go (never reported).
    overflow: PeerHistory,
}

/// An IKE datagram of an established ISAKMP SA that is not a retransmission.
fn routine(what: &Happening) -> bool {
    matches!(
        what,
        Happening::IkeSent {
            state: Some(IsakmpState::QmIdle),
            retransmission: false,
            ..
        } | Happening::IkeReceived {
            state: Some(IsakmpState::QmIdle),
            ..
        }
    )
}

/// Routine datagrams of one kind, whatever their sizes (a DPD and an informational differ).
fn same_routine(a: &Happening, b: &Happening) -> bool {
    let sizeless = |w: &Happening| match w {
        Happening::IkeSent {
            state,
            initiator,
            local_port,
            retransmission,
            ..
        } => Happening::IkeSent {
            state: *state,
            initiator: *initiator,
            local_port: *local_port,
            retransmission: *retransmission,
            len: 0,
        },
        other => other.clone(),
    };
    sizeless(a) == sizeless(b)
}

/// FNV-1a: only compares a datagram with the previous one, no adversary involved.
fn fingerprint(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// The history of `peer`, if any.
    pub fn peer(&self, peer: IpAddr) -> Option<&PeerHistory> {
        self.peers.get(&peer)
    }

    /// Every peer with a history.
    pub fn peers(&self) -> impl Iterator<Item = (IpAddr, &PeerHistory)> {
        self.order
            .iter()
            .filter_map(|a| self.peers.get(a).map(|h| (*a, h)))
    }

    /// The history of `peer`, created empty if needed (while fewer than [`HISTORY_PEERS`]
    /// addresses are known; beyond that a shared scratch history that is never reported).
    pub fn entry(&mut self, peer: IpAddr) -> &mut PeerHistory {
        if self.peers.len() >= HISTORY_PEERS && !self.peers.contains_key(&peer) {
            self.overflow.events.clear();
            return &mut self.overflow;
        }
        if !self.peers.contains_key(&peer) {
            self.order.insert(peer);
        }
        self.peers.entry(peer).or_default()
    }

    /// Keeps `peer` (a configured peer) even when the map is full of strangers.
    pub fn reserve(&mut self, peer: IpAddr) {
        if !self.peers.contains_key(&peer) {
            self.order.insert(peer);
        }
        self.peers.entry(peer).or_default();
    }

    /// Appends `what` for `peer` (dropping the oldest event when full) and updates the totals.
    pub fn record(&mut self, peer: IpAddr, at: Instant, what: Happening) {
        let h = self.entry(peer);
        match &what {
            Happening::IkeReceived { local_port, .. } => {
                h.ike_rx += 1;
                h.last_rx = Some(at);
                if *local_port == 4500 {
                    h.ike_rx_4500 += 1;
                }
            }
            Happening::IkeSent {
                local_port,
                retransmission,
                ..
            } => {
                h.ike_tx += 1;
                if *retransmission {
                    h.retransmissions += 1;
                    h.retrans_run = h.retrans_run.saturating_add(1);
                } else {
                    h.retrans_run = 0;
                }
                if *local_port == 4500 {
                    h.ike_tx_4500 += 1;
                }
            }
            Happening::InvalidSpi { .. } => {
                h.invalid_spi += 1;
                h.last_rx = Some(at);
            }
            Happening::VerifyFailed { .. } | Happening::ReplayFailed { .. } => {
                h.last_rx = Some(at);
            }
            Happening::RawEspBehindNat => {
                h.raw_esp_behind_nat += 1;
                h.last_rx = Some(at);
            }
            _ => {}
        }
        // Repeated ESP errors would push out the negotiation history: keep one of each kind
        // in a row (the totals and the SA counters keep the count).
        let repeat = matches!(
            (&what, h.events.back().map(|r| &r.what)),
            (
                Happening::InvalidSpi { .. },
                Some(Happening::InvalidSpi { .. })
            ) | (
                Happening::VerifyFailed { .. },
                Some(Happening::VerifyFailed { .. })
            ) | (
                Happening::ReplayFailed { .. },
                Some(Happening::ReplayFailed { .. })
            ) | (Happening::RawEspBehindNat, Some(Happening::RawEspBehindNat))
        );
        if repeat {
            if let Some(last) = h.events.back_mut() {
                last.at = at;
            }
            return;
        }
        // The routine IKE traffic of an established SA (DPD, Quick Mode rekeys) alternates sent
        // and received datagrams of the same shape: a datagram like one of the last two moves
        // that record to the end with its new time instead of taking a slot, so it cannot
        // push the negotiation history out. Retransmissions always take their own slot.
        if routine(&what) {
            let n = h.events.len();
            let like = (n.saturating_sub(2)..n).rev().find(|&i| {
                h.events
                    .get(i)
                    .is_some_and(|r| same_routine(&r.what, &what))
            });
            if let Some(i) = like {
                if let Some(mut r) = h.events.remove(i) {
                    r.at = at;
                    r.what = what;
                    h.events.push_back(r);
                }
                return;
            }
        }
        // Rekeys bring a Phase 1 or Phase 2 completion every so often for as long as the tunnel
        // lives; the rules read the newest, so two of each kind are kept and older ones go.
        let kind = |w: &Happening| match w {
            Happening::Phase1Up { .. } => 1,
            Happening::Phase2Up { .. } => 2,
            _ => 0,
        };
        let k = kind(&what);
        if k != 0 && h.events.iter().filter(|r| kind(&r.what) == k).count() >= 2 {
            if let Some(oldest) = h.events.iter().position(|r| kind(&r.what) == k) {
                h.events.remove(oldest);
            }
        }
        if h.events.len() >= HISTORY_LEN {
            h.events.pop_front();
        }
        h.events.push_back(Record { at, what });
    }

    /// Records an IKE datagram sent to `peer`, flagging it as a retransmission when it is
    /// byte-identical to the previous one; returns that flag.
    pub fn record_ike_sent(
        &mut self,
        peer: IpAddr,
        at: Instant,
        data: &[u8],
        state: Option<IsakmpState>,
        initiator: bool,
        local_port: u16,
    ) -> bool {
        let d = fingerprint(data);
        let h = self.entry(peer);
        let retransmission = h.last_tx_digest == d && h.ike_tx > 0;
        h.last_tx_digest = d;
        self.record(
            peer,
            at,
            Happening::IkeSent {
                state,
                initiator,
                local_port,
                retransmission,
                len: data.len(),
            },
        );
        retransmission
    }

    /// Records an IKE datagram that arrived on `path`; `state` is our ISAKMP state with that
    /// peer before processing it (`None` when no SA is known).
    pub fn record_ike_received(&mut self, at: Instant, path: &Path, state: Option<IsakmpState>) {
        self.record(
            path.remote.ip(),
            at,
            Happening::IkeReceived {
                state,
                local_port: path.local.port(),
                remote_port: path.remote.port(),
            },
        );
    }

    /// Records what an endpoint event says about its peer: failures, notifies, Phase 1 and
    /// Phase 2 coming up (other events leave no history). `peer_of` names the peer of an
    /// ISAKMP SA, for the events that carry only the SA.
    pub fn record_event(
        &mut self,
        at: Instant,
        ev: &Event,
        peer_of: &dyn Fn(IkeSaId) -> Option<IpAddr>,
    ) {
        match ev {
            Event::NegotiationFailed {
                remote,
                phase,
                error,
                ..
            } => self.record(
                remote.ip(),
                at,
                Happening::Failed {
                    phase: *phase,
                    kind: FailureKind::from_error(error),
                    text: error.to_string().into(),
                },
            ),
            Event::NotifyReceived {
                sa: Some(sa),
                notify,
                authenticated,
            } => {
                if let Some(peer) = peer_of(*sa) {
                    self.record(
                        peer,
                        at,
                        Happening::NotifyReceived {
                            name: notify_name(*notify).into(),
                            authenticated: *authenticated,
                        },
                    );
                }
            }
            Event::Phase1Established { path, nat, .. } => self.record(
                path.remote.ip(),
                at,
                Happening::Phase1Up {
                    nat: nat.nat_detected(),
                    local_behind_nat: nat.local_behind_nat,
                    remote_port: path.remote.port(),
                    peer_nat_t: nat.peer_supports,
                },
            ),
            Event::Phase2Established(p) => self.record(
                p.path.remote.ip(),
                at,
                Happening::Phase2Up {
                    spi_in: p.keys.inbound.spi(),
                    spi_out: p.keys.outbound.spi(),
                    udp_encap: p.udp_encap,
                },
            ),
            _ => {}
        }
    }

    /// Notes that something arrived from `peer` without keeping an event (good ESP).
    pub fn touch(&mut self, peer: IpAddr, at: Instant) {
        if let Some(h) = self.peers.get_mut(&peer) {
            h.last_rx = h.last_rx.max(Some(at));
        }
    }
}

/// One ISAKMP SA as `show crypto isakmp sa` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsakmpView {
    /// conn-id.
    pub conn_id: u32,
    /// Its state.
    pub state: IsakmpState,
    /// We initiated.
    pub initiator: bool,
    /// NAT-T in use.
    pub nat_t: bool,
}

/// One proxy pair (crypto ACL line) of the peer's crypto map entry, with its counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowView {
    /// The crypto ACL line (`access-list 100 permit ip 192.168.1.0 0.0.0.255 ...`).
    pub acl_line: String,
    /// `local ident` as `show crypto ipsec sa` prints it.
    pub local_ident: String,
    /// `remote ident`.
    pub remote_ident: String,
    /// An SA pair is installed.
    pub sa_up: bool,
    /// ESP in UDP 4500.
    pub udp_encap: bool,
    /// `#pkts encaps` (= encrypt).
    pub encaps: u64,
    /// `#pkts decaps` (= decrypt).
    pub decaps: u64,
    /// `#send errors`.
    pub send_errors: u64,
    /// `#pkts verify failed`.
    pub verify_failed: u64,
    /// `#pkts replay failed`.
    pub replay_failed: u64,
    /// Other inbound drops (invalid length, bad padding, decaps failed).
    pub decrypt_failed: u64,
    /// Decrypted packets outside the proxy identities.
    pub invalid_identity: u64,
    /// `path mtu`.
    pub path_mtu: u16,
    /// The largest plaintext that fits (`ip mtu` minus ESP overhead).
    pub plaintext_mtu: u16,
    /// The largest cleartext packet seen for this flow.
    pub largest_plaintext: u32,
    /// Cleartext packets larger than `plaintext_mtu`.
    pub oversize: u64,
}

/// Everything known about one configured peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerInput {
    /// `set peer` address.
    pub peer: Option<IpAddr>,
    /// Our address.
    pub local: Option<IpAddr>,
    /// `crypto map VPN 10` (for a VTI, its IOS-style `TunnelN-head-0 1`).
    pub map: String,
    /// `N` when the peer is that of static VTI `TunnelN` (route-based: what goes to the peer
    /// is what is routed into the interface, not what a crypto ACL matches).
    pub vti: Option<u32>,
    /// Our ISAKMP policies as offered (`priority 1: 3des sha group 2 pre-share`).
    pub policies: Vec<String>,
    /// Our transform sets (`TRANSFORM: esp-3des esp-sha-hmac`).
    pub transform_sets: Vec<String>,
    /// `set pfs group N`.
    pub pfs: Option<u16>,
    /// ISAKMP SAs with this peer.
    pub isakmp: Vec<IsakmpView>,
    /// Flows of the entry.
    pub flows: Vec<FlowView>,
    /// What happened recently.
    pub history: PeerHistory,
    /// Addresses that sent IKE but are no configured peer, with what they sent (a wrong
    /// `set peer` shows up here).
    pub strangers: Vec<(IpAddr, u64)>,
}

/// The cause a verdict names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// Phase 1 and 2 up, traffic both ways.
    Healthy,
    /// Nothing negotiated and nothing sent: no traffic matched the crypto ACL.
    NotTriggered,
    /// No Phase 1 and nothing received from the peer.
    PeerUnreachable,
    /// The peer refused our Phase 1 offer (NO-PROPOSAL-CHOSEN).
    Phase1RefusedByPeer,
    /// We refused the peer's Phase 1 offer.
    Phase1RefusedByUs,
    /// Our MM2 (or later replies) never reach the peer.
    OneWayUdp500,
    /// The pre-shared keys differ.
    PskMismatch,
    /// Initiator stuck at MM_KEY_EXCH: keys differ or UDP 4500 filtered.
    StuckKeyExch,
    /// UDP 4500 filtered after the NAT-T float.
    Udp4500Filtered,
    /// No pre-shared key configured for the peer.
    NoKey,
    /// Proxy identities (crypto ACLs) not mirror images.
    ProxyIdMismatch,
    /// No common transform set.
    TransformMismatch,
    /// PFS configured differently.
    PfsMismatch,
    /// The peer refused our Quick Mode (proxy identities or transform set).
    Phase2RefusedByPeer,
    /// Phase 2 negotiation got no answer.
    Phase2NoReply,
    /// We encrypt, nothing comes back.
    OneWayOutbound,
    /// We decrypt, nothing goes out.
    OneWayInbound,
    /// ESP ICV failures.
    DecryptFailures,
    /// Anti-replay failures.
    ReplayFailures,
    /// ESP with unknown SPIs.
    InvalidSpi,
    /// NAT detected but the peer does not use UDP 4500.
    NatNotFloating,
    /// Packets larger than the plaintext MTU.
    Mtu,
    /// A configuration lint (missing NAT exemption, ...).
    Config,
    /// Negotiation still in progress (no retransmission yet).
    InProgress,
    /// IKE from an address that is no configured peer (wrong `set peer`, or a NAT in front
    /// of the peer).
    UnknownPeer,
    /// The peer authenticated with an identity its ISAKMP profile does not `match identity`.
    IdentityMismatch,
    /// XAUTH failed: wrong user name or password.
    XauthFailed,
    /// The Mode Config server could not configure a remote-access client (unknown group,
    /// exhausted pool, max-users) or the client asked for an address it was not leased.
    ModeConfig,
    /// rsa-sig: the peer's certificate was refused (expired, unknown CA, revoked, identity not
    /// in it, certificate request unanswered).
    CertificateRefused,
}

/// One finding about one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The peer (`None` for configuration findings).
    pub peer: Option<IpAddr>,
    /// The cause.
    pub cause: Cause,
    /// One line.
    pub summary: String,
    /// What was observed (counters, states, history).
    pub evidence: Vec<String>,
    /// Likely causes or things to check, most likely first.
    pub check: Vec<String>,
    /// `show` / `debug` lines that confirm it by hand.
    pub verify: Vec<String>,
}

impl Verdict {
    pub(crate) fn new(peer: Option<IpAddr>, cause: Cause, summary: impl Into<String>) -> Self {
        Verdict {
            peer,
            cause,
            summary: summary.into(),
            evidence: Vec::new(),
            check: Vec::new(),
            verify: Vec::new(),
        }
    }

    /// True when this verdict reports a fault (not [`Cause::Healthy`] or
    /// [`Cause::InProgress`]).
    pub fn is_fault(&self) -> bool {
        !matches!(self.cause, Cause::Healthy | Cause::InProgress)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer {
            Some(p) => writeln!(f, "peer {p}: {}", self.summary)?,
            None => writeln!(f, "configuration: {}", self.summary)?,
        }
        for e in &self.evidence {
            writeln!(f, "  evidence: {e}")?;
        }
        for (i, c) in self.check.iter().enumerate() {
            writeln!(f, "  check {}: {c}", i + 1)?;
        }
        for v in &self.verify {
            writeln!(f, "  verify: {v}")?;
        }
        Ok(())
    }
}

/// Prints verdicts one after the other.
pub fn render(verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    for v in verdicts {
        s.push_str(&v.to_string());
    }
    if s.is_empty() {
        s.push_str("no crypto map peers or tunnel interfaces configured\n");
    }
    s
}

#[cfg(test)]
mod tests;
