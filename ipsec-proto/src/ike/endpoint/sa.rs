//! State of one ISAKMP SA (Main Mode, the Quick Modes running over it) and of one IPsec SA pair.

use super::*;

/// The endpoint's name for [`IsakmpState`].
pub(super) type P1State = IsakmpState;

#[derive(Debug, Clone, Copy)]
pub(super) struct PendingQm {
    pub(super) selector: usize,
    pub(super) replaces: Option<ChildId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QmState {
    /// Initiator: QM1 sent, waiting for QM2.
    Qm1Sent,
    /// Responder: QM2 sent, waiting for QM3.
    Qm2Sent,
    /// Finished (kept to answer retransmissions).
    Done,
}

pub(super) struct Qm {
    pub(super) mid: u32,
    pub(super) role: Role,
    pub(super) state: QmState,
    pub(super) ni: Vec<u8>,
    pub(super) nr: Vec<u8>,
    pub(super) my_spi: u32,
    pub(super) dh: Option<DhSecret>,
    pub(super) selectors: SelectorPair,
    pub(super) selector_index: Option<usize>,
    pub(super) replaces: Option<ChildId>,
    pub(super) flight: Flight,
    pub(super) done_at: Option<Instant>,
    /// Responder: the SA pair to announce once QM3 arrives.
    pub(super) pending: Option<Box<Phase2Established>>,
    /// Proposed lifetimes (initiator), for the minimum with the answer.
    pub(super) offer: Option<Phase2Offer>,
}

#[derive(Debug, Default)]
pub(super) struct Dpd {
    pub(super) seq: u32,
    /// Highest sequence number of the peer's R-U-THEREs we answered.
    pub(super) peer_seq: Option<u32>,
    pub(super) outstanding: Option<u32>,
    pub(super) retries: u32,
    pub(super) next_at: Option<Instant>,
}

/// The Main Mode exchange's own material: the initiator's SA payload body, our DH secret, both
/// public values and both nonces. Boxed apart and dropped at QM_IDLE, so an established ISAKMP
/// SA (what each of thousands of tunnels keeps) does not carry it.
#[derive(Default)]
pub(super) struct Handshake {
    pub(super) sai_b: Vec<u8>,
    pub(super) dh: Option<DhSecret>,
    pub(super) gxi: Vec<u8>,
    pub(super) gxr: Vec<u8>,
    pub(super) ni: Vec<u8>,
    pub(super) nr: Vec<u8>,
    /// Aggressive Mode: the initiator's ID payload body (HASH_I covers it; in Main Mode it
    /// arrives with HASH_I itself).
    pub(super) idii: Vec<u8>,
    /// Aggressive Mode responder: the path AM1 came on and AM2 left by, which the NAT-D
    /// payloads of AM3 describe even when AM3 itself comes on port 4500.
    pub(super) am_path: Option<Path>,
    /// Aggressive Mode responder: the initiator's identity had no key, and AM2 was a decoy
    /// under a key derived from our local secret (see `aggressive::decoy_key`).
    pub(super) unknown_id: Option<String>,
}

/// What [`IkeSa::hs`] reads when there is no handshake any more.
static NO_HANDSHAKE: Handshake = Handshake {
    sai_b: Vec::new(),
    dh: None,
    gxi: Vec::new(),
    gxr: Vec::new(),
    ni: Vec::new(),
    nr: Vec::new(),
    idii: Vec::new(),
    am_path: None,
    unknown_id: None,
};

pub(super) struct IkeSa {
    pub(super) id: IkeSaId,
    /// The peer this SA speaks for: the first ISAKMP SA of the chain of Phase 1 rekeys it belongs
    /// to. Its IPsec SAs carry the same value, and Informationals act only on SAs of their own
    /// lineage. Set for good when Main Mode completes ([`Endpoint::join_lineage`]).
    pub(super) lineage: IkeSaId,
    pub(super) peer: PeerId,
    pub(super) role: Role,
    pub(super) state: P1State,
    pub(super) ci: [u8; 8],
    pub(super) cr: [u8; 8],
    pub(super) path: Path,
    pub(super) created: Instant,
    pub(super) suite: Option<Phase1Suite>,
    /// What only Main Mode needs; dropped when it completes (see [`Handshake`]).
    pub(super) hs: Option<Box<Handshake>>,
    pub(super) keys: Option<Phase1Keys>,
    pub(super) crypt: Option<IsakmpCrypto>,
    pub(super) natt: NattKind,
    pub(super) nat: NatStatus,
    pub(super) peer_dpd: bool,
    /// The peer announced IKE fragmentation (its vendor ID): big messages go as fragments.
    pub(super) peer_fragmentation: bool,
    pub(super) flight: Flight,
    pub(super) established: Option<Instant>,
    pub(super) expires: Option<Instant>,
    pub(super) pending: Vec<PendingQm>,
    pub(super) qms: Vec<Qm>,
    /// Message IDs of Quick Modes and Informationals used on this SA (replay defence).
    pub(super) mids: MessageIds,
    pub(super) dpd: Dpd,
    pub(super) keepalive_at: Option<Instant>,
    pub(super) last_rx_at: Instant,
    /// A replacement Main Mode has been started.
    pub(super) rekeyed: bool,
    /// The state last announced in [`Event::IsakmpStateChanged`].
    pub(super) reported: Option<P1State>,
    /// What the SA table indexed it under (see `tables::SaTable`).
    pub(super) indexed: Option<super::tables::Keys>,
    /// XAUTH progress; Quick Mode waits for it.
    pub(super) xauth: super::transaction::Xauth,
    /// The Transaction exchange's own flight: our REQUEST/SET awaiting its answer (server), or
    /// our REPLY/ACK kept to answer a repeat (client). Separate from [`IkeSa::flight`], which
    /// still answers a repeated MM5/AM3 with MM6 or nothing.
    pub(super) xflight: super::retransmit::Flight,
    /// Mode Config progress (server).
    pub(super) modecfg: super::mode_config::ModeCfg,
    /// The peer's authenticated Phase 1 identity, kept past the handshake: an Easy VPN
    /// client's group is its ID_KEY_ID.
    pub(super) peer_identity: Option<crate::policy::Phase1Id>,
}

impl IkeSa {
    /// A new ISAKMP SA in its first state, its own lineage until Main Mode completes.
    pub(super) fn new(id: IkeSaId, peer: PeerId, role: Role, path: Path, now: Instant) -> Self {
        IkeSa {
            id,
            lineage: id,
            peer,
            role,
            state: P1State::MmNoState,
            ci: [0; 8],
            cr: [0; 8],
            path,
            created: now,
            suite: None,
            hs: None,
            keys: None,
            crypt: None,
            natt: NattKind::None,
            nat: NatStatus::default(),
            peer_dpd: false,
            peer_fragmentation: false,
            flight: Flight::default(),
            established: None,
            expires: None,
            pending: Vec::new(),
            qms: Vec::new(),
            mids: MessageIds::default(),
            dpd: Dpd::default(),
            keepalive_at: None,
            last_rx_at: now,
            rekeyed: false,
            reported: None,
            indexed: None,
            xauth: super::transaction::Xauth::NotRequired,
            xflight: super::retransmit::Flight::default(),
            modecfg: super::mode_config::ModeCfg::Idle,
            peer_identity: None,
        }
    }

