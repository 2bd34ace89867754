//! Lines as IOS prints them and people paste them, before the grammar sees them: `show
//! running-config` headers, exec and config prompts (`R1#`, `R1(config-if)#`), multi-line
//! banners with their delimiter, and the indentation each line carries.

use super::grammar::{Cmd, GroupAttr, Mode};
use super::lex::{pick, Cursor, Pick};
use super::{finish, ConfigError, Origins, ParsedConfig, State};

use crate::policy::GatewayConfig;

/// Parses decoded text; `latin1` says the text came from bytes decoded as Latin-1.
pub(super) fn parse_text(text: &str, latin1: bool) -> Result<ParsedConfig, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut st = State {
        cfg: GatewayConfig::default(),
        mode: Mode::Global,
        warnings: Vec::new(),
        origins: Origins::default(),
        unsupported: Vec::new(),
        ignored: 0,
        latin1,
        indent: 0,
        deferred: finish::Deferred::default(),
        cert_hex: String::new(),
    };
    // `lines` also drops the `\r` of CRLF files.
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    // After a router message (`% NOTE: This new crypto map will remain disabled until a peer`),
    // its continuation lines are indented by several spaces: not configuration either.
    let mut in_message = false;
    while let Some(raw) = lines.get(i).copied() {
        let line_no = i.saturating_add(1);
        i += 1;
        if in_message && raw.starts_with("    ") {
            continue;
        }
        in_message = raw.trim_start().starts_with('%');
        let Some(pre) = classify(raw) else { continue };
        let cur = Cursor::new(pre.text, line_no, pre.col0);
        if cur.toks.is_empty() {
            continue;
        }
        if matches!(st.mode, Mode::ClientGroup(_)) {
            if let Some(r) = group_banner(&cur, lines.get(i..).unwrap_or(&[])) {
                let (text, n) = r?;
                let col = cur.col();
                st.apply(Cmd::GroupSet(GroupAttr::Banner(Some(text))), line_no, col);
                i += n;
                continue;
            }
        }
        if let Some(skip) = banner(&cur, lines.get(i..).unwrap_or(&[])) {
            let col = cur.col();
            match skip {
                Some(n) => {
                    st.ignore(line_no, col, "banner".into());
                    i += n;
                }
                None => {
                    st.ignored += 1;
                    st.warn(
                        line_no,
                        col,
                        "banner ignored; its closing delimiter was not found, so only this line was skipped"
                            .into(),
                    );
                }
            }
            continue;
        }
        st.indent = pre
            .indent
            .unwrap_or_else(|| cur.toks.first().map_or(0, |t| t.col - 1));
        st.line(cur)?;
    }
    st.finish()
}

/// A line's configuration text once any prompt is removed.
struct Pre<'a> {
    text: &'a str,
    /// Characters removed before `text` (for columns).
    col0: usize,
    /// Indentation implied by a config prompt: `(config)#` is global (0), `(config-xx)#` a
    /// sub-mode (1), whatever spaces follow the prompt.
    indent: Option<usize>,
}

/// `None` for lines that are not configuration: exec commands after an exec prompt
/// (`R1#show running-config`, `R1>enable`), the headers and trailers IOS prints around a
/// configuration and the messages it prints while one is pasted.
fn classify(raw: &str) -> Option<Pre<'_>> {
    let trimmed = raw.trim();
    const HEADERS: &[&str] = &[
        "Building configuration",
        "Current configuration",
        "Last configuration change",
        "NVRAM config last updated",
        "No configuration change since last restart",
        "[OK]",
        "Destination filename",
        "Enter configuration commands",
        "Load for ",
        "Time source is",
    ];
    if HEADERS.iter().any(|h| trimmed.starts_with(h))
        // `show startup-config` begins `Using 1784 out of 262136 bytes`.
        || (trimmed.starts_with("Using ") && trimmed.contains(" out of ") && trimmed.ends_with("bytes"))
        // `% NOTE: ...` and `*Mar  1 00:00:07.123: %SYS-5-CONFIG_I: ...` are router messages.
        || trimmed.starts_with('%')
        || trimmed.starts_with('*')
    {
        return None;
    }
    match prompt_len(raw) {
        None => Some(Pre {
            text: raw,
            col0: 0,
            indent: None,
        }),
        Some((_, None)) => None,
        Some((len, Some(mode))) => Some(Pre {
            text: raw.get(len..).unwrap_or(""),
            col0: raw.get(..len).map_or(0, |p| p.chars().count()),
            indent: Some(usize::from(mode != "config")),
        }),
    }
}

