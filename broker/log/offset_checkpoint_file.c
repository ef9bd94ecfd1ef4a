/* Kafka's OffsetCheckpointFile format; see offset_checkpoint_file.h. */
#include "broker/log/offset_checkpoint_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/log/log_errors.h"

#define TOPIC_MAX 249 /* Kafka's topic name limit */

int offset_checkpoint_begin(struct buf *out, size_t count)
{
    char line[64];
    int n = snprintf(line, sizeof line, "0\n%zu\n", count);
    return buf_append(out, line, (size_t)n);
}

int offset_checkpoint_add(struct buf *out, const char *topic, int32_t partition, int64_t offset)
{
    char nums[48];
    int n = snprintf(nums, sizeof nums, " %" PRId32 " %" PRId64 "\n", partition, offset);
    int rv = buf_append(out, topic, strlen(topic));
    return rv == 0 ? buf_append(out, nums, (size_t)n) : rv;
}

/* The next '\n'-terminated line of [*p, end) without its newline, or NULL. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL) {
        return NULL;
    }
    const char *line = *p;
    *len = (size_t)(nl - line);
    *p = nl + 1;
    return line;
}

/* A decimal in [0, max] filling exactly `len` bytes. */
static int parse_num(const char *s, size_t len, int64_t max, int64_t *out)
{
    if (len == 0 || len > 19) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_entry(const char *line, size_t len, offset_checkpoint_entry_fn fn, void *arg)
{
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line || (size_t)(sp1 - line) > TOPIC_MAX) {
        return LOG_ERR_CORRUPT;
    }
    const char *rest = sp1 + 1, *end = line + len;
    const char *sp2 = memchr(rest, ' ', (size_t)(end - rest));
    int64_t partition, offset;
    if (sp2 == NULL || parse_num(rest, (size_t)(sp2 - rest), INT32_MAX, &partition) != 0 ||
        parse_num(sp2 + 1, (size_t)(end - sp2 - 1), INT64_MAX, &offset) != 0) {
        return LOG_ERR_CORRUPT;
    }
    char topic[TOPIC_MAX + 1];
    memcpy(topic, line, (size_t)(sp1 - line));
    topic[sp1 - line] = '\0';
    return fn(topic, (int32_t)partition, offset, arg);
}

int offset_checkpoint_parse(const char *text, size_t len, offset_checkpoint_entry_fn fn, void *arg)
{
    const char *p = text, *end = text + len, *line;
    size_t n;
    int64_t version, count;
    if ((line = next_line(&p, end, &n)) == NULL || parse_num(line, n, INT32_MAX, &version) != 0 ||
        version != 0 || (line = next_line(&p, end, &n)) == NULL ||
        parse_num(line, n, INT32_MAX, &count) != 0) {
        return LOG_ERR_CORRUPT;
    }
    for (int64_t i = 0; i < count; i++) {
        if ((line = next_line(&p, end, &n)) == NULL) {
            return LOG_ERR_CORRUPT;
        }
        int rv = parse_entry(line, n, fn, arg);
        if (rv != 0) {
            return rv;
        }
    }
    return p == end ? 0 : LOG_ERR_CORRUPT;
}

int offset_checkpoint_read(const char *dir, const char *name, offset_checkpoint_entry_fn fn,
                           void *arg)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rv = fstat(fd, &st) < 0 ? -errno : 0;
    if (rv == 0 && (st.st_size < 0 || (uint64_t)st.st_size > OFFSET_CHECKPOINT_MAX_BYTES)) {
        rv = LOG_ERR_CORRUPT;
    }
    char *text = rv == 0 ? malloc((size_t)st.st_size + 1) : NULL;
    if (rv == 0 && text == NULL) {
        rv = -ENOMEM;
    }
    size_t got = 0;
    while (rv == 0 && got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rv = r < 0 ? -errno : LOG_ERR_CORRUPT; /* shrank under us */
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (rv == 0) {
        rv = offset_checkpoint_parse(text, got, fn, arg);
    }
    free(text);
    return rv;
}
