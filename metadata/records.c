#include "metadata/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

MetadataBatch *records_batch_new(void)
{
    MetadataBatch *b = malloc(sizeof *b);
    if (b != NULL) {
        sluice__metadata__metadata_batch__init(b);
        b->version = 1;
    }
    return b;
}

void records_free(MetadataBatch *batch)
{
    if (batch != NULL) {
        sluice__metadata__metadata_batch__free_unpacked(batch, NULL);
    }
}

/* Append an empty record slot; the caller sets its case and message. */
static MetadataRecord *add_record(MetadataBatch *b)
{
    MetadataRecord **bigger = realloc(b->records, (b->n_records + 1) * sizeof *bigger);
    if (bigger == NULL) {
        return NULL;
    }
    b->records = bigger;
    MetadataRecord *r = malloc(sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    sluice__metadata__metadata_record__init(r);
    b->records[b->n_records++] = r;
    return r;
}

/* Allocate a record message of `size` bytes initialised by `init`, attach
 * it to a new record of `kind` at `field` (the oneof member). */
static void *attach(MetadataBatch *b, size_t size, void (*init)(void *), int kind,
                    size_t member_offset)
{
    void *msg = malloc(size);
    if (msg == NULL) {
        return NULL;
    }
    init(msg);
    MetadataRecord *r = add_record(b);
    if (r == NULL) {
        free(msg);
        return NULL;
    }
    r->record_case = kind;
    *(void **)((char *)r + member_offset) = msg;
    return msg;
}

#define ATTACH(b, type, init, kind, member)                                                        \
    ((type *)attach((b), sizeof(type), (void (*)(void *))(init),                                   \
                    SLUICE__METADATA__METADATA_RECORD__RECORD_##kind,                              \
                    offsetof(MetadataRecord, member)))

/* Declare `r`, a new Sluice__Metadata__<Type> at `version` attached to `b` as
 * oneof member `member` (case `KIND`). Out of memory returns -ENOMEM from the
 * calling function: every records_add_* begins so, and owns nothing yet. */
#define NEW_RECORD(r, b, Type, member, KIND, ver)                                                  \
    Sluice__Metadata__##Type *r = ATTACH(b, Sluice__Metadata__##Type,                              \
                                         sluice__metadata__##member##_record__init, KIND, member); \
    if (r == NULL) {                                                                               \
        return -ENOMEM;                                                                            \
    }                                                                                              \
    r->version = (ver)

static int set_bytes(ProtobufCBinaryData *out, const uint8_t *data, size_t len)
{
    out->data = malloc(len);
    if (out->data == NULL) {
        return -ENOMEM;
    }
    memcpy(out->data, data, len);
    out->len = len;
    return 0;
}

int records_add_cluster_id(MetadataBatch *b, const char *cluster_id)
{
    NEW_RECORD(r, b, ClusterIdRecord, cluster_id, CLUSTER_ID, 1);
    r->cluster_id = image_strdup(cluster_id);
    return r->cluster_id != NULL ? 0 : -ENOMEM;
}

static int copy_endpoints(Sluice__Metadata__RegisterBrokerRecord *r, Endpoint *const *eps, size_t n)
{
    if (n == 0) {
        return 0;
    }
    r->endpoints = calloc(n, sizeof *r->endpoints);
    if (r->endpoints == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        Endpoint *e = malloc(sizeof *e);
        if (e == NULL) {
            return -ENOMEM;
        }
        sluice__metadata__endpoint__init(e);
        r->endpoints[r->n_endpoints++] = e;
        e->name = image_strdup(eps[i]->name);
        e->host = image_strdup(eps[i]->host);
        e->security_protocol = image_strdup(eps[i]->security_protocol);
        e->port = eps[i]->port;
        if (e->name == NULL || e->host == NULL || e->security_protocol == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

int records_add_register(MetadataBatch *b, int32_t broker_id, const char *incarnation_id,
                         const char *rack, Endpoint *const *endpoints, size_t n_endpoints)
{
    NEW_RECORD(r, b, RegisterBrokerRecord, register_broker, REGISTER_BROKER, 1);
    r->broker_id = broker_id;
    r->incarnation_id = image_strdup(incarnation_id);
    r->rack = image_strdup(rack);
    if (r->incarnation_id == NULL || r->rack == NULL) {
        return -ENOMEM;
    }
    return copy_endpoints(r, endpoints, n_endpoints);
}

int records_add_fencing(MetadataBatch *b, int32_t broker_id, int64_t epoch, bool fence)
{
    if (fence) {
        NEW_RECORD(r, b, FenceBrokerRecord, fence_broker, FENCE_BROKER, 1);
        r->broker_id = broker_id;
        r->broker_epoch = epoch;
        return 0;
    }
    NEW_RECORD(r, b, UnfenceBrokerRecord, unfence_broker, UNFENCE_BROKER, 1);
    r->broker_id = broker_id;
    r->broker_epoch = epoch;
    return 0;
}

int records_add_topic(MetadataBatch *b, const char *name, const uint8_t id[TOPIC_ID_LEN])
{
    NEW_RECORD(r, b, TopicRecord, topic, TOPIC, 1);
    r->name = image_strdup(name);
    if (r->name == NULL) {
        return -ENOMEM;
    }
    return set_bytes(&r->topic_id, id, TOPIC_ID_LEN);
}

int records_add_partition(MetadataBatch *b, const uint8_t id[TOPIC_ID_LEN], int32_t partition,
                          const int32_t *replicas, size_t n)
{
    /* version 2: fsm.c RECORD_VERSION_ISR_RULES */
    NEW_RECORD(r, b, PartitionRecord, partition, PARTITION, 2);
    r->partition = partition;
    r->leader = n > 0 ? replicas[0] : -1;
    if (set_bytes(&r->topic_id, id, TOPIC_ID_LEN) != 0 ||
        image_set_ints(&r->replicas, &r->n_replicas, replicas, n) != 0 ||
        image_set_ints(&r->isr, &r->n_isr, replicas, n) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int records_add_change(MetadataBatch *b, ProtobufCBinaryData topic_id, int32_t partition,
                       int32_t partition_epoch, int32_t leader, const int32_t *isr, size_t n_isr)
{
    NEW_RECORD(r, b, PartitionChangeRecord, partition_change, PARTITION_CHANGE, 2);
    r->partition = partition;
    r->partition_epoch = partition_epoch;
    r->leader = leader;
    if (set_bytes(&r->topic_id, topic_id.data, topic_id.len) != 0 ||
        image_set_ints(&r->isr, &r->n_isr, isr, n_isr) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int records_set_change_epochs(MetadataBatch *b, const int64_t *epochs, size_t n)
{
    Sluice__Metadata__PartitionChangeRecord *r =
        b->n_records > 0 ? b->records[b->n_records - 1]->partition_change : NULL;
    if (r == NULL || b->records[b->n_records - 1]->record_case !=
                         SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE) {
        return -EINVAL;
    }
    int64_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (copy == NULL) {
        return -ENOMEM;
    }
    memcpy(copy, epochs, n * sizeof *copy);
    free(r->isr_broker_epochs);
    r->isr_broker_epochs = copy;
    r->n_isr_broker_epochs = n;
    return 0;
}

int records_set_change_replicas(MetadataBatch *b, const int32_t *replicas, size_t n_replicas,
                                const int32_t *adding, size_t n_adding, const int32_t *removing,
                                size_t n_removing)
{
    Sluice__Metadata__PartitionChangeRecord *r =
        b->n_records > 0 ? b->records[b->n_records - 1]->partition_change : NULL;
    if (r == NULL || b->records[b->n_records - 1]->record_case !=
                         SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE) {
        return -EINVAL;
    }
    r->set_replicas = true;
    if (image_set_ints(&r->replicas, &r->n_replicas, replicas, n_replicas) != 0 ||
        image_set_ints(&r->adding_replicas, &r->n_adding_replicas, adding, n_adding) != 0 ||
        image_set_ints(&r->removing_replicas, &r->n_removing_replicas, removing, n_removing) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int records_add_remove_topic(MetadataBatch *b, ProtobufCBinaryData topic_id)
{
    NEW_RECORD(r, b, RemoveTopicRecord, remove_topic, REMOVE_TOPIC, 1);
    return set_bytes(&r->topic_id, topic_id.data, topic_id.len);
}

int records_add_topic_config(MetadataBatch *b, const char *topic, const char *key,
                             const char *value)
{
    return records_add_config(b, 2 /* Kafka's ConfigResource.Type.TOPIC */, topic, key, value);
}

int records_add_config(MetadataBatch *b, int32_t resource_type, const char *resource,
                       const char *key, const char *value)
{
    const char *topic = resource;
    NEW_RECORD(r, b, ConfigRecord, config, CONFIG, 1);
    r->resource_type = resource_type;
    r->resource_name = image_strdup(topic);
    r->name = image_strdup(key);
    r->value = image_strdup(value != NULL ? value : "");
    r->value_is_null = value == NULL;
    return r->resource_name != NULL && r->name != NULL && r->value != NULL ? 0 : -ENOMEM;
}

int records_add_producer_ids(MetadataBatch *b, int32_t broker_id, int64_t broker_epoch,
                             int64_t block_start, int64_t next_producer_id)
{
    NEW_RECORD(r, b, ProducerIdsRecord, producer_ids, PRODUCER_IDS, 1);
    r->broker_id = broker_id;
    r->broker_epoch = broker_epoch;
    r->block_start = block_start;
    r->next_producer_id = next_producer_id;
    return 0;
}

int records_add_scram(MetadataBatch *b, const ScramCredential *c)
{
    NEW_RECORD(r, b, UserScramCredentialRecord, user_scram_credential, USER_SCRAM_CREDENTIAL, 1);
    r->name = image_strdup(c->name);
    r->mechanism = c->mechanism;
    r->iterations = c->iterations;
    if (r->name == NULL || set_bytes(&r->salt, c->salt.data, c->salt.len) != 0 ||
        set_bytes(&r->stored_key, c->stored_key.data, c->stored_key.len) != 0 ||
        set_bytes(&r->server_key, c->server_key.data, c->server_key.len) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int records_add_remove_scram(MetadataBatch *b, const char *name, int32_t mechanism)
{
    NEW_RECORD(r, b, RemoveUserScramCredentialRecord, remove_user_scram_credential,
               REMOVE_USER_SCRAM_CREDENTIAL, 1);
    r->name = image_strdup(name);
    r->mechanism = mechanism;
    return r->name != NULL ? 0 : -ENOMEM;
}

static int copy_acl(AclBinding *r, const AclBinding *b)
{
    r->resource_type = b->resource_type;
    r->pattern_type = b->pattern_type;
    r->operation = b->operation;
    r->permission = b->permission;
    r->resource_name = image_strdup(b->resource_name);
    r->principal = image_strdup(b->principal);
    r->host = image_strdup(b->host);
    return r->resource_name != NULL && r->principal != NULL && r->host != NULL ? 0 : -ENOMEM;
}

int records_add_acl(MetadataBatch *b, const AclBinding *acl)
{
    AclBinding *r =
        ATTACH(b, AclBinding, sluice__metadata__access_control_entry_record__init, ACL, acl);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
    return copy_acl(r, acl);
}

int records_add_remove_acl(MetadataBatch *b, const AclBinding *acl)
{
    Sluice__Metadata__RemoveAccessControlEntryRecord *r =
        ATTACH(b, Sluice__Metadata__RemoveAccessControlEntryRecord,
               sluice__metadata__remove_access_control_entry_record__init, REMOVE_ACL, remove_acl);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
    r->acl = malloc(sizeof *r->acl);
    if (r->acl == NULL) {
        return -ENOMEM;
    }
    sluice__metadata__access_control_entry_record__init(r->acl);
    r->acl->version = 1;
    return copy_acl(r->acl, acl);
}
