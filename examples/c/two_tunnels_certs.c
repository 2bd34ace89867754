/* The seed's two sites (see two_tunnels.c) authenticating with certificates instead of a
 * pre-shared key: `authentication rsa-sig`, trustpoint LAB holding the CA and the site's own
 * certificate (pasted into the IOS text as hex, as `show running-config` prints it), and the
 * site's private key handed over separately in an ipsec_keystore (IOS text never holds keys).
 * Certificates are checked against the wall clock, which the program supplies; without it the
 * tunnel must not come up. Reads the PKI test fixtures (PEM) from the directory in argv[1],
 * default ipsec-proto/src/pki/testdata (run from the repository root).
 *   gcc -Iffi-c/include examples/c/two_tunnels_certs.c target/release/libipsecrs.a \
 *       -lpthread -ldl -lm -o two_tunnels_certs && ./two_tunnels_certs                  */
#include "tunnel_wire.h"

/* 2027-01-01T00:00:00Z: inside the fixtures' validity. A real program passes time(NULL). */
#define JAN_2027 INT64_C(1798761600)

/* Site A as gw1.example.com; %s is its `crypto pki certificate chain LAB` block. */
static const char SITE_A_CERT_CFG[] =
    "hostname gw1\n"
    "ip domain name example.com\n"
    "crypto isakmp identity hostname\n"
    "crypto pki trustpoint LAB\n"
    " enrollment terminal\n"
    " revocation-check crl\n"
    " rsakeypair gw\n"
    "%s"
    "crypto isakmp policy 1\n"
    " encr 3des\n"
    " authentication rsa-sig\n"
    " group 2\n"
    "crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac\n"
    "crypto map VPN 10 ipsec-isakmp\n"
    " set peer 203.0.113.2\n"
    " set transform-set TRANSFORM\n"
    " match address 100\n"
    "interface FastEthernet4\n"
    " ip address 198.51.100.1 255.255.255.0\n"
    " crypto map VPN\n"
    "interface Vlan1\n"
    " ip address 192.168.1.1 255.255.255.0\n"
    "access-list 100 permit ip 192.168.1.0 0.0.0.255 192.168.2.0 0.0.0.255\n";

/* Site B as gw2.example.com. */
static const char SITE_B_CERT_CFG[] =
    "hostname gw2\n"
    "ip domain name example.com\n"
    "crypto isakmp identity hostname\n"
    "crypto pki trustpoint LAB\n"
    " enrollment terminal\n"
    " revocation-check crl\n"
    " rsakeypair gw\n"
    "%s"
    "crypto isakmp policy 1\n"
    " encr 3des\n"
    " authentication rsa-sig\n"
    " group 2\n"
    "crypto ipsec transform-set TRANSFORM esp-3des esp-sha-hmac\n"
    "crypto map VPN 10 ipsec-isakmp\n"
    " set peer 198.51.100.1\n"
    " set transform-set TRANSFORM\n"
    " match address 100\n"
    "interface FastEthernet4\n"
    " ip address 203.0.113.2 255.255.255.0\n"
    " crypto map VPN\n"
    "interface Vlan1\n"
    " ip address 192.168.2.1 255.255.255.0\n"
    "access-list 100 permit ip 192.168.2.0 0.0.0.255 192.168.1.0 0.0.0.255\n";

typedef struct {
    uint8_t *data;
    size_t len;
} bytes;

