//! `ipsec-engine` command line: the daemon (`run`) and the exec-command client (`show ...`,
//! `clear ...`, `debug ...`, with IOS abbreviations).

use clap::{Parser, Subcommand};
use ipsec_engine::control;
use ipsec_engine::engine::Engine;
use ipsec_engine::plan::{self, RunOptions};
use ipsec_engine::sys;
use ipsec_engine::{Command, ControlReply, Gateway, Outputs};
use ipsec_proto::time::Instant;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ipsec-engine",
    version,
    about = "IPsec gateway running an IOS crypto-map configuration on Linux",
    after_help = "Any other words are an exec command sent to the running daemon, e.g.\n  \
                  ipsec-engine show crypto isakmp sa\n  ipsec-engine sh cry ips sa --control /run/x.sock\n  \
                  ipsec-engine debug crypto isakmp   (streams until interrupted)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway with an IOS configuration.
    Run {
        /// IOS configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Map an IOS interface to a Linux one (IOS=LINUX), instead of matching by address.
        #[arg(long = "map-interface", value_parser = parse_map)]
        map_interface: Vec<(String, String)>,
        /// TUN device name.
        #[arg(long, default_value = "ipsec0")]
        tun: String,
        /// Control socket path.
        #[arg(long, default_value = control::DEFAULT_PATH)]
        control: PathBuf,
        /// Apply `ip nat inside source list N interface X overload` with nftables.
        #[arg(long)]
        apply_nat: bool,
        /// SO_MARK on the engine's sockets (the rule sends everything else to the TUN table).
        #[arg(long, value_parser = parse_u32, default_value_t = sys::route::DEFAULT_MARK)]
        mark: u32,
        /// Routing table for the TUN routes.
        #[arg(long, default_value_t = sys::route::DEFAULT_TABLE)]
        table: u32,
    },
    /// Check a configuration without running it.
    Check {
        /// IOS configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the built-in demonstration.
    Demo,
    /// Diagnose a tunnel that does not come up or carries traffic one way.
    Diagnose {
        /// Control socket path.
        #[arg(long, default_value = control::DEFAULT_PATH)]
        control: PathBuf,
    },
    #[command(external_subcommand)]
    Exec(Vec<String>),
}

fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => Err(format!("expected IOS=LINUX, got {s:?}")),
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

/// Stand-in for the protocol core until `ipsec-proto`'s endpoint is wired in: the plumbing runs
/// for real (TUN, sockets, routes, NAT, control socket), but no packet is protected: TUN and
/// network input is counted and dropped, and exec commands say so.
struct UnwiredGateway {
    mtu: u32,
    dropped: u64,
}

impl Gateway for UnwiredGateway {
    fn tun_mtu(&self) -> u32 {
        self.mtu
    }
    fn on_tun_packet(&mut self, _: Instant, _: &[u8], _: &mut Outputs) {
        self.dropped += 1;
    }
    fn on_udp(&mut self, _: Instant, _: SocketAddrV4, _: SocketAddrV4, _: &[u8], _: &mut Outputs) {
        self.dropped += 1;
    }
    fn on_esp(&mut self, _: Instant, _: Ipv4Addr, _: Ipv4Addr, _: &[u8], _: &mut Outputs) {
        self.dropped += 1;
    }
    fn on_timer(&mut self, _: Instant, _: &mut Outputs) {}
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn on_control(&mut self, _: Instant, cmd: &Command, _: &mut Outputs) -> ControlReply {
        ControlReply::Error(format!(
            "% {}: the protocol core is not wired into this build ({} packets dropped)",
            cmd.canonical, self.dropped
        ))
    }
    fn on_shutdown(&mut self, _: Instant, _: &mut Outputs) {}
}

/// TUN MTU for the stand-in; the real core computes it from the negotiated transforms.
const UNWIRED_MTU: u32 = 1400;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            config,
            map_interface,
            tun,
            control,
            apply_nat,
            mark,
            table,
        } => {
            // Before any thread exists, so SIGTERM/SIGINT reach the signalfd and nothing else.
            if let Err(e) = sys::signal::block_termination_signals() {
                eprintln!("ipsec-engine: blocking signals: {e}");
                return ExitCode::FAILURE;
            }
            let opts = RunOptions {
                map: map_interface,
                tun_name: Some(tun),
                control: Some(control),
                apply_nat,
                mark: Some(mark),
                table: Some(table),
            };
            run(&config, &opts)
        }
        Cmd::Check { .. } | Cmd::Demo => {
            eprintln!("ipsec-engine: not yet wired (needs the ipsec-proto configuration parser)");
            ExitCode::from(2)
        }
        Cmd::Diagnose { .. } => {
            eprintln!("ipsec-engine: diagnose is not yet wired (needs the protocol core)");
            ExitCode::from(2)
        }
        Cmd::Exec(words) => exec(words),
    }
}

fn run(config: &PathBuf, opts: &RunOptions) -> ExitCode {
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ipsec-engine: {}: {e}", config.display());
            return ExitCode::FAILURE;
        }
    };
    let facts = ipsec_engine::ios_facts::parse(&text);
    let host_addrs = match sys::ifaddr::ipv4_addresses() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ipsec-engine: reading interface addresses: {e}");
            return ExitCode::FAILURE;
        }
    };
    let host_routes = sys::route::host_routes().unwrap_or_else(|e| {
        eprintln!("ipsec-engine: warning: cannot read /proc/net/route: {e}");
        Vec::new()
    });
    let p = match plan::plan(&facts, opts, &host_addrs, &host_routes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ipsec-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    for w in &p.warnings {
        eprintln!("ipsec-engine: warning: {w}");
    }
    for m in &p.interfaces {
        eprintln!("ipsec-engine: interface {} is {}", m.ios, m.linux);
    }
    let mut gw = UnwiredGateway {
        mtu: UNWIRED_MTU,
        dropped: 0,
    };
    let mut engine = match Engine::setup(&p.config, gw.tun_mtu()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ipsec-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "ipsec-engine: running on {} (IKE 500/4500, ESP), TUN {}, {} protected network(s)",
        p.config.local_addr,
        engine.tun_name().unwrap_or("?"),
        p.config.protected.len()
    );
    let result = engine.run(&mut gw);
    let down = engine.teardown();
    match (result, down) {
        (Ok(reason), Ok(())) => {
            eprintln!("ipsec-engine: stopped ({reason:?}), routes, rule and TUN removed");
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("ipsec-engine: {e}");
            ExitCode::FAILURE
        }
    }
}

fn exec(mut words: Vec<String>) -> ExitCode {
    let mut path = PathBuf::from(control::DEFAULT_PATH);
    if let Some(i) = words.iter().position(|w| w == "--control") {
        match words.get(i + 1) {
            Some(p) => path = PathBuf::from(p),
            None => {
                eprintln!("ipsec-engine: --control needs a path");
                return ExitCode::from(2);
            }
        }
        words.drain(i..=i + 1);
    } else if let Some(i) = words.iter().position(|w| w.starts_with("--control=")) {
        path = PathBuf::from(&words[i]["--control=".len()..]);
        words.remove(i);
    }
    let line = words.join(" ");
    // Resolve locally first: a typo is reported even when no daemon runs.
    if let Err(e) = control::resolve(&line) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let mut stdout = std::io::stdout();
    match control::request(&path, &line, &mut stdout) {
        Ok(control::STATUS_OK) | Ok(control::STATUS_STREAM) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ipsec-engine: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
