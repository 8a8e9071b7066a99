/*
 * x400mta -- an example X.400 MTA built on libx400p1 (public API only).
 *
 * Files:
 *   mta.h      this header: configuration, logging and spool interfaces
 *   config.c   the configuration file and command-line flags (mta_config_*)
 *   log.c      categorised logging (mta_log_*)
 *   spool.c    the durable spool: submission drop, queue, inbox, journal
 *   manager.c  the association manager and event loop (mta_run)
 *   main.c     the command line: run, submit, queue, inbox
 *
 * doc/mta.md is the user guide (configuration reference, logs, capture).
 */
#ifndef X400MTA_MTA_H
#define X400MTA_MTA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <x400p1/assoc.h>
#include <x400p1/driver.h>
#include <x400p1/mtsid.h>
#include <x400p1/orname.h>
#include <x400p1/p1.h>
#include <x400p1/p1link.h>
#include <x400p1/rtse.h>

/* ------------------------------------------------------------ config */

#define MTA_MAX_PEERS 16
#define MTA_MAX_LISTEN 8
#define MTA_MAX_ROUTES 8
#define MTA_HOST_MAX 255
#define MTA_PATH_MAX 1024
#define MTA_ROUTE_MAX 256

/* Address family a peer's host name is resolved to. */
typedef enum mta_family { MTA_FAMILY_ANY = 0, MTA_FAMILY_IPV4 = 4, MTA_FAMILY_IPV6 = 6 } mta_family;

typedef struct mta_peer_config {
    char name[X400_MTA_NAME_MAX + 1];          /* the peer's MTA name (its bind) */
    /* what the peer must present in its MTABindArgument/Result */
    uint8_t their_password[X400_PASSWORD_MAX];
    size_t their_password_len;
    /* their-password given; with their_password_none ("their-password =
     * none") binds without a password are accepted, and only then:
     * mta_config_check refuses a peer with neither */
    int their_password_set, their_password_none;
    /* what we present to this peer (defaults: the MTA's own name/password) */
    char our_name[X400_MTA_NAME_MAX + 1];
    uint8_t our_password[X400_PASSWORD_MAX];
    size_t our_password_len;
    /* our-name / our-password given for this peer; while 0 the field
     * follows the [mta] name / password (mta_config_load and
     * mta_config_set keep it in step) */
    int our_name_set, our_password_set;
    /* presentation address */
    char host[MTA_HOST_MAX + 1];               /* host name or IPv4/IPv6 literal */
    char port[16];                             /* default "102" */
    mta_family family;
    x400_selector tsel, ssel, psel;            /* the peer's (called) selectors */
    x400_selector calling_tsel, calling_ssel, calling_psel; /* ours towards it (calling) */
    /* session versions offered (X.225 8.3.1.5 Version Number): bit 0
     * version 1, bit 1 version 2; 0 = the library's default */
    unsigned session_versions;
    /* form of the ExtensionField type in the envelopes we send:
     * MTA_EXT_DEFAULT (as each APDU was received or built), _1988
     * ([0] { INTEGER }, as PP/ISODE) or _1992 ([0] IMPLICIT INTEGER) */
    int extension_form;
    /* link settings (doc/mta-config.md maps each to the Exchange MTA's) */
    x400_mode mode;                         /* "1988" (default) or "1984" */
    x400_rtse_config rtse;                     /* checkpoint size, window, recovery
                                                  timeout, dialogue mode (TWA or
                                                  monologue), initial turn,
                                                  transfer timeouts per priority */
    uint32_t lifetime_s;                       /* idle time before release; 300 */
    uint32_t disconnect_s;                     /* wait for the release answer; 120 */
    uint32_t threshold;                        /* queued messages per association
                                                  above which another opens; 50 */
    uint32_t max_assocs;                       /* outbound associations at most; 4 */
    uint32_t max_open_retries;                 /* 144 */
    uint32_t open_interval_s;                  /* 600 */
    uint32_t max_transfer_retries;             /* 2 */
    uint32_t transfer_interval_s;              /* 120 */
    int expedited;                             /* accepted, not used (logged) */
    /* O/R address prefixes routed to this peer, e.g. "C=XX;A=ADMD;P=BRAVO":
     * a recipient matches when every attribute given here is present in
     * the recipient with the same value (case-insensitive). */
    char routes[MTA_MAX_ROUTES][MTA_ROUTE_MAX];
    size_t nroutes;
    /* "domain": the peer's management domain (GDI); country "" (the
     * default): this MTA's own.  A peer of another domain is sent no
     * internal trace (X.411 12.2.1.1.1.4). */
    x400_gdi domain;
} mta_peer_config;

enum { MTA_EXT_DEFAULT = 0, MTA_EXT_1988 = 1, MTA_EXT_1992 = 2 };

