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
#include "kl_avx512_shared.h"

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
 * output. Blocks are taken EQ_SEG at a time: a first pass forms the 16 scale products
 * d_w*d_a of each block (one vector multiply per block) and each activation block's
 * correction -c*sum(a); the second pass reads them back as broadcast and plain memory
 * operands. Forming a product right before its use made every FMA wait on a store that
 * could not be forwarded to the broadcast loads (measured: ~1.6x slower).
 * Weights prepacked (U: codes [r * ustride + b], D: fp32 scales [b * 4 + r]) or raw (U NULL). */
#define EQ_SEG 16
AI void e_q0_tile(int T, int R, int C, int packed, int64_t nb, const uint8_t *w, size_t wrb,
                  const __m256i *U, const float *D, size_t ustride,
                  const uint8_t *a, size_t arb, float *o /* o[r * 4 + c] */) {
    const size_t wsz = a_wsz(T);
    const __m256i cb = _mm256_set1_epi8((char)a_corr(T)), z = _mm256_setzero_si256();
    const __m512i rowidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    _Alignas(64) float prod[EQ_SEG][16];   /* prod[b][r * 4 + c] = d_w(r) * d_a(c), as ggml rounds it */
    _Alignas(64) __m256i init[EQ_SEG][4];  /* -c * sum(a) per lane */
    __m256 acc[4][4];
    UNROLL
    for (int r = 0; r < R; ++r)
        UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += EQ_SEG) {
        const int nseg = nb - b0 < EQ_SEG ? (int)(nb - b0) : EQ_SEG;
        for (int s = 0; s < nseg; ++s) {
            const int64_t b = b0 + s;
            uint16_t ha[4] = { 0, 0, 0, 0 }, hw[4] = { 0, 0, 0, 0 };
            UNROLL
            for (int c = 0; c < C; ++c) {
                const uint8_t *x = a + c * arb + (size_t)b * 34;
                init[s][c] = _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, cb, _mm256_loadu_si256((const __m256i *)(x + 2))));
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
            _mm512_store_ps(prod[s], _mm512_mul_ps(_mm512_permutexvar_ps(rowidx, _mm512_castps128_ps512(dw4)),
                                                   _mm512_broadcast_f32x4(da4)));
        }
        __asm__ volatile("" : : "r"(prod), "r"(init) : "memory");
        for (int s = 0; s < nseg; ++s) {
            const int64_t b = b0 + s;
            __m256i av[4];
            UNROLL
            for (int c = 0; c < C; ++c) av[c] = _mm256_loadu_si256((const __m256i *)(a + c * arb + (size_t)b * 34 + 2));
            UNROLL
            for (int r = 0; r < R; ++r) {
                const __m256i u = packed ? _mm256_load_si256(&U[r * ustride + b]) : e_unpack(T, w + r * wrb + (size_t)b * wsz);
                UNROLL
                for (int c = 0; c < C; ++c) {
                    const __m256i I = _mm256_dpbusd_epi32(_mm256_load_si256(&init[s][c]), u, av[c]);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(I), _mm256_broadcast_ss(&prod[s][r * 4 + c]), acc[r][c]);
                }
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
    const int rest = (int)(j1 - j);   /* 0..3 activation rows left: one narrower tile */
    if (rest > 0) {
        if (R == 4) {
            if (rest == 3) EQ_TILE(4, 3); else if (rest == 2) EQ_TILE(4, 2); else EQ_TILE(4, 1);
        } else {
            if (rest == 3) EQ_TILE(1, 3); else if (rest == 2) EQ_TILE(1, 2); else EQ_TILE(1, 1);
        }
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < rest; ++c) Cm[(j + c) * ldc + i + r] = o[r * 4 + c];
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
