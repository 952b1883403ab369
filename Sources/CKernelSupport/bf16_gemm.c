// bf16 × bf16 → fp32 products C[m][n] = Σ_k A[m][k]·B[n][k] with both operands k-contiguous
// (activations × nn.Linear weights as stored in a checkpoint, so weights are used in place,
// memory-mapped, never repacked).
//
// Every path computes each output element in the same order, so all paths agree bit for bit
// (except on subnormal bf16 inputs, which vdpbf16ps flushes to zero):
//   - 16 lanes; lane j accumulates the k-pairs (32i + 2j, 32i + 2j + 1) of every 32-wide step i,
//     odd element first, then even, each as one fused multiply-add (the order of VDPBF16PS; a
//     product of two bf16 values is exact in fp32, so fma(a, b, acc) = round(acc + a·b));
//   - the 16 lanes are summed as a tree: lane j + lane j+8, then j + j+4, j + j+2, j + j+1.
// The result of an element depends on neither the tile it falls in nor the number of rows or
// threads, so a batch gives the same bits as its rows computed alone.
#include "CKernelSupport.h"
#include <immintrin.h>
#include <string.h>

#define TILE 4          // output tile TILE × TILE: 16 accumulators
#define STEP 32         // bf16 elements of k per step (16 lanes × a pair)

static inline float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int xl_cpu_features(void) {
    __builtin_cpu_init();
    int level = XL_CPU_GENERIC;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = XL_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        level = XL_CPU_AVX512;
    if (level == XL_CPU_AVX512 && __builtin_cpu_supports("avx512bf16")) level = XL_CPU_AVX512_BF16;
    return level;
}

static void round_generic(const float *x, uint16_t *y, size_t count) {
    // Round to nearest, ties to even; NaN stays a (quiet) NaN.
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) { y[i] = (uint16_t)((bits >> 16) | 0x40); continue; }
        bits += 0x7fffu + ((bits >> 16) & 1u);
        y[i] = (uint16_t)(bits >> 16);
    }
}

__attribute__((target("avx512f,avx512bw")))
static void round_avx512(const float *x, uint16_t *y, size_t count) {
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i bits = _mm512_loadu_si512(x + i);
        __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one)));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, absMask), inf);
        __m512i h = _mm512_mask_or_epi32(_mm512_srli_epi32(rounded, 16), nan, _mm512_srli_epi32(bits, 16), quiet);
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(h));
    }
    round_generic(x + i, y + i, count - i);
}

void xl_round_to_bf16(int level, const float *x, uint16_t *y, size_t count) {
    if (level >= XL_CPU_AVX512) round_avx512(x, y, count);
    else round_generic(x, y, count);
}

// MARK: - generic C (any x86-64, and the ground truth of the lane order)

static void tile_generic(int K, const uint16_t *const a[TILE], const uint16_t *const b[TILE], float out[TILE][TILE]) {
    for (int i = 0; i < TILE; i++) {
        for (int j = 0; j < TILE; j++) {
            float lane[16] = {0};
            for (int k0 = 0; k0 < K; k0 += STEP) {
                for (int l = 0; l < 16; l++) {
                    int ke = k0 + 2 * l, ko = ke + 1;
                    float ao = ko < K ? bf16_to_float(a[i][ko]) : 0, bo = ko < K ? bf16_to_float(b[j][ko]) : 0;
                    float ae = ke < K ? bf16_to_float(a[i][ke]) : 0, be = ke < K ? bf16_to_float(b[j][ke]) : 0;
                    lane[l] = __builtin_fmaf(ao, bo, lane[l]);
                    lane[l] = __builtin_fmaf(ae, be, lane[l]);
                }
            }
            for (int w = 8; w >= 1; w /= 2)
                for (int l = 0; l < w; l++) lane[l] += lane[l + w];
            out[i][j] = lane[0];
        }
    }
}

// MARK: - AVX2 + FMA: each 16-lane accumulator is two 8-lane halves

