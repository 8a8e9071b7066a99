/* PP/ISODE conversations (test/interop/*.txt, format in its README):
 * one TPKT per line, '<' from the connection's initiator, '>' from its
 * responder.  For the tests that feed a real peer's bytes to one layer. */
#ifndef X400T_PPVEC_H
#define X400T_PPVEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct x400t_ppvec {
    size_t n;
    struct x400t_pptpkt { int from_initiator; uint8_t *p; size_t len; } *t;
} x400t_ppvec;

/* Load test/interop/<name> (under X400T_SRCDIR); the test fails if the
 * file is missing or a line is not hex. */
void x400t_ppvec_load(x400t_ppvec *v, const char *name);
void x400t_ppvec_free(x400t_ppvec *v);
/* The session user data of TPKT k: the TSDU after the TPKT header and the
 * COTP DT header, then after the SPDU header(s) of its last SPDU's
 * parameter 0xC1 (User Data) or 0xC2 (Extended User Data), or for an SPDU
 * without parameters (DT, as ISODE sends it) everything after its
 * header.  For checking what a peer carried; NULL if none. */
const uint8_t *x400t_ppvec_tsdu(const x400t_ppvec *v, size_t k, size_t *len);

#endif
