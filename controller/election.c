#include "controller/election.h"

#include <string.h>

static bool contains(const int32_t *a, size_t n, int32_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] == v) {
            return true;
        }
    }
    return false;
}

static bool same_set(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (!contains(b, nb, a[i])) {
            return false;
        }
    }
    return true;
}

/* First replica, in preference order, that is in `set` and usable. */
static int32_t first_usable(const struct election_input *in, const int32_t *set, size_t n_set)
{
    for (size_t i = 0; i < in->n_replicas; i++) {
        int32_t id = in->replicas[i];
        if ((set == NULL || contains(set, n_set, id)) && in->usable(id, in->arg)) {
            return id;
        }
    }
    return -1;
}

void election_elect(const struct election_input *in, struct election_result *out)
{
    out->n_isr = 0;
    out->unclean = false;
    for (size_t i = 0; i < in->n_isr; i++) {
        if (in->usable(in->isr[i], in->arg)) {
            out->isr[out->n_isr++] = in->isr[i];
        }
    }
    if (out->n_isr > 0) {
        out->leader = contains(out->isr, out->n_isr, in->leader)
                          ? in->leader
                          : first_usable(in, out->isr, out->n_isr);
    } else if (in->unclean && (out->leader = first_usable(in, NULL, 0)) >= 0) {
        out->isr[0] = out->leader;
        out->n_isr = 1;
        out->unclean = true;
    } else {
        /* Offline: keep the ISR so a returning member is a clean choice. */
        out->leader = -1;
        memcpy(out->isr, in->isr, in->n_isr * sizeof *in->isr);
        out->n_isr = in->n_isr;
    }
    out->changed = out->leader != in->leader || !same_set(out->isr, out->n_isr, in->isr, in->n_isr);
}

int32_t election_preferred(const struct election_input *in)
{
    if (in->n_replicas == 0) {
        return -1;
    }
    int32_t preferred = in->replicas[0];
    if (preferred == in->leader || !contains(in->isr, in->n_isr, preferred) ||
        !in->usable(preferred, in->arg)) {
        return -1;
    }
    return preferred;
}

bool election_imbalanced(int32_t preferred, int32_t led_elsewhere, int32_t max_percentage)
{
    return preferred > 0 && (int64_t)led_elsewhere * 100 > (int64_t)max_percentage * preferred;
}
