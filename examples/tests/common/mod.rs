//! The lab shared by the interop tests: topology, a strongSwan peer in gwB, our tunnel (the
//! IOS configuration of [`SiteToSite`] on [`TunnelDriver`]) with its sockets bound inside gwA,
//! pings through the tunnel and key comparison.
//!
//! What the tests assert on comes out of the tunnel layer's public surface: its events, the
//! opt-in copy of the IKE endpoint's events ([`Tunnel::copy_ike_events`]: roles, NAT
//! detection, delete reasons, failures, notifies), the endpoint's read-only views, and the
//! keys handed to a key log ([`Tunnel::set_keylog`]).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipsec_examples::config::{subnet, SiteToSite};
use ipsec_examples::driver::TunnelDriver;
use ipsec_examples::packet::{icmp_echo_request, parse_icmp_echo, ICMP_ECHO_REPLY};
use ipsec_netlab::{addr, hex, Charon, CharonConn, Topology};
use ipsec_proto::esp::EspKeys;
use ipsec_proto::ike::{Event, IkeSaId, Role};
use ipsec_proto::keylog::KeyLog;
use ipsec_proto::policy::GatewayConfig;
use ipsec_proto::tunnel::{CoreOptions, IkeEvent, Phase2Info, TunVerdict, Tunnel, TunnelEvent};

pub const PSK: &str = "interop-psk-1";
/// Generous: the machine is shared by several builds (load average ~10).
pub const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(60);
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Binds UDP 500 and 4500 on `addr` inside network namespace `ns`: a short-lived thread enters
/// the namespace (setns affects only the calling thread) and creates the sockets, which stay
/// in that namespace for their whole life.
pub fn bind_in_netns(ns: &str, addr: Ipv4Addr) -> (UdpSocket, UdpSocket) {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns(2) with a valid open namespace descriptor; it changes only this
        // thread's network namespace, and the thread ends right after binding.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        (
            UdpSocket::bind((addr, 500)).unwrap(),
            UdpSocket::bind((addr, 4500)).unwrap(),
        )
    })
    .join()
    .unwrap()
}

pub fn tail(log: &str, lines: usize) -> String {
    let v: Vec<&str> = log.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Our side of the lab: gwA's WAN address to gwB's, LAN A to LAN B, with the suites given.
pub fn site(ike: &str, esp: &str) -> SiteToSite {
    SiteToSite {
        local: ip(addr::GW_A_WAN),
        peer: ip(addr::GW_B_WAN),
        psk: PSK.into(),
        ike: ike.into(),
        esp: esp.into(),
        local_net: subnet(addr::LAN_A).unwrap(),
        remote_net: subnet(addr::LAN_B).unwrap(),
        lifetime_secs: 3600,
    }
}

/// The parsed IOS configuration of `site` (the text is what an operator would paste).
pub fn site_config(site: &SiteToSite) -> GatewayConfig {
    let text = site.ios_config().unwrap();
    ipsec_proto::ios::parse(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .config
}

/// One half of an IPsec SA pair as the key log saw it.
#[derive(Clone, Debug)]
pub struct EspKeyCopy {
    pub enc_key: Vec<u8>,
    pub auth_key: Vec<u8>,
}

/// What our key log received: the last `ikev1_decryption_table` and every ESP SA by SPI.
#[derive(Debug, Default)]
pub struct LoggedKeys {
    pub ikev1_table: String,
    pub esp: BTreeMap<u32, EspKeyCopy>,
}

impl LoggedKeys {
    /// The Phase 1 encryption key of the ISAKMP SA with initiator cookie `ci`.
    pub fn phase1_enc_key(&self, ci: &[u8]) -> Option<Vec<u8>> {
        let line = self
            .ikev1_table
            .lines()
            .find(|l| l.starts_with(&format!("{},", hex(ci))))?;
        unhex(line.split_once(',')?.1)
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The lab's key log: copies into shared memory the test reads.
struct LabKeyLog(Arc<Mutex<LoggedKeys>>);

impl KeyLog for LabKeyLog {
    fn ikev1_table(&mut self, table: &str) {
        self.0.lock().unwrap().ikev1_table = table.to_string();
    }
    fn esp_sa(&mut self, keys: &EspKeys) {
        let copy = EspKeyCopy {
            enc_key: keys.enc_key().to_vec(),
            auth_key: keys.auth_key().to_vec(),
        };
        self.0.lock().unwrap().esp.insert(keys.spi(), copy);
    }
}

/// The driver with the lists it reports into (borrowed apart from the rest of the lab, so
/// that a thread can drive charon meanwhile).
struct Reports<'a> {
    driver: &'a mut TunnelDriver,
    events: &'a mut Vec<IkeEvent>,
    tunnel_events: &'a mut Vec<TunnelEvent>,
}

impl Reports<'_> {
    /// Moves what the tunnel reported into the lists.
    fn collect(&mut self, new: Vec<TunnelEvent>) {
        self.tunnel_events.extend(new);
        while let Some(e) = self.driver.tunnel_mut().poll_ike_event() {
            self.events.push(e);
        }
    }

    fn step(&mut self, max_wait: Duration) {
        let new = self.driver.step(max_wait).unwrap();
        self.collect(new);
    }

    fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&[IkeEvent]) -> bool) -> bool {
        let until = std::time::Instant::now() + timeout;
        while !done(self.events) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            self.step(left.min(Duration::from_millis(200)));
        }
        true
    }
}

