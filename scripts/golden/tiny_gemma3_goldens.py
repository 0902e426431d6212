#!/usr/bin/env python3
"""llama.cpp goldens for the tiny Gemma 3 GGUF that the tests write themselves.

The weights of tiny-gemma3.gguf are not committed: Tests/KnowLMRuntimeTests/Support/
TinyGemma3.swift writes the file deterministically (tiny-llama.gguf's vocabulary, Gemma 3
hyper-parameters, a SplitMix64 weight stream). This script takes that exact file and replaces
the gemma3 entry's weight-dependent goldens in tiny/goldens.json (llama.cpp logits, llama.cpp
tokenizations, llama.cpp self-checks), with the settings of tiny_models.py:

    KNOWLM_TINY_GEMMA3_OUT=/tmp/tiny-gemma3.gguf swift test --filter tinyGemma3FixtureIsWritten
    /work/refvenv/bin/python scripts/golden/tiny_gemma3_goldens.py /tmp/tiny-gemma3.gguf

There is no transformers reference for this file (the transformers comparison of the Gemma 3
code path is in gemma3_270m_transformers_f32.json, on the real model).
"""
import json, os, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models as tm  # noqa: E402

path = sys.argv[1]
goldens_path = os.path.join(tm.OUT, "goldens.json")
goldens = json.load(open(goldens_path, encoding="utf-8"))
entry = next(m for m in goldens["models"] if m["name"] == "gemma3")
seqs = goldens["sequences"]

cpp, llm = tm.llamacpp_logits(path, seqs)
cpp_f32kv, _ = tm.llamacpp_logits(path, seqs, type_k=0, type_v=0)
incr = tm.llamacpp_logits_incremental(path, seqs[1])
for case in entry["tokenize"]:
    case["ids"] = [int(i) for i in llm.tokenize(case["text"].encode("utf-8"), add_bos=case["add_bos"], special=case["special"])]
entry["logits"] = [tm.rows6(a) for a in cpp]
entry["weights"] = "written by Tests/KnowLMRuntimeTests/Support/TinyGemma3.swift (not committed)"
entry["hf_model_class"] = None
entry["checks"] = {
    "max_abs_diff_f16kv_vs_f32kv": tm.r6(max(float(np.abs(a - b).max()) for a, b in zip(cpp, cpp_f32kv))),
    "max_abs_diff_batched_vs_one_token_at_a_time_seq1": tm.r6(float(np.abs(incr - cpp[1]).max())),
}
with open(goldens_path, "w", encoding="utf-8") as f:
    json.dump(goldens, f, ensure_ascii=False, separators=(",", ":"))
    f.write("\n")
print("gemma3 goldens updated:", entry["checks"])
