/* controller/raft_stream_check.h: raft 0.15 streams built as raft_uv_tcp
 * writes them, fed whole and one byte at a time. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "controller/raft_stream_check.h"
#include "tests/unit/check_main.h"

struct stream {
    uint8_t data[4096];
    size_t len;
};

static void put64(struct stream *s, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        s->data[s->len++] = (uint8_t)(v >> (8 * i));
    }
}

static void put_bytes(struct stream *s, uint8_t byte, size_t n)
{
    memset(s->data + s->len, byte, n);
    s->len += n;
}

/* uvTcpEncodeHandshake: protocol 1, id, address padded to 8 bytes. */
static void handshake(struct stream *s, uint64_t id)
{
    put64(s, 1);
    put64(s, id);
    put64(s, 16);
    memcpy(s->data + s->len, "127.0.0.1:9191\0\0", 16);
    s->len += 16;
}

static void request_vote(struct stream *s, uint64_t candidate)
{
    put64(s, RAFT_STREAM_REQUEST_VOTE);
    put64(s, 40);
    put64(s, 7);         /* term */
    put64(s, candidate); /* candidate_id */
    put64(s, 12);        /* last log index */
    put64(s, 6);         /* last log term */
    put64(s, 2);         /* flags: pre-vote */
}

/* Two entries of 24 and 8 bytes, header padded as sizeofAppendEntries is. */
static void append_entries(struct stream *s)
{
    put64(s, RAFT_STREAM_APPEND_ENTRIES);
    put64(s, 48 + 2 * 16);
    put64(s, 7);
    put64(s, 11);
    put64(s, 7);
    put64(s, 10);
    put64(s, 2);                                    /* entries */
    put64(s, 7);                                    /* term */
    put64(s, 1 | (uint64_t)24 << 32);               /* command, size 24 */
    put64(s, 7);                                    /* term */
    put64(s, 2 | (uint64_t)8 << 32);                /* barrier, size 8 */
    put64(s, 0);                                    /* unused */
    put_bytes(s, RAFT_STREAM_REQUEST_VOTE, 24 + 8); /* payload that looks like messages */
}

/* A 16-byte configuration and 40 bytes of snapshot data. */
static void install_snapshot(struct stream *s)
{
    put64(s, RAFT_STREAM_INSTALL_SNAPSHOT);
    put64(s, 48 + 16 + 8);
    put64(s, 7);
    put64(s, 100);
    put64(s, 6);
    put64(s, 90);
    put64(s, 16); /* configuration length */
    put_bytes(s, 0xee, 16);
    put64(s, 40); /* data length */
    put64(s, 0);  /* unused */
    put_bytes(s, RAFT_STREAM_REQUEST_VOTE, 40);
}

static void append_entries_result(struct stream *s)
{
    put64(s, 2);
    put64(s, 24);
    put64(s, 7);
    put64(s, 0);
    put64(s, 12);
}

/* Feed `s` whole, then one byte at a time: the same verdict both ways. */
static enum raft_stream_verdict feed(const struct stream *s, uint64_t peer,
                                     struct raft_stream_check *out)
{
    struct raft_stream_check whole, bytes;
    raft_stream_check_init(&whole, peer);
    raft_stream_check_init(&bytes, peer);
    enum raft_stream_verdict v = raft_stream_check_feed(&whole, s->data, s->len);
    enum raft_stream_verdict b = RAFT_STREAM_OK;
    for (size_t i = 0; i < s->len && b == RAFT_STREAM_OK; i++) {
        b = raft_stream_check_feed(&bytes, s->data + i, 1);
    }
    ck_assert_int_eq(v, b);
    ck_assert_uint_eq(whole.delivered, bytes.delivered);
    *out = whole;
    return v;
}

START_TEST(test_a_voters_own_traffic_passes)
{
    struct stream s = {0};
    handshake(&s, 2);
    append_entries(&s);
    request_vote(&s, 2);
    install_snapshot(&s);
    append_entries_result(&s);
    request_vote(&s, 2);
    struct raft_stream_check c;
    ck_assert_int_eq(feed(&s, 2, &c), RAFT_STREAM_OK);
    ck_assert_uint_eq(c.delivered, 5); /* payloads were skipped, not read as messages */
}
END_TEST

START_TEST(test_a_vote_for_another_candidate_is_forged)
{
    struct stream s = {0};
    handshake(&s, 2);
    append_entries(&s);
    request_vote(&s, 3);
    struct raft_stream_check c;
    ck_assert_int_eq(feed(&s, 2, &c), RAFT_STREAM_FORGED);
    ck_assert_uint_eq(c.claimed, 3);
    ck_assert_uint_eq(c.delivered, 1);
    /* The verdict sticks. */
    ck_assert_int_eq(raft_stream_check_feed(&c, s.data, 1), RAFT_STREAM_FORGED);
}
END_TEST

START_TEST(test_a_handshake_for_another_voter_is_forged)
{
    struct stream s = {0};
    handshake(&s, 3);
    struct raft_stream_check c;
    ck_assert_int_eq(feed(&s, 2, &c), RAFT_STREAM_FORGED);
    ck_assert_uint_eq(c.claimed, 3);
}
END_TEST

START_TEST(test_headers_too_short_for_what_they_announce)
{
    struct raft_stream_check c;
    /* AppendEntries announcing 4 entries in a header with room for 1. */
    struct stream s = {0};
    handshake(&s, 2);
    put64(&s, RAFT_STREAM_APPEND_ENTRIES);
    put64(&s, 48 + 16);
    put64(&s, 7);
    put64(&s, 0);
    put64(&s, 0);
    put64(&s, 0);
    put64(&s, 4);
    ck_assert_int_eq(feed(&s, 2, &c), RAFT_STREAM_MALFORMED);
    /* A RequestVote header without its candidate. */
    struct stream v = {0};
    handshake(&v, 2);
    put64(&v, RAFT_STREAM_REQUEST_VOTE);
    put64(&v, 8);
    put64(&v, 7);
    ck_assert_int_eq(feed(&v, 2, &c), RAFT_STREAM_MALFORMED);
    /* A configuration longer than the InstallSnapshot header. */
    struct stream i = {0};
    handshake(&i, 2);
    put64(&i, RAFT_STREAM_INSTALL_SNAPSHOT);
    put64(&i, 56);
    put64(&i, 7);
    put64(&i, 1);
    put64(&i, 1);
    put64(&i, 1);
    put64(&i, 64);
    ck_assert_int_eq(feed(&i, 2, &c), RAFT_STREAM_MALFORMED);
    /* A zero-length header. */
    struct stream z = {0};
    handshake(&z, 2);
    put64(&z, 2);
    put64(&z, 0);
    ck_assert_int_eq(feed(&z, 2, &c), RAFT_STREAM_MALFORMED);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("raft_stream_check");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_a_voters_own_traffic_passes);
    tcase_add_test(tc, test_a_vote_for_another_candidate_is_forged);
    tcase_add_test(tc, test_a_handshake_for_another_voter_is_forged);
    tcase_add_test(tc, test_headers_too_short_for_what_they_announce);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
