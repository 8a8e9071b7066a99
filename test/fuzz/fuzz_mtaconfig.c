/* Fuzz target: the example MTA's configuration parser (examples/x400mta/
 * config.c), the file x400mta reads at start and on SIGHUP.
 *
 * Input: the file's text.  It goes through mta_config_load (via a memfd,
 * nothing touches the disk); whatever loads must pass or fail
 * mta_config_check cleanly, keep every string terminated within its
 * buffer, find each peer under its own name and route an address without
 * reading past anything.  An error must say something ("file:line: ..."). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void terminated(const char *s, size_t cap)
{
    if (!memchr(s, 0, cap)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const probe = "C=XX;A=ADMD;P=BRAVO;O=Ops;S=Jones";
    char path[64], err[512];
    mta_config *cfg;
    x400_orname addr;
    const mta_peer_config *pc = NULL;
    int fd = memfd_create("mtaconfig", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cfg = malloc(sizeof *cfg);
    if (!cfg) abort();
    mta_config_defaults(cfg);
    err[0] = 0;
    if (mta_config_load(cfg, path, err, sizeof err) < 0) {
        if (!err[0]) abort(); /* a refusal says why */
    } else {
        (void)mta_config_check(cfg, err, sizeof err);
        if (cfg->npeers > MTA_MAX_PEERS || cfg->nlisten > MTA_MAX_LISTEN || cfg->nlocal > MTA_MAX_ROUTES) abort();
        terminated(cfg->name, sizeof cfg->name);
        terminated(cfg->spool, sizeof cfg->spool);
        terminated(cfg->log_path, sizeof cfg->log_path);
        for (size_t i = 0; i < cfg->nlisten; i++) terminated(cfg->listen[i], sizeof cfg->listen[i]);
        for (size_t i = 0; i < cfg->npeers; i++) {
            const mta_peer_config *p = &cfg->peers[i];
            terminated(p->name, sizeof p->name);
            terminated(p->host, sizeof p->host);
            if (p->nroutes > MTA_MAX_ROUTES) abort();
            for (size_t r = 0; r < p->nroutes; r++) terminated(p->routes[r], sizeof p->routes[r]);
            if (mta_config_peer(cfg, p->name) == NULL) abort();
        }
        if (x400_orname_parse(probe, strlen(probe), &addr, NULL) == 0)
            (void)mta_config_route(cfg, &addr, &pc);
    }
    free(cfg);
    close(fd);
    return 0;
}
