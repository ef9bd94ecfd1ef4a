/* Hosted partitions; see replica_manager.h. */
#include "broker/replica/replica_manager.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/replica/fetcher.h"
#include "broker/replica/replica_isr.h"
#include "broker/replica/replica_liveness.h"
#include "broker/replica/replica_service.h"
#include "broker/replica/replica_session.h"
#include "common/internal_tls.h"
#include "common/log.h"

struct hosted_topic {
    int32_t n;
    struct partition **parts;
    size_t *dir_index; /* which data dir each partition lives in */
    /* Hosted here but not served: its log directory went offline, or it
     * could not be opened. Stays so until restart (or until this broker is
     * no longer a replica), and is reported to the controller. */
    bool *offline;
    /* Its log is being opened on the thread pool (log_manager_open): the
     * number of that open, 0 if none. parts[i] stays NULL until it is done. */
    uint64_t *opening;
    int32_t n_opening; /* how many opening[] are not 0 */
};

/* Partition `i`'s open is now `seq` (0: none). */
static void set_opening(struct hosted_topic *h, int32_t i, uint64_t seq)
{
    h->n_opening += (seq != 0) - (h->opening[i] != 0);
    h->opening[i] = seq;
}

static void hosted_free(struct hosted_topic *h)
{
    if (h != NULL) {
        free(h->opening);
        free(h->parts);
        free(h->dir_index);
        free(h->offline);
        free(h);
    }
}

/* ---- slots in the journal of changes (change_journal.h) ---- */

/* Give `p` a slot, so its changes are recorded. Without memory it has none:
 * the sessions that serve it then look at it on every fetch. */
static void slot_attach(struct replica_manager *rm, struct partition *p)
{
    rm->partitions_gen++;
    if (rm->changes.ring == NULL) {
        return;
    }
    uint32_t slot;
    if (rm->n_free_slots > 0) {
        slot = rm->free_slots[--rm->n_free_slots];
    } else {
        if (rm->n_slots == rm->cap_free_slots) {
            /* Room for every slot to come back, so a detach never fails. */
            size_t cap = rm->cap_free_slots ? 2 * rm->cap_free_slots : 256;
            uint32_t *fs = realloc(rm->free_slots, cap * sizeof *fs);
            if (fs == NULL) {
                return;
            }
            rm->free_slots = fs;
            rm->cap_free_slots = cap;
        }
        slot = rm->n_slots++;
    }
    partition_set_journal(p, &rm->changes, slot);
}

/* `p` is about to be freed: its slot goes back. */
static void slot_detach(struct replica_manager *rm, struct partition *p)
{
    rm->partitions_gen++;
    if (p->journal != NULL) {
        rm->free_slots[rm->n_free_slots++] = p->slot;
        partition_set_journal(p, NULL, 0);
    }
}

/* `p` left the map (deleted, moved away, its directory offline) and is about
 * to be freed. The operations parked on it are asked again, and so are the
 * parked session fetches, which watch the journal, not the partition: its
 * slot is recorded (a partition with none resets the journal) while it is
 * still its own. All find no partition and answer now, not at their
 * deadline, so a follower learns at once. Then its slot goes back. */
static void partition_gone(struct replica_manager *rm, struct partition *p)
{
    rm->fetch_set_gen++;
    delayed_key_notify(&p->waiters);
    if (p->journal != NULL) {
        change_journal_record(p->journal, p->slot);
    } else {
        change_journal_reset(&rm->changes);
    }
    slot_detach(rm, p);
}

/* ---- fetchers (follower side) ---- */

static void kick_fetcher(struct replica_manager *rm, struct partition *p)
{
    rm->fetch_set_gen++;
    int32_t slot = fetcher_slot_of(p->topic, p->index, rm->cfg->num_replica_fetchers);
    for (size_t i = 0; i < rm->n_fetchers; i++) {
        struct replica_fetcher *f = rm->fetchers[i];
        if (fetcher_leader(f) == p->leader_id && fetcher_slot(f) == slot) {
            fetcher_kick(f);
            return;
        }
    }
    if (rm->n_fetchers == rm->cap_fetchers) {
        size_t cap = rm->cap_fetchers ? 2 * rm->cap_fetchers : 8;
        struct replica_fetcher **fs = realloc(rm->fetchers, cap * sizeof *fs);
        if (fs == NULL) {
            log_error("replica", "out of memory starting a fetcher leader=%d", p->leader_id);
            return;
        }
        rm->fetchers = fs;
        rm->cap_fetchers = cap;
    }
    struct replica_fetcher *f = fetcher_new(rm, p->leader_id, slot);
    if (f == NULL) {
        log_error("replica", "out of memory starting a fetcher leader=%d", p->leader_id);
        return;
    }
    rm->fetchers[rm->n_fetchers++] = f;
    fetcher_kick(f);
}

