/*
 * x400p1 -- O/R names (X.411 12.2.1.1.1.7 ORName / 18.5 ORAddress) as plain
 * C values, and their text form.
 *
 * An x400_orname is a fixed-size value (no pointers): the built-in standard
 * attributes, up to four domain-defined attributes, the five T.61 (teletex)
 * and common-name extension attributes decoded, and any other extension
 * attribute plus the directory name kept opaque (their BER bytes, relayed
 * byte for byte).  Strings are NUL-terminated; "" means absent, except where
 * a *_present flag says otherwise (the ADMD may be present and empty).
 *
 * Text form (doc/p1.md "O/R name text form"), e.g.
 *     "C=GB;A= ;P=SMHS;O=Org;OU=Ops;S=Smith;G=Ann"
 * Attributes are KEY=VALUE separated by ';' (a final ';' is allowed):
 *   C country (2 letters or 3 digits)     A / A#  ADMD (printable / numeric)
 *   P / P#  PRMD                          O organisation
 *   OU organisational unit (1..4, in order)
 *   S surname  G given name  I initials  Q generation qualifier
 *   CN common name (extension attribute 1)
 *   X121 network address   T-ID terminal id   UA-ID numeric user id
 *   DDA:<type>=<value> domain-defined attribute (1..4, in order)
 *   TCN TO TOU TS TG TI TQ  teletex (T.61) common name, organisation,
 *       organisational unit (1..4), surname, given name, initials,
 *       generation qualifier (extension attributes 2..5)
 *   EA<n>=<hex>  another extension attribute n: the BER of its value
 *   DIR=<hex>    the directory name (BER of the X.501 Name)
 * Values are taken literally, spaces included ("A= " is the single-space
 * ADMD).  Escapes: "\;" ";", "\\" "\", "\=" "=" and "\xHH" any octet;
 * the formatter escapes ';', '\' (and '=' in a DDA type) and writes every
 * octet outside 0x20..0x7E (T.61 characters) as \xHH, so the text is
 * printable ASCII.  Attributes are formatted in the order listed above;
 * the parser accepts any order.
 */
#ifndef X400P1_ORNAME_H
#define X400P1_ORNAME_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Upper bounds (X.411 Annex A). */
#define X400_ORNAME_DOMAIN_MAX 16     /* ub-domain-name-length */
#define X400_ORNAME_X121_MAX 16       /* ub-x121-address-length */
#define X400_ORNAME_TERMINAL_MAX 24   /* ub-terminal-id-length */
#define X400_ORNAME_ORG_MAX 64        /* ub-organization-name-length */
#define X400_ORNAME_OU_MAX 32         /* ub-organizational-unit-name-length */
#define X400_ORNAME_OUS 4             /* ub-organizational-units */
#define X400_ORNAME_SURNAME_MAX 40    /* ub-surname-length */
#define X400_ORNAME_GIVEN_MAX 16      /* ub-given-name-length */
#define X400_ORNAME_INITIALS_MAX 5    /* ub-initials-length */
#define X400_ORNAME_GENQ_MAX 3        /* ub-generation-qualifier-length */
#define X400_ORNAME_NUMUID_MAX 32     /* ub-numeric-user-id-length */
#define X400_ORNAME_CN_MAX 64         /* ub-common-name-length */
#define X400_ORNAME_DDAS 4            /* ub-domain-defined-attributes */
#define X400_ORNAME_DDA_TYPE_MAX 8    /* ub-domain-defined-attribute-type-length */
#define X400_ORNAME_DDA_VALUE_MAX 128 /* ub-domain-defined-attribute-value-length */
#define X400_ORNAME_OPAQUE_MAX 8      /* other extension attributes kept */
#define X400_ORNAME_RAW_MAX 512       /* bytes of opaque attribute values +
                                         directory name */
#define X400_ORNAME_TEXT_MAX 8192     /* enough for any formatted name */

/* Extension attribute types decoded into fields (X.411 18.5.x). */
#define X400_EA_COMMON_NAME 1
#define X400_EA_TELETEX_COMMON_NAME 2
#define X400_EA_TELETEX_ORGANIZATION_NAME 3
#define X400_EA_TELETEX_PERSONAL_NAME 4
#define X400_EA_TELETEX_ORGANIZATIONAL_UNIT_NAMES 5

/* Personal name (PrintableString, or TeletexString in the teletex
 * variant): surname required when any part is present. */
typedef struct x400_personal_name {
    char surname[X400_ORNAME_SURNAME_MAX + 1];
    char given[X400_ORNAME_GIVEN_MAX + 1];
    char initials[X400_ORNAME_INITIALS_MAX + 1];
    char generation[X400_ORNAME_GENQ_MAX + 1];
} x400_personal_name;

typedef struct x400_dda {
    char type[X400_ORNAME_DDA_TYPE_MAX + 1];
    char value[X400_ORNAME_DDA_VALUE_MAX + 1];
} x400_dda;

/* An extension attribute kept opaque: its type and where its value's BER
 * (the TLV inside extension-attribute-value [1]) sits in x400_orname.raw. */
typedef struct x400_orname_opaque {
    uint16_t type;   /* 0..ub-extension-attributes (256) */
    uint16_t off;
    uint16_t len;
} x400_orname_opaque;

