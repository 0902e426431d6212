#!/usr/bin/env python3
"""HaluEval QA hallucination detection with `knowlm detect` over the default knowledge base.

    python3 Benchmarks/eval_halueval.py --rows 1000:2000            # held-out (report first)
    python3 Benchmarks/eval_halueval.py --rows 0:1000 --out dev.jsonl --tune   # development split
    python3 Benchmarks/eval_halueval.py --rows 5000:5500            # rows never looked at

Every HaluEval QA row's knowledge passage is in the default knowledge base (scripts/setup.sh
ingests all 10,000); `knowlm detect` is not told which passage belongs to the row: it
retrieves evidence for the question like any other. Each row gives two cases: the right
answer (gold label non-hallucination) and the hallucinated one (gold label hallucination).

Prints accuracy and precision/recall per label. `--tune` searches the detector's weights
and threshold on the scores the run recorded (use it on the development rows only) and prints
the best setting; the defaults in DetectorOptions come from such a run on rows 0-999.
"""
import argparse, collections, itertools, json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
home = os.environ.get("KNOWLM_HOME", os.path.expanduser("~/.cache/knowlm"))
ap = argparse.ArgumentParser()
ap.add_argument("--rows", default="1000:2000", help="start:end of HaluEval QA rows")
ap.add_argument("--data", default=os.path.join(home, "kb/data/halueval_rows.jsonl"))
ap.add_argument("--kb", default="")
ap.add_argument("--out", default="", help="write the detector's output lines here")
ap.add_argument("--scores", default="", help="score a file written by --out instead of running")
ap.add_argument("--tune", action="store_true")
ap.add_argument("--no-model", action="store_true", help="lexical support only")
ap.add_argument("--knowlm", default=os.path.join(root, ".build/release/knowlm"))
args = ap.parse_args()

start, end = map(int, args.rows.split(":"))
rows = [json.loads(l) for l in open(args.data, encoding="utf-8")][start:end]
cases = []
for r in rows:
    cases.append({"id": f'{r["row"]}-right', "question": r["question"], "answer": r["right_answer"], "gold": "non-hallucination"})
    cases.append({"id": f'{r["row"]}-hallucinated', "question": r["question"], "answer": r["hallucinated_answer"], "gold": "hallucination"})

if args.scores:
    lines = [json.loads(l) for l in open(args.scores, encoding="utf-8") if l.strip()]
    elapsed = 0
else:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps({k: c[k] for k in ("id", "question", "answer")}, ensure_ascii=False) + "\n")
        batch = f.name
    command = [args.knowlm, "detect", "--batch", batch] + (["--kb", args.kb] if args.kb else []) + (["--no-model"] if args.no_model else [])
    t0 = time.time()
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    elapsed = time.time() - t0
    lines = [json.loads(l) for l in out.strip().splitlines()]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for l in lines:
                f.write(json.dumps(l, ensure_ascii=False) + "\n")
by_id = {l["id"]: l for l in lines}


def report(predict, title):
    confusion = collections.Counter()
    for c in cases:
        confusion[(c["gold"], predict(by_id[c["id"]]))] += 1
    n = sum(confusion.values())
    correct = sum(v for (g, p), v in confusion.items() if g == p)
    print(f"{title}: accuracy {100 * correct / n:.1f}% ({correct}/{n})")
    print("| label | precision | recall |")
    print("|---|---|---|")
    for label in ("hallucination", "non-hallucination"):
        tp = confusion[(label, label)]
        predicted = sum(v for (g, p), v in confusion.items() if p == label)
        actual = sum(v for (g, p), v in confusion.items() if g == label)
        print(f"| {label} | {100 * tp / max(1, predicted):.1f}% | {100 * tp / max(1, actual):.1f}% |")
    return correct / n


print(f"HaluEval QA rows {start}-{end - 1}: {len(cases)} answers" + (f" in {elapsed:.0f} s ({elapsed / len(cases):.2f} s each)" if elapsed else ""))
report(lambda l: l["response_label"], "detect")

if args.tune:
    def claim_scores(line):
        return [c.get("scores", {}) for c in line["claims"]]

    best = (0, None)
    for wl, wa, wf in itertools.product([0, 0.5, 1, 1.5, 2], [0, 0.5, 1, 1.5, 2], [0, 0.1, 0.25, 0.5, 1]):
        values = []
        for c in cases:
            scores = claim_scores(by_id[c["id"]])
            s = min((x.get("lexical", 0) * wl + x.get("agreement", 0) * wa + x.get("lift", 0) * wf for x in scores), default=-99)
            values.append((s, c["gold"]))
        for threshold in sorted({round(v, 2) for v, _ in values}):
            acc = sum((v >= threshold) == (g == "non-hallucination") for v, g in values) / len(values)
            if acc > best[0]:
                best = (acc, (wl, wa, wf, threshold))
    print(f"tuned on these rows: accuracy {100 * best[0]:.1f}% with weightLexical={best[1][0]}, weightAgreement={best[1][1]}, "
          f"weightLift={best[1][2]}, threshold={best[1][3]}")
