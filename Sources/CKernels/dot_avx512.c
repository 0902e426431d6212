/*
 * dot_avx512.c - AVX-512 (F/BW/VL/DQ + VNNI) register-tiled kernels.
 *
 * Every quantized dot product is computed as an integer dot of UNSIGNED weight
 * codes u (0..255) with the SIGNED int8 activations, plus an exact integer
 * correction, so VNNI can be used without the sign trick:
 *
 *   Q4_0: w = u - 8,  Q5_0: w = u - 16,  Q8_0: w = (u ^ 0x80) - 128
 *         sum(w*a) = dpbusd(u, a) - c*sum(a)         (c*sum(a) per activation block)
 *   Q4_1/Q5_1: sum = d*da*dpbusd(u,a) + m*s
 *   K-quants (Q8_K activations, 16/32-element sub-blocks with integer scales):
 *         int16 pairs = maddubs(u, a); acc += dpwssd(pairs, scale)   (exact, no saturation:
 *         u <= 63, |a| <= 128)
 *         offsets (Q3_K: 4, Q6_K: 32) and mins (Q2_K, Q4_K, Q5_K) via the bsums.
 *
 * GEMM (n_a > 1): the weights of a group of rows are unpacked once per k-segment
 * into a small stack buffer and reused for every group of activation rows:
 *   32-block family: 12 rows x 4 activations; the 4 activations' integer dots are
 *     regrouped (a_reduce4) so the float stage costs one cvt+mul+fma per row.
 *   K-quants: R x 4 register tiles (R = 4 with GCC, 2 with clang: best measured).
 * GEMV (n_a == 1): one row at a time in memory order (interleaving several row
 * streams defeated the hardware prefetcher: 2-4x slower); activation-side
 * vectors are prepared once per call. vec_dot is the 1x1 tile.
 * Everything stays in registers / on the stack (<= ~40 KiB); nothing allocates.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "kl_internal.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

#define AI static inline __attribute__((always_inline))
/* Full unrolling of the constant-trip tile loops keeps the accumulator arrays in registers. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* acc += pairwise int16 dot (VNNI). (clang rewrites part of these into
 * vpmaddwd + vpaddd by itself; measured: that is as fast here, and forcing
 * vpdpwssd with inline asm under clang was ~20% slower.) */
AI __m512i dpwssd(__m512i acc, __m512i a, __m512i b) { return _mm512_dpwssd_epi32(acc, a, b); }

AI uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
AI uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
AI float rdf(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }

AI __m512i bcast256(const uint8_t *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* ====================================================================== */
/* Family A: 32-element blocks, Q8_0 / Q8_1 activations, 2 blocks per step */
/* ====================================================================== */

AI size_t a_wsz(int T) {
    return T == KL_Q4_0 ? 18 : T == KL_Q4_1 ? 20 : T == KL_Q5_0 ? 22 : T == KL_Q5_1 ? 24 : 34;
}
AI int a_hasmin(int T) { return T == KL_Q4_1 || T == KL_Q5_1; }
AI size_t a_asz(int T) { return a_hasmin(T) ? 36 : 34; }
AI int a_corr(int T) { return T == KL_Q4_0 ? 8 : T == KL_Q5_0 ? 16 : T == KL_Q8_0 ? 128 : 0; }

/* 64 int8 of two consecutive 32-byte runs (second one zero when !two) */
AI __m512i ld2x32(const uint8_t *p0, const uint8_t *p1, int two) {
    const __m256i lo = _mm256_loadu_si256((const __m256i *)p0);
    if (!two) return _mm512_zextsi256_si512(lo);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* unsigned weight codes of blocks b (bytes 0..31) and b+1 (bytes 32..63) */
AI __m512i a_unpack(int T, const uint8_t *blk, int two) {
    const size_t wsz = a_wsz(T);
    if (T == KL_Q8_0)
        return _mm512_xor_si512(ld2x32(blk + 2, blk + wsz + 2, two), _mm512_set1_epi8((char)0x80));
    const size_t qoff = T == KL_Q4_0 ? 2 : T == KL_Q4_1 ? 4 : T == KL_Q5_0 ? 6 : 8;
    const __m256i q0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + qoff)));
    __m512i t;
    if (two)
        t = _mm512_inserti64x4(_mm512_castsi256_si512(q0),
                               _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + wsz + qoff))), 1);
    else
        t = _mm512_zextsi256_si512(q0);
    t = _mm512_mask_srli_epi16(t, (__mmask32)0xFF00FF00u, t, 4);   /* high nibbles -> elements 16..31 */
    __m512i u = _mm512_and_si512(t, _mm512_set1_epi8(0x0F));
    if (T == KL_Q5_0 || T == KL_Q5_1) {
        const size_t hoff = T == KL_Q5_0 ? 2 : 4;
        uint64_t bits = rd32(blk + hoff);
        if (two) bits |= (uint64_t)rd32(blk + wsz + hoff) << 32;
        u = _mm512_mask_add_epi8(u, _cvtu64_mask64(bits), u, _mm512_set1_epi8(16));
    }
    return u;
}

/* fp16 scale(s) of blocks b (at p) and b+1 (at p + bsz), spread to [8 x b, 8 x b+1] floats */
AI __m512 spread_h2(const uint8_t *p, size_t bsz, int two) {
    const __m128i h0 = _mm_set1_epi16((short)rd16(p));
    const __m256i hh = two ? _mm256_inserti128_si256(_mm256_castsi128_si256(h0), _mm_set1_epi16((short)rd16(p + bsz)), 1)
                           : _mm256_zextsi128_si256(h0);
    return _mm512_cvtph_ps(hh);
}

AI void a_scales(int hasmin, const uint8_t *blk, size_t bsz, int two, __m512 *d, __m512 *m) {
    *d = spread_h2(blk, bsz, two);
    if (hasmin) *m = spread_h2(blk + 2, bsz, two);
}

/* Activation-side data of one step (2 blocks) for activation row ap. */
typedef struct { __m512i av, init; __m512 da, sa; } a_act;

AI a_act a_load_act(int T, const uint8_t *ap, int two) {
    const size_t asz = a_asz(T), aqo = a_hasmin(T) ? 4 : 2;
    a_act r;
    r.av = ld2x32(ap + aqo, ap + asz + aqo, two);
    r.init = _mm512_setzero_si512();
    if (a_corr(T))   /* -c * (sum of each 4 activations), so dpbusd(init, u, a) = sum((u - c) * a) */
        r.init = _mm512_sub_epi32(r.init, _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                              _mm512_set1_epi8((char)a_corr(T)), r.av));
    a_scales(a_hasmin(T), ap, asz, two, &r.da, &r.sa);
    if (a_hasmin(T)) r.sa = _mm512_mul_ps(r.sa, _mm512_set1_ps(0.125f));  /* 8 lanes per block */
    else r.sa = _mm512_setzero_ps();
    return r;
}

/* One step of an R x C tile. Weight data comes either unpacked on the fly from
 * the raw rows (U == NULL) or from a prepacked buffer (U/D/M[r * ustride + s]). */
AI void a_step(int T, int R, int C, int two, const uint8_t *w, size_t wrb,
               const __m512i *U, const __m512 *D, const __m512 *M, size_t ustride,
               const uint8_t *a, size_t arb, __m512 acc[4][4]) {
    const size_t wsz = a_wsz(T);
    __m512i u[4];
    __m512 dw[4], mw[4];
    UNROLL
    for (int r = 0; r < R; ++r) {
        if (U) {
            u[r] = U[r * ustride];
            dw[r] = D[r * ustride];
            if (a_hasmin(T)) mw[r] = M[r * ustride];
        } else {
            u[r] = a_unpack(T, w + r * wrb, two);
            a_scales(a_hasmin(T), w + r * wrb, wsz, two, &dw[r], &mw[r]);
        }
    }
    UNROLL
    for (int c = 0; c < C; ++c) {
        const a_act x = a_load_act(T, a + c * arb, two);
        UNROLL
        for (int r = 0; r < R; ++r) {
            const __m512i I = _mm512_dpbusd_epi32(x.init, u[r], x.av);
            acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I), _mm512_mul_ps(dw[r], x.da), acc[r][c]);
            if (a_hasmin(T)) acc[r][c] = _mm512_fmadd_ps(mw[r], x.sa, acc[r][c]);
        }
    }
}

