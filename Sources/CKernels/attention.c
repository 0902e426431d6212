/*
 * attention.c - llama.cpp's non-flash attention for one head, bit for bit.
 *
 * What llama.cpp's x86 AVX-512 CPU backend executes (ggml-cpu, flash_attn off,
 * F16 K cache, F16 transposed V cache, F32 mask), per head:
 *
 *   kq  = ggml_mul_mat(K, Q)     Q (F32, permuted) is converted to F16 (round to nearest
 *                                even) into wdata first, then
 *         n_tokens >= 2: llamafile tinyBLAS<16,__m512,...,fp16,fp16,float>: for each output
 *                        16 lane accumulators, lane t takes elements l = t (mod 16),
 *                        acc = fma(k, q, acc) in l order, result = _mm512_reduce_add_ps
 *                        (needs d % 16 == 0 and n_kv_pad % 4 == 0, else vec_dot below)
 *         n_tokens == 1: ggml_vec_dot_f16 (tinyBLAS refuses n < 2): 4 x 16 lane
 *                        accumulators over blocks of 64, reduced (a0+a2)+(a1+a3), then
 *                        _mm512_reduce_add_ps, to double; the tail (n % 64) is added
 *                        one product (float) at a time in double; the result -> float.
 *   p   = ggml_soft_max_ext(kq, mask, kq_scale): w = kq*scale + mask, max, then
 *         ggml_vec_soft_max_f32: 16 at a time e = ggml_v_expf(w - max) (AVX-512 polynomial
 *         + scalef), sum(double) += _mm512_reduce_add_ps(e); tail with libm expf;
 *         p = e * (float)(1.0/sum).  The row length is llama.cpp's PADDED n_kv
 *         (max(256, pad256(used cells)) capped at the cache size).
 *   kqv = ggml_mul_mat(V^T, p)   p (F32) is converted to F16 (tinyBLAS has no F16 x F32
 *         kernel on AVX-512), then the same two kernels with k = n_kv_pad:
 *         tinyBLAS for n_tokens >= 2 (needs n_kv_pad % 16 == 0, dv % 4 == 0),
 *         ggml_vec_dot_f16 for n_tokens == 1.
 *
 * The emulation below is portable C (fmaf, explicit reduction trees), so it gives the
 * same bits on any IEEE machine; it matches llama.cpp builds with AVX-512F/DQ (the
 * AVX2 build differs: 8 lanes, other expf reduction).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kl_internal.h"

/* _mm512_reduce_add_ps: halves 256, 128, then (0+2),(1+3), then sum. */
static inline float kl_hsum16(const float *v) {
    float t[8], u[4];
    for (int i = 0; i < 8; ++i) t[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; ++i) u[i] = t[i + 4] + t[i];
    const float w0 = u[0] + u[2], w1 = u[1] + u[3];
    return w0 + w1;
}

/* ggml_v_expf (AVX-512 version), one lane. */
static inline float kl_ggml_expf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);   /* scalef: j * 2^n, n integral, correctly rounded */
}

/* ggml_vec_dot_f16 (AVX-512F, no FP16 arithmetic) of x (fp16, as floats) and y (fp16
 * as floats), n elements; x[i] for i >= nx is 0. */
static float kl_vec_dot_f16_emul(int n, const float *x, int nx, const float *y) {
    float acc[64];
    memset(acc, 0, sizeof acc);
    const int np = n & ~63;
    const int lim = nx < np ? nx : np;
    for (int i = 0; i < lim; ++i) acc[i & 63] = fmaf(x[i], y[i], acc[i & 63]);
    for (int t = 0; t < 16; ++t) {
        acc[t] = acc[t] + acc[32 + t];
        acc[16 + t] = acc[16 + t] + acc[48 + t];
    }
    for (int t = 0; t < 16; ++t) acc[t] = acc[t] + acc[16 + t];
    double sumf = (double)kl_hsum16(acc);
    for (int i = np; i < n; ++i) {
        const float xi = i < nx ? x[i] : 0.0f;
        sumf += (double)(xi * y[i]);
    }
    return (float)sumf;
}

