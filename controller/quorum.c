#include "controller/quorum.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fs_util.h"
#include "common/log.h"

static void fatal(struct quorum *q, int status, const char *what)
{
    if (q->fatal) {
        return;
    }
    q->fatal = true;
    q->ready = false;
    char message[256];
    snprintf(message, sizeof message, "%s failed: %s", what, raft_strerror(status));
    log_error("quorum", "fatal raft error node.id=%d what=%s error=%s", q->node_id, what,
              raft_strerror(status));
    if (q->on_fatal != NULL) {
        q->on_fatal(q, status, message);
    }
}

static int fsm_apply_entry(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
    struct quorum *q = rf->data;
    const struct fsm_result *res = NULL;
    int rv = fsm_apply(&q->fsm, buf->base, buf->len, &res);
    if (rv != 0) {
        /* Out of memory mid-apply: this node's image can no longer be
         * trusted. Stop; the others carry on and we rebuild from raft. */
        fatal(q, RAFT_NOMEM, "metadata apply");
        return RAFT_NOMEM;
    }
    /* Borrowed: raft hands it to the proposer's callback synchronously. */
    *result = (void *)res;
    return 0;
}

static int fsm_take_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct quorum *q = rf->data;
    struct raft_buffer *b = raft_malloc(sizeof *b);
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    if (fsm_snapshot(&q->fsm, raft_malloc, &b->base, &b->len) != 0) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    *bufs = b;
    *n_bufs = 1;
    q->snapshots++;
    log_info("quorum", "snapshot taken node.id=%d metadata_offset=%lld bytes=%zu", q->node_id,
             (long long)fsm_offset(&q->fsm), b->len);
    return 0;
}

static int fsm_restore_snapshot(struct raft_fsm *rf, struct raft_buffer *buf)
{
    struct quorum *q = rf->data;
    int rv = fsm_restore(&q->fsm, buf->base, buf->len);
    if (rv != 0) {
        log_error("quorum", "snapshot does not decode node.id=%d bytes=%zu", q->node_id, buf->len);
        return rv == -ENOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
    }
    raft_free(buf->base); /* ours on success (raft_fsm contract) */
    q->restores++;
    log_info("quorum", "snapshot restored node.id=%d metadata_offset=%lld", q->node_id,
             (long long)fsm_offset(&q->fsm));
    return 0;
}

int quorum_init(struct quorum *q, int32_t node_id, const struct quorum_options *options,
                quorum_leadership_cb on_leadership, quorum_fatal_cb on_fatal)
{
    memset(q, 0, sizeof *q);
    q->node_id = node_id;
    q->options = (struct quorum_options){100, 1000, 1024, 128, 0, 4096};
    if (options != NULL) {
        struct quorum_options o = *options;
        q->options.heartbeat_ms = o.heartbeat_ms ? o.heartbeat_ms : 100;
        q->options.election_ms = o.election_ms ? o.election_ms : 1000;
        q->options.snapshot_threshold = o.snapshot_threshold ? o.snapshot_threshold : 1024;
        q->options.snapshot_trailing = o.snapshot_trailing ? o.snapshot_trailing : 128;
        q->options.segment_size = o.segment_size;
        q->options.max_deltas = o.max_deltas ? o.max_deltas : 4096;
    }
    q->on_leadership = on_leadership;
    q->on_fatal = on_fatal;
    int rv = fsm_init(&q->fsm, q->options.max_deltas);
    if (rv != 0) {
        return rv;
    }
    /* Version 2, not 3: 0.15's uv io is version 1 and rejects async
     * snapshots (shared/RAFT.md). */
    q->raft_fsm.version = 2;
    q->raft_fsm.data = q;
    q->raft_fsm.apply = fsm_apply_entry;
    q->raft_fsm.snapshot = fsm_take_snapshot;
    q->raft_fsm.restore = fsm_restore_snapshot;
    q->raft_fsm.snapshot_finalize = NULL;
    return 0;
}

struct raft_fsm *quorum_raft_fsm(struct quorum *q)
{
    return &q->raft_fsm;
}

static void apply_tuning(struct quorum *q)
{
    raft_set_snapshot_threshold(q->raft, q->options.snapshot_threshold);
    raft_set_snapshot_trailing(q->raft, q->options.snapshot_trailing);
}

void quorum_attach(struct quorum *q, struct raft *raft)
{
    q->raft = raft;
    apply_tuning(q);
}

