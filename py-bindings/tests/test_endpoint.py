"""Two endpoints in memory with an explicit clock (ports of aioquic's connection tests)."""

from __future__ import annotations

import pytest

import ipsec
from conftest import A_ADDR, B_ADDR, Pair, client_and_server

# Datagram order of a clean negotiation: (sender, index of that sender's datagram).
MESSAGES = {
    "MM1": ("a", 0),
    "MM2": ("b", 0),
    "MM3": ("a", 1),
    "MM4": ("b", 1),
    "MM5": ("a", 2),
    "MM6": ("b", 2),
    "QM1": ("a", 3),
    "QM2": ("b", 3),
    "QM3": ("a", 4),
}


def established(p: Pair) -> bool:
    return bool(p.of("a", ipsec.Phase2Established)) and bool(p.of("b", ipsec.Phase2Established))


def run_until_established(p: Pair, max_timers: int = 10) -> None:
    p.roundtrip_until_done()
    for _ in range(max_timers):
        if established(p):
            return
        p.advance_to_timer()
        p.roundtrip_until_done()
    assert established(p), (p.events, p.a.counters, p.b.counters)


def test_connect_to_qm_idle(pair: Pair) -> None:
    pair.a.initiate(0, now=pair.now)
    pair.roundtrip_until_done()
    # Main Mode (6) + Quick Mode (3) with nothing lost, all at t=0.
    assert pair.sent == {"a": 5, "b": 4}
    (p1a,) = pair.of("a", ipsec.Phase1Established)
    (p1b,) = pair.of("b", ipsec.Phase1Established)
    assert (p1a.role, p1b.role) == ("initiator", "responder")
    assert p1a.remote == (B_ADDR, 500) and p1b.remote == (A_ADDR, 500)
    assert not p1a.nat_detected
    (ca,) = pair.of("a", ipsec.Phase2Established)
    (cb,) = pair.of("b", ipsec.Phase2Established)
    assert (ca.spi_in, ca.spi_out) == (cb.spi_out, cb.spi_in)
    assert ca.local_selector == ipsec.TrafficSelector("192.168.1.0/24")
    assert ca.remote_selector == cb.local_selector
    assert ca.transforms == "esp-3des esp-sha-hmac" and ca.lifetime_secs == 3600
    for ep in (pair.a, pair.b):
        (sa,) = ep.isakmp_sas(now=pair.now)
        assert sa["state"] == "QM_IDLE"
        assert sa["encryption"] == "3des" and sa["group"] == 2
        assert "QM_IDLE" in ep.show_crypto_isakmp_sa(now=pair.now)
    # Events are frozen dataclasses.
    with pytest.raises(Exception):
        ca.child = 7  # type: ignore[misc]


def test_connect_with_loss_of_mm1() -> None:
    """aioquic's test_connect_with_loss_1: the first datagram is lost; the timer says when the
    retransmission goes out, and the handshake completes then, not before."""
    with client_and_server() as p:
        p.drop = lambda side, i, data: (side, i) == ("a", 0)
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        # Nothing but a's new ISAKMP SA in MM_NO_STATE: b never saw MM1.
        states = [e for e in p.events["a"] if isinstance(e, ipsec.Phase1StateChanged)]
        assert [(e.from_state, e.to_state) for e in states] == [(None, "MM_NO_STATE")]
        assert len(p.events["a"]) == len(states) and p.events["b"] == []
        assert p.b.counters["malformed"] == 0 and p.sent == {"a": 1, "b": 0}
        timer = p.a.get_timer()
        # retransmit_initial 2 s plus at most 10 % jitter.
        assert timer is not None and 2.0 <= timer <= 2.2
        # Nothing happens before the deadline.
        p.a.handle_timer(now=timer - 0.01)
        assert p.a.datagrams_to_send(now=timer - 0.01) == []
        p.now = timer
        p.a.handle_timer(now=p.now)
        p.roundtrip_until_done()
        assert established(p)
        assert p.a.counters["retransmissions"] == 1
        # The next timer is a later one (lifetimes, linger), not another retransmission.
        assert p.a.get_timer() is None or p.a.get_timer() > timer + 2.0


@pytest.mark.parametrize("lost", list(MESSAGES))
def test_loss_of_each_message(lost: str) -> None:
    side, index = MESSAGES[lost]
    with client_and_server() as p:
        p.drop = lambda s, i, data: (s, i) == (side, index)
        p.a.initiate(0, now=0.0)
        run_until_established(p)
        assert p.now > 0.0, "recovery must have waited for a timer"
        (ca,) = p.of("a", ipsec.Phase2Established)
        (cb,) = p.of("b", ipsec.Phase2Established)
        assert (ca.spi_in, ca.spi_out) == (cb.spi_out, cb.spi_in)
        assert p.a.counters["retransmissions"] + p.b.counters["retransmissions"] >= 1
        # Both sides derived the same keys: ESP flows both ways.
        a_in, a_out = ipsec.EspSa.pair_from_event(ca, now=p.now)
        b_in, b_out = ipsec.EspSa.pair_from_event(cb, now=p.now)
        inner = bytes(range(60))
        assert b_in.decapsulate(a_out.encapsulate(inner, now=p.now), now=p.now) == inner
        assert a_in.decapsulate(b_out.encapsulate(inner, now=p.now), now=p.now) == inner


