// kernels_harness.c - standalone checks of the CKernels library (development aid;
// the Swift tests in Tests/KnowLMRuntimeTests/KernelTests.swift check the same goldens).
//
// Build & run from the repository root:
//
//   gcc -O3 -I Sources/CKernels/include Sources/CKernels/*.c Tests/kernels-harness/*.c -lm -o /tmp/kernels_harness
//   /tmp/kernels_harness [fixtures-dir]
//
// fixtures-dir defaults to Tests/KnowLMRuntimeTests/Fixtures/kernels (made by
// scripts/golden/make_kernel_goldens.py). Checks, for every ISA level the CPU has
// (scalar, avx2, avx512):
//   - dequantization is bit-identical to gguf.quants.dequantize
//   - activation quantization (Q8_0/Q8_1/Q8_K/F16/BF16) is byte-identical
//   - kl_vec_dot and kl_gemm (full and partial row ranges) are within tolerance
//   - random cross-checks of SIMD vs scalar for many shapes
//   - fp16 conversions against F16C (all halves; a dense sample of floats)
// Exit status 0 when everything passes.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "knowlm_kernels.h"
#include "../../Sources/CKernels/kl_internal.h"

static int g_fail = 0, g_checks = 0;
#define CHECK(cond, ...) do { ++g_checks; if (!(cond)) { ++g_fail; if (g_fail < 60) { printf("FAIL: " __VA_ARGS__); printf("\n"); } } } while (0)

