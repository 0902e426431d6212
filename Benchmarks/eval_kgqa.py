#!/usr/bin/env python3
"""KG question answering with `knowlm ask` on the default knowledge base.

    python3 Benchmarks/eval_kgqa.py [--questions KnowledgeBase/eval/kgqa.jsonl] [--limit N] [--out answers.jsonl]

Scoring as the issue states: an answer is correct when it contains the gold entity's label or
one of its aliases (case-insensitive; numbers also match without thousands separators).
Prints accuracy per kind (1hop, 2hop, comparison) and language.
"""
import argparse, collections, json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--questions", default=os.path.join(root, "KnowledgeBase/eval/kgqa.jsonl"))
ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--out", default="")
ap.add_argument("--knowlm", default=os.path.join(root, ".build/release/knowlm"))
args = ap.parse_args()

questions = [json.loads(l) for l in open(args.questions, encoding="utf-8") if l.strip()]
if args.limit:
    questions = questions[: args.limit]
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
    for q in questions:
        f.write(json.dumps({"id": q["id"], "question": q["question"]}, ensure_ascii=False) + "\n")
    batch = f.name
start = time.time()
out = subprocess.run([args.knowlm, "ask", "--batch", batch], check=True, capture_output=True, text=True).stdout
elapsed = time.time() - start
answers = {a["id"]: a for a in map(json.loads, out.strip().splitlines())}

def correct(answer, golds):
    a = answer.lower().replace(",", "")
    return any(g and g.lower().replace(",", "") in a for g in golds)

totals = collections.Counter()
hits = collections.Counter()
rows = []
for q in questions:
    a = answers.get(q["id"], {"answer": ""})
    ok = correct(a["answer"], q["answers"])
    for key in (q["kind"], f'{q["kind"]}/{q["lang"]}', "all"):
        totals[key] += 1
        hits[key] += ok
    rows.append({**q, "predicted": a["answer"], "citations": a.get("citations", []), "correct": ok})
if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"{len(questions)} questions in {elapsed:.0f} s ({elapsed / max(1, len(questions)):.2f} s each)")
print("| kind | correct | accuracy |")
print("|---|---|---|")
for key in sorted(totals):
    print(f"| {key} | {hits[key]}/{totals[key]} | {100 * hits[key] / totals[key]:.1f}% |")
