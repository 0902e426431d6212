/*
 * dot_avx2.c - AVX2 + FMA + F16C dot products (runtime-dispatched; every
 * function in this file is compiled for that target and is only called after
 * the CPU check in cpu.c). Integer partial sums are exact; float results equal
 * ggml's up to summation order.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "kl_internal.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* signed x signed int8 dot in pairs of 4 -> 8 x int32 (x must not be -128 in both... |x|<=128 ok) */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

/* unsigned (<= 63) x signed int8 -> 8 x int32 */
static inline __m256i dot_u8(__m256i u, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

/* 32 nibbles of a Q4 block: low nibbles -> bytes 0..15, high nibbles -> 16..31 */
static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes of 0x10 where the bit is set */
static inline __m256i bits32_to_0x10(const uint8_t *qh) {
    uint32_t v;
    memcpy(&v, qh, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                           0x0101010101010101LL, 0x0000000000000000LL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    b = _mm256_cmpeq_epi8(_mm256_and_si256(b, sel), sel);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x10));
}

/* ------------------------------------------------------------ float types */

static float dot_f32(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) s += x[i] * y[i];
    return s;
}

static inline __m256 ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static float dot_f16(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(ld_f16(x + i), ld_f16(y + i), s0);
        s1 = _mm256_fmadd_ps(ld_f16(x + i + 8), ld_f16(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(ld_f16(x + i + 16), ld_f16(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(ld_f16(x + i + 24), ld_f16(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld_f16(x + i), ld_f16(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) s += h2f(x[i]) * h2f(y[i]);
    return s;
}

static inline __m256 ld_bf16(const uint16_t *p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float dot_bf16(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), s0);
        s1 = _mm256_fmadd_ps(ld_bf16(x + i + 8), ld_bf16(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(ld_bf16(x + i + 16), ld_bf16(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(ld_bf16(x + i + 24), ld_bf16(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) s += kl_bf16_to_fp32(x[i]) * kl_bf16_to_fp32(y[i]);
    return s;
}

/* ------------------------------------------------- 32-element block types */

static float dot_q4_0(int64_t n, const void *w, const void *a) {
    const kl_block_q4_0 *x = w;
    const kl_block_q8_0 *y = a;
    const int64_t nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    const __m256i off = _mm256_set1_epi8(8);
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        const __m256i q0 = _mm256_sub_epi8(nibbles32(x[b].qs), off);
        const __m256i q1 = _mm256_sub_epi8(nibbles32(x[b + 1].qs), off);
        const __m256i p0 = dot_i8(q0, _mm256_loadu_si256((const __m256i *)y[b].qs));
        const __m256i p1 = dot_i8(q1, _mm256_loadu_si256((const __m256i *)y[b + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b + 1].d) * h2f(y[b + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; b < nb; ++b) {
        const __m256i q0 = _mm256_sub_epi8(nibbles32(x[b].qs), off);
        const __m256i p0 = dot_i8(q0, _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

static float dot_q4_1(int64_t n, const void *w, const void *a) {
    const kl_block_q4_1 *x = w;
    const kl_block_q8_1 *y = a;
    const int64_t nb = n / 32;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        summs += h2f(x[b].m) * h2f(y[b].s);
        const __m256i p = dot_u8(nibbles32(x[b].qs), _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

static float dot_q5_0(int64_t n, const void *w, const void *a) {
    const kl_block_q5_0 *x = w;
    const kl_block_q8_0 *y = a;
    const int64_t nb = n / 32;
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(16);
    for (int64_t b = 0; b < nb; ++b) {
        __m256i q = _mm256_or_si256(nibbles32(x[b].qs), bits32_to_0x10(x[b].qh));
        q = _mm256_sub_epi8(q, off);
        const __m256i p = dot_i8(q, _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float dot_q5_1(int64_t n, const void *w, const void *a) {
    const kl_block_q5_1 *x = w;
    const kl_block_q8_1 *y = a;
    const int64_t nb = n / 32;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        summs += h2f(x[b].m) * h2f(y[b].s);
        const __m256i q = _mm256_or_si256(nibbles32(x[b].qs), bits32_to_0x10(x[b].qh));
        const __m256i p = dot_u8(q, _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

static float dot_q8_0(int64_t n, const void *w, const void *a) {
    const kl_block_q8_0 *x = w;
    const kl_block_q8_0 *y = a;
    const int64_t nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        const __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)x[b].qs),
                                  _mm256_loadu_si256((const __m256i *)y[b].qs));
        const __m256i p1 = dot_i8(_mm256_loadu_si256((const __m256i *)x[b + 1].qs),
                                  _mm256_loadu_si256((const __m256i *)y[b + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b + 1].d) * h2f(y[b + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; b < nb; ++b) {
        const __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)x[b].qs),
                                  _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* ------------------------------------------- several activation rows at once
 * Batched decoding and prompt reading multiply one weight row by several activation rows.
 * These kernels load (and for Q5_0 unpack) each weight block once for four rows; every row's
 * arithmetic is the same instruction sequence as dot_q8_0 / dot_q5_0, so each result is
 * bit-identical to the single-row dot. Weight rows are taken in blocks that stay in cache
 * while all activation rows pass over them. */

#define KL_GEMM_ROW_BLOCK 16

/* One weight row against four activation rows: out[r] = dot(w, y[r]) in the single-row dot's
 * arithmetic. */
typedef void (*tile4_fn)(int64_t k, const void *w, const void *const y[4], float out[4]);

/* The loop shared by the four-row GEMMs below: weight rows in cache-sized blocks, activation
 * rows four at a time through `tile`, the last one to three through `dot`. Inlined into each
 * GEMM, so `tile` and `dot` are direct calls. */
static inline __attribute__((always_inline))
void gemm_by_four(tile4_fn tile, kl_dot_fn dot, int64_t k, const void *W, size_t w_row_bytes, int64_t row_begin,
                  int64_t row_end, const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    for (int64_t i0 = row_begin; i0 < row_end; i0 += KL_GEMM_ROW_BLOCK) {
        const int64_t i1 = i0 + KL_GEMM_ROW_BLOCK < row_end ? i0 + KL_GEMM_ROW_BLOCK : row_end;
        int64_t j = 0;
        for (; j + 4 <= n_a; j += 4) {
            const void *y[4];
            for (int r = 0; r < 4; ++r) y[r] = (const uint8_t *)A + (size_t)(j + r) * a_row_bytes;
            for (int64_t i = i0; i < i1; ++i) {
                float out[4];
                tile(k, (const uint8_t *)W + (size_t)i * w_row_bytes, y, out);
                for (int r = 0; r < 4; ++r) C[(j + r) * ldc + i] = out[r];
            }
        }
        for (; j < n_a; ++j) {
            const void *a = (const uint8_t *)A + (size_t)j * a_row_bytes;
            for (int64_t i = i0; i < i1; ++i) C[j * ldc + i] = dot(k, (const uint8_t *)W + (size_t)i * w_row_bytes, a);
        }
    }
}

static inline __attribute__((always_inline))
void tile4_q8_0(int64_t k, const void *w, const void *const yv[4], float out[4]) {
    const int64_t nb = k / 32;
    const kl_block_q8_0 *x = w;
    const kl_block_q8_0 *y[4] = {yv[0], yv[1], yv[2], yv[3]};
    __m256 acc0[4], acc1[4];
    for (int r = 0; r < 4; ++r) { acc0[r] = _mm256_setzero_ps(); acc1[r] = acc0[r]; }
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)x[b + 1].qs);
        const float d0 = h2f(x[b].d), d1 = h2f(x[b + 1].d);
        for (int r = 0; r < 4; ++r) {
            const __m256i p0 = dot_i8(w0, _mm256_loadu_si256((const __m256i *)y[r][b].qs));
            const __m256i p1 = dot_i8(w1, _mm256_loadu_si256((const __m256i *)y[r][b + 1].qs));
            acc0[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * h2f(y[r][b].d)), _mm256_cvtepi32_ps(p0), acc0[r]);
            acc1[r] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * h2f(y[r][b + 1].d)), _mm256_cvtepi32_ps(p1), acc1[r]);
        }
    }
    for (; b < nb; ++b) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const float d0 = h2f(x[b].d);
        for (int r = 0; r < 4; ++r) {
            const __m256i p0 = dot_i8(w0, _mm256_loadu_si256((const __m256i *)y[r][b].qs));
            acc0[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * h2f(y[r][b].d)), _mm256_cvtepi32_ps(p0), acc0[r]);
        }
    }
    for (int r = 0; r < 4; ++r) out[r] = hsum8(_mm256_add_ps(acc0[r], acc1[r]));
}

static void gemm_q8_0(int64_t k, const void *W, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                      const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    gemm_by_four(tile4_q8_0, dot_q8_0, k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
}

static inline __attribute__((always_inline))
void tile4_q5_0(int64_t k, const void *w, const void *const yv[4], float out[4]) {
    const int64_t nb = k / 32;
    const kl_block_q5_0 *x = w;
    const kl_block_q8_0 *y[4] = {yv[0], yv[1], yv[2], yv[3]};
    const __m256i off = _mm256_set1_epi8(16);
    __m256 acc[4];
    for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m256i q = _mm256_or_si256(nibbles32(x[b].qs), bits32_to_0x10(x[b].qh));
        q = _mm256_sub_epi8(q, off);
        const float d = h2f(x[b].d);
        for (int r = 0; r < 4; ++r) {
            const __m256i p = dot_i8(q, _mm256_loadu_si256((const __m256i *)y[r][b].qs));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * h2f(y[r][b].d)), _mm256_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < 4; ++r) out[r] = hsum8(acc[r]);
}

/* For rows longer than the packed Q5_0 GEMM's buffers. */
static void gemm_q5_0_rowwise(int64_t k, const void *W, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                              const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    gemm_by_four(tile4_q5_0, dot_q5_0, k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
}

/* Q5_0 GEMM with weights unpacked once per block of rows (not once per group of four
 * activation rows): each weight block becomes 32 unsigned codes u = q + 16 (0..31) in a stack
 * buffer, and maddubs(u, a) needs no sign trick. The exact integer correction 16 * (sum of each
 * lane's 4 activations) is computed once per activation block, so every lane's int32 equals
 * dot_i8(q, a)'s, and the float steps (cvt, scale product d_w * d_a, fma, block order, hsum8)
 * are dot_q5_0's: results are bit-identical to it. Activation scales are converted once per
 * group of four rows. Rows with more than 128 blocks (k > 4096) take the row-wise kernel. */
#define Q5_PACK_BYTES 16384
#define Q5_MAX_BLOCKS 128

static void gemm_q5_0(int64_t k, const void *W, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                      const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    const int64_t nb = k / 32;
    if (nb > Q5_MAX_BLOCKS || n_a < 4) {
        gemm_q5_0_rowwise(k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
        return;
    }
    _Alignas(32) uint8_t U[Q5_PACK_BYTES];             /* rows x nb x 32 unsigned codes */
    float DW[Q5_PACK_BYTES / 32];                       /* rows x nb weight scales */
    _Alignas(32) int32_t CORR[4 * Q5_MAX_BLOCKS * 8];   /* 4 act rows x nb x 8 lanes */
    float DA[4 * Q5_MAX_BLOCKS];
    const int64_t rows_per_pack = Q5_PACK_BYTES / (nb * 32) < KL_GEMM_ROW_BLOCK ? Q5_PACK_BYTES / (nb * 32) : KL_GEMM_ROW_BLOCK;
    const __m256i ones16 = _mm256_set1_epi16(1), sixteen8 = _mm256_set1_epi8(16);
    for (int64_t i0 = row_begin; i0 < row_end; i0 += rows_per_pack) {
        const int64_t i1 = i0 + rows_per_pack < row_end ? i0 + rows_per_pack : row_end;
        for (int64_t i = i0; i < i1; ++i) {
            const kl_block_q5_0 *x = (const kl_block_q5_0 *)((const uint8_t *)W + (size_t)i * w_row_bytes);
            for (int64_t b = 0; b < nb; ++b) {
                const __m256i u = _mm256_or_si256(nibbles32(x[b].qs), bits32_to_0x10(x[b].qh));
                _mm256_store_si256((__m256i *)(U + ((i - i0) * nb + b) * 32), u);
                DW[(i - i0) * nb + b] = h2f(x[b].d);
            }
        }
        int64_t j = 0;
        for (; j + 4 <= n_a; j += 4) {
            const kl_block_q8_0 *y[4];
            for (int r = 0; r < 4; ++r) {
                y[r] = (const kl_block_q8_0 *)((const uint8_t *)A + (size_t)(j + r) * a_row_bytes);
                for (int64_t b = 0; b < nb; ++b) {
                    const __m256i a = _mm256_loadu_si256((const __m256i *)y[r][b].qs);
                    _mm256_store_si256((__m256i *)(CORR + (r * nb + b) * 8), _mm256_madd_epi16(_mm256_maddubs_epi16(sixteen8, a), ones16));
                    DA[r * nb + b] = h2f(y[r][b].d);
                }
            }
            for (int64_t i = i0; i < i1; ++i) {
                const uint8_t *u_row = U + (i - i0) * nb * 32;
                const float *dw = DW + (i - i0) * nb;
                __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
                for (int64_t b = 0; b < nb; ++b) {
                    const __m256i u = _mm256_load_si256((const __m256i *)(u_row + b * 32));
                    const __m256 d = _mm256_broadcast_ss(&dw[b]);
#define Q5_STEP(R, ACC) do { \
                        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)y[R][b].qs)), ones16); \
                        p = _mm256_sub_epi32(p, _mm256_load_si256((const __m256i *)(CORR + ((R) * nb + b) * 8))); \
                        ACC = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_broadcast_ss(&DA[(R) * nb + b])), _mm256_cvtepi32_ps(p), ACC); \
                    } while (0)
                    Q5_STEP(0, acc0); Q5_STEP(1, acc1); Q5_STEP(2, acc2); Q5_STEP(3, acc3);
#undef Q5_STEP
                }
                C[(j + 0) * ldc + i] = hsum8(acc0);
                C[(j + 1) * ldc + i] = hsum8(acc1);
                C[(j + 2) * ldc + i] = hsum8(acc2);
                C[(j + 3) * ldc + i] = hsum8(acc3);
            }
        }
        for (; j < n_a; ++j) {
            const void *a = (const uint8_t *)A + (size_t)j * a_row_bytes;
            for (int64_t i = i0; i < i1; ++i) C[j * ldc + i] = dot_q5_0(k, (const uint8_t *)W + (size_t)i * w_row_bytes, a);
        }
    }
}

/* ------------------------------------------------------------- K-quants */

/* two int16 scales for the two 16-element halves of a 32-element chunk */
static inline __m256i scale2(int s0, int s1) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)s0)),
                                   _mm_set1_epi16((short)s1), 1);
}

static inline int bsum_dot16(const int16_t *bsums, const int16_t *coef16) {
    const __m256i p = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums),
                                        _mm256_loadu_si256((const __m256i *)coef16));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

static float dot_q2_K(int64_t n, const void *w, const void *a) {
    const kl_block_q2_K *x = w;
    const kl_block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        int16_t mins[16];
        for (int g = 0; g < 16; ++g) mins[g] = (int16_t)(x[b].scales[g] >> 4);
        const int summs = bsum_dot16(y[b].bsums, mins);
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * (c >> 2)));
            const __m256i u = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * (c & 3)), m3);
            const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * c)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale2(x[b].scales[2 * c] & 0xF,
                                                                     x[b].scales[2 * c + 1] & 0xF)));
        }
        const float dall = y[b].d * h2f(x[b].d), dmin = y[b].d * h2f(x[b].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(isum), acc);
        accm += dmin * (float)summs;
    }
    return hsum8(acc) - accm;
}

