/*
 * The OCF draft's example client with its "..." filled in: callbacks for all three
 * classes at several priorities, activated in the style named on the command line
 * (noreturn | fd | signal), printing one line per callback, until N events arrived.
 *
 *   draft_client STYLE N
 *
 * Every event's lowest-priority callback keeps its cookie and completes it only after
 * oc_ev_handle_event returns (outside the callback), as the draft allows; in the
 * NORETURN style the N-th event's callback unregisters from inside the callback.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <ocf/oc_event.h>

static oc_ev_t *handle;
static int wanted;
static int received;
static int noreturn_style;
static const unsigned int *deferred[8];
static int n_deferred;
static volatile sig_atomic_t signalled;

static void print_payload(oc_ed_t event, size_t size, const void *data)
{
    unsigned int cls = OC_EV_GET_CLASS(event);
    if (cls == OC_EV_MEMB_CLASS && data != NULL) {
        const oc_ev_membership_t *m = data;
        unsigned int i;
        printf(" instance=%u members=%u out=%u in=%u size=%zu", m->m_instance, m->m_n_member, m->m_n_out,
               m->m_n_in, size);
        for (i = 0; i < m->m_n_member; i++)
            printf(" member=%s/%u/%u", m->m_array[m->m_memb_idx + i].node_uname,
                   m->m_array[m->m_memb_idx + i].node_id, m->m_array[m->m_memb_idx + i].node_born_on);
    } else if (cls == OC_EV_COMM_CLASS && data != NULL) {
        const oc_ev_connect_t *c = data;
        printf(" change=%u up=%u node=%s/%u link=%s", c->c_change, c->c_up, c->c_node_uname, c->c_node_id,
               c->c_link);
    } else if (cls == OC_EV_GROUP_CLASS && data != NULL) {
        const oc_ev_group_t *g = data;
        printf(" channel=%s id=%llu patterns=%u data=%.*s", g->g_channel, (unsigned long long)g->g_event_id,
               g->g_n_patterns, (int)g->g_data_size, OC_EV_GET_EVENT(event) == 3 ? (const char *)g->g_data : "");
    }
}

static void report(const char *name, oc_ed_t event, const unsigned int *cookie, size_t size, const void *data)
{
    oc_ev_herald_info_t info;
    oc_ev_herald_event_info(cookie, &info);
    printf("%s class=%u event=%u seq=%llu", name, OC_EV_GET_CLASS(event), OC_EV_GET_EVENT(event),
           (unsigned long long)info.i_sequence);
    print_payload(event, size, data);
    printf("\n");
    fflush(stdout);
}

/* The first (highest priority) callback of each class completes its cookie at once. */
static void memb_high(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { report("memb-high", e, c, s, d); oc_ev_callback_done(c); }
static void comm_med(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { report("comm-med", e, c, s, d); oc_ev_callback_done(c); }
static void group_high(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { report("group-high", e, c, s, d); oc_ev_callback_done(c); }

/* The last callback of each event: counts it, defers its cookie. */
static void last(const char *name, oc_ed_t e, const unsigned int *c, size_t s, const void *d)
{
    report(name, e, c, s, d);
    received++;
    if (noreturn_style) {
        oc_ev_callback_done(c);
        if (received == wanted && oc_ev_unregister(handle) != OC_SUCCESS) printf("unregister failed\n");
    } else {
        deferred[n_deferred++] = c;
    }
}
static void memb_low(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { last("memb-low", e, c, s, d); }
static void comm_low(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { last("comm-low", e, c, s, d); }
static void group_low(oc_ed_t e, const unsigned int *c, size_t s, const void *d) { last("group-low", e, c, s, d); }

static void on_signal(int sig) { (void)sig; signalled = 1; }

static void complete_deferred(void)
{
    int i;
    for (i = 0; i < n_deferred; i++) oc_ev_callback_done(deferred[i]);
    n_deferred = 0;
}

int main(int argc, char **argv)
{
    int fd = -1, sig = SIGUSR1;
    oc_ver_t version;
    const char *style = argc > 1 ? argv[1] : "fd";
    wanted = argc > 2 ? atoi(argv[2]) : 5;
    noreturn_style = strcmp(style, "noreturn") == 0;

    handle = oc_ev_register();
    if (handle == NULL) {
        printf("register failed: %s\n", strerror(errno));
        return 2;
    }
    if (oc_ev_get_version(handle, &version) != OC_SUCCESS) return 3;
    printf("version %u.%u\n", version.major, version.minor);
    if (oc_ev_set_callback(handle, OC_EV_PRIO_LOW, OC_EV_MEMB_CLASS, memb_low) != OC_SUCCESS
        || oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_MEMB_CLASS, memb_high) != OC_SUCCESS
        || oc_ev_set_callback(handle, OC_EV_PRIO_MED, OC_EV_COMM_CLASS, comm_med) != OC_SUCCESS
        || oc_ev_set_callback(handle, OC_EV_PRIO_LOW, OC_EV_COMM_CLASS, comm_low) != OC_SUCCESS
        || oc_ev_set_callback(handle, OC_EV_PRIO_LOW, OC_EV_GROUP_CLASS, group_low) != OC_SUCCESS
        || oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, group_high) != OC_SUCCESS) {
        printf("set_callback failed: %s\n", strerror(errno));
        return 4;
    }

    if (noreturn_style) {
        if (oc_ev_activate(handle, OC_EV_AS_NORETURN, NULL) != OC_SUCCESS) return 5;
        printf("READY\n");
        fflush(stdout);
        if (oc_ev_handle_event(handle) != OC_SUCCESS) {
            printf("handle_event failed: %s\n", strerror(errno));
            return 6;
        }
        printf("DONE %d\n", received);
        return 0;
    }

    if (strcmp(style, "signal") == 0) {
        struct sigaction action;
        sigset_t blocked, old;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_signal;
        sigaction(sig, &action, NULL);
        sigemptyset(&blocked);
        sigaddset(&blocked, sig);
        sigprocmask(SIG_BLOCK, &blocked, &old);
        sigdelset(&old, sig); /* the parent may have left it blocked */
        if (oc_ev_activate(handle, OC_EV_AS_SIGNAL, &sig) != OC_SUCCESS) return 5;
        printf("READY\n");
        fflush(stdout);
        while (received < wanted) {
            while (!signalled) sigsuspend(&old);
            signalled = 0;
            sigprocmask(SIG_SETMASK, &old, NULL);
            /* Completing the deferred cookie makes the next event pending: that raises
             * the signal again, so the loop comes back for it. */
            if (oc_ev_handle_event(handle) != OC_SUCCESS) return 6;
            complete_deferred();
            sigprocmask(SIG_BLOCK, &blocked, NULL);
        }
        printf("signals ok\n");
    } else {
        if (oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) != OC_SUCCESS) return 5;
        printf("READY fd=%d\n", fd >= 0);
        fflush(stdout);
        while (received < wanted) {
            fd_set set;
            FD_ZERO(&set);
            FD_SET(fd, &set);
            if (select(fd + 1, &set, NULL, NULL, NULL) < 0 && errno != EINTR) return 7;
            if (oc_ev_handle_event(handle) != OC_SUCCESS) {
                printf("handle_event failed: %s\n", strerror(errno));
                return 6;
            }
            complete_deferred();
        }
    }
    complete_deferred();
    if (oc_ev_unregister(handle) != OC_SUCCESS) return 8;
    printf("DONE %d\n", received);
    return 0;
}
