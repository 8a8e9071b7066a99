/* Loading the PP/ISODE conversations of test/interop/ (test/ppvec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop.h"
#include "ppvec.h"
#include "x400t.h"

/* One parser for the vector files: x400t_vec_load (support_interop.c);
 * this keeps its records as a plain array. */
void x400t_ppvec_load(x400t_ppvec *v, const char *name)
{
    char base[256], err[1200];
    size_t bl = strlen(name);
    x400t_wire w;
    memset(v, 0, sizeof *v);
    if (bl > 4 && !strcmp(name + bl - 4, ".txt")) bl -= 4;
    ck_assert(bl < sizeof base);
    memcpy(base, name, bl);
    base[bl] = 0;
    ck_assert_msg(x400t_vec_load(&w, base, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(w.n > 0, "%s holds no TPKT", name);
    v->t = calloc(w.n, sizeof *v->t);
    ck_assert_ptr_nonnull(v->t);
    for (size_t k = 0; k < w.n; k++) {
        v->t[k].from_initiator = w.rec[k].from_initiator;
        v->t[k].len = w.rec[k].len;
        v->t[k].p = malloc(w.rec[k].len);
        ck_assert_ptr_nonnull(v->t[k].p);
        memcpy(v->t[k].p, w.rec[k].p, w.rec[k].len);
    }
    v->n = w.n;
    x400t_wire_free(&w);
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