/* tinyBLAS fp16 x fp16 -> f32 (16 lanes), k elements; x[i] for i >= nx is 0. */
static float kl_tinyblas_f16_emul(int k, const float *x, int nx, const float *y) {
    float acc[16];
    memset(acc, 0, sizeof acc);
    const int lim = nx < k ? nx : k;
    for (int i = 0; i < lim; ++i) acc[i & 15] = fmaf(x[i], y[i], acc[i & 15]);
    (void)k;
    return kl_hsum16(acc);
}

static size_t kl_attention_rows_scratch(int n_kv_pad, int d, int dv) {
    /* qf[d] + kf[d] + s[n_kv_pad] + pf[n_kv_pad] + acc[dv*64] */
    return (size_t)2 * d + (size_t)2 * n_kv_pad + (size_t)dv * 64;
}

size_t kl_attention_llamacpp_scratch_for(int n_kv_pad, int d, int dv, int n_tokens) {
    size_t size = kl_attention_rows_scratch(n_kv_pad, d, dv);
#if defined(__x86_64__) || defined(__i386__)
    /* whatever ISA level is active now: it can be changed before the call */
    if (n_tokens >= 2) size += kl_attention_batch_scratch(n_kv_pad, d, dv);
#else
    (void)n_tokens;
#endif
    return size;
}

size_t kl_attention_llamacpp_scratch(int n_kv_pad, int d, int dv) {
    return kl_attention_llamacpp_scratch_for(n_kv_pad, d, dv, 2);
}

void kl_attention_llamacpp_heads(int n_heads, size_t q_head_stride, size_t out_head_stride,
                                 int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                 const float *q, size_t q_stride,
                                 const uint16_t *k, size_t k_stride,
                                 const uint16_t *v, size_t v_stride,
                                 const float *mask, size_t mask_stride, float kq_scale,
                                 int n_tokens, float *scratch, float *out, size_t out_stride) {
#if defined(__x86_64__) || defined(__i386__)
    if (kl_internal_active_isa() >= 2 && d % 16 == 0 && dv % 16 == 0) {
        kl_attention_llamacpp_avx512_heads(n_heads, q_head_stride, out_head_stride, n_q, n_kv, n_kv_pad, d, dv,
                                           q, q_stride, k, k_stride, v, v_stride, mask, mask_stride, kq_scale,
                                           n_tokens, scratch, out, out_stride);
        return;
    }
#endif
    for (int h = 0; h < n_heads; ++h)
        kl_attention_llamacpp_reference(n_q, n_kv, n_kv_pad, d, dv, q + h * q_head_stride, q_stride, k, k_stride,
                                        v, v_stride, mask, mask_stride, kq_scale, n_tokens, scratch,
                                        out + h * out_head_stride, out_stride);
}

int kl_attention_llamacpp_is_fast(void) {
#if defined(__x86_64__) || defined(__i386__)
    return kl_internal_active_isa() >= 2;
#else
    return 0;
#endif
}

void kl_attention_llamacpp(int n_q, int n_kv, int n_kv_pad, int d, int dv,
                           const float *q, size_t q_stride,
                           const uint16_t *k, size_t k_stride,
                           const uint16_t *v, size_t v_stride,
                           const float *mask, size_t mask_stride, float kq_scale,
                           int n_tokens, float *scratch, float *out, size_t out_stride) {
    kl_attention_llamacpp_heads(1, 0, 0, n_q, n_kv, n_kv_pad, d, dv, q, q_stride, k, k_stride, v, v_stride,
                                mask, mask_stride, kq_scale, n_tokens, scratch, out, out_stride);
}

