/* Fuzz target: the P1 decoders (MTS-APDU, MTA-bind values, O/R name text).
 *
 * Input: byte 0 selects the mode, the rest is the payload.
 *   mode % 4 == 0: MTS-APDU.  Whatever decodes is re-encoded; the
 *                  re-encoding must decode again and re-encode to the same
 *                  bytes (encode . decode is idempotent).  Tight limits keep
 *                  runs fast and exercise the limit paths.
 *   mode % 4 == 1: MTA-bind value, normal mode (ROS-wrapped).
 *   mode % 4 == 2: MTA-bind value, X.410 mode; byte 1 selects the PDU.
 *   mode % 4 == 3: O/R name text form: parse, format, parse again, equal.
 * A bind value that decodes is re-encoded and must decode to the same PDU,
 * name and password (strong credentials excepted: kept as views). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "x400p1/p1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void apdu(const uint8_t *p, size_t n)
{
    x400_p1_limits lim;
    x400_p1_apdu a, b;
    x400_diag d;
    uint8_t *e1 = NULL, *e2 = NULL;
    size_t l1, l2;
    x400_p1_limits_init(&lim);
    lim.max_recipients = 64;
    lim.max_trace = 16;
    lim.max_extensions = 16;
    lim.max_depth = 48;
    lim.max_elements = 1u << 16;
    if (x400_p1_decode(p, n, &lim, NULL, &a, &d) != X400_OK) return;
    if (x400_p1_encode_alloc(&a, NULL, &e1, &l1, &d) == X400_OK) {
        if (x400_p1_decode(e1, l1, NULL, NULL, &b, &d) != X400_OK) abort();
        if (x400_p1_encode_alloc(&b, NULL, &e2, &l2, &d) != X400_OK) abort();
        if (l1 != l2 || memcmp(e1, e2, l1) != 0) abort();
        free(e2);
        x400_p1_apdu_free(&b);
        free(e1);
    }
    x400_gdi g;
    memset(&g, 0, sizeof g);
    strcpy(g.country, "GB");
    (void)x400_p1_loop_check(&a, &g, "fuzz");
    x400_p1_apdu_free(&a);
}

static void bind(const uint8_t *p, size_t n, x400_mode mode, int expect)
{
    x400_p1_bind b, c;
    x400_diag d;
    uint8_t buf[1024];
    size_t len;
    if (x400_p1_bind_decode(p, n, mode, expect, &b, &d) != X400_OK) return;
    int be;
    x400_p1_peer peer = { "MTA-A", (const uint8_t *)"pw", 2, 1 };
    x400_p1_peer_table tab = { &peer, 1 };
    if (b.pdu == X400_P1_BIND_ARGUMENT) (void)x400_p1_cred_check_default(&tab, &b, &be, &d);
    if (x400_p1_bind_encode(&b, mode, buf, sizeof buf, &len, &d) != X400_OK) return;
    if (x400_p1_bind_decode(buf, len, mode, (int)b.pdu, &c, &d) != X400_OK) abort();
    if (c.pdu != b.pdu || c.authenticated != b.authenticated || strcmp(c.name, b.name) != 0 ||
        c.error != b.error || c.password_len != b.password_len ||
        memcmp(c.password, b.password, b.password_len) != 0)
        abort();
}

static void text(const uint8_t *p, size_t n)
{
    x400_orname a, b;
    char t[X400_ORNAME_TEXT_MAX];
    if (x400_orname_parse((const char *)p, n, &a, NULL) != X400_OK) return;
    int len = x400_orname_format(&a, t, sizeof t);
    if (len < 0) abort();
    if (x400_orname_parse(t, (size_t)len, &b, NULL) != X400_OK) abort();
    if (!x400_orname_equal(&a, &b)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    switch (data[0] % 4) {
    case 0: apdu(data + 1, size - 1); break;
    case 1: bind(data + 1, size - 1, X400_MODE_NORMAL, -1); break;
    case 2:
        if (size >= 2) bind(data + 2, size - 2, X400_MODE_X410, data[1] % 3);
        break;
    default: text(data + 1, size - 1); break;
    }
    return 0;
}
