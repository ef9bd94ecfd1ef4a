/* Kafka's __consumer_offsets schemas and record batch framing; see
 * group_records.h. */
#include "broker/group/group_records.h"

#include <errno.h>
#include <string.h>

#include "broker/log/control_batch.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "common/crc32c.h"
#include "common/varint.h"

static int put_str(struct buf *out, const char *s)
{
    size_t n = strlen(s);
    if (n > INT16_MAX) {
        n = INT16_MAX; /* bounded by the callers; a schema string is int16-sized */
    }
    if (buf_append_be16(out, (uint16_t)n) != 0) {
        return -ENOMEM;
    }
    return buf_append(out, s, n) != 0 ? -ENOMEM : 0;
}

int group_offset_key_encode(struct buf *out, const char *group, const char *topic,
                            int32_t partition)
{
    if (buf_append_be16(out, 1) != 0 || put_str(out, group) != 0 || put_str(out, topic) != 0 ||
        buf_append_be32(out, (uint32_t)partition) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int group_metadata_key_encode(struct buf *out, const char *group)
{
    if (buf_append_be16(out, 2) != 0 || put_str(out, group) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int group_offset_value_encode(struct buf *out, const struct group_offset_value *v)
{
    int32_t mlen = v->metadata.len < 0 ? 0 : v->metadata.len;
    if (mlen > INT16_MAX || buf_append_be16(out, 3) != 0 ||
        buf_append_be64(out, (uint64_t)v->offset) != 0 ||
        buf_append_be32(out, (uint32_t)v->leader_epoch) != 0 ||
        buf_append_be16(out, (uint16_t)mlen) != 0 || buf_append(out, v->metadata.p, (size_t)mlen) ||
        buf_append_be64(out, (uint64_t)v->commit_timestamp) != 0) {
        return -ENOMEM;
    }
    return 0;
}

/* A bounded reader over one record's key or value. */
struct rd {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static int16_t rd16(struct rd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)be16_load(p) : 0;
}

static int32_t rd32(struct rd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)be32_load(p) : 0;
}

static int64_t rd64(struct rd *r)
{
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)be64_load(p) : 0;
}

static struct group_str rdstr(struct rd *r)
{
    int16_t n = rd16(r);
    struct group_str s = {NULL, -1};
    if (n >= 0) {
        s.p = (const char *)take(r, (size_t)n);
        s.len = s.p ? n : -1;
    }
    return s;
}

int group_record_key_decode(const uint8_t *p, size_t len, struct group_record_key *out)
{
    struct rd r = {p, len, false};
    int16_t version = rd16(&r);
    memset(out, 0, sizeof *out);
    out->group = rdstr(&r);
    if (version == 0 || version == 1) {
        out->kind = GROUP_RECORD_OFFSET;
        out->topic = rdstr(&r);
        out->partition = rd32(&r);
    } else if (version == 2) {
        out->kind = GROUP_RECORD_METADATA;
    } else {
        return -EINVAL;
    }
    if (r.bad || out->group.len < 0 || (out->kind == GROUP_RECORD_OFFSET && out->topic.len < 0)) {
        return -EINVAL;
    }
    return 0;
}

int group_offset_value_decode(const uint8_t *p, size_t len, struct group_offset_value *out)
{
    struct rd r = {p, len, false};
    int16_t version = rd16(&r);
    if (version < 0 || version > 3) {
        return -EINVAL;
    }
    out->offset = rd64(&r);
    out->leader_epoch = version >= 3 ? rd32(&r) : -1;
    out->metadata = rdstr(&r);
    out->commit_timestamp = rd64(&r);
    if (version == 1) {
        (void)rd64(&r); /* expire timestamp: KIP-211 ignores it */
    }
    return r.bad ? -EINVAL : 0;
}

static int put_nstr(struct buf *out, struct group_str s)
{
    if (s.len < 0) {
        return buf_append_be16(out, (uint16_t)-1) != 0 ? -ENOMEM : 0;
    }
    if (s.len > INT16_MAX || buf_append_be16(out, (uint16_t)s.len) != 0 ||
        buf_append(out, s.p, (size_t)s.len) != 0) {
        return -ENOMEM;
    }
    return 0;
}

static int put_bytes(struct buf *out, const uint8_t *p, int32_t len)
{
    len = len < 0 ? 0 : len;
    if (buf_append_be32(out, (uint32_t)len) != 0 || buf_append(out, p, (size_t)len) != 0) {
        return -ENOMEM;
    }
    return 0;
}

int group_metadata_value_encode(struct buf *out, const struct group_metadata_value *v,
                                const struct group_metadata_member *members)
{
    int rv = buf_append_be16(out, 3);
    rv |= put_nstr(out, v->protocol_type);
    rv |= buf_append_be32(out, (uint32_t)v->generation);
    rv |= put_nstr(out, v->protocol);
    rv |= put_nstr(out, v->leader);
    rv |= buf_append_be64(out, (uint64_t)v->state_timestamp);
    rv |= buf_append_be32(out, (uint32_t)v->n_members);
    for (int32_t i = 0; i < v->n_members; i++) {
        const struct group_metadata_member *m = &members[i];
        rv |= put_nstr(out, m->member_id);
        rv |= put_nstr(out, m->instance_id);
        rv |= put_nstr(out, m->client_id);
        rv |= put_nstr(out, m->client_host);
        rv |= buf_append_be32(out, (uint32_t)m->rebalance_timeout_ms);
        rv |= buf_append_be32(out, (uint32_t)m->session_timeout_ms);
        rv |= put_bytes(out, m->subscription, m->subscription_len);
        rv |= put_bytes(out, m->assignment, m->assignment_len);
    }
    return rv != 0 ? -ENOMEM : 0;
}

static void rdbytes(struct rd *r, const uint8_t **p, int32_t *len)
{
    int32_t n = rd32(r);
    *p = NULL;
    *len = 0;
    if (n < 0) {
        return; /* null: no bytes */
    }
    *p = take(r, (size_t)n);
    *len = *p ? n : 0;
}

int group_metadata_value_decode(const uint8_t *p, size_t len, struct group_metadata_value *out,
                                void (*member)(void *arg, const struct group_metadata_member *m),
                                void *arg)
{
    struct rd r = {p, len, false};
    int16_t version = rd16(&r);
    if (version < 0 || version > 3) {
        return -EINVAL;
    }
    out->protocol_type = rdstr(&r);
    out->generation = rd32(&r);
    out->protocol = rdstr(&r);
    out->leader = rdstr(&r);
    out->state_timestamp = version >= 2 ? rd64(&r) : -1;
    out->n_members = rd32(&r);
    if (r.bad || out->n_members < 0 || (size_t)out->n_members > r.left) {
        return -EINVAL;
    }
    for (int32_t i = 0; i < out->n_members; i++) {
        struct group_metadata_member m;
        m.member_id = rdstr(&r);
        m.instance_id = version >= 3 ? rdstr(&r) : (struct group_str){NULL, -1};
        m.client_id = rdstr(&r);
        m.client_host = rdstr(&r);
        m.rebalance_timeout_ms = version >= 1 ? rd32(&r) : -1;
        m.session_timeout_ms = rd32(&r);
        rdbytes(&r, &m.subscription, &m.subscription_len);
        rdbytes(&r, &m.assignment, &m.assignment_len);
        if (r.bad || m.member_id.len < 0) {
            return -EINVAL;
        }
        m.rebalance_timeout_ms = version >= 1 ? m.rebalance_timeout_ms : m.session_timeout_ms;
        if (member != NULL) {
            member(arg, &m);
        }
    }
    return r.bad ? -EINVAL : 0;
}

static int put_record(struct buf *out, const struct group_record *r, int32_t delta)
{
    struct buf body;
    buf_init(&body);
    int rv = buf_append_u8(&body, 0);                    /* attributes */
    rv |= buf_append_varint(&body, 0);                   /* timestamp delta */
    rv |= buf_append_varint(&body, delta);               /* offset delta */
    rv |= buf_append_varint(&body, (int64_t)r->key_len); /* key */
    rv |= buf_append(&body, r->key, r->key_len);
    rv |= buf_append_varint(&body, r->value == NULL ? -1 : r->value_len); /* value */
    if (r->value != NULL) {
        rv |= buf_append(&body, r->value, (size_t)r->value_len);
    }
    rv |= buf_append_varint(&body, 0); /* headers */
    rv |= buf_append_varint(out, (int64_t)body.len);
    rv |= buf_append(out, body.data, body.len);
    buf_free(&body);
    return rv != 0 ? -ENOMEM : 0;
}

static int batch_build(struct buf *out, const struct group_record *records, size_t n,
                       int64_t timestamp_ms, const struct group_batch_producer *producer)
{
    size_t start = out->len;
    uint8_t *h;
    if (buf_append_zeros(out, RECORD_BATCH_HEADER_SIZE, &h) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (put_record(out, &records[i], (int32_t)i) != 0) {
            return -ENOMEM;
        }
    }
    h = out->data + start; /* the buffer may have moved */
    size_t total = out->len - start;
    be64_store(h + 0, 0);
    be32_store(h + 8, (uint32_t)(total - 12));
    be32_store(h + 12, (uint32_t)-1);
    h[16] = 2;
    be16_store(h + 21, producer != NULL ? RECORD_BATCH_ATTR_TRANSACTIONAL : 0);
    be32_store(h + 23, (uint32_t)(n - 1));
    be64_store(h + 27, (uint64_t)timestamp_ms);
    be64_store(h + 35, (uint64_t)timestamp_ms);
    be64_store(h + 43, (uint64_t)(producer != NULL ? producer->producer_id : -1));
    be16_store(h + 51, (uint16_t)(producer != NULL ? producer->producer_epoch : -1));
    be32_store(h + 53, (uint32_t)(producer != NULL ? producer->base_sequence : -1));
    be32_store(h + 57, (uint32_t)n);
    be32_store(h + 17, crc32c(0, h + 21, total - 21));
    return 0;
}

int group_batch_build(struct buf *out, const struct group_record *records, size_t n,
                      int64_t timestamp_ms)
{
    return batch_build(out, records, n, timestamp_ms, NULL);
}

int group_txn_batch_build(struct buf *out, const struct group_record *records, size_t n,
                          int64_t timestamp_ms, const struct group_batch_producer *producer)
{
    return batch_build(out, records, n, timestamp_ms, producer);
}

static int walk_batch(const uint8_t *p, size_t size, int32_t count,
                      const struct group_batch_visitor *visitor,
                      const struct group_batch_info *info)
{
    struct rd r = {p + RECORD_BATCH_HEADER_SIZE, size - RECORD_BATCH_HEADER_SIZE, false};
    for (int32_t i = 0; i < count; i++) {
        int64_t rec_len, v;
        int n = varint_decode_s64(r.p, r.left, &rec_len);
        if (n <= 0 || rec_len < 0 || (size_t)rec_len > r.left - (size_t)n) {
            return -EINVAL;
        }
        take(&r, (size_t)n);
        struct rd rec = {take(&r, (size_t)rec_len), (size_t)rec_len, false};
        take(&rec, 1);                /* attributes */
        for (int k = 0; k < 2; k++) { /* timestamp delta, offset delta */
            n = varint_decode_s64(rec.p, rec.left, &v);
            if (n <= 0) {
                return -EINVAL;
            }
            take(&rec, (size_t)n);
        }
        struct group_record gr;
        int64_t kl, vl;
        n = varint_decode_s64(rec.p, rec.left, &kl);
        if (n <= 0 || kl < 0) {
            return -EINVAL;
        }
        take(&rec, (size_t)n);
        gr.key = take(&rec, (size_t)kl);
        gr.key_len = (size_t)kl;
        n = varint_decode_s64(rec.p, rec.left, &vl);
        if (n <= 0 || vl < -1 || vl > INT32_MAX) {
            return -EINVAL;
        }
        take(&rec, (size_t)n);
        gr.value = vl < 0 ? NULL : take(&rec, (size_t)vl);
        gr.value_len = (int32_t)vl;
        if (rec.bad || r.bad || gr.key == NULL) {
            return -EINVAL;
        }
        visitor->record(visitor->arg, info, &gr);
    }
    return 0;
}

int group_batches_visit(const uint8_t *p, size_t len, const struct group_batch_visitor *v)
{
    size_t at = 0;
    while (len - at >= RECORD_BATCH_HEADER_SIZE) {
        struct record_batch_header h;
        if (record_batch_parse(p + at, len - at, &h) != 0) {
            return -EINVAL;
        }
        int64_t size = record_batch_size(&h);
        if (size < RECORD_BATCH_HEADER_SIZE || (size_t)size > len - at) {
            break; /* a truncated tail: the next read starts there */
        }
        struct group_batch_info info = {h.base_offset, h.producer_id, h.producer_epoch,
                                        (h.attributes & RECORD_BATCH_ATTR_TRANSACTIONAL) != 0};
        if ((h.attributes & RECORD_BATCH_ATTR_CONTROL) != 0) {
            struct control_marker m;
            int rv = control_batch_read_marker(p + at, (size_t)size, &h, &m);
            if (rv < 0) {
                return -EINVAL;
            }
            if (rv == 0 && v->marker != NULL) {
                v->marker(v->arg, &info, m.type == CONTROL_TYPE_COMMIT);
            }
        } else if (record_batch_compression(&h) == 0 &&
                   walk_batch(p + at, (size_t)size, h.records_count, v, &info) != 0) {
            return -EINVAL;
        }
        at += (size_t)size;
    }
    return 0;
}

struct plain_walk {
    void (*fn)(void *arg, const struct group_record *r);
    void *arg;
};

static void plain_record(void *arg, const struct group_batch_info *b, const struct group_record *r)
{
    (void)b;
    struct plain_walk *w = arg;
    w->fn(w->arg, r);
}

int group_batches_walk(const uint8_t *p, size_t len,
                       void (*fn)(void *arg, const struct group_record *r), void *arg)
{
    struct plain_walk w = {fn, arg};
    struct group_batch_visitor v = {plain_record, NULL, &w};
    return group_batches_visit(p, len, &v);
}
