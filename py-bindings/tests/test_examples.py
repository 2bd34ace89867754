"""The Python examples run and show what they claim."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_two_endpoints_example_runs() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "two_endpoints.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "(lost)" in r.stdout and "timer fires" in r.stdout
    assert "QM_IDLE" in r.stdout
    assert "refuses the same packet again" in r.stdout
    assert "#pkts encaps: 1, #pkts encrypt: 1, #pkts digest: 1" in r.stdout
    assert "Session status: UP-ACTIVE" in r.stdout
    assert "peer 10.0.0.2: Phase 1 (QM_IDLE) and Phase 2 up, traffic both ways" in r.stdout


def test_two_tunnels_example_runs() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "two_tunnels.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "first ping: NO_SA" in r.stdout
    assert "to_state='QM_IDLE'" in r.stdout and "IpsecSaUp(entry=0" in r.stdout
    assert r.stdout.count(": PROTECTED") == 6
    assert "site B delivers 28 bytes 192.168.1.10 -> 192.168.2.10" in r.stdout
    assert "site A delivers 28 bytes 192.168.2.10 -> 192.168.1.10" in r.stdout
    assert "203.0.113.2     198.51.100.1    QM_IDLE" in r.stdout
    assert "#pkts encaps: 3, #pkts encrypt: 3, #pkts digest: 3" in r.stdout
    assert "#pkts decaps: 3, #pkts decrypt: 3, #pkts verify: 3" in r.stdout


def test_two_tunnels_certs_example_runs() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "two_tunnels_certs.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "to_state='QM_IDLE'" in r.stdout and "IpsecSaUp(entry=0" in r.stdout
    assert "192.168.1.10 -> 192.168.2.10: PROTECTED" in r.stdout
    assert "site B delivers 28 bytes 192.168.1.10 -> 192.168.2.10" in r.stdout
    assert "ACTIVE 3des sha    rsig 2" in r.stdout
    assert "Name: gw1.example.com" in r.stdout and "Associated Trustpoints: LAB" in r.stdout
    assert "Trustpoint LAB:" in r.stdout and "Certificate configured." in r.stdout
