//! Routes the host must have for the tunnels: reverse route injection (`reverse-route`,
//! `reverse-route static`, `set reverse-route tag|distance`) and the proxy networks a dynamic
//! map learns from its peers.
//!
//! - A dynamic map entry's SA pair always asks for its remote proxy network
//!   ([`InjectedRoute::publish`] false: the gateway's own routing, else return traffic for a
//!   network no crypto ACL names never reaches the tunnel);
//! - `reverse-route` (static or dynamic map entry): the remote proxy network of each SA pair
//!   while the pair exists, published where routing daemons see it (`publish` true);
//! - `reverse-route static` (static crypto maps only): the crypto ACL's destinations from the
//!   moment the map is applied, SA or not.
//!
//! A published route never covers a peer's own address (the gateway's IKE and ESP would follow
//! it into the tunnel): such a route is refused with a note (in [`Tunnels::skipped`] for a
//! static one, as an IPsec debug line for one learned from an SA; a dynamic map entry still
//! routes it in its own routing, whose marked sockets bypass it).
//!
//! The table is reference counted by `(prefix, mask, publish)`: a rekey (two pairs of one flow
//! for a while) or two entries asking for the same network produce one [`TunnelEvent::RouteAdd`]
//! and one [`TunnelEvent::RouteRemove`]. Installing and removing a pair costs a map lookup and
//! a binary search in the configured peers, whatever the number of tunnels.

use super::*;
use crate::policy::{ReverseRoute, SelectorAddr, TrafficSelector};

/// A route towards the tunnel that the host should have (see the module documentation), as
/// announced by [`TunnelEvent::RouteAdd`] and withdrawn by [`TunnelEvent::RouteRemove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InjectedRoute {
    /// Index of the crypto map entry it is for ([`Tunnels::entries`]); the first entry asking
    /// when several ask for the same network.
    pub entry: usize,
    /// Network address (host bits clear).
    pub prefix: Ipv4Addr,
    /// Netmask (contiguous).
    pub mask: Ipv4Addr,
    /// `set reverse-route tag` (0: none).
    pub tag: u32,
    /// `set reverse-route distance` (1 without it): the route's administrative distance, the
    /// metric a Linux host gives it.
    pub distance: u8,
    /// `reverse-route` is configured: publish the route where routing daemons see it (on
    /// Linux, the main table). `false`: only the gateway's own routing needs it (a dynamic
    /// map's learned network).
    pub publish: bool,
}

impl InjectedRoute {
    /// Prefix length of [`InjectedRoute::mask`].
    pub fn prefix_len(&self) -> u8 {
        u32::from(self.mask).count_ones() as u8
    }

    /// `10.2.2.0/24`.
    pub fn network(&self) -> String {
        format!("{}/{}", self.prefix, self.prefix_len())
    }

    fn covers(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & u32::from(self.mask) == u32::from(self.prefix)
    }
}

type RouteKey = (u32, u32, bool);

fn key(r: &InjectedRoute) -> RouteKey {
    (u32::from(r.prefix), u32::from(r.mask), r.publish)
}

#[derive(Clone, Debug)]
struct Held {
    route: InjectedRoute,
    count: u32,
}

/// The routes held now, and the configured peers they must not cover.
#[derive(Clone, Debug, Default)]
pub(super) struct RouteTable {
    held: BTreeMap<RouteKey, Held>,
    /// Every configured peer address, sorted.
    peers: Vec<u32>,
    generation: u64,
}

/// A selector's addresses as a prefix, if they are one.
fn prefix_of(s: &TrafficSelector) -> Option<(Ipv4Addr, Ipv4Addr)> {
    match s.addr {
        SelectorAddr::Host(a) => Some((a, Ipv4Addr::BROADCAST)),
        SelectorAddr::Subnet { addr, mask } => Some((addr, mask)),
        SelectorAddr::Range { start, end } => {
            let (s, e) = (u32::from(start), u32::from(end));
            let size = e.wrapping_sub(s).wrapping_add(1);
            if size != 0 && size.is_power_of_two() && s & (size - 1) == 0 {
                Some((start, Ipv4Addr::from(!(size - 1))))
            } else if s == 0 && e == u32::MAX {
                Some((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED))
            } else {
                None
            }
        }
    }
}

