/* The metadata view fed by the controller quorum (broker/metadata/
 * metadata_quorum.h): images built by hand are fed to it and the view and
 * the listener callbacks are checked after each refresh. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "broker/metadata/metadata_quorum.h"
#include "metadata/image.h"
#include "tests/unit/check_main.h"

struct events {
    int created, deleted, added, changed, configs;
    int32_t last_old_count;
    char last[TOPIC_NAME_MAX + 1];
};

static void remember(struct events *ev, const struct metadata_topic *t)
{
    strcpy(ev->last, t->name);
}
static void on_created(void *d, const struct metadata_topic *t)
{
    ((struct events *)d)->created++;
    remember(d, t);
}
static void on_deleted(void *d, const struct metadata_topic *t)
{
    ((struct events *)d)->deleted++;
    remember(d, t);
}
static void on_added(void *d, const struct metadata_topic *t, int32_t old)
{
    ((struct events *)d)->added++;
    ((struct events *)d)->last_old_count = old;
    remember(d, t);
}
static void on_configs(void *d, const struct metadata_topic *t)
{
    ((struct events *)d)->configs++;
    remember(d, t);
}
static void on_changed(void *d, const struct metadata_topic *t, int32_t index)
{
    (void)index;
    ((struct events *)d)->changed++;
    remember(d, t);
}

static MetadataImage *img;
static struct sluice_config cfg;
static uv_loop_t loop;

static const MetadataImage *source_image(void *data)
{
    (void)data;
    return img;
}

static void add_broker(int32_t id, bool fenced, const char *rack, uint32_t port)
{
    BrokerState *b = malloc(sizeof *b);
    sluice__metadata__broker_state__init(b);
    b->broker_id = id;
    b->broker_epoch = id * 10;
    b->fenced = fenced;
    b->incarnation_id = image_strdup("incarnation");
    b->rack = image_strdup(rack);
    Endpoint *e = malloc(sizeof *e);
    sluice__metadata__endpoint__init(e);
    e->name = image_strdup("PLAINTEXT");
    e->host = image_strdup("127.0.0.1");
    e->port = port;
    e->security_protocol = image_strdup("PLAINTEXT");
    b->endpoints = malloc(sizeof *b->endpoints);
    b->endpoints[0] = e;
    b->n_endpoints = 1;
    ck_assert_int_eq(image_put_broker(img, b), 0);
}

static void set_partition(PartitionState *p, int32_t leader, int32_t epoch, const int32_t *isr,
                          size_t n_isr)
{
    p->leader = leader;
    p->leader_epoch = epoch;
    ck_assert_int_eq(image_set_ints(&p->isr, &p->n_isr, isr, n_isr), 0);
}

/* A topic with `n` partitions on replicas 1,2,3, partition i led by i%3+1. */
static TopicState *add_topic(const char *name, uint8_t id_byte, int32_t n)
{
    TopicState *t = malloc(sizeof *t);
    sluice__metadata__topic_state__init(t);
    t->name = image_strdup(name);
    t->topic_id.data = malloc(TOPIC_ID_LEN);
    memset(t->topic_id.data, id_byte, TOPIC_ID_LEN);
    t->topic_id.len = TOPIC_ID_LEN;
    static const int32_t all[] = {1, 2, 3};
    for (int32_t i = 0; i < n; i++) {
        PartitionState *p = malloc(sizeof *p);
        sluice__metadata__partition_state__init(p);
        p->partition = i;
        ck_assert_int_eq(image_set_ints(&p->replicas, &p->n_replicas, all, 3), 0);
        set_partition(p, i % 3 + 1, 0, all, 3);
        ck_assert_int_eq(image_add_partition(t, p), 0);
    }
    ck_assert_int_eq(image_add_topic(img, t), 0);
    return t;
}

static void add_partition(TopicState *t)
{
    static const int32_t all[] = {1, 2, 3};
    PartitionState *p = malloc(sizeof *p);
    sluice__metadata__partition_state__init(p);
    p->partition = (int32_t)t->n_partitions;
    ck_assert_int_eq(image_set_ints(&p->replicas, &p->n_replicas, all, 3), 0);
    set_partition(p, 1, 0, all, 3);
    ck_assert_int_eq(image_add_partition(t, p), 0);
}

static size_t topic_index(const char *name)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (strcmp(img->topics[i]->name, name) == 0) {
            return i;
        }
    }
    ck_abort_msg("no topic %s", name);
    return 0;
}

static struct metadata_view *open_view(struct events *ev)
{
    struct metadata_quorum_source src = {NULL, source_image, NULL};
    struct metadata_view *v;
    char err[256];
    ck_assert_int_eq(metadata_quorum_open(&v, &loop, &cfg, &src, err, sizeof err), 0);
    struct metadata_listener l = {ev, on_created, on_deleted, on_added, on_configs, on_changed};
    metadata_view_set_listener(v, &l);
    return v;
}

