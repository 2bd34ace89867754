/* C tests of the ipsec ABI: misuse (NULL handles, tiny buffers, garbage input, double free),
 * the "out-parameters only on success" rule, ESP failures by code, IOS config errors, and a full
 * negotiation through the public header. Run under AddressSanitizer and valgrind by CI.
 *
 *   gcc -Iffi-c/include examples/c/test_ffi.c target/release/libipsecrs.a \
 *       -lpthread -ldl -lm -o test_ffi && ./test_ffi
 */
#include "pump.h"

static int failures = 0;
static int checks = 0;

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                                  \
    } while (0)

#define EXPECT_RC(expr, want)                                                              \
    do {                                                                                   \
        ipsec_result got_ = (expr);                                                        \
        checks++;                                                                          \
        if (got_ != (want)) {                                                              \
            failures++;                                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s returned %u, expected %u\n", __FILE__,      \
                    __LINE__, #expr, (unsigned)got_, (unsigned)(want));                    \
        }                                                                                  \
    } while (0)

static const uint8_t ENC_KEY[24] = "0123456789abcdefghijklmn"; /* 3DES */
static const uint8_t AUTH_KEY[20] = "ABCDEFGHIJKLMNOPQRST";    /* HMAC-SHA1 */
static const uint8_t SEED[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

static ipsec_path path_between(const uint8_t local[4], const uint8_t remote[4]) {
    ipsec_path p;
    memset(&p, 0, sizeof p);
    p.local.family = p.remote.family = IPSEC_AF_INET;
    p.local.port = p.remote.port = 500;
    memcpy(p.local.bytes, local, 4);
    memcpy(p.remote.bytes, remote, 4);
    return p;
}

static ipsec_esp_sa *esp_sa(uint32_t dir, uint32_t spi) {
    ipsec_esp_sa *sa = NULL;
    CHECK(ipsec_esp_sa_new(dir, spi, IPSEC_ESP_CIPHER_3DES, IPSEC_ESP_INTEG_SHA1_96, ENC_KEY,
                           sizeof ENC_KEY, AUTH_KEY, sizeof AUTH_KEY, IPSEC_MODE_TUNNEL, false,
                           dir == IPSEC_DIRECTION_OUTBOUND ? SEED : NULL, 0, &sa));
    return sa;
}

static ipsec_peer_params seed_peer(const uint8_t peer[4], const uint8_t local[4],
                                   const char *psk, uint8_t local_net3, uint8_t remote_net3) {
    ipsec_peer_params p;
    memset(&p, 0, sizeof p);
    memcpy(p.peer_addr, peer, 4);
    memcpy(p.local_addr, local, 4);
    p.psk = (const uint8_t *)psk;
    p.psk_len = strlen(psk);
    p.ike_cipher = IPSEC_IKE_CIPHER_3DES;
    p.ike_hash = IPSEC_IKE_HASH_SHA1;
    p.dh_group = 2;
    p.esp_cipher = IPSEC_ESP_CIPHER_3DES;
    p.esp_integ = IPSEC_ESP_INTEG_SHA1_96;
    p.mode = IPSEC_MODE_TUNNEL;
    uint8_t ln[4] = {192, 168, local_net3, 0}, rn[4] = {192, 168, remote_net3, 0};
    memcpy(p.local_net, ln, 4);
    memcpy(p.remote_net, rn, 4);
    p.local_prefix = p.remote_prefix = 24;
    return p;
}

static const uint8_t R1[4] = {198, 51, 100, 1}, R2[4] = {203, 0, 113, 2};

static void make_pair(struct side *a, struct side *b, const char *psk_a, const char *psk_b) {
    ipsec_config *ca = NULL, *cb = NULL;
    ipsec_peer_params pa = seed_peer(R2, R1, psk_a, 1, 2), pb = seed_peer(R1, R2, psk_b, 2, 1);
    CHECK(ipsec_config_new(&ca));
    CHECK(ipsec_config_new(&cb));
    CHECK(ipsec_config_add_peer(ca, &pa, NULL));
    CHECK(ipsec_config_add_peer(cb, &pb, NULL));
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->name = "A";
    b->name = "B";
    memcpy(a->addr, R1, 4);
    memcpy(b->addr, R2, 4);
    uint8_t seed_b[32];
    memcpy(seed_b, SEED, 32);
    seed_b[0] ^= 1;
    CHECK(ipsec_endpoint_new(ca, SEED, &a->ep));
    CHECK(ipsec_endpoint_new(cb, seed_b, &b->ep));
    ipsec_config_free(&ca);
    ipsec_config_free(&cb);
}

static void free_side(struct side *s) {
    ipsec_esp_sa_free(&s->sa_in);
    ipsec_esp_sa_free(&s->sa_out);
    ipsec_endpoint_free(&s->ep);
}

/* ipsec_result_message: every code has a text; tiny buffers get the size needed. */
static void test_result_messages(void) {
    char buf[256];
    size_t n = 12345;
    EXPECT_RC(ipsec_result_message(IPSEC_RESULT_ESP_REPLAYED, (uint8_t *)buf, sizeof buf, &n),
              IPSEC_RESULT_OK);
    EXPECT(n == strlen(buf) && strstr(buf, "replay") != NULL);

    size_t need = 0;
    EXPECT_RC(ipsec_result_message(IPSEC_RESULT_ESP_REPLAYED, NULL, 0, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(need == n + 1);
    char tiny[4] = {'x', 'x', 'x', 'x'};
    size_t need2 = 0;
    EXPECT_RC(ipsec_result_message(IPSEC_RESULT_ESP_REPLAYED, (uint8_t *)tiny, sizeof tiny, &need2),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(need2 == need && tiny[0] == 'x' && tiny[3] == 'x'); /* untouched */
    char exact[256];
    EXPECT_RC(ipsec_result_message(IPSEC_RESULT_ESP_REPLAYED, (uint8_t *)exact, need, &n),
              IPSEC_RESULT_OK);
    EXPECT(exact[need - 1] == '\0');

    EXPECT_RC(ipsec_result_message(424242, (uint8_t *)buf, sizeof buf, &n), IPSEC_RESULT_OK);
    EXPECT(strstr(buf, "unknown result code 424242") != NULL);
    EXPECT_RC(ipsec_result_message(0, (uint8_t *)buf, sizeof buf, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_result_message(0, NULL, 10, &n), IPSEC_RESULT_NULL_PARAMETER);

    static const uint32_t codes[] = {   0,    1, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007,
                                     1008, 1009, 1010, 1011, 1012, 2000, 2001, 2002, 2003, 2004,
                                     2005, 2006, 3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007,
                                     3008, 3009, 4000, 4001, 5000, 5001, 5002, 5003, 5004, 5005,
                                     5006, 6000, 7000};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        EXPECT_RC(ipsec_result_message(codes[i], (uint8_t *)buf, sizeof buf, &n), IPSEC_RESULT_OK);
        EXPECT(n > 0 && strstr(buf, "unknown result code") == NULL);
    }
    EXPECT(strncmp(ipsec_version(), "ipsec-ffi/", 10) == 0);
}

/* Every handle-taking function refuses NULL; frees of NULL are no-ops. */
static void test_null_handles(void) {
    uint8_t buf[64] = {0};
    size_t n = 77;
    uint32_t u = 77;
    uint64_t d = 77;
    ipsec_transmit t;
    ipsec_path p = path_between(R1, R2);
    ipsec_event *ev = NULL;
    ipsec_esp_stats st;
    ipsec_endpoint_counters ctr;

    EXPECT_RC(ipsec_esp_sa_encapsulate(NULL, 0, buf, 10, 4, buf, sizeof buf, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_esp_sa_decapsulate(NULL, 0, buf, 10, buf, sizeof buf, &n, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(ipsec_esp_sa_overhead(NULL) == 0);
    EXPECT(ipsec_esp_sa_spi(NULL) == 0);
    EXPECT_RC(ipsec_esp_sa_stats(NULL, &st), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_new(NULL, SEED, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_initiate(NULL, 0, 0, 0), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_handle_datagram(NULL, 0, &p, buf, 10), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_handle_timeout(NULL, 0), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_poll_transmit(NULL, 0, buf, sizeof buf, &t, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(!ipsec_endpoint_poll_timeout(NULL, &d));
    EXPECT_RC(ipsec_endpoint_poll_event(NULL, &ev), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_get_counters(NULL, &ctr), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_show_isakmp_sa(NULL, 0, buf, sizeof buf, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_show_ipsec_sa(NULL, 0, NULL, 0, buf, sizeof buf, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_add_peer(NULL, NULL, &u), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_endpoint_set_log_callback(NULL, NULL, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_config_add_peer(NULL, NULL, &u), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(ipsec_config_peer_count(NULL) == 0);
    EXPECT(ipsec_event_kind(NULL) == 0);
    EXPECT_RC(ipsec_event_peer(NULL, &u), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_event_child(NULL, &d), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_event_error(NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_event_describe(NULL, buf, sizeof buf, &n), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_event_take_esp_sas(NULL, 0, NULL, NULL), IPSEC_RESULT_NULL_PARAMETER);
    ipsec_isakmp_state_change ch;
    EXPECT_RC(ipsec_event_isakmp_state(NULL, &ch), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(n == 77 && u == 77 && d == 77); /* out-parameters untouched on failure */

    /* Frees: NULL pointer-to-handle and pointer to NULL are both no-ops. */
    ipsec_esp_sa *sa = NULL;
    ipsec_endpoint *ep = NULL;
    ipsec_config *cfg = NULL;
    ipsec_esp_sa_free(NULL);
    ipsec_esp_sa_free(&sa);
    ipsec_endpoint_free(NULL);
    ipsec_endpoint_free(&ep);
    ipsec_config_free(NULL);
    ipsec_config_free(&cfg);
    ipsec_event_free(NULL);
    ipsec_event_free(&ev);
    EXPECT(sa == NULL && ep == NULL && cfg == NULL && ev == NULL);
}

/* Freeing through the handle's address clears it, so a second free of the same variable is a
 * no-op instead of a double free (valgrind/ASan would catch one). */
static void test_double_free_by_shape(void) {
    ipsec_esp_sa *sa = esp_sa(IPSEC_DIRECTION_INBOUND, 0x1234);
    EXPECT(sa != NULL);
    ipsec_esp_sa_free(&sa);
    EXPECT(sa == NULL);
    ipsec_esp_sa_free(&sa);

    ipsec_config *cfg = NULL;
    CHECK(ipsec_config_new(&cfg));
    ipsec_endpoint *ep = NULL;
    CHECK(ipsec_endpoint_new(cfg, SEED, &ep));
    ipsec_config_free(&cfg);
    ipsec_config_free(&cfg);
    ipsec_endpoint_free(&ep);
    ipsec_endpoint_free(&ep);
    EXPECT(cfg == NULL && ep == NULL);
}

/* ESP: round trip, tiny buffers, replay, tampering, truncation, wrong direction, bad keys. */
static void test_esp(void) {
    ipsec_esp_sa *out = esp_sa(IPSEC_DIRECTION_OUTBOUND, 0x1000);
    ipsec_esp_sa *in = esp_sa(IPSEC_DIRECTION_INBOUND, 0x1000);
    uint8_t inner[60], esp[256], plain[256];
    static const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    size_t len = make_ipv4(inner, a, b, 3);
    EXPECT(ipsec_esp_sa_spi(out) == 0x1000);
    size_t overhead = ipsec_esp_sa_overhead(out);
    EXPECT(overhead == 8 + 8 + 7 + 2 + 12); /* header, IV, max pad, trailer, ICV */
    EXPECT(ipsec_esp_sa_overhead(in) == overhead);

    /* Buffer too small: the size needed, nothing consumed (the sequence number stays 1). */
    size_t need = 0;
    EXPECT_RC(ipsec_esp_sa_encapsulate(out, 5, inner, len, 4, esp, 10, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(need > len && need <= len + overhead);
    EXPECT_RC(ipsec_esp_sa_encapsulate(out, 5, inner, len, 4, NULL, 0, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    size_t esp_len = 0;
    EXPECT_RC(ipsec_esp_sa_encapsulate(out, 5, inner, len, 4, esp, need, &esp_len),
              IPSEC_RESULT_OK);
    EXPECT(esp_len == need);
    EXPECT(esp[7] == 1); /* first sequence number */

    size_t plain_need = 0, plain_len = 0;
    uint8_t nh = 0;
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 6, esp, esp_len, plain, 8, &plain_need, &nh),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(plain_need >= len && nh == 0);
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 6, esp, esp_len, plain, plain_need, &plain_len, &nh),
              IPSEC_RESULT_OK); /* the window did not move on the too-small attempt */
    EXPECT(plain_len == len && memcmp(plain, inner, len) == 0 && nh == 4);

    /* Replay of the same packet. */
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 7, esp, esp_len, plain, sizeof plain, &plain_len, NULL),
              IPSEC_RESULT_ESP_REPLAYED);
    /* A flipped ciphertext bit fails the ICV. */
    EXPECT_RC(ipsec_esp_sa_encapsulate(out, 8, inner, len, 4, esp, sizeof esp, &esp_len),
              IPSEC_RESULT_OK);
    esp[20] ^= 0x01;
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 8, esp, esp_len, plain, sizeof plain, &plain_len, NULL),
              IPSEC_RESULT_ESP_ICV);
    esp[20] ^= 0x01; /* restored: still acceptable, the failed attempt did not commit */
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 8, esp, esp_len, plain, sizeof plain, &plain_len, NULL),
              IPSEC_RESULT_OK);
    /* Garbage and truncated packets. */
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 9, esp, 11, plain, sizeof plain, &plain_len, NULL),
              IPSEC_RESULT_ESP_TRUNCATED);
    uint8_t other_spi[68] = {0, 0, 0x20, 0, 0, 0, 0, 9};
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 9, other_spi, sizeof other_spi, plain, sizeof plain,
                                       &plain_len, NULL),
              IPSEC_RESULT_ESP_WRONG_SPI);
    EXPECT_RC(ipsec_esp_sa_decapsulate(in, 9, NULL, 10, plain, sizeof plain, &plain_len, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    /* Wrong direction. */
    EXPECT_RC(ipsec_esp_sa_encapsulate(in, 9, inner, len, 4, esp, sizeof esp, &esp_len),
              IPSEC_RESULT_WRONG_DIRECTION);
    EXPECT_RC(ipsec_esp_sa_decapsulate(out, 9, esp, esp_len, plain, sizeof plain, &plain_len, NULL),
              IPSEC_RESULT_WRONG_DIRECTION);

    ipsec_esp_stats st;
    memset(&st, 0xAB, sizeof st);
    EXPECT_RC(ipsec_esp_sa_stats(in, &st), IPSEC_RESULT_OK);
    EXPECT(st.decaps == 2 && st.replay_failed == 1 && st.verify_failed == 1);
    EXPECT_RC(ipsec_esp_sa_stats(out, &st), IPSEC_RESULT_OK);
    EXPECT(st.encaps == 2);

    /* Construction errors leave *out alone. */
    ipsec_esp_sa *bad = (ipsec_esp_sa *)0x1;
    EXPECT_RC(ipsec_esp_sa_new(IPSEC_DIRECTION_INBOUND, 0x1, IPSEC_ESP_CIPHER_3DES,
                               IPSEC_ESP_INTEG_SHA1_96, ENC_KEY, 16, AUTH_KEY, 20,
                               IPSEC_MODE_TUNNEL, false, NULL, 0, &bad),
              IPSEC_RESULT_KEY_LENGTH);
    EXPECT_RC(ipsec_esp_sa_new(IPSEC_DIRECTION_INBOUND, 0x1, 99, IPSEC_ESP_INTEG_SHA1_96, ENC_KEY,
                               24, AUTH_KEY, 20, IPSEC_MODE_TUNNEL, false, NULL, 0, &bad),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_esp_sa_new(IPSEC_DIRECTION_INBOUND, 0, IPSEC_ESP_CIPHER_3DES,
                               IPSEC_ESP_INTEG_SHA1_96, ENC_KEY, 24, AUTH_KEY, 20,
                               IPSEC_MODE_TUNNEL, false, NULL, 0, &bad),
              IPSEC_RESULT_INVALID_CONFIG); /* SPI 0 is reserved */
    EXPECT_RC(ipsec_esp_sa_new(IPSEC_DIRECTION_OUTBOUND, 0x1, IPSEC_ESP_CIPHER_3DES,
                               IPSEC_ESP_INTEG_SHA1_96, ENC_KEY, 24, AUTH_KEY, 20,
                               IPSEC_MODE_TUNNEL, false, NULL, 0, &bad),
              IPSEC_RESULT_NULL_PARAMETER); /* outbound needs an IV seed */
    EXPECT_RC(ipsec_esp_sa_new(IPSEC_DIRECTION_INBOUND, 0x1, IPSEC_ESP_CIPHER_NULL,
                               IPSEC_ESP_INTEG_NONE, NULL, 0, NULL, 0, IPSEC_MODE_TUNNEL, false,
                               NULL, 0, &bad),
              IPSEC_RESULT_INVALID_CONFIG);
    EXPECT_RC(ipsec_esp_sa_new(7, 0x1, IPSEC_ESP_CIPHER_3DES, IPSEC_ESP_INTEG_SHA1_96, ENC_KEY,
                               24, AUTH_KEY, 20, IPSEC_MODE_TUNNEL, false, NULL, 0, &bad),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT(bad == (ipsec_esp_sa *)0x1);

    ipsec_esp_sa_free(&out);
    ipsec_esp_sa_free(&in);
}

/* UDP 4500 demultiplexing and SPI lookup, stateless. */
static void test_udp4500(void) {
    uint8_t ike[4 + 28] = {0}; /* marker + an ISAKMP header's worth */
    uint8_t esp[40] = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1};
    uint8_t keepalive = 0xFF;
    uint32_t kind = 77, spi = 77;
    size_t off = 77;
    EXPECT_RC(ipsec_classify_udp4500(ike, sizeof ike, &kind, &off), IPSEC_RESULT_OK);
    EXPECT(kind == IPSEC_UDP4500_IKE && off == 4);
    EXPECT_RC(ipsec_classify_udp4500(esp, sizeof esp, &kind, &off), IPSEC_RESULT_OK);
    EXPECT(kind == IPSEC_UDP4500_ESP && off == 0);
    EXPECT_RC(ipsec_classify_udp4500(&keepalive, 1, &kind, &off), IPSEC_RESULT_OK);
    EXPECT(kind == IPSEC_UDP4500_KEEPALIVE && off == 1);
    kind = 77;
    EXPECT_RC(ipsec_classify_udp4500(ike, 6, &kind, &off), IPSEC_RESULT_MALFORMED_MESSAGE);
    EXPECT_RC(ipsec_classify_udp4500(NULL, 0, &kind, &off), IPSEC_RESULT_MALFORMED_MESSAGE);
    EXPECT_RC(ipsec_classify_udp4500(esp, sizeof esp, NULL, &off), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(kind == 77);
    EXPECT_RC(ipsec_esp_peek_spi(esp, sizeof esp, &spi), IPSEC_RESULT_OK);
    EXPECT(spi == 0x12345678);
    EXPECT_RC(ipsec_esp_peek_spi(esp, 7, &spi), IPSEC_RESULT_ESP_TRUNCATED);
    EXPECT_RC(ipsec_esp_peek_spi(ike, sizeof ike, &spi), IPSEC_RESULT_ESP_TRUNCATED); /* SPI 0 */
    EXPECT(spi == 0x12345678);
}

/* IOS text: syntax errors by position, unusable configurations by line, UTF-8. */
static void test_config(void) {
    ipsec_config *cfg = (ipsec_config *)0x1;
    size_t line = 0, col = 0;
    static const char bad_syntax[] = "crypto isakmp policy 1\n encr 3des\n group banana\n";
    EXPECT_RC(ipsec_config_from_ios((const uint8_t *)bad_syntax, strlen(bad_syntax), &cfg, &line,
                                    &col),
              IPSEC_RESULT_CONFIG_SYNTAX);
    EXPECT(line == 3 && col > 1);
    EXPECT(cfg == (ipsec_config *)0x1);
    char msg[256];
    size_t n = 0;
    EXPECT_RC(ipsec_config_explain_ios((const uint8_t *)bad_syntax, strlen(bad_syntax),
                                       (uint8_t *)msg, sizeof msg, &n),
              IPSEC_RESULT_OK);
    EXPECT(strstr(msg, "line 3") != NULL);

    static const char no_key[] = "crypto ipsec transform-set T esp-3des esp-sha-hmac\n"
                                 "crypto map VPN 10 ipsec-isakmp\n"
                                 " set peer 203.0.113.2\n"
                                 " set transform-set T\n"
                                 " match address 100\n"
                                 "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 "
                                 "0.0.0.255\n";
    line = col = 0;
    EXPECT_RC(ipsec_config_from_ios((const uint8_t *)no_key, strlen(no_key), &cfg, &line, &col),
              IPSEC_RESULT_INVALID_CONFIG);
    EXPECT(line == 2 && col == 1);
    EXPECT_RC(ipsec_config_explain_ios((const uint8_t *)no_key, strlen(no_key), (uint8_t *)msg,
                                       sizeof msg, &n),
              IPSEC_RESULT_OK);
    EXPECT(strstr(msg, "no crypto isakmp key for peer 203.0.113.2") != NULL);

    static const uint8_t not_utf8[] = {'h', 0xff, 0xfe, '\n'};
    EXPECT_RC(ipsec_config_from_ios(not_utf8, sizeof not_utf8, &cfg, NULL, NULL),
              IPSEC_RESULT_INVALID_UTF8);
    EXPECT_RC(ipsec_config_from_ios(NULL, 5, &cfg, NULL, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(cfg == (ipsec_config *)0x1);

    /* Peer structs: bad prefix and unknown ids are refused, the count stays. */
    ipsec_config *c = NULL;
    CHECK(ipsec_config_new(&c));
    ipsec_peer_params p = seed_peer(R2, R1, "ciscokey", 1, 2);
    p.local_prefix = 33;
    uint32_t idx = 77;
    EXPECT_RC(ipsec_config_add_peer(c, &p, &idx), IPSEC_RESULT_INVALID_PARAMETER);
    p.local_prefix = 24;
    p.ike_hash = 42;
    EXPECT_RC(ipsec_config_add_peer(c, &p, &idx), IPSEC_RESULT_INVALID_PARAMETER);
    p.ike_hash = IPSEC_IKE_HASH_SHA1;
    p.psk_len = 0;
    EXPECT_RC(ipsec_config_add_peer(c, &p, &idx), IPSEC_RESULT_INVALID_CONFIG);
    EXPECT(idx == 77 && ipsec_config_peer_count(c) == 0);
    p.psk_len = 8;
    EXPECT_RC(ipsec_config_add_peer(c, &p, &idx), IPSEC_RESULT_OK);
    EXPECT(idx == 0 && ipsec_config_peer_count(c) == 1);
    ipsec_config_free(&c);
}

static int log_calls = 0;
static void count_log(void *userdata, uint32_t level, const char *msg, size_t len) {
    int *calls = userdata;
    (*calls)++;
    if (level == 0 || msg[len] != '\0' || strlen(msg) != len)
        failures++;
}

static int rng_calls = 0;
static int32_t fake_rng(void *userdata, uint8_t *buf, size_t len) {
    (void)userdata;
    rng_calls++;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 13 + 5);
    return 0;
}
static int32_t failing_rng(void *userdata, uint8_t *buf, size_t len) {
    (void)userdata;
    (void)buf;
    (void)len;
    return -1;
}

/* Endpoint misuse and garbage: unknown peers, tiny buffers, junk datagrams, RNG callback. */
static void test_endpoint_misuse(void) {
    struct side a, b;
    make_pair(&a, &b, "ciscokey", "ciscokey");
    CHECK(ipsec_endpoint_set_log_callback(b.ep, count_log, &log_calls));

    EXPECT_RC(ipsec_endpoint_initiate(a.ep, 1000, 5, 0), IPSEC_RESULT_NO_SUCH_PEER);
    EXPECT_RC(ipsec_endpoint_initiate(a.ep, 1000, 0, 3), IPSEC_RESULT_NO_SUCH_SELECTOR);
    uint8_t buf[2048];
    ipsec_transmit t;
    size_t required = 0;
    EXPECT_RC(ipsec_endpoint_poll_transmit(a.ep, 1000, buf, sizeof buf, &t, &required),
              IPSEC_RESULT_NONE);
    ipsec_event *ev = NULL;
    EXPECT_RC(ipsec_endpoint_poll_event(a.ep, &ev), IPSEC_RESULT_NONE);
    EXPECT(ev == NULL);
    uint64_t deadline = 0;
    EXPECT(!ipsec_endpoint_poll_timeout(a.ep, &deadline));

    /* Garbage at the responder: dropped, counted, logged; nothing queued in reply. */
    ipsec_path p = path_between(R2, R1);
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 7 + 1);
    ipsec_result rc = ipsec_endpoint_handle_datagram(b.ep, 1000, &p, junk, sizeof junk);
    EXPECT(rc == IPSEC_RESULT_MALFORMED_MESSAGE || rc == IPSEC_RESULT_UNKNOWN_SA);
    EXPECT_RC(ipsec_endpoint_handle_datagram(b.ep, 1000, &p, junk, 3),
              IPSEC_RESULT_MALFORMED_MESSAGE);
    EXPECT_RC(ipsec_endpoint_handle_datagram(b.ep, 1000, &p, NULL, 0),
              IPSEC_RESULT_MALFORMED_MESSAGE);
    EXPECT_RC(ipsec_endpoint_handle_datagram(b.ep, 1000, &p, NULL, 28),
              IPSEC_RESULT_NULL_PARAMETER);
    ipsec_path badfam = p;
    badfam.remote.family = 9;
    EXPECT_RC(ipsec_endpoint_handle_datagram(b.ep, 1000, &badfam, junk, 28),
              IPSEC_RESULT_INVALID_PARAMETER);
    ipsec_endpoint_counters ctr;
    CHECK(ipsec_endpoint_get_counters(b.ep, &ctr));
    EXPECT(ctr.malformed + ctr.unknown_sa == 3);
    EXPECT(log_calls == 3);
    EXPECT_RC(ipsec_endpoint_poll_transmit(b.ep, 1000, buf, sizeof buf, &t, &required),
              IPSEC_RESULT_NONE);

    /* Initiate; a tiny buffer gets the size needed and the datagram stays queued. */
    CHECK(ipsec_endpoint_initiate(a.ep, 1000, 0, 0));
    required = 0;
    ipsec_transmit sentinel;
    memset(&sentinel, 0x5A, sizeof sentinel);
    t = sentinel;
    EXPECT_RC(ipsec_endpoint_poll_transmit(a.ep, 1000, buf, 16, &t, &required),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(required > 16 && memcmp(&t, &sentinel, sizeof t) == 0);
    EXPECT_RC(ipsec_endpoint_poll_transmit(a.ep, 1000, NULL, 0, &t, &required),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT_RC(ipsec_endpoint_poll_transmit(a.ep, 1000, buf, required, &t, NULL), IPSEC_RESULT_OK);
    EXPECT(t.len == required && t.path.remote.port == 500 && !t.non_esp_marker);
    EXPECT(memcmp(t.path.remote.bytes, R2, 4) == 0);

    /* Nobody answers: a retransmission timer runs and fires. */
    EXPECT(ipsec_endpoint_poll_timeout(a.ep, &deadline) && deadline > 1000);
    CHECK(ipsec_endpoint_handle_timeout(a.ep, deadline));
    size_t again = 0;
    EXPECT_RC(ipsec_endpoint_poll_transmit(a.ep, deadline, buf, sizeof buf, &t, &again),
              IPSEC_RESULT_OK);
    EXPECT(t.len == required);
    CHECK(ipsec_endpoint_get_counters(a.ep, &ctr));
    EXPECT(ctr.retransmissions == 1);
    free_side(&a);
    free_side(&b);

    /* The random callback: used once for the seed; a failing one is reported. */
    ipsec_config *c = NULL;
    CHECK(ipsec_config_new(&c));
    ipsec_endpoint *ep = (ipsec_endpoint *)0x1;
    EXPECT_RC(ipsec_endpoint_new_with_rng(c, failing_rng, NULL, &ep), IPSEC_RESULT_RNG_FAILED);
    EXPECT(ep == (ipsec_endpoint *)0x1);
    EXPECT_RC(ipsec_endpoint_new_with_rng(c, NULL, NULL, &ep), IPSEC_RESULT_NULL_PARAMETER);
    ep = NULL;
    EXPECT_RC(ipsec_endpoint_new_with_rng(c, fake_rng, NULL, &ep), IPSEC_RESULT_OK);
    EXPECT(ep != NULL && rng_calls == 1);
    /* A peer added to the running endpoint can be initiated to. */
    ipsec_peer_params pp = seed_peer(R2, R1, "ciscokey", 1, 2);
    uint32_t idx = 99;
    EXPECT_RC(ipsec_endpoint_add_peer(ep, &pp, &idx), IPSEC_RESULT_OK);
    EXPECT(idx == 0);
    EXPECT_RC(ipsec_endpoint_initiate(ep, 0, 0, 0), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_endpoint_poll_transmit(ep, 0, buf, sizeof buf, &t, NULL), IPSEC_RESULT_OK);
    ipsec_endpoint_free(&ep);
    ipsec_config_free(&c);
}

/* A full negotiation; event accessors; keys move out exactly once. */
static void test_negotiation_and_events(void) {
    struct side a, b;
    make_pair(&a, &b, "ciscokey", "ciscokey");
    CHECK(ipsec_endpoint_initiate(a.ep, 1000, 0, 0));
    /* Pump by hand to inspect the Phase 2 event of side A. */
    uint64_t now = 1000;
    ipsec_event *p2 = NULL;
    for (int round = 0; round < 50 && p2 == NULL; round++) {
        move_datagrams(&a, &b, now);
        move_datagrams(&b, &a, now);
        drain_events(&b, now);
        ipsec_event *ev = NULL;
        while (p2 == NULL && ipsec_endpoint_poll_event(a.ep, &ev) == IPSEC_RESULT_OK) {
            uint32_t kind = ipsec_event_kind(ev);
            if (kind == IPSEC_EVENT_PHASE1_ESTABLISHED) {
                uint32_t sa = 0, peer = 9;
                uint64_t child = 77;
                EXPECT_RC(ipsec_event_ike_sa(ev, &sa), IPSEC_RESULT_OK);
                EXPECT_RC(ipsec_event_peer(ev, &peer), IPSEC_RESULT_OK);
                EXPECT(sa == 1001 && peer == 0);
                ipsec_path path;
                EXPECT_RC(ipsec_event_path(ev, &path), IPSEC_RESULT_OK);
                EXPECT(path.remote.family == IPSEC_AF_INET && path.remote.port == 500);
                EXPECT(memcmp(path.remote.bytes, R2, 4) == 0 && memcmp(path.local.bytes, R1, 4) == 0);
                EXPECT_RC(ipsec_event_child(ev, &child), IPSEC_RESULT_WRONG_EVENT_KIND);
                EXPECT(child == 77);
                ipsec_esp_sa *x = NULL, *y = NULL;
                EXPECT_RC(ipsec_event_take_esp_sas(ev, now, &x, &y), IPSEC_RESULT_WRONG_EVENT_KIND);
                EXPECT(x == NULL && y == NULL);
                ipsec_event_free(&ev);
            } else if (kind == IPSEC_EVENT_PHASE2_ESTABLISHED) {
                p2 = ev;
            } else {
                ipsec_event_free(&ev);
            }
        }
        now += 10;
    }
    EXPECT(p2 != NULL);
    if (p2 != NULL) {
        uint32_t spi_in = 0, spi_out = 0;
        uint64_t child = 0;
        EXPECT_RC(ipsec_event_spis(p2, &spi_in, &spi_out), IPSEC_RESULT_OK);
        EXPECT_RC(ipsec_event_child(p2, &child), IPSEC_RESULT_OK);
        EXPECT(spi_in != 0 && spi_out != 0 && child == 1);
        EXPECT_RC(ipsec_event_error(p2), IPSEC_RESULT_OK);
        size_t need = 0;
        EXPECT_RC(ipsec_event_describe(p2, NULL, 0, &need), IPSEC_RESULT_BUFFER_TOO_SMALL);
        EXPECT(need > 10);
        EXPECT_RC(ipsec_event_take_esp_sas(p2, now, &a.sa_in, NULL), IPSEC_RESULT_NULL_PARAMETER);
        EXPECT(a.sa_in == NULL);
        EXPECT_RC(ipsec_event_take_esp_sas(p2, now, &a.sa_in, &a.sa_out), IPSEC_RESULT_OK);
        EXPECT(ipsec_esp_sa_spi(a.sa_in) == spi_in && ipsec_esp_sa_spi(a.sa_out) == spi_out);
        ipsec_esp_sa *x = NULL, *y = NULL;
        EXPECT_RC(ipsec_event_take_esp_sas(p2, now, &x, &y), IPSEC_RESULT_KEYS_ALREADY_TAKEN);
        EXPECT(x == NULL && y == NULL);
        ipsec_event_free(&p2);
        a.phase2_up = 1;
    }
    now = pump(&a, &b, now, 50);
    EXPECT(b.phase2_up && b.sa_in != NULL);
    if (a.sa_out != NULL && b.sa_in != NULL) {
        uint8_t pkt[60];
        static const uint8_t l1[4] = {192, 168, 1, 5}, l2[4] = {192, 168, 2, 5};
        EXPECT(esp_roundtrip(&a, &b, now, pkt, make_ipv4(pkt, l1, l2, 1)) == 0);
        EXPECT(esp_roundtrip(&b, &a, now, pkt, make_ipv4(pkt, l2, l1, 2)) == 0);
    }
    /* ESP usage goes back to the endpoint; the handles must be in the right slots. */
    EXPECT_RC(ipsec_endpoint_report_esp_usage(a.ep, now, 1, a.sa_in, a.sa_out), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_endpoint_report_esp_usage(a.ep, now, 1, a.sa_out, a.sa_in),
              IPSEC_RESULT_WRONG_DIRECTION);
    EXPECT_RC(ipsec_endpoint_report_esp_usage(a.ep, now, 1, NULL, NULL), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_endpoint_report_esp_usage(NULL, now, 1, NULL, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    /* show: size query, tiny buffer, NULL handle array with a count. */
    size_t need = 0, n = 0;
    char small[8];
    EXPECT_RC(ipsec_endpoint_show_isakmp_sa(a.ep, now, (uint8_t *)small, sizeof small, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    char *text = malloc(need);
    EXPECT_RC(ipsec_endpoint_show_isakmp_sa(a.ep, now, (uint8_t *)text, need, &n), IPSEC_RESULT_OK);
    EXPECT(n + 1 == need && strstr(text, "QM_IDLE") != NULL);
    free(text);
    EXPECT_RC(ipsec_endpoint_show_ipsec_sa(a.ep, now, NULL, 2, (uint8_t *)small, sizeof small, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    const ipsec_esp_sa *sas[2] = {a.sa_in, a.sa_out};
    text = show(a.ep, now, 1, sas, 2);
    EXPECT(strstr(text, "#pkts encaps: 1, #pkts encrypt: 1") != NULL);
    EXPECT(strstr(text, "#pkts decaps: 1, #pkts decrypt: 1") != NULL);
    free(text);
    /* The diagnosis with the ESP handles sees traffic both ways; without them, no counters. */
    char diag[2048];
    CHECK(ipsec_endpoint_diagnose_with_sas(a.ep, now, sas, 2, (uint8_t *)diag, sizeof diag, &n));
    EXPECT(strstr(diag, "peer 203.0.113.2: Phase 1 (QM_IDLE) and Phase 2 up, traffic both ways") != NULL);
    EXPECT(strstr(diag, "#pkts encaps 1, #pkts decaps 1") != NULL);
    CHECK(ipsec_endpoint_diagnose(a.ep, now, (uint8_t *)diag, sizeof diag, &n));
    EXPECT(strstr(diag, "#pkts encaps 0, #pkts decaps 0") != NULL);
    EXPECT_RC(ipsec_endpoint_diagnose_with_sas(a.ep, now, NULL, 2, (uint8_t *)diag, sizeof diag, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    /* Rekey: a new Quick Mode brings a new pair (new SPIs) that carries traffic. */
    EXPECT_RC(ipsec_endpoint_rekey_child(NULL, now, 1), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(ipsec_endpoint_rekey_child(a.ep, now, 999) != IPSEC_RESULT_OK);
    uint32_t old_spi = a.sa_out != NULL ? ipsec_esp_sa_spi(a.sa_out) : 0;
    CHECK(ipsec_endpoint_rekey_child(a.ep, now, 1));
    now = pump(&a, &b, now, 50);
    EXPECT(a.sa_out != NULL && ipsec_esp_sa_spi(a.sa_out) != old_spi);
    if (a.sa_out != NULL && b.sa_in != NULL) {
        uint8_t pkt[60];
        static const uint8_t l1[4] = {192, 168, 1, 6}, l2[4] = {192, 168, 2, 6};
        EXPECT(esp_roundtrip(&a, &b, now, pkt, make_ipv4(pkt, l1, l2, 3)) == 0);
    }
    /* Deleting the ISAKMP SA leaves the IPsec SAs up (IKEv1 semantics). */
    EXPECT_RC(ipsec_endpoint_delete_isakmp_sa(NULL, now, 1001), IPSEC_RESULT_NULL_PARAMETER);
    CHECK(ipsec_endpoint_delete_isakmp_sa(a.ep, now, 1001));
    now = pump(&a, &b, now, 50);
    text = show(a.ep, now, 0, NULL, 0);
    EXPECT(strstr(text, "QM_IDLE") == NULL);
    free(text);
    if (a.sa_out != NULL && b.sa_in != NULL) {
        uint8_t pkt[60];
        static const uint8_t l1[4] = {192, 168, 1, 7}, l2[4] = {192, 168, 2, 7};
        EXPECT(esp_roundtrip(&a, &b, now, pkt, make_ipv4(pkt, l1, l2, 4)) == 0);
    }
    free_side(&a);
    free_side(&b);
}

/* The ISAKMP state changes one side saw, in arrival order. The names are kept as the pointers
 * the library handed out: they are static, so reading them after the events were freed is
 * fine (ASan and valgrind would report it otherwise). */
#define MAX_STATE_CHANGES 16
struct state_log {
    int n;
    const char *to[MAX_STATE_CHANGES];
    int broken;     /* from_state was not the to_state of the event before */
    int bad_fields; /* conn_id, remote, role or the generic accessors disagree */
    int phase2_up;
};

/* Takes every event of `s`, recording its ISAKMP state changes into `log`. */
static void record_state_changes(struct side *s, struct state_log *log, int initiator,
                                 const uint8_t remote[4]) {
    ipsec_event *ev = NULL;
    while (ipsec_endpoint_poll_event(s->ep, &ev) == IPSEC_RESULT_OK) {
        uint32_t kind = ipsec_event_kind(ev);
        ipsec_isakmp_state_change ch;
        memset(&ch, 0x5A, sizeof ch);
        if (kind != IPSEC_EVENT_ISAKMP_STATE_CHANGED) {
            EXPECT_RC(ipsec_event_isakmp_state(ev, &ch), IPSEC_RESULT_WRONG_EVENT_KIND);
            EXPECT(ch.conn_id == 0x5A5A5A5A); /* untouched */
            if (kind == IPSEC_EVENT_PHASE2_ESTABLISHED)
                log->phase2_up = 1;
            ipsec_event_free(&ev);
            continue;
        }
        EXPECT_RC(ipsec_event_isakmp_state(ev, NULL), IPSEC_RESULT_NULL_PARAMETER);
        EXPECT_RC(ipsec_event_isakmp_state(ev, &ch), IPSEC_RESULT_OK);
        uint32_t sa = 0;
        ipsec_path path;
        EXPECT_RC(ipsec_event_ike_sa(ev, &sa), IPSEC_RESULT_OK);
        EXPECT_RC(ipsec_event_path(ev, &path), IPSEC_RESULT_OK);
        if (ch.conn_id != sa || sa != 1001 || ch.initiator != (initiator != 0) || ch.nat_t ||
            ch.remote.family != IPSEC_AF_INET || ch.remote.port != 500 ||
            memcmp(ch.remote.bytes, remote, 4) != 0 || memcmp(path.remote.bytes, remote, 4) != 0)
            log->bad_fields++;
        const char *before = log->n == 0 ? "" : log->to[log->n - 1];
        if (ch.from_state == NULL || ch.to_state == NULL || strcmp(ch.from_state, before) != 0)
            log->broken++;
        printf("[%s] ISAKMP SA %u: '%s' -> '%s'\n", s->name, ch.conn_id, ch.from_state,
               ch.to_state);
        if (log->n < MAX_STATE_CHANGES)
            log->to[log->n++] = ch.to_state;
        ipsec_event_free(&ev);
    }
}

/* A negotiation announces its ISAKMP state changes in order: the initiator's SA goes (new) ->
 * MM_NO_STATE -> MM_SA_SETUP -> MM_KEY_EXCH -> QM_IDLE, every event starting from the state
 * the one before reached; the responder's chain ends in QM_IDLE too, and deleting the SA ends
 * both in "" (gone). */
static void test_isakmp_state_events(void) {
    struct side a, b;
    struct state_log la, lb;
    memset(&la, 0, sizeof la);
    memset(&lb, 0, sizeof lb);
    make_pair(&a, &b, "ciscokey", "ciscokey");
    CHECK(ipsec_endpoint_initiate(a.ep, 1000, 0, 0));
    uint64_t now = 1000;
    for (int round = 0; round < 50 && !(la.phase2_up && lb.phase2_up); round++) {
        move_datagrams(&a, &b, now);
        move_datagrams(&b, &a, now);
        record_state_changes(&a, &la, 1, R2);
        record_state_changes(&b, &lb, 0, R1);
        now += 10;
    }
    EXPECT(la.phase2_up && lb.phase2_up);
    static const char *const initiator_states[] = {"MM_NO_STATE", "MM_SA_SETUP", "MM_KEY_EXCH",
                                                   "QM_IDLE"};
    EXPECT(la.n == 4);
    for (int i = 0; i < 4 && i < la.n; i++)
        EXPECT(strcmp(la.to[i], initiator_states[i]) == 0);
    EXPECT(lb.n >= 2 && strcmp(lb.to[lb.n - 1], "QM_IDLE") == 0);
    EXPECT(la.broken == 0 && lb.broken == 0);
    EXPECT(la.bad_fields == 0 && lb.bad_fields == 0);

    /* Deleting the ISAKMP SA: gone on both sides (B hears the Delete). */
    CHECK(ipsec_endpoint_delete_isakmp_sa(a.ep, now, 1001));
    for (int round = 0; round < 5; round++) {
        move_datagrams(&a, &b, now);
        move_datagrams(&b, &a, now);
        record_state_changes(&a, &la, 1, R2);
        record_state_changes(&b, &lb, 0, R1);
        now += 10;
    }
    EXPECT(la.n == 5 && strcmp(la.to[la.n - 1], "") == 0);
    EXPECT(lb.n >= 3 && strcmp(lb.to[lb.n - 1], "") == 0);
    EXPECT(la.broken == 0 && lb.broken == 0);
    free_side(&a);
    free_side(&b);
}

/* What a log callback that calls back into its own endpoint got. */
struct reentry {
    ipsec_endpoint *ep;
    int calls;
    int refused;     /* calls answered IPSEC_RESULT_REENTRANT */
    int other;       /* calls answered anything else: each one a bug */
    int not_freed;   /* ipsec_endpoint_free left the handle and the pointer alone */
    int no_deadline; /* ipsec_endpoint_poll_timeout said false */
};

static void reentry_expect(struct reentry *r, ipsec_result rc) {
    if (rc == IPSEC_RESULT_REENTRANT)
        r->refused++;
    else
        r->other++;
}

static void reentrant_log(void *userdata, uint32_t level, const char *msg, size_t len) {
    struct reentry *r = userdata;
    (void)level;
    (void)msg;
    (void)len;
    r->calls++;
    uint8_t buf[256];
    size_t n = 0;
    uint32_t u = 0;
    uint64_t d = 0;
    ipsec_transmit t;
    ipsec_event *ev = NULL;
    ipsec_endpoint_counters ctr;
    ipsec_path p = path_between(R2, R1);
    ipsec_peer_params pp = seed_peer(R1, R2, "ciscokey", 2, 1);
    reentry_expect(r, ipsec_endpoint_handle_timeout(r->ep, 1000));
    reentry_expect(r, ipsec_endpoint_handle_datagram(r->ep, 1000, &p, buf, 28));
    reentry_expect(r, ipsec_endpoint_poll_transmit(r->ep, 1000, buf, sizeof buf, &t, &n));
    reentry_expect(r, ipsec_endpoint_poll_event(r->ep, &ev));
    reentry_expect(r, ipsec_endpoint_initiate(r->ep, 1000, 0, 0));
    reentry_expect(r, ipsec_endpoint_rekey_child(r->ep, 1000, 1));
    reentry_expect(r, ipsec_endpoint_add_peer(r->ep, &pp, &u));
    reentry_expect(r, ipsec_endpoint_set_log_callback(r->ep, NULL, NULL));
    reentry_expect(r, ipsec_endpoint_report_esp_usage(r->ep, 1000, 1, NULL, NULL));
    reentry_expect(r, ipsec_endpoint_get_counters(r->ep, &ctr));
    reentry_expect(r, ipsec_endpoint_show_isakmp_sa(r->ep, 1000, buf, sizeof buf, &n));
    reentry_expect(r, ipsec_endpoint_diagnose(r->ep, 1000, buf, sizeof buf, &n));
    if (!ipsec_endpoint_poll_timeout(r->ep, &d) && d == 0)
        r->no_deadline++;
    ipsec_endpoint *copy = r->ep;
    ipsec_endpoint_free(&copy);
    if (copy == r->ep)
        r->not_freed++;
    if (ev != NULL || u != 0)
        r->other++; /* out-parameters written by a refused call */
}

/* A log callback that calls back into the endpoint it logs for (here: on every entry point,
 * free included) gets IPSEC_RESULT_REENTRANT and changes nothing, instead of a second mutable
 * view of the endpoint's state (or a use after free) while the outer call is in the middle of
 * changing it. The endpoint then negotiates as usual. */
static void test_log_callback_reentry(void) {
    struct side a, b;
    struct reentry r;
    memset(&r, 0, sizeof r);
    make_pair(&a, &b, "ciscokey", "ciscokey");
    r.ep = b.ep;
    CHECK(ipsec_endpoint_set_log_callback(b.ep, reentrant_log, &r));

    /* A junk datagram at B is logged; the callback's calls must all be refused. */
    ipsec_path p = path_between(R2, R1);
    uint8_t junk[3] = {1, 2, 3};
    EXPECT_RC(ipsec_endpoint_handle_datagram(b.ep, 1000, &p, junk, sizeof junk),
              IPSEC_RESULT_MALFORMED_MESSAGE);
    EXPECT(r.calls == 1);
    EXPECT(r.refused == 12 && r.other == 0);
    EXPECT(r.no_deadline == 1 && r.not_freed == 1);
    ipsec_endpoint_counters ctr;
    CHECK(ipsec_endpoint_get_counters(b.ep, &ctr));
    EXPECT(ctr.malformed == 1); /* the refused handle_datagram counted nothing */

    /* Still a working endpoint: Main Mode, Quick Mode and ESP both ways. B logs its events
     * through the same callback, which keeps being refused. */
    CHECK(ipsec_endpoint_initiate(a.ep, 1000, 0, 0));
    uint64_t now = pump(&a, &b, 1000, 50);
    EXPECT(a.phase2_up && b.phase2_up);
    EXPECT(r.calls > 1 && r.refused == 12 * r.calls && r.other == 0);
    EXPECT(r.not_freed == r.calls);
    if (a.sa_out != NULL && b.sa_in != NULL && b.sa_out != NULL && a.sa_in != NULL) {
        uint8_t pkt[60];
        static const uint8_t l1[4] = {192, 168, 1, 8}, l2[4] = {192, 168, 2, 8};
        EXPECT(esp_roundtrip(&a, &b, now, pkt, make_ipv4(pkt, l1, l2, 11)) == 0);
        EXPECT(esp_roundtrip(&b, &a, now, pkt, make_ipv4(pkt, l2, l1, 12)) == 0);
    }
    /* Outside the callback the same calls work again. */
    CHECK(ipsec_endpoint_set_log_callback(b.ep, NULL, NULL));
    free_side(&a);
    free_side(&b);
    EXPECT(b.ep == NULL);
}

/* Different pre-shared keys: a negotiation failure event with the PSK code and evidence. */
static void test_psk_mismatch(void) {
    struct side a, b;
    make_pair(&a, &b, "ciscokey", "wrongkey");
    CHECK(ipsec_endpoint_initiate(a.ep, 1000, 0, 0));
    uint64_t now = 1000;
    ipsec_result code = IPSEC_RESULT_OK;
    char text[512] = "";
    for (int round = 0; round < 50 && code == IPSEC_RESULT_OK; round++) {
        move_datagrams(&a, &b, now);
        move_datagrams(&b, &a, now);
        struct side *sides[2] = {&a, &b};
        for (int i = 0; i < 2; i++) {
            ipsec_event *ev = NULL;
            while (ipsec_endpoint_poll_event(sides[i]->ep, &ev) == IPSEC_RESULT_OK) {
                if (ipsec_event_kind(ev) == IPSEC_EVENT_NEGOTIATION_FAILED) {
                    size_t n = 0;
                    code = ipsec_event_error(ev);
                    CHECK(ipsec_event_describe(ev, (uint8_t *)text, sizeof text, &n));
                }
                ipsec_event_free(&ev);
            }
        }
        now += 10;
    }
    EXPECT(code == IPSEC_RESULT_PSK_MISMATCH);
    EXPECT(strstr(text, "pre-shared keys probably differ") != NULL);
    free_side(&a);
    free_side(&b);
}

/* The diagnosis of a wrong pre-shared key, as text in a caller buffer (size-needed convention). */
static void test_diagnose_psk_mismatch(void) {
    struct side a, b;
    make_pair(&a, &b, "ciscokey", "wrongkey");
    size_t len = 0;
    EXPECT_RC(ipsec_endpoint_diagnose(NULL, 0, NULL, 0, &len), IPSEC_RESULT_NULL_PARAMETER);
    /* Before anything was tried: nothing matched the crypto ACL yet. */
    char before[2048];
    CHECK(ipsec_endpoint_diagnose(a.ep, 0, (uint8_t *)before, sizeof before, &len));
    EXPECT(strncmp(before, "peer 203.0.113.2: ", 18) == 0 && strlen(before) == len);
    CHECK(ipsec_endpoint_initiate(a.ep, 1000, 0, 0));
    uint64_t now = 1000;
    for (int round = 0; round < 20; round++) {
        move_datagrams(&a, &b, now);
        move_datagrams(&b, &a, now);
        drain_events(&a, now);
        drain_events(&b, now);
        now += 10;
    }
    EXPECT(b.failures > 0);
    /* Size query, then a buffer one byte short, then the real call. */
    size_t needed = 0;
    EXPECT_RC(ipsec_endpoint_diagnose(b.ep, now, NULL, 0, &needed), IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(needed > 1);
    char *text = malloc(needed);
    EXPECT(text != NULL);
    memset(text, 'x', needed);
    EXPECT_RC(ipsec_endpoint_diagnose(b.ep, now, (uint8_t *)text, needed - 1, &len),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(len == needed && text[0] == 'x');
    CHECK(ipsec_endpoint_diagnose(b.ep, now, (uint8_t *)text, needed, &len));
    EXPECT(len == needed - 1 && text[len] == '\0');
    printf("%s", text);
    EXPECT(strncmp(text, "peer 198.51.100.1: ", 19) == 0);
    EXPECT(strstr(text, "the pre-shared keys differ") != NULL);
    EXPECT(strstr(text, "crypto isakmp key") != NULL);
    EXPECT(strstr(text, "  verify: ") != NULL);
    free(text);
    /* The initiator has not retransmitted yet: still negotiating, not a fault. */
    char atext[4096];
    CHECK(ipsec_endpoint_diagnose(a.ep, now, (uint8_t *)atext, sizeof atext, &len));
    printf("%s", atext);
    EXPECT(strstr(atext, "peer 203.0.113.2: negotiating: MM5 sent, waiting for MM6") != NULL);
    free_side(&a);
    free_side(&b);
}

/* Side A behind a NAPT (10.0.0.1 -> 192.0.2.99, ports rewritten): NAT-D detects it, IKE floats
 * to 4500 with the non-ESP marker, and ESP is UDP-encapsulated. */
static const uint8_t PRIV[4] = {10, 0, 0, 1}, NAT_PUB[4] = {192, 0, 2, 99};
static int markers_seen = 0;

static uint16_t nat_port(uint16_t inside) { return inside == 500 ? 40500 : 44500; }
static uint16_t inside_port(uint16_t outside) { return outside == 40500 ? 500 : 4500; }

static void nat_move(struct side *from, struct side *to, uint64_t now, int from_inside) {
    uint8_t buf[4096 + 4];
    ipsec_transmit t;
    while (ipsec_endpoint_poll_transmit(from->ep, now, buf + 4, 4096, &t, NULL) ==
           IPSEC_RESULT_OK) {
        ipsec_path rx;
        rx.local = t.path.remote;
        rx.remote = t.path.local;
        if (from_inside) {
            memcpy(rx.remote.bytes, NAT_PUB, 4);
            rx.remote.port = nat_port(t.path.local.port);
        } else {
            memcpy(rx.local.bytes, PRIV, 4);
            rx.local.port = inside_port(t.path.remote.port);
        }
        const uint8_t *data = buf + 4;
        size_t len = t.len;
        if (t.non_esp_marker) {
            memset(buf, 0, 4);
            data = buf;
            len += 4;
            markers_seen++;
        }
        EXPECT_RC(ipsec_endpoint_handle_datagram(to->ep, now, &rx, data, len), IPSEC_RESULT_OK);
    }
}

static void test_nat_traversal(void) {
    struct side a, b;
    ipsec_config *ca = NULL, *cb = NULL;
    ipsec_peer_params pa = seed_peer(R2, PRIV, "ciscokey", 1, 2);
    ipsec_peer_params pb = seed_peer(NAT_PUB, R2, "ciscokey", 2, 1);
    CHECK(ipsec_config_new(&ca));
    CHECK(ipsec_config_new(&cb));
    CHECK(ipsec_config_add_peer(ca, &pa, NULL));
    CHECK(ipsec_config_add_peer(cb, &pb, NULL));
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.name = "A";
    b.name = "B";
    uint8_t seed_b[32];
    memcpy(seed_b, SEED, 32);
    seed_b[5] ^= 0x40;
    CHECK(ipsec_endpoint_new(ca, SEED, &a.ep));
    CHECK(ipsec_endpoint_new(cb, seed_b, &b.ep));
    ipsec_config_free(&ca);
    ipsec_config_free(&cb);

    uint64_t now = 5000;
    CHECK(ipsec_endpoint_initiate(a.ep, now, 0, 0));
    for (int round = 0; round < 50 && !(a.phase2_up && b.phase2_up); round++) {
        nat_move(&a, &b, now, 1);
        nat_move(&b, &a, now, 0);
        drain_events(&a, now);
        drain_events(&b, now);
        now += 10;
    }
    EXPECT(a.phase2_up && b.phase2_up);
    EXPECT(markers_seen > 0);
    if (a.sa_out != NULL && b.sa_in != NULL) {
        /* UDP encapsulation adds the 8-byte UDP header to the worst case. */
        EXPECT(ipsec_esp_sa_overhead(a.sa_out) == 8 + 8 + 7 + 2 + 12 + 8);
        uint8_t pkt[60];
        static const uint8_t l1[4] = {192, 168, 1, 7}, l2[4] = {192, 168, 2, 7};
        EXPECT(esp_roundtrip(&a, &b, now, pkt, make_ipv4(pkt, l1, l2, 9)) == 0);
        EXPECT(esp_roundtrip(&b, &a, now, pkt, make_ipv4(pkt, l2, l1, 10)) == 0);
    }
    /* Keepalives are accepted and counted. */
    uint8_t ka = 0xFF;
    ipsec_path p = path_between(R2, NAT_PUB);
    p.local.port = 4500;
    p.remote.port = 44500;
    EXPECT_RC(ipsec_endpoint_handle_datagram(b.ep, now, &p, &ka, 1), IPSEC_RESULT_OK);
    ipsec_endpoint_counters ctr;
    CHECK(ipsec_endpoint_get_counters(b.ep, &ctr));
    EXPECT(ctr.keepalives_received == 1);
    free_side(&a);
    free_side(&b);
}

int main(void) {
    test_result_messages();
    test_null_handles();
    test_double_free_by_shape();
    test_esp();
    test_udp4500();
    test_config();
    test_endpoint_misuse();
    test_log_callback_reentry();
    test_negotiation_and_events();
    test_isakmp_state_events();
    test_psk_mismatch();
    test_diagnose_psk_mismatch();
    test_nat_traversal();
    printf("test_ffi: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
