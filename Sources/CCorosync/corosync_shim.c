// See herald_corosync.h. Built with Corosync's headers when they are installed (types and
// prototypes only: the functions are looked up with dlsym), as stubs otherwise.
#include "herald_corosync.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<corosync/cpg.h>) && __has_include(<corosync/quorum.h>) && __has_include(<corosync/cmap.h>)
#define HC_HAVE_COROSYNC 1
#include <corosync/cmap.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <sys/uio.h>
#endif

#ifdef HC_HAVE_COROSYNC

#define HC_FUNCTIONS(X)                                                                                                \
    X(cpg, cpg_initialize)                                                                                             \
    X(cpg, cpg_finalize)                                                                                               \
    X(cpg, cpg_join)                                                                                                   \
    X(cpg, cpg_fd_get)                                                                                                 \
    X(cpg, cpg_dispatch)                                                                                               \
    X(cpg, cpg_mcast_joined)                                                                                           \
    X(cpg, cpg_local_get)                                                                                              \
    X(cpg, cpg_context_set)                                                                                            \
    X(cpg, cpg_context_get)                                                                                            \
    X(cpg, cpg_max_atomic_msgsize_get)                                                                                 \
    X(quorum, quorum_initialize)                                                                                       \
    X(quorum, quorum_finalize)                                                                                         \
    X(quorum, quorum_fd_get)                                                                                           \
    X(quorum, quorum_dispatch)                                                                                         \
    X(quorum, quorum_getquorate)                                                                                       \
    X(quorum, quorum_trackstart)                                                                                       \
    X(quorum, quorum_context_set)                                                                                      \
    X(quorum, quorum_context_get)                                                                                      \
    X(cmap, cmap_initialize)                                                                                           \
    X(cmap, cmap_initialize_map)                                                                                       \
    X(cmap, cmap_finalize)                                                                                             \
    X(cmap, cmap_get_string)                                                                                           \
    X(cmap, cmap_get_uint32)                                                                                           \
    X(cmap, cmap_get_uint8)

#define HC_POINTER(library, name) static __typeof__(name) *p_##name;
HC_FUNCTIONS(HC_POINTER)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256];

