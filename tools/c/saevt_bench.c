/*
 * The C side of `tools/bench saevt`.
 *
 *   saevt_bench publish SIZE N THREADS   THREADS threads, each with its own channel open on
 *                                        one handle, publish N events of SIZE bytes with 4
 *                                        patterns in all; prints "RESULT n ns p50_ns p99_ns"
 *                                        (CLOCK_MONOTONIC; percentiles of the round trips)
 *   saevt_bench publish SIZE N THREADS handles
 *                                        the same, each thread with a handle (a connection)
 *                                        of its own (as 16 clients would be)
 *   saevt_bench pingpong N               the machine's floor for a round trip between two
 *                                        processes: 128 bytes each way over a Unix socket
 *                                        pair, N times; prints "RESULT n ns"
 *   saevt_bench fdatasync N DIR          the disk's floor: N appends of 128 bytes to a file in
 *                                        DIR, each followed by fdatasync; prints "RESULT n ns"
 *   saevt_bench subscribe N [backlog]    a pass-all subscriber dispatching from poll;
 *                                        prints "RESULT n first_ns last_ns cpu_ns" (cpu_ns:
 *                                        the process's CPU time, all threads, from the first
 *                                        callback to the last); with
 *                                        "backlog", it dispatches only after a line on
 *                                        standard input (the events published meanwhile
 *                                        wait in heraldd's journal and the library)
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <saEvt.h>

static SaEvtHandleT handle;
static SaNameT channel_name;
static long per_thread, size, received, wanted;
static uint64_t first_ns, last_ns, first_cpu_ns, last_cpu_ns;
static int failed;
static uint64_t *round_trips;
static pthread_mutex_t round_trips_lock = PTHREAD_MUTEX_INITIALIZER;
static long round_trips_count;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* CPU time of the whole process (every thread of the library included). */
static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int handle_per_thread;

