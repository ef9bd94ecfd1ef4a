/* common/scram against RFC 7677's SCRAM-SHA-256 example exchange. */
#include <check.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/scram.h"
#include "tests/unit/check_main.h"

static const char *AUTH_MESSAGE =
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

static size_t b64(const char *in, uint8_t *out)
{
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)strlen(in));
    for (size_t i = strlen(in); i > 0 && in[i - 1] == '='; i--) {
        n--;
    }
    return (size_t)n;
}

static void keys(uint8_t *stored, uint8_t *server)
{
    uint8_t salt[32], salted[SCRAM_MAX_KEY];
    size_t salt_len = b64("W22ZaJ0SNY7soEsUEjb6gQ==", salt);
    ck_assert_int_eq(scram_salted_password(SCRAM_SHA_256, "pencil", salt, salt_len, 4096, salted),
                     0);
    ck_assert_int_eq(scram_keys(SCRAM_SHA_256, salted, stored, server), 0);
}

START_TEST(test_rfc7677_proof_and_signature)
{
    uint8_t stored[SCRAM_MAX_KEY], server[SCRAM_MAX_KEY], proof[64], want_sig[64], sig[64];
    keys(stored, server);
    size_t proof_len = b64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", proof);
    ck_assert(scram_verify_proof(SCRAM_SHA_256, stored, AUTH_MESSAGE, proof, proof_len));
    b64("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", want_sig);
    ck_assert_int_eq(scram_hmac(SCRAM_SHA_256, server, AUTH_MESSAGE, strlen(AUTH_MESSAGE), sig), 0);
    ck_assert_mem_eq(sig, want_sig, 32);
}
END_TEST

START_TEST(test_wrong_proof_or_message_fails)
{
    uint8_t stored[SCRAM_MAX_KEY], server[SCRAM_MAX_KEY], proof[64];
    keys(stored, server);
    size_t proof_len = b64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", proof);
    proof[0] ^= 1;
    ck_assert(!scram_verify_proof(SCRAM_SHA_256, stored, AUTH_MESSAGE, proof, proof_len));
    proof[0] ^= 1;
    ck_assert(!scram_verify_proof(SCRAM_SHA_256, stored, "n=user,r=other", proof, proof_len));
    ck_assert(!scram_verify_proof(SCRAM_SHA_256, stored, AUTH_MESSAGE, proof, proof_len - 1));
    ck_assert(!scram_verify_proof(SCRAM_SHA_512, stored, AUTH_MESSAGE, proof, proof_len));
}
END_TEST

START_TEST(test_mechanism_names)
{
    ck_assert_int_eq(scram_mechanism_from_name("SCRAM-SHA-256"), SCRAM_SHA_256);
    ck_assert_int_eq(scram_mechanism_from_name("SCRAM-SHA-512"), SCRAM_SHA_512);
    ck_assert_int_eq(scram_mechanism_from_name("PLAIN"), 0);
    ck_assert_uint_eq(scram_key_len(SCRAM_SHA_512), 64);
    ck_assert_uint_eq(scram_key_len(7), 0);
    ck_assert_str_eq(scram_mechanism_name(SCRAM_SHA_512), "SCRAM-SHA-512");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("scram");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rfc7677_proof_and_signature);
    tcase_add_test(tc, test_wrong_proof_or_message_fails);
    tcase_add_test(tc, test_mechanism_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
