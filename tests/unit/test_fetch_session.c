/* broker/kafka/fetch_session: KIP-227 epochs, incremental updates, forgotten
 * partitions, what an incremental answer carries, and the cache's bounds. */
#include "broker/kafka/fetch_session.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <string.h>

static struct kafka_arena arena;

static void setup(void)
{
    kafka_arena_init(&arena, 1 << 20);
}

static void teardown(void)
{
    kafka_arena_free(&arena);
}

/* A request naming partitions [from, to) of topic "t" at offset `offset`. */
static struct kafka_fetch_request request(int32_t id, int32_t epoch, int32_t from, int32_t to,
                                          int64_t offset)
{
    struct kafka_fetch_request r;
    kafka_fetch_request_init(&r);
    r.session_id = id;
    r.session_epoch = epoch;
    struct kafka_fetch_request_topic *t = kafka_arena_alloc(&arena, sizeof *t);
    t->topic = "t";
    t->partitions_count = to - from;
    t->partitions =
        kafka_arena_alloc_array(&arena, (size_t)(to > from ? to - from : 1), sizeof *t->partitions);
    for (int32_t p = from; p < to; p++) {
        kafka_fetch_request_partition_init(&t->partitions[p - from]);
        t->partitions[p - from].partition = p;
        t->partitions[p - from].fetch_offset = offset;
    }
    r.topics = t;
    r.topics_count = 1;
    r.forgotten_topics_data_count = 0;
    return r;
}

START_TEST(test_epochs)
{
    struct fetch_session_cache *c = fetch_session_cache_new(10);
    struct fetch_session_use use;
    /* No session asked for: none made. */
    struct kafka_fetch_request r = request(0, -1, 0, 3, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 1, &use), 0);
    ck_assert_int_eq(use.session_id, 0);
    /* Epoch 0 starts one. */
    r = request(0, 0, 0, 3, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 1, &use), 0);
    int32_t id = use.session_id;
    ck_assert_int_ne(id, 0);
    ck_assert(!use.incremental);
    /* The next epoch is 1: 2 is refused, an unknown id too. */
    r = request(id, 2, 0, 0, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 2, &use), 0);
    ck_assert_int_eq(use.error, KAFKA_ERROR_INVALID_FETCH_SESSION_EPOCH);
    r = request(id + 1000, 1, 0, 0, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 2, &use), 0);
    ck_assert_int_eq(use.error, KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND);
    /* Epoch 1 continues with nothing named: the whole set is fetched. */
    r = request(id, 1, 0, 0, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 3, &use), 0);
    ck_assert_int_eq(use.error, 0);
    ck_assert(use.incremental);
    ck_assert_int_eq(r.topics_count, 1);
    ck_assert_int_eq(r.topics[0].partitions_count, 3);
    /* Epoch -1 closes it. */
    r = request(id, -1, 0, 1, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 4, &use), 0);
    ck_assert_int_eq(use.session_id, 0);
    r = request(id, 2, 0, 0, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 5, &use), 0);
    ck_assert_int_eq(use.error, KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND);
    fetch_session_cache_free(c);
}
END_TEST

START_TEST(test_incremental_updates_and_answers)
{
    struct fetch_session_cache *c = fetch_session_cache_new(10);
    struct fetch_session_use use;
    struct kafka_fetch_request r = request(0, 0, 0, 4, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 1, &use), 0);
    int32_t id = use.session_id;
    /* The first answer sends everything. */
    for (int32_t p = 0; p < 4; p++) {
        ck_assert(fetch_session_should_send(c, id, false, "t", p, 10, 0, 0, false));
    }
    /* Partition 2 moves to offset 7; partition 3 is forgotten. */
    r = request(id, 1, 2, 3, 7);
    struct kafka_fetch_request_forgotten_topic f = {"t", (int32_t[]){3}, 1};
    r.forgotten_topics_data = &f;
    r.forgotten_topics_data_count = 1;
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 2, &use), 0);
    ck_assert(use.incremental);
    ck_assert_int_eq(r.topics[0].partitions_count, 3);
    ck_assert(r.topics[0].partitions[2].fetch_offset == 7);
    /* Unchanged partitions stay out; records, a new high watermark or an
     * error go in. */
    ck_assert(!fetch_session_should_send(c, id, true, "t", 0, 10, 0, 0, false));
    ck_assert(fetch_session_should_send(c, id, true, "t", 1, 11, 0, 0, false));
    ck_assert(!fetch_session_should_send(c, id, true, "t", 1, 11, 0, 0, false));
    ck_assert(fetch_session_should_send(c, id, true, "t", 2, 10, 0, 0, true));
    ck_assert(fetch_session_should_send(c, id, true, "t", 0, 10, 0, 6, false));
    fetch_session_cache_free(c);
}
END_TEST

START_TEST(test_bounds)
{
    /* Two slots: a third session evicts the least recently used. */
    struct fetch_session_cache *c = fetch_session_cache_new(2);
    struct fetch_session_use use;
    int32_t ids[3];
    for (int i = 0; i < 3; i++) {
        struct kafka_fetch_request r = request(0, 0, 0, 1, 0);
        ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, (uint64_t)i, &use), 0);
        ids[i] = use.session_id;
    }
    struct kafka_fetch_request r = request(ids[0], 1, 0, 0, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 9, &use), 0);
    ck_assert_int_eq(use.error, KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND);
    r = request(ids[2], 1, 0, 0, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 9, &use), 0);
    ck_assert_int_eq(use.error, 0);
    fetch_session_cache_free(c);
    /* Zero slots: sessions off, every request full. */
    c = fetch_session_cache_new(0);
    r = request(0, 0, 0, 1, 0);
    ck_assert_int_eq(fetch_session_resolve(c, &r, &arena, 1, &use), 0);
    ck_assert_int_eq(use.session_id, 0);
    fetch_session_cache_free(c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("fetch_session");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_epochs);
    tcase_add_test(tc, test_incremental_updates_and_answers);
    tcase_add_test(tc, test_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
