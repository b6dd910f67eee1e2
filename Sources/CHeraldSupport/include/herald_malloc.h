#ifndef HERALD_MALLOC_H
#define HERALD_MALLOC_H

#include <malloc.h>

/* glibc's malloc tunables (mallopt is not visible to Swift through Glibc's module). */
static inline void herald_bound_malloc_caches(int arenas, int mmap_threshold) {
    mallopt(M_ARENA_MAX, arenas);
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
}

#endif
