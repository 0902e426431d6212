/*
 * attention_fast.c - attention over an fp16 KV cache, vectorised for AVX2/FMA/F16C.
 *
 * Used where the bit-exact emulation of llama.cpp's AVX-512 attention has no fast
 * implementation (CPUs without AVX-512): there llama.cpp itself sums in another order, so
 * exactness against the AVX-512 goldens is not on offer and speed is. The arithmetic is the
 * same in substance: q and the probabilities rounded to half precision as llama.cpp rounds
 * them, K/V read from the half-precision cache, float32 accumulation.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kl_internal.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* scores[j] <- exp(scores[j] - maxv) (0 where masked); returns 1 / their sum (0 if none). */
static float exp_and_sum(float *scores, int n_kv, float maxv) {
    double sum = 0;
    for (int j = 0; j < n_kv; ++j) {
        const float e = scores[j] == -INFINITY ? 0.0f : expf(scores[j] - maxv);
        scores[j] = e;
        sum += e;
    }
    return sum > 0 ? (float)(1.0 / sum) : 0.0f;
}

static void attention_fast_scalar(int n_q, int n_kv, int d, int dv,
                                  const float *q, size_t q_stride, const uint16_t *k, size_t k_stride,
                                  const uint16_t *v, size_t v_stride, const float *mask, size_t mask_stride,
                                  float kq_scale, float *scores, float *out, size_t out_stride) {
    for (int i = 0; i < n_q; ++i) {
        const float *qi = q + (size_t)i * q_stride;
        const float *mi = mask + (size_t)i * mask_stride;
        float maxv = -INFINITY;
        for (int j = 0; j < n_kv; ++j) {
            if (mi[j] == -INFINITY) { scores[j] = -INFINITY; continue; }
            const uint16_t *kj = k + (size_t)j * k_stride;
            float acc = 0;
            for (int c = 0; c < d; ++c) acc += qi[c] * kl_h2f(kj[c]);
            scores[j] = acc * kq_scale + mi[j];
            if (scores[j] > maxv) maxv = scores[j];
        }
        const float inv = exp_and_sum(scores, n_kv, maxv);
        float *o = out + (size_t)i * out_stride;
        memset(o, 0, sizeof(float) * (size_t)dv);
        for (int j = 0; j < n_kv; ++j) {
            if (scores[j] == 0.0f) continue;
            const float p = kl_h2f(kl_fp32_to_fp16(scores[j] * inv));
            const uint16_t *vj = v + (size_t)j * v_stride;
            for (int c = 0; c < dv; ++c) o[c] += p * kl_h2f(vj[c]);
        }
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static inline float hsum8(__m256 x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Four query rows at a time: each key and value row is converted from half precision once for
 * the four, and the outputs are summed in registers (16 channels x 4 rows) instead of through
 * memory. Per row, every sum is taken in the same order as one row at a time. */
__attribute__((target("avx2,fma,f16c")))
static void attention_rows4_avx2(int n_kv, int d, int dv,
                                 const float *q, size_t q_stride, const uint16_t *k, size_t k_stride,
                                 const uint16_t *v, size_t v_stride, const float *mask, size_t mask_stride,
                                 float kq_scale, float *scores, float *out, size_t out_stride) {
    const float *qi[4], *mi[4];
    float *sc[4], maxv[4];
    for (int r = 0; r < 4; ++r) {
        qi[r] = q + (size_t)r * q_stride;
        mi[r] = mask + (size_t)r * mask_stride;
        sc[r] = scores + (size_t)r * (size_t)n_kv;
        maxv[r] = -INFINITY;
    }
    for (int j = 0; j < n_kv; ++j) {
        int live = 0;
        for (int r = 0; r < 4; ++r) live |= (mi[r][j] != -INFINITY) << r;
        if (!live) {
            for (int r = 0; r < 4; ++r) sc[r][j] = -INFINITY;
            continue;
        }
        const uint16_t *kj = k + (size_t)j * k_stride;
        __m256 a0[4], a1[4];
        for (int r = 0; r < 4; ++r) { a0[r] = _mm256_setzero_ps(); a1[r] = _mm256_setzero_ps(); }
        for (int c = 0; c < d; c += 16) {
            const __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + c)));
            const __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + c + 8)));
            for (int r = 0; r < 4; ++r) {
                a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(qi[r] + c), k0, a0[r]);
                a1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(qi[r] + c + 8), k1, a1[r]);
            }
        }
        for (int r = 0; r < 4; ++r) {
            if (!(live >> r & 1)) { sc[r][j] = -INFINITY; continue; }
            sc[r][j] = hsum8(_mm256_add_ps(a0[r], a1[r])) * kq_scale + mi[r][j];
            if (sc[r][j] > maxv[r]) maxv[r] = sc[r][j];
        }
    }
    for (int r = 0; r < 4; ++r) {
        const float inv = exp_and_sum(sc[r], n_kv, maxv[r]);
        /* llama.cpp multiplies V by probabilities rounded to half precision */
        for (int j = 0; j < n_kv; ++j)
            if (sc[r][j] != 0.0f) sc[r][j] = _cvtsh_ss(_cvtss_sh(sc[r][j] * inv, 0));
    }
    int c0 = 0;
    for (; c0 + 16 <= dv; c0 += 16) {
        __m256 o0[4], o1[4];
        for (int r = 0; r < 4; ++r) { o0[r] = _mm256_setzero_ps(); o1[r] = _mm256_setzero_ps(); }
        for (int j = 0; j < n_kv; ++j) {
            if (sc[0][j] == 0.0f && sc[1][j] == 0.0f && sc[2][j] == 0.0f && sc[3][j] == 0.0f) continue;
            const uint16_t *vj = v + (size_t)j * v_stride + c0;
            const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)vj));
            const __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 8)));
            for (int r = 0; r < 4; ++r) {   /* p = 0 adds nothing */
                const __m256 pv = _mm256_broadcast_ss(&sc[r][j]);
                o0[r] = _mm256_fmadd_ps(pv, v0, o0[r]);
                o1[r] = _mm256_fmadd_ps(pv, v1, o1[r]);
            }
        }
        for (int r = 0; r < 4; ++r) {
            float *o = out + (size_t)r * out_stride + c0;
            _mm256_storeu_ps(o, o0[r]);
            _mm256_storeu_ps(o + 8, o1[r]);
        }
    }
    for (; c0 < dv; c0 += 8) {
        __m256 o0[4];
        for (int r = 0; r < 4; ++r) o0[r] = _mm256_setzero_ps();
        for (int j = 0; j < n_kv; ++j) {
            const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + (size_t)j * v_stride + c0)));
            for (int r = 0; r < 4; ++r)
                if (sc[r][j] != 0.0f) o0[r] = _mm256_fmadd_ps(_mm256_set1_ps(sc[r][j]), v0, o0[r]);
        }
        for (int r = 0; r < 4; ++r) _mm256_storeu_ps(out + (size_t)r * out_stride + c0, o0[r]);
    }
}

