//! Lifecycle against strongSwan 5.9.8: Phase 2 rekeys by each side under a continuous ping,
//! Deletes each way, Dead Peer Detection of a killed peer, INITIAL-CONTACT after a restart.
//! Same lab as `interop_strongswan.rs`; each test needs root and the lab packages.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant as StdInstant};

use common::*;
use ipsec_examples::packet::{icmp_echo_request, parse_icmp_echo, ICMP_ECHO_REPLY};
use ipsec_netlab::{addr, require_root_and_tools, Charon, CharonConn};
use ipsec_proto::ike::{DeleteReason, Event};
use ipsec_proto::policy::ipsec::{DpdConfig, DpdMode};
use ipsec_proto::policy::GatewayConfig;
use ipsec_proto::tunnel::{IkeEvent, TunVerdict};

const SEED_IKE: &str = "3des-sha1-modp1024";
const SEED_ESP: &str = "3des-sha1";

/// Outcome of a continuous ping.
#[derive(Debug, Default)]
struct PingRun {
    sent: u32,
    answered: u32,
    /// Requests the tunnel did not protect (no SA pair for them).
    unsendable: u32,
    missing: Vec<u16>,
}

impl PingRun {
    fn add(&mut self, r: PingRun) {
        self.sent += r.sent;
        self.answered += r.answered;
        self.unsendable += r.unsendable;
        self.missing.extend(r.missing);
    }

    /// Every request that left got its reply.
    fn assert_all_answered(&self, lab: &Lab) {
        assert_eq!(
            self.answered,
            self.sent,
            "lost pings {:?}\n{}",
            self.missing,
            lab.diag()
        );
    }
}

/// One echo request every `every` for `duration`, then up to 10 s for the last replies.
fn continuous_ping(lab: &mut Lab, duration: Duration, every: Duration, ident: u16) -> PingRun {
    let mut run = PingRun::default();
    let mut answered = BTreeSet::new();
    let start = StdInstant::now();
    let mut next = start;
    let mut seq: u16 = 0;
    let drain = |lab: &mut Lab, answered: &mut BTreeSet<u16>| {
        lab.step(Duration::from_millis(20));
        while let Some(p) = lab.driver.recv_packet() {
            if let Some(e) = parse_icmp_echo(&p) {
                if e.icmp_type == ICMP_ECHO_REPLY && e.ident == ident {
                    answered.insert(e.seq);
                }
            }
        }
    };
    while start.elapsed() < duration {
        if StdInstant::now() >= next {
            seq += 1;
            let req = icmp_echo_request(ip(addr::HOST_A), ip(addr::HOST_B), ident, seq, b"rekey");
            match lab.driver.send_packet(&req) {
                Ok(TunVerdict::Protected) => run.sent += 1,
                _ => run.unsendable += 1,
            }
            next += every;
        }
        drain(lab, &mut answered);
    }
    let tail_until = StdInstant::now() + Duration::from_secs(10);
    while (answered.len() as u32) < run.sent && StdInstant::now() < tail_until {
        drain(lab, &mut answered);
    }
    run.answered = answered.len() as u32;
    run.missing = (1..=seq).filter(|s| !answered.contains(s)).collect();
    run
}

/// Continuous ping (4 per second, in rounds of `round`) while `more` holds, for `limit` at most.
fn ping_while(
    lab: &mut Lab,
    limit: Duration,
    round: Duration,
    ident: u16,
    more: impl Fn(&Lab) -> bool,
) -> PingRun {
    let mut run = PingRun::default();
    let until = StdInstant::now() + limit;
    while more(lab) && StdInstant::now() < until {
        run.add(continuous_ping(
            lab,
            round,
            Duration::from_millis(250),
            ident,
        ));
    }
    run
}

