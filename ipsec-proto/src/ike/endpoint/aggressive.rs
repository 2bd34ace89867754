//! Aggressive Mode with pre-shared keys, both roles (RFC 2409 section 5.4).
//!
//! ```text
//! AM1 I→R  HDR, SA, KE, Ni, IDii [, VIDs]
//! AM2 R→I  HDR, SA, KE, Nr, IDir, HASH_R [, VIDs] [, NAT-D, NAT-D]
//! AM3 I→R  HDR[*], HASH_I [, NAT-D, NAT-D] [, N(INITIAL-CONTACT)]
//! ```
//!
//! IDii travels in clear, so the responder picks the key by identity (a Cisco client's group
//! name as ID_KEY_ID, an FQDN, a user FQDN) rather than only by address as Main Mode must. Two
//! costs come with that, both handled here:
//!
//! - **Identity enumeration.** A responder that answers only known identities tells a probing
//!   tool (ike-scan `--aggressive --id=NAME`) which group names exist. An AM1 naming an
//!   identity without a key gets an AM2 built exactly like a real one, its HASH_R under a decoy
//!   key `prf(local secret, IDii_b)`: same payloads, same lengths, a hash that cannot be told
//!   from a real one without the key. The AM3 then fails as an authentication failure.
//! - **A Diffie-Hellman exponentiation per AM1**, with no cookie round trip before it (Main Mode
//!   spends it only after MM2 proved the initiator sees our answers). The half-open caps per
//!   source and in total bound the state; token buckets ([`AmGuard`]) bound the
//!   exponentiations per second, in total and per source address (so one flooding address
//!   cannot spend the others' share). A source's burst is sized for many remote-access clients
//!   behind one NAT address reconnecting at once; a dropped AM1 is retransmitted by its
//!   initiator.
//!
//! AM3 may come encrypted (Cisco, vpnc) or not (strongSwan, RFC 2409's own figure): both are
//! accepted. We send it encrypted, as IOS does.

use super::*;

/// Aggressive Mode's responder-side defences: the local secret decoy keys derive from and the
/// Diffie-Hellman token buckets, one for the endpoint and one per source address.
#[derive(Default)]
pub(super) struct AmGuard {
    /// Drawn from the endpoint's RNG at the first AM1, so endpoints that never see Aggressive
    /// Mode draw exactly the random values they did before it existed.
    pub(super) secret: Option<crate::crypto::SecretBytes>,
    /// The endpoint's budget: what bounds the CPU spent on AM1s.
    total: Bucket,
    /// Each source's share: a flood from one address (spoofed or not) spends at most half the
    /// burst and a quarter of the rate, and leaves the rest to other addresses. Bounded: an
    /// entry is made only for an AM1 the endpoint's bucket paid for, it is full again (idle)
    /// after burst / rate seconds, and past [`MAX_SOURCES`] entries the full ones are forgotten.
    per_source: BTreeMap<IpAddr, Bucket>,
}

/// Source addresses [`AmGuard`] remembers before it forgets the idle ones.
const MAX_SOURCES: usize = 4096;

/// A token bucket of Diffie-Hellman exponentiations.
#[derive(Default, Clone, Copy)]
struct Bucket {
    /// Tokens left, in thousandths of an exponentiation.
    milli_tokens: u64,
    /// When it was last refilled; `None`: never used (full).
    refilled: Option<Instant>,
}

impl Bucket {
    /// Tokens (thousandths) at `now` for `per_sec` refill and capacity `burst`.
    fn level(&self, now: Instant, per_sec: u32, burst: u32) -> u64 {
        let cap = u64::from(burst.max(1)) * 1000;
        match self.refilled {
            None => cap,
            Some(t) => {
                let ms = now.saturating_duration_since(t).as_millis();
                let add = u64::try_from(ms)
                    .unwrap_or(u64::MAX)
                    .saturating_mul(u64::from(per_sec));
                self.milli_tokens.saturating_add(add).min(cap)
            }
        }
    }
}

