"""The tunnel layer: the crypto maps of one IOS configuration running on the IKEv1 endpoint
and the ESP SAs, as one sans-IO object with aioquic's loop."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native
from .config import ConfigurationLike, _native_of
from .diagnosis import _verdict
from .events import Address, TunnelEvent, _tunnel_event_from_native

if TYPE_CHECKING:
    from .diagnosis import Verdict

__all__ = ["BatchVerdicts", "Transmit", "TunVerdict", "Tunnel"]

_Packet = Union[bytes, bytearray, memoryview]


class TunVerdict(str, enum.Enum):
    """What :meth:`Tunnel.handle_plaintext` did with a cleartext packet (values are stable
    kebab-case strings)."""

    PROTECTED = "protected"
    """Encapsulated: the ESP packet is in :meth:`Tunnel.datagrams_to_send`."""
    NO_SA = "no-sa"
    """A crypto ACL permits it but no SA pair exists yet: dropped (``#send errors``) and
    negotiation started, as IOS loses the first ping."""
    SEND_ERROR = "send-error"
    """A crypto ACL permits it but it could not be protected (SA exhausted, queue full...)."""
    NOT_PROTECTED = "not-protected"
    """No crypto ACL permits it: IOS would forward it in clear; dropped here."""
    MALFORMED = "malformed"
    """Not an IPv4 packet with a whole header."""


@dataclass(frozen=True)
class Transmit:
    """A datagram to send. ``kind`` ``"udp"``: a UDP payload from ``(local, local_port)`` to
    ``(remote, remote_port)`` (port 500 or 4500; the non-ESP marker is already in ``data``).
    ``kind`` ``"esp"``: a raw IP protocol 50 payload (SPI onwards) from ``local`` to
    ``remote``, ports ``None``. ``df``: the outer IPv4 header must carry the DF bit (ESP under
    ``crypto ipsec df-bit clear|set|copy``, default copy: the inner packet's DF; false for IKE
    and keepalives)."""

    kind: str
    local: str
    remote: str
    local_port: Optional[int]
    remote_port: Optional[int]
    data: bytes
    df: bool = False

    @property
    def local_address(self) -> Address:
        """``(local, local_port)`` of a UDP datagram (port 0 for ESP)."""
        return (self.local, self.local_port or 0)

    @property
    def remote_address(self) -> Address:
        """``(remote, remote_port)`` of a UDP datagram (port 0 for ESP)."""
        return (self.remote, self.remote_port or 0)


@dataclass(frozen=True)
class BatchVerdicts:
    """What a batch call (:meth:`Tunnel.handle_plaintext_batch`,
    :meth:`Tunnel.receive_esp_batch`, :meth:`Tunnel.receive_datagram_batch`) did with its
    packets, summed by verdict; the fields add up to the number of packets (:attr:`total`).
    Why each dropped packet was dropped is counted where the single-packet call would name it
    (:attr:`Tunnel.counters`, ``show crypto ipsec sa``)."""

    protected: int
    """Cleartext: encapsulated (:attr:`TunVerdict.PROTECTED`). ESP and datagrams: accepted
    (decrypted and queued for :meth:`Tunnel.plaintexts`, or taken by IKE)."""
    no_sa: int
    """Cleartext: :attr:`TunVerdict.NO_SA` (dropped, negotiation started)."""
    send_error: int
    """Cleartext: :attr:`TunVerdict.SEND_ERROR`."""
    not_protected: int
    """Cleartext: :attr:`TunVerdict.NOT_PROTECTED`."""
    malformed: int
    """Cleartext: :attr:`TunVerdict.MALFORMED`."""
    no_interface: int
    """Cleartext for an interface that does not exist (a VTI: none can be configured yet)."""
    dropped: int
    """ESP and datagrams: dropped (what the single-packet call returns a reason for)."""

    @property
    def total(self) -> int:
        """Packets handled."""
        return (
            self.protected
            + self.no_sa
            + self.send_error
            + self.not_protected
            + self.malformed
            + self.no_interface
            + self.dropped
        )


class Tunnel:
    """The tunnels of one IOS configuration (crypto ACL classification, IKE, ESP, lifetimes,
    rekey handover, counters, show output), doing no I/O and reading no clock.

    The loop, as aioquic's: feed cleartext packets from the protected side with
    :meth:`handle_plaintext`, what the sockets received with :meth:`receive_datagram` (UDP
    500/4500) and :meth:`receive_esp` (IP protocol 50), and the timer's expiry with
    :meth:`handle_timer` (many packets at once with :meth:`handle_plaintext_batch`,
    :meth:`receive_datagram_batch` and :meth:`receive_esp_batch`); after each, send
    everything :meth:`datagrams_to_send` returns, deliver everything :meth:`plaintexts` returns
    to the protected side, drain :meth:`next_event`, and re-arm a timer for
    :meth:`get_timer`. Outputs not taken stay queued
    (up to a bound, then dropped and counted in :attr:`counters`). Every ``now`` is float
    seconds from **one** monotonic clock the caller owns. The GIL is released while packets are
    classified, encrypted and decrypted.
    """

    def __init__(self, native: _native.Tunnel) -> None:
        """Use :meth:`from_ios` or :meth:`from_configuration`."""
        self._t = native

    @classmethod
    def from_ios(
        cls,
        text: str,
        *,
        seed: Optional[bytes] = None,
        local_address: Optional[str] = None,
        path_mtu: int = 1500,
        flavor: str = "12.4T",
    ) -> "Tunnel":
        """Tunnels for IOS configuration text (``show running-config`` or pasted commands).

        ``seed`` (32 bytes) makes every random value (cookies, nonces, SPIs, DH secrets, IVs)
        reproducible; ``os.urandom(32)`` when omitted. ``local_address`` replaces the crypto
        interface's ``ip address``; ``path_mtu`` is the path MTU towards the peers;
        ``flavor`` (``"12.4"``, ``"12.4T"``, ``"15"``) the IOS release whose show layout is
        imitated. Raises :class:`ipsec.ConfigurationError` (with ``line`` and ``column`` when
        the text does not parse)."""
        return cls(
            _native.Tunnel.from_ios(
                text,
                seed=os.urandom(32) if seed is None else bytes(seed),
                local_address=local_address,
                path_mtu=path_mtu,
                flavor=flavor,
            )
        )

    @classmethod
    def from_configuration(
        cls,
        configuration: ConfigurationLike,
        *,
        seed: Optional[bytes] = None,
        local_address: Optional[str] = None,
        path_mtu: int = 1500,
        flavor: str = "12.4T",
    ) -> "Tunnel":
        """Tunnels for an :class:`ipsec.Configuration` (built from keyword arguments or IOS
        text); the options are those of :meth:`from_ios`."""
        return cls(
            _native.Tunnel.from_configuration(
                _native_of(configuration),
                seed=os.urandom(32) if seed is None else bytes(seed),
                local_address=local_address,
                path_mtu=path_mtu,
                flavor=flavor,
            )
        )

    @classmethod
    def easy_vpn_remote(
        cls,
        *,
        name: str,
        local: str,
        peers: Sequence[str],
        group: str,
        key: bytes,
        user: Optional[str] = None,
        password: Optional[bytes] = None,
        network_extension: Optional[str] = None,
        connect_auto: bool = True,
        seed: Optional[bytes] = None,
        path_mtu: int = 1500,
        flavor: str = "12.4T",
    ) -> "Tunnel":
        """An Easy VPN remote (a remote-access client) from its parts, no IOS text:
        ``local`` our outside address as ``"a.b.c.d/len"``, ``peers`` the concentrators in the
        order they are tried, the ``group`` name (sent as ID_KEY_ID) and its ``key``. With
        ``user`` and ``password`` XAUTH answers by itself; without them each XAUTH REQUEST
        arrives as :class:`ipsec.CredentialsNeeded`, answered with :meth:`ezvpn_xauth`.
        ``network_extension`` (``"a.b.c.d/len"``, the inside LAN) selects ``mode
        network-extension``; otherwise the server assigns an address
        (:class:`ipsec.ClientConfigured`). ``connect_auto=False`` waits for
        :meth:`ezvpn_connect`. The other options are those of :meth:`from_ios`."""
        return cls(
            _native.Tunnel.easy_vpn_remote(
                name=name,
                local=local,
                peers=list(peers),
                group=group,
                key=bytes(key),
                seed=os.urandom(32) if seed is None else bytes(seed),
                user=user,
                password=None if password is None else bytes(password),
                network_extension=network_extension,
                connect_auto=connect_auto,
                path_mtu=path_mtu,
                flavor=flavor,
            )
        )

    # ------------------------------------------------------------------ inputs

    def handle_plaintext(self, packet: bytes, now: float) -> TunVerdict:
        """A cleartext IPv4 packet from the protected side: encrypted when an SA pair covers
        it, otherwise dropped (and negotiation started when a crypto ACL permits it)."""
        return TunVerdict(self._t.handle_plaintext(bytes(packet), now))

    def receive_datagram(
        self, data: bytes, local: Address, remote: Address, now: float
    ) -> Optional[str]:
        """A UDP payload received on ``local`` (our address, port 500 or 4500) from
        ``remote``: IKE, ESP in UDP or a NAT keepalive. Bad input is dropped and counted,
        never raised: the result is ``None`` when accepted, else why it was dropped
        (``"ike_replayed_message_id"``, ``"esp_authentication"``, ...)."""
        return self._t.receive_datagram(bytes(data), local, remote, now)

    def receive_esp(self, data: bytes, src: str, now: float) -> Optional[str]:
        """A raw ESP packet (the IP protocol 50 payload, SPI onwards) from ``src``: ``None``
        when decrypted and queued for :meth:`plaintexts`, else why it was dropped
        (``"esp_unknown_spi"``, ``"esp_replayed"``, ``"esp_invalid_identity"``, ...)."""
        return self._t.receive_esp(bytes(data), src, now)

    def handle_plaintext_batch(
        self, packets: Iterable[_Packet], now: float, *, iface: Optional[int] = None
    ) -> BatchVerdicts:
        """A batch of cleartext IPv4 packets, each handled as :meth:`handle_plaintext` handles
        it and in order, worked in chunks so that the ciphers get many packets at once; the
        verdicts summed. ``iface`` is where they came in: ``None`` for the protected side of
        the crypto maps, ``N`` for ``interface TunnelN`` (a VTI; none can be configured yet,
        so such packets are refused and counted in ``no_interface``). The GIL is released for
        the whole batch."""
        return BatchVerdicts(
            *self._t.handle_plaintext_batch([bytes(p) for p in packets], now, iface=iface)
        )

    def receive_datagram_batch(
        self, datagrams: Iterable[_Packet], local: Address, remote: Address, now: float
    ) -> BatchVerdicts:
        """A batch of UDP payloads received on ``local`` from ``remote`` (one ``recvmmsg``, a
        GRO train cut at its segment size), each handled as :meth:`receive_datagram` handles
        it: accepted ones in ``protected``, the others in ``dropped``."""
        return BatchVerdicts(
            *self._t.receive_datagram_batch([bytes(d) for d in datagrams], local, remote, now)
        )

    def receive_esp_batch(self, packets: Iterable[_Packet], src: str, now: float) -> BatchVerdicts:
        """A batch of raw ESP packets from ``src``, each handled as :meth:`receive_esp`
        handles it: decrypted ones (queued for :meth:`plaintexts`) in ``protected``, the
        others in ``dropped``."""
        return BatchVerdicts(*self._t.receive_esp_batch([bytes(p) for p in packets], src, now))

    def handle_timer(self, now: float) -> None:
        """Runs retransmissions, lifetimes, rekeys, DPD and NAT keepalives due at ``now``."""
        self._t.handle_timer(now)

    def set_wall_clock(self, now: float, unix: int) -> None:
        """The wall-clock time (``unix`` seconds since 1970) at ``now``: peer certificates are
        checked against it (``authentication rsa-sig``), and refused without it."""
        self._t.set_wall_clock(now, unix)

    def reconfigure(
        self, configuration: ConfigurationLike, now: float
    ) -> Dict[str, List[str]]:
        """Runs ``configuration`` from ``now`` on: crypto map entries whose policy did not change
        keep their SAs (no packet lost), changed or removed ones are cleared as ``clear crypto
        sa`` clears them (Deletes queued), new ones start idle. Returns the entry names
        (``"VPN 10"``) under ``"kept"``, ``"cleared"`` and ``"added"``. A configuration that
        cannot run raises :class:`ipsec.ConfigurationError` and the running one stays."""
        result: Dict[str, List[str]] = self._t.reconfigure(_native_of(configuration), now)
        return result

    def close(self, now: float) -> None:
        """Deletes every IPsec SA pair and ISAKMP SA; send :meth:`datagrams_to_send` after it
        so that the peers hear the Deletes."""
        self._t.close(now)

    def ezvpn_connect(self, name: str, now: float) -> bool:
        """``crypto ipsec client ezvpn connect NAME``: connects Easy VPN profile ``name`` now
        (a ``connect manual`` profile, or a retry); ``False`` when no such profile exists."""
        return self._t.ezvpn_connect(name, now)

    def ezvpn_xauth(self, name: str, user: str, password: bytes, now: float) -> None:
        """``crypto ipsec client ezvpn xauth``: answers the XAUTH REQUEST that profile
        ``name``'s server waits on (after :class:`ipsec.CredentialsNeeded`) with what the user
        typed; used for that REQUEST only. Raises ``ValueError`` when nothing is pending."""
        self._t.ezvpn_xauth(name, user, bytes(password), now)

    def clear_sa(self, now: float, *, peer: Optional[str] = None) -> int:
        """``clear crypto sa [peer X]``: deletes IPsec SA pairs (sending Deletes); how many.
        The next matching packet negotiates again."""
        return self._t.clear_sa(now, peer=peer)

    # ------------------------------------------------------------------ outputs

    def datagrams_to_send(self, now: Optional[float] = None) -> List[Transmit]:
        """Every queued datagram, oldest first. ``now`` is accepted for symmetry with
        aioquic; the datagrams were made by the input calls."""
        return [Transmit(*t) for t in self._t.datagrams_to_send()]

    def plaintexts(self) -> List[bytes]:
        """Every decrypted packet queued, oldest first (those of VTIs included; see
        :meth:`plaintexts_with_iface`)."""
        return self._t.plaintexts()

    def plaintexts_with_iface(self) -> List[Tuple[bytes, Optional[int]]]:
        """Every decrypted packet queued, oldest first, with the interface it comes out of:
        ``None`` for the protected side of the crypto maps, ``N`` for VTI ``interface
        TunnelN`` (the ``iface`` of :meth:`handle_plaintext_batch`)."""
        return self._t.plaintexts_with_iface()

    def next_event(self) -> Optional[TunnelEvent]:
        """The next event (:class:`ipsec.IsakmpStateChanged`, :class:`ipsec.IpsecSaUp`,
        :class:`ipsec.IpsecSaDown`), or ``None``."""
        e = self._t.next_event()
        if e is None:
            return None
        return _tunnel_event_from_native(e[0], e[1])

    def get_timer(self) -> Optional[float]:
        """The absolute time (same clock as ``now``) at which :meth:`handle_timer` has work."""
        return self._t.get_timer()

    # ------------------------------------------------------------------ views

    def show(
        self, what: str, now: float, *, peer: Optional[str] = None, detail: bool = False
    ) -> str:
        """The text of an IOS show command: ``"crypto isakmp sa"``, ``"crypto isakmp
        policy"``, ``"crypto ipsec sa"``, ``"crypto ipsec transform-set"``, ``"crypto
        map"``, ``"crypto session"`` or ``"running-config"``; a leading ``show``, a trailing
        ``detail`` and ``crypto ipsec sa peer A.B.C.D`` are understood too."""
        return self._t.show(what, now, peer=peer, detail=detail)

    def show_crypto_isakmp_sa(self, now: float, *, detail: bool = False) -> str:
        """``show crypto isakmp sa [detail]``."""
        return self.show("crypto isakmp sa", now, detail=detail)

    def show_crypto_ipsec_sa(
        self, now: float, *, peer: Optional[str] = None, detail: bool = False
    ) -> str:
        """``show crypto ipsec sa [peer X] [detail]`` with the flows' real counters."""
        return self.show("crypto ipsec sa", now, peer=peer, detail=detail)

    def show_crypto_session(self, now: float, *, detail: bool = False) -> str:
        """``show crypto session [detail]``."""
        return self.show("crypto session", now, detail=detail)

    def diagnose(self, now: float, *, peer: Optional[str] = None) -> "List[Verdict]":
        """The troubleshooting diagnosis (the :class:`ipsec.Verdict` of :func:`ipsec.diagnose`)
        of every crypto map peer, or of ``peer`` alone; :func:`ipsec.render` prints it as the
        CLI does."""
        return [_verdict(t) for t in self._t.diagnose(now, peer=peer)]

    @property
    def counters(self) -> Dict[str, int]:
        """Packets that belong to no flow (``not_protected``, ``invalid_spi``, ``malformed``,
        ``keepalives``, ``no_interface``, ...) and outputs dropped because a queue was
        full."""
        return self._t.counters

    @property
    def entries(self) -> List[Dict[str, Any]]:
        """The crypto map entries that run (``map``, ``seq``, ``interface``, ``local``,
        ``peer``, ``pfs_group``); the ``entry`` of the SA events indexes this list."""
        return self._t.entries

    @property
    def skipped(self) -> List[str]:
        """Crypto map entries or ACL lines left out, and why."""
        return self._t.skipped

    def __repr__(self) -> str:
        return repr(self._t).replace("<Tunnel", "<ipsec.Tunnel", 1)
