/* drill_kafka: see drill_kafka.h. */
#include "drill_kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdkafka_topic.h"

#define ADMIN_TIMEOUT_MS     30000
#define HW_POLL_INTERVAL_MS  250
#define HW_QUERY_TIMEOUT_MS  1000
#define CONSUMER_SAMPLE_NS   (100 * 1000000LL)
#define STOP_MARGIN_MS       5000
#define MAX_ATTEMPTS_PER_RUN ((size_t)1 << 26)

struct producer {
    struct drill_kafka *k;
    int32_t id;
    rd_kafka_t *rk;
    pthread_t thread;
    struct drill_attempt *attempts; /* indexed by seq; touched by this thread only */
    size_t n, cap;
    int outstanding;
};

struct consumer {
    struct drill_kafka *k;
    rd_kafka_t *rk;
    pthread_t thread;
};

struct drill_kafka {
    struct drill_options *o;
    rd_kafka_t *admin; /* metadata and admin requests, main thread */
    struct drill_check *check;
    pthread_mutex_t *lock;
    atomic_int producing;
    atomic_int consuming;
    int64_t start_ns;
    struct producer *producers;
    struct consumer *consumers;
    int n_producers, n_consumers;
    struct consumer poller;
    int poller_running;
    rd_kafka_t *final_reader; /* drill_kafka_final_read's consumer */
};

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "sluice-drill: %s=%s: %s\n", key, value, err);
        return -1;
    }
    return 0;
}

/* Client settings for a cluster whose nodes come and go: notice quickly, and
 * keep quiet about refused connections (expected here) unless --verbose. */
static rd_kafka_conf_t *base_conf(const struct drill_options *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", o->bootstrap) != 0 ||
        conf_set(conf, "topic.metadata.refresh.interval.ms", "1000") != 0 ||
        conf_set(conf, "reconnect.backoff.max.ms", "1000") != 0 ||
        conf_set(conf, "socket.timeout.ms", "10000") != 0 ||
        conf_set(conf, "log_level", o->verbose ? "6" : "2") != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    if (conf == NULL) {
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "sluice-drill: rd_kafka_new: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static int new_topic_config(const struct drill_options *o, rd_kafka_NewTopic_t *nt)
{
    if (o->min_insync_replicas <= 0) {
        return 0;
    }
    char v[16];
    snprintf(v, sizeof v, "%d", o->min_insync_replicas);
    return rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", v) ? -1 : 0;
}

/* CreateTopics; an existing topic is fine (the drill tags its values). */
static int create_topic(struct drill_kafka *k)
{
    const struct drill_options *o = k->o;
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions > 0 ? o->partitions : 3,
                                                    o->replication_factor, err, sizeof err);
    if (nt == NULL || new_topic_config(o, nt) != 0) {
        fprintf(stderr, "sluice-drill: topic %s: %s\n", o->topic, nt ? "bad config" : err);
        goto err_after_topic;
    }
    int rv = tools_create_topic(k->admin, nt, o->topic, ADMIN_TIMEOUT_MS, "sluice-drill");
    if (rv == 1) {
        drill_log(o, "topic %s exists: using it as it is", o->topic);
        rv = 0;
    }
    rd_kafka_NewTopic_destroy(nt);
    return rv;

err_after_topic:
    if (nt != NULL) {
        rd_kafka_NewTopic_destroy(nt);
    }
    return -1;
}

static void fill_partition(const rd_kafka_metadata_t *md, const rd_kafka_metadata_partition_t *mp,
                           struct drill_partition *p)
{
    p->leader = mp->leader;
    p->n_replicas = 0;
    for (int r = 0; r < mp->replica_cnt && r < DRILL_MAX_NODES; r++) {
        p->replicas[p->n_replicas++] = mp->replicas[r];
    }
    p->leader_addr[0] = '\0';
    for (int b = 0; b < md->broker_cnt; b++) {
        if (md->brokers[b].id == mp->leader) {
            snprintf(p->leader_addr, sizeof p->leader_addr, "%s:%d", md->brokers[b].host,
                     md->brokers[b].port);
        }
    }
}

int drill_kafka_topology(struct drill_kafka *k, struct drill_topology *t, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->admin, k->o->topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->admin, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return -1;
    }
    int rv = -1;
    t->n = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[0];
        for (int i = 0; i < mt->partition_cnt; i++) {
            int32_t id = mt->partitions[i].id;
            if (id >= 0 && id < DRILL_MAX_PARTITIONS) {
                fill_partition(md, &mt->partitions[i], &t->p[id]);
                t->n = id + 1 > t->n ? id + 1 : t->n;
            }
        }
        rv = t->n > 0 ? 0 : -1;
    }
    rd_kafka_metadata_destroy(md);
    return rv;
}

