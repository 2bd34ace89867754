//! The procedure: Phase 1, then Phase 2, then the counters of the tunnel.

use super::{Cause, FailureKind, FlowView, Happening, PeerHistory, PeerInput, Record, Verdict};
use crate::ike::IsakmpState;
use crate::ios::check::{check, LintKind, Severity};
use crate::policy::GatewayConfig;
use crate::time::Instant;
use std::net::IpAddr;

/// Encrypted packets with nothing decrypted before a tunnel is called one-way (one packet may
/// simply still be in flight).
const ONE_WAY_MIN: u64 = 3;

/// A responder waiting this long for the next Main Mode message is stuck, not slow.
const STUCK_MS: u64 = 5_000;

fn ago(now: Instant, t: Instant) -> String {
    let ms = now.0.saturating_sub(t.0);
    format!("{}.{:03} s ago", ms / 1000, ms % 1000)
}

fn last_rx_text(now: Instant, p: &PeerInput) -> String {
    match p.history.last_rx {
        Some(t) => format!("last packet from the peer {}", ago(now, t)),
        None => "nothing has ever arrived from the peer".into(),
    }
}

fn peer_text(p: &PeerInput) -> String {
    p.peer.map_or_else(|| "?".into(), |a| a.to_string())
}

fn local_text(p: &PeerInput) -> String {
    p.local.map_or_else(|| "?".into(), |a| a.to_string())
}

/// The newest failure of `phase`, with its text.
fn last_failure(p: &PeerInput, phase: u8) -> Option<(&Record, &FailureKind, &str)> {
    p.history.events.iter().rev().find_map(|r| match &r.what {
        Happening::Failed {
            phase: ph,
            kind,
            text,
        } if *ph == phase => Some((r, kind, &**text)),
        _ => None,
    })
}

/// The newest notify from the peer, authenticated or not as asked.
fn last_notify<'a>(p: &'a PeerInput, name: &str, authenticated: bool) -> Option<&'a Record> {
    p.history.events.iter().rev().find(|r| {
        matches!(&r.what, Happening::NotifyReceived { name: n, authenticated: a }
            if &**n == name && *a == authenticated)
    })
}

fn phase1_up_record(p: &PeerInput) -> Option<&Record> {
    p.history
        .events
        .iter()
        .rev()
        .find(|r| matches!(r.what, Happening::Phase1Up { .. }))
}

/// Events after the newest Phase 1 completion (or all when there is none).
fn since_phase1(p: &PeerInput) -> impl Iterator<Item = &Record> {
    let start = p
        .history
        .events
        .iter()
        .rposition(|r| matches!(r.what, Happening::Phase1Up { .. }))
        .map_or(0, |i| i + 1);
    p.history.events.iter().skip(start)
}

fn count_sent(p: &PeerInput, state: IsakmpState, initiator: bool, retrans: bool) -> usize {
    p.history
        .events
        .iter()
        .filter(|r| {
            matches!(&r.what, Happening::IkeSent { state: Some(s), initiator: i, retransmission, .. }
                if *s == state && *i == initiator && (!retrans || *retransmission))
        })
        .count()
}

/// IPv4 and UDP headers in front of an IKE message.
const IP_UDP: usize = 28;

/// The IP size of our MM5 and of the largest MM1/MM3 before it, when MM5 exceeds the
/// 576 bytes every IPv4 host must take (RFC 791) and the earlier messages did not.
fn oversized_mm5(p: &PeerInput) -> Option<(usize, usize)> {
    let sent = |want: IsakmpState| {
        p.history.events.iter().filter_map(move |r| match &r.what {
            Happening::IkeSent {
                state: Some(s),
                initiator: true,
                len,
                ..
            } if *s == want => Some(len + IP_UDP),
            _ => None,
        })
    };
    let mm5 = sent(IsakmpState::MmKeyExch).max()?;
    let before = sent(IsakmpState::MmNoState)
        .chain(sent(IsakmpState::MmSaSetup))
        .max()
        .unwrap_or(0);
    (mm5 > 576 && before <= 576).then_some((mm5, before))
}

fn count_received_in(p: &PeerInput, state: IsakmpState) -> usize {
    p.history
        .events
        .iter()
        .filter(|r| matches!(&r.what, Happening::IkeReceived { state: Some(s), .. } if *s == state))
        .count()
}

fn acl_lines(p: &PeerInput) -> Vec<String> {
    p.flows.iter().map(|f| f.acl_line.clone()).collect()
}

fn offered(p: &PeerInput) -> String {
    if p.policies.is_empty() {
        "no ISAKMP policy".into()
    } else {
        p.policies.join("; ")
    }
}

/// Diagnoses one peer: every finding, the most important first. A tunnel with no finding gets
/// one [`Cause::Healthy`] (or [`Cause::InProgress`] / [`Cause::NotTriggered`]) verdict.
pub fn diagnose_peer(now: Instant, p: &PeerInput) -> Vec<Verdict> {
    let mut out = Vec::new();
    let p1_up = p.isakmp.iter().any(|s| s.state == IsakmpState::QmIdle);
    let flows_up = p.flows.iter().any(|f| f.sa_up);
    if flows_up {
        traffic(p, &mut out);
    } else if p1_up {
        phase2(now, p, &mut out);
    } else {
        phase1(now, p, &mut out);
    }
    nat_floating(now, p, &mut out);
    invalid_spi(now, p, &mut out);
    if out.is_empty() && flows_up {
        let mut v = Verdict::new(
            p.peer,
            Cause::Healthy,
            "Phase 1 (QM_IDLE) and Phase 2 up, traffic both ways",
        );
        for f in p.flows.iter().filter(|f| f.sa_up) {
            v.evidence.push(format!(
                "{} <-> {}: #pkts encaps {}, #pkts decaps {}",
                f.local_ident, f.remote_ident, f.encaps, f.decaps
            ));
        }
        v.verify
            .push("show crypto isakmp sa: QM_IDLE; show crypto ipsec sa: encrypt and decrypt both counting".into());
        out.push(v);
    }
    out
}

