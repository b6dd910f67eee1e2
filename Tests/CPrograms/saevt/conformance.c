/*
 * SaEvt conformance, rule by rule of ../shared/SAF.md, against a running heraldd
 * ($HERALD_SOCKET). Prints "ok RULE" or "FAIL RULE:LINE: condition" per rule; exits 0
 * when every rule held.
 *
 *   conformance            every rule that one process can check
 *   conformance lost       a subscriber that falls behind gets a lost event
 *   conformance nolost     without a lag limit the same subscriber gets all 400, no notice
 *   conformance priority   (run with HERALD_SAEVT_WINDOW=4) events waiting beyond the
 *                          window come higher priority first
 *                          (run with HERALD_SAEVT_WINDOW and HERALD_SAEVT_LAG_MAX set)
 *   conformance hold NAME  opens NAME as a publisher, says READY, waits to be killed
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <saEvt.h>

static const char *rule;
static int failures;

#define CHECK(condition)                                                        \
    do {                                                                        \
        if (!(condition)) {                                                     \
            printf("FAIL %s:%d: %s\n", rule, __LINE__, #condition);             \
            failures++;                                                         \
            return;                                                             \
        }                                                                       \
    } while (0)

#define RULE(name) static void name(void)
#define RUN(name)                                                               \
    do {                                                                        \
        int before = failures;                                                  \
        rule = #name;                                                           \
        reset();                                                                \
        name();                                                                 \
        if (failures == before) printf("ok %s\n", #name);                       \
        fflush(stdout);                                                         \
    } while (0)

/* ---- Helpers ---------------------------------------------------------------------- */

#define MAX_SEEN 1024
static struct {
    SaEvtSubscriptionIdT subscription;
    SaEvtEventHandleT event;
    SaSizeT size;
} seen[MAX_SEEN];
static int n_seen;
static struct {
    SaInvocationT invocation;
    SaEvtChannelHandleT channel;
    SaAisErrorT error;
} opened[8];
static int n_opened;

static void reset(void) { n_seen = n_opened = 0; }

static void sleep_ms(long ms)
{
    struct timespec delay;
    delay.tv_sec = ms / 1000;
    delay.tv_nsec = (ms % 1000) * 1000000;
    nanosleep(&delay, NULL);
}

static void on_deliver(SaEvtSubscriptionIdT subscription, SaEvtEventHandleT event, SaSizeT size)
{
    if (n_seen < MAX_SEEN) {
        seen[n_seen].subscription = subscription;
        seen[n_seen].event = event;
        seen[n_seen].size = size;
        n_seen++;
    } else {
        saEvtEventFree(event);
    }
}

static void on_open(SaInvocationT invocation, SaEvtChannelHandleT channel, SaAisErrorT error)
{
    if (n_opened < 8) {
        opened[n_opened].invocation = invocation;
        opened[n_opened].channel = channel;
        opened[n_opened].error = error;
        n_opened++;
    }
}

static const SaEvtCallbacksT callbacks = {on_open, on_deliver};

static SaNameT name_of(const char *text)
{
    SaNameT name;
    memset(&name, 0, sizeof name);
    name.length = (SaUint16T)strlen(text);
    memcpy(name.value, text, name.length);
    return name;
}

/* A unique channel name per call, so rules do not see each other's channels. */
static SaNameT fresh(const char *base)
{
    static int counter;
    char text[64];
    snprintf(text, sizeof text, "%s-%d-%d", base, (int)getpid(), ++counter);
    return name_of(text);
}

static SaEvtHandleT initialize(const SaEvtCallbacksT *with)
{
    SaEvtHandleT handle = 0;
    SaVersionT version = {'B', 1, 1};
    if (saEvtInitialize(&handle, with, &version) != SA_AIS_OK) return 0;
    return handle;
}

/* Dispatches until `count` deliveries (or open callbacks) were seen or `ms` passed. */
static int wait_for(SaEvtHandleT handle, int *counter, int count, int ms)
{
    SaSelectionObjectT selection;
    struct pollfd p;
    int waited = 0;
    if (saEvtSelectionObjectGet(handle, &selection) != SA_AIS_OK) return 0;
    p.fd = (int)selection;
    p.events = POLLIN;
    while (*counter < count && waited < ms) {
        if (poll(&p, 1, 20) == 1) saEvtDispatch(handle, SA_DISPATCH_ALL);
        waited += 20;
    }
    return *counter >= count;
}

static SaAisErrorT publish(SaEvtChannelHandleT channel, const char *pattern, SaEvtEventPriorityT priority,
                           SaTimeT retention, const char *data, SaEvtEventIdT *id)
{
    SaEvtEventHandleT event;
    SaEvtEventPatternT one = {0, 0, NULL};
    SaEvtEventPatternArrayT patterns = {1, 1, &one};
    SaEvtEventIdT ignored;
    SaAisErrorT rc;
    one.patternSize = strlen(pattern);
    one.allocatedSize = one.patternSize;
    one.pattern = (SaUint8T *)pattern;
    if ((rc = saEvtEventAllocate(channel, &event)) != SA_AIS_OK) return rc;
    if ((rc = saEvtEventAttributesSet(event, &patterns, priority, retention, NULL)) == SA_AIS_OK)
        rc = saEvtEventPublish(event, data, strlen(data), id ? id : &ignored);
    saEvtEventFree(event);
    return rc;
}

static SaEvtEventFilterArrayT pass_all(void)
{
    static SaEvtEventFilterT filter = {SA_EVT_PASS_ALL_FILTER, {0, 0, NULL}};
    SaEvtEventFilterArrayT array = {1, &filter};
    return array;
}

/* ---- Rules ------------------------------------------------------------------------ */

RULE(version_table)
{
    SaEvtHandleT handle;
    SaVersionT version = {'B', 1, 1};
    CHECK(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_OK);
    CHECK(version.releaseCode == 'B' && version.majorVersion == 3 && version.minorVersion == 1);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
    version.majorVersion = 3;
    CHECK(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_OK);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
    version.releaseCode = 'B';
    version.majorVersion = 2;
    version.minorVersion = 1;
    CHECK(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_ERR_VERSION);
    CHECK(version.releaseCode == 'B' && version.majorVersion == 3);
    version.releaseCode = 'A';
    version.majorVersion = 1;
    CHECK(saEvtInitialize(&handle, &callbacks, &version) == SA_AIS_ERR_VERSION);
    CHECK(saEvtInitialize(&handle, &callbacks, NULL) == SA_AIS_ERR_INVALID_PARAM);
    version.releaseCode = 'B';
    CHECK(saEvtInitialize(NULL, &callbacks, &version) == SA_AIS_ERR_INVALID_PARAM);
}

