/* The broker's side of the controller protocol (broker/metadata/
 * broker_session) against the controller service on one real node
 * (service_node.h): registration through a voter that is not the leader,
 * the metadata stream, controlled shutdown, isolation and fencing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/broker_session.h"
#include "controller/service.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"
#include "tests/unit/service_node.h"

static int metadata_changes;

static void on_session_metadata(struct broker_session *s)
{
    (void)s;
    metadata_changes++;
}

static void on_session_stopped(struct broker_session *s)
{
    *(bool *)s->data = true;
}

START_TEST(test_broker_session_lifecycle)
{
    struct node n;
    node_start(&n, 5000);
    /* Voter 1 is a controller that is not the leader (its quorum never
     * started): the client must move on to voter 2, the real one. */
    struct quorum idle;
    ck_assert_int_eq(quorum_init(&idle, 1, NULL, NULL, NULL), 0);
    struct controller_service other;
    ck_assert_int_eq(controller_service_start(&other, &n.loop, &idle, &n.voters, &n.config,
                                              "127.0.0.1", 0, NULL),
                     0);
    char text[128], err[128];
    snprintf(text, sizeof text, "1@127.0.0.1:%d,2@127.0.0.1:%d", controller_service_port(&other),
             n.voters.v[0].port);
    struct voters voters;
    ck_assert_int_eq(voters_parse(text, &voters, err, sizeof err), 0);

    struct broker_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"};
    struct broker_session_options o = {.broker_id = 7,
                                       .rack = "rack-a",
                                       .endpoints = &ep,
                                       .n_endpoints = 1,
                                       .heartbeat_interval_ms = 50,
                                       .request_timeout_ms = 3000};
    struct broker_session s;
    metadata_changes = 0;
    ck_assert_int_eq(broker_session_start(&s, &n.loop, &voters, &o, on_session_metadata), 0);
    for (int i = 0; i < 300 && (s.fenced || !broker_session_registered(&s)); i++) {
        run_for(&n, 10);
    }
    ck_assert(broker_session_registered(&s));
    ck_assert(!s.fenced);
    const BrokerState *b = image_find_broker(n.quorum.fsm.image, 7);
    ck_assert_ptr_nonnull(b);
    ck_assert(!b->fenced);
    ck_assert_str_eq(b->rack, "rack-a");
    ck_assert_uint_eq(b->n_endpoints, 1);
    ck_assert_uint_eq(b->endpoints[0]->port, 9092);

    /* A topic created at the controller reaches the broker's image. */
    release(create_topic(&n, "streamed", 2, 1, NULL, NULL));
    int before = metadata_changes;
    for (int i = 0; i < 100 && image_find_topic(broker_session_image(&s), "streamed") == NULL;
         i++) {
        run_for(&n, 10);
    }
    ck_assert_ptr_nonnull(image_find_topic(broker_session_image(&s), "streamed"));
    ck_assert_int_gt(metadata_changes, before);
    ck_assert_int_eq(fsm_offset(&s.metadata), fsm_offset(&n.quorum.fsm));

    /* Stopping is a controlled shutdown, sent once the broker serves nothing
     * (its logs closed): it is fenced. Broker 7 is the only replica of its
     * partitions: they have no leader until it is back, still in their ISR. */
    bool stopped = false;
    s.data = &stopped;
    broker_session_stop(&s, on_session_stopped);
    for (int i = 0; i < 300 && !stopped; i++) {
        run_for(&n, 10);
    }
    ck_assert(stopped);
    const TopicState *st = image_find_topic(n.quorum.fsm.image, "streamed");
    ck_assert_int_eq(st->partitions[0]->leader, -1);
    ck_assert_uint_eq(st->partitions[0]->n_isr, 1);
    ck_assert_int_eq(st->partitions[0]->isr[0], 7);
    ck_assert(image_find_broker(n.quorum.fsm.image, 7)->fenced);
    controller_service_close(&other, NULL);
    run_for(&n, 20);
    quorum_close(&idle, NULL);
    node_stop(&n);
}
END_TEST

static int isolated_calls;

static void on_isolated(struct broker_session *s)
{
    (void)s;
    isolated_calls++;
}

static int altered_status = 1, altered_code = -2;
static int32_t altered_isr_size;

static void on_altered(struct broker_alter_partition *op, int status, int32_t code,
                       const PartitionState *committed)
{
    (void)op;
    altered_status = status;
    altered_code = code;
    altered_isr_size = committed != NULL ? (int32_t)committed->n_isr : -1;
}

/* Broker 7 on `ep`, heartbeats every 50 ms, a 400 ms session. */
static struct broker_session_options short_session_options(const struct broker_endpoint *ep)
{
    return (struct broker_session_options){.broker_id = 7,
                                           .endpoints = ep,
                                           .n_endpoints = 1,
                                           .heartbeat_interval_ms = 50,
                                           .request_timeout_ms = 3000,
                                           .session_timeout_ms = 400};
}

