/* CreateTopics, DeleteTopics and CreatePartitions on the active controller. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/placement.h"
#include "controller/service_internal.h"

typedef Sluice__Controller__CreateTopicsRequest CreateTopicsRequest;
typedef Sluice__Controller__CreatableTopic CreatableTopic;
typedef Sluice__Controller__CreateTopicResult CreateTopicResult;
typedef Sluice__Controller__DeleteTopicsRequest DeleteTopicsRequest;
typedef Sluice__Controller__CreatePartitionsRequest CreatePartitionsRequest;

#define MAX_PARTITIONS_PER_TOPIC 100000

/* Per requested topic: its answer, and where its first record sits in the
 * batch (-1: answered without a record). */
struct topic_item {
    struct service_answer answer;
    int record;
    uint8_t id[TOPIC_ID_LEN];
    int32_t partitions, replication;
};

struct topics_extra {
    size_t n;
    struct topic_item items[];
};

static struct topics_extra *extra_new(size_t n)
{
    struct topics_extra *x = calloc(1, sizeof *x + n * sizeof x->items[0]);
    if (x != NULL) {
        x->n = n;
        for (size_t i = 0; i < n; i++) {
            x->items[i].record = -1;
        }
    }
    return x;
}

static void item_error(struct topic_item *it, int32_t code, const char *fmt, const char *arg)
{
    it->answer.code = code;
    snprintf(it->answer.message, sizeof it->answer.message, fmt, arg);
}

/* The brokers new replicas may go to: registered, unfenced, not leaving. */
static size_t usable_brokers(struct controller_service *svc, struct placement_broker *out)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    size_t n = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (service_broker_usable(svc, img->brokers[i]->broker_id)) {
            out[n++] = (struct placement_broker){img->brokers[i]->broker_id, img->brokers[i]->rack};
        }
    }
    return n;
}

/* Answers a topics request with `failure` as every topic's code, or NONE. */
typedef void (*topics_respond_fn)(struct controller_service *svc, struct rpc_call *call,
                                  struct topics_extra *x, int32_t failure);
/* The i-th requested topic's name (borrowed from the request). */
typedef const char *(*topic_name_fn)(const struct rpc_call *call, size_t i);

/* What a topics handler fills: an answer per requested topic, the brokers new
 * replicas may go to, and the batch it proposes. */
struct topics_work {
    struct topics_extra *x;
    struct placement_broker *brokers;
    size_t n_usable;
    MetadataBatch *batch;
};

static void topics_free(struct topics_work *w)
{
    free(w->brokers);
    records_free(w->batch);
    free(w->x);
}

/* Set up `w` for `n` topics. False when the call is answered already (out of
 * memory, or NOT_CONTROLLER) and nothing is left to free. */
static bool topics_begin(struct controller_service *svc, struct rpc_call *call, size_t n,
                         topic_name_fn name, topics_respond_fn respond, struct topics_work *w)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    w->x = extra_new(n);
    w->brokers = malloc((img->n_brokers + 1) * sizeof *w->brokers);
    w->batch = records_batch_new();
    if (w->x == NULL || w->brokers == NULL || w->batch == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        topics_free(w);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        w->x->items[i].answer.name = name(call, i);
    }
    if (!service_check_active(svc)) {
        respond(svc, call, w->x, KAFKA_ERROR_NOT_CONTROLLER);
        topics_free(w);
        return false;
    }
    w->n_usable = usable_brokers(svc, w->brokers);
    return true;
}

/* Propose w's records, or answer at once when there are none (validate only,
 * or every topic refused). `rv` non-zero: out of memory while filling. */
static void topics_finish(struct controller_service *svc, struct rpc_call *call,
                          struct topics_work *w, int rv, topics_respond_fn respond,
                          service_op_done done)
{
    if (rv != 0) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
    } else if (w->batch->n_records == 0) {
        respond(svc, call, w->x, KAFKA_ERROR_NONE);
    } else {
        free(w->brokers);
        service_propose(svc, call, w->batch, w->x, done); /* owns batch and x now */
        return;
    }
    topics_free(w);
}

