/* Packaging and documentation: what a user of the installed library and a
 * distribution packager rely on.
 *   - x400_version() agrees with the header's macros;
 *   - the release archive exports only x400_ symbols and references no
 *     stdio stream, no assert() and (unless DEBUG=1) carries no debug info;
 *   - every compile line honours the user's CPPFLAGS/CFLAGS and every link
 *     line LDFLAGS (`make -n V=1`);
 *   - build/x400p1.pc follows PREFIX/LIBDIR/INCLUDEDIR with ${prefix}-relative
 *     paths, also on a second run with another prefix;
 *   - the man pages render with groff -ww without a diagnostic;
 *   - the documentation names no missing file and nothing outside the
 *     repository, and no #anchor that names no heading (tools/doccheck.sh),
 *     and that check does fail on each;
 *   - x400p1(3) names every function the installed headers declare, and
 *     no x400_ name they do not (doccheck.sh api), and that check fails on
 *     each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <x400p1/common.h>

#include "pair.h"
#include "x400t.h"

/* Run a shell command; its stdout+stderr into a malloc'd string.  Returns
 * the exit status (-1 if it could not run). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    size_t len = 0, cap = 4096;
    char *b = malloc(cap);
    int c, st;
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(p != NULL, "popen %s", cmd);
    while ((c = fgetc(p)) != EOF) {
        if (len + 2 > cap) {
            char *nb = realloc(b, cap *= 2);
            ck_assert_ptr_nonnull(nb);
            b = nb;
        }
        b[len++] = (char)c;
    }
    b[len] = 0;
    st = pclose(p);
    *out = b;
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A scratch directory under TMPDIR, removed by rm_tree. */
static void mk_tmp(char *dir, size_t cap) { ck_assert_int_eq(x400t_scratch_dir(dir, cap, "x400t-pkg"), 0); }

static void rm_tree(const char *dir) { ck_assert_int_eq(x400t_rm_tree(dir), 0); }

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[1200], d[1300];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    snprintf(d, sizeof d, "mkdir -p \"$(dirname '%s')\"", p);
    ck_assert_int_eq(system(d), 0);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* tools/doccheck.sh WHAT ROOT: its exit status, its output in *out. */
static int doccheck(const char *what, const char *root, char **out)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "sh '%s/tools/doccheck.sh' %s '%s' 2>&1", x400t_srcdir(), what, root);
    return run(cmd, out);
}

START_TEST(version_matches_macros)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", X400P1_VERSION_MAJOR, X400P1_VERSION_MINOR,
             X400P1_VERSION_PATCH);
    ck_assert_ptr_nonnull(x400_version());
    ck_assert_str_eq(x400_version(), X400P1_VERSION);
    ck_assert_str_eq(x400_version(), want);
}
END_TEST

/* The archive a user links: nothing but x400_ globals, no stdio stream, no
 * assert, no debug sections (make check builds it without DEBUG=1). */
START_TEST(release_archive_clean)
{
    const char *lib = getenv("X400T_RELEASE_LIBRARY");
    static const char *const banned[] = { "stdin", "stdout", "stderr", "fprintf", "vfprintf",
                                          "printf", "fputs", "puts", "fputc", "putchar", "fwrite",
                                          "fflush", "fopen", "perror", "__assert_fail", NULL };
    char cmd[1400], *o, *line;
    ck_assert_msg(lib != NULL, "X400T_RELEASE_LIBRARY unset (run through make check)");
    snprintf(cmd, sizeof cmd, "nm -u '%s' | awk '{print $2}' | sort -u", lib);
    ck_assert_int_eq(run(cmd, &o), 0);
    ck_assert_msg(strstr(o, "malloc") != NULL, "nm -u gave nothing useful:\n%s", o);
    for (line = strtok(o, "\n"); line; line = strtok(NULL, "\n"))
        for (size_t i = 0; banned[i]; i++)
            ck_assert_msg(strcmp(line, banned[i]) != 0, "%s references %s", lib, banned[i]);
    free(o);
    snprintf(cmd, sizeof cmd, "nm -g --defined-only '%s' | awk 'NF == 3 && $3 !~ /^x400_/'", lib);
    ck_assert_int_eq(run(cmd, &o), 0);
    ck_assert_msg(o[0] == 0, "%s exports non-x400_ symbols:\n%.2000s", lib, o);
    free(o);
    snprintf(cmd, sizeof cmd, "objdump -h '%s' | grep -c '\\.debug_' ; true", lib);
    ck_assert_int_eq(run(cmd, &o), 0);
    ck_assert_msg(atoi(o) == 0, "%s has %d debug sections (DEBUG=1 only)", lib, atoi(o));
    free(o);
}
END_TEST

