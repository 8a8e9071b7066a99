/*
 * x400mta: the command line.
 *
 *   x400mta run    -c FILE [flags]      run the MTA (until SIGTERM/SIGINT)
 *   x400mta submit -c FILE --from OR --to OR [...]   queue a message
 *   x400mta queue  -c FILE              the queue, like mailq
 *   x400mta inbox  -c FILE [--tsv] [--show MTSID | --quarantine]
 *   x400mta stats  -c FILE              the running MTA's counters
 *   x400mta check-config -c FILE        validate without starting
 *   x400mta hold|release|retry|delete|bounce -c FILE MTSID   queue control
 *   x400mta sample-config               a commented configuration
 *   x400mta --version
 *
 * doc/mta.md is the user guide.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mta.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: x400mta run    -c FILE [--name N] [--password P] [--gdi GDI] [--node ID]\n"
            "                      [--listen HOST:PORT]... [--spool DIR] [--log FILE|-]\n"
            "                      [--log-level SPEC] [-v]\n"
            "       x400mta submit -c FILE --from ORADDR --to ORADDR [--to ORADDR]...\n"
            "                      [--content-id ID] [--priority normal|urgent|non-urgent]\n"
            "                      [--no-report] [--file PATH|-] [--size N] [--count N]\n"
            "       x400mta queue  -c FILE\n"
            "       x400mta inbox  -c FILE [--tsv] [--show MTSID | --quarantine]\n"
            "       x400mta stats  -c FILE\n"
            "       x400mta check-config -c FILE     validate, start nothing\n"
            "       x400mta hold|release|retry|delete|bounce -c FILE MTSID   queue control\n"
            "                      (retry all; delete and bounce send a non-delivery report)\n"
            "       x400mta sample-config\n"
            "       x400mta --version\n"
            "SPEC: a level for all categories or e.g. service=info,interface=notice,apdu=trace\n"
            "      (levels: off error warning notice info debug trace)\n");
}

static const char *arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "x400mta: %s needs a value\n", argv[*i]);
        exit(2);
    }
    return argv[++*i];
}

/* -c FILE and the [mta] flags, in order (flags override the file).  0, or
 * -1 with the reason in why. */
static int load_into(mta_config *cfg, int argc, char **argv, int first, int *rest, char *why, size_t wlen)
{
    char err[512];
    int i, have_config = 0;
    mta_config_defaults(cfg);
    for (i = first; i < argc; i++)
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            const char *f = arg(argc, argv, &i);
            if (mta_config_load(cfg, f, err, sizeof err) < 0) {
                snprintf(why, wlen, "%s", err);
                return -1;
            }
            have_config = 1;
        }
    if (!have_config) {
        snprintf(why, wlen, "no configuration file: give -c FILE (x400mta sample-config prints one)");
        return -1;
    }
    for (i = first; i < argc; i++) {
        static const char *const keys[] = { "name", "password", "gdi", "node", "listen",
                                            "spool", "log", "log-level", NULL };
        int k;
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "-v")) {
            if (mta_config_set(cfg, "log-level", "service=info,interface=info", err, sizeof err) < 0) {
                snprintf(why, wlen, "-v: %s", err);
                return -1;
            }
            continue;
        }
        for (k = 0; keys[k]; k++)
            if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, keys[k])) break;
        if (!keys[k]) {
            if (rest) {
                rest[i] = 1;
                continue;
            }
            snprintf(why, wlen, "unknown option %s", argv[i]);
            return -1;
        }
        {
            const char *v = arg(argc, argv, &i);
            if (mta_config_set(cfg, keys[k], v, err, sizeof err) < 0) {
                snprintf(why, wlen, "%s: %s", argv[i - 1], err);
                return -1;
            }
        }
    }
    return 0;
}

/* load_into for a command: the reason on stderr, with the command's name. */
static int load(mta_config *cfg, int argc, char **argv, int first, int *rest)
{
    char why[700];
    if (load_into(cfg, argc, argv, first, rest, why, sizeof why) == 0) return 0;
    fprintf(stderr, "x400mta %s: %s\n", argv[1], why);
    return -1;
}

