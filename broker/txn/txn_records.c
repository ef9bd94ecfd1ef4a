/* Kafka's TransactionLogKey/TransactionLogValue v0; see txn_records.h. */
#include <errno.h>
#include <string.h>

#include "broker/txn/txn_records.h"
#include "proto/kafka/kafka_reader.h"
#include "proto/kafka/kafka_writer.h"

const char *txn_status_name(enum txn_status s)
{
    static const char *const names[] = {"Empty",        "Ongoing",          "PrepareCommit",
                                        "PrepareAbort", "CompleteCommit",   "CompleteAbort",
                                        "Dead",         "PrepareEpochFence"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "Unknown";
}

int txn_log_key_encode(struct buf *out, const char *transactional_id)
{
    if (strlen(transactional_id) > INT16_MAX) {
        return -EINVAL;
    }
    struct kafka_writer w;
    kafka_writer_init(&w, out);
    int rv = kafka_write_int16(&w, 0) || kafka_write_string(&w, false, false, transactional_id);
    kafka_writer_free(&w);
    return rv ? -ENOMEM : 0;
}

/* Partitions of the same topic that follow partitions[i]. */
static int32_t topic_run(const struct txn_log_value *v, size_t i)
{
    size_t j = i + 1;
    while (j < v->n_partitions && strcmp(v->partitions[j].topic, v->partitions[i].topic) == 0) {
        j++;
    }
    return (int32_t)(j - i);
}

int txn_log_value_encode(struct buf *out, const struct txn_log_value *v)
{
    int32_t topics = 0;
    for (size_t i = 0; i < v->n_partitions; i += (size_t)topic_run(v, i)) {
        if (strlen(v->partitions[i].topic) > INT16_MAX) {
            return -EINVAL;
        }
        topics++;
    }
    struct kafka_writer w;
    kafka_writer_init(&w, out);
    int bad = kafka_write_int16(&w, 0) || kafka_write_int64(&w, v->producer_id) ||
              kafka_write_int16(&w, v->producer_epoch) || kafka_write_int32(&w, v->timeout_ms) ||
              kafka_write_int8(&w, (int8_t)v->status) ||
              kafka_write_array_len(&w, false, true, topics);
    for (size_t i = 0; !bad && i < v->n_partitions;) {
        int32_t run = topic_run(v, i);
        bad = kafka_write_string(&w, false, false, v->partitions[i].topic) ||
              kafka_write_array_len(&w, false, false, run);
        for (int32_t k = 0; !bad && k < run; k++, i++) {
            bad = kafka_write_int32(&w, v->partitions[i].partition);
        }
    }
    bad = bad || kafka_write_int64(&w, v->update_ms) || kafka_write_int64(&w, v->start_ms);
    kafka_writer_free(&w);
    return bad ? -ENOMEM : 0;
}

int txn_log_key_decode(const uint8_t *p, size_t len, struct kafka_arena *arena,
                       const char **transactional_id)
{
    struct kafka_reader r;
    kafka_reader_init(&r, p, len, arena);
    int16_t version;
    if (kafka_read_int16(&r, &version) || version != 0 ||
        kafka_read_string(&r, false, false, transactional_id)) {
        return -EINVAL;
    }
    return 0;
}

static int read_partitions(struct kafka_reader *r, struct txn_log_value *out)
{
    int32_t topics;
    if (kafka_read_array_len(r, false, true, 6, &topics)) {
        return -EINVAL;
    }
    size_t n = 0, cap = 0;
    struct txn_topic_partition *parts = NULL;
    for (int32_t t = 0; t < topics; t++) {
        const char *topic;
        int32_t count;
        if (kafka_read_string(r, false, false, &topic) ||
            kafka_read_array_len(r, false, false, 4, &count)) {
            return -EINVAL;
        }
        if (n + (size_t)count > cap) {
            /* Bounded: count was checked against the bytes left. */
            size_t want = (n + (size_t)count) * 2;
            struct txn_topic_partition *grown =
                kafka_arena_alloc_array(r->arena, want, sizeof *grown);
            if (grown == NULL) {
                return -EINVAL;
            }
            if (n > 0) {
                memcpy(grown, parts, n * sizeof *parts);
            }
            parts = grown;
            cap = want;
        }
        for (int32_t k = 0; k < count; k++, n++) {
            parts[n].topic = topic;
            if (kafka_read_int32(r, &parts[n].partition)) {
                return -EINVAL;
            }
        }
    }
    out->partitions = parts;
    out->n_partitions = n;
    return 0;
}

int txn_log_value_decode(const uint8_t *p, size_t len, struct kafka_arena *arena,
                         struct txn_log_value *out)
{
    struct kafka_reader r;
    kafka_reader_init(&r, p, len, arena);
    memset(out, 0, sizeof *out);
    int16_t version;
    int8_t status;
    if (kafka_read_int16(&r, &version) || version != 0 || kafka_read_int64(&r, &out->producer_id) ||
        kafka_read_int16(&r, &out->producer_epoch) || kafka_read_int32(&r, &out->timeout_ms) ||
        kafka_read_int8(&r, &status) || status < 0 || status > TXN_PREPARE_EPOCH_FENCE ||
        read_partitions(&r, out) != 0 || kafka_read_int64(&r, &out->update_ms) ||
        kafka_read_int64(&r, &out->start_ms)) {
        return -EINVAL;
    }
    out->status = (enum txn_status)status;
    return 0;
}
