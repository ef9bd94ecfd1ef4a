/* fsync_shim: an LD_PRELOAD library that lets a cluster test watch and steer
 * the fsyncs of a running sluiced, so a test can prove that an
 * acknowledgement waits for the fsync it promises (tests/cluster/test_flush.py).
 *
 * Only fsync/fdatasync of a file whose path contains $FSYNC_SHIM_MATCH are
 * touched; everything else goes straight to libc. Control is by files in
 * $FSYNC_SHIM_DIR, so the test changes behaviour while the process runs:
 *   hold     exists: the call blocks (before syncing) until it is removed
 *   fail     exists: the call fails with EIO instead of syncing
 * and the shim reports, one line per call:
 *   entered  appended when a matching call starts
 *   done     appended when it returns (after the real sync, or the failure)
 * The variables are not SLUICE_* ones, which sluiced would read as config. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static bool control_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void report(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!write(fd, "1\n", 2);
        close(fd);
    }
}

static bool matches(int fd, const char *match)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) {
        return false;
    }
    target[n] = '\0';
    return strstr(target, match) != NULL;
}

/* The real function is looked up on each call: no state kept in the shim. */
static int steered(int fd, const char *name)
{
    sync_fn real = (sync_fn)dlsym(RTLD_NEXT, name);
    const char *match = getenv("FSYNC_SHIM_MATCH");
    const char *dir = getenv("FSYNC_SHIM_DIR");
    if (match == NULL || dir == NULL || !matches(fd, match)) {
        return real(fd);
    }
    report(dir, "entered");
    const struct timespec tick = {0, 10 * 1000 * 1000};
    while (control_exists(dir, "hold")) {
        nanosleep(&tick, NULL);
    }
    int rv;
    if (control_exists(dir, "fail")) {
        rv = -1;
        errno = EIO;
    } else {
        rv = real(fd);
    }
    int saved = errno;
    report(dir, "done");
    errno = saved;
    return rv;
}

int fsync(int fd)
{
    return steered(fd, "fsync");
}

int fdatasync(int fd)
{
    return steered(fd, "fdatasync");
}
