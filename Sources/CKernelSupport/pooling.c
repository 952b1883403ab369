// Pooling a sentence's rows (Probing/Pooling.swift): per unit, a Double sum over the tokens in
// order (mean) or the running maximum as Swift.max gives it (v ≥ acc ? v : acc, so a NaN value
// leaves the maximum and a NaN maximum stays), and optionally each unit's count of values > 0
// (LAPE's activation counts). Every unit's operations are those of the scalar loop, in the same
// order, whatever the level: lanes are units, rows are taken one after the other.
#include "CKernelSupport.h"
#include <immintrin.h>

#pragma clang fp contract(off)

static inline void pool_unit(float x, int mean, double *acc, int64_t *positive) {
    double v = (double)x;
    *acc = mean ? *acc + v : (v >= *acc ? v : *acc);
    if (positive && x > 0.0f) *positive += 1;
}

__attribute__((target("avx512f")))
static long pool_row_avx512(const float *x, long units, int mean, double *acc, int64_t *positives) {
    const __m512i one = _mm512_set1_epi64(1);
    const __m512d zero = _mm512_setzero_pd();
    long u = 0;
    for (; u + 8 <= units; u += 8) {
        __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + u)), a = _mm512_loadu_pd(acc + u);
        a = mean ? _mm512_add_pd(a, v) : _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, a, _CMP_GE_OQ), a, v);
        _mm512_storeu_pd(acc + u, a);
        if (positives) {
            __m512i p = _mm512_loadu_si512((const void *)(positives + u));
            p = _mm512_mask_add_epi64(p, _mm512_cmp_pd_mask(v, zero, _CMP_GT_OQ), p, one);
            _mm512_storeu_si512((void *)(positives + u), p);
        }
    }
    return u;
}

void xl_pool_rows(int level, const float *x, long rows, long units, int mean, double *acc, int64_t *positives) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * units;
        long u = level >= XL_CPU_AVX512 ? pool_row_avx512(row, units, mean, acc, positives) : 0;
        for (; u < units; u++) pool_unit(row[u], mean, acc + u, positives ? positives + u : 0);
    }
}
