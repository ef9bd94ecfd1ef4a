/* OffsetCommit's and TxnOffsetCommit's partitions; see commit_parts.h. */
#include "broker/kafka/commit_parts.h"

#include "proto/kafka/kafka_errors.h"

int kafka_commit_parts_alloc(struct kafka_commit_parts *cp, struct kafka_call *call, size_t n)
{
    *cp = (struct kafka_commit_parts){0};
    cp->parts = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *cp->parts);
    cp->allowed = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *cp->allowed);
    return cp->parts != NULL && cp->allowed != NULL ? 0 : -1;
}

void kafka_commit_parts_add(struct kafka_commit_parts *cp, struct group_commit_partition p)
{
    cp->parts[cp->n_parts++] = p;
    if (p.error == KAFKA_ERROR_NONE) {
        cp->allowed[cp->n_allowed++] = p;
    }
}

void kafka_commit_parts_merge(struct kafka_commit_parts *cp)
{
    size_t a = 0;
    for (size_t k = 0; k < cp->n_parts; k++) {
        if (cp->parts[k].error == KAFKA_ERROR_NONE && a < cp->n_allowed) {
            cp->parts[k].error = cp->allowed[a++].error;
        }
    }
}
