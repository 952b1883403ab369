// One row a[k] times B `[N][K]` transposed (B's rows k-contiguous, stride ldb) into c[n]: a
// decoding step's single query against its keys. Each output is the chain `Linear.rowProduct`
// and the product kernels compute — one fp32 accumulator from 0, one FMA per k in order, then
// alpha · (when not 1), then + beta · c (when beta is not 0), each rounded once — so the bits do
// not depend on the level. AVX2: eight keys advance together, lane l the chain of key j + l,
// their values for eight k gathered by an 8 × 8 transpose instead of one insert per value.
// And one row a[k] times B `[K][N]` (n-contiguous): the step's probabilities against its values,
// sixteen (AVX-512) or eight (AVX2) outputs a vector, lane l the chain of column j + l.
#include "CKernelSupport.h"
#include "transpose8.h"
#include <immintrin.h>
#include <math.h>

#pragma clang fp contract(off)

static inline void finish(float acc, float alpha, float beta, float *c) {
    float v = alpha != 1.0f ? alpha * acc : acc;
    if (beta != 0.0f) v = v + beta * *c;
    *c = v;
}

static void row_nt_generic(int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c) {
    for (int j = 0; j < n; j++) {
        float acc = 0.0f;
        for (int p = 0; p < k; p++) acc = fmaf(a[p], b[(long)j * ldb + p], acc);
        finish(acc, alpha, beta, c + j);
    }
}

__attribute__((target("avx2,fma")))
static void row_nt_avx2(int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c) {
    for (int j = 0; j < n; j += 8) {
        int rows = n - j < 8 ? n - j : 8;
        const float *r[8];
        for (int l = 0; l < 8; l++) r[l] = b + (long)(j + (l < rows ? l : rows - 1)) * ldb;
        __m256 acc = _mm256_setzero_ps();
        int p = 0;
        for (; p + 8 <= k; p += 8) {
            __m256 block[8], column[8];
            for (int l = 0; l < 8; l++) block[l] = _mm256_loadu_ps(r[l] + p);
            xl_transpose8_avx2(block, column);
            for (int q = 0; q < 8; q++) acc = _mm256_fmadd_ps(_mm256_set1_ps(a[p + q]), column[q], acc);
        }
        for (; p < k; p++) {
            __m256 column = _mm256_setr_ps(r[0][p], r[1][p], r[2][p], r[3][p], r[4][p], r[5][p], r[6][p], r[7][p]);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a[p]), column, acc);
        }
        float out[8];
        _mm256_storeu_ps(out, acc);
        for (int l = 0; l < rows; l++) finish(out[l], alpha, beta, c + j + l);
    }
}

void xl_row_product_nt(int level, int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c) {
    if (level >= XL_CPU_AVX2) row_nt_avx2(n, k, alpha, a, b, ldb, beta, c);
    else row_nt_generic(n, k, alpha, a, b, ldb, beta, c);
}

// MARK: - B `[K][N]`, n-contiguous

static void row_nn_generic(int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c, int from) {
    for (int j = from; j < n; j++) {
        float acc = 0.0f;
        for (int p = 0; p < k; p++) acc = fmaf(a[p], b[(long)p * ldb + j], acc);
        finish(acc, alpha, beta, c + j);
    }
}

__attribute__((target("avx2,fma")))
static int row_nn_avx2(int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c, int from) {
    int j = from;
    for (; j + 8 <= n; j += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int p = 0; p < k; p++) acc = _mm256_fmadd_ps(_mm256_set1_ps(a[p]), _mm256_loadu_ps(b + (long)p * ldb + j), acc);
        float out[8];
        _mm256_storeu_ps(out, acc);
        for (int l = 0; l < 8; l++) finish(out[l], alpha, beta, c + j + l);
    }
    return j;
}

__attribute__((target("avx512f")))
static int row_nn_avx512(int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c) {
    int j = 0;
    for (; j + 64 <= n; j += 64) {   // four vectors at once: four chains in flight per k
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int p = 0; p < k; p++) {
            const float *row = b + (long)p * ldb + j;
            __m512 x = _mm512_set1_ps(a[p]);
            acc0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(row), acc0);
            acc1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(row + 16), acc1);
            acc2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(row + 32), acc2);
            acc3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(row + 48), acc3);
        }
        float out[64];
        _mm512_storeu_ps(out, acc0); _mm512_storeu_ps(out + 16, acc1);
        _mm512_storeu_ps(out + 32, acc2); _mm512_storeu_ps(out + 48, acc3);
        for (int l = 0; l < 64; l++) finish(out[l], alpha, beta, c + j + l);
    }
    for (; j + 16 <= n; j += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int p = 0; p < k; p++) acc = _mm512_fmadd_ps(_mm512_set1_ps(a[p]), _mm512_loadu_ps(b + (long)p * ldb + j), acc);
        float out[16];
        _mm512_storeu_ps(out, acc);
        for (int l = 0; l < 16; l++) finish(out[l], alpha, beta, c + j + l);
    }
    return j;
}

void xl_row_product_nn(int level, int n, int k, float alpha, const float *a, const float *b, long ldb, float beta, float *c) {
    int j = 0;
    if (level >= XL_CPU_AVX512) j = row_nn_avx512(n, k, alpha, a, b, ldb, beta, c);
    if (level >= XL_CPU_AVX2) j = row_nn_avx2(n, k, alpha, a, b, ldb, beta, c, j);
    row_nn_generic(n, k, alpha, a, b, ldb, beta, c, j);
}
