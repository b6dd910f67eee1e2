// See herald_corosync.h. Corosync's types and prototypes come from corosync_abi.h (checked
// against Corosync's headers by tools/c/corosync_abi_check.c), so the build never needs them;
// the functions are looked up with dlsym when the cluster is first used.
#include "herald_corosync.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corosync_abi.h"

#define HC_POINTER(library, name, parameters) static hc_##name##_fn p_##name;
HC_COROSYNC_FUNCTIONS(HC_POINTER)

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
#define HC_LOOKUP(library, name, parameters)                                                                                       \
    p_##name = (hc_##name##_fn)dlsym(library, #name);                                                             \
    if (!p_##name) {                                                                                                   \
        snprintf(load_error, sizeof load_error, "Corosync's lib%s has no %s", #library, #name);                        \
        return;                                                                                                        \
    }
    HC_COROSYNC_FUNCTIONS(HC_LOOKUP)
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
    hc_cpg_handle handle, const hc_cpg_name *group, uint32_t nodeid, uint32_t pid, void *message, size_t length) {
    (void)group;
    void *owner = NULL;
    if (p_cpg_context_get(handle, &owner) != HC_CS_OK || !owner) return;
    cpg_owner *o = owner;
    o->deliver(o->context, nodeid, pid, message, length);
}

static void copy_members(hc_member *to, const hc_cpg_address *from, size_t count) {
    for (size_t i = 0; i < count; i++) {
        to[i].nodeid = from[i].nodeid;
        to[i].pid = from[i].pid;
        to[i].reason = from[i].reason;
    }
}

static void on_confchg(
    hc_cpg_handle handle, const hc_cpg_name *group, const hc_cpg_address *members, size_t member_count,
    const hc_cpg_address *left, size_t left_count, const hc_cpg_address *joined, size_t joined_count) {
    (void)group;
    void *owner = NULL;
    if (p_cpg_context_get(handle, &owner) != HC_CS_OK || !owner) return;
    cpg_owner *o = owner;
    hc_member m[HC_CPG_MEMBERS_MAX], l[HC_CPG_MEMBERS_MAX], j[HC_CPG_MEMBERS_MAX];
    if (member_count > HC_CPG_MEMBERS_MAX) member_count = HC_CPG_MEMBERS_MAX;
    if (left_count > HC_CPG_MEMBERS_MAX) left_count = HC_CPG_MEMBERS_MAX;
    if (joined_count > HC_CPG_MEMBERS_MAX) joined_count = HC_CPG_MEMBERS_MAX;
    copy_members(m, members, member_count);
    copy_members(l, left, left_count);
    copy_members(j, joined, joined_count);
    o->confchg(o->context, m, member_count, l, left_count, j, joined_count);
}

