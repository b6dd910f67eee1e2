/*
 * A durable OCF subscriber of the kill soak (issue 20, part 1): durable name NAME, starting
 * at its cursor, GROUP events through GET_FD; for every CAST on channel "soak" it prints
 * "<sequence> <event id> <R|-> <data>" (the same line as `herald tail --format text`), then
 * completes it. JOIN and LEAVE events and other channels' events are completed unprinted.
 * Exits 1 when heraldd goes away: the soak restarts it.
 *
 *   soak_subscriber NAME
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <ocf/oc_event.h>

static void on_group(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data)
{
    const oc_ev_group_t *group = data;
    oc_ev_herald_info_t info;
    (void)size;
    if (OC_EV_GET_EVENT(event) == 3 && strcmp(group->g_channel, "soak") == 0
        && oc_ev_herald_event_info(cookie, &info) == 0) {
        printf("%llu %llu %c %.*s\n", (unsigned long long)info.i_sequence, (unsigned long long)group->g_event_id,
               info.i_redelivered ? 'R' : '-', (int)group->g_data_size, (const char *)group->g_data);
        fflush(stdout);
    }
    oc_ev_callback_done(cookie);
}

int main(int argc, char **argv)
{
    int fd = -1;
    oc_ev_t *handle;
    if (argc < 2) return 64;
    handle = oc_ev_register();
    if (handle == NULL) return 1;
    if (oc_ev_set_callback(handle, OC_EV_PRIO_MED, OC_EV_GROUP_CLASS, on_group) != OC_SUCCESS) return 1;
    if (oc_ev_herald_durable(handle, argv[1], OC_EV_HERALD_START_CURSOR, 0) != 0) return 1;
    if (oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) != OC_SUCCESS) return 1;
    for (;;) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, -1) < 0) continue;
        if (oc_ev_handle_event(handle) != OC_SUCCESS) return 1;
    }
}
