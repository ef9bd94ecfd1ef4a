/* metadata_view implemented by this broker alone (no controller quorum):
 * topics are created, deleted and altered here and persisted in
 * `<dir>/topic-metadata` so a restart keeps them and their configs. The file
 * is rewritten whole and atomically (tmp, fsync, rename, fsync dir) on every
 * change: topic changes are rare and the file small.
 *
 * File format, one record per line, tab-separated:
 *   cluster <cluster id>
 *   topic   <name> <32 hex digit id> <partition count>
 *   config  <topic name> <key> <value>     (only keys the topic sets itself)
 */
#include "broker/metadata/metadata_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/fs_util.h"
#include "controller/placement.h"
#include "common/log.h"
#include "common/strmap.h"

#define METADATA_FILE "topic-metadata"

/* Kafka error codes (ErrorCodes in the protocol reference). */
enum {
    ERR_NONE = 0,
    ERR_UNKNOWN_SERVER_ERROR = -1,
    ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    ERR_INVALID_TOPIC_EXCEPTION = 17,
    ERR_TOPIC_ALREADY_EXISTS = 36,
    ERR_INVALID_PARTITIONS = 37,
    ERR_INVALID_REPLICATION_FACTOR = 38,
    ERR_INVALID_CONFIG = 40,
    ERR_INVALID_REQUEST = 42,
    ERR_POLICY_VIOLATION = 44,
    ERR_KAFKA_STORAGE_ERROR = 56,
    ERR_TOPIC_DELETION_DISABLED = 73,
};

struct metadata_local {
    const struct sluice_config *cfg;
    char *dir;
    char cluster_id[64];
    struct metadata_broker self;
    struct strmap topics; /* name -> struct metadata_topic * */
    struct metadata_listener listener;
};

static void topic_free(struct metadata_topic *t)
{
    if (t != NULL) {
        topic_config_free(&t->config);
        free(t->partitions);
        free(t);
    }
}

static void fill_partition(const struct metadata_local *v, struct metadata_partition *p,
                           int32_t index)
{
    memset(p, 0, sizeof *p);
    p->index = index;
    p->leader = v->self.node_id;
    p->leader_epoch = 0;
    p->replicas[0] = p->isr[0] = v->self.node_id;
    p->n_replicas = p->n_isr = 1;
}

static int set_partition_count(const struct metadata_local *v, struct metadata_topic *t,
                               int32_t count)
{
    struct metadata_partition *p = realloc(t->partitions, (size_t)count * sizeof *p);
    if (p == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = t->n_partitions; i < count; i++) {
        fill_partition(v, &p[i], i);
    }
    t->partitions = p;
    t->n_partitions = count;
    return 0;
}

static struct metadata_topic *topic_new(const struct metadata_local *v, const char *name,
                                        const uint8_t id[16], int32_t partitions)
{
    struct metadata_topic *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    memcpy(t->id, id, 16);
    if (topic_config_init(&t->config, v->cfg) != 0 || set_partition_count(v, t, partitions) != 0) {
        topic_free(t);
        return NULL;
    }
    return t;
}

