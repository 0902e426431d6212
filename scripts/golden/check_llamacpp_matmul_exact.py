#!/usr/bin/env python3
"""Checks that KnowLM's C kernels (kl_gemm / kl_vec_dot) are bit-identical to
llama.cpp's CPU backend on the default model's weight matrices.

For every quantized weight matrix of gemma-3-270m-q4_k_m.gguf (Q8_0, Q5_0, Q4_K,
Q6_K) and for batches of n = 1, 6 and 38 activation rows taken from a real
llama.cpp forward pass (the matrix's real input tensor, captured with the
cb_eval callback), it computes

  * llama.cpp: a one-node ggml graph, mul_mat(W, X) with f32 X, run by the CPU
    backend exactly as llama.cpp runs it: weights that llama.cpp puts in the
    CPU_REPACK buffer (Q4_K here) are allocated in that buffer type, so the
    repacked gemv/gemm kernels run; the rest use the plain CPU buffer (vec_dot,
    llamafile tinyBLAS, or the tiled K-quant kernel, as ggml picks by batch size);
  * KnowLM: kl_quantize_row for each activation row, then kl_gemm (whole matrix,
    and again in uneven row ranges, as the runtime's threads call it), and
    kl_vec_dot for the first rows at n = 1;

and prints max |difference| per matrix and batch size. Target: exactly 0.
The oracle is cross-checked against the traced llama.cpp outputs where the
trace holds the matmul's output under a known name.

Needs the venv with llama-cpp-python (default /work/refvenv) and libkl.so built with
  gcc -O3 -fno-math-errno -shared -fPIC -I Sources/CKernels/include \
      Sources/CKernels/*.c -o /tmp/libkl.so -lm

Usage: /work/refvenv/bin/python scripts/golden/check_llamacpp_matmul_exact.py
         [--model PATH] [--lib /tmp/libkl.so] [--layers 0,1,2,...] [--quick]
Exit status 0 when every difference is 0.
"""
import argparse
import ctypes as C
import os
import subprocess
import sys
import tempfile

import numpy as np

MODEL = '/root/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf'
TOKENS = {
    1: [2],
    6: [2, 818, 5279, 529, 7001, 563],
    38: [2, 818, 3823, 8864, 37423, 38167, 1024, 506, 31770, 4799, 236761, 30036, 21338, 3371, 20880, 607,
         46271, 3381, 236764, 532, 496, 1944, 5192, 2028, 740, 1676, 1091, 531, 3890, 4137, 1003, 506, 1902,
         236761, 818, 3823, 8864, 37423],
}
TYPE_NAMES = {0: 'F32', 2: 'Q4_0', 6: 'Q5_0', 8: 'Q8_0', 12: 'Q4_K', 14: 'Q6_K'}

# ----------------------------------------------------------------------------- trace
TRACE_SRC = r'''
import ctypes as C, numpy as np, llama_cpp, sys
L = llama_cpp.__path__[0] + '/lib/'
base = C.CDLL(L + 'libggml-base.so', mode=C.RTLD_GLOBAL)
base.ggml_get_name.restype = C.c_char_p; base.ggml_get_name.argtypes = [C.c_void_p]
base.ggml_nelements.restype = C.c_int64; base.ggml_nelements.argtypes = [C.c_void_p]
base.ggml_get_data_f32.restype = C.POINTER(C.c_float); base.ggml_get_data_f32.argtypes = [C.c_void_p]
base.ggml_is_contiguous.restype = C.c_bool; base.ggml_is_contiguous.argtypes = [C.c_void_p]
dump = {}
CB = C.CFUNCTYPE(C.c_bool, C.c_void_p, C.c_bool, C.c_void_p)
def cb(t, ask, ud):
    if ask: return True
    name = base.ggml_get_name(t).decode()
    if C.cast(t, C.POINTER(C.c_int))[0] == 0 and base.ggml_is_contiguous(t):
        p = base.ggml_get_data_f32(t)
        if p: dump[name] = np.ctypeslib.as_array(p, shape=(base.ggml_nelements(t),)).copy()
    return True
cbf = CB(cb)
llama_cpp.llama_backend_init()
mp = llama_cpp.llama_model_default_params()
model = llama_cpp.llama_model_load_from_file(sys.argv[1].encode(), mp)
cp = llama_cpp.llama_context_default_params()
cp.n_ctx = 512; cp.n_threads = 2; cp.n_threads_batch = 2; cp.cb_eval = cbf; cp.cb_eval_user_data = None
ctx = llama_cpp.llama_init_from_model(model, cp)
toks = [int(x) for x in sys.argv[2].split(',')]
arr = (llama_cpp.llama_token * len(toks))(*toks)
assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(toks))) == 0
np.savez(sys.argv[3], **dump)
'''


