"""ESP SAs: round trips, the exceptions for bad input, and key hand-over from events."""

from __future__ import annotations

import pytest

import ipsec
from conftest import Pair

KEY3DES = bytes(range(1, 25))
KEYSHA = bytes(range(100, 120))


def sa_pair(**kw):
    common = dict(spi=0x1000, encryption="esp-3des", integrity="esp-sha-hmac",
                  enc_key=KEY3DES, auth_key=KEYSHA, now=0.0)
    common.update(kw)
    out = ipsec.EspSa.outbound(**common, rng_seed=bytes(32))
    inb = ipsec.EspSa.inbound(**common)
    return inb, out


def test_round_trip_and_counters() -> None:
    inb, out = sa_pair()
    inner = b"\x45" + bytes(59)
    esp = out.encapsulate(inner, now=1.0)
    # SPI | seq | 8-byte IV | 64 bytes of ciphertext | 12-byte ICV.
    assert esp[:8] == b"\x00\x00\x10\x00\x00\x00\x00\x01" and len(esp) == 8 + 8 + 64 + 12
    assert inb.decapsulate_packet(esp, now=1.0) == (inner, 4, 1)
    assert out.sequence == 1 and inb.sequence == 1
    assert out.stats["encaps"] == 1 and inb.stats["decaps"] == 1
    assert inb.usage["packets"] == 1 and inb.usage["last_activity"] == 1.0
    assert (inb.direction, out.direction) == ("inbound", "outbound")
    assert (out.encryption, out.integrity, out.mode) == ("esp-3des", "esp-sha-hmac", "tunnel")
    assert inb.replay_window == 64
    assert out.plaintext_mtu(1500) == 1446
    # Accepts bytearray too.
    assert inb.decapsulate(out.encapsulate(bytearray(b"abc"), now=1.0), now=1.0) == b"abc"


def test_truncated_and_misaligned_are_malformed() -> None:
    inb, out = sa_pair()
    esp = out.encapsulate(bytes(40), now=0.0)
    with pytest.raises(ipsec.MalformedError):
        inb.decapsulate(esp[:20], now=0.0)
    with pytest.raises(ipsec.MalformedError):
        inb.decapsulate(esp[:-13], now=0.0)  # ciphertext no longer block aligned
    with pytest.raises(ipsec.MalformedError):
        inb.decapsulate(b"", now=0.0)
    assert inb.stats["invalid_len"] == 3
    # The window was not touched: the real packet still goes through.
    assert inb.decapsulate(esp, now=0.0) == bytes(40)


def test_modified_packet_fails_authentication() -> None:
    inb, out = sa_pair()
    esp = bytearray(out.encapsulate(bytes(40), now=0.0))
    esp[20] ^= 0x01
    with pytest.raises(ipsec.AuthenticationError):
        inb.decapsulate(bytes(esp), now=0.0)
    assert inb.stats["verify_failed"] == 1
    assert issubclass(ipsec.AuthenticationError, ipsec.IpsecError)


def test_replay_is_refused() -> None:
    inb, out = sa_pair()
    packets = [out.encapsulate(bytes([i]) * 10, now=0.0) for i in range(70)]
    inb.decapsulate(packets[69], now=0.0)
    inb.decapsulate(packets[10], now=0.0)  # 11 is inside the 64-packet window
    with pytest.raises(ipsec.ReplayError):
        inb.decapsulate(packets[10], now=0.0)  # replayed
    with pytest.raises(ipsec.ReplayError):
        inb.decapsulate(packets[2], now=0.0)  # left of the window
    assert inb.stats["replay_failed"] == 2
    assert issubclass(ipsec.ReplayError, ipsec.ProtocolError)


def test_wrong_spi_is_a_protocol_error() -> None:
    inb, _ = sa_pair()
    _, other = sa_pair(spi=0x2000)
    with pytest.raises(ipsec.ProtocolError):
        inb.decapsulate(other.encapsulate(bytes(16), now=0.0), now=0.0)


def test_hard_lifetime_expires() -> None:
    inb, out = sa_pair(lifetime_secs=120)
    esp = out.encapsulate(b"x", now=0.0)
    assert out.lifetime_state(now=100.0) == "soft"
    with pytest.raises(ipsec.SaExpiredError):
        out.encapsulate(b"x", now=120.0)
    with pytest.raises(ipsec.SaExpiredError):
        inb.decapsulate(esp, now=121.0)


