/*
 * The presentation state checker: the X.226 presentation protocol machine
 * as one static const [state][event] table (doc/presentation.md).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "x400p1/pstate.h"

typedef struct pcell {
    uint8_t valid;
    uint8_t next;
    uint8_t action;
} pcell;

typedef struct pev_desc {
    const char *name;
    uint8_t service;
    uint8_t flavour;
    uint8_t incoming;
    int8_t arp_reason;   /* X.226 Abort-reason on a failure (incoming only) */
    int8_t event_id;     /* X.226 Event-identifier (incoming only) */
} pev_desc;

#define REQ X400_PFL_REQUEST
#define IND X400_PFL_INDICATION
#define RSP X400_PFL_RESPONSE
#define CNF X400_PFL_CONFIRM
#define PPDU X400_PARP_UNEXPECTED_PPDU
#define SPRIM X400_PARP_UNEXPECTED_SESSION_PRIMITIVE

static const pev_desc events[X400_PEVENT_COUNT] = {
    [X400_PEV_CONNECT_REQ] = { "P-CONNECT request", X400_PSVC_CONNECT, REQ, 0, -1, -1 },
    [X400_PEV_CONNECT_IND] = { "P-CONNECT indication", X400_PSVC_CONNECT, IND, 1, PPDU, 0 },
    [X400_PEV_CONNECT_RSP_ACCEPT] = { "P-CONNECT response (accept)", X400_PSVC_CONNECT, RSP, 0, -1, -1 },
    [X400_PEV_CONNECT_RSP_REFUSE] = { "P-CONNECT response (refuse)", X400_PSVC_CONNECT, RSP, 0, -1, -1 },
    [X400_PEV_CONNECT_CONF_ACCEPT] = { "P-CONNECT confirm (accept)", X400_PSVC_CONNECT, CNF, 1, PPDU, 1 },
    [X400_PEV_CONNECT_CONF_REFUSE] = { "P-CONNECT confirm (refuse)", X400_PSVC_CONNECT, CNF, 1, PPDU, 2 },
    [X400_PEV_DATA_REQ] = { "P-DATA request", X400_PSVC_DATA, REQ, 0, -1, -1 },
    [X400_PEV_DATA_IND] = { "P-DATA indication", X400_PSVC_DATA, IND, 1, PPDU, 7 },
    [X400_PEV_RELEASE_REQ] = { "P-RELEASE request", X400_PSVC_RELEASE, REQ, 0, -1, -1 },
    [X400_PEV_RELEASE_IND] = { "P-RELEASE indication", X400_PSVC_RELEASE, IND, 1, SPRIM, 14 },
    [X400_PEV_RELEASE_RSP] = { "P-RELEASE response", X400_PSVC_RELEASE, RSP, 0, -1, -1 },
    [X400_PEV_RELEASE_CONF] = { "P-RELEASE confirm", X400_PSVC_RELEASE, CNF, 1, SPRIM, 15 },
    [X400_PEV_U_ABORT_REQ] = { "P-U-ABORT request", X400_PSVC_U_ABORT, REQ, 0, -1, -1 },
    [X400_PEV_U_ABORT_IND] = { "P-U-ABORT indication", X400_PSVC_U_ABORT, IND, 1, PPDU, 3 },
    [X400_PEV_P_ABORT_IND] = { "P-P-ABORT indication", X400_PSVC_P_ABORT, IND, 1, PPDU, 4 },
    [X400_PEV_TOKEN_GIVE_REQ] = { "P-TOKEN-GIVE request", X400_PSVC_TOKEN_GIVE, REQ, 0, -1, -1 },
    [X400_PEV_TOKEN_GIVE_IND] = { "P-TOKEN-GIVE indication", X400_PSVC_TOKEN_GIVE, IND, 1, SPRIM, 16 },
    [X400_PEV_TOKEN_PLEASE_REQ] = { "P-TOKEN-PLEASE request", X400_PSVC_TOKEN_PLEASE, REQ, 0, -1, -1 },
    [X400_PEV_TOKEN_PLEASE_IND] = { "P-TOKEN-PLEASE indication", X400_PSVC_TOKEN_PLEASE, IND, 1, SPRIM, 17 },
    [X400_PEV_CONTROL_GIVE_REQ] = { "P-CONTROL-GIVE request", X400_PSVC_CONTROL_GIVE, REQ, 0, -1, -1 },
    [X400_PEV_CONTROL_GIVE_IND] = { "P-CONTROL-GIVE indication", X400_PSVC_CONTROL_GIVE, IND, 1, SPRIM, 18 },
    [X400_PEV_SYNC_MINOR_REQ] = { "P-SYNC-MINOR request", X400_PSVC_SYNC_MINOR, REQ, 0, -1, -1 },
    [X400_PEV_SYNC_MINOR_IND] = { "P-SYNC-MINOR indication", X400_PSVC_SYNC_MINOR, IND, 1, SPRIM, 19 },
    [X400_PEV_SYNC_MINOR_RSP] = { "P-SYNC-MINOR response", X400_PSVC_SYNC_MINOR, RSP, 0, -1, -1 },
    [X400_PEV_SYNC_MINOR_CONF] = { "P-SYNC-MINOR confirm", X400_PSVC_SYNC_MINOR, CNF, 1, SPRIM, 20 },
    [X400_PEV_ACT_START_REQ] = { "P-ACTIVITY-START request", X400_PSVC_ACTIVITY_START, REQ, 0, -1, -1 },
    [X400_PEV_ACT_START_IND] = { "P-ACTIVITY-START indication", X400_PSVC_ACTIVITY_START, IND, 1, SPRIM, 25 },
    [X400_PEV_ACT_RESUME_REQ] = { "P-ACTIVITY-RESUME request", X400_PSVC_ACTIVITY_RESUME, REQ, 0, -1, -1 },
    [X400_PEV_ACT_RESUME_IND] = { "P-ACTIVITY-RESUME indication", X400_PSVC_ACTIVITY_RESUME, IND, 1, SPRIM, 26 },
    [X400_PEV_ACT_INTERRUPT_REQ] = { "P-ACTIVITY-INTERRUPT request", X400_PSVC_ACTIVITY_INTERRUPT, REQ, 0, -1, -1 },
    [X400_PEV_ACT_INTERRUPT_IND] = { "P-ACTIVITY-INTERRUPT indication", X400_PSVC_ACTIVITY_INTERRUPT, IND, 1, SPRIM, 27 },
    [X400_PEV_ACT_INTERRUPT_RSP] = { "P-ACTIVITY-INTERRUPT response", X400_PSVC_ACTIVITY_INTERRUPT, RSP, 0, -1, -1 },
    [X400_PEV_ACT_INTERRUPT_CONF] = { "P-ACTIVITY-INTERRUPT confirm", X400_PSVC_ACTIVITY_INTERRUPT, CNF, 1, SPRIM, 28 },
    [X400_PEV_ACT_DISCARD_REQ] = { "P-ACTIVITY-DISCARD request", X400_PSVC_ACTIVITY_DISCARD, REQ, 0, -1, -1 },
    [X400_PEV_ACT_DISCARD_IND] = { "P-ACTIVITY-DISCARD indication", X400_PSVC_ACTIVITY_DISCARD, IND, 1, SPRIM, 29 },
    [X400_PEV_ACT_DISCARD_RSP] = { "P-ACTIVITY-DISCARD response", X400_PSVC_ACTIVITY_DISCARD, RSP, 0, -1, -1 },
    [X400_PEV_ACT_DISCARD_CONF] = { "P-ACTIVITY-DISCARD confirm", X400_PSVC_ACTIVITY_DISCARD, CNF, 1, SPRIM, 30 },
    [X400_PEV_ACT_END_REQ] = { "P-ACTIVITY-END request", X400_PSVC_ACTIVITY_END, REQ, 0, -1, -1 },
    [X400_PEV_ACT_END_IND] = { "P-ACTIVITY-END indication", X400_PSVC_ACTIVITY_END, IND, 1, SPRIM, 31 },
    [X400_PEV_ACT_END_RSP] = { "P-ACTIVITY-END response", X400_PSVC_ACTIVITY_END, RSP, 0, -1, -1 },
    [X400_PEV_ACT_END_CONF] = { "P-ACTIVITY-END confirm", X400_PSVC_ACTIVITY_END, CNF, 1, SPRIM, 32 },
    [X400_PEV_U_EXCEPTION_REQ] = { "P-U-EXCEPTION-REPORT request", X400_PSVC_U_EXCEPTION_REPORT, REQ, 0, -1, -1 },
    [X400_PEV_U_EXCEPTION_IND] = { "P-U-EXCEPTION-REPORT indication", X400_PSVC_U_EXCEPTION_REPORT, IND, 1, SPRIM, 24 },
    [X400_PEV_P_EXCEPTION_IND] = { "P-P-EXCEPTION-REPORT indication", X400_PSVC_P_EXCEPTION_REPORT, IND, 1, SPRIM, 23 },
};

