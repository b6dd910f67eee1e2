/*
 * C checks of liboc_event, linked statically into the Swift test binary (the fast inner
 * loop; the programs under Tests/CPrograms prove the shared library itself). Each check
 * returns 0, or the line of the first failed expectation with a message in `message`.
 */
#ifndef COCEVENTCHECKS_H
#define COCEVENTCHECKS_H

#include <stddef.h>

/* Misuse of the draft API against a running heraldd at `socket`. */
int occheck_draft_misuse(const char *socket, char *message, size_t size);
/* Misuse of the heartbeat API (and a draft token given to it). */
int occheck_heartbeat_misuse(const char *socket, char *message, size_t size);
/* Registering with no daemon at `socket` fails at once with ECONNREFUSED. */
int occheck_no_daemon(const char *socket, char *message, size_t size);
/* The completion rule on the events of channel `channel` published before the call
 * (at least 3, and nothing else published meanwhile): priorities, a cookie completed
 * outside the callback, stale / foreign / doubled cookies, unregister from a callback. */
int occheck_completion_rule(const char *socket, char *message, size_t size);

#endif
