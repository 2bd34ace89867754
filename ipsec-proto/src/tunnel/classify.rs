//! Which crypto map entry protects an outbound packet, as IOS decides it (entries in sequence
//! order, the first matching line of an entry's ACL decides, `deny` passes the packet on to the
//! next entry), without trying every entry: an index by destination prefix names the entries
//! that can match at all, and the lowest-numbered one that permits wins. With one entry per
//! peer, the cost of a packet does not grow with the number of tunnels.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::policy::acl::{AclAction, AclEntry, FiveTuple};

use super::MapEntryInfo;

/// Entries by the destination prefixes of their ACL lines.
#[derive(Debug, Default)]
pub(super) struct Classifier {
    /// One map per prefix length that occurs: masked destination → entries with a line for it.
    by_prefix: Vec<(u32, HashMap<u32, Entries>)>,
    /// Entries with a line whose destination wildcard is not a prefix: always tried.
    always: Vec<usize>,
    /// Per entry whose ACL is a single line: that line, so a packet is decided without reading
    /// the entry (hub configurations have thousands of such entries, and each read is a cache
    /// miss once they no longer fit).
    single: Vec<Option<Single>>,
}

/// A one-line entry's line, and the flow it selects (`None`: the line is no proxy identity).
#[derive(Debug)]
struct Single {
    line: AclEntry,
    flow: Option<usize>,
}

/// The entries under one prefix: nearly always one, held inline.
#[derive(Debug)]
enum Entries {
    One(usize),
    Many(Vec<usize>),
}

impl Entries {
    fn push(&mut self, i: usize) {
        match self {
            Entries::One(e) if *e == i => {}
            Entries::One(e) => *self = Entries::Many(vec![*e, i]),
            Entries::Many(v) => {
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Entries::One(e) => core::slice::from_ref(e),
            Entries::Many(v) => v,
        }
    }
}

/// The prefix length of a contiguous IOS wildcard (`0.0.0.255` is /24), `None` otherwise.
fn prefix_len(wildcard: Ipv4Addr) -> Option<u32> {
    let w = u32::from(wildcard);
    // Contiguous: the wildcard is 2^k - 1.
    (w & w.wrapping_add(1) == 0).then(|| 32 - w.count_ones())
}

fn mask(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len).unwrap_or(0)
}

