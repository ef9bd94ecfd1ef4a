/* AlterPartition version 3 (issue 14) on a real controller node: many
 * partitions in one request, each checked as a single one would be,
 * answered on its own, the accepted ones committed in one raft entry; the
 * bound on items; the version-2 form still served. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "metadata/alter_partition_limits.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"
#include "tests/unit/service_node.h"

typedef Sluice__Controller__AlterPartitionItem Item;
typedef Sluice__Controller__AlterPartitionRequest Request;
typedef Sluice__Controller__AlterPartitionResponse Response;

/* Items for a request, with room for one ISR of up to 3 members each. */
struct items {
    size_t n;
    Item *items;
    Item **ptrs;
    Sluice__Controller__IsrMember (*members)[3];
    Sluice__Controller__IsrMember *(*member_ptrs)[3];
};

static void items_init(struct items *x, size_t cap)
{
    x->n = 0;
    x->items = calloc(cap, sizeof *x->items);
    x->ptrs = calloc(cap, sizeof *x->ptrs);
    x->members = calloc(cap, sizeof *x->members);
    x->member_ptrs = calloc(cap, sizeof *x->member_ptrs);
    ck_assert(x->items && x->ptrs && x->members && x->member_ptrs);
}

static void items_free(struct items *x)
{
    free(x->items);
    free(x->ptrs);
    free(x->members);
    free(x->member_ptrs);
}

/* Append an item for partition `index` of `t` proposing `ids` (each with
 * its current broker epoch). */
static void items_add(struct items *x, const TopicState *t, int32_t index, int32_t leader_epoch,
                      int32_t partition_epoch, const int32_t *ids, size_t n_ids)
{
    Item *it = &x->items[x->n];
    sluice__controller__alter_partition_item__init(it);
    it->topic_id = t->topic_id;
    it->partition = index;
    it->leader_epoch = leader_epoch;
    it->partition_epoch = partition_epoch;
    for (size_t i = 0; i < n_ids; i++) {
        sluice__controller__isr_member__init(&x->members[x->n][i]);
        x->members[x->n][i].broker_id = ids[i];
        x->members[x->n][i].broker_epoch = epochs[ids[i]];
        x->member_ptrs[x->n][i] = &x->members[x->n][i];
    }
    it->new_isr_with_epochs = x->member_ptrs[x->n];
    it->n_new_isr_with_epochs = n_ids;
    x->ptrs[x->n] = it;
    x->n++;
}

static Response *send_items(struct node *n, int32_t broker, const struct items *x)
{
    Request req = SLUICE__CONTROLLER__ALTER_PARTITION_REQUEST__INIT;
    req.version = 3;
    req.broker_id = broker;
    req.broker_epoch = epochs[broker];
    req.items = x->ptrs;
    req.n_items = x->n;
    return call(n, M(ALTER_PARTITION), &req.base,
                &sluice__controller__alter_partition_response__descriptor);
}

/* Two partitions of topic `t` that broker `leader` leads. */
static void two_led_by(const TopicState *t, int32_t leader, int32_t *a, int32_t *b)
{
    *a = *b = -1;
    for (size_t i = 0; i < t->n_partitions; i++) {
        if (t->partitions[i]->leader == leader) {
            if (*a < 0) {
                *a = (int32_t)i;
            } else if (*b < 0) {
                *b = (int32_t)i;
            }
        }
    }
    ck_assert(*a >= 0 && *b >= 0);
}

/* Good and bad items in one request: each answered on its own, the bad
 * ones failing nothing else, the good ones committed in one entry. */
START_TEST(test_batch_mixed_items)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "t", 6, 3, NULL, NULL));
    const TopicState *t = image_find_topic(n.quorum.fsm.image, "t");
    int32_t l = t->partitions[0]->leader, pa, pb;
    two_led_by(t, l, &pa, &pb);
    int32_t other = -1; /* a partition another broker leads */
    for (size_t i = 0; i < t->n_partitions && other < 0; i++) {
        other = t->partitions[i]->leader != l ? (int32_t)i : -1;
    }
    ck_assert_int_ge(other, 0);
    const PartitionState *a = t->partitions[pa], *b = t->partitions[pb];
    const PartitionState *o = t->partitions[other];
    int32_t alone[] = {l}, two[] = {l, l % 3 + 1};

    struct items x;
    items_init(&x, 8);
    items_add(&x, t, pa, a->leader_epoch, a->partition_epoch, alone, 1);    /* good */
    items_add(&x, t, pb, b->leader_epoch, b->partition_epoch + 5, two, 2);  /* stale epoch */
    items_add(&x, t, other, o->leader_epoch, o->partition_epoch, alone, 1); /* not its leader */
    items_add(&x, t, 99, 0, 0, alone, 1);                                   /* no such partition */
    items_add(&x, t, pb, b->leader_epoch + 1, b->partition_epoch, two, 2);  /* fenced epoch */
    items_add(&x, t, pb, b->leader_epoch, b->partition_epoch, two, 2);      /* good */
    int64_t offset = fsm_offset(&n.quorum.fsm);
    uint64_t requests = n.svc.alter_requests;
    Response *r = send_items(&n, l, &x);

    ck_assert_uint_eq(r->version, 3);
    ck_assert_int_eq(r->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(r->n_items, 6);
    int32_t want[] = {KAFKA_ERROR_NONE,
                      KAFKA_ERROR_INVALID_UPDATE_VERSION,
                      KAFKA_ERROR_INVALID_REQUEST,
                      KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION,
                      KAFKA_ERROR_FENCED_LEADER_EPOCH,
                      KAFKA_ERROR_NONE};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_int_eq(r->items[i]->error_code, want[i]);
        ck_assert_int_eq(r->items[i]->partition_index, x.items[i].partition);
        ck_assert_uint_eq(r->items[i]->topic_id.len, 16);
        ck_assert_int_eq(memcmp(r->items[i]->topic_id.data, t->topic_id.data, 16), 0);
    }
    /* Answers carry the committed state, refusals included. */
    ck_assert_uint_eq(r->items[0]->partition->n_isr, 1);
    ck_assert_int_eq(r->items[0]->partition->partition_epoch, 1);
    ck_assert_uint_eq(r->items[1]->partition->n_isr, 2);
    ck_assert_uint_eq(r->items[5]->partition->n_isr, 2);
    ck_assert_ptr_null(r->items[3]->partition);
    release(r);
    /* Both accepted changes in one raft entry, one request counted. */
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), offset + 1);
    ck_assert_uint_eq(n.svc.alter_requests, requests + 1);
    t = image_find_topic(n.quorum.fsm.image, "t");
    ck_assert_uint_eq(t->partitions[pa]->n_isr, 1);
    ck_assert_uint_eq(t->partitions[pb]->n_isr, 2);
    ck_assert_uint_eq(t->partitions[other]->n_isr, 3);

    /* The same request again (its answer lost): the applied items answer
     * NONE without another entry. */
    x.n = 1;
    r = send_items(&n, l, &x);
    ck_assert_int_eq(r->items[0]->error_code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), offset + 1);
    release(r);
    /* A stale broker epoch refuses every item, each answered. */
    epochs[l] += 100;
    x.n = 2;
    r = send_items(&n, l, &x);
    ck_assert_uint_eq(r->n_items, 2);
    ck_assert_int_eq(r->items[0]->error_code, KAFKA_ERROR_STALE_BROKER_EPOCH);
    ck_assert_int_eq(r->items[1]->error_code, KAFKA_ERROR_STALE_BROKER_EPOCH);
    release(r);
    epochs[l] -= 100;
    items_free(&x);
    node_stop(&n);
}
END_TEST

