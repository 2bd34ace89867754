//! Local AAA for XAUTH: `aaa authentication login L local` with `username U password|secret P`
//! (the server's user database) and the credentials an XAUTH client answers with.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A user password: wiped on drop, never printed by `Debug`.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Wraps password bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Password(Zeroizing::new(bytes.into()))
    }

    /// The password bytes (sent in XAUTH-USER-PASSWORD by a client).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison with what a client sent, so the reply timing does not tell how
    /// many leading bytes were right.
    pub fn matches(&self, offered: &[u8]) -> bool {
        self.0.len() == offered.len() && bool::from(self.0.as_slice().ct_eq(offered))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose())
    }
}

impl Eq for Password {}

/// One `username U password P` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalUser {
    /// User name as the client types it.
    pub name: String,
    /// Its password.
    pub password: Password,
}

/// What IOS allows a client before it sends XAUTH STATUS=FAIL (`crypto isakmp xauth` has no
/// attempt knob; IOS re-prompts up to three times).
pub const XAUTH_DEFAULT_ATTEMPTS: u8 = 3;

/// The XAUTH server side of a crypto map or profile: `client authentication list L` naming an
/// `aaa authentication login L local` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XauthServer {
    /// The method list's name (shown in debug output).
    pub list: String,
    /// The local user database.
    pub users: Vec<LocalUser>,
    /// REPLYs with a wrong name or password tolerated before STATUS=FAIL (at least 1).
    pub max_attempts: u8,
}

impl XauthServer {
    /// Whether `name`/`password` are a configured user's. Every user is compared, so the time
    /// taken does not tell whether the name exists.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> bool {
        let mut ok = false;
        for u in &self.users {
            let name_ok = u.name.as_bytes().ct_eq(name);
            let pw_ok = u.password.matches(password);
            ok |= bool::from(name_ok) & pw_ok;
        }
        ok
    }
}

/// What an XAUTH client answers with (`crypto ipsec client ezvpn` `username U password P`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XauthCredentials {
    /// User name.
    pub name: String,
    /// Password.
    pub password: Password,
}

/// A method of an `aaa authentication login L M...` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginMethod {
    /// `local`: the `username` lines.
    Local,
}

/// The AAA part of a configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AaaConfig {
    /// `aaa new-model`: method lists take effect only with it.
    pub new_model: bool,
    /// `aaa authentication login L METHOD...` lists in configuration order.
    pub login_lists: Vec<(String, Vec<LoginMethod>)>,
    /// `username U password|secret 0 P` lines in configuration order.
    pub users: Vec<LocalUser>,
    /// `aaa authorization network L METHOD...` lists in configuration order (Mode Config group
    /// policy).
    pub network_lists: Vec<(String, Vec<super::modecfg::AuthorizationMethod>)>,
}

impl AaaConfig {
    /// The XAUTH server a `client authentication list L` names: `None` without `aaa
    /// new-model`, or when `L` is not an `aaa authentication login` list with `local`.
    pub fn xauth_server(&self, list: &str) -> Option<XauthServer> {
        if !self.new_model {
            return None;
        }
        let (_, methods) = self.login_lists.iter().find(|(n, _)| n == list)?;
        methods.contains(&LoginMethod::Local).then(|| XauthServer {
            list: list.to_string(),
            users: self.users.clone(),
            max_attempts: XAUTH_DEFAULT_ATTEMPTS,
        })
    }
}

impl AaaConfig {
    /// Whether `isakmp authorization list L` finds group policy: `aaa new-model` and an `aaa
    /// authorization network L local` list.
    pub fn local_network_authorization(&self, list: &str) -> bool {
        self.new_model
            && self
                .network_lists
                .iter()
                .any(|(n, m)| n == list && m.contains(&super::modecfg::AuthorizationMethod::Local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> XauthServer {
        XauthServer {
            list: "L".into(),
            users: vec![
                LocalUser {
                    name: "alice".into(),
                    password: Password::new("wonder"),
                },
                LocalUser {
                    name: "bob".into(),
                    password: Password::new("builder"),
                },
            ],
            max_attempts: XAUTH_DEFAULT_ATTEMPTS,
        }
    }

    #[test]
    fn authenticate_needs_name_and_password_of_one_user() {
        let s = server();
        assert!(s.authenticate(b"alice", b"wonder"));
        assert!(s.authenticate(b"bob", b"builder"));
        assert!(!s.authenticate(b"alice", b"builder"));
        assert!(!s.authenticate(b"alice", b"wonde"));
        assert!(!s.authenticate(b"alice", b"wonder\0"));
        assert!(!s.authenticate(b"carol", b"wonder"));
        assert!(!s.authenticate(b"", b""));
    }

    #[test]
    fn passwords_never_print() {
        let s = server();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("wonder") && !dbg.contains("builder"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }
}
