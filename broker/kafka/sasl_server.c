/* SASL PLAIN and SCRAM server; see sasl_server.h. */
#include "broker/kafka/sasl_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/scram.h"

#define USER_MAX  256
#define NONCE_MAX 256

enum scram_state { SCRAM_FIRST, SCRAM_FINAL, SCRAM_OVER };

struct sasl_server {
    char mechanism[16];
    int scram; /* 0 for PLAIN, else the SCRAM mechanism */
    enum scram_state state;
    char user[USER_MAX];
    char error[160];
    /* SCRAM between the two client messages. */
    char gs2_header[USER_MAX + 8];
    char client_first_bare[USER_MAX + NONCE_MAX + 16];
    char server_first[NONCE_MAX + 160];
    char nonce[NONCE_MAX + 48]; /* client nonce + server nonce */
    uint8_t stored_key[SCRAM_MAX_KEY], server_key[SCRAM_MAX_KEY];
};

bool sasl_mechanism_enabled(const char *enabled, const char *mechanism)
{
    size_t n = strlen(mechanism);
    for (const char *p = enabled != NULL ? enabled : ""; *p != '\0';) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (len == n && len > 0 && strncmp(p, mechanism, n) == 0) {
            return true;
        }
        p += len;
    }
    return false;
}

struct sasl_server *sasl_server_new(const char *mechanism)
{
    int scram = scram_mechanism_from_name(mechanism);
    if (scram == 0 && strcmp(mechanism, "PLAIN") != 0) {
        return NULL;
    }
    struct sasl_server *s = calloc(1, sizeof *s);
    if (s != NULL) {
        snprintf(s->mechanism, sizeof s->mechanism, "%s", mechanism);
        s->scram = scram;
    }
    return s;
}

void sasl_server_free(struct sasl_server *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, sizeof *s);
        free(s);
    }
}

const char *sasl_server_mechanism(const struct sasl_server *s)
{
    return s->mechanism;
}

const char *sasl_server_user(const struct sasl_server *s)
{
    return s->user;
}

const char *sasl_server_error(const struct sasl_server *s)
{
    return s->error;
}

static enum sasl_step fail(struct sasl_server *s, const char *why)
{
    snprintf(s->error, sizeof s->error, "%s", why);
    s->state = SCRAM_OVER;
    return SASL_STEP_FAILED;
}

/* ---- PLAIN: [authzid] NUL authcid NUL passwd ---- */

static bool plain_password_ok(const struct metadata_scram_credential *c, const char *password)
{
    uint8_t salted[SCRAM_MAX_KEY], stored[SCRAM_MAX_KEY], server[SCRAM_MAX_KEY];
    bool ok = scram_salted_password(c->mechanism, password, c->salt, c->salt_len, c->iterations,
                                    salted) == 0 &&
              scram_keys(c->mechanism, salted, stored, server) == 0 &&
              c->key_len == scram_key_len(c->mechanism) &&
              CRYPTO_memcmp(stored, c->stored_key, c->key_len) == 0;
    OPENSSL_cleanse(salted, sizeof salted);
    return ok;
}

static enum sasl_step plain_step(struct sasl_server *s, const uint8_t *in, size_t len,
                                 const struct metadata_view *view)
{
    char msg[SASL_TOKEN_MAX + 1];
    if (len > 0) { /* an empty token may come without a buffer */
        memcpy(msg, in, len);
    }
    msg[len] = '\0';
    const char *authzid = msg;
    const char *sep1 = memchr(msg, '\0', len);
    const char *sep2 = sep1 != NULL ? memchr(sep1 + 1, '\0', len - (size_t)(sep1 + 1 - msg)) : NULL;
    if (sep1 == NULL || sep2 == NULL) {
        return fail(s, "PLAIN message is not authzid NUL user NUL password");
    }
    const char *user = sep1 + 1, *password = sep2 + 1;
    if (user[0] == '\0' || strlen(user) >= USER_MAX) {
        return fail(s, "PLAIN user name empty or too long");
    }
    if (authzid[0] != '\0' && strcmp(authzid, user) != 0) {
        return fail(s, "PLAIN authorization id differs from the user name");
    }
    snprintf(s->user, sizeof s->user, "%s", user);
    struct metadata_scram_credential c;
    bool known = metadata_view_scram_find(view, user, SCRAM_SHA_256, &c) ||
                 metadata_view_scram_find(view, user, SCRAM_SHA_512, &c);
    bool ok = known && plain_password_ok(&c, password);
    OPENSSL_cleanse(msg, sizeof msg);
    if (!ok) {
        return fail(s, known ? "wrong password" : "unknown user");
    }
    s->state = SCRAM_OVER;
    return SASL_STEP_DONE;
}