int drill_kafka_wait_leaders(struct drill_kafka *k, int timeout_ms)
{
    int64_t deadline = tool_now_ns() + (int64_t)timeout_ms * 1000000;
    struct drill_topology *t = malloc(sizeof *t);
    int rv = -1;
    while (t != NULL && rv != 0 && tool_now_ns() < deadline) {
        if (drill_kafka_topology(k, t, 2000) == 0) {
            rv = 0;
            for (int i = 0; i < t->n; i++) {
                rv = t->p[i].leader >= 0 ? rv : -1;
            }
        }
        if (rv != 0) {
            drill_sleep_ms(200);
        }
    }
    free(t);
    return rv;
}

/* --- producers ----------------------------------------------------------- */

static enum drill_outcome outcome_of(const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        return DRILL_OUTCOME_OK;
    }
    /* librdkafka knows whether the record could have reached a broker: a
     * timeout after sending is "possibly persisted", i.e. unknown. */
    return rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED ? DRILL_OUTCOME_FAILED
                                                                           : DRILL_OUTCOME_UNKNOWN;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct producer *p = opaque;
    size_t seq = (size_t)(uintptr_t)m->_private;
    if (seq >= p->n) {
        return;
    }
    struct drill_attempt *a = &p->attempts[seq];
    a->outcome = outcome_of(m);
    a->done_ns = tool_now_ns();
    a->partition = m->partition;
    a->offset = a->outcome == DRILL_OUTCOME_OK ? m->offset : -1;
    a->error = a->outcome == DRILL_OUTCOME_OK ? NULL : rd_kafka_err2name(m->err);
    if (a->outcome == DRILL_OUTCOME_OK && (m->offset < 0 || m->partition < 0)) {
        /* acks=all answers carry the offset; without it there is nothing to check */
        a->outcome = DRILL_OUTCOME_UNKNOWN;
        a->error = "acknowledged without an offset";
    }
    p->outstanding--;
}

static int producer_reserve(struct producer *p)
{
    if (p->n < p->cap) {
        return 0;
    }
    size_t cap = p->cap ? p->cap * 2 : 4096;
    struct drill_attempt *a =
        cap <= MAX_ATTEMPTS_PER_RUN ? realloc(p->attempts, cap * sizeof *a) : NULL;
    if (a == NULL) {
        return -ENOMEM;
    }
    p->attempts = a;
    p->cap = cap;
    return 0;
}

