/* Atomic offsets checkpoint files. */
#include "broker/log/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/log_errors.h"
#include "common/fs_util.h"

#define CHECKPOINT_VERSION 0
#define CHECKPOINT_MAX     1024 /* bytes; the file is ~100 */

int checkpoint_write(const char *dir, const char *name, const struct log_checkpoint *cp)
{
    char text[256];
    int len =
        snprintf(text, sizeof text,
                 "%d\n3\nlog-start-offset %" PRId64 "\nhigh-watermark %" PRId64
                 "\nrecovery-point %" PRId64 "\n",
                 CHECKPOINT_VERSION, cp->log_start_offset, cp->high_watermark, cp->recovery_point);
    return fs_write_atomic(dir, name, text, (size_t)len);
}

static int parse(const char *text, struct log_checkpoint *cp)
{
    int version, count, used = 0;
    char k1[32], k2[32], k3[32];
    int64_t v1, v2, v3;
    int n = sscanf(text, "%d %d %31s %" SCNd64 " %31s %" SCNd64 " %31s %" SCNd64 " %n", &version,
                   &count, k1, &v1, k2, &v2, k3, &v3, &used);
    if (n != 8 || version != CHECKPOINT_VERSION || count != 3 || text[used] != '\0' ||
        strcmp(k1, "log-start-offset") != 0 || strcmp(k2, "high-watermark") != 0 ||
        strcmp(k3, "recovery-point") != 0 || v1 < 0 || v2 < 0 || v3 < 0) {
        return LOG_ERR_CORRUPT;
    }
    cp->log_start_offset = v1;
    cp->high_watermark = v2;
    cp->recovery_point = v3;
    return 0;
}

int checkpoint_read(const char *dir, const char *name, struct log_checkpoint *cp)
{
    char path[4096], text[CHECKPOINT_MAX + 1];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n;
    do {
        n = read(fd, text, CHECKPOINT_MAX);
    } while (n < 0 && errno == EINTR);
    int rv = n < 0 ? -errno : 0;
    close(fd);
    if (n < 0) {
        return rv;
    }
    text[n] = '\0';
    if (n == CHECKPOINT_MAX || strlen(text) != (size_t)n) {
        return LOG_ERR_CORRUPT;
    }
    return parse(text, cp);
}
