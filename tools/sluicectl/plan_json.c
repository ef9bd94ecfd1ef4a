/* Plan files read with json-c; see plan_json.h. */
#include "tools/sluicectl/plan_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    while (text != NULL) {
        if (n == cap) {
            if (cap >= PLAN_JSON_MAX_BYTES) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, PLAN_JSON_MAX_BYTES);
                free(text);
                text = NULL;
                break;
            }
            cap *= 2;
            char *more = realloc(text, cap);
            if (more == NULL) {
                free(text);
                text = NULL;
                break;
            }
            text = more;
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                free(text);
                text = NULL;
            }
            break;
        }
    }
    if (text == NULL && err[0] == '\0') {
        snprintf(err, errlen, "%s: out of memory", path);
    }
    fclose(f);
    *len = n;
    return text;
}

struct json_object *plan_json_load(const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (text == NULL) {
        return NULL;
    }
    struct json_object *root = NULL;
    struct json_tokener *tok = json_tokener_new_ex(PLAN_JSON_MAX_DEPTH);
    if (tok == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t at = json_tokener_get_parse_end(tok);
    if (root == NULL || e != json_tokener_success) {
        snprintf(err, errlen, "%s: JSON: %s at byte %zu", path,
                 e == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(e),
                 at);
        json_object_put(root);
        root = NULL;
        goto out;
    }
    /* One value: only white space may follow it. */
    for (; at < len; at++) {
        if (strchr(" \t\r\n", text[at]) == NULL) {
            snprintf(err, errlen, "%s: JSON: bytes after the value at byte %zu", path, at);
            json_object_put(root);
            root = NULL;
            goto out;
        }
    }
out:
    if (tok != NULL) {
        json_tokener_free(tok);
    }
    free(text);
    return root;
}

size_t plan_json_array(struct json_object *obj, const char *key, struct json_object **out)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_array)) {
        return 0;
    }
    *out = v;
    return json_object_array_length(v);
}

const char *plan_json_string(struct json_object *obj, const char *key)
{
    struct json_object *v;
    if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    const char *s = json_object_get_string(v);
    return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

int plan_json_index(struct json_object *v, int32_t *out)
{
    if (json_object_is_type(v, json_type_double)) {
        return -2;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return -1;
    }
    /* json-c saturates what does not fit in 64 bits; both ends are out of
     * range here anyway. */
    int64_t n = json_object_get_int64(v);
    if (n < 0 || n > INT32_MAX) {
        return -2;
    }
    *out = (int32_t)n;
    return 0;
}