static void close_fetchers(struct replica_manager *rm)
{
    for (size_t i = 0; i < rm->n_fetchers; i++) {
        fetcher_close(rm->fetchers[i]);
    }
    free(rm->fetchers);
    rm->fetchers = NULL;
    rm->n_fetchers = rm->cap_fetchers = 0;
}

static int sync_partition(struct replica_manager *rm, const struct metadata_topic *t,
                          struct hosted_topic *h, int32_t i);
static void report_offline(struct replica_manager *rm);
static bool hosts(const struct metadata_partition *p, int32_t self);

/* An open in flight, identified by the topic's name and id, the partition
 * and the open's number: by the time it is done the topic may have been
 * deleted (and created again), or the partition moved away. */
struct open_ctx {
    struct replica_manager *rm;
    char topic[TOPIC_NAME_MAX + 1];
    uint8_t id[16];
    int32_t index;
    uint64_t seq;
};

/* Whether the metadata still assigns the partition of this open to us. */
static bool still_ours(struct replica_manager *rm, const struct open_ctx *c,
                       const struct metadata_topic *t)
{
    return t != NULL && memcmp(t->id, c->id, sizeof c->id) == 0 && c->index < t->n_partitions &&
           hosts(&t->partitions[c->index], metadata_view_local_node(rm->metadata));
}

static void opened(void *arg, int rv, struct partition_log *log, size_t d, const char *path)
{
    struct open_ctx *c = arg;
    struct replica_manager *rm = c->rm;
    struct hosted_topic *h = strmap_get(&rm->topics, c->topic);
    const struct metadata_topic *t = metadata_view_topic(rm->metadata, c->topic);
    int32_t i = c->index;
    bool mine = h != NULL && i < h->n && h->opening[i] == c->seq;
    if (mine) {
        set_opening(h, i, 0);
    }
    if (rv == 0 && mine && rm->logs.dir_offline[d]) {
        /* Its directory failed while it was being opened. */
        log_manager_release(&rm->logs, d);
        (void)partition_log_close(log);
        rv = -EIO;
    } else if (rv == 0 && (!mine || !still_ours(rm, c, t))) {
        /* Deleted or moved away while being opened: what deleting the open
         * partition would have done. On shutdown it only closes. */
        log_manager_release(&rm->logs, d);
        if (rm->running && !still_ours(rm, c, t)) {
            log_info("replica", "no longer a replica: deleting topic=%s partition=%d", c->topic, i);
            (void)partition_log_destroy(log);
        } else {
            (void)partition_log_close(log);
        }
        free(c);
        return;
    }
    if (rv != 0) {
        /* Unreadable, corrupt beyond recovery, out of descriptors, or in an
         * offline directory (logged by the log manager): offline here and
         * reported, so other replicas lead it, instead of failing the topic.
         * Out of memory: tried again on the next change. */
        if (mine && rv != -ENOMEM) {
            h->offline[i] = true;
            rm->offline_dirty = true;
            report_offline(rm);
        }
        free(c);
        return;
    }
    rv = partition_open(log, path, c->topic, i, metadata_view_local_node(rm->metadata), &t->config,
                        &h->parts[i]);
    if (rv != 0) {
        log_manager_release(&rm->logs, d);
        log_error("replica", "cannot open partition topic=%s partition=%d: out of memory", c->topic,
                  i);
        free(c);
        return;
    }
    h->dir_index[i] = d;
    slot_attach(rm, h->parts[i]);
    partition_set_config(h->parts[i], &t->config); /* a change while it was opened */
    free(c);
    if (rm->running) {
        sync_partition(rm, t, h, i); /* its role, as the metadata says now */
    }
}

/* Whether none of the waiter's topics has a partition being opened. */
static bool opens_done(const struct replica_manager *rm, const struct replica_opens_waiter *w)
{
    for (size_t i = 0; i < w->n_topics; i++) {
        const struct hosted_topic *h = strmap_get(&rm->topics, w->topics[i]);
        if (h != NULL && h->n_opening > 0) {
            return false;
        }
    }
    return true;
}

/* Run the waiters whose topics are open; unlinked first, so callbacks may
 * add waiters. Stopping (no longer running) runs them all. */