/* The whole file dir/name, NUL-terminated (the NUL is not counted). Exits on failure. */
static bytes read_file(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    bytes b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        if (b.len + 1024 + 1 > cap) {
            cap = cap * 2 + 2048;
            uint8_t *p = realloc(b.data, cap);
            if (p == NULL)
                exit(1);
            b.data = p;
        }
        size_t n = fread(b.data + b.len, 1, 1024, f);
        b.len += n;
        if (n < 1024)
            break;
    }
    fclose(f);
    b.data[b.len] = 0;
    return b;
}

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The DER inside the first PEM block of `pem` (base64 between the BEGIN and END lines). */
static bytes pem_to_der(const bytes *pem) {
    const char *text = (const char *)pem->data;
    const char *begin = strstr(text, "-----BEGIN");
    const char *body = begin ? strchr(begin, '\n') : NULL;
    const char *end = body ? strstr(body, "-----END") : NULL;
    if (end == NULL) {
        fprintf(stderr, "no PEM block\n");
        exit(1);
    }
    bytes der = {malloc((size_t)(end - body)), 0};
    if (der.data == NULL)
        exit(1);
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = body; p < end; p++) {
        int v = b64_value((uint8_t)*p);
        if (v < 0)
            continue; /* line breaks, '=' padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            der.data[der.len++] = (uint8_t)(acc >> bits);
        }
    }
    return der;
}

/* Reads a DER tag and length at `*p` (within `end`); returns the content's length, or -1. */
static long der_header(const uint8_t **p, const uint8_t *end, uint8_t *tag) {
    if (end - *p < 2)
        return -1;
    *tag = *(*p)++;
    size_t len = *(*p)++;
    if (len & 0x80) {
        size_t n = len & 0x7f;
        if (n == 0 || n > 3 || (size_t)(end - *p) < n)
            return -1;
        for (len = 0; n > 0; n--)
            len = len << 8 | *(*p)++;
    }
    return len <= (size_t)(end - *p) ? (long)len : -1;
}

/* The serial number of a DER certificate in hex (as IOS names it in the chain), or exits:
 * Certificate SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, INTEGER serial ... */
static void cert_serial(const bytes *der, char *out, size_t cap) {
    const uint8_t *p = der->data, *end = der->data + der->len;
    uint8_t tag = 0;
    long n = der_header(&p, end, &tag); /* Certificate */
    if (n >= 0 && tag == 0x30)
        n = der_header(&p, end, &tag); /* tbsCertificate */
    if (n >= 0 && tag == 0x30)
        n = der_header(&p, end, &tag);
    if (n >= 0 && tag == 0xa0) { /* skip the version */
        p += n;
        n = der_header(&p, end, &tag);
    }
    if (n <= 0 || tag != 0x02 || (size_t)n * 2 + 1 > cap) {
        fprintf(stderr, "not a certificate\n");
        exit(1);
    }
    if (n > 1 && p[0] == 0) { /* the sign byte of a positive serial */
        p++;
        n--;
    }
    for (long i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02X", p[i]);
}

/* Appends ` certificate [ca] SERIAL`, the DER as hex lines of 8-digit groups and `quit`. */
static void append_cert(char *out, size_t cap, const bytes *der, int ca) {
    char serial[64];
    cert_serial(der, serial, sizeof serial);
    size_t at = strlen(out);
    at += (size_t)snprintf(out + at, cap - at, " certificate %s%s\n", ca ? "ca " : "", serial);
    for (size_t i = 0; i < der->len && at < cap; i++) {
        const char *lead = i % 32 == 0 ? "  " : i % 4 == 0 ? " " : "";
        const char *tail = i % 32 == 31 || i + 1 == der->len ? "\n" : "";
        at += (size_t)snprintf(out + at, cap - at, "%s%02X%s", lead, der->data[i], tail);
    }
    if (at < cap)
        snprintf(out + at, cap - at, "  quit\n");
}

/* The IOS text of one site: `tmpl` with the chain of trustpoint LAB (ours, then the CA). */
static char *site_text(const char *tmpl, const bytes *ours, const bytes *ca) {
    size_t cap = 3 * (ours->len + ca->len) + 512;
    char *chain = calloc(1, cap);
    char *text = malloc(cap + strlen(tmpl));
    if (chain == NULL || text == NULL)
        exit(1);
    strcpy(chain, "crypto pki certificate chain LAB\n");
    append_cert(chain, cap, ours, 0);
    append_cert(chain, cap, ca, 1);
    snprintf(text, cap + strlen(tmpl), tmpl, chain);
    free(chain);
    return text;
}

/* A keystore holding `key_pem` under label "gw" and the CRL for trustpoint LAB. */
static ipsec_keystore *site_keys(const bytes *key_pem, const bytes *crl_der) {
    ipsec_keystore *ks = NULL;
    TUN_CHECK(ipsec_keystore_new(&ks));
    TUN_CHECK(ipsec_keystore_add_rsa_key_pem(ks, (const uint8_t *)"gw", 2, key_pem->data,
                                             key_pem->len));
    TUN_CHECK(ipsec_keystore_add_crl_der(ks, (const uint8_t *)"LAB", 3, crl_der->data,
                                         crl_der->len));
    return ks;
}

static ipsec_tunnel *site_tunnel(const char *text, const ipsec_keystore *ks, uint8_t seed_byte) {
    uint8_t seed[32];
    memset(seed, seed_byte, sizeof seed);
    ipsec_tunnel *t = NULL;
    size_t line = 0, col = 0;
    ipsec_result rc = ipsec_tunnel_new_from_ios_with_keys((const uint8_t *)text, strlen(text), ks,
                                                          seed, &t, &line, &col);
    if (rc != IPSEC_RESULT_OK) {
        char why[512];
        size_t n = 0;
        ipsec_tunnel_explain_ios_with_keys((const uint8_t *)text, strlen(text), ks,
                                           (uint8_t *)why, sizeof why, &n);
        fprintf(stderr, "configuration refused (%u, line %zu): %s\n", (unsigned)rc, line, why);
        exit(1);
    }
    return t;
}

/* tun_carry that tolerates refusals: once Phase 1 fails (no wall clock) one side drops the
 * ISAKMP SA and the other's retransmissions come back as IPSEC_RESULT_UNKNOWN_SA, which is
 * counted and harmless. */
static void carry_lossy(ipsec_tunnel *from, ipsec_tunnel *to, uint64_t now) {
    uint8_t buf[4096];
    ipsec_tunnel_transmit tx;
    ipsec_result rc;
    while ((rc = ipsec_tunnel_poll_transmit(from, buf, sizeof buf, &tx, NULL)) ==
           IPSEC_RESULT_OK) {
        if (tx.kind == IPSEC_TUNNEL_TRANSMIT_UDP) {
            ipsec_path rx = {.local = tx.path.remote, .remote = tx.path.local};
            (void)ipsec_tunnel_handle_datagram(to, now, &rx, buf, tx.len);
        } else {
            (void)ipsec_tunnel_handle_esp(to, now, &tx.path.local, buf, tx.len);
        }
    }
    if (rc != IPSEC_RESULT_NONE)
        TUN_CHECK(rc);
}

static const uint8_t host_a[4] = {192, 168, 1, 10}, host_b[4] = {192, 168, 2, 10};

/* A ping from LAN A starts IKE; datagrams are carried for 10 simulated seconds. Returns
 * whether both sides installed an IPsec SA pair. */
static int negotiate(ipsec_tunnel *a, ipsec_tunnel *b, uint64_t *now) {
    uint8_t pkt[TUN_PING_LEN];
    uint32_t verdict = 0;
    int up_a = 0, up_b = 0;
    tun_ping(pkt, host_a, host_b, 0);
    TUN_CHECK(ipsec_tunnel_handle_plaintext(a, *now, pkt, sizeof pkt, &verdict));
    if (verdict != IPSEC_TUN_VERDICT_NO_SA)
        return 0;
    for (uint64_t stop = *now + 10000; !(up_a && up_b) && *now < stop; *now += 10) {
        carry_lossy(a, b, *now);
        carry_lossy(b, a, *now);
        ipsec_tunnel_event ev;
        while (ipsec_tunnel_poll_event(a, &ev) == IPSEC_RESULT_OK) {
            if (ev.kind == IPSEC_TUNNEL_EVENT_ISAKMP_STATE)
                printf("gw1: ISAKMP SA %u %s -> %s\n", ev.conn_id, ev.from_state, ev.to_state);
            up_a |= ev.kind == IPSEC_TUNNEL_EVENT_IPSEC_UP;
        }
        while (ipsec_tunnel_poll_event(b, &ev) == IPSEC_RESULT_OK)
            up_b |= ev.kind == IPSEC_TUNNEL_EVENT_IPSEC_UP;
        tun_tick(a, *now);
        tun_tick(b, *now);
    }
    return up_a && up_b;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "ipsec-proto/src/pki/testdata";
    bytes ca_pem = read_file(dir, "ca.pem"), crl_pem = read_file(dir, "ca.crl.pem");
    bytes gw1_pem = read_file(dir, "gw1.pem"), gw1_key = read_file(dir, "gw1.key");
    bytes gw2_pem = read_file(dir, "gw2.pem"), gw2_key = read_file(dir, "gw2.key");
    bytes ca = pem_to_der(&ca_pem), crl = pem_to_der(&crl_pem);
    bytes gw1 = pem_to_der(&gw1_pem), gw2 = pem_to_der(&gw2_pem);
    char *text_a = site_text(SITE_A_CERT_CFG, &gw1, &ca);
    char *text_b = site_text(SITE_B_CERT_CFG, &gw2, &ca);
    ipsec_keystore *keys_a = site_keys(&gw1_key, &crl), *keys_b = site_keys(&gw2_key, &crl);
    int ok = 1;

    /* A bad key is refused with its own code and leaves the keystore as it was. */
    ipsec_result rc = ipsec_keystore_add_rsa_key_pem(keys_a, (const uint8_t *)"gw", 2,
                                                     (const uint8_t *)"junk", 4);
    ok &= rc == IPSEC_RESULT_INVALID_KEY;
    printf("bad key: %s\n", rc == IPSEC_RESULT_INVALID_KEY ? "refused" : "ACCEPTED");

    /* 1. No wall clock: the certificates cannot be checked and Phase 1 fails. */
    ipsec_tunnel *a = site_tunnel(text_a, keys_a, 1), *b = site_tunnel(text_b, keys_b, 2);
    uint64_t now = 1000; /* milliseconds on our own clock */
    int up = negotiate(a, b, &now);
    printf("without the wall clock: %s\n", up ? "UP (wrong)" : "not up (as it must be)");
    ok &= !up;
    ipsec_tunnel_free(&a);
    ipsec_tunnel_free(&b);

    /* 2. With it. The tunnels copied the keys: the keystores can go now. */
    a = site_tunnel(text_a, keys_a, 1);
    b = site_tunnel(text_b, keys_b, 2);
    ipsec_keystore_free(&keys_a);
    ipsec_keystore_free(&keys_b);
    now = 1000;
    TUN_CHECK(ipsec_tunnel_set_wall_clock(a, now, JAN_2027));
    TUN_CHECK(ipsec_tunnel_set_wall_clock(b, now, JAN_2027));
    up = negotiate(a, b, &now);
    printf("with the wall clock: %s\n", up ? "up" : "NOT UP");
    ok &= up;
    for (int i = 0; i < 2 && ok; i++) { /* A -> B, then B -> A */
        ipsec_tunnel *from = i ? b : a, *to = i ? a : b;
        uint8_t pkt[TUN_PING_LEN], got[2048];
        uint32_t verdict = 0;
        size_t n = 0;
        tun_ping(pkt, i ? host_b : host_a, i ? host_a : host_b, (uint8_t)(i + 1));
        TUN_CHECK(ipsec_tunnel_handle_plaintext(from, now, pkt, sizeof pkt, &verdict));
        tun_carry(from, to, now);
        ok = verdict == IPSEC_TUN_VERDICT_PROTECTED &&
             ipsec_tunnel_poll_plaintext(to, got, sizeof got, &n) == IPSEC_RESULT_OK &&
             n == sizeof pkt && memcmp(got, pkt, n) == 0;
        printf("ping %s: %s\n", i ? "gw2 -> gw1" : "gw1 -> gw2", ok ? "ok" : "LOST");
    }
    char *isakmp = tun_show(a, now, IPSEC_SHOW_ISAKMP_SA_DETAIL, NULL);
    char *certs = tun_show(a, now, IPSEC_SHOW_CRYPTO_PKI_CERTIFICATES, NULL);
    char *tps = tun_show(a, now, IPSEC_SHOW_CRYPTO_PKI_TRUSTPOINTS, NULL);
    printf("\ngw1#show crypto isakmp sa detail\n%s\ngw1#show crypto pki certificates\n%s"
           "\ngw1#show crypto pki trustpoints\n%s",
           isakmp, certs, tps);
    ok = ok && strstr(isakmp, "rsig") && strstr(certs, "Associated Trustpoints: LAB") &&
         strstr(tps, "Trustpoint LAB:");
    free(isakmp);
    free(certs);
    free(tps);

    ipsec_tunnel_free(&a);
    ipsec_tunnel_free(&b);
    free(text_a);
    free(text_b);
    bytes all[] = {ca_pem, crl_pem, gw1_pem, gw1_key, gw2_pem, gw2_key, ca, crl, gw1, gw2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i].data);
    printf("%s\n", ok ? "certificates: ok" : "certificates: FAILED");
    return ok ? 0 : 1;
}
