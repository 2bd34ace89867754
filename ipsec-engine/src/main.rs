//! `ipsec-engine` command line: the daemon (`run`) and the exec-command client (`show ...`,
//! `clear ...`, `debug ...`, with IOS abbreviations).

use clap::{Parser, Subcommand};
use ipsec_engine::control;
use ipsec_engine::engine::Engine;
use ipsec_engine::gateway::{CoreOptions, GatewayCore};
use ipsec_engine::plan::{self, RunOptions};
use ipsec_engine::sys;
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
        /// Routing table of the engine's own (marked) packets: a /32 to each tunnel
        /// destination via the physical next hop, so they never enter a tunnel.
        #[arg(long, default_value_t = sys::route::DEFAULT_UNDERLAY_TABLE)]
        underlay_table: u32,
        /// Write Wireshark decryption tables (ikev1_decryption_table, esp_sa, preferences) into
        /// this directory as SAs are created. THE FILES HOLD EVERY SESSION KEY: debugging only.
        #[arg(long)]
        keylog: Option<PathBuf>,
        /// Encapsulate ESP in UDP 4500 even when no NAT is found (like strongSwan's
        /// forceencaps): our NAT-D hash is made not to match, so the peer floats as well. For
        /// firewalls that pass only UDP, and to measure ESP-in-UDP without a NAT.
        #[arg(long)]
        force_udp_encaps: bool,
        /// No UDP segmentation offload on the NAT-T socket (by default ESP-in-UDP goes out in
        /// UDP_SEGMENT batches and comes in as UDP_GRO trains where the kernel supports them):
        /// to compare, or to rule it out when debugging.
        #[arg(long)]
        no_udp_offload: bool,
        /// Seal and open every ESP packet on its own with RustCrypto's ciphers instead of the
        /// shared passes (bitsliced 3DES, multi-buffer AES-CBC): for comparison benchmarks
        /// only; slower, and for 3DES not constant-time.
        #[arg(long)]
        per_packet_ciphers: bool,
        /// Directory of the trustpoints' private keys (`LABEL.pem` for `rsakeypair LABEL`,
        /// PKCS#1 or PKCS#8, mode 600) and CRLs (`TRUSTPOINT.crl`): a running-config never
        /// holds private keys.
        #[arg(long)]
        key_dir: Option<PathBuf>,
        /// Easy VPN remote: write the DNS servers and default domain the server pushed to
        /// this resolv.conf-style file while connected (atomically: a temporary file, then a
        /// rename); its previous content comes back when the connection goes down or the
        /// engine exits.
        #[arg(long)]
        resolv_conf: Option<PathBuf>,
    },
    /// Check a configuration without running it.
    Check {
        /// IOS configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Also load the trustpoints' keys and CRLs from this directory (as `run --key-dir`).
        #[arg(long)]
        key_dir: Option<PathBuf>,
    },
    /// Run the built-in demonstration: the seed's two routers in one process, virtual time.
    Demo {
        /// siteA IOS configuration (default: cisco-ios.md A.8 with hostname siteA).
        #[arg(long = "config-a")]
        config_a: Option<PathBuf>,
        /// siteB IOS configuration (default: the mirror of siteA).
        #[arg(long = "config-b")]
        config_b: Option<PathBuf>,
        /// Echoes each way.
        #[arg(long, default_value_t = 20)]
        pings: u32,
        /// Print `debug crypto isakmp` and `debug crypto ipsec` of both routers.
        #[arg(long)]
        debug: bool,
        /// Seed of all randomness (same seed, same output).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Diagnose a tunnel that does not come up or carries traffic one way: a verdict per peer
    /// from the running daemon's state and recent history, with the show/debug lines behind it.
    Diagnose {
        /// Only this peer (`set peer` address).
        #[arg(long)]
        peer: Option<std::net::Ipv4Addr>,
        /// Control socket path.
        #[arg(long, default_value = control::DEFAULT_PATH)]
        control: PathBuf,
        /// Diagnose only this configuration file, without a daemon (configuration findings).
        #[arg(long)]
        config: Option<PathBuf>,
        /// `diagnose peer X` also accepted as words.
        #[arg(hide = true)]
        words: Vec<String>,
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
            underlay_table,
            keylog,
            force_udp_encaps,
            no_udp_offload,
            per_packet_ciphers,
            key_dir,
            resolv_conf,
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
                underlay_table: Some(underlay_table),
                force_udp_encaps,
                key_dir,
            };
            run(
                &config,
                &opts,
                keylog.as_ref(),
                resolv_conf,
                Offloads {
                    udp: !no_udp_offload,
                    shared_passes: !per_packet_ciphers,
                },
            )
        }
        Cmd::Check { config, key_dir } => check(&config, key_dir.as_deref()),
        Cmd::Demo {
            config_a,
            config_b,
            pings,
            debug,
            seed,
        } => demo(config_a, config_b, pings, debug, seed),
        Cmd::Diagnose {
            peer,
            control,
            config,
            words,
        } => diagnose(peer, &control, config.as_ref(), &words),
        Cmd::Exec(words) => exec(words),
    }
}