/// The seed suites with `tweak` on strongSwan's side and `ours` on our IOS configuration; we
/// initiate, wait for the first IPsec SA pair and, with `first_ping`, send one echo through it.
fn seed_lab_up(
    tag: &str,
    seed: u64,
    tweak: impl FnOnce(CharonConn) -> CharonConn,
    ours: impl FnOnce(&mut GatewayConfig),
    first_ping: Option<u16>,
) -> Lab {
    let mut lab = Lab::with(tag, SEED_IKE, SEED_ESP, seed, tweak, ours);
    lab.initiate();
    lab.wait_phase2(1);
    if let Some(ident) = first_ping {
        lab.ping(1, ident);
    }
    lab
}

fn phase1_deletes(lab: &Lab, reason: DeleteReason) -> usize {
    lab.endpoint_events()
        .filter(|e| matches!(e, Event::Phase1Deleted { reason: r, .. } if *r == reason))
        .count()
}

fn count_p2(lab: &Lab, rekeys_by_us: bool) -> usize {
    lab.phase2s()
        .iter()
        .skip(1)
        .filter(|p| p.replaces.is_some() == rekeys_by_us)
        .count()
}

fn deletes(lab: &Lab, reason: DeleteReason) -> usize {
    lab.endpoint_events()
        .filter(|e| matches!(e, Event::Phase2Deleted { reason: r, .. } if *r == reason))
        .count()
}

/// strongSwan rekeys the IPsec SA pair every ~20 s (rekey_time = 20s): three rekeys under a
/// 4-per-second ping with no loss.
#[test]
fn strongswan_rekeys_phase2_under_ping() {
    if !require_root_and_tools() {
        return;
    }
    // The very first packet may beat strongSwan's SA installation after QM3 (see Lab::ping);
    // what is measured here is loss across rekeys.
    let mut lab = seed_lab_up("ssrekey", 11, |c| c.rekey_time(20), |_| {}, Some(0x5000));
    let run = ping_while(
        &mut lab,
        Duration::from_secs(150),
        Duration::from_secs(10),
        0x5001,
        |lab| count_p2(lab, false) < 3,
    );
    let rekeys = count_p2(&lab, false);
    let charon_rekeys = lab
        .charon
        .log()
        .matches("activating QUICK_MODE task")
        .count();
    eprintln!(
        "strongSwan rekeys seen by us: {rekeys} (charon QUICK_MODE tasks: {charon_rekeys}); \
         peer deletes: {}; ping {run:?}",
        deletes(&lab, DeleteReason::PeerDelete)
    );
    assert!(rekeys >= 3, "{}", lab.diag());
    assert!(run.sent > 0 && run.unsendable == 0, "{run:?}");
    run.assert_all_answered(&lab);
    // The old pairs went away by strongSwan's Delete, and only the current one is installed.
    assert!(
        deletes(&lab, DeleteReason::PeerDelete) >= 2,
        "{}",
        lab.diag()
    );
    assert!(lab.installed().len() <= 2, "{:?}", lab.installed());
    lab.check_keys();
}

/// We rekey: our Phase 2 lifetime is 20 s (`set security-association lifetime seconds 20`,
/// below IOS's minimum of 120, so set on the parsed configuration), so the endpoint starts a Quick Mode 10 s after each
/// pair is up (rekey margin = half the lifetime) and deletes the old pair at expiry.
#[test]
fn we_rekey_phase2_under_ping() {
    if !require_root_and_tools() {
        return;
    }
    // The very first packet may beat strongSwan's SA installation after QM3 (see Lab::ping);
    // what is measured here is loss across rekeys.
    let mut lab = seed_lab_up(
        "ourrekey",
        12,
        |c| c,
        |cfg| cfg.crypto_maps[0].lifetime_secs = Some(20),
        Some(0x5000),
    );
    let run = ping_while(
        &mut lab,
        Duration::from_secs(150),
        Duration::from_secs(10),
        0x5002,
        |lab| count_p2(lab, true) < 3,
    );
    let rekeys = count_p2(&lab, true);
    eprintln!(
        "our rekeys: {rekeys}; strongSwan-initiated: {}; expired: {}; ping {run:?}",
        count_p2(&lab, false),
        deletes(&lab, DeleteReason::Expired)
    );
    assert!(rekeys >= 3, "{}", lab.diag());
    assert!(run.sent > 0 && run.unsendable == 0, "{run:?}");
    run.assert_all_answered(&lab);
    let log = lab.charon.log();
    assert!(
        log.matches("received DELETE for ESP CHILD_SA").count() >= 2,
        "strongSwan saw our Deletes of the expired pairs\n{}",
        lab.diag()
    );
    lab.check_keys();
}

