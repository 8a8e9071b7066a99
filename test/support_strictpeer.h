/* A strict X.225 peer for the tests: a second opinion on every TSDU our
 * stack emits, written from X.225 (8.2 structure, 8.3 parameter tables,
 * 6.3.7 basic concatenation) and from how ISODE's session provider reacts,
 * independently of lib/spdu.c.  It refuses what ISODE refuses:
 *   - a category 2 SPDU not behind the category 0 SPDU the concatenation
 *     table pairs it with (GT before DT, MIP, MAP/AE, RS, AS, AR, AD, AI,
 *     CD; PT before MIA, MAA/AEA, RA, ADA, AIA, CDA, ER, ED), a category 2
 *     SPDU alone, anything after a category 1 SPDU or a category 2 one;
 *   - a parameter (PI or PGI) not in the SPDU's table, also inside a group
 *     (e.g. a Calling SS-user Reference in an AC's Connection Identifier),
 *     a missing mandatory one, a duplicated one, a bad length or value;
 *   - User Data (PGI 193) above 512 octets (ISODE refuses it whatever the
 *     version), Extended User Data (PGI 194) outside CN or at most 512;
 *   - CN from the responder, AC/RF from the initiator, a first TSDU of the
 *     initiator that is not a CN (stateful checker);
 *   - with version 1 selected: user data above 512 octets (AB: 9), any
 *     Enclosure Item; version 1 proposed with more than 512 octets of CN
 *     user data; an AC selecting a version not offered (stateful checker).
 */
#ifndef X400T_STRICTPEER_H
#define X400T_STRICTPEER_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* One TSDU, no conversation state.  0 when it passes, -1 with the reason
 * in err (always NUL-terminated). */
int x400t_strict_tsdu(const uint8_t *p, size_t n, int from_initiator, char *err, size_t errlen);

/* The conversation state of one session connection. */
typedef struct x400t_strict {
    int offered;          /* Version Number of the CN (0 before it) */
    int version;          /* selected by the AC: 1 or 2; 0 before it */
    int cn_seen;
    uint8_t *dt[2];       /* COTP DT reassembly, [from_initiator] */
    size_t dt_len[2], dt_cap[2];
    size_t tsdus;         /* TSDUs checked */
    size_t next_rec;      /* x400t_strict_wire: first record not yet checked */
    char err[512];
} x400t_strict;

void x400t_strict_init(x400t_strict *st);
void x400t_strict_free(x400t_strict *st);
/* One TSDU in the conversation: 0 or -1 (st->err). */
int x400t_strict_check(x400t_strict *st, int from_initiator, const uint8_t *p, size_t n);
/* One TPKT (RFC 1006 + X.224 class 0): DT TPDUs are reassembled to TSDUs
 * and checked; CR, CC, DR, ER carry no SPDU.  0 or -1 (st->err). */
int x400t_strict_tpkt(x400t_strict *st, int from_initiator, const uint8_t *p, size_t n);
/* The records of a wire recording not checked yet (from st->next_rec). */
int x400t_strict_wire(x400t_strict *st, const x400t_wire *w);

#endif
