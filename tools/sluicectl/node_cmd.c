/* sluicectl node; see node_cmd.h. */
#include "tools/sluicectl/node_cmd.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: sluicectl node status --http host:port [--timeout-ms N]\n"
                 "\n"
                 "Prints the node's JSON status (GET /status on its metrics.listener) and\n"
                 "exits 0 when it is ready (/readyz), 1 when not, 3 when it does not answer.\n");
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == 0 ? size * n : 0;
}

/* GET http://address/path: the HTTP status (0: no answer, with `err`). */
static long http_get(const char *address, const char *path, long timeout_ms, struct buf *body,
                     char *err)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s%s", address, path);
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(err, CURL_ERROR_SIZE, "cannot initialise libcurl");
        return 0;
    }
    long code = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    }
    curl_easy_cleanup(curl);
    return code;
}

int node_cmd_main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    const char *address = NULL;
    long timeout_ms = 5000;
    if (argc < 2 || strcmp(argv[1], "status") != 0) {
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--http") == 0 && i + 1 < argc) {
            address = argv[++i];
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            timeout_ms = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "sluicectl node: unknown argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (address == NULL || timeout_ms <= 0) {
        usage(stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[CURL_ERROR_SIZE] = "";
    struct buf body = BUF_INIT;
    int rv = 3;
    long code = http_get(address, "/status", timeout_ms, &body, err);
    if (code != 200) {
        fprintf(stderr, "sluicectl node: no status from http://%s/status: %s\n", address,
                code == 0 ? err : "unexpected HTTP status");
    } else {
        fwrite(body.data, 1, body.len, stdout);
        buf_reset(&body);
        code = http_get(address, "/readyz", timeout_ms, &body, err);
        rv = code == 200 ? 0 : code == 503 ? 1 : 3;
        if (rv == 3) {
            fprintf(stderr, "sluicectl node: no answer from http://%s/readyz: %s\n", address,
                    code == 0 ? err : "unexpected HTTP status");
        }
    }
    buf_free(&body);
    curl_global_cleanup();
    return rv;
}
