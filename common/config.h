/* Configuration: broker-wide settings (server.properties) and per-topic
 * settings, each a table of typed keys with Kafka's names and defaults.
 *
 * A value is validated when set: a bad one is rejected with a message naming
 * the key, the value and why. Unknown keys are reported to the caller (who
 * warns) rather than rejected, as Kafka does. Strings in the structs are owned
 * by the struct and released by *_free. Not thread-safe: build at start-up. */
#ifndef SLUICE_COMMON_CONFIG_H
#define SLUICE_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CONFIG_DOUBLE: a fraction or rate (Kafka's DOUBLE); min/max bound it as integers. */
enum config_type { CONFIG_INT, CONFIG_LONG, CONFIG_BOOL, CONFIG_STRING, CONFIG_DOUBLE };

/* Where a value came from; the order matches Kafka's DescribeConfigs sources. */
enum config_source {
    CONFIG_SOURCE_DEFAULT = 0, /* built-in default */
    CONFIG_SOURCE_STATIC = 1,  /* server.properties, --override or environment */
    CONFIG_SOURCE_BROKER = 2,  /* topic key inherited from the broker-wide setting */
    CONFIG_SOURCE_TOPIC = 3,   /* set on the topic itself */
};

struct config_def {
    const char *name;
    enum config_type type;
    size_t offset;              /* of the field in its struct */
    const char *default_value;  /* as text; NULL for a null string */
    int64_t min, max;           /* for numbers */
    const char *const *choices; /* for strings restricted to a set, NULL-terminated */
    const char *broker_name;    /* topic keys: the broker-wide key giving the default */
    const char *doc;
    bool sensitive; /* a secret: DescribeConfigs shows it as null (Kafka's PASSWORD type) */
    /* Strings with a format: NULL when the value is valid, else why not. */
    const char *(*check)(const char *value);
};

/* Result of a set when the key is not in the table (not an error). */
#define CONFIG_UNKNOWN_KEY 1

#define CONFIG_MAX_KEYS 128

/* One `listener.name.<listener>.<key>` setting: Kafka's per-listener
 * override of a broker-wide key (ssl.* so far). */
struct config_listener_setting {
    char *listener; /* lower case, as Kafka writes it */
    char *key;      /* e.g. "ssl.keystore.location" */
    char *value;
};

