/* Operations parked on partitions this broker leads (as DeleteRecords,
 * Fetch and Produce park in the replica manager's purgatory) are asked
 * again when what decides them changes outside the partition: a broker
 * holding one of its replicas is fenced or comes back (the low watermark
 * counts replicas on live brokers only), the partition goes (topic
 * deleted, moved off this broker, its directory offline) or is led
 * elsewhere, or retention moves its log start. Followers' session fetches,
 * parked on the journal of changes rather than on their partitions, are
 * asked too, and one parked before the leader hosted a partition its
 * session names (a follower applied the new topic first) answers once the
 * leader hosts it and appends to it. What a client's parked request then
 * answers is Kafka's. The view is the quorum-fed one over an image the
 * test builds, as in test_replica_manager.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "broker/kafka/dispatch.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_liveness.h"
#include "broker/replica/replica_manager.h"
#include "broker/replica/replica_service.h"
#include "broker/replica/replica_session.h"
#include "common/rpc_client.h"
#include "common/rpc_server.h"
#include "metadata/image.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"
#include "tests/unit/image_test_util.h"
#include "tests/unit/log_test_util.h"

static struct replica_fixture rfx;

static void setup(void)
{
    rfx_setup(&rfx);
}

static void teardown(void)
{
    rfx_teardown(&rfx);
}

static TopicState *add_topic(const char *name, int32_t n)
{
    return itu_add_topic(rfx.img, name, n, 0x42);
}

static void remove_topic(const char *name)
{
    itu_remove_topic(rfx.img, name);
}

/* Partition `index` of topic `name` in the image. */
static PartitionState *image_partition(const char *name, int32_t index)
{
    for (size_t i = 0; i < rfx.img->n_topics; i++) {
        if (strcmp(rfx.img->topics[i]->name, name) == 0) {
            return rfx.img->topics[i]->partitions[index];
        }
    }
    ck_abort_msg("no topic %s", name);
    return NULL;
}

/* Topic `name` of `n` partitions led here, replicas {1, 2}, ISR {1}:
 * broker 2's replica has fetched nothing (its log start is unknown), so
 * while broker 2 is alive it holds the low watermark at -1. */
static void add_replicated_topic(const char *name, int32_t n)
{
    static const int32_t both[] = {1, 2};
    TopicState *t = add_topic(name, n);
    for (int32_t i = 0; i < n; i++) {
        PartitionState *ps = t->partitions[i];
        ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, both, 2), 0);
    }
}

/* Broker 2 registered, a replica manager started on the image and, all
 * hosted: topic "dr" of `n_dr` partitions (add_replicated_topic) and, if
 * `solo`, topic "solo" of one partition led here alone. */
static void start_with_dr(struct metadata_view **v, struct replica_manager *rm, int32_t n_dr,
                          bool solo)
{
    itu_add_broker(rfx.img, 2);
    rfx_start(&rfx, v, rm);
    add_replicated_topic("dr", n_dr);
    if (solo) {
        add_topic("solo", 1);
    }
    metadata_quorum_refresh(*v);
    rfx_settle(&rfx, rm);
}

/* Park `op` on partition `p` of `rm`, watching it alone, for longer than
 * any test runs. */
static void park_op(struct replica_manager *rm, struct partition *p, struct delayed_op *op,
                    bool (*ready)(struct delayed_op *), void (*complete)(struct delayed_op *, bool),
                    void *data)
{
    ck_assert_int_eq(delayed_op_init(op, 1, ready, complete, data), 0);
    partition_watch(p, op);
    replica_manager_park(rm, op, 600000);
}

/* An operation parked on a partition as a DeleteRecords parks: asked
 * again, it looks the partition up through the replica manager (it may be
 * gone) and completes once that is gone, led elsewhere, or its low
 * watermark reached `target`. */
enum parked_outcome { PARKED_WAITING, PARKED_GONE, PARKED_NOT_LEADER, PARKED_REACHED };

struct parked {
    struct replica_manager *rm;
    const char *topic;
    int32_t index;
    int64_t target;
    int asked, completions;
    bool expired;
    enum parked_outcome outcome;
    struct delayed_op op;
};

