/* Hosted partitions; see replica_manager.h. */
#include "broker/replica/replica_manager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define FLUSH_TICK_MS          1000
#define CHECKPOINT_EVERY_TICKS 5 /* replica.high.watermark.checkpoint.interval.ms = 5000 */

struct hosted_topic {
    int32_t n;
    struct partition **parts;
    size_t *dir_index; /* which data dir each partition lives in */
};

static void hosted_free(struct hosted_topic *h)
{
    if (h != NULL) {
        free(h->parts);
        free(h->dir_index);
        free(h);
    }
}

/* The directory holding `topic-index` already, or the least loaded one. */
static size_t choose_dir(struct replica_manager *rm, const char *topic, int32_t index)
{
    size_t best = 0;
    for (size_t i = 0; i < rm->dirs->count; i++) {
        char path[4096];
        struct stat st;
        if (partition_log_dir_name(rm->dirs->paths[i], topic, index, path, sizeof path) == 0 &&
            stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            return i;
        }
        if (rm->partitions_in_dir[i] < rm->partitions_in_dir[best]) {
            best = i;
        }
    }
    return best;
}

/* ---- the topic id a partition directory belongs to (KIP-516) ----
 *
 * `<dir>/partition.metadata` ("version: 0" and "topic_id: <hex>", written
 * once) ties a directory to its topic's id. A directory left by a topic that
 * was deleted while this broker was down would otherwise become the log of
 * a new topic with the same name, old records included. */

#define PARTITION_METADATA_FILE "partition.metadata"

static void id_hex(const uint8_t id[16], char out[33])
{
    for (int i = 0; i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02x", id[i]);
    }
}

/* 1: the directory holds another topic's partition; 0 otherwise (no file
 * yet, or the same id). */
static int topic_id_stale(const char *path, const uint8_t id[16])
{
    char file[4200], line[128], want[33];
    snprintf(file, sizeof file, "%s/" PARTITION_METADATA_FILE, path);
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        return 0;
    }
    id_hex(id, want);
    int stale = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "topic_id: ", 10) == 0) {
            stale = strncmp(line + 10, want, 32) != 0;
        }
    }
    fclose(f);
    return stale;
}

