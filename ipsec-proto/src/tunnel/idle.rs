//! `set security-association idle-time S [default]`: an IPsec SA pair that carried no traffic
//! either way for S seconds is deleted (a Delete goes to the peer, the flow keeps its
//! counters); with `default`, an entry on a backup peer then returns to its first peer.
//!
//! Nothing is paid per packet: the ESP SAs already note their last packet time. Each pair of
//! an entry with an idle time has one deadline in [`IdleTimers`], set when it is installed;
//! when a deadline passes the pair's last traffic decides: idle for S, it goes; otherwise the
//! deadline moves to S after that traffic. A pair thus costs one timer operation per S
//! seconds, whatever its traffic.

use std::collections::BTreeSet;

use super::*;

/// The pairs' idle deadlines, earliest first. An entry whose pair has gone is dropped when it
/// comes due.
#[derive(Debug, Default)]
pub(super) struct IdleTimers {
    due: BTreeSet<(Instant, ChildId)>,
}

impl IdleTimers {
    pub(super) fn schedule(&mut self, at: Instant, child: ChildId) {
        self.due.insert((at, child));
    }

    pub(super) fn next(&self) -> Option<Instant> {
        self.due.first().map(|(t, _)| *t)
    }

    fn pop_due(&mut self, now: Instant) -> Option<ChildId> {
        let (t, c) = *self.due.first()?;
        if t > now {
            return None;
        }
        self.due.pop_first();
        Some(c)
    }
}

fn idle_duration(t: crate::policy::IdleTime) -> Duration {
    Duration::from_secs(u64::from(t.secs))
}

impl Tunnels {
    /// A pair was installed: its idle clock starts now.
    pub(super) fn idle_start(&mut self, now: Instant, child: ChildId, entry: usize) {
        if let Some(t) = self.entries.get(entry).and_then(|e| e.idle_time) {
            self.idle.schedule(now + idle_duration(t), child);
        }
    }

    /// Deletes the pairs whose idle deadline passed with no traffic since; reschedules the
    /// others.
    pub(super) fn idle_check(&mut self, now: Instant, out: &mut Outputs) {
        let mut returned = Vec::new();
        while let Some(id) = self.idle.pop_due(now) {
            let Some(c) = self.children.get(&id) else {
                continue;
            };
            let Some(entry) = self.flows.get(c.flow).map(|f| f.entry) else {
                continue;
            };
            // A reload may have removed the idle time.
            let Some(t) = self.entries.get(entry).and_then(|e| e.idle_time) else {
                continue;
            };
            let last = [c.out.usage().last_activity, c.inbound.usage().last_activity]
                .into_iter()
                .flatten()
                .max();
            let idle = idle_duration(t);
            if let Some(at) = last.map(|l| l + idle).filter(|at| *at > now) {
                self.idle.schedule(at, id);
                continue;
            }
            let (spi_in, peer) = (c.spi_in, c.peer());
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC(sa_idle): SA (SPI 0x{spi_in:X}) with {} idle for {} seconds, deleting",
                    peer.map_or_else(|| "?".into(), |p| p.to_string()),
                    t.secs
                ),
            );
            if self.endpoint.delete_idle_child(now, id).is_ok() && t.default_peer {
                returned.push(entry);
            }
        }
        self.pump(now, out);
        for entry in returned {
            self.return_to_default_peer(entry, out);
        }
    }
}
