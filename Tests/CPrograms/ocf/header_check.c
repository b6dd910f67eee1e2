/*
 * Compiles include/ocf/oc_event.h in the mode the compiler is in (c99, gnu11, c11, C++;
 * draft or -DOC_EV_API_HEARTBEAT) and checks its layouts and constants: structs as OCF.md
 * gives them for x86_64 (the heartbeat ABI), descriptor macros, every constant's value.
 * Prints "ok" when every check holds; it needs no library.
 */
#include <stddef.h>
#include <stdio.h>

#include <ocf/oc_event.h>
#include <ocf/oc_membership.h> /* twice: the guards hold */

#ifdef __cplusplus
#define STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

#if defined(__x86_64__)
STATIC_ASSERT(sizeof(oc_node_t) == 16, "oc_node_t is 16 bytes");
STATIC_ASSERT(offsetof(oc_node_t, node_id) == 8, "node_id at 8");
STATIC_ASSERT(offsetof(oc_node_t, node_born_on) == 12, "node_born_on at 12");
STATIC_ASSERT(sizeof(oc_ev_membership_t) == 48, "oc_ev_membership_t is 48 bytes");
STATIC_ASSERT(offsetof(oc_ev_membership_t, m_n_member) == 4, "m_n_member at 4");
STATIC_ASSERT(offsetof(oc_ev_membership_t, m_in_idx) == 24, "m_in_idx at 24");
STATIC_ASSERT(offsetof(oc_ev_membership_t, m_array) == 32, "m_array at 32");
STATIC_ASSERT(sizeof(oc_ev_connect_t) == 32, "oc_ev_connect_t is 32 bytes");
STATIC_ASSERT(sizeof(oc_ev_group_t) == 112, "oc_ev_group_t is 112 bytes");
STATIC_ASSERT(offsetof(oc_ev_group_t, g_data) == 80, "g_data at 80 (the fields before the extension keep theirs)");
STATIC_ASSERT(offsetof(oc_ev_group_t, g_event_id) == 16 && offsetof(oc_ev_group_t, g_patterns) == 64, "group");
STATIC_ASSERT(offsetof(oc_ev_group_t, g_cast) == 88, "g_cast at 88");
STATIC_ASSERT(offsetof(oc_ev_group_t, g_reply_to) == 96, "g_reply_to at 96");
STATIC_ASSERT(offsetof(oc_ev_group_t, g_sender) == 104, "g_sender at 104");
STATIC_ASSERT(sizeof(oc_ev_herald_address_t) == 32, "oc_ev_herald_address_t is 32 bytes");
STATIC_ASSERT(OC_EV_GS_REPLY == 0xC00004 && OC_EV_HERALD_UNICAST == 2 && OC_EV_HERALD_TO_SESSION == 3, "messaging");
STATIC_ASSERT(sizeof(oc_ev_herald_info_t) == 24, "oc_ev_herald_info_t is 24 bytes");
#endif
STATIC_ASSERT(sizeof(oc_ed_t) == 4, "oc_ed_t is 32 bits");

STATIC_ASSERT(OC_EV_CLASS_SHIFT == 22 && OC_EV_EVENT_SHIFT == 10, "shifts");
STATIC_ASSERT(OC_EV_EVENT_MASK == 0x3FFFFF, "event mask");
STATIC_ASSERT(OC_EV_SET_CLASS(2, 1) == 0x800001, "SET_CLASS");
STATIC_ASSERT(OC_EV_GET_CLASS(0xC00003) == 3 && OC_EV_GET_EVENT(0xC00003) == 3, "GET_CLASS / GET_EVENT");
STATIC_ASSERT(OC_EV_CONN_CLASS == 1 && OC_EV_COMM_CLASS == 1 && OC_EV_MEMB_CLASS == 2 && OC_EV_GROUP_CLASS == 3,
              "classes");
STATIC_ASSERT(OC_EV_MS_INVALID == OC_EV_SET_CLASS(OC_EV_MEMB_CLASS, 0), "MS_INVALID");
STATIC_ASSERT(OC_EV_MS_NEW_MEMBERSHIP == OC_EV_SET_CLASS(2, 1) && OC_EV_MS_NEWVIEW == OC_EV_MS_NEW_MEMBERSHIP,
              "NEW_MEMBERSHIP / NEWVIEW");
