/* The example MTA's configuration file (examples/x400mta/config.c) and
 * logging (examples/x400mta/log.c). */
#define _GNU_SOURCE

#include <dirent.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "x400t.h"
#include "mta.h"

static char tmpdir[256];

static void tmp_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/x400t-mtacfg-XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
}

/* The directory is flat: remove its files, then itself. */
static void tmp_teardown(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    if (!d) return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

static const char *tpath(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Load `text` (written to a file) into cfg; returns mta_config_load's rc. */
static int load_text(mta_config *cfg, const char *text, char *err, size_t errlen)
{
    const char *p = tpath("t.conf");
    write_file(p, text);
    return mta_config_load(cfg, p, err, errlen);
}

/* ------------------------------------------------------------ config */

START_TEST(sample_round_trips)
{
    mta_config cfg;
    char err[512] = "";
    FILE *f = fopen(tpath("sample.conf"), "w");
    const mta_peer_config *b, *c;
    ck_assert_ptr_nonnull(f);
    mta_config_sample(f);
    ck_assert_int_eq(fclose(f), 0);
    mta_config_defaults(&cfg);
    ck_assert_msg(mta_config_load(&cfg, tpath("sample.conf"), err, sizeof err) == 0, "%s", err);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.name, "MTA-A");
    ck_assert_uint_eq(cfg.password_len, 8);
    ck_assert(!memcmp(cfg.password, "secret-a", 8));
    ck_assert_str_eq(cfg.gdi.country, "XX");
    ck_assert_str_eq(cfg.gdi.admd, "ADMD");
    ck_assert_str_eq(cfg.gdi.prmd, "ALPHA");
    ck_assert_str_eq(cfg.node, "alpha1");
    ck_assert_uint_eq(cfg.nlisten, 2);
    ck_assert_str_eq(cfg.listen[0], "*:102");
    ck_assert_str_eq(cfg.listen[1], "[::1]:1102");
    ck_assert_str_eq(cfg.spool, "/var/spool/x400mta");
    ck_assert_uint_eq(cfg.nlocal, 1);
    ck_assert_str_eq(cfg.log_path, "-");
    ck_assert_int_eq(cfg.log_level[MTA_LOG_SERVICE], X400_LOG_INFO);
    ck_assert_int_eq(cfg.log_level[MTA_LOG_INTERFACE], X400_LOG_NOTICE);
    ck_assert_int_eq(cfg.log_level[MTA_LOG_APDU], -1);
    ck_assert_uint_eq(cfg.npeers, 2);
    b = mta_config_peer(&cfg, "MTA-B");
    c = mta_config_peer(&cfg, "MTA-C");
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(mta_config_peer(&cfg, "mta-b")); /* exact */
    ck_assert_str_eq(b->host, "192.0.2.20");
    ck_assert_uint_eq(b->tsel.len, 7);
    ck_assert(!memcmp(b->tsel.value, "X400-88", 7));
    ck_assert_uint_eq(b->ssel.len, 2);
    ck_assert_uint_eq(b->ssel.value[0], 0);
    ck_assert_uint_eq(b->ssel.value[1], 1);
    ck_assert_uint_eq(b->psel.len, 0);
    ck_assert_uint_eq(b->nroutes, 2);
    /* MTA-C takes our name/password from [mta] */
    ck_assert_str_eq(c->our_name, "MTA-A");
    ck_assert_uint_eq(c->our_password_len, 8);
    ck_assert_uint_eq(c->their_password_len, 3);
    ck_assert_uint_eq(c->their_password[1], 0xff);
    ck_assert_int_eq(c->family, MTA_FAMILY_IPV6);
    ck_assert_int_eq(c->mode, X400_MODE_X410);
    ck_assert_int_eq(c->rtse.x410_mode, 1);
    ck_assert_int_eq(c->rtse.two_way_alternate, 0);
    ck_assert_str_eq(c->routes[0], "C=ZZ;A= ");
    /* the sample's values are the documented defaults */
    {
        mta_peer_config d;
        mta_peer_defaults(&d);
        ck_assert_str_eq(b->port, d.port);
        ck_assert_uint_eq(b->lifetime_s, d.lifetime_s);
        ck_assert_uint_eq(b->rtse.checkpoint_size_kib, d.rtse.checkpoint_size_kib);
        ck_assert_uint_eq(b->max_open_retries, d.max_open_retries);
        ck_assert_uint_eq(b->rtse.transfer_timeout_s_per_kib[2], d.rtse.transfer_timeout_s_per_kib[2]);
    }
}
END_TEST

START_TEST(defaults_documented)
{
    mta_config cfg;
    mta_peer_config p;
    mta_config_defaults(&cfg);
    ck_assert_uint_eq(cfg.npeers, 0);
    ck_assert_int_eq(cfg.log_level[0], X400_LOG_INFO);
    ck_assert_int_eq(cfg.log_level[1], X400_LOG_NOTICE);
    ck_assert_int_eq(cfg.log_level[2], -1);
    ck_assert_uint_eq(cfg.commit_delay_ms, 0);
    ck_assert_int_eq(cfg.tcp_fast_open, 0);
    mta_peer_defaults(&p);
    ck_assert_str_eq(p.port, "102");
    ck_assert_int_eq(p.family, MTA_FAMILY_ANY);
    ck_assert_int_eq(p.mode, X400_MODE_NORMAL);
    ck_assert_uint_eq(p.rtse.checkpoint_size_kib, 30);
    ck_assert_uint_eq(p.rtse.window_size, 5);
    ck_assert_uint_eq(p.rtse.recovery_timeout_s, 60);
    ck_assert_int_eq(p.rtse.two_way_alternate, 1);
    ck_assert_int_eq(p.rtse.initial_turn_local, 1);
    ck_assert_uint_eq(p.rtse.transfer_timeout_s_per_kib[0], 1000);
    ck_assert_uint_eq(p.rtse.transfer_timeout_s_per_kib[1], 2000);
    ck_assert_uint_eq(p.rtse.transfer_timeout_s_per_kib[2], 3000);
    ck_assert_uint_eq(p.lifetime_s, 300);
    ck_assert_uint_eq(p.disconnect_s, 120);
    ck_assert_uint_eq(p.threshold, 50);
    ck_assert_uint_eq(p.max_assocs, 4);
    ck_assert_uint_eq(p.max_open_retries, 144);
    ck_assert_uint_eq(p.open_interval_s, 600);
    ck_assert_uint_eq(p.max_transfer_retries, 2);
    ck_assert_uint_eq(p.transfer_interval_s, 120);
    ck_assert_int_eq(p.expedited, 0);
    ck_assert_int_eq(x400_rtse_config_check(&p.rtse), X400_OK);
}
END_TEST

/* Every key, each set to a value other than its default. */
START_TEST(every_key_parsed)
{
    static const char text[] =
        "# comment\n"
        "   # indented comment\n"
        "\n"
        "[ mta ]\n"
        "name=Alpha MTA\n"
        "password = hex:00017f80ff\n"
        "gdi = C=234;A#=0001;P#=42\n"
        "node = N1\n"
        "listen = 127.0.0.1:1102\n"
        "listen = [::1]:1103\n"
        "listen = *:1104\n"
        "listen = mta.example.org:1105\n"
        "spool = /tmp/spool dir\n"
        "local = C=234;A#=0001;P#=42;O=Ops\n"
        "local = \"C=234;A= \"\n"
        "log = /var/log/x400mta.log\n"
        "log-level = service=warning, interface=debug ,apdu=trace\n"
        "commit-delay-ms = 25\n"
        "tcp-fast-open = yes\n"
        "[peer  Bravo MTA ]\n"
        "their-password = \"  spaced  \"\n"
        "our-name = Alpha-for-Bravo\n"
        "our-password = ours\n"
        "address = [2001:db8::5]\n"
        "port = 1102\n"
        "family = ipv6\n"
        "tsel = hex:0001\n"
        "ssel = SSEL\n"
        "psel = hex:\n"
        "mode = 1984\n"
        "dialogue = monologue\n"
        "initial-turn = remote\n"
        "checkpoint-size = 0\n"
        "window = 64\n"
        "recovery-timeout = 7\n"
        "transfer-timeout = 1/0/3\n"
        "lifetime = 11\n"
        "disconnect-timer = 12\n"
        "threshold = 13\n"
        "max-associations = 14\n"
        "max-open-retries = 15\n"
        "open-interval = 16\n"
        "max-transfer-retries = 17\n"
        "transfer-interval = 18\n"
        "expedited = on\n"
        "route = C=YY;A=ADMD\n"
        "route = C=XX;A=ADMD;P=P;O=O;OU=U1;OU=U2;S=S;G=G;DDA:ID=7\n"
        "domain = C=XX;A=ADMD;P=BRAVO\n";
    mta_config cfg;
    const mta_peer_config *p;
    char err[512] = "";
    mta_config_defaults(&cfg);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.name, "Alpha MTA");
    ck_assert_uint_eq(cfg.password_len, 5);
    ck_assert(!memcmp(cfg.password, "\x00\x01\x7f\x80\xff", 5));
    ck_assert_str_eq(cfg.gdi.country, "234");
    ck_assert_str_eq(cfg.gdi.admd, "0001");
    ck_assert_int_eq(cfg.gdi.admd_numeric, 1);
    ck_assert_str_eq(cfg.gdi.prmd, "42");
    ck_assert_int_eq(cfg.gdi.prmd_numeric, 1);
    ck_assert_str_eq(cfg.node, "N1");
    ck_assert_uint_eq(cfg.nlisten, 4);
    ck_assert_str_eq(cfg.listen[3], "mta.example.org:1105");
    ck_assert_str_eq(cfg.spool, "/tmp/spool dir");
    ck_assert_uint_eq(cfg.nlocal, 2);
    ck_assert_str_eq(cfg.local[1], "C=234;A= ");
    ck_assert_str_eq(cfg.log_path, "/var/log/x400mta.log");
    ck_assert_int_eq(cfg.log_level[0], X400_LOG_WARNING);
    ck_assert_int_eq(cfg.log_level[1], X400_LOG_DEBUG);
    ck_assert_int_eq(cfg.log_level[2], X400_LOG_TRACE);
    ck_assert_uint_eq(cfg.commit_delay_ms, 25);
    ck_assert_int_eq(cfg.tcp_fast_open, 1);
    ck_assert_uint_eq(cfg.npeers, 1);
    p = mta_config_peer(&cfg, "Bravo MTA");
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->their_password_len, 10);
    ck_assert(!memcmp(p->their_password, "  spaced  ", 10));
    ck_assert_str_eq(p->our_name, "Alpha-for-Bravo");
    ck_assert_int_eq(p->our_name_set, 1);
    ck_assert_uint_eq(p->our_password_len, 4);
    ck_assert(!memcmp(p->our_password, "ours", 4));
    ck_assert_str_eq(p->host, "2001:db8::5");
    ck_assert_str_eq(p->port, "1102");
    ck_assert_int_eq(p->family, MTA_FAMILY_IPV6);
    ck_assert_uint_eq(p->tsel.len, 2);
    ck_assert_uint_eq(p->tsel.value[1], 1);
    ck_assert_uint_eq(p->ssel.len, 4);
    ck_assert(!memcmp(p->ssel.value, "SSEL", 4));
    ck_assert_uint_eq(p->psel.len, 0);
    ck_assert_int_eq(p->mode, X400_MODE_X410);
    ck_assert_int_eq(p->rtse.x410_mode, 1);
    ck_assert_int_eq(p->rtse.two_way_alternate, 0);
    ck_assert_int_eq(p->rtse.initial_turn_local, 0);
    ck_assert_uint_eq(p->rtse.checkpoint_size_kib, 0);
    ck_assert_uint_eq(p->rtse.window_size, 64);
    ck_assert_uint_eq(p->rtse.recovery_timeout_s, 7);
    ck_assert_uint_eq(p->rtse.transfer_timeout_s_per_kib[0], 1);
    ck_assert_uint_eq(p->rtse.transfer_timeout_s_per_kib[1], 0);
    ck_assert_uint_eq(p->rtse.transfer_timeout_s_per_kib[2], 3);
    ck_assert_uint_eq(p->lifetime_s, 11);
    ck_assert_uint_eq(p->disconnect_s, 12);
    ck_assert_uint_eq(p->threshold, 13);
    ck_assert_uint_eq(p->max_assocs, 14);
    ck_assert_uint_eq(p->max_open_retries, 15);
    ck_assert_uint_eq(p->open_interval_s, 16);
    ck_assert_uint_eq(p->max_transfer_retries, 17);
    ck_assert_uint_eq(p->transfer_interval_s, 18);
    ck_assert_int_eq(p->expedited, 1);
    ck_assert_uint_eq(p->nroutes, 2);
    ck_assert_str_eq(p->routes[0], "C=YY;A=ADMD");
    ck_assert_str_eq(p->domain.country, "XX");
    ck_assert_str_eq(p->domain.admd, "ADMD");
    ck_assert_str_eq(p->domain.prmd, "BRAVO");

    /* a single level for every category; off */
    ck_assert_int_eq(mta_config_set(&cfg, "log-level", "error", err, sizeof err), 0);
    ck_assert_int_eq(cfg.log_level[0], X400_LOG_ERROR);
    ck_assert_int_eq(cfg.log_level[1], X400_LOG_ERROR);
    ck_assert_int_eq(cfg.log_level[2], X400_LOG_ERROR);
    ck_assert_int_eq(mta_config_set(&cfg, "log-level", "apdu=off", err, sizeof err), 0);
    ck_assert_int_eq(cfg.log_level[0], X400_LOG_ERROR);
    ck_assert_int_eq(cfg.log_level[2], -1);
}
END_TEST