/// A remote-access client the Mode Config server refused; the error text names which rule.
fn mode_config_verdict(now: Instant, p: &PeerInput, r: &Record, text: &str) -> Verdict {
    let mut v = Verdict::new(
        p.peer,
        Cause::ModeConfig,
        "remote-access client not configured (Mode Config)",
    );
    v.evidence.push(format!("{} ({})", text, ago(now, r.at)));
    let check = if text.contains("exhausted") {
        "enlarge the group's `ip local pool` (or free addresses: `show crypto session` lists who holds them)"
    } else if text.contains("max-users") {
        "raise `max-users` of the group, or wait for a client to disconnect"
    } else if text.contains("names no client configuration group") {
        "the client identifies by address (a Main Mode client's default): make it send the group as ID_KEY_ID (strongSwan `id = keyid:GROUP`; vpnc and Cisco clients do so in Aggressive Mode)"
    } else if text.contains("no client configuration group") {
        "the client's group name (its ID_KEY_ID: vpnc `IPSec ID`, strongSwan `keyid:`) must name a `crypto isakmp client configuration group`"
    } else if text.contains("has no ip local pool") {
        "create the `ip local pool` the group's `pool` names"
    } else if text.contains("leased") {
        "the client proposed a Quick Mode for another address than the one it was given; a client that keeps its old address after a reconnect must be restarted"
    } else {
        "the group's settings under `crypto isakmp client configuration group`"
    };
    v.check.push(check.into());
    v.verify
        .push("debug crypto isakmp: `Sending mode config REPLY` lines; show crypto session detail: Group and Assigned address".into());
    v
}

