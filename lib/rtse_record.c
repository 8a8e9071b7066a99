/*
 * The RTSE receiver's recovery record (X.228 recovery across a restart of
 * the receiving process): built at every secured checkpoint and handed to
 * the user (X400I_RTSE_PERSIST), parsed back by x400i_rtse_restore() and
 * x400_rtse_record_info_get().  Layout below; doc/rtse.md ("Recovery").
 */
#include <string.h>

#include "rtse_int.h"

static const uint8_t rec_magic[4] = { 'X', 'R', 'T', 'R' };

typedef struct wr { uint8_t *p; size_t n, cap; int bad; } wr;
static void w_bytes(wr *w, const void *p, size_t n)
{
    if (w->bad || w->cap - w->n < n) { w->bad = 1; return; }
    memcpy(w->p + w->n, p, n);
    w->n += n;
}
static void w_u(wr *w, uint64_t v, int octets)
{
    uint8_t b[8];
    for (int i = 0; i < octets; i++) b[i] = (uint8_t)(v >> (8 * (octets - 1 - i)));
    w_bytes(w, b, (size_t)octets);
}
static void w_str(wr *w, const uint8_t *p, size_t n)
{
    w_u(w, n, 1);
    w_bytes(w, p, n);
}
static int r_u(x400i_rd *rd, uint64_t *v, int octets)
{
    const uint8_t *b;
    if (!x400i_rd_bytes(rd, (size_t)octets, &b)) return -1;
    *v = 0;
    for (int i = 0; i < octets; i++) *v = *v << 8 | b[i];
    return 0;
}
static int r_str(x400i_rd *rd, uint8_t *dst, size_t cap, size_t *len)
{
    uint64_t n;
    const uint8_t *b;
    if (r_u(rd, &n, 1) < 0 || n > cap || !x400i_rd_bytes(rd, (size_t)n, &b)) return -1;
    memcpy(dst, b, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* Record layout (big-endian): magic "XRTR", version, state, saved_ms(8),
 * expires_ms(8), activity id (len + octets), calling/common/additional
 * reference (len + octets each), secured APDV offset(8), APDV total(8),
 * unwrap {raw, hdr_done, hdr_len(2), content_len(8), after, after_seen,
 * hold_need, hold_len, hold[4], delivered(8)}, ring count(1) + entries
 * {serial(4), offset(8)}, CRC-32 of everything before. */
static size_t rec_build(const x400i_rtse *r, uint8_t *buf, size_t cap)
{
    wr w = { buf, 0, cap, 0 };
    const rx_state *x = &r->rx;
    const unwrap *u = &x->uw;
    unsigned first = x->nring > r->window + 1 ? x->nring - (r->window + 1) : 0;
    w_bytes(&w, rec_magic, 4);
    w_u(&w, X400_RTSE_RECORD_VERSION, 1);
    w_u(&w, x->completed && !x->user_holds ? X400_RTSE_RECORD_COMPLETED : X400_RTSE_RECORD_RECEIVING, 1);
    w_u(&w, r->now, 8);
    w_u(&w, r->now + (uint64_t)r->cfg.recovery_timeout_s * 1000u, 8);
    w_str(&w, x->id, x->id_len);
    w_str(&w, r->cur_ref.calling, r->cur_ref.calling_len);
    w_str(&w, r->cur_ref.common, r->cur_ref.common_len);
    w_str(&w, r->cur_ref.add, r->cur_ref.add_len);
    w_u(&w, x->secured, 8);
    w_u(&w, x->total, 8);
    w_u(&w, (uint64_t)u->raw, 1);
    w_u(&w, (uint64_t)u->hdr_done, 1);
    w_u(&w, u->hdr_len, 2);
    w_u(&w, u->content_len, 8);
    w_u(&w, u->after, 1);
    w_u(&w, u->after_seen, 1);
    w_u(&w, u->hold_need, 1);
    w_u(&w, u->hold_len, 1);
    w_bytes(&w, u->hold, 4);
    w_u(&w, u->delivered, 8);
    w_u(&w, x->nring - first, 1);
    for (unsigned i = first; i < x->nring; i++) {
        w_u(&w, x->ring[i].serial, 4);
        w_u(&w, x->ring[i].off, 8);
    }
    if (w.bad) return 0;
    w_u(&w, x400i_crc32(buf, w.n), 4);
    return w.bad ? 0 : w.n;
}

/* Parse a record into rx (and ref); *expires. */
static int rec_parse(const uint8_t *p, size_t n, rx_state *x, x400i_rtse_ref *ref, x400_rtse_record_info *info)
{
    x400i_rd rd;
    uint64_t v, ver, st, saved, exp, cnt;
    rx_state tmp;
    x400i_rtse_ref rf;
    unwrap *u = &tmp.uw;
    if (!p) return X400_ERR_INVALID_ARG;
    if (n < 9 || n > X400_RTSE_RECORD_MAX || memcmp(p, rec_magic, 4) != 0) return X400_ERR_CORRUPT;
    x400i_rd_init(&rd, p, n);
    {
        uint32_t want = (uint32_t)p[n - 4] << 24 | (uint32_t)p[n - 3] << 16 | (uint32_t)p[n - 2] << 8 | p[n - 1];
        if (x400i_crc32(p, n - 4) != want) return X400_ERR_CORRUPT;
    }
    rd.len = n - 4;
    rd.off = 4;
    memset(&tmp, 0, sizeof tmp);
    memset(&rf, 0, sizeof rf);
    if (r_u(&rd, &ver, 1) < 0) return X400_ERR_CORRUPT;
    if (ver != X400_RTSE_RECORD_VERSION) return X400_ERR_UNSUPPORTED;
    if (r_u(&rd, &st, 1) < 0 || (st != X400_RTSE_RECORD_RECEIVING && st != X400_RTSE_RECORD_COMPLETED) ||
        r_u(&rd, &saved, 8) < 0 || r_u(&rd, &exp, 8) < 0 || r_str(&rd, tmp.id, sizeof tmp.id, &tmp.id_len) < 0 ||
        r_str(&rd, rf.calling, sizeof rf.calling, &rf.calling_len) < 0 ||
        r_str(&rd, rf.common, sizeof rf.common, &rf.common_len) < 0 ||
        r_str(&rd, rf.add, sizeof rf.add, &rf.add_len) < 0 || r_u(&rd, &tmp.secured, 8) < 0 ||
        r_u(&rd, &tmp.total, 8) < 0)
        return X400_ERR_CORRUPT;
    if (r_u(&rd, &v, 1) < 0) return X400_ERR_CORRUPT;
    u->raw = (int)v;
    if (r_u(&rd, &v, 1) < 0) return X400_ERR_CORRUPT;
    u->hdr_done = (int)v;
    if (r_u(&rd, &v, 2) < 0 || v > HDR_MAX) return X400_ERR_CORRUPT;
    u->hdr_len = (size_t)v;
    if (r_u(&rd, &u->content_len, 8) < 0) return X400_ERR_CORRUPT;
    if (r_u(&rd, &v, 1) < 0 || v > 2) return X400_ERR_CORRUPT;
    u->after = (unsigned)v;
    if (r_u(&rd, &v, 1) < 0 || v > u->after) return X400_ERR_CORRUPT;
    u->after_seen = (unsigned)v;
    if (r_u(&rd, &v, 1) < 0 || v > 4) return X400_ERR_CORRUPT;
    u->hold_need = (unsigned)v;
    if (r_u(&rd, &v, 1) < 0 || v > u->hold_need) return X400_ERR_CORRUPT;
    u->hold_len = (unsigned)v;
    {
        const uint8_t *h;
        if (!x400i_rd_bytes(&rd, 4, &h)) return X400_ERR_CORRUPT;
        memcpy(u->hold, h, 4);
    }
    if (r_u(&rd, &u->delivered, 8) < 0 || r_u(&rd, &cnt, 1) < 0 || cnt < 1 || cnt > RING_MAX)
        return X400_ERR_CORRUPT;
    for (unsigned i = 0; i < cnt; i++) {
        uint64_t s, o;
        if (r_u(&rd, &s, 4) < 0 || r_u(&rd, &o, 8) < 0 || o > tmp.secured ||
            (i > 0 && s <= tmp.ring[i - 1].serial))
            return X400_ERR_CORRUPT;
        tmp.ring[i].serial = (uint32_t)s;
        tmp.ring[i].off = o;
    }
    tmp.nring = (unsigned)cnt;
    if (x400i_rd_left(&rd) != 0 || tmp.id_len == 0 || (!u->hdr_done && u->hdr_len != 0)) return X400_ERR_CORRUPT;
    tmp.active = 1;
    tmp.completed = st == X400_RTSE_RECORD_COMPLETED;
    tmp.cur = tmp.secured;
    tmp.expires = exp;
    if (info) {
        memset(info, 0, sizeof *info);
        info->version = (int)ver;
        info->state = (x400_rtse_record_state)st;
        memcpy(info->activity_id, tmp.id, tmp.id_len);
        info->activity_id_len = tmp.id_len;
        memcpy(info->calling_ref, rf.calling, rf.calling_len);
        info->calling_ref_len = rf.calling_len;
        memcpy(info->common_ref, rf.common, rf.common_len);
        info->common_ref_len = rf.common_len;
        memcpy(info->add_ref, rf.add, rf.add_len);
        info->add_ref_len = rf.add_len;
        info->delivered = u->delivered;
        info->last_serial = tmp.ring[tmp.nring - 1].serial;
        info->saved_ms = saved;
        info->expires_ms = exp;
    }
    if (x) {
        x400i_buf keep = x->buf;
        *x = tmp;
        x->buf = keep;
    }
    if (ref) *ref = rf;
    return X400_OK;
}

int x400_rtse_record_info_get(const uint8_t *rec, size_t len, x400_rtse_record_info *info)
{
    return rec_parse(rec, len, NULL, NULL, info);
}

void x400i_rt_persist(x400i_rtse *r)
{
    uint8_t buf[X400_RTSE_RECORD_MAX];
    x400i_rtse_ind ind;
    size_t n = rec_build(r, buf, sizeof buf);
    if (!n) return; /* cannot happen: the layout is bounded */
    x400i_rt_ind_init(&ind, X400I_RTSE_PERSIST);
    ind.record = buf;
    ind.record_len = n;
    x400i_rt_indicate(r, &ind);
}

void x400i_rt_persist_erase(x400i_rtse *r)
{
    x400i_rtse_ind ind;
    x400i_rt_ind_init(&ind, X400I_RTSE_PERSIST);
    x400i_rt_indicate(r, &ind);
}

int x400i_rtse_restore(x400i_rtse *r, const uint8_t *rec, size_t len)
{
    int rc;
    x400_rtse_record_info info;
    if (!r || !rec) return X400_ERR_INVALID_ARG;
    if (r->state != X400I_RTSE_ST_IDLE || r->initiator || r->restored)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0, "restore only into an idle responder");
    if ((rc = rec_parse(rec, len, NULL, NULL, &info)) < 0)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, rc, 0, "recovery record rejected (%s)", x400_strerror(rc));
    if (info.expires_ms <= r->now)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_TIMEOUT, 0, "recovery record expired");
    (void)rec_parse(rec, len, &r->rx, &r->lost_ref, NULL);
    r->x410 = r->rx.uw.raw;   /* the mode the interrupted transfer ran */
    r->cur_ref = r->lost_ref;
    r->have_lost_ref = 1;
    r->restored = 1;
    r->rec_deadline = info.expires_ms;
    return X400_OK;
}

