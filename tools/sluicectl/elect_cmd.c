/* sluicectl partition elect-leaders; see elect_cmd.h. The bootstrap broker
 * forwards the election to the active controller, so no reconnect is
 * needed. */
#include "tools/sluicectl/elect_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kafka_messages.h"
#include "proto/kafka/kafka_errors.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/plan_json.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT        (64u << 20)
#define DEFAULT_TIMEOUT_MS 60000
#define ELECTION_PREFERRED 0
#define ELECTION_UNCLEAN   1

struct elect_run {
    struct admin_session s;
    const char *json_file, *topic;
    long partition; /* with --topic; -1 none */
    bool all;
    int8_t type;
    int election_timeout_ms; /* the controller's deadline: --timeout-ms */
};

static void usage(void)
{
    fprintf(stderr, "usage: sluicectl partition elect-leaders --bootstrap-server host:port\n"
                    "           --election-type preferred|unclean\n"
                    "           (--all-topic-partitions | --topic T --partition P |\n"
                    "            --path-to-json-file FILE)\n"
                    "           [--json] [--command-config FILE] [--timeout-ms N]\n"
                    "\n"
                    "Elects each partition's preferred replica (the first of its replicas) as its\n"
                    "leader, or with unclean any live replica. FILE is kafka-leader-election.sh's\n"
                    "{\"partitions\":[{\"topic\":\"t\",\"partition\":0},...]}.\n"
                    "exit codes: 0 ok, 1 an election failed, 2 usage, 3 cannot connect\n");
}

/* The request's topic list from --path-to-json-file: partitions of one topic
 * grouped into one entry, in the file's order. */
static int topics_from_file(struct elect_run *r, struct kafka_elect_leaders_request *req)
{
    struct json_object *doc = plan_json_load(r->json_file, r->s.err, sizeof r->s.err);
    if (doc == NULL) {
        return -1;
    }
    struct json_object *parts;
    size_t n = plan_json_array(doc, "partitions", &parts);
    int rv = -1;
    if (n == 0) {
        snprintf(r->s.err, sizeof r->s.err, "%s: needs a non-empty \"partitions\" array",
                 r->json_file);
        goto out;
    }
    req->topic_partitions = kafka_arena_alloc_array(&r->s.arena, n, sizeof *req->topic_partitions);
    if (req->topic_partitions == NULL) {
        snprintf(r->s.err, sizeof r->s.err, "out of memory");
        goto out;
    }
    req->topic_partitions_count = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *entry = json_object_array_get_idx(parts, i), *pv = NULL;
        const char *topic = plan_json_string(entry, "topic");
        int32_t partition = -1;
        int bad = json_object_is_type(entry, json_type_object) &&
                          json_object_object_get_ex(entry, "partition", &pv)
                      ? plan_json_index(pv, &partition)
                      : -1;
        if (topic == NULL || bad != 0) {
            snprintf(r->s.err, sizeof r->s.err,
                     "%s: partitions[%zu] needs \"topic\" (string) and \"partition\" (>= 0%s)",
                     r->json_file, i, bad == -2 ? "; only integers below 2^31" : "");
            goto out;
        }
        struct kafka_elect_leaders_request_topic_partitions *e = NULL;
        for (int32_t k = 0; k < req->topic_partitions_count; k++) {
            if (strcmp(req->topic_partitions[k].topic, topic) == 0) {
                e = &req->topic_partitions[k];
            }
        }
        if (e == NULL) {
            e = &req->topic_partitions[req->topic_partitions_count++];
            kafka_elect_leaders_request_topic_partitions_init(e);
            size_t len = strlen(topic) + 1;
            char *name = kafka_arena_alloc(&r->s.arena, len);
            e->partitions = kafka_arena_alloc_array(&r->s.arena, n, sizeof *e->partitions);
            if (name == NULL || e->partitions == NULL) {
                snprintf(r->s.err, sizeof r->s.err, "out of memory");
                goto out;
            }
            memcpy(name, topic, len);
            e->topic = name;
            e->partitions_count = 0;
        }
        for (int32_t k = 0; k < e->partitions_count; k++) {
            if (e->partitions[k] == partition) {
                snprintf(r->s.err, sizeof r->s.err, "%s: %s-%d is listed twice", r->json_file,
                         topic, partition);
                goto out;
            }
        }
        e->partitions[e->partitions_count++] = partition;
    }
    rv = 0;
