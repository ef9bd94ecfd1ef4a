/* rdkafka_roundtrip: librdkafka against a running broker, end to end.
 *
 *   rdkafka_roundtrip --bootstrap-server HOST:PORT --topic NAME
 *                     [--messages N] [--partitions P] [--codec none|gzip|snappy|lz4|zstd]
 *
 * Creates the topic with P partitions (admin API), produces N keyed messages
 * (message i goes to partition i % P) with delivery reports, checks that each
 * partition's offsets are exactly 0..count-1, then consumes every partition
 * from the beginning (no consumer group: the legacy per-partition consumer, as
 * kcat does) and compares every key and value byte for byte with what was
 * produced. Exit status 0 = everything matched, 1 = a mismatch or error (the
 * first few are printed), 2 = usage. Every wait is bounded. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VALUE    256
#define MAX_REPORTED 10
#define TIMEOUT_MS   60000

struct options {
    const char *bootstrap;
    const char *topic;
    const char *codec;
    int messages;
    int partitions;
};

struct roundtrip {
    struct options opt;
    int64_t *offsets; /* offsets[i]: where message i landed, -1 until reported */
    int *by_offset;   /* by_offset[p * messages + offset] = i, or -1 */
    char *seen;       /* seen[i]: consumed already */
    int delivered;
    int failures;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(struct roundtrip *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct roundtrip *rt, const char *fmt, ...)
{
    if (rt->failures++ < MAX_REPORTED) {
        va_list ap;
        va_start(ap, fmt);
        fputs("rdkafka_roundtrip: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

/* Deterministic contents: message i has key "key-<i>" and a value of
 * 16..215 bytes of xorshift noise seeded by i (every byte value occurs). */
static size_t make_key(int i, char *buf, size_t cap)
{
    return (size_t)snprintf(buf, cap, "key-%d", i);
}

static size_t make_value(int i, unsigned char *buf)
{
    size_t len = 16 + (size_t)(i * 37 % 200);
    uint32_t x = (uint32_t)i * 2654435761u + 1;
    for (size_t k = 0; k < len; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[k] = (unsigned char)x;
    }
    return len;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    *opt = (struct options){.codec = "none", .messages = 100000, .partitions = 6};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--bootstrap-server") == 0) {
            opt->bootstrap = argv[i + 1];
        } else if (strcmp(argv[i], "--topic") == 0) {
            opt->topic = argv[i + 1];
        } else if (strcmp(argv[i], "--codec") == 0) {
            opt->codec = argv[i + 1];
        } else if (strcmp(argv[i], "--messages") == 0) {
            opt->messages = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--partitions") == 0) {
            opt->partitions = atoi(argv[i + 1]);
        } else {
            return -1;
        }
    }
    if (argc % 2 == 0 || opt->bootstrap == NULL || opt->topic == NULL || opt->messages < 1 ||
        opt->messages > 10000000 || opt->partitions < 1 || opt->partitions > 1000) {
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *make_conf(const struct options *opt)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", opt->bootstrap, err, sizeof err) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", "10000", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_roundtrip: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_roundtrip: %s=%s: %s\n", key, value, err);
        return -1;
    }
    return 0;
}

static rd_kafka_t *make_client(const struct options *opt, rd_kafka_type_t type,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque)
{
    char err[512];
    rd_kafka_conf_t *conf = make_conf(opt);
    if (conf == NULL) {
        return NULL;
    }
    if (dr_cb != NULL) {
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_opaque(conf, opaque);
        if (set(conf, "linger.ms", "5") != 0 || set(conf, "compression.codec", opt->codec) != 0) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "rdkafka_roundtrip: rd_kafka_new: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* CreateTopics with opt->partitions partitions, replication factor 1. */
static int create_topic(rd_kafka_t *rk, const struct options *opt)
{
    char err[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(opt->topic, opt->partitions, 1, err, sizeof err);
    if (nt == NULL) {
        fprintf(stderr, "rdkafka_roundtrip: NewTopic: %s\n", err);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
    int rv = -1;
    if (ev == NULL) {
        fprintf(stderr, "rdkafka_roundtrip: CreateTopics timed out\n");
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "rdkafka_roundtrip: CreateTopics: %s\n", rd_kafka_event_error_string(ev));
    } else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n == 1 && rd_kafka_topic_result_error(res[0]) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rv = 0;
        } else {
            fprintf(stderr, "rdkafka_roundtrip: CreateTopics %s: %s\n", opt->topic,
                    n == 1 ? rd_kafka_topic_result_error_string(res[0]) : "no result");
        }
    }
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rv;
}

/* Metadata may lag CreateTopics briefly: wait until every partition has a leader. */
static int wait_for_partitions(rd_kafka_t *rk, const struct options *opt)
{
    int64_t deadline = now_ms() + TIMEOUT_MS;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt->topic, NULL);
    int rv = -1;
    while (rv != 0 && now_ms() < deadline) {
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt == opt->partitions) {
                rv = 0;
                for (int p = 0; p < opt->partitions; p++) {
                    rv |= md->topics[0].partitions[p].leader < 0 ? -1 : 0;
                }
            }
            rd_kafka_metadata_destroy(md);
        }
        if (rv != 0) {
            rd_kafka_poll(rk, 200);
        }
    }
    rd_kafka_topic_destroy(rkt);
    if (rv != 0) {
        fprintf(stderr, "rdkafka_roundtrip: topic %s never showed %d partitions with leaders\n",
                opt->topic, opt->partitions);
    }
    return rv;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct roundtrip *rt = opaque;
    int i = (int)(intptr_t)m->_private;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail(rt, "delivery of message %d failed: %s", i, rd_kafka_err2str(m->err));
        return;
    }
    if (m->partition != i % rt->opt.partitions || m->offset < 0 || m->offset >= rt->opt.messages ||
        rt->offsets[i] != -1) {
        fail(rt, "message %d: bad report partition=%" PRId32 " offset=%" PRId64, i, m->partition,
             m->offset);
        return;
    }
    rt->offsets[i] = m->offset;
    rt->delivered++;
}

