#include "metadata/fsm.h"
#include "metadata/acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"
#include "common/config.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"

typedef Sluice__Metadata__RegisterBrokerRecord RegisterBrokerRecord;
typedef Sluice__Metadata__PartitionRecord PartitionRecord;
typedef Sluice__Metadata__PartitionChangeRecord PartitionChangeRecord;
typedef Sluice__Metadata__ConfigRecord ConfigRecord;

#define ENTRY_HEADER     8
#define ENTRY_VERSION    1
#define ENTRY_KIND_BATCH 'B'
#define ENTRY_KIND_IMAGE 'I'

/* PartitionRecord and PartitionChangeRecord versions from which the ISR
 * rules of issue 8 apply (unfenced initial ISR, eligible additions): older
 * records replay as they did when they were written, so every node derives
 * the same image from the same log whatever version wrote it. */
#define RECORD_VERSION_ISR_RULES 2

/* Kafka's ConfigResource types. */
#define RESOURCE_TOPIC  2
#define RESOURCE_BROKER 4

/* Apply functions return a Kafka error (rejection, image untouched) or
 * -ENOMEM; NONE means accepted. */

/* ---- the topic index ---- */

static void index_put(struct fsm *fsm, TopicState *t)
{
    if (!fsm->index_valid) {
        return;
    }
    char key[24];
    bool by_id = t->topic_id.len == TOPIC_ID_LEN; /* other lengths never match a record's */
    if (by_id) {
        image_topic_id_format(t->topic_id, key);
    }
    if ((by_id && strmap_get(&fsm->topics_by_id, key) != NULL) ||
        strmap_get(&fsm->topics_by_name, t->name) != NULL) {
        fsm->index_valid = false; /* a duplicate: the walks find the first, as before */
        return;
    }
    if ((by_id && strmap_put(&fsm->topics_by_id, key, t) != 0) ||
        strmap_put(&fsm->topics_by_name, t->name, t) != 0) {
        log_warn("fsm", "out of memory indexing topics: finding them by walking the image");
        fsm->index_valid = false;
    }
}

static void index_forget(struct fsm *fsm, const TopicState *t)
{
    char key[24];
    if (t->topic_id.len == TOPIC_ID_LEN) {
        image_topic_id_format(t->topic_id, key);
        strmap_remove(&fsm->topics_by_id, key);
    }
    strmap_remove(&fsm->topics_by_name, t->name);
}

static void index_rebuild(struct fsm *fsm)
{
    strmap_free(&fsm->topics_by_id);
    strmap_free(&fsm->topics_by_name);
    strmap_init(&fsm->topics_by_id);
    strmap_init(&fsm->topics_by_name);
    fsm->index_valid = true;
    for (size_t i = 0; fsm->index_valid && i < fsm->image->n_topics; i++) {
        index_put(fsm, fsm->image->topics[i]);
    }
}

TopicState *fsm_find_topic(const struct fsm *fsm, const char *name)
{
    return fsm->index_valid ? strmap_get(&fsm->topics_by_name, name)
                            : image_find_topic(fsm->image, name);
}

TopicState *fsm_find_topic_id(const struct fsm *fsm, ProtobufCBinaryData id)
{
    if (!fsm->index_valid || id.len != TOPIC_ID_LEN) {
        return image_find_topic_id(fsm->image, id);
    }
    char key[24];
    image_topic_id_format(id, key);
    return strmap_get(&fsm->topics_by_id, key);
}

/* ---- lifecycle ---- */

int fsm_init(struct fsm *fsm, size_t max_deltas)
{
    memset(fsm, 0, sizeof *fsm);
    strmap_init(&fsm->topics_by_id);
    strmap_init(&fsm->topics_by_name);
    fsm->index_valid = true;
    fsm->image = image_new();
    fsm->deltas = calloc(max_deltas ? max_deltas : 1, sizeof *fsm->deltas);
    if (fsm->image == NULL || fsm->deltas == NULL) {
        fsm_close(fsm);
        return -ENOMEM;
    }
    fsm->max_deltas = max_deltas ? max_deltas : 1;
    return 0;
}

