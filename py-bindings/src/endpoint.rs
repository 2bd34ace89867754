//! `Endpoint`: the sans-IO IKEv1 endpoint with aioquic's five calls.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use ipsec_proto::diagnose::EndpointRecorder;
use ipsec_proto::ike::{
    self, ChildId, DeleteReason, EndpointConfig, Error, Event, IkeSaId, IpsecSaInfo, PeerId,
    RetransmitConfig, Role,
};
use ipsec_proto::policy::{IkeEncryption, SelectorAddr, TrafficSelector};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;

use crate::config::{Configuration, PeerMeta};
use crate::esp::{ChildKeys, EspSa};
use crate::{error, error_value, instant, seconds};

/// Python exception class name for an endpoint error.
fn class_of(e: &Error) -> &'static str {
    match e {
        Error::InvalidMessage(_) => "MalformedError",
        Error::PeerMisbehaved(_) => "ProtocolError",
        Error::PeerIncompatible(_) => "PeerIncompatibleError",
        Error::AuthenticationFailed(_) => "AuthenticationError",
        Error::NotifyReceived(_) => "PeerNotifyError",
        Error::NoReply { .. } | Error::PeerStopped { .. } => "NoReplyError",
        Error::ApiMisuse(_) => "ValueError",
        _ => "IpsecError",
    }
}

fn raise(py: Python<'_>, e: Error) -> PyErr {
    match class_of(&e) {
        "ValueError" => PyValueError::new_err(e.to_string()),
        c => error(py, c, e.to_string()),
    }
}

fn error_object(py: Python<'_>, e: &Error) -> PyObject {
    match class_of(e) {
        "ValueError" => PyValueError::new_err(e.to_string())
            .into_value(py)
            .into_any(),
        c => error_value(py, c, e.to_string()),
    }
}

type Addr = (String, u16);

fn addr(a: SocketAddr) -> Addr {
    (a.ip().to_string(), a.port())
}

fn parse_addr(a: &Addr) -> PyResult<SocketAddr> {
    let ip: IpAddr =
        a.0.parse()
            .map_err(|_| PyValueError::new_err(format!("not an IP address: {:?}", a.0)))?;
    Ok(SocketAddr::new(ip, a.1))
}

fn reason(r: DeleteReason) -> &'static str {
    match r {
        DeleteReason::PeerDelete => "peer-delete",
        DeleteReason::LocalRequest => "local-request",
        DeleteReason::Expired => "expired",
        DeleteReason::Rekeyed => "rekeyed",
        DeleteReason::InitialContact => "initial-contact",
        DeleteReason::DpdTimeout => "dpd-timeout",
        DeleteReason::Idle => "idle",
        DeleteReason::XauthFailed => "xauth-failed",
        DeleteReason::ModeConfigRefused => "mode-config-refused",
        _ => "other",
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Initiator => "initiator",
        Role::Responder => "responder",
    }
}

/// `(network, protocol, first port, last port)`; network is `a.b.c.d/len`, or `first-last` for
/// a range.
pub(crate) fn selector(ts: &TrafficSelector) -> (String, u8, u16, u16) {
    let net = match ts.addr {
        SelectorAddr::Host(a) => format!("{a}/32"),
        SelectorAddr::Subnet { addr, mask } => {
            format!("{addr}/{}", u32::from(mask).leading_ones())
        }
        SelectorAddr::Range { start, end } => format!("{start}-{end}"),
    };
    (net, ts.protocol, ts.ports.start, ts.ports.end)
}

fn seconds_of(v: f64, what: &str) -> PyResult<Duration> {
    if !v.is_finite() || v < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds"
        )));
    }
    Ok(Duration::from_millis((v * 1000.0).round() as u64))
}

