/* broker/replica/replica_session: follower fetch sessions on the leader:
 * creation, the cached partitions filling in an incremental request,
 * forgotten partitions, epochs, what an answer carries, eviction and the
 * bounds. */
#include "broker/replica/replica_session.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Sluice__Replica__FetchPartition FetchPartition;
typedef Sluice__Replica__ReplicaFetchRequest FetchRequest;

/* A request's storage: partitions [from, to) of topic "t" at `offset`, and
 * forgotten ones. */
struct req {
    FetchRequest body;
    FetchPartition *parts, **ptrs;
    Sluice__Replica__PartitionRef *forgot, **fptrs;
};

static struct req *request(int32_t replica, int32_t id, int32_t epoch, int32_t from, int32_t to,
                           int64_t offset)
{
    struct req *r = calloc(1, sizeof *r);
    size_t n = (size_t)(to > from ? to - from : 0);
    r->parts = calloc(n + 1, sizeof *r->parts);
    r->ptrs = calloc(n + 1, sizeof *r->ptrs);
    sluice__replica__replica_fetch_request__init(&r->body);
    r->body.replica_id = replica;
    r->body.session_id = id;
    r->body.session_epoch = epoch;
    for (size_t i = 0; i < n; i++) {
        sluice__replica__fetch_partition__init(&r->parts[i]);
        r->parts[i].topic = "t";
        r->parts[i].partition = from + (int32_t)i;
        r->parts[i].fetch_offset = offset;
        r->parts[i].current_leader_epoch = 3;
        r->parts[i].last_fetched_epoch = 2;
        r->parts[i].partition_max_bytes = 1000;
        r->ptrs[i] = &r->parts[i];
    }
    r->body.partitions = r->ptrs;
    r->body.n_partitions = n;
    return r;
}

static void forget(struct req *r, const int32_t *partitions, size_t n)
{
    r->forgot = calloc(n, sizeof *r->forgot);
    r->fptrs = calloc(n, sizeof *r->fptrs);
    for (size_t i = 0; i < n; i++) {
        sluice__replica__partition_ref__init(&r->forgot[i]);
        r->forgot[i].topic = "t";
        r->forgot[i].partition = partitions[i];
        r->fptrs[i] = &r->forgot[i];
    }
    r->body.forgotten = r->fptrs;
    r->body.n_forgotten = n;
}

static void req_free(struct req *r)
{
    free(r->parts);
    free(r->ptrs);
    free(r->forgot);
    free(r->fptrs);
    free(r);
}

/* Resolve a request and free it (the fetch holds a copy when in a session). */
static struct replica_session_fetch resolve(struct replica_session_cache *c, struct req *r,
                                            size_t max_sessions, uint64_t now)
{
    struct replica_session_fetch f;
    ck_assert_int_eq(replica_session_resolve(c, &r->body, max_sessions, now, true, &f), 0);
    return f;
}

static Sluice__Replica__FetchedPartition answer(int64_t hw, int32_t error, uint32_t records)
{
    Sluice__Replica__FetchedPartition a = SLUICE__REPLICA__FETCHED_PARTITION__INIT;
    a.high_watermark = hw;
    a.log_start_offset = 0;
    a.log_end_offset = hw;
    a.error_code = error;
    a.records_length = records;
    return a;
}

/* Answer every partition of `f` with high watermark `hw`; the count sent. */
static size_t answer_all(struct replica_session_cache *c, const struct replica_session_fetch *f,
                         int64_t hw)
{
    size_t sent = 0;
    for (size_t i = 0; i < f->n_partitions; i++) {
        Sluice__Replica__FetchedPartition a = answer(hw, 0, 0);
        sent += replica_session_should_send(c, f, i, &a);
    }
    return sent;
}

static const FetchPartition *find(const struct replica_session_fetch *f, int32_t partition)
{
    for (size_t i = 0; i < f->n_partitions; i++) {
        if (f->partitions[i]->partition == partition && strcmp(f->partitions[i]->topic, "t") == 0) {
            return f->partitions[i];
        }
    }
    return NULL;
}

