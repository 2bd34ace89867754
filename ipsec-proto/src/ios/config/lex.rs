//! Lines into tokens: word splitting, `!` comments, 1-based character columns for errors, and keyword
//! matching by unambiguous prefix.

use std::net::Ipv4Addr;

use super::ConfigError;

#[derive(Clone, Copy, Debug)]
pub(super) struct Tok<'a> {
    pub(super) text: &'a str,
    pub(super) col: usize,
    byte: usize,
}

#[derive(Clone, Debug)]
pub(super) struct Cursor<'a> {
    raw: &'a str,
    pub(super) line: usize,
    pub(super) toks: Vec<Tok<'a>>,
    pub(super) pos: usize,
    pub(super) eol_col: usize,
}

impl<'a> Cursor<'a> {
    /// Splits `raw`; `col0` characters precede it on the line (a removed prompt).
    pub(super) fn new(raw: &'a str, line: usize, col0: usize) -> Self {
        let mut toks = Vec::new();
        let mut col = col0;
        let mut start: Option<(usize, usize)> = None;
        let mut comment = false;
        for (b, ch) in raw.char_indices() {
            col += 1;
            // IOS separates words by spaces and tabs only: a Latin-1 NBSP (0xA0) or NEL (0x85)
            // is part of a word, e.g. of a key.
            if matches!(ch, ' ' | '\t' | '\r' | '\x0b' | '\x0c') {
                if let Some((sb, sc)) = start.take() {
                    toks.push(Tok {
                        text: raw.get(sb..b).unwrap_or(""),
                        col: sc,
                        byte: sb,
                    });
                }
            } else if start.is_none() {
                if ch == '!' {
                    // `!` starts a comment only at the start of a word (the seed has `hostname siteA  !`).
                    comment = true;
                    break;
                }
                start = Some((b, col));
            }
        }
        if !comment {
            if let Some((sb, sc)) = start {
                toks.push(Tok {
                    text: raw.get(sb..).unwrap_or(""),
                    col: sc,
                    byte: sb,
                });
            }
        }
        let eol_col = toks.last().map_or(1, |t| t.col + t.text.chars().count());
        Cursor {
            raw,
            line,
            toks,
            pos: 0,
            eol_col,
        }
    }

    pub(super) fn err_at(&self, col: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: self.line,
            column: col,
            message: message.into(),
            unsupported: Vec::new(),
        }
    }

    pub(super) fn err(&self, tok: &Tok<'_>, message: impl Into<String>) -> ConfigError {
        self.err_at(tok.col, message)
    }

    pub(super) fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub(super) fn next(&mut self, what: &str) -> Result<Tok<'a>, ConfigError> {
        match self.peek() {
            Some(t) => {
                self.pos += 1;
                Ok(t)
            }
            None => Err(self.err_at(self.eol_col, format!("missing {what}"))),
        }
    }

    /// Next token as one of `choices`, abbreviations allowed.
    pub(super) fn kw(
        &mut self,
        choices: &[&'static str],
        what: &str,
    ) -> Result<&'static str, ConfigError> {
        let t = self.next(what)?;
        match pick(t.text, choices) {
            Pick::One(k) => Ok(k),
            Pick::None => Err(self.err(&t, format!("unknown {what} \"{}\"", t.text))),
            Pick::Ambiguous(a, b) => Err(self.err(
                &t,
                format!("ambiguous {what} \"{}\" (could be {a} or {b})", t.text),
            )),
        }
    }

    /// Consumes the next token when it is (an abbreviation of) one of `choices`.
    pub(super) fn opt_kw(&mut self, choices: &[&'static str]) -> Option<&'static str> {
        let t = self.peek()?;
        match pick(t.text, choices) {
            Pick::One(k) => {
                self.pos += 1;
                Some(k)
            }
            _ => None,
        }
    }

    pub(super) fn ip(&mut self, what: &str) -> Result<Ipv4Addr, ConfigError> {
        let t = self.next(what)?;
        t.text
            .parse()
            .map_err(|_| self.err(&t, format!("invalid {what} \"{}\"", t.text)))
    }

    pub(super) fn num(&mut self, what: &str, lo: u64, hi: u64) -> Result<u64, ConfigError> {
        let t = self.next(what)?;
        self.num_tok(&t, what, lo, hi)
    }

    pub(super) fn num_tok(
        &self,
        t: &Tok<'_>,
        what: &str,
        lo: u64,
        hi: u64,
    ) -> Result<u64, ConfigError> {
        match t.text.parse::<u64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v),
            Ok(_) => Err(self.err(t, format!("{what} \"{}\" out of range {lo}-{hi}", t.text))),
            Err(_) => Err(self.err(t, format!("invalid {what} \"{}\"", t.text))),
        }
    }

    pub(super) fn end(&self) -> Result<(), ConfigError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(self.err(&t, format!("unexpected \"{}\"", t.text))),
        }
    }

    /// The raw rest of the line from the next token on (for descriptions and remarks).
    pub(super) fn rest(&mut self) -> String {
        let s = match self.peek() {
            Some(t) => self.raw.get(t.byte..).unwrap_or("").trim_end().to_string(),
            None => String::new(),
        };
        self.pos = self.toks.len();
        s
    }

    /// The raw rest of the line from `tok` on, without moving.
    pub(super) fn raw_from(&self, tok: &Tok<'_>) -> &'a str {
        self.raw.get(tok.byte..).unwrap_or("")
    }

    /// The first word, lowercased (for table lookups that take whole words only).
    pub(super) fn first_word(&self) -> String {
        self.toks
            .first()
            .map_or(String::new(), |t| t.text.to_ascii_lowercase())
    }

    pub(super) fn col(&self) -> usize {
        self.peek().map_or(self.eol_col, |t| t.col)
    }
}

pub(super) enum Pick {
    One(&'static str),
    None,
    Ambiguous(&'static str, &'static str),
}

pub(super) fn pick(text: &str, choices: &[&'static str]) -> Pick {
    let t = text.to_ascii_lowercase();
    if let Some(c) = choices.iter().find(|c| **c == t) {
        return Pick::One(c);
    }
    let mut it = choices.iter().filter(|c| c.starts_with(t.as_str()));
    match (it.next(), it.next()) {
        (Some(a), None) => Pick::One(a),
        (Some(a), Some(b)) => Pick::Ambiguous(a, b),
        _ => Pick::None,
    }
}
