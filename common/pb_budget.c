/* A budgeted allocator for protobuf-c; see pb_budget.h. */
#include "common/pb_budget.h"

#include <stdlib.h>

static void *budget_alloc(void *data, size_t size)
{
    struct pb_budget *b = data;
    if (size > b->limit - b->used) {
        b->exceeded = true;
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL) {
        b->used += size;
    }
    return p;
}

static void budget_free(void *data, void *ptr)
{
    (void)data; /* the budget counts what was handed out, not what is live */
    free(ptr);
}

void pb_budget_init(struct pb_budget *b, size_t limit)
{
    b->allocator.alloc = budget_alloc;
    b->allocator.free = budget_free;
    b->allocator.allocator_data = b;
    b->limit = limit;
    b->used = 0;
    b->exceeded = false;
}

ProtobufCMessage *pb_unpack_bounded(const ProtobufCMessageDescriptor *desc, size_t len,
                                    const uint8_t *data, bool *exceeded)
{
    struct pb_budget b;
    pb_budget_init(&b, PB_BUDGET_FOR_WIRE(len));
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &b.allocator, len, data);
    if (exceeded != NULL) {
        *exceeded = b.exceeded;
    }
    return m;
}
