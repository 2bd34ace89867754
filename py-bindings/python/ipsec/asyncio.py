"""A thin asyncio adapter around :class:`ipsec.IkeEndpoint` (glue, not core), in the manner of
aioquic's ``asyncio/protocol.py``: UDP sockets on ports 500 and 4500, the event loop's clock
as the one ``now``, a timer re-armed after every input, and events handed over on a queue.

ESP is not carried here: UDP-encapsulated ESP arriving on port 4500 goes to ``esp_handler``
and :meth:`IkeService.send_esp` sends it; the ESP SAs come from
:meth:`ipsec.EspSa.pair_from_event` as usual.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Dict, Optional, Tuple, Union

from . import _native
from .endpoint import IkeEndpoint
from .errors import MalformedError
from .events import Address, IkeEvent

__all__ = ["IkeService", "serve"]

EspHandler = Callable[[bytes, Address], None]


class _Port(asyncio.DatagramProtocol):
    def __init__(self, service: "IkeService", port: int) -> None:
        self.service = service
        self.port = port

    def datagram_received(self, data: bytes, addr: Tuple[str, int]) -> None:
        self.service._datagram(self.port, data, (addr[0], addr[1]))


class IkeService:
    """Runs an endpoint on ``host`` ports 500 and 4500 (binding port 500 needs privileges)."""

    def __init__(
        self,
        endpoint: IkeEndpoint,
        *,
        host: str,
        ports: Tuple[int, int] = (500, 4500),
        esp_handler: Optional[EspHandler] = None,
    ) -> None:
        self.endpoint = endpoint
        self.host = host
        self.ports = ports
        self.esp_handler = esp_handler
        self.events: "asyncio.Queue[IkeEvent]" = asyncio.Queue()
        self._transports: Dict[int, asyncio.DatagramTransport] = {}
        self._timer: Optional[asyncio.TimerHandle] = None
        self._loop = asyncio.get_running_loop()

    def now(self) -> float:
        """The clock every call gets: the event loop's monotonic time."""
        return self._loop.time()

    async def start(self) -> None:
        for port in self.ports:
            transport, _ = await self._loop.create_datagram_endpoint(
                self._factory(port), local_addr=(self.host, port)
            )
            self._transports[port] = transport

    def _factory(self, port: int) -> Callable[[], _Port]:
        return lambda: _Port(self, port)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for t in self._transports.values():
            t.close()
        self._transports.clear()

    def initiate(self, peer: Union[int, str] = 0, selector: int = 0) -> None:
        self.endpoint.initiate(peer, selector, now=self.now())
        self._transmit()

    def delete(self, child: int) -> None:
        self.endpoint.delete(child, now=self.now())
        self._transmit()

    def rekey(self, child: int) -> None:
        self.endpoint.rekey(child, now=self.now())
        self._transmit()

    def send_esp(self, packet: bytes, remote: Address) -> None:
        """Sends an ESP packet in UDP from port 4500 (NAT-T encapsulation)."""
        self._transports[self.ports[1]].sendto(packet, remote)

    async def next_event(self) -> IkeEvent:
        return await self.events.get()

    def _datagram(self, port: int, data: bytes, remote: Address) -> None:
        if port == self.ports[1]:
            try:
                kind, body = _native.classify_udp4500(data)
            except MalformedError:
                return
            if kind == "esp":
                if self.esp_handler is not None:
                    self.esp_handler(body, remote)
                return
            if kind == "keepalive":
                return
        self.endpoint.receive_datagram(data, local=(self.host, port), remote=remote, now=self.now())
        self._transmit()

    def _handle_timer(self) -> None:
        self._timer = None
        self.endpoint.handle_timer(now=self.now())
        self._transmit()

    def _transmit(self) -> None:
        now = self.now()
        for data, local, remote in self.endpoint.datagrams_to_send(now=now):
            transport = self._transports.get(local[1])
            if transport is not None:
                transport.sendto(data, remote)
        while (event := self.endpoint.next_event()) is not None:
            self.events.put_nowait(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.endpoint.get_timer()
        if at is not None:
            self._timer = self._loop.call_at(at, self._handle_timer)


async def serve(
    endpoint: IkeEndpoint,
    *,
    host: str,
    ports: Tuple[int, int] = (500, 4500),
    esp_handler: Optional[EspHandler] = None,
) -> IkeService:
    """Starts an :class:`IkeService` for ``endpoint`` on ``host``."""
    service = IkeService(endpoint, host=host, ports=ports, esp_handler=esp_handler)
    await service.start()
    return service
