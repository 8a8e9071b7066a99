/*
 * X.225 session protocol machine (SPM), sans-I/O, for what X.400 P1 over
 * RTSE needs: kernel, half-duplex (or duplex), minor synchronize, activity
 * management, exceptions; protocol versions 1 and 2.  Table-driven: one
 * static const [state][event] table (see doc/architecture.md, "Session layer").
 *
 * Input:  x400i_ses_input() with one complete TSDU at a time (transport
 *         class 0 over RFC 1006 delivers TSDUs whole; no segmenting).
 * Output: cb->send_tsdu() with one complete TSDU; indications and
 *         confirmations through cb->indication(); cb->disconnect_transport()
 *         once the session connection is released, refused or aborted.
 * Views:  pointers inside an x400i_ses_ind are valid only during the
 *         indication callback.  Callbacks may issue requests/responses on
 *         the same session (re-entrant), but must not free it.
 * Errors: requests not allowed in the current state return X400_ERR_STATE
 *         with a diagnostic naming state and event, leaving the state as it
 *         was.  A protocol error by the peer makes the SPM send AB (protocol
 *         error), give S-P-ABORT indication and return X400_ERR_PROTOCOL.
 * Threads: one session object must not be used by two threads at once;
 *         distinct objects are independent.
 * Internal to the library (prefix x400i_).
 */
#ifndef X400P1_SESSION_H
#define X400P1_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "spdu.h"

typedef struct x400i_ses x400i_ses;

/* Session protocol versions (Version Number PI 22 bits, X.225 8.3.1). */
#define X400I_SES_V1 0x1
#define X400I_SES_V2 0x2
#define X400I_SES_V_ALL (X400I_SES_V1 | X400I_SES_V2)

typedef struct x400i_ses_config {
    uint16_t requirements;      /* Session User Requirements; 0 = 0x0249 (HD, minor sync,
                                   activity management, exceptions) */
    int versions;               /* X400I_SES_V1 | X400I_SES_V2 (X.225 Version Number
                                   bits): the initiator offers them (version 1 dropped
                                   when the CN carries more than 512 octets), the
                                   responder accepts them.  0 = both */
    uint8_t token_setting;      /* initiator: Token Setting Item to propose (0 = all tokens
                                   on the initiator's side) */
    const uint8_t *calling_ssel; size_t calling_ssel_len;   /* optional */
    const uint8_t *called_ssel;  size_t called_ssel_len;    /* responder: own selector;
                                   a CN naming another one is refused (reason 0x81) */
    const uint8_t *calling_ref; size_t calling_ref_len;     /* own SS-user reference */
    const uint8_t *common_ref; size_t common_ref_len;       /* e.g. a UTCTime string */
    size_t max_user_data;       /* bound on one SSDU's user data; 0 = 16 MiB */
} x400i_ses_config;

typedef enum x400i_ses_ind_type {
    X400I_SES_CONNECT_IND,      /* S-CONNECT indication (CN) */
    X400I_SES_CONNECT_CONF,     /* S-CONNECT confirm: accepted (AC) or refused (RF) */
    X400I_SES_DATA_IND,         /* S-DATA indication (DT) */
    X400I_SES_TOKEN_GIVE_IND,   /* S-TOKEN-GIVE indication (GT) */
    X400I_SES_TOKEN_PLEASE_IND, /* S-TOKEN-PLEASE indication (PT) */
    X400I_SES_MINOR_SYNC_IND,   /* S-SYNC-MINOR indication (MIP) */
    X400I_SES_MINOR_SYNC_CONF,  /* S-SYNC-MINOR confirm (MIA) */
    X400I_SES_ACT_START_IND,    /* S-ACTIVITY-START indication (AS) */
    X400I_SES_ACT_RESUME_IND,   /* S-ACTIVITY-RESUME indication (AR) */
    X400I_SES_ACT_INTERRUPT_IND,/* S-ACTIVITY-INTERRUPT indication (AI) */
    X400I_SES_ACT_INTERRUPT_CONF,/* S-ACTIVITY-INTERRUPT confirm (AIA) */
    X400I_SES_ACT_DISCARD_IND,  /* S-ACTIVITY-DISCARD indication (AD) */
    X400I_SES_ACT_DISCARD_CONF, /* S-ACTIVITY-DISCARD confirm (ADA) */
    X400I_SES_ACT_END_IND,      /* S-ACTIVITY-END indication (AE) */
    X400I_SES_ACT_END_CONF,     /* S-ACTIVITY-END confirm (AEA) */
    X400I_SES_RELEASE_IND,      /* S-RELEASE indication (FN) */
    X400I_SES_RELEASE_CONF,     /* S-RELEASE confirm (DN) */
    X400I_SES_U_ABORT_IND,      /* S-U-ABORT indication (AB, user abort) */
    X400I_SES_P_ABORT_IND,      /* S-P-ABORT indication (AB from the peer SPM, protocol
                                   error detected here, transport lost) */
    X400I_SES_U_EXCEPTION_IND,  /* S-U-EXCEPTION-REPORT indication (ED) */
    X400I_SES_P_EXCEPTION_IND,  /* S-P-EXCEPTION-REPORT indication (ER) */
    X400I_SES_CONTROL_GIVE_IND  /* S-CONTROL-GIVE indication (GTC; GTA sent by the SPM) */
} x400i_ses_ind_type;

