#!/usr/bin/env python3
"""Generate sparql_queries.json: SELECT queries over geonames.nt with their results,
computed by pyoxigraph, as goldens for the Swift SPARQL engine.

The queries stay inside the subset the Swift engine supports: PREFIX, SELECT [DISTINCT],
basic graph patterns (with `a`), OPTIONAL, FILTER with = != < > <= >= && || !,
regex(?x, "...", "i"), lang(?x) = "..", ORDER BY ASC/DESC on variables, LIMIT/OFFSET,
COUNT(*) / COUNT(?x) with GROUP BY.

Each entry: {"id", "tags", "query", "variables", "rows", "ordered"}; rows hold N-Triples
term strings (oxigraph's serialisation, which equals the text in geonames.nt), null where
a variable is unbound. Unordered results are sorted so the file is stable; compare them
as multisets. Ordered queries break every tie explicitly so LIMIT/OFFSET cut one way.

    /work/refvenv/bin/python KnowledgeBase/eval/make_sparql_goldens.py \
        --graph KnowledgeBase/build/geonames.nt
"""

import argparse
import json
import os
import re
import sys

import pyoxigraph as ox

PREFIXES = """PREFIX o: <http://knowlm.dev/ontology/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX country: <http://knowlm.dev/geo/country/>
PREFIX city: <http://knowlm.dev/geo/city/>
PREFIX continent: <http://knowlm.dev/geo/continent/>
PREFIX currency: <http://knowlm.dev/geo/currency/>
"""