static bool parked_ready(struct delayed_op *op)
{
    struct parked *w = op->data;
    w->asked++;
    struct partition *p = replica_manager_partition(w->rm, w->topic, w->index);
    if (p == NULL) {
        w->outcome = PARKED_GONE;
    } else if (!partition_is_leader(p)) {
        w->outcome = PARKED_NOT_LEADER;
    } else if (replica_low_watermark(w->rm, p) >= w->target) {
        w->outcome = PARKED_REACHED;
    }
    return w->outcome != PARKED_WAITING;
}

static void parked_complete(struct delayed_op *op, bool expired)
{
    struct parked *w = op->data;
    w->completions++;
    w->expired = expired;
    delayed_op_free(op);
}

/* Park `w` (for far longer than the test) on `topic`-`index`, not ready. */
static void park_on(struct parked *w, struct replica_manager *rm, const char *topic, int32_t index,
                    int64_t target)
{
    *w = (struct parked){.rm = rm, .topic = topic, .index = index, .target = target};
    struct partition *p = replica_manager_partition(rm, topic, index);
    ck_assert_ptr_nonnull(p);
    w->op.data = w;
    ck_assert(!parked_ready(&w->op));
    w->asked = 0;
    park_op(rm, p, &w->op, parked_ready, parked_complete, w);
}

/* Broker 2 is fenced while it is out of the ISR, so no partition changes:
 * the operations parked on the partitions with a replica there are asked
 * again, and the low watermark no longer counts that replica (Kafka's
 * lowWatermarkIfLeader over live brokers); one parked on a partition with
 * no replica there is not asked. Unfenced, broker 2's replica holds the
 * low watermark again. */
START_TEST(test_fenced_replica_rechecks_parked_low_watermark)
{
    struct metadata_view *v;
    struct replica_manager rm;
    start_with_dr(&v, &rm, 1, true);
    struct partition *p = replica_manager_partition(&rm, "dr", 0);
    ck_assert_int_eq(replica_low_watermark(&rm, p), -1);
    struct parked dr, solo;
    park_on(&dr, &rm, "dr", 0, 0);
    park_on(&solo, &rm, "solo", 0, 1); /* never reached: its log is empty */

    itu_set_fenced(rfx.img, 2, true);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(dr.completions, 1);
    ck_assert(!dr.expired);
    ck_assert_int_eq(dr.outcome, PARKED_REACHED);
    ck_assert_int_eq(replica_low_watermark(&rm, p), 0);
    ck_assert_int_eq(solo.asked, 0);
    ck_assert_int_eq(solo.completions, 0);

    itu_set_fenced(rfx.img, 2, false);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(replica_low_watermark(&rm, p), -1);
    rfx_stop(&rfx, v, &rm);
    ck_assert_int_eq(solo.completions, 1);
    ck_assert(solo.expired);
}
END_TEST

/* Operations parked on a partition led here are answered when it goes,
 * not at their deadline: the topic deleted, the partition moved off this
 * broker (both: no partition any more), or led elsewhere. */
START_TEST(test_parked_answered_when_partition_goes)
{
    struct metadata_view *v;
    struct replica_manager rm;
    start_with_dr(&v, &rm, 3, false);
    struct parked deleted, moved, led;
    park_on(&moved, &rm, "dr", 0, 0);
    park_on(&led, &rm, "dr", 1, 0);

    static const int32_t two[] = {2};
    PartitionState *ps = image_partition("dr", 0);
    ps->leader = 2;
    ps->leader_epoch++;
    ps->partition_epoch++;
    ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, two, 1), 0);
    ck_assert_int_eq(image_set_ints(&ps->isr, &ps->n_isr, two, 1), 0);
    ps = image_partition("dr", 1);
    ps->leader = 2;
    ps->leader_epoch++;
    metadata_quorum_refresh(v);
    ck_assert_ptr_null(replica_manager_partition(&rm, "dr", 0));
    ck_assert_int_eq(moved.completions, 1);
    ck_assert(!moved.expired);
    ck_assert_int_eq(moved.outcome, PARKED_GONE);
    ck_assert_int_eq(led.completions, 1);
    ck_assert(!led.expired);
    ck_assert_int_eq(led.outcome, PARKED_NOT_LEADER);

    park_on(&deleted, &rm, "dr", 2, 0);
    remove_topic("dr");
    metadata_quorum_refresh(v);
    ck_assert_int_eq(deleted.completions, 1);
    ck_assert(!deleted.expired);
    ck_assert_int_eq(deleted.outcome, PARKED_GONE);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* Append one batch of `count` records stamped from `ts` to the leader's
 * `p`. */
