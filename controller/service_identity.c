/* Who may call which controller method (rpc_server guard; see
 * common/internal_tls.h for how a peer's certificate names a node).
 *
 * Over a plaintext controller listener there is no identity to check and
 * every call passes. With mutual TLS:
 *   - a broker's own lifecycle (RegisterBroker, BrokerHeartbeat,
 *     ControlledShutdown) and its leadership reports (AlterPartition) only
 *     from that broker: the certificate must be node broker_id's, so a
 *     holder of node 2's certificate cannot register, heartbeat, shut down
 *     or shrink an ISR as broker 3;
 *   - DescribeQuorum from any certificate the trust store verifies
 *     (operators' `sluicectl cluster status`);
 *   - everything else (metadata reads, the administrative changes brokers
 *     forward after their own ACL checks, producer id blocks) from any
 *     node of the cluster. */
#include <stdio.h>

#include "common/internal_tls.h"
#include "controller/service_internal.h"

static bool guard(struct rpc_call *call, void *arg, char *why, size_t whylen)
{
    struct controller_service *svc = arg;
    const struct internal_tls *tls = svc->tls;
    int32_t node = -1;
    switch (call->method) {
    case SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_DESCRIBE_QUORUM:
        return true;
    case SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_REGISTER_BROKER:
        node = ((Sluice__Controller__RegisterBrokerRequest *)call->request)->broker_id;
        break;
    case SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_BROKER_HEARTBEAT:
        node = ((Sluice__Controller__BrokerHeartbeatRequest *)call->request)->broker_id;
        break;
    case SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CONTROLLED_SHUTDOWN:
        node = ((Sluice__Controller__ControlledShutdownRequest *)call->request)->broker_id;
        break;
    case SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_PARTITION:
        node = ((Sluice__Controller__AlterPartitionRequest *)call->request)->broker_id;
        break;
    default:
        break;
    }
    if (node < -1) {
        node = INT32_MAX; /* a negative id is nobody's: refused below, not "any node" */
    }
    char inner[400];
    if (internal_tls_call_is_node(tls, call, node, inner, sizeof inner)) {
        return true;
    }
    snprintf(why, whylen, "%s: %s", node >= 0 ? "acting for another broker" : "not a node", inner);
    return false;
}

void service_identity_guard(struct controller_service *svc)
{
    if (svc->tls != NULL && internal_tls_enabled(svc->tls)) {
        rpc_server_set_guard(&svc->server, guard, svc);
    }
}
