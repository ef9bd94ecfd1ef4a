/* raft 0.15's stream, followed to check RequestVote's candidate_id; see
 * raft_stream_check.h. */
#include "controller/raft_stream_check.h"

#include <stdbool.h>
#include <string.h>

enum stage {
    STAGE_HANDSHAKE, /* protocol, server id, address length: 24 bytes */
    STAGE_ADDRESS,   /* skipped */
    STAGE_PREAMBLE,  /* type, header length: 16 bytes */
    STAGE_HEADER,
    STAGE_PAYLOAD, /* skipped */
};

#define HANDSHAKE_SIZE 24
#define PREAMBLE_SIZE  16
/* Header offsets (raft src/uv_encoding.c). */
#define VOTE_CANDIDATE_OFFSET 8
#define COUNT_OFFSET          32 /* AppendEntries' entry count, InstallSnapshot's conf length */
#define ENTRIES_OFFSET        40 /* AppendEntries: 16 bytes per entry from here */
#define ENTRY_SIZE_OFFSET     12 /* within an entry: its data size, u32 */
#define SNAPSHOT_CONF_OFFSET  40 /* InstallSnapshot: the configuration, then the data length */

static uint64_t little_endian(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

void raft_stream_check_init(struct raft_stream_check *c, uint64_t peer)
{
    memset(c, 0, sizeof *c);
    c->peer = peer;
    c->stage = STAGE_HANDSHAKE;
    c->length = HANDSHAKE_SIZE;
}

static void enter(struct raft_stream_check *c, enum stage stage, uint64_t length)
{
    c->stage = stage;
    c->pos = 0;
    c->length = length;
}

/* Byte `b` at header offset `pos`: collect the `width`-byte field at `off`;
 * true once it is whole, with its value in *value. */
static bool collect(struct raft_stream_check *c, uint64_t pos, uint64_t off, unsigned width,
                    uint8_t b, uint64_t *value)
{
    if (pos < off || pos - off >= width) {
        return false;
    }
    c->field[pos - off] = b;
    if (pos - off != width - 1) {
        return false;
    }
    *value = little_endian(c->field, width);
    return true;
}

static enum raft_stream_verdict append_entries_byte(struct raft_stream_check *c, uint64_t pos,
                                                    uint8_t b)
{
    uint64_t v;
    if (collect(c, pos, COUNT_OFFSET, 8, b, &v)) {
        if (c->length < ENTRIES_OFFSET || v > (c->length - ENTRIES_OFFSET) / 16) {
            return RAFT_STREAM_MALFORMED; /* raft would read past the header */
        }
        c->entries = v;
        return RAFT_STREAM_OK;
    }
    if (pos < ENTRIES_OFFSET || (pos - ENTRIES_OFFSET) / 16 >= c->entries) {
        return RAFT_STREAM_OK;
    }
    uint64_t entry = ENTRIES_OFFSET + (pos - ENTRIES_OFFSET) / 16 * 16;
    if (collect(c, pos, entry + ENTRY_SIZE_OFFSET, 4, b, &v)) {
        if (c->payload > UINT64_MAX - v) {
            return RAFT_STREAM_MALFORMED;
        }
        c->payload += v;
    }
    return RAFT_STREAM_OK;
}

static enum raft_stream_verdict install_snapshot_byte(struct raft_stream_check *c, uint64_t pos,
                                                      uint8_t b)
{
    uint64_t v;
    if (collect(c, pos, COUNT_OFFSET, 8, b, &v)) {
        if (c->length < SNAPSHOT_CONF_OFFSET + 8 || v > c->length - SNAPSHOT_CONF_OFFSET - 8) {
            return RAFT_STREAM_MALFORMED;
        }
        c->conf_len = v;
    } else if (pos >= SNAPSHOT_CONF_OFFSET &&
               collect(c, pos, SNAPSHOT_CONF_OFFSET + c->conf_len, 8, b, &v)) {
        c->payload = v;
    }
    return RAFT_STREAM_OK;
}

static enum raft_stream_verdict header_byte(struct raft_stream_check *c, uint8_t b)
{
    uint64_t pos = c->pos++;
    uint64_t v;
    switch (c->type) {
    case RAFT_STREAM_REQUEST_VOTE:
        if (collect(c, pos, VOTE_CANDIDATE_OFFSET, 8, b, &v) && v != c->peer) {
            c->claimed = v;
            return RAFT_STREAM_FORGED;
        }
        return RAFT_STREAM_OK;
    case RAFT_STREAM_APPEND_ENTRIES:
        return append_entries_byte(c, pos, b);
    case RAFT_STREAM_INSTALL_SNAPSHOT:
        return install_snapshot_byte(c, pos, b);
    default:
        return RAFT_STREAM_OK;
    }
}

/* The handshake or a preamble is whole in c->fixed. */
static enum raft_stream_verdict fixed_done(struct raft_stream_check *c)
{
    if (c->stage == STAGE_HANDSHAKE) {
        c->claimed = little_endian(c->fixed + 8, 8);
        if (c->claimed != c->peer) {
            return RAFT_STREAM_FORGED;
        }
        uint64_t address = little_endian(c->fixed + 16, 8);
        enter(c, address > 0 ? STAGE_ADDRESS : STAGE_PREAMBLE,
              address > 0 ? address : PREAMBLE_SIZE);
        return RAFT_STREAM_OK;
    }
    c->type = little_endian(c->fixed, 8);
    uint64_t header = little_endian(c->fixed + 8, 8);
    if (header == 0) {
        return RAFT_STREAM_MALFORMED; /* raft aborts such a stream too */
    }
    c->payload = c->entries = c->conf_len = 0;
    enter(c, STAGE_HEADER, header);
    return RAFT_STREAM_OK;
}

/* The header is read: is it long enough for what raft will decode? */
static enum raft_stream_verdict header_done(struct raft_stream_check *c)
{
    if (c->type == RAFT_STREAM_REQUEST_VOTE && c->length < VOTE_CANDIDATE_OFFSET + 8) {
        return RAFT_STREAM_MALFORMED;
    }
    if ((c->type == RAFT_STREAM_APPEND_ENTRIES && c->length < ENTRIES_OFFSET) ||
        (c->type == RAFT_STREAM_INSTALL_SNAPSHOT && c->length < SNAPSHOT_CONF_OFFSET + 8)) {
        return RAFT_STREAM_MALFORMED;
    }
    c->delivered++;
    enter(c, c->payload > 0 ? STAGE_PAYLOAD : STAGE_PREAMBLE,
          c->payload > 0 ? c->payload : PREAMBLE_SIZE);
    return RAFT_STREAM_OK;
}

enum raft_stream_verdict raft_stream_check_feed(struct raft_stream_check *c, const uint8_t *data,
                                                size_t len)
{
    enum raft_stream_verdict v = c->verdict;
    while (len > 0 && v == RAFT_STREAM_OK) {
        size_t n = 1;
        if (c->stage == STAGE_HANDSHAKE || c->stage == STAGE_PREAMBLE) {
            n = c->length - c->pos < len ? (size_t)(c->length - c->pos) : len;
            memcpy(c->fixed + c->pos, data, n);
            c->pos += n;
            if (c->pos == c->length) {
                v = fixed_done(c);
            }
        } else if (c->stage == STAGE_HEADER) {
            v = header_byte(c, data[0]);
            if (v == RAFT_STREAM_OK && c->pos == c->length) {
                v = header_done(c);
            }
        } else { /* STAGE_ADDRESS, STAGE_PAYLOAD: passed through unread */
            n = c->length - c->pos < len ? (size_t)(c->length - c->pos) : len;
            c->pos += n;
            if (c->pos == c->length) {
                enter(c, STAGE_PREAMBLE, PREAMBLE_SIZE);
            }
        }
        data += n;
        len -= n;
    }
    c->verdict = v;
    return v;
}