/* Written through a .tmp (log recovery removes a leftover one) and renamed. */
static void topic_id_write(const char *path, const uint8_t id[16])
{
    char file[4200], tmp[4300], hex[33];
    snprintf(file, sizeof file, "%s/" PARTITION_METADATA_FILE, path);
    if (access(file, F_OK) == 0) {
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    id_hex(id, hex);
    FILE *f = fopen(tmp, "w");
    int rv = f != NULL && fprintf(f, "version: 0\ntopic_id: %s\n", hex) > 0 ? 0 : -1;
    if (f != NULL && (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)) {
        rv = -1;
    }
    if (rv != 0 || rename(tmp, file) != 0) {
        log_warn("replica", "cannot record the topic id dir=%s error=%s", path, strerror(errno));
        unlink(tmp);
    }
}

/* Open the partition in `path`, first deleting what an earlier topic of the
 * same name left there. */
static int open_in(struct replica_manager *rm, const char *path, const struct metadata_topic *t,
                   int32_t index, struct partition **out, char *err, size_t errlen)
{
    int32_t epoch = t->partitions[index].leader_epoch;
    if (topic_id_stale(path, t->id)) {
        log_warn("replica", "deleting the partition of an earlier topic with this name dir=%s",
                 path);
        struct partition *old;
        if (partition_open(rm->loop, path, t->name, index, epoch, &t->config, &old, err, errlen) ==
            0) {
            partition_destroy(old);
        }
    }
    int rv = partition_open(rm->loop, path, t->name, index, epoch, &t->config, out, err, errlen);
    if (rv == 0) {
        topic_id_write(path, t->id);
    }
    return rv;
}

static int open_one(struct replica_manager *rm, const struct metadata_topic *t,
                    struct hosted_topic *h, int32_t index)
{
    size_t d = choose_dir(rm, t->name, index);
    char path[4096], err[512];
    int rv = partition_log_dir_name(rm->dirs->paths[d], t->name, index, path, sizeof path);
    if (rv == 0) {
        rv = open_in(rm, path, t, index, &h->parts[index], err, sizeof err);
    } else {
        snprintf(err, sizeof err, "directory name too long");
    }
    if (rv != 0) {
        log_error("replica", "cannot open partition topic=%s partition=%d dir=%s error=\"%s\"",
                  t->name, index, path, err);
        return rv;
    }
    h->dir_index[index] = d;
    rm->partitions_in_dir[d]++;
    return 0;
}

static void close_partitions_range(struct replica_manager *rm, struct hosted_topic *h, int32_t from,
                                   int32_t to, bool destroy)
{
    for (int32_t i = from; i < to; i++) {
        if (h->parts[i] != NULL) {
            rm->partitions_in_dir[h->dir_index[i]]--;
            if (destroy) {
                partition_destroy(h->parts[i]);
            } else {
                partition_close(h->parts[i]);
            }
            h->parts[i] = NULL;
        }
    }
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
        close_partitions_range(rm, h, i, i + 1, false);
        return 0;
    }
    bool opened = h->parts[i] == NULL;
    if (opened) {
        int rv = open_one(rm, t, h, i);
        if (rv != 0) {
            return rv;
        }
    }
    struct partition *p = h->parts[i];
    bool leader = mp->leader == self;
    if (p->leader_epoch != mp->leader_epoch || p->is_leader != leader) {
        log_info("replica",
                 "partition role topic=%s partition=%d role=%s leader=%d leader_epoch=%d", t->name,
                 i, leader ? "leader" : "follower", mp->leader, mp->leader_epoch);
    }
    if (leader && (opened || p->leader_epoch != mp->leader_epoch || !p->is_leader)) {
        /* Kafka's makeLeader: the new epoch starts at our log end, so
         * OffsetForLeaderEpoch ends the older ones there (KIP-101). */
        int rv = partition_log_begin_epoch(p->log, mp->leader_epoch);
        if (rv != 0) {
            log_error("replica",
                      "cannot begin leader epoch topic=%s partition=%d epoch=%d error=%s", t->name,
                      i, mp->leader_epoch, log_err_name(rv));
        }
    }
    p->leader_epoch = mp->leader_epoch;
    p->is_leader = leader;
    return 0;
}

static void close_partitions(struct replica_manager *rm, struct hosted_topic *h, int32_t from,
                             bool destroy)
{
    close_partitions_range(rm, h, from, h->n, destroy);
}

/* Grow `h` to the topic's partition count and sync every partition. */
static int open_partitions(struct replica_manager *rm, const struct metadata_topic *t,
                           struct hosted_topic *h)
{
    int32_t old = h->n;
    if (t->n_partitions > old) {
        struct partition **parts = realloc(h->parts, (size_t)t->n_partitions * sizeof *parts);
        if (parts != NULL) {
            h->parts = parts;
        }
        size_t *dirs = realloc(h->dir_index, (size_t)t->n_partitions * sizeof *dirs);
        if (dirs != NULL) {
            h->dir_index = dirs;
        }
        if (parts == NULL || dirs == NULL) {
            return -ENOMEM;
        }
        for (int32_t i = old; i < t->n_partitions; i++) {
            h->parts[i] = NULL;
        }
        h->n = t->n_partitions;
    }
    int first_error = 0;
    for (int32_t i = 0; i < h->n && i < t->n_partitions; i++) {
        int rv = sync_partition(rm, t, h, i);
        first_error = first_error != 0 ? first_error : rv;
    }
    return first_error;
}

