//! Quick Mode, both roles (RFC 2409 section 5.5): proxy identities, PFS, RESPONDER-LIFETIME.

use super::*;

/// Quick Modes in flight per ISAKMP SA; more wait in a queue. Kept below the number of
/// per-message-ID IV chains the ISAKMP crypto remembers, leaving room for the peer's.
pub(super) const MAX_ACTIVE_QM: usize = 8;

/// Quick Modes of the peer's that we answer and that wait for QM3, per ISAKMP SA; more are
/// dropped. With [`MAX_ACTIVE_QM`] of ours this stays within the IV chains the ISAKMP crypto
/// keeps, so a peer flooding QM1s cannot push out the chains of our own Quick Modes.
pub(super) const MAX_RESPONDER_QM: usize = 8;

/// Quick Mode records one ISAKMP SA keeps (in flight, and finished ones kept to answer a
/// repeated last message); beyond it the oldest finished record goes early. A peer that rekeys
/// back to back would otherwise pile up records for the whole linger time.
const MAX_QM_RECORDS: usize = 24;

/// Superseded pairs kept per peer and proxy identities (they receive what was in flight
/// before the rekey); a peer that rekeys faster than they expire has the oldest deleted.
const MAX_SUPERSEDED: usize = 2;

impl Endpoint {
    /// Starts queued Quick Modes while there is room.
    pub(super) fn drain_pending(&mut self, now: Instant, id: IkeSaId) {
        loop {
            let Some(sa) = self.sas.get_mut(&id) else {
                return;
            };
            // An XAUTH client starts no Quick Mode before the server's STATUS=OK.
            if sa.state != P1State::QmIdle
                || sa.pending.is_empty()
                || !sa.xauth.allows_quick_mode()
                || sa.modecfg.holds_quick_mode()
            {
                return;
            }
            let active = sa.qms.iter().filter(|q| q.state != QmState::Done).count();
            if active >= MAX_ACTIVE_QM {
                return;
            }
            let p = sa.pending.remove(0);
            if sa.pending.is_empty() {
                sa.pending = Vec::new();
            }
            self.start_qm(now, id, p.selector, p.replaces);
        }
    }

    pub(super) fn fresh_mid(&mut self, id: IkeSaId) -> u32 {
        loop {
            let m = self.rng.nonzero_u32();
            if self
                .sas
                .get(&id)
                .is_none_or(|s| !s.mids.contains(m) && !s.qms.iter().any(|q| q.mid == m))
            {
                if let Some(sa) = self.sas.get_mut(&id) {
                    sa.mids.insert(m);
                }
                return m;
            }
        }
    }

