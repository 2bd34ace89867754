"""Runs an ipsec.IkeEndpoint over real UDP sockets (ports 500 and 4500) until an IPsec SA pair
with the peer is up, then sends one ICMP echo through the tunnel as ESP and waits for the
encrypted echo reply. Prints progress lines and, last, one JSON line with what happened.

Used by test_strongswan.py inside a network namespace (`ip netns exec NS python this.py ...`);
usable by hand against any IKEv1 peer as well.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time

import ipsec


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp_echo(src: str, dst: str, ident: int, seq: int) -> bytes:
    payload = b"ipsec-py over strongSwan"
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    total = 20 + len(icmp)
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, total, ident, 0, 64, 1, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + icmp


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="IOS configuration file")
    ap.add_argument("--local", required=True)
    ap.add_argument("--inner-src", required=True)
    ap.add_argument("--inner-dst", required=True)
    ap.add_argument("--initiate", action="store_true")
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()

    with open(args.config) as f:
        ep = ipsec.IkeEndpoint(ipsec.Configuration.from_ios(f.read()))
    socks = {}
    for port in (500, 4500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((args.local, port))
        socks[port] = s
    by_fd = {s.fileno(): (port, s) for port, s in socks.items()}
    result: dict = {"events": [], "counters": {}}
    print("READY", flush=True)

    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0 + 1.0

    if args.initiate:
        ep.initiate(0, now=now())
    esp_pair = None
    sent_ping = b""
    pings = 0
    next_ping = 0.0
    deadline = now() + args.timeout

    def flush() -> None:
        nonlocal esp_pair
        for data, local, remote in ep.datagrams_to_send(now=now()):
            socks[local[1]].sendto(data, remote)
        while (e := ep.next_event()) is not None:
            print("event", e, flush=True)
            result["events"].append(type(e).__name__)
            if isinstance(e, ipsec.Phase1Established):
                result["phase1"] = {"nat_detected": e.nat_detected, "remote": e.remote,
                                    "role": e.role}
            elif isinstance(e, ipsec.Phase2Established):
                esp_pair = (ipsec.EspSa.pair_from_event(e, now=now()), e)
                result["phase2"] = {"spi_in": e.spi_in, "spi_out": e.spi_out,
                                    "udp_encap": e.udp_encap, "remote": e.remote,
                                    "transforms": e.transforms}
            elif isinstance(e, ipsec.NegotiationFailed):
                result["failed"] = f"{type(e.error).__name__}: {e.error}"

    flush()
    while now() < deadline and "reply" not in result and "failed" not in result:
        # The peer installs its SAs only once it has processed QM3, which may be after our
        # first ESP packet arrives: repeat the echo every half second until a reply comes.
        if esp_pair is not None and now() >= next_ping:
            (sa_in, sa_out), ev = esp_pair
            pings += 1
            sent_ping = icmp_echo(args.inner_src, args.inner_dst, 0x1234, pings)
            esp = sa_out.encapsulate(sent_ping, now=now())
            if not ev.udp_encap:
                result["failed"] = "plain ESP (protocol 50) is not sent by this helper"
                break
            socks[4500].sendto(esp, ev.remote)
            result["pings_sent"] = pings
            next_ping = now() + 0.5
        timer = ep.get_timer()
        wake = min(deadline, timer if timer is not None else deadline, now() + 0.1)
        wait = max(0.0, wake - now())
        ready, _, _ = select.select(list(by_fd), [], [], wait)
        for fd in ready:
            port, s = by_fd[fd]
            data, addr = s.recvfrom(65535)
            if port == 4500:
                try:
                    kind, body = ipsec.classify_udp4500(data)
                except ipsec.MalformedError:
                    continue
                if kind == "esp":
                    if esp_pair is None:
                        continue
                    (sa_in, _), _ = esp_pair
                    try:
                        inner, nh, seq = sa_in.decapsulate_packet(body, now=now())
                    except ipsec.IpsecError as err:
                        result.setdefault("esp_errors", []).append(repr(err))
                        continue
                    # An echo reply (ICMP type 0) for our identifier.
                    if nh == 4 and inner[9] == 1 and inner[20] == 0:
                        result["reply"] = {"seq": seq, "src": socket.inet_ntoa(inner[12:16]),
                                           "dst": socket.inet_ntoa(inner[16:20]),
                                           "payload_ok": inner[28:] == sent_ping[28:]}
                    continue
                if kind == "keepalive":
                    continue
            ep.receive_datagram(data, local=(args.local, port), remote=addr, now=now())
        t = ep.get_timer()
        if t is not None and t <= now():
            ep.handle_timer(now=now())
        flush()
    result["counters"] = ep.counters
    result["show_isakmp"] = ep.show_crypto_isakmp_sa(now=now())
    if esp_pair is not None:
        (sa_in, sa_out), ev = esp_pair
        result["show_ipsec"] = ep.show_crypto_ipsec_sa(now=now(), esp={ev.child: (sa_in, sa_out)})
    print(json.dumps(result), flush=True)
    return 0 if "reply" in result else 1


if __name__ == "__main__":
    sys.exit(main())
