/* O/R names: validation, text form, and the BER of ORName
 * (X.411 12.2.1.1.1.7 ORName, 18.5 ORAddress attributes). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p1_int.h"
#include "x400p1/orname.h"

#define APP X400I_BER_APPLICATION
#define CTX X400I_BER_CONTEXT
#define UNIV X400I_BER_UNIVERSAL
#define CONS X400I_BER_CONSTRUCTED

static int oerr(x400_diag *d, int code, const char *fmt, ...) X400I_PRINTF(3, 4);
static int oerr(x400_diag *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(d, X400_LAYER_P1, X400_SOURCE_LOCAL, code, X400_P1_R_ORNAME, fmt, ap);
    va_end(ap);
    return code;
}

static int is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

void x400_orname_init(x400_orname *n)
{
    if (n) memset(n, 0, sizeof *n);
}

/* ------------------------------------------------------------ validation */

static int chk(const char *s, size_t cap, size_t lo, unsigned st, const char *what, x400_diag *d)
{
    size_t n = strnlen(s, cap);
    if (n == cap) return oerr(d, X400_ERR_TOO_LONG, "O/R name: %s not terminated / too long", what);
    if (n == 0) return X400_OK;   /* absent */
    if (n < lo) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: %s too short", what);
    if (!x400i_charset_ok(st, s, n)) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: %s has a character outside its string type", what);
    return X400_OK;
}

static int chk_pn(const x400_personal_name *pn, unsigned st, const char *what, x400_diag *d)
{
    int rc;
    if ((rc = chk(pn->surname, sizeof pn->surname, 1, st, what, d)) ||
        (rc = chk(pn->given, sizeof pn->given, 1, st, what, d)) ||
        (rc = chk(pn->initials, sizeof pn->initials, 1, st, what, d)) ||
        (rc = chk(pn->generation, sizeof pn->generation, 1, st, what, d)))
        return rc;
    if (!pn->surname[0] && (pn->given[0] || pn->initials[0] || pn->generation[0]))
        return oerr(d, X400_ERR_INVALID_ARG, "O/R name: %s without a surname", what);
    return X400_OK;
}

int x400_orname_validate(const x400_orname *n, x400_diag *d)
{
    int rc;
    if (!n) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: NULL");
    size_t cl = strnlen(n->country, sizeof n->country);
    if (cl == sizeof n->country) return oerr(d, X400_ERR_TOO_LONG, "O/R name: country too long");
    if (cl && !((cl == 2 && is_letter(n->country[0]) && is_letter(n->country[1])) ||
                (cl == 3 && strspn(n->country, "0123456789") == 3)))
        return oerr(d, X400_ERR_INVALID_ARG, "O/R name: country \"%s\" is neither 2 letters nor 3 digits", n->country);
    if (n->admd_present && (rc = chk(n->admd, sizeof n->admd, 0, n->admd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, "ADMD", d))) return rc;
    if (!n->admd_present && n->admd[0]) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: ADMD set but admd_present is 0");
    if ((rc = chk(n->prmd, sizeof n->prmd, 1, n->prmd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, "PRMD", d)) ||
        (rc = chk(n->x121, sizeof n->x121, 1, X400I_U_NUMERIC, "network address", d)) ||
        (rc = chk(n->terminal_id, sizeof n->terminal_id, 1, X400I_U_PRINTABLE, "terminal identifier", d)) ||
        (rc = chk(n->org, sizeof n->org, 1, X400I_U_PRINTABLE, "organisation", d)) ||
        (rc = chk(n->numeric_uid, sizeof n->numeric_uid, 1, X400I_U_NUMERIC, "numeric user identifier", d)) ||
        (rc = chk_pn(&n->pn, X400I_U_PRINTABLE, "personal name", d)) ||
        (rc = chk(n->common_name, sizeof n->common_name, 1, X400I_U_PRINTABLE, "common name", d)) ||
        (rc = chk(n->t_common_name, sizeof n->t_common_name, 1, X400I_U_TELETEX, "teletex common name", d)) ||
        (rc = chk(n->t_org, sizeof n->t_org, 1, X400I_U_TELETEX, "teletex organisation", d)) ||
        (rc = chk_pn(&n->t_pn, X400I_U_TELETEX, "teletex personal name", d)))
        return rc;
    if (n->n_ou > X400_ORNAME_OUS || n->n_t_ou > X400_ORNAME_OUS)
        return oerr(d, X400_ERR_TOO_LONG, "O/R name: more than %d organisational units", X400_ORNAME_OUS);
    for (unsigned i = 0; i < n->n_ou; i++) {
        if (!n->ou[i][0]) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: empty organisational unit %u", i + 1);
        if ((rc = chk(n->ou[i], sizeof n->ou[i], 1, X400I_U_PRINTABLE, "organisational unit", d))) return rc;
    }
    for (unsigned i = 0; i < n->n_t_ou; i++) {
        if (!n->t_ou[i][0]) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: empty teletex organisational unit %u", i + 1);
        if ((rc = chk(n->t_ou[i], sizeof n->t_ou[i], 1, X400I_U_TELETEX, "teletex organisational unit", d))) return rc;
    }
    if (n->n_dda > X400_ORNAME_DDAS) return oerr(d, X400_ERR_TOO_LONG, "O/R name: more than %d domain-defined attributes", X400_ORNAME_DDAS);
    for (unsigned i = 0; i < n->n_dda; i++) {
        if (!n->dda[i].type[0] || !n->dda[i].value[0]) return oerr(d, X400_ERR_INVALID_ARG, "O/R name: empty domain-defined attribute %u", i + 1);
        if ((rc = chk(n->dda[i].type, sizeof n->dda[i].type, 1, X400I_U_PRINTABLE, "DDA type", d)) ||
            (rc = chk(n->dda[i].value, sizeof n->dda[i].value, 1, X400I_U_PRINTABLE, "DDA value", d)))
            return rc;
    }
    if (n->n_opaque > X400_ORNAME_OPAQUE_MAX || n->raw_used > X400_ORNAME_RAW_MAX)
        return oerr(d, X400_ERR_INVALID_ARG, "O/R name: opaque attribute table inconsistent");
    for (unsigned i = 0; i < n->n_opaque; i++) {
        const x400_orname_opaque *o = &n->opaque[i];
        if (o->type > 256 || o->len == 0 || (size_t)o->off + o->len > n->raw_used)
            return oerr(d, X400_ERR_INVALID_ARG, "O/R name: opaque extension attribute %u inconsistent", i);
    }
    if (n->dir_len && (size_t)n->dir_off + n->dir_len > n->raw_used)
        return oerr(d, X400_ERR_INVALID_ARG, "O/R name: directory name inconsistent");
    return X400_OK;
}

