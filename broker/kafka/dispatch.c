/* Request dispatch; see dispatch.h. */
#include "broker/kafka/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/kafka/kafka_errors.h"
#include "broker/log/log_errors.h"
#include "common/bigendian.h"
#include "kafka_messages.h"

/* Decoded requests live in a per-call arena; this caps it as a second guard
 * behind the reader's per-length checks. */
#define CALL_ARENA_LIMIT (64u << 20)

struct api_entry {
    int16_t key;
    const char *name; /* Kafka's, for metrics */
    int16_t min_version, max_version;
    void (*handle)(struct kafka_call *call);
};

/* Exactly what ApiVersions advertises: the floor that real clients need, see
 * ../shared/kafka-protocol/README.md. Produce 0-2 are advertised (librdkafka
 * only enables gzip/snappy/lz4 when Produce contains 0) but answered with
 * UNSUPPORTED_VERSION, as Kafka 4 does. */
static const struct api_entry apis[] = {
    {KAFKA_API_PRODUCE, "Produce", 0, 7, kafka_handle_produce},
    {KAFKA_API_FETCH, "Fetch", 4, 12, kafka_handle_fetch},
    {KAFKA_API_LIST_OFFSETS, "ListOffsets", 1, 5, kafka_handle_list_offsets},
    {KAFKA_API_METADATA, "Metadata", 0, 8, kafka_handle_metadata},
    {KAFKA_API_API_VERSIONS, "ApiVersions", 0, 4, kafka_handle_api_versions},
    {KAFKA_API_CREATE_TOPICS, "CreateTopics", 2, 4, kafka_handle_create_topics},
    {KAFKA_API_DELETE_TOPICS, "DeleteTopics", 1, 3, kafka_handle_delete_topics},
    {KAFKA_API_DELETE_RECORDS, "DeleteRecords", 0, 1, kafka_handle_delete_records},
    /* KIP-320 consumers validate their position after a leader change. */
    {KAFKA_API_OFFSET_FOR_LEADER_EPOCH, "OffsetForLeaderEpoch", 0, 4,
     kafka_handle_offset_for_leader_epoch},
    {KAFKA_API_DESCRIBE_CONFIGS, "DescribeConfigs", 1, 2, kafka_handle_describe_configs},
    {KAFKA_API_CREATE_PARTITIONS, "CreatePartitions", 0, 1, kafka_handle_create_partitions},
    /* Beyond the README's floor, for `sluicectl topic alter-config` and
     * admin clients: topic configs only. */
    {KAFKA_API_ALTER_CONFIGS, "AlterConfigs", 0, 1, kafka_handle_alter_configs},
    {KAFKA_API_INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs", 0, 1,
     kafka_handle_incremental_alter_configs},
    /* PREFERRED elections (KIP-460; `sluicectl partition elect-leaders`). */
    {KAFKA_API_ELECT_LEADERS, "ElectLeaders", 0, 2, kafka_handle_elect_leaders},
    /* Each log directory's status (offline after a storage error), partition
     * sizes and free space (KIP-113, KIP-827), for admin clients and
     * `sluicectl log-dirs`. */
    {KAFKA_API_DESCRIBE_LOG_DIRS, "DescribeLogDirs", 0, 4, kafka_handle_describe_log_dirs},
    /* Reassignment (KIP-455; `sluicectl partition reassign`). */
    {KAFKA_API_ALTER_PARTITION_REASSIGNMENTS, "AlterPartitionReassignments", 0, 0,
     kafka_handle_alter_partition_reassignments},
    {KAFKA_API_LIST_PARTITION_REASSIGNMENTS, "ListPartitionReassignments", 0, 0,
     kafka_handle_list_partition_reassignments},
    /* Consumer groups (broker/group/). */
    {KAFKA_API_FIND_COORDINATOR, "FindCoordinator", 0, 4, kafka_handle_find_coordinator},
    {KAFKA_API_JOIN_GROUP, "JoinGroup", 0, 5, kafka_handle_join_group},
    {KAFKA_API_SYNC_GROUP, "SyncGroup", 0, 3, kafka_handle_sync_group},
    {KAFKA_API_HEARTBEAT, "Heartbeat", 0, 3, kafka_handle_heartbeat},
    {KAFKA_API_LEAVE_GROUP, "LeaveGroup", 0, 3, kafka_handle_leave_group},
    {KAFKA_API_OFFSET_COMMIT, "OffsetCommit", 2, 7, kafka_handle_offset_commit},
    {KAFKA_API_OFFSET_FETCH, "OffsetFetch", 1, 8, kafka_handle_offset_fetch},
    {KAFKA_API_LIST_GROUPS, "ListGroups", 0, 4, kafka_handle_list_groups},
    {KAFKA_API_DESCRIBE_GROUPS, "DescribeGroups", 0, 4, kafka_handle_describe_groups},
    {KAFKA_API_DELETE_GROUPS, "DeleteGroups", 0, 2, kafka_handle_delete_groups},
    {KAFKA_API_OFFSET_DELETE, "OffsetDelete", 0, 0, kafka_handle_offset_delete},
    /* Idempotent producers (KIP-98, KIP-360); transactional ids (broker/txn/). */
    {KAFKA_API_INIT_PRODUCER_ID, "InitProducerId", 0, 4, kafka_handle_init_producer_id},
    {KAFKA_API_DESCRIBE_PRODUCERS, "DescribeProducers", 0, 0, kafka_handle_describe_producers},
    {KAFKA_API_DESCRIBE_TRANSACTIONS, "DescribeTransactions", 0, 0,
     kafka_handle_describe_transactions},
    {KAFKA_API_LIST_TRANSACTIONS, "ListTransactions", 0, 0, kafka_handle_list_transactions},
    {KAFKA_API_ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn", 0, 3,
     kafka_handle_add_partitions_to_txn},
    {KAFKA_API_ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn", 0, 3, kafka_handle_add_offsets_to_txn},
    {KAFKA_API_END_TXN, "EndTxn", 0, 3, kafka_handle_end_txn},
    /* Transaction markers on led partitions (broker/replica/txn_markers.h). */
    {KAFKA_API_WRITE_TXN_MARKERS, "WriteTxnMarkers", 0, 1, kafka_handle_write_txn_markers},
    /* Offsets sent in a transaction, pending until its marker (broker/group/). */
    {KAFKA_API_TXN_OFFSET_COMMIT, "TxnOffsetCommit", 0, 3, kafka_handle_txn_offset_commit},
    /* SASL_PLAINTEXT / SASL_SSL listeners (handle_sasl.c); SCRAM users. */
    {KAFKA_API_SASL_HANDSHAKE, "SaslHandshake", 0, 1, kafka_handle_sasl_handshake},
    {KAFKA_API_SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, kafka_handle_sasl_authenticate},
    {KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS, "DescribeUserScramCredentials", 0, 0,
     kafka_handle_describe_user_scram_credentials},
    {KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, "AlterUserScramCredentials", 0, 0,
     kafka_handle_alter_user_scram_credentials},
    /* ACLs in the metadata log (handle_acls.c, KIP-801). */
    {KAFKA_API_DESCRIBE_ACLS, "DescribeAcls", 0, 3, kafka_handle_describe_acls},
    {KAFKA_API_CREATE_ACLS, "CreateAcls", 0, 3, kafka_handle_create_acls},
    {KAFKA_API_DELETE_ACLS, "DeleteAcls", 0, 3, kafka_handle_delete_acls},
};

#define N_APIS (sizeof apis / sizeof *apis)

static const struct api_entry *find_api(int16_t key)
{
    for (size_t i = 0; i < N_APIS; i++) {
        if (apis[i].key == key) {
            return &apis[i];
        }
    }
    return NULL;
}

bool kafka_dispatch_advertised(int16_t api_key, int16_t *min_version, int16_t *max_version)
{
    const struct api_entry *e = find_api(api_key);
    if (e != NULL) {
        *min_version = e->min_version;
        *max_version = e->max_version;
    }
    return e != NULL;
}

const char *kafka_dispatch_api_name(int16_t api_key)
{
    const struct api_entry *e = find_api(api_key);
    return e != NULL ? e->name : NULL;
}

size_t kafka_dispatch_api_count(void)
{
    return N_APIS;
}

void kafka_dispatch_api_at(size_t i, int16_t *api_key, int16_t *min_version, int16_t *max_version)
{
    *api_key = apis[i].key;
    *min_version = apis[i].min_version;
    *max_version = apis[i].max_version;
}

static void call_free(struct kafka_call *call, bool failed)
{
    request_metrics_record(call->svc->requests, call->header.api_key, failed,
                           uv_hrtime() - call->started_ns);
    kafka_arena_free(&call->arena);
    free(call);
}

void kafka_call_fail(struct kafka_call *call, const char *why)
{
    struct kafka_request *req = call->req;
    kafka_conn_fail(req->conn, why);
    call_free(call, true);
    kafka_request_drop(req);
}

void kafka_call_no_response(struct kafka_call *call)
{
    struct kafka_request *req = call->req;
    call_free(call, false);
    kafka_request_drop(req);
}

void kafka_call_bad_request(struct kafka_call *call, int status)
{
    char why[160];
    snprintf(why, sizeof why, "cannot decode request api_key=%d api_version=%d: %s",
             call->header.api_key, call->header.api_version, kafka_codec_strerror(status));
    kafka_call_fail(call, why);
}

int kafka_call_begin_response(struct kafka_call *call, struct kafka_writer *w)
{
    struct buf *out = &call->req->response.bytes;
    buf_reset(out);
    uint8_t *size;
    if (buf_append_zeros(out, 4, &size) != 0) {
        return KAFKA_CODEC_ENOMEM;
    }
    kafka_writer_init(w, out);
    struct kafka_response_header h = {call->header.correlation_id};
    return kafka_response_header_encode(w, call->response_header_version, &h);
}

static int attach_splices(struct kafka_call *call, const struct kafka_writer *w)
{
    for (size_t i = 0; i < w->splice_count; i++) {
        const struct kafka_file_slice *slice = w->splices[i].source;
        int fd = dup(slice->fd);
        if (fd < 0) {
            return KAFKA_CODEC_ENOMEM;
        }
        if (kafka_response_add_splice(&call->req->response, w->splices[i].offset, fd,
                                      slice->position, (size_t)w->splices[i].len) != 0) {
            close(fd);
            return KAFKA_CODEC_ENOMEM;
        }
    }
    return 0;
}

void kafka_call_finish_response(struct kafka_call *call, struct kafka_writer *w, int status)
{
    if (status == 0) {
        status = attach_splices(call, w);
    }
    kafka_writer_free(w);
    if (status != 0) {
        /* Logged once, by the connection as it closes (with the peer). */
        char why[160];
        snprintf(why, sizeof why, "cannot encode response api_key=%d api_version=%d: %s",
                 call->header.api_key, call->header.api_version, kafka_codec_strerror(status));
        kafka_call_fail(call, why);
        return;
    }
    struct kafka_request *req = call->req;
    call_free(call, false);
    kafka_request_complete(req);
}

/* The one mapping from the log's error type to Kafka's codes. */
int16_t kafka_error_from_log(int rv)
{
    switch (rv) {
    case 0:
        return KAFKA_ERROR_NONE;
    case LOG_ERR_CORRUPT:
        return KAFKA_ERROR_CORRUPT_MESSAGE;
    case LOG_ERR_TOO_LARGE:
        return KAFKA_ERROR_MESSAGE_TOO_LARGE;
    case LOG_ERR_INVALID_RECORD:
        return KAFKA_ERROR_INVALID_RECORD;
    case LOG_ERR_OFFSET_OUT_OF_RANGE:
        return KAFKA_ERROR_OFFSET_OUT_OF_RANGE;
    case LOG_ERR_RECORD_LIST_TOO_LARGE:
        return KAFKA_ERROR_RECORD_LIST_TOO_LARGE;
    case LOG_ERR_STALE_EPOCH:
        return KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER;
    case LOG_ERR_OUT_OF_ORDER_SEQUENCE:
        return KAFKA_ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    case LOG_ERR_INVALID_PRODUCER_EPOCH:
        return KAFKA_ERROR_INVALID_PRODUCER_EPOCH;
    case LOG_ERR_INVALID_TXN_STATE:
        return KAFKA_ERROR_INVALID_TXN_STATE;
    case LOG_ERR_COORDINATOR_FENCED:
        return KAFKA_ERROR_TRANSACTION_COORDINATOR_FENCED;
    case LOG_ERR_CLOSED:
    case -EIO:
    case -ENOSPC:
    case -EROFS:
    case -EDQUOT:
        return KAFKA_ERROR_KAFKA_STORAGE_ERROR;
    default:
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
}

int16_t kafka_check_leader_epoch(int32_t requested, int32_t current)
{
    if (requested < 0 || requested == current) {
        return KAFKA_ERROR_NONE;
    }
    return requested < current ? KAFKA_ERROR_FENCED_LEADER_EPOCH : KAFKA_ERROR_UNKNOWN_LEADER_EPOCH;
}

/* ApiVersions at a version we do not know: v0 body, header v0, error 35 and
 * our own range, so the client retries with a version we speak (KIP-511). */
static void api_versions_unsupported(struct kafka_call *call)
{
    struct kafka_api_versions_response_api_version range = {KAFKA_API_API_VERSIONS, 0, 0};
    kafka_dispatch_advertised(KAFKA_API_API_VERSIONS, &range.min_version, &range.max_version);
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.error_code = KAFKA_ERROR_UNSUPPORTED_VERSION;
    resp.api_keys = &range;
    resp.api_keys_count = 1;
    call->response_header_version = 0;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_api_versions_response_encode(&w, 0, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static struct kafka_call *call_new(struct kafka_request *req, struct kafka_services *svc)
{
    struct kafka_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return NULL;
    }
    call->req = req;
    call->svc = svc;
    call->started_ns = uv_hrtime();
    call->header.api_key = -1; /* not counted until the header decodes */
    kafka_arena_init(&call->arena, CALL_ARENA_LIMIT);
    kafka_reader_init(&call->body, req->frame, req->frame_len, &call->arena);
    return call;
}

/* Route a decoded header; false if the connection must be closed. */
static void route(struct kafka_call *call, int header_status)
{
    const struct kafka_request_header *h = &call->header;
    const struct api_entry *api = find_api(h->api_key);
    bool in_range =
        api != NULL && h->api_version >= api->min_version && h->api_version <= api->max_version;
    if (h->api_key == KAFKA_API_API_VERSIONS && (!in_range || header_status != 0)) {
        api_versions_unsupported(call);
        return;
    }
    char why[128];
    if (!kafka_conn_authenticated(call->req->conn) && h->api_key != KAFKA_API_API_VERSIONS &&
        h->api_key != KAFKA_API_SASL_HANDSHAKE && h->api_key != KAFKA_API_SASL_AUTHENTICATE) {
        /* Kafka's rule: nothing is served before authentication. */
        snprintf(why, sizeof why, "request api_key=%d before SASL authentication", h->api_key);
        kafka_call_fail(call, why);
        return;
    }
    if (kafka_conn_session_expired(call->req->conn, uv_now(call->svc->loop)) &&
        h->api_key != KAFKA_API_SASL_HANDSHAKE && h->api_key != KAFKA_API_SASL_AUTHENTICATE) {
        /* KIP-368: past connections.max.reauth.ms only a re-authentication. */
        snprintf(why, sizeof why,
                 "request api_key=%d after the SASL session expired without re-authentication",
                 h->api_key);
        kafka_call_fail(call, why);
        return;
    }
    if (!in_range || header_status != 0) {
        snprintf(why, sizeof why, "unsupported request api_key=%d api_version=%d%s", h->api_key,
                 h->api_version, header_status == 0 || !in_range ? "" : " (bad header)");
        kafka_call_fail(call, why);
        return;
    }
    int16_t request_header;
    if (kafka_api_header_versions(h->api_key, h->api_version, &request_header,
                                  &call->response_header_version, &call->flexible) != 0) {
        snprintf(why, sizeof why, "no codec for api_key=%d api_version=%d", h->api_key,
                 h->api_version);
        kafka_call_fail(call, why);
        return;
    }
    api->handle(call);
}

void kafka_dispatch(struct kafka_request *req, void *data)
{
    if (kafka_conn_sasl_raw(req->conn)) {
        kafka_sasl_raw_token(req, data);
        return;
    }
    struct kafka_call *call = call_new(req, data);
    if (call == NULL) {
        kafka_conn_fail(req->conn, "out of memory for request");
        kafka_request_drop(req);
        return;
    }
    int rv = kafka_request_header_decode(&call->body, &call->header);
    if (rv != 0 && rv != KAFKA_CODEC_EVERSION) {
        char why[128];
        snprintf(why, sizeof why, "cannot decode request header: %s", kafka_codec_strerror(rv));
        kafka_call_fail(call, why);
        return;
    }
    route(call, rv);
}
