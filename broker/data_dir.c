#include "broker/data_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/fs_util.h"
#include "common/properties.h"

/* Write meta.properties atomically: a temporary file, fsync, rename. */
static int write_meta(const char *dir, int32_t node_id, const char *cluster_id, char *err,
                      size_t errlen)
{
    char path[4200], tmp_path[4300];
    snprintf(path, sizeof path, "%s/meta.properties", dir);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    FILE *f = fopen(tmp_path, "w");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s: %s", tmp_path, strerror(e));
        return -e;
    }
    fprintf(f, "# Written by sluiced; do not edit.\nversion=1\nnode.id=%d\n", node_id);
    if (cluster_id[0] != '\0') {
        fprintf(f, "cluster.id=%s\n", cluster_id);
    }
    int failed = fflush(f) != 0 || fsync(fileno(f)) != 0;
    failed |= fclose(f) != 0;
    if (failed || rename(tmp_path, path) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
        return -e;
    }
    int rv = fs_fsync_dir(dir);
    if (rv != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(-rv));
    }
    return rv;
}

/* Check meta.properties against node_id and the cluster ids seen so far
 * (dirs->cluster_id), or write it when absent. */
static int check_meta(struct data_dirs *dirs, const char *dir, int32_t node_id, char *err,
                      size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.properties", dir);
    if (access(path, F_OK) != 0) {
        return write_meta(dir, node_id, "", err, errlen);
    }
    struct properties props;
    int rv = properties_load_file(path, &props, err, errlen);
    if (rv != 0) {
        return rv;
    }
    for (size_t i = 0; i < props.count && rv == 0; i++) {
        const char *key = props.items[i].key, *value = props.items[i].value;
        if (strcmp(key, "node.id") == 0 && atoi(value) != node_id) {
            snprintf(err, errlen, "%s belongs to node.id=%s, not node.id=%d: refusing to reuse it",
                     dir, value, node_id);
            rv = -EINVAL;
        } else if (strcmp(key, "cluster.id") == 0 && value[0] != '\0') {
            if (strlen(value) >= sizeof dirs->cluster_id) {
                snprintf(err, errlen, "%s: cluster.id is too long", path);
                rv = -EINVAL;
            } else if (dirs->cluster_id[0] != '\0' && strcmp(dirs->cluster_id, value) != 0) {
                snprintf(err, errlen,
                         "%s belongs to cluster.id=%s, another log dir to cluster.id=%s: "
                         "refusing to mix them",
                         dir, value, dirs->cluster_id);
                rv = -EINVAL;
            } else {
                snprintf(dirs->cluster_id, sizeof dirs->cluster_id, "%s", value);
            }
        }
    }
    properties_free(&props);
    return rv;
}

int data_dirs_claim_cluster(struct data_dirs *dirs, const char *cluster_id, char *err,
                            size_t errlen)
{
    if (cluster_id == NULL || cluster_id[0] == '\0' || strlen(cluster_id) >= DATA_DIR_CLUSTER_MAX) {
        snprintf(err, errlen, "invalid cluster id '%s'", cluster_id != NULL ? cluster_id : "");
        return -EINVAL;
    }
    if (strcmp(dirs->cluster_id, cluster_id) == 0) {
        return 0;
    }
    if (dirs->cluster_id[0] != '\0') {
        snprintf(err, errlen,
                 "log dir %s belongs to cluster.id=%s but the controller quorum is cluster.id=%s: "
                 "this data is from another cluster; refusing to use it (move it away, or point "
                 "controller.quorum.voters at the cluster it belongs to)",
                 dirs->paths[0], dirs->cluster_id, cluster_id);
        return -EINVAL;
    }
    for (size_t i = 0; i < dirs->count; i++) {
        int rv = write_meta(dirs->paths[i], dirs->node_id, cluster_id, err, errlen);
        if (rv != 0) {
            return rv;
        }
    }
    snprintf(dirs->cluster_id, sizeof dirs->cluster_id, "%s", cluster_id);
    return 0;
}

static int open_one(struct data_dirs *dirs, const char *path, int32_t node_id, char *err,
                    size_t errlen)
{
    if (dirs->count == DATA_DIR_MAX) {
        snprintf(err, errlen, "log.dirs: more than %d directories", DATA_DIR_MAX);
        return -EINVAL;
    }
    int rv = fs_mkdir_p(path);
    if (rv != 0) {
        snprintf(err, errlen, "cannot create log dir %s: %s", path, strerror(-rv));
        return rv;
    }
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/.lock", path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rv = -errno;
        snprintf(err, errlen, "cannot open %s: %s", lock_path, strerror(-rv));
        return rv;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rv = -errno;
        snprintf(err, errlen, "log dir %s is in use by another process (%s)", path, strerror(-rv));
        close(fd);
        return rv;
    }
    rv = check_meta(dirs, path, node_id, err, errlen);
    if (rv != 0) {
        close(fd);
        return rv;
    }
    dirs->paths[dirs->count] = strdup(path);
    if (dirs->paths[dirs->count] == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    dirs->lock_fds[dirs->count++] = fd;
    return 0;
}

struct open_ctx {
    struct data_dirs *dirs;
    int32_t node_id;
    char *err;
    size_t errlen;
};

static int open_item(const char *item, size_t len, void *arg)
{
    struct open_ctx *ctx = arg;
    char path[4096];
    if (len >= sizeof path) {
        snprintf(ctx->err, ctx->errlen, "log dir path too long");
        return -ENAMETOOLONG;
    }
    memcpy(path, item, len);
    path[len] = '\0';
    return open_one(ctx->dirs, path, ctx->node_id, ctx->err, ctx->errlen);
}

int data_dirs_open(struct data_dirs *dirs, const char *log_dirs, int32_t node_id, char *err,
                   size_t errlen)
{
    memset(dirs, 0, sizeof *dirs);
    dirs->node_id = node_id;
    struct open_ctx ctx = {dirs, node_id, err, errlen};
    int rv = config_list_foreach(log_dirs, open_item, &ctx);
    if (rv == 0 && dirs->count == 0) {
        snprintf(err, errlen, "log.dirs names no directory");
        rv = -EINVAL;
    }
    if (rv != 0) {
        data_dirs_close(dirs);
    }
    return rv;
}

void data_dirs_close(struct data_dirs *dirs)
{
    for (size_t i = 0; i < dirs->count; i++) {
        close(dirs->lock_fds[i]);
        free(dirs->paths[i]);
    }
    dirs->count = 0;
}
