/* The metadata view applying only what each delta changed (image_changes,
 * issue 14) against the view built from the whole image: random record
 * batches are replayed with metadata/fsm as a broker's session does, and
 * after each refresh the incrementally updated view must equal one opened
 * from scratch on the same image, and its listener must have heard exactly
 * what a view comparing the whole image heard. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "broker/metadata/metadata_quorum.h"
#include "metadata/fsm.h"
#include "metadata/image_changes.h"
#include "metadata/records.h"
#include "tests/unit/check_main.h"

#define BROKERS    4
#define MAX_EVENTS 4096
#define EVENT_LEN  (TOPIC_NAME_MAX + 32)

/* What a listener heard since the last check, one line per callback. */
struct heard {
    char lines[MAX_EVENTS][EVENT_LEN];
    size_t n;
};

static void hear(struct heard *h, const char *what, const struct metadata_topic *t, int32_t n)
{
    ck_assert_uint_lt(h->n, MAX_EVENTS);
    snprintf(h->lines[h->n++], EVENT_LEN, "%s %s %d", what, t->name, n);
}
static void on_created(void *d, const struct metadata_topic *t)
{
    hear(d, "created", t, t->n_partitions);
}
static void on_deleted(void *d, const struct metadata_topic *t)
{
    hear(d, "deleted", t, 0);
}
static void on_added(void *d, const struct metadata_topic *t, int32_t old)
{
    hear(d, "added", t, old);
}
static void on_config(void *d, const struct metadata_topic *t)
{
    hear(d, "config", t, 0);
}
static void on_changed(void *d, const struct metadata_topic *t, int32_t index)
{
    hear(d, "changed", t, index);
}

static int compare_lines(const void *a, const void *b)
{
    return strcmp(a, b);
}

static struct fsm fsm;
static struct image_changes changes;
static struct sluice_config cfg;
static uv_loop_t loop;
static int64_t epochs[BROKERS + 1];
static uint32_t next_id;

static const MetadataImage *source_image(void *data)
{
    (void)data;
    return fsm.image;
}

static struct image_changes *source_changes(void *data)
{
    (void)data;
    return &changes;
}

static const TopicState *source_find_topic_id(void *data, ProtobufCBinaryData id)
{
    (void)data;
    return fsm_find_topic_id(&fsm, id);
}

static struct metadata_view *open_view(bool incremental, struct heard *heard)
{
    struct metadata_quorum_source src = {NULL, source_image, NULL,
                                         incremental ? source_changes : NULL,
                                         incremental ? source_find_topic_id : NULL};
    struct metadata_view *v;
    char err[256];
    ck_assert_int_eq(metadata_quorum_open(&v, &loop, &cfg, &src, err, sizeof err), 0);
    if (heard != NULL) {
        struct metadata_listener l = {heard,    on_created, on_deleted,
                                      on_added, on_config,  on_changed};
        metadata_view_set_listener(v, &l);
    }
    return v;
}

/* The timer's close frees the view: one loop turn (other views' timers
 * stay active) or, for the last view, until the loop is done. */
static void close_view(struct metadata_view *v, bool last)
{
    metadata_view_close(v);
    if (last) {
        ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    } else {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
}

/* As broker_session replays a fetched delta. */
static void replay(MetadataBatch *batch)
{
    void *bytes;
    size_t len;
    const struct fsm_result *res;
    ck_assert_int_eq(fsm_batch_pack(batch, malloc, &bytes, &len), 0);
    ck_assert_int_eq(fsm_apply(&fsm, bytes, len, &res), 0);
    free(bytes);
    image_changes_note_batch(&changes, batch);
    records_free(batch);
}

/* As broker_session adopts a whole image (a full metadata fetch). */
static void adopt_whole_image(void)
{
    MetadataImage *copy = image_clone(fsm.image);
    ck_assert_ptr_nonnull(copy);
    fsm_replace_image(&fsm, copy);
    image_changes_note_everything(&changes);
}

static void register_broker(MetadataBatch *b, int32_t id)
{
    char incarnation[32];
    static Endpoint ep = SLUICE__METADATA__ENDPOINT__INIT;
    Endpoint *eps[] = {&ep};
    ep.name = "PLAINTEXT";
    ep.host = "127.0.0.1";
    ep.port = 9000 + (uint32_t)id;
    ep.security_protocol = "PLAINTEXT";
    snprintf(incarnation, sizeof incarnation, "inc-%d-%u", id, next_id++);
    ck_assert_int_eq(records_add_register(b, id, incarnation, id % 2 ? "rack-a" : "", eps, 1), 0);
}

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    sluice_config_set(&cfg, "node.id", "1", err, sizeof err);
    ck_assert_int_eq(fsm_init(&fsm, 8), 0);
    image_changes_init(&changes);
    next_id = 1;
    MetadataBatch *b = records_batch_new();
    ck_assert_int_eq(records_add_cluster_id(b, "cluster-x"), 0);
    for (int32_t id = 1; id <= BROKERS; id++) {
        register_broker(b, id);
    }
    replay(b);
    b = records_batch_new();
    for (int32_t id = 1; id <= BROKERS; id++) {
        epochs[id] = fsm_offset(&fsm);
        ck_assert_int_eq(records_add_fencing(b, id, epochs[id], false), 0);
    }
    replay(b);
}

