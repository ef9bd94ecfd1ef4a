/* sluice-probe: the broker's produce latency without a client library's own
 * per-partition cost.
 *
 *   sluice-probe --leaders FILE --topic NAME [--num-records N] [--record-size BYTES]
 *                [--acks 1|-1] [--throughput RECORDS_PER_SEC] [--seed S]
 *                [--record-times FILE]
 *
 * FILE lists each partition's leader, one "PARTITION HOST:PORT" per line (the
 * caller learns them from Metadata with a real client). The probe opens one
 * connection per leader and sends, on a fixed schedule (open loop: a late
 * answer never delays the next send), one Produce v7 request per record to a
 * pseudo-random partition, as librdkafka does with linger.ms=0 and no key.
 * Each record's latency runs from its scheduled send time to its answer, so
 * a stall on the broker counts against every record it delays.
 *
 * Why it exists: librdkafka's producer visits every partition of the topic
 * each time its broker thread wakes (a mutex per partition), so at 5,000
 * partitions sluice-perf's own CPU, on the same cores as the brokers, grows
 * 5x and shows in its latency (tools/bench/README.md). The probe's cost per
 * record does not depend on the partition count, so partition_scale prints
 * both: what a librdkafka producer sees, and what the brokers add.
 *
 * Prints the line sluice-perf prints (records/sec, latency avg/p50/p99/p999/
 * max in ms) and exits non-zero when any record is refused or unanswered.
 *
 * --record-times FILE writes one line per record, "SCHEDULED_NS LATENCY_NS
 * PARTITION" (CLOCK_MONOTONIC, as `perf record -k CLOCK_MONOTONIC`; latency
 * -1 when refused or unanswered), so that a slow record can be matched
 * with what the machine ran at the time (tools/bench/partition_scale
 * --attribute-stalls). */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/bigendian.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "tool_cli.h"

#define PRODUCE_API_KEY     0
#define PRODUCE_API_VERSION 7
#define TIMEOUT_NS          (60LL * 1000000000)
#define MAX_LEADERS         64
#define MAX_RESPONSE        (1 << 20) /* a one-partition Produce answer is < 100 bytes */

struct probe_options {
    const char *leaders_file;
    const char *topic;
    long num_records;
    long record_size;
    int acks;
    long throughput;
    uint64_t seed;
    const char *record_times; /* NULL: not written */
};

/* One connection to one leader, and the bytes of its answers read so far. */
struct leader_conn {
    char addr[128];
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
};

struct probe {
    struct probe_options opt;
    struct leader_conn conns[MAX_LEADERS];
    int nconns;
    int *conn_of; /* partition -> index into conns */
    int npartitions;
    uint8_t *batch; /* the one-record batch every request carries */
    size_t batch_len;
    int64_t *scheduled_ns; /* per record (correlation id) */
    int64_t *latency_ns;   /* per answered record, in answer order */
    int64_t *answer_ns;    /* per record: its latency, -1 until answered (--record-times) */
    int32_t *partition_of; /* per record: its partition (--record-times) */
    long answered;
    long refused;
};

static void usage(void)
{
    fprintf(stderr, "usage: sluice-probe --leaders FILE --topic NAME [--num-records N]\n"
                    "                    [--record-size BYTES] [--acks 1|-1]\n"
                    "                    [--throughput RECORDS_PER_SEC] [--seed S]\n"
                    "                    [--record-times FILE]\n");
}