static const char *const state_names[X400_PSTATE_COUNT] = {
    "STA01", "STA02", "STA03", "STA04", "STA05", "STA06",
};
static const char *const state_desc[X400_PSTATE_COUNT] = {
    "idle, no connection",
    "awaiting CPA-PPDU",
    "awaiting P-CONNECT response",
    "connected, data transfer",
    "awaiting P-RELEASE confirm",
    "awaiting P-RELEASE response",
};
static const char *const action_names[X400_PACTION_COUNT] = {
    [X400_PACT_NONE] = "none (state check failure)",
    [X400_PACT_SEND_CP] = "send CP-type (S-CONNECT request)",
    [X400_PACT_IND_CONNECT] = "P-CONNECT indication",
    [X400_PACT_SEND_CPA] = "send CPA-PPDU (S-CONNECT response, accept)",
    [X400_PACT_SEND_CPR] = "send CPR-PPDU (S-CONNECT response, refuse)",
    [X400_PACT_CONF_CONNECT] = "P-CONNECT confirm (accepted)",
    [X400_PACT_CONF_REFUSED] = "P-CONNECT confirm (refused)",
    [X400_PACT_SEND_TD] = "send TD (S-DATA request)",
    [X400_PACT_IND_DATA] = "P-DATA indication",
    [X400_PACT_SEND_RELEASE] = "S-RELEASE request",
    [X400_PACT_IND_RELEASE] = "P-RELEASE indication",
    [X400_PACT_SEND_RELEASE_RSP] = "S-RELEASE response",
    [X400_PACT_CONF_RELEASE] = "P-RELEASE confirm",
    [X400_PACT_SEND_ARU] = "send ARU-PPDU (S-U-ABORT request)",
    [X400_PACT_IND_U_ABORT] = "P-U-ABORT indication",
    [X400_PACT_IND_P_ABORT] = "P-P-ABORT indication",
    [X400_PACT_PASS_DOWN] = "matching session request/response",
    [X400_PACT_PASS_UP] = "matching presentation indication/confirm",
};

