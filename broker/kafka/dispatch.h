/* Request dispatch: decode the request header of each frame a connection
 * delivers, route it to the handler of its API (one handle_<api>.c file per
 * API), and give handlers one way to answer.
 *
 * The APIs and version ranges advertised (ApiVersions) are exactly the
 * handler table in dispatch.c. A request for an API or version outside it
 * closes the connection, as Kafka does, except ApiVersions, which is answered
 * in the v0 format with UNSUPPORTED_VERSION so the client can retry lower
 * (KIP-511). A body that does not decode closes the connection too.
 *
 * A handler receives a kafka_call it owns until it calls kafka_call_respond
 * (or kafka_call_no_response for acks=0 Produce, or kafka_call_fail), which
 * frees the call. It may answer later (Fetch long poll). Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_DISPATCH_H
#define SLUICE_BROKER_KAFKA_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker/kafka/connection.h"
#include "broker/kafka/request_metrics.h"
#include "proto/kafka/kafka_arena.h"
#include "proto/kafka/kafka_header.h"
#include "proto/kafka/kafka_reader.h"
#include "proto/kafka/kafka_writer.h"
#include "broker/metadata/metadata_view.h"
#include "broker/replica/replica_manager.h"

struct group_coordinator;
struct txn_coordinator;
struct fetch_session_cache;
struct kafka_authorizer;
#include "common/config.h"

/* What handlers may use; borrowed by every call. */
struct kafka_services {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct metadata_view *metadata;
    struct replica_manager *replicas;
    struct group_coordinator *groups;
    struct fetch_session_cache *fetch_sessions; /* KIP-227 (fetch_session.h) */
    struct request_metrics *requests;           /* NULL: not counted */
    const struct kafka_authorizer *authorizer;  /* NULL: no authorization (authorizer.h) */
    struct txn_coordinator *txns;               /* NULL: no transactions */
};

struct kafka_call {
    struct kafka_request *req; /* the connection's request: frame in, response out */
    struct kafka_request_header header;
    int16_t response_header_version;
    bool flexible;
    struct kafka_arena arena; /* decoded request and response scratch */
    struct kafka_reader body; /* positioned after the request header */
    struct kafka_services *svc;
    void *handler_data;  /* for asynchronous handlers */
    uint64_t started_ns; /* uv_hrtime when the frame was dispatched */
};

/* The connection callback (kafka_request_cb); `data` is the kafka_services. */
void kafka_dispatch(struct kafka_request *req, void *data);

/* Answering. begin: reserve the frame size, write the response header and
 * start a writer on the response buffer; encode the body with it; then
 * finish: turn the writer's splice points (sources are struct
 * kafka_file_slice) into file splices, complete the request and free the
 * call. `status` is the encode result: if non-zero the connection is closed
 * instead (an encode failure is a server bug, logged). */
int kafka_call_begin_response(struct kafka_call *call, struct kafka_writer *w);
void kafka_call_finish_response(struct kafka_call *call, struct kafka_writer *w, int status);
/* No response at all (acks=0); frees the call. */
void kafka_call_no_response(struct kafka_call *call);
/* Close the connection after logging `why` with the peer; frees the call. */
void kafka_call_fail(struct kafka_call *call, const char *why);

/* A byte range of a segment file, as the splice source of a records field. */
struct kafka_file_slice {
    int fd; /* borrowed until kafka_call_finish_response returns (it dups it) */
    int64_t position;
};

/* Advertised version range for `api_key`; false if not implemented. */
bool kafka_dispatch_advertised(int16_t api_key, int16_t *min_version, int16_t *max_version);
/* The advertised table, for ApiVersions: entry i of kafka_dispatch_api_count(). */
size_t kafka_dispatch_api_count(void);
/* Kafka's name of a served API ("Produce"), NULL if not served. */
const char *kafka_dispatch_api_name(int16_t api_key);
void kafka_dispatch_api_at(size_t i, int16_t *api_key, int16_t *min_version, int16_t *max_version);

