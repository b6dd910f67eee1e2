/*
 * Compiles include/saEvt.h (and saAis.h) in the compiler's mode (c99, gnu11, c11, C++)
 * and checks layouts (x86_64) and constants; prints "ok". Needs no library.
 */
#include <stddef.h>
#include <stdio.h>

#include <saEvt.h>
#include <saAis.h> /* twice: the guards hold */

#ifdef __cplusplus
#define STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

#if defined(__x86_64__)
STATIC_ASSERT(sizeof(SaNameT) == 258 && offsetof(SaNameT, value) == 2, "SaNameT");
STATIC_ASSERT(sizeof(SaVersionT) == 3, "SaVersionT");
STATIC_ASSERT(sizeof(SaEvtEventPatternT) == 24 && offsetof(SaEvtEventPatternT, pattern) == 16, "pattern");
STATIC_ASSERT(sizeof(SaEvtEventPatternArrayT) == 24, "pattern array");
STATIC_ASSERT(sizeof(SaEvtEventFilterT) == 32 && offsetof(SaEvtEventFilterT, filter) == 8, "filter");
STATIC_ASSERT(sizeof(SaEvtEventFilterArrayT) == 16, "filter array");
STATIC_ASSERT(sizeof(SaEvtCallbacksT) == 16, "callbacks");
STATIC_ASSERT(sizeof(SaLimitValueT) == 8, "limit value");
#endif
STATIC_ASSERT(sizeof(SaTimeT) == 8 && sizeof(SaSizeT) == 8 && sizeof(SaEvtHandleT) == 8, "64-bit types");
STATIC_ASSERT(sizeof(SaEvtSubscriptionIdT) == 4 && sizeof(SaEvtEventPriorityT) == 1, "small types");
STATIC_ASSERT(SA_TIME_END == 0x7FFFFFFFFFFFFFFFLL && SA_TIME_MAX == SA_TIME_END && SA_TIME_BEGIN == 0, "times");
STATIC_ASSERT(SA_TIME_UNKNOWN < 0, "SA_TIME_UNKNOWN is 0x8000000000000000");
STATIC_ASSERT(SA_TIME_ONE_MICROSECOND == 1000 && SA_TIME_ONE_DAY == 86400000000000LL, "time units");
STATIC_ASSERT(SA_MAX_NAME_LENGTH == 256, "name length");
STATIC_ASSERT(SA_DISPATCH_ONE == 1 && SA_DISPATCH_ALL == 2 && SA_DISPATCH_BLOCKING == 3, "dispatch flags");
STATIC_ASSERT(SA_AIS_OK == 1 && SA_AIS_ERR_LIBRARY == 2 && SA_AIS_ERR_BAD_HANDLE == 9, "errors 1");
STATIC_ASSERT(SA_AIS_ERR_NO_SPACE == 15 && SA_AIS_ERR_BAD_FLAGS == 25 && SA_AIS_ERR_TOO_BIG == 26, "errors 2");
STATIC_ASSERT(SA_AIS_ERR_UNAVAILABLE == 31, "errors 3");
STATIC_ASSERT(SA_EVT_CHANNEL_PUBLISHER == 1 && SA_EVT_CHANNEL_SUBSCRIBER == 2 && SA_EVT_CHANNEL_CREATE == 4, "flags");
STATIC_ASSERT(SA_EVT_HIGHEST_PRIORITY == 0 && SA_EVT_LOWEST_PRIORITY == 3, "priorities");
STATIC_ASSERT(SA_EVT_EVENTID_NONE == 0 && SA_EVT_EVENTID_LOST == 1, "event ids");
STATIC_ASSERT(sizeof(SA_EVT_LOST_EVENT) == 26, "the lost-event pattern is 25 bytes");
STATIC_ASSERT(SA_EVT_PREFIX_FILTER == 1 && SA_EVT_SUFFIX_FILTER == 2 && SA_EVT_EXACT_FILTER == 3
                  && SA_EVT_PASS_ALL_FILTER == 4,
              "filters");
STATIC_ASSERT(SA_EVT_MAX_NUM_CHANNELS_ID == 1 && SA_EVT_MAX_RETENTION_DURATION_ID == 5, "limit ids");

/* Signatures, as pointers: a mismatch does not compile. */
static SaAisErrorT (*const check_open)(SaEvtHandleT, const SaNameT *, SaEvtChannelOpenFlagsT, SaTimeT,
                                       SaEvtChannelHandleT *) = saEvtChannelOpen;
static SaAisErrorT (*const check_get)(SaEvtEventHandleT, SaEvtEventPatternArrayT *, SaEvtEventPriorityT *, SaTimeT *,
                                      SaNameT *, SaTimeT *, SaEvtEventIdT *) = saEvtEventAttributesGet;

int main(void)
{
    (void)check_open;
    (void)check_get;
    printf("ok saEvt\n");
    return 0;
}
