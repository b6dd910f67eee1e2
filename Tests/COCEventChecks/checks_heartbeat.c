#define OC_EV_API_HEARTBEAT 1
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../include/ocf/oc_event.h"
#include "COCEventChecks.h"

#define EXPECT(condition)                                                                 \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            snprintf(message, size, "expected %s", #condition);                           \
            return __LINE__;                                                              \
        }                                                                                 \
    } while (0)

static void membership(oc_ed_t e, void *c, size_t s, const void *d)
{
    (void)e;
    (void)s;
    (void)d;
    oc_ev_callback_done(c);
}

int occheck_heartbeat_misuse(const char *socket, char *message, size_t size)
{
    oc_ev_t *token = NULL;
    oc_ev_callback_t *previous = NULL;
    int fd = -1, local = 0;
    oc_node_t node;

    EXPECT(oc_ev_herald_socket(socket) == 0);
    EXPECT(oc_ev_register(NULL) == EINVAL);
    EXPECT(oc_ev_unregister(NULL) == EINVAL);
    EXPECT(oc_ev_unregister(&local) == EINVAL);
    EXPECT(oc_ev_set_callback(&local, OC_EV_MEMB_CLASS, membership, NULL) == EINVAL);
    EXPECT(oc_ev_activate(NULL, &fd) == EINVAL);
    EXPECT(oc_ev_handle_event(NULL) == EINVAL);
    EXPECT(oc_ev_callback_done(NULL) == EINVAL);
    EXPECT(oc_ev_callback_done(&local) == EINVAL);
    memset(&node, 0, sizeof node);
    EXPECT(oc_ev_is_my_nodeid(NULL, &node) == 0);
    oc_ev_special(NULL, OC_EV_MEMB_CLASS, 0); /* harmless */

    EXPECT(oc_ev_register(&token) == 0 && token != NULL);
    EXPECT(oc_ev_activate(token, &fd) == EINVAL); /* no callback */
    EXPECT(oc_ev_set_callback(token, (oc_ev_class_t)7, membership, NULL) == EINVAL);
    EXPECT(oc_ev_set_callback(token, OC_EV_MEMB_CLASS, membership, &previous) == 0 && previous == NULL);
    EXPECT(oc_ev_set_callback(token, OC_EV_MEMB_CLASS, NULL, &previous) == 0 && previous == membership);
    EXPECT(oc_ev_set_callback(token, OC_EV_MEMB_CLASS, membership, NULL) == 0);
    EXPECT(oc_ev_activate(token, NULL) == EINVAL);
    EXPECT(oc_ev_activate(token, &fd) == 0 && fd >= 0);
    EXPECT(oc_ev_activate(token, &fd) == EBUSY);
    EXPECT(oc_ev_handle_event(token) == 0);
    EXPECT(oc_ev_unregister(token) == 0);
    EXPECT(oc_ev_unregister(token) == EINVAL);
    EXPECT(oc_ev_handle_event(token) == EINVAL);
    return 0;
}
