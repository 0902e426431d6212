#!/usr/bin/env python3
"""A second KGQA set, of another domain: the chemical elements (mendeleev's elements table).

The retriever was never tuned on this domain. This script writes

  elements.nt          the graph: elements, their discoverers (people), discovery places
                       (countries), years, series, blocks, groups, periods and numeric
                       properties; every entity and relation has an rdfs:label
  dev.jsonl            the development split (tune on this one only)
  heldout.jsonl        the held-out split (run only for the final report)

Question phrasings are the templates below, written before any tuning and never changed to
lift a score. Answers are computed from the graph. Each question is assigned to a split by a
hash of its id (about 40% development, 60% held out), so the split does not depend on order.

    python3 KnowledgeBase/eval/elements/make_elements_kgqa.py [--downloads DIR]

Downloads the mendeleev wheel with `pip download` (MIT licence; the data tables inside it) and
needs nothing else but the standard library.
"""
import argparse, glob, hashlib, json, os, random, re, sqlite3, subprocess, sys, tempfile, zipfile

SEED = 7
E = "http://example.org/elements/"
REL = "http://example.org/elements/rel/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
HERE = os.path.dirname(os.path.abspath(__file__))

# Relation local names are camelCase on purpose for some relations and labelled for others:
# the retriever must read both.
RELATIONS = {
    "symbol": "chemical symbol",
    "atomicNumber": "atomic number",
    "atomicWeight": "atomic weight",
    "density": "density",
    "discoveredBy": "discovered by",
    "discoveryYear": "year of discovery",
    "discoveredIn": None,          # no label: read from the local name
    "series": "series",
    "block": "block",
    "period": "period",
    "topProducer": "top producer",
}


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def lit(value):
    if isinstance(value, int):
        return f'"{value}"^^<{XSD}integer>'
    if isinstance(value, float):
        return f'"{value!r}"^^<{XSD}decimal>'
    return json.dumps(value, ensure_ascii=False) + "@en"


