/* Real-peer test vectors: loader and tshark envelope comparison (see
 * interop.h and test/interop/README.md). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interop.h"
#include "x400t.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int x400t_vec_load(x400t_wire *w, const char *name, char *err, size_t errlen)
{
    char path[1024];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/test/interop/%s.txt", x400t_srcdir(), name);
    f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    x400t_wire_init(w);
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        if ((line[0] != '<' && line[0] != '>') || line[1] != ' ' || (n - 2) % 2 != 0 || n < 10) {
            snprintf(err, errlen, "%s:%u: not '< HEX' or '> HEX'", path, lineno);
            goto fail;
        }
        size_t len = (size_t)(n - 2) / 2;
        uint8_t *b = malloc(len);
        if (!b) abort();
        for (size_t i = 0; i < len; i++) {
            int hi = hexval(line[2 + 2 * i]), lo = hexval(line[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                free(b);
                snprintf(err, errlen, "%s:%u: bad hex digit", path, lineno);
                goto fail;
            }
            b[i] = (uint8_t)(hi << 4 | lo);
        }
        if (b[0] != 3 || ((size_t)b[2] << 8 | b[3]) != len) {
            free(b);
            snprintf(err, errlen, "%s:%u: not exactly one TPKT", path, lineno);
            goto fail;
        }
        x400t_wire_add(w, line[0] == '<', b, len);
        free(b);
    }
    free(line);
    fclose(f);
    if (w->n == 0) {
        snprintf(err, errlen, "%s: no TPKT", path);
        return -1;
    }
    return 0;
fail:
    free(line);
    fclose(f);
    x400t_wire_free(w);
    return -1;
}

int x400t_interop_tsdus(const char *name, x400t_tsdu_fn fn, void *user, char *err, size_t errlen)
{
    x400t_wire w;
    uint8_t *dt[2] = { NULL, NULL };
    size_t dlen[2] = { 0, 0 }, n_tsdu = 0;
    int rc = 0;
    if (x400t_vec_load(&w, name, err, errlen) < 0) return -1;
    for (size_t r = 0; r < w.n && rc == 0; r++) {
        const uint8_t *tp = w.rec[r].p;
        size_t n = w.rec[r].len;
        int k = w.rec[r].from_initiator;
        uint8_t *b;
        /* TPKT (4) + COTP LI; a DT (0xF0) carries TSDU octets after it */
        if (n < 7 || (tp[5] & 0xF0) != 0xF0 || (size_t)tp[4] + 5 > n) continue;
        b = realloc(dt[k], dlen[k] + n);
        if (!b) abort();
        dt[k] = b;
        memcpy(dt[k] + dlen[k], tp + 5 + tp[4], n - 5 - tp[4]);
        dlen[k] += n - 5 - tp[4];
        if (!(tp[6] & 0x80)) continue;      /* EOT: the TSDU is complete */
        n_tsdu++;
        if (fn(user, k, dt[k], dlen[k]) < 0) {
            snprintf(err, errlen, "%s: stopped at TSDU %zu", name, n_tsdu);
            rc = -1;
        }
        dlen[k] = 0;
    }
    free(dt[0]);
    free(dt[1]);
    x400t_wire_free(&w);
    return rc < 0 ? -1 : (int)n_tsdu;
}

/* The fields compared, in this order (tshark 4.0 names, packet-p1). */
enum {
    F_KIND, F_LOCAL, F_COUNTRY, F_PRINTABLE, F_SURNAME, F_CONTENT_ID, F_CT, F_PMI,
    F_CLEN, F_NTRACE, F_ARRIVAL, F_NEXT, F_NRECIP, F_OSRN, F_PRI, F_RTYPE, F_REASON,
    F_DIAG, F_SUPPL, F_NSUBJTRACE, F_CONTENT, F_COUNT
};
static const char *const field_name[F_COUNT] = {
    "p1.MTS_APDU", "p1.local_identifier", "p1.iso_3166_alpha2_code", "p1.printable",
    "p1.surname", "p1.content_identifier", "p1.built_in", "p1.per_message_indicators",
    "p1.content_length", "p1.trace_information", "p1.arrival_time", "p1.extensions",
    "p1.per_recipient_fields", "p1.originally_specified_recipient_number",
    "p1.per_recipient_indicators", "p1.report_type", "p1.non_delivery_reason_code",
    "p1.non_delivery_diagnostic_code", "p1.supplementary_information",
    "p1.subject_intermediate_trace_information", "p1.content",
};
/* 1: x400p1's list must equal tshark's; 0: be a prefix of it (tshark goes
 * on into the IPM content and into extensions it decodes). */
