"""The troubleshooting diagnosis from Python: faults produced for real between two endpoints in
memory, and configuration findings."""

from __future__ import annotations

from typing import List

import pytest

import ipsec
from conftest import A_ADDR, B_ADDR, Pair, client_and_server
from test_endpoint import run_until_established


def causes(vs: List[ipsec.Verdict], peer: str) -> List[ipsec.Cause]:
    return [v.cause for v in vs if v.peer == peer]


def give_up(p: Pair, rounds: int = 12) -> None:
    """Runs the timers until both sides stop retransmitting."""
    for _ in range(rounds):
        p.roundtrip_until_done()
        if p.a.get_timer() is None and p.b.get_timer() is None:
            break
        p.advance_to_timer()
    p.roundtrip_until_done()


def test_native_causes_are_all_in_the_enum() -> None:
    assert sorted(ipsec._native.diagnose_causes()) == sorted(c.value for c in ipsec.Cause)


def test_healthy_tunnel_with_esp_counters(pair: Pair) -> None:
    pair.a.initiate(0, now=0.0)
    pair.roundtrip_until_done()
    (ca,) = pair.of("a", ipsec.Phase2Established)
    (cb,) = pair.of("b", ipsec.Phase2Established)
    a_in, a_out = ipsec.EspSa.pair_from_event(ca, now=0.0)
    b_in, b_out = ipsec.EspSa.pair_from_event(cb, now=0.0)
    for _ in range(5):
        b_in.decapsulate(a_out.encapsulate(bytes(100), now=1.0), now=1.0)
    # B decrypts but never answers: one-way, seen from both ends.
    va = ipsec.diagnose(pair.a, now=2.0, esp={ca.child: (a_in, a_out)})
    vb = pair.b.diagnose(now=2.0, esp={cb.child: (b_in, b_out)})
    assert causes(va, B_ADDR) == [ipsec.Cause.ONE_WAY_OUTBOUND], ipsec.render(va)
    assert causes(vb, A_ADDR) == [ipsec.Cause.ONE_WAY_INBOUND], ipsec.render(vb)
    for _ in range(5):
        a_in.decapsulate(b_out.encapsulate(bytes(100), now=3.0), now=3.0)
    va = ipsec.diagnose(pair.a, now=4.0, esp={ca.child: (a_in, a_out)})
    assert causes(va, B_ADDR) == [ipsec.Cause.HEALTHY], ipsec.render(va)
    assert not va[0].is_fault


def test_wrong_psk_is_named_on_both_sides() -> None:
    with client_and_server(b_kwargs={"psk": "otherkey"}) as p:
        p.a.initiate(0, now=0.0)
        give_up(p)
        vb = ipsec.diagnose(p.b, now=p.now)
        (v,) = [v for v in vb if v.peer == A_ADDR]
        assert v.cause is ipsec.Cause.PSK_MISMATCH, ipsec.render(vb)
        assert v.cause == "psk-mismatch"
        assert "pre-shared keys differ" in v.summary
        assert any("crypto isakmp key" in c for c in v.checks)
        assert any("IKMP_BAD_MESSAGE" in x for x in v.verify)
        # The initiator only sees MM5 go unanswered.
        va = ipsec.diagnose(p.a, now=p.now)
        assert causes(va, B_ADDR) == [ipsec.Cause.STUCK_KEY_EXCH], ipsec.render(va)
        assert "MM5 retransmitted 5 times, no MM6" in va[0].evidence, ipsec.render(va)
        # render() is the CLI text, identical to the native renderer's.
        text = ipsec.render(vb)
        assert text == p.b._ep.diagnose_text(now=p.now)
        assert text.startswith(f"peer {A_ADDR}: Phase 1 fails at MM_KEY_EXCH")
        assert "  check 1: " in text and "  verify: " in text
        with pytest.raises(Exception):
            v.cause = ipsec.Cause.HEALTHY  # type: ignore[misc]


def test_phase1_proposal_mismatch() -> None:
    with client_and_server(b_kwargs={"policy": ipsec.IsakmpPolicy(encryption="aes 256")}) as p:
        p.a.initiate(0, now=0.0)
        give_up(p)
        vb = ipsec.diagnose(p.b, now=p.now)
        assert causes(vb, A_ADDR) == [ipsec.Cause.PHASE1_REFUSED_BY_US], ipsec.render(vb)
        assert any("aes" in e for e in vb[0].evidence), ipsec.render(vb)
        va = ipsec.diagnose(p.a, now=p.now)
        assert causes(va, B_ADDR) == [ipsec.Cause.PHASE1_REFUSED_BY_PEER], ipsec.render(va)


