/* sluice-perf: producer/consumer benchmark on librdkafka, in the spirit of
 * Kafka's kafka-producer-perf-test and kafka-consumer-perf-test.
 *
 *   sluice-perf --bootstrap-server HOST:PORT --topic NAME [--mode produce|consume]
 *               [--num-records N] [--record-size BYTES] [--acks 0|1|-1]
 *               [--linger-ms MS] [--batch-size BYTES] [--compression CODEC]
 *               [--partitions P] [--replication-factor R] [--throughput RECORDS_PER_SEC]
 *               [--idempotence off|on|compare] [--txn-records N]
 *
 * produce: sends N records of BYTES random bytes (no key) as fast as the
 *   client queue allows, and measures each record's latency from produce() to
 *   its delivery report. --partitions P creates the topic first (admin API;
 *   an existing topic is kept). --throughput paces the sends (default: as fast
 *   as possible, where latency mostly measures the client's own queue).
 *   --idempotence on produces with enable.idempotence=true (librdkafka's five
 *   requests in flight); compare sends N records without, then N with it, in
 *   the same run, and prints both rates and the idempotent/plain ratio.
 *   --txn-records N produces transactionally (a transactional.id of this
 *   run, init_transactions, a commit every N records); with compare it is a
 *   third pass of the same run, printed as a ratio against plain too.
 * consume: reads every partition of the topic from the beginning (no consumer
 *   group) until N records arrived or every partition is at its end. With
 *   --group ID it then reads the same records again through consumer group ID
 *   (subscribe, join, the assignor's assignment, auto-commit; ID should be
 *   new, so it starts from the beginning) and prints both rates and the
 *   group/plain ratio, measured in the same run.
 * Prints records/s, MiB/s and, for produce, latency avg/p50/p99/p999/max. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rdkafka_topic.h"
#include "tool_cli.h"

#define TIMEOUT_MS     60000
#define MAX_PROPERTIES 16

struct perf_options {
    const char *bootstrap;
    const char *topic;
    const char *mode;
    const char *acks;
    const char *linger_ms;
    const char *batch_size;
    const char *compression;
    const char *group;       /* consume: also through this consumer group */
    const char *idempotence; /* produce: off, on or compare */
    bool idempotent;         /* this produce pass: enable.idempotence */
    long txn_records;        /* produce: commit a transaction every N records; 0: none */
    bool transactional;      /* this produce pass: transactional.id, txn_records per commit */
    long num_records;
    long record_size;
    long throughput; /* records/s to aim for; 0 = as fast as possible */
    int partitions;
    int replication_factor; /* for --partitions; default 1 */
    /* --property key=value: client settings passed to librdkafka as they
     * are (security.protocol, ssl.ca.location, sasl.*), as
     * kafka-producer-perf-test's --producer-props. */
    const char *properties[MAX_PROPERTIES];
    int n_properties;
};

struct perf_produce {
    int64_t *sent_ns;    /* per record: when produce() was called */
    int64_t *latency_ns; /* per delivered record, in delivery order */
    long delivered;
    long failed;
    int64_t last_ack_ns;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: sluice-perf --bootstrap-server HOST:PORT --topic NAME\n"
            "                   [--mode produce|consume] [--num-records N] [--record-size BYTES]\n"
            "                   [--acks 0|1|-1|all] [--linger-ms MS] [--batch-size BYTES]\n"
            "                   [--compression none|gzip|snappy|lz4|zstd] [--partitions P]\n"
            "                   [--replication-factor R (with --partitions; default 1)]\n"
            "                   [--throughput RECORDS_PER_SEC (produce; default unlimited)]\n"
            "                   [--group ID (consume: then again through a new group)]\n"
            "                   [--idempotence off|on|compare (produce; default off)]\n"
            "                   [--txn-records N (produce: a transaction per N records)]\n"
            "                   [--property KEY=VALUE (librdkafka setting; repeatable)]\n");
}

