#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "../../include/ocf/oc_event.h"
#include "COCEventChecks.h"

#define EXPECT(condition)                                                                 \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            snprintf(message, size, "expected %s (errno %d: %s)", #condition, errno,     \
                     strerror(errno));                                                    \
            return __LINE__;                                                              \
        }                                                                                 \
    } while (0)

static void ignore(oc_ed_t e, const unsigned int *c, size_t s, const void *d)
{
    (void)e;
    (void)s;
    (void)d;
    oc_ev_callback_done(c);
}

static void other(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { ignore(e, c, s, d); }

static int failed_with(int result, int code) { return result == OC_FAILURE && errno == code; }

int occheck_draft_misuse(const char *socket, char *message, size_t size)
{
    oc_ev_t *handle;
    oc_ver_t version;
    int fd = -1, local = 0;
    oc_ev_t *foreign = (oc_ev_t *)(void *)&local;

    EXPECT(oc_ev_herald_socket(socket) == 0);
    /* NULL and foreign handles. */
    EXPECT(failed_with(oc_ev_set_callback(NULL, OC_EV_PRIO_HIGH, OC_EV_MEMB_CLASS, ignore), EINVAL));
    EXPECT(failed_with(oc_ev_activate(NULL, OC_EV_AS_GET_FD, &fd), EINVAL));
    EXPECT(failed_with(oc_ev_handle_event(NULL), EINVAL));
    EXPECT(failed_with(oc_ev_get_version(NULL, &version), EINVAL));
    EXPECT(failed_with(oc_ev_unregister(NULL), EINVAL));
    EXPECT(failed_with(oc_ev_set_callback(foreign, OC_EV_PRIO_HIGH, OC_EV_MEMB_CLASS, ignore), EINVAL));
    EXPECT(failed_with(oc_ev_unregister(foreign), EINVAL));
    errno = 0;
    oc_ev_callback_done(NULL);
    EXPECT(errno == EINVAL);
    errno = 0;
    oc_ev_callback_done((const unsigned int *)&local);
    EXPECT(errno == EINVAL);

    handle = oc_ev_register();
    EXPECT(handle != NULL);
    EXPECT(oc_ev_get_version(handle, &version) == OC_SUCCESS && version.major == 0 && version.minor == 1);
    EXPECT(failed_with(oc_ev_get_version(handle, NULL), EINVAL));
    /* Nothing to deliver before activation; no callback set yet. */
    EXPECT(failed_with(oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd), EINVAL));
    EXPECT(failed_with(oc_ev_handle_event(handle), EINVAL));
    EXPECT(failed_with(oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, (oc_ev_class_t)9, ignore), EINVAL));
    EXPECT(oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, ignore) == OC_SUCCESS);
    EXPECT(failed_with(oc_ev_activate(handle, (oc_ev_as_t)42, &fd), EINVAL));
    EXPECT(failed_with(oc_ev_activate(handle, OC_EV_AS_GET_FD, NULL), EINVAL));
    EXPECT(oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) == OC_SUCCESS && fd >= 0);
    EXPECT(failed_with(oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd), EBUSY));
    /* Replacing an active class's callback is fine; adding a class after activation is not. */
    EXPECT(oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, other) == OC_SUCCESS);
    EXPECT(failed_with(oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_COMM_CLASS, ignore), EBUSY));
    EXPECT(oc_ev_handle_event(handle) == OC_SUCCESS); /* nothing pending: returns at once */
    EXPECT(oc_ev_unregister(handle) == OC_SUCCESS);
    /* Every call with the unregistered handle is EINVAL. */
    EXPECT(failed_with(oc_ev_unregister(handle), EINVAL));
    EXPECT(failed_with(oc_ev_handle_event(handle), EINVAL));
    EXPECT(failed_with(oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, ignore), EINVAL));
    EXPECT(failed_with(oc_ev_get_version(handle, &version), EINVAL));
    EXPECT(oc_ev_herald_durable(handle, "x", OC_EV_HERALD_START_CURSOR, 0) == EINVAL);
    return 0;
}

int occheck_no_daemon(const char *socket, char *message, size_t size)
{
    EXPECT(oc_ev_herald_socket(socket) == 0);
    errno = 0;
    EXPECT(oc_ev_register() == NULL);
    EXPECT(errno == ECONNREFUSED);
    return 0;
}

/* ---- The completion rule ------------------------------------------------------------ */

static oc_ev_t *rule_handle;
static char calls[256];
static const unsigned int *kept[4];
static int n_kept;
static int unregister_in_callback;
/* Set while a kept cookie's oc_ev_callback_done has not been called: any callback of the
 * handle then breaks the rule, whenever it happens (counted, checked at the end). */
static int awaiting_done, early_callbacks;

static void note(const char *name, const unsigned int *cookie)
{
    oc_ev_herald_info_t info;
    char line[64];
    oc_ev_herald_event_info(cookie, &info);
    snprintf(line, sizeof line, "%s%llu ", name, (unsigned long long)info.i_sequence);
    strncat(calls, line, sizeof calls - strlen(calls) - 1);
}

/* The high-priority callback: completes at once, may unregister the handle. */
static void high(const char *name, oc_ed_t e, const unsigned int *c, size_t s, const void *d)
{
    (void)e;
    (void)s;
    (void)d;
    if (awaiting_done) early_callbacks++;
    note(name, c);
    oc_ev_callback_done(c);
    if (unregister_in_callback) oc_ev_unregister(rule_handle);
}

