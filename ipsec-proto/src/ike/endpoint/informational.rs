//! Informational exchanges: Delete, notifies (sent and received) and INITIAL-CONTACT.

use super::*;

impl Endpoint {
    /// INITIAL-CONTACT: the peer rebooted; every other SA of its lineage that existed before
    /// the announcing ISAKMP SA is stale. Other peers that share its configuration entry or its
    /// NAT address keep theirs, and a replay of an Informational INITIAL-CONTACT cannot remove
    /// what was negotiated after it.
    pub(super) fn initial_contact(&mut self, keep: IkeSaId) {
        let Some(sa) = self.sas.get(&keep) else {
            return;
        };
        let (lineage, cutoff) = (sa.lineage, sa.established);
        let before = |t: Instant| cutoff.is_none_or(|c| t <= c);
        // Only what was established before: a negotiation of ours that is still running with
        // the same peer (simultaneous initiation) is not stale.
        self.sas.refresh();
        let old: Vec<IkeSaId> = self
            .sas
            .of_lineage(lineage)
            .filter(|s| s.id != keep && s.lineage == lineage && s.state == P1State::QmIdle)
            .filter(|s| s.established.is_some_and(before))
            .map(|s| s.id)
            .collect();
        let old_children: Vec<ChildId> = self
            .children
            .of_lineage(lineage)
            .filter(|(_, c)| c.ike_sa != keep && before(c.established))
            .map(|(k, _)| k)
            .collect();
        for id in old {
            self.remove_sa(id, DeleteReason::InitialContact);
        }
        for child in old_children {
            self.remove_child(child, DeleteReason::InitialContact);
        }
    }

    pub(super) fn send_informational(
        &mut self,
        id: IkeSaId,
        add: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::wire::WireError>,
    ) {
        let mid = self.fresh_mid(id);
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if sa.state != P1State::QmIdle {
            return;
        }
        let Some(keys) = sa.keys.as_ref() else { return };
        let hlen = keys.hash_alg().output_len();
        let h = sa.header(ExchangeType::INFORMATIONAL, Flags::ENCRYPTION, mid);
        let mut buf = vec![0u8; MAX_MSG];
        let Ok(mut b) = MessageBuilder::new(&mut buf, h) else {
            return;
        };
        let Ok(slot) = b.add_hash_placeholder(hlen) else {
            return;
        };
        if add(&mut b).is_err() {
            return;
        }
        let hv = keys.info_hash(mid, b.bytes_after(slot));
        if b.fill(slot, &hv).is_err() {
            return;
        }
        let Ok(fin) = b.finish() else { return };
        let Ok(m) = encrypt_message(sa, fin, mid) else {
            return;
        };
        if let Some(c) = sa.crypt.as_mut() {
            c.forget(mid);
        }
        let path = sa.path;
        self.send(path, m);
    }

    pub(super) fn send_notify(
        &mut self,
        id: IkeSaId,
        protocol: ProtocolId,
        spi: &[u8],
        n: NotifyType,
        data: &[u8],
    ) {
        let spi = spi.to_vec();
        let data = data.to_vec();
        self.send_informational(id, |b| {
            b.add_notify(&NotifySpec {
                doi: 1,
                protocol,
                notify_type: n,
                spi: &spi,
                data: &data,
            })
            .map(|_| ())
        });
    }

    /// A Delete for an IPsec SA, on the ISAKMP SA that negotiated it or, once that is gone, on
    /// another of its lineage: never on another peer's SA that happens to share its entry.
    pub(super) fn send_delete_esp(
        &mut self,
        _now: Instant,
        ike: IkeSaId,
        lineage: IkeSaId,
        spi_in: u32,
    ) {
        if let Some(id) = self.live_sa(lineage, ike) {
            self.send_delete(id, ProtocolId::ESP, 4, &spi_in.to_be_bytes());
        }
    }

    pub(super) fn send_delete_isakmp(&mut self, _now: Instant, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else { return };
        let spi = sa.isakmp_spi();
        self.send_delete(id, ProtocolId::ISAKMP, 16, &spi);
    }

    /// A Delete payload in its own Informational exchange.
    fn send_delete(&mut self, id: IkeSaId, protocol: ProtocolId, spi_size: u8, spis: &[u8]) {
        self.send_informational(id, |b| {
            b.add_delete(&DeleteSpec {
                doi: 1,
                protocol,
                spi_size,
                spis,
            })
            .map(|_| ())
        });
    }

