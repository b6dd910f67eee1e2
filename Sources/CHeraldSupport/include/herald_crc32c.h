#ifndef HERALD_CRC32C_H
#define HERALD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Extends a CRC32C (Castagnoli, reflected, polynomial 0x82F63B78) over `length` bytes.
/// Pass 0 as `crc` to start; the result is the finished CRC (pre/post inversion is done
/// inside), so `herald_crc32c(herald_crc32c(0, a), b)` equals the CRC of `a` followed by `b`.
/// Uses the SSE4.2 CRC32 instruction when the CPU has it, a table otherwise.
uint32_t herald_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable table-driven implementation, exposed so tests can compare both paths.
uint32_t herald_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware path is in use.
int herald_crc32c_hardware(void);

#ifdef __cplusplus
}
#endif

#endif