STATIC_ASSERT(OC_EV_MS_NOT_PRIMARY == OC_EV_SET_CLASS(2, 2) && OC_EV_MS_SUSPECT == OC_EV_MS_NOT_PRIMARY,
              "NOT_PRIMARY / SUSPECT");
STATIC_ASSERT(OC_EV_MS_PRIMARY_RESTORED == OC_EV_SET_CLASS(2, 3) && OC_EV_MS_RECOVERED == OC_EV_MS_PRIMARY_RESTORED,
              "PRIMARY_RESTORED / RECOVERED");
STATIC_ASSERT(OC_EV_MS_EVICTED == OC_EV_SET_CLASS(2, 4) && OC_EV_MS_SHUTDOWN == OC_EV_MS_EVICTED,
              "EVICTED / SHUTDOWN");
STATIC_ASSERT(OC_EV_CS_INVALID == OC_EV_SET_CLASS(1, 0) && OC_EV_CS_INTERFACE == OC_EV_SET_CLASS(1, 1)
                  && OC_EV_CS_ELIGIBLE == OC_EV_SET_CLASS(1, 2) && OC_EV_CS_CONNECT == OC_EV_SET_CLASS(1, 3),
              "connectivity events");
STATIC_ASSERT(OC_EV_GS_INVALID == OC_EV_SET_CLASS(3, 0) && OC_EV_GS_JOIN == OC_EV_SET_CLASS(3, 1)
                  && OC_EV_GS_LEAVE == OC_EV_SET_CLASS(3, 2) && OC_EV_GS_CAST == OC_EV_SET_CLASS(3, 3)
                  && OC_EV_GS_REPLY == OC_EV_SET_CLASS(3, 4),
              "group events");
STATIC_ASSERT(OC_EV_CONN_INTERFACE_ADDED == 1 && OC_EV_CONN_LINK_DOWN == 6, "connectivity changes");
STATIC_ASSERT(OC_EV_HERALD_START_NOW == 0 && OC_EV_HERALD_START_CURSOR == 4, "start positions");

#ifndef OC_EV_API_HEARTBEAT
STATIC_ASSERT(OC_SUCCESS == 0 && OC_FAILURE == -1, "return codes");
STATIC_ASSERT(OC_EV_PRIO_HIGH < OC_EV_PRIO_MED && OC_EV_PRIO_MED < OC_EV_PRIO_LOW, "priorities");
STATIC_ASSERT(OC_EV_AS_NORETURN == 1 && OC_EV_AS_GET_FD == 2 && OC_EV_AS_SIGNAL == 3, "activation styles");
/* The signatures, as pointers: a mismatch does not compile. */
static oc_ev_t *(*const check_register)(void) = oc_ev_register;
static void (*const check_done)(const unsigned int *) = oc_ev_callback_done;
static int (*const check_activate)(oc_ev_t *, oc_ev_as_t, void *) = oc_ev_activate;
#define FLAVOUR "draft"
#else
/* Heartbeat clients declare variables of oc_ev_t and initialise them with constants. */
static oc_ev_t token_value = OC_EV_MEMB_CLASS;
static int (*const check_register)(oc_ev_t **) = oc_ev_register;
static int (*const check_done)(void *) = oc_ev_callback_done;
static int (*const check_activate)(const oc_ev_t *, int *) = oc_ev_activate;
static int (*const check_set)(const oc_ev_t *, oc_ev_class_t, oc_ev_callback_t *, oc_ev_callback_t **) =
    oc_ev_set_callback;
#define FLAVOUR "heartbeat"
#endif

int main(void)
{
#ifdef OC_EV_API_HEARTBEAT
    (void)token_value;
    (void)check_set;
#endif
    (void)check_register;
    (void)check_done;
    (void)check_activate;
    printf("ok %s MEMB=%u NEW=0x%x EVICTED=0x%x CAST=0x%x\n", FLAVOUR, (unsigned int)OC_EV_MEMB_CLASS,
           (unsigned int)OC_EV_MS_NEW_MEMBERSHIP, (unsigned int)OC_EV_MS_EVICTED, (unsigned int)OC_EV_GS_CAST);
    return 0;
}