static mta_spool *open_spool_mode(const mta_config *cfg, int mode)
{
    mta_spool *s;
    char err[512];
    if (!cfg->spool[0]) {
        fprintf(stderr, "x400mta: no spool directory configured\n");
        return NULL;
    }
    if (mta_spool_open(&s, cfg->spool, mode, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "x400mta: %s\n", err);
        return NULL;
    }
    return s;
}

/* a tool's view: the journal read for identifiers, nothing changed */
static mta_spool *open_spool(const mta_config *cfg)
{
    return open_spool_mode(cfg, 0);
}

static uint64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static uint8_t *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        size_t r;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) break;
            b = nb;
        }
        r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            *len = n;
            return b;
        }
    }
    free(b);
    return NULL;
}

/* A whole number in lo..hi, or a message naming the option and the value. */
static int num_arg(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (!v[0] || *end || errno || n < lo || n > hi) {
        fprintf(stderr, "x400mta: %s \"%s\": want a whole number %ld..%ld\n", opt, v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

/* An O/R address option: refused (never cut) when it does not fit or does
 * not parse. */
static int addr_arg(const char *opt, const char *v, char *out)
{
    x400_orname tmp;
    x400_diag d;
    size_t n = strlen(v);
    if (!n) {
        fprintf(stderr, "x400mta: %s: empty O/R address\n", opt);
        return -1;
    }
    if (n >= MTA_ADDR_MAX) {
        fprintf(stderr, "x400mta: %s: O/R address of %zu characters, at most %d are accepted\n", opt, n,
                MTA_ADDR_MAX - 1);
        return -1;
    }
    if (x400_orname_parse(v, n, &tmp, &d) < 0) {
        fprintf(stderr, "x400mta: %s %s: %s\n", opt, v, d.text);
        return -1;
    }
    memcpy(out, v, n + 1);
    return 0;
}

/* The content must fit the transfer bound of every next hop (submit-time
 * check; the MTA checks again when it queues). */
static int size_fits(const mta_config *cfg, const mta_spool_hdr *h, size_t len)
{
    for (size_t i = 0; i < h->nrecipient; i++) {
        x400_orname r;
        const mta_peer_config *pc = NULL;
        uint64_t bound = MTA_SPOOL_FILE_MAX;
        if (x400_orname_parse(h->recipient[i], strlen(h->recipient[i]), &r, NULL) < 0) continue;
        if (mta_config_route(cfg, &r, &pc) != 1 && pc && pc->rtse.max_apdu_size < bound)
            bound = pc->rtse.max_apdu_size;
        if ((uint64_t)len + MTA_ENVELOPE_ROOM > bound) {
            fprintf(stderr, "x400mta: content of %zu octets is too long: the transfer bound %s%s is %llu "
                    "octets with the envelope (%u octets kept for it)\n", len, pc ? "towards " : "of the spool",
                    pc ? pc->name : "", (unsigned long long)bound, MTA_ENVELOPE_ROOM);
            return 0;
        }
    }
    return 1;
}

static int cmd_submit(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    int *rest = calloc((size_t)argc + 1, sizeof *rest);
    mta_spool_hdr h;
    mta_spool *s;
    const char *file = NULL;
    long count = 1, size = -1;
    uint8_t *body = NULL;
    size_t len = 0;
    char err[512], name[64];
    int rc = 1;
    if (!cfg || !rest || load(cfg, argc, argv, 2, rest) < 0) goto out;
    memset(&h, 0, sizeof h);
    snprintf(h.kind, sizeof h.kind, "message");
    snprintf(h.priority, sizeof h.priority, "normal");
    h.report_request = 1;
    for (int i = 2; i < argc; i++) {
        if (!rest[i]) continue;
        if (!strcmp(argv[i], "--from")) {
            if (addr_arg("--from", arg(argc, argv, &i), h.originator) < 0) goto out;
        } else if (!strcmp(argv[i], "--to")) {
            if (h.nrecipient == MTA_SPOOL_RECIP_MAX) {
                fprintf(stderr, "x400mta: at most %d recipients\n", MTA_SPOOL_RECIP_MAX);
                goto out;
            }
            if (addr_arg("--to", arg(argc, argv, &i), h.recipient[h.nrecipient]) < 0) goto out;
            h.nrecipient++;
        } else if (!strcmp(argv[i], "--content-id")) {
            const char *v = arg(argc, argv, &i);
            if (strlen(v) > X400_CONTENT_ID_MAX) {
                fprintf(stderr, "x400mta: --content-id \"%s\": longer than %d characters\n", v,
                        X400_CONTENT_ID_MAX);
                goto out;
            }
            snprintf(h.content_id, sizeof h.content_id, "%s", v);
        } else if (!strcmp(argv[i], "--priority")) {
            const char *v = arg(argc, argv, &i);
            if (strcmp(v, "normal") && strcmp(v, "urgent") && strcmp(v, "non-urgent")) {
                fprintf(stderr, "x400mta: priority: normal, urgent or non-urgent\n");
                goto out;
            }
            snprintf(h.priority, sizeof h.priority, "%s", v);
        } else if (!strcmp(argv[i], "--no-report")) {
            h.report_request = 0;
        } else if (!strcmp(argv[i], "--file")) {
            file = arg(argc, argv, &i);
        } else if (!strcmp(argv[i], "--size")) {
            if (num_arg("--size", arg(argc, argv, &i), 0, MTA_SPOOL_FILE_MAX, &size) < 0) goto out;
        } else if (!strcmp(argv[i], "--count")) {
            if (num_arg("--count", arg(argc, argv, &i), 1, 1000000, &count) < 0) goto out;
        } else {
            fprintf(stderr, "x400mta %s: unknown option %s\n", argv[1], argv[i]);
            goto out;
        }
    }
    /* the addresses must parse now, not when the MTA picks them up */
    if (!h.originator[0] || !h.nrecipient) {
        fprintf(stderr, "x400mta: --from and at least one --to are required\n");
        goto out;
    }
    if ((count > 1 && strlen(h.content_id) + 8 > X400_CONTENT_ID_MAX && h.content_id[0])) {
        fprintf(stderr, "x400mta: --count needs a content-id of at most %d characters\n",
                X400_CONTENT_ID_MAX - 8);
        goto out;
    }
    if (size >= 0) {
        body = malloc((size_t)size + 1);
        if (!body) goto out;
        for (long i = 0; i < size; i++) body[i] = (uint8_t)(i % 64 == 63 ? '\n' : 'a' + (i * 7 + i / 64) % 26);
        len = (size_t)size;
    } else {
        FILE *f = !file || !strcmp(file, "-") ? stdin : fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "x400mta: %s: %s\n", file, strerror(errno));
            goto out;
        }
        body = read_all(f, &len);
        if (f != stdin) fclose(f);
        if (!body) {
            fprintf(stderr, "x400mta: %s: %s\n", file ? file : "standard input", strerror(errno ? errno : EIO));
            goto out;
        }
    }
    if (!size_fits(cfg, &h, len)) goto out;
    if (!(s = open_spool(cfg))) goto out;
    {
        char base[X400_CONTENT_ID_MAX + 1];
        snprintf(base, sizeof base, "%s", h.content_id);
        for (long i = 1; i <= count; i++) {
            if (count > 1 && base[0]) {
                char t[64];
                snprintf(t, sizeof t, "%s-%ld", base, i);
                memcpy(h.content_id, t, sizeof h.content_id - 1);
                h.content_id[sizeof h.content_id - 1] = 0;
            }
            h.time_ms = wall_ms();
            h.size = len;
            if (mta_spool_submit(s, &h, body, len, name, err, sizeof err) < 0) {
                fprintf(stderr, "x400mta: %s\n", err);
                mta_spool_close(s);
                goto out;
            }
            if (count == 1) printf("%s\n", name);
        }
        if (count > 1) printf("%ld submitted\n", count);
    }
    mta_spool_close(s);
    rc = 0;
out:
    free(body);
    free(cfg);
    free(rest);
    return rc;
}

static int cmd_queue(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    mta_spool *s;
    char **names = NULL, err[512], *status;
    long n;
    int rc = 1;
    if (!cfg || load(cfg, argc, argv, 2, NULL) < 0 || !(s = open_spool(cfg))) goto out;
    status = mta_spool_read_snapshot(s, "status");
    n = mta_spool_list(s, MTA_SPOOL_QUEUE, &names, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "x400mta: %s\n", err);
    } else {
        printf("%-44s %-10s %9s %-13s %8s %s\n", "MTSID", "peer", "size", "state", "attempts", "next retry");
        for (long i = 0; i < n; i++) {
            mta_spool_hdr h;
            char st[32] = "queued", nx[32] = "-";
            unsigned att = 0;
            if (mta_spool_read(s, MTA_SPOOL_QUEUE, names[i], &h, NULL, NULL, err, sizeof err) < 0) {
                printf("%-44s (unreadable: %s)\n", names[i], err);
                continue;
            }
            if (status) { /* "<name> <state> <attempts> <ms to next retry>" from the MTA */
                size_t nl = strlen(names[i]);
                for (char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                    long long ms;
                    if (!strncmp(p, names[i], nl) && p[nl] == ' ' &&
                        sscanf(p + nl + 1, "%31s %u %lld", st, &att, &ms) == 3) {
                        if (ms > 0) snprintf(nx, sizeof nx, "in %lld s", (ms + 999) / 1000);
                        break;
                    }
                }
            }
            printf("%-44s %-10s %9llu %-13s %8u %s\n", h.mtsid, h.peer, (unsigned long long)h.size, st, att, nx);
        }
        {   /* submissions the MTA has not picked up yet (no MTSID yet) */
            char **sub = NULL;
            long ns = mta_spool_list(s, MTA_SPOOL_SUBMIT, &sub, err, sizeof err);
            for (long i = 0; i < ns; i++) {
                mta_spool_hdr h;
                char hop[64] = "no route";
                if (mta_spool_read(s, MTA_SPOOL_SUBMIT, sub[i], &h, NULL, NULL, err, sizeof err) < 0) {
                    printf("%-44s (unreadable: %s)\n", sub[i], err);
                    continue;
                }
                if (h.nrecipient) {
                    x400_orname r;
                    const mta_peer_config *pc = NULL;
                    if (x400_orname_parse(h.recipient[0], strlen(h.recipient[0]), &r, NULL) == 0) {
                        if (mta_config_route(cfg, &r, &pc) == 1) snprintf(hop, sizeof hop, "local");
                        else if (pc) snprintf(hop, sizeof hop, "%s", pc->name);
                    }
                }
                snprintf(h.mtsid, sizeof h.mtsid, "(submission %s)", sub[i]);
                printf("%-44s %-10s %9llu %-13s %8u %s\n", h.mtsid, hop, (unsigned long long)h.size,
                       "submitted", 0u, "-");
            }
            printf("-- %ld APDU%s queued, %ld submission%s not picked up yet%s\n", n, n == 1 ? "" : "s",
                   ns > 0 ? ns : 0, ns == 1 ? "" : "s",
                   mta_spool_owner(s) > 0 ? "" : " (the MTA is not running)");
            mta_spool_names_free(sub, ns);
        }
        rc = 0;
    }
    mta_spool_names_free(names, n);
    free(status);
    mta_spool_close(s);
out:
    free(cfg);
    return rc;
}

