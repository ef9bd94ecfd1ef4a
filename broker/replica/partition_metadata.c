/* A partition directory's topic id file; see partition_metadata.h. */
#include "broker/replica/partition_metadata.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fs_util.h"

static void id_hex(const uint8_t id[16], char out[33])
{
    for (int i = 0; i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02x", id[i]);
    }
}

int partition_metadata_stale(const char *path, const uint8_t id[16])
{
    char file[4200], line[128], want[33];
    snprintf(file, sizeof file, "%s/" PARTITION_METADATA_FILE, path);
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        return 0;
    }
    id_hex(id, want);
    int stale = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "topic_id: ", 10) == 0) {
            stale = strncmp(line + 10, want, 32) != 0;
        }
    }
    fclose(f);
    return stale;
}

int partition_metadata_write(const char *path, const uint8_t id[16])
{
    char file[4200], hex[33], body[64];
    if ((size_t)snprintf(file, sizeof file, "%s/" PARTITION_METADATA_FILE, path) >= sizeof file) {
        return -ENAMETOOLONG;
    }
    if (access(file, F_OK) == 0) {
        return 0;
    }
    id_hex(id, hex);
    int len = snprintf(body, sizeof body, "version: 0\ntopic_id: %s\n", hex);
    /* fs_util closes the descriptor and removes the .tmp on every failure;
     * the caller fsyncs the directory with the partition's other new files. */
    return fs_write_replace_synced(path, PARTITION_METADATA_FILE, body, (size_t)len);
}
