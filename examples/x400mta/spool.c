/*
 * x400mta -- the durable spool (see the "spool" section of mta.h).
 *
 * Durability model
 *   submit/   the `submit` tool writes a temp file, fsyncs it, renames it
 *             into place and fsyncs the directory before it returns.
 *   journal   the MTA's write-ahead log.  A commit serialises every staged
 *             item as one record, appends the whole batch with writev and
 *             makes it durable with ONE fdatasync (none for a batch of
 *             transferred queue files' removals only); only then are the
 *             queue/inbox files written (temp + rename, no fsync) and the
 *             submit/ files taken over unlinked -- by the MTA on the
 *             writer thread, after it confirmed the batch's transfers
 *             (mta_spool_commit_durable, mta_spool_apply_async).  The MTA's
 *             loop hands the append and the fdatasync to a committer
 *             thread (mta_spool_commit_async: pipelined, one batch in
 *             flight, reported by mta_spool_commit_poll once durable, the
 *             loop woken through notify_fd), which then hands the batch to
 *             the writer thread: batch N's files are written while batch
 *             N+1 is appended and fdatasynced.  A checkpoint makes those
 *             files durable in bulk (syncfs), saves the received-identifier
 *             set, and only then empties the journal -- off the MTA's loop
 *             (mta_spool_checkpoint_async): the journal is renamed
 *             "journal-old", a new one takes the next batches, and the
 *             checkpointer thread removes "journal-old" when it is done.
 *   large     a file of LARGE_FILE octets or more is not copied into the
 *             journal: written to "<name>.tmp" and fdatasynced (with its
 *             directory) before the batch's journal fdatasync, referenced
 *             by a REF record, renamed into place at apply and by replay.
 *   open      replays the journal: missing or damaged files are rebuilt
 *             from their records, received identifiers go back into `seen`,
 *             unlinks are redone; replay stops at the first record that is
 *             incomplete or fails its CRC (a torn tail of a crashed commit).
 *
 * Journal record (little-endian):
 *   "XMJ1"  u32 body length  u32 CRC-32 (of the length field and the body)
 *   body:   u8 type (1 FILE, 2 SEEN, 3 UNLINK, 4 end of batch, 5 REF)  u8 dir
 *           u16 name length  name  payload (FILE: the complete file, header
 *           and body; REF: u64 the file's length, u32 its CRC-32)
 *
 * Any failure of commit or checkpoint is sticky: files or identifiers of the
 * batch may be half applied (and `seen` may already hold identifiers whose
 * messages are not durable), so the spool refuses further commits and
 * checkpoints; the MTA closes and reopens it, which replays the journal.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mta.h"

#define REC_HDR 12u                       /* magic, length, CRC */
#define REC_MAGIC "XMJ1"
#define REC_FILE 1u
#define REC_SEEN 2u
#define REC_UNLINK 3u
#define REC_COMMIT 4u  /* ends a batch: replay applies whole batches only */
#define REC_REF 5u     /* a large file written apart: u64 image length, u32 its CRC-32 */
#define REF_PAYLOAD 12u
/* Files of at least this many octets after the header are written once
 * (write-once): to "<name>.tmp", fdatasynced with their directory before
 * the batch's journal fdatasync, renamed into place when the batch is
 * applied (and by replay); the journal holds a reference, not the octets. */
#define LARGE_FILE (256u << 10)
#define JOURNAL_OLD "journal-old" /* the journal a checkpoint in flight empties */
#define SNAPSHOT_MAX (16u << 20)          /* largest status/stats snapshot */
#define IOV_CHUNK 512                     /* iovecs per writev call (< IOV_MAX) */

_Static_assert(X400_MTSID_TEXT_MAX <= MTA_SPOOL_NAME_MAX, "an MTSID text is a journal name");

static const char *const dir_names[MTA_SPOOL_NDIR] = { "submit", "queue", "inbox", "quarantine" };

/* CRC-32: slicing-by-8 tables, and whether the CPU multiplies carry-less */
typedef struct crc_tables {
    uint32_t t[8][256];
    int clmul;
} crc_tables;

typedef struct item {
    uint8_t *rec;          /* the complete journal record */
    size_t reclen;
    uint8_t type, dir;
    char name[MTA_SPOOL_NAME_MAX + 1];
    size_t payload_off;    /* FILE: the file's bytes in rec */
    size_t payload_len;
    uint8_t lazy;          /* UNLINK of a transferred queue file: needs no fdatasync of its own */
    uint8_t *img;          /* REF: the file's image, written apart (rec is the reference) */
    size_t imglen;
} item;

static void item_free(item *it)
{
    free(it->rec);
    free(it->img);
    it->rec = it->img = NULL;
}

struct mta_spool {
    char dir[MTA_PATH_MAX];
    int dirfd;             /* the spool directory (syncfs) */
    int subfd[MTA_SPOOL_NDIR]; /* submit/, queue/, inbox/, quarantine/ */
    int lockfd;            /* -1: opened without the lock */
    int jfd;               /* journal, -1 without the lock */
    uint64_t jbytes;       /* journal length */
    int failed;            /* sticky: a commit or checkpoint failed */
    int journalled;        /* the batch is in the journal, its files not yet applied */
    uint64_t jsyncs;       /* journal fdatasyncs of commits */
    /* The writer thread (mta_spool_apply_async): it applies one journalled
     * batch (witems) while the MTA goes on; everything that could see that
     * batch's files waits for it first (wait_writer). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int have_writer;       /* the thread exists */
    int wbusy;             /* witems handed to it, not yet applied (under mu) */
    int wstop;             /* close: the thread ends (under mu) */
    int wfailed;           /* applying witems failed, werr says why (under mu) */
    /* Pipelined group commit (mta_spool_commit_async): the committer
     * thread appends its batch (citems) to the journal and fdatasyncs it,
     * then hands it to the writer thread, whose files of the previous
     * batch it overlapped.  Failures are the writer's (wfailed, werr). */
    int have_committer;
    pthread_t committer;
    int cbusy;             /* citems handed to it, not yet handed on (under mu) */
    int cstop;             /* close: the committer ends (under mu) */
    int cdurable;          /* citems are durable (under mu) */
    int csync;             /* the batch needs its fdatasync */
    uint64_t cbytes;       /* its journal octets */
    uint64_t cjbase;       /* the journal's length before them */
    item *citems;
    size_t ncitems, capcitems;
    int cjfd;              /* the journal its batch goes to (the one current at hand-over) */
    int cdirsync;          /* that journal is new: fsync the directory before it is durable */
    uint64_t cgen;         /* its generation (jbytes counts the current one's only) */
    int inflight;          /* a commit job whose outcome was not collected yet */
    int unreported;        /* a collected durable batch not yet reported by commit_poll */
    int notify_fd;         /* written to when a job is durable, failed or done; -1 none */
    unsigned sync_delay_ms; /* test hook: X400MTA_TEST_SYNC_DELAY_MS */
    unsigned ckpt_delay_ms; /* test hook: X400MTA_TEST_CHECKPOINT_DELAY_MS */
    int tfailed;           /* a thread failed since open (under mu; never reset) */
    char werr[MTA_PATH_MAX + 128];
    /* Checkpoint off the loop (mta_spool_checkpoint_async): the journal
     * is renamed "journal-old" and a fresh "journal" takes the batches
     * handed from then on; the checkpointer thread waits until every batch
     * handed before is applied (seq_out reaches ckmark), then syncfs, the
     * `seen` blob written, "journal-old" removed. */
    uint64_t jgen;         /* the current journal's generation */
    int need_dirsync;      /* the current journal is new: its first fdatasync'ed batch fsyncs the directory */
    int oldjfd;            /* "journal-old" (the checkpoint's), closed when it is collected; -1 */
    uint64_t seq_in;       /* batches handed to the threads (loop; read under mu) */
    uint64_t seq_out;      /* of them applied or dropped (under mu) */
    int have_ckpt;
    pthread_t ckpt;
    int ckbusy;            /* a checkpoint job (under mu) */
    int ckstop;            /* close: the checkpointer ends (under mu) */
    int ckgone;            /* close: the committer and writer are gone (under mu) */
    int ckrc;              /* its outcome once !ckbusy: 0 done, -1 failed (ckerr) */
    uint64_t ckmark;       /* seq_in at the rotation */
    const uint8_t *ckblob; /* the `seen` blob (the caller's until reported), NULL: none */
    size_t cklen;
    int ckinflight;        /* a job whose outcome checkpoint_poll has not reported */
    char ckerr[MTA_PATH_MAX + 128];
    item *witems;          /* the batch being applied (the thread's while wbusy) */
    size_t nwitems, capwitems;
    pthread_t writer;
    uint32_t counter;      /* submission names */
    uint64_t rnd;          /* submission names: xorshift state */
    item *items;           /* the pending batch */
    size_t nitems, capitems;
    size_t batch_bytes;
    crc_tables crc;
};

/* ------------------------------------------------------------ helpers */

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "what: <spool>/<sub>/<name>: strerror(e)" */
static int ioerr(const mta_spool *s, char *err, size_t errlen, const char *what, int dir,
                 const char *name, int e)
{
    if (dir >= 0)
        seterr(err, errlen, "%s: %s/%s/%s: %s", what, s->dir, dir_names[dir], name, strerror(e));
    else
        seterr(err, errlen, "%s: %s/%s: %s", what, s->dir, name, strerror(e));
    return -1;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CRC_CLMUL 1
/* CRC-32 by carry-less multiplication (PCLMULQDQ): four 128-bit lanes
 * folded 64 octets at a time, then into one lane, then Barrett-reduced
 * (Intel, "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
 * Instruction", 2009; the constants are the reflected x^k mod P of its
 * CRC-32 example).  `state` is the running (inverted) CRC; n >= 64 and a
 * multiple of 16.  About three times the tables' speed: every received
 * octet of a 1 MiB APDU is CRC'ed (the journal, the RTSE record). */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc32_clmul(uint32_t state, const uint8_t *p, size_t n)
{
    const __m128i k64 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);  /* fold by 4x128 */
    const __m128i k16 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);  /* fold by 128 */
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124LL);                 /* 64 -> 32 */
    const __m128i pmu = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);   /* P', mu */
    const __m128i lo32 = _mm_setr_epi32(-1, 0, -1, 0);
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
    a = _mm_xor_si128(a, _mm_cvtsi32_si128((int)state));
    p += 64;
    n -= 64;
#define FOLD(x, k, next) _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128((x), (k), 0x00), \
                                                     _mm_clmulepi64_si128((x), (k), 0x11)), (next))
    for (; n >= 64; p += 64, n -= 64) {
        a = FOLD(a, k64, _mm_loadu_si128((const __m128i *)(const void *)p));
        b = FOLD(b, k64, _mm_loadu_si128((const __m128i *)(const void *)(p + 16)));
        c = FOLD(c, k64, _mm_loadu_si128((const __m128i *)(const void *)(p + 32)));
        d = FOLD(d, k64, _mm_loadu_si128((const __m128i *)(const void *)(p + 48)));
    }
    a = FOLD(a, k16, b);
    a = FOLD(a, k16, c);
    a = FOLD(a, k16, d);
    for (; n >= 16; p += 16, n -= 16) a = FOLD(a, k16, _mm_loadu_si128((const __m128i *)(const void *)p));
#undef FOLD
    /* 128 -> 64 bits, 64 -> 32 bits, then Barrett */
    a = _mm_xor_si128(_mm_srli_si128(a, 8), _mm_clmulepi64_si128(a, k16, 0x10));
    a = _mm_xor_si128(_mm_srli_si128(a, 4), _mm_clmulepi64_si128(_mm_and_si128(a, lo32), k5, 0x00));
    __m128i t = _mm_clmulepi64_si128(_mm_and_si128(a, lo32), pmu, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, lo32), pmu, 0x00);
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(a, t), 1);
}
#endif

