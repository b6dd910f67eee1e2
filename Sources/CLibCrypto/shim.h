#ifndef HERALD_CLIBCRYPTO_SHIM_H
#define HERALD_CLIBCRYPTO_SHIM_H
/* Only SHA-256 through the EVP interface is used: the journal's tamper-evident hash chain. */
#include <openssl/evp.h>
#endif