# (id, tags, query body). PREFIXES goes in front of every body not tagged no-prefix.
QUERIES = [
    # ---- basic graph patterns, 1 hop
    ("capital_of_france", ["bgp", "1hop"], """
SELECT ?capital ?label WHERE {
  country:FR o:capital ?capital .
  ?capital rdfs:label ?label .
}"""),
    ("labels_of_china", ["bgp"], """
SELECT ?label WHERE { country:CN rdfs:label ?label . }"""),
    ("china_full_iri_no_prefix", ["bgp", "no-prefix"], """
SELECT ?p ?o WHERE {
  <http://knowlm.dev/geo/country/CN> ?p ?o .
  FILTER(?p != <http://knowlm.dev/ontology/borders> && ?p != <http://www.w3.org/2004/02/skos/core#altLabel>)
}"""),
    ("facts_about_beijing", ["bgp", "numeric-local-name"], """
SELECT ?p ?o WHERE {
  city:1816670 ?p ?o .
  FILTER(?p != skos:altLabel)
}"""),
    ("country_by_english_label", ["bgp", "lang-literal"], """
SELECT ?country ?iso3 WHERE {
  ?country rdfs:label "France"@en ;
           o:iso3 ?iso3 .
}"""),
    ("country_by_iso3_plain_literal", ["bgp", "plain-literal"], """
SELECT ?country ?population WHERE {
  ?country o:iso3 "JPN" ;
           o:population ?population .
}"""),
    ("entity_by_population_integer", ["bgp", "integer-literal"], """
SELECT ?country WHERE { ?country o:population 1411778724 . }"""),
    ("continents_rdf_type", ["bgp", "a"], """
SELECT ?continent ?label WHERE {
  ?continent a o:Continent ;
             rdfs:label ?label .
  FILTER(lang(?label) = "en")
}"""),
    ("chinese_continent_names", ["bgp", "a", "lang"], """
SELECT ?continent ?name WHERE {
  ?continent a o:Continent ;
             rdfs:label ?name .
  FILTER(lang(?name) = "zh")
}"""),
    ("neighbours_of_germany", ["bgp"], """
SELECT ?neighbour ?name WHERE {
  country:DE o:borders ?neighbour .
  ?neighbour rdfs:label ?name .
  FILTER(lang(?name) = "en")
}"""),
    ("demonym_and_region_of_peru", ["bgp"], """
SELECT ?demonym ?region ?subregion WHERE {
  country:PE o:demonym ?demonym ;
             o:region ?region ;
             o:subregion ?subregion .
}"""),
    ("entity_with_alt_label_bombay", ["bgp", "alt-label"], """
SELECT ?city ?name WHERE {
  ?city skos:altLabel "Bombay" ;
        rdfs:label ?name .
}"""),
    ("countries_in_northern_europe", ["bgp", "plain-literal"], """
SELECT ?country ?name WHERE {
  ?country o:subregion "Northern Europe" ;
           rdfs:label ?name .
  FILTER(lang(?name) = "en")
}"""),
    ("countries_speaking_chinese", ["bgp"], """
SELECT ?country ?name WHERE {
  ?country o:language <http://knowlm.dev/geo/language/zh> ;
           rdfs:label ?name .
  FILTER(lang(?name) = "en")
}"""),
    ("currency_labels_euro", ["bgp"], """
SELECT ?label WHERE { currency:EUR rdfs:label ?label . }"""),
    # ---- FILTER comparisons
    ("european_countries_over_50m", ["filter", "order", "1hop"], """
SELECT ?country ?name ?population WHERE {
  ?country o:continent continent:EU ;
           o:population ?population ;
           rdfs:label ?name .
  FILTER(?population > 50000000 && lang(?name) = "en")
}
ORDER BY DESC(?population)"""),
    ("south_america_except_brazil_over_20m", ["filter"], """
SELECT ?country ?population WHERE {
  ?country o:continent continent:SA ;
           o:population ?population .
  FILTER(?country != country:BR && ?population >= 20000000)
}"""),
    ("countries_area_between", ["filter", "double"], """
SELECT ?country ?area WHERE {
  ?country a o:Country ;
           o:area ?area .
  FILTER(?area >= 300000 && ?area <= 310000)
}"""),
    ("tiny_countries_not_over_1000", ["filter", "not"], """
SELECT ?country ?population WHERE {
  ?country a o:Country ;
           o:population ?population .
  FILTER(!(?population > 1000))
}"""),
    ("countries_under_5km2_or_over_15m_km2", ["filter", "or", "double"], """
SELECT ?country ?area WHERE {
  ?country o:area ?area .
  FILTER(?area < 5 || ?area > 15000000)
}"""),
    ("area_decimal_literal", ["filter", "double", "decimal"], """
SELECT ?country WHERE {
  ?country o:area ?area .
  FILTER(?area > 9596959.5 && ?area < 9596960.5)
}"""),
    ("iso3_string_equality", ["filter", "string"], """
SELECT ?country WHERE {
  ?country o:iso3 ?code .
  FILTER(?code = "CHN" || ?code = "IND")
}"""),
    ("iso2_string_range", ["filter", "string", "order"], """
SELECT ?code WHERE {
  ?country a o:Country ;
           o:iso2 ?code .
  FILTER(?code >= "Y" && ?code < "ZM")
}
ORDER BY ?code"""),
    # ---- regex
    ("regex_countries_guinea", ["regex"], """
SELECT ?country ?name WHERE {
  ?country a o:Country ;
           rdfs:label ?name .
  FILTER(regex(?name, "guinea", "i") && lang(?name) = "en")
}"""),
    ("regex_cities_named_london", ["regex", "1hop"], """
SELECT ?city ?country ?population WHERE {
  ?city a o:City ;
        rdfs:label ?name ;
        o:country ?country ;
        o:population ?population .
  FILTER(regex(?name, "^london$", "i"))
}"""),
    ("regex_big_san_cities_in_us", ["regex", "order"], """
SELECT ?city ?name ?population WHERE {
  ?city o:country country:US ;
        rdfs:label ?name ;
        o:population ?population .
  FILTER(regex(?name, "^san ", "i") && ?population > 500000)
}
ORDER BY DESC(?population)"""),
    ("regex_chinese_label_jing", ["regex", "lang", "order"], """
SELECT ?city ?name ?population WHERE {
  ?city o:country country:CN ;
        rdfs:label ?name ;
        o:population ?population .
  FILTER(lang(?name) = "zh" && regex(?name, "京"))
}
ORDER BY DESC(?population)
LIMIT 5"""),
    ("regex_case_sensitive_no_flag", ["regex"], """
SELECT ?country WHERE {
  ?country a o:Country ;
           o:iso3 ?code .
  FILTER(regex(?code, "^CH"))
}"""),
    # ---- lang()
    ("zh_labels_of_japanese_capital", ["lang"], """
SELECT ?name WHERE {
  country:JP o:capital ?capital .
  ?capital rdfs:label ?name .
  FILTER(lang(?name) = "zh")
}"""),
    ("zh_alt_labels_of_tokyo", ["lang", "alt-label"], """
SELECT ?alias WHERE {
  city:1850147 skos:altLabel ?alias .
  FILTER(lang(?alias) = "zh")
}"""),
    ("city_by_chinese_label", ["lang-literal", "2hop"], """
SELECT ?city ?country ?en WHERE {
  ?city rdfs:label "杭州"@zh ;
        o:country ?country .
  ?country rdfs:label ?en .
  FILTER(lang(?en) = "en")
}"""),
    # ---- OPTIONAL
    ("oceania_countries_optional_capital", ["optional", "order"], """
SELECT ?code ?country ?capital WHERE {
  ?country o:continent continent:OC ;
           o:iso2 ?code .
  OPTIONAL { ?country o:capital ?capital . }
}
ORDER BY ?code"""),
    ("capitals_optional_zh_label", ["optional", "optional-filter", "lang", "2hop", "order"], """
SELECT ?code ?capital ?zh WHERE {
  ?country o:continent continent:OC ;
           o:iso2 ?code ;
           o:capital ?capital .
  OPTIONAL { ?capital rdfs:label ?zh . FILTER(lang(?zh) = "zh") }
}
ORDER BY ?code"""),
    ("japan_big_cities_optional_zh", ["optional", "optional-filter", "order", "lang"], """
SELECT ?city ?population ?zh WHERE {
  ?city o:country country:JP ;
        o:population ?population .
  FILTER(?population > 1500000)
  OPTIONAL { ?city rdfs:label ?zh . FILTER(lang(?zh) = "zh") }
}
ORDER BY DESC(?population)"""),
    ("countries_without_demonym_optional", ["optional", "order"], """
SELECT ?code ?demonym WHERE {
  ?country o:continent continent:AN ;
           o:iso2 ?code .
  OPTIONAL { ?country o:demonym ?demonym . }
}
ORDER BY ?code"""),
    # ---- ORDER BY, LIMIT, OFFSET
    ("largest_cities_top10", ["order", "limit"], """
SELECT ?city ?population WHERE {
  ?city a o:City ;
        o:population ?population .
}
ORDER BY DESC(?population)
LIMIT 10"""),
    ("largest_cities_offset", ["order", "limit", "offset"], """
SELECT ?city ?population WHERE {
  ?city a o:City ;
        o:population ?population .
}
ORDER BY DESC(?population)
LIMIT 5
OFFSET 10"""),
    ("largest_countries_by_area", ["order", "limit", "double"], """
SELECT ?country ?area WHERE {
  ?country o:area ?area .
}
ORDER BY DESC(?area)
LIMIT 5"""),
    ("smallest_countries_by_population_asc", ["order", "limit"], """
SELECT ?country ?population WHERE {
  ?country a o:Country ;
           o:population ?population .
}
ORDER BY ASC(?population) ?country
LIMIT 5"""),
    ("european_names_alphabetical", ["order", "limit", "offset", "string"], """
SELECT ?name WHERE {
  ?country o:continent continent:EU ;
           rdfs:label ?name .
  FILTER(lang(?name) = "en")
}
ORDER BY ?name
LIMIT 5
OFFSET 3"""),
    ("two_key_order", ["order", "limit"], """
SELECT ?continent ?country ?population WHERE {
  ?country o:continent ?continent ;
           o:population ?population .
  FILTER(?population > 100000000)
}
ORDER BY ?continent DESC(?population)"""),
    # ---- DISTINCT
    ("distinct_currencies_in_africa", ["distinct", "2hop"], """
SELECT DISTINCT ?currency WHERE {
  ?country o:continent continent:AF ;
           o:currency ?currency .
  ?currency rdfs:label ?name .
  FILTER(regex(?name, "franc", "i"))
}"""),
    ("distinct_timezones_in_australia", ["distinct"], """
SELECT DISTINCT ?timezone WHERE {
  ?city o:country country:AU ;
        o:timezone ?timezone .
}"""),
    ("distinct_languages_near_france", ["distinct", "2hop"], """
SELECT DISTINCT ?language WHERE {
  country:FR o:borders ?neighbour .
  ?neighbour o:language ?language .
}"""),
    # ---- COUNT / GROUP BY
    ("count_all_triples", ["count"], """
SELECT (COUNT(*) AS ?triples) WHERE { ?s ?p ?o . }"""),
    ("count_entities_by_type", ["count", "group", "a"], """
SELECT ?type (COUNT(*) AS ?n) WHERE { ?entity a ?type . }
GROUP BY ?type"""),
    ("count_countries_per_continent", ["count", "group", "order"], """
SELECT ?continent (COUNT(?country) AS ?countries) WHERE {
  ?country o:continent ?continent .
}
GROUP BY ?continent
ORDER BY DESC(?countries) ?continent"""),
    ("count_cities_per_country_top10", ["count", "group", "order", "limit"], """
SELECT ?country (COUNT(?city) AS ?cities) WHERE {
  ?city o:country ?country .
}
GROUP BY ?country
ORDER BY DESC(?cities) ?country
LIMIT 10"""),
    ("count_euro_countries", ["count"], """
SELECT (COUNT(?country) AS ?n) WHERE { ?country o:currency currency:EUR . }"""),
    ("count_zh_city_labels", ["count", "lang"], """
SELECT (COUNT(?label) AS ?n) WHERE {
  ?city a o:City ;
        rdfs:label ?label .
  FILTER(lang(?label) = "zh")
}"""),
    ("count_shanghai_timezone", ["count"], """
SELECT (COUNT(*) AS ?n) WHERE { ?city o:timezone "Asia/Shanghai" . }"""),
    ("count_neighbours_per_south_american_country", ["count", "group", "order"], """
SELECT ?country (COUNT(?neighbour) AS ?neighbours) WHERE {
  ?country o:continent continent:SA ;
           o:borders ?neighbour .
}
GROUP BY ?country
ORDER BY DESC(?neighbours) ?country"""),
    # ---- 2 hops
    ("big_cities_in_asian_countries", ["2hop", "filter", "order"], """
SELECT ?city ?country ?population WHERE {
  ?country o:continent continent:AS .
  ?city o:country ?country ;
        o:population ?population .
  FILTER(?population > 10000000)
}
ORDER BY DESC(?population)"""),
    ("currency_of_country_of_osaka", ["2hop"], """
SELECT ?currency ?name WHERE {
  city:1853909 o:country ?country .
  ?country o:currency ?currency .
  ?currency rdfs:label ?name .
}"""),
    ("capitals_of_chinas_neighbours", ["2hop", "lang"], """
SELECT ?neighbour ?capital ?name WHERE {
  country:CN o:borders ?neighbour .
  ?neighbour o:capital ?capital .
  ?capital rdfs:label ?name .
  FILTER(lang(?name) = "en")
}"""),
    ("cities_of_european_countries_count", ["2hop", "count", "group", "order", "limit"], """
SELECT ?country (COUNT(?city) AS ?cities) WHERE {
  ?country o:continent continent:EU .
  ?city o:country ?country .
}
GROUP BY ?country
ORDER BY DESC(?cities) ?country
LIMIT 5"""),
    ("cities_per_continent", ["2hop", "count", "group"], """
SELECT ?continent (COUNT(?city) AS ?cities) WHERE {
  ?city o:country ?country .
  ?country o:continent ?continent .
}
GROUP BY ?continent"""),
    ("capital_larger_than_1m_in_south_america", ["2hop", "filter", "order"], """
SELECT ?country ?capital ?population WHERE {
  ?country o:continent continent:SA ;
           o:capital ?capital .
  ?capital o:population ?population .
  FILTER(?population >= 1000000)
}
ORDER BY DESC(?population)"""),
    ("comparison_lyon_porto", ["2hop", "comparison", "order", "limit"], """
SELECT ?city ?population WHERE {
  ?city a o:City ;
        o:population ?population .
  FILTER(?city = city:2996944 || ?city = city:2735943)
}
ORDER BY DESC(?population)
LIMIT 1"""),
    ("continent_of_country_of_city_zh", ["2hop", "lang-literal", "lang"], """
SELECT ?continent ?name WHERE {
  ?city rdfs:label "大阪"@zh ;
        o:country ?country .
  ?country o:continent ?continent .
  ?continent rdfs:label ?name .
  FILTER(lang(?name) = "zh")
}"""),
    ("neighbours_sharing_currency_with_france", ["2hop", "filter"], """
SELECT ?neighbour WHERE {
  country:FR o:borders ?neighbour ;
             o:currency ?currency .
  ?neighbour o:currency ?currency .
}"""),
    ("bordering_pairs_in_south_america", ["2hop", "filter", "string", "order"], """
SELECT ?a ?b WHERE {
  ?x o:continent continent:SA ;
     o:iso2 ?a ;
     o:borders ?y .
  ?y o:continent continent:SA ;
     o:iso2 ?b .
  FILTER(?a < ?b)
}
ORDER BY ?a ?b"""),
    ("big_oceania_cities_optional_capital_of", ["2hop", "optional", "order"], """
SELECT ?code ?city ?population ?capitalOf WHERE {
  ?country o:continent continent:OC ;
           o:iso2 ?code .
  ?city o:country ?country ;
        o:population ?population .
  FILTER(?population > 300000)
  OPTIONAL { ?capitalOf o:capital ?city . }
}
ORDER BY DESC(?population)"""),
    ("distinct_subregions_of_country_languages_es", ["2hop", "distinct", "order"], """
SELECT DISTINCT ?subregion WHERE {
  ?country o:language <http://knowlm.dev/geo/language/es> ;
           o:subregion ?subregion .
}
ORDER BY ?subregion"""),
]


