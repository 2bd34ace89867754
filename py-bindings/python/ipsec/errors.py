"""The exception hierarchy of :mod:`ipsec`, mirroring the Rust error categories.

The native module raises these classes (it looks them up here by name), so ``except
ipsec.IpsecError`` catches every failure caused by a peer or by bytes from the network. API
misuse (wrong key length, unknown transform name, negative time, a peer index that does not
exist) raises the built-in :class:`ValueError` instead: it is a bug in the caller, not an event
on the wire.
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
    "IpsecError",
    "ProtocolError",
    "MalformedError",
    "ReplayError",
    "PeerIncompatibleError",
    "AuthenticationError",
    "PeerNotifyError",
    "NoReplyError",
    "SaExpiredError",
    "BufferError",
    "ConfigurationError",
]


class IpsecError(Exception):
    """Base class of every error this package raises for network input or peer behaviour."""


class ProtocolError(IpsecError):
    """Well-formed input that the protocol does not allow here (peer misbehaved)."""


class MalformedError(ProtocolError):
    """Bytes that do not parse: truncated, misaligned, not IKE or ESP at all."""


class ReplayError(ProtocolError):
    """An ESP sequence number already seen, left of the anti-replay window, or zero."""


class PeerIncompatibleError(IpsecError):
    """No common ground with the peer: proposals, proxy identities, PFS, missing key."""


class AuthenticationError(IpsecError):
    """An ICV or HASH did not verify, or Main Mode 5/6 decrypted to garbage (PSK mismatch)."""


class PeerNotifyError(IpsecError):
    """The peer answered with an error notify (e.g. NO-PROPOSAL-CHOSEN)."""


class NoReplyError(IpsecError, TimeoutError):
    """The peer stopped answering; the retransmissions were used up."""


class SaExpiredError(IpsecError):
    """The SA reached its hard lifetime or its sequence number space: rekey it."""


class BufferError(IpsecError, builtins.BufferError):
    """An output buffer was too small (carries the size needed in its message)."""


class ConfigurationError(IpsecError, ValueError):
    """IOS configuration text that cannot be accepted, or a configuration that cannot work.

    For text that does not parse, ``line`` and ``column`` (1-based) point at the offending
    token (they are also in the message); otherwise they are ``None``."""

    line: Optional[int] = None
    column: Optional[int] = None
