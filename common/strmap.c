/* String-keyed hash map; see strmap.h. */
#include "common/strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    }
    return h;
}

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof *m);
}

void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e != NULL) {
            struct strmap_entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

static struct strmap_entry **find(const struct strmap *m, const char *key)
{
    if (m->n_buckets == 0) {
        return NULL;
    }
    struct strmap_entry **link = &m->buckets[hash(key) % m->n_buckets];
    while (*link != NULL && strcmp((*link)->key, key) != 0) {
        link = &(*link)->next;
    }
    return link;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry **link = find(m, key);
    return link != NULL && *link != NULL ? (*link)->value : NULL;
}

static int grow(struct strmap *m)
{
    size_t n = m->n_buckets ? m->n_buckets * 2 : 16;
    struct strmap_entry **b = calloc(n, sizeof *b);
    if (b == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e != NULL) {
            struct strmap_entry *next = e->next;
            size_t j = hash(e->key) % n;
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
    struct strmap_entry **link = find(m, key);
    if (link != NULL && *link != NULL) {
        (*link)->value = value;
        return 0;
    }
    if (m->count + 1 > m->n_buckets && grow(m) != 0) {
        return -ENOMEM;
    }
    struct strmap_entry *e = malloc(sizeof *e);
    char *k = strdup(key);
    if (e == NULL || k == NULL) {
        free(e);
        free(k);
        return -ENOMEM;
    }
    size_t i = hash(key) % m->n_buckets;
    e->key = k;
    e->value = value;
    e->next = m->buckets[i];
    m->buckets[i] = e;
    m->count++;
    return 0;
}

void *strmap_remove(struct strmap *m, const char *key)
{
    struct strmap_entry **link = find(m, key);
    if (link == NULL || *link == NULL) {
        return NULL;
    }
    struct strmap_entry *e = *link;
    void *value = e->value;
    *link = e->next;
    free(e->key);
    free(e);
    m->count--;
    return value;
}

struct strmap_entry *strmap_first(const struct strmap *m, size_t *bucket)
{
    for (*bucket = 0; *bucket < m->n_buckets; (*bucket)++) {
        if (m->buckets[*bucket] != NULL) {
            return m->buckets[*bucket];
        }
    }
    return NULL;
}

struct strmap_entry *strmap_next(const struct strmap *m, struct strmap_entry *e, size_t *bucket)
{
    if (e->next != NULL) {
        return e->next;
    }
    for ((*bucket)++; *bucket < m->n_buckets; (*bucket)++) {
        if (m->buckets[*bucket] != NULL) {
            return m->buckets[*bucket];
        }
    }
    return NULL;
}