fn phase1(now: Instant, p: &PeerInput, out: &mut Vec<Verdict>) {
    let peer = peer_text(p);
    let local = local_text(p);
    let h = &p.history;
    let fail = last_failure(p, 1);
    let newest = p.isakmp.iter().max_by_key(|s| s.conn_id);
    let send_errors: u64 = p.flows.iter().map(|f| f.send_errors).sum();
    let retrans_line = format!(
        "{} IKE datagrams sent, {} of them retransmissions; {} received ({} on UDP 4500); {}",
        h.ike_tx,
        h.retransmissions,
        h.ike_rx,
        h.ike_rx_4500,
        last_rx_text(now, p)
    );

    if let Some((r, FailureKind::Xauth, text)) = fail {
        let mut v = Verdict::new(
            p.peer,
            Cause::XauthFailed,
            "Phase 1 up, then XAUTH failed: wrong user name or password",
        );
        v.evidence.push(format!("{} ({})", text, ago(now, r.at)));
        v.check.push(
            "the client's XAUTH user name and password against the `username U password|secret` lines the `client authentication list` names (`aaa authentication login L local`)".into(),
        );
        v.verify.push(
            "debug crypto isakmp: `Old State = IKE_XAUTH_REQ_SENT  New State = IKE_XAUTH_AAA_START_LOGIN_AWAIT (login failed)`, then `STATUS=FAIL`".into(),
        );
        out.push(v);
        return;
    }
    if let Some((r, FailureKind::ModeConfig, text)) = fail {
        out.push(mode_config_verdict(now, p, r, text));
        return;
    }
    if let Some((r, FailureKind::Certificate(what), text)) = fail {
        out.push(certificate_verdict(now, p, r.at, *what, text));
        return;
    }
    if let Some((r, FailureKind::PskMismatch | FailureKind::HashMismatch, text)) = fail {
        let mut v = Verdict::new(
            p.peer,
            Cause::PskMismatch,
            "Phase 1 fails at MM_KEY_EXCH: the pre-shared keys differ",
        );
        v.evidence.push(format!("{} ({})", text, ago(now, r.at)));
        v.evidence.push(retrans_line);
        v.check.push(format!(
            "`crypto isakmp key <key> address {local}` on the peer and `crypto isakmp key <key> address {peer}` here must carry the same string (case, trailing spaces)"
        ));
        v.verify.push(format!(
            "debug crypto isakmp (responder): %CRYPTO-4-IKMP_BAD_MESSAGE: IKE message from {peer} failed its sanity check or is malformed"
        ));
        v.verify.push(
            "show crypto isakmp sa: the initiator sits in MM_KEY_EXCH retransmitting MM5 (`retransmitting phase 1 MM_KEY_EXCH...`); attempts it initiated show MM_NO_STATE (deleted) here"
                .into(),
        );
        out.push(v);
        return;
    }
    if let Some((r, FailureKind::NoProposalChosen, text)) = fail {
        let mut v = Verdict::new(
            p.peer,
            Cause::Phase1RefusedByUs,
            "Phase 1 refused by us: the peer's offer matches none of our ISAKMP policies",
        );
        v.evidence.push(format!("{} ({})", text, ago(now, r.at)));
        v.evidence.push(format!("our policies: {}", offered(p)));
        v.check.push(
            "make one `crypto isakmp policy` agree on encryption (and key length), hash, group and authentication on both sides".into(),
        );
        v.verify.push(format!(
            "debug crypto isakmp: `atts are not acceptable. Next payload is 0`, `phase 1 SA policy not acceptable! (local {local} remote {peer})`"
        ));
        v.verify.push(
            "show crypto isakmp policy (both sides); show crypto isakmp sa: MM_NO_STATE".into(),
        );
        out.push(v);
        return;
    }
    let refused = match fail {
        Some((r, FailureKind::Notify(n), _)) if n == "NO-PROPOSAL-CHOSEN" => Some(r),
        _ => last_notify(p, "NO-PROPOSAL-CHOSEN", false),
    };
    if let Some(r) = refused {
        let mut v = Verdict::new(
            p.peer,
            Cause::Phase1RefusedByPeer,
            "Phase 1 refused by the peer (MM_NO_STATE, NO-PROPOSAL-CHOSEN from the peer)",
        );
        v.evidence.push(format!(
            "NOTIFY NO-PROPOSAL-CHOSEN received in cleartext {}",
            ago(now, r.at)
        ));
        v.evidence.push(format!("we offered: {}", offered(p)));
        v.check.push(
            "the peer has no `crypto isakmp policy` with the same encryption, hash, group and authentication; its debug names the attribute".into(),
        );
        v.verify.push(
            "show crypto isakmp sa: MM_NO_STATE; peer's debug crypto isakmp: `Encryption algorithm offered does not match policy!` (or Hash / Diffie-Hellman group), `phase 1 SA policy not acceptable!`".into(),
        );
        v.verify
            .push("show crypto isakmp policy (both sides)".into());
        out.push(v);
        return;
    }
    if let Some((r, FailureKind::IdentityNotMatched, text)) = fail {
        let mut v = Verdict::new(
            p.peer,
            Cause::IdentityMismatch,
            "Phase 1 refused by us: the peer's identity is not matched by the ISAKMP profile of its crypto map entry",
        );
        v.evidence.push(format!("{} ({})", text, ago(now, r.at)));
        v.check.push(format!(
            "`match identity address` (or `match identity host` for an FQDN) of the profile in `set isakmp-profile` names the identity {peer} uses (its `crypto isakmp identity` / strongSwan's `id`)"
        ));
        v.verify.push(
            "debug crypto isakmp: `ISAKMP:(0):peer matches *none* of the profiles`; the peer sees INVALID-ID-INFORMATION".into(),
        );
        out.push(v);
        return;
    }
    if let Some((r, FailureKind::NoKey, text)) = fail {
        let mut v = Verdict::new(p.peer, Cause::NoKey, "no pre-shared key for this peer");
        v.evidence.push(format!("{} ({})", text, ago(now, r.at)));
        v.check
            .push(format!("add `crypto isakmp key <key> address {peer}`"));
        v.verify.push(format!(
            "debug crypto isakmp: `No pre-shared key with {peer}!`"
        ));
        out.push(v);
        return;
    }

    // Which state are we stuck in: the failure that ended the last attempt, or the live SA.
    let (stuck_state, initiator, gave_up) = match (fail, newest) {
        (_, Some(s)) => (Some(s.state), s.initiator, None),
        (Some((r, FailureKind::NoReply { state, .. }, t)), None) => {
            (Some(*state), true, Some((r, t)))
        }
        (Some((r, FailureKind::PeerStopped { state }, t)), None) => {
            (Some(*state), false, Some((r, t)))
        }
        _ => (None, false, None),
    };
    let gave_up_text = gave_up.map(|(r, t)| format!("{t} ({})", ago(now, r.at)));

    match (stuck_state, initiator) {
        (Some(IsakmpState::MmNoState), true) => {
            let retrans = count_sent(p, IsakmpState::MmNoState, true, true);
            if retrans == 0 && gave_up.is_none() {
                return in_progress(p, out, "MM1 sent, waiting for MM2");
            }
            let mut v = Verdict::new(
                p.peer,
                Cause::PeerUnreachable,
                "no Phase 1 and nothing received from the peer: peer unreachable, UDP 500/4500 filtered, or wrong `set peer` address",
            );
            if let Some(g) = gave_up_text {
                v.evidence.push(g);
            }
            v.evidence
                .push(format!("MM1 retransmitted {retrans} times"));
            v.evidence.push(retrans_line);
            for (addr, n) in &p.strangers {
                v.evidence.push(format!(
                    "{n} IKE datagrams arrived from {addr}, which is no `set peer`: if that is the peer, `set peer {peer}` is the wrong address (or a NAT translates the peer)"
                ));
            }
            if send_errors > 0 {
                v.evidence.push(format!(
                    "#send errors {send_errors} (packets dropped for want of an SA)"
                ));
            }
            v.check.push(format!(
                "`set peer {peer}` is the peer's outside address and it answers (ping {peer} source {local})"
            ));
            v.check.push(format!(
                "UDP 500 and 4500 from {local} to {peer} and back are permitted on every filter in the path"
            ));
            v.check
                .push("the peer has a crypto map applied to its outside interface".into());
            v.verify.push(
                "debug crypto isakmp: `sending packet to X my_port 500 peer_port 500 (I) MM_NO_STATE` then `retransmitting phase 1 MM_NO_STATE...`; no `received packet from` line".into(),
            );
            v.verify.push(
                "show crypto isakmp sa: MM_NO_STATE; show crypto ipsec sa: #send errors climbing, current outbound spi: 0x0(0)".into(),
            );
            out.push(v);
        }
        (Some(IsakmpState::MmSaSetup), false) => {
            let dup = count_received_in(p, IsakmpState::MmSaSetup);
            if dup == 0 && gave_up.is_none() {
                return in_progress(p, out, "MM2 sent, waiting for MM3");
            }
            let mut v = Verdict::new(
                p.peer,
                Cause::OneWayUdp500,
                "stuck in MM_SA_SETUP with nothing after MM1: our MM2 does not reach the peer (one-way UDP 500)",
            );
            if let Some(g) = gave_up_text {
                v.evidence.push(g);
            }
            v.evidence.push(format!(
                "the peer retransmitted MM1 {dup} times after we answered it: it never got our MM2"
            ));
            v.evidence.push(retrans_line);
            v.check.push(format!(
                "a filter or NAT on the path from {local} to {peer} drops UDP 500 (return direction)"
            ));
            v.check.push(format!("the route back to {peer} from here"));
            v.verify.push(
                "debug crypto isakmp here: `phase 1 packet is a duplicate of a previous packet.`, `retransmitting phase 1 MM_SA_SETUP...`".into(),
            );
            v.verify.push(
                "show crypto isakmp sa: here MM_SA_SETUP, on the peer MM_NO_STATE (\"stuck in MM_SA_SETUP and MM_NO_STATE\")".into(),
            );
            out.push(v);
        }
        (Some(IsakmpState::MmSaSetup), true) => {
            let retrans = count_sent(p, IsakmpState::MmSaSetup, true, true);
            if retrans == 0 && gave_up.is_none() {
                return in_progress(p, out, "MM3 sent, waiting for MM4");
            }
            let mut v = Verdict::new(
                p.peer,
                Cause::OneWayUdp500,
                "stuck in MM_SA_SETUP: MM1/MM2 passed but MM3 or MM4 is lost (large UDP 500 datagrams dropped or fragmented, or the path changed)",
            );
            if let Some(g) = gave_up_text {
                v.evidence.push(g);
            }
            v.evidence
                .push(format!("MM3 retransmitted {retrans} times"));
            v.evidence.push(retrans_line);
            v.check.push(
                "fragments of UDP 500 filtered on the path (MM3/MM4 carry the DH values)".into(),
            );
            v.verify
                .push("debug crypto isakmp: `retransmitting phase 1 MM_SA_SETUP...`".into());
            out.push(v);
        }
        (Some(IsakmpState::MmKeyExch), true) => {
            let retrans = count_sent(p, IsakmpState::MmKeyExch, true, true);
            if retrans == 0 && gave_up.is_none() {
                return in_progress(p, out, "MM5 sent, waiting for MM6");
            }
            let floated = h.ike_tx_4500 > 0 || h.nat_detected;
            let heard_4500 = h.ike_rx_4500 > 0;
            let (cause, summary) = if floated && !heard_4500 {
                (
                    Cause::Udp4500Filtered,
                    "Phase 1 stuck at MM_KEY_EXCH after the NAT-T float: UDP 4500 is probably filtered (else the pre-shared keys differ)",
                )
            } else {
                (
                    Cause::StuckKeyExch,
                    "Phase 1 stuck at MM_KEY_EXCH: MM5 retransmitted with no MM6: the pre-shared keys probably differ",
                )
            };
            let mut v = Verdict::new(p.peer, cause, summary);
            if let Some(g) = gave_up_text {
                v.evidence.push(g);
            }
            v.evidence
                .push(format!("MM5 retransmitted {retrans} times, no MM6"));
            let big = oversized_mm5(p);
            if let Some((mm5, before)) = big {
                // A certificate makes MM5 the first message too big for some paths: the
                // small MM1-MM4 passing says nothing about it.
                v.summary = format!(
                    "Phase 1 stuck at MM_KEY_EXCH: MM5 ({mm5} bytes of IP datagram, certificates inside) retransmitted with no MM6: it is probably lost as IP fragments on the path"
                );
                v.evidence.push(format!(
                    "MM5 is {mm5} bytes of IP datagram; MM1-MM4 were at most {before}: beyond 576 bytes only IP fragmentation carries it, and a path with a smaller MTU that drops fragments loses it"
                ));
                v.check.push(format!(
                    "`crypto isakmp fragmentation` here (IKE fragments are sent once the peer announces the FRAGMENTATION vendor ID; strongSwan: `fragmentation = yes|force`), or IP fragments of UDP 500/4500 permitted between {local} and {peer}"
                ));
            }
            v.evidence.push(retrans_line);
            let psk = format!(
                "pre-shared keys: `crypto isakmp key` for {peer} here and for {local} on the peer must be equal (the peer cannot decrypt MM5 and drops it: `%CRYPTO-4-IKMP_BAD_MESSAGE` in its log)"
            );
            if floated {
                v.evidence.push(format!(
                    "NAT detected in MM3/MM4: MM5 went from UDP 4500; {}",
                    if heard_4500 {
                        "the peer has answered on 4500 before, so 4500 passes: the keys are the suspect"
                    } else {
                        "nothing has ever arrived on UDP 4500 while UDP 500 worked: that points at a filter on 4500"
                    }
                ));
                let f = format!("UDP 4500 between {local} and {peer} permitted both ways (the NAT-T float moves IKE and ESP there)");
                if heard_4500 {
                    v.check.push(psk);
                    v.check.push(f);
                } else {
                    v.check.push(f);
                    v.check.push(psk);
                }
            } else if big.is_some() {
                v.check.push(psk);
            } else {
                v.evidence.push(
                    "no NAT: MM5 used UDP 500 like MM1-MM4, which got through, so the path is fine and the keys are the suspect".into(),
                );
                v.check.push(psk);
            }
            v.verify.push(
                "debug crypto isakmp: `retransmitting phase 1 MM_KEY_EXCH...`, `sending packet to X my_port 4500 peer_port 4500 (I) MM_KEY_EXCH` when floated".into(),
            );
            v.verify
                .push("show crypto isakmp sa: MM_KEY_EXCH here".into());
            out.push(v);
        }
        (Some(IsakmpState::MmKeyExch), false) => {
            // MM5 follows MM4 at once; a few seconds without it is not a slow peer.
            let mm4_at = h.events.iter().rev().find_map(|r| match &r.what {
                Happening::IkeSent {
                    state: Some(s),
                    initiator: false,
                    ..
                } if *s == IsakmpState::MmKeyExch => Some(r.at),
                _ => None,
            });
            let waited = mm4_at.map_or(0, |t| now.0.saturating_sub(t.0));
            if gave_up.is_none() && waited < STUCK_MS {
                return in_progress(p, out, "MM4 sent, waiting for MM5");
            }
            let floated = h.ike_rx_4500 > 0 || h.ike_tx_4500 > 0 || h.nat_detected;
            let mut v = Verdict::new(
                p.peer,
                if floated {
                    Cause::Udp4500Filtered
                } else {
                    Cause::StuckKeyExch
                },
                "stuck in MM_KEY_EXCH as responder: MM5 never arrived",
            );
            if let Some(g) = gave_up_text {
                v.evidence.push(g);
            }
            if let Some(t) = mm4_at {
                v.evidence
                    .push(format!("MM4 sent {}, no MM5 since", ago(now, t)));
            }
            if floated {
                v.evidence
                    .push("NAT detected in MM3: the initiator sends MM5 from UDP 4500".into());
            }
            v.evidence.push(retrans_line);
            v.check.push(format!(
                "UDP 4500 from {peer} to {local} (the initiator floats to 4500 for MM5 when a NAT is detected)"
            ));
            v.check.push("the initiator gave up (see its debug)".into());
            v.verify
                .push("show crypto isakmp sa: MM_KEY_EXCH (R)".into());
            out.push(v);
        }
        (Some(s), _) => {
            let s = s.to_string();
            in_progress(p, out, &format!("Phase 1 in {s}"));
        }
        (None, _) if p.vti.is_some() => {
            let n = p.vti.unwrap_or(0);
            let mut v = Verdict::new(
                p.peer,
                Cause::NotTriggered,
                format!("no ISAKMP SA for Tunnel{n}, and it has not tried yet"),
            );
            v.evidence.push(retrans_line);
            v.check.push(format!(
                "interface Tunnel{n} is not shut down; a VTI initiates on its own at start and retries with back-off after a failure"
            ));
            v.check.push(format!(
                "interface Tunnel{n} has `tunnel source`, `tunnel destination`, `tunnel mode ipsec ipv4` and `tunnel protection ipsec profile` naming an existing profile"
            ));
            v.verify.push(format!(
                "show interfaces Tunnel{n}: line protocol; debug crypto isakmp: a Main Mode attempt towards the tunnel destination"
            ));
            out.push(v);
        }
        (None, _) => {
            if send_errors > 0 {
                in_progress(p, out, "traffic matched the crypto ACL, no ISAKMP SA yet");
                return;
            }
            let mut v = Verdict::new(
                p.peer,
                Cause::NotTriggered,
                "no ISAKMP SA and no traffic has matched the crypto ACL",
            );
            v.evidence.push(retrans_line);
            v.evidence
                .push(format!("crypto ACL: {}", acl_lines(p).join(" | ")));
            v.check.push(
                "the traffic is translated by NAT before the crypto map sees it (missing NAT exemption `deny` line)".into(),
            );
            v.check.push("the crypto map is applied to the interface the traffic leaves by (route to the remote LAN)".into());
            v.check
                .push("the source/destination of the test traffic match the crypto ACL".into());
            v.verify.push(
                "show crypto ipsec sa: all counters 0, no send errors; debug crypto isakmp prints nothing when pinging".into(),
            );
            out.push(v);
        }
    }
}