static void run_opens_waiters(struct replica_manager *rm)
{
    struct replica_opens_waiter *ready = NULL, **pp = &rm->opens_waiters;
    while (*pp != NULL) {
        struct replica_opens_waiter *w = *pp;
        if (!rm->running || opens_done(rm, w)) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    while (ready != NULL) {
        struct replica_opens_waiter *w = ready;
        ready = w->next;
        w->cb(w);
    }
}

static void on_log_opened(void *arg, int rv, struct partition_log *log, size_t d, const char *path)
{
    struct replica_manager *rm = ((struct open_ctx *)arg)->rm;
    opened(arg, rv, log, d, path);
    run_opens_waiters(rm);
}

void replica_manager_after_opens(struct replica_manager *rm, struct replica_opens_waiter *w)
{
    if (opens_done(rm, w)) {
        w->cb(w);
        return;
    }
    w->next = rm->opens_waiters;
    rm->opens_waiters = w;
}

/* Start opening partition `index` of `t`; it is usable (parts[index]) once
 * its files are durable, on a later loop turn. */
static int open_one(struct replica_manager *rm, const struct metadata_topic *t,
                    struct hosted_topic *h, int32_t index)
{
    const struct metadata_partition *mp = &t->partitions[index];
    struct open_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_error("replica", "cannot open partition topic=%s partition=%d: out of memory", t->name,
                  index);
        return -ENOMEM;
    }
    c->rm = rm;
    snprintf(c->topic, sizeof c->topic, "%s", t->name);
    memcpy(c->id, t->id, sizeof c->id);
    c->index = index;
    c->seq = ++rm->open_seq;
    set_opening(h, index, c->seq);
    int32_t epoch = mp->leader == metadata_view_local_node(rm->metadata) ? mp->leader_epoch : -1;
    int rv =
        log_manager_open(&rm->logs, t->name, t->id, index, &t->config, epoch, on_log_opened, c);
    if (rv == 0) {
        return 0;
    }
    set_opening(h, index, 0);
    free(c);
    if (rv == -ENOMEM) {
        return rv; /* logged by the log manager; tried again on the next change */
    }
    /* In an offline directory (logged by the log manager): offline here
     * and reported. */
    h->offline[index] = true;
    rm->offline_dirty = true;
    return 0;
}

static void close_partitions_range(struct replica_manager *rm, struct hosted_topic *h, int32_t from,
                                   int32_t to, bool destroy)
{
    for (int32_t i = from; i < to; i++) {
        set_opening(h, i, 0); /* its open, when done, finds it unwanted */
        struct partition *p = h->parts[i];
        if (p != NULL) {
            /* Out of the map first: the operations parked on it, asked
             * again here, find no partition and answer now, not at their
             * deadline (a client's Produce or DeleteRecords as Kafka's:
             * UNKNOWN_TOPIC_OR_PARTITION once the view dropped the topic,
             * else NOT_LEADER_OR_FOLLOWER; kafka_leader_partition). */
            h->parts[i] = NULL;
            partition_gone(rm, p);
            log_manager_release(&rm->logs, h->dir_index[i]);
            if (destroy) {
                partition_destroy(p);
            } else {
                partition_close(p);
            }
        }
    }
}

/* ---- offline replicas (Kafka's handleLogDirFailure) ---- */

struct offline_set {
    uint8_t (*ids)[16];
    int32_t *parts;
    size_t n, cap;
};

static int offline_add(struct offline_set *o, const uint8_t id[16], int32_t index)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        uint8_t(*ids)[16] = realloc(o->ids, cap * sizeof *ids);
        if (ids != NULL) {
            o->ids = ids;
        }
        int32_t *parts = realloc(o->parts, cap * sizeof *parts);
        if (parts != NULL) {
            o->parts = parts;
        }
        if (ids == NULL || parts == NULL) {
            return -ENOMEM;
        }
        o->cap = cap;
    }
    memcpy(o->ids[o->n], id, 16);
    o->parts[o->n++] = index;
    return 0;
}