static void close_view(struct metadata_view *v)
{
    metadata_view_close(v);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* the timer's close frees the view */
}

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    sluice_config_set(&cfg, "node.id", "2", err, sizeof err);
    img = image_new();
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(image_replace_str(&img->cluster_id, "cluster-x"), 0);
    img->offset = 5;
}

static void teardown(void)
{
    image_free(img);
    sluice_config_free(&cfg);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(test_view_shows_the_image)
{
    add_broker(1, false, "", 9001);
    add_broker(2, false, "rack-b", 9002);
    add_broker(3, true, "", 9003);
    add_topic("orders", 0xaa, 4);
    add_topic("__cluster_metadata", 0xee, 1); /* never shown: the controller's directory */
    struct events ev = {0};
    struct metadata_view *v = open_view(&ev);
    ck_assert_str_eq(metadata_view_cluster_id(v), "cluster-x");
    ck_assert_int_eq(metadata_view_local_node(v), 2);
    /* Fenced brokers are not shown. */
    ck_assert_uint_eq(metadata_view_broker_count(v), 2);
    ck_assert_int_eq(metadata_view_broker(v, 0)->node_id, 1);
    ck_assert_ptr_null(metadata_view_broker(v, 0)->rack);
    const struct metadata_broker *b = metadata_view_broker(v, 1);
    ck_assert_int_eq(b->node_id, 2);
    ck_assert_int_eq(b->epoch, 20); /* its registration's, for KIP-903 checks */
    ck_assert_str_eq(b->rack, "rack-b");
    ck_assert_int_eq(metadata_broker_endpoint(b, "plaintext")->port, 9002);
    ck_assert_int_eq(metadata_view_controller_id(v), 2); /* this broker, unfenced */
    const struct metadata_topic *t = metadata_view_topic(v, "orders");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->id[0], 0xaa);
    ck_assert_int_eq(t->n_partitions, 4);
    ck_assert_int_eq(t->partitions[1].leader, 2);
    ck_assert_int_eq(t->partitions[3].leader, 1);
    ck_assert_int_eq(t->partitions[1].n_replicas, 3);
    ck_assert_int_eq(t->partitions[1].n_isr, 3);
    ck_assert_int_eq(ev.created, 0); /* what the view opened with is not news */
    ck_assert_uint_eq(metadata_view_topic_count(v), 1);
    close_view(v);
}
END_TEST

START_TEST(test_refresh_fires_what_changed)
{
    add_broker(1, false, "", 9001);
    add_broker(2, false, "", 9002);
    TopicState *orders = add_topic("orders", 0xaa, 2);
    struct events ev = {0};
    struct metadata_view *v = open_view(&ev);

    /* Nothing changed: nothing fires. */
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.created + ev.deleted + ev.added + ev.changed + ev.configs, 0);

    add_topic("clicks", 0xbb, 3);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.created, 1);
    ck_assert_str_eq(ev.last, "clicks");
    ck_assert_int_eq(metadata_view_topic(v, "clicks")->n_partitions, 3);

    /* A leader change (new epoch, shrunk ISR). */
    static const int32_t isr[] = {3};
    set_partition(orders->partitions[0], 3, 1, isr, 1);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.changed, 1);
    ck_assert_str_eq(ev.last, "orders");
    const struct metadata_topic *t = metadata_view_topic(v, "orders");
    ck_assert_int_eq(t->partitions[0].leader, 3);
    ck_assert_int_eq(t->partitions[0].leader_epoch, 1);
    ck_assert_int_eq(t->partitions[0].n_isr, 1);
    ck_assert_int_eq(t->partitions[0].isr[0], 3);

    add_partition(orders);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.added, 1);
    ck_assert_int_eq(ev.last_old_count, 2);
    ck_assert_int_eq(ev.changed, 1);
    ck_assert_int_eq(metadata_view_topic(v, "orders")->n_partitions, 3);

    ck_assert_int_eq(image_set_topic_config(orders, "retention.ms", "1234"), 0);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.configs, 1);
    ck_assert_int_eq(metadata_view_topic(v, "orders")->config.retention_ms, 1234);

    image_remove_topic(img, topic_index("clicks"));
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.deleted, 1);
    ck_assert_str_eq(ev.last, "clicks");
    ck_assert_ptr_null(metadata_view_topic(v, "clicks"));
    ck_assert_uint_eq(metadata_view_topic_count(v), 1);
    close_view(v);
}
END_TEST

START_TEST(test_recreated_topic_is_deleted_then_created)
{
    add_broker(2, false, "", 9002);
    add_topic("orders", 0xaa, 2);
    struct events ev = {0};
    struct metadata_view *v = open_view(&ev);
    image_remove_topic(img, topic_index("orders"));
    add_topic("orders", 0xcc, 1);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(ev.deleted, 1);
    ck_assert_int_eq(ev.created, 1);
    const struct metadata_topic *t = metadata_view_topic(v, "orders");
    ck_assert_int_eq(t->id[0], 0xcc);
    ck_assert_int_eq(t->n_partitions, 1);
    close_view(v);
}
END_TEST

