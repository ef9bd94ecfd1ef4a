/* Fuzz target: the controller state machine's decoding and application of
 * raft entries (metadata/fsm.c): metadata batches and snapshots come from
 * the raft log on disk and from the leader, and a crash there stalls or
 * kills every controller at once.
 * Input: a sequence of chunks, each `flags u8, length u16 BE, bytes`. Flags
 * bit 0: the bytes are a complete entry (framing header included), else the
 * target frames them as a batch entry (or snapshot) so the fuzzer works on
 * the protobuf directly; bit 1: restore them as a snapshot instead of
 * applying them as an entry.
 * Invariants: fsm_apply succeeds for any bytes, advances the offset by one
 * and gives one result per record; a batch whose every record is rejected
 * leaves the image as it was; every kept delta decodes; two state machines
 * fed the same entries end identical (determinism); the final image survives
 * snapshot -> restore -> snapshot byte for byte. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"
#include "common/log.h"
#include "metadata/fsm.h"

#define FUZZ_ENTRY_HEADER 8
#define FUZZ_MAX_DELTAS   4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void snapshot(const struct fsm *fsm, void **out, size_t *len)
{
    if (fsm_snapshot(fsm, malloc, out, len) != 0)
        abort();
}

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* `bytes` framed as an entry of `kind` unless the flags say it is framed. */
static uint8_t *entry_of(uint8_t flags, const uint8_t *bytes, size_t n, size_t *len)
{
    uint8_t *e = malloc(n + FUZZ_ENTRY_HEADER + 8);
    if (e == NULL)
        abort();
    if (flags & 1) {
        memcpy(e, bytes, n);
        *len = n;
        return e;
    }
    memset(e, 0, n + FUZZ_ENTRY_HEADER + 8);
    e[0] = (flags & 2) ? 'I' : 'B';
    e[1] = 1;
    be32_store(e + 4, (uint32_t)n);
    memcpy(e + FUZZ_ENTRY_HEADER, bytes, n);
    *len = FUZZ_ENTRY_HEADER + ((n + 7) & ~(size_t)7);
    return e;
}

static int check_delta(const struct fsm_delta *d, void *arg)
{
    (void)arg;
    MetadataBatch *b = fsm_entry_unpack(d->bytes, d->len);
    if (b == NULL)
        abort();
    sluice__metadata__metadata_batch__free_unpacked(b, NULL);
    return 0;
}

static void apply_checked(struct fsm *fsm, const uint8_t *entry, size_t len)
{
    void *before, *after;
    size_t before_len, after_len;
    const struct fsm_result *res = NULL;
    int64_t offset = fsm_offset(fsm);
    snapshot(fsm, &before, &before_len);
    if (fsm_apply(fsm, entry, len, &res) != 0 || res == NULL)
        abort();
    if (fsm_offset(fsm) != offset + 1 || res->offset != offset + 1)
        abort();
    MetadataBatch *b = fsm_entry_unpack(entry, len);
    size_t n = b != NULL ? b->n_records : 0;
    if (b != NULL)
        sluice__metadata__metadata_batch__free_unpacked(b, NULL);
    if (res->n != n)
        abort();
    bool any_accepted = false;
    for (size_t i = 0; i < n; i++)
        any_accepted |= res->errors[i] == 0;
    if (!any_accepted) {
        fsm->image->offset = offset; /* compare everything but the offset */
        snapshot(fsm, &after, &after_len);
        fsm->image->offset = offset + 1;
        if (!same_bytes(before, before_len, after, after_len))
            abort();
        free(after);
    }
    free(before);
    if (fsm_deltas_after(fsm, fsm_offset(fsm) - 1, FUZZ_MAX_DELTAS, check_delta, NULL) != 1)
        abort();
}

static void check_snapshot_roundtrip(const struct fsm *fsm)
{
    void *first, *second;
    size_t first_len, second_len;
    struct fsm copy;
    snapshot(fsm, &first, &first_len);
    if (fsm_init(&copy, FUZZ_MAX_DELTAS) != 0 || fsm_restore(&copy, first, first_len) != 0)
        abort();
    snapshot(&copy, &second, &second_len);
    if (!same_bytes(first, first_len, second, second_len))
        abort();
    free(first);
    free(second);
    fsm_close(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Most inputs are undecodable entries, each an error line: writing them
     * cost several times the input itself (issue 15: ~2,700 runs/s). */
    log_set_level(LOG_LEVEL_NONE);
    struct fsm a, b;
    if (fsm_init(&a, FUZZ_MAX_DELTAS) != 0 || fsm_init(&b, FUZZ_MAX_DELTAS) != 0)
        abort();
    size_t pos = 0;
    while (size - pos >= 3) {
        uint8_t flags = data[pos];
        size_t n = (size_t)data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        n = n < size - pos ? n : size - pos;
        size_t len;
        uint8_t *entry = entry_of(flags, data + pos, n, &len);
        pos += n;
        if (flags & 2) {
            int ra = fsm_restore(&a, entry, len), rb = fsm_restore(&b, entry, len);
            if (ra != rb || (ra != 0 && ra != -EBADMSG))
                abort();
        } else {
            apply_checked(&a, entry, len);
            const struct fsm_result *res;
            if (fsm_apply(&b, entry, len, &res) != 0)
                abort();
        }
        free(entry);
    }
    void *sa, *sb;
    size_t la, lb;
    snapshot(&a, &sa, &la);
    snapshot(&b, &sb, &lb);
    if (!same_bytes(sa, la, sb, lb))
        abort();
    free(sa);
    free(sb);
    check_snapshot_roundtrip(&a);
    fsm_close(&a);
    fsm_close(&b);
    return 0;
}
