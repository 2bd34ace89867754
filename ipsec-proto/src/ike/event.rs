//! What the endpoint reports: events (polled) and the read-only views behind show commands.

use std::net::SocketAddr;

use super::config::{PeerId, SelectorPair};
use super::error::{Error, NotifyType};
use crate::esp::EspKeys;
use crate::ios::show::{IsakmpSaDetail, IsakmpSaRow};
use crate::policy::ipsec::{EspMode, TransformSet};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash};
use crate::time::Instant;

/// The two UDP addresses of a datagram, as the caller's socket saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

/// A datagram to send, written by [`crate::ike::Endpoint::poll_transmit`] into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it from and to.
    pub path: Path,
    /// Bytes written.
    pub len: usize,
    /// Prefix the datagram with the 4-byte non-ESP marker (IKE on UDP 4500). The buffer does not
    /// contain it; the caller adds it when writing to the socket.
    pub non_esp_marker: bool,
}

/// Identifies an ISAKMP SA; the number is the IOS conn-id (1001, 1002, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IkeSaId(pub u32);

/// Identifies one IPsec SA pair negotiated by one Quick Mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildId(pub u64);

/// Which side started the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the first message.
    Initiator,
    /// The peer did.
    Responder,
}

/// NAT detection outcome of Main Mode (RFC 3947).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatStatus {
    /// The peer announced NAT-T support (vendor ID).
    pub peer_supports: bool,
    /// We are behind a NAT (our address as the peer saw it differs).
    pub local_behind_nat: bool,
    /// The peer is behind a NAT.
    pub remote_behind_nat: bool,
}

impl NatStatus {
    /// Whether IKE floated to 4500 and ESP is UDP-encapsulated.
    pub fn nat_detected(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }
}

/// Why an SA went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteReason {
    /// The peer sent a Delete.
    PeerDelete,
    /// A local command.
    LocalRequest,
    /// The lifetime ran out.
    Expired,
    /// Replaced by a rekeyed SA.
    Rekeyed,
    /// The peer sent INITIAL-CONTACT on a new ISAKMP SA (it rebooted).
    InitialContact,
    /// Dead Peer Detection got no answer.
    DpdTimeout,
    /// No traffic for the idle time (`set security-association idle-time`).
    Idle,
    /// XAUTH ended with STATUS=FAIL.
    XauthFailed,
    /// The Mode Config server could not configure the client (unknown group, pool exhausted,
    /// max-users).
    ModeConfigRefused,
}

/// Keys of both directions of one IPsec SA pair, moved out of the endpoint once; each half wipes
/// its keys when dropped. `inbound` is keyed with our SPI, `outbound` with the peer's.
#[derive(Debug)]
pub struct ChildKeys {
    /// For `esp::InboundSa`.
    pub inbound: EspKeys,
    /// For `esp::OutboundSa`.
    pub outbound: EspKeys,
}

/// A negotiated IPsec SA pair, ready for the ESP data path.
#[derive(Debug)]
pub struct Phase2Established {
    /// This pair.
    pub child: ChildId,
    /// The ISAKMP SA that negotiated it.
    pub ike_sa: IkeSaId,
    /// The peer.
    pub peer: PeerId,
    /// Keys of both directions.
    pub keys: ChildKeys,
    /// Proxy identities from our point of view.
    pub selectors: SelectorPair,
    /// Index of the crypto ACL line, when the SA belongs to a configured line.
    pub selector_index: Option<usize>,
    /// The transform set that was chosen.
    pub transform: TransformSet,
    /// Lifetime in seconds (minimum of both sides).
    pub lifetime_secs: u32,
    /// Lifetime in kilobytes (minimum of both sides);
    /// [`crate::policy::KILOBYTES_DISABLED`] when neither side has a volume lifetime.
    pub lifetime_kb: u64,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// ESP travels in UDP 4500 (NAT-T).
    pub udp_encap: bool,
    /// Where ESP goes (peer address and port as last authenticated).
    pub path: Path,
    /// The SA pair this one replaces (rekey), if any.
    pub replaces: Option<ChildId>,
}

/// The state of an ISAKMP SA, by its IOS name (`show crypto isakmp sa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum IsakmpState {
    /// MM1 sent or received, no proposal agreed yet.
    MmNoState,
    /// Proposal agreed (MM1/MM2 exchanged).
    MmSaSetup,
    /// Key exchange done (MM3/MM4), authentication (MM5/MM6) under way.
    MmKeyExch,
    /// Main Mode or Aggressive Mode complete: Quick Modes may run.
    QmIdle,
    /// Aggressive Mode: AM1 sent, nothing agreed yet (initiator).
    AgNoState,
    /// Aggressive Mode: AM2 sent with SA, KE, nonce, ID and HASH_R; waiting for HASH_I in AM3
    /// (responder).
    AgInitExch,
}

