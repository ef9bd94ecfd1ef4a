/* Shared between the service's files (service.c: setup, broker lifecycle;
 * service_topics.c: topic administration; service_configs.c: topic configs; service_duties.c:
 * fencing and elections; service_read.c: metadata fetch and quorum description). Not a public
 * interface. */
#ifndef SLUICE_CONTROLLER_SERVICE_INTERNAL_H
#define SLUICE_CONTROLLER_SERVICE_INTERNAL_H

#include "proto/kafka/kafka_errors.h"
#include "metadata/records.h"
#include "controller/service.h"
#include "proto/controller.pb-c.h"

typedef Sluice__Controller__LeaderHint LeaderHint;
typedef Sluice__Controller__TopicResult TopicResult;

struct service_op;
typedef void (*service_op_done)(struct service_op *op, int status, const struct fsm_result *result);

/* One proposal on behalf of a request (call may be NULL for duties). */
struct service_op {
    struct quorum_proposal proposal;
    struct controller_service *svc;
    struct rpc_call *call;
    service_op_done done;
    void *extra; /* handler-specific, freed with free() after done */
};

/* Check each caller's identity per method (service_identity.c) when the
 * controller listener speaks mutual TLS. */
void service_identity_guard(struct controller_service *svc);
/* Propose `batch` (freed here in every case) and call `done` with the
 * outcome. On a synchronous failure `done` runs before returning. */
void service_propose(struct controller_service *svc, struct rpc_call *call, MetadataBatch *batch,
                     void *extra, service_op_done done);
/* Per-partition answers of the requests answered with an
 * ElectLeadersResponse (ElectLeaders, AlterPartitionReassignments): each
 * partition's code and message, and where its change record sits in the
 * proposed batch (-1: none). */
struct partition_answer {
    const char *topic; /* borrowed from the request */
    int32_t partition;
    int32_t code;
    char message[160];
    int record;
};
struct partition_answers {
    size_t n;
    struct partition_answer items[];
};
/* n answers with no record yet (the caller fills topic and partition), or
 * NULL; freed with free(). */
struct partition_answers *partition_answers_new(size_t n);
/* The partition answer `it` is for (it->topic, it->partition) in the
 * image, with its topic in *topic; NULL, with `it` answered
 * UNKNOWN_TOPIC_OR_PARTITION, when there is no such partition. */
const PartitionState *partition_answer_find(struct controller_service *svc,
                                            struct partition_answer *it, const TopicState **topic);
/* Answer `call` with one result per answer, or `failure` alone (with the
 * leader hint for NOT_CONTROLLER). */
void service_respond_answers(struct controller_service *svc, struct rpc_call *call,
                             const struct partition_answers *x, int32_t failure);
/* service_propose's callback for `extra` = struct partition_answers: a
 * record the state machine refused marks its partition as changed
 * concurrently; then the answers go out. */
void service_answers_done(struct service_op *op, int status, const struct fsm_result *res);

/* Map a proposal failure to a Kafka error (NOT_CONTROLLER, ...). */
int32_t service_failure_code(int status);
/* Fill the leader hint (static storage in `hint`; host borrowed from svc). */
void service_leader_hint(struct controller_service *svc, LeaderHint *hint);
/* One requested topic's answer, as the topic responders keep it. */
struct service_answer {
    const char *name; /* borrowed from the request */
    int32_t code;
    char message[200];
};
/* The i-th requested topic's answer in `extra` (borrowed until the response
 * is sent). */
typedef const struct service_answer *(*service_topic_result_fn)(void *extra, size_t i);
/* Answer DeleteTopics, CreatePartitions or AlterConfigs: a TopicResultsResponse
 * with `n` results from `fn`. A `failure` other than NONE (NOT_CONTROLLER, sent
 * with the leader hint, or a proposal failure) is every topic's code. */