/// The lab: strongSwan in gwB, our tunnel in gwA, and what the tunnel reported.
pub struct Lab {
    // Field order = drop order: stop charon before the namespaces go.
    pub driver: TunnelDriver,
    pub charon: Charon,
    pub topo: Topology,
    /// The IKE endpoint's events, copied by the tunnel layer.
    pub events: Vec<IkeEvent>,
    /// The tunnel layer's own events.
    pub tunnel_events: Vec<TunnelEvent>,
    pub keys: Arc<Mutex<LoggedKeys>>,
    pub conn: CharonConn,
    pub ike: String,
    pub esp: String,
    /// Echo requests sent, retransmissions included.
    pub requests_sent: u64,
}

impl Lab {
    pub fn new(tag: &str, ike: &str, esp: &str, seed: u64) -> Lab {
        Self::with(tag, ike, esp, seed, |c| c, |_| {})
    }

    /// `tweak` adjusts strongSwan's connection, `ours` our parsed IOS configuration (for
    /// values IOS would refuse, such as lab-short lifetimes and DPD intervals).
    pub fn with(
        tag: &str,
        ike: &str,
        esp: &str,
        seed: u64,
        tweak: impl FnOnce(CharonConn) -> CharonConn,
        ours: impl FnOnce(&mut GatewayConfig),
    ) -> Lab {
        Self::with_topology(
            Topology::two_gateways(tag).unwrap(),
            ike,
            esp,
            seed,
            tweak,
            ours,
        )
    }

    /// Like [`Lab::with`] on a given topology (e.g. with NAT in rtr).
    pub fn with_topology(
        topo: Topology,
        ike: &str,
        esp: &str,
        seed: u64,
        tweak: impl FnOnce(CharonConn) -> CharonConn,
        ours: impl FnOnce(&mut GatewayConfig),
    ) -> Lab {
        let conn = tweak(
            CharonConn::new("gw", "net")
                .local(addr::GW_B_WAN)
                .remote(topo.gw_a_as_seen_by_gw_b())
                .remote_id(addr::GW_A_WAN)
                .psk(PSK)
                .proposals(ike)
                .esp_proposals(esp)
                .ts(addr::LAN_B, addr::LAN_A),
        );
        let charon = Charon::start(&topo.gw_b, std::slice::from_ref(&conn)).unwrap();
        charon.load_all().unwrap();
        let mut config = site_config(&site(ike, esp));
        ours(&mut config);
        let mut tunnel = Tunnel::new(config, CoreOptions::seeded(seed)).unwrap();
        tunnel.copy_ike_events(true);
        let keys = Arc::new(Mutex::new(LoggedKeys::default()));
        tunnel.set_keylog(Some(Box::new(LabKeyLog(keys.clone()))));
        let (s500, s4500) = bind_in_netns(topo.gw_a.name(), ip(addr::GW_A_WAN));
        let driver = TunnelDriver::new(tunnel, s500, s4500).unwrap();
        Lab {
            driver,
            charon,
            topo,
            events: Vec::new(),
            tunnel_events: Vec::new(),
            keys,
            conn,
            ike: ike.into(),
            esp: esp.into(),
            requests_sent: 0,
        }
    }

    pub fn diag(&self) -> String {
        let t = self.driver.tunnel();
        format!(
            "IKE events: {:#?}\ntunnel events: {:#?}\ninstalled: {:?}; unsent: {}\n\
             tunnel counters: {:?}\nendpoint counters: {:?}\n--- charon log (tail) ---\n{}",
            self.events,
            self.tunnel_events,
            self.installed(),
            self.driver.unsent(),
            t.tunnels().counters(),
            t.tunnels().endpoint().counters(),
            tail(&self.charon.log(), 150)
        )
    }

