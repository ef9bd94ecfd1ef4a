#include "common/properties.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* Largest file we accept; server.properties is a few KiB. */
#define PROPERTIES_MAX_FILE (4u << 20)

struct cursor {
    const char *p, *end;
    int line;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

static int is_eol(char c)
{
    return c == '\n' || c == '\r';
}

static void skip_eol(struct cursor *c)
{
    if (c->p < c->end && *c->p == '\r') {
        c->p++;
    }
    if (c->p < c->end && *c->p == '\n') {
        c->p++;
    }
    c->line++;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Read one escape after a backslash into `out`. Returns 0, or -EINVAL. */
static int read_escape(struct cursor *c, struct buf *out)
{
    if (c->p >= c->end) {
        return 0; /* trailing backslash at end of file: ignored */
    }
    char e = *c->p;
    if (is_eol(e)) { /* continuation: skip the newline and leading blanks */
        skip_eol(c);
        while (c->p < c->end && is_blank(*c->p)) {
            c->p++;
        }
        return 0;
    }
    c->p++;
    switch (e) {
    case 't':
        return buf_append_u8(out, '\t');
    case 'n':
        return buf_append_u8(out, '\n');
    case 'r':
        return buf_append_u8(out, '\r');
    case 'f':
        return buf_append_u8(out, '\f');
    case 'u': {
        int code = 0;
        for (int i = 0; i < 4; i++) {
            int h = c->p < c->end ? hex_value(*c->p) : -1;
            if (h < 0) {
                return -EINVAL;
            }
            code = code * 16 + h;
            c->p++;
        }
        /* Only ASCII is meaningful in our keys and values, and \u0000 would
         * cut the C string short: "a=x\u0000y" must not silently mean "x". */
        if (code == 0 || code > 0x7f) {
            return -EINVAL;
        }
        return buf_append_u8(out, (uint8_t)code);
    }
    default:
        return buf_append_u8(out, (uint8_t)e);
    }
}

/* Read a key (stops at unescaped separator or blank) or a value (to end of line). */
static int read_token(struct cursor *c, struct buf *out, int is_key)
{
    while (c->p < c->end && !is_eol(*c->p)) {
        char ch = *c->p;
        if (is_key && (ch == '=' || ch == ':' || is_blank(ch))) {
            break;
        }
        c->p++;
        int rv = ch == '\\' ? read_escape(c, out) : buf_append_u8(out, (uint8_t)ch);
        if (rv != 0) {
            return rv;
        }
    }
    return buf_append_u8(out, 0);
}

static int add_property(struct properties *props, struct buf *key, struct buf *value, int line)
{
    struct property *items = realloc(props->items, (props->count + 1) * sizeof *items);
    if (items == NULL) {
        return -ENOMEM;
    }
    props->items = items;
    /* Trailing blanks are part of a Java value, but nobody means them. */
    while (value->len > 1 && is_blank((char)value->data[value->len - 2])) {
        value->data[--value->len - 1] = 0;
    }
    items[props->count].key = (char *)buf_steal(key, NULL);
    items[props->count].value = (char *)buf_steal(value, NULL);
    items[props->count].line = line;
    props->count++;
    return 0;
}

static int parse_entry(struct cursor *c, struct properties *props)
{
    struct buf key = BUF_INIT, value = BUF_INIT;
    int line = c->line;
    int rv = read_token(c, &key, 1);
    if (rv == 0) {
        while (c->p < c->end && is_blank(*c->p)) {
            c->p++;
        }
        if (c->p < c->end && (*c->p == '=' || *c->p == ':')) {
            c->p++;
        }
        while (c->p < c->end && is_blank(*c->p)) {
            c->p++;
        }
        rv = read_token(c, &value, 0);
    }
    if (rv == 0) {
        rv = add_property(props, &key, &value, line);
    }
    buf_free(&key);
    buf_free(&value);
    return rv;
}

int properties_parse(const char *text, size_t len, struct properties *out, char *err, size_t errlen)
{
    struct cursor c = {text, text + len, 1};
    out->items = NULL;
    out->count = 0;
    while (c.p < c.end) {
        while (c.p < c.end && is_blank(*c.p)) {
            c.p++;
        }
        if (c.p >= c.end) {
            break;
        }
        if (*c.p == '#' || *c.p == '!') {
            while (c.p < c.end && !is_eol(*c.p)) {
                c.p++;
            }
        } else if (!is_eol(*c.p)) {
            if (memchr(c.p, 0, (size_t)(c.end - c.p)) != NULL) {
                snprintf(err, errlen, "line %d: NUL byte in properties text", c.line);
                properties_free(out);
                return -EINVAL;
            }
            int rv = parse_entry(&c, out);
            if (rv != 0) {
                snprintf(err, errlen, "line %d: %s", c.line,
                         rv == -ENOMEM ? "out of memory" : "bad escape sequence");
                properties_free(out);
                return rv;
            }
        }
        if (c.p < c.end) {
            skip_eol(&c);
        }
    }
    return 0;
}

int properties_load_file(const char *path, struct properties *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    struct buf text = BUF_INIT;
    char chunk[8192];
    size_t n;
    int rv = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > PROPERTIES_MAX_FILE) {
            snprintf(err, errlen, "%s: larger than %u bytes", path, PROPERTIES_MAX_FILE);
            rv = -EFBIG;
            break;
        }
        if (buf_append(&text, chunk, n) != 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            rv = -ENOMEM;
            break;
        }
    }
    if (rv == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read %s", path);
        rv = -EIO;
    }
    fclose(f);
    if (rv == 0) {
        char inner[256];
        rv = properties_parse((const char *)text.data, text.len, out, inner, sizeof inner);
        if (rv != 0) {
            snprintf(err, errlen, "%s: %s", path, inner);
        }
    }
    buf_free(&text);
    return rv;
}

void properties_free(struct properties *props)
{
    for (size_t i = 0; i < props->count; i++) {
        free(props->items[i].key);
        free(props->items[i].value);
    }
    free(props->items);
    props->items = NULL;
    props->count = 0;
}