/* ---- the table ---- */
#define C(n, a) { 1, X400_PSTA##n, X400_PACT_##a }
/* Data-transfer services passed through to/from session (STA04 only). */
#define PASS_THROUGH                                                                         \
    [X400_PEV_TOKEN_GIVE_REQ] = C(04, PASS_DOWN), [X400_PEV_TOKEN_GIVE_IND] = C(04, PASS_UP), \
    [X400_PEV_TOKEN_PLEASE_REQ] = C(04, PASS_DOWN), [X400_PEV_TOKEN_PLEASE_IND] = C(04, PASS_UP), \
    [X400_PEV_CONTROL_GIVE_REQ] = C(04, PASS_DOWN), [X400_PEV_CONTROL_GIVE_IND] = C(04, PASS_UP), \
    [X400_PEV_SYNC_MINOR_REQ] = C(04, PASS_DOWN), [X400_PEV_SYNC_MINOR_IND] = C(04, PASS_UP), \
    [X400_PEV_SYNC_MINOR_RSP] = C(04, PASS_DOWN), [X400_PEV_SYNC_MINOR_CONF] = C(04, PASS_UP), \
    [X400_PEV_ACT_START_REQ] = C(04, PASS_DOWN), [X400_PEV_ACT_START_IND] = C(04, PASS_UP),  \
    [X400_PEV_ACT_RESUME_REQ] = C(04, PASS_DOWN), [X400_PEV_ACT_RESUME_IND] = C(04, PASS_UP), \
    [X400_PEV_ACT_INTERRUPT_REQ] = C(04, PASS_DOWN), [X400_PEV_ACT_INTERRUPT_IND] = C(04, PASS_UP), \
    [X400_PEV_ACT_INTERRUPT_RSP] = C(04, PASS_DOWN), [X400_PEV_ACT_INTERRUPT_CONF] = C(04, PASS_UP), \
    [X400_PEV_ACT_DISCARD_REQ] = C(04, PASS_DOWN), [X400_PEV_ACT_DISCARD_IND] = C(04, PASS_UP), \
    [X400_PEV_ACT_DISCARD_RSP] = C(04, PASS_DOWN), [X400_PEV_ACT_DISCARD_CONF] = C(04, PASS_UP), \
    [X400_PEV_ACT_END_REQ] = C(04, PASS_DOWN), [X400_PEV_ACT_END_IND] = C(04, PASS_UP),      \
    [X400_PEV_ACT_END_RSP] = C(04, PASS_DOWN), [X400_PEV_ACT_END_CONF] = C(04, PASS_UP),     \
    [X400_PEV_U_EXCEPTION_REQ] = C(04, PASS_DOWN), [X400_PEV_U_EXCEPTION_IND] = C(04, PASS_UP), \
    [X400_PEV_P_EXCEPTION_IND] = C(04, PASS_UP)