int x400_orname_add_opaque(x400_orname *n, unsigned type, const uint8_t *ber, size_t len)
{
    if (!n || (!ber && len) || len == 0 || type > 256 || (type >= 1 && type <= 5)) return X400_ERR_INVALID_ARG;
    for (unsigned i = 0; i < n->n_opaque; i++)
        if (n->opaque[i].type == type) return X400_ERR_DUPLICATE;
    if (n->n_opaque >= X400_ORNAME_OPAQUE_MAX || len > (size_t)X400_ORNAME_RAW_MAX - n->raw_used) return X400_ERR_FULL;
    memcpy(n->raw + n->raw_used, ber, len);
    n->opaque[n->n_opaque++] = (x400_orname_opaque){ (uint16_t)type, n->raw_used, (uint16_t)len };
    n->raw_used = (uint16_t)(n->raw_used + len);
    return X400_OK;
}

int x400_orname_set_directory_name(x400_orname *n, const uint8_t *ber, size_t len)
{
    if (!n || !ber || len == 0) return X400_ERR_INVALID_ARG;
    if (n->dir_len) return X400_ERR_DUPLICATE;
    if (len > (size_t)X400_ORNAME_RAW_MAX - n->raw_used) return X400_ERR_FULL;
    memcpy(n->raw + n->raw_used, ber, len);
    n->dir_off = n->raw_used;
    n->dir_len = (uint16_t)len;
    n->raw_used = (uint16_t)(n->raw_used + len);
    return X400_OK;
}

/* ------------------------------------------------------------ text form */

typedef struct tout { char *p; size_t cap, n; } tout;

static void tput(tout *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (o->n + 1 < o->cap) o->p[o->n] = s[i];
        o->n++;
    }
}
static void tputs(tout *o, const char *s) { tput(o, s, strlen(s)); }

/* A value with escapes; `eq` also escapes '='. */
static void tval(tout *o, const char *s, size_t n, int eq)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[5];
        if (c == ';' || c == '\\' || (eq && c == '=')) {
            e[0] = '\\'; e[1] = (char)c;
            tput(o, e, 2);
        } else if (c < 0x20 || c > 0x7E) {
            snprintf(e, sizeof e, "\\x%02X", c);
            tput(o, e, 4);
        } else {
            tput(o, (const char *)&s[i], 1);
        }
    }
}

static void tattr(tout *o, const char *key, const char *v)
{
    if (!v[0]) return;
    tputs(o, key);
    tputs(o, "=");
    tval(o, v, strlen(v), 0);
    tputs(o, ";");
}

static void thex(tout *o, const char *key, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    tputs(o, key);
    tputs(o, "=");
    for (size_t i = 0; i < n; i++) {
        char h[2] = { hx[p[i] >> 4], hx[p[i] & 15] };
        tput(o, h, 2);
    }
    tputs(o, ";");
}

int x400_orname_format(const x400_orname *n, char *buf, size_t len)
{
    int rc = x400_orname_validate(n, NULL);
    if (rc) return rc;
    if (!buf && len) return X400_ERR_INVALID_ARG;
    tout o = { buf, len, 0 };
    tattr(&o, "C", n->country);
    if (n->admd_present) {
        tputs(&o, n->admd_numeric ? "A#=" : "A=");
        tval(&o, n->admd, strlen(n->admd), 0);
        tputs(&o, ";");
    }
    tattr(&o, n->prmd_numeric ? "P#" : "P", n->prmd);
    tattr(&o, "O", n->org);
    for (unsigned i = 0; i < n->n_ou; i++) tattr(&o, "OU", n->ou[i]);
    tattr(&o, "S", n->pn.surname);
    tattr(&o, "G", n->pn.given);
    tattr(&o, "I", n->pn.initials);
    tattr(&o, "Q", n->pn.generation);
    tattr(&o, "CN", n->common_name);
    tattr(&o, "X121", n->x121);
    tattr(&o, "T-ID", n->terminal_id);
    tattr(&o, "UA-ID", n->numeric_uid);
    for (unsigned i = 0; i < n->n_dda; i++) {
        tputs(&o, "DDA:");
        tval(&o, n->dda[i].type, strlen(n->dda[i].type), 1);
        tputs(&o, "=");
        tval(&o, n->dda[i].value, strlen(n->dda[i].value), 0);
        tputs(&o, ";");
    }
    tattr(&o, "TCN", n->t_common_name);
    tattr(&o, "TO", n->t_org);
    for (unsigned i = 0; i < n->n_t_ou; i++) tattr(&o, "TOU", n->t_ou[i]);
    tattr(&o, "TS", n->t_pn.surname);
    tattr(&o, "TG", n->t_pn.given);
    tattr(&o, "TI", n->t_pn.initials);
    tattr(&o, "TQ", n->t_pn.generation);
    for (unsigned i = 0; i < n->n_opaque; i++) {
        char key[16];
        snprintf(key, sizeof key, "EA%u", (unsigned)n->opaque[i].type);
        thex(&o, key, n->raw + n->opaque[i].off, n->opaque[i].len);
    }
    if (n->dir_len) thex(&o, "DIR", n->raw + n->dir_off, n->dir_len);
    if (o.n > 0) o.n--;   /* drop the last ';' */
    if (o.n + 1 > len) {
        if (len) buf[0] = 0;
        return X400_ERR_BUFFER_TOO_SMALL;
    }
    buf[o.n] = 0;
    return (int)o.n;
}

