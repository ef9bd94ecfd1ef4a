/* Admin requests of the quorum-fed view: forwarded to the active controller
 * (controller_client follows NOT_CONTROLLER), then held until this broker's
 * own view shows the change so the client's next Metadata request agrees
 * with the answer it got (bounded by the request's timeout; the change is
 * committed either way, so an expired wait still answers success). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/metadata_quorum_internal.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"
#include "proto/controller.pb-c.h"

#define M(name) SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_##name

enum op_kind {
    OP_CREATE,
    OP_DELETE,
    OP_PARTITIONS,
    OP_CONFIGS,
    OP_SYNC,
    OP_SCRAM,
    OP_ELECT,
    OP_ACLS,
    OP_REASSIGN
};

struct quorum_op {
    struct metadata_quorum *q;    /* NULL once detached (view closed) */
    struct metadata_admin_op *op; /* the caller's */
    enum op_kind kind;
    char name[TOPIC_NAME_MAX + 1];
    uint8_t old_id[16]; /* DeleteTopics: the id shown when submitted */
    bool had_topic;
    int32_t count; /* CreatePartitions: the new total; ElectLeaders, reassign: the partition */
    /* OP_REASSIGN: the target replicas to see (none: a cancellation, to see
     * no reassignment in progress). */
    int32_t target[METADATA_MAX_REPLICAS];
    int32_t n_target;
    /* AlterConfigs: the keys to see set (value) or gone (NULL), owned. */
    struct metadata_config_entry *entries;
    size_t n_entries;
    bool broker_resource; /* AlterConfigs on a broker: `name` is its id or "" */
    int64_t latest;       /* OP_SYNC, OP_ACLS: the controller's offset when it answered */
    Sluice__Controller__AlterAclsResponse *acls; /* OP_ACLS: the answer, owned */
    /* OP_SCRAM: the credential to see (stored key) or see gone (no key). */
    int32_t mechanism;
    uint8_t stored_key[64];
    size_t stored_key_len;
    bool validate_only;
    bool waiting; /* the controller answered; waiting to see the change */
    int16_t code; /* the answer given once the change is visible */
    char message[200];
    uint64_t deadline;
    struct controller_request req;
    struct quorum_op *next;
};

static void unlink_op(struct metadata_quorum *q, struct quorum_op *o)
{
    for (struct quorum_op **p = &q->ops; *p != NULL; p = &(*p)->next) {
        if (*p == o) {
            *p = o->next;
            return;
        }
    }
}

static void op_free(struct quorum_op *o)
{
    for (size_t i = 0; i < o->n_entries; i++) {
        free((char *)o->entries[i].key);
        free((char *)o->entries[i].value);
    }
    free(o->entries);
    if (o->acls != NULL) {
        sluice__controller__alter_acls_response__free_unpacked(o->acls, NULL);
    }
    free(o);
}

static void finish(struct quorum_op *o, int16_t code, const char *message)
{
    unlink_op(o->q, o);
    struct metadata_admin_op *op = o->op;
    if (o->kind == OP_ACLS) {
        op->answer = o->acls; /* handed to the caller */
        o->acls = NULL;
    }
    op_free(o);
    metadata_admin_complete(op, code, message);
}

/* Whether the image the view was last built from shows every entry. */
static bool configs_visible(const struct quorum_op *o)
{
    const MetadataImage *img = o->q->src.image(o->q->src.data);
    if (o->broker_resource) {
        for (size_t i = 0; img != NULL && i < o->n_entries; i++) {
            const char *now = image_broker_config(img, o->name, o->entries[i].key);
            const char *want = o->entries[i].value;
            if ((want == NULL) != (now == NULL) || (want != NULL && strcmp(want, now) != 0)) {
                return false;
            }
        }
        return true;
    }
    const TopicState *ts = img != NULL ? image_find_topic(img, o->name) : NULL;
    if (ts == NULL) {
        return true; /* deleted meanwhile: nothing left to wait for */
    }
    for (size_t i = 0; i < o->n_entries; i++) {
        const char *now = image_topic_config(ts, o->entries[i].key);
        const char *want = o->entries[i].value;
        if ((want == NULL) != (now == NULL) || (want != NULL && strcmp(want, now) != 0)) {
            return false;
        }
    }
    return true;
}

