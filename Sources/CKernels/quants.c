/*
 * quants.c - type table, fp16/bf16 conversion, row dequantization and
 * activation quantization (Q8_0 / Q8_1 / Q8_K / F16 / BF16 / F32).
 *
 * Dequantization formulas evaluate in the same float order as ggml's reference
 * (dequantize_row_*), so results are bit-identical (no FMA contraction: this
 * file is compiled without FMA target flags).
 */
#include <math.h>
#include "kl_internal.h"

/* ---------------------------------------------------------------- type info */

int64_t kl_block_size(int type) {
    switch (type) {
    case KL_F32: case KL_F16: case KL_BF16: return 1;
    case KL_Q4_0: case KL_Q4_1: case KL_Q5_0: case KL_Q5_1: case KL_Q8_0: case KL_Q8_1: return KL_QK;
    case KL_Q2_K: case KL_Q3_K: case KL_Q4_K: case KL_Q5_K: case KL_Q6_K: case KL_Q8_K: return KL_QK_K;
    default: return 0;
    }
}

int64_t kl_type_size(int type) {
    switch (type) {
    case KL_F32:  return 4;
    case KL_F16:  return 2;
    case KL_BF16: return 2;
    case KL_Q4_0: return sizeof(kl_block_q4_0);
    case KL_Q4_1: return sizeof(kl_block_q4_1);
    case KL_Q5_0: return sizeof(kl_block_q5_0);
    case KL_Q5_1: return sizeof(kl_block_q5_1);
    case KL_Q8_0: return sizeof(kl_block_q8_0);
    case KL_Q8_1: return sizeof(kl_block_q8_1);
    case KL_Q2_K: return sizeof(kl_block_q2_K);
    case KL_Q3_K: return sizeof(kl_block_q3_K);
    case KL_Q4_K: return sizeof(kl_block_q4_K);
    case KL_Q5_K: return sizeof(kl_block_q5_K);
    case KL_Q6_K: return sizeof(kl_block_q6_K);
    case KL_Q8_K: return sizeof(kl_block_q8_K);
    default: return 0;
    }
}

size_t kl_row_size(int type, int64_t n) {
    int64_t bs = kl_block_size(type);
    if (bs == 0 || n < 0 || n % bs != 0) return 0;
    return (size_t)(n / bs) * (size_t)kl_type_size(type);
}

int kl_vec_dot_type(int type) {
    switch (type) {
    case KL_F32:  return KL_F32;
    case KL_F16:  return KL_F16;
    case KL_BF16: return KL_BF16;
    case KL_Q4_0: case KL_Q5_0: case KL_Q8_0: return KL_Q8_0;
    case KL_Q4_1: case KL_Q5_1: return KL_Q8_1;
    case KL_Q2_K: case KL_Q3_K: case KL_Q4_K: case KL_Q5_K: case KL_Q6_K: return KL_Q8_K;
    default: return -1;
    }
}

/* ------------------------------------------------------- fp16 / bf16 */

float kl_fp16_to_fp32(uint16_t h) { return kl_h2f(h); }

uint16_t kl_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u)                        /* NaN: quiet, keep top payload bits (as F16C) */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    const int e = (int)(a >> 23) - 112;          /* half biased exponent */
    if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow / inf */
    if (e >= 1) {                                /* normal half */
        uint32_t r = ((uint32_t)e << 10) | ((a >> 13) & 0x3ffu);
        const uint32_t rem = a & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;   /* carry may give inf: correct */
        return (uint16_t)(sign | r);
    }
    /* subnormal half (or zero) */
    const int shift = 14 - e;                    /* >= 14 */
    if (shift > 24) return sign;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

float kl_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kl_fp32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)        /* NaN -> quiet NaN */
        return (uint16_t)((u >> 16) | 64u);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* --------------------------------------------------------- dequantize */