/* Containment of hostile or broken peers (doc/mta-config.md, [mta]). */
typedef struct mta_limits {
    uint32_t max_connections;      /* TCP connections at most, in and out; 4096 */
    uint32_t reserved_outbound;    /* of them, kept for our own opens; 64 */
    uint32_t max_unbound;          /* inbound connections not yet bound; 256
                                      (the oldest is closed for a new one) */
    uint32_t max_unbound_per_source; /* ... from one source address; 8 */
    uint32_t bind_timeout_s;       /* from accept to bind; 30 */
    uint32_t bind_backoff_max_s;   /* failed binds: a source is refused for
                                      1, 2, 4 ... up to this many s; 60; 0 off */
    uint32_t garbage_log_lines;    /* protocol garbage logged per source and
                                      interval (mta_srclog); 5 */
    uint32_t garbage_log_interval_s; /* that interval; 60 */
} mta_limits;

typedef struct mta_config {
    char name[X400_MTA_NAME_MAX + 1];          /* this MTA's name (required) */
    uint8_t password[X400_PASSWORD_MAX];
    size_t password_len;
    x400_gdi gdi;                              /* GlobalDomainIdentifier (required) */
    char node[9];                              /* MTSID node id, 1..8 [A-Za-z0-9] */
    char listen[MTA_MAX_LISTEN][MTA_HOST_MAX + 20]; /* "host:port", "[v6]:port", "*:port" */
    size_t nlisten;
    char spool[MTA_PATH_MAX];                  /* spool directory (required) */
    /* O/R address prefixes delivered locally (to the inbox); default: the GDI */
    char local[MTA_MAX_ROUTES][MTA_ROUTE_MAX];
    size_t nlocal;
    /* logging */
    char log_path[MTA_PATH_MAX];               /* "" or "-": stderr */
    int log_level[3];                          /* per mta_log_category, x400_log_level or -1 off */
    /* group commit: at most this many ms between receiving an APDU and making it durable */
    uint32_t commit_delay_ms;                  /* 0 (commit at the end of each loop turn) */
    /* TCP Fast Open on our listeners and connects (x400_driver_config
     * tcp_fast_open): the CR in the SYN; 0 (off) */
    int tcp_fast_open;
    mta_limits lim;
    mta_peer_config peers[MTA_MAX_PEERS];
    size_t npeers;
} mta_config;

/* Defaults for everything (peers: none; levels: service info, interface
 * notice, apdu off). */
void mta_config_defaults(mta_config *cfg);
/* Defaults for one peer (the values documented above). */
void mta_peer_defaults(mta_peer_config *p);
/* Read a configuration file into *cfg (on top of what is there).  0, or -1
 * with "file:line: what is wrong" in err. */
int mta_config_load(mta_config *cfg, const char *path, char *err, size_t errlen);
/* One "key = value" of the [mta] section, as the command-line flags use
 * (e.g. "listen", "127.0.0.1:1102").  0 or -1 with err. */
int mta_config_set(mta_config *cfg, const char *key, const char *value, char *err, size_t errlen);
/* After loading: required fields present, peers distinct.  0 or -1 with err. */
int mta_config_check(const mta_config *cfg, char *err, size_t errlen);
/* The peer configured under `name` (exact), or NULL. */
const mta_peer_config *mta_config_peer(const mta_config *cfg, const char *name);
/* Routing: 1 when `addr` is local (delivered to this MTA's inbox); else the
 * peer serving it through *peer (NULL: no route). */
int mta_config_route(const mta_config *cfg, const x400_orname *addr, const mta_peer_config **peer);
/* Write a sample configuration (documented, every key) to f. */
void mta_config_sample(FILE *f);

/* ------------------------------------------------------------ logging */

/* Categories, as the Exchange 4.0-5.5 MTA's diagnostics logging had them. */
typedef enum mta_log_category {
    MTA_LOG_SERVICE = 0,   /* "X.400 service": submission, transfer, delivery, reports */
    MTA_LOG_INTERFACE = 1, /* "interface": associations, binds, aborts, retries and every
                              library diagnostic (state checks, stale LPIs, duplicates) */
    MTA_LOG_APDU = 2       /* "APDU trace": hex of every APDU and of the library's PDU traces */
} mta_log_category;

typedef struct mta_log {
    FILE *f;                 /* stderr or the log file (NULL with syslog) */
    int own;                 /* f was opened by mta_log_open */
    int syslog;              /* path "syslog" or "syslog:SOCKET": records go to a syslog
                                socket (RFC 3164 datagrams, facility mail) */
    int sfd;                 /* that socket (-1: not connected yet or any more) */
    char sock[108];          /* its path: /dev/log, or the one after "syslog:" */
    int cur_level;           /* the level of the record being written */
    int level[3];            /* x400_log_level per category; -1 off */
    char who[X400_MTA_NAME_MAX + 1];
} mta_log;