impl IsakmpState {
    /// The IOS name (`QM_IDLE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            IsakmpState::MmNoState => "MM_NO_STATE",
            IsakmpState::MmSaSetup => "MM_SA_SETUP",
            IsakmpState::MmKeyExch => "MM_KEY_EXCH",
            IsakmpState::QmIdle => "QM_IDLE",
            IsakmpState::AgNoState => "AG_NO_STATE",
            IsakmpState::AgInitExch => "AG_INIT_EXCH",
        }
    }
}

impl core::fmt::Display for IsakmpState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Something the caller should know; polled with [`crate::ike::Endpoint::poll_event`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// An ISAKMP SA changed state, appeared (`from` is `None`) or went away (`to` is `None`);
    /// announced once per call for whatever changed during it, after the call's other events.
    IsakmpStateChanged {
        /// The SA (its conn-id).
        sa: IkeSaId,
        /// Our role in its Main Mode.
        role: Role,
        /// Where the peer is.
        path: Path,
        /// The state announced before (`None`: new SA).
        from: Option<IsakmpState>,
        /// The state now (`None`: the SA is gone).
        to: Option<IsakmpState>,
        /// NAT traversal is in use on it.
        nat_t: bool,
    },
    /// Main Mode finished: the ISAKMP SA is in QM_IDLE.
    Phase1Established {
        /// The SA.
        sa: IkeSaId,
        /// The peer.
        peer: PeerId,
        /// Our role.
        role: Role,
        /// Current path (4500 after a NAT-T float).
        path: Path,
        /// NAT detection outcome.
        nat: NatStatus,
    },
    /// An ISAKMP SA is gone (its IPsec SAs stay, as IKEv1 wants).
    Phase1Deleted {
        /// The SA.
        sa: IkeSaId,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DeleteReason,
    },
    /// A Quick Mode finished; install the keys.
    Phase2Established(Box<Phase2Established>),
    /// An IPsec SA pair reached its soft lifetime; a rekey has been started when we own it.
    Phase2Expiring {
        /// The pair.
        child: ChildId,
    },
    /// An IPsec SA pair must be removed from the data path.
    Phase2Deleted {
        /// The pair.
        child: ChildId,
        /// Our (inbound) SPI.
        spi_in: u32,
        /// The peer's (outbound) SPI.
        spi_out: u32,
        /// Why.
        reason: DeleteReason,
    },
    /// A negotiation failed; `error` carries the evidence.
    NegotiationFailed {
        /// The peer, when known.
        peer: Option<PeerId>,
        /// The peer's address.
        remote: SocketAddr,
        /// 1 for Main Mode, 2 for Quick Mode.
        phase: u8,
        /// What went wrong, worded for a network engineer.
        error: Error,
    },
    /// The peer sent a notify (inside an authenticated Informational, or in cleartext before
    /// Phase 1 keys exist: then `authenticated` is false).
    NotifyReceived {
        /// The ISAKMP SA it came on, if any.
        sa: Option<IkeSaId>,
        /// The notify type.
        notify: NotifyType,
        /// Whether it arrived inside an authenticated exchange.
        authenticated: bool,
    },
    /// An authenticated packet arrived from a new peer address or port (NAT rebinding): send
    /// IKE and UDP-encapsulated ESP of this peer to `new` from now on.
    PathChanged {
        /// The ISAKMP SA.
        sa: IkeSaId,
        /// Where the peer was.
        old: Path,
        /// Where it is now.
        new: Path,
    },
    /// Dead Peer Detection declared the peer dead (the ISAKMP SA has been deleted too).
    PeerDead {
        /// The SA whose peer stopped answering.
        sa: IkeSaId,
        /// The peer.
        peer: PeerId,
    },
    /// A step of XAUTH on an established ISAKMP SA (IOS `debug crypto isakmp` prints them).
    Xauth {
        /// The ISAKMP SA.
        sa: IkeSaId,
        /// The peer (crypto map entry).
        peer: PeerId,
        /// What happened.
        step: XauthStep,
    },
    /// A step of Mode Config on an established ISAKMP SA.
    ModeConfig {
        /// The ISAKMP SA.
        sa: IkeSaId,
        /// The peer (crypto map entry).
        peer: PeerId,
        /// What happened.
        step: ModeConfigStep,
    },
}

