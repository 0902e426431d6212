#!/usr/bin/env python3
"""Goldens for the tiny random-weight models of KnowLM-Swift's tests.

The models are not committed: Tests/KnowLMRuntimeTests/Support/TinyModels.swift writes them
deterministically (float32, 2 layers; llama, mistral-style llama, llama with Llama-3 RoPE
scaling, qwen2 with q/k/v biases, gemma3 with one local and one global layer; a SplitMix64
weight stream per model; the 320-piece SentencePiece vocabulary of tiny/hf-llama/tokenizer.model).
This script takes exactly those files and writes tiny/goldens.json:

  * llama.cpp's logits at every position of two sequences per model (one batch from an empty
    KV cache), its tokenizations of a few strings, and llama.cpp self-checks (f16 vs f32 KV
    cache, batched vs one token at a time);
  * transformers' logits for the Hugging Face llama folders (hf-llama, hf-llama-sharded),
    whose weights are tiny-llama.gguf's tensors under Hugging Face names (the tests rebuild
    the safetensors the same way, Support/TinyHuggingFaceFolders.swift), and sentencepiece's
    encodings with the folder's tokenizer.model.

Usage:
  KNOWLM_TINY_OUT=/tmp/tiny swift test -c release -Xswiftc -enable-testing --skip-build --filter tinyModelFixturesAreWritten
  /work/refvenv/bin/python scripts/golden/tiny_models.py /tmp/tiny
  /work/refvenv/bin/python scripts/golden/tiny_models.py --check-tokenizer   # tokenizer.model is reproducible

tokenizer.model was trained by train_tokenizer() below (--check-tokenizer retrains it and
compares bytes).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "Tests", "KnowLMRuntimeTests", "Fixtures", "tiny")

VOCAB_SIZE = 320
N_THREADS = 2

# --------------------------------------------------------------------------
# Tokenizer training corpus (English + Chinese + a bit of code/numbers)
# --------------------------------------------------------------------------
CORPUS = """\
The quick brown fox jumps over the lazy dog.
Hello world, this is a tiny language model used for testing.
The model reads tokens, computes attention, and predicts the next token.
Once upon a time there was a little robot who wanted to learn to write.
It read books about the sea, the stars, the mountains and the rivers.
Every morning the robot said hello to the sun and then started working.
Machine learning models are trained on large amounts of text data.
A transformer has layers of attention and feed forward networks.
The capital of France is Paris. The capital of China is Beijing.
What is the answer? The answer is forty two.
Please write a short story about a cat and a dog who are friends.
I like to read, to write, and to think about interesting problems.
The weather today is sunny and warm, so we will go for a walk.
Numbers like 1, 2, 3, 10, 42, 100 and 2024 appear in the text.
def add(a, b): return a + b
for i in range(10): print(i)
let x = 42; print(x)
{"name": "tiny", "layers": 2}
你好，世界！
我们正在测试一个很小的语言模型。
今天天气很好，我们去公园散步吧。
机器学习是人工智能的一个重要分支。
中国的首都是北京，法国的首都是巴黎。
这个模型只有两层，但是它可以用来测试。
我喜欢读书，也喜欢写字。
小猫和小狗是好朋友，它们每天一起玩。
学习语言模型需要很多数据和时间。
请写一个关于机器人的小故事。
"""


def train_tokenizer() -> bytes:
    import sentencepiece as spm

    lines = [l for l in CORPUS.splitlines() if l.strip()]
    # Every line once, plus 8 lower-cased copies of the plain English lines, so that with
    # character_coverage=0.98 only ~30 characters are "required" and the rest of the 320 pieces
    # become BPE merges; rarer characters (capitals, digits, most CJK, emoji) use byte fallback.
    # Deterministic: 1 thread, no shuffling.
    plain = [l.lower() for l in lines
             if not any(ord(c) > 0x2e80 for c in l) and not any(c in l for c in "{}():=;0123456789")]
    lines = lines + plain * 8
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buf,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        byte_fallback=True,
        character_coverage=0.98,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1,
        shuffle_input_sentence=False,
        input_sentence_size=0,
        minloglevel=2,
    )
    return buf.getvalue()


TOKENIZE_STRINGS = [
    "Hello world",
    "你好，世界！我们测试。",
    "  two spaces\tand a tab\nnew line",
    "The year 2024: 3.14 and 42!",
    "emoji 😀 and Ünïcödé ñ",
]
SEQ_TEXTS = [
    (12, "The quick brown fox jumps over the lazy dog and then some more words"),
    (20, "Hello world! 你好，世界。The model reads tokens, computes attention, 1234567 more"),
]


def r6(x) -> float:
    return float(f"{float(x):.6g}")


def rows6(a: np.ndarray) -> list[list[float]]:
    return [[r6(v) for v in row] for row in a]


def llamacpp_logits(path: str, seqs: list[list[int]], **kw) -> list[np.ndarray]:
    from llama_cpp import Llama
    llm = Llama(path, n_ctx=512, n_batch=512, n_threads=N_THREADS, seed=0, logits_all=True,
                verbose=False, **kw)
    out = []
    for s in seqs:
        llm.reset()
        llm.eval(s)
        out.append(np.array(llm.scores[: len(s)], dtype=np.float32))
    return out, llm


def llamacpp_logits_incremental(path: str, seq: list[int]) -> np.ndarray:
    from llama_cpp import Llama
    llm = Llama(path, n_ctx=512, n_batch=512, n_threads=N_THREADS, seed=0, logits_all=True,
                verbose=False)
    llm.reset()
    for t in seq:
        llm.eval([t])
    return np.array(llm.scores[: len(seq)], dtype=np.float32)


def hf_llama_from_gguf(gguf_path: str, config_dir: str):
    """transformers' LlamaForCausalLM with tiny-llama.gguf's tensors (q/k rows un-permuted)."""
    import gguf
    import torch
    import transformers as tf

    cfg = tf.AutoConfig.from_pretrained(config_dir)
    model = tf.LlamaForCausalLM(cfg).float().eval()
    names = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    state = {}
    for t in gguf.GGUFReader(gguf_path).tensors:
        data = np.array(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        parts = t.name.split(".")
        if parts[0] == "blk":
            kind = parts[2]
            if kind == "attn_q":
                data = llama_unpermute(data, cfg.num_attention_heads)
            elif kind == "attn_k":
                data = llama_unpermute(data, cfg.num_key_value_heads)
            key = f"model.layers.{parts[1]}.{names[kind]}.weight"
        else:
            key = {"token_embd": "model.embed_tokens.weight", "output_norm": "model.norm.weight",
                   "output": "lm_head.weight"}[parts[0]]
        state[key] = torch.from_numpy(data.copy())
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)
    return model


def llama_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    # the inverse of convert_hf_to_gguf's LlamaModel.permute
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def hf_logits(model, seqs):
    import torch
    out = []
    with torch.no_grad():
        for s in seqs:
            out.append(model(torch.tensor([s])).logits[0].float().numpy())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", help="where the tests wrote the tiny GGUF files (KNOWLM_TINY_OUT)")
    ap.add_argument("--check-tokenizer", action="store_true")
    args = ap.parse_args()
    import sentencepiece as spm

    sp_path = os.path.join(OUT, "hf-llama", "tokenizer.model")
    if args.check_tokenizer:
        same = train_tokenizer() == open(sp_path, "rb").read()
        print("tokenizer.model reproduced" if same else "tokenizer.model DIFFERS from a fresh training")
        raise SystemExit(0 if same else 1)
    if not args.folder:
        ap.error("give the folder of the written GGUF files")

    import torch
    import transformers
    import gguf
    import llama_cpp

    torch.set_num_threads(N_THREADS)
    sp = spm.SentencePieceProcessor(model_file=sp_path)
    assert sp.vocab_size() == VOCAB_SIZE
    bos, eos, unk = sp.bos_id(), sp.eos_id(), sp.unk_id()
    seqs = []
    for n, text in SEQ_TEXTS:
        ids = [bos] + sp.encode(text)
        assert len(ids) >= n, (n, len(ids), text)
        seqs.append(ids[:n])

    goldens = {
        "format_version": 2,
        "reference": {
            "llama_cpp_python_version": llama_cpp.__version__,
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "sentencepiece_version": spm.__version__,
            "llama_cpp_settings": {
                "constructor": "Llama(path, n_ctx=512, n_batch=512, n_threads=2, seed=0, logits_all=True)",
                "flash_attn": "disabled (llama-cpp-python default flash_attn=False)",
                "kv_cache_type_k": "f16 (default)",
                "kv_cache_type_v": "f16 (default)",
                "n_ubatch": 512,
                "evaluation": "each sequence evaluated as ONE batch from an empty KV cache; "
                              "logits[p] = logits after feeding token p",
            },
            "transformers_settings": "float32, model.eval(), torch.no_grad(), one forward pass over the whole sequence",
            "rounding": "all logits rounded to 6 significant digits",
        },
        "weights": "written by Tests/KnowLMRuntimeTests/Support/TinyModels.swift (not committed)",
        "vocab": {"size": VOCAB_SIZE, "bos_id": bos, "eos_id": eos, "unk_id": unk,
                  "type": "SentencePiece BPE, byte_fallback=True, identity normalization, "
                          "add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True"},
        "sequences": seqs,
        "models": [],
    }
    # The models are whatever TinyModels.swift wrote; their hyper-parameters are read back
    # from each file's metadata, so they are stated in one place only.
    files = sorted(f for f in os.listdir(args.folder) if f.startswith("tiny-") and f.endswith(".gguf"))
    assert files, f"no tiny-*.gguf in {args.folder}"
    for file in files:
        path = os.path.join(args.folder, file)
        name = file[len("tiny-"):-len(".gguf")]
        reader = gguf.GGUFReader(path)
        arch = reader.fields["general.architecture"].contents()
        cpp, llm = llamacpp_logits(path, seqs)
        cpp_f32kv, _ = llamacpp_logits(path, seqs, type_k=0, type_v=0)
        incr = llamacpp_logits_incremental(path, seqs[1])
        tok_cases = [{"text": s, "add_bos": False, "special": False,
                      "ids": [int(i) for i in llm.tokenize(s.encode("utf-8"), add_bos=False, special=False)]}
                     for s in TOKENIZE_STRINGS]
        tok_cases.append({"text": TOKENIZE_STRINGS[0], "add_bos": True, "special": False,
                          "ids": [int(i) for i in llm.tokenize(TOKENIZE_STRINGS[0].encode("utf-8"), add_bos=True, special=False)]})
        entry = {
            "name": name, "file": file, "architecture": arch,
            "hparams": {k[len(arch) + 1:]: f.contents() for k, f in reader.fields.items() if k.startswith(arch + ".")},
            "tensors": [t.name for t in reader.tensors],
            "tokenize": tok_cases,
            "logits": [rows6(a) for a in cpp],
            "checks": {
                "max_abs_diff_f16kv_vs_f32kv": r6(max(float(np.abs(a - b).max()) for a, b in zip(cpp, cpp_f32kv))),
                "max_abs_diff_batched_vs_one_token_at_a_time_seq1": r6(float(np.abs(incr - cpp[1]).max())),
            },
        }
        if name == "llama":
            model = hf_llama_from_gguf(path, os.path.join(OUT, "hf-llama"))
            hf_out = hf_logits(model, seqs)
            entry["checks"]["max_abs_diff_vs_transformers"] = r6(max(float(np.abs(a - b).max()) for a, b in zip(cpp, hf_out)))
            entry["checks"]["max_abs_diff_f32kv_vs_transformers"] = r6(max(float(np.abs(a - b).max()) for a, b in zip(cpp_f32kv, hf_out)))
            goldens["hf_llama"] = {
                "folders": ["hf-llama", "hf-llama-sharded"],
                "model_class": type(model).__name__,
                "same_weights_as": "tiny-llama.gguf (GGUF has q/k rows permuted to llama.cpp rope layout)",
                "sentencepiece_encode": [{"text": s, "ids": [int(i) for i in sp.encode(s)],
                                          "pieces": sp.encode(s, out_type=str)} for s in TOKENIZE_STRINGS],
                "logits": [rows6(a) for a in hf_out],
            }
        goldens["models"].append(entry)
        print(f"{name:12s} {entry['checks']}", file=sys.stderr)
        del llm

    path = os.path.join(OUT, "goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} B)", file=sys.stderr)


if __name__ == "__main__":
    main()
