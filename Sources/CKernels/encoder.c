/*
 * encoder.c - the element-wise steps of the BERT sentence encoder, and its reduced-precision
 * (bfloat16) linear layers.
 *
 * Element-wise steps (GELU with erf, residual + layer norm) are plain loops that the compiler
 * vectorises; they are built for AVX-512, AVX2+FMA and the baseline, picked at load time
 * (target_clones).
 *
 * bfloat16 linear layers, y = x W^T + b: weights rounded to bfloat16 once and packed for
 * AVX512_BF16's pair dot product (16 output rows x 2 consecutive inputs per 64-byte group);
 * activations rounded to bfloat16 per call; products summed in float32 by vdpbf16ps (32
 * multiply-adds per instruction, twice the float32 FMA rate on AMD Zen 4). Only CPUs with
 * AVX512_BF16 run it (kl_bf16_available); elsewhere callers keep float32.
 * (int8 with per-row weight scales was tried first: about as fast here, but its top-10
 * neighbours agree with float32's on only ~96% - BENCHMARKS.md.)
 */
#include "knowlm_kernels.h"
#include "kl_internal.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#define KL_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define KL_CLONES
#endif

/* erf as a rational function of x (odd numerator, even denominator in x^2) on [-4, 4],
 * clamped outside; the coefficients are a standard minimax fit for single precision
 * (max error about 2 ulp against erff; checked by the tests over a dense grid). */
static inline float erf_rational(float x) {
    x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

KL_CLONES void kl_gelu_erf(float *x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + erf_rational(v * 0.70710678118654752f));
    }
}

float kl_erf_approx(float x) { return erf_rational(x); }

/* Sums in 16 independent lanes, so the compiler can vectorise them without reordering
 * float additions on its own. */
#define LANES 16
static inline float lane_sum(const float *v, int64_t d, float shift) {
    float part[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
        for (int l = 0; l < LANES; ++l) { const float c = v[j + l] - shift; part[l] += c; }
    float total = 0;
    for (; j < d; ++j) total += v[j] - shift;
    for (int l = 0; l < LANES; ++l) total += part[l];
    return total;
}
static inline float lane_sum_squares(const float *v, int64_t d, float mean) {
    float part[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
        for (int l = 0; l < LANES; ++l) { const float c = v[j + l] - mean; part[l] += c * c; }
    float total = 0;
    for (; j < d; ++j) { const float c = v[j] - mean; total += c * c; }
    for (int l = 0; l < LANES; ++l) total += part[l];
    return total;
}

KL_CLONES void kl_residual_layer_norm(float *x, const float *residual, int64_t rows, int64_t d,
                                      const float *weight, const float *bias, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        float *v = x + r * d;
        if (residual) {
            const float *a = residual + r * d;
            for (int64_t j = 0; j < d; ++j) v[j] += a[j];
        }
        const float mean = lane_sum(v, d, 0.0f) / (float)d;
        const float var = lane_sum_squares(v, d, mean) / (float)d;
        const float inv = 1.0f / sqrtf(var + eps);
        for (int64_t j = 0; j < d; ++j) v[j] = (v[j] - mean) * inv * weight[j] + bias[j];
    }
}

/* ---------------------------------------------------------------------- bfloat16 linear */

size_t kl_bf16_packed_count(int64_t n, int64_t k) { return (size_t)n * (size_t)k; }

int kl_bf16_pack(const float *w, int64_t n, int64_t k, uint16_t *packed) {
    if (n % 16 != 0 || k % 2 != 0) return -1;
    const int64_t groups = k / 2;
    for (int64_t row = 0; row < n; ++row) {
        const int64_t block = row / 16, lane = row % 16;
        for (int64_t j = 0; j < k; ++j)
            packed[((block * groups + j / 2) * 16 + lane) * 2 + j % 2] = kl_fp32_to_bf16(w[row * k + j]);
    }
    return 0;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* R rows x C 16-column blocks: out = bias + sum over k of a * w (pairs of bfloat16). */
#define BF16_TILE(R, C)                                                                          \
    BF16_TARGET static void bf16_tile_##R##_##C(const uint16_t *a, int64_t k, const uint16_t *w0, \
                                                int64_t wstride, const float *bias, float *out, int64_t n) { \
        __m512 s[R][C];                                                                          \
        for (int c = 0; c < C; ++c) {                                                            \
            const __m512 b = bias ? _mm512_loadu_ps(bias + c * 16) : _mm512_setzero_ps();        \
            for (int r = 0; r < R; ++r) s[r][c] = b;                                             \
        }                                                                                        \
        const int64_t groups = k / 2;                                                            \
        for (int64_t g = 0; g < groups; ++g) {                                                   \
            __m512bh wv[C];                                                                      \
            for (int c = 0; c < C; ++c) wv[c] = (__m512bh)_mm512_loadu_si512(w0 + c * wstride + g * 32); \
            for (int r = 0; r < R; ++r) {                                                        \
                int32_t two;                                                                     \
                memcpy(&two, a + r * k + 2 * g, 4);                                              \
                const __m512bh av = (__m512bh)_mm512_set1_epi32(two);                            \
                for (int c = 0; c < C; ++c) s[r][c] = _mm512_dpbf16_ps(s[r][c], av, wv[c]);      \
            }                                                                                    \
        }                                                                                        \
        for (int r = 0; r < R; ++r)                                                              \
            for (int c = 0; c < C; ++c) _mm512_storeu_ps(out + r * n + c * 16, s[r][c]);         \
    }
BF16_TILE(4, 4) BF16_TILE(3, 4) BF16_TILE(2, 4) BF16_TILE(1, 4)
BF16_TILE(4, 1) BF16_TILE(3, 1) BF16_TILE(2, 1) BF16_TILE(1, 1)

/* Rounds floats to bfloat16 (nearest even), 16 at a time with vcvtneps2bf16. */
BF16_TARGET static void to_bf16_rows(const float *src, int64_t count, uint16_t *dst) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    for (; i < count; ++i) dst[i] = kl_fp32_to_bf16(src[i]);
}