static int parse_option(struct perf_options *o, const char *name, const char *value)
{
    long v = 0;
    const char **strings[] = {&o->bootstrap,   &o->topic,     &o->mode,
                              &o->acks,        &o->linger_ms, &o->batch_size,
                              &o->compression, &o->group,     &o->idempotence};
    const char *names[] = {"--bootstrap-server", "--topic",      "--mode",        "--acks",
                           "--linger-ms",        "--batch-size", "--compression", "--group",
                           "--idempotence"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *strings[i] = value;
            return 0;
        }
    }
    if (strcmp(name, "--property") == 0 && strchr(value, '=') != NULL &&
        o->n_properties < MAX_PROPERTIES) {
        o->properties[o->n_properties++] = value;
    } else if (strcmp(name, "--num-records") == 0 &&
               tool_parse_long(value, 1, 1000000000, &v) == 0) {
        o->num_records = v;
    } else if (strcmp(name, "--txn-records") == 0 &&
               tool_parse_long(value, 1, 1000000000, &v) == 0) {
        o->txn_records = v;
    } else if (strcmp(name, "--record-size") == 0 &&
               tool_parse_long(value, 0, 100000000, &v) == 0) {
        o->record_size = v;
    } else if (strcmp(name, "--throughput") == 0 &&
               tool_parse_long(value, -1, 1000000000, &v) == 0) {
        o->throughput = v < 0 ? 0 : v;
    } else if (strcmp(name, "--partitions") == 0 && tool_parse_long(value, 1, 100000, &v) == 0) {
        o->partitions = (int)v;
    } else if (strcmp(name, "--replication-factor") == 0 &&
               tool_parse_long(value, 1, 16, &v) == 0) {
        o->replication_factor = (int)v;
    } else {
        fprintf(stderr, "sluice-perf: bad option %s %s\n", name, value);
        return -1;
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct perf_options *o)
{
    *o = (struct perf_options){.mode = "produce",
                               .acks = "1",
                               .linger_ms = "5",
                               .batch_size = "1000000",
                               .compression = "none",
                               .idempotence = "off",
                               .num_records = 1000000,
                               .record_size = 100,
                               .replication_factor = 1};
    if (argc % 2 == 0) {
        return -1;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (parse_option(o, argv[i], argv[i + 1]) != 0) {
            return -1;
        }
    }
    if (o->bootstrap == NULL || o->topic == NULL ||
        (strcmp(o->mode, "produce") != 0 && strcmp(o->mode, "consume") != 0) ||
        (strcmp(o->idempotence, "off") != 0 && strcmp(o->idempotence, "on") != 0 &&
         strcmp(o->idempotence, "compare") != 0)) {
        return -1;
    }
    return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "sluice-perf: %s=%s: %s\n", key, value, err);
        return -1;
    }
    return 0;
}

/* A client for `type`; producers get the acks/linger/batch/codec options. */
static rd_kafka_t *perf_client(const struct perf_options *o, rd_kafka_type_t type,
                               struct perf_produce *pp,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *))
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rv = conf_set(conf, "bootstrap.servers", o->bootstrap);
    for (int i = 0; rv == 0 && i < o->n_properties; i++) {
        char key[256];
        const char *eq = strchr(o->properties[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - o->properties[i]), o->properties[i]);
        rv = conf_set(conf, key, eq + 1);
    }
    if (rv == 0 && type == RD_KAFKA_PRODUCER) {
        rv = conf_set(conf, "acks", o->acks) | conf_set(conf, "linger.ms", o->linger_ms) |
             conf_set(conf, "batch.size", o->batch_size) |
             conf_set(conf, "compression.codec", o->compression) |
             conf_set(conf, "enable.idempotence", o->idempotent ? "true" : "false");
        if (o->transactional) {
            char id[64];
            snprintf(id, sizeof id, "sluice-perf-%ld-%ld", (long)getpid(), (long)time(NULL));
            rv |= conf_set(conf, "transactional.id", id);
        }
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_opaque(conf, pp);
    } else if (rv == 0) {
        if (o->group != NULL && type == RD_KAFKA_CONSUMER) {
            rv = conf_set(conf, "group.id", o->group) |
                 conf_set(conf, "auto.offset.reset", "earliest");
        }
        rv |= conf_set(conf, "enable.partition.eof", "true") |
              conf_set(conf, "fetch.max.bytes", "52428800") |
              conf_set(conf, "queued.max.messages.kbytes", "262144");
    }
    rd_kafka_t *rk = rv == 0 ? rd_kafka_new(type, conf, err, sizeof err) : NULL;
    if (rk == NULL) {
        if (rv == 0) {
            fprintf(stderr, "sluice-perf: rd_kafka_new: %s\n", err);
        }
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static int create_topic(rd_kafka_t *rk, const struct perf_options *o)
{
    char err[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(o->topic, o->partitions, o->replication_factor, err, sizeof err);
    if (nt == NULL) {
        fprintf(stderr, "sluice-perf: %s\n", err);
        return -1;
    }
    int rv = tools_create_topic(rk, nt, o->topic, TIMEOUT_MS, "sluice-perf") < 0 ? -1 : 0;
    rd_kafka_NewTopic_destroy(nt);
    return rv;
}

/* Latency is measured from produce(): learn the partition leaders first so
 * the first records do not include the client's metadata round trips. */
static int wait_for_leaders(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int64_t deadline = tool_now_ns() + (int64_t)TIMEOUT_MS * 1000000;
    int ready = 0;
    while (!ready && tool_now_ns() < deadline) {
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            continue;
        }
        ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt > 0;
        for (int p = 0; ready && p < md->topics[0].partition_cnt; p++) {
            ready = md->topics[0].partitions[p].leader >= 0;
        }
        rd_kafka_metadata_destroy(md);
        if (!ready) {
            rd_kafka_poll(rk, 100);
        }
    }
    rd_kafka_topic_destroy(rkt);
    if (!ready) {
        fprintf(stderr, "sluice-perf: topic %s has no leaders\n", topic);
    }
    return ready ? 0 : -1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct perf_produce *pp = opaque;
    int64_t now = tool_now_ns();
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (pp->failed++ == 0) {
            fprintf(stderr, "sluice-perf: delivery failed: %s\n", rd_kafka_err2str(m->err));
        }
        return;
    }
    long i = (long)(intptr_t)m->_private;
    pp->latency_ns[pp->delivered++] = now - pp->sent_ns[i];
    pp->last_ack_ns = now;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const int64_t *sorted, long n, double q)
{
    long k = (long)(q * (double)n);
    return (double)sorted[k < n ? k : n - 1] / 1e6;
}

