/*
 * X.228 RTSE transfer: the sender (one activity per APDU, checkpoints with
 * P-SYNC-MINOR, the window, P-ACTIVITY-RESUME after a recovery) and the
 * receiver (the checkpoint buffer and ring, APDV unwrapping, activity
 * start/resume/end/interrupt/discard).  The actions here are the cells of
 * the table in lib/rtse.c; each names its outcome (x400i_rt_enter) and the
 * table gives the next state.  doc/rtse.md ("Transfer").
 */
#include <string.h>

#include "rtse_int.h"

/* ---- sender ----------------------------------------------------------------- */
static void new_activity_id(x400i_rtse *r, uint8_t id[6], size_t *len)
{
    /* the octets of a small INTEGER, as production MTAs do */
    uint32_t v = ++r->next_act;
    size_t n = v < 0x80 ? 1 : v < 0x8000 ? 2 : v < 0x800000 ? 3 : 4;
    for (size_t i = 0; i < n; i++) id[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    *len = n;
}

static size_t build_apdv_header(const x400i_rtse *r, uint8_t *h, uint64_t content)
{
    /* EXTERNAL { indirect-reference ctx, encoding single-ASN1-type [0] } */
    uint8_t inner[4 + X400I_BER_LEN_MAX];
    size_t n = 0, in = 0;
    if (r->x410) return 0;
    inner[in++] = 0x02;
    inner[in++] = 0x01;
    inner[in++] = (uint8_t)r->cfg.transfer_context_id;
    inner[in++] = 0xa0;
    in += x400i_ber_put_len(inner + in, (size_t)content);
    h[n++] = 0x28;
    n += x400i_ber_put_len(h + n, (size_t)(in + content));
    memcpy(h + n, inner, in);
    return n + in;
}

static int send_piece(x400i_rtse *r, uint64_t from, uint64_t to)
{
    tx_state *t = &r->tx;
    uint8_t th[1 + X400I_BER_LEN_MAX];
    size_t thn = 0, need;
    int rc;
    if (!r->x410) {
        /* normal mode: RTTRapdu ::= OCTET STRING; X.410-1984 mode: the APDV
         * octets themselves are the session user data (X.410 (1984), as
         * ISODE's RTS over session sends them) */
        th[thn++] = 0x04;
        thn += x400i_ber_put_len(th + thn, (size_t)(to - from));
    }
    need = thn + (size_t)(to - from);
    x400i_buf_reset(&r->out);
    if ((rc = x400i_buf_reserve(&r->out, need)) < 0)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, rc, 0, "no memory for an RTTR of %zu octets", need);
    memcpy(r->out.p, th, thn);
    r->out.len = thn;
    if (from < t->hdr_len) {
        size_t k = (size_t)(min64(to, t->hdr_len) - from);
        memcpy(r->out.p + r->out.len, t->hdr + from, k);
        r->out.len += k;
        from += k;
    }
    if (to > from) {
        memcpy(r->out.p + r->out.len, t->apdu + (from - t->hdr_len), (size_t)(to - from));
        r->out.len += (size_t)(to - from);
    }
    rc = r->lo.data_req(r->lo.user, r->out.p, r->out.len);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-DATA (RTTR)", rc), 1;
    return 0;
}

/* Send what the window allows; end the activity when all is sent. */
static int send_more(x400i_rtse *r)
{
    tx_state *t = &r->tx;
    uint64_t cpb = (uint64_t)r->cp_kib * 1024u;
    int rc;
    while (r->state == X400I_RTSE_ST_SENDING && !t->ended) {
        if (t->off < t->total) {
            uint64_t end;
            if (cpb && t->nring >= r->window) return 0; /* window full */
            end = min64(t->off + (cpb ? cpb : PIECE_MAX), t->total);
            if ((rc = send_piece(r, t->off, end)) != 0) return rc < 0 ? rc : 0;
            r->bytes_sent += end - t->off;
            t->off = end;
            if (cpb && t->off < t->total) {
                uint32_t serial = 0;
                /* P-SYNC-MINOR request after each checkpoint, X.228 9.5 */
                rc = r->lo.minor_sync_req(r->lo.user, &serial);
                if (rc < 0) return x400i_rt_lower_failed(r, "P-SYNC-MINOR request", rc);
                t->ring[t->nring].serial = serial;
                t->ring[t->nring].off = t->off;
                t->nring++;
            }
            continue;
        }
        {
            uint32_t serial = 0;
            /* P-ACTIVITY-END request: the APDV is complete */
            t->ended = 1;
            x400i_rt_enter(r, O_ENDED);
            rc = r->lo.activity_end_req(r->lo.user, &serial);
            if (rc < 0) return x400i_rt_lower_failed(r, "P-ACTIVITY-END request", rc);
        }
    }
    return 0;
}