static void on_barrier(struct raft_barrier *req, int status)
{
    struct quorum *q = req->data;
    q->barrier_pending = false;
    if (status == 0) {
        if (!q->closing && !q->fatal && raft_state(q->raft) == RAFT_LEADER) {
            q->ready = true;
            log_info("quorum", "active controller node.id=%d metadata_offset=%lld", q->node_id,
                     (long long)fsm_offset(&q->fsm));
            if (q->on_leadership != NULL) {
                q->on_leadership(q, true);
            }
        }
    } else if (status != RAFT_LEADERSHIPLOST && status != RAFT_NOTLEADER &&
               status != RAFT_SHUTDOWN) {
        fatal(q, status, "barrier");
    }
}

void quorum_tick(struct quorum *q)
{
    if (q->closing || q->fatal || q->raft == NULL) {
        return;
    }
    if (raft_state(q->raft) != RAFT_LEADER) {
        if (q->ready) {
            q->ready = false;
            log_info("quorum", "no longer the active controller node.id=%d", q->node_id);
            if (q->on_leadership != NULL) {
                q->on_leadership(q, false);
            }
        }
        return;
    }
    if (q->ready || q->barrier_pending) {
        return;
    }
    /* A new leader applies everything committed before acting on the image
     * (0.15 appends no entry of its own on election). */
    q->barrier.data = q;
    int rv = raft_barrier(q->raft, &q->barrier, on_barrier);
    if (rv == 0) {
        q->barrier_pending = true;
    } else if (rv != RAFT_NOTLEADER && rv != RAFT_LEADERSHIPLOST) {
        fatal(q, rv, "barrier");
    }
}

static void on_applied(struct raft_apply *apply, int status, void *result)
{
    struct quorum_proposal *req = apply->data;
    struct quorum *q = req->quorum;
    int qs;
    switch (status) {
    case 0:
        /* Committed while quorum_close waits for appends: the caller may
         * have gone (the service closes first), so it hears what it would
         * have heard from raft_close. */
        qs = q->closing ? QUORUM_SHUTTING_DOWN : 0;
        break;
    case RAFT_LEADERSHIPLOST:
        qs = q->closing ? QUORUM_SHUTTING_DOWN : QUORUM_UNKNOWN_OUTCOME;
        break;
    case RAFT_NOTLEADER:
        qs = QUORUM_NOT_LEADER;
        break;
    case RAFT_SHUTDOWN:
        qs = QUORUM_SHUTTING_DOWN;
        break;
    default:
        fatal(q, status, "apply");
        qs = QUORUM_FATAL;
        break;
    }
    req->cb(req, qs, qs == 0 ? result : NULL);
}

int quorum_propose(struct quorum *q, struct quorum_proposal *req, const MetadataBatch *batch,
                   quorum_proposal_cb cb)
{
    if (q->closing || q->fatal) {
        return QUORUM_SHUTTING_DOWN;
    }
    if (!q->ready) {
        return QUORUM_NOT_LEADER;
    }
    struct raft_buffer buf;
    if (fsm_batch_pack(batch, raft_malloc, &buf.base, &buf.len) != 0) {
        return -ENOMEM;
    }
    req->quorum = q;
    req->cb = cb;
    req->apply.data = req;
    int rv = raft_apply(q->raft, &req->apply, &buf, 1, on_applied);
    if (rv != 0) {
        raft_free(buf.base);
        if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST) {
            return QUORUM_NOT_LEADER;
        }
        if (rv == RAFT_NOMEM) {
            return -ENOMEM;
        }
        fatal(q, rv, "apply");
        return QUORUM_FATAL;
    }
    return 0;
}

bool quorum_is_ready(const struct quorum *q)
{
    return q->ready && !q->closing && !q->fatal;
}

void quorum_leader(struct quorum *q, int32_t *id, const char **address)
{
    raft_id rid = 0;
    const char *addr = NULL;
    if (q->raft != NULL && !q->closing) {
        raft_leader(q->raft, &rid, &addr);
    }
    *id = (int32_t)rid;
    if (address != NULL) {
        *address = addr;
    }
}

const char *quorum_state_name(struct quorum *q)
{
    if (q->raft == NULL || q->closing) {
        return "unavailable";
    }
    switch (raft_state(q->raft)) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return q->ready ? "leader" : "leader-catching-up";
    default:
        return "unavailable";
    }
}

uint64_t quorum_last_index(struct quorum *q)
{
    return q->raft != NULL ? raft_last_index(q->raft) : 0;
}

