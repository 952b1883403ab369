#ifndef XLSWEEP_KERNEL_SUPPORT_H
#define XLSWEEP_KERNEL_SUPPORT_H
/// Keeps large blocks in the malloc heap (glibc mallopt), so per-forward activation buffers are
/// reused instead of being mapped and page-faulted in anew each time.
void xl_keep_large_blocks_in_heap(void);
#endif
