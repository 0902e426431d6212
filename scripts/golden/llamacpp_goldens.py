#!/usr/bin/env python3
"""Golden reference data for KnowLM-Swift from llama.cpp (via llama-cpp-python).

Produces Tests/KnowLMRuntimeTests/Fixtures/golden/gemma3_270m_llamacpp.json with
  * "tokenize": llama.cpp tokenizations (add_bos=False, special=True/False)
  * "generate": prompt ids, greedy 32-token continuations and top-5 logits at
    every position, plus logits of 50 fixed token ids for the first 2 prompts.

Every number in the output comes from llama.cpp; nothing is hand-written.

Usage:
  /work/refvenv/bin/python scripts/golden/llamacpp_goldens.py \
      [--model /root/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf] [--out PATH]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_MODEL = "/root/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf"
DEFAULT_OUT = os.path.join(REPO, "Tests", "KnowLMRuntimeTests", "Fixtures", "golden",
                           "gemma3_270m_llamacpp.json")

N_CTX = 512
N_THREADS = 2
N_BATCH = 512
SEED = 0
N_GEN = 32
TOPK = 5
FIXED_IDS = [b + i for b in (0, 100, 1000, 10000, 100000) for i in range(10)]
N_FIXED_PROMPTS = 2

# --------------------------------------------------------------------------
# Tokenizer cases: (text, [special flags to record])
# --------------------------------------------------------------------------
BOTH = (False, True)
TOKENIZE_TEXTS: list[tuple[str, tuple[bool, ...]]] = [
    ("", BOTH),
    (" ", BOTH),
    ("\n\n\n", BOTH),
    ("Hello world", BOTH),
    ("Hello, world! How are you today?", (False,)),
    ("The quick brown fox jumps over the lazy dog.", (False,)),
    (" leading space", (False,)),
    ("trailing space ", (False,)),
    ("  two leading spaces and two trailing  ", (False,)),
    ("a  b   c    d     e", (False,)),
    ("          ten spaces", (False,)),
    ("tab\there\t\tdouble tab", (False,)),
    ("\t\tleading tabs", (False,)),
    ("line1\nline2\n\nline4\n", (False,)),
    ("\n", (False,)),
    ("\r\n windows\r\nnewlines", (False,)),
    (" \t \n mixed \n\t whitespace \t\n ", (False,)),
    ("你好，世界", BOTH),
    ("北京是中华人民共和国的首都。", (False,)),
    ("机器学习是人工智能的一个分支，它使计算机能够从数据中学习。", (False,)),
    ("中文English混合mixed文本text", (False,)),
    ("def add(a, b):\n    return a + b\n", (False,)),
    ("for i in range(10):\n\tprint(i ** 2)  # squares", (False,)),
    ("func greet(_ name: String) -> String {\n    return \"Hello, \\(name)!\"\n}", (False,)),
    ("let xs: [Int] = [1, 2, 3].map { $0 * 2 }", (False,)),
    ("{\"name\": \"KnowLM\", \"version\": 1.5, \"tags\": [\"a\", \"b\"], \"ok\": true}", (False,)),
    ("12345678", (False,)),
    ("3.14159", (False,)),
    ("1,000,000 and 2024-06-01 and 0x1F and -42", (False,)),
    ("Café naïve résumé façade Ångström", (False,)),
    ("Über straße Ärger Öl", (False,)),
    ("こんにちは、世界。カタカナとひらがな。", (False,)),
    ("안녕하세요 세계", (False,)),
    ("مرحبا بالعالم", (False,)),
    ("Привет, мир! Как дела?", (False,)),
    ("Hello 😀 world 🎉🎉", (False,)),
    ("👨‍👩‍👧‍👦 family and 👍🏽 thumbs", (False,)),
    ("🏳️‍🌈", (False,)),
    ("https://www.example.com/path/to/page?query=1&lang=en#section", (False,)),
    ("Email me at someone@example.org", (False,)),
    ("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", BOTH),
    ("<bos>", BOTH),
    ("<eos>", BOTH),
    ("<bos>Hello<eos>", BOTH),
    ("text before <start_of_turn> and after", BOTH),
    ("<pad><unk><mask>", BOTH),
    ("<b>bold</b> <i>x</i>", (False,)),
    ("!!!???...,,,;;;", (False,)),
    ("$100 + €50 = ¥?", (False,)),
    ("a", (False,)),
    ("ThisIsCamelCaseAndsnake_case_identifier", (False,)),
    ("\u00a0non-breaking\u00a0space", (False,)),
    ("zero\u200bwidth", (False,)),
]

# --------------------------------------------------------------------------
# Generation prompts (7 English, 7 Chinese)
# --------------------------------------------------------------------------
LONG_EN = (
    "The history of computing is a story of steadily shrinking machines and growing ambitions. "
    "Early electronic computers filled entire rooms, consumed enormous amounts of power, and were "
    "programmed by rewiring panels or feeding in punched cards. Over the following decades, the "
    "invention of the transistor and then the integrated circuit allowed engineers to pack more and "
    "more components onto a single chip. Today a phone in your pocket is far more powerful than the "
    "machines that guided the first astronauts to the Moon. In the next chapter, we will look at"
)
LONG_ZH = (
    "长城是中国古代的军事防御工程，也是世界上最著名的建筑之一。它的修建历史可以追溯到两千多年前的春秋战国时期，"
    "当时各诸侯国为了防御外敌，在边境修筑了高大的城墙。秦始皇统一中国以后，把各国的长城连接起来，"
    "形成了万里长城的雏形。此后，汉朝、明朝等朝代又多次对长城进行修缮和扩建。今天我们看到的长城，"
    "大部分是明朝时期修建的。长城不仅是一项伟大的工程，"
)
PROMPTS: list[tuple[str, str]] = [
    ("en", "The capital of France is"),
    ("en", "Q: What is the capital of France?\nA:"),
    ("en", "Q: What is 2 + 2?\nA: 4\nQ: What is 3 + 5?\nA: 8\nQ: What is 7 + 6?\nA:"),
    ("en", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    ("en", "Once upon a time, in a small village by the sea,"),
    ("en", "English: cat\nFrench: chat\nEnglish: dog\nFrench: chien\nEnglish: house\nFrench:"),
    ("en", LONG_EN),
    ("zh", "中国的首都是"),
    ("zh", "问：法国的首都是哪里？\n答："),
    ("zh", "问：一年有几个月？\n答：十二个月。\n问：一周有几天？\n答："),
    ("zh", "从前，在一座高高的山上，有一座小小的庙，"),
    ("zh", "请把下面的句子翻译成英文：我喜欢学习新的编程语言。\n翻译："),
    ("zh", "人工智能是"),
    ("zh", LONG_ZH),
]


def r6(x: float) -> float:
    """Round to 6 significant digits (compact JSON)."""
    return float(f"{float(x):.6g}")


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def topk(row: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    # descending logit, ties broken by ascending token id (stable sort)
    idx = np.argsort(-row, kind="stable")[:k]
    return [int(i) for i in idx], [r6(row[i]) for i in idx]


def ctx_params_record(llm: Llama) -> dict:
    cp = llm.context_params
    ggml_type = {0: "f32", 1: "f16", 8: "q8_0", 2: "q4_0"}
    fa = {-1: "auto", 0: "disabled", 1: "enabled"}
    return {
        "n_ctx": cp.n_ctx,
        "n_batch": cp.n_batch,
        "n_ubatch": cp.n_ubatch,
        "n_seq_max": cp.n_seq_max,
        "n_threads": cp.n_threads,
        "n_threads_batch": cp.n_threads_batch,
        "flash_attn_type": fa.get(cp.flash_attn_type, cp.flash_attn_type),
        "type_k": ggml_type.get(cp.type_k, cp.type_k),
        "type_v": ggml_type.get(cp.type_v, cp.type_v),
        "offload_kqv": bool(cp.offload_kqv),
        "op_offload": bool(cp.op_offload),
        "swa_full": bool(cp.swa_full),
        "kv_unified": bool(cp.kv_unified),
        "rope_scaling_type": cp.rope_scaling_type,
        "rope_freq_base": cp.rope_freq_base,
        "rope_freq_scale": cp.rope_freq_scale,
        "yarn_ext_factor": cp.yarn_ext_factor,
        "yarn_attn_factor": cp.yarn_attn_factor,
        "yarn_beta_fast": cp.yarn_beta_fast,
        "yarn_beta_slow": cp.yarn_beta_slow,
        "yarn_orig_ctx": cp.yarn_orig_ctx,
        "pooling_type": cp.pooling_type,
        "attention_type": cp.attention_type,
        "embeddings": bool(cp.embeddings),
    }


def model_params_record(llm: Llama) -> dict:
    mp = llm.model_params
    return {
        "n_gpu_layers": mp.n_gpu_layers,
        "split_mode": mp.split_mode,
        "vocab_only": bool(mp.vocab_only),
        "load_mode": mp.load_mode,
        "check_tensors": bool(mp.check_tensors),
        "use_extra_bufts": bool(mp.use_extra_bufts),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    t0 = time.time()
    # ---------------------------------------------------------------- tokenize
    vocab = Llama(args.model, vocab_only=True, verbose=False)
    tok_cases = []
    for text, flags in TOKENIZE_TEXTS:
        for special in flags:
            ids = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=special)
            tok_cases.append({"text": text, "add_bos": False, "special": special,
                              "ids": [int(i) for i in ids]})
    del vocab
    print(f"tokenize: {len(tok_cases)} cases", file=sys.stderr)

    # ---------------------------------------------------------------- generate
    llm = Llama(args.model, n_ctx=N_CTX, n_threads=N_THREADS, n_batch=N_BATCH, seed=SEED,
                logits_all=True, verbose=False)
    n_vocab = llm.n_vocab()
    eos = llm.token_eos()
    bos = llm.token_bos()

    gen_cases = []
    for gi, (lang, prompt) in enumerate(PROMPTS):
        prompt_ids = [int(t) for t in llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)]

        # 1) greedy continuation: prompt as one batch, then one token per decode
        llm.reset()
        llm.eval(prompt_ids)
        greedy: list[int] = []
        step_rows: list[np.ndarray] = []
        for _ in range(N_GEN + 1):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            step_rows.append(row)
            if len(greedy) == N_GEN:
                break
            tok = int(np.argsort(-row, kind="stable")[0])  # argmax, lowest id on ties
            greedy.append(tok)
            llm.eval([tok])  # do not stop at EOS
        # incremental path: logits seen by each greedy decision (+ the one after the last token)
        step_ids, step_logits = zip(*(topk(r, TOPK) for r in step_rows))

        # 2) whole prompt+continuation evaluated in one batch, logits at every position
        full = prompt_ids + greedy
        llm.reset()
        llm.eval(full)
        scores = np.array(llm.scores[: len(full)], dtype=np.float32)
        top_ids, top_logits = [], []
        for p in range(len(full)):
            i, v = topk(scores[p], TOPK)
            top_ids.append(i)
            top_logits.append(v)

        # consistency of incremental-decode argmax vs. batched argmax
        mismatch = []
        for j, tok in enumerate(greedy):
            pos = len(prompt_ids) - 1 + j
            if top_ids[pos][0] != tok:
                mismatch.append(pos)
        # incremental-decode logits vs. batched logits at the same positions
        inc_pos = [len(prompt_ids) - 1 + j for j in range(N_GEN + 1)]
        d_all = max(float(np.max(np.abs(step_rows[j] - scores[p]))) for j, p in enumerate(inc_pos))
        d_top = max(float(np.max(np.abs(step_rows[j][list(step_ids[j])] - scores[p][list(step_ids[j])])))
                    for j, p in enumerate(inc_pos))

        case = {
            "lang": lang,
            "prompt": prompt,
            "prompt_ids": prompt_ids,
            "greedy_ids": greedy,
            "greedy_contains_eos": eos in greedy,
            "greedy_eos_index": greedy.index(eos) if eos in greedy else None,
            "greedy_text": llm.detokenize(greedy).decode("utf-8", errors="replace"),
            "greedy_step_top5_ids": [list(x) for x in step_ids],
            "greedy_step_top5_logits": [list(x) for x in step_logits],
            "top5_ids": top_ids,
            "top5_logits": top_logits,
            "batched_argmax_mismatch_positions": mismatch,
            "incremental_vs_batched_max_abs_diff_all_vocab": r6(d_all),
            "incremental_vs_batched_max_abs_diff_top5": r6(d_top),
        }
        if gi < N_FIXED_PROMPTS:
            case["fixed_logits"] = [[r6(scores[p][t]) for t in FIXED_IDS] for p in range(len(full))]
        gen_cases.append(case)
        print(f"generate[{gi}] n_prompt={len(prompt_ids)} eos={eos in greedy} "
              f"mismatch={mismatch} incr-vs-batch all={d_all:.3g} top5={d_top:.3g} "
              f"text={case['greedy_text'][:60]!r}", file=sys.stderr)

    out = {
        "format_version": 1,
        "model": {
            "file": os.path.basename(args.model),
            "sha256": sha256(args.model),
            "n_vocab": n_vocab,
            "bos_id": bos,
            "eos_id": eos,
        },
        "reference": {
            "llama_cpp_python_version": llama_cpp.__version__,
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "context_params": ctx_params_record(llm),
            "model_params": model_params_record(llm),
            "llama_constructor_args": {
                "n_ctx": N_CTX, "n_threads": N_THREADS, "n_batch": N_BATCH, "seed": SEED,
                "logits_all": True,
                "note": "everything else is llama-cpp-python's default: flash_attn=False "
                        "(LLAMA_FLASH_ATTN_TYPE_DISABLED), type_k/type_v=None -> llama.cpp "
                        "default F16 KV cache, n_ubatch=512, n_gpu_layers=0 (CPU only), "
                        "use_mmap=True, rope/yarn params from the model. seed is irrelevant "
                        "(greedy argmax).",
            },
            "procedure": {
                "tokenize": "Llama(model, vocab_only=True).tokenize(text.encode('utf-8'), add_bos=False, special=...)",
                "prompt_ids": "tokenize(prompt, add_bos=True, special=True)",
                "greedy": "reset(); eval(prompt_ids) as one batch; then 32x: argmax of last "
                          "logits (lowest id on ties) and eval([tok]) one token at a time; never "
                          "stops at EOS. greedy_step_top5_*[i] (i = 0..32) = top-5 of the logits "
                          "from which greedy_ids[i] was chosen (i = 32: after feeding the last "
                          "greedy token); these come from the incremental (1-token ubatch) path.",
                "top5": "reset(); eval(prompt_ids + greedy_ids) as ONE batch with logits_all; "
                        "top5_*[p] = 5 largest logits after feeding token p (p = 0 .. "
                        "len(prompt_ids)+31), sorted by logit desc then id asc. "
                        "Position len(prompt_ids)-1+i predicts greedy_ids[i].",
                "fixed_logits": "for the first 2 prompts: logits of fixed_logit_ids at every "
                                "position of the same batched evaluation",
                "rounding": "all logits rounded to 6 significant digits",
            },
        },
        "fixed_logit_ids": FIXED_IDS,
        "tokenize": tok_cases,
        "generate": gen_cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes) in {time.time() - t0:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
