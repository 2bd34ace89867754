/* C tests of the ipsec_tunnel ABI: IOS configuration errors (code, position, message), NULL
 * and out-of-range arguments, out-parameters written only on success, a buffer too small
 * leaving the datagram (or packet) queued, a whole negotiation with events, counters, show
 * and diagnose output, and the batch verbs (a negotiation and traffic both ways carried in
 * batches, a batch for a missing VTI refused, batches refused whole for NULL pointers), and
 * two static VTIs (interface Tunnel0) that come up by themselves and carry packets both ways
 * through interface 0, with their line protocol events. Run plain, under
 * AddressSanitizer and under valgrind by CI.
 *
 *   gcc -Iffi-c/include examples/c/test_tunnel.c target/release/libipsecrs.a \
 *       -lpthread -ldl -lm -o test_tunnel && ./test_tunnel
 */
#include "tunnel_wire.h"

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

static const uint8_t SEED[32] = {9};
static const uint8_t HOST_A[4] = {192, 168, 1, 10}, HOST_B[4] = {192, 168, 2, 10};

static ipsec_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    ipsec_addr x;
    memset(&x, 0, sizeof x);
    x.family = IPSEC_AF_INET;
    x.port = port;
    x.bytes[0] = a;
    x.bytes[1] = b;
    x.bytes[2] = c;
    x.bytes[3] = d;
    return x;
}

/* ipsec_tunnel_new_from_ios on a C string; the position sentinels stay when not written. */
static ipsec_result build(const char *text, ipsec_tunnel **t, size_t *line, size_t *col) {
    *line = *col = 12345;
    return ipsec_tunnel_new_from_ios((const uint8_t *)text, strlen(text), SEED, t, line, col);
}

static void explain(const char *text, char *msg, size_t cap) {
    size_t n = 0;
    msg[0] = '\0';
    EXPECT_RC(ipsec_tunnel_explain_ios((const uint8_t *)text, strlen(text), (uint8_t *)msg, cap,
                                       &n),
              IPSEC_RESULT_OK);
    EXPECT(n == strlen(msg));
}

