//! The evidence of a refused negotiation as plain Python data (`NegotiationFailed.evidence`), so
//! scripts read the attribute and both values instead of parsing the error's text.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use ipsec_proto::ike::{
    Error, EspTransform, PeerIncompatible, PeerMisbehaved, Phase1Attribute, Phase1Difference,
    Phase1Mismatch, ProposalEvidence, Unoffered,
};

use crate::endpoint::selector;

fn attribute_name(a: Phase1Attribute) -> &'static str {
    match a {
        Phase1Attribute::Encryption => "encryption",
        Phase1Attribute::Hash => "hash",
        Phase1Attribute::Authentication => "authentication",
        Phase1Attribute::Group => "group",
        _ => "other",
    }
}

/// `(offered, ours)` in the words of the error text (`"AES-256"`, `"3DES"`); `offered` is
/// `None` when our policy itself is what we cannot run.
fn values(d: &Phase1Difference) -> (Option<String>, String) {
    match d {
        Phase1Difference::Encryption { offered, ours } => {
            (Some(offered.to_string()), ours.to_string())
        }
        Phase1Difference::Hash { offered, ours } => (Some(offered.to_string()), ours.to_string()),
        Phase1Difference::Authentication { offered, ours } => {
            (Some(offered.to_string()), ours.to_string())
        }
        Phase1Difference::Group { offered, ours } => (Some(offered.to_string()), ours.to_string()),
        other => (None, other.to_string()),
    }
}

fn phase1_mismatch<'py>(py: Python<'py>, m: &Phase1Mismatch) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (offered, ours) = values(&m.difference);
    d.set_item("transform", m.transform)?;
    d.set_item("policy", m.policy)?;
    d.set_item("attribute", attribute_name(m.attribute()))?;
    d.set_item("offered", offered)?;
    d.set_item("ours", ours)?;
    d.set_item("text", m.to_string())?;
    Ok(d)
}

fn esp_transform<'py>(py: Python<'py>, t: &EspTransform) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("transform_id", t.transform_id)?;
    d.set_item("key_bits", t.key_bits)?;
    d.set_item("auth", t.auth)?;
    d.set_item("encapsulation", t.encapsulation)?;
    d.set_item("pfs_group", t.pfs_group)?;
    d.set_item("text", t.to_string())?;
    Ok(d)
}

/// The evidence dict of `e` (its `kind` says which of the shapes below), `None` when the error
/// carries none.
pub(crate) fn evidence<'py>(py: Python<'py>, e: &Error) -> PyResult<Option<Bound<'py, PyDict>>> {
    let d = PyDict::new(py);
    match e {
        Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(ProposalEvidence::Phase1(
            p,
        ))) => {
            d.set_item("kind", "phase1")?;
            let m: PyResult<Vec<_>> = p.mismatches().map(|m| phase1_mismatch(py, m)).collect();
            d.set_item("mismatches", m?)?;
        }
        Error::PeerIncompatible(PeerIncompatible::NoProposalChosen(ProposalEvidence::Phase2(
            p,
        ))) => {
            d.set_item("kind", "phase2")?;
            let offered: PyResult<Vec<_>> = p.offered().map(|t| esp_transform(py, t)).collect();
            d.set_item("offered", offered?)?;
            let ours: Vec<(String, String)> = p
                .ours
                .iter()
                .map(|t| (t.name.clone(), t.display_transforms()))
                .collect();
            d.set_item("ours", ours)?;
        }
        Error::PeerIncompatible(PeerIncompatible::Pfs(p)) => {
            d.set_item("kind", "pfs")?;
            d.set_item("ours", p.ours())?;
            d.set_item("theirs", p.theirs())?;
        }
        Error::PeerIncompatible(PeerIncompatible::ProxyIdentities(p)) => {
            d.set_item("kind", "proxy_identities")?;
            d.set_item("proposed_local", selector(&p.proposed_local))?;
            d.set_item("proposed_remote", selector(&p.proposed_remote))?;
            let ours: Vec<_> = p
                .ours
                .iter()
                .map(|s| (selector(&s.local), selector(&s.remote)))
                .collect();
            d.set_item("ours", ours)?;
        }
        Error::PeerMisbehaved(PeerMisbehaved::ChoseUnoffered(u)) => {
            d.set_item("kind", "chose_unoffered")?;
            match u {
                Unoffered::Phase2(t) => d.set_item("chosen", esp_transform(py, t)?)?,
                other => d.set_item("chosen", other.to_string())?,
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(d))
}
