/* A ProtobufCAllocator that refuses to hand out more than a budget in total,
 * for unpacking messages a peer sent: protobuf-c's unpack has no bound of its
 * own, and unknown fields cost it ~40 bytes of bookkeeping per wire byte or
 * two (a 64 MiB frame of them peaked near 3 GB). Once the budget is spent
 * every allocation fails, and the unpack returns NULL.
 *
 * Memory comes from malloc and goes back with free, so a message unpacked
 * with it is freed with protobuf_c_message_free_unpacked(msg, NULL) as usual.
 * The budget only needs to live during the unpack. Not thread-safe. */
#ifndef SLUICE_COMMON_PB_BUDGET_H
#define SLUICE_COMMON_PB_BUDGET_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

struct pb_budget {
    ProtobufCAllocator allocator; /* pass &b.allocator to unpack */
    size_t limit, used;           /* bytes: allowed, handed out so far (frees not counted) */
    bool exceeded;                /* an allocation was refused */
};

/* Budget for unpacking a `wire_len`-byte message. A well-formed message of
 * many small entries costs protobuf-c far more than its wire bytes: each
 * entry of a follower's fetch (12-20 bytes when its offsets and epochs are
 * still 0) takes a 64-byte struct, its topic string, a pointer and the
 * parse's 32-byte scan record (in slabs that grow by doubling), up to ~12x.
 * At 4x, followers of ~1,700 new partitions had every fetch refused. 16x
 * still refuses the floods the budget is for: unknown fields (~28x) and
 * empty entries (~50x). */
#define PB_BUDGET_FOR_WIRE(wire_len) ((size_t)(wire_len)*16 + 65536)

void pb_budget_init(struct pb_budget *b, size_t limit);

/* protobuf_c_message_unpack within a budget of PB_BUDGET_FOR_WIRE(len);
 * NULL if the bytes do not decode or the budget runs out (*exceeded says
 * which, may be NULL). */
ProtobufCMessage *pb_unpack_bounded(const ProtobufCMessageDescriptor *desc, size_t len,
                                    const uint8_t *data, bool *exceeded);

#endif