/* Queue record `seq`; a full client queue is waited out, not recorded. */
static int producer_send(struct producer *p, int32_t partitions)
{
    const struct drill_options *o = p->k->o;
    if (producer_reserve(p) != 0) {
        return -1;
    }
    int64_t seq = (int64_t)p->n;
    char value[DRILL_VALUE_MAX];
    int len = drill_value_format(value, o->run, p->id, seq);
    int32_t partition = (int32_t)((seq + p->id) % partitions);
    p->attempts[seq] = (struct drill_attempt){.producer = p->id,
                                              .seq = seq,
                                              .outcome = DRILL_OUTCOME_UNKNOWN,
                                              .partition = partition,
                                              .offset = -1,
                                              .sent_ns = tool_now_ns(),
                                              .error = "no delivery report"};
    p->n++;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE(value, (size_t)len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->outstanding++;
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || !atomic_load(&p->k->producing)) {
            p->attempts[seq].outcome = DRILL_OUTCOME_FAILED;
            p->attempts[seq].error = rd_kafka_err2name(err);
            p->attempts[seq].done_ns = tool_now_ns();
            return 0;
        }
        rd_kafka_poll(p->rk, 10);
    }
}

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    const struct drill_options *o = p->k->o;
    int64_t interval = 1000000000LL / o->rate;
    int64_t next = tool_now_ns();
    while (atomic_load(&p->k->producing)) {
        if (producer_send(p, o->partitions) != 0) {
            fprintf(stderr, "sluice-drill: producer %d: out of memory, stops\n", p->id);
            break;
        }
        next += interval;
        for (int64_t now = tool_now_ns(); now < next; now = tool_now_ns()) {
            rd_kafka_poll(p->rk, (int)((next - now) / 1000000) + 1);
        }
    }
    /* Wait for every outstanding record: acknowledged, failed or timed out. */
    int64_t deadline = tool_now_ns() + (int64_t)(o->message_timeout_ms + STOP_MARGIN_MS) * 1000000;
    while (p->outstanding > 0 && tool_now_ns() < deadline) {
        rd_kafka_poll(p->rk, 100);
    }
    return NULL;
}

static rd_kafka_t *producer_client(struct producer *p)
{
    const struct drill_options *o = p->k->o;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", o->message_timeout_ms);
    rd_kafka_conf_t *conf = base_conf(o);
    if (conf == NULL || conf_set(conf, "acks", "all") != 0 ||
        conf_set(conf, "enable.idempotence", o->idempotent ? "true" : "false") != 0 ||
        /* Idempotence keeps order with up to five requests in flight (the
         * brokers' producer state refuses gaps); without it only one. */
        conf_set(conf, "max.in.flight.requests.per.connection", o->idempotent ? "5" : "1") != 0 ||
        conf_set(conf, "message.timeout.ms", timeout) != 0 ||
        conf_set(conf, "retry.backoff.ms", "100") != 0 || conf_set(conf, "linger.ms", "5") != 0) {
        if (conf != NULL) {
            rd_kafka_conf_destroy(conf);
        }
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    return new_client(RD_KAFKA_PRODUCER, conf);
}

/* --- consumers and the high watermark poller ----------------------------- */

static rd_kafka_t *consumer_client(const struct drill_options *o)
{
    /* librdkafka's assign() wants a group.id; nothing joins or commits. */
    char group[64];
    snprintf(group, sizeof group, "sluice-drill-%s", o->run);
    rd_kafka_conf_t *conf = base_conf(o);
    if (conf == NULL || conf_set(conf, "group.id", group) != 0 ||
        conf_set(conf, "enable.auto.commit", "false") != 0 ||
        conf_set(conf, "enable.partition.eof", "false") != 0 ||
        conf_set(conf, "auto.offset.reset", "earliest") != 0 ||
        conf_set(conf, "fetch.wait.max.ms", "100") != 0) {
        if (conf != NULL) {
            rd_kafka_conf_destroy(conf);
        }
        return NULL;
    }
    return new_client(RD_KAFKA_CONSUMER, conf);
}

/* Assign every partition from the beginning. */
static int assign_all(rd_kafka_t *rk, const struct drill_options *o)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(o->partitions);
    for (int32_t p = 0; p < o->partitions; p++) {
        rd_kafka_topic_partition_list_add(l, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "sluice-drill: assign: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Feed one consumed record; the caller holds the checker lock. */
static void record_read(struct drill_kafka *k, struct drill_check *c, enum drill_read_kind kind,
                        const rd_kafka_message_t *m)
{
    int32_t producer;
    int64_t seq;
    if (drill_value_parse(m->payload, m->len, k->o->run, &producer, &seq) != 0) {
        drill_check_foreign(c);
    } else if (drill_check_read(c, kind, m->partition, m->offset, producer, seq) != 0) {
        fprintf(stderr, "sluice-drill: out of memory recording a read\n");
    }
}

/* The high watermarks the consumer's last Fetch answers carried. */
static void sample_fetch_watermarks(struct drill_kafka *k, rd_kafka_t *rk, int observer)
{
    int64_t now = tool_now_ns();
    for (int32_t p = 0; p < k->o->partitions; p++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(rk, k->o->topic, p, &lo, &hi) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0) {
            drill_check_high_watermark(k->check, p, observer, now, hi, "a consumer's fetch");
        }
    }
}

static void *consumer_main(void *arg)
{
    struct consumer *cs = arg;
    struct drill_kafka *k = cs->k;
    int64_t next_sample = 0;
    while (atomic_load(&k->consuming)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cs->rk, 100);
        pthread_mutex_lock(k->lock);
        if (m != NULL && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            record_read(k, k->check, DRILL_READ_RUN, m);
        } else if (m != NULL && k->o->verbose) {
            drill_log(k->o, "consumer: %s", rd_kafka_message_errstr(m));
        }
        if (tool_now_ns() >= next_sample) {
            sample_fetch_watermarks(k, cs->rk, 1 + (int)(cs - k->consumers));
            next_sample = tool_now_ns() + CONSUMER_SAMPLE_NS;
        }
        pthread_mutex_unlock(k->lock);
        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
    }
    return NULL;
}

/* ListOffsets latest for every partition, every HW_POLL_INTERVAL_MS. */
static void *poller_main(void *arg)
{
    struct consumer *cs = arg;
    struct drill_kafka *k = cs->k;
    while (atomic_load(&k->consuming)) {
        for (int32_t p = 0; p < k->o->partitions && atomic_load(&k->consuming); p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(cs->rk, k->o->topic, p, &lo, &hi,
                                                 HW_QUERY_TIMEOUT_MS) ==
                RD_KAFKA_RESP_ERR_NO_ERROR) {
                pthread_mutex_lock(k->lock);
                drill_check_high_watermark(k->check, p, 0, tool_now_ns(), hi, "ListOffsets");
                pthread_mutex_unlock(k->lock);
            }
        }
        drill_sleep_ms(HW_POLL_INTERVAL_MS);
    }
    return NULL;
}

