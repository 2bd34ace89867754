"""The IKEv1 endpoint with aioquic's five-call loop."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple, Union

from . import _native
from .config import ConfigurationLike, _native_of
from .events import Address, IkeEvent, _from_native

if TYPE_CHECKING:
    from .diagnosis import Verdict

__all__ = ["IkeEndpoint"]


class IkeEndpoint:
    """An IKEv1 endpoint (Main Mode with pre-shared keys, Quick Mode, Informational, DPD,
    NAT-T) that does no I/O and reads no clock.

    The loop, as in aioquic: feed what the socket received with :meth:`receive_datagram`, and
    the timer's expiry with :meth:`handle_timer`; after either (and after a command), send
    everything :meth:`datagrams_to_send` returns, drain :meth:`next_event`, and re-arm a timer
    for :meth:`get_timer`. Every ``now`` is float seconds from **one** monotonic clock the
    caller owns (``time.monotonic()`` or a virtual clock in tests).

    ``configuration`` is an :class:`ipsec.Configuration` or IOS text; the endpoint runs
    ``crypto_map`` (default: the map applied to the first interface that has one), and peer
    index ``i`` is that map's ``i``-th entry in sequence order. ``rng_seed`` (32 bytes) makes every random value (cookies,
    nonces, SPIs, DH secrets, IVs) reproducible; ``os.urandom(32)`` when omitted.
    """

    def __init__(
        self,
        configuration: ConfigurationLike,
        *,
        rng_seed: Optional[bytes] = None,
        crypto_map: Optional[str] = None,
        retransmit_initial: float = 2.0,
        retransmit_max: float = 32.0,
        retransmit_retries: int = 5,
        retransmit_jitter_percent: int = 10,
        half_open_limit: int = 1024,
        rekey_margin: float = 30.0,
        phase1_rekey_percent: int = 90,
        send_unity_vid: bool = False,
    ) -> None:
        native_cfg = _native_of(configuration)
        self._peers = [p[0] for p in native_cfg.peers(crypto_map)]
        self._ep = _native.Endpoint(
            native_cfg,
            rng_seed=os.urandom(32) if rng_seed is None else bytes(rng_seed),
            crypto_map=crypto_map,
            retransmit_initial=retransmit_initial,
            retransmit_max=retransmit_max,
            retransmit_retries=retransmit_retries,
            retransmit_jitter_percent=retransmit_jitter_percent,
            half_open_limit=half_open_limit,
            rekey_margin=rekey_margin,
            phase1_rekey_percent=phase1_rekey_percent,
            send_unity_vid=send_unity_vid,
        )

    # ------------------------------------------------------------------ the five calls

    def receive_datagram(
        self, data: bytes, *, local: Address, remote: Address, now: float
    ) -> Optional[str]:
        """Feeds one UDP payload received on port 500 or 4500 (``local`` is our address and
        port, ``remote`` the sender's). Malformed input is dropped and counted in
        :attr:`counters`, never raised: the result is ``None`` when accepted, else why it was
        dropped (``"ike_malformed"``, ``"ike_unknown_sa"``, ``"ike_replayed_message_id"``...)."""
        return self._ep.receive_datagram(bytes(data), local=local, remote=remote, now=now)

    def datagrams_to_send(self, *, now: float) -> List[Tuple[bytes, Address, Address]]:
        """``[(payload, local, remote), ...]``: send each payload from ``local`` to ``remote``
        as it is (the non-ESP marker is already in front of IKE on port 4500)."""
        return self._ep.datagrams_to_send(now=now)

    def get_timer(self) -> Optional[float]:
        """The absolute time (same clock as ``now``) at which :meth:`handle_timer` has work."""
        return self._ep.get_timer()

    def handle_timer(self, *, now: float) -> None:
        """Runs retransmissions, lifetimes, rekeys, DPD and NAT keepalives due at ``now``."""
        self._ep.handle_timer(now=now)

    def next_event(self) -> Optional[IkeEvent]:
        """The next event (a frozen dataclass from :mod:`ipsec.events`), or ``None``."""
        e = self._ep.next_event()
        if e is None:
            return None
        return _from_native(e[0], e[1])

    # ------------------------------------------------------------------ commands

    def _peer_index(self, peer: Union[int, str]) -> int:
        if isinstance(peer, str):
            try:
                return self._peers.index(peer)
            except ValueError:
                raise ValueError(f"no peer {peer!r} configured (peers: {self._peers})") from None
        return int(peer)

    def initiate(self, peer: Union[int, str] = 0, selector: int = 0, *, now: float) -> None:
        """Negotiates the IPsec SA pair of crypto ACL line ``selector`` with ``peer`` (an
        index or the peer's address), starting with Main Mode when no ISAKMP SA exists."""
        self._ep.initiate(self._peer_index(peer), selector, now=now)

    def delete(self, child: int, *, now: float) -> None:
        """Deletes IPsec SA pair ``child`` (sends a Delete; ``Phase2Deleted`` follows)."""
        self._ep.delete_child(child, now=now)

    def delete_isakmp_sa(self, sa: int, *, now: float) -> None:
        """Deletes ISAKMP SA ``sa`` (its IPsec SAs stay, IKEv1 semantics)."""
        self._ep.delete_isakmp_sa(sa, now=now)

    def rekey(self, child: int, *, now: float) -> None:
        """Starts a Quick Mode rekey of ``child`` now; the old pair keeps working."""
        self._ep.rekey_child(child, now=now)

    def report_esp_usage(
        self, child: int, inbound: _native.EspSa, outbound: _native.EspSa, *, now: float
    ) -> None:
        """Tells the endpoint what the ESP SAs of ``child`` carried (volume rekey, DPD)."""
        self._ep.report_esp_usage(child, inbound, outbound, now=now)

    # ------------------------------------------------------------------ views

    @property
    def peers(self) -> List[str]:
        """Peer addresses by index."""
        return list(self._peers)

    @property
    def counters(self) -> Dict[str, int]:
        """Dropped and refused datagrams (``malformed``, ``unknown_sa``, ``duplicates``...)."""
        return self._ep.counters

    def isakmp_sas(self, *, now: float) -> List[Dict[str, Any]]:
        return self._ep.isakmp_sas(now=now)

    def ipsec_sas(self, *, now: float) -> List[Dict[str, Any]]:
        return self._ep.ipsec_sas(now=now)

    def show_crypto_isakmp_sa(
        self, *, now: float, detail: bool = False, flavor: str = "12.4T"
    ) -> str:
        """``show crypto isakmp sa [detail]``."""
        return self._ep.show_crypto_isakmp_sa(now=now, detail=detail, flavor=flavor)

    def show_crypto_ipsec_sa(
        self,
        *,
        now: float,
        esp: Optional[Mapping[int, Tuple[_native.EspSa, _native.EspSa]]] = None,
        detail: bool = False,
        path_mtu: int = 1500,
    ) -> str:
        """``show crypto ipsec sa [detail]``; ``esp`` maps child ids to their ``(inbound,
        outbound)`` SAs so the packet counters are real."""
        return self._ep.show_crypto_ipsec_sa(
            now=now, esp=dict(esp) if esp else None, detail=detail, path_mtu=path_mtu
        )

    def show_crypto_session(
        self,
        *,
        now: float,
        esp: Optional[Mapping[int, Tuple[_native.EspSa, _native.EspSa]]] = None,
        detail: bool = False,
    ) -> str:
        """``show crypto session [detail]``; ``esp`` as for :meth:`show_crypto_ipsec_sa`."""
        return self._ep.show_crypto_session(now=now, esp=dict(esp) if esp else None, detail=detail)

    def diagnose(
        self,
        configuration: Optional[ConfigurationLike] = None,
        *,
        now: float,
        esp: Optional[Mapping[int, Tuple[_native.EspSa, _native.EspSa]]] = None,
        path_mtu: int = 1500,
    ) -> "List[Verdict]":
        """:func:`ipsec.diagnose` of this endpoint."""
        from .diagnosis import diagnose

        return diagnose(self, configuration, now=now, esp=esp, path_mtu=path_mtu)

    def __repr__(self) -> str:
        return f"<IkeEndpoint peers={self._peers}>"
