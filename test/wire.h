/* Independent wire check: hand tshark what we emitted and require that it
 * decodes it with no malformed packet and no expert error.
 * See doc/mta.md ("Capturing the traffic for Wireshark") for the tshark
 * invocation and the object identifiers. */
#ifndef X400T_WIRE_H
#define X400T_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* A recording of one connection: each record is one complete TPKT as it
 * crossed the wire, with its direction.  The recording functions are in
 * support_pair.c (the pump of pair.h records into one), the tshark ones
 * in support_wire.c. */
typedef struct x400t_wire {
    size_t n, cap;
    struct x400t_wire_rec { int from_initiator; uint8_t *p; size_t len; } *rec;
} x400t_wire;

void x400t_wire_init(x400t_wire *w);
void x400t_wire_free(x400t_wire *w);
/* Append bytes sent in one direction.  Bytes are split into TPKTs by their
 * headers (a partial TPKT is kept until completed by a later call). */
void x400t_wire_add(x400t_wire *w, int from_initiator, const uint8_t *p, size_t len);

/* Wrap a TSDU into TPKT + COTP DT (EOT) and record it: for tests of layers
 * above transport that do not run a transport object. */
void x400t_wire_add_tsdu(x400t_wire *w, int from_initiator, const uint8_t *tsdu, size_t len);

/* Write the recording as a pcapng with text2pcap and run tshark's failure
 * filter over it.  `extra_opts` is appended to the tshark command line
 * (e.g. "-o rtse.reassemble:FALSE"), may be NULL.  Returns 0 when tshark
 * found nothing wrong; otherwise -1 with tshark's complaint in `err`.
 * The pcapng is kept as build/<variant>/test/wire/<name>.pcapng. */
int x400t_wire_check(const x400t_wire *w, const char *name,
                     const char *extra_opts, char *err, size_t errlen);

/* Run tshark with `-T fields <fields>` (e.g. "-e cotp.type -e ses.type")
 * over the recording and return its output (malloc'd, caller frees), or
 * NULL on failure.  For positive checks ("tshark saw a CR, a CC, ..."). */
char *x400t_wire_fields(const x400t_wire *w, const char *name,
                        const char *extra_opts, const char *fields);

/* One tshark run over the recording that does x400t_wire_check and the
 * positive checks together (each tshark start costs a second or more): no
 * frame matches the failure filter, and each of the n display filters in
 * `expect` (no commas: tshark's io,stat tap separates them by commas)
 * matches at least one frame.  0, or -1 with the reason in err (what
 * tshark flagged, or the filter no frame matched). */
int x400t_wire_expect(const x400t_wire *w, const char *name, const char *extra_opts,
                      const char *const *expect, size_t n, char *err, size_t errlen);
/* The same run also printing `-T fields <fields>` (e.g. "-e ses.type"):
 * each frame's line into *fields_out (malloc'd, the caller frees; set
 * also when the checks fail, NULL when tshark did not run). */
int x400t_wire_expect_fields(const x400t_wire *w, const char *name, const char *extra_opts,
                             const char *const *expect, size_t n, const char *fields, char **fields_out,
                             char *err, size_t errlen);

#endif
