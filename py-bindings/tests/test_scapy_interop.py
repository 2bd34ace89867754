"""ESP interoperability with scapy's own implementation (scapy.layers.ipsec), in both
directions: scapy decrypts and ICV-verifies what we produce, we decrypt what scapy produces."""

from __future__ import annotations

import os

import pytest

import ipsec

scapy_ipsec = pytest.importorskip("scapy.layers.ipsec")
from scapy.layers.inet import ICMP, IP, UDP  # noqa: E402
from scapy.layers.ipsec import ESP, IPSecIntegrityError, SecurityAssociation  # noqa: E402

# (our encryption, our integrity, scapy crypt_algo, scapy auth_algo, enc key len, auth key len)
SUITES = [
    ("esp-3des", "esp-sha-hmac", "3DES", "HMAC-SHA1-96", 24, 20),
    ("esp-aes", "esp-sha-hmac", "AES-CBC", "HMAC-SHA1-96", 16, 20),
    ("esp-aes 256", "esp-sha-hmac", "AES-CBC", "HMAC-SHA1-96", 32, 20),
    ("esp-aes 256", "esp-sha256-hmac", "AES-CBC", "SHA2-256-128", 32, 32),
    ("esp-des", "esp-md5-hmac", "DES", "HMAC-MD5-96", 8, 16),
    # RFC 4106: scapy's GCM key, like KEYMAT, is the AES key followed by the 4-byte salt.
    ("esp-gcm", None, "AES-GCM", "NULL", 20, 0),
    ("esp-gcm 256", None, "AES-GCM", "NULL", 36, 0),
]
IDS = [f"{s[0]}/{s[1]}" for s in SUITES]
OUTER = IP(src="203.0.113.1", dst="203.0.113.2")


def inner_packet(i: int) -> IP:
    return IP(src="192.168.1.10", dst="192.168.2.20", id=i) / UDP(sport=1000 + i, dport=53) / (
        b"payload-%d-" % i + os.urandom(i % 37)
    )


def make(suite, spi=0xC0FFEE01):
    enc, integ, s_crypt, s_auth, klen, alen = suite
    ek, ak = os.urandom(klen), os.urandom(alen)
    kw = dict(spi=spi, encryption=enc, integrity=integ, enc_key=ek, auth_key=ak, now=0.0)
    scapy_sa = SecurityAssociation(
        ESP, spi=spi, crypt_algo=s_crypt, crypt_key=ek, auth_algo=s_auth, auth_key=ak,
        tunnel_header=OUTER,
    )
    return kw, scapy_sa


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
def test_scapy_decrypts_and_verifies_ours(suite) -> None:
    kw, scapy_sa = make(suite)
    ours = ipsec.EspSa.outbound(**kw)
    for i in range(1, 20):
        inner = inner_packet(i)
        esp = ours.encapsulate(bytes(inner), now=0.0)
        wire = IP(bytes(IP(src=OUTER.src, dst=OUTER.dst, proto=50) / esp))
        assert (wire[ESP].spi, wire[ESP].seq) == (0xC0FFEE01, i)
        plain = scapy_sa.decrypt(wire)  # verify=True: raises if the ICV is wrong
        assert bytes(plain) == bytes(inner)
    # The ICV check on scapy's side is real: a flipped ciphertext bit is refused.
    esp = bytearray(ours.encapsulate(bytes(inner_packet(99)), now=0.0))
    esp[-20] ^= 0x80
    with pytest.raises(IPSecIntegrityError):
        scapy_sa.decrypt(IP(bytes(IP(src=OUTER.src, dst=OUTER.dst, proto=50) / bytes(esp))))


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
def test_we_decrypt_scapys(suite) -> None:
    kw, scapy_sa = make(suite)
    ours = ipsec.EspSa.inbound(**kw)
    for i in range(1, 20):
        inner = inner_packet(i)
        wire = scapy_sa.encrypt(inner)
        esp = bytes(wire[ESP])
        out, next_header, seq = ours.decapsulate_packet(esp, now=0.0)
        assert out == bytes(inner)
        assert (next_header, seq) == (4, i)
    # Replaying scapy's last packet is refused; a tampered one fails the ICV.
    with pytest.raises(ipsec.ReplayError):
        ours.decapsulate(esp, now=0.0)
    fresh = bytearray(bytes(scapy_sa.encrypt(inner_packet(50))[ESP]))
    fresh[-1] ^= 1
    with pytest.raises(ipsec.AuthenticationError):
        ours.decapsulate(bytes(fresh), now=0.0)


def test_transport_mode_icmp_both_ways() -> None:
    suite = SUITES[1]
    enc, integ, s_crypt, s_auth, klen, alen = suite
    ek, ak = os.urandom(klen), os.urandom(alen)
    kw = dict(spi=0x500, encryption=enc, integrity=integ, enc_key=ek, auth_key=ak, now=0.0,
              mode="transport")
    scapy_sa = SecurityAssociation(ESP, spi=0x500, crypt_algo=s_crypt, crypt_key=ek,
                                   auth_algo=s_auth, auth_key=ak)
    icmp = ICMP(type=8, id=7, seq=1) / b"ping"
    # Scapy -> us: transport mode keeps the original IP header, ESP carries ICMP (next header 1).
    wire = scapy_sa.encrypt(IP(src="10.0.0.1", dst="10.0.0.2") / icmp)
    out, nh, _ = ipsec.EspSa.inbound(**kw).decapsulate_packet(bytes(wire[ESP]), now=0.0)
    assert (out, nh) == (bytes(icmp), 1)
    # Us -> scapy.
    esp = ipsec.EspSa.outbound(**kw).encapsulate(bytes(icmp), now=0.0, next_header=1)
    plain = scapy_sa.decrypt(IP(bytes(IP(src="10.0.0.1", dst="10.0.0.2", proto=50) / esp)))
    assert bytes(plain[ICMP]) == bytes(icmp)