RULE(handles_are_validated)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaNameT name = fresh("handles");
    SaSelectionObjectT selection;
    CHECK(handle != 0);
    CHECK(saEvtDispatch(0x7777777, SA_DISPATCH_ONE) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtDispatch(handle, (SaDispatchFlagsT)9) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtSelectionObjectGet(handle, NULL) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtChannelClose(0x7777777) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtEventFree(0x7777777) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &channel)
          == SA_AIS_OK);
    /* A handle of one kind is not a handle of another. */
    CHECK(saEvtDispatch(channel, SA_DISPATCH_ONE) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtChannelClose(handle) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtEventAllocate(channel, &event) == SA_AIS_OK);
    CHECK(saEvtEventFree(event) == SA_AIS_OK);
    CHECK(saEvtEventFree(event) == SA_AIS_ERR_BAD_HANDLE); /* freed */
    CHECK(saEvtChannelClose(channel) == SA_AIS_OK);
    CHECK(saEvtChannelClose(channel) == SA_AIS_ERR_BAD_HANDLE); /* stale */
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
    CHECK(saEvtFinalize(handle) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtSelectionObjectGet(handle, &selection) == SA_AIS_ERR_BAD_HANDLE);
}

RULE(channel_open_errors)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaNameT name = fresh("open"), bad;
    CHECK(handle != 0);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &channel) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtChannelOpen(handle, &name, 0x8 | SA_EVT_CHANNEL_CREATE, SA_TIME_MAX, &channel) == SA_AIS_ERR_BAD_FLAGS);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE, 0, &channel) == SA_AIS_ERR_TIMEOUT);
    CHECK(saEvtChannelOpen(handle, NULL, SA_EVT_CHANNEL_CREATE, SA_TIME_MAX, &channel) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE, SA_TIME_MAX, NULL) == SA_AIS_ERR_INVALID_PARAM);
    bad = name;
    bad.length = 300;
    CHECK(saEvtChannelOpen(handle, &bad, SA_EVT_CHANNEL_CREATE, SA_TIME_MAX, &channel) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE, SA_TIME_ONE_SECOND * 10, &channel) == SA_AIS_OK);
    CHECK(saEvtChannelClose(channel) == SA_AIS_OK);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(channel_persists_after_last_close)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaNameT name = fresh("persist");
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE, SA_TIME_MAX, &channel) == SA_AIS_OK);
    CHECK(saEvtChannelClose(channel) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &channel) == SA_AIS_OK);
    CHECK(saEvtChannelClose(channel) == SA_AIS_OK);
    CHECK(saEvtChannelUnlink(handle, &name) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &channel) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtChannelUnlink(handle, &name) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(unlink_keeps_the_old_instance_for_its_openers)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT old_instance, new_instance;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("instance");
    SaEvtEventIdT id;
    SaUint8T data[16];
    SaSizeT size = sizeof data;
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER | SA_EVT_CHANNEL_SUBSCRIBER,
                           SA_TIME_MAX, &old_instance)
          == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(old_instance, &all, 1) == SA_AIS_OK);
    CHECK(saEvtChannelUnlink(handle, &name) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &new_instance)
          == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &new_instance)
          == SA_AIS_OK);
    CHECK(publish(new_instance, "p", 1, 0, "new", &id) == SA_AIS_OK);
    CHECK(publish(old_instance, "p", 1, 0, "old", &id) == SA_AIS_OK);
    CHECK(publish(old_instance, "p", 1, 0, "marker", &id) == SA_AIS_OK);
    /* Only the old instance's events: "new" was journaled before both, so had it been
     * delivered it would be among the first two. */
    CHECK(wait_for(handle, &n_seen, 2, 10000));
    CHECK(n_seen == 2);
    CHECK(saEvtEventDataGet(seen[0].event, data, &size) == SA_AIS_OK && size == 3 && memcmp(data, "old", 3) == 0);
    size = sizeof data;
    CHECK(saEvtEventDataGet(seen[1].event, data, &size) == SA_AIS_OK && size == 6 && memcmp(data, "marker", 6) == 0);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(async_open)
{
    SaEvtCallbacksT deliver_only = {NULL, on_deliver};
    SaEvtHandleT plain = initialize(&deliver_only), handle = initialize(&callbacks);
    SaNameT name = fresh("async"), missing = fresh("missing");
    int ok;
    CHECK(saEvtChannelOpenAsync(plain, 7, &name, SA_EVT_CHANNEL_CREATE) == SA_AIS_ERR_INIT);
    CHECK(saEvtChannelOpenAsync(handle, 7, &name, 0x10) == SA_AIS_ERR_BAD_FLAGS);
    CHECK(saEvtChannelOpenAsync(handle, 42, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER) == SA_AIS_OK);
    CHECK(saEvtChannelOpenAsync(handle, 43, &missing, SA_EVT_CHANNEL_SUBSCRIBER) == SA_AIS_OK);
    CHECK(wait_for(handle, &n_opened, 2, 10000));
    /* The two opens complete in either order: find each by its invocation. */
    ok = opened[0].invocation == 42 ? 0 : 1;
    CHECK(opened[ok].invocation == 42 && opened[ok].error == SA_AIS_OK && opened[ok].channel != 0);
    CHECK(opened[1 - ok].invocation == 43 && opened[1 - ok].error == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtChannelClose(opened[ok].channel) == SA_AIS_OK);
    CHECK(saEvtFinalize(plain) == SA_AIS_OK && saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(allocate_gives_defaults)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaNameT name = fresh("defaults"), publisher;
    SaEvtEventPatternT slots[2];
    SaEvtEventPatternArrayT patterns = {2, 99, slots};
    SaEvtEventPriorityT priority = 9;
    SaTimeT retention = 9, time = 9;
    SaEvtEventIdT id = 9;
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &channel)
          == SA_AIS_OK);
    CHECK(saEvtEventAllocate(channel, &event) == SA_AIS_OK);
    CHECK(saEvtEventAttributesGet(event, &patterns, &priority, &retention, &publisher, &time, &id) == SA_AIS_OK);
    CHECK(patterns.patternsNumber == 0 && priority == SA_EVT_LOWEST_PRIORITY && retention == 0);
    CHECK(publisher.length == 0 && time == SA_TIME_UNKNOWN && id == SA_EVT_EVENTID_NONE);
    CHECK(saEvtEventAttributesGet(event, NULL, NULL, NULL, NULL, NULL, NULL) == SA_AIS_OK); /* NULLs skipped */
    CHECK(saEvtEventAllocate(channel, NULL) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
    CHECK(saEvtEventFree(event) == SA_AIS_ERR_BAD_HANDLE); /* finalize freed it */
}