static int produce_one(rd_kafka_t *rk, struct roundtrip *rt, int i)
{
    char key[32];
    unsigned char value[MAX_VALUE];
    size_t klen = make_key(i, key, sizeof key);
    size_t vlen = make_value(i, value);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(rt->opt.topic), RD_KAFKA_V_PARTITION(i % rt->opt.partitions),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(value, vlen),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fail(rt, "produce message %d: %s", i, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 10);
    }
}

static int produce_all(struct roundtrip *rt)
{
    rd_kafka_t *rk = make_client(&rt->opt, RD_KAFKA_PRODUCER, on_delivery, rt);
    if (rk == NULL) {
        return -1;
    }
    int rv = create_topic(rk, &rt->opt);
    if (rv == 0) {
        rv = wait_for_partitions(rk, &rt->opt);
    }
    for (int i = 0; rv == 0 && i < rt->opt.messages; i++) {
        rv = produce_one(rk, rt, i);
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail(rt, "flush timed out with %d messages outstanding", rd_kafka_outq_len(rk));
    }
    rd_kafka_destroy(rk);
    if (rv == 0 && rt->delivered != rt->opt.messages) {
        fail(rt, "%d of %d messages delivered", rt->delivered, rt->opt.messages);
    }
    return rv == 0 && rt->failures == 0 ? 0 : -1;
}

/* Offsets per partition must be exactly 0..count-1: nothing lost, nothing doubled. */
static int index_offsets(struct roundtrip *rt)
{
    size_t n = (size_t)rt->opt.messages;
    for (size_t k = 0; k < n * (size_t)rt->opt.partitions; k++) {
        rt->by_offset[k] = -1;
    }
    for (int i = 0; i < rt->opt.messages; i++) {
        int p = i % rt->opt.partitions;
        int *slot = &rt->by_offset[(size_t)p * n + (size_t)rt->offsets[i]];
        if (*slot != -1) {
            fail(rt, "messages %d and %d both at partition %d offset %" PRId64, *slot, i, p,
                 rt->offsets[i]);
        }
        *slot = i;
    }
    for (int p = 0; p < rt->opt.partitions; p++) {
        int count =
            rt->opt.messages / rt->opt.partitions + (p < rt->opt.messages % rt->opt.partitions);
        for (int o = 0; o < count; o++) {
            if (rt->by_offset[(size_t)p * n + (size_t)o] == -1) {
                fail(rt, "partition %d: offset %d unused (offsets must be dense)", p, o);
            }
        }
    }
    return rt->failures == 0 ? 0 : -1;
}