/* Sender resumes after recovery: P-ACTIVITY-RESUME linked to the old
 * activity and the last confirmed checkpoint, X.228 9.7. */
int x400i_rt_resume_sending(x400i_rtse *r)
{
    tx_state *t = &r->tx;
    uint8_t id[6];
    size_t id_len;
    int rc;
    new_activity_id(r, id, &id_len);
    x400i_rt_enter(r, O_RESUMED);
    rc = r->lo.activity_resume_req(r->lo.user, id, id_len, t->id, t->id_len, t->conf_serial, &r->lost_ref);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-ACTIVITY-RESUME request", rc);
    memcpy(t->id, id, id_len);
    t->id_len = id_len;
    t->off = t->conf_off;
    t->nring = 0;
    t->ended = 0;
    return send_more(r);
}

/* ---- receiver: APDV unwrapping ------------------------------------------------- */
static int deliver(x400i_rtse *r, const uint8_t *p, size_t n)
{
    x400i_rtse_ind ind;
    if (!n) return 0;
    x400i_rt_ind_init(&ind, X400I_RTSE_TRANSFER_DATA);
    ind.offset = r->rx.uw.delivered;
    ind.data = p;
    ind.data_len = n;
    r->rx.uw.delivered += n;
    x400i_rt_indicate(r, &ind);
    return r->cb_failed ? -1 : 0;
}

/* Parse the EXTERNAL header: 1 done, 0 need more, -1 invalid (diag). */
static int uw_header(x400i_rtse *r)
{
    unwrap *u = &r->rx.uw;
    size_t off = 0;
    size_t len;
    int outer, k;
    if (u->hdr_have < 1) return 0;
    if (u->hdr[0] != 0x28) {
        x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV starts with tag 0x%02x, not EXTERNAL (0x28)",
                      u->hdr[0]);
        return -1;
    }
    off = 1;
    if ((outer = x400i_ber_get_len(u->hdr, u->hdr_have, &off, &len)) <= 0) goto more_or_bad;
    for (;;) {
        uint8_t tag;
        if (off >= u->hdr_have) goto need;
        tag = u->hdr[off];
        if (tag == 0x06 || tag == 0x02 || tag == 0x07) { /* references, descriptor */
            size_t o2 = off + 1;
            size_t l2;
            k = x400i_ber_get_len(u->hdr, u->hdr_have, &o2, &l2);
            if (k == 0) goto need;
            if (k != 1 || l2 > HDR_MAX) goto bad;
            if (u->hdr_have - o2 < l2) goto need;
            off = o2 + l2;
            continue;
        }
        if (tag == 0xa0 || tag == 0x81) { /* single-ASN1-type [0] / octet-aligned [1] */
            size_t o2 = off + 1;
            k = x400i_ber_get_len(u->hdr, u->hdr_have, &o2, &len);
            if (k == 0) goto need;
            if (k < 0 || (k == 2 && tag == 0x81)) goto bad;
            u->hdr_len = o2;
            u->hdr_done = 1;
            if (k == 1) {
                u->content_len = len;
                u->after = outer == 2 ? 2 : 0;
            } else {
                u->content_len = NEVER;
                u->hold_need = 2 + (outer == 2 ? 2u : 0u);
            }
            return 1;
        }
        goto bad;
    }
more_or_bad:
    if (outer == 0) goto need;
