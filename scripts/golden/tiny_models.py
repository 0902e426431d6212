#!/usr/bin/env python3
"""Tiny random-weight reference models + goldens for KnowLM-Swift tests.

Writes into Tests/KnowLMRuntimeTests/Fixtures/tiny/:
  tiny-llama.gguf        arch llama, GQA 4 heads / 2 KV heads, hidden 48 != 4*16 (key_length=16),
                         untied output; same weights as hf-llama/ (converted like convert_hf_to_gguf)
  tiny-mistral.gguf      arch llama (convert_hf_to_gguf maps MistralForCausalLM to the llama
                         arch), 4 heads / 1 KV head, rope theta 1e6, untied
  tiny-llama3-rope.gguf  arch llama with Llama-3 RoPE scaling -> rope_freqs.weight tensor, tied
  tiny-qwen2.gguf        arch qwen2, q/k/v biases, NEOX rope, tied
  tiny-gemma3.gguf       arch gemma3, QK-norm, pre/post norms, sliding window 8 (layer 0 local,
                         layer 1 global), local rope base 10000 / global 1e6, tied
  hf-llama/              transformers LlamaForCausalLM (float32 safetensors) + tokenizer.model
  hf-llama-sharded/      the same model saved with a small max_shard_size (+ index json)
  goldens.json           llama.cpp logits (all positions, 2 sequences per model), llama.cpp
                         tokenizations, transformers logits for hf-llama, sentencepiece encodes.

All models share one SentencePiece BPE vocabulary (320 pieces, byte_fallback) trained here.
Every golden value comes from llama.cpp / transformers / sentencepiece.

Usage:
  /work/refvenv/bin/python scripts/golden/tiny_models.py [--convert-check LLAMA_CPP_SRC_DIR]

--convert-check DIR additionally runs DIR/convert_hf_to_gguf.py --outtype f32 on the temporary
HF checkpoints and compares its GGUF metadata/tensors with the files written here (verification
only; nothing from it is stored).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "Tests", "KnowLMRuntimeTests", "Fixtures", "tiny")
PY = sys.executable

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


# --------------------------------------------------------------------------
# Model specifications
# --------------------------------------------------------------------------
COMMON = dict(head_dim=16, n_head=4, ffn=128, n_layer=2, n_ctx_train=2048)
SPECS = [
    dict(COMMON, name="llama", file="tiny-llama.gguf", hf="llama", arch="llama",
         display_name="Tiny Llama", hidden=48, n_kv=2, rope_theta=50000.0, eps=1e-5,
         tied=False, seed=101),
    dict(COMMON, name="mistral", file="tiny-mistral.gguf", hf="mistral", arch="llama",
         display_name="Tiny Mistral", hidden=48, n_kv=1, rope_theta=1000000.0, eps=1e-5,
         tied=False, seed=202),
    dict(COMMON, name="llama3-rope", file="tiny-llama3-rope.gguf", hf="llama", arch="llama",
         display_name="Tiny Llama3 RoPE", hidden=48, n_kv=2, rope_theta=10000.0, eps=1e-5,
         tied=True, seed=303,
         rope_llama3=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64)),
    dict(COMMON, name="qwen2", file="tiny-qwen2.gguf", hf="qwen2", arch="qwen2",
         display_name="Tiny Qwen2", hidden=64, n_kv=2, rope_theta=1000000.0, eps=1e-6,
         tied=True, seed=404),
    dict(COMMON, name="gemma3", file="tiny-gemma3.gguf", hf="gemma3_text", arch="gemma3",
         display_name="Tiny Gemma3", hidden=48, n_kv=2, rope_theta=1000000.0,
         rope_theta_swa=10000.0, sliding_window=8, swa_pattern=2, eps=1e-6, tied=True, seed=505),
]

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


def build_hf_model(spec, vocab_size, bos, eos):
    import torch
    import transformers as tf

    common = dict(vocab_size=vocab_size, hidden_size=spec["hidden"],
                  intermediate_size=spec["ffn"], num_hidden_layers=spec["n_layer"],
                  num_attention_heads=spec["n_head"], num_key_value_heads=spec["n_kv"],
                  head_dim=spec["head_dim"], max_position_embeddings=spec["n_ctx_train"],
                  rms_norm_eps=spec["eps"], tie_word_embeddings=spec["tied"],
                  bos_token_id=bos, eos_token_id=eos, pad_token_id=None)
    if spec["hf"] == "llama":
        rope = {"rope_type": "default", "rope_theta": spec["rope_theta"]}
        if "rope_llama3" in spec:
            rope = dict(rope_type="llama3", rope_theta=spec["rope_theta"], **spec["rope_llama3"])
        cfg = tf.LlamaConfig(rope_parameters=rope, **common)
        cls = tf.LlamaForCausalLM
    elif spec["hf"] == "mistral":
        cfg = tf.MistralConfig(rope_parameters={"rope_type": "default", "rope_theta": spec["rope_theta"]},
                               sliding_window=None, **common)
        cls = tf.MistralForCausalLM
    elif spec["hf"] == "qwen2":
        cfg = tf.Qwen2Config(rope_parameters={"rope_type": "default", "rope_theta": spec["rope_theta"]},
                             use_sliding_window=False, **common)
        cls = tf.Qwen2ForCausalLM
    elif spec["hf"] == "gemma3_text":
        layer_types = ["sliding_attention" if (il % spec["swa_pattern"]) < spec["swa_pattern"] - 1
                       else "full_attention" for il in range(spec["n_layer"])]
        cfg = tf.Gemma3TextConfig(
            rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": spec["rope_theta"]},
                             "sliding_attention": {"rope_type": "default", "rope_theta": spec["rope_theta_swa"]}},
            sliding_window=spec["sliding_window"], layer_types=layer_types,
            query_pre_attn_scalar=spec["head_dim"], final_logit_softcapping=None,
            attn_logit_softcapping=None, hidden_activation="gelu_pytorch_tanh", **common)
        cls = tf.Gemma3ForCausalLM
    else:
        raise ValueError(spec["hf"])
    cfg.architectures = [cls.__name__]

    torch.manual_seed(spec["seed"])
    model = cls(cfg).float().eval()
    gen = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("embed_tokens.weight"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif "norm" in name:
                if spec["hf"] == "gemma3_text":  # Gemma RMSNorm scales by (1 + w)
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".weight") and p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            else:
                raise ValueError(f"unhandled parameter {name}")
    if spec["tied"]:
        model.tie_weights()
    return model


def llama3_rope_factors(spec) -> np.ndarray:
    # identical to LlamaModel.generate_extra_tensors in llama.cpp's convert_hf_to_gguf
    import torch
    rp = spec["rope_llama3"]
    base = spec["rope_theta"]
    dim = spec["head_dim"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = rp["factor"]
    low_freq_factor = rp["low_freq_factor"]
    high_freq_factor = rp["high_freq_factor"]
    old_context_len = rp["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    rope_factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            rope_factors.append(1)
        elif wavelen > low_freq_wavelen:
            rope_factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            rope_factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(rope_factors, dtype=torch.float32).numpy()


def llama_permute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    # identical to LlamaModel.permute in convert_hf_to_gguf (HF -> llama.cpp "normal" rope layout)
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def write_gguf(spec, model, sp_proto: bytes, path: str) -> list[str]:
    import gguf
    import sentencepiece as spm

    arch_enum = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
                 "gemma3": gguf.MODEL_ARCH.GEMMA3}[spec["arch"]]
    arch = gguf.MODEL_ARCH_NAMES[arch_enum]
    tmap = gguf.get_tensor_name_map(arch_enum, spec["n_layer"])

    w = gguf.GGUFWriter(path, arch)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(spec["display_name"])
    # --- hyper-parameters, in the order TextModel.set_gguf_parameters writes them
    w.add_block_count(spec["n_layer"])
    w.add_context_length(spec["n_ctx_train"])
    w.add_embedding_length(spec["hidden"])
    w.add_feed_forward_length(spec["ffn"])
    w.add_head_count(spec["n_head"])
    w.add_head_count_kv(spec["n_kv"])
    w.add_rope_freq_base(spec["rope_theta"])
    if spec["arch"] == "gemma3":
        w.add_rope_freq_base_swa(spec["rope_theta_swa"])
    w.add_layer_norm_rms_eps(spec["eps"])
    w.add_key_length(spec["head_dim"])
    w.add_value_length(spec["head_dim"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if spec["arch"] == "llama":  # LlamaModel.set_gguf_parameters
        w.add_vocab_size(VOCAB_SIZE)
        w.add_rope_dimension_count(spec["head_dim"])
    if spec["arch"] == "gemma3":  # Gemma3Model.set_gguf_parameters
        w.add_sliding_window(spec["sliding_window"])
        # NOT written by convert_hf_to_gguf (llama.cpp then assumes a pattern of 6); written
        # here so that a 2-layer model has one local (layer 0) and one global (layer 1) layer.
        w.add_uint32(gguf.Keys.Attention.SLIDING_WINDOW_PATTERN.format(arch=arch), spec["swa_pattern"])

    # --- vocabulary, exactly like TextModel._set_vocab_sentencepiece
    sp = spm.SentencePieceProcessor(model_proto=sp_proto)
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.IdToPiece(i).encode("utf-8"))
        scores.append(sp.GetScore(i))
        t = gguf.TokenType.NORMAL
        if sp.IsUnknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.IsControl(i):
            t = gguf.TokenType.CONTROL
        elif sp.IsUnused(i):
            t = gguf.TokenType.UNUSED
        elif sp.IsByte(i):
            t = gguf.TokenType.BYTE
        types.append(int(t))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if spec["arch"] == "gemma3":
        w.add_add_space_prefix(False)  # Gemma3Model.set_vocab does this unconditionally
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    # --- tensors
    names = []
    sd = model.state_dict()
    for hf_name, t in sd.items():
        if spec["tied"] and hf_name == "lm_head.weight":
            continue
        data = t.detach().cpu().float().numpy().copy()
        new = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"cannot map {hf_name}")
        if spec["arch"] == "llama":
            if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
                data = llama_permute(data, spec["n_head"], spec["n_head"])
            if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
                data = llama_permute(data, spec["n_head"], spec["n_kv"])
        if spec["arch"] == "gemma3" and hf_name.endswith("norm.weight"):
            data = data + 1.0  # Gemma3Model.norm_shift
        w.add_tensor(new, np.ascontiguousarray(data, dtype=np.float32))
        names.append(new)
    if "rope_llama3" in spec:
        w.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight",
                     llama3_rope_factors(spec))
        names.append("rope_freqs.weight")

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return names


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


def hf_logits(model, seqs):
    import torch
    out = []
    with torch.no_grad():
        for s in seqs:
            out.append(model(torch.tensor([s])).logits[0].float().numpy())
    return out


def gguf_summary(path):
    import gguf
    r = gguf.GGUFReader(path)
    kv = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.name", "general.type"):
            continue
        kv[f.name] = f.contents()
    tensors = {t.name: (list(int(x) for x in t.shape), np.array(t.data).copy()) for t in r.tensors}
    return kv, tensors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--convert-check", metavar="LLAMA_CPP_SRC_DIR", default=None)
    args = ap.parse_args()

    import torch
    import transformers
    import sentencepiece as spm
    import gguf
    import llama_cpp
    import safetensors

    torch.set_num_threads(N_THREADS)
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="knowlm_tiny_")

    # ------------------------------------------------------------ tokenizer
    sp_proto = train_tokenizer()
    assert sp_proto == train_tokenizer(), "sentencepiece training is not deterministic"
    sp = spm.SentencePieceProcessor(model_proto=sp_proto)
    assert sp.vocab_size() == VOCAB_SIZE
    bos, eos, unk = sp.bos_id(), sp.eos_id(), sp.unk_id()

    seqs = []
    for n, text in SEQ_TEXTS:
        ids = [bos] + sp.encode(text)
        assert len(ids) >= n, (n, len(ids), text)
        seqs.append(ids[:n])

    goldens = {
        "format_version": 1,
        "reference": {
            "llama_cpp_python_version": llama_cpp.__version__,
            "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "sentencepiece_version": spm.__version__,
            "gguf_py_version": getattr(gguf, "__version__", None) or _pkg_version("gguf"),
            "llama_cpp_settings": {
                "constructor": "Llama(path, n_ctx=512, n_batch=512, n_threads=2, seed=0, logits_all=True)",
                "flash_attn": "disabled (llama-cpp-python default flash_attn=False)",
                "kv_cache_type_k": "f16 (default)",
                "kv_cache_type_v": "f16 (default)",
                "n_ubatch": 512,
                "evaluation": "each sequence evaluated as ONE batch from an empty KV cache; "
                              "logits[p] = logits after feeding token p",
            },
            "transformers_settings": "float32, model.eval(), torch.no_grad(), attn_implementation "
                                     "= transformers default (sdpa), one forward pass over the "
                                     "whole sequence",
            "rounding": "all logits rounded to 6 significant digits",
        },
        "vocab": {"size": VOCAB_SIZE, "bos_id": bos, "eos_id": eos, "unk_id": unk,
                  "type": "SentencePiece BPE, byte_fallback=True, identity normalization, "
                          "add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True"},
        "sequences": seqs,
        "models": [],
    }

    # ------------------------------------------------------------ models
    hf_llama_model = None
    for spec in SPECS:
        model = build_hf_model(spec, VOCAB_SIZE, bos, eos)
        path = os.path.join(OUT, spec["file"])
        tensor_names = write_gguf(spec, model, sp_proto, path)

        cpp, llm = llamacpp_logits(path, seqs)
        ref_hf = hf_logits(model, seqs)
        cpp_f32kv, _ = llamacpp_logits(path, seqs, type_k=0, type_v=0)
        incr = llamacpp_logits_incremental(path, seqs[1])

        tok_cases = []
        for s in TOKENIZE_STRINGS:
            tok_cases.append({"text": s, "add_bos": False, "special": False,
                              "ids": [int(i) for i in llm.tokenize(s.encode("utf-8"), add_bos=False, special=False)]})
        tok_cases.append({"text": TOKENIZE_STRINGS[0], "add_bos": True, "special": False,
                          "ids": [int(i) for i in llm.tokenize(TOKENIZE_STRINGS[0].encode("utf-8"), add_bos=True, special=False)]})

        d_hf = max(float(np.abs(a - b).max()) for a, b in zip(cpp, ref_hf))
        d_kv = max(float(np.abs(a - b).max()) for a, b in zip(cpp, cpp_f32kv))
        d_hf32 = max(float(np.abs(a - b).max()) for a, b in zip(cpp_f32kv, ref_hf))
        d_inc = float(np.abs(incr - cpp[1]).max())
        entry = {
            "name": spec["name"],
            "file": spec["file"],
            "architecture": spec["arch"],
            "hparams": {k: spec[k] for k in ("hidden", "n_layer", "n_head", "n_kv", "head_dim", "ffn",
                                             "rope_theta", "eps", "tied", "n_ctx_train")
                        } | {k: spec[k] for k in ("rope_theta_swa", "sliding_window", "swa_pattern",
                                                  "rope_llama3") if k in spec},
            "hf_model_class": type(model).__name__,
            "tensors": tensor_names,
            "tokenize": tok_cases,
            "logits": [rows6(a) for a in cpp],
            "checks": {
                "max_abs_diff_vs_transformers": r6(d_hf),
                "max_abs_diff_f16kv_vs_f32kv": r6(d_kv),
                "max_abs_diff_f32kv_vs_transformers": r6(d_hf32),
                "max_abs_diff_batched_vs_one_token_at_a_time_seq1": r6(d_inc),
            },
        }
        goldens["models"].append(entry)
        print(f"{spec['name']:12s} {os.path.getsize(path):7d} B  vs HF {d_hf:.2e}  f16kv-vs-f32kv {d_kv:.2e}  "
              f"f32kv-vs-HF {d_hf32:.2e}  batched-vs-incr {d_inc:.2e}  argmax agree "
              f"{[bool((a.argmax(1) == b.argmax(1)).all()) for a, b in zip(cpp, ref_hf)]}", file=sys.stderr)
        del llm

        if args.convert_check:
            convert_check(args.convert_check, spec, model, sp_proto, path, tmp)
        if spec["name"] == "llama":
            hf_llama_model = model

    # ------------------------------------------------------------ HF folders
    hf_dir = os.path.join(OUT, "hf-llama")
    hf_sh = os.path.join(OUT, "hf-llama-sharded")
    for d in (hf_dir, hf_sh):
        shutil.rmtree(d, ignore_errors=True)
    hf_llama_model.save_pretrained(hf_dir, safe_serialization=True)
    hf_llama_model.save_pretrained(hf_sh, safe_serialization=True, max_shard_size="150KB")
    for d in (hf_dir, hf_sh):
        with open(os.path.join(d, "tokenizer.model"), "wb") as f:
            f.write(sp_proto)
    shards = sorted(x for x in os.listdir(hf_sh) if x.endswith(".safetensors"))
    assert 2 <= len(shards) <= 3 and os.path.exists(os.path.join(hf_sh, "model.safetensors.index.json")), shards

    # reload from disk (both folders) and compute the goldens from the reloaded models
    import transformers as tf
    ref = tf.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ref_sh = tf.AutoModelForCausalLM.from_pretrained(hf_sh, dtype=torch.float32).eval()
    hf_out = hf_logits(ref, seqs)
    hf_out_sh = hf_logits(ref_sh, seqs)
    assert all(np.array_equal(a, b) for a, b in zip(hf_out, hf_out_sh))
    sp_disk = spm.SentencePieceProcessor(model_file=os.path.join(hf_dir, "tokenizer.model"))
    llama_cpp_llama = goldens["models"][0]["logits"]
    goldens["hf_llama"] = {
        "folders": ["hf-llama", "hf-llama-sharded"],
        "shards": shards,
        "model_class": type(ref).__name__,
        "same_weights_as": "tiny-llama.gguf (GGUF has q/k rows permuted to llama.cpp rope layout)",
        "sentencepiece_encode": [{"text": s, "ids": [int(i) for i in sp_disk.encode(s)],
                                  "pieces": sp_disk.encode(s, out_type=str)} for s in TOKENIZE_STRINGS],
        "logits": [rows6(a) for a in hf_out],
        "checks": {
            "max_abs_diff_vs_llama_cpp_tiny_llama": r6(max(
                float(np.abs(a - np.array(b, dtype=np.float32)).max()) for a, b in zip(hf_out, llama_cpp_llama))),
        },
    }

    path = os.path.join(OUT, "goldens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    shutil.rmtree(tmp, ignore_errors=True)
    # The folders' weights are tiny-llama.gguf's tensors under Hugging Face names; the tests
    # rebuild them from that file (Tests/KnowLMRuntimeTests/Support/TinyHuggingFaceFolders.swift),
    # so only the small files stay in the repository.
    for d in (hf_dir, hf_sh):
        for name in os.listdir(d):
            if name.endswith(".safetensors"):
                os.remove(os.path.join(d, name))
    # The tests write their own tiny Gemma 3 file (Support/TinyGemma3.swift) instead of this
    # torch-initialised one; scripts/golden/tiny_gemma3_goldens.py then replaces its goldens.
    os.remove(os.path.join(OUT, "tiny-gemma3.gguf"))
    print("now run scripts/golden/tiny_gemma3_goldens.py (see its docstring)", file=sys.stderr)

    total = 0
    for root, _, files in os.walk(OUT):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"goldens.json {os.path.getsize(path)} B; Fixtures/tiny total {total} B", file=sys.stderr)
    assert total < 3_000_000, total


def _pkg_version(name):
    from importlib.metadata import version
    return version(name)


def convert_check(llama_cpp_dir, spec, model, sp_proto, path, tmp):
    """Verification only: convert the same HF checkpoint with llama.cpp's own converter and
    compare metadata and tensors with the GGUF written by write_gguf()."""
    d = os.path.join(tmp, spec["name"])
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "tokenizer.model"), "wb") as f:
        f.write(sp_proto)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False}, f)
    outp = os.path.join(tmp, spec["name"] + ".gguf")
    env = dict(os.environ, PYTHONPATH=os.path.join(llama_cpp_dir, "gguf-py"))
    r = subprocess.run([PY, os.path.join(llama_cpp_dir, "convert_hf_to_gguf.py"), d,
                        "--outtype", "f32", "--outfile", outp], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(r.stdout[-3000:], r.stderr[-3000:], file=sys.stderr)
        raise SystemExit("convert_hf_to_gguf failed")
    kv_a, t_a = gguf_summary(path)
    kv_b, t_b = gguf_summary(outp)
    diffs = []
    for k in sorted(set(kv_a) | set(kv_b)):
        if k.startswith("general.") and k not in ("general.architecture", "general.file_type",
                                                   "general.quantization_version"):
            continue
        va, vb = kv_a.get(k, "<absent>"), kv_b.get(k, "<absent>")
        if isinstance(va, list) and isinstance(vb, list) and len(va) == len(vb) and all(
                (abs(x - y) < 1e-6 if isinstance(x, float) else x == y) for x, y in zip(va, vb)):
            continue
        if isinstance(va, float) and isinstance(vb, float) and abs(va - vb) <= 1e-6 * max(1, abs(va)):
            continue
        if va != vb:
            diffs.append(f"  key {k}: mine={_short(va)} convert={_short(vb)}")
    for n in sorted(set(t_a) | set(t_b)):
        if n not in t_a or n not in t_b:
            diffs.append(f"  tensor {n}: mine={'yes' if n in t_a else 'no'} convert={'yes' if n in t_b else 'no'}")
            continue
        (sa, da), (sb, db) = t_a[n], t_b[n]
        if sa != sb or not np.array_equal(da, db):
            diffs.append(f"  tensor {n}: shape {sa} vs {sb}, max diff "
                         f"{float(np.abs(da.astype(np.float64) - db.astype(np.float64)).max()) if sa == sb else 'n/a'}")
    print(f"convert-check {spec['name']}: {'IDENTICAL' if not diffs else str(len(diffs)) + ' difference(s)'}",
          file=sys.stderr)
    for line in diffs:
        print(line, file=sys.stderr)


def _short(v):
    s = repr(v)
    return s if len(s) < 120 else s[:117] + "..."


if __name__ == "__main__":
    main()
