//! An opt-in copy of the IKE endpoint's events, for embedders that report or test on IKE itself
//! (which role a Main Mode ran in, why an SA went away, what a peer notified) rather than on
//! what the tunnels did about it ([`super::TunnelEvent`]).
//!
//! Off by default: a gateway that never polls the copy must not pay for it, and the tunnel
//! events and show snapshots already carry what a host acts on. The copy holds no key: the
//! keys of a new IPsec SA pair leave the stack only through the key log
//! ([`super::Tunnels::set_keylog`]).

use std::collections::VecDeque;

use super::Tunnels;
use crate::ike::{ChildId, Event, IkeSaId, Path, PeerId, SelectorPair};
use crate::policy::ipsec::{EspMode, TransformSet};

/// Copies kept for [`Tunnels::poll_ike_event`]; beyond this the oldest go (and are counted),
/// so a host that turned the copy on and stopped polling holds a bounded queue.
const MAX_COPIES: usize = 1024;

/// A Quick Mode's outcome without its keys: everything of [`crate::ike::Phase2Established`]
/// but [`crate::ike::ChildKeys`], with the two SPIs in their place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase2Info {
    /// This pair.
    pub child: ChildId,
    /// The ISAKMP SA that negotiated it.
    pub ike_sa: IkeSaId,
    /// The peer (the crypto map entry's index).
    pub peer: PeerId,
    /// Our inbound SPI.
    pub spi_in: u32,
    /// The peer's inbound SPI (ours outbound).
    pub spi_out: u32,
    /// Proxy identities from our point of view.
    pub selectors: SelectorPair,
    /// Index of the crypto ACL line, when the SA belongs to a configured line.
    pub selector_index: Option<usize>,
    /// The transform set that was chosen.
    pub transform: TransformSet,
    /// Lifetime in seconds (minimum of both sides).
    pub lifetime_secs: u32,
    /// Lifetime in kilobytes (minimum of both sides).
    pub lifetime_kb: u64,
    /// Tunnel or transport.
    pub mode: EspMode,
    /// ESP travels in UDP 4500 (NAT-T).
    pub udp_encap: bool,
    /// Where ESP goes (peer address and port as last authenticated).
    pub path: Path,
    /// The SA pair this one replaces (our rekey), if any.
    pub replaces: Option<ChildId>,
}

/// One event of the IKE endpoint, as the tunnel layer received it.
#[derive(Debug)]
#[non_exhaustive]
pub enum IkeEvent {
    /// [`Event::Phase2Established`], keys left out.
    Phase2Established(Phase2Info),
    /// Any other event, as the endpoint reported it.
    Endpoint(Event),
}

/// The copy's switch and queue.
#[derive(Debug, Default)]
pub(super) struct IkeEventCopy {
    on: bool,
    queue: VecDeque<IkeEvent>,
    dropped: u64,
}

impl IkeEventCopy {
    /// Keeps a copy of `ev` when the copy is on.
    pub(super) fn note(&mut self, ev: &Event) {
        if !self.on {
            return;
        }
        let copy = copy_of(ev);
        if self.queue.len() >= MAX_COPIES {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(copy);
    }
}

/// `ev` without key material. The match is exhaustive on purpose: a new endpoint event must be
/// given its copy here before the crate builds.
fn copy_of(ev: &Event) -> IkeEvent {
    match ev {
        Event::Phase2Established(p) => IkeEvent::Phase2Established(Phase2Info {
            child: p.child,
            ike_sa: p.ike_sa,
            peer: p.peer,
            spi_in: p.keys.inbound.spi(),
            spi_out: p.keys.outbound.spi(),
            selectors: p.selectors,
            selector_index: p.selector_index,
            transform: p.transform.clone(),
            lifetime_secs: p.lifetime_secs,
            lifetime_kb: p.lifetime_kb,
            mode: p.mode,
            udp_encap: p.udp_encap,
            path: p.path,
            replaces: p.replaces,
        }),
        Event::IsakmpStateChanged {
            sa,
            role,
            path,
            from,
            to,
            nat_t,
        } => IkeEvent::Endpoint(Event::IsakmpStateChanged {
            sa: *sa,
            role: *role,
            path: *path,
            from: *from,
            to: *to,
            nat_t: *nat_t,
        }),
        Event::Phase1Established {
            sa,
            peer,
            role,
            path,
            nat,
        } => IkeEvent::Endpoint(Event::Phase1Established {
            sa: *sa,
            peer: *peer,
            role: *role,
            path: *path,
            nat: *nat,
        }),
        Event::Phase1Deleted { sa, peer, reason } => IkeEvent::Endpoint(Event::Phase1Deleted {
            sa: *sa,
            peer: *peer,
            reason: *reason,
        }),
        Event::Phase2Expiring { child } => {
            IkeEvent::Endpoint(Event::Phase2Expiring { child: *child })
        }
        Event::Phase2Deleted {
            child,
            spi_in,
            spi_out,
            reason,
        } => IkeEvent::Endpoint(Event::Phase2Deleted {
            child: *child,
            spi_in: *spi_in,
            spi_out: *spi_out,
            reason: *reason,
        }),
        Event::NegotiationFailed {
            peer,
            remote,
            phase,
            error,
        } => IkeEvent::Endpoint(Event::NegotiationFailed {
            peer: *peer,
            remote: *remote,
            phase: *phase,
            error: error.clone(),
        }),
        Event::NotifyReceived {
            sa,
            notify,
            authenticated,
        } => IkeEvent::Endpoint(Event::NotifyReceived {
            sa: *sa,
            notify: *notify,
            authenticated: *authenticated,
        }),
        Event::PathChanged { sa, old, new } => IkeEvent::Endpoint(Event::PathChanged {
            sa: *sa,
            old: *old,
            new: *new,
        }),
        Event::PeerDead { sa, peer } => IkeEvent::Endpoint(Event::PeerDead {
            sa: *sa,
            peer: *peer,
        }),
        Event::Xauth { sa, peer, step } => IkeEvent::Endpoint(Event::Xauth {
            sa: *sa,
            peer: *peer,
            step: step.clone(),
        }),
        Event::ModeConfig { sa, peer, step } => IkeEvent::Endpoint(Event::ModeConfig {
            sa: *sa,
            peer: *peer,
            step: step.clone(),
        }),
    }
}

impl Tunnels {
    /// Starts (or stops) keeping a copy of every event of the IKE endpoint the tunnels handle,
    /// for [`Tunnels::poll_ike_event`]. Stopping discards the copies not yet polled.
    pub fn copy_ike_events(&mut self, on: bool) {
        self.ike_copy.on = on;
        if !on {
            self.ike_copy.queue.clear();
        }
    }