static void report(const char *what, long records, double bytes, int64_t elapsed_ns)
{
    double secs = (double)elapsed_ns / 1e9;
    printf("%ld records %s in %.3f s: %.1f records/sec (%.2f MiB/sec)", records, what, secs,
           (double)records / secs, bytes / 1048576.0 / secs);
}

static void report_latency(struct perf_produce *pp)
{
    qsort(pp->latency_ns, (size_t)pp->delivered, sizeof *pp->latency_ns, cmp_int64);
    double sum = 0;
    for (long i = 0; i < pp->delivered; i++) {
        sum += (double)pp->latency_ns[i];
    }
    printf(", latency ms: avg %.2f, p50 %.2f, p99 %.2f, p999 %.2f, max %.2f\n",
           sum / (double)pp->delivered / 1e6, percentile_ms(pp->latency_ns, pp->delivered, 0.50),
           percentile_ms(pp->latency_ns, pp->delivered, 0.99),
           percentile_ms(pp->latency_ns, pp->delivered, 0.999),
           (double)pp->latency_ns[pp->delivered - 1] / 1e6);
}

/* Report a transactional API error; returns -1. */
static int txn_failed(const char *what, rd_kafka_error_t *error)
{
    fprintf(stderr, "sluice-perf: %s: %s\n", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return -1;
}

/* Commit the open transaction (flushing its records) and, unless `last`,
 * begin the next one. */
static int txn_next(rd_kafka_t *rk, bool last)
{
    rd_kafka_error_t *error = rd_kafka_commit_transaction(rk, TIMEOUT_MS);
    if (error != NULL) {
        return txn_failed("commit_transaction", error);
    }
    if (!last && (error = rd_kafka_begin_transaction(rk)) != NULL) {
        return txn_failed("begin_transaction", error);
    }
    return 0;
}

static int produce_loop(rd_kafka_t *rk, const struct perf_options *o, struct perf_produce *pp,
                        const char *payload)
{
    int64_t start = tool_now_ns();
    rd_kafka_error_t *error;
    if (o->transactional && (error = rd_kafka_begin_transaction(rk)) != NULL) {
        return txn_failed("begin_transaction", error);
    }
    for (long i = 0; i < o->num_records; i++) {
        if (o->transactional && i > 0 && i % o->txn_records == 0 && txn_next(rk, false) != 0) {
            return -1;
        }
        /* --throughput paces sends, as kafka-producer-perf-test does, so the
         * latency is the broker's and not the client queue's. */
        while (o->throughput > 0 && tool_now_ns() < start + i * 1000000000 / o->throughput) {
            rd_kafka_poll(rk, 1);
        }
        pp->sent_ns[i] = tool_now_ns();
        for (;;) {
            rd_kafka_resp_err_t err =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic),
                                  RD_KAFKA_V_VALUE((void *)payload, (size_t)o->record_size),
                                  RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                break;
            }
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "sluice-perf: produce: %s\n", rd_kafka_err2str(err));
                return -1;
            }
            rd_kafka_poll(rk, 1);
        }
        rd_kafka_poll(rk, 0);
    }
    if (o->transactional && txn_next(rk, true) != 0) {
        return -1;
    }
    if (rd_kafka_flush(rk, TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-perf: flush timed out, %d records outstanding\n",
                rd_kafka_outq_len(rk));
        return -1;
    }
    return 0;
}

