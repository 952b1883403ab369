// Activations applied by the product kernels to a finished tile as it lies in L1, so the MLP's
// hidden layer is not read and written once more by a pass of its own. Each is, lane by lane,
// the very sequence of fp32 operations of the Swift vector version it stands for
// (Kernels/SIMDMath.swift `simdExp`/`simdTanh`, Kernels/Activations.swift `bloomGELU`/`geluTanh`):
// the same products and sums in the same order, none contracted into an FMA, and each clamp the
// IEEE maxNum/minNum of a value and a constant (a NaN value gives the constant), which is what
// VMAXPS/VMINPS with the value first compute. So the bits are the Swift version's at every level.
#include "CKernelSupport.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include "simd_exp.h"

#pragma clang fp contract(off)

// MARK: - one lane (scalar)

static inline float tanh_lane(float x) {
    float c = min_c(max_c(x, -9.0f), 9.0f);
    return 1.0f - 2.0f / (exp_lane(2.0f * c) + 1.0f);
}

static inline float activation_lane(int kind, float v) {
    if (kind == XL_ACTIVATION_BLOOM_GELU) {
        float t = tanh_lane(0.79788456f * v * (1.0f + 0.044715f * v * v));
        return v * 0.5f * (1.0f + t);
    }
    float t = tanh_lane(0.7978845608028654f * (v + 0.044715f * v * v * v));
    return 0.5f * v * (1.0f + t);
}

// MARK: - 16 lanes (AVX-512)

__attribute__((target("avx512f")))
static inline __m512 tanh_avx512(__m512 x) {
    __m512 c = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-9.0f)), _mm512_set1_ps(9.0f));
    __m512 e = exp_avx512(_mm512_mul_ps(_mm512_set1_ps(2.0f), c));
    return _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
}

__attribute__((target("avx512f")))
static void row_avx512(int kind, float *x, int count) {
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    int i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), t;
        if (kind == XL_ACTIVATION_BLOOM_GELU) {
            __m512 inner = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.79788456f), v),
                                         _mm512_add_ps(one, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), v)));
            t = tanh_avx512(inner);
            _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(v, half), _mm512_add_ps(one, t)));
        } else {
            __m512 cube = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), v), v);
            t = tanh_avx512(_mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f), _mm512_add_ps(v, cube)));
            _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, t)));
        }
    }
    for (; i < count; i++) x[i] = activation_lane(kind, x[i]);
}

void xl_activation_rows(int level, int kind, float *x, long ld, int rows, int width) {
    if (kind == XL_ACTIVATION_NONE) return;
    for (int r = 0; r < rows; r++) {
        float *row = x + (long)r * ld;
        if (level >= XL_CPU_AVX512) row_avx512(kind, row, width);
        else for (int i = 0; i < width; i++) row[i] = activation_lane(kind, row[i]);
    }
}