static int parse_options(int argc, char **argv, struct probe_options *o)
{
    *o = (struct probe_options){
        .num_records = 10000, .record_size = 1024, .acks = 1, .throughput = 2000, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        long v;
        if (value == NULL) {
            fprintf(stderr, "sluice-probe: %s needs a value\n", name);
            return -1;
        }
        i++;
        if (strcmp(name, "--leaders") == 0) {
            o->leaders_file = value;
        } else if (strcmp(name, "--topic") == 0) {
            o->topic = value;
        } else if (strcmp(name, "--num-records") == 0 &&
                   tool_parse_long(value, 1, 100000000, &v) == 0) {
            o->num_records = v;
        } else if (strcmp(name, "--record-size") == 0 &&
                   tool_parse_long(value, 0, 1 << 20, &v) == 0) {
            o->record_size = v;
        } else if (strcmp(name, "--acks") == 0 && tool_parse_long(value, -1, 1, &v) == 0 &&
                   v != 0) {
            o->acks = (int)v;
        } else if (strcmp(name, "--throughput") == 0 &&
                   tool_parse_long(value, 1, 10000000, &v) == 0) {
            o->throughput = v;
        } else if (strcmp(name, "--seed") == 0 && tool_parse_long(value, 0, LONG_MAX, &v) == 0) {
            o->seed = (uint64_t)v;
        } else if (strcmp(name, "--record-times") == 0) {
            o->record_times = value;
        } else {
            fprintf(stderr, "sluice-probe: bad option %s %s\n", name, value);
            return -1;
        }
    }
    if (o->leaders_file == NULL || o->topic == NULL || strlen(o->topic) > 249) {
        usage();
        return -1;
    }
    return 0;
}