/* Aborts: accepted in every state, back to STA01. */
#define ABORTS [X400_PEV_U_ABORT_IND] = C(01, IND_U_ABORT), [X400_PEV_P_ABORT_IND] = C(01, IND_P_ABORT)
#define U_ABORT_REQ [X400_PEV_U_ABORT_REQ] = C(01, SEND_ARU)

static const pcell table[X400_PSTATE_COUNT][X400_PEVENT_COUNT] = {
    /* STA01 idle, no connection [STAI0] */
    [X400_PSTA01] = {
        [X400_PEV_CONNECT_REQ] = C(02, SEND_CP),
        [X400_PEV_CONNECT_IND] = C(03, IND_CONNECT),
        ABORTS,
    },
    /* STA02 awaiting CPA [STAI1] */
    [X400_PSTA02] = {
        [X400_PEV_CONNECT_CONF_ACCEPT] = C(04, CONF_CONNECT),
        [X400_PEV_CONNECT_CONF_REFUSE] = C(01, CONF_REFUSED),
        ABORTS, U_ABORT_REQ,
    },
    /* STA03 awaiting P-CONNECT response [STAI2] */
    [X400_PSTA03] = {
        [X400_PEV_CONNECT_RSP_ACCEPT] = C(04, SEND_CPA),
        [X400_PEV_CONNECT_RSP_REFUSE] = C(01, SEND_CPR),
        ABORTS, U_ABORT_REQ,
    },
    /* STA04 connected, data transfer [STAt0] */
    [X400_PSTA04] = {
        [X400_PEV_DATA_REQ] = C(04, SEND_TD),
        [X400_PEV_DATA_IND] = C(04, IND_DATA),
        [X400_PEV_RELEASE_REQ] = C(05, SEND_RELEASE),
        [X400_PEV_RELEASE_IND] = C(06, IND_RELEASE),
        PASS_THROUGH,
        ABORTS, U_ABORT_REQ,
    },
    /* STA05 awaiting P-RELEASE confirm */
    [X400_PSTA05] = {
        [X400_PEV_RELEASE_CONF] = C(01, CONF_RELEASE),
        ABORTS, U_ABORT_REQ,
    },
    /* STA06 awaiting P-RELEASE response */
    [X400_PSTA06] = {
        [X400_PEV_RELEASE_RSP] = C(01, SEND_RELEASE_RSP),
        ABORTS, U_ABORT_REQ,
    },
};

int x400_pstate_check(x400_pstate state, x400_pevent ev, x400_pstate *next,
                      x400_paction *action, x400_diag *diag)
{
    const pcell *c;
    const pev_desc *e;
    if ((unsigned)state >= X400_PSTATE_COUNT || (unsigned)ev >= X400_PEVENT_COUNT)
        return x400i_diag_set(diag, X400_LAYER_PRESENTATION, X400_SOURCE_LOCAL,
                              X400_ERR_INVALID_ARG, 0,
                              "presentation state check: state %d or event %d out of range",
                              (int)state, (int)ev);
    c = &table[state][ev];
    if (X400I_LIKELY(c->valid)) {
        if (next) *next = (x400_pstate)c->next;
        if (action) *action = (x400_paction)c->action;
        return X400_OK;
    }
    e = &events[ev];
    return x400i_diag_set(diag, X400_LAYER_PRESENTATION,
                          e->incoming ? X400_SOURCE_PEER : X400_SOURCE_LOCAL,
                          e->incoming ? X400_ERR_PROTOCOL : X400_ERR_STATE,
                          e->incoming ? e->arp_reason : 0,
                          "presentation state check failure: state %s (%s) does not accept %s "
                          "(service %d, flavour %d)",
                          state_names[state], state_desc[state], e->name, e->service, e->flavour);
}

