//! Remote access from C: an Easy VPN remote built from its parts (no IOS text), connecting on
//! demand, and XAUTH credentials typed by the user when none are stored.

use super::*;
use ipsec_proto::policy::{EasyVpnRemote, Password, PskSecret, XauthCredentials};
use ipsec_proto::tunnel::EzvpnXauthError;

/// `ipsec_tunnel_event.kind`: Easy VPN client: the server asks for XAUTH credentials and the
/// profile of entry `entry` stores none (`user` NULL in `ipsec_ezvpn_remote`, or `xauth userid
/// mode interactive`): ask the user and answer with `ipsec_tunnel_ezvpn_xauth` before the
/// server's XAUTH timeout.
pub const IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED: u32 = 11;

/// An Easy VPN remote described by its parts, for `ipsec_tunnel_new_ezvpn_remote`: what a
/// remote-access client knows without writing IOS configuration. Strings are UTF-8 with a
/// length (no NUL needed); the tunnel copies everything.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ipsec_ezvpn_remote {
    /// The profile name (`show crypto ipsec client ezvpn`; `ipsec_tunnel_ezvpn_connect`).
    pub name: *const u8,
    /// Its length.
    pub name_len: usize,
    /// Our outside IPv4 address (port ignored): IKE and ESP leave from it.
    pub local: ipsec_addr,
    /// The prefix length of the outside network (0-32).
    pub local_prefix_len: u8,
    /// Concentrators in the order they are tried (IPv4; ports ignored); at least one.
    pub peers: *const ipsec_addr,
    /// How many.
    pub peers_len: usize,
    /// The group name (sent as ID_KEY_ID in Aggressive Mode).
    pub group: *const u8,
    /// Its length.
    pub group_len: usize,
    /// The group key.
    pub key: *const u8,
    /// Its length.
    pub key_len: usize,
    /// The XAUTH user name; NULL: each XAUTH REQUEST is announced as
    /// `IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED`.
    pub user: *const u8,
    /// Its length.
    pub user_len: usize,
    /// The XAUTH password (ignored when `user` is NULL).
    pub password: *const u8,
    /// Its length.
    pub password_len: usize,
    /// `mode network-extension`: the LAN `inside`/`inside_prefix_len` goes through as it is
    /// and no address is asked for. False: `mode client` (the server assigns an address).
    pub network_extension: bool,
    /// Network extension: the inside interface's IPv4 address (port ignored).
    pub inside: ipsec_addr,
    /// Network extension: its prefix length.
    pub inside_prefix_len: u8,
    /// `connect auto`: connect at once and after every loss. False: wait for
    /// `ipsec_tunnel_ezvpn_connect`.
    pub connect_auto: bool,
}

fn mask(len: u8) -> Option<Ipv4Addr> {
    (len <= 32).then(|| Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)))
}

fn v4(a: &ipsec_addr) -> Option<Ipv4Addr> {
    match addr_from_c(a)?.ip() {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(_) => None,
    }
}

/// UTF-8 text of `len` bytes at `p`; `None` for NULL with a length or invalid UTF-8.
///
/// # Safety
/// `p` NULL or `len` readable bytes.
unsafe fn text<'a>(p: *const u8, len: usize) -> Option<&'a str> {
    // SAFETY: caller contract.
    unsafe { str_arg(p, len) }.ok()
}

/// A string argument: `IPSEC_RESULT_NULL_PARAMETER` for NULL with a length,
/// `IPSEC_RESULT_INVALID_PARAMETER` for bytes that are not UTF-8.
///
/// # Safety
/// As [`text`].
unsafe fn str_arg<'a>(p: *const u8, len: usize) -> Result<&'a str, ipsec_result> {
    // SAFETY: caller contract.
    let bytes = unsafe { in_slice(p, len) }.ok_or(ipsec_result::IPSEC_RESULT_NULL_PARAMETER)?;
    std::str::from_utf8(bytes).map_err(|_| ipsec_result::IPSEC_RESULT_INVALID_PARAMETER)
}

/// The remote `r` describes, or the code of what is wrong with it.
///
/// # Safety
/// Every pointer of `r` NULL or readable for its length.
unsafe fn remote_of(r: &ipsec_ezvpn_remote) -> Result<EasyVpnRemote, ipsec_result> {
    let bad = ipsec_result::IPSEC_RESULT_INVALID_PARAMETER;
    // SAFETY: caller contract, field by field.
    let name = unsafe { text(r.name, r.name_len) }.ok_or(bad)?;
    // SAFETY: as above.
    let group = unsafe { text(r.group, r.group_len) }.ok_or(bad)?;
    // SAFETY: as above.
    let key = unsafe { in_slice(r.key, r.key_len) }.ok_or(bad)?;
    // A name or group with white space could not be written back as IOS text.
    if name.is_empty()
        || group.is_empty()
        || key.is_empty()
        || name.contains(char::is_whitespace)
        || group.contains(char::is_whitespace)
    {
        return Err(bad);
    }
    if r.peers.is_null() || r.peers_len == 0 {
        return Err(ipsec_result::IPSEC_RESULT_NULL_PARAMETER);
    }
    // SAFETY: non-NULL `peers` holds `peers_len` readable addresses (contract).
    let peers = unsafe { std::slice::from_raw_parts(r.peers, r.peers_len) };
    let peers: Vec<Ipv4Addr> = peers.iter().map(v4).collect::<Option<_>>().ok_or(bad)?;
    let local = (
        v4(&r.local).ok_or(bad)?,
        mask(r.local_prefix_len).ok_or(bad)?,
    );
    let credentials = if r.user.is_null() {
        None
    } else {
        // SAFETY: caller contract.
        let user = unsafe { text(r.user, r.user_len) }.ok_or(bad)?;
        // SAFETY: caller contract.
        let password = unsafe { in_slice(r.password, r.password_len) }.ok_or(bad)?;
        Some(XauthCredentials {
            name: user.to_string(),
            password: Password::new(password),
        })
    };
    let network_extension = if r.network_extension {
        Some((
            v4(&r.inside).ok_or(bad)?,
            mask(r.inside_prefix_len).ok_or(bad)?,
        ))
    } else {
        None
    };
    Ok(EasyVpnRemote {
        name: name.to_string(),
        local,
        peers,
        group: group.to_string(),
        key: PskSecret::new(key),
        credentials,
        network_extension,
        connect_auto: r.connect_auto,
    })
}