/* `make -n V=1` with the user's flags: each compile line has CPPFLAGS and
 * CFLAGS, each program link line LDFLAGS, the ASN.1 build script gets them. */
START_TEST(user_flags_reach_every_command)
{
    char dir[1024], cmd[2048], *o, *line;
    int ncc = 0, nld = 0, nasn = 0;
    mk_tmp(dir, sizeof dir);
    snprintf(cmd, sizeof cmd,
             "make -n -C '%s' B='%s/build' V=1 CC=cc CFLAGS=-fstack-protector-strong "
             "CPPFLAGS=-DX400T_USER_CPP LDFLAGS=-Wl,-z,relro all 2>&1",
             x400t_srcdir(), dir);
    ck_assert_int_eq(run(cmd, &o), 0);
    for (line = strtok(o, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "asn1build.sh")) {
            nasn++;
            ck_assert_msg(strstr(line, "-fstack-protector-strong") && strstr(line, "-DX400T_USER_CPP"),
                          "asn1 build without the user's flags: %s", line);
            continue;
        }
        if (strncmp(line, "cc ", 3) != 0) continue;
        ck_assert_msg(strstr(line, "-fstack-protector-strong") && strstr(line, "-DX400T_USER_CPP"),
                      "compile line without CFLAGS/CPPFLAGS: %s", line);
        if (strstr(line, " -c ")) ncc++;
        else {
            nld++;
            ck_assert_msg(strstr(line, "-Wl,-z,relro") != NULL, "link line without LDFLAGS: %s", line);
        }
    }
    ck_assert_int_gt(ncc, 10);  /* the lib/ sources */
    ck_assert_int_gt(nld, 2);   /* the examples */
    ck_assert_int_eq(nasn, 1);
    free(o);
    rm_tree(dir);
}
END_TEST

static char *pc_for(const char *dir, const char *args)
{
    char cmd[2048], *o, p[1100];
    FILE *f;
    long n;
    char *b;
    snprintf(cmd, sizeof cmd, "make -s -C '%s' B='%s' %s '%s/x400p1.pc' 2>&1", x400t_srcdir(), dir, args, dir);
    ck_assert_msg(run(cmd, &o) == 0, "%s:\n%s", cmd, o);
    free(o);
    snprintf(p, sizeof p, "%s/x400p1.pc", dir);
    f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    b = calloc(1, (size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), n);
    fclose(f);
    return b;
}

/* A second configuration with another PREFIX rewrites the .pc (it once
 * kept the first prefix); directories under the prefix are ${prefix}-relative. */
START_TEST(pkgconfig_follows_prefix)
{
    char dir[1024], *pc;
    mk_tmp(dir, sizeof dir);
    pc = pc_for(dir, "PREFIX=/opt/first");
    ck_assert_ptr_nonnull(strstr(pc, "prefix=/opt/first\n"));
    ck_assert_ptr_nonnull(strstr(pc, "libdir=${prefix}/lib\n"));
    ck_assert_ptr_nonnull(strstr(pc, "includedir=${prefix}/include\n"));
    ck_assert_ptr_nonnull(strstr(pc, "Version: " X400P1_VERSION "\n"));
    free(pc);
    pc = pc_for(dir, "PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu");
    ck_assert_msg(strstr(pc, "prefix=/usr\n") != NULL, "stale .pc:\n%s", pc);
    ck_assert_ptr_nonnull(strstr(pc, "libdir=${prefix}/lib/x86_64-linux-gnu\n"));
    ck_assert_ptr_null(strstr(pc, "/opt/first"));
    free(pc);
    pc = pc_for(dir, "PREFIX=/usr INCLUDEDIR=/srv/inc");
    ck_assert_ptr_nonnull(strstr(pc, "includedir=/srv/inc\n"));
    ck_assert_ptr_nonnull(strstr(pc, "libdir=${prefix}/lib\n"));
    free(pc);
    rm_tree(dir);
}
END_TEST