/* --- lifecycle ----------------------------------------------------------- */

int drill_kafka_open(struct drill_options *o, struct drill_kafka **out)
{
    struct drill_kafka *k = calloc(1, sizeof *k);
    if (k == NULL) {
        return -1;
    }
    k->o = o;
    k->admin = new_client(RD_KAFKA_PRODUCER, base_conf(o));
    if (k->admin == NULL || create_topic(k) != 0) {
        goto err_after_alloc;
    }
    if (drill_kafka_wait_leaders(k, ADMIN_TIMEOUT_MS) != 0) {
        fprintf(stderr, "sluice-drill: topic %s: no leader for every partition within %d ms\n",
                o->topic, ADMIN_TIMEOUT_MS);
        goto err_after_alloc;
    }
    struct drill_topology *t = malloc(sizeof *t);
    if (t == NULL || drill_kafka_topology(k, t, ADMIN_TIMEOUT_MS) != 0) {
        free(t);
        fprintf(stderr, "sluice-drill: topic %s: no Metadata\n", o->topic);
        goto err_after_alloc;
    }
    if (o->partitions > 0 && o->partitions != t->n) {
        drill_log(o, "topic %s has %d partitions (not %d)", o->topic, t->n, o->partitions);
    }
    o->partitions = t->n;
    free(t);
    *out = k;
    return 0;

err_after_alloc:
    if (k->admin != NULL) {
        rd_kafka_destroy(k->admin);
    }
    free(k);
    return -1;
}

