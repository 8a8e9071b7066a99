/* Interoperability with a real MTA: the conversations of PP on ISODE in
 * test/interop/ (.txt files) (see its README.md) replayed into x400p1 in both
 * roles.
 *
 * Responder: an x400_assoc + x400_p1_link responder, configured as PP's
 * peer, is fed the initiator's `<` TPKTs; the link must bind, deliver the
 * Message / Report / Probe with the envelope tshark decodes from the same
 * bytes, confirm it with the octets PP itself answers with (PT + AEA, X.225
 * basic concatenation), and release cleanly where the conversation does.
 *
 * Initiator: our initiator is fed PP's `>` TPKTs each time it waits for
 * them; it must bind with PP's values, see its transfer confirmed by PP's
 * PT + AEA, release, and stop recovering at PP's refusal.
 *
 * Every conversation is fed TPKT by TPKT, byte by byte and split at every
 * offset (one split per run); all runs must give the same events and the
 * same octets.  Everything x400p1 sends goes through tshark's failure
 * filter.  Nothing is rewritten in PP's bytes: where they carry values tied
 * to the other side's choices (connection references), our side is
 * configured to make the same choices, as a user could.
 */
#define X400T_UNMARKED_ASSERTS /* asserts in loops of 100,000: x400t.h */
#include <stdlib.h>
#include <string.h>

#include "interop.h"
#include "pair.h"
#include "wire.h"
/* The strict X.225 peer comes with the session work (wip/session); until
 * it is merged the conversations are checked by tshark alone. */
#if defined(__has_include)
#if __has_include("support_strictpeer.h")
#include "support_strictpeer.h"
#define X400T_HAVE_STRICTPEER 1
#endif
#endif
#ifndef X400T_HAVE_STRICTPEER
#define X400T_HAVE_STRICTPEER 0
#endif
#include "x400p1/p1link.h"
#include "x400t.h"

/* ------------------------------------------------------------ vectors */

struct vinfo {
    const char *name;
    int x410;              /* X.410-1984 mode */
    int twa;               /* two-way-alternate (else monologue) */
    const char *ini_name;  /* the initiator's MTA name and password */
    const char *ini_pw;
    const char *rsp_name;  /* the responder's */
    const char *rsp_pw;
};

/* Names and passwords as the binds in the vectors carry them (tshark:
 * p1.MTABindArgument / p1.MTABindResult). */
