/* broker/group: Kafka's group-to-partition mapping (Java's String.hashCode
 * over UTF-16) and the __consumer_offsets record schemas and batches. The
 * expected hashes are what the JVM computes for the same strings. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "broker/group/group_hash.h"
#include "broker/group/group_internal.h"
#include "broker/group/group_records.h"
#include "broker/log/control_batch.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "check_main.h"

START_TEST(test_java_hash)
{
    ck_assert_int_eq(group_java_hash("", 0), 0);
    ck_assert_int_eq(group_java_hash("foo", 3), 101574);
    ck_assert_int_eq(group_java_hash("hello", 5), 99162322);
    ck_assert_int_eq(group_java_hash("consumer-group-100", 18), -2737012);
    ck_assert_int_eq(group_java_hash("polygenelubricants", 18), INT32_MIN);
    /* U+00E9 is one UTF-16 unit; U+1F600 is the surrogate pair D83D DE00. */
    ck_assert_int_eq(group_java_hash("\xc3\xa9", 2), 233);
    ck_assert_int_eq(group_java_hash("\xf0\x9f\x98\x80", 4), 1772899);
}
END_TEST

START_TEST(test_partition_for)
{
    ck_assert_int_eq(group_partition_for("foo", 50), 24);
    ck_assert_int_eq(group_partition_for("test-group-7", 50), 42);
    ck_assert_int_eq(group_partition_for("consumer-group-100", 50), 12); /* abs of a negative */
    ck_assert_int_eq(group_partition_for("polygenelubricants", 50), 0);  /* Utils.abs(MIN) = 0 */
    ck_assert_int_eq(group_partition_for("\xf0\x9f\x98\x80", 50), 49);
    ck_assert_int_eq(group_partition_for("anything", 1), 0);
}
END_TEST

START_TEST(test_truncated_utf8_does_not_overread)
{
    /* A lead byte promising 3 more bytes at the end of the input: U+FFFD. */
    ck_assert_int_eq(group_java_hash("\xf0", 1), 0xFFFD);
}
END_TEST

static void collect(void *arg, const struct group_record *r)
{
    struct group_record *out = arg;
    size_t i = 0;
    while (out[i].key != NULL) {
        i++;
    }
    out[i] = *r;
}

START_TEST(test_offset_records_round_trip)
{
    struct buf key, value, batch;
    buf_init(&key);
    buf_init(&value);
    buf_init(&batch);
    ck_assert_int_eq(group_offset_key_encode(&key, "g1", "orders", 7), 0);
    struct group_offset_value v = {12345, 3, {"meta", 4}, 1700000000000};
    ck_assert_int_eq(group_offset_value_encode(&value, &v), 0);
    /* Kafka's OffsetCommitKey v1: version 1, group, topic, partition. */
    static const uint8_t want_key[] = {0,   1,   0,   2,   'g', '1', 0, 6, 'o',
                                       'r', 'd', 'e', 'r', 's', 0,   0, 0, 7};
    ck_assert_uint_eq(key.len, sizeof want_key);
    ck_assert_mem_eq(key.data, want_key, sizeof want_key);
    ck_assert_uint_eq(value.len, 2 + 8 + 4 + 2 + 4 + 8);
    ck_assert_uint_eq(value.data[1], 3); /* OffsetCommitValue v3 */

    struct group_record recs[2] = {{key.data, key.len, value.data, (int32_t)value.len},
                                   {key.data, key.len, NULL, -1}};
    ck_assert_int_eq(group_batch_build(&batch, recs, 2, 1700000000000), 0);
    struct record_batch_limits lim = {0, true, true};
    struct record_batch_header h;
    char why[160];
    ck_assert_int_eq(record_batch_validate(batch.data, batch.len, &lim, &h, why, sizeof why), 0);
    ck_assert_int_eq(h.records_count, 2);

    struct group_record got[3];
    memset(got, 0, sizeof got);
    ck_assert_int_eq(group_batches_walk(batch.data, batch.len, collect, got), 0);
    ck_assert_ptr_null(got[1].value);
    struct group_record_key k;
    ck_assert_int_eq(group_record_key_decode(got[0].key, got[0].key_len, &k), 0);
    ck_assert_int_eq(k.kind, GROUP_RECORD_OFFSET);
    ck_assert_int_eq(k.group.len, 2);
    ck_assert_mem_eq(k.topic.p, "orders", 6);
    ck_assert_int_eq(k.partition, 7);
    struct group_offset_value dv;
    ck_assert_int_eq(group_offset_value_decode(got[0].value, (size_t)got[0].value_len, &dv), 0);
    ck_assert_int_eq(dv.offset, 12345);
    ck_assert_int_eq(dv.leader_epoch, 3);
    ck_assert_int_eq(dv.metadata.len, 4);
    ck_assert_int_eq(dv.commit_timestamp, 1700000000000);
    buf_free(&key);
    buf_free(&value);
    buf_free(&batch);
}
END_TEST

