#!/usr/bin/env python3
"""Passage QA on HaluEval QA rows 0-1999 with the default knowledge base.

    python3 Benchmarks/eval_passage_qa.py [--rows 2000] [--answer-rows 2000] [--out answers.jsonl]

Retrieval: each question goes through `knowlm kb search --batch` (BM25 + dense fused by
reciprocal rank, and each alone); a hit is the question's gold passage (its `passage_id`)
among the top 5. Answers: `knowlm ask --batch` on the first --answer-rows questions, scored
against HaluEval's `right_answer` with SQuAD's normalisation (lower case, no punctuation or
articles): exact match and token F1, after removing citation markers like "[1]".
"""
import argparse, collections, json, os, re, string, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
home = os.environ.get("KNOWLM_HOME", os.path.expanduser("~/.cache/knowlm"))
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.path.join(home, "kb/data/halueval_rows.jsonl"))
ap.add_argument("--rows", type=int, default=2000)
ap.add_argument("--answer-rows", type=int, default=2000)
ap.add_argument("--k", type=int, default=5)
ap.add_argument("--out", default="")
ap.add_argument("--knowlm", default=os.environ.get("KNOWLM_BIN", os.path.join(root, ".build/release/knowlm")))
args = ap.parse_args()

rows = [json.loads(l) for l in open(args.data, encoding="utf-8") if l.strip()][: args.rows]
tmp = tempfile.mkdtemp()
batch = os.path.join(tmp, "questions.jsonl")
with open(batch, "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps({"id": r["row"], "question": r["question"]}, ensure_ascii=False) + "\n")

print(f"HaluEval QA rows 0-{len(rows) - 1}, passages in the default knowledge base\n")
print(f"| passage search | gold passage in top {args.k} | time per query |")
print("|---|---|---|")
retrieved = {}
for mode in ["fused", "text", "vector"]:
    start = time.time()
    out = subprocess.run([args.knowlm, "kb", "search", "--batch", batch, "--limit", str(args.k), "--mode", mode],
                         check=True, capture_output=True, text=True).stdout
    elapsed = time.time() - start
    hits = {}
    for line in out.splitlines():
        o = json.loads(line)
        hits[o["id"]] = [p["source"].rsplit("#", 1)[-1] for p in o["passages"]]
    found = sum(1 for r in rows if r["passage_id"] in hits.get(r["row"], []))
    retrieved[mode] = hits
    print(f"| {mode} | {found}/{len(rows)} = {found / len(rows):.3f} | {1000 * elapsed / len(rows):.1f} ms |")

def normalize(s):
    s = re.sub(r"\[\d+\]", " ", s).lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())

def f1(pred, gold):
    p, g = normalize(pred).split(), normalize(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if not p or not g:
        return float(p == g)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)

n = min(args.answer_rows, len(rows))
if n > 0:
    answer_batch = os.path.join(tmp, "answer.jsonl")
    with open(answer_batch, "w", encoding="utf-8") as f:
        for r in rows[:n]:
            f.write(json.dumps({"id": r["row"], "question": r["question"]}, ensure_ascii=False) + "\n")
    start = time.time()
    out = subprocess.run([args.knowlm, "ask", "--batch", answer_batch], check=True, capture_output=True, text=True).stdout
    elapsed = time.time() - start
    answers = {o["id"]: o for o in map(json.loads, out.splitlines())}
    em = f1_sum = contains = 0
    records = []
    for r in rows[:n]:
        a = answers.get(r["row"], {"answer": ""})["answer"]
        e = float(normalize(a) == normalize(r["right_answer"]))
        f = f1(a, r["right_answer"])
        c = float(normalize(r["right_answer"]) in normalize(a))
        em += e; f1_sum += f; contains += c
        records.append({"row": r["row"], "question": r["question"], "gold": r["right_answer"], "answer": a,
                        "em": e, "f1": f, "gold_passage_in_top5": r["passage_id"] in retrieved["fused"].get(r["row"], [])})
    print(f"\nAnswers (`knowlm ask`, default model, rows 0-{n - 1}, {elapsed / n:.2f} s each): "
          f"exact match {em / n:.3f}, token F1 {f1_sum / n:.3f}, answer contains the gold answer {contains / n:.3f}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