static const struct vinfo responder_vectors[] = {
    { "pp-pp-1988-twa", 0, 1, "PPA", "ppa-pw", "PPB", "ppb-pw" },
    { "pp-pp-1988-mon", 0, 0, "PPA", "ppa-pw", "PPB", "ppb-pw" },
    { "pp-pp-1984-twa", 1, 1, "PPA", "ppa-pw", "PPB", "ppb-pw" },
    { "pp-init-1988-twa-message", 0, 1, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-twa-dr", 0, 1, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-twa-ndr", 0, 1, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-twa-probe", 0, 1, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-monologue-message", 0, 0, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-monologue-dr", 0, 0, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-monologue-ndr", 0, 0, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1988-monologue-probe", 0, 0, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
    { "pp-init-1984-twa-bind", 1, 1, "PPX", "ppx-pw", "X4MTA", "x4-pw" },
};

static const struct vinfo initiator_vectors[] = {
    { "pp-pp-1988-twa", 0, 1, "PPA", "ppa-pw", "PPB", "ppb-pw" },
    { "pp-pp-1988-mon", 0, 0, "PPA", "ppa-pw", "PPB", "ppb-pw" },
    { "pp-pp-1984-twa", 1, 1, "PPA", "ppa-pw", "PPB", "ppb-pw" },
    { "pp-resp-1988-twa-message", 0, 1, "X4MTA", "x4-pw", "PPX", "ppx-pw" },
    { "pp-resp-1988-monologue-message", 0, 0, "X4MTA", "x4-pw", "PPX", "ppx-pw" },
    { "pp-resp-1984-twa-message", 1, 1, "X4MTA", "x4-pw", "PPX", "ppx-pw" },
};

/* The recovery refusals, each after the message conversation whose
 * connection it tries to recover. */
struct rinfo {
    const struct vinfo *first;
    const char *refusal;
};
static const struct rinfo recovery_vectors[] = {
    { &initiator_vectors[3], "pp-resp-1988-twa-recover-refused" },
    { &initiator_vectors[4], "pp-resp-1988-monologue-recover-refused" },
    { &initiator_vectors[5], "pp-resp-1984-twa-recover-refused" },
};

/* tshark 4.0 has no dissector for an X.410-1984 transfer (the MTS-APDU as
 * session user data): it marks such a DT malformed with this text, PP's own
 * in pp-pp-1984-twa.txt as well as ours. */
static const char tshark_x410_dt[] = "can't get spdu type from session dissector";

/* ------------------------------------------------------------ one run */

/* How a peer's octets are fed. */
enum feed { FEED_TPKT, FEED_BYTES, FEED_SPLIT };

#define MAXEV 64
struct run {
    const struct vinfo *v;
    x400_p1_link *l;
    x400_assoc *a;
    x400_assoc *extra[4];          /* associations attached for recovery */
    int nextra;
    int ev[MAXEV];
    int nev;
    int received, sent, failed, need_assoc, bound, released, aborted, refused;
    char peer[40];
    uint8_t *raw;                  /* the (first) APDU delivered */
    size_t raw_len;
    x400_p1_kind kind;
    x400_diag diag;
    x400t_wire wire;               /* what crossed, for tshark */
    int record;
    uint8_t *out;                  /* everything we sent, in order */
    size_t outlen;
};

static int on_ev(void *u, x400_p1_link *l, const x400_p1_link_event *e)
{
    struct run *r = u;
    (void)l;
    if (r->nev < MAXEV) r->ev[r->nev++] = e->type;
    if (e->diag && r->diag.text[0] == '\0') r->diag = *e->diag;
    switch (e->type) {
    case X400_P1_LINK_EV_BOUND:
        r->bound++;
        snprintf(r->peer, sizeof r->peer, "%s", e->peer_name ? e->peer_name : "");
        break;
    case X400_P1_LINK_EV_BIND_REFUSED: r->refused++; break;
    case X400_P1_LINK_EV_RECEIVED:
        if (r->received++ == 0) {
            r->kind = e->apdu->kind;
            r->raw = malloc(e->raw_len ? e->raw_len : 1);
            ck_assert_ptr_nonnull(r->raw);
            memcpy(r->raw, e->raw, r->raw_len = e->raw_len);
        }
        break;
    case X400_P1_LINK_EV_SENT: r->sent++; break;
    case X400_P1_LINK_EV_SEND_FAILED: r->failed++; break;
    case X400_P1_LINK_EV_RELEASED: r->released++; break;
    case X400_P1_LINK_EV_ABORTED: r->aborted++; break;
    case X400_P1_LINK_EV_NEED_ASSOC: r->need_assoc++; break;
    default: break;
    }
    return 0;
}

/* Our output: into r->out and (when recording) the wire. */
static void drain(struct run *r, x400_assoc *a, int we_initiate)
{
    x400t_take(&x400t_assoc_end, a, &r->out, &r->outlen, r->record ? &r->wire : NULL, we_initiate);
}

/* Feed `len` octets of the peer, as `how` says (FEED_SPLIT: at `split`,
 * an offset into the run's whole peer stream, `*pos` octets of which were
 * fed before), draining our replies after every call. */
static void feed(struct run *r, x400_assoc *a, int we_initiate, const uint8_t *p, size_t len,
                 enum feed how, size_t split, size_t *pos)
{
    size_t off = 0;
    if (r->record) x400t_wire_add(&r->wire, !we_initiate, p, len);
    while (off < len) {
        size_t n = len - off;
        if (how == FEED_BYTES) n = 1;
        else if (how == FEED_SPLIT && *pos < split && *pos + n > split) n = split - *pos;
        /* an exactly sized heap copy, so that ASan sees any over-read */
        uint8_t *copy = malloc(n);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, p + off, n);
        int rc = x400_assoc_recv(a, copy, n);
        free(copy);
        off += n;
        *pos += n;
        drain(r, a, we_initiate);
        if (rc < 0) break;      /* the association refuses all later input */
    }
}

static int spdu_at(const uint8_t *tpkt, size_t len, size_t off)
{
    /* TPKT(4) + DT header (LI 2, code F0, EOT) = 7 octets before the TSDU */
    return len > 7 + off && tpkt[5] == 0xf0 ? tpkt[7 + off] : -1;
}

/* A TPKT that ends the connection abnormally: a DR TPDU or an AB SPDU. */
static int is_abort(const struct x400t_wire_rec *rec)
{
    return (rec->len > 5 && (rec->p[5] & 0xf0) == 0x80) || spdu_at(rec->p, rec->len, 0) == 0x19;
}

/* The records of direction `from_initiator` that belong to the conversation:
 * those before the other side first aborted (an earlier x400mta, whose
 * abort and what followed it are not a reference, test/interop/README.md). */
static size_t conversation_end(const x400t_wire *v, int from_initiator)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->rec[i].from_initiator != from_initiator && is_abort(&v->rec[i])) return i;
    return v->n;
}

static void load(x400t_wire *v, const char *name)
{
    char err[512];
    ck_assert_msg(x400t_vec_load(v, name, err, sizeof err) == 0, "%s", err);
}

static void run_free(struct run *r)
{
    if (r->l) x400_p1_link_free(r->l);
    if (r->a) x400_assoc_free(r->a);
    for (int i = 0; i < r->nextra; i++) x400_assoc_free(r->extra[i]);
    x400t_wire_free(&r->wire);
    free(r->out);
    free(r->raw);
}

