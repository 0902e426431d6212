#!/usr/bin/env python3
"""all-MiniLM-L6-v2: KnowLM's BERT embedder vs sentence-transformers (torch CPU), same
sentences, same 2 threads, in one run.

    python3 Benchmarks/embeddings_vs_sentence_transformers.py [--venv /work/refvenv] [--n 2000]

Sentences: the questions of HaluEval QA (real English sentences), read from the default
knowledge base's data (scripts/build-default-kb.sh). Prints throughput and the largest
cosine difference between the two engines' embeddings.
"""
import argparse, json, os, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--venv", default="/work/refvenv")
ap.add_argument("--n", type=int, default=2000)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()
home = os.environ.get("KNOWLM_HOME", os.path.expanduser("~/.cache/knowlm"))
rows = [json.loads(l) for l in open(os.path.join(home, "kb/data/halueval_rows.jsonl"), encoding="utf-8")]
sentences = [r["question"].replace("\n", " ") for r in rows[: args.n]]
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
    f.write("\n".join(sentences) + "\n")
    path = f.name

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
st = json.loads(subprocess.run([os.path.join(args.venv, "bin/python"), "-c", reference, path, folder, str(args.threads)],
                               check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
knowlm = os.environ.get("KNOWLM_BIN", os.path.join(root, ".build/release/knowlm"))
ours = json.loads(subprocess.run([knowlm, "embed", "-f", path, "--timing"], check=True, capture_output=True, text=True, env=env).stdout)
vectors = subprocess.run([knowlm, "embed", "-f", path, "--json"], check=True, capture_output=True, text=True, env=env).stdout.splitlines()
check = r'''
import json, sys, numpy as np
st = np.load(sys.argv[1] + ".st.npy")
ours = np.array([json.loads(l)["embedding"] for l in open(sys.argv[2])], dtype=np.float32)
cos = (st * ours).sum(1) / np.linalg.norm(st, axis=1) / np.linalg.norm(ours, axis=1)
print(json.dumps({"max_cosine_distance": float((1 - cos).max()), "mean_cosine_distance": float((1 - cos).mean())}))
'''
with open(path + ".ours.jsonl", "w") as f:
    f.write("\n".join(vectors) + "\n")
agreement = json.loads(subprocess.run([os.path.join(args.venv, "bin/python"), "-c", check, path, path + ".ours.jsonl"],
                                      check=True, capture_output=True, text=True).stdout)
print(f"{len(sentences)} HaluEval questions, {args.threads} threads")
print("| engine | sentences/s |\n|---|---|")
print(f"| KnowLM | {ours['sentences_per_second']:.0f} |\n| sentence-transformers | {st['sentences_per_second']:.0f} |")
print(f"ratio KnowLM / sentence-transformers: {ours['sentences_per_second'] / st['sentences_per_second']:.2f}")
print(f"1 - cosine(KnowLM, sentence-transformers): max {agreement['max_cosine_distance']:.2e}, mean {agreement['mean_cosine_distance']:.2e}")
