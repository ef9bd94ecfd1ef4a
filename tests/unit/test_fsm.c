/* The metadata state machine: record semantics, rejections as results,
 * snapshots and deltas. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_errors.h"
#include "metadata/fsm.h"
#include "metadata/records.h"
#include "tests/unit/check_main.h"

/* Builders for a batch of up to 16 records, all on the stack. */
struct batch {
    MetadataBatch b;
    MetadataRecord recs[16];
    MetadataRecord *ptrs[16];
    Sluice__Metadata__RegisterBrokerRecord reg[4];
    Sluice__Metadata__FenceBrokerRecord fence[4];
    Sluice__Metadata__UnfenceBrokerRecord unfence[4];
    Sluice__Metadata__TopicRecord topic[4];
    Sluice__Metadata__PartitionRecord part[8];
    Sluice__Metadata__PartitionChangeRecord change[8];
    Sluice__Metadata__RemoveTopicRecord remove[2];
    Sluice__Metadata__ConfigRecord config[2];
    Sluice__Metadata__ClusterIdRecord cluster[1];
    int n_reg, n_fence, n_unfence, n_topic, n_part, n_change, n_remove, n_config;
};

static uint8_t ids[4][16] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}};

static ProtobufCBinaryData topic_id(int i)
{
    return (ProtobufCBinaryData){16, ids[i]};
}

static void batch_init(struct batch *b)
{
    memset(b, 0, sizeof *b);
    sluice__metadata__metadata_batch__init(&b->b);
    b->b.records = b->ptrs;
}

static MetadataRecord *next_rec(struct batch *b)
{
    MetadataRecord *r = &b->recs[b->b.n_records];
    sluice__metadata__metadata_record__init(r);
    b->ptrs[b->b.n_records++] = r;
    return r;
}

static void add_register(struct batch *b, int32_t id, const char *incarnation)
{
    Sluice__Metadata__RegisterBrokerRecord *x = &b->reg[b->n_reg++];
    sluice__metadata__register_broker_record__init(x);
    x->broker_id = id;
    x->incarnation_id = (char *)incarnation;
    x->rack = "r1";
    MetadataRecord *r = next_rec(b);
    r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_REGISTER_BROKER;
    r->register_broker = x;
}

static void add_fence(struct batch *b, int32_t id, int64_t epoch, bool fence)
{
    MetadataRecord *r = next_rec(b);
    if (fence) {
        Sluice__Metadata__FenceBrokerRecord *x = &b->fence[b->n_fence++];
        sluice__metadata__fence_broker_record__init(x);
        x->broker_id = id;
        x->broker_epoch = epoch;
        r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_FENCE_BROKER;
        r->fence_broker = x;
    } else {
        Sluice__Metadata__UnfenceBrokerRecord *x = &b->unfence[b->n_unfence++];
        sluice__metadata__unfence_broker_record__init(x);
        x->broker_id = id;
        x->broker_epoch = epoch;
        r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_UNFENCE_BROKER;
        r->unfence_broker = x;
    }
}

static void add_topic(struct batch *b, const char *name, int id)
{
    Sluice__Metadata__TopicRecord *x = &b->topic[b->n_topic++];
    sluice__metadata__topic_record__init(x);
    x->name = (char *)name;
    x->topic_id = topic_id(id);
    MetadataRecord *r = next_rec(b);
    r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_TOPIC;
    r->topic = x;
}

static void add_partition(struct batch *b, int id, int32_t p, int32_t *replicas, size_t n)
{
    Sluice__Metadata__PartitionRecord *x = &b->part[b->n_part++];
    sluice__metadata__partition_record__init(x);
    x->topic_id = topic_id(id);
    x->partition = p;
    x->replicas = replicas;
    x->n_replicas = n;
    x->isr = replicas;
    x->n_isr = n;
    x->leader = replicas[0];
    x->version = 2;
    MetadataRecord *r = next_rec(b);
    r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION;
    r->partition = x;
}

static void add_change(struct batch *b, int id, int32_t p, int32_t epoch, int32_t leader,
                       int32_t *isr, size_t n)
{
    Sluice__Metadata__PartitionChangeRecord *x = &b->change[b->n_change++];
    sluice__metadata__partition_change_record__init(x);
    x->topic_id = topic_id(id);
    x->partition = p;
    x->partition_epoch = epoch;
    x->leader = leader;
    x->isr = isr;
    x->n_isr = n;
    x->version = 2;
    MetadataRecord *r = next_rec(b);
    r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE;
    r->partition_change = x;
}

static void add_remove(struct batch *b, int id)
{
    Sluice__Metadata__RemoveTopicRecord *x = &b->remove[b->n_remove++];
    sluice__metadata__remove_topic_record__init(x);
    x->topic_id = topic_id(id);
    MetadataRecord *r = next_rec(b);
    r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_REMOVE_TOPIC;
    r->remove_topic = x;
}

