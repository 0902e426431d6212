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