static const struct service_answer *topic_answer(void *extra, size_t i)
{
    return &((struct topics_extra *)extra)->items[i].answer;
}

/* DeleteTopics and CreatePartitions answer with TopicResults. */
static void topic_results_respond(struct controller_service *svc, struct rpc_call *call,
                                  struct topics_extra *x, int32_t failure)
{
    service_respond_topics(svc, call, x->n, failure, topic_answer, x);
}

static size_t total_partitions(const MetadataImage *img)
{
    size_t n = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        n += img->topics[i]->n_partitions;
    }
    return n;
}

static int64_t total_replicas(const MetadataImage *img)
{
    int64_t n = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        for (size_t p = 0; p < img->topics[i]->n_partitions; p++) {
            n += (int64_t)img->topics[i]->partitions[p]->n_replicas;
        }
    }
    return n;
}

/* max.broker.partitions (KIP-578), checked before anything is recorded so a
 * topic its brokers could not open (each replica holds descriptors) never
 * enters the metadata. `adding` counts replicas already accepted in this
 * request and grows by `replicas` when they fit. */
static bool partition_budget_ok(struct controller_service *svc, int64_t replicas, int64_t *adding,
                                size_t n_usable, struct topic_item *it)
{
    int64_t limit = placement_broker_partition_limit(svc->config->max_broker_partitions);
    int64_t existing = total_replicas(svc->quorum->fsm.image);
    if (!placement_fits(existing, *adding + replicas, n_usable, limit)) {
        it->answer.code = KAFKA_ERROR_POLICY_VIOLATION;
        snprintf(it->answer.message, sizeof it->answer.message,
                 "%lld more partition replicas would exceed max.broker.partitions: %lld per "
                 "broker on %zu brokers, %lld hosted",
                 (long long)replicas, (long long)limit, n_usable, (long long)(existing + *adding));
        return false;
    }
    *adding += replicas;
    return true;
}

