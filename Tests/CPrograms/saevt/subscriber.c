/*
 * The subscriber of a two-process pair: subscribes to channel NAME with a prefix filter
 * "orders/", dispatches from a poll loop, checks each event (data "n=<i>" in order, ids
 * increasing), prints "RECEIVED n" after N events.
 *
 *   subscriber NAME N
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <saEvt.h>

static int received, errors, wanted;
static SaEvtEventIdT last_id;

static void on_deliver(SaEvtSubscriptionIdT subscription, SaEvtEventHandleT event, SaSizeT size)
{
    char data[64], expected[64];
    SaSizeT length = sizeof data - 1;
    SaEvtEventIdT id;
    if (subscription != 7 || saEvtEventDataGet(event, data, &length) != SA_AIS_OK || length != size) errors++;
    data[length] = 0;
    snprintf(expected, sizeof expected, "n=%d", received);
    if (strcmp(data, expected) != 0) errors++;
    if (saEvtEventAttributesGet(event, NULL, NULL, NULL, NULL, NULL, &id) != SA_AIS_OK || id <= last_id) errors++;
    last_id = id;
    received++;
    saEvtEventFree(event);
}

int main(int argc, char **argv)
{
    SaEvtCallbacksT callbacks = {NULL, on_deliver};
    SaVersionT version = {'B', 1, 1};
    SaEvtHandleT handle;
    SaEvtChannelHandleT channel;
    SaEvtEventFilterT prefix = {SA_EVT_PREFIX_FILTER, {7, 7, (SaUint8T *)"orders/"}};
    SaEvtEventFilterArrayT filters = {1, &prefix};
    SaSelectionObjectT selection;
    SaNameT name;
    struct pollfd p;
    if (argc < 3) return 64;
    wanted = atoi(argv[2]);
    memset(&name, 0, sizeof name);
    name.length = (SaUint16T)strlen(argv[1]);
    memcpy(name.value, argv[1], name.length);
    if (saEvtInitialize(&handle, &callbacks, &version) != SA_AIS_OK) return 2;
    if (saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &channel)
        != SA_AIS_OK)
        return 3;
    if (saEvtEventSubscribe(channel, &filters, 7) != SA_AIS_OK) return 4;
    if (saEvtSelectionObjectGet(handle, &selection) != SA_AIS_OK) return 5;
    printf("READY\n");
    fflush(stdout);
    p.fd = (int)selection;
    p.events = POLLIN;
    while (received < wanted) {
        if (poll(&p, 1, 10000) <= 0) break;
        if (saEvtDispatch(handle, SA_DISPATCH_ALL) != SA_AIS_OK) return 6;
    }
    saEvtFinalize(handle);
    printf("RECEIVED %d errors=%d\n", received, errors);
    return received == wanted && errors == 0 ? 0 : 1;
}
