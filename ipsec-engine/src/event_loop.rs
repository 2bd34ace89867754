//! The engine's single-threaded event loop: epoll over the TUN, the TUNs of the static VTIs
//! (whose routes it installs and withdraws as their line protocol changes), the UDP sockets,
//! the raw ESP sockets, the control socket and its clients, the signalfd and a stop eventfd; the timeout is
//! the core's next deadline. Everything protocol-related is behind [`Gateway`].
//!
//! Receive buffers and the output queue are allocated once; per packet the loop only makes
//! syscalls and calls the core. Reads are batched per wakeup (up to [`READ_BUDGET`] per
//! descriptor) so one busy socket cannot starve the others.

use crate::control::{self, Command, CommandId, ControlReply};
use crate::outputs::{DebugKind, Dest, Outputs};
use crate::sys::clock;
use crate::sys::epoll::{self, Epoll};
use crate::sys::raw_esp::{EspBatch, RawEsp};
use crate::sys::signal::{SignalFd, StopHandle};
use crate::sys::tun::Tun;
use crate::sys::udp::{RecvBatch, UdpSock, GSO_BATCH, MAX_BATCH};
use ipsec_proto::time::Instant;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The protocol core as the loop sees it. Every call gets the current CLOCK_BOOTTIME instant and
/// an output queue; whatever the core queues is sent when the call returns.
pub trait Gateway {
    /// MTU to give the TUN device (path MTU minus the ESP/UDP overhead the core expects).
    fn tun_mtu(&self) -> u32;
    /// A cleartext packet the kernel routed into the TUN (to be protected, or dropped).
    fn on_tun_packet(&mut self, now: Instant, pkt: &[u8], out: &mut Outputs);
    /// Cleartext packets the TUN handed over together (the segments of one GSO read, and the
    /// reads that were already waiting), in order: the core works them as a batch, so that a
    /// cipher with a wide pass (bitsliced 3DES) gets many packets at once. The default hands
    /// them over one by one.
    fn on_tun_batch(&mut self, now: Instant, packets: &[&[u8]], out: &mut Outputs) {
        for p in packets {
            self.on_tun_packet(now, p, out);
        }
    }
    /// A UDP datagram on port 500 or 4500 (IKE, NAT-T keepalive, or UDP-encapsulated ESP).
    fn on_udp(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        data: &[u8],
        out: &mut Outputs,
    );
    /// UDP datagrams received together from `remote` on `local`, in order (the segments of
    /// a GRO train, datagrams of one `recvmmsg`): the core works them as a batch. The default
    /// hands them over one by one.
    fn on_udp_batch(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        datagrams: &[&[u8]],
        out: &mut Outputs,
    ) {
        for d in datagrams {
            self.on_udp(now, local, remote, d, out);
        }
    }
    /// An ESP packet (SPI onwards, IPv4 header stripped) received over IP protocol 50.
    fn on_esp(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        data: &[u8],
        out: &mut Outputs,
    );
    /// ESP packets received together from `src` to `dst`, in order (one `recvmmsg`): the core
    /// works them as a batch. The default hands them over one by one.
    fn on_esp_batch(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        packets: &[&[u8]],
        out: &mut Outputs,
    ) {
        for p in packets {
            self.on_esp(now, src, dst, p, out);
        }
    }
    /// The deadline from [`Gateway::next_deadline`] has passed.
    fn on_timer(&mut self, now: Instant, out: &mut Outputs);
    /// When the core next needs [`Gateway::on_timer`]; `None` when it has nothing pending.
    fn next_deadline(&self) -> Option<Instant>;
    /// A resolved exec command (show/clear); debug and undebug are handled by the loop, which
    /// tells the core through [`Outputs::debugging`].
    fn on_control(&mut self, now: Instant, cmd: &Command, out: &mut Outputs) -> ControlReply;
    /// SIGTERM/SIGINT or a stop request: queue Delete notifications now; they are sent before
    /// routes, rules and the TUN are removed.
    fn on_shutdown(&mut self, now: Instant, out: &mut Outputs);
    /// A new configuration (`reload` or SIGHUP): apply it, keeping what did not change, and
    /// say what happened. The default refuses.
    fn on_reload(
        &mut self,
        now: Instant,
        config: ipsec_proto::policy::GatewayConfig,
        out: &mut Outputs,
    ) -> ControlReply {
        let _ = (now, config, out);
        ControlReply::Error("% reload not supported by this gateway".into())
    }
    /// (local, peer) address pairs whose path MTU the loop should watch (none by default).
    fn pmtu_peers(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        Vec::new()
    }
    /// A number that changes whenever [`Gateway::rri_routes`] does (never, by default).
    fn rri_generation(&self) -> u64 {
        0
    }
    /// The routes into the TUN the core asks for now (reverse route injection and dynamic
    /// maps' learned networks); the loop installs and removes them to match.
    fn rri_routes(&self) -> Vec<crate::sys::route::RriRoute> {
        Vec::new()
    }
    /// Addresses an Easy VPN server assigned us, to be put on the TUN (they change with
    /// [`Gateway::rri_generation`], as the split routes that come with them do).
    fn client_addresses(&self) -> Vec<Ipv4Addr> {
        Vec::new()
    }
    /// The DNS servers and default domain an Easy VPN server pushed to a connection that is
    /// configured now (`None`: none is, or it pushed neither), for `run --resolv-conf`.
    /// Borrowed: the loop asks on every turn and must not allocate for it.
    fn pushed_resolver(&self) -> Option<(&[Ipv4Addr], Option<&str>)> {
        None
    }
    /// The kernel's path MTU towards `peer` (the route's MTU, lowered by ICMP
    /// fragmentation-needed answering our packets). Called when it differs from the last report.
    fn on_path_mtu(&mut self, now: Instant, peer: Ipv4Addr, mtu: u32, out: &mut Outputs) {
        let _ = (now, peer, mtu, out);
    }
    /// Cleartext packets the kernel routed into VTI `TunnelN` (its TUN), read together: all
    /// go to the tunnel's peer. The default drops them.
    fn on_vti_packets(&mut self, now: Instant, tunnel: u32, packets: &[&[u8]], out: &mut Outputs) {
        let _ = (now, tunnel, packets, out);
    }
    /// Line protocol of `TunnelN` (an IPsec SA pair exists); the loop installs the tunnel's
    /// static routes while it is up and withdraws them while it is down.
    fn line_protocol(&self, tunnel: u32) -> bool {
        let _ = tunnel;
        false
    }
    /// What `show interfaces TunnelN` shows, before the loop puts its own packet counters in.
    fn tunnel_interface(
        &self,
        tunnel: u32,
    ) -> Option<ipsec_proto::ios::show_interface::TunnelInterfaceSnapshot> {
        let _ = tunnel;
        None
    }
    /// The interfaces of the configuration for `show ip interface brief`; `link_up` of those
    /// that are not VTIs is filled in by the loop from the host.
    fn interfaces_brief(&self) -> Vec<ipsec_proto::ios::show_interface::InterfaceBrief> {
        Vec::new()
    }
    /// The crypto interface's address (`ip address dhcp|negotiated`) changed on the host to
    /// `addr` (`None`: it has none left). Clear every SA bound to the old address and, given
    /// one, negotiate from the new address from now on; the loop moves the sockets and
    /// discards whatever this queues for the old address. Returns a line for the log.
    /// The default clears nothing.
    fn on_local_address(
        &mut self,
        now: Instant,
        addr: Option<Ipv4Addr>,
        out: &mut Outputs,
    ) -> Result<String, String> {
        let _ = (now, addr, out);
        Err("this gateway cannot change its local address".into())
    }
}

