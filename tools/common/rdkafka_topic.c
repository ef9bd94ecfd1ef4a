#include "rdkafka_topic.h"

#include <stdio.h>

/* 0 created, 1 existed, -1 failed; `why` says why it failed. */
static int topic_outcome(rd_kafka_event_t *ev, const char **why)
{
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        *why = ev != NULL ? rd_kafka_event_error_string(ev) : "timed out";
        return -1;
    }
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n != 1) {
        *why = "no result";
        return -1;
    }
    switch (rd_kafka_topic_result_error(res[0])) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return 1;
    default:
        *why = rd_kafka_topic_result_error_string(res[0]);
        return -1;
    }
}

int tools_create_topic(rd_kafka_t *rk, rd_kafka_NewTopic_t *nt, const char *topic, int timeout_ms,
                       const char *prog)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
    const char *why = NULL;
    int rv = topic_outcome(ev, &why);
    if (rv < 0) {
        fprintf(stderr, "%s: create topic %s: %s\n", prog, topic, why);
    }
    if (ev != NULL) {
        rd_kafka_event_destroy(ev); /* after the message: `why` may point into it */
    }
    rd_kafka_queue_destroy(q);
    return rv;
}
