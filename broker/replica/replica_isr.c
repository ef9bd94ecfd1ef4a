/* ISR changes a leader proposes; see replica_isr.h. */
#include "broker/replica/replica_isr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/replica/alter_outcome.h"
#include "broker/replica/replica_liveness.h"
#include "common/log.h"

struct alter_ctx {
    struct replica_manager *rm;
    char topic[TOPIC_NAME_MAX + 1];
    uint8_t topic_id[16]; /* the name may be a recreated topic's by the answer */
    int32_t index, leader_epoch;
};

/* Whether the answer to `a` is about the partition hosted now: same topic
 * (its id, not only its name: a topic deleted and created again keeps the
 * name and starts at leader epoch 0 again) and same leader epoch. Another
 * proposal of that partition may be waiting in the batch meanwhile (issue
 * 14); the answer to this one must not end it (its proposed ISR counts for
 * the high watermark until its own answer, KIP-497). */
static struct partition *answered_partition(const struct alter_ctx *a)
{
    struct partition *p = replica_manager_partition(a->rm, a->topic, a->index);
    if (p == NULL || p->leader_epoch != a->leader_epoch) {
        return NULL; /* (nothing is hosted once stopped: the view is not read then) */
    }
    const struct metadata_topic *t = metadata_view_topic(a->rm->metadata, a->topic);
    return t != NULL && memcmp(t->id, a->topic_id, sizeof a->topic_id) == 0 ? p : NULL;
}

static void on_alter_answer(void *arg, int32_t error, int32_t leader, int32_t leader_epoch,
                            int32_t partition_epoch, const int32_t *isr, int32_t n_isr)
{
    struct alter_ctx *a = arg;
    struct partition *p = answered_partition(a);
    if (p != NULL && p->alter_in_flight && p->alter_wait == ALTER_WAIT_ANSWER) {
        struct partition_state st = {leader, leader_epoch, partition_epoch, NULL, 0, isr, n_isr, 0};
        const struct partition_state *committed = leader_epoch >= 0 ? &st : NULL;
        switch (alter_outcome_of(error)) {
        case ALTER_OUTCOME_APPLIED:
            log_info("replica", "ISR changed topic=%s partition=%d isr_size=%d partition_epoch=%d",
                     p->topic, p->index, n_isr, partition_epoch);
            partition_isr_answered(p, committed);
            break;
        case ALTER_OUTCOME_REFUSED:
            /* Not again at once: a refused member (fenced, not yet
             * registered) stays refused for a while. */
            p->alter_retry_ms = uv_now(a->rm->loop) + REPLICA_ISR_ALTER_RETRY_MS;
            log_info("replica", "ISR change refused topic=%s partition=%d error=%d", p->topic,
                     p->index, error);
            partition_isr_answered(p, committed);
            break;
        case ALTER_OUTCOME_LOST_VERSION:
            /* Our ISR is not the controller's: the metadata brings its newer
             * one (unless the answer carried it); until then the proposed
             * ISR may be the committed one and keeps counting (Kafka). */
            log_info("replica",
                     "ISR change lost the compare-and-set: waiting for the partition's metadata "
                     "topic=%s partition=%d",
                     p->topic, p->index);
            partition_isr_unresolved(p, committed, false);
            break;
        case ALTER_OUTCOME_UNKNOWN:
            /* It may have committed: the proposed ISR keeps counting, and
             * the same proposal goes again (a retry of a committed change is
             * answered NONE with the committed state). */
            p->alter_retry_ms = uv_now(a->rm->loop) + REPLICA_ISR_ALTER_RETRY_MS;
            isr_retry_log_add(&a->rm->isr_retry_log, p->topic, p->index, error);
            partition_isr_unresolved(p, committed, true);
            break;
        }
    }
    free(a);
}

/* Send `isr` for `p` (leader) to the controller against `partition_epoch`.
 * Returns 0 (on_alter_answer runs later) or an error. */
