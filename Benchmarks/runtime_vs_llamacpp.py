#!/usr/bin/env python3
"""KnowLM runtime vs llama.cpp on the same GGUF file, same threads, in one run.

    python3 Benchmarks/runtime_vs_llamacpp.py [--model PATH] [--threads 2] [--venv DIR]
        [--precision llama.cpp,llama.cpp-tiled]

Builds nothing: expects `.build/release/knowlm` (scripts/setup.sh) and a Python environment
with llama-cpp-python (`--venv`, default /work/refvenv; create one with
`python3 -m venv V && V/bin/pip install llama-cpp-python`). Runs each engine in its own process,
alternating, and prints a Markdown table of ratios for BENCHMARKS.md.
"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--model", default=os.path.expanduser("~/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--venv", default="/work/refvenv")
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("-p", type=int, default=512)
ap.add_argument("-n", type=int, default=128)
ap.add_argument("--precision", default="llama.cpp,llama.cpp-tiled",
                help="comma-separated KnowLM precisions to measure, each a column")
args = ap.parse_args()

knowlm = os.environ.get("KNOWLM_BIN", os.path.join(root, ".build/release/knowlm"))
precisions = args.precision.split(",")
ours_cmd = lambda precision: [knowlm, "bench", "-m", args.model, "-t", str(args.threads), "-p", str(args.p), "-n", str(args.n),
                              "-r", "3", "--json", "--precision", precision]
ref_cmd = [os.path.join(args.venv, "bin/python"), os.path.join(root, "Benchmarks/llamacpp_bench.py"), args.model,
           "-t", str(args.threads), "-p", str(args.p), "-n", str(args.n), "-r", "3"]

def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])

ours, ref = {p: [] for p in precisions}, []
for _ in range(args.rounds):
    ref.append(run(ref_cmd))
    for p in precisions:
        ours[p].append(run(ours_cmd(p)))

def med(rows, key):
    return statistics.median(r[key] for r in rows)

rows = [
    ("decode (tg%d) tokens/s" % args.n, "tg_tokens_per_second", True),
    ("prefill (pp%d) tokens/s" % args.p, "pp_tokens_per_second", True),
    ("peak RSS MiB", "peak_rss_mib", False),
    ("model load s", "load_seconds", False),
]
cpu = "unknown"
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
print(f"Date {datetime.date.today()}, {cpu}, {os.cpu_count()} cores, {args.threads} threads, "
      f"model {os.path.basename(args.model)}, llama.cpp {ref[0]['version']} (llama-cpp-python), median of {args.rounds} rounds x 3 reps\n")
print("| metric | llama.cpp | " + " | ".join(f"KnowLM `{p}` | ratio" for p in precisions) + " |")
print("|---|---|" + "---|---|" * len(precisions))
for label, key, higher in rows:
    b = med(ref, key)
    cells = []
    for p in precisions:
        a = med(ours[p], key)
        cells.append(f"{a:.2f} | {a / b:.2f}{'' if higher else ' (lower is better)'}")
    print(f"| {label} | {b:.2f} | " + " | ".join(cells) + " |")
print(f"\nllama.cpp's peak RSS includes the Python interpreter and llama-cpp-python ({med(ref, 'interpreter_rss_mib'):.0f} MiB before loading).")