/* Isolation with an injected clock, then for real: a session whose timer
 * is stopped (as a SIGSTOPped process) past the controller's session
 * timeout is fenced; resumed, it may not lead until its image shows the
 * fencing's aftermath and then its own unfencing, whatever order the
 * heartbeat answer and the metadata arrive in. */
START_TEST(test_broker_session_isolation)
{
    struct node n;
    node_start(&n, 400);
    struct broker_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"};
    struct broker_session_options o = short_session_options(&ep);
    struct broker_session s;
    ck_assert_int_eq(broker_session_start(&s, &n.loop, &n.voters, &o, NULL), 0);
    s.on_isolated = on_isolated;
    uv_update_time(&n.loop);
    ck_assert(broker_session_is_isolated(&s, uv_now(&n.loop))); /* not registered yet */
    for (int i = 0; i < 300 && !broker_session_may_lead(&s, uv_now(&n.loop)); i++) {
        run_for(&n, 10);
    }
    uv_update_time(&n.loop);
    uint64_t now = uv_now(&n.loop);
    ck_assert(broker_session_may_lead(&s, now));
    ck_assert_int_gt(broker_session_epoch(&s), 0);
    /* Injected clock: isolated once the newest acknowledged send is
     * session timeout minus the margin (50 ms, the heartbeat) old. */
    uint64_t sent = s.last_acked_sent;
    ck_assert(!broker_session_is_isolated(&s, sent + 349));
    ck_assert(broker_session_is_isolated(&s, sent + 350));
    ck_assert(!broker_session_may_lead(&s, sent + 350));
    /* Isolation began at that instant, however late it is noticed. */
    ck_assert_uint_eq(broker_session_isolated_since(&s, sent + 349), 0);
    ck_assert_uint_eq(broker_session_isolated_since(&s, sent + 350), sent + 350);
    ck_assert_uint_eq(broker_session_isolated_since(&s, sent + 12000), sent + 350);

    /* The client side of AlterPartition (RF 1: the ISR is just us). */
    release(create_topic(&n, "iso", 1, 1, NULL, NULL));
    for (int i = 0; i < 100 && image_find_topic(broker_session_image(&s), "iso") == NULL; i++) {
        run_for(&n, 10);
    }
    const PartitionState *p = image_find_topic(n.quorum.fsm.image, "iso")->partitions[0];
    struct broker_isr_member me = {7, broker_session_epoch(&s)};
    struct broker_alter_partition op;
    ck_assert_int_eq(broker_session_alter_partition(
                         &s, &op, image_find_topic(n.quorum.fsm.image, "iso")->topic_id, 0,
                         p->leader_epoch, p->partition_epoch + 1, &me, 1, on_altered),
                     0);
    for (int i = 0; i < 300 && altered_status == 1; i++) {
        run_for(&n, 10);
    }
    ck_assert_int_eq(altered_status, 0);
    ck_assert_int_eq(altered_code, KAFKA_ERROR_INVALID_UPDATE_VERSION);
    ck_assert_int_eq(altered_isr_size, 1);

    /* "SIGSTOP": no heartbeats past both session timeouts. */
    uv_timer_stop(&s.timer);
    int64_t paused_at = fsm_offset(&n.quorum.fsm);
    for (int i = 0; i < 300 && !image_find_broker(n.quorum.fsm.image, 7)->fenced; i++) {
        run_for(&n, 10);
    }
    ck_assert(image_find_broker(n.quorum.fsm.image, 7)->fenced);
    int64_t fenced_at = fsm_offset(&n.quorum.fsm);
    ck_assert_int_gt(fenced_at, paused_at);
    ck_assert_int_eq(image_find_topic(n.quorum.fsm.image, "iso")->partitions[0]->leader, -1);
    uv_update_time(&n.loop);
    ck_assert(broker_session_is_isolated(&s, uv_now(&n.loop)));
    ck_assert(!broker_session_may_lead(&s, uv_now(&n.loop)));
    ck_assert_int_lt(fsm_offset(&s.metadata), fenced_at); /* its image is stale */
    /* "SIGCONT": the first tick says isolated; then it may lead only with
     * an image past the fencing. */
    isolated_calls = 0;
    /* Worst order first: the heartbeat answered while the metadata stream
     * is held back (as if its fetch were slow). */
    s.fetch_busy = true;
    uv_timer_again(&s.timer);
    uint64_t acked_before = s.last_acked_sent;
    for (int i = 0; i < 300 && s.last_acked_sent == acked_before; i++) {
        run_for(&n, 10);
    }
    ck_assert_uint_gt(s.last_acked_sent, acked_before);
    ck_assert(!broker_session_is_isolated(&s, uv_now(&n.loop)));
    ck_assert(!broker_session_may_lead(&s, uv_now(&n.loop)));
    s.fetch_busy = false;
    bool led_again = false;
    for (int i = 0; i < 3000 && !led_again; i++) {
        uv_run(&n.loop, UV_RUN_ONCE);
        if (broker_session_may_lead(&s, uv_now(&n.loop))) {
            led_again = true;
            ck_assert_int_gt(fsm_offset(&s.metadata), fenced_at);
            ck_assert(!image_find_broker(broker_session_image(&s), 7)->fenced);
        }
    }
    ck_assert(led_again);
    ck_assert_int_eq(isolated_calls, 1);

    bool stopped = false;
    s.data = &stopped;
    broker_session_stop(&s, on_session_stopped);
    for (int i = 0; i < 300 && !stopped; i++) {
        run_for(&n, 10);
    }
    ck_assert(stopped);
    node_stop(&n);
}
END_TEST

