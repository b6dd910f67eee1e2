// The part of Corosync's client ABI (libcpg.so.4, libquorum.so.5, libcmap.so.4 of Corosync 3)
// that corosync_shim.c uses, declared here so that building Herald never needs Corosync's
// headers: the libraries are loaded with dlopen at run time, and a build must not depend on
// which packages happened to be installed before it.
//
// These declarations are checked against Corosync's own headers, type by type and constant
// by constant, by tools/c/corosync_abi_check.c (run by tools/cluster-test, which installs
// the headers): compiled once with HC_ABI_USE_COROSYNC_TYPES (every function type must be
// *compatible* with the real prototype) and once without (every struct must have the real
// size and field offsets, every constant the real value).
#ifndef HERALD_COROSYNC_ABI_H
#define HERALD_COROSYNC_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define HC_CS_OK 1
#define HC_CS_ERR_TRY_AGAIN 6
#define HC_CS_ERR_INVALID_PARAM 7
#define HC_CS_ERR_NO_MEMORY 8

#define HC_CS_DISPATCH_ALL 2
#define HC_CS_DISPATCH_ONE_NONBLOCKING 4
#define HC_CS_TRACK_CHANGES 0x02

#define HC_CPG_TYPE_AGREED 2
#define HC_CPG_MAX_NAME_LENGTH 128
#define HC_CPG_MEMBERS_MAX 128

#define HC_CMAP_MAP_STATS 1

typedef uint64_t hc_cpg_handle;
typedef uint64_t hc_quorum_handle;
typedef uint64_t hc_cmap_handle;

#ifdef HC_ABI_USE_COROSYNC_TYPES
// Checking mode: the names below are Corosync's own types, so that the function types can
// be compared with the real prototypes by the compiler.
typedef cs_error_t hc_cs_error;
typedef cs_dispatch_flags_t hc_cs_dispatch_flags;
typedef cpg_guarantee_t hc_cpg_guarantee;
typedef cmap_map_t hc_cmap_map;
typedef struct cpg_name hc_cpg_name;
typedef struct cpg_address hc_cpg_address;
typedef cpg_callbacks_t hc_cpg_callbacks;
typedef quorum_callbacks_t hc_quorum_callbacks;
#else
// The enums of corotypes.h / cpg.h / cmap.h: C enums whose values fit an int.
typedef enum { hc_cs_error_placeholder_ok = HC_CS_OK } hc_cs_error;
typedef enum { hc_cs_dispatch_placeholder = HC_CS_DISPATCH_ALL } hc_cs_dispatch_flags;
typedef enum { hc_cpg_guarantee_placeholder = HC_CPG_TYPE_AGREED } hc_cpg_guarantee;
typedef enum { hc_cmap_map_placeholder = HC_CMAP_MAP_STATS } hc_cmap_map;

typedef struct hc_cpg_name {
    uint32_t length;
    char value[HC_CPG_MAX_NAME_LENGTH];
} hc_cpg_name;

typedef struct hc_cpg_address {
    uint32_t nodeid;
    uint32_t pid;
    uint32_t reason;
} hc_cpg_address;

#endif

// The callbacks Corosync calls.
typedef void (*hc_cpg_deliver_callback)(
    hc_cpg_handle handle, const hc_cpg_name *group, uint32_t nodeid, uint32_t pid, void *message, size_t length);
typedef void (*hc_cpg_confchg_callback)(
    hc_cpg_handle handle, const hc_cpg_name *group, const hc_cpg_address *members, size_t member_count,
    const hc_cpg_address *left, size_t left_count, const hc_cpg_address *joined, size_t joined_count);

typedef void (*hc_quorum_notify_callback)(
    hc_quorum_handle handle, uint32_t quorate, uint64_t ring_seq, uint32_t view_list_entries, uint32_t *view_list);

#ifndef HC_ABI_USE_COROSYNC_TYPES
typedef struct hc_cpg_callbacks {
    hc_cpg_deliver_callback deliver;
    hc_cpg_confchg_callback confchg;
} hc_cpg_callbacks;

typedef struct hc_quorum_callbacks {
    hc_quorum_notify_callback notify;
} hc_quorum_callbacks;
#endif

// The functions (library, name, parameters; every one returns cs_error_t), and their
// pointer types hc_NAME_fn for dlsym.
#define HC_COROSYNC_FUNCTIONS(X)                                                                                       \
    X(cpg, cpg_initialize, (hc_cpg_handle *, hc_cpg_callbacks *))                                                      \
    X(cpg, cpg_finalize, (hc_cpg_handle))                                                                              \
    X(cpg, cpg_join, (hc_cpg_handle, const hc_cpg_name *))                                                             \
    X(cpg, cpg_fd_get, (hc_cpg_handle, int *))                                                                         \
    X(cpg, cpg_dispatch, (hc_cpg_handle, hc_cs_dispatch_flags))                                                        \
    X(cpg, cpg_mcast_joined, (hc_cpg_handle, hc_cpg_guarantee, const struct iovec *, unsigned int))                    \
    X(cpg, cpg_local_get, (hc_cpg_handle, unsigned int *))                                                             \
    X(cpg, cpg_context_set, (hc_cpg_handle, void *))                                                                   \
    X(cpg, cpg_context_get, (hc_cpg_handle, void **))                                                                  \
    X(cpg, cpg_max_atomic_msgsize_get, (hc_cpg_handle, uint32_t *))                                                    \
    X(quorum, quorum_initialize, (hc_quorum_handle *, hc_quorum_callbacks *, uint32_t *))                              \
    X(quorum, quorum_finalize, (hc_quorum_handle))                                                                     \
    X(quorum, quorum_fd_get, (hc_quorum_handle, int *))                                                                \
    X(quorum, quorum_dispatch, (hc_quorum_handle, hc_cs_dispatch_flags))                                               \
    X(quorum, quorum_getquorate, (hc_quorum_handle, int *))                                                            \
    X(quorum, quorum_trackstart, (hc_quorum_handle, unsigned int))                                                     \
    X(quorum, quorum_context_set, (hc_quorum_handle, const void *))                                                    \
    X(quorum, quorum_context_get, (hc_quorum_handle, const void **))                                                   \
    X(cmap, cmap_initialize, (hc_cmap_handle *))                                                                       \
    X(cmap, cmap_initialize_map, (hc_cmap_handle *, hc_cmap_map))                                                      \
    X(cmap, cmap_finalize, (hc_cmap_handle))                                                                           \
    X(cmap, cmap_get_string, (hc_cmap_handle, const char *, char **))                                                  \
    X(cmap, cmap_get_uint32, (hc_cmap_handle, const char *, uint32_t *))                                               \
    X(cmap, cmap_get_uint8, (hc_cmap_handle, const char *, uint8_t *))

#define HC_FUNCTION_TYPE(library, name, parameters) typedef hc_cs_error(*hc_##name##_fn) parameters;
HC_COROSYNC_FUNCTIONS(HC_FUNCTION_TYPE)
#undef HC_FUNCTION_TYPE

#endif
