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

/// The tests that change the process umask take turns (it is one per process).
static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` with the process umask set to `mask`, then puts the old one back.
fn with_umask<R>(mask: libc::mode_t, f: impl FnOnce() -> R) -> R {
    let _turn = UMASK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: umask(2) swaps the process's file creation mask; no pointers, no failure.
    let old = unsafe { libc::umask(mask) };
    let r = f();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    r
}

fn socket_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| m.mode() & 0o7777)
}

/// The documented mode, 0600, whatever the umask: neither a permissive one (0) widens it nor an
/// odd one that takes the owner's bits (0277) narrows it.
#[test]
fn control_socket_mode_is_0600_under_any_umask() {
    for mask in [0o000, 0o022, 0o277] {
        let path = PathBuf::from(format!(
            "/tmp/ie-ctl-mode-{}-{mask:o}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = with_umask(mask, || control::bind(&path)).unwrap();
        assert_eq!(
            socket_mode(&path),
            Some(control::SOCKET_MODE),
            "umask {mask:04o}"
        );
        // Still a working socket after the mode games.
        UnixStream::connect(&path).unwrap();
        drop(listener);
        std::fs::remove_file(&path).unwrap();
    }
}

/// Makes chmod(2), fchmod(2), fchmodat(2) and fchmodat2(2) fail with EPERM in the calling
/// thread for the rest of its life (seccomp filters are per thread): run it in a thread of its
/// own.
#[cfg(target_arch = "x86_64")]
fn forbid_chmod_in_this_thread() {
    use libc::{sock_filter, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let denied = [
        libc::SYS_chmod,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchmodat2,
    ];
    let n = denied.len() as u8;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| sock_filter {
        code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let mut prog = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        // Another ABI: allow (the last but one instruction).
        jeq(AUDIT_ARCH_X86_64, 0, n + 1),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
    ];
    for (i, nr) in denied.iter().enumerate() {
        // Hit: jump to the last instruction.
        prog.push(jeq(*nr as u32, n - i as u8, 0));
    }
    prog.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW));
    prog.push(stmt(
        BPF_RET | BPF_K,
        libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA),
    ));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    let zero: libc::c_ulong = 0;
    // SAFETY: prctl with integer arguments only; no_new_privs is required for an unprivileged
    // seccomp filter and only affects this thread (and what it would execute).
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            zero,
            zero,
            zero,
        )
    };
    assert_eq!(
        r,
        0,
        "PR_SET_NO_NEW_PRIVS: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fprog` points to `prog`, both alive during the call; the kernel copies the
    // filter.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    assert_eq!(r, 0, "PR_SET_SECCOMP: {}", std::io::Error::last_os_error());
}

/// Stops a local user from reaching the control socket (`clear crypto sa`, `debug crypto
/// isakmp` with its keys and addresses) in the gap between bind(2) and chmod(2): the socket
/// used to be bound under the process umask, so with umask 0 it existed with mode 0777 until
/// the chmod, and stayed 0777 when the chmod failed. Here the binding thread may not chmod at
/// all (seccomp), which freezes that gap: whatever is left at the path must have no group or
/// other bits.
#[cfg(target_arch = "x86_64")]
#[test]
fn control_socket_is_never_open_to_others() {
    let path = PathBuf::from(format!("/tmp/ie-ctl-gap-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = path.clone();
    let r = with_umask(0, || {
        std::thread::spawn(move || {
            forbid_chmod_in_this_thread();
            control::bind(&p).map(drop)
        })
        .join()
        .unwrap()
    });
    // The chmod to 0600 was refused, so binding fails ...
    let e = r.expect_err("bind succeeded although chmod was forbidden");
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    // ... and leaves nobody else a way in.
    if let Some(m) = socket_mode(&path) {
        let _ = std::fs::remove_file(&path);
        assert_eq!(m & 0o077, 0, "socket left with mode {m:04o}");
    }
}
