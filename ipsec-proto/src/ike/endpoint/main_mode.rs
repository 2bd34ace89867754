//! Main Mode with pre-shared keys, both roles (RFC 2409 section 5).

use super::*;

/// What a peer's Phase 1 vendor IDs announce.
pub(super) struct PeerVids {
    /// NAT traversal flavour it supports.
    pub(super) natt: NattKind,
    /// Dead peer detection (RFC 3706).
    pub(super) dpd: bool,
    /// IKE fragmentation (payload 132).
    pub(super) fragmentation: bool,
}

impl Endpoint {
    pub(super) fn start_main_mode(
        &mut self,
        now: Instant,
        peer: PeerId,
        path: Path,
        pending: Vec<PendingQm>,
    ) -> Result<IkeSaId, Error> {
        let cfg = self.peer(peer).ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        let policies = cfg.sorted_policies();
        let sai_b = proposal::phase1_sa_body(&policies, cfg.offers_xauth(), cfg.rsa_sig.is_some())?;
        let ci = self.cookie();
        let id = self.alloc_sa_id();
        let header = Header::new(
            Cookie(ci),
            Cookie::ZERO,
            ExchangeType::MAIN_MODE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, header)?;
        b.add_raw(PayloadType::SA, &sai_b)?;
        for v in self.our_vids(true) {
            b.add_vendor_id(v)?;
        }
        let msg = b.finish()?.to_vec();
        let delay = self.retransmit_delay(0);
        let mut sa = IkeSa::new(id, peer, Role::Initiator, path, now);
        sa.ci = ci;
        sa.hs_mut().sai_b = sai_b;
        sa.flight = Flight::awaiting_answer(msg.clone(), now + delay, None);
        sa.pending = pending;
        self.sas.insert(Box::new(sa));
        self.send(path, msg);
        Ok(id)
    }