/* Kafka refuses names equal once '.' and '_' are identified (metric names). */
static bool names_collide(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '.' ? '_' : *a, y = *b == '.' ? '_' : *b;
        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

/* Place and append the records of partitions [first, first + count). */
static int add_partitions(struct controller_service *svc, MetadataBatch *batch,
                          const uint8_t id[TOPIC_ID_LEN], int32_t first, int32_t count, int32_t rf,
                          const struct placement_broker *brokers, size_t n_brokers,
                          size_t placed_before)
{
    int32_t *replicas = malloc((size_t)count * (size_t)rf * sizeof *replicas);
    if (replicas == NULL) {
        return -ENOMEM;
    }
    /* Continuing the rotation from the partitions that exist spreads
     * leaders evenly across the cluster, not just within one topic. */
    uint32_t start = (uint32_t)(total_partitions(svc->quorum->fsm.image) + placed_before);
    int rv = placement_assign(brokers, n_brokers, count, rf, start,
                              (uint32_t)svc->quorum->fsm.image->n_topics, replicas);
    for (int32_t p = 0; rv == 0 && p < count; p++) {
        rv = records_add_partition(batch, id, first + p, &replicas[p * rf], (size_t)rf);
    }
    free(replicas);
    return rv;
}

/* Validate one CreatableTopic; on success fill partitions/replication. */
static void check_creatable(struct controller_service *svc, const CreateTopicsRequest *req,
                            size_t i, size_t n_usable, struct topic_item *it)
{
    const CreatableTopic *t = req->topics[i];
    const MetadataImage *img = svc->quorum->fsm.image;
    if (!fsm_topic_name_valid(t->name)) {
        return item_error(it, KAFKA_ERROR_INVALID_TOPIC_EXCEPTION, "invalid topic name '%s'",
                          t->name);
    }
    /* Its partition 0 would be our own Raft directory, __cluster_metadata-0
     * under the first log dir (controller_role.c): Kafka refuses the name. */
    if (strcmp(t->name, "__cluster_metadata") == 0) {
        return item_error(it, KAFKA_ERROR_INVALID_REQUEST,
                          "Creation of internal topic %s is prohibited.", t->name);
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(req->topics[j]->name, t->name) == 0) {
            return item_error(it, KAFKA_ERROR_INVALID_REQUEST, "topic '%s' appears twice", t->name);
        }
    }
    for (size_t j = 0; j < img->n_topics; j++) {
        if (strcmp(img->topics[j]->name, t->name) == 0) {
            return item_error(it, KAFKA_ERROR_TOPIC_ALREADY_EXISTS, "Topic '%s' already exists.",
                              t->name);
        }
        if (names_collide(img->topics[j]->name, t->name)) {
            return item_error(it, KAFKA_ERROR_INVALID_TOPIC_EXCEPTION,
                              "topic '%s' collides with an existing topic ('.' vs '_')", t->name);
        }
    }
    it->partitions = t->num_partitions == -1 ? svc->config->num_partitions : t->num_partitions;
    it->replication = t->replication_factor == -1 ? svc->config->default_replication_factor
                                                  : t->replication_factor;
    if (it->partitions < 1 || it->partitions > MAX_PARTITIONS_PER_TOPIC) {
        return item_error(it, KAFKA_ERROR_INVALID_PARTITIONS, "%s",
                          "Number of partitions must be positive.");
    }
    if (it->replication < 1 || (size_t)it->replication > n_usable) {
        it->answer.code = KAFKA_ERROR_INVALID_REPLICATION_FACTOR;
        snprintf(it->answer.message, sizeof it->answer.message,
                 "Replication factor: %d larger than available brokers: %zu.", it->replication,
                 n_usable);
        return;
    }
    struct topic_config tc;
    if (topic_config_init(&tc, svc->config) != 0) {
        return item_error(it, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "%s", "out of memory");
    }
    for (size_t k = 0; k < t->n_configs && it->answer.code == KAFKA_ERROR_NONE; k++) {
        char err[128];
        int rv = topic_config_set(&tc, t->configs[k]->name, t->configs[k]->value, err, sizeof err);
        if (rv != 0) {
            item_error(it, KAFKA_ERROR_INVALID_CONFIG, "%s",
                       rv == CONFIG_UNKNOWN_KEY ? "unknown topic config" : err);
        }
    }
    topic_config_free(&tc);
}

static void create_topics_respond(struct controller_service *svc, struct rpc_call *call,
                                  struct topics_extra *x, int32_t failure)
{
    const CreateTopicsRequest *req = (const CreateTopicsRequest *)call->request;
    Sluice__Controller__CreateTopicsResponse resp =
        SLUICE__CONTROLLER__CREATE_TOPICS_RESPONSE__INIT;
    LeaderHint hint;
    CreateTopicResult *results = calloc(x->n ? x->n : 1, sizeof *results);
    CreateTopicResult **ptrs = calloc(x->n ? x->n : 1, sizeof *ptrs);
    if (results == NULL || ptrs == NULL) {
        free(results);
        free(ptrs);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    resp.error_code = failure;
    if (failure == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    for (size_t i = 0; i < x->n; i++) {
        sluice__controller__create_topic_result__init(&results[i]);
        results[i].name = req->topics[i]->name;
        results[i].error_code = failure != KAFKA_ERROR_NONE ? failure : x->items[i].answer.code;
        results[i].error_message = x->items[i].answer.message;
        if (results[i].error_code == KAFKA_ERROR_NONE) {
            results[i].topic_id = (ProtobufCBinaryData){TOPIC_ID_LEN, x->items[i].id};
            results[i].num_partitions = x->items[i].partitions;
            results[i].replication_factor = x->items[i].replication;
        }
        ptrs[i] = &results[i];
    }
    resp.topics = ptrs;
    resp.n_topics = x->n;
    rpc_call_respond(call, &resp.base, NULL, 0);
    free(results);
    free(ptrs);
}

static void create_topics_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct topics_extra *x = op->extra;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        struct topic_item *it = &x->items[i];
        if (it->record >= 0 && (size_t)it->record < res->n) {
            it->answer.code = res->errors[it->record];
            if (it->answer.code == KAFKA_ERROR_TOPIC_ALREADY_EXISTS) {
                snprintf(it->answer.message, sizeof it->answer.message, "Topic already exists.");
            }
        }
    }
    create_topics_respond(op->svc, op->call, x, status != 0 ? service_failure_code(status) : 0);
}

