/* The public API's conventions (common.h "Names", "Detail", "Getters"):
 * every getter takes NULL and returns a neutral value (a diag getter an
 * all-zero diag, never NULL); string setters refuse what does not fit
 * (X400_ERR_LIMIT) and leave the field as it was; the GDI text form; the
 * in-memory MTSID allocator for test harnesses. */
#include <string.h>

#include "x400p1/client.h"
#include "x400p1/driver.h"
#include "x400p1/mtsid.h"
#include "x400p1/orname.h"
#include "x400p1/p1link.h"
#include "x400t.h"

static void neutral_diag(const x400_diag *d)
{
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->code, 0);
    ck_assert_int_eq(d->layer, X400_LAYER_NONE);
    ck_assert_int_eq(d->source, X400_SOURCE_NONE);
    ck_assert_str_eq(d->text, "");
}

START_TEST(getters_take_null)
{
    x400_lpi_handle h = { 0, 0, 0 };
    x400_mtsid id;
    x400_p1_link_info info;
    memset(&id, 0, sizeof id);
    neutral_diag(x400_assoc_diag(NULL));
    neutral_diag(x400_driver_diag(NULL));
    neutral_diag(x400_p1_link_diag(NULL));
    neutral_diag(x400_mtsid_cursor_diag(NULL));
    neutral_diag(x400_client_diag(NULL));
    ck_assert_int_eq(x400_assoc_get_state(NULL), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_get_mode(NULL), X400_MODE_NORMAL);
    ck_assert_ptr_null(x400_assoc_get_user(NULL));
    ck_assert_uint_eq(x400_assoc_pending(NULL, NULL), 0);
    ck_assert_uint_eq(x400_driver_conn_count(NULL), 0);
    ck_assert_uint_eq(x400_driver_inbound_count(NULL), 0);
    ck_assert_uint_eq(x400_driver_refused_count(NULL), 0);
    ck_assert_uint_eq(x400_driver_listen_port(NULL), 0);
    ck_assert_ptr_null(x400_driver_assoc(NULL, h));
    ck_assert_uint_eq(x400_lpi_count(NULL), 0);
    ck_assert_uint_eq(x400_lpi_id(NULL), 0);
    ck_assert_uint_eq(x400_lpi_capacity(NULL), 0);
    ck_assert_uint_eq(x400_lpi_retired(NULL), 0);
    ck_assert_uint_eq(x400_mtsid_current_run(NULL), 0);
    ck_assert_ptr_null(x400_mtsid_gdi(NULL));
    ck_assert_uint_eq(x400_p1_idset_count(NULL), 0);
    ck_assert_uint_eq(x400_p1_idset_capacity(NULL), 0);
    ck_assert_int_eq(x400_p1_idset_contains(NULL, &id), 0);
    ck_assert_int_eq(x400_p1_link_is_bound(NULL), 0);
    ck_assert_int_eq(x400_p1_link_is_recovering(NULL), 0);
    ck_assert_int_eq(x400_p1_link_is_idle(NULL), 0);
    ck_assert_int_eq(x400_p1_link_abort(NULL), X400_ERR_INVALID_ARG);
    ck_assert_uint_eq(x400_p1_link_queued(NULL), 0);
    ck_assert_ptr_null(x400_p1_link_assoc(NULL));
    ck_assert(x400_p1_link_next_timeout(NULL) == UINT64_MAX);
    ck_assert_int_eq(x400_p1_link_confirm_pending(NULL), 0);
    ck_assert_int_eq(x400_p1_link_get_info(NULL, &info), X400_ERR_INVALID_ARG);
    ck_assert_ptr_null(x400_p1_apdu_id(NULL));
    ck_assert_uint_eq(x400_client_reports(NULL), 0);
}
END_TEST

/* A diag getter on a live object returns its own diag: after a failure it
 * is no longer the neutral one. */
