/* replica_manager: hosting the partitions the metadata view shows, and
 * giving back everything it opened when hosting a topic fails part-way. The
 * view is the quorum-fed one over an image the test builds (as
 * broker_session's replay would). */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/isr_retry_log.h"
#include "broker/replica/replica_isr.h"
#include "broker/replica/replica_manager.h"
#include "common/buf.h"
#include "common/log.h"
#include "metadata/image.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"
#include "tests/unit/image_test_util.h"

static struct replica_fixture rfx;

static void setup(void)
{
    rfx_setup(&rfx);
}

static void teardown(void)
{
    rfx_teardown(&rfx);
}

#include "tests/unit/log_test_util.h"

/* Log lines about unanswered ISR changes, by level (log_write is wrapped:
 * -Wl,--wrap=log_write), and the last INFO one; lines about caught-up
 * followers, by level. */
void __real_log_write(enum log_level level, const char *component, const char *fmt, ...);
void __wrap_log_write(enum log_level level, const char *component, const char *fmt, ...);
static int unanswered_lines[LOG_LEVEL_NONE + 1];
static char unanswered_info[2048];
static int caught_up_lines[LOG_LEVEL_NONE + 1];

void __wrap_log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (strstr(line, "unanswered") != NULL) {
        unanswered_lines[level]++;
        if (level == LOG_LEVEL_INFO) {
            snprintf(unanswered_info, sizeof unanswered_info, "%s", line);
        }
    }
    if (strstr(line, "follower caught up") != NULL) {
        caught_up_lines[level]++;
    }
    __real_log_write(level, component, "%s", line);
}

static TopicState *add_topic_id(const char *name, int32_t n, uint8_t id_byte)
{
    return itu_add_topic(rfx.img, name, n, id_byte);
}

static TopicState *add_topic(const char *name, int32_t n)
{
    return itu_add_topic(rfx.img, name, n, 0x42);
}

static void remove_topic(const char *name)
{
    itu_remove_topic(rfx.img, name);
}

static bool dir_exists(const char *topic, int32_t index)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s-%d", rfx.dir, topic, (int)index);
    return stat(path, &st) == 0;
}

/* The topic id partition.metadata records for `topic`-`index`, as hex. */
static void recorded_id(const char *topic, int32_t index, char *out, size_t outlen)
{
    char path[4096], line[128];
    snprintf(path, sizeof path, "%s/%s-%d/partition.metadata", rfx.dir, topic, (int)index);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    out[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "topic_id: ", 10) == 0) {
            snprintf(out, outlen, "%.32s", line + 10);
        }
    }
    fclose(f);
}