int hc_cpg_open(const char *group, void *context, hc_deliver_fn deliver, hc_confchg_fn confchg, uint64_t *handle) {
    HC_REQUIRE_LOADED;
    size_t length = strlen(group);
    if (length == 0 || length >= HC_CPG_MAX_NAME_LENGTH) return HC_CS_ERR_INVALID_PARAM;
    cpg_owner *owner = calloc(1, sizeof *owner);
    if (!owner) return HC_CS_ERR_NO_MEMORY;
    owner->context = context;
    owner->deliver = deliver;
    owner->confchg = confchg;
    hc_cpg_callbacks callbacks = {.deliver = on_deliver, .confchg = on_confchg};
    hc_cpg_handle h;
    hc_cs_error result = p_cpg_initialize(&h, &callbacks);
    if (result != HC_CS_OK) {
        free(owner);
        return result;
    }
    p_cpg_context_set(h, owner);
    hc_cpg_name name = {.length = (uint32_t)length};
    memcpy(name.value, group, length);
    for (int attempt = 0; attempt < 100; attempt++) {
        result = p_cpg_join(h, &name);
        if (result != HC_CS_ERR_TRY_AGAIN) break;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (result != HC_CS_OK) {
        p_cpg_finalize(h);
        free(owner);
        return result;
    }
    *handle = h;
    return HC_CS_OK;
}

int hc_cpg_fd(uint64_t handle, int *fd) {
    HC_REQUIRE_LOADED;
    return p_cpg_fd_get(handle, fd);
}

int hc_cpg_dispatch(uint64_t handle, int all) {
    HC_REQUIRE_LOADED;
    return p_cpg_dispatch(handle, all ? HC_CS_DISPATCH_ALL : HC_CS_DISPATCH_ONE_NONBLOCKING);
}

int hc_cpg_mcast(uint64_t handle, const void *message, size_t length) {
    HC_REQUIRE_LOADED;
    struct iovec iov = {.iov_base = (void *)message, .iov_len = length};
    return p_cpg_mcast_joined(handle, HC_CPG_TYPE_AGREED, &iov, 1);
}

int hc_cpg_local_nodeid(uint64_t handle, uint32_t *nodeid) {
    HC_REQUIRE_LOADED;
    unsigned int id = 0;
    hc_cs_error result = p_cpg_local_get(handle, &id);
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
    hc_cs_error result = p_cpg_finalize(handle);
    free(owner);
    return result;
}

typedef struct {
    void *context;
    hc_quorum_fn notify;
} quorum_owner;

static void on_quorum(hc_quorum_handle handle, uint32_t quorate, uint64_t ring_seq, uint32_t count, uint32_t *nodes) {
    void *owner = NULL;
    if (p_quorum_context_get(handle, (const void **)&owner) != HC_CS_OK || !owner) return;
    quorum_owner *o = owner;
    o->notify(o->context, quorate, ring_seq, nodes, count);
}

int hc_quorum_open(void *context, hc_quorum_fn notify, uint64_t *handle) {
    HC_REQUIRE_LOADED;
    quorum_owner *owner = calloc(1, sizeof *owner);
    if (!owner) return HC_CS_ERR_NO_MEMORY;
    owner->context = context;
    owner->notify = notify;
    hc_quorum_callbacks callbacks = {.notify = on_quorum};
    hc_quorum_handle h;
    uint32_t type = 0;
    hc_cs_error result = p_quorum_initialize(&h, &callbacks, &type);
    if (result != HC_CS_OK) {
        free(owner);
        return result;
    }
    p_quorum_context_set(h, owner);
    result = p_quorum_trackstart(h, HC_CS_TRACK_CHANGES);
    if (result != HC_CS_OK) {
        p_quorum_finalize(h);
        free(owner);
        return result;
    }
    *handle = h;
    return HC_CS_OK;
}

int hc_quorum_fd(uint64_t handle, int *fd) {
    HC_REQUIRE_LOADED;
    return p_quorum_fd_get(handle, fd);
}

int hc_quorum_dispatch(uint64_t handle) {
    HC_REQUIRE_LOADED;
    return p_quorum_dispatch(handle, HC_CS_DISPATCH_ALL);
}

int hc_quorum_quorate(uint64_t handle, int *quorate) {
    HC_REQUIRE_LOADED;
    return p_quorum_getquorate(handle, quorate);
}

int hc_quorum_close(uint64_t handle) {
    HC_REQUIRE_LOADED;
    void *owner = NULL;
    p_quorum_context_get(handle, (const void **)&owner);
    hc_cs_error result = p_quorum_finalize(handle);
    free(owner);
    return result;
}

int hc_cmap_open(uint64_t *handle) {
    HC_REQUIRE_LOADED;
    hc_cmap_handle h;
    hc_cs_error result = p_cmap_initialize(&h);
    if (result == HC_CS_OK) *handle = h;
    return result;
}

int hc_cmap_open_stats(uint64_t *handle) {
    HC_REQUIRE_LOADED;
    hc_cmap_handle h;
    hc_cs_error result = p_cmap_initialize_map(&h, HC_CMAP_MAP_STATS);
    if (result == HC_CS_OK) *handle = h;
    return result;
}

int hc_cmap_get_string(uint64_t handle, const char *key, char *buffer, size_t length) {
    HC_REQUIRE_LOADED;
    char *value = NULL;
    hc_cs_error result = p_cmap_get_string(handle, key, &value);
    if (result == HC_CS_OK && length > 0) {
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
