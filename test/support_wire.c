/* tshark-based wire check used by the Check suites (see wire.h); the
 * recording itself (x400t_wire_add, ...) is in support_pair.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wire.h"
#include "x400t.h"

static int write_pcap(const x400t_wire *w, const char *name, char *pcap, size_t plen)
{
    char dir[1024], txt[1200], cmd[4096];
    const char *bindir = x400t_bindir();
    FILE *f;
    snprintf(dir, sizeof dir, "%s/wire", bindir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
    snprintf(txt, sizeof txt, "%s/%s.txt", dir, name);
    snprintf(pcap, plen, "%s/%s.pcapng", dir, name);
    f = fopen(txt, "w");
    if (!f) return -1;
    for (size_t i = 0; i < w->n; i++) {
        if (w->rec[i].from_initiator > 1) continue; /* incomplete tail */
        fputs(w->rec[i].from_initiator ? "< " : "> ", f);
        for (size_t j = 0; j < w->rec[i].len; j++) fprintf(f, "%02x", w->rec[i].p[j]);
        fputc('\n', f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "text2pcap -q -r '^(?<dir>[<>])\\s(?<data>[0-9a-fA-F]+)$' -D "
             "-T 1025,102 -4 192.0.2.1,192.0.2.2 '%s' '%s' >'%s.log' 2>&1", txt, pcap, pcap);
    /* text2pcap writes a line of dashes to stderr even with -q: kept in
     * <name>.pcapng.log, which the failure message names */
    return system(cmd) == 0 ? 0 : -1;
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t len = 0, cap = 0;
    int c;
    if (!p) return NULL;
    while ((c = fgetc(p)) != EOF) {
        if (len + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            out = realloc(out, cap);
            if (!out) abort();
        }
        out[len++] = (char)c;
    }
    if (!out) out = calloc(1, 1);
    else out[len] = '\0';
    if (pclose(p) != 0) { free(out); return NULL; }
    return out;
}

/* What x400t_wire_check flags: malformed, an expert error, a TPKT that is
 * no COTP. */
#define FAILURE_FILTER "_ws.malformed || _ws.expert.severity >= 0x00600000 || (tpkt && !cotp)"

int x400t_wire_check(const x400t_wire *w, const char *name,
                     const char *extra_opts, char *err, size_t errlen)
{
    char pcap[1300] = "", cmd[4096];
    char *out;
    if (write_pcap(w, name, pcap, sizeof pcap) != 0) {
        snprintf(err, errlen, "text2pcap failed for %s (see %s.log)", name, pcap);
        return -1;
    }
    snprintf(cmd, sizeof cmd,
             "tshark -n -r '%s' -d tcp.port==102,tpkt %s -Y '" FAILURE_FILTER "' 2>/dev/null",
             pcap, extra_opts ? extra_opts : "");
    out = run(cmd);
    if (!out) {
        snprintf(err, errlen, "tshark failed to run on %s", pcap);
        return -1;
    }
    if (out[0]) {
        snprintf(err, errlen, "tshark flagged %s:\n%.3000s", pcap, out);
        free(out);
        return -1;
    }
    free(out);
    err[0] = '\0';
    return 0;
}

char *x400t_wire_fields(const x400t_wire *w, const char *name,
                        const char *extra_opts, const char *fields)
{
    char pcap[1300] = "", cmd[4096];
    if (write_pcap(w, name, pcap, sizeof pcap) != 0) return NULL;
    snprintf(cmd, sizeof cmd, "tshark -n -r '%s' -d tcp.port==102,tpkt %s -T fields %s 2>/dev/null",
             pcap, extra_opts ? extra_opts : "", fields);
    return run(cmd);
}

/* The frame counts of tshark's io,stat table with one interval: the row
 * "| 0.000 <> 0.000 |  F1 |  B1 |  F2 |  B2 | ..." (frames, bytes per
 * filter).  0, or -1 (no such row, fewer columns). */
static int io_stat_frames(const char *out, long *frames, size_t n)
{
    const char *row = NULL, *p = out;
    while ((p = strstr(p, "<>")) != NULL) row = p++;   /* the last row with an interval */
    if (!row) return -1;
    p = strchr(row, '|');                  /* after the interval */
    for (size_t k = 0; k < n; k++) {
        char *end;
        if (!p) return -1;
        frames[k] = strtol(p + 1, &end, 10);
        if (end == p + 1) return -1;
        p = strchr(end, '|');              /* the bytes column */
        p = p ? strchr(p + 1, '|') : NULL; /* the next filter's frames */
    }
    return 0;
}

int x400t_wire_expect_fields(const x400t_wire *w, const char *name, const char *extra_opts,
                             const char *const *expect, size_t n, const char *fields, char **fields_out,
                             char *err, size_t errlen)
{
    char pcap[1300] = "", cmd[8192];
    long frames[17];
    size_t len;
    char *out;
    if (n + 1 > sizeof frames / sizeof frames[0]) {
        snprintf(err, errlen, "x400t_wire_expect: at most %zu filters", sizeof frames / sizeof frames[0] - 1);
        return -1;
    }
    if (write_pcap(w, name, pcap, sizeof pcap) != 0) {
        snprintf(err, errlen, "text2pcap failed for %s (see %s.log)", name, pcap);
        return -1;
    }
    if (fields_out) *fields_out = NULL;
    /* with fields: each frame's line, then the io,stat table; else the table alone (-q) */
    len = (size_t)snprintf(cmd, sizeof cmd, "tshark -n -r '%s' -d tcp.port==102,tpkt %s %s%s -z 'io,stat,0," FAILURE_FILTER,
                           pcap, extra_opts ? extra_opts : "", fields ? "-T fields " : "-q", fields ? fields : "");
    for (size_t k = 0; k < n && len < sizeof cmd; k++) {
        if (strchr(expect[k], ',') || strchr(expect[k], '\'')) {
            snprintf(err, errlen, "x400t_wire_expect: filter '%s' has a comma or a quote", expect[k]);
            return -1;
        }
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, ",%s", expect[k]);
    }
    if (len >= sizeof cmd || (size_t)snprintf(cmd + len, sizeof cmd - len, "' 2>/dev/null") >= sizeof cmd - len) {
        snprintf(err, errlen, "x400t_wire_expect: command too long");
        return -1;
    }
    out = run(cmd);
    if (!out || io_stat_frames(out, frames, n + 1) != 0) {
        snprintf(err, errlen, "tshark failed on %s (io,stat):\n%.2000s", pcap, out ? out : "");
        free(out);
        return -1;
    }
    if (fields_out) {
        char *table = strstr(out, "\n====");
        if (table) table[1] = '\0';   /* the frames' lines only */
        *fields_out = out;
    } else {
        free(out);
    }
    if (frames[0] != 0) {   /* the check itself, for tshark's complaint */
        if (x400t_wire_check(w, name, extra_opts, err, errlen) == 0)
            snprintf(err, errlen, "%ld frames of %s match the failure filter", frames[0], pcap);
        return -1;
    }
    for (size_t k = 0; k < n; k++)
        if (frames[k + 1] == 0) {
            snprintf(err, errlen, "tshark: no frame of %s matches '%s'", pcap, expect[k]);
            return -1;
        }
    err[0] = '\0';
    return 0;
}

int x400t_wire_expect(const x400t_wire *w, const char *name, const char *extra_opts,
                      const char *const *expect, size_t n, char *err, size_t errlen)
{
    return x400t_wire_expect_fields(w, name, extra_opts, expect, n, NULL, NULL, err, errlen);
}
