//! Per-packet and per-datagram cost of the tunnel layer at 1, 100 and 10 000 tunnels, with the
//! traffic spread uniformly over all of them (one hot SA would prove nothing about indexes).
//!
//! One gateway ([`Tunnels`], one crypto map entry per branch, as a hub configuration reads) and
//! N branches ([`Tunnel`] each), negotiated for real (Main Mode group 1 to keep the set-up of
//! 10 000 short; the data path does not depend on the group) before anything is timed:
//! - `encap/S/N`: a batch of [`BATCH`] cleartext packets of S bytes, each to a random branch's
//!   LAN: classification through the crypto maps, ESP (AES-128/SHA-1) and queueing. The packets
//!   are written into the batch buffers just before (as a read from the TUN leaves them in
//!   cache); what comes from memory at 10 000 tunnels is the tunnels' state. Criterion reports
//!   a batch: divide by [`BATCH`] for a packet;
//! - `decap/1400/N`: a batch of ESP packets, each from a random branch, copied into the batch
//!   buffers untimed (as a receive would): SPI lookup, ICV, decryption, proxy check; the
//!   gateway's anti-replay is off so the same packets can be fed again;
//! - `ike/N`: an Informational from a random branch under a message ID already used: cookie
//!   lookup and the message-ID check (the cost every IKE datagram pays before any crypto).
//!
//! Before timing, the live heap the gateway holds per negotiated tunnel is printed (a counting
//! allocator measures the gateway with its configuration before and after the negotiations).
//! `cargo bench --bench tunnels` runs all sizes; as a test (`cargo test --benches`) only N = 1.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ipsec_proto::rng::Rng;
use ipsec_proto::time::Instant;
use ipsec_proto::tunnel::{
    CoreOptions, Dest, Iface, Outputs, TunVerdict, Tunnel, TunnelEvent, Tunnels, BATCH,
};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; the counter is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Kilobytes of an SA's volume lifetime in the benchmark (2^40 KiB).
const HUGE_KB: u64 = 1 << 40;

const GW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn branch_addr(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        10,
        1 + (k / 62_500) as u8,
        ((k / 250) % 250) as u8,
        (k % 250 + 1) as u8,
    )
}

fn branch_lan(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(172, 16 + (k / 256) as u8, (k % 256) as u8, 0)
}

const POLICY: &str = "crypto isakmp policy 10\n encr aes\n hash sha\n authentication pre-share\n group 1\ncrypto ipsec transform-set T esp-aes esp-sha-hmac\ncrypto ipsec security-association lifetime kilobytes 4194303\n";

fn gateway_config(n: usize) -> String {
    let mut s = String::from(POLICY);
    for k in 0..n {
        s += &format!(
            "crypto isakmp key bench-key-{k} address {}\n",
            branch_addr(k)
        );
    }
    for k in 0..n {
        s += &format!(
            "ip access-list extended B{k}\n permit ip 192.168.0.0 0.0.255.255 {} 0.0.0.255\n",
            branch_lan(k)
        );
        s += &format!(
            "crypto map HUB {} ipsec-isakmp\n set peer {}\n set transform-set T\n match address B{k}\n",
            k + 1,
            branch_addr(k)
        );
    }
    s + &format!(
        "interface GigabitEthernet0/0\n ip address {GW} 255.255.255.0\n crypto map HUB\ninterface GigabitEthernet0/1\n ip address 192.168.0.1 255.255.0.0\n"
    )
}

fn branch_config(k: usize) -> String {
    format!(
        "{POLICY}crypto isakmp key bench-key-{k} address {GW}\naccess-list 101 permit ip {} 0.0.0.255 192.168.0.0 0.0.255.255\ncrypto map VPN 10 ipsec-isakmp\n set peer {GW}\n set transform-set T\n match address 101\ninterface FastEthernet0\n ip address {} 255.255.255.0\n crypto map VPN\ninterface FastEthernet1\n ip address {} 255.255.255.0\n",
        branch_lan(k),
        branch_addr(k),
        Ipv4Addr::from(u32::from(branch_lan(k)) + 1),
    )
}