static void teardown(void)
{
    fsm_close(&fsm);
    image_changes_free(&changes);
    sluice_config_free(&cfg);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* ---- random records ---- */

static const char *const names[] = {"orders", "clicks", "audit", "logs", "__cluster_metadata"};
#define N_NAMES (sizeof names / sizeof *names)

static int32_t pick(int32_t n)
{
    return (int32_t)(random() % n);
}

/* `n` distinct brokers in random order. */
static void random_replicas(int32_t *out, int32_t n)
{
    int32_t all[BROKERS];
    for (int32_t i = 0; i < BROKERS; i++) {
        all[i] = i + 1;
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t j = i + pick(BROKERS - i), t = all[i];
        all[i] = all[j];
        all[j] = t;
        out[i] = all[i];
    }
}

static const TopicState *random_topic(void)
{
    size_t n = fsm.image->n_topics;
    return n > 0 ? fsm.image->topics[pick((int32_t)n)] : NULL;
}

static void add_create_topic(MetadataBatch *b)
{
    uint8_t id[TOPIC_ID_LEN] = {0};
    uint32_t serial = next_id++;
    memcpy(id, &serial, sizeof serial);
    ck_assert_int_eq(records_add_topic(b, names[pick(N_NAMES)], id), 0);
    int32_t partitions = 1 + pick(4), rf = 1 + pick(3), replicas[BROKERS];
    for (int32_t p = 0; p < partitions; p++) {
        random_replicas(replicas, rf);
        ck_assert_int_eq(records_add_partition(b, id, p, replicas, (size_t)rf), 0);
    }
}

static void add_more_partitions(MetadataBatch *b)
{
    const TopicState *t = random_topic();
    int32_t replicas[BROKERS], n = 1 + pick(2);
    for (int32_t i = 0; t != NULL && i < n; i++) {
        random_replicas(replicas, 2);
        ck_assert_int_eq(
            records_add_partition(b, t->topic_id.data, (int32_t)t->n_partitions + i, replicas, 2),
            0);
    }
}

/* A leader or ISR change, sometimes a reassignment, sometimes stale. */
static void add_partition_change(MetadataBatch *b)
{
    const TopicState *t = random_topic();
    if (t == NULL || t->n_partitions == 0) {
        return;
    }
    const PartitionState *p = t->partitions[pick((int32_t)t->n_partitions)];
    int32_t isr[BROKERS], n_isr = 0;
    for (size_t i = 0; i < p->n_replicas; i++) {
        if (pick(3) != 0) {
            isr[n_isr++] = p->replicas[i];
        }
    }
    int32_t leader = n_isr > 0 && pick(5) != 0 ? isr[pick(n_isr)] : -1;
    int32_t epoch = p->partition_epoch - (pick(8) == 0);
    ck_assert_int_eq(
        records_add_change(b, t->topic_id, p->partition, epoch, leader, isr, (size_t)n_isr), 0);
    if (pick(4) == 0) {
        int32_t target[BROKERS], n = 1 + pick(3);
        random_replicas(target, n);
        ck_assert_int_eq(records_set_change_replicas(b, target, (size_t)n, target, 1, NULL, 0), 0);
    }
}

static void add_broker_change(MetadataBatch *b)
{
    int32_t id = 1 + pick(BROKERS);
    if (pick(4) == 0) {
        register_broker(b, id); /* a restart: a new epoch, fenced */
        epochs[id] = fsm_offset(&fsm) + 1;
        return;
    }
    ck_assert_int_eq(records_add_fencing(b, id, epochs[id], pick(2) == 0), 0);
}

static void add_remove_topic(MetadataBatch *b)
{
    const TopicState *t = random_topic();
    if (t != NULL) {
        ck_assert_int_eq(records_add_remove_topic(b, t->topic_id), 0);
    }
}

static void add_config(MetadataBatch *b)
{
    static const char *const keys[] = {"retention.ms", "cleanup.policy", "min.insync.replicas"};
    static const char *const values[] = {"1000", "compact", "2"};
    int k = pick(3);
    const char *topic = names[pick(N_NAMES)];
    ck_assert_int_eq(records_add_topic_config(b, topic, keys[k], pick(3) ? values[k] : NULL), 0);
    if (pick(4) == 0) {
        ck_assert_int_eq(records_add_config(b, 4, "", "leader.replication.throttled.rate", "100"),
                         0);
    }
}

static MetadataBatch *random_batch(void)
{
    MetadataBatch *b = records_batch_new();
    ck_assert_ptr_nonnull(b);
    for (int32_t i = 0, n = 1 + pick(3); i < n; i++) {
        switch (pick(10)) {
        case 0:
        case 1:
            add_create_topic(b);
            break;
        case 2:
            add_remove_topic(b);
            break;
        case 3:
            add_more_partitions(b);
            break;
        case 4:
        case 5:
        case 6:
            add_partition_change(b);
            break;
        case 7:
        case 8:
            add_broker_change(b);
            break;
        default:
            add_config(b);
        }
    }
    return b;
}

/* ---- comparing views ---- */

static void assert_partitions_equal(const struct metadata_partition *a,
                                    const struct metadata_partition *b)
{
    ck_assert_int_eq(a->index, b->index);
    ck_assert_int_eq(a->leader, b->leader);
    ck_assert_int_eq(a->leader_epoch, b->leader_epoch);
    ck_assert_int_eq(a->partition_epoch, b->partition_epoch);
    ck_assert_int_eq(a->n_replicas, b->n_replicas);
    ck_assert_int_eq(a->n_isr, b->n_isr);
    ck_assert_int_eq(a->n_adding, b->n_adding);
    ck_assert_int_eq(a->n_removing, b->n_removing);
    ck_assert_mem_eq(a->replicas, b->replicas, (size_t)a->n_replicas * sizeof *a->replicas);
    ck_assert_mem_eq(a->isr, b->isr, (size_t)a->n_isr * sizeof *a->isr);
    ck_assert_mem_eq(a->adding, b->adding, (size_t)a->n_adding * sizeof *a->adding);
    ck_assert_mem_eq(a->removing, b->removing, (size_t)a->n_removing * sizeof *a->removing);
}

static void assert_topics_equal(const struct metadata_topic *a, const struct metadata_topic *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_mem_eq(a->id, b->id, sizeof a->id);
    ck_assert_int_eq(a->n_partitions, b->n_partitions);
    for (int32_t i = 0; i < a->n_partitions; i++) {
        assert_partitions_equal(&a->partitions[i], &b->partitions[i]);
    }
    ck_assert_int_eq(a->config.retention_ms, b->config.retention_ms);
    ck_assert_int_eq(a->config.min_insync_replicas, b->config.min_insync_replicas);
    ck_assert_str_eq(a->config.cleanup_policy, b->config.cleanup_policy);
    ck_assert_mem_eq(a->config.source, b->config.source, sizeof a->config.source);
}

static void assert_views_equal(struct metadata_view *a, struct metadata_view *b)
{
    ck_assert_str_eq(metadata_view_cluster_id(a), metadata_view_cluster_id(b));
    ck_assert_int_eq(metadata_view_controller_id(a), metadata_view_controller_id(b));
    size_t n = metadata_view_broker_count(a);
    ck_assert_uint_eq(n, metadata_view_broker_count(b));
    for (size_t i = 0; i < n; i++) {
        const struct metadata_broker *x = metadata_view_broker(a, i);
        const struct metadata_broker *y = metadata_view_broker(b, i);
        ck_assert_int_eq(x->node_id, y->node_id);
        ck_assert_int_eq(x->epoch, y->epoch);
        ck_assert_str_eq(x->rack != NULL ? x->rack : "", y->rack != NULL ? y->rack : "");
        ck_assert_uint_eq(x->n_endpoints, y->n_endpoints);
        ck_assert_int_eq(x->endpoints[0].port, y->endpoints[0].port);
    }
    static const struct metadata_topic *ta[64], *tb[64];
    n = metadata_view_topics(a, ta, 64);
    ck_assert_uint_lt(n, 64);
    ck_assert_uint_eq(n, metadata_view_topics(b, tb, 64));
    for (size_t i = 0; i < n; i++) {
        assert_topics_equal(ta[i], tb[i]);
        ck_assert_ptr_eq(metadata_view_topic(a, ta[i]->name), ta[i]);
    }
}

static void assert_heard_alike(struct heard *a, struct heard *b)
{
    qsort(a->lines, a->n, EVENT_LEN, compare_lines);
    qsort(b->lines, b->n, EVENT_LEN, compare_lines);
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->lines[i], b->lines[i]);
    }
    a->n = b->n = 0;
}