static int send_isr(struct replica_manager *rm, struct partition *p, const int32_t *isr,
                    int32_t n_isr, int32_t partition_epoch)
{
    const struct metadata_topic *t = metadata_view_topic(rm->metadata, p->topic);
    if (rm->controller.alter_partition == NULL || t == NULL) {
        return -ENOENT;
    }
    struct alter_ctx *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return -ENOMEM;
    }
    *a = (struct alter_ctx){.rm = rm, .index = p->index, .leader_epoch = p->leader_epoch};
    snprintf(a->topic, sizeof a->topic, "%s", p->topic);
    memcpy(a->topic_id, t->id, sizeof a->topic_id);
    int64_t epochs[PARTITION_MAX_REPLICAS + 1];
    for (int32_t i = 0; i < n_isr && i <= PARTITION_MAX_REPLICAS; i++) {
        epochs[i] = -1; /* members already in the ISR: the controller knows them */
        for (int32_t j = 0; j < p->n_replicas; j++) {
            if (p->replicas[j].broker_id == isr[i] && isr[i] != p->self) {
                epochs[i] = p->replicas[j].broker_epoch;
            }
        }
        if (isr[i] == p->self) {
            epochs[i] = replica_manager_broker_epoch(rm);
        }
    }
    int rv =
        rm->controller.alter_partition(rm->controller.data, t->id, p->index, p->leader_epoch,
                                       partition_epoch, isr, epochs, n_isr, on_alter_answer, a);
    if (rv != 0) {
        free(a);
    }
    return rv;
}

/* Propose `isr` for `p` (leader) to the controller. */
static void propose_isr(struct replica_manager *rm, struct partition *p, const int32_t *isr,
                        int32_t n_isr)
{
    if (p->alter_in_flight || uv_now(rm->loop) < p->alter_retry_ms) {
        return;
    }
    if (send_isr(rm, p, isr, n_isr, p->partition_epoch) == 0) {
        partition_isr_proposed(p, isr, n_isr);
    }
}

/* A proposal whose outcome is unknown goes again, the same (against the
 * same partition epoch), once its retry delay has passed; it stays
 * proposed, counting for the high watermark, however long that takes. */
static void resend_due(struct replica_manager *rm, struct partition *p)
{
    if (!p->alter_in_flight || p->alter_wait != ALTER_WAIT_RESEND ||
        uv_now(rm->loop) < p->alter_retry_ms) {
        return;
    }
    if (send_isr(rm, p, p->pending_isr, p->n_pending_isr, p->pending_partition_epoch) == 0) {
        partition_isr_resent(p);
    } else {
        p->alter_retry_ms = uv_now(rm->loop) + REPLICA_ISR_ALTER_RETRY_MS;
    }
}

void replica_isr_expand(struct replica_manager *rm, struct partition *p, int32_t replica)
{
    int32_t isr[PARTITION_MAX_REPLICAS + 1];
    int32_t n = p->n_isr;
    if (p->alter_in_flight) {
        resend_due(rm, p);
        return;
    }
    if (n >= PARTITION_MAX_REPLICAS || uv_now(rm->loop) < p->alter_retry_ms) {
        return;
    }
    if (!replica_follower_eligible(rm, p, replica)) {
        /* The controller would refuse it (INELIGIBLE_REPLICA) and the
         * partition would propose nothing for the retry delay, past the
         * moment the broker is unfenced (KIP-841): replica_liveness_changed
         * proposes it then, or its first fetch as the registration shown
         * (KIP-903). At DEBUG: a follower fetches often. */
        log_debug("replica",
                  "follower caught up but its broker is not eligible (fenced, unregistered or "
                  "another registration): not proposed for the ISR topic=%s partition=%d "
                  "replica=%d",
                  p->topic, p->index, replica);
        return;
    }
    memcpy(isr, p->isr, (size_t)n * sizeof *isr);
    isr[n++] = replica;
    log_info("replica",
             "follower caught up: proposing it for the ISR topic=%s partition=%d "
             "replica=%d",
             p->topic, p->index, replica);
    propose_isr(rm, p, isr, n);
}

static void shrink_one(struct partition *p, void *arg)
{
    struct replica_manager *rm = arg;
    if (!partition_is_leader(p)) {
        return;
    }
    if (p->alter_in_flight) {
        resend_due(rm, p);
        return;
    }
    int32_t keep[PARTITION_MAX_REPLICAS];
    int32_t n =
        partition_isr_shrink(p->replicas, p->n_replicas, p->isr, p->n_isr, p->self,
                             uv_now(rm->loop), (uint64_t)rm->cfg->replica_lag_time_max_ms, keep);
    if (n < p->n_isr) {
        log_info("replica", "followers lag: shrinking the ISR topic=%s partition=%d from=%d to=%d",
                 p->topic, p->index, p->n_isr, n);
        propose_isr(rm, p, keep, n);
    }
}

void replica_isr_shrink_lagging(struct replica_manager *rm)
{
    replica_manager_each_partition(rm, shrink_one, rm);
}