static const int field_exact[F_COUNT] = {
    [F_KIND] = 1, [F_CONTENT_ID] = 0, [F_PMI] = 1, [F_CLEN] = 1, [F_RTYPE] = 1,
    [F_REASON] = 1, [F_DIAG] = 1, [F_SUPPL] = 1, [F_CONTENT] = 1,
};

/* tshark's failure filter (wire.h, x400t_wire_check) */
#define FAILURE "(_ws.malformed || _ws.expert.severity >= 0x00600000 || (tpkt && !cotp))"

int x400t_interop_tshark(const x400t_wire *w, const char *name, int we_initiate,
                         const char *tshark_limit, char **env, char *err, size_t errlen)
{
    char fields[4096];
    /* support_wire.c puts the initiator at 192.0.2.1 (as text2pcap did) */
    const char *ours = we_initiate ? "192.0.2.1" : "192.0.2.2";
    const char *peer = we_initiate ? "192.0.2.2" : "192.0.2.1";
    size_t off = (size_t)snprintf(fields, sizeof fields, "-e ip.src -e _ws.expert.message");
    for (int i = 0; i < F_COUNT; i++)
        off += (size_t)snprintf(fields + off, sizeof fields - off, " -e %s", field_name[i]);
    snprintf(fields + off, sizeof fields - off,
             " -E 'aggregator=;' -Y '(ip.src==%s && p1.MTS_APDU) || (ip.src==%s && " FAILURE ")'",
             peer, ours);
    if (env) *env = NULL;
    if (errlen) err[0] = '\0';
    char *out = x400t_wire_fields(w, name, NULL, fields);
    if (!out) {
        snprintf(err, errlen, "tshark failed to run on %s", name);
        return -1;
    }
    int rc = 0;
    size_t elen = 0;
    for (char *line = out, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *tab = strchr(line, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
        if (!tab2) continue;
        *tab = '\0';
        if (strcmp(line, ours) == 0) {
            *tab2 = '\0';
            /* a known tshark limitation (not a fault of ours) does not count */
            if (tshark_limit && strstr(tab + 1, tshark_limit)) continue;
            if (rc == 0)
                elen = (size_t)snprintf(err, errlen, "tshark flagged our frames in %s.pcapng:", name);
            if (elen < errlen)
                elen += (size_t)snprintf(err + elen, errlen - elen, " [%s]", tab + 1);
            rc = -1;
        } else if (env && !*env) {
            *env = strdup(tab2 + 1);     /* the first APDU the peer sent */
        }
    }
    free(out);
    return rc;
}

char *x400t_env_tshark(const x400t_wire *w, const char *name)
{
    char *env = NULL, err[64];
    (void)x400t_interop_tshark(w, name, 0, NULL, &env, err, sizeof err);
    return env;
}


char *x400t_env_tshark_apdu(const uint8_t *apdu, size_t len, const char *name)
{
    static const uint8_t ext_head[] = { 0x28, 0x80, 0x02, 0x01, 0x05, 0xa0, 0x80 };
    x400t_wire t;
    char err[512];
    char *line = NULL;
    if (x400t_vec_load(&t, "pp-pp-1988-twa", err, sizeof err) != 0) return NULL;
    for (size_t i = 0; i < t.n && !line; i++) {
        struct x400t_wire_rec *r = &t.rec[i];
        /* P-DATA: ... OCTET STRING (04 82 hi lo) { EXTERNAL (28 80 ...) } */
        for (size_t o = 7; o + 4 + sizeof ext_head <= r->len; o++) {
            if (r->p[o] != 0x04 || r->p[o + 1] != 0x82 ||
                memcmp(r->p + o + 4, ext_head, sizeof ext_head) != 0)
                continue;
            size_t old = (size_t)r->p[o + 2] << 8 | r->p[o + 3];
            size_t nl = sizeof ext_head + len + 4, tail = r->len - (o + 4 + old);
            size_t total = o + 4 + nl + tail;
            if (o + 4 + old > r->len || nl > 0xffff || total > 0xffff) break;
            uint8_t *b = malloc(total);
            if (!b) abort();
            memcpy(b, r->p, o + 2);
            b[o + 2] = (uint8_t)(nl >> 8);
            b[o + 3] = (uint8_t)nl;
            memcpy(b + o + 4, ext_head, sizeof ext_head);
            memcpy(b + o + 4 + sizeof ext_head, apdu, len);
            memset(b + o + 4 + sizeof ext_head + len, 0, 4);   /* end-of-contents x2 */
            memcpy(b + o + 4 + nl, r->p + o + 4 + old, tail);
            b[2] = (uint8_t)(total >> 8);
            b[3] = (uint8_t)total;
            free(r->p);
            r->p = b;
            r->len = total;
            line = x400t_env_tshark(&t, name);
            break;
        }
    }
    x400t_wire_free(&t);
    return line;
}

/* One field: items joined by ';'. */
typedef struct { char *s; size_t len, cap; } sbuf;

static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[2048];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if (b->len + (size_t)n + 2 > b->cap) {
        b->cap = (b->len + (size_t)n + 2) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s) abort();
    }
    if (b->len) b->s[b->len++] = ';';
    memcpy(b->s + b->len, tmp, (size_t)n + 1);
    b->len += (size_t)n;
}