static float dot_q3_K(int64_t n, const void *w, const void *a) {
    const kl_block_q3_K *x = w;
    const kl_block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        int8_t sc8[16];
        kl_q3k_scales(x[b].scales, sc8);
        int16_t sc[16];
        for (int g = 0; g < 16; ++g) sc[g] = sc8[g];
        /* values are u - 4 with u = low2 | hbit<<2 in 0..7 */
        __m256i isum = _mm256_set1_epi32(0);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[b].hmask);
        for (int c = 0; c < 8; ++c) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * (c >> 2)));
            const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * (c & 3)), m3);
            const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, c), m1);
            const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
            const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * c)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale2(sc[2 * c], sc[2 * c + 1])));
        }
        const int corr = 4 * bsum_dot16(y[b].bsums, sc);
        const float d = h2f(x[b].d) * y[b].d;
        /* fold the -4*sum(sc*bsums) correction into lane 0 */
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum8(acc);
}

/* Q4_K/Q5_K scales and mins as bytes: out[0..7] scales, out[8..15] mins */
static inline void k4_unpack(const uint8_t *s12, uint8_t out[16]) {
    for (int j = 0; j < 8; ++j) kl_get_scale_min_k4(j, s12, &out[j], &out[8 + j]);
}

static float dot_q4_K(int64_t n, const void *w, const void *a) {
    const kl_block_q4_K *x = w;
    const kl_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        uint8_t sm[16];
        k4_unpack(x[b].scales, sm);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += sm[8 + j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            const __m256i lo = _mm256_and_si256(raw, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j + 32)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(plo, _mm256_set1_epi16(sm[2 * j])));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(phi, _mm256_set1_epi16(sm[2 * j + 1])));
        }
        const float d = h2f(x[b].d) * y[b].d, dmin = h2f(x[b].dmin) * y[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        accm += dmin * (float)summs;
    }
    return hsum8(acc) - accm;
}