START_TEST(test_sessionless_is_todays_fetch)
{
    struct replica_session_cache *c = replica_session_cache_new(1, NULL);
    /* The protobuf defaults (id 0, epoch 0): the request is the whole set,
     * every partition is answered, nothing is cached. */
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NONE, 0, 5, 10);
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    ck_assert_int_eq(f.error, 0);
    ck_assert_int_eq(f.session_id, 0);
    ck_assert_uint_eq(f.n_partitions, 5);
    ck_assert_ptr_eq(f.partitions, (const FetchPartition *const *)r->body.partitions);
    ck_assert_uint_eq(answer_all(c, &f, 4), 5);
    ck_assert_uint_eq(answer_all(c, &f, 4), 5);
    ck_assert_uint_eq(replica_session_cache_count(c), 0);
    replica_session_fetch_release(&f);
    req_free(r);
    replica_session_cache_free(c);
}
END_TEST

START_TEST(test_create_and_fill_in)
{
    struct replica_session_cache *c = replica_session_cache_new(1, NULL);
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, 4, 10);
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    int32_t id = f.session_id;
    ck_assert_int_gt(id, 0);
    ck_assert_uint_eq(f.n_partitions, 4);
    /* A new session's first answer names every partition. */
    ck_assert_uint_eq(answer_all(c, &f, 10), 4);
    replica_session_fetch_release(&f);

    /* An empty incremental request serves the whole set as last sent. */
    r = request(2, id, 2, 0, 0, 0);
    f = resolve(c, r, 8, 2);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    ck_assert_int_eq(f.session_id, id);
    ck_assert_uint_eq(f.n_partitions, 4);
    for (int32_t p = 0; p < 4; p++) {
        const FetchPartition *in = find(&f, p);
        ck_assert_ptr_nonnull(in);
        ck_assert_int_eq(in->fetch_offset, 10);
        ck_assert_int_eq(in->current_leader_epoch, 3);
        ck_assert_int_eq(in->last_fetched_epoch, 2);
        ck_assert_uint_eq(in->partition_max_bytes, 1000);
    }
    /* Nothing changed: nothing is answered. */
    ck_assert_uint_eq(answer_all(c, &f, 10), 0);
    /* Records, an error, a moved high watermark go in, each once. */
    Sluice__Replica__FetchedPartition a = answer(10, 0, 100);
    ck_assert(replica_session_should_send(c, &f, 0, &a));
    a = answer(10, 6, 0);
    ck_assert(replica_session_should_send(c, &f, 1, &a));
    ck_assert(replica_session_should_send(c, &f, 1, &a)); /* an error always */
    a = answer(10, 0, 0);
    ck_assert(replica_session_should_send(c, &f, 1, &a)); /* the error cleared */
    a = answer(11, 0, 0);
    ck_assert(replica_session_should_send(c, &f, 2, &a));
    ck_assert(!replica_session_should_send(c, &f, 2, &a));
    a.log_start_offset = 5;
    ck_assert(replica_session_should_send(c, &f, 2, &a));
    a.log_end_offset = 12;
    ck_assert(replica_session_should_send(c, &f, 2, &a));
    replica_session_fetch_release(&f);

    /* Partition 1 moves on: it is updated, the others are filled in, and
     * what the follower names is answered even if nothing else changed. */
    r = request(2, id, 3, 1, 2, 15);
    f = resolve(c, r, 8, 3);
    req_free(r);
    ck_assert_uint_eq(f.n_partitions, 4);
    ck_assert_int_eq(find(&f, 1)->fetch_offset, 15);
    ck_assert_int_eq(find(&f, 0)->fetch_offset, 10);
    for (size_t i = 0; i < f.n_partitions; i++) {
        a = answer(f.partitions[i]->partition == 2 ? 11 : 10, 0, 0);
        a.log_start_offset = f.partitions[i]->partition == 2 ? 5 : 0;
        a.log_end_offset = f.partitions[i]->partition == 2 ? 12 : 10;
        ck_assert_int_eq(replica_session_should_send(c, &f, i, &a),
                         f.partitions[i]->partition == 1);
    }
    replica_session_fetch_release(&f);
    replica_session_cache_free(c);
}
END_TEST