/* One produce pass of N records; *rate gets its records/s. */
static int produce_once(const struct perf_options *o, double *rate)
{
    struct perf_produce pp = {0};
    size_t n = (size_t)o->num_records;
    pp.sent_ns = malloc(n * sizeof *pp.sent_ns);
    pp.latency_ns = malloc(n * sizeof *pp.latency_ns);
    char *payload = malloc((size_t)o->record_size + 1);
    rd_kafka_t *rk = perf_client(o, RD_KAFKA_PRODUCER, &pp, on_delivery);
    int rv = -1;
    if (pp.sent_ns == NULL || pp.latency_ns == NULL || payload == NULL || rk == NULL) {
        goto out;
    }
    for (long i = 0; i < o->record_size; i++) {
        payload[i] = (char)('A' + rand() % 26);
    }
    if ((o->partitions > 0 && create_topic(rk, o) != 0) || wait_for_leaders(rk, o->topic) != 0) {
        goto out;
    }
    rd_kafka_error_t *error = o->transactional ? rd_kafka_init_transactions(rk, TIMEOUT_MS) : NULL;
    if (error != NULL) {
        txn_failed("init_transactions", error);
        goto out;
    }
    int64_t start = tool_now_ns();
    rv = produce_loop(rk, o, &pp, payload);
    if (rv == 0 && pp.delivered > 0) {
        report(o->transactional ? "sent (transactional)"
               : o->idempotent  ? "sent (idempotent)"
                                : "sent",
               pp.delivered, (double)pp.delivered * (double)o->record_size, pp.last_ack_ns - start);
        report_latency(&pp);
        *rate = (double)pp.delivered / ((double)(pp.last_ack_ns - start) / 1e9);
    }
    if (pp.failed > 0) {
        fprintf(stderr, "sluice-perf: %ld records failed\n", pp.failed);
        rv = -1;
    }
out:
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    free(payload);
    free(pp.latency_ns);
    free(pp.sent_ns);
    return rv;
}

/* Starts every partition of the topic on `q` (when q is not NULL); returns
 * the partition count or -1. */
static int start_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt, rd_kafka_queue_t *q)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-perf: no metadata for the topic\n");
        return -1;
    }
    int n = -1;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
        for (int p = 0; q != NULL && p < n; p++) {
            rd_kafka_consume_start_queue(rkt, md->topics[0].partitions[p].id,
                                         RD_KAFKA_OFFSET_BEGINNING, q);
        }
    } else {
        fprintf(stderr, "sluice-perf: topic %s: %s\n", rd_kafka_topic_name(rkt),
                md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "missing");
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

struct perf_consume {
    long records;
    long bytes;
    int partitions;
    int at_end;      /* partitions whose end was reached with nothing after it */
    char *eof;       /* eof[p]: partition p is at its end */
    int64_t last_ns; /* when the last record arrived */
};

/* Accounts one consumed message or event; a partition counts as at its end
 * until another record of it arrives. */
static void consume_account(struct perf_consume *pc, const rd_kafka_message_t *m)
{
    int p = m->partition;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p >= 0 && p < pc->partitions && !pc->eof[p]) {
            pc->eof[p] = 1;
            pc->at_end++;
        }
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (p >= 0 && p < pc->partitions && pc->eof[p]) {
            pc->eof[p] = 0;
            pc->at_end--;
        }
        pc->records++;
        pc->bytes += (long)m->len;
        pc->last_ns = tool_now_ns();
    } else {
        fprintf(stderr, "sluice-perf: consume: %s\n", rd_kafka_message_errstr(m));
    }
}

