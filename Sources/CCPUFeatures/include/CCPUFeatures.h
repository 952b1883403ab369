#ifndef XLSWEEP_CPUFEATURES_H
#define XLSWEEP_CPUFEATURES_H
/// 1 when the running CPU supports the instruction set, else 0 (GCC/Clang __builtin_cpu_supports).
int xl_cpu_has_avx512f(void);
int xl_cpu_has_avx512bf16(void);
int xl_cpu_has_avx2(void);
int xl_cpu_has_fma(void);
#endif