/* The last octets we sent, for failure messages. */
static const char *tail_hex(const struct run *r)
{
    static char buf[200];
    size_t from = r->outlen > 60 ? r->outlen - 60 : 0, n = 0;
    buf[0] = '\0';
    for (size_t i = from; i < r->outlen; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%02x", r->out[i]);
    return buf;
}

static void event_string(const struct run *r, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->nev && n + 4 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%d ", r->ev[i]);
}

/* The session engineer's strict X.225 peer (concatenation and parameter
 * tables as ISODE enforces them) over the whole conversation, PP's octets
 * and ours. */
static void strict_check(const x400t_wire *w, const char *name)
{
#if X400T_HAVE_STRICTPEER
    x400t_strict st;
    x400t_strict_init(&st);
    int rc = x400t_strict_wire(&st, w);
    ck_assert_msg(rc == 0, "%s: strict X.225 peer: %s", name, st.err);
    x400t_strict_free(&st);
#else
    (void)w;
    (void)name;
#endif
}

/* ------------------------------------------------------------ responder */

static const x400_p1_peer *peer_of(const struct vinfo *v, x400_p1_peer *p)
{
    p->mta_name = v->ini_name;
    p->password = (const uint8_t *)v->ini_pw;
    p->password_len = strlen(v->ini_pw);
    p->require_auth = 1;
    return p;
}

static void responder_run(const struct vinfo *v, const x400t_wire *vec, enum feed how,
                          size_t split, int record, struct run *r)
{
    x400_p1_link_config lc;
    x400_assoc_config ac;
    x400_p1_peer peer;
    x400_p1_peer_table table = { peer_of(v, &peer), 1 };
    x400_p1_link_callbacks cb = { r, on_ev };
    size_t pos = 0, end = conversation_end(vec, 1);

    memset(r, 0, sizeof *r);
    r->v = v;
    r->record = record;
    x400t_wire_init(&r->wire);
    /* One configuration for every caller: the responder learns the mode
     * (1988 normal or X.410-1984) from the connection, never from its
     * configuration, as a listener serving both kinds of peer must. */
    x400_p1_link_config_init(&lc, X400_ROLE_RESPONDER);
    snprintf(lc.own_name, sizeof lc.own_name, "%s", v->rsp_name);
    memcpy(lc.own_password, v->rsp_pw, lc.own_password_len = strlen(v->rsp_pw));
    lc.check = x400_p1_cred_check_default;
    lc.check_user = &table;
    ck_assert_int_eq(x400_p1_link_new(&r->l, &lc, &cb, NULL), X400_OK);
    x400_assoc_config_init(&ac, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(&r->a, &ac, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(r->l, r->a), X400_OK);
    if (how == FEED_TPKT) {          /* each TPKT as it came */
        for (size_t i = 0; i < end; i++)
            if (vec->rec[i].from_initiator)
                feed(r, r->a, 0, vec->rec[i].p, vec->rec[i].len, how, split, &pos);
        return;
    }
    /* the initiator's whole stream in one call, split once, or byte by byte */
    uint8_t *all = NULL;
    size_t len = 0;
    for (size_t i = 0; i < end; i++)
        if (vec->rec[i].from_initiator) {
            all = realloc(all, len + vec->rec[i].len);
            ck_assert_ptr_nonnull(all);
            memcpy(all + len, vec->rec[i].p, vec->rec[i].len);
            len += vec->rec[i].len;
        }
    feed(r, r->a, 0, all, len, how, split, &pos);
    free(all);
}

/* The PDUs one side sent, as "TPDU[:SPDU[.SPDU]]" codes in hex: the
 * transport TPDU, and for a DT the TSDU's first SPDU and, behind a category
 * 0 SPDU (GT, PT), the SPDU it is concatenated with (X.225 basic
 * concatenation).  with_dr 0: without transport DRs (after its DN our
 * responder disconnects at once where PP waits for the initiator's DR --
 * X.225's timer TIM, which a sans-I/O session without a clock runs as 0;
 * both end the connection cleanly). */
static void pdu_sequence(const x400t_wire *w, int from_initiator, int with_dr, char *buf,
                         size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < w->n && n + 16 < cap; i++) {
        const struct x400t_wire_rec *r = &w->rec[i];
        if (r->from_initiator != from_initiator || r->len < 6) continue;
        if (!with_dr && (r->p[5] & 0xf0) == 0x80) continue;
        n += (size_t)snprintf(buf + n, cap - n, "%02x", r->p[5]);
        if (r->p[5] == 0xf0) {
            size_t o = 7;
            for (int k = 0; k < 2 && o + 2 <= r->len; k++) {
                int si = r->p[o];
                size_t li = r->p[o + 1], hdr = 2;
                if (li == 0xff && o + 4 <= r->len) {
                    li = (size_t)r->p[o + 2] << 8 | r->p[o + 3];
                    hdr = 4;
                }
                n += (size_t)snprintf(buf + n, cap - n, "%c%02x", k ? '.' : ':', si);
                if (si != 0x01 && si != 0x02) break;    /* not GT / PT: no more */
                o += hdr + li;
            }
        }
        n += (size_t)snprintf(buf + n, cap - n, " ");
    }
}

/* The octets PP, as responder, answers the initiator's AE with: the first
 * `>` record after the `<` record that carries the AE (MAP) SPDU. */
static const struct x400t_wire_rec *pp_confirmation(const x400t_wire *vec)
{
    for (size_t i = 0; i + 1 < vec->n; i++)
        if (vec->rec[i].from_initiator && spdu_at(vec->rec[i].p, vec->rec[i].len, 2) == 0x29)
            for (size_t j = i + 1; j < vec->n; j++)
                if (!vec->rec[j].from_initiator) return &vec->rec[j];
    return NULL;
}

static int contains(const uint8_t *h, size_t hl, const uint8_t *n, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0) return 1;
    return 0;
}

