/* Two ipsec_tunnel handles built from the seed's IOS configurations (siteA, siteB: see
 * tunnel_wire.h), wired back to back in memory. A ping from LAN A starts IKE and is dropped, as
 * on IOS; once the SAs are up one ping goes each way through ESP and must arrive byte-exact.
 *   gcc -Iffi-c/include examples/c/two_tunnels.c target/release/libipsecrs.a \
 *       -lpthread -ldl -lm -o two_tunnels && ./two_tunnels                        */
#include "tunnel_wire.h"

int main(void) {
    static const uint8_t host_a[4] = {192, 168, 1, 10}, host_b[4] = {192, 168, 2, 10};
    ipsec_tunnel *a = tun_new(SITE_A_CFG, 1), *b = tun_new(SITE_B_CFG, 2);
    uint8_t pkt[TUN_PING_LEN], got[2048];
    uint32_t verdict = 0;
    uint64_t now = 1000; /* milliseconds on our own clock */
    tun_ping(pkt, host_a, host_b, 0);
    TUN_CHECK(ipsec_tunnel_handle_plaintext(a, now, pkt, sizeof pkt, &verdict));
    int ok = verdict == IPSEC_TUN_VERDICT_NO_SA, up_a = 0, up_b = 0;
    while (!(up_a && up_b) && now < 60000) { /* carry datagrams until both sides have SAs */
        tun_carry(a, b, now);
        tun_carry(b, a, now);
        ipsec_tunnel_event ev;
        while (ipsec_tunnel_poll_event(a, &ev) == IPSEC_RESULT_OK) {
            if (ev.kind == IPSEC_TUNNEL_EVENT_ISAKMP_STATE)
                printf("siteA: ISAKMP SA %u %s -> %s\n", ev.conn_id, ev.from_state, ev.to_state);
            up_a |= ev.kind == IPSEC_TUNNEL_EVENT_IPSEC_UP;
        }
        while (ipsec_tunnel_poll_event(b, &ev) == IPSEC_RESULT_OK)
            up_b |= ev.kind == IPSEC_TUNNEL_EVENT_IPSEC_UP;
        now += 10;
        tun_tick(a, now);
        tun_tick(b, now);
    }
    for (int i = 0; i < 2 && ok && up_a && up_b; i++) { /* A -> B, then B -> A */
        ipsec_tunnel *from = i ? b : a, *to = i ? a : b;
        size_t n = 0;
        tun_ping(pkt, i ? host_b : host_a, i ? host_a : host_b, (uint8_t)(i + 1));
        TUN_CHECK(ipsec_tunnel_handle_plaintext(from, now, pkt, sizeof pkt, &verdict));
        tun_carry(from, to, now);
        ok = verdict == IPSEC_TUN_VERDICT_PROTECTED &&
             ipsec_tunnel_poll_plaintext(to, got, sizeof got, &n) == IPSEC_RESULT_OK &&
             n == sizeof pkt && memcmp(got, pkt, n) == 0;
        printf("ping %s: %s\n", i ? "siteB -> siteA" : "siteA -> siteB", ok ? "ok" : "LOST");
    }
    char *isakmp = tun_show(a, now, IPSEC_SHOW_ISAKMP_SA, NULL);
    char *ipsec = tun_show(a, now, IPSEC_SHOW_IPSEC_SA, NULL);
    printf("\nsiteA#show crypto isakmp sa\n%s\nsiteA#show crypto ipsec sa\n%s", isakmp, ipsec);
    ok = ok && up_a && up_b && strstr(isakmp, "QM_IDLE") && strstr(ipsec, "#pkts encaps: 1");
    free(isakmp);
    free(ipsec);
    ipsec_tunnel_free(&a);
    ipsec_tunnel_free(&b);
    return ok ? 0 : 1;
}
