// fp32 products C[m][n] = alpha · Σ_k A(m, k)·B(k, n) (+ beta · C[m][n]) (+ bias[n]), with A read
// in place through two strides (row-major, or transposed) and B either k-contiguous (nn.Linear
// weights `[N][K]`, keys in attention) or n-contiguous (values in attention, `[K][N]`).
//
// The order of every output element is fixed by k alone: one fp32 accumulator starts at 0 and
// takes one fused multiply-add per k, k = 0, 1, …, K − 1 (fma(a, b, acc) = round(acc + a·b)).
// When K is split into blocks the accumulator is stored as fp32 and reloaded, which is exact,
// so the chain is the same one. Then, in this order and each rounded once: alpha · acc (skipped
// when alpha is 1), + beta · C_old (when beta is not 0), + bias[n]. Nothing depends on the
// number of rows, the tile an element falls in, the column range a thread was given or the
// instruction-set level (generic: one scalar fmaf per k; AVX2: 8 lanes; AVX-512: 16 lanes, each
// lane its own element), so a row gives the same bits alone or in any batch, on any thread count
// and on any x86-64 CPU.
//
// Blocking: B is packed, 64 columns and up to KC values of k at a time, into a k-major panel
// (panel[k][n], zero past N) that stays in L2 while every row of A passes over it; A is
// broadcast from where it lies (6 rows at a time), so it is never copied.
#include "CKernelSupport.h"
#include "tile_store.h"
#include "transpose8.h"
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Products and sums are written out as the operations they are: no contraction into FMAs the
// source does not name (that would make the scalar and vector paths differ).
#pragma clang fp contract(off)

#define MR 6            // rows of A per micro-tile
#define NR 64           // columns per packed panel of B
#define KC 512

// `pfCount` cache lines from `pf` into L2, spread over the k steps (four at most per step): the
// next pre-packed panel, a share per row tile (see the driver).
#define XL_PREFETCH(k)                                                              \
        for (int l = 4 * (k); l < 4 * (k) + 4 && l < pfCount; l++) _mm_prefetch(pf + 64L * l, _MM_HINT_T1);

// MARK: - micro-kernels: tile[MR][NR] (+)= A[MR rows][kc] · panel[kc][NR]
//
// `a[i]` points at A(row i, first k of the block); consecutive k lie `ks` floats apart.
// `load`: continue the chains stored in `tile`; else start them at 0.

static void micro_generic(int kc, const float *const a[MR], long ks, const float *panel, float *c, long ldc, int load, const char *pf, int pfCount, const float *bias, const float *const *an) {
    for (int i = 0; i < MR; i++) {
        for (int n = 0; n < NR; n++) {
            float acc = load ? c[i * ldc + n] : 0.0f;
            for (int k = 0; k < kc; k++) acc = fmaf(a[i][(long)k * ks], panel[(long)k * NR + n], acc);
            c[i * ldc + n] = acc;
        }
    }
}

__attribute__((target("avx2,fma")))
static void micro_avx2(int kc, const float *const a[MR], long ks, const float *panel, float *c, long ldc, int load, const char *pf, int pfCount, const float *bias, const float *const *an) {
    for (int n0 = 0; n0 < NR; n0 += 16) {
        __m256 acc[MR][2];
        for (int i = 0; i < MR; i++) {
            acc[i][0] = load ? _mm256_loadu_ps(c + i * ldc + n0) : _mm256_setzero_ps();
            acc[i][1] = load ? _mm256_loadu_ps(c + i * ldc + n0 + 8) : _mm256_setzero_ps();
        }
        const float *p = panel + n0;
        for (int k = 0; k < kc; k++, p += NR) {
            XL_PREFETCH(k)
            __m256 b0 = _mm256_load_ps(p), b1 = _mm256_load_ps(p + 8);
            for (int i = 0; i < MR; i++) {
                __m256 x = _mm256_broadcast_ss(a[i] + (long)k * ks);
                acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
            }
        }
        if (bias) {   // + bias[n], rounded once, as `finish` adds it
            __m256 b0 = _mm256_loadu_ps(bias + n0), b1 = _mm256_loadu_ps(bias + n0 + 8);
            for (int i = 0; i < MR; i++) { acc[i][0] = _mm256_add_ps(acc[i][0], b0); acc[i][1] = _mm256_add_ps(acc[i][1], b1); }
        }
        for (int i = 0; i < MR; i++) { _mm256_storeu_ps(c + i * ldc + n0, acc[i][0]); _mm256_storeu_ps(c + i * ldc + n0 + 8, acc[i][1]); }
    }
}

