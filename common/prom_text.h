/* The Prometheus text exposition format (0.0.4) written into a struct buf:
 * metric families (# HELP and # TYPE), samples with escaped label values,
 * and histograms from fixed buckets.
 *
 * Errors are sticky: after an allocation failure every call is a no-op and
 * prom_writer_error returns -ENOMEM, so writers check once at the end. The
 * writer borrows `out`; it holds no other state. */
#ifndef SLUICE_COMMON_PROM_TEXT_H
#define SLUICE_COMMON_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct prom_writer {
    struct buf *out; /* borrowed */
    int error;       /* 0, or the first -ENOMEM */
};

struct prom_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not escaped */
    const char *value; /* any bytes; \, " and newline are escaped */
};

void prom_writer_init(struct prom_writer *w, struct buf *out);
int prom_writer_error(const struct prom_writer *w);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void prom_family(struct prom_writer *w, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. */
void prom_sample_int(struct prom_writer *w, const char *name, const struct prom_label *labels,
                     size_t n_labels, int64_t value);
void prom_sample_double(struct prom_writer *w, const char *name, const struct prom_label *labels,
                        size_t n_labels, double value);
/* A family's one unlabelled sample, family header included. */
void prom_gauge(struct prom_writer *w, const char *name, const char *help, int64_t value);

/* A histogram's samples: name_bucket{labels,le="bound"} for each of
 * `n_bounds` upper bounds (ascending, seconds or whatever unit the name
 * says) and +Inf, then name_sum and name_count. `counts[i]` is the number
 * of observations in bucket i alone (at most bounds[i], above bounds[i-1]);
 * counts[n_bounds] those above the last bound. At most 7 labels. */
void prom_histogram(struct prom_writer *w, const char *name, const struct prom_label *labels,
                    size_t n_labels, const double *bounds, const uint64_t *counts, size_t n_bounds,
                    double sum);

#endif
