/* Fuzz target: the Kafka request handlers after decoding, driven through
 * broker/kafka/dispatch.c exactly as a client reaches them: a real
 * connection (broker/kafka/connection.c) on loopback, the real metadata view
 * (metadata_quorum over a fixed image: this broker, node 1, alone and
 * unfenced; topic "fuzzseed" with 2 partitions and __consumer_offsets with 1,
 * all led by node 1 with ISR {1}), the replica manager with its partition
 * logs in a fresh directory (on /dev/shm where there is one) and the group
 * coordinator. Admin requests that need the controller fail (no client), as
 * they do on a broker that lost its controller.
 *
 * Input: the bytes a client sends, i.e. Kafka frames `size i32 BE, request`.
 * The target overwrites each complete frame's correlation id with the frame's
 * index, so every response names the one request it answers.
 *
 * Invariants: the broker never crashes or leaks (ASan); responses come in
 * request order (correlation ids strictly increasing), each answers a request
 * whose header decoded, and each decodes completely with our own response
 * codec at the request's version (ApiVersions outside our range: v0);
 * after the connection, the replica manager, the group coordinator and the
 * metadata view are stopped, the loop runs empty (nothing left pending).
 *
 * Everything is built and torn down per input, so nothing carries over from
 * one input to the next; the image, configuration and loop are made once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/group/group_coordinator.h"
#include "broker/kafka/connection.h"
#include "broker/kafka/dispatch.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_manager.h"
#include "common/bigendian.h"
#include "common/log.h"
#include "kafka_messages.h"
#include "kafka_messages_test.h"
#include "metadata/image.h"
#include "proto/kafka/kafka_header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NODE         1
#define FUZZ_TOPIC        "fuzzseed"
#define FUZZ_ARENA_LIMIT  (64u << 20)
#define FUZZ_MAX_REQUESTS 256
/* Loop turns without a byte moving before the input counts as answered
 * (what is still parked is answered by the teardown). */
#define FUZZ_IDLE_TURNS 8

struct sent_request {
    bool header_ok; /* the header decoded: a response may answer it */
    int16_t api_key, api_version;
    bool v0_api_versions; /* answered in the v0 format (KIP-511) */
};

/* Made once per process. */
static struct {
    bool ready;
    uv_loop_t loop;
    struct sluice_config cfg;
    MetadataImage *image;
    char dir[256];
} fz;

/* Per input. */
struct run {
    uv_tcp_t server;
    struct kafka_conn_options opts;
    struct kafka_conn *conns; /* registry: the one accepted connection */
    bool accepted, conn_gone;
    struct data_dirs dirs;
    struct metadata_view *view;
    struct replica_manager replicas;
    struct group_coordinator *groups;
    struct kafka_services services;
    int client;
    struct sent_request sent[FUZZ_MAX_REQUESTS];
    size_t n_sent;
    struct buf in; /* response bytes read by the client */
    int32_t last_correlation;
};

static const MetadataImage *fixed_image(void *data)
{
    (void)data;
    return fz.image;
}

static int64_t fixed_broker_epoch(void *data)
{
    (void)data;
    return 1;
}

/* No controller: an ISR change is refused, as when it is unreachable. */
static int no_alter_partition(void *data, const uint8_t topic_id[16], int32_t index,
                              int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                              const int64_t *broker_epochs, int32_t n_isr, replica_alter_cb cb,
                              void *arg)
{
    (void)data, (void)topic_id, (void)index, (void)leader_epoch, (void)partition_epoch;
    (void)isr, (void)broker_epochs, (void)n_isr, (void)cb, (void)arg;
    return -ENOTCONN;
}

static bool always_may_lead(void *data, uint64_t now_ms)
{
    (void)data, (void)now_ms;
    return true;
}

static void must(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_kafka_dispatch: %s\n", what);
        abort();
    }
}

