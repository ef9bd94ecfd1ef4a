#include "metadata/voters.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

struct parse_state {
    struct voters *out;
    char *err;
    size_t errlen;
};

static int parse_one(const char *item, size_t len, void *arg)
{
    struct parse_state *st = arg;
    char text[VOTER_HOST_MAX + 32];
    if (len >= sizeof text) {
        snprintf(st->err, st->errlen, "controller.quorum.voters: entry too long");
        return -EINVAL;
    }
    memcpy(text, item, len);
    text[len] = '\0';
    char *at = strchr(text, '@');
    char *colon = strrchr(text, ':');
    if (at == NULL || colon == NULL || colon < at || colon == at + 1) {
        snprintf(st->err, st->errlen, "controller.quorum.voters: '%s' is not id@host:port", text);
        return -EINVAL;
    }
    *at = *colon = '\0';
    char *id_end, *end;
    long id = strtol(text, &id_end, 10);
    long port = strtol(colon + 1, &end, 10);
    if (text[0] == '\0' || *id_end != '\0' || id < 1 || id > INT32_MAX || *end != '\0' ||
        port < 1 || port > 65534 || strlen(at + 1) >= VOTER_HOST_MAX) {
        snprintf(st->err, st->errlen, "controller.quorum.voters: bad id, host or port in '%.*s'",
                 (int)len, item);
        return -EINVAL;
    }
    if (st->out->n == VOTERS_MAX || voters_find(st->out, (int32_t)id) != NULL) {
        snprintf(st->err, st->errlen, "controller.quorum.voters: duplicate id %ld or more than %d",
                 id, VOTERS_MAX);
        return -EINVAL;
    }
    struct voter *v = &st->out->v[st->out->n++];
    memset(v, 0, sizeof *v);
    v->id = (int32_t)id;
    strcpy(v->host, at + 1);
    v->port = (uint16_t)port;
    snprintf(v->raft_address, sizeof v->raft_address, "%s:%ld", at + 1, port + 1);
    return 0;
}

int voters_parse(const char *text, struct voters *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (text == NULL) {
        snprintf(err, errlen, "controller.quorum.voters is not set");
        return -EINVAL;
    }
    struct parse_state st = {out, err, errlen};
    int rv = config_list_foreach(text, parse_one, &st);
    if (rv == 0 && out->n == 0) {
        snprintf(err, errlen, "controller.quorum.voters is empty");
        rv = -EINVAL;
    }
    return rv;
}

const struct voter *voters_find(const struct voters *voters, int32_t id)
{
    for (size_t i = 0; i < voters->n; i++) {
        if (voters->v[i].id == id) {
            return &voters->v[i];
        }
    }
    return NULL;
}