fn in_progress(p: &PeerInput, out: &mut Vec<Verdict>, what: &str) {
    let mut v = Verdict::new(p.peer, Cause::InProgress, format!("negotiating: {what}"));
    v.verify.push("show crypto isakmp sa".into());
    out.push(v);
}

fn phase2(now: Instant, p: &PeerInput, out: &mut Vec<Verdict>) {
    let peer = peer_text(p);
    let local = local_text(p);
    let mirror: Vec<String> = p
        .flows
        .iter()
        .map(|f| {
            format!(
                "ours: {} ({} -> {}); the peer needs the mirror image ({} -> {})",
                f.acl_line, f.local_ident, f.remote_ident, f.remote_ident, f.local_ident
            )
        })
        .collect();
    let send_errors: u64 = p.flows.iter().map(|f| f.send_errors).sum();
    let fail = last_failure(p, 2);
    let refused_by_peer = matches!(fail, Some((_, FailureKind::Notify(_), _)))
        || since_phase1(p).any(|r| {
            matches!(&r.what, Happening::NotifyReceived { name, authenticated: true }
                if &**name == "NO-PROPOSAL-CHOSEN" || &**name == "INVALID-ID-INFORMATION")
        });
    match fail {
        Some((r, FailureKind::ModeConfig, text)) => out.push(mode_config_verdict(now, p, r, text)),
        Some((r, FailureKind::ProxyIdentities, text)) => {
            let mut v = Verdict::new(
                p.peer,
                Cause::ProxyIdMismatch,
                "Phase 1 up, Phase 2 refused: proxy identities do not mirror (crypto ACLs are not mirror images)",
            );
            v.evidence.push(format!("{text} ({})", ago(now, r.at)));
            v.evidence.extend(mirror);
            v.check.push("make the peer's crypto ACL line the exact mirror of ours (source and destination swapped, same masks, protocol and ports)".into());
            v.verify.push(format!(
                "debug crypto ipsec/isakmp: `IPSec policy invalidated proposal with error 32`, `phase 2 SA policy not acceptable! (local {local} remote {peer})`"
            ));
            v.verify.push(
                "show crypto isakmp sa: QM_IDLE; show crypto ipsec sa: no SAs, #send errors climbing on the initiator".into(),
            );
            out.push(v);
        }
        Some((r, FailureKind::NoProposalChosen, text)) => {
            let mut v = Verdict::new(
                p.peer,
                Cause::TransformMismatch,
                "Phase 1 up, Phase 2 refused: no common transform set",
            );
            v.evidence.push(format!("{text} ({})", ago(now, r.at)));
            v.check.push("give both crypto map entries a transform set with the same ESP cipher, key length, integrity and mode".into());
            v.verify.push(
                "debug crypto ipsec: `IPSec policy invalidated proposal with error 256`, `transform proposal not supported for identity`".into(),
            );
            v.verify
                .push("show crypto ipsec transform-set (both sides)".into());
            out.push(v);
        }
        Some((r, FailureKind::Pfs, text)) => {
            let mut v = Verdict::new(
                p.peer,
                Cause::PfsMismatch,
                "Phase 1 up, Phase 2 refused: PFS mismatch",
            );
            v.evidence.push(format!("{text} ({})", ago(now, r.at)));
            v.evidence.push(format!(
                "our crypto map: {}",
                p.pfs
                    .map_or("no set pfs".into(), |g| format!("set pfs group{g}"))
            ));
            v.check.push(
                "`set pfs` with the same group on both crypto map entries, or on neither".into(),
            );
            v.verify
                .push("show crypto map (PFS (Y/N), DH group)".into());
            out.push(v);
        }
        _ if refused_by_peer => {
            let mut v = Verdict::new(
                p.peer,
                Cause::Phase2RefusedByPeer,
                "Phase 1 up, the peer refused our Quick Mode: proxy identities that do not mirror, or no common transform set / PFS",
            );
            v.evidence.push(
                "NOTIFY PROPOSAL_NOT_CHOSEN (or INVALID_ID_INFO) received inside the ISAKMP SA"
                    .into(),
            );
            v.evidence.extend(mirror);
            v.evidence.push(format!(
                "our transform sets: {}",
                p.transform_sets.join(", ")
            ));
            v.evidence.push(format!(
                "our PFS: {}",
                p.pfs.map_or("none".into(), |g| format!("group{g}"))
            ));
            v.check.push("the peer's crypto ACL is the mirror of ours (its debug says `IPSec policy invalidated proposal with error 32`)".into());
            v.check
                .push("the peer has a transform set equal to one of ours (`error 256`)".into());
            v.check.push("PFS configured the same on both".into());
            v.verify.push(
                "debug crypto isakmp here: `processing NOTIFY PROPOSAL_NOT_CHOSEN protocol 3`, `deleting node ... reason \"Delete Larval\"`".into(),
            );
            v.verify
                .push("show crypto ipsec sa: no SAs, #send errors climbing".into());
            out.push(v);
        }
        Some((
            r,
            FailureKind::NoReply {
                retransmissions, ..
            },
            text,
        )) => {
            let mut v = Verdict::new(
                p.peer,
                Cause::Phase2NoReply,
                "Phase 1 up, Quick Mode unanswered",
            );
            v.evidence.push(format!(
                "{text} ({}); {retransmissions} retransmissions",
                ago(now, r.at)
            ));
            v.check.push("the peer silently drops our Quick Mode: its crypto map entry for us (proxy identities, transform set)".into());
            v.verify.push(
                "show crypto isakmp sa: QM_IDLE; show crypto ipsec sa: #send errors climbing"
                    .into(),
            );
            out.push(v);
        }
        _ => {
            if send_errors > 0 {
                in_progress(p, out, "Phase 1 up, Quick Mode under way");
            } else {
                let mut v = Verdict::new(
                    p.peer,
                    Cause::InProgress,
                    "Phase 1 up (QM_IDLE), no Phase 2 requested yet",
                );
                v.verify.push("show crypto isakmp sa: QM_IDLE".into());
                out.push(v);
            }
        }
    }
}