__attribute__((target("avx2,fma,f16c")))
static void attention_fast_avx2(int n_q, int n_kv, int d, int dv,
                                const float *q, size_t q_stride, const uint16_t *k, size_t k_stride,
                                const uint16_t *v, size_t v_stride, const float *mask, size_t mask_stride,
                                float kq_scale, float *scores, float *out, size_t out_stride) {
    int i0 = 0;
    for (; i0 + 4 <= n_q; i0 += 4)
        attention_rows4_avx2(n_kv, d, dv, q + (size_t)i0 * q_stride, q_stride, k, k_stride, v, v_stride,
                             mask + (size_t)i0 * mask_stride, mask_stride, kq_scale, scores, out + (size_t)i0 * out_stride, out_stride);
    for (int i = i0; i < n_q; ++i) {
        const float *qi = q + (size_t)i * q_stride;
        const float *mi = mask + (size_t)i * mask_stride;
        float maxv = -INFINITY;
        for (int j = 0; j < n_kv; ++j) {
            if (mi[j] == -INFINITY) { scores[j] = -INFINITY; continue; }
            const uint16_t *kj = k + (size_t)j * k_stride;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (int c = 0; c < d; c += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + c), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + c))), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qi + c + 8), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + c + 8))), a1);
            }
            scores[j] = hsum8(_mm256_add_ps(a0, a1)) * kq_scale + mi[j];
            if (scores[j] > maxv) maxv = scores[j];
        }
        const float inv = exp_and_sum(scores, n_kv, maxv);
        float *o = out + (size_t)i * out_stride;
        for (int c = 0; c < dv; c += 8) _mm256_storeu_ps(o + c, _mm256_setzero_ps());
        for (int j = 0; j < n_kv; ++j) {
            if (scores[j] == 0.0f) continue;
            /* llama.cpp multiplies V by probabilities rounded to half precision */
            const float p = _cvtsh_ss(_cvtss_sh(scores[j] * inv, 0));
            const __m256 pv = _mm256_set1_ps(p);
            const uint16_t *vj = v + (size_t)j * v_stride;
            for (int c = 0; c < dv; c += 8) {
                const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + c)));
                _mm256_storeu_ps(o + c, _mm256_fmadd_ps(pv, vv, _mm256_loadu_ps(o + c)));
            }
        }
    }
}
#endif

void kl_attention_f16_fast(int n_q, int n_kv, int d, int dv,
                           const float *q, size_t q_stride, const uint16_t *k, size_t k_stride,
                           const uint16_t *v, size_t v_stride, const float *mask, size_t mask_stride,
                           float kq_scale, float *scores, float *out, size_t out_stride) {
#if defined(__x86_64__)
    if (kl_internal_active_isa() >= 1 && d % 16 == 0 && dv % 8 == 0) {
        attention_fast_avx2(n_q, n_kv, d, dv, q, q_stride, k, k_stride, v, v_stride, mask, mask_stride,
                            kq_scale, scores, out, out_stride);
        return;
    }
#endif
    attention_fast_scalar(n_q, n_kv, d, dv, q, q_stride, k, k_stride, v, v_stride, mask, mask_stride,
                          kq_scale, scores, out, out_stride);
}