static void load(void) {
    void *cpg = dlopen("libcpg.so.4", RTLD_NOW | RTLD_LOCAL);
    void *quorum = dlopen("libquorum.so.5", RTLD_NOW | RTLD_LOCAL);
    void *cmap = dlopen("libcmap.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!cpg || !quorum || !cmap) {
        snprintf(load_error, sizeof load_error, "cannot load Corosync's libraries: %s", dlerror());
        return;
    }
#define HC_LOOKUP(library, name)                                                                                       \
    p_##name = (__typeof__(name) *)dlsym(library, #name);                                                             \
    if (!p_##name) {                                                                                                   \
        snprintf(load_error, sizeof load_error, "Corosync's lib%s has no %s", #library, #name);                        \
        return;                                                                                                        \
    }
    HC_FUNCTIONS(HC_LOOKUP)
    loaded = 1;
}

int hc_load(char *error, size_t error_length) {
    pthread_once(&load_once, load);
    if (!loaded && error && error_length) snprintf(error, error_length, "%s", load_error);
    return loaded ? HC_OK : HC_ERR_UNAVAILABLE;
}

#define HC_REQUIRE_LOADED                                                                                              \
    if (hc_load(NULL, 0) != HC_OK) return HC_ERR_UNAVAILABLE

// One per CPG handle: Swift's context and callbacks (C callbacks cannot capture).
typedef struct {
    void *context;
    hc_deliver_fn deliver;
    hc_confchg_fn confchg;
} cpg_owner;

static void on_deliver(
    cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid, uint32_t pid, void *message, size_t length) {
    (void)group;
    void *owner = NULL;
    if (p_cpg_context_get(handle, &owner) != CS_OK || !owner) return;
    cpg_owner *o = owner;
    o->deliver(o->context, nodeid, pid, message, length);
}

static void copy_members(hc_member *to, const struct cpg_address *from, size_t count) {
    for (size_t i = 0; i < count; i++) {
        to[i].nodeid = from[i].nodeid;
        to[i].pid = from[i].pid;
        to[i].reason = from[i].reason;
    }
}

static void on_confchg(
    cpg_handle_t handle, const struct cpg_name *group, const struct cpg_address *members, size_t member_count,
    const struct cpg_address *left, size_t left_count, const struct cpg_address *joined, size_t joined_count) {
    (void)group;
    void *owner = NULL;
    if (p_cpg_context_get(handle, &owner) != CS_OK || !owner) return;
    cpg_owner *o = owner;
    hc_member m[CPG_MEMBERS_MAX], l[CPG_MEMBERS_MAX], j[CPG_MEMBERS_MAX];
    if (member_count > CPG_MEMBERS_MAX) member_count = CPG_MEMBERS_MAX;
    if (left_count > CPG_MEMBERS_MAX) left_count = CPG_MEMBERS_MAX;
    if (joined_count > CPG_MEMBERS_MAX) joined_count = CPG_MEMBERS_MAX;
    copy_members(m, members, member_count);
    copy_members(l, left, left_count);
    copy_members(j, joined, joined_count);
    o->confchg(o->context, m, member_count, l, left_count, j, joined_count);
}

int hc_cpg_open(const char *group, void *context, hc_deliver_fn deliver, hc_confchg_fn confchg, uint64_t *handle) {
    HC_REQUIRE_LOADED;
    size_t length = strlen(group);
    if (length == 0 || length >= CPG_MAX_NAME_LENGTH) return CS_ERR_INVALID_PARAM;
    cpg_owner *owner = calloc(1, sizeof *owner);
    if (!owner) return CS_ERR_NO_MEMORY;
    owner->context = context;
    owner->deliver = deliver;
    owner->confchg = confchg;
    cpg_callbacks_t callbacks = {.cpg_deliver_fn = on_deliver, .cpg_confchg_fn = on_confchg};
    cpg_handle_t h;
    cs_error_t result = p_cpg_initialize(&h, &callbacks);
    if (result != CS_OK) {
        free(owner);
        return result;
    }
    p_cpg_context_set(h, owner);
    struct cpg_name name = {.length = (uint32_t)length};
    memcpy(name.value, group, length);
    for (int attempt = 0; attempt < 100; attempt++) {
        result = p_cpg_join(h, &name);
        if (result != CS_ERR_TRY_AGAIN) break;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (result != CS_OK) {
        p_cpg_finalize(h);
        free(owner);
        return result;
    }
    *handle = h;
    return CS_OK;
}

int hc_cpg_fd(uint64_t handle, int *fd) {
    HC_REQUIRE_LOADED;
    return p_cpg_fd_get(handle, fd);
}

int hc_cpg_dispatch(uint64_t handle, int all) {
    HC_REQUIRE_LOADED;
    return p_cpg_dispatch(handle, all ? CS_DISPATCH_ALL : CS_DISPATCH_ONE_NONBLOCKING);
}

int hc_cpg_mcast(uint64_t handle, const void *message, size_t length) {
    HC_REQUIRE_LOADED;
    struct iovec iov = {.iov_base = (void *)message, .iov_len = length};
    return p_cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
}

int hc_cpg_local_nodeid(uint64_t handle, uint32_t *nodeid) {
    HC_REQUIRE_LOADED;
    unsigned int id = 0;
    cs_error_t result = p_cpg_local_get(handle, &id);
    *nodeid = id;
    return result;
}

int hc_cpg_max_message(uint64_t handle, uint32_t *bytes) {
    HC_REQUIRE_LOADED;
    return p_cpg_max_atomic_msgsize_get(handle, bytes);
}

int hc_cpg_close(uint64_t handle) {
    HC_REQUIRE_LOADED;
    void *owner = NULL;
    p_cpg_context_get(handle, &owner);
    cs_error_t result = p_cpg_finalize(handle);
    free(owner);
    return result;
}

typedef struct {
    void *context;
    hc_quorum_fn notify;
} quorum_owner;

static void on_quorum(quorum_handle_t handle, uint32_t quorate, uint64_t ring_seq, uint32_t count, uint32_t *nodes) {
    void *owner = NULL;
    if (p_quorum_context_get(handle, (const void **)&owner) != CS_OK || !owner) return;
    quorum_owner *o = owner;
    o->notify(o->context, quorate, ring_seq, nodes, count);
}

int hc_quorum_open(void *context, hc_quorum_fn notify, uint64_t *handle) {
    HC_REQUIRE_LOADED;
    quorum_owner *owner = calloc(1, sizeof *owner);
    if (!owner) return CS_ERR_NO_MEMORY;
    owner->context = context;
    owner->notify = notify;
    quorum_callbacks_t callbacks = {.quorum_notify_fn = on_quorum};
    quorum_handle_t h;
    uint32_t type = 0;
    cs_error_t result = p_quorum_initialize(&h, &callbacks, &type);
    if (result != CS_OK) {
        free(owner);
        return result;
    }
    p_quorum_context_set(h, owner);
    result = p_quorum_trackstart(h, CS_TRACK_CHANGES);
    if (result != CS_OK) {
        p_quorum_finalize(h);
        free(owner);
        return result;
    }
    *handle = h;
    return CS_OK;
}

int hc_quorum_fd(uint64_t handle, int *fd) {
    HC_REQUIRE_LOADED;
    return p_quorum_fd_get(handle, fd);
}

int hc_quorum_dispatch(uint64_t handle) {
    HC_REQUIRE_LOADED;
    return p_quorum_dispatch(handle, CS_DISPATCH_ALL);
}

int hc_quorum_quorate(uint64_t handle, int *quorate) {
    HC_REQUIRE_LOADED;
    return p_quorum_getquorate(handle, quorate);
}

int hc_quorum_close(uint64_t handle) {
    HC_REQUIRE_LOADED;
    void *owner = NULL;
    p_quorum_context_get(handle, (const void **)&owner);
    cs_error_t result = p_quorum_finalize(handle);
    free(owner);
    return result;
}

int hc_cmap_open(uint64_t *handle) {
    HC_REQUIRE_LOADED;
    cmap_handle_t h;
    cs_error_t result = p_cmap_initialize(&h);
    if (result == CS_OK) *handle = h;
    return result;
}

int hc_cmap_open_stats(uint64_t *handle) {
    HC_REQUIRE_LOADED;
    cmap_handle_t h;
    cs_error_t result = p_cmap_initialize_map(&h, CMAP_MAP_STATS);
    if (result == CS_OK) *handle = h;
    return result;
}

int hc_cmap_get_string(uint64_t handle, const char *key, char *buffer, size_t length) {
    HC_REQUIRE_LOADED;
    char *value = NULL;
    cs_error_t result = p_cmap_get_string(handle, key, &value);
    if (result == CS_OK && length > 0) {
        snprintf(buffer, length, "%s", value ? value : "");
    }
    free(value);
    return result;
}

int hc_cmap_get_u32(uint64_t handle, const char *key, uint32_t *value) {
    HC_REQUIRE_LOADED;
    return p_cmap_get_uint32(handle, key, value);
}

int hc_cmap_get_u8(uint64_t handle, const char *key, uint8_t *value) {
    HC_REQUIRE_LOADED;
    return p_cmap_get_uint8(handle, key, value);
}

int hc_cmap_close(uint64_t handle) {
    HC_REQUIRE_LOADED;
    return p_cmap_finalize(handle);
}

#else  // built without Corosync's headers

int hc_load(char *error, size_t error_length) {
    if (error && error_length)
        snprintf(error, error_length, "Herald was built without Corosync's headers (libcpg-dev, libquorum-dev, libcmap-dev)");
    return HC_ERR_UNAVAILABLE;
}
int hc_cpg_open(const char *g, void *c, hc_deliver_fn d, hc_confchg_fn f, uint64_t *h) {
    (void)g, (void)c, (void)d, (void)f, (void)h;
    return HC_ERR_UNAVAILABLE;
}
int hc_cpg_fd(uint64_t h, int *fd) { (void)h, (void)fd; return HC_ERR_UNAVAILABLE; }
int hc_cpg_dispatch(uint64_t h, int all) { (void)h, (void)all; return HC_ERR_UNAVAILABLE; }
int hc_cpg_mcast(uint64_t h, const void *m, size_t l) { (void)h, (void)m, (void)l; return HC_ERR_UNAVAILABLE; }
int hc_cpg_local_nodeid(uint64_t h, uint32_t *n) { (void)h, (void)n; return HC_ERR_UNAVAILABLE; }
int hc_cpg_max_message(uint64_t h, uint32_t *b) { (void)h, (void)b; return HC_ERR_UNAVAILABLE; }
int hc_cpg_close(uint64_t h) { (void)h; return HC_ERR_UNAVAILABLE; }
int hc_quorum_open(void *c, hc_quorum_fn n, uint64_t *h) { (void)c, (void)n, (void)h; return HC_ERR_UNAVAILABLE; }
int hc_quorum_fd(uint64_t h, int *fd) { (void)h, (void)fd; return HC_ERR_UNAVAILABLE; }
int hc_quorum_dispatch(uint64_t h) { (void)h; return HC_ERR_UNAVAILABLE; }
int hc_quorum_quorate(uint64_t h, int *q) { (void)h, (void)q; return HC_ERR_UNAVAILABLE; }
int hc_quorum_close(uint64_t h) { (void)h; return HC_ERR_UNAVAILABLE; }
int hc_cmap_open(uint64_t *h) { (void)h; return HC_ERR_UNAVAILABLE; }
int hc_cmap_open_stats(uint64_t *h) { (void)h; return HC_ERR_UNAVAILABLE; }
int hc_cmap_get_string(uint64_t h, const char *k, char *b, size_t l) {
    (void)h, (void)k, (void)b, (void)l;
    return HC_ERR_UNAVAILABLE;
}
int hc_cmap_get_u32(uint64_t h, const char *k, uint32_t *v) { (void)h, (void)k, (void)v; return HC_ERR_UNAVAILABLE; }
int hc_cmap_get_u8(uint64_t h, const char *k, uint8_t *v) { (void)h, (void)k, (void)v; return HC_ERR_UNAVAILABLE; }
int hc_cmap_close(uint64_t h) { (void)h; return HC_ERR_UNAVAILABLE; }

#endif
