//! The lab shared by the interop tests: topology, a strongSwan peer in gwB, our driver with its
//! sockets bound inside gwA, pings through the tunnel and key comparison.
#![allow(dead_code)]

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ipsec_examples::config::{subnet, SiteToSite};
use ipsec_examples::endpoint_driver::UdpDriver;
use ipsec_examples::packet::{icmp_echo_request, parse_icmp_echo, ICMP_ECHO_REPLY};
use ipsec_netlab::{addr, hex, Charon, CharonConn, Topology};
use ipsec_proto::ike::{Endpoint, EndpointConfig, Event, IkeSaId, Phase2Established, Role};
use ipsec_proto::rng::Rng;

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

/// What the tests remember of a Phase2Established event (the event itself is kept too).
pub struct Lab {
    // Field order = drop order: stop charon before the namespaces go.
    pub driver: UdpDriver,
    pub charon: Charon,
    pub topo: Topology,
    pub events: Vec<Event>,
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

    /// `tweak` adjusts strongSwan's connection, `ours` our endpoint configuration.
    pub fn with(
        tag: &str,
        ike: &str,
        esp: &str,
        seed: u64,
        tweak: impl FnOnce(CharonConn) -> CharonConn,
        ours: impl FnOnce(&mut EndpointConfig),
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
        ours: impl FnOnce(&mut EndpointConfig),
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
        let site = SiteToSite {
            local: ip(addr::GW_A_WAN),
            peer: ip(addr::GW_B_WAN),
            psk: PSK.into(),
            ike: ike.into(),
            esp: esp.into(),
            local_net: subnet(addr::LAN_A).unwrap(),
            remote_net: subnet(addr::LAN_B).unwrap(),
            lifetime_secs: 3600,
        };
        let (s500, s4500) = bind_in_netns(topo.gw_a.name(), ip(addr::GW_A_WAN));
        let mut config = site.endpoint_config().unwrap();
        ours(&mut config);
        let endpoint = Endpoint::new(config, Rng::from_u64(seed));
        let driver = UdpDriver::new(endpoint, s500, s4500, Rng::from_u64(seed ^ 0x5eed)).unwrap();
        Lab {
            driver,
            charon,
            topo,
            events: Vec::new(),
            conn,
            ike: ike.into(),
            esp: esp.into(),
            requests_sent: 0,
        }
    }

    pub fn diag(&self) -> String {
        format!(
            "events: {:#?}\ndriver: {:?} {:?}\nendpoint counters: {:?}\n--- charon log (tail) ---\n{}",
            self.events,
            self.driver.stats(),
            self.driver.installed(),
            self.driver.endpoint().counters(),
            tail(&self.charon.log(), 150)
        )
    }

