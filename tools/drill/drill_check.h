/* drill_check: the history checker of sluice-drill (RELIABILITY.md, "How to
 * check it without Jepsen"). A pure module: no I/O, no clock, no Kafka client;
 * the drill feeds it what happened and asks for a verdict.
 *
 * What it is fed:
 *   - every produce attempt with its outcome (ok at partition/offset, failed,
 *     unknown) and when it was sent and settled;
 *   - every record a consumer read, during the run or in the final read after
 *     healing, as (partition, offset, producer, seq) (see drill_value_parse);
 *   - high watermarks observed over time, per partition;
 *   - the final high watermark of each partition and, when the drill can read
 *     the brokers' data directories, each replica's batches (base offset,
 *     last offset, CRC).
 * What it checks (drill_check_run):
 *   - lost: an ok value that the final read does not hold at its offset;
 *   - a failed value visible in any read;
 *   - duplicated: a value at more than one offset in the final read, always
 *     counted (report.duplicated) but a violation only for idempotent
 *     producers: without idempotence a retry after a lost acknowledgement
 *     appends the value again (Kafka's at-least-once);
 *   - an offset that held two different values across all reads;
 *   - per-producer order within a partition: a write sent after another was
 *     acknowledged is acknowledged at a higher offset (writes in flight
 *     together, retried copies and failed or unknown values have no promised
 *     order: a non-idempotent client's retry may land after later writes);
 *   - a value read that was never attempted;
 *   - a high watermark lower than one observed before it;
 *   - replica logs below the final high watermark that differ across nodes.
 * It also measures the longest time no write was acknowledged, in the whole
 * window or within a given interval (drill_check_unavailable).
 *
 * Not thread-safe: callers that feed it from several threads hold one lock.
 * Every function returning int returns 0 or -ENOMEM (nothing recorded then). */
#ifndef SLUICE_DRILL_CHECK_H
#define SLUICE_DRILL_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Values are "RUN/PRODUCER:SEQ": the run tag keeps several drill runs on one
 * topic apart. Producer ids and sequences are below these bounds. */
#define DRILL_MAX_PRODUCERS 1024
#define DRILL_MAX_SEQ       ((int64_t)1 << 40)
#define DRILL_VALUE_MAX     64

enum drill_outcome {
    DRILL_OUTCOME_OK,      /* acknowledged at (partition, offset) */
    DRILL_OUTCOME_FAILED,  /* the client knows it was not written */
    DRILL_OUTCOME_UNKNOWN, /* may or may not have been written */
};

enum drill_read_kind {
    DRILL_READ_RUN,   /* a consumer during the run */
    DRILL_READ_FINAL, /* the final read after healing: the verdict's truth */
};

enum drill_violation_kind {
    DRILL_V_LOST,
    DRILL_V_FAILED_VISIBLE,
    DRILL_V_DUPLICATE,
    DRILL_V_OFFSET_TWO_VALUES,
    DRILL_V_ORDER,
    DRILL_V_PHANTOM,
    DRILL_V_HW_REGRESSION,
    DRILL_V_REPLICA_DIVERGED,
    DRILL_V_KIND_COUNT,
};

struct drill_attempt {
    int32_t producer;
    int64_t seq;
    enum drill_outcome outcome;
    int32_t partition; /* ok: where it was acknowledged; else as targeted or -1 */
    int64_t offset;    /* ok only; else -1 */
    int64_t sent_ns;
    int64_t done_ns;
    const char *error; /* failed/unknown: static error name (borrowed), or NULL */
};

struct drill_violation {
    enum drill_violation_kind kind;
    char detail[200];
};

/* At most this many violations of each kind are listed (so that a flood of
 * one kind does not hide another); counts go on beyond it. */
#define DRILL_REPORT_LISTED_PER_KIND 10
#define DRILL_REPORT_MAX_LISTED      (DRILL_REPORT_LISTED_PER_KIND * DRILL_V_KIND_COUNT)

