/* sluicectl user commands; see user_cmd.h. */
#include "tools/sluicectl/user_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/scram.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT  (16u << 20)
#define SALT_LEN     32
#define PASSWORD_MAX 1024

struct usession {
    struct admin_session a;
    const char *command, *user, *password;
    int mechanisms[2]; /* 0 = unused */
    int iterations;
};

void user_cmd_usage(void)
{
    fprintf(stderr,
            "usage: sluicectl user <command> --bootstrap-server host:port\n"
            "\n"
            "commands:\n"
            "  set-password USER   create or change USER's SCRAM credential; the password\n"
            "                      comes from --password or, without it, the first line of stdin\n"
            "  delete USER         remove USER's SCRAM credential\n"
            "  list [--json]       every user with its mechanisms and iterations\n"
            "\n"
            "options:\n"
            "  --mechanism M       SCRAM-SHA-256 or SCRAM-SHA-512 (default: both)\n"
            "  --iterations N      4096..16384 (default 8192)\n"
            "  --timeout-ms N      per request (default 10000)\n"
            "  --command-config F  Kafka client properties: security.protocol, sasl.*, ssl.*\n"
            "\n"
            "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

static int report_results(struct usession *s, const struct kafka_reader *rd)
{
    struct kafka_reader r = *rd;
    struct kafka_alter_user_scram_credentials_response resp;
    int rv = kafka_alter_user_scram_credentials_response_decode(&r, 0, &resp);
    if (rv != 0) {
        snprintf(s->a.err, sizeof s->a.err, "cannot decode the answer: %s",
                 kafka_codec_strerror(rv));
        return SLUICECTL_FAILED;
    }
    int exit_code = SLUICECTL_OK;
    for (int32_t i = 0; i < resp.results_count; i++) {
        if (resp.results[i].error_code != KAFKA_ERROR_NONE) {
            snprintf(s->a.err, sizeof s->a.err, "user %s: %s%s%s", resp.results[i].user,
                     kafka_error_name(resp.results[i].error_code),
                     resp.results[i].error_message ? ": " : "",
                     resp.results[i].error_message ? resp.results[i].error_message : "");
            exit_code = SLUICECTL_FAILED;
        }
    }
    return exit_code;
}

static int read_password(struct usession *s, char *out, size_t cap)
{
    if (s->password != NULL) {
        snprintf(out, cap, "%s", s->password);
        return 0;
    }
    if (fgets(out, (int)cap, stdin) == NULL) {
        snprintf(s->a.err, sizeof s->a.err, "no password on stdin (or give --password)");
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int do_set_password(struct usession *s)
{
    char password[PASSWORD_MAX];
    if (read_password(s, password, sizeof password) != 0) {
        return SLUICECTL_USAGE;
    }
    if (password[0] == '\0') {
        snprintf(s->a.err, sizeof s->a.err, "the password is empty");
        return SLUICECTL_USAGE;
    }
    struct kafka_alter_user_scram_credentials_request req;
    kafka_alter_user_scram_credentials_request_init(&req);
    struct kafka_alter_user_scram_credentials_request_scram_credential_upsertion ups[2];
    uint8_t salts[2][SALT_LEN], salted[2][SCRAM_MAX_KEY];
    req.upsertions = ups;
    req.upsertions_count = 0;
    for (int i = 0; i < 2 && s->mechanisms[i] != 0; i++) {
        int m = s->mechanisms[i];
        if (RAND_bytes(salts[i], SALT_LEN) != 1 ||
            scram_salted_password(m, password, salts[i], SALT_LEN, s->iterations, salted[i]) != 0) {
            snprintf(s->a.err, sizeof s->a.err, "cannot derive the salted password");
            return SLUICECTL_FAILED;
        }
        kafka_alter_user_scram_credentials_request_scram_credential_upsertion_init(&ups[i]);
        ups[i].name = s->user;
        ups[i].mechanism = (int8_t)m;
        ups[i].iterations = s->iterations;
        ups[i].salt = (struct kafka_bytes){salts[i], SALT_LEN};
        ups[i].salted_password = (struct kafka_bytes){salted[i], (int32_t)scram_key_len(m)};
        req.upsertions_count++;
    }
    OPENSSL_cleanse(password, sizeof password);
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_alter_user_scram_credentials_request_encode(&w, 0, &req);
    kafka_writer_free(&w);
    OPENSSL_cleanse(salted, sizeof salted);
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(&s->a, KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, 0, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    rv = report_results(s, &r);
    if (rv == SLUICECTL_OK) {
        printf("set SCRAM credentials of user %s\n", s->user);
    }
    return rv;
}

static int do_delete(struct usession *s)
{
    struct kafka_alter_user_scram_credentials_request req;
    kafka_alter_user_scram_credentials_request_init(&req);
    struct kafka_alter_user_scram_credentials_request_scram_credential_deletion dels[2];
    req.deletions = dels;
    req.deletions_count = 0;
    for (int i = 0; i < 2 && s->mechanisms[i] != 0; i++) {
        kafka_alter_user_scram_credentials_request_scram_credential_deletion_init(&dels[i]);
        dels[i].name = s->user;
        dels[i].mechanism = (int8_t)s->mechanisms[i];
        req.deletions_count++;
    }
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_alter_user_scram_credentials_request_encode(&w, 0, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(&s->a, KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, 0, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    rv = report_results(s, &r);
    if (rv == SLUICECTL_OK) {
        printf("deleted SCRAM credentials of user %s\n", s->user);
    }
    return rv;
}

static int do_list(struct usession *s)
{
    struct kafka_describe_user_scram_credentials_request req;
    kafka_describe_user_scram_credentials_request_init(&req);
    req.users_count = -1; /* every user */
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_describe_user_scram_credentials_request_encode(&w, 0, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    if (rv != 0 ||
        admin_session_call(&s->a, KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_user_scram_credentials_response resp;
    rv = kafka_describe_user_scram_credentials_response_decode(&r, 0, &resp);
    if (rv != 0 || resp.error_code != KAFKA_ERROR_NONE) {
        snprintf(s->a.err, sizeof s->a.err, "cannot list users: %s",
                 rv != 0 ? kafka_codec_strerror(rv) : kafka_error_name(resp.error_code));
        return SLUICECTL_FAILED;
    }
    if (s->a.json) {
        printf("[");
    }
    for (int32_t i = 0; i < resp.results_count; i++) {
        const struct kafka_describe_user_scram_credentials_response_result *u = &resp.results[i];
        if (s->a.json) {
            printf("%s{\"user\":", i ? "," : "");
            output_json_string(stdout, u->user);
            printf(",\"credentials\":[");
        } else {
            printf("%s", u->user);
        }
        for (int32_t k = 0; k < u->credential_infos_count; k++) {
            const char *m = scram_mechanism_name(u->credential_infos[k].mechanism);
            if (s->a.json) {
                printf("%s{\"mechanism\":\"%s\",\"iterations\":%d}", k ? "," : "", m,
                       u->credential_infos[k].iterations);
            } else {
                printf(" %s(iterations=%d)", m, u->credential_infos[k].iterations);
            }
        }
        printf(s->a.json ? "]}" : "\n");
    }
    if (s->a.json) {
        printf("]\n");
    }
    return SLUICECTL_OK;
}

static const struct option long_options[] = {
    ADMIN_SESSION_OPTIONS,
    {"password", required_argument, NULL, 'p'},
    {"mechanism", required_argument, NULL, 'm'},
    {"iterations", required_argument, NULL, 'i'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int take_option(void *cmd, int c, const char *arg)
{
    struct usession *s = cmd;
    switch (c) {
    case 'p':
        s->password = arg;
        return 0;
    case 'm':
        s->mechanisms[0] = scram_mechanism_from_name(arg);
        s->mechanisms[1] = 0;
        if (s->mechanisms[0] == 0) {
            fprintf(stderr, "sluicectl: --mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512\n");
            return -1;
        }
        return 0;
    case 'i':
        s->iterations = atoi(arg);
        return 0;
    default:
        return -1;
    }
}

static int parse_args(int argc, char **argv, struct usession *s)
{
    s->iterations = 8192;
    s->mechanisms[0] = SCRAM_SHA_256;
    s->mechanisms[1] = SCRAM_SHA_512;
    int rv = admin_session_getopt(&s->a, argc, argv, "b:h", long_options, take_option, s);
    if (rv != 0) {
        return rv;
    }
    int rest = argc - optind;
    s->command = rest > 0 ? argv[optind] : NULL;
    s->user = rest > 1 ? argv[optind + 1] : NULL;
    bool list = s->command != NULL && strcmp(s->command, "list") == 0;
    bool named = s->command != NULL &&
                 (strcmp(s->command, "set-password") == 0 || strcmp(s->command, "delete") == 0);
    if ((!list && !named) || (list && rest != 1) || (named && rest != 2)) {
        fprintf(stderr, "sluicectl: user: expected set-password USER, delete USER or list\n");
        return -1;
    }
    return 0;
}

int user_cmd_main(int argc, char **argv)
{
    struct usession s;
    memset(&s, 0, sizeof s);
    admin_session_init(&s.a);
    int rv = parse_args(argc, argv, &s);
    if (rv != 0) {
        user_cmd_usage();
        return rv > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    rv = admin_session_open(&s.a, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        if (strcmp(s.command, "list") == 0) {
            rv = do_list(&s);
        } else if (strcmp(s.command, "delete") == 0) {
            rv = do_delete(&s);
        } else {
            rv = do_set_password(&s);
        }
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", s.a.err);
        }
    }
    admin_session_close(&s.a);
    return rv;
}