START_TEST(test_forgotten)
{
    struct replica_session_cache *c = replica_session_cache_new(7, NULL);
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, 5, 10);
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    req_free(r);
    int32_t id = f.session_id;
    answer_all(c, &f, 10);
    replica_session_fetch_release(&f);
    ck_assert_uint_eq(replica_session_cache_partitions(c), 5);
    /* 0 and 3 are forgotten, 7 is added. */
    r = request(2, id, 2, 7, 8, 0);
    forget(r, (int32_t[]){0, 3, 42}, 3);
    f = resolve(c, r, 8, 2);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    ck_assert_uint_eq(f.n_partitions, 4);
    ck_assert_ptr_null(find(&f, 0));
    ck_assert_ptr_null(find(&f, 3));
    ck_assert_ptr_nonnull(find(&f, 1));
    ck_assert_ptr_nonnull(find(&f, 2));
    ck_assert_ptr_nonnull(find(&f, 4));
    ck_assert_ptr_nonnull(find(&f, 7));
    ck_assert_uint_eq(replica_session_cache_partitions(c), 4);
    /* Only the new partition is answered. */
    ck_assert_uint_eq(answer_all(c, &f, 10), 1);
    replica_session_fetch_release(&f);
    /* Forgetting everything leaves an empty session that still works. */
    r = request(2, id, 3, 0, 0, 0);
    forget(r, (int32_t[]){1, 2, 4, 7}, 4);
    f = resolve(c, r, 8, 3);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    ck_assert_uint_eq(f.n_partitions, 0);
    ck_assert_uint_eq(replica_session_cache_partitions(c), 0);
    replica_session_fetch_release(&f);
    replica_session_cache_free(c);
}
END_TEST

START_TEST(test_epochs_and_ownership)
{
    struct replica_session_cache *c = replica_session_cache_new(3, NULL);
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, 2, 0);
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    req_free(r);
    int32_t id = f.session_id;
    replica_session_fetch_release(&f);
    /* The next epoch is 2: 3 is refused, and so is the session asked by
     * another follower or by an unknown id. */
    r = request(2, id, 3, 0, 0, 0);
    f = resolve(c, r, 8, 2);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_INVALID_EPOCH);
    ck_assert_uint_eq(f.n_partitions, 0);
    r = request(3, id, 2, 0, 0, 0);
    f = resolve(c, r, 8, 2);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_NOT_FOUND);
    r = request(2, id ^ 0x1234, 2, 0, 0, 0);
    f = resolve(c, r, 8, 2);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_NOT_FOUND);
    /* The refusals did not move the session on: epoch 2 works, then 3. */
    r = request(2, id, 2, 0, 0, 0);
    f = resolve(c, r, 8, 3);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    ck_assert_uint_eq(f.n_partitions, 2);
    replica_session_fetch_release(&f);
    r = request(2, id, 2, 0, 0, 0); /* a replay */
    f = resolve(c, r, 8, 4);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_INVALID_EPOCH);
    /* A new session closes the one it names. */
    r = request(2, id, REPLICA_SESSION_EPOCH_NEW, 0, 1, 0);
    f = resolve(c, r, 8, 5);
    req_free(r);
    int32_t id2 = f.session_id;
    ck_assert_int_ne(id2, 0);
    ck_assert_int_ne(id2, id);
    replica_session_fetch_release(&f);
    ck_assert_uint_eq(replica_session_cache_count(c), 1);
    r = request(2, id, 3, 0, 0, 0);
    f = resolve(c, r, 8, 6);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_NOT_FOUND);
    /* A sessionless fetch naming its session closes it. */
    r = request(2, id2, REPLICA_SESSION_EPOCH_NONE, 0, 1, 0);
    f = resolve(c, r, 8, 7);
    ck_assert_int_eq(f.session_id, 0);
    replica_session_fetch_release(&f);
    req_free(r);
    ck_assert_uint_eq(replica_session_cache_count(c), 0);
    replica_session_cache_free(c);
}
END_TEST