static void test_config_errors(void) {
    ipsec_tunnel *t = NULL;
    size_t line, col;
    char msg[256];

    /* A syntax error: code, 1-based line and column of the offending token, and the message. */
    const char *bad = "hostname x\ncrypto isakmp policy 1\n encr rot13\n";
    EXPECT_RC(build(bad, &t, &line, &col), IPSEC_RESULT_CONFIG_SYNTAX);
    EXPECT(t == NULL);
    EXPECT(line == 3 && col == 7);
    explain(bad, msg, sizeof msg);
    EXPECT(strncmp(msg, "line 3, column 7: ", 18) == 0);
    printf("syntax error: %s\n", msg);
    size_t bad_len = strlen(msg);

    /* Parses but cannot run: no interface carries the crypto map. No line to blame. */
    const char *unapplied = "crypto isakmp policy 1\n encr 3des\n";
    EXPECT_RC(build(unapplied, &t, &line, &col), IPSEC_RESULT_INVALID_CONFIG);
    EXPECT(t == NULL && line == 0 && col == 0);
    explain(unapplied, msg, sizeof msg);
    EXPECT(strstr(msg, "crypto map") != NULL);
    printf("unusable configuration: %s\n", msg);

    /* Not UTF-8: its own code, position not written. */
    const char latin1[] = "hostname caf\xe9\n";
    EXPECT_RC(build(latin1, &t, &line, &col), IPSEC_RESULT_INVALID_UTF8);
    EXPECT(t == NULL && line == 12345 && col == 12345);
    explain(latin1, msg, sizeof msg);
    EXPECT(strstr(msg, "UTF-8") != NULL);

    /* A good configuration explains to nothing; the message buffer size query. */
    explain(SITE_A_CFG, msg, sizeof msg);
    EXPECT(msg[0] == '\0');
    size_t need = 0;
    EXPECT_RC(ipsec_tunnel_explain_ios((const uint8_t *)bad, strlen(bad), NULL, 0, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(need == bad_len + 1);

    /* Positions may be NULL; seed, out and text are required. */
    EXPECT_RC(ipsec_tunnel_new_from_ios((const uint8_t *)bad, strlen(bad), SEED, &t, NULL, NULL),
              IPSEC_RESULT_CONFIG_SYNTAX);
    EXPECT_RC(ipsec_tunnel_new_from_ios((const uint8_t *)SITE_A_CFG, strlen(SITE_A_CFG), NULL, &t,
                                        NULL, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_new_from_ios((const uint8_t *)SITE_A_CFG, strlen(SITE_A_CFG), SEED,
                                        NULL, NULL, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_new_from_ios(NULL, 10, SEED, &t, NULL, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_explain_ios(NULL, 10, (uint8_t *)msg, sizeof msg, &need),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(t == NULL);
}

static void test_null_and_range(void) {
    uint8_t buf[64] = {0};
    size_t n = 777;
    uint32_t verdict = 777;
    uint64_t deadline = 777;
    ipsec_tunnel_transmit tx;
    ipsec_tunnel_event ev;
    ipsec_tunnel_counters c;
    ipsec_path path = {.local = v4(198, 51, 100, 1, 500), .remote = v4(203, 0, 113, 2, 500)};

    /* NULL handle: every entry point says so and writes nothing. */
    EXPECT_RC(ipsec_tunnel_handle_plaintext(NULL, 0, buf, 20, &verdict),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram(NULL, 0, &path, buf, 1), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp(NULL, 0, &path.remote, buf, 1),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_timeout(NULL, 0), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_shutdown(NULL, 0), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_clear_sa(NULL, 0, NULL, &n), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_transmit(NULL, buf, sizeof buf, &tx, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_plaintext(NULL, buf, sizeof buf, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_event(NULL, &ev), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(!ipsec_tunnel_poll_timeout(NULL, &deadline));
    EXPECT_RC(ipsec_tunnel_get_counters(NULL, &c), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_show(NULL, 0, IPSEC_SHOW_ISAKMP_SA, NULL, buf, sizeof buf, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_diagnose(NULL, 0, NULL, buf, sizeof buf, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(n == 777 && verdict == 777 && deadline == 777);
    ipsec_tunnel_free(NULL); /* no-ops */
    ipsec_tunnel *none = NULL;
    ipsec_tunnel_free(&none);

    ipsec_tunnel *t = tun_new(SITE_A_CFG, 3);
    /* NULL arguments next to a live handle. */
    EXPECT_RC(ipsec_tunnel_handle_plaintext(t, 0, buf, 20, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_plaintext(t, 0, NULL, 20, &verdict),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram(t, 0, NULL, buf, 1), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram(t, 0, &path, NULL, 1), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp(t, 0, NULL, buf, 1), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, NULL, 10, &tx, &n), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, buf, sizeof buf, NULL, &n),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_plaintext(t, buf, sizeof buf, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_event(t, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(!ipsec_tunnel_poll_timeout(t, NULL));
    EXPECT_RC(ipsec_tunnel_get_counters(t, NULL), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_show(t, 0, IPSEC_SHOW_ISAKMP_SA, NULL, buf, sizeof buf, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_diagnose(t, 0, NULL, NULL, 5, &n), IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(verdict == 777 && n == 777);

    /* Out of range: IPv6 or unknown families, unknown show commands, misplaced peers. */
    ipsec_path v6 = path;
    v6.remote.family = IPSEC_AF_INET6;
    EXPECT_RC(ipsec_tunnel_handle_datagram(t, 0, &v6, buf, 1), IPSEC_RESULT_INVALID_PARAMETER);
    ipsec_addr odd = path.remote;
    odd.family = 99;
    EXPECT_RC(ipsec_tunnel_handle_esp(t, 0, &odd, buf, 1), IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_show(t, 0, 0, NULL, buf, sizeof buf, &n),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_show(t, 0, 999, NULL, buf, sizeof buf, &n),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_show(t, 0, IPSEC_SHOW_ISAKMP_SA, &path.remote, buf, sizeof buf, &n),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_show(t, 0, IPSEC_SHOW_IPSEC_SA, &odd, buf, sizeof buf, &n),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_diagnose(t, 0, &odd, buf, sizeof buf, &n),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_clear_sa(t, 0, &odd, &n), IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT(n == 777);

    /* Nothing queued yet; a packet no crypto ACL permits; a packet that is no IPv4. */
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, buf, sizeof buf, &tx, &n), IPSEC_RESULT_NONE);
    EXPECT_RC(ipsec_tunnel_poll_plaintext(t, buf, sizeof buf, &n), IPSEC_RESULT_NONE);
    EXPECT_RC(ipsec_tunnel_poll_event(t, &ev), IPSEC_RESULT_NONE);
    EXPECT(n == 777);
    uint8_t clear[TUN_PING_LEN];
    static const uint8_t elsewhere[4] = {8, 8, 8, 8};
    tun_ping(clear, HOST_A, elsewhere, 0);
    EXPECT_RC(ipsec_tunnel_handle_plaintext(t, 0, clear, sizeof clear, &verdict),
              IPSEC_RESULT_OK);
    EXPECT(verdict == IPSEC_TUN_VERDICT_NOT_PROTECTED);
    EXPECT_RC(ipsec_tunnel_handle_plaintext(t, 0, clear, 7, &verdict), IPSEC_RESULT_OK);
    EXPECT(verdict == IPSEC_TUN_VERDICT_MALFORMED);
    EXPECT_RC(ipsec_tunnel_get_counters(t, &c), IPSEC_RESULT_OK);
    EXPECT(c.not_protected == 1 && c.plaintext_malformed == 1);

    /* Garbage on UDP 500 and ESP for no SA are dropped, named and counted. */
    ipsec_path rx = {.local = path.local, .remote = path.remote};
    memset(buf, 0x5A, sizeof buf);
    EXPECT_RC(ipsec_tunnel_handle_datagram(t, 0, &rx, buf, 12), IPSEC_RESULT_MALFORMED_MESSAGE);
    EXPECT_RC(ipsec_tunnel_handle_esp(t, 0, &path.remote, buf, sizeof buf),
              IPSEC_RESULT_ESP_UNKNOWN_SPI);
    EXPECT_RC(ipsec_tunnel_get_counters(t, &c), IPSEC_RESULT_OK);
    EXPECT(c.ike.malformed == 1 && c.invalid_spi == 1);

    ipsec_tunnel_free(&t);
    EXPECT(t == NULL);
    ipsec_tunnel_free(&t); /* the same variable again: a no-op */
}

static void test_buffer_too_small(void) {
    ipsec_tunnel *t = tun_new(SITE_A_CFG, 4);
    uint8_t pkt[TUN_PING_LEN], small[8], big[4096];
    uint32_t verdict = 0;
    tun_ping(pkt, HOST_A, HOST_B, 0);
    EXPECT_RC(ipsec_tunnel_handle_plaintext(t, 1000, pkt, sizeof pkt, &verdict),
              IPSEC_RESULT_OK);
    EXPECT(verdict == IPSEC_TUN_VERDICT_NO_SA); /* dropped; Main Mode 1 queued */

    ipsec_tunnel_transmit tx, untouched;
    memset(&tx, 0xEE, sizeof tx);
    memcpy(&untouched, &tx, sizeof tx);
    size_t need = 0, need_again = 0;
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, small, sizeof small, &tx, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(need > sizeof small);
    EXPECT(memcmp(&tx, &untouched, sizeof tx) == 0);
    /* Still queued: a size query gives the same size, and a NULL size pointer is allowed. */
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, NULL, 0, &tx, &need_again),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(need_again == need);
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, small, sizeof small, &tx, NULL),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, big, need, &tx, NULL), IPSEC_RESULT_OK);
    EXPECT(tx.len == need && tx.kind == IPSEC_TUNNEL_TRANSMIT_UDP);
    EXPECT(tx.path.remote.family == IPSEC_AF_INET && tx.path.remote.port == 500);
    EXPECT(memcmp(tx.path.remote.bytes, "\xcb\x00\x71\x02", 4) == 0); /* 203.0.113.2 */
    EXPECT(memcmp(tx.path.local.bytes, "\xc6\x33\x64\x01", 4) == 0);  /* 198.51.100.1 */
    EXPECT(big[0] != 0 || big[1] != 0); /* an initiator cookie */
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, big, sizeof big, &tx, NULL), IPSEC_RESULT_NONE);

    /* Main Mode 1 is retransmitted when its timer fires. */
    uint64_t deadline = 0;
    EXPECT(ipsec_tunnel_poll_timeout(t, &deadline));
    EXPECT(deadline > 1000);
    EXPECT_RC(ipsec_tunnel_handle_timeout(t, deadline), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_tunnel_poll_transmit(t, big, sizeof big, &tx, NULL), IPSEC_RESULT_OK);
    EXPECT(tx.len == need);
    ipsec_tunnel_free(&t);
}

/* Drains `t`'s events; counts IPSEC_UP/DOWN, remembers the last UP, checks the state names. */
static void events(ipsec_tunnel *t, int *up, int *down, ipsec_tunnel_event *last_up,
                   int *qm_idle) {
    ipsec_tunnel_event ev;
    while (ipsec_tunnel_poll_event(t, &ev) == IPSEC_RESULT_OK) {
        switch (ev.kind) {
        case IPSEC_TUNNEL_EVENT_ISAKMP_STATE:
            EXPECT(ev.conn_id != 0 && ev.peer.family == IPSEC_AF_INET);
            EXPECT(memchr(ev.from_state, 0, sizeof ev.from_state) != NULL);
            EXPECT(memchr(ev.to_state, 0, sizeof ev.to_state) != NULL);
            if (strcmp(ev.to_state, "QM_IDLE") == 0)
                (*qm_idle)++;
            break;
        case IPSEC_TUNNEL_EVENT_IPSEC_UP:
            (*up)++;
            *last_up = ev;
            break;
        case IPSEC_TUNNEL_EVENT_IPSEC_DOWN:
            (*down)++;
            break;
        default:
            break;
        }
    }
}

static void test_negotiation(void) {
    ipsec_tunnel *a = tun_new(SITE_A_CFG, 5), *b = tun_new(SITE_B_CFG, 6);
    uint8_t pkt[TUN_PING_LEN], tiny[16], got[2048];
    uint32_t verdict = 0;
    uint64_t now = 1000;
    int up_a = 0, up_b = 0, down_a = 0, down_b = 0, idle_a = 0, idle_b = 0;
    ipsec_tunnel_event ev_a, ev_b;
    tun_ping(pkt, HOST_B, HOST_A, 0); /* this time site B starts */
    EXPECT_RC(ipsec_tunnel_handle_plaintext(b, now, pkt, sizeof pkt, &verdict), IPSEC_RESULT_OK);
    EXPECT(verdict == IPSEC_TUN_VERDICT_NO_SA);
    for (int i = 0; i < 100 && !(up_a && up_b); i++, now += 10) {
        tun_carry(b, a, now);
        tun_carry(a, b, now);
        events(a, &up_a, &down_a, &ev_a, &idle_a);
        events(b, &up_b, &down_b, &ev_b, &idle_b);
    }
    EXPECT(up_a == 1 && up_b == 1 && idle_a == 1 && idle_b == 1);
    EXPECT(ev_a.entry == 0 && ev_a.map_seq == 10 && ev_b.map_seq == 10);
    EXPECT(ev_a.spi_in == ev_b.spi_out && ev_a.spi_out == ev_b.spi_in && ev_a.spi_in != 0);
    EXPECT(memcmp(ev_a.peer.bytes, "\xcb\x00\x71\x02", 4) == 0);

    /* ESP from A to B: the plaintext waits in B's queue while the buffer is too small. */
    tun_ping(pkt, HOST_A, HOST_B, 7);
    EXPECT_RC(ipsec_tunnel_handle_plaintext(a, now, pkt, sizeof pkt, &verdict), IPSEC_RESULT_OK);
    EXPECT(verdict == IPSEC_TUN_VERDICT_PROTECTED);
    EXPECT(tun_carry(a, b, now) == 1);
    size_t n = 0;
    EXPECT_RC(ipsec_tunnel_poll_plaintext(b, tiny, sizeof tiny, &n),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    EXPECT(n == sizeof pkt);
    n = 0;
    EXPECT_RC(ipsec_tunnel_poll_plaintext(b, got, sizeof got, &n), IPSEC_RESULT_OK);
    EXPECT(n == sizeof pkt && memcmp(got, pkt, n) == 0);
    EXPECT_RC(ipsec_tunnel_poll_plaintext(b, got, sizeof got, &n), IPSEC_RESULT_NONE);

    /* The outer DF of ESP is the inner packet's (crypto ipsec df-bit copy, the default). */
    for (int want = 0; want < 2; want++) {
        ipsec_tunnel_transmit tx;
        bool df = !want;
        tun_ping(pkt, HOST_A, HOST_B, (uint16_t)(8 + want));
        if (want) { /* DF on; the header checksum follows (RFC 1624 update) */
            pkt[6] |= 0x40;
            uint32_t sum = (uint32_t)(~((pkt[10] << 8) | pkt[11]) & 0xffff) + 0x4000;
            sum = (sum & 0xffff) + (sum >> 16);
            pkt[10] = (uint8_t)(~sum >> 8);
            pkt[11] = (uint8_t)~sum;
        }
        EXPECT_RC(ipsec_tunnel_handle_plaintext(a, now, pkt, sizeof pkt, &verdict),
                  IPSEC_RESULT_OK);
        EXPECT_RC(ipsec_tunnel_poll_transmit_df(a, got, sizeof got, &tx, NULL, &df),
                  IPSEC_RESULT_OK);
        EXPECT(tx.kind == IPSEC_TUNNEL_TRANSMIT_ESP && df == (want == 1));
        EXPECT_RC(ipsec_tunnel_handle_esp(b, now, &tx.path.local, got, tx.len), IPSEC_RESULT_OK);
        EXPECT_RC(ipsec_tunnel_poll_plaintext(b, got, sizeof got, &n), IPSEC_RESULT_OK);
        EXPECT(n == sizeof pkt && memcmp(got, pkt, n) == 0);
    }

    /* Show with and without a peer filter; diagnose. */
    ipsec_addr peer_b = v4(203, 0, 113, 2, 0), stranger = v4(192, 0, 2, 77, 0);
    char *all = tun_show(a, now, IPSEC_SHOW_IPSEC_SA_DETAIL, NULL);
    char *one = tun_show(a, now, IPSEC_SHOW_IPSEC_SA, &peer_b);
    char *other = tun_show(a, now, IPSEC_SHOW_IPSEC_SA, &stranger);
    char *isakmp = tun_show(b, now, IPSEC_SHOW_ISAKMP_SA, NULL);
    char *map = tun_show(a, now, IPSEC_SHOW_CRYPTO_MAP, NULL);
    EXPECT(strstr(all, "#pkts encaps: 3") != NULL); /* the ping above and the two DF ones */
    EXPECT(strstr(one, "current_peer 203.0.113.2") != NULL);
    EXPECT(strstr(other, "current_peer") == NULL);
    EXPECT(strstr(isakmp, "QM_IDLE") != NULL);
    EXPECT(strstr(map, "VPN") != NULL);
    free(all);
    free(one);
    free(other);
    free(isakmp);
    free(map);
    for (uint32_t w = IPSEC_SHOW_ISAKMP_SA; w <= IPSEC_SHOW_RUNNING_CONFIG; w++)
        free(tun_show(a, now, w, NULL));
    size_t need = 0, len = 0;
    EXPECT_RC(ipsec_tunnel_diagnose(a, now, NULL, NULL, 0, &need),
              IPSEC_RESULT_BUFFER_TOO_SMALL);
    char *diag = malloc(need);
    EXPECT_RC(ipsec_tunnel_diagnose(a, now, &peer_b, (uint8_t *)diag, need, &len),
              IPSEC_RESULT_OK);
    EXPECT(len > 0 && len < need && strstr(diag, "203.0.113.2") != NULL);
    printf("diagnose at site A:\n%s\n", diag);
    free(diag);

    /* clear crypto sa: the pair goes on both sides once the Delete is carried. */
    size_t cleared = 0;
    EXPECT_RC(ipsec_tunnel_clear_sa(a, now, &stranger, &cleared), IPSEC_RESULT_OK);
    EXPECT(cleared == 0);
    EXPECT_RC(ipsec_tunnel_clear_sa(a, now, NULL, &cleared), IPSEC_RESULT_OK);
    EXPECT(cleared == 1);
    tun_carry(a, b, now);
    events(a, &up_a, &down_a, &ev_a, &idle_a);
    events(b, &up_b, &down_b, &ev_b, &idle_b);
    EXPECT(down_a == 1 && down_b == 1);
    EXPECT_RC(ipsec_tunnel_handle_plaintext(a, now, pkt, sizeof pkt, &verdict), IPSEC_RESULT_OK);
    EXPECT(verdict == IPSEC_TUN_VERDICT_NO_SA);
    EXPECT_RC(ipsec_tunnel_shutdown(a, now), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_tunnel_shutdown(b, now), IPSEC_RESULT_OK);
    ipsec_tunnel_free(&a); /* with datagrams still queued: freed with them */
    ipsec_tunnel_free(&b);
}

/* ------------------------------------------------------------------ batches */

#define WIRE_MAX 64

/* What one tunnel sent, held as a receiver's recvmmsg would hand it over: UDP datagrams and
 * raw ESP packets apart, each as the pointer and length arrays the batch calls take. */
typedef struct {
    uint8_t bufs[WIRE_MAX][2048];
    const uint8_t *udp[WIRE_MAX], *esp[WIRE_MAX];
    size_t udp_len[WIRE_MAX], esp_len[WIRE_MAX];
    size_t n_udp, n_esp;
    ipsec_path udp_path; /* as the receiver sees it: local and remote swapped */
    ipsec_addr esp_src;
} wire;

/* Field by field: ipsec_addr has a padding byte. */
static bool same_addr(const ipsec_addr *x, const ipsec_addr *y) {
    return x->family == y->family && x->port == y->port &&
           memcmp(x->bytes, y->bytes, sizeof x->bytes) == 0;
}

static void wire_take(ipsec_tunnel *from, wire *w) {
    ipsec_tunnel_transmit tx;
    w->n_udp = w->n_esp = 0;
    for (size_t i = 0; i < WIRE_MAX; i++) {
        ipsec_result rc = ipsec_tunnel_poll_transmit(from, w->bufs[i], sizeof w->bufs[i], &tx,
                                                     NULL);
        if (rc == IPSEC_RESULT_NONE)
            return;
        EXPECT_RC(rc, IPSEC_RESULT_OK);
        if (tx.kind == IPSEC_TUNNEL_TRANSMIT_UDP) {
            ipsec_path rx = {.local = tx.path.remote, .remote = tx.path.local};
            /* One batch is one path: the seed's sites only talk 500 <-> 500. */
            EXPECT(w->n_udp == 0 || (same_addr(&rx.local, &w->udp_path.local) &&
                                     same_addr(&rx.remote, &w->udp_path.remote)));
            w->udp_path = rx;
            w->udp[w->n_udp] = w->bufs[i];
            w->udp_len[w->n_udp++] = tx.len;
        } else {
            EXPECT(tx.kind == IPSEC_TUNNEL_TRANSMIT_ESP);
            w->esp_src = tx.path.local;
            w->esp[w->n_esp] = w->bufs[i];
            w->esp_len[w->n_esp++] = tx.len;
        }
    }
    EXPECT(!"more than WIRE_MAX datagrams queued");
}

static bool verdicts_are(const ipsec_batch_verdicts *v, size_t accepted, size_t no_sa,
                         size_t not_protected, size_t malformed, size_t no_interface,
                         size_t dropped) {
    return v->accepted == accepted && v->no_sa == no_sa && v->send_error == 0 &&
           v->not_protected == not_protected && v->malformed == malformed &&
           v->no_interface == no_interface && v->dropped == dropped;
}

/* Carries everything `from` sent to `to` in one datagram batch and one ESP batch; adds the
 * verdicts to `*udp` and `*esp`. Returns how many were carried. */
static size_t carry_batched(ipsec_tunnel *from, ipsec_tunnel *to, uint64_t now, wire *w,
                            ipsec_batch_verdicts *udp, ipsec_batch_verdicts *esp) {
    ipsec_batch_verdicts v;
    wire_take(from, w);
    if (w->n_udp > 0) {
        EXPECT_RC(ipsec_tunnel_handle_datagram_batch(to, now, &w->udp_path, w->udp, w->udp_len,
                                                     w->n_udp, &v),
                  IPSEC_RESULT_OK);
        udp->accepted += v.accepted;
        udp->dropped += v.dropped;
    }
    if (w->n_esp > 0) {
        EXPECT_RC(ipsec_tunnel_handle_esp_batch(to, now, &w->esp_src, w->esp, w->esp_len,
                                                w->n_esp, &v),
                  IPSEC_RESULT_OK);
        esp->accepted += v.accepted;
        esp->dropped += v.dropped;
    }
    return w->n_udp + w->n_esp;
}

#define PINGS 37 /* more than one chunk of the core's batches (32) */

static void test_batches(void) {
    static wire w; /* 128 KiB: not on the stack */
    ipsec_tunnel *a = tun_new(SITE_A_CFG, 7), *b = tun_new(SITE_B_CFG, 8);
    static const uint8_t elsewhere[4] = {8, 8, 8, 8};
    uint8_t pkts[PINGS + 2][TUN_PING_LEN], got[2048];
    const uint8_t *ptrs[PINGS + 3];
    size_t lens[PINGS + 3];
    ipsec_batch_verdicts v, udp, esp;
    uint64_t now = 1000;
    size_t n = 0;

    /* A batch of one starts IKE, as the single-packet call does. */
    tun_ping(pkts[0], HOST_A, HOST_B, 0);
    ptrs[0] = pkts[0];
    lens[0] = TUN_PING_LEN;
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, ptrs, lens, 1, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 1, 0, 0, 0, 0));

    /* The whole negotiation carried in datagram batches, each accepted. */
    memset(&udp, 0, sizeof udp);
    memset(&esp, 0, sizeof esp);
    int up_a = 0, up_b = 0, down = 0, idle = 0;
    ipsec_tunnel_event last;
    for (int i = 0; i < 100 && !(up_a && up_b); i++, now += 10) {
        carry_batched(a, b, now, &w, &udp, &esp);
        carry_batched(b, a, now, &w, &udp, &esp);
        events(a, &up_a, &down, &last, &idle);
        events(b, &up_b, &down, &last, &idle);
    }
    EXPECT(up_a == 1 && up_b == 1);
    EXPECT(udp.accepted >= 9 && udp.dropped == 0); /* 6 Main Mode + 3 Quick Mode at least */
    EXPECT(esp.accepted == 0 && esp.dropped == 0);

    /* A -> B: PINGS pings with a foreign packet, a truncated one and an empty one (NULL with
     * length 0) in the middle; order kept. */
    size_t count = 0;
    for (int i = 0; i < PINGS; i++) {
        tun_ping(pkts[i], HOST_A, HOST_B, (uint8_t)(i + 1));
        ptrs[count] = pkts[i];
        lens[count++] = TUN_PING_LEN;
        if (i == 10) {
            tun_ping(pkts[PINGS], HOST_A, elsewhere, 0);
            ptrs[count] = pkts[PINGS];
            lens[count++] = TUN_PING_LEN;
            ptrs[count] = pkts[PINGS];
            lens[count++] = 7;
            ptrs[count] = NULL;
            lens[count++] = 0;
        }
    }
    ipsec_tunnel_counters before, after;
    EXPECT_RC(ipsec_tunnel_get_counters(a, &before), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, ptrs, lens, count,
                                                  &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, PINGS, 0, 1, 2, 0, 0));
    EXPECT_RC(ipsec_tunnel_get_counters(a, &after), IPSEC_RESULT_OK);
    EXPECT(after.not_protected == before.not_protected + 1);
    EXPECT(after.plaintext_malformed == before.plaintext_malformed + 2);

    /* Their ESP to B in one batch with a packet for no SA at the end: PINGS decrypted, one
     * dropped (and counted as an invalid SPI). */
    wire_take(a, &w);
    EXPECT(w.n_udp == 0 && w.n_esp == PINGS);
    static uint8_t junk[64];
    memset(junk, 0x5A, sizeof junk);
    w.esp[w.n_esp] = junk;
    w.esp_len[w.n_esp++] = sizeof junk;
    EXPECT_RC(ipsec_tunnel_get_counters(b, &before), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, &w.esp_src, w.esp, w.esp_len, w.n_esp, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, PINGS, 0, 0, 0, 0, 1));
    EXPECT_RC(ipsec_tunnel_get_counters(b, &after), IPSEC_RESULT_OK);
    EXPECT(after.invalid_spi == before.invalid_spi + 1);
    for (int i = 0; i < PINGS; i++) {
        EXPECT_RC(ipsec_tunnel_poll_plaintext(b, got, sizeof got, &n), IPSEC_RESULT_OK);
        EXPECT(n == TUN_PING_LEN && memcmp(got, pkts[i], n) == 0);
    }
    EXPECT_RC(ipsec_tunnel_poll_plaintext(b, got, sizeof got, &n), IPSEC_RESULT_NONE);

    /* The same ESP again: every packet a replay, dropped. */
    w.n_esp--;
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, &w.esp_src, w.esp, w.esp_len, w.n_esp, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 0, 0, 0, 0, PINGS));
    EXPECT_RC(ipsec_tunnel_poll_plaintext(b, got, sizeof got, &n), IPSEC_RESULT_NONE);

    /* B -> A the same way, through carry_batched. */
    for (int i = 0; i < 5; i++) {
        tun_ping(pkts[i], HOST_B, HOST_A, (uint8_t)(100 + i));
        ptrs[i] = pkts[i];
        lens[i] = TUN_PING_LEN;
    }
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(b, now, IPSEC_IFACE_INSIDE, ptrs, lens, 5, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 5, 0, 0, 0, 0, 0));
    memset(&udp, 0, sizeof udp);
    memset(&esp, 0, sizeof esp);
    EXPECT(carry_batched(b, a, now, &w, &udp, &esp) == 5);
    EXPECT(esp.accepted == 5 && esp.dropped == 0 && udp.accepted == 0);
    for (int i = 0; i < 5; i++) {
        EXPECT_RC(ipsec_tunnel_poll_plaintext(a, got, sizeof got, &n), IPSEC_RESULT_OK);
        EXPECT(n == TUN_PING_LEN && memcmp(got, pkts[i], n) == 0);
    }
    char *sa = tun_show(a, now, IPSEC_SHOW_IPSEC_SA, NULL);
    EXPECT(strstr(sa, "#pkts encaps: 37") != NULL && strstr(sa, "#pkts decaps: 5") != NULL);
    free(sa);

    /* Packets for VTIs this configuration does not have (interface Tunnel0, Tunnel7):
     * refused and counted, nothing sent, no crypto ACL consulted. */
    EXPECT_RC(ipsec_tunnel_get_counters(a, &before), IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, 0, ptrs, lens, 3, &v), IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 0, 0, 0, 3, 0));
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, 7, ptrs, lens, 5, &v), IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 0, 0, 0, 5, 0));
    EXPECT_RC(ipsec_tunnel_get_counters(a, &after), IPSEC_RESULT_OK);
    EXPECT(after.not_protected == before.not_protected);
    ipsec_tunnel_transmit tx;
    EXPECT_RC(ipsec_tunnel_poll_transmit(a, got, sizeof got, &tx, NULL), IPSEC_RESULT_NONE);

    /* An empty batch may pass NULL arrays. */
    memset(&v, 0xEE, sizeof v);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, NULL, NULL, 0, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 0, 0, 0, 0, 0));
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(a, now, &w.esp_src, NULL, NULL, 0, &v),
              IPSEC_RESULT_OK);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(a, now, &w.udp_path, NULL, NULL, 0, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 0, 0, 0, 0, 0));

    /* Misuse: refused whole, before any packet is handled; the verdicts are not written. A
     * protectable ping first and a NULL packet with a length second: the ping is not sent. */
    ipsec_batch_verdicts untouched;
    memset(&v, 0xEE, sizeof v);
    memcpy(&untouched, &v, sizeof v);
    tun_ping(pkts[0], HOST_A, HOST_B, 200);
    ptrs[0] = pkts[0];
    lens[0] = TUN_PING_LEN;
    ptrs[1] = NULL;
    lens[1] = TUN_PING_LEN;
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, ptrs, lens, 2, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(NULL, now, IPSEC_IFACE_INSIDE, ptrs, lens, 1,
                                                  &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, NULL, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, ptrs, NULL, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, 0, NULL, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT(memcmp(&v, &untouched, sizeof v) == 0);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, ptrs, lens, 1,
                                                  NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_poll_transmit(a, got, sizeof got, &tx, NULL), IPSEC_RESULT_NONE);

    ipsec_addr v6 = w.esp_src;
    v6.family = IPSEC_AF_INET6;
    ipsec_path v6_path = w.udp_path;
    v6_path.remote.family = IPSEC_AF_INET6;
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(NULL, now, &w.esp_src, ptrs, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, NULL, ptrs, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, &w.esp_src, ptrs, lens, 2, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, &w.esp_src, NULL, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, &w.esp_src, ptrs, lens, 1, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_esp_batch(b, now, &v6, ptrs, lens, 1, &v),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(NULL, now, &w.udp_path, ptrs, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(b, now, NULL, ptrs, lens, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(b, now, &w.udp_path, ptrs, NULL, 1, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(b, now, &w.udp_path, ptrs, lens, 2, &v),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(b, now, &w.udp_path, ptrs, lens, 1, NULL),
              IPSEC_RESULT_NULL_PARAMETER);
    EXPECT_RC(ipsec_tunnel_handle_datagram_batch(b, now, &v6_path, ptrs, lens, 1, &v),
              IPSEC_RESULT_INVALID_PARAMETER);
    EXPECT(memcmp(&v, &untouched, sizeof v) == 0);
    /* Nothing of those reached B's counters (the ping is neither ESP nor ISAKMP). */
    EXPECT_RC(ipsec_tunnel_get_counters(b, &before), IPSEC_RESULT_OK);
    EXPECT(before.invalid_spi == 1 && before.ike.malformed == 0);
    printf("batches: %d pings A -> B and 5 back, a VTI batch refused\n", PINGS);

    ipsec_tunnel_free(&a);
    ipsec_tunnel_free(&b);
}

/* Reverse route injection: `reverse-route static` asks for the crypto ACL's destination from
 * the start (ROUTE_ADD) and withdraws it at shutdown (ROUTE_REMOVE). */
static void test_reverse_route(void) {
    static const char extra[] = "crypto map VPN 10 ipsec-isakmp\n"
                                " reverse-route static\n"
                                " set reverse-route tag 42\n"
                                " set reverse-route distance 7\n";
    char cfg[sizeof SITE_A_CFG + sizeof extra];
    snprintf(cfg, sizeof cfg, "%s%s", SITE_A_CFG, extra);
    ipsec_tunnel *t = tun_new(cfg, 9);
    ipsec_tunnel_event ev;
    int adds = 0, removes = 0;
    while (ipsec_tunnel_poll_event(t, &ev) == IPSEC_RESULT_OK) {
        if (ev.kind != IPSEC_TUNNEL_EVENT_ROUTE_ADD)
            continue;
        adds++;
        EXPECT(ev.route_prefix.family == IPSEC_AF_INET);
        EXPECT(memcmp(ev.route_prefix.bytes, (const uint8_t[]){192, 168, 2, 0}, 4) == 0);
        EXPECT(ev.route_prefix_len == 24 && ev.route_tag == 42 && ev.route_distance == 7);
        EXPECT(ev.route_publish && ev.entry == 0 && ev.map_seq == 10);
    }
    EXPECT(adds == 1);
    EXPECT_RC(ipsec_tunnel_shutdown(t, 1000), IPSEC_RESULT_OK);
    while (ipsec_tunnel_poll_event(t, &ev) == IPSEC_RESULT_OK) {
        if (ev.kind == IPSEC_TUNNEL_EVENT_ROUTE_REMOVE) {
            removes++;
            EXPECT(ev.route_prefix_len == 24 && ev.route_tag == 42);
        }
        EXPECT(ev.kind != IPSEC_TUNNEL_EVENT_ROUTE_ADD);
    }
    EXPECT(removes == 1);
    ipsec_tunnel_free(&t);
}

/* One end of a static VTI: GigabitEthernet0/0 is `me`, Tunnel0 goes to `peer`. */
static void vti_config(char *out, size_t cap, const char *me, const char *peer,
                       const char *tun) {
    snprintf(out, cap,
             "crypto isakmp policy 10\n"
             " encr aes 256\n"
             " authentication pre-share\n"
             " group 14\n"
             "crypto isakmp key vtikey address %s\n"
             "crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac\n"
             "crypto ipsec profile VTI\n"
             " set transform-set TS\n"
             "interface GigabitEthernet0/0\n"
             " ip address %s 255.255.255.0\n"
             "interface Tunnel0\n"
             " ip address %s 255.255.255.252\n"
             " tunnel source GigabitEthernet0/0\n"
             " tunnel mode ipsec ipv4\n"
             " tunnel destination %s\n"
             " tunnel protection ipsec profile VTI\n",
             peer, me, tun, peer);
}

/* LINE_PROTOCOL events of Tunnel0: +1 per up, -1 per down (others ignored). */
static int line_events(ipsec_tunnel *t) {
    ipsec_tunnel_event e;
    int sum = 0;
    while (ipsec_tunnel_poll_event(t, &e) == IPSEC_RESULT_OK) {
        if (e.kind == IPSEC_TUNNEL_EVENT_LINE_PROTOCOL) {
            EXPECT(e.iface == 0);
            sum += e.line_up ? 1 : -1;
        } else if (e.kind == IPSEC_TUNNEL_EVENT_IPSEC_UP) {
            EXPECT(e.iface == 0); /* the pair belongs to Tunnel0, not to a crypto map */
        }
    }
    return sum;
}

static void test_vti(void) {
    char cfg_a[1024], cfg_b[1024];
    vti_config(cfg_a, sizeof cfg_a, "198.51.100.1", "203.0.113.2", "10.255.0.1");
    vti_config(cfg_b, sizeof cfg_b, "203.0.113.2", "198.51.100.1", "10.255.0.2");
    ipsec_tunnel *a = tun_new(cfg_a, 11), *b = tun_new(cfg_b, 12);
    uint64_t now = 1000;
    /* No traffic needed: both ends initiate from their timers, and converge to one pair. */
    for (int i = 0; i < 100; i++) {
        tun_tick(a, now);
        tun_tick(b, now);
        tun_carry(a, b, now);
        tun_carry(b, a, now);
        now += 10;
    }
    EXPECT(line_events(a) == 1);
    EXPECT(line_events(b) == 1);
    /* Anything routed into Tunnel0 goes through, whatever its addresses; it comes out of
     * interface 0 at the other end. */
    static const uint8_t lan_a[4] = {192, 168, 1, 10}, lan_b[4] = {192, 168, 2, 10},
                         far[4] = {8, 8, 8, 8};
    uint8_t pkts[2][TUN_PING_LEN], got[2048];
    tun_ping(pkts[0], lan_a, lan_b, 1);
    tun_ping(pkts[1], lan_a, far, 2);
    const uint8_t *ptrs[2] = {pkts[0], pkts[1]};
    size_t lens[2] = {TUN_PING_LEN, TUN_PING_LEN};
    ipsec_batch_verdicts v;
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, 0, ptrs, lens, 2, &v), IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 2, 0, 0, 0, 0, 0));
    EXPECT(tun_carry(a, b, now) == 2);
    size_t n = 0;
    uint32_t iface = 99;
    for (int i = 0; i < 2; i++) {
        EXPECT_RC(ipsec_tunnel_poll_plaintext_iface(b, got, sizeof got, &n, &iface),
                  IPSEC_RESULT_OK);
        EXPECT(n == TUN_PING_LEN && iface == 0 && memcmp(got, pkts[i], n) == 0);
    }
    EXPECT_RC(ipsec_tunnel_poll_plaintext_iface(b, got, sizeof got, &n, &iface),
              IPSEC_RESULT_NONE);
    /* And back. */
    tun_ping(pkts[0], lan_b, lan_a, 3);
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(b, now, 0, ptrs, lens, 1, &v), IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 1, 0, 0, 0, 0, 0));
    EXPECT(tun_carry(b, a, now) == 1);
    iface = 99;
    EXPECT_RC(ipsec_tunnel_poll_plaintext_iface(a, got, sizeof got, &n, &iface),
              IPSEC_RESULT_OK);
    EXPECT(n == TUN_PING_LEN && iface == 0 && memcmp(got, pkts[0], n) == 0);
    /* No crypto ACL: the crypto-map side protects nothing. */
    EXPECT_RC(ipsec_tunnel_handle_plaintext_batch(a, now, IPSEC_IFACE_INSIDE, ptrs, lens, 1, &v),
              IPSEC_RESULT_OK);
    EXPECT(verdicts_are(&v, 0, 0, 1, 0, 0, 0));
    char *s = tun_show(a, now, IPSEC_SHOW_INTERFACES_TUNNEL + 0, NULL);
    EXPECT(strstr(s, "Tunnel0 is up, line protocol is up") != NULL);
    EXPECT(strstr(s, "Tunnel protection via IPSec (profile \"VTI\")") != NULL);
    free(s);
    s = tun_show(a, now, IPSEC_SHOW_IPSEC_SA_INTERFACE_TUNNEL + 0, NULL);
    EXPECT(strstr(s, "interface: Tunnel0") != NULL);
    EXPECT(strstr(s, "local  ident (addr/mask/prot/port): (0.0.0.0/0.0.0.0/0/0)") != NULL);
    free(s);
    /* The SA goes: both line protocols go down, and come back up by themselves. */
    size_t cleared = 0;
    EXPECT_RC(ipsec_tunnel_clear_sa(b, now, NULL, &cleared), IPSEC_RESULT_OK);
    tun_carry(b, a, now);
    EXPECT(line_events(a) == -1);
    EXPECT(line_events(b) == -1);
    for (int i = 0; i < 100; i++) {
        tun_tick(a, now);
        tun_tick(b, now);
        tun_carry(a, b, now);
        tun_carry(b, a, now);
        now += 10;
    }
    EXPECT(line_events(a) == 1);
    EXPECT(line_events(b) == 1);
    printf("vti: Tunnel0 up by itself, 2 packets A -> B and 1 back through interface 0\n");
    ipsec_tunnel_free(&a);
    ipsec_tunnel_free(&b);
}

int main(void) {
    test_config_errors();
    test_null_and_range();
    test_buffer_too_small();
    test_negotiation();
    test_batches();
    test_reverse_route();
    test_vti();
    printf("test_tunnel: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