/* Tell the controller the whole offline set when it changed. */
static void report_offline(struct replica_manager *rm)
{
    if (!rm->offline_dirty || rm->controller.report_offline == NULL) {
        return;
    }
    struct offline_set o = {0};
    const char *dirs[DATA_DIR_MAX];
    size_t n_dirs = 0;
    int rv = 0;
    size_t b;
    for (struct strmap_entry *e = strmap_first(&rm->topics, &b); e && rv == 0;
         e = strmap_next(&rm->topics, e, &b)) {
        struct hosted_topic *h = e->value;
        const struct metadata_topic *t = metadata_view_topic(rm->metadata, e->key);
        for (int32_t i = 0; t != NULL && i < h->n && rv == 0; i++) {
            if (h->offline[i]) {
                rv = offline_add(&o, t->id, i);
            }
        }
    }
    for (size_t d = 0; d < rm->dirs->count; d++) {
        if (rm->logs.dir_offline[d]) {
            dirs[n_dirs++] = rm->dirs->paths[d];
        }
    }
    if (rv == 0) {
        rv = rm->controller.report_offline(rm->controller.data, (const uint8_t(*)[16])o.ids,
                                           o.parts, o.n, dirs, n_dirs);
    }
    if (rv == 0) {
        rm->offline_dirty = false;
        log_info("replica", "reporting offline replicas to the controller partitions=%zu dirs=%zu",
                 o.n, n_dirs);
    } else {
        log_error("replica",
                  "out of memory reporting offline replicas (retried on the next change)");
    }
    free(o.ids);
    free(o.parts);
}

/* Directory `dir` went offline (log_manager.dir_failed, on a later loop turn
 * than the failure): close every partition in it, so nothing reads or writes
 * there again, answer their waiting requests, and report them. */
static void on_dir_failed(void *owner, size_t dir)
{
    struct replica_manager *rm = owner;
    size_t b, closed = 0;
    for (struct strmap_entry *e = strmap_first(&rm->topics, &b); e;
         e = strmap_next(&rm->topics, e, &b)) {
        struct hosted_topic *h = e->value;
        for (int32_t i = 0; i < h->n; i++) {
            struct partition *p = h->parts[i];
            if (p == NULL || h->dir_index[i] != dir) {
                continue;
            }
            /* Out of the map and marked offline first: the waiters asked
             * below then find no partition and a client's answer
             * KAFKA_STORAGE_ERROR (nothing they wait for is acknowledged),
             * and the fetchers drop it. */
            h->parts[i] = NULL;
            h->offline[i] = true;
            partition_gone(rm, p);
            log_manager_release(&rm->logs, dir);
            partition_close(p);
            closed++;
        }
    }
    log_warn("replica", "partitions taken offline with their log directory dir=%s partitions=%zu",
             rm->dirs->paths[dir], closed);
    rm->offline_dirty = true;
    report_offline(rm);
    if (log_manager_dirs_online(&rm->logs) == 0) {
        log_error("replica", "every log directory is offline: shutting down");
        if (rm->controller.all_dirs_offline != NULL) {
            rm->controller.all_dirs_offline(rm->controller.data);
        }
    }
}

bool replica_manager_partition_offline(const struct replica_manager *rm, const char *topic,
                                       int32_t index)
{
    struct hosted_topic *h = rm->running ? strmap_get(&rm->topics, topic) : NULL;
    return h != NULL && index >= 0 && index < h->n && h->offline[index];
}

int replica_manager_partition_dir(const struct replica_manager *rm, const char *topic,
                                  int32_t index)
{
    struct hosted_topic *h = rm->running ? strmap_get(&rm->topics, topic) : NULL;
    if (h == NULL || index < 0 || index >= h->n || h->parts[index] == NULL) {
        return -1;
    }
    return (int)h->dir_index[index];
}

static bool hosts(const struct metadata_partition *p, int32_t self)
{
    for (int32_t i = 0; i < p->n_replicas; i++) {
        if (p->replicas[i] == self) {
            return true;
        }
    }
    return false;
}

/* Bring hosted partition `i` in line with the metadata: open it when this
 * broker is a replica, close it when no longer one, and follow the leader
 * and leader epoch. */