static int connect_to(const char *addr)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
        fprintf(stderr, "sluice-probe: bad address %s\n", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rv = getaddrinfo(host, colon + 1, &hints, &res);
    if (rv != 0) {
        fprintf(stderr, "sluice-probe: %s: %s\n", addr, gai_strerror(rv));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        fprintf(stderr, "sluice-probe: connect %s: %s\n", addr, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int conn_for(struct probe *pr, const char *addr)
{
    for (int i = 0; i < pr->nconns; i++) {
        if (strcmp(pr->conns[i].addr, addr) == 0) {
            return i;
        }
    }
    if (pr->nconns == MAX_LEADERS || strlen(addr) >= sizeof pr->conns[0].addr) {
        fprintf(stderr, "sluice-probe: too many leaders or too long an address: %s\n", addr);
        return -1;
    }
    struct leader_conn *c = &pr->conns[pr->nconns];
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    if ((c->fd = connect_to(addr)) < 0) {
        return -1;
    }
    return pr->nconns++;
}

/* "PARTITION HOST:PORT" lines; every partition 0..N-1 exactly once. */
static int read_leaders(struct probe *pr)
{
    FILE *f = fopen(pr->opt.leaders_file, "r");
    if (f == NULL) {
        fprintf(stderr, "sluice-probe: %s: %s\n", pr->opt.leaders_file, strerror(errno));
        return -1;
    }
    long partition;
    char addr[256];
    int rv = 0, cap = 0;
    while (rv == 0 && fscanf(f, "%ld %255s", &partition, addr) == 2) {
        if (partition < 0 || partition >= 1000000) {
            fprintf(stderr, "sluice-probe: bad partition %ld\n", partition);
            rv = -1;
            break;
        }
        if (partition >= cap) {
            int ncap = (int)partition + 1 > cap * 2 ? (int)partition + 1 : cap * 2;
            int *n = realloc(pr->conn_of, (size_t)ncap * sizeof *n);
            if (n == NULL) {
                rv = -1;
                break;
            }
            for (int i = cap; i < ncap; i++) {
                n[i] = -1;
            }
            pr->conn_of = n;
            cap = ncap;
        }
        int c = conn_for(pr, addr);
        rv = c < 0 ? -1 : 0;
        if (rv == 0) {
            pr->conn_of[partition] = c;
            pr->npartitions =
                (int)partition + 1 > pr->npartitions ? (int)partition + 1 : pr->npartitions;
        }
    }
    fclose(f);
    for (int p = 0; rv == 0 && p < pr->npartitions; p++) {
        if (pr->conn_of[p] < 0) {
            fprintf(stderr, "sluice-probe: no leader listed for partition %d\n", p);
            rv = -1;
        }
    }
    if (rv == 0 && pr->npartitions == 0) {
        fprintf(stderr, "sluice-probe: %s lists no partition\n", pr->opt.leaders_file);
        rv = -1;
    }
    return rv;
}

/* A magic-2 batch of one record with no key and record_size random bytes. */
static int build_batch(struct probe *pr)
{
    struct buf rec, b;
    buf_init(&rec);
    buf_init(&b);
    uint8_t *value = malloc(pr->opt.record_size > 0 ? (size_t)pr->opt.record_size : 1);
    int rv = value == NULL ? -1 : 0;
    for (long i = 0; rv == 0 && i < pr->opt.record_size; i++) {
        value[i] = (uint8_t)rand();
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    /* record: attributes, timestamp delta, offset delta, key (null), value, headers */
    rv = rv < 0 ? rv
                : buf_append_u8(&rec, 0) | buf_append_varint(&rec, 0) | buf_append_varint(&rec, 0) |
                      buf_append_varint(&rec, -1) | buf_append_varint(&rec, pr->opt.record_size) |
                      buf_append(&rec, value, (size_t)pr->opt.record_size) |
                      buf_append_varint(&rec, 0);
    rv = rv < 0 ? rv
                : buf_append_be64(&b, 0) | buf_append_be32(&b, 0) /* length, set below */ |
                      buf_append_be32(&b, UINT32_MAX) /* leader epoch -1 */ | buf_append_u8(&b, 2) |
                      buf_append_be32(&b, 0) /* crc, set below */ | buf_append_be16(&b, 0) |
                      buf_append_be32(&b, 0) /* last offset delta */ |
                      buf_append_be64(&b, (uint64_t)ms) | buf_append_be64(&b, (uint64_t)ms) |
                      buf_append_be64(&b, UINT64_MAX) /* producer id -1 */ |
                      buf_append_be16(&b, UINT16_MAX) | buf_append_be32(&b, UINT32_MAX) |
                      buf_append_be32(&b, 1) | buf_append_varint(&b, (int64_t)rec.len) |
                      buf_append(&b, rec.data, rec.len);
    if (rv == 0) {
        be32_store(b.data + 8, (uint32_t)(b.len - 12));
        /* crc32c from the attributes to the end */
        be32_store(b.data + 17, crc32c(0, b.data + 21, b.len - 21));
        pr->batch = buf_steal(&b, &pr->batch_len);
    }
    free(value);
    buf_free(&rec);
    buf_free(&b);
    return rv < 0 ? -1 : 0;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_record(struct probe *pr, struct buf *req, int32_t correlation, int32_t partition)
{
    static const char client_id[] = "sluice-probe";
    size_t topic_len = strlen(pr->opt.topic);
    buf_reset(req);
    int rv =
        buf_append_be32(req, 0) | buf_append_be16(req, PRODUCE_API_KEY) |
        buf_append_be16(req, PRODUCE_API_VERSION) | buf_append_be32(req, (uint32_t)correlation) |
        buf_append_be16(req, sizeof client_id - 1) |
        buf_append(req, client_id, sizeof client_id - 1) |
        buf_append_be16(req, UINT16_MAX) /* no transactional id */ |
        buf_append_be16(req, (uint16_t)(int16_t)pr->opt.acks) | buf_append_be32(req, 30000) |
        buf_append_be32(req, 1) | buf_append_be16(req, (uint16_t)topic_len) |
        buf_append(req, pr->opt.topic, topic_len) | buf_append_be32(req, 1) |
        buf_append_be32(req, (uint32_t)partition) | buf_append_be32(req, (uint32_t)pr->batch_len) |
        buf_append(req, pr->batch, pr->batch_len);
    if (rv != 0) {
        return -1;
    }
    be32_store(req->data, (uint32_t)(req->len - 4));
    struct leader_conn *c = &pr->conns[pr->conn_of[partition]];
    if (send_all(c->fd, req->data, req->len) < 0) {
        fprintf(stderr, "sluice-probe: send to %s: %s\n", c->addr, strerror(errno));
        return -1;
    }
    return 0;
}

/* One Produce v7 answer: correlation id, one topic, one partition, its error
 * code (then base offset, append time, log start; then throttle time). */
static int on_answer(struct probe *pr, const uint8_t *p, size_t len, int64_t now)
{
    if (len < 8) {
        return -1;
    }
    int32_t correlation = (int32_t)be32_load(p);
    size_t off = 4 + 4; /* correlation id, topic count */
    if (len < off + 2) {
        return -1;
    }
    off += 2 + be16_load(p + off); /* topic name */
    if (len < off + 4 + 4 + 2 || correlation < 0 || correlation >= pr->opt.num_records) {
        return -1;
    }
    int16_t error = (int16_t)be16_load(p + off + 8);
    if (error != 0) {
        if (pr->refused++ == 0) {
            fprintf(stderr, "sluice-probe: record %" PRId32 " refused with error %d\n", correlation,
                    error);
        }
        return 0;
    }
    pr->latency_ns[pr->answered++] = now - pr->scheduled_ns[correlation];
    if (pr->answer_ns != NULL) {
        pr->answer_ns[correlation] = now - pr->scheduled_ns[correlation];
    }
    return 0;
}

/* Read what the connection has and handle every whole answer in it. */
static int read_answers(struct probe *pr, struct leader_conn *c)
{
    if (c->in_cap - c->in_len < 4096) {
        size_t ncap = c->in_cap == 0 ? 65536 : c->in_cap * 2;
        uint8_t *n = ncap <= 4 * MAX_RESPONSE ? realloc(c->in, ncap) : NULL;
        if (n == NULL) {
            return -1;
        }
        c->in = n;
        c->in_cap = ncap;
    }
    ssize_t got = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (got <= 0) {
        fprintf(stderr, "sluice-probe: %s closed the connection\n", c->addr);
        return -1;
    }
    c->in_len += (size_t)got;
    int64_t now = tool_now_ns();
    size_t at = 0;
    while (c->in_len - at >= 4) {
        uint32_t size = be32_load(c->in + at);
        if (size > MAX_RESPONSE) {
            fprintf(stderr, "sluice-probe: %s answered %u bytes\n", c->addr, size);
            return -1;
        }
        if (c->in_len - at - 4 < size) {
            break;
        }
        if (on_answer(pr, c->in + at + 4, size, now) < 0) {
            fprintf(stderr, "sluice-probe: %s: an answer that does not parse\n", c->addr);
            return -1;
        }
        at += 4 + size;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    return 0;
}

static int run(struct probe *pr)
{
    struct pollfd fds[MAX_LEADERS];
    struct buf req;
    buf_init(&req);
    uint64_t rnd = pr->opt.seed * 2654435761u + 1;
    long sent = 0;
    int64_t interval = 1000000000 / pr->opt.throughput, start = tool_now_ns();
    int64_t deadline = start + (int64_t)pr->opt.num_records * interval + TIMEOUT_NS;
    int rv = 0;
    for (int i = 0; i < pr->nconns; i++) {
        fds[i] = (struct pollfd){.fd = pr->conns[i].fd, .events = POLLIN};
    }
    while (rv == 0 && pr->answered + pr->refused < pr->opt.num_records) {
        int64_t now = tool_now_ns();
        if (now > deadline) {
            fprintf(stderr, "sluice-probe: %ld records unanswered after the timeout\n",
                    pr->opt.num_records - pr->answered - pr->refused);
            rv = -1;
            break;
        }
        while (rv == 0 && sent < pr->opt.num_records && start + sent * interval <= now) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            pr->scheduled_ns[sent] = start + sent * interval;
            int32_t partition = (int32_t)(rnd % (uint64_t)pr->npartitions);
            if (pr->partition_of != NULL) {
                pr->partition_of[sent] = partition;
            }
            rv = send_record(pr, &req, (int32_t)sent, partition);
            sent++;
        }
        /* ppoll: a nanosecond timeout, so the schedule holds at rates above
         * 1,000 records/s without spinning on a core the brokers need. */
        int64_t wait =
            sent < pr->opt.num_records ? start + sent * interval - tool_now_ns() : 100000000;
        struct timespec timeout = {.tv_sec = wait > 0 ? wait / 1000000000 : 0,
                                   .tv_nsec = wait > 0 ? wait % 1000000000 : 0};
        int n = rv == 0 ? ppoll(fds, (nfds_t)pr->nconns, &timeout, NULL) : 0;
        for (int i = 0; rv == 0 && n > 0 && i < pr->nconns; i++) {
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                rv = read_answers(pr, &pr->conns[i]);
            }
        }
    }
    buf_free(&req);
    return rv;
}

/* --record-times: every record sent, in the order sent. */
static int write_record_times(const struct probe *pr, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "sluice-probe: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (long i = 0; i < pr->opt.num_records; i++) {
        fprintf(f, "%" PRId64 " %" PRId64 " %" PRId32 "\n", pr->scheduled_ns[i], pr->answer_ns[i],
                pr->partition_of[i]);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "sluice-probe: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(const int64_t *sorted, long n, double q)
{
    long i = (long)(q * (double)n);
    return (double)sorted[i < n ? i : n - 1] / 1e6;
}

static void report(struct probe *pr, int64_t elapsed_ns)
{
    long n = pr->answered;
    qsort(pr->latency_ns, (size_t)n, sizeof *pr->latency_ns, cmp_int64);
    double sum = 0;
    for (long i = 0; i < n; i++) {
        sum += (double)pr->latency_ns[i];
    }
    double secs = (double)elapsed_ns / 1e9;
    printf("%ld records sent in %.3f s: %.1f records/sec (%.2f MiB/sec), latency ms: avg %.2f, "
           "p50 %.2f, p99 %.2f, p999 %.2f, max %.2f\n",
           n, secs, (double)n / secs, (double)n * (double)pr->opt.record_size / secs / 1048576.0,
           sum / (double)n / 1e6, percentile_ms(pr->latency_ns, n, 0.50),
           percentile_ms(pr->latency_ns, n, 0.99), percentile_ms(pr->latency_ns, n, 0.999),
           (double)pr->latency_ns[n - 1] / 1e6);
}

int main(int argc, char **argv)
{
    struct probe pr = {0};
    if (parse_options(argc, argv, &pr.opt) < 0) {
        return 2;
    }
    pr.scheduled_ns = calloc((size_t)pr.opt.num_records, sizeof *pr.scheduled_ns);
    pr.latency_ns = calloc((size_t)pr.opt.num_records, sizeof *pr.latency_ns);
    int rv = pr.scheduled_ns == NULL || pr.latency_ns == NULL ? -1 : 0;
    if (rv == 0 && pr.opt.record_times != NULL) {
        pr.answer_ns = malloc((size_t)pr.opt.num_records * sizeof *pr.answer_ns);
        pr.partition_of = calloc((size_t)pr.opt.num_records, sizeof *pr.partition_of);
        rv = pr.answer_ns == NULL || pr.partition_of == NULL ? -1 : 0;
        for (long i = 0; rv == 0 && i < pr.opt.num_records; i++) {
            pr.answer_ns[i] = -1;
        }
    }
    if (rv == 0 && (rv = read_leaders(&pr)) == 0 && (rv = build_batch(&pr)) == 0) {
        int64_t start = tool_now_ns();
        rv = run(&pr);
        if (rv == 0 && pr.answered > 0) {
            report(&pr, tool_now_ns() - start);
        }
        if (pr.opt.record_times != NULL && write_record_times(&pr, pr.opt.record_times) != 0) {
            rv = -1;
        }
    }
    if (rv == 0 && pr.refused > 0) {
        fprintf(stderr, "sluice-probe: %ld of %ld records refused\n", pr.refused,
                pr.opt.num_records);
        rv = -1;
    }
    for (int i = 0; i < pr.nconns; i++) {
        close(pr.conns[i].fd);
        free(pr.conns[i].in);
    }
    free(pr.conn_of);
    free(pr.batch);
    free(pr.scheduled_ns);
    free(pr.latency_ns);
    free(pr.answer_ns);
    free(pr.partition_of);
    return rv == 0 ? 0 : 1;
}