/* Reads through consumer group o->group (subscribe: join, assignment,
 * auto-commit) until N records or every partition at its end; the time
 * includes joining the group. Returns records/s, or -1. */
static double run_group_consume(const struct perf_options *o)
{
    rd_kafka_t *rk = perf_client(o, RD_KAFKA_CONSUMER, NULL, NULL);
    if (rk == NULL) {
        return -1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    struct perf_consume pc = {.partitions = start_partitions(rk, rkt, NULL)};
    rd_kafka_topic_destroy(rkt);
    pc.eof = calloc(pc.partitions > 0 ? (size_t)pc.partitions : 1, 1);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_poll_set_consumer(rk);
    int64_t start = tool_now_ns(), deadline = start + (int64_t)TIMEOUT_MS * 1000000;
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-perf: subscribe: %s\n", rd_kafka_err2str(err));
    }
    while (err == RD_KAFKA_RESP_ERR_NO_ERROR && pc.eof != NULL && pc.partitions > 0 &&
           pc.records < o->num_records && pc.at_end < pc.partitions && tool_now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (m != NULL) {
            consume_account(&pc, m);
            rd_kafka_message_destroy(m);
        }
    }
    double rate = -1;
    if (pc.records > 0) {
        report("consumed through group", pc.records, (double)pc.bytes, pc.last_ns - start);
        printf("\n");
        rate = (double)pc.records / ((double)(pc.last_ns - start) / 1e9);
    }
    free(pc.eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rate;
}

static int run_produce(const struct perf_options *o)
{
    struct perf_options pass = *o;
    double plain = 0, idempotent = 0, transactional = 0;
    if (strcmp(o->idempotence, "compare") != 0) {
        pass.idempotent = strcmp(o->idempotence, "on") == 0 || o->txn_records > 0;
        pass.transactional = o->txn_records > 0;
        return produce_once(&pass, &plain);
    }
    pass.idempotent = false;
    int rv = produce_once(&pass, &plain);
    pass.idempotent = true;
    if (rv == 0 && (rv = produce_once(&pass, &idempotent)) == 0) {
        printf("idempotent/plain produce rate ratio: %.2f\n", idempotent / plain);
    }
    pass.transactional = true;
    if (rv == 0 && o->txn_records > 0 && (rv = produce_once(&pass, &transactional)) == 0) {
        printf("transactional (commit every %ld records)/plain produce rate ratio: %.2f\n",
               o->txn_records, transactional / plain);
    }
    return rv;
}

static int run_consume(const struct perf_options *o)
{
    struct perf_options plain = *o;
    plain.group = NULL;
    rd_kafka_t *rk = perf_client(&plain, RD_KAFKA_CONSUMER, NULL, NULL);
    if (rk == NULL) {
        return -1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    struct perf_consume pc = {.partitions = start_partitions(rk, rkt, q)};
    pc.eof = calloc(pc.partitions > 0 ? (size_t)pc.partitions : 1, 1);
    int64_t start = tool_now_ns(), deadline = start + (int64_t)TIMEOUT_MS * 1000000;
    while (pc.eof != NULL && pc.partitions > 0 && pc.records < o->num_records &&
           pc.at_end < pc.partitions && tool_now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 1000);
        if (m != NULL) {
            consume_account(&pc, m);
            rd_kafka_message_destroy(m);
        }
    }
    if (pc.records > 0) {
        report("consumed", pc.records, (double)pc.bytes, pc.last_ns - start);
        printf("\n");
    }
    for (int p = 0; p < pc.partitions; p++) {
        rd_kafka_consume_stop(rkt, p);
    }
    free(pc.eof);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (pc.records == 0) {
        return -1;
    }
    if (o->group != NULL) {
        double plain_rate = (double)pc.records / ((double)(pc.last_ns - start) / 1e9);
        double group_rate = run_group_consume(o);
        if (group_rate < 0) {
            return -1;
        }
        printf("group/plain consume rate ratio: %.2f\n", group_rate / plain_rate);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct perf_options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    int rv = strcmp(o.mode, "produce") == 0 ? run_produce(&o) : run_consume(&o);
    return rv == 0 ? 0 : 1;
}
