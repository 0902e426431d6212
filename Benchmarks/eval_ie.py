#!/usr/bin/env python3
"""Information extraction on CrossNER-format data, stage by stage, with the default model.

For each domain folder (test.json + class.json) it runs `knowlm eval ie` once per
configuration, writes the per-sentence predictions, and reports micro P/R/F1 and parse errors
on the development split (the first --dev sentences, which the pipeline was tuned on), on the
held-out rest, and on the whole file, plus sentences per second.

Configurations (each adds one stage to the one before):
  free       few-shot OneKE JSON, free decoding (no grammar)       --strategy generate --no-grammar
  grammar    the same under the task's JSON Schema + copy-from-input --strategy generate
  names-only candidate spans, model picks the type or none, examples'  --strategy type-spans --no-calibration --embedder none
             types mapped onto the schema by name only
  spans      the same with types mapped by MiniLM similarity too    --strategy type-spans --no-calibration
  names      spans + calibration, capitalised names only            --lowercase-terms off
  default    + lower-case noun phrases as candidates, kept only under labels the bundled
             examples show in lower case or not at all (the default)  (no flags)
  terms      lower-case terms kept under any label                   --lowercase-terms all
  free-typing the default pipeline with the model writing each type freely (constraints off)
                                                                      --no-grammar

Usage:
  Benchmarks/eval_ie.py --knowlm .build/release/knowlm --data ../shared/eval/crossner \
      [--domains ai,literature,music] [--configs free,grammar,spans,default] [--limit N] [--dev 100]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

CONFIGS = {
    "free": ["--strategy", "generate", "--no-grammar"],
    "grammar": ["--strategy", "generate"],
    "names-only": ["--strategy", "type-spans", "--no-calibration", "--embedder", "none"],
    "spans": ["--strategy", "type-spans", "--no-calibration"],
    "default": [],
    "names": ["--lowercase-terms", "off"],
    "terms": ["--lowercase-terms", "all"],
    "typed-terms": ["--lowercase-terms", "typed"],
    "free-typing": ["--no-grammar"],
}


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def tuples(obj):
    return {(m, t) for t, ms in obj.items() for m in (ms if isinstance(ms, list) else [])}


def score(rows):
    p = g = c = 0
    for r in rows:
        a, b = tuples(r["predicted"]), tuples(r["gold"])
        p += len(a)
        g += len(b)
        c += len(a & b)
    prec = 100 * c / p if p else 0
    rec = 100 * c / g if g else 0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0
    return prec, rec, f1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--knowlm", default=".build/release/knowlm")
    ap.add_argument("--data", required=True, help="folder with one sub-folder per domain")
    ap.add_argument("--domains", default="ai,literature,music")
    ap.add_argument("--configs", default="free,grammar,spans,default")
    ap.add_argument("--limit", type=int, help="only the first N sentences of each domain")
    ap.add_argument("--dev", type=int, default=100, help="sentences of the development split")
    ap.add_argument("--offset", type=int, default=0, help="skip the first N sentences (--offset 100: held-out only)")
    ap.add_argument("--out", default=None, help="folder for prediction files (default: a temp folder)")
    args = ap.parse_args()

    out = args.out or tempfile.mkdtemp(prefix="eval_ie_")
    os.makedirs(out, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d')} · CPU: {cpu_name()} · {os.cpu_count()} cores · predictions in {out}")
    print("| domain | config | dev F1 | held-out P / R / F1 | all F1 | parse errors | sentences/s |")
    print("|---|---|---|---|---|---|---|")
    for domain in args.domains.split(","):
        path = os.path.join(args.data, domain, "test.json")
        for config in args.configs.split(","):
            pred = os.path.join(out, f"{domain}.{config}.jsonl")
            cmd = [args.knowlm, "eval", "ie", "--data", path, "--json", "--predictions", pred] + CONFIGS[config]
            if args.limit:
                cmd += ["--limit", str(args.limit)]
            if args.offset:
                cmd += ["--offset", str(args.offset)]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"| {domain} | {config} | failed: {run.stderr.strip()[-200:]} |||||")
                continue
            summary = json.loads(run.stdout.strip().splitlines()[-1])
            rows = [json.loads(l) for l in open(pred)]
            skip = max(0, args.dev - args.offset)
            dev, held = rows[:skip], rows[skip:]
            hp, hr, hf = score(held)
            dev_f1 = f"{score(dev)[2]:.1f}" if dev else "–"
            print(f"| {domain} | {config} | {dev_f1} | {hp:.1f} / {hr:.1f} / {hf:.1f} | {float(summary['f1']):.1f} "
                  f"| {summary['parse_errors']} | {float(summary['texts_per_second']):.2f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