fn flow_label(f: &FlowView) -> String {
    format!("{} <-> {}", f.local_ident, f.remote_ident)
}

fn traffic(p: &PeerInput, out: &mut Vec<Verdict>) {
    let peer = peer_text(p);
    for f in p.flows.iter().filter(|f| f.sa_up) {
        let transport = if f.udp_encap {
            "UDP 4500 (ESP in UDP)"
        } else {
            "ESP (IP protocol 50)"
        };
        if f.encaps >= ONE_WAY_MIN && f.decaps == 0 {
            let mut v = Verdict::new(
                p.peer,
                Cause::OneWayOutbound,
                "Phase 2 up, #pkts encrypt counting and #pkts decrypt at zero: one-way tunnel (nothing comes back)",
            );
            v.evidence.push(format!(
                "{}: #pkts encaps {}, #pkts decaps 0",
                flow_label(f),
                f.encaps
            ));
            match p.vti {
                // Route-based on our side: the peer (a VTI, or a 0.0.0.0/0 policy) encrypts
                // what it routes into its tunnel.
                Some(_) => v.check.push(
                    "the peer does not route the return traffic into its tunnel (its route to our networks via its tunnel interface, or its routing daemon's)".into(),
                ),
                None => v.check.push(format!(
                    "the peer's return traffic ({} -> {}) does not match its crypto ACL, so it leaves in clear",
                    f.remote_ident, f.local_ident
                )),
            }
            v.check.push("the peer translates that traffic by NAT before encryption (no NAT exemption `deny` line on the peer)".into());
            v.check
                .push(format!("a filter drops {transport} from {peer} towards us"));
            let no_nat_t = matches!(
                phase1_up_record(p).map(|r| &r.what),
                Some(Happening::Phase1Up {
                    peer_nat_t: false,
                    ..
                })
            );
            if no_nat_t && !f.udp_encap {
                v.evidence.push(
                    "the peer did not announce NAT-T (no RFC 3947 vendor ID), so ESP travels raw (IP protocol 50): a NAT/PAT device on the path drops or cannot translate it".into(),
                );
                v.check.push("a NAT between the peers while NAT-T is off on one side (`no crypto ipsec nat-transparency udp-encapsulation`)".into());
            }
            v.check.push(
                "routing on the far side: the peer's LAN has no route back through the peer router"
                    .into(),
            );
            v.verify.push(
                "on the peer, show crypto ipsec sa: #pkts decaps counting and #pkts encaps at 0 means it never encrypts the replies (its ACL, NAT exemption or routing); encaps counting too means the path drops its ESP; decaps at 0 means our ESP never reaches it (filter or NAT on the way there)".into(),
            );
            v.verify
                .push("debug crypto ipsec: nothing for the return direction".into());
            out.push(v);
        } else if f.decaps >= ONE_WAY_MIN && f.encaps == 0 {
            let mut v = Verdict::new(
                p.peer,
                Cause::OneWayInbound,
                "Phase 2 up, #pkts decrypt counting and #pkts encrypt at zero: one-way tunnel (we never encrypt the replies)",
            );
            v.evidence.push(format!(
                "{}: #pkts decaps {}, #pkts encaps 0",
                flow_label(f),
                f.decaps
            ));
            match p.vti {
                Some(n) => {
                    v.check.push(format!(
                        "our return traffic is not routed into Tunnel{n}: no `ip route ... Tunnel{n}` (or routing daemon route) to the peer's networks, or a better route elsewhere (show ip route)"
                    ));
                    v.check.push(
                        "routing on our side: our LAN hosts have no route back through this router"
                            .into(),
                    );
                }
                None => {
                    v.check.push(format!(
                        "our return traffic ({} -> {}) does not match our crypto ACL",
                        f.local_ident, f.remote_ident
                    ));
                    v.check.push(
                        "our NAT translates it before encryption (NAT exemption `deny` line missing here)"
                            .into(),
                    );
                    v.check.push("routing on our side: our LAN hosts have no route back through this router, or the crypto map is not on the interface the replies leave by".into());
                }
            }
            v.verify.push("show crypto ipsec sa here: #pkts encaps stays 0; show ip nat translations for the LAN-to-LAN flow".into());
            out.push(v);
        }
        if f.verify_failed > 0 || f.decrypt_failed > 0 {
            let mut v = Verdict::new(
                p.peer,
                Cause::DecryptFailures,
                "ESP packets from the peer fail their integrity check or decryption",
            );
            v.evidence.push(format!(
                "{}: #pkts verify failed {}, other decrypt failures {}, #pkts decaps {}",
                flow_label(f),
                f.verify_failed,
                f.decrypt_failed,
                f.decaps
            ));
            v.check.push(
                "packets corrupted or rewritten on the path (a middlebox touching ESP payloads)"
                    .into(),
            );
            v.check.push("the two sides use different keys for this SPI (an SA replaced on one side only): `clear crypto sa peer` on both".into());
            v.verify.push(
                "%CRYPTO-4-RECVD_PKT_MAC_ERR: decrypt: mac verify failed; show crypto ipsec sa detail: #pkts verify failed, #recv errors".into(),
            );
            out.push(v);
        }
        if f.replay_failed > 0 {
            let mut v = Verdict::new(
                p.peer,
                Cause::ReplayFailures,
                "ESP packets from the peer fail the anti-replay check",
            );
            v.evidence.push(format!(
                "{}: #pkts replay failed {}",
                flow_label(f),
                f.replay_failed
            ));
            v.check.push("reordering on the path (QoS queues after encryption on the peer, load balancing over several links)".into());
            v.check.push("duplicated packets on the path".into());
            v.check.push("a replay window too small for the reordering (`crypto ipsec security-association replay window-size`)".into());
            v.verify.push("%CRYPTO-4-PKT_REPLAY_ERR: decrypt: replay check failed; show crypto ipsec sa detail: #pkts replay failed".into());
            out.push(v);
        }
        if f.oversize > 0
            || (f.plaintext_mtu > 0 && f.largest_plaintext > u32::from(f.plaintext_mtu))
        {
            let mut v = Verdict::new(
                p.peer,
                Cause::Mtu,
                "packets larger than the plaintext MTU of the tunnel: they are fragmented after encryption or dropped",
            );
            v.evidence.push(format!(
                "{}: path mtu {}, plaintext MTU {}, largest cleartext packet {} bytes, {} packets over",
                flow_label(f),
                f.path_mtu,
                f.plaintext_mtu,
                f.largest_plaintext,
                f.oversize
            ));
            v.check.push(format!(
                "clamp TCP MSS on the LAN side (`ip tcp adjust-mss {}`) or lower the LAN MTU",
                u32::from(f.plaintext_mtu).saturating_sub(40)
            ));
            v.check
                .push("ICMP fragmentation-needed filtered somewhere (PMTUD black hole)".into());
            v.verify.push("show crypto ipsec sa: path mtu / ip mtu; ping with df-bit and size above the plaintext MTU fails".into());
            out.push(v);
        }
    }
}