bad:
    x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
         "APDV is not an EXTERNAL with single-ASN1-type or octet-aligned encoding");
    return -1;
need:
    if (u->hdr_have >= HDR_MAX) goto bad;
    return 0;
}

/* Feed secured APDV octets (in order) to the user, unwrapped. */
static int uw_feed(x400i_rtse *r, const uint8_t *p, size_t n)
{
    unwrap *u = &r->rx.uw;
    if (u->raw) return deliver(r, p, n);
    while (n && !u->hdr_done) {
        size_t k = (size_t)min64(n, HDR_MAX - u->hdr_have);
        int rc;
        memcpy(u->hdr + u->hdr_have, p, k);
        u->hdr_have += k;
        rc = uw_header(r);
        if (rc < 0) return -1;
        p += k;
        n -= k;
        if (rc == 0) continue;
        /* octets of this chunk beyond the header are content */
        {
            size_t extra = u->hdr_have - u->hdr_len;
            uint8_t tmp[HDR_MAX];
            memcpy(tmp, u->hdr + u->hdr_len, extra);
            u->hdr_have = u->hdr_len;
            if (extra && uw_feed(r, tmp, extra) < 0) return -1;
        }
    }
    if (!n) return 0;
    if (u->content_len != NEVER) {
        uint64_t left = u->content_len - u->delivered;
        size_t k = (size_t)min64(left, n);
        if (deliver(r, p, k) < 0) return -1;
        p += k;
        n -= k;
        for (size_t i = 0; i < n; i++) {
            if (u->after_seen >= u->after || p[i] != 0) {
                x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "octets after the end of the APDV's EXTERNAL");
                return -1;
            }
            u->after_seen++;
        }
        return 0;
    }
    /* indefinite: hold back the last hold_need octets (the EOCs) */
    {
        size_t total = u->hold_len + n;
        if (total <= u->hold_need) {
            memcpy(u->hold + u->hold_len, p, n);
            u->hold_len += (unsigned)n;
            return 0;
        }
        size_t out = total - u->hold_need; /* octets that are surely content */
        size_t from_hold = out < u->hold_len ? out : u->hold_len;
        if (deliver(r, u->hold, from_hold) < 0) return -1;
        memmove(u->hold, u->hold + from_hold, u->hold_len - from_hold);
        u->hold_len -= (unsigned)from_hold;
        out -= from_hold;
        if (deliver(r, p, out) < 0) return -1;
        p += out;
        n -= out;
        memcpy(u->hold + u->hold_len, p, n);
        u->hold_len += (unsigned)n;
        return 0;
    }
}

static int uw_finish(x400i_rtse *r)
{
    unwrap *u = &r->rx.uw;
    if (u->raw) return 0;
    if (!u->hdr_done) {
        x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV ended inside its EXTERNAL header (%zu octets)",
             u->hdr_have);
        return -1;
    }
    if (u->content_len != NEVER) {
        if (u->delivered != u->content_len || u->after_seen != u->after) {
            x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV ended after %llu of %llu content octets",
                 (unsigned long long)u->delivered, (unsigned long long)u->content_len);
            return -1;
        }
        return 0;
    }
    for (unsigned i = 0; i < u->hold_len; i++)
        if (u->hold[i]) goto bad;
    if (u->hold_len == u->hold_need) return 0;
bad:
    x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                  "APDV with indefinite length does not end with end-of-contents");
    return -1;
}

/* Secure the octets received since the last checkpoint. */
static int rx_secure(x400i_rtse *r)
{
    rx_state *x = &r->rx;
    if (x->buf.len) {
        if (uw_feed(r, x->buf.p, x->buf.len) < 0) return -1;
        x400i_buf_reset(&x->buf);
    }
    if (x->cur > x->secured) x->secured = x->cur;
    return 0;
}

static void ring_add(ckpt *ring, unsigned *n, uint32_t serial, uint64_t off)
{
    while (*n && ring[*n - 1].serial >= serial) (*n)--;
    if (*n == RING_MAX) {
        memmove(ring, ring + 1, (RING_MAX - 1) * sizeof *ring);
        (*n)--;
    }
    ring[*n].serial = serial;
    ring[*n].off = off;
    (*n)++;
}