static void check_responder(const struct vinfo *v)
{
    x400t_wire vec;
    struct run whole;
    char err[4096], evs[256], name[128];
    char *expect = NULL;
    int has_apdu = strstr(v->name, "-bind") == NULL;
    int pp_pp = strncmp(v->name, "pp-pp-", 6) == 0;

    load(&vec, v->name);
    responder_run(v, &vec, FEED_TPKT, 0, 1, &whole);
    event_string(&whole, evs, sizeof evs);
    ck_assert_msg(whole.bound == 1 && whole.refused == 0,
                  "%s: bind (bound %d refused %d, events %s): %s", v->name, whole.bound,
                  whole.refused, evs, whole.diag.text);
    /* one tshark run: our frames through its failure filter, and the
     * envelope of PP's APDU as tshark decodes it */
    snprintf(name, sizeof name, "interop-%s-responder", v->name);
    ck_assert_msg(x400t_interop_tshark(&whole.wire, name, 0, v->x410 ? tshark_x410_dt : NULL,
                                       has_apdu && !v->x410 ? &expect : NULL, err, sizeof err) == 0,
                  "%s", err);
    if (has_apdu && v->x410) {
        /* X.410-1984: tshark 4.0 does not decode the transfer (no RTSE or
         * P1 above a session DT in X.410 mode); it decodes the same APDU
         * octets in the place of the one in PP's 1988 conversation.  Here
         * the APDU is the session user data of the GT + DT TSDU, X.410
         * (1984) / ISODE RTS-over-session. */
        snprintf(name, sizeof name, "interop-%s-tshark", v->name);
        for (size_t i = 0; i < vec.n && !expect; i++) {
            const struct x400t_wire_rec *r = &vec.rec[i];
            if (r->from_initiator && spdu_at(r->p, r->len, 0) == 0x01 &&
                spdu_at(r->p, r->len, 2) == 0x01 && r->len > 11)
                expect = x400t_env_tshark_apdu(r->p + 11, r->len - 11, name);
        }
    }
    if (has_apdu) {
        x400_p1_apdu apdu;
        x400_p1_limits lim;
        x400_diag d;
        ck_assert_msg(expect != NULL, "%s: tshark shows no MTS-APDU", v->name);
        ck_assert_msg(whole.received == 1, "%s: %d APDUs delivered (events %s; %s)", v->name,
                      whole.received, evs, whole.diag.text);
        /* the APDU delivered, decoded, has tshark's envelope */
        x400_p1_limits_init(&lim);
        ck_assert_int_eq(x400_p1_decode(whole.raw, whole.raw_len, &lim, NULL, &apdu, &d), X400_OK);
        ck_assert_int_eq(apdu.kind, whole.kind);
        ck_assert_msg(x400t_env_compare(&apdu, expect, err, sizeof err) == 0,
                      "%s: envelope differs from tshark's: %s", v->name, err);
        x400_p1_apdu_free(&apdu);
        /* confirmed with the very octets PP answers with */
        const struct x400t_wire_rec *c = pp_confirmation(&vec);
        ck_assert_ptr_nonnull(c);
        if (pp_pp)
            ck_assert_msg(contains(whole.out, whole.outlen, c->p, c->len),
                          "%s: no confirmation equal to PP's", v->name);
        else   /* that x400mta aborted instead: PT + AEA with serial 1 */
            ck_assert_msg(contains(whole.out, whole.outlen,
                                   (const uint8_t *)"\x03\x00\x00\x0e\x02\xf0\x80\x02\x00\x2a\x03\x2a\x01\x31", 14),
                          "%s: transfer not confirmed with PT + AEA (we sent ...%s)", v->name,
                          tail_hex(&whole));
    }
    ck_assert_msg(whole.aborted == 0, "%s: aborted: %s", v->name, whole.diag.text);
    if (pp_pp) {
        char ours[512], pps[512];
        ck_assert_msg(whole.released == 1, "%s: not released (events %s)", v->name, evs);
        /* the same PDUs, concatenated the same way, as PP's responder */
        pdu_sequence(&whole.wire, 0, 0, ours, sizeof ours);
        pdu_sequence(&vec, 0, 0, pps, sizeof pps);
        ck_assert_msg(strcmp(ours, pps) == 0, "%s: we sent %s, PP sends %s", v->name, ours, pps);
    }
    strict_check(&whole.wire, v->name);

    /* the initiator's octets in one call, split once at every offset, and
     * byte by byte: the same events, output and delivered APDU */
    size_t total = 0, end = conversation_end(&vec, 1);
    for (size_t i = 0; i < end; i++)
        if (vec.rec[i].from_initiator) total += vec.rec[i].len;
    for (size_t k = 0; k <= total + 1; k++) {
        struct run s;
        enum feed how = k == total + 1 ? FEED_BYTES : FEED_SPLIT;
        responder_run(v, &vec, how, k, 0, &s);
        ck_assert_msg(s.nev == whole.nev && memcmp(s.ev, whole.ev, sizeof s.ev[0] * (size_t)s.nev) == 0,
                      "%s split at %zu: other events", v->name, k);
        ck_assert_msg(s.outlen == whole.outlen && memcmp(s.out, whole.out, s.outlen) == 0,
                      "%s split at %zu: other output", v->name, k);
        ck_assert_msg(s.raw_len == whole.raw_len &&
                          (!s.raw_len || memcmp(s.raw, whole.raw, s.raw_len) == 0),
                      "%s split at %zu: another APDU delivered", v->name, k);
        run_free(&s);
    }
    run_free(&whole);
    free(expect);
    x400t_wire_free(&vec);
}

