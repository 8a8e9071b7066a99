/* Two associations wired together (pair.h: x400t_assoc_pair_open, ...),
 * the opening the layer suites share.  Apart from support_pair.c: it sets
 * the internal upper layer (x400i_assoc_set_upper, lib/assoc_int.h), and
 * the demo driver links support_pair.c against the library, where only
 * x400_ symbols are global. */
#include <stdio.h>
#include <string.h>

#include "assoc_int.h"
#include "pair.h"

int x400t_assoc_side_new(x400_assoc **a, int responder, const x400t_assoc_side *side)
{
    static const x400t_assoc_side none = { X400_MODE_NORMAL, NULL, NULL, NULL };
    x400_assoc_config def;
    const x400_assoc_config *c = side ? side->config : NULL;
    int rv;
    if (!side) side = &none;
    if (!c) {
        x400_assoc_config_init(&def, responder ? X400_ROLE_RESPONDER : X400_ROLE_INITIATOR);
        def.mode = side->mode;
        c = &def;
    }
    *a = NULL;
    rv = x400_assoc_new(a, c, side->cb, NULL);
    if (rv != X400_OK) return rv;
    if (side->upper) x400i_assoc_set_upper(*a, side->upper);
    return X400_OK;
}

int x400t_assoc_pair_open(x400t_assoc_pair *p, const x400t_assoc_side *initiator,
                          const x400t_assoc_side *responder)
{
    int rv;
    memset(p->a, 0, sizeof p->a);
    x400t_wire_init(&p->wire);
    x400t_pair_init(&p->io, &x400t_assoc_end, NULL, NULL);
    p->io.wire = &p->wire;
    p->io.take = 1 << 16;
    for (int k = 0; k < 2; k++) {
        rv = x400t_assoc_side_new(&p->a[k], k, k ? responder : initiator);
        if (rv != X400_OK) {
            snprintf(p->io.err, sizeof p->io.err, "x400_assoc_new (%s): %d", k ? "responder" : "initiator", rv);
            x400_assoc_free(p->a[0]);
            p->a[0] = NULL;
            return -1;
        }
        p->io.end[k] = p->a[k];
    }
    return 0;
}

int x400t_assoc_pair_connect(x400t_assoc_pair *p)
{
    int rv = x400_assoc_connect(p->a[0]);
    if (rv != X400_OK) {
        snprintf(p->io.err, sizeof p->io.err, "x400_assoc_connect: %d", rv);
        return -1;
    }
    return x400t_pair_pump(&p->io);
}

void x400t_assoc_pair_close(x400t_assoc_pair *p)
{
    x400_assoc_free(p->a[0]);
    x400_assoc_free(p->a[1]);
    p->a[0] = p->a[1] = NULL;
    x400t_wire_free(&p->wire);
    x400t_pair_free(&p->io);
}
