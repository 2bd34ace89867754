//! Secondary indexes: sets of ids under a key, for the lookups that must not scan every tunnel.
//!
//! Nearly every key (a peer's address, a lineage) names one id, so a set of one is held inline
//! in the hash table's entry; only a key with several ids allocates a tree. With thousands of
//! tunnels and several indexes each, that is the difference between a few bytes and a few
//! hundred per tunnel.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Ids under one key, in order.
#[derive(Debug)]
enum Ids<V> {
    One(V),
    /// Boxed: the rare case should not make every entry of the table three words wider.
    #[allow(clippy::box_collection)]
    Many(Box<BTreeSet<V>>),
}

/// Sets of ids under a key, each in id order (oldest first when ids grow with time).
#[derive(Debug)]
pub(crate) struct Multi<K, V>(HashMap<K, Ids<V>>);

impl<K, V> Default for Multi<K, V> {
    fn default() -> Self {
        Multi(HashMap::new())
    }
}

impl<K: Hash + Eq + Copy, V: Ord + Copy> Multi<K, V> {
    /// Adds `id` under `k`.
    pub(crate) fn add(&mut self, k: K, id: V) {
        match self.0.get_mut(&k) {
            None => {
                self.0.insert(k, Ids::One(id));
            }
            Some(Ids::One(v)) if *v == id => {}
            Some(e @ Ids::One(_)) => {
                if let Ids::One(v) = *e {
                    *e = Ids::Many(Box::new([v, id].into_iter().collect()));
                }
            }
            Some(Ids::Many(s)) => {
                s.insert(id);
            }
        }
    }

    /// Removes `id` from under `k`.
    pub(crate) fn del(&mut self, k: K, id: V) {
        let Some(e) = self.0.get_mut(&k) else {
            return;
        };
        let (gone, single) = match e {
            Ids::One(v) => (*v == id, None),
            Ids::Many(s) => {
                s.remove(&id);
                let single = if s.len() == 1 {
                    s.first().copied()
                } else {
                    None
                };
                (s.is_empty(), single)
            }
        };
        if let Some(v) = single {
            *e = Ids::One(v);
        }
        if gone {
            self.0.remove(&k);
        }
    }

    /// The ids under `k`, in order.
    pub(crate) fn get(&self, k: &K) -> impl DoubleEndedIterator<Item = V> + '_ {
        let (one, many) = match self.0.get(k) {
            None => (None, None),
            Some(Ids::One(v)) => (Some(*v), None),
            Some(Ids::Many(s)) => (None, Some(s.iter().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// The greatest id under `k`.
    pub(crate) fn last(&self, k: &K) -> Option<V> {
        match self.0.get(k)? {
            Ids::One(v) => Some(*v),
            Ids::Many(s) => s.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_many_and_back() {
        let mut m: Multi<u8, u32> = Multi::default();
        m.add(1, 5);
        m.add(1, 5);
        assert_eq!(m.get(&1).collect::<Vec<_>>(), [5]);
        m.add(1, 3);
        m.add(1, 9);
        assert_eq!(m.get(&1).collect::<Vec<_>>(), [3, 5, 9]);
        assert_eq!(m.get(&1).next_back(), Some(9));
        assert_eq!(m.last(&1), Some(9));
        m.del(1, 5);
        m.del(1, 9);
        assert_eq!(m.get(&1).collect::<Vec<_>>(), [3]);
        m.del(1, 3);
        assert_eq!(m.get(&1).count(), 0);
        assert!(m.0.is_empty());
        m.del(2, 1);
        assert_eq!(m.last(&2), None);
    }
}
