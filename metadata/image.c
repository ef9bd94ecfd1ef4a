#include "metadata/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MetadataImage *image_new(void)
{
    MetadataImage *img = malloc(sizeof *img);
    if (img == NULL) {
        return NULL;
    }
    sluice__metadata__metadata_image__init(img);
    img->version = 1;
    img->cluster_id = image_strdup("");
    if (img->cluster_id == NULL) {
        free(img);
        return NULL;
    }
    return img;
}

void image_free(MetadataImage *img)
{
    if (img != NULL) {
        sluice__metadata__metadata_image__free_unpacked(img, NULL);
    }
}

MetadataImage *image_clone(const MetadataImage *img)
{
    size_t len = sluice__metadata__metadata_image__get_packed_size(img);
    uint8_t *bytes = malloc(len ? len : 1);
    if (bytes == NULL) {
        return NULL;
    }
    sluice__metadata__metadata_image__pack(img, bytes);
    MetadataImage *copy = sluice__metadata__metadata_image__unpack(NULL, len, bytes);
    free(bytes);
    return copy;
}

char *image_strdup(const char *s)
{
    return strdup(s != NULL ? s : "");
}

int image_replace_str(char **field, const char *value)
{
    char *copy = image_strdup(value);
    if (copy == NULL) {
        return -ENOMEM;
    }
    /* Decoded empty strings point at protobuf-c's static "" and are not ours. */
    if (*field != protobuf_c_empty_string) {
        free(*field);
    }
    *field = copy;
    return 0;
}

int image_set_ints(int32_t **out, size_t *n_out, const int32_t *in, size_t n)
{
    int32_t *copy = NULL;
    if (n > 0) {
        copy = malloc(n * sizeof *copy);
        if (copy == NULL) {
            return -ENOMEM;
        }
        memcpy(copy, in, n * sizeof *copy);
    }
    free(*out);
    *out = copy;
    *n_out = n;
    return 0;
}

bool image_ints_contain(const int32_t *a, size_t n, int32_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] == v) {
            return true;
        }
    }
    return false;
}

bool image_topic_id_equal(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

void image_topic_id_format(ProtobufCBinaryData id, char out[24])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < id.len && i < TOPIC_ID_LEN; i++) {
        acc = acc << 8 | id.data[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out[o++] = alphabet[(acc << (6 - bits)) & 63];
    }
    out[o] = '\0';
}

BrokerState *image_find_broker(const MetadataImage *img, int32_t broker_id)
{
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (img->brokers[i]->broker_id == broker_id) {
            return img->brokers[i];
        }
    }
    return NULL;
}

TopicState *image_find_topic(const MetadataImage *img, const char *name)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (strcmp(img->topics[i]->name, name) == 0) {
            return img->topics[i];
        }
    }
    return NULL;
}

TopicState *image_find_topic_id(const MetadataImage *img, ProtobufCBinaryData id)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (image_topic_id_equal(img->topics[i]->topic_id, id)) {
            return img->topics[i];
        }
    }
    return NULL;
}

PartitionState *image_find_partition(const TopicState *topic, int32_t partition)
{
    /* Partitions are appended in index order, so the index is the position. */
    if (partition < 0 || (size_t)partition >= topic->n_partitions) {
        return NULL;
    }
    return topic->partitions[partition];
}

const char *image_topic_config(const TopicState *topic, const char *name)
{
    for (size_t i = 0; i < topic->n_configs; i++) {
        if (strcmp(topic->configs[i]->name, name) == 0) {
            return topic->configs[i]->value;
        }
    }
    return NULL;
}

/* Grow a protobuf-c repeated pointer field by one slot. */
static int grow(void ***items, size_t n)
{
    void **bigger = realloc(*items, (n + 1) * sizeof *bigger);
    if (bigger == NULL) {
        return -ENOMEM;
    }
    *items = bigger;
    return 0;
}

