/* x400mta's command line (examples/x400mta/main.c) as an operator meets it,
 * run as a process (the sanitized build):
 *   - a SIGHUP (systemctl reload, the logrotate snippet) that arrives while
 *     `run` is still starting does not end it; once started, SIGHUP re-reads
 *     the configuration as before, and SIGTERM stops it with status 0;
 *   - a SIGTERM during the start is handled once it is over: an orderly
 *     stop, status 0. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mta_env.h"
#include "x400t.h"

/* The process id side 0's spool lock names, 0 while it names none. */
static long lock_pid(const struct env *e)
{
    char p[700], buf[32] = "";
    FILE *f;
    snprintf(p, sizeof p, "%s/a/lock", e->dir);
    if (!(f = fopen(p, "r"))) return 0;
    if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
    fclose(f);
    return strtol(buf, NULL, 10);
}

/* 1 once side 0's log holds `text` (waiting up to secs). */
static int log_has(const struct env *e, const char *text, double secs)
{
    char p[700];
    double end = x400t_mta_now_s() + secs;
    snprintf(p, sizeof p, "%s/a.log", e->dir);
    do {
        FILE *f = fopen(p, "r");
        char line[2048];
        int found = 0;
        while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
        if (f) fclose(f);
        if (found) return 1;
        usleep(20000);
    } while (x400t_mta_now_s() < end);
    return 0;
}

static const char *status_text(int st, char *buf, size_t cap)
{
    if (WIFSIGNALED(st)) snprintf(buf, cap, "killed by signal %d", WTERMSIG(st));
    else snprintf(buf, cap, "exit status %d", WEXITSTATUS(st));
    return buf;
}

START_TEST(sighup_while_starting_is_harmless)
{
    struct env e;
    char p[700], why[64];
    int st = 0, fd;
    pid_t got;
    x400t_mta_env_dir(&e, 1);
    fclose(x400t_mta_conf_open(&e, 0, "MTA-A", "pa", "ALPHA"));
    /* The start is held where it reads its received-MTSID set, after the
     * spool is locked and before the MTA has a signal handler: `seen` is a
     * FIFO that nobody writes to yet (its open waits for a writer). */
    snprintf(p, sizeof p, "%s/a", e.dir);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/seen", e.dir);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    x400t_mta_start(&e, 0);
    for (int k = 0; k < 600 && lock_pid(&e) != (long)e.pid[0]; k++) usleep(20000);
    ck_assert_int_eq(lock_pid(&e), (long)e.pid[0]);
    usleep(200000);
    ck_assert_int_eq(kill(e.pid[0], SIGHUP), 0);
    usleep(300000);
    got = waitpid(e.pid[0], &st, WNOHANG);
    ck_assert_msg(got == 0, "x400mta run, still starting, ended by a SIGHUP: %s", status_text(st, why, sizeof why));
    /* Let the start go on: an empty `seen` is no received set, refused:
     * the MTA ends on its own, with the spool error. */
    fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(waitpid(e.pid[0], &st, 0), e.pid[0]);
    e.pid[0] = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", status_text(st, why, sizeof why));
    ck_assert(log_has(&e, "spool: load:", 5));

    /* Started (an ordinary spool): SIGHUP still re-reads the configuration,
     * SIGTERM stops it with status 0. */
    ck_assert_int_eq(unlink(p), 0);
    x400t_mta_start(&e, 0);
    ck_assert(log_has(&e, "MTA MTA-A started", 30));
    ck_assert_int_eq(kill(e.pid[0], SIGHUP), 0);
    ck_assert(log_has(&e, "SIGHUP: configuration re-read", 10));
    ck_assert_int_eq(waitpid(e.pid[0], &st, WNOHANG), 0);
    st = x400t_mta_stop(&e, 0, SIGTERM);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", status_text(st, why, sizeof why));
    x400t_mta_env_free(&e, 1);
}
END_TEST

/* SIGHUP and SIGTERM during the start wait for it: the MTA starts, re-reads
 * its configuration, then stops in order with status 0 (SIGTERM used to
 * end a starting MTA the hard way: killed by signal 15). */
START_TEST(stop_signal_while_starting_waits_for_the_start)
{
    struct env e;
    char why[64];
    int st = 0;
    pid_t got;
    x400t_mta_env_dir(&e, 1);
    fclose(x400t_mta_conf_open(&e, 0, "MTA-A", "pa", "ALPHA"));
    /* the test hook holds the start 1.5 s once the spool is open (locked) */
    setenv("X400MTA_TEST_START_DELAY_MS", "1500", 1);
    x400t_mta_start(&e, 0);
    unsetenv("X400MTA_TEST_START_DELAY_MS");
    for (int k = 0; k < 600 && lock_pid(&e) != (long)e.pid[0]; k++) usleep(20000);
    ck_assert_int_eq(lock_pid(&e), (long)e.pid[0]);
    ck_assert(!log_has(&e, "MTA MTA-A started", 0));
    ck_assert_int_eq(kill(e.pid[0], SIGHUP), 0);
    ck_assert_int_eq(kill(e.pid[0], SIGTERM), 0);
    usleep(300000);
    got = waitpid(e.pid[0], &st, WNOHANG);
    ck_assert_msg(got == 0, "x400mta run, still starting, ended by a signal: %s", status_text(st, why, sizeof why));
    ck_assert_int_eq(waitpid(e.pid[0], &st, 0), e.pid[0]);
    e.pid[0] = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", status_text(st, why, sizeof why));
    ck_assert(log_has(&e, "MTA MTA-A started", 1));
    ck_assert(log_has(&e, "SIGHUP: configuration re-read", 1));
    ck_assert(log_has(&e, "signal 15: releasing associations and stopping", 1));
    ck_assert(log_has(&e, "MTA MTA-A stopped", 1));
    x400t_mta_env_free(&e, 1);
}
END_TEST

Suite *x400t_suite_mtacli(void)
{
    Suite *s = suite_create("mtacli");
    TCase *tc = tcase_create("mtacli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sighup_while_starting_is_harmless);
    tcase_add_test(tc, stop_signal_while_starting_waits_for_the_start);
    suite_add_tcase(s, tc);
    return s;
}
