/* Aborted-transaction index files (txn_index.h). */
#include "broker/log/txn_index.h"

#include <errno.h>
#include <unistd.h>

#include "common/bigendian.h"

#define READ_ENTRIES 128 /* entries per pread */

void txn_index_encode(const struct txn_index_entry *e, uint8_t out[TXN_INDEX_ENTRY_SIZE])
{
    be16_store(out, TXN_INDEX_VERSION);
    be64_store(out + 2, (uint64_t)e->producer_id);
    be64_store(out + 10, (uint64_t)e->first_offset);
    be64_store(out + 18, (uint64_t)e->last_offset);
    be64_store(out + 26, (uint64_t)e->last_stable_offset);
}

int txn_index_decode(const uint8_t in[TXN_INDEX_ENTRY_SIZE], struct txn_index_entry *e)
{
    if (be16_load(in) != TXN_INDEX_VERSION) {
        return -EBADMSG;
    }
    e->producer_id = (int64_t)be64_load(in + 2);
    e->first_offset = (int64_t)be64_load(in + 10);
    e->last_offset = (int64_t)be64_load(in + 18);
    e->last_stable_offset = (int64_t)be64_load(in + 26);
    return 0;
}

int txn_index_append(int fd, int64_t *size, const struct txn_index_entry *e)
{
    uint8_t buf[TXN_INDEX_ENTRY_SIZE];
    txn_index_encode(e, buf);
    ssize_t n = pwrite(fd, buf, sizeof buf, (off_t)*size);
    if (n == (ssize_t)sizeof buf) {
        *size += TXN_INDEX_ENTRY_SIZE;
        return 0;
    }
    int rv = n < 0 ? -errno : -EIO;
    (void)ftruncate(fd, (off_t)*size);
    return rv;
}

/* Visit the entries of the first `size` bytes in order until `fn` returns
 * nonzero (returned) or the end (0). */
static int each_entry(int fd, int64_t size, int (*fn)(const struct txn_index_entry *, void *),
                      void *arg)
{
    uint8_t buf[READ_ENTRIES * TXN_INDEX_ENTRY_SIZE];
    int64_t whole = size - size % TXN_INDEX_ENTRY_SIZE;
    for (int64_t pos = 0; pos < whole;) {
        size_t want = (size_t)(whole - pos) < sizeof buf ? (size_t)(whole - pos) : sizeof buf;
        ssize_t got = pread(fd, buf, want, (off_t)pos);
        if (got < 0) {
            return -errno;
        }
        if (got < TXN_INDEX_ENTRY_SIZE) {
            return -EIO;
        }
        size_t entries = (size_t)got / TXN_INDEX_ENTRY_SIZE;
        for (size_t i = 0; i < entries; i++) {
            struct txn_index_entry e;
            if (txn_index_decode(buf + i * TXN_INDEX_ENTRY_SIZE, &e) < 0) {
                return -EBADMSG;
            }
            int rv = fn(&e, arg);
            if (rv != 0) {
                return rv;
            }
        }
        pos += (int64_t)(entries * TXN_INDEX_ENTRY_SIZE);
    }
    return 0;
}

struct collect_arg {
    int64_t fetch_offset, upper_bound;
    struct txn_index_entry *out;
    size_t max, *n;
    bool *complete;
};

static int collect_one(const struct txn_index_entry *e, void *arg)
{
    struct collect_arg *c = arg;
    if (e->last_offset >= c->fetch_offset && e->first_offset < c->upper_bound) {
        if (*c->n >= c->max) {
            return 1;
        }
        c->out[(*c->n)++] = *e;
    }
    if (e->last_stable_offset >= c->upper_bound) {
        *c->complete = true;
        return 1;
    }
    return 0;
}

int txn_index_collect(int fd, int64_t size, int64_t fetch_offset, int64_t upper_bound,
                      struct txn_index_entry *out, size_t max, size_t *n, bool *complete)
{
    struct collect_arg c = {fetch_offset, upper_bound, out, max, n, complete};
    int rv = each_entry(fd, size, collect_one, &c);
    return rv < 0 ? rv : 0;
}

struct truncate_arg {
    int64_t offset;
    int64_t keep;
};

static int truncate_one(const struct txn_index_entry *e, void *arg)
{
    struct truncate_arg *t = arg;
    if (e->last_offset >= t->offset) {
        return 1;
    }
    t->keep += TXN_INDEX_ENTRY_SIZE;
    return 0;
}

int txn_index_truncated_size(int fd, int64_t size, int64_t offset, int64_t *new_size)
{
    struct truncate_arg t = {offset, 0};
    int rv = each_entry(fd, size, truncate_one, &t);
    if (rv < 0) {
        return rv;
    }
    *new_size = t.keep;
    return 0;
}