typedef struct x400_orname {
    /* built-in standard attributes */
    char country[4];                 /* "", 2 letters or 3 digits */
    char admd[X400_ORNAME_DOMAIN_MAX + 1];
    unsigned char admd_present;      /* 1: ADMD present (may be "" or " ") */
    unsigned char admd_numeric;
    char prmd[X400_ORNAME_DOMAIN_MAX + 1];
    unsigned char prmd_numeric;
    char x121[X400_ORNAME_X121_MAX + 1];          /* network-address */
    char terminal_id[X400_ORNAME_TERMINAL_MAX + 1];
    char org[X400_ORNAME_ORG_MAX + 1];
    char numeric_uid[X400_ORNAME_NUMUID_MAX + 1];
    x400_personal_name pn;
    unsigned n_ou;
    char ou[X400_ORNAME_OUS][X400_ORNAME_OU_MAX + 1];
    /* built-in domain-defined attributes */
    unsigned n_dda;
    x400_dda dda[X400_ORNAME_DDAS];
    /* extension attributes decoded */
    char common_name[X400_ORNAME_CN_MAX + 1];         /* EA 1 */
    char t_common_name[X400_ORNAME_CN_MAX + 1];       /* EA 2, T.61 */
    char t_org[X400_ORNAME_ORG_MAX + 1];              /* EA 3, T.61 */
    x400_personal_name t_pn;                          /* EA 4, T.61 */
    unsigned n_t_ou;                                  /* EA 5, T.61 */
    char t_ou[X400_ORNAME_OUS][X400_ORNAME_OU_MAX + 1];
    /* opaque parts */
    unsigned n_opaque;
    x400_orname_opaque opaque[X400_ORNAME_OPAQUE_MAX];
    uint16_t dir_off, dir_len;       /* directory-name [0]: the Name's BER */
    uint16_t raw_used;
    uint8_t raw[X400_ORNAME_RAW_MAX];
} x400_orname;

/* Zero *n (every attribute absent).  Thread-safe. */
void x400_orname_init(x400_orname *n);

/* Check every attribute against its type, character set (PrintableString,
 * NumericString; T.61 values: any octet but NUL) and upper bound, and the
 * structural rules (a personal name has a surname; opaque values lie inside
 * raw[]).  X400_OK, X400_ERR_INVALID_ARG (bad value; the attribute named in
 * diag->text) or X400_ERR_TOO_LONG.  Thread-safe. */
int x400_orname_validate(const x400_orname *n, x400_diag *diag);

/* Parse the text form (see above) into *out.  `text` need not be
 * NUL-terminated; `len` bytes are read.  X400_OK; X400_ERR_PARSE (unknown
 * key, missing '=', bad escape, repeated attribute, odd hex),
 * X400_ERR_TOO_LONG (a value or a count above its bound), or the
 * x400_orname_validate() error.  Detail in *diag (layer P1; may be NULL).
 * *out is unspecified after a failure.  Thread-safe. */
int x400_orname_parse(const char *text, size_t len, x400_orname *out,
                      x400_diag *diag);

/* Write the text form of *n into buf[len] (NUL-terminated).  Returns the
 * length (excluding the NUL); X400_ERR_BUFFER_TOO_SMALL (buf holds "" if
 * len > 0) or the x400_orname_validate() error.  X400_ORNAME_TEXT_MAX is
 * always enough.  Thread-safe. */
int x400_orname_format(const x400_orname *n, char *buf, size_t len);

/* Set one attribute, named by its key in the text form (see above), to
 * `value` taken literally (no escapes; the character set is checked by
 * x400_orname_validate, as for every field):
 *   C P P# O S G I Q CN X121 T-ID UA-ID TCN TO TS TG TI TQ
 *            replace the value; NULL or "" removes the attribute;
 *   A A#     the ADMD: present with `value` ("" and " " included), NULL
 *            absent;
 *   OU TOU   append one organisational unit; NULL removes them all;
 *   DDA:<type>  append a domain-defined attribute.
 * X400_OK; X400_ERR_LIMIT when the value (or the count) is above its
 * upper bound -- the name is left unchanged, never truncated;
 * X400_ERR_INVALID_ARG (NULL n or key, unknown key).  Thread-safe. */
int x400_orname_set(x400_orname *n, const char *key, const char *value);

/* 1 when the two names have the same attributes (byte-exact values, opaque
 * values compared by content), else 0.  Thread-safe. */
int x400_orname_equal(const x400_orname *a, const x400_orname *b);

/* Store an opaque extension attribute (type, BER of its value) or the
 * directory name (BER of the X.501 Name) in n->raw.  X400_OK,
 * X400_ERR_FULL (raw[] or the opaque slots are used up),
 * X400_ERR_INVALID_ARG (type > 256, or a decoded type 1..5: use the fields),
 * X400_ERR_DUPLICATE (the type or a directory name is already there). */
int x400_orname_add_opaque(x400_orname *n, unsigned type, const uint8_t *ber,
                           size_t len);
int x400_orname_set_directory_name(x400_orname *n, const uint8_t *ber,
                                   size_t len);

#ifdef __cplusplus
}
#endif
#endif
