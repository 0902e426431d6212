/*
 * dot_scalar.c - portable reference dot products (weights x activations in
 * vec_dot_type format). Integer partial sums are exact and scaled exactly as in
 * ggml's generic ggml_vec_dot_*; these also serve as the reference in tests.
 */
#include "kl_internal.h"

static float dot_f32(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    double s = 0.0;   /* ggml sums in float/double depending on path; double is the reference */
    for (int64_t i = 0; i < n; ++i) s += (double)x[i] * (double)y[i];
    return (float)s;
}

static float dot_f16(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += (double)(kl_h2f(x[i]) * kl_h2f(y[i]));
    return (float)s;
}

static float dot_bf16(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += (double)(kl_bf16_to_fp32(x[i]) * kl_bf16_to_fp32(y[i]));
    return (float)s;
}

static float dot_q4_0(int64_t n, const void *w, const void *a) {
    const kl_block_q4_0 *x = w;
    const kl_block_q8_0 *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            sumi += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
            sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
        }
        s += (float)sumi * (kl_h2f(x[b].d) * kl_h2f(y[b].d));
    }
    return s;
}

static float dot_q4_1(int64_t n, const void *w, const void *a) {
    const kl_block_q4_1 *x = w;
    const kl_block_q8_1 *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            sumi += (x[b].qs[j] & 0x0F) * y[b].qs[j];
            sumi += (x[b].qs[j] >> 4) * y[b].qs[j + 16];
        }
        s += (float)sumi * (kl_h2f(x[b].d) * kl_h2f(y[b].d)) + kl_h2f(x[b].m) * kl_h2f(y[b].s);
    }
    return s;
}

static float dot_q5_0(int64_t n, const void *w, const void *a) {
    const kl_block_q5_0 *x = w;
    const kl_block_q8_0 *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            sumi += (((x[b].qs[j] & 0x0F) | h0) - 16) * y[b].qs[j];
            sumi += (((x[b].qs[j] >> 4) | h1) - 16) * y[b].qs[j + 16];
        }
        s += (float)sumi * (kl_h2f(x[b].d) * kl_h2f(y[b].d));
    }
    return s;
}

static float dot_q5_1(int64_t n, const void *w, const void *a) {
    const kl_block_q5_1 *x = w;
    const kl_block_q8_1 *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            sumi += ((x[b].qs[j] & 0x0F) | h0) * y[b].qs[j];
            sumi += ((x[b].qs[j] >> 4) | h1) * y[b].qs[j + 16];
        }
        s += (float)sumi * (kl_h2f(x[b].d) * kl_h2f(y[b].d)) + kl_h2f(x[b].m) * kl_h2f(y[b].s);
    }
    return s;
}

static float dot_q8_0(int64_t n, const void *w, const void *a) {
    const kl_block_q8_0 *x = w;
    const kl_block_q8_0 *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
        int sumi = 0;
        for (int j = 0; j < 32; ++j) sumi += x[b].qs[j] * y[b].qs[j];
        s += (float)sumi * (kl_h2f(x[b].d) * kl_h2f(y[b].d));
    }
    return s;
}

/* K-quants: per super-block, sum of (sub-block scale x integer dot), then
 * d * y.d * isum - dmin * y.d * sum(min x bsums), exactly as ggml. */

static float dot_q2_K(int64_t n, const void *w, const void *a) {
    const kl_block_q2_K *x = w;
    const kl_block_q8_K *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        int summs = 0;
        for (int j = 0; j < 16; ++j) summs += y[b].bsums[j] * (x[b].scales[j] >> 4);
        const float dall = y[b].d * kl_h2f(x[b].d), dmin = y[b].d * kl_h2f(x[b].dmin);
        int isum = 0, is = 0;
        const uint8_t *q2 = x[b].qs;
        const int8_t *q8 = y[b].qs;
        for (int k = 0; k < 2; ++k) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const int d = x[b].scales[is++] & 0xF;
                    int sumi = 0;
                    for (int l = 0; l < 16; ++l) sumi += q8[l] * ((q2[l + 16 * half] >> shift) & 3);
                    isum += d * sumi;
                    q8 += 16;
                }
            }
            q2 += 32;
        }
        s += dall * (float)isum - dmin * (float)summs;
    }
    return s;
}

static float dot_q3_K(int64_t n, const void *w, const void *a) {
    const kl_block_q3_K *x = w;
    const kl_block_q8_K *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        int8_t sc[16];
        kl_q3k_scales(x[b].scales, sc);
        const uint8_t *q3 = x[b].qs, *hm = x[b].hmask;
        const int8_t *q8 = y[b].qs;
        int isum = 0, is = 0;
        uint8_t m = 1;
        for (int k = 0; k < 2; ++k) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    int sumi = 0;
                    for (int l = 0; l < 16; ++l) {
                        const int ll = l + 16 * half;
                        const int v = ((q3[ll] >> shift) & 3) - ((hm[ll] & m) ? 0 : 4);
                        sumi += v * q8[l];
                    }
                    isum += sc[is++] * sumi;
                    q8 += 16;
                }
                m <<= 1;
            }
            q3 += 32;
        }
        s += kl_h2f(x[b].d) * y[b].d * (float)isum;
    }
    return s;
}