static void rx_start(x400i_rtse *r, const uint8_t *id, size_t id_len)
{
    rx_state *x = &r->rx;
    x400i_rt_rx_reset(r);
    x->active = 1;
    memcpy(x->id, id, id_len);
    x->id_len = id_len;
    x->uw.raw = r->x410;
    x->uw.content_len = NEVER;
    x->ring[0].serial = 0;
    x->ring[0].off = 0;
    x->nring = 1;
}

int x400i_rt_act_transfer_req(x400i_rtse *r, const evargs *a)
{
    tx_state *t = &r->tx;
    uint64_t kib, per;
    int rc;
    if (!r->turn) return x400i_rt_refuse(r, "the turn is not held");
    if (r->rx.active && !r->rx.completed)
        return x400i_rt_refuse(r, "an interrupted incoming transfer awaits resumption");
    if ((uint64_t)a->len > r->cfg.max_apdu_size)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0, "APDU of %zu octets above the bound",
                             a->len),
               REFUSE;
    if (r->cp_kib && (uint64_t)a->len / ((uint64_t)r->cp_kib * 1024u) >= SERIAL_LIMIT)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0,
                             "APDU needs more checkpoints than serial numbers"),
               REFUSE;
    x400i_rt_enter(r, O_DONE);
    memset(t, 0, sizeof *t);
    t->active = 1;
    t->apdu = a->ud;
    t->len = a->len;
    t->tid = a->tid;
    t->prio = a->prio;
    t->hdr_len = build_apdv_header(r, t->hdr, a->len);
    t->total = t->hdr_len + a->len;
    kib = (a->len + 1023u) / 1024u;
    if (kib == 0) kib = 1;
    per = r->cfg.transfer_timeout_s_per_kib[a->prio];
    t->deadline = per ? r->now + kib * per * 1000u : NEVER;
    new_activity_id(r, t->id, &t->id_len);
    if (r->rx.active) { /* the previous incoming APDU is confirmed: its record goes */
        x400i_rt_rx_reset(r);
        x400i_rt_persist_erase(r);
    }
    /* RT-TRANSFER: one APDV = one activity, X.228 9.4 */
    rc = r->lo.activity_start_req(r->lo.user, t->id, t->id_len);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-ACTIVITY-START request", rc);
    return send_more(r);
}

int x400i_rt_act_minor_conf(x400i_rtse *r, const evargs *a)
{
    tx_state *t = &r->tx;
    unsigned i = 0;
    while (i < t->nring && t->ring[i].serial <= a->l->serial) i++;
    if (i == 0)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                   "P-SYNC-MINOR confirm of serial %u not outstanding",
                          a->l->serial);
    t->conf_serial = t->ring[i - 1].serial;
    t->conf_off = t->ring[i - 1].off;
    memmove(t->ring, t->ring + i, (t->nring - i) * sizeof *t->ring);
    t->nring -= i;
    return send_more(r);
}

int x400i_rt_act_act_end_conf(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    r->tx.active = 0;
    x400i_rt_ind_init(&ind, X400I_RTSE_TRANSFER_CONF);
    ind.result = X400_OK;
    ind.transfer_id = r->tx.tid;
    x400i_rt_enter(r, O_DONE);
    x400i_rt_indicate(r, &ind);
    return 0;
}

int x400i_rt_act_act_start(x400i_rtse *r, const evargs *a)
{
    if (r->turn)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-START from the peer while this side holds the turn");
    if (r->rx.active && !r->rx.completed)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-START while an interrupted transfer awaits resumption");
    if (a->l->id_len == 0 || a->l->id_len > 6)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "activity identifier of %zu octets",
                                   a->l->id_len);
    x400i_rt_enter(r, O_DONE);
    rx_start(r, a->l->id, a->l->id_len); /* a completed one is confirmed: replaced */
    if (r->cp_kib) x400i_rt_persist(r);
    return 0;
}