def check_total_order(store, query_id, query, variables, rows):
    """Fail when ORDER BY leaves a tie among the returned rows, or between a returned row
    and one that LIMIT/OFFSET cut: another engine could return them in another order."""
    order_clause = query[query.index("ORDER BY") + len("ORDER BY"):]
    keys = re.findall(r"\?(\w+)", order_clause.split("LIMIT")[0].split("OFFSET")[0])
    if not set(keys) <= set(variables):
        sys.exit("%s: ORDER BY on unprojected variables %s" % (query_id, keys))
    unlimited = re.sub(r"\n(LIMIT|OFFSET) \d+", "", query)
    counts = {}
    for solution in store.query(unlimited):
        key = tuple(term_text(solution[k]) for k in keys)
        counts[key] = counts.get(key, 0) + 1
    for row in rows:
        key = tuple(row[variables.index(k)] for k in keys)
        if counts[key] > 1:
            sys.exit("%s: %d rows tie on ORDER BY %s = %s" % (query_id, counts[key], keys, key))


def term_text(term):
    return None if term is None else str(term)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    kb_root = os.path.dirname(here)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default=os.path.join(kb_root, "build", "geonames.nt"))
    parser.add_argument("--out", default=os.path.join(here, "sparql_queries.json"))
    args = parser.parse_args()
    if not os.path.exists(args.graph):
        sys.exit("%s not found: run KnowledgeBase/recipes/build_default_kb_data.py first"
                 % args.graph)

    store = ox.Store()
    store.bulk_load(path=args.graph, format=ox.RdfFormat.N_TRIPLES)

    # The goldens must use the file's own spelling of every term: oxigraph normalises
    # numeric literals ("468.0"^^xsd:double comes back as "468"), so check it round-trips.
    with open(args.graph, encoding="utf-8") as handle:
        file_objects = set()
        for line in handle:
            start = line.index("> ", line.index("> ") + 2) + 2
            file_objects.add(line[start:-3])
    for quad in store.quads_for_pattern(None, None, None):
        if str(quad.object) not in file_objects:
            sys.exit("oxigraph prints %s differently from the file" % quad.object)

    entries, ids = [], set()
    for query_id, tags, body in QUERIES:
        if query_id in ids:
            sys.exit("duplicate id " + query_id)
        ids.add(query_id)
        body = body.strip()
        query = body if "no-prefix" in tags else PREFIXES + body
        results = store.query(query)
        variables = [v.value for v in results.variables]
        rows = [[term_text(solution[v]) for v in variables] for solution in results]
        ordered = "ORDER BY" in query
        if ordered:
            check_total_order(store, query_id, query, variables, rows)
        if not ordered:
            rows.sort(key=lambda row: [("" if v is None else v) for v in row])
        if not rows:
            sys.exit("query %s returns nothing" % query_id)
        entries.append({"id": query_id, "tags": tags, "query": query,
                        "variables": variables, "rows": rows, "ordered": ordered})

    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(entries, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    print("%d queries -> %s (%d bytes)" % (len(entries), args.out, os.path.getsize(args.out)))
    for entry in entries:
        print("  %-50s %4d rows%s" % (entry["id"], len(entry["rows"]),
                                     "  ordered" if entry["ordered"] else ""))


if __name__ == "__main__":
    main()
