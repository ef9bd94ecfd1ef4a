/* An encoded Kafka response on its way to the socket: in-memory bytes with
 * file ranges spliced in at given positions, so Fetch record data can go from
 * the segment files to the socket with sendfile and never pass through user
 * space.
 *
 *   bytes[0 .. s0.at) · file range s0 · bytes[s0.at .. s1.at) · file range s1 · ...
 *
 * The first four bytes of `bytes` are the frame size, patched by
 * kafka_response_finish to cover the spliced ranges too. A response owns its
 * buffer and the file descriptors of its splices (dup'd by whoever adds them,
 * so a segment deleted by retention meanwhile stays readable). */
#ifndef SLUICE_BROKER_KAFKA_RESPONSE_H
#define SLUICE_BROKER_KAFKA_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct kafka_response_splice {
    size_t at;   /* position in `bytes` where the range goes */
    int fd;      /* owned */
    int64_t pos; /* in the file */
    size_t len;
};

struct kafka_response {
    struct buf bytes;
    struct kafka_response_splice *splices;
    size_t n_splices, cap_splices;
};

void kafka_response_init(struct kafka_response *r);
/* Close the splice descriptors and free the buffer. */
void kafka_response_free(struct kafka_response *r);
/* Splice `len` bytes of `fd` from `pos` at position `at` of `bytes` (at or
 * after the previous splice's position). Ownership of `fd` is transferred on
 * success; on -ENOMEM or -EINVAL the caller keeps it. */
int kafka_response_add_splice(struct kafka_response *r, size_t at, int fd, int64_t pos, size_t len);
/* Bytes the response will put on the wire, splices included. */
size_t kafka_response_wire_size(const struct kafka_response *r);
/* Patch the leading int32 frame size (wire size minus the four bytes). */
void kafka_response_finish(struct kafka_response *r);

#endif
