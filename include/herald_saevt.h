/*
 * herald_saevt.h - Herald's additions to libSaEvt (not part of the AIS API).
 */
#ifndef HERALD_SAEVT_H
#define HERALD_SAEVT_H

#include <stdint.h>

#include "saEvt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The socket of heraldd for saEvtInitialize calls from now on (NULL: back to
 * $HERALD_SOCKET, else $HERALD_DATA_DIR/heraldd.sock, else herald-data/heraldd.sock).
 * Returns 0, or EINVAL for an empty path or one longer than 107 bytes. */
int herald_saevt_socket(const char *path);

/* ---- Group messaging (OCF's unicast, multicast and replies) ---------------------------
 * An allocated event is published to every subscriber of its channel, unless it is given
 * an address or a request to answer before saEvtEventPublish. Addressed events are
 * journaled like every other; only their addressees receive them. */

typedef enum herald_saevt_to_e {
    HERALD_SAEVT_TO_ALL = 0,     /* every subscriber of the channel (the default) */
    HERALD_SAEVT_TO_NODES = 1,   /* the subscribers on these nodes (ids as in the membership) */
    HERALD_SAEVT_TO_NAME = 2,    /* the durable subscriber of this name, now or when it first attaches */
    HERALD_SAEVT_TO_SESSION = 3  /* the session that made channel open `session` (an OCF JOIN's
                                    g_event_id, or a received event's sender) */
} herald_saevt_to_t;

typedef struct herald_saevt_address_s {
    herald_saevt_to_t to;
    uint32_t n_nodes;
    const uint32_t *nodes; /* TO_NODES */
    const char *name;      /* TO_NAME, NUL-terminated, at most 255 bytes */
    uint64_t session;      /* TO_SESSION */
} herald_saevt_address_t;

/* Addresses an allocated event (NULL: back to everyone). SA_AIS_OK, SA_AIS_ERR_BAD_HANDLE,
 * SA_AIS_ERR_INVALID_PARAM (an empty node list or name), SA_AIS_ERR_ACCESS (a delivered
 * event). A publish to a session with no open is refused with SA_AIS_ERR_NOT_EXIST. */
SaAisErrorT herald_saevt_event_address(SaEvtEventHandleT event, const herald_saevt_address_t *to);

/* Makes an allocated event the reply to event `request` (0: no reply): it goes to that
 * event's publisher (its session while connected, else the durable name it published
 * under), and OCF programs receive it as OC_EV_GS_REPLY. A reply has no other address.
 * saEvtEventPublish refuses a reply to an event the journal does not hold (unknown, or
 * removed by retention) with SA_AIS_ERR_NOT_EXIST. */
SaAisErrorT herald_saevt_event_reply_to(SaEvtEventHandleT event, SaEvtEventIdT request);

/* How a delivered event was sent. */
typedef struct herald_saevt_route_s {
    uint32_t cast;      /* 0 broadcast, 1 multicast, 2 unicast (a reply is one) */
    uint32_t reserved;
    uint64_t reply_to;  /* the event id it answers (0: not a reply) */
    uint64_t sender;    /* the sender's session: HERALD_SAEVT_TO_SESSION reaches it */
} herald_saevt_route_t;

/* The route of a delivered event: SA_AIS_OK, SA_AIS_ERR_BAD_HANDLE, SA_AIS_ERR_INVALID_PARAM. */
SaAisErrorT herald_saevt_event_route(SaEvtEventHandleT event, herald_saevt_route_t *route);

#ifdef __cplusplus
}
#endif

#endif /* HERALD_SAEVT_H */