static void deq_q4_0(const kl_block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 32) {
        const float d = kl_h2f(x[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j]      = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const kl_block_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 32) {
        const float d = kl_h2f(x[i].d), m = kl_h2f(x[i].m);
        for (int j = 0; j < 16; ++j) {
            y[j]      = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void deq_q5_0(const kl_block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 32) {
        const float d = kl_h2f(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            y[j]      = (float)(((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void deq_q5_1(const kl_block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 32) {
        const float d = kl_h2f(x[i].d), m = kl_h2f(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            y[j]      = (float)((x[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void deq_q8_0(const kl_block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 32) {
        const float d = kl_h2f(x[i].d);
        for (int j = 0; j < 32; ++j) y[j] = (float)x[i].qs[j] * d;
    }
}

static void deq_q8_1(const kl_block_q8_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 32) {
        const float d = kl_h2f(x[i].d);
        for (int j = 0; j < 32; ++j) y[j] = (float)x[i].qs[j] * d;
    }
}

static void deq_q2_K(const kl_block_q2_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = kl_h2f(x[i].d), dmin = kl_h2f(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int n = 0; n < 256; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; ++l)
                        *y++ = dl * (float)((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
    }
}

static void deq_q3_K(const kl_block_q3_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float dall = kl_h2f(x[i].d);
        int8_t sc[16];
        kl_q3k_scales(x[i].scales, sc);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int n = 0; n < 256; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = dall * (float)sc[is++];
                    for (int l = 0; l < 16; ++l) {
                        const int ll = l + 16 * half;
                        const int v = ((q[ll] >> shift) & 3) - ((hm[ll] & m) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
                m <<= 1;
            }
            q += 32;
        }
    }
}

static void deq_q4_K(const kl_block_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = kl_h2f(x[i].d), dmin = kl_h2f(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < 8; j += 2) {
            uint8_t sc, m;
            kl_get_scale_min_k4(j, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kl_get_scale_min_k4(j + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
        }
    }
}

static void deq_q5_K(const kl_block_q5_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = kl_h2f(x[i].d), dmin = kl_h2f(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2) {
            uint8_t sc, m;
            kl_get_scale_min_k4(j, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kl_get_scale_min_k4(j + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
            ql += 32;
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}

static void deq_q6_K(const kl_block_q6_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = kl_h2f(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l]      = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

static void deq_q8_K(const kl_block_q8_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += 256)
        for (int j = 0; j < 256; ++j) y[j] = x[i].d * (float)x[i].qs[j];
}

int kl_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const int64_t bs = kl_block_size(type);
    if (bs == 0 || n < 0 || n % bs != 0 || (n > 0 && (!src || !dst))) return -1;
    const int64_t nb = n / bs;
    switch (type) {
    case KL_F32: memmove(dst, src, (size_t)n * 4); return 0;
    case KL_F16: {
        const uint16_t *h = (const uint16_t *)src;
        for (int64_t i = 0; i < n; ++i) dst[i] = kl_h2f(h[i]);
        return 0;
    }
    case KL_BF16: {
        const uint16_t *h = (const uint16_t *)src;
        for (int64_t i = 0; i < n; ++i) dst[i] = kl_bf16_to_fp32(h[i]);
        return 0;
    }
    case KL_Q4_0: deq_q4_0(src, dst, nb); return 0;
    case KL_Q4_1: deq_q4_1(src, dst, nb); return 0;
    case KL_Q5_0: deq_q5_0(src, dst, nb); return 0;
    case KL_Q5_1: deq_q5_1(src, dst, nb); return 0;
    case KL_Q8_0: deq_q8_0(src, dst, nb); return 0;
    case KL_Q8_1: deq_q8_1(src, dst, nb); return 0;
    case KL_Q2_K: deq_q2_K(src, dst, nb); return 0;
    case KL_Q3_K: deq_q3_K(src, dst, nb); return 0;
    case KL_Q4_K: deq_q4_K(src, dst, nb); return 0;
    case KL_Q5_K: deq_q5_K(src, dst, nb); return 0;
    case KL_Q6_K: deq_q6_K(src, dst, nb); return 0;
    case KL_Q8_K: deq_q8_K(src, dst, nb); return 0;
    default: return -1;
    }
}

/* ----------------------------------------------- activation quantization */

/*
 * Q8_0 / Q8_1: what ggml's x86 quantize_row_q8_0/q8_1 (AVX2 path, also taken on
 * AVX-512 builds) executes, which differs slightly from quantize_row_q8_0_ref:
 *   d  = amax / 127            (stored as fp16 of the float d)
 *   id = 127 / amax            (not 1/d)
 *   q  = round-half-even(x*id) (_mm256_round_ps(_MM_ROUND_NEAREST), not roundf)
 *   Q8_1: s = fp16(d * (float)sum(q))  with the unrounded float d.
 */
static void quant_q8_0(const float *x, kl_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) {
            const float a = fabsf(x[j]);
            amax = a > amax ? a : amax;
        }
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = kl_fp32_to_fp16(d);
        for (int j = 0; j < 32; ++j) y[i].qs[j] = (int8_t)kl_nearest_int(x[j] * id);
    }
}

static void quant_q8_1(const float *x, kl_block_q8_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) {
            const float a = fabsf(x[j]);
            amax = a > amax ? a : amax;
        }
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = kl_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            const int q = kl_nearest_int(x[j] * id);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        y[i].s = kl_fp32_to_fp16(d * (float)sum);
    }
}

/*
 * Q8_K: ggml's quantize_row_q8_K_ref, which is what the x86 backend runs for
 * vec_dot: max = signed value of the first element with the largest |x|,
 * iscale = -127/max, q = min(127, nearest_int(iscale*x)), d = 1/iscale,
 * bsums = sums of 16 consecutive quants. An all-zero block gets d = 0, q = 0,
 * bsums = 0.
 */
static void quant_q8_K(const float *x, kl_block_q8_K *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += 256) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; ++j) {
            const float a = fabsf(x[j]);
            if (a > amax) { amax = a; max = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; ++j) {
            const int v = kl_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < 16; ++g) {
            int s = 0;
            for (int l = 0; l < 16; ++l) s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1.0f / iscale;
    }
}

int kl_quantize_row(int type, const float *src, void *dst, int64_t n) {
    const int64_t bs = kl_block_size(type);
    if (bs == 0 || n < 0 || n % bs != 0 || (n > 0 && (!src || !dst))) return -1;
    if (type == KL_F16 || type == KL_Q8_0 || type == KL_Q8_1 || type == KL_Q8_K) {
        const kl_quant_fn q = kl_active_kernels()->quant[type];
        if (q) { q(src, dst, n); return 0; }
    }
    switch (type) {
    case KL_F32: memmove(dst, src, (size_t)n * 4); return 0;
    case KL_F16: {
        uint16_t *h = (uint16_t *)dst;
        for (int64_t i = 0; i < n; ++i) h[i] = kl_fp32_to_fp16(src[i]);
        return 0;
    }
    case KL_BF16: {
        uint16_t *h = (uint16_t *)dst;
        for (int64_t i = 0; i < n; ++i) h[i] = kl_fp32_to_bf16(src[i]);
        return 0;
    }
    case KL_Q8_0: quant_q8_0(src, dst, n / bs); return 0;
    case KL_Q8_1: quant_q8_1(src, dst, n / bs); return 0;
    case KL_Q8_K: quant_q8_K(src, dst, n / bs); return 0;
    default: return -1;
    }
}
