// The passes over a 262k-token row of logits that a decoding step and the logit lens make, in C
// with AVX-512 (Swift's vector code, compiled for AVX2, stays for the CPUs below):
// - sampling's weighing (Models/SamplingWorkspace.swift `weigh`): every token's integer weight
//   round(exp((l − m) · (1/T)) · 2^s), its weight bucket, and the histogram of weight (and of
//   count) per bucket, in one pass. Lane for lane the Swift code: exp is simdExp's (simd_exp.h),
//   the weight is exact in a double, and the histogram's sums are integer, so neither the order
//   nor the table a token is added to changes a bit;
// - the boundary bucket's tokens gathered as sort keys (`boundary`);
// - the lens's exp(x − max) with its running sums (Kernels/SIMDMath.swift `exponentiateShifted`).
#include "CKernelSupport.h"
#include "simd_exp.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

#define XL_TWO52 4503599627370496.0   // 2⁵²: t = e · 2^s + 2⁵² holds round(e · 2^s) in its low bits

/// One token: its weight and bucket (the weight as a double's exponent and top five fraction
/// bits, −(1023 · 32 − 1), at least 0).
static inline uint64_t weigh_lane(float l, float maximum, float inverse, double scale, uint16_t *bucket) {
    float x = (l - maximum) * inverse;
    if (x != x) x = -INFINITY;
    double t = (double)exp_lane(x) * scale + XL_TWO52;
    uint64_t tb, magic, rb;
    double r = t - XL_TWO52, two52 = XL_TWO52;
    memcpy(&tb, &t, 8); memcpy(&magic, &two52, 8); memcpy(&rb, &r, 8);
    int64_t biased = (int64_t)(rb >> 47) - 32735;
    *bucket = (uint16_t)(biased < 0 ? 0 : biased);
    return tb - magic;
}

__attribute__((target("avx512f")))
static uint64_t weigh_avx512(const float *logits, long n, float maximum, float inverse, double scale,
                             uint64_t *weights, uint16_t *buckets) {
    const __m512 m = _mm512_set1_ps(maximum), inv = _mm512_set1_ps(inverse), minusInf = _mm512_set1_ps(-INFINITY);
    const __m512d s = _mm512_set1_pd(scale), magic = _mm512_set1_pd(XL_TWO52);
    const __m512i magicBits = _mm512_castpd_si512(magic), bias = _mm512_set1_epi64(32735), zero = _mm512_setzero_si512();
    __m512i sum = _mm512_setzero_si512();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(logits + i), m), inv);
        x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x, minusInf);
        __m512 e = exp_avx512(x);
        __m512d half[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(e)),
                           _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)))};
        for (int h = 0; h < 2; h++) {
            __m512d t = _mm512_add_pd(_mm512_mul_pd(half[h], s), magic);
            __m512i w = _mm512_sub_epi64(_mm512_castpd_si512(t), magicBits);
            __m512i exponent = _mm512_srli_epi64(_mm512_castpd_si512(_mm512_sub_pd(t, magic)), 47);
            __m512i bucket = _mm512_max_epi64(_mm512_sub_epi64(exponent, bias), zero);
            _mm512_storeu_si512((void *)(weights + i + 8 * h), w);
            _mm_storeu_si128((__m128i *)(buckets + i + 8 * h), _mm512_cvtepi64_epi16(bucket));
            sum = _mm512_add_epi64(sum, w);
        }
    }
    uint64_t lanes[8], total = 0;
    _mm512_storeu_si512((void *)lanes, sum);
    for (int l = 0; l < 8; l++) total += lanes[l];
    for (; i < n; i++) total += weights[i] = weigh_lane(logits[i], maximum, inverse, scale, buckets + i);
    return total;
}