/// What the loop needs to bind the IKE, NAT-T and raw ESP sockets again on a new address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketPlan {
    /// IKE port (500).
    pub ike_port: u16,
    /// NAT-T port (4500).
    pub natt_port: u16,
    /// Open the raw ESP socket too.
    pub raw_esp: bool,
    /// SO_MARK of the sockets.
    pub mark: u32,
}

/// Packets one VTI TUN carried, as the loop counted them (IOS's interface counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VtiCounters {
    /// Packets read from the TUN (routed out of `TunnelN`, offered to the tunnel).
    pub output_packets: u64,
    /// Their bytes.
    pub output_bytes: u64,
    /// Packets written into the TUN (decrypted, come in on `TunnelN`).
    pub input_packets: u64,
    /// Their bytes.
    pub input_bytes: u64,
    /// Writes into the TUN that failed.
    pub input_errors: u64,
}

/// One VTI: its TUN, its static routes (installed while the line protocol is up), counters.
struct VtiTun {
    number: u32,
    tun: Tun,
    routes: crate::sys::route::VtiRoutes,
    counters: VtiCounters,
}

/// How often the loop asks the kernel for the path MTU towards each peer (while events arrive).
const PMTU_INTERVAL_MS: u64 = 1000;

/// Packets read from one descriptor per wakeup before the loop looks at the others.
pub const READ_BUDGET: usize = 64;

/// Datagrams per recvmmsg; slots are 64 KiB so nothing is ever truncated (1 MiB in all).
const UDP_BATCH: usize = 16;
/// Longest run of ESP packets handed to the core at once (a receive batch at most).
const ESP_RUN: usize = UDP_BATCH;
/// UDP datagrams per core call (a GRO train holds up to 64).
const UDP_RUN: usize = 64;

const TOK_TUN: u64 = 1;
const TOK_SIGNAL: u64 = 2;
const TOK_STOP: u64 = 3;
const TOK_LISTENER: u64 = 4;
const TOK_ADDR: u64 = 5;
const TOK_UDP: u64 = 100;
const TOK_ESP: u64 = 200;
/// VTI TUNs: up to 500 of them.
const TOK_VTI: u64 = 500;
const TOK_CLIENT: u64 = 1000;

/// Packets read from a VTI TUN before the core gets them as one batch.
const VTI_BATCH: usize = 16;
/// Cleartext packets per core call from the crypto-map TUN (a 64 KiB GSO read at a 1 400-byte
/// MSS is 47 segments).
const TUN_BATCH: usize = 64;
/// Bytes of the arena those packets are gathered in (at most [`TUN_BATCH`] packets of the
/// largest TUN MTU fit).
const TUN_ARENA: usize = TUN_BATCH * 9216;
/// A VTI TUN has no offloads: a read is one packet of at most its MTU, below 64 KiB.
const VTI_SLOT: usize = 65536;

/// Pending output a slow debug subscriber may accumulate before its lines are dropped.
const MAX_CLIENT_BACKLOG: usize = 1 << 20;

/// Why [`EventLoop::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM or SIGINT (the number).
    Signal(i32),
    /// [`StopHandle::stop`] was called.
    Requested,
}

/// Counters of things the loop dropped or failed at; `diagnose` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Packets read from the TUN.
    pub tun_in: u64,
    /// TCP super-packets (TUN segmentation offload) split into segments; counted in `tun_in`.
    pub tun_gso: u64,
    /// TUN reads that could not be split (malformed offload header or packet).
    pub tun_malformed: u64,
    /// Coalesced TCP super-packets written to the TUN (their segments count in `tun_out`).
    pub tun_gro: u64,
    /// Packets written to the TUN.
    pub tun_out: u64,
    /// UDP datagrams received.
    pub udp_in: u64,
    /// UDP datagrams sent.
    pub udp_out: u64,
    /// ESP packets received on the raw socket.
    pub esp_in: u64,
    /// ESP packets sent on the raw socket.
    pub esp_out: u64,
    /// Raw packets whose IPv4 header did not parse.
    pub esp_malformed: u64,
    /// Sends that failed or found the socket buffer full.
    pub send_errors: u64,
    /// Queued packets whose source matched no socket of ours.
    pub no_socket: u64,
    /// UDP datagrams longer than a receive slot (64 KiB: never in practice).
    pub udp_truncated: u64,
    /// Segmented UDP sends (`UDP_SEGMENT`: one message, several ESP-in-UDP datagrams).
    pub udp_gso: u64,
    /// Datagrams that went inside those sends; counted in `udp_out`.
    pub udp_gso_segments: u64,
    /// Segmented sends the kernel refused, sent again datagram by datagram.
    pub udp_gso_fallbacks: u64,
    /// Coalesced trains received (`UDP_GRO`: one buffer, several datagrams of one peer).
    pub udp_gro: u64,
    /// Datagrams cut out of those trains; counted in `udp_in`.
    pub udp_gro_segments: u64,
    /// Debug lines dropped for slow subscribers.
    pub debug_dropped: u64,
    /// Control connections that could not be accepted.
    pub control_errors: u64,
    /// MTU changes requested by the core that the TUN refused.
    pub mtu_errors: u64,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    subs: [bool; 2],
    streaming: bool,
    overlong: bool,
    watching_write: bool,
    close_after_flush: bool,
}

struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Option<Client>>,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The event loop and the descriptors it owns.
pub struct EventLoop {
    epoll: Epoll,
    tun: Option<Tun>,
    udp: Vec<UdpSock>,
    esp: Vec<RawEsp>,
    signals: Option<SignalFd>,
    stop: StopHandle,
    control: Option<ControlServer>,
    buf: Vec<u8>,
    seg: Vec<u8>,
    /// The crypto-map TUN's packets of one batch, back to back ([`TunGather`]).
    tun_arena: Vec<u8>,
    gro: Vec<u8>,
    ubatch: RecvBatch,
    ebatch: EspBatch,
    out: Outputs,
    events: Vec<libc::epoll_event>,
    stats: LoopStats,
    pmtu_next: u64,
    pmtu_seen: Vec<(Ipv4Addr, u32)>,
    reload: Option<ReloadSource>,
    /// Reverse route injection: the routes installed and the generation they match.
    rri: Option<(crate::sys::route::RriRoutes, u64)>,
    vtis: Vec<VtiTun>,
    /// Index into `vtis` by tunnel number.
    vti_index: std::collections::HashMap<u32, usize>,
    /// Receive slots of a VTI batch (allocated with the first VTI).
    vti_buf: Vec<u8>,
    /// IOS interface to Linux interface (for `show ip interface brief`).
    iface_map: Vec<(String, String)>,
    /// The `ip address dhcp|negotiated` crypto interface followed.
    addr_watch: Option<Followed>,
    /// `run --resolv-conf`: the file the pushed DNS settings go to.
    resolv_conf: Option<crate::resolv_conf::ResolvConf>,
    /// UDP segmentation offload (GSO sends, GRO receives on NAT-T) for the sockets added with
    /// [`EventLoop::add_ike_udp`]; `run --no-udp-offload` turns it off.
    udp_offload: bool,
    /// The port of the NAT-T sockets added with [`EventLoop::add_ike_udp`].
    natt_port: Option<u16>,
}

/// The followed crypto interface, how to rebind its sockets and when to look at it.
struct Followed {
    watch: crate::addr_watch::AddrWatch,
    sockets: SocketPlan,
    /// When to look next (milliseconds of the loop clock); `None`: at the next notification.
    next: Option<u64>,
    /// The kernel's address notifications; `None` when the socket could not be opened, and
    /// the loop then looks every [`crate::addr_watch::ADDR_CHECK_INTERVAL_MS`].
    events: Option<crate::sys::addr_events::AddrEvents>,
}

