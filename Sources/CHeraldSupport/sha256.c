/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, which allocates
 * per hash; the Merkle tree hashes every record, so it uses them here, in one place. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "herald_sha256.h"

void herald_merkle_leaf(const void *data, size_t size, unsigned char out[32])
{
    static const unsigned char prefix = 0x00;
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, &prefix, 1);
    SHA256_Update(&context, data, size);
    SHA256_Final(out, &context);
}

void herald_merkle_node(const unsigned char pair[64], unsigned char out[32])
{
    static const unsigned char prefix = 0x01;
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, &prefix, 1);
    SHA256_Update(&context, pair, 64);
    SHA256_Final(out, &context);
}
