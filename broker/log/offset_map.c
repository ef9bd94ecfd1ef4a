/* Open addressing with linear probing over 128-bit key hashes. */
#include "broker/log/offset_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HASH_BYTES 16

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* One 64-bit lane of the key hash; two seeds give the 128 bits. */
static uint64_t hash64(const uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t k;
        memcpy(&k, p + i, 8);
        h = (h ^ fmix64(k + seed)) * 0x87c37b91114253d5ULL;
        h = (h << 31) | (h >> 33);
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, len - i);
    h ^= fmix64(tail ^ (seed + len));
    return fmix64(h);
}

static void key_hash(const uint8_t *key, size_t len, uint8_t out[HASH_BYTES])
{
    uint64_t a = hash64(key, len, 0x243f6a8885a308d3ULL);
    uint64_t b = hash64(key, len, 0x13198a2e03707344ULL);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

static int64_t slot_offset(const uint8_t *slot)
{
    int64_t o;
    memcpy(&o, slot + HASH_BYTES, sizeof o);
    return o;
}

int offset_map_init(struct offset_map *m, int64_t bytes)
{
    memset(m, 0, sizeof *m);
    size_t cap = bytes > 0 ? (size_t)(bytes / OFFSET_MAP_ENTRY_SIZE) : 0;
    m->cap = cap < 16 ? 16 : cap;
    m->slots = malloc(m->cap * OFFSET_MAP_ENTRY_SIZE);
    if (m->slots == NULL) {
        return -ENOMEM;
    }
    m->max = m->cap / 10 * 9;
    offset_map_clear(m);
    return 0;
}

void offset_map_free(struct offset_map *m)
{
    free(m->slots);
    m->slots = NULL;
}

void offset_map_clear(struct offset_map *m)
{
    /* All 0xff bytes: offset -1 marks an empty slot. */
    memset(m->slots, 0xff, m->cap * OFFSET_MAP_ENTRY_SIZE);
    m->count = 0;
}

/* The slot holding `h`, or the empty slot where it would go. */
static uint8_t *find(const struct offset_map *m, const uint8_t h[HASH_BYTES])
{
    uint64_t start;
    memcpy(&start, h, sizeof start);
    for (size_t i = (size_t)(start % m->cap);; i = (i + 1) % m->cap) {
        uint8_t *slot = m->slots + i * OFFSET_MAP_ENTRY_SIZE;
        if (slot_offset(slot) < 0 || memcmp(slot, h, HASH_BYTES) == 0) {
            return slot; /* the table is never full (90% load), so this ends */
        }
    }
}

int offset_map_put(struct offset_map *m, const uint8_t *key, size_t len, int64_t offset)
{
    uint8_t h[HASH_BYTES];
    key_hash(key, len, h);
    uint8_t *slot = find(m, h);
    if (slot_offset(slot) < 0) {
        if (m->count >= m->max) {
            return 1;
        }
        m->count++;
        memcpy(slot, h, HASH_BYTES);
    }
    memcpy(slot + HASH_BYTES, &offset, sizeof offset);
    return 0;
}

int64_t offset_map_get(const struct offset_map *m, const uint8_t *key, size_t len)
{
    uint8_t h[HASH_BYTES];
    key_hash(key, len, h);
    return slot_offset(find(m, h));
}
