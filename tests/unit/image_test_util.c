/* See image_test_util.h. */
#include "tests/unit/image_test_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_broker(MetadataImage *img, int32_t id, int64_t epoch)
{
    BrokerState *b = malloc(sizeof *b);
    sluice__metadata__broker_state__init(b);
    b->broker_id = id;
    b->broker_epoch = epoch;
    b->incarnation_id = image_strdup("incarnation");
    ck_assert_int_eq(image_put_broker(img, b), 0);
}

void itu_add_self(MetadataImage *img)
{
    put_broker(img, 1, 10);
}

void itu_add_broker(MetadataImage *img, int32_t id)
{
    put_broker(img, id, 10 + id);
}

void itu_set_fenced(MetadataImage *img, int32_t id, bool fenced)
{
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (img->brokers[i]->broker_id == id) {
            img->brokers[i]->fenced = fenced;
            return;
        }
    }
    ck_abort_msg("no broker %d", (int)id);
}

void itu_add_partition(TopicState *t)
{
    static const int32_t self[] = {1};
    itu_add_partition_led(t, 1, self, 1);
}

void itu_add_partition_led(TopicState *t, int32_t leader, const int32_t *replicas, size_t n)
{
    PartitionState *p = malloc(sizeof *p);
    sluice__metadata__partition_state__init(p);
    p->partition = (int32_t)t->n_partitions;
    p->leader = leader;
    ck_assert_int_eq(image_set_ints(&p->replicas, &p->n_replicas, replicas, n), 0);
    ck_assert_int_eq(image_set_ints(&p->isr, &p->n_isr, replicas, n), 0);
    ck_assert_int_eq(image_add_partition(t, p), 0);
}

TopicState *itu_new_topic(const char *name, uint8_t id_byte)
{
    TopicState *t = malloc(sizeof *t);
    sluice__metadata__topic_state__init(t);
    t->name = image_strdup(name);
    t->topic_id.data = malloc(TOPIC_ID_LEN);
    memset(t->topic_id.data, id_byte, TOPIC_ID_LEN);
    t->topic_id.len = TOPIC_ID_LEN;
    return t;
}

TopicState *itu_add_topic(MetadataImage *img, const char *name, int32_t n, uint8_t id_byte)
{
    TopicState *t = itu_new_topic(name, id_byte);
    for (int32_t i = 0; i < n; i++) {
        itu_add_partition(t);
    }
    ck_assert_int_eq(image_add_topic(img, t), 0);
    return t;
}

void itu_remove_topic(MetadataImage *img, const char *name)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (strcmp(img->topics[i]->name, name) == 0) {
            image_remove_topic(img, i);
            return;
        }
    }
    ck_abort_msg("no topic %s", name);
}

void rfx_setup(struct replica_fixture *fx)
{
    char err[256];
    snprintf(fx->dir, sizeof fx->dir, "/tmp/sluice-test-replica-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx->dir));
    ck_assert_int_eq(sluice_config_init(&fx->cfg), 0);
    sluice_config_set(&fx->cfg, "node.id", "1", err, sizeof err);
    sluice_config_set(&fx->cfg, "num.partitions", "3", err, sizeof err);
    sluice_config_set(&fx->cfg, "log.dirs", fx->dir, err, sizeof err);
    ck_assert_int_eq(data_dirs_open(&fx->dirs, fx->dir, 1, err, sizeof err), 0);
    ck_assert_int_eq(uv_loop_init(&fx->loop), 0);
    fx->img = image_new();
    ck_assert_ptr_nonnull(fx->img);
    ck_assert_int_eq(image_replace_str(&fx->img->cluster_id, "cluster-x"), 0);
    itu_add_self(fx->img);
}

void rfx_teardown(struct replica_fixture *fx)
{
    char cmd[128];
    ck_assert_int_eq(uv_loop_close(&fx->loop), 0);
    image_free(fx->img);
    data_dirs_close(&fx->dirs);
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    ck_assert_int_eq(system(cmd), 0);
    sluice_config_free(&fx->cfg);
}

static const MetadataImage *fixture_image(void *data)
{
    return ((struct replica_fixture *)data)->img;
}

struct metadata_quorum_source rfx_source(struct replica_fixture *fx)
{
    return (struct metadata_quorum_source){fx, fixture_image, NULL};
}

void rfx_start(struct replica_fixture *fx, struct metadata_view **v, struct replica_manager *rm)
{
    char err[256];
    struct metadata_quorum_source src = rfx_source(fx);
    ck_assert_int_eq(metadata_quorum_open(v, &fx->loop, &fx->cfg, &src, err, sizeof err), 0);
    ck_assert_int_eq(replica_manager_start(rm, &fx->loop, &fx->cfg, &fx->dirs, *v, err, sizeof err),
                     0);
}

void rfx_stop(struct replica_fixture *fx, struct metadata_view *v, struct replica_manager *rm)
{
    replica_manager_stop(rm);
    metadata_view_close(v);
    ck_assert_int_eq(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
}

void rfx_settle(struct replica_fixture *fx, struct replica_manager *rm)
{
    while (replica_manager_opening(rm) > 0) {
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
}
