"""Reference timings for the Swift SPARQL engine: pyoxigraph over the same geonames.nt.

Loads the graph into an in-memory pyoxigraph store and times every query of
KnowledgeBase/eval/sparql_queries.json tagged "2hop" (or all with --all): one warm-up run,
then the median of 20 runs, each run consuming every solution. Prints one JSON object
{query_id: seconds}; the load time goes to stderr.

    /work/refvenv/bin/python Benchmarks/sparql_pyoxigraph.py KnowledgeBase/build/geonames.nt

Needs pyoxigraph (a reference only; never used by the product).
"""
import argparse
import json
import os
import statistics
import sys
import time

import pyoxigraph as ox

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("graph", nargs="?",
                    default=os.path.join(here, "..", "KnowledgeBase", "build", "geonames.nt"))
parser.add_argument("--queries",
                    default=os.path.join(here, "..", "KnowledgeBase", "eval", "sparql_queries.json"))
parser.add_argument("--runs", type=int, default=20)
parser.add_argument("--all", action="store_true", help="time every query, not only 2-hop ones")
args = parser.parse_args()

start = time.perf_counter()
store = ox.Store()  # no path: in memory
store.bulk_load(path=args.graph, format=ox.RdfFormat.N_TRIPLES)
print("loaded %d triples in %.2f s" % (len(store), time.perf_counter() - start), file=sys.stderr)

with open(args.queries, encoding="utf-8") as handle:
    entries = json.load(handle)

timings = {}
for entry in entries:
    if not args.all and "2hop" not in entry["tags"]:
        continue
    expected = len(entry["rows"])
    samples = []
    for run in range(args.runs + 1):
        began = time.perf_counter()
        rows = sum(1 for _ in store.query(entry["query"]))
        elapsed = time.perf_counter() - began
        if rows != expected:
            sys.exit("%s: %d rows, golden has %d" % (entry["id"], rows, expected))
        if run:  # the first run warms caches
            samples.append(elapsed)
    timings[entry["id"]] = statistics.median(samples)

print(json.dumps(timings, indent=1))