static float dot_q5_K(int64_t n, const void *w, const void *a) {
    const kl_block_q5_K *x = w;
    const kl_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    for (int64_t b = 0; b < n / 256; ++b) {
        uint8_t sm[16];
        k4_unpack(x[b].scales, sm);
        int summs = 0;
        for (int j = 0; j < 8; ++j) summs += sm[8 + j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[b].qh);
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), m1), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), m1), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(raw, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), h1);
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j + 32)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(plo, _mm256_set1_epi16(sm[2 * j])));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(phi, _mm256_set1_epi16(sm[2 * j + 1])));
        }
        const float d = h2f(x[b].d) * y[b].d, dmin = h2f(x[b].dmin) * y[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        accm += dmin * (float)summs;
    }
    return hsum8(acc) - accm;
}

/* The 256 six-bit codes of a Q6_K super-block as 8 runs of 32 unsigned bytes (0..63). */
static inline __attribute__((always_inline)) void q6_K_codes(const kl_block_q6_K *x, __m256i u[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
        const uint8_t *ql = x->ql + 64 * h;
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i lows[4] = {
            _mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
            _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
        for (int m = 0; m < 4; ++m) {
            const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * m), m3);
            u[4 * h + m] = _mm256_or_si256(lows[m], _mm256_slli_epi16(hb, 4));
        }
    }
}

