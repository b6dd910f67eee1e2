/*
 * An OCF requester (Herald's group messaging): GROUP events through GET_FD, optionally
 * under a durable name (starting at its cursor); it casts one request, then prints every
 * GROUP event it receives, completing each:
 *
 *   SENT id=<event id>
 *   CAST seq=<seq> id=<id> cast=<0|1|2> sender=<session> data=<text>
 *   REPLY seq=<seq> id=<id> reply_to=<id> sender=<session> data=<text>
 *   JOIN seq=<seq> opener=<id>      LEAVE seq=<seq> opener=<id>
 *
 *   requester NAME CHANNEL TO UNTIL
 *     NAME   durable name, or - for none (then it starts now)
 *     TO     all | nodes:A,B,... | name:D | session:S | none (sends nothing)
 *     UNTIL  reply (exit 0 after its first REPLY) | data=TEXT (after a CAST with that data)
 *            | sent (exit right after sending)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ocf/oc_event.h>

static const char *until;
static int done;

static void on_group(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data)
{
    const oc_ev_group_t *group = data;
    int length = group ? (int)group->g_data_size : 0;
    const char *text = group && group->g_data ? (const char *)group->g_data : "";
    (void)size;
    switch (event) {
    case OC_EV_GS_CAST:
        printf("CAST seq=%llu id=%llu cast=%u sender=%llu data=%.*s\n", (unsigned long long)group->g_sequence,
               (unsigned long long)group->g_event_id, group->g_cast, (unsigned long long)group->g_sender, length, text);
        if (strncmp(until, "data=", 5) == 0 && strlen(until + 5) == (size_t)length &&
            memcmp(until + 5, text, (size_t)length) == 0)
            done = 1;
        break;
    case OC_EV_GS_REPLY:
        printf("REPLY seq=%llu id=%llu reply_to=%llu cast=%u sender=%llu data=%.*s\n",
               (unsigned long long)group->g_sequence, (unsigned long long)group->g_event_id,
               (unsigned long long)group->g_reply_to, group->g_cast, (unsigned long long)group->g_sender, length,
               text);
        if (strcmp(until, "reply") == 0) done = 1;
        break;
    case OC_EV_GS_JOIN:
    case OC_EV_GS_LEAVE:
        printf("%s seq=%llu opener=%llu\n", event == OC_EV_GS_JOIN ? "JOIN" : "LEAVE",
               (unsigned long long)group->g_sequence, (unsigned long long)group->g_event_id);
        break;
    default:
        printf("OTHER 0x%x\n", (unsigned)event);
    }
    fflush(stdout);
    oc_ev_callback_done(cookie);
}

/* Parses TO into an address; 0 when there is nothing to send, -1 when TO is bad. */
static int parse_to(const char *to, oc_ev_herald_address_t *address, uint32_t *nodes)
{
    memset(address, 0, sizeof *address);
    if (strcmp(to, "none") == 0) return 0;
    if (strcmp(to, "all") == 0) {
        address->a_to = OC_EV_HERALD_TO_ALL;
    } else if (strncmp(to, "nodes:", 6) == 0) {
        char *next = (char *)to + 6;
        address->a_to = OC_EV_HERALD_TO_NODES;
        address->a_nodes = nodes;
        while (*next && address->a_n_nodes < 16) {
            nodes[address->a_n_nodes++] = (uint32_t)strtoul(next, &next, 10);
            if (*next == ',') next++;
        }
    } else if (strncmp(to, "name:", 5) == 0) {
        address->a_to = OC_EV_HERALD_TO_NAME;
        address->a_name = to + 5;
    } else if (strncmp(to, "session:", 8) == 0) {
        address->a_to = OC_EV_HERALD_TO_SESSION;
        address->a_session = strtoull(to + 8, NULL, 10);
    } else {
        return -1;
    }
    return 1;
}

int main(int argc, char **argv)
{
    oc_ev_herald_address_t address;
    uint32_t nodes[16];
    uint64_t id = 0;
    int fd = -1, send;
    oc_ev_t *handle;
    char request[64];
    if (argc != 5) return 1;
    until = argv[4];
    send = parse_to(argv[3], &address, nodes);
    if (send < 0) return 1;
    handle = oc_ev_register();
    if (handle == NULL) return 2;
    if (oc_ev_set_callback(handle, OC_EV_PRIO_MED, OC_EV_GROUP_CLASS, on_group) != OC_SUCCESS) return 3;
    if (strcmp(argv[1], "-") != 0 && oc_ev_herald_durable(handle, argv[1], OC_EV_HERALD_START_CURSOR, 0) != 0)
        return 4;
    if (oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) != OC_SUCCESS) return 5;
    if (send) {
        snprintf(request, sizeof request, "request-%s", argv[1]);
        if (oc_ev_herald_cast(handle, argv[2], &address, 0, request, strlen(request), &id) != 0) {
            printf("cast failed: %s\n", strerror(errno));
            return 6;
        }
        printf("SENT id=%llu\n", (unsigned long long)id);
        fflush(stdout);
        if (strcmp(until, "sent") == 0) return 0;
    }
    while (!done) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, 30000) <= 0) return 7;
        if (oc_ev_handle_event(handle) != OC_SUCCESS) return 8;
    }
    oc_ev_unregister(handle);
    return 0;
}
