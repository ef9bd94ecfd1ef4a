/* sluicectl's plan files (kafka-reassign-partitions.sh and
 * kafka-leader-election.sh formats), parsed with json-c, and the few typed
 * lookups the commands need, each answering with an error that names the
 * file and the entry. Bounded: files up to PLAN_JSON_MAX_BYTES, nesting up
 * to PLAN_JSON_MAX_DEPTH; the whole file must be one JSON value. */
#ifndef SLUICE_TOOLS_SLUICECTL_PLAN_JSON_H
#define SLUICE_TOOLS_SLUICECTL_PLAN_JSON_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define PLAN_JSON_MAX_BYTES (16u << 20)
#define PLAN_JSON_MAX_DEPTH 32

/* Read FILE and parse it: the root value (release it with json_object_put),
 * or NULL with `err` saying why (the byte offset of a syntax error). */
struct json_object *plan_json_load(const char *path, char *err, size_t errlen);

/* Member `key` of `obj` if `obj` is an object and the member an array of at
 * least one element: its length, else 0. */
size_t plan_json_array(struct json_object *obj, const char *key, struct json_object **out);

/* Member `key` of `obj` as a string without NUL bytes inside, else NULL.
 * Borrowed from the document. */
const char *plan_json_string(struct json_object *obj, const char *key);

/* `v` (an element or a member) as an integer in [0, INT32_MAX]: 0 and *out,
 * -1 if it is missing or another type, -2 if it is a number but not such an
 * integer (a fraction, an exponent, out of range). */
int plan_json_index(struct json_object *v, int32_t *out);

#endif
