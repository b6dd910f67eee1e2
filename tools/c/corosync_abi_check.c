// Checks Sources/CCorosync/corosync_abi.h (Herald's own declarations of the Corosync client
// ABI it loads with dlopen) against Corosync's installed headers. Compile-time only:
//   cc -fsyntax-only -I Sources/CCorosync tools/c/corosync_abi_check.c
//       every struct: the real size and field offsets; every constant: the real value;
//   cc -fsyntax-only -DHC_ABI_USE_COROSYNC_TYPES -I Sources/CCorosync tools/c/corosync_abi_check.c
//       every function and callback type: compatible with the real prototype.
// tools/cluster-test runs both (it installs the headers); a failure names what differs.
#include <corosync/cmap.h>
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <stddef.h>

#include "corosync_abi.h"

#define SAME_VALUE(ours, theirs) _Static_assert((ours) == (theirs), #ours " differs from Corosync's " #theirs)

SAME_VALUE(HC_CS_OK, CS_OK);
SAME_VALUE(HC_CS_ERR_TRY_AGAIN, CS_ERR_TRY_AGAIN);
SAME_VALUE(HC_CS_ERR_INVALID_PARAM, CS_ERR_INVALID_PARAM);
SAME_VALUE(HC_CS_ERR_NO_MEMORY, CS_ERR_NO_MEMORY);
SAME_VALUE(HC_CS_DISPATCH_ALL, CS_DISPATCH_ALL);
SAME_VALUE(HC_CS_DISPATCH_ONE_NONBLOCKING, CS_DISPATCH_ONE_NONBLOCKING);
SAME_VALUE(HC_CS_TRACK_CHANGES, CS_TRACK_CHANGES);
SAME_VALUE(HC_CPG_TYPE_AGREED, CPG_TYPE_AGREED);
SAME_VALUE(HC_CPG_MAX_NAME_LENGTH, CPG_MAX_NAME_LENGTH);
SAME_VALUE(HC_CPG_MEMBERS_MAX, CPG_MEMBERS_MAX);
SAME_VALUE(HC_CMAP_MAP_STATS, CMAP_MAP_STATS);
SAME_VALUE(sizeof(hc_cpg_handle), sizeof(cpg_handle_t));
SAME_VALUE(sizeof(hc_quorum_handle), sizeof(quorum_handle_t));
SAME_VALUE(sizeof(hc_cmap_handle), sizeof(cmap_handle_t));

#ifdef HC_ABI_USE_COROSYNC_TYPES

#define SAME_TYPE(ours, theirs) _Static_assert(__builtin_types_compatible_p(ours, theirs), #ours " is not Corosync's " #theirs)
#define SAME_FUNCTION(library, name, parameters) SAME_TYPE(hc_##name##_fn, __typeof__(&name));
HC_COROSYNC_FUNCTIONS(SAME_FUNCTION)
SAME_TYPE(hc_cpg_deliver_callback, cpg_deliver_fn_t);
SAME_TYPE(hc_cpg_confchg_callback, cpg_confchg_fn_t);
SAME_TYPE(hc_quorum_notify_callback, quorum_notification_fn_t);

#else

#define SAME_LAYOUT(ours, theirs) SAME_VALUE(sizeof(ours), sizeof(theirs)); SAME_VALUE(_Alignof(ours), _Alignof(theirs))
#define SAME_FIELD(ours, our_field, theirs, their_field)                                                            \
    SAME_VALUE(offsetof(ours, our_field), offsetof(theirs, their_field));                                            \
    SAME_VALUE(sizeof(((ours *)0)->our_field), sizeof(((theirs *)0)->their_field))

SAME_LAYOUT(hc_cs_error, cs_error_t);
SAME_LAYOUT(hc_cs_dispatch_flags, cs_dispatch_flags_t);
SAME_LAYOUT(hc_cpg_guarantee, cpg_guarantee_t);
SAME_LAYOUT(hc_cmap_map, cmap_map_t);
SAME_LAYOUT(hc_cpg_name, struct cpg_name);
SAME_FIELD(hc_cpg_name, length, struct cpg_name, length);
SAME_FIELD(hc_cpg_name, value, struct cpg_name, value);
SAME_LAYOUT(hc_cpg_address, struct cpg_address);
SAME_FIELD(hc_cpg_address, nodeid, struct cpg_address, nodeid);
SAME_FIELD(hc_cpg_address, pid, struct cpg_address, pid);
SAME_FIELD(hc_cpg_address, reason, struct cpg_address, reason);
SAME_LAYOUT(hc_cpg_callbacks, cpg_callbacks_t);
SAME_FIELD(hc_cpg_callbacks, deliver, cpg_callbacks_t, cpg_deliver_fn);
SAME_FIELD(hc_cpg_callbacks, confchg, cpg_callbacks_t, cpg_confchg_fn);
SAME_LAYOUT(hc_quorum_callbacks, quorum_callbacks_t);
SAME_FIELD(hc_quorum_callbacks, notify, quorum_callbacks_t, quorum_notify_fn);

#endif