static void add_config(struct batch *b, const char *topic, const char *key, const char *value)
{
    Sluice__Metadata__ConfigRecord *x = &b->config[b->n_config++];
    sluice__metadata__config_record__init(x);
    x->resource_type = 2;
    x->resource_name = (char *)topic;
    x->name = (char *)key;
    x->value = (char *)(value != NULL ? value : "");
    x->value_is_null = value == NULL;
    MetadataRecord *r = next_rec(b);
    r->record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_CONFIG;
    r->config = x;
}

/* Pack and apply; copy the per-record codes into `codes`. */
static int64_t apply(struct fsm *fsm, struct batch *b, int32_t *codes)
{
    void *bytes;
    size_t len;
    ck_assert_int_eq(fsm_batch_pack(&b->b, malloc, &bytes, &len), 0);
    /* raft 0.15 reloads closed segments correctly only for 8-byte multiples. */
    ck_assert_uint_eq(len % 8, 0);
    const struct fsm_result *res = NULL;
    ck_assert_int_eq(fsm_apply(fsm, bytes, len, &res), 0);
    free(bytes);
    ck_assert_uint_eq(res->n, b->b.n_records);
    if (codes != NULL) {
        memcpy(codes, res->errors, res->n * sizeof *codes);
    }
    return res->offset;
}

/* Brokers 1..n registered and unfenced, as placement requires of the
 * replicas of new partitions. */
static void live_brokers(struct fsm *fsm, int n)
{
    static const char *inc[] = {"live-1", "live-2", "live-3", "live-4"};
    struct batch b;
    int32_t codes[16];
    batch_init(&b);
    for (int id = 1; id <= n; id++) {
        add_register(&b, id, inc[id - 1]);
        add_fence(&b, id, fsm_offset(fsm) + 1, false);
    }
    apply(fsm, &b, codes);
    for (int i = 0; i < 2 * n; i++) {
        ck_assert_int_eq(codes[i], KAFKA_ERROR_NONE);
    }
}

START_TEST(test_broker_registration_and_fencing)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 16), 0);
    struct batch b;
    int32_t codes[16];
    batch_init(&b);
    add_register(&b, 1, "inc-a");
    int64_t off = apply(&fsm, &b, codes);
    ck_assert_int_eq(off, 1);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    BrokerState *br = image_find_broker(fsm.image, 1);
    ck_assert_ptr_nonnull(br);
    ck_assert_int_eq(br->broker_epoch, 1);
    ck_assert(br->fenced);
    ck_assert_str_eq(br->rack, "r1");

    /* A retried registration (same incarnation) keeps the epoch. */
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(image_find_broker(fsm.image, 1)->broker_epoch, 1);

    batch_init(&b);
    add_fence(&b, 1, 1, false); /* unfence, right epoch */
    add_fence(&b, 1, 7, true);  /* stale epoch */
    add_fence(&b, 9, 1, true);  /* unknown broker */
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_STALE_BROKER_EPOCH);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_BROKER_ID_NOT_REGISTERED);
    ck_assert(!image_find_broker(fsm.image, 1)->fenced);

    /* A new incarnation gets a new epoch and starts fenced again. */
    batch_init(&b);
    add_register(&b, 1, "inc-b");
    off = apply(&fsm, &b, codes);
    br = image_find_broker(fsm.image, 1);
    ck_assert_int_eq(br->broker_epoch, off);
    ck_assert_int_eq(off, 4);
    ck_assert(br->fenced);
    ck_assert_str_eq(br->incarnation_id, "inc-b");
    fsm_close(&fsm);
}
END_TEST

START_TEST(test_topic_creation_rejections_are_results)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 16), 0);
    int32_t r0[] = {1, 2}, r1[] = {2, 1}, bad[] = {1, 1};
    struct batch b;
    int32_t codes[16];
    live_brokers(&fsm, 2);
    batch_init(&b);
    add_topic(&b, "orders", 0);
    add_partition(&b, 0, 0, r0, 2);
    add_partition(&b, 0, 1, r1, 2);
    add_partition(&b, 0, 3, r1, 2);  /* gap */
    add_partition(&b, 0, 2, bad, 2); /* duplicate replica */
    add_topic(&b, "bad/name", 1);
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[3], KAFKA_ERROR_INVALID_PARTITIONS);
    ck_assert_int_eq(codes[4], KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_int_eq(codes[5], KAFKA_ERROR_INVALID_TOPIC_EXCEPTION);
    TopicState *t = image_find_topic(fsm.image, "orders");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->n_partitions, 2);
    ck_assert_int_eq(t->partitions[1]->leader, 2);
    ck_assert_uint_eq(fsm.image->n_topics, 1);

    /* Same name, another id (a second creation): rejected, and its
     * partitions name an unknown topic id. Same id: a retry, accepted. */
    batch_init(&b);
    add_topic(&b, "orders", 2);
    add_partition(&b, 2, 0, r0, 2);
    add_topic(&b, "orders", 0);
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_TOPIC_ALREADY_EXISTS);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_UNKNOWN_TOPIC_ID);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_NONE);
    ck_assert_uint_eq(fsm.image->n_topics, 1);
    ck_assert_uint_eq(image_find_topic(fsm.image, "orders")->n_partitions, 2);

    batch_init(&b);
    add_config(&b, "orders", "retention.ms", "1000");
    add_config(&b, "orders", "cleanup.policy", "compact");
    add_config(&b, "nope", "retention.ms", "1");
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION);
    t = image_find_topic(fsm.image, "orders");
    ck_assert_str_eq(image_topic_config(t, "retention.ms"), "1000");
    batch_init(&b);
    add_config(&b, "orders", "retention.ms", NULL);
    apply(&fsm, &b, codes);
    ck_assert_ptr_null(image_topic_config(t, "retention.ms"));
    ck_assert_str_eq(image_topic_config(t, "cleanup.policy"), "compact");

    batch_init(&b);
    add_remove(&b, 0);
    add_remove(&b, 0);
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_UNKNOWN_TOPIC_ID);
    ck_assert_ptr_null(image_find_topic(fsm.image, "orders"));
    fsm_close(&fsm);
}
END_TEST

