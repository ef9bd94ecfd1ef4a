/* sluicectl txn list | describe ID; see txn_cmd.h. list asks every broker
 * (ListTransactions v0) and merges; describe asks the id's coordinator
 * (FindCoordinator key type 1, then DescribeTransactions v0). */
#include "tools/sluicectl/txn_cmd.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT (64u << 20)

static void usage(void)
{
    fprintf(stderr, "usage: sluicectl txn list --bootstrap-server host:port [--json]\n"
                    "       sluicectl txn describe ID --bootstrap-server host:port [--json]\n"
                    "\n" ADMIN_SESSION_OPTIONS_HELP "\n"
                    "list: every transactional id with its producer id and state.\n"
                    "describe: the id's coordinator, producer id and epoch, state, timeout,\n"
                    "          start time (-1: none) and the partitions of its transaction.\n"
                    "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

struct listed {
    const char *id, *state;
    int64_t producer_id;
    int32_t coordinator;
};

static int compare_listed(const void *a, const void *b)
{
    return strcmp(((const struct listed *)a)->id, ((const struct listed *)b)->id);
}

static void print_list(bool json, const struct listed *all, size_t n)
{
    if (json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"transactional_id\":", i ? "," : "");
            output_json_string(stdout, all[i].id);
            printf(",\"coordinator\":%d,\"producer_id\":%" PRId64 ",\"state\":", all[i].coordinator,
                   all[i].producer_id);
            output_json_string(stdout, all[i].state);
            printf("}");
        }
        printf("]\n");
        return;
    }
    int width = 15;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(all[i].id);
        width = len > width ? len : width;
    }
    printf("%-*s  %11s  %20s  %s\n", width, "TRANSACTIONALID", "COORDINATOR", "PRODUCERID",
           "TRANSACTIONSTATE");
    for (size_t i = 0; i < n; i++) {
        printf("%-*s  %11d  %20" PRId64 "  %s\n", width, all[i].id, all[i].coordinator,
               all[i].producer_id, all[i].state);
    }
}

static int do_list(struct admin_session *s)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(s, (const char *[]){NULL}, 0, &md) != 0) {
        return SLUICECTL_FAILED;
    }
    struct listed *all = NULL;
    size_t n = 0;
    for (int32_t b = 0; b < md.brokers_count; b++) {
        if (admin_session_reconnect(s, md.brokers[b].host, md.brokers[b].port) != 0) {
            free(all);
            return SLUICECTL_CONNECT;
        }
        struct kafka_list_transactions_request req;
        kafka_list_transactions_request_init(&req);
        req.state_filters_count = 0;
        req.producer_id_filters_count = 0;
        struct kafka_writer w;
        admin_session_begin(s, &w);
        int rv = kafka_list_transactions_request_encode(&w, 0, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_list_transactions_response resp;
        if (rv != 0 || admin_session_call(s, KAFKA_API_LIST_TRANSACTIONS, 0, &r) != 0 ||
            kafka_list_transactions_response_decode(&r, 0, &resp) != 0) {
            free(all);
            return SLUICECTL_FAILED;
        }
        if (resp.error_code != KAFKA_ERROR_NONE) {
            free(all);
            admin_session_fail(s, "list transactions", resp.error_code);
            return SLUICECTL_FAILED;
        }
        size_t want = n + (size_t)resp.transaction_states_count + 1;
        struct listed *grown = realloc(all, want * sizeof *all);
        if (grown == NULL) {
            free(all);
            return SLUICECTL_FAILED;
        }
        all = grown;
        for (int32_t i = 0; i < resp.transaction_states_count; i++) {
            const struct kafka_list_transactions_response_transaction_state *t =
                &resp.transaction_states[i];
            all[n++] = (struct listed){t->transactional_id, t->transaction_state, t->producer_id,
                                       md.brokers[b].node_id};
        }
    }
    if (n > 1) {
        qsort(all, n, sizeof *all, compare_listed);
    }
    print_list(s->json, all, n);
    free(all);
    return SLUICECTL_OK;
}

static void print_described(bool json,
                            const struct kafka_describe_transactions_response_transaction_state *t)
{
    if (json) {
        printf("{\"transactional_id\":");
        output_json_string(stdout, t->transactional_id);
        printf(",\"producer_id\":%" PRId64 ",\"producer_epoch\":%d,\"state\":", t->producer_id,
               t->producer_epoch);
        output_json_string(stdout, t->transaction_state);
        printf(",\"timeout_ms\":%d,\"start_time_ms\":%" PRId64 ",\"partitions\":[",
               t->transaction_timeout_ms, t->transaction_start_time_ms);
    } else {
        printf("TransactionalId:   %s\nProducerId:        %" PRId64 "\nProducerEpoch:     %d\n"
               "TransactionState:  %s\nTimeoutMs:         %d\nStartTimeMs:       %" PRId64
               "\nPartitions:       ",
               t->transactional_id, t->producer_id, t->producer_epoch, t->transaction_state,
               t->transaction_timeout_ms, t->transaction_start_time_ms);
    }
    int k = 0;
    for (int32_t i = 0; i < t->topics_count; i++) {
        for (int32_t j = 0; j < t->topics[i].partitions_count; j++, k++) {
            if (json) {
                printf("%s{\"topic\":", k ? "," : "");
                output_json_string(stdout, t->topics[i].topic);
                printf(",\"partition\":%d}", t->topics[i].partitions[j]);
            } else {
                printf("%s %s-%d", k ? "," : "", t->topics[i].topic, t->topics[i].partitions[j]);
            }
        }
    }
    printf(json ? "]}\n" : "\n");
}

static int do_describe(struct admin_session *s, const char *id)
{
    if (admin_session_connect_coordinator(s, 1, id) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_transactions_request req;
    kafka_describe_transactions_request_init(&req);
    req.transactional_ids = &id;
    req.transactional_ids_count = 1;
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_describe_transactions_request_encode(&w, 0, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_describe_transactions_response resp;
    if (rv != 0 || admin_session_call(s, KAFKA_API_DESCRIBE_TRANSACTIONS, 0, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    if (kafka_describe_transactions_response_decode(&r, 0, &resp) != 0 ||
        resp.transaction_states_count != 1) {
        snprintf(s->err, sizeof s->err, "cannot decode describe_transactions from %s",
                 s->client.peer);
        return SLUICECTL_FAILED;
    }
    const struct kafka_describe_transactions_response_transaction_state *t =
        &resp.transaction_states[0];
    if (t->error_code != KAFKA_ERROR_NONE) {
        admin_session_fail(s, id, t->error_code);
        return SLUICECTL_FAILED;
    }
    print_described(s->json, t);
    return SLUICECTL_OK;
}

int txn_cmd_main(int argc, char **argv)
{
    struct admin_session s;
    admin_session_init(&s);
    int parsed = admin_session_parse(&s, argc, argv, usage);
    if (parsed >= 0) {
        return parsed;
    }
    int args = argc - optind;
    const char *verb = args >= 1 ? argv[optind] : "";
    bool list = strcmp(verb, "list") == 0 && args == 1;
    bool describe = strcmp(verb, "describe") == 0 && args == 2;
    if (!list && !describe) {
        usage();
        return SLUICECTL_USAGE;
    }
    int rv = admin_session_open(&s, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        rv = list ? do_list(&s) : do_describe(&s, argv[optind + 1]);
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", s.err);
        }
    }
    admin_session_close(&s);
    return rv;
}
