//! `debug crypto isakmp` / `debug crypto ipsec` lines, worded as IOS prints them
//! (cisco-ios.md C.2, C.3) where the endpoint's events say enough.

use super::{delete_reason, MapEntryInfo, Tunnels};
use crate::ike::{Event, IsakmpState, Path, Role};
use crate::policy::{SelectorAddr, TrafficSelector, TransformSet};
use crate::tunnel::output::{DebugKind, Outputs};
use std::fmt;
use std::net::Ipv4Addr;

/// `192.168.1.0/255.255.255.0/0/0 (type=4)`.
pub(super) struct Proxy<'a>(pub &'a TrafficSelector);

impl fmt::Display for Proxy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, m) = self.0.addr.addr_mask();
        let ty = match self.0.addr {
            SelectorAddr::Host(_) => 1,
            SelectorAddr::Subnet { .. } => 4,
            SelectorAddr::Range { .. } => 7,
        };
        write!(
            f,
            "{a}/{m}/{}/{} (type={ty})",
            self.0.protocol,
            self.0.ports.ikev1_port().unwrap_or(0)
        )
    }
}

fn transform_words(t: &TransformSet) -> String {
    t.display_transforms()
}

/// The IOS finite-state-machine name for a state seen in `show crypto isakmp sa`.
fn fsm_name(role: Role, state: IsakmpState) -> &'static str {
    match (role, state) {
        (_, IsakmpState::QmIdle) => "IKE_P1_COMPLETE",
        (Role::Initiator, IsakmpState::MmNoState) => "IKE_I_MM1",
        (Role::Initiator, IsakmpState::MmSaSetup) => "IKE_I_MM3",
        (Role::Initiator, IsakmpState::MmKeyExch) => "IKE_I_MM5",
        (Role::Responder, IsakmpState::MmNoState) => "IKE_R_MM1",
        (Role::Responder, IsakmpState::MmSaSetup) => "IKE_R_MM2",
        (Role::Responder, IsakmpState::MmKeyExch) => "IKE_R_MM4",
        (_, IsakmpState::AgNoState) => "IKE_I_AM1",
        (_, IsakmpState::AgInitExch) => "IKE_R_AM2",
    }
}

/// `Old State = X  New State = Y` for ISAKMP SA `conn_id`, now in `state`.
pub(super) fn fsm(
    out: &mut Outputs,
    conn_id: u32,
    role: Role,
    path: Path,
    state: IsakmpState,
    old: Option<IsakmpState>,
) {
    if !out.debugging(DebugKind::Isakmp) {
        return;
    }
    let conn = if state == IsakmpState::QmIdle {
        conn_id
    } else {
        0
    };
    let from = old.map_or("IKE_READY", |o| fsm_name(role, o));
    let input = match (role, state) {
        (Role::Initiator, IsakmpState::MmNoState) => "IKE_MESG_FROM_IPSEC, IKE_SA_REQ_MM",
        (Role::Initiator, IsakmpState::AgNoState) => "IKE_MESG_FROM_IPSEC, IKE_SA_REQ_AM",
        (_, IsakmpState::AgInitExch) => "IKE_MESG_FROM_PEER, IKE_AM_EXCH",
        (_, IsakmpState::QmIdle) => "IKE_MESG_INTERNAL, IKE_PROCESS_COMPLETE",
        _ => "IKE_MESG_FROM_PEER, IKE_MM_EXCH",
    };
    if old.is_none() && role == Role::Initiator {
        out.debug(
            DebugKind::Isakmp,
            format_args!(
                "ISAKMP:(0):Created a peer struct for {}, peer port {}",
                path.remote.ip(),
                path.remote.port()
            ),
        );
    }
    out.debug(
        DebugKind::Isakmp,
        format_args!("ISAKMP:({conn}):Input = {input}"),
    );
    out.debug(
        DebugKind::Isakmp,
        format_args!(
            "ISAKMP:({conn}):Old State = {from}  New State = {}",
            fsm_name(role, state)
        ),
    );
    if old.is_none() && role == Role::Initiator {
        let mode = if state == IsakmpState::AgNoState {
            "Aggressive"
        } else {
            "Main"
        };
        out.debug(
            DebugKind::Isakmp,
            format_args!("ISAKMP:(0):beginning {mode} Mode exchange"),
        );
    }
}

