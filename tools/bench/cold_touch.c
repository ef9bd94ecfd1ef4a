/* sluice-cold-touch: a control load for partition_scale --cold-memory-control.
 *
 * It holds MIB mebibytes of anonymous memory, writes every page of it once,
 * then writes PAGES_PER_S pages a second picked at random, until SIGINT or
 * SIGTERM. Run with a large MIB it keeps touching pages the machine has not
 * touched for a while; run with MIB=1 at the same rate it does the same work
 * on a few hot pages. Whatever the first costs the brokers beside it that the
 * second does not is the machine's price for touching cold memory, a price
 * the brokers also pay for their own state at thousands of partitions
 * (tools/bench/README.md).
 *
 *     sluice-cold-touch MIB PAGES_PER_S
 *
 * Prints one line when it is holding and touching its memory ("touching N
 * pages"), so a caller can wait for it, and the pages it touched when it
 * stops. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES  4096u
#define MAX_MIB     (64u * 1024u) /* 64 GiB: a typo, not a control */
#define MAX_RATE    10000000ul    /* pages a second */
#define TICKS_PER_S 1000u         /* the writes are spread over 1 ms ticks */

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

/* A positive decimal no larger than max, or 0. */
static unsigned long parse_count(const char *s, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v == 0 || v > max) {
        return 0;
    }
    return v;
}

/* xorshift64: cheap, so the control's own CPU is the writes, not the picking. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void tick_after(struct timespec *t)
{
    t->tv_nsec += 1000000000L / TICKS_PER_S;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

int main(int argc, char **argv)
{
    unsigned long mib = argc == 3 ? parse_count(argv[1], MAX_MIB) : 0;
    unsigned long rate = argc == 3 ? parse_count(argv[2], MAX_RATE) : 0;
    if (mib == 0 || rate == 0) {
        fprintf(stderr,
                "usage: sluice-cold-touch MIB PAGES_PER_S (MIB 1..%u, PAGES_PER_S 1..%lu)\n",
                MAX_MIB, MAX_RATE);
        return 2;
    }
    size_t bytes = (size_t)mib << 20, pages = bytes / PAGE_BYTES;
    unsigned char *mem =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        fprintf(stderr, "sluice-cold-touch: mmap %lu MiB: %s\n", mib, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < pages; i++) {
        mem[i * PAGE_BYTES] = 1; /* resident before the measurement, not during it */
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("touching %zu pages\n", pages);
    fflush(stdout);

    uint64_t state = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid(), touched = 0;
    unsigned long per_tick = rate / TICKS_PER_S, remainder = rate % TICKS_PER_S, tick = 0;
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    while (!stopping) {
        /* rate/1000 pages a tick, and the remainder spread over the second */
        unsigned long n =
            per_tick + ((tick * remainder) / TICKS_PER_S != ((tick + 1) * remainder) / TICKS_PER_S);
        for (unsigned long i = 0; i < n; i++) {
            mem[(next_random(&state) % pages) * PAGE_BYTES]++;
        }
        touched += n;
        tick = (tick + 1) % TICKS_PER_S;
        tick_after(&due);
        while (!stopping && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
        }
    }
    printf("touched %" PRIu64 " pages\n", touched);
    munmap(mem, bytes);
    return 0;
}
