/* The metadata image as protobuf-c structs (proto/metadata.proto
 * MetadataImage), with lookups and ownership-safe edits.
 *
 * Keeping the image in its wire form makes snapshots, restores and full
 * metadata fetches a pack/unpack. Every string, array and sub-message in an
 * image is a separate malloc, exactly as protobuf-c's unpack lays them out, so
 * image_free (protobuf_c_message_free_unpacked) releases images we built as
 * well as decoded ones. Pure, single-threaded; lookups are linear scans
 * (brokers sorted by id, topics in creation order). */
#ifndef SLUICE_METADATA_IMAGE_H
#define SLUICE_METADATA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/metadata.pb-c.h"

typedef Sluice__Metadata__MetadataImage MetadataImage;
typedef Sluice__Metadata__BrokerState BrokerState;
typedef Sluice__Metadata__TopicState TopicState;
typedef Sluice__Metadata__PartitionState PartitionState;
typedef Sluice__Metadata__Endpoint Endpoint;
typedef Sluice__Metadata__ConfigEntry ConfigEntry;
typedef Sluice__Metadata__BrokerConfigState BrokerConfigState;
typedef Sluice__Metadata__UserScramCredentialRecord ScramCredential;

/* Kafka's ScramMechanism codes. */
#define SCRAM_MECHANISM_SHA_256 1
#define SCRAM_MECHANISM_SHA_512 2

#define TOPIC_ID_LEN 16

/* An empty image (offset 0, no cluster id). NULL on allocation failure. */
MetadataImage *image_new(void);
void image_free(MetadataImage *img);
/* Deep copy via pack/unpack. NULL on failure. */
MetadataImage *image_clone(const MetadataImage *img);

BrokerState *image_find_broker(const MetadataImage *img, int32_t broker_id);
TopicState *image_find_topic(const MetadataImage *img, const char *name);
TopicState *image_find_topic_id(const MetadataImage *img, ProtobufCBinaryData id);
PartitionState *image_find_partition(const TopicState *topic, int32_t partition);
const char *image_topic_config(const TopicState *topic, const char *name); /* NULL if unset */

/* Insert `b` (ownership transferred on success), replacing and freeing a
 * broker with the same id. 0 or -ENOMEM. */
int image_put_broker(MetadataImage *img, BrokerState *b);
/* Append `t` / `p` (ownership transferred on success). 0 or -ENOMEM. */
int image_add_topic(MetadataImage *img, TopicState *t);
int image_add_partition(TopicState *t, PartitionState *p);
/* Set (value != NULL) or delete a topic config. 0 or -ENOMEM. */
int image_set_topic_config(TopicState *t, const char *name, const char *value);
/* Broker dynamic configs: `resource` is a broker id's text or "" (every
 * broker's default). get: NULL if unset. set: value NULL deletes; 0 or
 * -ENOMEM. */
const char *image_broker_config(const MetadataImage *img, const char *resource, const char *name);
int image_set_broker_config(MetadataImage *img, const char *resource, const char *name,
                            const char *value);
/* The value for broker `broker_id`: its own, else the default's; NULL if
 * neither is set. */
const char *image_broker_config_for(const MetadataImage *img, int32_t broker_id, const char *name);
/* SCRAM credentials, kept sorted by (name, mechanism). find: NULL if none.
 * put copies `c`, replacing one with the same name and mechanism (0 or
 * -ENOMEM); remove returns whether there was one. */
const ScramCredential *image_find_scram(const MetadataImage *img, const char *name,
                                        int32_t mechanism);
int image_put_scram(MetadataImage *img, const ScramCredential *c);
bool image_remove_scram(MetadataImage *img, const char *name, int32_t mechanism);

/* Remove and free the topic at index `i`. */
void image_remove_topic(MetadataImage *img, size_t i);

/* Allocation helpers producing fields free_unpacked can release. */
char *image_strdup(const char *s);
/* Replace a string field's value (copied). 0 or -ENOMEM. */
int image_replace_str(char **field, const char *value);
int image_set_ints(int32_t **out, size_t *n_out, const int32_t *in, size_t n);
bool image_ints_contain(const int32_t *a, size_t n, int32_t v);
bool image_topic_id_equal(ProtobufCBinaryData a, ProtobufCBinaryData b);
/* Kafka topic id text (base64url without padding, as Kafka prints Uuids). */
void image_topic_id_format(ProtobufCBinaryData id, char out[24]);

#endif
