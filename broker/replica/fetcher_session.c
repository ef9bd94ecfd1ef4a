/* The follower's fetch session bookkeeping; see fetcher_session.h. */
#include "broker/replica/fetcher_session.h"

#include <stdlib.h>
#include <string.h>

#include "broker/replica/replica_session.h"
#include "common/log.h"

/* The order of the session's partitions: by index, then topic (most
 * comparisons stop at the index). */
int fetcher_session_order(int32_t index, const char *topic, const struct sent *s)
{
    if (index != s->index) {
        return index < s->index ? -1 : 1;
    }
    return strcmp(topic, s->topic);
}

static int sent_cmp(const void *a, const void *b)
{
    const struct sent *x = a;
    return fetcher_session_order(x->index, x->topic, b);
}

static bool sent_sorted(const struct sent *set, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (sent_cmp(&set[i - 1], &set[i]) > 0) {
            return false;
        }
    }
    return true;
}

/* `topic`-`index` among the `n` sorted `set`, or NULL. */
struct sent *fetcher_session_find(struct sent *set, size_t n, const char *topic, int32_t index)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = fetcher_session_order(index, topic, &set[mid]);
        if (c == 0) {
            return &set[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Start over: the next fetch is full and opens a new session (closing the
 * old one, should the leader still hold it). */
void fetcher_session_drop(struct replica_fetcher *f)
{
    f->session_epoch = REPLICA_SESSION_EPOCH_NEW;
    f->n_session = 0;
    f->steady = false;
}

/* Whether the leader must be told of `now` again: its fetch offset, an
 * epoch or its log start moved since `before` was sent (or it is another
 * partition object, the topic re-created). */
static bool sent_changed(const struct sent *now, const struct sent *before)
{
    return now->p != before->p || now->fetch_offset != before->fetch_offset ||
           now->log_start != before->log_start || now->leader_epoch != before->leader_epoch ||
           now->last_fetched_epoch != before->last_fetched_epoch;
}

void fetcher_session_list_part(struct replica_fetcher *f, struct fetch_lists *l,
                               const struct sent *s)
{
    Sluice__Replica__FetchPartition *fp = &l->parts[l->n_parts];
    sluice__replica__fetch_partition__init(fp);
    fp->topic = (char *)s->topic;
    fp->partition = s->index;
    fp->fetch_offset = s->fetch_offset;
    fp->current_leader_epoch = s->leader_epoch;
    fp->last_fetched_epoch = s->last_fetched_epoch;
    fp->log_start_offset = s->log_start;
    fp->partition_max_bytes = (uint32_t)f->rm->cfg->replica_fetch_max_bytes;
    l->part_ptrs[l->n_parts++] = fp;
}

static void list_forgotten(struct fetch_lists *l, const struct sent *s)
{
    Sluice__Replica__PartitionRef *ref = &l->forgot[l->n_forgot];
    sluice__replica__partition_ref__init(ref);
    ref->topic = (char *)s->topic;
    ref->partition = s->index;
    l->forgot_ptrs[l->n_forgot++] = ref;
}

int fetcher_session_lists_fill(struct replica_fetcher *f, struct fetch_lists *l)
{
    size_t n = f->n_sent + 1, m = f->n_session + 1;
    memset(l, 0, sizeof *l);
    l->parts = calloc(n, sizeof *l->parts);
    l->part_ptrs = calloc(n, sizeof *l->part_ptrs);
    l->forgot = calloc(m, sizeof *l->forgot);
    l->forgot_ptrs = calloc(m, sizeof *l->forgot_ptrs);
    if (l->parts == NULL || l->part_ptrs == NULL || l->forgot == NULL || l->forgot_ptrs == NULL) {
        return -1;
    }
    if (!sent_sorted(f->sent, f->n_sent)) {
        qsort(f->sent, f->n_sent, sizeof *f->sent, sent_cmp); /* a walk of every partition's */
    }
    size_t held = f->session_epoch == REPLICA_SESSION_EPOCH_NEW ? 0 : f->n_session;
    size_t i = 0, j = 0;
    while (i < f->n_sent || j < held) {
        int c = j >= held ? -1 : i >= f->n_sent ? 1 : sent_cmp(&f->sent[i], &f->session[j]);
        if (c < 0) {
            fetcher_session_list_part(f, l, &f->sent[i++]);
        } else if (c > 0) {
            list_forgotten(l, &f->session[j++]);
        } else {
            if (sent_changed(&f->sent[i], &f->session[j])) {
                fetcher_session_list_part(f, l, &f->sent[i]);
            }
            i++;
            j++;
        }
    }
    return 0;
}

void fetcher_session_lists_free(struct fetch_lists *l)
{
    free(l->parts);
    free(l->part_ptrs);
    free(l->forgot);
    free(l->forgot_ptrs);
}

/* Whether an answer of session `id` fits the request in flight (epoch
 * f->session_epoch); if not the session is dropped and the answer ignored. */
bool fetcher_session_fits(struct replica_fetcher *f, int32_t id)
{
    if (f->session_epoch == REPLICA_SESSION_EPOCH_NEW || id == f->session_id) {
        return true;
    }
    log_warn("replica",
             "fetch session with leader=%d answered as session=%d, not %d: starting over",
             f->leader, id, f->session_id);
    fetcher_session_drop(f);
    return false;
}

/* The answer was applied: the session (if the leader made or kept one) now
 * holds the request's set: f->sent (sorted by fetcher_session_lists_fill) after a full
 * round, f->session itself (updated in place) after an incremental one. */
void fetcher_session_answered(struct replica_fetcher *f, int32_t id)
{
    if (id == 0) {
        fetcher_session_drop(f); /* none was made: fetch in full again */
        return;
    }
    f->session_id = id;
    f->session_epoch =
        f->session_epoch == INT32_MAX ? REPLICA_SESSION_EPOCH_NEW + 1 : f->session_epoch + 1;
    if (f->incremental) {
        return;
    }
    struct sent *t = f->session;
    f->session = f->sent;
    f->sent = t;
    f->n_session = f->n_sent;
    f->n_sent = 0;
}