/* raft_uv keeps term and vote in two alternating files, metadata1 and
 * metadata2: four little-endian u64 (format 1, version, term, voted_for);
 * the higher version is current. */
static bool read_metadata(const char *dir, const char *name, uint64_t *version, uint64_t *term)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    uint8_t b[32];
    bool ok = f != NULL && fread(b, 1, sizeof b, f) == sizeof b;
    if (f != NULL) {
        fclose(f);
    }
    if (!ok) {
        return false;
    }
    uint64_t v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = 0;
        for (int k = 7; k >= 0; k--) {
            v[i] = v[i] << 8 | b[i * 8 + k];
        }
    }
    if (v[0] != 1) {
        return false;
    }
    *version = v[1];
    *term = v[2];
    return true;
}

uint64_t quorum_term(struct quorum *q)
{
    uint64_t v1 = 0, t1 = 0, v2 = 0, t2 = 0;
    if (!q->uv_started || q->dir[0] == '\0') {
        return 0;
    }
    bool have1 = read_metadata(q->dir, "metadata1", &v1, &t1);
    bool have2 = read_metadata(q->dir, "metadata2", &v2, &t2);
    if (have1 && (!have2 || v1 >= v2)) {
        return t1;
    }
    return have2 ? t2 : 0;
}

uint64_t quorum_last_applied(struct quorum *q)
{
    return q->raft != NULL ? raft_last_applied(q->raft) : 0;
}

/* ---- production: raft_uv ---- */

/* Kernel AIO contexts are a system-wide budget raft_uv draws on. */
static void log_aio_budget(void)
{
    long nr = -1, max = -1;
    FILE *f = fopen("/proc/sys/fs/aio-nr", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &nr) != 1) {
            nr = -1;
        }
        fclose(f);
    }
    f = fopen("/proc/sys/fs/aio-max-nr", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &max) != 1) {
            max = -1;
        }
        fclose(f);
    }
    log_info("quorum", "kernel aio budget aio-nr=%ld aio-max-nr=%ld", nr, max);
}

static void close_uv_side(struct quorum *q);
static void close_done(struct quorum *q);

static void on_poll(uv_prepare_t *handle)
{
    struct quorum *q = handle->data;
    if (q->draining) {
        /* Not from inside raft_uv's callback: raft_close would cancel the
         * requests raft_uv is iterating over; nor from inside raft's, which
         * ends a hand-over. */
        if (q->handing_over && uv_now(q->loop) >= q->hand_over_deadline) {
            q->handing_over = false;
            /* Usual when the whole quorum stops at once: the target is closing too. */
            log_info("quorum", "leadership hand-over not confirmed in time, closing node.id=%d",
                     q->node_id);
        }
        if (q->leader_appends == 0 && !q->handing_over) {
            q->draining = false;
            close_uv_side(q);
            close_done(q); /* the drain's step */
        }
        return;
    }
    quorum_tick(q);
}

/* One append raft submitted as leader, counted until raft_uv finishes it. */
struct counted_append {
    struct raft_io_append req; /* the one raft_uv holds */
    struct quorum *q;
    struct raft_io_append *raft_req;
    raft_io_append_cb cb;
};

static void on_counted_append(struct raft_io_append *req, int status)
{
    struct counted_append *ca = req->data;
    struct raft_io_append *raft_req = ca->raft_req;
    raft_io_append_cb cb = ca->cb;
    ca->q->leader_appends--;
    free(ca);
    cb(raft_req, status);
}

static int counted_append(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    struct quorum *q = (struct quorum *)((char *)io - offsetof(struct quorum, io));
    /* A follower's cancelled appends truncate nothing: pass them through. */
    if (raft_state(q->raft) != RAFT_LEADER) {
        return q->uv_append(io, req, entries, n, cb);
    }
    struct counted_append *ca = malloc(sizeof *ca);
    if (ca == NULL) {
        return RAFT_NOMEM;
    }
    *ca = (struct counted_append){.req.data = ca, .q = q, .raft_req = req, .cb = cb};
    req->cb = cb; /* as raft_uv would have set it */
    int rv = q->uv_append(io, &ca->req, entries, n, on_counted_append);
    if (rv != 0) {
        free(ca); /* no callback follows a refused append (raft frees its request too) */
        return rv;
    }
    q->leader_appends++;
    return 0;
}