static void *load_file(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) { printf("cannot open %s\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n ? (size_t)n : 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) { printf("read error %s\n", path); exit(2); }
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

static const char *kv(char *line, const char *key) {   /* value of key=value token (static buffer) */
    static char buf[16][256];
    static int slot = 0;
    size_t kl = strlen(key);
    for (char *p = line; (p = strstr(p, key)); p += kl) {
        if ((p == line || p[-1] == ' ') && p[kl] == '=') {
            char *v = p + kl + 1, *e = v;
            while (*e && *e != ' ' && *e != '\n') ++e;
            char *o = buf[slot++ & 15];
            memcpy(o, v, (size_t)(e - v));
            o[e - v] = 0;
            return o;
        }
    }
    return NULL;
}

static const char *isa_name[3] = {"scalar", "avx2", "avx512"};

static void run_dot_case(const char *dir, char *line) {
    const char *name = kv(line, "name");
    const int t = atoi(kv(line, "type")), at = atoi(kv(line, "atype"));
    const int64_t n = atoll(kv(line, "n")), rows = atoll(kv(line, "rows")), na = atoll(kv(line, "n_a"));
    size_t wl, dl, xl, al, el, tl;
    uint8_t *w = load_file(dir, kv(line, "w"), &wl);
    float *deq = load_file(dir, kv(line, "deq"), &dl);
    float *x = load_file(dir, kv(line, "x"), &xl);
    uint8_t *a = load_file(dir, kv(line, "a"), &al);
    double *ex = load_file(dir, kv(line, "expect"), &el);
    double *tol = load_file(dir, kv(line, "tol"), &tl);
    const size_t wrb = kl_row_size(t, n), arb = kl_row_size(at, n);
    CHECK(wrb * rows == wl, "%s: weight size %zu != %zu", name, wrb * rows, wl);
    CHECK(arb * na == al, "%s: act size", name);
    CHECK(kl_vec_dot_type(t) == at, "%s: vec_dot_type %d != %d", name, kl_vec_dot_type(t), at);

    /* dequantize: bit exact */
    float *out = malloc((size_t)n * 4);
    for (int64_t i = 0; i < rows; ++i) {
        CHECK(kl_dequantize_row(t, w + i * wrb, out, n) == 0, "%s: dequantize rc", name);
        int bad = 0;
        for (int64_t k = 0; k < n; ++k) bad += memcmp(&out[k], &deq[i * n + k], 4) != 0;
        CHECK(bad == 0, "%s: dequantize row %lld: %d mismatches", name, (long long)i, bad);
    }
    /* quantize activations: byte exact, on every ISA */
    uint8_t *q = malloc(arb);
    for (int lv = 0; lv <= kl_internal_best_isa(); ++lv) {
        kl_internal_set_isa(lv);
        for (int64_t j = 0; j < na; ++j) {
            CHECK(kl_quantize_row(at, x + j * n, q, n) == 0, "%s: quantize rc", name);
            int bad = 0;
            for (size_t k = 0; k < arb; ++k) bad += q[k] != a[j * arb + k];
            CHECK(bad == 0, "%s/%s: quantize act row %lld: %d byte mismatches", name, isa_name[lv], (long long)j, bad);
        }
    }
    /* vec_dot + gemm on every ISA */
    float *C = malloc(sizeof(float) * (size_t)(rows * na));
    for (int lv = 0; lv <= kl_internal_best_isa(); ++lv) {
        kl_internal_set_isa(lv);
        double worst = 0;
        for (int64_t j = 0; j < na; ++j)
            for (int64_t i = 0; i < rows; ++i) {
                const float v = kl_vec_dot(t, n, w + i * wrb, a + j * arb);
                const double e = ex[j * rows + i], err = fabs(v - e);
                if (err / tol[j * rows + i] > worst) worst = err / tol[j * rows + i];
                CHECK(err <= tol[j * rows + i], "%s/%s: vec_dot[%lld,%lld] = %.9g expected %.9g (tol %.3g)",
                      name, isa_name[lv], (long long)i, (long long)j, v, e, tol[j * rows + i]);
            }
        for (int pass = 0; pass < 2; ++pass) {
            const int64_t r0 = pass ? 1 : 0;
            for (int64_t k = 0; k < rows * na; ++k) C[k] = NAN;
            kl_gemm(t, n, w, wrb, r0, rows, a, arb, na, C, rows);
            for (int64_t j = 0; j < na; ++j)
                for (int64_t i = 0; i < rows; ++i) {
                    const float v = C[j * rows + i];
                    if (i < r0) { CHECK(isnan(v), "%s/%s: gemm wrote outside range", name, isa_name[lv]); continue; }
                    const double e = ex[j * rows + i];
                    CHECK(fabs(v - e) <= tol[j * rows + i], "%s/%s: gemm[%lld,%lld] (r0=%lld) = %.9g expected %.9g",
                          name, isa_name[lv], (long long)i, (long long)j, (long long)r0, v, e);
                }
        }
        printf("  %-12s %-6s ok (worst err/tol %.3f)\n", name, isa_name[lv], worst);
    }
    kl_internal_set_isa(kl_internal_best_isa());
    free(w); free(deq); free(x); free(a); free(ex); free(tol); free(out); free(q); free(C);
}

static void run_quant_case(const char *dir, char *line) {
    const char *name = kv(line, "name");
    const int t = atoi(kv(line, "type"));
    const int64_t n = atoll(kv(line, "n")), rows = atoll(kv(line, "rows"));
    size_t xl, ql;
    float *x = load_file(dir, kv(line, "x"), &xl);
    uint8_t *qe = load_file(dir, kv(line, "q"), &ql);
    const size_t rb = kl_row_size(t, n);
    CHECK(rb * rows == ql, "%s: size", name);
    uint8_t *q = malloc(rb);
    for (int lv = 0; lv <= kl_internal_best_isa(); ++lv) {
        kl_internal_set_isa(lv);
        for (int64_t r = 0; r < rows; ++r) {
            CHECK(kl_quantize_row(t, x + r * n, q, n) == 0, "%s: rc", name);
            int bad = 0;
            for (size_t k = 0; k < rb; ++k) bad += q[k] != qe[r * rb + k];
            CHECK(bad == 0, "%s/%s: row %lld: %d byte mismatches", name, isa_name[lv], (long long)r, bad);
        }
    }
    kl_internal_set_isa(kl_internal_best_isa());
    printf("  %-12s quantize checked (%lld rows)\n", name, (long long)rows);
    free(x); free(qe); free(q);
}

/* ------------------------------------------------------------ random cross-checks */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float frand(void) { return ((float)(rnd() & 0xFFFFFF) / 16777216.0f) * 2.0f - 1.0f; }

static void put16(uint8_t *p, float v) { uint16_t h = kl_fp32_to_fp16(v); memcpy(p, &h, 2); }

static void random_row(int t, uint8_t *w, int64_t n) {
    const size_t rb = kl_row_size(t, n);
    if (t == KL_F32) { for (int64_t i = 0; i < n; ++i) ((float *)w)[i] = frand(); return; }
    if (t == KL_F16) { for (int64_t i = 0; i < n; ++i) put16(w + 2 * i, frand()); return; }
    if (t == KL_BF16) { for (int64_t i = 0; i < n; ++i) { uint16_t h = kl_fp32_to_bf16(frand()); memcpy(w + 2 * i, &h, 2); } return; }
    for (size_t i = 0; i < rb; ++i) w[i] = (uint8_t)rnd();
    const size_t ts = (size_t)kl_type_size(t);
    for (size_t b = 0; b < rb / ts; ++b) {
        uint8_t *p = w + b * ts;
        const float d = 1e-3f * (1.0f + frand()), m = 1e-3f * (1.0f + frand());
        switch (t) {
        case KL_Q4_0: case KL_Q5_0: case KL_Q8_0: put16(p, d); break;
        case KL_Q4_1: case KL_Q5_1: put16(p, d); put16(p + 2, m); break;
        case KL_Q2_K: put16(p + 80, d); put16(p + 82, m); break;
        case KL_Q3_K: put16(p + 108, d); break;
        case KL_Q4_K: case KL_Q5_K: put16(p, d); put16(p + 2, m); break;
        case KL_Q6_K: put16(p + 208, d); break;
        }
    }
}

static void random_cross(void) {
    static const int types[] = {KL_Q4_0, KL_Q4_1, KL_Q5_0, KL_Q5_1, KL_Q8_0, KL_Q2_K, KL_Q3_K,
                                KL_Q4_K, KL_Q5_K, KL_Q6_K, KL_F16, KL_BF16, KL_F32};
    const int best = kl_internal_best_isa();
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ++ti) {
        const int t = types[ti], at = kl_vec_dot_type(t);
        const int64_t bs = kl_block_size(t) > 1 ? kl_block_size(t) : 1;
        double worst = 0;
        /* shapes: small ones plus k-segmented / multi-tile ones (rows 29 = 2x12 + 4 + 1) */
        static const int64_t shapes[][3] = {  /* blocks (x32 or x256; elements for F*), rows, n_a */
            {1, 1, 1}, {4, 6, 4}, {7, 11, 7}, {10, 5, 10}, {13, 10, 3}, {16, 4, 6},
            {101, 29, 7}, {70, 13, 9}, {9, 29, 5}, {150, 5, 5}};
        for (int trial = 0; trial < (int)(sizeof shapes / sizeof shapes[0]); ++trial) {
            const int64_t nblk = bs == 256 ? 1 + shapes[trial][0] / 8 : shapes[trial][0];
            const int64_t n = bs == 1 ? 1 + 37 * shapes[trial][0] : nblk * bs;
            const int64_t rows = shapes[trial][1], na = shapes[trial][2];
            const size_t wrb = kl_row_size(t, n), arb = kl_row_size(at, n);
            uint8_t *W = malloc(wrb * rows), *A = malloc(arb * na);
            float *x = malloc(sizeof(float) * n), *dw = malloc(sizeof(float) * n), *da = malloc(sizeof(float) * n);
            float *Cs = malloc(sizeof(float) * rows * na), *Cv = malloc(sizeof(float) * rows * na);
            for (int64_t i = 0; i < rows; ++i) random_row(t, W + i * wrb, n);
            for (int64_t j = 0; j < na; ++j) {
                for (int64_t k = 0; k < n; ++k) x[k] = frand() * (k % 13 == 0 ? 8.0f : 1.0f);
                kl_quantize_row(at, x, A + j * arb, n);
            }
            kl_internal_set_isa(0);
            kl_gemm(t, n, W, wrb, 0, rows, A, arb, na, Cs, rows);
            for (int lv = 1; lv <= best; ++lv) {
                kl_internal_set_isa(lv);
                kl_gemm(t, n, W, wrb, 0, rows, A, arb, na, Cv, rows);
                for (int64_t j = 0; j < na; ++j)
                    for (int64_t i = 0; i < rows; ++i) {
                        /* tolerance from sum |w||a| in double */
                        kl_dequantize_row(t, W + i * wrb, dw, n);
                        kl_dequantize_row(at, A + j * arb, da, n);
                        double mag = 0, ref = 0;
                        for (int64_t k = 0; k < n; ++k) { mag += fabs((double)dw[k] * da[k]); ref += (double)dw[k] * da[k]; }
                        if (t == KL_Q4_1 || t == KL_Q5_1) mag += 1e-2 * mag + 1e-3;   /* m*s uses fp16 s */
                        const double tolv = 2e-5 * mag + 1e-5;
                        const float v = Cv[j * rows + i], s = Cs[j * rows + i];
                        const float dv = kl_vec_dot(t, n, W + i * wrb, A + j * arb);
                        if (fabs(v - s) / tolv > worst) worst = fabs(v - s) / tolv;
                        CHECK(fabs(v - s) <= tolv, "random type %d %s n=%lld: gemm %g vs scalar %g", t, isa_name[lv], (long long)n, v, s);
                        CHECK(fabs(dv - v) <= tolv, "random type %d %s: vec_dot %g vs gemm %g", t, isa_name[lv], dv, v);
                        /* The AVX2 GEMMs of these types promise each result bit for bit equal to vec_dot. */
                        if (lv == 1 && (t == KL_Q8_0 || t == KL_Q5_0 || t == KL_Q4_K || t == KL_Q6_K))
                            CHECK(memcmp(&dv, &v, sizeof v) == 0, "random type %d avx2 n=%lld: gemm %.9g is not bit-identical to vec_dot %.9g",
                                  t, (long long)n, v, dv);
                        CHECK(fabs(ref - s) <= tolv * 10 + 1e-3 * fabs(ref) * (t == KL_Q4_1 || t == KL_Q5_1),
                              "random type %d: scalar %g vs dequant-dot %g", t, s, ref);
                    }
            }
            free(W); free(A); free(x); free(dw); free(da); free(Cs); free(Cv);
        }
        printf("  random cross-check type %2d ok (worst err/tol %.3f)\n", t, worst);
    }
    kl_internal_set_isa(best);
}

static void random_quant_cross(void) {
    static const int types[] = {KL_Q8_0, KL_Q8_1, KL_Q8_K, KL_F16, KL_BF16};
    const int64_t n = 4096;
    float *x = malloc(sizeof(float) * n);
    uint8_t *q0 = malloc(n * 2 + 4096), *q1 = malloc(n * 2 + 4096);
    int bad = 0;
    for (int trial = 0; trial < 200; ++trial) {
        for (int64_t i = 0; i < n; ++i) {
            switch (trial % 4) {
            case 0: x[i] = frand(); break;
            case 1: x[i] = (float)((int)(rnd() % 255) - 127) * 0.5f; break;   /* many exact ties */
            case 2: x[i] = frand() * 1e-6f; break;
            default: x[i] = (i % 97 == 0) ? 0.0f : frand() * 100.0f; break;
            }
        }
        if (trial % 8 == 3) for (int64_t i = 256; i < 512; ++i) x[i] = 0.0f;            /* zero super-block */
        if (trial % 8 == 5) { x[7] = 3.0f; x[9] = -3.0f; }                             /* +-amax tie */
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ++ti) {
            const size_t rb = kl_row_size(types[ti], n);
            kl_internal_set_isa(0);
            kl_quantize_row(types[ti], x, q0, n);
            for (int lv = 1; lv <= kl_internal_best_isa(); ++lv) {
                kl_internal_set_isa(lv);
                kl_quantize_row(types[ti], x, q1, n);
                if (memcmp(q0, q1, rb) != 0) ++bad;
            }
        }
    }
    kl_internal_set_isa(kl_internal_best_isa());
    CHECK(bad == 0, "random quantization: %d SIMD/scalar mismatches", bad);
    printf("  random quantization cross-check done\n");
    free(x); free(q0); free(q1);
}