static bool scram_visible(const struct quorum_op *o)
{
    struct metadata_scram_credential now;
    bool present = metadata_quorum_scram_find(o->q, o->name, o->mechanism, &now);
    if (o->stored_key_len == 0) {
        return !present;
    }
    return present && now.key_len == o->stored_key_len &&
           memcmp(now.stored_key, o->stored_key, now.key_len) == 0;
}

/* Whether the view shows partition `index` of `t` led by its preferred
 * replica (or gone, leaving nothing to wait for). */
static bool elected_visible(const struct metadata_topic *t, int32_t index)
{
    if (t == NULL || index < 0 || index >= t->n_partitions) {
        return true;
    }
    const struct metadata_partition *p = &t->partitions[index];
    return p->n_replicas == 0 || p->leader == p->replicas[0];
}

/* Whether the view shows the reassignment started (every target replica
 * is a replica) or, for a cancellation, none in progress. */
static bool reassign_visible(const struct quorum_op *o, const struct metadata_topic *t)
{
    if (t == NULL || o->count < 0 || o->count >= t->n_partitions) {
        return true;
    }
    const struct metadata_partition *p = &t->partitions[o->count];
    if (o->n_target == 0) {
        return p->n_adding == 0 && p->n_removing == 0;
    }
    for (int32_t i = 0; i < o->n_target; i++) {
        bool found = false;
        for (int32_t j = 0; j < p->n_replicas; j++) {
            found = found || p->replicas[j] == o->target[i];
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static bool visible(const struct quorum_op *o)
{
    const struct metadata_topic *t = metadata_quorum_topic(o->q, o->name);
    switch (o->kind) {
    case OP_CREATE:
        return t != NULL;
    case OP_DELETE:
        return t == NULL || (o->had_topic && memcmp(t->id, o->old_id, 16) != 0);
    case OP_PARTITIONS:
        return t != NULL && t->n_partitions >= o->count;
    case OP_CONFIGS:
        return configs_visible(o);
    case OP_SYNC:
    case OP_ACLS:
        return o->q->offset >= o->latest;
    case OP_SCRAM:
        return scram_visible(o);
    case OP_ELECT:
        return elected_visible(t, o->count);
    case OP_REASSIGN:
        return reassign_visible(o, t);
    }
    return true;
}

void quorum_ops_check(struct metadata_quorum *q, bool expire)
{
    uint64_t now = uv_now(q->loop);
    struct quorum_op *o = q->ops, *next;
    for (; o != NULL; o = next) {
        next = o->next;
        if (!o->waiting) {
            continue;
        }
        if (visible(o)) {
            finish(o, o->code, o->message);
        } else if (expire && now >= o->deadline) {
            log_warn("metadata",
                     "change committed by the controller but not yet visible here topic=%s "
                     "offset=%lld",
                     o->name, (long long)q->offset);
            finish(o, o->code, o->message);
        }
    }
}

void quorum_ops_detach_all(struct metadata_quorum *q)
{
    while (q->ops != NULL) {
        struct quorum_op *o = q->ops;
        q->ops = o->next;
        struct metadata_admin_op *op = o->op;
        if (o->waiting) {
            int16_t code = o->code;
            char message[sizeof o->message];
            memcpy(message, o->message, sizeof message);
            op_free(o); /* committed already */
            metadata_admin_complete(op, code, message);
            continue;
        }
        o->q = NULL; /* freed when the controller request calls back */
        metadata_admin_complete(op, KAFKA_ERROR_REQUEST_TIMED_OUT, "the broker is shutting down");
    }
}

/* ---- answers ---- */

struct topic_answer {
    int32_t code;
    const char *message;
};

/* The result for our topic in a response's repeated results. */
#define FIND_RESULT(resp, o, out)                                                                  \
    do {                                                                                           \
        (out).code = (resp)->error_code;                                                           \
        (out).message = (resp)->error_message;                                                     \
        for (size_t i_ = 0; (out).code == 0 && i_ < (resp)->n_topics; i_++) {                      \
            if (strcmp((resp)->topics[i_]->name, (o)->name) == 0) {                                \
                (out).code = (resp)->topics[i_]->error_code;                                       \
                (out).message = (resp)->topics[i_]->error_message;                                 \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static struct topic_answer answer_of(const struct quorum_op *o, const ProtobufCMessage *m)
{
    struct topic_answer a = {0, NULL};
    switch (o->kind) {
    case OP_CREATE:
        FIND_RESULT((const Sluice__Controller__CreateTopicsResponse *)m, o, a);
        break;
    case OP_DELETE:
    case OP_PARTITIONS:
    case OP_CONFIGS: /* the same answer: one TopicResult per topic */
    case OP_SCRAM:   /* ... or per user */
        FIND_RESULT((const Sluice__Controller__TopicResultsResponse *)m, o, a);
        break;
    case OP_ELECT:
    case OP_REASSIGN: { /* one result per partition */
        const Sluice__Controller__ElectLeadersResponse *r =
            (const Sluice__Controller__ElectLeadersResponse *)m;
        a.code = r->error_code;
        a.message = r->error_message;
        for (size_t i = 0; a.code == 0 && i < r->n_results; i++) {
            if (r->results[i]->partition == o->count &&
                strcmp(r->results[i]->topic, o->name) == 0) {
                a.code = r->results[i]->error_code;
                a.message = r->results[i]->error_message;
            }
        }
        break;
    }
    case OP_ACLS: {
        const Sluice__Controller__AlterAclsResponse *r =
            (const Sluice__Controller__AlterAclsResponse *)m;
        a.code = r->error_code;
        a.message = r->error_message;
        break;
    }
    case OP_SYNC:
        break; /* never an error: a barrier that cannot run lets the caller go on */
    }
    return a;
}

/* The controller's answer outlives its callback: a copy, through its bytes. */
static int keep_acls_answer(struct quorum_op *o, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    protobuf_c_message_pack(m, buf);
    o->acls = sluice__controller__alter_acls_response__unpack(NULL, len, buf);
    free(buf);
    if (o->acls == NULL) {
        return -ENOMEM;
    }
    o->latest = o->acls->error_code == 0 ? o->acls->offset : -1;
    return 0;
}

static void on_answer(struct controller_request *req, int status, const ProtobufCMessage *m)
{
    struct quorum_op *o = req->data;
    if (o->q == NULL) {
        op_free(o); /* answered already, when the view closed */
        return;
    }
    char why[160];
    if (status != 0) {
        snprintf(why, sizeof why,
                 status == -ETIMEDOUT ? "no active controller answered in time"
                                      : "cannot reach the controller: %s",
                 strerror(-status));
        int16_t code =
            status == -ETIMEDOUT ? KAFKA_ERROR_REQUEST_TIMED_OUT : KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        finish(o, o->kind == OP_SYNC ? 0 : code, why);
        return;
    }
    if (o->kind == OP_SYNC) {
        const Sluice__Controller__FetchMetadataResponse *r =
            (const Sluice__Controller__FetchMetadataResponse *)m;
        o->latest = r->error_code == 0 ? r->latest_offset : -1;
    }
    if (o->kind == OP_ACLS && keep_acls_answer(o, m) != 0) {
        finish(o, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "out of memory");
        return;
    }
    struct topic_answer a = answer_of(o, m);
    /* TOPIC_ALREADY_EXISTS may mean this broker has not seen the topic yet:
     * wait for it too, so the caller's next look finds it. */
    bool wait = a.code == 0 || (o->kind == OP_CREATE && a.code == KAFKA_ERROR_TOPIC_ALREADY_EXISTS);
    if (!wait || o->validate_only || visible(o)) {
        finish(o, (int16_t)a.code, a.message);
        return;
    }
    o->code = (int16_t)a.code;
    snprintf(o->message, sizeof o->message, "%s", a.message != NULL ? a.message : "");
    o->waiting = true; /* quorum_ops_check answers it */
}

/* ---- submitting ---- */

static struct quorum_op *op_new(struct metadata_quorum *q, struct metadata_admin_op *op,
                                enum op_kind kind, const char *name, uint64_t timeout_ms)
{
    if (q->src.client == NULL || name == NULL) {
        metadata_admin_complete(op, KAFKA_ERROR_INVALID_REQUEST,
                                name == NULL ? "topic name is null" : "no controller to ask");
        return NULL;
    }
    struct quorum_op *o = calloc(1, sizeof *o);
    if (o == NULL) {
        metadata_admin_complete(op, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "out of memory");
        return NULL;
    }
    o->q = q;
    o->op = op;
    o->kind = kind;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->deadline = uv_now(q->loop) + timeout_ms;
    o->req.data = o;
    op->pending = o;
    return o;
}

static void send_op(struct quorum_op *o, uint32_t method, const ProtobufCMessage *body,
                    const ProtobufCMessageDescriptor *answer, uint64_t timeout_ms)
{
    struct metadata_quorum *q = o->q;
    int rv =
        controller_client_call(q->src.client, &o->req, method, body, answer, timeout_ms, on_answer);
    if (rv != 0) {
        struct metadata_admin_op *op = o->op;
        op_free(o);
        metadata_admin_complete(op, KAFKA_ERROR_UNKNOWN_SERVER_ERROR,
                                "cannot send to the controller");
        return;
    }
    o->next = q->ops;
    q->ops = o;
}

void metadata_quorum_submit_create_topic(struct metadata_quorum *q,
                                         const struct metadata_topic_spec *spec, bool validate_only,
                                         uint64_t timeout_ms, struct metadata_admin_op *op)
{
    if (spec->name != NULL && topic_name_reserved(spec->name)) {
        metadata_admin_complete(op, KAFKA_ERROR_INVALID_REQUEST,
                                "Creation of internal topic " TOPIC_NAME_CLUSTER_METADATA
                                " is prohibited.");
        return;
    }
    struct quorum_op *o = op_new(q, op, OP_CREATE, spec->name, timeout_ms);
    if (o == NULL) {
        return;
    }
    o->validate_only = validate_only;
    size_t n = spec->n_configs;
    Sluice__Controller__TopicConfig *cfgs = calloc(n ? n : 1, sizeof *cfgs);
    Sluice__Controller__TopicConfig **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (cfgs == NULL || ptrs == NULL) {
        free(cfgs);
        free(ptrs);
        free(o);
        metadata_admin_complete(op, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "out of memory");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        sluice__controller__topic_config__init(&cfgs[k]);
        cfgs[k].name = (char *)spec->configs[i].key;
        /* A null value means the default (KIP-464), which is what not setting it gives. */
        if (cfgs[k].name != NULL && spec->configs[i].value != NULL) {
            cfgs[k].value = (char *)spec->configs[i].value;
            ptrs[k] = &cfgs[k];
            k++;
        }
    }
    Sluice__Controller__CreatableTopic topic = SLUICE__CONTROLLER__CREATABLE_TOPIC__INIT;
    topic.name = o->name;
    topic.num_partitions = spec->num_partitions;
    topic.replication_factor = spec->replication_factor;
    topic.configs = ptrs;
    topic.n_configs = k;
    Sluice__Controller__CreatableTopic *topics[1] = {&topic};
    Sluice__Controller__CreateTopicsRequest req = SLUICE__CONTROLLER__CREATE_TOPICS_REQUEST__INIT;
    req.version = 1;
    req.topics = topics;
    req.n_topics = 1;
    req.validate_only = validate_only;
    send_op(o, M(CREATE_TOPICS), &req.base, &sluice__controller__create_topics_response__descriptor,
            timeout_ms);
    free(cfgs);
    free(ptrs);
}

void metadata_quorum_submit_delete_topic(struct metadata_quorum *q, const char *name,
                                         uint64_t timeout_ms, struct metadata_admin_op *op)
{
    struct quorum_op *o = op_new(q, op, OP_DELETE, name, timeout_ms);
    if (o == NULL) {
        return;
    }
    const struct metadata_topic *t = metadata_quorum_topic(q, name);
    if (t != NULL) {
        o->had_topic = true;
        memcpy(o->old_id, t->id, 16);
    }
    char *names[1] = {o->name};
    Sluice__Controller__DeleteTopicsRequest req = SLUICE__CONTROLLER__DELETE_TOPICS_REQUEST__INIT;
    req.version = 1;
    req.names = names;
    req.n_names = 1;
    send_op(o, M(DELETE_TOPICS), &req.base, &sluice__controller__topic_results_response__descriptor,
            timeout_ms);
}

void metadata_quorum_submit_add_partitions(struct metadata_quorum *q, const char *name,
                                           int32_t total, bool validate_only, uint64_t timeout_ms,
                                           struct metadata_admin_op *op)
{
    struct quorum_op *o = op_new(q, op, OP_PARTITIONS, name, timeout_ms);
    if (o == NULL) {
        return;
    }
    o->count = total;
    o->validate_only = validate_only;
    Sluice__Controller__CreatePartitionsTopic topic =
        SLUICE__CONTROLLER__CREATE_PARTITIONS_TOPIC__INIT;
    topic.name = o->name;
    topic.count = total;
    Sluice__Controller__CreatePartitionsTopic *topics[1] = {&topic};
    Sluice__Controller__CreatePartitionsRequest req =
        SLUICE__CONTROLLER__CREATE_PARTITIONS_REQUEST__INIT;
    req.version = 1;
    req.topics = topics;
    req.n_topics = 1;
    req.validate_only = validate_only;
    send_op(o, M(CREATE_PARTITIONS), &req.base,
            &sluice__controller__topic_results_response__descriptor, timeout_ms);
}

/* What the view must show once the change is applied: listed keys set or
 * deleted; with `replace`, keys the topic sets now and the request does not
 * list are deleted too. */
static int expect_configs(struct quorum_op *o, const struct metadata_config_entry *entries,
                          size_t n, bool replace)
{
    const MetadataImage *img = o->q->src.image(o->q->src.data);
    const TopicState *ts = img != NULL && replace ? image_find_topic(img, o->name) : NULL;
    size_t extra = ts != NULL ? ts->n_configs : 0;
    o->entries = calloc(n + extra + 1, sizeof *o->entries);
    if (o->entries == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct metadata_config_entry *e = &o->entries[o->n_entries++];
        e->key = strdup(entries[i].key);
        e->value = entries[i].value != NULL ? strdup(entries[i].value) : NULL;
        if (e->key == NULL || (entries[i].value != NULL && e->value == NULL)) {
            return -ENOMEM;
        }
    }
    for (size_t k = 0; k < extra; k++) {
        bool listed = false;
        for (size_t i = 0; i < n; i++) {
            listed |= strcmp(entries[i].key, ts->configs[k]->name) == 0;
        }
        if (!listed && (o->entries[o->n_entries++].key = strdup(ts->configs[k]->name)) == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int alter_request(const struct quorum_op *o, const struct metadata_config_entry *entries,
                         size_t n, bool replace, bool validate_only, uint64_t timeout_ms);

static void submit_alter_config(struct metadata_quorum *q, const char *name, bool broker,
                                const struct metadata_config_entry *entries, size_t n, bool replace,
                                bool validate_only, uint64_t timeout_ms,
                                struct metadata_admin_op *op)
{
    struct quorum_op *o = op_new(q, op, OP_CONFIGS, name, timeout_ms);
    if (o == NULL) {
        return;
    }
    o->broker_resource = broker;
    o->validate_only = validate_only;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].key == NULL) {
            op_free(o);
            metadata_admin_complete(op, KAFKA_ERROR_INVALID_CONFIG, "config key is null");
            return;
        }
    }
    if (expect_configs(o, entries, n, replace && !broker) != 0 ||
        alter_request(o, entries, n, replace, validate_only, timeout_ms) != 0) {
        op_free(o);
        metadata_admin_complete(op, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "out of memory");
    }
}

void metadata_quorum_submit_alter_topic_config(struct metadata_quorum *q, const char *name,
                                               const struct metadata_config_entry *entries,
                                               size_t n, bool replace, bool validate_only,
                                               uint64_t timeout_ms, struct metadata_admin_op *op)
{
    submit_alter_config(q, name, false, entries, n, replace, validate_only, timeout_ms, op);
}

const char *metadata_quorum_broker_config(const struct metadata_quorum *q, int32_t broker_id,
                                          const char *name)
{
    const MetadataImage *img = q->src.image != NULL ? q->src.image(q->src.data) : NULL;
    return img != NULL ? image_broker_config_for(img, broker_id, name) : NULL;
}

void metadata_quorum_submit_alter_broker_config(struct metadata_quorum *q, const char *broker,
                                                const struct metadata_config_entry *entries,
                                                size_t n, bool validate_only, uint64_t timeout_ms,
                                                struct metadata_admin_op *op)
{
    submit_alter_config(q, broker, true, entries, n, false, validate_only, timeout_ms, op);
}

/* Build and send the AlterConfigs request for `o` (one topic or broker). */
static int alter_request(const struct quorum_op *o, const struct metadata_config_entry *entries,
                         size_t n, bool replace, bool validate_only, uint64_t timeout_ms)
{
    Sluice__Controller__AlterableConfig *cfgs = calloc(n ? n : 1, sizeof *cfgs);
    Sluice__Controller__AlterableConfig **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (cfgs == NULL || ptrs == NULL) {
        free(cfgs);
        free(ptrs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        sluice__controller__alterable_config__init(&cfgs[i]);
        cfgs[i].name = (char *)entries[i].key;
        cfgs[i].value = entries[i].value != NULL ? (char *)entries[i].value : "";
        cfgs[i].is_delete = entries[i].value == NULL;
        ptrs[i] = &cfgs[i];
    }
    Sluice__Controller__AlterConfigsResource res = SLUICE__CONTROLLER__ALTER_CONFIGS_RESOURCE__INIT;
    res.topic = (char *)o->name;
    res.resource_type = o->broker_resource ? 4 : 2; /* Kafka's BROKER, TOPIC */
    res.configs = ptrs;
    res.n_configs = n;
    res.replace = replace;
    Sluice__Controller__AlterConfigsResource *resources[1] = {&res};
    Sluice__Controller__AlterConfigsRequest req = SLUICE__CONTROLLER__ALTER_CONFIGS_REQUEST__INIT;
    req.version = 1;
    req.resources = resources;
    req.n_resources = 1;
    req.validate_only = validate_only;
    send_op((struct quorum_op *)o, M(ALTER_CONFIGS), &req.base,
            &sluice__controller__topic_results_response__descriptor, timeout_ms);
    free(cfgs);
    free(ptrs);
    return 0;
}

/* A read barrier: the controller's offset now, then wait until this view
 * has applied it. Never fails (an unreachable controller or an expired
 * wait completes with NONE): it only makes a lagging answer less likely. */
void metadata_quorum_submit_sync(struct metadata_quorum *q, uint64_t timeout_ms,
                                 struct metadata_admin_op *op)
{
    if (q->src.client == NULL) {
        metadata_admin_complete(op, 0, NULL);
        return;
    }
    struct quorum_op *o = op_new(q, op, OP_SYNC, "", timeout_ms);
    if (o == NULL) {
        return;
    }
    Sluice__Controller__FetchMetadataRequest req = SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
    req.version = 1;
    req.broker_id = q->self;
    req.after_offset = q->offset; /* deltas are not used: at most one comes back */
    req.max_deltas = 1;
    send_op(o, M(FETCH_METADATA), &req.base,
            &sluice__controller__fetch_metadata_response__descriptor, timeout_ms);
}

/* ---- SCRAM credentials ---- */

static const MetadataImage *current_image(const struct metadata_quorum *q)
{
    return q->src.image != NULL ? q->src.image(q->src.data) : NULL;
}

static void scram_out(const ScramCredential *c, struct metadata_scram_credential *out)
{
    *out = (struct metadata_scram_credential){
        c->name,     c->mechanism,       c->iterations,      c->salt.data,
        c->salt.len, c->stored_key.data, c->server_key.data, c->stored_key.len,
    };
}

bool metadata_quorum_scram_at(const struct metadata_quorum *q, size_t i,
                              struct metadata_scram_credential *out)
{
    const MetadataImage *img = current_image(q);
    if (img == NULL || i >= img->n_scram_credentials) {
        return false;
    }
    scram_out(img->scram_credentials[i], out);
    return true;
}

bool metadata_quorum_scram_find(const struct metadata_quorum *q, const char *user,
                                int32_t mechanism, struct metadata_scram_credential *out)
{
    const MetadataImage *img = current_image(q);
    const ScramCredential *c = img != NULL ? image_find_scram(img, user, mechanism) : NULL;
    if (c != NULL) {
        scram_out(c, out);
    }
    return c != NULL;
}

void metadata_quorum_submit_alter_scram(struct metadata_quorum *q,
                                        const struct metadata_scram_credential *cred, bool remove,
                                        uint64_t timeout_ms, struct metadata_admin_op *op)
{
    if (!remove && cred->key_len > sizeof((struct quorum_op *)NULL)->stored_key) {
        metadata_admin_complete(op, KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL, "key too long");
        return;
    }
    struct quorum_op *o = op_new(q, op, OP_SCRAM, cred->user, timeout_ms);
    if (o == NULL) {
        return;
    }
    o->mechanism = cred->mechanism;
    Sluice__Metadata__UserScramCredentialRecord up =
        SLUICE__METADATA__USER_SCRAM_CREDENTIAL_RECORD__INIT;
    Sluice__Metadata__RemoveUserScramCredentialRecord del =
        SLUICE__METADATA__REMOVE_USER_SCRAM_CREDENTIAL_RECORD__INIT;
    Sluice__Metadata__UserScramCredentialRecord *ups[1] = {&up};
    Sluice__Metadata__RemoveUserScramCredentialRecord *dels[1] = {&del};
    Sluice__Controller__AlterScramCredentialsRequest req =
        SLUICE__CONTROLLER__ALTER_SCRAM_CREDENTIALS_REQUEST__INIT;
    req.version = 1;
    if (remove) {
        del.version = 1;
        del.name = o->name;
        del.mechanism = cred->mechanism;
        req.deletions = dels;
        req.n_deletions = 1;
    } else {
        memcpy(o->stored_key, cred->stored_key, cred->key_len);
        o->stored_key_len = cred->key_len;
        up.version = 1;
        up.name = o->name;
        up.mechanism = cred->mechanism;
        up.iterations = cred->iterations;
        up.salt = (ProtobufCBinaryData){cred->salt_len, (uint8_t *)cred->salt};
        up.stored_key = (ProtobufCBinaryData){cred->key_len, (uint8_t *)cred->stored_key};
        up.server_key = (ProtobufCBinaryData){cred->key_len, (uint8_t *)cred->server_key};
        req.upsertions = ups;
        req.n_upsertions = 1;
    }
    send_op(o, M(ALTER_SCRAM_CREDENTIALS), &req.base,
            &sluice__controller__topic_results_response__descriptor, timeout_ms);
}

void metadata_quorum_submit_elect_preferred(struct metadata_quorum *q, const char *name,
                                            int32_t partition, uint64_t timeout_ms,
                                            struct metadata_admin_op *op)
{
    struct quorum_op *o = op_new(q, op, OP_ELECT, name, timeout_ms);
    if (o == NULL) {
        return;
    }
    o->count = partition;
    Sluice__Controller__ElectPartition part = SLUICE__CONTROLLER__ELECT_PARTITION__INIT;
    part.topic = o->name;
    part.partition = partition;
    Sluice__Controller__ElectPartition *parts[1] = {&part};
    Sluice__Controller__ElectLeadersRequest req = SLUICE__CONTROLLER__ELECT_LEADERS_REQUEST__INIT;
    req.version = 1;
    req.partitions = parts;
    req.n_partitions = 1;
    send_op(o, M(ELECT_LEADERS), &req.base, &sluice__controller__elect_leaders_response__descriptor,
            timeout_ms);
}

/* ---- ACLs ---- */

const AclBinding *metadata_quorum_acl_at(const struct metadata_quorum *q, size_t i)
{
    const MetadataImage *img = current_image(q);
    return img != NULL && i < img->n_acls ? img->acls[i] : NULL;
}

bool metadata_quorum_authorize(const struct metadata_quorum *q, const struct acl_action *a,
                               bool allow_if_no_acl)
{
    const MetadataImage *img = current_image(q);
    return img != NULL && acl_authorize(img, a, allow_if_no_acl);
}

bool metadata_quorum_authorize_any(const struct metadata_quorum *q, const struct acl_action *a)
{
    const MetadataImage *img = current_image(q);
    return img != NULL && acl_authorize_any(img, a);
}

void metadata_quorum_submit_alter_acls(struct metadata_quorum *q,
                                       const Sluice__Controller__AlterAclsRequest *req,
                                       uint64_t timeout_ms, struct metadata_admin_op *op)
{
    struct quorum_op *o = op_new(q, op, OP_ACLS, "", timeout_ms);
    if (o == NULL) {
        return;
    }
    send_op(o, M(ALTER_ACLS), &req->base, &sluice__controller__alter_acls_response__descriptor,
            timeout_ms);
}

void metadata_quorum_submit_reassign(struct metadata_quorum *q, const char *name, int32_t partition,
                                     const int32_t *replicas, int32_t n, bool cancel,
                                     uint64_t timeout_ms, struct metadata_admin_op *op)
{
    if (!cancel && (n <= 0 || n > METADATA_MAX_REPLICAS / 2)) {
        metadata_admin_complete(op, KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT,
                                "a reassignment needs 1 to 8 replicas");
        return;
    }
    struct quorum_op *o = op_new(q, op, OP_REASSIGN, name, timeout_ms);
    if (o == NULL) {
        return;
    }
    o->count = partition;
    o->n_target = cancel ? 0 : n;
    if (!cancel) {
        memcpy(o->target, replicas, (size_t)n * sizeof *replicas);
    }
    Sluice__Controller__PartitionReassignment part =
        SLUICE__CONTROLLER__PARTITION_REASSIGNMENT__INIT;
    part.topic = o->name;
    part.partition = partition;
    part.replicas = o->target;
    part.n_replicas = (size_t)o->n_target;
    part.cancel = cancel;
    Sluice__Controller__PartitionReassignment *parts[1] = {&part};
    Sluice__Controller__AlterPartitionReassignmentsRequest req =
        SLUICE__CONTROLLER__ALTER_PARTITION_REASSIGNMENTS_REQUEST__INIT;
    req.version = 1;
    req.reassignments = parts;
    req.n_reassignments = 1;
    send_op(o, M(ALTER_PARTITION_REASSIGNMENTS), &req.base,
            &sluice__controller__elect_leaders_response__descriptor, timeout_ms);
}
