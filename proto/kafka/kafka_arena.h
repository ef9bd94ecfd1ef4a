/* Bump allocator for decoded Kafka requests.
 *
 * One arena per request: the decoder allocates every array and string of a
 * message from it, and the caller frees them all at once with
 * kafka_arena_reset/kafka_arena_free, so no per-field free exists. The arena
 * has a byte limit, a second guard (after the per-array bounds checks in
 * kafka_reader) against a small input expanding into a huge allocation.
 * Single-threaded: use from one loop/thread at a time. */
#ifndef SLUICE_PROTO_KAFKA_ARENA_H
#define SLUICE_PROTO_KAFKA_ARENA_H

#include <stddef.h>

struct kafka_arena_chunk;

struct kafka_arena {
    struct kafka_arena_chunk *chunks; /* newest first */
    size_t used;                      /* bytes handed out, including padding */
    size_t limit;                     /* maximum of `used` */
};

/* An empty arena that will hand out at most `limit` bytes. Allocates nothing. */
void kafka_arena_init(struct kafka_arena *a, size_t limit);

/* `size` zeroed bytes aligned for any type, valid until reset/free. NULL when
 * the limit would be exceeded or malloc fails. size 0 returns a unique
 * non-NULL pointer to zero bytes. */
void *kafka_arena_alloc(struct kafka_arena *a, size_t size);

/* Zeroed array of `count` elements of `size` bytes; NULL on overflow too. */
void *kafka_arena_alloc_array(struct kafka_arena *a, size_t count, size_t size);

/* Copy of `len` bytes at `s` plus a terminating NUL. */
char *kafka_arena_strndup(struct kafka_arena *a, const char *s, size_t len);

/* Release everything allocated so far; the arena stays usable. */
void kafka_arena_reset(struct kafka_arena *a);

/* Same as reset; named for symmetry with init. */
void kafka_arena_free(struct kafka_arena *a);

#endif
