#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "common/bigendian.h"
#include "tests/unit/check_main.h"

/* Kafka's smallest request, the minimum the broker uses. */
#define MIN_SIZE 10

/* Build a stream of `n` frames with sizes 10..10+n*37 and recognisable bodies. */
static uint8_t *make_stream(int n, size_t *len)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        total += 4 + 10 + (size_t)i * 37;
    }
    uint8_t *s = malloc(total), *p = s;
    for (int i = 0; i < n; i++) {
        size_t size = 10 + (size_t)i * 37;
        be32_store(p, (uint32_t)size);
        for (size_t j = 0; j < size; j++) {
            p[4 + j] = (uint8_t)(i * 7 + j);
        }
        p += 4 + size;
    }
    *len = total;
    return s;
}

START_TEST(test_random_chunks)
{
    size_t len;
    uint8_t *stream = make_stream(50, &len);
    srand(1234 + (unsigned)_i);
    struct frame_reader fr;
    frame_reader_init(&fr, MIN_SIZE, 1 << 20);
    int frames = 0;
    size_t off = 0;
    while (off < len) {
        size_t chunk = 1 + (size_t)rand() % (_i == 0 ? 1 : 300);
        chunk = chunk < len - off ? chunk : len - off;
        size_t pos = 0;
        while (pos < chunk) {
            size_t used;
            enum frame_status st = frame_reader_feed(&fr, stream + off + pos, chunk - pos, &used);
            pos += used;
            ck_assert_int_ge(st, 0);
            if (st == FRAME_READY) {
                size_t flen, fcap;
                uint8_t *body = frame_reader_take(&fr, &flen, &fcap);
                ck_assert_uint_eq(fcap, flen);
                ck_assert_uint_eq(flen, 10 + (size_t)frames * 37);
                for (size_t j = 0; j < flen; j++) {
                    ck_assert_uint_eq(body[j], (uint8_t)(frames * 7 + j));
                }
                free(body);
                frames++;
            } else {
                ck_assert_uint_eq(pos, chunk);
            }
        }
        off += chunk;
    }
    ck_assert_int_eq(frames, 50);
    ck_assert(!frame_reader_partial(&fr));
    frame_reader_free(&fr);
    free(stream);
}
END_TEST

START_TEST(test_huge_claim_rejected_before_allocation)
{
    struct frame_reader fr;
    frame_reader_init(&fr, MIN_SIZE, 100 * 1024 * 1024);
    uint8_t claim[4] = {0x7f, 0xff, 0xff, 0xff}; /* 2 GiB */
    size_t used;
    ck_assert_int_eq(frame_reader_feed(&fr, claim, 2, &used), FRAME_NEED_MORE);
    ck_assert(frame_reader_partial(&fr));
    ck_assert_int_eq(frame_reader_feed(&fr, claim + 2, 2, &used), FRAME_TOO_LARGE);
    ck_assert_ptr_null(fr.body);
    ck_assert_int_eq(fr.last_size, 0x7fffffff);
    frame_reader_free(&fr);
}
END_TEST

START_TEST(test_negative_and_tiny_sizes)
{
    struct frame_reader fr;
    size_t used;
    uint8_t neg[4] = {0xff, 0xff, 0xff, 0xfe};
    frame_reader_init(&fr, MIN_SIZE, 1000);
    ck_assert_int_eq(frame_reader_feed(&fr, neg, 4, &used), FRAME_INVALID);
    frame_reader_free(&fr);
    uint8_t tiny[4] = {0, 0, 0, 3};
    frame_reader_init(&fr, MIN_SIZE, 1000);
    ck_assert_int_eq(frame_reader_feed(&fr, tiny, 4, &used), FRAME_INVALID);
    frame_reader_free(&fr);
    uint8_t just_over[4] = {0, 0, 0x03, 0xe9}; /* 1001 */
    frame_reader_init(&fr, MIN_SIZE, 1000);
    ck_assert_int_eq(frame_reader_feed(&fr, just_over, 4, &used), FRAME_TOO_LARGE);
    frame_reader_free(&fr);
}
END_TEST

START_TEST(test_two_frames_in_one_chunk)
{
    size_t len;
    uint8_t *stream = make_stream(2, &len);
    struct frame_reader fr;
    frame_reader_init(&fr, MIN_SIZE, 1000);
    size_t used;
    ck_assert_int_eq(frame_reader_feed(&fr, stream, len, &used), FRAME_READY);
    ck_assert_uint_eq(used, 14);
    size_t flen, fcap;
    free(frame_reader_take(&fr, &flen, &fcap));
    size_t used2;
    ck_assert_int_eq(frame_reader_feed(&fr, stream + used, len - used, &used2), FRAME_READY);
    ck_assert_uint_eq(used + used2, len);
    free(frame_reader_take(&fr, &flen, &fcap));
    ck_assert_uint_eq(flen, 47);
    frame_reader_free(&fr);
    free(stream);
}
END_TEST