static void crc_init(crc_tables *ct)
{
    uint32_t (*tab)[256] = ct->t;
#ifdef CRC_CLMUL
    __builtin_cpu_init();
    ct->clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        tab[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (uint32_t i = 0; i < 256; i++) tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xFF];
}

/* CRC-32 (IEEE 802.3, reflected), continued from `crc` (0 to start);
 * slicing-by-8: eight octets per step (a 1 MiB APDU is journalled whole). */
static uint32_t crc32_update(const crc_tables *ct, uint32_t crc, const uint8_t *p, size_t n)
{
    const uint32_t (*tab)[256] = ct->t;
    crc = ~crc;
#ifdef CRC_CLMUL
    if (n >= 64 && ct->clmul) {
        size_t m = n & ~(size_t)15;
        crc = crc32_clmul(crc, p, m);
        p += m;
        n -= m;
    }
#endif
    while (n >= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = tab[7][a & 0xFF] ^ tab[6][(a >> 8) & 0xFF] ^ tab[5][(a >> 16) & 0xFF] ^ tab[4][a >> 24] ^
              tab[3][b & 0xFF] ^ tab[2][(b >> 8) & 0xFF] ^ tab[1][(b >> 16) & 0xFF] ^ tab[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = tab[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}


static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A file name the spool accepts: 1..MTA_SPOOL_NAME_MAX of [A-Za-z0-9._+=@-],
 * not starting with '.', not ending in ".tmp" (temp files), not "tmp". */
static int name_ok(const char *name)
{
    if (!name) return 0;
    size_t n = strnlen(name, MTA_SPOOL_NAME_MAX + 1);
    if (n == 0 || n > MTA_SPOOL_NAME_MAX || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '@'))
            return 0;
    }
    if (n >= 4 && !strcmp(name + n - 4, ".tmp")) return 0;
    return strcmp(name, "tmp") != 0;
}

static int dir_ok(int dir) { return dir >= 0 && dir < MTA_SPOOL_NDIR; }

/* write() all of it (EINTR, short writes). 0 or -1 (errno). */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { errno = EIO; return -1; }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* read() up to n octets (EINTR); the count read (short only at EOF) or -1. */
static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t o = 0;
    while (o < n) {
        ssize_t r = read(fd, p + o, n - o);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        o += (size_t)r;
    }
    return (ssize_t)o;
}

static ssize_t pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t o = 0;
    while (o < n) {
        ssize_t r = pread(fd, p + o, n - o, (off_t)(off + o));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        o += (size_t)r;
    }
    return (ssize_t)o;
}

static int close_checked(int fd)
{
    /* POSIX leaves the descriptor state after EINTR unspecified; on Linux it
     * is closed, so never retry. */
    if (close(fd) != 0 && errno != EINTR) return -1;
    return 0;
}

static int fsync_retry(int fd, int data_only)
{
    int r;
    do r = data_only ? fdatasync(fd) : fsync(fd);
    while (r != 0 && errno == EINTR);
    return r;
}

/* Write a file atomically in directory dfd: "<name>.tmp", then rename.
 * sync: fsync the file before the rename (the caller syncs the directory).
 * excl: fail with EEXIST when the temp file exists.  0 or -1 (errno; the
 * failing step in *what). */
static int write_atomic(int dfd, const char *name, const uint8_t *p, size_t n, int sync, int excl,
                        const char **what)
{
    char tmp[MTA_SPOOL_NAME_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0600);
    if (fd < 0) { *what = "create"; return -1; }
    int e;
    if (write_all(fd, p, n) != 0) { *what = "write"; goto fail; }
    if (sync && fsync_retry(fd, 0) != 0) { *what = "fsync"; goto fail; }
    if (close_checked(fd) != 0) { *what = "close"; fd = -1; goto fail; }
    fd = -1;
    if (renameat(dfd, tmp, dfd, name) != 0) { *what = "rename"; goto fail; }
    return 0;
fail:
    e = errno;
    if (fd >= 0) close(fd);
    unlinkat(dfd, tmp, 0);
    errno = e;
    return -1;
}

/* ------------------------------------------------------------ header */

/* "undecodable": a quarantine/ file (received octets that did not decode) */
static const char *const kinds[] = { "message", "report", "probe", "undecodable" };
#define NKINDS (sizeof kinds / sizeof kinds[0])
static const char *const priorities[] = { "normal", "urgent", "non-urgent" };

static int in_set(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v, set[i])) return 1;
    return 0;
}

/* A header string: NUL-terminated inside its array, no line breaks. */
static int field_ok(const char *v, size_t cap)
{
    size_t n = strnlen(v, cap);
    if (n == cap) return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] == '\n' || v[i] == '\r') return 0;
    return 1;
}

#define FIELD_OK(f) field_ok((f), sizeof(f))

static int hdr_valid(const mta_spool_hdr *h)
{
    if (!FIELD_OK(h->kind) || !in_set(h->kind, kinds, NKINDS)) return 0;
    if (!FIELD_OK(h->priority) || (h->priority[0] && !in_set(h->priority, priorities, 3))) return 0;
    if (!FIELD_OK(h->mtsid) || !FIELD_OK(h->content_id) || !FIELD_OK(h->originator) ||
        !FIELD_OK(h->peer) || !FIELD_OK(h->subject) || !FIELD_OK(h->subject_content_id) ||
        !FIELD_OK(h->outcome))
        return 0;
    if (h->nrecipient > MTA_SPOOL_RECIP_MAX) return 0;
    for (size_t i = 0; i < h->nrecipient; i++)
        if (!FIELD_OK(h->recipient[i]) || !h->recipient[i][0]) return 0;
    return 1;
}

typedef struct obuf { char *p; size_t cap, len; } obuf;

static void oput(obuf *o, const char *key, const char *v)
{
    int n = snprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, "%s: %s\n", key, v);
    o->len += (size_t)n;
}

/* The text header for h with `size` body octets, into buf[cap] (NULL/0:
 * measure).  Length (snprintf semantics; the header is never longer than
 * MTA_SPOOL_HDR_MAX for a valid h). */
static size_t hdr_format(const mta_spool_hdr *h, uint64_t size, char *buf, size_t cap)
{
    obuf o = { buf, cap, 0 };
    char num[24];
    o.len = (size_t)snprintf(buf, cap, "X400MTA-SPOOL 1\n");
    oput(&o, "kind", h->kind);
    if (h->mtsid[0]) oput(&o, "mtsid", h->mtsid);
    if (h->content_id[0]) oput(&o, "content-id", h->content_id);
    if (h->originator[0]) oput(&o, "originator", h->originator);
    for (size_t i = 0; i < h->nrecipient; i++) oput(&o, "recipient", h->recipient[i]);
    if (h->priority[0]) oput(&o, "priority", h->priority);
    oput(&o, "report-request", h->report_request ? "yes" : "no");
    if (h->peer[0]) oput(&o, "peer", h->peer);
    if (h->subject[0]) oput(&o, "subject", h->subject);
    if (h->subject_content_id[0]) oput(&o, "subject-content-id", h->subject_content_id);
    if (h->outcome[0]) oput(&o, "outcome", h->outcome);
    snprintf(num, sizeof num, "%" PRIu64, h->time_ms);
    oput(&o, "time", num);
    snprintf(num, sizeof num, "%" PRIu64, size);
    oput(&o, "size", num);
    int n = snprintf(buf ? buf + o.len : NULL, buf ? cap - o.len : 0, "\n");
    return o.len + (size_t)n;
}

/* Header + body as one malloc'ed buffer at offset `pre` (room for a journal
 * record header in front).  NULL with errno (EINVAL: bad header; EFBIG). */
static uint8_t *file_image(const mta_spool_hdr *h, const uint8_t *body, size_t len, size_t pre,
                           size_t *imglen)
{
    if (!h || (len && !body) || !hdr_valid(h)) { errno = EINVAL; return NULL; }
    if (len > MTA_SPOOL_FILE_MAX) { errno = EFBIG; return NULL; }
    size_t hl = hdr_format(h, len, NULL, 0);
    uint8_t *p = malloc(pre + hl + 1 + len);
    if (!p) { errno = ENOMEM; return NULL; }
    hdr_format(h, len, (char *)p + pre, hl + 1);
    if (len) memcpy(p + pre + hl, body, len);
    *imglen = hl + len;
    return p;
}