START_TEST(diag_getter_of_live_object)
{
    x400_driver *d;
    x400_driver_callbacks none = { NULL, NULL, NULL, NULL };
    ck_assert_int_eq(x400_driver_new(&d, NULL, &none, NULL), X400_OK);
    ck_assert_ptr_ne(x400_driver_diag(d), x400_driver_diag(NULL));
    ck_assert_int_lt(x400_driver_listen(d, "127.0.0.1", "no-such-service"), 0);
    ck_assert_int_ne(x400_driver_diag(d)->text[0], 0);
    neutral_diag(x400_driver_diag(NULL));
    x400_driver_free(d);
}
END_TEST

static void fill(char *s, size_t n)
{
    memset(s, 'x', n);
    s[n] = 0;
}

START_TEST(link_config_setters)
{
    x400_p1_link_config c;
    char s[80];
    x400_p1_link_config_init(&c, X400_ROLE_INITIATOR);
    fill(s, X400_MTA_NAME_MAX);
    ck_assert_int_eq(x400_p1_link_config_set_own_name(&c, s), X400_OK);
    ck_assert_str_eq(c.own_name, s);
    fill(s, X400_MTA_NAME_MAX + 1);
    ck_assert_int_eq(x400_p1_link_config_set_own_name(&c, s), X400_ERR_LIMIT);
    ck_assert_uint_eq(strlen(c.own_name), X400_MTA_NAME_MAX);    /* unchanged */
    ck_assert_int_eq(x400_p1_link_config_set_own_name(&c, "MTA-A"), X400_OK);
    ck_assert_str_eq(c.own_name, "MTA-A");
    ck_assert_int_eq(x400_p1_link_config_set_own_name(&c, NULL), X400_OK);
    ck_assert_str_eq(c.own_name, "");

    ck_assert_int_eq(x400_p1_link_config_set_own_password(&c, "secret"), X400_OK);
    ck_assert_uint_eq(c.own_password_len, 6);
    ck_assert_int_eq(memcmp(c.own_password, "secret", 6), 0);
    fill(s, X400_PASSWORD_MAX + 1);
    ck_assert_int_eq(x400_p1_link_config_set_own_password(&c, s), X400_ERR_LIMIT);
    ck_assert_uint_eq(c.own_password_len, 6);
    fill(s, X400_PASSWORD_MAX);
    ck_assert_int_eq(x400_p1_link_config_set_own_password(&c, s), X400_OK);
    ck_assert_uint_eq(c.own_password_len, X400_PASSWORD_MAX);

    ck_assert_int_eq(c.peer_password_set, 0);
    ck_assert_int_eq(x400_p1_link_config_set_peer_password(&c, "peer-pw"), X400_OK);
    ck_assert_int_eq(c.peer_password_set, 1);
    ck_assert_uint_eq(c.peer_password_len, 7);
    fill(s, X400_PASSWORD_MAX + 1);
    ck_assert_int_eq(x400_p1_link_config_set_peer_password(&c, s), X400_ERR_LIMIT);
    ck_assert_uint_eq(c.peer_password_len, 7);
    ck_assert_int_eq(x400_p1_link_config_set_peer_password(&c, NULL), X400_OK);
    ck_assert_int_eq(c.peer_password_set, 0);
    ck_assert_int_eq(x400_p1_link_config_set_own_name(NULL, "x"), X400_ERR_INVALID_ARG);
}
END_TEST

START_TEST(assoc_config_setters)
{
    x400_assoc_config c;
    char s[80];
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    ck_assert_int_eq(x400_assoc_config_set_calling_ref(&c, "MTA-A"), X400_OK);
    ck_assert_uint_eq(c.calling_ref_len, 5);
    ck_assert_int_eq(memcmp(c.calling_ref, "MTA-A", 5), 0);
    fill(s, 64);
    ck_assert_int_eq(x400_assoc_config_set_common_ref(&c, s), X400_OK);
    ck_assert_uint_eq(c.common_ref_len, 64);
    fill(s, 65);
    ck_assert_int_eq(x400_assoc_config_set_common_ref(&c, s), X400_ERR_LIMIT);
    ck_assert_int_eq(x400_assoc_config_set_calling_ref(&c, s), X400_ERR_LIMIT);
    ck_assert_uint_eq(c.common_ref_len, 64);
    ck_assert_uint_eq(c.calling_ref_len, 5);
    ck_assert_int_eq(x400_assoc_config_set_calling_ref(&c, NULL), X400_OK);
    ck_assert_uint_eq(c.calling_ref_len, 0);
}
END_TEST

