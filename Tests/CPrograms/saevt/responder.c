/*
 * A SaEvt responder (Herald's group messaging): subscribes to every event of CHANNEL and
 * answers each request (an event that is not itself a reply) with a reply carrying
 * "re:<request data>", through herald_saevt_event_reply_to. Prints
 *
 *   READY
 *   GOT id=<id> cast=<0|1|2> sender=<session> data=<text>
 *   REPLIED id=<reply id> to=<request id>
 *
 *   responder CHANNEL N     (exit 0 after answering N requests)
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald_saevt.h>
#include <saEvt.h>

static SaEvtChannelHandleT channel;
static int answered;

static void on_event(SaEvtSubscriptionIdT subscription, SaEvtEventHandleT event, SaSizeT size)
{
    herald_saevt_route_t route;
    SaEvtEventIdT id = 0, reply_id = 0;
    SaEvtEventHandleT reply;
    char data[256], text[300];
    SaSizeT length = sizeof data;
    (void)subscription;
    (void)size;
    if (saEvtEventDataGet(event, data, &length) != SA_AIS_OK) length = 0;
    saEvtEventAttributesGet(event, NULL, NULL, NULL, NULL, NULL, &id);
    if (herald_saevt_event_route(event, &route) != SA_AIS_OK || route.reply_to != 0) {
        saEvtEventFree(event);
        return;
    }
    printf("GOT id=%llu cast=%u sender=%llu data=%.*s\n", (unsigned long long)id, route.cast,
           (unsigned long long)route.sender, (int)length, data);
    snprintf(text, sizeof text, "re:%.*s", (int)length, data);
    if (saEvtEventAllocate(channel, &reply) != SA_AIS_OK || herald_saevt_event_reply_to(reply, id) != SA_AIS_OK ||
        saEvtEventPublish(reply, text, strlen(text), &reply_id) != SA_AIS_OK) {
        printf("reply failed\n");
    } else {
        printf("REPLIED id=%llu to=%llu\n", (unsigned long long)reply_id, (unsigned long long)id);
        answered++;
    }
    fflush(stdout);
    saEvtEventFree(reply);
    saEvtEventFree(event);
}

int main(int argc, char **argv)
{
    SaEvtCallbacksT callbacks = {NULL, on_event};
    SaVersionT version = {'B', 3, 1};
    SaEvtHandleT handle;
    SaSelectionObjectT fd;
    SaNameT name;
    SaEvtEventFilterT pass = {SA_EVT_PASS_ALL_FILTER, {0, 0, NULL}};
    SaEvtEventFilterArrayT filters = {1, &pass};
    int wanted;
    if (argc != 3) return 1;
    wanted = atoi(argv[2]);
    name.length = (SaUint16T)strlen(argv[1]);
    memcpy(name.value, argv[1], name.length);
    if (saEvtInitialize(&handle, &callbacks, &version) != SA_AIS_OK) return 2;
    if (saEvtChannelOpen(handle, &name,
                         SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX,
                         &channel) != SA_AIS_OK)
        return 3;
    if (saEvtEventSubscribe(channel, &filters, 1) != SA_AIS_OK) return 4;
    if (saEvtSelectionObjectGet(handle, &fd) != SA_AIS_OK) return 5;
    printf("READY\n");
    fflush(stdout);
    while (answered < wanted) {
        struct pollfd p;
        p.fd = (int)fd;
        p.events = POLLIN;
        if (poll(&p, 1, 30000) <= 0) return 6;
        if (saEvtDispatch(handle, SA_DISPATCH_ALL) != SA_AIS_OK) return 7;
    }
    saEvtFinalize(handle);
    return 0;
}