static float dot_q6_K(int64_t n, const void *w, const void *a) {
    const kl_block_q6_K *x = w;
    const kl_block_q8_K *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; ++b) {
        int16_t sc[16];
        for (int g = 0; g < 16; ++g) sc[g] = x[b].scales[g];
        const int corr = 32 * bsum_dot16(y[b].bsums, sc);
        __m256i isum = _mm256_setr_epi32(-corr, 0, 0, 0, 0, 0, 0, 0);
        __m256i u[8];
        q6_K_codes(&x[b], u);
        for (int c = 0; c < 8; ++c) {   /* 32-element chunks */
            const __m256i p = _mm256_maddubs_epi16(u[c], _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * c)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale2(sc[2 * c], sc[2 * c + 1])));
        }
        const float d = h2f(x[b].d) * y[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum8(acc);
}

/* K-quant GEMMs: each weight super-block is unpacked once (codes and scale vectors) for four
 * activation rows instead of once per row. Per row the integer sums are exact and the float
 * steps are dot_q4_K's / dot_q6_K's in the same order, so results are bit-identical to them. */

static inline __attribute__((always_inline))
void tile4_q4_K(int64_t k, const void *w, const void *const yv[4], float out[4]) {
    const int64_t nsb = k / 256;
    const kl_block_q4_K *x = w;
    const kl_block_q8_K *y[4] = {yv[0], yv[1], yv[2], yv[3]};
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4];
    float accm[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; ++b) {
        uint8_t sm[16];
        k4_unpack(x[b].scales, sm);
        __m256i u[8], sc[8];
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * c));
            u[2 * c] = _mm256_and_si256(raw, m4);
            u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        }
        for (int c = 0; c < 8; ++c) sc[c] = _mm256_set1_epi16(sm[c]);
        const float dw = h2f(x[b].d), dmw = h2f(x[b].dmin);
        for (int r = 0; r < 4; ++r) {
            const kl_block_q8_K *yb = &y[r][b];
            int summs = 0;
            for (int g = 0; g < 8; ++g) summs += sm[8 + g] * (yb->bsums[2 * g] + yb->bsums[2 * g + 1]);
            __m256i isum = _mm256_setzero_si256();
            for (int c = 0; c < 8; ++c)
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(
                    _mm256_maddubs_epi16(u[c], _mm256_loadu_si256((const __m256i *)(yb->qs + 32 * c))), sc[c]));
            const float d = dw * yb->d, dmin = dmw * yb->d;
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc[r]);
            accm[r] += dmin * (float)summs;
        }
    }
    for (int r = 0; r < 4; ++r) out[r] = hsum8(acc[r]) - accm[r];
}

