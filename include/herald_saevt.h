/*
 * herald_saevt.h - Herald's additions to libSaEvt (not part of the AIS API).
 */
#ifndef HERALD_SAEVT_H
#define HERALD_SAEVT_H

#ifdef __cplusplus
extern "C" {
#endif

/* The socket of heraldd for saEvtInitialize calls from now on (NULL: back to
 * $HERALD_SOCKET, else $HERALD_DATA_DIR/heraldd.sock, else herald-data/heraldd.sock).
 * Returns 0, or EINVAL for an empty path or one longer than 107 bytes. */
int herald_saevt_socket(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* HERALD_SAEVT_H */