fn nat_floating(now: Instant, p: &PeerInput, out: &mut Vec<Verdict>) {
    let Some(up) = phase1_up_record(p) else {
        return;
    };
    let Happening::Phase1Up {
        nat: true,
        remote_port,
        ..
    } = up.what
    else {
        return;
    };
    let on_500_after = since_phase1(p)
        .filter(|r| {
            matches!(
                r.what,
                Happening::IkeReceived {
                    remote_port: 500,
                    local_port: 500,
                    ..
                }
            )
        })
        .count();
    let raw = p.history.raw_esp_behind_nat;
    if on_500_after == 0 && raw == 0 && remote_port != 500 {
        return;
    }
    let mut v = Verdict::new(
        p.peer,
        Cause::NatNotFloating,
        "NAT detected, but the peer does not float to UDP 4500",
    );
    v.evidence.push(format!(
        "Phase 1 completed {} with NAT detected; peer port after Main Mode {remote_port}; IKE on UDP 500 since: {on_500_after}; raw ESP (protocol 50) from the peer: {raw}",
        ago(now, up.at)
    ));
    v.check.push("`crypto isakmp nat-traversal` (or `no crypto ipsec nat-transparency udp-encapsulation`) on the peer".into());
    v.check
        .push("a NAT device that rewrites UDP 4500 back to 500".into());
    v.verify.push("show crypto ipsec sa: current_peer ... port 500 instead of 4500, `in use settings ={Tunnel, }` without UDP-Encaps; show crypto isakmp sa detail: no N capability".into());
    out.push(v);
}

