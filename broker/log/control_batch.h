/* Transaction markers: Kafka's control batches (attributes bit 5) carrying
 * an EndTransactionMarker.
 *
 * A marker batch is transactional and control (attributes 0x30), has no
 * sequence (-1) and holds exactly one record, uncompressed, whose key is
 * (version i16 = 0, type i16: 0 abort, 1 commit) and whose value is
 * (version i16 = 0, coordinator_epoch i32), as Kafka's ControlRecordType and
 * EndTransactionMarker write them. Other control types (Kafka's KRaft
 * leader-change records) are recognised as "not a marker".
 *
 * Pure functions on caller-owned buffers; never read past `len`. */
#ifndef SLUICE_BROKER_LOG_CONTROL_BATCH_H
#define SLUICE_BROKER_LOG_CONTROL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/log/record_batch.h"

#define CONTROL_BATCH_MARKER_SIZE 78 /* header 61 + one record of 17 bytes */
#define CONTROL_TYPE_ABORT        0
#define CONTROL_TYPE_COMMIT       1

struct control_marker {
    int16_t type; /* CONTROL_TYPE_ABORT or CONTROL_TYPE_COMMIT */
    int32_t coordinator_epoch;
};

/* Write a marker batch for the producer into `out` (CONTROL_BATCH_MARKER_SIZE
 * bytes), base offset 0 and leader epoch -1 (the log stamps both), both
 * timestamps `timestamp_ms`, with its CRC. */
void control_batch_build_marker(uint8_t out[CONTROL_BATCH_MARKER_SIZE], int64_t producer_id,
                                int16_t producer_epoch, bool commit, int32_t coordinator_epoch,
                                int64_t timestamp_ms);

/* Read the marker of the control batch `batch` (`len` bytes: the whole
 * batch, header `h` as parsed). Returns 0 with *out, 1 when the batch is a
 * control batch of another type or shape (not a transaction marker), or
 * LOG_ERR_CORRUPT when it is not a control batch or its record does not
 * parse. */
int control_batch_read_marker(const uint8_t *batch, size_t len, const struct record_batch_header *h,
                              struct control_marker *out);

#endif