/* At most ALTER_PARTITION_MAX_ITEMS: one more is refused whole, before any
 * item is looked at; exactly the bound is served, and two accepted items
 * for the same partition in one entry: the first wins the compare-and-set. */
START_TEST(test_batch_bounds)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "t", 3, 3, NULL, NULL));
    const TopicState *t = image_find_topic(n.quorum.fsm.image, "t");
    const PartitionState *p = t->partitions[0];
    int32_t l = p->leader, alone[] = {l};
    struct items x;
    items_init(&x, ALTER_PARTITION_MAX_ITEMS + 1);
    for (size_t i = 0; i <= ALTER_PARTITION_MAX_ITEMS; i++) {
        items_add(&x, t, 0, p->leader_epoch, p->partition_epoch, alone, 1);
    }
    int64_t offset = fsm_offset(&n.quorum.fsm);
    Response *r = send_items(&n, l, &x);
    ck_assert_uint_eq(r->version, 3);
    ck_assert_int_eq(r->error_code, KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_uint_eq(r->n_items, 0);
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), offset);
    release(r);

    x.n = ALTER_PARTITION_MAX_ITEMS;
    r = send_items(&n, l, &x);
    ck_assert_int_eq(r->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(r->n_items, ALTER_PARTITION_MAX_ITEMS);
    ck_assert_int_eq(r->items[0]->error_code, KAFKA_ERROR_NONE);
    for (size_t i = 1; i < ALTER_PARTITION_MAX_ITEMS; i++) {
        ck_assert_int_eq(r->items[i]->error_code, KAFKA_ERROR_INVALID_UPDATE_VERSION);
    }
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), offset + 1);
    release(r);
    t = image_find_topic(n.quorum.fsm.image, "t");
    ck_assert_uint_eq(t->partitions[0]->n_isr, 1);
    ck_assert_int_eq(t->partitions[0]->partition_epoch, 1);
    items_free(&x);
    node_stop(&n);
}
END_TEST

/* A version-2 request (a broker not yet upgraded) is served as before and
 * answered in the version-2 form, which such a broker reads. */
START_TEST(test_version_2_still_served)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "t", 1, 3, NULL, NULL));
    const TopicState *t = image_find_topic(n.quorum.fsm.image, "t");
    const PartitionState *p = t->partitions[0];
    Request req = SLUICE__CONTROLLER__ALTER_PARTITION_REQUEST__INIT;
    Sluice__Controller__IsrMember m = SLUICE__CONTROLLER__ISR_MEMBER__INIT, *mp = &m;
    req.version = 2;
    req.broker_id = p->leader;
    req.broker_epoch = epochs[p->leader];
    req.topic_id = t->topic_id;
    req.partition = 0;
    req.leader_epoch = p->leader_epoch;
    req.partition_epoch = p->partition_epoch;
    m.broker_id = p->leader;
    m.broker_epoch = epochs[p->leader];
    req.new_isr_with_epochs = &mp;
    req.n_new_isr_with_epochs = 1;
    uint64_t items = n.svc.alter_items;
    Response *r = call(&n, M(ALTER_PARTITION), &req.base,
                       &sluice__controller__alter_partition_response__descriptor);
    ck_assert_int_eq(r->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(r->version, 0);
    ck_assert_uint_eq(r->n_items, 0);
    ck_assert_uint_eq(r->partition->n_isr, 1);
    ck_assert_int_eq(r->partition->partition_epoch, 1);
    ck_assert_uint_eq(r->topic_id.len, 16);
    ck_assert_uint_eq(n.svc.alter_items, items + 1);
    release(r);
    node_stop(&n);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("controller_service_alter");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_batch_mixed_items);
    tcase_add_test(tc, test_batch_bounds);
    tcase_add_test(tc, test_version_2_still_served);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
