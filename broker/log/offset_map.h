/* The cleaner's key -> latest offset map (Kafka's SkimpyOffsetMap): a fixed
 * table of 128-bit key hashes and offsets, 24 bytes an entry, sized once
 * from log.cleaner.dedupe.buffer.size and never grown, so a clean's memory is
 * bounded whatever the log holds. Keys are not stored: two keys would have to
 * share all 128 hash bits to be confused. Owned by one thread at a time. */
#ifndef SLUICE_BROKER_LOG_OFFSET_MAP_H
#define SLUICE_BROKER_LOG_OFFSET_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OFFSET_MAP_ENTRY_SIZE 24

struct offset_map {
    uint8_t *slots; /* cap entries: hash[16] then offset i64 (host order); offset -1 = empty */
    size_t cap;
    size_t count;
    size_t max; /* count allowed before the map is full (90% load) */
};

/* Allocate a map using at most `bytes` bytes (at least 16 entries). Returns
 * 0 or -ENOMEM. */
int offset_map_init(struct offset_map *m, int64_t bytes);
void offset_map_free(struct offset_map *m);
void offset_map_clear(struct offset_map *m);

/* Record that `key` appears at `offset` (a later put wins). Returns 0, or 1
 * when the map is full and the key is new (nothing changed). */
int offset_map_put(struct offset_map *m, const uint8_t *key, size_t len, int64_t offset);
/* The latest offset stored for `key`, -1 if none. */
int64_t offset_map_get(const struct offset_map *m, const uint8_t *key, size_t len);

#endif
