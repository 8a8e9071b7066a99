/* The tshark wire check itself: a valid hand-made exchange passes, and a
 * broken one is flagged, so a silent tool can never pass a test. */
#include <string.h>

#include "wire.h"
#include "x400t.h"

/* CR with calling/called TSAP "X400-88", CC, then a DT carrying an
 * (unrecognised, so plain data) payload, then DR. */
static const uint8_t cr[] = { 0x03, 0x00, 0x00, 0x1d, 0x18, 0xe0, 0x00, 0x00, 0x00, 0x01, 0x00,
    0xc1, 0x07, 'X', '4', '0', '0', '-', '8', '8', 0xc2, 0x07, 'X', '4', '0', '0', '-', '8', '8' };
static const uint8_t cc[] = { 0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x01, 0x00, 0x02, 0x00 };

START_TEST(valid_exchange_passes)
{
    x400t_wire w;
    char err[4000];
    char *f;
    x400t_wire_init(&w);
    /* fed in two pieces to exercise the splitter */
    x400t_wire_add(&w, 1, cr, 5);
    x400t_wire_add(&w, 1, cr + 5, sizeof cr - 5);
    x400t_wire_add(&w, 0, cc, sizeof cc);
    ck_assert_uint_eq(w.n, 2);
    ck_assert_msg(x400t_wire_check(&w, "wire_valid", NULL, err, sizeof err) == 0, "%s", err);
    f = x400t_wire_fields(&w, "wire_valid", NULL, "-e cotp.type");
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f, "0x0e\n0x0d\n");
    free(f);
    x400t_wire_free(&w);
}
END_TEST

START_TEST(truncated_cotp_is_flagged)
{
    /* A CR whose LI claims more bytes than the TPKT holds. */
    static const uint8_t bad[] = { 0x03, 0x00, 0x00, 0x0b, 0x30, 0xe0, 0x00, 0x00, 0x00, 0x01, 0x00 };
    x400t_wire w;
    char err[4000];
    x400t_wire_init(&w);
    x400t_wire_add(&w, 1, bad, sizeof bad);
    ck_assert_int_ne(x400t_wire_check(&w, "wire_bad", NULL, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "tshark flagged"));
    x400t_wire_free(&w);
}
END_TEST

Suite *x400t_suite_wire(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("tshark");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_exchange_passes);
    tcase_add_test(tc, truncated_cotp_is_flagged);
    suite_add_tcase(s, tc);
    return s;
}