RULE(attributes_round_trip_and_no_space)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaNameT name = fresh("attributes"), publisher = name_of("publisher-1"), got_publisher;
    SaUint8T binary[3] = {'a', 0, 'b'};
    SaEvtEventPatternT set[2] = {{3, 3, (SaUint8T *)"abc"}, {3, 3, binary}};
    SaEvtEventPatternArrayT to_set = {2, 2, set};
    SaUint8T buffer0[8], buffer1[8], tiny[1];
    SaEvtEventPatternT slots[2] = {{8, 0, buffer0}, {8, 0, buffer1}};
    SaEvtEventPatternArrayT got = {2, 0, slots};
    SaEvtEventPriorityT priority;
    SaTimeT retention;
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &channel)
          == SA_AIS_OK);
    CHECK(saEvtEventAllocate(channel, &event) == SA_AIS_OK);
    CHECK(saEvtEventAttributesSet(event, &to_set, 1, SA_TIME_ONE_HOUR, &publisher) == SA_AIS_OK);
    CHECK(saEvtEventAttributesGet(event, &got, &priority, &retention, &got_publisher, NULL, NULL) == SA_AIS_OK);
    CHECK(got.patternsNumber == 2 && slots[0].patternSize == 3 && memcmp(buffer0, "abc", 3) == 0);
    CHECK(slots[1].patternSize == 3 && memcmp(buffer1, binary, 3) == 0);
    CHECK(priority == 1 && retention == SA_TIME_ONE_HOUR);
    CHECK(got_publisher.length == 11 && memcmp(got_publisher.value, "publisher-1", 11) == 0);
    /* NULL pattern array and publisher: unchanged. */
    CHECK(saEvtEventAttributesSet(event, NULL, 2, 0, NULL) == SA_AIS_OK);
    CHECK(saEvtEventAttributesGet(event, &got, &priority, NULL, &got_publisher, NULL, NULL) == SA_AIS_OK);
    CHECK(got.patternsNumber == 2 && priority == 2 && got_publisher.length == 11);
    CHECK(saEvtEventAttributesSet(event, NULL, 4, 0, NULL) == SA_AIS_ERR_INVALID_PARAM);
    /* Too few slots: NO_SPACE, the count still set. */
    got.allocatedNumber = 1;
    CHECK(saEvtEventAttributesGet(event, &got, NULL, NULL, NULL, NULL, NULL) == SA_AIS_ERR_NO_SPACE);
    CHECK(got.patternsNumber == 2);
    /* A slot too small: NO_SPACE, its size still set. */
    got.allocatedNumber = 2;
    slots[1].allocatedSize = 1;
    slots[1].pattern = tiny;
    CHECK(saEvtEventAttributesGet(event, &got, NULL, NULL, NULL, NULL, NULL) == SA_AIS_ERR_NO_SPACE);
    CHECK(slots[1].patternSize == 3);
    /* Library-allocated, freed with saEvtEventPatternFree. */
    got.patterns = NULL;
    got.allocatedNumber = 0;
    CHECK(saEvtEventAttributesGet(event, &got, NULL, NULL, NULL, NULL, NULL) == SA_AIS_OK);
    CHECK(got.patterns != NULL && got.patternsNumber == 2 && got.patterns[1].patternSize == 3);
    CHECK(memcmp(got.patterns[1].pattern, binary, 3) == 0);
    CHECK(saEvtEventPatternFree(event, got.patterns) == SA_AIS_OK);
    CHECK(saEvtEventPatternFree(event, got.patterns) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtEventPatternFree(event, slots) == SA_AIS_ERR_INVALID_PARAM); /* not the library's */
    CHECK(saEvtEventFree(event) == SA_AIS_OK);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(publish_ids_data_get_and_self_delivery)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel, reader;
    SaEvtEventHandleT event;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("publish");
    SaEvtEventIdT first, second, got_id;
    SaTimeT time;
    SaLimitValueT limit;
    SaUint8T data[8], *big;
    SaSizeT size = 2;
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER | SA_EVT_CHANNEL_SUBSCRIBER,
                           SA_TIME_MAX, &channel)
          == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(channel, &all, 5) == SA_AIS_OK);
    CHECK(saEvtEventAllocate(channel, &event) == SA_AIS_OK);
    CHECK(saEvtEventDataGet(event, data, &size) == SA_AIS_ERR_BAD_HANDLE); /* not delivered */
    CHECK(saEvtEventPublish(event, "hello", 5, &first) == SA_AIS_OK && first > 1000);
    CHECK(saEvtEventAttributesGet(event, NULL, NULL, NULL, NULL, &time, &got_id) == SA_AIS_OK);
    CHECK(got_id == first && time != SA_TIME_UNKNOWN && time > 0);
    CHECK(saEvtEventPublish(event, "again", 5, &second) == SA_AIS_OK && second > first); /* republished */
    CHECK(saEvtEventPublish(event, "x", 1, NULL) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtLimitGet(handle, SA_EVT_MAX_EVT_SIZE_ID, &limit) == SA_AIS_OK && limit.uint64Value > 0);
    big = calloc(limit.uint64Value + 1, 1);
    CHECK(big != NULL);
    CHECK(saEvtEventPublish(event, big, limit.uint64Value + 1, &got_id) == SA_AIS_ERR_TOO_BIG);
    free(big);
    CHECK(saEvtEventFree(event) == SA_AIS_OK);
    /* Self-delivery: the publisher's own subscription receives both. */
    CHECK(wait_for(handle, &n_seen, 2, 10000));
    CHECK(seen[0].subscription == 5 && seen[0].size == 5);
    size = 2;
    CHECK(saEvtEventDataGet(seen[0].event, data, &size) == SA_AIS_ERR_NO_SPACE && size == 5);
    CHECK(saEvtEventDataGet(seen[0].event, data, NULL) == SA_AIS_ERR_INVALID_PARAM);
    size = sizeof data;
    CHECK(saEvtEventDataGet(seen[0].event, data, &size) == SA_AIS_OK && size == 5 && memcmp(data, "hello", 5) == 0);
    CHECK(saEvtEventAttributesGet(seen[0].event, NULL, NULL, NULL, NULL, NULL, &got_id) == SA_AIS_OK
          && got_id == first);
    CHECK(saEvtEventAttributesSet(seen[0].event, NULL, 1, 0, NULL) == SA_AIS_ERR_ACCESS); /* delivered */
    /* A subscriber-only open cannot publish. */
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &reader) == SA_AIS_OK);
    CHECK(saEvtEventAllocate(reader, &event) == SA_AIS_OK);
    CHECK(saEvtEventPublish(event, "x", 1, &got_id) == SA_AIS_ERR_ACCESS);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(subscribe_errors)
{
    SaEvtCallbacksT open_only = {on_open, NULL};
    SaEvtHandleT handle = initialize(&callbacks), plain = initialize(&open_only);
    SaEvtChannelHandleT channel, publisher, other;
    SaEvtEventFilterArrayT all = pass_all();
    SaEvtEventFilterT bad_filter = {(SaEvtEventFilterTypeT)9, {0, 0, NULL}};
    SaEvtEventFilterArrayT bad = {1, &bad_filter};
    SaNameT name = fresh("subscribe");
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &channel)
          == SA_AIS_OK);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &publisher) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(plain, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &other) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(other, &all, 1) == SA_AIS_ERR_INIT); /* no deliver callback */
    CHECK(saEvtEventSubscribe(publisher, &all, 1) == SA_AIS_ERR_ACCESS);
    CHECK(saEvtEventSubscribe(channel, NULL, 1) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtEventSubscribe(channel, &bad, 1) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtEventSubscribe(channel, &all, 1) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(channel, &all, 1) == SA_AIS_ERR_EXIST);
    CHECK(saEvtEventUnsubscribe(channel, 2) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtEventUnsubscribe(channel, 1) == SA_AIS_OK);
    CHECK(saEvtEventUnsubscribe(channel, 1) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtFinalize(plain) == SA_AIS_OK && saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(at_most_once_per_open)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT first, second, publisher;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("once");
    int one = 0, two = 0, i;
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &first)
          == SA_AIS_OK);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &second) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &publisher) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(first, &all, 3) == SA_AIS_OK && saEvtEventSubscribe(first, &all, 1) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(second, &all, 2) == SA_AIS_OK);
    CHECK(publish(publisher, "p", 1, 0, "x", NULL) == SA_AIS_OK);
    CHECK(publish(publisher, "p", 1, 0, "marker", NULL) == SA_AIS_OK);
    /* Each open gets "x" before the marker: a second "x" for an open would be among the
     * first four, or a fifth. */
    CHECK(wait_for(handle, &n_seen, 4, 10000));
    saEvtDispatch(handle, SA_DISPATCH_ALL);
    CHECK(n_seen == 4);
    for (i = 0; i < n_seen; i++) {
        if (seen[i].size != 1) continue; /* a marker */
        if (seen[i].subscription == 1) one++; /* the lowest matching id of the first open */
        if (seen[i].subscription == 2) two++;
    }
    CHECK(one == 1 && two == 1); /* one per open */
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