START_TEST(test_partition_change_compare_and_set)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 16), 0);
    int32_t reps[] = {1, 2, 3}, isr23[] = {2, 3}, isr3[] = {3};
    struct batch b;
    int32_t codes[16];
    live_brokers(&fsm, 3);
    batch_init(&b);
    add_topic(&b, "t", 0);
    add_partition(&b, 0, 0, reps, 3);
    apply(&fsm, &b, codes);
    PartitionState *p = image_find_partition(image_find_topic(fsm.image, "t"), 0);
    ck_assert_int_eq(p->leader_epoch, 0);
    ck_assert_int_eq(p->partition_epoch, 0);

    batch_init(&b);
    add_change(&b, 0, 0, 0, 2, isr23, 2); /* new leader 2: both epochs bump */
    add_change(&b, 0, 0, 0, 3, isr3, 1);  /* computed from the old state: loses */
    add_change(&b, 0, 0, 1, 1, isr3, 1);  /* leader outside the ISR */
    add_change(&b, 0, 5, 0, 1, isr3, 1);  /* no such partition */
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_INVALID_UPDATE_VERSION);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_int_eq(codes[3], KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION);
    p = image_find_partition(image_find_topic(fsm.image, "t"), 0);
    ck_assert_int_eq(p->leader, 2);
    ck_assert_int_eq(p->leader_epoch, 1);
    ck_assert_int_eq(p->partition_epoch, 1);
    ck_assert_uint_eq(p->n_isr, 2);

    /* ISR-only change: the leader epoch stays. */
    batch_init(&b);
    int32_t isr2[] = {2};
    add_change(&b, 0, 0, 1, 2, isr2, 1);
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(p->leader_epoch, 1);
    ck_assert_int_eq(p->partition_epoch, 2);

    /* Epochs at INT32_MAX cannot advance: refused, not overflowed (found
     * by fuzz_controller_fsm under UBSan). */
    batch_init(&b);
    add_topic(&b, "max", 1);
    add_partition(&b, 1, 0, reps, 3);
    b.part[0].partition_epoch = INT32_MAX;
    add_change(&b, 1, 0, INT32_MAX, 1, reps, 3);
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_INVALID_REQUEST);
    p = image_find_partition(image_find_topic(fsm.image, "max"), 0);
    ck_assert_int_eq(p->partition_epoch, INT32_MAX);
    fsm_close(&fsm);
}
END_TEST

/* Reassignment (KIP-455): a change with set_replicas replaces the replica
 * set and records the adding and removing replicas; the ISR is checked
 * against the new replicas; adding/removing must lie within them, be
 * disjoint, and name registered brokers; a later plain change keeps them. */
