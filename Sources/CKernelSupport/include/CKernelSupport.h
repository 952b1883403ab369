#ifndef XLSWEEP_KERNEL_SUPPORT_H
#define XLSWEEP_KERNEL_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/// Keeps large blocks in the malloc heap (glibc mallopt), so per-forward activation buffers are
/// reused instead of being mapped and page-faulted in anew each time.
void xl_keep_large_blocks_in_heap(void);

/// Hands the heap's free pages back to the system (glibc malloc_trim(0): the top of the heap and
/// every whole free page inside it), so what one task freed does not stay resident into the next.
/// Returns 1 when memory was released.
int xl_return_free_heap(void);

/// Asks Linux to send this process `signal` when its parent dies (prctl PR_SET_PDEATHSIG), then
/// checks that the parent is still `parent`: a local worker never outlives its `run`, even
/// after a SIGKILL. Returns 0, or -1 when the parent is already gone or prctl is unavailable.
int xl_die_with_parent(int signal, int parent);

/// Instruction-set levels of the bf16 product kernels, lowest first.
/// The portable levels (generic … AVX-512 BF16) give the same bits; AMX gives its own (bf16_gemm.c).
enum { XL_CPU_GENERIC = 0, XL_CPU_AVX2 = 1, XL_CPU_AVX512 = 2, XL_CPU_AVX512_BF16 = 3, XL_CPU_AMX_BF16 = 4 };

/// The best level this CPU supports (cpuid through __builtin_cpu_supports; for AMX also the OS's
/// tile state and Linux's permission, requested here for the process).
int xl_cpu_features(void);

/// The OpenBLAS kernel family this CPU can run ("Cooperlake", "SkylakeX", "Haswell"), or NULL.
const char *xl_openblas_coretype_for_cpu(void);

/// fp32 → bf16, round to nearest even (NaN stays NaN); same bits at every level.
void xl_round_to_bf16(int level, const float *x, uint16_t *y, size_t count);

/// C[m][n] = Σ_k A[m][k]·B[n][k] (+ bias[n] if bias is not NULL) for m < M, n < N (C overwritten),
/// bf16 operands with fp32 accumulation, using the kernels of `level` (must not exceed
/// xl_cpu_features()). B holds fp16 values when `b_is_fp16`: they are rounded to bf16 (nearest
/// even) as they are packed. Every level gives the same bits; see bf16_gemm.c for the order.
void xl_gemm_bf16_nt(int level, int M, int N, int K, const uint16_t *A, long lda, const uint16_t *B, long ldb,
                     int b_is_fp16, const float *bias, float *C, long ldc);

/// uint32 words of B `[N][K]` pre-packed by `xl_pack_bf16`: N rounded up to 64, times (K + 1) / 2.
size_t xl_packed_bf16_count(int N, int K);

/// Packs 16-bit B `[N][K]` (row stride ldb; fp16 when `b_is_fp16`, rounded to bf16 here) once into
/// the panels `xl_gemm_bf16_nt` builds per call: per 64 columns (zero past N) a pair-major
/// [(K + 1) / 2][64] panel of (B[n][2p] | B[n][2p + 1] << 16). `packed` must be 64-byte aligned.
void xl_pack_bf16(int level, const uint16_t *B, long ldb, int b_is_fp16, int N, int K, uint32_t *packed);

/// B(n, k) of a pre-packed bf16 matrix with K columns of k, widened to fp32 (exact).
float xl_packed_bf16_at(const uint32_t *packed, int K, int n, int k);

/// `xl_gemm_bf16_nt` with B pre-packed (`xl_pack_bf16`), from a column that is a multiple of 64
/// on (`packed` points at that column's panel): the same bits as packing per call at any portable
/// level. AMX is not taken here (a level above AVX-512 BF16 runs AVX-512 BF16): AMX hosts multiply
/// through `xl_gemm_bf16_nt`.
/// Then `activation` (XL_ACTIVATION_…), applied to each finished tile: the same bits as applying it after.
void xl_gemm_bf16_packed(int level, int M, int N, int K, const uint16_t *A, long lda, const uint32_t *packed,
                         const float *bias, float *C, long ldc, int activation);

/// C[m][n] = alpha · Σ_k A(m, k)·B(k, n) (+ beta · C[m][n] when beta is not 0) (+ bias[n] if bias is
/// not NULL) for m < M, n < N, in fp32, using the kernels of `level` (must not exceed
/// xl_cpu_features()). A(m, k) = A[m·lda + k], or A[k·lda + m] when `a_transposed`; B(k, n) =
/// B[n·ldb + k] when `b_k_contiguous` (nn.Linear weights), else B[k·ldb + n]. Each element is one
/// fused multiply-add chain over k = 0 … K − 1 from 0, then alpha, beta and bias, each rounded
/// once: the same bits at every level, in any batch, on any column range (f32_gemm.c).
void xl_gemm_f32(int level, int M, int N, int K, float alpha,
                 const float *A, long lda, int a_transposed,
                 const float *B, long ldb, int b_k_contiguous,
                 float beta, const float *bias, float *C, long ldc);

/// Floats of B `[N][K]` (k-contiguous) pre-packed by `xl_pack_f32`: N rounded up to 64, times K.
size_t xl_packed_f32_count(int N, int K);

/// Packs B `[N][K]` (row stride ldb) once into the panels `xl_gemm_f32_packed` reads: per 64
/// columns (zero past N) a k-major [K][64] panel. `packed` must be 64-byte aligned.
void xl_pack_f32(int level, const float *B, long ldb, int N, int K, float *packed);

/// B(n, k) of a packed matrix with K columns of k.
float xl_packed_f32_at(const float *packed, int K, int n, int k);