/// Reads the configuration again for `reload` and SIGHUP: the new configuration, or why it
/// cannot be applied (the running one then stays).
pub type ReloadSource =
    Box<dyn FnMut() -> Result<ipsec_proto::policy::GatewayConfig, String> + Send>;

/// Hands the gathered TUN packets (`ranges` of `arena`) to the core as one batch.
fn hand_tun<G: Gateway>(
    now: Instant,
    arena: &[u8],
    ranges: &[(usize, usize)],
    gw: &mut G,
    out: &mut Outputs,
) {
    if ranges.is_empty() {
        return;
    }
    let mut pkts: [&[u8]; TUN_BATCH] = [&[]; TUN_BATCH];
    for (p, (s, e)) in pkts.iter_mut().zip(ranges) {
        *p = arena.get(*s..*e).unwrap_or(&[]);
    }
    gw.on_tun_batch(now, pkts.get(..ranges.len()).unwrap_or(&[]), out);
}

impl EventLoop {
    /// An empty loop (stop eventfd only).
    pub fn new() -> io::Result<EventLoop> {
        let epoll = Epoll::new()?;
        let stop = StopHandle::new()?;
        epoll.add(stop.as_raw_fd(), TOK_STOP, false)?;
        Ok(EventLoop {
            epoll,
            tun: None,
            udp: Vec::new(),
            esp: Vec::new(),
            signals: None,
            stop,
            control: None,
            buf: vec![0u8; 65536 + crate::gso::VNET_HDR_LEN],
            seg: vec![0u8; 65536],
            tun_arena: vec![0u8; TUN_ARENA],
            gro: vec![0u8; 65536 + crate::gso::VNET_HDR_LEN],
            ubatch: RecvBatch::new(UDP_BATCH, 65536),
            ebatch: EspBatch::new(UDP_BATCH, 65536),
            out: Outputs::default(),
            events: vec![epoll::EMPTY_EVENT; 64],
            stats: LoopStats::default(),
            pmtu_next: 0,
            pmtu_seen: Vec::new(),
            reload: None,
            rri: None,
            vtis: Vec::new(),
            vti_index: std::collections::HashMap::new(),
            vti_buf: Vec::new(),
            iface_map: Vec::new(),
            addr_watch: None,
            resolv_conf: None,
            udp_offload: true,
            natt_port: None,
        })
    }