START_TEST(test_eviction)
{
    struct replica_session_cache *c = replica_session_cache_new(5, NULL);
    int32_t ids[3];
    for (int i = 0; i < 2; i++) {
        struct req *r = request(i, 0, REPLICA_SESSION_EPOCH_NEW, 0, 3, 0);
        struct replica_session_fetch f = resolve(c, r, 2, (uint64_t)i);
        req_free(r);
        ids[i] = f.session_id;
        replica_session_fetch_release(&f);
    }
    /* Session 0 is used again, so session 1 is the least recently used. */
    struct req *r = request(0, ids[0], 2, 0, 0, 0);
    struct replica_session_fetch f = resolve(c, r, 2, 10);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    replica_session_fetch_release(&f);
    r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, 3, 0);
    f = resolve(c, r, 2, 11);
    req_free(r);
    ids[2] = f.session_id;
    /* A fetch parked on a session outlives its eviction: its copy stays
     * valid and its answer names everything. */
    struct replica_session_fetch parked = f;
    ck_assert_uint_eq(replica_session_cache_count(c), 2);
    r = request(1, ids[1], 2, 0, 0, 0);
    f = resolve(c, r, 2, 12);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_NOT_FOUND);
    r = request(0, ids[0], 3, 0, 0, 0);
    f = resolve(c, r, 2, 13);
    req_free(r);
    ck_assert_int_eq(f.error, 0);
    replica_session_fetch_release(&f);
    /* A fourth session evicts session 2 (unused since 11), the parked one's. */
    r = request(3, 0, REPLICA_SESSION_EPOCH_NEW, 0, 3, 0);
    f = resolve(c, r, 2, 14);
    req_free(r);
    replica_session_fetch_release(&f);
    ck_assert_uint_eq(replica_session_cache_count(c), 2);
    ck_assert_uint_eq(parked.n_partitions, 3);
    ck_assert_str_eq(parked.partitions[2]->topic, "t");
    ck_assert_uint_eq(answer_all(c, &parked, 0), 3);
    ck_assert_uint_eq(answer_all(c, &parked, 0), 3);
    replica_session_fetch_release(&parked);
    replica_session_cache_free(c);
}
END_TEST

START_TEST(test_bounds)
{
    struct replica_session_cache *c = replica_session_cache_new(9, NULL);
    /* More partitions than a session holds: served without a session. */
    struct req *r =
        request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, REPLICA_SESSION_MAX_PARTITIONS + 1, 0);
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    ck_assert_int_eq(f.error, 0);
    ck_assert_int_eq(f.session_id, 0);
    ck_assert_uint_eq(f.n_partitions, REPLICA_SESSION_MAX_PARTITIONS + 1);
    ck_assert_uint_eq(replica_session_cache_count(c), 0);
    ck_assert_uint_eq(replica_session_cache_partitions(c), 0);
    replica_session_fetch_release(&f);
    req_free(r);
    /* A session grown past the bound incrementally is dropped: the
     * follower starts over (and then fetches without one). */
    r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, REPLICA_SESSION_MAX_PARTITIONS, 0);
    f = resolve(c, r, 8, 1);
    req_free(r);
    int32_t id = f.session_id;
    ck_assert_int_ne(id, 0);
    replica_session_fetch_release(&f);
    r = request(2, id, 2, REPLICA_SESSION_MAX_PARTITIONS, REPLICA_SESSION_MAX_PARTITIONS + 1, 0);
    f = resolve(c, r, 8, 2);
    req_free(r);
    ck_assert_int_eq(f.error, REPLICA_SESSION_ERR_NOT_FOUND);
    ck_assert_uint_eq(replica_session_cache_count(c), 0);
    ck_assert_uint_eq(replica_session_cache_partitions(c), 0);
    /* The number of sessions never passes the bound, whoever asks. */
    for (int i = 0; i < 50; i++) {
        r = request(i, 0, REPLICA_SESSION_EPOCH_NEW, 0, 2, 0);
        f = resolve(c, r, 4, (uint64_t)i);
        req_free(r);
        ck_assert_int_ne(f.session_id, 0);
        replica_session_fetch_release(&f);
        ck_assert_uint_le(replica_session_cache_count(c), 4);
    }
    ck_assert_uint_eq(replica_session_cache_partitions(c), 8);
    replica_session_cache_free(c);
}
END_TEST

