#!/usr/bin/env python3
"""all-MiniLM-L6-v2: KnowLM's BERT embedder (float32 and `--fast-embeddings`) vs
sentence-transformers (torch CPU), same sentences, same 2 threads, in one run.

    python3 Benchmarks/embeddings_vs_sentence_transformers.py [--venv /work/refvenv] [--n 2000]
                                                               [--rounds 2] [--passages 10000]

Throughput: the questions of HaluEval QA (real English sentences), read from the default
knowledge base's data (scripts/build-default-kb.sh); the engines alternate for --rounds rounds
and the best round of each is reported (this shared machine moves by ~15% from run to run).
Agreement: the largest 1 - cosine between each KnowLM mode and sentence-transformers.

Retrieval (--passages P, 0 to skip): the --n questions from row --offset searched by exact inner product
over the first P HaluEval knowledge passages, each mode embedding both sides. recall@10 of the
fast mode = the share of float32's top 10 that the fast mode's top 10 holds, averaged over the
questions; also the share of questions whose own passage is in each mode's top 5.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--venv", default="/work/refvenv")
ap.add_argument("--n", type=int, default=2000)
ap.add_argument("--offset", type=int, default=0, help="first question row (rows 0-1999 were used to choose the fast mode)")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--passages", type=int, default=10000)
args = ap.parse_args()
home = os.environ.get("KNOWLM_HOME", os.path.expanduser("~/.cache/knowlm"))
rows = [json.loads(l) for l in open(os.path.join(home, "kb/data/halueval_rows.jsonl"), encoding="utf-8")]
rows = rows[args.offset: args.offset + args.n]
sentences = [r["question"].replace("\n", " ") for r in rows]
tmp = tempfile.mkdtemp(prefix="knowlm-embed-bench-")
path = os.path.join(tmp, "questions.txt")
with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(sentences) + "\n")

reference = r'''
import json, sys, time, torch, numpy as np
from sentence_transformers import SentenceTransformer
torch.set_num_threads(int(sys.argv[3]))
s = open(sys.argv[1], encoding="utf-8").read().splitlines()
m = SentenceTransformer(sys.argv[2], device="cpu")
m.encode(s[:64], batch_size=64)
t = time.perf_counter(); v = m.encode(s, batch_size=64, normalize_embeddings=True); dt = time.perf_counter() - t
np.save(sys.argv[1] + ".st.npy", v)
print(json.dumps({"sentences": len(s), "seconds": dt, "sentences_per_second": len(s) / dt}))
'''
folder = os.path.join(home, "models/all-MiniLM-L6-v2")
py = os.path.join(args.venv, "bin/python")
env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
knowlm = os.environ.get("KNOWLM_BIN", os.path.join(root, ".build/release/knowlm"))
modes = {"float32": [], "fast": ["--fast-embeddings"]}


def ours(flags, extra):
    return subprocess.run([knowlm, "embed", *flags, *extra], check=True, capture_output=True, text=True, env=env).stdout


best = {"sentence-transformers": 0.0, "float32": 0.0, "fast": 0.0}
for _ in range(args.rounds):
    st = json.loads(subprocess.run([py, "-c", reference, path, folder, str(args.threads)],
                                   check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    best["sentence-transformers"] = max(best["sentence-transformers"], st["sentences_per_second"])
    for mode, flags in modes.items():
        r = json.loads(ours(flags, ["-f", path, "--timing"]))
        best[mode] = max(best[mode], r["sentences_per_second"])

check = r'''
import json, sys, numpy as np
st = np.load(sys.argv[1] + ".st.npy")
ours = np.array([json.loads(l)["embedding"] for l in open(sys.argv[2])], dtype=np.float32)
cos = (st * ours).sum(1) / np.linalg.norm(st, axis=1) / np.linalg.norm(ours, axis=1)
print(json.dumps({"max": float((1 - cos).max()), "mean": float((1 - cos).mean())}))
'''
agreement = {}
for mode, flags in modes.items():
    out = os.path.join(tmp, f"q.{mode}.jsonl")
    with open(out, "w") as f:
        f.write(ours(flags, ["-f", path, "--json"]))
    agreement[mode] = json.loads(subprocess.run([py, "-c", check, path, out], check=True, capture_output=True, text=True).stdout)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
flags = open("/proc/cpuinfo").read()
print(f"{time.strftime('%Y-%m-%d')}, {cpu} ({'AVX512_BF16' if 'avx512_bf16' in flags else 'no AVX512_BF16'}), "
      f"{args.threads} threads; HaluEval questions {args.offset}-{args.offset + len(sentences) - 1}, best of {args.rounds} rounds")
print("| engine | sentences/s | ratio to sentence-transformers | 1 - cosine to sentence-transformers (max / mean) |\n|---|---|---|---|")
stv = best["sentence-transformers"]
print(f"| sentence-transformers (torch CPU, float32) | {stv:.0f} | 1.00 | — |")
for mode in modes:
    a = agreement[mode]
    label = "KnowLM float32" if mode == "float32" else "KnowLM `--fast-embeddings`"
    print(f"| {label} | {best[mode]:.0f} | {best[mode] / stv:.2f} | {a['max']:.1e} / {a['mean']:.1e} |")

if args.passages > 0:
    passages = [json.loads(l) for l in open(os.path.join(home, "kb/data/halueval_passages.jsonl"), encoding="utf-8")][: args.passages]
    ppath = os.path.join(tmp, "passages.txt")
    with open(ppath, "w", encoding="utf-8") as f:
        f.write("\n".join(" ".join(p["text"].split()) or "(empty)" for p in passages) + "\n")
    ids = {p["id"]: i for i, p in enumerate(passages)}
    gold = [ids.get(r["passage_id"], -1) for r in rows]
    files = {}
    for mode, flags in modes.items():
        for name, src in (("q", path), ("p", ppath)):
            out = os.path.join(tmp, f"{name}.{mode}.jsonl")
            with open(out, "w") as f:
                f.write(ours(flags, ["-f", src, "--json"]))
            files[(name, mode)] = out
    recall = r'''
import json, sys, numpy as np
load = lambda p: np.array([json.loads(l)["embedding"] for l in open(p)], dtype=np.float32)
q32, p32, qf, pf = (load(p) for p in sys.argv[1:5])
gold = json.loads(sys.argv[5])
t32 = np.argsort(-(q32 @ p32.T), axis=1)[:, :10]
tf = np.argsort(-(qf @ pf.T), axis=1)[:, :10]
rec = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(t32, tf)]))
g32 = float(np.mean([g in a[:5] for g, a in zip(gold, t32)]))
gf = float(np.mean([g in b[:5] for g, b in zip(gold, tf)]))
print(json.dumps({"recall_at_10": rec, "gold_at_5_float32": g32, "gold_at_5_fast": gf}))
'''
    r = json.loads(subprocess.run([py, "-c", recall, files[("q", "float32")], files[("p", "float32")],
                                   files[("q", "fast")], files[("p", "fast")], json.dumps(gold)],
                                  check=True, capture_output=True, text=True).stdout)
    print(f"\nRetrieval, {len(sentences)} questions over {len(passages)} passages (exact inner product): "
          f"recall@10 of `--fast-embeddings` against float32 **{r['recall_at_10']:.4f}**; "
          f"own passage in the top 5: float32 {r['gold_at_5_float32']:.3f}, fast {r['gold_at_5_fast']:.3f}")
