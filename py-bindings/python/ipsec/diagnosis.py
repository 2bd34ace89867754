"""Troubleshooting as the classic IOS procedure does it (Phase 1, then Phase 2, then the ESP
counters), as pure functions over the state of an :class:`~ipsec.IkeEndpoint`.

The endpoint records its own history (IKE datagrams in and out, failures, notifies) as the
five-call loop runs, so :func:`diagnose` needs nothing more than the endpoint, optionally the
:class:`~ipsec.Configuration` it runs (for the configuration findings) and the ESP SAs the
caller holds (for the encrypt/decrypt counters). Each :class:`Verdict` names its cause, the
evidence, what to check, and the ``show``/``debug`` lines that confirm it by hand.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, List, Mapping, Optional, Tuple

from . import _native
from .config import ConfigurationLike, _native_of

if TYPE_CHECKING:
    from .endpoint import IkeEndpoint

__all__ = ["Cause", "Verdict", "diagnose", "diagnose_config", "render"]


class Cause(str, enum.Enum):
    """What a verdict names (values are stable kebab-case strings)."""

    HEALTHY = "healthy"
    """Phase 1 and 2 up, traffic both ways."""
    NOT_TRIGGERED = "not-triggered"
    """Nothing negotiated and nothing sent: no traffic matched the crypto ACL."""
    PEER_UNREACHABLE = "peer-unreachable"
    """No Phase 1 and nothing received from the peer."""
    PHASE1_REFUSED_BY_PEER = "phase1-refused-by-peer"
    """The peer refused our Phase 1 offer (NO-PROPOSAL-CHOSEN)."""
    PHASE1_REFUSED_BY_US = "phase1-refused-by-us"
    """We refused the peer's Phase 1 offer."""
    ONE_WAY_UDP500 = "one-way-udp500"
    """Our replies never reach the peer."""
    PSK_MISMATCH = "psk-mismatch"
    """The pre-shared keys differ."""
    STUCK_KEY_EXCH = "stuck-key-exch"
    """Initiator stuck at MM_KEY_EXCH: keys differ or UDP 4500 filtered."""
    UDP4500_FILTERED = "udp4500-filtered"
    """UDP 4500 filtered after the NAT-T float."""
    NO_KEY = "no-key"
    """No pre-shared key configured for the peer."""
    PROXY_ID_MISMATCH = "proxy-id-mismatch"
    """Proxy identities (crypto ACLs) not mirror images."""
    TRANSFORM_MISMATCH = "transform-mismatch"
    """No common transform set."""
    PFS_MISMATCH = "pfs-mismatch"
    """PFS configured differently."""
    PHASE2_REFUSED_BY_PEER = "phase2-refused-by-peer"
    """The peer refused our Quick Mode."""
    PHASE2_NO_REPLY = "phase2-no-reply"
    """Quick Mode got no answer."""
    ONE_WAY_OUTBOUND = "one-way-outbound"
    """We encrypt, nothing comes back."""
    ONE_WAY_INBOUND = "one-way-inbound"
    """We decrypt, nothing goes out."""
    DECRYPT_FAILURES = "decrypt-failures"
    """ESP ICV failures."""
    REPLAY_FAILURES = "replay-failures"
    """Anti-replay failures."""
    INVALID_SPI = "invalid-spi"
    """ESP with unknown SPIs."""
    NAT_NOT_FLOATING = "nat-not-floating"
    """NAT detected but the peer does not use UDP 4500."""
    MTU = "mtu"
    """Packets larger than the plaintext MTU."""
    CONFIG = "config"
    """A configuration finding (missing NAT exemption, ...)."""
    IN_PROGRESS = "in-progress"
    """Negotiation still in progress."""
    UNKNOWN_PEER = "unknown-peer"
    """IKE from an address that is no configured peer."""
    IDENTITY_MISMATCH = "identity-mismatch"
    """The peer's identity is not matched by its ISAKMP profile."""
    XAUTH_FAILED = "xauth-failed"
    """XAUTH refused the user name or password."""
    MODE_CONFIG = "mode-config"
    CERTIFICATE_REFUSED = "certificate-refused"
    """A remote-access client was not configured (group, pool, max-users, lease)."""
    OTHER = "other"
    """A cause this version of the package does not know by name."""


@dataclass(frozen=True)
class Verdict:
    """One finding: ``peer`` is ``None`` for configuration findings."""

    peer: Optional[str]
    cause: Cause
    summary: str
    evidence: Tuple[str, ...]
    checks: Tuple[str, ...]
    verify: Tuple[str, ...]

    @property
    def is_fault(self) -> bool:
        """True unless the verdict is :attr:`Cause.HEALTHY` or :attr:`Cause.IN_PROGRESS`."""
        return self.cause not in (Cause.HEALTHY, Cause.IN_PROGRESS)

    def render(self) -> str:
        """The verdict as the CLI's ``diagnose`` prints it."""
        head = f"peer {self.peer}" if self.peer is not None else "configuration"
        lines = [f"{head}: {self.summary}"]
        lines += [f"  evidence: {e}" for e in self.evidence]
        lines += [f"  check {i}: {c}" for i, c in enumerate(self.checks, 1)]
        lines += [f"  verify: {v}" for v in self.verify]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.render()


def _verdict(t: Tuple[Optional[str], str, str, List[str], List[str], List[str]]) -> Verdict:
    peer, cause, summary, evidence, checks, verify = t
    return Verdict(peer, Cause(cause), summary, tuple(evidence), tuple(checks), tuple(verify))


def diagnose(
    endpoint: "IkeEndpoint",
    configuration: Optional[ConfigurationLike] = None,
    *,
    now: float,
    esp: Optional[Mapping[int, Tuple[_native.EspSa, _native.EspSa]]] = None,
    path_mtu: int = 1500,
) -> List[Verdict]:
    """The diagnosis of ``endpoint`` at ``now``: findings of ``configuration`` first (when
    given), then each configured peer (most important finding first; a working tunnel gets one
    :attr:`Cause.HEALTHY` verdict), then addresses that sent IKE without being a peer.

    ``esp`` maps child ids to the ``(inbound, outbound)`` :class:`~ipsec.EspSa` pairs the
    caller built from ``Phase2Established``, so that one-way tunnels and ICV or replay failures
    are seen; without it the ESP counters read zero.
    """
    cfg = None if configuration is None else _native_of(configuration)
    raw = endpoint._ep.diagnose(
        now=now, configuration=cfg, esp=dict(esp) if esp else None, path_mtu=path_mtu
    )
    return [_verdict(t) for t in raw]


def diagnose_config(configuration: ConfigurationLike) -> List[Verdict]:
    """Configuration findings alone (a missing NAT exemption, crypto ACLs that are no mirror
    images, a transform set that does not exist, ...), each with :attr:`Cause.CONFIG`."""
    return [_verdict(t) for t in _native.diagnose_config(_native_of(configuration))]


def render(verdicts: Iterable[Verdict]) -> str:
    """Verdicts one after the other, as the CLI's ``diagnose`` prints them."""
    text = "".join(v.render() for v in verdicts)
    return text or "no crypto map peers configured\n"
