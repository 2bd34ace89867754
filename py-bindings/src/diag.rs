//! The troubleshooting diagnosis ([`ipsec_proto::diagnose`]) over the endpoint's state and
//! the history its wrapper records; verdicts cross as plain tuples that `ipsec.diagnose`
//! turns into frozen dataclasses.

use pyo3::prelude::*;

use ipsec_proto::diagnose::{self, Cause, Verdict};
use ipsec_proto::ike::ChildId;

use crate::config::Configuration;
use crate::endpoint::Endpoint;
use crate::instant;
use crate::show::EspPairs;

/// `(peer, cause, summary, evidence, check, verify)`; `peer` is `None` for configuration
/// findings.
pub(crate) type VerdictTuple = (
    Option<String>,
    &'static str,
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

/// The value of `ipsec.Cause` for a cause (kebab case, stable across releases).
pub(crate) fn cause_name(c: Cause) -> &'static str {
    match c {
        Cause::Healthy => "healthy",
        Cause::NotTriggered => "not-triggered",
        Cause::PeerUnreachable => "peer-unreachable",
        Cause::Phase1RefusedByPeer => "phase1-refused-by-peer",
        Cause::Phase1RefusedByUs => "phase1-refused-by-us",
        Cause::OneWayUdp500 => "one-way-udp500",
        Cause::PskMismatch => "psk-mismatch",
        Cause::StuckKeyExch => "stuck-key-exch",
        Cause::Udp4500Filtered => "udp4500-filtered",
        Cause::NoKey => "no-key",
        Cause::ProxyIdMismatch => "proxy-id-mismatch",
        Cause::TransformMismatch => "transform-mismatch",
        Cause::PfsMismatch => "pfs-mismatch",
        Cause::Phase2RefusedByPeer => "phase2-refused-by-peer",
        Cause::Phase2NoReply => "phase2-no-reply",
        Cause::OneWayOutbound => "one-way-outbound",
        Cause::OneWayInbound => "one-way-inbound",
        Cause::DecryptFailures => "decrypt-failures",
        Cause::ReplayFailures => "replay-failures",
        Cause::InvalidSpi => "invalid-spi",
        Cause::NatNotFloating => "nat-not-floating",
        Cause::Mtu => "mtu",
        Cause::Config => "config",
        Cause::InProgress => "in-progress",
        Cause::UnknownPeer => "unknown-peer",
        Cause::IdentityMismatch => "identity-mismatch",
        Cause::XauthFailed => "xauth-failed",
        Cause::ModeConfig => "mode-config",
        Cause::CertificateRefused => "certificate-refused",
        // A cause added to the core later than this binding.
        _ => "other",
    }
}

/// Every value `cause_name` can return (the Python enum is checked against it).
pub(crate) const CAUSES: [&str; 30] = [
    "healthy",
    "not-triggered",
    "peer-unreachable",
    "phase1-refused-by-peer",
    "phase1-refused-by-us",
    "one-way-udp500",
    "psk-mismatch",
    "stuck-key-exch",
    "udp4500-filtered",
    "no-key",
    "proxy-id-mismatch",
    "transform-mismatch",
    "pfs-mismatch",
    "phase2-refused-by-peer",
    "phase2-no-reply",
    "one-way-outbound",
    "one-way-inbound",
    "decrypt-failures",
    "replay-failures",
    "invalid-spi",
    "nat-not-floating",
    "mtu",
    "config",
    "in-progress",
    "unknown-peer",
    "identity-mismatch",
    "xauth-failed",
    "mode-config",
    "certificate-refused",
    "other",
];

pub(crate) fn tuple(v: Verdict) -> VerdictTuple {
    (
        v.peer.map(|p| p.to_string()),
        cause_name(v.cause),
        v.summary,
        v.evidence,
        v.check,
        v.verify,
    )
}

impl Endpoint {
    pub(crate) fn verdicts(
        &self,
        now: f64,
        configuration: Option<&Configuration>,
        esp: Option<EspPairs<'_>>,
        path_mtu: u16,
    ) -> PyResult<Vec<Verdict>> {
        let now = instant(now)?;
        let esp = esp.unwrap_or_default();
        let stats = |c: ChildId| esp.get(&c.0).map(|(i, o)| (i.esp_stats(), o.esp_stats()));
        let map = |i: usize| {
            self.meta
                .get(i)
                .map(|m| format!("{} {}", m.map, m.seq))
                .unwrap_or_default()
        };
        Ok(self.rec.diagnose(
            now,
            &self.ep,
            configuration.map(|c| &c.gateway),
            &stats,
            path_mtu,
            &map,
        ))
    }
}

/// Configuration findings (a missing NAT exemption, a crypto ACL that is no mirror image, ...)
/// as verdict tuples with peer `None`.
#[pyfunction]
pub(crate) fn diagnose_config(configuration: PyRef<'_, Configuration>) -> Vec<VerdictTuple> {
    diagnose::diagnose_config(&configuration.gateway)
        .into_iter()
        .map(tuple)
        .collect()
}

/// The values of `ipsec.Cause`.
#[pyfunction]
pub(crate) fn diagnose_causes() -> Vec<&'static str> {
    CAUSES.to_vec()
}