/// Deletes each way, for an IPsec SA pair and for the ISAKMP SA.
#[test]
fn deletes_each_way() {
    if !require_root_and_tools() {
        return;
    }
    let mut lab = seed_lab_up("delete", 13, |c| c, |_| {}, Some(0x5003));

    // strongSwan deletes the IPsec SA pair: we remove it from the data path.
    lab.charon.terminate_child("net").unwrap();
    let ok = lab.run_until(NEGOTIATION_TIMEOUT, |ev| {
        ev.iter().any(|e| {
            matches!(
                e,
                IkeEvent::Endpoint(Event::Phase2Deleted {
                    reason: DeleteReason::PeerDelete,
                    ..
                })
            )
        })
    });
    assert!(ok, "no Phase2Deleted(PeerDelete)\n{}", lab.diag());
    assert!(lab.installed().is_empty(), "{:?}", lab.installed());

    // A new pair over the same ISAKMP SA (traffic asks for it), then we delete it.
    lab.initiate();
    lab.wait_phase2(2);
    lab.ping(1, 0x5004);
    let spi = lab.phase2s()[1].spi_in;
    let now = lab.driver.now();
    lab.driver.tunnel_mut().delete_sa(now, spi).unwrap();
    lab.flush();
    lab.run_for(Duration::from_millis(200));
    lab.charon
        .wait_log(
            &format!("received DELETE for ESP CHILD_SA with SPI {spi:08x}"),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.diag()));
    let sas = lab.charon.list_sas().unwrap();
    assert!(!sas.contains("INSTALLED"), "{sas}");
    assert!(sas.contains("ESTABLISHED"), "ISAKMP SA stays: {sas}");

    // We delete the ISAKMP SA.
    let now = lab.driver.now();
    let sa = lab.isakmp_sas()[0].conn_id;
    assert_eq!(lab.driver.tunnel_mut().clear_isakmp(now, Some(sa)), 1);
    lab.flush();
    lab.run_for(Duration::from_millis(200));
    lab.charon
        .wait_log("received DELETE for IKE_SA", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.diag()));

    // strongSwan sets up a new ISAKMP SA and deletes it: we see its Delete.
    lab.peer_initiates_again(3);
    lab.charon.terminate_ike("gw").unwrap();
    let ok = lab.run_until(NEGOTIATION_TIMEOUT, |ev| {
        ev.iter().any(|e| {
            matches!(
                e,
                IkeEvent::Endpoint(Event::Phase1Deleted {
                    reason: DeleteReason::PeerDelete,
                    ..
                })
            )
        })
    });
    assert!(ok, "no Phase1Deleted(PeerDelete)\n{}", lab.diag());
    assert!(lab.isakmp_sas().is_empty(), "{:?}", lab.isakmp_sas());
}