/* ------------------------------------------------------------ fp16 / bf16 */

__attribute__((target("f16c"))) static uint16_t hw_f2h(float f) {
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0);
}
__attribute__((target("f16c"))) static float hw_h2f(uint16_t h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static void fp16_checks(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        float a = kl_fp16_to_fp32((uint16_t)h), b = hw_h2f((uint16_t)h);
        bad += memcmp(&a, &b, 4) != 0;
    }
    CHECK(bad == 0, "fp16->fp32: %d mismatches vs F16C", bad);
    bad = 0;
    uint64_t cnt = 0;
    for (uint64_t u = 0; u < (1ULL << 32); u += 7) {
        float f;
        uint32_t v = (uint32_t)u;
        memcpy(&f, &v, 4);
        ++cnt;
        if (kl_fp32_to_fp16(f) != hw_f2h(f)) { if (bad < 5) printf("  f2h mismatch 0x%08x: %04x vs %04x\n", v, kl_fp32_to_fp16(f), hw_f2h(f)); ++bad; }
    }
    CHECK(bad == 0, "fp32->fp16: %d mismatches of %llu vs F16C", bad, (unsigned long long)cnt);
    CHECK(kl_fp32_to_bf16(1.0f) == 0x3f80 && kl_bf16_to_fp32(0x3f80) == 1.0f, "bf16 basic");
    /* 1 + 2^-8 is exactly halfway between two bf16 values: rounds to even (0x3f80) */
    CHECK(kl_fp32_to_bf16(1.00390625f) == 0x3f80 && kl_fp32_to_bf16(1.01171875f) == 0x3f82, "bf16 rne");
    printf("  fp16/bf16 conversions checked (%llu floats sampled)\n", (unsigned long long)cnt);
}

