//! Fuzz-target body for the endpoint, shared by `fuzz/fuzz_targets/ike_endpoint.rs` and the
//! corpus replay in `ipsec-proto/tests/ike_robustness.rs`.
//!
//! An honest initiator and an honest responder negotiate while the fuzz input plays the network:
//! every datagram in flight is delivered, dropped, duplicated, corrupted or replaced by input
//! bytes, and time jumps as the input says. Real messages get the state machines deep into
//! Main Mode and Quick Mode, so corruption lands on every handler. The body panics only when an
//! invariant breaks: a deadline that stays in the past after `handle_timeout`, or unbounded state.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{Endpoint, EndpointConfig, Path, PeerConfig, PeerId, SelectorPair};
use crate::policy::acl::TrafficSelector;
use crate::policy::ipsec::{EspEncryption, EspIntegrity, EspMode, TransformSet};
use crate::policy::isakmp::{IkeAuth, IkeEncryption, IkeHash, IsakmpPolicy, PskSecret};
use crate::rng::Rng;
use crate::time::Instant;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn config(peer: Ipv4Addr, local: [u8; 4], remote: [u8; 4]) -> EndpointConfig {
    let mut p = PeerConfig::new(peer, PskSecret::new(b"fuzz".to_vec()));
    p.isakmp_policies = vec![IsakmpPolicy {
        priority: 1,
        encryption: IkeEncryption::TripleDes,
        hash: IkeHash::Sha1,
        authentication: IkeAuth::PreShare,
        // The smallest group keeps each run cheap.
        group: 1,
        lifetime_secs: 600,
    }];
    p.transform_sets = vec![TransformSet {
        name: "T".into(),
        esp_encryption: EspEncryption::TripleDes,
        esp_integrity: EspIntegrity::Sha1,
        mode: EspMode::Tunnel,
    }];
    p.lifetime_secs = 300;
    let mask = Ipv4Addr::new(255, 255, 255, 0);
    p.selectors = vec![SelectorPair {
        local: TrafficSelector::subnet(Ipv4Addr::from(local), mask),
        remote: TrafficSelector::subnet(Ipv4Addr::from(remote), mask),
    }];
    EndpointConfig {
        peers: vec![p],
        half_open_limit: 8,
        ..EndpointConfig::default()
    }
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }
}

fn drain(
    ep: &mut Endpoint,
    now: Instant,
    to_b: bool,
    q: &mut VecDeque<(bool, Path, Vec<u8>)>,
) -> usize {
    let mut buf = vec![0u8; 16384];
    while let Ok(Some(t)) = ep.poll_transmit(now, &mut buf) {
        let (me, peer) = if to_b { (A, B) } else { (B, A) };
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(peer), t.path.remote.port()),
            remote: SocketAddr::new(IpAddr::V4(me), t.path.local.port()),
        };
        q.push_back((to_b, path, buf.get(..t.len).unwrap_or(&[]).to_vec()));
    }
    let mut p2 = 0;
    while let Some(e) = ep.poll_event() {
        if matches!(e, super::Event::Phase2Established(_)) {
            p2 += 1;
        }
    }
    p2
}

fn check_deadline(ep: &Endpoint, now: Instant) {
    assert!(
        ep.poll_timeout().is_none_or(|t| t > now),
        "deadline stays in the past after handle_timeout"
    );
}

/// Runs one negotiation with the network controlled by `data`; returns how many IPsec SA pairs
/// the two sides announced (so tests can check that inputs reach Quick Mode).
pub fn endpoint_pair(data: &[u8]) -> usize {
    let mut input = Bytes(data);
    let mut a = Endpoint::new(
        config(B, [192, 168, 1, 0], [192, 168, 2, 0]),
        Rng::from_u64(1),
    );
    let mut b = Endpoint::new(
        config(A, [192, 168, 2, 0], [192, 168, 1, 0]),
        Rng::from_u64(2),
    );
    let mut now = Instant::from_millis(0);
    let _ = a.initiate(now, PeerId(0), 0);
    let mut q: VecDeque<(bool, Path, Vec<u8>)> = VecDeque::new();
    let mut p2 = 0;
    for _ in 0..400 {
        p2 += drain(&mut a, now, true, &mut q);
        p2 += drain(&mut b, now, false, &mut q);
        let Some(op) = input.next() else { break };
        match op % 8 {
            // Let time pass up to the next deadline (or by the amount the input says).
            0 => {
                let step = u64::from(input.next().unwrap_or(0)) * 100;
                let next = [a.poll_timeout(), b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(now + Duration::from_millis(step));
                now = next.max(now + Duration::from_millis(step));
                a.handle_timeout(now);
                b.handle_timeout(now);
                check_deadline(&a, now);
                check_deadline(&b, now);
            }
            1 => {
                q.pop_front();
            }
            2 => {
                if let Some(d) = q.front().cloned() {
                    q.push_back(d);
                }
            }
            3 => {
                // Corrupt one byte of the next datagram.
                if let Some((_, _, bytes)) = q.front_mut() {
                    let at = usize::from(input.next().unwrap_or(0)) * bytes.len() / 256;
                    let x = input.next().unwrap_or(1) | 1;
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= x;
                    }
                }
            }
            4 => {
                // Replace the next datagram's tail by input bytes.
                let n = usize::from(input.next().unwrap_or(0));
                let tail = input.take(n).to_vec();
                if let Some((_, _, bytes)) = q.front_mut() {
                    let keep = bytes
                        .len()
                        .saturating_sub(tail.len())
                        .max(28.min(bytes.len()));
                    bytes.truncate(keep);
                    bytes.extend_from_slice(&tail);
                }
            }
            5 => {
                // Reorder.
                if q.len() > 1 {
                    q.swap(0, 1);
                }
            }
            _ => {
                if let Some((to_b, path, bytes)) = q.pop_front() {
                    if to_b {
                        b.handle_datagram(now, path, &bytes);
                    } else {
                        a.handle_datagram(now, path, &bytes);
                    }
                }
            }
        }
        assert!(a.isakmp_sas(now).len() <= 16 && b.isakmp_sas(now).len() <= 16);
        assert!(a.ipsec_sas(now).len() <= 16 && b.ipsec_sas(now).len() <= 16);
    }
    p2 += drain(&mut a, now, true, &mut q);
    p2 += drain(&mut b, now, false, &mut q);
    p2
}
