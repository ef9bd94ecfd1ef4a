/* ssl.principal.mapping.rules; see ssl_principal.h. */
#include "common/ssl_principal.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 32

struct rule {
    bool is_default;
    regex_t pattern;
    char *replacement;
    char casing; /* 0, 'L' or 'U' */
};

struct ssl_principal_rules {
    struct rule rules[MAX_RULES];
    size_t n;
};

void ssl_principal_rules_free(struct ssl_principal_rules *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (!r->rules[i].is_default) {
            regfree(&r->rules[i].pattern);
            free(r->rules[i].replacement);
        }
    }
    free(r);
}

/* Copy up to the next unescaped '/', unescaping "\/"; NULL if there is none. */
static char *until_slash(const char **p)
{
    size_t cap = strlen(*p) + 1, n = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    for (const char *s = *p; *s != '\0'; s++) {
        if (*s == '\\' && s[1] == '/') {
            out[n++] = '/';
            s++;
        } else if (*s == '/') {
            out[n] = '\0';
            *p = s + 1;
            return out;
        } else {
            out[n++] = *s;
        }
    }
    free(out);
    return NULL;
}

/* Java's lazy quantifiers have no POSIX form: read them as greedy. */
static void drop_lazy(char *re)
{
    char *w = re;
    for (const char *r = re; *r != '\0'; r++) {
        if (*r == '?' && r > re && (r[-1] == '*' || r[-1] == '+' || r[-1] == '?') &&
            !(r - 1 > re && r[-2] == '\\')) {
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

static int parse_rule(struct ssl_principal_rules *r, const char **p, char *err, size_t errlen)
{
    const char *start = *p;
    struct rule *rule = &r->rules[r->n];
    if (strncmp(*p, "DEFAULT", 7) == 0) {
        rule->is_default = true;
        *p += 7;
    } else if (strncmp(*p, "RULE:", 5) == 0) {
        *p += 5;
        char *pattern = until_slash(p);
        char *replacement = pattern ? until_slash(p) : NULL;
        if (replacement == NULL) {
            free(pattern);
            snprintf(err, errlen, "ssl.principal.mapping.rules: '%.40s' is not RULE:pattern/name/",
                     start);
            return -EINVAL;
        }
        drop_lazy(pattern);
        int rc = regcomp(&rule->pattern, pattern, REG_EXTENDED);
        if (rc != 0) {
            char why[128];
            regerror(rc, &rule->pattern, why, sizeof why);
            snprintf(err, errlen, "ssl.principal.mapping.rules: bad pattern '%s': %s", pattern,
                     why);
            free(pattern);
            free(replacement);
            return -EINVAL;
        }
        free(pattern);
        rule->replacement = replacement;
        if (**p == 'L' || **p == 'U') {
            rule->casing = **p;
            (*p)++;
        }
    } else {
        snprintf(err, errlen,
                 "ssl.principal.mapping.rules: '%.40s' is neither DEFAULT nor RULE:", start);
        return -EINVAL;
    }
    r->n++;
    *p += strspn(*p, " \t\n");
    if (**p != '\0' && **p != ',') {
        snprintf(err, errlen, "ssl.principal.mapping.rules: unexpected text after rule: '%.40s'",
                 *p);
        return -EINVAL;
    }
    return 0;
}

int ssl_principal_rules_parse(const char *rules, struct ssl_principal_rules **out, char *err,
                              size_t errlen)
{
    struct ssl_principal_rules *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return -ENOMEM;
    }
    const char *p = rules != NULL && rules[0] != '\0' ? rules : "DEFAULT";
    for (;;) {
        p += strspn(p, " \t\n,");
        if (*p == '\0') {
            break;
        }
        if (r->n == MAX_RULES) {
            snprintf(err, errlen, "ssl.principal.mapping.rules: more than %d rules", MAX_RULES);
            ssl_principal_rules_free(r);
            return -EINVAL;
        }
        int rv = parse_rule(r, &p, err, errlen);
        if (rv != 0) {
            ssl_principal_rules_free(r);
            return rv;
        }
    }
    *out = r;
    return 0;
}

static int apply(const struct rule *rule, const char *subject, const regmatch_t *m, char *out,
                 size_t outlen)
{
    size_t n = 0;
    for (const char *s = rule->replacement; *s != '\0'; s++) {
        const char *piece = s;
        size_t len = 1;
        if (*s == '$' && isdigit((unsigned char)s[1])) {
            int g = s[1] - '0';
            s++;
            if (m[g].rm_so < 0) {
                continue;
            }
            piece = subject + m[g].rm_so;
            len = (size_t)(m[g].rm_eo - m[g].rm_so);
        }
        if (n + len >= outlen) {
            return -ENAMETOOLONG;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    for (size_t i = 0; i < n && rule->casing != 0; i++) {
        out[i] = (char)(rule->casing == 'L' ? tolower((unsigned char)out[i])
                                            : toupper((unsigned char)out[i]));
    }
    return 0;
}

int ssl_principal_map(const struct ssl_principal_rules *r, const char *subject, char *out,
                      size_t outlen)
{
    size_t len = strlen(subject);
    for (size_t i = 0; i < r->n; i++) {
        const struct rule *rule = &r->rules[i];
        if (rule->is_default) {
            if (len >= outlen) {
                return -ENAMETOOLONG;
            }
            memcpy(out, subject, len + 1);
            return 0;
        }
        regmatch_t m[10];
        /* Java's matches(): the whole subject, not a part of it. */
        if (regexec(&rule->pattern, subject, 10, m, 0) == 0 && m[0].rm_so == 0 &&
            (size_t)m[0].rm_eo == len) {
            return apply(rule, subject, m, out, outlen);
        }
    }
    return -ENOENT;
}