/* Decode escapes of text[*i..] up to an unescaped ';' (or '=' when
 * stop_eq).  Returns the value length or a negative error. */
static int tunescape(const char *t, size_t len, size_t *i, int stop_eq, char *out, size_t cap,
                     x400_diag *d)
{
    size_t n = 0;
    while (*i < len && t[*i] != ';' && !(stop_eq && t[*i] == '=')) {
        unsigned char c = (unsigned char)t[(*i)++];
        if (c == '\\') {
            if (*i >= len) return oerr(d, X400_ERR_PARSE, "O/R name text: dangling '\\'");
            c = (unsigned char)t[(*i)++];
            if (c == 'x') {
                unsigned v = 0;
                for (int k = 0; k < 2; k++) {
                    if (*i >= len) return oerr(d, X400_ERR_PARSE, "O/R name text: short \\x escape");
                    char h = t[(*i)++];
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else return oerr(d, X400_ERR_PARSE, "O/R name text: bad \\x escape");
                }
                if (v == 0) return oerr(d, X400_ERR_PARSE, "O/R name text: NUL octet");
                c = (unsigned char)v;
            } else if (c != ';' && c != '\\' && c != '=') {
                return oerr(d, X400_ERR_PARSE, "O/R name text: unknown escape \\%c", c);
            }
        }
        if (n + 1 >= cap) return oerr(d, X400_ERR_TOO_LONG, "O/R name text: value too long");
        out[n++] = (char)c;
    }
    out[n] = 0;
    return (int)n;
}

/* The single-valued string attributes of the text form: key, field and
 * its size (X.411 Annex A bound + NUL); numeric_flag: offset of the
 * NumericString flag set by the "#" form of the key (0: none). */
struct text_field {
    const char *key;
    size_t off, cap, numeric_flag;
};
#define TF(k, f) { k, offsetof(x400_orname, f), sizeof ((x400_orname *)0)->f, 0 }
#define TFN(k, f, nf) { k, offsetof(x400_orname, f), sizeof ((x400_orname *)0)->f, \
                        offsetof(x400_orname, nf) }
static const struct text_field text_fields[] = {
    TF("C", country), TFN("P", prmd, prmd_numeric), TFN("P#", prmd, prmd_numeric),
    TF("O", org), TF("S", pn.surname), TF("G", pn.given), TF("I", pn.initials),
    TF("Q", pn.generation), TF("CN", common_name), TF("X121", x121),
    TF("T-ID", terminal_id), TF("UA-ID", numeric_uid), TF("TCN", t_common_name),
    TF("TO", t_org), TF("TS", t_pn.surname), TF("TG", t_pn.given),
    TF("TI", t_pn.initials), TF("TQ", t_pn.generation),
};

static const struct text_field *text_field_of(const char *key)
{
    for (size_t i = 0; i < sizeof text_fields / sizeof text_fields[0]; i++)
        if (strcmp(text_fields[i].key, key) == 0) return &text_fields[i];
    return NULL;
}

static char *field_at(x400_orname *n, const struct text_field *f)
{
    return (char *)n + f->off;
}

static unsigned char *numeric_flag_at(x400_orname *n, const struct text_field *f)
{
    return (unsigned char *)n + f->numeric_flag;
}

static int setv(char *dst, size_t cap, const char *v, size_t vl, const char *key, x400_diag *d)
{
    if (dst[0]) return oerr(d, X400_ERR_PARSE, "O/R name text: %s repeated", key);
    if (vl == 0) return oerr(d, X400_ERR_PARSE, "O/R name text: %s empty", key);
    if (vl >= cap) return oerr(d, X400_ERR_TOO_LONG, "O/R name text: %s longer than %zu", key, cap - 1);
    memcpy(dst, v, vl + 1);
    return X400_OK;
}

static int hexval(const char *v, size_t vl, uint8_t *out, size_t cap, size_t *n, x400_diag *d)
{
    if (vl == 0 || vl % 2) return oerr(d, X400_ERR_PARSE, "O/R name text: odd or empty hex value");
    if (vl / 2 > cap) return oerr(d, X400_ERR_TOO_LONG, "O/R name text: opaque value too long");
    for (size_t i = 0; i < vl; i++) {
        char h = v[i];
        unsigned x;
        if (h >= '0' && h <= '9') x = (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') x = (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') x = (unsigned)(h - 'A' + 10);
        else return oerr(d, X400_ERR_PARSE, "O/R name text: bad hex digit");
        if (i % 2 == 0) out[i / 2] = (uint8_t)(x << 4);
        else out[i / 2] |= (uint8_t)x;
    }
    *n = vl / 2;
    return X400_OK;
}