START_TEST(orname_set)
{
    x400_orname n, p;
    char text[X400_ORNAME_TEXT_MAX], s[80];
    static const char want[] = "C=GB;A= ;P=SMHS;O=Org;OU=Ops;OU=Night;S=Smith;G=Ann;"
                               "DDA:ID=A-1234";
    x400_orname_init(&n);
    ck_assert_int_eq(x400_orname_set(&n, "C", "GB"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "A", " "), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "P", "SMHS"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "O", "Org"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "OU", "Ops"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "OU", "Night"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "S", "Jones"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "S", "Smith"), X400_OK);     /* replaces */
    ck_assert_int_eq(x400_orname_set(&n, "G", "Ann"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "DDA:ID", "A-1234"), X400_OK);
    ck_assert_int_gt(x400_orname_format(&n, text, sizeof text), 0);
    ck_assert_str_eq(text, want);
    ck_assert_int_eq(x400_orname_parse(want, strlen(want), &p, NULL), X400_OK);
    ck_assert(x400_orname_equal(&n, &p));

    /* too long: refused, unchanged */
    fill(s, X400_ORNAME_SURNAME_MAX + 1);
    ck_assert_int_eq(x400_orname_set(&n, "S", s), X400_ERR_LIMIT);
    ck_assert_str_eq(n.pn.surname, "Smith");
    fill(s, X400_ORNAME_SURNAME_MAX);
    ck_assert_int_eq(x400_orname_set(&n, "S", s), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "OU", "3"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "OU", "4"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&n, "OU", "5"), X400_ERR_LIMIT);
    ck_assert_uint_eq(n.n_ou, 4);
    ck_assert_int_eq(x400_orname_set(&n, "OU", NULL), X400_OK);
    ck_assert_uint_eq(n.n_ou, 0);
    ck_assert_int_eq(x400_orname_set(&n, "P#", "1234"), X400_OK);
    ck_assert_int_eq(n.prmd_numeric, 1);
    ck_assert_int_eq(x400_orname_set(&n, "P", "ALPHA"), X400_OK);
    ck_assert_int_eq(n.prmd_numeric, 0);
    ck_assert_int_eq(x400_orname_set(&n, "A", NULL), X400_OK);
    ck_assert_int_eq(n.admd_present, 0);
    ck_assert_int_eq(x400_orname_set(&n, "G", ""), X400_OK);
    ck_assert_str_eq(n.pn.given, "");
    ck_assert_int_eq(x400_orname_set(&n, "NOPE", "x"), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_orname_set(NULL, "S", "x"), X400_ERR_INVALID_ARG);
}
END_TEST

