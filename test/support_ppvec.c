/* Loading the PP/ISODE conversations of test/interop/ (test/ppvec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ppvec.h"
#include "x400t.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void x400t_ppvec_load(x400t_ppvec *v, const char *name)
{
    char path[1024];
    FILE *f;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    memset(v, 0, sizeof *v);
    snprintf(path, sizeof path, "%s/test/interop/%s", x400t_srcdir(), name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t k = 0, hex, len;
        uint8_t *p;
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0 || line[0] == '#') continue;
        ck_assert_msg((line[0] == '<' || line[0] == '>') && line[1] == ' ', "%s:%zu: not '< ' or '> '", path,
                      lineno);
        hex = (size_t)got - 2;
        ck_assert_msg(hex % 2 == 0 && hex >= 14, "%s:%zu: odd or short hex", path, lineno);
        len = hex / 2;
        p = malloc(len);
        ck_assert_ptr_nonnull(p);
        for (k = 0; k < len; k++) {
            int hi = hexval(line[2 + 2 * k]), lo = hexval(line[3 + 2 * k]);
            ck_assert_msg(hi >= 0 && lo >= 0, "%s:%zu: not hex", path, lineno);
            p[k] = (uint8_t)(hi << 4 | lo);
        }
        ck_assert_msg(p[0] == 3 && ((size_t)p[2] << 8 | p[3]) == len, "%s:%zu: not one TPKT", path, lineno);
        v->t = realloc(v->t, (v->n + 1) * sizeof *v->t);
        ck_assert_ptr_nonnull(v->t);
        v->t[v->n].from_initiator = line[0] == '<';
        v->t[v->n].p = p;
        v->t[v->n].len = len;
        v->n++;
    }
    free(line);
    fclose(f);
    ck_assert_msg(v->n > 0, "%s holds no TPKT", path);
}

void x400t_ppvec_free(x400t_ppvec *v)
{
    for (size_t k = 0; k < v->n; k++) free(v->t[k].p);
    free(v->t);
    memset(v, 0, sizeof *v);
}

/* One SPDU length field (X.225 8.2.5): 1 octet, or 0xFF + 2 octets. */
static int sp_len(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
    if (*off >= n) return -1;
    if (p[*off] != 0xff) {
        *len = p[(*off)++];
        return 0;
    }
    if (n - *off < 3) return -1;
    *len = (size_t)p[*off + 1] << 8 | p[*off + 2];
    *off += 3;
    return 0;
}

const uint8_t *x400t_tpkt_user_data(const uint8_t *p, size_t n, size_t *len)
{
    size_t off = 7, si, sl, body;
    if (n < 9 || p[5] != 0xf0) return NULL; /* TPKT + COTP DT (LI 2) */
    for (;;) {
        si = off + 1;
        if (sp_len(p, n, &si, &sl) < 0 || sl > n - si) return NULL;
        body = si + sl;
        /* basic concatenation: an empty GT / PT in front (X.225 6.3.7) */
        if (off == 7 && sl == 0 && (p[off] == 0x01 || p[off] == 0x02) && body < n) {
            off = body;
            continue;
        }
        break;
    }
    for (size_t q = si; q < body;) {
        size_t pl, pq = q + 1;
        if (sp_len(p, n, &pq, &pl) < 0 || pl > body - pq) return NULL;
        if (p[q] == 0xc1 || p[q] == 0xc2) {
            *len = pl;
            return p + pq;
        }
        q = pq + pl;
    }
    if (body >= n) return NULL;
    *len = n - body; /* DT: the user data follows the SPDU */
    return p + body;
}

const uint8_t *x400t_ppvec_user_data(const x400t_ppvec *v, size_t k, size_t *len)
{
    return k < v->n ? x400t_tpkt_user_data(v->t[k].p, v->t[k].len, len) : NULL;
}