AI void a_tile_gen(int T, int R, int C, int64_t nb, const uint8_t *w, size_t wrb,
                   const __m512i *U, const __m512 *D, const __m512 *M, size_t ustride,
                   const uint8_t *a, size_t arb, float *out, int add) {
    const size_t wsz = a_wsz(T), asz = a_asz(T);
    __m512 acc[4][4];
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    int64_t b = 0, s = 0;
    for (; b + 2 <= nb; b += 2, ++s)
        a_step(T, R, C, 1, w + b * wsz, wrb, U ? U + s : NULL, D ? D + s : NULL, M ? M + s : NULL, ustride,
               a + b * asz, arb, acc);
    if (b < nb)
        a_step(T, R, C, 0, w + b * wsz, wrb, U ? U + s : NULL, D ? D + s : NULL, M ? M + s : NULL, ustride,
               a + b * asz, arb, acc);
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) {
            const float v = _mm512_reduce_add_ps(acc[r][c]);
            if (add) out[r * C + c] += v; else out[r * C + c] = v;
        }
}

AI void a_tile(int T, int R, int C, int64_t nb, const uint8_t *w, size_t wrb,
               const uint8_t *a, size_t arb, float *out) {
    a_tile_gen(T, R, C, nb, w, wrb, NULL, NULL, NULL, 0, a, arb, out, 0);
}

/* Horizontal regroup of four 16-lane int32 vectors: result lane (L, c) of 128-bit
 * lane L holds the sum of the four lanes of v[c] in 128-bit lane L. */
AI __m512i a_reduce4(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
    const __m512i u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v0, v1), _mm512_unpackhi_epi32(v0, v1));
    const __m512i u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v2, v3), _mm512_unpackhi_epi32(v2, v3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
}

/* R x 4 tile on prepacked weights. The integer dot products of the 4 activation
 * rows are regrouped (a_reduce4) before the float stage, so each row needs one
 * cvt + mul + fma per step instead of four, and a single accumulator. */
AI void a_tile_red(int T, int R, int64_t nb, const __m512i *U, const __m512 *D, const __m512 *M,
                   size_t ustride, const uint8_t *a, size_t arb, float *out, int add) {
    const size_t asz = a_asz(T);
    __m512 acc[16];
    UNROLL
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    const int64_t nsteps = (nb + 1) / 2;
    for (int64_t s = 0; s < nsteps; ++s) {
        const int two = 2 * s + 1 < nb;
        const uint8_t *ab = a + (size_t)(2 * s) * asz;
        a_act x[4];
        if (two) {
            UNROLL
            for (int c = 0; c < 4; ++c) x[c] = a_load_act(T, ab + c * arb, 1);
        } else {
            UNROLL
            for (int c = 0; c < 4; ++c) x[c] = a_load_act(T, ab + c * arb, 0);
        }
        const __m512i init = a_corr(T) ? a_reduce4(x[0].init, x[1].init, x[2].init, x[3].init)
                                       : _mm512_setzero_si512();
        const __m512 DA = _mm512_mask_blend_ps(0x8888, _mm512_mask_blend_ps(0x4444,
                              _mm512_mask_blend_ps(0x2222, x[0].da, x[1].da), x[2].da), x[3].da);
        __m512 SA = _mm512_setzero_ps();
        if (a_hasmin(T))   /* x.sa is s/8 per lane; here 2 lanes per (block, act): s/2 = 4 * (s/8) */
            SA = _mm512_mul_ps(_mm512_set1_ps(4.0f),
                               _mm512_mask_blend_ps(0x8888, _mm512_mask_blend_ps(0x4444,
                                   _mm512_mask_blend_ps(0x2222, x[0].sa, x[1].sa), x[2].sa), x[3].sa));
        UNROLL
        for (int r = 0; r < R; ++r) {
            const __m512i u = U[r * ustride + s];
            const __m512i z = _mm512_setzero_si512();
            const __m512i v = _mm512_add_epi32(init, a_reduce4(_mm512_dpbusd_epi32(z, u, x[0].av),
                                                               _mm512_dpbusd_epi32(z, u, x[1].av),
                                                               _mm512_dpbusd_epi32(z, u, x[2].av),
                                                               _mm512_dpbusd_epi32(z, u, x[3].av)));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(D[r * ustride + s], DA), acc[r]);
            if (a_hasmin(T)) acc[r] = _mm512_fmadd_ps(M[r * ustride + s], SA, acc[r]);
        }
    }
    UNROLL
    for (int r = 0; r < R; ++r) {
        const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc[r]), _mm512_extractf32x8_ps(acc[r], 1));
        const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        float v[4];
        _mm_storeu_ps(v, q);
        for (int c = 0; c < 4; ++c) {
            if (add) out[r * 4 + c] += v[c]; else out[r * 4 + c] = v[c];
        }
    }
}

/* GEMM for the 32-block family: the weights of a tile of R rows are unpacked once
 * per k-segment into a stack buffer and reused for every group of 4 activations. */
#define A_SEG 16                       /* steps (2 blocks = 64 elements) per k-segment */
#define AR 12                          /* weight rows per prepacked tile */

AI void a_rows(int T, int R, const uint8_t *wi, size_t wrb, int64_t nbs, int64_t i,
               const uint8_t *A, size_t arb, int64_t j0, int64_t j1, float *Cm, int64_t ldc, int add,
               __m512i *U, __m512 *D, __m512 *M) {
    const size_t wsz = a_wsz(T);
    const int64_t nsteps = (nbs + 1) / 2;
    for (int r = 0; r < R; ++r)
        for (int64_t st = 0; st < nsteps; ++st) {
            const int two = 2 * st + 1 < nbs;
            const uint8_t *blk = wi + (size_t)r * wrb + (size_t)(2 * st) * wsz;
            U[r * A_SEG + st] = a_unpack(T, blk, two);
            __m512 mt;
            a_scales(a_hasmin(T), blk, wsz, two, &D[r * A_SEG + st], &mt);
            if (a_hasmin(T)) M[r * A_SEG + st] = mt;
        }
    float o[4 * AR];
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        a_tile_red(T, R, nbs, U, D, M, A_SEG, A + (size_t)j * arb, arb, o, 0);
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < 4; ++c) {
                float *dst = &Cm[(j + c) * ldc + i + r];
                *dst = add ? *dst + o[r * 4 + c] : o[r * 4 + c];
            }
    }
    for (; j < j1; ++j)
        for (int r = 0; r < R; ++r) {
            a_tile_gen(T, 1, 1, nbs, NULL, 0, U + r * A_SEG, D + r * A_SEG,
                       a_hasmin(T) ? M + r * A_SEG : M, A_SEG, A + (size_t)j * arb, arb, o, 0);
            float *dst = &Cm[j * ldc + i + r];
            *dst = add ? *dst + o[0] : o[0];
        }
}

/* GEMV (one activation row): rows are processed one at a time in memory order
 * (interleaving several row streams defeats the hardware prefetcher and runs at a
 * fraction of the memory bandwidth); the activation-side vectors of each k-segment
 * are computed once and reused for every row. */