    /// Adds the TUN of VTI `TunnelN` and the routes through it (installed once its line
    /// protocol is up).
    pub fn add_vti(
        &mut self,
        number: u32,
        tun: Tun,
        routes: crate::sys::route::VtiRoutes,
    ) -> io::Result<()> {
        let idx = self.vtis.len();
        if TOK_VTI + idx as u64 >= TOK_CLIENT || self.vti_index.contains_key(&number) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Tunnel{number}: too many or duplicate tunnel interfaces"),
            ));
        }
        self.epoll
            .add(tun.as_raw_fd(), TOK_VTI + idx as u64, false)?;
        if self.vti_buf.is_empty() {
            self.vti_buf = vec![0u8; VTI_BATCH * VTI_SLOT];
        }
        self.vti_index.insert(number, idx);
        self.vtis.push(VtiTun {
            number,
            tun,
            routes,
            counters: VtiCounters::default(),
        });
        Ok(())
    }

    /// The VTI TUN names, in order.
    pub fn vti_names(&self) -> Vec<String> {
        self.vtis.iter().map(|v| v.tun.name().to_string()).collect()
    }

    /// Counters of VTI `TunnelN`.
    pub fn vti_counters(&self, number: u32) -> Option<VtiCounters> {
        let i = self.vti_index.get(&number)?;
        self.vtis.get(*i).map(|v| v.counters)
    }

    /// IOS to Linux interface names, for `show ip interface brief`.
    pub fn set_interface_map(&mut self, map: Vec<(String, String)>) {
        self.iface_map = map;
    }

    /// Withdraws the routes through every VTI (for teardown).
    pub fn withdraw_vti_routes(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for v in &mut self.vtis {
            errors.extend(v.routes.set_up(false));
        }
        errors
    }

    /// Installs or withdraws each VTI's routes to follow its line protocol.
    fn sync_vti_lines<G: Gateway>(&mut self, gw: &G) {
        for v in &mut self.vtis {
            let up = gw.line_protocol(v.number);
            if up == v.routes.is_up() {
                continue;
            }
            eprintln!(
                "ipsec-engine: %LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel{}, changed state to {}",
                v.number,
                if up { "up" } else { "down" }
            );
            for e in v.routes.set_up(up) {
                eprintln!("ipsec-engine: warning: Tunnel{} route: {e}", v.number);
            }
        }
    }

    /// Reads what the kernel routed into VTI `idx`, in batches of up to [`VTI_BATCH`].
    fn read_vti<G: Gateway>(&mut self, idx: usize, gw: &mut G) -> io::Result<()> {
        let now = clock::now();
        let mut budget = READ_BUDGET;
        while budget > 0 {
            let Some(v) = self.vtis.get_mut(idx) else {
                break;
            };
            let mut lens = [0usize; VTI_BATCH];
            let mut k = 0;
            for (slot, len) in self.vti_buf.chunks_mut(VTI_SLOT).zip(lens.iter_mut()) {
                match v.tun.recv(slot)? {
                    Some(n) => {
                        *len = n;
                        k += 1;
                    }
                    None => break,
                }
            }
            if k == 0 {
                break;
            }
            budget = budget.saturating_sub(k);
            let mut pkts: [&[u8]; VTI_BATCH] = [&[]; VTI_BATCH];
            for ((p, slot), len) in pkts.iter_mut().zip(self.vti_buf.chunks(VTI_SLOT)).zip(lens) {
                *p = slot.get(..len).unwrap_or(&[]);
                v.counters.output_bytes += len as u64;
            }
            v.counters.output_packets += k as u64;
            let number = v.number;
            gw.on_vti_packets(now, number, pkts.get(..k).unwrap_or(&[]), &mut self.out);
            self.flush_if_full();
            if k < VTI_BATCH {
                break;
            }
        }
        self.flush();
        Ok(())
    }

    /// `show interfaces TunnelN` with the loop's packet counters, and `show ip interface
    /// brief` with the host's link state; `None` for other commands.
    fn show_interfaces<G: Gateway>(&self, cmd: &Command, gw: &G) -> Option<ControlReply> {
        match cmd.id {
            CommandId::ShowInterfaceTunnel => {
                let n = cmd
                    .number
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(u32::MAX);
                let Some(mut snap) = gw.tunnel_interface(n) else {
                    return Some(ControlReply::Error(format!(
                        "% Interface Tunnel{} is not a configured VTI",
                        cmd.number.unwrap_or(0)
                    )));
                };
                if let Some(c) = self.vti_counters(n) {
                    snap.input = (c.input_packets, c.input_bytes);
                    snap.output = (c.output_packets, c.output_bytes);
                    snap.input_errors = snap.input_errors.saturating_add(c.input_errors);
                }
                Some(ControlReply::Text(
                    ipsec_proto::ios::show_interface::show_interfaces_tunnel(&snap),
                ))
            }
            CommandId::ShowIpInterfaceBrief => {
                let mut rows = gw.interfaces_brief();
                for r in rows.iter_mut() {
                    if ipsec_proto::policy::tunnel_number(&r.name)
                        .is_some_and(|n| self.vti_index.contains_key(&n))
                    {
                        continue;
                    }
                    r.link_up = self
                        .iface_map
                        .iter()
                        .find(|(ios, _)| ios.eq_ignore_ascii_case(&r.name))
                        .is_some_and(|(_, linux)| crate::sys::ifaddr::link_up(linux));
                    r.line_up = r.link_up;
                }
                Some(ControlReply::Text(
                    ipsec_proto::ios::show_interface::show_ip_interface_brief(&rows),
                ))
            }
            _ => None,
        }
    }

    /// Installs the core's reverse-route-injection routes through `routes` from now on.
    pub fn set_rri_routes(&mut self, routes: crate::sys::route::RriRoutes) {
        self.rri = Some((routes, u64::MAX));
    }

    /// Hands back the RRI routes (for teardown, before the TUN goes).
    pub fn take_rri_routes(&mut self) -> Option<crate::sys::route::RriRoutes> {
        self.rri.take().map(|(r, _)| r)
    }

    /// Writes the DNS settings Easy VPN servers push to `file` from now on.
    pub fn set_resolv_conf(&mut self, file: crate::resolv_conf::ResolvConf) {
        self.resolv_conf = Some(file);
    }

    /// Hands back the managed resolv.conf (for teardown, which restores it).
    pub fn take_resolv_conf(&mut self) -> Option<crate::resolv_conf::ResolvConf> {
        self.resolv_conf.take()
    }

    /// Brings the resolv.conf file in line with what is pushed now (nothing when unchanged).
    fn sync_resolv<G: Gateway>(&mut self, gw: &G) {
        let Some(file) = self.resolv_conf.as_mut() else {
            return;
        };
        if let Err(e) = file.apply(gw.pushed_resolver()) {
            eprintln!(
                "ipsec-engine: warning: --resolv-conf {}: {e}",
                file.path().display()
            );
        }
    }

    /// Brings the installed RRI routes in line with the core's table when it changed.
    fn sync_rri<G: Gateway>(&mut self, gw: &G) {
        let Some((routes, seen)) = self.rri.as_mut() else {
            return;
        };
        let g = gw.rri_generation();
        if g == *seen {
            return;
        }
        *seen = g;
        for e in routes.sync_addresses(&gw.client_addresses()) {
            eprintln!("ipsec-engine: warning: assigned address: {e}");
        }
        for e in routes.sync(&gw.rri_routes()) {
            eprintln!("ipsec-engine: warning: reverse route: {e}");
        }
    }

    /// Adds the TUN device (one per loop).
    pub fn set_tun(&mut self, tun: Tun) -> io::Result<()> {
        if let Some(old) = self.tun.take() {
            self.epoll.delete(old.as_raw_fd())?;
        }
        self.epoll.add(tun.as_raw_fd(), TOK_TUN, false)?;
        self.tun = Some(tun);
        Ok(())
    }

    /// The TUN device, if set.
    pub fn tun(&self) -> Option<&Tun> {
        self.tun.as_ref()
    }

    /// Follows the address of the crypto interface (`ip address dhcp|negotiated`): when it
    /// changes on the host, the core is told ([`Gateway::on_local_address`]) and the UDP and
    /// raw ESP sockets are bound again as `sockets` says, on the new address.
    /// The kernel's netlink notifications say when to look; without them (the socket could
    /// not be opened), the loop looks every [`crate::addr_watch::ADDR_CHECK_INTERVAL_MS`].
    pub fn watch_local_address(
        &mut self,
        watch: crate::addr_watch::AddrWatch,
        sockets: SocketPlan,
    ) {
        let events = crate::sys::addr_events::AddrEvents::open()
            .and_then(|e| self.epoll.add(e.as_raw_fd(), TOK_ADDR, false).map(|_| e));
        if let Err(e) = &events {
            eprintln!(
                "ipsec-engine: warning: no netlink address notifications ({e}); looking at {} \
                 every {} ms",
                watch.linux,
                crate::addr_watch::ADDR_CHECK_INTERVAL_MS
            );
        }
        self.addr_watch = Some(Followed {
            watch,
            sockets,
            // A first look at once: the address may have changed since the plan was made.
            next: Some(0),
            events: events.ok(),
        });
    }

    /// Looks at the watched interface's addresses and, when the one in use went away, clears
    /// the SAs, drops what they queued (Delete notifications from an address the host no longer
    /// has cannot be sent; the peer's DPD or lifetimes clear its side) and rebinds the
    /// sockets. A failed bind leaves the engine idle and is retried at the next look.
    fn check_local_address<G: Gateway>(&mut self, now: Instant, gw: &mut G) {
        let Some(Followed {
            watch,
            sockets,
            next,
            events,
        }) = self.addr_watch.as_mut()
        else {
            return;
        };
        if next.is_none_or(|n| now.0 < n) {
            return;
        }
        *next = match events {
            Some(_) => None,
            None => Some(
                now.0
                    .saturating_add(crate::addr_watch::ADDR_CHECK_INTERVAL_MS),
            ),
        };
        let Ok(host) = crate::sys::ifaddr::ipv4_addresses() else {
            return;
        };
        let Some(change) = watch.observe(&host) else {
            return;
        };
        let sockets = *sockets;
        eprintln!("ipsec-engine: {}", change.log_line(watch));
        // The old sockets go before the core's output is sent: what it queued for the old
        // address is counted as having no socket instead of leaving from the new one.
        for s in self.udp.drain(..) {
            let _ = self.epoll.delete(s.as_raw_fd());
        }
        for s in self.esp.drain(..) {
            let _ = self.epoll.delete(s.as_raw_fd());
        }
        match gw.on_local_address(now, change.new, &mut self.out) {
            Ok(line) => eprintln!("ipsec-engine: {line}"),
            Err(e) => eprintln!("ipsec-engine: warning: local address change: {e}"),
        }
        self.flush();
        let Some(addr) = change.new else {
            return;
        };
        if let Err(e) = self.bind_sockets(addr, sockets) {
            eprintln!(
                "ipsec-engine: warning: binding IKE/ESP sockets on {addr}: {e}; idle, retrying"
            );
            for s in self.udp.drain(..) {
                let _ = self.epoll.delete(s.as_raw_fd());
            }
            for s in self.esp.drain(..) {
                let _ = self.epoll.delete(s.as_raw_fd());
            }
            if let Some(f) = self.addr_watch.as_mut() {
                // Seen as new again at the next look, a second from now at the latest.
                f.watch.current = None;
                f.next = Some(
                    now.0
                        .saturating_add(crate::addr_watch::ADDR_CHECK_INTERVAL_MS),
                );
            }
        }
    }

    /// UDP 500/4500 and (if asked) raw ESP sockets on `addr`, added to the loop.
    fn bind_sockets(&mut self, addr: Ipv4Addr, p: SocketPlan) -> io::Result<()> {
        for port in [p.ike_port, p.natt_port] {
            let sock = UdpSock::bind(SocketAddrV4::new(addr, port), Some(p.mark))?;
            self.add_ike_udp(sock, port == p.natt_port)?;
        }
        if p.raw_esp {
            self.add_esp(RawEsp::open(Some(addr), Some(p.mark))?)?;
        }
        Ok(())
    }

    /// Adds a UDP socket (IKE 500, NAT-T 4500).
    pub fn add_udp(&mut self, sock: UdpSock) -> io::Result<()> {
        self.epoll
            .add(sock.as_raw_fd(), TOK_UDP + self.udp.len() as u64, false)?;
        self.udp.push(sock);
        Ok(())
    }

    /// Adds an IKE socket: UDP 500 (`natt` false) or 4500 (`natt`, where ESP-in-UDP also comes
    /// and goes), with the UDP offloads that fit it unless [`EventLoop::set_udp_offload`] said
    /// no: segmented sends only on 4500, as port 500 carries IKE only, and coalesced receives
    /// on 4500, where bulk ESP arrives (trains save a trip through the stack per datagram).
    /// Without kernel support the socket just sends and receives datagrams.
    pub fn add_ike_udp(&mut self, sock: UdpSock, natt: bool) -> io::Result<()> {
        if natt {
            self.natt_port = Some(sock.local_addr().port());
        }
        apply_udp_offload(&sock, natt && self.udp_offload);
        self.add_udp(sock)
    }

    /// Turns the UDP offloads of the sockets added with [`EventLoop::add_ike_udp`] (and of
    /// those bound later, when the local address changes) on or off.
    pub fn set_udp_offload(&mut self, on: bool) {
        self.udp_offload = on;
        for s in &self.udp {
            // Port 500 stays without.
            if Some(s.local_addr().port()) == self.natt_port {
                apply_udp_offload(s, on);
            }
        }
    }

    /// Adds a raw ESP socket.
    pub fn add_esp(&mut self, sock: RawEsp) -> io::Result<()> {
        self.epoll
            .add(sock.as_raw_fd(), TOK_ESP + self.esp.len() as u64, false)?;
        self.esp.push(sock);
        Ok(())
    }

    /// Where `reload` and SIGHUP get the new configuration (without one, both are refused).
    pub fn set_reload_source(&mut self, source: ReloadSource) {
        self.reload = Some(source);
    }

    /// Applies the configuration the reload source gives; the reply says what changed.
    fn reload<G: Gateway>(&mut self, gw: &mut G) -> ControlReply {
        let Some(source) = self.reload.as_mut() else {
            return ControlReply::Error("% reload: no configuration file to read".into());
        };
        match source() {
            Ok(config) => gw.on_reload(clock::now(), config, &mut self.out),
            Err(why) => ControlReply::Error(format!(
                "% reload refused, the running configuration stays: {why}"
            )),
        }
    }

    /// Watches SIGTERM/SIGINT (they must already be blocked).
    pub fn watch_signals(&mut self) -> io::Result<()> {
        let s = SignalFd::new()?;
        self.epoll.add(s.as_raw_fd(), TOK_SIGNAL, false)?;
        self.signals = Some(s);
        Ok(())
    }

    /// Listens for control clients on `path` (a stale socket file is replaced; the file is
    /// removed when the loop is dropped).
    pub fn listen_control(&mut self, path: &Path) -> io::Result<()> {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by a running engine", path.display()),
            ));
        }
        let _ = std::fs::remove_file(path);
        // `clear crypto sa` and friends are for the administrator only: never, not even for
        // an instant after bind, reachable by other users.
        let listener = crate::control::bind(path)?;
        listener.set_nonblocking(true)?;
        self.epoll.add(listener.as_raw_fd(), TOK_LISTENER, false)?;
        self.control = Some(ControlServer {
            listener,
            path: path.to_path_buf(),
            clients: Vec::new(),
        });
        Ok(())
    }

    /// A handle that stops [`EventLoop::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> &LoopStats {
        &self.stats
    }

    /// Runs until a signal or stop request; the core's shutdown output is sent before returning,
    /// also when the loop fails (a socket or the TUN gave an unexpected error).
    pub fn run<G: Gateway>(&mut self, gw: &mut G) -> io::Result<StopReason> {
        let r = self.run_inner(gw);
        if r.is_err() {
            gw.on_shutdown(clock::now(), &mut self.out);
            self.flush();
            self.sync_rri(gw);
        }
        if let Some(file) = self.resolv_conf.as_mut() {
            // Stopped: whatever the core still holds, the connection is going.
            if let Err(e) = file.restore() {
                eprintln!(
                    "ipsec-engine: warning: --resolv-conf {}: restoring: {e}",
                    file.path().display()
                );
            }
        }
        r
    }

    fn run_inner<G: Gateway>(&mut self, gw: &mut G) -> io::Result<StopReason> {
        loop {
            self.sync_rri(gw);
            self.sync_resolv(gw);
            self.sync_vti_lines(gw);
            let now = clock::now();
            let mut timeout = match gw.next_deadline() {
                None => -1,
                Some(d) => i32::try_from(d.0.saturating_sub(now.0)).unwrap_or(i32::MAX),
            };
            // The address check must run even when the core has nothing pending.
            if let Some(next) = self.addr_watch.as_ref().and_then(|f| f.next) {
                let due = i32::try_from(next.saturating_sub(now.0)).unwrap_or(i32::MAX);
                timeout = if timeout < 0 { due } else { timeout.min(due) };
            }
            let n = self.epoll.wait(&mut self.events, timeout)?;
            for i in 0..n {
                let Some(ev) = self.events.get(i) else { break };
                let ready = epoll::ready(ev);
                if !ready.readable && !ready.writable {
                    continue;
                }
                let reason = match ready.token {
                    TOK_TUN => {
                        self.read_tun(gw)?;
                        None
                    }
                    TOK_SIGNAL => {
                        let sig = self
                            .signals
                            .as_ref()
                            .map(|s| s.read())
                            .transpose()?
                            .flatten();
                        if sig == Some(libc::SIGHUP) {
                            // A daemon's reload signal; the outcome goes where a `reload`
                            // command's reply would, the log.
                            match self.reload(gw) {
                                ControlReply::Text(t) => eprintln!("ipsec-engine: SIGHUP: {t}"),
                                ControlReply::Error(t) => eprintln!("ipsec-engine: SIGHUP: {t}"),
                            }
                            self.flush();
                            None
                        } else {
                            sig.map(StopReason::Signal)
                        }
                    }
                    TOK_STOP => self.stop.take()?.then_some(StopReason::Requested),
                    TOK_LISTENER => {
                        self.accept_clients()?;
                        None
                    }
                    TOK_ADDR => {
                        if let Some(f) = self.addr_watch.as_mut() {
                            // A failed read is no reason to stop: look now, and from then on
                            // every interval.
                            let look = f.events.as_ref().map(|e| e.drain());
                            if matches!(look, Some(Err(_))) {
                                if let Some(e) = f.events.take() {
                                    let _ = self.epoll.delete(e.as_raw_fd());
                                }
                            }
                            f.next = Some(0);
                        }
                        None
                    }
                    t if (TOK_UDP..TOK_ESP).contains(&t) => {
                        self.read_udp((t - TOK_UDP) as usize, gw)?;
                        None
                    }
                    t if (TOK_ESP..TOK_VTI).contains(&t) => {
                        self.read_esp((t - TOK_ESP) as usize, gw)?;
                        None
                    }
                    t if (TOK_VTI..TOK_CLIENT).contains(&t) => {
                        self.read_vti((t - TOK_VTI) as usize, gw)?;
                        None
                    }
                    t => {
                        let idx = (t - TOK_CLIENT) as usize;
                        if ready.readable {
                            self.client_readable(idx, gw);
                        }
                        if ready.writable {
                            self.client_flush(idx);
                        }
                        None
                    }
                };
                if let Some(reason) = reason {
                    let now = clock::now();
                    gw.on_shutdown(now, &mut self.out);
                    self.flush();
                    self.sync_rri(gw);
                    return Ok(reason);
                }
            }
            let now = clock::now();
            if gw.next_deadline().is_some_and(|d| d <= now) {
                gw.on_timer(now, &mut self.out);
                self.flush();
            }
            self.check_local_address(now, gw);
            if now.0 >= self.pmtu_next {
                self.pmtu_next = now.0.saturating_add(PMTU_INTERVAL_MS);
                self.check_pmtu(now, gw);
            }
        }
    }

    /// Asks the kernel for the path MTU towards each peer and tells the core about changes.
    fn check_pmtu<G: Gateway>(&mut self, now: Instant, gw: &mut G) {
        for (local, peer) in gw.pmtu_peers() {
            let Ok(mtu) = crate::sys::pmtu::path_mtu(local, peer) else {
                continue;
            };
            let last = self.pmtu_seen.iter_mut().find(|(p, _)| *p == peer);
            match last {
                Some((_, m)) if *m == mtu => continue,
                Some((_, m)) => *m = mtu,
                None => self.pmtu_seen.push((peer, mtu)),
            }
            gw.on_path_mtu(now, peer, mtu, &mut self.out);
        }
        self.flush();
    }

    fn read_tun<G: Gateway>(&mut self, gw: &mut G) -> io::Result<()> {
        let now = clock::now();
        // The packets of one batch sit back to back in the arena; `ranges[..k]` says where.
        let mut ranges = [(0usize, 0usize); TUN_BATCH];
        let mut k = 0usize;
        for _ in 0..READ_BUDGET {
            let Some(tun) = self.tun.as_ref() else { break };
            let Some(n) = tun.recv(&mut self.buf)? else {
                break;
            };
            let vnet = tun.vnet_hdr();
            let read = self.buf.get_mut(..n).unwrap_or(&mut []);
            let (arena, out) = (&mut self.tun_arena, &mut self.out);
            let mut gather = |p: &[u8]| {
                let used = k
                    .checked_sub(1)
                    .and_then(|l| ranges.get(l))
                    .map_or(0, |r| r.1);
                let (start, end) = if k == TUN_BATCH || used + p.len() > arena.len() {
                    hand_tun(now, arena, ranges.get(..k).unwrap_or(&[]), gw, out);
                    k = 0;
                    (0, p.len())
                } else {
                    (used, used + p.len())
                };
                if let (Some(dst), Some(r)) = (arena.get_mut(start..end), ranges.get_mut(k)) {
                    dst.copy_from_slice(p);
                    *r = (start, end);
                    k += 1;
                }
            };
            if vnet {
                match crate::gso::for_each_segment(read, &mut self.seg, &mut gather) {
                    Ok(segs) => {
                        self.stats.tun_in += segs as u64;
                        self.stats.tun_gso += u64::from(segs > 1);
                    }
                    Err(_) => self.stats.tun_malformed += 1,
                }
            } else {
                self.stats.tun_in += 1;
                gather(read);
            }
            if self.out.queued_bytes() > crate::outputs::DEFAULT_LIMIT / 2 {
                hand_tun(
                    now,
                    &self.tun_arena,
                    ranges.get(..k).unwrap_or(&[]),
                    gw,
                    &mut self.out,
                );
                k = 0;
                self.flush();
            }
        }
        hand_tun(
            now,
            &self.tun_arena,
            ranges.get(..k).unwrap_or(&[]),
            gw,
            &mut self.out,
        );
        self.flush();
        Ok(())
    }

    fn read_udp<G: Gateway>(&mut self, idx: usize, gw: &mut G) -> io::Result<()> {
        let now = clock::now();
        let mut budget = READ_BUDGET;
        while budget > 0 {
            let Some(sock) = self.udp.get(idx) else { break };
            let n = match sock.recv_batch(&mut self.ubatch) {
                Ok(0) => break,
                Ok(n) => n,
                // ICMP errors (port unreachable from a peer that is down) surface here; they say
                // nothing the core's retransmission timer does not already handle.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    budget -= 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            budget = budget.saturating_sub(n);
            // Runs of datagrams between the same two sockets (the segments of a GRO train,
            // and trains or datagrams that follow from the same peer) go to the core as one
            // batch; it classifies each datagram on its own (IKE and ESP of one peer may share
            // a train) and opens the ESP ones together.
            let mut run: [&[u8]; UDP_RUN] = [&[]; UDP_RUN];
            let mut len = 0;
            let mut ends: Option<(SocketAddrV4, SocketAddrV4)> = None;
            for i in 0..n {
                let Some((r, data)) = self.ubatch.get(i) else {
                    self.stats.udp_truncated += 1;
                    continue;
                };
                let step = if r.segment > 0 {
                    self.stats.udp_gro += 1;
                    r.segment
                } else {
                    r.len.max(1)
                };
                let mut off = 0;
                // An empty datagram is still one (the core drops it).
                let mut empty = r.len == 0;
                while off < r.len || empty {
                    empty = false;
                    let end = r.len.min(off + step);
                    let d = data.get(off..end).unwrap_or(&[]);
                    self.stats.udp_in += 1;
                    self.stats.udp_gro_segments += u64::from(r.segment > 0);
                    if len > 0 && (ends != Some((r.local, r.remote)) || len == UDP_RUN) {
                        if let Some((l, rm)) = ends {
                            gw.on_udp_batch(
                                now,
                                l,
                                rm,
                                run.get(..len).unwrap_or(&[]),
                                &mut self.out,
                            );
                        }
                        len = 0;
                    }
                    ends = Some((r.local, r.remote));
                    if let Some(slot) = run.get_mut(len) {
                        *slot = d;
                        len += 1;
                    }
                    off = end;
                }
            }
            if let (true, Some((l, rm))) = (len > 0, ends) {
                gw.on_udp_batch(now, l, rm, run.get(..len).unwrap_or(&[]), &mut self.out);
            }
            self.flush_if_full();
        }
        self.flush();
        Ok(())
    }

    fn read_esp<G: Gateway>(&mut self, idx: usize, gw: &mut G) -> io::Result<()> {
        let now = clock::now();
        let mut budget = READ_BUDGET;
        while budget > 0 {
            let Some(sock) = self.esp.get(idx) else { break };
            let n = sock.recv_batch(&mut self.ebatch)?;
            if n == 0 {
                break;
            }
            budget = budget.saturating_sub(n);
            // Runs of packets between the same two addresses go to the core as one batch.
            let mut run: [&[u8]; ESP_RUN] = [&[]; ESP_RUN];
            let mut len = 0;
            let mut ends = (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
            for i in 0..n {
                match self.ebatch.get(i) {
                    Some((pkt, Ok(p))) => {
                        self.stats.esp_in += 1;
                        let data = pkt.get(p.offset..p.offset + p.len).unwrap_or(&[]);
                        if len > 0 && (ends != (p.src, p.dst) || len == ESP_RUN) {
                            gw.on_esp_batch(
                                now,
                                ends.0,
                                ends.1,
                                run.get(..len).unwrap_or(&[]),
                                &mut self.out,
                            );
                            len = 0;
                        }
                        ends = (p.src, p.dst);
                        if let Some(slot) = run.get_mut(len) {
                            *slot = data;
                            len += 1;
                        }
                    }
                    _ => self.stats.esp_malformed += 1,
                }
            }
            if len > 0 {
                gw.on_esp_batch(
                    now,
                    ends.0,
                    ends.1,
                    run.get(..len).unwrap_or(&[]),
                    &mut self.out,
                );
            }
            self.flush_if_full();
        }
        self.flush();
        Ok(())
    }

    fn flush_if_full(&mut self) {
        if self.out.queued_bytes() > crate::outputs::DEFAULT_LIMIT / 2 {
            self.flush();
        }
    }

    /// Sends every queued packet and debug line, then empties the queue.
    fn flush(&mut self) {
        if let Some(mtu) = self.out.take_tun_mtu() {
            let r = self.tun.as_ref().map(|t| t.set_mtu(mtu));
            if !matches!(r, Some(Ok(()))) {
                self.stats.mtu_errors += 1;
            }
        }
        let count = self.out.len();
        let mut i = 0;
        while i < count {
            let Some((dest, pkt)) = self.out.packet(i) else {
                break;
            };
            let sent = match dest {
                Dest::Tun => match self.tun.as_ref() {
                    Some(t) => {
                        // A run of segments of one TCP flow goes in as one super-packet.
                        let run = if t.vnet_hdr() {
                            coalesce_run(&self.out, i, count, &mut self.gro)
                        } else {
                            None
                        };
                        if let Some((end, len)) = run {
                            let segs = (end - i) as u64;
                            let r = t.send_vnet(self.gro.get(..len).unwrap_or(&[]));
                            if r.is_ok() {
                                self.stats.tun_out += segs;
                                self.stats.tun_gro += 1;
                            } else {
                                self.stats.send_errors += segs;
                            }
                            i = end;
                            continue;
                        }
                        self.stats.tun_out += 1;
                        t.send(pkt).map(|_| true)
                    }
                    None => {
                        self.stats.no_socket += 1;
                        Ok(true)
                    }
                },
                Dest::Vti(n) => match self.vti_index.get(&n).and_then(|i| self.vtis.get_mut(*i)) {
                    Some(v) => {
                        let r = v.tun.send(pkt);
                        if r.is_ok() {
                            v.counters.input_packets += 1;
                            v.counters.input_bytes += pkt.len() as u64;
                            self.stats.tun_out += 1;
                        } else {
                            v.counters.input_errors += 1;
                        }
                        r.map(|_| true)
                    }
                    None => {
                        self.stats.no_socket += 1;
                        Ok(true)
                    }
                },
                Dest::Udp { local, .. } => {
                    let Some(sock_idx) = udp_socket_for(&self.udp, local) else {
                        self.stats.no_socket += 1;
                        i += 1;
                        continue;
                    };
                    // The run of datagrams for the same socket (and the same outer DF, a
                    // socket option) goes out in one sendmmsg; within it, runs of equal-sized
                    // ESP datagrams to one peer go as one segmented message each, so the run
                    // may be longer than MAX_BATCH then.
                    let Some(sock) = self.udp.get(sock_idx) else {
                        i += 1;
                        continue;
                    };
                    let limit = if sock.gso() { GSO_BATCH } else { MAX_BATCH };
                    let df = self.out.outer_df(i);
                    let mut end = i + 1;
                    while end < count && end - i < limit && self.out.outer_df(end) == df {
                        match self.out.packet(end) {
                            Some((Dest::Udp { local: l, .. }, _))
                                if udp_socket_for(&self.udp, l) == Some(sock_idx) =>
                            {
                                end += 1
                            }
                            _ => break,
                        }
                    }
                    if sock.set_df(df).is_err() {
                        self.stats.send_errors += 1;
                    }
                    let out = &self.out;
                    let mut k = i;
                    while k < end {
                        let msgs = (k..end).filter_map(|j| match out.packet(j) {
                            Some((Dest::Udp { remote, .. }, p)) => {
                                Some((p, remote, looks_like_esp(p)))
                            }
                            _ => None,
                        });
                        let Ok(r) = sock.send_segmented(msgs) else {
                            break;
                        };
                        k += r.sent;
                        self.stats.udp_gso += r.gso_messages as u64;
                        self.stats.udp_gso_segments += r.gso_segments as u64;
                        self.stats.udp_gso_fallbacks += r.fallbacks as u64;
                        // A refusal or a full buffer: the rest of the run is dropped.
                        if r.sent < r.taken || r.taken == 0 {
                            break;
                        }
                    }
                    self.stats.udp_out += (k - i) as u64;
                    self.stats.send_errors += (end - k) as u64;
                    i = end;
                    continue;
                }
                Dest::Esp { src, .. } => {
                    let Some(sock_idx) = esp_socket_for(&self.esp, src) else {
                        self.stats.no_socket += 1;
                        i += 1;
                        continue;
                    };
                    // The run of packets for the same socket (and the same outer DF, a
                    // socket option) goes out in one sendmmsg.
                    let df = self.out.outer_df(i);
                    let mut end = i + 1;
                    while end < count && end - i < MAX_BATCH && self.out.outer_df(end) == df {
                        match self.out.packet(end) {
                            Some((Dest::Esp { src: s, .. }, _))
                                if esp_socket_for(&self.esp, s) == Some(sock_idx) =>
                            {
                                end += 1
                            }
                            _ => break,
                        }
                    }
                    let out = &self.out;
                    let msgs = (i..end).filter_map(|k| match out.packet(k) {
                        Some((Dest::Esp { dst, .. }, p)) => Some((p, dst)),
                        _ => None,
                    });
                    if let Some(Err(_)) = self.esp.get(sock_idx).map(|s| s.set_df(df)) {
                        self.stats.send_errors += 1;
                    }
                    let sent = self.esp.get(sock_idx).map(|s| s.send_batch(msgs));
                    let want = end - i;
                    let done = match sent {
                        Some(Ok(n)) => n,
                        _ => 0,
                    };
                    self.stats.esp_out += done as u64;
                    // sendmmsg stops at the first packet the kernel refused (EMSGSIZE, a full
                    // buffer): count that one and go on with the rest.
                    if done < want {
                        self.stats.send_errors += 1;
                        i += done + 1;
                    } else {
                        i = end;
                    }
                    continue;
                }
            };
            if !matches!(sent, Ok(true)) {
                self.stats.send_errors += 1;
            }
            i += 1;
        }
        for w in self.out.warnings() {
            tracing::warn!(target: "ipsec_engine::ios", "{}", w);
        }
        if let Some(ctl) = self.control.as_mut() {
            let mut touched = false;
            for (kind, line) in self.out.debug_lines() {
                for c in ctl.clients.iter_mut().flatten() {
                    if c.subs[kind.index()] {
                        if c.outbuf.len() + line.len() > MAX_CLIENT_BACKLOG {
                            self.stats.debug_dropped += 1;
                        } else {
                            c.outbuf.extend_from_slice(line.as_bytes());
                            touched = true;
                        }
                    }
                }
            }
            if touched {
                for idx in 0..ctl.clients.len() {
                    flush_client(&self.epoll, ctl, idx);
                }
            }
        }
        self.out.clear();
    }

    fn accept_clients(&mut self) -> io::Result<()> {
        let Some(ctl) = self.control.as_mut() else {
            return Ok(());
        };
        loop {
            let stream = match ctl.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                // Out of descriptors or memory: refuse this client, keep the tunnel running.
                Err(_) => {
                    self.stats.control_errors += 1;
                    return Ok(());
                }
            };
            stream.set_nonblocking(true)?;
            let idx = match ctl.clients.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    ctl.clients.push(None);
                    ctl.clients.len() - 1
                }
            };
            self.epoll
                .add(stream.as_raw_fd(), TOK_CLIENT + idx as u64, false)?;
            if let Some(slot) = ctl.clients.get_mut(idx) {
                *slot = Some(Client {
                    stream,
                    inbuf: Vec::new(),
                    outbuf: Vec::new(),
                    subs: [false; 2],
                    streaming: false,
                    overlong: false,
                    watching_write: false,
                    close_after_flush: false,
                });
            }
        }
    }

    fn client_readable<G: Gateway>(&mut self, idx: usize, gw: &mut G) {
        let Some(ctl) = self.control.as_mut() else {
            return;
        };
        let Some(Some(c)) = ctl.clients.get_mut(idx) else {
            return;
        };
        let mut tmp = [0u8; 1024];
        let mut eof = false;
        // A bounded number of reads per wakeup keeps a flooding client from growing `inbuf`
        // without limit; level-triggered epoll brings us back for the rest.
        for _ in 0..8 {
            match c.stream.read(&mut tmp) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    // A streaming client has nothing more to say; its input is ignored.
                    if !c.streaming {
                        c.inbuf.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        // Complete lines, in order.
        let mut lines: Vec<Result<String, ()>> = Vec::new();
        while let Some(pos) = c.inbuf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = c.inbuf.drain(..=pos).collect();
            if std::mem::take(&mut c.overlong) {
                continue;
            }
            lines.push(String::from_utf8(raw).map_err(drop));
        }
        if c.inbuf.len() > control::MAX_LINE {
            c.inbuf.clear();
            c.overlong = true;
            lines.push(Err(()));
        }
        for line in lines {
            self.answer(idx, line, gw);
        }
        if eof {
            self.close_client(idx);
        } else if let Some(ctl) = self.control.as_mut() {
            flush_client(&self.epoll, ctl, idx);
        }
    }

    fn answer<G: Gateway>(&mut self, idx: usize, line: Result<String, ()>, gw: &mut G) {
        let (text, status) = match line {
            Err(()) => (
                "% Invalid input detected (line too long or not text).".to_string(),
                control::STATUS_ERROR,
            ),
            Ok(line) => match control::resolve(line.trim_end_matches(['\r', '\n'])) {
                Err(e) => (e.to_string(), control::STATUS_ERROR),
                Ok(None) => (String::new(), control::STATUS_OK),
                Ok(Some(cmd)) => self.command(idx, &cmd, gw),
            },
        };
        if let Some(Some(c)) = self
            .control
            .as_mut()
            .and_then(|ctl| ctl.clients.get_mut(idx))
        {
            control::frame(&mut c.outbuf, &text, status);
        }
        self.flush();
        // `undebug all` may have told streaming clients to go: flush (and close) them all.
        if let Some(ctl) = self.control.as_mut() {
            for i in 0..ctl.clients.len() {
                flush_client(&self.epoll, ctl, i);
            }
        }
        self.sync_debug_flags();
    }

    fn command<G: Gateway>(&mut self, idx: usize, cmd: &Command, gw: &mut G) -> (String, u8) {
        let kind = match cmd.id {
            CommandId::DebugIsakmp => Some((DebugKind::Isakmp, "Crypto ISAKMP debugging is on")),
            CommandId::DebugIpsec => Some((DebugKind::Ipsec, "Crypto IPSEC debugging is on")),
            CommandId::UndebugAll => {
                if let Some(ctl) = self.control.as_mut() {
                    for c in ctl.clients.iter_mut().flatten() {
                        c.subs = [false; 2];
                        if c.streaming {
                            c.close_after_flush = true;
                        }
                    }
                }
                self.sync_debug_flags();
                return (
                    "All possible debugging has been turned off".into(),
                    control::STATUS_OK,
                );
            }
            _ => None,
        };
        if let Some((kind, text)) = kind {
            if let Some(Some(c)) = self
                .control
                .as_mut()
                .and_then(|ctl| ctl.clients.get_mut(idx))
            {
                c.subs[kind.index()] = true;
                c.streaming = true;
                c.inbuf.clear();
            }
            self.sync_debug_flags();
            return (text.into(), control::STATUS_STREAM);
        }
        let reply = if cmd.id == CommandId::Reload {
            self.reload(gw)
        } else if let Some(r) = self.show_interfaces(cmd, gw) {
            r
        } else {
            gw.on_control(clock::now(), cmd, &mut self.out)
        };
        match reply {
            ControlReply::Text(t) => (t, control::STATUS_OK),
            ControlReply::Error(t) => (t, control::STATUS_ERROR),
        }
    }

    fn sync_debug_flags(&mut self) {
        let mut on = [false; 2];
        if let Some(ctl) = self.control.as_ref() {
            for c in ctl.clients.iter().flatten() {
                on[0] |= c.subs[0];
                on[1] |= c.subs[1];
            }
        }
        self.out.set_debugging(DebugKind::Isakmp, on[0]);
        self.out.set_debugging(DebugKind::Ipsec, on[1]);
    }

    fn client_flush(&mut self, idx: usize) {
        if let Some(ctl) = self.control.as_mut() {
            flush_client(&self.epoll, ctl, idx);
        }
    }

    fn close_client(&mut self, idx: usize) {
        if let Some(ctl) = self.control.as_mut() {
            if let Some(slot) = ctl.clients.get_mut(idx) {
                if let Some(c) = slot.take() {
                    let _ = self.epoll.delete(c.stream.as_raw_fd());
                }
            }
        }
        self.sync_debug_flags();
    }
}