fn invalid_spi(now: Instant, p: &PeerInput, out: &mut Vec<Verdict>) {
    let h = &p.history;
    if h.invalid_spi == 0 {
        return;
    }
    let last = h.events.iter().rev().find_map(|r| match r.what {
        Happening::InvalidSpi { spi } => Some((r.at, spi)),
        _ => None,
    });
    let mut v = Verdict::new(
        p.peer,
        Cause::InvalidSpi,
        "the peer sends ESP with SPIs we have no SA for",
    );
    let mut e = format!("{} packets with an unknown SPI", h.invalid_spi);
    if let Some((at, spi)) = last {
        e.push_str(&format!(", last SPI 0x{spi:08X} {}", ago(now, at)));
    }
    v.evidence.push(e);
    v.check.push("one side rebooted or cleared its SAs and the other still uses the old ones (no INITIAL-CONTACT, Delete lost): `clear crypto sa peer` on the peer".into());
    v.check.push(
        "enable DPD (`crypto isakmp keepalive`) and `crypto isakmp invalid-spi-recovery`".into(),
    );
    v.verify.push(format!(
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for destaddr={}, prot=50, spi=0x...",
        local_text(p)
    ));
    out.push(v);
}

/// IKE from an address no crypto map entry names: a wrong `set peer` on our side (the peer
/// is really at `addr`), or a NAT in front of the peer. `None` when nothing arrived.
pub fn diagnose_stranger(now: Instant, addr: IpAddr, h: &PeerHistory) -> Option<Verdict> {
    if h.ike_rx == 0 {
        return None;
    }
    let mut v = Verdict::new(
        Some(addr),
        Cause::UnknownPeer,
        "IKE arrives from an address that is no configured peer",
    );
    v.evidence.push(format!(
        "{} IKE datagrams received, {}",
        h.ike_rx,
        h.last_rx.map_or_else(
            || "never".to_string(),
            |t| format!("the last {}", ago(now, t))
        )
    ));
    if let Some((at, text)) = h.events.iter().rev().find_map(|r| match &r.what {
        Happening::Failed { text, .. } => Some((r.at, text)),
        _ => None,
    }) {
        v.evidence.push(format!("{text} ({})", ago(now, at)));
    }
    v.check.push(format!(
        "if {addr} is the peer: `set peer {addr}` and `crypto isakmp key <key> address {addr}`"
    ));
    v.check.push(format!(
        "a NAT between us translates the peer's address to {addr}"
    ));
    v.verify.push(format!(
        "debug crypto isakmp: `received packet from {addr} dport 500 sport 500 Global (R) MM_NO_STATE`, `No pre-shared key with {addr}!`"
    ));
    Some(v)
}