    /// The Main Mode material (empty once Main Mode is over).
    pub(super) fn hs(&self) -> &Handshake {
        self.hs.as_deref().unwrap_or(&NO_HANDSHAKE)
    }

    /// The Main Mode material, created empty on first use.
    pub(super) fn hs_mut(&mut self) -> &mut Handshake {
        self.hs.get_or_insert_with(Box::default)
    }

    /// Quick Modes we answer that wait for their QM3.
    pub(super) fn responder_qms_open(&self) -> usize {
        self.qms
            .iter()
            .filter(|q| q.role == Role::Responder && q.state == QmState::Qm2Sent)
            .count()
    }
}

impl IkeSa {
    /// An ISAKMP header carrying this SA's cookies.
    pub(super) fn header(&self, exchange: ExchangeType, flags: Flags, mid: u32) -> Header {
        Header::new(Cookie(self.ci), Cookie(self.cr), exchange, flags, mid)
    }

    /// CKY-I | CKY-R: the SPI that names this SA in its notifies and its Delete.
    pub(super) fn isakmp_spi(&self) -> Vec<u8> {
        self.ci.iter().chain(self.cr.iter()).copied().collect()
    }
}

pub(super) struct Child {
    pub(super) ike_sa: IkeSaId,
    /// Lineage of the ISAKMP SA that negotiated it (see [`IkeSa::lineage`]).
    pub(super) lineage: IkeSaId,
    pub(super) peer: PeerId,
    pub(super) role: Role,
    pub(super) spi_in: u32,
    pub(super) spi_out: u32,
    pub(super) selectors: SelectorPair,
    pub(super) selector_index: Option<usize>,
    pub(super) transform: TransformSet,
    pub(super) mode: crate::policy::ipsec::EspMode,
    pub(super) udp_encap: bool,
    pub(super) path: Path,
    pub(super) lifetime_secs: u32,
    pub(super) lifetime_kb: u64,
    pub(super) established: Instant,
    pub(super) rekey_started: bool,
    pub(super) replaced: bool,
    pub(super) bytes: u64,
    pub(super) last_in: Option<Instant>,
    pub(super) last_out: Option<Instant>,
}

impl Child {
    pub(super) fn hard_expiry(&self) -> Instant {
        self.established + Duration::from_secs(u64::from(self.lifetime_secs))
    }
}