struct sluice_config {
    int32_t node_id;
    char *process_roles;
    char *cluster_id;
    char *listeners;
    char *advertised_listeners;
    char *listener_security_protocol_map;
    char *inter_broker_listener_name;
    char *controller_listener_names;
    char *controller_quorum_voters;
    char *log_dirs;
    char *metadata_log_dir;
    char *log_level;
    int32_t num_partitions;
    int32_t default_replication_factor;
    int32_t min_insync_replicas;
    bool auto_create_topics_enable;
    bool unclean_leader_election_enable;
    bool delete_topic_enable;
    int32_t message_max_bytes;
    int32_t socket_request_max_bytes;
    int64_t log_segment_bytes;
    int64_t log_roll_ms;
    int64_t log_retention_ms;
    int64_t log_retention_bytes;
    int64_t log_retention_check_interval_ms;
    int32_t log_flush_offset_checkpoint_interval_ms;
    int64_t replica_high_watermark_checkpoint_interval_ms;
    int32_t log_flush_start_offset_checkpoint_interval_ms;
    int64_t log_flush_interval_messages;
    int64_t log_flush_interval_ms;
    int32_t log_index_interval_bytes;
    int32_t log_index_size_max_bytes;
    char *log_cleanup_policy;
    bool log_cleaner_enable;
    int64_t log_cleaner_backoff_ms;
    int64_t log_cleaner_dedupe_buffer_size;
    double log_cleaner_io_max_bytes_per_second;
    int64_t log_cleaner_delete_retention_ms;
    double log_cleaner_min_cleanable_ratio;
    int64_t log_cleaner_min_compaction_lag_ms;
    int64_t log_cleaner_max_compaction_lag_ms;
    int64_t producer_id_expiration_ms;
    int32_t broker_heartbeat_interval_ms;
    int32_t broker_session_timeout_ms;
    int32_t replica_lag_time_max_ms;
    int32_t replica_fetch_max_bytes;
    int32_t replica_fetch_wait_max_ms;
    int32_t replica_fetch_min_bytes;
    int32_t replica_fetch_response_max_bytes;
    int32_t replica_fetch_backoff_ms;
    int32_t num_replica_fetchers;
    int32_t request_timeout_ms;
    int32_t max_incremental_fetch_session_cache_slots;
    int32_t offsets_topic_num_partitions;
    int32_t offsets_topic_replication_factor;
    int32_t offsets_retention_minutes;
    int32_t transaction_state_log_num_partitions;
    int32_t transaction_state_log_replication_factor;
    int32_t transaction_state_log_min_isr;
    int32_t transaction_max_timeout_ms;
    int32_t transaction_abort_timed_out_transaction_cleanup_interval_ms;
    int32_t transactional_id_expiration_ms;
    int32_t transaction_remove_expired_transaction_cleanup_interval_ms;
    int32_t group_initial_rebalance_delay_ms;
    int32_t group_min_session_timeout_ms;
    int32_t group_max_session_timeout_ms;
    int32_t group_max_size;
    int64_t connections_max_idle_ms;
    int32_t max_connections;
    int32_t max_connections_per_ip;
    char *max_connections_per_ip_overrides;
    int32_t max_connection_creation_rate;
    int32_t max_broker_partitions;
    int32_t log_max_open_files; /* 0: derived from RLIMIT_NOFILE (log_manager.c) */
    /* TLS on SSL and SASL_SSL listeners (common/tls.h); PEM only. */
    char *ssl_keystore_type;
    char *ssl_keystore_location;
    char *ssl_keystore_certificate_chain;
    char *ssl_keystore_key;
    char *ssl_key_password;
    char *ssl_truststore_type;
    char *ssl_truststore_location;
    char *ssl_truststore_certificates;
    char *ssl_client_auth;
    char *ssl_enabled_protocols;
    char *ssl_cipher_suites;
    char *ssl_principal_mapping_rules;
    int64_t ssl_handshake_timeout_ms;
    char *node_principal_pattern; /* "User:CN=sluice-node-{id}": node N's principal inside */
    char *ssl_endpoint_identification_algorithm; /* "https": peers' certificates name their host */
    struct config_listener_setting *listener_settings; /* listener.name.<name>.ssl.* */
    size_t n_listener_settings;
    /* SASL on SASL_PLAINTEXT and SASL_SSL listeners. */
    char *sasl_enabled_mechanisms;
    int32_t connection_failed_authentication_delay_ms;
    /* KIP-368: a SASL session lasts this long (0: forever); the client
     * re-authenticates on the same connection or it is closed. */
    int64_t connections_max_reauth_ms;
    /* Authorization (ACLs): on when authorizer.class.name names Kafka's
     * StandardAuthorizer (or AclAuthorizer); broker/kafka/authorizer.h. */
    char *authorizer_class_name;
    char *super_users; /* "User:a;User:b" */
    bool allow_everyone_if_no_acl_found;
    int64_t queued_max_request_bytes;
    char *metrics_listener;
    bool auto_leader_rebalance_enable;
    int32_t leader_imbalance_per_broker_percentage;
    int64_t leader_imbalance_check_interval_seconds;
    uint8_t source[CONFIG_MAX_KEYS]; /* enum config_source per broker_config_defs index */
};

/* Settings a topic may override, each defaulting to a broker-wide key. */
struct topic_config {
    int64_t segment_bytes;
    int64_t segment_ms;
    int64_t retention_ms;    /* -1: keep forever */
    int64_t retention_bytes; /* -1: no size limit */
    int64_t flush_messages;
    int64_t flush_ms;
    int32_t max_message_bytes;
    int32_t index_interval_bytes;
    int32_t segment_index_bytes;
    int32_t min_insync_replicas;
    bool unclean_leader_election_enable;
    char *cleanup_policy;             /* "delete", "compact" or "compact,delete" */
    int64_t delete_retention_ms;      /* how long tombstones outlive a clean */
    double min_cleanable_dirty_ratio; /* dirty / total bytes before cleaning */
    int64_t min_compaction_lag_ms;    /* records younger than this are not cleaned */
    int64_t max_compaction_lag_ms;    /* older dirty records force a clean */
    /* Kafka's throttled-replica lists (common/throttled_replicas.h); NULL or
     * empty: none. Set by `sluicectl partition reassign --throttle`. */
    char *leader_replication_throttled_replicas;
    char *follower_replication_throttled_replicas;
    uint8_t source[CONFIG_MAX_KEYS];
};