impl RouteTable {
    fn new(entries: &[MapEntryInfo]) -> RouteTable {
        let mut peers: Vec<u32> = entries
            .iter()
            .flat_map(|e| e.peers.iter().chain(std::iter::once(&e.peer_addr)))
            .filter(|p| !p.is_unspecified())
            .map(|p| u32::from(*p))
            .collect();
        peers.sort_unstable();
        peers.dedup();
        RouteTable {
            held: BTreeMap::new(),
            peers,
            generation: 0,
        }
    }

    /// A configured peer (or `extra`) the route covers.
    fn covered_peer(&self, r: &InjectedRoute, extra: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(p) = extra.filter(|p| r.covers(*p)) {
            return Some(p);
        }
        let first = u32::from(r.prefix);
        let last = first | !u32::from(r.mask);
        let i = self.peers.partition_point(|p| *p < first);
        self.peers
            .get(i)
            .filter(|p| **p <= last)
            .map(|p| Ipv4Addr::from(*p))
    }
}

/// What an entry asks for, for one remote network: the route (if any), and a note when the
/// route asked for is not injected (or not published).
fn route_for(
    table: &RouteTable,
    entries: &[MapEntryInfo],
    entry: usize,
    remote: &TrafficSelector,
    peer: Option<Ipv4Addr>,
    from_sa: bool,
) -> (Option<InjectedRoute>, Option<String>) {
    let Some(e) = entries.get(entry) else {
        return (None, None);
    };
    let dynamic = e.dynamic.is_some();
    let publish = match e.reverse_route {
        Some(ReverseRoute::Static) if !dynamic => !from_sa,
        Some(_) => from_sa,
        None => false,
    };
    if !(publish || dynamic && from_sa) {
        return (None, None);
    }
    let Some((prefix, mask)) = prefix_of(remote) else {
        let (a, b) = remote.addr.range();
        return (
            None,
            Some(format!(
                "remote proxy {a}-{b} is not a prefix; no route injected"
            )),
        );
    };
    let mut r = InjectedRoute {
        entry,
        prefix,
        mask,
        tag: e.rri_tag,
        distance: e.rri_distance,
        publish,
    };
    let Some(p) = publish.then(|| table.covered_peer(&r, peer)).flatten() else {
        return (Some(r), None);
    };
    let why = format!(
        "reverse route {} covers peer {p}'s own address; not injected",
        r.network()
    );
    if !dynamic {
        return (None, Some(why));
    }
    // The dynamic entry's own routing still needs it (the gateway's sockets bypass it).
    r.publish = false;
    (
        Some(r),
        Some(format!("{why} (routed for this gateway only)")),
    )
}

fn entry_name(e: &MapEntryInfo) -> String {
    format!("crypto map {} {}", e.map, e.seq)
}

impl Tunnels {
    /// The routes the host should have now (see [`InjectedRoute`]), in prefix order.
    pub fn injected_routes(&self) -> impl Iterator<Item = &InjectedRoute> {
        self.routes.held.values().map(|h| &h.route)
    }

    /// Grows by one whenever [`Tunnels::injected_routes`] changes: a host that reads the table
    /// instead of the events compares it with the value it last saw.
    pub fn routes_generation(&self) -> u64 {
        self.routes.generation
    }

    /// Holds `r` for an Easy VPN client's split network.
    pub(super) fn hold_route(&mut self, r: InjectedRoute) {
        self.hold(r);
    }

    /// Releases a route taken with [`Tunnels::hold_route`].
    pub(super) fn release_route(&mut self, r: &InjectedRoute) {
        self.release(key(r));
    }

    fn hold(&mut self, r: InjectedRoute) {
        let k = key(&r);
        match self.routes.held.get_mut(&k) {
            Some(h) => h.count += 1,
            None => {
                self.routes.held.insert(k, Held { route: r, count: 1 });
                self.routes.generation += 1;
                self.push_event(TunnelEvent::RouteAdd(r));
            }
        }
    }

