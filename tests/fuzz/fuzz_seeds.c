/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
 * from our own encoders and from real clients' encodings (the franz-go kmsg
 * and kafka-python vectors the codec tests use). Not run by the build: rerun
 * after changing an encoder, then commit the files (keep corpus/ < 1 MB):
 *     build/tests/fuzz/fuzz_seeds tests/fuzz/corpus
 * Record batch seeds come from kafka-python (seeds_record_batch.py). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/kafka/kafka_header.h"
#include "proto/kafka/kafka_writer.h"
#include "broker/log/partition_log.h"
#include "common/bigendian.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/rpc_frame.h"
#include "common/varint.h"
#include "metadata/fsm.h"
#include "kafka_messages.h"
#include "proto/controller.pb-c.h"

struct kafka_reference_vector {
    const char *name;
    int16_t api_key;
    int16_t version;
    bool is_request;
    size_t len;
    const uint8_t *bytes;
};

#include "../unit/kafka_python_vectors.h"
#include "../unit/kmsg_vectors.h"

static const char *out_dir;

static void must(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_seeds: %s failed\n", what);
        exit(1);
    }
}

static void seed(const char *target, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    must(f != NULL && fwrite(p, 1, n, f) == n && fclose(f) == 0, path);
}

/* ---- Kafka requests and frames ---- */

/* Header (from our encoder) + a real client's body; false if no codec. */
static bool kafka_request(const struct kafka_reference_vector *v, int32_t corr, struct buf *out)
{
    int16_t hv;
    if (kafka_api_header_versions(v->api_key, v->version, &hv, NULL, NULL) != 0)
        return false;
    struct kafka_request_header h = {v->api_key, v->version, corr, "fuzz-seed", hv};
    struct kafka_writer w;
    kafka_writer_init(&w, out);
    must(kafka_request_header_encode(&w, hv, &h) == 0, "header encode");
    kafka_writer_free(&w);
    must(buf_append(out, v->bytes, v->len) == 0, "append");
    return true;
}

static void kafka_seeds(const char *prefix, const struct kafka_reference_vector *vecs, size_t n,
                        struct buf *stream)
{
    const char *last = "";
    for (size_t i = 0; i < n; i++) {
        const struct kafka_reference_vector *v = &vecs[i];
        struct buf req = BUF_INIT;
        char name[128];
        if (!v->is_request || strcmp(v->name, last) == 0 || !kafka_request(v, (int32_t)i, &req))
            continue; /* one vector per message version */
        last = v->name;
        snprintf(name, sizeof name, "%s-%s", prefix, v->name);
        seed("kafka_request", name, req.data, req.len);
        /* Frames: every fourth request joins a stream a client could send. */
        if (i % 4 == 0 && stream->len < 3000) {
            must(buf_append_be32(stream, (uint32_t)req.len) == 0 &&
                     buf_append(stream, req.data, req.len) == 0,
                 "frame");
        }
        buf_free(&req);
    }
}

static void frame_seeds(const struct buf *stream)
{
    uint8_t chunk_sizes[] = {0, 3, 16};
    for (size_t i = 0; i < sizeof chunk_sizes; i++) {
        struct buf b = BUF_INIT;
        char name[32];
        must(buf_append_u8(&b, chunk_sizes[i]) == 0 &&
                 buf_append(&b, stream->data, stream->len) == 0,
             "stream");
        snprintf(name, sizeof name, "stream-%u", chunk_sizes[i]);
        seed("kafka_frame", name, b.data, b.len);
        buf_free(&b);
    }
    static const uint8_t too_large[] = {1, 0x7f, 0xff, 0xff, 0xff, 0, 0};
    static const uint8_t negative[] = {2, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3};
    static const uint8_t too_small[] = {0, 0, 0, 0, 4, 0, 18, 0, 3};
    seed("kafka_frame", "too-large", too_large, sizeof too_large);
    seed("kafka_frame", "negative", negative, sizeof negative);
    seed("kafka_frame", "too-small", too_small, sizeof too_small);
}

