#include "CKernelSupport.h"
#include <malloc.h>

int xl_cpu_has_avx512f(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx512f"); }
int xl_cpu_has_avx512bf16(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx512bf16"); }
int xl_cpu_has_avx2(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2"); }
int xl_cpu_has_fma(void) { __builtin_cpu_init(); return __builtin_cpu_supports("fma"); }

void xl_keep_large_blocks_in_heap(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}
