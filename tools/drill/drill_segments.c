/* drill_segments: see drill_segments.h. */
#include "drill_segments.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES      27 /* through lastOffsetDelta */
#define LENGTH_PREFIX     12 /* baseOffset + batchLength */
#define MIN_BATCH_LENGTH  49 /* v2 header after the length field, no records */
#define SEGMENT_NAME_LEN  24 /* 20 digits + ".log" */
#define MAX_SEGMENT_NAMES 100000

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static int scan_segment(int fd, drill_batch_cb cb, void *arg)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -1;
    }
    off_t pos = 0;
    unsigned char h[HEADER_BYTES];
    while (pos + HEADER_BYTES <= st.st_size) {
        if (pread(fd, h, sizeof h, pos) != (ssize_t)sizeof h) {
            return -1;
        }
        int64_t base = (int64_t)be(h, 8);
        int32_t length = (int32_t)be(h + 8, 4);
        if (length < MIN_BATCH_LENGTH || h[16] != 2 || base < 0 ||
            pos + LENGTH_PREFIX + length > st.st_size) {
            break; /* torn or preallocated tail: nothing valid beyond it */
        }
        int32_t last_delta = (int32_t)be(h + 23, 4);
        int rc = cb(arg, base, base + last_delta, (uint32_t)be(h + 17, 4));
        if (rc != 0) {
            return rc;
        }
        pos += LENGTH_PREFIX + length;
    }
    return 0;
}

static int is_segment_name(const char *name)
{
    if (strlen(name) != SEGMENT_NAME_LEN || strcmp(name + 20, ".log") != 0) {
        return 0;
    }
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment names of dir, sorted (equal-width digits sort by offset). */
static int list_segments(DIR *d, char ***names, size_t *count)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_segment_name(e->d_name)) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **g = cap <= MAX_SEGMENT_NAMES ? realloc(v, cap * sizeof *v) : NULL;
            if (g == NULL) {
                goto err_after_names;
            }
            v = g;
        }
        if ((v[n] = strdup(e->d_name)) == NULL) {
            goto err_after_names;
        }
        n++;
    }
    qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    *count = n;
    return 0;

err_after_names:
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
    return -1;
}

int drill_segments_scan(const char *dir, const char *topic, int32_t partition, drill_batch_cb cb,
                        void *arg, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%" PRId32, dir, topic, partition);
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char **names;
    size_t n;
    int rc = list_segments(d, &names, &n);
    closedir(d);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot list segments", path);
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char file[4200];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? -1 : scan_segment(fd, cb, arg);
        if (rc == -1) {
            snprintf(err, errlen, "%s: %s", file, strerror(errno));
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return rc;
}