static int bootstrap(struct quorum *q, const struct voters *voters, char *err, size_t errlen)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = 0;
    for (size_t i = 0; i < voters->n && rv == 0; i++) {
        rv = raft_configuration_add(&conf, (raft_id)voters->v[i].id, voters->v[i].raft_address,
                                    RAFT_VOTER);
    }
    if (rv == 0) {
        rv = raft_bootstrap(q->raft, &conf);
        if (rv == RAFT_CANTBOOTSTRAP) {
            rv = 0; /* not the first boot: the log already has a configuration */
        } else if (rv == 0) {
            log_info("quorum", "bootstrapped node.id=%d voters=%zu", q->node_id, voters->n);
        }
    }
    raft_configuration_close(&conf);
    if (rv != 0) {
        snprintf(err, errlen, "raft bootstrap: %s", raft_strerror(rv));
        return -EIO;
    }
    return 0;
}

static int start_raft(struct quorum *q, const struct voter *self, char *err, size_t errlen)
{
    /* raft ids must be > 0: voters_parse refuses id 0. */
    int rv = raft_init(&q->own_raft, &q->io, &q->raft_fsm, (raft_id)self->id, self->raft_address);
    if (rv != 0) {
        snprintf(err, errlen, "raft init: %s", raft_strerror(rv));
        return -EIO;
    }
    q->raft = &q->own_raft;
    raft_set_heartbeat_timeout(q->raft, q->options.heartbeat_ms);
    raft_set_election_timeout(q->raft, q->options.election_ms);
    raft_set_pre_vote(q->raft, true);
    apply_tuning(q);
    return 0;
}

int quorum_set_bind_host(struct quorum *q, const char *host)
{
    struct in_addr scratch;
    if (strlen(host) >= sizeof q->bind_host || inet_pton(AF_INET, host, &scratch) != 1) {
        q->bind_host[0] = '\0';
        return -EINVAL;
    }
    snprintf(q->bind_host, sizeof q->bind_host, "%s", host);
    return 0;
}

void quorum_set_tls(struct quorum *q, const struct peer_transport_tls *tls)
{
    q->tls = *tls;
}

int quorum_start_uv(struct quorum *q, uv_loop_t *loop, const char *dir, const struct voters *voters,
                    char *err, size_t errlen)
{
    const struct voter *self = voters_find(voters, q->node_id);
    if (self == NULL) {
        snprintf(err, errlen, "node.id %d is not in controller.quorum.voters", q->node_id);
        return -EINVAL;
    }
    if (q->options.heartbeat_ms >= q->options.election_ms) {
        snprintf(err, errlen, "raft heartbeat must be shorter than the election timeout");
        return -EINVAL;
    }
    int rv = fs_mkdir_p(dir);
    if (rv != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rv));
        return rv;
    }
    log_aio_budget();
    snprintf(q->dir, sizeof q->dir, "%s", dir);
    q->voters = *voters;
    q->loop = loop;
    char bind[sizeof q->bind_host + 8];
    snprintf(bind, sizeof bind, "%s:%u", q->bind_host[0] != '\0' ? q->bind_host : "0.0.0.0",
             self->port + 1u);
    q->tls.self = q->node_id;
    if (peer_transport_init(&q->transport, loop, voters, bind,
                            q->tls.tls != NULL ? &q->tls : NULL) != 0) {
        snprintf(err, errlen, "raft transport init failed bind=%s", bind);
        return -ENOMEM;
    }
    q->uv_started = true;
    if (raft_uv_init(&q->io, loop, dir, &q->transport.iface) != 0) {
        snprintf(err, errlen, "raft io init failed dir=%s bind=%s", dir, bind);
        return -EIO;
    }
    q->io_inited = true;
    q->uv_append = q->io.append;
    q->io.append = counted_append;
    if (q->options.segment_size != 0) {
        raft_uv_set_segment_size(&q->io, q->options.segment_size);
    }
    rv = start_raft(q, self, err, errlen);
    if (rv == 0) {
        rv = bootstrap(q, voters, err, errlen);
    }
    if (rv == 0 && (rv = raft_start(q->raft)) != 0) {
        snprintf(err, errlen, "raft start: %s", raft_errmsg(q->raft));
        rv = -EIO;
    }
    if (rv != 0) {
        return rv;
    }
    uv_prepare_init(loop, &q->poll);
    q->poll.data = q;
    uv_prepare_start(&q->poll, on_poll);
    log_info("quorum", "started node.id=%d address=%s dir=%s", q->node_id, self->raft_address, dir);
    return 0;
}

static unsigned close_pending(struct quorum *q, int delta)
{
    q->close_steps = (unsigned)((int)q->close_steps + delta);
    return q->close_steps;
}