START_TEST(gdi_text)
{
    static const struct { const char *in, *out; } ok[] = {
        { "C=XX;A=ADMD;P=ALPHA", "C=XX;A=ADMD;P=ALPHA" },
        { "C=GB;A= ;P=SMHS", "C=GB;A= ;P=SMHS" },
        { "P=SMHS;A= ;C=GB", "C=GB;A= ;P=SMHS" },           /* any order */
        { "C=234;A#=0001", "C=234;A#=0001" },
        { "C=GB;A= ;P#=42;", "C=GB;A= ;P#=42" },
    };
    static const struct { const char *in; int rv; } bad[] = {
        { "C=GB;P=SMHS", X400_ERR_PARSE },                  /* A missing */
        { "A= ;P=SMHS", X400_ERR_PARSE },                   /* C missing */
        { "C=GB;A= ;S=Smith", X400_ERR_PARSE },             /* not a GDI attribute */
        { "C=GB;A=ABCDEFGHIJKLMNOPQ", X400_ERR_TOO_LONG },   /* 17 */
        { "C=G1;A= ", X400_ERR_INVALID_ARG },                /* x400_gdi_validate */
        { "C=GB;A= ;X=1", X400_ERR_PARSE },
    };
    x400_gdi g;
    x400_diag d;
    char buf[64], text[64];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(ok[i].in);
        memcpy(text, ok[i].in, n);
        text[n] = 'Z';                                        /* not NUL-terminated */
        ck_assert_int_eq(x400_gdi_parse(text, n, &g, &d), X400_OK);
        ck_assert_int_eq(x400_gdi_format(&g, buf, sizeof buf), (int)strlen(ok[i].out));
        ck_assert_str_eq(buf, ok[i].out);
        /* every shorter prefix is either another valid GDI or refused */
        for (size_t k = 0; k < n; k++) {
            x400_gdi h;
            int rv = x400_gdi_parse(text, k, &h, NULL);
            ck_assert(rv == X400_OK || rv < 0);
        }
    }
    ck_assert_int_eq(x400_gdi_parse("C=XX;A=ADMD;P=ALPHA", 19, &g, NULL), X400_OK);
    ck_assert_str_eq(g.country, "XX");
    ck_assert_str_eq(g.admd, "ADMD");
    ck_assert_str_eq(g.prmd, "ALPHA");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(x400_gdi_parse(bad[i].in, strlen(bad[i].in), &g, &d), bad[i].rv);
        ck_assert_int_ne(d.text[0], 0);
    }
    ck_assert_int_eq(x400_gdi_parse("C=GB;A= ;P=SMHS", 15, &g, NULL), X400_OK);
    ck_assert_int_eq(x400_gdi_format(&g, buf, 15), X400_ERR_BUFFER_TOO_SMALL);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(x400_gdi_format(&g, buf, 16), 15);
    ck_assert_int_eq(x400_gdi_parse(NULL, 3, &g, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_gdi_format(NULL, buf, sizeof buf), X400_ERR_INVALID_ARG);
}
END_TEST

START_TEST(mtsid_in_memory)
{
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a, *b;
    x400_mtsid_cursor ca, cb;
    x400_mtsid ids[3000], x;
    x400_diag d;
    x400_mtsid_config_init(&cfg);
    cfg.flags = X400_MTSID_MEMORY;
    cfg.node_id = "HARN";
    ck_assert_int_eq(x400_gdi_parse("C=GB;A= ;P=SMHS", 15, &cfg.gdi, NULL), X400_OK);
    cfg.block = 16;
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_OK);
    /* no lock: a second one at once (that is why it is not crash-safe) */
    ck_assert_int_eq(x400_mtsid_new(&b, &cfg, &d), X400_OK);
    ck_assert_uint_gt(x400_mtsid_current_run(a), 0);
    ck_assert_int_eq(x400_mtsid_cursor_init(&ca, a), X400_OK);
    ck_assert_int_eq(x400_mtsid_cursor_init(&cb, b), X400_OK);
    for (int i = 0; i < 3000; i++) {
        ck_assert_int_eq(x400_mtsid_next(&ca, &ids[i]), X400_OK);
        ck_assert_str_eq(ids[i].gdi.prmd, "SMHS");
        ck_assert_int_eq(strncmp(ids[i].local, "HARN.", 5), 0);
        if (i) ck_assert(!x400_mtsid_equal(&ids[i], &ids[i - 1]));
    }
    ck_assert_int_eq(x400_mtsid_next(&cb, &x), X400_OK);
    x400_mtsid_free(b);
    x400_mtsid_free(a);

    /* a state file and MEMORY together are a configuration error */
    cfg.state_path = "ids.state";
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(d.reason, X400_MTSID_R_CONFIG);
    ck_assert_ptr_null(a);
    cfg.state_path = NULL;
    cfg.flags = X400_MTSID_MEMORY | X400_MTSID_CREATE;
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    cfg.flags = 0;                              /* without MEMORY a path is required */
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
}
END_TEST

Suite *x400t_suite_api(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("conventions");
    tcase_add_test(tc, getters_take_null);
    tcase_add_test(tc, diag_getter_of_live_object);
    tcase_add_test(tc, link_config_setters);
    tcase_add_test(tc, assoc_config_setters);
    tcase_add_test(tc, orname_set);
    tcase_add_test(tc, gdi_text);
    tcase_add_test(tc, mtsid_in_memory);
    suite_add_tcase(s, tc);
    return s;
}
