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
    Sluice__Metadata__ClusterIdRecord *r =
        ATTACH(b, Sluice__Metadata__ClusterIdRecord, sluice__metadata__cluster_id_record__init,
               CLUSTER_ID, cluster_id);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
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
    Sluice__Metadata__RegisterBrokerRecord *r =
        ATTACH(b, Sluice__Metadata__RegisterBrokerRecord,
               sluice__metadata__register_broker_record__init, REGISTER_BROKER, register_broker);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
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
        Sluice__Metadata__FenceBrokerRecord *r =
            ATTACH(b, Sluice__Metadata__FenceBrokerRecord,
                   sluice__metadata__fence_broker_record__init, FENCE_BROKER, fence_broker);
        if (r == NULL) {
            return -ENOMEM;
        }
        r->version = 1;
        r->broker_id = broker_id;
        r->broker_epoch = epoch;
        return 0;
    }
    Sluice__Metadata__UnfenceBrokerRecord *r =
        ATTACH(b, Sluice__Metadata__UnfenceBrokerRecord,
               sluice__metadata__unfence_broker_record__init, UNFENCE_BROKER, unfence_broker);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
    r->broker_id = broker_id;
    r->broker_epoch = epoch;
    return 0;
}

int records_add_topic(MetadataBatch *b, const char *name, const uint8_t id[TOPIC_ID_LEN])
{
    Sluice__Metadata__TopicRecord *r = ATTACH(b, Sluice__Metadata__TopicRecord,
                                              sluice__metadata__topic_record__init, TOPIC, topic);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
    r->name = image_strdup(name);
    if (r->name == NULL) {
        return -ENOMEM;
    }
    return set_bytes(&r->topic_id, id, TOPIC_ID_LEN);
}

int records_add_partition(MetadataBatch *b, const uint8_t id[TOPIC_ID_LEN], int32_t partition,
                          const int32_t *replicas, size_t n)
{
    Sluice__Metadata__PartitionRecord *r =
        ATTACH(b, Sluice__Metadata__PartitionRecord, sluice__metadata__partition_record__init,
               PARTITION, partition);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 2; /* fsm.c: RECORD_VERSION_ISR_RULES */
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
    Sluice__Metadata__PartitionChangeRecord *r =
        ATTACH(b, Sluice__Metadata__PartitionChangeRecord,
               sluice__metadata__partition_change_record__init, PARTITION_CHANGE, partition_change);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 2;
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

int records_add_remove_topic(MetadataBatch *b, ProtobufCBinaryData topic_id)
{
    Sluice__Metadata__RemoveTopicRecord *r =
        ATTACH(b, Sluice__Metadata__RemoveTopicRecord, sluice__metadata__remove_topic_record__init,
               REMOVE_TOPIC, remove_topic);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
    return set_bytes(&r->topic_id, topic_id.data, topic_id.len);
}

int records_add_topic_config(MetadataBatch *b, const char *topic, const char *key,
                             const char *value)
{
    Sluice__Metadata__ConfigRecord *r = ATTACH(
        b, Sluice__Metadata__ConfigRecord, sluice__metadata__config_record__init, CONFIG, config);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->version = 1;
    r->resource_type = 2; /* Kafka's ConfigResource.Type.TOPIC */
    r->resource_name = image_strdup(topic);
    r->name = image_strdup(key);
    r->value = image_strdup(value != NULL ? value : "");
    r->value_is_null = value == NULL;
    return r->resource_name != NULL && r->name != NULL && r->value != NULL ? 0 : -ENOMEM;
}