static void deltas_clear(struct fsm *fsm)
{
    for (size_t i = 0; i < fsm->n_deltas; i++) {
        free(fsm->deltas[(fsm->head + i) % fsm->max_deltas].bytes);
    }
    fsm->n_deltas = 0;
    fsm->head = 0;
}

void fsm_close(struct fsm *fsm)
{
    if (fsm->deltas != NULL) {
        deltas_clear(fsm);
    }
    free(fsm->deltas);
    image_free(fsm->image);
    free(fsm->result.errors);
    strmap_free(&fsm->topics_by_id);
    strmap_free(&fsm->topics_by_name);
    memset(fsm, 0, sizeof *fsm);
}

bool fsm_topic_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static int apply_cluster_id(struct fsm *fsm, const Sluice__Metadata__ClusterIdRecord *r)
{
    if (r->cluster_id[0] == '\0') {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    if (fsm->image->cluster_id[0] != '\0') {
        return strcmp(fsm->image->cluster_id, r->cluster_id) == 0
                   ? KAFKA_ERROR_NONE
                   : KAFKA_ERROR_INCONSISTENT_CLUSTER_ID;
    }
    return image_replace_str(&fsm->image->cluster_id, r->cluster_id);
}

static Endpoint *endpoint_copy(const Endpoint *src)
{
    Endpoint *e = malloc(sizeof *e);
    if (e == NULL) {
        return NULL;
    }
    sluice__metadata__endpoint__init(e);
    e->name = image_strdup(src->name);
    e->host = image_strdup(src->host);
    e->security_protocol = image_strdup(src->security_protocol);
    e->port = src->port;
    if (e->name == NULL || e->host == NULL || e->security_protocol == NULL) {
        sluice__metadata__endpoint__free_unpacked(e, NULL);
        return NULL;
    }
    return e;
}

static BrokerState *broker_from_record(const RegisterBrokerRecord *r, int64_t epoch)
{
    BrokerState *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    sluice__metadata__broker_state__init(b);
    b->broker_id = r->broker_id;
    b->broker_epoch = epoch;
    b->fenced = true; /* KIP-631: unfenced once it heartbeats caught up */
    b->incarnation_id = image_strdup(r->incarnation_id);
    b->rack = image_strdup(r->rack);
    b->endpoints = r->n_endpoints ? calloc(r->n_endpoints, sizeof *b->endpoints) : NULL;
    bool ok = b->incarnation_id != NULL && b->rack != NULL &&
              (r->n_endpoints == 0 || b->endpoints != NULL);
    for (size_t i = 0; ok && i < r->n_endpoints; i++) {
        b->endpoints[i] = endpoint_copy(r->endpoints[i]);
        ok = b->endpoints[i] != NULL;
        b->n_endpoints = i + 1;
    }
    if (!ok) {
        sluice__metadata__broker_state__free_unpacked(b, NULL);
        return NULL;
    }
    return b;
}

static int apply_register_broker(struct fsm *fsm, const RegisterBrokerRecord *r, int64_t offset)
{
    if (r->broker_id < 0 || r->incarnation_id[0] == '\0') {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    BrokerState *old = image_find_broker(fsm->image, r->broker_id);
    if (old != NULL && strcmp(old->incarnation_id, r->incarnation_id) == 0) {
        return KAFKA_ERROR_NONE; /* a retried registration: same epoch */
    }
    BrokerState *b = broker_from_record(r, offset);
    if (b == NULL || image_put_broker(fsm->image, b) != 0) {
        if (b != NULL) {
            sluice__metadata__broker_state__free_unpacked(b, NULL);
        }
        return -ENOMEM;
    }
    return KAFKA_ERROR_NONE;
}

static int apply_fencing(struct fsm *fsm, int32_t broker_id, int64_t epoch, bool fenced)
{
    BrokerState *b = image_find_broker(fsm->image, broker_id);
    if (b == NULL) {
        return KAFKA_ERROR_BROKER_ID_NOT_REGISTERED;
    }
    if (b->broker_epoch != epoch) {
        return KAFKA_ERROR_STALE_BROKER_EPOCH;
    }
    b->fenced = fenced;
    return KAFKA_ERROR_NONE;
}

static int apply_topic(struct fsm *fsm, const Sluice__Metadata__TopicRecord *r)
{
    if (!fsm_topic_name_valid(r->name)) {
        return KAFKA_ERROR_INVALID_TOPIC_EXCEPTION;
    }
    if (r->topic_id.len != TOPIC_ID_LEN) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    TopicState *existing = fsm_find_topic(fsm, r->name);
    if (existing != NULL) {
        /* The same id again is a retried proposal that already committed. */
        return image_topic_id_equal(existing->topic_id, r->topic_id)
                   ? KAFKA_ERROR_NONE
                   : KAFKA_ERROR_TOPIC_ALREADY_EXISTS;
    }
    if (fsm_find_topic_id(fsm, r->topic_id) != NULL) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    TopicState *t = malloc(sizeof *t);
    if (t == NULL) {
        return -ENOMEM;
    }
    sluice__metadata__topic_state__init(t);
    t->name = image_strdup(r->name);
    t->topic_id.data = malloc(TOPIC_ID_LEN);
    if (t->name == NULL || t->topic_id.data == NULL) {
        sluice__metadata__topic_state__free_unpacked(t, NULL);
        return -ENOMEM;
    }
    memcpy(t->topic_id.data, r->topic_id.data, TOPIC_ID_LEN);
    t->topic_id.len = TOPIC_ID_LEN;
    if (image_add_topic(fsm->image, t) != 0) {
        sluice__metadata__topic_state__free_unpacked(t, NULL);
        return -ENOMEM;
    }
    index_put(fsm, t);
    return KAFKA_ERROR_NONE;
}

static bool has_duplicates(const int32_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (image_ints_contain(a + i + 1, n - i - 1, a[i])) {
            return true;
        }
    }
    return false;
}

/* Shape rules shared by new partitions and changes: ISR within the replicas,
 * no duplicates, and a leader (unless offline) that is in the ISR. */
static bool partition_shape_valid(const int32_t *replicas, size_t n_replicas, const int32_t *isr,
                                  size_t n_isr, int32_t leader)
{
    if (n_replicas == 0 || has_duplicates(replicas, n_replicas) || has_duplicates(isr, n_isr)) {
        return false;
    }
    for (size_t i = 0; i < n_isr; i++) {
        if (!image_ints_contain(replicas, n_replicas, isr[i])) {
            return false;
        }
    }
    return leader == -1 || image_ints_contain(isr, n_isr, leader);
}

/* An empty partition's replicas are all in sync, but only brokers that are
 * unfenced when it is created join its ISR (one fenced meanwhile, say
 * between the controller's placement and this record, is out until its
 * leader adds it). The leader, if fenced, moves to the first unfenced
 * member; with none, the partition starts offline with the whole replica
 * set as its ISR, so whichever returns first can lead it. */
static void initial_isr_unfenced(const MetadataImage *img, PartitionState *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_isr; i++) {
        const BrokerState *b = image_find_broker(img, p->isr[i]);
        if (b != NULL && !b->fenced) {
            p->isr[n++] = p->isr[i];
        }
    }
    if (n == 0) {
        p->leader = -1;
        return;
    }
    p->n_isr = n;
    if (p->leader != -1 && !image_ints_contain(p->isr, p->n_isr, p->leader)) {
        p->leader = p->isr[0];
    }
}