static void append_batch(struct partition *p, int count, int64_t ts, uint32_t seed)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, count, 100, ts, seed);
    ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
    buf_free(&b);
}

/* An operation parked on the journal of changes, as a parked session
 * fetch of a follower parks (replica_service.c): asked again, it reads the
 * records since its position and completes once one names `slot` (its
 * partition's), as the fetch then looks at that partition and answers. */
struct journal_parked {
    struct replica_manager *rm;
    uint32_t slot;
    uint64_t pos;
    int completions;
    bool expired;
    struct delayed_op op;
};

static bool journal_parked_ready(struct delayed_op *op)
{
    struct journal_parked *w = op->data;
    const struct change_journal *j = &w->rm->changes;
    if (!change_journal_holds(j, w->pos)) {
        return true; /* a reset: a fetch looks at every partition */
    }
    uint64_t end = change_journal_end(j);
    bool named = false;
    for (uint64_t seq = w->pos; seq < end; seq++) {
        named |= change_journal_at(j, seq) == w->slot;
    }
    w->pos = end;
    return named;
}

static void journal_parked_complete(struct delayed_op *op, bool expired)
{
    struct journal_parked *w = op->data;
    w->completions++;
    w->expired = expired;
    delayed_op_free(op);
}

/* Park `w` (for far longer than the test) on the journal, for the slot of
 * `topic`-`index`. */
static void park_on_journal(struct journal_parked *w, struct replica_manager *rm, const char *topic,
                            int32_t index)
{
    struct partition *p = replica_manager_partition(rm, topic, index);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(p->journal);
    *w =
        (struct journal_parked){.rm = rm, .slot = p->slot, .pos = change_journal_end(&rm->changes)};
    ck_assert_int_eq(delayed_op_init(&w->op, 1, journal_parked_ready, journal_parked_complete, w),
                     0);
    delayed_op_watch(&w->op, &rm->changes.waiters);
    replica_manager_park(rm, &w->op, 600000);
}

/* A follower's session fetch parked on the journal (not on its partitions)
 * is answered when one of them goes, not at its max wait: the partition
 * moved off this broker, its topic deleted, its log directory offline. */
START_TEST(test_journal_parked_answered_when_partition_goes)
{
    struct metadata_view *v;
    struct replica_manager rm;
    start_with_dr(&v, &rm, 2, true);
    struct journal_parked moved, deleted, offline;
    park_on_journal(&moved, &rm, "dr", 0);

    static const int32_t two[] = {2};
    PartitionState *ps = image_partition("dr", 0);
    ps->leader = 2;
    ps->leader_epoch++;
    ps->partition_epoch++;
    ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, two, 1), 0);
    ck_assert_int_eq(image_set_ints(&ps->isr, &ps->n_isr, two, 1), 0);
    metadata_quorum_refresh(v);
    ck_assert_ptr_null(replica_manager_partition(&rm, "dr", 0));
    ck_assert_int_eq(moved.completions, 1);
    ck_assert(!moved.expired);

    park_on_journal(&deleted, &rm, "dr", 1);
    remove_topic("dr");
    metadata_quorum_refresh(v);
    ck_assert_int_eq(deleted.completions, 1);
    ck_assert(!deleted.expired);

    park_on_journal(&offline, &rm, "solo", 0);
    log_manager_fail_dir(&rm.logs, 0, -EIO, "a test");
    while (replica_manager_partition(&rm, "solo", 0) != NULL) {
        uv_run(&rfx.loop, UV_RUN_ONCE); /* the directory's partitions close on a later turn */
    }
    ck_assert_int_eq(offline.completions, 1);
    ck_assert(!offline.expired);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* Retention deleting a leader's oldest segments moves its log start, which
 * the followers learn only from a fetch answer (and a DeleteRecords' low
 * watermark waits for): what is parked on the partition (here an operation
 * waiting, as a DeleteRecords, for the low watermark, which with no other
 * replica is the log start) and the session fetches parked on the journal
 * are asked again at once. Records stamped two hours ago expire under
 * retention.ms of an hour. */
