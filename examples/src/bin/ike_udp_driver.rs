//! A site-to-site IKEv1 gateway in one blocking loop on the tunnel layer (see
//! `ipsec_examples::driver`): the arguments become an IOS configuration.
//!
//! ```text
//! ike_udp_driver --local 198.51.100.2 --peer 203.0.113.2 --psk secret \
//!     --local-net 10.1.1.0/24 --remote-net 10.2.2.0/24 \
//!     [--ike 3des-sha1-modp1024] [--esp 3des-sha1] [--initiate] \
//!     [--ping 10.1.1.10,10.2.2.10,5] [--seconds 30]
//! ```
//!
//! It binds UDP 500 and 4500 on `--local`, answers the peer (or, with `--initiate`, sends a
//! packet the crypto ACL permits, which starts Main Mode and Quick Mode), prints every event, and with `--ping SRC,DST,N` sends ICMP echo requests
//! from SRC to DST through the tunnel once it is up (one a second, at most N + 3) until N
//! replies came, printing them, then `show crypto isakmp sa` and `show crypto ipsec sa`. Exits
//! with
//! status 0 when every ping was answered (or, without `--ping`, when an IPsec SA pair came up),
//! 1 otherwise.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant as StdInstant};

use ipsec_examples::config::{subnet, SiteToSite};
use ipsec_examples::driver::TunnelDriver;
use ipsec_examples::packet::{icmp_echo_request, parse_icmp_echo, ICMP_ECHO_REPLY};
use ipsec_proto::tunnel::{CoreOptions, Show, TunnelEvent};

struct Args {
    site: SiteToSite,
    initiate: bool,
    ping: Option<(Ipv4Addr, Ipv4Addr, u16)>,
    seconds: u64,
}

fn usage() -> String {
    "usage: ike_udp_driver --local IP --peer IP --psk KEY --local-net CIDR --remote-net CIDR \
     [--ike PROPOSAL] [--esp PROPOSAL] [--lifetime SECS] [--initiate] [--ping SRC,DST,N] \
     [--seconds N]"
        .into()
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut local = None;
    let mut peer = None;
    let mut psk = None;
    let mut local_net = None;
    let mut remote_net = None;
    let mut ike = "3des-sha1-modp1024".to_string();
    let mut esp = "3des-sha1".to_string();
    let mut lifetime = 3600;
    let mut initiate = false;
    let mut ping = None;
    let mut seconds = 30;
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--local" => local = Some(val()?.parse().map_err(|e| format!("--local: {e}"))?),
            "--peer" => peer = Some(val()?.parse().map_err(|e| format!("--peer: {e}"))?),
            "--psk" => psk = Some(val()?),
            "--local-net" => local_net = Some(subnet(&val()?).ok_or("--local-net: bad CIDR")?),
            "--remote-net" => remote_net = Some(subnet(&val()?).ok_or("--remote-net: bad CIDR")?),
            "--ike" => ike = val()?,
            "--esp" => esp = val()?,
            "--lifetime" => lifetime = val()?.parse().map_err(|e| format!("--lifetime: {e}"))?,
            "--initiate" => initiate = true,
            "--seconds" => seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--ping" => {
                let v = val()?;
                let p: Vec<&str> = v.split(',').collect();
                let [s, d, n] = p.as_slice() else {
                    return Err("--ping SRC,DST,N".into());
                };
                ping = Some((
                    s.parse().map_err(|e| format!("--ping: {e}"))?,
                    d.parse().map_err(|e| format!("--ping: {e}"))?,
                    n.parse().map_err(|e| format!("--ping: {e}"))?,
                ));
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    let need = |what: &str| format!("{what} is required\n{}", usage());
    Ok(Args {
        site: SiteToSite {
            local: local.ok_or_else(|| need("--local"))?,
            peer: peer.ok_or_else(|| need("--peer"))?,
            psk: psk.ok_or_else(|| need("--psk"))?,
            ike,
            esp,
            local_net: local_net.ok_or_else(|| need("--local-net"))?,
            remote_net: remote_net.ok_or_else(|| need("--remote-net"))?,
            lifetime_secs: lifetime,
        },
        initiate,
        ping,
        seconds,
    })
}

/// 32 bytes from the kernel's generator: every random value of the tunnel comes from it.
fn os_seed() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

/// The first address of a selector (the host a trigger packet comes from or goes to).
fn first_host(s: &ipsec_proto::policy::acl::TrafficSelector) -> Ipv4Addr {
    s.addr.range().0
}

fn run(args: Args) -> Result<bool, String> {
    let ios = args.site.ios_config().map_err(|e| e.to_string())?;
    let opts = CoreOptions {
        seed: os_seed().map_err(|e| format!("/dev/urandom: {e}"))?,
        ..CoreOptions::default()
    };
    let mut driver = TunnelDriver::bind(&ios, opts).map_err(|e| e.to_string())?;
    println!(
        "listening on {}:500/4500, peer {}",
        driver.local(),
        args.site.peer
    );
    let ident = (std::process::id() & 0xffff) as u16;
    if args.initiate {
        // As on IOS, traffic the crypto ACL permits starts IKE: the trigger itself is dropped.
        let (src, dst) = args.ping.map_or(
            (
                first_host(&args.site.local_net),
                first_host(&args.site.remote_net),
            ),
            |p| (p.0, p.1),
        );
        let trigger = icmp_echo_request(src, dst, ident, 0, b"ipsec-examples trigger");
        let v = driver.send_packet(&trigger).map_err(|e| e.to_string())?;
        println!("trigger {src} -> {dst}: {v:?}");
    }
    let deadline = StdInstant::now() + Duration::from_secs(args.seconds);
    let mut up = false;
    let mut answered = 0u16;
    let mut next_seq = 1u16;
    let mut next_send = StdInstant::now();
    while StdInstant::now() < deadline {
        let events = driver
            .step(Duration::from_millis(200))
            .map_err(|e| e.to_string())?;
        for ev in &events {
            println!("event: {ev:?}");
            up |= matches!(ev, TunnelEvent::IpsecUp { .. });
        }
        while let Some(p) = driver.recv_packet() {
            match parse_icmp_echo(&p) {
                Some(e) if e.icmp_type == ICMP_ECHO_REPLY && e.ident == ident && e.seq > 0 => {
                    println!("echo reply from {}: seq={}", e.src, e.seq);
                    answered += 1;
                }
                _ => println!("inner packet, {} bytes", p.len()),
            }
        }
        let Some((src, dst, count)) = args.ping else {
            // An initiator's job is done once the pair is up; a responder keeps serving.
            if up && args.initiate {
                break;
            }
            continue;
        };
        if answered >= count {
            break;
        }
        // A few spare requests: the first may reach a peer that is still installing the SA
        // pair it just negotiated (strongSwan's libipsec drops it "due to policy").
        if up && next_seq <= count.saturating_add(3) && StdInstant::now() >= next_send {
            let req = icmp_echo_request(src, dst, ident, next_seq, b"ipsec-examples ping");
            match driver.send_packet(&req) {
                Ok(v) => println!("echo request seq={next_seq}: {v:?}"),
                Err(e) => println!("echo request seq={next_seq} not sent: {e}"),
            }
            next_seq += 1;
            next_send = StdInstant::now() + Duration::from_secs(1);
        }
    }
    let now = driver.now();
    print!("{}", driver.tunnel().show(now, Show::IsakmpSa));
    print!(
        "{}",
        driver.tunnel().show(
            now,
            Show::IpsecSa {
                peer: None,
                detail: false
            }
        )
    );
    Ok(match args.ping {
        Some((_, _, count)) => answered >= count,
        None => up,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
