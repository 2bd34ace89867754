//! Retransmission with back-off and jitter, the timers of one ISAKMP SA, and the cached last
//! message of each exchange that answers duplicates.

use super::*;

/// The last message of one exchange we sent, for retransmission and for answering duplicates.
#[derive(Debug, Default)]
pub(super) struct Flight {
    pub(super) msg: Option<Vec<u8>>,
    /// Retransmit on a timer (we wait for an answer).
    pub(super) retransmit_at: Option<Instant>,
    pub(super) retries: u32,
    /// Hash of the last message we accepted in this exchange.
    pub(super) last_rx: Option<[u8; 20]>,
}

impl Flight {
    /// We sent `msg` and wait for the answer: it goes again at `retransmit_at` unless one comes.
    pub(super) fn awaiting_answer(
        msg: Vec<u8>,
        retransmit_at: Instant,
        last_rx: Option<[u8; 20]>,
    ) -> Self {
        Flight {
            msg: Some(msg),
            retransmit_at: Some(retransmit_at),
            retries: 0,
            last_rx,
        }
    }

    /// Our part of the exchange is done after accepting `last_rx`; `msg`, if any, is kept only
    /// to answer a repeat of it.
    pub(super) fn answered(msg: Option<Vec<u8>>, last_rx: [u8; 20]) -> Self {
        Flight {
            msg,
            retransmit_at: None,
            retries: 0,
            last_rx: Some(last_rx),
        }
    }
}

/// How long a peer may keep retransmitting: completed exchanges stay this long to answer a
/// repeated last message, and a responder SA that never authenticates goes after it. Fixed by
/// the configuration, so the endpoint computes it once ([`Endpoint::linger`]).
pub(super) fn linger_of(rc: &crate::ike::config::RetransmitConfig) -> Duration {
    let mut total = Duration::ZERO;
    for k in 0..=rc.max_retries.min(16) {
        let d = rc
            .initial
            .saturating_mul(1u32.checked_shl(k).unwrap_or(u32::MAX))
            .min(rc.max);
        total = total.saturating_add(d);
    }
    let jitter = total.saturating_mul(u32::from(rc.jitter_percent)) / 100;
    total
        .saturating_add(jitter)
        .saturating_add(Duration::from_secs(10))
}

impl Endpoint {
    /// See [`linger_of`]; every timer flush asks for it, once per SA touched.
    pub(super) fn linger(&self) -> Duration {
        self.linger
    }

    pub(super) fn retransmit_delay(&mut self, retries: u32) -> Duration {
        let rc = self.config.retransmit;
        let base = rc
            .initial
            .saturating_mul(1u32.checked_shl(retries.min(16)).unwrap_or(u32::MAX))
            .min(rc.max);
        let ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        let jitter = ms.saturating_mul(u64::from(rc.jitter_percent)) / 100;
        let extra = if jitter > 0 {
            self.rng.below(jitter + 1)
        } else {
            0
        };
        Duration::from_millis(ms.saturating_add(extra))
    }