/// Lines for one endpoint event.
pub(super) fn event(out: &mut Outputs, ev: &Event, entries: &[MapEntryInfo]) {
    match ev {
        Event::Phase1Established {
            sa,
            peer,
            role,
            path,
            nat,
        } => {
            let c = sa.0;
            if nat.nat_detected() {
                out.debug(
                    DebugKind::Isakmp,
                    format_args!("ISAKMP:({c}):NAT found, {} inside NAT", if nat.local_behind_nat { "this node" } else { "the peer" }),
                );
            } else {
                out.debug(
                    DebugKind::Isakmp,
                    format_args!("ISAKMP:({c}):No NAT Found for self or peer"),
                );
            }
            out.debug(
                DebugKind::Isakmp,
                format_args!("ISAKMP:({c}):SA authentication status:\n\tauthenticated"),
            );
            out.debug(
                DebugKind::Isakmp,
                format_args!(
                    "ISAKMP:({c}):SA has been authenticated with {}",
                    path.remote.ip()
                ),
            );
            if *role == Role::Initiator {
                out.debug(
                    DebugKind::Isakmp,
                    format_args!("ISAKMP:({c}):beginning Quick Mode exchange"),
                );
            }
            let _ = (peer, entries);
        }
        Event::Phase1Deleted { sa, reason, .. } => out.debug(
            DebugKind::Isakmp,
            format_args!(
                "ISAKMP:({}):deleting SA reason \"{}\" state QM_IDLE",
                sa.0,
                delete_reason(*reason)
            ),
        ),
        Event::Phase2Expiring { child } => out.debug(
            DebugKind::Ipsec,
            format_args!("IPSEC(sa_aging): lifetime expiring, rekeying SA pair {}", child.0),
        ),
        Event::Phase2Deleted {
            spi_in,
            spi_out,
            reason,
            ..
        } => out.debug(
            DebugKind::Ipsec,
            format_args!(
                "IPSEC(delete_sa): deleting SA,\n  (sa) sa_spi= 0x{spi_in:X}({spi_in}) (inbound), 0x{spi_out:X}({spi_out}) (outbound), reason: {}",
                delete_reason(*reason)
            ),
        ),
        Event::NegotiationFailed {
            remote,
            phase,
            error,
            ..
        } => {
            let what = if *phase == 1 { "phase 1" } else { "phase 2" };
            out.debug(
                DebugKind::Isakmp,
                format_args!("ISAKMP:(0):{what} negotiation with {} failed: {error}", remote.ip()),
            );
        }
        Event::NotifyReceived {
            sa,
            notify,
            authenticated,
        } => out.debug(
            DebugKind::Isakmp,
            format_args!(
                "ISAKMP:({}):processing NOTIFY {notify:?}{}",
                sa.map_or(0, |s| s.0),
                if *authenticated { "" } else { " (unauthenticated)" }
            ),
        ),
        Event::Xauth { sa, step, .. } => xauth(out, sa.0, step),
        Event::ModeConfig { sa, step, .. } => mode_config(out, sa.0, step),
        Event::PeerDead { sa, .. } => out.debug(
            DebugKind::Isakmp,
            format_args!(
                "ISAKMP:({}):DPD: peer is dead, deleting SA reason \"Dead Peer Detection timeout\"",
                sa.0
            ),
        ),
        _ => {}
    }
}

/// IOS-style lines for an XAUTH step (wording after IOS 12.4/15 Easy VPN server debugs).
fn xauth(out: &mut Outputs, c: u32, step: &crate::ike::XauthStep) {
    use crate::ike::XauthStep as S;
    let lines: Vec<String> = match step {
        S::RequestSent { attempt } => vec![
            format!("ISAKMP:({c}):Need XAUTH"),
            "ISAKMP/xauth: request attribute XAUTH_USER_NAME_V2".into(),
            "ISAKMP/xauth: request attribute XAUTH_USER_PASSWORD_V2".into(),
            format!(
                "ISAKMP:({c}):Old State = {}  New State = IKE_XAUTH_REQ_SENT (attempt {attempt})",
                if *attempt > 1 { "IKE_XAUTH_AAA_START_LOGIN_AWAIT" } else { "IKE_P1_COMPLETE" }
            ),
        ],
        S::ReplyReceived { user, accepted } => vec![
            format!("ISAKMP:({c}):Config payload REPLY"),
            format!("ISAKMP/xauth: reply attribute XAUTH_USER_NAME_V2 \"{user}\""),
            "ISAKMP/xauth: reply attribute XAUTH_USER_PASSWORD_V2".into(),
            format!(
                "ISAKMP:({c}):Old State = IKE_XAUTH_REQ_SENT  New State = IKE_XAUTH_AAA_START_LOGIN_AWAIT ({})",
                if *accepted { "user accepted" } else { "login failed" }
            ),
        ],
        S::StatusSent { ok } => vec![format!(
            "ISAKMP:({c}):Old State = IKE_XAUTH_AAA_START_LOGIN_AWAIT  New State = IKE_XAUTH_SET_SENT (STATUS={})",
            if *ok { "OK" } else { "FAIL" }
        )],
        S::Replied => vec![format!("ISAKMP:({c}):XAUTH REQUEST answered (REPLY sent)")],
        S::CredentialsNeeded { message } => vec![format!(
            "ISAKMP:({c}):XAUTH REQUEST held: no stored credentials{}",
            message
                .as_deref()
                .map_or_else(String::new, |m| format!(" (server says \"{m}\")"))
        )],
        S::Finished { user, ok } => vec![if *ok {
            format!("ISAKMP:({c}):Config payload ACK\nISAKMP:({c}):XAUTH authentication of \"{user}\" successful\nISAKMP:({c}):Old State = IKE_XAUTH_SET_SENT  New State = IKE_P1_COMPLETE")
        } else {
            format!("ISAKMP:({c}):Config payload ACK\nISAKMP:({c}):XAUTH authentication of \"{user}\" failed")
        }],
    };
    for l in lines {
        out.debug(DebugKind::Isakmp, format_args!("{l}"));
    }
}

