/*
 * saEvt.h - the SA Forum AIS Event Service (B.01.01 with the B.03.01 additions), served
 * by Herald's heraldd through libSaEvt (pkg-config SaEvt; link with -lSaEvt).
 *
 * heraldd's socket: $HERALD_SOCKET, else $HERALD_DATA_DIR/heraldd.sock, else
 * herald-data/heraldd.sock. Plain C (c99/c11, gnu or strict) and C++.
 */
#ifndef SA_EVT_H
#define SA_EVT_H

#include "saAis.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef SaUint64T SaEvtHandleT;
typedef SaUint64T SaEvtEventHandleT;
typedef SaUint64T SaEvtChannelHandleT;
typedef SaUint32T SaEvtSubscriptionIdT;
typedef SaUint8T SaEvtEventPriorityT;
typedef SaUint64T SaEvtEventIdT;
typedef SaUint8T SaEvtChannelOpenFlagsT;

#define SA_EVT_CHANNEL_PUBLISHER 0x1
#define SA_EVT_CHANNEL_SUBSCRIBER 0x2
#define SA_EVT_CHANNEL_CREATE 0x4

#define SA_EVT_HIGHEST_PRIORITY 0
#define SA_EVT_LOWEST_PRIORITY 3

/* Event ids 0...1000 are reserved. */
#define SA_EVT_EVENTID_NONE 0
#define SA_EVT_EVENTID_LOST 1
/* The pattern of a lost-event notice (its 25 bytes, without the NUL). */
#define SA_EVT_LOST_EVENT "SA_EVT_LOST_EVENT_PATTERN"

typedef struct {
    SaSizeT allocatedSize;
    SaSizeT patternSize;
    SaUint8T *pattern;
} SaEvtEventPatternT;

typedef struct {
    SaSizeT allocatedNumber;
    SaSizeT patternsNumber;
    SaEvtEventPatternT *patterns;
} SaEvtEventPatternArrayT;

typedef enum {
    SA_EVT_PREFIX_FILTER = 1,
    SA_EVT_SUFFIX_FILTER = 2,
    SA_EVT_EXACT_FILTER = 3,
    SA_EVT_PASS_ALL_FILTER = 4
} SaEvtEventFilterTypeT;

typedef struct {
    SaEvtEventFilterTypeT filterType;
    SaEvtEventPatternT filter;
} SaEvtEventFilterT;

typedef struct {
    SaSizeT filtersNumber;
    SaEvtEventFilterT *filters;
} SaEvtEventFilterArrayT;

typedef void (*SaEvtChannelOpenCallbackT)(SaInvocationT invocation, SaEvtChannelHandleT channelHandle,
                                          SaAisErrorT error);
typedef void (*SaEvtEventDeliverCallbackT)(SaEvtSubscriptionIdT subscriptionId, SaEvtEventHandleT eventHandle,
                                           SaSizeT eventDataSize);

typedef struct {
    SaEvtChannelOpenCallbackT saEvtChannelOpenCallback;
    SaEvtEventDeliverCallbackT saEvtEventDeliverCallback;
} SaEvtCallbacksT;

/* B.03.01 */
typedef enum {
    SA_EVT_MAX_NUM_CHANNELS_ID = 1,
    SA_EVT_MAX_EVT_SIZE_ID = 2,
    SA_EVT_MAX_PATTERN_SIZE_ID = 3,
    SA_EVT_MAX_NUM_PATTERNS_ID = 4,
    SA_EVT_MAX_RETENTION_DURATION_ID = 5
} SaEvtLimitIdT;

SaAisErrorT saEvtInitialize(SaEvtHandleT *evtHandle, const SaEvtCallbacksT *callbacks, SaVersionT *version);
SaAisErrorT saEvtSelectionObjectGet(SaEvtHandleT evtHandle, SaSelectionObjectT *selectionObject);
SaAisErrorT saEvtDispatch(SaEvtHandleT evtHandle, SaDispatchFlagsT dispatchFlags);
SaAisErrorT saEvtFinalize(SaEvtHandleT evtHandle);

SaAisErrorT saEvtChannelOpen(SaEvtHandleT evtHandle, const SaNameT *channelName,
                             SaEvtChannelOpenFlagsT channelOpenFlags, SaTimeT timeout,
                             SaEvtChannelHandleT *channelHandle);
SaAisErrorT saEvtChannelOpenAsync(SaEvtHandleT evtHandle, SaInvocationT invocation, const SaNameT *channelName,
                                  SaEvtChannelOpenFlagsT channelOpenFlags);
SaAisErrorT saEvtChannelClose(SaEvtChannelHandleT channelHandle);
SaAisErrorT saEvtChannelUnlink(SaEvtHandleT evtHandle, const SaNameT *channelName);

SaAisErrorT saEvtEventAllocate(SaEvtChannelHandleT channelHandle, SaEvtEventHandleT *eventHandle);
SaAisErrorT saEvtEventFree(SaEvtEventHandleT eventHandle);
SaAisErrorT saEvtEventAttributesSet(SaEvtEventHandleT eventHandle, const SaEvtEventPatternArrayT *patternArray,
                                    SaEvtEventPriorityT priority, SaTimeT retentionTime,
                                    const SaNameT *publisherName);
SaAisErrorT saEvtEventAttributesGet(SaEvtEventHandleT eventHandle, SaEvtEventPatternArrayT *patternArray,
                                    SaEvtEventPriorityT *priority, SaTimeT *retentionTime,
                                    SaNameT *publisherName, SaTimeT *publishTime, SaEvtEventIdT *eventId);
SaAisErrorT saEvtEventDataGet(SaEvtEventHandleT eventHandle, void *eventData, SaSizeT *eventDataSize);
SaAisErrorT saEvtEventPublish(SaEvtEventHandleT eventHandle, const void *eventData, SaSizeT eventDataSize,
                              SaEvtEventIdT *eventId);

SaAisErrorT saEvtEventSubscribe(SaEvtChannelHandleT channelHandle, const SaEvtEventFilterArrayT *filters,
                                SaEvtSubscriptionIdT subscriptionId);
SaAisErrorT saEvtEventUnsubscribe(SaEvtChannelHandleT channelHandle, SaEvtSubscriptionIdT subscriptionId);
SaAisErrorT saEvtEventRetentionTimeClear(SaEvtChannelHandleT channelHandle, SaEvtEventIdT eventId);

/* B.03.01 */
SaAisErrorT saEvtEventPatternFree(SaEvtEventHandleT eventHandle, SaEvtEventPatternT *patterns);
SaAisErrorT saEvtLimitGet(SaEvtHandleT evtHandle, SaEvtLimitIdT limitId, SaLimitValueT *limitValue);

#ifdef __cplusplus
}
#endif

#endif /* SA_EVT_H */