START_TEST(test_partition_change_reassignment)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 16), 0);
    int32_t reps12[] = {1, 2}, moving[] = {2, 3, 1}, adding[] = {3}, removing[] = {1};
    int32_t isr12[] = {1, 2}, isr23[] = {2, 3}, reps23[] = {2, 3}, bad[] = {2, 4, 1};
    int32_t adding4[] = {4};
    struct batch b;
    int32_t codes[16];
    live_brokers(&fsm, 3);
    batch_init(&b);
    add_topic(&b, "t", 0);
    add_partition(&b, 0, 0, reps12, 2);
    apply(&fsm, &b, codes);

    batch_init(&b);
    add_change(&b, 0, 0, 0, 1, isr12, 2); /* start: {1,2} -> {2,3} */
    b.change[0].set_replicas = true;
    b.change[0].replicas = moving;
    b.change[0].n_replicas = 3;
    b.change[0].adding_replicas = adding;
    b.change[0].n_adding_replicas = 1;
    b.change[0].removing_replicas = removing;
    b.change[0].n_removing_replicas = 1;
    add_change(&b, 0, 0, 1, 1, isr12, 2); /* an unregistered broker: refused */
    b.change[1].set_replicas = true;
    b.change[1].replicas = bad;
    b.change[1].n_replicas = 3;
    b.change[1].adding_replicas = adding4;
    b.change[1].n_adding_replicas = 1;
    add_change(&b, 0, 0, 1, 1, isr12, 2); /* adding outside the replicas: refused */
    b.change[2].set_replicas = true;
    b.change[2].replicas = reps12;
    b.change[2].n_replicas = 2;
    b.change[2].adding_replicas = adding;
    b.change[2].n_adding_replicas = 1;
    add_change(&b, 0, 0, 1, 1, isr12, 2); /* ISR outside the new replicas: refused */
    b.change[3].set_replicas = true;
    b.change[3].replicas = reps23;
    b.change[3].n_replicas = 2;
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_int_eq(codes[3], KAFKA_ERROR_INVALID_REQUEST);
    PartitionState *p = image_find_partition(image_find_topic(fsm.image, "t"), 0);
    ck_assert_uint_eq(p->n_replicas, 3);
    ck_assert_int_eq(p->replicas[0], 2);
    ck_assert_uint_eq(p->n_adding_replicas, 1);
    ck_assert_int_eq(p->adding_replicas[0], 3);
    ck_assert_uint_eq(p->n_removing_replicas, 1);
    ck_assert_int_eq(p->partition_epoch, 1);

    /* The new replica joins the ISR (a plain change): the move stays recorded. */
    int32_t isr123[] = {1, 2, 3};
    batch_init(&b);
    add_change(&b, 0, 0, 1, 1, isr123, 3);
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_uint_eq(p->n_adding_replicas, 1);

    /* Completion: replicas {2,3}, leadership off the removed broker 1. */
    batch_init(&b);
    add_change(&b, 0, 0, 2, 2, isr23, 2);
    b.change[0].set_replicas = true;
    b.change[0].replicas = reps23;
    b.change[0].n_replicas = 2;
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_uint_eq(p->n_replicas, 2);
    ck_assert_uint_eq(p->n_adding_replicas, 0);
    ck_assert_uint_eq(p->n_removing_replicas, 0);
    ck_assert_int_eq(p->leader, 2);
    ck_assert_int_eq(p->leader_epoch, 1);
    fsm_close(&fsm);
}
END_TEST

/* New partitions: only unfenced brokers start in the ISR (an empty log is
 * in sync, but a fenced broker may be a stale incarnation); with none the
 * partition starts offline with every replica as its last ISR. KIP-903:
 * a change adding a member is refused if it is fenced or registered with
 * another epoch than the one named, checked when the record applies. */
START_TEST(test_isr_membership_rules)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 16), 0);
    live_brokers(&fsm, 2); /* offset 1: brokers 1 and 2, epoch 1 */
    int32_t reps[] = {3, 1, 2}, dead[] = {3}, isr1[] = {1}, isr12[] = {1, 2}, isr123[] = {1, 2, 3};
    struct batch b;
    int32_t codes[16];
    batch_init(&b);
    add_register(&b, 3, "fenced-3"); /* registered: fenced until it heartbeats */
    add_topic(&b, "t", 0);
    add_partition(&b, 0, 0, reps, 3);
    add_partition(&b, 0, 1, dead, 1);
    apply(&fsm, &b, codes);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(codes[i], KAFKA_ERROR_NONE);
    }
    const TopicState *t = image_find_topic(fsm.image, "t");
    PartitionState *p0 = t->partitions[0], *p1 = t->partitions[1];
    ck_assert_int_eq(p0->leader, 1); /* the fenced preferred replica does not lead */
    ck_assert_uint_eq(p0->n_isr, 2);
    ck_assert(!image_ints_contain(p0->isr, p0->n_isr, 3));
    ck_assert_int_eq(p1->leader, -1);
    ck_assert_uint_eq(p1->n_isr, 1);

    /* Shrink to {1}, then add 2 back naming a stale epoch, then the right
     * one; adding fenced broker 3 is refused even without epochs. */
    int64_t stale[] = {1, 7}, good[] = {1, 1}, unknown[] = {1, -1, 2};
    batch_init(&b);
    add_change(&b, 0, 0, 0, 1, isr1, 1);
    add_change(&b, 0, 0, 1, 1, isr12, 2);
    b.change[1].isr_broker_epochs = stale;
    b.change[1].n_isr_broker_epochs = 2;
    add_change(&b, 0, 0, 1, 1, isr12, 2);
    b.change[2].isr_broker_epochs = good;
    b.change[2].n_isr_broker_epochs = 2;
    add_change(&b, 0, 0, 2, 1, isr123, 3);
    add_change(&b, 0, 0, 2, 1, isr123, 3);
    b.change[4].isr_broker_epochs = unknown;
    b.change[4].n_isr_broker_epochs = 2; /* not parallel to the ISR */
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_INELIGIBLE_REPLICA);
    ck_assert_int_eq(codes[2], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[3], KAFKA_ERROR_INELIGIBLE_REPLICA);
    ck_assert_int_eq(codes[4], KAFKA_ERROR_INELIGIBLE_REPLICA);
    ck_assert_uint_eq(p0->n_isr, 2);
    ck_assert_int_eq(p0->partition_epoch, 2);
    ck_assert_int_eq(p0->leader_epoch, 0);

    /* Broker 2 restarts (new incarnation, new epoch): the epoch the leader
     * saw before is now stale, the new one is accepted. */
    batch_init(&b);
    add_change(&b, 0, 0, 2, 1, isr1, 1);
    add_register(&b, 2, "second-life");
    apply(&fsm, &b, codes);
    int64_t epoch2 = image_find_broker(fsm.image, 2)->broker_epoch;
    ck_assert_int_gt(epoch2, 1);
    batch_init(&b);
    add_fence(&b, 2, epoch2, false);
    add_change(&b, 0, 0, 3, 1, isr12, 2);
    b.change[0].isr_broker_epochs = good;
    b.change[0].n_isr_broker_epochs = 2;
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_INELIGIBLE_REPLICA);
    int64_t fresh[] = {1, epoch2};
    batch_init(&b);
    add_change(&b, 0, 0, 3, 1, isr12, 2);
    b.change[0].isr_broker_epochs = fresh;
    b.change[0].n_isr_broker_epochs = 2;
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_uint_eq(p0->n_isr, 2);

    /* Version 1 records (written before these rules) replay as they did:
     * fenced broker 3 starts in the ISR and leads. */
    batch_init(&b);
    add_topic(&b, "legacy", 1);
    add_partition(&b, 1, 0, reps, 3);
    b.part[0].version = 1;
    apply(&fsm, &b, codes);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_NONE);
    const PartitionState *old = image_find_topic(fsm.image, "legacy")->partitions[0];
    ck_assert_int_eq(old->leader, 3);
    ck_assert_uint_eq(old->n_isr, 3);
    fsm_close(&fsm);
}
END_TEST

