/* Kafka's group-to-partition mapping; see group_hash.h. */
#include "broker/group/group_hash.h"

#include <string.h>

/* Decode one UTF-8 sequence at s[*i]; advances *i; U+FFFD if malformed. */
static uint32_t next_code_point(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    size_t need = 9; /* malformed lead byte */
    if (c < 0x80) {
        need = 0;
    } else if ((c & 0xE0) == 0xC0) {
        need = 1;
    } else if ((c & 0xF0) == 0xE0) {
        need = 2;
    } else if ((c & 0xF8) == 0xF0) {
        need = 3;
    }
    if (need == 0) {
        (*i)++;
        return c;
    }
    if (need == 9 || *i + need >= len) {
        (*i)++;
        return 0xFFFD;
    }
    uint32_t cp = c & (0x3F >> need);
    for (size_t k = 1; k <= need; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3F);
    }
    *i += need + 1;
    return cp;
}

int32_t group_java_hash(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t h = 0; /* unsigned: Java's int overflow wraps */
    size_t i = 0;
    while (i < len) {
        uint32_t cp = next_code_point(u, len, &i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xD800 + (cp >> 10));
            h = 31 * h + (0xDC00 + (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
    }
    return (int32_t)h;
}

int32_t group_partition_for(const char *group_id, int32_t partitions)
{
    int32_t h = group_java_hash(group_id, strlen(group_id));
    /* Kafka's Utils.abs: MIN_VALUE maps to 0. */
    int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    return a % partitions;
}