struct visited {
    int records, markers;
    struct group_batch_info rec_info[4];
    struct group_batch_info marker_info[2];
    bool commit[2];
};

static void visit_record(void *arg, const struct group_batch_info *b, const struct group_record *r)
{
    struct visited *v = arg;
    ck_assert_ptr_nonnull(r->key);
    ck_assert_int_lt(v->records, 4);
    v->rec_info[v->records++] = *b;
}

static void visit_marker(void *arg, const struct group_batch_info *b, bool commit)
{
    struct visited *v = arg;
    ck_assert_int_lt(v->markers, 2);
    v->commit[v->markers] = commit;
    v->marker_info[v->markers++] = *b;
}

/* TxnOffsetCommit's batches: transactional, of the producer, read back with
 * their batch; the markers after them are seen as commit or abort. */
START_TEST(test_txn_batches_and_markers_visited)
{
    struct buf key, value, log;
    buf_init(&key);
    buf_init(&value);
    buf_init(&log);
    ck_assert_int_eq(group_offset_key_encode(&key, "g1", "orders", 0), 0);
    struct group_offset_value v = {42, -1, {"", 0}, 1700000000000};
    ck_assert_int_eq(group_offset_value_encode(&value, &v), 0);
    struct group_record recs[2] = {{key.data, key.len, value.data, (int32_t)value.len},
                                   {key.data, key.len, value.data, (int32_t)value.len}};
    struct group_batch_producer producer = {7001, 3, 10};
    ck_assert_int_eq(group_txn_batch_build(&log, recs, 2, 1700000000000, &producer), 0);
    struct record_batch_limits lim = {0, true, true};
    struct record_batch_header h;
    char why[160];
    ck_assert_int_eq(record_batch_validate(log.data, log.len, &lim, &h, why, sizeof why), 0);
    ck_assert_int_eq(h.attributes & RECORD_BATCH_ATTR_TRANSACTIONAL,
                     RECORD_BATCH_ATTR_TRANSACTIONAL);
    ck_assert_int_eq(h.attributes & RECORD_BATCH_ATTR_CONTROL, 0);
    ck_assert_int_eq(h.producer_id, 7001);
    ck_assert_int_eq(h.producer_epoch, 3);
    ck_assert_int_eq(h.base_sequence, 10);
    be64_store(log.data, 100); /* as the log stamps it */

    size_t at = log.len;
    uint8_t *m;
    ck_assert_int_eq(buf_append_zeros(&log, CONTROL_BATCH_MARKER_SIZE, &m), 0);
    control_batch_build_marker(log.data + at, 7001, 3, true, 0, 1700000000001);
    be64_store(log.data + at, 102);
    at = log.len;
    ck_assert_int_eq(group_batch_build(&log, recs, 1, 1700000000002), 0);
    be64_store(log.data + at, 103);
    at = log.len;
    ck_assert_int_eq(buf_append_zeros(&log, CONTROL_BATCH_MARKER_SIZE, &m), 0);
    control_batch_build_marker(log.data + at, 7002, 0, false, 0, 1700000000003);
    be64_store(log.data + at, 104);

    struct visited got = {0};
    struct group_batch_visitor visitor = {visit_record, visit_marker, &got};
    ck_assert_int_eq(group_batches_visit(log.data, log.len, &visitor), 0);
    ck_assert_int_eq(got.records, 3);
    ck_assert_int_eq(got.rec_info[0].base_offset, 100);
    ck_assert(got.rec_info[1].transactional);
    ck_assert_int_eq(got.rec_info[1].producer_id, 7001);
    ck_assert_int_eq(got.rec_info[1].producer_epoch, 3);
    ck_assert(!got.rec_info[2].transactional);
    ck_assert_int_eq(got.rec_info[2].producer_id, -1);
    ck_assert_int_eq(got.rec_info[2].base_offset, 103);
    ck_assert_int_eq(got.markers, 2);
    ck_assert(got.commit[0]);
    ck_assert_int_eq(got.marker_info[0].producer_id, 7001);
    ck_assert_int_eq(got.marker_info[0].base_offset, 102);
    ck_assert(!got.commit[1]);
    ck_assert_int_eq(got.marker_info[1].producer_id, 7002);

    /* The plain walk skips the markers, as before. */
    struct group_record plain[4];
    memset(plain, 0, sizeof plain);
    ck_assert_int_eq(group_batches_walk(log.data, log.len, collect, plain), 0);
    ck_assert_ptr_nonnull(plain[2].key);
    ck_assert_ptr_null(plain[3].key);

    /* A control batch whose record does not parse is refused. */
    log.data[at + RECORD_BATCH_HEADER_SIZE] = 0x7f; /* record length past the end */
    memset(&got, 0, sizeof got);                    /* the walk visits the first batches again */
    ck_assert_int_ne(group_batches_visit(log.data, log.len, &visitor), 0);
    buf_free(&key);
    buf_free(&value);
    buf_free(&log);
}
END_TEST