/* Append the records creating topic `t` (validated). */
static int add_topic_records(struct controller_service *svc, MetadataBatch *batch,
                             const CreatableTopic *t, struct topic_item *it,
                             const struct placement_broker *brokers, size_t n_brokers,
                             size_t placed_before)
{
    uv_random(NULL, NULL, it->id, TOPIC_ID_LEN, 0, NULL);
    it->record = (int)batch->n_records;
    int rv = records_add_topic(batch, t->name, it->id);
    if (rv == 0) {
        rv = add_partitions(svc, batch, it->id, 0, it->partitions, it->replication, brokers,
                            n_brokers, placed_before);
    }
    for (size_t k = 0; rv == 0 && k < t->n_configs; k++) {
        rv = records_add_topic_config(batch, t->name, t->configs[k]->name, t->configs[k]->value);
    }
    return rv;
}

static const char *create_topics_name(const struct rpc_call *call, size_t i)
{
    return ((const CreateTopicsRequest *)call->request)->topics[i]->name;
}

void service_create_topics(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const CreateTopicsRequest *req = (const CreateTopicsRequest *)call->request;
    struct topics_work w;
    if (!topics_begin(svc, call, req->n_topics, create_topics_name, create_topics_respond, &w)) {
        return;
    }
    size_t placed = 0;
    int64_t adding = 0;
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < req->n_topics; i++) {
        struct topic_item *it = &w.x->items[i];
        check_creatable(svc, req, i, w.n_usable, it);
        if (it->answer.code == KAFKA_ERROR_NONE) {
            partition_budget_ok(svc, (int64_t)it->partitions * it->replication, &adding, w.n_usable,
                                it);
        }
        if (it->answer.code != KAFKA_ERROR_NONE || req->validate_only) {
            continue;
        }
        rv = add_topic_records(svc, w.batch, req->topics[i], it, w.brokers, w.n_usable, placed);
        placed += (size_t)it->partitions;
    }
    topics_finish(svc, call, &w, rv, create_topics_respond, create_topics_done);
}

/* ---- DeleteTopics ---- */

static void delete_topics_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct topics_extra *x = op->extra;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        if (x->items[i].record >= 0 && (size_t)x->items[i].record < res->n) {
            int32_t code = res->errors[x->items[i].record];
            /* Already removed by a concurrent request: Kafka says unknown. */
            x->items[i].answer.code = code == KAFKA_ERROR_UNKNOWN_TOPIC_ID
                                          ? KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION
                                          : code;
        }
    }
    topic_results_respond(op->svc, op->call, x, status != 0 ? service_failure_code(status) : 0);
}

static const char *delete_topics_name(const struct rpc_call *call, size_t i)
{
    return ((const DeleteTopicsRequest *)call->request)->names[i];
}

void service_delete_topics(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const DeleteTopicsRequest *req = (const DeleteTopicsRequest *)call->request;
    struct topics_work w;
    if (!topics_begin(svc, call, req->n_names, delete_topics_name, topic_results_respond, &w)) {
        return;
    }
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < req->n_names; i++) {
        const TopicState *t = image_find_topic(svc->quorum->fsm.image, req->names[i]);
        struct topic_item *it = &w.x->items[i];
        if (!svc->config->delete_topic_enable) {
            item_error(it, KAFKA_ERROR_TOPIC_DELETION_DISABLED, "%s",
                       "Topic deletion is disabled.");
        } else if (t == NULL) {
            item_error(it, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "unknown topic '%s'",
                       req->names[i]);
        } else {
            it->record = (int)w.batch->n_records;
            rv = records_add_remove_topic(w.batch, t->topic_id);
        }
    }
    topics_finish(svc, call, &w, rv, topic_results_respond, delete_topics_done);
}

