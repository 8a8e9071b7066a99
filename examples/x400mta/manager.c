/*
 * x400mta: the association manager and event loop.
 *
 *   - outbound associations are opened when a peer has queued APDUs, with
 *     open retries and an interval; another one when the queue is longer
 *     than `threshold` per association (up to max-associations); idle
 *     ones are released after `lifetime`;
 *   - inbound associations are accepted on the listen addresses; a peer is
 *     known by its bind (name + password), never by its address;
 *   - in two-way-alternate mode any association with a peer carries both
 *     directions; in monologue only our own (outbound) ones send;
 *   - every received APDU is made durable (spool journal, one fdatasync per
 *     loop turn for everything received on all associations) before its
 *     transfer is confirmed to the sender (X400_P1_LINK_DEFER);
 *   - an APDU leaves the queue only when the peer confirmed its transfer;
 *     a broken association gives its APDUs back and they go again on
 *     another one (the receiver recognises the MTSID if it had it);
 *   - RTSE recovery: an outbound link that lost its connection mid-transfer
 *     makes a new association itself (x400_p1_link_want_connect: the link
 *     owns its associations) and resumes; an inbound recovery request is
 *     routed to the link waiting for it, also one restored after a restart
 *     from its RTSE receiver record (spool rtse/);
 *   - a peer unreachable beyond its open-retry budget gets its queued
 *     messages non-delivered (reports to the originators).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mta.h"

#define LINK_WINDOW 16          /* APDUs handed to one link at a time */
#define PICKUP_BATCH 512        /* submissions taken per loop turn */
#define CHECKPOINT_BYTES (64u << 20)
#define CHECKPOINT_MS 5000
/* stopping: how long a peer may take to release an idle association it
 * opened before this MTA aborts it */
#define PEER_RELEASE_GRACE_MS 1000
#define SNAPSHOT_MS 250
#define GUARD_EXPIRE_MS 10000
#define HOUSEKEEP_MS 20         /* per-peer work (opening, retries) at most this often */
#define BUSY_RECHECK_MS 1000    /* a busy association's idle timer looks again after this */
#define OPEN_AHEAD 8            /* associations opened at once to a peer that has one bound */

enum qstate { Q_WAIT = 0, Q_ACTIVE = 1 };

typedef struct qmsg {
    struct qmsg *next, *prev;   /* in its peer's list */
    char name[128];             /* file in queue/ */
    char mtsid[X400_MTSID_TEXT_MAX];
    int peer;
    uint64_t size;
    x400_rtse_priority prio;
    int state;
    uint32_t attempts;          /* transfer attempts that failed */
    uint32_t msg_failures;      /* ... of them with the association still up */
    uint64_t next_try;          /* monotonic ms */
    struct conn *on;
    int held;                   /* `x400mta hold`: not sent until released (spool file `holds`) */
} qmsg;

typedef struct mta mta;

/* What a connection counts for (account()): per peer and in all. */
enum { CNT_ALIVE = 1, CNT_OUT = 2, CNT_OPENING = 4, CNT_SENDER = 8, CNT_OPEN = 16, CNT_WAITING = 32 };

typedef struct conn {
    struct conn *next, *prev;   /* m->conns: every conn object */
    mta *m;
    /* Scale (doc/mta.md): a loop turn looks only at the connections that
     * had events (touched), whose deadline came (tm), that are dying, or
     * that can send for a peer with APDUs ready -- never at all of them. */
    mta_timer tm;               /* earliest of link timer, idle release, release answer, recovery grace */
    struct conn *touch_next;    /* m->touched: to settle at the end of the turn */
    int touched;
    struct conn *dying_next;    /* m->dying: dead, to free once nothing is pending */
    int dying;
    unsigned counted;           /* CNT_* as last accounted */
    int cpeer;                  /* the peer it was accounted under */
    struct conn *s_prev, *s_next; /* its peer's senders (CNT_SENDER) */
    struct conn *w_prev, *w_next; /* m->waiting: inbound, waiting for the peer to recover it */
    int freed;                  /* unlinked by reap, freed after its graveyard pass */
    struct grave *kept;         /* retired associations it still held at the last check */
    unsigned id;                /* for logs: "assoc #n" */
    int outbound;
    int peer;                   /* -1 until bound (inbound) */
    x400_p1_link *link;
    x400_assoc *assoc;          /* current association (NULL while none) */
    x400_lpi_handle h;
    int have_h;
    int bound, dead, connecting, confirm, closing;
    int opened;                 /* outbound: its first association was made */
    /* inbound: its RTSE receiver record on the disk (spool rtse/), so that
     * a transfer cut by a restart resumes (x400_p1_link_restore) */
    mta_spool_rtse rt;
    int rt_erase;               /* COMPLETED: erased once the APDU is durable */
    int restored;               /* restored at start-up, not yet recovered */
    uint64_t restored_until;    /* its record's expiry (mono ms) */
    size_t restored_octets;
    int closing_for_suspend;    /* suspend(): ended by it, its handle to close */
    int stop_abort;             /* aborted by a stopping MTA (RT-U-ABORT): no warning */
    uint64_t idle_since, close_deadline;
    uint64_t waiting_since;     /* inbound: waiting for the peer to recover it */
    size_t inflight;
    /* inbound, until bound: in the manager's unbound list (accept order)
     * and counted for its source address (mta_guard) */
    char src[MTA_GUARD_ADDR_MAX];
    uint64_t accepted_at;
    int unbound;
    struct conn *un_prev, *un_next;
    uint64_t recheck;           /* busy when its idle timer came: looked at again then */
} conn;

typedef struct peerst {
    qmsg *head, *tail;
    size_t waiting, active;
    size_t n_out, n_opening, n_senders;   /* live outbound conns, of them not bound, conns that can send */
    struct conn *senders;                 /* CNT_SENDER conns of this peer */
    uint32_t open_failures;
    uint64_t next_open;
} peerst;

typedef struct stats {
    uint64_t submitted, received, delivered, duplicates, reports_received, reports_sent,
        transferred, ndr_generated, assoc_opened, aborts, recoveries, bind_refused, relayed,
        commits, checkpoints, quarantined;
    uint64_t durable_delivered, first_durable_ms, last_durable_ms; /* deliveries made durable */
    /* hostile or broken peers */
    uint64_t conn_refused, bind_timeouts, unbound_evicted, bind_backoffs;
    uint64_t peer_busy;         /* our binds answered busy (not failed attempts) */
    /* connections the loop looked at (one per connection and visit): the
     * work of the loop, which must follow the activity, not the count held */
    uint64_t conn_visits;
    /* RTSE receiver records (spool rtse/): saved, restored at start-up,
     * refused (corrupt, stale, unknown peer), resumed by their peer, and
     * the octets the resumed transfers did not need again */
    uint64_t rtse_saved, rtse_restored, rtse_refused, rtse_resumed, rtse_octets_kept;
} stats;

/* What this loop turn staged: queue files to index and transfers to
 * confirm once the batch is durable. */
typedef struct staged_q {
    char name[128];
    mta_spool_hdr h;
} staged_q;

typedef struct pend {
    staged_q *q;
    size_t nq, capq;
    struct conn **confirm;
    size_t nconfirm, capconfirm;
    uint64_t delivered;         /* st.delivered when the batch was closed */
    size_t submits;             /* submit/ files whose removal it holds */
} pend;

struct mta {
    const mta_config *cfg;
    mta_log lg;
    x400_logger liblog;
    mta_spool *sp;
    x400_p1_idset *seen;
    x400_mtsid_alloc *ids;
    x400_mtsid_cursor cur;
    x400_driver *drv;
    x400_p1_peer peertab[MTA_MAX_PEERS];
    x400_p1_peer_table table;
    peerst ps[MTA_MAX_PEERS];
    conn *conns;
    size_t nconns;              /* conn objects */
    /* associations the driver let go, freed once no link holds them: each
     * with the conn that had it (the only one that can still hold it) */
    struct grave { x400_assoc *a; struct conn *owner; struct grave *next; } *graveyard;
    size_t ngrave;              /* in the graveyard and kept by their owners */
    mta_guard *guard;
    conn *un_head, *un_tail;    /* inbound connections not yet bound, oldest first */
    size_t nunbound;
    uint64_t last_guard_expire, last_housekeep;
    mta_timers timers;          /* conns by deadline */
    conn *touched, *dying, *waiting;
    size_t nalive, nopen;       /* conns not dead; of them bound */
    mta_ratelog rl_timeout, rl_evict;
    mta_srclog garbage;         /* protocol garbage: lines per source and interval */
    unsigned next_conn_id;
    uint64_t start_ms, last_checkpoint, last_snapshot, last_pickup;
    stats st;
    int stopping;
    uint64_t stop_since;  /* when the stop began (mono ms) */
    int suspended;      /* the spool failed (full disk, I/O error): nothing is
                           accepted until it is reopened (try_resume) */
    uint64_t next_resume;
    unsigned resume_tries;
    mta_config *own;    /* the configuration in force (m->cfg), replaced by SIGHUP */
    mta_reload_fn reload;
    void *reload_user;
    char err[512];
    pend pd;            /* the batch being staged */
    pend pdf;           /* the batch in flight (mta_spool_commit_async), if inflight */
    int inflight;
    /* the checkpoint in flight (mta_spool_checkpoint_async): the received-
     * MTSID set as it was at its start, freed once it is reported */
    uint8_t *ckpt_blob;
    size_t ckpt_len;
    int ckpt_inflight;
    int wake[2];        /* the spool's writer thread -> the loop (x400_driver_set_wake_fd) */
    mta_heap heap;      /* live bytes of the links, associations, driver, MTSID set, conns */
};

static volatile sig_atomic_t got_signal, got_hup;
static void on_signal(int sig) { got_signal = sig; }

void mta_block_stop_signals(int block)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}
static void on_hup(int sig) { got_hup = sig; }

/* A start-up failure: logged, and on stderr as well when the log is a file
 * (the operator starting the MTA sees why it did not start). */