static void add_topic(const char *name, uint8_t id_byte, int32_t n_partitions)
{
    static const int32_t self[] = {FUZZ_NODE};
    TopicState *t = malloc(sizeof *t);
    must(t != NULL, "out of memory");
    sluice__metadata__topic_state__init(t);
    t->name = image_strdup(name);
    t->topic_id.data = malloc(16);
    must(t->name != NULL && t->topic_id.data != NULL, "out of memory");
    memset(t->topic_id.data, id_byte, 16);
    t->topic_id.len = 16;
    for (int32_t i = 0; i < n_partitions; i++) {
        PartitionState *p = malloc(sizeof *p);
        must(p != NULL, "out of memory");
        sluice__metadata__partition_state__init(p);
        p->partition = i;
        p->leader = FUZZ_NODE;
        must(image_set_ints(&p->replicas, &p->n_replicas, self, 1) == 0 &&
                 image_set_ints(&p->isr, &p->n_isr, self, 1) == 0 && image_add_partition(t, p) == 0,
             "out of memory");
    }
    must(image_add_topic(fz.image, t) == 0, "out of memory");
}

static void add_self(void)
{
    BrokerState *b = malloc(sizeof *b);
    Endpoint *e = malloc(sizeof *e);
    must(b != NULL && e != NULL, "out of memory");
    sluice__metadata__broker_state__init(b);
    b->broker_id = FUZZ_NODE;
    b->broker_epoch = 1;
    b->incarnation_id = image_strdup("fuzz");
    sluice__metadata__endpoint__init(e);
    e->name = image_strdup("PLAINTEXT");
    e->host = image_strdup("127.0.0.1");
    e->port = 9092;
    e->security_protocol = image_strdup("PLAINTEXT");
    b->endpoints = malloc(sizeof *b->endpoints);
    must(b->endpoints != NULL, "out of memory");
    b->endpoints[0] = e;
    b->n_endpoints = 1;
    must(image_put_broker(fz.image, b) == 0, "out of memory");
}

static void set(const char *key, const char *value)
{
    char err[256];
    if (sluice_config_set(&fz.cfg, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_kafka_dispatch: %s=%s: %s\n", key, value, err);
        abort();
    }
}

/* The data directory of the last input (partition directories inside). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (e->d_type == DT_DIR) {
            remove_tree(sub);
        } else {
            unlink(sub);
        }
    }
    closedir(d);
    rmdir(path);
}

static void remove_data_dir(void)
{
    remove_tree(fz.dir);
}

static void setup_once(void)
{
    log_set_level(LOG_LEVEL_NONE); /* bad requests are the point: their lines cost more */
    signal(SIGPIPE, SIG_IGN);      /* as sluiced: a peer gone is an error, not a signal */
    must(uv_loop_init(&fz.loop) == 0, "uv_loop_init");
    must(sluice_config_init(&fz.cfg) == 0, "out of memory");
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(fz.dir, sizeof fz.dir, "%s/fuzz_kafka_dispatch.%d", base, (int)getpid());
    set("node.id", "1");
    set("log.dirs", fz.dir);
    /* Small segments and indexes, so short inputs roll segments. */
    set("log.segment.bytes", "16384");
    set("offsets.topic.num.partitions", "1");
    set("offsets.topic.replication.factor", "1");
    set("group.initial.rebalance.delay.ms", "0");
    fz.image = image_new();
    must(fz.image != NULL, "out of memory");
    must(image_replace_str(&fz.image->cluster_id, "fuzz-cluster") == 0, "out of memory");
    fz.image->offset = 1;
    add_self();
    add_topic(FUZZ_TOPIC, 0x11, 2);
    add_topic(GROUP_OFFSETS_TOPIC, 0x22, 1);
    atexit(remove_data_dir);
    fz.ready = true;
}

/* `data` is the run's services (the connection's one callback argument). */
static void on_closed(struct kafka_conn *c, void *data)
{
    (void)c;
    struct run *r = (struct run *)((char *)data - offsetof(struct run, services));
    r->conn_gone = true;
}

static void on_connection(uv_stream_t *s, int status)
{
    struct run *r = s->data;
    must(status == 0, "accept failed");
    struct kafka_conn *conn;
    must(kafka_conn_accept(s, &r->opts, kafka_dispatch, on_closed, &r->services, &conn) == 0,
         "kafka_conn_accept failed");
    r->accepted = true;
}

