// bf16 × bf16 → fp32 products C[m][n] = Σ_k A[m][k]·B[n][k] (+ bias[n]) with both operands
// k-contiguous: activations × nn.Linear weights as stored in a checkpoint, so the weights are read
// in place (memory-mapped); one 64-column panel of B at a time is repacked into the pair-
// interleaved ("VNNI") layout VDPBF16PS wants, in a buffer reused over every row of A.
//
// Every portable path (generic, AVX2, AVX-512, AVX-512 BF16) computes each output element in the
// same order, so they agree bit for bit (except on subnormal bf16 inputs, which VDPBF16PS flushes
// to zero): one fp32 accumulator runs
// over the k-pairs (2p, 2p+1) in order, odd element first, then even, each as one fused
// multiply-add (the order of VDPBF16PS; a product of two bf16 values is exact in fp32, so
// fma(a, b, acc) = round(acc + a·b)); the bias is added last. The result of an element depends on
// neither the tile it falls in nor the number of rows or threads: a batch gives the same bits as
// its rows computed alone.
#include "CKernelSupport.h"
#include "tile_store.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MR 6            // rows of A per micro-tile
#define NR 64           // columns of B per packed panel (4 × 16 fp32 lanes)

static inline float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// AMX needs the CPU's tile instructions (CPUID.7.0:EDX bits 22 and 24), the OS's tile state in
/// XCR0 (bits 17 and 18), and Linux's per-process permission for the 8 KiB tile data
/// (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA = 18; Linux 5.16 on).
static int amx_usable(void) {
#if defined(__x86_64__) && defined(__linux__)
    unsigned eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
    if (!((edx >> 22) & 1) || !((edx >> 24) & 1)) return 0;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
    if (!((ecx >> 27) & 1)) return 0;                       // OSXSAVE: xgetbv is allowed
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
    return 0;
#endif
}

int xl_cpu_features(void) {
    __builtin_cpu_init();
    int level = XL_CPU_GENERIC;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = XL_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        level = XL_CPU_AVX512;
    if (level == XL_CPU_AVX512 && __builtin_cpu_supports("avx512bf16")) level = XL_CPU_AVX512_BF16;
    if (level == XL_CPU_AVX512_BF16 && amx_usable()) level = XL_CPU_AMX_BF16;
    return level;
}