/* ---- SCRAM ---- */

static int b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (4 * ((len + 2) / 3) + 1 > cap) {
        return -1;
    }
    return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Decode standard base64 into out; the decoded length, or -1. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 != 0 || len / 4 * 3 > cap) {
        return -1;
    }
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0) {
        return -1;
    }
    for (size_t i = len; i > 0 && in[i - 1] == '='; i--) {
        n--; /* EVP_DecodeBlock counts padding as zero bytes */
    }
    return n;
}

/* The value of attribute `key` ("n", "r", ...) in "a=..,b=..": copied into
 * out (without decoding); false if absent or too long. */
static bool attribute(const char *msg, char key, char *out, size_t cap)
{
    for (const char *p = msg; p != NULL && *p != '\0';
         p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (p[0] == key && p[1] == '=') {
            size_t len = strcspn(p + 2, ",");
            if (len >= cap) {
                return false;
            }
            memcpy(out, p + 2, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

/* saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed. */
static bool decode_saslname(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0'; p++) {
        char c = *p;
        if (c == '=') {
            if (strncmp(p, "=2C", 3) == 0) {
                c = ',';
            } else if (strncmp(p, "=3D", 3) == 0) {
                c = '=';
            } else {
                return false;
            }
            p += 2;
        }
        if (n + 1 >= cap) {
            return false;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n > 0;
}

static enum sasl_step scram_first(struct sasl_server *s, const char *msg,
                                  const struct metadata_view *view, struct buf *out)
{
    /* gs2-header: "n," or "y," (no channel binding over Kafka), then an
     * optional "a=authzid", then ','. */
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        return fail(s, "SCRAM client-first-message without a supported gs2 header");
    }
    const char *bare = strchr(msg + 2, ',');
    if (bare == NULL || (size_t)(bare + 1 - msg) >= sizeof s->gs2_header ||
        strlen(bare + 1) >= sizeof s->client_first_bare) {
        return fail(s, "SCRAM client-first-message malformed");
    }
    bare++;
    memcpy(s->gs2_header, msg, (size_t)(bare - msg));
    s->gs2_header[bare - msg] = '\0';
    snprintf(s->client_first_bare, sizeof s->client_first_bare, "%s", bare);
    char raw_user[USER_MAX], cnonce[NONCE_MAX];
    if (!attribute(bare, 'n', raw_user, sizeof raw_user) ||
        !decode_saslname(raw_user, s->user, sizeof s->user) ||
        !attribute(bare, 'r', cnonce, sizeof cnonce) || cnonce[0] == '\0') {
        return fail(s, "SCRAM client-first-message without a user name or nonce");
    }
    if (msg[2] == 'a' && msg[3] == '=') {
        char authzid[USER_MAX], decoded[USER_MAX];
        if (!attribute(msg + 2, 'a', authzid, sizeof authzid) ||
            !decode_saslname(authzid, decoded, sizeof decoded) || strcmp(decoded, s->user) != 0) {
            return fail(s, "SCRAM authorization id differs from the user name");
        }
    }
    struct metadata_scram_credential c;
    if (!metadata_view_scram_find(view, s->user, s->scram, &c) ||
        c.key_len != scram_key_len(s->scram)) {
        return fail(s, "unknown user");
    }
    memcpy(s->stored_key, c.stored_key, c.key_len);
    memcpy(s->server_key, c.server_key, c.key_len);
    uint8_t random[18];
    char snonce[32], salt[NONCE_MAX];
    if (RAND_bytes(random, sizeof random) != 1 ||
        b64_encode(random, sizeof random, snonce, sizeof snonce) < 0 ||
        b64_encode(c.salt, c.salt_len, salt, sizeof salt) < 0) {
        return fail(s, "cannot make a nonce or encode the salt");
    }
    for (char *p = snonce; *p != '\0'; p++) {
        *p = *p == ',' ? '-' : *p; /* base64 has no ',', but keep the nonce printable anyway */
    }
    snprintf(s->nonce, sizeof s->nonce, "%s%s", cnonce, snonce);
    int n = snprintf(s->server_first, sizeof s->server_first, "r=%s,s=%s,i=%d", s->nonce, salt,
                     c.iterations);
    if (n < 0 || (size_t)n >= sizeof s->server_first ||
        buf_append(out, s->server_first, (size_t)n) != 0) {
        return fail(s, "server-first-message does not fit");
    }
    s->state = SCRAM_FINAL;
    return SASL_STEP_CONTINUE;
}

static enum sasl_step scram_final(struct sasl_server *s, const char *msg, struct buf *out)
{
    const char *proof_at = strstr(msg, ",p=");
    char channel[USER_MAX + 16], nonce[sizeof s->nonce], proof_b64[160];
    uint8_t gs2[USER_MAX + 16], proof[SCRAM_MAX_KEY + 4];
    if (proof_at == NULL || !attribute(msg, 'c', channel, sizeof channel) ||
        !attribute(msg, 'r', nonce, sizeof nonce) ||
        !attribute(proof_at + 1, 'p', proof_b64, sizeof proof_b64)) {
        return fail(s, "SCRAM client-final-message malformed");
    }
    int gs2_len = b64_decode(channel, strlen(channel), gs2, sizeof gs2 - 1);
    if (gs2_len < 0 || (size_t)gs2_len != strlen(s->gs2_header) ||
        memcmp(gs2, s->gs2_header, (size_t)gs2_len) != 0) {
        return fail(s, "SCRAM channel binding does not match the gs2 header");
    }
    /* Kafka checks that the client's nonce ends with the server's, not that
     * it equals it: librdkafka sends its own nonce once more in front. */
    size_t have = strlen(nonce), want = strlen(s->nonce);
    if (have < want || strcmp(nonce + have - want, s->nonce) != 0) {
        return fail(s, "SCRAM nonce does not match");
    }
    int proof_len = b64_decode(proof_b64, strlen(proof_b64), proof, sizeof proof);
    char auth_message[sizeof s->client_first_bare + sizeof s->server_first + SASL_TOKEN_MAX];
    int n = snprintf(auth_message, sizeof auth_message, "%s,%s,%.*s", s->client_first_bare,
                     s->server_first, (int)(proof_at - msg), msg);
    if (proof_len < 0 || n < 0 || (size_t)n >= sizeof auth_message ||
        !scram_verify_proof(s->scram, s->stored_key, auth_message, proof, (size_t)proof_len)) {
        return fail(s, "wrong password");
    }
    uint8_t signature[SCRAM_MAX_KEY];
    char v[160];
    if (scram_hmac(s->scram, s->server_key, auth_message, (size_t)n, signature) != 0 ||
        b64_encode(signature, scram_key_len(s->scram), v, sizeof v) < 0 ||
        buf_append(out, "v=", 2) != 0 || buf_append(out, v, strlen(v)) != 0) {
        return fail(s, "cannot sign the server-final-message");
    }
    s->state = SCRAM_OVER;
    return SASL_STEP_DONE;
}

enum sasl_step sasl_server_step(struct sasl_server *s, const uint8_t *in, size_t len,
                                const struct metadata_view *view, struct buf *out)
{
    if (s->state == SCRAM_OVER) {
        return fail(s, "SASL exchange already over");
    }
    if (len > SASL_TOKEN_MAX) {
        return fail(s, "SASL token too large");
    }
    if (s->scram == 0) {
        return plain_step(s, in, len, view);
    }
    char msg[SASL_TOKEN_MAX + 1];
    if (len > 0) { /* an empty token may come without a buffer */
        memcpy(msg, in, len);
    }
    msg[len] = '\0';
    if (strlen(msg) != len) {
        return fail(s, "SCRAM message holds a NUL byte");
    }
    return s->state == SCRAM_FIRST ? scram_first(s, msg, view, out) : scram_final(s, msg, out);
}
