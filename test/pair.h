/* The two-endpoint harness shared by the Check suites and the benches:
 * two protocol endpoints in one process, the octets one has to send moved
 * into the other until nothing moves (a pump), optionally
 *   - split: each delivery in two pieces at an offset (a test runs its
 *     exchange once per offset: every input split at every offset),
 *   - chunked: deliveries of at most N octets, or taken N at a time,
 *   - cut: the connection lost once the initiator has sent N octets (the
 *     piece crossing N is lost with it, both ends are told, the responder
 *     first, as a receiver learns of a broken TCP connection first),
 *   - recorded: every octet into an x400t_wire (wire.h), which
 *     x400t_wire_check() hands to tshark as a pcapng.
 * No Check calls here (the benches link it): failures are returned, with
 * the reason in pair->err.  Scratch directories and free ports for the
 * end-to-end suites are at the end. */
#ifndef X400T_PAIR_H
#define X400T_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "x400p1/assoc.h"

/* One endpoint kind, as the pump sees it: a sans-I/O object with output
 * pending and an input function. */
typedef struct x400t_end_ops {
    /* Octets waiting to be sent (*p valid until sent() or the next call). */
    size_t (*pending)(void *end, const uint8_t **p);
    /* The first n pending octets are gone. */
    void (*sent)(void *end, size_t n);
    /* Input: n (all taken), or < 0 when the end refused it (it aborted). */
    int (*recv)(void *end, const uint8_t *p, size_t n);
    /* The connection is lost (NULL: nothing to tell). */
    void (*lost)(void *end);
    /* 1: pending() hands one TSDU at a time, moved whole (never split,
     * chunked or taken in part) and recorded as DT TPDUs
     * (x400t_wire_add_tsdu); 0: a byte stream of TPKTs. */
    int tsdu;
} x400t_end_ops;

/* An x400_assoc (include/x400p1/assoc.h) as an end. */
extern const x400t_end_ops x400t_assoc_end;
/* An x400_assoc ** as an end: the association it points to at each call
 * (a test that replaces its associations, e.g. on RTSE recovery; NULL:
 * nothing to send, input dropped). */
extern const x400t_end_ops x400t_assoc_slot_end;

/* A session machine (lib/session.h) as an end (test/support_ses_end.c:
 * the tests and the benches link it, not the demo driver): the TSDUs it sent
 * (x400i_ses_callbacks.send_tsdu -> x400t_ses_end_push), oldest first,
 * and the machine that recv() feeds (x400i_ses_input) and lost() tells
 * (x400i_ses_transport_lost, after the queue is dropped: what was in
 * flight is lost with the connection).  A test that replaces its
 * session (a new connection) repoints s; s NULL: input dropped. */
typedef struct x400t_tsdu { uint8_t *p; size_t len; } x400t_tsdu;
typedef struct x400t_ses_end {
    struct x400i_ses *s;
    x400t_tsdu *q;          /* q[0..n): sent, not yet moved */
    size_t n, cap;
    uint8_t *lent;          /* q[0].p as pending() handed it out */
    int lent_dropped;       /* flushed while lent: freed by sent() */
} x400t_ses_end;
extern const x400t_end_ops x400t_session_end;
/* Queue one TSDU; 0, or -1 (no memory). */
int x400t_ses_end_push(x400t_ses_end *e, const uint8_t *p, size_t n);
/* Drop every queued TSDU (a connection lost or replaced). */
void x400t_ses_end_flush(x400t_ses_end *e);
/* Free the queue (not the machine). */
void x400t_ses_end_free(x400t_ses_end *e);

typedef struct x400t_pair {
    const x400t_end_ops *ops;
    void *end[2];           /* [0] the initiator, [1] the responder; NULL: none
                             * (what is sent to it is dropped) */
    /* split, chunk, take: 0 when ops->tsdu (x400t_pair_move refuses them) */
    size_t split;           /* > 0: each delivery in two pieces, the first `split` octets */
    size_t chunk;           /* > 0: deliveries of at most `chunk` octets */
    size_t take;            /* > 0: at most `take` octets taken from pending() at once
                             * (and the other end answers in between: see x400t_pair_pump) */
    int interleave;         /* 1: after each piece from the initiator, the responder's
                             * output goes back before the next piece */
    int direct;             /* 1: delivered from the sender's pending buffer, sent()
                             * after (no copy: for ends whose pending buffer stays
                             * valid while the receiver makes the sender emit --
                             * the session end -- or a bench's that never does) */
    x400t_wire *wire;       /* non-NULL: every octet moved is recorded */
    int drop[2];            /* 1: what end[k] sends is taken and lost (a peer
                             * that never answers; not recorded, not tapped) */
    int cut_armed;          /* 1: cut when the initiator's octets pass cut_at */
    size_t cut_at, counted; /* counted: the initiator's octets delivered while armed */
    int cuts;               /* cuts made */
    size_t moved;           /* octets delivered, both ways */
    size_t refused;         /* deliveries an end refused (recv < 0) */
    int first_refusal;      /* the first such recv result */
    int last_refusal;       /* the last one */
    int max_rounds;         /* > 0: stop after this many rounds, settled or not */
    int guard;              /* rounds before "did not settle" (0: 1000000) */
    /* After every round (may be NULL): < 0 stops the pump with the reason
     * written to err. */
    int (*after_round)(void *user, char *err, size_t errlen);
    /* Every piece taken from end[from] and not lost to a cut, before it is
     * delivered (may be NULL): e.g. a capture of each direction's stream. */
    void (*tap)(void *user, int from, const uint8_t *p, size_t n);
    void *user;             /* of after_round and tap */
    char err[600];
    uint8_t *buf;           /* copy of what is being delivered */
    size_t cap;
} x400t_pair;

