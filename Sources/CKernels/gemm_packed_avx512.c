/*
 * gemm_packed_avx512.c - quantized weights repacked as int8 codes for several activation rows at once
 * (AVX-512 VNNI).
 *
 * The llama.cpp-order kernels (dot_avx512.c) keep float partial sums per block in several lanes
 * and reduce them at the end; with several activation rows that costs a convert, a multiply and
 * an FMA per 32 elements per row, on top of the integer work. Here 16 weight rows are
 * interleaved four bytes at a time (the VNNI layout: byte 4j+i of vector t is element 4t+i of
 * row j), so one vpdpbusd against four broadcast activation bytes advances 16 output columns,
 * and each block's integer dot product is complete in its lane before one float step per
 * (block, 16 columns).
 *
 * Three kinds of packed block, each 32 elements of 16 rows:
 *   symmetric  Q4_0, Q5_0, Q8_0: code + 128 (unsigned), fp16 scale d; Q8_0 activations.
 *              w = d * code; sum((code + 128) * a) - 128 * sum(a) = sum(code * a).
 *   Q4_K       code 0..15, fp32 scale d * sc and fp32 offset dmin * m per sub-block of 32;
 *              Q8_K activations. w = (d * sc) * code - dmin * m.
 *   Q6_K       code 0..63, fp32 scales d * sc of the two 16-element halves; Q8_K activations.
 *              w = (d * sc) * (code - 32).
 * The integer sums are exact (as in every kernel here) and the scale products are exact in
 * fp32; only the float steps differ from llama.cpp's (one FMA per block, blocks in order), so
 * results differ from llama.cpp's in the last bits. Used where the caller accepts that (passes
 * of several sequences in batched decoding).
 */
#include "kl_internal.h"
#include <stdlib.h>

#define PK_ROWS 16
#ifndef PK_MAXR
#define PK_MAXR 8
#endif

enum { PK_SYM = 0, PK_Q4K = 1, PK_Q6K = 2 };

static int pk_kind(int wtype) {
    switch (wtype) {
    case KL_Q4_0: case KL_Q5_0: case KL_Q8_0: return PK_SYM;
    case KL_Q4_K: return PK_Q4K;
    case KL_Q6_K: return PK_Q6K;
    default: return -1;
    }
}

/* bytes of one packed block (16 rows x 32 elements): codes, then scales (and offsets) */
static size_t pk_block_bytes(int kind) { return kind == PK_SYM ? 8 * 64 + 32 : 8 * 64 + 128; }

size_t kl_packed_size(int wtype, int64_t rows, int64_t k) {
    const int kind = pk_kind(wtype);
    if (kind < 0) return 0;
    const int64_t groups = (rows + PK_ROWS - 1) / PK_ROWS;
    return (size_t)groups * (size_t)(k / KL_QK) * pk_block_bytes(kind);
}

int kl_packed_available(int wtype) {
    if (pk_kind(wtype) < 0) return 0;
    return kl_internal_active_isa() >= 2;   /* AVX-512 with VNNI (cpu.c) */
}

/* Codes of block b (32 elements) of a row, stored as the kind keeps them (unsigned byte),
 * and its scale(s): s0 (and s1: the offset for Q4_K, the second half's scale for Q6_K). */
