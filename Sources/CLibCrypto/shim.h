#ifndef HERALD_CLIBCRYPTO_SHIM_H
#define HERALD_CLIBCRYPTO_SHIM_H
/* SHA-256 (the journal's hash chain and Merkle tree) and Ed25519 (signed checkpoints)
 * through the EVP interface, and the system's random bytes for new keys. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#endif