fn packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(28)];
    p[0] = 0x45;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&4000u16.to_be_bytes());
    p[24..26].copy_from_slice(&(total - 20).to_be_bytes());
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    p
}

/// Rewrites the destination of an IPv4 packet built by [`packet`] and its header checksum.
fn set_dst(p: &mut [u8], dst: Ipv4Addr) {
    p[16..20].copy_from_slice(&dst.octets());
    p[10..12].fill(0);
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
}

struct Hub {
    gw: Tunnels,
    out: Outputs,
    /// One ESP packet (SPI onwards) per branch, to the gateway.
    esp: Vec<Vec<u8>>,
    /// Per branch: an encrypted Informational header under its cookies with message ID 0,
    /// which the gateway finds by cookie and drops at the message-ID check.
    ike: Vec<Vec<u8>>,
    now: Instant,
    heap_per_tunnel: isize,
    /// The same after the linger time, when finished exchanges dropped their cached messages.
    heap_per_tunnel_lingered: isize,
}

impl Hub {
    fn new(n: usize) -> Hub {
        let mut cfg = ipsec_proto::ios::parse(&gateway_config(n))
            .expect("gateway config")
            .config;
        cfg.ipsec.replay_window = 0;
        // Criterion pushes terabytes through one SA; no volume lifetime may end it mid-run.
        cfg.ipsec.sa_lifetime_kb = HUGE_KB;
        let out = Outputs::default();
        let gw = Tunnels::new(cfg, CoreOptions::seeded(7)).expect("gateway");
        let configured = LIVE.load(Ordering::Relaxed);
        let mut branches: Vec<Tunnel> = (0..n)
            .map(|k| {
                let mut c = ipsec_proto::ios::parse(&branch_config(k))
                    .expect("branch")
                    .config;
                c.ipsec.sa_lifetime_kb = HUGE_KB;
                Tunnel::new(c, CoreOptions::seeded(1000 + k as u64)).expect("branch")
            })
            .collect();
        let by_addr: HashMap<Ipv4Addr, usize> = (0..n).map(|k| (branch_addr(k), k)).collect();
        let mut hub = Hub {
            gw,
            out,
            esp: Vec::with_capacity(n),
            ike: Vec::with_capacity(n),
            now: Instant::from_millis(1_000),
            heap_per_tunnel: 0,
            heap_per_tunnel_lingered: 0,
        };
        for k in 0..n {
            hub.connect(&mut branches, k, &by_addr);
        }
        drop(branches);
        drop(by_addr);
        let recorded: usize = hub
            .esp
            .iter()
            .chain(hub.ike.iter())
            .map(|v| v.capacity())
            .sum();
        let after = LIVE.load(Ordering::Relaxed);
        let overhead = recorded as isize + (2 * n * 24) as isize;
        hub.heap_per_tunnel = (after - configured - overhead) / n as isize;
        // Past the linger time (and well inside every lifetime): steady state.
        hub.now = Instant::from_millis(hub.now.as_millis() + 300_000);
        hub.gw.handle_timeout(hub.now, &mut hub.out);
        while hub.gw.poll_event().is_some() {}
        hub.out.clear();
        let lingered = LIVE.load(Ordering::Relaxed);
        hub.heap_per_tunnel_lingered = (lingered - configured - overhead) / n as isize;
        hub
    }