    fn reports(&mut self) -> Reports<'_> {
        Reports {
            driver: &mut self.driver,
            events: &mut self.events,
            tunnel_events: &mut self.tunnel_events,
        }
    }

    /// One turn of the driver's loop.
    pub fn step(&mut self, max_wait: Duration) {
        self.reports().step(max_wait);
    }

    /// Sends what a command on the tunnel queued and collects its events.
    pub fn flush(&mut self) {
        let new = self.driver.flush().unwrap();
        self.reports().collect(new);
    }

    /// Steps until `done` holds for the IKE events collected so far or `timeout` passes;
    /// returns whether `done` held.
    pub fn run_until(&mut self, timeout: Duration, done: impl FnMut(&[IkeEvent]) -> bool) -> bool {
        self.reports().run_until(timeout, done)
    }

    /// Our side starts Main Mode and Quick Mode, as IOS does: the first packet of the crypto
    /// ACL's traffic without an SA is dropped and starts the negotiation.
    pub fn initiate(&mut self) {
        let trigger = icmp_echo_request(ip(addr::HOST_A), ip(addr::HOST_B), 0, 0, b"trigger");
        let v = self.driver.send_packet(&trigger).unwrap();
        assert_eq!(v, TunVerdict::NoSa, "{}", self.diag());
        self.flush();
    }

    /// The IPsec SA pairs the tunnel has installed now, oldest first: (our inbound SPI,
    /// outbound SPI), from its IpsecUp and IpsecDown events.
    pub fn installed(&self) -> Vec<(u32, u32)> {
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for e in &self.tunnel_events {
            match e {
                TunnelEvent::IpsecUp {
                    spi_in, spi_out, ..
                } => pairs.push((*spi_in, *spi_out)),
                TunnelEvent::IpsecDown { spi_in, .. } => pairs.retain(|p| p.0 != *spi_in),
                _ => {}
            }
        }
        pairs
    }

    pub fn phase2s(&self) -> Vec<&Phase2Info> {
        self.events
            .iter()
            .filter_map(|e| match e {
                IkeEvent::Phase2Established(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// The endpoint's events other than Phase2Established.
    pub fn endpoint_events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter_map(|e| match e {
            IkeEvent::Endpoint(e) => Some(e),
            _ => None,
        })
    }

    pub fn failures(&self) -> Vec<String> {
        self.endpoint_events()
            .filter_map(|e| match e {
                Event::NegotiationFailed { error, .. } => Some(error.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Runs the driver until `n` Phase 2 SA pairs have been established in total.
    pub fn wait_phase2(&mut self, n: usize) -> usize {
        let ok = self.run_until(NEGOTIATION_TIMEOUT, |ev| {
            ev.iter()
                .filter(|e| matches!(e, IkeEvent::Phase2Established(_)))
                .count()
                >= n
        });
        assert!(ok, "Phase 2 #{n} not established\n{}", self.diag());
        n
    }

    /// Runs the driver for `d`, whatever happens.
    pub fn run_for(&mut self, d: Duration) {
        let _ = self.run_until(d, |_| false);
    }

    /// strongSwan initiates (`swanctl --initiate --child net`) while our driver answers; the
    /// first pair of this lab.
    pub fn peer_initiates(&mut self) {
        self.peer_initiates_again(1);
    }

    /// strongSwan initiates; returns once `total` pairs have been established in this lab.
    pub fn peer_initiates_again(&mut self, total: usize) {
        let out = self.while_charon(
            |c| c.initiate("net"),
            NEGOTIATION_TIMEOUT,
            |finished, ev| {
                finished
                    && ev
                        .iter()
                        .filter(|e| matches!(e, IkeEvent::Phase2Established(_)))
                        .count()
                        >= total
            },
        );
        let out = out.unwrap_or_else(|e| panic!("swanctl --initiate: {e}\n{}", self.diag()));
        assert!(
            out.contains("initiate completed successfully"),
            "{out}\n{}",
            self.diag()
        );
        assert_eq!(self.phase2s().len(), total, "{}", self.diag());
    }

    /// Runs `command` on charon in a thread while the driver runs, until `done` holds (told
    /// whether the command has finished) or `timeout` passes; then waits for the command and
    /// returns its result.
    pub fn while_charon<T: Send>(
        &mut self,
        command: impl FnOnce(&Charon) -> T + Send,
        timeout: Duration,
        mut done: impl FnMut(bool, &[IkeEvent]) -> bool,
    ) -> T {
        let Lab {
            driver,
            charon,
            events,
            tunnel_events,
            ..
        } = self;
        let charon = &*charon;
        let mut reports = Reports {
            driver,
            events,
            tunnel_events,
        };
        std::thread::scope(|s| {
            let h = s.spawn(|| command(charon));
            let _ = reports.run_until(timeout, |ev| done(h.is_finished(), ev));
            h.join().unwrap()
        })
    }
    /// Phase 1 is up, in our role, over UDP 4500 (strongSwan forces NAT-T) with the suite.
    pub fn check_phase1(&self, role: Role, ike: &str) {
        let up: Vec<_> = self
            .endpoint_events()
            .filter_map(|e| match e {
                Event::Phase1Established {
                    role, path, nat, ..
                } => Some((*role, *path, *nat)),
                _ => None,
            })
            .collect();
        assert_eq!(up.len(), 1, "{}", self.diag());
        let (r, path, nat) = up[0];
        assert_eq!(r, role);
        assert_eq!(path.remote.port(), 4500, "floated to 4500: {path:?}");
        assert!(nat.peer_supports && nat.nat_detected(), "{nat:?}");
        let sa = self.qm_idle();
        let bits = match sa.group.unwrap() {
            1 => 768,
            2 => 1024,
            5 => 1536,
            14 => 2048,
            g => panic!("unexpected group {g}"),
        };
        assert!(ike.ends_with(&format!("modp{bits}")), "{ike} vs {sa:?}");
        let p2 = self.phase2s()[0];
        assert!(p2.udp_encap, "encapsulation mode 3 (UDP tunnel)");
        assert_eq!(p2.path.remote.port(), 4500);
        assert_eq!(p2.selectors.local, subnet(addr::LAN_A).unwrap());
        assert_eq!(p2.selectors.remote, subnet(addr::LAN_B).unwrap());
    }

    /// The ISAKMP SAs now (`show crypto isakmp sa`).
    pub fn isakmp_sas(&self) -> Vec<ipsec_proto::ike::IsakmpSaInfo> {
        let now = self.driver.now();
        self.driver.tunnel().tunnels().isakmp_sas(now)
    }

    /// The ISAKMP SA in QM_IDLE.
    pub fn qm_idle(&self) -> ipsec_proto::ike::IsakmpSaInfo {
        self.isakmp_sas()
            .into_iter()
            .find(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .unwrap_or_else(|| panic!("no ISAKMP SA in QM_IDLE\n{}", self.diag()))
    }

    /// Sends `count` echo requests 10.1.1.10 -> 10.2.2.10 through the tunnel and waits for
    /// each reply (right id, seq, addresses, payload).
    pub fn ping(&mut self, count: u16, ident: u16) {
        for seq in 1..=count {
            self.ping_once(ident, seq)
                .unwrap_or_else(|e| panic!("ping seq {seq}: {e}\n{}", self.diag()));
        }
        eprintln!(
            "{count} echo replies, {} requests sent in total",
            self.requests_sent
        );
    }

    /// One echo request; Err describes what went wrong.
    pub fn ping_once(&mut self, ident: u16, seq: u16) -> Result<(), String> {
        let payload: Vec<u8> = (0..32u8).map(|i| i ^ seq as u8).collect();
        let req = icmp_echo_request(ip(addr::HOST_A), ip(addr::HOST_B), ident, seq, &payload);
        let until = std::time::Instant::now() + PING_TIMEOUT;
        let mut next_send = std::time::Instant::now();
        while std::time::Instant::now() < until {
            // Resent every second like ping(8): the peer may still be installing the SA pair
            // when the first one arrives right after QM3 (libipsec then drops it "due to
            // policy").
            if std::time::Instant::now() >= next_send {
                let v = self.driver.send_packet(&req).map_err(|e| e.to_string())?;
                if v != TunVerdict::Protected {
                    return Err(format!("echo request not protected: {v:?}"));
                }
                self.requests_sent += 1;
                next_send += Duration::from_secs(1);
            }
            self.step(Duration::from_millis(100));
            while let Some(p) = self.driver.recv_packet() {
                let Some(e) = parse_icmp_echo(&p) else {
                    continue;
                };
                if e.icmp_type == ICMP_ECHO_REPLY && e.ident == ident && e.seq == seq {
                    if e.src != ip(addr::HOST_B) || e.dst != ip(addr::HOST_A) {
                        return Err(format!("reply with wrong addresses: {e:?}"));
                    }
                    if e.payload != payload {
                        return Err("reply payload differs".into());
                    }
                    return Ok(());
                }
            }
        }
        Err("no echo reply".into())
    }

    /// `swanctl --list-sas` shows the IKE SA ESTABLISHED and the child INSTALLED.
    pub fn check_swanctl(&self) {
        let sas = self.charon.list_sas().unwrap();
        assert!(sas.contains("ESTABLISHED"), "{sas}");
        assert!(sas.contains("INSTALLED"), "{sas}");
        assert!(sas.contains("IKEv1"), "{sas}");
        let p2 = self.phase2s()[0];
        // Our outbound SPI is strongSwan's inbound and vice versa.
        let spi_in = format!("{:08x}", p2.spi_in);
        let spi_out = format!("{:08x}", p2.spi_out);
        assert!(
            sas.contains(&spi_in) && sas.contains(&spi_out),
            "SPIs {spi_in}/{spi_out} in {sas}"
        );
    }

    /// The keys our key log received for `spi`.
    pub fn esp_keys(&self, spi: u32) -> EspKeyCopy {
        self.keys
            .lock()
            .unwrap()
            .esp
            .get(&spi)
            .cloned()
            .unwrap_or_else(|| panic!("the key log has no SPI {spi:08x}"))
    }

    /// Our SKEYID, SKEYID_d/a/e, Phase 1 encryption key and per-SPI ESP keys equal what charon
    /// logged.
    pub fn check_keys(&self) -> String {
        // charon writes a Quick Mode's keys when it processes the last message, which can be a
        // moment after our side installed the pair: wait (bounded) until every SPI we hold
        // appears in its log, then compare.
        let installed = self.installed();
        let ours_spis: Vec<u32> = installed.iter().flat_map(|(i, o)| [*i, *o]).collect();
        let mut theirs = self.charon.keys();
        for _ in 0..50 {
            if ours_spis.iter().all(|s| theirs.sa(*s).is_some()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            theirs = self.charon.keys();
        }
        let ep = self.driver.tunnel().tunnels().endpoint();
        let id = IkeSaId(self.qm_idle().conn_id);
        let (ci, cr) = ep.isakmp_cookies(id).unwrap();
        let ours = ep.phase1_keys_sensitive(id).unwrap();
        let logged_ka = self
            .keys
            .lock()
            .unwrap()
            .phase1_enc_key(&ci)
            .unwrap_or_else(|| panic!("the key log has no ISAKMP SA {}", hex(&ci)));
        let p1 = theirs
            .phase1_by_cookie(&ci)
            .unwrap_or_else(|| panic!("no charon Phase 1 for {}\n{}", hex(&ci), theirs.summary()));
        assert_eq!(p1.cookie_r, cr.to_vec());
        let pairs: [(&str, &[u8], &[u8]); 6] = [
            ("SKEYID", ours.skeyid().expose_secret(), &p1.skeyid),
            ("SKEYID_d", ours.skeyid_d().expose_secret(), &p1.skeyid_d),
            ("SKEYID_a", ours.skeyid_a().expose_secret(), &p1.skeyid_a),
            ("SKEYID_e", ours.skeyid_e().expose_secret(), &p1.skeyid_e),
            ("Ka", ours.enc_key().expose_secret(), &p1.enc_key),
            ("Ka (key log)", &logged_ka, &p1.enc_key),
        ];
        let mut report = String::new();
        for (name, a, b) in pairs {
            assert!(!a.is_empty(), "{name} empty");
            assert_eq!(hex(a), hex(b), "{name} differs from charon's");
            report.push_str(&format!("{name} ok ({} bytes) ", a.len()));
        }
        // The pairs still installed (older ones may come from an earlier strongSwan).
        let pfs = self.esp.split('-').count() == 3;
        for (spi_in, spi_out) in installed {
            for (dir, spi) in [("in", spi_in), ("out", spi_out)] {
                let k = self.esp_keys(spi);
                let s = theirs.sa(spi).unwrap_or_else(|| {
                    panic!("charon did not log SPI {spi:08x}\n{}", theirs.summary())
                });
                // Our inbound SA is charon's outbound one.
                assert_eq!(s.inbound, dir == "out", "direction of {spi:08x}");
                assert_eq!(s.pfs_dh.is_some(), pfs, "PFS in charon's Quick Mode");
                assert_eq!(hex(&k.enc_key), hex(&s.enc_key), "ESP enc key {dir}");
                assert_eq!(hex(&k.auth_key), hex(&s.integ_key), "ESP auth key {dir}");
                report.push_str(&format!("ESP {dir} {spi:08x} ok "));
            }
        }
        eprintln!("key comparison: {report}");
        report
    }
}
