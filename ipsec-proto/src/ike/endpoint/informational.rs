//! Informational exchanges: Delete, notifies (sent and received) and INITIAL-CONTACT.

use super::*;

impl Endpoint {
    /// INITIAL-CONTACT: the peer rebooted; every other SA with it is stale.
    pub(super) fn initial_contact(&mut self, keep: IkeSaId) {
        let Some((peer, peer_ip)) = self.sas.get(&keep).map(|s| (s.peer, s.path.remote.ip()))
        else {
            return;
        };
        // Only what was established before: a negotiation of ours that is still running with
        // the same peer (simultaneous initiation) is not stale.
        let old: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|s| {
                s.id != keep
                    && s.peer == peer
                    && s.path.remote.ip() == peer_ip
                    && s.state == P1State::QmIdle
            })
            .map(|s| s.id)
            .collect();
        let old_children: Vec<ChildId> = self
            .children
            .iter()
            .filter(|(_, c)| {
                // Any crypto map entry for this peer address (the responder may have matched
                // a later entry than the one the ISAKMP SA was set up with).
                let same_peer = c.peer == peer
                    || self.peer(c.peer).map(|p| p.address) == self.peer(peer).map(|p| p.address);
                same_peer && c.path.remote.ip() == peer_ip && c.ike_sa != keep
            })
            .map(|(k, _)| *k)
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

    pub(super) fn send_delete_esp(
        &mut self,
        _now: Instant,
        ike: IkeSaId,
        peer: PeerId,
        spi_in: u32,
    ) {
        // Any established ISAKMP SA with the peer will do.
        let id = if self
            .sas
            .get(&ike)
            .is_some_and(|s| s.state == P1State::QmIdle)
        {
            Some(ike)
        } else {
            self.sas
                .values()
                .find(|s| s.peer == peer && s.state == P1State::QmIdle)
                .map(|s| s.id)
        };
        if let Some(id) = id {
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
                if t.is_error() && sa.role == Role::Initiator && sa.state == P1State::MmNoState {
                    let remote = sa.path.remote;
                    self.abandon_phase1(id, remote, Error::NotifyReceived(t));
                    return Ok(());
                }
            }
            return Ok(());
        }
        let mid = header.message_id;
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
        let peer = sa.peer;
        let ci = sa.ci;
        let cr = sa.cr;
        if let Some(sa) = self.sas.get_mut(&id) {
            if let Some(c) = sa.crypt.as_mut() {
                c.commit(pending);
                c.forget(mid);
            }
            sa.last_rx_at = now;
            adopt_path(sa, path);
            sa.last_rx_at = now;
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
                        if let Some(sa) = self.sas.get_mut(&id) {
                            if seq.is_some() && seq == sa.dpd.outstanding {
                                sa.dpd.outstanding = None;
                                sa.dpd.retries = 0;
                                let iv = self.config.dpd.map_or(10, |d| d.interval_secs.max(1));
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
                            // Which Quick Mode did it refuse? Match the SPI of our proposal.
                            // strongSwan 5.9.8 refuses a Quick Mode with SPI 0 (it has not
                            // picked our SPI when nothing matched): like no SPI, that names
                            // every Quick Mode we have waiting on this SA.
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
                                        .filter(|q| {
                                            q.role == Role::Initiator && q.state == QmState::Qm1Sent
                                        })
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
                }
            } else if p.ty == PayloadType::DELETE {
                let d = Delete::parse(p.body)?;
                if d.protocol() == ProtocolId::ISAKMP {
                    for spi in d.spis() {
                        if spi.len() == 16
                            && spi.get(..8) == Some(&ci[..])
                            && spi.get(8..) == Some(&cr[..])
                        {
                            delete_self = true;
                        } else if spi.len() == 16 {
                            let other = self
                                .sas
                                .values()
                                .find(|s| {
                                    s.peer == peer
                                        && spi.get(..8) == Some(&s.ci[..])
                                        && spi.get(8..) == Some(&s.cr[..])
                                })
                                .map(|s| s.id);
                            if let Some(o) = other {
                                self.remove_sa(o, DeleteReason::PeerDelete);
                            }
                        }
                    }
                } else if d.protocol() == ProtocolId::ESP {
                    for spi in d.spis() {
                        let Ok(s) = <[u8; 4]>::try_from(spi) else {
                            continue;
                        };
                        let s = u32::from_be_bytes(s);
                        let hit = self
                            .children
                            .iter()
                            .find(|(_, c)| c.peer == peer && c.spi_out == s)
                            .map(|(k, _)| *k);
                        if let Some(child) = hit {
                            self.remove_child(child, DeleteReason::PeerDelete);
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