int x400_orname_parse(const char *text, size_t len, x400_orname *out, x400_diag *d)
{
    char key[16], v[X400_ORNAME_RAW_MAX * 2 + 8];
    size_t i = 0;
    int rc;
    if (!out || (!text && len)) return oerr(d, X400_ERR_INVALID_ARG, "O/R name text: NULL argument");
    x400_orname_init(out);
    while (i < len) {
        size_t k = 0;
        while (i < len && text[i] != '=' && text[i] != ';' && text[i] != ':') {
            if (k + 1 >= sizeof key) return oerr(d, X400_ERR_PARSE, "O/R name text: unknown key");
            key[k++] = text[i++];
        }
        key[k] = 0;
        if (strcmp(key, "DDA") == 0 && i < len && text[i] == ':') {
            i++;
            if (out->n_dda >= X400_ORNAME_DDAS) return oerr(d, X400_ERR_TOO_LONG, "O/R name text: more than %d DDAs", X400_ORNAME_DDAS);
            x400_dda *dd = &out->dda[out->n_dda];
            int tl = tunescape(text, len, &i, 1, v, sizeof v, d);
            if (tl < 0) return tl;
            if (i >= len || text[i] != '=') return oerr(d, X400_ERR_PARSE, "O/R name text: DDA without '='");
            i++;
            if ((rc = setv(dd->type, sizeof dd->type, v, (size_t)tl, "DDA type", d))) return rc;
            int vl = tunescape(text, len, &i, 0, v, sizeof v, d);
            if (vl < 0) return vl;
            if ((rc = setv(dd->value, sizeof dd->value, v, (size_t)vl, "DDA value", d))) return rc;
            out->n_dda++;
        } else {
            if (i >= len || text[i] != '=') return oerr(d, X400_ERR_PARSE, "O/R name text: '%s' without '='", key);
            i++;
            int vl = tunescape(text, len, &i, 0, v, sizeof v, d);
            if (vl < 0) return vl;
            size_t n = (size_t)vl;
            const struct text_field *f = text_field_of(key);
            if (f) {
                rc = setv(field_at(out, f), f->cap, v, n, key, d);
                if (f->numeric_flag && !rc) *numeric_flag_at(out, f) = key[1] == '#';
            } else if (strcmp(key, "A") == 0 || strcmp(key, "A#") == 0) {
                if (out->admd_present) return oerr(d, X400_ERR_PARSE, "O/R name text: A repeated");
                if (n > X400_ORNAME_DOMAIN_MAX) return oerr(d, X400_ERR_TOO_LONG, "O/R name text: ADMD longer than 16");
                memcpy(out->admd, v, n + 1);
                out->admd_present = 1;
                out->admd_numeric = key[1] == '#';
                rc = X400_OK;
            } else if (strcmp(key, "OU") == 0 || strcmp(key, "TOU") == 0) {
                int t = key[0] == 'T';
                unsigned *cnt = t ? &out->n_t_ou : &out->n_ou;
                if (*cnt >= X400_ORNAME_OUS) return oerr(d, X400_ERR_TOO_LONG, "O/R name text: more than %d %s", X400_ORNAME_OUS, key);
                rc = setv(t ? out->t_ou[*cnt] : out->ou[*cnt], X400_ORNAME_OU_MAX + 1, v, n, key, d);
                if (!rc) (*cnt)++;
            }
            else if (strcmp(key, "DIR") == 0 || (key[0] == 'E' && key[1] == 'A' && key[2] >= '0' && key[2] <= '9')) {
                uint8_t raw[X400_ORNAME_RAW_MAX];
                size_t rl = 0;
                if ((rc = hexval(v, n, raw, sizeof raw, &rl, d))) return rc;
                if (key[0] == 'D') {
                    rc = x400_orname_set_directory_name(out, raw, rl);
                } else {
                    char *end;
                    unsigned long t = strtoul(key + 2, &end, 10);
                    if (*end || t > 256) return oerr(d, X400_ERR_PARSE, "O/R name text: bad key %s", key);
                    rc = x400_orname_add_opaque(out, (unsigned)t, raw, rl);
                }
                if (rc) return oerr(d, rc == X400_ERR_FULL ? X400_ERR_TOO_LONG : X400_ERR_PARSE, "O/R name text: %s refused (%s)", key, x400_strerror(rc));
            } else return oerr(d, X400_ERR_PARSE, "O/R name text: unknown key '%s'", key);
            if (rc) return rc;
        }
        if (i < len) i++;   /* the ';' */
    }
    return x400_orname_validate(out, d);
}

/* Copy `value` (NULL: "") into dst[cap]: X400_ERR_LIMIT when it does not
 * fit (dst unchanged). */
static int put_value(char *dst, size_t cap, const char *value)
{
    size_t n = value ? strlen(value) : 0;
    if (n >= cap) return X400_ERR_LIMIT;
    memcpy(dst, value ? value : "", n + 1);
    return X400_OK;
}

int x400_orname_set(x400_orname *n, const char *key, const char *value)
{
    const struct text_field *f;
    int rc;
    if (!n || !key) return X400_ERR_INVALID_ARG;
    if ((f = text_field_of(key))) {
        if ((rc = put_value(field_at(n, f), f->cap, value)) == X400_OK && f->numeric_flag)
            *numeric_flag_at(n, f) = key[1] == '#';
        return rc;
    }
    if (strcmp(key, "A") == 0 || strcmp(key, "A#") == 0) {
        if ((rc = put_value(n->admd, sizeof n->admd, value)) < 0) return rc;
        n->admd_present = value != NULL;
        n->admd_numeric = value && key[1] == '#';
        return X400_OK;
    }
    if (strcmp(key, "OU") == 0 || strcmp(key, "TOU") == 0) {
        int t = key[0] == 'T';
        unsigned *cnt = t ? &n->n_t_ou : &n->n_ou;
        char (*ou)[X400_ORNAME_OU_MAX + 1] = t ? n->t_ou : n->ou;
        if (!value) {
            memset(ou, 0, sizeof n->ou);
            *cnt = 0;
            return X400_OK;
        }
        if (*cnt >= X400_ORNAME_OUS) return X400_ERR_LIMIT;
        if ((rc = put_value(ou[*cnt], sizeof ou[0], value)) == X400_OK) (*cnt)++;
        return rc;
    }
    if (strncmp(key, "DDA:", 4) == 0 && key[4] && value) {
        x400_dda *dd = &n->dda[n->n_dda];
        if (n->n_dda >= X400_ORNAME_DDAS || strlen(key + 4) >= sizeof dd->type)
            return X400_ERR_LIMIT;
        if ((rc = put_value(dd->value, sizeof dd->value, value)) < 0) return rc;
        memcpy(dd->type, key + 4, strlen(key + 4) + 1);
        n->n_dda++;
        return X400_OK;
    }
    return X400_ERR_INVALID_ARG;
}