/* Handlers (handle_<api>.c). */
void kafka_handle_api_versions(struct kafka_call *call);
void kafka_handle_metadata(struct kafka_call *call);
void kafka_handle_produce(struct kafka_call *call);
void kafka_handle_init_producer_id(struct kafka_call *call);
void kafka_handle_describe_producers(struct kafka_call *call);
void kafka_handle_write_txn_markers(struct kafka_call *call);
void kafka_handle_add_partitions_to_txn(struct kafka_call *call);
void kafka_handle_add_offsets_to_txn(struct kafka_call *call);
void kafka_handle_end_txn(struct kafka_call *call);
void kafka_handle_fetch(struct kafka_call *call);
void kafka_handle_list_offsets(struct kafka_call *call);
void kafka_handle_offset_for_leader_epoch(struct kafka_call *call);
void kafka_handle_create_topics(struct kafka_call *call);
void kafka_handle_delete_topics(struct kafka_call *call);
void kafka_handle_describe_configs(struct kafka_call *call);
void kafka_handle_create_partitions(struct kafka_call *call);
void kafka_handle_elect_leaders(struct kafka_call *call);
void kafka_handle_describe_log_dirs(struct kafka_call *call);
void kafka_handle_alter_partition_reassignments(struct kafka_call *call);
void kafka_handle_list_partition_reassignments(struct kafka_call *call);
void kafka_handle_delete_records(struct kafka_call *call);
void kafka_handle_alter_configs(struct kafka_call *call);
void kafka_handle_incremental_alter_configs(struct kafka_call *call);
void kafka_handle_find_coordinator(struct kafka_call *call);
void kafka_handle_join_group(struct kafka_call *call);
void kafka_handle_sync_group(struct kafka_call *call);
void kafka_handle_heartbeat(struct kafka_call *call);
void kafka_handle_leave_group(struct kafka_call *call);
void kafka_handle_offset_commit(struct kafka_call *call);
void kafka_handle_txn_offset_commit(struct kafka_call *call);
void kafka_handle_offset_fetch(struct kafka_call *call);
void kafka_handle_list_groups(struct kafka_call *call);
void kafka_handle_describe_transactions(struct kafka_call *call);
void kafka_handle_list_transactions(struct kafka_call *call);
void kafka_handle_describe_groups(struct kafka_call *call);
void kafka_handle_delete_groups(struct kafka_call *call);
void kafka_handle_offset_delete(struct kafka_call *call);
/* SASL (handle_sasl.c) and SCRAM credential admin (handle_user_scram.c). */
void kafka_handle_sasl_handshake(struct kafka_call *call);
void kafka_handle_sasl_authenticate(struct kafka_call *call);
void kafka_handle_describe_user_scram_credentials(struct kafka_call *call);
void kafka_handle_alter_user_scram_credentials(struct kafka_call *call);
/* ACLs (handle_acls.c). */
void kafka_handle_describe_acls(struct kafka_call *call);
void kafka_handle_create_acls(struct kafka_call *call);
void kafka_handle_delete_acls(struct kafka_call *call);
/* A bare SASL token after SaslHandshake v0 (the connection is in raw mode). */
void kafka_sasl_raw_token(struct kafka_request *req, struct kafka_services *svc);
/* Kafka's client host for a member: "/" and the peer address (call arena). */
const char *kafka_client_host(struct kafka_call *call);

/* Helpers for handlers: a code for a log error, and a decode failure. */
int16_t kafka_error_from_log(int rv);
/* KIP-320: a request naming the leader epoch it believes in is fenced when
 * that epoch is older than the partition's (FENCED_LEADER_EPOCH) and told to
 * refresh its metadata when newer (UNKNOWN_LEADER_EPOCH); -1 skips the check. */
int16_t kafka_check_leader_epoch(int32_t requested, int32_t current);
void kafka_call_bad_request(struct kafka_call *call, int status);
/* The partition if this broker leads it (client Produce, Fetch, ListOffsets,
 * DeleteRecords go to the leader only); else NULL with *error set as
 * Kafka's ReplicaManager.getPartitionOrError: NOT_LEADER_OR_FOLLOWER (the
 * partition exists, another broker or nobody leads it),
 * KAFKA_STORAGE_ERROR (its log directory failed here) or
 * UNKNOWN_TOPIC_OR_PARTITION (no such partition, or its topic deleted).
 * Parked Produce and DeleteRecords ask it again when the partition goes, so
 * they answer as Kafka's DelayedProduce and DelayedDeleteRecords do. */
struct partition *kafka_leader_partition(struct kafka_call *call, const char *topic, int32_t index,
                                         int16_t *error);

#endif
