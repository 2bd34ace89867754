"""Configuration: IOS text (``Configuration.from_ios``) or keyword arguments.

Keyword arguments are rendered to the equivalent IOS commands and parsed by the same parser, so
the two forms cannot drift apart and ``Configuration(...).ios_text`` shows exactly what was
configured. Each ``crypto map`` entry (one per :class:`PeerConfiguration`) becomes one peer of
the endpoint, in order: peer index 0 is the first entry.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from . import _native

__all__ = ["IsakmpPolicy", "TransformSet", "PeerConfiguration", "Configuration"]


@dataclass(frozen=True)
class IsakmpPolicy:
    """``crypto isakmp policy <priority>`` with pre-shared keys. ``encryption``: ``des``,
    ``3des``, ``aes``, ``aes 192``, ``aes 256``; ``hash``: ``md5``, ``sha``, ``sha256``..."""

    priority: int = 10
    encryption: str = "3des"
    hash: str = "sha"
    group: int = 2
    lifetime: int = 86400


@dataclass(frozen=True)
class TransformSet:
    """``crypto ipsec transform-set <name> <transforms>`` (e.g. ``esp-aes 256 esp-sha-hmac``)."""

    name: str = "TS"
    transforms: str = "esp-3des esp-sha-hmac"
    mode: str = "tunnel"


Selector = Tuple[str, str]
"""``(local network, remote network)``, e.g. ``("192.168.1.0/24", "192.168.2.0/24")``; one
crypto ACL permit line."""


@dataclass(frozen=True)
class PeerConfiguration:
    """One peer: ``crypto isakmp key``, and a ``crypto map`` entry with its crypto ACL."""

    address: str
    psk: str
    selectors: Sequence[Selector] = ()
    transform_sets: Sequence[TransformSet] = (TransformSet(),)
    pfs_group: Optional[int] = None
    lifetime_secs: Optional[int] = None
    lifetime_kb: Optional[int] = None


def _acl_operand(net: str) -> str:
    n = ipaddress.ip_network(net, strict=False)
    if not isinstance(n, ipaddress.IPv4Network):
        raise ValueError(f"only IPv4 selectors are supported, got {net!r}")
    if n.prefixlen == 32:
        return f"host {n.network_address}"
    return f"{n.network_address} {n.hostmask}"


def _token(what: str, v: str) -> str:
    if not v or any(c.isspace() for c in v):
        raise ValueError(f"{what} must be one non-empty word, got {v!r}")
    return v


class Configuration:
    """A gateway configuration.

    ``Configuration(peers=[...], local_address="10.0.0.1")`` builds it from keywords;
    ``Configuration.from_ios(text)`` parses IOS configuration text. Raises
    :class:`ipsec.ConfigurationError` (a ``ValueError``) with line and column for text that
    cannot be accepted.
    """

    def __init__(
        self,
        *,
        peers: Sequence[PeerConfiguration],
        local_address: Optional[str] = None,
        local_prefix: int = 24,
        isakmp_policies: Sequence[IsakmpPolicy] = (IsakmpPolicy(),),
        interface: str = "GigabitEthernet0/0",
        crypto_map: str = "VPN",
        nat_traversal: bool = True,
        nat_keepalive: Optional[int] = None,
        dpd_interval: Optional[int] = None,
        dpd_retry: int = 2,
        dpd_periodic: bool = False,
        hostname: Optional[str] = None,
    ) -> None:
        lines: List[str] = []
        if hostname:
            lines.append(f"hostname {_token('hostname', hostname)}")
        for p in isakmp_policies:
            lines += [
                f"crypto isakmp policy {int(p.priority)}",
                f" encr {p.encryption}",
                f" hash {_token('hash', p.hash)}",
                " authentication pre-share",
                f" group {int(p.group)}",
                f" lifetime {int(p.lifetime)}",
            ]
        for peer in peers:
            lines.append(
                f"crypto isakmp key {_token('psk', peer.psk)} address "
                f"{ipaddress.IPv4Address(peer.address)}"
            )
        if dpd_interval is not None:
            mode = " periodic" if dpd_periodic else ""
            lines.append(f"crypto isakmp keepalive {int(dpd_interval)} {int(dpd_retry)}{mode}")
        if nat_keepalive is not None:
            lines.append(f"crypto isakmp nat keepalive {int(nat_keepalive)}")
        if not nat_traversal:
            lines.append("no crypto ipsec nat-transparency udp-encapsulation")
        seen: Dict[str, TransformSet] = {}
        for peer in peers:
            for ts in peer.transform_sets:
                if seen.get(ts.name, ts) != ts:
                    raise ValueError(f"two different transform sets named {ts.name!r}")
                if ts.name in seen:
                    continue
                seen[ts.name] = ts
                lines += [
                    f"crypto ipsec transform-set {_token('transform set name', ts.name)} "
                    f"{ts.transforms}",
                    f" mode {ts.mode}",
                ]
        _token("crypto map", crypto_map)
        for i, peer in enumerate(peers):
            if not peer.selectors:
                raise ValueError(f"peer {peer.address}: at least one selector is needed")
            acl = f"PY-ACL-{i + 1}"
            lines += [
                f"crypto map {crypto_map} {10 * (i + 1)} ipsec-isakmp",
                f" set peer {peer.address}",
                " set transform-set " + " ".join(ts.name for ts in peer.transform_sets),
            ]
            if peer.pfs_group is not None:
                lines.append(f" set pfs group{int(peer.pfs_group)}")
            if peer.lifetime_secs is not None:
                lines.append(f" set security-association lifetime seconds {int(peer.lifetime_secs)}")
            if peer.lifetime_kb is not None:
                lines.append(f" set security-association lifetime kilobytes {int(peer.lifetime_kb)}")
            lines.append(f" match address {acl}")
            lines.append(f"ip access-list extended {acl}")
            for local, remote in peer.selectors:
                lines.append(f" permit ip {_acl_operand(local)} {_acl_operand(remote)}")
        lines.append(f"interface {_token('interface', interface)}")
        if local_address is not None:
            net = ipaddress.IPv4Network(f"{local_address}/{int(local_prefix)}", strict=False)
            lines.append(f" ip address {ipaddress.IPv4Address(local_address)} {net.netmask}")
        lines.append(f" crypto map {crypto_map}")
        self._init_text("\n".join(lines) + "\n")

    def _init_text(self, text: str) -> None:
        self._text = text
        self._native = _native.Configuration.from_ios(text)

    @classmethod
    def from_ios(cls, text: str) -> "Configuration":
        """Parses IOS configuration text (a running-config or pasted commands)."""
        self = cls.__new__(cls)
        self._init_text(text)
        return self

    @property
    def ios_text(self) -> str:
        """The text this configuration was parsed from."""
        return self._text

    @property
    def warnings(self) -> List[str]:
        """Recognised commands that have no effect here."""
        return self._native.warnings

    def peers(self, crypto_map: Optional[str] = None) -> List[Tuple[str, str, int]]:
        """The peers of an endpoint running ``crypto_map`` (default: the map on the first
        interface): ``(address, crypto map, sequence)`` per peer index. Raises
        ConfigurationError when an entry of that map cannot be used."""
        return self._native.peers(crypto_map)

    def render(self) -> str:
        """Canonical running-config text."""
        return self._native.render()

    def validate(self) -> List[str]:
        """Dangling references and values out of range."""
        return self._native.validate()

    def check(self) -> List[str]:
        """Lints for the classic LAN-to-LAN mistakes."""
        return self._native.check()

    def add_rsa_key(self, label: str, pem: str) -> None:
        """The private key of ``rsakeypair label`` (PKCS#1 or PKCS#8 PEM): certificate
        authentication needs it, and a running-config never holds one. ValueError if it does
        not parse."""
        self._native = self._native.with_rsa_key(label, pem)

    def add_crl(self, trustpoint: str, der: bytes) -> None:
        """A CRL (DER) for ``trustpoint`` (``revocation-check crl``)."""
        self._native = self._native.with_crl(trustpoint, bytes(der))

    def show_crypto_isakmp_policy(self) -> str:
        return self._native.show_crypto_isakmp_policy()

    def show_crypto_ipsec_transform_set(self) -> str:
        return self._native.show_crypto_ipsec_transform_set()

    def show_crypto_map(self, *, flavor: str = "12.4T") -> str:
        return self._native.show_crypto_map(flavor=flavor)

    def __repr__(self) -> str:
        return f"<Configuration {self._native!r}>"


ConfigurationLike = Union[Configuration, str]


def _native_of(c: ConfigurationLike) -> "_native.Configuration":
    if isinstance(c, str):
        c = Configuration.from_ios(c)
    if not isinstance(c, Configuration):
        raise TypeError("configuration must be an ipsec.Configuration or IOS text")
    return c._native