void service_respond_topics(struct controller_service *svc, struct rpc_call *call, size_t n,
                            int32_t failure, service_topic_result_fn fn, void *extra);
/* Whether `id` may lead or be in an ISR now: registered, unfenced, and not
 * shutting down. */
bool service_broker_usable(struct controller_service *svc, int32_t id);
/* NOT_CONTROLLER unless this node is the active controller. */
bool service_check_active(struct controller_service *svc);

void service_create_topics(struct rpc_call *call, void *arg);
void service_delete_topics(struct rpc_call *call, void *arg);
void service_create_partitions(struct rpc_call *call, void *arg);
void service_alter_configs(struct rpc_call *call, void *arg);
void service_alter_scram(struct rpc_call *call, void *arg);
/* service_acls.c */
void service_alter_acls(struct rpc_call *call, void *arg);
/* service_elect.c */
void service_elect_leaders(struct rpc_call *call, void *arg);
void service_fetch_metadata(struct rpc_call *call, void *arg);
void service_describe_quorum(struct rpc_call *call, void *arg);
/* service_producer_ids.c */
void service_allocate_producer_ids(struct rpc_call *call, void *arg);
/* Elections for every partition whose leader or ISR includes an unusable
 * broker; `only_broker` >= 0 limits it to partitions involving that broker.
 * Appends PartitionChangeRecords to `batch`; returns how many or -ENOMEM. */
int service_elect_partitions(struct controller_service *svc, MetadataBatch *batch,
                             int32_t only_broker);
/* A FenceBroker (fence) or UnfenceBroker record for `b` (borrowed), then
 * the PartitionChangeRecords it calls for, computed as if it were applied:
 * leadership off a fenced broker and it out of ISRs; a returning broker
 * elected where it can lead an offline partition. One batch, one raft entry,
 * so the image never shows a fenced leader (KIP-631). Returns the number of
 * records added or -ENOMEM. */
int service_fencing_batch(struct controller_service *svc, MetadataBatch *batch,
                          const BrokerState *b, bool fence);
/* A RegisterBroker record for `req` and, when it replaces another
 * incarnation of the broker, the PartitionChangeRecords that registration
 * calls for, computed as if applied (the new registration starts fenced):
 * leadership off the old incarnation and it out of every ISR, except where
 * it is the last member (the partition then stays offline with it, Kafka's
 * last-member rule). Its leader re-adds it after catch-up (AlterPartition
 * with its new broker epoch). One batch, so no applied offset shows the new,
 * possibly empty, incarnation leading or in sync. Returns the number of
 * records added or -ENOMEM. */
int service_registration_batch(struct controller_service *svc, MetadataBatch *batch,
                               const Sluice__Controller__RegisterBrokerRequest *req);
/* Elections for the partitions broker `b` reported offline (offline_replicas)
 * where it still leads or is in the ISR: it leaves them. Returns the number
 * of records added or -ENOMEM. */
int service_offline_batch(struct controller_service *svc, MetadataBatch *batch,
                          const BrokerState *b);
void service_duties(struct controller_service *svc);
/* service_alter.c: AlterPartition (KIP-497, KIP-903), one partition
 * (versions 1, 2) or many (version 3, issue 14). */
void service_alter_partition(struct rpc_call *call, void *arg);
/* service_reassign.c: AlterPartitionReassignments (KIP-455). */
void service_alter_reassignments(struct rpc_call *call, void *arg);
/* The change records finishing every reassignment whose target replicas
 * are all in the ISR: the replica set becomes the target, leadership leaves
 * a removed leader. Returns records added or -ENOMEM. */
int service_reassign_complete(struct controller_service *svc, MetadataBatch *batch);
/* Preferred replica election for one partition (election_preferred) into
 * `batch`: 1 if a change record was added, 0 if none is due or possible,
 * or -ENOMEM. */
int service_elect_preferred(struct controller_service *svc, MetadataBatch *batch,
                            const TopicState *t, const PartitionState *p);

#endif
