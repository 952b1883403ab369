#ifndef XLSWEEP_KERNEL_SUPPORT_H
#define XLSWEEP_KERNEL_SUPPORT_H
/// 1 when the running CPU supports the instruction set, else 0 (GCC/Clang __builtin_cpu_supports).
int xl_cpu_has_avx512f(void);
int xl_cpu_has_avx512bf16(void);
int xl_cpu_has_avx2(void);
int xl_cpu_has_fma(void);
/// Keeps large blocks in the malloc heap (glibc mallopt), so per-forward activation buffers are
/// reused instead of being mapped and page-faulted in anew each time.
void xl_keep_large_blocks_in_heap(void);
#endif