BF16_TARGET static void bf16_rows(const uint16_t *a, int64_t rows, int64_t k, const uint16_t *packed,
                                  const float *bias, int64_t n, float *out) {
    const int64_t wstride = (k / 2) * 32;   /* bfloat16 values between 16-column blocks */
    const int64_t blocks = n / 16;
    int64_t b = 0;
#define BF16_ROWS(C)                                                                                          \
    {                                                                                                         \
        const uint16_t *w0 = packed + b * wstride;                                                            \
        const float *bb = bias ? bias + b * 16 : NULL;                                                        \
        int64_t r = 0;                                                                                        \
        for (; r + 4 <= rows; r += 4) bf16_tile_4_##C(a + r * k, k, w0, wstride, bb, out + r * n + b * 16, n); \
        switch (rows - r) {                                                                                   \
        case 3: bf16_tile_3_##C(a + r * k, k, w0, wstride, bb, out + r * n + b * 16, n); break;                \
        case 2: bf16_tile_2_##C(a + r * k, k, w0, wstride, bb, out + r * n + b * 16, n); break;                \
        case 1: bf16_tile_1_##C(a + r * k, k, w0, wstride, bb, out + r * n + b * 16, n); break;                \
        default: break;                                                                                       \
        }                                                                                                     \
    }
    for (; b + 4 <= blocks; b += 4) BF16_ROWS(4)
    for (; b < blocks; ++b) BF16_ROWS(1)
#undef BF16_ROWS
}
#endif

/* AVX512_BF16 on this CPU, and the AVX-512 kernel level active (KNOWLM_KERNELS_ISA or
 * kl_internal_set_isa may have chosen a lower one for testing). */
int kl_bf16_available(void) {
#if defined(__x86_64__)
    return kl_internal_active_isa() >= 2 && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

/* Rows are converted in chunks so their bfloat16 copy stays in cache. */
#define BF16_CHUNK 64

size_t kl_bf16_scratch_count(int64_t k) { return (size_t)BF16_CHUNK * (size_t)k; }

int kl_bf16_linear(const float *x, int64_t m, int64_t k, const uint16_t *packed, const float *bias,
                   int64_t n, float *out, uint16_t *scratch) {
#if defined(__x86_64__)
    if (!kl_bf16_available() || n % 16 != 0 || k % 2 != 0) return -1;
    for (int64_t r0 = 0; r0 < m; r0 += BF16_CHUNK) {
        const int64_t rows = m - r0 < BF16_CHUNK ? m - r0 : BF16_CHUNK;
        to_bf16_rows(x + r0 * k, rows * k, scratch);
        bf16_rows(scratch, rows, k, packed, bias, n, out + r0 * n);
    }
    return 0;
#else
    (void)x; (void)m; (void)k; (void)packed; (void)bias; (void)n; (void)out; (void)scratch;
    return -1;
#endif
}
