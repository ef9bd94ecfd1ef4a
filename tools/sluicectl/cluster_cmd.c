/* sluicectl cluster status; see cluster_cmd.h. */
#include "tools/sluicectl/cluster_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/rpc_client.h"
#include "common/tls.h"
#include "proto/controller.pb-c.h"
#include "tools/sluicectl/client_security.h"
#include "tools/sluicectl/output.h"

#define MAX_CONTROLLERS    16
#define DEFAULT_TIMEOUT_MS 3000

typedef Sluice__Controller__DescribeQuorumResponse QuorumAnswer;

struct controller_view {
    int32_t id;
    char address[300];
    QuorumAnswer *answer; /* NULL: unreachable */
};

struct status {
    uv_loop_t loop;
    int timeout_ms;
    bool json;
    struct controller_view c[MAX_CONTROLLERS];
    size_t n;
    const QuorumAnswer *best; /* whose image we show */
    /* --command-config with security.protocol=SSL: the controllers' RPC
     * listener speaks mutual TLS (common/internal_tls.h). */
    struct tls_settings tls_settings;
    struct tls_context *tls;
    bool tls_verify_host;
    char *cert_pem, *key_pem;
};

struct ask {
    bool done, closed;
    QuorumAnswer *answer;
};

static void on_answer(struct rpc_request *req, int status, const struct rpc_frame *f)
{
    struct ask *a = req->data;
    a->done = true;
    if (status == 0 && f->error == 0) {
        a->answer =
            sluice__controller__describe_quorum_response__unpack(NULL, f->body_len, f->body);
    }
}

static void on_closed(struct rpc_client *c)
{
    ((struct ask *)c->data)->closed = true;
}

/* DescribeQuorum of one controller at "host:port"; NULL if it does not answer. */
static QuorumAnswer *ask(struct status *st, const char *address)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
        return NULL;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct ask a = {0};
    struct rpc_client client;
    struct rpc_client_options o = {.connect_timeout_ms = (uint64_t)st->timeout_ms,
                                   .tls = st->tls,
                                   .tls_verify_host = st->tls_verify_host};
    if (rpc_client_init(&client, &st->loop, host, atoi(colon + 1), &o) != 0) {
        return NULL;
    }
    client.data = &a;
    Sluice__Controller__DescribeQuorumRequest req =
        SLUICE__CONTROLLER__DESCRIBE_QUORUM_REQUEST__INIT;
    req.version = 1;
    struct rpc_request r = {.data = &a};
    if (rpc_client_call(&client, &r,
                        SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_DESCRIBE_QUORUM, 1,
                        &req.base, NULL, 0, (uint64_t)st->timeout_ms, on_answer) != 0) {
        a.done = true;
    }
    while (!a.done) {
        uv_run(&st->loop, UV_RUN_ONCE);
    }
    rpc_client_close(&client, on_closed);
    while (!a.closed) {
        uv_run(&st->loop, UV_RUN_ONCE);
    }
    return a.answer;
}

/* Ask the bootstrap controllers for the voter list, then every voter. */
static int gather(struct status *st, const char *bootstrap)
{
    QuorumAnswer *first = NULL;
    char list[1024];
    snprintf(list, sizeof list, "%s", bootstrap);
    for (char *save, *a = strtok_r(list, ",", &save); a != NULL && first == NULL;
         a = strtok_r(NULL, ",", &save)) {
        first = ask(st, a);
    }
    if (first == NULL) {
        return -1;
    }
    for (size_t i = 0; i < first->n_voters && st->n < MAX_CONTROLLERS; i++) {
        struct controller_view *v = &st->c[st->n++];
        v->id = first->voters[i]->node_id;
        snprintf(v->address, sizeof v->address, "%s", first->voters[i]->address);
        v->answer = v->id == first->node_id ? first : ask(st, v->address);
    }
    bool first_kept = false;
    for (size_t i = 0; i < st->n; i++) {
        const QuorumAnswer *a = st->c[i].answer;
        first_kept |= a == first;
        if (a == NULL || a->image == NULL) {
            continue;
        }
        if (st->best == NULL || strcmp(a->state, "leader") == 0 ||
            (strcmp(st->best->state, "leader") != 0 &&
             a->metadata_offset > st->best->metadata_offset)) {
            st->best = a;
        }
    }
    if (!first_kept) {
        sluice__controller__describe_quorum_response__free_unpacked(first, NULL);
    }
    return 0;
}

