"""Helpers in the style of aioquic's tests/test_connection.py: two endpoints wired in memory,
driven by hand with an explicit virtual clock."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import ipsec

A_ADDR = "10.0.0.1"
B_ADDR = "10.0.0.2"
A_NET = "192.168.1.0/24"
B_NET = "192.168.2.0/24"


def make_config(
    local: str,
    peer: str,
    local_net: str,
    remote_net: str,
    *,
    psk: str = "ciscokey",
    transforms: str = "esp-3des esp-sha-hmac",
    policy: ipsec.IsakmpPolicy = ipsec.IsakmpPolicy(),
    pfs_group: Optional[int] = None,
    **extra: object,
) -> ipsec.Configuration:
    return ipsec.Configuration(
        local_address=local,
        **extra,  # type: ignore[arg-type]
        isakmp_policies=[policy],
        peers=[
            ipsec.PeerConfiguration(
                peer,
                psk,
                selectors=[(local_net, remote_net)],
                transform_sets=[ipsec.TransformSet("TS", transforms)],
                pfs_group=pfs_group,
            )
        ],
    )


@dataclass
class Pair:
    """Side A (initiator, 10.0.0.1) and side B (10.0.0.2), their event logs, and a filter that
    may drop datagrams (called with (sender name, index of its datagram, payload))."""

    a: ipsec.IkeEndpoint
    b: ipsec.IkeEndpoint
    now: float = 0.0
    drop: Callable[[str, int, bytes], bool] = lambda side, i, data: False
    sent: Dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    events: Dict[str, List[ipsec.IkeEvent]] = field(default_factory=lambda: {"a": [], "b": []})

    def sides(self) -> List[Tuple[str, ipsec.IkeEndpoint, ipsec.IkeEndpoint]]:
        return [("a", self.a, self.b), ("b", self.b, self.a)]

    def transfer(self, side: str) -> int:
        """Delivers what `side` has to send (through the drop filter); returns how many
        datagrams it sent."""
        src, dst = (self.a, self.b) if side == "a" else (self.b, self.a)
        n = 0
        for data, local, remote in src.datagrams_to_send(now=self.now):
            i = self.sent[side]
            self.sent[side] += 1
            n += 1
            if not self.drop(side, i, data):
                dst.receive_datagram(data, local=remote, remote=local, now=self.now)
        return n

    def drain_events(self) -> None:
        for name, ep, _ in self.sides():
            while (e := ep.next_event()) is not None:
                self.events[name].append(e)

    def roundtrip_until_done(self, max_rounds: int = 50) -> None:
        """Moves datagrams both ways at the current time until both sides are quiet."""
        for _ in range(max_rounds):
            if self.transfer("a") + self.transfer("b") == 0:
                break
        self.drain_events()

    def advance_to_timer(self) -> float:
        """Moves the clock to the earliest timer of either side and fires it there."""
        timers = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
        assert timers, "no timer armed"
        self.now = max(self.now, min(timers))
        for ep in (self.a, self.b):
            t = ep.get_timer()
            if t is not None and t <= self.now:
                ep.handle_timer(now=self.now)
        return self.now

    def of(self, side: str, cls: type) -> list:
        return [e for e in self.events[side] if isinstance(e, cls)]


@contextlib.contextmanager
def client_and_server(
    *,
    a_kwargs: Optional[dict] = None,
    b_kwargs: Optional[dict] = None,
    a_seed: bytes = bytes(range(32)),
    b_seed: bytes = bytes(range(32, 64)),
    **endpoint_kwargs,
) -> Iterator[Pair]:
    a_cfg = make_config(A_ADDR, B_ADDR, A_NET, B_NET, **(a_kwargs or {}))
    b_cfg = make_config(B_ADDR, A_ADDR, B_NET, A_NET, **(b_kwargs or {}))
    yield Pair(
        ipsec.IkeEndpoint(a_cfg, rng_seed=a_seed, **endpoint_kwargs),
        ipsec.IkeEndpoint(b_cfg, rng_seed=b_seed, **endpoint_kwargs),
    )


@pytest.fixture
def pair() -> Iterator[Pair]:
    with client_and_server() as p:
        yield p
