//! The control socket: IOS exec commands over a Unix stream socket, and the command table that
//! resolves IOS-style abbreviations (`sh cry isa sa`).
//!
//! Wire format: the client sends one command per line. For each line the daemon writes the answer
//! text (lines ending in `\n`), then a terminator: a NUL byte, a status byte and `\n`. Status `0`
//! is a normal answer, `1` an error (the text is the IOS-style `% ...` message), `2` means the
//! connection now streams debug lines until the client closes it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Mutex;

/// Default control socket path.
pub const DEFAULT_PATH: &str = "/run/ipsec-engine.sock";

/// Mode of the control socket: `clear crypto sa` and friends are for the administrator only
/// (connecting to a Unix socket needs write permission on its file).
pub const SOCKET_MODE: u32 = 0o600;

/// The umask is one per process: two of our windows overlapping would restore each other's
/// values and reopen the gap, so they take turns.
static UMASK_WINDOW: Mutex<()> = Mutex::new(());

/// Binds the control socket at `path` (which must not exist: the caller removes a stale one)
/// with mode [`SOCKET_MODE`], whatever the process umask. The file is created while the umask is
/// 0o077, so no other user can connect to it at any moment, not even between the bind and
/// the chmod to the exact mode; the umask is put back right after the bind. If that chmod fails
/// the socket file is removed and the error returned.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let bound = {
        let _turn = UMASK_WINDOW.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: umask(2) only swaps the process's file creation mask; no pointers, no
        // failure. Files other threads create meanwhile get no group or other bits.
        let previous = unsafe { libc::umask(0o077) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above, putting back the mask we found.
        unsafe { libc::umask(previous) };
        bound
    };
    let listener = bound?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// Terminator status: normal answer.
pub const STATUS_OK: u8 = b'0';
/// Terminator status: error answer.
pub const STATUS_ERROR: u8 = b'1';
/// Terminator status: debug lines follow until disconnect.
pub const STATUS_STREAM: u8 = b'2';

/// Longest accepted request line; a longer one is answered with an error and discarded.
pub const MAX_LINE: usize = 1024;

/// The commands the engine knows, canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandId {
    /// `show crypto isakmp sa`
    ShowIsakmpSa,
    /// `show crypto isakmp sa detail`
    ShowIsakmpSaDetail,
    /// `show crypto isakmp policy`
    ShowIsakmpPolicy,
    /// `show crypto ipsec sa`
    ShowIpsecSa,
    /// `show crypto ipsec sa detail`
    ShowIpsecSaDetail,
    /// `show crypto ipsec sa peer A.B.C.D`
    ShowIpsecSaPeer,
    /// `show crypto ipsec transform-set`
    ShowTransformSet,
    /// `show crypto map`
    ShowCryptoMap,
    /// `show crypto session`
    ShowCryptoSession,
    /// `show crypto session detail`.
    ShowCryptoSessionDetail,
    /// `show running-config`
    ShowRunningConfig,
    /// `show crypto ipsec client ezvpn`
    ShowEzvpn,
    /// `show crypto pki certificates`
    ShowPkiCertificates,
    /// `show crypto pki certificates TRUSTPOINT`
    ShowPkiCertificatesNamed,
    /// `show crypto pki trustpoints`
    ShowPkiTrustpoints,
    /// `show ip route`
    ShowIpRoute,
    /// `show ip interface brief`: every interface of the configuration, VTIs included.
    ShowIpInterfaceBrief,
    /// `show interfaces TunnelN` (`number` is N).
    ShowInterfaceTunnel,
    /// `show crypto ipsec sa interface TunnelN` (`number` is N).
    ShowIpsecSaInterface,
    /// `show debugging`
    ShowDebugging,
    /// `clear crypto isakmp`
    ClearIsakmp,
    /// `clear crypto isakmp A` (connection id)
    ClearIsakmpConnId,
    /// `clear crypto sa`
    ClearSa,
    /// `clear crypto sa peer A.B.C.D`
    ClearSaPeer,
    /// `debug crypto isakmp`
    DebugIsakmp,
    /// `debug crypto ipsec`
    DebugIpsec,
    /// `undebug all` / `no debug all`
    UndebugAll,
    /// `diagnose`: a verdict per peer with its evidence (not an IOS command).
    Diagnose,
    /// `diagnose peer A.B.C.D`
    DiagnosePeer,
    /// `crypto ipsec client ezvpn connect NAME`: connect an Easy VPN profile now (`connect
    /// manual`, or a retry before `connect auto`'s next attempt).
    EzvpnConnect,
    /// `crypto ipsec client ezvpn xauth NAME username U password P`: answer the XAUTH request
    /// the profile's server waits on (IOS prompts for the two at the console; a control socket
    /// takes them on the line). The password never appears in `canonical`.
    EzvpnXauth,
    /// `show ip nat translations`: the PAT of an Easy VPN `mode client` connection.
    ShowIpNatTranslations,
    /// `reload`: read the configuration file again and apply it, keeping the SAs of unchanged
    /// crypto map entries (not IOS's `reload`, which restarts the router).
    Reload,
}