static void random_id(uint8_t id[16])
{
    if (getrandom(id, 16, 0) != 16) {
        /* No entropy source: fall back to something unique enough for an id. */
        uint64_t a = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), b = (uint64_t)(uintptr_t)id;
        memcpy(id, &a, 8);
        memcpy(id + 8, &b, 8);
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 UUID, as Kafka's Uuid.randomUuid */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* ---- persistence ---- */

static int write_topic(FILE *f, const struct metadata_topic *t)
{
    fprintf(f, "topic\t%s\t", t->name);
    for (int i = 0; i < 16; i++) {
        fprintf(f, "%02x", t->id[i]);
    }
    fprintf(f, "\t%d\n", t->n_partitions);
    size_t n;
    const struct config_def *defs = topic_config_defs(&n);
    for (size_t i = 0; i < n; i++) {
        char text[128];
        const char *value = config_format(&defs[i], &t->config, text, sizeof text);
        if (t->config.source[i] == CONFIG_SOURCE_TOPIC && value != NULL) {
            fprintf(f, "config\t%s\t%s\t%s\n", t->name, defs[i].name, value);
        }
    }
    return ferror(f) ? -EIO : 0;
}

static int persist(const struct metadata_local *v)
{
    char path[4096], tmp[4096 + 8];
    snprintf(path, sizeof path, "%s/%s", v->dir, METADATA_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return -errno;
    }
    int rv = fprintf(f, "cluster\t%s\n", v->cluster_id) < 0 ? -EIO : 0;
    size_t b;
    for (struct strmap_entry *e = strmap_first(&v->topics, &b); e && rv == 0;
         e = strmap_next(&v->topics, e, &b)) {
        rv = write_topic(f, e->value);
    }
    if (rv == 0 && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        rv = -errno;
    }
    if (fclose(f) != 0 && rv == 0) {
        rv = -errno;
    }
    if (rv == 0 && rename(tmp, path) != 0) {
        rv = -errno;
    }
    if (rv == 0) {
        rv = fs_fsync_dir(v->dir);
    }
    if (rv != 0) {
        log_error("metadata", "cannot persist topic metadata path=%s error=%s", path,
                  strerror(-rv));
        unlink(tmp);
    }
    return rv;
}

static int parse_hex_id(const char *hex, uint8_t id[16])
{
    if (strlen(hex) != 32) {
        return -EINVAL;
    }
    for (int i = 0; i < 16; i++) {
        unsigned x;
        if (sscanf(hex + 2 * i, "%2x", &x) != 1) {
            return -EINVAL;
        }
        id[i] = (uint8_t)x;
    }
    return 0;
}

/* One line of the file, split on tabs in place. */
static int load_line(struct metadata_local *v, char *line, char *err, size_t errlen)
{
    char *fields[4] = {0};
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, "\t\n", &save); tok && n < 4;
         tok = strtok_r(NULL, "\t\n", &save)) {
        fields[n++] = tok;
    }
    if (n == 2 && strcmp(fields[0], "cluster") == 0) {
        snprintf(v->cluster_id, sizeof v->cluster_id, "%s", fields[1]);
        return 0;
    }
    uint8_t id[16];
    if (n == 4 && strcmp(fields[0], "topic") == 0 && parse_hex_id(fields[2], id) == 0) {
        long count = strtol(fields[3], NULL, 10);
        struct metadata_topic *t = count > 0 && count <= METADATA_MAX_PARTITIONS
                                       ? topic_new(v, fields[1], id, (int32_t)count)
                                       : NULL;
        if (t == NULL || strmap_put(&v->topics, t->name, t) != 0) {
            topic_free(t);
            snprintf(err, errlen, "bad or unloadable topic record for '%s'", fields[1]);
            return -EINVAL;
        }
        return 0;
    }
    if (n == 4 && strcmp(fields[0], "config") == 0) {
        struct metadata_topic *t = strmap_get(&v->topics, fields[1]);
        char why[256];
        if (t == NULL || topic_config_set(&t->config, fields[2], fields[3], why, sizeof why) < 0) {
            snprintf(err, errlen, "bad config record %s=%s for topic '%s'", fields[2], fields[3],
                     fields[1]);
            return -EINVAL;
        }
        return 0;
    }
    snprintf(err, errlen, "unrecognised line starting '%s'", n > 0 ? fields[0] : "");
    return -EINVAL;
}

static int load(struct metadata_local *v, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", v->dir, METADATA_FILE);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    char line[8192], why[512];
    int rv = 0;
    for (int lineno = 1; rv == 0 && fgets(line, sizeof line, f) != NULL; lineno++) {
        rv = load_line(v, line, why, sizeof why);
        if (rv != 0) {
            snprintf(err, errlen, "%s line %d: %s", path, lineno, why);
        }
    }
    fclose(f);
    return rv;
}

/* ---- lifecycle and reads ---- */

static void self_init(struct metadata_local *v, const struct listener_set *listeners)
{
    v->self.node_id = v->cfg->node_id;
    for (size_t i = 0; i < listeners->n_advertised && i < LISTENER_MAX; i++) {
        struct metadata_endpoint *ep = &v->self.endpoints[v->self.n_endpoints++];
        snprintf(ep->listener, sizeof ep->listener, "%s", listeners->advertised[i].name);
        snprintf(ep->host, sizeof ep->host, "%s", listeners->advertised[i].host);
        ep->port = listeners->advertised[i].port;
    }
}

static void cluster_id_init(struct metadata_local *v)
{
    if (v->cfg->cluster_id != NULL && v->cfg->cluster_id[0] != '\0') {
        snprintf(v->cluster_id, sizeof v->cluster_id, "%s", v->cfg->cluster_id);
        return;
    }
    if (v->cluster_id[0] != '\0') {
        return; /* from the file */
    }
    /* Kafka cluster ids are 16 random bytes in URL-safe base64 (22 chars). */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t id[16];
    random_id(id);
    for (int i = 0; i < 22; i++) {
        int bit = i * 6, byte = bit / 8, shift = bit % 8;
        unsigned w = (unsigned)id[byte] << 8 | (byte + 1 < 16 ? id[byte + 1] : 0);
        v->cluster_id[i] = b64[(w >> (10 - shift)) & 0x3f];
    }
    v->cluster_id[22] = '\0';
}