static int64_t committed_of(struct group *g, const char *topic, int32_t partition)
{
    struct group_offset *o = group_offset_find(g, topic, partition);
    return o != NULL ? o->offset : -1;
}

/* Pending transactional offsets (group_txn.c): a producer's marker applies
 * (commit) or drops (abort) only its offsets written before the marker; a
 * later plain commit of the partition wins over an older transactional one
 * (Kafka's olderThan); the latest write of a producer wins; a tombstone
 * forgets every producer's. */
START_TEST(test_txn_offsets_pending_until_marker)
{
    struct group g = {0};
    struct group_offset_value v = {0, -1, {"", 0}, 1700000000000};
    v.offset = 5;
    ck_assert_int_eq(group_offset_put(&g, "t", 0, &v, 10), 0); /* plain, at log offset 10 */
    v.offset = 7;
    ck_assert_int_eq(group_txn_offset_put(&g, 1, "t", 0, &v, 4), 0); /* older than the plain one */
    v.offset = 8;
    ck_assert_int_eq(group_txn_offset_put(&g, 1, "t", 1, &v, 11), 0);
    v.offset = 9;
    ck_assert_int_eq(group_txn_offset_put(&g, 1, "t", 1, &v, 12), 0); /* the latest wins */
    v.offset = 50;
    ck_assert_int_eq(group_txn_offset_put(&g, 2, "t", 2, &v, 13), 0);
    v.offset = 60;
    ck_assert_int_eq(group_txn_offset_put(&g, 1, "t", 3, &v, 30), 0); /* after the marker below */
    ck_assert(group_txn_pending(&g, "t", 0));
    ck_assert(group_txn_pending(&g, "t", 1));
    ck_assert_int_eq(committed_of(&g, "t", 1), -1);

    ck_assert_int_eq(group_txn_complete(&g, 1, true, 20), 0);
    ck_assert_int_eq(committed_of(&g, "t", 0), 5); /* the newer plain commit stays */
    ck_assert_int_eq(committed_of(&g, "t", 1), 9);
    ck_assert(!group_txn_pending(&g, "t", 0));
    ck_assert(!group_txn_pending(&g, "t", 1));
    ck_assert(group_txn_pending(&g, "t", 2)); /* another producer's */
    ck_assert(group_txn_pending(&g, "t", 3)); /* written after the marker */
    ck_assert_int_eq(committed_of(&g, "t", 3), -1);

    ck_assert_int_eq(group_txn_complete(&g, 2, false, 21), 0);
    ck_assert(!group_txn_pending(&g, "t", 2));
    ck_assert_int_eq(committed_of(&g, "t", 2), -1); /* aborted: dropped */

    group_txn_forget(&g, "t", 3);
    ck_assert(!group_txn_pending(&g, "t", 3));
    ck_assert_int_eq(g.n_txn_offsets, 0);
    ck_assert_int_eq(group_txn_complete(&g, 1, true, 40), 0); /* nothing left: no effect */
    ck_assert_int_eq(committed_of(&g, "t", 3), -1);
    for (size_t i = 0; i < g.n_offsets; i++) {
        group_offset_clear(&g.offsets[i]);
    }
    free(g.offsets);
    group_txn_free(&g);
}
END_TEST