/// One token of a command pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A keyword, abbreviable to any unambiguous prefix.
    Kw(&'static str),
    /// An IPv4 address argument.
    Ip,
    /// A decimal number argument.
    Number,
    /// A tunnel interface written as one word, `Tunnel0` or abbreviated (`tu0`): the number
    /// becomes the command's `number`.
    Tunnel,
    /// Any one word: a name (an Easy VPN profile), the command's `name` (the first) and
    /// `names` (all, in order).
    Name,
    /// Any one word that must not be echoed (a password): the command's `secret`; `canonical`
    /// shows `*****` in its place.
    Secret,
}

use Tok::{Ip, Kw, Name, Number, Secret, Tunnel};

/// The command table.
pub const COMMANDS: &[(CommandId, &[Tok])] = &[
    (
        CommandId::ShowIsakmpSa,
        &[Kw("show"), Kw("crypto"), Kw("isakmp"), Kw("sa")],
    ),
    (
        CommandId::ShowIsakmpSaDetail,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("isakmp"),
            Kw("sa"),
            Kw("detail"),
        ],
    ),
    (
        CommandId::ShowIsakmpPolicy,
        &[Kw("show"), Kw("crypto"), Kw("isakmp"), Kw("policy")],
    ),
    (
        CommandId::ShowIpsecSa,
        &[Kw("show"), Kw("crypto"), Kw("ipsec"), Kw("sa")],
    ),
    (
        CommandId::ShowIpsecSaDetail,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("ipsec"),
            Kw("sa"),
            Kw("detail"),
        ],
    ),
    (
        CommandId::ShowIpsecSaPeer,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("ipsec"),
            Kw("sa"),
            Kw("peer"),
            Ip,
        ],
    ),
    (
        CommandId::ShowTransformSet,
        &[Kw("show"), Kw("crypto"), Kw("ipsec"), Kw("transform-set")],
    ),
    (
        CommandId::ShowCryptoMap,
        &[Kw("show"), Kw("crypto"), Kw("map")],
    ),
    (
        CommandId::ShowCryptoSession,
        &[Kw("show"), Kw("crypto"), Kw("session")],
    ),
    (
        CommandId::ShowCryptoSessionDetail,
        &[Kw("show"), Kw("crypto"), Kw("session"), Kw("detail")],
    ),
    (
        CommandId::ShowRunningConfig,
        &[Kw("show"), Kw("running-config")],
    ),
    (
        CommandId::ShowEzvpn,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("ipsec"),
            Kw("client"),
            Kw("ezvpn"),
        ],
    ),
    (
        CommandId::ShowPkiCertificates,
        &[Kw("show"), Kw("crypto"), Kw("pki"), Kw("certificates")],
    ),
    (
        CommandId::ShowPkiCertificatesNamed,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("pki"),
            Kw("certificates"),
            Name,
        ],
    ),
    (
        CommandId::ShowPkiTrustpoints,
        &[Kw("show"), Kw("crypto"), Kw("pki"), Kw("trustpoints")],
    ),
    (CommandId::ShowIpRoute, &[Kw("show"), Kw("ip"), Kw("route")]),
    (
        CommandId::ShowIpInterfaceBrief,
        &[Kw("show"), Kw("ip"), Kw("interface"), Kw("brief")],
    ),
    (
        CommandId::ShowInterfaceTunnel,
        &[Kw("show"), Kw("interfaces"), Tunnel],
    ),
    (
        CommandId::ShowInterfaceTunnel,
        &[Kw("show"), Kw("interfaces"), Kw("tunnel"), Number],
    ),
    (
        CommandId::ShowIpsecSaInterface,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("ipsec"),
            Kw("sa"),
            Kw("interface"),
            Tunnel,
        ],
    ),
    (
        CommandId::ShowIpsecSaInterface,
        &[
            Kw("show"),
            Kw("crypto"),
            Kw("ipsec"),
            Kw("sa"),
            Kw("interface"),
            Kw("tunnel"),
            Number,
        ],
    ),
    (CommandId::ShowDebugging, &[Kw("show"), Kw("debugging")]),
    (
        CommandId::EzvpnConnect,
        &[
            Kw("crypto"),
            Kw("ipsec"),
            Kw("client"),
            Kw("ezvpn"),
            Kw("connect"),
            Name,
        ],
    ),
    (
        CommandId::EzvpnXauth,
        &[
            Kw("crypto"),
            Kw("ipsec"),
            Kw("client"),
            Kw("ezvpn"),
            Kw("xauth"),
            Name,
            Kw("username"),
            Name,
            Kw("password"),
            Secret,
        ],
    ),
    (
        CommandId::ShowIpNatTranslations,
        &[Kw("show"), Kw("ip"), Kw("nat"), Kw("translations")],
    ),
    (
        CommandId::ClearIsakmp,
        &[Kw("clear"), Kw("crypto"), Kw("isakmp")],
    ),
    (
        CommandId::ClearIsakmpConnId,
        &[Kw("clear"), Kw("crypto"), Kw("isakmp"), Number],
    ),
    (CommandId::ClearSa, &[Kw("clear"), Kw("crypto"), Kw("sa")]),
    (
        CommandId::ClearSaPeer,
        &[Kw("clear"), Kw("crypto"), Kw("sa"), Kw("peer"), Ip],
    ),
    (
        CommandId::DebugIsakmp,
        &[Kw("debug"), Kw("crypto"), Kw("isakmp")],
    ),
    (
        CommandId::DebugIpsec,
        &[Kw("debug"), Kw("crypto"), Kw("ipsec")],
    ),
    (CommandId::UndebugAll, &[Kw("undebug"), Kw("all")]),
    (CommandId::UndebugAll, &[Kw("no"), Kw("debug"), Kw("all")]),
    (CommandId::Diagnose, &[Kw("diagnose")]),
    (CommandId::DiagnosePeer, &[Kw("diagnose"), Kw("peer"), Ip]),
    (CommandId::Reload, &[Kw("reload")]),
];