static bool unfence_allowed;
static int unfence_asked;

static bool ready_when_allowed(struct broker_session *s)
{
    (void)s;
    unfence_asked++;
    return unfence_allowed;
}

static bool image_shows_fenced(const MetadataImage *img, int32_t id)
{
    const BrokerState *b = image_find_broker(img, id);
    ck_assert_ptr_nonnull(b);
    return b->fenced;
}

/* A broker whose owner is not ready (its partitions still opening) stays
 * fenced though caught up: its heartbeats carry want_fence. Ready, it is
 * unfenced at once; the answer is latched, so being busy later (a new
 * topic's opens) does not fence it, and after a lapsed session it is
 * unfenced again without being asked. */
START_TEST(test_broker_session_fenced_until_ready)
{
    struct node n;
    node_start(&n, 400);
    struct broker_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"};
    struct broker_session_options o = short_session_options(&ep);
    struct broker_session s;
    unfence_allowed = false;
    unfence_asked = 0;
    ck_assert_int_eq(broker_session_start(&s, &n.loop, &n.voters, &o, NULL), 0);
    s.ready_to_unfence = ready_when_allowed;
    for (int i = 0; i < 300 && unfence_asked < 10; i++) {
        run_for(&n, 10);
    }
    /* Registered, caught up, heartbeats answered for 10 ticks: still fenced. */
    ck_assert_int_ge(unfence_asked, 10);
    ck_assert(broker_session_registered(&s));
    ck_assert_int_ge(fsm_offset(&s.metadata), broker_session_epoch(&s));
    ck_assert(!broker_session_is_isolated(&s, uv_now(&n.loop)));
    ck_assert(s.fenced);
    ck_assert(image_shows_fenced(n.quorum.fsm.image, 7));
    ck_assert(!broker_session_may_lead(&s, uv_now(&n.loop)));

    unfence_allowed = true;
    for (int i = 0; i < 300 && s.fenced; i++) {
        run_for(&n, 10);
    }
    ck_assert(!s.fenced);
    ck_assert(!image_shows_fenced(n.quorum.fsm.image, 7));

    /* Busy again: not asked any more, and not fenced by a new topic. */
    unfence_allowed = false;
    int asked = unfence_asked;
    release(create_topic(&n, "later", 4, 1, NULL, NULL));
    ck_assert_int_eq(image_find_topic(n.quorum.fsm.image, "later")->partitions[0]->leader, 7);
    run_for(&n, 300);
    ck_assert_int_eq(unfence_asked, asked);
    ck_assert(!image_shows_fenced(n.quorum.fsm.image, 7));
    ck_assert(!s.fenced);

    /* A lapsed session ("SIGSTOP" past the timeout) is fenced by the
     * controller; resumed, the broker is unfenced again. */
    uv_timer_stop(&s.timer);
    for (int i = 0; i < 300 && !image_shows_fenced(n.quorum.fsm.image, 7); i++) {
        run_for(&n, 10);
    }
    ck_assert(image_shows_fenced(n.quorum.fsm.image, 7));
    uv_timer_again(&s.timer);
    for (int i = 0; i < 300 && image_shows_fenced(n.quorum.fsm.image, 7); i++) {
        run_for(&n, 10);
    }
    ck_assert(!image_shows_fenced(n.quorum.fsm.image, 7));
    ck_assert_int_eq(unfence_asked, asked);

    bool stopped = false;
    s.data = &stopped;
    broker_session_stop(&s, on_session_stopped);
    for (int i = 0; i < 300 && !stopped; i++) {
        run_for(&n, 10);
    }
    ck_assert(stopped);
    node_stop(&n);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("broker_session");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_broker_session_lifecycle);
    tcase_add_test(tc, test_broker_session_isolation);
    tcase_add_test(tc, test_broker_session_fenced_until_ready);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