const char *xl_openblas_coretype_for_cpu(void) {
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (avx512 && __builtin_cpu_supports("avx512bf16")) return "Cooperlake";
    if (avx512) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
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

// MARK: - fp16 weights: widened exactly, rounded to bf16 (nearest even) while a panel is packed

static inline float fp16_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);                  // inf, NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);      // normal: rebias 15 → 127
    } else if (mantissa == 0) {
        bits = sign;                                                    // ±0
    } else {                                                            // subnormal: normalise
        int shift = 0;
        while (!(mantissa & 0x400u)) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void fp16_row_to_bf16_generic(const uint16_t *src, uint16_t *dst, int count) {
    for (int i = 0; i < count; i++) {
        float f = fp16_to_float(src[i]);
        round_generic(&f, dst + i, 1);
    }
}

__attribute__((target("avx512f,avx512bw")))
static void fp16_row_to_bf16_avx512(const uint16_t *src, uint16_t *dst, int count) {
    float wide[16];
    int i = 0;
    for (; i + 16 <= count; i += 16) {
        _mm512_storeu_ps(wide, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
        round_avx512(wide, dst + i, 16);
    }
    fp16_row_to_bf16_generic(src + i, dst + i, count - i);
}

__attribute__((target("avx2,fma,f16c")))
static void fp16_row_to_bf16_avx2(const uint16_t *src, uint16_t *dst, int count) {
    float wide[8];
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(wide, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
        round_generic(wide, dst + i, 8);
    }
    fp16_row_to_bf16_generic(src + i, dst + i, count - i);
}

/// `count` rows of K fp16 values (row stride ldb) rounded to bf16 into `dst` (row stride K).
static void fp16_rows_to_bf16(int level, const uint16_t *src, long ldb, int count, int K, uint16_t *dst) {
    for (int n = 0; n < count; n++) {
        if (level >= XL_CPU_AVX512) fp16_row_to_bf16_avx512(src + (long)n * ldb, dst + (long)n * K, K);
        else if (level >= XL_CPU_AVX2) fp16_row_to_bf16_avx2(src + (long)n * ldb, dst + (long)n * K, K);
        else fp16_row_to_bf16_generic(src + (long)n * ldb, dst + (long)n * K, K);
    }
}

// MARK: - micro-kernels: tile[MR][NR] = A[MR rows][pairs] · panel[pairs][NR]
//
// `a[i]` points at row i of A at the panel's first k; `panel` holds, for pair p and column n, the
// 32-bit word (B[n][2p] | B[n][2p+1] << 16); `pairs` full pairs, then one half pair (`half`: the
// even element only) when K is odd at the end of A.

static inline uint32_t pair_at(const uint16_t *row, int p, int half_pair) {
    return half_pair ? (uint32_t)row[2 * p] : (uint32_t)row[2 * p] | (uint32_t)row[2 * p + 1] << 16;
}

static void micro_generic(int pairs, int half, const uint16_t *const a[MR], const uint32_t *panel, float tile[MR][NR]) {
    for (int i = 0; i < MR; i++) {
        for (int n = 0; n < NR; n++) {
            float acc = 0.0f;
            for (int p = 0; p < pairs + half; p++) {
                uint32_t av = pair_at(a[i], p, p == pairs), bv = panel[p * NR + n];
                acc = __builtin_fmaf(bf16_to_float((uint16_t)(av >> 16)), bf16_to_float((uint16_t)(bv >> 16)), acc);
                acc = __builtin_fmaf(bf16_to_float((uint16_t)av), bf16_to_float((uint16_t)bv), acc);
            }
            tile[i][n] = acc;
        }
    }
}

__attribute__((target("avx2,fma")))
static void micro_avx2(int pairs, int half, const uint16_t *const a[MR], const uint32_t *panel, float tile[MR][NR]) {
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    for (int n0 = 0; n0 < NR; n0 += 16) {
        __m256 acc[MR][2];
        for (int i = 0; i < MR; i++) { acc[i][0] = _mm256_setzero_ps(); acc[i][1] = _mm256_setzero_ps(); }
        for (int p = 0; p < pairs + half; p++) {
            __m256i b0 = _mm256_loadu_si256((const __m256i *)(panel + p * NR + n0));
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(panel + p * NR + n0 + 8));
            __m256 bo0 = _mm256_castsi256_ps(_mm256_and_si256(b0, high)), be0 = _mm256_castsi256_ps(_mm256_slli_epi32(b0, 16));
            __m256 bo1 = _mm256_castsi256_ps(_mm256_and_si256(b1, high)), be1 = _mm256_castsi256_ps(_mm256_slli_epi32(b1, 16));
            for (int i = 0; i < MR; i++) {
                __m256i av = _mm256_set1_epi32((int)pair_at(a[i], p, p == pairs));
                __m256 ao = _mm256_castsi256_ps(_mm256_and_si256(av, high)), ae = _mm256_castsi256_ps(_mm256_slli_epi32(av, 16));
                acc[i][0] = _mm256_fmadd_ps(ae, be0, _mm256_fmadd_ps(ao, bo0, acc[i][0]));
                acc[i][1] = _mm256_fmadd_ps(ae, be1, _mm256_fmadd_ps(ao, bo1, acc[i][1]));
            }
        }
        for (int i = 0; i < MR; i++) { _mm256_storeu_ps(&tile[i][n0], acc[i][0]); _mm256_storeu_ps(&tile[i][n0 + 8], acc[i][1]); }
    }
}

__attribute__((target("avx512f")))
static void micro_avx512(int pairs, int half, const uint16_t *const a[MR], const uint32_t *panel, float tile[MR][NR]) {
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    for (int n0 = 0; n0 < NR; n0 += 32) {
        __m512 acc[MR][2];
        for (int i = 0; i < MR; i++) { acc[i][0] = _mm512_setzero_ps(); acc[i][1] = _mm512_setzero_ps(); }
        for (int p = 0; p < pairs + half; p++) {
            __m512i b0 = _mm512_loadu_si512(panel + p * NR + n0), b1 = _mm512_loadu_si512(panel + p * NR + n0 + 16);
            __m512 bo0 = _mm512_castsi512_ps(_mm512_and_si512(b0, high)), be0 = _mm512_castsi512_ps(_mm512_slli_epi32(b0, 16));
            __m512 bo1 = _mm512_castsi512_ps(_mm512_and_si512(b1, high)), be1 = _mm512_castsi512_ps(_mm512_slli_epi32(b1, 16));
            for (int i = 0; i < MR; i++) {
                __m512i av = _mm512_set1_epi32((int)pair_at(a[i], p, p == pairs));
                __m512 ao = _mm512_castsi512_ps(_mm512_and_si512(av, high)), ae = _mm512_castsi512_ps(_mm512_slli_epi32(av, 16));
                acc[i][0] = _mm512_fmadd_ps(ae, be0, _mm512_fmadd_ps(ao, bo0, acc[i][0]));
                acc[i][1] = _mm512_fmadd_ps(ae, be1, _mm512_fmadd_ps(ao, bo1, acc[i][1]));
            }
        }
        for (int i = 0; i < MR; i++) { _mm512_storeu_ps(&tile[i][n0], acc[i][0]); _mm512_storeu_ps(&tile[i][n0 + 16], acc[i][1]); }
    }
}

/// The hot loop: 24 accumulators (6 rows × 4 vectors of 16 columns), per pair 4 panel loads and
/// 6 broadcasts of an A pair (folded into VDPBF16PS as {1to16} memory operands).
__attribute__((target("avx512f,avx512bf16")))
static void micro_avx512_bf16(int pairs, int half, const uint16_t *const a[MR], const uint32_t *panel, float tile[MR][NR]) {
    __m512 c[MR][4];
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < 4; v++) c[i][v] = _mm512_setzero_ps();
    const uint16_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (int p = 0; p < pairs; p++) {
        const uint32_t *row = panel + p * NR;
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(row), b1 = (__m512bh)_mm512_loadu_si512(row + 16);
        __m512bh b2 = (__m512bh)_mm512_loadu_si512(row + 32), b3 = (__m512bh)_mm512_loadu_si512(row + 48);
#define XL_ROW(i, ai)                                                                   \
        {                                                                               \
            uint32_t w;                                                                 \
            memcpy(&w, ai + 2 * p, 4);                                                  \
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)w);                           \
            c[i][0] = _mm512_dpbf16_ps(c[i][0], x, b0);                                 \
            c[i][1] = _mm512_dpbf16_ps(c[i][1], x, b1);                                 \
            c[i][2] = _mm512_dpbf16_ps(c[i][2], x, b2);                                 \
            c[i][3] = _mm512_dpbf16_ps(c[i][3], x, b3);                                 \
        }
        XL_ROW(0, a0) XL_ROW(1, a1) XL_ROW(2, a2) XL_ROW(3, a3) XL_ROW(4, a4) XL_ROW(5, a5)
