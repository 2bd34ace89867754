"""ipsec.Tunnel: the tunnel layer of an IOS configuration, driven in memory with a virtual clock
between the seed's two sites (ipsec-proto/src/ios/seed/siteA.cfg and siteB.cfg), in the manner
of the core's test `two_sites_from_their_ios_configurations_pass_packets_both_ways`."""

from __future__ import annotations

import dataclasses
import pathlib
import struct
from typing import List, Tuple

import pytest

import ipsec

SEED = pathlib.Path(__file__).resolve().parents[2] / "ipsec-proto" / "src" / "ios" / "seed"
SITE_A = (SEED / "siteA.cfg").read_text()
SITE_B = (SEED / "siteB.cfg").read_text()
A_OUTSIDE, B_OUTSIDE = "198.51.100.1", "203.0.113.2"
A_HOST, B_HOST = "192.168.1.10", "192.168.2.10"


def ping(src: str, dst: str, seq: int, payload: bytes = b"") -> bytes:
    """An ICMP echo request in IPv4 with a valid header checksum."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, seq) + payload
    total = 20 + len(icmp)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, seq, 0, 64, 1, 0,
                                bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))))
    s = sum(struct.unpack("!10H", bytes(hdr)))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    hdr[10:12] = struct.pack("!H", ~s & 0xFFFF)
    return bytes(hdr) + icmp


def carry(
    src: ipsec.Tunnel, dst: ipsec.Tunnel, now: float
) -> Tuple[List[ipsec.Transmit], List[bytes]]:
    """Delivers what `src` has to send to `dst`; returns the datagrams and the packets `dst`
    decrypted for its protected side."""
    sent = src.datagrams_to_send(now)
    for t in sent:
        if t.kind == "udp":
            dst.receive_datagram(t.data, t.remote_address, t.local_address, now)
        else:
            dst.receive_esp(t.data, t.local, now)
    return sent, dst.plaintexts()


def sites() -> Tuple[ipsec.Tunnel, ipsec.Tunnel]:
    return (
        ipsec.Tunnel.from_ios(SITE_A, seed=bytes(32)),
        ipsec.Tunnel.from_ios(SITE_B, seed=bytes([1]) * 32),
    )


def negotiate(a: ipsec.Tunnel, b: ipsec.Tunnel, now: float = 1.0) -> float:
    """Site A's first packet starts IKE (and is lost, as on IOS); returns the time once both
    sides are quiet."""
    assert a.handle_plaintext(ping(A_HOST, B_HOST, 0), now) is ipsec.TunVerdict.NO_SA
    for _ in range(20):
        if not (carry(a, b, now)[0] + carry(b, a, now)[0]):
            break
        now += 0.01
    return now


def events(t: ipsec.Tunnel) -> List[ipsec.TunnelEvent]:
    out = []
    while (e := t.next_event()) is not None:
        out.append(e)
    return out


def test_two_sites_pass_packets_both_ways_byte_exact() -> None:
    a, b = sites()
    now = negotiate(a, b)
    for seq in range(1, 6):
        p = ping(A_HOST, B_HOST, seq, b"from A %d" % seq)
        assert a.handle_plaintext(p, now) is ipsec.TunVerdict.PROTECTED
        sent, delivered = carry(a, b, now)
        assert [t.kind for t in sent] == ["esp"]
        assert (sent[0].local, sent[0].remote, sent[0].local_port) == (A_OUTSIDE, B_OUTSIDE, None)
        assert delivered == [p]
        r = ping(B_HOST, A_HOST, seq, b"reply from B")
        assert b.handle_plaintext(r, now) == "protected"
        assert carry(b, a, now)[1] == [r]
    isakmp = a.show("crypto isakmp sa", now)
    assert "QM_IDLE" in isakmp and B_OUTSIDE in isakmp
    assert a.show_crypto_isakmp_sa(now) == isakmp
    ipsec_sa = a.show("crypto ipsec sa", now)
    assert "#pkts encaps: 5, #pkts encrypt: 5, #pkts digest: 5" in ipsec_sa
    assert "#pkts decaps: 5, #pkts decrypt: 5, #pkts verify: 5" in ipsec_sa
    # The first packet was dropped for want of an SA: IOS counts it as a send error.
    assert "#send errors 1" in ipsec_sa
    assert a.show("show crypto ipsec sa peer 203.0.113.2 detail", now) == a.show_crypto_ipsec_sa(
        now, peer=B_OUTSIDE, detail=True
    )
    assert 'Crypto Map "VPN" 10 ipsec-isakmp' in a.show("crypto map", now)
    # The seed has no trustpoints: the pki views are empty, a named one is not found.
    assert a.show("crypto pki certificates", now) == ""
    assert "Trustpoint NOPE not found" in a.show("show crypto pki certificates NOPE", now)
    with pytest.raises(ValueError):
        a.show("crypto pki", now)
    verdicts = a.diagnose(now)
    assert [v.cause for v in verdicts] == [ipsec.Cause.HEALTHY]
    assert isinstance(verdicts[0], ipsec.Verdict) and verdicts[0].peer == B_OUTSIDE
    assert "Phase 1 (QM_IDLE) and Phase 2 up" in ipsec.render(verdicts)


def test_events_arrive_in_order() -> None:
    a, b = sites()
    negotiate(a, b)
    # The initiator walks every Main Mode state; the responder's SA may first be seen after it
    # answered MM1, in MM_SA_SETUP (it is today).
    main_mode = ["MM_NO_STATE", "MM_SA_SETUP", "MM_KEY_EXCH", "QM_IDLE"]
    for t, initiator, peer, walks in (
        (a, True, B_OUTSIDE, [main_mode]),
        (b, False, A_OUTSIDE, [main_mode, main_mode[1:]]),
    ):
        evs = events(t)
        states = [e for e in evs if isinstance(e, ipsec.IsakmpStateChanged)]
        assert [s.to_state for s in states] in walks
        assert states[0].from_state is None
        for prev, cur in zip(states, states[1:]):
            assert cur.from_state == prev.to_state and cur.at >= prev.at
        assert {(s.conn_id, s.peer, s.initiator) for s in states} == {
            (states[0].conn_id, peer, initiator)
        }
        # Then the SA pair, after QM_IDLE.
        assert evs[: len(states)] == states and len(evs) == len(states) + 1
        up = evs[-1]
        assert isinstance(up, ipsec.IpsecSaUp) and (up.entry, up.peer) == (0, peer)
        assert t.next_event() is None
    assert a.entries[0]["peer"] == B_OUTSIDE and a.entries[0]["map"] == "VPN"


def test_spis_of_the_two_sides_mirror_each_other() -> None:
    a, b = sites()
    negotiate(a, b)
    (up_a,) = [e for e in events(a) if isinstance(e, ipsec.IpsecSaUp)]
    (up_b,) = [e for e in events(b) if isinstance(e, ipsec.IpsecSaUp)]
    assert (up_a.spi_in, up_a.spi_out) == (up_b.spi_out, up_b.spi_in)


def test_close_deletes_and_the_peer_sees_the_pair_go() -> None:
    a, b = sites()
    now = negotiate(a, b)
    events(a), events(b)
    a.close(now)
    sent, _ = carry(a, b, now)
    assert sent and all(t.kind == "udp" and t.remote_port == 500 for t in sent)
    assert any(isinstance(e, ipsec.IpsecSaDown) for e in events(a))
    assert any(isinstance(e, ipsec.IpsecSaDown) for e in events(b))
    # With the pair gone the next packet negotiates again.
    assert b.handle_plaintext(ping(B_HOST, A_HOST, 9), now) is ipsec.TunVerdict.NO_SA


def test_timer_retransmits_a_lost_first_message() -> None:
    a, _ = sites()
    assert a.get_timer() is None
    a.handle_plaintext(ping(A_HOST, B_HOST, 0), 1.0)
    (first,) = a.datagrams_to_send(1.0)
    deadline = a.get_timer()
    assert deadline is not None and deadline > 1.0
    a.handle_timer(deadline)
    (again,) = a.datagrams_to_send(deadline)
    assert again.data == first.data and again.remote_address == (B_OUTSIDE, 500)


def test_same_seed_same_bytes_and_from_configuration() -> None:
    one = ipsec.Tunnel.from_ios(SITE_A, seed=bytes(range(32)))
    cfg = ipsec.Configuration.from_ios(SITE_A)
    two = ipsec.Tunnel.from_configuration(cfg, seed=bytes(range(32)))
    for t in (one, two):
        t.handle_plaintext(ping(A_HOST, B_HOST, 0), 5.0)
    assert one.datagrams_to_send(5.0) == two.datagrams_to_send(5.0)


def test_unprotected_and_garbage_inputs_are_counted_not_raised() -> None:
    a, _ = sites()
    assert a.handle_plaintext(ping(A_HOST, "8.8.8.8", 1), 1.0) is ipsec.TunVerdict.NOT_PROTECTED
    assert a.handle_plaintext(b"\x60" + bytes(39), 1.0) is ipsec.TunVerdict.MALFORMED
    assert a.receive_esp(bytes(range(40)), B_OUTSIDE, 1.0) == "esp_unknown_spi"
    assert a.receive_esp(b"\x01", B_OUTSIDE, 1.0) == "esp_malformed"
    assert a.receive_datagram(b"\xff", (A_OUTSIDE, 4500), (B_OUTSIDE, 4500), 1.0) is None
    assert a.receive_datagram(b"garbage", (A_OUTSIDE, 500), (B_OUTSIDE, 500), 1.0) == (
        "ike_malformed"
    )
    c = a.counters
    assert c["not_protected"] == 1 and c["tun_malformed"] == 1
    assert c["invalid_spi"] == 1 and c["keepalives"] == 1
    assert a.plaintexts() == []
    with pytest.raises(ValueError):
        a.receive_esp(b"", "not an address", 1.0)
    with pytest.raises(ValueError):
        a.handle_plaintext(b"", -1.0)


def test_bad_ios_text_raises_with_line_and_column() -> None:
    with pytest.raises(ipsec.ConfigurationError) as e:
        ipsec.Tunnel.from_ios("hostname x\ncrypto isakmp policy 1\n encr rot13\n", seed=bytes(32))
    assert (e.value.line, e.value.column) == (3, 7)
    assert str(e.value).startswith("line 3, column 7:")
    assert isinstance(e.value, ValueError) and isinstance(e.value, ipsec.IpsecError)
    # Configuration.from_ios raises the same way (one conversion in the native module).
    with pytest.raises(ipsec.ConfigurationError) as c:
        ipsec.Configuration.from_ios("crypto isakmp policy 1\n encr rot13\n")
    assert (c.value.line, c.value.column) == (2, 7)
    # Text that parses but runs nothing: the same class, no position.
    with pytest.raises(ipsec.ConfigurationError, match="no interface carries a crypto map") as e:
        ipsec.Tunnel.from_ios("hostname x\n")
    assert e.value.line is None
    with pytest.raises(ValueError, match="32 bytes"):
        ipsec.Tunnel.from_ios(SITE_A, seed=b"short")
    with pytest.raises(ValueError, match="IPv4"):
        ipsec.Tunnel.from_ios(SITE_A, local_address="::1")


def test_esp_packets_parse_as_esp_with_scapy() -> None:
    """Scapy's independent ESP layer reads our SPI and sequence numbers; it cannot decrypt,
    since the tunnel keeps the keys (test_scapy_interop.py checks the ciphers with known
    keys)."""
    scapy_ipsec = pytest.importorskip("scapy.layers.ipsec")
    from scapy.layers.inet import IP

    a, b = sites()
    now = negotiate(a, b)
    (up,) = [e for e in events(a) if isinstance(e, ipsec.IpsecSaUp)]
    for seq in range(1, 4):
        p = ping(A_HOST, B_HOST, seq)
        a.handle_plaintext(p, now)
        (t,) = a.datagrams_to_send(now)
        wire = IP(bytes(IP(src=t.local, dst=t.remote, proto=50) / t.data))
        esp = wire[scapy_ipsec.ESP]
        assert (esp.spi, esp.seq) == (up.spi_out, seq)
        # esp-3des esp-sha-hmac: SPI + seq, 8-byte IV, payload + pad + trailer to 8, 12-byte ICV.
        assert len(t.data) == 8 + 8 + -(-(len(p) + 2) // 8) * 8 + 12
        b.receive_esp(t.data, t.local, now)
        assert b.plaintexts() == [p]


def test_reconfigure_keeps_an_unchanged_entry_and_clears_a_changed_one() -> None:
    a, b = sites()
    now = negotiate(a, b)
    events(a)
    same = a.reconfigure(ipsec.Configuration.from_ios(SITE_A), now)
    assert same == {"kept": ["VPN 10"], "cleared": [], "added": []}
    assert events(a) == [] and a.datagrams_to_send(now) == []
    p = ping(A_HOST, B_HOST, 1)
    assert a.handle_plaintext(p, now) is ipsec.TunVerdict.PROTECTED
    assert carry(a, b, now)[1] == [p]
    shorter = SITE_A.replace(
        " match address 100", " match address 100\n set security-association lifetime seconds 1800"
    )
    changed = a.reconfigure(ipsec.Configuration.from_ios(shorter), now)
    assert changed == {"kept": [], "cleared": ["VPN 10"], "added": []}
    assert [type(e) for e in events(a)].count(ipsec.IpsecSaDown) == 1
    with pytest.raises(ipsec.ConfigurationError):
        a.reconfigure(ipsec.Configuration.from_ios("hostname x\n"), now)


# ---------------------------------------------------------------------------------- batches


def carry_batched(
    src: ipsec.Tunnel, dst: ipsec.Tunnel, now: float
) -> Tuple[ipsec.BatchVerdicts, ipsec.BatchVerdicts, List[bytes]]:
    """Delivers what `src` has to send to `dst` as a receiver's recvmmsg would: one datagram
    batch (the seed's sites talk over one UDP path) and one ESP batch; the verdicts of each and
    what `dst` decrypted."""
    sent = src.datagrams_to_send(now)
    udp = [t for t in sent if t.kind == "udp"]
    esp = [t for t in sent if t.kind == "esp"]
    assert len({(t.local_address, t.remote_address) for t in udp}) <= 1
    assert len({t.local for t in esp}) <= 1
    vu = dst.receive_datagram_batch(
        [t.data for t in udp],
        udp[0].remote_address if udp else (B_OUTSIDE, 500),
        udp[0].local_address if udp else (A_OUTSIDE, 500),
        now,
    )
    ve = dst.receive_esp_batch([t.data for t in esp], esp[0].local if esp else A_OUTSIDE, now)
    assert (vu.total, ve.total) == (len(udp), len(esp))
    return vu, ve, dst.plaintexts()


NONE = ipsec.BatchVerdicts(0, 0, 0, 0, 0, 0, 0)


def test_batches_negotiate_and_pass_traffic_both_ways() -> None:
    a, b = sites()
    now = 1.0
    first = a.handle_plaintext_batch([ping(A_HOST, B_HOST, 0)], now)
    assert first == ipsec.BatchVerdicts(0, 1, 0, 0, 0, 0, 0) and first.total == 1
    accepted = 0
    for _ in range(20):
        moved = 0
        for x, y in ((a, b), (b, a)):
            vu, ve, _ = carry_batched(x, y, now)
            assert vu.dropped == 0 and ve.total == 0
            accepted += vu.protected
            moved += vu.total
        if not moved:
            break
        now += 0.01
    assert accepted >= 9  # Main Mode 1-6 and Quick Mode 1-3
    assert sum(isinstance(e, ipsec.IpsecSaUp) for e in events(a)) == 1

    # A -> B: more packets than one chunk of the core (32), with a packet no crypto ACL
    # permits and a truncated one in the middle; order kept.
    pings = [ping(A_HOST, B_HOST, i, b"batch %d" % i) for i in range(1, 41)]
    batch = pings[:10] + [ping(A_HOST, "8.8.8.8", 99), b"\x45\x00"] + pings[10:]
    v = a.handle_plaintext_batch(batch, now)
    assert v == ipsec.BatchVerdicts(
        protected=40, no_sa=0, send_error=0, not_protected=1, malformed=1, no_interface=0,
        dropped=0,
    )
    assert v.total == len(batch)
    sent = a.datagrams_to_send(now)
    assert [t.kind for t in sent] == ["esp"] * 40
    # Their ESP in one batch, with a packet for no SA at the end.
    esp = [t.data for t in sent]
    assert b.receive_esp_batch(esp + [bytes(range(40))], A_OUTSIDE, now) == (
        ipsec.BatchVerdicts(40, 0, 0, 0, 0, 0, 1)
    )
    assert b.plaintexts() == pings
    assert b.counters["invalid_spi"] == 1
    # The same ESP again: every packet a replay.
    assert b.receive_esp_batch(esp, A_OUTSIDE, now) == ipsec.BatchVerdicts(0, 0, 0, 0, 0, 0, 40)
    assert b.plaintexts() == []

    # B -> A: a tuple of bytearrays and bytes.
    replies = [ping(B_HOST, A_HOST, i) for i in range(5)]
    v = b.handle_plaintext_batch(tuple(bytearray(r) for r in replies[:2]) + tuple(replies[2:]), now)
    assert v == ipsec.BatchVerdicts(5, 0, 0, 0, 0, 0, 0)
    vu, ve, delivered = carry_batched(b, a, now)
    assert (vu, ve) == (NONE, ipsec.BatchVerdicts(5, 0, 0, 0, 0, 0, 0))
    assert delivered == replies
    sa = a.show("crypto ipsec sa", now)
    assert "#pkts encaps: 40" in sa and "#pkts decaps: 5" in sa


def test_a_batch_for_a_missing_vti_is_refused_and_counted() -> None:
    a, _ = sites()
    pkts = [ping(A_HOST, B_HOST, i) for i in range(3)]
    assert a.handle_plaintext_batch(pkts, 1.0, iface=0) == ipsec.BatchVerdicts(0, 0, 0, 0, 0, 3, 0)
    assert a.handle_plaintext_batch(pkts[:1], 1.0, iface=7).no_interface == 1
    c = a.counters
    assert c["no_interface"] == 4 and c["not_protected"] == 0
    # No crypto ACL was consulted: no negotiation started, nothing to send.
    assert a.datagrams_to_send(1.0) == [] and a.get_timer() is None
    assert a.handle_plaintext_batch(pkts[:1], 1.0, iface=None).no_sa == 1
    with pytest.raises(OverflowError):
        a.handle_plaintext_batch(pkts, 1.0, iface=-1)


def test_batch_arguments() -> None:
    a, _ = sites()
    assert a.handle_plaintext_batch([], 1.0) == NONE and NONE.total == 0
    assert a.receive_esp_batch(iter([]), B_OUTSIDE, 1.0) == NONE
    assert a.receive_datagram_batch([], (A_OUTSIDE, 500), (B_OUTSIDE, 500), 1.0) == NONE
    # Garbage is dropped and counted, never raised.
    v = a.receive_datagram_batch(
        [b"garbage", b"\xff"], (A_OUTSIDE, 4500), (B_OUTSIDE, 4500), 1.0
    )
    assert (v.protected, v.dropped) == (1, 1)  # nothing known, then a NAT keepalive
    assert a.counters["keepalives"] == 1
    with pytest.raises(ValueError):
        a.receive_esp_batch([b""], "not an address", 1.0)
    with pytest.raises(ValueError):
        a.receive_datagram_batch([b""], ("::1", 500), (B_OUTSIDE, 500), 1.0)
    with pytest.raises(ValueError):
        a.handle_plaintext_batch([b""], -1.0)
    with pytest.raises(TypeError):
        a.handle_plaintext_batch(["not bytes"], 1.0)  # type: ignore[list-item]
    with pytest.raises(dataclasses.FrozenInstanceError):
        NONE.protected = 1  # type: ignore[misc]


def test_gil_is_released_during_a_batch() -> None:
    """A pure-Python thread keeps running while one long ESP batch runs (as in test_esp.py's
    test for encapsulate): ESP packets with a broken ICV, each authenticated and dropped."""
    import sys
    import threading
    import time

    a, b = sites()
    now = negotiate(a, b)
    a.handle_plaintext(ping(A_HOST, B_HOST, 1, bytes(1300)), now)
    (t,) = a.datagrams_to_send(now)
    bad = t.data[:-1] + bytes([t.data[-1] ^ 1])
    # Size the batch to last about 0.3 s whatever the build profile.
    t0 = time.perf_counter()
    assert b.receive_esp_batch([bad] * 1000, t.local, now).dropped == 1000
    one = max(time.perf_counter() - t0, 1e-6)
    batch = [bad] * min(5_000_000, int(1000 * 0.3 / one))
    counter = [0]
    stop = [False]

    def spin() -> None:
        while not stop[0]:
            counter[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    th = threading.Thread(target=spin)
    th.start()
    try:
        c0, t0 = counter[0], time.perf_counter()
        time.sleep(0.1)
        rate = (counter[0] - c0) / (time.perf_counter() - t0)
        before, t0 = counter[0], time.perf_counter()
        v = b.receive_esp_batch(batch, t.local, now)
        during, elapsed = counter[0] - before, time.perf_counter() - t0
    finally:
        stop[0] = True
        th.join()
        sys.setswitchinterval(old)
    assert v.dropped == len(batch)
    assert elapsed > 0.05, "call too short to tell"
    assert during > 0.2 * rate * elapsed, (during, rate, elapsed)


def test_reverse_route_events_follow_the_sa_pair() -> None:
    text = SITE_A.replace(
        " match address 100\n",
        " match address 100\n reverse-route\n set reverse-route tag 42\n set reverse-route distance 5\n",
    )
    a = ipsec.Tunnel.from_ios(text, seed=bytes(32))
    b = ipsec.Tunnel.from_ios(SITE_B, seed=bytes([1]) * 32)
    assert events(a) == []
    now = negotiate(a, b)
    added = [e for e in events(a) if isinstance(e, (ipsec.RouteAdded, ipsec.RouteRemoved))]
    want = ipsec.RouteAdded(entry=0, network="192.168.2.0/24", tag=42, distance=5, publish=True)
    assert added == [want]
    with pytest.raises(dataclasses.FrozenInstanceError):
        want.tag = 1  # type: ignore[misc]
    assert "Reverse Route Injection Enabled" in a.show("crypto map", now)
    assert a.clear_sa(now) == 1
    removed = [e for e in events(a) if isinstance(e, (ipsec.RouteAdded, ipsec.RouteRemoved))]
    assert removed == [
        ipsec.RouteRemoved(entry=0, network="192.168.2.0/24", tag=42, distance=5, publish=True)
    ]
def vti_site(me: str, peer: str, tun: str) -> str:
    """One end of a static VTI: GigabitEthernet0/0 is `me`, Tunnel0 goes to `peer`."""
    return f"""\
crypto isakmp policy 10
 encr aes 256
 authentication pre-share
 group 14
crypto isakmp key vtikey address {peer}
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac
crypto ipsec profile VTI
 set transform-set TS
interface GigabitEthernet0/0
 ip address {me} 255.255.255.0
interface Tunnel0
 ip address {tun} 255.255.255.252
 tunnel source GigabitEthernet0/0
 tunnel mode ipsec ipv4
 tunnel destination {peer}
 tunnel protection ipsec profile VTI
"""


def run_both(a: ipsec.Tunnel, b: ipsec.Tunnel, now: float, steps: int = 100) -> float:
    """Both ends' timers and datagrams both ways, 10 ms a step."""
    for _ in range(steps):
        for t in (a, b):
            deadline = t.get_timer()
            if deadline is not None and deadline <= now:
                t.handle_timer(now)
        carry(a, b, now)
        carry(b, a, now)
        now += 0.01
    return now


def line_events(t: ipsec.Tunnel) -> List[bool]:
    return [e.up for e in events(t) if isinstance(e, ipsec.LineProtocolChanged) and e.iface == 0]


def test_two_vtis_come_up_by_themselves_and_pass_packets_through_interface_0() -> None:
    a = ipsec.Tunnel.from_ios(vti_site(A_OUTSIDE, B_OUTSIDE, "10.255.0.1"), seed=bytes([5]) * 32)
    b = ipsec.Tunnel.from_ios(vti_site(B_OUTSIDE, A_OUTSIDE, "10.255.0.2"), seed=bytes([6]) * 32)
    # No traffic: both initiate from their timers (at the same time) and converge to one pair.
    now = run_both(a, b, 1.0)
    assert line_events(a) == [True] and line_events(b) == [True]
    # Anything routed into Tunnel0, whatever its addresses, comes out of Tunnel0 at the peer.
    there = [ping(A_HOST, B_HOST, 1), ping("10.255.0.1", "10.255.0.2", 2), ping(A_HOST, "8.8.8.8", 3)]
    assert a.handle_plaintext_batch(there, now, iface=0).protected == 3
    for t in a.datagrams_to_send(now):
        assert t.kind == "esp"
        b.receive_esp(t.data, t.local, now)
    assert b.plaintexts_with_iface() == [(p, 0) for p in there]
    back = [ping(B_HOST, A_HOST, 1)]
    assert b.handle_plaintext_batch(back, now, iface=0).protected == 1
    for t in b.datagrams_to_send(now):
        a.receive_esp(t.data, t.local, now)
    assert a.plaintexts_with_iface() == [(back[0], 0)]
    # The crypto-map side has no crypto ACL here.
    assert a.handle_plaintext_batch(back, now).not_protected == 1
    shown = a.show("show interfaces Tunnel0", now)
    assert "Tunnel0 is up, line protocol is up" in shown
    assert 'Tunnel protection via IPSec (profile "VTI")' in shown
    assert "3 packets output" in shown
    sa = a.show("show crypto ipsec sa interface Tunnel0", now)
    assert "interface: Tunnel0" in sa and "(0.0.0.0/0.0.0.0/0/0)" in sa
    # The SA goes: both line protocols go down, then come back up by themselves.
    b.clear_sa(now)
    carry(b, a, now)
    assert line_events(a) == [False] and line_events(b) == [False]
    run_both(a, b, now)
    assert line_events(a) == [True] and line_events(b) == [True]


def test_aggressive_mode_from_ios_text_then_quick_mode() -> None:
    """Site B initiates Aggressive Mode (``crypto isakmp peer address`` with ``set
    aggressive-mode password/client-endpoint``); site A is a hub keying it by its FQDN
    (``crypto isakmp key K hostname H``) on a dynamic crypto map. Quick Mode follows as ever."""
    key = "groupkey-0123456789"
    hub_text = SITE_A.replace(
        "crypto map VPN 10 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set TRANSFORM\n"
        " match address 100\n",
        "crypto dynamic-map DYN 10\n set transform-set TRANSFORM\n match address 100\n"
        "crypto map VPN 65535 ipsec-isakmp dynamic DYN\n",
    ).replace(
        "crypto isakmp key ciscokey address 203.0.113.2\n",
        f"crypto isakmp key {key} hostname spoke.example.net\n",
    )
    spoke_text = SITE_B.replace(
        "crypto isakmp key ciscokey address 198.51.100.1\n",
        f"crypto isakmp peer address 198.51.100.1\n set aggressive-mode password {key}\n"
        " set aggressive-mode client-endpoint fqdn spoke.example.net\n",
    )
    assert "dynamic DYN" in hub_text and "aggressive-mode password" in spoke_text
    hub = ipsec.Tunnel.from_ios(hub_text, seed=bytes(32))
    spoke = ipsec.Tunnel.from_ios(spoke_text, seed=bytes([1]) * 32)
    now = 1.0
    assert spoke.handle_plaintext(ping(B_HOST, A_HOST, 0), now) is ipsec.TunVerdict.NO_SA
    for _ in range(20):
        if not (carry(spoke, hub, now)[0] + carry(hub, spoke, now)[0]):
            break
        now += 0.01
    walked = {
        name: [e.to_state for e in events(t) if isinstance(e, ipsec.IsakmpStateChanged)]
        for name, t in (("spoke", spoke), ("hub", hub))
    }
    assert walked == {"spoke": ["AG_NO_STATE", "QM_IDLE"], "hub": ["AG_INIT_EXCH", "QM_IDLE"]}
    p = ping(B_HOST, A_HOST, 1)
    assert spoke.handle_plaintext(p, now) is ipsec.TunVerdict.PROTECTED
    assert carry(spoke, hub, now)[1] == [p]
    assert "QM_IDLE" in hub.show("crypto isakmp sa", now)


def test_the_outer_df_bit_follows_crypto_ipsec_df_bit() -> None:
    """``Transmit.df``: the inner packet's DF by default (copy), always or never with
    ``crypto ipsec df-bit set|clear``; IKE datagrams never ask for it."""

    def with_df(p: bytes) -> bytes:
        h = bytearray(p)
        h[6] |= 0x40
        h[10:12] = b"\0\0"
        s = sum(struct.unpack("!10H", bytes(h[:20])))
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        h[10:12] = struct.pack("!H", ~s & 0xFFFF)
        return bytes(h)

    for setting, want in [(None, (False, True)), ("clear", (False, False)), ("set", (True, True))]:
        text = SITE_A
        if setting:
            text = text.replace("crypto ipsec transform-set", f"crypto ipsec df-bit {setting}\ncrypto ipsec transform-set")
        a = ipsec.Tunnel.from_ios(text, seed=bytes(32))
        b = ipsec.Tunnel.from_ios(SITE_B, seed=bytes([1]) * 32)
        now = 1.0
        assert a.handle_plaintext(ping(A_HOST, B_HOST, 0), now) is ipsec.TunVerdict.NO_SA
        for _ in range(20):
            sent_a, _ = carry(a, b, now)
            assert all(not t.df for t in sent_a), "IKE asks for no DF"
            if not (sent_a + carry(b, a, now)[0]):
                break
            now += 0.01
        got = []
        for seq, p in [(1, ping(A_HOST, B_HOST, 1)), (2, with_df(ping(A_HOST, B_HOST, 2)))]:
            assert a.handle_plaintext(p, now) is ipsec.TunVerdict.PROTECTED
            sent, delivered = carry(a, b, now)
            assert [t.kind for t in sent] == ["esp"] and delivered == [p]
            got.append(sent[0].df)
        assert tuple(got) == want, setting


# The Easy VPN pair the core's and the C ABI's tests run too: a server on site A's outside address
# (XAUTH for alice, group ``vpngroup`` with a pool, DNS, domain and site A's LAN as the split
# network, on a dynamic crypto map) and a remote on site B's, connecting by itself.
TESTDATA = pathlib.Path(__file__).resolve().parents[2] / "ipsec-proto" / "src" / "tunnel" / "testdata"
EASY_VPN_HUB = (TESTDATA / "easy_vpn_hub.cfg").read_text()
EASY_VPN_REMOTE = (TESTDATA / "easy_vpn_remote.cfg").read_text()


def test_easy_vpn_remote_and_server_in_memory() -> None:
    """The remote connects on its own (``connect auto``): Aggressive Mode with the group
    name, XAUTH, Mode Config. It learns its address, DNS and split network as a
    ``ClientConfigured`` event; the server reports the lease; traffic from the address
    reaches the server's LAN."""
    hub = ipsec.Tunnel.from_ios(EASY_VPN_HUB, seed=bytes(32))
    remote = ipsec.Tunnel.from_ios(EASY_VPN_REMOTE, seed=bytes([3]) * 32)
    now = run_both(remote, hub, 1.0)
    got = [e for e in events(remote) if isinstance(e, ipsec.ClientConfigured)]
    assert len(got) == 1, got
    c = got[0]
    assert c.address == "10.99.0.10"
    assert c.dns == ["192.168.1.53"] and c.domain == "example.test"
    assert c.split == ["192.168.1.0/24"]
    leased = [e for e in events(hub) if isinstance(e, ipsec.ClientLeased)]
    assert [(e.group, e.address) for e in leased] == [("vpngroup", "10.99.0.10")]
    p = ping("10.99.0.10", A_HOST, 1)
    assert remote.handle_plaintext(p, now) is ipsec.TunVerdict.PROTECTED
    assert carry(remote, hub, now)[1] == [p]
    shown = remote.show("show crypto ipsec client ezvpn", now)
    assert "Current State: IPSEC_ACTIVE" in shown and "Address: 10.99.0.10" in shown
    session = hub.show("show crypto session detail", now)
    assert "Username: alice" in session and "Assigned address: 10.99.0.10" in session


def test_an_easy_vpn_remote_from_its_parts_asks_for_the_password() -> None:
    """A remote built from group, key and peers, with no stored password and ``connect
    auto`` off: nothing happens until ``ezvpn_connect``; the server's XAUTH REQUEST arrives as
    ``CredentialsNeeded``; ``ezvpn_xauth`` answers it; the address and split network follow."""
    hub = ipsec.Tunnel.from_ios(EASY_VPN_HUB, seed=bytes([4]) * 32)
    with pytest.raises(ValueError):
        ipsec.Tunnel.easy_vpn_remote(
            name="RA", local="203.0.113.2/24", peers=["198.51.100.1"],
            group="vpn group", key=b"tunnel-group-key", seed=bytes(32),
        )
    remote = ipsec.Tunnel.easy_vpn_remote(
        name="RA",
        local="203.0.113.2/24",
        peers=["198.51.100.1"],
        group="vpngroup",
        key=b"tunnel-group-key",
        connect_auto=False,
        seed=bytes([5]) * 32,
    )
    now = run_both(remote, hub, 1.0)
    assert not [e for e in events(remote) if isinstance(e, ipsec.IsakmpStateChanged)]
    assert remote.ezvpn_connect("NOPE", now) is False
    assert remote.ezvpn_connect("RA", now) is True
    now = run_both(remote, hub, now)
    asked = [e for e in events(remote) if isinstance(e, ipsec.CredentialsNeeded)]
    assert [e.profile for e in asked] == ["RA"], asked
    assert "XAUTH_PROMPT" in remote.show("show crypto ipsec client ezvpn", now)
    remote.ezvpn_xauth("RA", "alice", b"tunnel-pass-1", now)
    with pytest.raises(ValueError):
        remote.ezvpn_xauth("RA", "alice", b"tunnel-pass-1", now)
    now = run_both(remote, hub, now)
    got = [e for e in events(remote) if isinstance(e, ipsec.ClientConfigured)]
    assert [(e.address, e.split) for e in got] == [("10.99.0.10", ["192.168.1.0/24"])]
    p = ping("10.99.0.10", A_HOST, 1)
    assert remote.handle_plaintext(p, now) is ipsec.TunVerdict.PROTECTED
    assert carry(remote, hub, now)[1] == [p]