int image_put_broker(MetadataImage *img, BrokerState *b)
{
    size_t i = 0;
    while (i < img->n_brokers && img->brokers[i]->broker_id < b->broker_id) {
        i++;
    }
    if (i < img->n_brokers && img->brokers[i]->broker_id == b->broker_id) {
        sluice__metadata__broker_state__free_unpacked(img->brokers[i], NULL);
        img->brokers[i] = b;
        return 0;
    }
    if (grow((void ***)&img->brokers, img->n_brokers) != 0) {
        return -ENOMEM;
    }
    memmove(&img->brokers[i + 1], &img->brokers[i], (img->n_brokers - i) * sizeof b);
    img->brokers[i] = b;
    img->n_brokers++;
    return 0;
}

int image_add_topic(MetadataImage *img, TopicState *t)
{
    if (grow((void ***)&img->topics, img->n_topics) != 0) {
        return -ENOMEM;
    }
    img->topics[img->n_topics++] = t;
    return 0;
}

int image_add_partition(TopicState *t, PartitionState *p)
{
    if (grow((void ***)&t->partitions, t->n_partitions) != 0) {
        return -ENOMEM;
    }
    t->partitions[t->n_partitions++] = p;
    return 0;
}

void image_remove_topic(MetadataImage *img, size_t i)
{
    sluice__metadata__topic_state__free_unpacked(img->topics[i], NULL);
    memmove(&img->topics[i], &img->topics[i + 1], (img->n_topics - i - 1) * sizeof img->topics[0]);
    img->n_topics--;
}

