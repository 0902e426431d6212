/*
 * gemm_tiled_avx512.c - the AVX-512 VNNI kernels of the llama.cpp-tiled precision.
 *
 * Same integer math as dot_avx512.c (activations quantized as llama.cpp does), but tiled for
 * throughput: integer partial sums are combined across activation rows before one float step,
 * which is a different float summation order from llama.cpp's. dot_avx512.c holds the
 * llama.cpp-order kernels used by kl_gemm (Precision.llamaCpp, the default);
 * kl_gemm_tiled (Precision.llamaCppTiled) uses these where present and falls back to kl_gemm.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "kl_avx512_shared.h"

/* Prepacked super-block of one weight row (unsigned codes and scale vectors). */
typedef struct {
    __m512i u[4], s[4];
    __m512 xm;         /* mins types: dmin * (per-16-group min) as floats */
    __m256i mn;
    float d, dm;
} k_pack;

/* dmin * mins (16 int16) as 16 floats */
AI __m512 k_xmins(__m256i mn, float dm) {
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(mn)), _mm512_set1_ps(dm));
}

AI void k_prepack(int T, const uint8_t *blk, k_pack *p) {
    __m256i sc;
    k_scales(T, blk, &sc, &p->mn, &p->d, &p->dm);
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

KL_AENTRY(t_q4_0, KL_Q4_0)
KL_AENTRY(t_q4_1, KL_Q4_1)
KL_AENTRY(t_q5_0, KL_Q5_0)
KL_AENTRY(t_q5_1, KL_Q5_1)
KL_AENTRY(t_q8_0, KL_Q8_0)
KL_KENTRY(t_q2_K, KL_Q2_K)
KL_KENTRY(t_q3_K, KL_Q3_K)
KL_KENTRY(t_q4_K, KL_Q4_K)
KL_KENTRY(t_q5_K, KL_Q5_K)
KL_KENTRY(t_q6_K, KL_Q6_K)

void kl_fill_avx512_tiled(kl_kernels *t) {
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
void kl_fill_avx512_tiled(kl_kernels *t) { (void)t; }
#endif