/// A resolved command: which one, its canonical words and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Which command.
    pub id: CommandId,
    /// Canonical text with arguments, e.g. `show crypto ipsec sa peer 203.0.113.2`.
    pub canonical: String,
    /// IP address argument, if the command has one.
    pub ip: Option<Ipv4Addr>,
    /// Numeric argument, if the command has one.
    pub number: Option<u64>,
    /// Name argument (an Easy VPN profile), if the command has one.
    pub name: Option<String>,
    /// Every name argument in order (`crypto ipsec client ezvpn xauth NAME username U ...`).
    pub names: Vec<String>,
    /// The secret argument (a password), never echoed.
    pub secret: Option<String>,
}

/// Why a line did not resolve; `Display` gives the IOS message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A word matches nothing at its position; `column` is its offset in the line.
    #[error("{line}\n{caret}^\n% Invalid input detected at '^' marker.", caret = " ".repeat(*.column))]
    Invalid {
        /// The request line.
        line: String,
        /// Byte offset of the offending word.
        column: usize,
    },
    /// A word is a prefix of several keywords.
    #[error("% Ambiguous command:  \"{0}\"")]
    Ambiguous(String),
    /// The words stop before any command is complete.
    #[error("% Incomplete command.")]
    Incomplete,
}

fn tok_matches(tok: Tok, word: &str) -> bool {
    match tok {
        Kw(k) => k.len() >= word.len() && k[..word.len()].eq_ignore_ascii_case(word),
        Ip => word.parse::<Ipv4Addr>().is_ok(),
        Number => !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()),
        Tunnel => tunnel_word(word).is_some(),
        Name | Secret => !word.is_empty(),
    }
}