static int sync_partition(struct replica_manager *rm, const struct metadata_topic *t,
                          struct hosted_topic *h, int32_t i)
{
    int32_t self = metadata_view_local_node(rm->metadata);
    const struct metadata_partition *mp = &t->partitions[i];
    bool wanted = hosts(mp, self);
    if (!wanted) {
        /* Reassigned away (KIP-455): Kafka's StopReplica with deletion. The
         * replica set changes only when the new replicas are in sync, so
         * nothing acknowledged lives only here. */
        if (h->parts[i] != NULL) {
            log_info("replica", "no longer a replica: deleting topic=%s partition=%d", t->name, i);
        }
        close_partitions_range(rm, h, i, i + 1, true);
        rm->offline_dirty |= h->offline[i];
        h->offline[i] = false;
        return 0;
    }
    if (h->offline[i] || h->opening[i] != 0) {
        return 0; /* an open applies the metadata of its time when done */
    }
    if (h->parts[i] == NULL) {
        return open_one(rm, t, h, i);
    }
    struct partition *p = h->parts[i];
    if (mp->leader_epoch < p->leader_epoch) {
        return 0; /* an older image: epochs only grow */
    }
    if (mp->leader_epoch == p->leader_epoch && mp->partition_epoch < p->partition_epoch) {
        return 0; /* we adopted a newer ISR from an AlterPartition answer already */
    }
    struct partition_state st = {mp->leader,   mp->leader_epoch, mp->partition_epoch,
                                 mp->replicas, mp->n_replicas,   mp->isr,
                                 mp->n_isr,    uv_now(rm->loop)};
    bool changed = partition_apply_state(p, &st);
    if (changed) {
        log_info("replica",
                 "partition role topic=%s partition=%d role=%s leader=%d leader_epoch=%d "
                 "isr_size=%d log_end_offset=%lld high_watermark=%lld",
                 t->name, i, partition_is_leader(p) ? "leader" : "follower", mp->leader,
                 mp->leader_epoch, mp->n_isr, (long long)partition_log_end(p),
                 (long long)partition_high_watermark(p));
    }
    if (p->fetch_state != FETCH_NONE) {
        kick_fetcher(rm, p);
    } else if (changed) {
        /* Now the leader, or leaderless: the fetcher that had it drops it
         * from its set and session at its next round, not at its next
         * error answer or full round. */
        rm->fetch_set_gen++;
    }
    return 0;
}

static void close_partitions(struct replica_manager *rm, struct hosted_topic *h, int32_t from,
                             bool destroy)
{
    close_partitions_range(rm, h, from, h->n, destroy);
}

/* Make room in `h` for the topic's partition count (new slots empty). */
static int grow_hosted(struct hosted_topic *h, int32_t n)
{
    if (n <= h->n) {
        return 0;
    }
    struct partition **parts = realloc(h->parts, (size_t)n * sizeof *parts);
    if (parts != NULL) {
        h->parts = parts;
    }
    size_t *dirs = realloc(h->dir_index, (size_t)n * sizeof *dirs);
    if (dirs != NULL) {
        h->dir_index = dirs;
    }
    bool *offline = realloc(h->offline, (size_t)n * sizeof *offline);
    if (offline != NULL) {
        h->offline = offline;
    }
    uint64_t *opening = realloc(h->opening, (size_t)n * sizeof *opening);
    if (opening != NULL) {
        h->opening = opening;
    }
    if (parts == NULL || dirs == NULL || offline == NULL || opening == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = h->n; i < n; i++) {
        h->parts[i] = NULL;
        h->offline[i] = false;
        h->opening[i] = 0;
    }
    h->n = n;
    return 0;
}

/* Grow `h` to the topic's partition count and sync partitions from `from`. */
static int open_partitions(struct replica_manager *rm, const struct metadata_topic *t,
                           struct hosted_topic *h, int32_t from)
{
    if (grow_hosted(h, t->n_partitions) != 0) {
        return -ENOMEM;
    }
    int first_error = 0;
    for (int32_t i = from; i < h->n && i < t->n_partitions; i++) {
        int rv = sync_partition(rm, t, h, i);
        first_error = first_error != 0 ? first_error : rv;
    }
    report_offline(rm);
    return first_error;
}

static int host_topic(struct replica_manager *rm, const struct metadata_topic *t)
{
    struct hosted_topic *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return -ENOMEM;
    }
    int rv = open_partitions(rm, t, h, 0);
    if (rv == 0) {
        rv = strmap_put(&rm->topics, t->name, h);
    }
    if (rv == 0) {
        /* open_partitions reported before `h` was listed, so without this
         * a partition that failed to open here was never reported. */
        for (int32_t i = 0; i < h->n; i++) {
            rm->offline_dirty |= h->offline[i];
        }
        report_offline(rm);
    }
    if (rv != 0) {
        /* All or nothing: open_partitions keeps going past a failed
         * partition, so close the ones it did open before dropping `h`,
         * or they stay open with nobody owning them (and the next attempt
         * opens their directories a second time). */
        close_partitions(rm, h, 0, false);
        hosted_free(h);
    }
    return rv;
}

/* ---- metadata listener ---- */

/* Retention moved a log start (log_manager.start_moved). */
static void on_log_start_moved(void *owner, const char *topic, int32_t index)
{
    struct partition *p = replica_manager_partition(owner, topic, index);
    if (p != NULL) {
        partition_log_start_moved(p);
    }
}

static void on_topic_created(void *data, const struct metadata_topic *t)
{
    host_topic(data, t); /* failures are logged by open_one */
}

