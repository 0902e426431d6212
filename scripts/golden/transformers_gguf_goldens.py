#!/usr/bin/env python3
"""Float32 reference logits for Gemma 3 270M from Hugging Face transformers.

Loads the Q4_K_M GGUF with transformers' GGUF loader (weights dequantized to float32 by
the `gguf` package), runs every sequence `prompt_ids + greedy_ids` of the first 4
`generate[]` entries of gemma3_270m_llamacpp.json as one batch, and records at every
position:
  * top5_ids / top5_logits: transformers' own top-5 (logit desc, then id asc)
  * llamacpp_ids_logits:    transformers' logits at the 5 ids llama.cpp recorded
                            (`top5_ids[p]` of the llama.cpp golden), same order.

Every number comes from transformers; nothing is hand-written. All computation is
float32 on CPU with a fixed thread count, so re-running gives identical bytes.

Usage:
  /work/refvenv/bin/python scripts/golden/transformers_gguf_goldens.py \
      [--model /root/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import transformers
from gguf import GGUFReader
from transformers import AutoConfig, AutoModelForCausalLM

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_MODEL = "/root/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf"
GOLDEN_DIR = os.path.join(REPO, "Tests", "KnowLMRuntimeTests", "Fixtures", "golden")
LLAMACPP_JSON = os.path.join(GOLDEN_DIR, "gemma3_270m_llamacpp.json")
DEFAULT_OUT = os.path.join(GOLDEN_DIR, "gemma3_270m_transformers_f32.json")
N_CASES = 4
N_THREADS = 2

# What the GGUF (plus llama.cpp's hard-coded gemma3 hparams) specifies. Keys the GGUF
# stores are checked against its metadata below; the others are llama.cpp constants for
# arch gemma3 (llama-model.cpp: swa pattern 6, freq_base_swa 10000,
# f_attention_scale = 1/sqrt(n_embd_head_k) for non-27B, no softcapping, GELU-tanh FFN).
EXPECTED = {
    "sliding_window": 512,                 # gemma3.attention.sliding_window
    "rope_theta": 1e6,                     # gemma3.rope.freq_base (global layers)
    "rope_local_base_freq": 10000.0,       # llama.cpp constant (sliding layers)
    "query_pre_attn_scalar": 256,          # = key_length 256
    "final_logit_softcapping": None,
    "attn_logit_softcapping": None,
    "hidden_activation": "gelu_pytorch_tanh",
    "num_hidden_layers": 18,
    "head_dim": 256,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "hidden_size": 640,
    "intermediate_size": 2048,
}
# llama.cpp gemma3: layer il is sliding iff il % 6 < 5
EXPECTED_LAYER_TYPES = ["sliding_attention" if il % 6 < 5 else "full_attention" for il in range(18)]


def r6(x: float) -> float:
    """Round to 6 significant digits (same as llamacpp_goldens.py)."""
    return float(f"{float(x):.6g}")


def topk(row: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    # descending logit, ties broken by ascending token id (stable sort)
    idx = np.argsort(-row, kind="stable")[:k]
    return [int(i) for i in idx], [r6(row[i]) for i in idx]


def gguf_meta(path: str) -> dict:
    r = GGUFReader(path)
    f = r.fields

    def get(k):
        return f[k].contents() if k in f else None

    return {
        "sliding_window": get("gemma3.attention.sliding_window"),
        "rope_theta": get("gemma3.rope.freq_base"),
        "key_length": get("gemma3.attention.key_length"),
        "head_count": get("gemma3.attention.head_count"),
        "head_count_kv": get("gemma3.attention.head_count_kv"),
        "block_count": get("gemma3.block_count"),
        "embedding_length": get("gemma3.embedding_length"),
        "feed_forward_length": get("gemma3.feed_forward_length"),
    }


def config_values(cfg) -> dict:
    rp = getattr(cfg, "rope_parameters", None) or {}
    return {
        "sliding_window": cfg.sliding_window,
        "rope_theta": float(rp.get("full_attention", {}).get("rope_theta"))
        if "full_attention" in rp else getattr(cfg, "rope_theta", None),
        "rope_local_base_freq": float(rp.get("sliding_attention", {}).get("rope_theta"))
        if "sliding_attention" in rp else getattr(cfg, "rope_local_base_freq", None),
        "rope_types": {k: v.get("rope_type") for k, v in rp.items()} if rp else None,
        "rope_scaling_factor": {k: v.get("factor") for k, v in rp.items()} if rp else None,
        "query_pre_attn_scalar": cfg.query_pre_attn_scalar,
        "final_logit_softcapping": cfg.final_logit_softcapping,
        "attn_logit_softcapping": cfg.attn_logit_softcapping,
        "hidden_activation": cfg.hidden_activation,
        "num_hidden_layers": cfg.num_hidden_layers,
        "head_dim": cfg.head_dim,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "rms_norm_eps": cfg.rms_norm_eps,
        "layer_types": list(cfg.layer_types),
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "vocab_size": cfg.vocab_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--llamacpp-json", default=LLAMACPP_JSON)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(N_THREADS)
    torch.use_deterministic_algorithms(True)

    meta = gguf_meta(args.model)
    print("GGUF metadata:", json.dumps(meta), file=sys.stderr)
    # GGUF keys that map onto EXPECTED must agree with it
    assert meta["sliding_window"] == EXPECTED["sliding_window"], meta
    assert float(meta["rope_theta"]) == EXPECTED["rope_theta"], meta
    assert meta["key_length"] == EXPECTED["query_pre_attn_scalar"] == EXPECTED["head_dim"], meta
    assert meta["block_count"] == EXPECTED["num_hidden_layers"], meta

    folder, name = os.path.split(os.path.abspath(args.model))
    t0 = time.time()
    cfg = AutoConfig.from_pretrained(folder, gguf_file=name)
    got = config_values(cfg)
    print("transformers config (from GGUF):", json.dumps(got), file=sys.stderr)

    overrides: dict = {}
    for k, want in EXPECTED.items():
        have = got[k]
        same = (have == want) if not isinstance(want, float) else (have is not None and float(have) == want)
        if same:
            continue
        overrides[k] = {"transformers_gguf_loader": have, "set_to": want}
        if k == "rope_theta":
            cfg.rope_parameters["full_attention"]["rope_theta"] = want
        elif k == "rope_local_base_freq":
            cfg.rope_parameters["sliding_attention"]["rope_theta"] = want
        else:
            setattr(cfg, k, want)
    if got["layer_types"] != EXPECTED_LAYER_TYPES:
        overrides["layer_types"] = {"transformers_gguf_loader": got["layer_types"],
                                    "set_to": EXPECTED_LAYER_TYPES}
        cfg.layer_types = list(EXPECTED_LAYER_TYPES)
    if got["rope_scaling_factor"] and any(v not in (None, 1.0) for v in got["rope_scaling_factor"].values()):
        # the GGUF has no rope scaling keys -> llama.cpp uses freq_scale 1
        overrides["rope_scaling"] = {"transformers_gguf_loader": got["rope_scaling_factor"],
                                     "set_to": "default (no scaling)"}
        for v in cfg.rope_parameters.values():
            v.pop("factor", None)
            v["rope_type"] = "default"
    print("config overrides:", json.dumps(overrides) if overrides else "none", file=sys.stderr)

    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, config=cfg, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    t_load = time.time() - t0
    final_cfg = config_values(model.config)
    assert all(
        (final_cfg[k] == v) if not isinstance(v, float) else float(final_cfg[k]) == v
        for k, v in EXPECTED.items()), final_cfg
    assert final_cfg["layer_types"] == EXPECTED_LAYER_TYPES
    assert next(model.parameters()).dtype == torch.float32
    assert model.config._attn_implementation == "eager"

    with open(args.llamacpp_json, encoding="utf-8") as f:
        ref = json.load(f)

    cases = []
    t1 = time.time()
    for g in ref["generate"][:N_CASES]:
        tokens = list(g["prompt_ids"]) + list(g["greedy_ids"])
        assert len(tokens) == len(g["top5_ids"])
        with torch.no_grad():
            out = model(input_ids=torch.tensor([tokens], dtype=torch.long), use_cache=False)
        logits = out.logits[0].to(torch.float32).numpy()
        assert logits.shape == (len(tokens), final_cfg["vocab_size"])
        t5_ids, t5_logits, lc_logits = [], [], []
        max_diff = 0.0
        argmax_mismatch = []
        for p, row in enumerate(logits):
            ids, vals = topk(row, 5)
            t5_ids.append(ids)
            t5_logits.append(vals)
            lc_ids = g["top5_ids"][p]
            lc_vals = [r6(row[i]) for i in lc_ids]
            lc_logits.append(lc_vals)
            d = float(np.max(np.abs(np.array([row[i] for i in lc_ids], dtype=np.float64)
                                    - np.array(g["top5_logits"][p], dtype=np.float64))))
            max_diff = max(max_diff, d)
            if ids[0] != lc_ids[0]:
                argmax_mismatch.append(p)
        cases.append({
            "prompt": g["prompt"],
            "tokens": tokens,
            "top5_ids": t5_ids,
            "top5_logits": t5_logits,
            "llamacpp_ids_logits": lc_logits,
            "max_abs_diff_vs_llamacpp_top5": r6(max_diff),
            "argmax_mismatch_vs_llamacpp_positions": argmax_mismatch,
        })
        print(f"case {len(cases) - 1}: {len(tokens)} tokens, max|tf-llama.cpp| over llama.cpp "
              f"top-5 = {max_diff:.4f}, argmax mismatches at {argmax_mismatch}", file=sys.stderr)
    t_fwd = time.time() - t1

    out = {
        "format_version": 1,
        "reference": {
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "gguf_file": name,
            "config": final_cfg,
            "config_overrides": overrides,
            "notes": (
                "AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, "
                "dtype=torch.float32, attn_implementation='eager'); weights dequantized to "
                "float32 by transformers' GGUF loader (gemma norm weights -1). model.eval(), "
                f"torch.no_grad(), CPU, torch.set_num_threads({N_THREADS}), "
                "deterministic algorithms. Each sequence = generate[i].prompt_ids + greedy_ids "
                f"of gemma3_270m_llamacpp.json (i < {N_CASES}), one batch, no KV cache. "
                "top5_*[p]: transformers' 5 largest logits after token p (logit desc, id asc). "
                "llamacpp_ids_logits[p][j]: transformers' logit of llama.cpp's top5_ids[p][j]. "
                "Config checked against GGUF metadata (sliding_window, rope.freq_base, "
                "key_length) and llama.cpp's gemma3 constants (SWA pattern 6, local rope base "
                "1e4, query scale 1/sqrt(256), no softcapping, gelu tanh); config_overrides "
                "lists anything that had to be changed (empty = loader matched). "
                "Logits rounded to 6 significant digits. max_abs_diff_vs_llamacpp_top5 uses "
                "unrounded transformers logits vs llama.cpp's stored (rounded) batched logits."
            ),
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(args.out)
    assert size < 200_000, size
    print(f"wrote {args.out} ({size} bytes); load {t_load:.1f}s, forward {t_fwd:.1f}s, "
          f"total {time.time() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
