// The threads `parallelChunks` runs on: `threads − 1` workers started once, which wait for the
// next job by spinning for a short while before they sleep. Between two kernels of a forward (a
// layer norm, a product, an add: a dozen a layer) the gap is microseconds; a worker that had gone
// to sleep instead (Dispatch's do) is woken by an interrupt to a halted virtual CPU, which took
// ≈ 0.1 ms a kernel here, and the caller that waits for the last chunk likewise.
//
// A job is `chunks` calls fn(context, c), c = 0 … chunks − 1, each made exactly once, by a worker
// or the caller; which thread runs a chunk changes no result (every chunk writes its own range).
// Claims go through one word, (generation, chunks, next chunk), so a worker still looking at a
// finished job can never take a chunk of the next.
#define _GNU_SOURCE
#include "CKernelSupport.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define XL_RELAX() _mm_pause()
#else
#define XL_RELAX() ((void)0)
#endif

/// How long a worker spins for the next job before it sleeps (nanoseconds).
#define XL_SPIN_NS 200000L

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic uint64_t generation;   // bumped once per job
    _Atomic uint64_t ticket;       // generation << 32 | chunks << 16 | next chunk
    _Atomic int done;              // chunks finished of the current job
    _Atomic int busy;              // a job is running (a nested or concurrent call runs its chunks itself)
    _Atomic int sleepers;
    xl_chunk_fn fn;
    void *context;
    int workers;
    long spinNs;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/// Takes and runs chunks of job `generation` until none is left, or the job is no longer that one.
static void run_chunks(uint64_t generation) {
    for (;;) {
        uint64_t t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        if ((t >> 32) != (generation & 0xffffffffu)) return;
        unsigned next = (unsigned)(t & 0xffff), chunks = (unsigned)((t >> 16) & 0xffff);
        if (next >= chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        pool.fn(pool.context, (int)next);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel);
    }
}

static void *worker(void *unused) {
    (void)unused;
    uint64_t seen = atomic_load(&pool.generation);
    for (;;) {
        uint64_t g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (g == seen) {
            long until = now_ns() + pool.spinNs;
            for (int spin = 1; (g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen; spin++) {
                XL_RELAX();
                if ((spin & 127) == 0 && now_ns() > until) {
                    pthread_mutex_lock(&pool.lock);
                    atomic_fetch_add(&pool.sleepers, 1);
                    while ((g = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
                    atomic_fetch_sub(&pool.sleepers, 1);
                    pthread_mutex_unlock(&pool.lock);
                    break;
                }
            }
        }
        seen = g;
        run_chunks(g);
    }
    return NULL;
}

static pthread_once_t started = PTHREAD_ONCE_INIT;
static _Atomic int wanted = 1;   // threads of the first job with more than one; the pool's size

static void start_workers(void) {
    // The cores this process may run on (a Slurm task's or a container's share, not the node's).
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef __linux__
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) cores = CPU_COUNT(&allowed);
#endif
    // Spinning only pays while every thread has a core of its own.
    pool.spinNs = cores > 0 && wanted <= cores ? XL_SPIN_NS : 0;
    for (int i = 0; i < wanted - 1; i++) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, worker, NULL) == 0) pool.workers++;
        pthread_attr_destroy(&attr);
    }
}

void xl_pool_run(int threads, int chunks, xl_chunk_fn fn, void *context) {
    if (chunks <= 0) return;
    if (threads > 1 && chunks > 1 && chunks <= 0xffff) {
        int one = 1;
        atomic_compare_exchange_strong(&wanted, &one, threads);
        pthread_once(&started, start_workers);
    }
    int expected = 0;
    if (threads <= 1 || chunks == 1 || chunks > 0xffff || pool.workers == 0 || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (int c = 0; c < chunks; c++) fn(context, c);
        return;
    }
    pool.fn = fn;
    pool.context = context;
    atomic_store(&pool.done, 0);
    uint64_t g = atomic_load(&pool.generation) + 1;
    atomic_store_explicit(&pool.ticket, (g & 0xffffffffu) << 32 | (uint64_t)chunks << 16, memory_order_release);
    atomic_store(&pool.generation, g);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_chunks(g);
    for (long spin = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < chunks; spin++) {
        XL_RELAX();
        if ((spin & 4095) == 0) sched_yield();
    }
    atomic_store(&pool.busy, 0);
}