/* ---- CreatePartitions ---- */

static void create_partitions_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct topics_extra *x = op->extra;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        struct topic_item *it = &x->items[i];
        /* The topic's new partition records are contiguous from `record`. */
        for (int32_t k = 0; it->record >= 0 && k < it->partitions; k++) {
            size_t r = (size_t)it->record + (size_t)k;
            if (r < res->n && res->errors[r] != KAFKA_ERROR_NONE &&
                it->answer.code == KAFKA_ERROR_NONE) {
                it->answer.code = res->errors[r];
                snprintf(it->answer.message, sizeof it->answer.message,
                         "the topic changed concurrently");
            }
        }
    }
    topic_results_respond(op->svc, op->call, x, status != 0 ? service_failure_code(status) : 0);
}

/* Validate and append one topic's growth; it->partitions counts new ones. */
static int grow_topic(struct controller_service *svc, MetadataBatch *batch,
                      const Sluice__Controller__CreatePartitionsTopic *req, bool validate_only,
                      struct topic_item *it, const struct placement_broker *brokers,
                      size_t n_usable, size_t *placed)
{
    const TopicState *t = image_find_topic(svc->quorum->fsm.image, req->name);
    if (t == NULL) {
        item_error(it, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "unknown topic '%s'", req->name);
        return 0;
    }
    int32_t have = (int32_t)t->n_partitions;
    if (req->count <= have || req->count > MAX_PARTITIONS_PER_TOPIC) {
        it->answer.code = KAFKA_ERROR_INVALID_PARTITIONS;
        snprintf(it->answer.message, sizeof it->answer.message,
                 "Topic currently has %d partitions, which is higher than the requested %d.", have,
                 req->count);
        return 0;
    }
    int32_t rf = have > 0 ? (int32_t)t->partitions[0]->n_replicas : 1;
    if ((size_t)rf > n_usable) {
        it->answer.code = KAFKA_ERROR_INVALID_REPLICATION_FACTOR;
        snprintf(it->answer.message, sizeof it->answer.message,
                 "Replication factor: %d larger than available brokers: %zu.", rf, n_usable);
        return 0;
    }
    int64_t adding = (int64_t)*placed * rf; /* earlier topics of this request, roughly */
    if (!partition_budget_ok(svc, (int64_t)(req->count - have) * rf, &adding, n_usable, it)) {
        return 0;
    }
    if (validate_only) {
        return 0;
    }
    uint8_t id[TOPIC_ID_LEN];
    memcpy(id, t->topic_id.data, TOPIC_ID_LEN);
    it->record = (int)batch->n_records;
    it->partitions = req->count - have;
    int rv = add_partitions(svc, batch, id, have, it->partitions, rf, brokers, n_usable, *placed);
    *placed += (size_t)it->partitions;
    return rv;
}

static const char *create_partitions_name(const struct rpc_call *call, size_t i)
{
    return ((const CreatePartitionsRequest *)call->request)->topics[i]->name;
}

void service_create_partitions(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const CreatePartitionsRequest *req = (const CreatePartitionsRequest *)call->request;
    struct topics_work w;
    if (!topics_begin(svc, call, req->n_topics, create_partitions_name, topic_results_respond,
                      &w)) {
        return;
    }
    size_t placed = 0;
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < req->n_topics; i++) {
        rv = grow_topic(svc, w.batch, req->topics[i], req->validate_only, &w.x->items[i], w.brokers,
                        w.n_usable, &placed);
    }
    topics_finish(svc, call, &w, rv, topic_results_respond, create_partitions_done);
}
