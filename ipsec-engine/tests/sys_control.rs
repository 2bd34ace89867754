//! Control socket round trips against a running loop: abbreviations, errors the daemon survives,
//! and a debug stream that ends when the client goes away.

mod sys_util;

use ipsec_engine::control::{self, request, CommandId};
use ipsec_engine::{Command, ControlReply, DebugKind, EventLoop, Gateway, Outputs};
use ipsec_proto::time::Instant;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Answers with the canonical command; ticks every 10 ms and emits a debug line per tick while
/// somebody watches ISAKMP; `show debugging` reports whether it was told anyone watches.
struct Fake {
    next: Instant,
    ticks: u64,
    watched: Arc<AtomicBool>,
}

impl Gateway for Fake {
    fn tun_mtu(&self) -> u32 {
        1400
    }
    fn on_tun_packet(&mut self, _: Instant, _: &[u8], _: &mut Outputs) {}
    fn on_udp(&mut self, _: Instant, _: SocketAddrV4, _: SocketAddrV4, _: &[u8], _: &mut Outputs) {}
    fn on_esp(&mut self, _: Instant, _: Ipv4Addr, _: Ipv4Addr, _: &[u8], _: &mut Outputs) {}
    fn on_timer(&mut self, now: Instant, out: &mut Outputs) {
        self.ticks += 1;
        self.next = Instant(now.0 + 10);
        self.watched
            .store(out.debugging(DebugKind::Isakmp), Ordering::SeqCst);
        out.debug(
            DebugKind::Isakmp,
            format_args!("ISAKMP: tick {}", self.ticks),
        );
    }
    fn next_deadline(&self) -> Option<Instant> {
        Some(self.next)
    }
    fn on_control(&mut self, _: Instant, cmd: &Command, _: &mut Outputs) -> ControlReply {
        match cmd.id {
            CommandId::ClearSa => ControlReply::Error("% no SA to clear".into()),
            _ => ControlReply::Text(format!("[{}]\n", cmd.canonical)),
        }
    }
    fn on_shutdown(&mut self, _: Instant, _: &mut Outputs) {}
}

fn ask(path: &Path, line: &str) -> (u8, String) {
    let mut out = Vec::new();
    let status = request(path, line, &mut out).unwrap();
    (status, String::from_utf8(out).unwrap())
}

#[test]
fn control_round_trips() {
    let path = PathBuf::from(format!("/tmp/ie-ctl-{}.sock", std::process::id()));
    let mut lp = EventLoop::new().unwrap();
    lp.listen_control(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A second engine on the same socket is refused rather than stealing it.
    let mut other = EventLoop::new().unwrap();
    assert!(other.listen_control(&path).is_err());
    let stop = lp.stop_handle();
    let watched = Arc::new(AtomicBool::new(false));
    let w = watched.clone();
    let th = std::thread::spawn(move || {
        let mut gw = Fake {
            next: Instant(0),
            ticks: 0,
            watched: w,
        };
        let r = lp.run(&mut gw).unwrap();
        (r, gw.ticks)
    });

    assert_eq!(
        ask(&path, "sh cry isa sa"),
        (control::STATUS_OK, "[show crypto isakmp sa]\n".into())
    );
    let (st, text) = ask(&path, "sh cry isx sa");
    assert_eq!(st, control::STATUS_ERROR);
    assert_eq!(
        text,
        "sh cry isx sa\n       ^\n% Invalid input detected at '^' marker.\n"
    );
    let (st, text) = ask(&path, "sh cry i sa");
    assert_eq!(
        (st, text.as_str()),
        (
            control::STATUS_ERROR,
            "% Ambiguous command:  \"sh cry i\"\n"
        )
    );
    assert_eq!(
        ask(&path, "cl cry sa"),
        (control::STATUS_ERROR, "% no SA to clear\n".into())
    );
    // Still alive after errors, and several requests on one connection are answered in order.
    {
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"sh cry ips sa pe 203.0.113.2\nsh run\n\nbogus\n")
            .unwrap();
        let mut r = BufReader::new(s);
        let mut all = Vec::new();
        for _ in 0..4 {
            r.read_until(0, &mut all).unwrap();
            let mut t = [0u8; 2];
            std::io::Read::read_exact(&mut r, &mut t).unwrap();
            all.push(t[0]);
        }
        let text = String::from_utf8(all).unwrap();
        assert_eq!(
            text,
            "[show crypto ipsec sa peer 203.0.113.2]\n\x000[show running-config]\n\x000\x000\
             bogus\n^\n% Invalid input detected at '^' marker.\n\x001"
        );
    }
    // An overlong line is refused without killing the daemon.
    let long = "show ".repeat(400);
    assert_eq!(ask(&path, &long).0, control::STATUS_ERROR);

    // Debug stream: lines arrive, then the client disconnects and the core is told nobody
    // watches any more.
    {
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"deb cry isa\n").unwrap();
        let mut r = BufReader::new(s);
        let mut head = Vec::new();
        r.read_until(0, &mut head).unwrap();
        assert_eq!(head, b"Crypto ISAKMP debugging is on\n\0");
        let mut t = [0u8; 2];
        std::io::Read::read_exact(&mut r, &mut t).unwrap();
        assert_eq!(t, [control::STATUS_STREAM, b'\n']);
        let mut line = String::new();
        for _ in 0..3 {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("ISAKMP: tick "), "{line:?}");
        }
        assert!(watched.load(Ordering::SeqCst));
    }
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert!(
        !watched.load(Ordering::SeqCst),
        "debugging still on after the client left"
    );
    assert_eq!(
        ask(&path, "show crypto map"),
        (control::STATUS_OK, "[show crypto map]\n".into())
    );

    stop.stop().unwrap();
    let (reason, ticks) = th.join().unwrap();
    assert_eq!(reason, ipsec_engine::StopReason::Requested);
    assert!(ticks >= 3);
    assert!(!path.exists(), "socket file left behind");
}
