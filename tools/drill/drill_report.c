/* drill_report: see drill_report.h. */
#include "drill_report.h"

#include <inttypes.h>

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(out, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(out, "\\u%04x", ch);
        } else {
            fputc(ch, out);
        }
    }
    fputc('"', out);
}

static const char *verdict(const struct drill_summary *s)
{
    return s->exit_code == DRILL_EXIT_PASS        ? "PASS"
           : s->exit_code == DRILL_EXIT_VIOLATION ? "FAIL"
                                                  : "INCOMPLETE";
}

/* A time on the drill's clock as seconds since the workload window began. */
static double seconds_in_window(const struct drill_report *r, int64_t ns)
{
    return (double)(ns - r->window_start_ns) / 1e9;
}

/* "  round 3: kill-leader partition 0 nodes 2, applied at 21.004 s, healed at
 * 24.005 s, unavailable 6.066 s (no acknowledgement 20.998-27.070 s)" (times
 * from the window's start). */
static void text_round(FILE *out, const struct drill_report *r, const struct drill_round *d)
{
    fprintf(out, "  round %d: %s partition %d", d->round, d->fault, d->partition);
    for (int t = 0; t < d->n_targets; t++) {
        fprintf(out, "%s%d", t ? "," : " nodes ", d->targets[t]);
    }
    if (!d->ok) {
        fprintf(out, ": %s", d->detail);
    }
    if (d->applied_ns != 0) {
        fprintf(out, ", applied at %.3f s", seconds_in_window(r, d->applied_ns));
    }
    if (d->healed_ns != 0) {
        fprintf(out, ", healed at %.3f s", seconds_in_window(r, d->healed_ns));
    }
    const struct drill_stretch *u = &d->unavailable;
    fprintf(out, ", unavailable %.3f s", (double)u->within_ns / 1e9);
    if (u->within_ns > 0) {
        fprintf(out, " (no acknowledgement %.3f-%.3f s)", seconds_in_window(r, u->start_ns),
                seconds_in_window(r, u->end_ns));
    }
    fputc('\n', out);
}

void drill_report_text(FILE *out, const struct drill_options *o, const struct drill_summary *s)
{
    const struct drill_report *r = s->report;
    fprintf(out, "sluice-drill: topic %s, %d partitions, %d producers, %d rounds (%s)\n", o->topic,
            o->partitions, o->producers, s->n_rounds, o->faults);
    for (int i = 0; i < s->n_rounds; i++) {
        text_round(out, r, &s->rounds[i]);
    }
    fprintf(out, "writes attempted:        %" PRId64 "\n", r->attempted);
    fprintf(out, "acknowledged:            %" PRId64 "\n", r->acknowledged);
    fprintf(out, "failed:                  %" PRId64 "\n", r->failed);
    fprintf(out, "unknown:                 %" PRId64 " (%" PRId64 " of them written)\n", r->unknown,
            r->unknown_written);
    fprintf(out, "lost:                    %" PRId64 "\n", r->counts[DRILL_V_LOST]);
    fprintf(out, "duplicated:              %" PRId64 " (%s)\n", r->duplicated,
            o->idempotent ? "violations: idempotent producers"
                          : "allowed: producers not idempotent");
    for (int k = 0; k < DRILL_V_KIND_COUNT; k++) {
        if (k != DRILL_V_LOST && k != DRILL_V_DUPLICATE) {
            char label[40];
            snprintf(label, sizeof label, "%s:", drill_violation_kind_name(k));
            fprintf(out, "%-24s %" PRId64 "\n", label, r->counts[k]);
        }
    }
    fprintf(out, "longest unavailable:     %.3f s\n", (double)r->longest_unavailable_ns / 1e9);
    if (s->replica_note != NULL) {
        fprintf(out, "replica logs:            not compared: %s\n", s->replica_note);
    } else {
        fprintf(out, "replica logs:            compared for %d partitions\n", r->replicas_compared);
    }
    if (r->foreign > 0) {
        fprintf(out, "records of other runs:   %" PRId64 " (ignored)\n", r->foreign);
    }
    if (!s->final_read_complete) {
        fprintf(out, "final read:              INCOMPLETE (see stderr)\n");
    }
    if (!s->healed) {
        fprintf(out, "healing:                 FAILED (the cluster may be degraded)\n");
    }
    if (r->acknowledged == 0) {
        fprintf(out, "note: no write was acknowledged, so no durability promise was tested\n");
    }
    fprintf(out, "violations:              %" PRId64 "\n", r->violations);
    for (size_t i = 0; i < r->listed; i++) {
        fprintf(out, "  %s: %s\n", drill_violation_kind_name(r->list[i].kind), r->list[i].detail);
    }
    if ((int64_t)r->listed < r->violations) {
        fprintf(out, "  ... and %" PRId64 " more\n", r->violations - (int64_t)r->listed);
    }
    fprintf(out, "verdict: %s\n", verdict(s));
}

