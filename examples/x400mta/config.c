/*
 * x400mta -- the configuration file and the command-line settings.
 *
 * Format (doc/mta-config.md): INI-like, one "key = value" per line, whole-
 * line comments starting with '#', an [mta] section and one [peer NAME]
 * section per peer MTA.  A value may be put in double quotes to keep
 * leading or trailing spaces (an O/R prefix ending in the " " ADMD).
 * '#' inside a value is data (O/R text uses "A#=").
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mta.h"

#define LINE_MAX_LEN 4096

/* ------------------------------------------------------------ helpers */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return 0;
    return *a == *b;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Unsigned decimal in [lo, hi]. */
static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    unsigned long long x = 0;
    if (!*v) return -1;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        x = x * 10 + (unsigned)(*p - '0');
        if (x > UINT32_MAX) return -1;
    }
    if (x < lo || x > hi) return -1;
    *out = (uint32_t)x;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "hex:..." into out[cap]; -1 on odd length, bad digit or overflow. */
static int parse_hex(const char *h, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(h), i;
    if (n % 2 || n / 2 > cap) return -1;
    for (i = 0; i < n / 2; i++) {
        int a = hexval((unsigned char)h[2 * i]), b = hexval((unsigned char)h[2 * i + 1]);
        if (a < 0 || b < 0) return -1;
        out[i] = (uint8_t)(a << 4 | b);
    }
    *len = n / 2;
    return 0;
}

static int is_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
    return 1;
}

/* A simple password: printable text or "hex:<octets>". */
static int parse_password(const char *v, uint8_t *out, size_t *len, char *msg, size_t mlen)
{
    if (strncmp(v, "hex:", 4) == 0) {
        if (parse_hex(v + 4, out, X400_PASSWORD_MAX, len) < 0)
            return fail(msg, mlen, "bad password: \"hex:\" needs an even number of hex digits, "
                        "at most %d octets", X400_PASSWORD_MAX);
        return 0;
    }
    if (!is_printable(v))
        return fail(msg, mlen, "bad password: only printable characters (or \"hex:...\")");
    if (strlen(v) > X400_PASSWORD_MAX)
        return fail(msg, mlen, "bad password: longer than %d characters", X400_PASSWORD_MAX);
    memcpy(out, v, strlen(v));
    *len = strlen(v);
    return 0;
}

