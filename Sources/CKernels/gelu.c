/* GELU lookup table as ggml's CPU backend builds it: gelu_tanh evaluated in float for every
 * half-precision input and rounded back to half. The expression is ggml's, compiled with FMA
 * where the CPU has it (as llama.cpp's native build is), so the compiler contracts it into
 * the same fused multiply-add and every entry is identical. */
#include "knowlm_kernels.h"
#include <math.h>

#define KL_GELU_EXPR(x) (0.5f * (x) * (1.0f + tanhf(0.79788456080286535587989211986876f * (x) * (1.0f + 0.044715f * (x) * (x)))))

static float gelu_tanh(float x) { return KL_GELU_EXPR(x); }

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("fma"))) static float gelu_tanh_fma(float x) { return KL_GELU_EXPR(x); }
#endif

void kl_gelu_table_f16(uint16_t *table) {
    float (*gelu)(float) = gelu_tanh;
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("fma")) gelu = gelu_tanh_fma;
#endif
    for (int i = 0; i < 65536; ++i) {
        table[i] = kl_fp32_to_fp16(gelu(kl_fp16_to_fp32((uint16_t)i)));
    }
}

/* Rounds floats to the nearest half-precision value in place (F16C where available). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx2,f16c"))) static void round_half_f16c(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) x[i] = kl_fp16_to_fp32(kl_fp32_to_fp16(x[i]));
}
#endif

void kl_round_to_half(float *x, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) { round_half_f16c(x, n); return; }
#endif
    for (int64_t i = 0; i < n; ++i) x[i] = kl_fp16_to_fp32(kl_fp32_to_fp16(x[i]));
}

/* Row conversion to half precision (the fp16 KV cache of the llama.cpp precision). */
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,f16c"))) static void to_half_f16c(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = kl_fp32_to_fp16(x[i]);
}
#endif

void kl_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) { to_half_f16c(x, y, n); return; }
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = kl_fp32_to_fp16(x[i]);
}
