// Kernels/SIMDMath.swift `simdExp` (Cephes expf) lane for lane, for the C loops that stand for
// Swift vector code (activation.c, sampling.c, lens.c): the same fp32 products and sums in the same
// order, none contracted into an FMA (each including file turns contraction off), each clamp the
// IEEE maxNum/minNum of a value and a constant (a NaN value gives the constant), which is what
// VMAXPS/VMINPS with the value first compute. One scalar lane and 16 AVX-512 lanes.
#ifndef XLSWEEP_SIMD_EXP_H
#define XLSWEEP_SIMD_EXP_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

// The constants of simdExp (Cephes expf), as Swift rounds them to Float.
#define XL_LOG2E 1.4426950408889634f
#define XL_LN2_HI 0.693359375f
#define XL_LN2_LO -2.12194440e-4f
#define XL_MAGIC 12582912.0f
#define XL_P0 1.9875691500e-4f
#define XL_P1 1.3981999507e-3f
#define XL_P2 8.3334519073e-3f
#define XL_P3 4.1665795894e-2f
#define XL_P4 1.6666665459e-1f
#define XL_P5 5.0000001201e-1f

// MARK: - one lane (scalar)

static inline float max_c(float x, float c) { return x > c ? x : c; }
static inline float min_c(float x, float c) { return x < c ? x : c; }

static inline float exp_lane(float x) {
    float v = min_c(max_c(x, -87.3f), 88.7f);
    float shifted = v * XL_LOG2E + XL_MAGIC;
    float n = shifted - XL_MAGIC;
    v = v - n * XL_LN2_HI;
    v = v - n * XL_LN2_LO;
    float p = XL_P0;
    p = p * v + XL_P1;
    p = p * v + XL_P2;
    p = p * v + XL_P3;
    p = p * v + XL_P4;
    p = p * v + XL_P5;
    p = p * (v * v) + v + 1.0f;
    uint32_t s;
    memcpy(&s, &shifted, 4);
    uint32_t bits = (s - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

// MARK: - 16 lanes (AVX-512)

__attribute__((target("avx512f")))
static inline __m512 exp_avx512(__m512 x) {
    __m512 v = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
    __m512 shifted = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(XL_LOG2E)), _mm512_set1_ps(XL_MAGIC));
    __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(XL_MAGIC));
    v = _mm512_sub_ps(v, _mm512_mul_ps(n, _mm512_set1_ps(XL_LN2_HI)));
    v = _mm512_sub_ps(v, _mm512_mul_ps(n, _mm512_set1_ps(XL_LN2_LO)));
    __m512 p = _mm512_set1_ps(XL_P0);
    p = _mm512_add_ps(_mm512_mul_ps(p, v), _mm512_set1_ps(XL_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, v), _mm512_set1_ps(XL_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, v), _mm512_set1_ps(XL_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, v), _mm512_set1_ps(XL_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, v), _mm512_set1_ps(XL_P5));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(v, v)), v), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000)),
                                                      _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

#endif