struct drill_report {
    int64_t attempted, acknowledged, failed, unknown;
    int64_t unknown_written; /* unknown values found in the final read */
    int64_t duplicated;      /* values at more than one offset of the final read */
    int64_t foreign;         /* records read that no drill run wrote */
    int64_t counts[DRILL_V_KIND_COUNT];
    int64_t violations; /* sum of counts */
    int64_t longest_unavailable_ns;
    int64_t window_start_ns, window_end_ns; /* as drill_check_window set them */
    int replicas_compared;                  /* partitions whose replica logs were compared */
    size_t listed;
    struct drill_violation list[DRILL_REPORT_MAX_LISTED];
};

struct drill_check;

/* A checker for a topic of `partitions` partitions; NULL when out of memory. */
struct drill_check *drill_check_new(int32_t partitions);
void drill_check_free(struct drill_check *c);

/* Whether the producers were idempotent (default not): only then is a value
 * at more than one offset a violation (DRILL_V_DUPLICATE). */
void drill_check_idempotent(struct drill_check *c, int idempotent);

/* The window in which producers were sending: unavailability counts from
 * start_ns to the first acknowledgement and from the last one to end_ns. */
void drill_check_window(struct drill_check *c, int64_t start_ns, int64_t end_ns);

/* One produce attempt (copied). Each (producer, seq) once. -EINVAL (nothing
 * recorded) for a producer or seq out of bounds, or an ok outcome whose
 * partition or offset is not one of this topic's. */
int drill_check_attempt(struct drill_check *c, const struct drill_attempt *a);

/* One record read: a drill value (producer, seq) at (partition, offset). */
int drill_check_read(struct drill_check *c, enum drill_read_kind kind, int32_t partition,
                     int64_t offset, int32_t producer, int64_t seq);

/* One record read whose value no drill run of this tag wrote (counted only). */
void drill_check_foreign(struct drill_check *c);

/* A high watermark seen at t_ns by `observer` (0..DRILL_MAX_OBSERVERS-1),
 * named by `source` (a static string, borrowed). Each observer's answers are
 * compared with its own earlier ones only: observers run concurrently, so an
 * answer one of them received earlier may be recorded after another's. */
#define DRILL_MAX_OBSERVERS 8
int drill_check_high_watermark(struct drill_check *c, int32_t partition, int observer, int64_t t_ns,
                               int64_t hw, const char *source);

/* The high watermark the final read ended at. */
void drill_check_final_high_watermark(struct drill_check *c, int32_t partition, int64_t hw);

/* Node `node`'s log of `partition` was read (possibly empty), then its
 * batches in offset order. */
int drill_check_replica_log(struct drill_check *c, int32_t node, int32_t partition);
int drill_check_replica_batch(struct drill_check *c, int32_t node, int32_t partition,
                              int64_t base_offset, int64_t last_offset, uint32_t crc);

/* Compute the verdict into *r (overwritten). May be called once. */
int drill_check_run(struct drill_check *c, struct drill_report *r);

/* A stretch of the window with no acknowledgement: from start_ns (the window's
 * start or an acknowledgement) to end_ns (the next one or the window's end),
 * and how much of it lies within the interval it was asked for. */
struct drill_stretch {
    int64_t start_ns, end_ns;
    int64_t within_ns;
};

/* After drill_check_run: the stretch with no acknowledgement whose part
 * within [from_ns, to_ns) is the longest; {0, 0, 0} when the interval lies
 * outside the window. A stretch straddling the interval's start counts only
 * from there: the acknowledgement before a fault comes before the fault, and
 * the time in between belongs to the interval before. With the window as the
 * interval, within_ns is report.longest_unavailable_ns. */
struct drill_stretch drill_check_unavailable(const struct drill_check *c, int64_t from_ns,
                                             int64_t to_ns);

const char *drill_violation_kind_name(enum drill_violation_kind kind);

/* Format the value for (run, producer, seq) into buf (DRILL_VALUE_MAX bytes);
 * returns its length. */
int drill_value_format(char *buf, const char *run, int32_t producer, int64_t seq);

/* Parse a record value: 0 and the producer and seq when it is "RUN/P:S" with this
 * run tag and in bounds, -1 otherwise. The data need not be NUL-terminated. */
int drill_value_parse(const void *data, size_t len, const char *run, int32_t *producer,
                      int64_t *seq);

#endif
