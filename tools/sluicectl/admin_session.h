/* sluicectl's session with a Kafka cluster, shared by every command that
 * talks to brokers: the options they all take (--bootstrap-server,
 * --command-config, --json, --timeout-ms), one connection (moved to a
 * coordinator or a partition's leader as needed) and the arena every decoded
 * answer lives in until the command ends. The session owns its connection,
 * arena and buffers; admin_session_close frees them. Functions returning int
 * give 0, or -1 with s->err set, unless they say otherwise. */
#ifndef SLUICE_TOOLS_SLUICECTL_ADMIN_SESSION_H
#define SLUICE_TOOLS_SLUICECTL_ADMIN_SESSION_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "kafka_messages.h"
#include "tools/sluicectl/client_security.h"
#include "tools/sluicectl/kafka_client.h"

#define ADMIN_SESSION_TIMEOUT_MS 10000

/* The session's options, for a command's getopt_long table. Their values
 * ('b', 'K', 'j', 't') are taken: a command's own options use others. */
#define ADMIN_SESSION_OPTIONS                                                                      \
    {"bootstrap-server", required_argument, NULL, 'b'},                                            \
        {"command-config", required_argument, NULL, 'K'}, {"json", no_argument, NULL, 'j'},        \
    {                                                                                              \
        "timeout-ms", required_argument, NULL, 't'                                                 \
    }
#define ADMIN_SESSION_OPTIONS_HELP                                                                 \
    "  --bootstrap-server host:port   a broker to ask (required)\n"                                \
    "  --command-config FILE          Kafka client properties (security.protocol, sasl.*,\n"       \
    "                                 ssl.*) for SSL / SASL listeners\n"                           \
    "  --json                         machine-readable output\n"                                   \
    "  --timeout-ms N                 per-request timeout (default 10000)\n"

struct admin_session {
    const char *bootstrap;      /* --bootstrap-server */
    const char *command_config; /* --command-config: Kafka client properties */
    bool json;
    int timeout_ms;
    struct client_security security; /* borrowed by client, so reconnects reuse it */
    struct kafka_client client;
    struct kafka_arena arena;
    struct buf body, response;
    char err[512];
};

/* Defaults: no bootstrap, text output, ADMIN_SESSION_TIMEOUT_MS. */
void admin_session_init(struct admin_session *s);

/* A command's own option: getopt_long's value `c` and its argument `arg`
 * (NULL if it takes none) for the command's state `cmd`. 0 taken, -1 a
 * usage error (said on stderr where the usage text would not say why). */
typedef int (*admin_session_option_fn)(void *cmd, int c, const char *arg);
/* Parse argv with getopt_long (optind reset) over `shortopts` and
 * `options`, which hold ADMIN_SESSION_OPTIONS and {"help", ..., 'h'}: the
 * session's options set the session, every other option but --help goes to
 * `take` (NULL: the command has none of its own). Stops at the first error.
 * Returns 0 when the command's own arguments start at optind, 1 for --help,
 * -1 on a usage error. */
int admin_session_getopt(struct admin_session *s, int argc, char **argv, const char *shortopts,
                         const struct option *options, admin_session_option_fn take, void *cmd);
/* For a command whose only options are the session's and --help: parse
 * them from argv (admin_session_getopt). Returns -1 when the command's
 * own arguments start at optind; else `usage` has been called and the exit
 * code is returned (SLUICECTL_OK after --help, SLUICECTL_USAGE). */
int admin_session_parse(struct admin_session *s, int argc, char **argv, void (*usage)(void));
/* Connect to --bootstrap-server as --command-config says; the arena holds
 * at most `arena_limit` bytes. Says what went wrong on stderr and returns
 * SLUICECTL_OK, SLUICECTL_USAGE (no --bootstrap-server, a bad FILE) or
 * SLUICECTL_CONNECT. */
int admin_session_open(struct admin_session *s, size_t arena_limit);
/* Free what the session holds; safe after a failed open. */
void admin_session_close(struct admin_session *s);

/* Start encoding a request into s->body. */
void admin_session_begin(struct admin_session *s, struct kafka_writer *w);
/* Send s->body (already encoded) and position `r` on the answer. */
int admin_session_call(struct admin_session *s, int16_t api, int16_t version,
                       struct kafka_reader *r);
/* Set s->err to "what: ERROR_NAME"; returns -1. */
int admin_session_fail(struct admin_session *s, const char *what, int16_t code);
/* Move the session's connection to host:port. */
int admin_session_reconnect(struct admin_session *s, const char *host, int port);
/* Metadata of `topics` (NULL: every topic). */
int admin_session_metadata(struct admin_session *s, const char **topics, int32_t n,
                           struct kafka_metadata_response *out);
/* FindCoordinator for `key` (key_type 0: a group, 1: a transactional id),
 * then move the connection to it. */
int admin_session_connect_coordinator(struct admin_session *s, int8_t key_type, const char *key);
/* Move the connection to the leader of topic-partition in `md`: 0, -1 when
 * it has none (s->err says so), -2 when it cannot be reached. */
int admin_session_connect_leader(struct admin_session *s, const struct kafka_metadata_response *md,
                                 const char *topic, int32_t partition);
/* ListOffsets at the partition's leader for `timestamp` (-1 latest, -2
 * earliest, else the first offset at or after it): the offset, or -1 if
 * unknown or none. Leaves the session connected to that leader. */
int64_t admin_session_list_offset(struct admin_session *s, const struct kafka_metadata_response *md,
                                  const char *topic, int32_t partition, int64_t timestamp);

#endif
