/*
 * A publisher of the kill soak (issue 20, part 1): publishes "P<ID> <n>" for n = START,
 * START + 1, ... on channel NAME (created if needed), one event per saEvtEventPublish,
 * pausing PAUSE microseconds after each; prints "<n> <event id>" once heraldd acknowledged
 * the publish. Exits 1 at the first failure (heraldd killed): the soak restarts it after
 * the last n it printed.
 *
 *   soak_publisher NAME ID START PAUSE
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <saEvt.h>

int main(int argc, char **argv)
{
    SaVersionT version = {'B', 1, 1};
    SaEvtHandleT handle;
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaNameT name, publisher = {4, "soak"};
    SaEvtEventIdT id;
    struct timespec pause;
    unsigned long long n;
    long micros;
    char data[64];
    int length;
    if (argc < 5) return 64;
    n = strtoull(argv[3], NULL, 10);
    micros = atol(argv[4]);
    pause.tv_sec = micros / 1000000;
    pause.tv_nsec = (micros % 1000000) * 1000;
    memset(&name, 0, sizeof name);
    name.length = (SaUint16T)strlen(argv[1]);
    memcpy(name.value, argv[1], name.length);
    if (saEvtInitialize(&handle, NULL, &version) != SA_AIS_OK) return 1;
    if (saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &channel)
        != SA_AIS_OK)
        return 1;
    if (saEvtEventAllocate(channel, &event) != SA_AIS_OK) return 1;
    if (saEvtEventAttributesSet(event, NULL, SA_EVT_LOWEST_PRIORITY, 0, &publisher) != SA_AIS_OK) return 1;
    for (;; n++) {
        length = snprintf(data, sizeof data, "P%s %llu", argv[2], n);
        if (saEvtEventPublish(event, data, (SaSizeT)length, &id) != SA_AIS_OK) return 1;
        printf("%llu %llu\n", n, (unsigned long long)id);
        fflush(stdout);
        if (micros > 0) nanosleep(&pause, NULL);
    }
}