static void start_broker(struct run *r)
{
    char err[512];
    remove_tree(fz.dir);
    must(data_dirs_open(&r->dirs, fz.dir, FUZZ_NODE, err, sizeof err) == 0, err);
    struct metadata_quorum_source src = {NULL, fixed_image, NULL};
    must(metadata_quorum_open(&r->view, &fz.loop, &fz.cfg, &src, err, sizeof err) == 0, err);
    must(replica_manager_start(&r->replicas, &fz.loop, &fz.cfg, &r->dirs, r->view, err,
                               sizeof err) == 0,
         err);
    struct replica_controller rc = {NULL, fixed_broker_epoch, no_alter_partition, always_may_lead};
    replica_manager_set_controller(&r->replicas, &rc);
    must(group_coordinator_start(&r->groups, &fz.loop, &fz.cfg, r->view, &r->replicas) == 0,
         "group_coordinator_start");
    r->services = (struct kafka_services){&fz.loop, &fz.cfg, r->view, &r->replicas, r->groups};
}

static void connect_client(struct run *r)
{
    uv_tcp_init(&fz.loop, &r->server);
    r->server.data = r;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    must(uv_tcp_bind(&r->server, (struct sockaddr *)&addr, 0) == 0, "bind");
    must(uv_listen((uv_stream_t *)&r->server, 1, on_connection) == 0, "listen");
    int len = sizeof addr;
    uv_tcp_getsockname(&r->server, (struct sockaddr *)&addr, &len);
    r->opts = (struct kafka_conn_options){.max_request_bytes = fz.cfg.socket_request_max_bytes,
                                          .idle_timeout_ms = 600000,
                                          .max_in_flight = 64,
                                          .max_pending_bytes = 64u << 20,
                                          .listener_name = "PLAINTEXT",
                                          .plaintext = true,
                                          .registry = &r->conns};
    r->client = socket(AF_INET, SOCK_STREAM, 0);
    must(r->client >= 0, "socket");
    /* Closed with a reset: no TIME_WAIT piling up over millions of runs. */
    struct linger lg = {1, 0};
    setsockopt(r->client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    /* Non-blocking: libFuzzer's timeout alarm may interrupt a blocking
     * connect (EINTR), which once failed a soak with nothing wrong. */
    fcntl(r->client, F_SETFL, O_NONBLOCK);
    if (connect(r->client, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS &&
        errno != EINTR) {
        fprintf(stderr, "fuzz_kafka_dispatch: connect: %s\n", strerror(errno));
        abort();
    }
    while (!r->accepted) {
        uv_run(&fz.loop, UV_RUN_ONCE);
    }
}

/* The input's frames, with correlation ids made unique (a copy). */
static uint8_t *frames_of(struct run *r, const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(size ? size : 1);
    must(out != NULL, "out of memory");
    memcpy(out, data, size);
    size_t pos = 0;
    while (size - pos >= 4 && r->n_sent < FUZZ_MAX_REQUESTS) {
        int32_t len = (int32_t)be32_load(out + pos);
        if (len < 0 || len > fz.cfg.socket_request_max_bytes || (size_t)len > size - pos - 4) {
            break; /* refused, or never complete: nothing after it is read */
        }
        uint8_t *frame = out + pos + 4;
        struct sent_request *s = &r->sent[r->n_sent];
        if (len >= 8) {
            be32_store(frame + 4, (uint32_t)r->n_sent);
        }
        struct kafka_arena arena;
        kafka_arena_init(&arena, FUZZ_ARENA_LIMIT);
        struct kafka_reader reader;
        kafka_reader_init(&reader, frame, (size_t)len, &arena);
        struct kafka_request_header h;
        int rv = kafka_request_header_decode(&reader, &h);
        kafka_arena_free(&arena);
        int16_t min, max;
        bool in_range = kafka_dispatch_advertised(h.api_key, &min, &max) && h.api_version >= min &&
                        h.api_version <= max;
        s->header_ok =
            rv == 0 || (rv == KAFKA_CODEC_EVERSION && h.api_key == KAFKA_API_API_VERSIONS);
        s->api_key = h.api_key;
        s->api_version = h.api_version;
        s->v0_api_versions = h.api_key == KAFKA_API_API_VERSIONS && (rv != 0 || !in_range);
        r->n_sent++;
        pos += 4 + (size_t)len;
    }
    return out;
}

static const struct kafka_test_message *response_codec(int16_t api_key)
{
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        if (kafka_test_messages[i].api_key == api_key && !kafka_test_messages[i].is_request) {
            return &kafka_test_messages[i];
        }
    }
    return NULL;
}

/* One response frame (without its size): in order, for a request that
 * decoded, and decodable to its last byte. */
static void check_response(struct run *r, const uint8_t *p, size_t len)
{
    must(len >= 4, "response shorter than a correlation id");
    int32_t corr = (int32_t)be32_load(p);
    must(corr > r->last_correlation && (size_t)corr < r->n_sent, "response out of order");
    r->last_correlation = corr;
    const struct sent_request *s = &r->sent[corr];
    must(s->header_ok, "response to a request whose header did not decode");
    int16_t version = s->api_version, request_header, response_header = 0;
    bool flexible;
    if (s->v0_api_versions) {
        version = 0;
    } else {
        must(kafka_api_header_versions(s->api_key, version, &request_header, &response_header,
                                       &flexible) == 0,
             "response to an unknown api");
    }
    const struct kafka_test_message *codec = response_codec(s->api_key);
    must(codec != NULL, "no response codec");
    struct kafka_arena arena;
    kafka_arena_init(&arena, FUZZ_ARENA_LIMIT);
    struct kafka_reader reader;
    kafka_reader_init(&reader, p, len, &arena);
    struct kafka_response_header h;
    void *m = malloc(codec->size);
    must(m != NULL, "out of memory");
    if (kafka_response_header_decode(&reader, response_header, &h) != 0 ||
        codec->decode(&reader, version, m) != 0 || kafka_reader_remaining(&reader) != 0) {
        fprintf(stderr, "fuzz_kafka_dispatch: api_key=%d version=%d: undecodable response\n",
                s->api_key, version);
        abort();
    }
    free(m);
    kafka_arena_free(&arena);
}

/* Read what the broker sent; check every complete response. Returns the
 * bytes read; sets *eof when the broker closed. */
static size_t read_responses(struct run *r, bool *eof)
{
    size_t got = 0;
    for (;;) {
        uint8_t chunk[65536];
        ssize_t n = read(r->client, chunk, sizeof chunk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            *eof = true;
            break;
        }
        if (n < 0) {
            break;
        }
        must(buf_append(&r->in, chunk, (size_t)n) == 0, "out of memory");
        got += (size_t)n;
    }
    size_t pos = 0;
    while (r->in.len - pos >= 4) {
        uint32_t len = be32_load(r->in.data + pos);
        if (r->in.len - pos - 4 < len) {
            break;
        }
        check_response(r, r->in.data + pos + 4, len);
        pos += 4 + len;
    }
    if (pos > 0) {
        memmove(r->in.data, r->in.data + pos, r->in.len - pos);
        r->in.len -= pos;
    }
    return got;
}

static void exchange(struct run *r, const uint8_t *bytes, size_t size)
{
    size_t written = 0;
    int idle = 0;
    bool eof = false;
    while (!eof && idle < FUZZ_IDLE_TURNS) {
        size_t moved = 0;
        if (written < size) {
            ssize_t n = send(r->client, bytes + written, size - written, MSG_NOSIGNAL);
            if (n > 0) {
                written += (size_t)n;
                moved += (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                break; /* the broker reset the connection */
            }
        }
        uv_run(&fz.loop, UV_RUN_NOWAIT);
        moved += read_responses(r, &eof);
        idle = moved > 0 ? 0 : idle + 1;
    }
}

static void on_server_closed(uv_handle_t *h)
{
    (void)h;
}

/* As broker_stop: connections first, then what they called into. */
static void stop_broker(struct run *r)
{
    if (!r->conn_gone && r->conns != NULL) {
        kafka_conn_abort(r->conns);
    }
    replica_manager_stop(&r->replicas);
    group_coordinator_stop(r->groups);
    metadata_view_close(r->view);
    uv_close((uv_handle_t *)&r->server, on_server_closed);
    close(r->client);
    /* Everything must finish closing: a handle left active hangs here. */
    uv_run(&fz.loop, UV_RUN_DEFAULT);
    must(r->conn_gone, "the connection never finished closing");
    data_dirs_close(&r->dirs);
    buf_free(&r->in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready) {
        setup_once();
    }
    struct run *r = calloc(1, sizeof *r);
    must(r != NULL, "out of memory");
    r->last_correlation = -1;
    buf_init(&r->in);
    start_broker(r);
    connect_client(r);
    uint8_t *bytes = frames_of(r, data, size);
    exchange(r, bytes, size);
    stop_broker(r);
    free(bytes);
    free(r);
    return 0;
}