impl AmGuard {
    /// Takes one exponentiation for an AM1 from `source` at `now`, from both the endpoint's and
    /// the source's bucket; `false` (nothing taken) when either is empty.
    fn take(&mut self, now: Instant, source: IpAddr, per_sec: u32, burst: u32) -> bool {
        let (src_rate, src_burst) = ((per_sec / 4).max(1), (burst / 2).max(1));
        let total = self.total.level(now, per_sec, burst);
        let mine = self
            .per_source
            .get(&source)
            .copied()
            .unwrap_or_default()
            .level(now, src_rate, src_burst);
        if total < 1000 || mine < 1000 {
            return false;
        }
        if self.per_source.len() >= MAX_SOURCES && !self.per_source.contains_key(&source) {
            let full = u64::from(src_burst) * 1000;
            self.per_source
                .retain(|_, b| b.level(now, src_rate, src_burst) < full);
        }
        self.total = Bucket {
            milli_tokens: total - 1000,
            refilled: Some(now),
        };
        self.per_source.insert(
            source,
            Bucket {
                milli_tokens: mine - 1000,
                refilled: Some(now),
            },
        );
        true
    }
}

/// The key an identity without one is answered under: prf(local secret, IDii_b). Fixed per
/// identity for the endpoint's lifetime, so a repeated probe of one name gets a HASH_R that
/// behaves like a real key's (it changes only with the nonces and DH values, as a real one).
pub(super) fn decoy_key(hash: HashAlg, secret: &[u8], idii_b: &[u8]) -> crate::policy::PskSecret {
    let d = crate::crypto::hmac::HmacKey::new(hash, secret).compute(&[b"AM decoy", idii_b]);
    crate::policy::PskSecret::new(d.to_vec())
}

impl Endpoint {
    /// Starts Phase 1 with `peer`: Aggressive Mode when the peer is configured for it, else
    /// Main Mode.
    pub(super) fn start_phase1(
        &mut self,
        now: Instant,
        peer: PeerId,
        path: Path,
        pending: Vec<PendingQm>,
    ) -> Result<IkeSaId, Error> {
        let cfg = self.peer(peer).ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        match cfg.aggressive.clone() {
            Some(id) => self.start_aggressive_mode(now, peer, path, pending, &id),
            None => self.start_main_mode(now, peer, path, pending),
        }
    }