__attribute__((target("avx2,fma")))
static void tile_avx2(int K, const uint16_t *const a[TILE], const uint16_t *const b[TILE], float out[TILE][TILE]) {
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    for (int i = 0; i < TILE; i++) {
        __m256 lo[TILE], hi[TILE];
        for (int j = 0; j < TILE; j++) { lo[j] = _mm256_setzero_ps(); hi[j] = _mm256_setzero_ps(); }
        for (int k0 = 0; k0 < K; k0 += STEP) {
            __m256i av[2];
            uint16_t abuf[STEP], bbuf[TILE][STEP];
            const uint16_t *ap = a[i] + k0;
            const uint16_t *bp[TILE];
            if (k0 + STEP > K) {
                int n = K - k0;
                memset(abuf, 0, sizeof abuf);
                memcpy(abuf, ap, (size_t)n * 2);
                ap = abuf;
                for (int j = 0; j < TILE; j++) { memset(bbuf[j], 0, sizeof bbuf[j]); memcpy(bbuf[j], b[j] + k0, (size_t)n * 2); bp[j] = bbuf[j]; }
            } else {
                for (int j = 0; j < TILE; j++) bp[j] = b[j] + k0;
            }
            av[0] = _mm256_loadu_si256((const __m256i *)ap);
            av[1] = _mm256_loadu_si256((const __m256i *)(ap + 16));
            __m256 aodd[2], aeven[2];
            for (int h = 0; h < 2; h++) {
                aodd[h] = _mm256_castsi256_ps(_mm256_and_si256(av[h], high));
                aeven[h] = _mm256_castsi256_ps(_mm256_slli_epi32(av[h], 16));
            }
            for (int j = 0; j < TILE; j++) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)bp[j]);
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp[j] + 16));
                lo[j] = _mm256_fmadd_ps(aodd[0], _mm256_castsi256_ps(_mm256_and_si256(b0, high)), lo[j]);
                lo[j] = _mm256_fmadd_ps(aeven[0], _mm256_castsi256_ps(_mm256_slli_epi32(b0, 16)), lo[j]);
                hi[j] = _mm256_fmadd_ps(aodd[1], _mm256_castsi256_ps(_mm256_and_si256(b1, high)), hi[j]);
                hi[j] = _mm256_fmadd_ps(aeven[1], _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16)), hi[j]);
            }
        }
        for (int j = 0; j < TILE; j++) {
            __m256 s8 = _mm256_add_ps(lo[j], hi[j]);                                        // j + j+8
            __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1)); // j + j+4
            __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                               // j + j+2
            __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));                           // j + j+1
            out[i][j] = _mm_cvtss_f32(s1);
        }
    }
}

// MARK: - AVX-512: 16 accumulators per tile, reduced together by a transposing tree