/* Open the log (path "" or "-": stderr; "syslog": the local syslog socket
 * /dev/log, "syslog:SOCKET" another AF_UNIX datagram socket -- one RFC 3164
 * datagram per line, "<PRI>Mmm dd hh:mm:ss x400mta[pid]: text", facility
 * mail, the level as the severity; journald takes it too).  A socket that
 * is missing or refuses is tried again at the next record; records are
 * dropped meanwhile, as syslog(3) does.  0 or -1 (errno). */
int mta_log_open(mta_log *lg, const char *path, const int level[3], const char *who);
void mta_log_close(mta_log *lg);
/* One line: "2026-11-21T10:00:00.123Z MTA-A service info: text".
 * (Named mta_logf: a function may not share the name of the type mta_log.) */
void mta_logf(mta_log *lg, mta_log_category cat, x400_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* APDU category at trace level: "what (n bytes): hex..." (wrapped, complete). */
void mta_log_hex(mta_log *lg, const char *what, const uint8_t *p, size_t n);
/* A library logger that files library messages under the interface
 * category (and hex PDU traces under APDU). */
x400_logger mta_log_library(mta_log *lg);
/* Log a library diagnostic with its layer, source, code and text. */
void mta_log_diag(mta_log *lg, x400_log_level level, const char *context, const x400_diag *d);

/* ------------------------------------------------------------ spool */

/*
 * Directory layout under cfg->spool (doc/mta.md):
 *   submit/   dropped by `x400mta submit`: one file per submission, written
 *             with write, fsync, rename, directory fsync before the tool
 *             returns.  The MTA picks them up, assigns the MTSID.
 *   queue/    outbound APDUs, one file per APDU (<qid>.apdu)
 *   inbox/    delivered messages and reports, one file per APDU
 *   rtse/     RTSE receiver records of inbound transfers in progress, one
 *             file per association (mta_spool_rtse_save below)
 *   journal   write-ahead journal: what the MTA accepts is appended here and
 *             fdatasync'ed (group commit: one fdatasync for all APDUs
 *             accepted in a loop turn) BEFORE any acknowledgement; the
 *             queue/inbox files are written after it (after the
 *             acknowledgements, on the writer thread) and made durable in bulk
 *             at a checkpoint (syncfs), after which the journal is emptied.
 *             On open the journal is replayed (files missing are rebuilt).
 *   journal-old  the journal a checkpoint in flight empties: renamed at its
 *             start (a new journal takes the batches from then on), removed
 *             at its end; replayed before `journal` when a crash left it.
 *   seen      received MTSIdentifiers (x400_p1_idset_save_file), rewritten
 *             at each checkpoint; the journal holds those seen since.
 *   status    the running MTA's queue view (non-durable snapshot, for `queue`)
 *   stats     the running MTA's counters (non-durable snapshot)
 *   mtsid     the MTSID allocator's state
 *   lock      held (flock) by the running MTA
 *
 * Every spool file starts with a text header (one "key: value" per line,
 * an empty line) followed by the BER of the P1 APDU (or, in submit/, the
 * content octets):
 *   X400MTA-SPOOL 1
 *   kind: message | report | probe | undecodable (quarantine/)
 *   mtsid: [C=XX;A=ADMD;P=ALPHA;L=n1.xyz.1]    (absent in submit/)
 *   content-id: demo-42                          (optional)
 *   originator: C=XX;A=ADMD;P=ALPHA;S=Smith     (message/probe)
 *   recipient: C=XX;A=ADMD;P=BRAVO;S=Jones      (one line each)
 *   priority: normal | urgent | non-urgent
 *   report-request: yes | no                     (delivery reports wanted)
 *   peer: MTA-B           (queue: next hop; inbox: the MTA it came from)
 *   subject: [C=...]      (report: the subject message's MTSID)
 *   subject-content-id: demo-42                  (report, when the subject had one)
 *   outcome: delivered | non-delivered <reason>/<diagnostic>   (report)
 *   time: 1795250000123   (ms since the epoch: submitted / queued / received)
 *   size: 1234            (octets after the header)
 */

typedef struct mta_spool mta_spool;

#define MTA_SPOOL_RECIP_MAX 32
#define MTA_ADDR_MAX 512   /* an O/R address in text form, in spool headers */
/* Bounds of the spool (spool.c).  File names: 1..MTA_SPOOL_NAME_MAX of
 * [A-Za-z0-9._+=@-], not starting with '.', not ending in ".tmp" (temp
 * files), not "tmp". */
#define MTA_SPOOL_NAME_MAX 128
#define MTA_SPOOL_HDR_MAX 65536                /* text header, empty line included */
#define MTA_SPOOL_FILE_MAX (128u << 20)        /* octets after the header */
/* `max-apdu-size` (KiB) at most: a queue file must hold the APDU */
#define MTA_APDU_MAX_KIB (MTA_SPOOL_FILE_MAX / 1024u)
/* Room kept for the envelope when `submit` checks content against a bound */
#define MTA_ENVELOPE_ROOM 65536u
#define MTA_SPOOL_BATCH_MAX (256u << 20)       /* journal octets of one batch */
#define MTA_SPOOL_BATCH_ITEMS 65536            /* items of one batch */

/* The header of a spool file (strings NUL-terminated, "" = absent). */
typedef struct mta_spool_hdr {
    char kind[12];
    char mtsid[X400_MTSID_TEXT_MAX];
    char content_id[X400_CONTENT_ID_MAX + 1];
    char originator[MTA_ADDR_MAX];
    char recipient[MTA_SPOOL_RECIP_MAX][MTA_ADDR_MAX];
    size_t nrecipient;
    char priority[12];
    int report_request;
    char peer[X400_MTA_NAME_MAX + 1];
    char subject[X400_MTSID_TEXT_MAX];
    char subject_content_id[X400_CONTENT_ID_MAX + 1];
    char outcome[64];
    uint64_t time_ms;
    uint64_t size;
} mta_spool_hdr;

/* Which directory. */
/* quarantine/: received APDUs that did not decode (kept, confirmed, never
 * routed; doc/mta.md). */
typedef enum mta_spool_dir {
    MTA_SPOOL_SUBMIT = 0, MTA_SPOOL_QUEUE = 1, MTA_SPOOL_INBOX = 2, MTA_SPOOL_QUARANTINE = 3,
    MTA_SPOOL_NDIR = 4
} mta_spool_dir;

/* Open (creating the directories) and replay the journal; `seen` (may be
 * NULL) gets the persisted received MTSIDs (file `seen` + journal).  The MTA
 * opens with lock = 1 (fails with "spool <dir> in use by pid N" when another
 * holds it); the tools open with lock = 0.  0, or -1 with err.
 * lock = 1: files of the journal that are missing or differ are rebuilt,
 * unlinks redone, then a checkpoint empties the journal (with seen == NULL
 * the journal's identifiers are then dropped).  lock = 0: the journal is
 * only read (identifiers into `seen`); files and journal are left alone.
 * lock = MTA_SPOOL_SNAPSHOTS: the journal is not read at all (its cost
 * grows with the messages it holds): snapshots, requests and the owner
 * only, for `x400mta stats`, which a monitor may run every few seconds.
 * A spool object is not thread-safe: one thread at a time. */
#define MTA_SPOOL_SNAPSHOTS 2
int mta_spool_open(mta_spool **out, const char *dir, int lock, x400_p1_idset *seen,
                   char *err, size_t errlen);
void mta_spool_close(mta_spool *s);

/* Submission (tools): header + content written to submit/ with write,
 * fsync, rename, directory fsync; the file name (a fresh unique id) in
 * name[64].  0 or -1 with err. */
int mta_spool_submit(mta_spool *s, const mta_spool_hdr *h, const uint8_t *content, size_t len,
                     char name[64], char *err, size_t errlen);

/* Group commit (the MTA).  stage_* copy their arguments into the pending
 * batch; commit appends the batch to the journal, fdatasyncs it once, then
 * writes the files (no fsync: the journal covers them) and returns the
 * number of items made durable (0 when nothing was staged), or -1 with err
 * (nothing in the batch may then be acknowledged). */
/* stage_*: 0, or -1 with errno: E2BIG the batch is full (commit first),
 * EFBIG body > MTA_SPOOL_FILE_MAX, EINVAL bad name/header/MTSID text, EPERM
 * spool opened without the lock, ENOMEM.  A failed commit or checkpoint is
 * sticky (later ones fail too): close and reopen the spool, which replays
 * the journal, and rebuild `seen` from that open.
 * stage_file with a body of 256 KiB or more: the file is written once,
 * not through the journal -- to "<name>.tmp", fdatasynced with its
 * directory before the batch's journal fdatasync, which holds only a
 * reference (length, CRC-32); renamed into place when the batch is
 * applied, and by the replay after a crash; open removes the temporary
 * files of batches that never reached the journal (queue/, inbox/,
 * quarantine/). */
int mta_spool_stage_file(mta_spool *s, mta_spool_dir dir, const char *name,
                         const mta_spool_hdr *h, const uint8_t *body, size_t len);
int mta_spool_stage_seen(mta_spool *s, const char *mtsid_text);
/* A submit/ file was taken over (its queue file is staged): removed after commit. */
int mta_spool_stage_unlink(mta_spool *s, mta_spool_dir dir, const char *name);
size_t mta_spool_staged(const mta_spool *s);
/* Drop what was staged after `mark` (a value of mta_spool_staged): a
 * submission that could not be staged whole leaves nothing behind. */
void mta_spool_unstage(mta_spool *s, size_t mark);
int mta_spool_commit(mta_spool *s, char *err, size_t errlen);
/* mta_spool_commit in two steps, so that the acknowledgements go out
 * between them: commit_durable appends the batch and fdatasyncs the journal
 * (what it returns may be acknowledged), apply then writes the files and
 * does the unlinks.  Until apply the batch's files may be missing; staging,
 * a commit or a checkpoint applies it first (staging then fails with EIO
 * when that fails).  apply: 0 / -1 with err (sticky, as a failed commit). */
int mta_spool_commit_durable(mta_spool *s, char *err, size_t errlen);
int mta_spool_apply(mta_spool *s, char *err, size_t errlen);
/* apply on the spool's writer thread (started at the first call): returns
 * at once, the MTA goes on while the files are created and unlinked.
 * Reading, listing or removing what that batch touches, the next apply,
 * a checkpoint and close wait for it; its failure fails the next commit
 * (sticky).  0 / -1 with err. */
int mta_spool_apply_async(mta_spool *s, char *err, size_t errlen);
/* Pipelined group commit (the MTA's loop): commit_async closes the staged
 * batch and hands it to the spool's committer thread, which appends it to
 * the journal and fdatasyncs it (as commit_durable), then hands it to the
 * writer thread, which applies it (as apply_async) while the committer
 * takes the next batch; the MTA meanwhile reads its sockets and stages
 * that next batch.  Returns the items handed (0: nothing staged), or -1
 * with err.  One batch in the committer at a time: it first waits for the
 * previous one (the MTA hands the next one when writer_busy says 0, so it
 * does not wait).
 * commit_poll says what became of it: 1 once when it is durable (only then
 * may what it holds be acknowledged), 0 while it is not (or nothing is in
 * flight), -1 with err when the commit or an apply failed (sticky, as a
 * failed commit: nothing of that batch may be acknowledged).  block: wait
 * until it is durable or failed.  A synchronous commit, a checkpoint or
 * close waits for the batch in flight first (its report stays for
 * commit_poll).  Reading or listing what the batch touches waits for it
 * (a staged removal is not seen by listing: the MTA does not pick up a
 * submission again while its removal is staged or in flight).  set_notify: the
 * writer thread writes one octet to fd (non-blocking, e.g. a pipe in the
 * MTA's poll set) when a batch is durable, failed, or applied; the MTA
 * drains it.  Test hook (compiled in only with X400MTA_TEST_HOOKS defined,
 * as the test builds do; the release x400mta has none):
 * X400MTA_TEST_SYNC_DELAY_MS in the environment at open makes every
 * journal fdatasync that many ms slower. */
int mta_spool_commit_async(mta_spool *s, char *err, size_t errlen);
int mta_spool_commit_poll(mta_spool *s, int block, char *err, size_t errlen);
/* A batch handed to commit_async whose outcome commit_poll has not
 * reported yet. */
int mta_spool_commit_inflight(const mta_spool *s);
/* The committer thread has a batch (commit_async would wait for it). */
int mta_spool_writer_busy(mta_spool *s);
void mta_spool_set_notify(mta_spool *s, int fd);
/* The queue file of a transfer the peer confirmed: removed like
 * stage_unlink(QUEUE), but a batch of nothing else is appended to the
 * journal without an fdatasync (the next one, or a checkpoint, covers it):
 * lost in a crash, the file comes back, is sent again and the peer
 * suppresses it as a duplicate.  Errors as stage_unlink. */
int mta_spool_stage_transferred(mta_spool *s, const char *name);
/* Checkpoint: syncfs, save `seen`, empty the journal.  Called by the MTA
 * when the journal passes a size or age, and on shutdown.  A staged batch
 * is committed first.  `seen` must hold no identifier that is neither
 * staged nor committed.  0 / -1 with err. */
int mta_spool_checkpoint(mta_spool *s, const x400_p1_idset *seen, char *err, size_t errlen);
/* The checkpoint off the caller's thread (the MTA's loop): returns at once.
 * The journal is renamed "journal-old" and a new "journal" takes every
 * batch handed from then on (commits go on meanwhile); the spool's
 * checkpointer thread waits until every batch handed before is applied,
 * then syncfs, writes `seen` from seen_blob (x400_p1_idset_save of the
 * MTA's set taken now, with nothing staged: every identifier in it is in a
 * batch handed before; NULL: `seen` left alone), and removes
 * "journal-old".  Open replays "journal-old" (a crash left it) before
 * "journal"; replaying either on top of the `seen` written is idempotent.
 * The blob stays the caller's and must stay valid until checkpoint_poll
 * reports the outcome (or close).  0, or -1 with err: errno EBUSY when a
 * batch is staged or a checkpoint is in flight (not a failure of the
 * spool); anything else is sticky, as a failed commit.
 * checkpoint_poll: 1 once when done, 0 while running (or none), -1 with
 * err when it failed (sticky: reopen, which replays both journals); block:
 * wait for it.  The thread writes one octet to the notify descriptor when
 * it is done.  A synchronous checkpoint or close waits for it first.  Test
 * hook: X400MTA_TEST_CHECKPOINT_DELAY_MS makes the syncfs of every
 * checkpoint_async that many ms slower. */
int mta_spool_checkpoint_async(mta_spool *s, const uint8_t *seen_blob, size_t seen_len, char *err,
                               size_t errlen);
int mta_spool_checkpoint_poll(mta_spool *s, int block, char *err, size_t errlen);
int mta_spool_checkpoint_inflight(const mta_spool *s);
uint64_t mta_spool_journal_bytes(const mta_spool *s);
/* The journal fdatasyncs of the commits since open. */
uint64_t mta_spool_journal_syncs(const mta_spool *s);

/* Remove a file now (queue: after the peer's confirmation; not synced --
 * a file that reappears after a crash is sent again and recognised by the
 * receiver as a duplicate).  0 (also when already gone) / -1 (errno). */
int mta_spool_remove(mta_spool *s, mta_spool_dir dir, const char *name);

/* Read a spool file: header, and the body into *body (malloc'ed, caller
 * frees) when body != NULL.  0, or -1 with err (corrupt or missing). */
int mta_spool_read(mta_spool *s, mta_spool_dir dir, const char *name, mta_spool_hdr *h,
                   uint8_t **body, size_t *len, char *err, size_t errlen);
/* The file names of a directory (finished files only, sorted by name):
 * *names is a malloc'ed array of malloc'ed strings; free with
 * mta_spool_names_free.  Count, or -1 with err. */
long mta_spool_list(mta_spool *s, mta_spool_dir dir, char ***names, char *err, size_t errlen);
void mta_spool_names_free(char **names, long n);

/* Non-durable snapshots (temp file + rename, no fsync): status and stats. */
int mta_spool_write_snapshot(mta_spool *s, const char *which, const char *text, size_t len);
/* A durable state file (e.g. "holds"): written, fsynced, renamed, the
 * directory fsynced before it returns.  Read with mta_spool_read_snapshot.
 * 0, or -1 with err. */
int mta_spool_write_state(mta_spool *s, const char *which, const char *text, size_t len,
                          char *err, size_t errlen);
/* Read a snapshot into a malloc'ed NUL-terminated string, or NULL. */
char *mta_spool_read_snapshot(mta_spool *s, const char *which);
int mta_spool_remove_snapshot(mta_spool *s, const char *which);
/* Queue control requests of the tools: snapshots named "ctl-*.req" in the
 * spool directory (at most 64 per call, sorted); the MTA answers each with
 * "ctl-*.rep" and removes the request.  Count, or -1. */
long mta_spool_requests(mta_spool *s, char ***names);
/* RTSE receiver records (doc/mta.md, "Transfers cut by a restart"): an
 * inbound association in the middle of a transfer keeps the library's
 * latest recovery record (X400_P1_LINK_EV_PERSIST) and the APDU octets
 * received so far in one file rtse/<name>, so that after a restart
 * x400_p1_link_restore resumes the transfer where it stood.  Layout: two
 * slots of MTA_RTSE_SLOT octets (written alternately, each with a sequence
 * number and a CRC-32: a torn write leaves the other one), then the octets
 * from offset 2 x MTA_RTSE_SLOT, only ever appended within a transfer.  A
 * slot names the peer, the clocks when it was written, the record, and
 * how many octets it covers with their CRC-32.  No fdatasync (nor of the
 * directory when the file is made): a save is two pwrites.  The checkpoint
 * is confirmed after them, so a SIGKILL finds the record in the page cache;
 * a machine crash may leave an older record, a torn one (the other slot,
 * or refused) or none, and each only makes the transfer start again: the
 * library refuses a resume after a checkpoint the restored record does not
 * hold with an exception report and the sender transfers the APDU again
 * from octet 0 (doc/rtse.md); the delivery itself is confirmed only after
 * the journal's fdatasync. */
#define MTA_RTSE_SLOT 4096u
#define MTA_RTSE_DIR "rtse"
typedef struct mta_spool_rtse {   /* one association's file; zero: none yet */
    char name[MTA_SPOOL_NAME_MAX + 1];
    uint64_t seq;                  /* slots written */
    uint64_t written;              /* octets stored */
    uint32_t crc;                  /* their CRC-32 */
    uint8_t activity[8];           /* the activity the octets belong to */
    size_t activity_len;
    int exists;                    /* the file was created */
} mta_spool_rtse;
typedef struct mta_spool_rtse_loaded {
    char peer[X400_MTA_NAME_MAX + 1];
    uint8_t rec[X400_RTSE_RECORD_MAX];
    size_t rec_len;
    uint8_t *octets;               /* malloc'ed (NULL when none) */
    size_t octets_len;
    uint64_t mono_ms, wall_ms;     /* when the slot was written */
} mta_spool_rtse_loaded;
/* Store the record (rec_len > 0) and octets[0..n) for f->name (set by the
 * caller, a valid spool name): the octets past f->written are appended
 * (fewer than before, or another activity: stored afresh).  0, or -1 with
 * err (nothing then promises the record is on the disk). */
int mta_spool_rtse_save(mta_spool *s, mta_spool_rtse *f, const char *peer, const uint8_t *rec,
                        size_t rec_len, const uint8_t *octets, size_t n, uint64_t mono_ms,
                        uint64_t wall_ms, char *err, size_t errlen);
/* Remove f's file (no fsync: a file that comes back is refused or expires). */
void mta_spool_rtse_erase(mta_spool *s, mta_spool_rtse *f);
/* The record files (names, as mta_spool_list), or -1 with err. */
long mta_spool_rtse_list(mta_spool *s, char ***names, char *err, size_t errlen);
/* Read rtse/<name>: the newest slot whose CRC and octets check (out, and
 * f, when not NULL, set to go on saving in that file).  0, or -1 with err
 * (corrupt, truncated, unreadable: refuse it, remove the file). */
int mta_spool_rtse_load(mta_spool *s, const char *name, mta_spool_rtse_loaded *out, mta_spool_rtse *f,
                        char *err, size_t errlen);
/* The pid of the MTA running on this spool (holding its lock), 0 when none. */
long mta_spool_owner(const mta_spool *s);
/* "<spool>/<rel>" into buf (for the MTSID state and other files). */
const char *mta_spool_path(const mta_spool *s, const char *rel, char *buf, size_t cap);

/* ------------------------------------------------------------ admission */

/* Inbound connections per source address (guard.c): unbound counts and
 * the back-off after failed binds (mta_limits).  Times in monotonic ms. */
#define MTA_GUARD_ADDR_MAX 64
#define MTA_GUARD_MAX_SOURCES 65536
typedef struct mta_guard mta_guard;
typedef enum mta_guard_verdict {
    MTA_GUARD_OK = 0,          /* admitted: counted as unbound for its source */
    MTA_GUARD_PER_SOURCE,      /* the source has max-unbound-per-source already */
    MTA_GUARD_BACKOFF,         /* the source failed a bind: refused for a while */
    MTA_GUARD_FULL             /* too many sources remembered (or no memory) */
} mta_guard_verdict;
int mta_guard_new(mta_guard **out, const mta_limits *lim);
void mta_guard_free(mta_guard *g);
/* The source of a driver peer text ("1.2.3.4:102", "[::1]:102"). */
void mta_guard_source_of(const char *peer, char out[MTA_GUARD_ADDR_MAX]);
/* A connection from `addr`: may it be accepted?  (*wait_ms: the rest of a
 * back-off.)  MTA_GUARD_OK counts it until mta_guard_unbound_done. */
mta_guard_verdict mta_guard_admit(mta_guard *g, const char *addr, uint64_t now, uint64_t *wait_ms);
/* An admitted connection bound or went away. */
void mta_guard_unbound_done(mta_guard *g, const char *addr, uint64_t now);
/* A bind from `addr` was refused: the source is refused for the returned
 * ms (1 s, doubling per failure in a row, at most bind-backoff-max). */
uint64_t mta_guard_bind_failed(mta_guard *g, const char *addr, uint64_t now);
/* A bind from `addr` succeeded: its failures are forgotten. */
void mta_guard_bind_ok(mta_guard *g, const char *addr, uint64_t now);
/* Forget sources with nothing left (call now and then). */
void mta_guard_expire(mta_guard *g, uint64_t now);
size_t mta_guard_sources(const mta_guard *g);

/* A log line at most once per MTA_RATELOG_MS: 1 = log it now (*suppressed:
 * how many were left out since the last one), 0 = leave it out. */
#define MTA_RATELOG_MS 1000u
typedef struct mta_ratelog {
    uint64_t last, suppressed;
} mta_ratelog;
int mta_ratelog_allow(mta_ratelog *r, uint64_t now, uint64_t *suppressed);

/* Protocol garbage (undecodable TPKT/SPDU/PPDU/APDU, refused binds,
 * connections refused by the limits, anything logged at notice or above
 * for a connection that has not bound) is logged at most max_lines times
 * per source address per interval; when the interval ends, one summary
 * line says how many more were left out.  A fixed table of
 * MTA_SRCLOG_SLOTS sources: a new source takes a free entry or the one
 * whose interval began first (its summary written at once). */
#define MTA_SRCLOG_SLOTS 64
typedef struct mta_srclog_ent {
    char src[MTA_GUARD_ADDR_MAX];
    uint64_t start;              /* its interval began (monotonic ms); 0 free */
    uint32_t lines;              /* logged in this interval */
    uint64_t suppressed;         /* left out in this interval */
} mta_srclog_ent;
typedef struct mta_srclog {
    mta_srclog_ent e[MTA_SRCLOG_SLOTS];
    unsigned max_lines;
    uint64_t interval_ms;
    uint64_t suppressed, evicted; /* totals (stats) */
} mta_srclog;
/* A summary: `n` lines from `src` were left out in the interval that began at `start`. */
typedef void (*mta_srclog_emit_fn)(void *user, const char *src, uint64_t n, uint64_t start);
void mta_srclog_init(mta_srclog *r, unsigned max_lines, uint64_t interval_ms);
/* May a line about `src` be logged now?  1 yes, 0 left out (counted).
 * Summaries of intervals that ended (or of an evicted entry) go to emit. */
int mta_srclog_allow(mta_srclog *r, const char *src, uint64_t now, mta_srclog_emit_fn emit, void *user);
/* The summaries of the intervals that ended by now (call now and then). */
void mta_srclog_flush(mta_srclog *r, uint64_t now, mta_srclog_emit_fn emit, void *user);

/* ------------------------------------------------------------ timers */

/* Deadlines (timers.c): a binary min-heap of entries embedded in the
 * objects they time; each entry knows its position, so arming, moving and
 * cancelling are O(log n) and the earliest deadline is O(1).  Times in
 * monotonic ms. */
#define MTA_TIMER_NONE UINT64_MAX
typedef struct mta_timer {
    uint64_t due;
    size_t pos;                /* 1 + index in the heap; 0: not armed */
} mta_timer;
typedef struct mta_timers {
    mta_timer **h;
    size_t n, cap;
} mta_timers;                  /* zero-initialised: empty */
/* Arm `e` for `due`, or move it if armed (MTA_TIMER_NONE cancels).
 * 0, or -1 (no memory: `e` is left as it was). */
int mta_timers_set(mta_timers *t, mta_timer *e, uint64_t due);
void mta_timers_cancel(mta_timers *t, mta_timer *e);
/* The earliest deadline, or MTA_TIMER_NONE. */
uint64_t mta_timers_next(const mta_timers *t);
/* The earliest entry if it is due at `now` (it is disarmed), else NULL. */
mta_timer *mta_timers_pop_due(mta_timers *t, uint64_t now);
/* Disarm everything and free the heap (the entries stay the caller's). */
void mta_timers_free(mta_timers *t);

/* ------------------------------------------------------------ heap */

/* Live heap bytes, counted (heap.c): `a` is an x400_allocator for the
 * library's objects (links, associations, driver, MTSID set); the MTA's own
 * per-connection objects come from mta_heap_calloc.  live: bytes allocated
 * and not freed; peak: the most live at once; blocks: live blocks.  Not
 * thread-safe (the MTA is one thread). */
typedef struct mta_heap {
    x400_allocator a;
    size_t live, peak, blocks;
} mta_heap;
void mta_heap_init(mta_heap *h);
void *mta_heap_calloc(mta_heap *h, size_t nmemb, size_t size);
void mta_heap_free(mta_heap *h, void *p);

/* ------------------------------------------------------------ run */

/* Run the MTA until SIGINT/SIGTERM (manager.c).  Exit status. */
int mta_run(const mta_config *cfg);
/* Reads the configuration again (SIGHUP) into *out: 0, or -1 with err. */
typedef int (*mta_reload_fn)(void *user, mta_config *out, char *err, size_t errlen);
/* mta_run, with SIGHUP re-reading the configuration through `reload`
 * (NULL: SIGHUP only reopens the log). */
int mta_run_reloadable(const mta_config *cfg, mta_reload_fn reload, void *user);
/* Block (1) or unblock (0) SIGHUP, SIGTERM and SIGINT in the calling
 * thread (and the threads it starts after).  `run` blocks them before the
 * start; mta_run_reloadable unblocks them once its handlers are in place,
 * so what came during the start is handled then. */
void mta_block_stop_signals(int block);

#endif
