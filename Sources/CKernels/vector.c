/*
 * vector.c - float32 inner products for vector search (HNSW distance evaluations).
 *
 * Swift is compiled for the baseline x86-64 ISA, so its SIMD types cannot use AVX-512/FMA;
 * this file picks AVX-512, AVX2+FMA or portable C at run time.
 */
#include "kl_internal.h"

static float dot_scalar(const float *a, const float *b, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
__attribute__((target("avx512f,avx512dq"))) static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    float s = _mm_cvtss_f32(r);
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}
#endif

/* half-precision rows (the HNSW traversal copy) times a float query */
static float dot_h_scalar(const uint16_t *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; ++i) s += kl_h2f(a[i]) * b[i];
    return s;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512dq"))) static float dot_h_avx512(const uint16_t *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i))), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i + 16))), _mm512_loadu_ps(b + i + 16), s1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; ++i) s += kl_h2f(a[i]) * b[i];
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_h_avx2(const uint16_t *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))), _mm256_loadu_ps(b + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    float s = _mm_cvtss_f32(r);
    for (; i < n; ++i) s += kl_h2f(a[i]) * b[i];
    return s;
}
#endif

typedef float (*dot_h_fn)(const uint16_t *, const float *, size_t);

static dot_h_fn pick_h(void) {
#if defined(__x86_64__) || defined(__i386__)
    const int level = kl_internal_active_isa();
    if (level >= 2) return dot_h_avx512;
    if (level >= 1) return dot_h_avx2;
#endif
    return dot_h_scalar;
}

typedef float (*dot_fn)(const float *, const float *, size_t);

static dot_fn pick(void) {
#if defined(__x86_64__) || defined(__i386__)
    const int level = kl_internal_active_isa();
    if (level >= 2) return dot_avx512;
    if (level >= 1) return dot_avx2;
#endif
    return dot_scalar;
}

float kl_dot_f32(const float *a, const float *b, size_t n) {
    return pick()(a, b, n);
}

/* Graph neighbours are scattered over a table far larger than the caches: fetch whole rows
 * (every 64-byte line). */
static inline void prefetch_row(const float *row, size_t dim) {
    const char *p = (const char *)row, *end = (const char *)(row + dim);
    for (; p < end; p += 64) __builtin_prefetch(p);
}

void kl_ip_distances(const float *q, const float *base, size_t dim, const int32_t *ids, int count, float *out) {
    const dot_fn dot = pick();
    /* All rows requested at once (up to 2M of them, a few dozen KiB) so their cache misses
     * overlap, then multiplied in order. */
    for (int i = 0; i < count; ++i) prefetch_row(base + (size_t)ids[i] * dim, dim);
    for (int i = 0; i < count; ++i) out[i] = 1.0f - dot(q, base + (size_t)ids[i] * dim, dim);
}

void kl_ip_distances_f16(const float *q, const uint16_t *base, size_t dim, const int32_t *ids, int count, float *out) {
    const dot_h_fn dot = pick_h();
    for (int i = 0; i < count; ++i) {
        const char *p = (const char *)(base + (size_t)ids[i] * dim), *end = p + dim * sizeof(uint16_t);
        for (; p < end; p += 64) __builtin_prefetch(p);
    }
    for (int i = 0; i < count; ++i) out[i] = 1.0f - dot(base + (size_t)ids[i] * dim, q, dim);
}