/// N of a one-word tunnel interface name: a prefix of `tunnel` of two letters or more, then
/// digits (`Tunnel0`, `tu12`), as IOS accepts them.
fn tunnel_word(word: &str) -> Option<u64> {
    let digits = word.find(|c: char| c.is_ascii_digit())?;
    let (kw, n) = word.split_at(digits);
    if kw.len() < 2 || !tok_matches(Kw("tunnel"), kw) || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Resolves a request line against [`COMMANDS`]; `Ok(None)` for a blank line.
pub fn resolve(line: &str) -> Result<Option<Command>, ResolveError> {
    let words: Vec<(usize, &str)> = line
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - line.as_ptr() as usize, w))
        .collect();
    if words.is_empty() {
        return Ok(None);
    }
    let mut alive: Vec<&(CommandId, &[Tok])> = COMMANDS.iter().collect();
    for (i, (col, word)) in words.iter().enumerate() {
        let matching: Vec<_> = alive
            .iter()
            .copied()
            .filter(|(_, toks)| toks.get(i).is_some_and(|t| tok_matches(*t, word)))
            .collect();
        if matching.is_empty() {
            return Err(ResolveError::Invalid {
                line: line.to_string(),
                column: *col,
            });
        }
        // Keyword alternatives at this position: an exact match wins, otherwise the prefix must
        // name exactly one keyword (arguments never compete with keywords here: the table has
        // no position where both can appear for the same prefix).
        let mut kws: Vec<&str> = matching
            .iter()
            .filter_map(|(_, t)| match t.get(i) {
                Some(Kw(k)) => Some(*k),
                _ => None,
            })
            .collect();
        kws.sort_unstable();
        kws.dedup();
        let chosen = if let Some(k) = kws.iter().find(|k| k.eq_ignore_ascii_case(word)) {
            Some(*k)
        } else if kws.len() > 1 {
            let upto: Vec<&str> = words[..=i].iter().map(|(_, w)| *w).collect();
            return Err(ResolveError::Ambiguous(upto.join(" ")));
        } else {
            kws.first().copied()
        };
        alive = matching
            .into_iter()
            .filter(|(_, t)| match (t.get(i), chosen) {
                (Some(Kw(k)), Some(c)) => *k == c,
                (Some(Kw(_)), None) => false,
                _ => true,
            })
            .collect();
    }
    let n = words.len();
    let Some((id, toks)) = alive.iter().find(|(_, t)| t.len() == n) else {
        return Err(ResolveError::Incomplete);
    };
    let mut canonical = Vec::with_capacity(n);
    let mut ip = None;
    let mut number = None;
    let mut names = Vec::new();
    let mut secret = None;
    for (t, (_, w)) in toks.iter().zip(&words) {
        match t {
            Kw(k) => canonical.push(k.to_string()),
            Ip => {
                ip = w.parse().ok();
                canonical.push(w.to_string());
            }
            Number => {
                number = w.parse().ok();
                canonical.push(w.to_string());
            }
            Tunnel => {
                number = tunnel_word(w);
                canonical.push(format!("Tunnel{}", number.unwrap_or(0)));
            }
            Name => {
                names.push(w.to_string());
                canonical.push(w.to_string());
            }
            Secret => {
                secret = Some(w.to_string());
                canonical.push("*****".to_string());
            }
        }
    }
    Ok(Some(Command {
        id: *id,
        canonical: canonical.join(" "),
        ip,
        number,
        name: names.first().cloned(),
        names,
        secret,
    }))
}

/// What a command produced: the answer text or an IOS-style error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlReply {
    /// Normal answer (may be empty).
    Text(String),
    /// An error message (`% ...`).
    Error(String),
}

/// Appends the answer and terminator for `reply` to `out`.
pub fn frame(out: &mut Vec<u8>, text: &str, status: u8) {
    out.extend_from_slice(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        out.push(b'\n');
    }
    out.extend_from_slice(&[0, status, b'\n']);
}