/* MTAName: IA5String 1..32 (X.411 12.2.1.1.1.9), printable here. */
static int parse_mta_name(const char *v, char *out, const char *what, char *msg, size_t mlen)
{
    if (!*v) return fail(msg, mlen, "%s is empty", what);
    if (!is_printable(v)) return fail(msg, mlen, "%s has a non-printable character", what);
    if (strlen(v) > X400_MTA_NAME_MAX)
        return fail(msg, mlen, "%s \"%s\" is longer than %d characters", what, v, X400_MTA_NAME_MAX);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

/* A selector: text (x400_selector_set: the octets of the string) or
 * "hex:<octets>" for binary selectors. */
static int parse_selector(const char *v, x400_selector *sel, char *msg, size_t mlen)
{
    if (strncmp(v, "hex:", 4) == 0) {
        x400_selector s;
        if (parse_hex(v + 4, s.value, sizeof s.value, &s.len) < 0)
            return fail(msg, mlen, "bad selector: \"hex:\" needs an even number of hex digits, "
                        "at most %d octets", X400_SELECTOR_MAX);
        *sel = s;
        return 0;
    }
    if (!is_printable(v)) return fail(msg, mlen, "bad selector: not printable (use \"hex:...\")");
    if (x400_selector_set(sel, v) != X400_OK)
        return fail(msg, mlen, "bad selector: longer than %d octets", X400_SELECTOR_MAX);
    return 0;
}

/* Host name (letters, digits, '-', '.', '_'; labels of 1..63) or IP literal. */
static int host_ok(const char *h)
{
    size_t n = strlen(h), label = 0;
    unsigned char buf[16];
    if (n == 0 || n > 253) return 0;
    if (strchr(h, ':')) return inet_pton(AF_INET6, h, buf) == 1;
    for (const char *p = h; *p; p++) {
        if (*p == '.') {
            if (label == 0) return 0;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
        if (++label > 63) return 0;
    }
    return 1;
}

static int port_ok(const char *p)
{
    uint32_t v;
    return parse_u32(p, 1, 65535, &v) == 0;
}

/* "host:port", "[v6]:port" or "*:port". */
static int parse_listen(const char *v, char *msg, size_t mlen)
{
    char host[MTA_HOST_MAX + 1];
    const char *port;
    if (v[0] == '[') {
        const char *e = strchr(v, ']');
        unsigned char buf[16];
        if (!e || e[1] != ':' || (size_t)(e - v - 1) > MTA_HOST_MAX)
            return fail(msg, mlen, "bad listen address \"%s\": want [IPv6]:port", v);
        memcpy(host, v + 1, (size_t)(e - v - 1));
        host[e - v - 1] = 0;
        if (inet_pton(AF_INET6, host, buf) != 1)
            return fail(msg, mlen, "bad listen address \"%s\": \"%s\" is not an IPv6 address", v, host);
        port = e + 2;
    } else {
        const char *c = strrchr(v, ':');
        if (!c || (size_t)(c - v) > MTA_HOST_MAX)
            return fail(msg, mlen, "bad listen address \"%s\": want host:port, [IPv6]:port or *:port", v);
        memcpy(host, v, (size_t)(c - v));
        host[c - v] = 0;
        if (strchr(host, ':'))
            return fail(msg, mlen, "bad listen address \"%s\": write an IPv6 address as [addr]:port", v);
        if (strcmp(host, "*") != 0 && !host_ok(host))
            return fail(msg, mlen, "bad listen address \"%s\": bad host \"%s\"", v, host);
        port = c + 1;
    }
    if (!port_ok(port)) return fail(msg, mlen, "bad listen address \"%s\": port must be 1..65535", v);
    return 0;
}

/* An O/R address prefix in the library's text form. */
static int parse_prefix(const char *v, x400_orname *out, char *msg, size_t mlen)
{
    x400_diag d;
    memset(&d, 0, sizeof d);
    if (!*v) return fail(msg, mlen, "empty O/R address prefix");
    if (strlen(v) >= MTA_ROUTE_MAX)
        return fail(msg, mlen, "O/R address prefix longer than %d characters", MTA_ROUTE_MAX - 1);
    if (x400_orname_parse(v, strlen(v), out, &d) != X400_OK)
        return fail(msg, mlen, "bad O/R address prefix \"%s\": %s", v, d.text[0] ? d.text : "syntax");
    return 0;
}

static int add_prefix(char list[][MTA_ROUTE_MAX], size_t *n, const char *v, char *msg, size_t mlen)
{
    x400_orname o;
    if (parse_prefix(v, &o, msg, mlen) < 0) return -1;
    if (*n >= MTA_MAX_ROUTES)
        return fail(msg, mlen, "too many O/R address prefixes (at most %d)", MTA_MAX_ROUTES);
    memcpy(list[*n], v, strlen(v) + 1);
    (*n)++;
    return 0;
}

/* "C=XX;A=ADMD;P=PRMD" (A#= / P#= for NumericString) into a GDI; `key`
 * names the setting in the messages ("gdi", a peer's "domain"). */
static int parse_gdi(const char *key, const char *v, x400_gdi *gdi, char *msg, size_t mlen)
{
    x400_orname o, only;
    x400_gdi g;
    x400_diag d;
    memset(&d, 0, sizeof d);
    if (x400_orname_parse(v, strlen(v), &o, &d) != X400_OK)
        return fail(msg, mlen, "bad %s \"%s\": %s", key, v, d.text[0] ? d.text : "syntax");
    x400_orname_init(&only);
    memcpy(only.country, o.country, sizeof only.country);
    memcpy(only.admd, o.admd, sizeof only.admd);
    only.admd_present = o.admd_present;
    only.admd_numeric = o.admd_numeric;
    memcpy(only.prmd, o.prmd, sizeof only.prmd);
    only.prmd_numeric = o.prmd_numeric;
    if (!x400_orname_equal(&o, &only))
        return fail(msg, mlen, "bad %s \"%s\": only C, A and P may be given", key, v);
    if (!o.country[0] || !o.admd_present)
        return fail(msg, mlen, "bad %s \"%s\": C and A are required (A= with a space for none)", key, v);
    memset(&g, 0, sizeof g);
    memcpy(g.country, o.country, sizeof g.country);
    memcpy(g.admd, o.admd, sizeof g.admd);
    memcpy(g.prmd, o.prmd, sizeof g.prmd);
    g.admd_numeric = o.admd_numeric;
    g.prmd_numeric = o.prmd_numeric;
    if (x400_gdi_validate(&g, &d) != X400_OK)
        return fail(msg, mlen, "bad %s \"%s\": %s", key, v, d.text[0] ? d.text : "invalid");
    *gdi = g;
    return 0;
}

/* The GDI as an O/R prefix (the default local prefix). */
static void gdi_prefix(const x400_gdi *g, char *buf, size_t cap)
{
    if (g->prmd[0])
        snprintf(buf, cap, "C=%s;A%s=%s;P%s=%s", g->country, g->admd_numeric ? "#" : "", g->admd,
                 g->prmd_numeric ? "#" : "", g->prmd);
    else
        snprintf(buf, cap, "C=%s;A%s=%s", g->country, g->admd_numeric ? "#" : "", g->admd);
}

static const char *const level_names[] = { "error", "warning", "notice", "info", "debug", "trace" };
static const char *const cat_names[] = { "service", "interface", "apdu" };

static int parse_level(const char *v, size_t n, int *out)
{
    if (n == 3 && strncmp(v, "off", 3) == 0) {
        *out = -1;
        return 0;
    }
    for (int i = 0; i < 6; i++)
        if (strlen(level_names[i]) == n && strncmp(v, level_names[i], n) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

/* "info" (every category) or "service=info,interface=notice,apdu=trace". */
static int parse_log_levels(const char *v, int level[3], char *msg, size_t mlen)
{
    int lv[3] = { level[0], level[1], level[2] }, one;
    const char *p = v;
    if (!strchr(v, '=')) {
        if (parse_level(v, strlen(v), &one) < 0)
            return fail(msg, mlen, "bad log level \"%s\": want error, warning, notice, info, debug, "
                        "trace or off", v);
        level[0] = level[1] = level[2] = one;
        return 0;
    }
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        int c, found = -1;
        while (*p == ' ') p++;
        if (!eq) return fail(msg, mlen, "bad log-level \"%s\": want category=level, ...", v);
        for (c = 0; c < 3; c++) {
            size_t kl = (size_t)(eq - p);
            while (kl && p[kl - 1] == ' ') kl--;
            if (strlen(cat_names[c]) == kl && strncmp(p, cat_names[c], kl) == 0) found = c;
        }
        if (found < 0)
            return fail(msg, mlen, "bad log-level \"%s\": categories are service, interface, apdu", v);
        {
            const char *lvs = eq + 1;
            size_t ln;
            while (*lvs == ' ') lvs++;
            ln = (size_t)(end - lvs);
            while (ln && lvs[ln - 1] == ' ') ln--;
            if (parse_level(lvs, ln, &lv[found]) < 0)
                return fail(msg, mlen, "bad log-level \"%s\": levels are error, warning, notice, "
                            "info, debug, trace, off", v);
        }
        p = comma ? comma + 1 : end;
    }
    memcpy(level, lv, sizeof lv);
    return 0;
}

static int parse_onoff(const char *v, int *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------ defaults */

void mta_peer_defaults(mta_peer_config *p)
{
    memset(p, 0, sizeof *p);
    memcpy(p->port, "102", 4);
    p->family = MTA_FAMILY_ANY;
    p->mode = X400_MODE_NORMAL;
    x400_rtse_config_default(&p->rtse);
    p->lifetime_s = 300;
    p->disconnect_s = 120;
    p->threshold = 50;
    p->max_assocs = 4;
    p->max_open_retries = 144;
    p->open_interval_s = 600;
    p->max_transfer_retries = 2;
    p->transfer_interval_s = 120;
    p->expedited = 0;
}

void mta_config_defaults(mta_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level[MTA_LOG_SERVICE] = X400_LOG_INFO;
    cfg->log_level[MTA_LOG_INTERFACE] = X400_LOG_NOTICE;
    cfg->log_level[MTA_LOG_APDU] = -1;
    cfg->commit_delay_ms = 0;
    cfg->lim.max_connections = 4096;
    cfg->lim.reserved_outbound = 64;
    cfg->lim.max_unbound = 256;
    cfg->lim.max_unbound_per_source = 8;
    cfg->lim.bind_timeout_s = 30;
    cfg->lim.bind_backoff_max_s = 60;
    cfg->lim.garbage_log_lines = 5;
    cfg->lim.garbage_log_interval_s = 60;
}

/* Peers that did not give our-name / our-password follow the [mta] ones. */
static void sync_peer_defaults(mta_config *cfg)
{
    for (size_t i = 0; i < cfg->npeers; i++) {
        mta_peer_config *p = &cfg->peers[i];
        if (!p->our_name_set) memcpy(p->our_name, cfg->name, sizeof p->our_name);
        if (!p->our_password_set) {
            memcpy(p->our_password, cfg->password, cfg->password_len);
            p->our_password_len = cfg->password_len;
        }
    }
}

/* ------------------------------------------------------------ keys */

/* A numeric key: its name, bounds and where it goes. */
typedef struct num_key {
    const char *key;
    uint32_t lo, hi;
    size_t off;        /* offset in the structure the table is for */
} num_key;

/* Table lookup of a numeric key into `base`: 0 set, -1 bad value (msg),
 * 1 not in the table. */
static int set_num_key(const num_key *t, size_t n, void *base, const char *k, const char *v,
                       char *msg, size_t mlen)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        if (strcmp(k, t[i].key)) continue;
        if (parse_u32(v, t[i].lo, t[i].hi, &u) < 0)
            return fail(msg, mlen, "bad %s \"%s\": a number %lu..%lu", k, v, (unsigned long)t[i].lo,
                        (unsigned long)t[i].hi);
        memcpy((char *)base + t[i].off, &u, sizeof u);
        return 0;
    }
    return 1;
}

/* [mta] keys containing hostile or broken peers (mta_limits). */
static const num_key limit_nums[] = {
    { "max-connections", 16, 1000000, offsetof(mta_limits, max_connections) },
    { "reserved-outbound", 0, 1000000, offsetof(mta_limits, reserved_outbound) },
    { "max-unbound", 1, 1000000, offsetof(mta_limits, max_unbound) },
    { "max-unbound-per-source", 1, 1000000, offsetof(mta_limits, max_unbound_per_source) },
    { "bind-timeout", 1, 3600, offsetof(mta_limits, bind_timeout_s) },
    { "bind-backoff-max", 0, 86400, offsetof(mta_limits, bind_backoff_max_s) },
    { "garbage-log-lines", 0, 1000000, offsetof(mta_limits, garbage_log_lines) },
    { "garbage-log-interval", 1, 86400, offsetof(mta_limits, garbage_log_interval_s) },
};

static int set_limit_key(mta_limits *l, const char *k, const char *v, char *msg, size_t mlen)
{
    int rv = set_num_key(limit_nums, sizeof limit_nums / sizeof limit_nums[0], l, k, v, msg, mlen);
    return rv <= 0 ? rv : fail(msg, mlen, "unknown key \"%s\" in [mta]", k);
}

static int set_mta_key(mta_config *cfg, const char *k, const char *v, char *msg, size_t mlen)
{
    uint32_t u;
    if (!strcmp(k, "name")) {
        if (parse_mta_name(v, cfg->name, "name", msg, mlen) < 0) return -1;
        sync_peer_defaults(cfg);
    } else if (!strcmp(k, "password")) {
        if (parse_password(v, cfg->password, &cfg->password_len, msg, mlen) < 0) return -1;
        sync_peer_defaults(cfg);
    } else if (!strcmp(k, "gdi")) {
        return parse_gdi("gdi", v, &cfg->gdi, msg, mlen);
    } else if (!strcmp(k, "node")) {
        size_t n = strlen(v);
        if (n < 1 || n > X400_MTSID_NODE_MAX)
            return fail(msg, mlen, "bad node \"%s\": 1..%d of A-Z a-z 0-9", v, X400_MTSID_NODE_MAX);
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)v[i]) || (unsigned char)v[i] > 0x7e)
                return fail(msg, mlen, "bad node \"%s\": 1..%d of A-Z a-z 0-9", v, X400_MTSID_NODE_MAX);
        memcpy(cfg->node, v, n + 1);
    } else if (!strcmp(k, "listen")) {
        if (strlen(v) >= sizeof cfg->listen[0])
            return fail(msg, mlen, "listen address too long");
        if (parse_listen(v, msg, mlen) < 0) return -1;
        if (cfg->nlisten >= MTA_MAX_LISTEN)
            return fail(msg, mlen, "too many listen addresses (at most %d)", MTA_MAX_LISTEN);
        memcpy(cfg->listen[cfg->nlisten++], v, strlen(v) + 1);
    } else if (!strcmp(k, "spool")) {
        if (!*v) return fail(msg, mlen, "spool is empty");
        if (copy_str(cfg->spool, sizeof cfg->spool, v) < 0)
            return fail(msg, mlen, "spool path longer than %d", MTA_PATH_MAX - 1);
    } else if (!strcmp(k, "local")) {
        return add_prefix(cfg->local, &cfg->nlocal, v, msg, mlen);
    } else if (!strcmp(k, "log")) {
        if (copy_str(cfg->log_path, sizeof cfg->log_path, v) < 0)
            return fail(msg, mlen, "log path longer than %d", MTA_PATH_MAX - 1);
    } else if (!strcmp(k, "log-level")) {
        return parse_log_levels(v, cfg->log_level, msg, mlen);
    } else if (!strcmp(k, "commit-delay-ms")) {
        if (parse_u32(v, 0, 10000, &u) < 0)
            return fail(msg, mlen, "bad commit-delay-ms \"%s\": 0..10000", v);
        cfg->commit_delay_ms = u;
    } else if (!strcmp(k, "tcp-fast-open")) {
        if (parse_onoff(v, &cfg->tcp_fast_open) < 0)
            return fail(msg, mlen, "bad tcp-fast-open \"%s\": yes or no", v);
    } else {
        return set_limit_key(&cfg->lim, k, v, msg, mlen);
    }
    return 0;
}

