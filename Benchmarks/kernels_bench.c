// kernels_bench.c - single-thread throughput of the CKernels GEMV/GEMM (not a test).
//
//   gcc -O3 -I Sources/CKernels/include Sources/CKernels/*.c Benchmarks/kernels_bench.c -lm -o /tmp/kernels_bench
//   /tmp/kernels_bench [avx2|avx512|scalar]      (default: best ISA)
//   /tmp/kernels_bench decode                    (decode shapes at 1, 2, 4, 8 activation rows)
// (SwiftPM builds CKernels with clang: /opt/swift/usr/bin/clang gives the numbers that matter.)
//
// Reports best-of-N timings:
//   GEMV  262144 x 640 Q8_0 (the tied output matrix of Gemma 3 270M): GB/s of weight bytes
//   GEMM  2048x640x512 (rows x k x activations, MACs = 2048*640*512):
//         Q5_0/Q8_0/Q4_0 with rows=2048,k=640; Q4_K/Q6_K/Q5_K with rows=640,k=2048; GMAC/s,
//         plus the same work done as individual vec_dot calls for comparison.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "knowlm_kernels.h"
#include "../Sources/CKernels/kl_internal.h"

/* Thread CPU time: the dev machine is shared, and wall time also counts the
 * periods this thread was descheduled. (Memory stalls are included either way.) */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t s = 88172645463325252ULL;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)(s >> 11); }
static float frand(void) { return ((float)(rnd() & 0xFFFFFF) / 16777216.0f) * 2.0f - 1.0f; }

static void fill_weights(int t, uint8_t *w, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) w[i] = (uint8_t)rnd();
    const size_t ts = (size_t)kl_type_size(t);
    size_t off = t == KL_Q2_K ? 80 : t == KL_Q3_K ? 108 : t == KL_Q6_K ? 208 : 0;
    for (size_t b = 0; b + ts <= bytes; b += ts) {
        uint16_t h = kl_fp32_to_fp16(1e-3f);
        memcpy(w + b + off, &h, 2);
    }
}

static uint8_t *make_acts(int at, int64_t k, int64_t na) {
    const size_t arb = kl_row_size(at, k);
    uint8_t *A = malloc(arb * na);
    float *x = malloc(sizeof(float) * k);
    for (int64_t j = 0; j < na; ++j) {
        for (int64_t i = 0; i < k; ++i) x[i] = frand();
        kl_quantize_row(at, x, A + j * arb, k);
    }
    free(x);
    return A;
}

static void bench_gemv_q8_0(void) {
    const int64_t rows = 262144, k = 640;
    const size_t wrb = kl_row_size(KL_Q8_0, k);
    uint8_t *W = malloc(wrb * rows);
    fill_weights(KL_Q8_0, W, wrb * rows);
    uint8_t *A = make_acts(KL_Q8_0, k, 1);
    float *C = malloc(sizeof(float) * rows);
    double best = 1e9;
    for (int it = 0; it < 12; ++it) {
        double t0 = now();
        kl_gemm(KL_Q8_0, k, W, wrb, 0, rows, A, kl_row_size(KL_Q8_0, k), 1, C, rows);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("GEMV Q8_0 262144x640: %.2f ms  %.2f GB/s  (%.2f GMAC/s)\n", best * 1e3,
           wrb * rows / best / 1e9, rows * k / best / 1e9);
    free(W); free(A); free(C);
}

static void bench_gemm(int t, int64_t rows, int64_t k, int64_t na, int compare) {
    const int at = kl_vec_dot_type(t);
    const size_t wrb = kl_row_size(t, k), arb = kl_row_size(at, k);
    uint8_t *W = malloc(wrb * rows);
    fill_weights(t, W, wrb * rows);
    uint8_t *A = make_acts(at, k, na);
    float *C = malloc(sizeof(float) * rows * na);
    double best = 1e9;
    for (int it = 0; it < 5; ++it) {
        double t0 = now();
        kl_gemm(t, k, W, wrb, 0, rows, A, arb, na, C, rows);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    const double macs = (double)rows * k * na;
    printf("GEMM %-5s rows=%lld k=%lld n_a=%lld: %7.2f ms  %6.1f GMAC/s", t == KL_Q5_0 ? "Q5_0" :
           t == KL_Q4_K ? "Q4_K" : t == KL_Q6_K ? "Q6_K" : t == KL_Q8_0 ? "Q8_0" : t == KL_Q4_0 ? "Q4_0" :
           t == KL_Q5_K ? "Q5_K" : t == KL_Q3_K ? "Q3_K" : t == KL_Q2_K ? "Q2_K" : "?",
           (long long)rows, (long long)k, (long long)na, best * 1e3, macs / best / 1e9);
    if (compare) {
        double bv = 1e9;
        for (int it = 0; it < 2; ++it) {
            double t0 = now();
            for (int64_t j = 0; j < na; ++j)
                for (int64_t i = 0; i < rows; ++i)
                    C[j * rows + i] = kl_vec_dot(t, k, W + i * wrb, A + j * arb);
            double dt = now() - t0;
            if (dt < bv) bv = dt;
        }
        printf("   | per-pair vec_dot: %6.1f GMAC/s (tile speedup %.2fx)", macs / bv / 1e9, bv / best);
    }
    printf("\n");
    free(W); free(A); free(C);
}

/* Decode-shaped products of Gemma 3 270M Q4_K_M at 1..8 activation rows (serving batches):
 * the tied Q8_0 output head and the Q5_0 FFN gate/up. */
static void bench_decode(void) {
    static const int64_t ns[] = { 1, 2, 4, 8 };
    for (int i = 0; i < 4; ++i) bench_gemm(KL_Q8_0, 262144, 640, ns[i], 0);
    for (int i = 0; i < 4; ++i) bench_gemm(KL_Q5_0, 2048, 640, ns[i], 0);
    for (int i = 0; i < 4; ++i) bench_gemm(KL_Q4_K, 640, 1024, ns[i], 0);
    for (int i = 0; i < 4; ++i) bench_gemm(KL_Q6_K, 640, 2048, ns[i], 0);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "decode")) {
        printf("features: %s\n", kl_cpu_features());
        bench_decode();
        return 0;
    }
    if (argc > 1) {
        int lv = !strcmp(argv[1], "scalar") ? 0 : !strcmp(argv[1], "avx2") ? 1 : 2;
        if (kl_internal_set_isa(lv) < 0) { printf("ISA %s not available\n", argv[1]); return 1; }
    }
    printf("features: %s\n", kl_cpu_features());
    bench_gemv_q8_0();
    bench_gemm(KL_Q5_0, 2048, 640, 512, 1);
    bench_gemm(KL_Q4_K, 640, 2048, 512, 1);
    bench_gemm(KL_Q6_K, 640, 2048, 512, 1);
    bench_gemm(KL_Q8_0, 2048, 640, 512, 0);
    bench_gemm(KL_Q4_0, 2048, 640, 512, 0);
    bench_gemm(KL_Q5_K, 640, 2048, 512, 0);
    bench_gemm(KL_Q3_K, 640, 2048, 512, 0);
    bench_gemm(KL_Q2_K, 640, 2048, 512, 0);
    return 0;
}
