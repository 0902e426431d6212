/*
 * knowlm_blas.h - OpenBLAS, loaded at run time with the right kernels for this CPU.
 *
 * Why not link it: OpenBLAS picks its kernel set ("core") once, in a library constructor,
 * from the CPU model it recognises. Debian's 0.3.21 does not know newer Xeons and falls back
 * to its generic "Prescott" kernels (5-7x slower sgemm) on CPUs that have AVX-512. The only
 * way to choose is the OPENBLAS_CORETYPE environment variable, read by that constructor, so
 * the library must not be loaded before the choice is made. On first use this file:
 *   1. respects OPENBLAS_CORETYPE when the user (or the machine) already set it;
 *   2. otherwise asks a probe process (this same executable, re-run with KNOWLM_BLAS_PROBE=1,
 *      which loads OpenBLAS and prints the core it picked) and, when that core is a generic
 *      fallback although the CPU has AVX2 or AVX-512, sets OPENBLAS_CORETYPE to the matching
 *      core (Haswell / SkylakeX);
 *   3. then dlopens libopenblas.so.0.
 */
#ifndef KNOWLM_BLAS_H
#define KNOWLM_BLAS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Loads OpenBLAS if not yet loaded. Returns 0 on success; otherwise non-zero and
 * kl_blas_error() says why. Safe to call from any thread, any number of times. */
int kl_blas_load(void);
/* Why loading failed (empty when it did not). */
const char *kl_blas_error(void);
/* The kernel set OpenBLAS runs ("Haswell", "SkylakeX", "Prescott", ...); loads it first. */
const char *kl_blas_core_name(void);
/* How the core was chosen: "library" (OpenBLAS's own detection), "environment"
 * (OPENBLAS_CORETYPE set before we ran) or "corrected from <core>" (we overrode a fallback). */
const char *kl_blas_core_origin(void);
/* 1 when `core` is one of OpenBLAS's pre-AVX2 kernel sets. */
int kl_blas_core_is_generic(const char *core);
/* The core OpenBLAS should use on this CPU judged by its features alone ("SkylakeX",
 * "Haswell"), or NULL when the CPU has no AVX2. */
const char *kl_blas_best_core_for_cpu(void);

void kl_blas_set_threads(int n);

/* Row-major single-precision products; trans_* non-zero means transposed. */
void kl_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void kl_sgemv(int trans, int m, int n, float alpha, const float *a, int lda,
              const float *x, int incx, float beta, float *y, int incy);

#ifdef __cplusplus
}
#endif

#endif /* KNOWLM_BLAS_H */