static const num_key peer_nums[] = {
    { "checkpoint-size", 0, X400_RTSE_MAX_CHECKPOINT_KIB,
      offsetof(mta_peer_config, rtse) + offsetof(x400_rtse_config, checkpoint_size_kib) },
    { "window", 1, X400_RTSE_MAX_WINDOW,
      offsetof(mta_peer_config, rtse) + offsetof(x400_rtse_config, window_size) },
    { "recovery-timeout", 0, 86400,
      offsetof(mta_peer_config, rtse) + offsetof(x400_rtse_config, recovery_timeout_s) },
    { "lifetime", 0, 86400, offsetof(mta_peer_config, lifetime_s) },
    { "disconnect-timer", 1, 3600, offsetof(mta_peer_config, disconnect_s) },
    { "threshold", 1, 1000000, offsetof(mta_peer_config, threshold) },
    { "max-associations", 1, 64, offsetof(mta_peer_config, max_assocs) },
    { "max-open-retries", 0, 1000000, offsetof(mta_peer_config, max_open_retries) },
    { "open-interval", 1, 86400, offsetof(mta_peer_config, open_interval_s) },
    { "max-transfer-retries", 0, 1000, offsetof(mta_peer_config, max_transfer_retries) },
    { "transfer-interval", 1, 86400, offsetof(mta_peer_config, transfer_interval_s) },
};

