/* A malloc counter loaded with LD_PRELOAD into heraldd by AllocationBudgetTests: every
 * allocation (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) is counted
 * and passed on to glibc's own allocator. On SIGUSR2 the count so far is written, as one
 * decimal line, to the file named by $HERALD_MALLOC_COUNT_FILE (write() only: safe in a
 * signal handler), so a test can read it before and after a workload; with
 * $HERALD_MALLOC_COUNT_AT_EXIT set it is also written when the process exits (for a
 * command such as `herald tail --count N` that ends by itself). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ullong allocations;
static char path[512];

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}
void free(void *pointer) { __libc_free(pointer); }
void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    void *pointer = memalign(alignment, size);
    if (!pointer) return ENOMEM;
    *out = pointer;
    return 0;
}

static void report(int signal) {
    (void)signal;
    char line[32];
    unsigned long long value = atomic_load(&allocations);
    int length = 0;
    char digits[24];
    do { digits[length++] = (char)('0' + value % 10); value /= 10; } while (value);
    for (int i = 0; i < length; i++) line[i] = digits[length - 1 - i];
    line[length] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t ignored = write(fd, line, (size_t)length + 1);
    (void)ignored;
    close(fd);
}

__attribute__((constructor)) static void install(void) {
    const char *file = getenv("HERALD_MALLOC_COUNT_FILE");
    if (!file || strlen(file) >= sizeof path) return;
    strcpy(path, file);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = report;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &action, NULL);
}

__attribute__((destructor)) static void at_exit(void) {
    if (path[0] && getenv("HERALD_MALLOC_COUNT_AT_EXIT")) report(0);
}