static int collect(const struct fsm_delta *d, void *arg)
{
    struct fsm *replica = arg;
    const struct fsm_result *res;
    ck_assert_int_eq(d->offset, fsm_offset(replica) + 1);
    ck_assert_int_eq(fsm_apply(replica, d->bytes, d->len, &res), 0);
    for (size_t i = 0; i < res->n; i++) {
        ck_assert_int_eq(res->errors[i], KAFKA_ERROR_NONE); /* deltas hold accepted records only */
    }
    return 0;
}

static void assert_same_image(const struct fsm *a, const struct fsm *b)
{
    void *x, *y;
    size_t xl, yl;
    ck_assert_int_eq(fsm_snapshot(a, malloc, &x, &xl), 0);
    ck_assert_int_eq(fsm_snapshot(b, malloc, &y, &yl), 0);
    ck_assert_uint_eq(xl, yl);
    ck_assert_mem_eq(x, y, xl);
    free(x);
    free(y);
}

/* The batches of test_fencing_batch_applies_in_order, in order. */
static void fencing_batches(struct fsm *fsm, int32_t codes[4][16])
{
    int32_t r12[] = {1, 2}, r21[] = {2, 1}, isr1[] = {1}, isr12[] = {1, 2};
    struct batch b;
    batch_init(&b);
    add_register(&b, 1, "inc-1");
    add_register(&b, 2, "inc-2");
    add_fence(&b, 1, 1, false);
    add_fence(&b, 2, 1, false);
    add_topic(&b, "t", 0); /* after the unfences: fenced brokers start out of the ISR */
    add_partition(&b, 0, 0, r12, 2);
    add_partition(&b, 0, 1, r21, 2);
    apply(fsm, &b, codes[0]);
    /* KIP-631: the fence, then the changes it calls for, in one entry. */
    batch_init(&b);
    add_fence(&b, 2, 1, true);
    add_change(&b, 0, 1, 0, 1, isr1, 1);
    add_change(&b, 0, 0, 0, 1, isr1, 1);
    apply(fsm, &b, codes[1]);
    /* An unfence that loses (stale epoch): the election it carries must not
     * make a fenced leader, and the record after it still applies. */
    batch_init(&b);
    add_fence(&b, 2, 9, false);
    add_change(&b, 0, 1, 1, 2, isr12, 2);
    add_change(&b, 0, 0, 1, 1, isr1, 1);
    apply(fsm, &b, codes[2]);
}