/* ---- internal RPC ---- */

static void rpc_seeds(void)
{
    Sluice__Metadata__Endpoint ep = SLUICE__METADATA__ENDPOINT__INIT;
    Sluice__Metadata__Endpoint *eps[] = {&ep};
    ep.name = "PLAINTEXT";
    ep.host = "127.0.0.1";
    ep.port = 9092;
    ep.security_protocol = "PLAINTEXT";
    Sluice__Controller__RegisterBrokerRequest reg =
        SLUICE__CONTROLLER__REGISTER_BROKER_REQUEST__INIT;
    reg.broker_id = 1;
    reg.incarnation_id = "5f1c3a";
    reg.n_endpoints = 1;
    reg.endpoints = eps;
    Sluice__Controller__BrokerHeartbeatRequest hb =
        SLUICE__CONTROLLER__BROKER_HEARTBEAT_REQUEST__INIT;
    hb.broker_id = 1;
    hb.broker_epoch = 42;
    hb.metadata_offset = 7;
    struct rpc_frame req = {.kind = RPC_REQUEST, .method = 1, .version = 1, .correlation_id = 1};
    struct rpc_frame resp = {.kind = RPC_RESPONSE,
                             .method = 2,
                             .correlation_id = 2,
                             .error = RPC_ERROR_MALFORMED,
                             .error_message = "bad body"};
    struct buf b = BUF_INIT;
    must(buf_append_u8(&b, 0) == 0, "chunk");
    must(rpc_frame_encode(&b, &req, &reg.base, NULL, 0, RPC_FRAME_DEFAULT_MAX) == 0, "rpc");
    seed("rpc_frame", "register", b.data, b.len);
    b.data[0] = 5;
    req.method = 2;
    must(rpc_frame_encode(&b, &req, &hb.base, "payload bytes", 13, RPC_FRAME_DEFAULT_MAX) == 0 &&
             rpc_frame_encode(&b, &resp, NULL, NULL, 0, RPC_FRAME_DEFAULT_MAX) == 0,
         "rpc");
    seed("rpc_frame", "three-frames", b.data, b.len);
    buf_free(&b);
}

/* ---- controller FSM ---- */

static void fsm_chunk(struct buf *in, uint8_t flags, const void *p, size_t n)
{
    must(buf_append_u8(in, flags) == 0 && buf_append_be16(in, (uint16_t)n) == 0 &&
             buf_append(in, p, n) == 0,
         "chunk");
}

static void fsm_entry(struct buf *in, MetadataRecord **recs, size_t n, bool raw)
{
    MetadataBatch batch = SLUICE__METADATA__METADATA_BATCH__INIT;
    batch.version = 1;
    batch.records = recs;
    batch.n_records = n;
    void *entry;
    size_t len;
    must(fsm_batch_pack(&batch, malloc, &entry, &len) == 0, "pack");
    if (raw) /* the protobuf alone: the target adds the framing */
        fsm_chunk(in, 0, (uint8_t *)entry + 8, be32_load((uint8_t *)entry + 4));
    else
        fsm_chunk(in, 1, entry, len);
    free(entry);
}

