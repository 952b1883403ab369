#include "CKernelSupport.h"
#include <malloc.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int xl_die_with_parent(int signal, int parent) {
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, signal) != 0) return -1;
    return getppid() == parent ? 0 : -1;
#else
    (void)signal; (void)parent;
    return -1;
#endif
}

void xl_keep_large_blocks_in_heap(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
#ifdef M_ARENA_MAX
    // Every thread in the main heap: a thread's own arena grows in heaps of 64 MiB, so a larger
    // block (a decoding step's logits, 100 × 262k floats) is mapped, faulted in and unmapped anew
    // on every allocation, whatever the threshold above. Only takes effect for threads that have
    // not allocated yet: called first thing in main.
    mallopt(M_ARENA_MAX, 1);
#endif
}

int xl_return_free_heap(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}
