/* Prometheus text exposition; see prom_text.h. */
#include "common/prom_text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HISTOGRAM_MAX_LABELS 8

void prom_writer_init(struct prom_writer *w, struct buf *out)
{
    w->out = out;
    w->error = 0;
}

int prom_writer_error(const struct prom_writer *w)
{
    return w->error;
}

static void put(struct prom_writer *w, const char *s, size_t len)
{
    if (w->error == 0 && buf_append(w->out, s, len) != 0) {
        w->error = -ENOMEM;
    }
}

static void puts_(struct prom_writer *w, const char *s)
{
    put(w, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct prom_writer *w, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) { /* only numbers go through here: they fit */
        put(w, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    }
}

/* Label values escape backslash, double quote and line feed; HELP text
 * escapes backslash and line feed. */
static void put_escaped(struct prom_writer *w, const char *s, bool quote)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *esc = NULL;
        if (*s == '\\') {
            esc = "\\\\";
        } else if (*s == '\n') {
            esc = "\\n";
        } else if (quote && *s == '"') {
            esc = "\\\"";
        }
        if (esc != NULL) {
            put(w, run, (size_t)(s - run));
            puts_(w, esc);
            run = s + 1;
        }
    }
    put(w, run, (size_t)(s - run));
}

void prom_family(struct prom_writer *w, const char *name, const char *type, const char *help)
{
    puts_(w, "# HELP ");
    puts_(w, name);
    puts_(w, " ");
    put_escaped(w, help, false);
    puts_(w, "\n# TYPE ");
    puts_(w, name);
    puts_(w, " ");
    puts_(w, type);
    puts_(w, "\n");
}

static void put_labels(struct prom_writer *w, const struct prom_label *labels, size_t n)
{
    if (n == 0) {
        return;
    }
    puts_(w, "{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            puts_(w, ",");
        }
        puts_(w, labels[i].name);
        puts_(w, "=\"");
        put_escaped(w, labels[i].value != NULL ? labels[i].value : "", true);
        puts_(w, "\"");
    }
    puts_(w, "}");
}

void prom_sample_int(struct prom_writer *w, const char *name, const struct prom_label *labels,
                     size_t n_labels, int64_t value)
{
    puts_(w, name);
    put_labels(w, labels, n_labels);
    putf(w, " %" PRId64 "\n", value);
}

static void put_double(struct prom_writer *w, double v)
{
    if (isinf(v)) {
        puts_(w, v > 0 ? "+Inf" : "-Inf");
    } else if (isnan(v)) {
        puts_(w, "NaN");
    } else {
        putf(w, "%.15g", v);
    }
}

void prom_sample_double(struct prom_writer *w, const char *name, const struct prom_label *labels,
                        size_t n_labels, double value)
{
    puts_(w, name);
    put_labels(w, labels, n_labels);
    puts_(w, " ");
    put_double(w, value);
    puts_(w, "\n");
}

void prom_gauge(struct prom_writer *w, const char *name, const char *help, int64_t value)
{
    prom_family(w, name, "gauge", help);
    prom_sample_int(w, name, NULL, 0, value);
}

static void put_suffixed(struct prom_writer *w, const char *name, const char *suffix)
{
    puts_(w, name);
    puts_(w, suffix);
}

void prom_histogram(struct prom_writer *w, const char *name, const struct prom_label *labels,
                    size_t n_labels, const double *bounds, const uint64_t *counts, size_t n_bounds,
                    double sum)
{
    struct prom_label with_le[HISTOGRAM_MAX_LABELS];
    if (n_labels >= HISTOGRAM_MAX_LABELS) {
        n_labels = HISTOGRAM_MAX_LABELS - 1; /* a caller bug: documented bound */
    }
    if (n_labels > 0) { /* labels may be NULL then: memcpy's arguments may not */
        memcpy(with_le, labels, n_labels * sizeof *labels);
    }
    uint64_t cumulative = 0;
    char le[32];
    for (size_t i = 0; i <= n_bounds; i++) {
        cumulative += counts[i];
        if (i < n_bounds) {
            snprintf(le, sizeof le, "%g", bounds[i]);
        } else {
            snprintf(le, sizeof le, "+Inf");
        }
        with_le[n_labels] = (struct prom_label){"le", le};
        put_suffixed(w, name, "_bucket");
        put_labels(w, with_le, n_labels + 1);
        putf(w, " %" PRIu64 "\n", cumulative);
    }
    put_suffixed(w, name, "_sum");
    put_labels(w, labels, n_labels);
    puts_(w, " ");
    put_double(w, sum);
    puts_(w, "\n");
    put_suffixed(w, name, "_count");
    put_labels(w, labels, n_labels);
    putf(w, " %" PRIu64 "\n", cumulative);
}
