/* Output helpers for sluicectl: JSON string escaping and Kafka's base64 form
 * of topic ids. Write to a FILE; no state. */
#ifndef SLUICE_TOOLS_SLUICECTL_OUTPUT_H
#define SLUICE_TOOLS_SLUICECTL_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

/* `s` as a JSON string literal (quotes included); NULL prints null. */
void output_json_string(FILE *f, const char *s);
/* A 16-byte uuid in URL-safe base64 without padding (22 chars, as Kafka
 * prints topic ids) into `out` (at least 23 bytes). */
void output_uuid(const uint8_t id[16], char *out);

#endif