static int32_t leader_id(const struct status *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const QuorumAnswer *a = st->c[i].answer;
        if (a != NULL && strcmp(a->state, "leader") == 0) {
            return st->c[i].id;
        }
    }
    return -1;
}

static void print_ints(FILE *f, const int32_t *v, size_t n, const char *sep)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s%d", i ? sep : "", v[i]);
    }
}

/* Kafka's terms: offline (no leader), under-replicated (ISR smaller than
 * the replica set), else in sync. */
static const char *partition_state_name(const Sluice__Metadata__PartitionState *ps)
{
    return ps->leader < 0 ? "offline" : ps->n_isr < ps->n_replicas ? "under-replicated" : "in-sync";
}

static void print_text(const struct status *st)
{
    const Sluice__Metadata__MetadataImage *img = st->best != NULL ? st->best->image : NULL;
    printf("cluster.id: %s\nactive controller: %d\n\n", img ? img->cluster_id : "?", leader_id(st));
    printf("%-4s %-24s %-20s %-8s %-12s %-12s %s\n", "ID", "ADDRESS", "STATE", "TERM", "LAST_INDEX",
           "LAST_APPLIED", "METADATA_OFFSET");
    for (size_t i = 0; i < st->n; i++) {
        const QuorumAnswer *a = st->c[i].answer;
        if (a == NULL) {
            printf("%-4d %-24s %s\n", st->c[i].id, st->c[i].address, "unreachable");
            continue;
        }
        printf("%-4d %-24s %-20s %-8llu %-12llu %-12llu %lld\n", st->c[i].id, st->c[i].address,
               a->state, (unsigned long long)a->term, (unsigned long long)a->last_index,
               (unsigned long long)a->last_applied, (long long)a->metadata_offset);
    }
    if (img == NULL) {
        return;
    }
    printf("\n%-4s %-8s %-8s %-10s %s\n", "ID", "STATUS", "EPOCH", "RACK", "ENDPOINTS");
    for (size_t i = 0; i < img->n_brokers; i++) {
        const Sluice__Metadata__BrokerState *b = img->brokers[i];
        printf("%-4d %-8s %-8lld %-10s ", b->broker_id, b->fenced ? "fenced" : "alive",
               (long long)b->broker_epoch, b->rack[0] ? b->rack : "-");
        for (size_t e = 0; e < b->n_endpoints; e++) {
            printf("%s%s://%s:%u", e ? "," : "", b->endpoints[e]->name, b->endpoints[e]->host,
                   b->endpoints[e]->port);
        }
        printf("\n");
    }
    for (size_t t = 0; t < img->n_topics; t++) {
        const Sluice__Metadata__TopicState *ts = img->topics[t];
        printf("\ntopic %s (%zu partitions)\n  %-9s %-6s %-12s %-15s %-12s %-12s %s\n", ts->name,
               ts->n_partitions, "PARTITION", "LEADER", "LEADER_EPOCH", "PARTITION_EPOCH", "ISR",
               "REPLICAS", "STATE");
        for (size_t p = 0; p < ts->n_partitions; p++) {
            const Sluice__Metadata__PartitionState *ps = ts->partitions[p];
            printf("  %-9d %-6d %-12d %-15d ", ps->partition, ps->leader, ps->leader_epoch,
                   ps->partition_epoch);
            char isr[128] = "";
            FILE *m = fmemopen(isr, sizeof isr - 1, "w");
            if (m != NULL) {
                print_ints(m, ps->isr, ps->n_isr, ",");
                fclose(m);
            }
            printf("%-12s ", isr);
            char replicas[128] = "";
            m = fmemopen(replicas, sizeof replicas - 1, "w");
            if (m != NULL) {
                print_ints(m, ps->replicas, ps->n_replicas, ",");
                fclose(m);
            }
            printf("%-12s %s\n", replicas, partition_state_name(ps));
        }
    }
}