#define A_GSEG 32
AI void a_gemv(int T, int64_t nb, const uint8_t *W, size_t wrb, int64_t r0, int64_t r1,
               const uint8_t *A, float *Cm) {
    const size_t wsz = a_wsz(T), asz = a_asz(T);
    __m512i AV[A_GSEG], INIT[A_GSEG];
    __m512 DA[A_GSEG], SA[A_GSEG];
    for (int64_t b0 = 0; b0 < nb; b0 += 2 * A_GSEG) {
        const int64_t nbs = nb - b0 < 2 * A_GSEG ? nb - b0 : 2 * A_GSEG;
        const int64_t nfull = nbs / 2, nsteps = (nbs + 1) / 2;
        for (int64_t st = 0; st < nsteps; ++st) {
            const a_act x = a_load_act(T, A + (size_t)(b0 + 2 * st) * asz, 2 * st + 1 < nbs);
            AV[st] = x.av; INIT[st] = x.init; DA[st] = x.da; SA[st] = x.sa;
        }
        for (int64_t i = r0; i < r1; ++i) {
            const uint8_t *w = W + (size_t)i * wrb + (size_t)b0 * wsz;
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            int64_t st = 0;
            for (; st + 2 <= nfull; st += 2) {
                const uint8_t *b = w + (size_t)(2 * st) * wsz;
                const __m512i u0 = a_unpack(T, b, 1), u1 = a_unpack(T, b + 2 * wsz, 1);
                __m512 d0, m0, d1, m1;
                a_scales(a_hasmin(T), b, wsz, 1, &d0, &m0);
                a_scales(a_hasmin(T), b + 2 * wsz, wsz, 1, &d1, &m1);
                const __m512i I0 = _mm512_dpbusd_epi32(INIT[st], u0, AV[st]);
                const __m512i I1 = _mm512_dpbusd_epi32(INIT[st + 1], u1, AV[st + 1]);
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I0), _mm512_mul_ps(d0, DA[st]), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I1), _mm512_mul_ps(d1, DA[st + 1]), acc1);
                if (a_hasmin(T)) {
                    acc0 = _mm512_fmadd_ps(m0, SA[st], acc0);
                    acc1 = _mm512_fmadd_ps(m1, SA[st + 1], acc1);
                }
            }
            for (; st < nsteps; ++st) {
                const int two = st < nfull;
                const uint8_t *b = w + (size_t)(2 * st) * wsz;
                const __m512i u0 = two ? a_unpack(T, b, 1) : a_unpack(T, b, 0);
                __m512 d0, m0;
                if (two) a_scales(a_hasmin(T), b, wsz, 1, &d0, &m0);
                else a_scales(a_hasmin(T), b, wsz, 0, &d0, &m0);
                const __m512i I0 = _mm512_dpbusd_epi32(INIT[st], u0, AV[st]);
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(I0), _mm512_mul_ps(d0, DA[st]), acc0);
                if (a_hasmin(T)) acc0 = _mm512_fmadd_ps(m0, SA[st], acc0);
            }
            const float v = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
            Cm[i] = b0 ? Cm[i] + v : v;
        }
    }
}

AI void a_gemm(int T, int64_t k, const uint8_t *W, size_t wrb, int64_t r0, int64_t r1,
               const uint8_t *A, size_t arb, int64_t na, float *Cm, int64_t ldc) {
    const int64_t nb = k / 32;
    const size_t wsz = a_wsz(T), asz = a_asz(T);
    if (na == 1) {
        a_gemv(T, nb, W, wrb, r0, r1, A, Cm);
        return;
    }
    __m512i U[AR * A_SEG];
    __m512 D[AR * A_SEG], M[AR * A_SEG];   /* ~36 KiB of stack in total */
    for (int64_t b0 = 0; b0 < nb; b0 += 2 * A_SEG) {
        const int64_t nbs = nb - b0 < 2 * A_SEG ? nb - b0 : 2 * A_SEG;
        const int add = b0 > 0;
        /* activation rows of this segment, ~256 KiB at a time, stay in L2 */
        int64_t chunk = (int64_t)((256u * 1024u) / ((size_t)nbs * asz)) & ~(int64_t)3;
        if (chunk < 4) chunk = 4;
        const uint8_t *Ab = A + (size_t)b0 * asz;
        for (int64_t j0 = 0; j0 < na; j0 += chunk) {
            const int64_t j1 = j0 + chunk < na ? j0 + chunk : na;
            int64_t i = r0;
            for (; i + AR <= r1; i += AR)
                a_rows(T, AR, W + (size_t)i * wrb + (size_t)b0 * wsz, wrb, nbs, i, Ab, arb, j0, j1, Cm, ldc, add, U, D, M);
            for (; i + 4 <= r1; i += 4)
                a_rows(T, 4, W + (size_t)i * wrb + (size_t)b0 * wsz, wrb, nbs, i, Ab, arb, j0, j1, Cm, ldc, add, U, D, M);
            for (; i < r1; ++i)
                a_rows(T, 1, W + (size_t)i * wrb + (size_t)b0 * wsz, wrb, nbs, i, Ab, arb, j0, j1, Cm, ldc, add, U, D, M);
        }
    }
}

/* ====================================================================== */
/* Family K: 256-element super-blocks, Q8_K activations                    */
/* ====================================================================== */

AI size_t k_wsz(int T) {
    return T == KL_Q2_K ? 84 : T == KL_Q3_K ? 110 : T == KL_Q4_K ? 144 : T == KL_Q5_K ? 176 : 210;
}
AI int k_hasmin(int T) { return T == KL_Q2_K || T == KL_Q4_K || T == KL_Q5_K; }

/* Per-row super-block scale data:
 *  sc: 16 int16 (Q4_K/Q5_K: 8 scales then 8 mins; others: 16 group scales)
 *  mn: 16 int16 multiplied with the 16 bsums: mins per 16-group (Q2_K; Q4_K/Q5_K
 *      duplicated), or -offset*scale (Q3_K: -4, Q6_K: -32). */
AI void k_scales(int T, const uint8_t *blk, __m256i *sc, __m256i *mn, float *d, float *dm) {
    if (T == KL_Q4_K || T == KL_Q5_K) {
        const uint32_t w0 = rd32(blk + 4), w1 = rd32(blk + 8), w2 = rd32(blk + 12);
        const uint32_t s03 = w0 & 0x3f3f3f3fu;
        const uint32_t m03 = w1 & 0x3f3f3f3fu;
        const uint32_t s47 = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
        const uint32_t m47 = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
        *sc = _mm256_cvtepu8_epi16(_mm_setr_epi32((int)s03, (int)s47, (int)m03, (int)m47));
        *mn = _mm256_permutexvar_epi16(_mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15), *sc);
        *d = _cvtsh_ss(rd16(blk));
        *dm = _cvtsh_ss(rd16(blk + 2));
    } else if (T == KL_Q2_K) {
        const __m128i raw = _mm_loadu_si128((const __m128i *)blk);
        *sc = _mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F)));
        *mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)));
        *d = _cvtsh_ss(rd16(blk + 80));
        *dm = _cvtsh_ss(rd16(blk + 82));
    } else if (T == KL_Q3_K) {
        const uint32_t w0 = rd32(blk + 96), w1 = rd32(blk + 100), w2 = rd32(blk + 104);
        const uint32_t k4 = 0x0f0f0f0fu, k2 = 0x03030303u;
        const uint32_t s0 = (w0 & k4) | ((w2 & k2) << 4);
        const uint32_t s1 = (w1 & k4) | (((w2 >> 2) & k2) << 4);
        const uint32_t s2 = ((w0 >> 4) & k4) | (((w2 >> 4) & k2) << 4);
        const uint32_t s3 = ((w1 >> 4) & k4) | (((w2 >> 6) & k2) << 4);
        *sc = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3)),
                               _mm256_set1_epi16(32));
        *mn = _mm256_mullo_epi16(*sc, _mm256_set1_epi16(-4));
        *d = _cvtsh_ss(rd16(blk + 108));
        *dm = *d;
    } else { /* Q6_K */
        *sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
        *mn = _mm256_mullo_epi16(*sc, _mm256_set1_epi16(-32));
        *d = _cvtsh_ss(rd16(blk + 208));
        *dm = *d;
    }
}