/* Zero everything, set the ends; x400t_pair_free() releases the copy buffer. */
void x400t_pair_init(x400t_pair *p, const x400t_end_ops *ops, void *initiator, void *responder);
void x400t_pair_free(x400t_pair *p);

/* Move what end[from] (0 or 1) has pending to the other end.  Returns the
 * octets taken (0: nothing pending), or -1 (err: a short input). */
long x400t_pair_move(x400t_pair *p, int from);

/* Move both ways until nothing moves (or max_rounds rounds).  0, or -1
 * (err: did not settle, a short input, after_round failed). */
int x400t_pair_pump(x400t_pair *p);

/* Arm a cut after `at` more octets from the initiator. */
void x400t_pair_cut_after(x400t_pair *p, size_t at);
/* Cut now: both ends are told the connection is lost, the responder first. */
void x400t_pair_cut(x400t_pair *p);

/* Feed n octets to one end in two pieces at `split` (0 or >= n: one
 * piece), then in pieces of at most `chunk` (0: no limit).  n (all
 * taken), a recv result < 0 when the end refused a piece (nothing more is
 * fed), or the octets taken (< n) when it took only part of a piece. */
int x400t_feed(const x400t_end_ops *ops, void *end, const uint8_t *b, size_t n, size_t split,
               size_t chunk);

/* Take everything `end` has pending: appended to *buf (a realloc'd
 * buffer of *len octets; buf NULL: dropped) and, when w is not NULL,
 * recorded as sent by the initiator or not.  The octets taken. */
size_t x400t_take(const x400t_end_ops *ops, void *end, uint8_t **buf, size_t *len, x400t_wire *w,
                  int from_initiator);

/* ---- two associations wired together (the layer suites' opening) ----
 * (test/support_assoc_pair.c: it sets the internal upper layer, so the
 * demo driver, which links support_pair.c against the library, leaves it
 * out) */

/* What one side of an association pair is made with. */
struct x400i_assoc_upper;
typedef struct x400t_assoc_side {
    x400_mode mode;                         /* when config is NULL: X400_MODE_NORMAL
                                             * (0, the default) or X400_MODE_X410 */
    const x400_assoc_config *config;        /* NULL: x400_assoc_config_init for the
                                             * side's role, then `mode`; else used as
                                             * is (the caller's tweaks) */
    const x400_assoc_callbacks *cb;         /* NULL: no events */
    const struct x400i_assoc_upper *upper;  /* NULL: none (lib/assoc_int.h: where
                                             * RTSE sits; copied) */
} x400t_assoc_side;

/* One association for one side (responder 0: the initiator); side NULL:
 * the defaults.  X400_OK, or x400_assoc_new's error (*a NULL). */
int x400t_assoc_side_new(x400_assoc **a, int responder, const x400t_assoc_side *side);

typedef struct x400t_assoc_pair {
    x400_assoc *a[2];       /* [0] the initiator, [1] the responder */
    x400t_wire wire;        /* every octet the pump moved */
    x400t_pair io;          /* the pump: x400t_assoc_end, recorded into wire,
                             * take 64 KiB; split, chunk, after_round, cut ...
                             * are the caller's to set after the opening */
} x400t_assoc_pair;

/* Both associations and the pump between them (nothing sent yet).  0, or
 * -1 (io.err says which side; nothing left to free). */
int x400t_assoc_pair_open(x400t_assoc_pair *p, const x400t_assoc_side *initiator,
                          const x400t_assoc_side *responder);
/* T-CONNECT by the initiator, then pump until nothing moves (whether the
 * association is then bound, refused or aborted is the test's to check).
 * 0, or -1 (io.err). */
int x400t_assoc_pair_connect(x400t_assoc_pair *p);
/* Free both associations, the recording and the pump. */
void x400t_assoc_pair_close(x400t_assoc_pair *p);

/* ---- scratch directories and ports (end-to-end suites, benches, demo) ---- */

/* A fresh directory $TMPDIR/<prefix>-XXXXXX (TMPDIR unset or empty: /tmp)
 * into out; 0, or -1 (errno). */
int x400t_scratch_dir(char *out, size_t cap, const char *prefix);
/* Remove path and everything under it (no symlink followed); 0, or -1. */
int x400t_rm_tree(const char *path);
/* A loopback TCP port free a moment ago (bound by the kernel, released);
 * 0 if none. */
unsigned x400t_free_port(void);

#endif