static int apply_partition(struct fsm *fsm, const PartitionRecord *r)
{
    TopicState *t = fsm_find_topic_id(fsm, r->topic_id);
    if (t == NULL) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_ID;
    }
    /* Partitions are added in index order, so a repeat or a gap is refused. */
    if (r->partition < 0 || (size_t)r->partition != t->n_partitions) {
        return KAFKA_ERROR_INVALID_PARTITIONS;
    }
    if (!partition_shape_valid(r->replicas, r->n_replicas, r->isr, r->n_isr, r->leader)) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    PartitionState *p = malloc(sizeof *p);
    if (p == NULL) {
        return -ENOMEM;
    }
    sluice__metadata__partition_state__init(p);
    p->partition = r->partition;
    p->leader = r->leader;
    p->leader_epoch = r->leader_epoch;
    p->partition_epoch = r->partition_epoch;
    if (image_set_ints(&p->replicas, &p->n_replicas, r->replicas, r->n_replicas) != 0 ||
        image_set_ints(&p->isr, &p->n_isr, r->isr, r->n_isr) != 0) {
        sluice__metadata__partition_state__free_unpacked(p, NULL);
        return -ENOMEM;
    }
    if (r->version >= RECORD_VERSION_ISR_RULES) {
        initial_isr_unfenced(fsm->image, p);
    }
    if (image_add_partition(t, p) != 0) {
        sluice__metadata__partition_state__free_unpacked(p, NULL);
        return -ENOMEM;
    }
    return KAFKA_ERROR_NONE;
}

