/* Fuzz target: the leader-epoch-checkpoint parser
 * (broker/log/leader_epoch_cache.c), which reads a file from disk.
 * Invariants: a parse that fails says why and leaves the cache empty; a
 * parse that succeeds yields non-negative, strictly increasing epochs with
 * non-decreasing start offsets, and the entries written back in Kafka's
 * format parse to the same entries. The cache operations then run on what
 * was parsed (end_offset_for, truncation both ways, the follower decision)
 * and must keep the invariants. Inputs with NUL bytes are out of scope (the
 * file reader refuses them before parsing). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/log/leader_epoch_cache.h"
#include "broker/log/log_errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_invariants(const struct leader_epoch_cache *c)
{
    for (size_t i = 0; i < c->count; i++) {
        const struct leader_epoch_entry *e = &c->entries[i];
        if (e->epoch < 0 || e->start_offset < 0) {
            abort();
        }
        if (i > 0 && (e->epoch <= e[-1].epoch || e->start_offset < e[-1].start_offset)) {
            abort();
        }
    }
}

static char *format(const struct leader_epoch_cache *c)
{
    size_t cap = 32 + c->count * 32, len;
    char *text = malloc(cap);
    if (text == NULL) {
        abort();
    }
    len = (size_t)snprintf(text, cap, "0\n%zu\n", c->count);
    for (size_t i = 0; i < c->count; i++) {
        len += (size_t)snprintf(text + len, cap - len, "%" PRId32 " %" PRId64 "\n",
                                c->entries[i].epoch, c->entries[i].start_offset);
    }
    return text;
}

static void exercise(struct leader_epoch_cache *c)
{
    int64_t last = c->count > 0 ? c->entries[c->count - 1].start_offset : 0;
    int64_t leo = last <= INT64_MAX - 10 ? last + 10 : last;
    for (size_t i = 0; i < c->count; i++) {
        struct leader_epoch_end e = leader_epoch_cache_end_offset_for(c, c->entries[i].epoch, leo);
        if (e.epoch != c->entries[i].epoch || e.end_offset < c->entries[i].start_offset) {
            abort();
        }
        struct leader_epoch_truncation t =
            leader_epoch_truncation_decide(c, leo, e.epoch, e.end_offset);
        if (!t.done || t.offset > leo) {
            abort();
        }
    }
    if (c->count > 0) {
        int64_t mid = c->entries[c->count / 2].start_offset;
        (void)leader_epoch_cache_truncate_from_start(c, mid / 2 + 1);
        check_invariants(c);
        (void)leader_epoch_cache_truncate_from_end(c, mid);
        check_invariants(c);
        if (leader_epoch_cache_assign(c, INT32_MAX, mid) < 0) {
            abort();
        }
        check_invariants(c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    if (memchr(data, '\0', size) != NULL) {
        return 0;
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        abort();
    }
    memcpy(text, data, size);
    text[size] = '\0';
    struct leader_epoch_cache c, again;
    leader_epoch_cache_init(&c);
    leader_epoch_cache_init(&again);
    int rv = leader_epoch_cache_parse(&c, text, err, sizeof err);
    if (rv != 0) {
        if (rv != LOG_ERR_CORRUPT || err[0] == '\0' || c.count != 0) {
            abort();
        }
    } else {
        check_invariants(&c);
        char *canon = format(&c);
        if (leader_epoch_cache_parse(&again, canon, err, sizeof err) != 0 ||
            again.count != c.count) {
            abort();
        }
        for (size_t i = 0; i < c.count; i++) {
            if (again.entries[i].epoch != c.entries[i].epoch ||
                again.entries[i].start_offset != c.entries[i].start_offset) {
                abort();
            }
        }
        free(canon);
        exercise(&c);
    }
    leader_epoch_cache_free(&c);
    leader_epoch_cache_free(&again);
    free(text);
    return 0;
}
