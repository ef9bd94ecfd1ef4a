/* metadata_bench: what one metadata delta costs a broker, by cluster size,
 * in the same run (issue 14, "applying a metadata delta costs in proportion
 * to the delta, not to the cluster's size").
 *
 *   metadata_bench [--partitions 100,1000,5000] [--changes 400] [--dir DIR]
 *
 * For each partition count P and two shapes (one topic of P partitions, and
 * P topics of one partition), a broker (node 1) with brokers 2 and 3 replays
 * the records that create them, opens its metadata view and hosts every
 * partition as leader (replicas 1,2,3), as after a restart. Then it applies
 * --changes deltas of each kind the way the broker's controller session
 * does (pack, fsm_apply, the view's refresh with its listener, the replica
 * manager), and prints the median CPU time of each (this thread's: the
 * event loop's in a broker) and its ratio to the smallest P of the same
 * shape:
 *   - isr: one PartitionChangeRecord (broker 2 leaves or rejoins the ISR of
 *     one partition, spread over all of them);
 *   - fence: broker 3 fenced or unfenced (no partition changes).
 * Partition logs live in a temporary directory under --dir (default
 * /dev/shm when writable, else /tmp), removed afterwards. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_manager.h"
#include "common/log.h"
#include "metadata/fsm.h"
#include "metadata/image_changes.h"
#include "metadata/records.h"

#define MAX_COUNTS 16
#define SELF       1

struct options {
    int32_t counts[MAX_COUNTS];
    size_t n_counts;
    int changes;
    const char *dir;
};

/* One broker's metadata path: the replayed image, its view, its replicas. */
struct bench {
    char dir[256];
    uv_loop_t loop;
    struct sluice_config cfg;
    struct data_dirs dirs;
    struct fsm fsm;
    struct metadata_view *view;
    struct replica_manager rm;
    struct image_changes changes; /* what the replay changed, as broker_session keeps it */
    int64_t epochs[4];            /* broker epoch by id */
    bool broker3_fenced;
};

/* CPU time of this thread, the event loop's in a broker: what a delta costs
 * the loop, without the time other processes on a shared machine take. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    fprintf(stderr, "metadata_bench: %s\n", what);
    exit(1);
}

static const MetadataImage *source_image(void *data)
{
    return ((struct bench *)data)->fsm.image;
}

static struct image_changes *source_changes(void *data)
{
    return &((struct bench *)data)->changes;
}

static const TopicState *source_find_topic_id(void *data, ProtobufCBinaryData id)
{
    return fsm_find_topic_id(&((struct bench *)data)->fsm, id);
}

/* What broker_session does with a fetched delta, then its owner's refresh. */
static void replay(struct bench *b, MetadataBatch *batch)
{
    void *bytes;
    size_t len;
    const struct fsm_result *res;
    if (fsm_batch_pack(batch, malloc, &bytes, &len) != 0 ||
        fsm_apply(&b->fsm, bytes, len, &res) != 0) {
        die("out of memory applying a batch");
    }
    free(bytes);
    image_changes_note_batch(&b->changes, batch);
    for (size_t i = 0; i < res->n; i++) {
        if (res->errors[i] != 0) {
            fprintf(stderr, "metadata_bench: record %zu rejected: error %d\n", i, res->errors[i]);
            exit(1);
        }
    }
    if (b->view != NULL) {
        metadata_quorum_refresh(b->view);
    }
}

static void topic_id(uint8_t id[TOPIC_ID_LEN], int32_t n)
{
    memset(id, 0x5a, TOPIC_ID_LEN);
    memcpy(id, &n, sizeof n);
}