static int parse_u64(const char *v, uint64_t *out)
{
    uint64_t x = 0;
    if (!*v || (v[0] == '0' && v[1])) return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9') return -1;
        unsigned d = (unsigned)(*v - '0');
        if (x > (UINT64_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

/* Copy a value into a header field; -1 when it does not fit. */
static int setf(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap) return -1;
    memcpy(dst, v, n + 1);
    return 0;
}
#define SETF(f, v) setf((f), sizeof(f), (v))

/* Parse the header in p[0..n) (n includes the empty line).  0, or -1 with
 * the reason in *why. */
static int hdr_parse(const char *p, size_t n, mta_spool_hdr *h, const char **why)
{
    static const char magic[] = "X400MTA-SPOOL 1\n";
    enum { K_KIND, K_MTSID, K_CID, K_ORIG, K_PRIO, K_RR, K_PEER, K_SUBJ, K_SCID, K_OUT, K_TIME, K_SIZE, K_N };
    static const char *const keys[K_N] = { "kind", "mtsid", "content-id", "originator", "priority",
                                           "report-request", "peer", "subject", "subject-content-id",
                                           "outcome", "time", "size" };
    int have[K_N] = { 0 };
    char line[MTA_ADDR_MAX + 64];
    memset(h, 0, sizeof *h);
    if (n < sizeof magic - 1 || memcmp(p, magic, sizeof magic - 1)) { *why = "not a spool file (bad first line)"; return -1; }
    size_t o = sizeof magic - 1;
    for (;;) {
        const char *nl = memchr(p + o, '\n', n - o);
        if (!nl) { *why = "header not terminated"; return -1; }
        size_t ll = (size_t)(nl - (p + o));
        if (ll == 0) { o++; break; }
        if (ll >= sizeof line) { *why = "header line too long"; return -1; }
        memcpy(line, p + o, ll);
        line[ll] = 0;
        o += ll + 1;
        if (strlen(line) != ll || strchr(line, '\r')) { *why = "control character in header"; return -1; }
        char *colon = strstr(line, ": ");
        if (!colon || colon == line) { *why = "header line without \"key: value\""; return -1; }
        *colon = 0;
        const char *key = line, *v = colon + 2;
        if (!strcmp(key, "recipient")) {
            if (h->nrecipient == MTA_SPOOL_RECIP_MAX) { *why = "too many recipients"; return -1; }
            if (!*v || SETF(h->recipient[h->nrecipient], v)) { *why = "bad recipient"; return -1; }
            h->nrecipient++;
            continue;
        }
        int k;
        for (k = 0; k < K_N && strcmp(key, keys[k]); k++) {}
        if (k == K_N) continue; /* unknown key: a later version's, ignored */
        if (have[k]) { *why = "duplicate header key"; return -1; }
        have[k] = 1;
        int bad = 0;
        switch (k) {
        case K_KIND: bad = SETF(h->kind, v) || !in_set(v, kinds, NKINDS); break;
        case K_MTSID: bad = SETF(h->mtsid, v); break;
        case K_CID: bad = SETF(h->content_id, v); break;
        case K_ORIG: bad = SETF(h->originator, v); break;
        case K_PRIO: bad = SETF(h->priority, v) || !in_set(v, priorities, 3); break;
        case K_RR:
            if (!strcmp(v, "yes")) h->report_request = 1;
            else if (!strcmp(v, "no")) h->report_request = 0;
            else bad = 1;
            break;
        case K_PEER: bad = SETF(h->peer, v); break;
        case K_SUBJ: bad = SETF(h->subject, v); break;
        case K_SCID: bad = SETF(h->subject_content_id, v); break;
        case K_OUT: bad = SETF(h->outcome, v); break;
        case K_TIME: bad = parse_u64(v, &h->time_ms); break;
        default: bad = parse_u64(v, &h->size) || h->size > MTA_SPOOL_FILE_MAX; break;
        }
        if (bad) { *why = "bad header value"; return -1; }
    }
    if (!have[K_KIND]) { *why = "no kind"; return -1; }
    if (!have[K_SIZE]) { *why = "no size"; return -1; }
    if (o != n) { *why = "header length mismatch"; return -1; }
    return 0;
}

/* Parse a complete file image: header, then exactly h->size octets.
 * The body offset in *hl.  0 or -1 with *why. */
static int image_parse(const uint8_t *p, size_t n, mta_spool_hdr *h, size_t *hl, const char **why)
{
    size_t lim = n < MTA_SPOOL_HDR_MAX ? n : MTA_SPOOL_HDR_MAX;
    size_t end = 0;
    for (size_t i = 1; i < lim; i++)
        if (p[i] == '\n' && p[i - 1] == '\n') { end = i + 1; break; }
    if (!end) {
        *why = n < MTA_SPOOL_HDR_MAX ? "truncated header" : "header too long";
        /* a bad first line is the more useful reason */
        if (n < 16 || memcmp(p, "X400MTA-SPOOL 1\n", 16)) *why = "not a spool file (bad first line)";
        return -1;
    }
    if (hdr_parse((const char *)p, end, h, why) != 0) return -1;
    if (n - end < h->size) { *why = "truncated body"; return -1; }
    if (n - end > h->size) { *why = "trailing octets after the body"; return -1; }
    *hl = end;
    return 0;
}

/* ------------------------------------------------------------ batch */

static void batch_clear(mta_spool *s)
{
    for (size_t i = 0; i < s->nitems; i++) item_free(&s->items[i]);
    s->nitems = 0;
    s->batch_bytes = 0;
}

/* Append a record to the batch (takes rec, whose first REC_HDR octets and
 * body are filled in here).  0 or -1 (errno). */
static int batch_add(mta_spool *s, uint8_t type, int dir, const char *name, uint8_t *rec,
                     size_t payload_len)
{
    size_t nl = strlen(name);
    size_t body = 4 + nl + payload_len;
    size_t reclen = REC_HDR + body;
    /* a durable batch not yet applied goes first (a callback of the
     * confirmations sent between commit_durable and apply may stage) */
    if (s->journalled && mta_spool_apply(s, NULL, 0) != 0) {
        free(rec);
        errno = EIO;
        return -1;
    }
    /* the end marker always fits (room is kept for it) */
    if ((type != REC_COMMIT && s->nitems == MTA_SPOOL_BATCH_ITEMS) ||
        (type != REC_COMMIT && s->batch_bytes + reclen + REC_HDR + 4 > MTA_SPOOL_BATCH_MAX)) {
        free(rec);
        errno = E2BIG;
        return -1;
    }
    if (s->nitems == s->capitems) {
        size_t nc = s->capitems ? s->capitems * 2 : 64;
        item *ni = realloc(s->items, nc * sizeof *ni);
        if (!ni) { free(rec); errno = ENOMEM; return -1; }
        s->items = ni;
        s->capitems = nc;
    }
    memcpy(rec, REC_MAGIC, 4);
    put32(rec + 4, (uint32_t)body);
    rec[12] = type;
    rec[13] = (uint8_t)dir;
    rec[14] = (uint8_t)nl;
    rec[15] = (uint8_t)(nl >> 8);
    memcpy(rec + 16, name, nl);
    uint32_t crc = crc32_update(&s->crc, 0, rec + 4, 4);
    put32(rec + 8, crc32_update(&s->crc, crc, rec + REC_HDR, body));
    item *it = &s->items[s->nitems++];
    it->rec = rec;
    it->reclen = reclen;
    it->type = type;
    it->dir = (uint8_t)dir;
    memcpy(it->name, name, nl + 1);
    it->payload_off = REC_HDR + 4 + nl;
    it->payload_len = payload_len;
    it->lazy = 0;
    it->img = NULL;
    it->imglen = 0;
    s->batch_bytes += reclen;
    return 0;
}

int mta_spool_stage_file(mta_spool *s, mta_spool_dir dir, const char *name,
                         const mta_spool_hdr *h, const uint8_t *body, size_t len)
{
    if (!s || !dir_ok((int)dir) || !name_ok(name)) { errno = EINVAL; return -1; }
    if (s->jfd < 0) { errno = EPERM; return -1; }
    size_t nl = strlen(name);
    if (len > MTA_SPOOL_FILE_MAX) { errno = EFBIG; return -1; }
    size_t img;
    if (len >= LARGE_FILE) { /* written once, apart; a reference in the journal */
        uint8_t *im = file_image(h, body, len, 0, &img);
        uint8_t *rec = im ? malloc(REC_HDR + 4 + nl + REF_PAYLOAD) : NULL;
        if (!rec) {
            free(im);
            if (im) errno = ENOMEM;
            return -1;
        }
        uint8_t *pl = rec + REC_HDR + 4 + nl;
        put32(pl, (uint32_t)img);
        put32(pl + 4, (uint32_t)((uint64_t)img >> 32));
        put32(pl + 8, crc32_update(&s->crc, 0, im, img));
        if (batch_add(s, REC_REF, (int)dir, name, rec, REF_PAYLOAD) != 0) {
            free(im);
            return -1;
        }
        s->items[s->nitems - 1].img = im;
        s->items[s->nitems - 1].imglen = img;
        return 0;
    }
    uint8_t *rec = file_image(h, body, len, REC_HDR + 4 + nl, &img);
    if (!rec) return -1;
    return batch_add(s, REC_FILE, (int)dir, name, rec, img);
}

int mta_spool_stage_seen(mta_spool *s, const char *mtsid_text)
{
    x400_mtsid id;
    if (!s || !mtsid_text) { errno = EINVAL; return -1; }
    size_t n = strnlen(mtsid_text, X400_MTSID_TEXT_MAX);
    if (n == X400_MTSID_TEXT_MAX || x400_mtsid_parse(mtsid_text, n, &id, NULL) != X400_OK) {
        errno = EINVAL;
        return -1;
    }
    if (s->jfd < 0) { errno = EPERM; return -1; }
    uint8_t *rec = malloc(REC_HDR + 4 + n);
    if (!rec) { errno = ENOMEM; return -1; }
    return batch_add(s, REC_SEEN, 0, mtsid_text, rec, 0);
}

int mta_spool_stage_unlink(mta_spool *s, mta_spool_dir dir, const char *name)
{
    if (!s || !dir_ok((int)dir) || !name_ok(name)) { errno = EINVAL; return -1; }
    if (s->jfd < 0) { errno = EPERM; return -1; }
    uint8_t *rec = malloc(REC_HDR + 4 + strlen(name));
    if (!rec) { errno = ENOMEM; return -1; }
    return batch_add(s, REC_UNLINK, (int)dir, name, rec, 0);
}

int mta_spool_stage_transferred(mta_spool *s, const char *name)
{
    if (mta_spool_stage_unlink(s, MTA_SPOOL_QUEUE, name) != 0) return -1;
    s->items[s->nitems - 1].lazy = 1;
    return 0;
}

size_t mta_spool_staged(const mta_spool *s) { return s && !s->journalled ? s->nitems : 0; }

void mta_spool_unstage(mta_spool *s, size_t mark)
{
    if (!s || s->journalled) return;
    while (s->nitems > mark) {
        item *it = &s->items[--s->nitems];
        s->batch_bytes -= it->reclen;
        item_free(it);
    }
}

uint64_t mta_spool_journal_bytes(const mta_spool *s) { return s ? s->jbytes : 0; }
uint64_t mta_spool_journal_syncs(const mta_spool *s) { return s ? s->jsyncs : 0; }

/* Append the batch to the journal: writev in chunks, short writes resumed.
 * 0 or -1 (errno). */
static int journal_append(int jfd, const item *items, size_t n)
{
    struct iovec iov[IOV_CHUNK];
    size_t next = 0;   /* next item not yet in iov */
    while (next < n) {
        int cnt = 0;
        while (cnt < IOV_CHUNK && next < n) {
            iov[cnt].iov_base = items[next].rec;
            iov[cnt].iov_len = items[next].reclen;
            cnt++;
            next++;
        }
        struct iovec *v = iov;
        while (cnt > 0) {
            ssize_t w = writev(jfd, v, cnt);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return -1;
            if (w == 0) { errno = EIO; return -1; }
            size_t left = (size_t)w;
            while (cnt > 0 && left >= v->iov_len) { left -= v->iov_len; v++; cnt--; }
            if (cnt > 0) { v->iov_base = (uint8_t *)v->iov_base + left; v->iov_len -= left; }
        }
    }
    return 0;
}

static int wait_writer(mta_spool *s, int block, char *err, size_t errlen);
static void writer_notify(const mta_spool *s);
static void hand_over(mta_spool *s);

/* Does the batch hold anything that must be on disk before it is
 * acknowledged?  Everything but the removals of transferred queue files. */
static int batch_needs_sync(const item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!items[i].lazy) return 1;
    return 0;
}

/* The batch into the journal: one append, one fdatasync when `sync` (it
 * also covers any batch appended without one before it).  A batch of
 * removals of transferred queue files only is appended without an
 * fdatasync: lost in a crash, the files come back and are sent again, and
 * the peer recognises them as duplicates; the next fdatasync or checkpoint
 * makes it durable.  `jbytes` is the journal's length before it.  0, or -1
 * with err (the spool is then failed). */
/* Test hooks (built with X400MTA_TEST_HOOKS only): a slow disk, `ms`
 * more per journal fdatasync or checkpoint syncfs. */
/* The batch's large files (REF items), before its journal records: each
 * written to "<name>.tmp" (its writeback started at once, so that they go
 * to the disk together), then fdatasynced, then their directories fsynced:
 * durable under the temporary name before the reference is.  Renamed into
 * place when the batch is applied (apply_items) or replayed; a crash before
 * the journal's fdatasync leaves an orphan that open removes.  0, or -1
 * with err. */
static int write_large(const mta_spool *s, const item *items, size_t n, char *err, size_t errlen)
{
    int dirs[MTA_SPOOL_NDIR] = { 0 }, rc = 0;
    size_t nl = 0, done = 0;
    for (size_t i = 0; i < n; i++) nl += items[i].type == REC_REF;
    if (!nl) return 0;
    int *fds = malloc(nl * sizeof *fds);
    if (!fds) return ioerr(s, err, errlen, "write", -1, "(large files)", ENOMEM);
    for (size_t i = 0; i < n && !rc; i++) {
        const item *it = &items[i];
        char tmp[MTA_SPOOL_NAME_MAX + 8];
        if (it->type != REC_REF) continue;
        snprintf(tmp, sizeof tmp, "%s.tmp", it->name);
        int fd = openat(s->subfd[it->dir], tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) { rc = ioerr(s, err, errlen, "create", it->dir, tmp, errno); break; }
        fds[done++] = fd;
        dirs[it->dir] = 1;
        if (write_all(fd, it->img, it->imglen) != 0) { rc = ioerr(s, err, errlen, "write", it->dir, tmp, errno); break; }
#ifdef __linux__
        (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    }
    for (size_t i = 0; i < done; i++) {
        if (!rc && fsync_retry(fds[i], 1) != 0) rc = ioerr(s, err, errlen, "fdatasync", -1, "(large file)", errno);
        if (close_checked(fds[i]) != 0 && !rc) rc = ioerr(s, err, errlen, "close", -1, "(large file)", errno);
    }
    free(fds);
    for (int d = 0; d < MTA_SPOOL_NDIR && !rc; d++)
        if (dirs[d] && fsync_retry(s->subfd[d], 0) != 0) rc = ioerr(s, err, errlen, "directory fsync", -1, dir_names[d], errno);
    return rc;
}

static void test_delay(unsigned ms)
{
#ifdef X400MTA_TEST_HOOKS
    if (ms) {
        struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
#else
    (void)ms;
#endif
}

/* ... into the journal jfd; dirsync: that journal is new since the last
 * checkpoint's rotation, so the directory is fsynced too before the batch
 * counts as durable (its name must survive a crash with it). */
static int journal_write(const mta_spool *s, int jfd, const item *items, size_t n, int sync, int dirsync,
                         uint64_t jbytes, char *err, size_t errlen)
{
    if (write_large(s, items, n, err, errlen) != 0) return -1;
    if (journal_append(jfd, items, n) != 0) {
        int e = errno;
        /* drop a partial append so later records are not hidden behind it;
         * the spool stays failed either way */
        if (ftruncate(jfd, (off_t)jbytes) != 0) {}
        return ioerr(s, err, errlen, "journal write", -1, "journal", e);
    }
    if (sync) test_delay(s->sync_delay_ms);
    if (sync && fsync_retry(jfd, 1) != 0)
        return ioerr(s, err, errlen, "journal fdatasync", -1, "journal", errno);
    if (sync && dirsync && fsync_retry(s->dirfd, 0) != 0)
        return ioerr(s, err, errlen, "directory fsync", -1, ".", errno);
    return 0;
}

/* The end marker that closes the pending batch: a batch torn by a crash
 * is replayed not at all, never in part (a received MTSID without its
 * message would turn the sender's retransmission into a "duplicate" -- a
 * loss).  0 or -1 with err. */
static int batch_close(mta_spool *s, char *err, size_t errlen)
{
    uint8_t *rec = malloc(REC_HDR + 4);
    if (!rec || batch_add(s, REC_COMMIT, 0, "", rec, 0) != 0) {
        seterr(err, errlen, "commit: %s: out of memory", s->dir);
        return -1;
    }
    return 0;
}

/* With mu held: take the outcome of a finished commit job -- durable (the
 * journal's length and fdatasyncs move on; commit_poll reports it once) or
 * failed (the spool is failed). */
static void collect_locked(mta_spool *s)
{
    if (!s->inflight) return;
    if (s->cdurable) {
        if (s->cgen == s->jgen) s->jbytes += s->cbytes;
        s->jsyncs += (uint64_t)s->csync;
        s->inflight = 0;
        s->unreported = 1;
    } else if (!s->cbusy) {
        s->inflight = 0;
        s->failed = 1;
    }
}

/* Wait until the commit job in flight (if any) is durable or failed, and
 * collect it.  Its report stays for commit_poll. */
static void drain_inflight(mta_spool *s)
{
    if (!s->inflight) return;
    pthread_mutex_lock(&s->mu);
    while (s->cbusy && !s->cdurable) pthread_cond_wait(&s->cv, &s->mu);
    collect_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* What both commits do first: the spool is the MTA's and not failed, the
 * previous synchronous batch applied, the batch in flight collected (the
 * journal is appended by one thread at a time) and, with idle_committer,
 * the committer thread idle.  0, or -1 with err. */
static int commit_begin(mta_spool *s, int idle_committer, char *err, size_t errlen)
{
    if (!s) { seterr(err, errlen, "commit: no spool"); return -1; }
    if (s->jfd < 0) {
        seterr(err, errlen, "commit: %s: opened without the lock (the journal is the MTA's)", s->dir);
        return -1;
    }
    if (s->journalled && mta_spool_apply(s, err, errlen) != 0) return -1;
    drain_inflight(s);
    if (idle_committer && s->have_committer) {
        pthread_mutex_lock(&s->mu);
        while (s->cbusy) pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    if (wait_writer(s, 0, err, errlen) != 0) return -1;
    if (s->failed) {
        seterr(err, errlen, "commit: %s: an earlier commit or checkpoint failed; reopen the spool", s->dir);
        return -1;
    }
    return 0;
}

int mta_spool_commit_durable(mta_spool *s, char *err, size_t errlen)
{
    if (commit_begin(s, 0, err, errlen) != 0) return -1;
    if (s->nitems == 0) return 0;
    int sync = batch_needs_sync(s->items, s->nitems);
    if (batch_close(s, err, errlen) != 0) return -1;
    s->failed = 1; /* until the end of this function */
    if (journal_write(s, s->jfd, s->items, s->nitems, sync, sync && s->need_dirsync, s->jbytes, err, errlen) != 0)
        return -1;
    if (sync) s->need_dirsync = 0;
    s->jsyncs += (uint64_t)sync;
    s->jbytes += s->batch_bytes;
    s->journalled = 1;
    s->failed = 0;
    return (int)s->nitems - 1; /* not counting the end marker */
}

/* A journalled batch's files, then its unlinks.  0 or -1 with err. */
static int apply_items(const mta_spool *s, const item *items, size_t n, char *err, size_t errlen)
{
    /* 1. the files (the journal covers them until the next checkpoint) */
    for (size_t i = 0; i < n; i++) {
        const item *it = &items[i];
        if (it->type == REC_REF) { /* written and synced before the journal: into place */
            char tmp[MTA_SPOOL_NAME_MAX + 8];
            snprintf(tmp, sizeof tmp, "%s.tmp", it->name);
            if (renameat(s->subfd[it->dir], tmp, s->subfd[it->dir], it->name) != 0)
                return ioerr(s, err, errlen, "rename", it->dir, tmp, errno);
            continue;
        }
        if (it->type != REC_FILE) continue;
        const char *what = "";
        if (write_atomic(s->subfd[it->dir], it->name, it->rec + it->payload_off, it->payload_len, 0, 0, &what) != 0)
            return ioerr(s, err, errlen, what, it->dir, it->name, errno);
    }
    /* 2. the unlinks */
    for (size_t i = 0; i < n; i++) {
        const item *it = &items[i];
        if (it->type == REC_UNLINK && unlinkat(s->subfd[it->dir], it->name, 0) != 0 && errno != ENOENT)
            return ioerr(s, err, errlen, "unlink", it->dir, it->name, errno);
    }
    return 0;
}

int mta_spool_apply(mta_spool *s, char *err, size_t errlen)
{
    if (!s) { seterr(err, errlen, "apply: no spool"); return -1; }
    if (!s->journalled) return 0;
    if (wait_writer(s, 1, err, errlen) != 0) {
        s->journalled = 0;
        batch_clear(s);
        return -1;
    }
    if (s->failed) {
        seterr(err, errlen, "apply: %s: an earlier commit or checkpoint failed; reopen the spool", s->dir);
        return -1;
    }
    /* A failure leaves the spool failed (sticky) with the batch dropped:
     * the journal holds it, and the reopen's replay applies it. */
    s->failed = 1;
    s->journalled = 0;
    int rc = apply_items(s, s->items, s->nitems, err, errlen);
    batch_clear(s);
    if (rc == 0) s->failed = 0;
    return rc;
}

/* ------------------------------------------------------------ writer thread */

/* One octet to the MTA's wake-up descriptor (a full pipe is readable
 * already: nothing lost). */
static void writer_notify(const mta_spool *s)
{
    static const uint8_t one = 1;
    if (s->notify_fd < 0) return;
    while (write(s->notify_fd, &one, 1) < 0 && errno == EINTR) {}
}

static void *writer_main(void *arg)
{
    mta_spool *s = arg;
    char e[sizeof s->werr];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->wbusy && !s->wstop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->wbusy) break; /* stopped with nothing left (a job is finished first) */
        pthread_mutex_unlock(&s->mu);
        e[0] = 0;
        int rc = apply_items(s, s->witems, s->nwitems, e, sizeof e);
        pthread_mutex_lock(&s->mu);
        if (rc != 0) {
            s->wfailed = s->tfailed = 1;
            memcpy(s->werr, e, sizeof e);
        }
        s->wbusy = 0;
        s->seq_out++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* With mu held: the writer's batch, applied, forgotten. */
static void witems_free_locked(mta_spool *s)
{
    if (s->wbusy) return;
    for (size_t i = 0; i < s->nwitems; i++) item_free(&s->witems[i]);
    s->nwitems = 0;
}

static void *committer_main(void *arg)
{
    mta_spool *s = arg;
    char e[sizeof s->werr];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->cbusy && !s->cstop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->cbusy) break; /* stopped with nothing left (a batch is finished first) */
        int sync = s->csync, jfd = s->cjfd, dirsync = s->cdirsync;
        uint64_t base = s->cjbase;
        pthread_mutex_unlock(&s->mu);
        e[0] = 0;
        /* the journal first: nothing is confirmed or applied before it is durable */
        int rc = journal_write(s, jfd, s->citems, s->ncitems, sync, dirsync, base, e, sizeof e);
        pthread_mutex_lock(&s->mu);
        if (rc == 0) {
            s->cdurable = 1;
        } else {
            s->wfailed = s->tfailed = 1;
            memcpy(s->werr, e, sizeof e);
        }
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        writer_notify(s); /* durable: its confirmations may go (or it failed) */
        pthread_mutex_lock(&s->mu);
        /* its files: the writer's once it finished the previous batch's
         * (dropped after a failure: the journal holds them for the reopen) */
        while (rc == 0 && s->wbusy) pthread_cond_wait(&s->cv, &s->mu);
        if (rc == 0 && !s->wfailed) {
            item *t = s->witems;
            size_t tc = s->capwitems;
            witems_free_locked(s);
            s->witems = s->citems;
            s->nwitems = s->ncitems;
            s->capwitems = s->capcitems;
            s->citems = t;
            s->capcitems = tc;
            s->wbusy = 1;
        } else {
            for (size_t i = 0; i < s->ncitems; i++) item_free(&s->citems[i]);
            s->seq_out++; /* dropped (the spool is failed) */
        }
        s->ncitems = 0;
        s->cbusy = 0;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        writer_notify(s); /* free for the next batch */
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Wait for the writer thread's batch (block: 1) or only look whether it
 * failed (0); a failure makes the spool failed, its reason kept until a
 * caller with an err buffer gets it.  0, or -1 with err. */
static int wait_writer(mta_spool *s, int block, char *err, size_t errlen)
{
    if (!s->have_writer && !s->have_committer) return 0;
    pthread_mutex_lock(&s->mu);
    while (block && (s->wbusy || s->cbusy)) pthread_cond_wait(&s->cv, &s->mu);
    collect_locked(s);
    int failed = s->wfailed;
    if (failed && err && errlen) { /* reported once, where it can be */
        seterr(err, errlen, "%s", s->werr);
        s->wfailed = 0;
    }
    witems_free_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (failed) s->failed = 1;
    return failed ? -1 : 0;
}

static int items_touch(const item *items, size_t n, int dir, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (items[i].dir == dir &&
            (items[i].type == REC_FILE || items[i].type == REC_UNLINK || items[i].type == REC_REF) &&
            (!name || !strcmp(items[i].name, name)))
            return 1;
    return 0;
}

/* Could the threads' batches (being committed, or applied) hold dir/name
 * (name NULL: anything in dir)? */
static int writer_touches(mta_spool *s, int dir, const char *name)
{
    if (!s->have_writer && !s->have_committer) return 0;
    pthread_mutex_lock(&s->mu);
    int r = items_touch(s->witems, s->nwitems, dir, name) ||
            (s->cbusy && items_touch(s->citems, s->ncitems, dir, name));
    pthread_mutex_unlock(&s->mu);
    return r;
}

int mta_spool_apply_async(mta_spool *s, char *err, size_t errlen)
{
    if (!s) { seterr(err, errlen, "apply: no spool"); return -1; }
    if (!s->journalled) return 0;
    if (s->failed) return mta_spool_apply(s, err, errlen); /* says why */
    if (wait_writer(s, 1, err, errlen) != 0) {
        s->journalled = 0; /* the journal holds it: the reopen applies it */
        batch_clear(s);
        return -1;
    }
    if (!s->have_writer) {
        if (pthread_create(&s->writer, NULL, writer_main, s) != 0) return mta_spool_apply(s, err, errlen);
        s->have_writer = 1;
    }
    hand_over(s);
    return 0;
}

/* The pending batch (journalled) becomes the writer thread's job, its
 * empty array ours (the writer is idle: wait_writer). */
static void hand_over(mta_spool *s)
{
    pthread_mutex_lock(&s->mu);
    item *t = s->witems;
    size_t tc = s->capwitems;
    witems_free_locked(s);
    s->witems = s->items;
    s->nwitems = s->nitems;
    s->capwitems = s->capitems;
    s->items = t;
    s->capitems = tc;
    s->nitems = 0;
    s->batch_bytes = 0;
    s->journalled = 0;
    s->wbusy = 1;
    s->seq_in++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The pending batch (closed) becomes the committer's (it is idle). */
static void commit_hand_over(mta_spool *s, int sync, uint64_t bytes)
{
    pthread_mutex_lock(&s->mu);
    item *t = s->citems;
    size_t tc = s->capcitems;
    s->citems = s->items;
    s->ncitems = s->nitems;
    s->capcitems = s->capitems;
    s->items = t;
    s->capitems = tc;
    s->nitems = 0;
    s->batch_bytes = 0;
    s->csync = sync;
    s->cbytes = bytes;
    s->cjbase = s->jbytes;
    s->cjfd = s->jfd;
    s->cgen = s->jgen;
    s->cdirsync = sync && s->need_dirsync;
    if (sync) s->need_dirsync = 0;
    s->cdurable = 0;
    s->cbusy = 1;
    s->inflight = 1;
    s->seq_in++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int mta_spool_commit_async(mta_spool *s, char *err, size_t errlen)
{
    /* one batch in the committer at a time (the previous one's files may
     * still be written meanwhile) */
    if (commit_begin(s, 1, err, errlen) != 0) return -1;
    if (s->nitems == 0) return 0;
    if (!s->have_writer) {
        if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
            seterr(err, errlen, "commit: %s: cannot start the writer thread", s->dir);
            return -1;
        }
        s->have_writer = 1;
    }
    if (!s->have_committer) {
        if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
            seterr(err, errlen, "commit: %s: cannot start the committer thread", s->dir);
            return -1;
        }
        s->have_committer = 1;
    }
    int sync = batch_needs_sync(s->items, s->nitems);
    if (batch_close(s, err, errlen) != 0) return -1;
    int n = (int)s->nitems - 1; /* not counting the end marker */
    commit_hand_over(s, sync, s->batch_bytes);
    return n;
}

int mta_spool_commit_poll(mta_spool *s, int block, char *err, size_t errlen)
{
    if (!s) { seterr(err, errlen, "commit: no spool"); return -1; }
    if (s->inflight) {
        pthread_mutex_lock(&s->mu);
        while (block && s->cbusy && !s->cdurable) pthread_cond_wait(&s->cv, &s->mu);
        collect_locked(s);
        pthread_mutex_unlock(&s->mu);
    }
    if (s->unreported) {
        s->unreported = 0;
        return 1;
    }
    if (s->inflight) return 0;
    if (wait_writer(s, 0, err, errlen) != 0) return -1;
    if (s->failed) {
        seterr(err, errlen, "commit: %s: an earlier commit or checkpoint failed; reopen the spool", s->dir);
        return -1;
    }
    return 0;
}

int mta_spool_commit_inflight(const mta_spool *s) { return s && (s->inflight || s->unreported); }

int mta_spool_writer_busy(mta_spool *s)
{
    if (!s || !s->have_committer) return 0;
    pthread_mutex_lock(&s->mu);
    int busy = s->cbusy;
    pthread_mutex_unlock(&s->mu);
    return busy;
}

void mta_spool_set_notify(mta_spool *s, int fd)
{
    if (s) s->notify_fd = fd;
}

int mta_spool_commit(mta_spool *s, char *err, size_t errlen)
{
    int n = mta_spool_commit_durable(s, err, errlen);
    if (n > 0 && mta_spool_apply(s, err, errlen) != 0) return -1;
    return n;
}

/* The checkpoint's durable part, once every batch of the journal it
 * empties is applied: the files (syncfs), then the received identifiers,
 * then the older journal may go.  0, or -1 with err. */
static int checkpoint_sync_files(mta_spool *s, char *err, size_t errlen)
{
#ifdef __linux__
    if (syncfs(s->dirfd) != 0) return ioerr(s, err, errlen, "syncfs", -1, ".", errno);
#else
    sync();
#endif
    return 0;
}

static int checkpoint_finish(mta_spool *s, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
    const char *what = "write";
    test_delay(s->ckpt_delay_ms); /* the checkpoints off the loop only */
    if (checkpoint_sync_files(s, err, errlen) != 0) return -1;
    if (blob && (write_atomic(s->dirfd, "seen", blob, len, 1, 0, &what) != 0 ||
                 (what = "directory fsync", fsync_retry(s->dirfd, 0) != 0)))
        return ioerr(s, err, errlen, what, -1, "seen", errno);
    if (unlinkat(s->dirfd, JOURNAL_OLD, 0) != 0 && errno != ENOENT)
        return ioerr(s, err, errlen, "unlink", -1, JOURNAL_OLD, errno);
    return 0;
}

static void *ckpt_main(void *arg)
{
    mta_spool *s = arg;
    char e[sizeof s->ckerr];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->ckbusy && !s->ckstop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->ckbusy) break;
        /* every batch handed before the rotation applied: its files exist */
        while (s->seq_out < s->ckmark && !s->tfailed && !s->ckgone) pthread_cond_wait(&s->cv, &s->mu);
        int ok = s->seq_out >= s->ckmark && !s->tfailed;
        const uint8_t *blob = s->ckblob;
        size_t len = s->cklen;
        pthread_mutex_unlock(&s->mu);
        e[0] = 0;
        int rc = -1;
        if (ok) rc = checkpoint_finish(s, blob, len, e, sizeof e);
        else seterr(e, sizeof e, "checkpoint: %s: a commit failed before it; reopen the spool", s->dir);
        pthread_mutex_lock(&s->mu);
        s->ckrc = rc;
        if (rc != 0) memcpy(s->ckerr, e, sizeof e);
        s->ckbusy = 0;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        writer_notify(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int mta_spool_checkpoint_async(mta_spool *s, const uint8_t *seen_blob, size_t seen_len, char *err, size_t errlen)
{
    int fd;
    if (!s) { seterr(err, errlen, "checkpoint: no spool"); return -1; }
    if (s->jfd < 0) {
        seterr(err, errlen, "checkpoint: %s: opened without the lock (the journal is the MTA's)", s->dir);
        return -1;
    }
    if (s->ckinflight || s->nitems) { /* not a failure of the spool */
        seterr(err, errlen, "checkpoint: %s: %s", s->dir,
               s->ckinflight ? "one is in flight" : "a batch is staged (hand it over first)");
        errno = EBUSY;
        return -1;
    }
    if (s->journalled && mta_spool_apply_async(s, err, errlen) != 0) return -1;
    if (wait_writer(s, 0, err, errlen) != 0) return -1;
    if (s->failed) {
        seterr(err, errlen, "checkpoint: %s: an earlier commit or checkpoint failed; reopen the spool", s->dir);
        return -1;
    }
    if (!s->have_ckpt) {
        if (pthread_create(&s->ckpt, NULL, ckpt_main, s) != 0) {
            seterr(err, errlen, "checkpoint: %s: cannot start the checkpointer thread", s->dir);
            return -1;
        }
        s->have_ckpt = 1;
    }
    /* The rotation: the batch in flight (if any) goes on into the renamed
     * file through its descriptor; batches handed from now on go to the
     * new one, whose first fdatasync'ed batch also fsyncs the directory.
     * A crash anywhere leaves "journal-old" and/or "journal", replayed in
     * that order at open (idempotent). */
    if (faccessat(s->dirfd, JOURNAL_OLD, F_OK, AT_SYMLINK_NOFOLLOW) == 0) { /* never overwritten */
        s->failed = 1;
        seterr(err, errlen, "checkpoint: %s/%s is still there; reopen the spool (it is replayed)", s->dir,
               JOURNAL_OLD);
        return -1;
    }
    if (renameat(s->dirfd, "journal", s->dirfd, JOURNAL_OLD) != 0) {
        s->failed = 1;
        return ioerr(s, err, errlen, "rename", -1, "journal", errno);
    }
    fd = openat(s->dirfd, "journal", O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        s->failed = 1; /* the reopen replays journal-old */
        return ioerr(s, err, errlen, "create", -1, "journal", errno);
    }
    s->oldjfd = s->jfd;
    s->jfd = fd;
    s->jbytes = 0;
    s->jgen++;
    s->need_dirsync = 1;
    pthread_mutex_lock(&s->mu);
    s->ckmark = s->seq_in;
    s->ckblob = seen_blob;
    s->cklen = seen_len;
    s->ckrc = 0;
    s->ckbusy = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    s->ckinflight = 1;
    return 0;
}

int mta_spool_checkpoint_poll(mta_spool *s, int block, char *err, size_t errlen)
{
    if (!s || !s->ckinflight) return 0;
    pthread_mutex_lock(&s->mu);
    while (block && s->ckbusy) pthread_cond_wait(&s->cv, &s->mu);
    int busy = s->ckbusy, rc = s->ckrc;
    if (!busy && rc != 0) seterr(err, errlen, "%s", s->ckerr);
    pthread_mutex_unlock(&s->mu);
    if (busy) return 0;
    s->ckinflight = 0;
    if (s->oldjfd >= 0) {
        close(s->oldjfd);
        s->oldjfd = -1;
    }
    if (rc != 0) {
        s->failed = 1;
        return -1;
    }
    return 1;
}

int mta_spool_checkpoint_inflight(const mta_spool *s) { return s && s->ckinflight; }

int mta_spool_checkpoint(mta_spool *s, const x400_p1_idset *seen, char *err, size_t errlen)
{
    if (!s) { seterr(err, errlen, "checkpoint: no spool"); return -1; }
    if (s->jfd < 0) {
        seterr(err, errlen, "checkpoint: %s: opened without the lock (the journal is the MTA's)", s->dir);
        return -1;
    }
    if (s->ckinflight) { /* the one in flight first (its report stays for checkpoint_poll) */
        pthread_mutex_lock(&s->mu);
        while (s->ckbusy) pthread_cond_wait(&s->cv, &s->mu);
        int rc = s->ckrc;
        if (rc != 0) seterr(err, errlen, "%s", s->ckerr);
        pthread_mutex_unlock(&s->mu);
        if (rc != 0) {
            s->failed = 1;
            return -1;
        }
    }
    /* What is staged is not durable: commit it first, so that `seen` never
     * reaches the disk ahead of the messages it names. */
    if ((s->nitems || s->journalled) && mta_spool_commit(s, err, errlen) < 0) return -1;
    if (wait_writer(s, 1, err, errlen) != 0) return -1;
    if (s->failed) {
        seterr(err, errlen, "checkpoint: %s: an earlier commit or checkpoint failed; reopen the spool", s->dir);
        return -1;
    }
    s->failed = 1;
    /* 1. every file written since the last checkpoint, and the unlinks */
    if (checkpoint_sync_files(s, err, errlen) != 0) return -1;
    /* 2. the received identifiers */
    if (seen) {
        char path[MTA_PATH_MAX + 8];
        x400_diag d;
        memset(&d, 0, sizeof d);
        snprintf(path, sizeof path, "%s/seen", s->dir);
        if (x400_p1_idset_save_file(seen, path, &d) != X400_OK) {
            seterr(err, errlen, "save: %s: %s", path, d.text[0] ? d.text : "failed");
            return -1;
        }
    }
    /* 3. only now may the journals go */
    if (unlinkat(s->dirfd, JOURNAL_OLD, 0) != 0 && errno != ENOENT)
        return ioerr(s, err, errlen, "unlink", -1, JOURNAL_OLD, errno);
    if (ftruncate(s->jfd, 0) != 0) return ioerr(s, err, errlen, "journal truncate", -1, "journal", errno);
    if (fsync_retry(s->jfd, 1) != 0) return ioerr(s, err, errlen, "journal fdatasync", -1, "journal", errno);
    s->jbytes = 0;
    s->failed = 0;
    return 0;
}

/* ------------------------------------------------------------ replay */

/* Rebuild a file from its record unless it is there with exactly these
 * octets (a file written without fsync may be empty or short after a
 * crash).  0 or -1 (errno, *what). */
static int replay_file(int dfd, const char *name, const uint8_t *p, size_t n, const char **what)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        struct stat st;
        int same = 0;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == n) {
            uint8_t *b = malloc(n ? n : 1);
            if (b && read_full(fd, b, n) == (ssize_t)n && !memcmp(b, p, n)) same = 1;
            free(b);
        }
        close(fd);
        if (same) return 0;
    } else if (errno != ENOENT && errno != ELOOP) {
        *what = "open";
        return -1;
    }
    return write_atomic(dfd, name, p, n, 0, 0, what);
}

/* A large file of a durable batch (REF): "<name>.tmp" with exactly these
 * octets is renamed into place (the crash came before the batch was
 * applied); without it the file was renamed already (and may have been
 * removed since by a later record).  0 or -1 (errno). */
static int replay_ref(mta_spool *s, int dir, const char *name, uint64_t n, uint32_t crc)
{
    char tmp[MTA_SPOOL_NAME_MAX + 8];
    struct stat st;
    int ok = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(s->subfd[dir], tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT || errno == ELOOP ? 0 : -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == n) {
        uint8_t *b = malloc(n ? (size_t)n : 1);
        if (b && read_full(fd, b, (size_t)n) == (ssize_t)n && crc32_update(&s->crc, 0, b, (size_t)n) == crc) ok = 1;
        free(b);
    }
    close(fd);
    /* not what was referenced: an orphan of a later, torn batch (open removes it) */
    if (!ok) return 0;
    return renameat(s->subfd[dir], tmp, s->subfd[dir], name);
}

/* Replay the journal; files are touched only when apply_files (the lock
 * holder).  0 or -1 with err. */
static int replay_pass(mta_spool *s, int jfd, x400_p1_idset *seen, int apply_files, uint64_t size,
                       uint64_t *complete, char *err, size_t errlen);

/* Two passes: find the end of the last complete batch (its REC_COMMIT),
 * then apply the records before it. */
static int replay(mta_spool *s, int jfd, x400_p1_idset *seen, int apply_files, char *err, size_t errlen)
{
    struct stat st;
    uint64_t complete = 0;
    if (fstat(jfd, &st) != 0) return ioerr(s, err, errlen, "stat", -1, "journal", errno);
    if (replay_pass(s, jfd, NULL, -1, (uint64_t)st.st_size, &complete, err, errlen) != 0) return -1;
    return replay_pass(s, jfd, seen, apply_files, complete, &complete, err, errlen);
}

/* apply_files -1: scan only (validate, find *complete). */
static int replay_pass(mta_spool *s, int jfd, x400_p1_idset *seen, int apply_files, uint64_t size,
                       uint64_t *complete, char *err, size_t errlen)
{
    uint64_t off = 0;
    int scan = apply_files < 0;
    if (scan) {
        seen = NULL;
        apply_files = 0;
        *complete = 0;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (size - off >= REC_HDR + 4) {
        uint8_t h[REC_HDR];
        ssize_t r = pread_full(jfd, h, REC_HDR, off);
        if (r < 0) { rc = ioerr(s, err, errlen, "read", -1, "journal", errno); break; }
        if ((size_t)r < REC_HDR || memcmp(h, REC_MAGIC, 4)) break;
        uint32_t body = get32(h + 4);
        if (body < 4 || body > MTA_SPOOL_BATCH_MAX || body > size - off - REC_HDR) break;
        if (body > cap) {
            uint8_t *nb = realloc(buf, body);
            if (!nb) { seterr(err, errlen, "replay: %s/journal: out of memory", s->dir); rc = -1; break; }
            buf = nb;
            cap = body;
        }
        r = pread_full(jfd, buf, body, off + REC_HDR);
        if (r < 0) { rc = ioerr(s, err, errlen, "read", -1, "journal", errno); break; }
        if ((size_t)r < body) break;
        if (crc32_update(&s->crc, crc32_update(&s->crc, 0, h + 4, 4), buf, body) != get32(h + 8)) break;
        unsigned type = buf[0], dir = buf[1];
        size_t nl = (size_t)buf[2] | (size_t)buf[3] << 8;
        /* names and MTSID texts both fit MTA_SPOOL_NAME_MAX */
        if (nl > body - 4 || nl > MTA_SPOOL_NAME_MAX) break;
        char name[MTA_SPOOL_NAME_MAX + 1];
        memcpy(name, buf + 4, nl);
        name[nl] = 0;
        if (strlen(name) != nl) break;
        const uint8_t *pl = buf + 4 + nl;
        size_t pll = body - 4 - nl;
        if (type == REC_COMMIT) {
            if (scan) *complete = off + REC_HDR + body;
        } else if (type == REC_SEEN) {
            x400_mtsid id;
            if (x400_mtsid_parse(name, nl, &id, NULL) != X400_OK) break;
            if (seen) {
                int ir = x400_p1_idset_insert(seen, &id);
                if (ir != X400_OK && ir != X400_ERR_DUPLICATE) {
                    seterr(err, errlen, "replay: %s/journal: cannot insert %s", s->dir, name);
                    rc = -1;
                    break;
                }
            }
        } else if (type == REC_REF && dir < MTA_SPOOL_NDIR && name_ok(name) && pll == REF_PAYLOAD) {
            uint64_t n = (uint64_t)get32(pl) | (uint64_t)get32(pl + 4) << 32;
            if (n > (uint64_t)MTA_SPOOL_HDR_MAX + MTA_SPOOL_FILE_MAX) break;
            if (apply_files && replay_ref(s, (int)dir, name, n, get32(pl + 8)) != 0) {
                rc = ioerr(s, err, errlen, "rename", (int)dir, name, errno);
                break;
            }
        } else if ((type == REC_FILE || type == REC_UNLINK) && dir < MTA_SPOOL_NDIR && name_ok(name)) {
            if (type == REC_FILE) {
                mta_spool_hdr hd;
                size_t hl;
                const char *why;
                if (image_parse(pl, pll, &hd, &hl, &why) != 0) break;
                const char *what = "";
                if (apply_files && replay_file(s->subfd[dir], name, pl, pll, &what) != 0) {
                    rc = ioerr(s, err, errlen, what, (int)dir, name, errno);
                    break;
                }
            } else if (apply_files && unlinkat(s->subfd[dir], name, 0) != 0 && errno != ENOENT) {
                rc = ioerr(s, err, errlen, "unlink", (int)dir, name, errno);
                break;
            }
        } else {
            break;
        }
        off += REC_HDR + body;
    }
    free(buf);
    return rc;
}

/* Temporary files the MTA left in queue/, inbox/ and quarantine/ (a large
 * file of a batch torn by a crash, a write cut short), after the replay
 * renamed those of durable batches.  submit/ is not touched: `submit`
 * writes its temporary files there while the MTA runs.  0 or -1 with err. */
static int remove_orphans(mta_spool *s, char *err, size_t errlen)
{
    for (int d = MTA_SPOOL_QUEUE; d < MTA_SPOOL_NDIR; d++) {
        int fd = openat(s->subfd[d], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return ioerr(s, err, errlen, "open", -1, dir_names[d], errno);
        DIR *dp = fdopendir(fd);
        if (!dp) { int e = errno; close(fd); return ioerr(s, err, errlen, "opendir", -1, dir_names[d], e); }
        struct dirent *de;
        while ((de = readdir(dp)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l > 4 && de->d_name[0] != '.' && !strcmp(de->d_name + l - 4, ".tmp"))
                (void)unlinkat(s->subfd[d], de->d_name, 0);
        }
        closedir(dp);
    }
    return 0;
}

/* The journal a checkpoint in flight was emptying when the MTA stopped
 * (crash): replayed before "journal", which holds what came after it. */
static int replay_old(mta_spool *s, x400_p1_idset *seen, int apply_files, char *err, size_t errlen)
{
    int fd = openat(s->dirfd, JOURNAL_OLD, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : ioerr(s, err, errlen, "open", -1, JOURNAL_OLD, errno);
    int r = replay(s, fd, seen, apply_files, err, errlen);
    close(fd);
    return r;
}

/* ------------------------------------------------------------ open/close */

int mta_spool_open(mta_spool **out, const char *dir, int lock, x400_p1_idset *seen,
                   char *err, size_t errlen)
{
    if (!out || !dir || !*dir) { seterr(err, errlen, "spool: no directory"); return -1; }
    *out = NULL;
    if (strlen(dir) >= MTA_PATH_MAX - MTA_SPOOL_NAME_MAX - 16) {
        seterr(err, errlen, "spool: %s: path too long", dir);
        return -1;
    }
    mta_spool *s = calloc(1, sizeof *s);
    if (!s) { seterr(err, errlen, "spool: %s: out of memory", dir); return -1; }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->dirfd = s->lockfd = s->jfd = s->notify_fd = s->oldjfd = -1;
#ifdef X400MTA_TEST_HOOKS
    {   /* test hooks (check_mta, check_mtaspool): every journal fdatasync,
         * or every checkpoint's syncfs, takes this many ms longer, as on a
         * slow disk */
        const char *d = getenv("X400MTA_TEST_SYNC_DELAY_MS");
        if (d && *d) s->sync_delay_ms = (unsigned)strtoul(d, NULL, 10);
        d = getenv("X400MTA_TEST_CHECKPOINT_DELAY_MS");
        if (d && *d) s->ckpt_delay_ms = (unsigned)strtoul(d, NULL, 10);
    }
#endif
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    for (int i = 0; i < MTA_SPOOL_NDIR; i++) s->subfd[i] = -1;
    crc_init(&s->crc);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) { ioerr(s, err, errlen, "mkdir", -1, ".", errno); goto fail; }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) { seterr(err, errlen, "open: %s: %s", dir, strerror(errno)); goto fail; }
    for (int i = 0; i < MTA_SPOOL_NDIR; i++) {
        if (mkdirat(s->dirfd, dir_names[i], 0700) != 0 && errno != EEXIST) {
            ioerr(s, err, errlen, "mkdir", -1, dir_names[i], errno);
            goto fail;
        }
        s->subfd[i] = openat(s->dirfd, dir_names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->subfd[i] < 0) { ioerr(s, err, errlen, "open", -1, dir_names[i], errno); goto fail; }
    }

    if (lock == 1) {
        s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lockfd < 0) { ioerr(s, err, errlen, "open", -1, "lock", errno); goto fail; }
        int r;
        do r = flock(s->lockfd, LOCK_EX | LOCK_NB);
        while (r != 0 && errno == EINTR);
        if (r != 0) {
            if (errno != EWOULDBLOCK) { ioerr(s, err, errlen, "lock", -1, "lock", errno); goto fail; }
            uint8_t pb[24];
            ssize_t n = pread_full(s->lockfd, pb, sizeof pb - 1, 0);
            long pid = 0;
            if (n > 0) { pb[n] = 0; pid = strtol((const char *)pb, NULL, 10); }
            if (pid > 0) seterr(err, errlen, "spool %s in use by pid %ld", dir, pid);
            else seterr(err, errlen, "spool %s in use by another process", dir);
            goto fail;
        }
        char pb[24];
        int pl = snprintf(pb, sizeof pb, "%ld\n", (long)getpid());
        if (ftruncate(s->lockfd, 0) != 0 || pwrite(s->lockfd, pb, (size_t)pl, 0) != pl) {
            ioerr(s, err, errlen, "write", -1, "lock", errno);
            goto fail;
        }
    }

    if (seen) {
        char path[MTA_PATH_MAX + 8];
        x400_diag d;
        memset(&d, 0, sizeof d);
        snprintf(path, sizeof path, "%s/seen", dir);
        int r = x400_p1_idset_load_file(seen, path, &d);
        if (r != X400_OK && r != X400_ERR_NOT_FOUND) {
            seterr(err, errlen, "load: %s: %s", path, d.text[0] ? d.text : "failed");
            goto fail;
        }
    }

    if (lock == MTA_SPOOL_SNAPSHOTS) {
        /* no journal: nothing read here depends on it */
    } else if (lock) {
        if (replay_old(s, seen, 1, err, errlen) != 0) goto fail;
        s->jfd = openat(s->dirfd, "journal", O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (s->jfd < 0) { ioerr(s, err, errlen, "open", -1, "journal", errno); goto fail; }
        if (replay(s, s->jfd, seen, 1, err, errlen) != 0) goto fail;
        if (remove_orphans(s, err, errlen) != 0) goto fail;
        if (mta_spool_checkpoint(s, seen, err, errlen) != 0) goto fail;
    } else {
        /* Tools: identifiers only; the files belong to the MTA, which may be
         * running and removing them right now. */
        if (replay_old(s, seen, 0, err, errlen) != 0) goto fail;
        int jfd = openat(s->dirfd, "journal", O_RDONLY | O_CLOEXEC);
        if (jfd < 0 && errno != ENOENT) { ioerr(s, err, errlen, "open", -1, "journal", errno); goto fail; }
        if (jfd >= 0) {
            int r = replay(s, jfd, seen, 0, err, errlen);
            close(jfd);
            if (r != 0) goto fail;
        }
    }
    {
        uint64_t seed = 0;
        if (getentropy(&seed, sizeof seed) != 0) seed = 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)s;
        s->rnd = seed ? seed : 0x2545F4914F6CDD1Du;
    }
    *out = s;
    return 0;
fail:
    mta_spool_close(s);
    return -1;
}

void mta_spool_close(mta_spool *s)
{
    if (!s) return;
    if (s->have_committer) { /* its batch committed and handed on first */
        pthread_mutex_lock(&s->mu);
        s->cstop = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->committer, NULL);
        s->have_committer = 0;
    }
    for (size_t i = 0; i < s->ncitems; i++) item_free(&s->citems[i]);
    free(s->citems);
    if (s->have_writer) { /* its batch applied first */
        pthread_mutex_lock(&s->mu);
        s->wstop = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
        s->have_writer = 0;
    }
    for (size_t i = 0; i < s->nwitems; i++) item_free(&s->witems[i]);
    free(s->witems);
    if (s->have_ckpt) { /* its checkpoint finished (or given up: a batch before it failed) */
        pthread_mutex_lock(&s->mu);
        s->ckstop = s->ckgone = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->ckpt, NULL);
        s->have_ckpt = 0;
    }
    if (s->oldjfd >= 0) close(s->oldjfd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    batch_clear(s);
    free(s->items);
    for (int i = 0; i < MTA_SPOOL_NDIR; i++)
        if (s->subfd[i] >= 0) close(s->subfd[i]);
    if (s->jfd >= 0) close(s->jfd);
    if (s->lockfd >= 0) close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0) close(s->dirfd);
    free(s);
}

/* ------------------------------------------------------------ submission */

static uint32_t rnd32(mta_spool *s)
{
    uint64_t x = s->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rnd = x;
    return (uint32_t)(x >> 32);
}

int mta_spool_submit(mta_spool *s, const mta_spool_hdr *h, const uint8_t *content, size_t len,
                     char name[64], char *err, size_t errlen)
{
    if (!s || !name) { seterr(err, errlen, "submit: bad arguments"); return -1; }
    name[0] = 0;
    size_t img;
    uint8_t *p = file_image(h, content, len, 0, &img);
    if (!p) {
        if (errno == EINVAL) seterr(err, errlen, "submit: %s/submit: invalid header (kind, priority, "
                                    "line break or unterminated field, recipients > %d)", s->dir, MTA_SPOOL_RECIP_MAX);
        else seterr(err, errlen, "submit: %s/submit: %s", s->dir, strerror(errno));
        return -1;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 16; attempt++) {
        /* "<unix-ms>-<pid>-<counter>-<random>": fixed widths, so the sorted
         * order is the submission order (to the millisecond across
         * processes, exactly within one). */
        char nm[64];
        snprintf(nm, sizeof nm, "%013" PRIu64 "-%010ld-%08" PRIx32 "-%08" PRIx32, now_ms(),
                 (long)getpid(), s->counter++, rnd32(s));
        const char *what = "";
        if (write_atomic(s->subfd[MTA_SPOOL_SUBMIT], nm, p, img, 1, 1, &what) != 0) {
            if (errno == EEXIST && !strcmp(what, "create")) continue;
            ioerr(s, err, errlen, what, MTA_SPOOL_SUBMIT, nm, errno);
            break;
        }
        if (fsync_retry(s->subfd[MTA_SPOOL_SUBMIT], 0) != 0) {
            ioerr(s, err, errlen, "fsync", -1, "submit", errno);
            break;
        }
        snprintf(name, 64, "%s", nm);
        rc = 0;
        break;
    }
    if (rc != 0 && !name[0] && err && errlen && !err[0])
        seterr(err, errlen, "submit: %s/submit: no unique name found", s->dir);
    free(p);
    return rc;
}

/* ------------------------------------------------------------ files */

int mta_spool_remove(mta_spool *s, mta_spool_dir dir, const char *name)
{
    if (!s || !dir_ok((int)dir) || !name_ok(name)) { errno = EINVAL; return -1; }
    if (writer_touches(s, (int)dir, name)) (void)wait_writer(s, 1, NULL, 0);
    if (unlinkat(s->subfd[dir], name, 0) != 0 && errno != ENOENT) return -1;
    return 0;
}

int mta_spool_read(mta_spool *s, mta_spool_dir dir, const char *name, mta_spool_hdr *h,
                   uint8_t **body, size_t *len, char *err, size_t errlen)
{
    if (body) *body = NULL;
    if (len) *len = 0;
    if (!s || !h || !dir_ok((int)dir) || !name_ok(name)) {
        seterr(err, errlen, "read: bad arguments");
        return -1;
    }
    if (writer_touches(s, (int)dir, name)) (void)wait_writer(s, 1, NULL, 0);
    int fd = openat(s->subfd[dir], name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return ioerr(s, err, errlen, "open", (int)dir, name, errno);
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); return ioerr(s, err, errlen, "stat", (int)dir, name, e); }
    if (!S_ISREG(st.st_mode)) { close(fd); return ioerr(s, err, errlen, "open", (int)dir, name, EINVAL); }
    uint64_t fsz = (uint64_t)st.st_size;
    if (fsz > (uint64_t)MTA_SPOOL_HDR_MAX + MTA_SPOOL_FILE_MAX) {
        close(fd);
        seterr(err, errlen, "corrupt: %s/%s/%s: file too large", s->dir, dir_names[dir], name);
        return -1;
    }
    /* one extra octet shows a file that grew after the stat */
    uint8_t *p = malloc((size_t)fsz + 1);
    if (!p) { close(fd); return ioerr(s, err, errlen, "read", (int)dir, name, ENOMEM); }
    ssize_t r = read_full(fd, p, (size_t)fsz + 1);
    int e = errno;
    close(fd);
    if (r < 0) { free(p); return ioerr(s, err, errlen, "read", (int)dir, name, e); }
    const char *why = NULL;
    size_t hl = 0;
    if ((size_t)r != fsz) why = "file changed while read";
    else if (image_parse(p, fsz, h, &hl, &why) == 0) why = NULL;
    if (why) {
        free(p);
        seterr(err, errlen, "corrupt: %s/%s/%s: %s", s->dir, dir_names[dir], name, why);
        return -1;
    }
    if (len) *len = (size_t)h->size;
    if (body) {
        memmove(p, p + hl, (size_t)h->size);
        *body = p;
    } else {
        free(p);
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void mta_spool_names_free(char **names, long n)
{
    if (!names) return;
    for (long i = 0; i < n; i++) free(names[i]);
    free(names);
}

long mta_spool_list(mta_spool *s, mta_spool_dir dir, char ***names, char *err, size_t errlen)
{
    if (names) *names = NULL;
    if (!s || !names || !dir_ok((int)dir)) { seterr(err, errlen, "list: bad arguments"); return -1; }
    if (writer_touches(s, (int)dir, NULL)) (void)wait_writer(s, 1, NULL, 0);
    int fd = openat(s->subfd[dir], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ioerr(s, err, errlen, "open", -1, dir_names[dir], errno);
    DIR *dp = fdopendir(fd);
    if (!dp) { int e = errno; close(fd); return ioerr(s, err, errlen, "opendir", -1, dir_names[dir], e); }
    char **v = NULL;
    size_t n = 0, cap = 0;
    int e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dp);
        if (!de) { e = errno; break; }
        if (!name_ok(de->d_name)) continue; /* ".", "..", temp files, tmp/ */
        if (de->d_type != DT_REG) {
            struct stat st;
            if (de->d_type != DT_UNKNOWN) continue;
            if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            if (nc > (size_t)LONG_MAX / sizeof *v) { e = EOVERFLOW; break; }
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv) { e = ENOMEM; break; }
            v = nv;
            cap = nc;
        }
        if (!(v[n] = strdup(de->d_name))) { e = ENOMEM; break; }
        n++;
    }
    closedir(dp);
    if (e) {
        mta_spool_names_free(v, (long)n);
        return ioerr(s, err, errlen, "readdir", -1, dir_names[dir], e);
    }
    if (n) qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    return (long)n;
}