/// The hot loop: 24 accumulators (6 rows × 4 vectors of 16 columns); per k, 4 panel loads and 6
/// broadcasts of A. With A's rows k-contiguous (`ks` 1) the loop is unrolled by two, the panel
/// prefetches are issued in a loop of their own, and the next tile's rows (`an`, when given) are
/// fetched into L1 a line per two k, so that a tile does not start on six cold streams. None of
/// this moves an FMA: every accumulator still takes k = 0, 1, … in order.
__attribute__((target("avx512f")))
static void micro_avx512(int kc, const float *const a[MR], long ks, const float *panel, float *c, long ldc, int load, const char *pf, int pfCount, const float *bias, const float *const *an) {
    __m512 c0[4], c1[4], c2[4], c3[4], c4[4], c5[4];   // c0 … c5: accumulators of rows 0 … 5
    for (int v = 0; v < 4; v++) {
        c0[v] = load ? _mm512_loadu_ps(c + 0 * ldc + 16 * v) : _mm512_setzero_ps();
        c1[v] = load ? _mm512_loadu_ps(c + 1 * ldc + 16 * v) : _mm512_setzero_ps();
        c2[v] = load ? _mm512_loadu_ps(c + 2 * ldc + 16 * v) : _mm512_setzero_ps();
        c3[v] = load ? _mm512_loadu_ps(c + 3 * ldc + 16 * v) : _mm512_setzero_ps();
        c4[v] = load ? _mm512_loadu_ps(c + 4 * ldc + 16 * v) : _mm512_setzero_ps();
        c5[v] = load ? _mm512_loadu_ps(c + 5 * ldc + 16 * v) : _mm512_setzero_ps();
    }
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    const float *p = panel;
#define XL_ROW(c, ai, at)                                             \
        {                                                             \
            __m512 x = _mm512_set1_ps(ai[at]);                        \
            c[0] = _mm512_fmadd_ps(x, b0, c[0]);                      \
            c[1] = _mm512_fmadd_ps(x, b1, c[1]);                      \
            c[2] = _mm512_fmadd_ps(x, b2, c[2]);                      \
            c[3] = _mm512_fmadd_ps(x, b3, c[3]);                      \
        }
#define XL_STEP(q, at)                                                                                   \
        {                                                                                                \
            __m512 b0 = _mm512_load_ps(q), b1 = _mm512_load_ps(q + 16), b2 = _mm512_load_ps(q + 32);     \
            __m512 b3 = _mm512_load_ps(q + 48);                                                          \
            XL_ROW(c0, a0, at) XL_ROW(c1, a1, at) XL_ROW(c2, a2, at)                                     \
            XL_ROW(c3, a3, at) XL_ROW(c4, a4, at) XL_ROW(c5, a5, at)                                     \
        }
    int k = 0;
    if (ks == 1) {
        int prefetching = (pfCount + 3) / 4 < kc ? (pfCount + 3) / 4 : kc;
        for (; k < prefetching; k++, p += NR) { XL_PREFETCH(k) XL_STEP(p, k) }
        if (an) {   // one line of the next tile's rows per two k: row 0 … 5, then the next 16 floats
            int row = 0;
            long line = 0;
            for (; k + 2 <= kc; k += 2, p += 2 * NR) {
                if (line < kc) {
                    _mm_prefetch((const char *)(an[row] + line), _MM_HINT_T0);
                    if (++row == MR) { row = 0; line += 16; }
                }
                XL_STEP(p, k) XL_STEP(p + NR, k + 1)
            }
        }
        for (; k + 2 <= kc; k += 2, p += 2 * NR) { XL_STEP(p, k) XL_STEP(p + NR, k + 1) }
        for (; k < kc; k++, p += NR) XL_STEP(p, k)
    } else {
        for (; k < kc; k++, p += NR) {
            XL_PREFETCH(k)
            long at = (long)k * ks;
            XL_STEP(p, at)
        }
    }
#undef XL_STEP
#undef XL_ROW
    XL_STORE_TILE_AVX512(c, ldc, bias, c0, c1, c2, c3, c4, c5);
}