    pub(super) fn handle_informational(
        &mut self,
        now: Instant,
        id: IkeSaId,
        path: Path,
        header: &Header,
        msg: &[u8],
    ) -> Res<()> {
        let Some(sa) = self.sas.get(&id) else {
            return Ok(());
        };
        if !header.flags.encrypted() {
            // Only meaningful before keys exist: a cleartext error answering MM1.
            let body = msg.get(HEADER_LEN..).unwrap_or(&[]);
            let list = PayloadList::parse(header.next_payload, body)?;
            if sa.keys.is_some() {
                return Err(Failure::Drop(
                    PeerMisbehaved::Encryption("Informational").into(),
                ));
            }
            for n in list.find_all(PayloadType::NOTIFY) {
                let n = Notify::parse(n.body)?;
                let t = n.notify_type();
                self.events.push_back(Event::NotifyReceived {
                    sa: Some(id),
                    notify: t,
                    authenticated: false,
                });
                if t.is_error()
                    && sa.role == Role::Initiator
                    && matches!(sa.state, P1State::MmNoState | P1State::AgNoState)
                {
                    let remote = sa.path.remote;
                    self.abandon_phase1(id, remote, Error::NotifyReceived(t));
                    return Ok(());
                }
            }
            return Ok(());
        }
        let mid = header.message_id;
        // Message ID 0 is Main Mode's; an encrypted Informational must have its own, never one
        // used before on this SA (a captured Delete or R-U-THERE replayed, or ours reflected).
        if mid == 0 || sa.mids.contains(mid) {
            self.drop_datagram(DatagramDrop::ReplayedMessageId);
            return Ok(());
        }
        let (plain, pending) = Self::decrypt(sa, header, msg)?;
        let list = PayloadList::parse(header.next_payload, &plain)?;
        let (hash1, after) = leading_hash(&plain, &list, "HASH(1)")?;
        let Some(keys) = sa.keys.as_ref() else {
            return Ok(());
        };
        if !keys.info_hash(mid, after).ct_eq(hash1) {
            return Err(Failure::Drop(
                AuthFailure::HashMismatch("Informational HASH(1)").into(),
            ));
        }
        // DPD notifies are checked before anything is committed: a stale R-U-THERE (a replay
        // whose message ID the bounded record has forgotten) changes nothing and gets no answer.
        let mut fresh_dpd = None;
        for p in list.find_all(PayloadType::NOTIFY) {
            let n = Notify::parse(p.body)?;
            match dpd_check(sa, &n) {
                DpdCheck::NotDpd | DpdCheck::Repeat => {}
                DpdCheck::Fresh(seq) => fresh_dpd = Some(seq),
                DpdCheck::Bad => {
                    self.drop_datagram(DatagramDrop::BadDpd);
                    return Ok(());
                }
            }
        }
        let lineage = sa.lineage;
        let ci = sa.ci;
        let cr = sa.cr;
        let peer = sa.peer;
        if let Some(sa) = self.sas.get_mut(&id) {
            if let Some(c) = sa.crypt.as_mut() {
                c.commit(pending);
                c.forget(mid);
            }
            sa.mids.insert(mid);
            sa.last_rx_at = now;
            if let Some(seq) = fresh_dpd {
                sa.dpd.peer_seq = Some(seq);
                // The one Informational allowed to move the path: its sequence number orders
                // it after everything seen, so it cannot be a replay from a stale address.
                if sa.nat.nat_detected() {
                    adopt_path(sa, path);
                }
            }
        }
        let mut delete_self = false;
        for p in list.iter() {
            if p.ty == PayloadType::NOTIFY {
                let n = Notify::parse(p.body)?;
                let t = n.notify_type();
                match t {
                    NotifyType::R_U_THERE => {
                        let (spi, seq) = (n.spi(), n.data());
                        self.send_notify(
                            id,
                            ProtocolId::ISAKMP,
                            spi,
                            NotifyType::R_U_THERE_ACK,
                            seq,
                        );
                    }
                    NotifyType::R_U_THERE_ACK => {
                        let seq = n
                            .data()
                            .get(..4)
                            .and_then(|s| <[u8; 4]>::try_from(s).ok())
                            .map(u32::from_be_bytes);
                        let iv = self.dpd_of(id).map_or(10, |d| d.interval_secs.max(1));
                        if let Some(sa) = self.sas.get_mut(&id) {
                            if seq.is_some() && seq == sa.dpd.outstanding {
                                sa.dpd.outstanding = None;
                                sa.dpd.retries = 0;
                                sa.dpd.next_at = Some(now + Duration::from_secs(u64::from(iv)));
                            }
                        }
                    }
                    NotifyType::INITIAL_CONTACT => {
                        self.initial_contact(id);
                        self.events.push_back(Event::NotifyReceived {
                            sa: Some(id),
                            notify: t,
                            authenticated: true,
                        });
                    }
                    t => {
                        self.events.push_back(Event::NotifyReceived {
                            sa: Some(id),
                            notify: t,
                            authenticated: true,
                        });
                        if t.is_error() {
                            self.refused_qm(id, peer, path, &n, t);
                        }
                    }
                }
            } else if p.ty == PayloadType::DELETE {
                let d = Delete::parse(p.body)?;
                if d.spis().count() > MAX_DELETE_SPIS {
                    self.counters.delete_too_many_spis += 1;
                    continue;
                }
                if d.protocol() == ProtocolId::ISAKMP {
                    for spi in d.spis() {
                        if spi.get(..8) == Some(&ci[..]) && spi.get(8..) == Some(&cr[..]) {
                            delete_self = true;
                            continue;
                        }
                        let owned = spi
                            .get(..8)
                            .and_then(|c| <[u8; 8]>::try_from(c).ok())
                            .and_then(|c| {
                                self.sas.with_ci(c).find(|s| {
                                    s.lineage == lineage
                                        && spi.len() == 16
                                        && spi.get(8..) == Some(&s.cr[..])
                                })
                            })
                            .map(|s| s.id);
                        match owned {
                            Some(o) => self.remove_sa(o, DeleteReason::PeerDelete),
                            None => self.counters.delete_not_owned += 1,
                        }
                    }
                } else if d.protocol() == ProtocolId::ESP {
                    for spi in d.spis() {
                        let owned = <[u8; 4]>::try_from(spi)
                            .ok()
                            .and_then(|s| self.children.by_spi_out(lineage, u32::from_be_bytes(s)));
                        match owned {
                            Some(child) => {
                                self.remove_child(child, DeleteReason::PeerDelete);
                            }
                            None => self.counters.delete_not_owned += 1,
                        }
                    }
                }
            }
        }
        if delete_self {
            self.remove_sa(id, DeleteReason::PeerDelete);
        }
        Ok(())
    }