/* ------------------------------------------------------------ snapshots */

static int snapshot_name_ok(const char *which)
{
    return which && name_ok(which) && strcmp(which, "journal") && strcmp(which, "lock") &&
           strcmp(which, "seen") && strcmp(which, "mtsid");
}

int mta_spool_write_snapshot(mta_spool *s, const char *which, const char *text, size_t len)
{
    if (!s || !snapshot_name_ok(which) || (len && !text) || len > SNAPSHOT_MAX) { errno = EINVAL; return -1; }
    const char *what;
    return write_atomic(s->dirfd, which, (const uint8_t *)text, len, 0, 0, &what);
}

/* A durable state file (holds): temp file written and fsynced, renamed,
 * the directory fsynced -- the rules of submit/. */
int mta_spool_write_state(mta_spool *s, const char *which, const char *text, size_t len,
                          char *err, size_t errlen)
{
    if (!s || !snapshot_name_ok(which) || (len && !text) || len > SNAPSHOT_MAX) {
        seterr(err, errlen, "state file %s: invalid arguments", which ? which : "(null)");
        errno = EINVAL;
        return -1;
    }
    const char *what = "write";
    if (write_atomic(s->dirfd, which, (const uint8_t *)text, len, 1, 0, &what) != 0 ||
        (what = "directory fsync", fsync_retry(s->dirfd, 0) != 0))
        return ioerr(s, err, errlen, what, -1, which, errno);
    return 0;
}