typedef void (*micro_fn)(int, const float *const[MR], long, const float *, float *, long, int, const char *, int, const float *,
                         const float *const *);

/// The last tile of a product whose rows are not a multiple of MR: `R` rows (1 … 5) of the same
/// chains as `micro_avx512` (one accumulator per element, k = 0, 1, … in order, bias added once
/// as it is stored), so a row's bits do not depend on the tile it falls in; no row is computed
/// that is not wanted (100 rows were 17 six-row tiles: 2% of a decoding step's products wasted).
__attribute__((target("avx512f"), always_inline))
static inline void edge_avx512(const int R, int kc, const float *const a[MR], long ks, const float *panel, float *c, long ldc,
                               int load, const char *pf, int pfCount, const float *bias) {
    __m512 acc[MR - 1][4];
    for (int i = 0; i < R; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = load ? _mm512_loadu_ps(c + i * ldc + 16 * v) : _mm512_setzero_ps();
    const float *p = panel;
    for (int k = 0; k < kc; k++, p += NR) {
        XL_PREFETCH(k)
        __m512 b0 = _mm512_load_ps(p), b1 = _mm512_load_ps(p + 16), b2 = _mm512_load_ps(p + 32), b3 = _mm512_load_ps(p + 48);
        long at = (long)k * ks;
        for (int i = 0; i < R; i++) {
            __m512 x = _mm512_set1_ps(a[i][at]);
            acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(x, b2, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(x, b3, acc[i][3]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int v = 0; v < 4; v++) {
            __m512 out = acc[i][v];
            if (bias) out = _mm512_add_ps(out, _mm512_loadu_ps(bias + 16 * v));
            _mm512_storeu_ps(c + i * ldc + 16 * v, out);
        }
}

__attribute__((target("avx512f")))
static void micro_avx512_edge(int rows, int kc, const float *const a[MR], long ks, const float *panel, float *c, long ldc, int load,
                              const char *pf, int pfCount, const float *bias) {
    switch (rows) {
    case 1: edge_avx512(1, kc, a, ks, panel, c, ldc, load, pf, pfCount, bias); break;
    case 2: edge_avx512(2, kc, a, ks, panel, c, ldc, load, pf, pfCount, bias); break;
    case 3: edge_avx512(3, kc, a, ks, panel, c, ldc, load, pf, pfCount, bias); break;
    case 4: edge_avx512(4, kc, a, ks, panel, c, ldc, load, pf, pfCount, bias); break;
    default: edge_avx512(5, kc, a, ks, panel, c, ldc, load, pf, pfCount, bias); break;
    }
}

/// A tile narrower than a panel: `R` rows (1 … 6) × `V` vectors of 16 columns (1 … 3), the first
/// 16·V columns of the panel, into `c` (row stride `ldc`): the same chains as the whole-panel
/// kernels, without computing the zero columns past the product's last (the last key panel of an
/// attention block of queries: 13,312 query × key products for the 8,256 a 128-token head keeps).
__attribute__((target("avx512f"), always_inline))
static inline void narrow_avx512(const int R, const int V, int kc, const float *const a[MR], long ks, const float *panel,
                                 float *c, long ldc, int load) {
    __m512 acc[MR][3];
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++) acc[i][v] = load ? _mm512_loadu_ps(c + i * ldc + 16 * v) : _mm512_setzero_ps();
    const float *p = panel;
    for (int k = 0; k < kc; k++, p += NR) {
        __m512 b[3];
        for (int v = 0; v < V; v++) b[v] = _mm512_load_ps(p + 16 * v);
        long at = (long)k * ks;
        for (int i = 0; i < R; i++) {
            __m512 x = _mm512_set1_ps(a[i][at]);
            for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(x, b[v], acc[i][v]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

__attribute__((target("avx512f")))
static void micro_avx512_narrow(int rows, int vectors, int kc, const float *const a[MR], long ks, const float *panel, float *c,
                                long ldc, int load) {
#define XL_NARROW(R)                                                                     \
    case R:                                                                              \
        if (vectors == 1) narrow_avx512(R, 1, kc, a, ks, panel, c, ldc, load);           \
        else if (vectors == 2) narrow_avx512(R, 2, kc, a, ks, panel, c, ldc, load);      \
        else narrow_avx512(R, 3, kc, a, ks, panel, c, ldc, load);                        \
        break;
    switch (rows) {
    XL_NARROW(1) XL_NARROW(2) XL_NARROW(3) XL_NARROW(4) XL_NARROW(5)
    default: XL_NARROW(6)
    }
#undef XL_NARROW
}

// MARK: - packing B into panel[k][n] (data movement only: no level changes a bit)

/// B `[N][K]` (k-contiguous, row stride ldb): panel[k][n] = B[n0 + n][k0 + k].
static void pack_nt_generic(const float *B, long ldb, int n0, int width, int k0, int kc, float *panel) {
    for (int n = 0; n < NR; n++) {
        if (n >= width) { for (int k = 0; k < kc; k++) panel[(long)k * NR + n] = 0; continue; }
        const float *row = B + (long)(n0 + n) * ldb + k0;
        for (int k = 0; k < kc; k++) panel[(long)k * NR + n] = row[k];
    }
}

/// 8 × 8 blocks transposed in registers.
__attribute__((target("avx2")))
static void pack_nt_avx2(const float *B, long ldb, int n0, int width, int k0, int kc, float *panel, int ahead) {
    if (width < NR || (kc & 7)) { pack_nt_generic(B, ldb, n0, width, k0, kc, panel); return; }
    for (int nb = 0; nb < NR; nb += 8) {
        const float *rows = B + (long)(n0 + nb) * ldb + k0;
        // The rows two blocks ahead (into the next panel's while there are rows), which lie ldb
        // floats apart (a page or more each: attention's keys in a fused QKV product), where the
        // hardware's stream prefetch does not reach; their first 64 floats.
        for (int i = nb == 0 ? 8 : 16; i < 24 && nb + i < ahead; i++)
            for (int l = 0; l < kc && l < 64; l += 16) _mm_prefetch((const char *)(rows + (long)i * ldb + l), _MM_HINT_T0);
        for (int kb = 0; kb < kc; kb += 8) {
            __m256 r[8], t[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(rows + i * ldb + kb);
            xl_transpose8_avx2(r, t);
            float *out = panel + (long)kb * NR + nb;
            for (int q = 0; q < 8; q++) _mm256_store_ps(out + q * NR, t[q]);
        }
    }
}

/// B `[K][N]` (n-contiguous): panel[k][n] = B[k0 + k][n0 + n].
static void pack_nn(const float *B, long ldb, int n0, int width, int k0, int kc, float *panel) {
    if (width == NR) {   // a whole panel row is 256 bytes: moved inline, not by a call per k (attention's values)
        for (int k = 0; k < kc; k++) {
            // Sixteen rows ahead (rows a page or more apart, as in a fused QKV product).
            if (k + 16 < kc)
                for (int l = 0; l < NR; l += 16) _mm_prefetch((const char *)(B + (long)(k0 + k + 16) * ldb + n0 + l), _MM_HINT_T0);
            __builtin_memcpy_inline(panel + (long)k * NR, B + (long)(k0 + k) * ldb + n0, NR * sizeof(float));
        }
        return;
    }
    for (int k = 0; k < kc; k++) {
        float *out = panel + (long)k * NR;
        memcpy(out, B + (long)(k0 + k) * ldb + n0, (size_t)width * sizeof(float));
        if (width < NR) memset(out + width, 0, (size_t)(NR - width) * sizeof(float));
    }
}

/// out[n] = alpha · sums[n] (when alpha ≠ 1) + beta · prior[n] (when beta ≠ 0) + bias[n] (when
/// given), each step rounded once; `out` may be `sums` or `prior`.
/// `finish` 16 columns at a time (masked at the end): the same multiplies and adds, each rounded
/// once, lane by lane (attention's scores: alpha 1/√d and ALiBi's bias on every row of every block).
__attribute__((target("avx512f")))
static void finish_avx512(const float *sums, const float *prior, int width, float alpha, float beta, const float *bias, float *out) {
    for (int n = 0; n < width; n += 16) {
        __mmask16 m = width - n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (width - n)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, sums + n);
        if (alpha != 1.0f) v = _mm512_mul_ps(_mm512_set1_ps(alpha), v);
        if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, prior + n)));
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + n));
        _mm512_mask_storeu_ps(out + n, m, v);
    }
}

static void finish(const float *sums, const float *prior, int width, float alpha, float beta, const float *bias, float *out) {
    // Step by step through a local row, so each loop is vectorised whatever aliases what (vector
    // and scalar multiplies and adds round alike).
    float v[NR] __attribute__((aligned(64)));
    if (alpha != 1.0f) for (int n = 0; n < width; n++) v[n] = alpha * sums[n];
    else for (int n = 0; n < width; n++) v[n] = sums[n];
    if (beta != 0.0f) for (int n = 0; n < width; n++) v[n] = v[n] + beta * prior[n];
    if (bias) for (int n = 0; n < width; n++) v[n] = v[n] + bias[n];
    for (int n = 0; n < width; n++) out[n] = v[n];
}

// MARK: - pre-packed weights
//
// A weight matrix that every forward multiplies by is packed once, at load, into the panels the
// driver would otherwise build on every call: for each 64 columns (zero past N), a k-major
// [K][64] panel, the panels one after the other. Panel (n0 / 64)'s block at k0 is then the very
// panel[kc][64] that packing would have produced (packing moves data only), so the products are
// the same bits; a decoding step with 100 rows no longer spends a fifth of its time repacking.

size_t xl_packed_f32_count(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void xl_pack_f32(int level, const float *B, long ldb, int N, int K, float *packed) {
    for (int n0 = 0; n0 < N; n0 += NR) {
        int width = N - n0 < NR ? N - n0 : NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            float *panel = packed + (size_t)(n0 / NR) * NR * K + (size_t)k0 * NR;
            if (level >= XL_CPU_AVX2) pack_nt_avx2(B, ldb, n0, width, k0, kc, panel, N - n0);
            else pack_nt_generic(B, ldb, n0, width, k0, kc, panel);
        }
    }
}

void xl_pack_f32_nn(const float *B, long ldb, int N, int K, float *packed) {
    for (int n0 = 0; n0 < N; n0 += NR) {
        int width = N - n0 < NR ? N - n0 : NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            pack_nn(B, ldb, n0, width, k0, kc, packed + (size_t)(n0 / NR) * NR * K + (size_t)k0 * NR);
        }
    }
}

float xl_packed_f32_at(const float *packed, int K, int n, int k) {
    return packed[(size_t)(n / NR) * NR * K + (size_t)k * NR + n % NR];
}

// MARK: - driver

static void gemm(int level, int M, int N, int K, float alpha,
                 const float *A, long lda, int a_transposed,
                 const float *B, long ldb, int b_k_contiguous, const float *packed, int packedK,
                 float beta, const float *bias, float *C, long ldc, int activation);

void xl_gemm_f32(int level, int M, int N, int K, float alpha,
                 const float *A, long lda, int a_transposed,
                 const float *B, long ldb, int b_k_contiguous,
                 float beta, const float *bias, float *C, long ldc) {
    gemm(level, M, N, K, alpha, A, lda, a_transposed, B, ldb, b_k_contiguous, NULL, 0, beta, bias, C, ldc, XL_ACTIVATION_NONE);
}

void xl_gemm_f32_packed(int level, int M, int N, int K, const float *A, long lda, const float *packed,
                        const float *bias, float *C, long ldc, int activation) {
    gemm(level, M, N, K, 1.0f, A, lda, 0, NULL, 0, 1, packed, K, 0.0f, bias, C, ldc, activation);
}

void xl_gemm_f32_prepacked(int level, int M, int N, int K, float alpha, const float *A, long lda,
                           const float *packed, int packedK, float beta, const float *bias, float *C, long ldc) {
    gemm(level, M, N, K, alpha, A, lda, 0, NULL, 0, 1, packed, packedK, beta, bias, C, ldc, XL_ACTIVATION_NONE);
}

/// `packed`, when given, holds B pre-packed (xl_pack_f32) from its first column on, its panels
/// `packedK` deep (K or more: the product may use the first K values of k). `activation` is applied
/// to each tile's rows once they are final, while they are in L1.
static void gemm(int level, int M, int N, int K, float alpha,
                 const float *A, long lda, int a_transposed,
                 const float *B, long ldb, int b_k_contiguous, const float *packed, int packedK,
                 float beta, const float *bias, float *C, long ldc, int activation) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float v = 0.0f;
                if (beta != 0.0f) v = v + beta * C[(long)m * ldc + n];
                if (bias) v = v + bias[n];
                C[(long)m * ldc + n] = v;
            }
        return;
    }
    micro_fn micro = level >= XL_CPU_AVX512 ? micro_avx512 : level >= XL_CPU_AVX2 ? micro_avx2 : micro_generic;
    int kcMax = K < KC ? K : KC;
    float *panel = packed ? NULL : aligned_alloc(64, (size_t)kcMax * NR * sizeof(float));
    // beta · C_old needs C's values after C has held partial chains: kept aside when K is split.
    int split = K > KC;
    float *old = NULL;
    if (beta != 0.0f && split) {
        old = malloc((size_t)M * N * sizeof(float));
        if (old) for (int m = 0; m < M; m++) memcpy(old + (long)m * N, C + (long)m * ldc, (size_t)N * sizeof(float));
    }
    if ((!packed && !panel) || (beta != 0.0f && split && !old)) { fputs("xlsweep: out of memory for an fp32 product panel\n", stderr); abort(); }
    long rs = a_transposed ? 1 : lda, ks = a_transposed ? lda : 1;
    int epilogue = alpha != 1.0f || beta != 0.0f || bias != NULL;
    // A bias alone is added by the vector micro-kernels as they store a whole tile's last k block.
    int fuseBias = bias != NULL && alpha == 1.0f && beta == 0.0f && level >= XL_CPU_AVX2;
    float tile[MR][NR] __attribute__((aligned(64)));
    for (int n0 = 0; n0 < N; n0 += NR) {
        int width = N - n0 < NR ? N - n0 : NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC, first = k0 == 0, last = k0 + kc == K;
            if (packed) panel = (float *)packed + (size_t)(n0 / NR) * NR * packedK + (size_t)k0 * NR;
            else if (!b_k_contiguous) pack_nn(B, ldb, n0, width, k0, kc, panel);
            else if (level >= XL_CPU_AVX2) pack_nt_avx2(B, ldb, n0, width, k0, kc, panel, N - n0);
            else pack_nt_generic(B, ldb, n0, width, k0, kc, panel);
            // Pre-packed panels lie one after the other (k blocks of a column block, then the next
            // column block): the next one is fetched into L2 a share per row tile, so that reading
            // the weights from memory is spread over the tiles instead of stalling the first.
            const char *next = !packed ? NULL
                             : k0 + kc < K ? (const char *)(panel + (size_t)kc * NR)
                             : n0 + NR < N ? (const char *)(packed + (size_t)(n0 / NR + 1) * NR * packedK) : NULL;
            int nextKc = k0 + kc < K ? (K - k0 - kc < KC ? K - k0 - kc : KC) : (K < KC ? K : KC);   // its k depth
            long nextLines = next ? (long)nextKc * NR * (long)sizeof(float) / 64 : 0;
            long tiles = (M + MR - 1) / MR, perTile = (nextLines + tiles - 1) / tiles, fetched = 0;
            for (int m0 = 0; m0 < M; m0 += MR) {
                int rows = M - m0 < MR ? M - m0 : MR;
                long share = perTile < nextLines - fetched ? perTile : nextLines - fetched;
                if (share > 4L * kc) share = 4L * kc;
                const char *pf = next ? next + fetched * 64 : NULL;
                fetched += share;
                const float *a[MR], *an[MR];
                for (int i = 0; i < MR; i++) a[i] = A + (long)(m0 + (i < rows ? i : rows - 1)) * rs + (long)k0 * ks;
                // The next tile's rows, for the micro-kernel to fetch while it works on this one.
                int nextRows = M - m0 - MR < MR ? M - m0 - MR : MR;
                if (nextRows > 0)
                    for (int i = 0; i < MR; i++) an[i] = A + (long)(m0 + MR + (i < nextRows ? i : nextRows - 1)) * rs + (long)k0 * ks;
                // A whole tile is accumulated in C itself; a partial one in `tile`, copied in and out
                // (all 64 columns of fewer rows count as whole with AVX-512, whose edge kernel computes
                // just those rows). Not while C still holds the C_old that beta scales.
                int edge = rows < MR && level >= XL_CPU_AVX512;
                int whole = (rows == MR || edge) && width == NR && (beta == 0.0f || old);
                float *c = whole ? C + (long)m0 * ldc + n0 : &tile[0][0];
                long cs = whole ? ldc : NR;
                if (!whole && !first)
                    for (int i = 0; i < rows; i++) memcpy(tile[i], C + (long)(m0 + i) * ldc + n0, (size_t)width * sizeof(float));
                // And the next tile's C rows into L2: the kernel's first stores (or, past the first k
                // block, its first loads) otherwise wait on memory once per tile (3% of a product).
                for (int i = 0; i < nextRows; i++)
                    for (int v = 0; v < width; v += 16) _mm_prefetch((const char *)(C + (long)(m0 + MR + i) * ldc + n0 + v), _MM_HINT_T1);
                int fused = fuseBias && whole && last;
                if (edge && whole) micro_avx512_edge(rows, kc, a, ks, panel, c, cs, !first, pf, (int)share, fused ? bias + n0 : NULL);
                else if (!whole && width <= NR - 16 && level >= XL_CPU_AVX512)
                    micro_avx512_narrow(rows, (width + 15) / 16, kc, a, ks, panel, c, cs, !first);
                else micro(kc, a, ks, panel, c, cs, !first, pf, (int)share, fused ? bias + n0 : NULL, nextRows > 0 ? an : NULL);
                for (int i = 0; i < rows; i++) {
                    float *out = C + (long)(m0 + i) * ldc + n0;
                    const float *sums = whole ? out : tile[i];
                    if (!last) { if (!whole) memcpy(out, tile[i], (size_t)width * sizeof(float)); continue; }
                    // Without `old`, an edge tile's C_old is still in `out` (whole tiles have beta = 0 then).
                    const float *prior = old ? old + (long)(m0 + i) * N + n0 : out;
                    if (epilogue && !fused) (level >= XL_CPU_AVX512 ? finish_avx512 : finish)(sums, prior, width, alpha, beta, bias ? bias + n0 : NULL, out);
                    else if (!whole) memcpy(out, tile[i], (size_t)width * sizeof(float));
                }
                if (last && activation != XL_ACTIVATION_NONE) xl_activation_rows(level, activation, C + (long)m0 * ldc + n0, ldc, rows, width);
            }
        }
    }
    if (!packed) free(panel);
    free(old);
}
