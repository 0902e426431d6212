/*
 * cpu.c - runtime ISA detection, kernel dispatch and the public vec_dot / gemm
 * entry points.
 *
 * The kernel table is built once (first use, or at load time via a
 * constructor). Building is idempotent and each table is immutable after being
 * published through an atomic pointer, so concurrent first calls are safe.
 */
#include <stdlib.h>
#include "kl_internal.h"

enum { KL_ISA_SCALAR = 0, KL_ISA_AVX2 = 1, KL_ISA_AVX512 = 2 };

static kl_kernels g_tables[3];
static int g_state[3];                 /* 0 = empty, 1 = being built, 2 = ready */
static const kl_kernels *g_active;     /* accessed with __atomic builtins */
static int g_active_level = -1;

static int cpu_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("f16c");
    if (!avx2) return KL_ISA_SCALAR;
    const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                       __builtin_cpu_supports("avx512vnni");
    return avx512 ? KL_ISA_AVX512 : KL_ISA_AVX2;
#else
    return KL_ISA_SCALAR;
#endif
}

int kl_internal_best_isa(void) { return cpu_level(); }

static const kl_kernels *build(int level) {
    kl_kernels *t = &g_tables[level];
    if (__atomic_load_n(&g_state[level], __ATOMIC_ACQUIRE) == 2) return t;
    int expected = 0;
    if (__atomic_compare_exchange_n(&g_state[level], &expected, 1, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        kl_fill_scalar(t);
#if defined(__x86_64__) || defined(__i386__)
        if (level >= KL_ISA_AVX2) kl_fill_avx2(t);
        if (level >= KL_ISA_AVX512) kl_fill_avx512(t);
#endif
        __atomic_store_n(&g_state[level], 2, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&g_state[level], __ATOMIC_ACQUIRE) != 2) { /* another thread builds */ }
    }
    return t;
}

static const char *env_isa_override(int *level) {
    const char *e = getenv("KNOWLM_KERNELS_ISA");   /* "scalar" | "avx2" | "avx512" */
    if (!e) return NULL;
    if (!strcmp(e, "scalar")) *level = KL_ISA_SCALAR;
    else if (!strcmp(e, "avx2")) *level = KL_ISA_AVX2;
    else if (!strcmp(e, "avx512")) *level = KL_ISA_AVX512;
    return e;
}

static const kl_kernels *active(void) {
    const kl_kernels *t = __atomic_load_n(&g_active, __ATOMIC_ACQUIRE);
    if (t) return t;
    int best = cpu_level(), level = best;
    if (env_isa_override(&level) && level > best) level = best;
    t = build(level);
    __atomic_store_n(&g_active_level, level, __ATOMIC_RELAXED);
    __atomic_store_n(&g_active, t, __ATOMIC_RELEASE);
    return t;
}

__attribute__((constructor)) static void kl_init_dispatch(void) { (void)active(); }

const kl_kernels *kl_active_kernels(void) { return active(); }

int kl_internal_active_isa(void) {
    (void)active();
    return __atomic_load_n(&g_active_level, __ATOMIC_RELAXED);
}

int kl_internal_set_isa(int level) {
    if (level < 0 || level > 2 || level > cpu_level()) return -1;
    const kl_kernels *t = build(level);
    __atomic_store_n(&g_active_level, level, __ATOMIC_RELAXED);
    __atomic_store_n(&g_active, t, __ATOMIC_RELEASE);
    return level;
}

const char *kl_cpu_features(void) {
    (void)active();
    switch (__atomic_load_n(&g_active_level, __ATOMIC_RELAXED)) {
    case KL_ISA_AVX512: return "avx2 fma f16c avx512 vnni";
    case KL_ISA_AVX2:   return "avx2 fma f16c";
    default:            return "scalar";
    }
}

static int valid_wtype(int t) {
    return t >= 0 && t < KL_NTYPES && kl_vec_dot_type(t) >= 0;
}

float kl_vec_dot(int wtype, int64_t n, const void *w, const void *a) {
    if (!valid_wtype(wtype) || n <= 0) return 0.0f;
    const int64_t bs = kl_block_size(wtype);
    if (n % bs != 0) return 0.0f;
    return active()->dot[wtype](n, w, a);
}

void kl_gemm(int wtype, int64_t k, const void *W, size_t w_row_bytes,
             int64_t row_begin, int64_t row_end,
             const void *A, size_t a_row_bytes, int64_t n_a,
             float *C, int64_t ldc) {
    if (!valid_wtype(wtype) || row_end <= row_begin || n_a <= 0) return;
    if (k <= 0 || k % kl_block_size(wtype) != 0) {
        for (int64_t j = 0; j < n_a; ++j)
            for (int64_t i = row_begin; i < row_end; ++i) C[j * ldc + i] = 0.0f;
        return;
    }
    const kl_kernels *t = active();
    if (t->gemm[wtype])
        t->gemm[wtype](k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
    else
        kl_gemm_pairwise(t->dot[wtype], k, W, w_row_bytes, row_begin, row_end,
                         A, a_row_bytes, n_a, C, ldc);
}

/* Kernels for kl_gemm_tiled: the active table with the tiled AVX-512 kernels on top. */
static kl_kernels g_tiled;
static int g_tiled_state;

static const kl_kernels *tiled(void) {
    if (__atomic_load_n(&g_tiled_state, __ATOMIC_ACQUIRE) == 2) return &g_tiled;
    int expected = 0;
    if (__atomic_compare_exchange_n(&g_tiled_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        g_tiled = *active();
#if defined(__x86_64__) || defined(__i386__)
        if (__atomic_load_n(&g_active_level, __ATOMIC_RELAXED) >= KL_ISA_AVX512) kl_fill_avx512_tiled(&g_tiled);
#endif
        __atomic_store_n(&g_tiled_state, 2, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&g_tiled_state, __ATOMIC_ACQUIRE) != 2) { }
    }
    return &g_tiled;
}

void kl_gemm_tiled(int wtype, int64_t k, const void *W, size_t w_row_bytes,
                   int64_t row_begin, int64_t row_end,
                   const void *A, size_t a_row_bytes, int64_t n_a,
                   float *C, int64_t ldc) {
    if (!valid_wtype(wtype) || row_end <= row_begin || n_a <= 0) return;
    const kl_kernels *t = tiled();
    /* Tiling only pays with several activation rows; for one row (decode) the llama.cpp-order
     * GEMV streams the weights at least as fast. */
    if (n_a == 1 || k <= 0 || k % kl_block_size(wtype) != 0 || !t->gemm[wtype]) {
        kl_gemm(wtype, k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
        return;
    }
    t->gemm[wtype](k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
}