START_TEST(test_retention_wakes_parked_fetches)
{
    char err[256];
    ck_assert_int_eq(
        sluice_config_set(&rfx.cfg, "log.retention.check.interval.ms", "5", err, sizeof err), 0);
    ck_assert_int_eq(sluice_config_set(&rfx.cfg, "log.segment.bytes", "1000", err, sizeof err), 0);
    ck_assert_int_eq(sluice_config_set(&rfx.cfg, "log.retention.ms", "3600000", err, sizeof err),
                     0);
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("ret", 1);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct partition *p = replica_manager_partition(&rm, "ret", 0);
    ck_assert(partition_is_leader(p));
    int64_t old_ts = (int64_t)time(NULL) * 1000 - 2 * 3600000LL;
    for (int k = 0; k < 10; k++) {
        append_batch(p, 2, old_ts, (uint32_t)k);
    }
    ck_assert_int_eq(partition_high_watermark(p), 20); /* the only replica in the ISR */
    ck_assert_int_eq(partition_log_start(p), 0);
    struct parked delete_records;
    struct journal_parked session_fetch;
    park_on(&delete_records, &rm, "ret", 0, 1);
    park_on_journal(&session_fetch, &rm, "ret", 0);

    while (partition_log_start(p) == 0) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(delete_records.completions, 1);
    ck_assert(!delete_records.expired);
    ck_assert_int_eq(delete_records.outcome, PARKED_REACHED);
    ck_assert_int_eq(session_fetch.completions, 1);
    ck_assert(!session_fetch.expired);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* An operation parked as a Produce or a DeleteRecords parks: asked again,
 * it takes the partition's answer from kafka_leader_partition, as their
 * handlers do. */
struct answer_parked {
    struct kafka_services svc;
    struct kafka_call call;
    const char *topic;
    int32_t index;
    int16_t error;
    int completions;
    struct delayed_op op;
};

static bool answer_parked_ready(struct delayed_op *op)
{
    struct answer_parked *w = op->data;
    return kafka_leader_partition(&w->call, w->topic, w->index, &w->error) == NULL;
}

static void answer_parked_complete(struct delayed_op *op, bool expired)
{
    struct answer_parked *w = op->data;
    w->completions += !expired;
    delayed_op_free(op);
}

static void park_for_answer(struct answer_parked *w, struct metadata_view *v,
                            struct replica_manager *rm, const char *topic, int32_t index)
{
    *w = (struct answer_parked){
        .svc = {.metadata = v, .replicas = rm}, .topic = topic, .index = index, .error = -1};
    w->call.svc = &w->svc;
    struct partition *p = replica_manager_partition(rm, topic, index);
    ck_assert_ptr_nonnull(p);
    park_op(rm, p, &w->op, answer_parked_ready, answer_parked_complete, w);
}

/* What a parked Produce or DeleteRecords answers when its partition can no
 * longer be served here is Kafka's (ReplicaManager.getPartitionOrError, as
 * DelayedProduce and DelayedDeleteRecords ask it): the view has dropped a
 * deleted topic before its partitions' parked operations are asked, so
 * they answer UNKNOWN_TOPIC_OR_PARTITION; a partition led elsewhere or
 * moved away (still in the view) NOT_LEADER_OR_FOLLOWER; one whose
 * directory went offline KAFKA_STORAGE_ERROR. */
START_TEST(test_parked_answer_says_why_partition_went)
{
    struct metadata_view *v;
    struct replica_manager rm;
    start_with_dr(&v, &rm, 3, true);
    struct answer_parked moved, led, deleted, offline;
    park_for_answer(&moved, v, &rm, "dr", 0);
    park_for_answer(&led, v, &rm, "dr", 1);

    static const int32_t two[] = {2};
    PartitionState *ps = image_partition("dr", 0);
    ps->leader = 2;
    ps->leader_epoch++;
    ps->partition_epoch++;
    ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, two, 1), 0);
    ck_assert_int_eq(image_set_ints(&ps->isr, &ps->n_isr, two, 1), 0);
    ps = image_partition("dr", 1);
    ps->leader = 2;
    ps->leader_epoch++;
    metadata_quorum_refresh(v);
    ck_assert_int_eq(moved.completions, 1);
    ck_assert_int_eq(moved.error, KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER);
    ck_assert_int_eq(led.completions, 1);
    ck_assert_int_eq(led.error, KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER);

    park_for_answer(&deleted, v, &rm, "dr", 2);
    remove_topic("dr");
    metadata_quorum_refresh(v);
    ck_assert_int_eq(deleted.completions, 1);
    ck_assert_int_eq(deleted.error, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION);

    park_for_answer(&offline, v, &rm, "solo", 0);
    log_manager_fail_dir(&rm.logs, 0, -EIO, "a test");
    while (replica_manager_partition(&rm, "solo", 0) != NULL) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(offline.completions, 1);
    ck_assert_int_eq(offline.error, KAFKA_ERROR_KAFKA_STORAGE_ERROR);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* ---- a follower's session fetches, sent to the real replica service ---- */

