#!/usr/bin/env python3
"""Generate the KG question set (kgqa.jsonl) from the GeoNames graph.

Questions come from templates in the style of MetaQA; every answer is computed by running
the question's SPARQL `query` with pyoxigraph over geonames.nt (made by
../recipes/build_default_kb_data.py), never written by hand. Deterministic: fixed seed,
candidate pools sorted before sampling.

    /work/refvenv/bin/python KnowledgeBase/eval/make_kgqa.py \
        --graph KnowledgeBase/build/geonames.nt --out KnowledgeBase/eval/kgqa.jsonl

Needs pyoxigraph (a reference tool only; never used by the product).
"""

import argparse
import hashlib
import json
import os
import random
import sys
from collections import Counter

import pyoxigraph as ox

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))
from build_default_kb_data import non_simplified_count  # noqa: E402  (stdlib-only module)

SEED = 20240611
GEO = "http://knowlm.dev/geo/"
ONT = "http://knowlm.dev/ontology/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
PREFIXES = "PREFIX o: <http://knowlm.dev/ontology/>\n"

BIG_CITY = 500_000        # cities a small model can plausibly know, and in the graph's top tier
BIG_COUNTRY = 1_000_000
AMBIGUOUS_RATIO = 0.2     # another place with this name and >= 20% of the people: skip
COMPARISON_MARGIN = 1.25  # the larger side must have at least 25% more people
ZH_SHARE = 0.30
MAX_PER_COUNTRY = 3       # per template and language: keeps China and India from dominating

# Phrasings per template: at least 3 English and 2 Chinese. {x}, {a}, {b} are labels.
TEMPLATES = {
    # ---- 1-hop
    "capital_of_country": ("1hop", {
        "en": ["What is the capital of {x}?",
               "Which city is the capital of {x}?",
               "Name the capital city of {x}.",
               "{x} has its capital in which city?"],
        "zh": ["{x}的首都是哪里？",
               "{x}的首都是哪座城市？",
               "哪座城市是{x}的首都？"],
    }),
    "country_of_city": ("1hop", {
        "en": ["Which country is {x} in?",
               "In which country is the city of {x} located?",
               "{x} is a city in which country?"],
        "zh": ["{x}位于哪个国家？",
               "{x}是哪个国家的城市？",
               "{x}在哪个国家？"],
    }),
    "continent_of_country": ("1hop", {
        "en": ["On which continent is {x}?",
               "Which continent is {x} located in?",
               "{x} is part of which continent?"],
        "zh": ["{x}位于哪个大洲？",
               "{x}属于哪个洲？"],
    }),
    "currency_of_country": ("1hop", {
        "en": ["What is the currency of {x}?",
               "Which currency is used in {x}?",
               "What money do people pay with in {x}?"],
        "zh": ["{x}使用什么货币？",
               "{x}的货币是什么？"],
    }),
    "population_of_city": ("1hop", {
        "en": ["What is the population of {x}?",
               "How many people live in {x}?",
               "How many inhabitants does {x} have?"],
        "zh": ["{x}有多少人口？",
               "{x}的人口是多少？"],
    }),
    "population_of_country": ("1hop", {
        "en": ["What is the population of {x}?",
               "How many people live in {x}?",
               "How many inhabitants does the country {x} have?"],
        "zh": ["{x}有多少人口？",
               "{x}这个国家的人口是多少？"],
    }),
    # ---- 2-hop: city -> country -> fact
    "currency_of_city_country": ("2hop", {
        "en": ["What currency is used in the country where {x} is?",
               "What is the currency of the country that {x} is in?",
               "In the country where the city of {x} lies, which currency is used?"],
        "zh": ["{x}所在的国家使用什么货币？",
               "{x}所在国家的货币是什么？"],
    }),
    "continent_of_city_country": ("2hop", {
        "en": ["On which continent is the country where {x} is located?",
               "Which continent is the country containing {x} on?",
               "The country that {x} belongs to is part of which continent?"],
        "zh": ["{x}所在的国家位于哪个大洲？",
               "{x}所在国家属于哪个洲？"],
    }),
    "capital_of_city_country": ("2hop", {
        "en": ["What is the capital of the country where {x} is?",
               "Which city is the capital of the country that {x} is in?",
               "{x} lies in a country; what is that country's capital?"],
        "zh": ["{x}所在国家的首都是哪里？",
               "{x}所在的国家首都是哪座城市？"],
    }),
    # ---- comparison (answer from the populations in the graph)
    "city_population_comparison": ("comparison", {
        "en": ["Which has more people, {a} or {b}?",
               "Which city is more populous: {a} or {b}?",
               "Does {a} or {b} have the larger population?"],
        "zh": ["{a}和{b}，哪个城市人口更多？",
               "{a}与{b}相比，哪个人口更多？"],
    }),
    "country_population_comparison": ("comparison", {
        "en": ["Which country has more people, {a} or {b}?",
               "Which is more populous: {a} or {b}?",
               "Does {a} or {b} have the larger population?"],
        "zh": ["{a}和{b}，哪个国家人口更多？",
               "{a}与{b}相比，哪个国家的人口更多？"],
    }),
}

