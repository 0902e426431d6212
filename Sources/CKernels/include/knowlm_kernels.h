/*
 * knowlm_kernels.h - quantized CPU kernels for KnowLM (ggml/GGUF compatible).
 *
 * Block layouts, dequantization and activation quantization follow ggml's
 * CPU backend bit for bit. Integer partial sums are exact.
 *
 * llama.cpp-exact products (AVX-512 VNNI level): for Q4_0, Q5_0, Q8_0, Q4_K and
 * Q6_K weights, kl_gemm also performs the float steps in llama.cpp's order, so its
 * results are bit-identical to llama.cpp's CPU backend (x86 AVX-512 VNNI build:
 * vec_dot / llamafile tinyBLAS for the 32-blocks, CPU_REPACK q4_K_8x8 gemv/gemm for
 * Q4_K, vec_dot (batch < 8) or the tiled kernel (batch >= 8) for Q6_K) given the
 * same weights and float activations (scripts/golden/check_llamacpp_matmul_exact.py).
 * As in llama.cpp, the order depends on the batch size: pass the whole batch
 * (all n_a activation rows) in one kl_gemm call; splitting the weight rows
 * [row_begin, row_end) across calls/threads does not change any result. Q4_K
 * assumes the matrix has a multiple of 8 rows (llama.cpp repacks only those).
 * Q4_0 matches ggml's vec_dot/tinyBLAS order (llama.cpp repacks Q4_0 on AVX2 CPUs,
 * which uses another order). Other types, and the AVX2/scalar levels, may differ
 * from llama.cpp in float summation order (last bits).
 *
 * All functions are thread-safe and do not allocate. Runtime ISA dispatch
 * (scalar / AVX2+FMA+F16C / AVX-512 VNNI) is chosen once, on first use.
 */
#ifndef KNOWLM_KERNELS_H
#define KNOWLM_KERNELS_H

#include <stdint.h>
#include <stddef.h>

#include "knowlm_blas.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GGML type ids (same numbers as ggml / GGUF). */
enum {
    KL_F32  = 0,
    KL_F16  = 1,
    KL_Q4_0 = 2,
    KL_Q4_1 = 3,
    KL_Q5_0 = 6,
    KL_Q5_1 = 7,
    KL_Q8_0 = 8,
    KL_Q8_1 = 9,
    KL_Q2_K = 10,
    KL_Q3_K = 11,
    KL_Q4_K = 12,
    KL_Q5_K = 13,
    KL_Q6_K = 14,
    KL_Q8_K = 15,
    KL_BF16 = 30
};

/* Elements per block (1 for F32/F16/BF16); 0 if the type is unknown/unsupported. */
int64_t kl_block_size(int type);
/* Bytes per block; 0 if unknown. */
int64_t kl_type_size(int type);
/* Bytes of a row of n elements (n must be a multiple of the block size); 0 if unknown or bad n. */
size_t kl_row_size(int type, int64_t n);

/* Activation format llama.cpp's CPU backend uses for weights of this type:
 * Q4_0,Q5_0,Q8_0 -> Q8_0; Q4_1,Q5_1 -> Q8_1; K-quants -> Q8_K;
 * F16 -> F16; BF16 -> BF16; F32 -> F32; -1 if unknown. */
int kl_vec_dot_type(int type);

/* Dequantize one row of n elements. Returns 0 on success, -1 for an unknown type or bad n. */
int kl_dequantize_row(int type, const void *src, float *dst, int64_t n);

/* Quantize one row (activation formats): Q8_0, Q8_1, Q8_K, F16, BF16, F32 (copy).
 * Returns 0 on success, -1 otherwise. Matches what ggml's x86 CPU backend executes. */
int kl_quantize_row(int type, const float *src, void *dst, int64_t n);

/* Dot product of one weight row (wtype) with one activation row that is already
 * in kl_vec_dot_type(wtype) format. n = row length in elements.
 * Same value as kl_gemm with n_a == 1 (for Q4_K: llama.cpp's repacked gemv, which
 * differs in the last bits from ggml_vec_dot_q4_K_q8_K). */
float kl_vec_dot(int wtype, int64_t n, const void *w, const void *a);

/* C[j*ldc + i] = dot(W row i, A row j) for i in [row_begin,row_end), j in [0,n_a).
 * W rows are w_row_bytes apart, A rows a_row_bytes apart (A in vec_dot_type format).
 * k = row length in elements. Tiled for n_a > 1; a plain GEMV for n_a == 1.
 * Results for the llama.cpp-exact types depend on n_a (see the top of this file). */
void kl_gemm(int wtype, int64_t k, const void *W, size_t w_row_bytes,
             int64_t row_begin, int64_t row_end,
             const void *A, size_t a_row_bytes, int64_t n_a,
             float *C, int64_t ldc);