static int64_t tb_size(const char *d, const char *name)
{
    char path[8192];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", d, name);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

/* Partition 1 of a new topic cannot be opened (a file sits where its
 * directory goes): it is offline here (reported to the controller, clients
 * get KAFKA_STORAGE_ERROR) while partitions 0 and 2 are hosted, each opened
 * once. It stays offline until restart, even once the obstacle is gone. */
START_TEST(test_open_failure_takes_only_that_partition_offline)
{
    char err[256], path[4096];
    struct metadata_view *v;
    struct replica_manager rm;
    struct metadata_quorum_source src = rfx_source(&rfx);
    ck_assert_int_eq(metadata_quorum_open(&v, &rfx.loop, &rfx.cfg, &src, err, sizeof err), 0);
    ck_assert_int_eq(replica_manager_start(&rm, &rfx.loop, &rfx.cfg, &rfx.dirs, v, err, sizeof err),
                     0);
    int before = open_fds();
    snprintf(path, sizeof path, "%s/blocked-1", rfx.dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);

    TopicState *t = add_topic("blocked", 3);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    ck_assert_ptr_nonnull(metadata_view_topic(v, "blocked"));
    ck_assert_ptr_nonnull(replica_manager_partition(&rm, "blocked", 0));
    ck_assert_ptr_null(replica_manager_partition(&rm, "blocked", 1));
    ck_assert_ptr_nonnull(replica_manager_partition(&rm, "blocked", 2));
    ck_assert(replica_manager_partition_offline(&rm, "blocked", 1));
    ck_assert(!replica_manager_partition_offline(&rm, "blocked", 0));
    ck_assert_int_eq(open_fds(), before + 2 * 3);

    ck_assert_int_eq(unlink(path), 0);
    itu_add_partition(t);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    ck_assert_ptr_nonnull(replica_manager_partition(&rm, "blocked", 3));
    ck_assert(replica_manager_partition_offline(&rm, "blocked", 1));
    ck_assert_int_eq(open_fds(), before + 3 * 3);

    replica_manager_stop(&rm);
    metadata_view_close(v);
    ck_assert_int_eq(uv_run(&rfx.loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(open_fds(), before);
}
END_TEST

/* A topic of many partitions is opened on the thread pool: when the view
 * applies it nothing is hosted yet (the loop is free), and once the opens
 * are done every partition leads in its epoch, with its directory, first
 * segment and topic id on disk. */
START_TEST(test_many_partitions_open_off_the_loop)
{
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("wide", 300);
    metadata_quorum_refresh(v);
    ck_assert_uint_eq(replica_manager_opening(&rm), 300);
    ck_assert_ptr_null(replica_manager_partition(&rm, "wide", 0));
    ck_assert(!replica_manager_partition_offline(&rm, "wide", 0));
    rfx_settle(&rfx, &rm);
    for (int32_t i = 0; i < 300; i++) {
        struct partition *p = replica_manager_partition(&rm, "wide", i);
        ck_assert_ptr_nonnull(p);
        ck_assert(partition_is_leader(p));
        ck_assert_int_eq(partition_log_latest_epoch(p->log), 0);
        char id[40];
        recorded_id("wide", i, id, sizeof id);
        ck_assert_str_eq(id, "42424242424242424242424242424242");
        char seg[256];
        snprintf(seg, sizeof seg, "%s/wide-%d", rfx.dir, (int)i);
        ck_assert_int_eq(tb_size(seg, "00000000000000000000.log"), 0);
    }
    rfx_stop(&rfx, v, &rm);
}
END_TEST

static int flushed_calls;

static void on_flushed_all(void *arg)
{
    (void)arg;
    flushed_calls++;
}

/* Issue 14: before a shutdown every hosted log is flushed on the thread pool,
 * at most LOG_MANAGER_FLUSH_ALL_IN_FLIGHT at a time, each once, and the
 * callback runs once, after the last: then each log is durable to its end,
 * and the close has nothing left to sync on the loop. */
START_TEST(test_flush_all_before_stop)
{
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("dirty", 10);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    for (int32_t i = 0; i < 10; i++) {
        struct partition *p = replica_manager_partition(&rm, "dirty", i);
        struct buf b = BUF_INIT;
        struct log_append_info info;
        tb_batch(&b, 3, 10, 1000, 7);
        ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
        buf_free(&b);
        ck_assert_int_lt(partition_log_durable_offset(p->log), 3);
    }
    flushed_calls = 0;
    ck_assert_int_eq(log_manager_flush_all(&rm.logs, on_flushed_all, NULL), 0);
    ck_assert_int_eq(log_manager_flush_all(&rm.logs, on_flushed_all, NULL), -EBUSY);
    while (flushed_calls == 0) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(flushed_calls, 1);
    ck_assert_uint_eq(rm.logs.flush_all_stats.flushed, 10);
    ck_assert_uint_eq(rm.logs.flush_all_stats.max_in_flight, LOG_MANAGER_FLUSH_ALL_IN_FLIGHT);
    for (int32_t i = 0; i < 10; i++) {
        struct partition *p = replica_manager_partition(&rm, "dirty", i);
        ck_assert_int_eq(partition_log_durable_offset(p->log), 3);
    }
    /* Stopped while a pass is under way: the close completes its flushes,
     * the callback is not called. */
    ck_assert_int_eq(log_manager_flush_all(&rm.logs, on_flushed_all, NULL), 0);
    rfx_stop(&rfx, v, &rm);
    ck_assert_int_eq(flushed_calls, 1);
}
END_TEST

/* The pass's last flush completes inside a log's deletion (its close ends
 * the flush in flight): the callback, a broker stopping in sluiced, runs on
 * a later loop turn, not inside the deletion that goes on using the log
 * manager (it crashed at shutdown when a topic was deleted meanwhile). */
START_TEST(test_flush_all_last_flush_ended_by_a_deletion)
{
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("gone", 1);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct partition *p = replica_manager_partition(&rm, "gone", 0);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 3, 10, 1000, 7);
    ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
    buf_free(&b);
    flushed_calls = 0;
    ck_assert_int_eq(log_manager_flush_all(&rm.logs, on_flushed_all, NULL), 0);
    remove_topic("gone"); /* its flush is still on the thread pool */
    metadata_quorum_refresh(v);
    ck_assert_ptr_null(replica_manager_partition(&rm, "gone", 0));
    ck_assert_int_eq(flushed_calls, 0);
    ck_assert_int_eq(log_manager_flush_all(&rm.logs, on_flushed_all, NULL), -EBUSY);
    while (flushed_calls == 0) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(flushed_calls, 1);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* A log closed while a flush pass is under way, before the pass reached it
 * (its topic deleted): the pass skips it and still ends, calling back once.
 * "gone" is opened first, so the pass takes it last: the first
 * LOG_MANAGER_FLUSH_ALL_IN_FLIGHT flushes are "kept"'s and the pass waits
 * on "gone" when it is deleted. */
START_TEST(test_flush_all_log_closed_meanwhile)
{
    const int32_t n = LOG_MANAGER_FLUSH_ALL_IN_FLIGHT;
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("gone", 1);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    add_topic("kept", n);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    for (int32_t i = 0; i < n; i++) {
        struct partition *p = replica_manager_partition(&rm, "kept", i);
        struct buf b = BUF_INIT;
        struct log_append_info info;
        tb_batch(&b, 3, 10, 1000, 7);
        ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
        buf_free(&b);
    }
    flushed_calls = 0;
    ck_assert_int_eq(log_manager_flush_all(&rm.logs, on_flushed_all, NULL), 0);
    remove_topic("gone");
    metadata_quorum_refresh(v);
    ck_assert_ptr_null(replica_manager_partition(&rm, "gone", 0));
    while (flushed_calls == 0) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(flushed_calls, 1);
    ck_assert_uint_eq(rm.logs.flush_all_stats.flushed, (uint64_t)n);
    for (int32_t i = 0; i < n; i++) {
        struct partition *p = replica_manager_partition(&rm, "kept", i);
        ck_assert_int_eq(partition_log_durable_offset(p->log), 3);
    }
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* Deleted while its partitions were being opened: once the opens are done
 * nothing is hosted and the directories they made are gone, as if the
 * topic had been deleted after opening. */
START_TEST(test_topic_deleted_while_opening)
{
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("gone", 20);
    metadata_quorum_refresh(v);
    ck_assert_uint_eq(replica_manager_opening(&rm), 20);
    remove_topic("gone");
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    for (int32_t i = 0; i < 20; i++) {
        ck_assert_ptr_null(replica_manager_partition(&rm, "gone", i));
        ck_assert(!dir_exists("gone", i));
    }
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* Deleted and created again (a new topic id) while the first opens are in
 * flight: the second opens of the same directories wait for the first, and
 * the partitions end up hosted, empty, with the new topic's id. */
START_TEST(test_recreated_while_opening)
{
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("again", 10);
    metadata_quorum_refresh(v);
    remove_topic("again");
    metadata_quorum_refresh(v);
    add_topic_id("again", 10, 0x43);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    for (int32_t i = 0; i < 10; i++) {
        struct partition *p = replica_manager_partition(&rm, "again", i);
        ck_assert_ptr_nonnull(p);
        ck_assert(partition_is_leader(p));
        char id[40];
        recorded_id("again", i, id, sizeof id);
        ck_assert_str_eq(id, "43434343434343434343434343434343");
    }
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* Stopping while partitions are being opened waits for them and closes
 * them: nothing leaks, and a restart hosts them all (opened at start-up on
 * the thread pool, before replica_manager_start returns). */
START_TEST(test_stop_while_opening_then_restart)
{
    struct metadata_view *v;
    struct replica_manager rm;
    int before = open_fds();
    rfx_start(&rfx, &v, &rm);
    add_topic("halfway", 50);
    metadata_quorum_refresh(v);
    rfx_stop(&rfx, v, &rm);
    ck_assert_int_eq(open_fds(), before);
    rfx_start(&rfx, &v, &rm);
    ck_assert_uint_eq(replica_manager_opening(&rm), 0);
    for (int32_t i = 0; i < 50; i++) {
        ck_assert_ptr_nonnull(replica_manager_partition(&rm, "halfway", i));
    }
    rfx_stop(&rfx, v, &rm);
    ck_assert_int_eq(open_fds(), before);
}
END_TEST

/* A waiter for some topics' opens, and what it saw when it ran. */
struct opens_probe {
    struct replica_opens_waiter w;
    struct replica_manager *rm;
    bool ran;
    size_t opening; /* partitions of any topic still being opened then */
    bool hosted;    /* the partitions of "small" were hosted then */
};

static void probe_ran(struct replica_opens_waiter *w)
{
    struct opens_probe *p = (struct opens_probe *)w;
    p->ran = true;
    p->opening = replica_manager_opening(p->rm);
    p->hosted = replica_manager_partition(p->rm, "small", 0) != NULL &&
                replica_manager_partition(p->rm, "small", 1) != NULL;
}

static void probe_wait(struct opens_probe *p, struct replica_manager *rm, const char *const *topics,
                       size_t n)
{
    memset(p, 0, sizeof *p);
    p->rm = rm;
    p->w.cb = probe_ran;
    p->w.topics = topics;
    p->w.n_topics = n;
    replica_manager_after_opens(rm, &p->w);
}

/* An admin answer waits for its own topics' opens only: a small topic
 * created behind a wide one is answered (its partitions hosted) while the
 * wide one's are still being opened; the wide one's waiter runs once all of
 * its partitions are; a waiter naming no topic, or one not hosted here, runs
 * at once. */
START_TEST(test_waiters_wait_for_their_own_topics_only)
{
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("small", 2);
    metadata_quorum_refresh(v);
    add_topic("wide", 300);
    metadata_quorum_refresh(v);
    ck_assert_uint_eq(replica_manager_opening(&rm), 302);
    static const char *const small[] = {"small"}, *const wide[] = {"wide", "small"},
                             *const other[] = {"elsewhere"};
    struct opens_probe ps, pw, none, elsewhere;
    probe_wait(&ps, &rm, small, 1);
    probe_wait(&pw, &rm, wide, 2);
    probe_wait(&none, &rm, NULL, 0);
    probe_wait(&elsewhere, &rm, other, 1);
    ck_assert(none.ran && elsewhere.ran);
    ck_assert(!ps.ran && !pw.ran);
    while (!ps.ran) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert(ps.hosted);
    ck_assert_uint_gt(ps.opening, 0); /* the wide topic's opens did not hold it */
    ck_assert(!pw.ran);
    rfx_settle(&rfx, &rm);
    ck_assert(pw.ran);
    ck_assert_uint_eq(pw.opening, 0);
    ck_assert_ptr_nonnull(replica_manager_partition(&rm, "wide", 299));

    /* Stopping runs a waiter whose opens are still in flight. */
    add_topic("late", 20);
    metadata_quorum_refresh(v);
    static const char *const late[] = {"late"};
    struct opens_probe pl;
    probe_wait(&pl, &rm, late, 1);
    ck_assert(!pl.ran);
    rfx_stop(&rfx, v, &rm);
    ck_assert(pl.ran);
}
END_TEST

/* A scripted controller link: each AlterPartition is held until the test
 * answers it. */
struct held_alter {
    replica_alter_cb cb;
    void *arg;
    uint8_t topic_id[16];
    int32_t leader_epoch, partition_epoch;
    int32_t isr[4];
    int32_t n_isr;
};
static struct held_alter held[8];
static size_t n_held;

static int64_t held_broker_epoch(void *data)
{
    (void)data;
    return 10;
}

static int hold_alter(void *data, const uint8_t topic_id[16], int32_t index, int32_t leader_epoch,
                      int32_t partition_epoch, const int32_t *isr, const int64_t *broker_epochs,
                      int32_t n_isr, replica_alter_cb cb, void *arg)
{
    (void)data, (void)index, (void)broker_epochs;
    ck_assert_uint_lt(n_held, 8);
    ck_assert_int_le(n_isr, 4);
    held[n_held] = (struct held_alter){cb, arg, {0}, leader_epoch, partition_epoch, {0}, n_isr};
    memcpy(held[n_held].topic_id, topic_id, 16);
    memcpy(held[n_held].isr, isr, (size_t)n_isr * sizeof *isr);
    n_held++;
    return 0;
}

/* Broker 2's registration epoch (itu_add_broker's). */
#define FOLLOWER_EPOCH 12

static void append_three(struct partition *p)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 3, 10, 1000, 7);
    ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
    buf_free(&b);
}

/* Topic `name` of `n` partitions led here (broker 1) with replicas {1, 2}
 * and ISR {1}, its id 16 bytes of `id_byte`. */
static TopicState *add_pair_topic(const char *name, int32_t n, uint8_t id_byte)
{
    static const int32_t both[] = {1, 2};
    TopicState *t = add_topic_id(name, n, id_byte);
    for (size_t i = 0; i < t->n_partitions; i++) {
        PartitionState *ps = t->partitions[i];
        ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, both, 2), 0);
    }
    return t;
}

/* A replica manager with the scripted controller, no AlterPartition held. */
static void start_scripted(struct metadata_view **v, struct replica_manager *rm)
{
    static struct replica_controller rc = {.broker_epoch = held_broker_epoch,
                                           .alter_partition = hold_alter};
    rfx_start(&rfx, v, rm);
    replica_manager_set_controller(rm, &rc);
    n_held = 0;
}

/* Topic "isr" (add_pair_topic) of one partition, hosted by a replica
 * manager with the scripted controller. */
static struct partition *led_pair(struct metadata_view **v, struct replica_manager *rm)
{
    start_scripted(v, rm);
    add_pair_topic("isr", 1, 0x42);
    metadata_quorum_refresh(*v);
    rfx_settle(&rfx, rm);
    struct partition *p = replica_manager_partition(rm, "isr", 0);
    ck_assert_ptr_nonnull(p);
    ck_assert(partition_is_leader(p));
    return p;
}

/* Broker 2's follower of `p` fetches at `offset` as registration `epoch`
 * (-1: not registered yet), and the leader does what replica_service does
 * with a fetch: propose it for the ISR if it may join. Returns whether it
 * may. */
static bool fetch_as(struct replica_manager *rm, struct partition *p, int64_t epoch, int64_t offset)
{
    bool may_join = partition_follower_fetched(p, 2, epoch, offset, 0, uv_now(&rfx.loop));
    if (may_join) {
        replica_isr_expand(rm, p, 2);
    }
    return may_join;
}

/* fetch_as broker 2's registration in the image. */
static bool follower_fetches(struct replica_manager *rm, struct partition *p, int64_t offset)
{
    return fetch_as(rm, p, FOLLOWER_EPOCH, offset);
}

/* led_pair with broker 2 registered but fenced, and 3 records appended. */
static struct partition *fenced_pair(struct metadata_view **v, struct replica_manager *rm)
{
    itu_add_broker(rfx.img, 2);
    itu_set_fenced(rfx.img, 2, true);
    struct partition *p = led_pair(v, rm);
    append_three(p);
    return p;
}

/* Broker 2 fenced (true) or unfenced in the image, and the view refreshed. */
static void fence_2(struct metadata_view *v, bool fenced)
{
    itu_set_fenced(rfx.img, 2, fenced);
    metadata_quorum_refresh(v);
}

/* Deleted and created again (same name, leader epoch 0 again) while an ISR
 * change of the old topic's partition waits for its answer (AlterPartition
 * requests are batched, one in flight: issue 14): the new partition's own
 * proposal stays in flight, its proposed ISR counting for the high
 * watermark (KIP-497), until its own answer; the old topic's answer
 * (UNKNOWN_TOPIC_ID) is not applied to it. */
START_TEST(test_alter_answer_for_recreated_topic_ignored)
{
    struct metadata_view *v;
    struct replica_manager rm;
    itu_add_broker(rfx.img, 2);
    struct partition *old = led_pair(&v, &rm);
    ck_assert(follower_fetches(&rm, old, 0));
    ck_assert_uint_eq(n_held, 1);
    ck_assert(old->alter_in_flight);

    remove_topic("isr");
    metadata_quorum_refresh(v);
    add_pair_topic("isr", 1, 0x43);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct partition *p = replica_manager_partition(&rm, "isr", 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->leader_epoch, 0);
    ck_assert(!p->alter_in_flight);
    ck_assert(follower_fetches(&rm, p, 0));
    ck_assert_uint_eq(n_held, 2);
    ck_assert_uint_eq(held[1].topic_id[0], 0x43);
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(p->n_pending_isr, 2);

    /* The old topic's answer: its partition is gone. */
    held[0].cb(held[0].arg, KAFKA_ERROR_UNKNOWN_TOPIC_ID, -1, -1, -1, NULL, 0);
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(p->n_pending_isr, 2);
    ck_assert_int_eq(p->n_isr, 1);

    /* Its own answer ends it. */
    static const int32_t both[] = {1, 2};
    held[1].cb(held[1].arg, 0, 1, 0, 1, both, 2);
    ck_assert(!p->alter_in_flight);
    ck_assert_int_eq(p->n_isr, 2);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* led_pair with broker 2 registered and unfenced, its follower caught up
 * at offset 0 and proposed for the ISR; then 3 records appended, so the
 * high watermark shows whether 2 (which fetched nothing since) still
 * counts: 0 if it does, 3 if not. */
static struct partition *isr_partition(struct metadata_view **v, struct replica_manager *rm)
{
    itu_add_broker(rfx.img, 2);
    struct partition *p = led_pair(v, rm);
    ck_assert(follower_fetches(rm, p, 0));
    ck_assert_uint_eq(n_held, 1);
    ck_assert_int_eq(held[0].partition_epoch, 0);
    ck_assert_int_eq(held[0].n_isr, 2);
    append_three(p);
    ck_assert_int_eq(partition_high_watermark(p), 0); /* 2 is proposed */
    return p;
}

/* KIP-841 (Kafka's isReplicaIsrEligible): a follower caught up on a broker
 * the view does not show, unregistered or registered but fenced (a
 * restarted broker catches up before the controller unfences it), is not
 * proposed for the ISR: the controller would refuse it (INELIGIBLE_REPLICA)
 * and the partition would then propose nothing for
 * REPLICA_ISR_ALTER_RETRY_MS, past the unfencing. Nothing is logged at INFO
 * for those fetches. Once the view shows the broker the join is proposed at
 * once, with no further fetch (the follower's next may be parked for
 * replica.fetch.wait.max.ms). */
START_TEST(test_join_waits_for_the_broker_to_be_shown)
{
    struct metadata_view *v;
    struct replica_manager rm;
    struct partition *p = led_pair(&v, &rm);
    append_three(p);
    memset(caught_up_lines, 0, sizeof caught_up_lines);
    ck_assert(follower_fetches(&rm, p, 3)); /* unregistered */
    ck_assert_uint_eq(n_held, 0);
    ck_assert(!p->alter_in_flight);

    itu_add_broker(rfx.img, 2);
    fence_2(v, true);
    for (int i = 0; i < 3; i++) {
        ck_assert(follower_fetches(&rm, p, 3)); /* registered, fenced */
    }
    ck_assert_uint_eq(n_held, 0);
    ck_assert_int_eq(caught_up_lines[LOG_LEVEL_INFO], 0);
    ck_assert_uint_eq(p->alter_retry_ms, 0); /* nothing refused: no retry delay */

    fence_2(v, false);
    ck_assert_uint_eq(n_held, 1);
    ck_assert_int_eq(held[0].n_isr, 2);
    ck_assert_int_eq(held[0].isr[0], 1);
    ck_assert_int_eq(held[0].isr[1], 2);
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(caught_up_lines[LOG_LEVEL_INFO], 1);
    static const int32_t both[] = {1, 2};
    held[0].cb(held[0].arg, KAFKA_ERROR_NONE, 1, 0, 1, both, 2);
    ck_assert_int_eq(p->n_isr, 2);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* A broker that appears has its follower proposed only as a fetch would:
 * not while it is behind the high watermark, not during the retry delay
 * after a refusal, not while another change is in flight. */
START_TEST(test_shown_broker_joins_by_the_fetch_rules)
{
    struct metadata_view *v;
    struct replica_manager rm;
    struct partition *p = fenced_pair(&v, &rm);
    ck_assert(!follower_fetches(&rm, p, 1)); /* behind */
    fence_2(v, false);
    ck_assert_uint_eq(n_held, 0);

    fence_2(v, true);
    ck_assert(follower_fetches(&rm, p, 3));
    p->alter_retry_ms = uv_now(&rfx.loop) + 60000; /* as after a refusal */
    fence_2(v, false);
    ck_assert_uint_eq(n_held, 0);

    fence_2(v, true);
    p->alter_retry_ms = 0;
    static const int32_t self[] = {1};
    partition_isr_proposed(p, self, 1); /* another change in flight */
    fence_2(v, false);
    ck_assert_uint_eq(n_held, 0);
    partition_isr_answered(p, NULL);

    fence_2(v, true);
    fence_2(v, false);
    ck_assert_uint_eq(n_held, 1);
    ck_assert_int_eq(held[0].n_isr, 2);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* KIP-903: progress from another registration of the follower's broker
 * (an earlier incarnation, whose log may be gone, or one that had not
 * registered yet) does not make it eligible: the controller would refuse
 * it. When the broker appears, a follower that last fetched as another
 * registration is not proposed; its first fetch as the registration shown
 * is. */
START_TEST(test_join_needs_the_registration_shown)
{
    struct metadata_view *v;
    struct replica_manager rm;
    struct partition *p = fenced_pair(&v, &rm);
    ck_assert(fetch_as(&rm, p, FOLLOWER_EPOCH - 1, 3));
    fence_2(v, false);
    ck_assert_uint_eq(n_held, 0);
    ck_assert(fetch_as(&rm, p, -1, 3));
    ck_assert_uint_eq(n_held, 0);
    ck_assert(follower_fetches(&rm, p, 3));
    ck_assert_uint_eq(n_held, 1);
    ck_assert_int_eq(held[0].n_isr, 2);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* The metadata brings partition "isr"-0 at `partition_epoch` with `isr`. */
static void isr_metadata(struct metadata_view *v, struct replica_manager *rm,
                         int32_t partition_epoch, const int32_t *isr, int32_t n_isr)
{
    for (size_t i = 0; i < rfx.img->n_topics; i++) {
        if (strcmp(rfx.img->topics[i]->name, "isr") == 0) {
            PartitionState *ps = rfx.img->topics[i]->partitions[0];
            ps->partition_epoch = partition_epoch;
            ck_assert_int_eq(image_set_ints(&ps->isr, &ps->n_isr, isr, n_isr), 0);
        }
    }
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, rm);
}

/* An expansion whose answer is lost (the controller may have committed it):
 * broker 2 keeps counting for the high watermark (it may be elected with
 * the committed ISR), and once the retry delay is over the same proposal,
 * against the same partition epoch, goes again; its NONE ends it. */
START_TEST(test_alter_unanswered_keeps_proposed_isr_and_resends)
{
    struct metadata_view *v;
    struct replica_manager rm;
    struct partition *p = isr_partition(&v, &rm);

    held[0].cb(held[0].arg, REPLICA_ALTER_UNKNOWN, -1, -1, -1, NULL, 0);
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(p->n_pending_isr, 2);
    ck_assert_int_eq(partition_high_watermark(p), 0);
    replica_isr_expand(&rm, p, 2); /* the retry delay is not over */
    ck_assert_uint_eq(n_held, 1);
    replica_isr_shrink_lagging(&rm);
    ck_assert_uint_eq(n_held, 1);

    p->alter_retry_ms = 0; /* the retry delay is over (without sleeping) */
    replica_isr_expand(&rm, p, 2);
    ck_assert_uint_eq(n_held, 2);
    ck_assert_int_eq(held[1].partition_epoch, held[0].partition_epoch);
    ck_assert_int_eq(held[1].leader_epoch, held[0].leader_epoch);
    ck_assert_int_eq(held[1].n_isr, 2);
    ck_assert_int_eq(held[1].isr[0], 1);
    ck_assert_int_eq(held[1].isr[1], 2);
    ck_assert(p->alter_in_flight);

    /* UNKNOWN_SERVER_ERROR (and NOT_CONTROLLER retried out) prove nothing
     * either. */
    held[1].cb(held[1].arg, KAFKA_ERROR_NOT_CONTROLLER, -1, -1, -1, NULL, 0);
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(partition_high_watermark(p), 0);
    p->alter_retry_ms = 0;
    replica_isr_shrink_lagging(&rm); /* the lag scan resends too */
    ck_assert_uint_eq(n_held, 3);
    ck_assert_int_eq(held[2].partition_epoch, 0);

    /* The controller finds it committed: NONE with the committed state. */
    static const int32_t both[] = {1, 2};
    held[2].cb(held[2].arg, KAFKA_ERROR_NONE, 1, 0, 1, both, 2);
    ck_assert(!p->alter_in_flight);
    ck_assert_int_eq(p->n_pending_isr, -1);
    ck_assert_int_eq(p->n_isr, 2);
    ck_assert_int_eq(p->partition_epoch, 1);
    ck_assert_int_eq(partition_high_watermark(p), 0); /* 2 is in the ISR now */
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* INVALID_UPDATE_VERSION (a duplicate of a change that committed loses the
 * compare-and-set, or another change won): the proposed ISR keeps counting
 * and nothing is proposed until the metadata brings a newer partition
 * epoch; then the ISR is the committed one and the partition proposes
 * again. */
START_TEST(test_alter_lost_version_waits_for_metadata)
{
    struct metadata_view *v;
    struct replica_manager rm;
    struct partition *p = isr_partition(&v, &rm);

    held[0].cb(held[0].arg, KAFKA_ERROR_INVALID_UPDATE_VERSION, -1, -1, -1, NULL, 0);
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(p->n_pending_isr, 2);
    ck_assert_int_eq(partition_high_watermark(p), 0);
    p->alter_retry_ms = 0;
    replica_isr_expand(&rm, p, 2);
    replica_isr_shrink_lagging(&rm);
    ck_assert_uint_eq(n_held, 1); /* it waits for the metadata */

    static const int32_t self[] = {1}, both[] = {1, 2};
    isr_metadata(v, &rm, 0, self, 1); /* the same partition epoch settles nothing */
    ck_assert(p->alter_in_flight);
    ck_assert_int_eq(partition_high_watermark(p), 0);

    isr_metadata(v, &rm, 1, both, 2);
    ck_assert(!p->alter_in_flight);
    ck_assert_int_eq(p->n_pending_isr, -1);
    ck_assert_int_eq(p->n_isr, 2);
    ck_assert_int_eq(p->partition_epoch, 1);
    ck_assert_int_eq(partition_high_watermark(p), 0);

    /* Another change won (the ISR without 2 at a newer epoch): settled, and
     * 2 is proposed again. */
    isr_metadata(v, &rm, 2, self, 1);
    ck_assert_int_eq(p->n_isr, 1);
    replica_isr_expand(&rm, p, 2);
    ck_assert_uint_eq(n_held, 2);
    ck_assert_int_eq(held[1].partition_epoch, 2);
    /* ... and this one's answer carries the winner's committed state, for
     * this leader epoch: adopted at once, which settles it. */
    held[1].cb(held[1].arg, KAFKA_ERROR_INVALID_UPDATE_VERSION, 1, 0, 3, self, 1);
    ck_assert(!p->alter_in_flight);
    ck_assert_int_eq(p->partition_epoch, 3);
    ck_assert_int_eq(p->n_isr, 1);
    ck_assert_int_eq(partition_high_watermark(p), 3);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* A refusal that proves nothing changed ends the proposal as before: the
 * proposed member stops counting, and nothing is proposed for the retry
 * delay. */
START_TEST(test_alter_refusal_clears_proposed_isr)
{
    static const int32_t refusals[] = {KAFKA_ERROR_INELIGIBLE_REPLICA,
                                       KAFKA_ERROR_FENCED_LEADER_EPOCH, REPLICA_ALTER_NOT_SENT};
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        struct metadata_view *v;
        struct replica_manager rm;
        struct partition *p = isr_partition(&v, &rm);
        held[0].cb(held[0].arg, refusals[i], -1, -1, -1, NULL, 0);
        ck_assert(!p->alter_in_flight);
        ck_assert_int_eq(p->n_pending_isr, -1);
        ck_assert_int_eq(p->n_isr, 1);
        ck_assert_int_eq(partition_high_watermark(p), 3);
        replica_isr_expand(&rm, p, 2);
        ck_assert_uint_eq(n_held, 1); /* not again before the retry delay */
        rfx_stop(&rfx, v, &rm);
        remove_topic("isr");
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s/isr-0", rfx.dir); /* the next round starts empty */
        ck_assert_int_eq(system(cmd), 0);
    }
}
END_TEST

/* With no controller answering, every led partition's proposal goes
 * unanswered at each retry: one INFO line per round (the count, every
 * distinct answer with its count, and the first partitions), each
 * partition at DEBUG only. */
START_TEST(test_alter_unanswered_logged_once_per_round)
{
    struct metadata_view *v;
    struct replica_manager rm;
    itu_add_broker(rfx.img, 2);
    start_scripted(&v, &rm);
    add_pair_topic("many", 4, 0x42);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    for (int32_t i = 0; i < 4; i++) {
        ck_assert(follower_fetches(&rm, replica_manager_partition(&rm, "many", i), 0));
    }
    ck_assert_uint_eq(n_held, 4);

    /* The first round mixes answers; the second has one kind only, so its
     * line must not carry the first round's counts. */
    static const int32_t answers[2][4] = {{REPLICA_ALTER_UNKNOWN, KAFKA_ERROR_NOT_CONTROLLER,
                                           REPLICA_ALTER_UNKNOWN, KAFKA_ERROR_REQUEST_TIMED_OUT},
                                          {REPLICA_ALTER_UNKNOWN, REPLICA_ALTER_UNKNOWN,
                                           REPLICA_ALTER_UNKNOWN, REPLICA_ALTER_UNKNOWN}};
    static const char *const errors[2] = {
        "partitions=4 errors=UNKNOWN:2,NOT_CONTROLLER:1,REQUEST_TIMED_OUT:1 ",
        "partitions=4 errors=UNKNOWN:4 "};
    memset(unanswered_lines, 0, sizeof unanswered_lines);
    for (size_t round = 0; round < 2; round++) {
        for (size_t i = 0; i < 4; i++) {
            held[round * 4 + i].cb(held[round * 4 + i].arg, answers[round][i], -1, -1, -1, NULL, 0);
        }
        uv_run(&rfx.loop, UV_RUN_NOWAIT); /* the round's line follows its answers */
        ck_assert_int_eq(unanswered_lines[LOG_LEVEL_INFO], (int)round + 1);
        ck_assert_int_eq(unanswered_lines[LOG_LEVEL_DEBUG], 4 * ((int)round + 1));
        ck_assert_msg(strstr(unanswered_info, errors[round]) != NULL, "%s", unanswered_info);
        ck_assert_ptr_nonnull(strstr(unanswered_info, "first=many-0,many-1,many-2,..."));
        if (round == 0) {
            /* The retry delay is over (without sleeping): the lag scan
             * sends all four again, for the next round. */
            for (int32_t i = 0; i < 4; i++) {
                replica_manager_partition(&rm, "many", i)->alter_retry_ms = 0;
            }
            replica_isr_shrink_lagging(&rm);
            ck_assert_uint_eq(n_held, 8);
        }
    }
    rfx_stop(&rfx, v, &rm);
    ck_assert_int_eq(unanswered_lines[LOG_LEVEL_INFO], 2);
}
END_TEST

/* However many distinct answers a round has, its line stays bounded: the
 * first ISR_RETRY_LOG_ERRORS by name or number, the rest as "other". */
START_TEST(test_unanswered_line_bounded)
{
    struct isr_retry_log l;
    isr_retry_log_init(&l, &rfx.loop);
    memset(unanswered_lines, 0, sizeof unanswered_lines);
    for (int32_t code = 1; code <= 40; code++) {
        isr_retry_log_add(&l, "bounded", code, code); /* codes 1..40, one partition each */
    }
    isr_retry_log_add(&l, "bounded", 41, 30000); /* no Kafka name: "other" too */
    isr_retry_log_close(&l);
    uv_run(&rfx.loop, UV_RUN_NOWAIT); /* the timer's close finishes */
    ck_assert_int_eq(unanswered_lines[LOG_LEVEL_INFO], 1);
    ck_assert_msg(strstr(unanswered_info,
                         "partitions=41 errors=OFFSET_OUT_OF_RANGE:1,CORRUPT_MESSAGE:1,"
                         "UNKNOWN_TOPIC_OR_PARTITION:1,INVALID_FETCH_SIZE:1,"
                         "LEADER_NOT_AVAILABLE:1,NOT_LEADER_OR_FOLLOWER:1,other:35 ") != NULL,
                  "%s", unanswered_info);
}
END_TEST

/* An answer Kafka has no name for is shown as its number. */
START_TEST(test_unanswered_line_unnamed_code)
{
    struct isr_retry_log l;
    isr_retry_log_init(&l, &rfx.loop);
    isr_retry_log_add(&l, "unnamed", 0, 30000);
    isr_retry_log_close(&l);
    uv_run(&rfx.loop, UV_RUN_NOWAIT);
    ck_assert_msg(strstr(unanswered_info, "partitions=1 errors=30000:1 ") != NULL, "%s",
                  unanswered_info);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replica_manager");
    TCase *tc = tcase_create("hosting");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_open_failure_takes_only_that_partition_offline);
    tcase_add_test(tc, test_many_partitions_open_off_the_loop);
    tcase_add_test(tc, test_flush_all_before_stop);
    tcase_add_test(tc, test_flush_all_log_closed_meanwhile);
    tcase_add_test(tc, test_flush_all_last_flush_ended_by_a_deletion);
    tcase_add_test(tc, test_topic_deleted_while_opening);
    tcase_add_test(tc, test_recreated_while_opening);
    tcase_add_test(tc, test_stop_while_opening_then_restart);
    tcase_add_test(tc, test_waiters_wait_for_their_own_topics_only);
    tcase_add_test(tc, test_alter_answer_for_recreated_topic_ignored);
    tcase_add_test(tc, test_alter_unanswered_keeps_proposed_isr_and_resends);
    tcase_add_test(tc, test_alter_lost_version_waits_for_metadata);
    tcase_add_test(tc, test_alter_refusal_clears_proposed_isr);
    tcase_add_test(tc, test_join_waits_for_the_broker_to_be_shown);
    tcase_add_test(tc, test_shown_broker_joins_by_the_fetch_rules);
    tcase_add_test(tc, test_join_needs_the_registration_shown);
    tcase_add_test(tc, test_alter_unanswered_logged_once_per_round);
    tcase_add_test(tc, test_unanswered_line_bounded);
    tcase_add_test(tc, test_unanswered_line_unnamed_code);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