# Questions per template: 45% 1-hop, 35% 2-hop, 20% comparison of 500.
COUNTS = {
    "capital_of_country": 45, "country_of_city": 45, "continent_of_country": 30,
    "currency_of_country": 40, "population_of_city": 35, "population_of_country": 30,
    "currency_of_city_country": 60, "continent_of_city_country": 55,
    "capital_of_city_country": 60,
    "city_population_comparison": 60, "country_population_comparison": 40,
}


# English names that take "the" inside a sentence (by ISO 3166 code).
THE = {"US", "GB", "PH", "NL", "AE", "CD", "CF", "DO", "BS", "GM", "MV", "MH", "SB", "KY",
       "VG", "VI", "FO", "FK", "VA", "KM", "TC", "CK", "MP", "UM", "IO"}


def english_name(graph, entity):
    label = graph.label(entity, "en")
    code = entity.rsplit("/", 1)[-1]
    if graph.types.get(entity) == "Country" and code in THE:
        return "the " + label
    return label


def fill(phrasing, **labels):
    text = phrasing.format(**labels)
    return text[0].upper() + text[1:]


def query_for(template, subject=None, a=None, b=None):
    """The SPARQL (in the subset the Swift engine supports) whose ?answer is the gold."""
    if template == "capital_of_country":
        body = "<%s> o:capital ?answer ." % subject
    elif template == "country_of_city":
        body = "<%s> o:country ?answer ." % subject
    elif template == "continent_of_country":
        body = "<%s> o:continent ?answer ." % subject
    elif template == "currency_of_country":
        body = "<%s> o:currency ?answer ." % subject
    elif template in ("population_of_city", "population_of_country"):
        body = "<%s> o:population ?answer ." % subject
    elif template == "currency_of_city_country":
        body = "<%s> o:country ?country .\n  ?country o:currency ?answer ." % subject
    elif template == "continent_of_city_country":
        body = "<%s> o:country ?country .\n  ?country o:continent ?answer ." % subject
    elif template == "capital_of_city_country":
        body = "<%s> o:country ?country .\n  ?country o:capital ?answer ." % subject
    else:
        return (PREFIXES + "SELECT ?answer WHERE {\n  ?answer o:population ?population .\n"
                "  FILTER(?answer = <%s> || ?answer = <%s>)\n}\n"
                "ORDER BY DESC(?population)\nLIMIT 1" % (a, b))
    return PREFIXES + "SELECT DISTINCT ?answer WHERE {\n  %s\n}" % body


class Graph:
    def __init__(self, path):
        self.store = ox.Store()
        self.store.bulk_load(path=path, format=ox.RdfFormat.N_TRIPLES)
        self.labels = {}      # iri -> {"en": [...], "zh": [...]}
        self.aliases = {}     # iri -> [alias labels usable as answers]
        self.population = {}
        self.types = {}
        for quad in self.store.quads_for_pattern(None, ox.NamedNode(LABEL), None):
            lang = quad.object.language or ""
            self.labels.setdefault(quad.subject.value, {}).setdefault(lang, []).append(
                quad.object.value)
        for quad in self.store.quads_for_pattern(None, ox.NamedNode(TYPE), None):
            self.types[quad.subject.value] = quad.object.value.rsplit("/", 1)[-1]
        for quad in self.store.quads_for_pattern(None, ox.NamedNode(ALT), None):
            lang = quad.object.language
            subject = quad.subject.value
            # Untagged city aliases are GeoNames' spellings in any language (Tokija): not
            # answers. Untagged aliases elsewhere are codes (USD) or romanisations.
            if lang in ("en", "zh") or (lang is None and self.types.get(subject) != "City"):
                self.aliases.setdefault(subject, []).append(quad.object.value)
        for quad in self.store.quads_for_pattern(None, ox.NamedNode(ONT + "population"), None):
            self.population[quad.subject.value] = int(quad.object.value)
        for values in self.labels.values():
            for lang in values:
                values[lang].sort()

    def label(self, iri, lang):
        values = self.labels.get(iri, {}).get(lang)
        return values[0] if values else None

    def select(self, query, var="answer"):
        return [row[var] for row in self.store.query(query)]

    def objects(self, subject, predicate):
        return [q.object for q in self.store.quads_for_pattern(
            ox.NamedNode(subject), ox.NamedNode(ONT + predicate), None)]