/* [peer] keys whose value is one of a few words, each stored as an int
 * (the enum and unsigned fields below are int-sized: asserted); off2:
 * a second field that gets the same value (mode: the RTSE's X.410 mode). */
typedef struct word_val { const char *word; int val; } word_val;
typedef struct word_key {
    const char *key;
    size_t off, off2;              /* off2 0: none (offset 0 is the peer's name) */
    word_val w[5];                 /* ends at a NULL word */
    const char *want;              /* the words, for the diagnostic */
} word_key;
#define PEER_OFF(f) offsetof(mta_peer_config, f)
#define RTSE_OFF(f) (offsetof(mta_peer_config, rtse) + offsetof(x400_rtse_config, f))
_Static_assert(sizeof(mta_family) == sizeof(int) && sizeof(x400_mode) == sizeof(int) &&
               sizeof(unsigned) == sizeof(int), "word keys store ints");
_Static_assert(X400_MODE_NORMAL == 0 && X400_MODE_X410 == 1, "mode's value is the RTSE's x410_mode");
static const word_key peer_words[] = {
    { "family", PEER_OFF(family), 0,
      { { "any", MTA_FAMILY_ANY }, { "ipv4", MTA_FAMILY_IPV4 }, { "ipv6", MTA_FAMILY_IPV6 } }, "any, ipv4 or ipv6" },
    { "session-versions", PEER_OFF(session_versions), 0,
      { { "1", 1 }, { "2", 2 }, { "1,2", 3 }, { "2,1", 3 }, { "1, 2", 3 } }, "1, 2 or 1,2" },
    { "extension-form", PEER_OFF(extension_form), 0, { { "1988", MTA_EXT_1988 }, { "1992", MTA_EXT_1992 } },
      "1988 or 1992" },
    { "mode", PEER_OFF(mode), RTSE_OFF(x410_mode), { { "1988", X400_MODE_NORMAL }, { "1984", X400_MODE_X410 } },
      "1988 or 1984" },
    { "dialogue", RTSE_OFF(two_way_alternate), 0, { { "twa", 1 }, { "monologue", 0 } }, "twa or monologue" },
    { "initial-turn", RTSE_OFF(initial_turn_local), 0, { { "local", 1 }, { "remote", 0 } }, "local or remote" },
};

/* [peer] selector keys (called-* also without the prefix). */
static const struct { const char *key; size_t off; } peer_sels[] = {
    { "tsel", PEER_OFF(tsel) }, { "called-tsel", PEER_OFF(tsel) }, { "ssel", PEER_OFF(ssel) },
    { "called-ssel", PEER_OFF(ssel) }, { "psel", PEER_OFF(psel) }, { "called-psel", PEER_OFF(psel) },
    { "calling-tsel", PEER_OFF(calling_tsel) }, { "calling-ssel", PEER_OFF(calling_ssel) },
    { "calling-psel", PEER_OFF(calling_psel) },
};

/* The words of a word key, and the selectors: 0 set, -1 bad value (msg),
 * 1 not such a key. */
static int set_word_key(mta_peer_config *p, const char *k, const char *v, char *msg, size_t mlen)
{
    for (size_t i = 0; i < sizeof peer_words / sizeof peer_words[0]; i++) {
        const word_key *t = &peer_words[i];
        if (strcmp(k, t->key)) continue;
        for (const word_val *w = t->w; w < t->w + 5 && w->word; w++) {
            if (strcmp(v, w->word)) continue;
            memcpy((char *)p + t->off, &w->val, sizeof w->val);
            if (t->off2) memcpy((char *)p + t->off2, &w->val, sizeof w->val);
            return 0;
        }
        return fail(msg, mlen, "bad %s \"%s\": %s", k, v, t->want);
    }
    for (size_t i = 0; i < sizeof peer_sels / sizeof peer_sels[0]; i++)
        if (!strcmp(k, peer_sels[i].key))
            return parse_selector(v, (x400_selector *)(void *)((char *)p + peer_sels[i].off), msg, mlen);
    return 1;
}

/* The other [peer] keys, one handler each. */
typedef int (*peer_key_fn)(mta_peer_config *p, const char *v, char *msg, size_t mlen);

static int pk_their_password(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    if (!strcmp(v, "none")) { /* binds without a password accepted: said explicitly */
        p->their_password_len = 0;
        p->their_password_none = 1;
    } else if (!*v) {
        return fail(msg, mlen, "empty their-password: give the password, or \"none\" to "
                    "accept binds without one");
    } else {
        if (parse_password(v, p->their_password, &p->their_password_len, msg, mlen) < 0) return -1;
        p->their_password_none = 0;
    }
    p->their_password_set = 1;
    return 0;
}

static int pk_our_name(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    if (parse_mta_name(v, p->our_name, "our-name", msg, mlen) < 0) return -1;
    p->our_name_set = 1;
    return 0;
}

static int pk_our_password(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    if (parse_password(v, p->our_password, &p->our_password_len, msg, mlen) < 0) return -1;
    p->our_password_set = 1;
    return 0;
}

