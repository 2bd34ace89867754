//! Address leases of the Mode Config server: which `ip local pool` address each remote-access
//! client holds.
//!
//! A lease belongs to a client (group, user, and the address and port it came from) and is held
//! by that client's ISAKMP SAs and by the IPsec SAs whose proxy identity is the address: a
//! client that re-authenticates (a new Aggressive Mode before the old SA is gone) gets the same
//! address back, and the address returns to the pool only when the client's last SA of either
//! kind goes (Delete, DPD, expiry, XAUTH failure). An ISAKMP SA that expires while its IPsec
//! SAs carry on (IOS lets them) therefore cannot hand their address to someone else.
//!
//! Indexes, not scans: by address (ordered, so the first free address is found by walking
//! only the leased ones inside a range), by client and by SA.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};

use super::{ChildId, IkeSaId};
use crate::ike::ModeConfigRefusal;
use crate::policy::LocalPool;

/// Who holds a lease.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Client {
    pub(super) group: String,
    pub(super) user: String,
    pub(super) from: SocketAddr,
}

/// What keeps a lease alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Holder {
    Isakmp(IkeSaId),
    Ipsec(ChildId),
}

#[derive(Debug)]
struct Lease {
    client: Client,
    holders: BTreeSet<Holder>,
}

/// Every lease of one endpoint (pools are global in IOS: two groups naming one pool share it).
#[derive(Debug, Default)]
pub(super) struct Leases {
    by_addr: BTreeMap<Ipv4Addr, Lease>,
    by_client: HashMap<Client, Ipv4Addr>,
    by_sa: HashMap<IkeSaId, Ipv4Addr>,
    by_child: HashMap<ChildId, Ipv4Addr>,
    /// Clients per group holding a lease (for `max-users`).
    per_group: HashMap<String, u32>,
}

impl Leases {
    /// The address `sa` holds.
    pub(super) fn of_sa(&self, sa: IkeSaId) -> Option<Ipv4Addr> {
        self.by_sa.get(&sa).copied()
    }

    /// Leases `sa` an address of `pool` for `client`: the one the client already holds, else
    /// the lowest free one.
    pub(super) fn acquire(
        &mut self,
        pool: &LocalPool,
        client: Client,
        sa: IkeSaId,
        max_users: Option<u32>,
    ) -> Result<Ipv4Addr, ModeConfigRefusal> {
        if let Some(a) = self.of_sa(sa) {
            return Ok(a);
        }
        if let Some(&a) = self.by_client.get(&client) {
            if pool.contains(a) {
                if let Some(l) = self.by_addr.get_mut(&a) {
                    l.holders.insert(Holder::Isakmp(sa));
                }
                self.by_sa.insert(sa, a);
                return Ok(a);
            }
        }
        let group = client.group.clone();
        if let Some(max) = max_users {
            if self.per_group.get(&group).copied().unwrap_or(0) >= max {
                return Err(ModeConfigRefusal::MaxUsers { group, max });
            }
        }
        let Some(a) = self.first_free(pool) else {
            return Err(ModeConfigRefusal::PoolExhausted {
                group,
                pool: pool.name.clone(),
                size: pool.size(),
            });
        };
        // A client moving to another pool gives up its old address first.
        if let Some(old) = self.by_client.get(&client).copied() {
            self.drop_address(old);
        }
        *self.per_group.entry(group).or_insert(0) += 1;
        self.by_client.insert(client.clone(), a);
        self.by_sa.insert(sa, a);
        self.by_addr.insert(
            a,
            Lease {
                client,
                holders: BTreeSet::from([Holder::Isakmp(sa)]),
            },
        );
        Ok(a)
    }

    /// A new ISAKMP SA of a client that already holds a lease (a Phase 1 rekey that skipped
    /// Mode Config): the SA shares the lease of the client of `group` that came from `from`.
    pub(super) fn adopt(&mut self, sa: IkeSaId, group: &str, from: SocketAddr) -> Option<Ipv4Addr> {
        if let Some(a) = self.of_sa(sa) {
            return Some(a);
        }
        let (&a, lease) = self
            .by_addr
            .iter_mut()
            .find(|(_, l)| l.client.group == group && l.client.from == from)?;
        lease.holders.insert(Holder::Isakmp(sa));
        self.by_sa.insert(sa, a);
        Some(a)
    }

