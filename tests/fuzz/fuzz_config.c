/* Fuzz target: the .properties parser (common/properties.c) and the config
 * setters (common/config.c) fed by it, i.e. server.properties, --override and
 * topic configs from CreateTopics / AlterConfigs.
 * Invariants: a parse that succeeds yields keys and values that, written back
 * out with every special character escaped, parse to the same list (so no
 * escape produces something the parser cannot represent, e.g. a NUL); a
 * parse that fails says why. Every entry is then set as a broker key and as a
 * topic key; a value that is accepted is formatted back (config_format) and
 * that text must be accepted again and format identically (the value Kafka
 * clients see in DescribeConfigs can be set back). Cross-key validation
 * must not crash whatever the values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/properties.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(struct buf *b, const char *s, size_t n)
{
    if (buf_append(b, s, n) != 0)
        abort();
}

/* Escape `s` so the parser reads it back verbatim. */
static void put_escaped(struct buf *b, const char *s, int is_key)
{
    for (size_t i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        if (c == '\n') {
            put(b, "\\n", 2);
        } else if (c == '\r') {
            put(b, "\\r", 2);
        } else if (c == '\t') {
            put(b, "\\t", 2);
        } else if (c == '\f') {
            put(b, "\\f", 2);
        } else if (c == '\\' || (is_key && (c == '=' || c == ':' || c == ' ')) ||
                   (i == 0 && (c == ' ' || c == '#' || c == '!'))) {
            put(b, "\\", 1);
            put(b, &c, 1);
        } else {
            put(b, &c, 1);
        }
    }
}

static void check_roundtrip(const struct properties *props)
{
    struct buf text = BUF_INIT;
    struct properties again;
    char err[256];
    for (size_t i = 0; i < props->count; i++) {
        put_escaped(&text, props->items[i].key, 1);
        put(&text, "=", 1);
        put_escaped(&text, props->items[i].value, 0);
        put(&text, "\n", 1);
    }
    const char *t = text.data != NULL ? (const char *)text.data : "";
    if (properties_parse(t, text.len, &again, err, sizeof err) != 0)
        abort();
    size_t j = 0;
    for (size_t i = 0; i < props->count; i++) {
        if (j >= again.count || strcmp(again.items[j].key, props->items[i].key) != 0 ||
            strcmp(again.items[j].value, props->items[i].value) != 0)
            abort();
        j++;
    }
    if (j != again.count)
        abort();
    properties_free(&again);
    buf_free(&text);
}

static const struct config_def *def_named(const struct config_def *defs, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(defs[i].name, k) == 0)
            return &defs[i];
    }
    return NULL;
}

/* After a successful set of `def`, its formatted value must set back identically. */
static void check_format(const struct config_def *def, void *base, size_t cap,
                         int (*set)(void *, const char *, const char *, char *, size_t))
{
    char *first = malloc(cap), *second = malloc(cap), err[512];
    if (first == NULL || second == NULL)
        abort();
    const char *f = config_format(def, base, first, cap);
    if (f != NULL) {
        if (set(base, def->name, f, err, sizeof err) != 0)
            abort();
        const char *s = config_format(def, base, second, cap);
        if (s == NULL || strcmp(f, s) != 0)
            abort();
    }
    free(first);
    free(second);
}

static int set_broker(void *base, const char *k, const char *v, char *err, size_t errlen)
{
    return sluice_config_set(base, k, v, err, errlen);
}

static int set_topic(void *base, const char *k, const char *v, char *err, size_t errlen)
{
    return topic_config_set(base, k, v, err, errlen);
}

static void apply_all(const struct properties *props)
{
    struct sluice_config cfg;
    struct topic_config tc;
    size_t nb, nt;
    const struct config_def *bdefs = broker_config_defs(&nb), *tdefs = topic_config_defs(&nt);
    char err[512];
    if (sluice_config_init(&cfg) != 0)
        abort();
    for (size_t i = 0; i < props->count; i++) {
        const struct property *p = &props->items[i];
        size_t cap = strlen(p->value) + 64;
        const struct config_def *d = def_named(bdefs, nb, p->key);
        err[0] = '\0';
        int rv = sluice_config_set(&cfg, p->key, p->value, err, sizeof err);
        if (rv == 0 && d != NULL)
            check_format(d, &cfg, cap, set_broker);
        else if (rv < 0 && err[0] == '\0')
            abort();
    }
    (void)sluice_config_validate(&cfg, err, sizeof err);
    if (topic_config_init(&tc, &cfg) != 0)
        abort();
    for (size_t i = 0; i < props->count; i++) {
        const struct property *p = &props->items[i];
        const struct config_def *d = def_named(tdefs, nt, p->key);
        err[0] = '\0';
        if (topic_config_set(&tc, p->key, p->value, err, sizeof err) == 0 && d != NULL)
            check_format(d, &tc, strlen(p->value) + 64, set_topic);
    }
    topic_config_free(&tc);
    sluice_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct properties props;
    char err[256] = "";
    if (properties_parse((const char *)data, size, &props, err, sizeof err) != 0) {
        if (err[0] == '\0' || props.count != 0)
            abort();
        return 0;
    }
    check_roundtrip(&props);
    apply_all(&props);
    properties_free(&props);
    return 0;
}