static void sb_time(sbuf *b, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[64];
    gmtime_r(&tt, &tm);
    /* tshark's spelling of a UTCTime: two-digit year */
    snprintf(s, sizeof s, "%02d-%02d-%02d %02d:%02d:%02d (UTC)", tm.tm_year % 100, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    sb_add(b, "%s", s);
}

/* A BIT STRING's first octets in hex, trailing zero octets dropped (tshark
 * shows the octets as sent, which may carry a zero second octet). */
static void sb_bits(sbuf *b, uint32_t bits)
{
    char s[16] = "";
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t o = 0;
        for (int j = 0; j < 8; j++)
            if (bits & (1u << (i * 8 + j))) o |= (uint8_t)(0x80 >> j);
        n += (size_t)snprintf(s + n, sizeof s - n, "%02x", o);
    }
    while (n > 2 && s[n - 1] == '0' && s[n - 2] == '0') s[n -= 2] = '\0';
    sb_add(b, "%s", s);
}

static void sb_gdi(sbuf *f, const x400_gdi *g)
{
    if (isalpha((unsigned char)g->country[0])) sb_add(&f[F_COUNTRY], "%s", g->country);
    if (!g->admd_numeric) {
        sb_add(&f[F_PRINTABLE], "%s", g->admd);
        if (!g->prmd_numeric && g->prmd[0]) sb_add(&f[F_PRINTABLE], "%s", g->prmd);
    }
}

static void sb_surname(sbuf *f, const x400_orname *n)
{
    if (n->pn.surname[0]) sb_add(&f[F_SURNAME], "%s", n->pn.surname);
}

static void sb_hex(sbuf *b, const uint8_t *p, size_t len)
{
    char *s = malloc(len * 2 + 1);
    if (!s) abort();
    for (size_t i = 0; i < len; i++) sprintf(s + 2 * i, "%02x", p[i]);
    s[len * 2] = '\0';
    if (b->len + len * 2 + 2 > b->cap) {
        b->cap = b->len + len * 2 + 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s) abort();
    }
    if (b->len) b->s[b->len++] = ';';
    memcpy(b->s + b->len, s, len * 2 + 1);
    b->len += len * 2;
    free(s);
}