def test_no_reply_gives_up_with_no_reply_error() -> None:
    with client_and_server(retransmit_retries=2, retransmit_jitter_percent=0) as p:
        p.drop = lambda side, i, data: side == "a"
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        times = []
        while not p.of("a", ipsec.NegotiationFailed):
            times.append(p.advance_to_timer())
            p.roundtrip_until_done()
            assert len(times) < 10
        # Retransmissions at 2 s and 2 + 4 s, giving up 8 s after the last one.
        assert times == [2.0, 6.0, 14.0]
        (failed,) = p.of("a", ipsec.NegotiationFailed)
        assert failed.phase == 1 and failed.remote == (B_ADDR, 500)
        assert isinstance(failed.error, ipsec.NoReplyError)
        assert isinstance(failed.error, TimeoutError)
        assert "MM_NO_STATE" in str(failed.error)
        assert p.a.counters["retransmissions"] == 2


def test_psk_mismatch_is_an_authentication_error() -> None:
    with client_and_server(b_kwargs={"psk": "otherkey"}) as p:
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        failed = p.of("b", ipsec.NegotiationFailed)
        assert failed, p.events
        assert isinstance(failed[0].error, ipsec.AuthenticationError)
        assert "pre-shared" in str(failed[0].error)
        assert not established(p)


def test_transform_mismatch_is_peer_incompatible() -> None:
    with client_and_server(b_kwargs={"transforms": "esp-aes 256 esp-sha-hmac"}) as p:
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        assert p.of("a", ipsec.Phase1Established) and p.of("b", ipsec.Phase1Established)
        (failed,) = p.of("b", ipsec.NegotiationFailed)
        assert failed.phase == 2
        assert isinstance(failed.error, ipsec.PeerIncompatibleError)
        assert failed.notify == "NO-PROPOSAL-CHOSEN"
        assert failed.evidence["kind"] == "phase2", failed.evidence
        assert [t for _, t in failed.evidence["ours"]] == ["esp-aes 256 esp-sha-hmac"]
        assert failed.evidence["offered"] and all(
            o["text"] in str(failed.error) for o in failed.evidence["offered"])
        notes = p.of("a", ipsec.NotifyReceived)
        assert any(n.notify == "NO-PROPOSAL-CHOSEN" and n.authenticated for n in notes), p.events


def test_malformed_datagrams_are_dropped_and_counted(pair: Pair) -> None:
    junk = [b"", b"\x01", bytes(27), b"\xff" * 40, bytes(8) + b"\x01\x10\x02\x00" + bytes(100)]
    for data in junk:
        pair.b.receive_datagram(data, local=(B_ADDR, 500), remote=(A_ADDR, 500), now=0.0)
    assert pair.b.counters["malformed"] + pair.b.counters["unknown_sa"] >= len(junk) - 1
    assert pair.b.datagrams_to_send(now=0.0) == []
    assert pair.b.next_event() is None
    # The endpoint still works afterwards.
    pair.a.initiate(0, now=0.0)
    pair.roundtrip_until_done()
    assert established(pair)


def test_api_misuse_raises_value_error(pair: Pair) -> None:
    with pytest.raises(ValueError):
        pair.a.initiate(3, now=0.0)
    with pytest.raises(ValueError):
        pair.a.initiate(0, selector=4, now=0.0)
    with pytest.raises(ValueError):
        pair.a.initiate("192.0.2.77", now=0.0)
    with pytest.raises(ValueError):
        pair.a.initiate(0, now=-1.0)
    with pytest.raises(ValueError):
        pair.a.initiate(0, now=float("nan"))
    with pytest.raises(ValueError):
        pair.a.delete(99, now=0.0)
    with pytest.raises(ValueError):
        pair.a.receive_datagram(b"x", local=("not-an-ip", 500), remote=(A_ADDR, 500), now=0.0)
    with pytest.raises(ValueError):
        ipsec.IkeEndpoint(pair_config(), rng_seed=b"short")
    # Misuse is not an IpsecError.
    assert not issubclass(ValueError, ipsec.IpsecError)


def pair_config() -> ipsec.Configuration:
    from conftest import make_config, A_NET, B_NET

    return make_config(A_ADDR, B_ADDR, A_NET, B_NET)


