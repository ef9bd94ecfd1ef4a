/* Replay driver for the fuzz targets when they are not built with libFuzzer
 * (gcc, or clang without -fsanitize=fuzzer): runs LLVMFuzzerTestOneInput over
 * every file named on the command line, and over every file inside each
 * directory named there (one level, as a corpus is laid out). The regular
 * build uses this to replay the committed corpus as a unit test; a crash
 * reproducer can be replayed the same way under a debugger. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    struct buf input = BUF_INIT;
    uint8_t chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&input, chunk, n) != 0) {
            abort();
        }
    }
    fclose(f);
    /* A copy of exactly `len` bytes, so an over-read is caught by ASan as it
     * would be under libFuzzer. */
    uint8_t *exact = malloc(input.len ? input.len : 1);
    if (exact == NULL) {
        abort();
    }
    if (input.len > 0) {
        memcpy(exact, input.data, input.len);
    }
    LLVMFuzzerTestOneInput(exact, input.len);
    free(exact);
    buf_free(&input);
    return 0;
}

/* Every regular file in `dir`, in name order (so runs are repeatable). */
static int replay_dir(const char *dir, int *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    int rv = 0;
    if (n < 0) {
        perror(dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (rv == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rv = replay_file(path);
            (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rv;
}

int main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] == '-') {
            continue; /* libFuzzer flags (-runs=0 ...) are accepted and ignored */
        }
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        int rv =
            S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) : (count++, replay_file(argv[i]));
        if (rv != 0) {
            return 1;
        }
    }
    printf("replayed %d inputs\n", count);
    return 0;
}
