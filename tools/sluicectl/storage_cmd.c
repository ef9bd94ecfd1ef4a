/* sluicectl storage random-uuid (kafka-storage.sh random-uuid). */
#include "tools/sluicectl/storage_cmd.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sluicectl storage random-uuid\n"
                 "  prints a new cluster id (22 characters of base64url, as kafka-storage.sh\n"
                 "  random-uuid) for the cluster.id= line of every node's properties\n");
}

void storage_uuid_format(const uint8_t raw[16], char out[23])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16;
        size_t n = 16 - i < 3 ? 16 - i : 3;
        if (n > 1) {
            v |= (uint32_t)raw[i + 1] << 8;
        }
        if (n > 2) {
            v |= raw[i + 2];
        }
        /* n bytes give n + 1 characters (no padding). */
        for (size_t c = 0; c <= n; c++) {
            out[o++] = alphabet[(v >> (18 - 6 * c)) & 63];
        }
    }
    out[o] = '\0';
}

int storage_cmd_main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 2 || strcmp(argv[1], "random-uuid") != 0) {
        usage(stderr);
        return 2;
    }
    char text[23];
    /* Kafka never hands out an id starting with '-' (it would read as an
     * option on a command line): draw again, as Uuid.randomUuid does. */
    do {
        uint8_t raw[16];
        if (RAND_bytes(raw, sizeof raw) != 1) {
            fprintf(stderr, "sluicectl: storage random-uuid: no random bytes from OpenSSL\n");
            return 1;
        }
        storage_uuid_format(raw, text);
    } while (text[0] == '-');
    printf("%s\n", text);
    return 0;
}