static int start_consumer(struct drill_kafka *k, struct consumer *cs, void *(*fn)(void *))
{
    cs->k = k;
    cs->rk = consumer_client(k->o);
    if (cs->rk == NULL || (fn == consumer_main && assign_all(cs->rk, k->o) != 0)) {
        goto err_after_client;
    }
    if (pthread_create(&cs->thread, NULL, fn, cs) != 0) {
        fprintf(stderr, "sluice-drill: cannot start a consumer thread\n");
        goto err_after_client;
    }
    return 0;

err_after_client:
    if (cs->rk != NULL) {
        rd_kafka_destroy(cs->rk);
        cs->rk = NULL;
    }
    return -1;
}

static int start_producer(struct drill_kafka *k, struct producer *p, int32_t id)
{
    p->k = k;
    p->id = id;
    p->rk = producer_client(p);
    if (p->rk == NULL) {
        return -1;
    }
    if (pthread_create(&p->thread, NULL, producer_main, p) != 0) {
        fprintf(stderr, "sluice-drill: cannot start a producer thread\n");
        rd_kafka_destroy(p->rk);
        p->rk = NULL;
        return -1;
    }
    return 0;
}

int drill_kafka_start(struct drill_kafka *k, struct drill_check *c, pthread_mutex_t *lock)
{
    const struct drill_options *o = k->o;
    k->check = c;
    k->lock = lock;
    k->producers = calloc((size_t)o->producers, sizeof *k->producers);
    k->consumers = calloc((size_t)o->consumers + 1, sizeof *k->consumers); /* may be 0 */
    if (k->producers == NULL || k->consumers == NULL) {
        return -1;
    }
    k->start_ns = tool_now_ns();
    drill_check_window(c, k->start_ns, k->start_ns); /* times in violations count from here */
    atomic_store(&k->consuming, 1);
    atomic_store(&k->producing, 1);
    for (; k->n_consumers < o->consumers; k->n_consumers++) {
        if (start_consumer(k, &k->consumers[k->n_consumers], consumer_main) != 0) {
            return -1;
        }
    }
    if (start_consumer(k, &k->poller, poller_main) != 0) {
        return -1;
    }
    k->poller_running = 1;
    for (; k->n_producers < o->producers; k->n_producers++) {
        if (start_producer(k, &k->producers[k->n_producers], k->n_producers) != 0) {
            return -1;
        }
    }
    return 0;
}

static void join_consumer(struct consumer *cs)
{
    pthread_join(cs->thread, NULL);
    rd_kafka_consumer_close(cs->rk); /* stops its fetches; destroyed in drill_kafka_close */
}

/* Producers first (consumers keep reading while the last records settle),
 * then every attempt to the checker, then the readers. No client is
 * destroyed here: see drill_kafka_close. */
void drill_kafka_stop(struct drill_kafka *k)
{
    if (k->check == NULL) {
        return; /* not started, or stopped already */
    }
    atomic_store(&k->producing, 0);
    for (int i = 0; i < k->n_producers; i++) {
        pthread_join(k->producers[i].thread, NULL);
    }
    int64_t end_ns = tool_now_ns();
    pthread_mutex_lock(k->lock);
    drill_check_window(k->check, k->start_ns, end_ns);
    for (int i = 0; i < k->n_producers; i++) {
        struct producer *p = &k->producers[i];
        for (size_t s = 0; s < p->n; s++) {
            if (p->attempts[s].done_ns == 0) {
                p->attempts[s].done_ns = end_ns;
            }
            if (drill_check_attempt(k->check, &p->attempts[s]) != 0) {
                fprintf(stderr, "sluice-drill: cannot record attempt %d:%zu\n", p->id, s);
            }
        }
    }
    pthread_mutex_unlock(k->lock);
    atomic_store(&k->consuming, 0);
    for (int i = 0; i < k->n_consumers; i++) {
        join_consumer(&k->consumers[i]);
    }
    if (k->poller_running) {
        join_consumer(&k->poller);
    }
    for (int i = 0; i < k->n_producers; i++) {
        free(k->producers[i].attempts);
        k->producers[i].attempts = NULL;
    }
    k->check = NULL;
}

