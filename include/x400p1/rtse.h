/*
 * x400p1 -- RTSE (X.228 reliable transfer): public configuration and the
 * recovery record an MTA persists.
 *
 * The RTSE protocol machine itself is internal (lib/rtse.h); an MTA sets
 * it up through the association configuration with an x400_rtse_config
 * and, on the receiving side, stores the x400_rtse record blobs it is
 * handed so that an interrupted transfer can resume even after a restart
 * of its own process (doc/rtse.md explains what is kept and for how long).
 *
 * Each field names the setting of the Exchange Server 4.0-5.5 MTA's X.400
 * connectors it corresponds to (doc/configuration.md, doc/rtse.md).
 *
 * Threads: the functions here touch only their arguments (reentrant).
 */
#ifndef X400P1_RTSE_H
#define X400P1_RTSE_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds enforced by x400_rtse_config_check() and on what a peer proposes
 * (a larger proposal is lowered to our value, as X.228 negotiation does). */
#define X400_RTSE_MAX_CHECKPOINT_KIB 1024u /* X.228 checkpointSize unit: 1024 octets */
#define X400_RTSE_MAX_WINDOW 64u

/* Transfer priority (selects the transfer timeout). */
typedef enum x400_rtse_priority {
    X400_RTSE_PRIO_URGENT = 0,
    X400_RTSE_PRIO_NORMAL = 1,
    X400_RTSE_PRIO_NON_URGENT = 2
} x400_rtse_priority;

typedef struct x400_rtse_config {
    /* "RTS checkpoint size (KiB)": data between two checkpoints (X.225
     * minor synchronization points), proposed in RTORQ checkpointSize; the
     * smaller of both sides' values is used.  0 = no checkpointing (a lost
     * connection then restarts the transfer).  Default 30. */
    uint32_t checkpoint_size_kib;
    /* "RTS window size": checkpoints that may be outstanding (sent, not
     * confirmed) before the sender waits; RTORQ windowSize, the smaller
     * value is used.  1..X400_RTSE_MAX_WINDOW.  Default 5. */
    uint32_t window_size;
    /* "RTS recovery timeout (s)": how long, after the connection was lost
     * mid-transfer, the sender keeps trying to re-establish and resume,
     * and the receiver keeps what it confirmed.  Afterwards the transfer
     * restarts from the beginning.  Default 60. */
    uint32_t recovery_timeout_s;
    /* "two-way alternate": 1 = dialogueMode twa (turn passing), 0 =
     * monologue (only the association-initiator transfers).  Default 1. */
    int two_way_alternate;
    /* "initial turn local": association-initiator only: 1 = the initiator
     * holds the turn after RT-OPEN, 0 = the responder does.  Default 1.
     * Ignored (always the initiator) in monologue. */
    int initial_turn_local;
    /* "X.410 (1984) mode": RTORQ in the CP-type x410-mode-parameters with
     * applicationProtocol, no ACSE, APDUs not wrapped in EXTERNAL.
     * Default 0. */
    int x410_mode;
    /* X.410 mode: RTORQ applicationProtocol (12 mta-transfer-protocol, 1
     * mts-transfer-protocol-1984).  Default 12. */
    int application_protocol;
    /* "transfer timeouts per priority (s/KiB)": urgent, normal, non-urgent.
     * A transfer of n KiB (at least 1) must be confirmed within
     * n * value seconds, else the association is aborted.  0 = no timeout.
     * Default 1000 / 2000 / 3000. */
    uint32_t transfer_timeout_s_per_kib[3];
    /* Presentation context identifier of the transferred APDUs' abstract
     * syntax (id-as-mtse) in normal mode: RT-TRANSFER wraps each APDU in
     * EXTERNAL {indirect-reference, single-ASN1-type}.  Default 5. */
    int transfer_context_id;
    /* Largest APDU accepted from the peer, in octets.  Default 64 MiB. */
    uint64_t max_apdu_size;
} x400_rtse_config;

/* Fill *c with the defaults above. */
void x400_rtse_config_default(x400_rtse_config *c);
/* X400_OK, or X400_ERR_INVALID_ARG when a field is out of range
 * (checkpoint size above the maximum, window 0 or above the maximum,
 * application protocol other than 1 or 12, context id outside 1..127). */
int x400_rtse_config_check(const x400_rtse_config *c);

/* ---- Recovery record ------------------------------------------------- */

/* A receiving RTSE hands the MTA an opaque record (at most
 * X400_RTSE_RECORD_MAX octets) each time it confirms a checkpoint, when a
 * transfer completes and when the record becomes obsolete (empty record:
 * erase it).  The record is versioned and checksummed.  The MTA keeps the
 * latest one per association together with the APDU octets it was handed
 * so far, and after a restart gives it back to a new RTSE object, which
 * then accepts the sender's recovery (connectionDataRQ recover +
 * S-ACTIVITY-RESUME) and drops exactly what the MTA already has. */
#define X400_RTSE_RECORD_MAX 1536u
#define X400_RTSE_RECORD_VERSION 1

typedef enum x400_rtse_record_state {
    X400_RTSE_RECORD_RECEIVING = 1, /* a transfer is partly received */
    X400_RTSE_RECORD_COMPLETED = 2  /* received whole; the sender may not know yet */
} x400_rtse_record_state;

typedef struct x400_rtse_record_info {
    int version;
    x400_rtse_record_state state;
    uint8_t activity_id[6];          /* X.225 activity identifier */
    size_t activity_id_len;
    uint8_t calling_ref[64];         /* session connection identifier of the */
    size_t calling_ref_len;          /* connection the activity ran on */
    uint8_t common_ref[64];
    size_t common_ref_len;
    uint8_t add_ref[4];
    size_t add_ref_len;
    uint64_t delivered;              /* APDU octets handed to the user */
    uint32_t last_serial;            /* last confirmed checkpoint serial number */
    uint64_t saved_ms;               /* caller's clock when written */
    uint64_t expires_ms;             /* keep until then (saved + recovery timeout) */
} x400_rtse_record_info;

/* Validate a record and describe it (e.g. to index stored records by
 * session connection identifier, or to expire them).  `info` may be NULL.
 * X400_OK; X400_ERR_CORRUPT (bad magic, length or checksum);
 * X400_ERR_UNSUPPORTED (another version); X400_ERR_INVALID_ARG (NULL). */
int x400_rtse_record_info_get(const uint8_t *rec, size_t len, x400_rtse_record_info *info);

#ifdef __cplusplus
}
#endif
#endif
