/* The records of __consumer_offsets, in Kafka's own key/value schemas (so
 * kafka-console-consumer's formatters and other tools read them), and the
 * record batches that carry them.
 *
 *   offset commit   key v1: group, topic, partition
 *                   value v3: offset, leader epoch, metadata, commit time
 *                   (v0-v3 are read); a null value deletes the offset
 *   group metadata  key v2: group; value v3: protocol type, generation,
 *                   protocol, leader, state time, members; null deletes
 *
 * Pure functions over caller-owned buffers; thread-safe. Decoders never read
 * past the given length and never allocate: strings point into the input. */
#ifndef SLUICE_BROKER_GROUP_GROUP_RECORDS_H
#define SLUICE_BROKER_GROUP_GROUP_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* A length-delimited string inside a record (not NUL-terminated). */
struct group_str {
    const char *p;
    int32_t len; /* -1: null */
};

enum group_record_kind {
    GROUP_RECORD_OFFSET = 1,
    GROUP_RECORD_METADATA = 2,
};

struct group_record_key {
    enum group_record_kind kind;
    struct group_str group;
    struct group_str topic; /* offsets only */
    int32_t partition;      /* offsets only */
};

struct group_offset_value {
    int64_t offset;
    int32_t leader_epoch; /* -1 if none */
    struct group_str metadata;
    int64_t commit_timestamp;
};

/* GroupMetadataValue (v3 written; v0-v3 read). */
struct group_metadata_member {
    struct group_str member_id, instance_id, client_id, client_host;
    int32_t rebalance_timeout_ms, session_timeout_ms;
    const uint8_t *subscription;
    int32_t subscription_len;
    const uint8_t *assignment;
    int32_t assignment_len;
};

struct group_metadata_value {
    struct group_str protocol_type;
    int32_t generation;
    struct group_str protocol, leader; /* len -1: null */
    int64_t state_timestamp;
    int32_t n_members;
};

/* Encoders append to `out`; 0 or -ENOMEM. */
int group_metadata_value_encode(struct buf *out, const struct group_metadata_value *v,
                                const struct group_metadata_member *members);
/* Decode; `member` is called for each member in order. 0 or -EINVAL. */
int group_metadata_value_decode(const uint8_t *p, size_t len, struct group_metadata_value *out,
                                void (*member)(void *arg, const struct group_metadata_member *m),
                                void *arg);
int group_offset_key_encode(struct buf *out, const char *group, const char *topic,
                            int32_t partition);
int group_offset_value_encode(struct buf *out, const struct group_offset_value *v);
int group_metadata_key_encode(struct buf *out, const char *group);

/* 0, or -EINVAL for a malformed or unknown-version record. */
int group_record_key_decode(const uint8_t *p, size_t len, struct group_record_key *out);
int group_offset_value_decode(const uint8_t *p, size_t len, struct group_offset_value *out);

/* One record to put in a batch: value NULL with value_len -1 is a tombstone. */
struct group_record {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    int32_t value_len;
};

/* Append one uncompressed record batch v2 holding `n` (> 0) records, stamped
 * `timestamp_ms`, with baseOffset 0 (the log assigns it). 0 or -ENOMEM. */
int group_batch_build(struct buf *out, const struct group_record *records, size_t n,
                      int64_t timestamp_ms);

/* The producer fields of a transactional batch (TxnOffsetCommit's offsets,
 * Kafka's isTxnOffsetCommit batches). */
struct group_batch_producer {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
};

/* As group_batch_build, but a transactional batch of the producer (the
 * records stay pending until a commit marker follows). 0 or -ENOMEM. */
int group_txn_batch_build(struct buf *out, const struct group_record *records, size_t n,
                          int64_t timestamp_ms, const struct group_batch_producer *producer);

/* Walk the records of the batches in [p, p+len): calls `fn` for each record
 * of each uncompressed data batch (control and compressed batches are
 * skipped: this topic never has them). Stops at a truncated tail. Returns 0
 * or -EINVAL when a record is malformed. */
int group_batches_walk(const uint8_t *p, size_t len,
                       void (*fn)(void *arg, const struct group_record *r), void *arg);

/* What a batch says about where its records stand (group_batches_visit). */
struct group_batch_info {
    int64_t base_offset;
    int64_t producer_id; /* -1: none */
    int16_t producer_epoch;
    bool transactional; /* records of an open transaction until its marker */
};

/* The visitor of group_batches_visit. */
struct group_batch_visitor {
    /* Each record of each uncompressed data batch. */
    void (*record)(void *arg, const struct group_batch_info *b, const struct group_record *r);
    /* Each transaction marker (control batch): `commit` or abort of the
     * batch's producer. Other control batches are skipped. */
    void (*marker)(void *arg, const struct group_batch_info *b, bool commit);
    void *arg;
};

/* group_batches_walk with the batch of each record and the transaction
 * markers, for a coordinator that keeps transactional writes pending:
 * 0, or -EINVAL when a record or marker is malformed. */
int group_batches_visit(const uint8_t *p, size_t len, const struct group_batch_visitor *v);

#endif
