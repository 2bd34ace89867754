"""The asyncio adapter: two services on loopback addresses, real UDP sockets, the loop's
clock, timers re-armed by the adapter."""

from __future__ import annotations

import asyncio
import os

import pytest

import ipsec
from ipsec.asyncio import serve
from conftest import make_config


@pytest.mark.skipif(os.geteuid() != 0, reason="binding UDP port 500 needs root")
def test_two_services_negotiate_over_loopback() -> None:
    async def main() -> None:
        a_ep = ipsec.IkeEndpoint(make_config("127.0.0.1", "127.0.0.2", "10.1.0.0/16", "10.2.0.0/16"),
                                 rng_seed=bytes(32))
        b_ep = ipsec.IkeEndpoint(make_config("127.0.0.2", "127.0.0.1", "10.2.0.0/16", "10.1.0.0/16"),
                                 rng_seed=bytes([5]) * 32)
        a = await serve(a_ep, host="127.0.0.1")
        b = await serve(b_ep, host="127.0.0.2")
        try:
            a.initiate("127.0.0.2")

            async def until_phase2(svc: ipsec.asyncio.IkeService) -> ipsec.Phase2Established:
                while True:
                    e = await svc.next_event()
                    if isinstance(e, ipsec.Phase2Established):
                        return e

            ea, eb = await asyncio.wait_for(asyncio.gather(until_phase2(a), until_phase2(b)), 10)
            assert (ea.spi_in, ea.spi_out) == (eb.spi_out, eb.spi_in)
            assert ea.remote == ("127.0.0.2", 500)
            now = a.now()
            a_in, a_out = ipsec.EspSa.pair_from_event(ea, now=now)
            b_in, b_out = ipsec.EspSa.pair_from_event(eb, now=now)
            assert b_in.decapsulate(a_out.encapsulate(b"x" * 40, now=now), now=now) == b"x" * 40
            # The adapter armed a timer for the endpoint's next deadline.
            assert a._timer is not None
        finally:
            a.close()
            b.close()

    asyncio.run(main())
