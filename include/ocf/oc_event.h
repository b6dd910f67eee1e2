/*
 * <ocf/oc_event.h> - the OCF Cluster Event Notification API, served by Herald.
 *
 * Two versions of this API exist and one header offers both:
 *   - the OCF draft 0.1 API (the default): oc_ev_t *oc_ev_register(void), priorities,
 *     three activation styles, OC_SUCCESS / OC_FAILURE with errno set;
 *   - the Linux-HA heartbeat ABI, when the program defines OC_EV_API_HEARTBEAT before
 *     including this header: int oc_ev_register(oc_ev_t **), a select()able descriptor,
 *     0 or an errno value as the result.
 * liboc_event.so exports distinct symbols for the two (the heartbeat functions are
 * oc_ev_hb_*, mapped by the macros below), so one library serves both kinds of program.
 *
 * Events come from heraldd (socket: $HERALD_SOCKET, else $HERALD_DATA_DIR/heraldd.sock,
 * else herald-data/heraldd.sock). Every callback gets every event of its class exactly
 * once, in the journal's (cluster-wide) order. Herald's durable extension (oc_ev_herald_*)
 * lets a handle resume after its last completed event across restarts.
 *
 * Plain C (c99/c11, gnu or strict) and C++. Link with -loc_event (pkg-config oc_event).
 */
#ifndef OCF_OC_EVENT_H
#define OCF_OC_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "oc_membership.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Event descriptors: class in the upper 10 bits, event in the lower 22 ---------- */

typedef uint32_t oc_ed_t;

#define OC_EV_CLASS_SHIFT 22
#define OC_EV_EVENT_SHIFT 10
#define OC_EV_EVENT_MASK (~(~((unsigned int)0) << OC_EV_CLASS_SHIFT))
#define OC_EV_GET_CLASS(ed) ((unsigned int)(ed) >> OC_EV_CLASS_SHIFT)
#define OC_EV_GET_EVENT(ed) ((unsigned int)(ed) & OC_EV_EVENT_MASK)
#define OC_EV_SET_CLASS(cl, ev) ((unsigned int)(cl) << OC_EV_CLASS_SHIFT | ((unsigned int)(ev) & OC_EV_EVENT_MASK))

typedef enum oc_ev_class_e {
    OC_EV_CONN_CLASS = 1, /* connectivity (heartbeat's name) */
    OC_EV_COMM_CLASS = 1, /* connectivity (the draft's name) */
    OC_EV_MEMB_CLASS = 2, /* membership */
    OC_EV_GROUP_CLASS = 3 /* group messaging: channel joins, leaves, published events */
} oc_ev_class_t;

/* Membership events: both spellings, the same values. */
typedef enum oc_memb_event_e {
    OC_EV_MS_INVALID = 0x800000,          /* OC_EV_SET_CLASS(2, 0): a membership without quorum */
    OC_EV_MS_NEW_MEMBERSHIP = 0x800001,   /* a new membership */
    OC_EV_MS_NEWVIEW = 0x800001,
    OC_EV_MS_NOT_PRIMARY = 0x800002,      /* membership uncertain after a communication loss */
    OC_EV_MS_SUSPECT = 0x800002,
    OC_EV_MS_PRIMARY_RESTORED = 0x800003, /* communication restored, membership unchanged */
    OC_EV_MS_RECOVERED = 0x800003,
    OC_EV_MS_EVICTED = 0x800004,          /* the new membership does not include this node */
    OC_EV_MS_SHUTDOWN = 0x800004
} oc_memb_event_t;

/* Connectivity events. The payload (oc_ev_connect_t) says which of the draft's six
 * occurrences happened. */
typedef enum oc_conn_event_e {
    OC_EV_CS_INVALID = 0x400000,   /* OC_EV_SET_CLASS(1, 0) */
    OC_EV_CS_INTERFACE = 0x400001, /* a local interface was added or failed */
    OC_EV_CS_ELIGIBLE = 0x400002,  /* node(s) added to or removed from eligibility */
    OC_EV_CS_CONNECT = 0x400003    /* a point-to-point connection established or lost */
} oc_conn_event_t;

/* oc_ev_connect_t.c_change: the six connectivity occurrences of the draft. */
typedef enum oc_ev_conn_change_e {
    OC_EV_CONN_INTERFACE_ADDED = 1,
    OC_EV_CONN_INTERFACE_FAILED = 2,
    OC_EV_CONN_NODE_ELIGIBLE = 3,
    OC_EV_CONN_NODE_INELIGIBLE = 4,
    OC_EV_CONN_LINK_UP = 5,
    OC_EV_CONN_LINK_DOWN = 6
} oc_ev_conn_change_t;

/* Group events. */
typedef enum oc_group_event_e {
    OC_EV_GS_INVALID = 0xC00000, /* OC_EV_SET_CLASS(3, 0) */
    OC_EV_GS_JOIN = 0xC00001,    /* a subscriber opened the channel */
    OC_EV_GS_LEAVE = 0xC00002,   /* a subscriber closed it (or died) */
    OC_EV_GS_CAST = 0xC00003,    /* an event was published on it (broad-, multi- or unicast) */
    OC_EV_GS_REPLY = 0xC00004    /* an event answering one this program's session sent */
} oc_group_event_t;

