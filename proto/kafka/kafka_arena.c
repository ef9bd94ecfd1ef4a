#include "proto/kafka/kafka_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Most requests fit in one chunk; large arrays get a chunk of their own. */
#define KAFKA_ARENA_CHUNK_SIZE 8192
#define KAFKA_ARENA_ALIGN      alignof(max_align_t)

struct kafka_arena_chunk {
    struct kafka_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t pos;
    alignas(max_align_t) unsigned char data[];
};

void kafka_arena_init(struct kafka_arena *a, size_t limit)
{
    a->chunks = NULL;
    a->used = 0;
    a->limit = limit;
}

/* A new chunk of `size` usable bytes. Large chunks go behind the head so the
 * head's free space stays in use for the small allocations that follow. */
static struct kafka_arena_chunk *kafka_arena_new_chunk(struct kafka_arena *a, size_t size)
{
    struct kafka_arena_chunk *c = malloc(sizeof(*c) + size);
    if (c == NULL)
        return NULL;
    c->size = size;
    c->pos = 0;
    if (size > KAFKA_ARENA_CHUNK_SIZE && a->chunks != NULL) {
        c->next = a->chunks->next;
        a->chunks->next = c;
    } else {
        c->next = a->chunks;
        a->chunks = c;
    }
    return c;
}

void *kafka_arena_alloc(struct kafka_arena *a, size_t size)
{
    if (size == 0)
        size = 1; /* still a distinct pointer */
    if (size > SIZE_MAX - KAFKA_ARENA_ALIGN)
        return NULL;
    size_t rounded = (size + KAFKA_ARENA_ALIGN - 1) & ~(KAFKA_ARENA_ALIGN - 1);
    if (rounded > a->limit - a->used) /* invariant: used <= limit */
        return NULL;
    struct kafka_arena_chunk *c = a->chunks;
    if (c == NULL || c->size - c->pos < rounded) {
        size_t chunk = rounded > KAFKA_ARENA_CHUNK_SIZE ? rounded : KAFKA_ARENA_CHUNK_SIZE;
        c = kafka_arena_new_chunk(a, chunk);
        if (c == NULL)
            return NULL;
    }
    void *p = c->data + c->pos;
    c->pos += rounded;
    a->used += rounded;
    memset(p, 0, size);
    return p;
}

void *kafka_arena_alloc_array(struct kafka_arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    return kafka_arena_alloc(a, count * size);
}

char *kafka_arena_strndup(struct kafka_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = kafka_arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void kafka_arena_reset(struct kafka_arena *a)
{
    struct kafka_arena_chunk *c = a->chunks;
    while (c != NULL) {
        struct kafka_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->used = 0;
}

void kafka_arena_free(struct kafka_arena *a)
{
    kafka_arena_reset(a);
}