static void api_checks(void) {
    CHECK(kl_block_size(KL_Q4_K) == 256 && kl_type_size(KL_Q4_K) == 144, "sizes q4_K");
    CHECK(kl_block_size(KL_Q8_0) == 32 && kl_type_size(KL_Q8_0) == 34, "sizes q8_0");
    CHECK(kl_block_size(KL_F16) == 1 && kl_type_size(KL_BF16) == 2, "sizes f16");
    CHECK(kl_block_size(99) == 0 && kl_type_size(4) == 0 && kl_row_size(99, 32) == 0, "unknown type");
    CHECK(kl_row_size(KL_Q6_K, 512) == 420 && kl_row_size(KL_Q6_K, 100) == 0, "row size");
    CHECK(kl_vec_dot_type(KL_Q5_1) == KL_Q8_1 && kl_vec_dot_type(KL_Q3_K) == KL_Q8_K &&
          kl_vec_dot_type(KL_Q8_K) == -1 && kl_vec_dot_type(5) == -1, "vec_dot_type");
    float f[32];
    CHECK(kl_dequantize_row(5, f, f, 32) == -1 && kl_dequantize_row(KL_Q4_0, f, f, 31) == -1, "deq errors");
    CHECK(kl_quantize_row(KL_Q4_0, f, f, 32) == -1, "quantize unsupported type");
    printf("  api checks done; features: %s\n", kl_cpu_features());
}

