#!/usr/bin/env python3
"""Checks that kl_attention_llamacpp is bit-identical to llama.cpp's attention
(flash attention off, F16 K cache, F16 transposed V cache) on gemma-3-270m.

For every requested layer and for prompts of 1, 6 and 38 tokens, plus a decode step
(37 tokens, then a 38th token by a second llama_decode in the same context), it
traces a real llama.cpp forward pass (cb_eval), takes Qcur-l (after RoPE), Kcur-l,
Vcur-l, builds the fp16 K/V cache contents from them (as ggml_set_rows does: RNE),
scales Q by 1/16 (Gemma 3's ggml_scale), builds the causal + sliding-window mask
(sliding layers: window 512), calls kl_attention_llamacpp per head and compares with
the trace's kqv_out-l ([n_tokens][n_head][dv]). Target: max |difference| exactly 0.

llama.cpp's n_kv (the padded KV view length) is min(cache cells, max(256, pad256(used)))
= 256 here (n_ctx 512).

Needs the venv with llama-cpp-python (default /work/refvenv) and libkl.so built with
  gcc -O3 -fno-math-errno -shared -fPIC -I Sources/CKernels/include \
      Sources/CKernels/*.c -o /tmp/libkl.so -lm

Usage: /work/refvenv/bin/python scripts/golden/check_llamacpp_attention_exact.py
         [--model PATH] [--lib /tmp/libkl.so] [--layers 0,1,...] [--trace-dir DIR]
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
TOK38 = [2, 818, 5279, 529, 7001, 563, 506, 5279, 529, 506, 2891, 529, 7001, 236761, 1030, 563, 506, 7488,
         3207, 528, 7001, 236761, 1030, 563, 506, 5279, 529, 506, 2891, 529, 7001, 236761, 1030, 563, 506,
         7488, 3207, 528]
# case name -> list of llama_decode calls (token lists); the LAST call is checked
CASES = {
    'prompt1': [TOK38[:1]],
    'prompt6': [TOK38[:6]],
    'prompt38': [TOK38],
    'decode37+1': [TOK38[:37], TOK38[37:]],
}
N_CTX = 512
N_KV_PAD = 256
N_SWA = 512
Q_SCALE = 1.0 / 16.0   # Gemma 3 270M: query_pre_attn_scalar = 256 -> 1/sqrt(256)

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
cp.n_ctx = int(sys.argv[4]); cp.n_threads = 2; cp.n_threads_batch = 2; cp.flash_attn_type = 0
cp.cb_eval = cbf; cp.cb_eval_user_data = None
ctx = llama_cpp.llama_init_from_model(model, cp)
out = {}
pos = 0
for ci, grp in enumerate(sys.argv[2].split(';')):
    toks = [int(x) for x in grp.split(',')]
    n = len(toks)
    batch = llama_cpp.llama_batch_init(n, 0, 1)
    batch.n_tokens = n
    for i, t in enumerate(toks):
        batch.token[i] = t; batch.pos[i] = pos + i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0
        batch.logits[i] = 1 if i == n - 1 else 0
    dump.clear()
    assert llama_cpp.llama_decode(ctx, batch) == 0
    llama_cpp.llama_batch_free(batch)
    pos += n
    for k, v in dump.items():
        out[f'c{ci}/{k}'] = v
np.savez(sys.argv[3], **out)
'''


def make_trace(model, name, calls, outdir):
    path = os.path.join(outdir, f'attn_{name}.npz')
    if not os.path.exists(path):
        src = os.path.join(outdir, 'attn_trace.py')
        with open(src, 'w') as f:
            f.write(TRACE_SRC)
        arg = ';'.join(','.join(map(str, c)) for c in calls)
        subprocess.run([sys.executable, src, model, arg, path, str(N_CTX)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = dict(np.load(path))
    ncalls = len(calls)
    return [{k.split('/', 1)[1]: v for k, v in d.items() if k.startswith(f'c{i}/')} for i in range(ncalls)]


def f16(x):
    return np.asarray(x, np.float32).astype(np.float16)   # numpy: round to nearest even, like F16C


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=MODEL)
    ap.add_argument('--lib', default='/tmp/libkl.so')
    ap.add_argument('--layers', default=None, help='comma-separated layer indices (default: all)')
    ap.add_argument('--trace-dir', default=None)
    args = ap.parse_args()

    import gguf
    reader = gguf.GGUFReader(args.model)
    fields = reader.fields

    def meta(key):
        f = fields[key]
        return f.parts[f.data[0]].tolist()

    arch = bytes(fields['general.architecture'].parts[-1]).decode()
    n_layer = int(meta(f'{arch}.block_count')[0])
    n_head = int(meta(f'{arch}.attention.head_count')[0])
    n_head_kv = int(meta(f'{arch}.attention.head_count_kv')[0])
    d = int(meta(f'{arch}.attention.key_length')[0])
    dv = int(meta(f'{arch}.attention.value_length')[0])
    swa_pattern = 6   # gemma3: every 6th layer is global (il % 6 == 5), others sliding
    layers = [int(x) for x in args.layers.split(',')] if args.layers else list(range(n_layer))

    lib = C.CDLL(args.lib)
    lib.kl_attention_llamacpp_scratch.restype = C.c_size_t
    lib.kl_attention_llamacpp_scratch.argtypes = [C.c_int, C.c_int, C.c_int]
    vp, sz = C.c_void_p, C.c_size_t
    lib.kl_attention_llamacpp.argtypes = [C.c_int, C.c_int, C.c_int, C.c_int, C.c_int, vp, sz, vp, sz, vp, sz,
                                          vp, sz, C.c_float, C.c_int, vp, vp, sz]
    tdir = args.trace_dir or tempfile.mkdtemp(prefix='kl_attntrace_')
    os.makedirs(tdir, exist_ok=True)

    failures = 0
    for case, calls in CASES.items():
        trs = make_trace(args.model, case, calls, tdir)
        worst = 0.0
        for l in layers:
            # the KV cache: every call's Kcur/Vcur in order
            Ks, Vs = [], []
            for tr in trs:
                Ks.append(tr[f'Kcur-{l}'].reshape(-1, n_head_kv, d))
                Vs.append(tr[f'Vcur-{l}'].reshape(-1, n_head_kv, dv))
            K = f16(np.concatenate(Ks)).view(np.uint16)
            V = f16(np.concatenate(Vs)).view(np.uint16)
            n_kv = K.shape[0]
            last = trs[-1]
            Q = last[f'Qcur-{l}'].reshape(-1, n_head, d) * np.float32(Q_SCALE)
            n_tok = Q.shape[0]
            ref = last[f'kqv_out-{l}'].reshape(n_tok, n_head, dv)
            pos0 = n_kv - n_tok
            swa = (l % swa_pattern) != swa_pattern - 1
            mask = np.full((n_tok, n_kv), -np.inf, np.float32)
            for i in range(n_tok):
                p = pos0 + i
                for j in range(n_kv):
                    if j <= p and (not swa or p - j < N_SWA):
                        mask[i, j] = 0.0
            out = np.full((n_tok, n_head, dv), np.nan, np.float32)
            scratch = np.zeros(lib.kl_attention_llamacpp_scratch(N_KV_PAD, d, dv), np.float32)
            for h in range(n_head):
                hk = h // (n_head // n_head_kv)
                Kh = np.ascontiguousarray(K[:, hk, :])
                Vh = np.ascontiguousarray(V[:, hk, :])
                Qh = np.ascontiguousarray(Q[:, h, :])
                oh = np.zeros((n_tok, dv), np.float32)
                lib.kl_attention_llamacpp(n_tok, n_kv, N_KV_PAD, d, dv, Qh.ctypes.data, d, Kh.ctypes.data, d,
                                          Vh.ctypes.data, dv, mask.ctypes.data, n_kv, 1.0, n_tok,
                                          scratch.ctypes.data, oh.ctypes.data, dv)
                out[:, h, :] = oh
            diff = float(np.abs(out - ref).max())
            worst = max(worst, diff)
            if diff != 0:
                failures += 1
                print(f'  {case:11s} layer {l:2d} ({"swa" if swa else "global"}): max|diff| = {diff:.3g}')
        print(f'{case:11s} (n_tokens={len(calls[-1]):2d}, n_kv={sum(map(len, calls)):2d}): layers {layers[0]}..{layers[-1]} '
              f'max |kl - llama.cpp kqv_out| = {worst:.3g}')
    print('OK: bit-identical' if failures == 0 else f'FAIL: {failures} (case, layer) pairs differ')
    return 0 if failures == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