/* Filter i applies to pattern i; subscription 1 is the filter under test, 2 passes all:
 * the event names 1 exactly when the filters match. */
static int matches(SaEvtHandleT handle, const SaEvtEventFilterT *filters, SaSizeT n_filters,
                   const SaEvtEventPatternT *patterns, SaSizeT n_patterns)
{
    static int counter;
    SaEvtChannelHandleT channel;
    SaEvtEventHandleT event;
    SaEvtEventFilterArrayT tested = {n_filters, (SaEvtEventFilterT *)filters};
    SaEvtEventFilterArrayT all = pass_all();
    SaEvtEventPatternArrayT array = {n_patterns, n_patterns, (SaEvtEventPatternT *)patterns};
    SaEvtEventIdT id;
    char text[64];
    SaNameT name;
    int result;
    snprintf(text, sizeof text, "filters-%d-%d", (int)getpid(), ++counter);
    name = name_of(text);
    n_seen = 0;
    if (saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &channel) != SA_AIS_OK) return -1;
    if (saEvtEventSubscribe(channel, &tested, 1) != SA_AIS_OK || saEvtEventSubscribe(channel, &all, 2) != SA_AIS_OK)
        return -1;
    if (saEvtEventAllocate(channel, &event) != SA_AIS_OK) return -1;
    if (saEvtEventAttributesSet(event, &array, 1, 0, NULL) != SA_AIS_OK) return -1;
    if (saEvtEventPublish(event, "", 0, &id) != SA_AIS_OK) return -1;
    if (!wait_for(handle, &n_seen, 1, 10000)) return -1;
    result = seen[0].subscription == 1;
    saEvtChannelClose(channel);
    return result;
}

#define P(text, size) {size, size, (SaUint8T *)(text)}
#define F(type, text, size) {type, P(text, size)}

