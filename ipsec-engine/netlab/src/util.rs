//! Unique names, scratch directories, command running and process stopping.

use crate::error::{io, LabError, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// `<pid>-<seq>-<tag>`: unique across the threads of one test binary (seq) and across binaries
/// running at the same time (pid), so parallel tests never share a namespace or a directory.
pub(crate) fn unique(tag: &str) -> String {
    let clean: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(20)
        .collect();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{}", std::process::id(), seq, clean)
}

/// A directory under /tmp removed on drop, except while panicking (a failed test keeps its
/// configs, logs and captures for the reader) or when `NETLAB_KEEP` is set.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Create `/tmp/ipsec-netlab-<unique>`.
    pub fn new(tag: &str) -> Result<Self> {
        let path = PathBuf::from(format!("/tmp/ipsec-netlab-{}", unique(tag)));
        std::fs::create_dir_all(&path).map_err(io(format!("mkdir {}", path.display())))?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("NETLAB_KEEP").is_some() {
            eprintln!("ipsec-netlab: keeping {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run to completion; Ok(stdout) on success, otherwise an error carrying both streams.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("spawn `{}`", describe(cmd))))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(LabError::Command {
            cmd: describe(cmd),
            status: out.status.to_string(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Poll `f` every 10 ms until it is true or `timeout` passes.
pub(crate) fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send a signal by number through the shell's `kill` builtin (std has only SIGKILL and we want
/// no libc/unsafe here).
pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid} 2>/dev/null")])
        .stdin(Stdio::null())
        .status();
}

/// Ask politely (`sig`), wait up to `grace`, then SIGKILL; always reaps the child.
pub(crate) fn stop_child(child: &mut Child, sig: &str, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(child.id(), sig);
    let exited = wait_until(grace, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