int metadata_local_open(struct metadata_local **out, const struct sluice_config *cfg,
                        const struct listener_set *listeners, const char *dir, char *err,
                        size_t errlen)
{
    struct metadata_local *v = calloc(1, sizeof *v);
    if (v == NULL || (v->dir = strdup(dir)) == NULL) {
        free(v);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    v->cfg = cfg;
    strmap_init(&v->topics);
    self_init(v, listeners);
    int rv = load(v, err, errlen);
    if (rv != 0) {
        metadata_local_close(v);
        return rv;
    }
    cluster_id_init(v);
    *out = v;
    log_info("metadata", "loaded topic metadata dir=%s topics=%zu cluster.id=%s", dir,
             v->topics.count, v->cluster_id);
    return 0;
}

void metadata_local_close(struct metadata_local *v)
{
    if (v == NULL) {
        return;
    }
    size_t b;
    for (struct strmap_entry *e = strmap_first(&v->topics, &b); e;
         e = strmap_next(&v->topics, e, &b)) {
        topic_free(e->value);
    }
    strmap_free(&v->topics);
    free(v->dir);
    free(v);
}

void metadata_local_set_listener(struct metadata_local *v, const struct metadata_listener *l)
{
    v->listener = *l;
}

const char *metadata_local_cluster_id(const struct metadata_local *v)
{
    return v->cluster_id;
}

int32_t metadata_local_controller_id(const struct metadata_local *v)
{
    return v->self.node_id; /* this broker owns the metadata */
}

int32_t metadata_local_local_node(const struct metadata_local *v)
{
    return v->self.node_id;
}

size_t metadata_local_broker_count(const struct metadata_local *v)
{
    (void)v;
    return 1;
}

const struct metadata_broker *metadata_local_broker(const struct metadata_local *v, size_t i)
{
    return i == 0 ? &v->self : NULL;
}

const struct metadata_topic *metadata_local_topic(const struct metadata_local *v, const char *name)
{
    return strmap_get(&v->topics, name);
}

size_t metadata_local_topic_count(const struct metadata_local *v)
{
    return v->topics.count;
}

static int compare_topics(const void *a, const void *b)
{
    const struct metadata_topic *x = *(const struct metadata_topic *const *)a;
    const struct metadata_topic *y = *(const struct metadata_topic *const *)b;
    return strcmp(x->name, y->name);
}

size_t metadata_local_topics(const struct metadata_local *v, const struct metadata_topic **out,
                             size_t max)
{
    size_t n = 0, b;
    for (struct strmap_entry *e = strmap_first(&v->topics, &b); e && n < max;
         e = strmap_next(&v->topics, e, &b)) {
        out[n++] = e->value;
    }
    if (n > 1) {
        qsort(out, n, sizeof *out, compare_topics);
    }
    return n;
}

/* ---- mutations ---- */

static int16_t check_new_name(const struct metadata_local *v, const char *name, char *err,
                              size_t errlen)
{
    if (topic_name_validate(name, err, errlen) != 0) {
        return ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (topic_name_reserved(name)) {
        snprintf(err, errlen, "Creation of internal topic %s is prohibited.", name);
        return ERR_INVALID_REQUEST;
    }
    if (strmap_get(&v->topics, name) != NULL) {
        snprintf(err, errlen, "Topic '%s' already exists.", name);
        return ERR_TOPIC_ALREADY_EXISTS;
    }
    size_t b;
    for (struct strmap_entry *e = strmap_first(&v->topics, &b); e;
         e = strmap_next(&v->topics, e, &b)) {
        if (topic_name_collides(e->key, name)) {
            snprintf(err, errlen,
                     "Topic '%s' collides with existing topic: %s ('.' and '_' are equivalent "
                     "in metric names)",
                     name, e->key);
            return ERR_INVALID_TOPIC_EXCEPTION;
        }
    }
    return ERR_NONE;
}

static int16_t apply_configs(struct topic_config *tc, const struct metadata_config_entry *entries,
                             size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (entries[i].key == NULL) {
            snprintf(err, errlen, "config key is null");
            return ERR_INVALID_CONFIG;
        }
        if (entries[i].value == NULL) {
            continue; /* deletions are applied by the caller */
        }
        int rv = topic_config_set(tc, entries[i].key, entries[i].value, why, sizeof why);
        if (rv == CONFIG_UNKNOWN_KEY) {
            snprintf(err, errlen, "Unknown topic config name: %s", entries[i].key);
            return ERR_INVALID_CONFIG;
        }
        if (rv != 0) {
            snprintf(err, errlen, "%s", why);
            return ERR_INVALID_CONFIG;
        }
    }
    return ERR_NONE;
}

/* max.broker.partitions (controller/placement.h), checked before the topic
 * or partitions are recorded: this broker hosts every replica. */
static int16_t check_partition_budget(const struct metadata_local *v, int64_t adding, char *err,
                                      size_t errlen)
{
    int64_t existing = 0;
    size_t bucket;
    for (struct strmap_entry *e = strmap_first(&v->topics, &bucket); e != NULL;
         e = strmap_next(&v->topics, e, &bucket)) {
        existing += ((const struct metadata_topic *)e->value)->n_partitions;
    }
    int64_t limit = placement_broker_partition_limit(v->cfg->max_broker_partitions);
    if (!placement_fits(existing, adding, metadata_local_broker_count(v), limit)) {
        snprintf(err, errlen,
                 "%lld more partitions would exceed max.broker.partitions: %lld per broker, "
                 "%lld hosted",
                 (long long)adding, (long long)limit, (long long)existing);
        return ERR_POLICY_VIOLATION;
    }
    return ERR_NONE;
}

static int16_t check_counts(const struct metadata_local *v, int32_t partitions, int32_t replication,
                            char *err, size_t errlen)
{
    if (partitions <= 0 || partitions > METADATA_MAX_PARTITIONS) {
        snprintf(err, errlen, "Number of partitions must be between 1 and %d (got %d).",
                 METADATA_MAX_PARTITIONS, partitions);
        return ERR_INVALID_PARTITIONS;
    }
    if (replication <= 0) {
        snprintf(err, errlen, "Replication factor must be larger than 0 (got %d).", replication);
        return ERR_INVALID_REPLICATION_FACTOR;
    }
    if ((size_t)replication > metadata_local_broker_count(v)) {
        snprintf(err, errlen,
                 "Unable to replicate the partition %d time(s): The target replication factor "
                 "of %d cannot be reached because only %zu broker(s) are registered.",
                 replication, replication, metadata_local_broker_count(v));
        return ERR_INVALID_REPLICATION_FACTOR;
    }
    return ERR_NONE;
}

int16_t metadata_local_create_topic(struct metadata_local *v,
                                    const struct metadata_topic_spec *spec, bool validate_only,
                                    const struct metadata_topic **created, char *err, size_t errlen)
{
    int32_t partitions = spec->num_partitions == -1 ? v->cfg->num_partitions : spec->num_partitions;
    int32_t replication = spec->replication_factor == -1 ? v->cfg->default_replication_factor
                                                         : spec->replication_factor;
    int16_t code = check_new_name(v, spec->name, err, errlen);
    if (code == ERR_NONE) {
        code = check_counts(v, partitions, replication, err, errlen);
    }
    if (code == ERR_NONE) {
        code = check_partition_budget(v, (int64_t)partitions * replication, err, errlen);
    }
    if (code != ERR_NONE) {
        return code;
    }
    uint8_t id[16];
    random_id(id);
    struct metadata_topic *t = topic_new(v, spec->name, id, partitions);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return ERR_UNKNOWN_SERVER_ERROR;
    }
    code = apply_configs(&t->config, spec->configs, spec->n_configs, err, errlen);
    if (code != ERR_NONE || validate_only) {
        topic_free(t);
        return code;
    }
    if (strmap_put(&v->topics, t->name, t) != 0 || persist(v) != 0) {
        strmap_remove(&v->topics, t->name);
        topic_free(t);
        snprintf(err, errlen, "cannot persist topic metadata");
        return ERR_KAFKA_STORAGE_ERROR;
    }
    log_info("metadata", "created topic topic=%s partitions=%d replication.factor=%d", t->name,
             partitions, replication);
    if (v->listener.topic_created != NULL) {
        v->listener.topic_created(v->listener.data, t);
    }
    if (created != NULL) {
        *created = t;
    }
    return ERR_NONE;
}

