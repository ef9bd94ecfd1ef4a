/* SCRAM (RFC 5802, RFC 7677) arithmetic with OpenSSL: the keys a server
 * stores for a password, and the proofs and signatures of one exchange.
 * Message parsing lives with the SASL server; this is only the crypto both
 * the broker and sluicectl need. Pure; no allocation. */
#ifndef SLUICE_COMMON_SCRAM_H
#define SLUICE_COMMON_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kafka's ScramMechanism codes. */
enum scram_mechanism { SCRAM_SHA_256 = 1, SCRAM_SHA_512 = 2 };

#define SCRAM_MAX_KEY 64 /* SHA-512 */

/* "SCRAM-SHA-256" / "SCRAM-SHA-512" <-> the code; 0 for an unknown name. */
int scram_mechanism_from_name(const char *name);
const char *scram_mechanism_name(int mechanism);
/* Digest (and key) length: 32 or 64; 0 for an unknown mechanism. */
size_t scram_key_len(int mechanism);

/* SaltedPassword = Hi(password, salt, iterations) (PBKDF2-HMAC). 0 or -EINVAL. */
int scram_salted_password(int mechanism, const char *password, const uint8_t *salt, size_t salt_len,
                          int iterations, uint8_t *out);
/* StoredKey = H(HMAC(salted, "Client Key")), ServerKey = HMAC(salted, "Server Key"). */
int scram_keys(int mechanism, const uint8_t *salted, uint8_t *stored_key, uint8_t *server_key);
/* HMAC(key, msg) into out (scram_key_len bytes). 0 or -EINVAL. */
int scram_hmac(int mechanism, const uint8_t *key, const void *msg, size_t msg_len, uint8_t *out);
/* Whether `proof` (ClientKey XOR HMAC(StoredKey, auth_message)) proves the
 * client knows the password behind `stored_key`. Constant time. */
bool scram_verify_proof(int mechanism, const uint8_t *stored_key, const char *auth_message,
                        const uint8_t *proof, size_t proof_len);

#endif