static void on_topic_deleted(void *data, const struct metadata_topic *t)
{
    struct replica_manager *rm = data;
    struct hosted_topic *h = strmap_remove(&rm->topics, t->name);
    if (h != NULL) {
        for (int32_t i = 0; i < h->n; i++) {
            rm->offline_dirty |= h->offline[i];
        }
        close_partitions(rm, h, 0, true);
        hosted_free(h);
        report_offline(rm);
    }
}

/* Only the partition that changed is synced: with thousands of partitions
 * an ISR change must not walk them all (issue 14). A topic not hosted yet
 * (its hosting failed for lack of memory) is tried whole again. */
static void on_partition_changed(void *data, const struct metadata_topic *t, int32_t index)
{
    struct replica_manager *rm = data;
    struct hosted_topic *h = strmap_get(&rm->topics, t->name);
    if (h == NULL) {
        host_topic(rm, t);
    } else if (index < h->n) {
        sync_partition(rm, t, h, index); /* failures are logged by open_one */
        report_offline(rm);
    }
}

static void on_partitions_added(void *data, const struct metadata_topic *t, int32_t old_count)
{
    struct replica_manager *rm = data;
    struct hosted_topic *h = strmap_get(&rm->topics, t->name);
    if (h == NULL) {
        host_topic(rm, t);
    } else {
        /* From where `h` ends too, should an earlier growth have failed. */
        open_partitions(rm, t, h, h->n < old_count ? h->n : old_count);
    }
}

static void on_config_changed(void *data, const struct metadata_topic *t)
{
    struct replica_manager *rm = data;
    struct hosted_topic *h = strmap_get(&rm->topics, t->name);
    for (int32_t i = 0; h != NULL && i < h->n; i++) {
        if (h->parts[i] != NULL) {
            partition_set_config(h->parts[i], &t->config);
        }
    }
}

static void on_brokers_changed(void *data, const int32_t *ids, size_t n)
{
    replica_liveness_changed(data, ids, n);
}

/* ---- periodic work: the log manager visits every hosted log ---- */

static void each_log(void *owner, log_manager_visit_fn visit, void *arg)
{
    struct replica_manager *rm = owner;
    size_t b;
    for (struct strmap_entry *e = strmap_first(&rm->topics, &b); e;
         e = strmap_next(&rm->topics, e, &b)) {
        struct hosted_topic *h = e->value;
        for (int32_t i = 0; i < h->n; i++) {
            if (h->parts[i] != NULL) {
                visit(h->parts[i]->log, h->parts[i]->topic, h->parts[i]->index, arg);
            }
        }
    }
}

/* ---- lifecycle ---- */

static void on_isr_timer(uv_timer_t *t)
{
    replica_isr_shrink_lagging(t->data);
}

static void close_all(struct replica_manager *rm)
{
    size_t b;
    for (struct strmap_entry *e = strmap_first(&rm->topics, &b); e;
         e = strmap_next(&rm->topics, e, &b)) {
        close_partitions(rm, e->value, 0, false);
        hosted_free(e->value);
    }
    strmap_free(&rm->topics);
}

static int host_all(struct replica_manager *rm, char *err, size_t errlen)
{
    size_t n = metadata_view_topic_count(rm->metadata);
    const struct metadata_topic **topics = calloc(n ? n : 1, sizeof *topics);
    if (topics == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    n = metadata_view_topics(rm->metadata, topics, n);
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = host_topic(rm, topics[i]);
        if (rv != 0) {
            snprintf(err, errlen, "cannot open the partitions of topic '%s'", topics[i]->name);
        }
    }
    free(topics);
    return rv;
}