#undef XL_ROW
    }
    if (half) {
        const uint32_t *row = panel + pairs * NR;
        for (int i = 0; i < MR; i++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)(uint32_t)a[i][2 * pairs]);
            for (int v = 0; v < 4; v++) c[i][v] = _mm512_dpbf16_ps(c[i][v], x, (__m512bh)_mm512_loadu_si512(row + 16 * v));
        }
    }
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(&tile[i][16 * v], c[i][v]);
}

// MARK: - blocking and dispatch

typedef void (*micro_fn)(int, int, const uint16_t *const[MR], const uint32_t *, float[MR][NR]);

/// Writes `rows` × `cols` sums (row stride `stride`) to C at (m0, n0), adding bias[n0 + n] if given.
static void store_sums(const float *sums, int stride, int rows, int cols, const float *bias, float *C, long ldc, int m0, int n0) {
    for (int i = 0; i < rows; i++) {
        float *out = C + (long)(m0 + i) * ldc + n0;
        const float *row = sums + (long)i * stride;
        if (bias)
            for (int n = 0; n < cols; n++) out[n] = row[n] + bias[n0 + n];
        else
            memcpy(out, row, (size_t)cols * sizeof(float));
    }
}

/// Packs rows[n][2p, 2p + 1] into panel[p][n] for the `width` rows given (zero past them and past K).
static void pack_panel(const uint16_t *rows, long ldb, int width, int K, int pairs, uint32_t *panel) {
    for (int n = 0; n < NR; n++) {
        if (n >= width) {
            for (int p = 0; p < pairs; p++) panel[p * NR + n] = 0;
            continue;
        }
        const uint16_t *row = rows + (long)n * ldb;
        for (int p = 0; p < pairs; p++) {
            uint32_t lo = row[2 * p], hi = 2 * p + 1 < K ? row[2 * p + 1] : 0;
            panel[p * NR + n] = lo | hi << 16;
        }
    }
}