uint64_t xl_sampling_weigh(int level, const float *logits, long n, float maximum, float inverse, double scale,
                           uint64_t *weights, uint16_t *buckets, uint64_t *masses, uint32_t *counts, int bucketCount) {
    uint64_t total = 0;
    if (level >= XL_CPU_AVX512) total = weigh_avx512(logits, n, maximum, inverse, scale, weights, buckets);
    else for (long i = 0; i < n; i++) total += weights[i] = weigh_lane(logits[i], maximum, inverse, scale, buckets + i);
    // Four histograms, token i in the (i mod 4)th: neighbouring tokens often share a bucket, and
    // one table would make each wait for the other's store. Then summed into the first.
    memset(masses, 0, sizeof(uint64_t) * 4 * (size_t)bucketCount);
    uint64_t *m1 = masses + bucketCount, *m2 = m1 + bucketCount, *m3 = m2 + bucketCount;
    long i = 0;
    if (counts) {
        memset(counts, 0, sizeof(uint32_t) * 4 * (size_t)bucketCount);
        uint32_t *c1 = counts + bucketCount, *c2 = c1 + bucketCount, *c3 = c2 + bucketCount;
        for (; i + 4 <= n; i += 4) {
            masses[buckets[i]] += weights[i]; counts[buckets[i]]++;
            m1[buckets[i + 1]] += weights[i + 1]; c1[buckets[i + 1]]++;
            m2[buckets[i + 2]] += weights[i + 2]; c2[buckets[i + 2]]++;
            m3[buckets[i + 3]] += weights[i + 3]; c3[buckets[i + 3]]++;
        }
        for (; i < n; i++) { masses[buckets[i]] += weights[i]; counts[buckets[i]]++; }
        for (int b = 0; b < bucketCount; b++) counts[b] += c1[b] + c2[b] + c3[b];
    } else {
        for (; i + 4 <= n; i += 4) {
            masses[buckets[i]] += weights[i];
            m1[buckets[i + 1]] += weights[i + 1];
            m2[buckets[i + 2]] += weights[i + 2];
            m3[buckets[i + 3]] += weights[i + 3];
        }
        for (; i < n; i++) masses[buckets[i]] += weights[i];
    }
    for (int b = 0; b < bucketCount; b++) masses[b] += m1[b] + m2[b] + m3[b];
    return total;
}

/// The tokens of bucket `target` as sort keys (~weight << idBits | id), ascending id; returns how
/// many. AVX-512: 32 buckets compared at a time (the boundary bucket holds a few thousand of 262k).
__attribute__((target("avx512f,avx512bw")))
static long members_avx512(const uint16_t *buckets, const uint64_t *weights, long n, uint16_t target, int idBits, uint64_t *members) {
    const __m512i t = _mm512_set1_epi16((short)target);
    long m = 0, i = 0;
    for (; i + 32 <= n; i += 32) {
        uint32_t hits = (uint32_t)_mm512_cmpeq_epi16_mask(_mm512_loadu_si512((const void *)(buckets + i)), t);
        while (hits) {
            long at = i + __builtin_ctz(hits);
            members[m++] = ~weights[at] << idBits | (uint64_t)at;
            hits &= hits - 1;
        }
    }
    for (; i < n; i++) if (buckets[i] == target) members[m++] = ~weights[i] << idBits | (uint64_t)i;
    return m;
}

long xl_bucket_members(int level, const uint16_t *buckets, const uint64_t *weights, long n, int target, int idBits, uint64_t *members) {
    if (level >= XL_CPU_AVX512) return members_avx512(buckets, weights, n, (uint16_t)target, idBits, members);
    long m = 0;
    for (long i = 0; i < n; i++) if (buckets[i] == target) members[m++] = ~weights[i] << idBits | (uint64_t)i;
    return m;
}

// MARK: - the logit lens's pass (Probing/LogitLens.swift, LensReading)

/// x[i] = exp(x[i] − m) over `n` floats (a multiple of 16), returning in acc[l] the running sum,
/// over each 16 values, of (double)e[l] + (double)e[l + 8]: what LensReading's SIMD8<Double>
/// accumulator holds after the same values.
__attribute__((target("avx512f")))
static void exp_shift_sum_avx512(float *x, long n, float m, double acc[8]) {
    const __m512 mv = _mm512_set1_ps(m);
    __m512d a = _mm512_loadu_pd(acc);
    for (long i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
        a = _mm512_add_pd(a, _mm512_add_pd(lo, hi));
    }
    _mm512_storeu_pd(acc, a);
}

void xl_exp_shift_sum(int level, float *x, long n, float m, double acc[8]) {
    if (level >= XL_CPU_AVX512) { exp_shift_sum_avx512(x, n, m, acc); return; }
    for (long i = 0; i + 16 <= n; i += 16) {
        float e[16];
        for (int l = 0; l < 16; l++) x[i + l] = e[l] = exp_lane(x[i + l] - m);
        for (int l = 0; l < 8; l++) acc[l] = acc[l] + ((double)e[l] + (double)e[l + 8]);
    }
}
