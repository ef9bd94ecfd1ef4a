/* pb_budget: protobuf-c unpack within a memory budget. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb_budget.h"
#include "proto/replica.pb-c.h"
#include "proto/rpc.pb-c.h"
#include "tests/unit/check_main.h"

START_TEST(test_well_formed_message_unpacks)
{
    Sluice__Rpc__RpcHeader h = SLUICE__RPC__RPC_HEADER__INIT;
    h.correlation_id = 77;
    h.error_message = "a reason";
    uint8_t buf[64];
    size_t n = sluice__rpc__rpc_header__pack(&h, buf);
    bool exceeded = true;
    ProtobufCMessage *m =
        pb_unpack_bounded(&sluice__rpc__rpc_header__descriptor, n, buf, &exceeded);
    ck_assert_ptr_nonnull(m);
    ck_assert(!exceeded);
    Sluice__Rpc__RpcHeader *got = (Sluice__Rpc__RpcHeader *)m;
    ck_assert_uint_eq(got->correlation_id, 77);
    ck_assert_str_eq(got->error_message, "a reason");
    protobuf_c_message_free_unpacked(m, NULL); /* plain free, as documented */
}
END_TEST

START_TEST(test_unknown_field_flood_is_refused)
{
    /* 300,000 two-byte unknown fields (field 15, varint 0): protobuf-c keeps
     * each with its own bookkeeping, far more than the budget's 16x. */
    size_t count = 300000, n = count * 2;
    uint8_t *wire = malloc(n);
    ck_assert_ptr_nonnull(wire);
    for (size_t i = 0; i < count; i++) {
        wire[i * 2] = 0x78; /* (15 << 3 | 0) */
        wire[i * 2 + 1] = 0x00;
    }
    bool exceeded = false;
    ProtobufCMessage *m =
        pb_unpack_bounded(&sluice__rpc__rpc_header__descriptor, n, wire, &exceeded);
    ck_assert_ptr_null(m);
    ck_assert(exceeded);
    /* Unbounded, the same bytes decode: the budget is what refuses them. */
    m = protobuf_c_message_unpack(&sluice__rpc__rpc_header__descriptor, NULL, n, wire);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->n_unknown_fields, count);
    protobuf_c_message_free_unpacked(m, NULL);
    free(wire);
}
END_TEST

/* A follower's fetch of `n` partitions of topic "t" that it has just
 * created: offsets and epochs 0 (omitted on the wire), the smallest entries
 * a real follower sends. */
static uint8_t *fresh_follower_fetch(size_t n, size_t *len)
{
    Sluice__Replica__FetchPartition *parts = calloc(n, sizeof *parts);
    Sluice__Replica__FetchPartition **ptrs = calloc(n, sizeof *ptrs);
    ck_assert(parts != NULL && ptrs != NULL);
    for (size_t i = 0; i < n; i++) {
        Sluice__Replica__FetchPartition p = SLUICE__REPLICA__FETCH_PARTITION__INIT;
        p.topic = "t";
        p.partition = (int32_t)i;
        p.partition_max_bytes = 1048576;
        parts[i] = p;
        ptrs[i] = &parts[i];
    }
    Sluice__Replica__ReplicaFetchRequest req = SLUICE__REPLICA__REPLICA_FETCH_REQUEST__INIT;
    req.replica_id = 2;
    req.max_bytes = 10485760;
    req.n_partitions = n;
    req.partitions = ptrs;
    *len = sluice__replica__replica_fetch_request__get_packed_size(&req);
    uint8_t *wire = malloc(*len);
    ck_assert_ptr_nonnull(wire);
    sluice__replica__replica_fetch_request__pack(&req, wire);
    free(ptrs);
    free(parts);
    return wire;
}

START_TEST(test_follower_fetch_of_many_new_partitions_unpacks)
{
    /* 5,000 partitions, 1,667 and 16 per leader: at 4x the wire size the
     * leaders refused such fetches and replication stalled. */
    size_t counts[] = {16, 1667, 5000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t len;
        uint8_t *wire = fresh_follower_fetch(counts[c], &len);
        bool exceeded = true;
        ProtobufCMessage *m = pb_unpack_bounded(&sluice__replica__replica_fetch_request__descriptor,
                                                len, wire, &exceeded);
        ck_assert_msg(m != NULL, "%zu partitions (%zu bytes) did not unpack", counts[c], len);
        ck_assert(!exceeded);
        const Sluice__Replica__ReplicaFetchRequest *req = (const void *)m;
        ck_assert_uint_eq(req->n_partitions, counts[c]);
        ck_assert_int_eq(req->partitions[counts[c] - 1]->partition, (int32_t)counts[c] - 1);
        protobuf_c_message_free_unpacked(m, NULL);
        free(wire);
    }
}
END_TEST

START_TEST(test_empty_entry_flood_is_refused)
{
    /* 300,000 empty FetchPartition entries (field 7, length 0): two bytes
     * each on the wire, a struct, a pointer and a scan record each decoded. */
    size_t count = 300000, n = count * 2;
    uint8_t *wire = malloc(n);
    ck_assert_ptr_nonnull(wire);
    for (size_t i = 0; i < count; i++) {
        wire[i * 2] = 0x3a; /* (7 << 3 | 2) */
        wire[i * 2 + 1] = 0x00;
    }
    bool exceeded = false;
    ProtobufCMessage *m =
        pb_unpack_bounded(&sluice__replica__replica_fetch_request__descriptor, n, wire, &exceeded);
    ck_assert_ptr_null(m);
    ck_assert(exceeded);
    free(wire);
}
END_TEST

START_TEST(test_budget_counts_allocations)
{
    struct pb_budget b;
    pb_budget_init(&b, 100);
    void *p = b.allocator.alloc(b.allocator.allocator_data, 60);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(b.allocator.alloc(b.allocator.allocator_data, 41));
    ck_assert(b.exceeded);
    void *q = b.allocator.alloc(b.allocator.allocator_data, 40);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(b.used, 100);
    b.allocator.free(b.allocator.allocator_data, p);
    b.allocator.free(b.allocator.allocator_data, q);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pb_budget");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_well_formed_message_unpacks);
    tcase_add_test(tc, test_unknown_field_flood_is_refused);
    tcase_add_test(tc, test_follower_fetch_of_many_new_partitions_unpacks);
    tcase_add_test(tc, test_empty_entry_flood_is_refused);
    tcase_add_test(tc, test_budget_counts_allocations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