static void build_cluster(struct bench *b, int32_t partitions, bool one_topic)
{
    static const int32_t replicas[] = {SELF, 2, 3};
    MetadataBatch *batch = records_batch_new();
    if (batch == NULL || records_add_cluster_id(batch, "bench-cluster") != 0) {
        die("out of memory");
    }
    for (int32_t id = 1; id <= 3; id++) {
        char incarnation[32];
        snprintf(incarnation, sizeof incarnation, "incarnation-%d", id);
        if (records_add_register(batch, id, incarnation, "", NULL, 0) != 0) {
            die("out of memory");
        }
    }
    replay(b, batch);
    records_free(batch);
    batch = records_batch_new();
    for (int32_t id = 1; id <= 3; id++) {
        b->epochs[id] = fsm_offset(&b->fsm); /* the registration's batch */
        if (batch == NULL || records_add_fencing(batch, id, b->epochs[id], false) != 0) {
            die("out of memory");
        }
    }
    replay(b, batch);
    records_free(batch);
    batch = records_batch_new();
    for (int32_t t = 0; t < (one_topic ? 1 : partitions); t++) {
        char name[64];
        uint8_t id[TOPIC_ID_LEN];
        snprintf(name, sizeof name, "bench-%d", t);
        topic_id(id, t);
        if (batch == NULL || records_add_topic(batch, name, id) != 0) {
            die("out of memory");
        }
        for (int32_t p = 0; p < (one_topic ? partitions : 1); p++) {
            if (records_add_partition(batch, id, p, replicas, 3) != 0) {
                die("out of memory");
            }
        }
    }
    replay(b, batch);
    records_free(batch);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void bench_open(struct bench *b, const struct options *o, int32_t partitions, bool one_topic)
{
    char err[512];
    memset(b, 0, sizeof *b);
    image_changes_init(&b->changes);
    snprintf(b->dir, sizeof b->dir, "%s/metadata-bench-XXXXXX", o->dir);
    if (mkdtemp(b->dir) == NULL || uv_loop_init(&b->loop) != 0 ||
        sluice_config_init(&b->cfg) != 0 || fsm_init(&b->fsm, 16) != 0) {
        die("cannot set up");
    }
    if (sluice_config_set(&b->cfg, "node.id", "1", err, sizeof err) != 0 ||
        sluice_config_set(&b->cfg, "log.dirs", b->dir, err, sizeof err) != 0 ||
        data_dirs_open(&b->dirs, b->dir, SELF, err, sizeof err) != 0) {
        die(err);
    }
    build_cluster(b, partitions, one_topic);
    struct metadata_quorum_source src = {b, source_image, NULL, source_changes,
                                         source_find_topic_id};
    if (metadata_quorum_open(&b->view, &b->loop, &b->cfg, &src, err, sizeof err) != 0 ||
        replica_manager_start(&b->rm, &b->loop, &b->cfg, &b->dirs, b->view, err, sizeof err) != 0) {
        die(err);
    }
}

static void bench_close(struct bench *b)
{
    replica_manager_stop(&b->rm);
    metadata_view_close(b->view);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    fsm_close(&b->fsm);
    image_changes_free(&b->changes);
    data_dirs_close(&b->dirs);
    sluice_config_free(&b->cfg);
    nftw(b->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Broker 2 leaves the ISR of partition `k`, or rejoins it. */
static MetadataBatch *isr_change(const struct bench *b, int32_t k, bool one_topic)
{
    static const int32_t all[] = {SELF, 2, 3}, without[] = {SELF, 3};
    const TopicState *t = one_topic ? b->fsm.image->topics[0] : b->fsm.image->topics[k];
    const PartitionState *p = t->partitions[one_topic ? k : 0];
    bool in = image_ints_contain(p->isr, p->n_isr, 2);
    MetadataBatch *batch = records_batch_new();
    if (batch == NULL || records_add_change(batch, t->topic_id, p->partition, p->partition_epoch,
                                            SELF, in ? without : all, in ? 2 : 3) != 0) {
        die("out of memory");
    }
    return batch;
}

static MetadataBatch *fence_change(struct bench *b)
{
    MetadataBatch *batch = records_batch_new();
    b->broker3_fenced = !b->broker3_fenced;
    if (batch == NULL || records_add_fencing(batch, 3, b->epochs[3], b->broker3_fenced) != 0) {
        die("out of memory");
    }
    return batch;
}

/* Median CPU seconds per delta of one kind. */
static double measure(struct bench *b, int changes, int32_t partitions, bool one_topic, bool fence)
{
    double *samples = malloc((size_t)changes * sizeof *samples);
    if (samples == NULL) {
        die("out of memory");
    }
    for (int i = 0; i < changes; i++) {
        int32_t k = (int32_t)(((int64_t)i * 7919) % partitions);
        MetadataBatch *batch = fence ? fence_change(b) : isr_change(b, k, one_topic);
        double start = cpu_s();
        replay(b, batch);
        samples[i] = cpu_s() - start;
        records_free(batch);
    }
    qsort(samples, (size_t)changes, sizeof *samples, compare_doubles);
    double median = samples[changes / 2];
    free(samples);
    return median;
}

static void parse_counts(struct options *o, const char *s)
{
    o->n_counts = 0;
    for (const char *at = s; *at != '\0' && o->n_counts < MAX_COUNTS;) {
        char *end;
        long n = strtol(at, &end, 10);
        if (end == at || n < 1 || n > 100000) {
            die("--partitions takes a list of counts like 100,1000,5000");
        }
        o->counts[o->n_counts++] = (int32_t)n;
        at = *end == ',' ? end + 1 : end;
    }
}

static void parse_options(struct options *o, int argc, char **argv)
{
    static const struct option longs[] = {{"partitions", required_argument, NULL, 'p'},
                                          {"changes", required_argument, NULL, 'c'},
                                          {"dir", required_argument, NULL, 'd'},
                                          {NULL, 0, NULL, 0}};
    parse_counts(o, "100,1000,5000");
    o->changes = 400;
    o->dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            parse_counts(o, optarg);
            break;
        case 'c':
            o->changes = atoi(optarg) > 0 ? atoi(optarg) : 1;
            break;
        case 'd':
            o->dir = optarg;
            break;
        default:
            die("usage: metadata_bench [--partitions 100,1000,5000] [--changes N] [--dir DIR]");
        }
    }
}

int main(int argc, char **argv)
{
    struct options o;
    parse_options(&o, argc, argv);
    log_set_level(LOG_LEVEL_WARN); /* role changes are logged at INFO */
    printf("%-22s %10s %12s %8s %12s %8s\n", "shape", "partitions", "isr_us", "ratio", "fence_us",
           "ratio");
    for (int shape = 0; shape < 2; shape++) {
        bool one_topic = shape == 0;
        double base_isr = 0, base_fence = 0;
        for (size_t i = 0; i < o.n_counts; i++) {
            struct bench b;
            bench_open(&b, &o, o.counts[i], one_topic);
            measure(&b, o.changes / 10 + 1, o.counts[i], one_topic, false); /* warm-up */
            double isr = measure(&b, o.changes, o.counts[i], one_topic, false);
            double fence = measure(&b, o.changes, o.counts[i], one_topic, true);
            bench_close(&b);
            if (i == 0) {
                base_isr = isr;
                base_fence = fence;
            }
            printf("%-22s %10d %12.2f %8.2f %12.2f %8.2f\n",
                   one_topic ? "1 topic x P partitions" : "P topics x 1 partition", o.counts[i],
                   isr * 1e6, isr / base_isr, fence * 1e6, fence / base_fence);
            fflush(stdout);
        }
    }
    return 0;
}
