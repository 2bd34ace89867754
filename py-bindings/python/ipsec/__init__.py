"""IKEv1 and ESP as sans-IO state machines, with a Rust core.

Nothing here opens a socket or reads a clock: bytes and time (float seconds from one monotonic
clock the caller owns) go in through calls, datagrams, events and the next deadline come out.

- :class:`Configuration`: IOS configuration text or keyword arguments.
- :class:`IkeEndpoint`: the five-call loop (``receive_datagram``, ``datagrams_to_send``,
  ``get_timer``, ``handle_timer``, ``next_event``) plus ``initiate``, ``delete``, ``rekey``.
- :mod:`ipsec.events`: frozen dataclasses.
- :class:`Tunnel`: the tunnel layer of an IOS configuration (crypto ACLs, IKE and ESP in one
  object) with the same loop plus ``handle_plaintext``, ``receive_esp`` and ``plaintexts``.
- :class:`EspSa`: ESP encapsulation/decapsulation (``EspSa.pair_from_event``).
- :mod:`ipsec.errors`: the exception hierarchy.
- :func:`diagnose`, :func:`diagnose_config`, :func:`render`: the troubleshooting diagnosis.
"""

from ._native import ChildKeys, EspSa, classify_udp4500
from . import events
from .diagnosis import Cause, Verdict, diagnose, diagnose_config, render
from .config import Configuration, IsakmpPolicy, PeerConfiguration, TransformSet
from .endpoint import IkeEndpoint
from .tunnel import BatchVerdicts, Transmit, Tunnel, TunVerdict
from .errors import (
    AuthenticationError,
    BufferError,
    ConfigurationError,
    IpsecError,
    MalformedError,
    NoReplyError,
    PeerIncompatibleError,
    PeerNotifyError,
    ProtocolError,
    ReplayError,
    SaExpiredError,
)
from .events import (
    ClientConfigured,
    CredentialsNeeded,
    ClientLeased,
    ClientReleased,
    IkeEvent,
    IpsecSaDown,
    LineProtocolChanged,
    PeerChanged,
    RouteAdded,
    RouteRemoved,
    IpsecSaUp,
    IsakmpStateChanged,
    NegotiationFailed,
    NotifyReceived,
    PathChanged,
    PeerDead,
    Phase1Deleted,
    Phase1Established,
    Phase1StateChanged,
    Phase2Deleted,
    Phase2Established,
    Phase2Expiring,
    TrafficSelector,
    TunnelEvent,
)

__all__ = [
    "AuthenticationError",
    "BatchVerdicts",
    "BufferError",
    "Cause",
    "ChildKeys",
    "Configuration",
    "ConfigurationError",
    "EspSa",
    "IkeEndpoint",
    "ClientConfigured",
    "CredentialsNeeded",
    "ClientLeased",
    "ClientReleased",
    "IkeEvent",
    "IpsecError",
    "IpsecSaDown",
    "LineProtocolChanged",
    "PeerChanged",
    "RouteAdded",
    "RouteRemoved",
    "IpsecSaUp",
    "IsakmpStateChanged",
    "IsakmpPolicy",
    "MalformedError",
    "NegotiationFailed",
    "NoReplyError",
    "NotifyReceived",
    "PathChanged",
    "PeerConfiguration",
    "PeerDead",
    "PeerIncompatibleError",
    "PeerNotifyError",
    "Phase1Deleted",
    "Phase1Established",
    "Phase1StateChanged",
    "Phase2Deleted",
    "Phase2Established",
    "Phase2Expiring",
    "ProtocolError",
    "ReplayError",
    "SaExpiredError",
    "TrafficSelector",
    "TransformSet",
    "Transmit",
    "TunVerdict",
    "Tunnel",
    "TunnelEvent",
    "Verdict",
    "classify_udp4500",
    "diagnose",
    "diagnose_config",
    "events",
    "render",
]
