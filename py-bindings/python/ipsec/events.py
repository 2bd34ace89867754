"""Events of :class:`ipsec.IkeEndpoint` (:class:`IkeEvent`) and of :class:`ipsec.Tunnel`
(:class:`TunnelEvent`), as frozen dataclasses (match on them with ``isinstance`` or
``match``).

They are built from the plain data the native module returns; the only native object they hold
is :class:`ChildKeys` in :class:`Phase2Established`, which :meth:`ipsec.EspSa.pair_from_event`
consumes (the key bytes never become Python objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from ._native import ChildKeys
from .errors import IpsecError

__all__ = [
    "Address",
    "TrafficSelector",
    "IkeEvent",
    "Phase1Established",
    "Phase1Deleted",
    "Phase2Established",
    "Phase2Expiring",
    "Phase2Deleted",
    "NegotiationFailed",
    "NotifyReceived",
    "PathChanged",
    "PeerDead",
    "Phase1StateChanged",
    "UnknownEvent",
    "TunnelEvent",
    "IsakmpStateChanged",
    "IpsecSaUp",
    "IpsecSaDown",
    "PeerChanged",
    "RouteAdded",
    "RouteRemoved",
    "LineProtocolChanged",
    "ClientConfigured",
    "CredentialsNeeded",
    "ClientLeased",
    "ClientReleased",
    "UnknownTunnelEvent",
]

Address = Tuple[str, int]
"""``(host, port)`` as the socket module uses it."""


@dataclass(frozen=True)
class TrafficSelector:
    """A proxy identity: ``network`` is ``a.b.c.d/len`` (or ``first-last`` for a range),
    ``protocol`` 0 for any, ``ports`` the inclusive port range (``(0, 65535)`` for any)."""

    network: str
    protocol: int = 0
    ports: Tuple[int, int] = (0, 65535)

    @classmethod
    def _from_native(cls, t: Tuple[str, int, int, int]) -> "TrafficSelector":
        return cls(t[0], t[1], (t[2], t[3]))


@dataclass(frozen=True)
class IkeEvent:
    """Base class of every endpoint event."""


@dataclass(frozen=True)
class Phase1Established(IkeEvent):
    """Main Mode finished: the ISAKMP SA ``sa`` (IOS conn-id) is in QM_IDLE."""

    sa: int
    peer: int
    role: str
    local: Address
    remote: Address
    nat_detected: bool
    local_behind_nat: bool
    remote_behind_nat: bool


@dataclass(frozen=True)
class Phase1Deleted(IkeEvent):
    """An ISAKMP SA is gone (its IPsec SAs stay, as IKEv1 wants)."""

    sa: int
    peer: int
    reason: str


@dataclass(frozen=True)
class Phase2Established(IkeEvent):
    """A Quick Mode finished. Build the ESP SAs with
    ``sa_in, sa_out = ipsec.EspSa.pair_from_event(event, now=now)``."""

    child: int
    ike_sa: int
    peer: int
    spi_in: int
    spi_out: int
    local_selector: TrafficSelector
    remote_selector: TrafficSelector
    selector_index: Optional[int]
    transform_set: str
    transforms: str
    lifetime_secs: int
    lifetime_kb: int
    mode: str
    udp_encap: bool
    local: Address
    remote: Address
    replaces: Optional[int]
    keys: ChildKeys = field(repr=False, compare=False)


@dataclass(frozen=True)
class Phase2Expiring(IkeEvent):
    """An IPsec SA pair reached its soft lifetime (a rekey was started when we own it)."""

    child: int


@dataclass(frozen=True)
class Phase2Deleted(IkeEvent):
    """An IPsec SA pair must leave the data path."""

    child: int
    spi_in: int
    spi_out: int
    reason: str


@dataclass(frozen=True)
class NegotiationFailed(IkeEvent):
    """A negotiation failed. ``error`` is the exception that describes it (not raised), e.g.
    :class:`ipsec.PeerIncompatibleError` or :class:`ipsec.NoReplyError`; ``notify`` the notify
    we sent about it, if any.

    ``evidence`` is the refusal as data, or None: a dict whose ``kind`` is ``"phase1"``
    (``mismatches``: dicts of ``transform``, ``policy``, ``attribute`` -- ``"encryption"``,
    ``"hash"``, ``"authentication"``, ``"group"`` --, ``offered``, ``ours``, ``text``),
    ``"phase2"`` (``offered``: dicts of ``transform_id``, ``key_bits``, ``auth``,
    ``encapsulation``, ``pfs_group``, ``text``; ``ours``: ``(name, transforms)`` pairs),
    ``"pfs"`` (``ours``, ``theirs``: groups or None), ``"proxy_identities"``
    (``proposed_local``, ``proposed_remote``: native selector tuples; ``ours``: pairs of them)
    or ``"chose_unoffered"`` (``chosen``)."""

    peer: Optional[int]
    remote: Address
    phase: int
    error: IpsecError = field(compare=False)
    notify: Optional[str]
    evidence: Optional[Dict[str, Any]] = field(default=None, compare=False)


@dataclass(frozen=True)
class NotifyReceived(IkeEvent):
    """The peer sent a notify (``authenticated`` is False for one outside any encrypted
    exchange)."""

    sa: Optional[int]
    notify: str
    notify_type: int
    authenticated: bool


@dataclass(frozen=True)
class PathChanged(IkeEvent):
    """The peer's address or port changed (NAT rebinding), seen on an authenticated packet;
    ESP for its SAs now goes to ``remote``."""

    sa: int
    old_local: Address
    old_remote: Address
    local: Address
    remote: Address


@dataclass(frozen=True)
class PeerDead(IkeEvent):
    """Dead Peer Detection declared the peer dead; its ISAKMP SA was deleted."""

    sa: int
    peer: int


@dataclass(frozen=True)
class Phase1StateChanged(IkeEvent):
    """ISAKMP SA ``sa`` went from ``from_state`` to ``to_state`` (IOS names: ``MM_NO_STATE``,
    ``MM_SA_SETUP``, ``MM_KEY_EXCH``, ``QM_IDLE``; Aggressive Mode ``AG_NO_STATE``,
    ``AG_INIT_EXCH``); ``from_state`` is ``None`` for a new SA,
    ``to_state`` ``None`` for one that went away. Every change is announced, so nothing needs
    to compare snapshots of ``isakmp_sas``."""

    sa: int
    role: str
    local: Address
    remote: Address
    from_state: Optional[str]
    to_state: Optional[str]
    nat_t: bool


@dataclass(frozen=True)
class UnknownEvent(IkeEvent):
    """An event this version of the bindings does not know yet."""

    description: str


def _phase2(d: Dict[str, Any]) -> Phase2Established:
    d = dict(d)
    d["local_selector"] = TrafficSelector._from_native(d["local_selector"])
    d["remote_selector"] = TrafficSelector._from_native(d["remote_selector"])
    return Phase2Established(**d)


_BUILDERS: Dict[str, Callable[[Dict[str, Any]], IkeEvent]] = {
    "Phase2Established": _phase2,
}
_CLASSES: Dict[str, Type[IkeEvent]] = {
    c.__name__: c
    for c in (
        Phase1Established,
        Phase1Deleted,
        Phase2Expiring,
        Phase2Deleted,
        NegotiationFailed,
        NotifyReceived,
        PathChanged,
        PeerDead,
        Phase1StateChanged,
    )
}
_CLASSES["Unknown"] = UnknownEvent


def _from_native(kind: str, fields: Dict[str, Any]) -> IkeEvent:
    builder = _BUILDERS.get(kind)
    if builder is not None:
        return builder(fields)
    return _CLASSES[kind](**fields)


# ---------------------------------------------------------------------------------- tunnels


@dataclass(frozen=True)
class TunnelEvent:
    """Base class of every :class:`ipsec.Tunnel` event."""


@dataclass(frozen=True)
class IsakmpStateChanged(TunnelEvent):
    """ISAKMP SA ``conn_id`` with ``peer`` went from ``from_state`` to ``to_state`` (IOS names:
    ``MM_NO_STATE``, ``MM_SA_SETUP``, ``MM_KEY_EXCH``, ``AG_NO_STATE``, ``AG_INIT_EXCH``,
    ``QM_IDLE``, ...). ``from_state`` is
    ``None`` for a new SA, ``to_state`` ``None`` for one that went away; ``at`` is the ``now``
    of the call in which the change was seen."""

    conn_id: int
    peer: str
    from_state: Optional[str]
    to_state: Optional[str]
    initiator: bool
    at: float


@dataclass(frozen=True)
class IpsecSaUp(TunnelEvent):
    """An IPsec SA pair was installed for crypto map entry ``entry`` (an index into
    :attr:`ipsec.Tunnel.entries`): its traffic is now protected (a rekey installs the
    successor)."""

    entry: int
    peer: str
    spi_in: int
    spi_out: int


@dataclass(frozen=True)
class IpsecSaDown(TunnelEvent):
    """An IPsec SA pair went away (deleted, expired, or replaced and retired)."""

    entry: int
    spi_in: int
    spi_out: int


@dataclass(frozen=True)
class PeerChanged(TunnelEvent):
    """Crypto map entry ``entry`` gave up on ``from_peer`` (no answer, or dead by DPD) and
    uses the next ``set peer``, ``to_peer``, from now on (no automatic failback)."""

    entry: int
    from_peer: str
    to_peer: str


@dataclass(frozen=True)
class RouteAdded(TunnelEvent):
    """The host should route ``network`` (``a.b.c.d/len``) into the tunnel: reverse route
    injection (``reverse-route``: while an SA pair for it exists; ``reverse-route static``: from
    the start) or a dynamic map's learned network. ``publish`` is true when routing daemons
    should see it (``reverse-route`` is configured), false when only the gateway's own routing
    needs it; ``tag`` and ``distance`` are ``set reverse-route tag|distance`` (0 and 1 without
    them); ``entry`` is the crypto map entry asking for it. Announced once per network."""

    entry: int
    network: str
    tag: int
    distance: int
    publish: bool


@dataclass(frozen=True)
class RouteRemoved(TunnelEvent):
    """A route announced by :class:`RouteAdded` (same fields) is no longer wanted."""

    entry: int
    network: str
    tag: int
    distance: int
    publish: bool


@dataclass(frozen=True)
class LineProtocolChanged(TunnelEvent):
    """The line protocol of VTI ``interface TunnelN`` (``iface`` = N) went up (its first
    IPsec SA pair was installed) or down (its last pair went): withdraw the routes through a
    down tunnel so that a floating static route takes over, as IOS does."""

    iface: int
    up: bool


@dataclass(frozen=True)
class ClientConfigured(TunnelEvent):
    """Easy VPN client: the server configured us over Mode Config. Put ``address`` on the
    inner interface and use ``dns``; the ``split`` networks (``a.b.c.d/len``; none means
    everything) also arrive as :class:`RouteAdded`."""

    entry: int
    conn_id: int
    address: Optional[str]
    netmask: Optional[str]
    dns: List[str]
    wins: List[str]
    domain: Optional[str]
    banner: Optional[str]
    split: List[str]
    split_dns: List[str]
    save_password: bool
    pfs: bool
    backup_servers: List[str]


@dataclass(frozen=True)
class ClientLeased(TunnelEvent):
    """Easy VPN server: a remote-access client of ``group`` was configured, holding
    ``address`` from the group's pool (``None`` if it asked for no address)."""

    entry: int
    conn_id: int
    group: str
    address: Optional[str]


