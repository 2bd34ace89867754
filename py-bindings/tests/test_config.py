"""Configuration from IOS text and from keywords, and the configuration show renderings."""

from __future__ import annotations

import pytest

import ipsec

R1 = """\
hostname R1
crypto isakmp policy 1
 encr aes 256
 hash sha
 authentication pre-share
 group 14
crypto isakmp key s3cret address 203.0.113.2
crypto ipsec transform-set STRONG esp-aes 256 esp-sha-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 203.0.113.2
 set transform-set STRONG
 set pfs group14
 match address 110
access-list 110 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
access-list 110 permit ip host 10.1.9.9 host 10.2.9.9
interface FastEthernet4
 ip address 203.0.113.1 255.255.255.0
 crypto map VPN
"""

R2 = R1.replace("203.0.113.2", "203.0.113.9").replace("203.0.113.1 255", "203.0.113.2 255")


def test_from_ios_and_views() -> None:
    cfg = ipsec.Configuration.from_ios(R1)
    assert cfg.peers() == [("203.0.113.2", "VPN", 10)]
    assert cfg.warnings == [] and cfg.validate() == []
    assert "crypto map VPN 10 ipsec-isakmp" in cfg.render()
    policy = cfg.show_crypto_isakmp_policy()
    assert "AES - Advanced Encryption Standard (256 bit keys)" in policy
    assert "#14 (2048 bit)" in policy
    assert "esp-aes 256 esp-sha-hmac" in cfg.show_crypto_ipsec_transform_set()
    cmap = cfg.show_crypto_map()
    assert "Peer = 203.0.113.2" in cmap and "PFS (Y/N): Y" in cmap


def test_text_accepted_by_the_endpoint() -> None:
    ep = ipsec.IkeEndpoint(R1, rng_seed=bytes(32))
    assert ep.peers == ["203.0.113.2"]
    ep.initiate("203.0.113.2", selector=1, now=0.0)
    ((data, local, remote),) = ep.datagrams_to_send(now=0.0)
    assert local == ("203.0.113.1", 500) and remote == ("203.0.113.2", 500)
    assert data[16:18] == b"\x01\x10"  # SA payload, ISAKMP version 1.0
    with pytest.raises(ValueError):
        ep.initiate(0, selector=2, now=0.0)


def test_parse_error_has_line_and_column() -> None:
    with pytest.raises(ipsec.ConfigurationError) as e:
        ipsec.Configuration.from_ios("crypto isakmp policy 1\n encr rot13\n")
    assert "line 2" in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, ipsec.IpsecError)


def test_incomplete_map_entry_is_refused_for_an_endpoint() -> None:
    text = R1.replace("crypto isakmp key s3cret address 203.0.113.2\n", "")
    cfg = ipsec.Configuration.from_ios(text)
    with pytest.raises(ipsec.ConfigurationError, match="no crypto isakmp key for peer 203.0.113.2"):
        ipsec.IkeEndpoint(cfg, rng_seed=bytes(32))


def test_keywords_render_the_same_as_text() -> None:
    kw = ipsec.Configuration(
        hostname="R1",
        local_address="203.0.113.1",
        interface="FastEthernet4",
        isakmp_policies=[ipsec.IsakmpPolicy(1, "aes 256", "sha", 14)],
        peers=[
            ipsec.PeerConfiguration(
                "203.0.113.2",
                "s3cret",
                selectors=[("10.1.0.0/16", "10.2.0.0/16"), ("10.1.9.9/32", "10.2.9.9/32")],
                transform_sets=[ipsec.TransformSet("STRONG", "esp-aes 256 esp-sha-hmac")],
                pfs_group=14,
            )
        ],
    )
    text = ipsec.Configuration.from_ios(R1)
    # Only the ACL name differs (keywords name it PY-ACL-<n>).
    assert kw.show_crypto_map().replace("PY-ACL-1", "110") == text.show_crypto_map()
    assert kw.show_crypto_isakmp_policy() == text.show_crypto_isakmp_policy()
    # Both give the endpoint the same first message from the same seed.
    first = [
        ipsec.IkeEndpoint(c, rng_seed=bytes(32)) for c in (kw, text)
    ]
    for ep in first:
        ep.initiate(0, selector=1, now=0.0)
    assert first[0].datagrams_to_send(now=0.0) == first[1].datagrams_to_send(now=0.0)


def test_keyword_misuse() -> None:
    with pytest.raises(ValueError):
        ipsec.Configuration(peers=[ipsec.PeerConfiguration("10.0.0.2", "two words",
                                                            selectors=[("1.0.0.0/8", "2.0.0.0/8")])])
    with pytest.raises(ValueError):
        ipsec.Configuration(peers=[ipsec.PeerConfiguration("10.0.0.2", "k")])
    with pytest.raises(ValueError):
        ipsec.Configuration(peers=[ipsec.PeerConfiguration("10.0.0.2", "k",
                                                            selectors=[("2001:db8::/32", "1.0.0.0/8")])])
