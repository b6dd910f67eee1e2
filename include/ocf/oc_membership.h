/*
 * <ocf/oc_membership.h> - the membership payload of OCF cluster events (Herald).
 *
 * A membership (MEMB class) event hands its callback an oc_ev_membership_t: the
 * membership instance, then three index ranges into m_array: the members, the nodes
 * that left, the nodes that joined. The layout is the Linux-HA heartbeat ABI's
 * (x86_64: oc_node_t is 16 bytes, m_array starts at byte 32), so existing clients read
 * it unchanged. `size` passed to the callback is the size of the whole block.
 *
 * Plain C (c99/c11, gnu or strict) and C++.
 */
#ifndef OCF_OC_MEMBERSHIP_H
#define OCF_OC_MEMBERSHIP_H

#ifdef __cplusplus
extern "C" {
#endif

/* A cluster node. Node names stay valid as long as the event's data (until
 * oc_ev_callback_done on the event's cookie). */
typedef struct oc_node_s {
    char *node_uname;          /* the node's name, NUL-terminated */
    unsigned int node_id;      /* the cluster's id for the node */
    unsigned int node_born_on; /* the membership instance in which the node joined */
} oc_node_t;

typedef struct oc_ev_membership_s {
    unsigned int m_instance; /* membership instance; increases with every change */
    unsigned int m_n_member; /* members: m_array[m_memb_idx ... m_memb_idx + m_n_member - 1] */
    unsigned int m_memb_idx; /*   sorted by (node_born_on, node_id) */
    unsigned int m_n_out;    /* nodes that left: m_array[m_out_idx ...] */
    unsigned int m_out_idx;
    unsigned int m_n_in;     /* nodes that joined: m_array[m_in_idx ...]; on the first */
    unsigned int m_in_idx;   /*   event every member counts as joined */
    oc_node_t m_array[1];    /* really m_n_member + m_n_out + m_n_in entries */
} oc_ev_membership_t;

#ifdef __cplusplus
}
#endif

#endif /* OCF_OC_MEMBERSHIP_H */