/* The data of a connectivity event. */
typedef struct oc_ev_connect_s {
    unsigned int c_change;    /* oc_ev_conn_change_t */
    unsigned int c_up;        /* the new state: 1 up / eligible / connected, 0 down */
    unsigned int c_node_id;   /* the node concerned */
    unsigned int c_reserved;
    const char *c_node_uname; /* its name, NUL-terminated */
    const char *c_link;       /* the interface or link, NUL-terminated */
} oc_ev_connect_t;

/* One pattern of a published event (binary, not NUL-terminated). */
typedef struct oc_ev_pattern_s {
    size_t p_size;
    const unsigned char *p_bytes;
} oc_ev_pattern_t;

/* The data of a group event. */
typedef struct oc_ev_group_s {
    const char *g_channel;             /* channel name, NUL-terminated ("" if it no longer exists) */
    uint32_t g_channel_id;
    uint32_t g_priority;               /* SAF priority: 0 highest ... 3 lowest */
    uint64_t g_event_id;               /* SAF event id (CAST); the opener id (JOIN, LEAVE) */
    uint64_t g_sequence;               /* the journal's sequence number: the cluster order */
    int64_t g_publish_time;            /* nanoseconds since 1970 */
    const char *g_publisher;           /* publisher name, NUL-terminated */
    uint32_t g_publisher_pid;          /* who published, as heraldd saw the socket (0 unknown) */
    uint32_t g_publisher_uid;
    uint32_t g_n_patterns;
    uint32_t g_reserved;
    const oc_ev_pattern_t *g_patterns;
    size_t g_data_size;
    const void *g_data;
    /* Herald group messaging (appended: the fields above keep their offsets). */
    uint32_t g_cast;                   /* CAST, REPLY: oc_ev_herald_cast_t (0 for JOIN, LEAVE) */
    uint32_t g_reserved2;
    uint64_t g_reply_to;               /* REPLY: the event id it answers (0 otherwise) */
    uint64_t g_sender;                 /* CAST, REPLY: the sender's session (its channel open id,
                                          the g_event_id of its JOIN): address unicasts there */
} oc_ev_group_t;

/* How a CAST or REPLY was addressed (g_cast). */
typedef enum oc_ev_herald_cast_e {
    OC_EV_HERALD_BROADCAST = 0, /* to every subscriber of the channel */
    OC_EV_HERALD_MULTICAST = 1, /* to the subscribers on some nodes */
    OC_EV_HERALD_UNICAST = 2    /* to one session or durable name (a REPLY is one) */
} oc_ev_herald_cast_t;

/* ---- Herald's durable extension (both flavours) ----------------------------------- */

typedef enum oc_ev_herald_start_e {
    OC_EV_HERALD_START_NOW = 0,      /* events from activation on (the default) */
    OC_EV_HERALD_START_OLDEST = 1,   /* the oldest event the journal keeps */
    OC_EV_HERALD_START_SEQUENCE = 2, /* value: a journal sequence number */
    OC_EV_HERALD_START_TIME = 3,     /* value: nanoseconds since 1970 */
    OC_EV_HERALD_START_CURSOR = 4    /* after the durable name's last completed event */
} oc_ev_herald_start_t;

/* What Herald knows of a delivered event (from its cookie). */
typedef struct oc_ev_herald_info_s {
    uint64_t i_sequence;     /* the journal's sequence number */
    int64_t i_publish_time;  /* nanoseconds since 1970 */
    uint32_t i_redelivered;  /* 1: delivered before a restart and not completed then */
    uint32_t i_retained;     /* 1: in force before activation (the current membership) */
} oc_ev_herald_info_t;

/* Where oc_ev_herald_cast sends an event. */
typedef enum oc_ev_herald_to_e {
    OC_EV_HERALD_TO_ALL = 0,     /* every subscriber of the channel (a broadcast) */
    OC_EV_HERALD_TO_NODES = 1,   /* the subscribers on a_nodes (node ids as in the membership) */
    OC_EV_HERALD_TO_NAME = 2,    /* the durable subscriber a_name, now or when it first attaches */
    OC_EV_HERALD_TO_SESSION = 3  /* the session of channel open a_session (a JOIN's g_event_id) */
} oc_ev_herald_to_t;

typedef struct oc_ev_herald_address_s {
    oc_ev_herald_to_t a_to;
    uint32_t a_n_nodes;
    const uint32_t *a_nodes; /* TO_NODES */
    const char *a_name;      /* TO_NAME, NUL-terminated */
    uint64_t a_session;      /* TO_SESSION */
} oc_ev_herald_address_t;

/* ---- The draft 0.1 API (default) -------------------------------------------------- */
#ifndef OC_EV_API_HEARTBEAT

#define OC_SUCCESS 0
#define OC_FAILURE (-1)

typedef struct oc_ev_s oc_ev_t; /* opaque */