static void startup_fail(mta *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void startup_fail(mta *m, const char *fmt, ...)
{
    char t[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    mta_logf(&m->lg, MTA_LOG_SERVICE, X400_LOG_ERROR, "%s", t);
    if (m->lg.f != stderr) fprintf(stderr, "x400mta: %s\n", t);
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

#define LOG(m, cat, lvl, ...) mta_logf(&(m)->lg, cat, lvl, __VA_ARGS__)
#define SVC MTA_LOG_SERVICE
#define IFC MTA_LOG_INTERFACE

static const char *peer_name(const mta *m, int p)
{
    return p >= 0 ? m->cfg->peers[p].name : "(unbound)";
}

static int peer_index(const mta *m, const char *name)
{
    for (size_t i = 0; i < m->cfg->npeers; i++)
        if (!strcmp(m->cfg->peers[i].name, name)) return (int)i;
    return -1;
}

/* A file name for an MTSID: the text form with every character outside
 * [A-Za-z0-9.-] replaced, plus a short hash (distinct ids never collide
 * into one name in practice; a collision would only make a duplicate). */
static void id_name(const char *prefix, const char *mtsid, const char *suffix, char *out, size_t cap)
{
    char s[X400_MTSID_TEXT_MAX];
    uint32_t h = 2166136261u;
    size_t i, o = 0;
    for (i = 0; mtsid[i] && o + 1 < sizeof s; i++) {
        unsigned char c = (unsigned char)mtsid[i];
        h = (h ^ c) * 16777619u;
        if (c == '[' || c == ']') continue;
        s[o++] = (char)((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '.' || c == '-'
                            ? c
                            : '_');
    }
    s[o] = 0;
    snprintf(out, cap, "%s%s-%08x%s%s", prefix, s, (unsigned)h, suffix[0] ? "-" : "", suffix);
}

static const char *prio_text(int p)
{
    return p == X400_PRIO_URGENT ? "urgent" : p == X400_PRIO_NON_URGENT ? "non-urgent" : "normal";
}

static x400_rtse_priority rtse_prio_of(const char *t)
{
    return !strcmp(t, "urgent") ? X400_RTSE_PRIO_URGENT
           : !strcmp(t, "non-urgent") ? X400_RTSE_PRIO_NON_URGENT
                                      : X400_RTSE_PRIO_NORMAL;
}

/* ---------------------------------------------------------------- queue */

static void q_link(mta *m, qmsg *q)
{
    peerst *p = &m->ps[q->peer];
    q->next = NULL;
    q->prev = p->tail;
    if (p->tail) p->tail->next = q;
    else p->head = q;
    p->tail = q;
    if (q->state == Q_WAIT) p->waiting++;
    else p->active++;
}

static void q_unlink(mta *m, qmsg *q)
{
    peerst *p = &m->ps[q->peer];
    if (q->prev) q->prev->next = q->next;
    else p->head = q->next;
    if (q->next) q->next->prev = q->prev;
    else p->tail = q->prev;
    if (q->state == Q_WAIT) p->waiting--;
    else p->active--;
}

static void q_set_state(mta *m, qmsg *q, int st)
{
    peerst *p = &m->ps[q->peer];
    if (q->state == st) return;
    if (q->state == Q_WAIT) p->waiting--;
    else p->active--;
    q->state = st;
    if (st == Q_WAIT) p->waiting++;
    else p->active++;
}

/* Index a durable queue file (at start-up, or after the commit that wrote it). */
static void q_add(mta *m, const char *name, const mta_spool_hdr *h)
{
    int p = peer_index(m, h->peer);
    qmsg *q;
    if (p < 0) {
        LOG(m, SVC, X400_LOG_ERROR, "queue file %s names unknown peer \"%s\": left in the queue",
            name, h->peer);
        return;
    }
    q = calloc(1, sizeof *q);
    if (!q) return;
    snprintf(q->name, sizeof q->name, "%s", name);
    snprintf(q->mtsid, sizeof q->mtsid, "%s", h->mtsid);
    q->peer = p;
    q->size = h->size;
    q->prio = rtse_prio_of(h->priority);
    q_link(m, q);
}

static int pend_q(mta *m, const char *name, const mta_spool_hdr *h)
{
    if (m->pd.nq == m->pd.capq) {
        size_t c = m->pd.capq ? m->pd.capq * 2 : 64;
        staged_q *n = realloc(m->pd.q, c * sizeof *n);
        if (!n) return -1;
        m->pd.q = n;
        m->pd.capq = c;
    }
    snprintf(m->pd.q[m->pd.nq].name, sizeof m->pd.q[m->pd.nq].name, "%s", name);
    m->pd.q[m->pd.nq++].h = *h;
    return 0;
}

static int pend_confirm(mta *m, conn *c)
{
    if (c->confirm) return 0;
    if (m->pd.nconfirm == m->pd.capconfirm) {
        size_t n = m->pd.capconfirm ? m->pd.capconfirm * 2 : 16;
        conn **x = realloc(m->pd.confirm, n * sizeof *x);
        if (!x) return -1;
        m->pd.confirm = x;
        m->pd.capconfirm = n;
    }
    c->confirm = 1;
    m->pd.confirm[m->pd.nconfirm++] = c;
    return 0;
}

/* ---------------------------------------------------------------- headers */

static void hdr_of_apdu(const x400_p1_apdu *a, mta_spool_hdr *h)
{
    memset(h, 0, sizeof *h);
    x400_mtsid_format(x400_p1_apdu_id(a), h->mtsid, sizeof h->mtsid);
    if (a->kind == X400_P1_REPORT) {
        snprintf(h->kind, sizeof h->kind, "report");
        x400_mtsid_format(&a->report.subject, h->subject, sizeof h->subject);
        snprintf(h->subject_content_id, sizeof h->subject_content_id, "%s", a->report.content_id);
        if (a->report.n_recip) {
            const x400_p1_report_recipient *r = &a->report.recip[0];
            if (r->delivered) snprintf(h->outcome, sizeof h->outcome, "delivered");
            else snprintf(h->outcome, sizeof h->outcome, "non-delivered %d/%d", r->reason, r->diagnostic);
        }
        x400_orname_format(&a->report.destination, h->recipient[0], sizeof h->recipient[0]);
        h->nrecipient = 1;
        snprintf(h->priority, sizeof h->priority, "normal");
        return;
    }
    snprintf(h->kind, sizeof h->kind, a->kind == X400_P1_PROBE ? "probe" : "message");
    snprintf(h->content_id, sizeof h->content_id, "%s", a->env.content_id);
    x400_orname_format(&a->env.originator, h->originator, sizeof h->originator);
    for (unsigned i = 0; i < a->env.n_recip && h->nrecipient < MTA_SPOOL_RECIP_MAX; i++)
        x400_orname_format(&a->env.recip[i].name, h->recipient[h->nrecipient++], MTA_ADDR_MAX);
    snprintf(h->priority, sizeof h->priority, "%s", prio_text(a->env.priority));
    for (unsigned i = 0; i < a->env.n_recip; i++)
        if (a->env.recip[i].indicators & (X400_PRI_ORIGINATOR_REPORT | X400_PRI_ORIGINATING_MTA_REPORT))
            h->report_request = 1;
}

/* ---------------------------------------------------------------- routing */

/* Stage an encoded APDU for the peer serving `dest` (or the local inbox). */
static int new_id(mta *m, x400_mtsid *id)
{
    int rv = x400_mtsid_next(&m->cur, id);
    if (rv < 0) mta_log_diag(&m->lg, X400_LOG_ERROR, "MTSID allocation", x400_mtsid_cursor_diag(&m->cur));
    return rv;
}

/* stage_out: the APDU is above the peer's transfer bound, nothing staged */
#define STAGE_TOO_LONG 1

/* 0 staged, STAGE_TOO_LONG, or -1 (encoding or the spool failed). */
static int stage_out(mta *m, const x400_p1_apdu *a, int peer, const char *why)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    x400_diag d;
    mta_spool_hdr h;
    char name[128];
    int rv;
    memset(&d, 0, sizeof d);
    if ((rv = x400_p1_encode_alloc(a, NULL, &buf, &len, &d)) < 0) {
        mta_log_diag(&m->lg, X400_LOG_ERROR, "encoding an APDU for the queue", &d);
        return rv;
    }
    if ((uint64_t)len > m->cfg->peers[peer].rtse.max_apdu_size || len > MTA_SPOOL_FILE_MAX) {
        /* queued, it would block the peer's queue: the caller non-delivers */
        LOG(m, SVC, X400_LOG_WARNING, "%s of %zu octets is above the transfer bound of %s (%llu octets): "
            "not queued", a->kind == X400_P1_REPORT ? "report" : "message", len, m->cfg->peers[peer].name,
            (unsigned long long)m->cfg->peers[peer].rtse.max_apdu_size);
        free(buf);
        return STAGE_TOO_LONG;
    }
    hdr_of_apdu(a, &h);
    snprintf(h.peer, sizeof h.peer, "%s", m->cfg->peers[peer].name);
    h.time_ms = wall_ms();
    h.size = len;
    id_name(a->kind == X400_P1_REPORT ? "r-" : "m-", h.mtsid, m->cfg->peers[peer].name, name, sizeof name);
    rv = mta_spool_stage_file(m->sp, MTA_SPOOL_QUEUE, name, &h, buf, len);
    free(buf);
    if (rv < 0 || pend_q(m, name, &h) < 0) return -1;
    LOG(m, SVC, X400_LOG_INFO, "queued %s %s for %s (%s, %zu octets)", h.kind, h.mtsid,
        m->cfg->peers[peer].name, why, len);
    return 0;
}

static int stage_inbox(mta *m, const x400_p1_apdu *a, const uint8_t *raw, size_t len, const char *from)
{
    mta_spool_hdr h;
    char name[128];
    hdr_of_apdu(a, &h);
    snprintf(h.peer, sizeof h.peer, "%s", from);
    h.time_ms = wall_ms();
    h.size = len;
    id_name(a->kind == X400_P1_REPORT ? "r-" : "m-", h.mtsid, "", name, sizeof name);
    if (mta_spool_stage_file(m->sp, MTA_SPOOL_INBOX, name, &h, raw, len) < 0) return -1;
    if (a->kind == X400_P1_REPORT) {
        m->st.reports_received++;
        LOG(m, SVC, X400_LOG_INFO, "report %s on %s (content-id %s): %s", h.mtsid, h.subject,
            h.subject_content_id[0] ? h.subject_content_id : "-", h.outcome);
    } else {
        m->st.delivered++;
        LOG(m, SVC, X400_LOG_INFO, "delivered %s %s from %s (content-id %s, %zu octets)", h.kind,
            h.mtsid, from, h.content_id[0] ? h.content_id : "-", len);
    }
    return 0;
}

/* Text for a PrintableString (supplementary information, X.411 12.2.1.1.1.5):
 * ';' becomes '/', any other character outside the PrintableString set
 * '?', and the text is cut at `cap` - 1 (X400_SUPPLEMENTARY_MAX) -- it is
 * informative text, never an address that must survive. */
static void printable_fit(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 1 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 (c && strchr(" '()+,-./:=?", c));
        out[o++] = ok ? (char)c : c == ';' ? '/' : '?';
    }
    out[o] = 0;
}

/* A report on `subj` (delivered or not) goes back to its originator.
 * A report that cannot be built is logged and dropped: never a reason to
 * refuse (or abort the association of) the message it reports on.  -1
 * only when staging fails (the spool: nothing of the turn is confirmed). */
static int send_report(mta *m, const x400_p1_apdu *subj, const x400_p1_outcome *oc, size_t n,
                       const char *why)
{
    x400_p1_apdu rep;
    x400_mtsid rid;
    x400_diag d;
    const mta_peer_config *pc = NULL;
    int rv, local;
    int64_t now = (int64_t)(wall_ms() / 1000);
    memset(&d, 0, sizeof d);
    if (new_id(m, &rid) < 0) return 0;
    rv = x400_p1_report_build(&rep, subj, &rid, &m->cfg->gdi, now, now, oc, n, NULL, &d);
    if (rv < 0) {
        mta_log_diag(&m->lg, X400_LOG_ERROR, "building a report (dropped)", &d);
        return 0;
    }
    local = mta_config_route(m->cfg, &rep.report.destination, &pc);
    if (local == 1) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (x400_p1_encode_alloc(&rep, NULL, &buf, &len, &d) < 0) {
            mta_log_diag(&m->lg, X400_LOG_ERROR, "encoding a report (dropped)", &d);
            rv = 0;
        } else {
            rv = stage_inbox(m, &rep, buf, len, m->cfg->name);
        }
        free(buf);
    } else if (pc) {
        rv = stage_out(m, &rep, (int)(pc - m->cfg->peers), why);
        if (rv >= 0) m->st.reports_sent++;
    } else {
        char t[MTA_ADDR_MAX];
        x400_orname_format(&rep.report.destination, t, sizeof t);
        LOG(m, SVC, X400_LOG_WARNING, "no route for the report's destination %s: report dropped", t);
        rv = 0;
    }
    x400_p1_apdu_free(&rep);
    return rv;
}

/* Every recipient of `subj` non-delivered for one reason. */
static int non_deliver(mta *m, const x400_p1_apdu *subj, int reason, int diagnostic, const char *text)
{
    x400_p1_outcome oc[MTA_SPOOL_RECIP_MAX];
    size_t n = subj->env.n_recip < MTA_SPOOL_RECIP_MAX ? subj->env.n_recip : MTA_SPOOL_RECIP_MAX;
    char id[X400_MTSID_TEXT_MAX], sup[X400_SUPPLEMENTARY_MAX + 1];
    printable_fit(text, sup, sizeof sup);
    for (size_t i = 0; i < n; i++) {
        memset(&oc[i], 0, sizeof oc[i]);
        oc[i].recip = (unsigned)i;
        oc[i].delivered = 0;
        oc[i].reason = reason;
        oc[i].diagnostic = diagnostic;
        oc[i].supplementary = sup[0] ? sup : NULL;
    }
    x400_mtsid_format(&subj->env.id, id, sizeof id);
    LOG(m, SVC, X400_LOG_WARNING, "non-delivery of %s: %s", id, text);
    m->st.ndr_generated++;
    return send_report(m, subj, oc, n, "non-delivery report");
}

/* Recipients of one message that cannot be served: one non-delivery
 * report for all of them, each with its own reason and text. */
typedef struct failset {
    x400_p1_outcome oc[MTA_SPOOL_RECIP_MAX];
    char text[MTA_SPOOL_RECIP_MAX][X400_SUPPLEMENTARY_MAX + 1];
    size_t n;
} failset;

static void fail_recip(failset *f, unsigned i, int reason, int diagnostic, const char *text)
{
    x400_p1_outcome *o = &f->oc[f->n];
    memset(o, 0, sizeof *o);
    o->recip = i;
    o->reason = reason;
    o->diagnostic = diagnostic;
    printable_fit(text, f->text[f->n], sizeof f->text[f->n]);
    o->supplementary = f->text[f->n][0] ? f->text[f->n] : NULL;
    f->n++;
}

/* This MTA's InternalTraceInformationElement for an APDU it relays (X.411
 * 12.2.1.1.1.x internal-trace-information, extension 38): its GDI and
 * name, the arrival time, action relayed. */
static void own_itrace(const mta *m, x400_p1_itrace *it)
{
    x400_p1_itrace_init(it);
    it->gdi = m->cfg->gdi;
    snprintf(it->mta, sizeof it->mta, "%s", m->cfg->name);
    it->arrival = (int64_t)(wall_ms() / 1000);
    it->routing_action = X400_ROUTE_RELAYED;
}

/* 1 when two GDIs name the same management domain (the library's
 * comparison of MTSIdentifier GDIs). */
static int same_domain(const x400_gdi *a, const x400_gdi *b)
{
    x400_mtsid x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    x.gdi = *a;
    y.gdi = *b;
    return x400_mtsid_equal(&x, &y);
}

/* Trace-information (X.411 12.2.1.1.1.3, TraceInformationElement): each
 * management domain a message, probe or report passes through documents
 * itself once, on entry.  An APDU from a peer whose last element names
 * another domain has just entered this MTA's: the element of this domain
 * is appended {GDI, arrival now, relayed}.  The other MTAs of the domain
 * find their own domain last and add none; the originating domain's
 * element is the one made at submission (build_submission) or with the
 * report (x400_p1_report_build).  X400_OK, X400_ERR_LIMIT (the trace
 * holds ub-transfers elements already: it went round, the caller treats
 * it as a loop), X400_ERR_NOMEM. */
static int domain_entry_trace(const mta *m, x400_p1_apdu *a)
{
    int rep = a->kind == X400_P1_REPORT;
    const x400_p1_trace *tr = rep ? a->report.trace : a->env.trace;
    unsigned n = rep ? a->report.n_trace : a->env.n_trace;
    x400_p1_trace t;
    if (n && same_domain(&tr[n - 1].gdi, &m->cfg->gdi)) return 0;
    x400_p1_trace_init(&t);
    t.gdi = m->cfg->gdi;
    t.arrival = (int64_t)(wall_ms() / 1000);
    t.routing_action = X400_ROUTE_RELAYED;
    return x400_p1_trace_append(a, &t);
}

/* Queue a relayed APDU (or a submitted message) for peer p.  Into another
 * management domain (the peer's `domain`) it goes without internal trace:
 * X.411 12.2.1.1.1.4 internal-trace-information documents the MTAs of one
 * domain and is removed when the APDU leaves it (so is it in PP and RFC
 * 1138's mapping); the domain's passage stays in trace-information.  The
 * APDU itself keeps its elements for the other copies. */
static int stage_relayed(mta *m, x400_p1_apdu *a, int p, const char *why)
{
    const mta_peer_config *pc = &m->cfg->peers[p];
    unsigned *n = a->kind == X400_P1_REPORT ? &a->report.n_itrace : &a->env.n_itrace;
    unsigned keep = *n;
    int rv;
    if (pc->domain.country[0] && !same_domain(&pc->domain, &m->cfg->gdi)) *n = 0;
    rv = stage_out(m, a, p, why);
    *n = keep;
    return rv;
}

/* A message (or probe) accepted from a peer or by submission: deliver the
 * local recipients, relay the others per peer, non-deliver the unroutable
 * ones and those above their next hop's transfer bound (one report to the
 * originator; the other recipients are served).  -1 only when the spool
 * cannot stage (nothing of this turn is then confirmed). */
static int route_message(mta *m, x400_p1_apdu *a, const uint8_t *raw, size_t raw_len, const char *from,
                         int from_peer)
{
    unsigned n = a->env.n_recip, i;
    int local_any = 0, rv = 0;
    int route_of[MTA_SPOOL_RECIP_MAX];
    x400_p1_outcome dr[MTA_SPOOL_RECIP_MAX];
    size_t ndr = 0;
    failset *fs;
    if (n > MTA_SPOOL_RECIP_MAX) n = MTA_SPOOL_RECIP_MAX;
    if (x400_p1_loop_check(a, &m->cfg->gdi, m->cfg->name) > 0)
        return non_deliver(m, a, X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_LOOP_DETECTED, "routing loop");
    /* after the loop check, which reads the trace as it came; the inbox
     * keeps the octets as received */
    if (from_peer >= 0 && (rv = domain_entry_trace(m, a)) < 0)
        return rv == X400_ERR_LIMIT ? non_deliver(m, a, X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_LOOP_DETECTED,
                                                  "routing loop (trace full)")
                                    : -1;
    if (!(fs = calloc(1, sizeof *fs))) return -1;
    for (i = 0; i < n; i++) {
        const mta_peer_config *pc = NULL;
        int r = mta_config_route(m->cfg, &a->env.recip[i].name, &pc);
        route_of[i] = r == 1 ? -1 : pc ? (int)(pc - m->cfg->peers) : -2;
        if (route_of[i] == from_peer && from_peer >= 0) route_of[i] = -2; /* would bounce back */
        if (route_of[i] == -1) {
            local_any = 1;
            if (a->kind == X400_P1_MESSAGE &&
                (a->env.recip[i].indicators & (X400_PRI_ORIGINATOR_REPORT | X400_PRI_ORIGINATING_MTA_REPORT))) {
                memset(&dr[ndr], 0, sizeof dr[ndr]);
                dr[ndr].recip = i;
                dr[ndr].delivered = 1;
                dr[ndr].time = (int64_t)(wall_ms() / 1000);
                dr[ndr].diagnostic = -1;
                ndr++;
            }
        }
        if (route_of[i] == -2) {
            char t[MTA_ADDR_MAX], why[MTA_ADDR_MAX + 16];
            x400_orname_format(&a->env.recip[i].name, t, sizeof t);
            snprintf(why, sizeof why, "no route to %s", t);
            LOG(m, SVC, X400_LOG_WARNING, "%s", why);
            fail_recip(fs, i, X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_UNRECOGNISED_ORNAME, why);
        }
    }
    if (local_any && a->kind == X400_P1_MESSAGE) {
        uint8_t *buf = NULL;
        size_t len = raw_len;
        x400_diag d;
        if (!raw) { /* submitted here: the inbox gets the encoded message */
            if (x400_p1_encode_alloc(a, NULL, &buf, &len, &d) < 0) goto fail;
            raw = buf;
        }
        rv = stage_inbox(m, a, raw, len, from);
        free(buf);
        if (rv < 0) goto fail;
        if (ndr && send_report(m, a, dr, ndr, "delivery report") < 0) goto fail;
    } else if (local_any && a->kind == X400_P1_PROBE && ndr) {
        if (send_report(m, a, dr, ndr, "probe report") < 0) goto fail;
    }
    /* relay: one copy per next-hop peer with that peer's recipients, each
     * with this MTA's internal trace element (X.411 InternalTraceInformation) once:
     * the element is appended before the first copy and kept for the
     * others, not appended again per copy */
    unsigned n_itrace = a->env.n_itrace;
    for (int p = 0; p < (int)m->cfg->npeers; p++) {
        x400_p1_recipient sub[MTA_SPOOL_RECIP_MAX];
        unsigned k = 0;
        for (i = 0; i < n; i++)
            if (route_of[i] == p) sub[k++] = a->env.recip[i];
        if (!k) continue;
        {
            const x400_p1_recipient *keep = a->env.recip;
            unsigned keepn = a->env.n_recip;
            x400_p1_itrace it;
            own_itrace(m, &it);
            if (from_peer >= 0 && a->env.n_itrace == n_itrace && x400_p1_itrace_append(a, &it) < 0)
                goto fail;
            a->env.recip = sub;
            a->env.n_recip = k;
            rv = stage_relayed(m, a, p, from_peer >= 0 ? "relayed" : "submitted");
            a->env.recip = keep;
            a->env.n_recip = keepn;
            if (rv < 0) goto fail;
            if (rv == STAGE_TOO_LONG) {
                char why[128];
                snprintf(why, sizeof why, "content too long for MTA %s (transfer bound %llu octets)",
                         m->cfg->peers[p].name, (unsigned long long)m->cfg->peers[p].rtse.max_apdu_size);
                for (i = 0; i < n; i++)
                    if (route_of[i] == p)
                        fail_recip(fs, i, X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_CONTENT_TOO_LONG, why);
                continue;
            }
            if (from_peer >= 0) m->st.relayed++;
        }
    }
    if (fs->n) {
        char id[X400_MTSID_TEXT_MAX];
        x400_mtsid_format(&a->env.id, id, sizeof id);
        LOG(m, SVC, X400_LOG_WARNING, "non-delivery of %s to %zu of its %u recipients: %s", id, fs->n, n,
            fs->text[0]);
        m->st.ndr_generated++;
        if (send_report(m, a, fs->oc, fs->n, "non-delivery report") < 0) goto fail;
    }
    free(fs);
    return 0;
fail:
    free(fs);
    return -1;
}

/* ---------------------------------------------------------------- pickup */

/* Build the P1 message for a submission file. */
static int build_submission(mta *m, const mta_spool_hdr *h, const uint8_t *body, size_t len,
                            x400_p1_apdu *a, x400_p1_recipient *rc, x400_p1_trace *tr)
{
    x400_diag d;
    x400_p1_apdu_init(a, X400_P1_MESSAGE, NULL);
    if (new_id(m, &a->env.id) < 0) return -1;
    if (x400_orname_parse(h->originator, strlen(h->originator), &a->env.originator, &d) < 0) {
        mta_log_diag(&m->lg, X400_LOG_ERROR, "submission originator", &d);
        return -1;
    }
    for (size_t i = 0; i < h->nrecipient; i++) {
        x400_p1_recipient_init(&rc[i]);
        if (x400_orname_parse(h->recipient[i], strlen(h->recipient[i]), &rc[i].name, &d) < 0) {
            mta_log_diag(&m->lg, X400_LOG_ERROR, "submission recipient", &d);
            return -1;
        }
        rc[i].osrn = (uint32_t)i + 1;
        rc[i].indicators = X400_PRI_RESPONSIBILITY |
                           (h->report_request ? X400_PRI_ORIGINATOR_REPORT | X400_PRI_ORIGINATING_MTA_REPORT
                                              : X400_PRI_ORIGINATOR_NDR | X400_PRI_ORIGINATING_MTA_NDR);
    }
    a->env.n_recip = (unsigned)h->nrecipient;
    a->env.recip = rc;
    a->env.content_type.builtin = X400_CT_P2_1988;
    snprintf(a->env.content_id, sizeof a->env.content_id, "%s", h->content_id);
    a->env.priority = !strcmp(h->priority, "urgent")       ? X400_PRIO_URGENT
                      : !strcmp(h->priority, "non-urgent") ? X400_PRIO_NON_URGENT
                                                           : X400_PRIO_NORMAL;
    x400_p1_trace_init(tr);
    tr->gdi = m->cfg->gdi;
    tr->arrival = (int64_t)(h->time_ms / 1000);
    tr->routing_action = X400_ROUTE_RELAYED;
    a->env.n_trace = 1;
    a->env.trace = tr;
    a->content.p = body;
    a->content.len = len;
    return 0;
}

static void pickup(mta *m)
{
    char **names = NULL;
    long n = mta_spool_list(m->sp, MTA_SPOOL_SUBMIT, &names, m->err, sizeof m->err);
    if (n < 0) {
        LOG(m, SVC, X400_LOG_ERROR, "submit directory: %s", m->err);
        return;
    }
    for (long i = 0; i < n && i < PICKUP_BATCH; i++) {
        mta_spool_hdr h;
        uint8_t *body = NULL;
        size_t len = 0;
        x400_p1_apdu a;
        x400_p1_recipient rc[MTA_SPOOL_RECIP_MAX];
        x400_p1_trace tr;
        char id[X400_MTSID_TEXT_MAX];
        if (mta_spool_read(m->sp, MTA_SPOOL_SUBMIT, names[i], &h, &body, &len, m->err, sizeof m->err) < 0) {
            LOG(m, SVC, X400_LOG_ERROR, "submission %s refused: %s", names[i], m->err);
            if (mta_spool_stage_unlink(m->sp, MTA_SPOOL_SUBMIT, names[i]) == 0) m->pd.submits++;
            continue;
        }
        size_t mark = mta_spool_staged(m->sp), qmark = m->pd.nq;
        int kept = 0;
        memset(&a, 0, sizeof a);
        if (build_submission(m, &h, body, len, &a, rc, &tr) == 0) {
            x400_mtsid_format(&a.env.id, id, sizeof id);
            if (route_message(m, &a, NULL, 0, m->cfg->name, -1) < 0) {
                /* what it staged goes; the file stays for the next turn, so
                 * the submission is removed only in the batch that makes its
                 * message and every report it produced durable */
                mta_spool_unstage(m->sp, mark);
                m->pd.nq = qmark;
                LOG(m, SVC, X400_LOG_WARNING, "submission %s could not be queued now (%s): kept for "
                    "the next attempt", names[i], strerror(errno));
                kept = 1;
            } else {
                LOG(m, SVC, X400_LOG_INFO, "submission %s accepted as %s (content-id %s, %zu octets)",
                    names[i], id, h.content_id[0] ? h.content_id : "-", len);
                m->st.submitted++;
            }
        } else {
            LOG(m, SVC, X400_LOG_ERROR, "submission %s refused (see above)", names[i]);
        }
        a.env.recip = NULL;
        a.env.n_recip = 0;
        a.env.trace = NULL;
        a.env.n_trace = 0;
        a.content.p = NULL;
        x400_p1_apdu_free(&a);
        free(body);
        if (kept) break;
        if (mta_spool_stage_unlink(m->sp, MTA_SPOOL_SUBMIT, names[i]) < 0) {
            mta_spool_unstage(m->sp, mark); /* the file stays: picked up again */
            m->pd.nq = qmark;
            break;
        }
        m->pd.submits++;
    }
    mta_spool_names_free(names, n);
}

/* ---------------------------------------------------------------- conns */

/* An association with peer p could not be opened: the next attempt after
 * open-interval, and every APDU waiting for it counts one more attempt
 * (the `queue` listing shows them). */
static void open_failed(mta *m, int p)
{
    m->ps[p].open_failures++;
    m->ps[p].next_open = mono_ms() + (uint64_t)m->cfg->peers[p].open_interval_s * 1000u;
    for (qmsg *q = m->ps[p].head; q; q = q->next)
        if (q->state == Q_WAIT) q->attempts++;
}

/* ---------------------------------------------------------------- scale */

/* c had an event, was given work or changed: settled (accounted, its
 * deadline set, its output flagged to the driver) at the end of the turn. */
static void touch(mta *m, conn *c)
{
    if (c->touched || c->freed) return;
    c->touched = 1;
    c->touch_next = m->touched;
    m->touched = c;
}

static int can_send(const mta *m, const conn *c);

static void sender_link(mta *m, conn *c, int on)
{
    peerst *p = &m->ps[c->cpeer];
    if (on) {
        c->s_prev = NULL;
        c->s_next = p->senders;
        if (p->senders) p->senders->s_prev = c;
        p->senders = c;
        p->n_senders++;
        return;
    }
    if (c->s_prev) c->s_prev->s_next = c->s_next;
    else p->senders = c->s_next;
    if (c->s_next) c->s_next->s_prev = c->s_prev;
    c->s_prev = c->s_next = NULL;
    p->n_senders--;
}

static void waiting_link(mta *m, conn *c, int on)
{
    if (on) {
        c->w_prev = NULL;
        c->w_next = m->waiting;
        if (m->waiting) m->waiting->w_prev = c;
        m->waiting = c;
        return;
    }
    if (c->w_prev) c->w_prev->w_next = c->w_next;
    else m->waiting = c->w_next;
    if (c->w_next) c->w_next->w_prev = c->w_prev;
    c->w_prev = c->w_next = NULL;
}

#define CNT_PEER (CNT_OUT | CNT_OPENING | CNT_SENDER)

static void peer_count(mta *m, conn *c, unsigned f, int add)
{
    peerst *p = &m->ps[c->cpeer];
    if (f & CNT_OUT) p->n_out += add ? 1 : (size_t)-1;
    if (f & CNT_OPENING) p->n_opening += add ? 1 : (size_t)-1;
    if (f & CNT_SENDER) sender_link(m, c, add);
}

/* The counters and lists say what c is now (f = CNT_*; 0: forget it). */
static void account_as(mta *m, conn *c, unsigned f)
{
    unsigned was = c->counted;
    if ((was & CNT_PEER) != (f & CNT_PEER) || ((was & CNT_PEER) && c->cpeer != c->peer)) {
        if (was & CNT_PEER) peer_count(m, c, was & CNT_PEER, 0);
        c->cpeer = c->peer;
        if (f & CNT_PEER) peer_count(m, c, f & CNT_PEER, 1);
    }
    if ((was ^ f) & CNT_ALIVE) m->nalive += f & CNT_ALIVE ? 1 : (size_t)-1;
    if ((was ^ f) & CNT_OPEN) m->nopen += f & CNT_OPEN ? 1 : (size_t)-1;
    if ((was ^ f) & CNT_WAITING) waiting_link(m, c, !!(f & CNT_WAITING));
    c->counted = f;
}

/* What c counts for now; an inbound link waiting to be recovered by its
 * peer is noted (waiting_since). */
static unsigned flags_of(mta *m, conn *c, uint64_t now)
{
    unsigned f = CNT_ALIVE;
    uint8_t b[X400_P1_LINK_REF_MAX];
    size_t n;
    if (c->dead || c->freed) return 0;
    if (c->bound) f |= CNT_OPEN;
    if (c->outbound && c->peer >= 0) f |= CNT_OUT | (c->bound ? 0 : CNT_OPENING);
    if (can_send(m, c)) f |= CNT_SENDER;
    if (!c->outbound && c->peer >= 0 && c->link &&
        x400_p1_link_waiting_ref(c->link, b, sizeof b, &n) == X400_OK) {
        f |= CNT_WAITING;
        if (!c->waiting_since) c->waiting_since = now;
    } else {
        c->waiting_since = 0;
    }
    return f;
}

/* How long an inbound association holding our APDUs waits for its peer to
 * recover it (manage_conn). */
static uint64_t recovery_grace_ms(const mta_peer_config *pc)
{
    uint64_t grace = (uint64_t)pc->rtse.recovery_timeout_s * 1000u;
    return grace > 5000 ? 5000 : grace;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* When manage_conn must look at c next: its link's timer, the idle
 * release, the release answer, the recovery grace, a busy recheck. */
static uint64_t deadline_of(const mta *m, const conn *c, uint64_t now)
{
    uint64_t t = c->link ? x400_p1_link_next_timeout(c->link) : MTA_TIMER_NONE;
    const mta_peer_config *pc;
    if (!c->link || c->peer < 0) return t;
    pc = &m->cfg->peers[c->peer];
    if (c->recheck) t = min_u64(t, c->recheck);
    if (c->restored) t = min_u64(t, c->restored_until);
    if (!c->outbound && c->waiting_since && c->inflight)
        t = min_u64(t, c->waiting_since + recovery_grace_ms(pc) + 1);
    if (c->closing) t = min_u64(t, c->close_deadline + 1);
    else if (c->outbound && c->bound)
        t = min_u64(t, m->stopping ? now : c->idle_since + (uint64_t)pc->lifetime_s * 1000u + 1);
    else if (m->stopping && c->bound) { /* inbound: aborted once idle, after the grace */
        uint64_t at = m->stop_since + PEER_RELEASE_GRACE_MS;
        if (at <= now && (c->inflight || !x400_p1_link_is_idle(c->link)))
            at = now + BUSY_RECHECK_MS; /* busy: looked at again, not in every turn */
        t = min_u64(t, at);
    }
    return t;
}

static void graves_unkeep(mta *m, conn *c);

/* The end of a turn's work on the touched connections: counted, timed,
 * their output flagged to the driver; the dead ones wait in m->dying. */
static void settle(mta *m, uint64_t now)
{
    conn *retry = NULL;
    while (m->touched) {
        conn *c = m->touched;
        m->touched = c->touch_next;
        c->touched = 0;
        m->st.conn_visits++;
        graves_unkeep(m, c); /* it may have let go of one */
        account_as(m, c, flags_of(m, c, now));
        if (c->have_h) (void)x400_driver_want_write(m->drv, c->h);
        if (c->dead) {
            mta_timers_cancel(&m->timers, &c->tm);
            if (!c->dying) {
                c->dying = 1;
                c->dying_next = m->dying;
                m->dying = c;
            }
            continue;
        }
        if (mta_timers_set(&m->timers, &c->tm, deadline_of(m, c, now)) < 0) {
            LOG(m, IFC, X400_LOG_ERROR, "assoc #%u: out of memory for its timer: tried again", c->id);
            c->touch_next = retry;
            retry = c;
        }
    }
    while (retry) { /* next turn */
        conn *c = retry;
        retry = c->touch_next;
        touch(m, c);
    }
}

static void manage_conn(mta *m, conn *c, uint64_t now);

/* The connections whose deadline came. */
static void run_timers(mta *m, uint64_t now)
{
    mta_timer *t;
    while ((t = mta_timers_pop_due(&m->timers, now)) != NULL) {
        conn *c = (conn *)(void *)((char *)t - offsetof(conn, tm));
        m->st.conn_visits++;
        manage_conn(m, c, now);
        touch(m, c);
    }
}

static conn *conn_new(mta *m, int outbound, int peer)
{
    conn *c = mta_heap_calloc(&m->heap, 1, sizeof *c);
    if (!c) return NULL;
    m->nconns++;
    c->id = ++m->next_conn_id;
    c->m = m;
    c->outbound = outbound;
    c->peer = peer;
    c->idle_since = mono_ms();
    c->cpeer = -1;
    c->next = m->conns;
    if (m->conns) m->conns->prev = c;
    m->conns = c;
    touch(m, c);
    return c;
}

/* An association the driver no longer has: freed (reap) once no link
 * holds it. */
static void retire(mta *m, x400_assoc *a)
{
    conn *owner;
    struct grave *g;
    if (!a) return;
    owner = x400_assoc_get_user(a);
    if (!owner) return; /* retired before: users are set on every live one */
    x400_assoc_set_user(a, NULL);
    if (!(g = mta_heap_calloc(&m->heap, 1, sizeof *g))) { /* cannot remember it: leak it rather than free what a link may hold */
        LOG(m, IFC, X400_LOG_ERROR, "out of memory retiring an association");
        return;
    }
    g->a = a;
    g->owner = owner;
    g->next = m->graveyard;
    m->graveyard = g;
    m->ngrave++;
}

/* The retired associations c kept go back to the graveyard: checked (and
 * freed if c no longer holds them) in the next reap. */
static void graves_unkeep(mta *m, conn *c)
{
    while (c->kept) {
        struct grave *g = c->kept;
        c->kept = g->next;
        g->next = m->graveyard;
        m->graveyard = g;
    }
}

/* ---------------------------------------------------------------- admission */

static void unbound_remove(mta *m, conn *c)
{
    if (!c->unbound) return;
    if (c->un_prev) c->un_prev->un_next = c->un_next;
    else m->un_head = c->un_next;
    if (c->un_next) c->un_next->un_prev = c->un_prev;
    else m->un_tail = c->un_prev;
    c->un_prev = c->un_next = NULL;
    c->unbound = 0;
    m->nunbound--;
    mta_guard_unbound_done(m->guard, c->src, mono_ms());
}

static void unbound_add(mta *m, conn *c, const char *src, uint64_t now)
{
    snprintf(c->src, sizeof c->src, "%s", src);
    c->accepted_at = now;
    c->unbound = 1;
    c->un_prev = m->un_tail;
    c->un_next = NULL;
    if (m->un_tail) m->un_tail->un_next = c;
    else m->un_head = c;
    m->un_tail = c;
    m->nunbound++;
}

/* Close an inbound connection that has not bound (deadline, eviction). */
static void unbound_close(mta *m, conn *c)
{
    unbound_remove(m, c);
    c->dead = 1;
    touch(m, c);
    if (c->have_h) x400_driver_disconnect(m->drv, c->h); /* -> on_closed: retired */
}

/* Log a refusal or a closure at most once a second per kind. */
#define LOG_LIMITED(m, rl, now, lvl, fmt, ...)                                                     \
    do {                                                                                           \
        uint64_t left_out_;                                                                        \
        if (mta_ratelog_allow(rl, now, &left_out_))                                                \
            LOG(m, IFC, lvl, fmt " (%llu more like it in the last second)", __VA_ARGS__,          \
                (unsigned long long)left_out_);                                                    \
    } while (0)

/* ---------------------------------------------------------------- garbage logging */

/* The end of a source's interval in which lines were left out. */
static void garbage_summary(void *user, const char *src, uint64_t n, uint64_t start)
{
    mta *m = user;
    uint64_t now = mono_ms();
    LOG(m, IFC, X400_LOG_NOTICE, "protocol garbage from %s: %llu more suppressed in the last %llu s", src,
        (unsigned long long)n, (unsigned long long)((now - start + 999) / 1000));
}

/* May one more line of protocol garbage from `src` be logged?  (At most
 * garbage-log-lines per source per garbage-log-interval, mta_srclog.) */
static int garbage_allowed(mta *m, const char *src)
{
    return mta_srclog_allow(&m->garbage, src, mono_ms(), garbage_summary, m);
}

/* An inbound connection closed before its bind because of what the peer
 * sent (an undecodable TPKT, SPDU, PPDU or APDU: not a plain close, not
 * our deadline or eviction, not already logged as an abort or a refused
 * bind): logged at notice, within the source's limit. */
static void garbage_closed(mta *m, const conn *c, const x400_diag *why)
{
    if (c->dead || !why || why->source != X400_SOURCE_PEER || why->code == X400_ERR_CLOSED) return;
    if (!garbage_allowed(m, c->src)) return;
    LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u from %s closed before its bind: %s/%s: %s", c->id, c->src,
        x400_layer_name(why->layer), x400_strerror(why->code), why->text);
}

/* The bind deadline: inbound connections that did not bind in time. */
static void guard_tick(mta *m, uint64_t now)
{
    uint64_t limit = (uint64_t)m->cfg->lim.bind_timeout_s * 1000u;
    while (m->un_head && now - m->un_head->accepted_at >= limit) {
        conn *c = m->un_head;
        m->st.bind_timeouts++;
        LOG_LIMITED(m, &m->rl_timeout, now, X400_LOG_NOTICE,
                    "assoc #%u from %s: no bind within %u s: closed", c->id, c->src,
                    m->cfg->lim.bind_timeout_s);
        unbound_close(m, c);
    }
    mta_srclog_flush(&m->garbage, now, garbage_summary, m);
    if (now - m->last_guard_expire >= GUARD_EXPIRE_MS) {
        m->last_guard_expire = now;
        mta_guard_expire(m->guard, now);
    }
}

static int can_send(const mta *m, const conn *c)
{
    if (c->dead || !c->bound || c->closing || c->peer < 0 || !c->link) return 0;
    if (!x400_p1_link_is_bound(c->link) || x400_p1_link_is_recovering(c->link)) return 0;
    return c->outbound || m->cfg->peers[c->peer].rtse.two_way_alternate;
}

static int on_link(void *user, x400_p1_link *l, const x400_p1_link_event *ev);
static int check_bind(void *user, const x400_p1_bind *arg, int *bind_error, x400_diag *diag);
static x400_p1_link *route_recovery(void *user, x400_p1_link *l, const uint8_t *ref, size_t len);

static void assoc_config(mta *m, x400_assoc_config *ac, x400_role role, const mta_peer_config *pc,
                         unsigned conn_id)
{
    x400_assoc_config_init(ac, role);
    ac->log = m->liblog;
    if (pc && pc->mode == X400_MODE_X410) ac->mode = X400_MODE_X410;
    if (pc) {
        ac->called_tsel = pc->tsel;
        ac->called_ssel = pc->ssel;
        ac->called_psel = pc->psel;
        ac->calling_tsel = pc->calling_tsel;
        ac->calling_ssel = pc->calling_ssel;
        ac->calling_psel = pc->calling_psel;
        if (pc->session_versions) ac->session_versions = pc->session_versions;
    }
    if (role == X400_ROLE_INITIATOR) {
        /* the calling SS-user reference names this connection uniquely
         * (RTSE recovery identifies the broken connection by it) */
        int n = snprintf((char *)ac->calling_ref, sizeof ac->calling_ref, "%s/%llu/%u", m->cfg->name,
                         (unsigned long long)m->start_ms, conn_id);
        ac->calling_ref_len = n > 0 && (size_t)n < sizeof ac->calling_ref ? (size_t)n : 0;
        {   /* common reference: the UTCTime of the association */
            time_t t = time(NULL);
            struct tm tm;
            gmtime_r(&t, &tm);
            int k = snprintf((char *)ac->common_ref, sizeof ac->common_ref, "%02d%02d%02d%02d%02d%02dZ",
                             tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            ac->common_ref_len = k > 0 && (size_t)k < sizeof ac->common_ref ? (size_t)k : 0;
        }
    }
}

/* This MTA's bind credentials towards peer pc: its our-name and
 * our-password (which the configuration fills from [mta] when not given). */
static void own_cred_for(const mta *m, const mta_peer_config *pc, char *name, uint8_t *pw, size_t *len)
{
    snprintf(name, X400_MTA_NAME_MAX + 1, "%s", pc->our_name[0] ? pc->our_name : m->cfg->name);
    /* our-password as given, empty too (without it, the [mta] password:
     * the configuration keeps the two in step) */
    if (pc->our_password_len || pc->our_password_set) {
        memcpy(pw, pc->our_password, pc->our_password_len);
        *len = pc->our_password_len;
    } else {
        memcpy(pw, m->cfg->password, m->cfg->password_len);
        *len = m->cfg->password_len;
    }
}

/* Responder: the MTABindResult shows the bound peer the name and password
 * it knows us by (its [peer] our-name / our-password). */
static int result_cred(void *user, const x400_p1_bind *arg, char *name, uint8_t *pw, size_t *len)
{
    mta *m = user;
    int p = peer_index(m, arg->name);
    if (p < 0) return -1; /* the checker accepted a name we do not know: impossible */
    own_cred_for(m, &m->cfg->peers[p], name, pw, len);
    return 0;
}

static void link_config(mta *m, x400_p1_link_config *lc, x400_role role, const mta_peer_config *pc)
{
    x400_p1_link_config_init(lc, role);
    lc->log = m->liblog;
    lc->seen = m->seen;
    lc->queue_max = LINK_WINDOW * 2;
    if (pc) {
        lc->mode = pc->mode;
        lc->rtse = pc->rtse;
        if (pc->extension_form == MTA_EXT_1988) lc->ext_form = X400_P1_EXT_FORM_1988;
        else if (pc->extension_form == MTA_EXT_1992) lc->ext_form = X400_P1_EXT_FORM_1992;
        own_cred_for(m, pc, lc->own_name, lc->own_password, &lc->own_password_len);
        /* the responder's MTABindResult shows their-password (none: not checked) */
        if (!pc->their_password_none) {
            lc->peer_password_set = 1;
            memcpy(lc->peer_password, pc->their_password, pc->their_password_len);
            lc->peer_password_len = pc->their_password_len;
        }
    } else {
        snprintf(lc->own_name, sizeof lc->own_name, "%s", m->cfg->name);
        memcpy(lc->own_password, m->cfg->password, m->cfg->password_len);
        lc->own_password_len = m->cfg->password_len;
        lc->check = check_bind;
        lc->check_user = m;
        lc->result_cred = result_cred;
        lc->result_cred_user = m;
        lc->recovery_route = route_recovery;
        lc->recovery_user = m;
    }
}

/* Resolve per the peer's address family (the driver itself tries every
 * address of a name in turn). */
static void connect_host(const mta_peer_config *pc, char *out, size_t cap)
{
    struct addrinfo hints, *res = NULL;
    snprintf(out, cap, "%s", pc->host);
    if (pc->family == MTA_FAMILY_ANY) return;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = pc->family == MTA_FAMILY_IPV6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(pc->host, NULL, &hints, &res) == 0 && res) {
        getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(res);
    }
}

/* The link makes each outbound association itself (cfg.assoc_own): this
 * is called at a safe point (opening, and manage_conn when the link's
 * next_timeout says 0: RTSE recovery wants a new connection), never from
 * inside a call of the library.  The association it hands over gets its TCP
 * connection here; one that cannot be started is closed at once, and RTSE
 * asks again until its recovery timeout.  0 (nothing wanted, or
 * connecting), < 0 failed. */
static int conn_connect(mta *m, conn *c)
{
    const mta_peer_config *pc = &m->cfg->peers[c->peer];
    x400_assoc *a = NULL;
    char host[MTA_HOST_MAX + 1];
    int rv, first;
    if (c->dead) return 0;
    rv = x400_p1_link_want_connect(c->link, &a);
    if (rv < 0) {
        mta_log_diag(&m->lg, X400_LOG_ERROR, "association", x400_p1_link_diag(c->link));
        return rv;
    }
    if (rv == 0) return 0;
    first = !c->opened;
    c->opened = 1;
    x400_assoc_set_user(a, c);
    if (c->assoc && c->assoc != a && !c->have_h) retire(m, c->assoc); /* the lost one */
    c->assoc = a;
    if (!first) {
        m->st.recoveries++;
        LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u: connection lost, recovering (RTSE)", c->id);
    }
    connect_host(pc, host, sizeof host);
    rv = x400_driver_connect(m->drv, host, pc->port, a, &c->h);
    if (rv < 0) {
        mta_log_diag(&m->lg, X400_LOG_WARNING, "connect", x400_driver_diag(m->drv));
        if (first) return rv; /* the open failed (open_assoc) */
        x400_assoc_transport_closed(a); /* RTSE recovery asks again */
        return 0;
    }
    c->have_h = 1;
    if (first) c->connecting = 1;
    LOG(m, IFC, X400_LOG_INFO, "assoc #%u: connecting to %s at %s port %s (%s)", c->id, pc->name,
        pc->host, pc->port, pc->mode == X400_MODE_X410 ? "X.410-1984 mode" : "1988 normal mode");
    return 0;
}

/* Link config assoc_prepare: each association the link makes gets this
 * MTA's selectors and a unique session connection identifier. */
static int prepare_assoc(void *user, x400_p1_link *l, x400_assoc_config *ac)
{
    conn *c = user;
    (void)l;
    if (c->dead) return -1; /* ended by us (suspend, shutdown): no new connection */
    assoc_config(c->m, ac, X400_ROLE_INITIATOR, &c->m->cfg->peers[c->peer], ++c->m->next_conn_id);
    return 0;
}

static void open_assoc(mta *m, int p)
{
    const mta_peer_config *pc = &m->cfg->peers[p];
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { NULL, on_link };
    conn *c = conn_new(m, 1, p);
    if (!c) return;
    cb.user = c;
    link_config(m, &lc, X400_ROLE_INITIATOR, pc);
    /* the link makes its associations (the first and one per RTSE
     * recovery); prepare_assoc sets each one up */
    lc.assoc_own = 1;
    lc.assoc_prepare = prepare_assoc;
    lc.assoc_user = c;
    /* p1link.h: tick once after creating the link.  Its RTSE computes the
     * transfer deadline from the last time it was given: a link first
     * ticked by the next housekeeping (up to 20 ms later) had bound and
     * started a transfer with its clock at 0, and that tick aborted it. */
    if (x400_p1_link_new(&c->link, &lc, &cb, &m->heap.a) < 0 || x400_p1_link_tick(c->link, mono_ms()) < 0 ||
        conn_connect(m, c) < 0) {
        c->dead = 1;
        open_failed(m, p);
        return;
    }
    m->st.assoc_opened++;
}

/* ---------------------------------------------------------------- link events */

static qmsg *tag_q(uint64_t tag) { return (qmsg *)(uintptr_t)tag; }

/* ---------------------------------------------------------------- retry accounting */

/* Did the transfer fail with its association still up (the APDU's own
 * failure: counted toward max-transfer-retries)?  Not when the association
 * is ending or gone -- cut by the peer (a receiver that suspends when its
 * disk is full closes every association), recovering, or given up by us:
 * the APDU then goes again on another association and nothing is counted,
 * so a peer that is up but refusing for a while never burns the budget. */
static int transfer_failed_on_live_link(const conn *c)
{
    return c->link && !c->dead && !c->closing && x400_p1_link_is_bound(c->link) &&
           !x400_p1_link_is_recovering(c->link);
}

/* Outbound: the peer answered our bind with MTABindError busy (X.411
 * 12.1.1.1.3: it is up, but not taking associations now -- its spool is
 * suspended, say).  Not a failed open: no attempt counted toward
 * max-open-retries, the next try after open-interval. */
static void peer_busy(mta *m, int p)
{
    const mta_peer_config *pc = &m->cfg->peers[p];
    m->ps[p].next_open = mono_ms() + (uint64_t)pc->open_interval_s * 1000u;
    m->st.peer_busy++;
    LOG(m, IFC, X400_LOG_NOTICE, "%s is busy (MTABindError busy): next association attempt in %u s, "
        "not counted as a failed attempt", pc->name, pc->open_interval_s);
}

/* Responder: credentials checked as usual (constant time, the peer
 * table); a known peer is then told busy while the spool is suspended --
 * it keeps its mail and its retry budget, and tries again later. */
static int check_bind(void *user, const x400_p1_bind *arg, int *bind_error, x400_diag *diag)
{
    mta *m = user;
    int rv = x400_p1_cred_check_default(&m->table, arg, bind_error, diag);
    if (rv < 0 || !m->suspended) return rv;
    *bind_error = X400_BIND_ERR_BUSY;
    memset(diag, 0, sizeof *diag);
    diag->layer = X400_LAYER_P1;
    diag->source = X400_SOURCE_LOCAL;
    diag->code = X400_ERR_REFUSED;
    snprintf(diag->text, sizeof diag->text, "MTA bind from \"%s\" answered busy: the spool is suspended",
             arg->name);
    return X400_ERR_REFUSED;
}

/* The transfer was not confirmed within its transfer time (X.228 RTSE
 * transfer time; RTSE aborts with RTAB temporaryProblem, diag RTSE/LOCAL/
 * timeout): a live peer that takes the APDU and never confirms it.  The
 * link has ended by then (SEND_FAILED comes after x400_p1_link_is_bound
 * says 0 whenever the association went with the transfer), but this one is
 * the APDU's failure and counts toward max-transfer-retries -- else a peer
 * that never confirms one APDU would be sent it again at once for ever.
 * A recovery that timed out (RTSE/PROVIDER/timeout: the peer never
 * answered the recovery) and every abort or cut are the association's
 * failure: again on the next association at once, nothing counted. */
static int transfer_time_expired(const x400_diag *why)
{
    return why && why->layer == X400_LAYER_RTSE && why->source == X400_SOURCE_LOCAL &&
           why->code == X400_ERR_TIMEOUT;
}

static void give_back(mta *m, conn *c, qmsg *q, const x400_diag *why)
{
    const mta_peer_config *pc = &m->cfg->peers[q->peer];
    int link_up = transfer_failed_on_live_link(c) || transfer_time_expired(why);
    q->on = NULL;
    if (c->inflight) c->inflight--;
    q_set_state(m, q, Q_WAIT);
    q->attempts++;
    if (link_up) {
        /* this APDU failed, not its association (transfer retries) */
        q->msg_failures++;
        q->next_try = mono_ms() + (uint64_t)pc->transfer_interval_s * 1000u;
    } else {
        q->next_try = 0; /* the association went: again on another one */
    }
    LOG(m, SVC, X400_LOG_NOTICE, "transfer of %s to %s not confirmed (%s): %s", q->mtsid, pc->name,
        why ? why->text : "link ended", link_up ? "will retry" : "queued again");
}

static int on_received(mta *m, conn *c, const x400_p1_link_event *ev)
{
    x400_p1_apdu a;
    const char *from = peer_name(m, c->peer);
    char id[X400_MTSID_TEXT_MAX];
    x400_mtsid_format(x400_p1_apdu_id(ev->apdu), id, sizeof id);
    if (m->suspended || c->dead) return -1; /* not accepted: it stays with the sender */
    m->st.received++;
    mta_log_hex(&m->lg, "received APDU", ev->raw, ev->raw_len);
    /* ours to route (routing changes it): taken from the link, not decoded again */
    if (x400_p1_link_take_apdu(c->link, &a) < 0) return -1;
    if (mta_spool_stage_seen(m->sp, id) < 0) {
        x400_p1_apdu_free(&a);
        return -1;
    }
    if (a.kind == X400_P1_REPORT) {
        const mta_peer_config *pc = NULL;
        int r = mta_config_route(m->cfg, &a.report.destination, &pc);
        if (r == 1) {
            if (stage_inbox(m, &a, ev->raw, ev->raw_len, from) < 0) goto fail;
        } else if (pc && (int)(pc - m->cfg->peers) != c->peer) {
            x400_p1_itrace it;
            if (x400_p1_loop_check(&a, &m->cfg->gdi, m->cfg->name) > 0 ||
                (r = domain_entry_trace(m, &a)) == X400_ERR_LIMIT) {
                /* no report on a report (X.411 14.4.1): dropped, said once */
                LOG(m, SVC, X400_LOG_WARNING, "report %s: routing loop (it passed this MTA before): dropped", id);
            } else if (r < 0 || (own_itrace(m, &it), x400_p1_itrace_append(&a, &it) < 0) ||
                       stage_relayed(m, &a, (int)(pc - m->cfg->peers), "relayed report") < 0) {
                goto fail;
            }
        } else {
            LOG(m, SVC, X400_LOG_WARNING, "report %s: no route for its destination: dropped", id);
        }
    } else if (route_message(m, &a, ev->raw, ev->raw_len, from, c->peer) < 0) {
        goto fail;
    }
    x400_p1_apdu_free(&a);
    return pend_confirm(m, c) < 0 ? -1 : X400_P1_LINK_DEFER;
fail:
    x400_p1_apdu_free(&a);
    return -1;
}

/* A received MTSID seen before (X400_P1_LINK_EV_DUPLICATE).  Usually the
 * sender's retransmission of an APDU whose confirmation it lost: confirmed,
 * not delivered twice.  But a message or probe that carries this MTA's own
 * internal trace element went round a routing loop and came back (its
 * MTSID is known because it passed here): the link cannot tell the two
 * apart, the trace can (X.411 14.3.1 loop detection), and a loop must end
 * in a non-delivery report to the originator, not in silence.  A looped
 * copy sent again after a lost confirmation is reported again: a second
 * report on the same subject, never a lost message.  -1 only when the
 * spool cannot stage. */
static int on_looped(mta *m, conn *c, const x400_p1_link_event *ev)
{
    x400_p1_apdu a;
    int rv;
    if (x400_p1_link_take_apdu(c->link, &a) < 0 || a.kind == X400_P1_REPORT ||
        x400_p1_loop_check(&a, &m->cfg->gdi, m->cfg->name) <= 0) {
        x400_p1_apdu_free(&a); /* zeroed when not taken: nothing freed */
        m->st.duplicates++;
        mta_log_diag(&m->lg, X400_LOG_NOTICE, "duplicate", ev->diag);
        return 0;
    }
    rv = non_deliver(m, &a, X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_LOOP_DETECTED, "routing loop");
    x400_p1_apdu_free(&a);
    return rv;
}

/* An APDU the link could not decode: kept in quarantine/ (journalled, so
 * durable before the confirmation like any received APDU), logged once, and
 * non-delivered to its originator when enough of it can be read. */
static int on_undecodable(mta *m, conn *c, const x400_p1_link_event *ev)
{
    mta_spool_hdr h;
    x400_p1_apdu a;
    x400_diag d;
    char name[64];
    int salvaged;
    memset(&h, 0, sizeof h);
    memset(&d, 0, sizeof d);
    snprintf(h.kind, sizeof h.kind, "undecodable");
    snprintf(h.peer, sizeof h.peer, "%s", peer_name(m, c->peer));
    if (ev->diag) {   /* the diagnostic, cut to the header field */
        size_t k = strnlen(ev->diag->text, sizeof h.outcome - 1);
        memcpy(h.outcome, ev->diag->text, k);
        h.outcome[k] = 0;
    }
    h.time_ms = wall_ms();
    h.size = ev->raw_len;
    salvaged = x400_p1_salvage(ev->raw, ev->raw_len, NULL, NULL, &a, &d) == X400_OK;
    if (salvaged) {
        x400_mtsid_format(&a.env.id, h.mtsid, sizeof h.mtsid);
        x400_orname_format(&a.env.originator, h.originator, sizeof h.originator);
    }
    snprintf(name, sizeof name, "u-%llu-%llu", (unsigned long long)h.time_ms,
             (unsigned long long)++m->st.quarantined);
    if (mta_spool_stage_file(m->sp, MTA_SPOOL_QUARANTINE, name, &h, ev->raw, ev->raw_len) < 0) {
        if (salvaged) x400_p1_apdu_free(&a);
        return -1;
    }
    LOG(m, SVC, X400_LOG_WARNING, "assoc #%u: undecodable APDU from %s (%zu octets) kept as quarantine/%s%s%s: %s",
        c->id, h.peer, ev->raw_len, name, salvaged ? ", non-delivered to " : "",
        salvaged ? h.originator : "", h.outcome);
    if (salvaged) {
        /* unable-to-transfer, invalid-arguments (X.411 NonDeliveryDiagnosticCode 11) */
        int rv = non_deliver(m, &a, X400_NDR_UNABLE_TO_TRANSFER, 11, "undecodable envelope");
        x400_p1_apdu_free(&a);
        if (rv < 0) return -1;
    }
    return pend_confirm(m, c) < 0 ? -1 : X400_P1_LINK_DEFER;
}

/* The receiver's RTSE recovery record and the APDU octets received so far
 * (X400_P1_LINK_EV_PERSIST): on the disk before the checkpoint is
 * confirmed (the library confirms after this returns), so that a restart
 * resumes the transfer instead of starting it again (restore_records).  A
 * COMPLETED record means the APDU is in this turn's batch: the file goes
 * once that batch is durable (commit) -- until then the RECEIVING record
 * stays, and a restart resumes and recognises the MTSID.  A save that
 * fails removes the file: the transfer goes on, a restart starts it again. */
static int on_persist(mta *m, conn *c, const x400_p1_link_event *ev)
{
    x400_rtse_record_info info;
    if (!ev->record_len) { /* erase */
        mta_spool_rtse_erase(m->sp, &c->rt);
        c->rt_erase = 0;
        return 0;
    }
    if (c->peer < 0 || m->suspended || !m->sp ||
        x400_rtse_record_info_get(ev->record, ev->record_len, &info) != X400_OK)
        return 0;
    if (info.state == X400_RTSE_RECORD_COMPLETED) {
        c->rt_erase = c->rt.exists;
        return 0;
    }
    /* nothing confirmed yet (an activity just started, or an APDU shorter
     * than a checkpoint): a restart would start it again whatever is
     * stored -- the library takes a resume after serial 0 of an activity
     * it does not know as a fresh start -- so no file and no fdatasync per
     * message; a pending erase of the previous activity's file stays */
    if (info.last_serial == 0 && info.delivered == 0) return 0;
    c->rt_erase = 0;
    if (!c->rt.name[0])
        snprintf(c->rt.name, sizeof c->rt.name, "r-%llu-%u", (unsigned long long)m->start_ms, c->id);
    if (mta_spool_rtse_save(m->sp, &c->rt, peer_name(m, c->peer), ev->record, ev->record_len, ev->raw,
                            ev->raw_len, mono_ms(), wall_ms(), m->err, sizeof m->err) < 0) {
        LOG(m, SVC, X400_LOG_WARNING, "assoc #%u: RTSE record not stored (%s): a restart would start its "
            "transfer again", c->id, m->err);
        mta_spool_rtse_erase(m->sp, &c->rt);
        return 0;
    }
    m->st.rtse_saved++;
    return 0;
}

static int on_link(void *user, x400_p1_link *l, const x400_p1_link_event *ev)
{
    conn *c = user;
    mta *m = c->m;
    qmsg *q;
    (void)l;
    touch(m, c);
    switch (ev->type) {
    case X400_P1_LINK_EV_BOUND:
        c->bound = 1;
        c->connecting = 0;
        c->idle_since = mono_ms();
        if (c->peer < 0) c->peer = peer_index(m, ev->peer_name);
        if (c->peer < 0) { /* the checker accepted a name we do not know: impossible */
            LOG(m, IFC, X400_LOG_ERROR, "assoc #%u: bound by unknown MTA %s", c->id, ev->peer_name);
            return -1;
        }
        if (c->outbound) m->ps[c->peer].open_failures = 0;
        if (c->unbound) {
            mta_guard_bind_ok(m->guard, c->src, mono_ms());
            unbound_remove(m, c);
        }
        LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u: %s bound with %s (%s)", c->id,
            c->outbound ? "outbound" : "inbound", peer_name(m, c->peer),
            m->cfg->peers[c->peer].rtse.two_way_alternate ? "two-way alternate" : "monologue");
        break;
    case X400_P1_LINK_EV_BIND_REFUSED:
        c->dead = 1;
        if (ev->bind_error == X400_BIND_ERR_BUSY) { /* busy, either way: no failure */
            if (c->unbound) unbound_remove(m, c);
            c->connecting = 0; /* its close is no failed open either (on_closed) */
            if (c->outbound && c->peer >= 0) peer_busy(m, c->peer);
            else LOG(m, IFC, X400_LOG_INFO, "assoc #%u: %s", c->id, ev->diag ? ev->diag->text : "busy");
            break;
        }
        m->st.bind_refused++;
        if (c->unbound) { /* a refused inbound bind: its source waits before the next try */
            uint64_t now = mono_ms(), delay = mta_guard_bind_failed(m->guard, c->src, now);
            unbound_remove(m, c);
            if (delay) m->st.bind_backoffs++;
            if (garbage_allowed(m, c->src))
                LOG(m, IFC, X400_LOG_NOTICE, "bind refused from %s: %s; connections from it refused for %llu ms",
                    c->src, ev->diag ? ev->diag->text : "refused", (unsigned long long)delay);
            break;
        }
        mta_log_diag(&m->lg, X400_LOG_WARNING, "bind refused", ev->diag);
        if (c->outbound && c->peer >= 0) open_failed(m, c->peer);
        break;
    case X400_P1_LINK_EV_RECEIVED:
        return on_received(m, c, ev);
    case X400_P1_LINK_EV_UNDECODABLE:
        return on_undecodable(m, c, ev);
    case X400_P1_LINK_EV_DUPLICATE:
        if (on_looped(m, c, ev) < 0) return -1;
        /* its first copy may still be in this turn's batch: confirm with it */
        return pend_confirm(m, c) < 0 ? -1 : X400_P1_LINK_DEFER;
    case X400_P1_LINK_EV_SENT:
        q = tag_q(ev->tag);
        if (c->inflight) c->inflight--;
        c->idle_since = mono_ms();
        m->st.transferred++;
        LOG(m, SVC, X400_LOG_INFO, "transferred %s to %s", q->mtsid, peer_name(m, q->peer));
        /* journalled, so that a replay after a crash does not bring the file
         * back; without an fdatasync of its own (mta.h): a removal lost in a
         * crash only sends the message again, a duplicate to the peer */
        if (mta_spool_stage_transferred(m->sp, q->name) < 0)
            LOG(m, SVC, X400_LOG_WARNING, "removing %s from the queue failed", q->name);
        q_unlink(m, q);
        free(q);
        break;
    case X400_P1_LINK_EV_SEND_FAILED:
        give_back(m, c, tag_q(ev->tag), ev->diag);
        break;
    case X400_P1_LINK_EV_RELEASED:
        LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u with %s released", c->id, peer_name(m, c->peer));
        c->dead = 1;
        break;
    case X400_P1_LINK_EV_ABORTED:
        if (c->outbound && !c->bound) { /* the open failed (on_closed counts it): no abort */
            c->dead = 1;
            if (ev->diag) LOG(m, IFC, X400_LOG_INFO, "assoc #%u: not opened: %s", c->id, ev->diag->text);
            break;
        }
        if (c->stop_abort) { /* ours, stopping: logged where it was made */
            if (!c->have_h) c->dead = 1;
            break; /* else dead once the driver has sent the abort and closed (on_closed) */
        }
        m->st.aborts++;
        if (!c->unbound) mta_log_diag(&m->lg, X400_LOG_WARNING, "association aborted", ev->diag);
        else if (garbage_allowed(m, c->src)) { /* garbage before any bind */
            char ctx[128];
            snprintf(ctx, sizeof ctx, "assoc #%u from %s aborted before its bind", c->id, c->src);
            mta_log_diag(&m->lg, X400_LOG_NOTICE, ctx, ev->diag);
        }
        c->dead = 1;
        break;
    case X400_P1_LINK_EV_NEED_ASSOC:
        /* not with cfg.assoc_own: the link makes the association of a
         * recovery itself (conn_connect, at a safe point) */
        break;
    case X400_P1_LINK_EV_PERSIST:
        return on_persist(m, c, ev);
    }
    return 0;
}