/* ------------------------------------------------------------ initiator */

/* The Connection Identifier of the initiator's CN in the vector: our
 * initiator uses the same references, as a user would configure them (PP
 * echoes them in its AC and names the connection by them). */
static void cn_refs(const x400t_wire *vec, x400_assoc_config *ac)
{
    for (size_t i = 0; i < vec->n; i++) {
        const struct x400t_wire_rec *rec = &vec->rec[i];
        if (!rec->from_initiator || spdu_at(rec->p, rec->len, 0) != 0x0d) continue;
        const uint8_t *p = rec->p + 7, *e = rec->p + rec->len;
        size_t l = p[1];
        p += 2;                              /* CN SI, LI (short: these CNs are < 255) */
        e = p + l < e ? p + l : e;
        while (p + 2 <= e) {
            int pi = p[0];
            size_t pl = p[1];
            if (p + 2 + pl > e) break;
            if (pi == 1) {                   /* Connection Identifier PGI, X.225 8.3.1.3 */
                const uint8_t *q = p + 2, *qe = q + pl;
                while (q + 2 <= qe && q + 2 + q[1] <= qe) {
                    if (q[0] == 10 && q[1] <= sizeof ac->calling_ref)
                        memcpy(ac->calling_ref, q + 2, ac->calling_ref_len = q[1]);
                    if (q[0] == 11 && q[1] <= sizeof ac->common_ref)
                        memcpy(ac->common_ref, q + 2, ac->common_ref_len = q[1]);
                    q += 2 + q[1];
                }
            }
            p += 2 + pl;
        }
        return;
    }
}

static void mk_message(x400_p1_apdu *m, x400_p1_recipient *rc, x400_p1_trace *t)
{
    static const uint8_t content[] = { 0x31, 0x00 };
    ck_assert_int_eq(x400_p1_apdu_init(m, X400_P1_MESSAGE, NULL), X400_OK);
    strcpy(m->env.id.gdi.country, "XX");
    strcpy(m->env.id.gdi.admd, "ADMD");
    strcpy(m->env.id.gdi.prmd, "X");
    strcpy(m->env.id.local, "x4.interop.1");
    strcpy(m->env.originator.country, "XX");
    strcpy(m->env.originator.admd, "ADMD");
    m->env.originator.admd_present = 1;
    strcpy(m->env.originator.prmd, "X");
    strcpy(m->env.originator.pn.surname, "dave");
    m->env.content_type.builtin = X400_CT_P2_1988;
    x400_p1_recipient_init(rc);
    rc->name = m->env.originator;
    strcpy(rc->name.prmd, "PPX");
    strcpy(rc->name.pn.surname, "carol");
    rc->osrn = 1;
    rc->indicators = X400_PRI_RESPONSIBILITY;
    m->env.n_recip = 1;
    m->env.recip = rc;
    x400_p1_trace_init(t);
    t->gdi = m->env.id.gdi;
    t->arrival = 1796396586;
    m->env.n_trace = 1;
    m->env.trace = t;
    m->content.p = content;
    m->content.len = sizeof content;
}

