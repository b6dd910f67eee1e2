// Herald's view of Corosync (libcpg, libquorum, libcmap), loaded at run time with dlopen so
// that nothing else in Herald needs Corosync to build or run. Every function returns a
// Corosync cs_error_t value (CS_OK = 1), or HC_ERR_UNAVAILABLE when the libraries are not
// installed. Building needs nothing of Corosync (see corosync_abi.h).
#ifndef HERALD_COROSYNC_H
#define HERALD_COROSYNC_H

#include <stddef.h>
#include <stdint.h>

#define HC_OK 1
#define HC_ERR_TRY_AGAIN 6
#define HC_ERR_UNAVAILABLE 1000

typedef struct hc_member {
    uint32_t nodeid;
    uint32_t pid;
    uint32_t reason;
} hc_member;

typedef void (*hc_deliver_fn)(void *context, uint32_t nodeid, uint32_t pid, const void *message, size_t length);
typedef void (*hc_confchg_fn)(
    void *context, const hc_member *members, size_t member_count, const hc_member *left, size_t left_count,
    const hc_member *joined, size_t joined_count);
typedef void (*hc_quorum_fn)(void *context, uint32_t quorate, uint64_t ring_seq, const uint32_t *nodes, size_t count);

/// Loads the libraries; on failure writes why into `error`.
int hc_load(char *error, size_t error_length);

/// cpg_initialize + cpg_join of `group`; callbacks run inside hc_cpg_dispatch.
int hc_cpg_open(const char *group, void *context, hc_deliver_fn deliver, hc_confchg_fn confchg, uint64_t *handle);
int hc_cpg_fd(uint64_t handle, int *fd);
/// CS_DISPATCH_ALL when `all`, else CS_DISPATCH_ONE_NONBLOCKING.
int hc_cpg_dispatch(uint64_t handle, int all);
/// cpg_mcast_joined with CPG_TYPE_AGREED (total order).
int hc_cpg_mcast(uint64_t handle, const void *message, size_t length);
int hc_cpg_local_nodeid(uint64_t handle, uint32_t *nodeid);
int hc_cpg_max_message(uint64_t handle, uint32_t *bytes);
int hc_cpg_close(uint64_t handle);

int hc_quorum_open(void *context, hc_quorum_fn notify, uint64_t *handle);
int hc_quorum_fd(uint64_t handle, int *fd);
int hc_quorum_dispatch(uint64_t handle);
int hc_quorum_quorate(uint64_t handle, int *quorate);
int hc_quorum_close(uint64_t handle);

int hc_cmap_open(uint64_t *handle);
/// The statistics map (stats.knet.*, runtime counters).
int hc_cmap_open_stats(uint64_t *handle);
/// Copies the string value of `key` into `buffer` (NUL-terminated, truncated to fit).
int hc_cmap_get_string(uint64_t handle, const char *key, char *buffer, size_t length);
int hc_cmap_get_u32(uint64_t handle, const char *key, uint32_t *value);
int hc_cmap_get_u8(uint64_t handle, const char *key, uint8_t *value);
int hc_cmap_close(uint64_t handle);

#endif
