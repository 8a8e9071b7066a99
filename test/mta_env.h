/* The example MTA (examples/x400mta, built with the check sanitizers) as a
 * user runs it, for the end-to-end suites (test/support_mta.c):
 * MTAs as processes sharing one scratch directory, side i's files being
 * <dir>/<side>.conf, <dir>/<side>.log and the spool <dir>/<side>/ (side
 * names "a" .. "d").  check_mta runs two (x400t_mta_env_init writes the
 * configuration of MTA-A and MTA-B), check_mtarelay four (it writes its
 * own).  Failures are Check assertions. */
#ifndef X400T_MTA_ENV_H
#define X400T_MTA_ENV_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "mta.h"
#include "x400p1/p1.h"

#define X400T_MTA_MAX 4

struct env {
    char dir[512];
    char bin[1024];
    unsigned port[X400T_MTA_MAX];
    pid_t pid[X400T_MTA_MAX];
    int monologue;
    const char *mta_extra[X400T_MTA_MAX]; /* lines appended to side i's [mta] section */
    unsigned via[X400T_MTA_MAX];          /* side i reaches its peer at this port (a proxy), 0: directly */
};

/* Inbox tally of side i: messages whose content-id starts with `prefix`
 * (distinct and total), and reports (delivered / non-delivered). */
struct tally {
    int distinct, total, dr, ndr;
};

/* An inbox entry's octets. */
struct x400t_mta_body {
    uint8_t *p;
    size_t len;
};

extern const char *const x400t_mta_side_name[X400T_MTA_MAX];

double x400t_mta_now_s(void);
/* system(3) of the formatted command: its exit status, -1 if it died. */
int x400t_mta_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The scratch directory, the binary and n free ports (no configuration). */
void x400t_mta_env_dir(struct env *e, int n);
/* Two MTAs, A (side 0, PRMD ALPHA) and B (side 1, BRAVO), each the
 * other's peer. */
void x400t_mta_env_init(struct env *e);
/* Side i's configuration file, created with its [mta] section: MTA
 * `name`, `password`, GDI C=XX;A=ADMD;P=<prmd>, node <side>1, listening
 * on port[i], spool and log in the directory, then mta_extra[i].  The
 * caller adds the [peer] sections and closes it. */
FILE *x400t_mta_conf_open(struct env *e, int i, const char *name, const char *password, const char *prmd);
/* Side i's configuration of the two-MTA environment: peer_extra, lines
 * appended to its [peer] section (NULL: none); known == 0: side i does not
 * know the other MTA at all; their_pw: the password it expects (NULL: the
 * right one, "-": no their-password line). */
void x400t_mta_write_conf(struct env *e, int i, const char *peer_extra, int known, const char *their_pw);
/* Start side i (`x400mta run -c <side>.conf`); fsize > 0: it may write
 * files up to fsize octets only (RLIMIT_FSIZE, SIGXFSZ ignored: a write
 * beyond fails as on a full disk). */
void x400t_mta_start_limited(struct env *e, int i, rlim_t fsize);
void x400t_mta_start(struct env *e, int i);
/* Signal side i and reap it (SIGKILL after 10 s): its wait status, -1
 * when it had to be killed, 0 when it was not running. */
int x400t_mta_stop(struct env *e, int i, int sig);
/* Stop every side; ok: remove the directory, else keep it (and say so). */
void x400t_mta_env_free(struct env *e, int ok);
/* Two-MTA environment: queue `count` messages of `size` octets at side
 * `from` for the other side (content ids cid-1, ...). */
void x400t_mta_submit(struct env *e, int from, const char *cid, int count, int size, int report);

/* Side i's inbox entries (headers); with body != NULL also each entry's
 * octets (the P1 APDU as received, free with x400t_mta_bodies_free).
 * Returns how many; *out is the caller's to free. */
long x400t_mta_inbox_entries(struct env *e, int i, mta_spool_hdr **out);
long x400t_mta_inbox_read(struct env *e, int i, mta_spool_hdr **out, struct x400t_mta_body **body);
void x400t_mta_bodies_free(struct x400t_mta_body *body, long n);
struct tally x400t_mta_inbox(struct env *e, int i, const char *prefix);

/* The statistics snapshot of side i (key=value lines, NULL before the
 * first), one counter of a snapshot or of side i (-1: absent), three from
 * one snapshot. */
char *x400t_mta_stats_text(struct env *e, int i);
long x400t_mta_stat_in(const char *t, const char *key);
long x400t_mta_stat_of(struct env *e, int i, const char *key);
void x400t_mta_stats_of(struct env *e, int i, const char *k0, const char *k1, const char *k2, long v[3]);
/* The snapshot lags by up to 250 ms: wait up to secs for counter `key` of
 * side i to read `want`; returns the last value read. */
long x400t_mta_wait_stat(struct env *e, int i, const char *key, long want, double secs);
/* Two-MTA environment: wait until side i's inbox has `want` distinct
 * messages (and `dr` reports at side 1-i, when dr >= 0). */
int x400t_mta_wait_for(struct env *e, int i, const char *prefix, int want, int dr, double secs);
/* Side i holds exactly n messages with the prefix, each once. */
void x400t_mta_assert_exactly_once(struct env *e, int i, const char *prefix, int n);

#endif