/// If the TUN packets queued from `i` on start with two or more segments of one TCP flow that
/// can be coalesced, builds the super-packet in `buf`; returns (end of the run, length).
fn coalesce_run(out: &Outputs, i: usize, count: usize, buf: &mut [u8]) -> Option<(usize, usize)> {
    let (_, first) = out.packet(i)?;
    let f = crate::gso::tcp4_segment(first)?;
    let (mut prev, mut total, mut end) = (f, first.len(), i + 1);
    while end < count {
        let Some((Dest::Tun, p)) = out.packet(end) else {
            break;
        };
        match crate::gso::tcp4_segment(p) {
            Some(n) if crate::gso::can_follow(first, &f, &prev, total, p, &n) => {
                total += n.payload_len();
                prev = n;
                end += 1;
            }
            _ => break,
        }
    }
    if end - i < 2 {
        return None;
    }
    let pkts = (i..end).filter_map(|k| out.packet(k).map(|(_, p)| p));
    let len = crate::gso::build_super(&f, pkts, buf)?;
    Some((end, len))
}

/// The raw ESP socket bound to `src`, else an unbound one.
fn esp_socket_for(socks: &[RawEsp], src: Ipv4Addr) -> Option<usize> {
    socks
        .iter()
        .position(|s| s.local() == Some(src))
        .or_else(|| socks.iter().position(|s| s.local().is_none()))
}