def test_transform_set_mismatch() -> None:
    with client_and_server(b_kwargs={"transforms": "esp-aes 256 esp-sha-hmac"}) as p:
        p.a.initiate(0, now=0.0)
        p.roundtrip_until_done()
        vb = ipsec.diagnose(p.b, now=p.now)
        assert causes(vb, A_ADDR) == [ipsec.Cause.TRANSFORM_MISMATCH], ipsec.render(vb)
        va = ipsec.diagnose(p.a, now=p.now)
        assert causes(va, B_ADDR) == [ipsec.Cause.PHASE2_REFUSED_BY_PEER], ipsec.render(va)


def test_not_triggered_then_healthy_after_establishment(pair: Pair) -> None:
    (v,) = ipsec.diagnose(pair.a, now=0.0)
    assert v.cause is ipsec.Cause.NOT_TRIGGERED and v.peer == B_ADDR
    pair.a.initiate(0, now=0.0)
    run_until_established(pair)
    vs = ipsec.diagnose(pair.a, now=pair.now)
    assert all(v.cause is not ipsec.Cause.PEER_UNREACHABLE for v in vs), ipsec.render(vs)


def test_stranger_sending_ike_is_reported(pair: Pair) -> None:
    pair.a.initiate(0, now=0.0)
    (mm1, _, _) = pair.a.datagrams_to_send(now=0.0)[0]
    pair.b.receive_datagram(mm1, local=(B_ADDR, 500), remote=("10.9.9.9", 500), now=0.5)
    vs = ipsec.diagnose(pair.b, now=1.0)
    assert ipsec.Cause.UNKNOWN_PEER in causes(vs, "10.9.9.9"), ipsec.render(vs)


NAT_CONFIG = """\
hostname siteA
crypto isakmp policy 1
 encr 3des
 authentication pre-share
 group 2
crypto isakmp key ciscokey address 203.0.113.2
crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 203.0.113.2
 set transform-set TRANSFORM
 match address 100
interface FastEthernet4
 ip address 198.51.100.1 255.255.255.0
 ip nat outside
 crypto map VPN
interface Vlan1
 ip address 192.168.1.1 255.255.255.0
 ip nat inside
ip route 0.0.0.0 0.0.0.0 198.51.100.254
ip nat inside source list 101 interface FastEthernet4 overload
access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255
access-list 101 permit ip 192.168.1.0 0.0.0.255 any
"""


def test_missing_nat_exemption_is_a_config_finding() -> None:
    (v,) = ipsec.diagnose_config(NAT_CONFIG)
    assert v.peer is None and v.cause is ipsec.Cause.CONFIG
    assert "deny ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255" in v.summary
    assert any("deny" in c for c in v.checks)
    assert v.render().startswith("configuration: NAT ACL 101")
    # With the exemption, no finding.
    fixed = NAT_CONFIG.replace(
        "access-list 101 permit",
        "access-list 101 deny ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\naccess-list 101 permit",
    )
    assert ipsec.diagnose_config(ipsec.Configuration.from_ios(fixed)) == []
    # diagnose() puts configuration findings first.
    ep = ipsec.IkeEndpoint(NAT_CONFIG, rng_seed=bytes(32))
    vs = ipsec.diagnose(ep, NAT_CONFIG, now=0.0)
    assert [v.cause for v in vs] == [ipsec.Cause.CONFIG, ipsec.Cause.NOT_TRIGGERED]
    assert vs[1].peer == "203.0.113.2"
    assert ipsec.render([]) == "no crypto map peers configured\n"


def test_show_crypto_session(pair: Pair) -> None:
    assert "Session status: DOWN" in pair.a.show_crypto_session(now=0.0)
    pair.a.initiate(0, now=0.0)
    pair.roundtrip_until_done()
    (ca,) = pair.of("a", ipsec.Phase2Established)
    a_in, a_out = ipsec.EspSa.pair_from_event(ca, now=0.0)
    for _ in range(3):
        a_out.encapsulate(bytes(100), now=1.0)
    text = pair.a.show_crypto_session(now=5.0, esp={ca.child: (a_in, a_out)}, detail=True)
    assert "Session status: UP-ACTIVE" in text
    assert f"Peer: {B_ADDR} port 500 fvrf: (none) ivrf: (none)" in text
    assert f"IKEv1 SA: local {A_ADDR}/500 remote {B_ADDR}/500 Active" in text
    assert "IPSEC FLOW: permit ip 192.168.1.0/255.255.255.0 192.168.2.0/255.255.255.0" in text
    assert "Outbound: #pkts enc'ed 3 drop 0" in text and "Uptime: 00:00:05" in text
