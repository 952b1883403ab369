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
}

int xl_return_free_heap(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}
