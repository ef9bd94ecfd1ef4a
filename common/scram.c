/* SCRAM crypto; see scram.h. */
#include "common/scram.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const EVP_MD *digest(int mechanism)
{
    return mechanism == SCRAM_SHA_256   ? EVP_sha256()
           : mechanism == SCRAM_SHA_512 ? EVP_sha512()
                                        : NULL;
}

int scram_mechanism_from_name(const char *name)
{
    if (strcmp(name, "SCRAM-SHA-256") == 0) {
        return SCRAM_SHA_256;
    }
    if (strcmp(name, "SCRAM-SHA-512") == 0) {
        return SCRAM_SHA_512;
    }
    return 0;
}

const char *scram_mechanism_name(int mechanism)
{
    return mechanism == SCRAM_SHA_256   ? "SCRAM-SHA-256"
           : mechanism == SCRAM_SHA_512 ? "SCRAM-SHA-512"
                                        : "UNKNOWN";
}

size_t scram_key_len(int mechanism)
{
    return mechanism == SCRAM_SHA_256 ? 32 : mechanism == SCRAM_SHA_512 ? 64 : 0;
}

int scram_salted_password(int mechanism, const char *password, const uint8_t *salt, size_t salt_len,
                          int iterations, uint8_t *out)
{
    const EVP_MD *md = digest(mechanism);
    if (md == NULL || iterations <= 0 ||
        PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iterations, md,
                          (int)scram_key_len(mechanism), out) != 1) {
        return -EINVAL;
    }
    return 0;
}

int scram_hmac(int mechanism, const uint8_t *key, const void *msg, size_t msg_len, uint8_t *out)
{
    const EVP_MD *md = digest(mechanism);
    unsigned len = 0;
    if (md == NULL ||
        HMAC(md, key, (int)scram_key_len(mechanism), msg, msg_len, out, &len) == NULL) {
        return -EINVAL;
    }
    return 0;
}

int scram_keys(int mechanism, const uint8_t *salted, uint8_t *stored_key, uint8_t *server_key)
{
    uint8_t client_key[SCRAM_MAX_KEY];
    unsigned len = 0;
    if (scram_hmac(mechanism, salted, "Client Key", 10, client_key) != 0 ||
        scram_hmac(mechanism, salted, "Server Key", 10, server_key) != 0 ||
        EVP_Digest(client_key, scram_key_len(mechanism), stored_key, &len, digest(mechanism),
                   NULL) != 1) {
        return -EINVAL;
    }
    return 0;
}

bool scram_verify_proof(int mechanism, const uint8_t *stored_key, const char *auth_message,
                        const uint8_t *proof, size_t proof_len)
{
    size_t n = scram_key_len(mechanism);
    uint8_t signature[SCRAM_MAX_KEY], client_key[SCRAM_MAX_KEY], computed[SCRAM_MAX_KEY];
    unsigned len = 0;
    if (n == 0 || proof_len != n ||
        scram_hmac(mechanism, stored_key, auth_message, strlen(auth_message), signature) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        client_key[i] = proof[i] ^ signature[i];
    }
    if (EVP_Digest(client_key, n, computed, &len, digest(mechanism), NULL) != 1) {
        return false;
    }
    return CRYPTO_memcmp(computed, stored_key, n) == 0;
}