/* KIP-903: a broker joining the ISR must be registered and unfenced now,
 * and, when the proposer gave its epoch, still the same registration (not a
 * restarted broker, possibly with an empty disk, under the same id). The
 * check runs at apply time, so a fence or re-registration committed between
 * the controller's check and this record still wins. Members already in
 * the ISR are not rechecked: elections keep a fenced last member. */
static bool isr_additions_eligible(const MetadataImage *img, const PartitionState *p,
                                   const PartitionChangeRecord *r)
{
    if (r->n_isr_broker_epochs != 0 && r->n_isr_broker_epochs != r->n_isr) {
        return false;
    }
    for (size_t i = 0; i < r->n_isr; i++) {
        if (image_ints_contain(p->isr, p->n_isr, r->isr[i])) {
            continue;
        }
        const BrokerState *b = image_find_broker(img, r->isr[i]);
        int64_t epoch = r->n_isr_broker_epochs != 0 ? r->isr_broker_epochs[i] : -1;
        if (b == NULL || b->fenced || (epoch != -1 && epoch != b->broker_epoch)) {
            return false;
        }
    }
    return true;
}

/* A reassignment's replica sets (KIP-455): every adding and removing
 * replica is one of the new replicas, none is both, and every replica is a
 * registered broker. */
static bool reassignment_valid(const MetadataImage *img, const PartitionChangeRecord *r)
{
    if (has_duplicates(r->adding_replicas, r->n_adding_replicas) ||
        has_duplicates(r->removing_replicas, r->n_removing_replicas)) {
        return false;
    }
    for (size_t i = 0; i < r->n_replicas; i++) {
        if (image_find_broker(img, r->replicas[i]) == NULL) {
            return false;
        }
    }
    for (size_t i = 0; i < r->n_adding_replicas; i++) {
        if (!image_ints_contain(r->replicas, r->n_replicas, r->adding_replicas[i]) ||
            image_ints_contain(r->removing_replicas, r->n_removing_replicas,
                               r->adding_replicas[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < r->n_removing_replicas; i++) {
        if (!image_ints_contain(r->replicas, r->n_replicas, r->removing_replicas[i])) {
            return false;
        }
    }
    return r->n_removing_replicas < r->n_replicas;
}

static int apply_partition_change(struct fsm *fsm, const PartitionChangeRecord *r)
{
    TopicState *t = fsm_find_topic_id(fsm, r->topic_id);
    if (t == NULL) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_ID;
    }
    PartitionState *p = image_find_partition(t, r->partition);
    if (p == NULL) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    /* Compare-and-set on the partition epoch (KIP-497): a change computed
     * from an older state loses. */
    if (r->partition_epoch != p->partition_epoch) {
        return KAFKA_ERROR_INVALID_UPDATE_VERSION;
    }
    const int32_t *replicas = r->set_replicas ? r->replicas : p->replicas;
    size_t n_replicas = r->set_replicas ? r->n_replicas : p->n_replicas;
    if (!partition_shape_valid(replicas, n_replicas, r->isr, r->n_isr, r->leader) ||
        (r->set_replicas && !reassignment_valid(fsm->image, r))) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    if (r->version >= RECORD_VERSION_ISR_RULES && !isr_additions_eligible(fsm->image, p, r)) {
        return KAFKA_ERROR_INELIGIBLE_REPLICA;
    }
    /* A fenced broker leads nothing: a change electing one (say, after its
     * batch's UnfenceBroker record lost to a new epoch) is refused. */
    const BrokerState *b = r->leader != p->leader ? image_find_broker(fsm->image, r->leader) : NULL;
    if (b != NULL && b->fenced) {
        return KAFKA_ERROR_INELIGIBLE_REPLICA;
    }
    /* Epochs that cannot advance (records carry any int32) are refused
     * rather than overflowed. */
    if (p->partition_epoch == INT32_MAX ||
        (r->leader != p->leader && p->leader_epoch == INT32_MAX)) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    if (image_set_ints(&p->isr, &p->n_isr, r->isr, r->n_isr) != 0) {
        return -ENOMEM;
    }
    if (r->set_replicas &&
        (image_set_ints(&p->replicas, &p->n_replicas, r->replicas, r->n_replicas) != 0 ||
         image_set_ints(&p->adding_replicas, &p->n_adding_replicas, r->adding_replicas,
                        r->n_adding_replicas) != 0 ||
         image_set_ints(&p->removing_replicas, &p->n_removing_replicas, r->removing_replicas,
                        r->n_removing_replicas) != 0)) {
        return -ENOMEM;
    }
    if (r->leader != p->leader) {
        p->leader = r->leader;
        p->leader_epoch++;
    }
    p->partition_epoch++;
    return KAFKA_ERROR_NONE;
}

static int apply_remove_topic(struct fsm *fsm, const Sluice__Metadata__RemoveTopicRecord *r)
{
    for (size_t i = 0; i < fsm->image->n_topics; i++) {
        if (image_topic_id_equal(fsm->image->topics[i]->topic_id, r->topic_id)) {
            index_forget(fsm, fsm->image->topics[i]);
            image_remove_topic(fsm->image, i);
            return KAFKA_ERROR_NONE;
        }
    }
    return KAFKA_ERROR_UNKNOWN_TOPIC_ID;
}

static int apply_config(struct fsm *fsm, const ConfigRecord *r)
{
    if (r->resource_type == RESOURCE_BROKER) {
        const char *value = r->value_is_null ? NULL : r->value;
        if (broker_dynamic_config_check(r->name, value) != NULL) {
            return KAFKA_ERROR_INVALID_CONFIG;
        }
        return image_set_broker_config(fsm->image, r->resource_name, r->name, value) == 0
                   ? KAFKA_ERROR_NONE
                   : KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    if (r->resource_type != RESOURCE_TOPIC || r->name[0] == '\0') {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    TopicState *t = fsm_find_topic(fsm, r->resource_name);
    if (t == NULL) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    return image_set_topic_config(t, r->name, r->value_is_null ? NULL : r->value);
}

/* Compare-and-set on the next producer id: a block is the broker's only if
 * it starts where the last one ended (a retry or a race loses, never
 * overlaps). */
static int apply_producer_ids(struct fsm *fsm, const Sluice__Metadata__ProducerIdsRecord *r)
{
    if (r->block_start != fsm->image->next_producer_id) {
        return KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS;
    }
    if (r->next_producer_id <= r->block_start) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    fsm->image->next_producer_id = r->next_producer_id;
    return KAFKA_ERROR_NONE;
}

/* SCRAM: the controller validated the mechanism and sizes; replay checks
 * them again, so a record no broker could use is rejected everywhere alike. */
static int apply_scram(struct fsm *fsm, const Sluice__Metadata__UserScramCredentialRecord *r)
{
    if (r->name[0] == '\0' ||
        (r->mechanism != SCRAM_MECHANISM_SHA_256 && r->mechanism != SCRAM_MECHANISM_SHA_512) ||
        r->salt.len == 0 || r->stored_key.len == 0 || r->stored_key.len != r->server_key.len ||
        r->iterations <= 0) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    return image_put_scram(fsm->image, r);
}

static int apply_remove_scram(struct fsm *fsm,
                              const Sluice__Metadata__RemoveUserScramCredentialRecord *r)
{
    return image_remove_scram(fsm->image, r->name, r->mechanism) ? KAFKA_ERROR_NONE
                                                                 : KAFKA_ERROR_RESOURCE_NOT_FOUND;
}

/* ACLs: the controller validated the binding; replay checks it again. */
static int apply_acl(struct fsm *fsm, const AclBinding *r)
{
    if (acl_binding_invalid(r) != NULL) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    return image_put_acl(fsm->image, r);
}

static int apply_remove_acl(struct fsm *fsm,
                            const Sluice__Metadata__RemoveAccessControlEntryRecord *r)
{
    if (r->acl == NULL) {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    return image_remove_acl(fsm->image, r->acl) ? KAFKA_ERROR_NONE : KAFKA_ERROR_RESOURCE_NOT_FOUND;
}

static int apply_record(struct fsm *fsm, const MetadataRecord *rec, int64_t offset)
{
    switch (rec->record_case) {
    case SLUICE__METADATA__METADATA_RECORD__RECORD_CLUSTER_ID:
        return apply_cluster_id(fsm, rec->cluster_id);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_REGISTER_BROKER:
        return apply_register_broker(fsm, rec->register_broker, offset);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_FENCE_BROKER:
        return apply_fencing(fsm, rec->fence_broker->broker_id, rec->fence_broker->broker_epoch,
                             true);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_UNFENCE_BROKER:
        return apply_fencing(fsm, rec->unfence_broker->broker_id, rec->unfence_broker->broker_epoch,
                             false);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_TOPIC:
        return apply_topic(fsm, rec->topic);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION:
        return apply_partition(fsm, rec->partition);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE:
        return apply_partition_change(fsm, rec->partition_change);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_REMOVE_TOPIC:
        return apply_remove_topic(fsm, rec->remove_topic);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_CONFIG:
        return apply_config(fsm, rec->config);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_PRODUCER_IDS:
        return apply_producer_ids(fsm, rec->producer_ids);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_USER_SCRAM_CREDENTIAL:
        return apply_scram(fsm, rec->user_scram_credential);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_REMOVE_USER_SCRAM_CREDENTIAL:
        return apply_remove_scram(fsm, rec->remove_user_scram_credential);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_ACL:
        return apply_acl(fsm, rec->acl);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_REMOVE_ACL:
        return apply_remove_acl(fsm, rec->remove_acl);
    default:
        return KAFKA_ERROR_INVALID_REQUEST; /* a record type from a newer version */
    }
}

static int result_reserve(struct fsm_result *res, size_t n)
{
    if (n > res->cap) {
        int32_t *e = realloc(res->errors, n * sizeof *e);
        if (e == NULL) {
            return -ENOMEM;
        }
        res->errors = e;
        res->cap = n;
    }
    res->n = n;
    return 0;
}

/* Keep the accepted records of the batch for metadata fetches. */
static int delta_keep(struct fsm *fsm, const MetadataBatch *batch, const int32_t *errors)
{
    MetadataRecord **kept = malloc((batch->n_records ? batch->n_records : 1) * sizeof *kept);
    if (kept == NULL) {
        return -ENOMEM;
    }
    MetadataBatch accepted = SLUICE__METADATA__METADATA_BATCH__INIT;
    accepted.version = 1;
    accepted.records = kept;
    for (size_t i = 0; i < batch->n_records; i++) {
        if (errors[i] == KAFKA_ERROR_NONE) {
            kept[accepted.n_records++] = batch->records[i];
        }
    }
    void *bytes;
    size_t len;
    int rv = fsm_batch_pack(&accepted, malloc, &bytes, &len);
    free(kept);
    if (rv != 0) {
        return rv;
    }
    if (fsm->n_deltas == fsm->max_deltas) {
        free(fsm->deltas[fsm->head].bytes);
        fsm->head = (fsm->head + 1) % fsm->max_deltas;
        fsm->n_deltas--;
    }
    struct fsm_delta *d = &fsm->deltas[(fsm->head + fsm->n_deltas) % fsm->max_deltas];
    *d = (struct fsm_delta){fsm_offset(fsm), bytes, len};
    fsm->n_deltas++;
    return 0;
}

int fsm_apply(struct fsm *fsm, const void *data, size_t len, const struct fsm_result **result)
{
    MetadataBatch *batch = fsm_entry_unpack(data, len);
    MetadataBatch empty = SLUICE__METADATA__METADATA_BATCH__INIT;
    if (batch == NULL) {
        /* Not ours or from a newer version: a no-op, so the log moves on. */
        fsm->undecodable++;
        log_error("fsm", "undecodable metadata entry length=%zu offset=%lld", len,
                  (long long)fsm_offset(fsm) + 1);
    }
    const MetadataBatch *b = batch != NULL ? batch : &empty;
    int rv = result_reserve(&fsm->result, b->n_records);
    if (rv != 0) {
        goto out;
    }
    fsm->image->offset++;
    fsm->result.offset = fsm_offset(fsm);
    for (size_t i = 0; i < b->n_records; i++) {
        rv = apply_record(fsm, b->records[i], fsm_offset(fsm));
        if (rv < 0) {
            goto out;
        }
        fsm->result.errors[i] = rv;
    }
    rv = delta_keep(fsm, b, fsm->result.errors);
    *result = &fsm->result;
out:
    if (batch != NULL) {
        sluice__metadata__metadata_batch__free_unpacked(batch, NULL);
    }
    return rv;
}

/* Raft entries and snapshots are framed: 8-byte header (kind, version,
 * protobuf length) then the protobuf, zero-padded to a multiple of 8 bytes.
 * raft 0.15's uv storage pads entry data to 8 bytes when writing but not
 * when reading back a closed segment, so unpadded entries corrupt the log on
 * restart; the header also gives the stored format a version. */
static size_t framed_size(size_t n)
{
    return ENTRY_HEADER + ((n + 7) & ~(size_t)7);
}

static void frame_header(uint8_t *p, uint8_t kind, size_t n)
{
    memset(p, 0, ENTRY_HEADER);
    p[0] = kind;
    p[1] = ENTRY_VERSION;
    be32_store(p + 4, (uint32_t)n);
}

/* The protobuf inside a framed buffer, or NULL if the frame is not valid. */
static const uint8_t *unframe(const void *data, size_t len, uint8_t kind, size_t *n)
{
    const uint8_t *p = data;
    if (len < ENTRY_HEADER || p[0] != kind || p[1] == 0 || p[1] > ENTRY_VERSION) {
        return NULL;
    }
    *n = be32_load(p + 4);
    return *n <= len - ENTRY_HEADER ? p + ENTRY_HEADER : NULL;
}

/* protobuf-c 1.4 accepts an unknown field numbered 0 when its tag is
 * encoded in more than one byte, keeps it, and packs it back in one byte,
 * which its own unpack then rejects: a record or image holding one would
 * make every delta, snapshot and image fetch built from it undecodable
 * (found by fuzz_controller_fsm). Such messages are refused on the way in. */
static bool message_tags_valid(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        if (m->unknown_fields[i].tag == 0) {
            return false;
        }
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id) {
            continue;
        }
        size_t n = f->label == PROTOBUF_C_LABEL_REPEATED
                       ? *(const size_t *)(base + f->quantifier_offset)
                       : 1;
        const ProtobufCMessage *const *items =
            f->label == PROTOBUF_C_LABEL_REPEATED
                ? *(const ProtobufCMessage *const *const *)(base + f->offset)
                : (const ProtobufCMessage *const *)(base + f->offset);
        for (size_t j = 0; j < n; j++) {
            if (items[j] != NULL && !message_tags_valid(items[j])) {
                return false;
            }
        }
    }
    return true;
}

MetadataBatch *fsm_entry_unpack(const void *data, size_t len)
{
    size_t n;
    const uint8_t *body = unframe(data, len, ENTRY_KIND_BATCH, &n);
    MetadataBatch *batch =
        body != NULL ? sluice__metadata__metadata_batch__unpack(NULL, n, body) : NULL;
    if (batch != NULL && !message_tags_valid(&batch->base)) {
        sluice__metadata__metadata_batch__free_unpacked(batch, NULL);
        batch = NULL;
    }
    return batch;
}

int fsm_batch_pack(const MetadataBatch *batch, void *(*alloc)(size_t), void **out, size_t *len)
{
    size_t n = sluice__metadata__metadata_batch__get_packed_size(batch);
    uint8_t *bytes = alloc(framed_size(n));
    if (bytes == NULL) {
        return -ENOMEM;
    }
    memset(bytes, 0, framed_size(n));
    frame_header(bytes, ENTRY_KIND_BATCH, n);
    sluice__metadata__metadata_batch__pack(batch, bytes + ENTRY_HEADER);
    *len = framed_size(n);
    *out = bytes;
    return 0;
}

int fsm_snapshot(const struct fsm *fsm, void *(*alloc)(size_t), void **out, size_t *len)
{
    size_t n = sluice__metadata__metadata_image__get_packed_size(fsm->image);
    uint8_t *bytes = alloc(framed_size(n));
    if (bytes == NULL) {
        return -ENOMEM;
    }
    memset(bytes, 0, framed_size(n));
    frame_header(bytes, ENTRY_KIND_IMAGE, n);
    sluice__metadata__metadata_image__pack(fsm->image, bytes + ENTRY_HEADER);
    *len = framed_size(n);
    *out = bytes;
    return 0;
}

int fsm_restore(struct fsm *fsm, const void *data, size_t len)
{
    size_t n;
    const uint8_t *body = unframe(data, len, ENTRY_KIND_IMAGE, &n);
    MetadataImage *img =
        body != NULL ? sluice__metadata__metadata_image__unpack(NULL, n, body) : NULL;
    /* Each apply advances the offset by one: it must be able to. */
    if (img != NULL &&
        (img->offset < 0 || img->offset == INT64_MAX || !message_tags_valid(&img->base))) {
        sluice__metadata__metadata_image__free_unpacked(img, NULL);
        img = NULL;
    }
    if (img == NULL) {
        return -EBADMSG;
    }
    image_free(fsm->image);
    fsm->image = img;
    deltas_clear(fsm);
    index_rebuild(fsm);
    return 0;
}

void fsm_replace_image(struct fsm *fsm, MetadataImage *img)
{
    image_free(fsm->image);
    fsm->image = img;
    deltas_clear(fsm);
    index_rebuild(fsm);
}

int fsm_deltas_after(const struct fsm *fsm, int64_t after, size_t max,
                     int (*fn)(const struct fsm_delta *delta, void *arg), void *arg)
{
    int64_t newest = fsm_offset(fsm);
    int64_t oldest = newest - (int64_t)fsm->n_deltas + 1;
    if (after > newest || after < oldest - 1) {
        return -ERANGE;
    }
    int visited = 0;
    for (size_t i = (size_t)(after - oldest + 1); i < fsm->n_deltas && (size_t)visited < max; i++) {
        int rv = fn(&fsm->deltas[(fsm->head + i) % fsm->max_deltas], arg);
        if (rv != 0) {
            return rv;
        }
        visited++;
    }
    return visited;
}
