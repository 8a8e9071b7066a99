/* Real-peer test vectors (test/interop/ (.txt files), see test/interop/README.md):
 * loading them, and reading the envelope of the MTS-APDU they carry with
 * tshark so that what x400p1 decodes can be compared with an independent
 * decoder. */
#ifndef X400T_INTEROP_H
#define X400T_INTEROP_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "x400p1/p1.h"

/* Load test/interop/<name>.txt (under X400T_SRCDIR) into *w: one record per
 * `<` (from_initiator 1) or `>` (0) line, in file order.  Returns 0, or -1
 * with a message in err (unreadable file, odd or non-hex digits, a line
 * that is not exactly one TPKT). */
int x400t_vec_load(x400t_wire *w, const char *name, char *err, size_t errlen);

/* Every TSDU of test/interop/<name>.txt (as x400t_vec_load reads it), in
 * file order: the DT TPDUs of each direction reassembled (CR, CC, DR are
 * not SPDUs).  fn returns < 0 to stop.  The number of TSDUs, or -1 with a
 * message in err (the file as x400t_vec_load refuses it, fn stopped). */
typedef int (*x400t_tsdu_fn)(void *user, int from_initiator, const uint8_t *p, size_t n);
int x400t_interop_tsdus(const char *name, x400t_tsdu_fn fn, void *user, char *err, size_t errlen);

/* One tshark run over a recording of x400p1 (the initiator when
 * we_initiate) talking to a recorded real peer: tshark's failure filter
 * (wire.h, x400t_wire_check) over the frames x400p1 sent -- only those: the
 * real peer's own octets may be flagged (tshark reads PP's 1988
 * ExtensionField form as an unknown standard extension) -- and, when env is
 * not NULL, the envelope line (below) of the first MTS-APDU the peer sent
 * (*env malloc'd, NULL if none).  A frame whose expert message contains
 * `tshark_limit` (may be NULL) is not counted: a tshark limitation that
 * flags the real peer's own frames the same way.  0, or -1 with err. */
int x400t_interop_tshark(const x400t_wire *w, const char *name, int we_initiate,
                         const char *tshark_limit, char **env, char *err, size_t errlen);

/* The envelope fields tshark shows for the first MTS-APDU the initiator
 * sent in the recording (one string per field compared, occurrences joined
 * by ';').
 * Returns a malloc'd, tab-separated line, or NULL when tshark failed or
 * found no MTS-APDU. */
char *x400t_env_tshark(const x400t_wire *w, const char *name);

/* The same for an MTS-APDU given as octets (an X.410-1984 transfer, which
 * tshark does not decode in its own conversation): the APDU is put in the
 * place of the one PP transfers in pp-pp-1988-twa.txt and that 1988
 * conversation is decoded.  NULL on failure. */
char *x400t_env_tshark_apdu(const uint8_t *apdu, size_t len, const char *name);

/* The same fields from x400p1's decoded APDU, compared with tshark's line:
 * 0 when equal; -1 with the first difference in err.  List fields are
 * compared as a prefix (tshark also lists the values of the IPM content
 * it decodes, which x400p1 passes opaque). */
int x400t_env_compare(const x400_p1_apdu *a, const char *tshark_line,
                      char *err, size_t errlen);


#endif