/* Callback priorities: closer to zero runs first. Any value 0...1000 may be used. */
typedef unsigned int oc_ev_prio_t;
#define OC_EV_PRIO_HIGH 0u
#define OC_EV_PRIO_MED 500u
#define OC_EV_PRIO_LOW 1000u

typedef enum oc_ev_as_e {
    OC_EV_AS_NORETURN = 1, /* oc_ev_handle_event blocks and delivers until oc_ev_unregister */
    OC_EV_AS_GET_FD = 2,   /* *(int *)arg receives a descriptor, readable when events are pending */
    OC_EV_AS_SIGNAL = 3    /* *(int *)arg (or the number itself) is raised when events are pending */
} oc_ev_as_t;

typedef struct oc_ver_s {
    unsigned int major;
    unsigned int minor;
} oc_ver_t;
#define OC_EV_VERSION_MAJOR 0u
#define OC_EV_VERSION_MINOR 1u

/* `data` (size bytes) stays valid until oc_ev_callback_done(cookie). */
typedef void oc_ev_callback_t(oc_ed_t event, const unsigned int *cookie, size_t size, const void *data);

oc_ev_t *oc_ev_register(void);
int oc_ev_set_callback(oc_ev_t *handle, oc_ev_prio_t priority, oc_ev_class_t event_class, oc_ev_callback_t *fn);
int oc_ev_activate(oc_ev_t *handle, oc_ev_as_t style, void *arg);
int oc_ev_handle_event(oc_ev_t *handle);
void oc_ev_callback_done(const unsigned int *cookie);
int oc_ev_get_version(oc_ev_t *handle, oc_ver_t *version);
int oc_ev_unregister(oc_ev_t *handle);

/* ---- The Linux-HA heartbeat ABI (-DOC_EV_API_HEARTBEAT) --------------------------- */
#else

typedef int oc_ev_t; /* clients hold an opaque oc_ev_t * token */

typedef void oc_ev_callback_t(oc_ed_t event, void *cookie, size_t size, const void *data);

#define oc_ev_register oc_ev_hb_register
#define oc_ev_unregister oc_ev_hb_unregister
#define oc_ev_set_callback oc_ev_hb_set_callback
#define oc_ev_activate oc_ev_hb_activate
#define oc_ev_handle_event oc_ev_hb_handle_event
#define oc_ev_callback_done oc_ev_hb_callback_done

int oc_ev_register(oc_ev_t **token);
int oc_ev_unregister(oc_ev_t *token);
int oc_ev_set_callback(const oc_ev_t *token, oc_ev_class_t event_class, oc_ev_callback_t *fn,
                       oc_ev_callback_t **prev_fn);
int oc_ev_activate(const oc_ev_t *token, int *fd);
int oc_ev_handle_event(const oc_ev_t *token);
int oc_ev_callback_done(void *cookie);
int oc_ev_is_my_nodeid(const oc_ev_t *token, const oc_node_t *node);
/* Not in heartbeat's header, declared extern by its clients: after it, memberships
 * without quorum are delivered as OC_EV_MS_INVALID (otherwise they are suppressed). */
void oc_ev_special(const oc_ev_t *token, oc_ev_class_t event_class, int type);

#endif /* OC_EV_API_HEARTBEAT */

/* ---- Herald's durable extension: call before activation ---------------------------
 * Gives the handle a durable name: oc_ev_callback_done then advances the name's cursor in
 * heraldd, so a restarted program that activates with OC_EV_HERALD_START_CURSOR resumes
 * after its last completed event and sees the uncompleted ones again (redelivered).
 * name NULL: not durable. Returns 0, or an errno value (also stored in errno). */
int oc_ev_herald_durable(const oc_ev_t *handle, const char *name, oc_ev_herald_start_t start, uint64_t value);
/* The socket of heraldd for handles registered from now on (NULL: back to
 * $HERALD_SOCKET or the default). Returns 0, or EINVAL for a path longer than 107 bytes. */
int oc_ev_herald_socket(const char *path);
/* What Herald knows of the event a cookie was handed with; 0 or EINVAL. */
int oc_ev_herald_event_info(const void *cookie, oc_ev_herald_info_t *info);

/* ---- Herald's group messaging (both flavours) ---------------------------------------
 * Publishes `size` bytes of data on `channel` (created if missing) as a GROUP CAST to
 * `to` (NULL: everyone), or, with `reply_to` an event id, as the REPLY to that event: it
 * goes to that event's publisher (its session while connected, else its durable name) and
 * `to` must be NULL. The event is journaled like any other. It is sent from this handle's
 * session, under its durable name if it has one: REPLY events answering it come to this
 * handle's GROUP callbacks, also after a restart under the same durable name.
 * `event_id` (may be NULL) receives the new event's id. Returns 0 or an errno value (also
 * in errno): EINVAL (bad handle or address), ENOENT (reply_to is not an event the journal
 * holds; a session with no open), EACCES, ENOTCONN, E2BIG. */
int oc_ev_herald_cast(const oc_ev_t *handle, const char *channel, const oc_ev_herald_address_t *to,
                      uint64_t reply_to, const void *data, size_t size, uint64_t *event_id);

#ifdef __cplusplus
}
#endif

#endif /* OCF_OC_EVENT_H */
