/* sluicectl --command-config FILE: Kafka client properties, as Kafka's tools
 * take them, for a TLS and/or SASL connection:
 *
 *   security.protocol=SASL_SSL              PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
 *   sasl.mechanism=SCRAM-SHA-512            PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
 *   sasl.username=alice / sasl.password=... or
 *   sasl.jaas.config=... username="alice" password="...";
 *   ssl.ca.location=ca.pem                  or ssl.truststore.location (PEM)
 *   ssl.certificate.location + ssl.key.location, or ssl.keystore.location
 *                                           (PEM key + chain): a client certificate
 *   ssl.endpoint.identification.algorithm=  empty: no host name check (default https)
 *
 * Unknown keys are ignored, as Kafka's tools warn and go on. Pure parsing. */
#ifndef SLUICE_TOOLS_SLUICECTL_CLIENT_SECURITY_H
#define SLUICE_TOOLS_SLUICECTL_CLIENT_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_SECURITY_FIELD 1024

struct client_security {
    bool tls, sasl;
    bool verify_hostname;
    char mechanism[32];
    char username[256], password[256];
    char ca[CLIENT_SECURITY_FIELD], cert[CLIENT_SECURITY_FIELD], key[CLIENT_SECURITY_FIELD];
};

/* Read `path` into `out` (PLAINTEXT when path is NULL). 0, or -1 with `err`. */
int client_security_load(const char *path, struct client_security *out, char *err, size_t errlen);

#endif