/* llama.cpp's attention (flash attention off, F16 K cache, F16 transposed V cache, F32 mask)
 * for ONE query head, bit-identical to ggml's x86 AVX-512 CPU backend (see attention.c):
 *   out[i*out_stride + c], query i in [0,n_q), channel c in [0,dv).
 * q: n_q rows of d floats (RoPE'd and already scaled, e.g. by 1/16 for Gemma 3), q_stride floats
 *    apart; rounded to fp16 inside as ggml does.
 * k: n_kv rows of d fp16 keys, k_stride elements apart. v: n_kv rows of dv fp16 values, v_stride
 *    elements apart (row-major; llama.cpp's transposed-V product order is emulated).
 * n_kv_pad: llama.cpp's n_kv (the KV cache view length: min(cache size, max(256, pad256(used
 *    cells)))); rows [n_kv, n_kv_pad) count as zero K/V with a -INFINITY mask. It changes the
 *    softmax/dot reduction order, so pass llama.cpp's value (256 for <= 256 cached tokens).
 * mask: n_q rows of n_kv floats (0 or -INFINITY), mask_stride apart. kq_scale multiplies q.k
 *    before the mask (1.0 for Gemma 3).
 * n_tokens: tokens in llama.cpp's ubatch (ne11 of its KQ product): 1 selects ggml_vec_dot_f16,
 *    >= 2 llamafile tinyBLAS. Independent of how the caller splits the n_q rows.
 * scratch: kl_attention_llamacpp_scratch(n_kv_pad, d, dv) floats (with AVX-512 the batch path
 *    also holds V transposed and 32 rows of q and scores). */
size_t kl_attention_llamacpp_scratch(int n_kv_pad, int d, int dv);
/* The scratch a call with this n_tokens needs (less for one-token batches, which never take
 * the batch path). */
size_t kl_attention_llamacpp_scratch_for(int n_kv_pad, int d, int dv, int n_tokens);
/* kl_attention_llamacpp for n_heads query heads that share one K/V head (grouped-query
 * attention): head h reads q + h*q_head_stride and writes out + h*out_head_stride. The same bits
 * as one call per head; faster, as the batch path transposes V once for all of them. */
void kl_attention_llamacpp_heads(int n_heads, size_t q_head_stride, size_t out_head_stride,
                                 int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                 const float *q, size_t q_stride,
                                 const uint16_t *k, size_t k_stride,
                                 const uint16_t *v, size_t v_stride,
                                 const float *mask, size_t mask_stride, float kq_scale,
                                 int n_tokens, float *scratch, float *out, size_t out_stride);

/* Attention over the same fp16 K/V cache and mask layout, vectorised (AVX2/FMA/F16C, scalar
 * fallback) in no particular summation order: for CPUs where the exact emulation above has
 * no fast implementation. scores: 4 * n_kv floats of scratch (four query rows at a time). */
void kl_attention_f16_fast(int n_q, int n_kv, int d, int dv,
                           const float *q, size_t q_stride, const uint16_t *k, size_t k_stride,
                           const uint16_t *v, size_t v_stride, const float *mask, size_t mask_stride,
                           float kq_scale, float *scores, float *out, size_t out_stride);
/* 1 when kl_attention_llamacpp runs vectorised (AVX-512); elsewhere it is the scalar emulation. */
int kl_attention_llamacpp_is_fast(void);
void kl_attention_llamacpp(int n_q, int n_kv, int n_kv_pad, int d, int dv,
                           const float *q, size_t q_stride,
                           const uint16_t *k, size_t k_stride,
                           const uint16_t *v, size_t v_stride,
                           const float *mask, size_t mask_stride, float kq_scale,
                           int n_tokens, float *scratch, float *out, size_t out_stride);
/* The same in portable C, one element at a time (the specification the vector version is
 * tested against; used where AVX-512 is missing or d, dv are not multiples of 16). */
void kl_attention_llamacpp_reference(int n_q, int n_kv, int n_kv_pad, int d, int dv,
                                     const float *q, size_t q_stride,
                                     const uint16_t *k, size_t k_stride,
                                     const uint16_t *v, size_t v_stride,
                                     const float *mask, size_t mask_stride, float kq_scale,
                                     int n_tokens, float *scratch, float *out, size_t out_stride);

/* fp32 -> fp16 (round to nearest even) for a whole row (F16C where available). */
void kl_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n);

/* kl_gemm with the fastest kernels this CPU has: same quantized integer math, but integer
 * partial sums are combined across activation rows before the float step, so results differ
 * from llama.cpp's in the last bits. Used by the opt-in `llama.cpp-tiled` precision; kl_gemm
 * (the default) keeps llama.cpp's exact order. */
void kl_gemm_tiled(int wtype, int64_t k, const void *W, size_t w_row_bytes,
                   int64_t row_begin, int64_t row_end,
                   const void *A, size_t a_row_bytes, int64_t n_a,
                   float *C, int64_t ldc);