START_TEST(test_fencing_batch_applies_in_order)
{
    struct fsm fsm, again;
    int32_t codes[4][16];
    ck_assert_int_eq(fsm_init(&fsm, 16), 0);
    fencing_batches(&fsm, codes);
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(codes[0][i], KAFKA_ERROR_NONE);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(codes[1][i], KAFKA_ERROR_NONE);
    }
    ck_assert_int_eq(codes[2][0], KAFKA_ERROR_STALE_BROKER_EPOCH);
    ck_assert_int_eq(codes[2][1], KAFKA_ERROR_INELIGIBLE_REPLICA);
    ck_assert_int_eq(codes[2][2], KAFKA_ERROR_NONE);
    const TopicState *t = image_find_topic(fsm.image, "t");
    ck_assert(image_find_broker(fsm.image, 2)->fenced);
    ck_assert_int_eq(t->partitions[1]->leader, 1);
    ck_assert_int_eq(t->partitions[1]->leader_epoch, 1);
    ck_assert_int_eq(t->partitions[1]->partition_epoch, 1);
    ck_assert_int_eq(t->partitions[0]->leader, 1);
    ck_assert_int_eq(t->partitions[0]->leader_epoch, 0);
    ck_assert_int_eq(t->partitions[0]->partition_epoch, 2);
    ck_assert_uint_eq(t->partitions[0]->n_isr, 1);
    /* Deterministic: the same entries give the same image. */
    ck_assert_int_eq(fsm_init(&again, 16), 0);
    fencing_batches(&again, codes);
    void *a, *b;
    size_t na, nb;
    ck_assert_int_eq(fsm_snapshot(&fsm, malloc, &a, &na), 0);
    ck_assert_int_eq(fsm_snapshot(&again, malloc, &b, &nb), 0);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na), 0);
    free(a);
    free(b);
    fsm_close(&again);
    fsm_close(&fsm);
}
END_TEST

/* One ProducerIdsRecord, as the controller proposes it; its result code. */
static int32_t apply_producer_ids(struct fsm *fsm, int64_t start, int64_t next)
{
    MetadataBatch *b = records_batch_new();
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(records_add_producer_ids(b, 1, -1, start, next), 0);
    void *bytes;
    size_t len;
    ck_assert_int_eq(fsm_batch_pack(b, malloc, &bytes, &len), 0);
    records_free(b);
    const struct fsm_result *res = NULL;
    ck_assert_int_eq(fsm_apply(fsm, bytes, len, &res), 0);
    free(bytes);
    return res->errors[0];
}

