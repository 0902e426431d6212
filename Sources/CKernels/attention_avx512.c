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

/* One query row at a time (every shape; the only path for one-token batches). */
static void att_rows(int n_q, int n_kv, int n_kv_pad, int d, int dv,
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


/* ---- Batches (tinyBLAS shapes): both products as register-tiled GEMMs ------------------------
 *
 * For n_tokens >= 2 and n_kv_pad % 16 == 0 llama.cpp runs both products through tinyBLAS, where
 * each output is one 16-lane accumulator (lane = summation index mod 16, fma in index order)
 * reduced by the hsum16 tree. The same sums are formed here 4 x 4 outputs at a time: q.k for
 * 4 query rows x 4 keys (each fp16 key chunk converted once for 4 rows), p.V for 4 rows x 4
 * channels over V transposed once per call (shared by every head of the group), and the 16
 * accumulators reduced together by hsum16x16 (the hsum16 tree, vectorised across outputs).
 * Only cells that cannot change a bit are skipped: keys outside a row's unmasked range (their
 * score is -inf, their p is 0) and, in p.V, 16-blocks outside every row of a 4-row group. The
 * p = 0 terms inside a group's range are added (+0 to an accumulator that is never -0), which
 * gives the row kernel's bits as long as V is finite (an fp16 V of inf would give NaN here). */

/* F[4l + m] = hsum16(a[4m + l]), each with exactly hsum16's additions. */
AI __m512 hsum16x16(const __m512 *a) {
    __m512 s[8], u[4], w[2];
    for (int m = 0; m < 8; ++m)  /* lo256 + hi256 of a[2m] and a[2m+1] */
        s[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0x44),
                             _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0xEE));
    for (int n = 0; n < 4; ++n)  /* lo128 + hi128: lane l holds a[4n + l]'s four */
        u[n] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * n], s[2 * n + 1], 0x88),
                             _mm512_shuffle_f32x4(s[2 * n], s[2 * n + 1], 0xDD));
    for (int k = 0; k < 2; ++k)  /* (0 + 2, 1 + 3) */
        w[k] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
    /* 0 + 1 */
    return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
}

AI void store4x4(__m512 f, float *out, size_t ld, int rows) {
    _mm_storeu_ps(out, _mm512_castps512_ps128(f));
    if (rows > 1) _mm_storeu_ps(out + ld, _mm512_extractf32x4_ps(f, 1));
    if (rows > 2) _mm_storeu_ps(out + 2 * ld, _mm512_extractf32x4_ps(f, 2));
    if (rows > 3) _mm_storeu_ps(out + 3 * ld, _mm512_extractf32x4_ps(f, 3));
}

/* Sums over n (a multiple of 16) of fp16 x[m][i] * float y[l][i] for 4 y rows x 4 x rows:
 * result lane l holds y row l's four. */
AI __m512 tile4x4(int n, const float *const y[4], const uint16_t *const x[4]) {
    __m512 a[16];
    for (int t = 0; t < 16; ++t) a[t] = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __m512 x0 = ld_h(x[0] + i), x1 = ld_h(x[1] + i), x2 = ld_h(x[2] + i), x3 = ld_h(x[3] + i);
        for (int l = 0; l < 4; ++l) {
            const __m512 yl = _mm512_loadu_ps(y[l] + i);
            a[l] = _mm512_fmadd_ps(x0, yl, a[l]);
            a[4 + l] = _mm512_fmadd_ps(x1, yl, a[4 + l]);
            a[8 + l] = _mm512_fmadd_ps(x2, yl, a[8 + l]);
            a[12 + l] = _mm512_fmadd_ps(x3, yl, a[12 + l]);
        }
    }
    return hsum16x16(a);
}

#define KL_ATT_ROWS 32

size_t kl_attention_batch_scratch(int n_kv_pad, int d, int dv) {
    const size_t vt = (((size_t)dv * n_kv_pad + 1) / 2 + 15) & ~(size_t)15;
    return vt + (size_t)KL_ATT_ROWS * d + (size_t)KL_ATT_ROWS * n_kv_pad;
}