START_TEST(test_malformed_records_rejected)
{
    struct group_record_key k;
    struct group_offset_value v;
    static const uint8_t short_key[] = {0, 1, 0, 9, 'g'}; /* group longer than the bytes */
    ck_assert_int_ne(group_record_key_decode(short_key, sizeof short_key, &k), 0);
    static const uint8_t bad_version[] = {0, 9, 0, 0};
    ck_assert_int_ne(group_record_key_decode(bad_version, sizeof bad_version, &k), 0);
    ck_assert_int_ne(group_offset_value_decode(bad_version, sizeof bad_version, &v), 0);
    static const uint8_t short_value[] = {0, 3, 0, 0, 0};
    ck_assert_int_ne(group_offset_value_decode(short_value, sizeof short_value, &v), 0);
    static const uint8_t metadata_key[] = {0, 2, 0, 1, 'g'};
    ck_assert_int_eq(group_record_key_decode(metadata_key, sizeof metadata_key, &k), 0);
    ck_assert_int_eq(k.kind, GROUP_RECORD_METADATA);
}
END_TEST

static void count_member(void *arg, const struct group_metadata_member *m)
{
    struct group_metadata_member *out = arg;
    out[0] = *m;
}

START_TEST(test_group_metadata_round_trip)
{
    struct group_metadata_member m = {{"m-1", 3},
                                      {"static-a", 8},
                                      {"client", 6},
                                      {"/127.0.0.1", 10},
                                      60000,
                                      10000,
                                      (const uint8_t *)"sub",
                                      3,
                                      (const uint8_t *)"asg!",
                                      4};
    struct group_metadata_value v = {{"consumer", 8}, 7, {"range", 5}, {"m-1", 3},
                                     1700000000000,   1};
    struct buf value;
    buf_init(&value);
    ck_assert_int_eq(group_metadata_value_encode(&value, &v, &m), 0);
    ck_assert_uint_eq(value.data[1], 3); /* GroupMetadataValue v3 */
    struct group_metadata_value got;
    struct group_metadata_member gm[1];
    memset(gm, 0, sizeof gm);
    ck_assert_int_eq(group_metadata_value_decode(value.data, value.len, &got, count_member, gm), 0);
    ck_assert_int_eq(got.generation, 7);
    ck_assert_int_eq(got.n_members, 1);
    ck_assert_mem_eq(got.protocol.p, "range", 5);
    ck_assert_mem_eq(gm[0].instance_id.p, "static-a", 8);
    ck_assert_int_eq(gm[0].rebalance_timeout_ms, 60000);
    ck_assert_int_eq(gm[0].session_timeout_ms, 10000);
    ck_assert_int_eq(gm[0].assignment_len, 4);
    ck_assert_mem_eq(gm[0].assignment, "asg!", 4);
    /* Every truncation is refused, never read past. */
    for (size_t cut = 0; cut < value.len; cut++) {
        ck_assert_int_ne(group_metadata_value_decode(value.data, cut, &got, NULL, NULL), 0);
    }
    /* A member count beyond the bytes present is refused before any work. */
    static const uint8_t absurd[] = {0, 3, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
                                     0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
    ck_assert_int_ne(group_metadata_value_decode(absurd, sizeof absurd, &got, NULL, NULL), 0);
    buf_free(&value);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_java_hash);
    tcase_add_test(tc, test_partition_for);
    tcase_add_test(tc, test_truncated_utf8_does_not_overread);
    tcase_add_test(tc, test_offset_records_round_trip);
    tcase_add_test(tc, test_malformed_records_rejected);
    tcase_add_test(tc, test_txn_batches_and_markers_visited);
    tcase_add_test(tc, test_txn_offsets_pending_until_marker);
    tcase_add_test(tc, test_group_metadata_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
