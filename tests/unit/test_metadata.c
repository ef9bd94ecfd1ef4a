#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/metadata/metadata_view.h"
#include "broker/metadata/topic_name.h"
#include "tests/unit/check_main.h"

START_TEST(test_topic_name_rules)
{
    char err[256];
    ck_assert_int_eq(topic_name_validate("orders.v1_eu-west", err, sizeof err), 0);
    ck_assert_int_ne(topic_name_validate("", err, sizeof err), 0);
    ck_assert_int_ne(topic_name_validate(".", err, sizeof err), 0);
    ck_assert_int_ne(topic_name_validate("..", err, sizeof err), 0);
    ck_assert_int_eq(topic_name_validate("...", err, sizeof err), 0);
    ck_assert_int_ne(topic_name_validate("a b", err, sizeof err), 0);
    ck_assert_int_ne(topic_name_validate("a/b", err, sizeof err), 0);
    ck_assert_int_ne(topic_name_validate("caf\xc3\xa9", err, sizeof err), 0);
    char name[300];
    memset(name, 'x', sizeof name);
    name[249] = '\0';
    ck_assert_int_eq(topic_name_validate(name, err, sizeof err), 0);
    name[249] = 'x';
    name[250] = '\0';
    ck_assert_int_ne(topic_name_validate(name, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "249"));
    ck_assert(topic_name_collides("a.b", "a_b"));
    ck_assert(topic_name_collides("a_b", "a.b"));
    ck_assert(!topic_name_collides("a.b", "a-b"));
    ck_assert(!topic_name_collides("a.b", "a.bc"));
    ck_assert(topic_name_reserved("__cluster_metadata"));
    ck_assert(!topic_name_reserved("__cluster_metadata2"));
    ck_assert(!topic_name_reserved("cluster_metadata"));
}
END_TEST

struct events {
    int created, deleted, added, changed;
};

static void on_created(void *d, const struct metadata_topic *t)
{
    (void)t;
    ((struct events *)d)->created++;
}
static void on_deleted(void *d, const struct metadata_topic *t)
{
    (void)t;
    ((struct events *)d)->deleted++;
}
static void on_added(void *d, const struct metadata_topic *t, int32_t old)
{
    (void)t;
    (void)old;
    ((struct events *)d)->added++;
}
static void on_changed(void *d, const struct metadata_topic *t)
{
    (void)t;
    ((struct events *)d)->changed++;
}

static char dir[64];
static struct sluice_config cfg;
static struct listener_set listeners;

static struct metadata_view *open_view(struct events *ev)
{
    struct metadata_view *v;
    char err[256];
    ck_assert_int_eq(metadata_view_open(&v, &cfg, &listeners, dir, err, sizeof err), 0);
    struct metadata_listener l = {ev, on_created, on_deleted, on_added, on_changed};
    metadata_view_set_listener(v, &l);
    return v;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/sluice-test-metadata-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char err[256];
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    sluice_config_set(&cfg, "node.id", "7", err, sizeof err);
    sluice_config_set(&cfg, "num.partitions", "3", err, sizeof err);
    sluice_config_set(&cfg, "listeners", "PLAINTEXT://127.0.0.1:9092", err, sizeof err);
    ck_assert_int_eq(listener_set_parse(&cfg, &listeners, err, sizeof err), 0);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    sluice_config_free(&cfg);
}