/* `inbox --quarantine`: the received APDUs that did not decode (name,
 * sending MTA, size, MTSID and originator when they could be salvaged, the
 * decoder's diagnostic). */
static int list_quarantine(mta_spool *s, int tsv)
{
    char **names = NULL, err[512];
    long n = mta_spool_list(s, MTA_SPOOL_QUARANTINE, &names, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "x400mta: %s\n", err);
        return 1;
    }
    if (!tsv) printf("%-28s %-8s %9s %-44s %s\n", "quarantined", "from", "size", "MTSID", "why");
    for (long i = 0; i < n; i++) {
        mta_spool_hdr h;
        if (mta_spool_read(s, MTA_SPOOL_QUARANTINE, names[i], &h, NULL, NULL, err, sizeof err) < 0) {
            fprintf(stderr, "x400mta: %s\n", err);
            continue;
        }
        if (tsv)
            printf("%s\t%s\t%s\t%llu\t%s\t%s\t%s\n", h.kind, names[i], h.peer, (unsigned long long)h.size,
                   h.mtsid, h.originator, h.outcome);
        else
            printf("%-28s %-8s %9llu %-44s %s\n", names[i], h.peer, (unsigned long long)h.size,
                   h.mtsid[0] ? h.mtsid : "-", h.outcome);
    }
    if (!tsv) printf("-- %ld quarantined (spool directory quarantine/)\n", n);
    mta_spool_names_free(names, n);
    return 0;
}