/// Builds an Easy VPN remote (`crypto ipsec client ezvpn`) from `remote` instead of IOS text:
/// Aggressive Mode with the group name and key, XAUTH, Mode Config, IOS's default remote
/// proposals. Its events say what the server gave (`IPSEC_TUNNEL_EVENT_CLIENT_CONFIGURED` with
/// the assigned address, the split networks as `IPSEC_TUNNEL_EVENT_ROUTE_ADD`); DNS, domain and
/// banner are in `ipsec_tunnel_show(IPSEC_SHOW_CRYPTO_IPSEC_CLIENT_EZVPN)`. `seed` as for
/// `ipsec_tunnel_new_from_ios`.
///
/// Errors: `IPSEC_RESULT_NULL_PARAMETER` (`remote`, `seed`, `out` or the peer list NULL);
/// `IPSEC_RESULT_INVALID_PARAMETER` (an empty or non-UTF-8 name, group or key, white space in
/// the name or group, a non-IPv4 address, a prefix length above 32); `IPSEC_RESULT_INVALID_CONFIG`
/// (the profile cannot run).
///
/// # Safety
/// `remote` readable, with each of its pointers NULL or readable for its length; `seed` 32
/// readable bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_new_ezvpn_remote(
    remote: *const ipsec_ezvpn_remote,
    seed: *const u8,
    out: *mut *mut ipsec_tunnel,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let r = try_some!(unsafe { as_ref(remote) });
        if seed.is_null() || out.is_null() {
            return ipsec_result::IPSEC_RESULT_NULL_PARAMETER;
        }
        // SAFETY: caller contract for the fields.
        let spec = try_ok!(unsafe { remote_of(r) });
        // SAFETY: non-NULL `seed` points to 32 readable bytes (contract).
        let seed = unsafe { seed.cast::<[u8; 32]>().read_unaligned() };
        let opts = CoreOptions {
            seed,
            ..CoreOptions::default()
        };
        match Tunnel::new(spec.gateway_config(), opts) {
            Ok(t) => {
                let h = ipsec_tunnel {
                    state: RefCell::new(t),
                };
                // SAFETY: checked non-NULL.
                unsafe { write(out, to_raw(h)) };
                ipsec_result::IPSEC_RESULT_OK
            }
            Err(_) => ipsec_result::IPSEC_RESULT_INVALID_CONFIG,
        }
    })
}

/// `crypto ipsec client ezvpn connect NAME`: connects the Easy VPN profile `name` (`len` bytes
/// of UTF-8) now; the packets to send are then polled with `ipsec_tunnel_poll_transmit`.
/// `IPSEC_RESULT_INVALID_PARAMETER` for a profile that does not exist.
///
/// # Safety
/// `t` a live handle; `name` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ipsec_tunnel_ezvpn_connect(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    name: *const u8,
    len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let name = try_ok!(unsafe { str_arg(name, len) });
        if tun.ezvpn_connect(Instant(now_ms), name) {
            ipsec_result::IPSEC_RESULT_OK
        } else {
            ipsec_result::IPSEC_RESULT_INVALID_PARAMETER
        }
    })
}

/// `crypto ipsec client ezvpn xauth`: answers the XAUTH REQUEST profile `name`'s server is
/// waiting on (announced by `IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED`) with the user name and
/// password the user typed. They are used for this REQUEST only: a server that asks again
/// (a wrong password) is announced again.
///
/// Errors: `IPSEC_RESULT_INVALID_PARAMETER` (no such profile, or a name that is not UTF-8);
/// `IPSEC_RESULT_NO_SUCH_SA` (no XAUTH REQUEST is pending for it).
///
/// # Safety
/// `t` a live handle; `name`, `user`, `password` readable for their lengths.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // three strings with lengths, C style
pub unsafe extern "C" fn ipsec_tunnel_ezvpn_xauth(
    t: *mut ipsec_tunnel,
    now_ms: u64,
    name: *const u8,
    name_len: usize,
    user: *const u8,
    user_len: usize,
    password: *const u8,
    password_len: usize,
) -> ipsec_result {
    boundary(|| {
        // SAFETY: caller contract.
        let mut tun = try_ok!(unsafe { lock(t) });
        // SAFETY: caller contract.
        let name = try_ok!(unsafe { str_arg(name, name_len) });
        // SAFETY: caller contract.
        let user = try_ok!(unsafe { str_arg(user, user_len) });
        // SAFETY: caller contract.
        let password = try_some!(unsafe { in_slice(password, password_len) });
        let creds = XauthCredentials {
            name: user.to_string(),
            password: Password::new(password),
        };
        match tun.ezvpn_xauth(Instant(now_ms), name, &creds) {
            Ok(()) => ipsec_result::IPSEC_RESULT_OK,
            Err(EzvpnXauthError::NoSuchProfile) => ipsec_result::IPSEC_RESULT_INVALID_PARAMETER,
            Err(_) => ipsec_result::IPSEC_RESULT_NO_SUCH_SA,
        }
    })
}
