/* tshark-based wire check used by the Check suites (see wire.h); the
 * recording itself (x400t_wire_add, ...) is in support_pair.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "wire.h"
#include "x400t.h"

/* ---- pcapng, written here (it was text2pcap: a process start for each
 * capture, a fifth of the CPU time of the suites that check the wire) ---- */

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

/* RFC 1071 checksum over a, then b (a: even length). */
static unsigned inet_sum(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < alen; i += 2) sum += (uint32_t)a[i] << 8 | a[i + 1];
    for (size_t i = 0; i < blen; i += 2) sum += (uint32_t)b[i] << 8 | (i + 1 < blen ? b[i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}

/* One block: type, total length, body (padded to 4 octets), total length
 * again; pcapng in host byte order (the section header's magic says so). */
static int put_block(FILE *f, uint32_t type, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     const uint8_t *c, size_t clen)
{
    static const uint8_t zero[4];
    size_t pad = (4 - (alen + blen + clen) % 4) % 4;
    uint32_t total = (uint32_t)(12 + alen + blen + pad + clen);
    int ok = fwrite(&type, 4, 1, f) == 1 && fwrite(&total, 4, 1, f) == 1;
    ok = ok && (!alen || fwrite(a, 1, alen, f) == alen) && (!blen || fwrite(b, 1, blen, f) == blen);
    ok = ok && (!pad || fwrite(zero, 1, pad, f) == pad) && (!clen || fwrite(c, 1, clen, f) == clen);
    return ok && fwrite(&total, 4, 1, f) == 1 ? 0 : -1;
}

/* The recording as text2pcap -D -T 1025,102 -4 192.0.2.1,192.0.2.2 made
 * it from `< hex` / `> hex` lines: one Ethernet + IPv4 + TCP frame per
 * TPKT, the initiator (<) at 192.0.2.1 port 1025, the responder at
 * 192.0.2.2 port 102, sequence and acknowledgement numbers counting each
 * side's octets from 0, one microsecond apart; the direction (inbound: <)
 * in each packet's flags. */
static int write_pcapng(const x400t_wire *w, const char *path)
{
    FILE *f = fopen(path, "wb");
    uint32_t seq[2] = { 0, 0 }; /* [1]: the initiator's */
    uint64_t t = (uint64_t)time(NULL) * 1000000u;
    int rc = 0;
    if (!f) return -1;
    {   /* section header: byte-order magic, version 1.0, length unknown */
        uint32_t bom = 0x1A2B3C4D;
        uint16_t ver[2] = { 1, 0 };
        int64_t len = -1;
        uint8_t b[16];
        memcpy(b, &bom, 4);
        memcpy(b + 4, ver, 4);
        memcpy(b + 8, &len, 8);
        rc |= put_block(f, 0x0A0D0D0A, b, sizeof b, NULL, 0, NULL, 0);
    }
    {   /* interface: Ethernet, no snap length */
        uint16_t lt[2] = { 1, 0 };
        uint32_t snap = 0;
        uint8_t b[8];
        memcpy(b, lt, 4);
        memcpy(b + 4, &snap, 4);
        rc |= put_block(f, 1, b, sizeof b, NULL, 0, NULL, 0);
    }
    for (size_t i = 0; i < w->n && !rc; i++) {
        const struct x400t_wire_rec *r = &w->rec[i];
        int ini = r->from_initiator;
        static const uint8_t mac_ini[6] = { 0x20, 0x53, 0x45, 0x4e, 0x44, 0x00 }; /* " SEND" */
        static const uint8_t mac_rsp[6] = { 0x20, 0x52, 0x45, 0x43, 0x56, 0x00 }; /* " RECV" */
        uint8_t hdr[20 + 14 + 20 + 20], pseudo[12], opt[12];
        uint8_t *eth = hdr + 20, *ip = eth + 14, *tcp = ip + 20;
        uint32_t caplen = (uint32_t)(14 + 20 + 20 + r->len), tl, th, flags = ini ? 1 : 2;
        uint16_t code[2] = { 2, 4 }, end[2] = { 0, 0 };
        if (ini > 1) continue; /* incomplete tail */
        t++;
        th = (uint32_t)(t >> 32);
        tl = (uint32_t)t;
        memset(hdr, 0, sizeof hdr);
        /* enhanced packet block: interface 0, time, lengths */
        memcpy(hdr + 4, &th, 4);
        memcpy(hdr + 8, &tl, 4);
        memcpy(hdr + 12, &caplen, 4);
        memcpy(hdr + 16, &caplen, 4);
        memcpy(eth, ini ? mac_rsp : mac_ini, 6);
        memcpy(eth + 6, ini ? mac_ini : mac_rsp, 6);
        put16(eth + 12, 0x0800);
        ip[0] = 0x45;
        put16(ip + 2, (unsigned)(20 + 20 + r->len));
        put16(ip + 4, 0x1234);
        ip[8] = 255;
        ip[9] = 6;
        put32(ip + 12, ini ? 0xC0000201u : 0xC0000202u);
        put32(ip + 16, ini ? 0xC0000202u : 0xC0000201u);
        put16(ip + 10, inet_sum(ip, 20, NULL, 0));
        put16(tcp, ini ? 1025 : 102);
        put16(tcp + 2, ini ? 102 : 1025);
        put32(tcp + 4, seq[ini]);
        put32(tcp + 8, seq[!ini]);
        tcp[12] = 5 << 4;
        tcp[13] = 0x10; /* ACK */
        put16(tcp + 14, 8192);
        memcpy(pseudo, ip + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = 6;
        put16(pseudo + 10, (unsigned)(20 + r->len));
        {   /* the TCP checksum: pseudo header, header, payload */
            uint8_t th2[12 + 20];
            memcpy(th2, pseudo, 12);
            memcpy(th2 + 12, tcp, 20);
            put16(tcp + 16, inet_sum(th2, sizeof th2, r->p, r->len));
        }
        seq[ini] += (uint32_t)r->len;
        /* option epb_flags (direction), end of options */
        memcpy(opt, code, 4);
        memcpy(opt + 4, &flags, 4);
        memcpy(opt + 8, end, 4);
        rc |= put_block(f, 6, hdr, sizeof hdr, r->p, r->len, opt, sizeof opt);
    }
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* The recording as build/<variant>/test/wire/<name>.pcapng, and the same
 * records as <name>.txt: one TPKT a line in hex, `<` from the initiator,
 * as test/interop/ keeps them (text2pcap's input format). */
static int write_pcap(const x400t_wire *w, const char *name, char *pcap, size_t plen)
{
    char dir[1024], txt[1200];
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
    if (fclose(f) != 0) return -1;
    return write_pcapng(w, pcap);
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
        snprintf(err, errlen, "cannot write %s", pcap);
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
        snprintf(err, errlen, "cannot write %s", pcap);
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
