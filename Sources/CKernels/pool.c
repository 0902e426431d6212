/*
 * pool.c - a small thread pool whose workers spin briefly between jobs.
 *
 * Decoding one token runs ~130 short parallel loops (each matrix product, attention).
 * Handing each to libdispatch costs a futex wake-up and a context switch per loop, which
 * profiles showed as ~10% of decode time on 2 cores. Here the workers poll for a short while
 * after each job (as llama.cpp's threadpool does), so back-to-back loops start without a
 * system call; after KL_POOL_SPIN_US of no work they sleep on a futex and cost nothing. 2 ms
 * covers the serial steps between a prompt's matrix products (norms, RoPE over 512 rows):
 * with 0.3 ms the worker fell asleep there and pp512 was ~10% slower.
 *
 * Sharing the cores. When other threads want the same cores (another process, or several
 * models used at once from one process), a spinning pool must not hold them hostage:
 *   - parts are claimed, not assigned: the caller and the workers take the next unclaimed
 *     part from one atomic word, so a job never waits for a worker that has not been
 *     scheduled; the caller then does that worker's part itself;
 *   - a polling thread calls sched_yield() between short bursts of polling after
 *     KL_POOL_YIELD_US, so a runnable thread of any process gets the core at once (with
 *     nothing else runnable the call returns at once).
 * Before, a worker preempted by another process stalled every loop until it ran again, and
 * a test run with several models on 2 cores took 12x longer than on libdispatch.
 *
 * Which thread runs a part does not change what the part computes, so results are the same
 * however the parts fall.
 *
 * One caller at a time: kl_pool_run returns -1 when the pool is busy (another thread's loop,
 * or a loop started from inside a pool job), and the caller then runs the loop another way.
 */
#include "knowlm_kernels.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KL_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define KL_RELAX() __asm__ volatile("yield")
#else
#define KL_RELAX() ((void)0)
#endif

#define KL_POOL_MAX 64
#define KL_POOL_SPIN_US 2000  /* default; KNOWLM_POOL_SPIN_US overrides */
#define KL_POOL_YIELD_US 20   /* pure polling before sched_yield() comes in */

/* The claim word: generation (32 bits) | parts (16) | next unclaimed part (16). Claiming is a
 * fetch_add of 1; the word is replaced only once every part of the job is done, so a thread
 * whose fetch_add returned next < parts owns that part of that generation's job, and the
 * job's fields (published before the word, read after the claim) cannot change under it. At
 * most one failed claim per thread per job pushes `next` past `parts`: no carry into parts. */
#define W_GEN(w) ((uint32_t)((w) >> 32))
#define W_PARTS(w) ((int)(((w) >> 16) & 0xffff))
#define W_NEXT(w) ((int)((w) & 0xffff))

static struct {
    pthread_mutex_t grow;          /* serialises worker creation */
    atomic_int workers;            /* started worker threads */
    atomic_int busy;               /* 1 while a caller owns the pool */
    _Atomic uint64_t claim;        /* see above */
    _Atomic uint32_t gen;          /* the claim word's generation, for futex sleeps */
    atomic_int sleepers;           /* workers blocked in futex_wait */
    atomic_int done;               /* parts of the current job finished */
    kl_pool_fn fn;
    void *ctx;
} P = { .grow = PTHREAD_MUTEX_INITIALIZER };

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static double spin_us = KL_POOL_SPIN_US;

/* Polls cheaply for a while, then with sched_yield() between bursts. `since` is 0 on the
 * first call of a wait; returns the microseconds waited so far (0 while still counting). */
static double relax(unsigned spins, double *since) {
    if ((spins & 63) != 63) { KL_RELAX(); return 0; }
    const double t = now_us();
    if (*since == 0) { *since = t; return 0; }
    const double waited = t - *since;
    if (waited >= KL_POOL_YIELD_US) sched_yield();
    return waited;
}

/* Claims and runs parts of the current job until none is left. */
static void run_parts(void) {
    for (;;) {
        const uint64_t old = atomic_fetch_add_explicit(&P.claim, 1, memory_order_acq_rel);
        if (W_NEXT(old) >= W_PARTS(old)) return;
        P.fn(P.ctx, W_NEXT(old), W_PARTS(old));
        atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    uint32_t seen = W_GEN(atomic_load(&P.claim));
    for (;;) {
        /* wait for a job of a newer generation with a part left: poll, then sleep. */
        double since = 0;
        uint64_t w;
        for (unsigned spins = 0;; ++spins) {
            w = atomic_load_explicit(&P.claim, memory_order_acquire);
            if (W_GEN(w) != seen) break;
            if (relax(spins, &since) < spin_us) continue;
            atomic_fetch_add(&P.sleepers, 1);
            if (atomic_load(&P.gen) == seen) futex_wait(&P.gen, seen);
            atomic_fetch_sub(&P.sleepers, 1);
            since = 0;
        }
        seen = W_GEN(w);
        if (W_NEXT(w) < W_PARTS(w)) run_parts();
    }
    return NULL;
}

static int ensure_workers(int n) {
    if (atomic_load(&P.workers) >= n) return 0;
    pthread_mutex_lock(&P.grow);
    const char *env = getenv("KNOWLM_POOL_SPIN_US");
    if (env && *env) spin_us = atof(env);
    int ok = 0;
    while (atomic_load(&P.workers) < n) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 8u << 20);
        const int rc = pthread_create(&t, &attr, worker_main, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) { ok = -1; break; }
        atomic_fetch_add(&P.workers, 1);
    }
    pthread_mutex_unlock(&P.grow);
    return ok;
}

int kl_pool_run(int parts, kl_pool_fn fn, void *ctx) {
    if (parts < 1 || parts > KL_POOL_MAX + 1) return -1;
    if (parts == 1) { fn(ctx, 0, 1); return 0; }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&P.busy, &expected, 1)) return -1;
    if (ensure_workers(parts - 1) != 0) { atomic_store(&P.busy, 0); return -1; }
    P.fn = fn;
    P.ctx = ctx;
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    const uint32_t g = W_GEN(atomic_load(&P.claim)) + 1;
    atomic_store_explicit(&P.claim, ((uint64_t)g << 32) | ((uint64_t)parts << 16), memory_order_release);
    atomic_store(&P.gen, g);                         /* seq_cst, then the sleepers check */
    if (atomic_load(&P.sleepers) > 0) futex_wake_all(&P.gen);
    run_parts();
    double since = 0;
    for (unsigned spins = 0; atomic_load_explicit(&P.done, memory_order_acquire) < parts; ++spins) relax(spins, &since);
    atomic_store(&P.busy, 0);
    return 0;
}

#else  /* not Linux: no pool; callers use their fallback */
int kl_pool_run(int parts, kl_pool_fn fn, void *ctx) {
    if (parts == 1) { fn(ctx, 0, 1); return 0; }
    return -1;
}
#endif
