/*
 * The C side of `tools/bench saevt`.
 *
 *   saevt_bench publish SIZE N THREADS   THREADS threads, each with its own channel open on
 *                                        one handle, publish N events of SIZE bytes with 4
 *                                        patterns in all; prints "RESULT n ns" (CLOCK_MONOTONIC)
 *   saevt_bench subscribe N [backlog]    a pass-all subscriber dispatching from poll;
 *                                        prints "RESULT n first_ns last_ns"; with
 *                                        "backlog", it dispatches only after a line on
 *                                        standard input (the events published meanwhile
 *                                        wait in heraldd's journal and the library)
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <saEvt.h>

static SaEvtHandleT handle;
static SaNameT channel_name;
static long per_thread, size, received, wanted;
static uint64_t first_ns, last_ns;
static int failed;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *publisher(void *unused)
{
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
    if (saEvtChannelOpen(handle, &channel_name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX,
                         &channel)
            != SA_AIS_OK
        || saEvtEventAllocate(channel, &event) != SA_AIS_OK
        || saEvtEventAttributesSet(event, &array, SA_EVT_LOWEST_PRIORITY, 0, NULL) != SA_AIS_OK) {
        failed = 1;
        return NULL;
    }
    for (i = 0; i < per_thread; i++) {
        if (saEvtEventPublish(event, data, (SaSizeT)size, &id) != SA_AIS_OK) {
            failed = 1;
            break;
        }
    }
    free(data);
    return NULL;
}

static void on_deliver(SaEvtSubscriptionIdT subscription, SaEvtEventHandleT event, SaSizeT data_size)
{
    uint64_t now = now_ns();
    (void)subscription;
    (void)data_size;
    if (received == 0) first_ns = now;
    last_ns = now;
    received++;
    saEvtEventFree(event);
}

int main(int argc, char **argv)
{
    SaEvtCallbacksT callbacks = {NULL, on_deliver};
    SaVersionT version = {'B', 3, 1};
    if (argc < 3) return 64;
    channel_name.length = 5;
    memcpy(channel_name.value, "bench", 5);
    if (saEvtInitialize(&handle, &callbacks, &version) != SA_AIS_OK) return 2;
    if (strcmp(argv[1], "publish") == 0 && argc >= 5) {
        int threads = atoi(argv[4]), t;
        pthread_t ids[64];
        uint64_t start;
        size = atol(argv[2]);
        per_thread = atol(argv[3]) / threads;
        if (threads < 1 || threads > 64) return 64;
        start = now_ns();
        for (t = 0; t < threads; t++) pthread_create(&ids[t], NULL, publisher, NULL);
        for (t = 0; t < threads; t++) pthread_join(ids[t], NULL);
        printf("RESULT %ld %llu 0\n", per_thread * threads, (unsigned long long)(now_ns() - start));
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
        printf("RESULT %ld %llu %llu\n", received, (unsigned long long)first_ns, (unsigned long long)last_ns);
    } else {
        return 64;
    }
    saEvtFinalize(handle);
    return failed ? 1 : 0;
}