/* The replay's topic index finds exactly what a walk of the image finds. */
static void assert_index_matches(void)
{
    ck_assert(fsm.index_valid);
    for (size_t i = 0; i < fsm.image->n_topics; i++) {
        const TopicState *t = fsm.image->topics[i];
        ck_assert_ptr_eq(fsm_find_topic(&fsm, t->name), t);
        ck_assert_ptr_eq(fsm_find_topic_id(&fsm, t->topic_id), t);
    }
    for (size_t i = 0; i < N_NAMES; i++) {
        ck_assert_ptr_eq(fsm_find_topic(&fsm, names[i]), image_find_topic(fsm.image, names[i]));
    }
    uint8_t unknown[TOPIC_ID_LEN] = {0xff, 0xfe};
    ck_assert_ptr_null(fsm_find_topic_id(&fsm, (ProtobufCBinaryData){TOPIC_ID_LEN, unknown}));
    ck_assert_uint_eq(fsm.topics_by_name.count, fsm.image->n_topics);
    ck_assert_uint_eq(fsm.topics_by_id.count, fsm.image->n_topics);
}

/* Random deltas, refreshed after one to three of them (a broker's fetch
 * brings several), now and then a whole image adopted instead: after each
 * refresh the incremental view equals a view built from scratch, and heard
 * what the whole-image view heard. */
