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
