/*
 * pool.c - a small thread pool whose workers spin briefly between jobs.
 *
 * Decoding one token runs ~130 short parallel loops (each matrix product, attention).
 * Handing each to libdispatch costs a futex wake-up and a context switch per loop, which
 * profiles showed as ~10% of decode time on 2 cores. Here the workers poll a generation
 * counter for a short while after each job (as llama.cpp's threadpool does), so back-to-back
 * loops start without a system call; after KL_POOL_SPIN_US of no work they sleep on a futex
 * and cost nothing. 2 ms covers the serial steps between a prompt's matrix products (norms,
 * RoPE over 512 rows): with 0.3 ms the worker fell asleep there and pp512 was ~10% slower.
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

static struct {
    pthread_mutex_t grow;          /* serialises worker creation */
    atomic_int workers;            /* started worker threads (worker i runs part i + 1) */
    atomic_int busy;               /* 1 while a caller owns the pool */
    _Atomic uint32_t gen;          /* bumped once per job; workers wait for a change */
    atomic_int sleepers;           /* workers blocked in futex_wait */
    atomic_int pending;            /* workers that have not yet finished the current job */
    kl_pool_fn fn;
    void *ctx;
    int parts;
} P = { .grow = PTHREAD_MUTEX_INITIALIZER };
static uint32_t start_gen[KL_POOL_MAX + 1];   /* the generation each worker was created at */

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

static void *worker_main(void *arg) {
    const int part = (int)(intptr_t)arg;
    uint32_t seen = start_gen[part], g;
    for (;;) {
        /* wait for the next job: poll, then sleep. Every worker acknowledges every job, so the
         * next one cannot be published before this one is done: g == seen + 1 here, and the
         * job's fields are stable while they are read. */
        double start = 0;
        for (unsigned spins = 0; (g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen; ++spins) {
            if ((spins & 255) != 255) { KL_RELAX(); continue; }
            if (start == 0) { start = now_us(); continue; }
            if (now_us() - start < spin_us) continue;
            atomic_fetch_add(&P.sleepers, 1);
            if (atomic_load(&P.gen) == seen) futex_wait(&P.gen, seen);
            atomic_fetch_sub(&P.sleepers, 1);
            start = 0;
        }
        seen = g;
        if (part < P.parts) P.fn(P.ctx, part, P.parts);
        atomic_fetch_sub_explicit(&P.pending, 1, memory_order_release);
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
        const int part = atomic_load(&P.workers) + 1;
        start_gen[part] = atomic_load(&P.gen);   /* no job is in flight while workers grow */
        const int rc = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)part);
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
    P.parts = parts;
    atomic_store(&P.pending, atomic_load(&P.workers));
    atomic_fetch_add(&P.gen, 1);                     /* seq_cst: publishes the job */
    if (atomic_load(&P.sleepers) > 0) futex_wake_all(&P.gen);
    fn(ctx, 0, parts);
    for (unsigned spins = 0; atomic_load_explicit(&P.pending, memory_order_acquire) > 0; ++spins) {
        if ((spins & 1023) == 1023) sched_yield(); else KL_RELAX();
    }
    atomic_store(&P.busy, 0);
    return 0;
}

#else  /* not Linux: no pool; callers use their fallback */
int kl_pool_run(int parts, kl_pool_fn fn, void *ctx) {
    if (parts == 1) { fn(ctx, 0, 1); return 0; }
    return -1;
}
#endif