def test_misuse_is_value_error() -> None:
    with pytest.raises(ValueError):
        sa_pair(enc_key=bytes(16))  # 3DES needs 24 bytes
    with pytest.raises(ValueError):
        sa_pair(encryption="esp-rot13")
    with pytest.raises(ValueError):
        sa_pair(integrity="esp-crc32")
    with pytest.raises(ValueError):
        sa_pair(spi=0)
    with pytest.raises(ValueError):
        ipsec.EspSa.inbound(spi=1, encryption="esp-null", integrity=None, enc_key=b"", now=0.0)
    inb, out = sa_pair()
    with pytest.raises(ValueError):
        inb.encapsulate(b"x", now=0.0)
    with pytest.raises(ValueError):
        out.decapsulate(b"x" * 64, now=0.0)
    with pytest.raises(ValueError):
        out.encapsulate(b"x", now=-5.0)
    with pytest.raises(TypeError):
        out.encapsulate("text", now=0.0)  # type: ignore[arg-type]


def test_pair_from_event_consumes_the_keys(pair: Pair) -> None:
    pair.a.initiate(0, now=0.0)
    pair.roundtrip_until_done()
    (ev,) = pair.of("a", ipsec.Phase2Established)
    assert not ev.keys.consumed
    assert "spi_in=0x" in repr(ev.keys) and "key" not in repr(ev).lower().replace("keys", "")
    sa_in, sa_out = ipsec.EspSa.pair_from_event(ev, now=0.0)
    assert ev.keys.consumed
    assert (sa_in.spi, sa_out.spi) == (ev.spi_in, ev.spi_out)
    assert sa_in.encryption == "esp-3des" and sa_out.udp_encap is False
    with pytest.raises(ValueError):
        ipsec.EspSa.pair_from_event(ev, now=0.0)
    with pytest.raises(ValueError):
        ipsec.EspSa.pair_from_event(object(), now=0.0)


def test_classify_udp4500() -> None:
    assert ipsec.classify_udp4500(b"\xff") == ("keepalive", b"")
    ike = bytes(8) + bytes(20)
    assert ipsec.classify_udp4500(b"\x00\x00\x00\x00" + ike) == ("ike", ike)
    esp = b"\x00\x00\x10\x00" + bytes(20)
    assert ipsec.classify_udp4500(esp) == ("esp", esp)
    for bad in (b"", b"\x00\x00", b"\x00\x00\x00\x00" + bytes(10), b"\x01\x02\x03\x04\x05"):
        with pytest.raises(ipsec.MalformedError):
            ipsec.classify_udp4500(bad)


def test_threads_share_sas_safely() -> None:
    """Several threads encrypting and decrypting at once, each on its own SAs."""
    import threading

    sas = [sa_pair(spi=0x100 + i) for i in range(4)]
    results = [None] * 4

    def work(i: int) -> None:
        inb, out = sas[i]
        ok = 0
        for n in range(300):
            data = bytes([n % 256]) * 1000
            ok += inb.decapsulate(out.encapsulate(data, now=0.0), now=0.0) == data
        results[i] = ok

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [300] * 4


def test_gil_is_released_during_crypto() -> None:
    """A pure-Python thread keeps running while one long encapsulate call runs. If the call
    held the GIL, the spinning thread could run at most one switch interval (1 ms here) during
    it; with the GIL released it runs for most of the call."""
    import sys
    import threading
    import time

    _, out = sa_pair()
    # Size the call to last about 0.3 s whatever the build profile and cipher speed.
    t0 = time.perf_counter()
    out.encapsulate(bytes(1 << 16), now=0.0)
    one = max(time.perf_counter() - t0, 1e-6)
    big = bytes(min(64 << 20, int((1 << 16) * 0.3 / one)))
    counter = [0]
    stop = [False]

    def spin() -> None:
        while not stop[0]:
            counter[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    t = threading.Thread(target=spin)
    t.start()
    try:
        # The spinner's rate while this thread sleeps (GIL free).
        c0, t0 = counter[0], time.perf_counter()
        time.sleep(0.1)
        rate = (counter[0] - c0) / (time.perf_counter() - t0)
        before, t0 = counter[0], time.perf_counter()
        out.encapsulate(big, now=0.0)
        during, elapsed = counter[0] - before, time.perf_counter() - t0
    finally:
        stop[0] = True
        t.join()
        sys.setswitchinterval(old)
    assert elapsed > 0.05, "call too short to tell"
    assert during > 0.2 * rate * elapsed, (during, rate, elapsed)
