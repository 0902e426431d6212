#!/usr/bin/env python3
"""
make_kernel_goldens.py - golden data for the CKernels library (KnowLM-Swift).

Run with the reference venv (needs `gguf` and `numpy`):

    /work/refvenv/bin/python scripts/golden/make_kernel_goldens.py \
        [--model ~/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf] \
        [--out Tests/KnowLMRuntimeTests/Fixtures/kernels]

Output (all little-endian, no headers):

  index.json   {"version": 1, "cases": [...]}   (canonical index)
  index.txt    the same cases, one per line, `key=value` tokens (for the C harness)

  Case kind "dot" (one weight type):
    type, atype        GGML type ids of the weights and of the activation format
                       (kl_vec_dot_type(type))
    n, rows, n_a       row length, number of weight rows, number of activation rows
    source             "model:<tensor>" (real rows from the GGUF) or "random"
    w      <name>.w.u8      rows weight rows, raw GGUF block bytes (random cases; the real-row
                             cases of the default model record model_rows + FNV-1a 64 hashes of
                             the rows and of their dequantization instead, and are left out of
                             index.txt: no model weights are committed)
    deq    <name>.deq.f32    rows x n float32 = gguf.quants.dequantize(w)  (must match bit for bit)
    x      <name>.x.f32      n_a x n float32 activations
    a      <name>.a.u8      n_a rows of x quantized to atype, as ggml's x86 CPU backend does
                             (see quantize_* below; kl_quantize_row must reproduce it exactly)
    expect <name>.dot.f64    n_a x rows float64: expect[j][i] = dot(W row i, A row j), computed in
                             float64 from the dequantized weights and dequantized activations
                             (Q4_1/Q5_1: d*da*sum(q*a) + m*s with the stored fp16 s, as ggml does)
    tol    <name>.tol.f64    n_a x rows float64 absolute tolerance
                             = 1e-5 * sum|w_k a_k| + 1e-6 (float32 summation-order slack)

  Case kind "quant" (activation quantization of random floats, incl. edge cases):
    type, n, rows
    x      <name>.x.f32      rows x n float32 input
    q      <name>.q.u8      expected bytes of kl_quantize_row(type, x, n) per row

Activation quantizers reimplemented here (numpy, float32 arithmetic):
  Q8_0/Q8_1: the x86 AVX2 quantize_row_q8_0/q8_1 that ggml runs on AVX2/AVX-512 machines:
             d = amax/127 (fp16), id = 127/amax, q = round-half-even(x*id) (_mm256_round_ps);
             Q8_1 s = fp16(d * sum(q)) with the float d. (The portable reference
             quantize_row_q8_0_ref uses id = 1/d and roundf; the script checks that this
             variant agrees with gguf.quants.quantize(Q8_0) and reports how often the two differ.)
  Q8_K:      quantize_row_q8_K_ref (what x86 runs): max = signed value of the first element with
             the largest |x|, iscale = -127/max, q = min(127, nearest_int(iscale*x)), d = 1/iscale,
             bsums = sums of 16; an all-zero block is all zero.
  F16:       IEEE round-to-nearest-even (numpy astype float16 == F16C).
  BF16:      gguf.quants BF16 (== ggml_compute_fp32_to_bf16).
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import quants as Q

F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 = 0, 1, 2, 3, 6, 7, 8, 9
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, BF16 = 10, 11, 12, 13, 14, 15, 30
NAMES = {F32: "f32", F16: "f16", BF16: "bf16", Q4_0: "q4_0", Q4_1: "q4_1", Q5_0: "q5_0",
         Q5_1: "q5_1", Q8_0: "q8_0", Q8_1: "q8_1", Q2_K: "q2_K", Q3_K: "q3_K", Q4_K: "q4_K",
         Q5_K: "q5_K", Q6_K: "q6_K", Q8_K: "q8_K"}
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q4_0: (32, 18), Q4_1: (32, 20), Q5_0: (32, 22),
         Q5_1: (32, 24), Q8_0: (32, 34), Q8_1: (32, 36), Q2_K: (256, 84), Q3_K: (256, 110),
         Q4_K: (256, 144), Q5_K: (256, 176), Q6_K: (256, 210), Q8_K: (256, 292)}
VEC_DOT = {F32: F32, F16: F16, BF16: BF16, Q4_0: Q8_0, Q5_0: Q8_0, Q8_0: Q8_0, Q4_1: Q8_1,
           Q5_1: Q8_1, Q2_K: Q8_K, Q3_K: Q8_K, Q4_K: Q8_K, Q5_K: Q8_K, Q6_K: Q8_K}

f32 = np.float32


def row_bytes(t, n):
    bs, ts = BLOCK[t]
    assert n % bs == 0
    return n // bs * ts


# ----------------------------------------------------------------------------- quantizers

def quantize_q8_0_x86(x, with_sum=False):
    """x: (m, n) float32 -> (m, row_bytes) uint8, ggml x86 quantize_row_q8_0 / q8_1."""
    m, n = x.shape
    b = x.reshape(-1, 32).astype(f32)
    amax = np.abs(b).max(axis=1)
    d = (amax / f32(127)).astype(f32)
    with np.errstate(divide="ignore"):
        idv = np.where(amax != 0, f32(127) / amax, f32(0)).astype(f32)
    q = np.rint((b * idv[:, None]).astype(f32)).astype(np.int32)
    assert np.abs(q).max() <= 127
    parts = [d.astype(np.float16).view(np.uint8).reshape(-1, 2)]
    if with_sum:
        s = (d * q.sum(axis=1).astype(f32)).astype(f32)
        parts.append(s.astype(np.float16).view(np.uint8).reshape(-1, 2))
    parts.append(q.astype(np.int8).view(np.uint8))
    return np.concatenate(parts, axis=1).reshape(m, -1)


def quantize_q8_0_ref(x):
    """ggml quantize_row_q8_0_ref (id = 1/d, roundf) - used only to validate against gguf."""
    b = x.reshape(-1, 32).astype(f32)
    amax = np.abs(b).max(axis=1)
    d = (amax / f32(127)).astype(f32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, f32(1) / d, f32(0)).astype(f32)
    v = (b * idv[:, None]).astype(f32)
    q = (np.sign(v) * np.floor(np.abs(v) + f32(0.5))).astype(np.int8)  # roundf
    return np.concatenate([d.astype(np.float16).view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1)


def quantize_q8_K(x):
    m, n = x.shape
    out = []
    for blk in x.reshape(-1, 256).astype(f32):
        a = np.abs(blk)
        j = int(np.argmax(a))          # first occurrence, like `if (ax > amax)`
        amax = a[j]
        if amax == 0:
            out.append(np.zeros(292, np.uint8))
            continue
        iscale = f32(f32(-127) / blk[j])
        v = np.rint((iscale * blk).astype(f32)).astype(np.int32)   # nearest_int: half-even
        q = np.minimum(v, 127).astype(np.int8)
        bsums = q.astype(np.int32).reshape(16, 16).sum(axis=1).astype(np.int16)
        d = f32(f32(1) / iscale)
        out.append(np.concatenate([np.array([d], f32).view(np.uint8), q.view(np.uint8),
                                   bsums.view(np.uint8)]))
    return np.stack(out).reshape(m, -1)


def quantize_act(t, x):
    if t == Q8_0:
        return quantize_q8_0_x86(x)
    if t == Q8_1:
        return quantize_q8_0_x86(x, with_sum=True)
    if t == Q8_K:
        return quantize_q8_K(x)
    if t == F16:
        return x.astype(np.float16).view(np.uint8).reshape(x.shape[0], -1)
    if t == BF16:
        return Q.quantize(x, QT.BF16).reshape(x.shape[0], -1)
    if t == F32:
        return x.astype(f32).view(np.uint8).reshape(x.shape[0], -1)
    raise ValueError(t)


def dequant_act(t, a, n):
    m = a.shape[0]
    if t in (Q8_0, Q8_1):
        bs = 34 if t == Q8_0 else 36
        b = a.reshape(-1, bs)
        d = b[:, :2].copy().view(np.float16).astype(f32)
        q = b[:, bs - 32:].copy().view(np.int8).astype(f32)
        return (q * d).reshape(m, n)
    if t == Q8_K:
        b = a.reshape(-1, 292)
        d = b[:, :4].copy().view(f32)
        q = b[:, 4:260].copy().view(np.int8).astype(f32)
        return (q * d).reshape(m, n)
    if t == F16:
        return a.copy().view(np.float16).astype(f32).reshape(m, n)
    if t == BF16:
        return Q.dequantize(a.reshape(-1), QT.BF16).reshape(m, n)
    if t == F32:
        return a.copy().view(f32).reshape(m, n)
    raise ValueError(t)


def dequant_w(t, w, n):
    rows = w.shape[0]
    if t == F32:
        return w.copy().view(f32).reshape(rows, n)
    return Q.dequantize(w.reshape(-1), QT(t)).astype(f32).reshape(rows, n)


# ----------------------------------------------------------------------------- weights

def fp16_bytes(vals):
    return np.asarray(vals, np.float16).view(np.uint8)


def random_weights(t, rows, n, rng):
    """Random rows of type t: gguf quantization where supported, else random bytes with sane fp16 scales."""
    if t in (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, F16, BF16):
        x = (rng.standard_normal((rows, n)) * 0.05).astype(f32)
        if t == Q4_1 or t == Q5_1:
            x += f32(0.02)
        return np.asarray(Q.quantize(x, QT(t))).view(np.uint8).reshape(rows, -1)
    if t == F32:
        return (rng.standard_normal((rows, n)) * 0.05).astype(f32).view(np.uint8).reshape(rows, -1)
    bs, ts = BLOCK[t]
    nb = rows * n // bs
    raw = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    d = fp16_bytes(rng.uniform(2e-4, 2e-3, nb)).reshape(nb, 2)
    dmin = fp16_bytes(rng.uniform(2e-4, 2e-3, nb)).reshape(nb, 2)
    if t == Q2_K:
        raw[:, 80:82], raw[:, 82:84] = d, dmin
    elif t == Q3_K:
        raw[:, 108:110] = d
    elif t in (Q4_K, Q5_K):
        raw[:, 0:2], raw[:, 2:4] = d, dmin
    elif t == Q6_K:
        raw[:, 208:210] = d
    return raw.reshape(rows, -1)


def model_rows(reader, tensor_name, rows, rng):
    t = next(x for x in reader.tensors if x.name == tensor_name)
    data = np.asarray(t.data)
    idx = np.sort(rng.choice(data.shape[0], size=rows, replace=False))
    return int(t.tensor_type), np.ascontiguousarray(data[idx]).view(np.uint8), int(t.shape[0]), [int(i) for i in idx]


# ----------------------------------------------------------------------------- activations

def random_acts(n_a, n, rng, zero_block=0):
    x = rng.standard_normal((n_a, n)).astype(f32)
    x[:, ::17] *= f32(4.0)                    # a few outliers
    if zero_block and n >= zero_block:
        x[n_a - 1, :zero_block] = 0.0        # an all-zero block in the last row
    return x


def tie_block(n, sign_max=+1.0):
    """Rows whose quantization hits exact .5 ties (amax = 127 -> id = 1, iscale = -+1)."""
    x = np.zeros(n, f32)
    x[0] = f32(127.0 * sign_max)
    x[1:] = (np.arange(1, n) % 50 - 25 + 0.5).astype(f32)
    return x


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                  "Tests", "KnowLMRuntimeTests", "Fixtures", "kernels"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240611)
    cases = []

    def save(name, suffix, arr):
        fn = f"{name}.{suffix}"
        np.ascontiguousarray(arr).tofile(os.path.join(out, fn))
        return fn

    def fnv1a64(b):
        h = 0xcbf29ce484222325
        for x in bytes(b):
            h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        return "%016x" % h

    def dot_case(name, t, w, n, source, n_a=5, model_rows=None):
        at = VEC_DOT[t]
        rows = w.shape[0]
        assert w.shape[1] == row_bytes(t, n)
        deq = dequant_w(t, w, n)
        bs = BLOCK[at][0]
        x = random_acts(n_a, n, rng, zero_block=bs if bs > 1 else 0)
        a = quantize_act(at, x)
        assert a.shape[1] == row_bytes(at, n)
        da = dequant_act(at, a, n).astype(np.float64)
        dw = deq.astype(np.float64)
        expect = da @ dw.T
        scale = np.abs(da) @ np.abs(dw).T
        if t in (Q4_1, Q5_1):
            # ggml: sum_b d*da*sum(q*a) + m*s   (s = stored fp16 of da*sum(a))
            wb = w.reshape(rows, -1, BLOCK[t][1])
            d = wb[:, :, 0:2].copy().view(np.float16).astype(np.float64)[..., 0]
            m = wb[:, :, 2:4].copy().view(np.float16).astype(np.float64)[..., 0]
            ab = a.reshape(n_a, -1, 36)
            dA = ab[:, :, 0:2].copy().view(np.float16).astype(np.float64)[..., 0]
            sA = ab[:, :, 2:4].copy().view(np.float16).astype(np.float64)[..., 0]
            qa = ab[:, :, 4:].copy().view(np.int8).astype(np.float64)              # n_a, nb, 32
            qw = (dw - np.repeat(m, 32, axis=1)) / np.repeat(d, 32, axis=1)         # exact small ints
            qw = np.rint(qw).reshape(rows, -1, 32)
            isum = np.einsum("jbk,ibk->jib", qa, qw)
            expect = np.einsum("jib,ib,jb->ji", isum, d, dA) + np.einsum("ib,jb->ji", m, sA)
            scale = np.einsum("jib,ib,jb->ji", np.abs(isum), np.abs(d), np.abs(dA)) \
                + np.einsum("ib,jb->ji", np.abs(m), np.abs(sA))
        tol = 1e-5 * scale + 1e-6
        c = {"kind": "dot", "name": name, "type": t, "atype": at, "n": n, "rows": rows, "n_a": n_a,
             "source": source}
        if model_rows is not None:
            # real weights are not committed: the tests read these rows from the installed model
            c.update(model_rows=model_rows, w_fnv1a64=fnv1a64(np.ascontiguousarray(w).tobytes()),
                     deq_fnv1a64=fnv1a64(np.ascontiguousarray(deq.astype(f32)).tobytes()))
        else:
            c.update(w=save(name, "w.u8", w), deq=save(name, "deq.f32", deq.astype(f32)))
        c.update({"x": save(name, "x.f32", x), "a": save(name, "a.u8", a),
             "expect": save(name, "dot.f64", expect.astype(np.float64)),
             "tol": save(name, "tol.f64", tol.astype(np.float64))})
        cases.append(c)

    # --- real rows from the model (the types the default model uses)
    if os.path.exists(args.model):
        reader = gguf.GGUFReader(args.model)
        by_type = {}
        for tn in reader.tensors:
            tt = int(tn.tensor_type)
            if tt in (Q8_0, Q5_0, Q4_K, Q6_K) and len(tn.shape) == 2:
                # prefer wide rows for K-quants, token_embd for Q8_0
                key = tt
                if key not in by_type or (tt == Q8_0 and tn.name == "token_embd.weight") or \
                        (tt in (Q4_K, Q6_K) and int(tn.shape[0]) > by_type[key][1]):
                    by_type[key] = (tn.name, int(tn.shape[0]))
        for tt in (Q8_0, Q5_0, Q4_K, Q6_K):
            tname = by_type[tt][0]
            t, w, n, idx = model_rows(reader, tname, 5, rng)
            dot_case(f"model_{NAMES[t]}", t, w, n, f"model:{tname}", model_rows=idx)
    else:
        print(f"warning: model {args.model} not found; skipping real-row cases", file=sys.stderr)

    # --- random rows for every supported type (odd block counts exercise tails)
    for t, n in ((Q4_0, 352), (Q4_1, 352), (Q5_0, 352), (Q5_1, 352), (Q8_0, 352),
                 (Q2_K, 512), (Q3_K, 512), (Q4_K, 512), (Q5_K, 512), (Q6_K, 768),
                 (F16, 203), (BF16, 203), (F32, 203)):
        w = random_weights(t, 5, n, rng)
        dot_case(f"rand_{NAMES[t]}", t, w, n, "random")

    # --- activation quantization goldens
    def quant_case(t, n, rows_x):
        name = f"quant_{NAMES[t]}"
        q = quantize_act(t, rows_x)
        cases.append({"kind": "quant", "name": name, "type": t, "n": n, "rows": rows_x.shape[0],
                      "x": save(name, "x.f32", rows_x), "q": save(name, "q.u8", q)})
        return q

    n = 512
    xs = [random_acts(1, n, rng)[0], (rng.standard_normal(n) * 1e-3).astype(f32),
          tie_block(n, +1.0), tie_block(n, -1.0), np.zeros(n, f32),
          (rng.standard_normal(n) * 30).astype(f32)]
    xq = np.stack(xs)
    for t in (Q8_0, Q8_1, Q8_K, F16, BF16):
        quant_case(t, n, xq)

    # sanity: the reference-variant numpy Q8_0 equals gguf's (bit-exact reference port)
    ref = quantize_q8_0_ref(xq)
    gg = np.asarray(Q.quantize(xq, QT.Q8_0)).view(np.uint8).reshape(-1, 34)
    assert np.array_equal(ref, gg), "numpy q8_0 reference disagrees with gguf.quants"
    x86 = quantize_q8_0_x86(xq).reshape(-1, 34)
    diff = int((x86 != ref).sum())
    print(f"q8_0: x86 variant vs reference: {diff} differing bytes of {x86.size} (ties/rounding)")

    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"version": 1, "cases": cases}, f, indent=1)
    with open(os.path.join(out, "index.txt"), "w") as f:
        for c in cases:
            if "model_rows" not in c:   # the C harness reads weights from files only
                f.write(" ".join(f"{k}={v}" for k, v in c.items() if k != "source") + "\n")
    total = sum(os.path.getsize(os.path.join(out, fn)) for fn in os.listdir(out))
    print(f"wrote {len(cases)} cases to {out} ({total / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
