/*
 * kl_internal.h - private declarations shared by the CKernels sources
 * (block layouts, helpers, per-ISA kernel tables). Not part of the public API.
 */
#ifndef KL_INTERNAL_H
#define KL_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "knowlm_kernels.h"

#define KL_QK     32   /* elements per block of Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q8_1 */
#define KL_QK_K  256   /* super-block size of the K-quants */

/* ---- block layouts (byte-identical to ggml-common.h) ---- */
typedef struct { uint16_t d; uint8_t qs[16]; } kl_block_q4_0;                      /* 18 B  */
typedef struct { uint16_t d, m; uint8_t qs[16]; } kl_block_q4_1;                   /* 20 B  */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } kl_block_q5_0;       /* 22 B  */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } kl_block_q5_1;    /* 24 B  */
typedef struct { uint16_t d; int8_t qs[32]; } kl_block_q8_0;                       /* 34 B  */
typedef struct { uint16_t d, s; int8_t qs[32]; } kl_block_q8_1;                    /* 36 B  */
typedef struct {                                                                   /* 84 B  */
    uint8_t scales[16];   /* low nibble: scale, high nibble: min (4 bits each) */
    uint8_t qs[64];       /* 2-bit quants */
    uint16_t d, dmin;
} kl_block_q2_K;
typedef struct {                                                                   /* 110 B */
    uint8_t hmask[32];    /* high bit */
    uint8_t qs[64];       /* low 2 bits */
    uint8_t scales[12];   /* 16 x 6-bit scales */
    uint16_t d;
} kl_block_q3_K;
typedef struct {                                                                   /* 144 B */
    uint16_t d, dmin;
    uint8_t scales[12];   /* 8 x (6-bit scale, 6-bit min) */
    uint8_t qs[128];
} kl_block_q4_K;
typedef struct {                                                                   /* 176 B */
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} kl_block_q5_K;
typedef struct {                                                                   /* 210 B */
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} kl_block_q6_K;
typedef struct {                                                                   /* 292 B */
    float d;
    int8_t qs[256];
    int16_t bsums[16];
} kl_block_q8_K;

_Static_assert(sizeof(kl_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(kl_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(kl_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(kl_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(kl_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(kl_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(kl_block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(kl_block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(kl_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(kl_block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(kl_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(kl_block_q8_K) == 292, "q8_K");

/* ---- scalar helpers ---- */
static inline float kl_h2f(uint16_t h) {   /* exact IEEE binary16 -> binary32 */
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    if (e == 0) {
        float v = (float)m * 0x1p-24f;          /* zero or subnormal: exact */
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u);   /* NaN -> quiet (as F16C) */
    } else {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round-half-to-even to int for |v| < 2^22 (ggml's nearest_int; same result as
 * _mm256_round_ps(v, _MM_ROUND_NEAREST) / vcvtps2dq in the default MXCSR mode). */
static inline int kl_nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* 6-bit scale/min unpacking of Q4_K/Q5_K (index j in 0..7). */
static inline void kl_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m  = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m  = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: 16 signed 6-bit scales (already minus 32). */
static inline void kl_q3k_scales(const uint8_t *s12, int8_t out[16]) {
    for (int j = 0; j < 16; ++j) {
        int lo = (j < 8) ? (s12[j] & 0xF) : (s12[j - 8] >> 4);
        int hi = (s12[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- per-ISA kernel tables ---- */
typedef float (*kl_dot_fn)(int64_t n, const void *w, const void *a);
typedef void (*kl_gemm_fn)(int64_t k, const void *W, size_t w_row_bytes,
                           int64_t row_begin, int64_t row_end,
                           const void *A, size_t a_row_bytes, int64_t n_a,
                           float *C, int64_t ldc);

typedef void (*kl_quant_fn)(const float *x, void *y, int64_t n);

#define KL_NTYPES 31
typedef struct {
    kl_dot_fn   dot[KL_NTYPES];    /* indexed by weight type */
    kl_gemm_fn  gemm[KL_NTYPES];   /* NULL -> generic pairwise loop over dot */
    kl_quant_fn quant[KL_NTYPES];  /* activation quantizers (NULL -> portable code in quants.c) */
} kl_kernels;

/* The kernel table the dispatcher picked. */
const kl_kernels *kl_active_kernels(void);

void kl_fill_scalar(kl_kernels *t);
void kl_fill_avx2(kl_kernels *t);     /* only call when AVX2+FMA+F16C are present */
void kl_fill_avx512(kl_kernels *t);   /* only call when AVX-512 F/BW/VL/DQ/VNNI are present */
void kl_fill_avx512_tiled(kl_kernels *t); /* fast tiled kernels (not llama.cpp's float order) */

/* Generic gemm: C[j*ldc+i] = dot(W_i, A_j) with a dot function. */
void kl_gemm_pairwise(kl_dot_fn dot, int64_t k, const void *W, size_t w_row_bytes,
                      int64_t row_begin, int64_t row_end,
                      const void *A, size_t a_row_bytes, int64_t n_a,
                      float *C, int64_t ldc);

/* Testing / benchmarking hook: force an ISA level (0 scalar, 1 avx2, 2 avx512).
 * Returns the level actually selected, or -1 if the CPU lacks it. */
int kl_internal_set_isa(int level);
/* Highest level the CPU supports. */
int kl_internal_best_isa(void);
/* Level the dispatch uses now (after KNOWLM_KERNELS_ISA and kl_internal_set_isa). */
int kl_internal_active_isa(void);

/* AVX-512 kl_attention_llamacpp (attention_avx512.c); needs d % 16 == 0 and dv % 16 == 0. */
void kl_attention_llamacpp_avx512_heads(int n_heads, size_t q_head_stride, size_t out_head_stride,
                                        int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                        const float *q, size_t q_stride,
                                        const uint16_t *k, size_t k_stride,
                                        const uint16_t *v, size_t v_stride,
                                        const float *mask, size_t mask_stride, float kq_scale,
                                        int n_tokens, float *scratch, float *out, size_t out_stride);
/* Extra scratch (floats) the AVX-512 batch path needs before the row kernel's. */
size_t kl_attention_batch_scratch(int n_kv_pad, int d, int dv);

#endif /* KL_INTERNAL_H */
