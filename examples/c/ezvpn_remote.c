/* A remote-access client built from its parts (no IOS text) against an Easy VPN server built
 * from IOS text, wired back to back in memory. The client stores no password: the server's
 * XAUTH request arrives as IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED and is answered with what
 * "the user typed"; the server then assigns an address over Mode Config, and a ping from that
 * address reaches the server's LAN.
 *   gcc -Iffi-c/include examples/c/ezvpn_remote.c target/release/libipsecrs.a \
 *       -lpthread -ldl -lm -o ezvpn_remote && ./ezvpn_remote                          */
#include "tunnel_wire.h"

static const char HUB_CFG[] =
    "hostname hub\n"
    "crypto isakmp policy 1\n encr aes 256\n authentication pre-share\n group 2\n"
    "aaa new-model\n"
    "aaa authentication login users local\n"
    "aaa authorization network groups local\n"
    "username alice password 0 tunnel-pass-1\n"
    "ip local pool EZ 10.99.0.10 10.99.0.20\n"
    "access-list 150 permit ip 192.168.1.0 0.0.0.255 any\n"
    "crypto isakmp client configuration group vpngroup\n"
    " key tunnel-group-key\n dns 192.168.1.53\n pool EZ\n acl 150\n"
    "crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac\n"
    "crypto dynamic-map DYN 10\n set transform-set TS\n reverse-route\n"
    "crypto map VPN client authentication list users\n"
    "crypto map VPN isakmp authorization list groups\n"
    "crypto map VPN client configuration address respond\n"
    "crypto map VPN 65535 ipsec-isakmp dynamic DYN\n"
    "interface FastEthernet4\n ip address 198.51.100.1 255.255.255.0\n crypto map VPN\n"
    "interface Vlan1\n ip address 192.168.1.1 255.255.255.0\n";

static ipsec_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    ipsec_addr x;
    memset(&x, 0, sizeof x);
    x.family = IPSEC_AF_INET;
    x.bytes[0] = a, x.bytes[1] = b, x.bytes[2] = c, x.bytes[3] = d;
    return x;
}

static void run(ipsec_tunnel *a, ipsec_tunnel *b, uint64_t *now, int steps) {
    for (int i = 0; i < steps; i++) {
        tun_tick(a, *now);
        tun_tick(b, *now);
        tun_carry(a, b, *now);
        tun_carry(b, a, *now);
        *now += 10;
    }
}

int main(void) {
    ipsec_tunnel *hub = tun_new(HUB_CFG, 3), *remote = NULL;
    ipsec_addr peers[1] = {v4(198, 51, 100, 1)};
    const char *name = "RA", *group = "vpngroup", *key = "tunnel-group-key";
    ipsec_ezvpn_remote spec;
    memset(&spec, 0, sizeof spec);
    spec.name = (const uint8_t *)name, spec.name_len = strlen(name);
    spec.local = v4(203, 0, 113, 2), spec.local_prefix_len = 24;
    spec.peers = peers, spec.peers_len = 1;
    spec.group = (const uint8_t *)group, spec.group_len = strlen(group);
    spec.key = (const uint8_t *)key, spec.key_len = strlen(key);
    spec.user = NULL; /* no stored credentials: ask when the server does */
    spec.connect_auto = true;
    uint8_t seed[32];
    memset(seed, 4, sizeof seed);
    TUN_CHECK(ipsec_tunnel_new_ezvpn_remote(&spec, seed, &remote));

    uint64_t now = 1000;
    int asked = 0, configured = 0;
    ipsec_addr assigned;
    memset(&assigned, 0, sizeof assigned);
    for (int round = 0; round < 40 && !configured; round++) {
        run(remote, hub, &now, 10);
        ipsec_tunnel_event ev;
        while (ipsec_tunnel_poll_event(remote, &ev) == IPSEC_RESULT_OK) {
            if (ev.kind == IPSEC_TUNNEL_EVENT_CREDENTIALS_NEEDED) {
                const char *user = "alice", *password = "tunnel-pass-1";
                printf("remote: the server asks for credentials\n");
                asked++;
                TUN_CHECK(ipsec_tunnel_ezvpn_xauth(remote, now, (const uint8_t *)name,
                                                   strlen(name), (const uint8_t *)user,
                                                   strlen(user), (const uint8_t *)password,
                                                   strlen(password)));
            } else if (ev.kind == IPSEC_TUNNEL_EVENT_CLIENT_CONFIGURED) {
                assigned = ev.assigned;
                configured = 1;
                printf("remote: configured, address %u.%u.%u.%u\n", assigned.bytes[0],
                       assigned.bytes[1], assigned.bytes[2], assigned.bytes[3]);
            } else if (ev.kind == IPSEC_TUNNEL_EVENT_ROUTE_ADD) {
                printf("remote: route %u.%u.%u.%u/%u into the tunnel\n", ev.route_prefix.bytes[0],
                       ev.route_prefix.bytes[1], ev.route_prefix.bytes[2],
                       ev.route_prefix.bytes[3], ev.route_prefix_len);
            }
        }
    }
    run(remote, hub, &now, 20); /* the Quick Mode after Mode Config */
    static const uint8_t server_lan_host[4] = {192, 168, 1, 10};
    uint8_t pkt[TUN_PING_LEN], got[2048];
    uint32_t verdict = 0;
    size_t n = 0;
    tun_ping(pkt, assigned.bytes, server_lan_host, 1);
    TUN_CHECK(ipsec_tunnel_handle_plaintext(remote, now, pkt, sizeof pkt, &verdict));
    tun_carry(remote, hub, now);
    int ok = asked == 1 && configured && verdict == IPSEC_TUN_VERDICT_PROTECTED &&
             ipsec_tunnel_poll_plaintext(hub, got, sizeof got, &n) == IPSEC_RESULT_OK &&
             n == sizeof pkt && memcmp(got, pkt, n) == 0;
    printf("ping from the assigned address: %s\n", ok ? "ok" : "LOST");
    char *ez = tun_show(remote, now, IPSEC_SHOW_CRYPTO_IPSEC_CLIENT_EZVPN, NULL);
    char *session = tun_show(hub, now, IPSEC_SHOW_CRYPTO_SESSION_DETAIL, NULL);
    printf("\nremote#show crypto ipsec client ezvpn\n%s\nhub#show crypto session detail\n%s", ez,
           session);
    ok = ok && strstr(ez, "Current State: IPSEC_ACTIVE") && strstr(session, "Username: alice");
    free(ez);
    free(session);
    ipsec_tunnel_free(&remote);
    ipsec_tunnel_free(&hub);
    return ok ? 0 : 1;
}
