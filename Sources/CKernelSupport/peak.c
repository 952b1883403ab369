// The machine's arithmetic limit: register-only loops of the product instructions our kernels use,
// one per kernel level, with 12 independent accumulators so that the FMA pipes' latency is hidden
// (Zen 4: 2 FMA pipes × 4 cycles latency needs ≥ 8 chains; Intel's 2 × 4 the same). Nothing is
// read from or written to memory inside the loops; what they compute is only returned so that the
// compiler cannot drop them. Called on every core at once by `xlsweep bench peak` (PeakRates).
#include "CKernelSupport.h"
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS 12

__attribute__((target("avx2,fma")))
static double peak_avx2(long iterations, float *sink) {
    __m256 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c * 1e-3f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iterations; i++) {
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    }
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink = out[0];
    return 2.0 * 8 * CHAINS * (double)iterations;
}

__attribute__((target("avx512f")))
static double peak_avx512(long iterations, float *sink) {
    __m512 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iterations; i++) {
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    }
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * CHAINS * (double)iterations;
}

/// VDPBF16PS: per 32-bit lane, two bf16 × bf16 products added to an fp32 accumulator (64 FLOP per
/// instruction on 512 bits).
__attribute__((target("avx512f,avx512bf16")))
static double peak_avx512_bf16(long iterations, float *sink) {
    __m512 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c * 1e-3f);
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (long i = 0; i < iterations; i++) {
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
    }
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 32 * CHAINS * (double)iterations;
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) peak_tile_config;

/// TDPBF16PS on tiles that stay in the tile registers: 4 accumulators (16 × 16 fp32) fed by 2 A
/// tiles (16 × 32 bf16) and 2 B tiles, 16·16·32 multiply-adds per instruction.
__attribute__((target("amx-tile,amx-bf16")))
static double peak_amx(long iterations, float *sink) {
    peak_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
    static __thread uint16_t operand[16 * 32];
    for (int i = 0; i < 16 * 32; i++) operand[i] = 0x3f80;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    _tile_loadd(4, operand, 64); _tile_loadd(5, operand, 64);
    _tile_loadd(6, operand, 64); _tile_loadd(7, operand, 64);
    for (long i = 0; i < iterations; i++) {
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    }
    static __thread float out[16 * 16];
    _tile_stored(0, out, 64);
    _tile_release();
    *sink = out[0];
    return 2.0 * 4 * 16 * 16 * 32 * (double)iterations;
}

double xl_peak_loop(int kind, long iterations) {
    float sink = 0;
    double flops = 0;
    switch (kind) {
    case XL_PEAK_FP32_AVX2: flops = peak_avx2(iterations, &sink); break;
    case XL_PEAK_FP32_AVX512: flops = peak_avx512(iterations, &sink); break;
    case XL_PEAK_BF16_AVX512: flops = peak_avx512_bf16(iterations, &sink); break;
    case XL_PEAK_BF16_AMX: flops = peak_amx(iterations, &sink); break;
    default: return 0;
    }
    // The sum is finite and small; this comparison only keeps the loop's result alive.
    return sink == 12345.0f ? flops + 1 : flops;
}

// MARK: - on every core at once

typedef struct {
    int kind;
    long iterations;
    atomic_int *go;   // 0: wait, 1: run, −1: return without running
    double flops;
} peak_job;

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *peak_thread(void *argument) {
    peak_job *job = argument;
    int go;
    while ((go = atomic_load_explicit(job->go, memory_order_acquire)) == 0) _mm_pause();
    if (go > 0) job->flops = xl_peak_loop(job->kind, job->iterations);
    return NULL;
}

double xl_peak_rate(int kind, long iterations, int threads) {
    if (threads < 1) return 0;
    peak_job *jobs = calloc((size_t)threads, sizeof(peak_job));
    pthread_t *ids = calloc((size_t)threads, sizeof(pthread_t));
    if (!jobs || !ids) { free(jobs); free(ids); return 0; }
    atomic_int go = 0;
    int started = 0;
    for (; started < threads; started++) {
        jobs[started] = (peak_job){kind, iterations, &go, 0};
        if (pthread_create(&ids[started], NULL, peak_thread, &jobs[started]) != 0) break;
    }
    double rate = 0;
    if (started < threads) {   // a thread could not be started: nothing measured
        atomic_store_explicit(&go, -1, memory_order_release);
        for (int t = 0; t < started; t++) pthread_join(ids[t], NULL);
    } else {
        double t0 = seconds_now(), flops = 0;
        atomic_store_explicit(&go, 1, memory_order_release);
        for (int t = 0; t < threads; t++) { pthread_join(ids[t], NULL); flops += jobs[t].flops; }
        double elapsed = seconds_now() - t0;
        rate = elapsed > 0 ? flops / elapsed : 0;
    }
    free(jobs);
    free(ids);
    return rate;
}
