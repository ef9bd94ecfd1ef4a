#include "tests/unit/kafka_test_fill.h"

#include <stddef.h>

void kafka_test_fill_init(struct kafka_test_fill *t, uint64_t seed, struct kafka_arena *arena)
{
    t->state = seed ? seed : 0x9e3779b97f4a7c15ULL;
    t->arena = arena;
}

uint64_t kafka_test_rand(struct kafka_test_fill *t)
{
    t->state ^= t->state >> 12;
    t->state ^= t->state << 25;
    t->state ^= t->state >> 27;
    return t->state * 0x2545f4914f6cdd1dULL;
}

void kafka_test_fill_int8(struct kafka_test_fill *t, int8_t *v)
{
    *v = (int8_t)kafka_test_rand(t);
}

void kafka_test_fill_int16(struct kafka_test_fill *t, int16_t *v)
{
    *v = (int16_t)kafka_test_rand(t);
}

void kafka_test_fill_uint16(struct kafka_test_fill *t, uint16_t *v)
{
    *v = (uint16_t)kafka_test_rand(t);
}

/* Mostly small values, sometimes the extremes and -1 (common defaults). */
static uint64_t kafka_test_rand_value(struct kafka_test_fill *t)
{
    uint64_t r = kafka_test_rand(t);
    switch (r % 4) {
    case 0:
        return (uint64_t)-1;
    case 1:
        return (r >> 8) % 100;
    default:
        return kafka_test_rand(t);
    }
}

void kafka_test_fill_int32(struct kafka_test_fill *t, int32_t *v)
{
    *v = (int32_t)kafka_test_rand_value(t);
}

void kafka_test_fill_uint32(struct kafka_test_fill *t, uint32_t *v)
{
    *v = (uint32_t)kafka_test_rand_value(t);
}

void kafka_test_fill_int64(struct kafka_test_fill *t, int64_t *v)
{
    *v = (int64_t)kafka_test_rand_value(t);
}

void kafka_test_fill_float64(struct kafka_test_fill *t, double *v)
{
    *v = (double)(int32_t)kafka_test_rand(t) / 8.0;
}

void kafka_test_fill_bool(struct kafka_test_fill *t, bool *v)
{
    *v = kafka_test_rand(t) & 1;
}

void kafka_test_fill_uuid(struct kafka_test_fill *t, struct kafka_uuid *v)
{
    for (size_t i = 0; i < sizeof(v->bytes); i++)
        v->bytes[i] = (uint8_t)kafka_test_rand(t);
}

int kafka_test_fill_string(struct kafka_test_fill *t, bool nullable, const char **v)
{
    if (nullable && kafka_test_rand(t) % 4 == 0) {
        *v = NULL;
        return 0;
    }
    size_t len = kafka_test_rand(t) % 13;
    char *s = kafka_arena_alloc(t->arena, len + 1);
    if (s == NULL)
        return KAFKA_CODEC_ENOMEM;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + kafka_test_rand(t) % 26);
    s[len] = '\0';
    *v = s;
    return 0;
}

int kafka_test_fill_bytes(struct kafka_test_fill *t, bool nullable, struct kafka_bytes *v)
{
    if (nullable && kafka_test_rand(t) % 4 == 0) {
        v->data = NULL;
        v->len = -1;
        return 0;
    }
    size_t len = kafka_test_rand(t) % 13;
    uint8_t *b = kafka_arena_alloc(t->arena, len);
    if (b == NULL)
        return KAFKA_CODEC_ENOMEM;
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)kafka_test_rand(t);
    v->data = b;
    v->len = (int32_t)len;
    return 0;
}

int kafka_test_fill_records(struct kafka_test_fill *t, bool nullable, struct kafka_records *v)
{
    struct kafka_bytes b;
    int rv = kafka_test_fill_bytes(t, nullable, &b);
    v->data = b.data;
    v->len = b.len;
    v->splice_source = NULL;
    return rv;
}

int kafka_test_fill_count(struct kafka_test_fill *t, bool nullable, int32_t *count)
{
    if (nullable && kafka_test_rand(t) % 4 == 0)
        *count = -1;
    else
        *count = (int32_t)(kafka_test_rand(t) % 3);
    return 0;
}