/* kl_attention_f16_fast on every ISA level against its scalar version: causal and sliding
 * masks, rows with nothing visible, row counts that are not a multiple of four. */
static void fast_attention_cross(void) {
    static const int shapes[][4] = { /* n_q, n_kv, d, dv */ {1, 1, 16, 8}, {3, 7, 16, 8}, {4, 9, 32, 24}, {5, 40, 64, 64},
                                     {13, 70, 256, 256}, {32, 32, 128, 136}};
    const int best = kl_internal_best_isa();
    double worst = 0;
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; ++t) {
        const int nq = shapes[t][0], nkv = shapes[t][1], d = shapes[t][2], dv = shapes[t][3];
        float *q = malloc(sizeof(float) * nq * d), *mask = malloc(sizeof(float) * nq * nkv);
        uint16_t *k = malloc(2 * (size_t)nkv * d), *v = malloc(2 * (size_t)nkv * dv);
        float *scratch = malloc(sizeof(float) * 4 * nkv), *ref = malloc(sizeof(float) * nq * dv), *got = malloc(sizeof(float) * nq * dv);
        for (int i = 0; i < nq * d; ++i) q[i] = frand();
        for (int i = 0; i < nkv * d; ++i) k[i] = kl_fp32_to_fp16(frand());
        for (int i = 0; i < nkv * dv; ++i) v[i] = kl_fp32_to_fp16(frand());
        for (int i = 0; i < nq; ++i)
            for (int j = 0; j < nkv; ++j) {
                const int p = nkv - nq + i;   /* causal, window of 24, row 1 sees nothing */
                mask[i * nkv + j] = (j > p || p - j >= 24 || (i == 1 && nq > 2)) ? -INFINITY : 0.0f;
            }
        kl_internal_set_isa(0);
        kl_attention_f16_fast(nq, nkv, d, dv, q, d, k, d, v, dv, mask, nkv, 0.125f, scratch, ref, dv);
        for (int lv = 1; lv <= best; ++lv) {
            kl_internal_set_isa(lv);
            for (int i = 0; i < nq * dv; ++i) got[i] = NAN;
            kl_attention_f16_fast(nq, nkv, d, dv, q, d, k, d, v, dv, mask, nkv, 0.125f, scratch, got, dv);
            for (int i = 0; i < nq * dv; ++i) {
                const double err = fabs((double)got[i] - ref[i]);
                if (err > worst) worst = err;
                CHECK(err <= 1e-4, "fast attention %s nq=%d nkv=%d d=%d dv=%d: out[%d] %g vs scalar %g",
                      isa_name[lv], nq, nkv, d, dv, i, got[i], ref[i]);
            }
        }
        free(q); free(mask); free(k); free(v); free(scratch); free(ref); free(got);
    }
    kl_internal_set_isa(best);
    printf("  fast attention cross-check done (worst abs err %.2g)\n", worst);
}

