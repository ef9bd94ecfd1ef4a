/* Partition leader election, as a pure function of a partition's replicas,
 * ISR and current leader plus which brokers are usable.
 *
 * Rules (Kafka's): members that are not usable leave the ISR; a usable
 * current leader keeps leading (no churn); otherwise the first usable ISR
 * member in replica order (the preferred replica first) leads. When no ISR
 * member is usable the partition goes offline (leader -1) and the ISR is left
 * as it was, so the last in-sync replicas are elected when they return;
 * unclean election instead picks the first usable replica and makes it the
 * whole ISR (possible data loss, hence off by default). */
#ifndef SLUICE_CONTROLLER_ELECTION_H
#define SLUICE_CONTROLLER_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether a broker may lead or stay in the ISR (registered, unfenced, not
 * shutting down). */
typedef bool (*election_usable_fn)(int32_t broker_id, void *arg);

struct election_input {
    const int32_t *replicas;
    size_t n_replicas;
    const int32_t *isr;
    size_t n_isr;
    int32_t leader;
    bool unclean; /* unclean.leader.election.enable for this topic */
    election_usable_fn usable;
    void *arg;
};

struct election_result {
    int32_t leader;
    int32_t *isr; /* caller's array of at least n_replicas (or n_isr) slots */
    size_t n_isr;
    bool changed; /* leader or ISR differs from the input */
    bool unclean; /* the leader came from outside the ISR */
};

/* Compute the partition's next leader and ISR into `out` (out->isr must be
 * set by the caller). */
void election_elect(const struct election_input *in, struct election_result *out);

/* Preferred replica election (Kafka's): the first replica should lead. The
 * preferred replica's id when it is usable, in the ISR and not leading yet;
 * -1 when there is nothing to do or it cannot lead now. The ISR stays. */
int32_t election_preferred(const struct election_input *in);

/* Kafka's leader imbalance of one broker: of the partitions whose preferred
 * replica it is (`preferred`), the percentage another broker leads
 * (`led_elsewhere`). Whether that exceeds `max_percentage`. */
bool election_imbalanced(int32_t preferred, int32_t led_elsewhere, int32_t max_percentage);

#endif