START_TEST(man_pages_render_cleanly)
{
    static const char *const pages[] = { "man/x400mta.8", "man/x400mta.conf.5", "man/x400p1.3", NULL };
    char p[1200], *o;
    struct stat st;
    for (size_t i = 0; pages[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", x400t_srcdir(), pages[i]);
        ck_assert_msg(stat(p, &st) == 0 && st.st_size > 1000, "%s missing", pages[i]);
    }
    ck_assert_msg(doccheck("man", x400t_srcdir(), &o) == 0 && o[0] == 0, "groff -ww:\n%s", o);
    free(o);
}
END_TEST

/* The man check is not blind: a page with an unknown macro and a bad
 * escape fails it. */
START_TEST(man_check_catches_warnings)
{
    char dir[1024], *o;
    mk_tmp(dir, sizeof dir);
    write_file(dir, "man/bad.1", ".TH BAD 1\n.SH NAME\nbad \\- a page\n.XYZZY\n\\*[nosuchstring]\n");
    ck_assert_int_eq(doccheck("man", dir, &o), 1);
    ck_assert_msg(strstr(o, "man/bad.1") != NULL, "%s", o);
    free(o);
    rm_tree(dir);
}
END_TEST

START_TEST(doc_links_resolve)
{
    char *o;
    ck_assert_msg(doccheck("links", x400t_srcdir(), &o) == 0 && o[0] == 0, "documentation links:\n%s", o);
    free(o);
}
END_TEST

/* A dead Markdown link, a dead path in a header comment, a path climbing
 * out of the repository and a notes tree beside it are each reported
 * with file and line; once fixed, the same tree passes. */
START_TEST(doc_link_check_catches_each_kind)
{
    char dir[1024], *o;
    mk_tmp(dir, sizeof dir);
    write_file(dir, "README.md", "# t\nSee [the guide](doc/guide.md) and [gone](doc/gone.md#x).\n");
    write_file(dir, "doc/guide.md", "Back to [README](../README.md); web [x](https://example.org/a.md).\n"
                                    "Notes: ../" "shared" "/notes/wire.md\n"
                                    "Out: [up](../../etc/passwd)\n");
    write_file(dir, "include/x400p1/x.h", "/* See doc/guide.md and doc/nothere.md; lib/*.c is a pattern. */\n");
    ck_assert_int_eq(doccheck("links", dir, &o), 1);
    ck_assert_msg(strstr(o, "README.md:2: doc/gone.md: no such file"), "%s", o);
    ck_assert_msg(strstr(o, "include/x400p1/x.h:1: doc/nothere.md: no such file"), "%s", o);
    ck_assert_msg(strstr(o, "doc/guide.md:2: ../" "shared"), "%s", o);
    ck_assert_msg(strstr(o, "doc/guide.md:3: ../../etc/passwd: points outside the repository"), "%s", o);
    ck_assert_msg(!strstr(o, "guide.md: no such") && !strstr(o, "README.md: no such") &&
                  !strstr(o, "example.org") && !strstr(o, "lib/"), "false alarm:\n%s", o);
    free(o);
    write_file(dir, "README.md", "# t\nSee [the guide](doc/guide.md).\n");
    write_file(dir, "doc/guide.md", "Back to [README](../README.md).\n");
    write_file(dir, "include/x400p1/x.h", "/* See doc/guide.md. */\n");
    ck_assert_int_eq(doccheck("links", dir, &o), 0);
    ck_assert_str_eq(o, "");
    free(o);
    rm_tree(dir);
}
END_TEST

/* A Markdown link's #anchor must name a heading of its file, as GitHub
 * names it (lower case, punctuation and the en dash dropped, spaces as -,
 * a repeated heading with -1), or an <a name>; a heading inside a code
 * block is none, and links to other files' lines are not anchors. */
START_TEST(doc_anchor_check_catches_a_missing_heading)
{
    char dir[1024], *o;
    mk_tmp(dir, sizeof dir);
    write_file(dir, "README.md", "# Top\nSee [a](doc/g.md#the-exchange-server-4055-mtas-failures), "
                                 "[b](doc/g.md#setup-1), [c](doc/g.md#not-a-heading), [d](#top), [e](#tpo), "
                                 "[f](doc/g.md#kept), [g](include/x.h#L3).\n");
    write_file(dir, "doc/g.md", "## The Exchange Server 4.0\342\200\2235.5 MTA's failures\n```sh\n# not a heading\n```\n"
                                "## Setup\n## Setup\n<a name=\"kept\"></a>\n");
    write_file(dir, "include/x.h", "/* x */\n");
    ck_assert_int_eq(doccheck("links", dir, &o), 1);
    ck_assert_msg(strstr(o, "README.md:2: doc/g.md#not-a-heading: no such heading"), "%s", o);
    ck_assert_msg(strstr(o, "README.md:2: #tpo: no such heading"), "%s", o);
    ck_assert_msg(!strstr(o, "4055") && !strstr(o, "setup-1") && !strstr(o, "#top") && !strstr(o, "#kept") &&
                  !strstr(o, "x.h"), "false alarm:\n%s", o);
    free(o);
    write_file(dir, "README.md", "# Top\nSee [a](doc/g.md#setup) and [d](#top).\n");
    ck_assert_int_eq(doccheck("links", dir, &o), 0);
    ck_assert_str_eq(o, "");
    free(o);
    rm_tree(dir);
}
END_TEST

START_TEST(api_reference_complete)
{
    char *o;
    ck_assert_msg(doccheck("api", x400t_srcdir(), &o) == 0 && o[0] == 0, "x400p1(3) against the headers:\n%s", o);
    free(o);
}
END_TEST

/* A function declared (one-line and multi-line declarations, a return
 * type with a pointer) but not named in x400p1(3), and a name the page
 * gives that no header declares, are each reported; comments and function
 * pointer types are not declarations; once fixed, the tree passes. */
START_TEST(api_check_catches_each_kind)
{
    static const char hdr[] =
        "/* x400_in_a_comment(void) is no declaration */\n"
        "typedef struct x400_thing { int n; } x400_thing;\n"
        "typedef int (*x400_thing_fn)(void *user);\n"
        "int x400_thing_new(x400_thing **out);\n"
        "const char *x400_thing_name(const x400_thing *t,\n"
        "                            int which);\n"
        "void x400_thing_free(x400_thing *t);\n";
    char dir[1024], *o;
    mk_tmp(dir, sizeof dir);
    write_file(dir, "include/x400p1/thing.h", hdr);
    write_file(dir, "man/x400p1.3", ".TH X 3\n.BR x400_thing_new (),\n.BR x400_thing_free ()\n"
                                     "take an\n.B x400_thing\nand an\n.BR x400_thing_fn ;\n"
                                     ".BR x400_thing_gone ()\nis named.\n");
    ck_assert_int_eq(doccheck("api", dir, &o), 1);
    ck_assert_msg(strstr(o, "man/x400p1.3: x400_thing_name (include/x400p1/thing.h) is not named"), "%s", o);
    ck_assert_msg(strstr(o, "man/x400p1.3:8: x400_thing_gone is declared in no include/x400p1/*.h"), "%s", o);
    ck_assert_msg(!strstr(o, "x400_in_a_comment") && !strstr(o, "x400_thing_new") && !strstr(o, "x400_thing_fn") &&
                  !strstr(o, "x400_thing_free") && !strstr(o, "x400_thing "), "false alarm:\n%s", o);
    free(o);
    write_file(dir, "man/x400p1.3", ".TH X 3\n.BR x400_thing_new (),\n.BR x400_thing_name (),\n"
                                     ".BR x400_thing_free ()\n");
    ck_assert_int_eq(doccheck("api", dir, &o), 0);
    ck_assert_str_eq(o, "");
    free(o);
    rm_tree(dir);
}
END_TEST

Suite *x400t_suite_pkg(void)
{
    Suite *s = suite_create("pkg");
    TCase *tc = tcase_create("pkg");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, version_matches_macros);
    tcase_add_test(tc, release_archive_clean);
    tcase_add_test(tc, user_flags_reach_every_command);
    tcase_add_test(tc, pkgconfig_follows_prefix);
    tcase_add_test(tc, man_pages_render_cleanly);
    tcase_add_test(tc, man_check_catches_warnings);
    tcase_add_test(tc, doc_links_resolve);
    tcase_add_test(tc, doc_link_check_catches_each_kind);
    tcase_add_test(tc, doc_anchor_check_catches_a_missing_heading);
    tcase_add_test(tc, api_reference_complete);
    tcase_add_test(tc, api_check_catches_each_kind);
    suite_add_tcase(s, tc);
    return s;
}
