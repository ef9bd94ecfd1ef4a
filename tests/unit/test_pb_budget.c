/* pb_budget: protobuf-c unpack within a memory budget. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb_budget.h"
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
    /* 200,000 two-byte unknown fields (field 100, varint 0): protobuf-c keeps
     * each with its own bookkeeping, far more than 4x the wire size. */
    size_t count = 200000, n = count * 3;
    uint8_t *wire = malloc(n);
    ck_assert_ptr_nonnull(wire);
    for (size_t i = 0; i < count; i++) {
        wire[i * 3] = 0xa0; /* (100 << 3 | 0) as a varint: 0xa0 0x06 */
        wire[i * 3 + 1] = 0x06;
        wire[i * 3 + 2] = 0x00;
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
    tcase_add_test(tc, test_budget_counts_allocations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