START_TEST(test_brokers_follow_fencing)
{
    add_broker(1, false, "", 9001);
    add_broker(2, false, "", 9002);
    struct events ev = {0};
    struct metadata_view *v = open_view(&ev);
    ck_assert_uint_eq(metadata_view_broker_count(v), 2);
    image_find_broker(img, 1)->fenced = true;
    metadata_quorum_refresh(v);
    ck_assert_uint_eq(metadata_view_broker_count(v), 1);
    ck_assert_int_eq(metadata_view_broker(v, 0)->node_id, 2);
    ck_assert_int_eq(metadata_view_controller_id(v), 2);
    /* This broker fenced: it names a broker the client can find in the list. */
    image_find_broker(img, 1)->fenced = false;
    image_find_broker(img, 2)->fenced = true;
    metadata_quorum_refresh(v);
    ck_assert_uint_eq(metadata_view_broker_count(v), 1);
    ck_assert_int_eq(metadata_view_controller_id(v), 1);
    close_view(v);
}
END_TEST

static void on_admin(struct metadata_admin_op *op)
{
    (*(int *)op->data)++;
}

START_TEST(test_mutations_need_the_controller)
{
    struct events ev = {0};
    MetadataImage *none = img;
    img = NULL; /* before the first metadata fetch */
    struct metadata_view *v = open_view(&ev);
    ck_assert_uint_eq(metadata_view_topic_count(v), 0);
    ck_assert_uint_eq(metadata_view_broker_count(v), 0);
    ck_assert_int_eq(metadata_view_controller_id(v), 2);
    metadata_quorum_refresh(v); /* still nothing: no-op */
    img = none;
    int calls = 0;
    struct metadata_topic_spec spec = {"t", 1, 1, NULL, 0};
    /* The controller's own directory name is refused before asking anyone. */
    struct metadata_topic_spec reserved = {"__cluster_metadata", 1, 1, NULL, 0};
    struct metadata_admin_op refused = {.data = &calls};
    metadata_view_submit_create_topic(v, &reserved, false, 1000, &refused, on_admin);
    ck_assert_int_eq(refused.error_code, 42);
    ck_assert_ptr_nonnull(strstr(refused.error_message, "prohibited"));
    /* No controller client: answered at once, with a message. */
    struct metadata_admin_op op = {.data = &calls};
    metadata_view_submit_create_topic(v, &spec, false, 1000, &op, on_admin);
    ck_assert_int_eq(calls, 2);
    ck_assert_int_ne(op.error_code, 0);
    ck_assert_str_ne(op.error_message, "");
    close_view(v);
}
END_TEST

static void on_timed_out(struct metadata_admin_op *op)
{
    (*(int *)op->data)++;
    ck_assert_int_eq(op->error_code, 7); /* REQUEST_TIMED_OUT */
    ck_assert_str_ne(op->error_message, "");
}

/* A controller that never answers: the admin request times out. */
START_TEST(test_unreachable_controller_times_out)
{
    struct voters voters;
    char err[256];
    ck_assert_int_eq(voters_parse("1@127.0.0.1:1", &voters, err, sizeof err), 0);
    struct controller_client client;
    ck_assert_int_eq(controller_client_init(&client, &loop, &voters), 0);
    struct metadata_quorum_source src = {NULL, source_image, &client};
    struct metadata_view *v;
    ck_assert_int_eq(metadata_quorum_open(&v, &loop, &cfg, &src, err, sizeof err), 0);
    int calls = 0;
    struct metadata_admin_op op = {.data = &calls};
    struct metadata_topic_spec spec = {"t", 1, 1, NULL, 0};
    metadata_view_submit_create_topic(v, &spec, false, 300, &op, on_timed_out);
    ck_assert_int_eq(calls, 0);
    while (calls == 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(calls, 1);
    /* A read barrier that cannot reach the controller still lets the caller go on. */
    int synced = 0;
    struct metadata_admin_op sync = {.data = &synced};
    metadata_view_submit_sync(v, 300, &sync, on_admin);
    while (synced == 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(sync.error_code, 0);
    /* Closing with a request in flight answers it at once. */
    struct metadata_admin_op late = {.data = &calls};
    metadata_view_submit_delete_topic(v, "t", 60000, &late, on_timed_out);
    metadata_view_close(v);
    ck_assert_int_eq(calls, 2);
    controller_client_close(&client, NULL);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metadata_quorum");
    TCase *tc = tcase_create("view");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_view_shows_the_image);
    tcase_add_test(tc, test_refresh_fires_what_changed);
    tcase_add_test(tc, test_recreated_topic_is_deleted_then_created);
    tcase_add_test(tc, test_brokers_follow_fencing);
    tcase_add_test(tc, test_mutations_need_the_controller);
    tcase_add_test(tc, test_unreachable_controller_times_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
