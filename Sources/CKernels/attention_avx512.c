/*
 * attention_avx512.c - kl_attention_llamacpp with AVX-512 vectors, the same bits as the
 * portable emulation in attention.c (which documents llama.cpp's operation order).
 *
 * Every product and sum is the emulation's, in the same order; only the data layout differs:
 *  - q.k: the 16 (tinyBLAS) or 4 x 16 (ggml_vec_dot_f16) lane accumulators are zmm registers,
 *    reduced with the _mm512_reduce_add_ps tree (hsum16 below).
 *  - p.V: the emulation keeps, per output channel c, one accumulator per lane (j mod 16 or
 *    j mod 64); here lane-major rows acc[lane][c] are updated 16 channels at a time, then the
 *    lanes are reduced with the same tree, vectorised across channels.
 *  - softmax: ggml_v_expf on 16 values at once, as ggml does.
 * Two kinds of work are skipped because they cannot change a bit:
 *  - q.k for a masked cell: its score is dot*scale + (-inf) = -inf for any finite dot;
 *  - p.V terms with p == 0: an accumulator starts at +0 and round-to-nearest never turns a
 *    sum into -0 unless both terms are -0, so adding (+-0) leaves every accumulator unchanged.
 * Needs d % 16 == 0 and dv % 16 == 0 (the caller falls back to the emulation otherwise).
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>
#include "kl_internal.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif

#define AI static inline __attribute__((always_inline))

/* _mm512_reduce_add_ps's tree: (lo256 + hi256), (lo128 + hi128), (0+2, 1+3), (0 + 1). */
AI float hsum16(__m512 v) {
    const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    const __m128 w = _mm_add_ps(u, _mm_movehl_ps(u, u));
    return _mm_cvtss_f32(_mm_add_ss(w, _mm_movehdup_ps(w)));
}

/* The same tree applied lane-wise to 16 vectors (one per accumulator lane). */
AI __m512 tree16(const __m512 *a) {
    __m512 t[8], u[4];
    for (int i = 0; i < 8; ++i) t[i] = _mm512_add_ps(a[i + 8], a[i]);
    for (int i = 0; i < 4; ++i) u[i] = _mm512_add_ps(t[i + 4], t[i]);
    return _mm512_add_ps(_mm512_add_ps(u[0], u[2]), _mm512_add_ps(u[1], u[3]));
}

AI __m512 ld_h(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

/* ggml_v_expf, AVX-512 */
AI __m512 v_expf(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d)) return res;
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                            _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(d, res, alt);
}

/* tinyBLAS fp16 x fp16: one 16-lane accumulator over the row. */
AI float dot_tiny(int d, const uint16_t *k, const float *q) {
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < d; c += 16) acc = _mm512_fmadd_ps(ld_h(k + c), _mm512_loadu_ps(q + c), acc);
    return hsum16(acc);
}

/* ggml_vec_dot_f16: 4 x 16 lanes over blocks of 64, (a0+a2)+(a1+a3), reduced, then the
 * tail one product at a time in double. */
AI float dot_vec_f16(int d, const uint16_t *k, const float *q) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const int np = d & ~63;
    int c = 0;
    for (; c < np; c += 64) {
        a0 = _mm512_fmadd_ps(ld_h(k + c), _mm512_loadu_ps(q + c), a0);
        a1 = _mm512_fmadd_ps(ld_h(k + c + 16), _mm512_loadu_ps(q + c + 16), a1);
        a2 = _mm512_fmadd_ps(ld_h(k + c + 32), _mm512_loadu_ps(q + c + 32), a2);
        a3 = _mm512_fmadd_ps(ld_h(k + c + 48), _mm512_loadu_ps(q + c + 48), a3);
    }
    double sumf = (double)hsum16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
    for (; c < d; ++c) sumf += (double)(kl_h2f(k[c]) * q[c]);
    return (float)sumf;
}