static void gemm_q4_K(int64_t k, const void *W, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                      const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    gemm_by_four(tile4_q4_K, dot_q4_K, k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
}

static inline __attribute__((always_inline))
void tile4_q6_K(int64_t k, const void *w, const void *const yv[4], float out[4]) {
    const int64_t nsb = k / 256;
    const kl_block_q6_K *x = w;
    const kl_block_q8_K *y[4] = {yv[0], yv[1], yv[2], yv[3]};
    __m256 acc[4];
    for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; ++b) {
        int16_t sc16[16];
        for (int g = 0; g < 16; ++g) sc16[g] = x[b].scales[g];
        __m256i u[8], sc[8];
        q6_K_codes(&x[b], u);
        for (int c = 0; c < 8; ++c) sc[c] = scale2(sc16[2 * c], sc16[2 * c + 1]);
        const float dw = h2f(x[b].d);
        for (int r = 0; r < 4; ++r) {
            const kl_block_q8_K *yb = &y[r][b];
            const int corr = 32 * bsum_dot16(yb->bsums, sc16);
            __m256i isum = _mm256_setr_epi32(-corr, 0, 0, 0, 0, 0, 0, 0);
            for (int c = 0; c < 8; ++c)
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(
                    _mm256_maddubs_epi16(u[c], _mm256_loadu_si256((const __m256i *)(yb->qs + 32 * c))), sc[c]));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * yb->d), _mm256_cvtepi32_ps(isum), acc[r]);
        }
    }
    for (int r = 0; r < 4; ++r) out[r] = hsum8(acc[r]);
}

