#!/usr/bin/env python3
"""How the knowledge base's cost grows with the graph: import rate, peak memory, file size,
SPARQL and `ask` latency at 0.27M, 2.7M and 27M triples.

    python3 Benchmarks/big_graph.py [--copies 1,10,100] [--work /work/bench/big]

The graphs are the default knowledge base's GeoNames facts (268,593 triples) written N times
(`make` below, streamed, no memory): copy i renames every GeoNames IRI with a `/c{i}` suffix
(`<http://knowlm.dev/geo/city/1850147>` -> `<http://knowlm.dev/geo/city/1850147/c3>`), so each
copy adds its own entities and triples; literals (names, numbers) are shared, as real graphs
share them. Each size is imported into a new knowledge base by `knowlm kb import-triples`
under `/usr/bin/time -v` (peak resident memory of the whole process); then the 2-hop SPARQL
query and a question are timed against it. Prints a Markdown table.
"""
import argparse, json, os, re, statistics, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
home = os.environ.get("KNOWLM_HOME", os.path.expanduser("~/.cache/knowlm"))
knowlm = os.environ.get("KNOWLM_BIN", os.path.join(root, ".build/release/knowlm"))
GEO = re.compile(rb"<(http://knowlm\.dev/geo/[^>]*)>")

SPARQL = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX o: <http://knowlm.dev/ontology/>
SELECT ?city ?country WHERE { ?city o:country ?c . ?c rdfs:label ?country . ?city rdfs:label "Osaka"@en }"""
QUESTION = "Which currency is used in the country where Osaka is?"


def make(copies: int, out: str) -> int:
    """Writes `copies` renamed copies of geonames.nt to `out`; returns the triple count."""
    source = os.path.join(home, "kb/data/geonames.nt")
    lines = open(source, "rb").read().splitlines()
    count = 0
    with open(out, "wb", buffering=1 << 22) as f:
        for i in range(copies):
            suffix = b"/c%d>" % i
            for line in lines:
                if not line.strip():
                    continue
                f.write(GEO.sub(lambda m: b"<" + m.group(1) + suffix[:-1] + b">", line) + b"\n" if i else line + b"\n")
                count += 1
    return count


def timed(cmd):
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return r.stdout + "\n" + r.stderr, peak / 1024, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", default="1,10,100")
    ap.add_argument("--work", default="/work/bench/big")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and knowledge bases")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for copies in [int(c) for c in args.copies.split(",")]:
        nt = os.path.join(args.work, f"geonames_x{copies}.nt")
        kb = os.path.join(args.work, f"geonames_x{copies}.sqlite")
        t = time.time()
        triples = make(copies, nt)
        print(f"x{copies}: {triples:,} triples, {os.path.getsize(nt) / 2**20:.0f} MB written in {time.time() - t:.0f} s",
              file=sys.stderr, flush=True)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(kb + suffix):
                os.remove(kb + suffix)
        ontology = os.path.join(root, "KnowledgeBase/ontology.nt")
        subprocess.run([knowlm, "kb", "import-triples", "--kb", kb, ontology], check=True, capture_output=True)
        out, peak, seconds = timed([knowlm, "kb", "import-triples", "--kb", kb, nt])
        reported = float(re.search(r"\(([\d.]+) triples/s\)", out).group(1))
        size = sum(os.path.getsize(kb + s) for s in ("", "-wal") if os.path.exists(kb + s)) / 2**20
        q = os.path.join(args.work, "q.rq")
        open(q, "w").write(SPARQL)
        sparql_out, _, _ = timed([knowlm, "kb", "sparql", "--kb", kb, "--repeat", "20", "--file", q])
        ms = re.search(r"median of \d+ runs after the first: ([\d.]+) ms", sparql_out)
        ask_times = []
        for _ in range(3):
            t = time.time()
            answer = subprocess.run([knowlm, "ask", "--kb", kb, QUESTION], capture_output=True, text=True)
            ask_times.append(time.time() - t)
        rows.append(dict(copies=copies, triples=triples, seconds=seconds, rate=reported, peak=peak, size=size,
                         sparql=ms.group(1) if ms else sparql_out.strip().splitlines()[-1][:60],
                         ask=statistics.median(ask_times), answer=answer.stdout.strip().splitlines()[0][:60] if answer.stdout else answer.stderr[-200:]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        if not args.keep:
            os.remove(nt)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(kb + suffix):
                    os.remove(kb + suffix)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores")
    print("| triples | import s | triples/s | peak RSS MB | file MB | SPARQL 2-hop median ms | `ask` s (fresh process) | answer |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['triples']:,} | {r['seconds']:.1f} | {r['rate']:,.0f} | {r['peak']:.0f} | {r['size']:.0f} | {r['sparql']} | {r['ask']:.2f} | {r['answer']} |")


if __name__ == "__main__":
    main()
