/* The broker role assembled: listeners, metadata view, hosted partitions and
 * the Kafka request handlers, on one libuv loop.
 *
 * sluiced creates one of these when process.roles includes "broker". All
 * pointers passed in are borrowed and must outlive the broker. Loop thread. */
#ifndef SLUICE_BROKER_BROKER_H
#define SLUICE_BROKER_BROKER_H

#include <stddef.h>
#include <stdbool.h>
#include <uv.h>

#include "broker/controller_link.h"
#include "broker/data_dir.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/listener.h"
#include "broker/kafka/request_metrics.h"
#include "broker/kafka/server.h"
#include "broker/metadata/metadata_view.h"
#include "broker/replica/replica_manager.h"
#include "common/internal_tls.h"
#include "common/config.h"
#include "common/rpc_server.h"
#include "common/ssl_principal.h"
#include "common/tls.h"

struct broker {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct listener_set listeners;       /* all: registered with the controller */
    struct listener_set kafka_listeners; /* without the inter-broker one */
    struct rpc_server rpc;               /* the inter-broker listener (replication) */
    bool rpc_listening;
    struct data_dirs *dirs;      /* borrowed; stamped with the cluster id */
    struct controller_link link; /* registration, heartbeats, the metadata stream */
    struct metadata_view *metadata;
    struct replica_manager replicas;
    struct group_coordinator *groups; /* consumer groups (broker/group/) */
    struct txn_coordinator *txns;     /* transactions (broker/txn/) */
    struct kafka_services services;
    struct request_metrics requests; /* counted by dispatch, read by broker_metrics */
    struct kafka_server server;
    struct tls_settings tls_settings;           /* borrowed strings of cfg */
    struct tls_context *tls;                    /* SSL/SASL_SSL listeners; NULL without any */
    struct ssl_principal_rules *tls_principals; /* ssl.principal.mapping.rules */
    struct kafka_authorizer *authorizer;        /* NULL: authorization off */
    struct internal_tls replication_tls;        /* the inter-broker listener's mutual TLS */
    /* Kafka listeners with listener.name.<name>.ssl.* settings: their own contexts. */
    struct tls_settings listener_tls_settings[LISTENER_MAX];
    struct tls_context *listener_tls[LISTENER_MAX];
    /* listener.name.<name>.ssl.principal.mapping.rules; NULL: tls_principals. */
    struct ssl_principal_rules *listener_principals[LISTENER_MAX];
    bool accepting;    /* Kafka listeners accept connections (see broker_start) */
    bool told_opening; /* logged that it stays fenced until its partitions are open */
    int started;       /* how far start got, for stop */
    void (*stopped_cb)(struct broker *b); /* broker_stop_then's */
};

/* Parse the listeners, open the metadata view, open every hosted partition
 * and start listening. The view is the controller quorum's: the broker
 * registers, heartbeats and replays the metadata stream through a
 * controller_link (controller.quorum.voters; a single node is a one-voter
 * quorum). Returns 0, or a negative error with `err` saying why (everything
 * started is stopped again). The first image stamps the cluster id into
 * `dirs` (borrowed until broker_stop); data from another cluster stops the
 * process before anything acts on it. */
int broker_start(struct broker *b, uv_loop_t *loop, const struct sluice_config *cfg,
                 struct data_dirs *dirs, char *err, size_t errlen);

/* Whether the local image holds this broker's own registration, at the
 * epoch this incarnation registered with, unfenced (see broker.c). */
bool broker_caught_up_and_unfenced(const struct broker *b);

/* Stop listening, close connections, answer waiting requests, flush and close
 * every partition log, shut down the controller session (controlled
 * shutdown, bounded). Handles finish closing when the loop runs again. */
void broker_stop(struct broker *b);
/* Flush every partition log on the thread pool while still serving
 * (log_manager_flush_all: the close then has little left to sync on the
 * loop), then broker_stop, then `cb` once the controller session is over
 * (its controlled shutdown answered, or given up after its bound). A process
 * with both roles stops its controller only then, so the controlled shutdown
 * (which fences this broker) has a controller to talk to, even when it is the
 * only one. */
void broker_stop_then(struct broker *b, void (*cb)(struct broker *b));

/* Re-read the TLS listeners' key, certificates and trust store (SIGHUP).
 * New connections use them; open ones keep theirs. A bad file keeps the old
 * configuration, logged with the reason. No-op without TLS listeners. */
void broker_reload_tls(struct broker *b);

#endif