static void fsm_seeds(void)
{
    static uint8_t id[16] = {0x5a, 1, 2, 3};
    MetadataRecord r[8];
    MetadataRecord *p[8];
    for (int i = 0; i < 8; i++) {
        sluice__metadata__metadata_record__init(&r[i]);
        p[i] = &r[i];
    }
    Sluice__Metadata__ClusterIdRecord cid = SLUICE__METADATA__CLUSTER_ID_RECORD__INIT;
    cid.cluster_id = "MkU3OEVBNTcwNTJENDM2Qk";
    r[0].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_CLUSTER_ID;
    r[0].cluster_id = &cid;
    Sluice__Metadata__RegisterBrokerRecord reg[2];
    for (int i = 0; i < 2; i++) {
        sluice__metadata__register_broker_record__init(&reg[i]);
        reg[i].broker_id = i + 1;
        reg[i].incarnation_id = i ? "inc-2" : "inc-1";
        r[1 + i].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_REGISTER_BROKER;
        r[1 + i].register_broker = &reg[i];
    }
    Sluice__Metadata__UnfenceBrokerRecord unf = SLUICE__METADATA__UNFENCE_BROKER_RECORD__INIT;
    unf.broker_id = 1;
    unf.broker_epoch = 1;
    r[3].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_UNFENCE_BROKER;
    r[3].unfence_broker = &unf;
    Sluice__Metadata__TopicRecord topic = SLUICE__METADATA__TOPIC_RECORD__INIT;
    topic.name = "orders";
    topic.topic_id = (ProtobufCBinaryData){16, id};
    r[4].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_TOPIC;
    r[4].topic = &topic;
    int32_t replicas[] = {1, 2}, isr[] = {1};
    Sluice__Metadata__PartitionRecord part = SLUICE__METADATA__PARTITION_RECORD__INIT;
    part.topic_id = topic.topic_id;
    part.replicas = replicas;
    part.n_replicas = 2;
    part.isr = replicas;
    part.n_isr = 2;
    part.leader = 1;
    r[5].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION;
    r[5].partition = &part;
    Sluice__Metadata__PartitionChangeRecord change =
        SLUICE__METADATA__PARTITION_CHANGE_RECORD__INIT;
    change.topic_id = topic.topic_id;
    change.isr = isr;
    change.n_isr = 1;
    change.leader = 1;
    r[6].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE;
    r[6].partition_change = &change;
    Sluice__Metadata__ConfigRecord cfg = SLUICE__METADATA__CONFIG_RECORD__INIT;
    cfg.resource_type = 2;
    cfg.resource_name = "orders";
    cfg.name = "retention.ms";
    cfg.value = "60000";
    r[7].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_CONFIG;
    r[7].config = &cfg;

    struct buf in = BUF_INIT;
    fsm_entry(&in, p, 3, false);
    fsm_entry(&in, p + 3, 5, false);
    seed("controller_fsm", "cluster-brokers-topic", in.data, in.len);
    buf_reset(&in);
    fsm_entry(&in, p, 8, true);
    seed("controller_fsm", "raw-batch", in.data, in.len);

    /* A snapshot of that state, restored, then a removal applied. */
    struct fsm fsm;
    const struct fsm_result *res;
    void *entry, *snap;
    size_t len, snap_len;
    MetadataBatch batch = SLUICE__METADATA__METADATA_BATCH__INIT;
    batch.records = p;
    batch.n_records = 8;
    must(fsm_init(&fsm, 4) == 0 && fsm_batch_pack(&batch, malloc, &entry, &len) == 0 &&
             fsm_apply(&fsm, entry, len, &res) == 0 &&
             fsm_snapshot(&fsm, malloc, &snap, &snap_len) == 0,
         "fsm");
    Sluice__Metadata__RemoveTopicRecord rm = SLUICE__METADATA__REMOVE_TOPIC_RECORD__INIT;
    rm.topic_id = topic.topic_id;
    r[0].record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_REMOVE_TOPIC;
    r[0].remove_topic = &rm;
    buf_reset(&in);
    fsm_chunk(&in, 3, snap, snap_len);
    fsm_entry(&in, p, 1, false);
    seed("controller_fsm", "snapshot-remove", in.data, in.len);
    free(entry);
    free(snap);
    fsm_close(&fsm);
    buf_free(&in);
}

/* ---- partition log directories ---- */

static int64_t seed_now(void *data)
{
    (void)data;
    return 1700000000000;
}

static void add_file_chunk(struct buf *in, const char *dir, const char *name, size_t cut)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    uint8_t data[65535];
    size_t n = f != NULL ? fread(data, 1, sizeof data, f) : 0;
    if (f != NULL)
        fclose(f);
    n = n > cut ? n - cut : 0;
    must(buf_append_be16(in, (uint16_t)n) == 0 && buf_append(in, data, n) == 0, "chunk");
}