static int cmd_inbox(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    int *rest = calloc((size_t)argc + 1, sizeof *rest);
    mta_spool *s;
    char **names = NULL, err[512];
    const char *show = NULL;
    long n;
    int tsv = 0, rc = 1, quarantine = 0;
    if (!cfg || !rest || load(cfg, argc, argv, 2, rest) < 0) goto out;
    for (int i = 2; i < argc; i++) {
        if (!rest[i]) continue;
        if (!strcmp(argv[i], "--tsv")) tsv = 1;
        else if (!strcmp(argv[i], "--quarantine")) quarantine = 1;
        else if (!strcmp(argv[i], "--show")) show = arg(argc, argv, &i);
        else {
            fprintf(stderr, "x400mta %s: unknown option %s\n", argv[1], argv[i]);
            goto out;
        }
    }
    if (!(s = open_spool(cfg))) goto out;
    if (quarantine) {
        rc = list_quarantine(s, tsv);
        mta_spool_close(s);
        goto out;
    }
    if (show) { /* one inbox entry (file name or MTSID): its envelope and content */
        mta_spool_hdr h;
        uint8_t *body = NULL;
        size_t len = 0;
        x400_p1_apdu a;
        x400_diag d;
        char *file = NULL;
        if (mta_spool_read(s, MTA_SPOOL_INBOX, show, &h, NULL, NULL, err, sizeof err) < 0) {
            /* not a file name: the entry with that MTSID (brackets optional) */
            n = mta_spool_list(s, MTA_SPOOL_INBOX, &names, err, sizeof err);
            for (long i = 0; i < n && !file; i++)
                if (mta_spool_read(s, MTA_SPOOL_INBOX, names[i], &h, NULL, NULL, err, sizeof err) == 0 &&
                    (!strcmp(h.mtsid, show) ||
                     (h.mtsid[0] == '[' && !strncmp(h.mtsid + 1, show, strlen(show)) &&
                      !strcmp(h.mtsid + 1 + strlen(show), "]"))))
                    file = strdup(names[i]);
            mta_spool_names_free(names, n);
            names = NULL;
            n = 0;
            if (!file) snprintf(err, sizeof err, "no inbox entry named or with MTSID %s", show);
        }
        if (file) show = file;
        if (mta_spool_read(s, MTA_SPOOL_INBOX, show, &h, &body, &len, err, sizeof err) < 0) {
            fprintf(stderr, "x400mta: %s\n", err);
        } else if (x400_p1_decode(body, len, NULL, NULL, &a, &d) < 0) {
            fprintf(stderr, "x400mta: %s: %s\n", show, d.text);
        } else {
            printf("kind: %s\nmtsid: %s\nfrom-mta: %s\n", h.kind, h.mtsid, h.peer);
            if (a.kind == X400_P1_REPORT) {
                printf("subject: %s\nsubject-content-id: %s\n", h.subject, h.subject_content_id);
                for (unsigned i = 0; i < a.report.n_recip; i++) { /* one line per recipient */
                    const x400_p1_report_recipient *r = &a.report.recip[i];
                    char who[MTA_ADDR_MAX];
                    x400_orname_format(&r->actual, who, sizeof who);
                    if (r->delivered)
                        printf("recipient: %s delivered\n", who);
                    else
                        printf("recipient: %s non-delivered %d/%d%s%s\n", who, r->reason, r->diagnostic,
                               r->supplementary[0] ? " " : "", r->supplementary);
                }
            } else {
                printf("originator: %s\n", h.originator);
                for (size_t i = 0; i < h.nrecipient; i++) printf("recipient: %s\n", h.recipient[i]);
                printf("content-id: %s\npriority: %s\ntrace elements: %u, internal: %u\n"
                       "content: %zu octets\n\n",
                       h.content_id, h.priority, a.env.n_trace, a.env.n_itrace, a.content.len);
                fwrite(a.content.p, 1, a.content.len > 4096 ? 4096 : a.content.len, stdout);
                if (a.content.len > 4096) printf("\n[... %zu more octets]", a.content.len - 4096);
                printf("\n");
            }
            x400_p1_apdu_free(&a);
            rc = 0;
        }
        free(body);
        free(file);
        mta_spool_close(s);
        goto out;
    }
    n = mta_spool_list(s, MTA_SPOOL_INBOX, &names, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "x400mta: %s\n", err);
    } else {
        if (!tsv) printf("%-7s %-44s %-16s %-8s %9s %s\n", "kind", "MTSID", "content-id", "from", "size", "report");
        for (long i = 0; i < n; i++) {
            mta_spool_hdr h;
            if (mta_spool_read(s, MTA_SPOOL_INBOX, names[i], &h, NULL, NULL, err, sizeof err) < 0) {
                fprintf(stderr, "x400mta: %s\n", err);
                continue;
            }
            if (tsv)
                printf("%s\t%s\t%s\t%s\t%llu\t%s\t%s\t%llu\n", h.kind, h.mtsid, h.content_id, h.peer,
                       (unsigned long long)h.size, h.subject_content_id, h.outcome,
                       (unsigned long long)h.time_ms);
            else
                printf("%-7s %-44s %-16s %-8s %9llu %s%s%s\n", h.kind, h.mtsid,
                       h.kind[0] == 'r' ? h.subject_content_id : h.content_id, h.peer,
                       (unsigned long long)h.size, h.outcome, h.outcome[0] ? " " : "", h.subject);
        }
        if (!tsv) printf("-- %ld entr%s (x400mta inbox --show MTSID)\n", n, n == 1 ? "y" : "ies");
        rc = 0;
    }
    mta_spool_names_free(names, n);
    mta_spool_close(s);
