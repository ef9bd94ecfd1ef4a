/* A partition directory's topic id file; see partition_metadata.h. */
#include "broker/replica/partition_metadata.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

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

void partition_metadata_write(const char *path, const uint8_t id[16])
{
    char file[4200], tmp[4300], hex[33];
    snprintf(file, sizeof file, "%s/" PARTITION_METADATA_FILE, path);
    if (access(file, F_OK) == 0) {
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    id_hex(id, hex);
    FILE *f = fopen(tmp, "w");
    int rv = f != NULL && fprintf(f, "version: 0\ntopic_id: %s\n", hex) > 0 ? 0 : -1;
    if (f != NULL && (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)) {
        rv = -1;
    }
    if (rv != 0 || rename(tmp, file) != 0) {
        log_warn("replica", "cannot record the topic id dir=%s error=%s", path, strerror(errno));
        unlink(tmp);
    }
}