/// Configuration-level findings: every lint of [`crate::ios::check()`] (missing NAT exemption,
/// peer without key, incomplete map entry, ...) as a verdict.
pub fn diagnose_config(cfg: &GatewayConfig) -> Vec<Verdict> {
    check(cfg, None)
        .into_iter()
        .map(|l| {
            let mut v = Verdict::new(None, Cause::Config, l.message.clone());
            v.evidence.push(format!("{} ({:?})", l.severity, l.kind));
            if l.kind == LintKind::MissingNatExemption {
                v.check.push("put a `deny` line for the LAN-to-LAN traffic before the `permit` of the NAT ACL".into());
                v.verify.push("show ip nat translations: LAN-to-LAN flows translated; show crypto ipsec sa: counters 0, no IKE debug when pinging".into());
            }
            if l.severity == Severity::Error {
                v.verify.push("ipsec-engine check <config>".into());
            }
            v
        })
        .collect()
}

/// The whole diagnosis: configuration findings first, then each peer.
pub fn diagnose(now: Instant, cfg: Option<&GatewayConfig>, peers: &[PeerInput]) -> Vec<Verdict> {
    let mut out = cfg.map(diagnose_config).unwrap_or_default();
    for p in peers {
        out.extend(diagnose_peer(now, p));
    }
    out
}

/// rsa-sig refused at MM5/MM6: which certificate fault, and what to look at for it.
fn certificate_verdict(
    now: Instant,
    p: &PeerInput,
    at: Instant,
    what: super::CertProblem,
    text: &str,
) -> Verdict {
    use super::CertProblem as C;
    let (summary, check): (&str, &str) = match what {
        C::Expired => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's certificate has expired",
            "renew the peer's certificate (`show crypto pki certificates` on the peer: `end date`), and check both clocks (`show clock`)",
        ),
        C::NotYetValid => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's certificate is not valid yet",
            "a clock is wrong on one side (`show clock`), or the certificate was issued with a future start date",
        ),
        C::UnknownCa => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's certificate comes from a CA we do not trust",
            "`crypto pki certificate chain T` must hold the issuing CA as `certificate ca`, and the profile's `ca trust-point T` must name that trustpoint (`show crypto pki trustpoints`)",
        ),
        C::Revocation => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's certificate is revoked, or its CA has no CRL loaded",
            "a revoked certificate must be replaced; for `revocation-check crl` the CA's CRL must be in the key directory as TRUSTPOINT.crl (or `revocation-check crl none`)",
        ),
        C::Identity => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's identity does not match its certificate",
            "the peer's `crypto isakmp identity` must be its certificate's subject (`dn`) or one of its subjectAltNames (`hostname`, `address`); `match certificate` maps must take it",
        ),
        C::NoCertificate => (
            "Phase 1 fails at MM_KEY_EXCH: the peer sent no certificate (our certificate request went unanswered)",
            "the peer needs a certificate issued by a CA our CR names (`show crypto pki trustpoints` here; on strongSwan `send_cert`), and its trustpoint must hold it",
        ),
        C::Signature => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's signature does not verify with its certificate",
            "the peer's private key must be the one its certificate certifies (`rsakeypair` of its trustpoint)",
        ),
        C::Invalid => (
            "Phase 1 fails at MM_KEY_EXCH: the peer's certificate is invalid",
            "the certificate chain the peer sends (keyUsage digitalSignature, a valid CA signature)",
        ),
        C::Local => (
            "Phase 1 fails at MM_KEY_EXCH: certificate authentication cannot run here",
            "the gateway's clock (certificate dates) and its own key (`--key-dir`)",
        ),
    };
    let mut v = Verdict::new(p.peer, Cause::CertificateRefused, summary);
    v.evidence.push(format!("{} ({})", text, ago(now, at)));
    v.check.push(check.into());
    v.verify.push(
        "show crypto pki certificates (both sides); debug crypto isakmp: the MM5/MM6 certificate lines"
            .into(),
    );
    v
}
