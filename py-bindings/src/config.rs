//! `Configuration`: IOS configuration text, parsed once, and its mapping onto the endpoint's
//! peers (one peer per crypto map entry).

use std::net::Ipv4Addr;

use pyo3::prelude::*;

use ipsec_proto::ike::{EndpointConfig, GatewayConfigIssue};
use ipsec_proto::ios;
use ipsec_proto::ios::config::Origins;
use ipsec_proto::ios::show::{
    show_crypto_ipsec_transform_set, show_crypto_isakmp_policy, show_crypto_map, IosFlavor,
};
use ipsec_proto::policy::GatewayConfig;

use crate::error;

/// `ConfigurationError` for IOS text that does not parse, with the message `line L, column
/// C: reason` and the attributes `line` and `column` (1-based).
pub(crate) fn config_error(py: Python<'_>, e: &ios::ConfigError) -> PyErr {
    let err = error(py, "ConfigurationError", e.to_string());
    let value = err.value(py);
    // Attributes on the instance; a failure here (a RuntimeError fallback class that does not
    // take attributes) leaves the message, which carries the same facts.
    let _ = value.setattr("line", e.line);
    let _ = value.setattr("column", e.column);
    err
}

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
#[derive(Clone)]
pub struct Configuration {
    pub(crate) gateway: GatewayConfig,
    origins: Origins,
    warnings: Vec<String>,
}

impl Configuration {
    /// The crypto map an endpoint runs: `map` when given, else the one applied to the first
    /// interface that has one, else the first map configured.
    fn map_name(&self, map: Option<&str>) -> Option<String> {
        let g = &self.gateway;
        map.map(str::to_string)
            .or_else(|| g.interfaces.iter().find_map(|i| i.crypto_map.clone()))
            .or_else(|| g.crypto_maps.first().map(|e| e.map.clone()))
    }

    /// The endpoint configuration of one crypto map ([`EndpointConfig::from_gateway`]): one
    /// peer per entry in sequence order. An entry that cannot be used (no peer, no key, an
    /// unknown transform set) is an error rather than silently skipped, because skipping would
    /// shift every later peer index.
    pub(crate) fn endpoint_config(
        &self,
        py: Python<'_>,
        map: Option<&str>,
    ) -> PyResult<(EndpointConfig, Vec<PeerMeta>)> {
        let g = &self.gateway;
        let Some(map) = self.map_name(map) else {
            return Err(error(py, "ConfigurationError", "no crypto map configured"));
        };
        if g.crypto_map(&map).next().is_none() {
            return Err(error(
                py,
                "ConfigurationError",
                format!("crypto map {map} has no entries"),
            ));
        }
        let (cfg, seqs, issues) = EndpointConfig::from_gateway(g, &map);
        if !issues.is_empty() {
            let text: Vec<String> = issues
                .iter()
                .map(|i| match i {
                    GatewayConfigIssue::NoPeer { seq } => {
                        format!("crypto map {map} {seq}: no set peer")
                    }
                    GatewayConfigIssue::NoKey { seq, peer } => {
                        format!("crypto map {map} {seq}: no crypto isakmp key for peer {peer}")
                    }
                    GatewayConfigIssue::UnknownTransformSet { seq, name } => {
                        format!("crypto map {map} {seq}: transform set {name} does not exist")
                    }
                    other => format!("crypto map {map}: {other:?}"),
                })
                .collect();
            return Err(error(py, "ConfigurationError", text.join("; ")));
        }
        let iface = g
            .interfaces
            .iter()
            .find(|i| i.crypto_map.as_deref() == Some(map.as_str()));
        let meta = cfg
            .peers
            .iter()
            .zip(seqs)
            .map(|(p, seq)| PeerMeta {
                map: map.clone(),
                seq,
                interface: iface.map(|i| i.name.clone()),
                local: p.local_address,
            })
            .collect();
        Ok((cfg, meta))
    }
}

#[pymethods]
impl Configuration {
    /// Parses IOS configuration text. Raises `ConfigurationError` (a `ValueError`) with the
    /// line and column of the first line that cannot be accepted (in the message and as the
    /// attributes `line` and `column`).
    #[staticmethod]
    fn from_ios(py: Python<'_>, text: &str) -> PyResult<Configuration> {
        let parsed = ios::parse(text).map_err(|e| config_error(py, &e))?;
        Ok(Configuration {
            gateway: parsed.config,
            origins: parsed.origins,
            warnings: parsed.warnings.iter().map(|w| w.to_string()).collect(),
        })
    }

    /// This configuration with the private key of `rsakeypair label` (PKCS#1 or PKCS#8 PEM
    /// text): a running-config never holds one, so certificate authentication
    /// (`authentication rsa-sig`) needs it from the caller. Raises `ValueError` for a key that
    /// does not parse.
    fn with_rsa_key(&self, label: &str, pem: &str) -> PyResult<Configuration> {
        let key = ipsec_proto::pki::PrivateKey::from_pem(pem)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let mut c = self.clone();
        c.gateway.rsa_keys.insert(label.to_string(), key);
        Ok(c)
    }

    /// This configuration with a CRL (DER bytes) for trustpoint `trustpoint`
    /// (`revocation-check crl`). Raises `ValueError` for one that does not parse.
    fn with_crl(&self, trustpoint: &str, der: &[u8]) -> PyResult<Configuration> {
        ipsec_proto::pki::TrustStore::check_crl(der)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let mut c = self.clone();
        c.gateway
            .crls
            .entry(trustpoint.to_string())
            .or_default()
            .push(der.to_vec());
        Ok(c)
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

    /// The peers of an endpoint running crypto map `map` (default: the one on the first
    /// interface): `(address, crypto map, sequence)` per peer index.
    #[pyo3(signature = (map=None))]
    fn peers(&self, py: Python<'_>, map: Option<&str>) -> PyResult<Vec<(String, String, u16)>> {
        let (cfg, meta) = self.endpoint_config(py, map)?;
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