out:
    free(cfg);
    free(rest);
    return rc;
}

static int cmd_stats(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    mta_spool *s;
    char *t;
    int rc = 1;
    if (!cfg || load(cfg, argc, argv, 2, NULL) < 0 ||
        !(s = open_spool_mode(cfg, MTA_SPOOL_SNAPSHOTS)))
        goto out;
    t = mta_spool_read_snapshot(s, "stats");
    if (t) {
        long owner = mta_spool_owner(s);
        const char *at = strstr(t, "snapshot_ms=");
        unsigned long long ms = at ? strtoull(at + 12, NULL, 10) : 0;
        char when[64] = "at an unknown time";
        if (ms) {
            time_t sec = (time_t)(ms / 1000);
            struct tm tm;
            gmtime_r(&sec, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(when + strlen(when), sizeof when - strlen(when), " (%llu s ago)",
                     (unsigned long long)(wall_ms() > ms ? (wall_ms() - ms) / 1000 : 0));
        }
        if (owner > 0)
            printf("# snapshot taken %s; MTA running (pid %ld)\n", when, owner);
        else
            printf("# snapshot taken %s; MTA not running: the counters of its last run\n", when);
        fputs(t, stdout);
        rc = 0;
    } else {
        fprintf(stderr, "x400mta: no statistics yet (has the MTA run?)\n");
    }
    free(t);
    mta_spool_close(s);
out:
    free(cfg);
    return rc;
}

/* Queue control (hold, release, retry, delete, bounce MTSID): a request
 * to the running MTA through the spool, its answer printed. */
static int cmd_control(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    int *rest = calloc((size_t)argc + 1, sizeof *rest);
    const char *id = NULL;
    mta_spool *s = NULL;
    char req[96], rep[96], text[X400_MTSID_TEXT_MAX + 32];
    int rc = 1;
    if (!cfg || !rest || load(cfg, argc, argv, 2, rest) < 0) goto out;
    for (int i = 2; i < argc; i++) {
        if (!rest[i]) continue;
        if (argv[i][0] == '-' || id) {
            fprintf(stderr, "x400mta %s: unexpected argument %s\n", argv[1], argv[i]);
            goto out;
        }
        id = argv[i];
    }
    if (!id || !id[0] || strlen(id) >= X400_MTSID_TEXT_MAX || strchr(id, '\n')) {
        fprintf(stderr, "x400mta %s: give the MTSID of a queued APDU (as x400mta queue shows it)%s\n", argv[1],
                strcmp(argv[1], "retry") ? "" : ", or all");
        goto out;
    }
    if (!(s = open_spool(cfg))) goto out;
    if (mta_spool_owner(s) <= 0) {
        fprintf(stderr, "x400mta %s: the MTA is not running (queue control acts on the running MTA)\n", argv[1]);
        goto out;
    }
    snprintf(req, sizeof req, "ctl-%ld-%llu.req", (long)getpid(), (unsigned long long)wall_ms());
    snprintf(rep, sizeof rep, "%.*s.rep", (int)strlen(req) - 4, req);
    snprintf(text, sizeof text, "%s %s\n", argv[1], id);
    if (mta_spool_write_snapshot(s, req, text, strlen(text)) < 0) {
        fprintf(stderr, "x400mta %s: cannot write the request: %s\n", argv[1], strerror(errno));
        goto out;
    }
    for (int k = 0; k < 100; k++) { /* the MTA answers within a loop turn */
        char *a = mta_spool_read_snapshot(s, rep);
        if (a) {
            mta_spool_remove_snapshot(s, rep);
            fputs(a, strncmp(a, "ok", 2) ? stderr : stdout);
            rc = strncmp(a, "ok", 2) ? 1 : 0;
            free(a);
            goto out;
        }
        usleep(50000);
    }
    mta_spool_remove_snapshot(s, req);
    fprintf(stderr, "x400mta %s: no answer from the MTA within 5 s\n", argv[1]);
out:
    if (s) mta_spool_close(s);
    free(cfg);
    free(rest);
    return rc;
}

/* Validate a configuration without starting anything. */
static int cmd_check_config(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    char err[512];
    int rc = 1;
    if (!cfg || load(cfg, argc, argv, 2, NULL) < 0) goto out;
    if (mta_config_check(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "x400mta check-config: %s\n", err);
        goto out;
    }
    printf("configuration OK: MTA %s, %zu peer%s, %zu listen address%s, spool %s\n", cfg->name, cfg->npeers,
           cfg->npeers == 1 ? "" : "s", cfg->nlisten, cfg->nlisten == 1 ? "" : "es", cfg->spool);
    rc = 0;
out:
    free(cfg);
    return rc;
}

/* SIGHUP: the same -c file and flags, read again (errors on stderr and in err). */
struct run_args {
    int argc;
    char **argv;
};

static int reload_config(void *user, mta_config *out, char *err, size_t errlen)
{
    const struct run_args *ra = user;
    return load_into(out, ra->argc, ra->argv, 2, NULL, err, errlen);
}

static int cmd_run(int argc, char **argv)
{
    mta_config *cfg = calloc(1, sizeof *cfg);
    struct run_args ra = { argc, argv };
    char err[512];
    int rc = 1;
    /* A signal that comes while the MTA is still starting -- replaying its
     * journal, loading its received set -- waits for the start: SIGHUP
     * (systemctl reload, a log rotation) would end it by its default
     * action, SIGTERM and SIGINT would stop it the hard way.  Blocked here,
     * they are delivered once mta_run_reloadable has its handlers (a stop
     * then is an orderly one); the threads the spool starts meanwhile keep
     * them blocked, so they go to the thread that runs the loop. */
    mta_block_stop_signals(1);
    if (!cfg || load(cfg, argc, argv, 2, NULL) < 0) goto out;
    if (mta_config_check(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "x400mta run: %s\n", err);
        goto out;
    }
    rc = mta_run_reloadable(cfg, reload_config, &ra);
out:
    free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "run")) return cmd_run(argc, argv);
    if (!strcmp(argv[1], "submit")) return cmd_submit(argc, argv);
    if (!strcmp(argv[1], "queue")) return cmd_queue(argc, argv);
    if (!strcmp(argv[1], "inbox")) return cmd_inbox(argc, argv);
    if (!strcmp(argv[1], "stats")) return cmd_stats(argc, argv);
    if (!strcmp(argv[1], "sample-config")) {
        mta_config_sample(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "check-config")) return cmd_check_config(argc, argv);
    if (!strcmp(argv[1], "hold") || !strcmp(argv[1], "release") || !strcmp(argv[1], "retry") ||
        !strcmp(argv[1], "delete") || !strcmp(argv[1], "bounce"))
        return cmd_control(argc, argv);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("x400mta %s (libx400p1 %s)\n", X400P1_VERSION, x400_version());
        return 0;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "x400mta: unknown %s \"%s\" (x400mta --help lists them)\n",
            argv[1][0] == '-' ? "option" : "command", argv[1]);
    return 2;
}
