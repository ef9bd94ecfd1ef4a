/* Java-style .properties files, as Kafka's server.properties uses.
 *
 * Supported: `key=value`, `key: value`, `key value`; `#` and `!` comments;
 * blank lines; backslash line continuation; \t \n \r \f \\ \uXXXX (ASCII) escapes.
 * Keys and values are copied; properties_free releases them. */
#ifndef SLUICE_COMMON_PROPERTIES_H
#define SLUICE_COMMON_PROPERTIES_H

#include <stddef.h>

struct property {
    char *key;
    char *value;
    int line; /* 1-based line the entry starts on, for error messages */
};

struct properties {
    struct property *items;
    size_t count;
};

/* Parse `len` bytes of text. On error returns -EINVAL (or -ENOMEM) with a
 * message in `err` naming the line; `out` is left empty. */
int properties_parse(const char *text, size_t len, struct properties *out, char *err,
                     size_t errlen);
/* Read and parse a file; errors name the path. */
int properties_load_file(const char *path, struct properties *out, char *err, size_t errlen);
void properties_free(struct properties *props);

#endif