/* int16 scale vector for 64-element chunk t (0..3), matching maddubs lanes */
AI __m512i k_chunk_scale(int T, __m256i sc, int t) {
    __m512i idx;
    if (T == KL_Q4_K || T == KL_Q5_K) {  /* 32-element sub-blocks 2t, 2t+1 */
        idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(2 * t))),
                                 _mm256_set1_epi16((short)(2 * t + 1)), 1);
    } else {                              /* 16-element groups 4t..4t+3 */
        idx = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)(4 * t))),
                                                           _mm_set1_epi16((short)(4 * t + 1)), 1)),
            _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)(4 * t + 2))),
                                    _mm_set1_epi16((short)(4 * t + 3)), 1), 1);
    }
    return _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(sc));
}

/* byte masks selecting bit (2t) in bytes 0..31 and bit (2t+1) in bytes 32..63 */
AI __m512i k_bitsel(int t) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (2 * t)))),
                              _mm256_set1_epi8((char)(1 << (2 * t + 1))), 1);
}
/* per-16-bit-lane shift counts: s0 for the low 256 bits, s1 for the high 256 bits */
AI __m512i k_shifts(int s0, int s1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)s0)),
                              _mm256_set1_epi16((short)s1), 1);
}

/* 64 unsigned codes of elements 64t..64t+63 (natural order) */
AI __m512i k_unpack(int T, const uint8_t *blk, int t) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
    if (T == KL_Q4_K || T == KL_Q5_K) {
        const size_t qoff = T == KL_Q4_K ? 16 : 48;
        __m512i q = bcast256(blk + qoff + 32 * t);
        q = _mm512_mask_srli_epi16(q, (__mmask32)0xFFFF0000u, q, 4);
        __m512i u = _mm512_and_si512(q, m4);
        if (T == KL_Q5_K) {
            const __mmask64 k = _mm512_test_epi8_mask(bcast256(blk + 16), k_bitsel(t));
            u = _mm512_mask_add_epi8(u, k, u, _mm512_set1_epi8(16));
        }
        return u;
    } else if (T == KL_Q6_K) {
        const int h = t >> 1, odd = t & 1;
        __m512i l = _mm512_loadu_si512((const void *)(blk + 64 * h));
        if (odd) l = _mm512_srli_epi16(l, 4);
        l = _mm512_and_si512(l, m4);
        __m512i hb = _mm512_srlv_epi16(bcast256(blk + 128 + 32 * h), odd ? k_shifts(4, 6) : k_shifts(0, 2));
        hb = _mm512_slli_epi16(_mm512_and_si512(hb, m2), 4);
        return _mm512_or_si512(l, hb);
    } else { /* Q2_K, Q3_K: 2-bit planes */
        const int n = t >> 1, odd = t & 1;
        const size_t qoff = T == KL_Q2_K ? 16 : 32;
        __m512i u = _mm512_srlv_epi16(bcast256(blk + qoff + 32 * n), odd ? k_shifts(4, 6) : k_shifts(0, 2));
        u = _mm512_and_si512(u, m2);
        if (T == KL_Q3_K) {
            const __mmask64 k = _mm512_test_epi8_mask(bcast256(blk), k_bitsel(t));
            u = _mm512_mask_add_epi8(u, k, u, _mm512_set1_epi8(4));
        }
        return u;
    }
}

/* Prepacked super-block of one weight row (unsigned codes and scale vectors). */
typedef struct {
    __m512i u[4], s[4];
    __m512 xm;         /* mins types: dmin * (per-16-group min) as floats */
    __m256i mn;
    __m128i mp;        /* Q4_K/Q5_K: 4 dwords (min[2t], min[2t+1]) as int16 pairs, t = 0..3 */
    float d, dm;
} k_pack;

/* dmin * mins (16 int16) as 16 floats */
AI __m512 k_xmins(__m256i mn, float dm) {
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(mn)), _mm512_set1_ps(dm));
}

AI void k_prepack(int T, const uint8_t *blk, k_pack *p) {
    __m256i sc;
    k_scales(T, blk, &sc, &p->mn, &p->d, &p->dm);
    p->mp = _mm256_extracti128_si256(sc, 1);
    p->xm = k_hasmin(T) ? k_xmins(p->mn, p->dm) : _mm512_setzero_ps();
    UNROLL
    for (int t = 0; t < 4; ++t) {
        p->u[t] = k_unpack(T, blk, t);
        p->s[t] = k_chunk_scale(T, sc, t);
    }
}

/* R x C tile over nsb super-blocks; weights unpacked on the fly (P == NULL) or
 * read from prepacked super-blocks P[r * pstride + sb]. */
AI void k_tile_gen(int T, int R, int C, int64_t nsb, const uint8_t *w, size_t wrb,
                   const k_pack *P, size_t pstride, const uint8_t *a, size_t arb, float *out, int add) {
    const size_t wsz = k_wsz(T), asz = sizeof(kl_block_q8_K);
    __m512 facc[4][4];
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) facc[r][c] = _mm512_setzero_ps();

    for (int64_t sb = 0; sb < nsb; ++sb) {
        const uint8_t *wb = w + sb * wsz, *ab = a + sb * asz;
        __m256i sc[4], mn[4];
        float d[4], dm[4];
        __m512 xm[4];
        __m512i iacc[4][4];
        UNROLL
        for (int r = 0; r < R; ++r) {
            if (P) {
                const k_pack *p = &P[r * pstride + sb];
                mn[r] = p->mn; d[r] = p->d; dm[r] = p->dm; xm[r] = p->xm;
                sc[r] = _mm256_setzero_si256();
            } else {
                k_scales(T, wb + r * wrb, &sc[r], &mn[r], &d[r], &dm[r]);
                if (k_hasmin(T)) xm[r] = k_xmins(mn[r], dm[r]);
            }
        }
        UNROLL
        for (int c = 0; c < C; ++c) {
            if (k_hasmin(T)) {
                UNROLL
                for (int r = 0; r < R; ++r) iacc[r][c] = _mm512_setzero_si512();
            } else {
                const __m256i bs = _mm256_loadu_si256((const __m256i *)(ab + c * arb + 260));
                UNROLL
                for (int r = 0; r < R; ++r) iacc[r][c] = _mm512_zextsi256_si512(_mm256_madd_epi16(mn[r], bs));
            }
        }
        UNROLL
        for (int t = 0; t < 4; ++t) {
            __m512i u[4], s[4];
            UNROLL
            for (int r = 0; r < R; ++r) {
                if (P) {
                    u[r] = P[r * pstride + sb].u[t];
                    s[r] = P[r * pstride + sb].s[t];
                } else {
                    u[r] = k_unpack(T, wb + r * wrb, t);
                    s[r] = k_chunk_scale(T, sc[r], t);
                }
            }
            UNROLL
            for (int c = 0; c < C; ++c) {
                const __m512i av = _mm512_loadu_si512((const void *)(ab + c * arb + 4 + 64 * t));
                UNROLL
                for (int r = 0; r < R; ++r)
                    iacc[r][c] = dpwssd(iacc[r][c], _mm512_maddubs_epi16(u[r], av), s[r]);
            }
        }
        UNROLL
        for (int c = 0; c < C; ++c) {
            const float da = rdf(ab + c * arb);
            if (k_hasmin(T)) {
                /* mins: sum_g (dmin*min_g) * (da*bsum_g), one FMA over the 16 groups */
                const __m512 ym = _mm512_mul_ps(_mm512_set1_ps(da), _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(
                    _mm256_loadu_si256((const __m256i *)(ab + c * arb + 260)))));
                UNROLL
                for (int r = 0; r < R; ++r) {
                    facc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][c]), _mm512_set1_ps(d[r] * da), facc[r][c]);
                    facc[r][c] = _mm512_fnmadd_ps(xm[r], ym, facc[r][c]);
                }
            } else {
                UNROLL
                for (int r = 0; r < R; ++r)
                    facc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][c]), _mm512_set1_ps(d[r] * da), facc[r][c]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) {
            const float v = _mm512_reduce_add_ps(facc[r][c]);
            if (add) out[r * C + c] += v; else out[r * C + c] = v;
        }
}