    /// AM1. The KE payload fixes the group before the responder chose anything, so only the
    /// policies with the group of the first usable one are offered (IOS does the same).
    fn start_aggressive_mode(
        &mut self,
        now: Instant,
        peer: PeerId,
        path: Path,
        pending: Vec<PendingQm>,
        my_id: &crate::ike::config::Phase1Id,
    ) -> Result<IkeSaId, Error> {
        let cfg = self.peer(peer).ok_or(ApiMisuse::NoSuchPeer(peer.0))?;
        let rsa = cfg.rsa_sig.as_ref();
        let all = cfg.sorted_policies();
        let first = all
            .iter()
            .find(|p| proposal::policy_usable_with(p, rsa.is_some()))
            .ok_or(ApiMisuse::Config(ConfigProblem::NoUsablePolicy))?;
        let group_id = first.group;
        let group = DhGroup::from_ike_id(group_id)
            .ok_or(ApiMisuse::Config(ConfigProblem::NoUsablePolicy))?;
        let policies: Vec<&crate::policy::IsakmpPolicy> =
            all.into_iter().filter(|p| p.group == group_id).collect();
        let sai_b = proposal::phase1_sa_body(&policies, cfg.offers_xauth(), rsa.is_some())?;
        // With a certificate our identity is the one it carries: its subject under
        // `crypto isakmp identity dn`, else what the entry names (a subjectAltName).
        let dn_body = match (rsa.and_then(|r| r.chain.first()), &cfg.local_identity) {
            (Some(c), crate::policy::LocalIdentity::Dn) => Some(proposal::phase1_own_id_body(
                &cfg.local_identity,
                Ipv4Addr::UNSPECIFIED,
                Some(&c.subject_der),
            )?),
            _ => None,
        };
        let ci = self.cookie();
        let dh = DhSecret::generate(group, &mut self.rng);
        let ni = self.nonce();
        let idii = match my_id {
            _ if dn_body.is_some() => dn_body.unwrap_or_default(),
            // The address as the caller configured it, else the one we send from (known after
            // the first answer for a peer without `local_address`).
            crate::ike::config::Phase1Id::Ipv4(a) if a.is_unspecified() => {
                crate::ike::config::Phase1Id::Ipv4(v4(path.local).unwrap_or(*a)).body()
            }
            other => other.body(),
        };
        let id = self.alloc_sa_id();
        let header = Header::new(
            Cookie(ci),
            Cookie::ZERO,
            ExchangeType::AGGRESSIVE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, header)?;
        b.add_raw(PayloadType::SA, &sai_b)?;
        b.add_ke(dh.public_value())?;
        b.add_nonce(&ni)?;
        b.add_raw(PayloadType::ID, &idii)?;
        if let Some(r) = self.peer(peer).and_then(|c| c.rsa_sig.as_ref()) {
            rsa_sig::add_cert_requests(&mut b, r).map_err(|_| {
                Error::from(InvalidMessage::BadPayload(
                    "AM1 (certificate requests do not fit)",
                ))
            })?;
        }
        for v in self.our_vids(true) {
            b.add_vendor_id(v)?;
        }
        let msg = b.finish()?.to_vec();
        let delay = self.retransmit_delay(0);
        let mut sa = IkeSa::new(id, peer, Role::Initiator, path, now);
        sa.state = P1State::AgNoState;
        sa.ci = ci;
        {
            let hs = sa.hs_mut();
            hs.sai_b = sai_b;
            hs.gxi = dh.public_value().to_vec();
            hs.dh = Some(dh);
            hs.ni = ni;
            hs.idii = idii;
        }
        sa.flight = Flight::awaiting_answer(msg.clone(), now + delay, None);
        sa.pending = pending;
        self.sas.insert(Box::new(sa));
        self.send(path, msg);
        Ok(id)
    }