fn diagnose(
    peer: Option<std::net::Ipv4Addr>,
    path: &std::path::Path,
    config: Option<&PathBuf>,
    words: &[String],
) -> ExitCode {
    if let Some(c) = config {
        let bytes = match read_bytes(c) {
            Ok(t) => t,
            Err(code) => return code,
        };
        return match ipsec_proto::ios::config::parse_bytes(&bytes) {
            Ok(p) => {
                let v = ipsec_proto::diagnose::diagnose_config(&p.config);
                if v.is_empty() {
                    println!("{}: no configuration findings", c.display());
                } else {
                    print!("{}", ipsec_proto::diagnose::render(&v));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                report_config_error(c, &e);
                ExitCode::FAILURE
            }
        };
    }
    let peer = match (peer, words) {
        (Some(p), _) => Some(p),
        (None, [kw, ip]) if kw == "peer" => match ip.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                eprintln!("ipsec-engine: diagnose peer: {ip:?} is not an IPv4 address");
                return ExitCode::from(2);
            }
        },
        (None, []) => None,
        (None, w) => {
            eprintln!("ipsec-engine: diagnose: unexpected {:?}", w.join(" "));
            return ExitCode::from(2);
        }
    };
    let line = match peer {
        Some(p) => format!("diagnose peer {p}"),
        None => "diagnose".to_string(),
    };
    let mut stdout = std::io::stdout();
    match control::request(path, &line, &mut stdout) {
        Ok(control::STATUS_OK) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ipsec-engine: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// `reload` and SIGHUP: the configuration file read and checked as at start (unsupported
/// crypto refused), and refused when it would change the plumbing set up at start.
fn reload_source(
    path: PathBuf,
    opts: RunOptions,
    running: ipsec_engine::engine::EngineConfig,
) -> ipsec_engine::event_loop::ReloadSource {
    Box::new(move || {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut parsed = ipsec_proto::ios::config::parse_bytes(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        opts.apply_to(&mut parsed.config);
        if let Some(dir) = &opts.key_dir {
            ipsec_engine::key_dir::load(dir, &mut parsed.config).map_err(|p| p.join("; "))?;
        }
        let facts = ipsec_engine::gateway::facts(&parsed.config);
        let host_addrs = sys::ifaddr::ipv4_addresses().map_err(|e| e.to_string())?;
        let host_routes = sys::route::host_routes().unwrap_or_default();
        let p = plan::plan(&facts, &opts, &host_addrs, &host_routes).map_err(|e| e.to_string())?;
        if let Some(change) = plan::plumbing_change(&running, &p.config) {
            return Err(format!("{change}; restart the engine to apply it"));
        }
        // A followed dhcp address is the host's now, not the one at start.
        let served = match &running.follow_interface {
            Some(_) => &p.config,
            None => &running,
        };
        let built = ipsec_engine::gateway::build(&parsed.config, Some(served.local_addr))
            .map_err(|e| e.to_string())?;
        let unserved =
            ipsec_engine::gateway::unserved_local_addresses(&built.entries, &served.local_addrs());
        if !unserved.is_empty() {
            return Err(unserved.join("; "));
        }
        Ok(parsed.config)
    })
}

/// The data-path speed-ups `run` can turn off for comparisons.
struct Offloads {
    /// UDP GSO/GRO on the NAT-T sockets (`--no-udp-offload` turns it off).
    udp: bool,
    /// The shared cipher passes (`--per-packet-ciphers` turns them off).
    shared_passes: bool,
}

fn run(
    config: &PathBuf,
    opts: &RunOptions,
    keylog: Option<&PathBuf>,
    resolv_conf: Option<PathBuf>,
    offloads: Offloads,
) -> ExitCode {
    // First, before any interface or socket exists: without real entropy there is no daemon.
    let seed = match ipsec_engine::os_seed() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ipsec-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bytes = match read_bytes(config) {
        Ok(t) => t,
        Err(code) => return code,
    };
    // Refuses unsupported crypto features: running them differently from the router would be
    // worse than not running.
    let mut parsed = match ipsec_proto::ios::config::parse_bytes(&bytes) {
        Ok(p) => p,
        Err(e) => {
            report_config_error(config, &e);
            return ExitCode::FAILURE;
        }
    };
    opts.apply_to(&mut parsed.config);
    if let Some(dir) = &opts.key_dir {
        if let Err(problems) = ipsec_engine::key_dir::load(dir, &mut parsed.config) {
            for p in problems {
                eprintln!("ipsec-engine: --key-dir {}: {p}", dir.display());
            }
            return ExitCode::FAILURE;
        }
    }
    for w in &parsed.warnings {
        eprintln!("ipsec-engine: {}: warning: {w}", config.display());
    }
    if let Some(s) = parsed.ignored_summary() {
        eprintln!("ipsec-engine: {}: {s}", config.display());
    }
    let facts = ipsec_engine::gateway::facts(&parsed.config);
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
    let core_opts = CoreOptions {
        seed,
        local_addr: p.core_local,
        ..CoreOptions::default()
    };
    let mut gw = match GatewayCore::new(parsed.config, core_opts) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("ipsec-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Certificates are checked against the wall clock; the core never reads one itself.
    gw.set_wall_clock(sys::clock::now(), unix_now());
    gw.set_shared_passes(offloads.shared_passes);

    for k in gw.skipped() {
        eprintln!("ipsec-engine: warning: {k}");
    }
    // An entry on an address no socket serves would never negotiate: refuse rather than run
    // a different configuration from the router's.
    let unserved =
        ipsec_engine::gateway::unserved_local_addresses(gw.entries(), &p.config.local_addrs());
    if !unserved.is_empty() {
        for u in &unserved {
            eprintln!("ipsec-engine: {}: error: {u}", config.display());
        }
        return ExitCode::FAILURE;
    }
    if let Some(dir) = keylog {
        match ipsec_engine::keylog::KeyLog::open(dir) {
            Ok(k) => {
                eprintln!(
                    "ipsec-engine: WARNING: writing every IKE and ESP session key to {} (Wireshark tables); delete it after debugging",
                    dir.display()
                );
                gw.set_keylog(Some(Box::new(k)));
            }
            Err(e) => {
                eprintln!("ipsec-engine: --keylog {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let mut engine = match Engine::setup(&p.config, gw.tun_mtu()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ipsec-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    engine.set_udp_offload(offloads.udp);
    if let Some(path) = resolv_conf {
        eprintln!(
            "ipsec-engine: Easy VPN DNS settings go to {} while connected",
            path.display()
        );
        engine.set_resolv_conf(path);
    }
    engine.set_interface_map(
        p.interfaces
            .iter()
            .map(|m| (m.ios.clone(), m.linux.clone()))
            .collect(),
    );
    engine.set_reload_source(reload_source(
        config.clone(),
        opts.clone(),
        p.config.clone(),
    ));
    let locals: Vec<String> = p
        .config
        .local_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    eprintln!(
        "ipsec-engine: running on {} (IKE 500/4500, ESP), TUN {}, {} protected network(s)",
        locals.join(", "),
        engine.tun_name().unwrap_or("none"),
        p.config.protected.len()
    );
    for v in &p.config.vtis {
        eprintln!(
            "ipsec-engine: interface Tunnel{} is TUN {}, {} route(s) while its line protocol is up",
            v.number,
            v.dev,
            v.routes.len()
        );
    }
    for (d, via, dev) in engine.underlay_routes() {
        eprintln!(
            "ipsec-engine: underlay: {d}/32 via {} dev {dev} table {} for the engine's own packets",
            via.map_or_else(|| "direct".to_string(), |v| v.to_string()),
            p.config.underlay_table
        );
    }
    let result = engine.run(&mut gw);
    // The UDP offload counters, so that a run (or a lab test) can tell whether ESP-in-UDP went
    // through segmented sends and coalesced receives.
    let st = engine.stats();
    eprintln!(
        "ipsec-engine: udp out {} (gso {} sends, {} segments, {} fallbacks), in {} (gro {} trains, {} segments)",
        st.udp_out,
        st.udp_gso,
        st.udp_gso_segments,
        st.udp_gso_fallbacks,
        st.udp_in,
        st.udp_gro,
        st.udp_gro_segments
    );
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

fn read(path: &PathBuf) -> Result<String, ExitCode> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("ipsec-engine: {}: {e}", path.display());
        ExitCode::FAILURE
    })
}

/// The file as bytes: [`ipsec_proto::ios::config::parse_bytes`] reads any encoding (Latin-1
/// when not UTF-8) and keeps keys byte for byte.
fn read_bytes(path: &PathBuf) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("ipsec-engine: {}: {e}", path.display());
        ExitCode::FAILURE
    })
}

/// `FILE:LINE:COLUMN: error: ...`, one line per unsupported feature when that is the reason.
fn report_config_error(path: &std::path::Path, e: &ipsec_proto::ios::ConfigError) {
    if e.unsupported.is_empty() {
        eprintln!(
            "{}:{}:{}: error: {}",
            path.display(),
            e.line,
            e.column,
            e.message
        );
    }
    for u in &e.unsupported {
        eprintln!(
            "{}:{}:{}: error: {}",
            path.display(),
            u.line,
            u.column,
            u.message()
        );
    }
}

fn check(path: &PathBuf, key_dir: Option<&std::path::Path>) -> ExitCode {
    let bytes = match read_bytes(path) {
        Ok(t) => t,
        Err(c) => return c,
    };
    // Everything is reported, unsupported crypto features included (they are errors).
    let mut parsed = match ipsec_proto::ios::config::parse_for_check(&bytes) {
        Ok(p) => p,
        Err(e) => {
            report_config_error(path, &e);
            return ExitCode::FAILURE;
        }
    };
    let mut errors = 0;
    for u in &parsed.unsupported {
        errors += 1;
        println!(
            "{}:{}:{}: error: {}",
            path.display(),
            u.line,
            u.column,
            u.message()
        );
    }
    for w in &parsed.warnings {
        println!(
            "{}:{}:{}: warning: {}",
            path.display(),
            w.line,
            w.column,
            w.message
        );
    }
    if let Some(s) = parsed.ignored_summary() {
        println!("{}: {s}", path.display());
    }
    // Every lint, the crypto-strength warnings included (`diagnose` reports only the others).
    for l in ipsec_proto::ios::check::check_all(&parsed.config, Some(&parsed.origins)) {
        if l.severity == ipsec_proto::ios::Severity::Error {
            errors += 1;
        }
        match l.line {
            Some(n) => println!("{}:{n}: {}: {}", path.display(), l.severity, l.message),
            None => println!("{}: {}: {}", path.display(), l.severity, l.message),
        }
    }
    // Private keys are never in a running-config: name the files `run --key-dir` reads, and
    // load them when a directory is given, so the entries below are built as `run` builds them.
    match key_dir {
        Some(dir) => {
            if let Err(problems) = ipsec_engine::key_dir::load(dir, &mut parsed.config) {
                for p in problems {
                    errors += 1;
                    println!(
                        "{}: error: --key-dir {}: {p}",
                        path.display(),
                        dir.display()
                    );
                }
            }
        }
        None => {
            let dir = std::path::Path::new("KEYDIR");
            for (tp, key, crl) in ipsec_engine::key_dir::expected_files(&parsed.config, dir) {
                if let Some(k) = key {
                    println!(
                        "{}: note: trustpoint {tp}: run --key-dir KEYDIR reads its private key from {}",
                        path.display(),
                        k.display()
                    );
                }
                if let Some(c) = crl {
                    println!(
                        "{}: note: trustpoint {tp}: revocation-check crl reads {} when present",
                        path.display(),
                        c.display()
                    );
                }
            }
        }
    }
    if !parsed.unsupported.is_empty() {
        println!(
            "{}: refused: {} unsupported crypto feature(s), {} error(s)",
            path.display(),
            parsed.unsupported.len(),
            errors
        );
        return ExitCode::FAILURE;
    }
    // `ip address dhcp|negotiated` on a crypto map interface or tunnel source: `run` takes the
    // host's address; here a stand-in lets the rest be checked (the parser said so already).
    let cfg = &parsed.config;
    let tunnel_source = |name: &str| {
        cfg.vtis().any(|v| {
            matches!(
                v.tunnel.as_ref().and_then(|t| t.source.as_ref()),
                Some(ipsec_proto::policy::TunnelSource::Interface(n)) if n == name
            )
        })
    };
    let stand_in = cfg
        .interfaces
        .iter()
        .any(|i| {
            i.address.is_none()
                && i.unnumbered.is_none()
                && (i.crypto_map.is_some() || tunnel_source(&i.name))
        })
        .then_some(std::net::Ipv4Addr::UNSPECIFIED);
    let core_opts = CoreOptions {
        local_addr: stand_in,
        ..CoreOptions::default()
    };
    match GatewayCore::new(parsed.config.clone(), core_opts) {
        Ok(g) => {
            for k in g.skipped() {
                println!("{}: warning: {k}", path.display());
            }
            let vtis: Vec<&str> = g
                .entries()
                .iter()
                .filter(|e| e.vti.is_some())
                .map(|e| e.interface.as_str())
                .collect();
            if !vtis.is_empty() {
                println!(
                    "{}: {} ready (static VTI{}, one TUN each)",
                    path.display(),
                    vtis.join(", "),
                    if vtis.len() == 1 { "" } else { "s" }
                );
            }
            // `run` serves every local address the entries use (see plan.rs): only an entry on
            // an interface without an address could be left out.
            let served: Vec<std::net::Ipv4Addr> = parsed
                .config
                .interfaces
                .iter()
                .filter_map(|i| i.address.map(|(a, _)| a))
                .collect();
            for u in ipsec_engine::gateway::unserved_local_addresses(g.entries(), &served) {
                println!("{}: warning: {u}", path.display());
            }
            if let Some(m) = parsed.config.ipsec.ike_fragmentation_mtu {
                println!(
                    "{}: IKE fragmentation on: messages over {m} bytes go as fragments to peers \
                     that announce it",
                    path.display()
                );
            }
            let n = g.entries().len() - vtis.len();
            println!(
                "{}: {n} crypto map entr{} ready, {} error(s)",
                path.display(),
                if n == 1 { "y" } else { "ies" },
                errors
            );
        }
        Err(e) => {
            errors += 1;
            println!("{}: error: {e}", path.display());
        }
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn demo(
    config_a: Option<PathBuf>,
    config_b: Option<PathBuf>,
    pings: u32,
    debug: bool,
    seed: u64,
) -> ExitCode {
    let load = |p: Option<PathBuf>| -> Result<Option<String>, ExitCode> {
        match p {
            Some(p) => read(&p).map(Some),
            None => Ok(None),
        }
    };
    let (config_a, config_b) = match (load(config_a), load(config_b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let opts = ipsec_engine::demo::DemoOptions {
        config_a,
        config_b,
        pings,
        debug,
        seed,
    };
    match ipsec_engine::demo::run(&opts) {
        Ok(r) => {
            print!("{}", r.text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ipsec-engine demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it, which no certificate accepts).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
