/* Throttled-replica lists; see throttled_replicas.h. */
#include "common/throttled_replicas.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* Parses a non-negative int32 at *s; advances. -1 if none. */
static int64_t number(const char **s)
{
    int64_t v = -1;
    while (isdigit((unsigned char)**s)) {
        v = (v < 0 ? 0 : v) * 10 + (**s - '0');
        if (v > INT32_MAX) {
            return -1;
        }
        (*s)++;
    }
    return v;
}

static void skip_spaces(const char **s)
{
    while (isspace((unsigned char)**s)) {
        (*s)++;
    }
}

static bool is_wildcard(const char *text)
{
    skip_spaces(&text);
    if (*text != '*') {
        return false;
    }
    text++;
    skip_spaces(&text);
    return *text == '\0';
}

/* Calls back on each pair; returns why the text is malformed, or NULL. */
static const char *walk(const char *text, int32_t partition, int32_t broker, bool *found)
{
    const char *s = text;
    skip_spaces(&s);
    if (*s == '\0' || is_wildcard(s)) {
        *found = *s != '\0';
        return NULL;
    }
    for (;;) {
        skip_spaces(&s);
        int64_t p = number(&s);
        skip_spaces(&s);
        if (p < 0 || *s != ':') {
            return "expected partition:broker pairs separated by commas, or *";
        }
        s++;
        skip_spaces(&s);
        int64_t b = number(&s);
        skip_spaces(&s);
        if (b < 0) {
            return "expected partition:broker pairs separated by commas, or *";
        }
        if (p == partition && b == broker) {
            *found = true;
        }
        if (*s == '\0') {
            return NULL;
        }
        if (*s != ',') {
            return "expected partition:broker pairs separated by commas, or *";
        }
        s++;
    }
}

const char *throttled_replicas_check(const char *text)
{
    bool found = false;
    return text == NULL ? NULL : walk(text, -1, -1, &found);
}

bool throttled_replicas_lists(const char *text, int32_t partition, int32_t broker)
{
    bool found = false;
    return text != NULL && walk(text, partition, broker, &found) == NULL && found;
}