static int host_topic(struct replica_manager *rm, const struct metadata_topic *t)
{
    struct hosted_topic *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return -ENOMEM;
    }
    int rv = open_partitions(rm, t, h);
    if (rv == 0) {
        rv = strmap_put(&rm->topics, t->name, h);
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

static void on_topic_created(void *data, const struct metadata_topic *t)
{
    host_topic(data, t); /* failures are logged by open_one */
}

static void on_topic_deleted(void *data, const struct metadata_topic *t)
{
    struct replica_manager *rm = data;
    struct hosted_topic *h = strmap_remove(&rm->topics, t->name);
    if (h != NULL) {
        close_partitions(rm, h, 0, true);
        hosted_free(h);
    }
}

static void on_partitions_changed(void *data, const struct metadata_topic *t)
{
    struct replica_manager *rm = data;
    struct hosted_topic *h = strmap_get(&rm->topics, t->name);
    if (h == NULL) {
        host_topic(rm, t);
    } else {
        open_partitions(rm, t, h); /* failures are logged by open_one */
    }
}

static void on_partitions_added(void *data, const struct metadata_topic *t, int32_t old_count)
{
    (void)old_count;
    on_partitions_changed(data, t);
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

/* ---- periodic work ---- */

typedef void (*partition_fn)(struct replica_manager *rm, struct partition *p);

static void for_each_partition(struct replica_manager *rm, partition_fn fn)
{
    size_t b;
    for (struct strmap_entry *e = strmap_first(&rm->topics, &b); e;
         e = strmap_next(&rm->topics, e, &b)) {
        struct hosted_topic *h = e->value;
        for (int32_t i = 0; i < h->n; i++) {
            if (h->parts[i] != NULL) {
                fn(rm, h->parts[i]);
            }
        }
    }
}

static void retention_one(struct replica_manager *rm, struct partition *p)
{
    uv_update_time(rm->loop);
    int64_t now_ms = (int64_t)uv_now(rm->loop);
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
        now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    int rv = partition_log_apply_retention(p->log, now_ms);
    if (rv > 0) {
        log_info("replica",
                 "retention deleted segments topic=%s partition=%d segments=%d "
                 "log_start_offset=%lld",
                 p->topic, p->index, rv, (long long)partition_log_start(p));
    } else if (rv < 0) {
        log_error("replica", "retention failed topic=%s partition=%d error=%s", p->topic, p->index,
                  log_err_name(rv));
    }
}

static void flush_one(struct replica_manager *rm, struct partition *p)
{
    partition_log_flush_if_due(p->log);
    if (rm->checkpoint_ticks == 0) {
        partition_log_checkpoint(p->log);
    }
}

static void on_retention(uv_timer_t *t)
{
    for_each_partition(t->data, retention_one);
}

static void on_flush(uv_timer_t *t)
{
    struct replica_manager *rm = t->data;
    rm->checkpoint_ticks = (rm->checkpoint_ticks + 1) % CHECKPOINT_EVERY_TICKS;
    for_each_partition(rm, flush_one);
}

/* ---- lifecycle ---- */

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
    strmap_init(&rm->topics);
    int rv = host_all(rm, err, errlen);
    if (rv != 0) {
        close_all(rm);
        return rv;
    }
    struct metadata_listener l = {rm,
                                  on_topic_created,
                                  on_topic_deleted,
                                  on_partitions_added,
                                  on_config_changed,
                                  on_partitions_changed};
    metadata_view_set_listener(metadata, &l);
    delayed_queue_init(&rm->delayed, loop);
    uv_timer_init(loop, &rm->retention_timer);
    uv_timer_init(loop, &rm->flush_timer);
    rm->retention_timer.data = rm->flush_timer.data = rm;
    uint64_t every = (uint64_t)cfg->log_retention_check_interval_ms;
    uv_timer_start(&rm->retention_timer, on_retention, every, every);
    uv_timer_start(&rm->flush_timer, on_flush, FLUSH_TICK_MS, FLUSH_TICK_MS);
    return 0;
}

void replica_manager_stop(struct replica_manager *rm)
{
    struct metadata_listener none = {0};
    metadata_view_set_listener(rm->metadata, &none);
    /* Waiting fetches answer now with what they have. */
    delayed_queue_close(&rm->delayed, NULL);
    uv_close((uv_handle_t *)&rm->retention_timer, NULL);
    uv_close((uv_handle_t *)&rm->flush_timer, NULL);
    close_all(rm);
}

struct partition *replica_manager_partition(const struct replica_manager *rm, const char *topic,
                                            int32_t index)
{
    struct hosted_topic *h = strmap_get(&rm->topics, topic);
    if (h == NULL || index < 0 || index >= h->n) {
        return NULL;
    }
    return h->parts[index];
}
