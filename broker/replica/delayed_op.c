/* Delayed operations; see delayed_op.h. */
#include "broker/replica/delayed_op.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct delayed_watch {
    struct delayed_op *op;
    struct delayed_key *key;    /* linked into, NULL if not */
    struct delayed_key *target; /* to link into when the op is added */
    struct delayed_watch *prev, *next;
};

/* A delayed_key_notify's place in the key's list: the next watch to visit. */
struct delayed_key_cursor {
    struct delayed_watch *next;
    struct delayed_key_cursor *outer; /* an enclosing notification of the same key */
};

static void arm(struct delayed_queue *q);

void delayed_key_init(struct delayed_key *key)
{
    key->head = NULL;
    key->cursors = NULL;
}

static void watch_unlink(struct delayed_watch *w)
{
    if (w->key == NULL) {
        return;
    }
    for (struct delayed_key_cursor *c = w->key->cursors; c != NULL; c = c->outer) {
        if (c->next == w) {
            c->next = w->next;
        }
    }
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        w->key->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    w->key = NULL;
    w->prev = w->next = NULL;
}

/* Take `op` out of every list so `complete` may free it. */
static void op_unlink(struct delayed_op *op)
{
    struct delayed_queue *q = op->queue;
    for (size_t i = 0; i < op->n_watches; i++) {
        watch_unlink(&op->watches[i]);
    }
    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        q->head = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    } else {
        q->tail = op->prev;
    }
    op->prev = op->next = NULL;
    op->queue = NULL;
    q->count--;
    arm(q);
}

static void finish(struct delayed_op *op, bool expired)
{
    op_unlink(op);
    op->complete(op, expired);
}

static void on_timer(uv_timer_t *t)
{
    struct delayed_queue *q = t->data;
    uint64_t now = uv_now(t->loop);
    while (q->head != NULL && q->head->deadline <= now) {
        finish(q->head, true);
    }
    arm(q);
}

static void arm(struct delayed_queue *q)
{
    if (q->closed) {
        return;
    }
    if (q->head == NULL) {
        uv_timer_stop(&q->timer);
        return;
    }
    uint64_t now = uv_now(q->timer.loop);
    uint64_t due = q->head->deadline > now ? q->head->deadline - now : 0;
    uv_timer_start(&q->timer, on_timer, due, 0);
}

void delayed_queue_init(struct delayed_queue *q, uv_loop_t *loop)
{
    memset(q, 0, sizeof *q);
    uv_timer_init(loop, &q->timer);
    q->timer.data = q;
}

void delayed_queue_close(struct delayed_queue *q, uv_close_cb on_closed)
{
    while (q->head != NULL) {
        finish(q->head, true);
    }
    q->closed = true;
    uv_close((uv_handle_t *)&q->timer, on_closed);
}

void delayed_key_notify(struct delayed_key *key)
{
    struct delayed_key_cursor cursor = {NULL, key->cursors};
    key->cursors = &cursor;
    struct delayed_watch *w = key->head;
    while (w != NULL) {
        struct delayed_op *op = w->op;
        /* Step past all of the op's watches first (an op may watch the same
         * key twice); the cursor then follows whatever the completion
         * unlinks, this op's watches and any other op's. */
        cursor.next = w->next;
        while (cursor.next != NULL && cursor.next->op == op) {
            cursor.next = cursor.next->next;
        }
        op->fired = (size_t)(w - op->watches);
        if (op->ready(op)) {
            finish(op, false);
        }
        w = cursor.next;
    }
    key->cursors = cursor.outer;
}

void delayed_key_detach(struct delayed_key *key)
{
    while (key->head != NULL) {
        watch_unlink(key->head); /* a notification under way ends with the list */
    }
}

int delayed_op_init(struct delayed_op *op, size_t max_keys, bool (*ready)(struct delayed_op *),
                    void (*complete)(struct delayed_op *, bool), void *data)
{
    memset(op, 0, sizeof *op);
    op->watches = calloc(max_keys ? max_keys : 1, sizeof *op->watches);
    if (op->watches == NULL) {
        return -ENOMEM;
    }
    op->max_watches = max_keys;
    op->ready = ready;
    op->complete = complete;
    op->data = data;
    return 0;
}

void delayed_op_free(struct delayed_op *op)
{
    free(op->watches);
    op->watches = NULL;
    op->n_watches = op->max_watches = 0;
}

void delayed_op_watch(struct delayed_op *op, struct delayed_key *key)
{
    if (op->n_watches < op->max_watches) {
        struct delayed_watch *w = &op->watches[op->n_watches++];
        w->op = op;
        w->key = NULL;
        w->target = key;
        w->prev = w->next = NULL;
    }
}

void delayed_queue_add(struct delayed_queue *q, struct delayed_op *op, uint64_t timeout_ms)
{
    op->queue = q;
    op->deadline = uv_now(q->timer.loop) + timeout_ms;
    for (size_t i = 0; i < op->n_watches; i++) {
        struct delayed_watch *w = &op->watches[i];
        struct delayed_key *key = w->target;
        w->key = key;
        w->prev = NULL;
        w->next = key->head;
        if (key->head != NULL) {
            key->head->prev = w;
        }
        key->head = w;
    }
    /* Deadlines mostly arrive in order: insert scanning from the tail. */
    struct delayed_op *after = q->tail;
    while (after != NULL && after->deadline > op->deadline) {
        after = after->prev;
    }
    op->prev = after;
    op->next = after ? after->next : q->head;
    if (op->next != NULL) {
        op->next->prev = op;
    } else {
        q->tail = op;
    }
    if (after != NULL) {
        after->next = op;
    } else {
        q->head = op;
    }
    q->count++;
    if (q->closed) {
        finish(op, true);
        return;
    }
    arm(q);
}

void delayed_op_cancel(struct delayed_op *op)
{
    if (op->queue != NULL) {
        op_unlink(op);
    }
}