/* A resume after a serial this side has no checkpoint for (typically: the
 * receiver restarted from a record older than the checkpoints it had
 * confirmed).  The octets up to that serial are not here, so the activity
 * cannot go on: P-U-EXCEPTION-REPORT (X.226 7.18 / X.225 7.21), after which
 * the sender discards the activity (X.225 7.29, X.228 9.6) and transfers
 * the APDU again from its first octet.  What is held of it goes now.
 * Without the exception service below: RTAB invalidParameter. */
static int resume_refused(x400i_rtse *r, uint32_t serial)
{
    rx_state *x = &r->rx;
    uint32_t last = x->ring[x->nring - 1].serial;
    int rc;
    if (!r->lo.u_exception_req)
        return x400i_rt_peer_error(r, AR_INVALID_PARAM, 0, X400_ERR_PROTOCOL,
                                   "P-ACTIVITY-RESUME after serial %u, which this side did not confirm (last %u)",
                                   serial, last);
    x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_PROTOCOL, 0,
                  "P-ACTIVITY-RESUME after serial %u, which this side did not confirm (last %u): "
                  "P-U-EXCEPTION-REPORT sent, the transfer starts again",
                  serial, last);
    x400i_rt_rx_reset(r);
    x400i_rt_persist_erase(r);
    /* unrecoverable procedural error, X.225 8.3.35 reason 6 */
    rc = r->lo.u_exception_req(r->lo.user, 6);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-U-EXCEPTION-REPORT request", rc);
    return 0;
}

int x400i_rt_act_act_resume(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    const x400i_rtse_lind *l = a->l;
    if (r->turn)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-RESUME from the peer while this side holds the turn");
    if (l->id_len == 0 || l->id_len > 6)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "activity identifier of %zu octets",
                                   l->id_len);
    x400i_rt_enter(r, O_DONE);
    if (!x->active || x->id_len != l->old_id_len || memcmp(x->id, l->old_id, l->old_id_len) != 0) {
        if (l->serial == 0 && !(x->active && !x->completed)) {
            /* nothing of it was confirmed: the same as a fresh start */
            if (x->active) x400i_rt_persist_erase(r);
            rx_start(r, l->id, l->id_len);
            return 0;
        }
        return x400i_rt_peer_error(r, AR_UNRECOGNIZED_ACT, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-RESUME of an unknown activity (old id of %zu octets, serial %u)",
                          l->old_id_len, l->serial);
    }
    {
        unsigned i;
        for (i = 0; i < x->nring && x->ring[i].serial != l->serial; i++) {}
        if (i == x->nring) return resume_refused(r, l->serial);
        /* keep what was confirmed, drop the rest; resent octets below the
         * secured offset are discarded as they arrive */
        x400i_buf_reset(&x->buf);
        x->cur = x->ring[i].off;
        x->nring = i + 1;
        x->skip_all = x->completed;
        memcpy(x->id, l->id, l->id_len);
        x->id_len = l->id_len;
    }
    x400i_rt_persist(r); /* the activity now goes by its new identifier */
    return 0;
}