static void first(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { high("H", e, c, s, d); }

/* Replaces `first` while the handle is active. */
static void replacement(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { high("R", e, c, s, d); }

static void second(oc_ed_t e, const unsigned int *c, size_t s, const void *d)
{
    (void)e;
    (void)s;
    (void)d;
    note("L", c);
    kept[n_kept++] = c; /* completed later, outside the callback */
    awaiting_done = 1;
}

static int readable(int fd, int milliseconds)
{
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, milliseconds) == 1;
}

/* A second handle on the same events: it sees every event published, each completed at
 * once (the positive barrier of the rule's check). */
static unsigned long long witness_last;
static void witness(oc_ed_t e, const unsigned int *c, size_t s, const void *d)
{
    oc_ev_herald_info_t info;
    (void)e;
    (void)s;
    (void)d;
    if (oc_ev_herald_event_info(c, &info) == 0 && info.i_sequence > witness_last) witness_last = info.i_sequence;
    oc_ev_callback_done(c);
}

/* Dispatches the witness handle until it has seen `sequence` (or 10 s pass). */
static int witness_reaches(oc_ev_t *handle, int fd, unsigned long long sequence)
{
    for (int i = 0; i < 1000 && witness_last < sequence; i++) {
        if (readable(fd, 10)) oc_ev_handle_event(handle);
    }
    return witness_last >= sequence;
}

int occheck_completion_rule(const char *socket, char *message, size_t size)
{
    int fd = -1, local = 7, witness_fd = -1;
    oc_ev_t *witness_handle;
    oc_ev_herald_info_t info;

    calls[0] = 0;
    n_kept = 0;
    unregister_in_callback = 0;
    awaiting_done = 0;
    early_callbacks = 0;
    witness_last = 0;
    EXPECT(oc_ev_herald_socket(socket) == 0);
    rule_handle = oc_ev_register();
    EXPECT(rule_handle != NULL);
    /* Registered low first: priority, not order of registration, decides. */
    EXPECT(oc_ev_set_callback(rule_handle, OC_EV_PRIO_LOW, OC_EV_GROUP_CLASS, second) == OC_SUCCESS);
    EXPECT(oc_ev_set_callback(rule_handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, first) == OC_SUCCESS);
    EXPECT(oc_ev_herald_durable(rule_handle, NULL, OC_EV_HERALD_START_OLDEST, 0) == 0);
    EXPECT(oc_ev_activate(rule_handle, OC_EV_AS_GET_FD, &fd) == OC_SUCCESS);

    EXPECT(readable(fd, 5000));
    EXPECT(oc_ev_handle_event(rule_handle) == OC_SUCCESS);
    EXPECT(n_kept == 1);
    /* One event only: the low-priority callback has not completed it. */
    EXPECT(calls[0] == 'H' && strchr(calls, 'L') != NULL && strchr(strchr(calls, 'L'), 'H') == NULL);
    EXPECT(oc_ev_herald_event_info(kept[0], &info) == 0 && info.i_sequence > 0);
    /* Not a wait for nothing: another handle of this process receives the events after it
     * (heraldd is serving them), then this handle, asked to dispatch, hands out none. */
    witness_handle = oc_ev_register();
    EXPECT(witness_handle != NULL);
    EXPECT(oc_ev_set_callback(witness_handle, OC_EV_PRIO_MED, OC_EV_GROUP_CLASS, witness) == OC_SUCCESS);
    EXPECT(oc_ev_herald_durable(witness_handle, NULL, OC_EV_HERALD_START_OLDEST, 0) == 0);
    EXPECT(oc_ev_activate(witness_handle, OC_EV_AS_GET_FD, &witness_fd) == OC_SUCCESS);
    EXPECT(witness_reaches(witness_handle, witness_fd, info.i_sequence + 2));
    EXPECT(oc_ev_unregister(witness_handle) == OC_SUCCESS);
    EXPECT(oc_ev_handle_event(rule_handle) == OC_SUCCESS && n_kept == 1);
    EXPECT(early_callbacks == 0);

    /* Foreign cookies are errors and change nothing. */
    errno = 0;
    oc_ev_callback_done((const unsigned int *)&local);
    EXPECT(errno == EINVAL);
    EXPECT(oc_ev_handle_event(rule_handle) == OC_SUCCESS && n_kept == 1 && early_callbacks == 0);

    /* Replacing a callback while active: the next event goes to the new function. */
    EXPECT(oc_ev_set_callback(rule_handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, replacement) == OC_SUCCESS);

    /* Completing it outside the callback lets the next event through. */
    errno = 0;
    awaiting_done = 0;
    oc_ev_callback_done(kept[0]);
    EXPECT(errno == 0);
    EXPECT(readable(fd, 5000));
    /* A second done on the same cookie is harmless. */
    errno = 0;
    oc_ev_callback_done(kept[0]);
    EXPECT(errno == EINVAL);
    EXPECT(oc_ev_herald_event_info(kept[0], &info) == EINVAL);
    EXPECT(oc_ev_handle_event(rule_handle) == OC_SUCCESS);
    EXPECT(n_kept == 2);

    /* Unregister from inside a callback: the low-priority callback does not run. */
    unregister_in_callback = 1;
    EXPECT(early_callbacks == 0);
    awaiting_done = 0;
    oc_ev_callback_done(kept[1]);
    EXPECT(readable(fd, 5000));
    EXPECT(oc_ev_handle_event(rule_handle) == OC_SUCCESS);
    EXPECT(n_kept == 2);
    EXPECT(failed_with(oc_ev_handle_event(rule_handle), EINVAL));
    snprintf(message, size, "%s", calls);
    return 0;
}