def test_initiate_by_address_rekey_and_delete(pair: Pair) -> None:
    pair.a.initiate(B_ADDR, now=0.0)
    pair.roundtrip_until_done()
    (old,) = pair.of("a", ipsec.Phase2Established)
    pair.now = 10.0
    pair.a.rekey(old.child, now=pair.now)
    pair.roundtrip_until_done()
    new = pair.of("a", ipsec.Phase2Established)[-1]
    assert new.child != old.child and new.replaces == old.child
    assert new.spi_in != old.spi_in
    # Only a new Quick Mode ran: still one ISAKMP SA.
    assert len(pair.of("a", ipsec.Phase1Established)) == 1
    assert len(pair.b.ipsec_sas(now=pair.now)) == 2
    pair.a.delete(old.child, now=pair.now)
    pair.roundtrip_until_done()
    (da,) = pair.of("a", ipsec.Phase2Deleted)
    assert (da.child, da.reason) == (old.child, "local-request")
    db = pair.of("b", ipsec.Phase2Deleted)
    assert [(d.spi_out, d.reason) for d in db] == [(old.spi_in, "peer-delete")]
    assert [s["child"] for s in pair.a.ipsec_sas(now=pair.now)] == [new.child]


def test_same_seeds_same_bytes() -> None:
    def transcript() -> list:
        with client_and_server() as p:
            log = []
            p.drop = lambda side, i, data: log.append((side, data)) is not None
            p.a.initiate(0, now=0.0)
            p.roundtrip_until_done()
            return log

    t1, t2 = transcript(), transcript()
    assert len(t1) == 9 and t1 == t2
    with client_and_server(a_seed=bytes(32)) as p:
        p.a.initiate(0, now=0.0)
        (first, _, _), = p.a.datagrams_to_send(now=0.0)
    assert first != t1[0][1]


def test_show_crypto_ipsec_sa_counts_esp_packets(pair: Pair) -> None:
    pair.a.initiate(0, now=0.0)
    pair.roundtrip_until_done()
    (ca,) = pair.of("a", ipsec.Phase2Established)
    (cb,) = pair.of("b", ipsec.Phase2Established)
    a_in, a_out = ipsec.EspSa.pair_from_event(ca, now=0.0)
    b_in, b_out = ipsec.EspSa.pair_from_event(cb, now=0.0)
    for _ in range(3):
        b_in.decapsulate(a_out.encapsulate(bytes(100), now=1.0), now=1.0)
    text = pair.a.show_crypto_ipsec_sa(now=1.0, esp={ca.child: (a_in, a_out)})
    assert "#pkts encaps: 3, #pkts encrypt: 3, #pkts digest: 3" in text
    assert f"current outbound spi: 0x{ca.spi_out:X}({ca.spi_out})" in text
    text_b = pair.b.show_crypto_ipsec_sa(now=1.0, esp={cb.child: (b_in, b_out)}, detail=True)
    assert "#pkts decaps: 3, #pkts decrypt: 3, #pkts verify: 3" in text_b
    assert "local  ident (addr/mask/prot/port): (192.168.2.0/255.255.255.0/0/0)" in text_b
    pair.a.report_esp_usage(ca.child, a_in, a_out, now=1.0)
    detail = pair.a.show_crypto_isakmp_sa(now=1.0, detail=True)
    assert "3des" in detail and "psk" in detail


def test_periodic_dpd_declares_a_silent_peer_dead() -> None:
    dpd = {"dpd_interval": 10, "dpd_retry": 2, "dpd_periodic": True}
    with client_and_server(a_kwargs=dpd, b_kwargs=dpd, retransmit_jitter_percent=0) as p:
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        assert established(p)
        (sa,) = p.a.isakmp_sas(now=0.0)
        assert sa["dpd"]
        # B answers R-U-THERE for a while: no PeerDead.
        while p.now < 35.0:
            p.advance_to_timer()
            p.roundtrip_until_done()
        assert not p.of("a", ipsec.PeerDead)
        # Then B goes silent.
        p.drop = lambda side, i, data: side == "b"
        silent_from = p.now
        while not p.of("a", ipsec.PeerDead):
            p.advance_to_timer()
            p.roundtrip_until_done()
            assert p.now < silent_from + 120, p.events["a"]
        (dead,) = p.of("a", ipsec.PeerDead)
        assert dead.sa == sa["conn_id"]
        assert any(isinstance(e, ipsec.Phase1Deleted) and e.reason == "dpd-timeout"
                   for e in p.events["a"]), p.events["a"]


def test_pfs_required_by_responder_fails_quick_mode() -> None:
    # As on IOS, a responder without `set pfs` accepts an initiator's PFS; the other way round
    # (responder requires PFS, initiator offers none) fails.
    with client_and_server(b_kwargs={"pfs_group": 2}) as p:
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        (failed,) = p.of("b", ipsec.NegotiationFailed)
        assert failed.phase == 2 and isinstance(failed.error, ipsec.PeerIncompatibleError)
        assert "PFS" in str(failed.error)
        assert failed.evidence == {"kind": "pfs", "ours": 2, "theirs": None}


def test_pfs_both_sides() -> None:
    with client_and_server(a_kwargs={"pfs_group": 14}, b_kwargs={"pfs_group": 14}) as p:
        p.a.initiate(0, now=0.0)
        run_until_established(p)
        assert p.now == 0.0