/// The IKEv1 endpoint. Inputs: `receive_datagram`, `handle_timer` and the commands; outputs:
/// `datagrams_to_send`, `get_timer`, `next_event`. Every `now` is float seconds from one
/// monotonic clock the caller owns.
#[pyclass(module = "ipsec._native")]
pub struct Endpoint {
    pub(crate) ep: ike::Endpoint,
    /// Seeds the IV generators of the ESP SAs built from this endpoint's events.
    esp_rng: Rng,
    pub(crate) meta: Vec<PeerMeta>,
    buf: Vec<u8>,
    /// The history `diagnose` reads, kept as the five calls run.
    pub(crate) rec: EndpointRecorder,
    /// Events taken from the endpoint (and recorded) but not yet handed to the caller.
    events: VecDeque<Event>,
}

impl Endpoint {
    /// Takes the endpoint's events into the queue, recording each with the states as they
    /// were when it happened.
    fn pump(&mut self, now: Instant) {
        self.rec.take_events(now, &mut self.ep, &mut self.events);
    }
}

#[pymethods]
impl Endpoint {
    #[new]
    #[pyo3(signature = (configuration, *, rng_seed, crypto_map=None, retransmit_initial=2.0, retransmit_max=32.0,
        retransmit_retries=5, retransmit_jitter_percent=10, half_open_limit=1024,
        rekey_margin=30.0, phase1_rekey_percent=90, send_unity_vid=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        configuration: &Configuration,
        rng_seed: &[u8],
        crypto_map: Option<&str>,
        retransmit_initial: f64,
        retransmit_max: f64,
        retransmit_retries: u32,
        retransmit_jitter_percent: u8,
        half_open_limit: usize,
        rekey_margin: f64,
        phase1_rekey_percent: u8,
        send_unity_vid: bool,
    ) -> PyResult<Self> {
        let seed: [u8; 32] = rng_seed
            .try_into()
            .map_err(|_| PyValueError::new_err("rng_seed must be exactly 32 bytes"))?;
        let (cfg, meta) = configuration.endpoint_config(py, crypto_map)?;
        let cfg = EndpointConfig {
            retransmit: RetransmitConfig {
                initial: seconds_of(retransmit_initial, "retransmit_initial")?,
                max: seconds_of(retransmit_max, "retransmit_max")?,
                max_retries: retransmit_retries,
                jitter_percent: retransmit_jitter_percent,
            },
            half_open_limit,
            rekey_margin: seconds_of(rekey_margin, "rekey_margin")?,
            phase1_rekey_percent,
            send_unity_vid,
            ..cfg
        };
        let mut rng = Rng::from_seed(seed);
        let esp_rng = rng.fork();
        Ok(Endpoint {
            ep: ike::Endpoint::new(cfg, rng),
            esp_rng,
            meta,
            buf: vec![0u8; 9000],
            rec: EndpointRecorder::new(),
            events: VecDeque::new(),
        })
    }

    /// Feeds one UDP payload received on port 500 or 4500 (with its non-ESP marker, if any).
    /// Malformed input is dropped and counted (`counters`), never raised: the peer is not
    /// trusted and a bad datagram must not stop the caller's loop. Returns why a datagram was
    /// dropped (`ike_unknown_sa`, ...), `None` when it was accepted.
    #[pyo3(signature = (data, *, local, remote, now))]
    fn receive_datagram(
        &mut self,
        data: &[u8],
        local: Addr,
        remote: Addr,
        now: f64,
    ) -> PyResult<Option<&'static str>> {
        let path = ike::Path {
            local: parse_addr(&local)?,
            remote: parse_addr(&remote)?,
        };
        let now = instant(now)?;
        // A NAT keepalive (one 0xFF byte) is no IKE message.
        if data != [0xff] {
            self.rec.ike_received(now, &path);
        }
        let verdict = self.ep.handle_datagram(now, path, data);
        self.pump(now);
        Ok(verdict.err().map(|d| d.code()))
    }

    /// Every queued datagram as `(payload, local, remote)`; the payload already carries the
    /// non-ESP marker when it goes to UDP 4500, so it is written to the socket as it is.
    #[pyo3(signature = (*, now))]
    fn datagrams_to_send<'py>(
        &mut self,
        py: Python<'py>,
        now: f64,
    ) -> PyResult<Vec<(Bound<'py, PyBytes>, Addr, Addr)>> {
        let now = instant(now)?;
        self.pump(now);
        let mut out = Vec::new();
        loop {
            match self.ep.poll_transmit(now, &mut self.buf) {
                Ok(None) => break,
                Ok(Some(t)) => {
                    let body = self.buf.get(..t.len).unwrap_or(&[]);
                    self.rec.ike_sent(now, &t.path, body);
                    let bytes = if t.non_esp_marker {
                        let mut v = Vec::with_capacity(t.len + 4);
                        v.extend_from_slice(&[0, 0, 0, 0]);
                        v.extend_from_slice(body);
                        PyBytes::new(py, &v)
                    } else {
                        PyBytes::new(py, body)
                    };
                    out.push((bytes, addr(t.path.local), addr(t.path.remote)));
                }
                Err(e) => self.buf.resize(e.needed, 0),
            }
        }
        Ok(out)
    }

    /// The absolute time at which `handle_timer` has work, or `None`.
    fn get_timer(&self) -> Option<f64> {
        self.ep.poll_timeout().map(seconds)
    }

    /// Runs retransmissions, lifetimes, rekeys, DPD and keepalives due at `now`.
    #[pyo3(signature = (*, now))]
    fn handle_timer(&mut self, now: f64) -> PyResult<()> {
        let now = instant(now)?;
        self.ep.handle_timeout(now);
        self.pump(now);
        Ok(())
    }

    /// The next event as `(kind, fields)`, or `None`; `ipsec.IkeEndpoint` turns it into a
    /// dataclass.
    fn next_event<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Option<(&'static str, Bound<'py, PyDict>)>> {
        if self.events.is_empty() {
            self.pump(self.rec.latest());
        }
        let Some(ev) = self.events.pop_front() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        let kind = match ev {
            Event::Phase1Established {
                sa,
                peer,
                role: r,
                path,
                nat,
            } => {
                d.set_item("sa", sa.0)?;
                d.set_item("peer", peer.0)?;
                d.set_item("role", role(r))?;
                d.set_item("local", addr(path.local))?;
                d.set_item("remote", addr(path.remote))?;
                d.set_item("nat_detected", nat.nat_detected())?;
                d.set_item("local_behind_nat", nat.local_behind_nat)?;
                d.set_item("remote_behind_nat", nat.remote_behind_nat)?;
                "Phase1Established"
            }
            Event::Phase1Deleted {
                sa,
                peer,
                reason: r,
            } => {
                d.set_item("sa", sa.0)?;
                d.set_item("peer", peer.0)?;
                d.set_item("reason", reason(r))?;
                "Phase1Deleted"
            }
            Event::Phase2Established(p) => {
                let p = *p;
                let keys = &p.keys;
                d.set_item("child", p.child.0)?;
                d.set_item("ike_sa", p.ike_sa.0)?;
                d.set_item("peer", p.peer.0)?;
                d.set_item("spi_in", keys.inbound.spi())?;
                d.set_item("spi_out", keys.outbound.spi())?;
                d.set_item("local_selector", selector(&p.selectors.local))?;
                d.set_item("remote_selector", selector(&p.selectors.remote))?;
                d.set_item("selector_index", p.selector_index)?;
                d.set_item("transform_set", p.transform.name.clone())?;
                d.set_item("transforms", p.transform.display_transforms())?;
                d.set_item("lifetime_secs", p.lifetime_secs)?;
                d.set_item("lifetime_kb", p.lifetime_kb)?;
                d.set_item(
                    "mode",
                    match p.mode {
                        ipsec_proto::policy::EspMode::Transport => "transport",
                        _ => "tunnel",
                    },
                )?;
                d.set_item("udp_encap", p.udp_encap)?;
                d.set_item("local", addr(p.path.local))?;
                d.set_item("remote", addr(p.path.remote))?;
                d.set_item("replaces", p.replaces.map(|c| c.0))?;
                let rng = self.esp_rng.fork();
                d.set_item("keys", Py::new(py, ChildKeys::new(p, rng))?)?;
                "Phase2Established"
            }
            Event::Phase2Expiring { child } => {
                d.set_item("child", child.0)?;
                "Phase2Expiring"
            }
            Event::Phase2Deleted {
                child,
                spi_in,
                spi_out,
                reason: r,
            } => {
                d.set_item("child", child.0)?;
                d.set_item("spi_in", spi_in)?;
                d.set_item("spi_out", spi_out)?;
                d.set_item("reason", reason(r))?;
                "Phase2Deleted"
            }
            Event::NegotiationFailed {
                peer,
                remote,
                phase,
                error,
            } => {
                d.set_item("peer", peer.map(|p| p.0))?;
                d.set_item("remote", addr(remote))?;
                d.set_item("phase", phase)?;
                d.set_item("error", error_object(py, &error))?;
                d.set_item("notify", error.notify_to_send().map(|n| n.to_string()))?;
                d.set_item("evidence", crate::evidence::evidence(py, &error)?)?;
                "NegotiationFailed"
            }
            Event::NotifyReceived {
                sa,
                notify,
                authenticated,
            } => {
                d.set_item("sa", sa.map(|s| s.0))?;
                d.set_item("notify", notify.to_string())?;
                d.set_item("notify_type", notify.0)?;
                d.set_item("authenticated", authenticated)?;
                "NotifyReceived"
            }
            Event::PathChanged { sa, old, new } => {
                d.set_item("sa", sa.0)?;
                d.set_item("old_local", addr(old.local))?;
                d.set_item("old_remote", addr(old.remote))?;
                d.set_item("local", addr(new.local))?;
                d.set_item("remote", addr(new.remote))?;
                "PathChanged"
            }
            Event::IsakmpStateChanged {
                sa,
                role: r,
                path,
                from,
                to,
                nat_t,
            } => {
                d.set_item("sa", sa.0)?;
                d.set_item("role", role(r))?;
                d.set_item("local", addr(path.local))?;
                d.set_item("remote", addr(path.remote))?;
                d.set_item("from_state", from.map(|s| s.name()))?;
                d.set_item("to_state", to.map(|s| s.name()))?;
                d.set_item("nat_t", nat_t)?;
                "Phase1StateChanged"
            }
            Event::PeerDead { sa, peer } => {
                d.set_item("sa", sa.0)?;
                d.set_item("peer", peer.0)?;
                "PeerDead"
            }
            other => {
                d.set_item("description", format!("{other:?}"))?;
                "Unknown"
            }
        };
        Ok(Some((kind, d)))
    }

    /// Starts negotiating the IPsec SA pair of crypto ACL line `selector` with peer `peer`
    /// (Main Mode first when needed).
    #[pyo3(signature = (peer, selector=0, *, now))]
    fn initiate(&mut self, py: Python<'_>, peer: usize, selector: usize, now: f64) -> PyResult<()> {
        let now = instant(now)?;
        let r = self
            .ep
            .initiate(now, PeerId(peer), selector)
            .map_err(|e| raise(py, e));
        self.pump(now);
        r
    }

    /// Deletes an IPsec SA pair (sends a Delete; a `Phase2Deleted` event follows).
    #[pyo3(signature = (child, *, now))]
    fn delete_child(&mut self, py: Python<'_>, child: u64, now: f64) -> PyResult<()> {
        let now = instant(now)?;
        let r = self
            .ep
            .delete_child(now, ChildId(child))
            .map_err(|e| raise(py, e));
        self.pump(now);
        r
    }

    /// Deletes an ISAKMP SA (its IPsec SAs stay, as IKEv1 wants).
    #[pyo3(signature = (sa, *, now))]
    fn delete_isakmp_sa(&mut self, py: Python<'_>, sa: u32, now: f64) -> PyResult<()> {
        let now = instant(now)?;
        let r = self
            .ep
            .delete_isakmp_sa(now, IkeSaId(sa))
            .map_err(|e| raise(py, e));
        self.pump(now);
        r
    }

    /// Starts a Quick Mode rekey of an IPsec SA pair now.
    #[pyo3(signature = (child, *, now))]
    fn rekey_child(&mut self, py: Python<'_>, child: u64, now: f64) -> PyResult<()> {
        let now = instant(now)?;
        let r = self
            .ep
            .rekey_child(now, ChildId(child))
            .map_err(|e| raise(py, e));
        self.pump(now);
        r
    }

    /// Tells the endpoint what the ESP SAs of `child` carried (drives volume rekey and
    /// on-demand DPD).
    #[pyo3(signature = (child, inbound, outbound, *, now))]
    fn report_esp_usage(
        &mut self,
        child: u64,
        inbound: PyRef<'_, EspSa>,
        outbound: PyRef<'_, EspSa>,
        now: f64,
    ) -> PyResult<()> {
        let (i, o) = (inbound.esp_usage(), outbound.esp_usage());
        self.ep.report_esp_activity(
            instant(now)?,
            ChildId(child),
            i.last_activity,
            o.last_activity,
            i.bytes.saturating_add(o.bytes),
        );
        Ok(())
    }

    /// Drop and error counters (`malformed`, `unknown_sa`, `duplicates`, ...).
    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.ep.counters();
        let d = PyDict::new(py);
        for (k, v) in [
            ("malformed", c.malformed),
            ("unknown_sa", c.unknown_sa),
            ("duplicates", c.duplicates),
            ("unexpected", c.unexpected),
            ("bad_hash", c.bad_hash),
            ("half_open_dropped", c.half_open_dropped),
            ("retransmissions", c.retransmissions),
            ("keepalives_received", c.keepalives_received),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// ISAKMP SAs as dicts (`conn_id`, `state`, `role`, `src`, `dst`, ...).
    #[pyo3(signature = (*, now))]
    fn isakmp_sas<'py>(&self, py: Python<'py>, now: f64) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let mut v = Vec::new();
        for s in self.ep.isakmp_sas(instant(now)?) {
            let d = PyDict::new(py);
            d.set_item("conn_id", s.conn_id)?;
            d.set_item("state", s.state.name())?;
            d.set_item("role", role(s.role))?;
            d.set_item("peer", s.peer.0)?;
            d.set_item("src", s.src.to_string())?;
            d.set_item("dst", s.dst.to_string())?;
            d.set_item("local", addr(s.path.local))?;
            d.set_item("remote", addr(s.path.remote))?;
            let (encryption, key_bits) = match s.encryption {
                Some(IkeEncryption::Aes { bits }) => (Some("aes".to_string()), Some(bits)),
                Some(other) => (Some(other.ios_keyword()), None),
                None => (None, None),
            };
            d.set_item("encryption", encryption)?;
            d.set_item("key_bits", key_bits)?;
            d.set_item("hash", s.hash.map(|h| h.ios_keyword()))?;
            d.set_item("auth", s.auth.map(|a| a.ios_keyword()))?;
            d.set_item("group", s.group)?;
            d.set_item("remaining_secs", s.remaining_secs)?;
            d.set_item("dpd", s.dpd)?;
            d.set_item("nat_t", s.nat_t)?;
            v.push(d);
        }
        Ok(v)
    }

    /// IPsec SA pairs as dicts (`child`, `spi_in`, `spi_out`, selectors, ...).
    #[pyo3(signature = (*, now))]
    fn ipsec_sas<'py>(&self, py: Python<'py>, now: f64) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let mut v = Vec::new();
        for s in self.ep.ipsec_sas(instant(now)?) {
            v.push(ipsec_sa_dict(py, &s)?);
        }
        Ok(v)
    }

    /// `show crypto isakmp sa` (`flavor`: `"12.4"`, `"12.4T"` or `"15"`) or, with
    /// `detail=True`, `show crypto isakmp sa detail`.
    #[pyo3(signature = (*, now, detail=false, flavor="12.4T"))]
    fn show_crypto_isakmp_sa(&self, now: f64, detail: bool, flavor: &str) -> PyResult<String> {
        let f = crate::config::flavor(flavor)?;
        Ok(crate::show::isakmp_sa(self, instant(now)?, f, detail))
    }

    /// `show crypto ipsec sa [detail]`. `esp` maps a child id to its `(inbound, outbound)`
    /// EspSa pair so that the packet counters and remaining kilobytes are real; without it they
    /// show as zero and the negotiated lifetime.
    #[pyo3(signature = (*, now, esp=None, detail=false, path_mtu=1500))]
    fn show_crypto_ipsec_sa(
        &self,
        now: f64,
        esp: Option<crate::show::EspPairs<'_>>,
        detail: bool,
        path_mtu: u16,
    ) -> PyResult<String> {
        let now = instant(now)?;
        let esp = esp.unwrap_or_default();
        Ok(crate::show::ipsec_sa(self, &esp, now, detail, path_mtu))
    }

    /// `show crypto session [detail]`; `esp` as for `show_crypto_ipsec_sa`.
    #[pyo3(signature = (*, now, esp=None, detail=false))]
    fn show_crypto_session(
        &self,
        now: f64,
        esp: Option<crate::show::EspPairs<'_>>,
        detail: bool,
    ) -> PyResult<String> {
        let now = instant(now)?;
        let esp = esp.unwrap_or_default();
        Ok(crate::show::crypto_session(self, now, &esp, detail))
    }

    /// The troubleshooting diagnosis as `(peer, cause, summary, evidence, check, verify)`
    /// tuples: findings of `configuration` (when given) first, then each configured peer,
    /// then addresses that sent IKE without being a peer. `esp` maps a child id to its
    /// `(inbound, outbound)` EspSa pair so that the encrypt/decrypt counters are real.
    #[pyo3(signature = (*, now, configuration=None, esp=None, path_mtu=1500))]
    fn diagnose(
        &self,
        now: f64,
        configuration: Option<PyRef<'_, Configuration>>,
        esp: Option<crate::show::EspPairs<'_>>,
        path_mtu: u16,
    ) -> PyResult<Vec<crate::diag::VerdictTuple>> {
        let v = self.verdicts(now, configuration.as_deref(), esp, path_mtu)?;
        Ok(v.into_iter().map(crate::diag::tuple).collect())
    }

    /// The same diagnosis as the CLI prints it.
    #[pyo3(signature = (*, now, configuration=None, esp=None, path_mtu=1500))]
    fn diagnose_text(
        &self,
        now: f64,
        configuration: Option<PyRef<'_, Configuration>>,
        esp: Option<crate::show::EspPairs<'_>>,
        path_mtu: u16,
    ) -> PyResult<String> {
        let v = self.verdicts(now, configuration.as_deref(), esp, path_mtu)?;
        Ok(ipsec_proto::diagnose::render(&v))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Endpoint peers={} isakmp_sas={} ipsec_sas={}>",
            self.ep.config().peers.len(),
            self.ep.isakmp_sas(ipsec_proto::time::Instant::ZERO).len(),
            self.ep.ipsec_sas(ipsec_proto::time::Instant::ZERO).len()
        )
    }
}

fn ipsec_sa_dict<'py>(py: Python<'py>, s: &IpsecSaInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("child", s.child.0)?;
    d.set_item("peer", s.peer.0)?;
    d.set_item("spi_in", s.spi_in)?;
    d.set_item("spi_out", s.spi_out)?;
    d.set_item("local_selector", selector(&s.selectors.local))?;
    d.set_item("remote_selector", selector(&s.selectors.remote))?;
    d.set_item("transform_set", s.transform.name.clone())?;
    d.set_item("transforms", s.transform.display_transforms())?;
    d.set_item("udp_encap", s.udp_encap)?;
    d.set_item("local", addr(s.path.local))?;
    d.set_item("remote", addr(s.path.remote))?;
    d.set_item("remaining_secs", s.remaining_secs)?;
    d.set_item("lifetime_kb", s.lifetime_kb)?;
    d.set_item("established", seconds(s.established))?;
    Ok(d)
}