/// `xl_gemm_f32` with alpha 1, beta 0, A row-major and B pre-packed, from a column that is a
/// multiple of 64 on (`packed` points at that column's panel): the same bits as packing per call.
/// Then `activation` (XL_ACTIVATION_…), applied to each finished tile: the same bits as applying it after.
void xl_gemm_f32_packed(int level, int M, int N, int K, const float *A, long lda, const float *packed,
                        const float *bias, float *C, long ldc, int activation);

/// Packs B `[K][N]` (n-contiguous, row stride ldb: attention's values) into the same panels as
/// `xl_pack_f32` (B(k, n) of column n and depth k where packing `[N][K]` would put it).
void xl_pack_f32_nn(const float *B, long ldb, int N, int K, float *packed);

/// `xl_gemm_f32` with A row-major and B pre-packed (`xl_pack_f32` or `xl_pack_f32_nn`) with
/// `packedK` ≥ K values of k, of which the first K are used; alpha and beta as there: the same bits
/// as packing per call. Attention packs a head's keys and values once and multiplies each block of
/// queries by them. `bias` (or NULL): + bias[n] after alpha and beta, rounded once (ALiBi's
/// slope·j: the same bits as C holding the bias with beta 1, without copying it into every row).
void xl_gemm_f32_prepacked(int level, int M, int N, int K, float alpha, const float *A, long lda,
                           const float *packed, int packedK, float beta, const float *bias, float *C, long ldc);

/// Activations a product kernel can apply to its output as it finishes a tile (activation.c):
/// BLOOM's tanh GELU and the tanh-approximated GELU, bit for bit what Kernels' `Activation.bloomGELU`
/// and `Activation.geluTanh` compute on 16-lane vectors.
enum { XL_ACTIVATION_NONE = 0, XL_ACTIVATION_BLOOM_GELU = 1, XL_ACTIVATION_GELU_TANH = 2 };

/// Applies activation `kind` in place to `rows` rows of `width` floats, row stride `ld`.
void xl_activation_rows(int level, int kind, float *x, long ld, int rows, int width);

/// One row a[k] times B `[N][K]` (rows k-contiguous, stride ldb) into c[n], each output the
/// product kernels' chain then alpha · and + beta · c (row_product.c): a decoding query's scores.
void xl_row_product_nt(int level, int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c);
/// Adds `rows` rows of `units` floats into acc[units] (doubles): the sum (`mean`) or the running
/// maximum v ≥ acc ? v : acc, unit by unit in row order; with `positives`, each unit's count of
/// values > 0 incremented in the same pass (pooling.c).
void xl_pool_rows(int level, const float *x, long rows, long units, int mean, double *acc, int64_t *positives);
/// One row a[k] times B `[K][N]` (n-contiguous, row stride ldb) into c[n], the same chain per output:
/// a decoding query's probabilities against its values.
void xl_row_product_nn(int level, int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c);

/// Sampling's weights (sampling.c; Models/SamplingWorkspace.swift): weights[i], buckets[i] and the
/// histogram of weight per bucket into masses[0 ..< bucketCount] (and of count into counts, when
/// given), both used as four tables of `bucketCount`; returns the weight of all tokens.
uint64_t xl_sampling_weigh(int level, const float *logits, long n, float maximum, float inverse, double scale,
                           uint64_t *weights, uint16_t *buckets, uint64_t *masses, uint32_t *counts, int bucketCount);

/// The tokens whose bucket is `target`, as keys ~weights[i] << idBits | i in ascending i, into
/// `members`; returns how many (sampling.c: the boundary bucket's tokens, before they are ordered).
long xl_bucket_members(int level, const uint16_t *buckets, const uint64_t *weights, long n, int target, int idBits, uint64_t *members);

/// The logit lens's pass (sampling.c; Probing/LogitLens.swift): x = exp(x − m) in place over n
/// floats (a multiple of 16), acc[l] += (double)e[l] + (double)e[l + 8] per 16 values.
void xl_exp_shift_sum(int level, float *x, long n, float m, double acc[8]);

/// Register-only loops of one product instruction (peak.c): fp32 FMA on 256 or 512 bits,
/// VDPBF16PS, AMX TDPBF16PS. Returns the FLOPs done (2 per multiply-add) by `iterations` rounds of
/// 12 independent chains (AMX: 4 tile products); the caller times it. A kind this CPU lacks must
/// not be asked for (see `xl_cpu_features`).
enum { XL_PEAK_FP32_AVX2 = 0, XL_PEAK_FP32_AVX512 = 1, XL_PEAK_BF16_AVX512 = 2, XL_PEAK_BF16_AMX = 3 };
double xl_peak_loop(int kind, long iterations);

/// FLOP/s of `iterations` rounds of loop `kind` on each of `threads` threads of their own, started
/// together: the FLOPs of all over the wall time from the start to the last one's end (a dispatch
/// pool may run such short loops one after another and halve the figure). 0 when a thread could
/// not be started.
double xl_peak_rate(int kind, long iterations, int threads);

/// One chunk of a parallel job (pool.c): `context` is the caller's, `chunk` in 0 ..< chunks.
typedef void (*xl_chunk_fn)(void *context, int chunk);

/// Runs fn(context, c) once for every c in 0 ..< chunks on `threads` threads (the caller and
/// `threads − 1` workers started on first use, which spin briefly between jobs before they sleep)
/// and returns when all are done. A call made while another job runs (nested, or from another
/// thread) runs its chunks itself, in order.
void xl_pool_run(int threads, int chunks, xl_chunk_fn fn, void *context);

#endif