/* An inbound recovery request: the responder link waiting for it. */
static x400_p1_link *route_recovery(void *user, x400_p1_link *l, const uint8_t *ref, size_t len)
{
    mta *m = user;
    conn *fresh = x400_p1_link_assoc(l) ? x400_assoc_get_user(x400_p1_link_assoc(l)) : NULL;
    if (fresh && fresh->link != l) fresh = NULL;
    /* the inbound links waiting for their peer (settle keeps the list) */
    for (conn *c = m->waiting; c; c = c->w_next) {
        uint8_t b[X400_P1_LINK_REF_MAX];
        size_t n;
        m->st.conn_visits++;
        if (c->outbound || c->dead || c->link == l) continue;
        if (x400_p1_link_waiting_ref(c->link, b, sizeof b, &n) == X400_OK && n == len &&
            !memcmp(b, ref, n)) {
            LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u: %s recovers its connection (RTSE)", c->id,
                peer_name(m, c->peer));
            m->st.recoveries++;
            if (c->restored) { /* across a restart: the transfer resumes */
                c->restored = 0;
                m->st.rtse_resumed++;
                m->st.rtse_octets_kept += c->restored_octets;
            }
            touch(m, c);
            if (fresh) {
                touch(m, fresh);
                c->assoc = fresh->assoc;
                c->h = fresh->h;
                c->have_h = fresh->have_h;
                if (c->assoc) x400_assoc_set_user(c->assoc, c);
                fresh->assoc = NULL;
                fresh->have_h = 0;
                fresh->dead = 1;
            }
            return c->link;
        }
    }
    LOG(m, IFC, X400_LOG_NOTICE, "recovery request for a connection this MTA does not know: refused");
    return NULL;
}

