#include <stdio.h>
#include <string.h>

#include "../../include/herald_saevt.h"
#include "../../include/saEvt.h"
#include "CSaEvtChecks.h"

#define EXPECT(condition)                                                                 \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            snprintf(message, size, "expected %s", #condition);                           \
            return __LINE__;                                                              \
        }                                                                                 \
    } while (0)

static void deliver(SaEvtSubscriptionIdT s, SaEvtEventHandleT e, SaSizeT n)
{
    (void)s;
    (void)n;
    saEvtEventFree(e);
}

int sacheck_no_daemon(const char *socket, char *message, size_t size)
{
    SaEvtHandleT handle = 0;
    SaVersionT version = {'B', 2, 1};
    SaEvtCallbacksT callbacks = {NULL, deliver};
    EXPECT(herald_saevt_socket(socket) == 0);
    EXPECT(herald_saevt_socket("") != 0);
    /* The version is checked before anything else: no daemon needed. */
    EXPECT(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_ERR_VERSION);
    EXPECT(version.majorVersion == 3 && version.minorVersion == 1);
    version.majorVersion = 1;
    EXPECT(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_ERR_TRY_AGAIN);
    EXPECT(handle == 0);
    return 0;
}

int sacheck_handles(const char *socket, char *message, size_t size)
{
    SaEvtHandleT handle = 0;
    SaVersionT version = {'B', 3, 1};
    SaEvtCallbacksT callbacks = {NULL, deliver};
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaNameT name = {5, "check"};
    SaSelectionObjectT selection;
    EXPECT(herald_saevt_socket(socket) == 0);
    EXPECT(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_OK && handle != 0);
    EXPECT(saEvtSelectionObjectGet(handle, &selection) == SA_AIS_OK);
    EXPECT(saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &channel) == SA_AIS_OK);
    EXPECT(saEvtEventAllocate(channel, &event) == SA_AIS_OK);
    /* Wrong kinds. */
    EXPECT(saEvtEventFree(channel) == SA_AIS_ERR_BAD_HANDLE);
    EXPECT(saEvtChannelClose(event) == SA_AIS_ERR_BAD_HANDLE);
    EXPECT(saEvtFinalize(channel) == SA_AIS_ERR_BAD_HANDLE);
    /* Foreign. */
    EXPECT(saEvtEventFree(0xDEADBEEF) == SA_AIS_ERR_BAD_HANDLE);
    EXPECT(saEvtChannelClose(0) == SA_AIS_ERR_BAD_HANDLE);
    /* Closing the channel frees its events. */
    EXPECT(saEvtChannelClose(channel) == SA_AIS_OK);
    EXPECT(saEvtEventFree(event) == SA_AIS_ERR_BAD_HANDLE);
    EXPECT(saEvtEventAllocate(channel, &event) == SA_AIS_ERR_BAD_HANDLE);
    EXPECT(saEvtFinalize(handle) == SA_AIS_OK);
    EXPECT(saEvtDispatch(handle, SA_DISPATCH_ALL) == SA_AIS_ERR_BAD_HANDLE);
    EXPECT(herald_saevt_socket(NULL) == 0);
    return 0;
}