    /// An authenticated error notify: which Quick Mode of ours did it refuse? The SPI of our
    /// proposal says. strongSwan 5.9.8 refuses a Quick Mode with SPI 0 (it has not picked our
    /// SPI when nothing matched): like no SPI, that names every Quick Mode we have waiting on
    /// this SA.
    fn refused_qm(&mut self, id: IkeSaId, peer: PeerId, path: Path, n: &Notify<'_>, t: NotifyType) {
        let spi = n
            .spi()
            .get(..4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
            .filter(|s| *s != 0);
        let victims: Vec<u32> = self
            .sas
            .get(&id)
            .map(|s| {
                s.qms
                    .iter()
                    .filter(|q| q.role == Role::Initiator && q.state == QmState::Qm1Sent)
                    .filter(|q| spi.is_none_or(|x| x == q.my_spi))
                    .map(|q| q.mid)
                    .collect()
            })
            .unwrap_or_default();
        for m in victims {
            self.abort_qm(id, m, None);
            self.fail(Some(peer), path.remote, 2, Error::NotifyReceived(t));
        }
    }
}

/// What a notify means for DPD (RFC 3706 section 5): the SPI must be this SA's cookies and the
/// data a 32-bit sequence number.
enum DpdCheck {
    NotDpd,
    /// A new R-U-THERE, later than any we answered.
    Fresh(u32),
    /// The latest R-U-THERE again (the peer retries when our ACK was lost), or an ACK.
    Repeat,
    /// Wrong SPI or length, or an R-U-THERE older than one already answered.
    Bad,
}

fn dpd_check(sa: &IkeSa, n: &Notify<'_>) -> DpdCheck {
    let t = n.notify_type();
    if t != NotifyType::R_U_THERE && t != NotifyType::R_U_THERE_ACK {
        return DpdCheck::NotDpd;
    }
    let spi_ok = n.spi().len() == 16
        && n.spi().get(..8) == Some(&sa.ci[..])
        && n.spi().get(8..) == Some(&sa.cr[..]);
    let Some(seq) = <[u8; 4]>::try_from(n.data()).ok().map(u32::from_be_bytes) else {
        return DpdCheck::Bad;
    };
    if !spi_ok {
        return DpdCheck::Bad;
    }
    if t == NotifyType::R_U_THERE_ACK {
        return DpdCheck::Repeat;
    }
    match sa.dpd.peer_seq {
        None => DpdCheck::Fresh(seq),
        Some(last) if seq_after(seq, last) => DpdCheck::Fresh(seq),
        Some(last) if seq == last => DpdCheck::Repeat,
        Some(_) => DpdCheck::Bad,
    }
}

/// A cleartext Informational carrying one error notify (answer to an unacceptable MM1).
pub(super) fn cleartext_notify(
    ci: [u8; 8],
    cr: [u8; 8],
    n: NotifyType,
) -> Result<Vec<u8>, crate::wire::WireError> {
    let h = Header::new(
        Cookie(ci),
        Cookie(cr),
        ExchangeType::INFORMATIONAL,
        Flags(0),
        0,
    );
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, h)?;
    b.add_notify(&NotifySpec {
        doi: 1,
        protocol: ProtocolId::ISAKMP,
        notify_type: n,
        spi: &[],
        data: &[],
    })?;
    Ok(b.finish()?.to_vec())
}
