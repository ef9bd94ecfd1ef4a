/* controller_burst: create topics one after another through the controller
 * RPC (controller_client: finds the active controller, follows
 * NOT_CONTROLLER, retries on other voters), printing each outcome:
 *
 *   controller_burst VOTERS PREFIX COUNT [TIMEOUT_MS]
 *
 *   acked NAME     created by this request
 *   exists NAME    TOPIC_ALREADY_EXISTS: an earlier attempt whose answer was
 *                  lost (leader killed after appending) did commit
 *   failed NAME E  any other outcome (E: status or Kafka error)
 *
 * Used by tests/cluster/test_controller_quorum.py to kill the raft leader in
 * the middle of a burst and check no acknowledged creation is lost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "metadata/controller_client.h"
#include "proto/kafka/kafka_errors.h"
#include "proto/controller.pb-c.h"

struct burst {
    uv_loop_t loop;
    struct controller_client client;
    struct controller_request req;
    const char *prefix;
    int count, next, failed;
    uint64_t timeout_ms;
    char name[256];
};

static void send_next(struct burst *b);

static void on_created(struct controller_request *req, int status, const ProtobufCMessage *m)
{
    struct burst *b = req->data;
    const Sluice__Controller__CreateTopicsResponse *resp =
        (const Sluice__Controller__CreateTopicsResponse *)m;
    int32_t code = status == 0 && resp->n_topics == 1 ? resp->topics[0]->error_code : -1;
    if (status == 0 && code == KAFKA_ERROR_NONE) {
        printf("acked %s\n", b->name);
    } else if (status == 0 && code == KAFKA_ERROR_TOPIC_ALREADY_EXISTS) {
        printf("exists %s\n", b->name);
    } else {
        printf("failed %s %d\n", b->name, status != 0 ? status : code);
        b->failed++;
    }
    fflush(stdout);
    send_next(b);
}

static void send_next(struct burst *b)
{
    if (b->next == b->count) {
        controller_client_close(&b->client, NULL);
        return;
    }
    snprintf(b->name, sizeof b->name, "%s-%d", b->prefix, b->next++);
    Sluice__Controller__CreatableTopic t = SLUICE__CONTROLLER__CREATABLE_TOPIC__INIT;
    Sluice__Controller__CreatableTopic *ts[1] = {&t};
    t.name = b->name;
    t.num_partitions = 1;
    t.replication_factor = 1;
    Sluice__Controller__CreateTopicsRequest req = SLUICE__CONTROLLER__CREATE_TOPICS_REQUEST__INIT;
    req.version = 1;
    req.topics = ts;
    req.n_topics = 1;
    b->req.data = b;
    if (controller_client_call(
            &b->client, &b->req,
            SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CREATE_TOPICS, &req.base,
            &sluice__controller__create_topics_response__descriptor, b->timeout_ms,
            on_created) != 0) {
        printf("failed %s -12\n", b->name);
        b->failed++;
        controller_client_close(&b->client, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: controller_burst VOTERS PREFIX COUNT [TIMEOUT_MS]\n");
        return 2;
    }
    struct burst b;
    memset(&b, 0, sizeof b);
    b.prefix = argv[2];
    b.count = atoi(argv[3]);
    b.timeout_ms = argc > 4 ? (uint64_t)atoll(argv[4]) : 15000;
    struct voters voters;
    char err[256];
    if (voters_parse(argv[1], &voters, err, sizeof err) != 0) {
        fprintf(stderr, "controller_burst: %s\n", err);
        return 2;
    }
    uv_loop_init(&b.loop);
    if (controller_client_init(&b.client, &b.loop, &voters) != 0) {
        return 1;
    }
    send_next(&b);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    return b.failed == 0 ? 0 : 1;
}