/// One step of Mode Config (draft-dukes-ike-mode-cfg-02) on an established ISAKMP SA.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModeConfigStep {
    /// Server: the client's REQUEST answered with a REPLY (`respond`), or our SET pushed
    /// (`initiate`), for a client of `group`.
    Sent {
        /// The client's group.
        group: String,
        /// The address leased, if the group has a pool and the client asked for one.
        address: Option<std::net::Ipv4Addr>,
        /// REPLY (true) or SET (false).
        reply: bool,
        /// Attributes sent.
        attributes: usize,
    },
    /// Server: the client acknowledged our SET.
    Acknowledged,
    /// Server: the client's last ISAKMP SA went; its address is back in the pool.
    Released {
        /// The address.
        address: std::net::Ipv4Addr,
    },
    /// Client: our REQUEST sent.
    Requested,
    /// Client: the server's REPLY (or pushed SET, which we acknowledged) configured us.
    Configured(crate::policy::ClientSettings),
}

/// One step of an XAUTH exchange. User names appear; passwords never do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XauthStep {
    /// Server: REQUEST(TYPE, USER-NAME, USER-PASSWORD) sent; `attempt` counts from 1.
    RequestSent {
        /// Which prompt this is.
        attempt: u8,
    },
    /// Server: a REPLY for `user`; `accepted` tells whether the local user database took it.
    ReplyReceived {
        /// The user name sent.
        user: String,
        /// Name and password matched a `username` line.
        accepted: bool,
    },
    /// Server: SET(STATUS) sent.
    StatusSent {
        /// STATUS=OK (else FAIL).
        ok: bool,
    },
    /// Client: the server's REQUEST answered with our credentials.
    Replied,
    /// Client: the server asks for credentials and none are configured: answer with
    /// [`crate::ike::Endpoint::xauth_answer`] (IOS `crypto ipsec client ezvpn xauth`).
    CredentialsNeeded {
        /// The server's XAUTH_MESSAGE prompt, if it sent one.
        message: Option<String>,
    },
    /// XAUTH is over: the server got the ACK, or the client received and acknowledged the SET.
    Finished {
        /// The user name.
        user: String,
        /// STATUS=OK.
        ok: bool,
    },
}

/// One ISAKMP SA for `show crypto isakmp sa [detail]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsakmpSaInfo {
    /// conn-id.
    pub conn_id: u32,
    /// Responder address (IOS "dst").
    pub dst: std::net::IpAddr,
    /// Initiator address (IOS "src").
    pub src: std::net::IpAddr,
    /// The state; [`IsakmpState::name`] gives its IOS name (MM_NO_STATE, ..., QM_IDLE).
    pub state: IsakmpState,
    /// Our role.
    pub role: Role,
    /// The peer.
    pub peer: PeerId,
    /// Local path.
    pub path: Path,
    /// Encryption, once agreed (MM2).
    pub encryption: Option<IkeEncryption>,
    /// Hash, once agreed.
    pub hash: Option<IkeHash>,
    /// Authentication method, once agreed (always pre-share here).
    pub auth: Option<IkeAuth>,
    /// DH group, once agreed.
    pub group: Option<u16>,
    /// Seconds left, once established.
    pub remaining_secs: Option<u64>,
    /// Peer supports DPD (capability `D`).
    pub dpd: bool,
    /// NAT-T in use (capability `N`).
    pub nat_t: bool,
    /// XAUTH runs or ran on this SA (capability `X`).
    pub xauth: bool,
    /// The XAUTH user, once STATUS=OK was exchanged.
    pub xauth_user: Option<String>,
    /// The peer's Phase 1 identity when it is a name (ID_KEY_ID, ID_FQDN, ID_USER_FQDN), as
    /// `show crypto session detail` prints it.
    pub peer_identity: Option<String>,
    /// The Easy VPN group (Mode Config server), once the client was configured.
    pub client_group: Option<String>,
    /// The address leased to the client (Mode Config server).
    pub assigned_address: Option<std::net::Ipv4Addr>,
}

impl IsakmpSaInfo {
    /// IOS capability letters: `C` (IKE Configuration mode), `D` (peer does DPD), `N` (NAT-T
    /// in use), `X` (IKE Extended Authentication).
    pub fn capabilities(&self) -> String {
        let mut c = String::new();
        if self.client_group.is_some() {
            c.push('C');
        }
        if self.dpd {
            c.push('D');
        }
        if self.nat_t {
            c.push('N');
        }
        if self.xauth {
            c.push('X');
        }
        c
    }

    /// The row of `show crypto isakmp sa` ([`crate::ios::show::show_crypto_isakmp_sa`]); `None`
    /// for IPv6 SAs, which that table does not list.
    pub fn show_row(&self) -> Option<IsakmpSaRow> {
        let (std::net::IpAddr::V4(dst), std::net::IpAddr::V4(src)) = (self.dst, self.src) else {
            return None;
        };
        Some(IsakmpSaRow {
            dst,
            src,
            state: self.state.to_string(),
            conn_id: self.conn_id,
            slot: 0,
            status: "ACTIVE".to_string(),
        })
    }