static void json_ints(const int32_t *v, size_t n)
{
    printf("[");
    print_ints(stdout, v, n, ",");
    printf("]");
}

static void json_controllers(const struct status *st)
{
    printf("\"controllers\":[");
    for (size_t i = 0; i < st->n; i++) {
        const QuorumAnswer *a = st->c[i].answer;
        printf("%s{\"id\":%d,\"address\":", i ? "," : "", st->c[i].id);
        output_json_string(stdout, st->c[i].address);
        if (a == NULL) {
            printf(",\"state\":\"unreachable\"}");
            continue;
        }
        printf(",\"state\":");
        output_json_string(stdout, a->state);
        printf(",\"term\":%llu,\"last_index\":%llu,\"last_applied\":%llu,\"metadata_offset\":%lld}",
               (unsigned long long)a->term, (unsigned long long)a->last_index,
               (unsigned long long)a->last_applied, (long long)a->metadata_offset);
    }
    printf("]");
}

static void json_brokers(const Sluice__Metadata__MetadataImage *img)
{
    printf(",\"brokers\":[");
    for (size_t i = 0; img != NULL && i < img->n_brokers; i++) {
        const Sluice__Metadata__BrokerState *b = img->brokers[i];
        printf("%s{\"id\":%d,\"epoch\":%lld,\"status\":\"%s\",\"fenced\":%s,\"rack\":",
               i ? "," : "", b->broker_id, (long long)b->broker_epoch,
               b->fenced ? "fenced" : "alive", b->fenced ? "true" : "false");
        output_json_string(stdout, b->rack[0] ? b->rack : NULL);
        printf(",\"endpoints\":[");
        for (size_t e = 0; e < b->n_endpoints; e++) {
            printf("%s{\"listener\":", e ? "," : "");
            output_json_string(stdout, b->endpoints[e]->name);
            printf(",\"host\":");
            output_json_string(stdout, b->endpoints[e]->host);
            printf(",\"port\":%u}", b->endpoints[e]->port);
        }
        printf("]}");
    }
    printf("]");
}

static void json_topics(const Sluice__Metadata__MetadataImage *img)
{
    printf(",\"topics\":[");
    for (size_t t = 0; img != NULL && t < img->n_topics; t++) {
        const Sluice__Metadata__TopicState *ts = img->topics[t];
        char id[32] = "";
        if (ts->topic_id.len == 16) {
            output_uuid(ts->topic_id.data, id);
        }
        printf("%s{\"name\":", t ? "," : "");
        output_json_string(stdout, ts->name);
        printf(",\"id\":\"%s\",\"partitions\":[", id);
        for (size_t p = 0; p < ts->n_partitions; p++) {
            const Sluice__Metadata__PartitionState *ps = ts->partitions[p];
            printf("%s{\"partition\":%d,\"leader\":%d,\"leader_epoch\":%d,\"partition_epoch\":%d,"
                   "\"isr\":",
                   p ? "," : "", ps->partition, ps->leader, ps->leader_epoch, ps->partition_epoch);
            json_ints(ps->isr, ps->n_isr);
            printf(",\"replicas\":");
            json_ints(ps->replicas, ps->n_replicas);
            printf(",\"under_replicated\":%s,\"offline\":%s}",
                   ps->n_isr < ps->n_replicas ? "true" : "false",
                   ps->leader < 0 ? "true" : "false");
        }
        printf("]}");
    }
    printf("]");
}

static void print_json(const struct status *st)
{
    const Sluice__Metadata__MetadataImage *img = st->best != NULL ? st->best->image : NULL;
    printf("{\"cluster_id\":");
    output_json_string(stdout, img != NULL ? img->cluster_id : NULL);
    printf(",\"leader_id\":%d,\"metadata_offset\":%lld,", leader_id(st),
           img != NULL ? (long long)img->offset : -1LL);
    json_controllers(st);
    json_brokers(img);
    json_topics(img);
    printf("}\n");
}

