#!/usr/bin/env python3
"""KnowLM's HNSW index vs hnswlib on the same embeddings, in one run.

    python3 Benchmarks/vector_index_vs_hnswlib.py --kb KB.sqlite --queries QUESTIONS.txt [--venv /work/refvenv]

The knowledge base must hold embeddings (`knowlm kb ingest`), and its HNSW index is brought up
built again with `knowlm kb index --rebuild` first (timed: that is our build time). For the 100k-vector
benchmark in BENCHMARKS.md:

    python3 Benchmarks/wordnet_glosses.py /tmp/wordnet100k.jsonl            # apt-get install wordnet-base
    knowlm kb ingest --kb /tmp/wordnet.sqlite /tmp/wordnet100k.jsonl          # embeds 100,000 glosses
    python3 Benchmarks/wordnet_glosses.py --limit 101000 /tmp/wn101k.jsonl && tail -n 1000 /tmp/wn101k.jsonl \\
        | python3 -c 'import json,sys; [print(json.loads(l)["text"]) for l in sys.stdin]' > /tmp/wn_queries.txt
    python3 Benchmarks/vector_index_vs_hnswlib.py --kb /tmp/wordnet.sqlite --queries /tmp/wn_queries.txt

Queries are embedded by `knowlm embed`. Ground truth is exact inner-product search in numpy
(and KnowLM's own exact search, whose agreement is reported). Both indexes use M = 16,
ef_construction = 200, inner product, and answer queries on one thread (hnswlib: one
knn_query call over all queries with num_threads = 1; KnowLM: a loop in-process).
"""
import argparse, datetime, json, os, sqlite3, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--kb", required=True)
ap.add_argument("--queries", required=True, help="text file, one query per line")
ap.add_argument("--venv", default="/work/refvenv")
ap.add_argument("--k", type=int, default=10)
ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256")
ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
knowlm = os.environ.get("KNOWLM_BIN", os.path.join(root, ".build/release/knowlm"))

if not args.inner:
    # numpy and hnswlib live in the reference venv.
    os.execv(os.path.join(args.venv, "bin/python"), [os.path.join(args.venv, "bin/python"), __file__, "--inner"] + sys.argv[1:])

import numpy as np
import hnswlib

con = sqlite3.connect(args.kb)
model, = con.execute("SELECT model FROM embeddings LIMIT 1").fetchone()
rows = con.execute("SELECT chunk, vector FROM embeddings WHERE model = ? ORDER BY chunk", (model,)).fetchall()
ids = np.array([r[0] for r in rows], dtype=np.int64)
X = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
con.close()
n, d = X.shape
print(f"{n} vectors of {d} dimensions ({model})", file=sys.stderr)

tmp = tempfile.mkdtemp()
qfile = os.path.join(tmp, "queries.f32")
out = subprocess.run([knowlm, "embed", "--file", args.queries, "--json"], check=True, capture_output=True, text=True).stdout
Q = np.array([json.loads(l)["embedding"] for l in out.splitlines() if l.strip()], dtype=np.float32)
Q.tofile(qfile)
k = args.k

truth = ids[np.argsort(-(Q @ X.T), axis=1)[:, :k]]

def recall(found):
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))

# KnowLM: build the stored index from the embeddings (timed), then search in-process.
t = time.time()
build = subprocess.run([knowlm, "kb", "index", "--rebuild", "--kb", args.kb], check=True, capture_output=True, text=True).stdout.strip()
ours_build_s = time.time() - t
exact_file = os.path.join(tmp, "exact.i64")
ours = json.loads(subprocess.run([knowlm, "kb", "vector-bench", "--kb", args.kb, "--queries", qfile, "--k", str(k),
                                  "--ef", args.ef, "--exact-out", exact_file], check=True, capture_output=True, text=True).stdout)
ours_exact = np.fromfile(exact_file, dtype=np.int64).reshape(-1, k)
exact_agreement = recall(ours_exact)

# hnswlib
index = hnswlib.Index(space="ip", dim=d)
index.init_index(max_elements=n, M=16, ef_construction=200, random_seed=100)
index.set_num_threads(1)
t = time.time()
index.add_items(X, ids)
hnswlib_build_s = time.time() - t
ref = []
for ef in [int(e) for e in args.ef.split(",")]:
    index.set_ef(max(ef, k))
    t = time.time()
    labels, _ = index.knn_query(Q, k=k, num_threads=1)
    qps = len(Q) / (time.time() - t)
    ref.append({"ef": ef, "recall": recall(labels), "qps": qps})

cpu = "unknown"
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
print(f"Date {datetime.date.today()}, {cpu}, {os.cpu_count()} cores; {n} vectors x {d}, {len(Q)} queries, k = {k}; "
      f"M 16, ef_construction 200, inner product, queries on 1 thread.\n")
print(f"Build: KnowLM `kb index` {ours_build_s:.1f} s ({build}); hnswlib add_items (1 thread) {hnswlib_build_s:.1f} s.")
print(f"KnowLM exact search vs numpy: recall@{k} {exact_agreement:.4f}, {ours['exact_qps']:.0f} queries/s.\n")
print(f"| ef | KnowLM recall@{k} | KnowLM queries/s | hnswlib recall@{k} | hnswlib queries/s |")
print("|---|---|---|---|---|")
for a, b in zip(ours["hnsw"], ref):
    print(f"| {a['ef']} | {a['recall']:.4f} | {a['qps']:.0f} | {b['recall']:.4f} | {b['qps']:.0f} |")

def at(runs, target):
    ok = [r for r in runs if r["recall"] >= target]
    return ok[0] if ok else None

for target in (0.95, 0.99):
    a, b = at(ours["hnsw"], target), at(ref, target)
    if a and b:
        print(f"\nAt recall@{k} >= {target}: KnowLM ef {a['ef']} {a['qps']:.0f} q/s, hnswlib ef {b['ef']} {b['qps']:.0f} q/s "
              f"-> ratio {a['qps'] / b['qps']:.2f}")
    else:
        print(f"\nAt recall@{k} >= {target}: KnowLM {'reached' if a else 'not reached'}, hnswlib {'reached' if b else 'not reached'} in the ef range")