def answer_strings(graph, term):
    """Gold answer strings for one ?answer term: labels (English first, then Chinese),
    then aliases; populations as digits and with thousands separators."""
    if isinstance(term, ox.Literal):
        if term.datatype and term.datatype.value.endswith("#integer"):
            value = int(term.value)
            return [str(value), "{:,}".format(value)]
        return [term.value]
    iri = term.value
    out = []
    for lang in ("en", "zh"):
        out += graph.labels.get(iri, {}).get(lang, [])
    for lang, values in sorted(graph.labels.get(iri, {}).items()):
        if lang not in ("en", "zh"):
            out += values
    out += graph.aliases.get(iri, [])
    unique = []
    for value in out:
        if value not in unique:
            unique.append(value)
    return unique


def unambiguous(graph, pool, lang):
    """Entities whose `lang` label no other city/country of comparable size shares
    (Hyderabad is in India and in Pakistan; London, Ontario is small next to London)."""
    by_label = {}
    for iri, values in graph.labels.items():
        if graph.types.get(iri) not in ("City", "Country"):
            continue
        for value in values.get(lang, []):
            by_label.setdefault(value.casefold(), []).append(iri)
    keep = []
    for iri in pool:
        label = graph.label(iri, lang)
        if not label:
            continue
        population = graph.population.get(iri, 0)
        others = [o for o in by_label.get(label.casefold(), []) if o != iri]
        if all(graph.population.get(o, 0) < AMBIGUOUS_RATIO * population for o in others):
            keep.append(iri)
    return keep


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    kb_root = os.path.dirname(here)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default=os.path.join(kb_root, "build", "geonames.nt"))
    parser.add_argument("--out", default=os.path.join(here, "kgqa.jsonl"))
    args = parser.parse_args()
    if not os.path.exists(args.graph):
        sys.exit("%s not found: run KnowledgeBase/recipes/build_default_kb_data.py first"
                 % args.graph)

    graph = Graph(args.graph)
    rng = random.Random(SEED)

    cities = sorted(i for i, t in graph.types.items()
                    if t == "City" and graph.population.get(i, 0) > BIG_CITY)
    countries = sorted(i for i, t in graph.types.items()
                       if t == "Country" and graph.population.get(i, 0) >= BIG_COUNTRY)
    capitals = {o.value for c in countries for o in graph.objects(c, "capital")}

    def has(entity, predicate, kind=ox.NamedNode):
        return any(isinstance(o, kind) for o in graph.objects(entity, predicate))

    def simplified(entity, lang):
        # Chinese questions use the @zh label; GeoNames gives some cities only a
        # traditional-character name (利馬), which a mainland reader would not type.
        # English ones skip GeoNames' scholarly transliterations (Al Mawşil al Jadīdah).
        label = graph.label(entity, lang)
        if lang == "zh":
            return non_simplified_count(label) == 0
        try:
            label.encode("latin-1")
            return True
        except UnicodeEncodeError:
            return False

    def city_pool(lang, need=None, not_capital=False):
        pool = [c for c in cities if graph.objects(c, "country")]
        if need:
            pool = [c for c in pool if all(has(o.value, need)
                                           for o in graph.objects(c, "country"))]
        if not_capital:
            pool = [c for c in pool if c not in capitals]
        return [c for c in unambiguous(graph, pool, lang) if simplified(c, lang)]

    def country_pool(lang, need=None):
        pool = [c for c in countries if not need or has(c, need)]
        return [c for c in unambiguous(graph, pool, lang) if simplified(c, lang)]

    def country_of(entity):
        if graph.types[entity] == "Country":
            return entity
        return graph.objects(entity, "country")[0].value

    def well_known_first(pool):
        """Weighted sampling without replacement (Efraimidis-Spirakis): cities weighted by
        population, countries by its square root (there are few of them, and a country of
        two million is still well known)."""
        def weight(e):
            population = max(graph.population.get(e, 1), 1)
            return population if graph.types[e] == "City" else population ** 0.5
        keyed = [(rng.random() ** (1.0 / weight(e)), e) for e in pool]
        keyed.sort(reverse=True)
        return [e for _, e in keyed]

    pools = {
        "capital_of_country": lambda lang: country_pool(lang, "capital"),
        "country_of_city": lambda lang: city_pool(lang),
        "continent_of_country": lambda lang: country_pool(lang, "continent"),
        "currency_of_country": lambda lang: country_pool(lang, "currency"),
        "population_of_city": lambda lang: city_pool(lang),
        "population_of_country": lambda lang: country_pool(lang),
        "currency_of_city_country": lambda lang: city_pool(lang, "currency"),
        "continent_of_city_country": lambda lang: city_pool(lang, "continent"),
        "capital_of_city_country": lambda lang: city_pool(lang, "capital", not_capital=True),
        "city_population_comparison": lambda lang: city_pool(lang),
        "country_population_comparison": lambda lang: country_pool(lang),
    }

    records = []
    for template, (kind, phrasings) in TEMPLATES.items():
        total = COUNTS[template]
        n_zh = round(total * ZH_SHARE)
        used = set()
        for lang, n in (("en", total - n_zh), ("zh", n_zh)):
            pool = well_known_first([e for e in pools[template](lang) if e not in used])
            per_country = Counter()
            made = 0
            if kind == "comparison":
                while made < n and len(pool) >= 2:
                    a = pool.pop(0)
                    partner = next((b for b in pool if max(graph.population[a],
                                                           graph.population[b])
                                    >= COMPARISON_MARGIN * min(graph.population[a],
                                                               graph.population[b])
                                    and per_country[country_of(b)] < MAX_PER_COUNTRY), None)
                    if partner is None or per_country[country_of(a)] >= MAX_PER_COUNTRY:
                        continue
                    pool.remove(partner)
                    used.update((a, partner))
                    per_country.update((country_of(a), country_of(partner)))
                    query = query_for(template, a=a, b=partner)
                    name = (lambda e: english_name(graph, e)) if lang == "en" else \
                        (lambda e: graph.label(e, lang))
                    text = fill(phrasings[lang][made % len(phrasings[lang])],
                                a=name(a), b=name(partner))
                    records.append(make_record(graph, template, kind, lang, text, query,
                                               [a, partner], made % len(phrasings[lang])))
                    made += 1
            else:
                for entity in pool:
                    if made == n:
                        break
                    if per_country[country_of(entity)] >= MAX_PER_COUNTRY:
                        continue
                    query = query_for(template, subject=entity)
                    label = english_name(graph, entity) if lang == "en" else \
                        graph.label(entity, lang)
                    text = fill(phrasings[lang][made % len(phrasings[lang])], x=label)
                    record = make_record(graph, template, kind, lang, text, query, [entity],
                                         made % len(phrasings[lang]))
                    if record is None:
                        continue
                    used.add(entity)
                    per_country[country_of(entity)] += 1
                    records.append(record)
                    made += 1
            if made < n:
                sys.exit("template %s/%s: only %d of %d questions" % (template, lang, made, n))

    rng.shuffle(records)
    for index, record in enumerate(records):
        record["id"] = "kgqa-%04d" % index
    ordered = [{k: r[k] for k in ("id", "lang", "kind", "template", "phrasing", "question",
                                  "answers", "answer_entities", "topic_entities", "query")}
               for r in records]
    with open(args.out, "w", encoding="utf-8") as handle:
        for record in ordered:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    with open(args.graph, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    print("graph sha256 %s" % digest)
    print("%d questions -> %s (%d bytes)" % (len(ordered), args.out, os.path.getsize(args.out)))
    print("by kind: %s" % dict(Counter(r["kind"] for r in ordered)))
    print("by lang: %s" % dict(Counter(r["lang"] for r in ordered)))
    print("by kind/lang: %s" % dict(sorted(Counter((r["kind"], r["lang"]) for r in ordered).items())))


def make_record(graph, template, kind, lang, text, query, topic, phrasing):
    terms = graph.select(query)
    if not terms:
        return None
    answers, entities = [], []
    for term in terms:
        if isinstance(term, ox.NamedNode):
            entities.append(term.value)
        for value in answer_strings(graph, term):
            if value not in answers:
                answers.append(value)
    if not answers:
        return None
    return {"lang": lang, "kind": kind, "template": template, "phrasing": phrasing,
            "question": text, "answers": answers, "answer_entities": sorted(entities),
            "topic_entities": topic, "query": query}


if __name__ == "__main__":
    main()
