/* Builders for metadata record batches the active controller proposes.
 *
 * Every piece is a separate malloc, as protobuf-c's unpack lays messages
 * out, so records_free (free_unpacked) releases a whole batch. Inputs are
 * copied. Each add returns 0 or -ENOMEM (the batch stays valid). */
#ifndef SLUICE_METADATA_RECORDS_H
#define SLUICE_METADATA_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata/acl.h"
#include "metadata/fsm.h"

MetadataBatch *records_batch_new(void);
void records_free(MetadataBatch *batch);

int records_add_cluster_id(MetadataBatch *b, const char *cluster_id);
int records_add_register(MetadataBatch *b, int32_t broker_id, const char *incarnation_id,
                         const char *rack, Endpoint *const *endpoints, size_t n_endpoints);
int records_add_fencing(MetadataBatch *b, int32_t broker_id, int64_t epoch, bool fence);
int records_add_topic(MetadataBatch *b, const char *name, const uint8_t id[TOPIC_ID_LEN]);
/* A new partition led by replicas[0] with every replica in the ISR. */
int records_add_partition(MetadataBatch *b, const uint8_t id[TOPIC_ID_LEN], int32_t partition,
                          const int32_t *replicas, size_t n);
int records_add_change(MetadataBatch *b, ProtobufCBinaryData topic_id, int32_t partition,
                       int32_t partition_epoch, int32_t leader, const int32_t *isr, size_t n_isr);
/* Attach KIP-903 broker epochs (parallel to its ISR, -1: unchecked) to the
 * batch's last record, which must be a change just added; -EINVAL if not. */
int records_set_change_epochs(MetadataBatch *b, const int64_t *epochs, size_t n);
/* Make the last record of `b` (a PartitionChangeRecord) change the replica
 * set too (KIP-455 reassignment): replicas, adding and removing (copied).
 * 0, -EINVAL (the last record is no partition change) or -ENOMEM. */
int records_set_change_replicas(MetadataBatch *b, const int32_t *replicas, size_t n_replicas,
                                const int32_t *adding, size_t n_adding, const int32_t *removing,
                                size_t n_removing);
int records_add_remove_topic(MetadataBatch *b, ProtobufCBinaryData topic_id);
/* `value` NULL deletes the key. */
int records_add_topic_config(MetadataBatch *b, const char *topic, const char *key,
                             const char *value);
/* Any resource: 2 a topic, 4 a broker (its id, or "" for all brokers). */
int records_add_config(MetadataBatch *b, int32_t resource_type, const char *resource,
                       const char *key, const char *value);
/* Producer ids [block_start, next_producer_id) for `broker_id`
 * (compare-and-set on the image's next_producer_id, see metadata.proto). */
int records_add_producer_ids(MetadataBatch *b, int32_t broker_id, int64_t broker_epoch,
                             int64_t block_start, int64_t next_producer_id);
/* A SCRAM credential (salt and keys copied); remove deletes one. */
int records_add_scram(MetadataBatch *b, const ScramCredential *c);
int records_add_remove_scram(MetadataBatch *b, const char *name, int32_t mechanism);
/* An ACL binding to add, or to remove (copied). */
int records_add_acl(MetadataBatch *b, const AclBinding *acl);
int records_add_remove_acl(MetadataBatch *b, const AclBinding *acl);

#endif
