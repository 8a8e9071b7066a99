/*
 * x400p1 -- the presentation state checker (X.226 presentation protocol
 * machine, as x400p1 implements it).
 *
 * One `static const` table of states x events gives, for every pair, either
 * the next state and the action the presentation entity takes, or a state
 * check failure.  The association consults the same table for every
 * presentation event; test harnesses may call it directly.  See
 * doc/presentation.md for the full table and for how each diagnostic reads
 * next to the wording of other implementations ("Presentation error: state
 * check failure. Current state 0, service type 20, service flavor 2").
 *
 * Numbering (stable, part of the API):
 *   states    0..5:  STA01 .. STA06 (state number = enum value; STA01 = 0)
 *   services:        1 P-CONNECT, 2 P-RELEASE, 3 P-U-ABORT, 4 P-P-ABORT,
 *                    10 P-TOKEN-GIVE, 11 P-TOKEN-PLEASE, 12 P-CONTROL-GIVE,
 *                    13 P-SYNC-MINOR, 14 P-ACTIVITY-START, 15 P-ACTIVITY-RESUME,
 *                    16 P-ACTIVITY-INTERRUPT, 17 P-ACTIVITY-DISCARD,
 *                    18 P-ACTIVITY-END, 19 P-U-EXCEPTION-REPORT, 20 P-DATA,
 *                    21 P-P-EXCEPTION-REPORT
 *   flavours:        1 request, 2 indication, 3 response, 4 confirm
 * so "service type 20, service flavor 2" is a P-DATA indication.
 *
 * Every function here is pure (no state, no allocation): thread-safe.
 */
#ifndef X400P1_PSTATE_H
#define X400P1_PSTATE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* States of the presentation protocol machine (X.226 Annex A names in
 * brackets). */
typedef enum x400_pstate {
    X400_PSTA01 = 0, /* idle, no connection                    [STAI0] */
    X400_PSTA02,     /* awaiting CPA-PPDU (P-CONNECT request sent) [STAI1] */
    X400_PSTA03,     /* awaiting P-CONNECT response (CP received) [STAI2] */
    X400_PSTA04,     /* connected, data transfer                 [STAt0] */
    X400_PSTA05,     /* awaiting P-RELEASE confirm (S-RELEASE request sent) */
    X400_PSTA06,     /* awaiting P-RELEASE response (S-RELEASE indication) */
    X400_PSTATE_COUNT
} x400_pstate;

typedef enum x400_pservice {
    X400_PSVC_CONNECT = 1,
    X400_PSVC_RELEASE = 2,
    X400_PSVC_U_ABORT = 3,
    X400_PSVC_P_ABORT = 4,
    X400_PSVC_TOKEN_GIVE = 10,
    X400_PSVC_TOKEN_PLEASE = 11,
    X400_PSVC_CONTROL_GIVE = 12,
    X400_PSVC_SYNC_MINOR = 13,
    X400_PSVC_ACTIVITY_START = 14,
    X400_PSVC_ACTIVITY_RESUME = 15,
    X400_PSVC_ACTIVITY_INTERRUPT = 16,
    X400_PSVC_ACTIVITY_DISCARD = 17,
    X400_PSVC_ACTIVITY_END = 18,
    X400_PSVC_U_EXCEPTION_REPORT = 19,
    X400_PSVC_DATA = 20,
    X400_PSVC_P_EXCEPTION_REPORT = 21
} x400_pservice;

typedef enum x400_pflavour {
    X400_PFL_REQUEST = 1,
    X400_PFL_INDICATION = 2,
    X400_PFL_RESPONSE = 3,
    X400_PFL_CONFIRM = 4
} x400_pflavour;

/* Events: requests/responses of the presentation user (local) and
 * indications/confirms caused by incoming PPDUs or session primitives. */