static int pk_address(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    char h[MTA_HOST_MAX + 1];
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '[' && v[n - 1] == ']') { /* [v6] */
        v++;
        n -= 2;
    }
    if (n > MTA_HOST_MAX) return fail(msg, mlen, "address longer than %d", MTA_HOST_MAX);
    memcpy(h, v, n);
    h[n] = 0;
    if (!host_ok(h))
        return fail(msg, mlen, "bad address \"%s\": want a host name or an IPv4/IPv6 address", h);
    memcpy(p->host, h, n + 1);
    return 0;
}

static int pk_port(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    if (!port_ok(v) || strlen(v) >= sizeof p->port)
        return fail(msg, mlen, "bad port \"%s\": 1..65535", v);
    memcpy(p->port, v, strlen(v) + 1);
    return 0;
}

static int pk_transfer_timeout(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    uint32_t t[3];
    char buf[64], *s1, *s2;
    if (copy_str(buf, sizeof buf, v) == 0 && (s1 = strchr(buf, '/')) && (s2 = strchr(s1 + 1, '/'))) {
        *s1++ = 0;
        *s2++ = 0;
        if (parse_u32(buf, 0, 1000000, &t[0]) == 0 && parse_u32(s1, 0, 1000000, &t[1]) == 0 &&
            parse_u32(s2, 0, 1000000, &t[2]) == 0) {
            memcpy(p->rtse.transfer_timeout_s_per_kib, t, sizeof t);
            return 0;
        }
    }
    return fail(msg, mlen, "bad transfer-timeout \"%s\": urgent/normal/non-urgent in s per KiB "
                "(0..1000000 each, 0 = none)", v);
}

static int pk_expedited(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    if (parse_onoff(v, &p->expedited) < 0) return fail(msg, mlen, "bad expedited \"%s\": on or off", v);
    return 0;
}

/* the transfer bound: larger APDUs are non-delivered (content too long)
 * before they are queued for this peer */
static int pk_max_apdu_size(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    uint32_t kib;
    if (parse_u32(v, 1, MTA_APDU_MAX_KIB, &kib) < 0)
        return fail(msg, mlen, "bad max-apdu-size \"%s\": KiB, 1..%u", v, (unsigned)MTA_APDU_MAX_KIB);
    p->rtse.max_apdu_size = (uint64_t)kib * 1024u;
    return 0;
}

static int pk_route(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    return add_prefix(p->routes, &p->nroutes, v, msg, mlen);
}

/* the peer's management domain: a peer of another domain gets no internal
 * trace (X.411 12.2.1.1.1.4: it documents the MTAs of one domain) */
static int pk_domain(mta_peer_config *p, const char *v, char *msg, size_t mlen)
{
    return parse_gdi("domain", v, &p->domain, msg, mlen);
}

static const struct { const char *key; peer_key_fn set; } peer_keys[] = {
    { "their-password", pk_their_password }, { "our-name", pk_our_name },
    { "our-password", pk_our_password }, { "address", pk_address }, { "port", pk_port },
    { "transfer-timeout", pk_transfer_timeout }, { "expedited", pk_expedited },
    { "max-apdu-size", pk_max_apdu_size }, { "route", pk_route }, { "domain", pk_domain },
};

static int set_peer_key(mta_peer_config *p, const char *k, const char *v, char *msg, size_t mlen)
{
    int rv = set_num_key(peer_nums, sizeof peer_nums / sizeof peer_nums[0], p, k, v, msg, mlen);
    if (rv <= 0 || (rv = set_word_key(p, k, v, msg, mlen)) <= 0) return rv;
    for (size_t i = 0; i < sizeof peer_keys / sizeof peer_keys[0]; i++)
        if (!strcmp(k, peer_keys[i].key)) return peer_keys[i].set(p, v, msg, mlen);
    return fail(msg, mlen, "unknown key \"%s\" in [peer]", k);
}

int mta_config_set(mta_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    char msg[512];
    if (!cfg || !key || !value) return fail(err, errlen, "missing key or value");
    if (set_mta_key(cfg, key, value, msg, sizeof msg) < 0)
        return fail(err, errlen, "%s: %s", key, msg);
    return 0;
}

/* ------------------------------------------------------------ load */

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t') s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
    *e = 0;
    return s;
}

