//! The IOS show output of an `Endpoint`, through the endpoint-level builder of ipsec-proto
//! (`ipsec_proto::ike::show`), with the caller's ESP SAs and the crypto map metadata.

use std::collections::HashMap;

use pyo3::PyRef;

use ipsec_proto::ike::show::{self, CryptoMapShow, EndpointShow, EspPairFigures};
use ipsec_proto::ike::{IpsecSaInfo, PeerId};
use ipsec_proto::ios::show::IosFlavor;
use ipsec_proto::time::Instant;

use crate::endpoint::Endpoint;
use crate::esp::EspSa;

/// The caller's ESP SAs by child id: `(inbound, outbound)`.
pub(crate) type EspPairs<'py> = HashMap<u64, (PyRef<'py, EspSa>, PyRef<'py, EspSa>)>;

pub(crate) fn isakmp_sa(ep: &Endpoint, now: Instant, flavor: IosFlavor, detail: bool) -> String {
    show::isakmp_sa(&ep.ep, now, flavor, detail)
}

/// Runs `f` over the builder set up as this binding shows an endpoint: an interface block per
/// crypto map interface of the peers that have SAs (`(none)` without one), newest SA first,
/// and for a child in `esp` its real counters, lifetimes and replay window.
fn with_builder<T>(
    ep: &Endpoint,
    esp: &EspPairs<'_>,
    now: Instant,
    path_mtu: u16,
    f: impl FnOnce(&EndpointShow<'_>) -> T,
) -> T {
    let map = |peer: PeerId| {
        let meta = ep.meta.get(peer.0);
        CryptoMapShow {
            interface: meta
                .and_then(|m| m.interface.clone())
                .unwrap_or_else(|| "(none)".into()),
            map_tag: meta.map(|m| m.map.clone()).unwrap_or_default(),
            local_addr: meta.and_then(|m| m.local),
        }
    };
    let figures = |s: &IpsecSaInfo| match esp.get(&s.child.0) {
        Some((i, o)) => EspPairFigures {
            inbound: Some(i.esp_stats()),
            outbound: Some(o.esp_stats()),
            inbound_remaining: Some(i.remaining(now)),
            outbound_remaining: Some(o.remaining(now)),
            replay_window: Some(i.replay_window_size()),
        },
        None => EspPairFigures::default(),
    };
    f(&EndpointShow {
        endpoint: &ep.ep,
        map: &map,
        esp: &figures,
        path_mtu,
        newest_first: true,
        interfaces: Vec::new(),
    })
}

/// `show crypto ipsec sa [detail]`.
pub(crate) fn ipsec_sa(
    ep: &Endpoint,
    esp: &EspPairs<'_>,
    now: Instant,
    detail: bool,
    path_mtu: u16,
) -> String {
    with_builder(ep, esp, now, path_mtu, |b| b.ipsec_sa(now, detail))
}

/// `show crypto session [detail]`: one session per configured peer, one flow per crypto ACL
/// line, with the caller's ESP counters when `esp` has the pair.
pub(crate) fn crypto_session(
    ep: &Endpoint,
    now: Instant,
    esp: &EspPairs<'_>,
    detail: bool,
) -> String {
    with_builder(ep, esp, now, 1500, |b| b.crypto_session(now, detail))
}