    pub(super) fn our_vids(&self, nat_t_set: bool) -> Vec<&'static [u8]> {
        let mut v: Vec<&'static [u8]> = Vec::new();
        if self.config.nat_traversal && nat_t_set {
            if !self.config.nat_t_drafts_only {
                v.push(&vendor::NAT_T_RFC3947);
            }
            v.push(&vendor::NAT_T_DRAFT_07);
            v.push(&vendor::NAT_T_DRAFT_03);
            v.push(&vendor::NAT_T_DRAFT_02_N);
        }
        v.push(&vendor::DPD);
        if self.config.send_unity_vid {
            // Easy VPN peers announce both: Unity clients ask for the Unity attributes only
            // of a peer that sent its vendor ID.
            v.push(&vendor::CISCO_UNITY);
            v.push(&vendor::XAUTH);
        }
        if self.config.fragmentation.is_some() {
            v.push(&vendor::FRAGMENTATION_CISCO);
        }
        v
    }

    pub(super) fn parse_vids(list: &PayloadList<'_>, rfc_allowed: bool) -> PeerVids {
        let mut v = PeerVids {
            natt: NattKind::None,
            dpd: false,
            fragmentation: false,
        };
        for p in list.find_all(PayloadType::VENDOR_ID) {
            match vendor::recognize(p.body) {
                Some(KnownVendor::NatTRfc3947) if rfc_allowed => v.natt = NattKind::Rfc,
                Some(KnownVendor::NatTDraft(2 | 3)) | Some(KnownVendor::NatTDraft02N)
                    if v.natt == NattKind::None =>
                {
                    v.natt = NattKind::Draft
                }
                Some(KnownVendor::Dpd { .. }) => v.dpd = true,
                Some(KnownVendor::Fragmentation) => v.fragmentation = true,
                _ => {}
            }
        }
        v
    }

    /// Responder, first message of Main or Aggressive Mode: the peer configured for the
    /// datagram's source and the Phase 1 transform chosen from its SA payload. No peer, or no
    /// acceptable transform (answered with a cleartext NO-PROPOSAL-CHOSEN, as IOS answers an
    /// unacceptable MM1 or AM1), fails the exchange.
    pub(super) fn responder_phase1_choice(
        &mut self,
        path: Path,
        header: &Header,
        sa_body: &[u8],
    ) -> Res<(PeerId, proposal::Phase1Choice)> {
        // Signatures are implemented for Main Mode only: Aggressive Mode stays pre-shared.
        let Some(peer) = self.find_peer_by_addr(path.remote.ip()) else {
            let e = Error::PeerIncompatible(PeerIncompatible::NoKey(path.remote.ip()));
            self.fail(None, path.remote, 1, e);
            return Err(Failure::Fatal);
        };
        let Some(cfg) = self.peer(peer) else {
            return Err(Failure::Drop(ApiMisuse::NoSuchPeer(peer.0).into()));
        };
        let policies = cfg.sorted_policies();
        let xauth = xauth_applies(cfg, path.remote.ip());
        let rsa = cfg.rsa_sig.is_some();
        match proposal::choose_phase1(sa_body, &policies, xauth, rsa)? {
            Ok(x) => Ok((peer, x)),
            Err(e) => {
                let e = Error::PeerIncompatible(e);
                if let Some(n) = e.notify_to_send() {
                    let mut cr = [0u8; 8];
                    self.rng.fill(&mut cr);
                    if let Ok(m) = cleartext_notify(header.initiator_cookie.0, cr, n) {
                        self.send(path, m);
                    }
                }
                self.fail(Some(peer), path.remote, 1, e);
                Err(Failure::Fatal)
            }
        }
    }

    /// Whether the Phase 1 exchange `id` should carry INITIAL-CONTACT: we hold no other
    /// established SA with its peer at its address (for a wildcard entry, other peers' SAs say
    /// nothing about this one). `None` when the SA is gone.
    pub(super) fn needs_initial_contact(&mut self, id: IkeSaId) -> Option<bool> {
        let (peer, remote) = self.sas.get(&id).map(|s| (s.peer, s.path.remote.ip()))?;
        self.sas.refresh();
        Some(
            !self
                .sas
                .with_remote(remote)
                .any(|s| s.id != id && s.peer == peer && s.state == P1State::QmIdle),
        )
    }

    pub(super) fn mm_responder_start(
        &mut self,
        now: Instant,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() || header.message_id != 0 {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM1").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let (peer, (suite, pnum, tbody)) = self.responder_phase1_choice(path, header, sa_p.body)?;
        let vids = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let natt = if self.config.nat_traversal {
            vids.natt
        } else {
            NattKind::None
        };
        let cr = self.cookie();
        let sa_answer = proposal::echo_sa_body(pnum, ProtocolId::ISAKMP.0, &[], &tbody)?;
        let h = Header::new(
            header.initiator_cookie,
            Cookie(cr),
            ExchangeType::MAIN_MODE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::SA, &sa_answer)?;
        match natt {
            NattKind::Rfc => {
                b.add_vendor_id(&vendor::NAT_T_RFC3947)?;
            }
            NattKind::Draft => {
                b.add_vendor_id(&vendor::NAT_T_DRAFT_02_N)?;
            }
            NattKind::None => {}
        }
        b.add_vendor_id(&vendor::DPD)?;
        if self.config.send_unity_vid {
            b.add_vendor_id(&vendor::CISCO_UNITY)?;
        }
        if self.config.fragmentation.is_some() {
            b.add_vendor_id(&vendor::FRAGMENTATION_CISCO)?;
        }
        let reply = b.finish()?.to_vec();
        self.make_room_for_half_open(path.remote.ip());
        let id = self.alloc_sa_id();
        let mut sa = IkeSa::new(id, peer, Role::Responder, path, now);
        sa.state = P1State::MmSaSetup;
        sa.ci = header.initiator_cookie.0;
        sa.cr = cr;
        sa.hs_mut().sai_b = sa_p.body.to_vec();
        sa.suite = Some(suite);
        sa.natt = natt;
        sa.nat.peer_supports = natt != NattKind::None;
        sa.peer_dpd = vids.dpd;
        sa.flight = Flight::answered(Some(reply.clone()), hash);
        self.sas.insert(Box::new(sa));
        self.send(path, reply);
        // Only after MM2 has gone whole: its repeats and later messages may be fragments.
        self.note_peer_fragmentation(id, vids.fragmentation);
        Ok(())
    }

    /// Half-open limits, checked before a new responder SA is made: first per source address
    /// (a flood from one address, spoofed or not, only pushes out that address's own
    /// negotiations), then in total (the source holding the most goes first). MM3 carries no
    /// proof of anything, so SAs waiting for MM5 count as well, or a flood of MM1+MM3 pairs
    /// would hold unbounded state (and cost a DH exponentiation each).
    pub(super) fn make_room_for_half_open(&mut self, source: IpAddr) {
        let half_open = |s: &IkeSa| s.role == Role::Responder && s.state != P1State::QmIdle;
        // Indexed by address: the cost does not grow with the tunnels of other peers.
        self.sas.refresh();
        let mut from_source = self.sas.with_remote(source).filter(|s| half_open(s));
        // Ids grow with time (until they wrap), so the first is the oldest.
        let oldest = from_source.next().map(|s| s.id);
        let count = oldest.map_or(0, |_| 1 + from_source.count());
        if count >= self.config.half_open_per_source_limit.max(1) {
            if let Some(oldest) = oldest {
                self.sas.remove(&oldest);
                self.counters.half_open_per_source_dropped += 1;
            }
            return;
        }
        if self.sas.half_open_count() < self.config.half_open_limit.max(1) {
            return;
        }
        // Over the total limit (a flood): this walk is over the half-open SAs only, which the
        // limit bounds.
        let mut per_source: BTreeMap<IpAddr, (usize, IkeSaId)> = BTreeMap::new();
        for s in self.sas.half_open() {
            let e = per_source.entry(s.path.remote.ip()).or_insert((0, s.id));
            e.0 += 1;
        }
        // The busiest source loses its oldest; ties go to the source whose oldest is oldest.
        let victim = per_source
            .values()
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, id)| *id);
        if let Some(v) = victim {
            self.sas.remove(&v);
            self.counters.half_open_dropped += 1;
        }
    }

    pub(super) fn handle_mm(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        if sa.flight.last_rx == Some(hash) {
            // A retransmission of the message we already processed.
            self.counters.duplicates += 1;
            if sa.role == Role::Responder {
                if let Some(m) = sa.flight.msg.clone() {
                    let p = sa.path;
                    self.send(p, m);
                }
            }
            return Ok(());
        }
        match (sa.role, sa.state) {
            (Role::Initiator, P1State::MmNoState) => {
                self.mm_i_recv2(now, id, path, header, msg, hash)
            }
            (Role::Initiator, P1State::MmSaSetup) => self.mm_i_recv4(now, id, header, msg, hash),
            (Role::Initiator, P1State::MmKeyExch) => {
                self.mm_i_recv6(now, id, path, header, msg, hash)
            }
            (Role::Responder, P1State::MmSaSetup) => self.mm_r_recv3(now, id, header, msg, hash),
            (Role::Responder, P1State::MmKeyExch) => {
                self.mm_r_recv5(now, id, path, header, msg, hash)
            }
            _ => {
                self.drop_datagram(DatagramDrop::Unexpected);
                Ok(())
            }
        }
    }

    pub(super) fn mm_i_recv2(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM2").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(cfg) = self.peer(sa.peer) else {
            return Ok(());
        };
        let policies = cfg.sorted_policies();
        let suite = match proposal::accept_phase1_answer(
            sa_p.body,
            &policies,
            cfg.offers_xauth(),
            cfg.rsa_sig.is_some(),
        )? {
            Ok(s) => s,
            Err(what) => {
                let e = Error::PeerMisbehaved(PeerMisbehaved::ChoseUnoffered(what));
                let remote = sa.path.remote;
                return Err(self.abandon_phase1(id, remote, e));
            }
        };
        let vids = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let natt = if self.config.nat_traversal {
            vids.natt
        } else {
            NattKind::None
        };
        // Before MM3 is built, so MM3 may already go as fragments.
        self.note_peer_fragmentation(id, vids.fragmentation);
        let dh = DhSecret::generate(suite.group, &mut self.rng);
        let ni = self.nonce();
        let cr = header.responder_cookie.0;
        // MM1 may have left from an unspecified local address; the answer tells us ours.
        if let Some(sa) = self.sas.get_mut(&id) {
            adopt_path(sa, path);
            sa.last_rx_at = now;
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let ci = sa.ci;
        let mut buf = vec![0u8; MAX_MSG];
        let h = Header::new(Cookie(ci), Cookie(cr), ExchangeType::MAIN_MODE, Flags(0), 0);
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_ke(dh.public_value())?;
        b.add_nonce(&ni)?;
        if suite.rsa_sig {
            if let Some(rsa) = self.peer(sa.peer).and_then(|c| c.rsa_sig.as_ref()) {
                rsa_sig::add_cert_requests(&mut b, rsa)?;
            }
        }
        if natt != NattKind::None {
            add_nat_d_pair(
                &mut b,
                natt,
                suite.hash,
                (&ci, &cr),
                path,
                self.config.force_udp_encaps,
            )?;
        }
        let m3 = b.finish()?.to_vec();
        let delay = self.retransmit_delay(0);
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.cr = cr;
            sa.suite = Some(suite);
            sa.natt = natt;
            sa.nat.peer_supports = natt != NattKind::None;
            sa.peer_dpd = vids.dpd;
            sa.hs_mut().gxi = dh.public_value().to_vec();
            sa.hs_mut().dh = Some(dh);
            sa.hs_mut().ni = ni;
            sa.state = P1State::MmSaSetup;
            sa.flight = Flight::awaiting_answer(m3.clone(), now + delay, Some(hash));
            sa.last_rx_at = now;
        }
        self.send(path, m3);
        Ok(())
    }

    /// Reads KE, nonce and NAT-D of MM3/MM4 and derives the keys.
    pub(super) fn mm_key_material(&mut self, id: IkeSaId, list: &PayloadList<'_>) -> Res<()> {
        let ke = list.find(PayloadType::KE).ok_or_else(|| missing("KE"))?;
        let nonce = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        if nonce.body.len() < 8 || nonce.body.len() > 256 {
            return Err(InvalidMessage::BadPayload("NONCE (length must be 8..256)").into());
        }
        let rsa = self
            .sas
            .get(&id)
            .and_then(|s| s.suite)
            .is_some_and(|s| s.rsa_sig);
        let psk = if rsa {
            None
        } else {
            let Some(sa) = self.sas.get(&id) else {
                return Ok(());
            };
            let Some(cfg) = self.peer(sa.peer) else {
                return Ok(());
            };
            Some(if cfg.keys.is_empty() {
                cfg.psk.clone()
            } else {
                let addr = match sa.path.remote.ip() {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                };
                match crate::policy::isakmp::lookup_key(&cfg.keys, addr) {
                    Some(k) => k.key.clone(),
                    None => {
                        return Err(Failure::Drop(
                            PeerIncompatible::NoKey(sa.path.remote.ip()).into(),
                        ))
                    }
                }
            })
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        let Some(suite) = sa.suite else { return Ok(()) };
        let role = sa.role;
        let hs = sa.hs_mut();
        if hs.dh.is_none() {
            hs.dh = Some(DhSecret::generate(suite.group, &mut self.rng));
        }
        let Some(dh) = hs.dh.as_ref() else {
            return Ok(());
        };
        let gxy = dh
            .compute_shared(ke.body)
            .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?;
        match role {
            Role::Initiator => {
                hs.gxr = ke.body.to_vec();
                hs.nr = nonce.body.to_vec();
            }
            Role::Responder => {
                hs.gxi = ke.body.to_vec();
                hs.gxr = dh.public_value().to_vec();
                hs.ni = nonce.body.to_vec();
            }
        }
        let keys = Phase1Keys::derive(
            suite.hash,
            suite.cipher,
            psk.as_ref().map(|k| k.expose()),
            &sa.hs().ni,
            &sa.hs().nr,
            gxy.expose_secret(),
            &sa.ci,
            &sa.cr,
        );
        let crypt = IsakmpCrypto::new(&keys, &sa.hs().gxi, &sa.hs().gxr)
            .map_err(|_| Failure::Drop(InvalidMessage::BadPayload("KE").into()))?;
        sa.keys = Some(keys);
        sa.crypt = Some(crypt);
        self.log_ikev1_table();
        Ok(())
    }

    pub(super) fn mm_i_recv4(
        &mut self,
        now: Instant,
        id: IkeSaId,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM4").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        self.mm_key_material(id, &list)?;
        let vids = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        self.note_peer_fragmentation(id, vids.fragmentation);
        let Some(path) = self.sas.get(&id).map(|s| s.path) else {
            return Ok(());
        };
        self.nat_detect(id, &list, path);
        // Float to 4500 when a NAT is in the way.
        // INITIAL-CONTACT says we hold nothing with this peer: no other established SA with its
        // address (for a wildcard entry, other peers' SAs say nothing about this one).
        let Some(initial_contact) = self.needs_initial_contact(id) else {
            return Ok(());
        };
        let nat_keepalive = self.config.nat_keepalive;
        let own_id = self.own_identity(id);
        let own_dn = self.own_dn(id);
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        sa.peer_dpd |= vids.dpd;
        if sa.nat.nat_detected() {
            sa.path.local.set_port(4500);
            sa.path.remote.set_port(4500);
            if sa.nat.local_behind_nat {
                sa.keepalive_at = nat_keepalive.map(|k| now + k);
            }
        }
        let local_ip = v4(sa.path.local).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let idii = proposal::phase1_own_id_body(&own_id, local_ip, own_dn.as_deref())?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let hash_i = keys.hash_i(&sa.hs().gxi, &sa.hs().gxr, &sa.hs().sai_b, &idii);
        let h = sa.header(ExchangeType::MAIN_MODE, Flags::ENCRYPTION, 0);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::ID, &idii)?;
        let rsa = sa
            .suite
            .filter(|s| s.rsa_sig)
            .and_then(|_| self.config.peers.get(sa.peer.0))
            .and_then(|c| c.rsa_sig.as_ref());
        match rsa {
            Some(rsa) => {
                if let Err(e) = rsa_sig::add_cert_and_sig(&mut b, rsa, &mut self.rng, &hash_i) {
                    let remote = sa.path.remote;
                    return Err(self.abandon_phase1(id, remote, e));
                }
            }
            None => {
                b.add_hash(&hash_i)?;
            }
        }
        if initial_contact {
            let spi = sa.isakmp_spi();
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol: ProtocolId::ISAKMP,
                notify_type: NotifyType::INITIAL_CONTACT,
                spi: &spi,
                data: &[],
            })?;
        }
        let m5 = encrypt_message(sa, b.finish()?, 0)?;
        let path = sa.path;
        sa.state = P1State::MmKeyExch;
        sa.flight = Flight::answered(Some(m5.clone()), hash);
        sa.last_rx_at = now;
        let delay = self.retransmit_delay(0);
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.flight.retransmit_at = Some(now + delay);
        }
        self.send(path, m5);
        Ok(())
    }

    pub(super) fn mm_r_recv3(
        &mut self,
        now: Instant,
        id: IkeSaId,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("MM3").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let nr = self.nonce();
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.hs_mut().nr = nr;
        }
        if let Err(e) = self.mm_key_material(id, &list) {
            if let Some(sa) = self.sas.get_mut(&id) {
                let hs = sa.hs_mut();
                hs.nr.clear();
                hs.dh = None;
            }
            return Err(e);
        }
        let Some(path) = self.sas.get(&id).map(|s| s.path) else {
            return Ok(());
        };
        self.nat_detect(id, &list, path);
        let unity = self.config.send_unity_vid;
        let nat_keepalive = self.config.nat_keepalive;
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        let Some(suite) = sa.suite else { return Ok(()) };
        let h = sa.header(ExchangeType::MAIN_MODE, Flags(0), 0);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_ke(&sa.hs().gxr)?;
        b.add_nonce(&sa.hs().nr)?;
        if suite.rsa_sig {
            if let Some(rsa) = self
                .config
                .peers
                .get(sa.peer.0)
                .and_then(|c| c.rsa_sig.as_ref())
            {
                rsa_sig::add_cert_requests(&mut b, rsa)?;
            }
        }
        if unity {
            b.add_vendor_id(&vendor::CISCO_UNITY)?;
        }
        b.add_vendor_id(&vendor::DPD)?;
        if sa.natt != NattKind::None {
            add_nat_d_pair(
                &mut b,
                sa.natt,
                suite.hash,
                (&sa.ci, &sa.cr),
                path,
                self.config.force_udp_encaps,
            )?;
        }
        let m4 = b.finish()?.to_vec();
        sa.state = P1State::MmKeyExch;
        sa.flight = Flight::answered(Some(m4.clone()), hash);
        sa.last_rx_at = now;
        if sa.nat.local_behind_nat {
            sa.keepalive_at = nat_keepalive.map(|k| now + k);
        }
        self.send(path, m4);
        Ok(())
    }

    pub(super) fn mm_r_recv5(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let Some((plain, pending)) = self.mm_authenticate(now, id, path.remote, header, msg, 5)?
        else {
            return Ok(());
        };
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let initial_contact = list.find_all(PayloadType::NOTIFY).any(|n| {
            Notify::parse(n.body).is_ok_and(|n| n.notify_type() == NotifyType::INITIAL_CONTACT)
        });
        // The profile (hence the entry) was chosen by identity in `mm_authenticate`.
        let own_id = self.own_identity(id);
        let own_dn = self.own_dn(id);
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        // The latest authenticated packet says where the peer is (NAT-T float, NAT rebinding).
        adopt_path(sa, path);
        sa.last_rx_at = now;
        let local_ip = v4(path.local).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let idir = proposal::phase1_own_id_body(&own_id, local_ip, own_dn.as_deref())?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let hash_r = keys.hash_r(&sa.hs().gxi, &sa.hs().gxr, &sa.hs().sai_b, &idir);
        let h = sa.header(ExchangeType::MAIN_MODE, Flags::ENCRYPTION, 0);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::ID, &idir)?;
        let rsa = sa
            .suite
            .filter(|s| s.rsa_sig)
            .and_then(|_| self.config.peers.get(sa.peer.0))
            .and_then(|c| c.rsa_sig.as_ref());
        match rsa {
            Some(rsa) => {
                if let Err(e) = rsa_sig::add_cert_and_sig(&mut b, rsa, &mut self.rng, &hash_r) {
                    let remote = sa.path.remote;
                    return Err(self.abandon_phase1(id, remote, e));
                }
            }
            None => {
                b.add_hash(&hash_r)?;
            }
        }
        let m6 = encrypt_message(sa, b.finish()?, 0)?;
        sa.flight = Flight::answered(Some(m6.clone()), hash);
        sa.last_rx_at = now;
        self.send(path, m6);
        self.join_lineage(id);
        if initial_contact {
            self.initial_contact(id);
        }
        self.established(now, id);
        Ok(())
    }

    /// Decrypts MM5 or MM6 (`message`) and checks the peer's HASH_I / HASH_R over its ID.
    /// Anything but ID and HASH after decryption means the two sides derived different keys (a
    /// pre-shared key mismatch); that and a wrong hash end the negotiation. Gives the plaintext
    /// and the IV to commit, or `None` when the SA is gone.
    fn mm_authenticate(
        &mut self,
        now: Instant,
        id: IkeSaId,
        remote: SocketAddr,
        header: &Header,
        msg: &[u8],
        message: u8,
    ) -> Res<Option<(Vec<u8>, crate::crypto::iv::PendingIv)>> {
        let (name, hash_name) = match message {
            5 => ("MM5", "HASH_I"),
            _ => ("MM6", "HASH_R"),
        };
        if !header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption(name).into()));
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(None);
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain).ok();
        let rsa = sa.suite.is_some_and(|s| s.rsa_sig);
        let proof = if rsa {
            PayloadType::SIG
        } else {
            PayloadType::HASH
        };
        let (Some(idp), Some(hp)) = (
            list.as_ref().and_then(|l| l.find(PayloadType::ID)),
            list.as_ref().and_then(|l| l.find(proof)),
        ) else {
            let e = Error::AuthenticationFailed(AuthFailure::PskMismatch {
                message,
                peer: remote.ip(),
            });
            return Err(self.abandon_phase1(id, remote, e));
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(None);
        };
        let expect = match message {
            5 => keys.hash_i(&sa.hs().gxi, &sa.hs().gxr, &sa.hs().sai_b, idp.body),
            _ => keys.hash_r(&sa.hs().gxi, &sa.hs().gxr, &sa.hs().sai_b, idp.body),
        };
        if rsa {
            let checked = match (
                list.as_ref(),
                self.peer(sa.peer).and_then(|c| c.rsa_sig.as_ref()),
            ) {
                (Some(list), Some(cfg)) => rsa_sig::verify_peer(
                    cfg,
                    list,
                    idp.body,
                    &expect,
                    self.unix_time(now),
                    message,
                    remote.ip(),
                ),
                // An rsa-sig suite is only chosen for an entry with a certificate.
                _ => Err(Error::AuthenticationFailed(AuthFailure::HashMismatch(
                    hash_name,
                ))),
            };
            if let Err(e) = checked {
                return Err(self.abandon_phase1(id, remote, e));
            }
        } else if !expect.ct_eq(hp.body) {
            let e = Error::AuthenticationFailed(AuthFailure::HashMismatch(hash_name));
            return Err(self.abandon_phase1(id, remote, e));
        }
        // An ISAKMP profile's `match identity address|host` (checked once the identity is
        // authenticated, as IOS selects the profile at MM5). As responder, another entry for
        // the same peer address whose profile takes the identity and that gives the same key
        // (the one that just verified) takes the SA over; as initiator the entry is ours.
        let current = sa.peer;
        let identity = crate::policy::Phase1Id::from_body(idp.body);
        if let Some(sa) = self.sas.get_mut(&id) {
            sa.peer_identity = identity;
        }
        let takes = self
            .peer(current)
            .is_some_and(|c| c.takes_identity(idp.body));
        if !takes {
            let other = match message {
                5 => self.peer_by_identity(current, remote, idp.body),
                _ => None,
            };
            match other {
                Some(p) => {
                    if let Some(sa) = self.sas.get_mut(&id) {
                        sa.peer = p;
                    }
                }
                None => {
                    let e = Error::PeerIncompatible(match idp.body {
                        [1, _, _, _, a, b, c, d] => PeerIncompatible::IdentityNotMatched(Some(
                            Ipv4Addr::new(*a, *b, *c, *d),
                        )),
                        [t, _, _, _, data @ ..] => PeerIncompatible::HostIdentityNotMatched(
                            match crate::wire::IdValue::decode(crate::wire::IdType(*t), data) {
                                Ok(crate::wire::IdValue::Fqdn(n)) => {
                                    format!("{} (ID_FQDN)", String::from_utf8_lossy(n))
                                }
                                Ok(crate::wire::IdValue::UserFqdn(n)) => {
                                    format!("{} (ID_USER_FQDN)", String::from_utf8_lossy(n))
                                }
                                _ => format!("of type {}", crate::wire::IdType(*t)),
                            },
                        ),
                        _ => PeerIncompatible::IdentityNotMatched(None),
                    });
                    return Err(self.abandon_phase1(id, remote, e));
                }
            }
        }
        Ok(Some((plain, pending)))
    }

    /// What we identify with to the entry of ISAKMP SA `id`.
    fn own_identity(&self, id: IkeSaId) -> crate::policy::LocalIdentity {
        self.sas
            .get(&id)
            .and_then(|sa| self.peer(sa.peer))
            .map(|c| c.local_identity.clone())
            .unwrap_or_default()
    }

    /// The key a peer configuration gives the peer at `addr`.
    fn key_of(cfg: &crate::ike::PeerConfig, addr: Ipv4Addr) -> Option<&crate::policy::PskSecret> {
        if cfg.keys.is_empty() {
            Some(&cfg.psk)
        } else {
            crate::policy::isakmp::lookup_key(&cfg.keys, addr).map(|k| &k.key)
        }
    }

    /// Another entry than `current` for the same peer address (the same `set peer`, or both
    /// wildcards) whose ISAKMP profile takes the identity `id_body`, and whose key for the
    /// peer is the one Main Mode used (else IOS refuses: the profile's keyring must have
    /// supplied the key).
    fn peer_by_identity(
        &self,
        current: crate::ike::PeerId,
        remote: std::net::SocketAddr,
        id_body: &[u8],
    ) -> Option<crate::ike::PeerId> {
        let cur = self.peer(current)?;
        let addr = match remote.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => return None,
        };
        let used = Self::key_of(cur, addr)?;
        self.config
            .peers
            .iter()
            .enumerate()
            .filter(|(i, p)| *i != current.0 && p.address == cur.address)
            .find(|(_, p)| p.takes_identity(id_body) && Self::key_of(p, addr) == Some(used))
            .map(|(i, _)| crate::ike::PeerId(i))
    }

    pub(super) fn mm_i_recv6(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let Some((_, pending)) = self.mm_authenticate(now, id, path.remote, header, msg, 6)? else {
            return Ok(());
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        adopt_path(sa, path);
        sa.last_rx_at = now;
        sa.flight = Flight::answered(None, hash);
        sa.last_rx_at = now;
        self.established(now, id);
        Ok(())
    }

    pub(super) fn established(&mut self, now: Instant, id: IkeSaId) {
        self.join_lineage(id);
        let dpd_cfg = self.dpd_of(id);
        let dpd_seq = self.rng.nonzero_u32() >> 1;
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        sa.state = P1State::QmIdle;
        sa.established = Some(now);
        // An Aggressive Mode responder read the initiator's identity from AM1 (HASH_I, now
        // verified, covers it); Main Mode set it when MM5/MM6 was authenticated.
        if sa.role == Role::Responder && sa.peer_identity.is_none() {
            sa.peer_identity = crate::policy::Phase1Id::from_body(&sa.hs().idii);
        }
        // Only Main Mode needs these (HASH_I/HASH_R, key derivation); MM6 or our MM5 is cached
        // in the flight for retransmissions. Thousands of tunnels each keep only keys and state.
        sa.hs = None;
        let life = sa.suite.map_or(86_400, |s| s.lifetime_secs);
        sa.expires = Some(now + Duration::from_secs(u64::from(life)));
        sa.dpd.seq = dpd_seq;
        if let Some(d) = dpd_cfg {
            if sa.peer_dpd {
                sa.dpd.next_at = Some(now + Duration::from_secs(u64::from(d.interval_secs.max(1))));
            }
        }
        let ev = Event::Phase1Established {
            sa: id,
            peer: sa.peer,
            role: sa.role,
            path: sa.path,
            nat: sa.nat,
        };
        self.events.push_back(ev);
        // QM_IDLE leaves the half-open set and may join a lineage: index it before the Quick
        // Modes that waited for it look for it.
        self.sas.refresh();
        self.xauth_after_phase1(now, id);
        self.drain_pending(now, id);
    }
}