void kl_attention_llamacpp_reference(int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                     const float *q, size_t q_stride,
                                     const uint16_t *k, size_t k_stride,
                                     const uint16_t *v, size_t v_stride,
                                     const float *mask, size_t mask_stride, float kq_scale,
                                     int n_tokens, float *scratch, float *out, size_t out_stride) {
    if (n_kv_pad < n_kv) n_kv_pad = n_kv;
    float *qf = scratch;
    float *kf = qf + d;
    float *s = kf + d;
    float *pf = s + n_kv_pad;
    float *acc = pf + n_kv_pad;     /* dv*64 */

    const int kq_tiny = n_tokens >= 2 && d % 16 == 0 && n_kv_pad % 4 == 0;
    const int kqv_tiny = n_tokens >= 2 && n_kv_pad % 16 == 0 && dv % 4 == 0;

    for (int i = 0; i < n_q; ++i) {
        const float *qi = q + (size_t)i * q_stride;
        for (int c = 0; c < d; ++c) qf[c] = kl_fp16_to_fp32(kl_fp32_to_fp16(qi[c]));

        /* kq + scale + mask */
        const float *mi = mask + (size_t)i * mask_stride;
        for (int j = 0; j < n_kv_pad; ++j) {
            float dot = 0.0f;
            if (j < n_kv) {
                const uint16_t *kj = k + (size_t)j * k_stride;
                for (int c = 0; c < d; ++c) kf[c] = kl_fp16_to_fp32(kj[c]);
                dot = kq_tiny ? kl_tinyblas_f16_emul(d, kf, d, qf) : kl_vec_dot_f16_emul(d, kf, d, qf);
            }
            float w = dot * kq_scale;
            w += j < n_kv ? 1.0f * mi[j] : -INFINITY;
            s[j] = w;
        }

        /* soft_max */
        float max = -INFINITY;
        for (int j = 0; j < n_kv_pad; ++j) max = s[j] > max ? s[j] : max;
        double sum = 0.0;
        int j = 0;
        for (; j + 15 < n_kv_pad; j += 16) {
            float e[16];
            for (int t = 0; t < 16; ++t) e[t] = pf[j + t] = kl_ggml_expf(s[j + t] - max);
            sum += (double)kl_hsum16(e);
        }
        for (; j < n_kv_pad; ++j) {
            const float e = expf(s[j] - max);
            sum += (double)e;
            pf[j] = e;
        }
        sum = 1.0 / sum;
        const float inv = (float)sum;
        for (j = 0; j < n_kv_pad; ++j) pf[j] = kl_fp16_to_fp32(kl_fp32_to_fp16(pf[j] * inv));

        /* kqv: V^T row c . p, walking the cache rows in memory order; element j goes to
         * accumulator lane j % 16 (tinyBLAS) or j % 64 (vec_dot_f16's 4 x 16 lanes). */
        float *oi = out + (size_t)i * out_stride;
        const int lanes = kqv_tiny ? 16 : 64;
        const int np = kqv_tiny ? n_kv_pad : (n_kv_pad & ~63);
        const int lim = n_kv < np ? n_kv : np;
        memset(acc, 0, sizeof(float) * (size_t)dv * lanes);
        for (j = 0; j < lim; ++j) {
            const float p = pf[j];
            const uint16_t *vj = v + (size_t)j * v_stride;
            float *a = acc + (kqv_tiny ? (j & 15) : (j & 63));
            for (int c = 0; c < dv; ++c) a[(size_t)c * lanes] = fmaf(kl_fp16_to_fp32(vj[c]), p, a[(size_t)c * lanes]);
        }
        for (int c = 0; c < dv; ++c) {
            float *a = acc + (size_t)c * lanes;
            if (kqv_tiny) { oi[c] = kl_hsum16(a); continue; }
            for (int t = 0; t < 16; ++t) { a[t] = a[t] + a[32 + t]; a[16 + t] = a[16 + t] + a[48 + t]; }
            for (int t = 0; t < 16; ++t) a[t] = a[t] + a[16 + t];
            double sumf = (double)kl_hsum16(a);
            for (j = np; j < n_kv_pad; ++j) {
                const float vv = j < n_kv ? kl_fp16_to_fp32(v[(size_t)j * v_stride + c]) : 0.0f;
                sumf += (double)(vv * pf[j]);
            }
            oi[c] = (float)sumf;
        }
    }
}