    /// The key for an Aggressive Mode initiator of `peer` that sent `idii_b`, or `None` when no
    /// key covers that identity. Name identities are looked up among the identity keys; an
    /// ID_IPV4_ADDR among the address keys, by the address it names and then by the packet's
    /// source (a client behind a NAT names its private address).
    fn am_key_for(
        &self,
        peer: PeerId,
        source: IpAddr,
        idii_b: &[u8],
    ) -> Option<crate::policy::PskSecret> {
        use crate::ike::config::Phase1Id;
        let cfg = self.peer(peer)?;
        let id = Phase1Id::from_body(idii_b)?;
        if let Some(k) = cfg.identity_keys.iter().find(|k| k.id.matches(&id)) {
            return Some(k.key.clone());
        }
        let Phase1Id::Ipv4(named) = id else {
            return None;
        };
        if cfg.keys.is_empty() {
            // A static entry: its key is the peer address's.
            let src = match source {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            let ours = cfg.address.is_unspecified() || cfg.address == named || cfg.address == src;
            return ours.then(|| cfg.psk.clone());
        }
        let src = match source {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        };
        crate::policy::isakmp::lookup_key(&cfg.keys, named)
            .or_else(|| src.and_then(|s| crate::policy::isakmp::lookup_key(&cfg.keys, s)))
            .map(|k| k.key.clone())
    }

    /// Responder: AM1 arrives. Everything that does not depend on secrets is checked first;
    /// the Diffie-Hellman budget is spent only on an AM1 we would answer.
    pub(super) fn am_responder_start(
        &mut self,
        now: Instant,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if !self.config.aggressive_mode {
            self.drop_datagram(DatagramDrop::AggressiveModeDisabled);
            return Ok(());
        }
        if header.flags.encrypted() || header.message_id != 0 {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("AM1").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let ke = list.find(PayloadType::KE).ok_or_else(|| missing("KE"))?;
        let nonce = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        let idp = list.find(PayloadType::ID).ok_or_else(|| missing("ID"))?;
        if nonce.body.len() < 8 || nonce.body.len() > 256 {
            return Err(InvalidMessage::BadPayload("NONCE (length must be 8..256)").into());
        }
        if idp.body.len() < 4 {
            return Err(InvalidMessage::BadPayload("ID (shorter than its fixed part)").into());
        }
        let (peer, (suite, pnum, tbody)) = self.responder_phase1_choice(path, header, sa_p.body)?;
        if self.config.aggressive_mode_certificates_only && !suite.rsa_sig {
            self.drop_datagram(DatagramDrop::AggressiveModeDisabled);
            return Ok(());
        }
        if ke.body.len() != suite.group.public_len() {
            return Err(InvalidMessage::BadPayload("KE (length is not the chosen group's)").into());
        }
        let (per_sec, burst) = (
            self.config.aggressive_dh_per_sec,
            self.config.aggressive_dh_burst,
        );
        if !self.am.take(now, path.remote.ip(), per_sec, burst) {
            self.drop_datagram(DatagramDrop::DhRateLimited);
            return Ok(());
        }
        let vids = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let natt = if self.config.nat_traversal {
            vids.natt
        } else {
            NattKind::None
        };
        // Certificates need no key lookup (and so no decoy: an unknown identity is refused
        // by its certificate, which a prober cannot forge).
        let (psk, unknown_id) = match self.am_key_for(peer, path.remote.ip(), idp.body) {
            _ if suite.rsa_sig => (crate::policy::PskSecret::new(b""), None),
            Some(k) => (k, None),
            None => {
                if self.am.secret.is_none() {
                    let mut s = vec![0u8; 32];
                    self.rng.fill(&mut s);
                    self.am.secret = Some(crate::crypto::SecretBytes::new(s));
                }
                let secret = self
                    .am
                    .secret
                    .as_ref()
                    .map_or(&[][..], |s| s.expose_secret());
                let shown = crate::ike::config::Phase1Id::from_body(idp.body).map_or_else(
                    || format!("type {}", idp.body.first().copied().unwrap_or(0)),
                    |i| i.to_string(),
                );
                self.counters.aggressive_unknown_identity += 1;
                (decoy_key(suite.hash, secret, idp.body), Some(shown))
            }
        };
        let dh = DhSecret::generate(suite.group, &mut self.rng);
        let gxy = dh
            .compute_shared(ke.body)
            .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?;
        let cr = self.cookie();
        let nr = self.nonce();
        let ci = header.initiator_cookie.0;
        let keys = Phase1Keys::derive(
            suite.hash,
            suite.cipher,
            (!suite.rsa_sig).then(|| psk.expose()),
            nonce.body,
            &nr,
            gxy.expose_secret(),
            &ci,
            &cr,
        );
        let crypt = IsakmpCrypto::new(&keys, ke.body, dh.public_value())
            .map_err(|_| Failure::Drop(InvalidMessage::BadPayload("KE").into()))?;
        let local_ip = match (
            v4(path.local),
            self.peer(peer).and_then(|c| c.local_address),
        ) {
            (Some(a), _) if !a.is_unspecified() => a,
            (_, Some(a)) => a,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        let rsa = if suite.rsa_sig {
            self.config
                .peers
                .get(peer.0)
                .and_then(|c| c.rsa_sig.as_ref())
        } else {
            None
        };
        let idir = match (rsa, self.config.peers.get(peer.0)) {
            (Some(r), Some(c)) => proposal::phase1_own_id_body(
                &c.local_identity,
                local_ip,
                r.chain.first().map(|x| x.subject_der.as_slice()),
            )?,
            _ => proposal::phase1_id_body(local_ip)?,
        };
        let hash_r = keys.hash_r(ke.body, dh.public_value(), sa_p.body, &idir);
        let sa_answer = proposal::echo_sa_body(pnum, ProtocolId::ISAKMP.0, &[], &tbody)?;
        let h = Header::new(
            header.initiator_cookie,
            Cookie(cr),
            ExchangeType::AGGRESSIVE,
            Flags(0),
            0,
        );
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        b.add_raw(PayloadType::SA, &sa_answer)?;
        b.add_ke(dh.public_value())?;
        b.add_nonce(&nr)?;
        b.add_raw(PayloadType::ID, &idir)?;
        match rsa {
            Some(r) => {
                if let Err(e) = rsa_sig::add_cert_and_sig(&mut b, r, &mut self.rng, &hash_r) {
                    return Err(Failure::Drop(e));
                }
                rsa_sig::add_cert_requests(&mut b, r)?;
            }
            None => {
                b.add_hash(&hash_r)?;
            }
        }
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
            b.add_vendor_id(&vendor::XAUTH)?;
        }
        if self.config.fragmentation.is_some() {
            b.add_vendor_id(&vendor::FRAGMENTATION_CISCO)?;
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
        let reply = b.finish()?.to_vec();
        self.make_room_for_half_open(path.remote.ip());
        let id = self.alloc_sa_id();
        let mut sa = IkeSa::new(id, peer, Role::Responder, path, now);
        sa.state = P1State::AgInitExch;
        sa.ci = ci;
        sa.cr = cr;
        sa.suite = Some(suite);
        sa.natt = natt;
        sa.nat.peer_supports = natt != NattKind::None;
        sa.peer_dpd = vids.dpd;
        {
            let hs = sa.hs_mut();
            hs.sai_b = sa_p.body.to_vec();
            hs.gxi = ke.body.to_vec();
            hs.gxr = dh.public_value().to_vec();
            hs.ni = nonce.body.to_vec();
            hs.nr = nr;
            hs.idii = idp.body.to_vec();
            hs.am_path = Some(path);
            hs.unknown_id = unknown_id;
        }
        sa.keys = Some(keys);
        sa.crypt = Some(crypt);
        // Unlike Main Mode's responder, ours waits for the last message: a lost AM3 leaves
        // the initiator in QM_IDLE and us without keys unless AM2 goes again (its repeat makes
        // the initiator resend AM3).
        let delay = self.retransmit_delay(0);
        sa.flight = Flight::awaiting_answer(reply.clone(), now + delay, Some(hash));
        self.sas.insert(Box::new(sa));
        self.log_ikev1_table();
        self.send(path, reply);
        // Only after AM2 has gone whole: its repeats and later messages may be fragments.
        self.note_peer_fragmentation(id, vids.fragmentation);
        Ok(())
    }

    /// A message on an Aggressive Mode SA: a repeat of the last one we accepted gets our
    /// cached answer again (the responder's AM2 for a repeated AM1, the initiator's AM3 for a
    /// repeated AM2, i.e. AM3 was lost); otherwise the next step of the exchange.
    pub(super) fn handle_am(
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
            self.counters.duplicates += 1;
            if let Some(m) = sa.flight.msg.clone() {
                let p = sa.path;
                self.send(p, m);
            }
            return Ok(());
        }
        match (sa.role, sa.state) {
            (Role::Initiator, P1State::AgNoState) => {
                self.am_i_recv2(now, id, path, header, msg, hash)
            }
            (Role::Responder, P1State::AgInitExch) => {
                self.am_r_recv3(now, id, path, header, msg, hash)
            }
            _ => {
                self.drop_datagram(DatagramDrop::Unexpected);
                Ok(())
            }
        }
    }

    /// Initiator: AM2 brings the responder's choice, its key material and HASH_R; a HASH_R
    /// that does not verify is how a wrong key (or an identity the responder does not know)
    /// shows on this side.
    fn am_i_recv2(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.flags.encrypted() {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("AM2").into()));
        }
        let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
        let list = PayloadList::parse(header.next_payload, body)?;
        let sa_p = list.find(PayloadType::SA).ok_or_else(|| missing("SA"))?;
        let ke = list.find(PayloadType::KE).ok_or_else(|| missing("KE"))?;
        let nonce = list
            .find(PayloadType::NONCE)
            .ok_or_else(|| missing("NONCE"))?;
        let idp = list.find(PayloadType::ID).ok_or_else(|| missing("ID"))?;
        if nonce.body.len() < 8 || nonce.body.len() > 256 {
            return Err(InvalidMessage::BadPayload("NONCE (length must be 8..256)").into());
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let Some(cfg) = self.peer(sa.peer) else {
            return Ok(());
        };
        let psk = cfg.psk.clone();
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
        let Some(dh) = sa.hs().dh.as_ref() else {
            return Ok(());
        };
        if dh.group() != suite.group {
            let e = Error::PeerMisbehaved(PeerMisbehaved::Unexpected {
                what: "AM2 chose a group other than our KE's",
                state: sa.state,
            });
            let remote = sa.path.remote;
            return Err(self.abandon_phase1(id, remote, e));
        }
        let gxy = dh
            .compute_shared(ke.body)
            .map_err(|e| Failure::Drop(PeerMisbehaved::BadKe(e).into()))?;
        let cr = header.responder_cookie.0;
        let keys = Phase1Keys::derive(
            suite.hash,
            suite.cipher,
            (!suite.rsa_sig).then(|| psk.expose()),
            &sa.hs().ni,
            nonce.body,
            gxy.expose_secret(),
            &sa.ci,
            &cr,
        );
        let expect = keys.hash_r(&sa.hs().gxi, ke.body, &sa.hs().sai_b, idp.body);
        if let Some(r) = cfg.rsa_sig.as_ref().filter(|_| suite.rsa_sig) {
            let remote = sa.path.remote;
            let checked = rsa_sig::verify_peer(
                r,
                &list,
                idp.body,
                &expect,
                self.unix_time(now),
                2,
                remote.ip(),
            );
            if let Err(e) = checked {
                return Err(self.abandon_phase1(id, remote, e));
            }
        } else if !expect.ct_eq(
            list.find(PayloadType::HASH)
                .ok_or_else(|| missing("HASH"))?
                .body,
        ) {
            // The responder's keys differ from ours: a wrong `set aggressive-mode password`,
            // or an identity the responder has no key for.
            let e = Error::AuthenticationFailed(AuthFailure::HashMismatch("HASH_R"));
            let remote = sa.path.remote;
            return Err(self.abandon_phase1(id, remote, e));
        }
        let crypt = IsakmpCrypto::new(&keys, &sa.hs().gxi, ke.body)
            .map_err(|_| Failure::Drop(InvalidMessage::BadPayload("KE").into()))?;
        let vids = Self::parse_vids(&list, !self.config.nat_t_drafts_only);
        let natt = if self.config.nat_traversal {
            vids.natt
        } else {
            NattKind::None
        };
        self.note_peer_fragmentation(id, vids.fragmentation);
        if let Some(sa) = self.sas.get_mut(&id) {
            adopt_path(sa, path);
            sa.last_rx_at = now;
            sa.cr = cr;
            sa.suite = Some(suite);
            sa.natt = natt;
            sa.nat.peer_supports = natt != NattKind::None;
            sa.peer_dpd = vids.dpd;
            sa.hs_mut().gxr = ke.body.to_vec();
            sa.hs_mut().nr = nonce.body.to_vec();
            sa.keys = Some(keys);
            sa.crypt = Some(crypt);
        }
        self.log_ikev1_table();
        // NAT-D of AM2 describes the path AM1/AM2 took; so do ours in AM3.
        let Some(p1_path) = self.sas.get(&id).map(|s| s.path) else {
            return Ok(());
        };
        self.nat_detect(id, &list, p1_path);
        let Some(initial_contact) = self.needs_initial_contact(id) else {
            return Ok(());
        };
        let nat_keepalive = self.config.nat_keepalive;
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let hash_i = keys.hash_i(&sa.hs().gxi, &sa.hs().gxr, &sa.hs().sai_b, &sa.hs().idii);
        let h = sa.header(ExchangeType::AGGRESSIVE, Flags::ENCRYPTION, 0);
        let mut buf = vec![0u8; MAX_MSG];
        let mut b = MessageBuilder::new(&mut buf, h)?;
        let peer = sa.peer;
        match self
            .config
            .peers
            .get(peer.0)
            .and_then(|c| c.rsa_sig.as_ref())
            .filter(|_| suite.rsa_sig)
        {
            Some(r) => {
                if let Err(e) = rsa_sig::add_cert_and_sig(&mut b, r, &mut self.rng, &hash_i) {
                    return Err(Failure::Drop(e));
                }
            }
            None => {
                b.add_hash(&hash_i)?;
            }
        }
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if sa.natt != NattKind::None {
            add_nat_d_pair(
                &mut b,
                sa.natt,
                suite.hash,
                (&sa.ci, &sa.cr),
                p1_path,
                self.config.force_udp_encaps,
            )?;
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
        // Float to 4500 when a NAT is in the way: AM3 is the first message to go there.
        if sa.nat.nat_detected() {
            sa.path.local.set_port(4500);
            sa.path.remote.set_port(4500);
            if sa.nat.local_behind_nat {
                sa.keepalive_at = nat_keepalive.map(|k| now + k);
            }
        }
        let m3 = encrypt_message(sa, b.finish()?, 0)?;
        let out = sa.path;
        sa.flight = Flight::answered(Some(m3.clone()), hash);
        self.send(out, m3);
        self.established(now, id);
        Ok(())
    }

    /// Responder: AM3 carries HASH_I, encrypted or not. A HASH_I that does not verify ends the
    /// negotiation as an authentication failure (for a decoy AM2 that is the only outcome).
    fn am_r_recv3(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
        hash: [u8; 20],
    ) -> Res<()> {
        if header.message_id != 0 {
            return Err(Failure::Drop(PeerMisbehaved::Encryption("AM3").into()));
        }
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        let remote = path.remote;
        let (plain, pending) = if header.flags.encrypted() {
            let (p, pending) = Self::decrypt(sa, header, msg)?;
            (p, Some(pending))
        } else {
            (msg.get(HEADER_LEN..).unwrap_or(&[]).to_vec(), None)
        };
        let list = PayloadList::parse(header.next_payload, &plain).ok();
        let hp = list.as_ref().and_then(|l| l.find(PayloadType::HASH));
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        let hs = sa.hs();
        let expect = keys.hash_i(&hs.gxi, &hs.gxr, &hs.sai_b, &hs.idii);
        let rsa = sa
            .suite
            .filter(|s| s.rsa_sig)
            .and(self.config.peers.get(sa.peer.0))
            .and_then(|c| c.rsa_sig.as_ref());
        if let Some(r) = rsa {
            let checked = match list.as_ref() {
                Some(l) => rsa_sig::verify_peer(
                    r,
                    l,
                    &hs.idii,
                    &expect,
                    self.unix_time(now),
                    3,
                    remote.ip(),
                ),
                None => Err(Error::InvalidMessage(InvalidMessage::BadPayload("AM3"))),
            };
            if let Err(e) = checked {
                if list.is_none() && !header.flags.encrypted() {
                    return Err(InvalidMessage::BadPayload("AM3").into());
                }
                return Err(self.abandon_phase1(id, remote, e));
            }
        }
        let ok = rsa.is_some() || hp.is_some_and(|hp| expect.ct_eq(hp.body));
        // A decoy key is never a credential: even a HASH_I that verifies under it (only a
        // holder of our local secret could make one) authenticates nobody.
        if !ok || hs.unknown_id.is_some() {
            if list.is_none() && !header.flags.encrypted() {
                // Garbage in clear is no evidence about keys: drop it like any malformed message.
                return Err(InvalidMessage::BadPayload("AM3").into());
            }
            let e = match &hs.unknown_id {
                Some(who) => Error::AuthenticationFailed(AuthFailure::UnknownIdentity(who.clone())),
                None => Error::AuthenticationFailed(AuthFailure::HashMismatch("HASH_I")),
            };
            return Err(self.abandon_phase1(id, remote, e));
        }
        let idii = hs.idii.clone();
        let am_path = hs.am_path.unwrap_or(sa.path);
        let Some(list) = list else { return Ok(()) };
        let initial_contact = list.find_all(PayloadType::NOTIFY).any(|n| {
            Notify::parse(n.body).is_ok_and(|n| n.notify_type() == NotifyType::INITIAL_CONTACT)
        });
        // An ISAKMP profile's `match identity address` (as in Main Mode, once authenticated).
        let allowed = self.peer(sa.peer).map(|c| &c.identities);
        if let Some(ids) = allowed.filter(|ids| !ids.is_empty()) {
            let addr = match idii.as_slice() {
                [1, _, _, _, a, b, c, d] => Some(Ipv4Addr::new(*a, *b, *c, *d)),
                _ => None,
            };
            let ok = addr.is_some_and(|a| {
                ids.iter()
                    .any(|(n, m)| u32::from(a) & u32::from(*m) == u32::from(*n) & u32::from(*m))
            });
            if !ok {
                let e = Error::PeerIncompatible(PeerIncompatible::IdentityNotMatched(addr));
                return Err(self.abandon_phase1(id, remote, e));
            }
        }
        // NAT-D hashes describe AM1's path; some initiators hash AM3's own (port 4500):
        // a NAT is there only if neither matches.
        self.nat_detect(id, &list, am_path);
        if path != am_path {
            let (l1, r1) = self.sas.get(&id).map_or((false, false), |s| {
                (s.nat.local_behind_nat, s.nat.remote_behind_nat)
            });
            self.nat_detect(id, &list, path);
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.nat.local_behind_nat &= l1;
                sa.nat.remote_behind_nat &= r1;
            }
        }
        let nat_keepalive = self.config.nat_keepalive;
        let Some(sa) = self.sas.get_mut(&id) else {
            return Ok(());
        };
        if let (Some(c), Some(p)) = (sa.crypt.as_mut(), pending) {
            c.commit(p);
        }
        adopt_path(sa, path);
        sa.last_rx_at = now;
        sa.flight = Flight::answered(None, hash);
        if sa.nat.local_behind_nat {
            sa.keepalive_at = nat_keepalive.map(|k| now + k);
        }
        if initial_contact {
            self.join_lineage(id);
            self.initial_contact(id);
        }
        self.established(now, id);
        Ok(())
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn buckets_refill_with_time_and_idle_sources_are_forgotten() {
        let mut g = AmGuard::default();
        let t0 = Instant::from_millis(1_000);
        // Burst 8 in total, 4 for one source; 4 per second in total, 1 per source.
        assert!((0..4).all(|_| g.take(t0, ip(1), 4, 8)));
        assert!(!g.take(t0, ip(1), 4, 8), "the source's share is spent");
        assert!((0..4).all(|_| g.take(t0, ip(2), 4, 8)));
        assert!(!g.take(t0, ip(3), 4, 8), "the total is spent");
        // A quarter of a second gives the endpoint one token, the source none yet.
        let t1 = t0 + Duration::from_millis(250);
        assert!(!g.take(t1, ip(1), 4, 8));
        assert!(g.take(t1, ip(3), 4, 8));
        // One second later source 1 has one again.
        assert!(g.take(t0 + Duration::from_millis(1_250), ip(1), 4, 8));
        // Thousands of sources: once full again, their buckets are dropped.
        let mut t = t0 + Duration::from_secs(10);
        for i in 0..MAX_SOURCES as u32 + 10 {
            t = t + Duration::from_millis(1);
            assert!(g.take(t, ip(100 + i), 1_000_000, 1_000_000), "{i}");
        }
        assert!(g.per_source.len() <= MAX_SOURCES, "{}", g.per_source.len());
        let later = t + Duration::from_secs(3600);
        assert!(g.take(later, ip(99_999), 1_000_000, 1_000_000));
        assert!(g.per_source.len() < 100, "{}", g.per_source.len());
    }
}