static void k4_scales_mins(const uint8_t *s12, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 8; ++j) kl_get_scale_min_k4(j, s12, &sc[j], &mn[j]);
}

static float dot_q4_K(int64_t n, const void *w, const void *a) {
    const kl_block_q4_K *x = w;
    const kl_block_q8_K *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        uint8_t sc[8], mn[8];
        k4_scales_mins(x[b].scales, sc, mn);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += mn[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        int isum = 0;
        const uint8_t *q4 = x[b].qs;
        const int8_t *q8 = y[b].qs;
        for (int j = 0; j < 4; ++j) {
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += (q4[l] & 0xF) * q8[l];
                s1 += (q4[l] >> 4) * q8[l + 32];
            }
            isum += sc[2 * j] * s0 + sc[2 * j + 1] * s1;
            q4 += 32;
            q8 += 64;
        }
        const float d = kl_h2f(x[b].d) * y[b].d, dmin = kl_h2f(x[b].dmin) * y[b].d;
        s += d * (float)isum - dmin * (float)summs;
    }
    return s;
}

static float dot_q5_K(int64_t n, const void *w, const void *a) {
    const kl_block_q5_K *x = w;
    const kl_block_q8_K *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        uint8_t sc[8], mn[8];
        k4_scales_mins(x[b].scales, sc, mn);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += mn[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        int isum = 0;
        const uint8_t *ql = x[b].qs, *qh = x[b].qh;
        const int8_t *q8 = y[b].qs;
        for (int j = 0; j < 4; ++j) {
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += ((ql[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * q8[l];
                s1 += ((ql[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * q8[l + 32];
            }
            isum += sc[2 * j] * s0 + sc[2 * j + 1] * s1;
            ql += 32;
            q8 += 64;
        }
        const float d = kl_h2f(x[b].d) * y[b].d, dmin = kl_h2f(x[b].dmin) * y[b].d;
        s += d * (float)isum - dmin * (float)summs;
    }
    return s;
}

static float dot_q6_K(int64_t n, const void *w, const void *a) {
    const kl_block_q6_K *x = w;
    const kl_block_q8_K *y = a;
    float s = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t *ql = x[b].ql, *qh = x[b].qh;
        const int8_t *q8 = y[b].qs;
        int isum = 0;
        for (int h = 0; h < 2; ++h) {       /* two halves of 128 */
            int g[8] = {0};                  /* 8 groups of 16 in natural order */
            for (int l = 0; l < 32; ++l) {
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                g[0 + l / 16] += q1 * q8[l];
                g[2 + l / 16] += q2 * q8[l + 32];
                g[4 + l / 16] += q3 * q8[l + 64];
                g[6 + l / 16] += q4 * q8[l + 96];
            }
            for (int j = 0; j < 8; ++j) isum += x[b].scales[8 * h + j] * g[j];
            ql += 64;
            qh += 32;
            q8 += 128;
        }
        s += kl_h2f(x[b].d) * y[b].d * (float)isum;
    }
    return s;
}

void kl_gemm_pairwise(kl_dot_fn dot, int64_t k, const void *W, size_t w_row_bytes,
                      int64_t row_begin, int64_t row_end,
                      const void *A, size_t a_row_bytes, int64_t n_a,
                      float *C, int64_t ldc) {
    /* A block of weight rows stays in cache while every activation row passes over it, so
     * the weights are read from memory once per call, not once per activation row (batched
     * decoding and prompt reading). Each output is still one dot product: the results do
     * not depend on the blocking. */
    const int64_t block = 16;
    for (int64_t i0 = row_begin; i0 < row_end; i0 += block) {
        const int64_t i1 = i0 + block < row_end ? i0 + block : row_end;
        for (int64_t j = 0; j < n_a; ++j) {
            const void *a = (const uint8_t *)A + (size_t)j * a_row_bytes;
            for (int64_t i = i0; i < i1; ++i)
                C[j * ldc + i] = dot(k, (const uint8_t *)W + (size_t)i * w_row_bytes, a);
        }
    }
}

void kl_fill_scalar(kl_kernels *t) {
    memset(t, 0, sizeof(*t));
    t->dot[KL_F32]  = dot_f32;
    t->dot[KL_F16]  = dot_f16;
    t->dot[KL_BF16] = dot_bf16;
    t->dot[KL_Q4_0] = dot_q4_0;
    t->dot[KL_Q4_1] = dot_q4_1;
    t->dot[KL_Q5_0] = dot_q5_0;
    t->dot[KL_Q5_1] = dot_q5_1;
    t->dot[KL_Q8_0] = dot_q8_0;
    t->dot[KL_Q2_K] = dot_q2_K;
    t->dot[KL_Q3_K] = dot_q3_K;
    t->dot[KL_Q4_K] = dot_q4_K;
    t->dot[KL_Q5_K] = dot_q5_K;
    t->dot[KL_Q6_K] = dot_q6_K;
}