out:
    json_object_put(doc);
    return rv;
}

static void print_results(const struct elect_run *r,
                          const struct kafka_elect_leaders_response *resp, int *failed)
{
    const char *type = r->type == ELECTION_PREFERRED ? "PREFERRED" : "UNCLEAN";
    if (r->s.json) {
        printf("[");
    }
    int k = 0;
    for (int pass = 0; pass < 3; pass++) {
        /* Text: successes, then partitions already led by a valid replica,
         * then failures, as kafka-leader-election.sh groups them. */
        bool first = true;
        for (int32_t i = 0; i < resp->replica_election_results_count; i++) {
            const struct kafka_elect_leaders_response_replica_election_result *t =
                &resp->replica_election_results[i];
            for (int32_t j = 0; j < t->partition_result_count; j++) {
                const struct kafka_elect_leaders_response_partition_result *p =
                    &t->partition_result[j];
                int group = p->error_code == KAFKA_ERROR_NONE                  ? 0
                            : p->error_code == KAFKA_ERROR_ELECTION_NOT_NEEDED ? 1
                                                                               : 2;
                if (r->s.json) {
                    if (pass == 0) {
                        printf("%s{\"topic\":", k++ ? "," : "");
                        output_json_string(stdout, t->topic);
                        printf(",\"partition\":%d,\"error\":", p->partition_id);
                        output_json_string(stdout, p->error_code == KAFKA_ERROR_NONE
                                                       ? NULL
                                                       : kafka_error_name(p->error_code));
                        printf(",\"message\":");
                        output_json_string(stdout, p->error_message);
                        printf("}");
                        *failed += group == 2;
                    }
                    continue;
                }
                if (group != pass) {
                    continue;
                }
                if (pass == 2) {
                    printf("Error completing leader election (%s) for partition: %s-%d: %s%s%s\n",
                           type, t->topic, p->partition_id, kafka_error_name(p->error_code),
                           p->error_message ? ": " : "", p->error_message ? p->error_message : "");
                    (*failed)++;
                    continue;
                }
                if (first && pass == 0) {
                    printf("Successfully completed leader election (%s) for partitions ", type);
                } else if (first) {
                    printf("Valid replica already elected for partitions ");
                }
                printf("%s%s-%d", first ? "" : ", ", t->topic, p->partition_id);
                first = false;
            }
        }
        if (!r->s.json && !first) {
            printf("\n");
        }
    }
    if (r->s.json) {
        printf("]\n");
    }
}

