/* Foundation: error strings, fatal threshold, allocator, diagnostics,
 * logging and the bounded buffer. */
#include <string.h>

#include "internal.h"
#include "alloc.h"
#include "x400t.h"

START_TEST(strerror_covers_all_codes)
{
    static const int codes[] = {
        X400_OK, X400_ERR_INVALID_ARG, X400_ERR_NOMEM, X400_ERR_FULL,
        X400_ERR_STALE_HANDLE, X400_ERR_AGAIN, X400_ERR_BUFFER_TOO_SMALL,
        X400_ERR_PARSE, X400_ERR_TOO_LONG, X400_ERR_IO, X400_ERR_CORRUPT,
        X400_ERR_PROTOCOL, X400_ERR_STATE, X400_ERR_LIMIT, X400_ERR_REFUSED,
        X400_ERR_CLOSED, X400_ERR_UNSUPPORTED, X400_ERR_TIMEOUT,
        X400_ERR_NOT_FOUND, X400_ERR_DUPLICATE, X400_ERR_FATAL,
        X400_ERR_ABORTED, X400_ERR_CALLBACK_FAILURE, X400_ERR_INTERNAL };
    for (size_t i = 0; i < X400I_ARRAY_LEN(codes); i++) {
        const char *s = x400_strerror(codes[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown error");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(s, x400_strerror(codes[j]));
    }
    ck_assert_str_eq(x400_strerror(-12345), "unknown error");
}
END_TEST

START_TEST(fatal_threshold)
{
    ck_assert(!x400_is_fatal(X400_OK));
    ck_assert(!x400_is_fatal(X400_ERR_STALE_HANDLE));
    ck_assert(!x400_is_fatal(X400_ERR_DUPLICATE));
    ck_assert(x400_is_fatal(X400_ERR_FATAL));
    ck_assert(x400_is_fatal(X400_ERR_ABORTED));
    ck_assert(x400_is_fatal(X400_ERR_INTERNAL));
}
END_TEST

START_TEST(allocator_and_buffer)
{
    x400t_counting c = { 0 };
    x400_allocator a = X400T_COUNTING_ALLOCATOR(&c);
    x400i_buf b;
    uint8_t big[1000];
    memset(big, 0xab, sizeof big);
    x400i_buf_init(&b, &a, 1500);
    ck_assert_int_eq(x400i_buf_append(&b, big, sizeof big), X400_OK);
    ck_assert_int_eq(x400i_buf_put_u16be(&b, 0x1234), X400_OK);
    ck_assert_uint_eq(b.len, 1002);
    ck_assert_uint_eq(b.p[1000], 0x12);
    ck_assert_uint_eq(b.p[1001], 0x34);
    /* the bound holds: 1002 + 1000 > 1500 */
    ck_assert_int_eq(x400i_buf_append(&b, big, sizeof big), X400_ERR_LIMIT);
    ck_assert_uint_eq(b.len, 1002);
    x400i_buf_consume(&b, 1000);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_uint_eq(b.p[0], 0x12);
    ck_assert_uint_eq(c.live, 1);
    x400i_buf_free(&b);
    ck_assert_uint_eq(c.live, 0);
    /* allocation failure is reported, not hidden */
    c.calls = 0;
    c.fail_at = 1;
    x400i_buf_init(&b, &a, 0);
    ck_assert_int_eq(x400i_buf_append(&b, big, 10), X400_ERR_NOMEM);
    x400i_buf_free(&b);
    /* overflow-checked calloc */
    c.fail_at = 0;
    ck_assert_ptr_null(x400i_calloc(&a, SIZE_MAX / 2, 4));
}
END_TEST

START_TEST(diag_format)
{
    x400_diag d;
    char buf[400];
    int n;
    x400i_diag_clear(&d);
    ck_assert_int_eq(x400i_diag_set(&d, X400_LAYER_SESSION, X400_SOURCE_PEER,
                                    X400_ERR_PROTOCOL, 3, "bad SPDU %d", 42),
                     X400_ERR_PROTOCOL);
    n = x400_diag_format(&d, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(buf, "session/peer: bad SPDU 42 (protocol error, reason 3)");
    /* truncation is safe and reports the full length */
    ck_assert_int_eq(x400_diag_format(&d, buf, 8), n);
    ck_assert_uint_eq(strlen(buf), 7);
    ck_assert_str_eq(x400_layer_name(X400_LAYER_PRESENTATION), "presentation");
    ck_assert_str_eq(x400_source_name(X400_SOURCE_PROVIDER), "provider");
    ck_assert_str_eq(x400_layer_name((x400_layer)999), "unknown-layer");
}
END_TEST

struct logrec { int n; x400_log_level last; char msg[600]; };
static void logfn(void *u, x400_log_level lv, x400_layer layer, const char *m)
{
    struct logrec *r = u;
    (void)layer;
    r->n++;
    r->last = lv;
    snprintf(r->msg, sizeof r->msg, "%s", m);
}

START_TEST(logging_levels_and_hex)
{
    struct logrec r = { 0, X400_LOG_ERROR, "" };
    x400_logger lg = { logfn, &r, X400_LOG_INFO };
    const uint8_t pdu[] = { 0x03, 0x00, 0x00, 0x0b };
    x400i_log(&lg, X400_LOG_DEBUG, X400_LAYER_NONE, "hidden %d", 1);
    ck_assert_int_eq(r.n, 0);
    x400i_log(&lg, X400_LOG_WARNING, X400_LAYER_NONE, "shown %d", 2);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.msg, "shown 2");
    x400i_log_hex(&lg, X400_LAYER_TPKT, "out", pdu, sizeof pdu);
    ck_assert_int_eq(r.n, 1); /* TRACE is above INFO */
    lg.max_level = X400_LOG_TRACE;
    x400i_log_hex(&lg, X400_LAYER_TPKT, "out", pdu, sizeof pdu);
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.msg, "out (4 bytes): 03 00 00 0b");
    x400i_log(NULL, X400_LOG_ERROR, X400_LAYER_NONE, "no logger is fine");
}
END_TEST

/* The one CRC-32 of the library (lib/common.c): the IEEE 802.3 / zlib
 * variant every on-disk record uses; check values from zlib's crc32(). */
START_TEST(crc32_check_values)
{
    ck_assert_uint_eq(x400i_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(x400i_crc32((const uint8_t *)"a", 1), 0xE8B7BE43u);
    ck_assert_uint_eq(x400i_crc32(NULL, 0), 0u);
    /* an empty received-identifier set blob: magic and count 0 */
    ck_assert_uint_eq(x400i_crc32((const uint8_t *)"X4IDSET1\0\0\0\0", 12), 0xFE04D94Eu);
}
END_TEST

Suite *x400t_suite_common(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, strerror_covers_all_codes);
    tcase_add_test(tc, fatal_threshold);
    tcase_add_test(tc, allocator_and_buffer);
    tcase_add_test(tc, diag_format);
    tcase_add_test(tc, logging_levels_and_hex);
    tcase_add_test(tc, crc32_check_values);
    suite_add_tcase(s, tc);
    return s;
}