static void block_codes(int wtype, const uint8_t *row, int64_t b, uint8_t q[KL_QK], uint16_t *h, float *s0, float *s1) {
    if (wtype == KL_Q8_0) {
        const kl_block_q8_0 *x = (const kl_block_q8_0 *)row + b;
        for (int j = 0; j < 32; ++j) q[j] = (uint8_t)(x->qs[j] + 128);
        *h = x->d;
    } else if (wtype == KL_Q5_0) {
        const kl_block_q5_0 *x = (const kl_block_q5_0 *)row + b;
        uint32_t qh;
        memcpy(&qh, x->qh, 4);
        for (int j = 0; j < 16; ++j) {
            q[j] = (uint8_t)(((x->qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16 + 128);
            q[j + 16] = (uint8_t)(((x->qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16 + 128);
        }
        *h = x->d;
    } else if (wtype == KL_Q4_0) {
        const kl_block_q4_0 *x = (const kl_block_q4_0 *)row + b;
        for (int j = 0; j < 16; ++j) {
            q[j] = (uint8_t)((x->qs[j] & 0x0F) - 8 + 128);
            q[j + 16] = (uint8_t)((x->qs[j] >> 4) - 8 + 128);
        }
        *h = x->d;
    } else if (wtype == KL_Q4_K) {
        const kl_block_q4_K *x = (const kl_block_q4_K *)row + b / 8;
        const int j = (int)(b % 8);   /* sub-block */
        const uint8_t *sc = x->scales;
        int s, m;
        if (j < 4) { s = sc[j] & 63; m = sc[j + 4] & 63; }
        else { s = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4); m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4); }
        const uint8_t *qs = x->qs + 32 * (j / 2);
        for (int l = 0; l < 32; ++l) q[l] = (j & 1) ? (qs[l] >> 4) : (qs[l] & 0x0F);
        *s0 = kl_fp16_to_fp32(x->d) * (float)s;
        *s1 = kl_fp16_to_fp32(x->dmin) * (float)m;
    } else {  /* Q6_K */
        const kl_block_q6_K *x = (const kl_block_q6_K *)row + b / 8;
        const int j = (int)(b % 8);           /* 32-element run: half n (128 elements), quarter r */
        const int n = j / 4, r = j % 4;
        const uint8_t *ql = x->ql + 64 * n, *qh = x->qh + 32 * n;
        for (int l = 0; l < 32; ++l) {
            const int lo = r == 0 ? ql[l] & 0xF : r == 1 ? ql[l + 32] & 0xF : r == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
            q[l] = (uint8_t)(lo | (((qh[l] >> (2 * r)) & 3) << 4));
        }
        const float d = kl_fp16_to_fp32(x->d);
        *s0 = d * (float)x->scales[8 * n + 2 * r];
        *s1 = d * (float)x->scales[8 * n + 2 * r + 1];
    }
}

void kl_pack(int wtype, const void *W, size_t w_row_bytes, int64_t rows, int64_t k,
                int64_t group_begin, int64_t group_end, void *dst) {
    const int kind = pk_kind(wtype);
    if (kind < 0) return;
    const int64_t nb = k / KL_QK;
    const size_t bsz = pk_block_bytes(kind);
    uint8_t *out = (uint8_t *)dst;
    uint8_t q[KL_QK];
    for (int64_t g = group_begin; g < group_end; ++g) {
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t *p = out + ((size_t)g * (size_t)nb + (size_t)b) * bsz;
            uint16_t h[PK_ROWS];
            float s0[PK_ROWS], s1[PK_ROWS];
            for (int j = 0; j < PK_ROWS; ++j) {
                const int64_t row = g * PK_ROWS + j;
                h[j] = 0; s0[j] = 0; s1[j] = 0;
                if (row >= rows) memset(q, kind == PK_SYM ? 0x80 : 0, sizeof q);   /* code 0, scale 0 */
                else block_codes(wtype, (const uint8_t *)W + (size_t)row * w_row_bytes, b, q, &h[j], &s0[j], &s1[j]);
                for (int t = 0; t < 8; ++t) memcpy(p + t * 64 + 4 * j, q + 4 * t, 4);
            }
            if (kind == PK_SYM) memcpy(p + 8 * 64, h, sizeof h);
            else { memcpy(p + 8 * 64, s0, sizeof s0); memcpy(p + 8 * 64 + 64, s1, sizeof s1); }
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "kl_avx512_shared.h"   /* target pragma (popped at the end), AI, UNROLL, rd32 */

/* The 32 activation codes of block b of one row (Q8_0 rows for the symmetric kind, Q8_K else). */
AI const int8_t *act_codes(int kind, const uint8_t *row, int64_t b) {
    if (kind == PK_SYM) return ((const kl_block_q8_0 *)row)[b].qs;
    return ((const kl_block_q8_K *)row)[b / 8].qs + 32 * (b % 8);
}

/* Per (activation row, block) values the tile needs, made once per call:
 * DA: activation scale; I0/I1: integer corrections; F1: float offset factor (Q4_K). */
typedef struct { float *DA, *F1; int32_t *I0, *I1; int64_t stride; } pk_act;

/* R activation rows (R <= 8) x 16 columns of one row group over nb blocks. */
AI void pk_tile(int kind, int R, int64_t nb, const uint8_t *p, const uint8_t *const *AQ, pk_act x,
                float *C, int64_t ldc, __mmask16 mask) {
    const size_t bsz = kind == PK_SYM ? 8 * 64 + 32 : 8 * 64 + 128;
    __m512 acc[8];
    UNROLL
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, p += bsz) {
        __m512i w[8];
        UNROLL
        for (int t = 0; t < 8; ++t) w[t] = _mm512_loadu_si512((const void *)(p + 64 * t));
        __m512 d0, d1 = _mm512_setzero_ps();
        if (kind == PK_SYM) d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 8 * 64)));
        else { d0 = _mm512_loadu_ps(p + 8 * 64); d1 = _mm512_loadu_ps(p + 8 * 64 + 64); }
        if (kind == PK_Q6K) {
            __m512i lo[8], hi[8];
            UNROLL
            for (int r = 0; r < R; ++r) {
                lo[r] = _mm512_set1_epi32(x.I0[r * x.stride + b]);
                hi[r] = _mm512_set1_epi32(x.I1[r * x.stride + b]);
            }
            UNROLL
            for (int t = 0; t < 4; ++t)
                UNROLL
                for (int r = 0; r < R; ++r) {
                    const int8_t *q = act_codes(kind, AQ[r], b);
                    lo[r] = _mm512_dpbusd_epi32(lo[r], w[t], _mm512_set1_epi32((int)rd32((const uint8_t *)q + 4 * t)));
                    hi[r] = _mm512_dpbusd_epi32(hi[r], w[t + 4], _mm512_set1_epi32((int)rd32((const uint8_t *)q + 16 + 4 * t)));
                }
            UNROLL
            for (int r = 0; r < R; ++r) {
                const __m512 da = _mm512_set1_ps(x.DA[r * x.stride + b]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo[r]), _mm512_mul_ps(d0, da), acc[r]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi[r]), _mm512_mul_ps(d1, da), acc[r]);
            }
        } else {
            __m512i s[8];
            UNROLL
            for (int r = 0; r < R; ++r)
                s[r] = kind == PK_SYM ? _mm512_set1_epi32(x.I0[r * x.stride + b]) : _mm512_setzero_si512();
            UNROLL
            for (int t = 0; t < 8; ++t)
                UNROLL
                for (int r = 0; r < R; ++r) {
                    const int8_t *q = act_codes(kind, AQ[r], b);
                    s[r] = _mm512_dpbusd_epi32(s[r], w[t], _mm512_set1_epi32((int)rd32((const uint8_t *)q + 4 * t)));
                }
            UNROLL
            for (int r = 0; r < R; ++r) {
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), _mm512_mul_ps(d0, _mm512_set1_ps(x.DA[r * x.stride + b])), acc[r]);
                if (kind == PK_Q4K) acc[r] = _mm512_fnmadd_ps(d1, _mm512_set1_ps(x.F1[r * x.stride + b]), acc[r]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(C + r * ldc, mask, acc[r]);
}