static void *publisher(void *unused)
{
    SaEvtHandleT own = handle;
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaEvtEventPatternT patterns[4] = {
        {6, 6, (SaUint8T *)"orders"}, {4, 4, (SaUint8T *)"eu-1"}, {3, 3, (SaUint8T *)"new"}, {2, 2, (SaUint8T *)"v2"}};
    SaEvtEventPatternArrayT array = {4, 4, patterns};
    SaEvtEventIdT id;
    char *data = malloc((size_t)size);
    long i;
    (void)unused;
    memset(data, 'x', (size_t)size);
    if (handle_per_thread) {
        SaEvtCallbacksT none = {NULL, NULL};
        SaVersionT version = {'B', 3, 1};
        if (saEvtInitialize(&own, &none, &version) != SA_AIS_OK) {
            failed = 1;
            return NULL;
        }
    }
    if (saEvtChannelOpen(own, &channel_name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX,
                         &channel)
            != SA_AIS_OK
        || saEvtEventAllocate(channel, &event) != SA_AIS_OK
        || saEvtEventAttributesSet(event, &array, SA_EVT_LOWEST_PRIORITY, 0, NULL) != SA_AIS_OK) {
        failed = 1;
        return NULL;
    }
    uint64_t *mine = malloc(sizeof(uint64_t) * (size_t)per_thread);
    for (i = 0; i < per_thread; i++) {
        uint64_t start = now_ns();
        if (saEvtEventPublish(event, data, (SaSizeT)size, &id) != SA_AIS_OK) {
            failed = 1;
            break;
        }
        mine[i] = now_ns() - start;
    }
    pthread_mutex_lock(&round_trips_lock);
    memcpy(round_trips + round_trips_count, mine, sizeof(uint64_t) * (size_t)i);
    round_trips_count += i;
    pthread_mutex_unlock(&round_trips_lock);
    free(mine);
    free(data);
    if (handle_per_thread) saEvtFinalize(own);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Two processes answering each other over a Unix socket pair: the round trip's floor. */
static int pingpong(long n)
{
    int pair[2];
    char bytes[128] = {0};
    long i;
    uint64_t start;
    pid_t child;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 2;
    child = fork();
    if (child == 0) {
        for (i = 0; i < n; i++) {
            if (read(pair[1], bytes, sizeof bytes) != (ssize_t)sizeof bytes) _exit(1);
            if (write(pair[1], bytes, sizeof bytes) != (ssize_t)sizeof bytes) _exit(1);
        }
        _exit(0);
    }
    start = now_ns();
    for (i = 0; i < n; i++) {
        if (write(pair[0], bytes, sizeof bytes) != (ssize_t)sizeof bytes) return 3;
        if (read(pair[0], bytes, sizeof bytes) != (ssize_t)sizeof bytes) return 3;
    }
    printf("RESULT %ld %llu 0\n", n, (unsigned long long)(now_ns() - start));
    waitpid(child, NULL, 0);
    return 0;
}

/* Appends of 128 bytes, each made durable by fdatasync: the disk's floor. */
static int datasyncs(long n, const char *directory)
{
    char path[4096], bytes[128];
    long i;
    uint64_t start;
    int fd;
    snprintf(path, sizeof path, "%s/fdatasync-probe", directory);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 2;
    memset(bytes, 'x', sizeof bytes);
    start = now_ns();
    for (i = 0; i < n; i++) {
        if (write(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes || fdatasync(fd) != 0) return 3;
    }
    printf("RESULT %ld %llu 0\n", n, (unsigned long long)(now_ns() - start));
    close(fd);
    unlink(path);
    return 0;
}

static void on_deliver(SaEvtSubscriptionIdT subscription, SaEvtEventHandleT event, SaSizeT data_size)
{
    uint64_t now = now_ns();
    (void)subscription;
    (void)data_size;
    if (received == 0) {
        first_ns = now;
        first_cpu_ns = cpu_ns();
    }
    last_ns = now;
    received++;
    if (received == wanted) last_cpu_ns = cpu_ns();
    saEvtEventFree(event);
}

int main(int argc, char **argv)
{
    SaEvtCallbacksT callbacks = {NULL, on_deliver};
    SaVersionT version = {'B', 3, 1};
    if (argc < 3) return 64;
    if (strcmp(argv[1], "pingpong") == 0) return pingpong(atol(argv[2]));
    if (strcmp(argv[1], "fdatasync") == 0 && argc >= 4) return datasyncs(atol(argv[2]), argv[3]);
    channel_name.length = 5;
    memcpy(channel_name.value, "bench", 5);
    if (saEvtInitialize(&handle, &callbacks, &version) != SA_AIS_OK) return 2;
    if (strcmp(argv[1], "publish") == 0 && argc >= 5) {
        int threads = atoi(argv[4]), t;
        pthread_t ids[64];
        uint64_t start;
        size = atol(argv[2]);
        per_thread = atol(argv[3]) / threads;
        handle_per_thread = argc > 5 && strcmp(argv[5], "handles") == 0;
        uint64_t elapsed;
        if (threads < 1 || threads > 64) return 64;
        round_trips = malloc(sizeof(uint64_t) * (size_t)(per_thread * threads + 1));
        start = now_ns();
        for (t = 0; t < threads; t++) pthread_create(&ids[t], NULL, publisher, NULL);
        for (t = 0; t < threads; t++) pthread_join(ids[t], NULL);
        elapsed = now_ns() - start;
        if (round_trips_count == 0) return 4;
        qsort(round_trips, (size_t)round_trips_count, sizeof(uint64_t), by_value);
        printf("RESULT %ld %llu %llu %llu\n", per_thread * threads, (unsigned long long)elapsed,
               (unsigned long long)round_trips[round_trips_count / 2],
               (unsigned long long)round_trips[round_trips_count * 99 / 100]);
    } else if (strcmp(argv[1], "subscribe") == 0) {
        SaEvtChannelHandleT channel;
        SaEvtEventFilterT all = {SA_EVT_PASS_ALL_FILTER, {0, 0, NULL}};
        SaEvtEventFilterArrayT filters = {1, &all};
        SaSelectionObjectT selection;
        struct pollfd p;
        wanted = atol(argv[2]);
        if (saEvtChannelOpen(handle, &channel_name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX,
                             &channel)
                != SA_AIS_OK
            || saEvtEventSubscribe(channel, &filters, 1) != SA_AIS_OK
            || saEvtSelectionObjectGet(handle, &selection) != SA_AIS_OK)
            return 3;
        printf("READY\n");
        fflush(stdout);
        if (argc > 3 && strcmp(argv[3], "backlog") == 0) {
            int c;
            while ((c = getchar()) != EOF && c != '\n') {
            }
        }
        p.fd = (int)selection;
        p.events = POLLIN;
        while (received < wanted && poll(&p, 1, 30000) == 1) saEvtDispatch(handle, SA_DISPATCH_ALL);
        printf("RESULT %ld %llu %llu %llu\n", received, (unsigned long long)first_ns, (unsigned long long)last_ns,
               (unsigned long long)(last_cpu_ns - first_cpu_ns));
    } else {
        return 64;
    }
    saEvtFinalize(handle);
    return failed ? 1 : 0;
}