    /// The next copied IKE event, oldest first (none unless [`Tunnels::copy_ike_events`] is
    /// on). The tunnels have already acted on it: this is a report, not a request.
    pub fn poll_ike_event(&mut self) -> Option<IkeEvent> {
        self.ike_copy.queue.pop_front()
    }

    /// Copied IKE events dropped because nobody polled them.
    pub fn ike_events_dropped(&self) -> u64 {
        self.ike_copy.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::super::polled::tests::{carry, ping, SITE_A, SITE_B};
    use super::super::{CoreOptions, Tunnel, TunnelEvent};
    use super::*;
    use crate::ike::{DeleteReason, Role};
    use crate::time::Instant;

    fn settle(a: &mut Tunnel, b: &mut Tunnel, now: &mut Instant) {
        for _ in 0..20 {
            carry(a, b, *now);
            carry(b, a, *now);
            *now = Instant::from_millis(now.as_millis() + 10);
        }
    }

    fn copies(t: &mut Tunnel) -> Vec<IkeEvent> {
        std::iter::from_fn(|| t.poll_ike_event()).collect()
    }

    #[test]
    fn the_copy_reports_the_endpoint_events_behind_the_commands_and_holds_no_keys() {
        let mut a = Tunnel::from_ios(SITE_A, CoreOptions::seeded(1)).unwrap();
        let mut b = Tunnel::from_ios(SITE_B, CoreOptions::seeded(2)).unwrap();
        let mut now = Instant::from_millis(1_000);
        a.copy_ike_events(true);
        a.handle_plaintext(now, &ping([192, 168, 1, 10], [192, 168, 2, 10], 0));
        settle(&mut a, &mut b, &mut now);
        let seen = copies(&mut a);
        assert!(seen.iter().any(|e| matches!(
            e,
            IkeEvent::Endpoint(Event::Phase1Established {
                role: Role::Initiator,
                ..
            })
        )));
        let first: Vec<&Phase2Info> = seen
            .iter()
            .filter_map(|e| match e {
                IkeEvent::Phase2Established(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(first.len(), 1, "{seen:?}");
        let spi = first[0].spi_in;
        assert_eq!(first[0].replaces, None);
        // The tunnel's own event names the same pair.
        let up: Vec<TunnelEvent> = std::iter::from_fn(|| a.poll_event()).collect();
        assert!(up
            .iter()
            .any(|e| matches!(e, TunnelEvent::IpsecUp { spi_in, .. } if *spi_in == spi)));

        // Rekeyed by SPI: the successor names what it replaces.
        assert!(a.rekey_sa(now, 0xdead_beef).is_err());
        a.rekey_sa(now, spi).unwrap();
        settle(&mut a, &mut b, &mut now);
        let second = copies(&mut a)
            .into_iter()
            .find_map(|e| match e {
                IkeEvent::Phase2Established(p) => Some(p),
                _ => None,
            })
            .expect("a second Quick Mode");
        assert_eq!(Some(first[0].child), second.replaces);
        assert_eq!(a.tunnels().installed_pairs(), 2);

        // Deleted by SPI, then the ISAKMP SA: both reasons are local.
        a.delete_sa(now, spi).unwrap();
        assert!(a.delete_sa(now, spi).is_err(), "gone already");
        assert_eq!(a.clear_isakmp(now, None), 1);
        settle(&mut a, &mut b, &mut now);
        let gone = copies(&mut a);
        assert!(gone.iter().any(|e| matches!(
            e,
            IkeEvent::Endpoint(Event::Phase2Deleted { spi_in, reason: DeleteReason::LocalRequest, .. })
                if *spi_in == spi
        )));
        assert!(gone.iter().any(|e| matches!(
            e,
            IkeEvent::Endpoint(Event::Phase1Deleted {
                reason: DeleteReason::LocalRequest,
                ..
            })
        )));
        assert_eq!(a.tunnels().installed_pairs(), 1);

        // Off: nothing is kept, and the other side never copied anything.
        a.copy_ike_events(false);
        a.clear_sa(now, None);
        settle(&mut a, &mut b, &mut now);
        assert!(copies(&mut a).is_empty());
        assert!(copies(&mut b).is_empty());
        assert_eq!(a.tunnels().ike_events_dropped(), 0);
    }
}