/* A PEM file's text (at most 1 MiB): a NUL-terminated malloc'd string. */
static int read_pem(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t cap = 1u << 20;
    char *text = malloc(cap + 1);
    size_t n = text != NULL ? fread(text, 1, cap, f) : 0;
    bool bad = text == NULL || ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(text);
        return -1;
    }
    text[n] = '\0';
    *out = text;
    return 0;
}

/* A client TLS context from the Kafka client properties: the certificate
 * and key files are read as PEM text (one file may hold both). */
static int open_tls(struct status *st, const char *command_config)
{
    struct client_security sec;
    char err[512];
    if (client_security_load(command_config, &sec, err, sizeof err) != 0) {
        fprintf(stderr, "sluicectl: %s\n", err);
        return -1;
    }
    if (!sec.tls) {
        return 0;
    }
    if (sec.cert[0] != '\0' &&
        (read_pem(sec.cert, &st->cert_pem) != 0 || read_pem(sec.key, &st->key_pem) != 0)) {
        fprintf(stderr, "sluicectl: cannot read %s or %s\n", sec.cert, sec.key);
        return -1;
    }
    st->tls_settings = (struct tls_settings){
        .keystore_certificate_chain = st->cert_pem,
        .keystore_key = st->key_pem,
        .truststore_location = sec.ca[0] != '\0' ? strdup(sec.ca) : NULL,
    };
    st->tls_verify_host = sec.verify_hostname;
    if (tls_context_new_client(&st->tls_settings, &st->tls, err, sizeof err) != 0) {
        fprintf(stderr, "sluicectl: TLS: %s\n", err);
        return -1;
    }
    return 0;
}

static void close_tls(struct status *st)
{
    tls_context_free(st->tls);
    free((char *)st->tls_settings.truststore_location);
    free(st->cert_pem);
    free(st->key_pem);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sluicectl cluster status --controller host:port[,host:port...] [--json]\n"
            "                                [--timeout-ms N] [--command-config FILE]\n"
            "\n"
            "Asks the controllers (the addresses of controller.quorum.voters) who leads,\n"
            "the raft term and progress of each, the brokers (alive or fenced) and every\n"
            "partition's leader, ISR and epochs. With --command-config (Kafka client\n"
            "properties) security.protocol=SSL, it speaks mutual TLS to controllers whose\n"
            "listener is SSL, presenting ssl.keystore.location (or ssl.certificate.location\n"
            "and ssl.key.location) and trusting ssl.truststore.location (or ssl.ca.location).\n");
}

int cluster_cmd_main(int argc, char **argv)
{
    static const struct option opts[] = {{"controller", required_argument, NULL, 'c'},
                                         {"bootstrap-controller", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"timeout-ms", required_argument, NULL, 't'},
                                         {"command-config", required_argument, NULL, 'K'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct status st;
    memset(&st, 0, sizeof st);
    st.timeout_ms = DEFAULT_TIMEOUT_MS;
    const char *bootstrap = NULL, *command_config = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:jt:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            bootstrap = optarg;
            break;
        case 'j':
            st.json = true;
            break;
        case 't':
            st.timeout_ms = atoi(optarg) > 0 ? atoi(optarg) : DEFAULT_TIMEOUT_MS;
            break;
        case 'K':
            command_config = optarg;
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "status") != 0 || bootstrap == NULL) {
        usage();
        return 2;
    }
    if (open_tls(&st, command_config) != 0) {
        close_tls(&st);
        return 2;
    }
    if (uv_loop_init(&st.loop) != 0) {
        close_tls(&st);
        return 3;
    }
    int rv = gather(&st, bootstrap);
    if (rv != 0) {
        fprintf(stderr, "sluicectl: no controller answered at %s\n", bootstrap);
    } else if (st.json) {
        print_json(&st);
    } else {
        print_text(&st);
    }
    int32_t leader = leader_id(&st);
    for (size_t i = 0; i < st.n; i++) {
        if (st.c[i].answer != NULL) {
            sluice__controller__describe_quorum_response__free_unpacked(st.c[i].answer, NULL);
        }
    }
    uv_run(&st.loop, UV_RUN_DEFAULT);
    uv_loop_close(&st.loop);
    close_tls(&st);
    return rv != 0 ? 3 : leader < 0 ? 1 : 0;
}
