// The end of the AVX-512 micro-kernels (f32_gemm.c, bf16_gemm.c): a 6 × 64 tile of fp32
// accumulators, rows c0 … c5 of four 16-lane vectors, plus bias[n] when given (one rounded
// addition, as the scalar epilogues add it), stored to `out` (row stride `ldc`).
#ifndef XLSWEEP_TILE_STORE_H
#define XLSWEEP_TILE_STORE_H

#define XL_STORE_TILE_AVX512(out, ldc, bias, c0, c1, c2, c3, c4, c5)                                         \
    do {                                                                                                     \
        if (bias) {                                                                                          \
            for (int v_ = 0; v_ < 4; v_++) {                                                                 \
                __m512 b_ = _mm512_loadu_ps((bias) + 16 * v_);                                               \
                c0[v_] = _mm512_add_ps(c0[v_], b_); c1[v_] = _mm512_add_ps(c1[v_], b_);                      \
                c2[v_] = _mm512_add_ps(c2[v_], b_); c3[v_] = _mm512_add_ps(c3[v_], b_);                      \
                c4[v_] = _mm512_add_ps(c4[v_], b_); c5[v_] = _mm512_add_ps(c5[v_], b_);                      \
            }                                                                                                \
        }                                                                                                    \
        for (int v_ = 0; v_ < 4; v_++) {                                                                     \
            _mm512_storeu_ps((out) + 0 * (ldc) + 16 * v_, c0[v_]);                                           \
            _mm512_storeu_ps((out) + 1 * (ldc) + 16 * v_, c1[v_]);                                           \
            _mm512_storeu_ps((out) + 2 * (ldc) + 16 * v_, c2[v_]);                                           \
            _mm512_storeu_ps((out) + 3 * (ldc) + 16 * v_, c3[v_]);                                           \
            _mm512_storeu_ps((out) + 4 * (ldc) + 16 * v_, c4[v_]);                                           \
            _mm512_storeu_ps((out) + 5 * (ldc) + 16 * v_, c5[v_]);                                           \
        }                                                                                                    \
    } while (0)

#endif