/* Command-line settings, and peers following the [mta] name/password. */
START_TEST(set_and_inherit)
{
    static const char text[] =
        "[mta]\nname = A \t\npassword = pa\ngdi = C=XX;A= \r\nnode = n\nspool = /s  \n"
        "[peer B]\naddress = b.example\ntheir-password = pb\n"
        "[peer C]\nour-name = A-for-C\nour-password = pc\ntheir-password = none\n";
    mta_config cfg;
    char err[512] = "";
    mta_config_defaults(&cfg);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.gdi.admd, " "); /* spaces after a final '=' are kept */
    ck_assert_str_eq(cfg.name, "A");     /* other trailing white space is not */
    ck_assert_str_eq(cfg.spool, "/s");
    ck_assert_str_eq(cfg.peers[0].our_name, "A");
    ck_assert_uint_eq(cfg.peers[0].our_password_len, 2);
    ck_assert_int_eq(mta_config_set(&cfg, "name", "A2", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_set(&cfg, "password", "hex:ff", err, sizeof err), 0);
    ck_assert_str_eq(cfg.peers[0].our_name, "A2");
    ck_assert_uint_eq(cfg.peers[0].our_password_len, 1);
    ck_assert_uint_eq(cfg.peers[0].our_password[0], 0xff);
    ck_assert_str_eq(cfg.peers[1].our_name, "A-for-C");
    ck_assert_uint_eq(cfg.peers[1].our_password_len, 2);
    ck_assert_int_eq(mta_config_set(&cfg, "listen", "127.0.0.1:1102", err, sizeof err), 0);
    ck_assert_uint_eq(cfg.nlisten, 1);
    ck_assert_int_eq(mta_config_set(&cfg, "spool", "/other", err, sizeof err), 0);
    ck_assert_str_eq(cfg.spool, "/other");
    ck_assert_int_eq(mta_config_set(&cfg, "bogus", "1", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "bogus") && strstr(err, "unknown"), "%s", err);
    ck_assert_int_eq(mta_config_set(&cfg, "listen", "127.0.0.1", err, sizeof err), -1);
    ck_assert_msg(!strncmp(err, "listen: ", 8), "%s", err);
    ck_assert_uint_eq(cfg.nlisten, 1);
    /* peer keys are not [mta] settings */
    ck_assert_int_eq(mta_config_set(&cfg, "route", "C=XX", err, sizeof err), -1);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    /* a second file adds peers; a peer already known is a duplicate */
    ck_assert_int_eq(load_text(&cfg, "[peer D]\ntheir-password = none\n", err, sizeof err), 0);
    ck_assert_uint_eq(cfg.npeers, 3);
    ck_assert_str_eq(cfg.peers[2].our_name, "A2");
    ck_assert_int_eq(load_text(&cfg, "[peer E]\n[peer B]\n", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "t.conf:2: duplicate peer \"B\""), "%s", err);
    ck_assert_uint_eq(cfg.npeers, 3); /* no half-loaded peers */
}
END_TEST

