/*
 * The C side of `tools/bench ocf`: an OCF draft client (GET_FD, one GROUP callback that
 * completes each event at once) counting N published events.
 *
 *   ocf_bench throughput N   prints "RESULT n first_ns last_ns" (CLOCK_MONOTONIC)
 *   ocf_bench replay N       the same, for N events already in the journal: a durable
 *                            handle (Herald's extension) starting at the oldest event
 *   ocf_bench latency N      the events' data starts with their send time (16 hex digits,
 *                            CLOCK_MONOTONIC ns); prints "LATENCY p50_ns p99_ns"
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ocf/oc_event.h>

static long wanted, count;
static uint64_t first_ns, last_ns, *samples;
static int latency_mode;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void on_group(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data)
{
    const oc_ev_group_t *group = data;
    uint64_t now = now_ns();
    (void)size;
    if (event == OC_EV_GS_CAST && count < wanted) {
        if (count == 0) first_ns = now;
        last_ns = now;
        if (latency_mode && group->g_data_size >= 16) {
            char text[17];
            memcpy(text, group->g_data, 16);
            text[16] = 0;
            samples[count] = now - strtoull(text, NULL, 16);
        }
        count++;
    }
    oc_ev_callback_done(cookie);
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int fd = -1;
    oc_ev_t *handle;
    if (argc < 3) return 64;
    latency_mode = strcmp(argv[1], "latency") == 0;
    wanted = atol(argv[2]);
    samples = calloc((size_t)wanted, sizeof *samples);
    handle = oc_ev_register();
    if (handle == NULL || samples == NULL) return 2;
    if (oc_ev_set_callback(handle, OC_EV_PRIO_HIGH, OC_EV_GROUP_CLASS, on_group) != OC_SUCCESS) return 3;
    if (strcmp(argv[1], "replay") == 0 &&
        oc_ev_herald_durable(handle, "bench-replay", OC_EV_HERALD_START_OLDEST, 0) != OC_SUCCESS)
        return 6;
    if (oc_ev_activate(handle, OC_EV_AS_GET_FD, &fd) != OC_SUCCESS) return 4;
    printf("READY\n");
    fflush(stdout);
    while (count < wanted) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, 30000) == 0) break; /* nothing for 30 s: report what arrived */
        if (oc_ev_handle_event(handle) != OC_SUCCESS) return 5;
    }
    if (latency_mode) {
        qsort(samples, (size_t)count, sizeof *samples, compare);
        printf("LATENCY %llu %llu %ld\n", (unsigned long long)(count ? samples[count / 2] : 0),
               (unsigned long long)(count ? samples[count * 99 / 100] : 0), count);
    } else {
        printf("RESULT %ld %llu %llu\n", count, (unsigned long long)first_ns, (unsigned long long)last_ns);
    }
    oc_ev_unregister(handle);
    return 0;
}
