/*
 * Raw CPG throughput and latency, the limit Herald's cluster mode is measured against.
 * Run one per node (inside the node's network namespace), all with the same arguments:
 *
 *   cpg_bench GROUP MEMBERS MESSAGES SIZE [RATE [EXPECTED]]
 *
 * Joins GROUP, waits until MEMBERS processes are in it, multicasts MESSAGES messages of
 * SIZE bytes with CPG_TYPE_AGREED (waiting out CS_ERR_TRY_AGAIN), and counts deliveries
 * until MEMBERS * MESSAGES arrived (or EXPECTED: one sender, the others with MESSAGES 0).
 * With RATE (> 0), sends at RATE messages/s instead of as fast as possible. Every message
 * carries its send time (CLOCK_MONOTONIC, the same clock on every namespace of one
 * machine; when paced, the time it was due, so a late send counts its wait), and delivery
 * latency is measured over every message.
 * Prints: "messages=N seconds=S msgs_per_s=R mb_per_s=M p50_us=A p99_us=B".
 */
#define _DEFAULT_SOURCE
#include <corosync/cpg.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int members;
static uint64_t delivered, expected;
static uint64_t *latencies;
static uint64_t first_send, last_delivery;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t node, uint32_t pid, void *msg, size_t len)
{
    (void)h, (void)g, (void)node, (void)pid;
    uint64_t sent;
    if (len < sizeof sent) return;
    memcpy(&sent, msg, sizeof sent);
    uint64_t now = now_ns();
    if (delivered < expected) latencies[delivered] = now - sent;
    delivered++;
    last_delivery = now;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *m, size_t nm,
                       const struct cpg_address *l, size_t nl, const struct cpg_address *j, size_t nj)
{
    (void)h, (void)g, (void)m, (void)l, (void)nl, (void)j, (void)nj;
    members = (int)nm;
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: cpg_bench GROUP MEMBERS MESSAGES SIZE [RATE [EXPECTED]]\n");
        return 64;
    }
    int wanted = atoi(argv[2]);
    uint64_t count = strtoull(argv[3], NULL, 10);
    size_t size = strtoull(argv[4], NULL, 10);
    double rate = argc > 5 ? atof(argv[5]) : 0;
    if (size < 8) size = 8;
    expected = argc > 6 ? strtoull(argv[6], NULL, 10) : count * (uint64_t)wanted;
    if (expected == 0) {
        fprintf(stderr, "cpg_bench: nothing to wait for\n");
        return 64;
    }
    latencies = calloc(expected, sizeof *latencies);
    char *message = calloc(1, size);
    cpg_callbacks_t callbacks = {on_deliver, on_confchg};
    cpg_handle_t handle;
    if (cpg_initialize(&handle, &callbacks) != CS_OK) return 2;
    struct cpg_name group;
    group.length = (uint32_t)strlen(argv[1]);
    memcpy(group.value, argv[1], group.length);
    cs_error_t rc;
    while ((rc = cpg_join(handle, &group)) == CS_ERR_TRY_AGAIN) usleep(10000);
    if (rc != CS_OK) return 3;
    int fd;
    cpg_fd_get(handle, &fd);
    while (members < wanted) {
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 100);
        cpg_dispatch(handle, CS_DISPATCH_ALL);
    }
    usleep(500000); /* every member has seen the full group */
    cpg_dispatch(handle, CS_DISPATCH_ALL);
    first_send = now_ns();
    uint64_t sent = 0;
    while (sent < count || delivered < expected) {
        if (sent < count) {
            uint64_t due = 0;
            if (rate > 0) {
                due = first_send + (uint64_t)((double)sent / rate * 1e9);
                if (now_ns() < due) {
                    struct pollfd p = {fd, POLLIN, 0};
                    poll(&p, 1, 0);
                    cpg_dispatch(handle, CS_DISPATCH_ALL);
                    continue;
                }
            }
            uint64_t stamp = rate > 0 ? due : now_ns();
            memcpy(message, &stamp, sizeof stamp);
            struct iovec iov = {message, size};
            rc = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
            if (rc == CS_OK) {
                sent++;
            } else if (rc != CS_ERR_TRY_AGAIN) {
                fprintf(stderr, "cpg_mcast_joined: %d\n", rc);
                return 4;
            }
            /* Take what has arrived (non-blocking) after every send, so that deliveries
             * never back up behind the sender. */
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 0) > 0 || rc == CS_ERR_TRY_AGAIN) cpg_dispatch(handle, CS_DISPATCH_ALL);
        } else {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 10000) <= 0) {
                fprintf(stderr, "timed out with %llu of %llu delivered\n", (unsigned long long)delivered,
                        (unsigned long long)expected);
                return 5;
            }
            cpg_dispatch(handle, CS_DISPATCH_ALL);
        }
    }
    double seconds = (double)(last_delivery - first_send) / 1e9;
    qsort(latencies, expected, sizeof *latencies, compare);
    printf("messages=%llu seconds=%.3f msgs_per_s=%.0f mb_per_s=%.1f p50_us=%.0f p99_us=%.0f\n",
           (unsigned long long)expected, seconds, (double)expected / seconds,
           (double)expected * (double)size / seconds / 1e6, (double)latencies[expected / 2] / 1e3,
           (double)latencies[expected * 99 / 100] / 1e3);
    cpg_leave(handle, &group);
    cpg_finalize(handle);
    return 0;
}