static void gemm_q6_K(int64_t k, const void *W, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                      const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc) {
    gemm_by_four(tile4_q6_K, dot_q6_K, k, W, w_row_bytes, row_begin, row_end, A, a_row_bytes, n_a, C, ldc);
}

/* ------------------------------------------------ activation quantization */
/* Same arithmetic as the portable versions in quants.c (which document the ggml
 * semantics): _mm256_round_ps(NEAREST) == kl_nearest_int, F16C == kl_fp32_to_fp16. */

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline int hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

static inline uint16_t f2h(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

/* round(x*id) of 32 floats -> 32 int8 (saturating, in order); returns sum of the quants */
static inline int q8_32(const float *x, __m256 id, int8_t *out) {
    __m256i i[4];
    for (int k = 0; k < 4; ++k)
        i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const int sum = hsum_i32x8(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
    const __m256i p01 = _mm256_packs_epi32(i[0], i[1]), p23 = _mm256_packs_epi32(i[2], i[3]);
    const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out, b);
    return sum;
}

static inline float amax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    return hmax8(m);
}

static void quant_q8_0(const float *x, void *vy, int64_t n) {
    kl_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const float amax = amax32(x);
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = f2h(d);
        (void)q8_32(x, _mm256_set1_ps(id), y[b].qs);
    }
}