    /// Starts a Quick Mode, or queues it while too many of ours are in flight on this SA (each
    /// needs its own IV chain and the ISAKMP crypto keeps a bounded number of them).
    pub(super) fn start_qm(
        &mut self,
        now: Instant,
        id: IkeSaId,
        selector: usize,
        replaces: Option<ChildId>,
    ) {
        let active = self.sas.get(&id).map_or(0, |s| {
            s.qms.iter().filter(|q| q.state != QmState::Done).count()
        });
        if active >= MAX_ACTIVE_QM {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.pending.push(PendingQm { selector, replaces });
            }
            return;
        }
        if let Err(e) = self.start_qm_inner(now, id, selector, replaces) {
            let remote = self.sas.get(&id).map(|s| s.path.remote);
            let peer = self.sas.get(&id).map(|s| s.peer);
            if let Some(remote) = remote {
                self.fail(peer, remote, 2, e);
            }
        }
    }

    pub(super) fn start_qm_inner(
        &mut self,
        now: Instant,
        id: IkeSaId,
        selector: usize,
        replaces: Option<ChildId>,
    ) -> Result<(), Error> {
        let mid = self.fresh_mid(id);
        let ni = self.nonce();
        let spi = self.spi();
        let sa = self.sas.get(&id).ok_or(ApiMisuse::NoSuchSa)?;
        let cfg = self.peer(sa.peer).ok_or(ApiMisuse::NoSuchPeer(sa.peer.0))?;
        let mut selectors = *cfg
            .selectors
            .get(selector)
            .ok_or(ApiMisuse::NoSuchSelector(selector))?;
        if let Some(a) = sa.modecfg.client_address() {
            selectors.local = crate::policy::TrafficSelector::subnet(a, Ipv4Addr::BROADCAST);
        }
        let sets = cfg.transform_sets.clone();
        if sets.is_empty() {
            return Err(ApiMisuse::Config(ConfigProblem::NoTransformSet).into());
        }
        let transport = sets
            .first()
            .is_some_and(|t| t.mode == crate::policy::ipsec::EspMode::Transport);
        let offer = Phase2Offer {
            spi,
            lifetime_secs: cfg.lifetime_secs,
            lifetime_kb: cfg.lifetime_kb,
            pfs_group: cfg.pfs_group,
            udp_encap: sa.nat.nat_detected(),
            draft_encap: sa.natt == NattKind::Draft,
        };
        let dh = match cfg.pfs_group {
            Some(g) => {
                let group = DhGroup::from_ike_id(g)
                    .ok_or(ApiMisuse::Config(ConfigProblem::PfsGroupNotImplemented(g)))?;
                Some(DhSecret::generate(group, &mut self.rng))
            }
            None => None,
        };
        let sa_body = proposal::phase2_sa_body(&sets, &offer)?;
        let idci = proposal::selector_id_body(&selectors.local)?;
        let idcr = proposal::selector_id_body(&selectors.remote)?;
        let delay = self.retransmit_delay(0);
        let sa = self.sas.get_mut(&id).ok_or(ApiMisuse::NoSuchSa)?;
        let keys = sa.keys.as_ref().ok_or(ApiMisuse::NoSuchSa)?;
        let hlen = keys.hash_alg().output_len();
        let h = sa.header(ExchangeType::QUICK_MODE, Flags::ENCRYPTION, mid);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        let slot = b.add_hash_placeholder(hlen)?;
        b.add_raw(PayloadType::SA, &sa_body)?;
        b.add_nonce(&ni)?;
        if let Some(dh) = dh.as_ref() {
            b.add_ke(dh.public_value())?;
        }
        b.add_raw(PayloadType::ID, &idci)?;
        b.add_raw(PayloadType::ID, &idcr)?;
        if offer.udp_encap && transport {
            // Transport mode through a NAT: the original addresses, for checksum fix-up.
            let ty = sa.natt.natoa_type();
            b.add_nat_oa(ty, sa.path.local.ip())?;
            b.add_nat_oa(ty, sa.path.remote.ip())?;
        }
        let h1 = keys.hash1(mid, b.bytes_after(slot));
        b.fill(slot, &h1)?;
        let m1 = encrypt_message(sa, b.finish()?, mid)?;
        push_qm(
            sa,
            Qm {
                mid,
                role: Role::Initiator,
                state: QmState::Qm1Sent,
                ni,
                nr: Vec::new(),
                my_spi: spi,
                dh,
                selectors,
                selector_index: Some(selector),
                replaces,
                flight: Flight::awaiting_answer(m1.clone(), now + delay, None),
                done_at: None,
                pending: None,
                offer: Some(offer),
            },
        );
        let path = sa.path;
        self.send(path, m1);
        Ok(())
    }

    pub(super) fn handle_qm(
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
        if sa.state != P1State::QmIdle {
            return Err(Failure::Drop(
                PeerMisbehaved::Unexpected {
                    what: "Quick Mode before Main Mode finished",
                    state: sa.state,
                }
                .into(),
            ));
        }
        // No IPsec SA for a client that has not passed XAUTH (nor one that failed it).
        if !sa.xauth.allows_quick_mode() {
            return Err(Failure::Drop(
                PeerMisbehaved::Unexpected {
                    what: "Quick Mode before XAUTH STATUS=OK",
                    state: sa.state,
                }
                .into(),
            ));
        }
        if !header.flags.encrypted() {
            return Err(Failure::Drop(
                PeerMisbehaved::Encryption("Quick Mode").into(),
            ));
        }
        let mid = header.message_id;
        if mid == 0 {
            return Err(InvalidMessage::BadPayload("Quick Mode with message ID 0").into());
        }
        let qi = sa.qms.iter().position(|q| q.mid == mid);
        if let Some(i) = qi {
            let q = sa.qms.get(i);
            if q.is_some_and(|q| q.flight.last_rx == Some(hash)) {
                self.counters.duplicates += 1;
                // A repeated QM1 gets the cached QM2; a repeated QM2 makes us resend QM3.
                if let Some(m) = q.and_then(|q| q.flight.msg.clone()) {
                    let p = sa.path;
                    self.send(p, m);
                }
                return Ok(());
            }
        }
        if qi.is_none() {
            // A new exchange under an ID this SA has used: a replayed QM1 (or one of ours
            // reflected), which would otherwise cost a DH and make an SA pair nobody asked for.
            if sa.mids.contains(mid) {
                self.drop_datagram(DatagramDrop::ReplayedMessageId);
                return Ok(());
            }
            if sa.responder_qms_open() >= MAX_RESPONDER_QM {
                self.drop_datagram(DatagramDrop::QuickModeFlood);
                return Ok(());
            }
        }
        match qi.and_then(|i| sa.qms.get(i)).map(|q| (q.role, q.state)) {
            None => self.qm_r_recv1(now, id, path, header, msg, hash),
            Some((Role::Initiator, QmState::Qm1Sent)) => {
                self.qm_i_recv2(now, id, path, header, msg, hash)
            }
            Some((Role::Responder, QmState::Qm2Sent)) => {
                self.qm_r_recv3(now, id, path, header, msg, hash)
            }
            Some(_) => {
                self.drop_datagram(DatagramDrop::Unexpected);
                Ok(())
            }
        }
    }

    pub(super) fn qm_r_recv1(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let mid = header.message_id;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let (hash1, after) = leading_hash(&plain, &list, "HASH(1)")?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        if !keys.hash1(mid, after).ct_eq(hash1) {
            return Err(Failure::Drop(AuthFailure::HashMismatch("HASH(1)").into()));
        }
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let ni = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        check_nonce(ni.body)?;
        let ke = list.find(PayloadType::KE);
        let ids: Vec<&[u8]> = list.find_all(PayloadType::ID).map(|p| p.body).collect();
        let sa_peer = sa.peer;
        let Some(sa_cfg) = self.peer(sa_peer) else {
            return Ok(());
        };
        // Proxy identities: IDci is the initiator's side (our remote), IDcr ours.
        let (idci, idcr, sel_i, sel_r) = match ids.as_slice() {
            [ci, cr] => (
                Some(ci.to_vec()),
                Some(cr.to_vec()),
                proposal::id_to_selector(ci)?,
                proposal::id_to_selector(cr)?,
            ),
            [] => {
                let (Some(l), Some(r)) = (v4(path.local), v4(path.remote)) else {
                    return Err(InvalidMessage::BadPayload(
                        "ID (IPv6 peers need proxy identities)",
                    )
                    .into());
                };
                (
                    None,
                    None,
                    crate::policy::acl::TrafficSelector::subnet(r, Ipv4Addr::BROADCAST),
                    crate::policy::acl::TrafficSelector::subnet(l, Ipv4Addr::BROADCAST),
                )
            }
            _ => {
                return Err(InvalidMessage::BadPayload("ID (Quick Mode needs zero or two)").into())
            }
        };
        // Like IOS, any crypto map entry naming this peer may hold the matching ACL line.
        let candidates: Vec<PeerId> = std::iter::once(sa_peer)
            .chain(
                self.config
                    .peers
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| *i != sa_peer.0 && p.address == sa_cfg.address)
                    .map(|(i, _)| PeerId(i)),
            )
            .collect();
        let found = candidates.iter().find_map(|pid| {
            let c = self.peer(*pid)?;
            c.selectors
                .iter()
                .position(|s| s.remote.contains(&sel_i) && s.local.contains(&sel_r))
                .map(|line| (*pid, line))
        });
        let peer = found.map_or(sa_peer, |(p, _)| p);
        let line = found.map(|(_, l)| l);
        let leased = self.check_leased_proxy(id, &sel_i);
        let Some(cfg) = self.peer(peer) else {
            return Ok(());
        };
        let choice = match (line, leased) {
            (None, _) => Err(proposal::proxy_mismatch(sel_i, sel_r, &cfg.selectors)),
            (Some(_), Err(e)) => Err(e),
            (Some(_), Ok(())) => proposal::choose_phase2(
                sa_p.body,
                &cfg.transform_sets,
                cfg.pfs_group,
                cfg.lifetime_secs,
                cfg.lifetime_kb,
            )?,
        };
        let (our_secs, our_kb) = (cfg.lifetime_secs, cfg.lifetime_kb);
        let choice = match choice {
            Ok(c) => c,
            Err(e) => {
                // Authenticated refusal: commit the IV, answer with an encrypted notify.
                let e = Error::PeerIncompatible(e);
                if let Some(sa) = self.sas.get_mut(&id) {
                    if let Some(c) = sa.crypt.as_mut() {
                        c.commit(pending);
                        c.forget(mid);
                    }
                }
                let spi = sa_first_spi(sa_p.body);
                if let Some(n) = e.notify_to_send() {
                    self.send_notify(id, ProtocolId::ESP, &spi, n, &[]);
                }
                self.fail(Some(peer), path.remote, 2, e);
                return Err(Failure::Fatal);
            }
        };
        // PFS: the initiator's group is used when we have none configured.
        let dh = match (choice.parsed.group, ke) {
            (Some(g), Some(_)) => {
                DhGroup::from_ike_id(g).map(|g| DhSecret::generate(g, &mut self.rng))
            }
            (Some(_), None) => return Err(missing("KE (PFS)")),
            _ => None,
        };
        let pfs_gxy = match (dh.as_ref(), ke) {
            (Some(dh), Some(ke)) => Some(
                dh.compute_shared(ke.body)
                    .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?,
            ),
            _ => None,
        };
        let nr = self.nonce();
        let my_spi = self.spi();
        let delay = self.retransmit_delay(0);
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        // The path moves only when the Quick Mode completes (QM3).
        sa.mids.insert(mid);
        sa.last_rx_at = now;
        let udp_encap = sa.nat.nat_detected();
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let sa_answer = proposal::echo_sa_body(
            choice.proposal_number,
            ProtocolId::ESP.0,
            &my_spi.to_be_bytes(),
            &choice.transform_body,
        )?;
        let hlen = keys.hash_alg().output_len();
        let h = sa.header(ExchangeType::QUICK_MODE, Flags::ENCRYPTION, mid);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        let slot = b.add_hash_placeholder(hlen)?;
        b.add_raw(PayloadType::SA, &sa_answer)?;
        b.add_nonce(&nr)?;
        if let Some(dh) = dh.as_ref() {
            b.add_ke(dh.public_value())?;
        }
        if let (Some(ci), Some(cr)) = (idci.as_ref(), idcr.as_ref()) {
            b.add_raw(PayloadType::ID, ci)?;
            b.add_raw(PayloadType::ID, cr)?;
        }
        if udp_encap && choice.mode == crate::policy::ipsec::EspMode::Transport {
            let ty = sa.natt.natoa_type();
            b.add_nat_oa(ty, path.remote.ip())?;
            b.add_nat_oa(ty, sa.path.local.ip())?;
        }
        let proposed_secs = choice.parsed.life_secs.unwrap_or(u64::from(our_secs));
        let proposed_kb = choice.parsed.life_kb.unwrap_or(our_kb);
        if u64::from(our_secs) < proposed_secs || our_kb < proposed_kb {
            let data = proposal::responder_lifetime_data(choice.lifetime_secs, choice.lifetime_kb)?;
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol: ProtocolId::ESP,
                notify_type: NotifyType::RESPONDER_LIFETIME,
                spi: &choice.peer_spi.to_be_bytes(),
                data: &data,
            })?;
        }
        let h2 = keys.hash2(mid, ni.body, b.bytes_after(slot));
        b.fill(slot, &h2)?;
        // Keys now; announced once QM3 confirms the initiator has them too.
        let gxy = pfs_gxy.as_ref().map(|g| g.expose_secret());
        let ts = choice.transform_set.clone();
        let Some(esp_t) = esp_transform(&ts) else {
            return Err(Failure::Drop(
                PeerIncompatible::Unsupported(ts.clone()).into(),
            ));
        };
        let Some(child_keys) = child_keys(keys, esp_t, my_spi, choice.peer_spi, ni.body, &nr, gxy)
        else {
            return Err(Failure::Drop(
                PeerIncompatible::Unsupported(ts.clone()).into(),
            ));
        };
        let selectors = SelectorPair {
            local: sel_r,
            remote: sel_i,
        };
        let m2 = encrypt_message(sa, b.finish()?, mid)?;
        let est = Phase2Established {
            child: ChildId(0),
            ike_sa: id,
            peer,
            keys: child_keys,
            selectors,
            selector_index: line,
            transform: ts,
            lifetime_secs: choice.lifetime_secs,
            lifetime_kb: choice.lifetime_kb,
            mode: choice.mode,
            udp_encap,
            path,
            replaces: None,
        };
        let nonce_i = ni.body.to_vec();
        push_qm(
            sa,
            Qm {
                mid,
                role: Role::Responder,
                state: QmState::Qm2Sent,
                ni: nonce_i,
                nr,
                my_spi,
                dh,
                selectors,
                selector_index: line,
                replaces: None,
                flight: Flight::awaiting_answer(m2.clone(), now + delay, Some(hash)),
                done_at: None,
                pending: Some(Box::new(est)),
                offer: None,
            },
        );
        self.send(path, m2);
        Ok(())
    }

    pub(super) fn qm_i_recv2(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let mid = header.message_id;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(qi) = sa.qms.iter().position(|q| q.mid == mid) else {
            return Ok(());
        };
        let Some(q) = sa.qms.get(qi) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let (hash2, after) = leading_hash(&plain, &list, "HASH(2)")?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        if !keys.hash2(mid, &q.ni, after).ct_eq(hash2) {
            return Err(Failure::Drop(AuthFailure::HashMismatch("HASH(2)").into()));
        }
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let nr = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        check_nonce(nr.body)?;
        let ke = list.find(PayloadType::KE);
        let peer = sa.peer;
        let Some(cfg) = self.peer(peer) else {
            return Ok(());
        };
        let choice = match proposal::accept_phase2_answer(sa_p.body, &cfg.transform_sets)? {
            Ok(c) => c,
            Err(what) => {
                let e = Error::PeerMisbehaved(PeerMisbehaved::ChoseUnoffered(what));
                self.abort_qm(id, mid, Some(pending));
                self.fail(Some(peer), path.remote, 2, e);
                return Err(Failure::Fatal);
            }
        };
        let mut secs = choice.lifetime_secs;
        let mut kb = choice.lifetime_kb;
        if let Some(o) = q.offer {
            secs = secs.min(o.lifetime_secs);
            kb = kb.min(o.lifetime_kb);
        }
        for n in list.find_all(PayloadType::NOTIFY) {
            if let Ok(n) = Notify::parse(n.body) {
                if n.notify_type() == NotifyType::RESPONDER_LIFETIME {
                    if let Ok((s, k)) = proposal::parse_responder_lifetime(n.data()) {
                        if let Some(s) = s {
                            secs = secs.min(u32::try_from(s).unwrap_or(u32::MAX));
                        }
                        if let Some(k) = k {
                            kb = kb.min(k);
                        }
                    }
                    self.events.push_back(Event::NotifyReceived {
                        sa: Some(id),
                        notify: NotifyType::RESPONDER_LIFETIME,
                        authenticated: true,
                    });
                }
            }
        }
        let pfs_gxy = match (q.dh.as_ref(), ke) {
            (Some(dh), Some(ke)) => Some(
                dh.compute_shared(ke.body)
                    .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?,
            ),
            (Some(_), None) => return Err(missing("KE (PFS)")),
            _ => None,
        };
        let ts = choice.transform_set.clone();
        let Some(esp_t) = esp_transform(&ts) else {
            return Ok(());
        };
        let gxy = pfs_gxy.as_ref().map(|g| g.expose_secret());
        let Some(child_keys) =
            child_keys(keys, esp_t, q.my_spi, choice.peer_spi, &q.ni, nr.body, gxy)
        else {
            return Ok(());
        };
        let h3 = keys.hash3(mid, &q.ni, nr.body);
        let h = sa.header(ExchangeType::QUICK_MODE, Flags::ENCRYPTION, mid);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_hash(&h3)?;
        let finished = b.finish()?;
        let udp_encap = sa.nat.nat_detected();
        let (selectors, selector_index, replaces, my_spi) =
            (q.selectors, q.selector_index, q.replaces, q.my_spi);
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
        }
        adopt_path_if_nat(sa, path);
        let path = sa.path;
        sa.last_rx_at = now;
        let m3 = encrypt_message(sa, finished, mid)?;
        if let Some(q) = sa.qms.get_mut(qi) {
            q.state = QmState::Done;
            q.nr = nr.body.to_vec();
            q.flight = Flight::answered(Some(m3.clone()), hash);
            q.done_at = Some(now);
            q.dh = None;
        }
        if let Some(c) = sa.crypt.as_mut() {
            c.forget(mid);
        }
        self.send(path, m3);
        let child = self.add_child(
            now,
            Phase2Established {
                child: ChildId(0),
                ike_sa: id,
                peer,
                keys: child_keys,
                selectors,
                selector_index,
                transform: ts,
                lifetime_secs: secs.max(1),
                lifetime_kb: kb,
                mode: choice.mode,
                udp_encap,
                path,
                replaces,
            },
            Role::Initiator,
        );
        let _ = (child, my_spi);
        Ok(())
    }

    pub(super) fn qm_r_recv3(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        let mid = header.message_id;
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(qi) = sa.qms.iter().position(|q| q.mid == mid) else {
            return Ok(());
        };
        let Some(q) = sa.qms.get(qi) else {
            return Ok(());
        };
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let hp = list
            .find(PayloadType::HASH)
            .ok_or_else(|| missing("HASH(3)"))?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        if !keys.hash3(mid, &q.ni, &q.nr).ct_eq(hp.body) {
            return Err(Failure::Drop(AuthFailure::HashMismatch("HASH(3)").into()));
        }
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.commit(pending);
            c.forget(mid);
        }
        adopt_path_if_nat(sa, path);
        let path = sa.path;
        sa.last_rx_at = now;
        let mut est = None;
        if let Some(q) = sa.qms.get_mut(qi) {
            q.state = QmState::Done;
            q.done_at = Some(now);
            q.flight.retransmit_at = None;
            q.flight.msg = None;
            q.flight.last_rx = Some(hash);
            q.dh = None;
            est = q.pending.take();
        }
        if let Some(mut est) = est {
            est.path = path;
            self.add_child(now, *est, Role::Responder);
        }
        Ok(())
    }

    pub(super) fn abort_qm(
        &mut self,
        id: IkeSaId,
        mid: u32,
        pending: Option<crate::crypto::iv::PendingIv>,
    ) {
        if let Some(sa) = self.sas.get_mut(&id) {
            if let Some(c) = sa.crypt.as_mut() {
                if let Some(p) = pending {
                    c.commit(p);
                }
                c.forget(mid);
            }
            sa.qms.retain(|q| q.mid != mid);
        }
    }

    pub(super) fn add_child(
        &mut self,
        now: Instant,
        mut est: Phase2Established,
        role: Role,
    ) -> ChildId {
        let child = ChildId(self.next_child);
        self.next_child += 1;
        est.child = child;
        let lineage = self.lineage_of(est.ike_sa).unwrap_or(est.ike_sa);
        // Older pairs of this peer for the same proxy identities are superseded, whoever
        // started the rekey: they carry on until they expire, but nobody rekeys them again.
        // Another peer's pairs for the same identities (a shared wildcard entry) are its own.
        let superseded: Vec<ChildId> = self
            .children
            .of_lineage(lineage)
            .filter(|(_, c)| c.selectors == est.selectors)
            .map(|(k, _)| k)
            .collect();
        // Oldest first (child ids grow): all but the newest MAX_SUPERSEDED go now.
        let excess = superseded.len().saturating_sub(MAX_SUPERSEDED);
        for (i, k) in superseded.into_iter().enumerate() {
            if i < excess {
                if let Some(c) = self.remove_child(k, DeleteReason::Rekeyed) {
                    self.send_delete_esp(now, c.ike_sa, c.lineage, c.spi_in);
                }
            } else if let Some(c) = self.children.get_mut(&k) {
                c.replaced = true;
            }
        }
        self.children.insert(
            child,
            Child {
                ike_sa: est.ike_sa,
                lineage,
                peer: est.peer,
                role,
                spi_in: est.keys.inbound.spi(),
                spi_out: est.keys.outbound.spi(),
                selectors: est.selectors,
                selector_index: est.selector_index,
                transform: est.transform.clone(),
                mode: est.mode,
                udp_encap: est.udp_encap,
                path: est.path,
                lifetime_secs: est.lifetime_secs,
                lifetime_kb: est.lifetime_kb,
                established: now,
                rekey_started: false,
                replaced: false,
                bytes: 0,
                last_in: None,
                last_out: None,
            },
        );
        self.lease_to_child(est.ike_sa, child, &est.selectors.remote);
        self.log_esp_pair(&est.keys);
        self.events
            .push_back(Event::Phase2Established(Box::new(est)));
        child
    }
}