    /// Branch `k` brings its tunnel up, then one ESP packet and one IKE datagram of it are
    /// recorded for the timed loops.
    fn connect(&mut self, branches: &mut [Tunnel], k: usize, by_addr: &HashMap<Ipv4Addr, usize>) {
        let src = Ipv4Addr::from(u32::from(branch_lan(k)) + 10);
        let first = packet(src, Ipv4Addr::new(192, 168, 0, 10), 100);
        assert_eq!(
            branches[k].handle_plaintext(self.now, &first),
            TunVerdict::NoSa
        );
        let mut buf = vec![0u8; 65_536];
        let mut up = false;
        for _ in 0..16 {
            while let Ok(Some(t)) = branches[k].poll_transmit(&mut buf) {
                if let Dest::Udp { local, remote } = t.dest {
                    let _ =
                        self.gw
                            .handle_udp(self.now, remote, local, &buf[..t.len], &mut self.out);
                }
            }
            let sent: Vec<(Dest, Vec<u8>)> =
                self.out.packets().map(|(d, p)| (d, p.to_vec())).collect();
            self.out.clear();
            for (d, p) in sent {
                if let Dest::Udp { local, remote } = d {
                    if let Some(&b) = by_addr.get(remote.ip()) {
                        let _ = branches[b].handle_udp(self.now, remote, local, &p);
                    }
                }
            }
            while let Some(e) = branches[k].poll_event() {
                up |= matches!(e, TunnelEvent::IpsecUp { .. });
            }
            if up {
                break;
            }
            self.now = Instant::from_millis(self.now.as_millis() + 1);
        }
        assert!(up, "branch {k} negotiated");
        // The branch's last word (QM3) installs the gateway's pair.
        while let Ok(Some(t)) = branches[k].poll_transmit(&mut buf) {
            if let Dest::Udp { local, remote } = t.dest {
                let _ = self
                    .gw
                    .handle_udp(self.now, remote, local, &buf[..t.len], &mut self.out);
            }
        }
        self.out.clear();
        let mut gw_up = false;
        while let Some(e) = self.gw.poll_event() {
            gw_up |= matches!(e, TunnelEvent::IpsecUp { .. });
        }
        assert!(gw_up, "gateway installed branch {k}'s pair");
        let p = packet(src, Ipv4Addr::new(192, 168, 0, 10), 1400);
        assert_eq!(
            branches[k].handle_plaintext(self.now, &p),
            TunVerdict::Protected
        );
        let t = branches[k].poll_transmit(&mut buf).unwrap().unwrap();
        assert!(matches!(t.dest, Dest::Esp { .. }));
        self.esp.push(buf[..t.len].to_vec());
        let ep = self.gw.endpoint();
        let sa = ep
            .isakmp_sas(self.now)
            .into_iter()
            .find(|s| s.path.remote.ip() == std::net::IpAddr::V4(branch_addr(k)))
            .expect("gateway ISAKMP SA");
        let (ci, cr) = ep
            .isakmp_cookies(ipsec_proto::ike::IkeSaId(sa.conn_id))
            .unwrap();
        let mut m = Vec::with_capacity(60);
        m.extend_from_slice(&ci);
        m.extend_from_slice(&cr);
        // HASH next, version 1.0, Informational, encrypted, message ID 0, length 60.
        m.extend_from_slice(&[8, 0x10, 5, 1, 0, 0, 0, 0, 0, 0, 0, 60]);
        m.resize(60, 0);
        self.ike.push(m);
    }
}