typedef enum x400_pevent {
    X400_PEV_CONNECT_REQ = 0,     /* P-CONNECT request: send CP */
    X400_PEV_CONNECT_IND,         /* CP received (S-CONNECT indication) */
    X400_PEV_CONNECT_RSP_ACCEPT,  /* P-CONNECT response, accept: send CPA */
    X400_PEV_CONNECT_RSP_REFUSE,  /* P-CONNECT response, refuse: send CPR */
    X400_PEV_CONNECT_CONF_ACCEPT, /* CPA received (S-CONNECT confirm, accepted) */
    X400_PEV_CONNECT_CONF_REFUSE, /* CPR received (S-CONNECT confirm, refused) */
    X400_PEV_DATA_REQ,            /* P-DATA request: send TD */
    X400_PEV_DATA_IND,            /* TD received (S-DATA indication) */
    X400_PEV_RELEASE_REQ,         /* P-RELEASE request (S-RELEASE request) */
    X400_PEV_RELEASE_IND,         /* S-RELEASE indication */
    X400_PEV_RELEASE_RSP,         /* P-RELEASE response (S-RELEASE response) */
    X400_PEV_RELEASE_CONF,        /* S-RELEASE confirm */
    X400_PEV_U_ABORT_REQ,         /* P-U-ABORT request: send ARU */
    X400_PEV_U_ABORT_IND,         /* ARU received (S-U-ABORT indication) */
    X400_PEV_P_ABORT_IND,         /* ARP received, or S-P-ABORT indication */
    X400_PEV_TOKEN_GIVE_REQ,
    X400_PEV_TOKEN_GIVE_IND,
    X400_PEV_TOKEN_PLEASE_REQ,
    X400_PEV_TOKEN_PLEASE_IND,
    X400_PEV_CONTROL_GIVE_REQ,
    X400_PEV_CONTROL_GIVE_IND,
    X400_PEV_SYNC_MINOR_REQ,
    X400_PEV_SYNC_MINOR_IND,
    X400_PEV_SYNC_MINOR_RSP,
    X400_PEV_SYNC_MINOR_CONF,
    X400_PEV_ACT_START_REQ,
    X400_PEV_ACT_START_IND,
    X400_PEV_ACT_RESUME_REQ,
    X400_PEV_ACT_RESUME_IND,
    X400_PEV_ACT_INTERRUPT_REQ,
    X400_PEV_ACT_INTERRUPT_IND,
    X400_PEV_ACT_INTERRUPT_RSP,
    X400_PEV_ACT_INTERRUPT_CONF,
    X400_PEV_ACT_DISCARD_REQ,
    X400_PEV_ACT_DISCARD_IND,
    X400_PEV_ACT_DISCARD_RSP,
    X400_PEV_ACT_DISCARD_CONF,
    X400_PEV_ACT_END_REQ,
    X400_PEV_ACT_END_IND,
    X400_PEV_ACT_END_RSP,
    X400_PEV_ACT_END_CONF,
    X400_PEV_U_EXCEPTION_REQ,
    X400_PEV_U_EXCEPTION_IND,
    X400_PEV_P_EXCEPTION_IND,
    X400_PEVENT_COUNT
} x400_pevent;