// MARK: - AMX (Intel Advanced Matrix Extensions): TDPBF16PS on 16 × 16 fp32 tiles
//
// A tile op multiplies a 16-row × 32-k block of A by a 16-pair × 16-column block of the packed
// panel (the panel's layout is already AMX's: pair p, column n at panel[p][n], 64-byte rows) and
// adds the 16 × 16 products into an fp32 accumulator tile. AMX sums the 32 products of a tile op
// with the accumulator in its own order and precision (measured: neither VDPBF16PS's sequence of
// fused multiply-adds nor one exactly rounded sum), so its bits differ from the portable paths'
// in the last places. Within AMX every element is computed by the same ops over the same k blocks
// whatever its row, the row count, the column split or the thread: a batch gives the bits of its
// rows alone, on any AMX CPU.

#define AMX_ROWS 32     // rows of A per block: 2 A tiles
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) amx_config;

/// C tiles 0–3 (2 × 2 of 16 × 16 fp32), A tiles 4–5 (16 × 32 bf16), B tiles 6–7 (16 pairs × 16
/// columns): every tile 16 rows of 64 bytes.
__attribute__((target("amx-tile,amx-bf16")))
static void amx_configure(void) {
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
}

/// out[32][32] = a block of 32 rows of A · panel columns c0..c0 + 32 (kblocks × 16 pairs). The A
/// block is staged k block by k block ([kb][32 rows][32 values]), so each tile is 1 KiB in one
/// piece: rows of A read in place lie a power of two apart and 32 of them thrash a few L1 sets.
__attribute__((target("amx-tile,amx-bf16")))
static void amx_block(const uint16_t *a, int kblocks, const uint32_t *panel, int c0, float out[AMX_ROWS][32]) {
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (int kb = 0; kb < kblocks; kb++) {
        _tile_loadd(4, a + (long)kb * AMX_ROWS * 32, 64);
        _tile_loadd(5, a + (long)kb * AMX_ROWS * 32 + 16 * 32, 64);
        _tile_loadd(6, panel + (long)kb * 16 * NR + c0, NR * 4);
        _tile_loadd(7, panel + (long)kb * 16 * NR + c0 + 16, NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, &out[0][0], 32 * 4);
    _tile_stored(1, &out[0][16], 32 * 4);
    _tile_stored(2, &out[16][0], 32 * 4);
    _tile_stored(3, &out[16][16], 32 * 4);
}

/// Copies rows m0 … m0 + count of A into the staged layout of `amx_block`, zero past K and past
/// the rows given (one masked 64-byte load and store per row and k block).
__attribute__((target("avx512f,avx512bw")))
static void stage_rows(const uint16_t *A, long lda, int count, int K, int kblocks, uint16_t *staged) {
    for (int kb = 0; kb < kblocks; kb++) {
        uint16_t *block = staged + (long)kb * AMX_ROWS * 32;
        int k0 = 32 * kb, width = K - k0 < 32 ? K - k0 : 32;
        __mmask32 mask = width == 32 ? 0xffffffffu : (1u << width) - 1;
        for (int i = 0; i < AMX_ROWS; i++) {
            __m512i row = i < count ? _mm512_maskz_loadu_epi16(mask, A + (long)i * lda + k0) : _mm512_setzero_si512();
            _mm512_store_si512(block + i * 32, row);
        }
    }
}

/// `pack_panel` for a full 64-row panel with even K on AVX-512: the pair word of column n at pair p
/// is the 32-bit word p of row n, so each 16 columns of a panel row are one gather.
__attribute__((target("avx512f")))
static void pack_panel_avx512(const uint16_t *rows, long ldb, int pairs, uint32_t *panel) {
    __m512i index[NR / 16];
    for (int v = 0; v < NR / 16; v++)
        index[v] = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(16 * v),
                                                       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
                                      _mm512_set1_epi32((int)(ldb * 2)));
    for (int p = 0; p < pairs; p++) {
        const char *base = (const char *)rows + 4L * p;
        for (int v = 0; v < NR / 16; v++)
            _mm512_store_si512(panel + (long)p * NR + 16 * v, _mm512_i32gather_epi32(index[v], base, 1));
    }
}

