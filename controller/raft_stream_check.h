/* Follows what a raft peer sends, as raft 0.15's uv transport frames it, and
 * checks the one id a message body carries: RequestVote's candidate_id.
 *
 * Why: raft_uv_tcp takes the sender of every message from the connection's
 * handshake, but electionVote records args->candidate_id as the vote
 * (set_vote) while the answer goes to the handshake's id. A voter naming
 * another voter as candidate would collect a vote the voter believes it gave
 * someone else, who could then be granted the same vote again: two leaders
 * in one term. The TLS relay (raft_tls.h) proves who sent the handshake;
 * this makes the bodies agree with it.
 *
 * The stream, all integers little-endian (raft src/uv_tcp_connect.c,
 * src/uv_encoding.c, src/uv_recv.c):
 *   handshake  protocol u64, server id u64, address length u64, address
 *   message    type u64, header length u64, header, payload
 * The payload is what the header announces: AppendEntries the sum of its
 * entries' sizes (header: term, prev index, prev term, commit, entry count
 * u64, then 16 bytes per entry ending with its size u32); InstallSnapshot the
 * data length u64 after its configuration (header: term, last index, last
 * term, configuration index, configuration length u64, configuration, data
 * length); other messages none. RequestVote's header: term, candidate_id, ...
 *
 * Bytes may be fed in any chunks; nothing is buffered beyond a few integers,
 * so payloads (snapshots) pass at no cost. Pure: no I/O, no allocation. */
#ifndef SLUICE_CONTROLLER_RAFT_STREAM_CHECK_H
#define SLUICE_CONTROLLER_RAFT_STREAM_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* raft 0.15's message types (enum raft_io_type in raft.h). */
#define RAFT_STREAM_APPEND_ENTRIES   1
#define RAFT_STREAM_REQUEST_VOTE     3
#define RAFT_STREAM_INSTALL_SNAPSHOT 5

enum raft_stream_verdict {
    RAFT_STREAM_OK = 0,
    RAFT_STREAM_FORGED = -1,    /* an id other than the peer's: see `claimed` */
    RAFT_STREAM_MALFORMED = -2, /* a header too short for what it announces */
};

struct raft_stream_check {
    uint64_t peer;    /* the id the peer's certificate proves */
    uint64_t claimed; /* after RAFT_STREAM_FORGED: the id the stream named */
    uint64_t type;    /* of the message being read (0: the handshake) */
    int stage;
    uint64_t pos;                     /* bytes read of the current stage */
    uint64_t length;                  /* of the current stage (header, address, payload) */
    uint64_t payload;                 /* the current message's payload, as its header says */
    uint64_t entries;                 /* AppendEntries: entries announced */
    uint64_t conf_len;                /* InstallSnapshot: configuration length */
    uint8_t fixed[24];                /* the handshake's or a message's fixed part */
    uint8_t field[8];                 /* the header field being read */
    uint64_t delivered;               /* messages whose header was checked */
    enum raft_stream_verdict verdict; /* once not OK, the answer to every feed */
};

/* Expect a stream from the voter `peer`, starting with its handshake. */
void raft_stream_check_init(struct raft_stream_check *c, uint64_t peer);

/* Follow `len` more bytes. RAFT_STREAM_OK, or a verdict that sticks: the
 * caller drops the connection before passing on any byte of this chunk. */
enum raft_stream_verdict raft_stream_check_feed(struct raft_stream_check *c, const uint8_t *data,
                                                size_t len);

#endif