static int elect(struct elect_run *r)
{
    struct kafka_elect_leaders_request req;
    kafka_elect_leaders_request_init(&req);
    req.election_type = r->type;
    req.timeout_ms = r->election_timeout_ms;
    struct kafka_elect_leaders_request_topic_partitions one;
    int32_t partition = (int32_t)r->partition;
    if (r->all) {
        req.topic_partitions = NULL;
        req.topic_partitions_count = -1;
    } else if (r->json_file != NULL) {
        if (topics_from_file(r, &req) != 0) {
            return SLUICECTL_USAGE;
        }
    } else {
        kafka_elect_leaders_request_topic_partitions_init(&one);
        one.topic = r->topic;
        one.partitions = &partition;
        one.partitions_count = 1;
        req.topic_partitions = &one;
        req.topic_partitions_count = 1;
    }
    struct kafka_writer w;
    admin_session_begin(&r->s, &w);
    int rv = kafka_elect_leaders_request_encode(&w, 2, &req);
    kafka_writer_free(&w);
    if (rv != 0) {
        snprintf(r->s.err, sizeof r->s.err, "cannot encode the ElectLeaders request");
        return SLUICECTL_FAILED;
    }
    struct kafka_reader rd;
    if (admin_session_call(&r->s, KAFKA_API_ELECT_LEADERS, 2, &rd) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_elect_leaders_response resp;
    if (kafka_elect_leaders_response_decode(&rd, 2, &resp) != 0) {
        snprintf(r->s.err, sizeof r->s.err, "cannot decode the ElectLeaders response from %s",
                 r->s.client.peer);
        return SLUICECTL_FAILED;
    }
    if (resp.error_code != KAFKA_ERROR_NONE) {
        snprintf(r->s.err, sizeof r->s.err, "leader election: %s",
                 kafka_error_name(resp.error_code));
        return SLUICECTL_FAILED;
    }
    int failed = 0;
    print_results(r, &resp, &failed);
    if (failed > 0) {
        snprintf(r->s.err, sizeof r->s.err, "%d election%s failed", failed, failed == 1 ? "" : "s");
        return SLUICECTL_FAILED;
    }
    return SLUICECTL_OK;
}

static int take_option(void *cmd, int c, const char *arg)
{
    struct elect_run *r = cmd;
    char *end;
    if (c == 'e' && strcasecmp(arg, "preferred") == 0) {
        r->type = ELECTION_PREFERRED;
    } else if (c == 'e' && strcasecmp(arg, "unclean") == 0) {
        r->type = ELECTION_UNCLEAN;
    } else if (c == 'a') {
        r->all = true;
    } else if (c == 'T') {
        r->topic = arg;
    } else if (c == 'p' && (r->partition = strtol(arg, &end, 10)) >= 0 && *end == '\0' &&
               r->partition <= INT32_MAX) {
        return 0;
    } else if (c == 'f') {
        r->json_file = arg;
    } else {
        return -1;
    }
    return 0;
}

int elect_cmd_main(int argc, char **argv)
{
    static const struct option long_options[] = {
        ADMIN_SESSION_OPTIONS,
        {"election-type", required_argument, NULL, 'e'},
        {"all-topic-partitions", no_argument, NULL, 'a'},
        {"topic", required_argument, NULL, 'T'},
        {"partition", required_argument, NULL, 'p'},
        {"path-to-json-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct elect_run r;
    memset(&r, 0, sizeof r);
    admin_session_init(&r.s);
    r.s.timeout_ms = DEFAULT_TIMEOUT_MS;
    r.partition = -1;
    r.type = -1;
    int parsed = admin_session_getopt(&r.s, argc, argv, "b:h", long_options, take_option, &r);
    if (parsed != 0) {
        usage();
        return parsed > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    int sources = r.all + (r.topic != NULL) + (r.json_file != NULL);
    if (r.s.bootstrap == NULL || optind != argc || r.type < 0 || sources != 1 ||
        (r.topic != NULL) != (r.partition >= 0)) {
        if (r.type < 0 && r.s.bootstrap != NULL) {
            fprintf(stderr, "sluicectl: --election-type preferred|unclean is required\n");
        } else if (sources != 1) {
            fprintf(stderr, "sluicectl: name the partitions with exactly one of "
                            "--all-topic-partitions, --topic/--partition, --path-to-json-file\n");
        }
        usage();
        return SLUICECTL_USAGE;
    }
    /* The socket waits 5 s past the controller's deadline, so that its
     * answer (with each partition's error) arrives rather than a timeout. */
    r.election_timeout_ms = r.s.timeout_ms;
    r.s.timeout_ms += 5000;
    int rv = admin_session_open(&r.s, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        rv = elect(&r);
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", r.s.err);
        }
    }
    admin_session_close(&r.s);
    return rv;
}