static void check_message(struct roundtrip *rt, const rd_kafka_message_t *m, int *received)
{
    if (m->partition < 0 || m->partition >= rt->opt.partitions || m->offset < 0 ||
        m->offset >= rt->opt.messages) {
        fail(rt, "unexpected message partition=%" PRId32 " offset=%" PRId64, m->partition,
             m->offset);
        return;
    }
    int i = rt->by_offset[(size_t)m->partition * (size_t)rt->opt.messages + (size_t)m->offset];
    if (i < 0 || rt->seen[i]) {
        fail(rt, "partition %" PRId32 " offset %" PRId64 ": unexpected or repeated", m->partition,
             m->offset);
        return;
    }
    char key[32];
    unsigned char value[MAX_VALUE];
    size_t klen = make_key(i, key, sizeof key);
    size_t vlen = make_value(i, value);
    if (m->key_len != klen || memcmp(m->key, key, klen) != 0 || m->len != vlen ||
        memcmp(m->payload, value, vlen) != 0) {
        fail(rt, "partition %" PRId32 " offset %" PRId64 ": contents differ from message %d",
             m->partition, m->offset, i);
    } else {
        rt->seen[i] = 1;
        (*received)++;
    }
}

static int consume_all(struct roundtrip *rt)
{
    rd_kafka_t *rk = make_client(&rt->opt, RD_KAFKA_CONSUMER, NULL, NULL);
    if (rk == NULL) {
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, rt->opt.topic, NULL);
    for (int p = 0; p < rt->opt.partitions; p++) {
        rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q);
    }
    int received = 0;
    int64_t deadline = now_ms() + TIMEOUT_MS;
    while (received < rt->opt.messages && rt->failures < MAX_REPORTED && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 1000);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            check_message(rt, m, &received);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fail(rt, "consume: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    for (int p = 0; p < rt->opt.partitions; p++) {
        rd_kafka_consume_stop(rkt, p);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    if (received != rt->opt.messages) {
        fail(rt, "consumed %d of %d messages", received, rt->opt.messages);
    }
    return rt->failures == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct roundtrip rt = {0};
    if (parse_options(argc, argv, &rt.opt) != 0) {
        fprintf(stderr, "usage: rdkafka_roundtrip --bootstrap-server HOST:PORT --topic NAME "
                        "[--messages N] [--partitions P] [--codec none|gzip|snappy|lz4|zstd]\n");
        return 2;
    }
    size_t n = (size_t)rt.opt.messages;
    rt.offsets = malloc(n * sizeof *rt.offsets);
    rt.by_offset = malloc(n * (size_t)rt.opt.partitions * sizeof *rt.by_offset);
    rt.seen = calloc(n, 1);
    int rv = 1;
    if (rt.offsets == NULL || rt.by_offset == NULL || rt.seen == NULL) {
        fprintf(stderr, "rdkafka_roundtrip: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rt.offsets[i] = -1;
    }
    int64_t t0 = now_ms();
    if (produce_all(&rt) == 0 && index_offsets(&rt) == 0) {
        int64_t t1 = now_ms();
        if (consume_all(&rt) == 0) {
            printf("ok: %d messages in %d partitions, produce %" PRId64 " ms, consume %" PRId64
                   " ms\n",
                   rt.opt.messages, rt.opt.partitions, t1 - t0, now_ms() - t1);
            rv = 0;
        }
    }
out:
    free(rt.seen);
    free(rt.by_offset);
    free(rt.offsets);
    return rv;
}