/* Weights repacked as int8 codes for several activation rows (gemm_packed_avx512.c; AVX-512
 * VNNI): 16 rows interleaved in the VNNI layout, so each block's integer dot products finish in
 * their lanes and one float step per 32-element block advances 16 output columns. 2-4x faster
 * than kl_gemm at 2+ activation rows; the float steps are in a different order from llama.cpp's
 * (last-bit differences). Types: Q4_0, Q5_0, Q8_0 (activations: Q8_0 rows), Q4_K, Q6_K
 * (activations: Q8_K rows), i.e. the activation type kl_vec_dot_type gives.
 * kl_packed_available: whether this weight type, CPU and KNOWLM_KERNELS_ISA allow it.
 * kl_pack: packs row groups [group_begin, group_end) (16 rows each) of a matrix into dst
 * (kl_packed_size bytes for the whole matrix; 0 for other types).
 * kl_packed_gemm: C[j * ldc + i] = row i . activation row j for the rows of groups
 * [group_begin, group_end). */
int    kl_packed_available(int wtype);
size_t kl_packed_size(int wtype, int64_t rows, int64_t k);
void   kl_pack(int wtype, const void *W, size_t w_row_bytes, int64_t rows, int64_t k,
               int64_t group_begin, int64_t group_end, void *dst);
void   kl_packed_gemm(int wtype, const void *P, int64_t rows, int64_t k, int64_t group_begin, int64_t group_end,
                      const void *A, size_t a_row_bytes, int64_t n_a, float *C, int64_t ldc);

/* IEEE half / bfloat16 conversions (round-to-nearest-even, like ggml). */
float    kl_fp16_to_fp32(uint16_t h);
uint16_t kl_fp32_to_fp16(float f);
float    kl_bf16_to_fp32(uint16_t h);
uint16_t kl_fp32_to_bf16(float f);

/* Float32 inner product (AVX-512 / AVX2+FMA / portable, picked at run time). */
float kl_dot_f32(const float *a, const float *b, size_t n);
/* Inner-product distances 1 - q.v for the rows ids[0..count) of base (row-major, dim floats). */
void kl_ip_distances(const float *q, const float *base, size_t dim, const int32_t *ids, int count, float *out);
/* The same over half-precision rows. */
void kl_ip_distances_f16(const float *q, const uint16_t *base, size_t dim, const int32_t *ids, int count, float *out);

/* Space-separated list of the ISA features the runtime dispatch picked,
 * e.g. "avx2 fma f16c avx512 vnni", or "scalar". */
const char *kl_cpu_features(void);

/* ggml's GELU table: gelu_tanh of every half-precision value, rounded to half (65536 entries). */
void kl_gelu_table_f16(uint16_t *table);

/* Rounds each value to the nearest half-precision number, in place (round to nearest even). */
void kl_round_to_half(float *x, int64_t n);


/* ---- BERT encoder steps (encoder.c) ---- */

/* x = gelu(x) with erf (BERT's GELU), in place; erf by a rational approximation (~2 ulp). */
void kl_gelu_erf(float *x, int64_t n);
/* The erf approximation kl_gelu_erf uses (for tests). */
float kl_erf_approx(float x);
/* x = layer_norm(x + residual) row by row (residual may be NULL). */
void kl_residual_layer_norm(float *x, const float *residual, int64_t rows, int64_t d,
                            const float *weight, const float *bias, float eps);

/* bfloat16 linear layers, out (m x n) = x (m x k) W^T + bias, float32 sums (AVX512_BF16 only:
 * kl_bf16_available). W is rounded and packed once with kl_bf16_pack (n a multiple of 16, k
 * of 2; returns -1 otherwise) into kl_bf16_packed_count(n, k) values; scratch holds
 * kl_bf16_scratch_count(k) values. bias may be NULL. kl_bf16_linear returns -1 (and writes
 * nothing) when the CPU lacks AVX512_BF16 or the sizes do not fit. */
int kl_bf16_available(void);
size_t kl_bf16_packed_count(int64_t n, int64_t k);
int kl_bf16_pack(const float *w, int64_t n, int64_t k, uint16_t *packed);
size_t kl_bf16_scratch_count(int64_t k);
int kl_bf16_linear(const float *x, int64_t m, int64_t k, const uint16_t *packed, const float *bias,
                   int64_t n, float *out, uint16_t *scratch);

/* ---- Thread pool (pool.c) ---- */

/* One part of a parallel loop: part in [0, parts). */
typedef void (*kl_pool_fn)(void *ctx, int part, int parts);

/* Runs fn(ctx, p, parts) once for every p, each part on the calling thread or a pool worker
 * (whichever claims it first; workers poll briefly between jobs, so back-to-back loops start
 * without a system call).
 * Returns 0 when done, or -1 without running anything when the pool is in use (another
 * thread's loop, or a call from inside a pool job) or unavailable: run the loop another way. */
int kl_pool_run(int parts, kl_pool_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* KNOWLM_KERNELS_H */