AI void k_tile(int T, int R, int C, int64_t nsb, const uint8_t *w, size_t wrb,
               const uint8_t *a, size_t arb, float *out) {
    k_tile_gen(T, R, C, nsb, w, wrb, NULL, 0, a, arb, out, 0);
}

/* GEMM for the K-quants: R weight rows are unpacked once per k-segment into a
 * stack buffer (KSEG super-blocks per row) and reused for every activation tile. */
#define KSEG 8
#ifndef KR
#if defined(__clang__)
#define KR 2                           /* measured best tile per compiler (register allocation) */
#else
#define KR 4
#endif
#endif
#ifndef KC
#define KC 4
#endif
AI void k_rows(int T, int R, const uint8_t *wi, size_t wrb, int64_t nsbs, int64_t i,
               const uint8_t *A, size_t arb, int64_t j0, int64_t j1, float *Cm, int64_t ldc, int add,
               k_pack *P) {
    const size_t wsz = k_wsz(T);
    for (int r = 0; r < R; ++r)
        for (int64_t sb = 0; sb < nsbs; ++sb) k_prepack(T, wi + (size_t)r * wrb + (size_t)sb * wsz, &P[r * KSEG + sb]);
    float o[KR * KC];
    int64_t j = j0;
    for (; j + KC <= j1; j += KC) {
        k_tile_gen(T, R, KC, nsbs, NULL, 0, P, KSEG, A + (size_t)j * arb, arb, o, 0);
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < KC; ++c) {
                float *dst = &Cm[(j + c) * ldc + i + r];
                *dst = add ? *dst + o[r * KC + c] : o[r * KC + c];
            }
    }
    for (; j < j1; ++j) {
        k_tile_gen(T, R, 1, nsbs, NULL, 0, P, KSEG, A + (size_t)j * arb, arb, o, 0);
        for (int r = 0; r < R; ++r) {
            float *dst = &Cm[j * ldc + i + r];
            *dst = add ? *dst + o[r] : o[r];
        }
    }
}

AI void k_gemm(int T, int64_t k, const uint8_t *W, size_t wrb, int64_t r0, int64_t r1,
               const uint8_t *A, size_t arb, int64_t na, float *Cm, int64_t ldc) {
    const int64_t nsb = k / 256;
    const size_t wsz = k_wsz(T), asz = sizeof(kl_block_q8_K);
    if (na == 1) {   /* GEMV: rows in memory order (see a_gemv) */
        for (int64_t i = r0; i < r1; ++i) {
            float o;
            k_tile(T, 1, 1, nsb, W + (size_t)i * wrb, wrb, A, arb, &o);
            Cm[i] = o;
        }
        return;
    }
    k_pack P[KR * KSEG];
    for (int64_t s0 = 0; s0 < nsb; s0 += KSEG) {
        const int64_t nsbs = nsb - s0 < KSEG ? nsb - s0 : KSEG;
        const int add = s0 > 0;
        int64_t chunk = (int64_t)((256u * 1024u) / ((size_t)nsbs * asz));
        chunk -= chunk % KC;
        if (chunk < KC) chunk = KC;
        const uint8_t *Ab = A + (size_t)s0 * asz;
        for (int64_t j0 = 0; j0 < na; j0 += chunk) {
            const int64_t j1 = j0 + chunk < na ? j0 + chunk : na;
            int64_t i = r0;
            for (; i + KR <= r1; i += KR)
                k_rows(T, KR, W + (size_t)i * wrb + (size_t)s0 * wsz, wrb, nsbs, i, Ab, arb, j0, j1, Cm, ldc, add, P);
            for (; i < r1; ++i)
                k_rows(T, 1, W + (size_t)i * wrb + (size_t)s0 * wsz, wrb, nsbs, i, Ab, arb, j0, j1, Cm, ldc, add, P);
        }
    }
}

/* ====================================================================== */
/* llama.cpp-exact kernels (Q4_0, Q5_0, Q8_0, Q4_K, Q6_K)                  */
/* ====================================================================== */
/*
 * These reproduce, bit for bit, the float operations llama.cpp's x86 CPU backend
 * (AVX-512 VNNI build) performs for a mul_mat with these weight types. Integer
 * partial sums are exact in any order; what matters is which integers are
 * converted to float and the order of the float multiply/FMA/add steps:
 *
 *  Q4_0/Q5_0/Q8_0 (ggml_vec_dot_*_q8_0 for n = 1, llamafile tinyBLAS_Q0_AVX for
 *    n > 1: same order): per 32-block, 8 int32 lanes (lane l = elements 4l..4l+3),
 *    acc8 = fma(d_w*d_a, float(lane), acc8); result = hsum_float_8(acc8).
 *  Q6_K, n < 8 (ggml_vec_dot_q6_K_q8_K): per super-block, 8 int32 lanes (lane l =
 *    elements e with (e mod 32)/4 == l, minus 32*(bsum[2l]*sc[2l] + bsum[2l+1]*sc[2l+1])),
 *    acc8 = fma(d_a*d_w, float(lane), acc8); hsum_float_8.
 *  Q6_K, n >= 8 (tiled VNNI microkernel): per super-block, I = exact integer dot;
 *    acc = fma(float(I)*d_w, d_a, acc).
 *  Q4_K (CPU_REPACK q4_K_8x8; needs the matrix row count to be a multiple of 8,
 *    as in llama.cpp): activation rows are taken in groups of 4 by the gemm kernel
 *    (rows [0, n - n%4) when n >= 4), the rest by the gemv kernel:
 *      gemv: per super-block, I = sum_s sc_s*dot_s, M = sum_s min_s*bsum32_s;
 *      gemm: the same per 64 elements (two sub-blocks);
 *      acc = fma(float(I), d_w*d_a, acc); accm = fma(float(M), dmin_w*d_a, accm);
 *      result = acc - accm.
 * Only explicit FMAs are used where llama.cpp has them (GCC contracts the tiled
 * kernel's mul+add into one FMA); no other a*b+c patterns appear, so compilers
 * cannot contract anything else.
 */

/* ggml's hsum_float_8 */
AI float e_hsum8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}
/* ---- 32-element blocks without min (Q4_0, Q5_0, Q8_0) ---- */

/* unsigned codes of one block, natural order */
AI __m256i e_unpack(int T, const uint8_t *blk) {
    if (T == KL_Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80));
    const __m128i q = _mm_loadu_si128((const __m128i *)(blk + (T == KL_Q4_0 ? 2 : 6)));
    __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
    if (T == KL_Q5_0) u = _mm256_mask_add_epi8(u, (__mmask32)rd32(blk + 2), u, _mm256_set1_epi8(16));
    return u;
}

/* one row x one activation row (vec_dot order) */
AI float e_q0_row(int T, int64_t nb, const uint8_t *w, const uint8_t *a) {
    const size_t wsz = a_wsz(T);
    const __m256i cb = _mm256_set1_epi8((char)a_corr(T)), z = _mm256_setzero_si256();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *wb = w + (size_t)b * wsz, *ab = a + (size_t)b * 34;
        const __m256i av = _mm256_loadu_si256((const __m256i *)(ab + 2));
        const __m256i init = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, cb, av));   /* -c * sum(a) per lane */
        const __m256i I = _mm256_dpbusd_epi32(init, e_unpack(T, wb), av);
        const float d = _cvtsh_ss(rd16(wb)) * _cvtsh_ss(rd16(ab));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(I), acc);
    }
    return e_hsum8(acc);
}

/* R (<= 4) weight rows x C (<= 4) activation rows: one 8-lane accumulator per
 * output. The 16 scale products d_w*d_a of a block are formed with one vector
 * multiply and fed to the FMAs as broadcast operands.
 * Weights prepacked (U: codes [r * ustride + b], D: fp32 scales [b * 4 + r]) or raw (U NULL). */