    /// IPsec SA `child` carries address `a` (its proxy identity): the lease outlives the
    /// ISAKMP SAs while it does. Nothing happens for an address nobody leased.
    pub(super) fn hold_child(&mut self, child: ChildId, a: Ipv4Addr) {
        if let Some(l) = self.by_addr.get_mut(&a) {
            l.holders.insert(Holder::Ipsec(child));
            self.by_child.insert(child, a);
        }
    }

    /// `sa` is gone: returns the address if that was the lease's last holder (it is free
    /// again).
    pub(super) fn release_sa(&mut self, sa: IkeSaId) -> Option<Ipv4Addr> {
        let a = self.by_sa.remove(&sa)?;
        self.release(a, Holder::Isakmp(sa))
    }

    /// IPsec SA `child` is gone: as [`Leases::release_sa`].
    pub(super) fn release_child(&mut self, child: ChildId) -> Option<Ipv4Addr> {
        let a = self.by_child.remove(&child)?;
        self.release(a, Holder::Ipsec(child))
    }

    fn release(&mut self, a: Ipv4Addr, holder: Holder) -> Option<Ipv4Addr> {
        let last = self.by_addr.get_mut(&a).is_none_or(|l| {
            l.holders.remove(&holder);
            l.holders.is_empty()
        });
        if last {
            self.drop_address(a);
            return Some(a);
        }
        None
    }

    /// Number of leased addresses.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// The client holding `a`.
    #[cfg(test)]
    pub(super) fn holder(&self, a: Ipv4Addr) -> Option<&Client> {
        self.by_addr.get(&a).map(|l| &l.client)
    }