/// The AMX product. Panels are packed a chunk at a time (up to 1 MiB, so they stay in L2 while
/// every 32-row block of A, staged once per chunk, passes over them: A is read from memory
/// N / (64 · chunk) times, not N / 64).
__attribute__((target("amx-tile,amx-bf16")))
static void gemm_amx(int M, int N, int K, const uint16_t *A, long lda, const uint16_t *B, long ldb,
                     int b_is_fp16, const float *bias, float *C, long ldc) {
    int kblocks = (K + 31) / 32, kpad = kblocks * 32, pairs = kblocks * 16;
    size_t panel_words = (size_t)pairs * NR;
    int chunk = (int)((1u << 20) / (panel_words * 4));
    if (chunk < 1) chunk = 1;
    int panels = (N + NR - 1) / NR;
    if (chunk > panels) chunk = panels;
    uint32_t *packed = aligned_alloc(64, panel_words * 4 * chunk);
    uint16_t *rounded = b_is_fp16 ? aligned_alloc(64, ((size_t)NR * K * 2 + 63) / 64 * 64) : NULL;
    uint16_t *staged = aligned_alloc(64, (size_t)AMX_ROWS * kpad * 2);
    if (!packed || !staged || (b_is_fp16 && !rounded)) { fputs("xlsweep: out of memory for a bf16 weight panel\n", stderr); abort(); }
    float out[AMX_ROWS][32] __attribute__((aligned(64)));
    amx_configure();
    for (int first = 0; first < panels; first += chunk) {
        int count_panels = panels - first < chunk ? panels - first : chunk;
        for (int q = 0; q < count_panels; q++) {
            int n0 = (first + q) * NR, width = N - n0 < NR ? N - n0 : NR;
            uint32_t *panel = packed + q * panel_words;
            const uint16_t *rows = B + (long)n0 * ldb;
            long stride = ldb;
            if (b_is_fp16) {
                for (int n = 0; n < width; n++) fp16_row_to_bf16_avx512(B + (long)(n0 + n) * ldb, rounded + (long)n * K, K);
                rows = rounded;
                stride = K;
            }
            if (width == NR && !(K & 1) && (long)NR * stride * 2 < (1L << 31)) pack_panel_avx512(rows, stride, K / 2, panel);
            else pack_panel(rows, stride, width, K, (K + 1) / 2, panel);
            memset(panel + (long)((K + 1) / 2) * NR, 0, (size_t)(pairs - (K + 1) / 2) * NR * 4);
        }
        for (int m0 = 0; m0 < M; m0 += AMX_ROWS) {
            int count = M - m0 < AMX_ROWS ? M - m0 : AMX_ROWS;
            stage_rows(A + (long)m0 * lda, lda, count, K, kblocks, staged);
            for (int q = 0; q < count_panels; q++) {
                int n0 = (first + q) * NR, width = N - n0 < NR ? N - n0 : NR;
                for (int c0 = 0; c0 < width; c0 += 32) {
                    amx_block(staged, kblocks, packed + q * panel_words, c0, out);
                    store_sums(&out[0][0], 32, count, width - c0 < 32 ? width - c0 : 32, bias, C, ldc, m0, n0 + c0);
                }
            }
        }
    }
    _tile_release();
    free(packed);
    free(rounded);
    free(staged);
}