/* The bounds are the caller's: the internal RPC accepts 4-byte frames. */
START_TEST(test_bounds_are_the_callers)
{
    struct frame_reader fr;
    size_t used, len, cap;
    uint8_t four[8] = {0, 0, 0, 4, 1, 2, 3, 4};
    frame_reader_init(&fr, 4, 1000);
    ck_assert_int_eq(frame_reader_feed(&fr, four, sizeof four, &used), FRAME_READY);
    uint8_t *body = frame_reader_take(&fr, &len, &cap);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(body[3], 4);
    free(body);
    frame_reader_free(&fr);
    uint8_t three[4] = {0, 0, 0, 3};
    frame_reader_init(&fr, 4, 1000);
    ck_assert_int_eq(frame_reader_feed(&fr, three, 4, &used), FRAME_INVALID);
    frame_reader_free(&fr);
    /* An empty frame is never valid, whatever the minimum says. */
    uint8_t zero[4] = {0, 0, 0, 0};
    frame_reader_init(&fr, 0, 1000);
    ck_assert_int_eq(frame_reader_feed(&fr, zero, 4, &used), FRAME_INVALID);
    frame_reader_free(&fr);
    /* A maximum beyond int32 is clamped; a size with the top bit set is
     * invalid, not large, and errors are sticky. */
    uint8_t top[4] = {0x80, 0, 0, 0};
    frame_reader_init(&fr, 4, SIZE_MAX);
    ck_assert_int_eq(frame_reader_feed(&fr, top, 4, &used), FRAME_INVALID);
    ck_assert_int_eq(frame_reader_feed(&fr, four, sizeof four, &used), FRAME_INVALID);
    ck_assert_ptr_null(fr.body);
    frame_reader_free(&fr);
}
END_TEST

START_TEST(test_allocation_follows_bytes_received)
{
    /* A 100 MiB frame announced, then dribbled: the buffer grows with what
     * arrives (doubling), never to the claimed size up front. */
    struct frame_reader fr;
    frame_reader_init(&fr, 1, 200u << 20);
    uint8_t size[4] = {0x06, 0x40, 0x00, 0x00}; /* 100 MiB */
    size_t used;
    ck_assert_int_eq(frame_reader_feed(&fr, size, 4, &used), FRAME_NEED_MORE);
    ck_assert_uint_le(fr.body_cap, 65536);
    static uint8_t chunk[300000];
    memset(chunk, 7, sizeof chunk);
    ck_assert_int_eq(frame_reader_feed(&fr, chunk, sizeof chunk, &used), FRAME_NEED_MORE);
    ck_assert_uint_eq(used, sizeof chunk);
    ck_assert_uint_le(fr.body_cap, 2 * sizeof chunk);
    ck_assert_uint_ge(fr.body_cap, sizeof chunk);
    frame_reader_free(&fr);
    /* A small frame completes into a buffer of exactly its size. */
    frame_reader_init(&fr, 1, 1000);
    uint8_t small[4 + 5] = {0, 0, 0, 5, 1, 2, 3, 4, 5};
    ck_assert_int_eq(frame_reader_feed(&fr, small, sizeof small, &used), FRAME_READY);
    size_t len, cap;
    uint8_t *body = frame_reader_take(&fr, &len, &cap);
    ck_assert_uint_eq(len, 5);
    ck_assert_uint_eq(cap, 5);
    ck_assert_mem_eq(body, small + 4, 5);
    free(body);
    frame_reader_free(&fr);
}
END_TEST

/* Feed the size prefix of a `size`-byte frame, then the body (bytes
 * i * 13), in chunks of `chunk` bytes; returns the status after the last. */
static enum frame_status feed_frame(struct frame_reader *fr, size_t size, size_t chunk)
{
    uint8_t prefix[4];
    be32_store(prefix, (uint32_t)size);
    size_t used;
    ck_assert_int_eq(frame_reader_feed(fr, prefix, 4, &used), FRAME_NEED_MORE);
    uint8_t *body = malloc(size);
    for (size_t i = 0; i < size; i++) {
        body[i] = (uint8_t)(i * 13);
    }
    enum frame_status st = FRAME_NEED_MORE;
    for (size_t off = 0; off < size; off += used) {
        size_t n = size - off < chunk ? size - off : chunk;
        st = frame_reader_feed(fr, body + off, n, &used);
        ck_assert_uint_eq(used, n);
    }
    free(body);
    return st;
}

static void check_body(const uint8_t *body, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        ck_assert_uint_eq(body[i], (uint8_t)(i * 13));
    }
}