int replica_manager_start(struct replica_manager *rm, uv_loop_t *loop,
                          const struct sluice_config *cfg, const struct data_dirs *dirs,
                          struct metadata_view *metadata, char *err, size_t errlen)
{
    memset(rm, 0, sizeof *rm);
    rm->loop = loop;
    rm->cfg = cfg;
    rm->dirs = dirs;
    rm->metadata = metadata;
    rm->self = metadata_view_local_node(metadata);
    rm->running = true;
    replication_quota_init(&rm->leader_quota);
    replication_quota_init(&rm->follower_quota);
    strmap_init(&rm->topics);
    rm->fetch_sessions = replica_session_cache_new(uv_hrtime() ^ ((uint64_t)getpid() << 32),
                                                   replica_service_view_free);
    if (rm->fetch_sessions == NULL ||
        change_journal_init(&rm->changes, REPLICA_CHANGE_JOURNAL_RECORDS) != 0) {
        replica_session_cache_free(rm->fetch_sessions);
        rm->fetch_sessions = NULL;
        snprintf(err, errlen, "out of memory for the fetch sessions");
        return -ENOMEM;
    }
    int rv = log_manager_init(&rm->logs, loop, cfg, dirs, each_log, rm);
    if (rv != 0) {
        snprintf(err, errlen, "out of memory reading the offsets checkpoints");
        log_manager_close(&rm->logs);
        replica_session_cache_free(rm->fetch_sessions);
        rm->fetch_sessions = NULL;
        change_journal_free(&rm->changes);
        free(rm->free_slots);
        return rv;
    }
    rv = host_all(rm, err, errlen);
    /* Recovery runs on the thread pool, a few partitions at a time; nothing
     * is served before every hosted partition is open. */
    log_manager_wait_opens(&rm->logs);
    if (rv != 0) {
        close_fetchers(rm);
        close_all(rm);
        log_manager_close(&rm->logs);
        replica_session_cache_free(rm->fetch_sessions);
        rm->fetch_sessions = NULL;
        change_journal_free(&rm->changes);
        free(rm->free_slots);
        return rv;
    }
    struct metadata_listener l = {rm,
                                  on_topic_created,
                                  on_topic_deleted,
                                  on_partitions_added,
                                  on_config_changed,
                                  on_partition_changed,
                                  on_brokers_changed};
    metadata_view_set_listener(metadata, &l);
    delayed_queue_init(&rm->delayed, loop);
    rm->logs.dir_failed = on_dir_failed;
    rm->logs.start_moved = on_log_start_moved;
    log_manager_start_timers(&rm->logs);
    uv_timer_init(loop, &rm->isr_timer);
    rm->isr_timer.data = rm;
    uint64_t every = (uint64_t)cfg->replica_lag_time_max_ms / 2;
    every = every > 0 ? every : 1;
    uv_timer_start(&rm->isr_timer, on_isr_timer, every, every);
    isr_retry_log_init(&rm->isr_retry_log, loop);
    return 0;
}

void replica_manager_stop(struct replica_manager *rm)
{
    struct metadata_listener none = {0};
    metadata_view_set_listener(rm->metadata, &none);
    rm->running = false;
    log_manager_wait_opens(&rm->logs); /* what they open is closed below */
    run_opens_waiters(rm);             /* any left answer now */
    close_fetchers(rm);
    uv_close((uv_handle_t *)&rm->isr_timer, NULL);
    isr_retry_log_close(&rm->isr_retry_log);
    /* Waiting fetches answer now with what they have. */
    delayed_queue_close(&rm->delayed, NULL);
    replica_session_cache_free(rm->fetch_sessions); /* after the parked fetches answered */
    rm->fetch_sessions = NULL;
    log_manager_stop(&rm->logs); /* stops a log_manager_flush_all too */
    close_all(rm);
    change_journal_free(&rm->changes);
    free(rm->free_slots);
    rm->free_slots = NULL;
    log_manager_close(&rm->logs);
}

size_t replica_manager_opening(const struct replica_manager *rm)
{
    return log_manager_opening(&rm->logs);
}

size_t replica_manager_deletions_pending(const struct replica_manager *rm)
{
    return log_manager_deletions_pending(&rm->logs);
}

struct partition *replica_manager_partition(const struct replica_manager *rm, const char *topic,
                                            int32_t index)
{
    if (!rm->running) {
        return NULL;
    }
    struct hosted_topic *h = strmap_get(&rm->topics, topic);
    if (h == NULL || index < 0 || index >= h->n) {
        return NULL;
    }
    return h->parts[index];
}

void replica_manager_park(struct replica_manager *rm, struct delayed_op *op, uint64_t timeout_ms)
{
    delayed_queue_add(&rm->delayed, op, timeout_ms);
}

void replica_manager_set_controller(struct replica_manager *rm, const struct replica_controller *c)
{
    rm->controller = *c;
    report_offline(rm); /* what start-up found */
}

void replica_manager_each_partition(struct replica_manager *rm,
                                    void (*fn)(struct partition *p, void *arg), void *arg)
{
    size_t b;
    for (struct strmap_entry *e = strmap_first(&rm->topics, &b); e;
         e = strmap_next(&rm->topics, e, &b)) {
        struct hosted_topic *h = e->value;
        for (int32_t i = 0; i < h->n; i++) {
            if (h->parts[i] != NULL) {
                fn(h->parts[i], arg);
            }
        }
    }
}