void kl_attention_llamacpp_avx512_heads(int n_heads, size_t q_head_stride, size_t out_head_stride,
                                        int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                        const float *q, size_t q_stride,
                                        const uint16_t *k, size_t k_stride,
                                        const uint16_t *v, size_t v_stride,
                                        const float *mask, size_t mask_stride, float kq_scale,
                                        int n_tokens, float *scratch, float *out, size_t out_stride) {
    if (n_kv_pad < n_kv) n_kv_pad = n_kv;
    if (n_tokens < 2 || n_kv_pad % 16 != 0 || n_kv < 1) {
        for (int h = 0; h < n_heads; ++h)
            att_rows(n_q, n_kv, n_kv_pad, d, dv, q + h * q_head_stride, q_stride, k, k_stride, v, v_stride,
                     mask, mask_stride, kq_scale, n_tokens, scratch, out + h * out_head_stride, out_stride);
        return;
    }
    const size_t ldv = (size_t)n_kv_pad;
    uint16_t *vt = (uint16_t *)scratch;
    float *qh = scratch + ((((size_t)dv * n_kv_pad + 1) / 2 + 15) & ~(size_t)15);
    float *S = qh + (size_t)KL_ATT_ROWS * d;
    float *rest = S + (size_t)KL_ATT_ROWS * n_kv_pad;   /* att_rows' scratch, for fully masked rows */

    for (int i0 = 0; i0 < n_q; i0 += KL_ATT_ROWS) {
        const int nr = n_q - i0 < KL_ATT_ROWS ? n_q - i0 : KL_ATT_ROWS;
        /* each row's unmasked keys lie in [lo, hi); its 16-blocks in [blo, bhi) */
        int lo[KL_ATT_ROWS], hi[KL_ATT_ROWS], blo[KL_ATT_ROWS], bhi[KL_ATT_ROWS];
        int Jlo = n_kv_pad, Jhi = 0;
        for (int r = 0; r < nr; ++r) {
            const float *mi = mask + (size_t)(i0 + r) * mask_stride;
            int a = 0, b = n_kv;
            while (a < n_kv && mi[a] == -INFINITY) ++a;
            while (b > a && mi[b - 1] == -INFINITY) --b;
            lo[r] = a; hi[r] = b;
            if (a >= b) { blo[r] = bhi[r] = 0; continue; }
            blo[r] = a & ~15; bhi[r] = (b + 15) & ~15;
            if (blo[r] < Jlo) Jlo = blo[r];
            if (bhi[r] > Jhi) Jhi = bhi[r];
        }
        if (Jlo > Jhi) Jlo = Jhi = 0;   /* every row fully masked: all go to the row kernel */
        /* V^T over [Jlo, Jhi), zero past n_kv, 16 keys at a time */
        for (int jb = Jlo; jb < Jhi; jb += 16) {
            for (int c = 0; c < dv; ++c) {
                uint16_t *dst = vt + (size_t)c * ldv + jb;
                for (int t = 0; t < 16; ++t) dst[t] = jb + t < n_kv ? v[(size_t)(jb + t) * v_stride + c] : 0;
            }
        }
        for (int h = 0; h < n_heads; ++h) {
            const float *qb = q + h * q_head_stride + (size_t)i0 * q_stride;
            float *ob = out + h * out_head_stride + (size_t)i0 * out_stride;
            for (int r = 0; r < nr; ++r)
                for (int c = 0; c < d; c += 16)
                    _mm512_storeu_ps(qh + (size_t)r * d + c,
                                     _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(qb + (size_t)r * q_stride + c),
                                                                     _MM_FROUND_TO_NEAREST_INT)));
            /* q.k, 4 rows x 4 keys */
            for (int r = 0; r < nr; r += 4) {
                int a = n_kv, b = 0;
                for (int l = r; l < r + 4 && l < nr; ++l)
                    if (lo[l] < hi[l]) { if (lo[l] < a) a = lo[l]; if (hi[l] > b) b = hi[l]; }
                if (a >= b) continue;
                const float *y[4];
                for (int l = 0; l < 4; ++l) y[l] = qh + (size_t)(r + l < nr ? r + l : nr - 1) * d;
                for (int j = a & ~3; j < b; j += 4) {
                    const uint16_t *x[4];
                    for (int m = 0; m < 4; ++m) x[m] = k + (size_t)(j + m < n_kv ? j + m : n_kv - 1) * k_stride;
                    store4x4(tile4x4(d, y, x), S + (size_t)r * n_kv_pad + j, n_kv_pad, 4);
                }
            }
            /* soft_max per row, p rounded to fp16 as llama.cpp converts it for the V product */
            for (int r = 0; r < nr; ++r) {
                float *s = S + (size_t)r * n_kv_pad;
                if (lo[r] >= hi[r]) { memset(s + Jlo, 0, sizeof(float) * (size_t)(Jhi - Jlo)); continue; }
                const float *mi = mask + (size_t)(i0 + r) * mask_stride;
                float max = -INFINITY;
                for (int j = blo[r]; j < bhi[r]; ++j) {
                    float w = -INFINITY;
                    if (j >= lo[r] && j < hi[r] && mi[j] != -INFINITY) {
                        w = s[j] * kq_scale;
                        w += 1.0f * mi[j];
                    }
                    s[j] = w;
                    max = w > max ? w : max;
                }
                const __m512 vmax = _mm512_set1_ps(max);
                double sum = 0.0;
                for (int j = blo[r]; j < bhi[r]; j += 16) {
                    const __m512 e = v_expf(_mm512_sub_ps(_mm512_loadu_ps(s + j), vmax));
                    _mm512_storeu_ps(s + j, e);
                    sum += (double)hsum16(e);
                }
                sum = 1.0 / sum;
                const __m512 vinv = _mm512_set1_ps((float)sum);
                for (int j = blo[r]; j < bhi[r]; j += 16)
                    _mm512_storeu_ps(s + j, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(s + j), vinv),
                                                                            _MM_FROUND_TO_NEAREST_INT)));
                memset(s + Jlo, 0, sizeof(float) * (size_t)(blo[r] - Jlo));
                memset(s + bhi[r], 0, sizeof(float) * (size_t)(Jhi - bhi[r]));
            }
            /* p.V, 4 rows x 4 channels */
            for (int r = 0; r < nr; r += 4) {
                int a = n_kv_pad, b = 0;
                for (int l = r; l < r + 4 && l < nr; ++l)
                    if (lo[l] < hi[l]) { if (blo[l] < a) a = blo[l]; if (bhi[l] > b) b = bhi[l]; }
                if (a >= b) continue;
                const int rows = nr - r < 4 ? nr - r : 4;
                const float *y[4];
                for (int l = 0; l < 4; ++l) y[l] = S + (size_t)(r + l < nr ? r + l : nr - 1) * n_kv_pad + a;
                for (int c = 0; c < dv; c += 4) {
                    const uint16_t *x[4];
                    for (int m = 0; m < 4; ++m) x[m] = vt + (size_t)(c + m) * ldv + a;
                    store4x4(tile4x4(b - a, y, x), ob + (size_t)r * out_stride + c, out_stride, rows);
                }
            }
            /* rows with every key masked: as the row kernel has it */
            for (int r = 0; r < nr; ++r)
                if (lo[r] >= hi[r])
                    att_rows(1, n_kv, n_kv_pad, d, dv, qb + (size_t)r * q_stride, q_stride, k, k_stride, v, v_stride,
                             mask + (size_t)(i0 + r) * mask_stride, mask_stride, kq_scale, n_tokens, rest,
                             ob + (size_t)r * out_stride, out_stride);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
