/* Kafka's ssl.principal.mapping.rules: from a client certificate's subject
 * (RFC 2253, "CN=alice,OU=eng,O=acme") to the principal's name.
 *
 *   ssl.principal.mapping.rules=RULE:^CN=([^,]*),OU=eng.*$/$1/L,DEFAULT
 *
 * Rules are tried in order; the first whose pattern matches the whole subject
 * gives the name: its replacement with $1..$9 substituted, then lower-cased
 * (/L) or upper-cased (/U). DEFAULT gives the subject unchanged. No match is
 * an error (Kafka fails the authentication). Patterns are POSIX extended
 * regular expressions; Java's lazy quantifiers (*?, +?) are read as greedy.
 *
 * Pure: no I/O, no globals. The rule set owns its compiled patterns. */
#ifndef SLUICE_COMMON_SSL_PRINCIPAL_H
#define SLUICE_COMMON_SSL_PRINCIPAL_H

#include <stddef.h>

struct ssl_principal_rules;

/* Parse `rules` (NULL or "" = DEFAULT). Returns 0 and *out (caller frees),
 * or -EINVAL with `err` naming the bad rule, or -ENOMEM. */
int ssl_principal_rules_parse(const char *rules, struct ssl_principal_rules **out, char *err,
                              size_t errlen);
void ssl_principal_rules_free(struct ssl_principal_rules *r);

/* Map `subject` into `out`. Returns 0, or -ENOENT when no rule matches, or
 * -ENAMETOOLONG when the name does not fit. */
int ssl_principal_map(const struct ssl_principal_rules *r, const char *subject, char *out,
                      size_t outlen);

#endif