fn bench(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    // `TUNNELS_SIZES=100,1000` picks other sizes (for quick looks while developing).
    let picked: Option<Vec<usize>> = std::env::var("TUNNELS_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let sizes: &[usize] = match &picked {
        Some(p) => p,
        None if full => &[1, 100, 10_000],
        None => &[1],
    };
    let mut g = c.benchmark_group("tunnels");
    for &n in sizes {
        let mut hub = Hub::new(n);
        eprintln!(
            "tunnels: {n} negotiated; gateway heap per tunnel {} bytes right after set-up, {} after the linger time",
            hub.heap_per_tunnel, hub.heap_per_tunnel_lingered
        );
        let mut rng = Rng::from_u64(n as u64);
        let order: Vec<usize> = (0..4096).map(|_| rng.below(n as u64) as usize).collect();
        let mut next = 0usize;
        let mut pick = move || {
            next += 1;
            order[next % order.len()]
        };
        for size in [64usize, 1400] {
            // The batch buffers: one template rewritten per packet with its branch's address,
            // as a read from the TUN leaves a fresh packet in cache. The tunnels' state is what
            // must come from memory.
            let mut bufs: Vec<Vec<u8>> = (0..BATCH)
                .map(|_| packet(Ipv4Addr::new(192, 168, 0, 10), branch_lan(0), size))
                .collect();
            // The timed path must be the real one: protected, not dropped early.
            let v = hub.gw.handle_plaintext_batch(
                hub.now,
                Iface::Inside,
                bufs.iter().map(|b| b.as_slice()),
                &mut hub.out,
            );
            assert_eq!(
                v.protected, BATCH,
                "{size}-byte packets are protected: {v:?}"
            );
            assert!(hub
                .out
                .packets()
                .any(|(d, _)| matches!(d, Dest::Esp { .. })));
            hub.out.clear();
            g.throughput(Throughput::Elements(BATCH as u64));
            g.bench_function(BenchmarkId::new(format!("encap/{size}"), n), |b| {
                b.iter_custom(|iters| {
                    let mut spent = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        for buf in bufs.iter_mut() {
                            set_dst(buf, Ipv4Addr::from(u32::from(branch_lan(pick())) + 10));
                        }
                        let t = std::time::Instant::now();
                        let v = hub.gw.handle_plaintext_batch(
                            hub.now,
                            Iface::Inside,
                            bufs.iter().map(|b| black_box(b.as_slice())),
                            &mut hub.out,
                        );
                        hub.out.clear();
                        spent += t.elapsed();
                        debug_assert_eq!(v.protected, BATCH);
                    }
                    spent
                })
            });
        }
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1500)).collect();
        let verdict = hub
            .gw
            .handle_esp(hub.now, branch_addr(0), &hub.esp[0], &mut hub.out);
        assert_eq!(verdict, Ok(()));
        assert!(
            hub.out.packets().any(|(d, _)| d == Dest::Tun),
            "an ESP packet decrypts to the LAN: {:?}",
            hub.gw.counters()
        );
        hub.out.clear();
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new("decap/1400", n), |b| {
            b.iter_custom(|iters| {
                let mut spent = std::time::Duration::ZERO;
                for _ in 0..iters {
                    // Each packet from its own branch, copied into the batch as a receive
                    // would (every branch's packet is its own ciphertext).
                    let mut src = Ipv4Addr::UNSPECIFIED;
                    for buf in bufs.iter_mut() {
                        let k = pick();
                        buf.clear();
                        buf.extend_from_slice(&hub.esp[k]);
                        src = branch_addr(k);
                    }
                    let t = std::time::Instant::now();
                    // The source address only feeds diagnosis; the SPI finds the pair.
                    let v = hub.gw.handle_esp_batch(
                        hub.now,
                        src,
                        bufs.iter().map(|b| black_box(b.as_slice())),
                        &mut hub.out,
                    );
                    hub.out.clear();
                    spent += t.elapsed();
                    debug_assert_eq!(v.protected, BATCH);
                }
                spent
            })
        });
        let verdict = hub
            .gw
            .handle_esp(hub.now, branch_addr(0), &hub.esp[0], &mut hub.out);
        assert_eq!(verdict, Ok(()));
        assert!(
            hub.out.packets().any(|(d, _)| d == Dest::Tun),
            "still decrypting after the timed loop"
        );
        hub.out.clear();
        let delivered = hub.gw.counters();
        assert_eq!(delivered.invalid_spi, 0, "every ESP packet found its SA");
        g.throughput(Throughput::Elements(1));
        let local = SocketAddrV4::new(GW, 500);
        // The timed path must be the real one: found by cookie, refused at the message-ID check.
        let remote = SocketAddrV4::new(branch_addr(0), 500);
        let _ = hub
            .gw
            .handle_udp(hub.now, local, remote, &hub.ike[0], &mut hub.out);
        hub.out.clear();
        assert!(
            hub.gw.endpoint().counters().replayed_message_id > 0,
            "the IKE datagrams reach their SA's message-ID check"
        );
        g.bench_function(BenchmarkId::new("ike", n), |b| {
            b.iter(|| {
                let k = pick();
                let remote = SocketAddrV4::new(branch_addr(k), 500);
                // Refused as a replayed message ID (checked below): demux and replay check.
                let _ =
                    hub.gw
                        .handle_udp(hub.now, local, remote, black_box(&hub.ike[k]), &mut hub.out);
                hub.out.clear();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
