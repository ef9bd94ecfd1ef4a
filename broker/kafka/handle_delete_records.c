/* DeleteRecords (key 21): move a partition's log start offset forward; -1
 * means the high watermark. Offsets above it are OFFSET_OUT_OF_RANGE.
 *
 * The answer waits until the new log start offsets are in the log
 * directories' checkpoint files, so a crash never brings back records a
 * client was told are gone; those files are written on the thread pool,
 * never on the loop (one write serves every partition of a directory). The
 * connection writes answers in request order whenever they complete. */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/partition_walk.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* The request while it waits for checkpoint writes; in the call's arena. */
struct delete_ctx {
    struct kafka_call *call;
    struct kafka_delete_records_response resp;
    size_t pending; /* partitions whose write has not completed */
    bool failed;    /* the arena ran out: fail the call once none waits */
};

/* One partition waiting for its log start to be durable. */
struct partition_wait {
    struct log_checkpoint_waiter w;
    struct delete_ctx *ctx;
    struct kafka_delete_records_response_partition_result *out;
};

static void respond(struct delete_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_records_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_durable(struct log_checkpoint_waiter *w, int status)
{
    struct partition_wait *pw = w->data;
    struct delete_ctx *ctx = pw->ctx;
    if (status < 0) {
        /* Not known to be on disk: the client must not count them gone. */
        pw->out->error_code = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
        pw->out->low_watermark = -1;
    }
    if (--ctx->pending == 0) {
        if (ctx->failed) {
            kafka_call_fail(ctx->call, "out of memory");
        } else {
            respond(ctx);
        }
    }
}

static void delete_one(struct kafka_call *call, const char *topic,
                       const struct kafka_delete_records_request_partition *in,
                       struct kafka_delete_records_response_partition_result *out)
{
    struct delete_ctx *ctx = call->handler_data;
    kafka_delete_records_response_partition_result_init(out);
    out->partition_index = in->partition_index;
    out->low_watermark = -1;
    if (!kafka_authorize(call, ACL_OP_DELETE, ACL_RESOURCE_TOPIC, topic ? topic : "")) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    struct partition *p =
        kafka_leader_partition(call, topic, in->partition_index, &out->error_code);
    if (p == NULL) {
        return;
    }
    struct partition_wait *pw = kafka_arena_alloc(&call->arena, sizeof *pw);
    if (pw == NULL) {
        out->error_code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR; /* nothing deleted */
        return;
    }
    pw->ctx = ctx;
    pw->out = out;
    pw->w.done = on_durable;
    pw->w.data = pw;
    int64_t low;
    int rv = partition_delete_records(p, in->offset, &low, &pw->w);
    if (rv < 0) {
        out->error_code = kafka_error_from_log(rv);
        return;
    }
    out->low_watermark = low;
    if (rv == 0) {
        ctx->pending++; /* on_durable completes it, never from inside this walk */
    }
}

void kafka_handle_delete_records(struct kafka_call *call)
{
    struct kafka_delete_records_request req;
    int rv = kafka_delete_records_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct delete_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    call->handler_data = ctx;
    kafka_delete_records_response_init(&ctx->resp);
    KAFKA_WALK_PARTITIONS(rv, call, &req, &ctx->resp,
                          kafka_delete_records_response_topic_result_init, delete_one);
    if (ctx->pending > 0) {
        /* Waiters hold pointers into the call: it ends when the last one
         * completes, failed if the arena ran out for later topics. */
        ctx->failed = rv != 0;
        return;
    }
    if (rv != 0) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    respond(ctx);
}