/* Partitions [from, from + n) of topic "t" forgotten in `r`. */
static void forget_range(struct req *r, int32_t from, int32_t n)
{
    int32_t *parts = calloc((size_t)n, sizeof *parts);
    for (int32_t i = 0; i < n; i++) {
        parts[i] = from + i;
    }
    forget(r, parts, (size_t)n);
    free(parts);
}

/* A follower of more partitions than a request names moves its session on
 * to its next window, a request's worth, each round: one request names the
 * whole window, new to the session, and forgets the last one. The session
 * holds both for a moment and continues: a session bound below twice a
 * request's would drop it at every move (the follower then starts over,
 * past the window it asked for). */
START_TEST(test_session_moves_to_next_window)
{
    enum { W = REPLICA_FETCH_MAX_PARTITIONS };
    struct replica_session_cache *c = replica_session_cache_new(9, NULL);
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, W, 0);
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    req_free(r);
    int32_t id = f.session_id;
    ck_assert_int_ne(id, 0);
    replica_session_fetch_release(&f);
    for (int32_t epoch = 2; epoch < 5; epoch++) {
        int32_t from = epoch % 2 == 0 ? W : 0, last = W - from;
        r = request(2, id, epoch, from, from + W, 0);
        forget_range(r, last, W);
        f = resolve(c, r, 8, (uint64_t)epoch);
        req_free(r);
        ck_assert_int_eq(f.error, 0);
        ck_assert_int_eq(f.session_id, id);
        ck_assert_uint_eq(f.n_partitions, W);
        ck_assert_ptr_nonnull(find(&f, from));
        ck_assert_ptr_null(find(&f, last));
        ck_assert_uint_eq(replica_session_cache_partitions(c), W);
        replica_session_fetch_release(&f);
    }
    replica_session_cache_free(c);
}
END_TEST

START_TEST(test_duplicates_and_many_topics)
{
    /* A request naming a partition twice, and topics coming and going: the
     * answers still match the partitions they are for. */
    struct replica_session_cache *c = replica_session_cache_new(11, NULL);
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, 3, 0);
    r->parts[2].partition = 0; /* partition 0 twice */
    struct replica_session_fetch f = resolve(c, r, 8, 1);
    req_free(r);
    ck_assert_uint_eq(f.n_partitions, 2);
    int32_t id = f.session_id;
    ck_assert_uint_eq(answer_all(c, &f, 1), 2);
    replica_session_fetch_release(&f);
    char names[20][8];
    for (int round = 0; round < 20; round++) {
        r = request(2, id, 2 + round, 0, 1, round);
        snprintf(names[round], sizeof names[round], "x%d", round);
        r->parts[0].topic = names[round];
        if (round > 0) {
            forget(r, (int32_t[]){0}, 1);
            r->forgot[0].topic = names[round - 1];
        }
        f = resolve(c, r, 8, 2 + (uint64_t)round);
        req_free(r);
        ck_assert_int_eq(f.error, 0);
        ck_assert_uint_eq(f.n_partitions, 3);
        size_t sent = answer_all(c, &f, 1);
        ck_assert_uint_eq(sent, 1); /* only the new topic's partition */
        replica_session_fetch_release(&f);
    }
    ck_assert_uint_eq(replica_session_cache_partitions(c), 3);
    replica_session_cache_free(c);
}
END_TEST

static int states_freed;