int x400_orname_equal(const x400_orname *a, const x400_orname *b)
{
    char ta[X400_ORNAME_TEXT_MAX], tb[X400_ORNAME_TEXT_MAX];
    if (!a || !b) return 0;
    int la = x400_orname_format(a, ta, sizeof ta), lb = x400_orname_format(b, tb, sizeof tb);
    if (la < 0 || lb < 0) return 0;
    return la == lb && memcmp(ta, tb, (size_t)la) == 0;
}

/* ------------------------------------------------------------ BER */

static void put_str(x400i_bw *w, uint8_t cls, uint32_t num, const char *s)
{
    x400i_bw_prim(w, cls, num, s, strlen(s));
}

/* PersonalName / TeletexPersonalName SET, members [0]..[3] implicit. */
static void put_pn(x400i_bw *w, const x400_personal_name *pn, uint8_t cls, uint32_t num)
{
    size_t m = x400i_bw_len(w);
    if (pn->generation[0]) put_str(w, CTX, 3, pn->generation);
    if (pn->initials[0]) put_str(w, CTX, 2, pn->initials);
    if (pn->given[0]) put_str(w, CTX, 1, pn->given);
    put_str(w, CTX, 0, pn->surname);
    x400i_bw_wrap(w, m, cls, num);
}

static void put_ext_attr(x400i_bw *w, unsigned type, const void *val, size_t vlen, int kind,
                         const x400_orname *n)
{
    /* ExtensionAttribute ::= SEQUENCE { [0] INTEGER, [1] ANY (explicit) } */
    size_t m = x400i_bw_len(w);
    size_t mv = x400i_bw_len(w);
    switch (kind) {
    case 0: x400i_bw_bytes(w, val, vlen); break;                       /* opaque BER */
    case 1: x400i_bw_prim(w, UNIV, X400I_U_PRINTABLE, val, vlen); break;
    case 2: x400i_bw_prim(w, UNIV, X400I_U_TELETEX, val, vlen); break;
    case 4: put_pn(w, &n->t_pn, UNIV, X400I_U_SET); break;
    case 5: {
        size_t ms = x400i_bw_len(w);
        for (unsigned i = n->n_t_ou; i-- > 0;) put_str(w, UNIV, X400I_U_TELETEX, n->t_ou[i]);
        x400i_bw_wrap(w, ms, UNIV, X400I_U_SEQUENCE);
        break;
    }
    default: break;
    }
    x400i_bw_wrap(w, mv, CTX, 1);
    x400i_bw_int(w, CTX, 0, type);
    x400i_bw_wrap(w, m, UNIV, X400I_U_SEQUENCE);
}

void x400i_country_encode(x400i_bw *w, const char *c)
{
    size_t m = x400i_bw_len(w);
    put_str(w, UNIV, strlen(c) == 3 ? X400I_U_NUMERIC : X400I_U_PRINTABLE, c);
    x400i_bw_wrap(w, m, APP, 1);
}

void x400i_admd_encode(x400i_bw *w, const char *admd, int numeric)
{
    size_t m = x400i_bw_len(w);
    put_str(w, UNIV, numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, admd);
    x400i_bw_wrap(w, m, APP, 2);
}