static int config_add(ConfigEntry ***configs, size_t *n, const char *name, const char *value)
{
    ConfigEntry *e = malloc(sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    sluice__metadata__config_entry__init(e);
    e->name = image_strdup(name);
    e->value = image_strdup(value);
    if (e->name == NULL || e->value == NULL || grow((void ***)configs, *n) != 0) {
        sluice__metadata__config_entry__free_unpacked(e, NULL);
        return -ENOMEM;
    }
    (*configs)[(*n)++] = e;
    return 0;
}

static int config_set(ConfigEntry ***configs, size_t *n, const char *name, const char *value)
{
    for (size_t i = 0; i < *n; i++) {
        ConfigEntry *e = (*configs)[i];
        if (strcmp(e->name, name) != 0) {
            continue;
        }
        if (value == NULL) {
            sluice__metadata__config_entry__free_unpacked(e, NULL);
            memmove(&(*configs)[i], &(*configs)[i + 1], (*n - i - 1) * sizeof e);
            (*n)--;
            return 0;
        }
        return image_replace_str(&e->value, value);
    }
    return value == NULL ? 0 : config_add(configs, n, name, value);
}

int image_set_topic_config(TopicState *t, const char *name, const char *value)
{
    return config_set(&t->configs, &t->n_configs, name, value);
}

static BrokerConfigState *broker_configs(const MetadataImage *img, const char *resource)
{
    for (size_t i = 0; i < img->n_broker_configs; i++) {
        if (strcmp(img->broker_configs[i]->resource_name, resource) == 0) {
            return img->broker_configs[i];
        }
    }
    return NULL;
}

const char *image_broker_config(const MetadataImage *img, const char *resource, const char *name)
{
    const BrokerConfigState *b = broker_configs(img, resource);
    for (size_t i = 0; b != NULL && i < b->n_configs; i++) {
        if (strcmp(b->configs[i]->name, name) == 0) {
            return b->configs[i]->value;
        }
    }
    return NULL;
}

const char *image_broker_config_for(const MetadataImage *img, int32_t broker_id, const char *name)
{
    char id[16];
    snprintf(id, sizeof id, "%d", (int)broker_id);
    const char *v = image_broker_config(img, id, name);
    return v != NULL ? v : image_broker_config(img, "", name);
}

int image_set_broker_config(MetadataImage *img, const char *resource, const char *name,
                            const char *value)
{
    BrokerConfigState *b = broker_configs(img, resource);
    if (b == NULL) {
        if (value == NULL) {
            return 0;
        }
        b = malloc(sizeof *b);
        if (b == NULL) {
            return -ENOMEM;
        }
        sluice__metadata__broker_config_state__init(b);
        b->resource_name = image_strdup(resource);
        if (b->resource_name == NULL ||
            grow((void ***)&img->broker_configs, img->n_broker_configs) != 0) {
            sluice__metadata__broker_config_state__free_unpacked(b, NULL);
            return -ENOMEM;
        }
        img->broker_configs[img->n_broker_configs++] = b;
    }
    return config_set(&b->configs, &b->n_configs, name, value);
}

/* Position of (name, mechanism), or where it would go; *found says which. */
static size_t scram_index(const MetadataImage *img, const char *name, int32_t mechanism,
                          bool *found)
{
    size_t i = 0;
    for (; i < img->n_scram_credentials; i++) {
        const ScramCredential *c = img->scram_credentials[i];
        int cmp = strcmp(c->name, name);
        if (cmp > 0 || (cmp == 0 && c->mechanism >= mechanism)) {
            break;
        }
    }
    *found = i < img->n_scram_credentials && strcmp(img->scram_credentials[i]->name, name) == 0 &&
             img->scram_credentials[i]->mechanism == mechanism;
    return i;
}

const ScramCredential *image_find_scram(const MetadataImage *img, const char *name,
                                        int32_t mechanism)
{
    bool found;
    size_t i = scram_index(img, name, mechanism, &found);
    return found ? img->scram_credentials[i] : NULL;
}

static int bytes_copy(ProtobufCBinaryData *out, ProtobufCBinaryData in)
{
    out->len = in.len;
    out->data = malloc(in.len ? in.len : 1);
    if (out->data == NULL) {
        return -ENOMEM;
    }
    memcpy(out->data, in.data, in.len);
    return 0;
}

int image_put_scram(MetadataImage *img, const ScramCredential *c)
{
    ScramCredential *copy = malloc(sizeof *copy);
    if (copy == NULL) {
        return -ENOMEM;
    }
    sluice__metadata__user_scram_credential_record__init(copy);
    copy->version = c->version;
    copy->mechanism = c->mechanism;
    copy->iterations = c->iterations;
    copy->name = image_strdup(c->name);
    if (copy->name == NULL || bytes_copy(&copy->salt, c->salt) != 0 ||
        bytes_copy(&copy->stored_key, c->stored_key) != 0 ||
        bytes_copy(&copy->server_key, c->server_key) != 0) {
        sluice__metadata__user_scram_credential_record__free_unpacked(copy, NULL);
        return -ENOMEM;
    }
    bool found;
    size_t i = scram_index(img, c->name, c->mechanism, &found);
    if (found) {
        sluice__metadata__user_scram_credential_record__free_unpacked(img->scram_credentials[i],
                                                                      NULL);
        img->scram_credentials[i] = copy;
        return 0;
    }
    if (grow((void ***)&img->scram_credentials, img->n_scram_credentials) != 0) {
        sluice__metadata__user_scram_credential_record__free_unpacked(copy, NULL);
        return -ENOMEM;
    }
    memmove(&img->scram_credentials[i + 1], &img->scram_credentials[i],
            (img->n_scram_credentials - i) * sizeof copy);
    img->scram_credentials[i] = copy;
    img->n_scram_credentials++;
    return 0;
}

bool image_remove_scram(MetadataImage *img, const char *name, int32_t mechanism)
{
    bool found;
    size_t i = scram_index(img, name, mechanism, &found);
    if (!found) {
        return false;
    }
    sluice__metadata__user_scram_credential_record__free_unpacked(img->scram_credentials[i], NULL);
    memmove(&img->scram_credentials[i], &img->scram_credentials[i + 1],
            (img->n_scram_credentials - i - 1) * sizeof img->scram_credentials[0]);
    img->n_scram_credentials--;
    return true;
}