int mta_config_load(mta_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f;
    char *line = NULL, msg[512];
    size_t cap = 0, first_new_peer;
    ssize_t got;
    unsigned lineno = 0;
    int section = 0; /* 0 none, 1 [mta], 2 [peer] */
    int seen_mta = 0, rc = 0;
    mta_peer_config *peer = NULL;

    if (!cfg || !path) return fail(err, errlen, "no configuration file given");
    f = fopen(path, "r");
    if (!f) return fail(err, errlen, "%s: %s", path, strerror(errno));
    first_new_peer = cfg->npeers;
    while ((got = getline(&line, &cap, f)) >= 0) {
        char *s, *eq, *k, *v;
        lineno++;
        if ((size_t)got != strlen(line)) {
            rc = fail(err, errlen, "%s:%u: NUL character in line", path, lineno);
            break;
        }
        if (got > LINE_MAX_LEN) {
            rc = fail(err, errlen, "%s:%u: line longer than %d characters", path, lineno, LINE_MAX_LEN);
            break;
        }
        s = line; /* trailing spaces stay for now: see the value below */
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || !*s || strspn(s, " \t\r\n") == strlen(s)) continue;
        if (*s == '[') {
            char *e, *name;
            s = trim(s);
            e = strchr(s, ']');
            if (!e || e[1]) {
                rc = fail(err, errlen, "%s:%u: bad section header (want [mta] or [peer NAME])", path, lineno);
                break;
            }
            *e = 0;
            name = trim(s + 1);
            if (!strcmp(name, "mta")) {
                if (seen_mta) {
                    rc = fail(err, errlen, "%s:%u: second [mta] section", path, lineno);
                    break;
                }
                seen_mta = 1;
                section = 1;
                continue;
            }
            if (strncmp(name, "peer", 4) || (name[4] != ' ' && name[4] != '\t' && name[4] != 0)) {
                rc = fail(err, errlen, "%s:%u: unknown section [%s] (want [mta] or [peer NAME])", path,
                          lineno, name);
                break;
            }
            name = trim(name + 4);
            if (!*name) {
                rc = fail(err, errlen, "%s:%u: [peer] needs the peer's MTA name: [peer NAME]", path, lineno);
                break;
            }
            if (mta_config_peer(cfg, name)) {
                rc = fail(err, errlen, "%s:%u: duplicate peer \"%s\"", path, lineno, name);
                break;
            }
            if (cfg->npeers >= MTA_MAX_PEERS) {
                rc = fail(err, errlen, "%s:%u: too many peers (at most %d)", path, lineno, MTA_MAX_PEERS);
                break;
            }
            peer = &cfg->peers[cfg->npeers];
            mta_peer_defaults(peer);
            if (parse_mta_name(name, peer->name, "peer name", msg, sizeof msg) < 0) {
                rc = fail(err, errlen, "%s:%u: %s", path, lineno, msg);
                break;
            }
            cfg->npeers++;
            section = 2;
            continue;
        }
        eq = strchr(s, '=');
        if (!eq) {
            rc = fail(err, errlen, "%s:%u: expected \"key = value\"", path, lineno);
            break;
        }
        *eq = 0;
        k = trim(s);
        {
            /* spaces after a final '=' are that attribute's value
             * ("gdi = C=XX;A= ": the single-space ADMD), not padding */
            char *raw = eq + 1, *end = raw + strlen(raw), *t;
            size_t keep;
            while (end > raw && (end[-1] == '\n' || end[-1] == '\r')) *--end = 0;
            t = end;
            while (t > raw && t[-1] == ' ') t--;
            keep = (t < end && t > raw && t[-1] == '=') ? (size_t)(end - t) : 0;
            v = trim(raw);
            if (keep && t > v) {
                memset(t, ' ', keep);
                t[keep] = 0;
            }
        }
        if (!*k) {
            rc = fail(err, errlen, "%s:%u: missing key before '='", path, lineno);
            break;
        }
        {
            size_t vn = strlen(v);
            if (vn >= 1 && v[0] == '"') { /* "quoted value" keeps its spaces */
                if (vn < 2 || v[vn - 1] != '"') {
                    rc = fail(err, errlen, "%s:%u: unterminated quoted value of %s", path, lineno, k);
                    break;
                }
                v[vn - 1] = 0;
                v++;
            }
        }
        if (section == 0) {
            rc = fail(err, errlen, "%s:%u: \"%s\" outside a section (start with [mta])", path, lineno, k);
            break;
        }
        if ((section == 1 ? set_mta_key(cfg, k, v, msg, sizeof msg)
                          : set_peer_key(peer, k, v, msg, sizeof msg)) < 0) {
            rc = fail(err, errlen, "%s:%u: %s", path, lineno, msg);
            break;
        }
    }
    if (rc == 0 && ferror(f)) rc = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (rc < 0) {
        cfg->npeers = first_new_peer; /* no half-read peers */
        return -1;
    }
    sync_peer_defaults(cfg);
    return 0;
}

/* ------------------------------------------------------------ check */

static int family_of_literal(const char *h)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, h, buf) == 1) return 4;
    if (inet_pton(AF_INET6, h, buf) == 1) return 6;
    return 0;
}

int mta_config_check(const mta_config *cfg, char *err, size_t errlen)
{
    char msg[512];
    x400_diag d;
    x400_orname o;
    if (!cfg) return fail(err, errlen, "no configuration");
    if (!cfg->name[0]) return fail(err, errlen, "[mta] name is required");
    if (!cfg->gdi.country[0]) return fail(err, errlen, "[mta] gdi is required (e.g. C=XX;A=ADMD;P=PRMD)");
    memset(&d, 0, sizeof d);
    if (x400_gdi_validate(&cfg->gdi, &d) != X400_OK) return fail(err, errlen, "[mta] gdi: %s", d.text);
    if (!cfg->node[0])
        return fail(err, errlen, "[mta] node is required (1..8 of A-Z a-z 0-9, distinct per MTA of the domain)");
    if (!cfg->spool[0]) return fail(err, errlen, "[mta] spool is required");
    if (cfg->nlisten > MTA_MAX_LISTEN || cfg->nlocal > MTA_MAX_ROUTES || cfg->npeers > MTA_MAX_PEERS)
        return fail(err, errlen, "[mta] counts out of range");
    for (size_t i = 0; i < cfg->nlisten; i++) {
        if (parse_listen(cfg->listen[i], msg, sizeof msg) < 0) return fail(err, errlen, "[mta] %s", msg);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->listen[i], cfg->listen[j]))
                return fail(err, errlen, "[mta] listen \"%s\" given twice", cfg->listen[i]);
    }
    for (size_t i = 0; i < cfg->nlocal; i++)
        if (parse_prefix(cfg->local[i], &o, msg, sizeof msg) < 0) return fail(err, errlen, "[mta] local: %s", msg);
    for (int c = 0; c < 3; c++)
        if (cfg->log_level[c] < -1 || cfg->log_level[c] > X400_LOG_TRACE)
            return fail(err, errlen, "[mta] log-level of %s out of range", cat_names[c]);
    for (size_t i = 0; i < cfg->npeers; i++) {
        const mta_peer_config *p = &cfg->peers[i];
        int fam;
        if (!p->name[0]) return fail(err, errlen, "peer %zu has no name", i + 1);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->name, cfg->peers[j].name))
                return fail(err, errlen, "peer \"%s\" configured twice", p->name);
        if (x400_rtse_config_check(&p->rtse) != X400_OK)
            return fail(err, errlen, "[peer %s] RTSE settings out of range (checkpoint-size 0..%u, "
                        "window 1..%u)", p->name, X400_RTSE_MAX_CHECKPOINT_KIB, X400_RTSE_MAX_WINDOW);
        if ((p->mode == X400_MODE_X410) != (p->rtse.x410_mode != 0))
            return fail(err, errlen, "[peer %s] mode and RTSE X.410 mode disagree", p->name);
        if (p->max_assocs < 1) return fail(err, errlen, "[peer %s] max-associations must be at least 1", p->name);
        if (p->threshold < 1) return fail(err, errlen, "[peer %s] threshold must be at least 1", p->name);
        if (!port_ok(p->port)) return fail(err, errlen, "[peer %s] bad port \"%s\"", p->name, p->port);
        fam = family_of_literal(p->host);
        if (fam && p->family != MTA_FAMILY_ANY && fam != (int)p->family)
            return fail(err, errlen, "[peer %s] address %s is an IPv%d address but family is ipv%d",
                        p->name, p->host, fam, (int)p->family);
        if (p->nroutes > MTA_MAX_ROUTES) return fail(err, errlen, "[peer %s] too many routes", p->name);
        for (size_t r = 0; r < p->nroutes; r++)
            if (parse_prefix(p->routes[r], &o, msg, sizeof msg) < 0)
                return fail(err, errlen, "[peer %s] route: %s", p->name, msg);
        if (!p->our_name[0] && !cfg->name[0])
            return fail(err, errlen, "[peer %s] no name to bind with", p->name);
        if (!p->their_password_set)
            return fail(err, errlen, "[peer %s] their-password is required (write \"their-password = "
                        "none\" to accept its binds without a password)", p->name);
    }
    if (cfg->lim.reserved_outbound >= cfg->lim.max_connections)
        return fail(err, errlen, "[mta] reserved-outbound (%u) must be below max-connections (%u)",
                    cfg->lim.reserved_outbound, cfg->lim.max_connections);
    if (cfg->lim.max_unbound_per_source > cfg->lim.max_unbound)
        return fail(err, errlen, "[mta] max-unbound-per-source (%u) must not exceed max-unbound (%u)",
                    cfg->lim.max_unbound_per_source, cfg->lim.max_unbound);
    return 0;
}

