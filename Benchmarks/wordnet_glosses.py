#!/usr/bin/env python3
"""WordNet glosses as a JSONL corpus for the vector-index benchmark.

    python3 Benchmarks/wordnet_glosses.py [--limit 100000] OUT.jsonl

Reads Debian's `wordnet-base` (apt-get install wordnet-base: /usr/share/wordnet/data.*) and
writes one line per synset, in file order (nouns, verbs, adjectives, adverbs):
{"id": "n01234567", "title": "dog", "text": "dog, domestic dog: a member of the genus Canis ..."}
"""
import argparse, json, os, sys

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--limit", type=int, default=100000)
ap.add_argument("--wordnet", default="/usr/share/wordnet")
args = ap.parse_args()

count = 0
with open(args.out, "w", encoding="utf-8") as out:
    for pos in ["noun", "verb", "adj", "adv"]:
        path = os.path.join(args.wordnet, "data." + pos)
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: apt-get install wordnet-base")
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.startswith("  ") or "|" not in line:
                continue  # licence header
            head, gloss = line.split("|", 1)
            fields = head.split()
            offset, ss_type, w_cnt = fields[0], fields[2], int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(w_cnt)]
            words = [w.split("(")[0] for w in words]  # adjective markers like "(a)"
            text = ", ".join(words) + ": " + gloss.strip()
            out.write(json.dumps({"id": ss_type + offset, "title": words[0], "text": text}, ensure_ascii=False) + "\n")
            count += 1
            if count >= args.limit:
                print(f"wrote {count} glosses to {args.out}")
                sys.exit(0)
print(f"wrote {count} glosses to {args.out} (all of WordNet)")