typedef struct bad_case {
    const char *text;
    unsigned line;
    const char *what; /* a substring of the message */
} bad_case;

#define MTA_OK "[mta]\nname = A\n"
#define PEER_OK MTA_OK "[peer B]\n"

START_TEST(bad_input_names_file_and_line)
{
    static const bad_case bad[] = {
        { "name = A\n", 1, "outside a section" },
        { "# c\n\n  key=v\n", 3, "outside a section" },
        { MTA_OK "frobnicate = 1\n", 3, "unknown key \"frobnicate\" in [mta]" },
        { MTA_OK "tcp-fast-open = maybe\n", 3, "bad tcp-fast-open \"maybe\": yes or no" },
        { PEER_OK "name = B\n", 4, "unknown key \"name\" in [peer]" },
        { "[mta\n", 1, "bad section header" },
        { "[mta] x\n", 1, "bad section header" },
        { "[other]\n", 1, "unknown section [other]" },
        { "[peers X]\n", 1, "unknown section" },
        { "[peer]\n", 1, "[peer NAME]" },
        { PEER_OK "[peer C]\n[peer B]\n", 5, "duplicate peer \"B\"" },
        { MTA_OK "[mta]\n", 3, "second [mta]" },
        { MTA_OK "just words\n", 3, "key = value" },
        { MTA_OK " = v\n", 3, "missing key" },
        { MTA_OK "spool = \"/x\n", 3, "unterminated" },
        { MTA_OK "name = \n", 3, "name is empty" },
        { MTA_OK "name = 123456789012345678901234567890123\n", 3, "longer than 32" },
        { "[peer 123456789012345678901234567890123]\n", 1, "longer than 32" },
        { MTA_OK "password = a\tb\n", 3, "printable" },
        { MTA_OK "password = hex:abc\n", 3, "even number" },
        { MTA_OK "password = hex:zz\n", 3, "hex" },
        { MTA_OK "password = 123456789012345678901234567890123456789012345678901234567890123\n", 3,
          "longer than 62" },
        { MTA_OK "gdi = C=XX;A=ADMD;O=Org\n", 3, "only C, A and P" },
        { MTA_OK "gdi = C=XX;P=X\n", 3, "C and A are required" },
        { MTA_OK "gdi = A=ADMD\n", 3, "C and A are required" },
        { MTA_OK "gdi = C=X1;A=ADMD\n", 3, "bad gdi" },
        { MTA_OK "gdi = C=XX;A=12345678901234567\n", 3, "bad gdi" },
        { MTA_OK "gdi = C=XX;A#=12a\n", 3, "bad gdi" },
        { MTA_OK "gdi = C=XX;A=X;Z=1\n", 3, "bad gdi" },
        { MTA_OK "node = 123456789\n", 3, "bad node" },
        { MTA_OK "node = a-b\n", 3, "bad node" },
        { MTA_OK "listen = 127.0.0.1\n", 3, "bad listen" },
        { MTA_OK "listen = ::1:102\n", 3, "[addr]:port" },
        { MTA_OK "listen = [::1]102\n", 3, "bad listen" },
        { MTA_OK "listen = [1.2.3.4]:102\n", 3, "not an IPv6" },
        { MTA_OK "listen = *:0\n", 3, "1..65535" },
        { MTA_OK "listen = *:65536\n", 3, "1..65535" },
        { MTA_OK "listen = bad host!:1\n", 3, "bad host" },
        { MTA_OK "listen = *:1\nlisten = *:2\nlisten = *:3\nlisten = *:4\nlisten = *:5\n"
                 "listen = *:6\nlisten = *:7\nlisten = *:8\nlisten = *:9\n", 11, "too many listen" },
        { MTA_OK "spool =\n", 3, "spool is empty" },
        { MTA_OK "local = C=XX;Bogus=1\n", 3, "bad O/R address prefix" },
        { MTA_OK "local =\n", 3, "empty O/R address prefix" },
        { MTA_OK "log-level = loud\n", 3, "bad log level" },
        { MTA_OK "log-level = service=loud\n", 3, "levels are" },
        { MTA_OK "log-level = disk=info\n", 3, "categories are" },
        { MTA_OK "log-level = service=info,,apdu=trace\n", 3, "category=level" },
        { MTA_OK "commit-delay-ms = abc\n", 3, "commit-delay-ms" },
        { MTA_OK "commit-delay-ms = -1\n", 3, "commit-delay-ms" },
        { MTA_OK "commit-delay-ms = 10001\n", 3, "commit-delay-ms" },
        { PEER_OK "their-password = hex:1\n", 4, "even number" },
        { PEER_OK "our-password = \x01\n", 4, "printable" },
        { PEER_OK "our-name =\n", 4, "our-name is empty" },
        { PEER_OK "address = bad host!\n", 4, "bad address" },
        { PEER_OK "address = 1::2::3\n", 4, "bad address" },
        { PEER_OK "address =\n", 4, "bad address" },
        { PEER_OK "port = 0\n", 4, "bad port" },
        { PEER_OK "port = 102x\n", 4, "bad port" },
        { PEER_OK "family = ipv5\n", 4, "bad family" },
        { PEER_OK "tsel = 123456789012345678901234567890123\n", 4, "longer than 32" },
        { PEER_OK "ssel = hex:0g\n", 4, "bad selector" },
        { PEER_OK "psel = hex:" "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\n", 4,
          "bad selector" },
        { PEER_OK "mode = 1992\n", 4, "bad mode" },
        { PEER_OK "dialogue = full-duplex\n", 4, "bad dialogue" },
        { PEER_OK "initial-turn = theirs\n", 4, "bad initial-turn" },
        { PEER_OK "checkpoint-size = 1025\n", 4, "bad checkpoint-size" },
        { PEER_OK "window = 0\n", 4, "bad window" },
        { PEER_OK "window = 65\n", 4, "bad window" },
        { PEER_OK "recovery-timeout = 1e3\n", 4, "bad recovery-timeout" },
        { PEER_OK "transfer-timeout = 1/2\n", 4, "bad transfer-timeout" },
        { PEER_OK "transfer-timeout = 1/2/x\n", 4, "bad transfer-timeout" },
        { PEER_OK "transfer-timeout = 1/2/3/4\n", 4, "bad transfer-timeout" },
        { PEER_OK "lifetime = 4294967296\n", 4, "bad lifetime" },
        { PEER_OK "disconnect-timer = 0\n", 4, "bad disconnect-timer" },
        { PEER_OK "threshold = 0\n", 4, "bad threshold" },
        { PEER_OK "max-associations = 0\n", 4, "bad max-associations" },
        { PEER_OK "max-open-retries = many\n", 4, "bad max-open-retries" },
        { PEER_OK "open-interval = 0\n", 4, "bad open-interval" },
        { PEER_OK "max-transfer-retries = +1\n", 4, "bad max-transfer-retries" },
        { PEER_OK "transfer-interval = \n", 4, "bad transfer-interval" },
        { PEER_OK "expedited = maybe\n", 4, "bad expedited" },
        { PEER_OK "domain = C=XX;A=ADMD;P=BRAVO;O=Org\n", 4, "bad domain \"C=XX;A=ADMD;P=BRAVO;O=Org\": only C, A and P" },
        { PEER_OK "domain = P=BRAVO\n", 4, "bad domain" },
        { PEER_OK "domain = C=XX;A=ADMD;P=ABCDEFGHIJKLMNOPQ\n", 4, "bad domain" },
        { PEER_OK "route = C=XX;S=\n", 4, "bad O/R address prefix" },
        { PEER_OK "route = C=XX;;;=\n", 4, "bad O/R address prefix" },
        { PEER_OK "route = C=001\nroute = C=002\nroute = C=003\nroute = C=004\nroute = C=005\n"
                  "route = C=006\nroute = C=007\nroute = C=008\nroute = C=009\n", 12, "too many O/R" },
    };
    char err[512];
    char path[600];
    snprintf(path, sizeof path, "%s:", tpath("t.conf"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mta_config cfg;
        char want[700];
        mta_config_defaults(&cfg);
        err[0] = 0;
        ck_assert_msg(load_text(&cfg, bad[i].text, err, sizeof err) == -1, "case %zu accepted:\n%s", i,
                      bad[i].text);
        snprintf(want, sizeof want, "%s%u: ", path, bad[i].line);
        ck_assert_msg(!strncmp(err, want, strlen(want)), "case %zu: \"%s\" does not start with \"%s\"", i,
                      err, want);
        ck_assert_msg(strstr(err, bad[i].what), "case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].what);
    }
    /* 17 peers */
    {
        char text[2048] = MTA_OK;
        mta_config cfg;
        for (int i = 0; i < MTA_MAX_PEERS + 1; i++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "[peer P%d]\n", i);
        mta_config_defaults(&cfg);
        ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "t.conf:19: too many peers"), "%s", err);
        ck_assert_uint_eq(cfg.npeers, 0);
    }
    /* a line too long, a NUL in a line, a missing file */
    {
        mta_config cfg;
        char *text = malloc(6000);
        ck_assert_ptr_nonnull(text);
        strcpy(text, MTA_OK "spool = ");
        memset(text + strlen(text), 'x', 5000);
        strcpy(text + strlen(MTA_OK "spool = ") + 5000, "\n");
        mta_config_defaults(&cfg);
        ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "t.conf:3: line longer"), "%s", err);
        free(text);
        {
            FILE *f = fopen(tpath("nul.conf"), "w");
            ck_assert_ptr_nonnull(f);
            fwrite("[mta]\nname = A\0B\n", 1, 17, f);
            fclose(f);
            ck_assert_int_eq(mta_config_load(&cfg, tpath("nul.conf"), err, sizeof err), -1);
            ck_assert_msg(strstr(err, "nul.conf:2: NUL"), "%s", err);
        }
        ck_assert_int_eq(mta_config_load(&cfg, tpath("absent.conf"), err, sizeof err), -1);
        ck_assert_msg(strstr(err, "absent.conf: "), "%s", err);
    }
}
END_TEST