#define FOLLOWER 2

static struct rpc_server leader_rpc;
static struct rpc_client follower_rpc;

/* Serve `rm`'s replica service on loopback, and a client to it as the
 * follower's fetcher holds one. */
static void serve_replication(struct replica_manager *rm)
{
    rpc_server_init(&leader_rpc, &rfx.loop, replica_rpc_max_frame(&rfx.cfg));
    ck_assert_int_eq(replica_service_register(&leader_rpc, rm, NULL), 0);
    ck_assert_int_eq(rpc_server_listen(&leader_rpc, "127.0.0.1", 0), 0);
    ck_assert_int_eq(
        rpc_client_init(&follower_rpc, &rfx.loop, "127.0.0.1", rpc_server_port(&leader_rpc), NULL),
        0);
}

/* Both close on the loop rfx_stop runs. */
static void stop_replication(void)
{
    rpc_client_close(&follower_rpc, NULL);
    rpc_server_close(&leader_rpc, NULL);
}

/* One ReplicaFetch of FOLLOWER's, and its answer once it came. */
struct follower_fetch {
    struct rpc_request req;
    bool answered;
    int status;
    int32_t rpc_error;
    Sluice__Replica__ReplicaFetchResponse *resp; /* NULL unless it decoded */
    size_t payload_len;
};

static void follower_fetch_answered(struct rpc_request *req, int status,
                                    const struct rpc_frame *frame)
{
    struct follower_fetch *f = req->data;
    f->answered = true;
    f->status = status;
    if (status == 0) {
        f->rpc_error = frame->error;
        f->payload_len = frame->payload_len;
        f->resp =
            sluice__replica__replica_fetch_response__unpack(NULL, frame->body_len, frame->body);
    }
}

/* Send FOLLOWER's fetch of session `id` at `epoch`, naming partition 0 of
 * `topic` at offset 0, or nothing (NULL), to wait up to 60 s for a byte:
 * far longer than the test. */
static void follower_fetch_send(struct follower_fetch *f, int32_t id, int32_t epoch,
                                const char *topic)
{
    Sluice__Replica__FetchPartition part = SLUICE__REPLICA__FETCH_PARTITION__INIT;
    Sluice__Replica__FetchPartition *parts[] = {&part};
    part.topic = (char *)topic;
    part.partition = 0;
    part.fetch_offset = 0;
    part.current_leader_epoch = 0;
    part.last_fetched_epoch = -1;
    part.partition_max_bytes = 1 << 20;
    part.log_start_offset = 0;
    Sluice__Replica__ReplicaFetchRequest body = SLUICE__REPLICA__REPLICA_FETCH_REQUEST__INIT;
    body.version = REPLICA_FETCH_VERSION;
    body.replica_id = FOLLOWER;
    body.broker_epoch = 10 + FOLLOWER; /* itu_add_broker's */
    body.max_wait_ms = 60000;
    body.min_bytes = 1;
    body.max_bytes = 1 << 20;
    body.partitions = topic != NULL ? parts : NULL;
    body.n_partitions = topic != NULL ? 1 : 0;
    body.session_id = id;
    body.session_epoch = epoch;
    *f = (struct follower_fetch){.req.data = f};
    ck_assert_int_eq(rpc_client_call(&follower_rpc, &f->req,
                                     SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_FETCH, 1,
                                     &body.base, NULL, 0, 120000, follower_fetch_answered),
                     0);
}

/* Run the loop until `f` is answered (the leader sent its answer already,
 * or answers it without waiting), and check that it decoded. */
static void follower_fetch_wait(struct follower_fetch *f)
{
    while (!f->answered) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(f->status, 0);
    ck_assert_int_eq(f->rpc_error, 0);
    ck_assert_ptr_nonnull(f->resp);
    ck_assert_int_eq(f->resp->error_code, 0);
}

static void follower_fetch_free(struct follower_fetch *f)
{
    sluice__replica__replica_fetch_response__free_unpacked(f->resp, NULL);
}