const mta_peer_config *mta_config_peer(const mta_config *cfg, const char *name)
{
    if (!cfg || !name) return NULL;
    for (size_t i = 0; i < cfg->npeers; i++)
        if (!strcmp(cfg->peers[i].name, name)) return &cfg->peers[i];
    return NULL;
}

/* ------------------------------------------------------------ routing */

/* A prefix attribute matches when absent from the prefix, or present in the
 * address with the same value (case-insensitive; spaces significant). */
static int attr_ok(const char *pre, const char *addr)
{
    return !pre[0] || eq_nocase(pre, addr);
}

static int pn_ok(const x400_personal_name *pre, const x400_personal_name *a)
{
    return attr_ok(pre->surname, a->surname) && attr_ok(pre->given, a->given) &&
           attr_ok(pre->initials, a->initials) && attr_ok(pre->generation, a->generation);
}

static int ous_ok(unsigned npre, const char pre[][X400_ORNAME_OU_MAX + 1], unsigned na,
                  const char a[][X400_ORNAME_OU_MAX + 1])
{
    if (npre > na) return 0;
    for (unsigned i = 0; i < npre; i++)
        if (!eq_nocase(pre[i], a[i])) return 0;
    return 1;
}

static int prefix_matches(const x400_orname *pre, const x400_orname *a)
{
    if (!attr_ok(pre->country, a->country)) return 0;
    if (pre->admd_present && (!a->admd_present || !eq_nocase(pre->admd, a->admd))) return 0;
    if (!attr_ok(pre->prmd, a->prmd) || !attr_ok(pre->x121, a->x121) ||
        !attr_ok(pre->terminal_id, a->terminal_id) || !attr_ok(pre->org, a->org) ||
        !attr_ok(pre->numeric_uid, a->numeric_uid) || !pn_ok(&pre->pn, &a->pn) ||
        !ous_ok(pre->n_ou, pre->ou, a->n_ou, a->ou) || !attr_ok(pre->common_name, a->common_name) ||
        !attr_ok(pre->t_common_name, a->t_common_name) || !attr_ok(pre->t_org, a->t_org) ||
        !pn_ok(&pre->t_pn, &a->t_pn) || !ous_ok(pre->n_t_ou, pre->t_ou, a->n_t_ou, a->t_ou))
        return 0;
    for (unsigned i = 0; i < pre->n_dda; i++) {
        int found = 0;
        for (unsigned j = 0; j < a->n_dda && !found; j++)
            found = eq_nocase(pre->dda[i].type, a->dda[j].type) && eq_nocase(pre->dda[i].value, a->dda[j].value);
        if (!found) return 0;
    }
    for (unsigned i = 0; i < pre->n_opaque; i++) {
        const x400_orname_opaque *po = &pre->opaque[i];
        int found = 0;
        for (unsigned j = 0; j < a->n_opaque && !found; j++) {
            const x400_orname_opaque *ao = &a->opaque[j];
            found = po->type == ao->type && po->len == ao->len &&
                    !memcmp(pre->raw + po->off, a->raw + ao->off, po->len);
        }
        if (!found) return 0;
    }
    if (pre->dir_len && (pre->dir_len != a->dir_len || memcmp(pre->raw + pre->dir_off, a->raw + a->dir_off,
                                                              pre->dir_len)))
        return 0;
    return 1;
}

static int text_matches(const char *prefix, const x400_orname *a)
{
    x400_orname pre;
    if (x400_orname_parse(prefix, strlen(prefix), &pre, NULL) != X400_OK) return 0;
    return prefix_matches(&pre, a);
}

int mta_config_route(const mta_config *cfg, const x400_orname *addr, const mta_peer_config **peer)
{
    if (peer) *peer = NULL;
    if (!cfg || !addr) return 0;
    if (cfg->nlocal == 0) {
        char g[MTA_ROUTE_MAX];
        if (cfg->gdi.country[0]) {
            gdi_prefix(&cfg->gdi, g, sizeof g);
            if (text_matches(g, addr)) return 1;
        }
    }
    for (size_t i = 0; i < cfg->nlocal && i < MTA_MAX_ROUTES; i++)
        if (text_matches(cfg->local[i], addr)) return 1;
    for (size_t i = 0; i < cfg->npeers && i < MTA_MAX_PEERS; i++)
        for (size_t r = 0; r < cfg->peers[i].nroutes && r < MTA_MAX_ROUTES; r++)
            if (text_matches(cfg->peers[i].routes[r], addr)) {
                if (peer) *peer = &cfg->peers[i];
                return 0;
            }
    return 0;
}

/* ------------------------------------------------------------ sample */

