/* Shared by two_endpoints.c and test_ffi.c: two endpoints wired back to back in memory, with an
 * explicit clock. Header-only on purpose (static functions), so each program is one gcc line. */
#ifndef IPSEC_EXAMPLE_PUMP_H
#define IPSEC_EXAMPLE_PUMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipsec.h"

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        ipsec_result check_rc_ = (expr);                                                   \
        if (check_rc_ != IPSEC_RESULT_OK) {                                                \
            char check_msg_[128];                                                          \
            size_t check_n_ = 0;                                                           \
            ipsec_result_message(check_rc_, (uint8_t *)check_msg_, sizeof check_msg_,      \
                                 &check_n_);                                               \
            fprintf(stderr, "%s:%d: %s -> %u (%s)\n", __FILE__, __LINE__, #expr,          \
                    (unsigned)check_rc_, check_msg_);                                      \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* One side of the in-memory pair and the ESP SAs it got from Quick Mode. */
struct side {
    const char *name;
    ipsec_endpoint *ep;
    uint8_t addr[4];
    ipsec_esp_sa *sa_in;
    ipsec_esp_sa *sa_out;
    int phase1_up;
    int phase2_up;
    int failures;
};

/* Takes every event of `s`; Phase 2 keys move into the side's ESP SA handles. */
static void drain_events(struct side *s, uint64_t now) {
    ipsec_event *ev = NULL;
    while (ipsec_endpoint_poll_event(s->ep, &ev) == IPSEC_RESULT_OK) {
        char text[512];
        size_t n = 0;
        CHECK(ipsec_event_describe(ev, (uint8_t *)text, sizeof text, &n));
        printf("[%s] event %u: %s\n", s->name, ipsec_event_kind(ev), text);
        switch (ipsec_event_kind(ev)) {
        case IPSEC_EVENT_PHASE1_ESTABLISHED:
            s->phase1_up = 1;
            break;
        case IPSEC_EVENT_PHASE2_ESTABLISHED:
            ipsec_esp_sa_free(&s->sa_in); /* a rekey replaces the previous pair */
            ipsec_esp_sa_free(&s->sa_out);
            CHECK(ipsec_event_take_esp_sas(ev, now, &s->sa_in, &s->sa_out));
            s->phase2_up = 1;
            break;
        case IPSEC_EVENT_NEGOTIATION_FAILED:
            s->failures++;
            break;
        default:
            break;
        }
        ipsec_event_free(&ev);
    }
}

/* Moves every queued datagram from `from` to `to`; returns how many moved. */
static int move_datagrams(struct side *from, struct side *to, uint64_t now) {
    uint8_t buf[4096];
    int moved = 0;
    for (;;) {
        ipsec_transmit t;
        size_t required = 0;
        ipsec_result rc = ipsec_endpoint_poll_transmit(from->ep, now, buf, sizeof buf, &t,
                                                       &required);
        if (rc == IPSEC_RESULT_NONE)
            break;
        CHECK(rc);
        ipsec_path rx;
        rx.local = t.path.remote;
        rx.remote = t.path.local;
        if (rx.remote.family == IPSEC_AF_INET && memcmp(rx.remote.bytes, "\0\0\0\0", 4) == 0)
            memcpy(rx.remote.bytes, from->addr, 4); /* unspecified source: the socket's */
        ipsec_result h;
        if (t.non_esp_marker) {
            uint8_t framed[4096 + 4] = {0};
            memcpy(framed + 4, buf, t.len);
            h = ipsec_endpoint_handle_datagram(to->ep, now, &rx, framed, t.len + 4);
        } else {
            h = ipsec_endpoint_handle_datagram(to->ep, now, &rx, buf, t.len);
        }
        CHECK(h);
        moved++;
    }
    return moved;
}

/* Runs both sides until nothing moves, firing due timers; time advances 10 ms per round. */
static uint64_t pump(struct side *a, struct side *b, uint64_t now, int rounds) {
    for (int i = 0; i < rounds; i++) {
        int moved = move_datagrams(a, b, now) + move_datagrams(b, a, now);
        drain_events(a, now);
        drain_events(b, now);
        uint64_t deadline;
        if (ipsec_endpoint_poll_timeout(a->ep, &deadline) && deadline <= now)
            CHECK(ipsec_endpoint_handle_timeout(a->ep, now));
        if (ipsec_endpoint_poll_timeout(b->ep, &deadline) && deadline <= now)
            CHECK(ipsec_endpoint_handle_timeout(b->ep, now));
        if (moved == 0 && a->phase2_up && b->phase2_up)
            break;
        now += 10;
    }
    return now;
}

/* A 60-byte IPv4/ICMP echo from `src` to `dst` (checksums left zero: ESP does not look). */
static size_t make_ipv4(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint8_t tag) {
    memset(p, 0, 60);
    p[0] = 0x45;
    p[3] = 60;
    p[8] = 64;
    p[9] = 1; /* ICMP */
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    p[20] = 8; /* echo request */
    for (int i = 28; i < 60; i++)
        p[i] = (uint8_t)(tag + i);
    return 60;
}

/* Sends one inner packet from `from` to `to` through ESP; returns 0 when it arrived intact. */
static int esp_roundtrip(struct side *from, struct side *to, uint64_t now, const uint8_t *inner,
                         size_t len) {
    uint8_t esp[2048], out[2048];
    size_t esp_len = 0, out_len = 0;
    uint8_t nh = 0;
    CHECK(ipsec_esp_sa_encapsulate(from->sa_out, now, inner, len, 4, esp, sizeof esp, &esp_len));
    CHECK(ipsec_esp_sa_decapsulate(to->sa_in, now, esp, esp_len, out, sizeof out, &out_len, &nh));
    if (out_len != len || memcmp(out, inner, len) != 0 || nh != 4) {
        fprintf(stderr, "ESP %s -> %s: inner packet differs\n", from->name, to->name);
        return 1;
    }
    printf("[%s -> %s] ESP packet of %zu bytes carried %zu inner bytes\n", from->name, to->name,
           esp_len, len);
    return 0;
}

/* Prints a show command into a heap buffer sized by a first size query. */
static char *show(const ipsec_endpoint *ep, uint64_t now, int ipsec, const ipsec_esp_sa *const *sas,
                  size_t n_sas) {
    size_t need = 0;
    ipsec_result rc = ipsec ? ipsec_endpoint_show_ipsec_sa(ep, now, sas, n_sas, NULL, 0, &need)
                            : ipsec_endpoint_show_isakmp_sa(ep, now, NULL, 0, &need);
    if (rc != IPSEC_RESULT_BUFFER_TOO_SMALL) {
        fprintf(stderr, "size query returned %u\n", (unsigned)rc);
        exit(1);
    }
    char *text = malloc(need);
    size_t n = 0;
    if (text == NULL)
        exit(1);
    CHECK(ipsec ? ipsec_endpoint_show_ipsec_sa(ep, now, sas, n_sas, (uint8_t *)text, need, &n)
                : ipsec_endpoint_show_isakmp_sa(ep, now, (uint8_t *)text, need, &n));
    return text;
}

#endif