pub(super) fn esp_transform(ts: &TransformSet) -> Option<EspTransform> {
    let cipher = match ts.esp_encryption {
        EspEncryption::Des => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Des),
        EspEncryption::TripleDes => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::TripleDes),
        EspEncryption::Aes128 => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Aes128),
        EspEncryption::Aes192 => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Aes192),
        EspEncryption::Aes256 => EspCipher::Cbc(crate::crypto::cipher::CipherAlg::Aes256),
        EspEncryption::Null => EspCipher::Null,
        EspEncryption::AesGcm128 => EspCipher::AesGcm16(crate::crypto::cipher::CipherAlg::Aes128),
        EspEncryption::AesGcm192 => EspCipher::AesGcm16(crate::crypto::cipher::CipherAlg::Aes192),
        EspEncryption::AesGcm256 => EspCipher::AesGcm16(crate::crypto::cipher::CipherAlg::Aes256),
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    let integrity = match ts.esp_integrity {
        EspIntegrity::None => None,
        EspIntegrity::Md5 => Some(EspInteg::HmacMd5_96),
        EspIntegrity::Sha1 => Some(EspInteg::HmacSha1_96),
        EspIntegrity::Sha256 => Some(EspInteg::HmacSha256_128),
        EspIntegrity::Sha384 => Some(EspInteg::HmacSha384_192),
        EspIntegrity::Sha512 => Some(EspInteg::HmacSha512_256),
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    Some(EspTransform::new(cipher, integrity))
}