static void quant_q8_1(const float *x, void *vy, int64_t n) {
    kl_block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const float amax = amax32(x);
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = f2h(d);
        const int sum = q8_32(x, _mm256_set1_ps(id), y[b].qs);
        y[b].s = f2h(d * (float)sum);
    }
}

static void quant_q8_K(const float *x, void *vy, int64_t n) {
    kl_block_q8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; ++b, x += 256) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 256; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        const float amax = hmax8(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        /* signed value of the FIRST element with |x| == amax (ggml: `if (ax > amax)`) */
        const __m256 am = _mm256_set1_ps(amax);
        float max = amax;
        for (int k = 0; k < 256; k += 8) {
            const int msk = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), am, _CMP_EQ_OQ));
            if (msk) { max = x[k + __builtin_ctz((unsigned)msk)]; break; }
        }
        const float iscale = -127.f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int g = 0; g < 8; ++g)   /* 8 x 32 quants; bsums from the int32 lanes */
        {
            __m256i i[4];
            for (int k = 0; k < 4; ++k)
                i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + 32 * g + 8 * k)),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i p01 = _mm256_packs_epi32(i[0], i[1]), p23 = _mm256_packs_epi32(i[2], i[3]);
            const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * g), q);
            /* bsums from the (saturated) stored bytes: sum of each 16 */
            const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);          /* 16 x int16 pairs */
            const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));           /* 8 x int32 quads */
            const __m128i lo = _mm256_castsi256_si128(s32), hi = _mm256_extracti128_si256(s32, 1);
            __m128i t0 = _mm_add_epi32(lo, _mm_unpackhi_epi64(lo, lo));
            __m128i t1 = _mm_add_epi32(hi, _mm_unpackhi_epi64(hi, hi));
            y[b].bsums[2 * g] = (int16_t)(_mm_cvtsi128_si32(t0) + _mm_extract_epi32(t0, 1));
            y[b].bsums[2 * g + 1] = (int16_t)(_mm_cvtsi128_si32(t1) + _mm_extract_epi32(t1, 1));
        }
        y[b].d = 1.0f / iscale;
    }
}

static void quant_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = f2h(x[i]);
}