START_TEST(check_finds_missing_and_inconsistent)
{
    static const char base[] = "[mta]\nname = A\ngdi = C=XX;A=ADMD\nnode = n1\nspool = /s\n";
    mta_config cfg;
    char err[512];
    mta_config_defaults(&cfg);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "name is required"), "%s", err);
    ck_assert_int_eq(load_text(&cfg, base, err, sizeof err), 0);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);

    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, "[mta]\nname = A\nnode = n1\nspool = /s\n", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "gdi is required"), "%s", err);

    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, "[mta]\nname = A\ngdi = C=XX;A= \nspool = /s\n", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "node is required"), "%s", err);

    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, "[mta]\nname = A\ngdi = C=XX;A= \nnode = n\n", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "spool is required"), "%s", err);

    /* a literal of the other family */
    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, "[mta]\nname = A\ngdi = C=XX;A= \nnode = n\nspool = /s\n"
                                     "[peer B]\naddress = 192.0.2.1\nfamily = ipv6\n", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "[peer B]") && strstr(err, "IPv4"), "%s", err);

    /* the same listen address twice */
    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, base, err, sizeof err), 0);
    ck_assert_int_eq(mta_config_set(&cfg, "listen", "*:102", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_set(&cfg, "listen", "*:102", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "given twice"), "%s", err);

    /* structs filled by a program, not the parser */
    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, base, err, sizeof err), 0);
    mta_peer_defaults(&cfg.peers[0]);
    mta_peer_defaults(&cfg.peers[1]);
    strcpy(cfg.peers[0].name, "B");
    strcpy(cfg.peers[1].name, "B");
    cfg.peers[0].their_password_set = cfg.peers[1].their_password_set = 1;
    cfg.npeers = 2;
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "\"B\" configured twice"), "%s", err);
    strcpy(cfg.peers[1].name, "C");
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    cfg.peers[1].rtse.window_size = 0;
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "[peer C] RTSE"), "%s", err);
    cfg.peers[1].rtse.window_size = 5;
    cfg.peers[1].mode = X400_MODE_X410; /* rtse.x410_mode left 0 */
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "disagree"), "%s", err);
    cfg.peers[1].rtse.x410_mode = 1;
    cfg.peers[1].max_assocs = 0;
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "max-associations"), "%s", err);
}
END_TEST

static int route_of(const mta_config *cfg, const char *addr, const char **peer)
{
    x400_orname o;
    x400_diag d;
    const mta_peer_config *p = (const mta_peer_config *)cfg; /* must be overwritten */
    int r;
    memset(&d, 0, sizeof d);
    ck_assert_msg(x400_orname_parse(addr, strlen(addr), &o, &d) == X400_OK, "%s: %s", addr, d.text);
    r = mta_config_route(cfg, &o, &p);
    *peer = p ? p->name : NULL;
    if (r == 1) ck_assert_ptr_null(p);
    return r;
}

#define ROUTE_LOCAL(cfg, a) do { const char *pn_; \
        ck_assert_msg(route_of(cfg, a, &pn_) == 1, "%s not local", a); } while (0)
#define ROUTE_PEER(cfg, a, want) do { const char *pn_; \
        ck_assert_msg(route_of(cfg, a, &pn_) == 0, "%s local", a); \
        ck_assert_msg(pn_ && !strcmp(pn_, want), "%s -> %s, want %s", a, pn_ ? pn_ : "none", want); } while (0)
#define ROUTE_NONE(cfg, a) do { const char *pn_; \
        ck_assert_msg(route_of(cfg, a, &pn_) == 0, "%s local", a); \
        ck_assert_msg(!pn_, "%s -> %s, want none", a, pn_); } while (0)

START_TEST(routing)
{
    static const char text[] =
        "[mta]\nname = A\ngdi = C=XX;A=ADMD;P=ALPHA\nnode = n\nspool = /s\n"
        "[peer B]\ntheir-password = none\nroute = C=XX;A=ADMD;P=BRAVO\nroute = C=XX;A=ADMD;P=ALPHA;O=Elsewhere\n"
        "[peer C]\ntheir-password = none\nroute = \"C=ZZ;A= \"\n"
        "[peer D]\ntheir-password = none\nroute = C=YY\nroute = C=XX;A=ADMD;P=BRAVO;O=Shadowed\n"
        "[peer E]\ntheir-password = none\nroute = C=WW;A=W;P=W;OU=Ops;OU=Night\nroute = C=VV;A=V;DDA:ID=7\n"
        "[peer F]\ntheir-password = none\nroute = C=XX\n";
    mta_config cfg;
    char err[512];
    mta_config_defaults(&cfg);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    /* no `local`: the GDI is local, before any peer (even one whose route
     * is more specific, and peer F's C=XX) */
    ROUTE_LOCAL(&cfg, "C=XX;A=ADMD;P=ALPHA;S=Smith");
    ROUTE_LOCAL(&cfg, "C=XX;A=ADMD;P=ALPHA;O=Elsewhere;S=Smith");
    /* case-insensitive values */
    ROUTE_LOCAL(&cfg, "C=xx;A=admd;P=Alpha;S=smith");
    ROUTE_PEER(&cfg, "C=XX;A=Admd;P=bravo;O=Org;S=Jones", "B");
    /* first peer in file order wins */
    ROUTE_PEER(&cfg, "C=XX;A=ADMD;P=BRAVO;O=Shadowed;S=Jones", "B");
    /* an attribute of the prefix absent from the address: no match */
    ROUTE_PEER(&cfg, "C=XX;A=ADMD;S=Jones", "F");
    ROUTE_PEER(&cfg, "C=YY;A=Any;P=Q;S=A", "D");
    /* the single-space ADMD is a value: "" and "  " are others */
    ROUTE_PEER(&cfg, "C=ZZ;A= ;P=X;S=A", "C");
    ROUTE_NONE(&cfg, "C=ZZ;A=;P=X;S=A");
    ROUTE_NONE(&cfg, "C=ZZ;A=  ;P=X;S=A");
    ROUTE_NONE(&cfg, "C=ZZ;P=X;S=A");
    /* OUs in order, as a prefix of the address's; DDAs by type and value */
    ROUTE_PEER(&cfg, "C=WW;A=W;P=W;OU=ops;OU=NIGHT;OU=Desk;S=A", "E");
    ROUTE_NONE(&cfg, "C=WW;A=W;P=W;OU=Night;OU=Ops;S=A");
    ROUTE_NONE(&cfg, "C=WW;A=W;P=W;OU=Ops;S=A");
    ROUTE_PEER(&cfg, "C=VV;A=V;S=A;DDA:X=1;DDA:id=7", "E");
    ROUTE_NONE(&cfg, "C=VV;A=V;S=A;DDA:ID=8");
    ROUTE_NONE(&cfg, "C=QQ;A=X;S=A");

    /* explicit local prefixes replace the GDI default */
    ck_assert_int_eq(mta_config_set(&cfg, "local", "C=XX;A=ADMD;P=ALPHA;O=Ops", err, sizeof err), 0);
    ROUTE_LOCAL(&cfg, "C=XX;A=ADMD;P=ALPHA;O=ops;S=Smith");
    ROUTE_PEER(&cfg, "C=XX;A=ADMD;P=ALPHA;O=Elsewhere;S=Smith", "B");
    ROUTE_PEER(&cfg, "C=XX;A=ADMD;P=ALPHA;S=Smith", "F");

    /* the " " ADMD in the GDI's default local prefix */
    mta_config_defaults(&cfg);
    ck_assert_int_eq(mta_config_set(&cfg, "gdi", "C=GB;A= ;P=SMHS", err, sizeof err), 0);
    ROUTE_LOCAL(&cfg, "C=GB;A= ;P=smhs;S=A");
    ROUTE_NONE(&cfg, "C=GB;A=;P=SMHS;S=A");
    ROUTE_NONE(&cfg, "C=GB;P=SMHS;S=A");
}
END_TEST

