/* A hash map from NUL-terminated strings to pointers (chained, FNV-1a).
 *
 * Keys are copied; values are borrowed (the map never frees them). Grows as
 * needed. Not thread-safe. */
#ifndef SLUICE_COMMON_STRMAP_H
#define SLUICE_COMMON_STRMAP_H

#include <stddef.h>

struct strmap_entry {
    char *key;
    void *value;
    struct strmap_entry *next;
};

struct strmap {
    struct strmap_entry **buckets;
    size_t n_buckets, count;
};

void strmap_init(struct strmap *m);
/* Frees the map's entries and key copies, not the values. */
void strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Insert or replace. Returns 0 or -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *value);
/* Remove and return the value (NULL if absent). */
void *strmap_remove(struct strmap *m, const char *key);

/* Iteration: for (e = strmap_first(m, &i); e; e = strmap_next(m, e, &i)).
 * The map must not change during iteration. */
struct strmap_entry *strmap_first(const struct strmap *m, size_t *bucket);
struct strmap_entry *strmap_next(const struct strmap *m, struct strmap_entry *e, size_t *bucket);

#endif