def make_trace(model, n, outdir):
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, f'trace{n}.npz')
    if not os.path.exists(path):
        src = os.path.join(outdir, 'trace.py')
        with open(src, 'w') as f:
            f.write(TRACE_SRC)
        subprocess.run([sys.executable, src, model, ','.join(map(str, TOKENS[n])), path], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return dict(np.load(path))


# ----------------------------------------------------------------------------- ggml oracle
class Oracle:
    REPACK_TYPES = {2, 10, 12}   # Q4_0, Q2_K, Q4_K: put in CPU_REPACK by llama.cpp on AVX2/AVX-512 CPUs

    def __init__(self):
        import llama_cpp
        L = llama_cpp.__path__[0] + '/lib/'
        self.base = b = C.CDLL(L + 'libggml-base.so', mode=C.RTLD_GLOBAL)
        self.cpu = c = C.CDLL(L + 'libggml-cpu.so', mode=C.RTLD_GLOBAL)
        vp = C.c_void_p

        class InitParams(C.Structure):
            _fields_ = [('mem_size', C.c_size_t), ('mem_buffer', vp), ('no_alloc', C.c_bool)]
        self.InitParams = InitParams
        b.ggml_init.restype = vp; b.ggml_init.argtypes = [InitParams]
        b.ggml_new_tensor_2d.restype = vp; b.ggml_new_tensor_2d.argtypes = [vp, C.c_int, C.c_int64, C.c_int64]
        b.ggml_mul_mat.restype = vp; b.ggml_mul_mat.argtypes = [vp, vp, vp]
        b.ggml_new_graph.restype = vp; b.ggml_new_graph.argtypes = [vp]
        b.ggml_build_forward_expand.argtypes = [vp, vp]
        b.ggml_backend_alloc_ctx_tensors_from_buft.restype = vp
        b.ggml_backend_alloc_ctx_tensors_from_buft.argtypes = [vp, vp]
        b.ggml_backend_tensor_set.argtypes = [vp, vp, C.c_size_t, C.c_size_t]
        b.ggml_backend_tensor_get.argtypes = [vp, vp, C.c_size_t, C.c_size_t]
        b.ggml_backend_graph_compute.argtypes = [vp, vp]; b.ggml_backend_graph_compute.restype = C.c_int
        b.ggml_backend_cpu_buffer_type.restype = vp
        b.ggml_backend_buffer_free.argtypes = [vp]
        b.ggml_free.argtypes = [vp]
        c.ggml_backend_cpu_init.restype = vp
        c.ggml_backend_cpu_set_n_threads.argtypes = [vp, C.c_int]
        self.repack_buft = getattr(c, '_Z35ggml_backend_cpu_repack_buffer_typev')
        self.repack_buft.restype = vp
        c.ggml_cpu_init()
        self.backend = c.ggml_backend_cpu_init()
        c.ggml_backend_cpu_set_n_threads(self.backend, 2)

    def matmul(self, wtype, wbytes, nrows, k, X):
        """(n, nrows) f32 result of llama.cpp's mul_mat(W, X)."""
        b = self.base
        X = np.ascontiguousarray(X, dtype=np.float32)
        n = X.shape[0]
        wbytes = np.ascontiguousarray(wbytes)
        repack = wtype in self.REPACK_TYPES and nrows % 8 == 0
        cw = b.ggml_init(self.InitParams(1 << 20, None, True))
        W = b.ggml_new_tensor_2d(cw, wtype, k, nrows)
        bw = b.ggml_backend_alloc_ctx_tensors_from_buft(cw, self.repack_buft() if repack else b.ggml_backend_cpu_buffer_type())
        b.ggml_backend_tensor_set(W, wbytes.ctypes.data, 0, wbytes.nbytes)
        cx = b.ggml_init(self.InitParams(1 << 20, None, True))
        Xt = b.ggml_new_tensor_2d(cx, 0, k, n)
        Y = b.ggml_mul_mat(cx, W, Xt)
        gf = b.ggml_new_graph(cx)
        b.ggml_build_forward_expand(gf, Y)
        bx = b.ggml_backend_alloc_ctx_tensors_from_buft(cx, b.ggml_backend_cpu_buffer_type())
        b.ggml_backend_tensor_set(Xt, X.ctypes.data, 0, X.nbytes)
        assert b.ggml_backend_graph_compute(self.backend, gf) == 0
        out = np.empty((n, nrows), np.float32)
        b.ggml_backend_tensor_get(Y, out.ctypes.data, 0, out.nbytes)
        b.ggml_backend_buffer_free(bx); b.ggml_backend_buffer_free(bw)
        b.ggml_free(cx); b.ggml_free(cw)
        return out


# ----------------------------------------------------------------------------- KnowLM kernels
class KL:
    def __init__(self, path):
        self.lib = l = C.CDLL(path)
        l.kl_row_size.restype = C.c_size_t; l.kl_row_size.argtypes = [C.c_int, C.c_int64]
        l.kl_vec_dot_type.restype = C.c_int
        l.kl_vec_dot.restype = C.c_float
        l.kl_vec_dot.argtypes = [C.c_int, C.c_int64, C.c_void_p, C.c_void_p]
        l.kl_quantize_row.argtypes = [C.c_int, C.c_void_p, C.c_void_p, C.c_int64]
        l.kl_gemm.argtypes = [C.c_int, C.c_int64, C.c_void_p, C.c_size_t, C.c_int64, C.c_int64,
                              C.c_void_p, C.c_size_t, C.c_int64, C.c_void_p, C.c_int64]
        l.kl_cpu_features.restype = C.c_char_p

    def quantize(self, wtype, X):
        at = self.lib.kl_vec_dot_type(wtype)
        n, k = X.shape
        rs = self.lib.kl_row_size(at, k)
        A = np.zeros((n, rs), np.uint8)
        X = np.ascontiguousarray(X, dtype=np.float32)
        for j in range(n):
            assert self.lib.kl_quantize_row(at, X[j].ctypes.data, A[j].ctypes.data, k) == 0
        return A

    def gemm(self, wtype, wbytes, nrows, k, A, ranges=None):
        n = A.shape[0]
        out = np.full((n, nrows), np.nan, np.float32)
        wb = np.ascontiguousarray(wbytes)
        for r0, r1 in (ranges or [(0, nrows)]):
            self.lib.kl_gemm(wtype, k, wb.ctypes.data, wb.shape[1], r0, r1, A.ctypes.data, A.shape[1], n,
                             out.ctypes.data, nrows)
        return out

    def vec_dot(self, wtype, wbytes, k, A, rows):
        return np.array([self.lib.kl_vec_dot(wtype, k, np.ascontiguousarray(wbytes[i]).ctypes.data, A[0].ctypes.data)
                         for i in rows], np.float32)


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=MODEL)
    ap.add_argument('--lib', default='/tmp/libkl.so')
    ap.add_argument('--layers', default=None, help='comma-separated layer indices (default: all)')
    ap.add_argument('--quick', action='store_true', help='layers 0,1,2 and no output matrix')
    ap.add_argument('--trace-dir', default=None)
    args = ap.parse_args()

    import gguf
    reader = gguf.GGUFReader(args.model)
    T = {t.name: t for t in reader.tensors}
    nlayers = 1 + max(int(n.split('.')[1]) for n in T if n.startswith('blk.'))
    layers = [0, 1, 2] if args.quick else (
        [int(x) for x in args.layers.split(',')] if args.layers else list(range(nlayers)))

    oracle = Oracle()
    kl = KL(args.lib)
    print('KnowLM kernels ISA:', kl.lib.kl_cpu_features().decode())
    tdir = args.trace_dir or tempfile.mkdtemp(prefix='kl_lltrace_')
    traces = {n: make_trace(args.model, n, tdir) for n in TOKENS}

    # (weight, input activation, traced output name or None)
    jobs = []
    for l in layers:
        jobs += [(f'blk.{l}.attn_q.weight', f'attn_norm-{l}', None),
                 (f'blk.{l}.attn_k.weight', f'attn_norm-{l}', None),
                 (f'blk.{l}.attn_v.weight', f'attn_norm-{l}', f'Vcur-{l}'),
                 (f'blk.{l}.attn_output.weight', f'kqv_out-{l}', None),
                 (f'blk.{l}.ffn_gate.weight', f'ffn_norm-{l}', f'ffn_gate-{l}'),
                 (f'blk.{l}.ffn_up.weight', f'ffn_norm-{l}', f'ffn_up-{l}'),
                 (f'blk.{l}.ffn_down.weight', f'ffn_geglu-{l}', f'ffn_out-{l}')]
    if not args.quick:
        jobs.append(('token_embd.weight', None, 'result_output'))

    worst = {}
    failures = 0
    for wname, xname, yname in jobs:
        t = T[wname]
        wt = int(t.tensor_type)
        wb = np.ascontiguousarray(t.data)
        nrows, k = int(t.shape[1]), int(t.shape[0])
        for n, tr in traces.items():
            if xname is None:   # output matrix: llama.cpp only computes the last token's logits
                X = tr['result_norm'].reshape(-1, k) if n == 1 else tr[f'attn_norm-{layers[-1]}'].reshape(n, k)
                ref_trace = tr['result_output'].reshape(1, nrows) if n == 1 else None
            else:
                X = tr[xname].reshape(-1, k)
                ref_trace = tr[yname].reshape(-1, nrows) if yname and yname in tr else None
                if X.shape[0] < n:
                    # last layer: llama.cpp keeps only the output token after attention;
                    # use the previous layer's input of the same kind (real activations)
                    name, l = xname.rsplit('-', 1)
                    X = tr[f'{name}-{int(l) - 1}'].reshape(n, k)
                    ref_trace = None
            Y = oracle.matmul(wt, wb, nrows, k, X)
            trace_note = ''
            if ref_trace is not None:
                dt = float(np.abs(Y - ref_trace).max())
                trace_note = f'  (oracle vs trace {dt:.3g})'
                if dt != 0:
                    failures += 1
            A = kl.quantize(wt, X)
            Z = kl.gemm(wt, wb, nrows, k, A)
            # uneven row ranges, as the runtime's worker threads call kl_gemm
            cuts = sorted({0, nrows, min(nrows, 16), min(nrows, 80), min(nrows, 83), nrows // 2 + 5, max(0, nrows - 3)})
            Zr = kl.gemm(wt, wb, nrows, k, A, ranges=list(zip(cuts[:-1], cuts[1:])))
            d = float(np.abs(Z - Y).max())
            dr = float(np.abs(Zr - Y).max()) if not np.isnan(Zr).any() else float('nan')
            msg = f'{TYPE_NAMES.get(wt, wt):5s} {wname:28s} n={n:3d}  max|kl_gemm - llama.cpp| = {d:.3g}  ranges {dr:.3g}'
            if n == 1:
                rows = list(range(min(nrows, 24)))
                dv = float(np.abs(kl.vec_dot(wt, wb, k, A, rows) - Y[0, rows]).max())
                msg += f'  vec_dot {dv:.3g}'
                if dv != 0:
                    failures += 1
            print(msg + trace_note, flush=True)
            if d != 0 or not (dr == 0):
                failures += 1
            key = (TYPE_NAMES.get(wt, wt), n)
            worst[key] = max(worst.get(key, 0.0), d, dr if dr == dr else float('inf'))
    print('\nmax |difference| per weight type and batch size:')
    for (ty, n), v in sorted(worst.items()):
        print(f'  {ty:5s} n={n:3d}: {v:.3g}')
    print('RESULT:', 'bit-identical' if failures == 0 else f'{failures} mismatching cases')
    return 0 if failures == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
