//! `Tunnel`: the tunnel layer ([`ipsec_proto::tunnel::Tunnel`]) of one IOS configuration, with
//! the verbs of the core and aioquic's polled outputs. `ipsec.Tunnel` wraps it; outputs cross as
//! plain tuples and dicts that the Python side turns into frozen dataclasses.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

use ipsec_proto::tunnel::{
    self, BatchVerdicts, CoreOptions, Dest, Iface, Show, TunVerdict, TunnelError, TunnelEvent,
    TunnelTransmit,
};

use crate::config::{config_error, flavor, Configuration};
use crate::{error, instant, seconds};

/// The value of `ipsec.TunVerdict` for a verdict (kebab case, stable across releases).
fn verdict_name(v: TunVerdict) -> &'static str {
    match v {
        TunVerdict::Protected => "protected",
        TunVerdict::NoSa => "no-sa",
        TunVerdict::SendError => "send-error",
        TunVerdict::NotProtected => "not-protected",
        TunVerdict::Malformed => "malformed",
    }
}

/// `(protected, no_sa, send_error, not_protected, malformed, no_interface, dropped)`: what
/// `ipsec.BatchVerdicts` is built from.
type Verdicts = (usize, usize, usize, usize, usize, usize, usize);

fn verdicts(v: BatchVerdicts) -> Verdicts {
    (
        v.protected,
        v.no_sa,
        v.send_error,
        v.not_protected,
        v.malformed,
        v.no_interface,
        v.dropped,
    )
}

/// The caller's packets as slices, borrowed from the Python objects (`bytes` is not copied).
fn slices(packets: &[PyBackedBytes]) -> impl Iterator<Item = &[u8]> {
    packets.iter().map(|p| &**p)
}

/// `a.b.c.d/len` as an address and its mask.
fn network(what: &str, s: &str) -> PyResult<(Ipv4Addr, Ipv4Addr)> {
    let bad = || PyValueError::new_err(format!("{what} must be a.b.c.d/len, got {s:?}"));
    let (a, len) = s.split_once('/').ok_or_else(bad)?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0));
    Ok((ipv4(what, a)?, mask))
}

fn ipv4(what: &str, a: &str) -> PyResult<Ipv4Addr> {
    a.parse()
        .map_err(|_| PyValueError::new_err(format!("{what}: not an IPv4 address: {a:?}")))
}

fn sock(what: &str, a: &(String, u16)) -> PyResult<SocketAddrV4> {
    Ok(SocketAddrV4::new(ipv4(what, &a.0)?, a.1))
}

fn build_error(py: Python<'_>, e: TunnelError) -> PyErr {
    match e {
        TunnelError::Config(c) => config_error(py, &c),
        other => error(py, "ConfigurationError", other.to_string()),
    }
}

