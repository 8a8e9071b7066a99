/* Test-only lower adapter for RTSE: two RTSE machines (association-
 * initiator `a`, responder `b`) each over a REAL X.225 session machine
 * (lib/session.h), TSDUs moved between them by the shared harness
 * (pair.h: x400t_session_end, h->io).
 * RTORQ/RTOAC/RTORJ travel as session connect user data, RTTR/RTTP/RTAB
 * as S-DATA / S-TOKEN-PLEASE / S-U-ABORT user data.  Optionally every
 * TSDU is recorded (TPKT + COTP) for tshark, with the S-DATA user data
 * wrapped as a presentation PDV on context 3 (normal mode).
 * A connection can be cut after N octets sent by a (x400t_pair_cut_after
 * on h->io; TCP loss): the TSDU crossing N and everything in flight is
 * lost, both sessions get transport loss, and the RTSE recovery makes new
 * sessions.  h->io.drop[1]: b's TSDUs are lost (a peer that never
 * answers); h->io.wire: every TSDU recorded. */
#ifndef X400T_SUPPORT_RTSE_LOWER_H
#define X400T_SUPPORT_RTSE_LOWER_H

#include <stdint.h>

#include "pair.h"
#include "rtse.h"
#include "session.h"
#include "wire.h"

#define X400T_RL_MAXCONN 64

typedef struct x400t_rl x400t_rl;

/* What an RTSE user received (check_rtse, check_rtse_assoc):
 * TRANSFER_DATA is appended to rx (an offset other than rx_len counts as a
 * gap), TRANSFER_IND moves it to done (its total asserted),
 * TRANSFER_ABANDON drops it; other indications change nothing. */
typedef struct x400t_rtse_rx {
    uint8_t *rx;                    /* octets of the APDU being received */
    size_t rx_len, rx_cap;
    uint8_t *done;                  /* the last complete APDU */
    size_t done_len;
    int gaps;                       /* TRANSFER_DATA at an unexpected offset */
} x400t_rtse_rx;
void x400t_rtse_rx_ind(x400t_rtse_rx *r, const x400i_rtse_ind *ind);
void x400t_rtse_rx_free(x400t_rtse_rx *r);

typedef struct x400t_rl_conn {   /* one session object (one connection) */
    struct x400t_rl_end *end;
    struct x400t_rl_conn *peer;     /* the other end of this connection */
    x400i_ses *s;
} x400t_rl_conn;

typedef struct x400t_rl_end {
    x400t_rl *h;
    int is_init;
    x400i_rtse *rt;
    x400t_rl_conn *conn;            /* current connection, NULL if none */
    x400t_ses_end q;                /* TSDUs sent by this end; q.s: its newest session */
    /* what the RTSE user saw */
    int nind[16];                   /* per x400i_rtse_ind_type */
    x400t_rtse_rx in;               /* the APDUs received */
    int last_result;                /* TRANSFER_CONF */
    uint64_t last_tid;
    int last_reason, last_priority;
    char last_diag[X400_DIAG_TEXT_MAX];
    uint8_t record[X400_RTSE_RECORD_MAX];
    size_t record_len;
    int auto_accept;                /* answer RT-OPEN / RT-CLOSE indications */
    int refuse_open;                /* refuse RT-OPEN with this reason + 1 */
    int fail_next;                  /* return -1 from the next indication */
    int defer;                      /* answer TRANSFER_IND with X400I_RTSE_DEFER */
    uint8_t open_ud[64];
    size_t open_ud_len;
} x400t_rl_end;

struct x400t_rl {
    x400t_rl_end a, b;
    x400_rtse_config cfg_a, cfg_b;
    uint64_t now;
    int net_down;                   /* connect_req fails */
    int conn_no;
    x400t_rl_conn *conns[X400T_RL_MAXCONN];
    int nconns;
    x400t_pair io;                  /* a.q <-> b.q: cuts, drops, recording */
    size_t *lens;                   /* if set: lengths of a's TSDUs */
    size_t nlens, caplens;
    int pres_wrap;                  /* S-DATA user data as PDV on context 3 */
};

/* Set up both ends (cfg NULL = defaults) without connecting. */
void x400t_rl_init(x400t_rl *h, const x400_rtse_config *ca, const x400_rtse_config *cb);
void x400t_rl_free(x400t_rl *h);
/* Replace end b's RTSE by a fresh responder (a restarted process), or
 * end a's by a fresh initiator. */
void x400t_rl_new_responder(x400t_rl *h);
void x400t_rl_new_initiator(x400t_rl *h);
/* Deliver queued TSDUs (in order per direction) until nothing moves.
 * Returns the octets delivered. */
int x400t_rl_pump(x400t_rl *h);
/* RT-OPEN by a, accepted by b; asserts success. */
void x400t_rl_open(x400t_rl *h);
/* Cut the current connection now (transport lost on both sides). */
void x400t_rl_cut(x400t_rl *h);
/* Advance the clock and tick both RTSEs. */
void x400t_rl_advance(x400t_rl *h, uint64_t ms);

#endif