START_TEST(test_producer_id_blocks_never_overlap)
{
    struct fsm fsm, replica;
    ck_assert_int_eq(fsm_init(&fsm, 3), 0);
    ck_assert_int_eq(fsm_init(&replica, 3), 0);
    ck_assert_int_eq(apply_producer_ids(&fsm, 0, 1000), KAFKA_ERROR_NONE);
    /* A second proposal computed from the same image loses the compare-and-set. */
    ck_assert_int_eq(apply_producer_ids(&fsm, 0, 1000), KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS);
    ck_assert_int_eq(apply_producer_ids(&fsm, 1000, 1000), KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_int_eq(fsm.image->next_producer_id, 1000);
    ck_assert_int_eq(apply_producer_ids(&fsm, 1000, 2000), KAFKA_ERROR_NONE);
    /* A new controller restoring the snapshot continues after the last block. */
    void *snap;
    size_t snap_len;
    ck_assert_int_eq(fsm_snapshot(&fsm, malloc, &snap, &snap_len), 0);
    ck_assert_int_eq(fsm_restore(&replica, snap, snap_len), 0);
    free(snap);
    ck_assert_int_eq(replica.image->next_producer_id, 2000);
    ck_assert_int_eq(apply_producer_ids(&replica, 1000, 2000),
                     KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS);
    fsm_close(&fsm);
    fsm_close(&replica);
}
END_TEST

START_TEST(test_snapshot_restore_and_deltas)
{
    struct fsm fsm, replica;
    ck_assert_int_eq(fsm_init(&fsm, 3), 0);
    ck_assert_int_eq(fsm_init(&replica, 3), 0);
    int32_t reps[] = {1, 2};
    struct batch b;
    batch_init(&b);
    add_register(&b, 1, "a");
    add_register(&b, 2, "b");
    apply(&fsm, &b, NULL);
    batch_init(&b);
    add_topic(&b, "t", 0);
    add_partition(&b, 0, 0, reps, 2);
    add_config(&b, "t", "retention.ms", "5");
    apply(&fsm, &b, NULL);
    /* A broker that took a snapshot at offset 2. */
    void *snap;
    size_t snap_len;
    ck_assert_int_eq(fsm_snapshot(&fsm, malloc, &snap, &snap_len), 0);
    ck_assert_int_eq(fsm_restore(&replica, snap, snap_len), 0);
    free(snap);
    assert_same_image(&fsm, &replica);
    ck_assert_int_eq(fsm_offset(&replica), 2);

    for (int i = 0; i < 3; i++) {
        batch_init(&b);
        add_fence(&b, 1, 1, i % 2 == 0);
        add_topic(&b, "t", 1); /* rejected each time: not kept in deltas */
        apply(&fsm, &b, NULL);
    }
    ck_assert_int_eq(fsm_offset(&fsm), 5);
    ck_assert_int_eq(fsm_deltas_after(&fsm, 1, 100, collect, &replica), -ERANGE);
    ck_assert_int_eq(fsm_deltas_after(&fsm, 6, 100, collect, &replica), -ERANGE);
    ck_assert_int_eq(fsm_deltas_after(&fsm, 2, 100, collect, &replica), 3);
    assert_same_image(&fsm, &replica);
    ck_assert_int_eq(fsm_deltas_after(&fsm, 5, 100, collect, &replica), 0);

    /* A corrupt entry is a no-op batch; the log moves on. */
    const struct fsm_result *res;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(fsm_apply(&fsm, junk, sizeof junk, &res), 0);
    ck_assert_int_eq(res->offset, 6);
    ck_assert_uint_eq(res->n, 0);
    ck_assert_uint_eq(fsm.undecodable, 1);
    ck_assert_int_eq(fsm_restore(&replica, junk, sizeof junk), -EBADMSG);
    fsm_close(&fsm);
    fsm_close(&replica);
}
END_TEST

/* Apply a batch built with metadata/records.h; codes into `codes`. */
static void apply_records(struct fsm *fsm, MetadataBatch *batch, int32_t *codes)
{
    void *bytes;
    size_t len;
    const struct fsm_result *res = NULL;
    ck_assert_int_eq(fsm_batch_pack(batch, malloc, &bytes, &len), 0);
    ck_assert_int_eq(fsm_apply(fsm, bytes, len, &res), 0);
    free(bytes);
    memcpy(codes, res->errors, res->n * sizeof *codes);
    records_free(batch);
}

START_TEST(test_scram_credentials)
{
    struct fsm fsm, replica;
    ck_assert_int_eq(fsm_init(&fsm, 4), 0);
    ck_assert_int_eq(fsm_init(&replica, 4), 0);
    uint8_t salt[4] = {1, 2, 3, 4}, key[32] = {7}, other[32] = {9};
    ScramCredential c = SLUICE__METADATA__USER_SCRAM_CREDENTIAL_RECORD__INIT;
    c.name = "bob";
    c.mechanism = SCRAM_MECHANISM_SHA_512;
    c.iterations = 4096;
    c.salt = (ProtobufCBinaryData){sizeof salt, salt};
    c.stored_key = c.server_key = (ProtobufCBinaryData){sizeof key, key};
    MetadataBatch *b = records_batch_new();
    ck_assert_int_eq(records_add_scram(b, &c), 0);
    c.name = "alice";
    ck_assert_int_eq(records_add_scram(b, &c), 0);
    c.mechanism = SCRAM_MECHANISM_SHA_256;
    ck_assert_int_eq(records_add_scram(b, &c), 0);
    c.stored_key = (ProtobufCBinaryData){sizeof other, other}; /* a new password */
    ck_assert_int_eq(records_add_scram(b, &c), 0);
    c.mechanism = 3; /* no such mechanism */
    ck_assert_int_eq(records_add_scram(b, &c), 0);
    int32_t codes[8];
    apply_records(&fsm, b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[3], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[4], KAFKA_ERROR_INVALID_REQUEST);
    /* Sorted by name, then mechanism; a replacement keeps one entry. */
    ck_assert_uint_eq(fsm.image->n_scram_credentials, 3);
    ck_assert_str_eq(fsm.image->scram_credentials[0]->name, "alice");
    ck_assert_int_eq(fsm.image->scram_credentials[0]->mechanism, SCRAM_MECHANISM_SHA_256);
    ck_assert_int_eq(fsm.image->scram_credentials[0]->stored_key.data[0], 9);
    ck_assert_str_eq(fsm.image->scram_credentials[2]->name, "bob");

    void *snap;
    size_t snap_len;
    ck_assert_int_eq(fsm_snapshot(&fsm, malloc, &snap, &snap_len), 0);
    ck_assert_int_eq(fsm_restore(&replica, snap, snap_len), 0);
    free(snap);
    ck_assert_ptr_nonnull(image_find_scram(replica.image, "bob", SCRAM_MECHANISM_SHA_512));

    b = records_batch_new();
    ck_assert_int_eq(records_add_remove_scram(b, "alice", SCRAM_MECHANISM_SHA_256), 0);
    ck_assert_int_eq(records_add_remove_scram(b, "alice", SCRAM_MECHANISM_SHA_256), 0);
    apply_records(&fsm, b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(codes[1], KAFKA_ERROR_RESOURCE_NOT_FOUND);
    ck_assert_ptr_null(image_find_scram(fsm.image, "alice", SCRAM_MECHANISM_SHA_256));
    ck_assert_ptr_nonnull(image_find_scram(fsm.image, "alice", SCRAM_MECHANISM_SHA_512));
    fsm_close(&fsm);
    fsm_close(&replica);
}
END_TEST

/* protobuf-c accepts an unknown field 0 with a two-byte tag but cannot
 * re-read what it packs from it: such images and entries are refused
 * (found by fuzz_controller_fsm). */
START_TEST(test_unknown_field_zero_refused)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 4), 0);
    uint8_t image[16] = {'I', 1, 0, 0, 0, 0, 0, 3, 0x80, 0x00, 0x02};
    ck_assert_int_eq(fsm_restore(&fsm, image, sizeof image), -EBADMSG);
    uint8_t entry[16] = {'B', 1, 0, 0, 0, 0, 0, 3, 0x80, 0x00, 0x02};
    ck_assert_ptr_null(fsm_entry_unpack(entry, sizeof entry));
    /* The same bytes with a valid unknown field (13, fixed64) are fine. */
    uint8_t ok[24] = {'I', 1, 0, 0, 0, 0, 0, 9, 0x69, 1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_int_eq(fsm_restore(&fsm, ok, sizeof ok), 0);
    fsm_close(&fsm);
}
END_TEST