/* What the presentation entity does when an event is accepted. */
typedef enum x400_paction {
    X400_PACT_NONE = 0,        /* (refused cells only) */
    X400_PACT_SEND_CP,         /* S-CONNECT request carrying CP-type */
    X400_PACT_IND_CONNECT,     /* P-CONNECT indication to the user */
    X400_PACT_SEND_CPA,        /* S-CONNECT response (accept) carrying CPA-PPDU */
    X400_PACT_SEND_CPR,        /* S-CONNECT response (refuse) carrying CPR-PPDU */
    X400_PACT_CONF_CONNECT,    /* P-CONNECT confirm (accepted) to the user */
    X400_PACT_CONF_REFUSED,    /* P-CONNECT confirm (refused) to the user */
    X400_PACT_SEND_TD,         /* S-DATA request carrying user data (TD) */
    X400_PACT_IND_DATA,        /* P-DATA indication to the user */
    X400_PACT_SEND_RELEASE,    /* S-RELEASE request with user data */
    X400_PACT_IND_RELEASE,     /* P-RELEASE indication to the user */
    X400_PACT_SEND_RELEASE_RSP,/* S-RELEASE response with user data */
    X400_PACT_CONF_RELEASE,    /* P-RELEASE confirm to the user */
    X400_PACT_SEND_ARU,        /* S-U-ABORT request carrying ARU-PPDU */
    X400_PACT_IND_U_ABORT,     /* P-U-ABORT indication to the user */
    X400_PACT_IND_P_ABORT,     /* P-P-ABORT indication to the user */
    X400_PACT_PASS_DOWN,       /* the matching session request/response */
    X400_PACT_PASS_UP,         /* the matching presentation indication/confirm */
    X400_PACTION_COUNT
} x400_paction;

/* X.226 ARP-PPDU abort reasons used on a state check failure. */
#define X400_PARP_UNEXPECTED_PPDU 2
#define X400_PARP_UNEXPECTED_SESSION_PRIMITIVE 3

/* The state check.  For (state, ev) in the table: X400_OK with *next and
 * *action set (either pointer may be NULL).  Otherwise a state check
 * failure: *diag (may be NULL) gets layer presentation, the text
 *   "presentation state check failure: state STA01 (idle, no connection)
 *    does not accept P-DATA indication (service 20, flavour 2)"
 * and returns X400_ERR_PROTOCOL for an incoming event (source peer; diag
 * reason = the ARP abort reason, see x400_pevent_arp) or X400_ERR_STATE
 * for a local request/response (source local, reason 0); next and action are
 * left untouched.  X400_ERR_INVALID_ARG if state or ev is out of range. */
int x400_pstate_check(x400_pstate state, x400_pevent ev, x400_pstate *next,
                      x400_paction *action, x400_diag *diag);

/* Names.  All return static strings, never NULL ("?" when out of range). */
const char *x400_pstate_name(x400_pstate st);         /* "STA01" */
const char *x400_pstate_description(x400_pstate st);  /* "idle, no connection" */
const char *x400_pevent_name(x400_pevent ev);         /* "P-DATA indication" */
const char *x400_paction_name(x400_paction act);      /* "send CP-type (S-CONNECT request)" */
const char *x400_pservice_name(int service);          /* 20 -> "P-DATA" */
const char *x400_pflavour_name(int flavour);          /* 2 -> "indication" */

/* Service and flavour of an event (0 if out of range). */
int x400_pevent_service(x400_pevent ev);
int x400_pevent_flavour(x400_pevent ev);
/* 1 if the event comes from the peer (an indication or confirm). */
int x400_pevent_is_incoming(x400_pevent ev);
/* For an incoming event: the ARP-PPDU parameters sent when it fails the
 * state check (X.226 8.6: abort reason and event identifier).  Returns 0,
 * or -1 for a local event (no ARP). */
int x400_pevent_arp(x400_pevent ev, int *abort_reason, int *event_identifier);
/* The event for a (service, flavour) pair; for P-CONNECT response/confirm
 * the accepting variant.  X400_PEVENT_COUNT if there is none. */
x400_pevent x400_pevent_from_service(int service, int flavour);

/* Explain a state check failure reported with bare numbers (as some
 * implementations log it: "Current state S, service type V, service flavor
 * F") in this table's words, e.g. for (0, 20, 2):
 *   "state 0 = STA01 (idle, no connection); service 20 flavour 2 =
 *    P-DATA indication: refused by the table"
 * Writes at most `len` bytes including the NUL; returns the snprintf-style
 * length, or X400_ERR_INVALID_ARG if buf is NULL with len > 0. */
int x400_pstate_explain(int state, int service, int flavour, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
