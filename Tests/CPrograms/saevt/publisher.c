/*
 * The publisher of a two-process pair: publishes N events on channel NAME, patterns
 * "orders/new" (which the subscriber's filter takes) interleaved with "audit/x" (which it
 * does not), data "n=<i>"; prints "PUBLISHED n".
 *
 *   publisher NAME N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <saEvt.h>

static SaAisErrorT publish(SaEvtChannelHandleT channel, const char *pattern, const char *data)
{
    SaEvtEventHandleT event;
    SaEvtEventPatternT one = {0, 0, (SaUint8T *)pattern};
    SaEvtEventPatternArrayT patterns = {1, 1, &one};
    SaNameT publisher = {9, "publisher"};
    SaEvtEventIdT id;
    SaAisErrorT rc;
    one.allocatedSize = one.patternSize = strlen(pattern);
    if ((rc = saEvtEventAllocate(channel, &event)) != SA_AIS_OK) return rc;
    rc = saEvtEventAttributesSet(event, &patterns, SA_EVT_LOWEST_PRIORITY, 0, &publisher);
    if (rc == SA_AIS_OK) rc = saEvtEventPublish(event, data, strlen(data), &id);
    saEvtEventFree(event);
    return rc;
}

int main(int argc, char **argv)
{
    SaVersionT version = {'B', 1, 1};
    SaEvtHandleT handle;
    SaEvtChannelHandleT channel;
    SaNameT name;
    int i, count;
    char data[32];
    if (argc < 3) return 64;
    count = atoi(argv[2]);
    memset(&name, 0, sizeof name);
    name.length = (SaUint16T)strlen(argv[1]);
    memcpy(name.value, argv[1], name.length);
    if (saEvtInitialize(&handle, NULL, &version) != SA_AIS_OK) return 2;
    if (saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &channel)
        != SA_AIS_OK)
        return 3;
    for (i = 0; i < count; i++) {
        snprintf(data, sizeof data, "n=%d", i);
        if (publish(channel, "orders/new", data) != SA_AIS_OK || publish(channel, "audit/x", "skip") != SA_AIS_OK)
            return 4;
    }
    if (saEvtChannelClose(channel) != SA_AIS_OK || saEvtFinalize(handle) != SA_AIS_OK) return 5;
    printf("PUBLISHED %d\n", count);
    return 0;
}