#define PK_CASES(KIND)                                                              \
    switch (R) {                                                                    \
    case 8: pk_tile(KIND, 8, nb, p, AQ, x, C, ldc, mask); break;                    \
    case 7: pk_tile(KIND, 7, nb, p, AQ, x, C, ldc, mask); break;                    \
    case 6: pk_tile(KIND, 6, nb, p, AQ, x, C, ldc, mask); break;                    \
    case 5: pk_tile(KIND, 5, nb, p, AQ, x, C, ldc, mask); break;                    \
    case 4: pk_tile(KIND, 4, nb, p, AQ, x, C, ldc, mask); break;                    \
    case 3: pk_tile(KIND, 3, nb, p, AQ, x, C, ldc, mask); break;                    \
    case 2: pk_tile(KIND, 2, nb, p, AQ, x, C, ldc, mask); break;                    \
    default: pk_tile(KIND, 1, nb, p, AQ, x, C, ldc, mask); break;                   \
    }

static void pk_rows(int kind, int R, int64_t nb, const uint8_t *p, const uint8_t *const *AQ, pk_act x,
                    float *C, int64_t ldc, __mmask16 mask) {
    if (kind == PK_SYM) { PK_CASES(PK_SYM) }
    else if (kind == PK_Q4K) { PK_CASES(PK_Q4K) }
    else { PK_CASES(PK_Q6K) }
}

