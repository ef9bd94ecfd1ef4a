/* Fuzz target: raft 0.15 streams followed by controller/raft_stream_check.c,
 * as the raft TLS relay feeds it what an inbound voter sends. The first input
 * byte picks a split point, the rest is the stream from voter 2.
 * Invariants: the verdict and the count of checked messages do not depend on
 * how the bytes are split (whole, at the split point, byte by byte); a verdict
 * other than OK sticks; FORGED names an id other than the peer's. */
#include <stdint.h>
#include <stdlib.h>

#include "controller/raft_stream_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PEER 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t split = data[0];
    data++;
    size--;
    split = split < size ? split : size;
    struct raft_stream_check whole, halves, bytes;
    raft_stream_check_init(&whole, PEER);
    raft_stream_check_init(&halves, PEER);
    raft_stream_check_init(&bytes, PEER);
    enum raft_stream_verdict w = raft_stream_check_feed(&whole, data, size);
    enum raft_stream_verdict h = raft_stream_check_feed(&halves, data, split);
    if (h == RAFT_STREAM_OK) {
        h = raft_stream_check_feed(&halves, data + split, size - split);
    }
    enum raft_stream_verdict b = RAFT_STREAM_OK;
    for (size_t i = 0; i < size && b == RAFT_STREAM_OK; i++) {
        b = raft_stream_check_feed(&bytes, data + i, 1);
    }
    if (w != h || w != b || whole.delivered != halves.delivered ||
        whole.delivered != bytes.delivered) {
        abort();
    }
    if (w == RAFT_STREAM_FORGED && whole.claimed == PEER) {
        abort();
    }
    if (w != RAFT_STREAM_OK && size > 0 && raft_stream_check_feed(&whole, data, 1) != w) {
        abort();
    }
    return 0;
}
