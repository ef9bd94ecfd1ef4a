/* A bounded recursive-descent JSON reader; see json_value.h. */
#include "tools/sluicectl/json_value.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    struct json_doc *doc;
    const char *p, *start, *end;
    char *err;
    size_t errlen;
};

static int fail(struct parser *ps, const char *what)
{
    snprintf(ps->err, ps->errlen, "JSON: %s at byte %zu", what, (size_t)(ps->p - ps->start));
    return -1;
}

/* Allocate `size` bytes owned by the document. */
static void *doc_alloc(struct parser *ps, size_t size)
{
    struct json_doc *d = ps->doc;
    if (d->n_blocks == d->cap_blocks) {
        size_t cap = d->cap_blocks ? d->cap_blocks * 2 : 64;
        void **blocks = realloc(d->blocks, cap * sizeof *blocks);
        if (blocks == NULL) {
            return NULL;
        }
        d->blocks = blocks;
        d->cap_blocks = cap;
    }
    void *mem = calloc(1, size ? size : 1);
    if (mem != NULL) {
        d->blocks[d->n_blocks++] = mem;
    }
    return mem;
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static bool take(struct parser *ps, char c)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static int parse_value(struct parser *ps, struct json_value *out, int depth);

static int put_utf8(char *out, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xC0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xE0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
    return 0;
}

/* A string literal (ps->p at the opening quote). Escapes are decoded; \u
 * outside the BMP and \u0000 are refused (plan files never need them). */
static int parse_string(struct parser *ps, char **out)
{
    ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"') {
        q += *q == '\\' ? 2 : 1;
    }
    if (q >= ps->end) {
        return fail(ps, "unterminated string");
    }
    /* Decoded text is never longer than the literal. */
    char *s = doc_alloc(ps, (size_t)(q - ps->p) + 1);
    if (s == NULL) {
        return fail(ps, "out of memory");
    }
    size_t n = 0;
    while (ps->p < q) {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) {
            return fail(ps, "control character in string");
        }
        if (c != '\\') {
            s[n++] = c;
            continue;
        }
        char e = *ps->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple != NULL) {
            s[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
        } else if (e == 'u' && q - ps->p >= 4) {
            char hex[5] = {ps->p[0], ps->p[1], ps->p[2], ps->p[3], 0};
            char *hend;
            unsigned long cp = strtoul(hex, &hend, 16);
            if (hend != hex + 4 || cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return fail(ps, "unsupported \\u escape");
            }
            ps->p += 4;
            put_utf8(s, &n, (unsigned)cp);
        } else {
            return fail(ps, "bad escape in string");
        }
    }
    s[n] = '\0';
    ps->p = q + 1;
    *out = s;
    return 0;
}

static int parse_number(struct parser *ps, struct json_value *out)
{
    char buf[32];
    size_t n = 0;
    while (ps->p < ps->end && n + 1 < sizeof buf &&
           (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))) {
        buf[n++] = *ps->p++;
    }
    buf[n] = '\0';
    if (ps->p < ps->end && strchr(".eE0123456789", *ps->p) != NULL) {
        return fail(ps, "only integers are supported");
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (n == 0 || *end != '\0' || errno != 0) {
        return fail(ps, "bad number");
    }
    out->type = JSON_INT;
    out->integer = v;
    return 0;
}

/* Elements of an array or members of an object, grown by doubling. */
struct growing {
    struct json_value *items;
    char **keys;
    size_t count, cap;
};

static int grow(struct parser *ps, struct growing *g, bool with_keys)
{
    if (g->count < g->cap) {
        return 0;
    }
    size_t cap = g->cap ? g->cap * 2 : 8;
    struct json_value *items = doc_alloc(ps, cap * sizeof *items);
    char **keys = with_keys ? doc_alloc(ps, cap * sizeof *keys) : NULL;
    if (items == NULL || (with_keys && keys == NULL)) {
        return fail(ps, "out of memory");
    }
    if (g->count > 0) {
        memcpy(items, g->items, g->count * sizeof *items);
        if (with_keys) {
            memcpy(keys, g->keys, g->count * sizeof *keys);
        }
    }
    g->items = items;
    g->keys = keys;
    g->cap = cap;
    return 0;
}