/// The ESP keys of both directions from KEYMAT (RFC 2409 section 5.5): inbound under our SPI,
/// outbound under the peer's. `None` when the transform's key lengths do not fit.
fn child_keys(
    keys: &Phase1Keys,
    esp_t: EspTransform,
    my_spi: u32,
    peer_spi: u32,
    ni: &[u8],
    nr: &[u8],
    gxy: Option<&[u8]>,
) -> Option<ChildKeys> {
    let km_in = keys.keymat(3, my_spi, ni, nr, gxy, esp_t.keymat_len());
    let km_out = keys.keymat(3, peer_spi, ni, nr, gxy, esp_t.keymat_len());
    let (Ok(inbound), Ok(outbound)) = (
        EspKeys::from_keymat(my_spi, esp_t, km_in.expose_secret()),
        EspKeys::from_keymat(peer_spi, esp_t, km_out.expose_secret()),
    ) else {
        return None;
    };
    Some(ChildKeys { inbound, outbound })
}

/// Quick Mode nonces: the same bounds as Main Mode's (RFC 2409 section 5: 8 to 256 bytes).
fn check_nonce(n: &[u8]) -> Res<()> {
    if n.len() < 8 || n.len() > 256 {
        return Err(InvalidMessage::BadPayload("NONCE (length must be 8..256)").into());
    }
    Ok(())
}

/// A completed Quick Mode says where the peer is now, but only on an SA that found a NAT: with
/// no NAT between us the peer's address cannot legitimately change.
fn adopt_path_if_nat(sa: &mut IkeSa, path: Path) {
    if sa.nat.nat_detected() {
        adopt_path(sa, path);
    }
}

fn push_qm(sa: &mut IkeSa, qm: Qm) {
    if sa.qms.len() >= MAX_QM_RECORDS {
        if let Some(oldest) = sa.qms.iter().position(|q| q.state == QmState::Done) {
            sa.qms.remove(oldest);
        }
    }
    // One slot at a time: the default first growth to four ~300-byte slots would be mostly
    // empty on each of thousands of SAs.
    sa.qms.reserve_exact(1);
    sa.qms.push(qm);
}

/// First SPI of the first proposal of an SA body (for notifies naming the refused proposal).
pub(super) fn sa_first_spi(sa_body: &[u8]) -> Vec<u8> {
    crate::wire::SaPayload::parse(sa_body)
        .ok()
        .and_then(|sa| sa.proposals().next())
        .and_then(|p| p.ok())
        .map(|p| p.spi().to_vec())
        .unwrap_or_default()
}
