/*
 * C checks of libSaEvt linked into the Swift test binary (the fast inner loop; the
 * conformance programs under Tests/CPrograms/saevt prove the shared library). Each returns
 * 0, or the line of the first failed expectation with a message in `message`.
 */
#ifndef CSAEVTCHECKS_H
#define CSAEVTCHECKS_H

#include <stddef.h>

/* Version negotiation and initialization with no daemon at `socket`. */
int sacheck_no_daemon(const char *socket, char *message, size_t size);
/* Handles: stale, freed, foreign and wrong-kind handles are BAD_HANDLE. */
int sacheck_handles(const char *socket, char *message, size_t size);

#endif
