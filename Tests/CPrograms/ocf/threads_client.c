/*
 * Threads: one thread blocks in oc_ev_handle_event (NORETURN); the callback hands each
 * cookie to a worker thread that completes it a little later; the main thread waits for
 * N events and unregisters from outside, which ends the blocked oc_ev_handle_event.
 * Checks that the next event never comes before the previous one is done and that the
 * events arrive once each, in order.
 *
 *   threads_client N
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ocf/oc_event.h>

static oc_ev_t *handle;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static const unsigned int *pending_cookie;
/* delivered: an event was handed to on_group; done_called: its oc_ev_callback_done has been
 * entered. A delivery while the previous one's done was not even called is an overlap. */
static int delivered, done_called, events, overlaps, out_of_order, wanted, stop;
static unsigned long long last_sequence;

static void on_group(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data)
{
    oc_ev_herald_info_t info;
    (void)event;
    (void)size;
    (void)data;
    oc_ev_herald_event_info(cookie, &info);
    pthread_mutex_lock(&lock);
    if (delivered && !done_called) overlaps++;
    if (info.i_sequence <= last_sequence) out_of_order++;
    last_sequence = info.i_sequence;
    delivered = 1;
    done_called = 0;
    pending_cookie = cookie;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

/* Completes each cookie from this thread, 1 ms after it arrived. */
static void *completer(void *unused)
{
    struct timespec delay = {0, 1000000};
    (void)unused;
    pthread_mutex_lock(&lock);
    while (!stop) {
        const unsigned int *cookie;
        while (pending_cookie == NULL && !stop) pthread_cond_wait(&changed, &lock);
        if (stop) break;
        cookie = pending_cookie;
        pending_cookie = NULL;
        pthread_mutex_unlock(&lock);
        nanosleep(&delay, NULL);
        pthread_mutex_lock(&lock);
        /* Marked just before the call (not after it returns: the next event may rightly
         * arrive while it runs), so an event delivered any earlier counts as an overlap. */
        done_called = 1;
        events++;
        pthread_mutex_unlock(&lock);
        oc_ev_callback_done(cookie);
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&changed);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *dispatcher(void *result)
{
    *(int *)result = oc_ev_handle_event(handle);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t dispatch_thread, completer_thread;
    int dispatch_result = -2;
    wanted = argc > 1 ? atoi(argv[1]) : 10;
    handle = oc_ev_register();
    if (handle == NULL) return 2;
    if (oc_ev_set_callback(handle, OC_EV_PRIO_MED, OC_EV_GROUP_CLASS, on_group) != OC_SUCCESS) return 3;
    if (oc_ev_activate(handle, OC_EV_AS_NORETURN, NULL) != OC_SUCCESS) return 4;
    pthread_create(&completer_thread, NULL, completer, NULL);
    pthread_create(&dispatch_thread, NULL, dispatcher, &dispatch_result);
    printf("READY\n");
    fflush(stdout);
    pthread_mutex_lock(&lock);
    while (events < wanted) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    /* From this thread, while another is blocked inside oc_ev_handle_event. */
    if (oc_ev_unregister(handle) != OC_SUCCESS) return 5;
    pthread_join(dispatch_thread, NULL);
    pthread_mutex_lock(&lock);
    stop = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    pthread_join(completer_thread, NULL);
    printf("DONE %d overlaps=%d out_of_order=%d handle_event=%d\n", events, overlaps, out_of_order, dispatch_result);
    return 0;
}