/* ------------------------------------------------------------ log */

static const int lv_all[3] = { X400_LOG_INFO, X400_LOG_NOTICE, X400_LOG_TRACE };

static int line_matches(const char *line, const char *re)
{
    regex_t r;
    int m;
    ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    m = regexec(&r, line, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

/* The lines of a file (modifies buf), at most max. */
static size_t split_lines(char *buf, char **lines, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) lines[n++] = l;
    return n;
}

START_TEST(log_line_format)
{
    mta_log lg;
    char *buf, *lines[16], *big;
    size_t n;
    time_t now = time(NULL);
    struct tm tm;
    ck_assert_int_eq(mta_log_open(&lg, tpath("log"), lv_all, "MTA-A"), 0);
    ck_assert_int_eq(lg.own, 1);
    mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_INFO, "message %d accepted", 42);
    mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_DEBUG, "filtered: above info");
    mta_logf(&lg, MTA_LOG_INTERFACE, X400_LOG_INFO, "filtered: above notice");
    mta_logf(&lg, MTA_LOG_INTERFACE, X400_LOG_WARNING, "two\nlines\r\tjoined");
    big = malloc(5001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'y', 5000);
    big[5000] = 0;
    mta_logf(&lg, MTA_LOG_APDU, X400_LOG_ERROR, "%s|end", big);
    mta_log_close(&lg);
    ck_assert_ptr_null(lg.f);
    buf = slurp(tpath("log"));
    n = split_lines(buf, lines, 16);
    ck_assert_uint_eq(n, 3);
    ck_assert_msg(line_matches(lines[0], "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                                         "MTA-A service info: message 42 accepted$"), "%s", lines[0]);
    ck_assert_msg(line_matches(lines[1], "Z MTA-A interface warning: two lines  joined$"), "%s", lines[1]);
    ck_assert_msg(line_matches(lines[2], "Z MTA-A apdu error: y{5000}\\|end$"), "%.80s", lines[2]);
    /* the timestamp is UTC now */
    memset(&tm, 0, sizeof tm);
    ck_assert_ptr_nonnull(strptime(lines[0], "%Y-%m-%dT%H:%M:%S", &tm));
    ck_assert_msg(llabs((long long)(timegm(&tm) - now)) <= 5, "%s", lines[0]);
    free(buf);
    free(big);

    /* appending, and categories that are off */
    {
        int lv[3] = { -1, X400_LOG_ERROR, -1 };
        ck_assert_int_eq(mta_log_open(&lg, tpath("log"), lv, "B"), 0);
        mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_ERROR, "off");
        mta_logf(&lg, MTA_LOG_INTERFACE, X400_LOG_ERROR, "on");
        mta_log_close(&lg);
        buf = slurp(tpath("log"));
        n = split_lines(buf, lines, 16);
        ck_assert_uint_eq(n, 4);
        ck_assert_msg(line_matches(lines[3], "Z B interface error: on$"), "%s", lines[3]);
        free(buf);
    }
    /* "-" and "" are standard error; an unwritable path fails */
    ck_assert_int_eq(mta_log_open(&lg, "-", lv_all, "A"), 0);
    ck_assert_ptr_eq(lg.f, stderr);
    ck_assert_int_eq(lg.own, 0);
    mta_log_close(&lg);
    ck_assert_int_eq(mta_log_open(&lg, tpath("no/such/dir"), lv_all, "A"), -1);
}
END_TEST

/* A syslog daemon's socket: AF_UNIX datagrams at path (re-created). */
static int syslog_sock(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { 2, 0 };
    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    return fd;
}

/* The next datagram (NUL-terminated) into buf; its length, -1 when none. */
static long syslog_recv(int fd, char *buf, size_t cap, int wait)
{
    ssize_t n = recv(fd, buf, cap - 1, wait ? 0 : MSG_DONTWAIT);
    if (n < 0) return -1;
    buf[n] = 0;
    return (long)n;
}

/* `log = syslog:SOCKET` (and `syslog`, /dev/log, the same code): one RFC
 * 3164 datagram per line, priority mail * 8 + severity, tag x400mta[pid],
 * no time stamp of ours; a dump is one datagram per line; records made while
 * the daemon is away are dropped and the socket is found again (a daemon
 * restarted on the same path). */
START_TEST(log_to_syslog_socket)
{
    mta_log lg;
    char path[512], spec[600], buf[4096], re[256];
    int fd;
    static const uint8_t oct[40] = { 1, 2, 3 };
    snprintf(path, sizeof path, "%s", tpath("log.sock"));
    snprintf(spec, sizeof spec, "syslog:%s", path);
    fd = syslog_sock(path);
    ck_assert_int_eq(mta_log_open(&lg, spec, lv_all, "MTA-A"), 0);
    ck_assert_ptr_null(lg.f);
    mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_INFO, "message %d accepted", 42);
    mta_logf(&lg, MTA_LOG_INTERFACE, X400_LOG_INFO, "filtered: above notice");
    mta_logf(&lg, MTA_LOG_INTERFACE, X400_LOG_WARNING, "two\nlines");
    mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_ERROR, "bad");
    mta_log_hex(&lg, "APDU", oct, sizeof oct);
    /* <22> = mail (2) * 8 + info (6); "Mmm dd hh:mm:ss" local time */
    snprintf(re, sizeof re, "^<22>[A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} x400mta\\[%ld\\]: "
             "MTA-A service info: message 42 accepted$", (long)getpid());
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);
    ck_assert_msg(line_matches(buf, re), "%s", buf);
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);
    ck_assert_msg(line_matches(buf, "^<20>.* x400mta\\[[0-9]+\\]: MTA-A interface warning: two lines$"), "%s", buf);
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);
    ck_assert_msg(line_matches(buf, "^<19>.*: MTA-A service error: bad$"), "%s", buf);
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);   /* trace: debug severity */
    ck_assert_msg(line_matches(buf, "^<23>.*: MTA-A apdu trace: APDU \\(40 bytes\\):$"), "%s", buf);
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);
    ck_assert_msg(line_matches(buf, "^<23>.*x400mta\\[[0-9]+\\]:   000000 01 02 03 00"), "%s", buf);
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);
    ck_assert_msg(line_matches(buf, "^<23>.*:   000020 00 00 00 00 00 00 00 00$"), "%s", buf);
    ck_assert_int_lt(syslog_recv(fd, buf, sizeof buf, 0), 0);   /* nothing else */
    /* the daemon goes away: dropped; back on the same path: found again */
    close(fd);
    unlink(path);
    mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_NOTICE, "lost");
    fd = syslog_sock(path);
    mta_logf(&lg, MTA_LOG_SERVICE, X400_LOG_NOTICE, "found again");
    ck_assert_int_gt(syslog_recv(fd, buf, sizeof buf, 1), 0);
    ck_assert_msg(line_matches(buf, "^<21>.*: MTA-A service notice: found again$"), "%s", buf);
    mta_log_close(&lg);
    ck_assert_int_eq(lg.sfd, -1);
    close(fd);
    unlink(path);
    /* plain "syslog" is /dev/log; a socket path too long is refused */
    ck_assert_int_eq(mta_log_open(&lg, "syslog", lv_all, "A"), 0);
    ck_assert_str_eq(lg.sock, "/dev/log");
    mta_log_close(&lg);
    memset(spec, 'x', sizeof spec - 1);
    spec[sizeof spec - 1] = 0;
    memcpy(spec, "syslog:", 7);
    ck_assert_int_eq(mta_log_open(&lg, spec, lv_all, "A"), -1);
}
END_TEST