static const char sample_text[] =
    "# x400mta configuration (doc/mta-config.md describes every key).\n"
    "# Lines: \"key = value\"; whole-line comments start with '#'.  Put a value\n"
    "# in double quotes to keep spaces at its ends (\"C=XX;A= \").\n"
    "\n"
    "[mta]\n"
    "# This MTA's name and password, sent in every MTA-bind (IA5, 1..32 / 0..62;\n"
    "# a password may also be given as hex:0a1b...).\n"
    "name = MTA-A\n"
    "password = secret-a\n"
    "# GlobalDomainIdentifier stamped on MTSIDs and trace: C, A (\"A= \" is the\n"
    "# single-space ADMD), optional P.  A#= / P#= for numeric names.\n"
    "gdi = C=XX;A=ADMD;P=ALPHA\n"
    "# MTSID node id: 1..8 of A-Z a-z 0-9, distinct per MTA of the domain.\n"
    "node = alpha1\n"
    "# Where to accept associations (repeatable): host:port, [IPv6]:port, *:port.\n"
    "listen = *:102\n"
    "listen = [::1]:1102\n"
    "# Spool directory (submission drop, queue, inbox, journal).\n"
    "spool = /var/spool/x400mta\n"
    "# O/R address prefixes delivered locally (repeatable; default: the GDI).\n"
    "local = C=XX;A=ADMD;P=ALPHA\n"
    "# Log file (\"-\": standard error) and levels per category (service,\n"
    "# interface, apdu; error warning notice info debug trace off), or one\n"
    "# level for all.\n"
    "log = -\n"
    "log-level = service=info,interface=notice,apdu=off\n"
    "# Group commit: longest wait (ms) before received APDUs are made durable;\n"
    "# 0 commits at the end of each event-loop turn.\n"
    "commit-delay-ms = 0\n"
    "# TCP Fast Open (yes/no): from the second connection to a peer on, our CR\n"
    "# rides in the SYN (one round trip less per association setup) where\n"
    "# both kernels allow it (net.ipv4.tcp_fastopen: 1 to connect, 2 to listen).\n"
    "tcp-fast-open = no\n"
    "# Hostile or broken peers: connections at most (in and out), of them kept\n"
    "# for our own opens; inbound connections waiting for their bind at most\n"
    "# (the oldest gives way), and from one address; seconds from accept to\n"
    "# bind; longest back-off (s) of an address after failed binds (0: none).\n"
    "max-connections = 4096\n"
    "reserved-outbound = 64\n"
    "max-unbound = 256\n"
    "max-unbound-per-source = 8\n"
    "bind-timeout = 30\n"
    "bind-backoff-max = 60\n"
    "# Protocol garbage (undecodable PDUs, refused binds and connections) is\n"
    "# logged per source address at most this many lines per interval (s),\n"
    "# then one summary line.\n"
    "garbage-log-lines = 5\n"
    "garbage-log-interval = 60\n"
    "\n"
    "# One section per peer MTA, named by the MTA name it binds with (peers are\n"
    "# identified by their bind, never by their network address).\n"
    ;
/* (two strings: C99 only promises 4095 characters in one literal) */
static const char sample_peers[] =
    "[peer MTA-B]\n"
    "# What MTA-B must present in its bind (required; \"none\" accepts binds\n"
    "# without a password, with a warning at start-up).\n"
    "their-password = secret-b\n"
    "# What we present to MTA-B (default: [mta] name and password).\n"
    "our-name = MTA-A\n"
    "our-password = secret-a\n"
    "# Presentation address: host name or IPv4/IPv6 address, TCP port,\n"
    "# address family for names (any, ipv4, ipv6), T/S/P selectors (text,\n"
    "# or hex:...).  Without an address the peer is never dialled: it must open\n"
    "# the associations (two-way alternate ones then carry our mail too).\n"
    "address = 192.0.2.20\n"
    "port = 102\n"
    "family = any\n"
    "tsel = X400-88\n"
    "ssel = hex:0001\n"
    "psel =\n"
    "# Our (calling) selectors towards it; session versions we offer (1, 2 or\n"
    "# 1,2); form of the ExtensionField type we write (1988 or 1992).\n"
    "calling-tsel =\n"
    "calling-ssel =\n"
    "calling-psel =\n"
    "session-versions = 1,2\n"
    "extension-form = 1988\n"
    "# 1988 (ACSE, normal mode) or 1984 (X.410 mode, no ACSE).\n"
    "mode = 1988\n"
    "# Dialogue: twa (two-way alternate) or monologue; who has the turn after\n"
    "# our association opens (local or remote).\n"
    "dialogue = twa\n"
    "initial-turn = local\n"
    "# RTS checkpoint size (KiB, 0 = none), window (checkpoints outstanding),\n"
    "# recovery timeout (s).\n"
    "checkpoint-size = 30\n"
    "window = 5\n"
    "recovery-timeout = 60\n"
    "# Transfer timeouts in s per KiB: urgent/normal/non-urgent (0 = none).\n"
    "transfer-timeout = 1000/2000/3000\n"
    "# Association lifetime when idle (s), wait for the release answer (s),\n"
    "# queued messages per association above which another opens, and the\n"
    "# most outbound associations.\n"
    "lifetime = 300\n"
    "disconnect-timer = 120\n"
    "threshold = 50\n"
    "max-associations = 4\n"
    "# Open retries before the queue is non-delivered, and the wait between.\n"
    "max-open-retries = 144\n"
    "open-interval = 600\n"
    "# Transfer retries of one message, and the wait between.\n"
    "max-transfer-retries = 2\n"
    "transfer-interval = 120\n"
    "# The transfer bound (KiB): a larger message is non-delivered (content\n"
    "# too long) instead of being queued for this peer.\n"
    "max-apdu-size = 65536\n"
    "# Accepted for compatibility, not used (no expedited data over RFC 1006).\n"
    "expedited = off\n"
    "# O/R address prefixes routed to this peer (repeatable, first match wins:\n"
    "# local prefixes, then the peers in file order).\n"
    "route = C=XX;A=ADMD;P=BRAVO\n"
    "route = C=YY\n"
    "# Its management domain (GDI) when it is not this MTA's: messages\n"
    "# entering this domain from it get this domain's trace element, and\n"
    "# what goes to it leaves the internal trace behind.\n"
    "domain = C=XX;A=ADMD;P=BRAVO\n"
    "\n"
    "[peer MTA-C]\n"
    "their-password = hex:00ff10\n"
    "address = mta-c.example.net\n"
    "family = ipv6\n"
    "mode = 1984\n"
    "dialogue = monologue\n"
    "route = \"C=ZZ;A= \"\n";

void mta_config_sample(FILE *f)
{
    if (f) {
        fputs(sample_text, f);
        fputs(sample_peers, f);
    }
}
