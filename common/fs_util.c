#include "common/fs_util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_PATH_MAX 4096

int fs_mkdir_p(const char *path)
{
    char tmp[FS_PATH_MAX];
    if (strlen(path) >= sizeof tmp) {
        return -ENAMETOOLONG;
    }
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

int fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rv = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rv;
}

int fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

enum write_sync { WRITE_NO_SYNC, WRITE_SYNC_FILE, WRITE_SYNC_FILE_AND_DIR };

static int write_replace(const char *dir, const char *name, const void *data, size_t len,
                         enum write_sync sync)
{
    char path[FS_PATH_MAX], tmp[FS_PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        return -ENAMETOOLONG;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int rv = fs_write_all(fd, data, len);
    if (rv == 0 && sync != WRITE_NO_SYNC && fsync(fd) < 0) {
        rv = -errno;
    }
    close(fd);
    if (rv == 0 && rename(tmp, path) < 0) {
        rv = -errno;
    }
    if (rv != 0) {
        unlink(tmp);
        return rv;
    }
    return sync == WRITE_SYNC_FILE_AND_DIR ? fs_fsync_dir(dir) : 0;
}

int fs_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    return write_replace(dir, name, data, len, WRITE_SYNC_FILE_AND_DIR);
}

int fs_write_replace(const char *dir, const char *name, const void *data, size_t len)
{
    return write_replace(dir, name, data, len, WRITE_NO_SYNC);
}

int fs_write_replace_synced(const char *dir, const char *name, const void *data, size_t len)
{
    return write_replace(dir, name, data, len, WRITE_SYNC_FILE);
}