fn kill_charon(charon: &Charon) {
    let pid = charon.pid().expect("charon running");
    // SIGKILL: no Deletes leave, exactly like a crash or a power cut.
    let st = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Periodic DPD answered while strongSwan runs; a killed strongSwan is declared dead. (`crypto
/// isakmp keepalive 3 2 periodic`: 3 s is below IOS's minimum of 10, so it is set on the parsed
/// configuration.)
#[test]
fn dpd_detects_killed_peer() {
    if !require_root_and_tools() {
        return;
    }
    let mut lab = seed_lab_up(
        "dpd",
        14,
        |c| c,
        |cfg| {
            cfg.ipsec.dpd = Some(DpdConfig {
                interval_secs: 3,
                retry_secs: 2,
                mode: DpdMode::Periodic,
            })
        },
        Some(0x5005),
    );
    // Alive: R-U-THERE answered, nobody declared dead.
    lab.run_for(Duration::from_secs(8));
    assert!(
        lab.charon.log().contains("N(DPD)"),
        "strongSwan received R-U-THERE\n{}",
        lab.diag()
    );
    assert!(
        !lab.endpoint_events()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "{}",
        lab.diag()
    );
    kill_charon(&lab.charon);
    let t = StdInstant::now();
    let ok = lab.run_until(Duration::from_secs(120), |ev| {
        ev.iter()
            .any(|e| matches!(e, IkeEvent::Endpoint(Event::PeerDead { .. })))
    });
    assert!(ok, "PeerDead not reported\n{}", lab.diag());
    eprintln!("peer declared dead {:?} after the kill", t.elapsed());
    assert!(
        phase1_deletes(&lab, DeleteReason::DpdTimeout) > 0,
        "{}",
        lab.diag()
    );
}

/// strongSwan's own DPD (`dpd_delay = 1s`): every R-U-THERE gets our R-U-THERE-ACK, and
/// strongSwan keeps the ISAKMP SA (the other direction is `dpd_detects_killed_peer`).
#[test]
fn strongswan_dpd_answered() {
    if !require_root_and_tools() {
        return;
    }
    let mut lab = seed_lab_up("dpdsw", 21, |c| c.dpd(1, "clear"), |_| {}, None);
    lab.run_for(Duration::from_millis(4500));
    let log = lab.charon.log();
    let acks = log
        .lines()
        .filter(|l| l.contains("parsed INFORMATIONAL_V1") && l.contains("N(DPD_ACK)"))
        .count();
    assert!(
        acks >= 3,
        "strongSwan got our R-U-THERE-ACKs ({acks})\n{}",
        lab.diag()
    );
    assert!(
        lab.charon.list_sas().unwrap().contains("ESTABLISHED"),
        "{}",
        lab.diag()
    );
}

/// strongSwan crashes and comes back: its new Main Mode carries INITIAL-CONTACT, so we drop
/// every SA of the old incarnation and traffic flows on the new pair.
#[test]
fn initial_contact_after_strongswan_restart() {
    if !require_root_and_tools() {
        return;
    }
    let mut lab = seed_lab_up("initc", 15, |c| c, |_| {}, None);
    lab.ping(2, 0x5006);
    kill_charon(&lab.charon);
    lab.charon = Charon::start(&lab.topo.gw_b, std::slice::from_ref(&lab.conn)).unwrap();
    lab.charon.load_all().unwrap();
    lab.peer_initiates_again(2);
    assert!(
        lab.charon.log().contains("N(INITIAL_CONTACT)"),
        "MM5 carried INITIAL-CONTACT\n{}",
        lab.diag()
    );
    let ic_p1 = phase1_deletes(&lab, DeleteReason::InitialContact);
    let ic_p2 = deletes(&lab, DeleteReason::InitialContact);
    assert_eq!((ic_p1, ic_p2), (1, 1), "{}", lab.diag());
    assert_eq!(lab.installed().len(), 1, "{:?}", lab.installed());
    assert_eq!(lab.isakmp_sas().len(), 1);
    lab.ping(3, 0x5007);
    lab.check_keys();
}

fn phase1_up(lab: &Lab) -> Vec<ipsec_proto::ike::Role> {
    lab.endpoint_events()
        .filter_map(|e| match e {
            Event::Phase1Established { role, .. } => Some(*role),
            _ => None,
        })
        .collect()
}

/// strongSwan replaces the ISAKMP SA (IKEv1: a new Main Mode, ike rekey_time = 30s) under a
/// continuous ping: the IPsec SAs survive, the old ISAKMP SA is deleted, nothing is lost.
#[test]
fn strongswan_replaces_phase1_under_ping() {
    if !require_root_and_tools() {
        return;
    }
    let mut lab = seed_lab_up("ssp1", 16, |c| c.ike_rekey_time(30), |_| {}, Some(0x5010));
    let mut run = ping_while(
        &mut lab,
        Duration::from_secs(120),
        Duration::from_secs(5),
        0x5011,
        |lab| phase1_up(lab).len() < 2,
    );
    // A little more traffic and time for the old SA's Delete.
    run.add(continuous_ping(
        &mut lab,
        Duration::from_secs(5),
        Duration::from_millis(250),
        0x5012,
    ));
    eprintln!("Phase 1 establishments {:?}; ping {run:?}", phase1_up(&lab));
    assert!(phase1_up(&lab).len() >= 2, "{}", lab.diag());
    run.assert_all_answered(&lab);
    let sas = lab.isakmp_sas();
    assert_eq!(
        sas.iter()
            .filter(|s| s.state == ipsec_proto::ike::IsakmpState::QmIdle)
            .count(),
        1,
        "old ISAKMP SA gone: {sas:?}\n{}",
        lab.diag()
    );
    assert!(!lab.installed().is_empty());
    lab.check_keys();
}

/// We replace the ISAKMP SA: policy lifetime 40 s (below IOS's minimum of 60, so set on the
/// parsed configuration), new Main Mode at 90 % (36 s) while the IPsec
/// SA pair exists; strongSwan accepts it and traffic keeps flowing.
#[test]
fn we_replace_phase1_under_ping() {
    if !require_root_and_tools() {
        return;
    }
    let mut lab = seed_lab_up(
        "ourp1",
        17,
        |c| c,
        |cfg| cfg.isakmp_policies[0].lifetime_secs = 40,
        Some(0x5020),
    );
    let mut run = ping_while(
        &mut lab,
        Duration::from_secs(120),
        Duration::from_secs(5),
        0x5021,
        |lab| phase1_up(lab).len() < 2,
    );
    // Past the old SA's expiry (40 s).
    run.add(continuous_ping(
        &mut lab,
        Duration::from_secs(8),
        Duration::from_millis(250),
        0x5022,
    ));
    let p1_deleted: Vec<_> = lab
        .endpoint_events()
        .filter_map(|e| match e {
            Event::Phase1Deleted { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    eprintln!(
        "Phase 1 establishments {:?}; Phase 1 deletions {p1_deleted:?}; ping {run:?}",
        phase1_up(&lab)
    );
    assert_eq!(
        phase1_up(&lab)[..2],
        [ipsec_proto::ike::Role::Initiator; 2],
        "{}",
        lab.diag()
    );
    run.assert_all_answered(&lab);
    assert!(!lab.installed().is_empty());
    assert!(
        lab.charon.log().contains("received DELETE for IKE_SA"),
        "our Delete of the expired ISAKMP SA reached strongSwan\n{}",
        lab.diag()
    );
    // A Quick Mode on the new ISAKMP SA works too.
    let before = lab.phase2s().len();
    let spi = lab.installed()[0].0;
    let now = lab.driver.now();
    lab.driver.tunnel_mut().rekey_sa(now, spi).unwrap();
    lab.flush();
    lab.wait_phase2(before + 1);
    lab.ping(2, 0x5023);
    lab.check_keys();
}

/// How long our initiator takes at most to give up on an unanswered MM5: the endpoint's
/// retransmission schedule as the tunnel layer runs it (2 s doubling to 32 s, five
/// retransmissions, up to 10 % jitter: about 100 s), with room for a loaded machine. IOS offers
/// no command to shorten it.
const MM5_GIVE_UP: Duration = Duration::from_secs(150);

fn failed_in_phase(ev: &[IkeEvent], phase: u8) -> bool {
    ev.iter().any(|e| {
        matches!(e, IkeEvent::Endpoint(Event::NegotiationFailed { phase: p, .. }) if *p == phase)
    })
}

/// A wrong pre-shared key fails on both sides with evidence, in both roles; a suite strongSwan
/// does not offer is refused with NO-PROPOSAL-CHOSEN.
#[test]
fn wrong_psk_and_no_proposal_chosen() {
    if !require_root_and_tools() {
        return;
    }
    // Our initiator, strongSwan with another key.
    let mut lab = Lab::with(
        "badpsk",
        SEED_IKE,
        SEED_ESP,
        18,
        |c| c.psk("not-the-same-key"),
        |_| {},
    );
    lab.initiate();
    let t = StdInstant::now();
    let failed = lab.run_until(MM5_GIVE_UP, |ev| failed_in_phase(ev, 1));
    assert!(failed, "{}", lab.diag());
    assert!(lab.phase2s().is_empty());
    let log = lab.charon.log();
    eprintln!(
        "our initiator, wrong PSK, after {:?}: {:?}",
        t.elapsed(),
        lab.failures()
    );
    // Our side names the likely cause: no MM6 after MM5 means the peer could not decrypt it.
    assert!(
        lab.failures()
            .iter()
            .any(|f| f.contains("MM_KEY_EXCH") && f.contains("pre-shared key mismatch")),
        "{}",
        lab.diag()
    );
    assert!(
        log.contains("decryption failed")
            || log.contains("integrity check failed")
            || log.contains("HASH"),
        "strongSwan noticed\n{}",
        lab.diag()
    );

    // strongSwan initiates with a key we do not share: our responder refuses MM5.
    let mut lab = Lab::with(
        "badpsk2",
        SEED_IKE,
        SEED_ESP,
        19,
        |c| c.psk("not-the-same-key"),
        |_| {},
    );
    let r = lab.while_charon(
        |c| c.swanctl(&["--initiate", "--child", "net", "--timeout", "20"]),
        Duration::from_secs(25),
        |finished, ev| finished || failed_in_phase(ev, 1),
    );
    eprintln!(
        "our responder, wrong PSK: {:?}; swanctl: {r:?}",
        lab.failures()
    );
    assert!(!lab.failures().is_empty(), "{}", lab.diag());
    assert!(lab.phase2s().is_empty());

    // Phase 2 proposal mismatch: we offer AES-256, strongSwan accepts only 3DES.
    let mut lab = Lab::with(
        "noprop",
        SEED_IKE,
        SEED_ESP,
        20,
        |c| c,
        |cfg| {
            let (ts, _) = ipsec_examples::config::transform_set("AES", "aes256-sha256").unwrap();
            cfg.transform_sets = vec![ts];
            cfg.crypto_maps[0].transform_sets = vec!["AES".into()];
        },
    );
    lab.initiate();
    let failed = lab.run_until(NEGOTIATION_TIMEOUT, |ev| failed_in_phase(ev, 2));
    let notified = lab.endpoint_events().any(|e| {
        matches!(e, Event::NotifyReceived { notify, authenticated: true, .. }
            if *notify == ipsec_proto::ike::NotifyType::NO_PROPOSAL_CHOSEN)
    });
    eprintln!(
        "Phase 2 mismatch: failures {:?}, authenticated NO-PROPOSAL-CHOSEN received: {notified}",
        lab.failures()
    );
    // strongSwan names SPI 0 in its refusal; the Quick Mode must still fail at once with the
    // notify as the reason (not after five retransmissions of QM1).
    assert!(failed && notified, "{}", lab.diag());
    assert!(
        lab.failures()
            .iter()
            .any(|f| f.contains("NO-PROPOSAL-CHOSEN")),
        "{}",
        lab.diag()
    );
    assert_eq!(
        lab.driver
            .tunnel()
            .tunnels()
            .endpoint()
            .counters()
            .retransmissions,
        0
    );
    assert!(lab.phase2s().is_empty());
    assert!(
        lab.charon.log().contains("no matching proposal found"),
        "{}",
        lab.diag()
    );
}