int x400i_rt_act_data(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    const uint8_t *p = a->l->apdu, *v = NULL;
    size_t n = a->l->apdu_len, off = 1, tl;
    uint64_t len;
    RTSE_apdus_t *ap = NULL;
    int rc = 0;
    if (r->x410) {
        /* X.410-1984 mode: the session user data is the APDV itself */
        v = p;
        len = n;
    } else if (n >= 2 && p[0] == 0x04 && x400i_ber_get_len(p, n, &off, &tl) == 1 && tl == n - off) {
        v = p + off; /* fast path: primitive OCTET STRING, definite length */
        len = tl;
    } else {
        if ((rc = x400i_rt_decode(r, p, n, &ap, "P-DATA")) < 0) return x400i_rt_abort(r, AR_PROTOCOL, 0, rc);
        if (ap->present != RTSE_apdus_PR_rttr_apdu) {
            x400i_rt_free_apdu(ap);
            return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                       "P-DATA inside an activity carries no RTTR");
        }
        v = ap->choice.rttr_apdu.buf;
        len = (uint64_t)ap->choice.rttr_apdu.size;
    }
    if (x->cur + len > r->cfg.max_apdu_size + HDR_MAX + 8) {
        x400i_rt_free_apdu(ap);
        return x400i_rt_peer_error(r, AR_PERMANENT, 0, X400_ERR_LIMIT, "APDV exceeds the bound of %llu octets",
                          (unsigned long long)r->cfg.max_apdu_size);
    }
    {
        /* octets below `secured` were confirmed before: drop them */
        uint64_t skip = x->skip_all ? len : (x->cur < x->secured ? min64(x->secured - x->cur, len) : 0);
        size_t k = (size_t)(len - skip);
        const uint8_t *q = k ? v + skip : NULL; /* an empty RTTR may have no buffer */
        x->cur += len;
        if (k) {
            if (r->cp_kib == 0) {
                rc = uw_feed(r, q, k);
                x->secured = x->cur;
            } else if (x->buf.len + k > (uint64_t)r->cp_kib * 1024u) {
                x400i_rt_free_apdu(ap);
                return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                  "more than checkpointSize (%u KiB) octets without a checkpoint", r->cp_kib);
            } else {
                rc = x400i_buf_append(&x->buf, q, k);
                if (rc < 0) {
                    x400i_rt_free_apdu(ap);
                    x400i_rt_diag(r, X400_SOURCE_LOCAL, rc, 0, "no memory for %zu received octets", k);
                    return x400i_rt_abort(r, AR_LOCAL, 0, rc);
                }
            }
        }
    }
    x400i_rt_free_apdu(ap);
    if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
    if (rc < 0 && r->state != X400I_RTSE_ST_CLOSED) return x400i_rt_abort(r, AR_PROTOCOL, 0, X400_ERR_PARSE);
    return 0;
}

int x400i_rt_act_minor(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    int rc;
    if (!x->skip_all && rx_secure(r) < 0) {
        if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
        return x400i_rt_abort(r, AR_PROTOCOL, 0, X400_ERR_PARSE);
    }
    ring_add(x->ring, &x->nring, a->l->serial, x->cur);
    if (!x->skip_all) x400i_rt_persist(r);
    if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
    /* P-SYNC-MINOR response: the checkpoint is secured */
    rc = r->lo.minor_sync_rsp(r->lo.user, a->l->serial);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-SYNC-MINOR response", rc);
    return 0;
}

int x400i_rt_act_act_end(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    x400i_rtse_ind ind;
    int rc;
    (void)a;
    x400i_rt_enter(r, O_DONE);
    if (!x->skip_all) {
        if (rx_secure(r) < 0 || uw_finish(r) < 0) {
            if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
            return x400i_rt_abort(r, AR_PROTOCOL, 0, X400_ERR_PARSE);
        }
        /* RT-TRANSFER indication: the APDU is complete */
        x400i_rt_ind_init(&ind, X400I_RTSE_TRANSFER_IND);
        ind.total = x->uw.delivered;
        /* X400I_RTSE_DEFER: the user confirms later (x400i_rtse_transfer_accept),
         * e.g. once the APDU is on stable storage */
        if (x400i_rt_indicate(r, &ind) == X400I_RTSE_DEFER) r->end_deferred = 1;
        if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
        x->completed = 1;
        x->user_holds = r->end_deferred;
        x->total = x->cur;
        x->expires = r->now + (uint64_t)r->cfg.recovery_timeout_s * 1000u;
        /* a completed record tells a restored receiver to confirm a resume
         * of this activity: written only once the user has confirmed it */
        if (r->cp_kib && !x->user_holds) x400i_rt_persist(r);
        else if (!r->cp_kib) x400i_rt_rx_reset(r);
    } else if (x->user_holds) {
        /* the end of a resumed activity the user has not confirmed yet
         * (X.228 recovery after a lost connection): the P-ACTIVITY-END
         * response waits for x400i_rtse_transfer_accept, as the first did */
        r->end_deferred = 1;
    }
    x->skip_all = 0;
    if (r->state == X400I_RTSE_ST_CLOSED || r->end_deferred) return 0;
    rc = r->lo.activity_end_rsp(r->lo.user);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-ACTIVITY-END response", rc);
    return 0;
}