RULE(filters_every_rule)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtEventPatternT abc[1] = {P("abc", 3)}, xab[1] = {P("xab", 3)}, bca[1] = {P("bca", 3)};
    SaEvtEventPatternT abcd[1] = {P("abcd", 4)}, upper[1] = {P("ABC", 3)};
    SaEvtEventPatternT nul_b[1] = {P("a\0b", 3)}, nul_c[1] = {P("a\0c", 3)}, nul_zz[1] = {P("a\0zz", 4)};
    SaEvtEventPatternT two[2] = {P("ax", 2), P("by", 2)}, two_bad[2] = {P("ax", 2), P("cy", 2)};
    SaEvtEventPatternT x[1] = {P("x", 1)}, xyz[3] = {P("x", 1), P("y", 1), P("z", 1)};
    SaEvtEventFilterT prefix_ab[1] = {F(SA_EVT_PREFIX_FILTER, "ab", 2)};
    SaEvtEventFilterT suffix_bc[1] = {F(SA_EVT_SUFFIX_FILTER, "bc", 2)};
    SaEvtEventFilterT exact_abc[1] = {F(SA_EVT_EXACT_FILTER, "abc", 3)};
    SaEvtEventFilterT all[1] = {F(SA_EVT_PASS_ALL_FILTER, "", 0)};
    SaEvtEventFilterT exact_nul[1] = {F(SA_EVT_EXACT_FILTER, "a\0b", 3)};
    SaEvtEventFilterT prefix_nul[1] = {F(SA_EVT_PREFIX_FILTER, "a\0", 2)};
    SaEvtEventFilterT ab[2] = {F(SA_EVT_PREFIX_FILTER, "a", 1), F(SA_EVT_PREFIX_FILTER, "b", 1)};
    SaEvtEventFilterT extra_empty[2] = {F(SA_EVT_PASS_ALL_FILTER, "", 0), F(SA_EVT_EXACT_FILTER, "", 0)};
    SaEvtEventFilterT extra_z[2] = {F(SA_EVT_PASS_ALL_FILTER, "", 0), F(SA_EVT_PREFIX_FILTER, "z", 1)};
    SaEvtEventFilterT exact_x[1] = {F(SA_EVT_EXACT_FILTER, "x", 1)};
    SaEvtEventFilterT four[4] = {F(SA_EVT_PREFIX_FILTER, "p", 1), F(SA_EVT_SUFFIX_FILTER, "s", 1),
                                 F(SA_EVT_EXACT_FILTER, "e", 1), F(SA_EVT_PASS_ALL_FILTER, "a", 1)};
    SaEvtEventPatternT p1[1] = {P("p1", 2)}, q1[1] = {P("q1", 2)}, p1_s1[2] = {P("p1", 2), P("s1", 2)};
    CHECK(handle != 0);
    CHECK(matches(handle, prefix_ab, 1, abc, 1) == 1);
    CHECK(matches(handle, prefix_ab, 1, xab, 1) == 0);
    CHECK(matches(handle, suffix_bc, 1, abc, 1) == 1);
    CHECK(matches(handle, suffix_bc, 1, bca, 1) == 0);
    CHECK(matches(handle, exact_abc, 1, abc, 1) == 1);
    CHECK(matches(handle, exact_abc, 1, abcd, 1) == 0);
    CHECK(matches(handle, exact_abc, 1, upper, 1) == 0); /* case-sensitive */
    CHECK(matches(handle, all, 1, abcd, 1) == 1);
    CHECK(matches(handle, exact_nul, 1, nul_b, 1) == 1); /* a NUL is just a byte */
    CHECK(matches(handle, exact_nul, 1, nul_c, 1) == 0);
    CHECK(matches(handle, prefix_nul, 1, nul_zz, 1) == 1);
    CHECK(matches(handle, ab, 2, two, 2) == 1);          /* all must match */
    CHECK(matches(handle, ab, 2, two_bad, 2) == 0);
    CHECK(matches(handle, extra_empty, 2, x, 1) == 1);   /* filters beyond the patterns: not applied */
    CHECK(matches(handle, extra_z, 2, x, 1) == 1);       /* (openais; OpenSAF differs: docs/saevt.md) */
    CHECK(matches(handle, four, 4, NULL, 0) == 1);       /* no patterns: every subscription */
    CHECK(matches(handle, four, 4, p1, 1) == 1);
    CHECK(matches(handle, four, 4, q1, 1) == 0);         /* the applied filters must match */
    CHECK(matches(handle, four, 4, p1_s1, 2) == 0);
    CHECK(matches(handle, exact_x, 1, xyz, 3) == 1);     /* extra patterns pass */
    CHECK(matches(handle, NULL, 0, xyz, 3) == 1);        /* no filter: everything */
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(retention_late_subscriber_expired_cleared)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT publisher, late;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("retention");
    SaEvtEventIdT kept, short_lived, cleared, marker, id;
    int i, found_kept = 0, found_other = 0, found_marker = 0;
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &publisher)
          == SA_AIS_OK);
    CHECK(publish(publisher, "r", 1, SA_TIME_ONE_HOUR, "kept", &kept) == SA_AIS_OK);
    CHECK(publish(publisher, "r", 1, SA_TIME_ONE_SECOND, "short", &short_lived) == SA_AIS_OK);
    CHECK(publish(publisher, "r", 1, SA_TIME_ONE_HOUR, "cleared", &cleared) == SA_AIS_OK);
    CHECK(saEvtEventRetentionTimeClear(publisher, cleared) == SA_AIS_OK);
    CHECK(saEvtEventRetentionTimeClear(publisher, cleared) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtEventRetentionTimeClear(publisher, 5) == SA_AIS_ERR_INVALID_PARAM); /* reserved */
    sleep_ms(1500); /* the short one expires */
    CHECK(saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &late) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(late, &all, 1) == SA_AIS_OK);
    /* Retained events come before live ones: what comes before the marker is all of them. */
    CHECK(publish(publisher, "r", 1, 0, "marker", &marker) == SA_AIS_OK);
    CHECK(wait_for(handle, &n_seen, 1, 10000));
    for (i = 0; i < 1000 && !found_marker; i++) {
        CHECK(i < n_seen || wait_for(handle, &n_seen, i + 1, 10000));
        CHECK(saEvtEventAttributesGet(seen[i].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK);
        if (id == marker) found_marker = 1;
        else if (id == kept) found_kept++;
        else found_other++;
    }
    CHECK(found_marker && found_kept == 1 && found_other == 0);
    (void)short_lived;
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

/* Issue 18: an event retained 1 s reaches subscription 1 but is not dispatched; 1 is
 * unsubscribed; after the retention, subscription 2 on the same open: the selection object
 * is unreadable at once and stays so, and the first thing dispatched is a marker published
 * after, for 2. */
RULE(unsubscribe_leaves_nothing_behind)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("unsubscribed");
    SaSelectionObjectT selection;
    SaEvtEventIdT retained, marker, id;
    struct pollfd p;
    int waited;
    CHECK(saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &channel) == SA_AIS_OK);
    CHECK(saEvtSelectionObjectGet(handle, &selection) == SA_AIS_OK);
    p.fd = (int)selection;
    p.events = POLLIN;
    CHECK(saEvtEventSubscribe(channel, &all, 1) == SA_AIS_OK);
    CHECK(publish(channel, "r", 1, SA_TIME_ONE_SECOND, "retained", &retained) == SA_AIS_OK);
    CHECK(poll(&p, 1, 10000) == 1); /* it waits for dispatch */
    CHECK(saEvtEventUnsubscribe(channel, 1) == SA_AIS_OK);
    CHECK(poll(&p, 1, 0) == 0);      /* nothing left for anybody */
    sleep_ms(1500);                  /* the retention runs out (real time is the point here) */
    CHECK(poll(&p, 1, 0) == 0);
    CHECK(saEvtEventSubscribe(channel, &all, 2) == SA_AIS_OK);
    CHECK(saEvtDispatch(handle, SA_DISPATCH_ONE) == SA_AIS_OK && n_seen == 0);
    CHECK(publish(channel, "m", 1, 0, "marker", &marker) == SA_AIS_OK);
    for (waited = 0; n_seen == 0 && waited < 10000; waited += 10) {
        if (poll(&p, 1, 10) == 1) CHECK(saEvtDispatch(handle, SA_DISPATCH_ONE) == SA_AIS_OK);
    }
    CHECK(n_seen == 1 && seen[0].subscription == 2);
    CHECK(saEvtEventAttributesGet(seen[0].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK);
    CHECK(id == marker && id != retained);
    CHECK(poll(&p, 1, 0) == 0);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

/* An event waiting for dispatch for a subscription that ends goes to another subscription of
 * the open that accepts it (openais' rule), and nowhere when none does. */
RULE(unsubscribe_hands_waiting_events_to_another_subscription)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaEvtEventFilterArrayT all = pass_all();
    SaEvtEventFilterT only_b[1] = {F(SA_EVT_PREFIX_FILTER, "b", 1)};
    SaEvtEventFilterArrayT b_filters = {1, only_b};
    SaNameT name = fresh("handover");
    SaSelectionObjectT selection;
    SaEvtEventIdT b_id, marker, id;
    struct pollfd p;
    int waited;
    CHECK(saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &channel) == SA_AIS_OK);
    CHECK(saEvtSelectionObjectGet(handle, &selection) == SA_AIS_OK);
    p.fd = (int)selection;
    p.events = POLLIN;
    CHECK(saEvtEventSubscribe(channel, &all, 1) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(channel, &b_filters, 7) == SA_AIS_OK);
    CHECK(publish(channel, "a", 1, 0, "for 1 only", NULL) == SA_AIS_OK);
    CHECK(publish(channel, "b", 1, 0, "for 1 and 7", &b_id) == SA_AIS_OK);
    /* Both are named for 1 (the lowest id). Wherever they are when 1 ends — waiting for
     * dispatch, on their way from the connection, or not yet sent — "b" goes to 7 and "a"
     * to nobody: the first dispatched is "b" for 7, the next a marker for 7. */
    CHECK(poll(&p, 1, 10000) == 1);
    CHECK(saEvtEventUnsubscribe(channel, 1) == SA_AIS_OK);
    CHECK(publish(channel, "b", 1, 0, "marker", &marker) == SA_AIS_OK);
    for (waited = 0; n_seen < 2 && waited < 10000; waited += 10) {
        if (poll(&p, 1, 10) == 1) CHECK(saEvtDispatch(handle, SA_DISPATCH_ONE) == SA_AIS_OK);
    }
    CHECK(n_seen == 2 && seen[0].subscription == 7 && seen[1].subscription == 7);
    CHECK(saEvtEventAttributesGet(seen[0].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK && id == b_id);
    CHECK(saEvtEventAttributesGet(seen[1].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK && id == marker);
    CHECK(poll(&p, 1, 0) == 0);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

/* The same when the subscription ends inside a callback of SA_DISPATCH_ALL, with the other
 * events already taken for dispatch (the library takes what is pending at once): the rest of
 * the call still follows the rule, in the same call. */
static SaEvtChannelHandleT unsubscribing_channel;
static void on_deliver_unsubscribing(SaEvtSubscriptionIdT subscription, SaEvtEventHandleT event, SaSizeT size)
{
    on_deliver(subscription, event, size);
    if (n_seen == 1) saEvtEventUnsubscribe(unsubscribing_channel, 1);
}

RULE(unsubscribe_inside_dispatch_all_hands_the_rest_on)
{
    SaEvtCallbacksT unsubscribing = {on_open, on_deliver_unsubscribing};
    SaEvtHandleT handle = initialize(&unsubscribing);
    SaEvtEventFilterArrayT all = pass_all();
    SaEvtEventFilterT only_b[1] = {F(SA_EVT_PREFIX_FILTER, "b", 1)};
    SaEvtEventFilterArrayT b_filters = {1, only_b};
    SaNameT name = fresh("handover-in-dispatch");
    SaEvtEventIdT ids[4], id;
    const char *patterns[4] = {"a", "b", "a", "b"};
    int i;
    CHECK(saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &unsubscribing_channel) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(unsubscribing_channel, &all, 1) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(unsubscribing_channel, &b_filters, 7) == SA_AIS_OK);
    for (i = 0; i < 4; i++) CHECK(publish(unsubscribing_channel, patterns[i], 1, 0, "x", &ids[i]) == SA_AIS_OK);
    sleep_ms(500); /* all four reach the library and wait for dispatch */
    CHECK(saEvtDispatch(handle, SA_DISPATCH_ALL) == SA_AIS_OK);
    /* "a" for 1 (then 1 ends), "b" for 7, the second "a" for nobody, the second "b" for 7. */
    CHECK(n_seen == 3);
    CHECK(seen[0].subscription == 1 && seen[1].subscription == 7 && seen[2].subscription == 7);
    CHECK(saEvtEventAttributesGet(seen[0].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK && id == ids[0]);
    CHECK(saEvtEventAttributesGet(seen[1].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK && id == ids[1]);
    CHECK(saEvtEventAttributesGet(seen[2].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK && id == ids[3]);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

RULE(dispatch_one_and_all)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaEvtChannelHandleT channel;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("dispatch");
    SaSelectionObjectT selection;
    struct pollfd p;
    CHECK(saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &channel) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(channel, &all, 1) == SA_AIS_OK);
    CHECK(saEvtSelectionObjectGet(handle, &selection) == SA_AIS_OK);
    p.fd = (int)selection;
    p.events = POLLIN;
    CHECK(poll(&p, 1, 0) == 0); /* nothing pending: not readable */
    CHECK(saEvtDispatch(handle, SA_DISPATCH_ONE) == SA_AIS_OK && n_seen == 0);
    CHECK(publish(channel, "p", 1, 0, "1", NULL) == SA_AIS_OK);
    CHECK(publish(channel, "p", 1, 0, "2", NULL) == SA_AIS_OK);
    CHECK(publish(channel, "p", 1, 0, "3", NULL) == SA_AIS_OK);
    sleep_ms(3000); /* all three reach the library (a loaded machine may take its time) */
    CHECK(poll(&p, 1, 0) == 1);
    CHECK(saEvtDispatch(handle, SA_DISPATCH_ONE) == SA_AIS_OK && n_seen == 1);
    CHECK(poll(&p, 1, 0) == 1);
    CHECK(saEvtDispatch(handle, SA_DISPATCH_ALL) == SA_AIS_OK && n_seen == 3);
    CHECK(poll(&p, 1, 0) == 0);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

static volatile int about_to_dispatch;

/* Finalizes once the main thread is (about to be) blocked in dispatch. */
static void *finalize_later(void *handle)
{
    while (!about_to_dispatch) sleep_ms(10);
    sleep_ms(300);
    saEvtFinalize(*(SaEvtHandleT *)handle);
    return NULL;
}

RULE(dispatch_blocking_returns_after_finalize)
{
    SaEvtHandleT handle = initialize(&callbacks);
    pthread_t thread;
    CHECK(handle != 0);
    about_to_dispatch = 0;
    pthread_create(&thread, NULL, finalize_later, &handle);
    about_to_dispatch = 1;
    CHECK(saEvtDispatch(handle, SA_DISPATCH_BLOCKING) == SA_AIS_OK);
    pthread_join(thread, NULL);
    CHECK(saEvtDispatch(handle, SA_DISPATCH_ONE) == SA_AIS_ERR_BAD_HANDLE);
}

RULE(finalize_closes_everything)
{
    SaEvtHandleT handle = initialize(&callbacks), other = initialize(&callbacks);
    SaEvtChannelHandleT channel, watcher;
    SaEvtEventHandleT event;
    SaEvtEventFilterArrayT all = pass_all();
    SaNameT name = fresh("finalize");
    CHECK(saEvtChannelOpen(handle, &name, 7, SA_TIME_MAX, &channel) == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(channel, &all, 1) == SA_AIS_OK);
    CHECK(saEvtEventAllocate(channel, &event) == SA_AIS_OK);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
    CHECK(saEvtChannelClose(channel) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtEventFree(event) == SA_AIS_ERR_BAD_HANDLE);
    /* The channel was closed in heraldd: after unlink, nothing keeps its instance, and a
     * new open of the name fails. */
    CHECK(saEvtChannelUnlink(other, &name) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(other, &name, SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &watcher) == SA_AIS_ERR_NOT_EXIST);
    CHECK(saEvtFinalize(other) == SA_AIS_OK);
}

RULE(limits)
{
    SaEvtHandleT handle = initialize(&callbacks);
    SaLimitValueT value;
    CHECK(saEvtLimitGet(handle, SA_EVT_MAX_NUM_CHANNELS_ID, &value) == SA_AIS_OK && value.uint64Value >= 1);
    CHECK(saEvtLimitGet(handle, SA_EVT_MAX_PATTERN_SIZE_ID, &value) == SA_AIS_OK && value.uint64Value >= 1);
    CHECK(saEvtLimitGet(handle, SA_EVT_MAX_NUM_PATTERNS_ID, &value) == SA_AIS_OK && value.uint64Value >= 1);
    CHECK(saEvtLimitGet(handle, SA_EVT_MAX_RETENTION_DURATION_ID, &value) == SA_AIS_OK && value.timeValue > 0);
    CHECK(saEvtLimitGet(handle, (SaEvtLimitIdT)9, &value) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtLimitGet(handle, SA_EVT_MAX_EVT_SIZE_ID, NULL) == SA_AIS_ERR_INVALID_PARAM);
    CHECK(saEvtLimitGet(0x7777777, SA_EVT_MAX_EVT_SIZE_ID, &value) == SA_AIS_ERR_BAD_HANDLE);
    CHECK(saEvtFinalize(handle) == SA_AIS_OK);
}

/* Run with a small window and lag limit: 400 events published while the subscriber does
 * not dispatch, then everything dispatched. */
RULE(lost_event_for_a_subscriber_that_falls_behind)
{
    SaEvtHandleT subscriber = initialize(&callbacks), publisher_handle = initialize(&callbacks);
    SaEvtChannelHandleT reader, writer;
    SaEvtEventFilterT only_p[1] = {F(SA_EVT_EXACT_FILTER, "p", 1)};
    SaEvtEventFilterArrayT filters = {1, only_p};
    SaNameT name = fresh("lost");
    SaEvtEventPatternT slots[2];
    SaUint8T buffer[32];
    SaEvtEventPatternArrayT patterns = {1, 0, slots};
    SaEvtEventPriorityT priority;
    SaEvtEventIdT id;
    int i, lost = -1;
    slots[0].allocatedSize = sizeof buffer;
    slots[0].pattern = buffer;
    CHECK(saEvtChannelOpen(subscriber, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &reader)
          == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(reader, &filters, 1) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(publisher_handle, &name, SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &writer) == SA_AIS_OK);
    for (i = 0; i < 400; i++) CHECK(publish(writer, "p", 2, 0, "x", NULL) == SA_AIS_OK);
    sleep_ms(300);
    for (i = 0; i < 40; i++) {
        saEvtDispatch(subscriber, SA_DISPATCH_ALL);
        sleep_ms(50);
    }
    CHECK(n_seen > 0 && n_seen < 400);
    for (i = 0; i < n_seen; i++) {
        CHECK(saEvtEventAttributesGet(seen[i].event, &patterns, &priority, NULL, NULL, NULL, &id) == SA_AIS_OK);
        if (id == SA_EVT_EVENTID_LOST) {
            CHECK(lost == -1); /* one notice for one loss */
            CHECK(patterns.patternsNumber == 1 && slots[0].patternSize == strlen(SA_EVT_LOST_EVENT));
            CHECK(memcmp(buffer, SA_EVT_LOST_EVENT, strlen(SA_EVT_LOST_EVENT)) == 0);
            CHECK(priority == SA_EVT_HIGHEST_PRIORITY && seen[i].size == 0);
            lost = i;
        }
    }
    CHECK(lost >= 0);
    printf("lost-event after %d deliveries, %d in all\n", lost, n_seen);
    CHECK(saEvtFinalize(subscriber) == SA_AIS_OK && saEvtFinalize(publisher_handle) == SA_AIS_OK);
}

/* The same 400 events without a lag limit (the default): every one arrives, in order, and
 * no lost-event notice. Waits for the 400th, not for a time. */
RULE(nothing_lost_without_a_lag_limit)
{
    SaEvtHandleT subscriber = initialize(&callbacks), publisher_handle = initialize(&callbacks);
    SaEvtChannelHandleT reader, writer;
    SaEvtEventFilterT only_p[1] = {F(SA_EVT_EXACT_FILTER, "p", 1)};
    SaEvtEventFilterArrayT filters = {1, only_p};
    SaNameT name = fresh("nolost");
    SaEvtEventIdT id, previous = 0;
    int i;
    CHECK(saEvtChannelOpen(subscriber, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &reader)
          == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(reader, &filters, 1) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(publisher_handle, &name, SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &writer) == SA_AIS_OK);
    for (i = 0; i < 400; i++) CHECK(publish(writer, "p", 2, 0, "x", NULL) == SA_AIS_OK);
    CHECK(wait_for(subscriber, &n_seen, 400, 30000));
    CHECK(n_seen == 400);
    for (i = 0; i < n_seen; i++) {
        CHECK(saEvtEventAttributesGet(seen[i].event, NULL, NULL, NULL, NULL, NULL, &id) == SA_AIS_OK);
        CHECK(id != SA_EVT_EVENTID_LOST && id > previous);
        previous = id;
    }
    printf("%d deliveries, none lost\n", n_seen);
    CHECK(saEvtFinalize(subscriber) == SA_AIS_OK && saEvtFinalize(publisher_handle) == SA_AIS_OK);
}

/* With a window of 4: 20 events of the lowest priority, then 5 of the highest, published
 * while the subscriber does not dispatch. The first 4 are in the library already (its
 * window); of what waits in heraldd, the highest priority comes first: deliveries 5 to 9 are
 * the 5 high ones, each in publish order, then the 16 remaining low ones in publish order. */
RULE(higher_priority_first_beyond_the_window)
{
    SaEvtHandleT subscriber = initialize(&callbacks), publisher_handle = initialize(&callbacks);
    SaEvtChannelHandleT reader, writer;
    SaEvtEventFilterArrayT filters = pass_all();
    SaNameT name = fresh("priority");
    SaEvtEventIdT id, low[20], high[5];
    SaEvtEventPriorityT priority;
    int i;
    CHECK(saEvtChannelOpen(subscriber, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_SUBSCRIBER, SA_TIME_MAX, &reader)
          == SA_AIS_OK);
    CHECK(saEvtEventSubscribe(reader, &filters, 1) == SA_AIS_OK);
    CHECK(saEvtChannelOpen(publisher_handle, &name, SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &writer) == SA_AIS_OK);
    for (i = 0; i < 20; i++) CHECK(publish(writer, "low", SA_EVT_LOWEST_PRIORITY, 0, "l", &low[i]) == SA_AIS_OK);
    for (i = 0; i < 5; i++) CHECK(publish(writer, "high", SA_EVT_HIGHEST_PRIORITY, 0, "h", &high[i]) == SA_AIS_OK);
    CHECK(wait_for(subscriber, &n_seen, 25, 30000));
    CHECK(n_seen == 25);
    for (i = 0; i < 25; i++) {
        SaEvtEventIdT expected = i < 4 ? low[i] : i < 9 ? high[i - 4] : low[i - 5];
        CHECK(saEvtEventAttributesGet(seen[i].event, NULL, &priority, NULL, NULL, NULL, &id) == SA_AIS_OK);
        if (id != expected) printf("delivery %d: event %llu, expected %llu\n", i, (unsigned long long)id,
                                   (unsigned long long)expected);
        CHECK(id == expected);
        CHECK(priority == (i >= 4 && i < 9 ? SA_EVT_HIGHEST_PRIORITY : SA_EVT_LOWEST_PRIORITY));
    }
    CHECK(saEvtFinalize(subscriber) == SA_AIS_OK && saEvtFinalize(publisher_handle) == SA_AIS_OK);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "lost") == 0) {
        RUN(lost_event_for_a_subscriber_that_falls_behind);
    } else if (argc > 1 && strcmp(argv[1], "nolost") == 0) {
        RUN(nothing_lost_without_a_lag_limit);
    } else if (argc > 1 && strcmp(argv[1], "priority") == 0) {
        RUN(higher_priority_first_beyond_the_window);
    } else if (argc > 2 && strcmp(argv[1], "hold") == 0) {
        SaEvtHandleT handle = initialize(&callbacks);
        SaEvtChannelHandleT channel;
        SaNameT name = name_of(argv[2]);
        if (handle == 0) return 2;
        if (saEvtChannelOpen(handle, &name, SA_EVT_CHANNEL_CREATE | SA_EVT_CHANNEL_PUBLISHER, SA_TIME_MAX, &channel)
            != SA_AIS_OK)
            return 3;
        if (publish(channel, "held", 1, 0, "before the kill", NULL) != SA_AIS_OK) return 4;
        printf("READY\n");
        for (;;) pause();
    } else {
        RUN(version_table);
        RUN(handles_are_validated);
        RUN(channel_open_errors);
        RUN(channel_persists_after_last_close);
        RUN(unlink_keeps_the_old_instance_for_its_openers);
        RUN(async_open);
        RUN(allocate_gives_defaults);
        RUN(attributes_round_trip_and_no_space);
        RUN(publish_ids_data_get_and_self_delivery);
        RUN(subscribe_errors);
        RUN(at_most_once_per_open);
        RUN(filters_every_rule);
        RUN(retention_late_subscriber_expired_cleared);
        RUN(unsubscribe_leaves_nothing_behind);
        RUN(unsubscribe_hands_waiting_events_to_another_subscription);
        RUN(unsubscribe_inside_dispatch_all_hands_the_rest_on);
        RUN(dispatch_one_and_all);
        RUN(dispatch_blocking_returns_after_finalize);
        RUN(finalize_closes_everything);
        RUN(limits);
    }
    printf("%s %d\n", failures == 0 ? "PASSED" : "FAILED", failures);
    return failures == 0 ? 0 : 1;
}