static int parse_container(struct parser *ps, struct json_value *out, int depth, bool object)
{
    if (depth >= JSON_DOC_MAX_DEPTH) {
        return fail(ps, "nested too deeply");
    }
    ps->p++;
    struct growing g = {0};
    char close = object ? '}' : ']';
    if (!take(ps, close)) {
        do {
            if (grow(ps, &g, object) != 0) {
                return -1;
            }
            if (object) {
                skip_space(ps);
                if (ps->p >= ps->end || *ps->p != '"') {
                    return fail(ps, "expected a member name");
                }
                if (parse_string(ps, &g.keys[g.count]) != 0) {
                    return -1;
                }
                if (!take(ps, ':')) {
                    return fail(ps, "expected ':'");
                }
            }
            if (parse_value(ps, &g.items[g.count], depth + 1) != 0) {
                return -1;
            }
            g.count++;
        } while (take(ps, ','));
        if (!take(ps, close)) {
            return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    out->type = object ? JSON_OBJECT : JSON_ARRAY;
    out->items = g.items;
    out->keys = g.keys;
    out->count = g.count;
    return 0;
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static int parse_value(struct parser *ps, struct json_value *out, int depth)
{
    memset(out, 0, sizeof *out);
    skip_space(ps);
    if (ps->p >= ps->end) {
        return fail(ps, "unexpected end");
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        return parse_container(ps, out, depth, c == '{');
    }
    if (c == '"') {
        out->type = JSON_STRING;
        return parse_string(ps, &out->string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        return parse_number(ps, out);
    }
    if (literal(ps, "true") || literal(ps, "false")) {
        out->type = JSON_BOOL;
        out->integer = ps->p[-1] == 'e' && ps->p[-2] == 'u';
        return 0;
    }
    if (literal(ps, "null")) {
        out->type = JSON_NULL;
        return 0;
    }
    return fail(ps, "expected a value");
}

int json_doc_parse(struct json_doc *doc, const char *text, size_t len, char *err, size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    struct parser ps = {doc, text, text, text + len, err, errlen};
    if (len > JSON_DOC_MAX_BYTES) {
        snprintf(err, errlen, "JSON: document larger than %u bytes", JSON_DOC_MAX_BYTES);
        return -1;
    }
    int rv = parse_value(&ps, &doc->root, 0);
    if (rv == 0) {
        skip_space(&ps);
        if (ps.p != ps.end) {
            rv = fail(&ps, "trailing text after the document");
        }
    }
    if (rv != 0) {
        json_doc_free(doc);
    }
    return rv;
}

int json_doc_load(struct json_doc *doc, const char *path, char *err, size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(JSON_DOC_MAX_BYTES + 1);
    size_t n = text != NULL ? fread(text, 1, JSON_DOC_MAX_BYTES + 1, f) : 0;
    bool bad = text == NULL || ferror(f);
    fclose(f);
    int rv = -1;
    if (bad) {
        snprintf(err, errlen, "%s: cannot read", path);
    } else if (n > JSON_DOC_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, JSON_DOC_MAX_BYTES);
    } else {
        char inner[256];
        rv = json_doc_parse(doc, text, n, inner, sizeof inner);
        if (rv != 0) {
            snprintf(err, errlen, "%s: %s", path, inner);
        }
    }
    free(text);
    return rv;
}

void json_doc_free(struct json_doc *doc)
{
    for (size_t i = 0; i < doc->n_blocks; i++) {
        free(doc->blocks[i]);
    }
    free(doc->blocks);
    memset(doc, 0, sizeof *doc);
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
    if (v == NULL || v->type != JSON_OBJECT) {
        return NULL;
    }
    for (size_t i = 0; i < v->count; i++) {
        if (strcmp(v->keys[i], key) == 0) {
            return &v->items[i];
        }
    }
    return NULL;
}