/* ---------------------------------------------------------------- driver */

static int on_accepted(void *user, x400_driver *d, x400_lpi_handle h, const char *peer, x400_assoc **out)
{
    mta *m = user;
    x400_assoc_config ac;
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { NULL, on_link };
    conn *c;
    char hs[64], src[MTA_GUARD_ADDR_MAX];
    uint64_t now = mono_ms(), wait = 0;
    mta_guard_verdict v;
    (void)d;
    if (m->stopping) return -1; /* suspended: accepted, its bind answered busy (check_bind) */
    mta_guard_source_of(peer, src);
    v = mta_guard_admit(m->guard, src, now, &wait);
    if (v != MTA_GUARD_OK) {
        m->st.conn_refused++;
        if (!garbage_allowed(m, src)) return -1;
        if (v == MTA_GUARD_BACKOFF)
            LOG(m, IFC, X400_LOG_NOTICE, "connection from %s refused: failed binds, %llu ms of back-off left",
                peer, (unsigned long long)wait);
        else
            LOG(m, IFC, X400_LOG_NOTICE, "connection from %s refused: %s", peer,
                v == MTA_GUARD_PER_SOURCE ? "too many unbound connections from that address"
                                          : "too many source addresses remembered");
        return -1;
    }
    /* at most max-unbound waiting for their bind: the oldest gives way */
    while (m->nunbound >= m->cfg->lim.max_unbound && m->un_head) {
        conn *old = m->un_head;
        m->st.unbound_evicted++;
        LOG_LIMITED(m, &m->rl_evict, now, X400_LOG_NOTICE,
                    "assoc #%u from %s closed unbound after %llu ms: %zu connections wait for their "
                    "bind (max-unbound)", old->id, old->src, (unsigned long long)(now - old->accepted_at),
                    m->nunbound);
        unbound_close(m, old);
    }
    c = conn_new(m, 0, -1);
    if (!c) {
        mta_guard_unbound_done(m->guard, src, now);
        return -1;
    }
    unbound_add(m, c, src, now);
    cb.user = c;
    assoc_config(m, &ac, X400_ROLE_RESPONDER, NULL, c->id);
    link_config(m, &lc, X400_ROLE_RESPONDER, NULL);
    if (x400_assoc_new(out, &ac, NULL, &m->heap.a) < 0) {
        unbound_remove(m, c);
        c->dead = 1;
        return -1;
    }
    if (x400_p1_link_new(&c->link, &lc, &cb, &m->heap.a) < 0 || x400_p1_link_tick(c->link, now) < 0 ||
        x400_p1_link_attach(c->link, *out) < 0) {   /* its clock set first: see open_assoc */
        x400_assoc_free(*out);
        *out = NULL;
        unbound_remove(m, c);
        c->dead = 1;
        return -1;
    }
    x400_assoc_set_user(*out, c);
    c->assoc = *out;
    c->h = h;
    c->have_h = 1;
    x400_lpi_format(h, hs, sizeof hs);
    LOG(m, IFC, X400_LOG_INFO, "assoc #%u: inbound connection %s from %s (identified by its bind, "
        "not by address)", c->id, hs, peer);
    return 0;
}