static void our_fields(const x400_p1_apdu *a, sbuf *f)
{
    sb_add(&f[F_KIND], "%d", (int)a->kind);
    if (a->kind == X400_P1_REPORT) {
        const x400_p1_report *r = &a->report;
        sb_add(&f[F_LOCAL], "%s", r->id.local);
        sb_add(&f[F_LOCAL], "%s", r->subject.local);
        sb_gdi(f, &r->id.gdi);
        sb_surname(f, &r->destination);
        for (unsigned i = 0; i < r->n_recip; i++) {
            sb_surname(f, &r->recip[i].actual);
            if (r->recip[i].has_intended) sb_surname(f, &r->recip[i].intended);
        }
        if (r->content_id[0]) sb_add(&f[F_CONTENT_ID], "%s", r->content_id);
        if (r->has_content_type && r->content_type.builtin >= 0)
            sb_add(&f[F_CT], "%d", r->content_type.builtin);
        sb_add(&f[F_NTRACE], "%u", r->n_trace);
        for (unsigned i = 0; i < r->n_trace; i++) sb_time(&f[F_ARRIVAL], r->trace[i].arrival);
        /* internal-trace-information is one more ExtensionField (standard 38) */
        if (r->n_ext || r->n_itrace) sb_add(&f[F_NEXT], "%u", r->n_ext + (r->n_itrace > 0));
        sb_add(&f[F_NRECIP], "%u", r->n_recip);
        for (unsigned i = 0; i < r->n_recip; i++) {
            const x400_p1_report_recipient *p = &r->recip[i];
            sb_add(&f[F_OSRN], "%u", p->osrn);
            sb_bits(&f[F_PRI], p->indicators);
            sb_add(&f[F_RTYPE], "%d", p->delivered ? 0 : 1);
            if (!p->delivered) {
                sb_add(&f[F_REASON], "%d", p->reason);
                if (p->diagnostic >= 0) sb_add(&f[F_DIAG], "%d", p->diagnostic);
            }
            if (p->supplementary[0]) sb_add(&f[F_SUPPL], "%s", p->supplementary);
        }
        if (r->has_subject_trace) sb_add(&f[F_NSUBJTRACE], "%u", r->n_subject_trace);
        return;
    }
    const x400_p1_envelope *e = &a->env;
    sb_add(&f[F_LOCAL], "%s", e->id.local);
    sb_gdi(f, &e->id.gdi);
    sb_surname(f, &e->originator);
    for (unsigned i = 0; i < e->n_recip; i++) sb_surname(f, &e->recip[i].name);
    if (e->content_id[0]) sb_add(&f[F_CONTENT_ID], "%s", e->content_id);
    if (e->content_type.builtin >= 0) sb_add(&f[F_CT], "%d", e->content_type.builtin);
    if (e->per_message_indicators) sb_bits(&f[F_PMI], e->per_message_indicators);
    if (a->kind == X400_P1_PROBE && e->content_length >= 0)
        sb_add(&f[F_CLEN], "%lld", (long long)e->content_length);
    sb_add(&f[F_NTRACE], "%u", e->n_trace);
    for (unsigned i = 0; i < e->n_trace; i++) sb_time(&f[F_ARRIVAL], e->trace[i].arrival);
    if (e->n_ext || e->n_itrace) sb_add(&f[F_NEXT], "%u", e->n_ext + (e->n_itrace > 0));
    sb_add(&f[F_NRECIP], "%u", e->n_recip);
    for (unsigned i = 0; i < e->n_recip; i++) {
        sb_add(&f[F_OSRN], "%u", e->recip[i].osrn);
        sb_bits(&f[F_PRI], e->recip[i].indicators);
    }
    if (a->kind == X400_P1_MESSAGE) sb_hex(&f[F_CONTENT], a->content.p, a->content.len);
}

static void free_fields(sbuf *f)
{
    for (int i = 0; i < F_COUNT; i++) free(f[i].s);
}

/* Normalise one tshark item to x400p1's spelling: bytes without ':'
 * separators, BIT STRINGs without trailing zero octets. */
static void normalise(int field, char *item)
{
    char *d = item;
    for (char *s = item; *s; s++)
        if (*s != ':' || (field != F_PMI && field != F_PRI && field != F_CONTENT)) *d++ = *s;
    *d = '\0';
    if (field == F_PMI || field == F_PRI) {
        size_t n = strlen(item);
        while (n > 2 && item[n - 1] == '0' && item[n - 2] == '0') item[n -= 2] = '\0';
    }
}

int x400t_env_compare(const x400_p1_apdu *a, const char *tshark_line, char *err, size_t errlen)
{
    sbuf f[F_COUNT];
    int rc = 0;
    char *copy = strdup(tshark_line), *save = NULL, *col = copy;
    memset(f, 0, sizeof f);
    our_fields(a, f);
    for (int i = 0; i < F_COUNT && rc == 0; i++) {
        char *end = strchr(col, '\t');
        if (end) *end = '\0';
        else if (i < F_COUNT - 1) {
            snprintf(err, errlen, "tshark line has %d fields", i + 1);
            rc = -1;
            break;
        }
        /* walk both lists */
        char *ours = f[i].s ? strdup(f[i].s) : strdup(""), *so = NULL;
        char *o = strtok_r(ours, ";", &so);
        char *t = strtok_r(col, ";", &save);
        unsigned k = 0;
        for (; o; o = strtok_r(NULL, ";", &so), t = strtok_r(NULL, ";", &save), k++) {
            if (!t) {
                snprintf(err, errlen, "%s item %u: x400p1 has '%.200s', tshark nothing",
                         field_name[i], k, o);
                rc = -1;
                break;
            }
            normalise(i, t);
            if (strcmp(o, t) != 0) {
                snprintf(err, errlen, "%s item %u: x400p1 '%.300s', tshark '%.300s'",
                         field_name[i], k, o, t);
                rc = -1;
                break;
            }
        }
        if (rc == 0 && field_exact[i] && t) {
            snprintf(err, errlen, "%s item %u: tshark has '%.200s', x400p1 nothing",
                     field_name[i], k, t);
            rc = -1;
        }
        free(ours);
        col = end ? end + 1 : col + strlen(col);
        save = NULL;
    }
    free(copy);
    free_fields(f);
    return rc;
}