void xl_gemm_bf16_nt(int level, int M, int N, int K, const uint16_t *A, long lda, const uint16_t *B, long ldb,
                     int b_is_fp16, const float *bias, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    if (level >= XL_CPU_AMX_BF16) { gemm_amx(M, N, K, A, lda, B, ldb, b_is_fp16, bias, C, ldc); return; }
    micro_fn micro = level >= XL_CPU_AVX512_BF16 ? micro_avx512_bf16
                   : level >= XL_CPU_AVX512 ? micro_avx512
                   : level >= XL_CPU_AVX2 ? micro_avx2 : micro_generic;
    int pairs = K / 2, half = K & 1;
    // One panel covers all of K (128 KiB at K = 1024, 512 KiB at 4096: it stays in L2), so every
    // element is accumulated in a register from the first pair to the last.
    uint32_t *panel = aligned_alloc(64, ((size_t)(pairs + half) * NR * 4 + 63) / 64 * 64);
    // fp16 weights: the panel's rows are first rounded to bf16 here (NR rows of K).
    uint16_t *rounded = b_is_fp16 ? aligned_alloc(64, ((size_t)NR * K * 2 + 63) / 64 * 64) : NULL;
    if (!panel || (b_is_fp16 && !rounded)) { fputs("xlsweep: out of memory for a bf16 weight panel\n", stderr); abort(); }
    float tile[MR][NR] __attribute__((aligned(64)));
    for (int n0 = 0; n0 < N; n0 += NR) {
        int width = N - n0 < NR ? N - n0 : NR;
        if (b_is_fp16) {
            fp16_rows_to_bf16(level, B + (long)n0 * ldb, ldb, width, K, rounded);
            pack_panel(rounded, K, width, K, pairs + half, panel);
        } else {
            pack_panel(B + (long)n0 * ldb, ldb, width, K, pairs + half, panel);
        }
        for (int m0 = 0; m0 < M; m0 += MR) {
            int rows = M - m0 < MR ? M - m0 : MR;
            const uint16_t *a[MR];
            for (int i = 0; i < MR; i++) a[i] = A + (long)(m0 + (i < rows ? i : rows - 1)) * lda;
            micro(pairs, half, a, panel, tile);
            store_sums(&tile[0][0], NR, rows, width, bias, C, ldc, m0, n0);
        }
    }
    free(panel);
    free(rounded);
}

// MARK: - pre-packed weights
//
// A weight matrix that every forward multiplies by is packed once, at load, into the panels
// `xl_gemm_bf16_nt` builds on every call (fp16 rounded to bf16 on the way): for each 64 columns
// (zero past N), panel[pair][64] over all (K + 1) / 2 pairs (the last one half when K is odd),
// the panels one after the other. A panel holds the very words per-call packing would put there,
// so the products are the same bits; the forward no longer spends a tenth of its time repacking.

size_t xl_packed_bf16_count(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)((K + 1) / 2); }

void xl_pack_bf16(int level, const uint16_t *B, long ldb, int b_is_fp16, int N, int K, uint32_t *packed) {
    int depth = (K + 1) / 2;
    uint16_t *rounded = b_is_fp16 ? aligned_alloc(64, ((size_t)NR * K * 2 + 63) / 64 * 64) : NULL;
    if (b_is_fp16 && !rounded) { fputs("xlsweep: out of memory for a bf16 weight panel\n", stderr); abort(); }
    for (int n0 = 0; n0 < N; n0 += NR) {
        int width = N - n0 < NR ? N - n0 : NR;
        const uint16_t *rows = B + (long)n0 * ldb;
        long stride = ldb;
        if (b_is_fp16) {
            fp16_rows_to_bf16(level, rows, ldb, width, K, rounded);
            rows = rounded;
            stride = K;
        }
        uint32_t *panel = packed + (size_t)(n0 / NR) * NR * depth;
        if (level >= XL_CPU_AVX512 && width == NR && !(K & 1) && (long)NR * stride * 2 < (1L << 31))
            pack_panel_avx512(rows, stride, K / 2, panel);
        else
            pack_panel(rows, stride, width, K, depth, panel);
    }
    free(rounded);
}

float xl_packed_bf16_at(const uint32_t *packed, int K, int n, int k) {
    uint32_t word = packed[(size_t)(n / NR) * NR * ((K + 1) / 2) + (size_t)(k / 2) * NR + n % NR];
    return bf16_to_float((uint16_t)(k & 1 ? word >> 16 : word));
}

// `pfCount` cache lines from `pf` into L2, spread over the pair steps (four at most per step).
#define XL_PREFETCH(p)                                                              \
        for (int l = 4 * (p); l < 4 * (p) + 4 && l < pfCount; l++) _mm_prefetch(pf + 64L * l, _MM_HINT_T1);

