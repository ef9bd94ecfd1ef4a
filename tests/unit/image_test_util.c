/* See image_test_util.h. */
#include "tests/unit/image_test_util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

void itu_add_self(MetadataImage *img)
{
    BrokerState *b = malloc(sizeof *b);
    sluice__metadata__broker_state__init(b);
    b->broker_id = 1;
    b->broker_epoch = 10;
    b->incarnation_id = image_strdup("incarnation");
    ck_assert_int_eq(image_put_broker(img, b), 0);
}

void itu_add_partition(TopicState *t)
{
    static const int32_t self[] = {1};
    PartitionState *p = malloc(sizeof *p);
    sluice__metadata__partition_state__init(p);
    p->partition = (int32_t)t->n_partitions;
    p->leader = 1;
    ck_assert_int_eq(image_set_ints(&p->replicas, &p->n_replicas, self, 1), 0);
    ck_assert_int_eq(image_set_ints(&p->isr, &p->n_isr, self, 1), 0);
    ck_assert_int_eq(image_add_partition(t, p), 0);
}

TopicState *itu_add_topic(MetadataImage *img, const char *name, int32_t n, uint8_t id_byte)
{
    TopicState *t = malloc(sizeof *t);
    sluice__metadata__topic_state__init(t);
    t->name = image_strdup(name);
    t->topic_id.data = malloc(TOPIC_ID_LEN);
    memset(t->topic_id.data, id_byte, TOPIC_ID_LEN);
    t->topic_id.len = TOPIC_ID_LEN;
    for (int32_t i = 0; i < n; i++) {
        itu_add_partition(t);
    }
    ck_assert_int_eq(image_add_topic(img, t), 0);
    return t;
}

void itu_remove_topic(MetadataImage *img, const char *name)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (strcmp(img->topics[i]->name, name) == 0) {
            image_remove_topic(img, i);
            return;
        }
    }
    ck_abort_msg("no topic %s", name);
}
