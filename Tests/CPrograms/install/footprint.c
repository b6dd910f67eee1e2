/* What a C client of Herald's libraries costs: the resident memory it adds and the time
 * from the start of main to its first event. Used by the install test (run where the Swift
 * toolchain is hidden) and by `tools/bench install`.
 *
 *   cc footprint.c -loc_event              OCF only: register, activate (GET_FD), the first
 *                                          event (the membership in force), unregister
 *   cc -DWITH_SAEVT footprint.c -loc_event -lSaEvt
 *                                          the same, and libSaEvt in the same process:
 *                                          initialize, open a channel (created), publish
 *                                          one event, finalize
 *   cc -DBASELINE footprint.c              neither: what a plain C program is resident in
 *
 * Prints one line: "rss_before_kb=N rss_after_kb=N first_event_us=N saevt=ok|-" and
 * exits 0, or says what failed on stderr and exits 1. rss_before is at the start of main
 * (the libraries are mapped by then), rss_after after the work. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#ifndef BASELINE
#include <ocf/oc_event.h>
#endif
#ifdef WITH_SAEVT
#include <saEvt.h>
#endif

static int events;

static long rss_kb(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!status) return -1;
    while (fgets(line, sizeof line, status))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(status);
    return kb;
}

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

#ifndef BASELINE
static void on_event(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data) {
    (void)event, (void)size, (void)data;
    events++;
    oc_ev_callback_done(cookie);
}

#endif

#ifdef WITH_SAEVT
static int saevt_round(void) {
    SaEvtHandleT evt;
    SaVersionT version = {'B', 3, 1};
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaEvtEventIdT id;
    SaNameT name = {.length = 9};
    memcpy(name.value, "footprint", 9);
    if (saEvtInitialize(&evt, NULL, &version) != SA_AIS_OK) return fprintf(stderr, "saEvtInitialize failed\n"), 1;
    if (saEvtChannelOpen(evt, &name, SA_EVT_CHANNEL_PUBLISHER | SA_EVT_CHANNEL_CREATE, SA_TIME_ONE_SECOND * 10,
                         &channel) != SA_AIS_OK)
        return fprintf(stderr, "saEvtChannelOpen failed\n"), 1;
    if (saEvtEventAllocate(channel, &event) != SA_AIS_OK) return fprintf(stderr, "saEvtEventAllocate failed\n"), 1;
    if (saEvtEventPublish(event, "x", 1, &id) != SA_AIS_OK) return fprintf(stderr, "saEvtEventPublish failed\n"), 1;
    saEvtEventFree(event);
    saEvtFinalize(evt);
    return 0;
}
#endif

int main(void) {
    long long start = now_us();
    long before = rss_kb();
#ifdef BASELINE
    printf("rss_before_kb=%ld rss_after_kb=%ld first_event_us=%lld saevt=-\n", before, rss_kb(), now_us() - start);
    return events;
#else
    oc_ev_t *handle = oc_ev_register();
    int fd;
    if (!handle) return perror("oc_ev_register"), 1;
    oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_MEMB_CLASS, on_event);
    if (oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) != OC_SUCCESS) return fprintf(stderr, "activate failed\n"), 1;
    while (events == 0) {
        fd_set set;
        struct timeval limit = {10, 0};
        FD_ZERO(&set);
        FD_SET(fd, &set);
        if (select(fd + 1, &set, NULL, NULL, &limit) <= 0) return fprintf(stderr, "no first event in 10 s\n"), 1;
        if (oc_ev_handle_event(handle) != OC_SUCCESS) return fprintf(stderr, "handle_event failed\n"), 1;
    }
    long long first = now_us() - start;
    const char *saevt = "-";
#ifdef WITH_SAEVT
    if (saevt_round() != 0) return 1;
    saevt = "ok";
#endif
    long after = rss_kb();
    oc_ev_unregister(handle);
    printf("rss_before_kb=%ld rss_after_kb=%ld first_event_us=%lld saevt=%s\n", before, after, first, saevt);
    return 0;
#endif
}