/// `micro_avx512_bf16` for a whole tile of a pre-packed product, accumulated in registers and
/// written straight to C (+ bias, rounded once, as `store_sums` adds it), whose lines it fetches for
/// writing as it starts (a forward's outputs are cold: 24 store misses at the end of every tile
/// otherwise). Unrolled by two pairs;
/// while it works it fetches its share of the next panel into L2 (`pf`, `pfCount` lines) and the
/// next tile's rows of A into L1 (`an`, a line per two pairs), so neither the next panel nor the
/// next tile starts cold. Every accumulator takes its pairs in order: the same bits.
__attribute__((target("avx512f,avx512bf16")))
static void micro_bf16_direct(int pairs, int half, const uint16_t *const a[MR], const uint32_t *panel, float *c, long ldc,
                              const float *bias, const uint16_t *const *an, const char *pf, int pfCount) {
    __m512 c0[4], c1[4], c2[4], c3[4], c4[4], c5[4];   // accumulators of rows 0 … 5
    for (int v = 0; v < 4; v++) {
        c0[v] = _mm512_setzero_ps(); c1[v] = _mm512_setzero_ps(); c2[v] = _mm512_setzero_ps();
        c3[v] = _mm512_setzero_ps(); c4[v] = _mm512_setzero_ps(); c5[v] = _mm512_setzero_ps();
    }
    const uint16_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    const uint32_t *q = panel;
#define XL_ROW(cc, ai, p)                                                               \
        {                                                                               \
            uint32_t w;                                                                 \
            memcpy(&w, ai + 2 * (long)(p), 4);                                          \
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)w);                           \
            cc[0] = _mm512_dpbf16_ps(cc[0], x, b0);                                     \
            cc[1] = _mm512_dpbf16_ps(cc[1], x, b1);                                     \
            cc[2] = _mm512_dpbf16_ps(cc[2], x, b2);                                     \
            cc[3] = _mm512_dpbf16_ps(cc[3], x, b3);                                     \
        }
#define XL_STEP(r, p)                                                                                       \
        {                                                                                                   \
            __m512bh b0 = (__m512bh)_mm512_load_si512(r), b1 = (__m512bh)_mm512_load_si512(r + 16);         \
            __m512bh b2 = (__m512bh)_mm512_load_si512(r + 32), b3 = (__m512bh)_mm512_load_si512(r + 48);    \
            XL_ROW(c0, a0, p) XL_ROW(c1, a1, p) XL_ROW(c2, a2, p)                                           \
            XL_ROW(c3, a3, p) XL_ROW(c4, a4, p) XL_ROW(c5, a5, p)                                           \
        }
    // The tile's lines of C, fetched for writing now: its stores at the end then do not wait on memory.
    for (int i = 0; i < MR; i++) for (int v = 0; v < 4; v++) __builtin_prefetch(c + i * ldc + 16 * v, 1, 3);
    int p = 0;
    int prefetching = (pfCount + 3) / 4 < pairs ? (pfCount + 3) / 4 : pairs;
    for (; p < prefetching; p++, q += NR) { XL_PREFETCH(p) XL_STEP(q, p) }
    if (an) {   // one line (32 values) of the next tile's rows per two pairs: row 0 … 5, then the next line
        int row = 0;
        long line = 0, values = 2L * pairs + half;
        for (; p + 2 <= pairs; p += 2, q += 2 * NR) {
            if (line < values) {
                _mm_prefetch((const char *)(an[row] + line), _MM_HINT_T0);
                if (++row == MR) { row = 0; line += 32; }
            }
            XL_STEP(q, p) XL_STEP(q + NR, p + 1)
        }
    }
    for (; p + 2 <= pairs; p += 2, q += 2 * NR) { XL_STEP(q, p) XL_STEP(q + NR, p + 1) }
    for (; p < pairs; p++, q += NR) XL_STEP(q, p)