impl Classifier {
    /// The index of `entries`, whose flows start at `flow_base[i]`.
    pub(super) fn new(entries: &[MapEntryInfo], flow_base: &[usize]) -> Classifier {
        let mut c = Classifier {
            single: entries
                .iter()
                .enumerate()
                .map(|(i, e)| match e.acl.entries.as_slice() {
                    [only] => Some(Single {
                        line: only.clone(),
                        flow: e
                            .line_selector
                            .first()
                            .copied()
                            .flatten()
                            .and_then(|s| flow_base.get(i).map(|b| b + s)),
                    }),
                    _ => None,
                })
                .collect(),
            ..Classifier::default()
        };
        // A VTI's traffic is what is routed into it, never classified by ACL.
        for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.vti.is_none()) {
            for line in &e.acl.entries {
                match prefix_len(line.dst.wildcard) {
                    Some(len) => {
                        let key = u32::from(line.dst.addr) & mask(len);
                        let slot = match c.by_prefix.iter().position(|(l, _)| *l == len) {
                            Some(p) => p,
                            None => {
                                c.by_prefix.push((len, HashMap::new()));
                                c.by_prefix.len() - 1
                            }
                        };
                        if let Some((_, m)) = c.by_prefix.get_mut(slot) {
                            match m.get_mut(&key) {
                                Some(v) => v.push(i),
                                None => {
                                    m.insert(key, Entries::One(i));
                                }
                            }
                        }
                    }
                    None => {
                        if c.always.last() != Some(&i) {
                            c.always.push(i);
                        }
                    }
                }
            }
        }
        c
    }

    /// Entries that have at least one line whose destination covers `dst` (maybe repeated, in
    /// no particular order). Every other entry has no line matching the packet.
    fn candidates(&self, dst: Ipv4Addr) -> impl Iterator<Item = usize> + '_ {
        let d = u32::from(dst);
        self.by_prefix
            .iter()
            .filter_map(move |(len, m)| m.get(&(d & mask(*len))))
            .flat_map(Entries::as_slice)
            .chain(self.always.iter())
            .copied()
    }

    /// The flow of a one-line entry's line (`Some(None)`: not a proxy identity); `None` for an
    /// entry with several lines.
    pub(super) fn single_flow(&self, entry: usize) -> Option<Option<usize>> {
        self.single.get(entry)?.as_ref().map(|s| s.flow)
    }

    /// The entry that protects `t` and the index of the line that decided, `None` when no entry
    /// permits it.
    #[cfg(test)]
    pub(super) fn classify(
        &self,
        entries: &[MapEntryInfo],
        t: &FiveTuple,
    ) -> Option<(usize, usize)> {
        self.classify_after(entries, t, None)
    }

    /// [`Classifier::classify`] among the entries after `after` only (a dynamic entry
    /// without `match address` that no learned pair of which admits the packet passes it on,
    /// as a `deny` would).
    pub(super) fn classify_after(
        &self,
        entries: &[MapEntryInfo],
        t: &FiveTuple,
        after: Option<usize>,
    ) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for e in self.candidates(t.dst) {
            if best.is_some_and(|(b, _)| b <= e) || after.is_some_and(|a| e <= a) {
                continue;
            }
            if let Some(Some(one)) = self.single.get(e) {
                if one.line.matches(t) && one.line.action == AclAction::Permit {
                    best = Some((e, 0));
                }
                continue;
            }
            let Some(entry) = entries.get(e) else {
                continue;
            };
            let Some(line) = entry.acl.entries.iter().position(|l| l.matches(t)) else {
                continue;
            };
            let permit = entry
                .acl
                .entries
                .get(line)
                .is_some_and(|l| l.action == AclAction::Permit);
            // `deny`: not protected by this entry; IOS goes on with the next entry.
            if permit {
                best = Some((e, line));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    const CONFIG: &str = "\
crypto isakmp policy 1
 encr aes
 authentication pre-share
 group 14
crypto isakmp key k1 address 10.0.0.1
crypto isakmp key k2 address 10.0.0.2
crypto isakmp key k3 address 10.0.0.3
crypto ipsec transform-set T esp-aes esp-sha-hmac
access-list 101 deny ip 192.168.1.0 0.0.0.255 host 172.16.0.5
access-list 101 permit tcp 192.168.1.0 0.0.0.255 172.16.0.0 0.0.255.255 eq 22
access-list 101 permit ip 192.168.1.0 0.0.0.255 172.16.0.0 0.0.3.255
access-list 102 permit ip 192.168.1.0 0.0.0.255 172.16.0.0 0.0.0.255
access-list 102 deny ip any any
access-list 103 permit ip 192.168.1.0 0.0.0.255 172.16.0.0 0.1.0.255
access-list 103 permit ip 192.168.1.0 0.0.0.255 any
crypto map M 10 ipsec-isakmp
 set peer 10.0.0.1
 set transform-set T
 match address 101
crypto map M 20 ipsec-isakmp
 set peer 10.0.0.2
 set transform-set T
 match address 102
crypto map M 30 ipsec-isakmp
 set peer 10.0.0.3
 set transform-set T
 match address 103
interface GigabitEthernet0/0
 ip address 10.0.0.254 255.255.255.0
 crypto map M
";

    /// What IOS does, entry by entry.
    fn linear(entries: &[MapEntryInfo], t: &FiveTuple) -> Option<(usize, usize)> {
        for (i, e) in entries.iter().enumerate() {
            let Some(line) = e.acl.entries.iter().position(|l| l.matches(t)) else {
                continue;
            };
            if e.acl
                .entries
                .get(line)
                .is_some_and(|l| l.action == AclAction::Permit)
            {
                return Some((i, line));
            }
        }
        None
    }

    #[test]
    fn the_index_decides_as_the_entry_by_entry_scan() {
        let parsed = crate::ios::parse(CONFIG).unwrap();
        let built = super::super::build(&parsed.config, None).unwrap();
        assert_eq!(built.entries.len(), 3);
        let c = Classifier::new(&built.entries, &[]);
        assert!(
            !c.always.is_empty(),
            "the non-prefix wildcard is tried for every packet"
        );
        let mut rng = Rng::from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let t = FiveTuple {
                src: Ipv4Addr::new(192, 168, [1u8, 9][(rng.next_u32() % 2) as usize], 7),
                dst: Ipv4Addr::new(
                    172,
                    16 + (rng.next_u32() % 3) as u8,
                    (rng.next_u32() % 6) as u8,
                    (rng.next_u32() % 8) as u8,
                ),
                protocol: [1u8, 6, 17][(rng.next_u32() % 3) as usize],
                src_port: 1024,
                dst_port: [22u16, 80][(rng.next_u32() % 2) as usize],
            };
            let want = linear(&built.entries, &t);
            assert_eq!(c.classify(&built.entries, &t), want, "{t:?}");
            seen.insert(want);
        }
        // Every entry, a deny passing a packet on, and no match at all were exercised.
        assert!(seen.contains(&None));
        assert!(seen.contains(&Some((0, 1))) && seen.contains(&Some((0, 2))));
        assert!(seen.contains(&Some((1, 0))) && seen.contains(&Some((2, 0))));
        assert!(seen.contains(&Some((2, 1))));
    }

    #[test]
    fn contiguous_wildcards_are_prefixes() {
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 255)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 255, 0)), None);
        assert_eq!(mask(0), 0);
        assert_eq!(mask(24), 0xffff_ff00);
    }
}