void drill_kafka_close(struct drill_kafka *k)
{
    if (k == NULL) {
        return;
    }
    drill_kafka_stop(k);
    for (int i = 0; i < k->n_producers; i++) {
        rd_kafka_destroy(k->producers[i].rk);
    }
    for (int i = 0; i < k->n_consumers; i++) {
        rd_kafka_destroy(k->consumers[i].rk);
    }
    if (k->poller_running) {
        rd_kafka_destroy(k->poller.rk);
    }
    if (k->final_reader != NULL) {
        rd_kafka_destroy(k->final_reader);
    }
    free(k->producers);
    free(k->consumers);
    rd_kafka_destroy(k->admin);
    free(k);
}

/* --- the final read ------------------------------------------------------ */

/* Every partition's high watermark now; -1 when one could not be asked. */
static int query_watermarks(rd_kafka_t *rk, const struct drill_options *o, int64_t *hw)
{
    for (int32_t p = 0; p < o->partitions; p++) {
        int64_t lo;
        if (rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hw[p], 5000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            return -1;
        }
    }
    return 0;
}

static int reached(const int64_t *next, const int64_t *hw, int32_t n)
{
    for (int32_t p = 0; p < n; p++) {
        if (next[p] < hw[p]) {
            return 0;
        }
    }
    return 1;
}

/* Read until every partition is at its high watermark and a fresh query
 * answers the same high watermarks. */
static int read_to_stable_end(struct drill_kafka *k, rd_kafka_t *rk, struct drill_check *c,
                              int64_t *next, int64_t *hw, int64_t deadline)
{
    const struct drill_options *o = k->o;
    int64_t *again = calloc((size_t)o->partitions, sizeof *again);
    int rv = -1;
    while (again != NULL && tool_now_ns() < deadline) {
        if (reached(next, hw, o->partitions)) {
            if (query_watermarks(rk, o, again) == 0 &&
                memcmp(again, hw, (size_t)o->partitions * sizeof *hw) == 0) {
                rv = 0;
                break;
            }
            memcpy(hw, again, (size_t)o->partitions * sizeof *hw);
            continue;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition >= 0 &&
            m->partition < o->partitions) {
            record_read(k, c, DRILL_READ_FINAL, m);
            next[m->partition] =
                m->offset + 1 > next[m->partition] ? m->offset + 1 : next[m->partition];
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            drill_log(o, "final read: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    free(again);
    return rv;
}

int drill_kafka_final_read(struct drill_kafka *k, struct drill_check *c, int timeout_ms)
{
    const struct drill_options *o = k->o;
    int64_t deadline = tool_now_ns() + (int64_t)timeout_ms * 1000000;
    int64_t *hw = calloc((size_t)o->partitions, sizeof *hw);
    int64_t *next = calloc((size_t)o->partitions, sizeof *next);
    rd_kafka_t *rk = consumer_client(o);
    int rv = -1;
    if (hw == NULL || next == NULL || rk == NULL) {
        goto out;
    }
    while (query_watermarks(rk, o, hw) != 0) {
        if (tool_now_ns() > deadline) {
            fprintf(stderr, "sluice-drill: final read: no high watermarks\n");
            goto out;
        }
        drill_sleep_ms(200);
    }
    if (assign_all(rk, o) != 0) {
        goto out;
    }
    rv = read_to_stable_end(k, rk, c, next, hw, deadline);
    for (int32_t p = 0; p < o->partitions; p++) {
        drill_check_final_high_watermark(c, p, hw[p]);
        if (next[p] < hw[p]) {
            fprintf(stderr,
                    "sluice-drill: final read: partition %d read to %" PRId64
                    " of high watermark %" PRId64 "\n",
                    p, next[p], hw[p]);
        }
    }
    if (rv != 0) {
        fprintf(stderr, "sluice-drill: final read did not reach a stable end in %d ms\n",
                timeout_ms);
    }
out:
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        k->final_reader = rk; /* destroyed in drill_kafka_close */
    }
    free(hw);
    free(next);
    return rv;
}