#undef XL_STEP
#undef XL_ROW
    if (half) {   // K odd: the last pair holds its even value only (the odd one is 0 in A and in the panel)
        __m512bh b0 = (__m512bh)_mm512_load_si512(q), b1 = (__m512bh)_mm512_load_si512(q + 16);
        __m512bh b2 = (__m512bh)_mm512_load_si512(q + 32), b3 = (__m512bh)_mm512_load_si512(q + 48);
#define XL_HALF(cc, ai)                                                                 \
        {                                                                               \
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)(uint32_t)ai[2L * pairs]);    \
            cc[0] = _mm512_dpbf16_ps(cc[0], x, b0);                                     \
            cc[1] = _mm512_dpbf16_ps(cc[1], x, b1);                                     \
            cc[2] = _mm512_dpbf16_ps(cc[2], x, b2);                                     \
            cc[3] = _mm512_dpbf16_ps(cc[3], x, b3);                                     \
        }
        XL_HALF(c0, a0) XL_HALF(c1, a1) XL_HALF(c2, a2) XL_HALF(c3, a3) XL_HALF(c4, a4) XL_HALF(c5, a5)
#undef XL_HALF
    }
    XL_STORE_TILE_AVX512(c, ldc, bias, c0, c1, c2, c3, c4, c5);
}
#undef XL_PREFETCH

void xl_gemm_bf16_packed(int level, int M, int N, int K, const uint16_t *A, long lda, const uint32_t *packed,
                         const float *bias, float *C, long ldc, int activation) {
    if (M <= 0 || N <= 0) return;
    if (level > XL_CPU_AVX512_BF16) level = XL_CPU_AVX512_BF16;   // pre-packed products are the portable ones
    micro_fn micro = level >= XL_CPU_AVX512_BF16 ? micro_avx512_bf16
                   : level >= XL_CPU_AVX512 ? micro_avx512
                   : level >= XL_CPU_AVX2 ? micro_avx2 : micro_generic;
    int pairs = K / 2, half = K & 1;
    size_t panelWords = (size_t)NR * (pairs + half);
    float tile[MR][NR] __attribute__((aligned(64)));
    long tiles = (M + MR - 1) / MR;
    for (int n0 = 0; n0 < N; n0 += NR) {
        int width = N - n0 < NR ? N - n0 : NR;
        const uint32_t *panel = packed + (size_t)(n0 / NR) * panelWords;
        // The panels lie one after the other: the next one is fetched into L2 a share per row tile,
        // so reading the weights from memory is spread over the tiles instead of stalling the first.
        const char *next = n0 + NR < N ? (const char *)(panel + panelWords) : NULL;
        long nextLines = next ? (long)(panelWords * 4 / 64) : 0, perTile = (nextLines + tiles - 1) / tiles, fetched = 0;
        for (int m0 = 0; m0 < M; m0 += MR) {
            int rows = M - m0 < MR ? M - m0 : MR;
            const uint16_t *a[MR], *an[MR];
            for (int i = 0; i < MR; i++) a[i] = A + (long)(m0 + (i < rows ? i : rows - 1)) * lda;
            if (level >= XL_CPU_AVX512_BF16 && rows == MR && width == NR) {
                long share = perTile < nextLines - fetched ? perTile : nextLines - fetched;
                if (share > 4L * pairs) share = 4L * pairs;
                const char *pf = next ? next + fetched * 64 : NULL;
                fetched += share;
                int nextRows = M - m0 - MR < MR ? M - m0 - MR : MR;
                if (nextRows > 0)
                    for (int i = 0; i < MR; i++) an[i] = A + (long)(m0 + MR + (i < nextRows ? i : nextRows - 1)) * lda;
                // The next tile's C rows into L2, so that this tile's successor does not store into cold lines.
                for (int i = 0; i < nextRows; i++)
                    for (int v = 0; v < NR; v += 16) _mm_prefetch((const char *)(C + (long)(m0 + MR + i) * ldc + n0 + v), _MM_HINT_T1);
                micro_bf16_direct(pairs, half, a, panel, C + (long)m0 * ldc + n0, ldc, bias ? bias + n0 : NULL,
                                  nextRows > 0 ? an : NULL, pf, (int)share);
            } else {
                micro(pairs, half, a, panel, tile);
                store_sums(&tile[0][0], NR, rows, width, bias, C, ldc, m0, n0);
            }
            if (activation != XL_ACTIVATION_NONE) xl_activation_rows(level, activation, C + (long)m0 * ldc + n0, ldc, rows, width);
        }
    }
}
