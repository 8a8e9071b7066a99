/* A fuzz target's temporary directory, removed when the run ends: the
 * target fills `dir` (mkdtemp) and registers rm_dir with atexit. */
#ifndef X400T_FUZZ_TMPDIR_H
#define X400T_FUZZ_TMPDIR_H

#include <ftw.h>
#include <stdio.h>

static char dir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_dir(void)
{
    if (dir[0]) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