    fn release(&mut self, k: RouteKey) {
        let Some(h) = self.routes.held.get_mut(&k) else {
            return;
        };
        h.count = h.count.saturating_sub(1);
        if h.count == 0 {
            let r = h.route;
            self.routes.held.remove(&k);
            self.routes.generation += 1;
            self.push_event(TunnelEvent::RouteRemove(r));
        }
    }

    /// An SA pair of flow `flow` was installed: its route, if its entry asks for one.
    pub(super) fn rri_pair_up(
        &mut self,
        flow: usize,
        remote: &TrafficSelector,
        peer: Option<Ipv4Addr>,
        out: &mut Outputs,
    ) {
        let Some(entry) = self.flows.get(flow).map(|f| f.entry) else {
            return;
        };
        let (r, note) = route_for(&self.routes, &self.entries, entry, remote, peer, true);
        if let Some(why) = note {
            out.debug(DebugKind::Ipsec, format_args!("IPSEC(rri): {why}"));
        }
        if let Some(r) = r {
            self.hold(r);
        }
    }

    /// The pair's route goes with it (when no other pair holds it).
    pub(super) fn rri_pair_down(
        &mut self,
        flow: usize,
        remote: &TrafficSelector,
        peer: Option<Ipv4Addr>,
    ) {
        let Some(entry) = self.flows.get(flow).map(|f| f.entry) else {
            return;
        };
        if let (Some(r), _) = route_for(&self.routes, &self.entries, entry, remote, peer, true) {
            self.release(key(&r));
        }
    }

    /// The routes for the configuration and the pairs now: at start (`reverse-route static`)
    /// and after a reconfiguration. Routes that stay are not announced again; notes for
    /// refused static routes go into `skipped`.
    pub(super) fn rri_rebuild(&mut self) {
        let mut table = RouteTable::new(&self.entries);
        let mut wanted: Vec<InjectedRoute> = Vec::new();
        let mut notes = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.reverse_route != Some(ReverseRoute::Static) || e.dynamic.is_some() {
                continue;
            }
            let Some(base) = self.flow_base.get(i) else {
                continue;
            };
            for f in self.flows.iter().skip(*base).take_while(|f| f.entry == i) {
                let (r, note) =
                    route_for(&table, &self.entries, i, &f.selectors.remote, None, false);
                wanted.extend(r);
                if let Some(why) = note {
                    notes.push(format!("{}: reverse-route static: {why}", entry_name(e)));
                }
            }
        }
        for (_, c) in self.children.iter() {
            let Some(entry) = self.flows.get(c.flow).map(|f| f.entry) else {
                continue;
            };
            let (r, _) = route_for(
                &table,
                &self.entries,
                entry,
                &c.selectors.remote,
                c.peer(),
                true,
            );
            wanted.extend(r);
        }
        for r in wanted {
            match table.held.get_mut(&key(&r)) {
                Some(h) => h.count += 1,
                None => {
                    table.held.insert(key(&r), Held { route: r, count: 1 });
                }
            }
        }
        let old = std::mem::take(&mut self.routes.held);
        let mut changed = false;
        for (k, h) in &old {
            let same = table.held.get(k).is_some_and(|n| {
                n.route.tag == h.route.tag && n.route.distance == h.route.distance
            });
            if !same {
                changed = true;
                self.push_event(TunnelEvent::RouteRemove(h.route));
            }
        }
        for (k, h) in &table.held {
            let same = old.get(k).is_some_and(|o| {
                o.route.tag == h.route.tag && o.route.distance == h.route.distance
            });
            if !same {
                changed = true;
                self.push_event(TunnelEvent::RouteAdd(h.route));
            }
        }
        table.generation = self.routes.generation + u64::from(changed);
        self.routes = table;
        self.skipped.extend(notes);
    }

    /// Going down: every route still held is withdrawn.
    pub(super) fn rri_withdraw_all(&mut self) {
        let old = std::mem::take(&mut self.routes.held);
        if !old.is_empty() {
            self.routes.generation += 1;
        }
        for h in old.into_values() {
            self.push_event(TunnelEvent::RouteRemove(h.route));
        }
    }
}