/// IOS-style lines for a Mode Config step (after the Easy VPN server's `debug crypto isakmp`).
fn mode_config(out: &mut Outputs, c: u32, step: &crate::ike::ModeConfigStep) {
    use crate::ike::ModeConfigStep as S;
    let line = match step {
        S::Sent {
            group,
            address,
            reply,
            attributes,
        } => {
            let addr = address.map_or_else(|| "no address".to_string(), |a| format!("address {a}"));
            if *reply {
                format!(
                    "ISAKMP:({c}):Config payload REQUEST from group {group}
ISAKMP:({c}):Sending mode config REPLY, {addr}, {attributes} attributes
ISAKMP:({c}):Old State = IKE_CONFIG_AUTHOR_AAA_AWAIT  New State = IKE_P1_COMPLETE"
                )
            } else {
                format!("ISAKMP:({c}):Sending mode config SET to group {group}, {addr}, {attributes} attributes
ISAKMP:({c}):Old State = IKE_P1_COMPLETE  New State = IKE_CONFIG_SET_SENT")
            }
        }
        S::Acknowledged => format!(
            "ISAKMP:({c}):Config payload ACK
ISAKMP:({c}):Old State = IKE_CONFIG_SET_SENT  New State = IKE_P1_COMPLETE"
        ),
        S::Released { address } => {
            format!("ISAKMP:({c}):Returning address {address} to its pool")
        }
        S::Requested => format!("ISAKMP:({c}):Sending mode config REQUEST"),
        S::Configured(s) => format!(
            "ISAKMP:({c}):Mode config received: address {}, {} DNS, {} split networks",
            s.address
                .map_or_else(|| "none".to_string(), |a| a.to_string()),
            s.dns.len(),
            s.split.len()
        ),
    };
    out.debug(DebugKind::Isakmp, format_args!("{line}"));
}

/// `IPSEC(create_sa)` for both halves and the ISAKMP line that announces the installation.
#[allow(clippy::too_many_arguments)]
pub(super) fn installed(
    out: &mut Outputs,
    entry: &MapEntryInfo,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    t: &TransformSet,
    secs: u32,
    kb: u64,
    spi_in: u32,
    spi_out: u32,
    conn: u32,
) {
    if out.debugging(DebugKind::Ipsec) {
        let kb = crate::policy::volume_limit(kb).unwrap_or(0);
        let tw = transform_words(t);
        for (dest, spi, c) in [(local, spi_in, conn), (remote, spi_out, conn + 1)] {
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC(create_sa): sa created,\n  (sa) sa_dest= {dest}, sa_proto= 50,\n    sa_spi= 0x{spi:X}({spi}),\n    sa_trans= {tw} , sa_conn_id= {c}\n    sa_lifetime(k/sec)= ({kb}/{secs})"
                ),
            );
        }
        out.debug(
            DebugKind::Ipsec,
            format_args!("IPSEC(key_engine_enable_outbound): rec'd enable notify from ISAKMP"),
        );
    }
    out.debug(
        DebugKind::Isakmp,
        format_args!(
            "ISAKMP: Successfully installed IPSEC SA (SPI:0x{spi_in:X}) on {}",
            entry.interface
        ),
    );
}

impl Tunnels {
    /// `IPSEC(sa_request)`: the first packet of a flow without SA asks ISAKMP for one.
    pub(super) fn debug_sa_request(&self, flow: usize, out: &mut Outputs) {
        if !out.debugging(DebugKind::Ipsec) {
            return;
        }
        let Some(f) = self.flows.get(flow) else {
            return;
        };
        let Some(e) = self.entries.get(f.entry) else {
            return;
        };
        let peer = self.endpoint.config().peers.get(e.peer.0);
        let (secs, kb) = peer.map_or((3600, 4_608_000), |p| (p.lifetime_secs, p.lifetime_kb));
        // No volume lifetime prints as 0 kb (our choice).
        let kb = crate::policy::volume_limit(kb).unwrap_or(0);
        let sets: Vec<&TransformSet> = peer
            .map(|p| p.transform_sets.iter().collect())
            .unwrap_or_default();
        for t in sets {
            out.debug(
                DebugKind::Ipsec,
                format_args!(
                    "IPSEC(sa_request): ,\n  (key eng. msg.) OUTBOUND local= {}, remote= {},\n    local_proxy= {},\n    remote_proxy= {},\n    protocol= ESP, transform= {}  (Tunnel),\n    lifedur= {secs}s and {kb}kb,\n    spi= 0x0(0), conn_id= 0, keysize= 0, flags= 0x0",
                    e.local,
                    e.peer_addr,
                    Proxy(&f.selectors.local),
                    Proxy(&f.selectors.remote),
                    transform_words(t),
                ),
            );
        }
    }
}