/* Rebuild the octets of a dump from its continuation lines. */
static size_t parse_dump(char **lines, size_t nl, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < nl; i++) {
        char *p = lines[i];
        unsigned long off;
        if (strncmp(p, "  ", 2) || !strncmp(p, "  ...", 5)) continue;
        off = strtoul(p + 2, &p, 16);
        ck_assert_uint_eq(off, n);
        while (*p == ' ') {
            unsigned v;
            ck_assert_int_eq(sscanf(p, " %2x", &v), 1);
            ck_assert_uint_lt(n, cap);
            out[n++] = (uint8_t)v;
            p += 3;
        }
        ck_assert_int_eq(*p, 0);
    }
    return n;
}

START_TEST(hex_dump_complete)
{
    mta_log lg;
    size_t sizes[] = { 0, 1, 31, 32, 33, 1000, 65536, 70000 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t sz = sizes[k], nl, got, shown = sz > 65536 ? 65536 : sz;
        uint8_t *data = malloc(sz + 1), *back = malloc(sz + 1);
        char *buf, **lines = malloc(sizeof(char *) * 4096);
        char head[128];
        ck_assert(data && back && lines);
        for (size_t i = 0; i < sz; i++) data[i] = (uint8_t)(i * 131 + 7 + (i >> 8));
        unlink(tpath("hex"));
        ck_assert_int_eq(mta_log_open(&lg, tpath("hex"), lv_all, "MTA-A"), 0);
        mta_log_hex(&lg, "sent P1 APDU", data, sz);
        mta_log_close(&lg);
        buf = slurp(tpath("hex"));
        nl = split_lines(buf, lines, 4096);
        ck_assert_uint_eq(nl, 1 + (shown + 31) / 32 + (sz > shown));
        snprintf(head, sizeof head, "Z MTA-A apdu trace: sent P1 APDU \\(%zu bytes\\):$", sz);
        ck_assert_msg(line_matches(lines[0], head), "%s", lines[0]);
        got = parse_dump(lines + 1, nl - 1, back, sz + 1);
        ck_assert_uint_eq(got, shown);
        ck_assert(!memcmp(back, data, shown));
        if (sz > shown) {
            snprintf(head, sizeof head, "^  \\.\\.\\. %zu bytes omitted$", sz - shown);
            ck_assert_msg(line_matches(lines[nl - 1], head), "%s", lines[nl - 1]);
        }
        free(buf);
        free(data);
        free(back);
        free(lines);
    }
    /* apdu category below trace: nothing */
    {
        int lv[3] = { X400_LOG_TRACE, X400_LOG_TRACE, X400_LOG_DEBUG };
        uint8_t b[4] = { 1, 2, 3, 4 };
        char *buf;
        unlink(tpath("hex"));
        ck_assert_int_eq(mta_log_open(&lg, tpath("hex"), lv, "A"), 0);
        mta_log_hex(&lg, "x", b, 4);
        mta_log_close(&lg);
        buf = slurp(tpath("hex"));
        ck_assert_str_eq(buf, "");
        free(buf);
    }
}
END_TEST

START_TEST(library_logger_categories)
{
    mta_log lg;
    x400_logger l;
    char *buf, *lines[16];
    size_t n;
    x400_diag d;
    ck_assert_int_eq(mta_log_open(&lg, tpath("lib"), lv_all, "MTA-A"), 0);
    l = mta_log_library(&lg);
    ck_assert(l.fn != NULL);
    ck_assert_ptr_eq(l.user, &lg);
    ck_assert_int_eq(l.max_level, X400_LOG_TRACE);
    l.fn(l.user, X400_LOG_TRACE, X400_LAYER_SESSION, "sent SPDU 0d 04");
    l.fn(l.user, X400_LOG_NOTICE, X400_LAYER_ACSE, "association refused");
    l.fn(l.user, X400_LOG_INFO, X400_LAYER_RTSE, "filtered: interface is at notice");
    l.fn(l.user, X400_LOG_ERROR, X400_LAYER_LPI, "stale handle 1-3-14");
    memset(&d, 0, sizeof d);
    d.layer = X400_LAYER_PRESENTATION;
    d.source = X400_SOURCE_PEER;
    d.code = X400_ERR_STATE;
    d.reason = 20;
    strcpy(d.text, "state check failure");
    mta_log_diag(&lg, X400_LOG_WARNING, "association 3 to MTA-B", &d);
    mta_log_diag(&lg, X400_LOG_INFO, "filtered", &d);
    memset(&d, 0, sizeof d);
    d.code = X400_ERR_TIMEOUT;
    mta_log_diag(&lg, X400_LOG_ERROR, "ctx", &d);
    mta_log_diag(&lg, X400_LOG_ERROR, "ctx2", NULL);
    mta_log_close(&lg);
    buf = slurp(tpath("lib"));
    n = split_lines(buf, lines, 16);
    ck_assert_uint_eq(n, 6);
    ck_assert_msg(line_matches(lines[0], "Z MTA-A apdu trace: session: sent SPDU 0d 04$"), "%s", lines[0]);
    ck_assert_msg(line_matches(lines[1], "Z MTA-A interface notice: acse: association refused$"), "%s", lines[1]);
    ck_assert_msg(line_matches(lines[2], "Z MTA-A interface error: lpi: stale handle 1-3-14$"), "%s", lines[2]);
    {
        char re[512];
        snprintf(re, sizeof re, "Z MTA-A interface warning: association 3 to MTA-B: presentation/peer/%s "
                 "\\(-12\\)/20: state check failure$", x400_strerror(X400_ERR_STATE));
        ck_assert_msg(line_matches(lines[3], re), "%s", lines[3]);
        snprintf(re, sizeof re, "interface error: ctx: %s/%s/%s \\(-17\\)/0: no detail$",
                 x400_layer_name(X400_LAYER_NONE), x400_source_name(X400_SOURCE_NONE),
                 x400_strerror(X400_ERR_TIMEOUT));
        ck_assert_msg(line_matches(lines[4], re), "%s", lines[4]);
    }
    ck_assert_msg(line_matches(lines[5], "interface error: ctx2: no diagnostic$"), "%s", lines[5]);
    free(buf);

    /* apdu below trace: the library need not format traces */
    {
        int lv[3] = { X400_LOG_INFO, X400_LOG_DEBUG, X400_LOG_DEBUG };
        ck_assert_int_eq(mta_log_open(&lg, tpath("lib2"), lv, "A"), 0);
        l = mta_log_library(&lg);
        ck_assert_int_eq(l.max_level, X400_LOG_DEBUG);
        l.fn(l.user, X400_LOG_TRACE, X400_LAYER_TPKT, "not shown");
        l.fn(l.user, X400_LOG_DEBUG, X400_LAYER_TPKT, "shown");
        mta_log_close(&lg);
        buf = slurp(tpath("lib2"));
        n = split_lines(buf, lines, 16);
        ck_assert_uint_eq(n, 1);
        ck_assert_msg(line_matches(lines[0], "interface debug: tpkt: shown$"), "%s", lines[0]);
        free(buf);
    }
    /* interface off, apdu at trace: only traces */
    {
        int lv[3] = { X400_LOG_INFO, -1, X400_LOG_TRACE };
        ck_assert_int_eq(mta_log_open(&lg, tpath("lib3"), lv, "A"), 0);
        l = mta_log_library(&lg);
        ck_assert_int_eq(l.max_level, X400_LOG_TRACE);
        l.fn(l.user, X400_LOG_ERROR, X400_LAYER_TPKT, "not shown");
        l.fn(l.user, X400_LOG_TRACE, X400_LAYER_TRANSPORT, "TPDU");
        mta_log_close(&lg);
        buf = slurp(tpath("lib3"));
        n = split_lines(buf, lines, 16);
        ck_assert_uint_eq(n, 1);
        ck_assert_msg(line_matches(lines[0], "apdu trace: [a-z0-9.-]+: TPDU$"), "%s", lines[0]);
        free(buf);
    }
    /* both off: logging off in the library */
    {
        int lv[3] = { X400_LOG_INFO, -1, -1 };
        ck_assert_int_eq(mta_log_open(&lg, "-", lv, "A"), 0);
        l = mta_log_library(&lg);
        ck_assert(l.fn == NULL);
        mta_log_close(&lg);
    }
}
END_TEST

