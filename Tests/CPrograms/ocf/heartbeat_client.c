/*
 * A heartbeat-style membership client, written the way Linux-HA's ccm clients are:
 * register, a MEMB callback, oc_ev_special, activate, a select() loop around
 * oc_ev_handle_event, and the cookie of each event completed only when the next one
 * arrives. Prints every field of each membership.
 *
 *   heartbeat_client N     (exits after N membership events)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <ocf/oc_event.h>

extern void oc_ev_special(const oc_ev_t *, oc_ev_class_t, int);

static oc_ev_t *ev_token;
static void *previous_cookie;
static int events;

static const char *name_of(oc_ed_t event)
{
    switch (event) {
    case OC_EV_MS_NEW_MEMBERSHIP: return "NEW_MEMBERSHIP";
    case OC_EV_MS_NOT_PRIMARY: return "NOT_PRIMARY";
    case OC_EV_MS_PRIMARY_RESTORED: return "PRIMARY_RESTORED";
    case OC_EV_MS_EVICTED: return "EVICTED";
    case OC_EV_MS_INVALID: return "INVALID";
    default: return "?";
    }
}

static void print_nodes(const char *label, const oc_ev_membership_t *m, unsigned int index, unsigned int count)
{
    unsigned int i;
    for (i = 0; i < count; i++) {
        const oc_node_t *node = &m->m_array[index + i];
        printf(" %s=%s/%u/%u%s", label, node->node_uname, node->node_id, node->node_born_on,
               oc_ev_is_my_nodeid(ev_token, node) ? "/me" : "");
    }
}

static void membership(oc_ed_t event, void *cookie, size_t size, const void *data)
{
    const oc_ev_membership_t *m = data;
    int rc;
    /* The previous event's data stayed valid until now. */
    if (previous_cookie != NULL && (rc = oc_ev_callback_done(previous_cookie)) != 0)
        printf("callback_done(previous) failed: %d\n", rc);
    previous_cookie = cookie;
    events++;
    printf("event=%s size=%zu", name_of(event), size);
    if (m != NULL) {
        printf(" instance=%u n_member=%u memb_idx=%u n_out=%u out_idx=%u n_in=%u in_idx=%u", m->m_instance,
               m->m_n_member, m->m_memb_idx, m->m_n_out, m->m_out_idx, m->m_n_in, m->m_in_idx);
        print_nodes("member", m, m->m_memb_idx, m->m_n_member);
        print_nodes("out", m, m->m_out_idx, m->m_n_out);
        print_nodes("in", m, m->m_in_idx, m->m_n_in);
    } else {
        printf(" data=NULL");
    }
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int wanted = argc > 1 ? atoi(argv[1]) : 1;
    int fd = -1, rc;
    oc_ev_callback_t *previous = NULL;

    if ((rc = oc_ev_register(&ev_token)) != 0) {
        printf("register failed: %s\n", strerror(rc));
        return 2;
    }
    if ((rc = oc_ev_set_callback(ev_token, OC_EV_MEMB_CLASS, membership, &previous)) != 0 || previous != NULL) {
        printf("set_callback failed: %d\n", rc);
        return 3;
    }
    /* Setting it again returns the previous function. */
    if (oc_ev_set_callback(ev_token, OC_EV_MEMB_CLASS, membership, &previous) != 0 || previous != membership) {
        printf("prev_fn not returned\n");
        return 3;
    }
    if (argc > 2 && strcmp(argv[2], "special") == 0) oc_ev_special(ev_token, OC_EV_MEMB_CLASS, 0);
    if ((rc = oc_ev_activate(ev_token, &fd)) != 0) {
        printf("activate failed: %s\n", strerror(rc));
        return 4;
    }
    {
        /* The current membership is pending right after activation. */
        fd_set set;
        struct timeval zero = {0, 0};
        FD_ZERO(&set);
        FD_SET(fd, &set);
        printf("readable-at-activation=%d\n", select(fd + 1, &set, NULL, NULL, &zero) == 1);
        printf("READY\n");
        fflush(stdout);
    }
    while (events < wanted) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        if (select(fd + 1, &set, NULL, NULL, NULL) < 0) {
            if (errno == EINTR) continue;
            return 5;
        }
        if ((rc = oc_ev_handle_event(ev_token)) != 0) {
            printf("handle_event: %s\n", strerror(rc));
            return 6;
        }
    }
    if (previous_cookie != NULL) oc_ev_callback_done(previous_cookie);
    if ((rc = oc_ev_unregister(ev_token)) != 0) return 7;
    /* The token is gone: a second unregister is an error, not a crash. */
    printf("second-unregister=%s\n", oc_ev_unregister(ev_token) == EINVAL ? "EINVAL" : "?");
    printf("DONE %d\n", events);
    return 0;
}