/// Client side: sends `line`, writes the answer to `sink`, returns the status byte. For a
/// streaming answer it keeps copying lines until the daemon closes or `sink` fails.
pub fn request(path: &Path, line: &str, sink: &mut dyn Write) -> io::Result<u8> {
    let mut stream = UnixStream::connect(path)?;
    stream.write_all(line.trim_end_matches('\n').as_bytes())?;
    stream.write_all(b"\n")?;
    let mut reader = BufReader::new(stream);
    let mut text = Vec::new();
    reader.read_until(0, &mut text)?;
    if text.last() != Some(&0) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "daemon closed the connection before the end of the answer",
        ));
    }
    text.pop();
    sink.write_all(&text)?;
    sink.flush()?;
    let mut term = [0u8; 2];
    reader.read_exact(&mut term)?;
    let status = term[0];
    if status == STATUS_STREAM {
        let mut buf = [0u8; 4096];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n])?;
            sink.flush()?;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(line: &str) -> CommandId {
        resolve(line).unwrap().unwrap().id
    }

    #[test]
    fn abbreviations_resolve() {
        assert_eq!(id("sh cry isa sa"), CommandId::ShowIsakmpSa);
        assert_eq!(id("show crypto isakmp sa"), CommandId::ShowIsakmpSa);
        assert_eq!(id("SH CRY IPS SA"), CommandId::ShowIpsecSa);
        assert_eq!(id("sh cry ips sa det"), CommandId::ShowIpsecSaDetail);
        assert_eq!(id("sh cry isa pol"), CommandId::ShowIsakmpPolicy);
        assert_eq!(id("sh run"), CommandId::ShowRunningConfig);
        assert_eq!(id("deb cry isa"), CommandId::DebugIsakmp);
        assert_eq!(id("u all"), CommandId::UndebugAll);
        assert_eq!(id("no deb all"), CommandId::UndebugAll);
        assert_eq!(id("cle cry sa"), CommandId::ClearSa);
        let c = resolve("sh cry ips sa pe 203.0.113.2").unwrap().unwrap();
        assert_eq!(c.id, CommandId::ShowIpsecSaPeer);
        assert_eq!(c.canonical, "show crypto ipsec sa peer 203.0.113.2");
        assert_eq!(c.ip, Some(Ipv4Addr::new(203, 0, 113, 2)));
        let c = resolve("clear crypto isakmp 1001").unwrap().unwrap();
        assert_eq!((c.id, c.number), (CommandId::ClearIsakmpConnId, Some(1001)));
        assert_eq!(resolve("   ").unwrap(), None);
        for line in ["sh int tu0", "show interfaces Tunnel0", "sh int tunnel 0"] {
            let c = resolve(line).unwrap().unwrap();
            assert_eq!(
                (c.id, c.number),
                (CommandId::ShowInterfaceTunnel, Some(0)),
                "{line}"
            );
        }
        let c = resolve("sh cry ips sa int Tunnel12").unwrap().unwrap();
        assert_eq!(c.canonical, "show crypto ipsec sa interface Tunnel12");
        assert_eq!(
            (c.id, c.number),
            (CommandId::ShowIpsecSaInterface, Some(12))
        );
        assert_eq!(id("sh ip int br"), CommandId::ShowIpInterfaceBrief);
        assert!(resolve("sh int t0").is_err());
        assert_eq!(id("sh cry ips cl ez"), CommandId::ShowEzvpn);
        assert_eq!(id("sh cry pki cert"), CommandId::ShowPkiCertificates);
        assert_eq!(id("sh cry pki tr"), CommandId::ShowPkiTrustpoints);
        let c = resolve("show crypto pki certificates LAB")
            .unwrap()
            .unwrap();
        assert_eq!(c.id, CommandId::ShowPkiCertificatesNamed);
        assert_eq!(c.name.as_deref(), Some("LAB"));
        let c = resolve("cry ips cli ezvpn conn HQ-EZ").unwrap().unwrap();
        assert_eq!(c.id, CommandId::EzvpnConnect);
        assert_eq!(c.name.as_deref(), Some("HQ-EZ"));
        assert_eq!(c.canonical, "crypto ipsec client ezvpn connect HQ-EZ");
        let c = resolve("cry ips cl ez xauth EZ user alice pass s3cr3t-pw")
            .unwrap()
            .unwrap();
        assert_eq!(c.id, CommandId::EzvpnXauth);
        assert_eq!(c.names, ["EZ", "alice"]);
        assert_eq!(c.secret.as_deref(), Some("s3cr3t-pw"));
        // The password is never echoed back (logs, `show` of the command).
        assert_eq!(
            c.canonical,
            "crypto ipsec client ezvpn xauth EZ username alice password *****"
        );
        assert_eq!(id("sh ip nat tr"), CommandId::ShowIpNatTranslations);
    }

    #[test]
    fn errors_are_ios_style() {
        let e = resolve("sh cry isx sa").unwrap_err();
        assert_eq!(
            e,
            ResolveError::Invalid {
                line: "sh cry isx sa".into(),
                column: 7
            }
        );
        assert_eq!(
            e.to_string(),
            "sh cry isx sa\n       ^\n% Invalid input detected at '^' marker."
        );
        // "cry i" could be isakmp or ipsec
        assert_eq!(
            resolve("sh cry i sa").unwrap_err().to_string(),
            "% Ambiguous command:  \"sh cry i\""
        );
        assert_eq!(resolve("sh cry").unwrap_err(), ResolveError::Incomplete);
        assert!(matches!(
            resolve("sh cry ips sa peer 1.2.3").unwrap_err(),
            ResolveError::Invalid { column: 19, .. }
        ));
        assert!(matches!(
            resolve("show crypto isakmp sa extra").unwrap_err(),
            ResolveError::Invalid { column: 22, .. }
        ));
    }
}