START_TEST(test_create_rules)
{
    struct events ev = {0};
    struct metadata_view *v = open_view(&ev);
    char err[256];
    struct metadata_topic_spec spec = {"orders", -1, -1, NULL, 0};
    const struct metadata_topic *t;
    ck_assert_int_eq(metadata_view_create_topic(v, &spec, false, &t, err, sizeof err), 0);
    ck_assert_int_eq(t->n_partitions, 3);
    ck_assert_int_eq(t->partitions[2].leader, 7);
    ck_assert_int_eq(ev.created, 1);
    ck_assert_int_eq(metadata_view_create_topic(v, &spec, false, NULL, err, sizeof err), 36);
    struct metadata_topic_spec dot = {"a.b", 1, 1, NULL, 0}, under = {"a_b", 1, 1, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &dot, false, NULL, err, sizeof err), 0);
    ck_assert_int_eq(metadata_view_create_topic(v, &under, false, NULL, err, sizeof err), 17);
    struct metadata_topic_spec bad = {"bad name", 1, 1, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &bad, false, NULL, err, sizeof err), 17);
    /* Partition 0 would be the controller's Raft directory (__cluster_metadata-0). */
    struct metadata_topic_spec raft = {TOPIC_NAME_CLUSTER_METADATA, 1, 1, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &raft, false, NULL, err, sizeof err), 42);
    ck_assert_ptr_nonnull(strstr(err, "prohibited"));
    ck_assert_ptr_null(metadata_view_topic(v, TOPIC_NAME_CLUSTER_METADATA));
    struct metadata_topic_spec zero = {"zero", 0, 1, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &zero, false, NULL, err, sizeof err), 37);
    struct metadata_topic_spec rf = {"rf", 1, 2, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &rf, false, NULL, err, sizeof err), 38);
    struct metadata_config_entry badcfg[] = {{"retention.ms", "soon"}};
    struct metadata_topic_spec bc = {"bc", 1, 1, badcfg, 1};
    ck_assert_int_eq(metadata_view_create_topic(v, &bc, false, NULL, err, sizeof err), 40);
    struct metadata_config_entry unknown[] = {{"no.such.key", "1"}};
    struct metadata_topic_spec uk = {"uk", 1, 1, unknown, 1};
    ck_assert_int_eq(metadata_view_create_topic(v, &uk, false, NULL, err, sizeof err), 40);
    struct metadata_topic_spec vo = {"validate", 2, 1, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &vo, true, NULL, err, sizeof err), 0);
    ck_assert_ptr_null(metadata_view_topic(v, "validate"));
    ck_assert_int_eq(ev.created, 2);
    ck_assert_uint_eq(metadata_view_topic_count(v), 2);
    metadata_view_close(v);
}
END_TEST

START_TEST(test_persisted_across_reopen)
{
    struct events ev = {0};
    struct metadata_view *v = open_view(&ev);
    char err[256];
    struct metadata_config_entry cfgs[] = {{"retention.ms", "1000"}, {"cleanup.policy", "compact"}};
    struct metadata_topic_spec spec = {"keep", 2, 1, cfgs, 2};
    const struct metadata_topic *t;
    ck_assert_int_eq(metadata_view_create_topic(v, &spec, false, &t, err, sizeof err), 0);
    uint8_t id[16];
    memcpy(id, t->id, 16);
    struct metadata_topic_spec gone = {"gone", 1, 1, NULL, 0};
    ck_assert_int_eq(metadata_view_create_topic(v, &gone, false, NULL, err, sizeof err), 0);
    ck_assert_int_eq(metadata_view_add_partitions(v, "keep", 5, false, err, sizeof err), 0);
    ck_assert_int_eq(metadata_view_add_partitions(v, "keep", 5, false, err, sizeof err), 37);
    ck_assert_int_eq(metadata_view_delete_topic(v, "gone", err, sizeof err), 0);
    ck_assert_int_eq(metadata_view_delete_topic(v, "gone", err, sizeof err), 3);
    struct metadata_config_entry alter[] = {{"retention.ms", NULL}, {"segment.bytes", "100000"}};
    ck_assert_int_eq(
        metadata_view_alter_topic_config(v, "keep", alter, 2, false, false, err, sizeof err), 0);
    ck_assert_int_eq(ev.added, 1);
    ck_assert_int_eq(ev.deleted, 1);
    ck_assert_int_eq(ev.changed, 1);
    char cluster[64];
    snprintf(cluster, sizeof cluster, "%s", metadata_view_cluster_id(v));
    metadata_view_close(v);

    v = open_view(&ev);
    ck_assert_str_eq(metadata_view_cluster_id(v), cluster);
    ck_assert_ptr_null(metadata_view_topic(v, "gone"));
    t = metadata_view_topic(v, "keep");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->n_partitions, 5);
    ck_assert_mem_eq(t->id, id, 16);
    ck_assert_int_eq(t->config.retention_ms, cfg.log_retention_ms); /* deleted: default again */
    ck_assert_int_eq(t->config.segment_bytes, 100000);
    ck_assert_str_eq(t->config.cleanup_policy, "compact");
    metadata_view_close(v);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("metadata");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_topic_name_rules);
    tcase_add_test(tc, test_create_rules);
    tcase_add_test(tc, test_persisted_across_reopen);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
