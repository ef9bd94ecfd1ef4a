/* A small JSON reader for sluicectl's plan files (kafka-reassign-partitions.sh
 * and kafka-leader-election.sh formats): the whole document parsed into a
 * tree of values owned by one `json_doc`. Bounded: documents up to
 * JSON_DOC_MAX_BYTES, nesting up to JSON_DOC_MAX_DEPTH; numbers are integers
 * (the plan files hold nothing else). Not a general JSON library. */
#ifndef SLUICE_TOOLS_SLUICECTL_JSON_VALUE_H
#define SLUICE_TOOLS_SLUICECTL_JSON_VALUE_H

#include <stddef.h>
#include <stdint.h>

#define JSON_DOC_MAX_BYTES (16u << 20)
#define JSON_DOC_MAX_DEPTH 32

enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_type type;
    int64_t integer;          /* JSON_INT; JSON_BOOL: 0 or 1 */
    char *string;             /* JSON_STRING (NUL-terminated; no NULs inside) */
    struct json_value *items; /* JSON_ARRAY: elements; JSON_OBJECT: member values */
    char **keys;              /* JSON_OBJECT: member names, parallel to items */
    size_t count;
};

/* Owns every value and string of one parsed document. */
struct json_doc {
    struct json_value root;
    void **blocks; /* every allocation, freed by json_doc_free */
    size_t n_blocks, cap_blocks;
};

/* Parse `len` bytes of `text` into `doc`. 0, or -1 with `err` naming the
 * byte offset and what was expected; `doc` then holds nothing to free. */
int json_doc_parse(struct json_doc *doc, const char *text, size_t len, char *err, size_t errlen);
/* Read FILE (at most JSON_DOC_MAX_BYTES) and parse it. 0 or -1 with `err`. */
int json_doc_load(struct json_doc *doc, const char *path, char *err, size_t errlen);
void json_doc_free(struct json_doc *doc);

/* Object member `key`, or NULL (also when `v` is not an object). */
const struct json_value *json_get(const struct json_value *v, const char *key);

#endif
