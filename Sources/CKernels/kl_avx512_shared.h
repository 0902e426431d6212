/*
 * kl_avx512_shared.h - what the two AVX-512 VNNI kernel files share: the target pragma,
 * helpers, block unpacking and activation preparation (the design is described at the top
 * of dot_avx512.c). Include once, right after <immintrin.h>, in code compiled for x86; the
 * including file pops the target pragma at its end. Every function is static inline.
 */
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