    /// The entry of `show crypto isakmp sa detail`; `None` before the suite is agreed or for
    /// IPv6.
    pub fn show_detail(&self) -> Option<IsakmpSaDetail> {
        let (std::net::IpAddr::V4(local), std::net::IpAddr::V4(remote)) =
            (self.path.local.ip(), self.path.remote.ip())
        else {
            return None;
        };
        Some(IsakmpSaDetail {
            conn_id: self.conn_id,
            local,
            remote,
            ivrf: String::new(),
            status: "ACTIVE".to_string(),
            encryption: self.encryption?,
            hash: self.hash?,
            auth: self.auth?,
            group: self.group?,
            remaining_secs: self.remaining_secs.unwrap_or(0),
            capabilities: self.capabilities(),
            engine: format!("SW:{}", self.conn_id.saturating_sub(1000)),
        })
    }
}

/// One IPsec SA pair for `show crypto ipsec sa`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsecSaInfo {
    /// The pair.
    pub child: ChildId,
    /// The peer.
    pub peer: PeerId,
    /// Our SPI (inbound).
    pub spi_in: u32,
    /// The peer's SPI (outbound).
    pub spi_out: u32,
    /// Proxy identities.
    pub selectors: SelectorPair,
    /// Transform set.
    pub transform: TransformSet,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// UDP encapsulation.
    pub udp_encap: bool,
    /// Path to the peer (`current_peer X port P`).
    pub path: Path,
    /// Time left in seconds.
    pub remaining_secs: u64,
    /// Lifetime in kilobytes ([`crate::policy::KILOBYTES_DISABLED`]: none).
    pub lifetime_kb: u64,
    /// When it was established.
    pub established: Instant,
}

/// Counters of things the endpoint dropped or refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams that failed to parse (dropped).
    pub malformed: u64,
    /// Datagrams for unknown cookies that are not a new Main Mode.
    pub unknown_sa: u64,
    /// Retransmitted requests answered from the reply cache.
    pub duplicates: u64,
    /// Messages that parsed but were not acceptable in the current state.
    pub unexpected: u64,
    /// HASH payloads that failed verification.
    pub bad_hash: u64,
    /// Half-open responder SAs dropped because of the limit.
    pub half_open_dropped: u64,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// NAT keepalives seen (caller passed a 1-byte 0xFF datagram).
    pub keepalives_received: u64,
    /// Datagrams with our initiator cookie and a zero responder cookie that were not an exact
    /// retransmission of the MM1 we answered (a blind MM3 must not cost a Diffie-Hellman).
    pub zero_responder_cookie: u64,
    /// Quick Mode and Informational messages whose message ID was already used on their ISAKMP
    /// SA (replays), and encrypted Informationals with message ID 0.
    pub replayed_message_id: u64,
    /// SPIs named in a peer's Delete that belong to SAs the sending ISAKMP SA does not own.
    pub delete_not_owned: u64,
    /// Delete payloads naming more SPIs than one Delete may carry (ignored whole).
    pub delete_too_many_spis: u64,
    /// R-U-THERE / R-U-THERE-ACK notifies with a wrong SPI or data length, or (R-U-THERE) an
    /// old sequence number.
    pub bad_dpd: u64,
    /// Half-open responder SAs dropped because their source address had too many.
    pub half_open_per_source_dropped: u64,
    /// Quick Modes refused because the ISAKMP SA already had too many we answer in progress.
    pub quick_mode_flood_dropped: u64,
    /// Aggressive Mode first messages dropped unanswered because the Diffie-Hellman budget
    /// ([`crate::ike::EndpointConfig::aggressive_dh_per_sec`]) was spent.
    pub aggressive_dh_limited: u64,
    /// Aggressive Mode first messages dropped because Aggressive Mode is disabled.
    pub aggressive_disabled: u64,
    /// Aggressive Mode first messages whose identity has no key, answered with a decoy AM2.
    pub aggressive_unknown_identity: u64,
    /// Remote-access clients the Mode Config server refused (the event names the reason).
    pub mode_config_refused: u64,
    /// IKE fragments received (payload 132), accepted or not.
    pub fragments_received: u64,
    /// IKE fragments refused (each also counts as `malformed`; the drop names the reason).
    pub fragments_refused: u64,
    /// IKE fragments received again, unchanged (a retransmission).
    pub fragments_duplicate: u64,
    /// Messages reassembled from fragments.
    pub fragments_reassembled: u64,
    /// Incomplete messages dropped at the reassembly timeout.
    pub fragment_reassembly_timeouts: u64,
    /// IKE fragments sent (retransmissions included).
    pub fragments_sent: u64,
}