typedef struct x400i_ses_ind {
    x400i_ses_ind_type type;
    const uint8_t *user_data;
    size_t user_data_len;
    int accepted;               /* CONNECT_CONF: 1 = AC, 0 = RF */
    int reason;                 /* RF reason code, AI/AD/ED reason, AB Transport
                                   Disconnect octet */
    unsigned tokens;            /* GIVE/PLEASE: the tokens; CONNECT_*: tokens held now */
    uint32_t serial;            /* MINOR_SYNC_*, ACT_END_*, ACT_RESUME (resume point) */
    int confirm_required;       /* MINOR_SYNC_IND: explicit confirmation expected */
    x400i_view activity_id;     /* ACT_START/ACT_RESUME (new id) */
    x400i_view old_activity_id; /* ACT_RESUME */
    x400i_view old_called_ref, old_calling_ref, old_common_ref, old_add_ref; /* ACT_RESUME */
    x400i_view calling_ref, called_ref, common_ref, add_ref; /* CONNECT_IND/CONF */
    x400i_view calling_ssel, called_ssel;                    /* CONNECT_IND/CONF */
    uint16_t requirements;      /* CONNECT_*: the negotiated functional units */
    int version;                /* CONNECT_*: the selected protocol version (1 or 2) */
    const x400_diag *diag;      /* P_ABORT_IND, P_EXCEPTION_IND: why */
} x400i_ses_ind;

typedef struct x400i_ses_callbacks {
    void *user;
    int (*send_tsdu)(void *user, const uint8_t *tsdu, size_t len); /* <0 aborts */
    int (*indication)(void *user, const x400i_ses_ind *ind);         /* <0: abort */
    void (*disconnect_transport)(void *user);                        /* may be NULL */
} x400i_ses_callbacks;

/* Create a session protocol machine: initiator (calls connect_req) or
 * responder (waits for CN).  cfg and cb are copied; the byte strings cfg
 * points to are copied too.  X400_OK, X400_ERR_INVALID_ARG, X400_ERR_NOMEM. */
int x400i_ses_new(x400i_ses **out, int initiator, const x400i_ses_config *cfg,
                  const x400i_ses_callbacks *cb, const x400_allocator *a, const x400_logger *log);
void x400i_ses_free(x400i_ses *s);

/* One TSDU from transport.  X400_OK; X400_ERR_PROTOCOL / X400_ERR_PARSE /
 * X400_ERR_UNSUPPORTED / X400_ERR_LIMIT after a provider abort; X400_ERR_CLOSED
 * when the session is already closed; X400_ERR_ABORTED when send_tsdu failed;
 * X400_ERR_CALLBACK_FAILURE when an indication returned < 0 (AB was sent). */
int x400i_ses_input(x400i_ses *s, const uint8_t *tsdu, size_t len);
/* The transport connection was lost: S-P-ABORT indication unless idle/closed. */
void x400i_ses_transport_lost(x400i_ses *s);

/* Requests and responses (X.225 clause 7 primitives).  Each returns X400_OK,
 * X400_ERR_STATE (not allowed now: diag names state and event; state
 * unchanged), X400_ERR_INVALID_ARG, X400_ERR_TOO_LONG (user data above the
 * bound), X400_ERR_ABORTED (send_tsdu failed; the session is closed). */
int x400i_ses_connect_req(x400i_ses *s, const uint8_t *ud, size_t len);
/* Initiator, before S-CONNECT: the Token Setting Item the CN will propose
 * (two bits per token, X.225 8.3.1.16: 0 initiator, 1 responder, 2 the
 * called user's choice).  X400_OK, or X400_ERR_STATE once connecting. */
int x400i_ses_set_token_setting(x400i_ses *s, uint8_t token_setting);
/* accept: AC; otherwise RF with `reason` (0, 1, 2 = with user data, or an
 * SPM reason 0x81..0x86).  `tokens` chooses, for each token the CN left to
 * the called user's choice (setting 2), whether the responder takes it. */
int x400i_ses_connect_rsp(x400i_ses *s, int accept, int reason, unsigned tokens,
                          const uint8_t *ud, size_t len);
int x400i_ses_data_req(x400i_ses *s, const uint8_t *ud, size_t len);
int x400i_ses_token_give_req(x400i_ses *s, unsigned tokens);
int x400i_ses_token_please_req(x400i_ses *s, unsigned tokens, const uint8_t *ud, size_t len);
/* S-CONTROL-GIVE (GTC): all tokens to the peer, outside an activity. */
int x400i_ses_control_give_req(x400i_ses *s);
/* S-SYNC-MINOR: *serial receives the sync point's serial number. */
int x400i_ses_minor_sync_req(x400i_ses *s, int confirm_required, const uint8_t *ud, size_t len,
                             uint32_t *serial);