char *mta_spool_read_snapshot(mta_spool *s, const char *which)
{
    if (!s || !snapshot_name_ok(which)) return NULL;
    int fd = openat(s->dirfd, which, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    struct stat st;
    char *p = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= SNAPSHOT_MAX) {
        size_t n = (size_t)st.st_size;
        p = malloc(n + 1);
        ssize_t r = p ? read_full(fd, (uint8_t *)p, n) : -1;
        if (r < 0) { free(p); p = NULL; }
        else p[r] = 0;
    }
    close(fd);
    return p;
}

int mta_spool_remove_snapshot(mta_spool *s, const char *which)
{
    if (!s || !snapshot_name_ok(which)) { errno = EINVAL; return -1; }
    return unlinkat(s->dirfd, which, 0) == 0 || errno == ENOENT ? 0 : -1;
}

long mta_spool_requests(mta_spool *s, char ***names)
{
    *names = NULL;
    if (!s) return -1;
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *dp = fdopendir(fd);
    if (!dp) { close(fd); return -1; }
    char **v = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) && n < 64) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "ctl-", 4) || l < 9 || strcmp(de->d_name + l - 4, ".req") ||
            !snapshot_name_ok(de->d_name))
            continue;
        char **nv = realloc(v, (n + 1) * sizeof *nv);
        if (!nv) break;
        v = nv;
        if (!(v[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(dp);
    if (n) qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    return (long)n;
}

long mta_spool_owner(const mta_spool *s)
{
    if (!s) return -1;
    if (s->lockfd >= 0) return (long)getpid();
    int fd = openat(s->dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;              /* never run */
    long pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);            /* free: no MTA holds it */
    } else {
        uint8_t pb[24];
        ssize_t n = pread_full(fd, pb, sizeof pb - 1, 0);
        if (n > 0) { pb[n] = 0; pid = strtol((const char *)pb, NULL, 10); }
        if (pid <= 0) pid = 1;         /* held, pid not (yet) written */
    }
    close(fd);
    return pid;
}

const char *mta_spool_path(const mta_spool *s, const char *rel, char *buf, size_t cap)
{
    if (!s || !rel || !buf || !cap) return NULL;
    int n = snprintf(buf, cap, "%s/%s", s->dir, rel);
    if (n < 0 || (size_t)n >= cap) { buf[0] = 0; return NULL; }
    return buf;
}

/* ------------------------------------------------------------ RTSE receiver records */

#define RTSE_MAGIC "XMR1"
#define RTSE_PEER 64u                   /* peer name field (NUL-padded) */
/* slot: magic 4, seq 8, peer 64, mono 8, wall 8, octets 8, octets crc 4,
 * rec_len 4, rec, ..., slot crc 4 (the last 4 octets, over the rest) */
#define RTSE_OFF_REC (4u + 8u + RTSE_PEER + 8u + 8u + 8u + 4u + 4u)

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

/* "rtse/<name>" */
static int rtse_path(const char *name, char *out, size_t cap)
{
    if (!name_ok(name)) return -1;
    snprintf(out, cap, "%s/%s", MTA_RTSE_DIR, name);
    return 0;
}

static ssize_t pwrite_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    size_t o = 0;
    while (o < n) {
        ssize_t w = pwrite(fd, p + o, n - o, (off_t)(off + o));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        o += (size_t)w;
    }
    return (ssize_t)o;
}