AI void e_q0_tile(int T, int R, int C, int packed, int64_t nb, const uint8_t *w, size_t wrb,
                  const __m256i *U, const float *D, size_t ustride,
                  const uint8_t *a, size_t arb, float *o /* o[r * 4 + c] */) {
    const size_t wsz = a_wsz(T);
    const __m256i cb = _mm256_set1_epi8((char)a_corr(T)), z = _mm256_setzero_si256();
    const __m512i rowidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m256 acc[4][4];
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m256i av[4], init[4];
        uint16_t ha[4] = { 0, 0, 0, 0 }, hw[4] = { 0, 0, 0, 0 };
        UNROLL
        for (int c = 0; c < C; ++c) {
            const uint8_t *x = a + c * arb + (size_t)b * 34;
            av[c] = _mm256_loadu_si256((const __m256i *)(x + 2));
            init[c] = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, cb, av[c]));   /* -c * sum(a) per lane */
            ha[c] = rd16(x);
        }
        __m128 dw4;
        if (packed) {
            dw4 = _mm_loadu_ps(D + 4 * b);
        } else {
            UNROLL
            for (int r = 0; r < R; ++r) hw[r] = rd16(w + r * wrb + (size_t)b * wsz);
            dw4 = _mm_cvtph_ps(_mm_setr_epi16((short)hw[0], (short)hw[1], (short)hw[2], (short)hw[3], 0, 0, 0, 0));
        }
        const __m128 da4 = _mm_cvtph_ps(_mm_setr_epi16((short)ha[0], (short)ha[1], (short)ha[2], (short)ha[3], 0, 0, 0, 0));
        _Alignas(64) float prod[16];   /* prod[r * 4 + c] = d_w(r) * d_a(c), as ggml rounds it */
        _mm512_store_ps(prod, _mm512_mul_ps(_mm512_permutexvar_ps(rowidx, _mm512_castps128_ps512(dw4)),
                                            _mm512_broadcast_f32x4(da4)));
        /* reload the products as broadcast memory operands (cheaper than 16 register permutes) */
        __asm__ volatile("" : : "r"(prod) : "memory");
        UNROLL
        for (int r = 0; r < R; ++r) {
            const __m256i u = packed ? _mm256_load_si256(&U[r * ustride + b]) : e_unpack(T, w + r * wrb + (size_t)b * wsz);
            UNROLL
            for (int c = 0; c < C; ++c) {
                const __m256i I = _mm256_dpbusd_epi32(init[c], u, av[c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_broadcast_ss(&prod[r * 4 + c]), acc[r][c]);
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) o[r * 4 + c] = e_hsum8(acc[r][c]);
}

#ifndef EQC
#define EQC 4                 /* activation rows per tile */
#endif
#define EQ_PACK (24 * 1024)   /* bytes of stack for a prepacked 4-row weight tile */

AI void e_q0_rows(int T, int R, int64_t nb, const uint8_t *W, size_t wrb, int64_t i,
                  const uint8_t *A, size_t arb, int64_t j0, int64_t j1, float *Cm, int64_t ldc, uint8_t *pack) {
    const size_t wsz = a_wsz(T);
    const __m256i *U = NULL;
    const float *D = NULL;
    if ((size_t)nb * (4 * 32 + 16) <= EQ_PACK) {
        __m256i *Uw = (__m256i *)pack;
        float *Dw = (float *)(pack + (size_t)nb * 4 * 32);
        for (int r = 0; r < 4; ++r)
            for (int64_t b = 0; b < nb; ++b) {
                const uint8_t *wb = W + (size_t)(i + (r < R ? r : 0)) * wrb + (size_t)b * wsz;
                if (r < R) Uw[r * nb + b] = e_unpack(T, wb);
                Dw[4 * b + r] = _cvtsh_ss(rd16(wb));
            }
        U = Uw; D = Dw;
    }
    const uint8_t *wi = W + (size_t)i * wrb;
    float o[16];
    int64_t j = j0;
#define EQ_TILE(RR, CC) do {                                                                               \
        if (U) e_q0_tile(T, RR, CC, 1, nb, wi, wrb, U, D, (size_t)nb, A + (size_t)j * arb, arb, o);       \
        else e_q0_tile(T, RR, CC, 0, nb, wi, wrb, U, D, (size_t)nb, A + (size_t)j * arb, arb, o);         \
    } while (0)
    for (; j + EQC <= j1; j += EQC) {
        if (R == 4) EQ_TILE(4, EQC); else EQ_TILE(1, EQC);
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < EQC; ++c) Cm[(j + c) * ldc + i + r] = o[r * 4 + c];
    }
    for (; j < j1; ++j) {
        if (R == 4) EQ_TILE(4, 1); else EQ_TILE(1, 1);
        for (int r = 0; r < R; ++r) Cm[j * ldc + i + r] = o[r * 4];
    }
#undef EQ_TILE
}

AI void e_q0_gemm(int T, int64_t k, const uint8_t *W, size_t wrb, int64_t r0, int64_t r1,
                  const uint8_t *A, size_t arb, int64_t na, float *Cm, int64_t ldc) {
    const int64_t nb = k / 32;
    if (na == 1) {   /* GEMV: one row at a time, in memory order */
        for (int64_t i = r0; i < r1; ++i) Cm[i] = e_q0_row(T, nb, W + (size_t)i * wrb, A);
        return;
    }
    _Alignas(64) uint8_t pack[EQ_PACK];
    /* activation rows ~256 KiB at a time (L2); weight tiles are repacked per chunk */
    int64_t chunk = (int64_t)((256u * 1024u) / arb) / EQC * EQC;
    if (chunk < EQC) chunk = EQC;
    for (int64_t j0 = 0; j0 < na; j0 += chunk) {
        const int64_t j1 = j0 + chunk < na ? j0 + chunk : na;
        int64_t i = r0;
        for (; i + 4 <= r1; i += 4) e_q0_rows(T, 4, nb, W, wrb, i, A, arb, j0, j1, Cm, ldc, pack);
        for (; i < r1; ++i) e_q0_rows(T, 1, nb, W, wrb, i, A, arb, j0, j1, Cm, ldc, pack);
    }
}

/* ---- K-quants (Q4_K, Q6_K) ---- */

enum { KM_VD = 0, KM_TILED = 1, KM_Q4GEMV = 2, KM_Q4GEMM = 3 };

/* sum of the 16 int32 of each of v[0..15]: result lane p = sum(v[p]) (exact) */
AI __m512i e_reduce16(const __m512i v[16]) {
    __m512i x[8], y[4];
    UNROLL
    for (int q = 0; q < 8; ++q)
        x[q] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * q], v[2 * q + 1]), _mm512_unpackhi_epi32(v[2 * q], v[2 * q + 1]));
    UNROLL
    for (int q = 0; q < 4; ++q)
        y[q] = _mm512_add_epi32(_mm512_unpacklo_epi64(x[2 * q], x[2 * q + 1]), _mm512_unpackhi_epi64(x[2 * q], x[2 * q + 1]));
    /* y[m]: 128-bit lane L, element e = partial sum (lane L) of input 4m+e */
    const __m512i s01 = _mm512_add_epi32(_mm512_shuffle_i32x4(y[0], y[1], 0x44), _mm512_shuffle_i32x4(y[0], y[1], 0xEE));
    const __m512i s23 = _mm512_add_epi32(_mm512_shuffle_i32x4(y[2], y[3], 0x44), _mm512_shuffle_i32x4(y[2], y[3], 0xEE));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(s01, s23, 0x88), _mm512_shuffle_i32x4(s01, s23, 0xDD));
}