/* A body given back is where the next large frame is received, whole if it
 * fits (no realloc: the same pointer and capacity come back), and kept for
 * later while only small frames come (those get their exact size). */
START_TEST(test_spare_is_reused_for_a_frame_that_fits)
{
    struct frame_reader fr;
    frame_reader_init(&fr, MIN_SIZE, 1 << 20);
    uint8_t *spare = malloc(256 * 1024);
    frame_reader_give_spare(&fr, spare, 256 * 1024);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 256 * 1024);
    ck_assert_int_eq(feed_frame(&fr, 16, 16), FRAME_READY);
    size_t len, cap;
    uint8_t *small = frame_reader_take(&fr, &len, &cap);
    ck_assert_ptr_ne(small, spare);
    ck_assert_uint_eq(cap, 16);
    free(small);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 256 * 1024);
    ck_assert_int_eq(feed_frame(&fr, 100000, 7000), FRAME_READY);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 0); /* the frame has it */
    uint8_t *body = frame_reader_take(&fr, &len, &cap);
    ck_assert_ptr_eq(body, spare);
    ck_assert_uint_eq(len, 100000);
    ck_assert_uint_eq(cap, 256 * 1024);
    check_body(body, len);
    /* Back again, and again received into. */
    frame_reader_give_spare(&fr, body, cap);
    ck_assert_int_eq(feed_frame(&fr, 200000, 65536), FRAME_READY);
    body = frame_reader_take(&fr, &len, &cap);
    ck_assert_ptr_eq(body, spare);
    check_body(body, len);
    free(body);
    frame_reader_free(&fr);
}
END_TEST

/* A frame larger than the spare grows it as bytes arrive, as a fresh body
 * grows: not to the declared size up front, never past it. */
START_TEST(test_spare_grows_for_a_frame_that_does_not_fit)
{
    struct frame_reader fr;
    frame_reader_init(&fr, MIN_SIZE, 200u << 20);
    frame_reader_give_spare(&fr, malloc(128 * 1024), 128 * 1024);
    uint8_t size[4] = {0x06, 0x40, 0x00, 0x00}; /* 100 MiB announced */
    size_t used;
    ck_assert_int_eq(frame_reader_feed(&fr, size, 4, &used), FRAME_NEED_MORE);
    ck_assert_uint_eq(fr.body_cap, 128 * 1024);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 0);
    frame_reader_free(&fr);
    frame_reader_init(&fr, MIN_SIZE, 1 << 20);
    frame_reader_give_spare(&fr, malloc(128 * 1024), 128 * 1024);
    ck_assert_int_eq(feed_frame(&fr, 300000, 50000), FRAME_READY);
    size_t len, cap;
    uint8_t *body = frame_reader_take(&fr, &len, &cap);
    ck_assert_uint_eq(len, 300000);
    ck_assert_uint_eq(cap, 300000); /* 128 KiB, 256 KiB, then the declared size */
    check_body(body, len);
    free(body);
    frame_reader_free(&fr);
}
END_TEST

/* The reader keeps one spare, the larger; the other is freed (ASan's leak
 * check in the ASan build), and frame_reader_free frees the one kept. */
START_TEST(test_larger_spare_is_kept_and_freed_with_the_reader)
{
    struct frame_reader fr;
    frame_reader_init(&fr, MIN_SIZE, 1 << 20);
    uint8_t *a = malloc(100000), *b = malloc(200000);
    frame_reader_give_spare(&fr, a, 100000);
    frame_reader_give_spare(&fr, b, 200000);
    ck_assert_ptr_eq(fr.spare, b);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 200000);
    frame_reader_give_spare(&fr, malloc(150000), 150000);
    ck_assert_ptr_eq(fr.spare, b);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 200000);
    frame_reader_give_spare(&fr, NULL, 0);
    ck_assert_ptr_eq(fr.spare, b);
    frame_reader_free(&fr);
    ck_assert_ptr_null(fr.spare);
    ck_assert_uint_eq(frame_reader_spare_cap(&fr), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_random_chunks, 0, 8);
    tcase_add_test(tc, test_huge_claim_rejected_before_allocation);
    tcase_add_test(tc, test_negative_and_tiny_sizes);
    tcase_add_test(tc, test_two_frames_in_one_chunk);
    tcase_add_test(tc, test_bounds_are_the_callers);
    tcase_add_test(tc, test_allocation_follows_bytes_received);
    tcase_add_test(tc, test_spare_is_reused_for_a_frame_that_fits);
    tcase_add_test(tc, test_spare_grows_for_a_frame_that_does_not_fit);
    tcase_add_test(tc, test_larger_spare_is_kept_and_freed_with_the_reader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
