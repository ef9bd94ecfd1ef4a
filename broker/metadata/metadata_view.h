/* The broker's view of cluster metadata: brokers and their endpoints, the
 * controller, topics (id, name, partitions, configs) and per partition the
 * leader, replicas, ISR and leader epoch.
 *
 * This header is the ONE interface the Kafka handlers and the replica manager
 * use. The controller quorum owns the metadata (a single node is a one-voter
 * quorum, as in KRaft); the view is opened by metadata_quorum_open
 * (metadata_quorum.h), fed by the Raft metadata stream, and admin mutations
 * are forwarded to the active controller.
 *
 * Pointers returned by the getters are borrowed and stay valid until the next
 * mutation (or metadata update) on the loop. Everything runs on the broker's
 * loop thread. Mutations return a Kafka error code (0 = NONE) and, on error,
 * a message in `err` suitable for the response's error_message. */
#ifndef SLUICE_BROKER_METADATA_METADATA_VIEW_H
#define SLUICE_BROKER_METADATA_METADATA_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/kafka/listener.h"
#include "broker/metadata/topic_name.h"
#include "common/config.h"
#include "metadata/acl.h"
#include "proto/controller.pb-c.h"

#define METADATA_MAX_REPLICAS   16
#define METADATA_MAX_PARTITIONS 100000

struct metadata_endpoint {
    char listener[LISTENER_NAME_MAX];
    char host[LISTENER_HOST_MAX];
    uint16_t port;
};

struct metadata_broker {
    int32_t node_id;
    int64_t epoch;    /* its registration's broker epoch (KIP-903) */
    const char *rack; /* NULL if none */
    struct metadata_endpoint endpoints[LISTENER_MAX];
    size_t n_endpoints;
};

struct metadata_partition {
    int32_t index;
    int32_t leader; /* -1: no leader */
    int32_t leader_epoch;
    int32_t partition_epoch; /* the ISR's version (AlterPartition compare-and-set) */
    int32_t replicas[METADATA_MAX_REPLICAS];
    int32_t n_replicas;
    int32_t isr[METADATA_MAX_REPLICAS];
    int32_t n_isr;
    /* An ongoing reassignment (KIP-455): subsets of `replicas`, both empty
     * when none is in progress. */
    int32_t adding[METADATA_MAX_REPLICAS];
    int32_t n_adding;
    int32_t removing[METADATA_MAX_REPLICAS];
    int32_t n_removing;
};

struct metadata_topic {
    char name[TOPIC_NAME_MAX + 1];
    uint8_t id[16];
    bool internal;
    int32_t n_partitions;
    struct metadata_partition *partitions; /* n_partitions entries, index == position */
    struct topic_config config;            /* sources say which keys the topic sets */
};

/* Notified after each change is applied (and persisted); may be NULL fields. */
struct metadata_listener {
    void *data;
    void (*topic_created)(void *data, const struct metadata_topic *topic);
    /* Called before the topic is freed: `topic` is still readable. */
    void (*topic_deleted)(void *data, const struct metadata_topic *topic);
    /* Partitions [old_count, topic->n_partitions) were added. */
    void (*partitions_added)(void *data, const struct metadata_topic *topic, int32_t old_count);
    void (*config_changed)(void *data, const struct metadata_topic *topic);
    /* The leader, epochs, replicas, ISR or reassignment of partition `index`
     * (one shown before this update) changed: once per changed partition,
     * so the cost follows the change, not the topic's size. */
    void (*partition_changed)(void *data, const struct metadata_topic *topic, int32_t index);
    /* The brokers shown (registered and unfenced) changed, after the
     * topics of the same update: `ids` (`n` of them) are the brokers that
     * appeared or went (fenced, unregistered); NULL when which is not known
     * (no memory): any may have. */
    void (*brokers_changed)(void *data, const int32_t *ids, size_t n);
};

struct metadata_view;

/* Close a view opened by metadata_quorum_open (NULL: no-op). */
void metadata_view_close(struct metadata_view *v);
/* At most one listener; set before mutations. */
void metadata_view_set_listener(struct metadata_view *v, const struct metadata_listener *l);

/* ---- reads ---- */
const char *metadata_view_cluster_id(const struct metadata_view *v);
int32_t metadata_view_controller_id(const struct metadata_view *v);
int32_t metadata_view_local_node(const struct metadata_view *v);
size_t metadata_view_broker_count(const struct metadata_view *v);
const struct metadata_broker *metadata_view_broker(const struct metadata_view *v, size_t i);
/* The endpoint of `broker` on the listener named `listener`, NULL if none. */
const struct metadata_endpoint *metadata_broker_endpoint(const struct metadata_broker *b,
                                                         const char *listener);