static void on_connected(void *user, x400_driver *d, x400_lpi_handle h, x400_assoc *a, const x400_diag *err)
{
    mta *m = user;
    conn *c = x400_assoc_get_user(a);
    (void)d;
    (void)h;
    if (!err) return;
    if (c) mta_log_diag(&m->lg, X400_LOG_WARNING, "connect", err);
}

static void on_closed(void *user, x400_driver *d, x400_lpi_handle h, x400_assoc *a, const x400_diag *why)
{
    mta *m = user;
    conn *c = x400_assoc_get_user(a);
    char hs[64];
    (void)d;
    x400_lpi_format(h, hs, sizeof hs);
    if (why) LOG(m, IFC, X400_LOG_INFO, "connection %s closed: %s", hs, why->text);
    if (c && c->assoc == a && c->have_h && !memcmp(&c->h, &h, sizeof h)) {
        if (c->connecting && !c->bound && c->outbound && c->peer >= 0) {
            peerst *p = &m->ps[c->peer];
            open_failed(m, c->peer);
            LOG(m, IFC, X400_LOG_WARNING, "assoc #%u: could not open an association with %s (attempt %u of %u)",
                c->id, peer_name(m, c->peer), p->open_failures, m->cfg->peers[c->peer].max_open_retries);
            c->dead = 1; /* never bound: nothing to recover */
        }
        if (!c->outbound && !c->bound) { /* closed before its bind: nothing to recover either */
            garbage_closed(m, c, why);
            unbound_remove(m, c);
            c->dead = 1;
        }
        if (c->stop_abort) c->dead = 1; /* its RT-U-ABORT sent */
        c->have_h = 0;
    }
    if (c && !c->freed) { /* its link may wait for recovery now: route_recovery must find it */
        touch(m, c);
        account_as(m, c, flags_of(m, c, mono_ms()));
    }
    retire(m, a);
}

/* The driver is about to read c's socket: its link's clock is brought up
 * to date first (links are ticked only when their timer is due), so that
 * what the input starts (a transfer, a recovery) is timed from now. */
static void on_activity(void *user, x400_driver *d, x400_lpi_handle h, x400_assoc *a)
{
    mta *m = user;
    conn *c = x400_assoc_get_user(a);
    (void)d;
    (void)h;
    if (!c || c->freed) return;
    if (c->link) (void)x400_p1_link_tick(c->link, mono_ms());
    touch(m, c);
}

/* ---------------------------------------------------------------- the turn */

/* A queued APDU that will not be transferred: a non-delivery report to the
 * originator (a report is dropped, with a warning), and out of the queue. */
static void give_up(mta *m, qmsg *q, int reason, int diagnostic, const char *why)
{
    mta_spool_hdr h;
    uint8_t *body = NULL;
    size_t len = 0;
    x400_p1_apdu a;
    x400_diag d;
    if (mta_spool_read(m->sp, MTA_SPOOL_QUEUE, q->name, &h, &body, &len, m->err, sizeof m->err) == 0 &&
        x400_p1_decode(body, len, NULL, NULL, &a, &d) == 0) {
        if (a.kind != X400_P1_REPORT)
            non_deliver(m, &a, reason, diagnostic, why);
        else
            LOG(m, SVC, X400_LOG_WARNING, "report %s to %s dropped: %s", q->mtsid, peer_name(m, q->peer), why);
        x400_p1_apdu_free(&a);
    }
    free(body);
    mta_spool_stage_unlink(m->sp, MTA_SPOOL_QUEUE, q->name);
    q_unlink(m, q);
    free(q);
}

/* Does any peer have an APDU ready to go? (feed_links walks the links) */
static int any_ready(const mta *m, uint64_t now)
{
    (void)now;
    for (size_t p = 0; p < m->cfg->npeers; p++)
        if (m->ps[p].waiting) return 1;
    return 0;
}

/* The peers' ready APDUs onto the links that can send them: for each peer
 * with APDUs waiting, its senders in turn until one finds nothing ready
 * (then none would): a turn visits the links it feeds, not all of them. */