/* One output (weight row w x activation row a) in llama.cpp's order for mode M. */
AI float k_exact_pair(int T, int M, int64_t nsb, const uint8_t *w, const uint8_t *a) {
    const size_t wsz = k_wsz(T), asz = sizeof(kl_block_q8_K);
    __m256 acc8 = _mm256_setzero_ps();
    float acc = 0.0f, accm = 0.0f;
    for (int64_t sb = 0; sb < nsb; ++sb) {
        const uint8_t *wb = w + (size_t)sb * wsz, *ab = a + (size_t)sb * asz;
        __m256i sc, mn;
        float d, dm;
        k_scales(T, wb, &sc, &mn, &d, &dm);
        const float da = rdf(ab);
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(ab + 260));
        __m512i it[4];
        UNROLL
        for (int t = 0; t < 4; ++t)
            it[t] = dpwssd(_mm512_setzero_si512(),
                           _mm512_maddubs_epi16(k_unpack(T, wb, t), _mm512_loadu_si512((const void *)(ab + 4 + 64 * t))),
                           k_chunk_scale(T, sc, t));
        if (M == KM_Q4GEMM) {
            /* per 64 elements: I_t, and M_t = min[2t]*bsum32[2t] + min[2t+1]*bsum32[2t+1] */
            const __m256i ms = _mm256_madd_epi16(mn, bs);   /* lane l: min_l * (bs[2l] + bs[2l+1]) */
            int32_t m8[8];
            _mm256_storeu_si256((__m256i *)m8, ms);
            const float ds = d * da, dms = dm * da;
            UNROLL
            for (int t = 0; t < 4; ++t) {
                acc = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss((float)_mm512_reduce_add_epi32(it[t])), _mm_set_ss(ds), _mm_set_ss(acc)));
                accm = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss((float)(m8[2 * t] + m8[2 * t + 1])), _mm_set_ss(dms), _mm_set_ss(accm)));
            }
            continue;
        }
        __m512i I = _mm512_add_epi32(_mm512_add_epi32(it[0], it[1]), _mm512_add_epi32(it[2], it[3]));
        if (M == KM_Q4GEMV) {
            const int32_t Ib = _mm512_reduce_add_epi32(I);
            const __m256i ms = _mm256_madd_epi16(mn, bs);
            const int32_t Mb = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(ms));
            acc = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss((float)Ib), _mm_set_ss(d * da), _mm_set_ss(acc)));
            accm = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss((float)Mb), _mm_set_ss(dm * da), _mm_set_ss(accm)));
            continue;
        }
        /* offset correction (Q6_K: -32 * scale * bsum) */
        I = _mm512_add_epi32(I, _mm512_zextsi256_si512(_mm256_madd_epi16(mn, bs)));
        if (M == KM_VD) {
            const __m256i I8 = _mm256_add_epi32(_mm512_castsi512_si256(I), _mm512_extracti64x4_epi64(I, 1));
            acc8 = _mm256_fmadd_ps(_mm256_set1_ps(da * d), _mm256_cvtepi32_ps(I8), acc8);
        } else { /* KM_TILED */
            const float r = (float)_mm512_reduce_add_epi32(I) * d;
            acc = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(r), _mm_set_ss(da), _mm_set_ss(acc)));
        }
    }
    if (M == KM_VD) return e_hsum8(acc8);
    if (M == KM_TILED) return acc;
    return acc - accm;
}

/* 4 rows x 4 activation rows over nsbs prepacked super-blocks (P[r * KSEG + sb]),
 * continuing the float state acc/accm (lane r*4 + c), mode KM_TILED or KM_Q4GEMM. */
AI void k_exact_tile(int T, int M, int64_t nsbs, const k_pack *P, const uint8_t *a, size_t arb,
                     __m512 *accp, __m512 *accmp) {
    (void)T;   /* Q4_K (KM_Q4GEMM) or Q6_K (KM_TILED): the prepacked data is all the tile needs */
    const size_t asz = sizeof(kl_block_q8_K);
    const __m512i rowidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = *accp, accm = *accmp;
    for (int64_t sb = 0; sb < nsbs; ++sb) {
        const uint8_t *ab = a + (size_t)sb * asz;
        const __m512 dw = _mm512_permutexvar_ps(rowidx, _mm512_castps128_ps512(
            _mm_setr_ps(P[0 * KSEG + sb].d, P[1 * KSEG + sb].d, P[2 * KSEG + sb].d, P[3 * KSEG + sb].d)));
        const __m512 da = _mm512_broadcast_f32x4(_mm_setr_ps(rdf(ab), rdf(ab + arb), rdf(ab + 2 * arb), rdf(ab + 3 * arb)));
        if (M == KM_Q4GEMM) {
            const __m512 ds = _mm512_mul_ps(dw, da);
            const __m512 dmw = _mm512_permutexvar_ps(rowidx, _mm512_castps128_ps512(
                _mm_setr_ps(P[0 * KSEG + sb].dm, P[1 * KSEG + sb].dm, P[2 * KSEG + sb].dm, P[3 * KSEG + sb].dm)));
            const __m512 dms = _mm512_mul_ps(dmw, da);
            /* mins: Mc lane (r, t) = M_t(r, c), then 4x4 transposes -> Mt lane (r, c) */
            const __m512i rm = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_set_m128i(P[1 * KSEG + sb].mp, P[0 * KSEG + sb].mp)),
                _mm256_set_m128i(P[3 * KSEG + sb].mp, P[2 * KSEG + sb].mp), 1);
            __m512i mc[4];
            UNROLL
            for (int c = 0; c < 4; ++c) {
                const __m256i bs = _mm256_loadu_si256((const __m256i *)(ab + c * arb + 260));
                const __m128i b32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
                mc[c] = _mm512_madd_epi16(rm, _mm512_broadcast_i32x4(b32));
            }
            const __m512i t01l = _mm512_unpacklo_epi32(mc[0], mc[1]), t01h = _mm512_unpackhi_epi32(mc[0], mc[1]);
            const __m512i t23l = _mm512_unpacklo_epi32(mc[2], mc[3]), t23h = _mm512_unpackhi_epi32(mc[2], mc[3]);
            const __m512i mt[4] = { _mm512_unpacklo_epi64(t01l, t23l), _mm512_unpackhi_epi64(t01l, t23l),
                                    _mm512_unpacklo_epi64(t01h, t23h), _mm512_unpackhi_epi64(t01h, t23h) };
            UNROLL
            for (int t = 0; t < 4; ++t) {
                __m512i v[16];
                UNROLL
                for (int c = 0; c < 4; ++c) {
                    const __m512i av = _mm512_loadu_si512((const void *)(ab + c * arb + 4 + 64 * t));
                    UNROLL
                    for (int r = 0; r < 4; ++r)
                        v[r * 4 + c] = dpwssd(_mm512_setzero_si512(), _mm512_maddubs_epi16(P[r * KSEG + sb].u[t], av),
                                              P[r * KSEG + sb].s[t]);
                }
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(e_reduce16(v)), ds, acc);
                accm = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mt[t]), dms, accm);
            }
        } else { /* KM_TILED */
            __m512i v[16];
            UNROLL
            for (int c = 0; c < 4; ++c) {
                const __m256i bs = _mm256_loadu_si256((const __m256i *)(ab + c * arb + 260));
                UNROLL
                for (int r = 0; r < 4; ++r) v[r * 4 + c] = _mm512_zextsi256_si512(_mm256_madd_epi16(P[r * KSEG + sb].mn, bs));
            }
            UNROLL
            for (int t = 0; t < 4; ++t)
                UNROLL
                for (int c = 0; c < 4; ++c) {
                    const __m512i av = _mm512_loadu_si512((const void *)(ab + c * arb + 4 + 64 * t));
                    UNROLL
                    for (int r = 0; r < 4; ++r)
                        v[r * 4 + c] = dpwssd(v[r * 4 + c], _mm512_maddubs_epi16(P[r * KSEG + sb].u[t], av), P[r * KSEG + sb].s[t]);
                }
            acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(e_reduce16(v)), dw), da, acc);
        }
    }
    *accp = acc;
    *accmp = accm;
}

#define EK_CHUNK 64   /* activation rows per chunk in the exact K-quant GEMM (multiple of 4) */

