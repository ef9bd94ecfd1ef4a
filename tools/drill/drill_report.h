/* drill_report: sluice-drill's verdict for people (text) or programs
 * (--json), on stdout. Everything else the drill says goes to stderr. */
#ifndef SLUICE_DRILL_REPORT_H
#define SLUICE_DRILL_REPORT_H

#include <stdio.h>

#include "drill.h"

struct drill_summary {
    const struct drill_report *report;
    const struct drill_round *rounds;
    int n_rounds;
    const char *replica_note; /* why replica logs were not compared, or NULL */
    int final_read_complete;
    int healed; /* every heal succeeded */
    int exit_code;
};

void drill_report_text(FILE *out, const struct drill_options *o, const struct drill_summary *s);
void drill_report_json(FILE *out, const struct drill_options *o, const struct drill_summary *s);

#endif