static void feed_links(mta *m, uint64_t now)
{
    for (size_t pi = 0; pi < m->cfg->npeers; pi++) {
        peerst *p = &m->ps[pi];
        conn *c, *nc;
        if (!p->waiting) continue;
        for (c = p->senders; c; c = nc) {
            size_t ready = 0;
            nc = c->s_next;
            m->st.conn_visits++;
            if (!can_send(m, c) || c->inflight >= LINK_WINDOW) continue;
            (void)x400_p1_link_tick(c->link, now); /* what it starts is timed from now */
            touch(m, c);
            for (qmsg *q = p->head, *nx; q && c->inflight < LINK_WINDOW; q = nx) {
                mta_spool_hdr h;
                uint8_t *body = NULL;
                size_t len = 0;
                x400_diag d;
                nx = q->next; /* q may be given up below */
                if (q->state != Q_WAIT || q->next_try > now || q->held) continue;
                ready++;
                if (mta_spool_read(m->sp, MTA_SPOOL_QUEUE, q->name, &h, &body, &len, m->err, sizeof m->err) < 0) {
                    LOG(m, SVC, X400_LOG_ERROR, "queue file %s unreadable: %s", q->name, m->err);
                    q->next_try = now + 60000;
                    continue;
                }
                mta_log_hex(&m->lg, "sending APDU", body, len);
                if (x400_p1_link_send_encoded(c->link, body, len, q->prio, (uint64_t)(uintptr_t)q, &d) < 0) {
                    free(body);
                    if (d.code == X400_ERR_FULL) break;
                    if (d.code == X400_ERR_TOO_LONG) {
                        /* above this association's transfer bound: it will never go */
                        give_up(m, q, X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_CONTENT_TOO_LONG, d.text);
                        continue;
                    }
                    mta_log_diag(&m->lg, X400_LOG_ERROR, "send", &d);
                    q->next_try = now + 60000;
                    continue;
                }
                free(body);
                q_set_state(m, q, Q_ACTIVE);
                q->on = c;
                c->inflight++;
            }
            if (!ready) break; /* nothing ready for this peer: no other link needs a look */
        }
    }
}

static void manage_peers(mta *m, uint64_t now)
{
    for (size_t p = 0; p < m->cfg->npeers; p++) {
        const mta_peer_config *pc = &m->cfg->peers[p];
        peerst *ps = &m->ps[p];
        size_t senders = 0, outbound = 0, opening = 0, ready = 0;
        if (ps->open_failures > pc->max_open_retries && ps->waiting) {
            char why[128];
            snprintf(why, sizeof why, "MTA %s unreachable after %u association attempts", pc->name,
                     ps->open_failures);
            for (qmsg *q = ps->head, *nx; q; q = nx) {
                nx = q->next;
                if (q->state == Q_WAIT && !q->held) give_up(m, q, X400_NDR_UNABLE_TO_TRANSFER, -1, why);
            }
            ps->open_failures = 0;
            continue;
        }
        /* counted by settle(): no walk over the associations */
        outbound = ps->n_out;
        opening = ps->n_opening;
        senders = ps->n_senders;
        for (qmsg *q = ps->head; q; q = q->next)
            if (q->state == Q_WAIT && q->next_try <= now && !q->held) ready++;
        if (!ready || m->stopping || outbound >= pc->max_assocs || now < ps->next_open) continue;
        /* One open at a time until an association is bound (an unreachable
         * peer is tried once per open-interval, not max-associations at
         * once); with one bound, a backlog opens up to OPEN_AHEAD at once,
         * so that max-associations are up in a few round trips, not one
         * housekeeping turn each. */
        if (opening && (senders == 0 || opening >= OPEN_AHEAD)) continue;
        if (senders == 0) {
            open_assoc(m, (int)p);
            continue;
        }
        while (ready > (size_t)pc->threshold * (senders + opening) && opening < OPEN_AHEAD &&
               outbound < pc->max_assocs) {
            open_assoc(m, (int)p); /* counted by the next settle() */
            opening++;
            outbound++;
            if (ps->next_open > now) break; /* failed at once: open-interval first */
        }
    }
    /* messages that failed too often on working associations */
    for (size_t p = 0; p < m->cfg->npeers; p++)
        for (qmsg *q = m->ps[p].head, *nx; q; q = nx) {
            nx = q->next;
            if (q->state == Q_WAIT && !q->held && q->msg_failures > m->cfg->peers[p].max_transfer_retries)
                give_up(m, q, X400_NDR_TRANSFER_FAILURE, -1, "transfer retries exhausted");
        }
}

/* One association whose deadline came (run_timers): its link ticked, the
 * recovery grace, the release answer, the idle release (and, stopping,
 * the idle abort). */
static void manage_conn(mta *m, conn *c, uint64_t now)
{
    const mta_peer_config *pc;
    if (c->dead || !c->link) return;
    (void)x400_p1_link_tick(c->link, now);
    if (c->outbound) (void)conn_connect(m, c); /* RTSE recovery: a new connection */
    if (c->peer < 0) return;
    pc = &m->cfg->peers[c->peer];
    c->recheck = 0;
    if (c->restored && now >= c->restored_until) {
        LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u: %s did not recover the transfer restored from its RTSE "
            "record before the record expired: record removed", c->id, pc->name);
        mta_spool_rtse_erase(m->sp, &c->rt);
        c->dead = 1;
        return;
    }
    if (!c->outbound) {
        /* An inbound association broke and its RTSE waits for the peer
         * to recover it -- but only the peer can, and a restarted peer
         * never will.  When it holds our APDUs, give it a few of the
         * peer's retry intervals, then let them go on another one. */
        uint8_t b[X400_P1_LINK_REF_MAX];
        size_t n;
        uint64_t grace = recovery_grace_ms(pc);
        if (x400_p1_link_waiting_ref(c->link, b, sizeof b, &n) != X400_OK) {
            c->waiting_since = 0;
        } else if (!c->waiting_since) {
            c->waiting_since = now;
        } else if (c->inflight && now - c->waiting_since > grace) {
            LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u: %s did not recover it within %llu ms: "
                "its %zu APDUs go on another association", c->id, pc->name,
                (unsigned long long)grace, c->inflight);
            c->dead = 1;
            return;
        }
    }
    if (c->closing) {
        if (now > c->close_deadline) {
            LOG(m, IFC, X400_LOG_WARNING, "assoc #%u: no release answer within %u s: aborted", c->id,
                pc->disconnect_s);
            if (c->have_h) x400_driver_disconnect(m->drv, c->h);
            c->dead = 1;
        }
        return;
    }
    if (!c->bound || !x400_p1_link_is_bound(c->link)) return;
    if (c->inflight || x400_p1_link_queued(c->link) || x400_p1_link_confirm_pending(c->link) ||
        (c->outbound && m->ps[c->peer].waiting)) {
        c->idle_since = now;
        if (c->outbound) c->recheck = now + BUSY_RECHECK_MS; /* idle then? */
    }
    /* only the association-initiator may release (RT-CLOSE, X.228) */
    if (c->outbound && (m->stopping || now - c->idle_since > (uint64_t)pc->lifetime_s * 1000u) &&
        !c->inflight) {
        LOG(m, IFC, X400_LOG_INFO, "assoc #%u with %s: %s, releasing", c->id, pc->name,
            m->stopping ? "shutting down" : "idle for the association lifetime");
        if (x400_p1_link_close(c->link) == X400_OK) {
            c->closing = 1;
            c->close_deadline = now + (uint64_t)pc->disconnect_s * 1000u;
        }
    }
    /* ... so a stopping MTA ends those its peers opened, once nothing is
     * under way on them, with RT-U-ABORT, after a grace in which a peer
     * stopping too releases them itself: cut instead, they would send
     * their peer into RTSE recovery against an MTA that has gone.  One
     * carrying a transfer is cut at the end of the stop instead, and its
     * peer resumes it from the last checkpoint when this MTA is back. */
    if (!c->outbound && m->stopping && now >= m->stop_since + PEER_RELEASE_GRACE_MS && !c->inflight &&
        x400_p1_link_is_idle(c->link)) {
        LOG(m, IFC, X400_LOG_INFO, "assoc #%u with %s: shutting down, aborted (RT-U-ABORT; the peer opened it)",
            c->id, pc->name);
        c->stop_abort = 1;
        (void)x400_p1_link_abort(c->link);
    }
}

/* Free what ended: the dead conns (m->dying) with nothing left to confirm,
 * and the associations the driver has forgotten that no link holds (each
 * checked against the one conn that had it; one it still holds waits in
 * that conn's `kept` until the conn is touched or freed).  O(dying + the
 * graves retired or let go since the last turn). */
static void reap(mta *m)
{
    conn **pp = &m->dying, *gone = NULL;
    while (*pp) {
        conn *c = *pp;
        m->st.conn_visits++;
        /* suspended: nothing will be confirmed (the senders keep it) */
        if ((m->suspended || !x400_p1_link_confirm_pending(c->link)) && !c->confirm) {
            *pp = c->dying_next;
            c->dying = 0;
            c->freed = 1;  /* touched no more; its struct outlives the graveyard pass below */
            if (c->have_h) x400_driver_disconnect(m->drv, c->h); /* -> on_closed: retired */
            if (c->assoc && !c->have_h && x400_assoc_get_user(c->assoc)) retire(m, c->assoc);
            /* APDUs still handed to this link go back to the queue */
            if (c->inflight)
                for (size_t p = 0; p < m->cfg->npeers; p++)
                    for (qmsg *q = m->ps[p].head; q; q = q->next)
                        if (q->on == c) give_back(m, c, q, NULL);
            if (c->link) {
                x400_p1_link_free(c->link);
                c->link = NULL;
            }
            /* its transfer will not resume in this process; a stopping MTA
             * keeps the record for the next one (restore_records) */
            if (!m->stopping && m->sp) mta_spool_rtse_erase(m->sp, &c->rt);
            unbound_remove(m, c);
            account_as(m, c, 0);
            graves_unkeep(m, c);
            mta_timers_cancel(&m->timers, &c->tm);
            if (c->prev) c->prev->next = c->next;
            else m->conns = c->next;
            if (c->next) c->next->prev = c->prev;
            c->dying_next = gone;
            gone = c;
            m->nconns--;
            continue;
        }
        pp = &c->dying_next;
    }
    while (m->graveyard) {
        struct grave *g = m->graveyard;
        conn *o = g->owner;
        m->graveyard = g->next;
        m->st.conn_visits++;
        if (!o->freed && (o->assoc == g->a || (o->link && x400_p1_link_assoc(o->link) == g->a))) {
            g->next = o->kept;
            o->kept = g;
            continue;
        }
        x400_assoc_free(g->a);
        mta_heap_free(&m->heap, g);
        m->ngrave--;
    }
    if (!gone) return;
    for (conn **tp = &m->touched; *tp;) /* touched while being freed: forgotten */
        if ((*tp)->freed) *tp = (*tp)->touch_next;
        else tp = &(*tp)->touch_next;
    while (gone) {
        conn *c = gone;
        gone = c->dying_next;
        mta_heap_free(&m->heap, c);
    }
}

static void snapshot(mta *m)
{
    char *buf;
    size_t cap = 1 << 16, n = 0;
    size_t queue_len = 0, open = m->nopen;
    for (size_t p = 0; p < m->cfg->npeers; p++) queue_len += m->ps[p].waiting + m->ps[p].active;
    buf = malloc(cap);
    if (!buf) return;
    n += (size_t)snprintf(buf + n, cap - n, "snapshot_ms=%llu\npid=%ld\n", (unsigned long long)wall_ms(),
                          (long)getpid());
    n += (size_t)snprintf(buf + n, cap - n,
                          "submitted=%llu\nreceived=%llu\ndelivered=%llu\nduplicates=%llu\n"
                          "reports_received=%llu\nreports_sent=%llu\ntransferred=%llu\n"
                          "ndr_generated=%llu\nassoc_open=%zu\nassoc_opened=%llu\naborts=%llu\n"
                          "recoveries=%llu\nbind_refused=%llu\nrelayed=%llu\nqueue_len=%zu\n"
                          "commits=%llu\ncheckpoints=%llu\nfirst_durable_ms=%llu\nlast_durable_ms=%llu\n"
                          "conn_objects=%zu\nconns=%zu\ninbound_conns=%zu\nunbound=%zu\nsources=%zu\n"
                          "graveyard=%zu\nconn_refused=%llu\ndriver_refused=%llu\nbind_timeouts=%llu\n"
                          "unbound_evicted=%llu\nbind_backoffs=%llu\nconn_visits=%llu\ndriver_visits=%llu\n",
                          (unsigned long long)m->st.submitted, (unsigned long long)m->st.received,
                          (unsigned long long)m->st.delivered, (unsigned long long)m->st.duplicates,
                          (unsigned long long)m->st.reports_received,
                          (unsigned long long)m->st.reports_sent, (unsigned long long)m->st.transferred,
                          (unsigned long long)m->st.ndr_generated, open,
                          (unsigned long long)m->st.assoc_opened, (unsigned long long)m->st.aborts,
                          (unsigned long long)m->st.recoveries, (unsigned long long)m->st.bind_refused,
                          (unsigned long long)m->st.relayed, queue_len,
                          (unsigned long long)m->st.commits, (unsigned long long)m->st.checkpoints,
                          (unsigned long long)m->st.first_durable_ms,
                          (unsigned long long)m->st.last_durable_ms, m->nconns,
                          x400_driver_conn_count(m->drv), x400_driver_inbound_count(m->drv), m->nunbound,
                          mta_guard_sources(m->guard), m->ngrave, (unsigned long long)m->st.conn_refused,
                          (unsigned long long)x400_driver_refused_count(m->drv),
                          (unsigned long long)m->st.bind_timeouts, (unsigned long long)m->st.unbound_evicted,
                          (unsigned long long)m->st.bind_backoffs, (unsigned long long)m->st.conn_visits,
                          (unsigned long long)x400_driver_visit_count(m->drv));
    n += (size_t)snprintf(buf + n, cap - n, "checkpoint_running=%d\n", m->ckpt_inflight);
    n += (size_t)snprintf(buf + n, cap - n, "quarantined=%llu\npeer_busy=%llu\ngarbage_suppressed=%llu\n",
                          (unsigned long long)m->st.quarantined, (unsigned long long)m->st.peer_busy,
                          (unsigned long long)m->garbage.suppressed);
    n += (size_t)snprintf(buf + n, cap - n,
                          "rtse_saved=%llu\nrtse_restored=%llu\nrtse_refused=%llu\nrtse_resumed=%llu\n"
                          "rtse_octets_kept=%llu\nheap_live=%zu\nheap_peak=%zu\nheap_blocks=%zu\n",
                          (unsigned long long)m->st.rtse_saved, (unsigned long long)m->st.rtse_restored,
                          (unsigned long long)m->st.rtse_refused, (unsigned long long)m->st.rtse_resumed,
                          (unsigned long long)m->st.rtse_octets_kept, m->heap.live, m->heap.peak,
                          m->heap.blocks);
    mta_spool_write_snapshot(m->sp, "stats", buf, n);
    /* the queue view for `x400mta queue`: name state attempts next-retry-in-ms */
    n = 0;
    for (size_t p = 0; p < m->cfg->npeers; p++)
        for (qmsg *q = m->ps[p].head; q && n + 300 < cap; q = q->next) {
            uint64_t now = mono_ms();
            n += (size_t)snprintf(buf + n, cap - n, "%s %s %u %lld\n", q->name,
                                  q->state == Q_ACTIVE ? "transferring"
                                  : q->held               ? "held"
                                  : m->ps[p].open_failures ? "retrying"
                                                           : "queued",
                                  q->attempts,
                                  q->state == Q_WAIT && q->next_try > now
                                      ? (long long)(q->next_try - now)
                                      : m->ps[p].next_open > now ? (long long)(m->ps[p].next_open - now) : 0LL);
        }
    mta_spool_write_snapshot(m->sp, "status", buf, n);
    free(buf);
}

/* ---------------------------------------------------------------- holds */

/* The held queue files, one name a line, in the spool's durable state file
 * `holds` (written, fsynced, renamed, directory fsynced), so that a hold
 * survives a restart or a SIGKILL.  0, or -1 with m->err. */
static int holds_save(mta *m)
{
    size_t cap = 1, n = 0;
    char *buf;
    int rv;
    for (size_t p = 0; p < m->cfg->npeers; p++)
        for (qmsg *q = m->ps[p].head; q; q = q->next)
            if (q->held) cap += strlen(q->name) + 1;
    buf = malloc(cap);
    if (!buf) {
        snprintf(m->err, sizeof m->err, "out of memory");
        return -1;
    }
    for (size_t p = 0; p < m->cfg->npeers; p++)
        for (qmsg *q = m->ps[p].head; q; q = q->next)
            if (q->held) n += (size_t)snprintf(buf + n, cap - n, "%s\n", q->name);
    rv = mta_spool_write_state(m->sp, "holds", buf, n, m->err, sizeof m->err);
    free(buf);
    return rv;
}

/* After the queue is indexed: the holds of the last run back on their
 * APDUs (names no longer queued are forgotten at the next save). */
static void holds_load(mta *m)
{
    char *text = mta_spool_read_snapshot(m->sp, "holds");
    size_t k = 0;
    if (!text) return;
    for (char *line = text, *nl; *line; line = nl) {
        nl = line + strcspn(line, "\n");
        if (*nl) *nl++ = 0;
        for (size_t p = 0; p < m->cfg->npeers; p++)
            for (qmsg *q = m->ps[p].head; q; q = q->next)
                if (!q->held && !strcmp(q->name, line)) {
                    q->held = 1;
                    k++;
                }
    }
    free(text);
    if (k) LOG(m, SVC, X400_LOG_NOTICE, "%zu APDUs held (holds kept from the last run)", k);
}

/* `hold` / `release`: the new state made durable before it is answered;
 * if it cannot be, the APDU keeps its state and the operator is told. */