/* A record batch of `count` records (our own encoding, as log tests do). */
static void batch(struct buf *out, int count)
{
    struct buf recs = BUF_INIT;
    for (int i = 0; i < count; i++) {
        uint8_t body[32];
        size_t n = 0;
        body[n++] = 0;                       /* attributes */
        n += varint_encode_s64(body + n, i); /* timestampDelta */
        n += varint_encode_s32(body + n, i); /* offsetDelta */
        n += varint_encode_s32(body + n, 1); /* key "k" */
        body[n++] = 'k';
        n += varint_encode_s32(body + n, 5); /* value */
        memcpy(body + n, "value", 5);
        n += 5;
        n += varint_encode_s32(body + n, 0); /* headers */
        must(buf_append_varint(&recs, (int64_t)n) == 0 && buf_append(&recs, body, n) == 0, "rec");
    }
    uint8_t h[61] = {0};
    be32_store(h + 8, (uint32_t)(61 - 12 + recs.len));
    h[16] = 2;
    be32_store(h + 23, (uint32_t)(count - 1));
    be64_store(h + 27, 1700000000000);
    be64_store(h + 35, 1700000000000 + (uint64_t)count - 1);
    be64_store(h + 43, UINT64_MAX);
    be16_store(h + 51, UINT16_MAX);
    be32_store(h + 53, UINT32_MAX);
    be32_store(h + 57, (uint32_t)count);
    size_t at = out->len;
    must(buf_append(out, h, sizeof h) == 0 && buf_append(out, recs.data, recs.len) == 0, "batch");
    be32_store(out->data + at + 17, crc32c(0, out->data + at + 21, out->len - at - 21));
    buf_free(&recs);
}