/* ,"KEY":MS with MS in ms since the window began, or null for a time not
 * taken (0). */
static void json_window_ms(FILE *out, const struct drill_report *r, const char *key, int64_t ns)
{
    if (ns == 0) {
        fprintf(out, ",\"%s\":null", key);
    } else {
        fprintf(out, ",\"%s\":%" PRId64, key, (ns - r->window_start_ns) / 1000000);
    }
}

static void json_rounds(FILE *out, const struct drill_summary *s)
{
    fprintf(out, "\"rounds\":[");
    for (int i = 0; i < s->n_rounds; i++) {
        const struct drill_round *d = &s->rounds[i];
        fprintf(out, "%s{\"round\":%d,\"fault\":", i ? "," : "", d->round);
        json_string(out, d->fault);
        fprintf(out, ",\"partition\":%d,\"nodes\":[", d->partition);
        for (int t = 0; t < d->n_targets; t++) {
            fprintf(out, "%s%d", t ? "," : "", d->targets[t]);
        }
        fprintf(out, "],\"applied\":%s,\"detail\":", d->ok ? "true" : "false");
        json_string(out, d->ok ? "" : d->detail);
        json_window_ms(out, s->report, "start_ms", d->start_ns);
        json_window_ms(out, s->report, "applied_ms", d->applied_ns);
        json_window_ms(out, s->report, "healed_ms", d->healed_ns);
        json_window_ms(out, s->report, "end_ms", d->end_ns);
        const struct drill_stretch *u = &d->unavailable;
        fprintf(out, ",\"unavailable_ms\":%" PRId64, u->within_ns / 1000000);
        json_window_ms(out, s->report, "unavailable_from_ms", u->start_ns);
        json_window_ms(out, s->report, "unavailable_to_ms", u->end_ns);
        fputc('}', out);
    }
    fprintf(out, "],");
}

void drill_report_json(FILE *out, const struct drill_options *o, const struct drill_summary *s)
{
    const struct drill_report *r = s->report;
    fprintf(out, "{\"topic\":");
    json_string(out, o->topic);
    fprintf(out, ",\"run\":");
    json_string(out, o->run);
    fprintf(out, ",\"partitions\":%d,\"producers\":%d,", o->partitions, o->producers);
    json_rounds(out, s);
    fprintf(out,
            "\"attempted\":%" PRId64 ",\"acknowledged\":%" PRId64 ",\"failed\":%" PRId64
            ",\"unknown\":%" PRId64 ",\"unknown_written\":%" PRId64 ",\"foreign\":%" PRId64 ",",
            r->attempted, r->acknowledged, r->failed, r->unknown, r->unknown_written, r->foreign);
    fprintf(out, "\"idempotent\":%s,\"duplicated\":%" PRId64 ",", o->idempotent ? "true" : "false",
            r->duplicated);
    for (int k = 0; k < DRILL_V_KIND_COUNT; k++) {
        if (k != DRILL_V_DUPLICATE) {
            fprintf(out, "\"%s\":%" PRId64 ",", drill_violation_kind_name(k), r->counts[k]);
        }
    }
    fprintf(out, "\"duplicated_violations\":%" PRId64 ",", r->counts[DRILL_V_DUPLICATE]);
    fprintf(out, "\"longest_unavailable_ms\":%" PRId64 ",\"replicas_compared\":%d,",
            r->longest_unavailable_ns / 1000000, r->replicas_compared);
    fprintf(out, "\"replica_note\":");
    json_string(out, s->replica_note ? s->replica_note : "");
    fprintf(out, ",\"final_read_complete\":%s,\"healed\":%s,\"violations\":%" PRId64 ",",
            s->final_read_complete ? "true" : "false", s->healed ? "true" : "false", r->violations);
    fprintf(out, "\"violation_list\":[");
    for (size_t i = 0; i < r->listed; i++) {
        fprintf(out, "%s{\"kind\":\"%s\",\"detail\":", i ? "," : "",
                drill_violation_kind_name(r->list[i].kind));
        json_string(out, r->list[i].detail);
        fputc('}', out);
    }
    fprintf(out, "],\"verdict\":\"%s\",\"exit_code\":%d}\n", verdict(s), s->exit_code);
}