/* A record file, created without fsync of the file or the directory
 * (mta.h: a record lost in a crash only makes the transfer start again). */
static int rtse_create(mta_spool *s, const char *path)
{
    int fd;
    if (mkdirat(s->dirfd, MTA_RTSE_DIR, 0700) != 0 && errno != EEXIST) return -1;
    fd = openat(s->dirfd, path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    return fd;
}

int mta_spool_rtse_save(mta_spool *s, mta_spool_rtse *f, const char *peer, const uint8_t *rec,
                        size_t rec_len, const uint8_t *octets, size_t n, uint64_t mono_ms,
                        uint64_t wall_ms, char *err, size_t errlen)
{
    char path[MTA_SPOOL_NAME_MAX + 8];
    uint8_t slot[MTA_RTSE_SLOT];
    x400_rtse_record_info info;
    size_t pl;
    int fd;
    if (!s || !f || !peer || !rec || !rec_len || rec_len > X400_RTSE_RECORD_MAX ||
        (n && !octets) || rtse_path(f->name, path, sizeof path) < 0 ||
        x400_rtse_record_info_get(rec, rec_len, &info) != X400_OK ||
        info.activity_id_len > sizeof f->activity || (pl = strlen(peer)) >= RTSE_PEER) {
        seterr(err, errlen, "rtse record: invalid arguments");
        errno = EINVAL;
        return -1;
    }
    /* another activity, or fewer octets than stored: stored afresh */
    if (n < f->written || info.activity_id_len != f->activity_len ||
        memcmp(info.activity_id, f->activity, f->activity_len)) {
        f->written = 0;
        f->crc = 0;
        memcpy(f->activity, info.activity_id, info.activity_id_len);
        f->activity_len = info.activity_id_len;
    }
    fd = f->exists ? openat(s->dirfd, path, O_RDWR | O_CLOEXEC) : rtse_create(s, path);
    if (fd < 0) return ioerr(s, err, errlen, "open", -1, path, errno);
    f->exists = 1;
    if (n > f->written) {
        if (pwrite_full(fd, octets + f->written, n - f->written, 2u * MTA_RTSE_SLOT + f->written) < 0)
            goto fail;
        f->crc = crc32_update(&s->crc, f->crc, octets + f->written, n - f->written);
        f->written = n;
    }
    memset(slot, 0, sizeof slot);
    memcpy(slot, RTSE_MAGIC, 4);
    put64(slot + 4, ++f->seq);
    memcpy(slot + 12, peer, pl);
    put64(slot + 12 + RTSE_PEER, mono_ms);
    put64(slot + 20 + RTSE_PEER, wall_ms);
    put64(slot + 28 + RTSE_PEER, f->written);
    put32(slot + 36 + RTSE_PEER, f->crc);
    put32(slot + 40 + RTSE_PEER, (uint32_t)rec_len);
    memcpy(slot + RTSE_OFF_REC, rec, rec_len);
    put32(slot + MTA_RTSE_SLOT - 4, crc32_update(&s->crc, 0, slot, MTA_RTSE_SLOT - 4));
    if (pwrite_full(fd, slot, sizeof slot, (f->seq & 1) * MTA_RTSE_SLOT) < 0) goto fail;
    /* no fdatasync: see mta.h (a record older than the checkpoints the
     * receiver confirmed makes the library restart the transfer) */
    if (close_checked(fd) != 0) return ioerr(s, err, errlen, "close", -1, path, errno);
    return 0;
fail:
    {
        int e = errno;
        close(fd);
        return ioerr(s, err, errlen, "write", -1, path, e);
    }
}

void mta_spool_rtse_erase(mta_spool *s, mta_spool_rtse *f)
{
    char path[MTA_SPOOL_NAME_MAX + 8];
    if (!s || !f || !f->exists || rtse_path(f->name, path, sizeof path) < 0) return;
    (void)unlinkat(s->dirfd, path, 0);
    f->exists = 0;
    f->written = 0;
    f->crc = 0;
    f->activity_len = 0;
}

long mta_spool_rtse_list(mta_spool *s, char ***names, char *err, size_t errlen)
{
    int dfd;
    DIR *d;
    struct dirent *de;
    long n = 0, cap = 0;
    char **v = NULL;
    *names = NULL;
    dfd = openat(s->dirfd, MTA_RTSE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return errno == ENOENT ? 0 : ioerr(s, err, errlen, "open", -1, MTA_RTSE_DIR, errno);
    if (!(d = fdopendir(dfd))) {
        close(dfd);
        return ioerr(s, err, errlen, "opendir", -1, MTA_RTSE_DIR, errno);
    }
    while ((de = readdir(d)) != NULL) {
        if (!name_ok(de->d_name)) continue;
        if (n == cap) {
            char **x = realloc(v, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *x);
            if (!x) break;
            v = x;
        }
        if (!(v[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_names);
    *names = v;
    return n;
}

/* One slot, checked: its sequence number, or 0 when it does not hold. */
static uint64_t rtse_slot_ok(mta_spool *s, const uint8_t *slot)
{
    uint32_t rl = get32(slot + 40 + RTSE_PEER);
    if (memcmp(slot, RTSE_MAGIC, 4) ||
        get32(slot + MTA_RTSE_SLOT - 4) != crc32_update(&s->crc, 0, slot, MTA_RTSE_SLOT - 4) ||
        rl == 0 || rl > X400_RTSE_RECORD_MAX || memchr(slot + 12, 0, RTSE_PEER) == NULL)
        return 0;
    return get64(slot + 4);
}

int mta_spool_rtse_load(mta_spool *s, const char *name, mta_spool_rtse_loaded *out, mta_spool_rtse *f,
                        char *err, size_t errlen)
{
    char path[MTA_SPOOL_NAME_MAX + 8];
    uint8_t slot[2][MTA_RTSE_SLOT];
    uint64_t seq[2];
    struct stat st;
    int fd, tries;
    memset(out, 0, sizeof *out);
    if (rtse_path(name, path, sizeof path) < 0) {
        seterr(err, errlen, "rtse record: bad name");
        return -1;
    }
    if ((fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC)) < 0) return ioerr(s, err, errlen, "open", -1, path, errno);
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)(2u * MTA_RTSE_SLOT) ||
        pread_full(fd, slot[0], sizeof slot, 0) != (ssize_t)sizeof slot) {
        close(fd);
        seterr(err, errlen, "%s/%s: truncated", s->dir, path);
        return -1;
    }
    seq[0] = rtse_slot_ok(s, slot[0]);
    seq[1] = rtse_slot_ok(s, slot[1]);
    /* the newest slot first; the other one if its octets do not check */
    for (tries = 0; tries < 2; tries++) {
        int k = (seq[1] > seq[0]) != (tries == 1);
        const uint8_t *sl = slot[k];
        uint64_t n = get64(sl + 28 + RTSE_PEER);
        if (!seq[k]) continue;
        if (n > (uint64_t)st.st_size - 2u * MTA_RTSE_SLOT || n > MTA_SPOOL_FILE_MAX) continue;
        free(out->octets);
        out->octets = n ? malloc((size_t)n) : NULL;
        if (n && !out->octets) break;
        if (n && (pread_full(fd, out->octets, (size_t)n, 2u * MTA_RTSE_SLOT) != (ssize_t)n ||
                  crc32_update(&s->crc, 0, out->octets, (size_t)n) != get32(sl + 36 + RTSE_PEER)))
            continue;
        memcpy(out->peer, sl + 12, RTSE_PEER < sizeof out->peer ? RTSE_PEER : sizeof out->peer);
        out->peer[sizeof out->peer - 1] = 0;
        out->mono_ms = get64(sl + 12 + RTSE_PEER);
        out->wall_ms = get64(sl + 20 + RTSE_PEER);
        out->octets_len = (size_t)n;
        out->rec_len = get32(sl + 40 + RTSE_PEER);
        memcpy(out->rec, sl + RTSE_OFF_REC, out->rec_len);
        close(fd);
        if (f) { /* saves go on in this file, after this slot */
            x400_rtse_record_info info;
            memset(f, 0, sizeof *f);
            snprintf(f->name, sizeof f->name, "%s", name);
            f->seq = seq[k];
            f->written = out->octets_len;
            f->crc = get32(sl + 36 + RTSE_PEER);
            f->exists = 1;
            if (x400_rtse_record_info_get(out->rec, out->rec_len, &info) == X400_OK &&
                info.activity_id_len <= sizeof f->activity) {
                memcpy(f->activity, info.activity_id, info.activity_id_len);
                f->activity_len = info.activity_id_len;
            }
        }
        return 0;
    }
    close(fd);
    free(out->octets);
    out->octets = NULL;
    seterr(err, errlen, "%s/%s: no slot whose record and octets check", s->dir, path);
    return -1;
}
