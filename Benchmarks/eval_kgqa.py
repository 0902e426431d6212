#!/usr/bin/env python3
"""KG question answering with `knowlm ask` over a knowledge base.

    python3 Benchmarks/eval_kgqa.py [--questions KnowledgeBase/eval/kgqa.jsonl] [--kb PATH] [--limit N] [--out answers.jsonl]

    # the same questions through the tool-using agent (`knowlm agent --batch`), with mean steps
    python3 Benchmarks/eval_kgqa.py --via agent [--agent-args "--no-feedback"] [--lang en] [--offset N --limit N]

    # the second domain (chemical elements), never tuned on: build its knowledge base, then
    .build/release/knowlm kb import-triples --kb /tmp/elements.sqlite KnowledgeBase/eval/elements/elements.nt
    python3 Benchmarks/eval_kgqa.py --kb /tmp/elements.sqlite --questions KnowledgeBase/eval/elements/heldout.jsonl

Scoring: an answer is correct when it contains a gold answer (case-insensitive; numbers also
match without thousands separators) and, for comparisons, does not also name the other side
(`wrong`). Prints accuracy per kind and language, and the share of answers the graph decided,
computed, or left to the model, and of abstentions.
"""
import argparse, collections, json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--questions", default=os.path.join(root, "KnowledgeBase/eval/kgqa.jsonl"))
ap.add_argument("--kb", default="")
ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--offset", type=int, default=0)
ap.add_argument("--lang", default="", help="only questions in this language")
ap.add_argument("--via", choices=["ask", "agent"], default="ask")
ap.add_argument("--agent-args", default="", help="extra arguments for knowlm agent (space-separated)")
ap.add_argument("--out", default="")
ap.add_argument("--knowlm", default=os.path.join(root, ".build/release/knowlm"))
args = ap.parse_args()

questions = [json.loads(l) for l in open(args.questions, encoding="utf-8") if l.strip()]
if args.lang:
    questions = [q for q in questions if q.get("lang", "en") == args.lang]
questions = questions[args.offset:]
if args.limit:
    questions = questions[: args.limit]
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
    for q in questions:
        f.write(json.dumps({"id": q["id"], "question": q["question"]}, ensure_ascii=False) + "\n")
    batch = f.name
if args.via == "ask":
    command = [args.knowlm, "ask", "--batch", batch]
else:
    command = [args.knowlm, "agent", "--batch", batch, "--json"] + args.agent_args.split()
command += ["--kb", args.kb] if args.kb else []
start = time.time()
out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
elapsed = time.time() - start
answers = {a["id"]: a for a in map(json.loads, out.strip().splitlines())}


def norm(text):
    return text.lower().replace(",", "")


def correct(answer, golds, wrong=()):
    a = norm(answer)
    if any(w and norm(w) in a for w in wrong):
        return False
    return any(g and norm(g) in a for g in golds)


totals, hits = collections.Counter(), collections.Counter()
sources = collections.Counter()
steps, verified = [], collections.Counter()
rows = []
for q in questions:
    a = answers.get(q["id"], {"answer": ""})
    ok = correct(a["answer"] or "", q["answers"], q.get("wrong", []))
    if args.via == "agent":
        steps.append(len(a.get("steps", [])))
        verified[(a.get("verification") or {}).get("response_label", "none")] += 1
    lang = q.get("lang", "en")
    for key in (q["kind"], f'{q["kind"]}/{lang}', "all"):
        totals[key] += 1
        hits[key] += ok
    if args.via == "ask":
        sources["abstained" if not a.get("supported", True) else a.get("decided_by", "?")] += 1
    else:
        sources[a.get("outcome", "?")] += 1
    rows.append({**q, "predicted": a["answer"], "citations": a.get("citations", []), "supported": a.get("supported"),
                 "decided_by": a.get("decided_by"), "correct": ok})
if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"{len(questions)} questions in {elapsed:.0f} s ({elapsed / max(1, len(questions)):.2f} s each, one process)")
per_question = sorted(a["seconds"] for a in answers.values() if "seconds" in a) if args.via == "ask" else []
if per_question:
    pick = lambda f: per_question[min(len(per_question) - 1, int(f * len(per_question)))]
    print(f"per question (answer only, model loading excluded): median {pick(0.5):.3f} s, 90th percentile {pick(0.9):.3f} s, "
          f"max {per_question[-1]:.3f} s")
print("| kind | correct | accuracy |")
print("|---|---|---|")
for key in sorted(totals):
    print(f"| {key} | {hits[key]}/{totals[key]} | {100 * hits[key] / totals[key]:.1f}% |")
if steps:
    print(f"mean steps per question: {sum(steps) / len(steps):.2f}; verification: " + ", ".join(f"{k} {v}" for k, v in sorted(verified.items())))
print("answers: " + ", ".join(f"{k} {v} ({100 * v / len(questions):.0f}%)" for k, v in sorted(sources.items())))
