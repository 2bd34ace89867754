//! Resource figures of a running process from `/proc` (leak checks in long tests).

use crate::error::{io, Result};

/// One sample of a process: resident memory, descriptors and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `VmRSS` in KiB (resident set now).
    pub rss_kib: u64,
    /// `VmHWM` in KiB (peak resident set so far).
    pub hwm_kib: u64,
    /// `RssAnon` in KiB: the anonymous part of `VmRSS` (heap, stacks), without the file-backed
    /// pages (program text) that grow as code runs for the first time.
    pub anon_kib: u64,
    /// Entries in `/proc/<pid>/fd`.
    pub fds: usize,
    /// `Threads`.
    pub threads: u64,
}

impl ProcStat {
    /// Read `/proc/<pid>/status` and count `/proc/<pid>/fd`.
    pub fn sample(pid: u32) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(io(format!("read /proc/{pid}/status")))?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map_err(io(format!("list /proc/{pid}/fd")))?
            .count();
        Ok(Self {
            rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
            hwm_kib: status_field(&status, "VmHWM:").unwrap_or(0),
            anon_kib: status_field(&status, "RssAnon:").unwrap_or(0),
            fds,
            threads: status_field(&status, "Threads:").unwrap_or(0),
        })
    }
}

impl std::fmt::Display for ProcStat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {} KiB (anon {} KiB, peak {} KiB), {} fds, {} threads",
            self.rss_kib, self.anon_kib, self.hwm_kib, self.fds, self.threads
        )
    }
}

/// The first number after `key` in a `/proc/<pid>/status` text (`VmRSS:   1234 kB` -> 1234).
pub fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let s = "Name:\tcharon\nVmHWM:\t    9000 kB\nVmRSS:\t    8123 kB\nRssAnon:\t    2100 kB\nThreads:\t17\n";
        assert_eq!(status_field(s, "VmRSS:"), Some(8123));
        assert_eq!(status_field(s, "VmHWM:"), Some(9000));
        assert_eq!(status_field(s, "RssAnon:"), Some(2100));
        assert_eq!(status_field(s, "Threads:"), Some(17));
        assert_eq!(status_field(s, "VmSwap:"), None);
    }

    #[test]
    fn samples_this_process() {
        let me = ProcStat::sample(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.fds >= 1 && me.threads >= 1, "{me}");
    }
}