static void new_initiator_assoc(struct run *r, const struct vinfo *v, const x400t_wire *vec,
                                x400_assoc **out)
{
    x400_assoc_config ac;
    x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
    ac.mode = v->x410 ? X400_MODE_X410 : X400_MODE_NORMAL;
    /* PP picks its stack by called TSAP: "592" 1988 normal mode, "591" X.410 */
    x400_selector_set(&ac.called_tsel, v->x410 ? "591" : "592");
    cn_refs(vec, &ac);
    ck_assert_int_eq(x400_assoc_new(out, &ac, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(r->l, *out), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(*out), X400_OK);
    drain(r, *out, 1);
}

static void initiator_start(struct run *r, const struct vinfo *v, const x400t_wire *vec, int record)
{
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { r, on_ev };
    memset(r, 0, sizeof *r);
    r->v = v;
    r->record = record;
    x400t_wire_init(&r->wire);
    x400_p1_link_config_init(&lc, X400_ROLE_INITIATOR);
    lc.mode = v->x410 ? X400_MODE_X410 : X400_MODE_NORMAL;
    lc.rtse.two_way_alternate = v->twa;
    snprintf(lc.own_name, sizeof lc.own_name, "%s", v->ini_name);
    memcpy(lc.own_password, v->ini_pw, lc.own_password_len = strlen(v->ini_pw));
    ck_assert_int_eq(x400_p1_link_new(&r->l, &lc, &cb, NULL), X400_OK);
    new_initiator_assoc(r, v, vec, &r->a);
}

/* Feed PP's `>` records [from, to) group by group: a group is the records
 * between two of the initiator's; before each group our side does what a
 * user does at that point (send once bound, close once confirmed). */
static void send_message(struct run *r, x400_assoc *a)
{
    x400_p1_apdu m;
    x400_p1_recipient rc;
    x400_p1_trace t;
    x400_diag d;
    mk_message(&m, &rc, &t);
    ck_assert_int_eq(x400_p1_link_send(r->l, &m, 42, &d), X400_OK);
    x400_p1_apdu_free(&m);
    drain(r, a, 1);
}

/* Feed PP's `>` records [from, to) group by group: a group is the records
 * between two of the initiator's, fed as one stream (whole, split once at
 * `split` or byte by byte); before each group our side does what a user
 * does at that point: send once bound (do_send), close once confirmed
 * (do_close). */
static void initiator_feed(struct run *r, x400_assoc *a, const x400t_wire *vec, size_t from,
                           size_t to, enum feed how, size_t split, size_t *pos, int do_send,
                           int do_close)
{
    uint8_t *group = NULL;
    size_t len = 0;
    for (size_t i = from; i < to; i++) {
        if (vec->rec[i].from_initiator) continue;
        if (how == FEED_TPKT) {
            feed(r, a, 1, vec->rec[i].p, vec->rec[i].len, how, split, pos);
        } else {
            group = realloc(group, len + vec->rec[i].len);
            ck_assert_ptr_nonnull(group);
            memcpy(group + len, vec->rec[i].p, vec->rec[i].len);
            len += vec->rec[i].len;
        }
        if (i + 1 < to && !vec->rec[i + 1].from_initiator) continue;
        /* the group is complete */
        if (len) feed(r, a, 1, group, len, how, split, pos);
        len = 0;
        if (r->bound && do_send) {
            send_message(r, a);
            do_send = 0;
        } else if (r->sent && do_close && x400_p1_link_is_bound(r->l)) {
            ck_assert_int_eq(x400_p1_link_close(r->l), X400_OK);
            drain(r, a, 1);
            do_close = 0;
        }
    }
    free(group);
}

static void initiator_run(const struct vinfo *v, const x400t_wire *vec, enum feed how,
                          size_t split, int record, struct run *r)
{
    size_t pos = 0;
    initiator_start(r, v, vec, record);
    initiator_feed(r, r->a, vec, 0, conversation_end(vec, 0), how, split, &pos, 1,
                   strncmp(v->name, "pp-pp-", 6) == 0);
}

static void check_initiator(const struct vinfo *v)
{
    x400t_wire vec;
    struct run whole;
    char err[4096], evs[256], name[128];
    int pp_pp = strncmp(v->name, "pp-pp-", 6) == 0;

    load(&vec, v->name);
    initiator_run(v, &vec, FEED_TPKT, 0, 1, &whole);
    event_string(&whole, evs, sizeof evs);
    ck_assert_msg(whole.bound == 1, "%s: not bound (events %s): %s", v->name, evs,
                  whole.diag.text);
    ck_assert_str_eq(whole.peer, v->rsp_name);
    ck_assert_msg(whole.sent == 1 && whole.failed == 0,
                  "%s: transfer not confirmed by PP (sent %d failed %d, events %s): %s / %s",
                  v->name, whole.sent, whole.failed, evs, whole.diag.text,
                  x400_assoc_diag(whole.a)->text);
    ck_assert_msg(whole.aborted == 0, "%s: aborted: %s", v->name, whole.diag.text);
    if (pp_pp) {
        char ours[512], pps[512];
        ck_assert_msg(whole.released == 1, "%s: not released (events %s)", v->name, evs);
        /* the same PDUs, concatenated the same way, as PP's initiator */
        pdu_sequence(&whole.wire, 1, 1, ours, sizeof ours);
        pdu_sequence(&vec, 1, 1, pps, sizeof pps);
        ck_assert_msg(strcmp(ours, pps) == 0, "%s: we sent %s, PP sends %s", v->name, ours, pps);
    }
    if (v->x410) {
        /* X.410-1984: the MTS-APDU itself is the session user data of the
         * DT (X.410 (1984), ISODE's RTS over session), not an OCTET STRING */
        int seen = 0;
        for (size_t i = 0; i < whole.wire.n; i++) {
            const struct x400t_wire_rec *r = &whole.wire.rec[i];
            if (r->from_initiator == 1 && spdu_at(r->p, r->len, 0) == 0x01 &&
                spdu_at(r->p, r->len, 2) == 0x01 && r->len > 11) {
                ck_assert_msg(r->p[11] == 0xa0, "%s: DT user data starts %02x, not the Message [0]",
                              v->name, r->p[11]);
                seen = 1;
            }
        }
        ck_assert_msg(seen, "%s: no GT + DT carrying the APDU", v->name);
    }
    snprintf(name, sizeof name, "interop-%s-initiator", v->name);
    ck_assert_msg(x400t_interop_tshark(&whole.wire, name, 1, v->x410 ? tshark_x410_dt : NULL,
                                       NULL, err, sizeof err) == 0, "%s", err);
    strict_check(&whole.wire, v->name);

    size_t total = 0, end = conversation_end(&vec, 0);
    for (size_t i = 0; i < end; i++)
        if (!vec.rec[i].from_initiator) total += vec.rec[i].len;
    for (size_t k = 0; k <= total + 1; k++) {
        struct run s;
        initiator_run(v, &vec, k == total + 1 ? FEED_BYTES : FEED_SPLIT, k, 0, &s);
        ck_assert_msg(s.nev == whole.nev && memcmp(s.ev, whole.ev, sizeof s.ev[0] * (size_t)s.nev) == 0,
                      "%s split at %zu: other events", v->name, k);
        ck_assert_msg(s.outlen == whole.outlen && memcmp(s.out, whole.out, s.outlen) == 0,
                      "%s split at %zu: other output", v->name, k);
        run_free(&s);
    }
    run_free(&whole);
    x400t_wire_free(&vec);
}

/* Recovery refused: the message conversation binds and sends; the
 * connection is lost before PP confirms; RTSE asks for a new association to
 * recover it and PP refuses (RF with a Connection Identifier in normal
 * mode, an AB in X.410 mode).  Recovery must stop at that first refusal
 * (no retry every 2 s) and the transfer restart on a fresh association at
 * once -- which PP then confirms (its message conversation again). */
static void recovery_run(const struct rinfo *ri, const x400t_wire *vfirst,
                         const x400t_wire *vrefusal, enum feed how, size_t split,
                         char *evs_out, size_t evs_cap)
{
    struct run r;
    char evs[256];
    size_t pos = 0;
    const struct vinfo *v = ri->first;

    initiator_start(&r, v, vfirst, 0);
    /* PP's CC and AC, then our message goes out (GT+AS, DT, GT+AE) */
    size_t ac_end = 0;
    for (size_t i = 0, groups = 0; i < vfirst->n; i++)
        if (!vfirst->rec[i].from_initiator && (i == 0 || vfirst->rec[i - 1].from_initiator) &&
            ++groups == 3) {
            ac_end = i;
            break;
        }
    ck_assert_uint_gt(ac_end, 0);
    initiator_feed(&r, r.a, vfirst, 0, ac_end, FEED_TPKT, 0, &pos, 1, 0);
    ck_assert_int_eq(r.bound, 1);
    /* the TCP connection breaks before PP's PT + AEA */
    x400_assoc_transport_closed(r.a);
    for (uint64_t t = 0; t <= 3000 && r.need_assoc == 0; t += 100) x400_p1_link_tick(r.l, t);
    event_string(&r, evs, sizeof evs);
    ck_assert_msg(r.need_assoc == 1, "%s: no recovery asked for (events %s)", ri->refusal, evs);
    ck_assert_int_eq(x400_p1_link_is_recovering(r.l), 1);

    /* the recovery association: PP's CC, then its refusal */
    x400_assoc *a2;
    new_initiator_assoc(&r, v, vrefusal, &a2);
    r.extra[r.nextra++] = a2;
    pos = 0;
    initiator_feed(&r, a2, vrefusal, 0, conversation_end(vrefusal, 0), how, split, &pos, 0, 0);
    x400_p1_link_tick(r.l, 3100);
    event_string(&r, evs, sizeof evs);
    ck_assert_msg(x400_p1_link_is_recovering(r.l) == 0,
                  "%s: still recovering after PP's refusal (events %s): %s / %s", ri->refusal,
                  evs, r.diag.text, x400_assoc_diag(a2)->text);
    /* the transfer restarts at once: on a fresh association of this link,
     * or given back (SEND_FAILED) for the caller to send on a new link */
    int fresh = r.need_assoc == 2;
    ck_assert_msg(fresh || r.failed == 1,
                  "%s: after the refusal the APDU is neither restarted nor given back (events %s)",
                  ri->refusal, evs);
    /* and recovery is not tried again later (it was, every 2 s for a minute) */
    int asked = r.need_assoc;
    for (uint64_t t = 3200; t <= 70000; t += 1000) x400_p1_link_tick(r.l, t);
    ck_assert_int_eq(r.need_assoc, asked);

    /* PP binds afresh and confirms the transfer */
    struct run again, *t = &r;
    x400_assoc *a3;
    pos = 0;
    if (fresh) {
        new_initiator_assoc(&r, v, vfirst, &a3);
        r.extra[r.nextra++] = a3;
    } else {
        initiator_start(&again, v, vfirst, 0);   /* as x400mta does */
        t = &again;
        a3 = again.a;
    }
    initiator_feed(t, a3, vfirst, 0, conversation_end(vfirst, 0), FEED_TPKT, 0, &pos, !fresh, 0);
    event_string(t, evs, sizeof evs);
    ck_assert_msg(t->sent == 1 && t->failed == 0, "%s: transfer not completed afresh (events %s)",
                  ri->refusal, evs);
    if (!fresh) run_free(&again);
    event_string(&r, evs_out, evs_cap);
    run_free(&r);
}

static void check_recovery_refused(const struct rinfo *ri)
{
    x400t_wire first, refusal;
    char evs[256], other[256];
    load(&first, ri->first->name);
    load(&refusal, ri->refusal);
    recovery_run(ri, &first, &refusal, FEED_TPKT, 0, evs, sizeof evs);
    /* PP's CC and refusal split at every offset, and byte by byte */
    size_t total = 0, end = conversation_end(&refusal, 0);
    for (size_t i = 0; i < end; i++)
        if (!refusal.rec[i].from_initiator) total += refusal.rec[i].len;
    for (size_t k = 0; k <= total + 1; k++) {
        recovery_run(ri, &first, &refusal, k == total + 1 ? FEED_BYTES : FEED_SPLIT, k, other,
                     sizeof other);
        ck_assert_msg(strcmp(evs, other) == 0, "%s split at %zu: events %s, not %s", ri->refusal,
                      k, other, evs);
    }
    x400t_wire_free(&first);
    x400t_wire_free(&refusal);
}

/* ------------------------------------------------------------ cases */

START_TEST(responder)
{
    check_responder(&responder_vectors[_i]);
}
END_TEST

START_TEST(initiator)
{
    check_initiator(&initiator_vectors[_i]);
}
END_TEST

START_TEST(recovery_refused)
{
    check_recovery_refused(&recovery_vectors[_i]);
}
END_TEST

/* The loader refuses what is not a vector. */
START_TEST(vector_files)
{
    x400t_wire w;
    char err[512];
    size_t n = sizeof responder_vectors / sizeof responder_vectors[0];
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(x400t_vec_load(&w, responder_vectors[i].name, err, sizeof err) == 0, "%s",
                      err);
        ck_assert_uint_gt(w.n, 3);
        ck_assert_int_eq(w.rec[0].from_initiator, 1);   /* CR */
        ck_assert_int_eq(w.rec[0].p[5], 0xe0);
        ck_assert_int_eq(w.rec[1].from_initiator, 0);   /* CC */
        ck_assert_int_eq(w.rec[1].p[5], 0xd0);
        x400t_wire_free(&w);
    }
    ck_assert_int_eq(x400t_vec_load(&w, "no-such-vector", err, sizeof err), -1);
    /* what PP sends, as pdu_sequence() spells it: X.225 basic concatenation,
     * GT in front of AS/DT/AE from the initiator, PT in front of AEA */
    char seq[512];
    ck_assert_int_eq(x400t_vec_load(&w, "pp-pp-1988-twa", err, sizeof err), 0);
    pdu_sequence(&w, 1, 1, seq, sizeof seq);
    ck_assert_str_eq(seq, "e0 f0:0d f0:01.2d f0:01.01 f0:01.29 f0:09 80 ");
    pdu_sequence(&w, 0, 1, seq, sizeof seq);
    ck_assert_str_eq(seq, "d0 f0:0e f0:02.2a f0:0a ");
    x400t_wire_free(&w);
}
END_TEST

Suite *x400t_suite_interop(void)
{
    Suite *s = suite_create("interop");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, vector_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("responder");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, responder, 0,
                        (int)(sizeof responder_vectors / sizeof responder_vectors[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("initiator");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, initiator, 0,
                        (int)(sizeof initiator_vectors / sizeof initiator_vectors[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("recovery_refused");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, recovery_refused, 0,
                        (int)(sizeof recovery_vectors / sizeof recovery_vectors[0]));
    suite_add_tcase(s, tc);
    return s;
}
