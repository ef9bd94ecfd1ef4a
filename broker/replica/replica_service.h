/* The leader side of replication: the handlers of proto/replica.proto's
 * methods, served on the inter-broker listener's RPC server.
 *
 * ReplicaFetch resolves the follower's fetch session (replica_session.h: an
 * incremental request is served with every partition of its session),
 * records each follower's progress (its fetch offset is its log end) for
 * each of them, which moves the high watermark and may add it to the ISR, then
 * returns whole record batches up to the log end (not the high watermark),
 * as the RPC frame's raw payload, sent with sendfile from the segments (never
 * copied into user space). With less than min_bytes available it parks
 * in the purgatory until data arrives, the high watermark moves (so
 * followers learn it promptly), leadership changes, or max_wait_ms passes. A
 * session's answer holds only the partitions with records, an error or
 * offsets the session has not been told.
 *
 * OffsetsForLeaderEpoch answers from the leader-epoch cache where a
 * follower's last epoch ends here (KIP-101/279).
 *
 * Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_SERVICE_H
#define SLUICE_BROKER_REPLICA_REPLICA_SERVICE_H

#include "broker/replica/replica_manager.h"
#include "common/internal_tls.h"
#include "common/rpc_server.h"

/* Register the methods on `server`; `rm` and `tls` (the inter-broker
 * listener's, NULL or not enabled: plaintext) outlive it. With TLS each
 * caller's certificate must be a node's (common/internal_tls.h), and
 * ReplicaFetch and OffsetsForLeaderEpoch only as that node's replica
 * (replica_id): no one else moves a follower's fetch offset, and so the
 * high watermark or the ISR; WriteTxnMarkers only from a registered broker.
 * The checks read `tls` as the manager holds it (replica_manager_set_tls,
 * the same listener's), refusing every call until it is set. Returns 0 or
 * -EINVAL. */
int replica_service_register(struct rpc_server *server, struct replica_manager *rm,
                             const struct internal_tls *tls);

/* The RPC frame bound for replication: room for a whole fetch response
 * (replica.fetch.response.max.bytes) or one batch as large as a topic may
 * allow (message.max.bytes, replica.fetch.max.bytes), plus headers. */
size_t replica_rpc_max_frame(const struct sluice_config *cfg);

/* Frees what the service keeps with a follower's fetch session (its view
 * of the session's partitions in the journal of changes); the replica
 * manager's session cache calls it when a session goes. */
void replica_service_view_free(void *view);

#endif
