/*
 * A durable OCF client (Herald's extension): durable name "ledger-reader", starting at
 * its cursor, GROUP events through GET_FD. It completes every event, except that with
 * HOLD=K it completes K events, then receives the next, prints "HOLDING seq" and waits to
 * be killed without completing it.
 *
 *   durable_client N [K]   (exit after N events; K: hold after K)
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ocf/oc_event.h>

static int completed, hold_after = -1, holding;

static void on_group(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data)
{
    const oc_ev_group_t *group = data;
    oc_ev_herald_info_t info;
    (void)size;
    if (OC_EV_GET_EVENT(event) != 3) { /* joins and leaves: not ours to count */
        oc_ev_callback_done(cookie);
        return;
    }
    oc_ev_herald_event_info(cookie, &info);
    if (completed == hold_after) {
        printf("HOLDING seq=%llu\n", (unsigned long long)info.i_sequence);
        fflush(stdout);
        holding = 1;
        return;
    }
    printf("seq=%llu redelivered=%u data=%.*s\n", (unsigned long long)info.i_sequence, info.i_redelivered,
           (int)group->g_data_size, (const char *)group->g_data);
    fflush(stdout);
    oc_ev_callback_done(cookie);
    completed++;
}

int main(int argc, char **argv)
{
    int wanted = argc > 1 ? atoi(argv[1]) : 1;
    int fd = -1;
    oc_ev_t *handle;
    if (argc > 2) hold_after = atoi(argv[2]);
    handle = oc_ev_register();
    if (handle == NULL) return 2;
    if (oc_ev_set_callback(handle, OC_EV_PRIO_MED, OC_EV_GROUP_CLASS, on_group) != OC_SUCCESS) return 3;
    if (oc_ev_herald_durable(handle, "ledger-reader", OC_EV_HERALD_START_CURSOR, 0) != 0) return 4;
    if (oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) != OC_SUCCESS) return 5;
    while (completed < wanted) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        if (holding) {
            pause();
            continue;
        }
        if (poll(&p, 1, -1) < 0) continue;
        if (oc_ev_handle_event(handle) != OC_SUCCESS) return 6;
    }
    oc_ev_unregister(handle);
    printf("DONE %d\n", completed);
    return 0;
}
