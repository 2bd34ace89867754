/* Shared by two_tunnels.c and test_tunnel.c: the seed's two IOS configurations as C strings,
 * and a wire between two ipsec_tunnel handles in memory. Header-only (static inline), so each
 * program is one gcc line. */
#ifndef IPSEC_EXAMPLE_TUNNEL_WIRE_H
#define IPSEC_EXAMPLE_TUNNEL_WIRE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipsec.h"

/* ipsec-proto/src/ios/seed/siteA.cfg, verbatim (a Rust test in ffi-c/src/tunnel.rs checks). */
static const char SITE_A_CFG[] =
    "hostname siteA\n"
    "crypto isakmp policy 1\n"
    " encr 3des\n"
    " authentication pre-share\n"
    " group 2\n"
    "crypto isakmp key ciscokey address 203.0.113.2\n"
    "!\n"
    "crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac\n"
    "!\n"
    "crypto map VPN 10 ipsec-isakmp\n"
    " set peer 203.0.113.2\n"
    " set transform-set TRANSFORM\n"
    " match address 100\n"
    "!\n"
    "interface FastEthernet4\n"
    " ip address 198.51.100.1 255.255.255.0\n"
    " ip nat outside\n"
    " crypto map VPN\n"
    "interface Vlan1\n"
    " ip address 192.168.1.1 255.255.255.0\n"
    " ip nat inside\n"
    "!\n"
    "ip route 0.0.0.0 0.0.0.0 198.51.100.254\n"
    "ip nat inside source list 101 interface FastEthernet4 overload\n"
    "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\n"
    "access-list 101 deny   ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\n"
    "access-list 101 permit ip 192.168.1.0 0.0.0.255 any\n";

/* ipsec-proto/src/ios/seed/siteB.cfg, verbatim. */
static const char SITE_B_CFG[] =
    "hostname siteB\n"
    "crypto isakmp policy 1\n"
    " encr 3des\n"
    " authentication pre-share\n"
    " group 2\n"
    "crypto isakmp key ciscokey address 198.51.100.1\n"
    "!\n"
    "crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac\n"
    "!\n"
    "crypto map VPN 10 ipsec-isakmp\n"
    " set peer 198.51.100.1\n"
    " set transform-set TRANSFORM\n"
    " match address 100\n"
    "!\n"
    "interface FastEthernet4\n"
    " ip address 203.0.113.2 255.255.255.0\n"
    " ip nat outside\n"
    " crypto map VPN\n"
    "interface Vlan1\n"
    " ip address 192.168.2.1 255.255.255.0\n"
    " ip nat inside\n"
    "!\n"
    "ip route 0.0.0.0 0.0.0.0 203.0.113.254\n"
    "ip nat inside source list 101 interface FastEthernet4 overload\n"
    "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255\n"
    "access-list 101 deny   ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255\n"
    "access-list 101 permit ip 192.168.2.0 0.0.0.255 any\n";

#define TUN_CHECK(expr)                                                                    \
    do {                                                                                   \
        ipsec_result tun_rc_ = (expr);                                                     \
        if (tun_rc_ != IPSEC_RESULT_OK) {                                                  \
            char tun_msg_[128];                                                            \
            size_t tun_n_ = 0;                                                             \
            ipsec_result_message(tun_rc_, (uint8_t *)tun_msg_, sizeof tun_msg_, &tun_n_);  \
            fprintf(stderr, "%s:%d: %s -> %u (%s)\n", __FILE__, __LINE__, #expr,          \
                    (unsigned)tun_rc_, tun_msg_);                                          \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* A tunnel from IOS text; the seed is `seed_byte` 32 times (a real program draws it from its
 * CSPRNG). Exits with the reason on failure. */
static inline ipsec_tunnel *tun_new(const char *cfg, uint8_t seed_byte) {
    uint8_t seed[32];
    memset(seed, seed_byte, sizeof seed);
    ipsec_tunnel *t = NULL;
    size_t line = 0, col = 0;
    ipsec_result rc = ipsec_tunnel_new_from_ios((const uint8_t *)cfg, strlen(cfg), seed, &t,
                                                &line, &col);
    if (rc != IPSEC_RESULT_OK) {
        char why[256];
        size_t n = 0;
        ipsec_tunnel_explain_ios((const uint8_t *)cfg, strlen(cfg), (uint8_t *)why, sizeof why,
                                 &n);
        fprintf(stderr, "configuration refused (%u, line %zu): %s\n", (unsigned)rc, line, why);
        exit(1);
    }
    return t;
}

#define TUN_PING_LEN 84

/* An 84-byte ICMP echo request (IPv4 header checksum filled in), as `ping` sends. */
static inline void tun_ping(uint8_t p[TUN_PING_LEN], const uint8_t src[4], const uint8_t dst[4],
                            uint8_t seq) {
    memset(p, 0, TUN_PING_LEN);
    p[0] = 0x45;
    p[3] = TUN_PING_LEN;
    p[8] = 64;
    p[9] = 1; /* ICMP */
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum > 0xffff)
        sum = (sum & 0xffff) + (sum >> 16);
    p[10] = (uint8_t)(~sum >> 8);
    p[11] = (uint8_t)~sum;
    p[20] = 8; /* echo request */
    p[27] = seq;
    for (int i = 28; i < TUN_PING_LEN; i++)
        p[i] = (uint8_t)(seq + i);
}

/* Everything `from` has to send, handed to `to` as its network would: UDP datagrams with the
 * addresses swapped (our remote is its local), raw ESP by source address. Returns how many. */
static inline int tun_carry(ipsec_tunnel *from, ipsec_tunnel *to, uint64_t now) {
    uint8_t buf[4096];
    ipsec_tunnel_transmit tx;
    int moved = 0;
    ipsec_result rc;
    while ((rc = ipsec_tunnel_poll_transmit(from, buf, sizeof buf, &tx, NULL)) ==
           IPSEC_RESULT_OK) {
        if (tx.kind == IPSEC_TUNNEL_TRANSMIT_UDP) {
            ipsec_path rx = {.local = tx.path.remote, .remote = tx.path.local};
            TUN_CHECK(ipsec_tunnel_handle_datagram(to, now, &rx, buf, tx.len));
        } else {
            TUN_CHECK(ipsec_tunnel_handle_esp(to, now, &tx.path.local, buf, tx.len));
        }
        moved++;
    }
    if (rc != IPSEC_RESULT_NONE)
        TUN_CHECK(rc);
    return moved;
}

/* Fires `t`'s timer when it is due at `now`. */
static inline void tun_tick(ipsec_tunnel *t, uint64_t now) {
    uint64_t deadline = 0;
    if (ipsec_tunnel_poll_timeout(t, &deadline) && deadline <= now)
        TUN_CHECK(ipsec_tunnel_handle_timeout(t, now));
}

/* A show command's text in a malloc'd buffer sized by a first size query (caller frees). */
static inline char *tun_show(const ipsec_tunnel *t, uint64_t now, uint32_t which,
                             const ipsec_addr *peer) {
    size_t need = 0, n = 0;
    ipsec_result rc = ipsec_tunnel_show(t, now, which, peer, NULL, 0, &need);
    if (rc != IPSEC_RESULT_BUFFER_TOO_SMALL) { /* even empty text needs 1 byte, the NUL */
        fprintf(stderr, "show %u: size query returned %u\n", (unsigned)which, (unsigned)rc);
        exit(1);
    }
    char *text = malloc(need);
    if (text == NULL)
        exit(1);
    TUN_CHECK(ipsec_tunnel_show(t, now, which, peer, (uint8_t *)text, need, &n));
    return text;
}

#endif
