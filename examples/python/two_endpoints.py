#!/usr/bin/env python3
"""Two IKEv1 endpoints talking in memory with a virtual clock, then ESP between them.

Run after `pip install ./py-bindings`:  python examples/python/two_endpoints.py

The loop is aioquic's: after every input (a datagram, a timer, a command) send everything
`datagrams_to_send` returns and drain `next_event`; sleep until `get_timer`. Here "sending" is
handing the bytes to the other endpoint, "sleeping" is moving the clock, and the first Main Mode
message is lost on purpose to show the retransmission timer at work.
"""

import ipsec

R1 = """\
hostname R1
crypto isakmp policy 10
 encr aes 256
 hash sha
 authentication pre-share
 group 14
crypto isakmp key example-key address 10.0.0.2
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac
crypto map VPN 10 ipsec-isakmp
 set peer 10.0.0.2
 set transform-set TS
 match address 101
access-list 101 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255
interface GigabitEthernet0/0
 ip address 10.0.0.1 255.255.255.0
 crypto map VPN
"""

# The same thing for R2, with keyword arguments instead of IOS text.
r2 = ipsec.Configuration(
    hostname="R2",
    local_address="10.0.0.2",
    isakmp_policies=[ipsec.IsakmpPolicy(10, encryption="aes 256", hash="sha", group=14)],
    peers=[
        ipsec.PeerConfiguration(
            "10.0.0.1",
            "example-key",
            selectors=[("192.168.2.0/24", "192.168.1.0/24")],
            transform_sets=[ipsec.TransformSet("TS", "esp-aes 256 esp-sha-hmac")],
        )
    ],
)


def main() -> None:
    r1 = ipsec.IkeEndpoint(ipsec.Configuration.from_ios(R1), rng_seed=bytes(32))
    r2_ep = ipsec.IkeEndpoint(r2, rng_seed=bytes([7]) * 32)
    by_addr = {"10.0.0.1": r1, "10.0.0.2": r2_ep}
    names = {id(r1): "R1", id(r2_ep): "R2"}
    children = {}
    now = 0.0
    lose_next = True

    def pump() -> None:
        nonlocal lose_next
        moved = True
        while moved:
            moved = False
            for ep in (r1, r2_ep):
                for data, local, remote in ep.datagrams_to_send(now=now):
                    moved = True
                    if lose_next:
                        lose_next = False
                        print(f"{now:6.2f}s  {names[id(ep)]} -> {remote[0]}: {len(data)} bytes  (lost)")
                        continue
                    print(f"{now:6.2f}s  {names[id(ep)]} -> {remote[0]}: {len(data)} bytes")
                    by_addr[remote[0]].receive_datagram(data, local=remote, remote=local, now=now)
            for ep in (r1, r2_ep):
                while (event := ep.next_event()) is not None:
                    print(f"{now:6.2f}s  {names[id(ep)]}: {event}")
                    if isinstance(event, ipsec.Phase2Established):
                        children[names[id(ep)]] = ipsec.EspSa.pair_from_event(event, now=now)

    r1.initiate(0, now=now)
    pump()
    while len(children) < 2:
        timers = [t for t in (r1.get_timer(), r2_ep.get_timer()) if t is not None]
        now = min(timers)
        print(f"{now:6.2f}s  timer fires")
        for ep in (r1, r2_ep):
            ep.handle_timer(now=now)
        pump()

    print()
    print(r1.show_crypto_isakmp_sa(now=now))
    (r1_in, r1_out), (r2_in, r2_out) = children["R1"], children["R2"]
    packet = bytes.fromhex("4500001c0001000040017a0cc0a80101c0a80201") + bytes.fromhex("0800f7ff00000000")
    esp = r1_out.encapsulate(packet, now=now)
    print(f"R1 encrypts a {len(packet)}-byte ICMP echo into {len(esp)} bytes of ESP (SPI 0x{r1_out.spi:08x})")
    assert r2_in.decapsulate(esp, now=now) == packet
    try:
        r2_in.decapsulate(esp, now=now)
    except ipsec.ReplayError as e:
        print(f"R2 refuses the same packet again: {e}")
    child = r1.ipsec_sas(now=now)[0]["child"]
    print(r1.show_crypto_ipsec_sa(now=now, esp={child: (r1_in, r1_out)}))
    a_reply = r2_out.encapsulate(packet, now=now)
    assert r1_in.decapsulate(a_reply, now=now) == packet
    print(r1.show_crypto_session(now=now, esp={child: (r1_in, r1_out)}))
    print(ipsec.render(ipsec.diagnose(r1, now=now, esp={child: (r1_in, r1_out)})))


if __name__ == "__main__":
    main()
