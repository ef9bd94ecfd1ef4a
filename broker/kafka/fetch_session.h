/* Incremental fetch sessions (KIP-227), the broker's side: a consumer that
 * fetches many partitions sends, after its first full request, only the
 * partitions whose fetch position changed, and gets back only the partitions
 * with records or with changed offsets or errors.
 *
 * A session remembers, per partition, what the client asked (fetch offset,
 * limits, leader epoch) and what it was last told (high watermark, log
 * start offset, error). The cache holds at most
 * max.incremental.fetch.session.cache.slots sessions and
 * FETCH_SESSION_MAX_PARTITIONS partitions across them; past either a new
 * session evicts the least recently used one, or (for partitions) is not
 * created: the client then gets session id 0 and keeps sending full
 * requests, which KIP-227 allows. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_FETCH_SESSION_H
#define SLUICE_BROKER_KAFKA_FETCH_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/kafka/kafka_arena.h"
#include "kafka_messages.h"

#define FETCH_SESSION_MAX_PARTITIONS 500000

struct fetch_session_cache;

/* NULL without memory. `slots` 0 turns sessions off (every request full). */
struct fetch_session_cache *fetch_session_cache_new(int32_t slots);
void fetch_session_cache_free(struct fetch_session_cache *c);

/* What a request means for its session. */
struct fetch_session_use {
    int16_t error;      /* FETCH_SESSION_ID_NOT_FOUND / INVALID_FETCH_SESSION_EPOCH, else 0 */
    int32_t session_id; /* to answer with (0: none) */
    bool incremental;   /* answer only what changed (fetch_session_should_send) */
};

/* Resolve `req` (a decoded Fetch request of v7+) against the cache at
 * `now_ms`: create, close, or update its session (KIP-227's epochs:
 * id 0 / epoch 0 starts one, epoch -1 closes, epoch N continues). For an
 * incremental request `req->topics` is replaced by the session's whole
 * partition set, allocated in `arena`. Returns 0, or -ENOMEM (the request
 * then goes on without a session). */
int fetch_session_resolve(struct fetch_session_cache *c, struct kafka_fetch_request *req,
                          struct kafka_arena *arena, uint64_t now_ms,
                          struct fetch_session_use *use);

/* While answering session `session_id` (incremental or new): whether this
 * partition's result goes into the response, recording what the client is
 * told. A new session's first answer sends everything. Partitions the
 * session no longer holds are sent. */
bool fetch_session_should_send(struct fetch_session_cache *c, int32_t session_id, bool incremental,
                               const char *topic, int32_t partition, int64_t high_watermark,
                               int64_t log_start, int16_t error, bool has_records);

#endif