    fn drop_address(&mut self, a: Ipv4Addr) {
        if let Some(l) = self.by_addr.remove(&a) {
            self.by_client.remove(&l.client);
            for h in &l.holders {
                match h {
                    Holder::Isakmp(s) => self.by_sa.remove(s),
                    Holder::Ipsec(c) => self.by_child.remove(c),
                };
            }
            if let Some(n) = self.per_group.get_mut(&l.client.group) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_group.remove(&l.client.group);
                }
            }
        }
    }

    /// The lowest address of `pool` nobody holds; walks only the leases inside each range.
    fn first_free(&self, pool: &LocalPool) -> Option<Ipv4Addr> {
        for &(first, last) in &pool.ranges {
            if last < first {
                continue;
            }
            let mut next = u32::from(first);
            for (&taken, _) in self.by_addr.range(first..=last) {
                if u32::from(taken) != next {
                    break;
                }
                next = next.checked_add(1)?;
            }
            if next <= u32::from(last) {
                return Some(Ipv4Addr::from(next));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(first: [u8; 4], last: [u8; 4]) -> LocalPool {
        LocalPool {
            name: "P".into(),
            ranges: vec![(Ipv4Addr::from(first), Ipv4Addr::from(last))],
        }
    }

    fn client(user: &str, port: u16) -> Client {
        Client {
            group: "G".into(),
            user: user.into(),
            from: SocketAddr::from(([192, 0, 2, 1], port)),
        }
    }

    #[test]
    fn lowest_free_address_first_and_reused_after_release() {
        let p = pool([10, 0, 0, 1], [10, 0, 0, 3]);
        let mut l = Leases::default();
        let a = l.acquire(&p, client("a", 1), IkeSaId(1), None).unwrap();
        let b = l.acquire(&p, client("b", 2), IkeSaId(2), None).unwrap();
        let c = l.acquire(&p, client("c", 3), IkeSaId(3), None).unwrap();
        assert_eq!(
            [a, b, c],
            [
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                Ipv4Addr::new(10, 0, 0, 3)
            ]
        );
        let e = l.acquire(&p, client("d", 4), IkeSaId(4), None).unwrap_err();
        assert!(
            matches!(e, ModeConfigRefusal::PoolExhausted { size: 3, .. }),
            "{e:?}"
        );
        assert_eq!(l.release_sa(IkeSaId(2)), Some(b));
        assert_eq!(l.acquire(&p, client("d", 4), IkeSaId(4), None), Ok(b));
        assert_eq!(l.holder(b).map(|c| c.user.as_str()), Some("d"));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn a_client_reauthenticating_keeps_its_address_until_its_last_sa_goes() {
        let p = pool([10, 0, 0, 1], [10, 0, 0, 9]);
        let mut l = Leases::default();
        let a = l.acquire(&p, client("a", 1), IkeSaId(1), None).unwrap();
        assert_eq!(l.acquire(&p, client("a", 1), IkeSaId(7), None), Ok(a));
        // The same user from another source is another client.
        assert_ne!(l.acquire(&p, client("a", 2), IkeSaId(8), None), Ok(a));
        assert_eq!(l.release_sa(IkeSaId(1)), None);
        assert_eq!(l.of_sa(IkeSaId(7)), Some(a));
        assert_eq!(l.release_sa(IkeSaId(7)), Some(a));
        assert_eq!(l.release_sa(IkeSaId(7)), None);
        assert_eq!(l.of_sa(IkeSaId(7)), None);
    }

    #[test]
    fn a_rekeyed_sa_of_the_same_client_adopts_its_lease() {
        let p = pool([10, 0, 0, 1], [10, 0, 0, 9]);
        let mut l = Leases::default();
        let a = l.acquire(&p, client("a", 1), IkeSaId(1), None).unwrap();
        let from = client("a", 1).from;
        assert_eq!(l.adopt(IkeSaId(2), "G", from), Some(a));
        assert_eq!(l.adopt(IkeSaId(3), "other", from), None);
        assert_eq!(l.adopt(IkeSaId(4), "G", client("a", 2).from), None);
        assert_eq!(l.release_sa(IkeSaId(1)), None);
        assert_eq!(l.release_sa(IkeSaId(2)), Some(a));
    }

    #[test]
    fn max_users_counts_clients_not_sas() {
        let p = pool([10, 0, 0, 1], [10, 0, 0, 9]);
        let mut l = Leases::default();
        l.acquire(&p, client("a", 1), IkeSaId(1), Some(1)).unwrap();
        l.acquire(&p, client("a", 1), IkeSaId(2), Some(1)).unwrap();
        let e = l
            .acquire(&p, client("b", 2), IkeSaId(3), Some(1))
            .unwrap_err();
        assert!(matches!(e, ModeConfigRefusal::MaxUsers { max: 1, .. }));
        l.release_sa(IkeSaId(1));
        l.release_sa(IkeSaId(2));
        assert!(l.acquire(&p, client("b", 2), IkeSaId(3), Some(1)).is_ok());
    }

    #[test]
    fn gaps_and_ranges_are_walked_in_order() {
        let p = LocalPool {
            name: "P".into(),
            ranges: vec![
                (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)),
                (Ipv4Addr::new(10, 0, 1, 255), Ipv4Addr::new(10, 0, 2, 0)),
            ],
        };
        let mut l = Leases::default();
        let got: Vec<_> = (0..4)
            .map(|i| {
                l.acquire(&p, client("u", i), IkeSaId(u32::from(i)), None)
                    .unwrap()
            })
            .collect();
        assert_eq!(got[2], Ipv4Addr::new(10, 0, 1, 255));
        assert_eq!(got[3], Ipv4Addr::new(10, 0, 2, 0));
        l.release_sa(IkeSaId(0));
        assert_eq!(
            l.acquire(&p, client("v", 9), IkeSaId(9), None),
            Ok(Ipv4Addr::new(10, 0, 0, 1))
        );
    }

    #[test]
    fn an_ipsec_sa_holds_the_lease_after_the_isakmp_sa() {
        let p = pool([10, 0, 0, 1], [10, 0, 0, 2]);
        let mut l = Leases::default();
        let a = l.acquire(&p, client("a", 1), IkeSaId(1), None).unwrap();
        l.hold_child(ChildId(7), a);
        // An address nobody leased is not held by a child.
        l.hold_child(ChildId(8), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(l.release_child(ChildId(8)), None);
        assert_eq!(l.release_sa(IkeSaId(1)), None);
        assert_eq!(l.len(), 1);
        // Another client cannot be given the address the pair still carries.
        assert_eq!(
            l.acquire(&p, client("b", 2), IkeSaId(2), None),
            Ok(Ipv4Addr::new(10, 0, 0, 2))
        );
        assert_eq!(l.release_child(ChildId(7)), Some(a));
        assert_eq!(l.release_child(ChildId(7)), None);
        assert_eq!(l.len(), 1);
        assert_eq!(l.acquire(&p, client("c", 3), IkeSaId(3), None), Ok(a));
    }
}