/* An adopted image with two topics of one name (replay never makes one):
 * the topic index steps aside and lookups find the first, as walks do;
 * removing it then finds the second. A replayed image is indexed. */
static TopicState *topic_state(const char *name, uint8_t id_byte)
{
    TopicState *t = malloc(sizeof *t);
    sluice__metadata__topic_state__init(t);
    t->name = image_strdup(name);
    t->topic_id.data = malloc(TOPIC_ID_LEN);
    memset(t->topic_id.data, id_byte, TOPIC_ID_LEN);
    t->topic_id.len = TOPIC_ID_LEN;
    return t;
}

START_TEST(test_topic_index_and_duplicates)
{
    struct fsm fsm;
    int32_t codes[2];
    uint8_t id[TOPIC_ID_LEN];
    ck_assert_int_eq(fsm_init(&fsm, 4), 0);
    memset(id, 0x11, sizeof id);
    MetadataBatch *b = records_batch_new();
    ck_assert_int_eq(records_add_topic(b, "orders", id), 0);
    apply_records(&fsm, b, codes);
    ck_assert(fsm.index_valid);
    ck_assert_ptr_eq(fsm_find_topic(&fsm, "orders"), fsm.image->topics[0]);
    ck_assert_ptr_eq(fsm_find_topic_id(&fsm, fsm.image->topics[0]->topic_id), fsm.image->topics[0]);

    MetadataImage *img = image_new();
    ck_assert_int_eq(image_add_topic(img, topic_state("dup", 0x21)), 0);
    ck_assert_int_eq(image_add_topic(img, topic_state("dup", 0x22)), 0);
    fsm_replace_image(&fsm, img);
    ck_assert(!fsm.index_valid);
    TopicState *second = fsm.image->topics[1];
    ck_assert_ptr_eq(fsm_find_topic(&fsm, "dup"), fsm.image->topics[0]);
    b = records_batch_new();
    ck_assert_int_eq(records_add_remove_topic(b, fsm.image->topics[0]->topic_id), 0);
    apply_records(&fsm, b, codes);
    ck_assert_int_eq(codes[0], KAFKA_ERROR_NONE);
    ck_assert_ptr_eq(fsm_find_topic(&fsm, "dup"), second);
    ck_assert_ptr_eq(fsm_find_topic_id(&fsm, second->topic_id), second);
    fsm_close(&fsm);
}
END_TEST

START_TEST(test_topic_names)
{
    ck_assert(fsm_topic_name_valid("a.b_c-D9"));
    ck_assert(!fsm_topic_name_valid(""));
    ck_assert(!fsm_topic_name_valid("."));
    ck_assert(!fsm_topic_name_valid(".."));
    ck_assert(!fsm_topic_name_valid("a b"));
    /* (from the broker's removed local metadata mode's tests) */
    ck_assert(fsm_topic_name_valid("..."));
    ck_assert(fsm_topic_name_valid("orders.v1_eu-west"));
    ck_assert(!fsm_topic_name_valid("a/b"));
    ck_assert(!fsm_topic_name_valid("caf\xc3\xa9"));
    char long_name[251];
    memset(long_name, 'x', 250);
    long_name[250] = '\0';
    ck_assert(!fsm_topic_name_valid(long_name));
    long_name[249] = '\0';
    ck_assert(fsm_topic_name_valid(long_name));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("fsm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_broker_registration_and_fencing);
    tcase_add_test(tc, test_topic_creation_rejections_are_results);
    tcase_add_test(tc, test_partition_change_compare_and_set);
    tcase_add_test(tc, test_partition_change_reassignment);
    tcase_add_test(tc, test_fencing_batch_applies_in_order);
    tcase_add_test(tc, test_isr_membership_rules);
    tcase_add_test(tc, test_snapshot_restore_and_deltas);
    tcase_add_test(tc, test_producer_id_blocks_never_overlap);
    tcase_add_test(tc, test_unknown_field_zero_refused);
    tcase_add_test(tc, test_topic_names);
    tcase_add_test(tc, test_topic_index_and_duplicates);
    tcase_add_test(tc, test_scram_credentials);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
