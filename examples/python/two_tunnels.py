#!/usr/bin/env python3
"""The seed's two sites (ipsec-proto/src/ios/seed/site{A,B}.cfg) as two ipsec.Tunnel objects
talking in memory with a virtual clock; pings go through the tunnel both ways.

Run after `pip install ./py-bindings`:  python examples/python/two_tunnels.py

The loop is aioquic's: after every input (a packet, a datagram, a timer) send everything
`datagrams_to_send` returns, deliver `plaintexts()` to the protected side, drain `next_event`;
sleep until `get_timer`. "Sending" is handing the bytes to the other site.
"""

import ipaddress
import pathlib
import struct

import ipsec

SEED = pathlib.Path(__file__).resolve().parents[2] / "ipsec-proto" / "src" / "ios" / "seed"


def ping(src: str, dst: str, seq: int) -> bytes:
    """An IPv4 ICMP echo request (header checksum set, ICMP checksum left 0)."""
    ips = ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
    hdr = struct.pack("!BBHHHBBH", 0x45, 0, 28, seq, 0, 64, 1, 0) + ips
    s = sum(struct.unpack("!10H", hdr))
    csum = ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF  # one fold is enough for ten words
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + struct.pack("!BBHHH", 8, 0, 0, 1, seq)


def carry(src: ipsec.Tunnel, dst: ipsec.Tunnel, now: float, site: str) -> int:
    """Sends what `src` has to `dst` (site `site`), prints what `dst` delivers; how many
    datagrams moved."""
    sent = src.datagrams_to_send(now)
    for t in sent:
        if t.kind == "udp":  # IKE on UDP 500 (4500 behind a NAT)
            dst.receive_datagram(t.data, t.remote_address, t.local_address, now)
        else:  # raw ESP, IP protocol 50
            dst.receive_esp(t.data, t.local, now)
    for packet in dst.plaintexts():
        src_ip, dst_ip = (ipaddress.IPv4Address(packet[i : i + 4]) for i in (12, 16))
        print(f"{now:5.2f}s  site {site} delivers {len(packet)} bytes {src_ip} -> {dst_ip}")
    while (event := dst.next_event()) is not None:
        print(f"{now:5.2f}s  site {site}: {event}")
    return len(sent)


HOST_A, HOST_B = "192.168.1.10", "192.168.2.10"


def main() -> None:
    a = ipsec.Tunnel.from_ios((SEED / "siteA.cfg").read_text(), seed=bytes(32))
    b = ipsec.Tunnel.from_ios((SEED / "siteB.cfg").read_text(), seed=bytes([1]) * 32)
    now = 1.0
    print("first ping:", a.handle_plaintext(ping(HOST_A, HOST_B, 0), now).name)
    while carry(a, b, now, "B") + carry(b, a, now, "A"):  # Main Mode and Quick Mode, then quiet
        now += 0.01
    for seq in range(1, 4):
        for src, dst, host, peer, site in ((a, b, HOST_A, HOST_B, "B"), (b, a, HOST_B, HOST_A, "A")):
            print(f"{host} -> {peer} #{seq}: {src.handle_plaintext(ping(host, peer, seq), now).name}")
            carry(src, dst, now, site)
    print(a.show("crypto isakmp sa", now), a.show("crypto ipsec sa", now), sep="\n")
    print(f"next timer at {a.get_timer():.2f}s")


if __name__ == "__main__":
    main()
