#ifndef HERALD_SHA256_H
#define HERALD_SHA256_H
#include <stddef.h>

/* The Merkle tree's two hashes (RFC 9162), on libcrypto's SHA-256 block functions with a
 * context on the stack: no allocation (OpenSSL 3's EVP allocates a provider context on
 * every init), and SHA-NI where the CPU has it.
 *   leaf: SHA-256(0x00 || data[0..size))      node: SHA-256(0x01 || pair[0..64)) */
void herald_merkle_leaf(const void *data, size_t size, unsigned char out[32]);
void herald_merkle_node(const unsigned char pair[64], unsigned char out[32]);

#endif
