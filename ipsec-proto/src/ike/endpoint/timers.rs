//! One table of deadlines for the whole endpoint (quinn-proto's idea): each ISAKMP SA and each
//! IPsec SA pair has at most one entry, its earliest timer, kept in time order. The tables mark
//! what they hand out for mutation; [`Endpoint::flush_timers`] recomputes just those entries at
//! the end of each call, so neither [`Endpoint::poll_timeout`] nor a packet costs a scan of
//! every tunnel.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// Whose deadline an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerKey {
    Sa(IkeSaId),
    Child(ChildId),
    /// A peer's IKE fragment reassembly (see `fragment`).
    Reassembly(SocketAddr),
}

#[derive(Default)]
pub(super) struct TimerTable {
    by_time: BTreeSet<(Instant, TimerKey)>,
    by_key: BTreeMap<TimerKey, Instant>,
}

impl TimerTable {
    /// Sets (or with `None` clears) the deadline of `key`; unchanged deadlines touch nothing,
    /// which keeps the per-packet path free of allocation.
    pub(super) fn set(&mut self, key: TimerKey, at: Option<Instant>) {
        let old = self.by_key.get(&key).copied();
        if old == at {
            return;
        }
        if let Some(o) = old {
            self.by_time.remove(&(o, key));
        }
        match at {
            Some(t) => {
                self.by_time.insert((t, key));
                self.by_key.insert(key, t);
            }
            None => {
                self.by_key.remove(&key);
            }
        }
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Everything due at `now`, ISAKMP SAs first (their timers may create or retire pairs).
    pub(super) fn due(&self, now: Instant) -> Vec<TimerKey> {
        let mut v: Vec<TimerKey> = self
            .by_time
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| *k)
            .collect();
        v.sort();
        v
    }
}

impl Endpoint {
    /// The earliest timer of an ISAKMP SA and the Quick Modes running over it.
    fn sa_deadline(&self, sa: &IkeSa) -> Option<Instant> {
        let linger = self.linger();
        let mut t = [
            sa.flight.retransmit_at,
            sa.xflight.retransmit_at,
            sa.expires,
            sa.dpd.next_at,
            sa.keepalive_at,
            self.phase1_rekey_at(sa),
            (sa.state != P1State::QmIdle && sa.role == Role::Responder)
                .then(|| sa.created + linger),
        ]
        .into_iter()
        .flatten()
        .min();
        for q in &sa.qms {
            for x in [q.flight.retransmit_at, q.done_at.map(|d| d + linger)]
                .into_iter()
                .flatten()
            {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        }
        t
    }

    /// The earliest timer of an IPsec SA pair: hard expiry, or the rekey before it.
    fn child_deadline(&self, c: &Child) -> Instant {
        let hard = c.hard_expiry();
        if !c.rekey_started && !c.replaced {
            hard.min(self.soft_expiry(c))
        } else {
            hard
        }
    }

    /// Brings the deadlines of everything handed out for mutation since the last flush up to
    /// date (removed entries drop out).
    /// The same pass announces the ISAKMP state changes of the call
    /// ([`Event::IsakmpStateChanged`]), so a host never has to diff snapshots.
    pub(super) fn flush_timers(&mut self) {
        while let Some(id) = self.sas.take_dirty() {
            let at = self.sas.get(&id).and_then(|sa| self.sa_deadline(sa));
            self.timers.set(TimerKey::Sa(id), at);
            let Some(sa) = self.sas.get(&id) else {
                continue;
            };
            if sa.reported == Some(sa.state) {
                continue;
            }
            let ev = Event::IsakmpStateChanged {
                sa: id,
                role: sa.role,
                path: sa.path,
                from: sa.reported,
                to: Some(sa.state),
                nat_t: sa.nat.nat_detected(),
            };
            self.sas.mark_reported(&id);
            self.events.push_back(ev);
        }
        // Removals in the order they happened (the stack pops the latest first).
        let first_gone = self.events.len();
        while let Some(ev) = self.sas.take_gone() {
            self.events.insert(first_gone, ev);
        }
        while let Some(id) = self.children.take_dirty() {
            let at = self.children.get(&id).map(|c| self.child_deadline(c));
            self.timers.set(TimerKey::Child(id), at);
        }
    }
}