void x400i_orname_encode(x400i_bw *w, const x400_orname *n, uint8_t cls, uint32_t num)
{
    int rc = x400_orname_validate(n, w->diag);
    if (rc) {
        if (!w->err) w->err = rc;
        return;
    }
    size_t m = x400i_bw_len(w);
    if (n->dir_len) {   /* directory-name [0] (explicit: Name is a CHOICE) */
        size_t md = x400i_bw_len(w);
        x400i_bw_bytes(w, n->raw + n->dir_off, n->dir_len);
        x400i_bw_wrap(w, md, CTX, 0);
    }
    int has_ext = n->common_name[0] || n->t_common_name[0] || n->t_org[0] || n->t_pn.surname[0] ||
                  n->n_t_ou || n->n_opaque;
    if (has_ext) {
        /* ExtensionAttributes SET OF: DER order (X.690 11.6: sorted by
         * encoding).  Each attribute is encoded into a scratch area, then
         * written in descending order (the writer works backwards). */
        uint8_t scratch[4096];
        struct { size_t off, len; } el[5 + X400_ORNAME_OPAQUE_MAX];
        size_t ne = 0;
        x400i_bw s;
        x400i_bw_init_fixed(&s, scratch, sizeof scratch, X400_LAYER_P1, w->diag);
        for (int k = 0; k < 5 + (int)n->n_opaque; k++) {
            size_t before = x400i_bw_len(&s);
            switch (k) {
            case 0: if (n->common_name[0]) put_ext_attr(&s, 1, n->common_name, strlen(n->common_name), 1, n); break;
            case 1: if (n->t_common_name[0]) put_ext_attr(&s, 2, n->t_common_name, strlen(n->t_common_name), 2, n); break;
            case 2: if (n->t_org[0]) put_ext_attr(&s, 3, n->t_org, strlen(n->t_org), 2, n); break;
            case 3: if (n->t_pn.surname[0]) put_ext_attr(&s, 4, NULL, 0, 4, n); break;
            case 4: if (n->n_t_ou) put_ext_attr(&s, 5, NULL, 0, 5, n); break;
            default: {
                const x400_orname_opaque *o = &n->opaque[k - 5];
                put_ext_attr(&s, o->type, n->raw + o->off, o->len, 0, n);
            }
            }
            if (s.err) { if (!w->err) w->err = s.err; return; }
            size_t after = x400i_bw_len(&s);
            if (after > before) {
                el[ne].off = s.cap - after;   /* offset of this element in scratch */
                el[ne].len = after - before;
                ne++;
            }
        }
        /* insertion sort, ascending by encoding (shorter first on a tie) */
        for (size_t i = 1; i < ne; i++) {
            for (size_t j = i; j > 0; j--) {
                size_t la = el[j - 1].len, lb = el[j].len, m2 = la < lb ? la : lb;
                int c = memcmp(scratch + el[j - 1].off, scratch + el[j].off, m2);
                if (c < 0 || (c == 0 && la <= lb)) break;
                size_t to = el[j - 1].off, tl = el[j - 1].len;
                el[j - 1] = el[j];
                el[j].off = to;
                el[j].len = tl;
            }
        }
        size_t me = x400i_bw_len(w);
        for (size_t i = ne; i-- > 0;) x400i_bw_bytes(w, scratch + el[i].off, el[i].len);
        x400i_bw_wrap(w, me, UNIV, X400I_U_SET);
    }
    if (n->n_dda) {
        size_t md = x400i_bw_len(w);
        for (unsigned i = n->n_dda; i-- > 0;) {
            size_t ma = x400i_bw_len(w);
            put_str(w, UNIV, X400I_U_PRINTABLE, n->dda[i].value);
            put_str(w, UNIV, X400I_U_PRINTABLE, n->dda[i].type);
            x400i_bw_wrap(w, ma, UNIV, X400I_U_SEQUENCE);
        }
        x400i_bw_wrap(w, md, UNIV, X400I_U_SEQUENCE);
    }
    /* BuiltInStandardAttributes SEQUENCE */
    size_t ms = x400i_bw_len(w);
    if (n->n_ou) {
        size_t mo = x400i_bw_len(w);
        for (unsigned i = n->n_ou; i-- > 0;) put_str(w, UNIV, X400I_U_PRINTABLE, n->ou[i]);
        x400i_bw_wrap(w, mo, CTX, 6);
    }
    if (n->pn.surname[0]) put_pn(w, &n->pn, CTX, 5);
    if (n->numeric_uid[0]) put_str(w, CTX, 4, n->numeric_uid);
    if (n->org[0]) put_str(w, CTX, 3, n->org);
    if (n->prmd[0]) {   /* [2] PrivateDomainName CHOICE: explicit */
        size_t mp = x400i_bw_len(w);
        put_str(w, UNIV, n->prmd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, n->prmd);
        x400i_bw_wrap(w, mp, CTX, 2);
    }
    if (n->terminal_id[0]) put_str(w, CTX, 1, n->terminal_id);
    if (n->x121[0]) put_str(w, CTX, 0, n->x121);
    if (n->admd_present) x400i_admd_encode(w, n->admd, n->admd_numeric);
    if (n->country[0]) x400i_country_encode(w, n->country);
    x400i_bw_wrap(w, ms, UNIV, X400I_U_SEQUENCE);
    x400i_bw_wrap(w, m, cls, num);
}

int x400i_country_decode(const x400i_tlv *t, char out[4], x400_diag *d)
{
    x400i_tlv c;
    size_t off = 0;
    int rc = x400i_p1_child(t, &off, &c, d);
    if (rc < 0) return rc;
    if (rc == 0 || off != t->vlen) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "CountryName: not one choice");
    if (x400i_tlv_is(&c, UNIV, X400I_U_NUMERIC)) return x400i_p1_str(&c, X400I_U_NUMERIC, 3, 3, out, 4, "CountryName x121-dcc-code", d);
    if (x400i_tlv_is(&c, UNIV, X400I_U_PRINTABLE)) {
        rc = x400i_p1_str(&c, X400I_U_PRINTABLE, 2, 2, out, 4, "CountryName iso-3166-alpha2-code", d);
        if (!rc && out[0] >= '0' && out[0] <= '9') return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "CountryName: digits in an alpha-2 code");
        return rc;
    }
    return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "CountryName: unexpected tag %u", (unsigned)c.tag);
}

int x400i_admd_decode(const x400i_tlv *t, char *out, unsigned char *numeric, x400_diag *d)
{
    x400i_tlv c;
    size_t off = 0;
    int rc = x400i_p1_child(t, &off, &c, d);
    if (rc < 0) return rc;
    if (rc == 0 || off != t->vlen) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "AdministrationDomainName: not one choice");
    if (x400i_tlv_is(&c, UNIV, X400I_U_NUMERIC)) { *numeric = 1; return x400i_p1_str(&c, X400I_U_NUMERIC, 0, 16, out, 17, "AdministrationDomainName", d); }
    if (x400i_tlv_is(&c, UNIV, X400I_U_PRINTABLE)) { *numeric = 0; return x400i_p1_str(&c, X400I_U_PRINTABLE, 0, 16, out, 17, "AdministrationDomainName", d); }
    return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "AdministrationDomainName: unexpected tag %u", (unsigned)c.tag);
}

static int pdn_decode(const x400i_tlv *t, char *out, unsigned char *numeric, const char *what, x400_diag *d)
{
    if (x400i_tlv_is(t, UNIV, X400I_U_NUMERIC)) { *numeric = 1; return x400i_p1_str(t, X400I_U_NUMERIC, 1, 16, out, 17, what, d); }
    if (x400i_tlv_is(t, UNIV, X400I_U_PRINTABLE)) { *numeric = 0; return x400i_p1_str(t, X400I_U_PRINTABLE, 1, 16, out, 17, what, d); }
    return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: unexpected tag %u", what, (unsigned)t->tag);
}