static void hold_set(mta *m, qmsg *q, int held, char *out, size_t cap)
{
    int was = q->held;
    q->held = held;
    if (holds_save(m) < 0) {
        q->held = was;
        snprintf(out, cap, "error: %s not %s: %.200s", q->mtsid, held ? "held" : "released", m->err);
        LOG(m, SVC, X400_LOG_ERROR, "operator: %s %s failed: %s", held ? "hold" : "release", q->mtsid, m->err);
        return;
    }
    if (!held) q->next_try = 0;
    snprintf(out, cap, "ok: %s %s", q->mtsid, held ? "held" : "released");
}

/* One queue control request ("verb MTSID"): the answer in out. */
static void control_one(mta *m, char *req, char *out, size_t cap)
{
    char *verb = req, *id = strchr(req, ' ');
    qmsg *q = NULL;
    size_t p;
    if (id) *id++ = 0;
    if (!id || !id[0]) {
        snprintf(out, cap, "error: no MTSID given");
        return;
    }
    if (!strcmp(verb, "retry") && !strcmp(id, "all")) {
        size_t k = 0;
        for (p = 0; p < m->cfg->npeers; p++) {
            m->ps[p].next_open = 0;
            for (q = m->ps[p].head; q; q = q->next, k++) q->next_try = 0;
        }
        LOG(m, SVC, X400_LOG_NOTICE, "operator: retry all (%zu APDUs)", k);
        snprintf(out, cap, "ok: %zu APDUs retried now", k);
        return;
    }
    for (p = 0; p < m->cfg->npeers && !q; p++)
        for (qmsg *x = m->ps[p].head; x && !q; x = x->next) {
            size_t l = strlen(id);
            if (!strcmp(x->mtsid, id) || !strcmp(x->name, id) ||
                (x->mtsid[0] == '[' && !strncmp(x->mtsid + 1, id, l) && !strcmp(x->mtsid + 1 + l, "]")))
                q = x;
        }
    if (!q) {
        snprintf(out, cap, "error: %s is not in the queue", id);
        return;
    }
    if (!strcmp(verb, "hold") || !strcmp(verb, "release")) {
        hold_set(m, q, verb[0] == 'h', out, cap);
        if (!strncmp(out, "error", 5)) return;
    } else if (!strcmp(verb, "retry")) {
        q->next_try = 0;
        m->ps[q->peer].next_open = 0;
        snprintf(out, cap, "ok: %s retried now%s", q->mtsid, q->held ? " (but held)" : "");
    } else if (!strcmp(verb, "delete") || !strcmp(verb, "bounce")) {
        int del = verb[0] == 'd';
        char id_copy[X400_MTSID_TEXT_MAX];
        if (q->state == Q_ACTIVE) {
            snprintf(out, cap, "error: %s is being transferred now: try again", q->mtsid);
            return;
        }
        snprintf(id_copy, sizeof id_copy, "%s", q->mtsid);
        give_up(m, q, del ? X400_NDR_TRANSFER_FAILURE : X400_NDR_UNABLE_TO_TRANSFER, -1,
                del ? "deleted by the operator" : "returned to the originator by the operator");
        snprintf(out, cap, "ok: %s %s, non-delivery report to its originator", id_copy,
                 del ? "deleted" : "bounced");
    } else {
        snprintf(out, cap, "error: unknown request \"%s\"", verb);
        return;
    }
    LOG(m, SVC, X400_LOG_NOTICE, "operator: %s %s", verb, id);
}

/* The tools' queue control requests (x400mta hold|release|retry|delete|bounce). */
static void control(mta *m)
{
    char **names = NULL;
    long n = mta_spool_requests(m->sp, &names);
    for (long i = 0; i < n; i++) {
        char *req = mta_spool_read_snapshot(m->sp, names[i]), rep[MTA_PATH_MAX], out[512];
        size_t l = strlen(names[i]);
        if (req) {
            req[strcspn(req, "\n")] = 0;
            control_one(m, req, out, sizeof out);
            snprintf(rep, sizeof rep, "%.*s.rep", (int)(l - 4), names[i]);
            strncat(out, "\n", sizeof out - strlen(out) - 1);
            mta_spool_write_snapshot(m->sp, rep, out, strlen(out));
        }
        mta_spool_remove_snapshot(m->sp, names[i]);
        free(req);
        free(names[i]);
    }
    free(names);
}

/* The spool failed (a full disk, an I/O error): nothing of the batch is
 * acknowledged and every association ends -- the senders keep what was not
 * confirmed, our own queue keeps what the peers did not confirm.  The
 * received MTSIDs of the batch are in memory only, so nothing is accepted
 * until the spool is reopened from the disk (try_resume). */
static void suspend(mta *m, const char *what)
{
    for (size_t i = 0; i < m->pd.nconfirm; i++) m->pd.confirm[i]->confirm = 0;
    m->pd.nconfirm = 0;
    m->pd.nq = m->pd.submits = 0;
    /* the batch in flight, durable or not, is never confirmed either */
    for (size_t i = 0; i < m->pdf.nconfirm; i++) m->pdf.confirm[i]->confirm = 0;
    m->pdf.nconfirm = 0;
    m->pdf.nq = m->pdf.submits = 0;
    m->inflight = 0;
    if (m->suspended) return;
    m->suspended = 1;
    m->resume_tries = 0;
    m->next_resume = mono_ms() + 1000;
    LOG(m, SVC, X400_LOG_ERROR, "%s failed: %s; transfers are refused (what was not confirmed stays with the "
        "senders) until the spool works again, retried every second", what, m->err);
    /* all dead before any is closed: a close reaches the link at once, and
     * its RTSE wants a new connection, which a dead conn never makes */
    for (conn *c = m->conns; c; c = c->next) {
        c->closing_for_suspend = !c->dead;
        c->dead = 1;
        touch(m, c);
    }
    for (conn *c = m->conns; c; c = c->next)
        if (c->closing_for_suspend && c->have_h) x400_driver_disconnect(m->drv, c->h);
}

/* The durable queue as the spool has it: indexed afresh. */
static void load_queue(mta *m)
{
    char **names = NULL;
    long n = mta_spool_list(m->sp, MTA_SPOOL_QUEUE, &names, m->err, sizeof m->err);
    for (size_t p = 0; p < m->cfg->npeers; p++)
        while (m->ps[p].head) {
            qmsg *q = m->ps[p].head;
            q_unlink(m, q);
            free(q);
        }
    for (long i = 0; i < n; i++) {
        mta_spool_hdr h;
        if (mta_spool_read(m->sp, MTA_SPOOL_QUEUE, names[i], &h, NULL, NULL, m->err, sizeof m->err) == 0)
            q_add(m, names[i], &h);
        else
            LOG(m, SVC, X400_LOG_ERROR, "queue file %s: %s", names[i], m->err);
    }
    if (n > 0) LOG(m, SVC, X400_LOG_NOTICE, "%ld APDUs in the queue", n);
    mta_spool_names_free(names, n);
    holds_load(m);
}

/* The set saved by the checkpoint in flight is not needed any more (it
 * was reported, or the spool was closed). */
static void checkpoint_release(mta *m)
{
    if (m->ckpt_blob) mta_heap_free(&m->heap, m->ckpt_blob);
    m->ckpt_blob = NULL;
    m->ckpt_inflight = 0;
}

/* Suspended: once every association is gone (no link holds the received
 * MTSID set), reopen the spool -- its journal replayed, the set rebuilt
 * from the disk -- and accept again.  Retried every second. */
static void try_resume(mta *m, uint64_t now)
{
    x400_p1_idset *seen = NULL;
    if (m->conns || now < m->next_resume) return;
    m->next_resume = now + 1000;
    m->resume_tries++;
    if (m->sp) mta_spool_close(m->sp);
    m->sp = NULL;
    checkpoint_release(m);
    if (m->seen) x400_p1_idset_free(m->seen);
    m->seen = NULL;
    if (x400_p1_idset_new(&seen, 1u << 20, &m->heap.a) < 0) return;
    if (mta_spool_open(&m->sp, m->cfg->spool, 1, seen, m->err, sizeof m->err) < 0) {
        m->sp = NULL;
        x400_p1_idset_free(seen);
        if (m->resume_tries == 1 || m->resume_tries % 60 == 0)
            LOG(m, SVC, X400_LOG_ERROR, "spool still failing (attempt %u): %s", m->resume_tries, m->err);
        return;
    }
    m->seen = seen;
    mta_spool_set_notify(m->sp, m->wake[1]);
    load_queue(m);
    m->suspended = 0;
    m->last_checkpoint = now;
    LOG(m, SVC, X400_LOG_NOTICE, "spool works again after %u attempts: accepting transfers (received-MTSID set %zu)",
        m->resume_tries, x400_p1_idset_count(m->seen));
}

/* A batch is durable (or, with nothing staged, there was nothing to make
 * durable): index its queue files and confirm the transfers it answers. */
static void batch_durable(mta *m, pend *p, int had_items)
{
    if (had_items && p->delivered > m->st.durable_delivered) {
        m->st.durable_delivered = p->delivered;
        m->st.last_durable_ms = wall_ms();
        if (!m->st.first_durable_ms) m->st.first_durable_ms = m->st.last_durable_ms;
    }
    for (size_t i = 0; i < p->nq; i++) q_add(m, p->q[i].name, &p->q[i].h);
    p->nq = 0;
    p->submits = 0;
    for (size_t i = 0; i < p->nconfirm; i++) {
        conn *c = p->confirm[i];
        c->confirm = 0;
        touch(m, c);
        if (c->rt_erase) { /* its APDU is durable now: the record is not needed */
            mta_spool_rtse_erase(m->sp, &c->rt);
            c->rt_erase = 0;
        }
        if (c->link) {
            (void)x400_p1_link_tick(c->link, mono_ms());
            (void)x400_p1_link_confirm(c->link);
        }
    }
    p->nconfirm = 0;
}

/* The batch in flight: wait for it (block) or look whether it is durable;
 * then confirm it.  0 (none left in flight), 1 (still in flight), -1 (the
 * spool failed: suspended). */
static int inflight_done(mta *m, int block)
{
    if (!m->inflight) return 0;
    int r = mta_spool_commit_poll(m->sp, block, m->err, sizeof m->err);
    if (r < 0) {
        suspend(m, "spool commit");
        return -1;
    }
    if (r == 0) return 1;
    m->inflight = 0;
    batch_durable(m, &m->pdf, 1);
    return 0;
}

/* Make this turn's batch durable now, then confirm the transfers it
 * answers, then write its files (the journal holds them: the confirmations
 * need not wait for the inbox files' creation).  The batch in flight goes
 * first.  Before a checkpoint and at shutdown. */
static int commit(mta *m)
{
    int rv = 0, had;
    if (m->suspended) return 0;
    if (inflight_done(m, 1) < 0) return -1;
    had = mta_spool_staged(m->sp) != 0;
    if (had) {
        rv = mta_spool_commit_durable(m->sp, m->err, sizeof m->err);
        if (rv < 0) {
            suspend(m, "spool commit");
            return -1;
        }
        m->st.commits++;
    }
    m->pd.delivered = m->st.delivered;
    batch_durable(m, &m->pd, had);
    if (rv > 0 && mta_spool_apply_async(m->sp, m->err, sizeof m->err) < 0) {
        suspend(m, "spool commit");
        return -1;
    }
    return rv;
}

/* Pipelined group commit, once per loop turn: the batch in flight is
 * confirmed once the writer thread made it durable (it wakes the loop
 * through m->wake); then, when the thread is free, this turn's batch is
 * handed to it, and the loop goes on reading sockets meanwhile.  Nothing
 * is confirmed before its batch is durable: a turn that staged nothing
 * (a duplicate whose first copy is in the batch in flight) confirms only
 * when no batch is in flight.  A checkpoint holds nothing back
 * (checkpoint_pipelined). */
static void commit_pipelined(mta *m)
{
    uint8_t b[64];
    while (m->wake[0] >= 0 && read(m->wake[0], b, sizeof b) > 0) {}
    if (m->suspended) return;
    if (inflight_done(m, 0) != 0) return;
    if (!mta_spool_staged(m->sp)) {
        m->pd.delivered = m->st.delivered;
        batch_durable(m, &m->pd, 0);
        return;
    }
    if (mta_spool_writer_busy(m->sp)) return; /* the thread wakes us when free */
    int rv = mta_spool_commit_async(m->sp, m->err, sizeof m->err);
    if (rv < 0) {
        suspend(m, "spool commit");
        return;
    }
    m->st.commits++;
    m->pd.delivered = m->st.delivered;
    {   /* the staged batch is the one in flight now */
        pend t = m->pdf;
        m->pdf = m->pd;
        m->pd = t;
        m->pd.nq = m->pd.nconfirm = m->pd.submits = 0;
    }
    m->inflight = 1;
}

static int checkpoint_due(const mta *m, uint64_t now)
{
    uint64_t jb = mta_spool_journal_bytes(m->sp);
    return !m->suspended && (jb > CHECKPOINT_BYTES || (jb && now - m->last_checkpoint > CHECKPOINT_MS));
}

/* Checkpoints off the loop, once per turn: the one in flight collected
 * when the spool's checkpointer thread wakes us; a new one started when
 * one is due and nothing is staged -- right after commit_pipelined handed
 * the staged batch over, so every MTSID in the set saved now is in a
 * batch handed before the journal's rotation, which the checkpointer waits
 * for before it writes the set (never a received MTSID on the disk ahead
 * of its message).  The loop neither waits nor holds a batch back. */
static void checkpoint_pipelined(mta *m, uint64_t now)
{
    if (m->suspended) return;
    if (m->ckpt_inflight) {
        int r = mta_spool_checkpoint_poll(m->sp, 0, m->err, sizeof m->err);
        if (r == 0) return;
        checkpoint_release(m);
        if (r < 0) {
            suspend(m, "checkpoint");
            return;
        }
        m->st.checkpoints++;
    }
    if (!checkpoint_due(m, now) || mta_spool_staged(m->sp)) return;
    if (x400_p1_idset_save(m->seen, &m->ckpt_blob, &m->ckpt_len) != X400_OK) {
        m->ckpt_blob = NULL;
        return; /* out of memory: tried again next turn */
    }
    if (mta_spool_checkpoint_async(m->sp, m->ckpt_blob, m->ckpt_len, m->err, sizeof m->err) < 0) {
        int busy = errno == EBUSY;
        checkpoint_release(m);
        if (!busy) suspend(m, "checkpoint");
        return;
    }
    m->ckpt_inflight = 1;
    m->last_checkpoint = now;
}

static void set_peer_table(mta *m)
{
    for (size_t i = 0; i < m->cfg->npeers; i++) {
        m->peertab[i].mta_name = m->cfg->peers[i].name;
        m->peertab[i].password = m->cfg->peers[i].their_password;
        m->peertab[i].password_len = m->cfg->peers[i].their_password_len;
        m->peertab[i].require_auth = !m->cfg->peers[i].their_password_none;
    }
    m->table.peers = m->peertab;
    m->table.n = m->cfg->npeers;
}

/* SIGHUP: the log reopened (log rotation), the configuration read again.
 * A file that fails to load or check is refused and the old configuration
 * stays.  Peers, routes, local prefixes, link settings and log levels take
 * effect (associations already open keep the settings they were opened
 * with); name, gdi, node, spool and listen need a restart and are kept.  A
 * peer that still has queued APDUs or associations cannot be removed. */
