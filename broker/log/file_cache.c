/* The segment descriptor LRU (see file_cache.h). */
#include "broker/log/file_cache.h"

static void unlink_entry(struct file_cache_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(struct file_cache *c, struct file_cache_entry *e)
{
    e->prev = &c->head;
    e->next = c->head.next;
    c->head.next->prev = e;
    c->head.next = e;
}

void file_cache_init(struct file_cache *c, size_t max_fds, file_cache_close_fn close)
{
    c->max_fds = max_fds;
    c->open_fds = 0;
    c->entries = 0;
    c->head.prev = c->head.next = &c->head;
    c->head.cache = c;
    c->close = close;
    c->evictions = 0;
    c->reserved_fds = 0;
}

void file_cache_opened(struct file_cache *c, struct file_cache_entry *e, size_t fds)
{
    file_cache_forget(e);
    e->cache = c;
    e->fds = fds;
    push_front(c, e);
    c->open_fds += fds;
    c->entries++;
    file_cache_trim(c, e);
}

void file_cache_add_fds(struct file_cache_entry *e, size_t fds)
{
    if (e->cache != NULL) {
        e->fds += fds;
        e->cache->open_fds += fds;
        file_cache_trim(e->cache, e);
    }
}

void file_cache_touch(struct file_cache_entry *e)
{
    struct file_cache *c = e->cache;
    if (c != NULL && c->head.next != e) {
        unlink_entry(e);
        push_front(c, e);
    }
}

void file_cache_forget(struct file_cache_entry *e)
{
    struct file_cache *c = e->cache;
    if (c == NULL) {
        return;
    }
    unlink_entry(e);
    c->open_fds -= e->fds;
    c->entries--;
    e->cache = NULL;
    e->fds = 0;
}

/* Offer the least recent entry to its owner: closed and unlisted, or (in
 * use) moved to the front. Returns true if it was closed. */
static bool offer_tail(struct file_cache *c)
{
    struct file_cache_entry *e = c->head.prev;
    unlink_entry(e);
    if (c->close(e)) {
        c->open_fds -= e->fds;
        c->entries--;
        e->cache = NULL;
        e->fds = 0;
        c->evictions++;
        return true;
    }
    push_front(c, e);
    return false;
}

void file_cache_trim(struct file_cache *c, const struct file_cache_entry *keep)
{
    if (c->max_fds == 0) {
        return;
    }
    /* Each entry is offered at most once: in-use ones go to the front. */
    for (size_t budget = c->entries; c->open_fds > c->max_fds && budget > 0; budget--) {
        if (c->head.prev == keep) {
            struct file_cache_entry *k = c->head.prev;
            unlink_entry(k);
            push_front(c, k);
            continue;
        }
        (void)offer_tail(c);
    }
}

void file_cache_close_idle(struct file_cache *c)
{
    for (size_t budget = c->entries; budget > 0 && c->entries > 0; budget--) {
        (void)offer_tail(c);
    }
}
