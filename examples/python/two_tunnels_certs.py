#!/usr/bin/env python3
"""The seed's two sites authenticating with certificates instead of a pre-shared key:
`authentication rsa-sig`, `crypto isakmp identity dn`, a trustpoint whose chain holds the lab
CA and the site's own certificate, the private key handed over apart from the configuration
(a running-config never holds one). Certificates are checked against a wall clock the caller
supplies (`set_wall_clock`): the stack reads no clock of its own.

Run after `pip install ./py-bindings`:  python examples/python/two_tunnels_certs.py

The certificates are the test fixtures in ipsec-proto/src/pki/testdata (see its README.md);
2027-01-01 lies inside their validity.
"""

import pathlib
import ssl
import sys

import ipsec

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from two_tunnels import HOST_A, HOST_B, SEED, carry, ping  # noqa: E402

PKI = pathlib.Path(__file__).resolve().parents[2] / "ipsec-proto" / "src" / "pki" / "testdata"
JAN_2027 = 1_798_761_600


def chain_block(serial: str, pem_file: str) -> str:
    """A `certificate` block as `show running-config` prints it: the DER in hex words."""
    der = ssl.PEM_cert_to_DER_cert((PKI / pem_file).read_text())
    words = [der[i : i + 4].hex().upper() for i in range(0, len(der), 4)]
    lines = ["  " + " ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    return f" certificate {serial}\n" + "\n".join(lines) + "\n  quit\n"


def site(cfg_file: str, gw: str) -> ipsec.Configuration:
    text = (SEED / cfg_file).read_text()
    text = "\n".join(l for l in text.splitlines() if not l.startswith("crypto isakmp key")) + "\n"
    pki = (
        "crypto isakmp identity dn\n"
        "crypto pki trustpoint LAB\n enrollment terminal\n revocation-check none\n rsakeypair GW\n"
        "crypto pki certificate chain LAB\n"
        + chain_block("1001", f"{gw}.pem")
        + chain_block("01", "ca.pem").replace(" certificate 01", " certificate ca 01")
    )
    text = text.replace("crypto isakmp policy 1\n", pki + "crypto isakmp policy 1\n")
    text = text.replace("authentication pre-share", "authentication rsa-sig")
    c = ipsec.Configuration.from_ios(text)
    c.add_rsa_key("GW", (PKI / f"{gw}.key").read_text())
    return c


a = ipsec.Tunnel.from_configuration(site("siteA.cfg", "gw1"), seed=bytes(32))
b = ipsec.Tunnel.from_configuration(site("siteB.cfg", "gw2"), seed=bytes([1]) * 32)
now = 1.0
for t in (a, b):
    t.set_wall_clock(now, JAN_2027)
print("first ping:", a.handle_plaintext(ping(HOST_A, HOST_B, 0), now).name)
while carry(a, b, now, "B") + carry(b, a, now, "A"):  # Main Mode with CERT and SIG, then Quick Mode
    now += 0.01
print(f"{HOST_A} -> {HOST_B}: {a.handle_plaintext(ping(HOST_A, HOST_B, 1), now).name}")
carry(a, b, now, "B")
print(a.show("crypto isakmp sa detail", now))
print(a.show("crypto pki certificates", now))
print(a.show("crypto pki trustpoints", now))