static int one_child(const x400i_tlv *t, x400i_tlv *c, const char *what, x400_diag *d)
{
    size_t off = 0;
    int rc = x400i_p1_child(t, &off, c, d);
    if (rc < 0) return rc;
    if (rc == 0 || off != t->vlen) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: expected exactly one element", what);
    return X400_OK;
}

static int pn_decode(const x400i_tlv *t, x400_personal_name *pn, unsigned st, const char *what, x400_diag *d)
{
    x400i_tlv c;
    size_t off = 0;
    int rc;
    while ((rc = x400i_p1_child(t, &off, &c, d)) == 1) {
        char *dst;
        size_t cap;
        if (c.cls != CTX || c.tag > 3) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "%s: unexpected element", what);
        switch (c.tag) {
        case 0: dst = pn->surname; cap = sizeof pn->surname; break;
        case 1: dst = pn->given; cap = sizeof pn->given; break;
        case 2: dst = pn->initials; cap = sizeof pn->initials; break;
        default: dst = pn->generation; cap = sizeof pn->generation; break;
        }
        if (dst[0]) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "%s: element repeated", what);
        if ((rc = x400i_p1_str(&c, st, 1, cap - 1, dst, cap, what, d))) return rc;
    }
    if (rc < 0) return rc;
    if (!pn->surname[0]) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_MISSING, "%s: no surname", what);
    return X400_OK;
}

static int ous_decode(const x400i_tlv *t, char ou[][X400_ORNAME_OU_MAX + 1], unsigned *n, unsigned st,
                      const char *what, x400_diag *d)
{
    x400i_tlv c;
    size_t off = 0;
    int rc;
    while ((rc = x400i_p1_child(t, &off, &c, d)) == 1) {
        if (*n >= X400_ORNAME_OUS) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: more than 4", what);
        if (!x400i_tlv_is(&c, UNIV, st)) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "%s: unexpected element", what);
        if ((rc = x400i_p1_str(&c, st, 1, X400_ORNAME_OU_MAX, ou[*n], X400_ORNAME_OU_MAX + 1, what, d))) return rc;
        (*n)++;
    }
    if (rc < 0) return rc;
    if (*n == 0) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: empty", what);
    return X400_OK;
}

static int std_decode(const x400i_tlv *t, x400_orname *n, x400_diag *d)
{
    x400i_tlv c;
    size_t off = 0;
    int rc, last = -1;
    while ((rc = x400i_p1_child(t, &off, &c, d)) == 1) {
        /* order: C(APP1) A(APP2) [0]..[6] */
        int pos = c.cls == APP && c.tag == 1 ? 0 : c.cls == APP && c.tag == 2 ? 1 :
                  c.cls == CTX && c.tag <= 6 ? 2 + (int)c.tag : -1;
        if (pos < 0) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "BuiltInStandardAttributes: unexpected tag [%s %u]", c.cls == APP ? "APPLICATION" : c.cls == CTX ? "" : "UNIVERSAL", (unsigned)c.tag);
        if (pos <= last) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "BuiltInStandardAttributes: element out of order or repeated");
        last = pos;
        switch (pos) {
        case 0: rc = x400i_country_decode(&c, n->country, d); break;
        case 1: rc = x400i_admd_decode(&c, n->admd, &n->admd_numeric, d); n->admd_present = 1; break;
        case 2: rc = x400i_p1_str(&c, X400I_U_NUMERIC, 1, 16, n->x121, sizeof n->x121, "network-address", d); break;
        case 3: rc = x400i_p1_str(&c, X400I_U_PRINTABLE, 1, 24, n->terminal_id, sizeof n->terminal_id, "terminal-identifier", d); break;
        case 4: {
            x400i_tlv in;
            if (!(rc = one_child(&c, &in, "private-domain-name", d)))
                rc = pdn_decode(&in, n->prmd, &n->prmd_numeric, "private-domain-name", d);
            break;
        }
        case 5: rc = x400i_p1_str(&c, X400I_U_PRINTABLE, 1, 64, n->org, sizeof n->org, "organization-name", d); break;
        case 6: rc = x400i_p1_str(&c, X400I_U_NUMERIC, 1, 32, n->numeric_uid, sizeof n->numeric_uid, "numeric-user-identifier", d); break;
        case 7: rc = pn_decode(&c, &n->pn, X400I_U_PRINTABLE, "personal-name", d); break;
        default: rc = ous_decode(&c, n->ou, &n->n_ou, X400I_U_PRINTABLE, "organizational-unit-names", d); break;
        }
        if (rc) return rc;
    }
    return rc < 0 ? rc : X400_OK;
}

