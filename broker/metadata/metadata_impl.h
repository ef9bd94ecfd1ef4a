/* Internal to broker/metadata: the quorum-fed implementation behind
 * metadata_view.h and the handle that forwards to it. metadata_view.c is the
 * only user of these declarations outside their own files. Same contracts as
 * the metadata_view_* functions they back. */
#ifndef SLUICE_BROKER_METADATA_METADATA_IMPL_H
#define SLUICE_BROKER_METADATA_METADATA_IMPL_H

#include "broker/metadata/metadata_view.h"

struct metadata_quorum;

/* The handle metadata_view.h hands out: the quorum-fed view. */
struct metadata_view {
    struct metadata_quorum *quorum;
};

void metadata_quorum_close(struct metadata_quorum *q);
void metadata_quorum_set_listener(struct metadata_quorum *q, const struct metadata_listener *l);
const char *metadata_quorum_cluster_id(const struct metadata_quorum *q);
int32_t metadata_quorum_controller_id(const struct metadata_quorum *q);
int32_t metadata_quorum_local_node(const struct metadata_quorum *q);
size_t metadata_quorum_broker_count(const struct metadata_quorum *q);
const struct metadata_broker *metadata_quorum_broker(const struct metadata_quorum *q, size_t i);
const struct metadata_topic *metadata_quorum_topic(const struct metadata_quorum *q,
                                                   const char *name);
size_t metadata_quorum_topic_count(const struct metadata_quorum *q);
size_t metadata_quorum_topics(const struct metadata_quorum *q, const struct metadata_topic **out,
                              size_t max);
void metadata_quorum_submit_create_topic(struct metadata_quorum *q,
                                         const struct metadata_topic_spec *spec, bool validate_only,
                                         uint64_t timeout_ms, struct metadata_admin_op *op);
void metadata_quorum_submit_delete_topic(struct metadata_quorum *q, const char *name,
                                         uint64_t timeout_ms, struct metadata_admin_op *op);
void metadata_quorum_submit_add_partitions(struct metadata_quorum *q, const char *name,
                                           int32_t total, bool validate_only, uint64_t timeout_ms,
                                           struct metadata_admin_op *op);
void metadata_quorum_submit_elect_preferred(struct metadata_quorum *q, const char *name,
                                            int32_t partition, uint64_t timeout_ms,
                                            struct metadata_admin_op *op);
void metadata_quorum_submit_reassign(struct metadata_quorum *q, const char *name, int32_t partition,
                                     const int32_t *replicas, int32_t n, bool cancel,
                                     uint64_t timeout_ms, struct metadata_admin_op *op);
void metadata_quorum_submit_sync(struct metadata_quorum *q, uint64_t timeout_ms,
                                 struct metadata_admin_op *op);
const char *metadata_quorum_broker_config(const struct metadata_quorum *q, int32_t broker_id,
                                          const char *name);
void metadata_quorum_submit_alter_broker_config(struct metadata_quorum *q, const char *broker,
                                                const struct metadata_config_entry *entries,
                                                size_t n, bool validate_only, uint64_t timeout_ms,
                                                struct metadata_admin_op *op);
void metadata_quorum_submit_alter_topic_config(struct metadata_quorum *q, const char *name,
                                               const struct metadata_config_entry *entries,
                                               size_t n, bool replace, bool validate_only,
                                               uint64_t timeout_ms, struct metadata_admin_op *op);
void metadata_quorum_submit_producer_id(struct metadata_quorum *q, uint64_t timeout_ms,
                                        struct metadata_producer_id_op *op);
bool metadata_quorum_scram_at(const struct metadata_quorum *q, size_t i,
                              struct metadata_scram_credential *out);
bool metadata_quorum_scram_find(const struct metadata_quorum *q, const char *user,
                                int32_t mechanism, struct metadata_scram_credential *out);
const AclBinding *metadata_quorum_acl_at(const struct metadata_quorum *q, size_t i);
bool metadata_quorum_authorize(const struct metadata_quorum *q, const struct acl_action *a,
                               bool allow_if_no_acl);
bool metadata_quorum_authorize_any(const struct metadata_quorum *q, const struct acl_action *a);
void metadata_quorum_submit_alter_acls(struct metadata_quorum *q,
                                       const Sluice__Controller__AlterAclsRequest *req,
                                       uint64_t timeout_ms, struct metadata_admin_op *op);
void metadata_quorum_submit_alter_scram(struct metadata_quorum *q,
                                        const struct metadata_scram_credential *cred, bool remove,
                                        uint64_t timeout_ms, struct metadata_admin_op *op);

/* A view handle around an opened quorum view (ownership transferred on 0). */
int metadata_view_wrap_quorum(struct metadata_view **out, struct metadata_quorum *q);

/* Complete `op` now with `code` and `message` (may be NULL). */
void metadata_admin_complete(struct metadata_admin_op *op, int16_t code, const char *message);

#endif