static void pk_gemm(int kind, const void *P, int64_t rows, int64_t k, int64_t g0, int64_t g1,
                    const void *A, size_t arb, int64_t na, float *C, int64_t ldc) {
    const int64_t nb = k / KL_QK;
    const size_t bsz = pk_block_bytes(kind);
    const size_t cells = (size_t)(na * nb);
    float stack_f[2 * 8 * 128];
    int32_t stack_i[2 * 8 * 128];
    const int heap = cells > 8 * 128;
    float *F = heap ? malloc(2 * sizeof(float) * cells) : stack_f;
    int32_t *I = heap ? malloc(2 * sizeof(int32_t) * cells) : stack_i;
    if (!F || !I) { if (heap) { free(F); free(I); } return; }
    pk_act x = { F, F + cells, I, I + cells, nb };
    for (int64_t j = 0; j < na; ++j) {
        const uint8_t *row = (const uint8_t *)A + (size_t)j * arb;
        for (int64_t b = 0; b < nb; ++b) {
            const int8_t *q = act_codes(kind, row, b);
            int32_t s0 = 0, s1 = 0;
            for (int i = 0; i < 16; ++i) { s0 += q[i]; s1 += q[16 + i]; }
            const float da = kind == PK_SYM ? kl_fp16_to_fp32(((const kl_block_q8_0 *)row)[b].d)
                                            : ((const kl_block_q8_K *)row)[b / 8].d;
            const size_t c = (size_t)(j * nb + b);
            x.DA[c] = da;
            if (kind == PK_SYM) { x.I0[c] = -128 * (s0 + s1); x.I1[c] = 0; x.F1[c] = 0; }
            else if (kind == PK_Q6K) { x.I0[c] = -32 * s0; x.I1[c] = -32 * s1; x.F1[c] = 0; }
            else { x.I0[c] = 0; x.I1[c] = 0; x.F1[c] = da * (float)(s0 + s1); }
        }
    }
    for (int64_t g = g0; g < g1; ++g) {
        const uint8_t *p = (const uint8_t *)P + (size_t)g * (size_t)nb * bsz;
        const int64_t c0 = g * PK_ROWS;
        const int64_t valid = rows - c0 < PK_ROWS ? rows - c0 : PK_ROWS;
        const __mmask16 mask = (__mmask16)((1u << valid) - 1u);
        for (int64_t j = 0; j < na; j += PK_MAXR) {
            const int R = na - j < PK_MAXR ? (int)(na - j) : PK_MAXR;
            const uint8_t *AQ[8];
            for (int r = 0; r < R; ++r) AQ[r] = (const uint8_t *)A + (size_t)(j + r) * arb;
            pk_act xs = x;
            xs.DA += j * nb; xs.F1 += j * nb; xs.I0 += j * nb; xs.I1 += j * nb;
            pk_rows(kind, R, nb, p, AQ, xs, C + j * ldc + c0, ldc, mask);
        }
    }
    if (heap) { free(F); free(I); }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void kl_packed_gemm(int wtype, const void *P, int64_t rows, int64_t k, int64_t group_begin, int64_t group_end,
                       const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    const int kind = pk_kind(wtype);
    if (kind < 0 || !kl_packed_available(wtype)) return;
    pk_gemm(kind, P, rows, k, group_begin, group_end, A, a_row_bytes, n_a, C, ldc);
}

#else
void kl_packed_gemm(int wtype, const void *P, int64_t rows, int64_t k, int64_t group_begin, int64_t group_end,
                       const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    (void)wtype; (void)P; (void)rows; (void)k; (void)group_begin; (void)group_end; (void)A; (void)a_row_bytes;
    (void)n_a; (void)C; (void)ldc;
}
#endif