/// `(kind, local, remote, local_port, remote_port)` of a datagram to send.
type Route = (&'static str, String, String, Option<u16>, Option<u16>);

fn route(t: &TunnelTransmit) -> Route {
    match t.dest {
        Dest::Udp { local, remote } => (
            "udp",
            local.ip().to_string(),
            remote.ip().to_string(),
            Some(local.port()),
            Some(remote.port()),
        ),
        Dest::Esp { src, dst } => ("esp", src.to_string(), dst.to_string(), None, None),
        // poll_transmit never yields packets for the protected side.
        Dest::Tun | Dest::Vti(_) => ("tun", String::new(), String::new(), None, None),
    }
}

/// `N` of a (lower-cased) `tunnelN`.
fn tunnel_number(name: &str) -> Option<u32> {
    name.strip_prefix("tunnel")?.parse().ok()
}

/// Which show command a `what` string names: `show` is optional, words are separated by any
/// whitespace, a trailing `detail` sets `detail`, `crypto ipsec sa peer A.B.C.D` sets `peer`.
fn parse_show(what: &str, peer: Option<Ipv4Addr>, detail: bool) -> PyResult<Show> {
    let lower = what.to_ascii_lowercase();
    let mut words: Vec<&str> = lower.split_whitespace().collect();
    if words.first() == Some(&"show") {
        words.remove(0);
    }
    let mut detail = detail;
    if words.last() == Some(&"detail") {
        words.pop();
        detail = true;
    }
    let mut peer = peer;
    if let [head @ .., "peer", addr] = words.as_slice() {
        if head == ["crypto", "ipsec", "sa"] {
            peer = Some(ipv4("peer", addr)?);
            words.truncate(3);
        }
    }
    let show = match (words.as_slice(), detail) {
        (["crypto", "isakmp", "sa"], false) => Show::IsakmpSa,
        (["crypto", "isakmp", "sa"], true) => Show::IsakmpSaDetail,
        (["crypto", "isakmp", "policy"], false) => Show::IsakmpPolicy,
        (["crypto", "ipsec", "sa"], _) => Show::IpsecSa { peer, detail },
        (["crypto", "ipsec", "transform-set"], false) => Show::TransformSet,
        (["crypto", "map"], false) => Show::CryptoMap,
        (["crypto", "session"], _) => Show::CryptoSession { detail },
        (["running-config"], false) => Show::RunningConfig,
        (["crypto", "ipsec", "client", "ezvpn"], false) => Show::Ezvpn,
        (["crypto", "pki", "certificates"], false) => Show::PkiCertificates,
        (["crypto", "pki", "trustpoints"], false) => Show::PkiTrustpoints,
        (["ip", "nat", "translations"], false) => Show::NatTranslations,
        (["crypto", "ipsec", "sa", "interface", name], _) if tunnel_number(name).is_some() => {
            Show::IpsecSaInterface {
                tunnel: tunnel_number(name).unwrap_or(0),
                detail,
            }
        }
        (["interfaces", name], false) if tunnel_number(name).is_some() => Show::Interface {
            tunnel: tunnel_number(name).unwrap_or(0),
        },
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown show command {what:?} (known: crypto isakmp sa [detail], crypto isakmp \
                 policy, crypto ipsec sa [peer A.B.C.D | interface tunnelN] [detail], crypto ipsec transform-set, \
                 crypto map, crypto session [detail], crypto ipsec client ezvpn, crypto pki \
                 certificates [TRUSTPOINT], crypto pki trustpoints, running-config, interfaces tunnelN)"
            )))
        }
    };
    if peer.is_some() && !matches!(show, Show::IpsecSa { .. }) {
        return Err(PyValueError::new_err(
            "peer= applies to show crypto ipsec sa only",
        ));
    }
    Ok(show)
}

/// The tunnels of one IOS configuration. Inputs: `handle_plaintext`, `receive_datagram`,
/// `receive_esp` (and their `_batch` forms), `handle_timer` and the commands; outputs: `datagrams_to_send`,
/// `plaintexts`, `next_event`, `get_timer`. Every `now` is float seconds from one monotonic
/// clock the caller owns.
#[pyclass(module = "ipsec._native")]
pub struct Tunnel {
    /// In a mutex only because a pyclass must be `Sync` and the core is `Send` (its key-log
    /// hook is `Send` only); the verbs take `&mut self` and reach it through `get_mut`, without
    /// locking.
    t: Mutex<tunnel::Tunnel>,
    buf: Vec<u8>,
}

impl Tunnel {
    fn new(t: tunnel::Tunnel) -> Tunnel {
        Tunnel {
            t: Mutex::new(t),
            buf: vec![0u8; 9216],
        }
    }

    /// The core, for the verbs.
    fn core(&mut self) -> &mut tunnel::Tunnel {
        self.t.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// The core, for the views.
    fn view(&self) -> MutexGuard<'_, tunnel::Tunnel> {
        self.t.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn options(
        seed: &[u8],
        local_address: Option<&str>,
        path_mtu: u16,
        flavor_name: &str,
    ) -> PyResult<CoreOptions> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| PyValueError::new_err("seed must be exactly 32 bytes"))?;
        if path_mtu < 576 {
            return Err(PyValueError::new_err(format!(
                "path_mtu must be at least 576, got {path_mtu}"
            )));
        }
        Ok(CoreOptions {
            seed,
            local_addr: local_address
                .map(|a| ipv4("local_address", a))
                .transpose()?,
            path_mtu,
            flavor: flavor(flavor_name)?,
        })
    }
}