static void log_seed(const char *name, int batches, const char *segment_bytes, size_t cut,
                     bool checkpoint)
{
    char dir[] = "/tmp/sluice-seed-XXXXXX", pdir[64], cmd[128];
    must(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    uv_loop_t loop;
    struct sluice_config broker;
    struct topic_config tc;
    char err[256];
    must(uv_loop_init(&loop) == 0 && sluice_config_init(&broker) == 0 &&
             topic_config_init(&tc, &broker) == 0 &&
             topic_config_set(&tc, "segment.bytes", segment_bytes, err, sizeof err) == 0 &&
             topic_config_set(&tc, "index.interval.bytes", "100", err, sizeof err) == 0,
         "config");
    struct partition_log *log;
    struct log_clock clock = {seed_now, NULL};
    must(partition_log_open(&loop, pdir, &tc, &clock, &log, err, sizeof err) == 0, err);
    for (int i = 0; i < batches; i++) {
        struct buf b = BUF_INIT;
        struct log_append_info info;
        batch(&b, 1 + i % 3);
        must(partition_log_append(log, b.data, b.len, 1, &info) == 0, "append");
        buf_free(&b);
    }
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    partition_log_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    /* flags: fix CRCs (bit 0), keep the checkpoint (bit 1), second base. */
    struct buf in = BUF_INIT;
    must(buf_append_u8(&in, (uint8_t)(checkpoint ? 2 : 0)) == 0, "flags");
    add_file_chunk(&in, pdir, "00000000000000000000.log", cut);
    add_file_chunk(&in, pdir, "00000000000000000000.index", 0);
    add_file_chunk(&in, pdir, "00000000000000000000.timeindex", 0);
    add_file_chunk(&in, pdir, PARTITION_LOG_CHECKPOINT_FILE, 0);
    seed("log_recovery", name, in.data, in.len);
    buf_free(&in);
    topic_config_free(&tc);
    sluice_config_free(&broker);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    must(system(cmd) == 0, "rm");
}

/* Two segments and a cut for the truncation after recovery: segment 0's
 * files and the checkpoint (so segment 0 is loaded without a scan and the
 * truncation reads its index from the file), segment 1's .log (based at
 * flags >> 2), then the u16 `cut`: `cut_in_first` lands it in segment 0
 * (segment 1 goes), else in segment 1. */
static void truncate_seed(const char *name, bool cut_in_first)
{
    char dir[] = "/tmp/sluice-seed-XXXXXX", pdir[64], cmd[128], second[32];
    must(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    uv_loop_t loop;
    struct sluice_config broker;
    struct topic_config tc;
    char err[256];
    must(uv_loop_init(&loop) == 0 && sluice_config_init(&broker) == 0 &&
             topic_config_init(&tc, &broker) == 0 &&
             topic_config_set(&tc, "segment.bytes", "700", err, sizeof err) == 0 &&
             topic_config_set(&tc, "index.interval.bytes", "100", err, sizeof err) == 0,
         "config");
    struct partition_log *log;
    struct log_clock clock = {seed_now, NULL};
    must(partition_log_open(&loop, pdir, &tc, &clock, &log, err, sizeof err) == 0, err);
    int64_t second_base = -1;
    for (int i = 0, after = 0; after < 4; i++) {
        struct buf b = BUF_INIT;
        struct log_append_info info;
        int64_t end = partition_log_end_offset(log);
        batch(&b, 1 + i % 3);
        must(partition_log_append(log, b.data, b.len, 1, &info) == 0, "append");
        buf_free(&b);
        if (second_base < 0 && partition_log_segment_count(log) == 2)
            second_base = end; /* rolled before this batch */
        after += second_base >= 0;
    }
    must(partition_log_segment_count(log) == 2 && second_base > 0 && second_base < 64, "segments");
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    partition_log_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    struct buf in = BUF_INIT;
    snprintf(second, sizeof second, "%020d.log", (int)second_base);
    must(buf_append_u8(&in, (uint8_t)(2 | second_base << 2)) == 0, "flags");
    add_file_chunk(&in, pdir, "00000000000000000000.log", 0);
    add_file_chunk(&in, pdir, "00000000000000000000.index", 0);
    add_file_chunk(&in, pdir, "00000000000000000000.timeindex", 0);
    add_file_chunk(&in, pdir, PARTITION_LOG_CHECKPOINT_FILE, 0);
    add_file_chunk(&in, pdir, second, 0);
    must(buf_append_be16(&in, (uint16_t)(cut_in_first ? second_base - 2 : second_base + 3)) == 0,
         "cut");
    seed("log_recovery", name, in.data, in.len);
    buf_free(&in);
    topic_config_free(&tc);
    sluice_config_free(&broker);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    must(system(cmd) == 0, "rm");
}

/* ---- varints and properties ---- */

static void varint_seeds(void)
{
    static const int64_t values[] = {0,   1,         -1,        63,        -64,
                                     300, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        must(buf_append_varint(&b, values[i]) == 0, "varint");
    seed("varint", "signed", b.data, b.len);
    buf_reset(&b);
    must(buf_append_uvarint(&b, UINT64_MAX) == 0 && buf_append_uvarint(&b, UINT32_MAX) == 0, "u");
    seed("varint", "unsigned-max", b.data, b.len);
    static const uint8_t long_zero[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    seed("varint", "non-minimal", long_zero, sizeof long_zero);
    buf_free(&b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    struct buf stream = BUF_INIT;
    kafka_seeds("kmsg", kmsg_vectors, sizeof kmsg_vectors / sizeof kmsg_vectors[0], &stream);
    kafka_seeds("kafka-python", kafka_python_vectors,
                sizeof kafka_python_vectors / sizeof kafka_python_vectors[0], &stream);
    frame_seeds(&stream);
    buf_free(&stream);
    rpc_seeds();
    fsm_seeds();
    log_seed("clean", 12, "1073741824", 0, true);
    log_seed("torn-tail", 12, "1073741824", 7, false);
    log_seed("no-checkpoint", 5, "1073741824", 0, false);
    truncate_seed("truncate-first-segment", true);
    truncate_seed("truncate-last-segment", false);
    varint_seeds();
    return 0;
}