void kl_fill_avx2(kl_kernels *t) {
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
    t->gemm[KL_Q8_0] = gemm_q8_0;
    t->gemm[KL_Q5_0] = gemm_q5_0;
    t->gemm[KL_Q4_K] = gemm_q4_K;
    t->gemm[KL_Q6_K] = gemm_q6_K;
    t->quant[KL_Q8_0] = quant_q8_0;
    t->quant[KL_Q8_1] = quant_q8_1;
    t->quant[KL_Q8_K] = quant_q8_K;
    t->quant[KL_F16]  = quant_f16;
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  /* not x86 */
#include "kl_internal.h"
/* ------------------------------------------------ activation quantization */
/* Same arithmetic as the portable versions in quants.c (which document the ggml
 * semantics): _mm256_round_ps(NEAREST) == kl_nearest_int, F16C == kl_fp32_to_fp16. */

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline int hsum_i32x8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

static inline uint16_t f2h(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

/* round(x*id) of 32 floats -> 32 int8 (saturating, in order); returns sum of the quants */
static inline int q8_32(const float *x, __m256 id, int8_t *out) {
    __m256i i[4];
    for (int k = 0; k < 4; ++k)
        i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const int sum = hsum_i32x8(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
    const __m256i p01 = _mm256_packs_epi32(i[0], i[1]), p23 = _mm256_packs_epi32(i[2], i[3]);
    const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out, b);
    return sum;
}

static inline float amax32(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    return hmax8(m);
}

static void quant_q8_0(const float *x, void *vy, int64_t n) {
    kl_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const float amax = amax32(x);
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = f2h(d);
        (void)q8_32(x, _mm256_set1_ps(id), y[b].qs);
    }
}

static void quant_q8_1(const float *x, void *vy, int64_t n) {
    kl_block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const float amax = amax32(x);
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = f2h(d);
        const int sum = q8_32(x, _mm256_set1_ps(id), y[b].qs);
        y[b].s = f2h(d * (float)sum);
    }
}

static void quant_q8_K(const float *x, void *vy, int64_t n) {
    kl_block_q8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; ++b, x += 256) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 256; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        const float amax = hmax8(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        /* signed value of the FIRST element with |x| == amax (ggml: `if (ax > amax)`) */
        const __m256 am = _mm256_set1_ps(amax);
        float max = amax;
        for (int k = 0; k < 256; k += 8) {
            const int msk = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), am, _CMP_EQ_OQ));
            if (msk) { max = x[k + __builtin_ctz((unsigned)msk)]; break; }
        }
        const float iscale = -127.f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int g = 0; g < 8; ++g)   /* 8 x 32 quants; bsums from the int32 lanes */
        {
            __m256i i[4];
            for (int k = 0; k < 4; ++k)
                i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + 32 * g + 8 * k)),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i p01 = _mm256_packs_epi32(i[0], i[1]), p23 = _mm256_packs_epi32(i[2], i[3]);
            const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * g), q);
            /* bsums from the (saturated) stored bytes: sum of each 16 */
            const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);          /* 16 x int16 pairs */
            const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));           /* 8 x int32 quads */
            const __m128i lo = _mm256_castsi256_si128(s32), hi = _mm256_extracti128_si256(s32, 1);
            __m128i t0 = _mm_add_epi32(lo, _mm_unpackhi_epi64(lo, lo));
            __m128i t1 = _mm_add_epi32(hi, _mm_unpackhi_epi64(hi, hi));
            y[b].bsums[2 * g] = (int16_t)(_mm_cvtsi128_si32(t0) + _mm_extract_epi32(t0, 1));
            y[b].bsums[2 * g + 1] = (int16_t)(_mm_cvtsi128_si32(t1) + _mm_extract_epi32(t1, 1));
        }
        y[b].d = 1.0f / iscale;
    }
}

static void quant_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = f2h(x[i]);
}

void kl_fill_avx2(kl_kernels *t) { (void)t; }
#endif
