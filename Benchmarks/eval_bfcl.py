#!/usr/bin/env python3
"""Tool calling on the Berkeley Function-Calling Leaderboard (bfcl-eval) with `knowlm agent`.

    python3 Benchmarks/eval_bfcl.py --category simple_python --offset 200 --limit 100   # held-out
    python3 Benchmarks/eval_bfcl.py --category simple_python --limit 100                # development
    python3 Benchmarks/eval_bfcl.py --category multiple --offset 100 --limit 50
    python3 Benchmarks/eval_bfcl.py --category irrelevance --offset 120 --limit 60

Each case's functions are handed to `knowlm agent --functions` (as a client would hand OpenAI
tools); the agent's first action is either a call, under a grammar built from the function
schemas, or an answer without a call. The call is scored by bfcl-eval's own AST checker
(function name and every argument against the acceptable values); for irrelevance a case is
right when no function is called. The wheel is fetched with `pip download` (no install: its
model-handler imports are replaced by a registry with one entry for this model, which is all
the checker reads). Cases 0-99 of each category are the development split; report others.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time, types, zipfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
home = os.environ.get("KNOWLM_HOME", os.path.expanduser("~/.cache/knowlm"))
ap = argparse.ArgumentParser()
ap.add_argument("--category", choices=["simple_python", "multiple", "irrelevance"], default="simple_python")
ap.add_argument("--offset", type=int, default=0)
ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--agent-args", default="", help="extra arguments for knowlm agent (space-separated)")
ap.add_argument("--out", default="")
ap.add_argument("--knowlm", default=os.path.join(root, ".build/release/knowlm"))
args = ap.parse_args()

downloads = os.path.join(home, "eval/downloads")
os.makedirs(downloads, exist_ok=True)
wheels = glob.glob(os.path.join(downloads, "bfcl_eval-2026.3.23-*.whl"))
if not wheels:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "bfcl-eval==2026.3.23", "-d", downloads], check=True)
    wheels = glob.glob(os.path.join(downloads, "bfcl_eval-2026.3.23-*.whl"))
unpacked = os.path.join(home, "eval/bfcl_eval-2026.3.23")
if not os.path.isdir(unpacked):
    zipfile.ZipFile(wheels[0]).extractall(unpacked)
sys.path.insert(0, unpacked)

MODEL = "knowlm-agent"
config = types.ModuleType("bfcl_eval.constants.model_config")
config.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(underscore_to_dot=False)}
sys.modules["bfcl_eval.constants.model_config"] = config
from bfcl_eval.constants.enums import Language  # noqa: E402
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker  # noqa: E402


def load(path):
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


data = os.path.join(unpacked, "bfcl_eval/data")
cases = load(os.path.join(data, f"BFCL_v4_{args.category}.json"))[args.offset:]
if args.limit:
    cases = cases[: args.limit]
answers = {}
if args.category != "irrelevance":
    answers = {a["id"]: a["ground_truth"] for a in load(os.path.join(data, f"possible_answer/BFCL_v4_{args.category}.json"))}

with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
    for c in cases:
        task = " ".join(m["content"] for m in c["question"][0] if m["role"] == "user")
        f.write(json.dumps({"id": c["id"], "task": task, "functions": c["function"]}, ensure_ascii=False) + "\n")
    batch = f.name
command = [args.knowlm, "agent", "--batch", batch, "--json", "--no-record", "--no-verify", "--max-steps", "2"] + args.agent_args.split()
t0 = time.time()
out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
elapsed = time.time() - t0
results = {r["id"]: r for r in map(json.loads, out.strip().splitlines())}

right = unparseable = 0
rows = []
for c in cases:
    r = results.get(c["id"], {})
    call = r.get("call")
    if r.get("outcome") == "failed":
        unparseable += 1
    if args.category == "irrelevance":
        ok = call is None and r.get("outcome") in ("answered", "forced")
        why = "" if ok else "called a function"
    elif call is None:
        ok, why = False, "no call"
    else:
        check = ast_checker(c["function"], [{call["name"]: call["arguments"]}], answers[c["id"]], Language.PYTHON, args.category, MODEL)
        ok, why = check["valid"], "; ".join(check.get("error", []))
    right += ok
    rows.append({"id": c["id"], "call": call, "answer": r.get("answer"), "correct": ok, "why": why})
if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
n = len(cases)
print(f"BFCL {args.category} cases {args.offset}-{args.offset + n - 1}: {right}/{n} = {100 * right / n:.1f}% correct, "
      f"{unparseable} unparseable or failed runs, {elapsed:.0f} s ({elapsed / n:.1f} s each)")