/* A peer without their-password used to accept unauthenticated binds
 * silently: now the configuration must say so ("none"). */
START_TEST(peer_password_required_or_none)
{
    static const char base[] = "[mta]\nname = A\ngdi = C=XX;A= \nnode = n\nspool = /s\n[peer B]\n";
    mta_config cfg;
    char err[512] = "", text[512];
    mta_config_defaults(&cfg);
    ck_assert_int_eq(load_text(&cfg, base, err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "[peer B] their-password is required") && strstr(err, "none"), "%s", err);

    mta_config_defaults(&cfg);
    snprintf(text, sizeof text, "%stheir-password = none\n", base);
    ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), 0);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(cfg.peers[0].their_password_none, 1);
    ck_assert_uint_eq(cfg.peers[0].their_password_len, 0);

    mta_config_defaults(&cfg);   /* an empty value is not "none" */
    snprintf(text, sizeof text, "%stheir-password =\n", base);
    ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "t.conf:7: empty their-password"), "%s", err);

    mta_config_defaults(&cfg);   /* a real password, "hex:" too */
    snprintf(text, sizeof text, "%stheir-password = hex:00\n", base);
    ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), 0);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(cfg.peers[0].their_password_none, 0);
    ck_assert_uint_eq(cfg.peers[0].their_password_len, 1);
}
END_TEST

/* The [mta] limits on inbound connections: defaults, bounds, consistency. */
START_TEST(connection_limits)
{
    static const char base[] = "[mta]\nname = A\ngdi = C=XX;A= \nnode = n\nspool = /s\n";
    mta_config cfg;
    char err[512] = "", text[1024];
    mta_config_defaults(&cfg);
    ck_assert_uint_eq(cfg.lim.max_connections, 4096);
    ck_assert_uint_eq(cfg.lim.reserved_outbound, 64);
    ck_assert_uint_eq(cfg.lim.max_unbound, 256);
    ck_assert_uint_eq(cfg.lim.max_unbound_per_source, 8);
    ck_assert_uint_eq(cfg.lim.bind_timeout_s, 30);
    ck_assert_uint_eq(cfg.lim.bind_backoff_max_s, 60);
    snprintf(text, sizeof text, "%smax-connections = 20000\nreserved-outbound = 100\nmax-unbound = 50\n"
             "max-unbound-per-source = 2\nbind-timeout = 5\nbind-backoff-max = 0\n", base);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(cfg.lim.max_connections, 20000);
    ck_assert_uint_eq(cfg.lim.reserved_outbound, 100);
    ck_assert_uint_eq(cfg.lim.max_unbound, 50);
    ck_assert_uint_eq(cfg.lim.max_unbound_per_source, 2);
    ck_assert_uint_eq(cfg.lim.bind_timeout_s, 5);
    ck_assert_uint_eq(cfg.lim.bind_backoff_max_s, 0);
    ck_assert_int_eq(mta_config_set(&cfg, "bind-timeout", "7", err, sizeof err), 0);
    ck_assert_uint_eq(cfg.lim.bind_timeout_s, 7);
    ck_assert_int_eq(mta_config_set(&cfg, "bind-timeout", "0", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "bad bind-timeout \"0\": a number 1..3600"), "%s", err);
    ck_assert_int_eq(mta_config_set(&cfg, "max-connections", "15", err, sizeof err), -1);
    ck_assert_int_eq(mta_config_set(&cfg, "max-unbound", "x", err, sizeof err), -1);
    /* the reservation leaves room for inbound; one source is not all */
    ck_assert_int_eq(mta_config_set(&cfg, "reserved-outbound", "20000", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "reserved-outbound (20000) must be below max-connections"), "%s", err);
    ck_assert_int_eq(mta_config_set(&cfg, "reserved-outbound", "64", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_set(&cfg, "max-unbound-per-source", "51", err, sizeof err), 0);
    ck_assert_int_eq(mta_config_check(&cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "max-unbound-per-source (51) must not exceed max-unbound (50)"), "%s", err);
}
END_TEST

/* Per-peer stack settings: calling and called selectors, session versions,
 * extension form (PP names its stacks by called TSAP 592 / 591). */
START_TEST(per_peer_stack_settings)
{
    static const char text[] =
        "[mta]\nname = A\ngdi = C=XX;A= \nnode = n\nspool = /s\n"
        "[peer PP-88]\ntheir-password = pp\naddress = 192.0.2.7\ncalled-tsel = 592\n"
        "calling-tsel = 592\ncalling-ssel = hex:0102\ncalling-psel = P\ncalled-psel = hex:\n"
        "session-versions = 1,2\nextension-form = 1988\n"
        "[peer PP-84]\ntheir-password = pp\naddress = 192.0.2.7\ntsel = 591\nmode = 1984\n"
        "session-versions = 1\nextension-form = 1992\n";
    mta_config cfg;
    char err[512] = "", bad[512];
    const mta_peer_config *a, *b;
    static const struct { const char *line, *want; } bads[] = {
        { "session-versions = 3\n", "bad session-versions \"3\": 1, 2 or 1,2" },
        { "session-versions =\n", "bad session-versions" },
        { "extension-form = both\n", "bad extension-form \"both\": 1988 or 1992" },
        { "calling-tsel = hex:0\n", "even number" },
    };
    mta_config_defaults(&cfg);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(mta_config_check(&cfg, err, sizeof err) == 0, "%s", err);
    a = mta_config_peer(&cfg, "PP-88");
    b = mta_config_peer(&cfg, "PP-84");
    ck_assert(a->tsel.len == 3 && !memcmp(a->tsel.value, "592", 3));
    ck_assert(a->calling_tsel.len == 3 && !memcmp(a->calling_tsel.value, "592", 3));
    ck_assert(a->calling_ssel.len == 2 && a->calling_ssel.value[0] == 1 && a->calling_ssel.value[1] == 2);
    ck_assert(a->calling_psel.len == 1 && a->calling_psel.value[0] == 'P');
    ck_assert_uint_eq(a->psel.len, 0);
    ck_assert_uint_eq(a->session_versions, 3);
    ck_assert_int_eq(a->extension_form, MTA_EXT_1988);
    ck_assert_int_eq(a->mode, X400_MODE_NORMAL);
    ck_assert(b->tsel.len == 3 && !memcmp(b->tsel.value, "591", 3));
    ck_assert_uint_eq(b->calling_tsel.len, 0);
    ck_assert_uint_eq(b->session_versions, 1);
    ck_assert_int_eq(b->extension_form, MTA_EXT_1992);
    ck_assert_int_eq(b->mode, X400_MODE_X410);
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        snprintf(bad, sizeof bad, "[peer X]\ntheir-password = x\n%s", bads[i].line);
        mta_config_defaults(&cfg);
        ck_assert_int_eq(load_text(&cfg, bad, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "t.conf:3: ") && strstr(err, bads[i].want), "%s: %s", bads[i].line, err);
    }
}
END_TEST

/* ------------------------------------------------------------ admission */

/* Summaries collected by the per-source log limit's tests. */
struct summaries {
    char src[8][MTA_GUARD_ADDR_MAX];
    uint64_t n[8];
    int count;
};
static void collect_summary(void *user, const char *src, uint64_t n, uint64_t start)
{
    struct summaries *s = user;
    (void)start;
    if (s->count < 8) {
        snprintf(s->src[s->count], sizeof s->src[0], "%s", src);
        s->n[s->count] = n;
    }
    s->count++;
}

/* At most max_lines per source per interval, the rest counted; one summary
 * per source when its interval ends (none when nothing was left out); a
 * fixed table: the 65th source evicts the one whose interval began first,
 * and its summary comes out at once. */