static int ext_attr_decode(const x400i_tlv *t, x400_orname *n, x400_diag *d)
{
    x400i_tlv ty, val, in;
    size_t off = 0;
    int64_t type;
    int rc;
    if (!x400i_tlv_is(t, UNIV, X400I_U_SEQUENCE)) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "ExtensionAttribute: not a SEQUENCE");
    if ((rc = x400i_p1_child(t, &off, &ty, d)) != 1 || !x400i_tlv_is(&ty, CTX, 0) ||
        (rc = x400i_p1_child(t, &off, &val, d)) != 1 || !x400i_tlv_is(&val, CTX, 1) || off != t->vlen)
        return rc < 0 ? rc : x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "ExtensionAttribute: expected [0] type, [1] value");
    if ((rc = x400i_p1_int(&ty, 0, 256, &type, "extension-attribute-type", d))) return rc;
    if ((rc = one_child(&val, &in, "extension-attribute-value", d))) return rc;
    switch (type) {
    case X400_EA_COMMON_NAME:
        if (n->common_name[0] || !x400i_tlv_is(&in, UNIV, X400I_U_PRINTABLE)) goto bad;
        return x400i_p1_str(&in, X400I_U_PRINTABLE, 1, 64, n->common_name, sizeof n->common_name, "common-name", d);
    case X400_EA_TELETEX_COMMON_NAME:
        if (n->t_common_name[0] || !x400i_tlv_is(&in, UNIV, X400I_U_TELETEX)) goto bad;
        return x400i_p1_str(&in, X400I_U_TELETEX, 1, 64, n->t_common_name, sizeof n->t_common_name, "teletex-common-name", d);
    case X400_EA_TELETEX_ORGANIZATION_NAME:
        if (n->t_org[0] || !x400i_tlv_is(&in, UNIV, X400I_U_TELETEX)) goto bad;
        return x400i_p1_str(&in, X400I_U_TELETEX, 1, 64, n->t_org, sizeof n->t_org, "teletex-organization-name", d);
    case X400_EA_TELETEX_PERSONAL_NAME:
        if (n->t_pn.surname[0] || !x400i_tlv_is(&in, UNIV, X400I_U_SET)) goto bad;
        return pn_decode(&in, &n->t_pn, X400I_U_TELETEX, "teletex-personal-name", d);
    case X400_EA_TELETEX_ORGANIZATIONAL_UNIT_NAMES:
        if (n->n_t_ou || !x400i_tlv_is(&in, UNIV, X400I_U_SEQUENCE)) goto bad;
        return ous_decode(&in, n->t_ou, &n->n_t_ou, X400I_U_TELETEX, "teletex-organizational-unit-names", d);
    default:
        rc = x400_orname_add_opaque(n, (unsigned)type, in.raw, in.total);
        if (rc == X400_ERR_FULL) return x400i_p1_err(d, X400_ERR_LIMIT, X400_P1_R_ORNAME, "O/R name: opaque extension attributes exceed %d entries / %d octets", X400_ORNAME_OPAQUE_MAX, X400_ORNAME_RAW_MAX);
        if (rc) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "O/R name: extension attribute %d repeated", (int)type);
        return X400_OK;
    }
bad:
    return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "O/R name: extension attribute %d repeated or of the wrong type", (int)type);
}

int x400i_orname_decode(x400i_dec *dc, const x400i_tlv *t, x400_orname *n)
{
    x400_diag *d = dc->diag;
    x400i_tlv c;
    size_t off = 0;
    int rc, stage = 0;
    x400_orname_init(n);
    if (!t->constructed) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "ORName: primitive");
    while ((rc = x400i_p1_child(t, &off, &c, d)) == 1) {
        if (stage == 0 && x400i_tlv_is(&c, UNIV, X400I_U_SEQUENCE)) {
            if ((rc = std_decode(&c, n, d))) return rc;
            stage = 1;
        } else if (stage == 1 && x400i_tlv_is(&c, UNIV, X400I_U_SEQUENCE)) {
            x400i_tlv a;
            size_t ao = 0;
            while ((rc = x400i_p1_child(&c, &ao, &a, d)) == 1) {
                x400i_tlv ty, va;
                size_t o2 = 0;
                if (n->n_dda >= X400_ORNAME_DDAS) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "O/R name: more than 4 domain-defined attributes");
                if (!x400i_tlv_is(&a, UNIV, X400I_U_SEQUENCE) || x400i_p1_child(&a, &o2, &ty, d) != 1 ||
                    x400i_p1_child(&a, &o2, &va, d) != 1 || o2 != a.vlen ||
                    !x400i_tlv_is(&ty, UNIV, X400I_U_PRINTABLE) || !x400i_tlv_is(&va, UNIV, X400I_U_PRINTABLE))
                    return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "BuiltInDomainDefinedAttribute: malformed");
                x400_dda *dd = &n->dda[n->n_dda++];
                if ((rc = x400i_p1_str(&ty, X400I_U_PRINTABLE, 1, 8, dd->type, sizeof dd->type, "DDA type", d)) ||
                    (rc = x400i_p1_str(&va, X400I_U_PRINTABLE, 1, 128, dd->value, sizeof dd->value, "DDA value", d)))
                    return rc;
            }
            if (rc < 0) return rc;
            if (n->n_dda == 0) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "BuiltInDomainDefinedAttributes: empty");
            stage = 2;
        } else if (stage >= 1 && stage <= 2 && x400i_tlv_is(&c, UNIV, X400I_U_SET)) {
            x400i_tlv a;
            size_t ao = 0;
            int cnt = 0;
            while ((rc = x400i_p1_child(&c, &ao, &a, d)) == 1) {
                if ((rc = ext_attr_decode(&a, n, d))) return rc;
                cnt++;
            }
            if (rc < 0) return rc;
            if (cnt == 0) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "ExtensionAttributes: empty");
            stage = 3;
        } else if (stage >= 1 && stage <= 3 && x400i_tlv_is(&c, CTX, 0)) {
            x400i_tlv in;
            if ((rc = one_child(&c, &in, "directory-name", d))) return rc;
            if (x400_orname_set_directory_name(n, in.raw, in.total))
                return x400i_p1_err(d, X400_ERR_LIMIT, X400_P1_R_ORNAME, "O/R name: directory name longer than the %d octets kept", X400_ORNAME_RAW_MAX);
            stage = 4;
        } else {
            return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_ORNAME, "ORName: unexpected element (tag %u) or order", (unsigned)c.tag);
        }
    }
    if (rc < 0) return rc;
    if (stage == 0) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_MISSING, "ORName: no built-in-standard-attributes");
    return X400_OK;
}