/* The packed int8 GEMM (gemm_packed_avx512.c) against kl_gemm: same integer math, another float order. */
static void packed_cross(void) {
    static const int types[] = {KL_Q4_0, KL_Q5_0, KL_Q8_0, KL_Q4_K, KL_Q6_K};
    static const int64_t shapes[][3] = {  /* blocks of 32 (K-quants: of 256), rows, n_a */
        {1, 1, 1}, {2, 15, 2}, {20, 17, 8}, {20, 40, 9}, {3, 16, 17}, {64, 33, 3}, {7, 100, 64}, {40, 18, 30}};  /* the last: per-call tables on the heap */
    int tested = 0;
    double worst = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ++ti) {
        const int t = types[ti], at = kl_vec_dot_type(t);
        if (!kl_packed_available(t)) continue;
        ++tested;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; ++si) {
            const int64_t n = kl_block_size(t) * shapes[si][0], rows = shapes[si][1], na = shapes[si][2];
            const int64_t groups = (rows + 15) / 16;
            const size_t wrb = kl_row_size(t, n), arb = kl_row_size(at, n);
            uint8_t *W = malloc(wrb * rows), *A = malloc(arb * na);
            void *P = aligned_alloc(64, (kl_packed_size(t, rows, n) + 63) / 64 * 64);
            float *x = malloc(sizeof(float) * n), *dw = malloc(sizeof(float) * n), *da = malloc(sizeof(float) * n);
            float *Ce = malloc(sizeof(float) * rows * na), *Cp = malloc(sizeof(float) * rows * na);
            for (int64_t i = 0; i < rows; ++i) random_row(t, W + i * wrb, n);
            for (int64_t j = 0; j < na; ++j) {
                for (int64_t k = 0; k < n; ++k) x[k] = frand() * (k % 13 == 0 ? 8.0f : 1.0f);
                kl_quantize_row(at, x, A + j * arb, n);
            }
            /* packed and multiplied in two group ranges, as two threads would */
            const int64_t half = groups / 2;
            kl_pack(t, W, wrb, rows, n, 0, half, P);
            kl_pack(t, W, wrb, rows, n, half, groups, P);
            for (int64_t i = 0; i < rows * na; ++i) Cp[i] = NAN;
            kl_gemm(t, n, W, wrb, 0, rows, A, arb, na, Ce, rows);
            kl_packed_gemm(t, P, rows, n, 0, half, A, arb, na, Cp, rows);
            kl_packed_gemm(t, P, rows, n, half, groups, A, arb, na, Cp, rows);
            for (int64_t j = 0; j < na; ++j)
                for (int64_t i = 0; i < rows; ++i) {
                    kl_dequantize_row(t, W + i * wrb, dw, n);
                    kl_dequantize_row(at, A + j * arb, da, n);
                    double mag = 0;
                    for (int64_t k = 0; k < n; ++k) mag += fabs((double)dw[k] * da[k]);
                    const double tol = (t == KL_Q4_K ? 1e-5 : 2e-6) * mag + 1e-7;   /* Q4_K: da * sum(a) rounded */
                    const float e = Ce[j * rows + i], v = Cp[j * rows + i];
                    if (fabs(v - e) / tol > worst) worst = fabs(v - e) / tol;
                    CHECK(fabs(v - e) <= tol, "packed type %d n=%lld rows=%lld na=%lld [%lld,%lld]: %g vs kl_gemm %g",
                          t, (long long)n, (long long)rows, (long long)na, (long long)j, (long long)i, v, e);
                }
            free(W); free(A); free(P); free(x); free(dw); free(da); free(Ce); free(Cp);
        }
    }
    CHECK(!kl_packed_available(KL_Q4_1) && !kl_packed_available(KL_F32), "packed: Q4_1 and F32 are not packable");
    if (kl_internal_best_isa() >= 1) {   /* the packed kernels need AVX-512 VNNI: off at the AVX2 level */
        kl_internal_set_isa(1);
        CHECK(!kl_packed_available(KL_Q8_0), "packed: available with the AVX2 kernel set");
        kl_internal_set_isa(kl_internal_best_isa());
    }
    if (tested) printf("  packed int8 GEMM cross-check: %d types ok (worst err/tol %.3f)\n", tested, worst);
    else printf("  packed int8 GEMM: not available on this CPU (skipped)\n");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "Tests/KnowLMRuntimeTests/Fixtures/kernels";
    printf("best ISA level: %s\n", isa_name[kl_internal_best_isa()]);
    api_checks();
    size_t len;
    char *idx = load_file(dir, "index.txt", &len);
    idx = realloc(idx, len + 1);
    idx[len] = 0;
    for (char *line = strtok(idx, "\n"); line; line = strtok(NULL, "\n")) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", line);
        const char *kind = kv(copy, "kind");
        if (!strcmp(kind, "dot")) run_dot_case(dir, copy);
        else if (!strcmp(kind, "quant")) run_quant_case(dir, copy);
    }
    free(idx);
    random_cross();
    random_quant_cross();
    fast_attention_cross();
    packed_cross();
    fp16_checks();
    printf("%d checks, %d failures\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