/* Dynamic broker configs (IncrementalAlterConfigs on a BROKER resource, kept
 * in the metadata image): only the replication throttle rates, in bytes per
 * second (Kafka's DynamicConfig.Broker). Unset means unlimited. */
#define CONFIG_LEADER_THROTTLED_RATE   "leader.replication.throttled.rate"
#define CONFIG_FOLLOWER_THROTTLED_RATE "follower.replication.throttled.rate"
/* NULL when `name`=`value` is a valid dynamic broker config (value NULL: a
 * delete), else why not (static text). */
const char *broker_dynamic_config_check(const char *name, const char *value);
/* A rate's value as bytes per second; INT64_MAX (unlimited) for NULL or
 * anything unparsable. */
int64_t broker_throttled_rate(const char *value);

/* The tables, for listing (DescribeConfigs) and formatting. */
const struct config_def *broker_config_defs(size_t *count);
const struct config_def *topic_config_defs(size_t *count);

/* Broker config. */
int sluice_config_init(struct sluice_config *cfg); /* all defaults; -ENOMEM */
void sluice_config_free(struct sluice_config *cfg);
/* Set one key from text. Returns 0, CONFIG_UNKNOWN_KEY, or -EINVAL with `err`. */
int sluice_config_set(struct sluice_config *cfg, const char *key, const char *value, char *err,
                      size_t errlen);
/* The value of broker-wide `key` for the listener named `listener`
 * (case-insensitive): its listener.name.<listener>.<key> override when set,
 * else the broker-wide value `global`. Borrowed from cfg. */
const char *sluice_config_listener_value(const struct sluice_config *cfg, const char *listener,
                                         const char *key, const char *global);
/* Apply environment overrides in the Docker convention: SLUICE_LOG_DIRS sets
 * log.dirs (`_` → `.`, `__` → `_`, `___` → `-`). Unknown names are ignored
 * with a warning. Returns 0 or -EINVAL with `err`. */
int sluice_config_apply_env(struct sluice_config *cfg, char *const *envp, char *err, size_t errlen);
/* The whole start-up sequence: defaults, then the file (may be NULL), then the
 * environment, then `overrides` ("key=value" each), then cross-key checks.
 * Unknown keys are logged as warnings. */
int sluice_config_load(struct sluice_config *cfg, const char *path, char *const *overrides,
                       size_t n_overrides, char *const *envp, char *err, size_t errlen);
/* Checks spanning keys (e.g. node.id required, heartbeat < session timeout). */
int sluice_config_validate(const struct sluice_config *cfg, char *err, size_t errlen);

/* Topic config: defaults come from the broker-wide keys. */
int topic_config_init(struct topic_config *tc, const struct sluice_config *broker);
void topic_config_free(struct topic_config *tc);
int topic_config_copy(struct topic_config *dst, const struct topic_config *src);
int topic_config_set(struct topic_config *tc, const char *key, const char *value, char *err,
                     size_t errlen);

/* Render the value of `def` in the struct at `base` as text (Kafka's form:
 * numbers in decimal, booleans "true"/"false", null strings as NULL return).
 * Returns `out`, or NULL for a null string. */
const char *config_format(const struct config_def *def, const void *base, char *out, size_t outlen);

/* Split a comma-separated list in place-free fashion: calls `fn` for each
 * trimmed, non-empty item; stops and returns fn's non-zero result. */
int config_list_foreach(const char *list, int (*fn)(const char *item, size_t len, void *arg),
                        void *arg);

#endif