def load(downloads):
    os.makedirs(downloads, exist_ok=True)
    wheels = glob.glob(os.path.join(downloads, "mendeleev-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "mendeleev==1.3.0", "-d", downloads],
                       check=True)
        wheels = glob.glob(os.path.join(downloads, "mendeleev-*.whl"))
    tmp = tempfile.mkdtemp()
    with zipfile.ZipFile(wheels[0]) as z:
        z.extract("mendeleev/elements.db", tmp)
    db = sqlite3.connect(os.path.join(tmp, "mendeleev/elements.db"))
    series = dict(db.execute("SELECT id, name FROM series"))
    rows = db.execute("""SELECT atomic_number, name, symbol, atomic_weight, density, discoverers, discovery_year,
                                discovery_location, series_id, block, period, top_3_producers FROM elements
                         ORDER BY atomic_number""").fetchall()
    elements = []
    for n, name, symbol, weight, density, who, year, where, sid, block, period, producers in rows:
        people = []
        if who and "ancient" not in who.lower():
            people = [p.strip() for p in re.split(r",| and ", who) if p.strip()]
        places = [p.strip() for p in (where or "").split("/") if p.strip()]
        top = None
        if producers:
            m = re.match(r"1\)\s*(.+?)\s{2,}2\)", producers) or re.match(r"1\)\s*(.+)$", producers)
            top = m.group(1).strip() if m else None
        elements.append(dict(n=n, name=name, symbol=symbol, weight=round(weight, 3) if weight else None,
                             density=density, people=people, year=year, places=places,
                             series=series.get(sid), block=block, period=period, top=top))
    return elements


def graph(elements):
    lines = []
    def add(s, p, o):
        lines.append(f"<{s}> <{p}> {o} .")
    for local, label in RELATIONS.items():
        if label:
            add(REL + local, LABEL, lit(label))
    for cls, label in [("Element", "chemical element"), ("Person", "person"), ("Country", "country"),
                       ("Series", "element series"), ("Block", "block of the periodic table")]:
        add(E + "class/" + cls, LABEL, lit(label))
    named = {}
    def entity(kind, name, cls):
        iri = f"{E}{kind}/{slug(name)}"
        if iri not in named:
            named[iri] = name
            add(iri, LABEL, lit(name))
            add(iri, TYPE, f"<{E}class/{cls}>")
        return f"<{iri}>"
    for el in elements:
        s = f"{E}element/{slug(el['name'])}"
        add(s, LABEL, lit(el["name"]))
        add(s, TYPE, f"<{E}class/Element>")
        add(s, REL + "symbol", lit(el["symbol"]))
        add(s, REL + "atomicNumber", lit(el["n"]))
        if el["weight"]:
            add(s, REL + "atomicWeight", lit(float(el["weight"])))
        if el["density"]:
            add(s, REL + "density", lit(float(el["density"])))
        for person in el["people"]:
            add(s, REL + "discoveredBy", entity("person", person, "Person"))
        if el["year"]:
            add(s, REL + "discoveryYear", lit(int(el["year"])))
        for place in el["places"]:
            add(s, REL + "discoveredIn", entity("country", place, "Country"))
        if el["series"]:
            add(s, REL + "series", entity("series", el["series"], "Series"))
        if el["block"]:
            add(s, REL + "block", entity("block", f"{el['block']}-block", "Block"))
        if el["period"]:
            add(s, REL + "period", lit(int(el["period"])))
        if el["top"]:
            add(s, REL + "topProducer", entity("country", el["top"], "Country"))
    return lines


# ---------------------------------------------------------------------------------------------
# Question templates. Written before any tuning; each kind has several phrasings.

ONE_HOP = {
    "symbol": ["What is the chemical symbol of {e}?", "Which symbol does {e} have?"],
    "atomicNumber": ["What is the atomic number of {e}?", "What atomic number does {e} have?"],
    "discoveredBy": ["Who discovered {e}?", "By whom was {e} discovered?"],
    "discoveryYear": ["In which year was {e} discovered?", "When was {e} discovered?"],
    "discoveredIn": ["In which country was {e} discovered?", "Where was {e} discovered?"],
    "series": ["Which series of elements does {e} belong to?", "What kind of element is {e}, by series?"],
    "block": ["In which block of the periodic table is {e}?", "Which block is {e} in?"],
    "topProducer": ["Which country is the top producer of {e}?", "Which country produces the most {e}?"],
    "density": ["What is the density of {e}?"],
}
INVERSE = {
    "discoveredBy": ["Name an element discovered by {x}.", "Which elements did {x} discover?"],
    "discoveredIn": ["Name an element that was discovered in {x}.", "Which elements were discovered in {x}?"],
    "series": ["Name an element in the {x} series.", "Which elements belong to the {x}?"],
    "topProducer": ["Name an element whose top producer is {x}.", "Which elements does {x} produce the most of?"],
}
TWO_HOP = [
    # person -> (inverse discoveredBy) element -> relation
    ("discoveredBy", "discoveryYear", ["In which year was the element discovered by {x} discovered?",
                                       "When did {x} discover an element?"]),
    ("discoveredBy", "series", ["Which series does the element discovered by {x} belong to?"]),
    ("discoveredBy", "atomicNumber", ["What is the atomic number of the element that {x} discovered?"]),
    # element -> discoveredBy person -> discoveredBy (inverse) other element
    ("discoveredBy*", "discoveredBy", ["Which other element did the discoverer of {e} discover?",
                                        "Name another element discovered by the person who discovered {e}."]),
]
COUNT = {
    "discoveredBy": ["How many elements did {x} discover?"],
    "discoveredIn": ["How many elements were discovered in {x}?"],
    "series": ["How many elements are in the {x} series?"],
}
COMPARE = {
    "atomicWeight": [("Which has the higher atomic weight, {a} or {b}?", max), ("Which is heavier, {a} or {b}?", max),
                     ("Which has the lower atomic weight: {a} or {b}?", min)],
    "discoveryYear": [("Which was discovered earlier, {a} or {b}?", min), ("Which was discovered first, {a} or {b}?", min),
                      ("Which was discovered later, {a} or {b}?", max)],
    "density": [("Which is denser, {a} or {b}?", max), ("Which has a lower density, {a} or {b}?", min)],
    "atomicNumber": [("Which has the larger atomic number, {a} or {b}?", max)],
}


def questions(elements, rng):
    byname = {e["name"]: e for e in elements}
    out = []
    def q(kind, text, answers, wrong=(), relation=""):
        if rng.random() < 0.3:
            text = text.lower()
        out.append(dict(kind=kind, relation=relation, question=text, answers=[str(a) for a in answers],
                        wrong=[str(w) for w in wrong]))
    def value(el, rel):
        return {"symbol": el["symbol"], "atomicNumber": el["n"], "discoveryYear": el["year"], "series": el["series"],
                "block": f"{el['block']}-block" if el["block"] else None, "topProducer": el["top"],
                "density": el["density"], "atomicWeight": el["weight"]}.get(rel)
    def multi(el, rel):
        return {"discoveredBy": el["people"], "discoveredIn": el["places"]}.get(rel) or (
            [value(el, rel)] if value(el, rel) is not None else [])
    pool = sorted(elements, key=lambda e: e["n"])
    for rel, phrasings in ONE_HOP.items():
        cands = [e for e in pool if multi(e, rel)]
        for el in rng.sample(cands, min(14, len(cands))):
            golds = multi(el, rel)
            if rel == "density":
                golds = [str(el["density"])]
            q("1hop", rng.choice(phrasings).format(e=el["name"]), golds, relation=rel)
    def inverse_index(rel):
        idx = {}
        for el in pool:
            for x in multi(el, rel):
                idx.setdefault(x, []).append(el["name"])
        return idx
    for rel, phrasings in INVERSE.items():
        idx = inverse_index(rel)
        keys = sorted(idx)
        for x in rng.sample(keys, min(12, len(keys))):
            q("inverse", rng.choice(phrasings).format(x=x), idx[x], relation=rel)
    people = inverse_index("discoveredBy")
    single = sorted(p for p, els in people.items() if len(els) == 1)
    multiple = sorted(p for p, els in people.items() if len(els) >= 2)
    for first, second, phrasings in TWO_HOP:
        if first == "discoveredBy*":
            cands = sorted({el for p in multiple for el in people[p]})
            for name in rng.sample(cands, min(10, len(cands))):
                el = byname[name]
                others = sorted({o for p in el["people"] for o in people.get(p, []) if o != name})
                if others:
                    q("2hop", rng.choice(phrasings).format(e=name), others, relation=f"{first}/{second}")
            continue
        cands = [p for p in single if value(byname[people[p][0]], second) is not None]
        for p in rng.sample(cands, min(8, len(cands))):
            q("2hop", rng.choice(phrasings).format(x=p), [value(byname[people[p][0]], second)], relation=f"{first}/{second}")
    for rel, phrasings in COUNT.items():
        idx = inverse_index(rel)
        keys = sorted(k for k in idx if len(idx[k]) >= 2)
        for x in rng.sample(keys, min(6, len(keys))):
            q("count", rng.choice(phrasings).format(x=x), [len(idx[x])], relation=rel)
    for rel, phrasings in COMPARE.items():
        cands = [e for e in pool if value(e, rel) is not None]
        made = 0
        while made < 10:
            a, b = rng.sample(cands, 2)
            va, vb = value(a, rel), value(b, rel)
            if va == vb or max(va, vb) < 1.1 * min(va, vb) and rel != "discoveryYear" or abs(va - vb) < 5 and rel == "discoveryYear":
                continue
            text, pick = rng.choice(phrasings)
            winner, loser = (a, b) if pick(va, vb) == va else (b, a)
            q("comparison", text.format(a=a["name"], b=b["name"]), [winner["name"]], wrong=[loser["name"]], relation=rel)
            made += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--downloads", default=os.path.expanduser("~/.cache/knowlm/eval-downloads"))
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    elements = load(args.downloads)
    lines = graph(elements)
    with open(os.path.join(args.out, "elements.nt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    rng = random.Random(SEED)
    qs = questions(elements, rng)
    splits = {"dev": [], "heldout": []}
    for i, item in enumerate(qs):
        item = {"id": f"elements-{i:04d}", **item}
        h = int(hashlib.sha256(item["id"].encode()).hexdigest(), 16) % 100
        splits["dev" if h < 40 else "heldout"].append(item)
    for name, items in splits.items():
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(lines)} triples; {len(splits['dev'])} development and {len(splits['heldout'])} held-out questions",
          file=sys.stderr)


if __name__ == "__main__":
    main()