static void reload(mta *m)
{
    mta_config *nc;
    const mta_config *oc = m->cfg;
    char err[512];
    int map[MTA_MAX_PEERS];
    peerst nps[MTA_MAX_PEERS];
    int same;
    mta_log_close(&m->lg);
    if (mta_log_open(&m->lg, oc->log_path, oc->log_level, oc->name) < 0) {
        mta_log_open(&m->lg, "-", oc->log_level, oc->name);
        LOG(m, SVC, X400_LOG_ERROR, "SIGHUP: cannot reopen log %s: %s (logging to stderr)", oc->log_path,
            strerror(errno));
    }
    if (!m->reload) {
        LOG(m, SVC, X400_LOG_NOTICE, "SIGHUP: log reopened (no configuration file to re-read)");
        return;
    }
    if (!(nc = calloc(1, sizeof *nc))) return;
    if (m->reload(m->reload_user, nc, err, sizeof err) < 0 || mta_config_check(nc, err, sizeof err) < 0) {
        LOG(m, SVC, X400_LOG_ERROR, "SIGHUP: configuration refused, the running one is kept: %s", err);
        free(nc);
        return;
    }
    same = !strcmp(nc->name, oc->name) && !memcmp(&nc->gdi, &oc->gdi, sizeof nc->gdi) &&
           !strcmp(nc->node, oc->node) && !strcmp(nc->spool, oc->spool) && nc->nlisten == oc->nlisten &&
           !memcmp(nc->listen, oc->listen, sizeof nc->listen);
    if (!same) {
        LOG(m, SVC, X400_LOG_WARNING, "SIGHUP: name, gdi, node, spool and listen need a restart: "
            "the running values are kept");
        memcpy(nc->name, oc->name, sizeof nc->name);
        nc->gdi = oc->gdi;
        memcpy(nc->node, oc->node, sizeof nc->node);
        memcpy(nc->spool, oc->spool, sizeof nc->spool);
        memcpy(nc->listen, oc->listen, sizeof nc->listen);
        nc->nlisten = oc->nlisten;
    }
    /* old peer index -> new one, by name */
    for (size_t i = 0; i < oc->npeers; i++) {
        const mta_peer_config *np = mta_config_peer(nc, oc->peers[i].name);
        map[i] = np ? (int)(np - nc->peers) : -1;
        if (map[i] < 0) {
            size_t busy = 0;
            for (conn *c = m->conns; c; c = c->next)
                if (!c->dead && c->peer == (int)i) busy++;
            if (m->ps[i].head || busy) {
                LOG(m, SVC, X400_LOG_ERROR, "SIGHUP: configuration refused, the running one is kept: "
                    "peer %s still has %zu queued APDUs and %zu associations", oc->peers[i].name,
                    m->ps[i].waiting + m->ps[i].active, busy);
                free(nc);
                return;
            }
        }
    }
    for (conn *c = m->conns; c; c = c->next) account_as(m, c, 0); /* counted again below */
    memset(nps, 0, sizeof nps);
    for (size_t i = 0; i < oc->npeers; i++)
        if (map[i] >= 0) nps[map[i]] = m->ps[i];
    for (size_t i = 0; i < oc->npeers; i++)
        for (qmsg *q = m->ps[i].head; q; q = q->next) q->peer = map[i];
    for (conn *c = m->conns; c; c = c->next)
        if (c->peer >= 0) c->peer = map[c->peer] >= 0 ? map[c->peer] : -1;
    memcpy(m->ps, nps, sizeof nps);
    {
        mta_config *old = m->own;
        m->cfg = m->own = nc;
        set_peer_table(m);
        for (int c = 0; c < 3; c++) m->lg.level[c] = nc->log_level[c];
        if (strcmp(nc->log_path, old->log_path)) {
            mta_log_close(&m->lg);
            if (mta_log_open(&m->lg, nc->log_path, nc->log_level, nc->name) < 0)
                mta_log_open(&m->lg, "-", nc->log_level, nc->name);
        }
        free(old);
    }
    /* the garbage log limit takes the new values (its table stays) */
    m->garbage.max_lines = nc->lim.garbage_log_lines;
    m->garbage.interval_ms = (uint64_t)nc->lim.garbage_log_interval_s * 1000u;
    for (conn *c = m->conns; c; c = c->next) { /* under the new peer indexes and settings */
        account_as(m, c, flags_of(m, c, mono_ms()));
        touch(m, c);
    }
    LOG(m, SVC, X400_LOG_NOTICE, "SIGHUP: configuration re-read (%zu peers), log reopened", nc->npeers);
}

/* One descriptor per connection: the soft limit goes up to what
 * max-connections needs (the hard limit permitting). */
static void raise_fd_limit(mta *m)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)m->cfg->lim.max_connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        LOG(m, IFC, X400_LOG_WARNING, "max-connections %u needs %llu file descriptors; the limit is %llu",
            m->cfg->lim.max_connections, (unsigned long long)want, (unsigned long long)rl.rlim_cur);
}

static int listen_all(mta *m)
{
    for (size_t i = 0; i < m->cfg->nlisten; i++) {
        char host[MTA_HOST_MAX + 20], *port;
        const char *h;
        snprintf(host, sizeof host, "%s", m->cfg->listen[i]);
        port = strrchr(host, ':');
        if (!port) {
            startup_fail(m, "listen address %s: no port", m->cfg->listen[i]);
            return -1;
        }
        *port++ = 0;
        h = host;
        if (host[0] == '[') {
            h = host + 1;
            if (strchr(host, ']')) *strchr(host, ']') = 0;
        }
        if (!strcmp(h, "*") || !h[0]) h = NULL;
        if (x400_driver_listen(m->drv, h, port) <= 0) {
            startup_fail(m, "cannot listen on %s (address %s, port %s): %s", m->cfg->listen[i], h ? h : "*",
                         port, x400_driver_diag(m->drv)->text);
            return -1;
        }
        LOG(m, IFC, X400_LOG_NOTICE, "listening on %s", m->cfg->listen[i]);
    }
    return 0;
}

/* Why a stored RTSE record cannot be restored (NULL: it can): another
 * peer's, or written before the machine restarted (CLOCK_MONOTONIC, which
 * the links' timers run on, started again: its distance from the wall
 * clock moved), or what x400_p1_link_restore refused (corrupt, expired). */
static const char *restore_one(mta *m, const char *name, conn **out)
{
    mta_spool_rtse_loaded ld;
    mta_spool_rtse f;
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { NULL, on_link };
    x400_rtse_record_info info;
    uint64_t mono = mono_ms(), wall = wall_ms();
    int64_t skew;
    const char *why = NULL;
    conn *c;
    int p;
    *out = NULL;
    if (mta_spool_rtse_load(m->sp, name, &ld, &f, m->err, sizeof m->err) < 0) return m->err;
    skew = (int64_t)(wall - ld.wall_ms) - (int64_t)(mono - ld.mono_ms);
    if ((p = peer_index(m, ld.peer)) < 0) why = "it names an MTA that is not a peer";
    else if (ld.mono_ms > mono || skew > 60000 || skew < -60000) why = "written before the machine restarted";
    else if (x400_rtse_record_info_get(ld.rec, ld.rec_len, &info) != X400_OK) why = "bad record";
    if (why || !(c = conn_new(m, 0, p))) {
        free(ld.octets);
        return why ? why : "out of memory";
    }
    *out = c;
    cb.user = c;
    link_config(m, &lc, X400_ROLE_RESPONDER, NULL);
    /* the link's clock is the MTA's (CLOCK_MONOTONIC, the same across
     * processes on one boot): the record's expiry is checked against it */
    if (x400_p1_link_new(&c->link, &lc, &cb, &m->heap.a) < 0 || x400_p1_link_tick(c->link, mono) < 0) {
        why = "out of memory";
    } else if (x400_p1_link_restore(c->link, ld.rec, ld.rec_len, ld.octets, ld.octets_len) < 0) {
        snprintf(m->err, sizeof m->err, "%s", x400_p1_link_diag(c->link)->text);
        why = m->err;
    } else {
        c->bound = 1; /* the peer bound the interrupted association */
        c->rt = f;
        c->restored = 1;
        c->restored_until = info.expires_ms;
        c->restored_octets = ld.octets_len;
    }
    free(ld.octets);
    return why;
}

/* At start-up: the RTSE receiver records the last run left (transfers in
 * progress when it stopped or was killed) go back into responder links
 * that wait for their peer to recover the connection (route_recovery);
 * the transfer then resumes from its last confirmed checkpoint.  A record
 * that cannot be used is refused and removed: the peer's recovery is then
 * refused and it sends the APDU again from the start (never a mix of two
 * transfers: the octets are checked against the CRC saved with them, and
 * the MTSID set recognises what was delivered before). */
static void restore_records(mta *m)
{
    char **names = NULL;
    long n = mta_spool_rtse_list(m->sp, &names, m->err, sizeof m->err);
    if (n < 0) LOG(m, SVC, X400_LOG_ERROR, "RTSE records: %s", m->err);
    for (long i = 0; i < n; i++) {
        conn *c;
        const char *why = restore_one(m, names[i], &c);
        if (why) {
            mta_spool_rtse f;
            memset(&f, 0, sizeof f);
            snprintf(f.name, sizeof f.name, "%s", names[i]);
            f.exists = 1;
            m->st.rtse_refused++;
            LOG(m, IFC, X400_LOG_NOTICE, "RTSE record %s refused (%s): removed; its transfer starts again "
                "from the beginning", names[i], why);
            mta_spool_rtse_erase(m->sp, &f);
            if (c) c->dead = 1;
            continue;
        }
        m->st.rtse_restored++;
        LOG(m, IFC, X400_LOG_NOTICE, "assoc #%u: RTSE record %s restored: waiting for %s to recover the "
            "transfer (%zu octets kept)", c->id, names[i], peer_name(m, c->peer), c->restored_octets);
    }
    mta_spool_names_free(names, n);
}

/* Whatever start-up had opened, closed again; exit status 1. */
static void wake_close(mta *m)
{
    for (int i = 0; i < 2; i++)
        if (m->wake[i] >= 0) close(m->wake[i]);
    m->wake[0] = m->wake[1] = -1;
}

static int start_failed(mta *m)
{
    if (m->guard) mta_guard_free(m->guard);
    if (m->drv) x400_driver_free(m->drv);
    if (m->ids) x400_mtsid_free(m->ids);
    if (m->sp) mta_spool_close(m->sp);
    if (m->seen) x400_p1_idset_free(m->seen);
    wake_close(m);
    mta_log_close(&m->lg);
    free(m->own);
    return 1;
}

int mta_run(const mta_config *cfg) { return mta_run_reloadable(cfg, NULL, NULL); }

int mta_run_reloadable(const mta_config *cfg_in, mta_reload_fn reload_fn, void *reload_user)
{
    mta mm, *m = &mm;
    x400_driver_config dc;
    x400_driver_callbacks dcb;
    x400_mtsid_config ic;
    x400_diag d;
    char path[MTA_PATH_MAX + 32];
    struct sigaction sa;
    int status = 0;
    uint64_t stop_at = 0;

    const mta_config *cfg;
    memset(m, 0, sizeof *m);
    m->wake[0] = m->wake[1] = -1;
    if (!(m->own = malloc(sizeof *m->own))) return 1;
    *m->own = *cfg_in;
    m->cfg = cfg = m->own;
    m->reload = reload_fn;
    m->reload_user = reload_user;
    mta_heap_init(&m->heap);
#ifdef __GLIBC__
    /* APDUs of a few MiB are allocated and freed all the time: keep them in
     * the heap instead of a fresh mmap (page faults, zeroing) each time */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    m->start_ms = wall_ms();
    if (mta_log_open(&m->lg, cfg->log_path, cfg->log_level, cfg->name) < 0) {
        fprintf(stderr, "x400mta: cannot open log %s: %s\n", cfg->log_path, strerror(errno));
        return start_failed(m);
    }
    m->liblog = mta_log_library(&m->lg);
    if (x400_p1_idset_new(&m->seen, 1u << 20, &m->heap.a) < 0) return start_failed(m);
    if (mta_spool_open(&m->sp, cfg->spool, 1, m->seen, m->err, sizeof m->err) < 0) {
        startup_fail(m, "spool: %s", m->err);
        return start_failed(m);
    }
    /* the spool's writer thread says "a batch is durable" through it */
    if (pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        m->wake[0] = m->wake[1] = -1;
        startup_fail(m, "pipe: %s", strerror(errno));
        return start_failed(m);
    }
    mta_spool_set_notify(m->sp, m->wake[1]);
    x400_mtsid_config_init(&ic);
    ic.state_path = mta_spool_path(m->sp, "mtsid", path, sizeof path);
    ic.node_id = cfg->node;
    ic.gdi = cfg->gdi;
    ic.flags = X400_MTSID_CREATE;
    ic.logger = &m->liblog;
    if (x400_mtsid_new(&m->ids, &ic, &d) < 0 || x400_mtsid_cursor_init(&m->cur, m->ids) < 0) {
        startup_fail(m, "MTSID allocator (%s): %s", path, d.text);
        return start_failed(m);
    }
    for (size_t i = 0; i < cfg->npeers; i++) {
        if (cfg->peers[i].their_password_none)
            LOG(m, IFC, X400_LOG_WARNING, "peer %s: their-password = none: any MTA binding as %s "
                "without a password is accepted", cfg->peers[i].name, cfg->peers[i].name);
    }
    if (mta_guard_new(&m->guard, &cfg->lim) < 0) {
        startup_fail(m, "connection guard: out of memory");
        return start_failed(m);
    }
    mta_srclog_init(&m->garbage, cfg->lim.garbage_log_lines, (uint64_t)cfg->lim.garbage_log_interval_s * 1000u);
    raise_fd_limit(m);
    set_peer_table(m);
    load_queue(m); /* the durable queue, as left by the last run */
#ifdef X400MTA_TEST_HOOKS
    {   /* test hook (check_mtacli): a start this many ms longer, as with a
         * long journal to replay -- signals that come meanwhile wait */
        const char *v = getenv("X400MTA_TEST_START_DELAY_MS");
        unsigned long ms = v && *v ? strtoul(v, NULL, 10) : 0;
        struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
        while (ms && nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
#endif
    x400_driver_config_init(&dc);
    dc.max_conns = cfg->lim.max_connections;
    dc.max_inbound = cfg->lim.max_connections - cfg->lim.reserved_outbound;
    dc.log = m->liblog;
    dcb.user = m;
    dcb.accepted = on_accepted;
    dcb.connected = on_connected;
    dcb.closed = on_closed;
    dc.notify_output = 1; /* settle() flags what the loop gave work */
    dc.tcp_fast_open = cfg->tcp_fast_open;
    if (x400_driver_new(&m->drv, &dc, &dcb, &m->heap.a) < 0 || listen_all(m) < 0) return start_failed(m);
    x400_driver_set_activity(m->drv, on_activity);
    if (x400_driver_set_wake_fd(m->drv, m->wake[0]) < 0) {
        startup_fail(m, "driver: %s", x400_driver_diag(m->drv)->text);
        return start_failed(m);
    }
    restore_records(m); /* transfers cut by the last run's end resume */

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    mta_block_stop_signals(0); /* those that came during the start: handled now */
    LOG(m, SVC, X400_LOG_NOTICE, "MTA %s started (spool %s, %zu peers, received-MTSID set %zu)", cfg->name,
        cfg->spool, cfg->npeers, x400_p1_idset_count(m->seen));
    m->last_checkpoint = mono_ms();

    for (;;) {
        uint64_t now = mono_ms();
        int timeout = HOUSEKEEP_MS, housekeep;
        if (got_hup) {
            got_hup = 0;
            reload(m);
            cfg = m->cfg;
        }
        if (got_signal && !m->stopping) {
            LOG(m, SVC, X400_LOG_NOTICE, "signal %d: releasing associations and stopping", (int)got_signal);
            m->stopping = 1;
            m->stop_since = now;
            stop_at = now + 3000;
            for (conn *c = m->conns; c; c = c->next) touch(m, c); /* outbound ones: released now */
        }
        settle(m, now); /* what the driver's events touched */
        if (m->stopping && (!m->nalive || now > stop_at)) break;
        if (m->suspended) try_resume(m, now);
        if (!m->stopping && !m->suspended && now - m->last_pickup >= 50) {
            m->last_pickup = now;
            /* not while the removal of a submission taken over is staged
             * or in flight: the file is still there, and would be taken
             * over twice (the list would wait for the batch in flight) */
            if (!m->pd.submits && !(m->inflight && m->pdf.submits)) pickup(m);
            control(m);
        }
        /* Per-peer work (opening, retries, the bind deadline) at most every
         * HOUSEKEEP_MS; per-association work only for those whose deadline
         * came (run_timers) or that had events or work (settle): a turn
         * costs what happened, not the associations held (doc/mta.md,
         * "Scale").  A suspended MTA (its spool cannot commit) opens
         * nothing and feeds no link. */
        housekeep = m->stopping || now - m->last_housekeep >= HOUSEKEEP_MS;
        if (housekeep) {
            m->last_housekeep = now;
            if (!m->suspended) manage_peers(m, now);
            guard_tick(m, now);
        }
        run_timers(m, now);
        if (!m->suspended && any_ready(m, now)) feed_links(m, now);
        commit_pipelined(m);
        checkpoint_pipelined(m, now);
        if (m->sp && now - m->last_snapshot >= SNAPSHOT_MS) {
            m->last_snapshot = now;
            snapshot(m);
        }
        settle(m, now);
        reap(m);
        {
            uint64_t due = mta_timers_next(&m->timers);
            if (m->touched || due <= now) timeout = 0;
            else if (due != MTA_TIMER_NONE && due - now < (uint64_t)timeout) timeout = (int)(due - now);
        }
        if (x400_driver_run(m->drv, timeout) < 0) {
            mta_log_diag(&m->lg, X400_LOG_ERROR, "driver", x400_driver_diag(m->drv));
        }
    }
    /* shutdown: what was received is made durable, then checkpointed */
    if (commit(m) < 0) status = 1;
    for (conn *c = m->conns; c; c = c->next) {
        c->dead = 1;
        touch(m, c);
    }
    settle(m, mono_ms());
    reap(m);
    reap(m);
    /* the synchronous checkpoint waits for the one in flight first */
    if (m->suspended || mta_spool_checkpoint(m->sp, m->seen, m->err, sizeof m->err) < 0) {
        LOG(m, SVC, X400_LOG_ERROR, "stopping with the spool failed: %s (the journal is replayed at the next start)",
            m->err);
        status = 1;
    }
    if (m->sp) snapshot(m);
    x400_driver_free(m->drv);
    for (conn *c = m->conns; c; c = c->next) graves_unkeep(m, c);
    while (m->graveyard) {
        struct grave *g = m->graveyard;
        m->graveyard = g->next;
        x400_assoc_free(g->a);
        mta_heap_free(&m->heap, g);
    }
    mta_timers_free(&m->timers);
    mta_guard_free(m->guard);
    for (size_t p = 0; p < cfg->npeers; p++)
        while (m->ps[p].head) {
            qmsg *q = m->ps[p].head;
            q_unlink(m, q);
            free(q);
        }
    x400_mtsid_free(m->ids);
    if (m->sp) mta_spool_close(m->sp);
    checkpoint_release(m);
    if (m->seen) x400_p1_idset_free(m->seen);
    LOG(m, SVC, X400_LOG_NOTICE, "MTA %s stopped", cfg->name);
    mta_log_close(&m->lg);
    free(m->own);
    free(m->pd.q);
    free(m->pd.confirm);
    free(m->pdf.q);
    free(m->pdf.confirm);
    wake_close(m);
    return status;
}
