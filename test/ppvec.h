/* PP/ISODE conversations (the .txt files of test/interop/, format in its README):
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
/* The session user data one TPKT carries (TPKT, COTP DT, then SPDUs): the
 * User Data parameter (0xC1, or 0xC2 Extended User Data) of its SPDU --
 * after an empty GT/PT in front (basic concatenation) -- or, for an SPDU
 * followed by octets (DT), those octets.  NULL if none. */
const uint8_t *x400t_tpkt_user_data(const uint8_t *tpkt, size_t n, size_t *len);
/* The same for TPKT k of a conversation. */
const uint8_t *x400t_ppvec_user_data(const x400t_ppvec *v, size_t k, size_t *len);

#endif
