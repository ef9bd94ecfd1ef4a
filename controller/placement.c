#include "controller/placement.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *rack_of(const struct placement_broker *b)
{
    return b->rack != NULL ? b->rack : "";
}

static int by_rack_then_id(const void *a, const void *b)
{
    const struct placement_broker *x = a, *y = b;
    int c = strcmp(rack_of(x), rack_of(y));
    if (c != 0) {
        return c;
    }
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Kafka's rack-alternated list: first broker of each rack, then the second
 * of each rack, ... so consecutive positions are on different racks. */
static int interleave_by_rack(const struct placement_broker *brokers, size_t n,
                              struct placement_broker *out)
{
    struct placement_broker *sorted = malloc(n * sizeof *sorted);
    size_t *rack_start = malloc((n + 1) * sizeof *rack_start);
    if (sorted == NULL || rack_start == NULL) {
        free(sorted);
        free(rack_start);
        return -ENOMEM;
    }
    memcpy(sorted, brokers, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_rack_then_id);
    size_t n_racks = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(rack_of(&sorted[i]), rack_of(&sorted[i - 1])) != 0) {
            rack_start[n_racks++] = i;
        }
    }
    rack_start[n_racks] = n;
    size_t o = 0;
    for (size_t round = 0; o < n; round++) {
        for (size_t r = 0; r < n_racks; r++) {
            if (rack_start[r] + round < rack_start[r + 1]) {
                out[o++] = sorted[rack_start[r] + round];
            }
        }
    }
    free(sorted);
    free(rack_start);
    return 0;
}

static bool rack_used(const struct placement_broker *list, const int32_t *chosen_pos, int32_t k,
                      const char *rack)
{
    for (int32_t i = 0; i < k; i++) {
        if (strcmp(rack_of(&list[chosen_pos[i]]), rack) == 0) {
            return true;
        }
    }
    return false;
}

static bool pos_used(const int32_t *chosen_pos, int32_t k, int32_t pos)
{
    for (int32_t i = 0; i < k; i++) {
        if (chosen_pos[i] == pos) {
            return true;
        }
    }
    return false;
}

/* Followers of one partition: walk the list from the leader with the
 * partition's shift, first taking brokers on unused racks, then any. */
static void pick_followers(const struct placement_broker *list, int32_t n, int32_t rf,
                           int32_t shift, int32_t *chosen_pos)
{
    for (int32_t k = 1; k < rf; k++) {
        int32_t pick = -1;
        for (int pass = 0; pass < 2 && pick < 0; pass++) {
            for (int32_t step = 0; step < n - 1 && pick < 0; step++) {
                int32_t pos = (chosen_pos[0] + 1 + (shift + step) % (n - 1)) % n;
                if (pos_used(chosen_pos, k, pos) ||
                    (pass == 0 && rack_used(list, chosen_pos, k, rack_of(&list[pos])))) {
                    continue;
                }
                pick = pos;
            }
        }
        chosen_pos[k] = pick; /* rf <= n guarantees a free position */
    }
}

int placement_assign(const struct placement_broker *brokers, size_t n, int32_t count, int32_t rf,
                     uint32_t start, uint32_t shift, int32_t *out)
{
    if (rf < 1 || n == 0 || (size_t)rf > n || count < 0) {
        return -EINVAL;
    }
    struct placement_broker *list = malloc(n * sizeof *list);
    int32_t *chosen = malloc((size_t)rf * sizeof *chosen);
    int rv = list != NULL && chosen != NULL ? interleave_by_rack(brokers, n, list) : -ENOMEM;
    if (rv != 0) {
        goto out;
    }
    for (int32_t p = 0; p < count; p++) {
        /* Kafka bumps the shift each time the leaders wrap around the list. */
        uint32_t part_shift = shift + (uint32_t)p / (uint32_t)n;
        chosen[0] = (int32_t)((start + (uint32_t)p) % n);
        pick_followers(list, (int32_t)n, rf, (int32_t)(part_shift % (n > 1 ? n - 1 : 1)), chosen);
        for (int32_t j = 0; j < rf; j++) {
            out[p * rf + j] = list[chosen[j]].id;
        }
    }
out:
    free(list);
    free(chosen);
    return rv;
}

int64_t placement_broker_partition_limit(int32_t configured)
{
    if (configured > 0) {
        return configured;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (rlim_t)INT32_MAX) {
        return INT32_MAX;
    }
    int64_t n = ((int64_t)rl.rlim_cur - PLACEMENT_FD_RESERVE) / PLACEMENT_FDS_PER_REPLICA;
    return n > 0 ? n : 1;
}