/// The byte length of a prompt at the start of `raw` and its mode (`config`, `config-if`;
/// `None` for an exec prompt): a host name, an optional `(mode)`, then `#` or `>`.
fn prompt_len(raw: &str) -> Option<(usize, Option<&str>)> {
    let b = raw.as_bytes();
    let name_ch = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    if !b.first().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut i = b.iter().position(|&c| !name_ch(c))?;
    let mut mode = None;
    if b.get(i) == Some(&b'(') {
        let close = i + 1 + b.get(i + 1..)?.iter().position(|&c| c == b')')?;
        let m = raw.get(i + 1..close)?;
        if m.is_empty() || !m.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            return None;
        }
        mode = Some(m);
        i = close + 1;
    }
    match b.get(i) {
        Some(b'#') | Some(b'>') => Some((i + 1, mode)),
        _ => None,
    }
}

const BANNER_KINDS: &[&str] = &[
    "config-save",
    "exec",
    "incoming",
    "login",
    "motd",
    "prompt-timeout",
    "slip-ppp",
];

/// For a `banner` line: `Some(Some(n))` when the banner's text ends `n` lines further on,
/// `Some(None)` when its closing delimiter never comes, `None` when this is not a banner.
/// The delimiter is the first character after the banner kind (`^C` as two characters, as
/// show-run prints the ETX byte, counts as one delimiter); the text may end on the same line.
fn banner(cur: &Cursor<'_>, rest: &[&str]) -> Option<Option<usize>> {
    let first = cur.toks.first()?;
    if first.text.len() < 3 || !matches!(pick(first.text, &["banner"]), Pick::One(_)) {
        return None;
    }
    let second = cur.toks.get(1)?;
    let delim_tok = match pick(second.text, BANNER_KINDS) {
        Pick::One(_) => cur.toks.get(2)?,
        _ => second,
    };
    let text = cur.raw_from(delim_tok);
    let delim = delimiter(text)?;
    if text.get(delim.len()..).is_some_and(|t| t.contains(delim)) {
        return Some(Some(0));
    }
    Some(
        rest.iter()
            .position(|l| l.contains(delim))
            .map(|n| n.saturating_add(1)),
    )
}

/// The banner's delimiter: `^C` as two characters (how show-run prints the ETX byte), else the
/// first character of `text`.
fn delimiter(text: &str) -> Option<&str> {
    if text.starts_with("^C") {
        Some("^C")
    } else {
        text.get(..text.chars().next()?.len_utf8())
    }
}

/// For a `banner c TEXT c` line of a client configuration group: the text between the
/// delimiters, its lines joined with `\n` (an empty rest of the opening line and an empty start
/// of the closing one are not lines of it), and how many further lines it took. `None` when
/// the line is not a banner or is a global one (`banner motd ...`, which leaves the group).
fn group_banner(cur: &Cursor<'_>, rest: &[&str]) -> Option<Result<(String, usize), ConfigError>> {
    let first = cur.toks.first()?;
    if first.text.len() < 3 || !matches!(pick(first.text, &["banner"]), Pick::One(_)) {
        return None;
    }
    let second = cur.toks.get(1)?;
    // A group's delimiter may be any character, so only a whole banner kind is global.
    if BANNER_KINDS
        .iter()
        .any(|k| second.text.eq_ignore_ascii_case(k))
    {
        return None;
    }
    let text = cur.raw_from(second);
    let delim = delimiter(text)?;
    let after = text.get(delim.len()..).unwrap_or("");
    if let Some(end) = after.find(delim) {
        return Some(Ok((after.get(..end).unwrap_or("").to_string(), 0)));
    }
    let Some(n) = rest.iter().position(|l| l.contains(delim)) else {
        return Some(Err(cur.err(
            second,
            format!("banner: closing delimiter \"{delim}\" not found"),
        )));
    };
    let mut parts: Vec<&str> = Vec::new();
    if !after.trim().is_empty() {
        parts.push(after);
    }
    parts.extend(rest.get(..n).unwrap_or(&[]).iter().copied());
    let last = rest
        .get(n)
        .and_then(|l| l.find(delim).and_then(|e| l.get(..e)))
        .unwrap_or("");
    if !last.trim().is_empty() {
        parts.push(last);
    }
    Some(Ok((parts.join("\n"), n.saturating_add(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        assert_eq!(prompt_len("R1#show run"), Some((3, None)));
        assert_eq!(prompt_len("R1(config)#crypto"), Some((11, Some("config"))));
        assert_eq!(
            prompt_len("gw-1.lab(config-if)# ip nat inside"),
            Some((20, Some("config-if")))
        );
        assert_eq!(prompt_len("crypto map VPN 10 ipsec-isakmp"), None);
        assert_eq!(prompt_len("banner motd #hi#"), None);
        assert_eq!(prompt_len(" R1#"), None);
    }
}
