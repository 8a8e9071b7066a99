/* Replays a libFuzzer corpus without libFuzzer: every file under the given
 * directories (or the files themselves) goes once through
 * LLVMFuzzerTestOneInput.  Built with the check variant's sanitizers. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (!f) { perror(path); return -1; }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) { fclose(f); return -1; }
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); return -1; }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int i, count = 0;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) continue; /* an absent corpus is empty */
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            char p[4096];
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
                if (run_file(p) != 0) return 1;
                count++;
            }
            if (d) closedir(d);
        } else {
            if (run_file(argv[i]) != 0) return 1;
            count++;
        }
    }
    printf("replayed %d inputs\n", count);
    return 0;
}
