/* Seeded random values for the generated Kafka codec tests
 * (kafka_messages_test.c fills every message with these). Test-only. */
#ifndef SLUICE_TESTS_KAFKA_TEST_FILL_H
#define SLUICE_TESTS_KAFKA_TEST_FILL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/kafka/kafka_arena.h"
#include "proto/kafka/kafka_types.h"

struct kafka_test_fill {
    uint64_t state;            /* xorshift64* state, never 0 */
    struct kafka_arena *arena; /* arrays, strings and bytes come from here */
};

void kafka_test_fill_init(struct kafka_test_fill *t, uint64_t seed, struct kafka_arena *arena);
uint64_t kafka_test_rand(struct kafka_test_fill *t);

void kafka_test_fill_int8(struct kafka_test_fill *t, int8_t *v);
void kafka_test_fill_int16(struct kafka_test_fill *t, int16_t *v);
void kafka_test_fill_uint16(struct kafka_test_fill *t, uint16_t *v);
void kafka_test_fill_int32(struct kafka_test_fill *t, int32_t *v);
void kafka_test_fill_uint32(struct kafka_test_fill *t, uint32_t *v);
void kafka_test_fill_int64(struct kafka_test_fill *t, int64_t *v);
void kafka_test_fill_float64(struct kafka_test_fill *t, double *v);
void kafka_test_fill_bool(struct kafka_test_fill *t, bool *v);
void kafka_test_fill_uuid(struct kafka_test_fill *t, struct kafka_uuid *v);
/* Null sometimes when `nullable`; otherwise 0..12 random bytes/letters. */
int kafka_test_fill_string(struct kafka_test_fill *t, bool nullable, const char **v);
int kafka_test_fill_bytes(struct kafka_test_fill *t, bool nullable, struct kafka_bytes *v);
int kafka_test_fill_records(struct kafka_test_fill *t, bool nullable, struct kafka_records *v);
/* Array length: -1 sometimes when `nullable`, else 0..2. */
int kafka_test_fill_count(struct kafka_test_fill *t, bool nullable, int32_t *count);

#endif
