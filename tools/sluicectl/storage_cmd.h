/* sluicectl storage random-uuid: prints a new cluster id, as Kafka's
 * `kafka-storage.sh random-uuid`: 16 random bytes in base64url without
 * padding (22 characters), the form Kafka prints its Uuids in. Put the same
 * id in every host's `cluster.id=` before the first start (deploy/HOSTS.md). */
#ifndef SLUICE_TOOLS_SLUICECTL_STORAGE_CMD_H
#define SLUICE_TOOLS_SLUICECTL_STORAGE_CMD_H

#include <stddef.h>
#include <stdint.h>

/* argv[0] is "storage". Exit codes: 0 ok, 1 no randomness, 2 usage. */
int storage_cmd_main(int argc, char **argv);

/* The 22-character base64url text (no padding) of 16 bytes into out
 * (at least 23 bytes). */
void storage_uuid_format(const uint8_t raw[16], char out[23]);

#endif
