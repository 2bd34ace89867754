//! `run --resolv-conf PATH`: the DNS servers and default domain an Easy VPN server pushed,
//! written to a resolv.conf-style file while the connection is configured.
//!
//! The file's previous content is read once, before our first write, and put back when the
//! connection goes down and when the engine exits (a file that did not exist is removed
//! again). Every write goes to a temporary file in the same directory, then is renamed over
//! the target, so a resolver reading it never sees half a file.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// What the server pushed that the file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolver {
    /// `nameserver` lines, in the server's order.
    pub dns: Vec<Ipv4Addr>,
    /// The `search` line.
    pub domain: Option<String>,
}

impl Resolver {
    /// The file's text: a comment naming us, the search domain, then the servers.
    pub fn render(&self) -> String {
        let mut s = String::from("# written by ipsec-engine from the Easy VPN server's Mode Config; the previous content comes back when the connection goes down\n");
        if let Some(d) = &self.domain {
            // A pushed name is network input: a newline or a space in it must not add a
            // directive or a second domain, so only its first word is kept.
            let d = d
                .split(|c: char| c.is_whitespace() || c.is_control())
                .next()
                .unwrap_or_default();
            if !d.is_empty() {
                s.push_str("search ");
                s.push_str(d);
                s.push('\n');
            }
        }
        for a in &self.dns {
            s.push_str(&format!("nameserver {a}\n"));
        }
        s
    }

    fn matches(&self, dns: &[Ipv4Addr], domain: Option<&str>) -> bool {
        self.dns == dns && self.domain.as_deref() == domain
    }
}

/// The managed file: what it held before us and what we wrote.
#[derive(Debug)]
pub struct ResolvConf {
    path: PathBuf,
    /// `Some(previous)` once we wrote: the bytes it held (`None`: it did not exist).
    saved: Option<Option<Vec<u8>>>,
    /// What the file holds from us now.
    current: Option<Resolver>,
}

impl ResolvConf {
    /// Manages `path`; nothing is read or written before [`ResolvConf::apply`].
    pub fn new(path: PathBuf) -> ResolvConf {
        ResolvConf {
            path,
            saved: None,
            current: None,
        }
    }

    /// The managed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Brings the file in line with what the server pushed now (`None`: no connection is
    /// configured, or it pushed neither DNS nor a domain). Does nothing when unchanged, so
    /// the loop may call it on every turn without touching the disk.
    pub fn apply(&mut self, want: Option<(&[Ipv4Addr], Option<&str>)>) -> io::Result<()> {
        match (want, &self.current) {
            (None, None) => Ok(()),
            (Some((dns, domain)), Some(cur)) if cur.matches(dns, domain) => Ok(()),
            (None, Some(_)) => self.restore(),
            (Some((dns, domain)), _) => {
                let r = Resolver {
                    dns: dns.to_vec(),
                    domain: domain.map(str::to_owned),
                };
                if self.saved.is_none() {
                    let previous = match std::fs::read(&self.path) {
                        Ok(b) => Some(b),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                        Err(e) => return Err(e),
                    };
                    self.saved = Some(previous);
                }
                // Recorded first: a failed write is not retried on every turn of the loop.
                self.current = Some(r.clone());
                write_atomically(&self.path, r.render().as_bytes())
            }
        }
    }

    /// Puts the previous content back (removes the file if there was none); nothing when we
    /// never wrote.
    pub fn restore(&mut self) -> io::Result<()> {
        self.current = None;
        match self.saved.take() {
            None => Ok(()),
            Some(Some(previous)) => write_atomically(&self.path, &previous),
            Some(None) => match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        // An exit through an error path still leaves the host's resolver as it was.
        let _ = self.restore();
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".ipsec-engine.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("resolv-conf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn written_while_configured_and_the_previous_content_restored() {
        let d = dir("restore");
        let path = d.join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        let mut r = ResolvConf::new(path.clone());
        let dns = [Ipv4Addr::new(10, 2, 2, 53), Ipv4Addr::new(10, 2, 2, 54)];
        r.apply(Some((&dns, Some("example.test")))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("search example.test\nnameserver 10.2.2.53\nnameserver 10.2.2.54\n"),
            "{text}"
        );
        // Unchanged: no rewrite (the file we replace by hand stays).
        std::fs::write(&path, "edited\n").unwrap();
        r.apply(Some((&dns, Some("example.test")))).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited\n");
        r.apply(Some((&dns[..1], None))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("\nnameserver 10.2.2.53\n"), "{text}");
        assert!(!text.contains("search"), "{text}");
        r.apply(None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );
        // Down, then up again: the content before the first write is what comes back.
        r.apply(Some((&dns, None))).unwrap();
        drop(r);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_that_did_not_exist_is_removed_again() {
        let d = dir("absent");
        let path = d.join("resolv.conf");
        let mut r = ResolvConf::new(path.clone());
        r.apply(Some((&[Ipv4Addr::new(10, 2, 2, 53)], None)))
            .unwrap();
        assert!(path.exists());
        r.restore().unwrap();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_pushed_domain_cannot_add_a_directive() {
        let r = Resolver {
            dns: vec![],
            domain: Some("evil.test\nnameserver 6.6.6.6".into()),
        };
        let text = r.render();
        assert!(text.ends_with("\nsearch evil.test\n"), "{text}");
        assert_eq!(text.matches('\n').count(), 2, "{text}");
    }
}