void kl_attention_llamacpp_avx512(int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                  const float *q, size_t q_stride,
                                  const uint16_t *k, size_t k_stride,
                                  const uint16_t *v, size_t v_stride,
                                  const float *mask, size_t mask_stride, float kq_scale,
                                  int n_tokens, float *scratch, float *out, size_t out_stride) {
    if (n_kv_pad < n_kv) n_kv_pad = n_kv;
    float *qf = scratch;
    float *s = qf + 2 * d;              /* scratch layout of kl_attention_llamacpp_scratch */
    float *pf = s + n_kv_pad;
    float *acc = pf + n_kv_pad;         /* 16 or 64 lane rows of dv floats */

    const int kq_tiny = n_tokens >= 2 && n_kv_pad % 4 == 0;
    const int kqv_tiny = n_tokens >= 2 && n_kv_pad % 16 == 0;
    const int lanes = kqv_tiny ? 16 : 64;
    const int np = kqv_tiny ? n_kv_pad : (n_kv_pad & ~63);
    const int lim = n_kv < np ? n_kv : np;

    for (int i = 0; i < n_q; ++i) {
        const float *qi = q + (size_t)i * q_stride;
        for (int c = 0; c < d; c += 16)
            _mm512_storeu_ps(qf + c, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(qi + c), _MM_FROUND_TO_NEAREST_INT)));

        /* scores */
        const float *mi = mask + (size_t)i * mask_stride;
        float max = -INFINITY;
        for (int j = 0; j < n_kv_pad; ++j) {
            float w = -INFINITY;
            if (j < n_kv && mi[j] != -INFINITY) {
                const uint16_t *kj = k + (size_t)j * k_stride;
                const float dot = kq_tiny ? dot_tiny(d, kj, qf) : dot_vec_f16(d, kj, qf);
                w = dot * kq_scale;
                w += 1.0f * mi[j];
            }
            s[j] = w;
            max = w > max ? w : max;
        }

        /* soft_max */
        const __m512 vmax = _mm512_set1_ps(max);
        double sum = 0.0;
        int j = 0;
        for (; j + 15 < n_kv_pad; j += 16) {
            const __m512 e = v_expf(_mm512_sub_ps(_mm512_loadu_ps(s + j), vmax));
            _mm512_storeu_ps(pf + j, e);
            sum += (double)hsum16(e);
        }
        for (; j < n_kv_pad; ++j) {
            const float e = expf(s[j] - max);
            sum += (double)e;
            pf[j] = e;
        }
        sum = 1.0 / sum;
        const float inv = (float)sum;
        const __m512 vinv = _mm512_set1_ps(inv);
        for (j = 0; j + 15 < n_kv_pad; j += 16)
            _mm512_storeu_ps(pf + j, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(pf + j), vinv),
                                                                    _MM_FROUND_TO_NEAREST_INT)));
        for (; j < n_kv_pad; ++j) pf[j] = kl_h2f(kl_fp32_to_fp16(pf[j] * inv));

        /* p.V into lane rows */
        memset(acc, 0, sizeof(float) * (size_t)dv * lanes);
        for (j = 0; j < lim; ++j) {
            const float p = pf[j];
            if (p == 0.0f) continue;
            const __m512 vp = _mm512_set1_ps(p);
            const uint16_t *vj = v + (size_t)j * v_stride;
            float *a = acc + (size_t)(j & (lanes - 1)) * dv;
            for (int c = 0; c < dv; c += 16)
                _mm512_storeu_ps(a + c, _mm512_fmadd_ps(ld_h(vj + c), vp, _mm512_loadu_ps(a + c)));
        }

        float *oi = out + (size_t)i * out_stride;
        for (int c = 0; c < dv; c += 16) {
            __m512 r[16];
            if (kqv_tiny) {
                for (int t = 0; t < 16; ++t) r[t] = _mm512_loadu_ps(acc + (size_t)t * dv + c);
                _mm512_storeu_ps(oi + c, tree16(r));
                continue;
            }
            for (int t = 0; t < 16; ++t) {
                const __m512 x = _mm512_add_ps(_mm512_loadu_ps(acc + (size_t)t * dv + c),
                                               _mm512_loadu_ps(acc + (size_t)(32 + t) * dv + c));
                const __m512 y = _mm512_add_ps(_mm512_loadu_ps(acc + (size_t)(16 + t) * dv + c),
                                               _mm512_loadu_ps(acc + (size_t)(48 + t) * dv + c));
                r[t] = _mm512_add_ps(x, y);
            }
            const __m512 sums = tree16(r);
            if (np == n_kv_pad) {
                /* float -> double -> float is the identity: no tail to add */
                _mm512_storeu_ps(oi + c, sums);
                continue;
            }
            float tmp[16];
            _mm512_storeu_ps(tmp, sums);
            for (int t = 0; t < 16; ++t) {
                double sumf = (double)tmp[t];
                for (int jj = np; jj < n_kv_pad; ++jj) {
                    const float vv = jj < n_kv ? kl_h2f(v[(size_t)jj * v_stride + c + t]) : 0.0f;
                    sumf += (double)(vv * pf[jj]);
                }
                oi[c + t] = (float)sumf;
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
