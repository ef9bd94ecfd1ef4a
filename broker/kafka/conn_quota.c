/* Connection quotas; see conn_quota.h. */
#include "broker/kafka/conn_quota.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* One "ip:count" entry (len bytes at s); the count follows the last colon,
 * so IPv6 addresses need no brackets. */
static int parse_override(struct conn_quota *q, const char *s, size_t len, char *err, size_t errlen)
{
    char entry[128];
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++, len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        return 0;
    }
    char *colon = NULL, *end = NULL;
    if (len < sizeof entry) {
        memcpy(entry, s, len);
        entry[len] = '\0';
        colon = strrchr(entry, ':');
    }
    long v = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == entry || end == colon + 1 || *end != '\0' || v < 0 ||
        v > INT32_MAX) {
        snprintf(err, errlen,
                 "invalid max.connections.per.ip.overrides entry '%.*s': "
                 "expected ip:count",
                 (int)len, s);
        return -EINVAL;
    }
    *colon = '\0';
    return strmap_put(&q->overrides, entry, (void *)(intptr_t)(v + 1));
}

int conn_quota_init(struct conn_quota *q, int32_t max_total, int32_t max_per_ip,
                    const char *overrides, int fd_reserve, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    q->max_total = max_total;
    q->max_per_ip = max_per_ip;
    q->fd_reserve = fd_reserve;
    q->max_rate = INT32_MAX;
    struct rlimit rl;
    q->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)INT32_MAX
                      ? (int)rl.rlim_cur
                      : INT32_MAX;
    strmap_init(&q->overrides);
    strmap_init(&q->per_ip);
    const char *p = overrides != NULL ? overrides : "";
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int rv = parse_override(q, p, len, err, errlen);
        if (rv != 0) {
            conn_quota_free(q);
            return rv;
        }
        p += len + (comma != NULL);
    }
    return 0;
}

void conn_quota_free(struct conn_quota *q)
{
    strmap_free(&q->overrides);
    strmap_free(&q->per_ip);
}

int32_t conn_quota_limit_for(const struct conn_quota *q, const char *ip)
{
    intptr_t o = (intptr_t)strmap_get(&q->overrides, ip);
    return o > 0 ? (int32_t)(o - 1) : q->max_per_ip;
}

void conn_quota_set_rate(struct conn_quota *q, int32_t per_second)
{
    q->max_rate = per_second > 0 ? per_second : INT32_MAX;
}

static const char *check(struct conn_quota *q, const char *ip, int fd, uint64_t now_ms, intptr_t *n)
{
    if (fd >= 0 && q->fd_limit - fd <= q->fd_reserve) {
        return "open file descriptors (RLIMIT_NOFILE)";
    }
    if (now_ms - q->window_start_ms >= 1000) {
        q->window_start_ms = now_ms;
        q->window_count = 0;
    }
    if (q->window_count >= q->max_rate) {
        return "max.connection.creation.rate";
    }
    if (q->total >= q->max_total) {
        return "max.connections";
    }
    *n = (intptr_t)strmap_get(&q->per_ip, ip);
    if (*n >= conn_quota_limit_for(q, ip)) {
        return "max.connections.per.ip";
    }
    if (strmap_put(&q->per_ip, ip, (void *)(*n + 1)) != 0) {
        return "memory for connection accounting";
    }
    return NULL;
}

const char *conn_quota_admit(struct conn_quota *q, const char *ip, int fd, uint64_t now_ms)
{
    intptr_t n = 0;
    const char *why = check(q, ip, fd, now_ms, &n);
    if (why != NULL) {
        q->refused++;
        q->last_refused = why;
        snprintf(q->last_refused_ip, sizeof q->last_refused_ip, "%s", ip);
        return why;
    }
    q->total++;
    q->window_count++;
    return NULL;
}

void conn_quota_release(struct conn_quota *q, const char *ip)
{
    intptr_t n = (intptr_t)strmap_get(&q->per_ip, ip);
    if (n <= 1) {
        strmap_remove(&q->per_ip, ip);
    } else {
        strmap_put(&q->per_ip, ip, (void *)(n - 1)); /* replacing never allocates */
    }
    q->total--;
}