const struct metadata_topic *metadata_view_topic(const struct metadata_view *v, const char *name);
size_t metadata_view_topic_count(const struct metadata_view *v);
/* Topics sorted by name into `out` (capacity `max`); returns how many. */
size_t metadata_view_topics(const struct metadata_view *v, const struct metadata_topic **out,
                            size_t max);

/* ---- SCRAM credentials (the metadata log's user SCRAM credential records) ---- */

struct metadata_scram_credential {
    const char *user;
    int32_t mechanism; /* Kafka's ScramMechanism: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512 */
    int32_t iterations;
    const uint8_t *salt;
    size_t salt_len;
    const uint8_t *stored_key, *server_key;
    size_t key_len;
};

/* The i-th credential in (user, mechanism) order, or the one of `user` and
 * `mechanism`; false if none. Pointers are borrowed from the current image:
 * valid until the loop runs again. */
bool metadata_view_scram_at(const struct metadata_view *v, size_t i,
                            struct metadata_scram_credential *out);
bool metadata_view_scram_find(const struct metadata_view *v, const char *user, int32_t mechanism,
                              struct metadata_scram_credential *out);

/* ---- ACL bindings (the metadata log's AccessControlEntryRecords) ---- */

/* The i-th binding in the image's order (metadata/acl.h), NULL past the
 * end; borrowed from the current image: valid until the loop runs again. */
const AclBinding *metadata_view_acl_at(const struct metadata_view *v, size_t i);
/* acl_authorize over the current image (no image yet: denied). */
bool metadata_view_authorize(const struct metadata_view *v, const struct acl_action *a,
                             bool allow_if_no_acl);
/* acl_authorize_any over the current image (no image yet: false). */
bool metadata_view_authorize_any(const struct metadata_view *v, const struct acl_action *a);

/* ---- mutations (asynchronous: what the Kafka admin handlers use) ---- */

struct metadata_config_entry {
    const char *key;
    const char *value; /* NULL: delete (back to the default) */
};

struct metadata_topic_spec {
    const char *name;
    int32_t num_partitions;     /* -1: num.partitions */
    int32_t replication_factor; /* -1: default.replication.factor */
    const struct metadata_config_entry *configs;
    size_t n_configs;
};

/* The view forwards each request to the active controller (following
 * NOT_CONTROLLER), which checks it (names, collisions, counts, replication
 * factor, configs) and answers with Kafka's error code and message; the view
 * passes them through and, after a success that changed something (or
 * TOPIC_ALREADY_EXISTS, which may mean this broker lags), waits (bounded by
 * the timeout) until its own image shows the change, so the client's next
 * Metadata request sees it. No controller answer within `timeout_ms`:
 * REQUEST_TIMED_OUT. The op is caller-owned and must stay valid until `cb`,
 * which fires exactly once on the loop thread; closing the view completes
 * pending ops with REQUEST_TIMED_OUT. */
struct metadata_admin_op;
typedef void (*metadata_admin_cb)(struct metadata_admin_op *op);

struct metadata_admin_op {
    void *data;              /* caller's */
    int16_t error_code;      /* the result, set when cb fires */
    char error_message[512]; /* "" when none */
    /* private */
    metadata_admin_cb cb;
    void *pending; /* the implementation's state while in flight */
    /* metadata_view_submit_alter_acls: the controller's answer, NULL if
     * none came (error_code says why); the caller frees it with
     * sluice__controller__alter_acls_response__free_unpacked(answer, NULL). */
    Sluice__Controller__AlterAclsResponse *answer;
};

/* A read barrier: complete once this view has applied everything the
 * metadata owner had committed when it was called (bounded by timeout_ms).
 * For a Metadata request naming a topic this broker does not know yet: a
 * broker's copy of the controller's metadata lags by up to one fetch, and a
 * client that was just told the topic exists (by another broker) treats
 * UNKNOWN_TOPIC_OR_PARTITION as the topic being gone. Never fails (error
 * code NONE). */
void metadata_view_submit_sync(struct metadata_view *v, uint64_t timeout_ms,
                               struct metadata_admin_op *op, metadata_admin_cb cb);

/* Complete `op` through `cb` with `code` and `message` (copied; may be NULL)
 * without asking the view: for requests the caller refuses itself. */
void metadata_admin_fail(struct metadata_admin_op *op, metadata_admin_cb cb, int16_t code,
                         const char *message);

void metadata_view_submit_create_topic(struct metadata_view *v,
                                       const struct metadata_topic_spec *spec, bool validate_only,
                                       uint64_t timeout_ms, struct metadata_admin_op *op,
                                       metadata_admin_cb cb);