/* Run the loop until the leader's replica service took `n` fetches in all. */
static void run_until_fetches_taken(struct replica_manager *rm, uint64_t n)
{
    while (rm->fetch_stats.requests < n) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
}

/* A follower can apply a new topic before its leader does. Its session's
 * first fetch names the new partition: the leader, not hosting it yet,
 * answers NOT_LEADER_OR_FOLLOWER and keeps it in the session, whose view
 * of the journal of changes holds no slot for it. The next fetch names
 * nothing new, finds nothing ready and parks on the journal. Once the
 * leader hosts the partition and appends to it, the parked fetch answers
 * at once, and the session's next fetch carries the records. It used to
 * read its stale view, pass the partition's changes over as another
 * session's and sleep out its whole wait (replica.fetch.wait.max.ms: here
 * 60 s; acks=all writes waited for it). */
START_TEST(test_parked_session_fetch_answers_for_partition_hosted_later)
{
    struct metadata_view *v;
    struct replica_manager rm;
    itu_add_broker(rfx.img, FOLLOWER);
    rfx_start(&rfx, &v, &rm);
    serve_replication(&rm);

    struct follower_fetch first, parked, next;
    /* The session opens naming new-0, not hosted here yet. */
    follower_fetch_send(&first, 0, REPLICA_SESSION_EPOCH_NEW, "new");
    follower_fetch_wait(&first);
    int32_t id = first.resp->session_id;
    ck_assert_int_ne(id, 0);
    ck_assert_uint_eq(first.resp->n_partitions, 1);
    ck_assert_int_eq(first.resp->partitions[0]->error_code, KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER);
    ck_assert_uint_eq(replica_session_cache_partitions(rm.fetch_sessions), 1);

    /* Nothing named, nothing ready: it parks on the journal. */
    follower_fetch_send(&parked, id, REPLICA_SESSION_EPOCH_NEW + 1, NULL);
    run_until_fetches_taken(&rm, 2);
    ck_assert_uint_eq(rm.delayed.count, 1);
    ck_assert(!parked.answered);

    /* The leader hosts new-0 (partitions_gen moves) and appends to it:
     * the notifications are synchronous, so the fetch has answered by
     * now or waits out its 60 s. */
    add_replicated_topic("new", 1);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct partition *p = replica_manager_partition(&rm, "new", 0);
    ck_assert_ptr_nonnull(p);
    ck_assert(partition_is_leader(p));
    append_batch(p, 3, (int64_t)time(NULL) * 1000, 1);
    ck_assert_msg(rm.delayed.count == 0,
                  "the follower's fetch is still parked for its 60 s after new-0's append");
    follower_fetch_wait(&parked);
    ck_assert_int_eq(parked.resp->session_id, id);

    /* That answer need not carry new-0 (the parked fetch answered on the
     * gap without looking); the session's next fetch, naming nothing,
     * looks at it and brings its records. */
    follower_fetch_send(&next, id, REPLICA_SESSION_EPOCH_NEW + 2, NULL);
    follower_fetch_wait(&next);
    ck_assert_int_eq(next.resp->session_id, id);
    ck_assert_uint_eq(next.resp->n_partitions, 1);
    const Sluice__Replica__FetchedPartition *fp = next.resp->partitions[0];
    ck_assert_str_eq(fp->topic, "new");
    ck_assert_int_eq(fp->partition, 0);
    ck_assert_int_eq(fp->error_code, 0);
    ck_assert_int_eq(fp->log_end_offset, 3);
    ck_assert_uint_gt(fp->records_length, 0);
    ck_assert_uint_eq(next.payload_len, fp->records_length);

    follower_fetch_free(&first);
    follower_fetch_free(&parked);
    follower_fetch_free(&next);
    stop_replication();
    rfx_stop(&rfx, v, &rm);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replica_parked");
    TCase *tc = tcase_create("parked");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fenced_replica_rechecks_parked_low_watermark);
    tcase_add_test(tc, test_parked_answered_when_partition_goes);
    tcase_add_test(tc, test_journal_parked_answered_when_partition_goes);
    tcase_add_test(tc, test_retention_wakes_parked_fetches);
    tcase_add_test(tc, test_parked_answer_says_why_partition_went);
    tcase_add_test(tc, test_parked_session_fetch_answers_for_partition_hosted_later);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