static void count_free(void *state)
{
    states_freed++;
    free(state);
}

START_TEST(test_without_a_copy)
{
    /* How the leader serves a session: by index into the session, with the
     * partitions a request named, its own state kept with the session, and
     * a layout that tells when the indices no longer hold. */
    states_freed = 0;
    struct replica_session_cache *c = replica_session_cache_new(13, count_free);
    struct req *r = request(2, 0, REPLICA_SESSION_EPOCH_NEW, 0, 4, 10);
    struct replica_session_fetch f;
    ck_assert_int_eq(replica_session_resolve(c, &r->body, 8, 1, false, &f), 0);
    req_free(r);
    ck_assert(f.fresh);
    ck_assert_ptr_null(f.partitions);
    ck_assert_uint_eq(f.n_partitions, 4);
    ck_assert(replica_session_unchanged(c, &f));
    void **state = replica_session_state(c, &f);
    ck_assert_ptr_nonnull(state);
    *state = malloc(16);
    for (size_t i = 0; i < 4; i++) {
        FetchPartition p;
        int64_t told;
        replica_session_part(c, &f, i, &p, &told);
        ck_assert_str_eq(p.topic, "t");
        ck_assert_int_eq(p.fetch_offset, 10);
        ck_assert_int_eq(told, -1); /* not told anything yet */
        Sluice__Replica__FetchedPartition a = answer(7, 0, 0);
        ck_assert(replica_session_should_send(c, &f, i, &a));
    }
    int32_t id = f.session_id;
    uint64_t layout = f.layout;
    replica_session_fetch_release(&f);

    /* An incremental request naming partition 2 at a new offset: the same
     * layout, the named index found, the state kept. */
    r = request(2, id, 2, 2, 3, 11);
    ck_assert_int_eq(replica_session_resolve(c, &r->body, 8, 2, false, &f), 0);
    ck_assert(!f.fresh);
    ck_assert_uint_eq(f.layout, layout);
    size_t named[1];
    ck_assert_uint_eq(replica_session_named(c, &f, &r->body, named), 1);
    req_free(r);
    FetchPartition p;
    int64_t told;
    replica_session_part(c, &f, named[0], &p, &told);
    ck_assert_int_eq(p.partition, 2);
    ck_assert_int_eq(p.fetch_offset, 11);
    ck_assert_int_eq(told, -1); /* named: told again */
    replica_session_part(c, &f, named[0] == 0 ? 1 : 0, &p, &told);
    ck_assert_int_eq(told, 7);
    ck_assert_ptr_eq(*replica_session_state(c, &f), *state);
    struct replica_session_fetch parked = f;

    /* A new partition changes the layout: what was resolved before no
     * longer holds (a parked fetch answers a session error). */
    r = request(2, id, 3, 9, 10, 0);
    ck_assert_int_eq(replica_session_resolve(c, &r->body, 8, 3, false, &f), 0);
    req_free(r);
    ck_assert_uint_ne(f.layout, layout);
    ck_assert(!replica_session_unchanged(c, &parked));
    ck_assert(replica_session_unchanged(c, &f));
    ck_assert_int_eq(states_freed, 0);

    /* A new session of the same follower closes this one: its state goes. */
    r = request(2, id, REPLICA_SESSION_EPOCH_NEW, 0, 1, 0);
    ck_assert_int_eq(replica_session_resolve(c, &r->body, 8, 4, false, &f), 0);
    req_free(r);
    ck_assert_int_eq(states_freed, 1);
    ck_assert_ptr_null(*replica_session_state(c, &f));
    replica_session_cache_free(c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replica_session");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sessionless_is_todays_fetch);
    tcase_add_test(tc, test_create_and_fill_in);
    tcase_add_test(tc, test_forgotten);
    tcase_add_test(tc, test_epochs_and_ownership);
    tcase_add_test(tc, test_eviction);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_session_moves_to_next_window);
    tcase_add_test(tc, test_duplicates_and_many_topics);
    tcase_add_test(tc, test_without_a_copy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
