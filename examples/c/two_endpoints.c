/* Two IKEv1 endpoints in one process, wired back to back in memory with an explicit clock: the
 * seed scenario (R1 198.51.100.1 / LAN 192.168.1.0/24 <-> R2 203.0.113.2 / LAN 192.168.2.0/24;
 * 3DES/SHA/group 2, pre-shared key "ciscokey"; esp-3des esp-sha-hmac). R1 is configured from IOS
 * text (the seed's siteA file, or the path given as the first argument), R2 from a peer struct.
 * Both reach QM_IDLE, then ESP packets flow both ways and both sides print their show output.
 *
 *   gcc -Iffi-c/include examples/c/two_endpoints.c target/release/libipsecrs.a \
 *       -lpthread -ldl -lm -o two_endpoints && ./two_endpoints   # from the repository root
 * or, after ffi-c/install.sh (see ffi-c/README.md), through pkg-config:
 *   gcc examples/c/two_endpoints.c $(pkg-config --cflags --libs ipsecrs) -o two_endpoints
 */
#include "pump.h"

/* R1 is the seed's siteA (cisco-ios.md A.8): the same file the Rust demo and tests use. */
#define SITE_A_CFG "ipsec-proto/src/ios/seed/siteA.cfg"

/* The whole file in a malloc'd buffer (caller frees), NULL on error. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void log_line(void *userdata, uint32_t level, const char *msg, size_t len) {
    printf("[%s log %u] %.*s\n", (const char *)userdata, level, (int)len, msg);
}

int main(int argc, char **argv) {
    printf("%s (header %d.%d.%d)\n", ipsec_version(), IPSEC_VERSION_MAJOR, IPSEC_VERSION_MINOR,
           IPSEC_VERSION_PATCH);

    /* Fixed seeds make the run reproducible; a real program draws them from its CSPRNG. */
    uint8_t seed1[32], seed2[32];
    for (int i = 0; i < 32; i++) {
        seed1[i] = (uint8_t)(i + 1);
        seed2[i] = (uint8_t)(0xA0 + i);
    }

    ipsec_config *c1 = NULL, *c2 = NULL;
    size_t line = 0, col = 0;
    const char *cfg_path = argc > 1 ? argv[1] : SITE_A_CFG;
    size_t r1_len = 0;
    char *r1_config = read_file(cfg_path, &r1_len);
    if (r1_config == NULL) {
        fprintf(stderr, "cannot read %s (run from the repository root or pass the path)\n",
                cfg_path);
        return 1;
    }
    ipsec_result rc = ipsec_config_from_ios((const uint8_t *)r1_config, r1_len, &c1, &line, &col);
    free(r1_config);
    CHECK(rc);

    static const uint8_t psk[] = "ciscokey";
    ipsec_peer_params r2_peer = {
        .peer_addr = {198, 51, 100, 1},
        .local_addr = {203, 0, 113, 2},
        .psk = psk,
        .psk_len = sizeof psk - 1,
        .ike_cipher = IPSEC_IKE_CIPHER_3DES,
        .ike_hash = IPSEC_IKE_HASH_SHA1,
        .dh_group = 2,
        .esp_cipher = IPSEC_ESP_CIPHER_3DES,
        .esp_integ = IPSEC_ESP_INTEG_SHA1_96,
        .mode = IPSEC_MODE_TUNNEL,
        .local_net = {192, 168, 2, 0},
        .local_prefix = 24,
        .remote_net = {192, 168, 1, 0},
        .remote_prefix = 24,
    };
    uint32_t r2_peer_index = 99;
    CHECK(ipsec_config_new(&c2));
    CHECK(ipsec_config_add_peer(c2, &r2_peer, &r2_peer_index));

    struct side r1 = {.name = "R1", .addr = {198, 51, 100, 1}};
    struct side r2 = {.name = "R2", .addr = {203, 0, 113, 2}};
    CHECK(ipsec_endpoint_new(c1, seed1, &r1.ep));
    CHECK(ipsec_endpoint_new(c2, seed2, &r2.ep));
    ipsec_config_free(&c1); /* endpoints keep their own copy */
    ipsec_config_free(&c2);
    CHECK(ipsec_endpoint_set_log_callback(r1.ep, log_line, (void *)"R1"));
    CHECK(ipsec_endpoint_set_log_callback(r2.ep, log_line, (void *)"R2"));

    uint64_t now = 1000; /* milliseconds on our own clock */
    CHECK(ipsec_endpoint_initiate(r1.ep, now, 0, 0));
    now = pump(&r1, &r2, now, 200);
    if (!(r1.phase1_up && r2.phase1_up && r1.phase2_up && r2.phase2_up)) {
        fprintf(stderr, "negotiation did not finish (R1 %d/%d, R2 %d/%d)\n", r1.phase1_up,
                r1.phase2_up, r2.phase1_up, r2.phase2_up);
        return 1;
    }
    printf("negotiated at t=%llu ms; ESP overhead %zu bytes\n", (unsigned long long)now,
           ipsec_esp_sa_overhead(r1.sa_out));

    static const uint8_t lan1[4] = {192, 168, 1, 10}, lan2[4] = {192, 168, 2, 20};
    uint8_t pkt[60];
    int bad = 0;
    for (uint8_t i = 0; i < 3; i++) {
        bad |= esp_roundtrip(&r1, &r2, now, pkt, make_ipv4(pkt, lan1, lan2, i));
        bad |= esp_roundtrip(&r2, &r1, now, pkt, make_ipv4(pkt, lan2, lan1, (uint8_t)(i + 100)));
        now += 1000;
    }

    struct side *sides[2] = {&r1, &r2};
    for (int i = 0; i < 2; i++) {
        struct side *s = sides[i];
        const ipsec_esp_sa *sas[2] = {s->sa_in, s->sa_out};
        char *isakmp = show(s->ep, now, 0, NULL, 0);
        char *ipsec = show(s->ep, now, 1, sas, 2);
        printf("\n%s#show crypto isakmp sa\n%s\n%s#show crypto ipsec sa\n%s\n", s->name, isakmp,
               s->name, ipsec);
        if (strstr(isakmp, "QM_IDLE") == NULL || strstr(ipsec, "#pkts encaps: 3") == NULL) {
            fprintf(stderr, "%s: show output lacks QM_IDLE or the packet counters\n", s->name);
            bad = 1;
        }
        free(isakmp);
        free(ipsec);
        ipsec_esp_sa_free(&s->sa_in);
        ipsec_esp_sa_free(&s->sa_out);
        ipsec_endpoint_free(&s->ep);
    }
    return bad;
}