#[pymethods]
impl Tunnel {
    /// Tunnels for IOS configuration text. Raises `ConfigurationError` (with `line` and
    /// `column` when the text does not parse, or when no crypto map entry can run).
    #[staticmethod]
    #[pyo3(signature = (text, *, seed, local_address=None, path_mtu=1500, flavor="12.4T"))]
    fn from_ios(
        py: Python<'_>,
        text: &str,
        seed: &[u8],
        local_address: Option<&str>,
        path_mtu: u16,
        flavor: &str,
    ) -> PyResult<Tunnel> {
        let opts = Tunnel::options(seed, local_address, path_mtu, flavor)?;
        let t = tunnel::Tunnel::from_ios(text, opts).map_err(|e| build_error(py, e))?;
        Ok(Tunnel::new(t))
    }

    /// An Easy VPN remote from its parts (no IOS text): `local` our outside address as
    /// `a.b.c.d/len`, `peers` the concentrators in order, the group name and key, XAUTH
    /// `user`/`password` (without them each XAUTH REQUEST comes as a `CredentialsNeeded` event
    /// for `ezvpn_xauth`), `network_extension` the inside LAN (`a.b.c.d/len`) for `mode
    /// network-extension`, else `mode client`.
    #[staticmethod]
    #[pyo3(signature = (*, name, local, peers, group, key, seed, user=None, password=None,
        network_extension=None, connect_auto=true, path_mtu=1500, flavor="12.4T"))]
    #[allow(clippy::too_many_arguments)] // keyword-only, as Python callers write them
    fn easy_vpn_remote(
        py: Python<'_>,
        name: &str,
        local: &str,
        peers: Vec<String>,
        group: &str,
        key: &[u8],
        seed: &[u8],
        user: Option<&str>,
        password: Option<&[u8]>,
        network_extension: Option<&str>,
        connect_auto: bool,
        path_mtu: u16,
        flavor: &str,
    ) -> PyResult<Tunnel> {
        use ipsec_proto::policy::{EasyVpnRemote, Password, PskSecret, XauthCredentials};
        let opts = Tunnel::options(seed, None, path_mtu, flavor)?;
        for (what, v) in [("name", name), ("group", group)] {
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err(PyValueError::new_err(format!(
                    "{what} must be one word, got {v:?}"
                )));
            }
        }
        if key.is_empty() || peers.is_empty() {
            return Err(PyValueError::new_err("key and peers must not be empty"));
        }
        let credentials = match (user, password) {
            (Some(u), Some(p)) => Some(XauthCredentials {
                name: u.to_string(),
                password: Password::new(p),
            }),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "user and password go together (neither: ask with CredentialsNeeded)",
                ))
            }
        };
        let spec = EasyVpnRemote {
            name: name.to_string(),
            local: network("local", local)?,
            peers: peers
                .iter()
                .map(|p| ipv4("peers", p))
                .collect::<PyResult<_>>()?,
            group: group.to_string(),
            key: PskSecret::new(key),
            credentials,
            network_extension: network_extension
                .map(|n| network("network_extension", n))
                .transpose()?,
            connect_auto,
        };
        let t = tunnel::Tunnel::new(spec.gateway_config(), opts).map_err(|e| build_error(py, e))?;
        Ok(Tunnel::new(t))
    }

    /// `crypto ipsec client ezvpn connect NAME`: connects profile `name` now; false when no
    /// such profile exists.
    fn ezvpn_connect(&mut self, name: &str, now: f64) -> PyResult<bool> {
        let now = instant(now)?;
        Ok(self.core().ezvpn_connect(now, name))
    }

    /// `crypto ipsec client ezvpn xauth`: answers the XAUTH REQUEST profile `name`'s server
    /// waits on (after a `CredentialsNeeded` event). Raises `ValueError` when no such profile
    /// exists or nothing is pending.
    fn ezvpn_xauth(&mut self, name: &str, user: &str, password: &[u8], now: f64) -> PyResult<()> {
        let now = instant(now)?;
        let creds = ipsec_proto::policy::XauthCredentials {
            name: user.to_string(),
            password: ipsec_proto::policy::Password::new(password),
        };
        self.core()
            .ezvpn_xauth(now, name, &creds)
            .map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
    }

    /// Tells the tunnels the wall-clock time, `unix` seconds since 1970, at `now`: peer
    /// certificates (`authentication rsa-sig`) are checked against it, and refused without it.
    fn set_wall_clock(&mut self, now: f64, unix: i64) -> PyResult<()> {
        let now = instant(now)?;
        self.core().set_wall_clock(now, unix);
        Ok(())
    }

    /// Tunnels for a parsed `Configuration`.
    #[staticmethod]
    #[pyo3(signature = (configuration, *, seed, local_address=None, path_mtu=1500, flavor="12.4T"))]
    fn from_configuration(
        py: Python<'_>,
        configuration: &Configuration,
        seed: &[u8],
        local_address: Option<&str>,
        path_mtu: u16,
        flavor: &str,
    ) -> PyResult<Tunnel> {
        let opts = Tunnel::options(seed, local_address, path_mtu, flavor)?;
        let t = tunnel::Tunnel::new(configuration.gateway.clone(), opts)
            .map_err(|e| build_error(py, e))?;
        Ok(Tunnel::new(t))
    }

    /// Runs `configuration` from `now` on: unchanged crypto map entries keep their SAs,
    /// changed or removed ones are cleared (Deletes queued), new ones start idle. Returns
    /// `{"kept": [...], "cleared": [...], "added": [...]}` of entry names (`"VPN 10"`); a
    /// configuration that cannot run raises and the running one stays.
    fn reconfigure<'py>(
        &mut self,
        py: Python<'py>,
        configuration: &Configuration,
        now: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let now = instant(now)?;
        let r = self
            .core()
            .reconfigure(now, configuration.gateway.clone())
            .map_err(|e| build_error(py, e.into()))?;
        let d = PyDict::new(py);
        d.set_item("kept", r.kept)?;
        d.set_item("cleared", r.cleared)?;
        d.set_item("added", r.added)?;
        Ok(d)
    }

    /// A cleartext IPv4 packet from the protected side; what became of it (a value of
    /// `ipsec.TunVerdict`). The GIL is released around the classification and the ESP crypto.
    fn handle_plaintext(
        &mut self,
        py: Python<'_>,
        packet: PyBackedBytes,
        now: f64,
    ) -> PyResult<&'static str> {
        let now = instant(now)?;
        let t = self.core();
        let pkt: &[u8] = &packet;
        Ok(verdict_name(
            py.allow_threads(|| t.handle_plaintext(now, pkt)),
        ))
    }

    /// A UDP payload that arrived on `local` (port 500 or 4500) from `remote`: IKE (with the
    /// non-ESP marker on 4500), ESP in UDP, or a NAT keepalive. Bad input is dropped and
    /// counted, never raised. The GIL is released around the IKE and ESP work.
    fn receive_datagram(
        &mut self,
        py: Python<'_>,
        data: PyBackedBytes,
        local: (String, u16),
        remote: (String, u16),
        now: f64,
    ) -> PyResult<Option<&'static str>> {
        let (local, remote) = (sock("local", &local)?, sock("remote", &remote)?);
        let now = instant(now)?;
        let t = self.core();
        let data: &[u8] = &data;
        let verdict = py.allow_threads(|| t.handle_udp(now, local, remote, data));
        Ok(verdict.err().map(|d| d.code()))
    }

    /// A raw ESP packet (the IP protocol 50 payload, SPI onwards) from `src`. The GIL is
    /// released around the ESP crypto.
    fn receive_esp(
        &mut self,
        py: Python<'_>,
        data: PyBackedBytes,
        src: &str,
        now: f64,
    ) -> PyResult<Option<&'static str>> {
        let src = ipv4("src", src)?;
        let now = instant(now)?;
        let t = self.core();
        let data: &[u8] = &data;
        let verdict = py.allow_threads(|| t.handle_esp(now, src, data));
        Ok(verdict.err().map(|d| d.code()))
    }

    /// A batch of cleartext packets that came in on `iface` (`None`: the protected side of
    /// the crypto maps; N: `interface TunnelN`, a VTI, refused and counted while none can be
    /// configured); per packet what `handle_plaintext` does, the verdicts summed as the tuple
    /// of `ipsec.BatchVerdicts`. The GIL is released around the whole batch.
    #[pyo3(signature = (packets, now, *, iface=None))]
    fn handle_plaintext_batch(
        &mut self,
        py: Python<'_>,
        packets: Vec<PyBackedBytes>,
        now: f64,
        iface: Option<u32>,
    ) -> PyResult<Verdicts> {
        let now = instant(now)?;
        let iface = iface.map_or(Iface::Inside, Iface::Tunnel);
        let t = self.core();
        let v = py.allow_threads(|| t.handle_plaintext_batch(now, iface, slices(&packets)));
        Ok(verdicts(v))
    }

    /// A batch of UDP payloads that arrived on `local` from `remote` (one `recvmmsg`, or a GRO
    /// train cut at its segment size); per datagram what `receive_datagram` does, summed
    /// (accepted in `protected`, the rest in `dropped`). The GIL is released around the batch.
    fn receive_datagram_batch(
        &mut self,
        py: Python<'_>,
        datagrams: Vec<PyBackedBytes>,
        local: (String, u16),
        remote: (String, u16),
        now: f64,
    ) -> PyResult<Verdicts> {
        let (local, remote) = (sock("local", &local)?, sock("remote", &remote)?);
        let now = instant(now)?;
        let t = self.core();
        let v = py.allow_threads(|| t.handle_udp_batch(now, local, remote, slices(&datagrams)));
        Ok(verdicts(v))
    }

    /// A batch of raw ESP packets from `src`; per packet what `receive_esp` does, summed
    /// (decrypted in `protected`, the rest in `dropped`). The GIL is released around the batch.
    fn receive_esp_batch(
        &mut self,
        py: Python<'_>,
        packets: Vec<PyBackedBytes>,
        src: &str,
        now: f64,
    ) -> PyResult<Verdicts> {
        let src = ipv4("src", src)?;
        let now = instant(now)?;
        let t = self.core();
        let v = py.allow_threads(|| t.handle_esp_batch(now, src, slices(&packets)));
        Ok(verdicts(v))
    }

    /// Every queued datagram as `(kind, local, remote, local_port, remote_port, data)`: kind
    /// `"udp"` (ports set; the non-ESP marker is already in `data`) or `"esp"` (raw IP
    /// protocol 50 from `local` to `remote`, ports `None`).
    #[allow(clippy::type_complexity)]
    fn datagrams_to_send<'py>(
        &mut self,
        py: Python<'py>,
    ) -> Vec<(
        &'static str,
        String,
        String,
        Option<u16>,
        Option<u16>,
        Bound<'py, PyBytes>,
        bool,
    )> {
        let Tunnel { t, buf } = self;
        let core = t.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        loop {
            match core.poll_transmit(buf) {
                Ok(None) => break,
                Ok(Some(t)) => {
                    let (kind, local, remote, lp, rp) = route(&t);
                    let data = PyBytes::new(py, buf.get(..t.len).unwrap_or(&[]));
                    out.push((kind, local, remote, lp, rp, data, t.df));
                }
                // Left queued: grow the buffer and poll it again.
                Err(e) => buf.resize(e.needed, 0),
            }
        }
        out
    }

    /// Every decrypted packet queued for the protected side.
    fn plaintexts<'py>(&mut self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let Tunnel { t, buf } = self;
        let core = t.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        loop {
            match core.poll_plaintext(buf) {
                Ok(None) => break,
                Ok(Some(n)) => out.push(PyBytes::new(py, buf.get(..n).unwrap_or(&[]))),
                Err(e) => buf.resize(e.needed, 0),
            }
        }
        out
    }

    /// Every decrypted packet queued, as `(packet, iface)`: `iface` is `None` for a crypto
    /// map SA's packet (the protected side), N for one that came out of VTI `TunnelN`.
    fn plaintexts_with_iface<'py>(
        &mut self,
        py: Python<'py>,
    ) -> Vec<(Bound<'py, PyBytes>, Option<u32>)> {
        let Tunnel { t, buf } = self;
        let core = t.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        loop {
            match core.poll_plaintext_iface(buf) {
                Ok(None) => break,
                Ok(Some((n, iface))) => {
                    let iface = match iface {
                        Iface::Tunnel(i) => Some(i),
                        _ => None,
                    };
                    out.push((PyBytes::new(py, buf.get(..n).unwrap_or(&[])), iface));
                }
                Err(e) => buf.resize(e.needed, 0),
            }
        }
        out
    }

    /// The next event as `(kind, fields)`, or `None`; `ipsec.Tunnel` turns it into a
    /// dataclass.
    fn next_event<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Option<(&'static str, Bound<'py, PyDict>)>> {
        let Some(ev) = self.core().poll_event() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        let kind = match ev {
            TunnelEvent::IsakmpState(tr) => {
                d.set_item("conn_id", tr.conn_id)?;
                d.set_item("peer", tr.peer.to_string())?;
                d.set_item("from_state", tr.from.map(|s| s.name()))?;
                d.set_item("to_state", tr.to.map(|s| s.name()))?;
                d.set_item("initiator", tr.initiator)?;
                d.set_item("at", seconds(tr.at))?;
                "IsakmpStateChanged"
            }
            TunnelEvent::IpsecUp {
                entry,
                peer,
                spi_in,
                spi_out,
            } => {
                d.set_item("entry", entry)?;
                d.set_item("peer", peer.to_string())?;
                d.set_item("spi_in", spi_in)?;
                d.set_item("spi_out", spi_out)?;
                "IpsecSaUp"
            }
            TunnelEvent::IpsecDown {
                entry,
                spi_in,
                spi_out,
            } => {
                d.set_item("entry", entry)?;
                d.set_item("spi_in", spi_in)?;
                d.set_item("spi_out", spi_out)?;
                "IpsecSaDown"
            }
            TunnelEvent::PeerChanged { entry, from, to } => {
                d.set_item("entry", entry)?;
                d.set_item("from_peer", from.to_string())?;
                d.set_item("to_peer", to.to_string())?;
                "PeerChanged"
            }
            TunnelEvent::RouteAdd(r) | TunnelEvent::RouteRemove(r) => {
                d.set_item("entry", r.entry)?;
                d.set_item("network", r.network())?;
                d.set_item("tag", r.tag)?;
                d.set_item("distance", r.distance)?;
                d.set_item("publish", r.publish)?;
                if matches!(ev, TunnelEvent::RouteAdd(_)) {
                    "RouteAdded"
                } else {
                    "RouteRemoved"
                }
            }
            TunnelEvent::LineProtocol { iface, up } => {
                d.set_item("iface", iface)?;
                d.set_item("up", up)?;
                "LineProtocolChanged"
            }
            TunnelEvent::Configured {
                entry,
                conn_id,
                settings: s,
            } => {
                let text = |v: &[std::net::Ipv4Addr]| -> Vec<String> {
                    v.iter().map(|a| a.to_string()).collect()
                };
                d.set_item("entry", entry)?;
                d.set_item("conn_id", conn_id)?;
                d.set_item("address", s.address.map(|a| a.to_string()))?;
                d.set_item("netmask", s.netmask.map(|a| a.to_string()))?;
                d.set_item("dns", text(&s.dns))?;
                d.set_item("wins", text(&s.wins))?;
                d.set_item("domain", s.domain)?;
                d.set_item("banner", s.banner)?;
                let split: Vec<String> = s
                    .split
                    .iter()
                    .map(|(a, m)| format!("{a}/{}", u32::from(*m).count_ones()))
                    .collect();
                d.set_item("split", split)?;
                d.set_item("split_dns", s.split_dns)?;
                d.set_item("save_password", s.save_password)?;
                d.set_item("pfs", s.pfs)?;
                d.set_item("backup_servers", s.backup_servers)?;
                "ClientConfigured"
            }
            TunnelEvent::ClientLeased {
                entry,
                conn_id,
                group,
                address,
            } => {
                d.set_item("entry", entry)?;
                d.set_item("conn_id", conn_id)?;
                d.set_item("group", group)?;
                d.set_item("address", address.map(|a| a.to_string()))?;
                "ClientLeased"
            }
            TunnelEvent::CredentialsNeeded {
                entry,
                profile,
                message,
            } => {
                d.set_item("entry", entry)?;
                d.set_item("profile", profile)?;
                d.set_item("message", message)?;
                "CredentialsNeeded"
            }
            TunnelEvent::ClientReleased { entry, address } => {
                d.set_item("entry", entry)?;
                d.set_item("address", address.to_string())?;
                "ClientReleased"
            }
            other => {
                d.set_item("description", format!("{other:?}"))?;
                "Unknown"
            }
        };
        Ok(Some((kind, d)))
    }

    /// The absolute time at which `handle_timer` has work, or `None`.
    fn get_timer(&self) -> Option<f64> {
        self.view().poll_timeout().map(seconds)
    }

    /// Runs retransmissions, lifetimes, rekeys, DPD and keepalives due at `now` (the GIL is
    /// released: a rekey computes Diffie-Hellman).
    fn handle_timer(&mut self, py: Python<'_>, now: f64) -> PyResult<()> {
        let now = instant(now)?;
        let t = self.core();
        py.allow_threads(|| t.handle_timeout(now));
        Ok(())
    }

    /// Deletes every IPsec SA pair and ISAKMP SA; the Deletes are then in `datagrams_to_send`.
    fn close(&mut self, now: f64) -> PyResult<()> {
        self.core().shutdown(instant(now)?);
        Ok(())
    }

    /// `clear crypto sa [peer X]`: deletes IPsec SA pairs (sending Deletes); how many.
    #[pyo3(signature = (now, *, peer=None))]
    fn clear_sa(&mut self, now: f64, peer: Option<&str>) -> PyResult<usize> {
        let peer = peer.map(|p| ipv4("peer", p)).transpose()?;
        Ok(self.core().clear_sa(instant(now)?, peer))
    }

    /// The text of an IOS show command (`what`: e.g. `"crypto isakmp sa"`, `"show crypto
    /// ipsec sa peer 203.0.113.2 detail"`).
    #[pyo3(signature = (what, now, *, peer=None, detail=false))]
    fn show(&self, what: &str, now: f64, peer: Option<&str>, detail: bool) -> PyResult<String> {
        let peer = peer.map(|p| ipv4("peer", p)).transpose()?;
        // A trustpoint name keeps its case, so it is matched before `parse_show` lowers it.
        let words: Vec<&str> = what.split_whitespace().collect();
        let words = words.strip_prefix(&["show"]).unwrap_or(&words);
        if let [c, p, k, name] = words {
            let kw = [c, p, k].map(|w| w.to_ascii_lowercase());
            if kw == ["crypto", "pki", "certificates"] && peer.is_none() && !detail {
                return Ok(self.view().tunnels().show_pki_certificates(Some(name)));
            }
        }
        let show = parse_show(what, peer, detail)?;
        Ok(self.view().show(instant(now)?, show))
    }

    /// The troubleshooting diagnosis as `(peer, cause, summary, evidence, check, verify)`
    /// tuples, per peer (only `peer` when given).
    #[pyo3(signature = (now, *, peer=None))]
    fn diagnose(&self, now: f64, peer: Option<&str>) -> PyResult<Vec<crate::diag::VerdictTuple>> {
        let peer = peer.map(|p| ipv4("peer", p)).transpose()?;
        let v = self.view().diagnose(instant(now)?, peer);
        Ok(v.into_iter().map(crate::diag::tuple).collect())
    }

    /// Packets that belong to no flow, and outputs dropped because a queue was full.
    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let core = self.view();
        let c = core.tunnels().counters();
        let d = PyDict::new(py);
        for (k, v) in [
            ("not_protected", c.not_protected),
            ("tun_malformed", c.tun_malformed),
            ("invalid_spi", c.invalid_spi),
            ("malformed", c.malformed),
            ("keepalives", c.keepalives),
            ("not_ipv4", c.not_ipv4),
            ("queue_full", c.queue_full),
            ("no_interface", c.no_interface),
            ("outputs_dropped", core.dropped()),
            ("events_dropped", core.tunnels().events_dropped()),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The crypto map entries that run, as dicts (`map`, `seq`, `interface`, `local`,
    /// `peer`); entry `i` is the `entry` of the SA events.
    #[getter]
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let mut v = Vec::new();
        for e in self.view().tunnels().entries() {
            let d = PyDict::new(py);
            d.set_item("map", e.map.clone())?;
            d.set_item("seq", e.seq)?;
            d.set_item("interface", e.interface.clone())?;
            d.set_item("local", e.local.to_string())?;
            d.set_item("peer", e.peer_addr.to_string())?;
            d.set_item("pfs_group", e.pfs_group)?;
            v.push(d);
        }
        Ok(v)
    }

    /// Entries or lines left out of the configuration, and why (IOS keeps them disabled).
    #[getter]
    fn skipped(&self) -> Vec<String> {
        self.view().tunnels().skipped().to_vec()
    }

    fn __repr__(&self) -> String {
        let core = self.view();
        let t = core.tunnels();
        format!(
            "<Tunnel hostname={:?} entries={} installed_pairs={}>",
            t.config().hostname.as_deref().unwrap_or(""),
            t.entries().len(),
            t.installed_pairs()
        )
    }
}