/// Sums each of 16 accumulators over its lanes (tree j+8, j+4, j+2, j+1) into one vector;
/// lane p of the result holds the sum of accumulator `xl_reduce_order[p]`.
__attribute__((target("avx512f")))
static inline __m512 reduce16(const __m512 v[16]) {
    __m512 s8[8], s4[4], s2[2];
    for (int p = 0; p < 8; p++) {  // [x.lo | y.lo] + [x.hi | y.hi]
        __m512 x = v[2 * p], y = v[2 * p + 1];
        s8[p] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
    }
    for (int p = 0; p < 4; p++) {  // 128-bit quarters q0 + q1 and q2 + q3 of each half
        __m512 x = s8[2 * p], y = s8[2 * p + 1];
        s4[p] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
    }
    for (int p = 0; p < 2; p++) {  // within each quarter: lanes 0+2, 1+3
        __m512d x = _mm512_castps_pd(s4[2 * p]), y = _mm512_castps_pd(s4[2 * p + 1]);
        s2[p] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    return _mm512_add_ps(_mm512_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(2, 0, 2, 0)),  // lanes 0+1
                         _mm512_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

static int reduce_order[16];

__attribute__((target("avx512f")))
static void init_reduce_order(void) {
    __m512 v[16];
    for (int p = 0; p < 16; p++) v[p] = _mm512_set1_ps((float)p);
    float out[16];
    _mm512_storeu_ps(out, reduce16(v));
    for (int p = 0; p < 16; p++) reduce_order[p] = (int)(out[p] / 16.0f + 0.5f);
}

#define AVX512_TILE(NAME, TARGET, ...)                                                               \
__attribute__((target(TARGET)))                                                                              \
static void NAME(int K, const uint16_t *const a[TILE], const uint16_t *const b[TILE], float out[TILE][TILE]) { \
    __m512 acc[16];                                                                                          \
    for (int p = 0; p < 16; p++) acc[p] = _mm512_setzero_ps();                                               \
    int k0 = 0;                                                                                              \
    for (; k0 + STEP <= K; k0 += STEP) {                                                                     \
        __m512i av[TILE], bv[TILE];                                                                          \
        for (int i = 0; i < TILE; i++) av[i] = _mm512_loadu_si512(a[i] + k0);                                 \
        for (int j = 0; j < TILE; j++) bv[j] = _mm512_loadu_si512(b[j] + k0);                                 \
        __VA_ARGS__                                                                                          \
    }                                                                                                        \
    if (k0 < K) {                                                                                            \
        __mmask32 m = (__mmask32)((1ull << (K - k0)) - 1);                                                   \
        __m512i av[TILE], bv[TILE];                                                                          \
        for (int i = 0; i < TILE; i++) av[i] = _mm512_maskz_loadu_epi16(m, a[i] + k0);                       \
        for (int j = 0; j < TILE; j++) bv[j] = _mm512_maskz_loadu_epi16(m, b[j] + k0);                       \
        __VA_ARGS__                                                                                          \
    }                                                                                                        \
    float sums[16];                                                                                          \
    _mm512_storeu_ps(sums, reduce16(acc));                                                                   \
    for (int p = 0; p < 16; p++) out[reduce_order[p] / TILE][reduce_order[p] % TILE] = sums[p];               \
}

AVX512_TILE(tile_avx512_bf16, "avx512f,avx512bw,avx512bf16", {
    for (int i = 0; i < TILE; i++)
        for (int j = 0; j < TILE; j++)
            acc[i * TILE + j] = _mm512_dpbf16_ps(acc[i * TILE + j], (__m512bh)av[i], (__m512bh)bv[j]);
})

AVX512_TILE(tile_avx512, "avx512f,avx512bw", {
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    __m512 ao[TILE], ae[TILE];
    for (int i = 0; i < TILE; i++) {
        ao[i] = _mm512_castsi512_ps(_mm512_and_si512(av[i], high));
        ae[i] = _mm512_castsi512_ps(_mm512_slli_epi32(av[i], 16));
    }
    for (int j = 0; j < TILE; j++) {
        __m512 bo = _mm512_castsi512_ps(_mm512_and_si512(bv[j], high));
        __m512 be = _mm512_castsi512_ps(_mm512_slli_epi32(bv[j], 16));
        for (int i = 0; i < TILE; i++) {
            acc[i * TILE + j] = _mm512_fmadd_ps(ao[i], bo, acc[i * TILE + j]);
            acc[i * TILE + j] = _mm512_fmadd_ps(ae[i], be, acc[i * TILE + j]);
        }
    }
})

// MARK: - blocking and dispatch

typedef void (*tile_fn)(int, const uint16_t *const[TILE], const uint16_t *const[TILE], float[TILE][TILE]);

void xl_gemm_bf16_nt(int level, int M, int N, int K, const uint16_t *A, long lda, const uint16_t *B, long ldb,
                     const float *bias, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    tile_fn tile = tile_generic;
    if (level >= XL_CPU_AVX512) {
        static int ordered = 0;
        if (!__atomic_load_n(&ordered, __ATOMIC_ACQUIRE)) { init_reduce_order(); __atomic_store_n(&ordered, 1, __ATOMIC_RELEASE); }
        tile = level >= XL_CPU_AVX512_BF16 ? tile_avx512_bf16 : tile_avx512;
    } else if (level >= XL_CPU_AVX2) {
        tile = tile_avx2;
    }
    // Rows of A in blocks that stay in L2 (≈ 256 KiB) while every column tile of B streams past.
    int mc = (int)((256 * 1024) / ((long)K * 2 + 1));
    mc = mc < TILE ? TILE : mc - mc % TILE;
    for (int m0 = 0; m0 < M; m0 += mc) {
        int m1 = m0 + mc < M ? m0 + mc : M;
        for (int n = 0; n < N; n += TILE) {
            const uint16_t *b[TILE];
            for (int j = 0; j < TILE; j++) b[j] = B + (long)(n + j < N ? n + j : N - 1) * ldb;
            for (int m = m0; m < m1; m += TILE) {
                const uint16_t *a[TILE];
                for (int i = 0; i < TILE; i++) a[i] = A + (long)(m + i < M ? m + i : M - 1) * lda;
                float out[TILE][TILE];
                tile(K, a, b, out);
                for (int i = 0; i < TILE && m + i < M; i++)
                    for (int j = 0; j < TILE && n + j < N; j++)
                        C[(long)(m + i) * ldc + n + j] = bias ? out[i][j] + bias[n + j] : out[i][j];
            }
        }
    }
}