AI void k_exact_gemm(int T, int64_t k, const uint8_t *W, size_t wrb, int64_t r0, int64_t r1,
                     const uint8_t *A, size_t arb, int64_t na, float *Cm, int64_t ldc) {
    const int64_t nsb = k / 256;
    const size_t wsz = k_wsz(T), asz = sizeof(kl_block_q8_K);
    /* which activation rows take the tiled/gemm order: n1 rows in 4x4 tiles, the rest pairwise */
    int Mmain, Mtail;
    int64_t nmain;
    if (T == KL_Q6_K) {
        Mmain = KM_TILED; Mtail = KM_VD;
        nmain = na >= 8 ? na : 0;
    } else {
        Mmain = KM_Q4GEMM; Mtail = KM_Q4GEMV;
        nmain = na >= 4 ? na - na % 4 : 0;
    }
    /* tail activation rows (and everything for small batches): one output at a time */
    for (int64_t i = r0; i < r1; ++i)
        for (int64_t j = nmain; j < na; ++j)
            Cm[j * ldc + i] = k_exact_pair(T, Mtail, nsb, W + (size_t)i * wrb, A + (size_t)j * arb);
    if (nmain == 0) return;
    const int64_t n4 = nmain & ~(int64_t)3;
    /* leftover (nmain % 4, Q6_K only) activation rows and leftover weight rows: pairwise */
    for (int64_t i = r0; i < r1; ++i)
        for (int64_t j = n4; j < nmain; ++j)
            Cm[j * ldc + i] = k_exact_pair(T, Mmain, nsb, W + (size_t)i * wrb, A + (size_t)j * arb);
    const int64_t rr1 = r0 + ((r1 - r0) & ~(int64_t)3);
    for (int64_t i = rr1; i < r1; ++i)
        for (int64_t j = 0; j < n4; ++j)
            Cm[j * ldc + i] = k_exact_pair(T, Mmain, nsb, W + (size_t)i * wrb, A + (size_t)j * arb);
    k_pack P[4 * KSEG];
    __m512 st[EK_CHUNK / 4][2];
    for (int64_t j0 = 0; j0 < n4; j0 += EK_CHUNK) {
        const int64_t j1 = j0 + EK_CHUNK < n4 ? j0 + EK_CHUNK : n4;
        const int64_t ng = (j1 - j0) / 4;
        for (int64_t i = r0; i < rr1; i += 4) {
            for (int64_t g = 0; g < ng; ++g) st[g][0] = st[g][1] = _mm512_setzero_ps();
            for (int64_t s0 = 0; s0 < nsb; s0 += KSEG) {
                const int64_t nsbs = nsb - s0 < KSEG ? nsb - s0 : KSEG;
                for (int r = 0; r < 4; ++r)
                    for (int64_t sb = 0; sb < nsbs; ++sb)
                        k_prepack(T, W + (size_t)(i + r) * wrb + (size_t)(s0 + sb) * wsz, &P[r * KSEG + sb]);
                for (int64_t g = 0; g < ng; ++g)
                    k_exact_tile(T, Mmain, nsbs, P, A + (size_t)(j0 + 4 * g) * arb + (size_t)s0 * asz, arb,
                                 &st[g][0], &st[g][1]);
            }
            for (int64_t g = 0; g < ng; ++g) {
                float o[16];
                _mm512_storeu_ps(o, Mmain == KM_TILED ? st[g][0] : _mm512_sub_ps(st[g][0], st[g][1]));
                for (int r = 0; r < 4; ++r)
                    for (int c = 0; c < 4; ++c) Cm[(j0 + 4 * g + c) * ldc + i + r] = o[r * 4 + c];
            }
        }
    }
}

/* ====================================================================== */
/* Instantiation and driver                                                */
/* ====================================================================== */

#define KL_AENTRY(NAME, T)                                                                               \
    static float NAME##_dot(int64_t n, const void *w, const void *a) {                                   \
        float o;                                                                                          \
        a_tile(T, 1, 1, n / 32, (const uint8_t *)w, 0, (const uint8_t *)a, 0, &o);                       \
        return o;                                                                                         \
    }                                                                                                     \
    static void NAME##_gemm(int64_t k, const void *W, size_t wrb, int64_t r0, int64_t r1, const void *A, \
                            size_t arb, int64_t na, float *C, int64_t ldc) {                              \
        a_gemm(T, k, (const uint8_t *)W, wrb, r0, r1, (const uint8_t *)A, arb, na, C, ldc);              \
    }

#define KL_KENTRY(NAME, T)                                                                               \
    static float NAME##_dot(int64_t n, const void *w, const void *a) {                                   \
        float o;                                                                                          \
        k_tile(T, 1, 1, n / 256, (const uint8_t *)w, 0, (const uint8_t *)a, 0, &o);                      \
        return o;                                                                                         \
    }                                                                                                     \
    static void NAME##_gemm(int64_t k, const void *W, size_t wrb, int64_t r0, int64_t r1, const void *A, \
                            size_t arb, int64_t na, float *C, int64_t ldc) {                              \
        k_gemm(T, k, (const uint8_t *)W, wrb, r0, r1, (const uint8_t *)A, arb, na, C, ldc);              \
    }

/* llama.cpp-exact entries: vec_dot is the n_a == 1 result of the gemm */
#define KL_EQENTRY(NAME, T)                                                                              \
    static float NAME##_dot(int64_t n, const void *w, const void *a) {                                   \
        return e_q0_row(T, n / 32, (const uint8_t *)w, (const uint8_t *)a);                              \
    }                                                                                                     \
    static void NAME##_gemm(int64_t k, const void *W, size_t wrb, int64_t r0, int64_t r1, const void *A, \
                            size_t arb, int64_t na, float *C, int64_t ldc) {                              \
        e_q0_gemm(T, k, (const uint8_t *)W, wrb, r0, r1, (const uint8_t *)A, arb, na, C, ldc);           \
    }
#define KL_EKENTRY(NAME, T)                                                                              \
    static float NAME##_dot(int64_t n, const void *w, const void *a) {                                   \
        return k_exact_pair(T, T == KL_Q6_K ? KM_VD : KM_Q4GEMV, n / 256, (const uint8_t *)w,            \
                            (const uint8_t *)a);                                                          \
    }                                                                                                     \
    static void NAME##_gemm(int64_t k, const void *W, size_t wrb, int64_t r0, int64_t r1, const void *A, \
                            size_t arb, int64_t na, float *C, int64_t ldc) {                              \
        k_exact_gemm(T, k, (const uint8_t *)W, wrb, r0, r1, (const uint8_t *)A, arb, na, C, ldc);        \
    }

KL_EQENTRY(t_q4_0, KL_Q4_0)
KL_AENTRY(t_q4_1, KL_Q4_1)
KL_EQENTRY(t_q5_0, KL_Q5_0)
KL_AENTRY(t_q5_1, KL_Q5_1)
KL_EQENTRY(t_q8_0, KL_Q8_0)
KL_KENTRY(t_q2_K, KL_Q2_K)
KL_KENTRY(t_q3_K, KL_Q3_K)
KL_EKENTRY(t_q4_K, KL_Q4_K)
KL_KENTRY(t_q5_K, KL_Q5_K)
KL_EKENTRY(t_q6_K, KL_Q6_K)

void kl_fill_avx512(kl_kernels *t) {
#define SET(TY, NAME) do { t->dot[TY] = NAME##_dot; t->gemm[TY] = NAME##_gemm; } while (0)
    SET(KL_Q4_0, t_q4_0);
    SET(KL_Q4_1, t_q4_1);
    SET(KL_Q5_0, t_q5_0);
    SET(KL_Q5_1, t_q5_1);
    SET(KL_Q8_0, t_q8_0);
    SET(KL_Q2_K, t_q2_K);
    SET(KL_Q3_K, t_q3_K);
    SET(KL_Q4_K, t_q4_K);
    SET(KL_Q5_K, t_q5_K);
    SET(KL_Q6_K, t_q6_K);
#undef SET
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  /* not x86 */
#include "kl_internal.h"
void kl_fill_avx512(kl_kernels *t) { (void)t; }
#endif