@dataclass(frozen=True)
class CredentialsNeeded(TunnelEvent):
    """Easy VPN client: the server asks for XAUTH credentials and ``profile`` stores none:
    ask the user, then :meth:`ipsec.Tunnel.ezvpn_xauth` before the server's XAUTH timeout.
    ``message`` is the server's prompt text, if it sent one."""

    entry: int
    profile: str
    message: Optional[str]


@dataclass(frozen=True)
class ClientReleased(TunnelEvent):
    """Easy VPN server: a client's last SA (ISAKMP or IPsec) went; ``address`` is back in the
    pool."""

    entry: int
    address: str


@dataclass(frozen=True)
class UnknownTunnelEvent(TunnelEvent):
    """A tunnel event this version of the bindings does not know yet."""

    description: str


_TUNNEL_CLASSES: Dict[str, Type[TunnelEvent]] = {
    "IsakmpStateChanged": IsakmpStateChanged,
    "IpsecSaUp": IpsecSaUp,
    "IpsecSaDown": IpsecSaDown,
    "PeerChanged": PeerChanged,
    "RouteAdded": RouteAdded,
    "RouteRemoved": RouteRemoved,
    "LineProtocolChanged": LineProtocolChanged,
    "ClientConfigured": ClientConfigured,
    "ClientLeased": ClientLeased,
    "ClientReleased": ClientReleased,
    "CredentialsNeeded": CredentialsNeeded,
    "Unknown": UnknownTunnelEvent,
}


def _tunnel_event_from_native(kind: str, fields: Dict[str, Any]) -> TunnelEvent:
    return _TUNNEL_CLASSES[kind](**fields)