int16_t metadata_local_delete_topic(struct metadata_local *v, const char *name, char *err,
                                    size_t errlen)
{
    if (!v->cfg->delete_topic_enable) {
        snprintf(err, errlen, "Topic deletion is disabled (delete.topic.enable=false).");
        return ERR_TOPIC_DELETION_DISABLED;
    }
    struct metadata_topic *t = strmap_remove(&v->topics, name);
    if (t == NULL) {
        snprintf(err, errlen, "This server does not host this topic-partition.");
        return ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (persist(v) != 0) {
        strmap_put(&v->topics, t->name, t);
        snprintf(err, errlen, "cannot persist topic metadata");
        return ERR_KAFKA_STORAGE_ERROR;
    }
    log_info("metadata", "deleted topic topic=%s", t->name);
    if (v->listener.topic_deleted != NULL) {
        v->listener.topic_deleted(v->listener.data, t);
    }
    topic_free(t);
    return ERR_NONE;
}

int16_t metadata_local_add_partitions(struct metadata_local *v, const char *name, int32_t total,
                                      bool validate_only, char *err, size_t errlen)
{
    struct metadata_topic *t = strmap_get(&v->topics, name);
    if (t == NULL) {
        snprintf(err, errlen, "The topic '%s' does not exist.", name);
        return ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (total <= t->n_partitions || total > METADATA_MAX_PARTITIONS) {
        snprintf(err, errlen,
                 total <= t->n_partitions
                     ? "Topic currently has %d partitions, which is higher than or equal to the "
                       "requested %d."
                     : "Topic has %d partitions; %d is above the maximum.",
                 t->n_partitions, total);
        return ERR_INVALID_PARTITIONS;
    }
    int16_t code = check_partition_budget(v, total - t->n_partitions, err, errlen);
    if (code != ERR_NONE || validate_only) {
        return code;
    }
    int32_t old = t->n_partitions;
    if (set_partition_count(v, t, total) != 0 || persist(v) != 0) {
        t->n_partitions = old;
        snprintf(err, errlen, "cannot persist topic metadata");
        return ERR_KAFKA_STORAGE_ERROR;
    }
    log_info("metadata", "added partitions topic=%s partitions=%d->%d", name, old, total);
    if (v->listener.partitions_added != NULL) {
        v->listener.partitions_added(v->listener.data, t, old);
    }
    return ERR_NONE;
}

/* The topic's config with `entries` applied, into `out` (caller frees). */
static int16_t altered_config(const struct metadata_local *v, const struct metadata_topic *t,
                              const struct metadata_config_entry *entries, size_t n, bool replace,
                              struct topic_config *out, char *err, size_t errlen)
{
    if (topic_config_init(out, v->cfg) != 0) {
        snprintf(err, errlen, "out of memory");
        return ERR_UNKNOWN_SERVER_ERROR;
    }
    size_t n_defs;
    const struct config_def *defs = topic_config_defs(&n_defs);
    for (size_t i = 0; i < n_defs && !replace; i++) {
        bool deleted = false;
        for (size_t j = 0; j < n; j++) {
            deleted |= entries[j].value == NULL && strcmp(entries[j].key, defs[i].name) == 0;
        }
        char text[128], why[256];
        const char *value = config_format(&defs[i], &t->config, text, sizeof text);
        if (t->config.source[i] == CONFIG_SOURCE_TOPIC && !deleted && value != NULL) {
            topic_config_set(out, defs[i].name, value, why, sizeof why);
        }
    }
    return apply_configs(out, entries, n, err, errlen);
}

int16_t metadata_local_alter_topic_config(struct metadata_local *v, const char *name,
                                          const struct metadata_config_entry *entries, size_t n,
                                          bool replace, bool validate_only, char *err,
                                          size_t errlen)
{
    struct metadata_topic *t = strmap_get(&v->topics, name);
    if (t == NULL) {
        snprintf(err, errlen, "The topic '%s' does not exist.", name);
        return ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    struct topic_config next;
    int16_t code = altered_config(v, t, entries, n, replace, &next, err, errlen);
    if (code != ERR_NONE || validate_only) {
        topic_config_free(&next);
        return code;
    }
    struct topic_config old = t->config;
    t->config = next;
    if (persist(v) != 0) {
        t->config = old;
        topic_config_free(&next);
        snprintf(err, errlen, "cannot persist topic metadata");
        return ERR_KAFKA_STORAGE_ERROR;
    }
    topic_config_free(&old);
    log_info("metadata", "altered topic config topic=%s entries=%zu", name, n);
    if (v->listener.config_changed != NULL) {
        v->listener.config_changed(v->listener.data, t);
    }
    return ERR_NONE;
}