static void run_random(unsigned seed, int steps)
{
    static struct heard inc_heard, whole_heard;
    srandom(seed);
    inc_heard.n = whole_heard.n = 0;
    struct metadata_view *inc = open_view(true, &inc_heard);
    struct metadata_view *whole = open_view(false, &whole_heard);
    for (int step = 0; step < steps; step++) {
        for (int32_t i = 0, n = 1 + pick(3); i < n; i++) {
            replay(random_batch());
        }
        if (pick(20) == 0) {
            adopt_whole_image();
        }
        metadata_quorum_refresh(inc);
        metadata_quorum_refresh(whole);
        ck_assert(!changes.everything && changes.n_topics == 0 && changes.n_partitions == 0);
        struct metadata_view *fresh = open_view(false, NULL);
        assert_views_equal(inc, fresh);
        assert_views_equal(whole, fresh);
        close_view(fresh, false);
        assert_heard_alike(&inc_heard, &whole_heard);
        assert_index_matches();
    }
    close_view(inc, false);
    close_view(whole, true);
}

START_TEST(test_random_deltas_match_a_full_build)
{
    const char *env = getenv("SLUICE_METADATA_RANDOM_STEPS");
    int steps = env != NULL ? atoi(env) : 400;
    run_random(1000u + (unsigned)_i, steps > 0 ? steps : 400);
}
END_TEST

/* One ISR change in a topic of 1,000 partitions is heard as that one
 * partition, and nothing else in the view moves. */
START_TEST(test_one_change_is_heard_once)
{
    static struct heard heard;
    heard.n = 0;
    uint8_t id[TOPIC_ID_LEN] = {7};
    static const int32_t replicas[] = {1, 2, 3}, shrunk[] = {1, 3};
    MetadataBatch *b = records_batch_new();
    ck_assert_int_eq(records_add_topic(b, "big", id), 0);
    for (int32_t p = 0; p < 1000; p++) {
        ck_assert_int_eq(records_add_partition(b, id, p, replicas, 3), 0);
    }
    replay(b);
    struct metadata_view *v = open_view(true, &heard);
    const struct metadata_topic *t = metadata_view_topic(v, "big");
    const struct metadata_partition *before = t->partitions;
    b = records_batch_new();
    ck_assert_int_eq(
        records_add_change(b, (ProtobufCBinaryData){TOPIC_ID_LEN, id}, 617, 0, 1, shrunk, 2), 0);
    replay(b);
    ck_assert_uint_eq(changes.n_partitions, 1);
    metadata_quorum_refresh(v);
    ck_assert_uint_eq(heard.n, 1);
    ck_assert_str_eq(heard.lines[0], "changed big 617");
    ck_assert_ptr_eq(metadata_view_topic(v, "big"), t); /* updated in place */
    ck_assert_ptr_eq(t->partitions, before);
    ck_assert_int_eq(t->partitions[617].n_isr, 2);
    ck_assert_int_eq(t->partitions[617].partition_epoch, 1);
    ck_assert_int_eq(t->partitions[616].n_isr, 3);
    close_view(v, true);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("metadata_view_changes");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_random_deltas_match_a_full_build, 0, 4);
    tcase_add_test(tc, test_one_change_is_heard_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
