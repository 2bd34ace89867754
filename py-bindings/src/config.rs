//! `Configuration`: IOS configuration text, parsed once, and its mapping onto the endpoint's
//! peers (one peer per crypto map entry).

use std::net::Ipv4Addr;
use std::time::Duration;

use pyo3::prelude::*;

use ipsec_proto::ike::{EndpointConfig, PeerConfig, SelectorPair};
use ipsec_proto::ios;
use ipsec_proto::ios::config::Origins;
use ipsec_proto::ios::show::{
    show_crypto_ipsec_transform_set, show_crypto_isakmp_policy, show_crypto_map, IosFlavor,
};
use ipsec_proto::policy::{AclAction, GatewayConfig};

use crate::error;

/// Where a peer of the endpoint comes from in the configuration (for show output).
#[derive(Clone, Debug)]
pub(crate) struct PeerMeta {
    pub map: String,
    pub seq: u16,
    pub interface: Option<String>,
    pub local: Option<Ipv4Addr>,
}

pub(crate) fn flavor(name: &str) -> PyResult<IosFlavor> {
    match name {
        "12.4" => Ok(IosFlavor::V12_4),
        "12.4T" => Ok(IosFlavor::V12_4T),
        "15" => Ok(IosFlavor::V15),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "flavor must be '12.4', '12.4T' or '15', got {name:?}"
        ))),
    }
}

/// A gateway configuration parsed from IOS text (`crypto isakmp policy`, `crypto isakmp key`,
/// `crypto ipsec transform-set`, `crypto map`, access lists, interfaces).
#[pyclass(module = "ipsec._native", frozen)]
pub struct Configuration {
    pub(crate) gateway: GatewayConfig,
    origins: Origins,
    warnings: Vec<String>,
}

impl Configuration {
    /// The endpoint configuration: one peer per complete crypto map entry, in map/sequence
    /// order; the crypto ACL's permit lines become the peer's selectors.
    pub(crate) fn endpoint_config(
        &self,
        py: Python<'_>,
    ) -> PyResult<(EndpointConfig, Vec<PeerMeta>)> {
        let g = &self.gateway;
        let bad = |msg: String| error(py, "ConfigurationError", msg);
        let mut peers = Vec::new();
        let mut meta = Vec::new();
        for e in &g.crypto_maps {
            let what = format!("crypto map {} {}", e.map, e.seq);
            let Some(addr) = e.current_peer() else {
                return Err(bad(format!("{what}: no set peer")));
            };
            let key = g
                .key_for(addr)
                .ok_or_else(|| bad(format!("{what}: no crypto isakmp key for peer {addr}")))?;
            let mut p = PeerConfig::new(addr, key.key.clone());
            p.isakmp_policies = g.effective_isakmp_policies();
            for name in &e.transform_sets {
                let ts = g
                    .transform_set(name)
                    .ok_or_else(|| bad(format!("{what}: transform set {name} does not exist")))?;
                p.transform_sets.push(ts.clone());
            }
            if p.transform_sets.is_empty() {
                return Err(bad(format!("{what}: no set transform-set")));
            }
            p.pfs_group = e.pfs_group;
            p.lifetime_secs = e.lifetime_secs.unwrap_or(g.ipsec.sa_lifetime_secs);
            p.lifetime_kb = e.lifetime_kb.unwrap_or(g.ipsec.sa_lifetime_kb);
            let acl_name = e
                .acl
                .as_ref()
                .ok_or_else(|| bad(format!("{what}: no match address")))?;
            let acl = g
                .access_list(acl_name)
                .ok_or_else(|| bad(format!("{what}: access list {acl_name} does not exist")))?;
            for entry in acl.entries.iter().filter(|x| x.action == AclAction::Permit) {
                let (local, remote) = entry.to_selectors().ok_or_else(|| {
                    bad(format!(
                        "{what}: access list {acl_name} line {} cannot be a proxy identity",
                        entry.seq
                    ))
                })?;
                p.selectors.push(SelectorPair { local, remote });
            }
            let iface = g
                .interfaces
                .iter()
                .find(|i| i.crypto_map.as_deref() == Some(e.map.as_str()));
            p.local_address = iface.and_then(|i| i.address.map(|a| a.0));
            meta.push(PeerMeta {
                map: e.map.clone(),
                seq: e.seq,
                interface: iface.map(|i| i.name.clone()),
                local: p.local_address,
            });
            peers.push(p);
        }
        let cfg = EndpointConfig {
            peers,
            nat_traversal: g.ipsec.nat_t,
            nat_keepalive: g
                .ipsec
                .nat_keepalive_secs
                .map(|s| Duration::from_secs(u64::from(s))),
            dpd: g.ipsec.dpd,
            ..EndpointConfig::default()
        };
        Ok((cfg, meta))
    }
}

#[pymethods]
impl Configuration {
    /// Parses IOS configuration text. Raises `ConfigurationError` (a `ValueError`) with the
    /// line and column of the first line that cannot be accepted.
    #[staticmethod]
    fn from_ios(py: Python<'_>, text: &str) -> PyResult<Configuration> {
        let parsed =
            ios::parse(text).map_err(|e| error(py, "ConfigurationError", e.to_string()))?;
        Ok(Configuration {
            gateway: parsed.config,
            origins: parsed.origins,
            warnings: parsed.warnings.iter().map(|w| w.to_string()).collect(),
        })
    }

    /// Commands that were recognised but have no effect here.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The configuration as canonical running-config text.
    fn render(&self) -> String {
        ios::render(&self.gateway)
    }

    /// Dangling references and out-of-range values.
    fn validate(&self) -> Vec<String> {
        self.gateway
            .validate()
            .iter()
            .map(|w| w.to_string())
            .collect()
    }

    /// Lints for the classic LAN-to-LAN mistakes, worded for a network engineer.
    fn check(&self) -> Vec<String> {
        ios::check(&self.gateway, Some(&self.origins))
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    /// The endpoint's peers: `(address, crypto map, sequence)` per peer index.
    #[getter]
    fn peers(&self, py: Python<'_>) -> PyResult<Vec<(String, String, u16)>> {
        let (cfg, meta) = self.endpoint_config(py)?;
        Ok(cfg
            .peers
            .iter()
            .zip(meta)
            .map(|(p, m)| (p.address.to_string(), m.map, m.seq))
            .collect())
    }

    /// `show crypto isakmp policy`.
    fn show_crypto_isakmp_policy(&self) -> String {
        show_crypto_isakmp_policy(&self.gateway)
    }

    /// `show crypto ipsec transform-set`.
    fn show_crypto_ipsec_transform_set(&self) -> String {
        show_crypto_ipsec_transform_set(&self.gateway)
    }

    /// `show crypto map` (`flavor`: `"12.4"`, `"12.4T"` or `"15"`).
    #[pyo3(signature = (*, flavor="12.4T"))]
    fn show_crypto_map(&self, flavor: &str) -> PyResult<String> {
        let f = self::flavor(flavor)?;
        Ok(show_crypto_map(&self.gateway, f, &|_, _| None))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Configuration hostname={:?} crypto_map_entries={}>",
            self.gateway.hostname,
            self.gateway.crypto_maps.len()
        )
    }
}