int x400i_ses_minor_sync_rsp(x400i_ses *s, uint32_t serial, const uint8_t *ud, size_t len);
int x400i_ses_activity_start_req(x400i_ses *s, const uint8_t *id, size_t id_len,
                                 const uint8_t *ud, size_t len);
/* S-ACTIVITY-RESUME: new id, old id, the serial number to resume after, and
 * optionally the old session connection identifier (refs may be NULL). */
typedef struct x400i_ses_old_conn {
    const uint8_t *called_ref; size_t called_ref_len;
    const uint8_t *calling_ref; size_t calling_ref_len;
    const uint8_t *common_ref; size_t common_ref_len;
    const uint8_t *add_ref; size_t add_ref_len;
} x400i_ses_old_conn;
int x400i_ses_activity_resume_req(x400i_ses *s, const uint8_t *id, size_t id_len,
                                  const uint8_t *old_id, size_t old_id_len, uint32_t serial,
                                  const x400i_ses_old_conn *old_conn, const uint8_t *ud, size_t len);
int x400i_ses_activity_interrupt_req(x400i_ses *s, int reason);
int x400i_ses_activity_interrupt_rsp(x400i_ses *s);
int x400i_ses_activity_discard_req(x400i_ses *s, int reason);
int x400i_ses_activity_discard_rsp(x400i_ses *s);
int x400i_ses_activity_end_req(x400i_ses *s, const uint8_t *ud, size_t len, uint32_t *serial);
int x400i_ses_activity_end_rsp(x400i_ses *s, const uint8_t *ud, size_t len);
int x400i_ses_release_req(x400i_ses *s, const uint8_t *ud, size_t len);
int x400i_ses_release_rsp(x400i_ses *s, const uint8_t *ud, size_t len);
int x400i_ses_u_abort_req(x400i_ses *s, const uint8_t *ud, size_t len);
int x400i_ses_u_exception_req(x400i_ses *s, int reason, const uint8_t *ud, size_t len);

/* State and introspection. */
typedef enum x400i_ses_st {
    X400I_SES_ST_IDLE = 0,          /* STA01: no session connection */
    X400I_SES_ST_WAIT_AC,           /* STA02A: CN sent, wait for AC/RF */
    X400I_SES_ST_WAIT_CONNECT_RSP,  /* STA08: CN received, wait for S-CONNECT response */
    X400I_SES_ST_DATA,              /* STA713: data transfer */
    X400I_SES_ST_WAIT_GTA,          /* STA18: GTC sent, wait for GTA */
    X400I_SES_ST_WAIT_AEA,          /* STA04B: AE sent, wait for AEA */
    X400I_SES_ST_WAIT_AE_RSP,       /* STA10B: AE received, wait for S-ACTIVITY-END response */
    X400I_SES_ST_WAIT_AIA,          /* STA05B: AI sent, wait for AIA */
    X400I_SES_ST_WAIT_AI_RSP,       /* STA11B: AI received, wait for response */
    X400I_SES_ST_WAIT_ADA,          /* STA05C: AD sent, wait for ADA */
    X400I_SES_ST_WAIT_AD_RSP,       /* STA11C: AD received, wait for response */
    X400I_SES_ST_WAIT_DN,           /* STA03: FN sent, wait for DN */
    X400I_SES_ST_WAIT_RELEASE_RSP,  /* STA09: FN received, wait for S-RELEASE response */
    X400I_SES_ST_WAIT_RECOVERY_REQ, /* STA19: ED/ER received, wait for a recovery request */
    X400I_SES_ST_WAIT_RECOVERY_SPDU,/* STA20: ED sent, wait for a recovery SPDU */
    X400I_SES_ST_CLOSED,            /* released, refused or aborted: only free() remains */
    X400I_SES_ST_COUNT
} x400i_ses_st;

const char *x400i_ses_state_name(int state);
int x400i_ses_state(const x400i_ses *s);
int x400i_ses_tokens_held(const x400i_ses *s);   /* X400I_TOKEN_* bits held here */
uint16_t x400i_ses_requirements(const x400i_ses *s); /* negotiated functional units */
int x400i_ses_version(const x400i_ses *s);       /* 1 or 2 once connected, else 0 */
int x400i_ses_in_activity(const x400i_ses *s);
uint32_t x400i_ses_vm(const x400i_ses *s);       /* V(M): next serial number */
uint32_t x400i_ses_va(const x400i_ses *s);       /* V(A): lowest unconfirmed serial */
const x400_diag *x400i_ses_diag(const x400i_ses *s);
/* Name of the table's event `ev` (for diagnostics and doc). */
const char *x400i_ses_event_name(int ev);
int x400i_ses_event_count(void);
/* Table lookup for documentation/tests: 1 if event `ev` is valid in `state`,
 * with *next the listed next state (-1 = decided by the action). */
int x400i_ses_table_entry(int state, int ev, int *next);

#endif
