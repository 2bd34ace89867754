//! Lines stamped with the moment they were seen: a followed log file (charon's filelog) or any
//! stream a test reads (an engine's `debug crypto` subscription).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A shared, growing list of `(when seen, line)`; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct TimedLines {
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl TimedLines {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append one line (without its newline) seen at `at`.
    pub fn push(&self, at: Instant, line: &str) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((at, line.to_string()));
    }

    /// How many lines so far.
    pub fn len(&self) -> usize {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no line was seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the lines from index `from` on.
    pub fn since(&self, from: usize) -> Vec<(Instant, String)> {
        let l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        l.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// A copy of every line.
    pub fn snapshot(&self) -> Vec<(Instant, String)> {
        self.since(0)
    }

    /// True once some line contains `needle`, polling every 20 ms up to `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        crate::util::wait_until(timeout, || {
            self.lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|(_, l)| l.contains(needle))
        })
    }
}

/// Follows a file as it grows (like `tail -F` from its start), stamping each complete line when
/// it is read; polls every `interval` on its own thread until dropped.
#[derive(Debug)]
pub struct LogFollower {
    path: PathBuf,
    lines: TimedLines,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogFollower {
    /// Start following `path` (which may not exist yet), polling every 100 ms.
    pub fn start(path: &Path) -> Self {
        Self::start_every(path, Duration::from_millis(100))
    }

    /// Start following `path`, polling every `interval`.
    pub fn start_every(path: &Path, interval: Duration) -> Self {
        let lines = TimedLines::new();
        let stop = Arc::new(AtomicBool::new(false));
        let (p, l, s) = (path.to_path_buf(), lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || follow(&p, &l, &s, interval));
        Self {
            path: path.to_path_buf(),
            lines,
            stop,
            thread: Some(thread),
        }
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lines read so far (a handle sharing the list).
    pub fn lines(&self) -> &TimedLines {
        &self.lines
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn follow(path: &Path, lines: &TimedLines, stop: &AtomicBool, interval: Duration) {
    let mut pos = 0u64;
    let mut partial: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let done = stop.load(Ordering::Relaxed);
        if let Ok(mut f) = std::fs::File::open(path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < pos {
                // Truncated or replaced: start over.
                pos = 0;
                partial.clear();
            }
            if f.seek(SeekFrom::Start(pos)).is_ok() {
                while let Ok(n) = f.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    pos += n as u64;
                    partial.extend_from_slice(&chunk[..n]);
                }
            }
            let now = Instant::now();
            while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=i).collect();
                lines.push(
                    now,
                    String::from_utf8_lossy(&line[..i]).trim_end_matches('\r'),
                );
            }
        }
        if done {
            return;
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appended_lines_and_keeps_partial_ones() {
        let dir = crate::ScratchDir::new("follow").unwrap();
        let p = dir.path().join("log");
        let f = LogFollower::start_every(&p, Duration::from_millis(5));
        let mut w = std::fs::File::create(&p).unwrap();
        w.write_all(b"one\ntw").unwrap();
        w.flush().unwrap();
        assert!(f.lines().wait_for("one", Duration::from_secs(5)));
        w.write_all(b"o\nthree\n").unwrap();
        w.flush().unwrap();
        assert!(f.lines().wait_for("three", Duration::from_secs(5)));
        let got: Vec<String> = f.lines().snapshot().into_iter().map(|(_, l)| l).collect();
        assert_eq!(got, ["one", "two", "three"]);
        assert_eq!(f.lines().since(2).len(), 1);
        let stamps: Vec<Instant> = f.lines().snapshot().into_iter().map(|(t, _)| t).collect();
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
    }
}