void metadata_view_submit_delete_topic(struct metadata_view *v, const char *name,
                                       uint64_t timeout_ms, struct metadata_admin_op *op,
                                       metadata_admin_cb cb);
void metadata_view_submit_add_partitions(struct metadata_view *v, const char *name, int32_t total,
                                         bool validate_only, uint64_t timeout_ms,
                                         struct metadata_admin_op *op, metadata_admin_cb cb);
void metadata_view_submit_alter_topic_config(struct metadata_view *v, const char *name,
                                             const struct metadata_config_entry *entries, size_t n,
                                             bool replace, bool validate_only, uint64_t timeout_ms,
                                             struct metadata_admin_op *op, metadata_admin_cb cb);
/* IncrementalAlterConfigs on a BROKER resource (`broker`: an id's text, or ""
 * for every broker): only the dynamic ones (the replication throttle rates;
 * the controller refuses the rest with INVALID_CONFIG); waits until the view
 * shows the change. */
void metadata_view_submit_alter_broker_config(struct metadata_view *v, const char *broker,
                                              const struct metadata_config_entry *entries, size_t n,
                                              bool validate_only, uint64_t timeout_ms,
                                              struct metadata_admin_op *op, metadata_admin_cb cb);
/* A dynamic broker config for `broker_id` (its own, else every broker's);
 * NULL when unset. Valid until the view next changes. */
const char *metadata_view_broker_config(struct metadata_view *v, int32_t broker_id,
                                        const char *name);
/* ElectLeaders, PREFERRED: make partition `partition` of `name` led by its
 * first replica. The controller answers ELECTION_NOT_NEEDED,
 * PREFERRED_LEADER_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION as Kafka
 * does; after an election the view waits to show the new leader. */
void metadata_view_submit_elect_preferred(struct metadata_view *v, const char *name,
                                          int32_t partition, uint64_t timeout_ms,
                                          struct metadata_admin_op *op, metadata_admin_cb cb);

/* AlterPartitionReassignments (KIP-455): move partition `partition` of
 * `name` to `replicas` (`n` of them; the first is the preferred leader), or
 * with `cancel` back to the replicas it had before its reassignment began
 * (NO_REASSIGNMENT_IN_PROGRESS when none is). Answered once the controller
 * has committed the start (or the cancellation) and this view shows it; the
 * move itself goes on until the new replicas are in sync. */
void metadata_view_submit_reassign(struct metadata_view *v, const char *name, int32_t partition,
                                   const int32_t *replicas, int32_t n, bool cancel,
                                   uint64_t timeout_ms, struct metadata_admin_op *op,
                                   metadata_admin_cb cb);

/* ---- producer ids (InitProducerId) ---- */

/* A producer id never handed out before in this cluster: from this
 * broker's block, allocated by the active controller through the metadata
 * log (a ProducerIdsRecord) and asked for again when it runs out. The op is
 * caller-owned and must stay valid until `cb`, which fires exactly once on
 * the loop thread, possibly before this returns. On failure error_code is
 * retriable for clients (COORDINATOR_NOT_AVAILABLE, ...). */
struct metadata_producer_id_op;
typedef void (*metadata_producer_id_cb)(struct metadata_producer_id_op *op);

struct metadata_producer_id_op {
    void *data;          /* caller's */
    int16_t error_code;  /* the result, set when cb fires */
    int64_t producer_id; /* -1 on error */
    /* private */
    metadata_producer_id_cb cb;
    struct metadata_producer_id_op *next;
};

void metadata_view_submit_producer_id(struct metadata_view *v, uint64_t timeout_ms,
                                      struct metadata_producer_id_op *op,
                                      metadata_producer_id_cb cb);

/* Set (`remove` false: every field of `cred` used, copied) or delete (only
 * user and mechanism) one SCRAM credential through the controller, then wait
 * until this view shows it, like the topic changes above. */
/* CreateAcls and DeleteAcls: `req` (borrowed until return) goes to the
 * controller, which matches the deletion filters against its image; the op
 * completes once this view has applied the change, with op->answer set. */
void metadata_view_submit_alter_acls(struct metadata_view *v,
                                     const Sluice__Controller__AlterAclsRequest *req,
                                     uint64_t timeout_ms, struct metadata_admin_op *op,
                                     metadata_admin_cb cb);

void metadata_view_submit_alter_scram(struct metadata_view *v,
                                      const struct metadata_scram_credential *cred, bool remove,
                                      uint64_t timeout_ms, struct metadata_admin_op *op,
                                      metadata_admin_cb cb);

#endif