    pub fn phase2s(&self) -> Vec<&Phase2Established> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Phase2Established(p) => Some(&**p),
                _ => None,
            })
            .collect()
    }

    pub fn failures(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::NegotiationFailed { error, .. } => Some(error.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Runs the driver until `n` Phase 2 SA pairs have been established in total.
    pub fn wait_phase2(&mut self, n: usize) -> usize {
        let ok = self
            .driver
            .run_until(NEGOTIATION_TIMEOUT, &mut self.events, |_, ev| {
                ev.iter()
                    .filter(|e| matches!(e, Event::Phase2Established(_)))
                    .count()
                    >= n
            })
            .unwrap();
        assert!(ok, "Phase 2 #{n} not established\n{}", self.diag());
        n
    }

    /// Runs the driver for `d`, whatever happens.
    pub fn run_for(&mut self, d: Duration) {
        let _ = self
            .driver
            .run_until(d, &mut self.events, |_, _| false)
            .unwrap();
    }

    /// strongSwan initiates (`swanctl --initiate --child net`) while our driver answers; the
    /// first pair of this lab.
    pub fn peer_initiates(&mut self) {
        self.peer_initiates_again(1);
    }

    /// strongSwan initiates; returns once `total` pairs have been established in this lab.
    pub fn peer_initiates_again(&mut self, total: usize) {
        let charon = &self.charon;
        let driver = &mut self.driver;
        let events = &mut self.events;
        let out = std::thread::scope(|s| {
            let h = s.spawn(|| charon.initiate("net"));
            let _ = driver
                .run_until(NEGOTIATION_TIMEOUT, events, |_, ev| {
                    h.is_finished()
                        && ev
                            .iter()
                            .filter(|e| matches!(e, Event::Phase2Established(_)))
                            .count()
                            >= total
                })
                .unwrap();
            h.join().unwrap()
        });
        let out = out.unwrap_or_else(|e| panic!("swanctl --initiate: {e}\n{}", self.diag()));
        assert!(
            out.contains("initiate completed successfully"),
            "{out}\n{}",
            self.diag()
        );
        assert_eq!(self.phase2s().len(), total, "{}", self.diag());
    }

    /// Phase 1 is up, in our role, over UDP 4500 (strongSwan forces NAT-T) with the suite.
    pub fn check_phase1(&self, role: Role, ike: &str) {
        let up: Vec<_> = self
            .events
            .iter()
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
        let now = self.driver.now();
        let sas = self.driver.endpoint().isakmp_sas(now);
        let sa = sas
            .iter()
            .find(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .expect("QM_IDLE");
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

    /// Sends `count` echo requests 10.1.1.10 -> 10.2.2.10 through the newest SA pair and waits
    /// for each reply (right id, seq, addresses, payload).
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
                self.driver.send_packet(&req).map_err(|e| e.to_string())?;
                self.requests_sent += 1;
                next_send += Duration::from_secs(1);
            }
            let ev = self.driver.step(Duration::from_millis(100)).unwrap();
            self.events.extend(ev);
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
        let spi_in = format!("{:08x}", p2.keys.inbound.spi());
        let spi_out = format!("{:08x}", p2.keys.outbound.spi());
        assert!(
            sas.contains(&spi_in) && sas.contains(&spi_out),
            "SPIs {spi_in}/{spi_out} in {sas}"
        );
    }

    /// Our SKEYID, SKEYID_d/a/e, Phase 1 encryption key and per-SPI ESP keys equal what charon
    /// logged.
    pub fn check_keys(&self) -> String {
        // charon writes a Quick Mode's keys when it processes the last message, which can be a
        // moment after our side installed the pair: wait (bounded) until every SPI we hold
        // appears in its log, then compare.
        let installed: Vec<_> = self.driver.installed().iter().map(|i| i.0).collect();
        let ours_spis: Vec<u32> = self
            .phase2s()
            .into_iter()
            .filter(|p| installed.contains(&p.child))
            .flat_map(|p| [p.keys.inbound.spi(), p.keys.outbound.spi()])
            .collect();
        let mut theirs = self.charon.keys();
        for _ in 0..50 {
            if ours_spis.iter().all(|s| theirs.sa(*s).is_some()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            theirs = self.charon.keys();
        }
        let now = self.driver.now();
        let ep = self.driver.endpoint();
        let sa = ep
            .isakmp_sas(now)
            .into_iter()
            .find(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .unwrap();
        let id = IkeSaId(sa.conn_id);
        let (ci, cr) = ep.isakmp_cookies(id).unwrap();
        let ours = ep.phase1_keys_sensitive(id).unwrap();
        let p1 = theirs
            .phase1_by_cookie(&ci)
            .unwrap_or_else(|| panic!("no charon Phase 1 for {}\n{}", hex(&ci), theirs.summary()));
        assert_eq!(p1.cookie_r, cr.to_vec());
        let pairs: [(&str, &[u8], &[u8]); 5] = [
            ("SKEYID", ours.skeyid().expose_secret(), &p1.skeyid),
            ("SKEYID_d", ours.skeyid_d().expose_secret(), &p1.skeyid_d),
            ("SKEYID_a", ours.skeyid_a().expose_secret(), &p1.skeyid_a),
            ("SKEYID_e", ours.skeyid_e().expose_secret(), &p1.skeyid_e),
            ("Ka", ours.enc_key().expose_secret(), &p1.enc_key),
        ];
        let mut report = String::new();
        for (name, a, b) in pairs {
            assert!(!a.is_empty(), "{name} empty");
            assert_eq!(hex(a), hex(b), "{name} differs from charon's");
            report.push_str(&format!("{name} ok ({} bytes) ", a.len()));
        }
        // The pairs still installed (older ones may come from an earlier strongSwan).
        for p2 in self
            .phase2s()
            .into_iter()
            .filter(|p| installed.contains(&p.child))
        {
            for (dir, k) in [("in", &p2.keys.inbound), ("out", &p2.keys.outbound)] {
                let s = theirs.sa(k.spi()).unwrap_or_else(|| {
                    panic!(
                        "charon did not log SPI {:08x}\n{}",
                        k.spi(),
                        theirs.summary()
                    )
                });
                // Our inbound SA is charon's outbound one.
                assert_eq!(s.inbound, dir == "out", "direction of {:08x}", k.spi());
                let pfs = self.esp.split('-').count() == 3;
                assert_eq!(s.pfs_dh.is_some(), pfs, "PFS in charon's Quick Mode");
                assert_eq!(hex(k.enc_key()), hex(&s.enc_key), "ESP enc key {dir}");
                assert_eq!(hex(k.auth_key()), hex(&s.integ_key), "ESP auth key {dir}");
                report.push_str(&format!("ESP {dir} {:08x} ok ", k.spi()));
            }
        }
        eprintln!("key comparison: {report}");
        report
    }
}