int x400i_rt_act_act_interrupt(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    /* keep what was confirmed for a later S-ACTIVITY-RESUME */
    x400i_buf_reset(&r->rx.buf);
    r->rx.cur = r->rx.secured;
    x400i_rt_enter(r, O_DONE);
    rc = r->lo.activity_interrupt_rsp(r->lo.user);
    return rc < 0 ? x400i_rt_lower_failed(r, "P-ACTIVITY-INTERRUPT response", rc) : 0;
}

int x400i_rt_act_act_discard(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    int rc;
    (void)a;
    x400i_rt_rx_reset(r);
    x400i_rt_enter(r, O_DONE);
    x400i_rt_ind_init(&ind, X400I_RTSE_TRANSFER_ABANDON);
    x400i_rt_indicate(r, &ind);
    x400i_rt_persist_erase(r);
    rc = r->lo.activity_discard_rsp(r->lo.user);
    return rc < 0 ? x400i_rt_lower_failed(r, "P-ACTIVITY-DISCARD response", rc) : 0;
}

/* Sender: P-U-EXCEPTION-REPORT indication during its activity -- the
 * receiver cannot take the (resumed) activity.  P-ACTIVITY-DISCARD request,
 * X.225 7.29 / X.228 9.6; the transfer starts again on its confirm.  Nothing
 * of it counts as confirmed any more: a recovery before the confirm resumes
 * after serial 0 (a fresh start). */
int x400i_rt_act_u_exception(x400i_rtse *r, const evargs *a)
{
    tx_state *t = &r->tx;
    int rc;
    x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PROTOCOL, a->l->reason,
                  "P-U-EXCEPTION-REPORT (%d) during the transfer of %zu octets: activity discarded, sent again",
                  a->l->reason, t->len);
    t->conf_serial = 0;
    t->conf_off = 0;
    t->nring = 0;
    if (!r->lo.activity_discard_req)
        return x400i_rt_abort(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL);
    x400i_rt_enter(r, O_DONE);
    rc = r->lo.activity_discard_req(r->lo.user, a->l->reason);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-ACTIVITY-DISCARD request", rc);
    return 0;
}

/* P-ACTIVITY-DISCARD confirm: the APDU again, a new activity from octet 0
 * (RT-TRANSFER, X.228 9.4). */
int x400i_rt_act_act_discard_conf(x400i_rtse *r, const evargs *a)
{
    tx_state *t = &r->tx;
    int rc;
    (void)a;
    new_activity_id(r, t->id, &t->id_len);
    t->off = 0;
    t->nring = 0;
    t->ended = 0;
    x400i_rt_enter(r, O_DONE);
    rc = r->lo.activity_start_req(r->lo.user, t->id, t->id_len);
    if (rc < 0) return x400i_rt_lower_failed(r, "P-ACTIVITY-START request", rc);
    return send_more(r);
}

int x400i_rt_act_t_transfer(x400i_rtse *r, const evargs *a)
{
    (void)a;
    x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_TIMEOUT, AR_TEMPORARY,
         "transfer of %zu octets not confirmed within its transfer time: RTAB temporaryProblem sent", r->tx.len);
    return x400i_rt_abort(r, AR_TEMPORARY, 0, X400_ERR_TIMEOUT);
}

int x400i_rt_act_t_record(x400i_rtse *r, const evargs *a)
{
    (void)a;
    if (r->rx.active && r->rx.completed) {
        x400i_rt_rx_reset(r);
        x400i_rt_persist_erase(r);
    }
    return 0;
}

/* The user confirms a deferred RT-TRANSFER indication
 * (x400i_rtse_transfer_accept): P-ACTIVITY-END response, X.228 9.4. */
int x400i_rt_act_transfer_accept(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    rc = r->lo.activity_end_rsp(r->lo.user);
    return rc < 0 ? x400i_rt_lower_failed(r, "P-ACTIVITY-END response", rc) : 0;
}