const char *x400_pstate_name(x400_pstate st)
{
    return (unsigned)st < X400_PSTATE_COUNT ? state_names[st] : "?";
}
const char *x400_pstate_description(x400_pstate st)
{
    return (unsigned)st < X400_PSTATE_COUNT ? state_desc[st] : "?";
}
const char *x400_pevent_name(x400_pevent ev)
{
    return (unsigned)ev < X400_PEVENT_COUNT ? events[ev].name : "?";
}
const char *x400_paction_name(x400_paction act)
{
    return (unsigned)act < X400_PACTION_COUNT ? action_names[act] : "?";
}

const char *x400_pservice_name(int service)
{
    switch (service) {
    case X400_PSVC_CONNECT: return "P-CONNECT";
    case X400_PSVC_RELEASE: return "P-RELEASE";
    case X400_PSVC_U_ABORT: return "P-U-ABORT";
    case X400_PSVC_P_ABORT: return "P-P-ABORT";
    case X400_PSVC_TOKEN_GIVE: return "P-TOKEN-GIVE";
    case X400_PSVC_TOKEN_PLEASE: return "P-TOKEN-PLEASE";
    case X400_PSVC_CONTROL_GIVE: return "P-CONTROL-GIVE";
    case X400_PSVC_SYNC_MINOR: return "P-SYNC-MINOR";
    case X400_PSVC_ACTIVITY_START: return "P-ACTIVITY-START";
    case X400_PSVC_ACTIVITY_RESUME: return "P-ACTIVITY-RESUME";
    case X400_PSVC_ACTIVITY_INTERRUPT: return "P-ACTIVITY-INTERRUPT";
    case X400_PSVC_ACTIVITY_DISCARD: return "P-ACTIVITY-DISCARD";
    case X400_PSVC_ACTIVITY_END: return "P-ACTIVITY-END";
    case X400_PSVC_U_EXCEPTION_REPORT: return "P-U-EXCEPTION-REPORT";
    case X400_PSVC_DATA: return "P-DATA";
    case X400_PSVC_P_EXCEPTION_REPORT: return "P-P-EXCEPTION-REPORT";
    default: return "?";
    }
}

const char *x400_pflavour_name(int flavour)
{
    switch (flavour) {
    case X400_PFL_REQUEST: return "request";
    case X400_PFL_INDICATION: return "indication";
    case X400_PFL_RESPONSE: return "response";
    case X400_PFL_CONFIRM: return "confirm";
    default: return "?";
    }
}

int x400_pevent_service(x400_pevent ev)
{
    return (unsigned)ev < X400_PEVENT_COUNT ? events[ev].service : 0;
}
int x400_pevent_flavour(x400_pevent ev)
{
    return (unsigned)ev < X400_PEVENT_COUNT ? events[ev].flavour : 0;
}
int x400_pevent_is_incoming(x400_pevent ev)
{
    return (unsigned)ev < X400_PEVENT_COUNT ? events[ev].incoming : 0;
}

int x400_pevent_arp(x400_pevent ev, int *abort_reason, int *event_identifier)
{
    if ((unsigned)ev >= X400_PEVENT_COUNT || !events[ev].incoming) return -1;
    if (abort_reason) *abort_reason = events[ev].arp_reason;
    if (event_identifier) *event_identifier = events[ev].event_id;
    return 0;
}

x400_pevent x400_pevent_from_service(int service, int flavour)
{
    for (int i = 0; i < X400_PEVENT_COUNT; i++)
        if (events[i].service == service && events[i].flavour == flavour) return (x400_pevent)i;
    return X400_PEVENT_COUNT;
}

int x400_pstate_explain(int state, int service, int flavour, char *buf, size_t len)
{
    x400_pevent ev = x400_pevent_from_service(service, flavour);
    const char *verdict;
    if (!buf && len) return X400_ERR_INVALID_ARG;
    if ((unsigned)state >= X400_PSTATE_COUNT || ev == X400_PEVENT_COUNT)
        verdict = "not a state/event of this table";
    else if (table[state][ev].valid)
        verdict = "accepted by the table";
    else
        verdict = "refused by the table";
    return snprintf(buf, len, "state %d = %s (%s); service %d flavour %d = %s %s: %s", state,
                    x400_pstate_name((x400_pstate)state),
                    x400_pstate_description((x400_pstate)state), service, flavour,
                    x400_pservice_name(service), x400_pflavour_name(flavour), verdict);
}