    pub(super) fn sa_timers(&mut self, now: Instant, id: IkeSaId) {
        let max = self.config.retransmit.max_retries;
        // Main Mode retransmission.
        let mm_due = self
            .sas
            .get(&id)
            .and_then(|s| s.flight.retransmit_at)
            .is_some_and(|t| t <= now);
        if mm_due {
            let Some(sa) = self.sas.get(&id) else { return };
            if sa.flight.retries >= max {
                let hint = match (sa.role, sa.state) {
                    (Role::Initiator, P1State::MmKeyExch) => {
                        ": pre-shared key mismatch, or UDP 4500 filtered after the NAT-T float"
                    }
                    (Role::Initiator, P1State::MmNoState) => {
                        ": peer down, UDP 500 filtered, or wrong `set peer`"
                    }
                    (Role::Initiator, P1State::MmSaSetup) => {
                        ": replies lost (large MM3/MM4 dropped, or one-way UDP 500)"
                    }
                    (Role::Initiator, P1State::AgNoState) => {
                        ": peer down, UDP 500 filtered, Aggressive Mode disabled there, or its \
                         Diffie-Hellman budget spent"
                    }
                    (Role::Responder, P1State::AgInitExch) => {
                        ": AM3 never came (the initiator could not verify HASH_R: wrong group \
                         key or unknown identity; or a probe)"
                    }
                    _ => "",
                };
                let err = Error::NoReply {
                    retransmissions: sa.flight.retries,
                    state: sa.state,
                    quick_mode: None,
                    hint,
                };
                let remote = sa.path.remote;
                self.abandon_phase1(id, remote, err);
                return;
            }
            let retries = sa.flight.retries + 1;
            let delay = self.retransmit_delay(retries);
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.flight.retries = retries;
                sa.flight.retransmit_at = Some(now + delay);
                if let Some(m) = sa.flight.msg.clone() {
                    let path = sa.path;
                    self.counters.retransmissions += 1;
                    self.send(path, m);
                }
            }
        }
        // XAUTH REQUEST/SET retransmission; a client that never answers loses its SA.
        let x_due = self
            .sas
            .get(&id)
            .and_then(|s| s.xflight.retransmit_at)
            .is_some_and(|t| t <= now);
        if x_due {
            let Some(sa) = self.sas.get(&id) else { return };
            if sa.xflight.retries >= max {
                let err = Error::NoReply {
                    retransmissions: sa.xflight.retries,
                    state: sa.state,
                    quick_mode: None,
                    hint: ": the XAUTH client never answered (no credentials entered, or its \
                           replies lost)",
                };
                let remote = sa.path.remote;
                self.send_delete_isakmp(now, id);
                self.abandon_phase1(id, remote, err);
                return;
            }
            let retries = sa.xflight.retries + 1;
            let delay = self.retransmit_delay(retries);
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.xflight.retries = retries;
                sa.xflight.retransmit_at = Some(now + delay);
                if let Some(m) = sa.xflight.msg.clone() {
                    let path = sa.path;
                    self.counters.retransmissions += 1;
                    self.send(path, m);
                }
            }
        }
        // Responder setup timeout.
        if let Some(sa) = self.sas.get(&id) {
            if sa.role == Role::Responder
                && sa.state != P1State::QmIdle
                && sa.created + self.linger() <= now
            {
                let hint = match sa.state {
                    P1State::AgInitExch => ": AM3 never arrived (the initiator could not verify HASH_R, gave up, or was a probe)",
                    P1State::MmKeyExch => ": MM5 never arrived (UDP 4500 filtered after the NAT-T float, or the initiator gave up)",
                    _ => ": MM3 never arrived (our MM2 lost on the way back, or the initiator gave up)",
                };
                let err = Error::PeerStopped {
                    state: sa.state,
                    hint,
                };
                let remote = sa.path.remote;
                self.abandon_phase1(id, remote, err);
                return;
            }
        }
        // Quick Mode retransmissions and lingering.
        let mut to_send = Vec::new();
        let mut failed = Vec::new();
        let mut delays = Vec::new();
        if let Some(sa) = self.sas.get(&id) {
            for (i, q) in sa.qms.iter().enumerate() {
                if q.flight.retransmit_at.is_some_and(|t| t <= now) {
                    if q.flight.retries >= max {
                        failed.push(i);
                    } else {
                        delays.push((i, q.flight.retries + 1));
                    }
                }
            }
        }
        let delays: Vec<(usize, u32, Duration)> = delays
            .into_iter()
            .map(|(i, r)| (i, r, self.retransmit_delay(r)))
            .collect();
        let mut failures = Vec::new();
        let linger = self.linger();
        if let Some(sa) = self.sas.get_mut(&id) {
            for (i, r, d) in delays {
                if let Some(q) = sa.qms.get_mut(i) {
                    q.flight.retries = r;
                    q.flight.retransmit_at = Some(now + d);
                    if let Some(m) = q.flight.msg.clone() {
                        to_send.push(m);
                    }
                }
            }
            for &i in failed.iter().rev() {
                if let Some(q) = sa.qms.get(i) {
                    let wait = match q.state {
                        QmState::Qm1Sent => QuickModeWait::Qm1Sent,
                        _ => QuickModeWait::Qm2Sent,
                    };
                    failures.push(Error::NoReply {
                        retransmissions: q.flight.retries,
                        state: sa.state,
                        quick_mode: Some(wait),
                        hint: ": phase 2 peer silent (check its crypto map, or packet loss)",
                    });
                }
                if i < sa.qms.len() {
                    let q = sa.qms.remove(i);
                    if let Some(c) = sa.crypt.as_mut() {
                        c.forget(q.mid);
                    }
                }
            }
            sa.qms
                .retain(|q| q.done_at.is_none_or(|d| d + linger > now));
            // Give back the capacity (four slots of ~300 bytes) once no exchange lingers.
            if sa.qms.is_empty() {
                sa.qms = Vec::new();
            }
        }
        let (peer, path) = match self.sas.get(&id) {
            Some(s) => (s.peer, s.path),
            None => return,
        };
        for m in to_send {
            self.counters.retransmissions += 1;
            self.send(path, m);
        }
        for e in failures {
            self.fail(Some(peer), path.remote, 2, e);
        }
        // Lifetime of the ISAKMP SA.
        if self
            .sas
            .get(&id)
            .and_then(|s| s.expires)
            .is_some_and(|e| e <= now)
        {
            self.send_delete_isakmp(now, id);
            self.remove_sa(id, DeleteReason::Expired);
            return;
        }
        self.phase1_rekey(now, id);
        self.dpd_timer(now, id);
        // NAT keepalive.
        if let Some(sa) = self.sas.get_mut(&id) {
            if sa.keepalive_at.is_some_and(|t| t <= now) {
                if let Some(iv) = self.config.nat_keepalive {
                    sa.keepalive_at = Some(now + iv);
                    let path = sa.path;
                    self.transmits.push_back(OutDatagram {
                        path,
                        bytes: vec![0xff],
                        marker: false,
                    });
                } else {
                    sa.keepalive_at = None;
                }
            }
        }
    }
}