/// Segmented sends and coalesced receives on `sock`, both on or both off (best effort: a
/// kernel without them leaves the socket as it is).
fn apply_udp_offload(sock: &UdpSock, on: bool) {
    sock.set_gso(on);
    if sock.gro() != on {
        let _ = sock.set_gro(on);
    }
}

/// Whether a datagram for UDP 4500 is ESP (a non-zero SPI where IKE has its four-zero
/// non-ESP marker; keepalives are one byte): only ESP is worth a segmented send, IKE comes
/// one message at a time.
fn looks_like_esp(p: &[u8]) -> bool {
    p.len() > 8 && p.get(..4).is_some_and(|spi| spi != [0; 4])
}

/// The UDP socket bound exactly to `local`, else one bound to its port (a wildcard bind).
fn udp_socket_for(socks: &[UdpSock], local: SocketAddrV4) -> Option<usize> {
    socks
        .iter()
        .position(|s| s.local_addr() == local)
        .or_else(|| {
            socks
                .iter()
                .position(|s| s.local_addr().port() == local.port())
        })
}

/// Writes what the client can take; watches for writability while something is left; closes
/// clients that failed or were told to go.
fn flush_client(epoll: &Epoll, ctl: &mut ControlServer, idx: usize) {
    let Some(slot) = ctl.clients.get_mut(idx) else {
        return;
    };
    let Some(c) = slot.as_mut() else { return };
    let mut dead = false;
    while !c.outbuf.is_empty() {
        match c.stream.write(&c.outbuf) {
            Ok(0) => {
                dead = true;
                break;
            }
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                dead = true;
                break;
            }
        }
    }
    if dead || (c.outbuf.is_empty() && c.close_after_flush) {
        let _ = epoll.delete(c.stream.as_raw_fd());
        *slot = None;
        return;
    }
    let want = !c.outbuf.is_empty();
    if want != c.watching_write {
        c.watching_write = want;
        let _ = epoll.modify(c.stream.as_raw_fd(), TOK_CLIENT + idx as u64, want);
    }
}
