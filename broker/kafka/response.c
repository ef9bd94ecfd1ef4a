/* Encoded responses with spliced file ranges; see response.h. */
#include "broker/kafka/response.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bigendian.h"

void kafka_response_init(struct kafka_response *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->bytes);
}

void kafka_response_free(struct kafka_response *r)
{
    for (size_t i = 0; i < r->n_splices; i++) {
        close(r->splices[i].fd);
    }
    free(r->splices);
    buf_free(&r->bytes);
    memset(r, 0, sizeof *r);
}

int kafka_response_add_splice(struct kafka_response *r, size_t at, int fd, int64_t pos, size_t len)
{
    if (at > r->bytes.len || (r->n_splices > 0 && at < r->splices[r->n_splices - 1].at)) {
        return -EINVAL;
    }
    if (r->n_splices == r->cap_splices) {
        size_t cap = r->cap_splices ? r->cap_splices * 2 : 4;
        struct kafka_response_splice *s = realloc(r->splices, cap * sizeof *s);
        if (s == NULL) {
            return -ENOMEM;
        }
        r->splices = s;
        r->cap_splices = cap;
    }
    r->splices[r->n_splices++] = (struct kafka_response_splice){at, fd, pos, len};
    return 0;
}

size_t kafka_response_wire_size(const struct kafka_response *r)
{
    size_t n = r->bytes.len;
    for (size_t i = 0; i < r->n_splices; i++) {
        n += r->splices[i].len;
    }
    return n;
}

void kafka_response_finish(struct kafka_response *r)
{
    if (r->bytes.len >= 4) {
        be32_store(r->bytes.data, (uint32_t)(kafka_response_wire_size(r) - 4));
    }
}