static void close_done(struct quorum *q)
{
    if (close_pending(q, -1) != 0) {
        return;
    }
    fsm_close(&q->fsm);
    if (q->close_cb != NULL) {
        q->close_cb(q);
    }
}

static void on_raft_closed(struct raft *r)
{
    /* raft's own user-data field is left alone (shared/RAFT.md: only its
     * functions); the raft is embedded in the quorum. */
    struct quorum *q = (struct quorum *)((char *)r - offsetof(struct quorum, own_raft));
    /* A later call of raft's io close callback (quorum_release says when)
     * frees the fields of, and calls the close_cb of, whatever io.data
     * names: a zeroed raft makes that a no-op instead of a double free. */
    memset(&q->closed_raft, 0, sizeof q->closed_raft);
    q->io.data = &q->closed_raft;
    close_done(q);
}

static void on_poll_closed(uv_handle_t *handle)
{
    close_done(handle->data);
}

/* The poll handle, then raft. */
static void close_uv_side(struct quorum *q)
{
    if (q->uv_started && q->poll.data == q) {
        close_pending(q, +1);
        uv_prepare_stop(&q->poll);
        uv_close((uv_handle_t *)&q->poll, on_poll_closed);
    }
    if (q->uv_started && q->raft == &q->own_raft) {
        close_pending(q, +1);
        raft_close(q->raft, on_raft_closed);
    }
}

static void on_handed_over(struct raft_transfer *req)
{
    struct quorum *q = req->data;
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader(q->raft, &leader_id, &leader_address);
    bool waited = q->handing_over; /* else given up already, and this is raft_close's abort */
    q->handing_over = false;
    if (leader_id != 0 && leader_id != (raft_id)q->node_id) {
        q->hand_overs++;
        log_info("quorum", "handed leadership over node.id=%d new_leader=%llu", q->node_id,
                 (unsigned long long)leader_id);
    } else if (waited) {
        log_warn("quorum", "leadership hand-over did not complete, closing node.id=%d", q->node_id);
    }
}

/* A stopping leader first hands its leadership to an up-to-date voter
 * (raft's TimeoutNow), as KRaft's resigning controller does: the others
 * elect at once, not after an election timeout without heartbeats during
 * which nothing (a broker's registration, a partition's leader) can commit.
 * The close waits half an election timeout at most (raft's own bound is a
 * whole one): a target that is stopping too, as when a whole cluster is
 * taken down, never answers, and once TimeoutNow is out the target's
 * election goes on without us. True if started. */
static bool start_hand_over(struct quorum *q)
{
    if (!q->uv_started || q->raft != &q->own_raft || q->poll.data != q || q->fatal ||
        q->voters.n < 2 || raft_state(q->raft) != RAFT_LEADER) {
        return false;
    }
    q->hand_over.data = q;
    int rv = raft_transfer(q->raft, &q->hand_over, 0, on_handed_over);
    if (rv != 0) {
        log_warn("quorum", "cannot hand leadership over node.id=%d error=%s", q->node_id,
                 raft_errmsg(q->raft));
        return false;
    }
    q->handing_over = true;
    q->hand_over_deadline = uv_now(q->loop) + q->options.election_ms / 2;
    return true;
}

void quorum_close(struct quorum *q, void (*cb)(struct quorum *q))
{
    if (q->closing) {
        return;
    }
    q->closing = true;
    q->ready = false;
    q->close_cb = cb;
    q->close_steps = 1; /* released at the end of this function */
    bool handing_over = start_hand_over(q);
    if ((handing_over || q->leader_appends > 0) && q->uv_started && q->poll.data == q) {
        /* No new ones come: proposals and barriers stop with `closing`.
         * The poll handle closes raft once these are written and the
         * hand-over is over. */
        log_info("quorum",
                 "closing once the leader's appends are written and leadership is handed over "
                 "node.id=%d appends=%u hand_over=%s",
                 q->node_id, q->leader_appends, handing_over ? "yes" : "no");
        q->draining = true;
        close_pending(q, +1);
    } else {
        close_uv_side(q);
    }
    /* raft never initialised: quorum_release frees the io and transport. */
    close_done(q);
}

void quorum_release(struct quorum *q)
{
    if (!q->uv_started || q->uv_released) {
        return;
    }
    q->uv_released = true;
    if (q->io_inited) {
        raft_uv_close(&q->io);
    }
    peer_transport_release(&q->transport);
}