START_TEST(garbage_log_limit_per_source)
{
    mta_srclog r;
    struct summaries s;
    char src[32];
    int allowed = 0;
    memset(&s, 0, sizeof s);
    mta_srclog_init(&r, 3, 1000);
    for (int i = 0; i < 10; i++) allowed += mta_srclog_allow(&r, "192.0.2.1", 100 + (uint64_t)i, collect_summary, &s);
    ck_assert_int_eq(allowed, 3);
    ck_assert_int_eq(mta_srclog_allow(&r, "192.0.2.2", 200, collect_summary, &s), 1); /* its own budget */
    mta_srclog_flush(&r, 1099, collect_summary, &s);
    ck_assert_int_eq(s.count, 0);                       /* the interval is not over */
    mta_srclog_flush(&r, 1100, collect_summary, &s);
    ck_assert_int_eq(s.count, 1);                       /* 192.0.2.2 left nothing out: no line */
    ck_assert_str_eq(s.src[0], "192.0.2.1");
    ck_assert_uint_eq(s.n[0], 7);
    ck_assert_uint_eq(r.suppressed, 7);
    ck_assert_int_eq(mta_srclog_allow(&r, "192.0.2.1", 1101, collect_summary, &s), 1); /* a new interval */
    /* 64 slots: fill them, each source over its budget */
    memset(&s, 0, sizeof s);
    mta_srclog_init(&r, 1, 60000);
    for (int k = 0; k < MTA_SRCLOG_SLOTS; k++) {
        snprintf(src, sizeof src, "10.0.0.%d", k);
        ck_assert_int_eq(mta_srclog_allow(&r, src, 10 + (uint64_t)k, collect_summary, &s), 1);
        ck_assert_int_eq(mta_srclog_allow(&r, src, 10 + (uint64_t)k, collect_summary, &s), 0);
    }
    ck_assert_int_eq(s.count, 0);
    ck_assert_int_eq(mta_srclog_allow(&r, "10.0.1.1", 500, collect_summary, &s), 1);
    ck_assert_int_eq(s.count, 1);                       /* the oldest gave way, summarised */
    ck_assert_str_eq(s.src[0], "10.0.0.0");
    ck_assert_uint_eq(s.n[0], 1);
    ck_assert_uint_eq(r.evicted, 1);
    ck_assert_int_eq(mta_srclog_allow(&r, "10.0.0.0", 501, collect_summary, &s), 1); /* forgotten: afresh */
}
END_TEST

START_TEST(guard_per_source_and_backoff)
{
    mta_limits lim = { 100, 10, 4, 2, 30, 5, 5, 60 };
    mta_guard *g;
    char src[MTA_GUARD_ADDR_MAX];
    uint64_t wait = 0, t = 1000;
    mta_guard_source_of("192.0.2.1:4711", src);
    ck_assert_str_eq(src, "192.0.2.1");
    mta_guard_source_of("[2001:db8::1]:102", src);
    ck_assert_str_eq(src, "2001:db8::1");
    ck_assert_int_eq(mta_guard_new(&g, &lim), 0);
    /* two unbound per source, then refused; other sources unaffected */
    ck_assert_int_eq(mta_guard_admit(g, "a", t, &wait), MTA_GUARD_OK);
    ck_assert_int_eq(mta_guard_admit(g, "a", t, &wait), MTA_GUARD_OK);
    ck_assert_int_eq(mta_guard_admit(g, "a", t, &wait), MTA_GUARD_PER_SOURCE);
    ck_assert_int_eq(mta_guard_admit(g, "b", t, &wait), MTA_GUARD_OK);
    ck_assert_uint_eq(mta_guard_sources(g), 2);
    mta_guard_unbound_done(g, "a", t);
    ck_assert_int_eq(mta_guard_admit(g, "a", t, &wait), MTA_GUARD_OK);
    /* a failed bind: 1 s, then 2, 4, capped at bind-backoff-max (5 s) */
    mta_guard_unbound_done(g, "b", t);
    ck_assert_uint_eq(mta_guard_sources(g), 1);   /* b had nothing left: forgotten */
    ck_assert_uint_eq(mta_guard_bind_failed(g, "b", t), 1000);
    ck_assert_int_eq(mta_guard_admit(g, "b", t + 400, &wait), MTA_GUARD_BACKOFF);
    ck_assert_uint_eq(wait, 600);
    ck_assert_int_eq(mta_guard_admit(g, "b", t + 1000, &wait), MTA_GUARD_OK);
    mta_guard_unbound_done(g, "b", t + 1000);
    ck_assert_uint_eq(mta_guard_bind_failed(g, "b", t + 1000), 2000);
    ck_assert_uint_eq(mta_guard_bind_failed(g, "b", t + 3000), 4000);
    ck_assert_uint_eq(mta_guard_bind_failed(g, "b", t + 7000), 5000);
    ck_assert_uint_eq(mta_guard_bind_failed(g, "b", t + 12000), 5000);
    /* failures long ago do not count: back to 1 s */
    ck_assert_uint_eq(mta_guard_bind_failed(g, "b", t + 30000), 1000);
    /* a good bind forgets them */
    mta_guard_bind_ok(g, "b", t + 31000);
    ck_assert_int_eq(mta_guard_admit(g, "b", t + 31000, &wait), MTA_GUARD_OK);
    mta_guard_unbound_done(g, "b", t + 31000);
    /* expiry keeps sources with unbound connections or a live back-off */
    ck_assert_uint_eq(mta_guard_bind_failed(g, "c", t + 31000), 1000);
    mta_guard_expire(g, t + 32000);
    ck_assert_uint_eq(mta_guard_sources(g), 2);   /* a (2 unbound), c (back-off memory) */
    mta_guard_expire(g, t + 40000);
    ck_assert_uint_eq(mta_guard_sources(g), 1);
    mta_guard_unbound_done(g, "a", t + 40000);
    mta_guard_unbound_done(g, "a", t + 40000);
    ck_assert_uint_eq(mta_guard_sources(g), 0);
    mta_guard_free(g);
    /* bind-backoff-max = 0: no back-off at all */
    lim.bind_backoff_max_s = 0;
    ck_assert_int_eq(mta_guard_new(&g, &lim), 0);
    ck_assert_uint_eq(mta_guard_bind_failed(g, "d", t), 0);
    ck_assert_int_eq(mta_guard_admit(g, "d", t, &wait), MTA_GUARD_OK);
    mta_guard_free(g);
}
END_TEST

START_TEST(ratelog_once_a_second)
{
    mta_ratelog r = { 0, 0 };
    uint64_t left = 99;
    ck_assert_int_eq(mta_ratelog_allow(&r, 5000, &left), 1);
    ck_assert_uint_eq(left, 0);
    for (int i = 0; i < 7; i++) ck_assert_int_eq(mta_ratelog_allow(&r, 5000 + 100 * (uint64_t)i, &left), 0);
    ck_assert_int_eq(mta_ratelog_allow(&r, 6000, &left), 1);
    ck_assert_uint_eq(left, 7);
    ck_assert_int_eq(mta_ratelog_allow(&r, 7000, &left), 1);
    ck_assert_uint_eq(left, 0);
}
END_TEST

Suite *x400t_suite_mtaconfig(void)
{
    Suite *s = suite_create("mtaconfig");
    TCase *c = tcase_create("config");
    TCase *l = tcase_create("log");
    tcase_add_unchecked_fixture(c, tmp_setup, tmp_teardown);
    tcase_add_unchecked_fixture(l, tmp_setup, tmp_teardown);
    tcase_add_test(c, sample_round_trips);
    tcase_add_test(c, defaults_documented);
    tcase_add_test(c, every_key_parsed);
    tcase_add_test(c, set_and_inherit);
    tcase_add_test(c, bad_input_names_file_and_line);
    tcase_add_test(c, check_finds_missing_and_inconsistent);
    tcase_add_test(c, routing);
    tcase_add_test(c, peer_password_required_or_none);
    tcase_add_test(c, connection_limits);
    tcase_add_test(c, per_peer_stack_settings);
    tcase_add_test(c, guard_per_source_and_backoff);
    tcase_add_test(c, ratelog_once_a_second);
    tcase_add_test(c, garbage_log_limit_per_source);
    tcase_add_test(l, log_line_format);
    tcase_add_test(l, log_to_syslog_socket);
    tcase_add_test(l, hex_dump_complete);
    tcase_add_test(l, library_logger_categories);
    tcase_set_timeout(l, 30);
    suite_add_tcase(s, c);
    suite_add_tcase(s, l);
    return s;
}