void replica_manager_set_tls(struct replica_manager *rm, const struct internal_tls *tls)
{
    rm->tls = tls != NULL && internal_tls_enabled(tls) ? tls : NULL;
}

const char *replica_listener_name(const struct sluice_config *cfg)
{
    const char *n = cfg->inter_broker_listener_name;
    return n != NULL && n[0] != '\0' ? n : "REPLICATION";
}

const struct metadata_endpoint *replica_manager_endpoint(struct replica_manager *rm, int32_t id)
{
    size_t n = metadata_view_broker_count(rm->metadata);
    for (size_t i = 0; i < n; i++) {
        const struct metadata_broker *b = metadata_view_broker(rm->metadata, i);
        if (b->node_id == id) {
            return metadata_broker_endpoint(b, replica_listener_name(rm->cfg));
        }
    }
    return NULL;
}

int64_t replica_manager_broker_epoch(struct replica_manager *rm)
{
    return rm->controller.broker_epoch != NULL ? rm->controller.broker_epoch(rm->controller.data)
                                               : -1;
}

bool replica_manager_may_lead(struct replica_manager *rm)
{
    if (rm->controller.may_lead == NULL) {
        return true;
    }
    /* The loop's cached time can be far behind after a pause (SIGSTOP, a
     * stalled VM) that struck mid-iteration: the callbacks still queued
     * would judge isolation by the time before the pause. */
    uv_update_time(rm->loop);
    return rm->controller.may_lead(rm->controller.data, uv_now(rm->loop));
}

static void wake_one(struct partition *p, void *arg)
{
    (void)arg;
    delayed_key_notify(&p->waiters);
}

void replica_manager_wake_all(struct replica_manager *rm)
{
    replica_manager_each_partition(rm, wake_one, NULL);
    change_journal_reset(&rm->changes); /* and the parked session fetches */
}

struct replication_quota *replica_manager_quota(struct replica_manager *rm, bool leader)
{
    struct replication_quota *q = leader ? &rm->leader_quota : &rm->follower_quota;
    const char *rate = metadata_view_broker_config(rm->metadata, rm->self,
                                                   leader ? CONFIG_LEADER_THROTTLED_RATE
                                                          : CONFIG_FOLLOWER_THROTTLED_RATE);
    replication_quota_set_bound(q, broker_throttled_rate(rate));
    return q;
}

/* `name` as `<topic>-<partition>`: the topic's length and the index, or -1. */
static int32_t partition_dir_parse(const char *name, size_t *topic_len)
{
    const char *dash = strrchr(name, '-');
    if (dash == NULL || dash == name || dash[1] == '\0' || strlen(dash + 1) > 9) {
        return -1;
    }
    int32_t index = 0;
    for (const char *c = dash + 1; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') {
            return -1;
        }
        index = index * 10 + (*c - '0');
    }
    *topic_len = (size_t)(dash - name);
    return index;
}

static bool still_assigned(struct replica_manager *rm, const char *topic, int32_t index)
{
    struct hosted_topic *h = strmap_get(&rm->topics, topic);
    if (h != NULL && index < h->n && (h->parts[index] != NULL || h->offline[index])) {
        return true;
    }
    const struct metadata_topic *t = metadata_view_topic(rm->metadata, topic);
    return t != NULL && index < t->n_partitions && hosts(&t->partitions[index], rm->self);
}

void replica_manager_delete_strays(struct replica_manager *rm)
{
    for (size_t d = 0; d < rm->dirs->count; d++) {
        if (rm->logs.dir_offline[d]) {
            continue;
        }
        DIR *dir = opendir(rm->dirs->paths[d]);
        if (dir == NULL) {
            continue;
        }
        struct dirent *e;
        char topic[TOPIC_NAME_MAX + 1], path[4096];
        while ((e = readdir(dir)) != NULL) {
            size_t len;
            int32_t index = partition_dir_parse(e->d_name, &len);
            if (index < 0 || len > TOPIC_NAME_MAX ||
                strncmp(e->d_name, "__cluster_metadata", 18) == 0) {
                continue;
            }
            memcpy(topic, e->d_name, len);
            topic[len] = '\0';
            snprintf(path, sizeof path, "%s/%s", rm->dirs->paths[d], e->d_name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || still_assigned(rm, topic, index)) {
                continue;
            }
            log_warn("replica",
                     "deleting a stray replica: the metadata does not assign topic=%s "
                     "partition=%d to this broker dir=%s",
                     topic, index, path);
            log_manager_delete_stray(&rm->logs, path);
        }
        closedir(dir);
    }
}
