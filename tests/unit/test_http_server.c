/* common/http_server: deferred answers on a real loop with a real TCP
 * client (a thread with blocking sockets). A route that defers and finishes
 * later answers like a synchronous one; a client that hangs up before the
 * finish costs nothing (the body is freed, nothing is sent; the ASan build
 * checks for leaks and use after free). */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/http_server.h"
#include "tests/unit/check_main.h"

struct fixture {
    uv_loop_t loop;
    struct http_server *server;
    uv_async_t client_done;
    uv_timer_t finish_timer;
    struct http_pending *pending; /* of /later, until finished */
    atomic_int routed;            /* /later's route ran */
    const char *request;
    bool hang_up; /* the client closes without reading */
    bool client_gone;
    char answer[4096];
    size_t answer_len;
};

static void serve_now(void *data, struct http_response *res)
{
    (void)data;
    buf_append(&res->body, "now\n", 4);
}

static void serve_later(void *data, struct http_response *res)
{
    struct fixture *f = data;
    buf_append(&res->body, "ignored", 7); /* a deferred route's res is dropped */
    f->pending = http_response_defer(res);
    atomic_store(&f->routed, 1);
}

/* Deferred, then finished before the route returns (the fallback when the
 * work cannot be queued). */
static void serve_inline(void *data, struct http_response *res)
{
    (void)data;
    struct http_pending *p = http_response_defer(res);
    struct buf body = BUF_INIT;
    buf_append(&body, "inline\n", 7);
    http_server_finish(p, 200, "text/plain", &body);
}

static void finish_later(uv_timer_t *t)
{
    struct fixture *f = t->data;
    struct buf body = BUF_INIT;
    buf_append(&body, "late answer\n", 12);
    http_server_finish(f->pending, 503, "text/x-test", &body);
    f->pending = NULL;
    ck_assert_ptr_null(body.data);
}

static void on_client_done(uv_async_t *a)
{
    struct fixture *f = a->data;
    f->client_gone = true;
    http_server_stop(f->server);
    uv_close((uv_handle_t *)&f->client_done, NULL);
}

/* Finishes /later on an iteration after its route ran: at once for a client
 * that waits, only after the server stopped for one that hung up. */
static void on_finish_timer(uv_timer_t *t)
{
    struct fixture *f = t->data;
    if (f->pending != NULL && (!f->hang_up || f->client_gone)) {
        finish_later(t);
    }
    if (f->client_gone && f->pending == NULL) {
        uv_close((uv_handle_t *)t, NULL);
    }
}

static void *client(void *arg)
{
    struct fixture *f = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)http_server_port(f->server))};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(write(fd, f->request, strlen(f->request)), (ssize_t)strlen(f->request));
    if (f->hang_up) {
        while (!atomic_load(&f->routed)) {
            usleep(1000);
        }
        struct linger lg = {1, 0}; /* a reset, as a scraper that gives up */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
        ssize_t n;
        while ((n = read(fd, f->answer + f->answer_len, sizeof f->answer - 1 - f->answer_len)) >
               0) {
            f->answer_len += (size_t)n;
        }
        f->answer[f->answer_len] = '\0';
    }
    close(fd);
    uv_async_send(&f->client_done);
    return NULL;
}

static void run(struct fixture *f, const char *request, bool hang_up)
{
    memset(f, 0, sizeof *f);
    f->request = request;
    f->hang_up = hang_up;
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    const struct http_route routes[] = {
        {"/now", serve_now, f}, {"/later", serve_later, f}, {"/inline", serve_inline, f}};
    char err[128];
    ck_assert_int_eq(
        http_server_start(&f->server, &f->loop, "127.0.0.1", 0, routes, 3, err, sizeof err), 0);
    uv_async_init(&f->loop, &f->client_done, on_client_done);
    f->client_done.data = f;
    uv_timer_init(&f->loop, &f->finish_timer);
    f->finish_timer.data = f;
    /* a deferred answer is finished by a timer, after the route returned */
    uv_timer_start(&f->finish_timer, on_finish_timer, 30, 30);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, client, f), 0);
    ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    pthread_join(t, NULL);
    ck_assert_ptr_null(f->pending);
    http_server_release(f->server);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

START_TEST(test_synchronous_route_answers)
{
    struct fixture f;
    run(&f, "GET /now HTTP/1.1\r\nHost: x\r\n\r\n", false);
    ck_assert_ptr_nonnull(strstr(f.answer, "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(f.answer, "\r\n\r\nnow\n"));
}
END_TEST

START_TEST(test_deferred_route_answers_when_finished)
{
    struct fixture f;
    run(&f, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n", false);
    ck_assert_ptr_nonnull(strstr(f.answer, "HTTP/1.1 503 Service Unavailable\r\n"));
    ck_assert_ptr_nonnull(strstr(f.answer, "content-type: text/x-test\r\n"));
    ck_assert_ptr_nonnull(strstr(f.answer, "Content-Length: 12\r\n"));
    const char *body = strstr(f.answer, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(body + 4, "late answer\n");
}
END_TEST

START_TEST(test_deferred_route_finished_inline_answers)
{
    struct fixture f;
    run(&f, "GET /inline HTTP/1.1\r\nHost: x\r\n\r\n", false);
    ck_assert_ptr_nonnull(strstr(f.answer, "HTTP/1.1 200 OK\r\n"));
    ck_assert_ptr_nonnull(strstr(f.answer, "\r\n\r\ninline\n"));
}
END_TEST

START_TEST(test_head_of_deferred_route_has_no_body)
{
    struct fixture f;
    run(&f, "HEAD /later HTTP/1.1\r\nHost: x\r\n\r\n", false);
    ck_assert_ptr_nonnull(strstr(f.answer, "Content-Length: 12\r\n"));
    const char *body = strstr(f.answer, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(body + 4, "");
}
END_TEST

/* The client resets the connection before the answer is ready; the server
 * is stopped too, and the finish comes after both. */
START_TEST(test_client_gone_before_finish)
{
    struct fixture f;
    run(&f, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n", true);
    ck_assert_int_eq(atomic_load(&f.routed), 1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("http_server");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_synchronous_route_answers);
    tcase_add_test(tc, test_deferred_route_answers_when_finished);
    tcase_add_test(tc, test_deferred_route_finished_inline_answers);
    tcase_add_test(tc, test_head_of_deferred_route_has_no_body);
    tcase_add_test(tc, test_client_gone_before_finish);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
