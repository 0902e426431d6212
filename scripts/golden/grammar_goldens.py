#!/usr/bin/env python3
"""Golden full-string acceptance cases for the grammar-constrained decoding engine.

Reads the fixtures under Tests/KnowLMRuntimeTests/Fixtures/grammar/ (schemas/*.json,
gbnf/*.gbnf), generates for each one a few hundred strings (random valid instances plus
mutations of them), asks llguidance whether each WHOLE string is accepted, and writes
Tests/KnowLMRuntimeTests/Fixtures/grammar/goldens.jsonl and goldens_meta.json.

Deterministic: every fixture has its own random.Random seeded from its file name, and the
output is byte-identical across runs with the same package versions.

Reference: llguidance (labels), cross-checked by two independent oracles written here:

* JSON Schema: a strict parser + validator of the engine's policy (below), and for every
  llguidance-accepted string also `jsonschema` (Draft 2020-12) on the parsed value.
* GBNF: an Earley recognizer over Unicode code points with llama.cpp's GBNF semantics
  (in particular `.` matches ANY code point, newline included).

A case goes into goldens.jsonl only when llguidance and the policy/CFG oracle agree; the
ones where they disagree are counted and sampled in goldens_meta.json ("disagreements"),
so that no golden encodes a known llguidance departure from the engine's semantics.

JSON Schema policy (what the engine implements and what llguidance is configured for):
  * compact whitespace with ", " between items and ": " after keys, nothing else
    (x-guidance: item_separator ", ", key_separator ": ", whitespace_flexible false);
  * closed objects: llguidance has no option for that, so this script injects
    "additionalProperties": false into every object schema (a schema with "properties",
    "required", or a type that includes "object") that does not have it, before handing the
    schema to llguidance and to jsonschema;
  * properties in `properties` order, optional ones may be omitted, no duplicates;
  * standard JSON strings; \\uXXXX escapes for any character are allowed
    (x-guidance: json_allow_general_unicode_escapes true); min/maxLength count code points;
  * integer -?(0|[1-9][0-9]*), number -?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?;
  * `{}` / `true` (no constraint): any JSON value under the same whitespace policy.

Full-string acceptance is independent of any real tokenizer: llguidance gets a tokenizer
whose tokens are the 256 single bytes (ids 0..255) plus one EOS token (id 256); a string
is accepted iff `LLMatcher.validate_tokens(list(utf8) + [EOS])` accepts every token, i.e.
all bytes are consumed and EOS is allowed right after them.

Usage:
    /work/grammarvenv/bin/python scripts/golden/grammar_goldens.py [--per-fixture 220]
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import re
import sys
from decimal import Decimal

import jsonschema
import llguidance as llg
from llguidance.gbnf_to_lark import gbnf_to_lark

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "KnowLMRuntimeTests", "Fixtures", "grammar")

X_GUIDANCE = {
    "item_separator": ", ",
    "key_separator": ": ",
    "whitespace_flexible": False,
    "json_allow_general_unicode_escapes": True,
}

EOS = 256


# ----------------------------------------------------------------------------------------
# llguidance with a byte-level tokenizer


class ByteTokenizer:
    """TokenizerWrapper-compatible object: 256 single-byte tokens + EOS (id 256).

    The EOS token's bytes start with 0xFF, llguidance's marker for special tokens."""

    def __init__(self):
        self.tokens = [bytes([i]) for i in range(256)] + [b"\xff<eos>"]
        self.eos_token_id = EOS
        self.bos_token_id = None
        self.special_token_ids = [EOS]

    def __call__(self, s):
        if isinstance(s, str):
            s = s.encode("utf-8")
        return list(s)


def make_byte_lltokenizer():
    return llg.LLTokenizer(llg.TokenizerWrapper(ByteTokenizer()), slices=[])


class LLG:
    def __init__(self):
        self.tok = make_byte_lltokenizer()

    def matcher(self, grammar):
        m = llg.LLMatcher(self.tok, grammar, log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return m

    def accepts(self, matcher, text):
        b = list(text.encode("utf-8"))
        return matcher.validate_tokens(b + [EOS]) == len(b) + 1

    def accepts_slow(self, grammar, text):
        """Same question, asked by consuming the bytes and looking at the EOS bit."""
        m = self.matcher(grammar)
        if not m.consume_tokens(list(text.encode("utf-8"))):
            return False
        mask = m.compute_bitmask()
        return bool(mask[EOS // 8] & (1 << (EOS % 8)))


def json_schema_grammar(closed_schema):
    s = dict(closed_schema)
    s["x-guidance"] = X_GUIDANCE
    return llg.LLMatcher.grammar_from_json_schema(s)


def gbnf_grammar(text):
    return llg.LLMatcher.grammar_from_lark(gbnf_to_lark(text))


# ----------------------------------------------------------------------------------------
# JSON Schema helpers


def is_object_schema(s):
    if not isinstance(s, dict):
        return False
    t = s.get("type")
    types = t if isinstance(t, list) else [t]
    return "object" in types or "properties" in s or "required" in s


def close_objects(s):
    """Deep copy of schema `s` with additionalProperties: false injected where missing."""
    if isinstance(s, list):
        return [close_objects(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k in ("properties", "$defs"):
            out[k] = {pk: close_objects(pv) for pk, pv in v.items()}
        elif k in ("items", "anyOf", "additionalProperties"):
            out[k] = close_objects(v)
        else:
            out[k] = v
    if is_object_schema(s) and "additionalProperties" not in s:
        out["additionalProperties"] = False
    return out


def resolve_ref(root, ref):
    assert ref.startswith("#/"), ref
    node = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# ---- minimal regex subset (JSON Schema `pattern`): parse, generate, translate -----------

ASCII_DIGIT = [("0", "9")]
ASCII_WORD = [("a", "z"), ("A", "Z"), ("0", "9"), ("_", "_")]
ASCII_SPACE = [(" ", " "), ("\t", "\t"), ("\n", "\n"), ("\r", "\r"), ("\f", "\f"), ("\v", "\v")]
CLASS_ESC = {"d": ASCII_DIGIT, "w": ASCII_WORD, "s": ASCII_SPACE}
SIMPLE_ESC = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}

# characters the generators draw from for '.' and negated classes
POOL = (
    [chr(c) for c in range(0x20, 0x7F)] * 3
    + list("éüßñçøåÆΩλжд中文字日本語한국あいアイ€£¥°±·–—…“”‘’😀🚀👍🏽")
    + ["\t", "\n"]
)


class Rx:
    """Tiny regex parser: alternation, groups ((...) and (?:...)), classes with ranges and
    negation and \\d \\w \\s, '.', escapes, quantifiers * + ? {m} {m,} {m,n}, ^ and $."""

    def __init__(self, pattern):
        self.p = pattern
        self.i = 0
        self.ast = self.alt()
        if self.i != len(self.p):
            raise ValueError("bad pattern %r at %d" % (pattern, self.i))

    def peek(self):
        return self.p[self.i] if self.i < len(self.p) else ""

    def alt(self):
        branches = [self.cat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.cat())
        return ("alt", branches)

    def cat(self):
        items = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.quant(self.atom()))
        return ("cat", items)

    def atom(self):
        c = self.peek()
        self.i += 1
        if c == "(":
            if self.p.startswith("?:", self.i):
                self.i += 2
            a = self.alt()
            assert self.peek() == ")"
            self.i += 1
            return a
        if c == "[":
            return self.cls()
        if c == ".":
            return ("any",)
        if c == "^":
            return ("bol",)
        if c == "$":
            return ("eol",)
        if c == "\\":
            e = self.peek()
            self.i += 1
            if e in CLASS_ESC:
                return ("set", False, list(CLASS_ESC[e]))
            return ("set", False, [(SIMPLE_ESC.get(e, e),) * 2])
        return ("set", False, [(c, c)])

    def cls_char(self):
        c = self.peek()
        self.i += 1
        if c == "\\":
            e = self.peek()
            self.i += 1
            if e in CLASS_ESC:
                return CLASS_ESC[e]
            return SIMPLE_ESC.get(e, e)
        return c

    def cls(self):
        neg = False
        if self.peek() == "^":
            neg = True
            self.i += 1
        ranges = []
        first = True
        while first or self.peek() != "]":
            first = False
            lo = self.cls_char()
            if isinstance(lo, list):
                ranges.extend(lo)
                continue
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                hi = self.cls_char()
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        self.i += 1
        return ("set", neg, ranges)

    def quant(self, a):
        c = self.peek()
        if c == "*":
            self.i += 1
            return ("rep", a, 0, None)
        if c == "+":
            self.i += 1
            return ("rep", a, 1, None)
        if c == "?":
            self.i += 1
            return ("rep", a, 0, 1)
        if c == "{":
            m = re.match(r"\{(\d+)(,(\d*))?\}", self.p[self.i :])
            assert m, self.p
            self.i += m.end()
            lo = int(m.group(1))
            if m.group(2) is None:
                hi = lo
            elif m.group(3) == "":
                hi = None
            else:
                hi = int(m.group(3))
            return ("rep", a, lo, hi)
        return a

    # -- to Python `re` (explicit ASCII classes, '.' = any but \n, '$' = end of string) --
    def to_python(self):
        return self._py(self.ast)

    @staticmethod
    def _esc_cls(c):
        return "\\" + c if c in "\\]^-[" else c

    def _py(self, a):
        k = a[0]
        if k == "alt":
            return "(?:" + "|".join(self._py(b) for b in a[1]) + ")"
        if k == "cat":
            return "".join(self._py(b) for b in a[1])
        if k == "any":
            return "[^\\n]"
        if k == "bol":
            return "\\A"
        if k == "eol":
            return "\\Z"
        if k == "set":
            body = "".join(
                self._esc_cls(lo) if lo == hi else self._esc_cls(lo) + "-" + self._esc_cls(hi)
                for lo, hi in a[2]
            )
            return "[" + ("^" if a[1] else "") + body + "]"
        if k == "rep":
            hi = "" if a[3] is None else str(a[3])
            return "(?:" + self._py(a[1]) + "){%d,%s}" % (a[2], hi)
        raise AssertionError(a)

    # -- random generation --
    def generate(self, rng):
        out = []
        self._gen(self.ast, rng, out)
        return "".join(out)

    def _gen(self, a, rng, out):
        k = a[0]
        if k == "alt":
            self._gen(rng.choice(a[1]), rng, out)
        elif k == "cat":
            for b in a[1]:
                self._gen(b, rng, out)
        elif k == "any":
            out.append(rng.choice([c for c in POOL if c != "\n"]))
        elif k == "set":
            out.append(pick_from_set(rng, a[1], a[2]))
        elif k == "rep":
            hi = a[3] if a[3] is not None else a[2] + 4
            for _ in range(rng.randint(a[2], min(hi, a[2] + 6))):
                self._gen(a[1], rng, out)


def in_ranges(c, ranges):
    return any(lo <= c <= hi for lo, hi in ranges)


def pick_from_set(rng, negated, ranges):
    if negated:
        cands = [c for c in POOL if not in_ranges(c, ranges)]
        return rng.choice(cands)
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(ord(lo), ord(hi)))


# ---- JSON values with preserved number text and "free" strings ------------------------


class Num:
    """A JSON number kept as its exact text."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return "Num(%s)" % self.text

    @property
    def is_integer_literal(self):
        return re.fullmatch(r"-?(0|[1-9][0-9]*)", self.text) is not None

    @property
    def value(self):
        return Decimal(self.text)


class FreeStr(str):
    """A string value with no pattern/enum/const constraint (may be \\u-escaped freely)."""


class OObj(list):
    """Parsed JSON object: list of (key, value) pairs in text order (duplicates kept)."""


class OArr(list):
    pass


def json_escape_char(c, rng, fancy):
    o = ord(c)
    if c == '"':
        return '\\"'
    if c == "\\":
        return "\\\\"
    short = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if c in short and not (fancy and rng.random() < 0.3):
        return short[c]
    if o < 0x20 or (fancy and rng.random() < 0.2):
        fmt = "\\u%04x" if rng.random() < 0.5 else "\\u%04X"
        if o >= 0x10000:
            v = o - 0x10000
            return fmt % (0xD800 + (v >> 10)) + fmt % (0xDC00 + (v & 0x3FF))
        return fmt % o
    return c


def dump_string(s, rng, fancy):
    fancy = fancy and isinstance(s, FreeStr)
    return '"' + "".join(json_escape_char(c, rng, fancy) for c in s) + '"'


def dump(v, rng, fancy=False, item_sep=", ", key_sep=": "):
    """Serialize under the compact policy (or with other separators for mutations)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Num):
        return v.text
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return dump_string(v, rng, fancy)
    if isinstance(v, list):
        return "[" + item_sep.join(dump(x, rng, fancy, item_sep, key_sep) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + item_sep.join(
                dump_string(k, rng, False) + key_sep + dump(x, rng, fancy, item_sep, key_sep)
                for k, x in v.items()
            )
            + "}"
        )
    raise TypeError(type(v))


# ---- strict policy parser -----------------------------------------------------------------


class PolicyError(Exception):
    pass


NUM_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class PolicyParser:
    """Parses JSON text under the engine's whitespace policy; raises PolicyError."""

    def __init__(self, text):
        self.t = text
        self.i = 0
        # policy features llguidance is known to treat differently (for classification)
        self.features = set()

    def parse(self):
        v = self.value()
        if self.i != len(self.t):
            raise PolicyError("trailing text")
        return v

    def expect(self, s):
        if not self.t.startswith(s, self.i):
            raise PolicyError("expected %r at %d" % (s, self.i))
        self.i += len(s)

    def value(self):
        c = self.t[self.i : self.i + 1]
        if c == "{":
            self.i += 1
            obj = OObj()
            if self.t.startswith("}", self.i):
                self.i += 1
                return obj
            while True:
                if self.t[self.i : self.i + 1] != '"':
                    raise PolicyError("key expected")
                k = self.string()
                self.expect(": ")
                obj.append((k, self.value()))
                if self.t.startswith("}", self.i):
                    self.i += 1
                    return obj
                self.expect(", ")
        if c == "[":
            self.i += 1
            arr = OArr()
            if self.t.startswith("]", self.i):
                self.i += 1
                return arr
            while True:
                arr.append(self.value())
                if self.t.startswith("]", self.i):
                    self.i += 1
                    return arr
                self.expect(", ")
        if c == '"':
            return self.string()
        for lit, val in (("true", True), ("false", False), ("null", None)):
            if self.t.startswith(lit, self.i):
                self.i += len(lit)
                return val
        m = NUM_RE.match(self.t, self.i)
        if m and m.end() > self.i:
            self.i = m.end()
            return Num(m.group(0))
        raise PolicyError("value expected at %d" % self.i)

    def hex4(self):
        h = self.t[self.i : self.i + 4]
        if len(h) != 4 or not all(x in "0123456789abcdefABCDEF" for x in h):
            raise PolicyError("bad \\u escape")
        self.i += 4
        return int(h, 16)

    def string(self):
        self.expect('"')
        out = []
        while True:
            if self.i >= len(self.t):
                raise PolicyError("unterminated string")
            c = self.t[self.i]
            self.i += 1
            if c == '"':
                return "".join(out)
            if ord(c) < 0x20:
                raise PolicyError("raw control character")
            if c == "\x7f":
                self.features.add("raw_DEL_in_string")
            if c != "\\":
                out.append(c)
                continue
            e = self.t[self.i : self.i + 1]
            self.i += 1
            simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
            if e in simple:
                if e == "/":
                    self.features.add("escaped_solidus")
                out.append(simple[e])
            elif e == "u":
                u = self.hex4()
                if 0xD800 <= u <= 0xDBFF:
                    if not self.t.startswith("\\u", self.i):
                        raise PolicyError("lone high surrogate")
                    self.i += 2
                    lo = self.hex4()
                    if not 0xDC00 <= lo <= 0xDFFF:
                        raise PolicyError("bad low surrogate")
                    out.append(chr(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)))
                elif 0xDC00 <= u <= 0xDFFF:
                    raise PolicyError("lone low surrogate")
                else:
                    if u >= 0x20 and u not in (0x22, 0x5C):
                        self.features.add("unicode_escape_of_printable")
                    out.append(chr(u))
            else:
                raise PolicyError("bad escape")


# ---- policy validator for the keyword subset ------------------------------------------------


FEATURES = set()  # filled by json_equal during one policy_accepts() call


def json_equal(node, value):
    if value is None or isinstance(value, bool):
        return node is value
    if isinstance(value, (int, float)):
        if isinstance(node, Num) and node.value == Decimal(repr(value)):
            if node.text != json.dumps(value):
                FEATURES.add("enum_const_number_spelled_differently")
            return True
        return False
    if isinstance(value, str):
        return isinstance(node, str) and node == value
    if isinstance(value, list):
        return isinstance(node, OArr) and len(node) == len(value) and all(
            json_equal(a, b) for a, b in zip(node, value)
        )
    if isinstance(value, dict):
        if not isinstance(node, OObj) or len(node) != len(value):
            return False
        keys = [k for k, _ in node]
        if len(set(keys)) != len(keys) or set(keys) != set(value):
            return False
        return all(json_equal(v, value[k]) for k, v in node)
    raise TypeError(value)


def type_ok(node, t):
    if t == "null":
        return node is None
    if t == "boolean":
        return isinstance(node, bool)
    if t == "integer":
        return isinstance(node, Num) and node.is_integer_literal
    if t == "number":
        return isinstance(node, Num)
    if t == "string":
        return isinstance(node, str)
    if t == "array":
        return isinstance(node, OArr)
    if t == "object":
        return isinstance(node, OObj)
    raise ValueError(t)


_pattern_cache = {}


def pattern_ok(s, pattern):
    if pattern not in _pattern_cache:
        _pattern_cache[pattern] = re.compile(Rx(pattern).to_python())
    return _pattern_cache[pattern].search(s) is not None


def policy_valid(node, schema, root):
    if schema is True or schema == {}:
        return True
    if schema is False:
        return False
    if "$ref" in schema and not policy_valid(node, resolve_ref(root, schema["$ref"]), root):
        return False
    if "type" in schema:
        ts = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(node, t) for t in ts):
            return False
    if "const" in schema and not json_equal(node, schema["const"]):
        return False
    if "enum" in schema and not any(json_equal(node, e) for e in schema["enum"]):
        return False
    if "anyOf" in schema and not any(policy_valid(node, b, root) for b in schema["anyOf"]):
        return False
    if isinstance(node, OObj) and is_object_schema(schema):
        props = schema.get("properties", {})
        order = list(props)
        last = -1
        for k, v in node:
            if k not in props:  # closed objects
                return False
            idx = order.index(k)
            if idx <= last:  # schema order, no duplicates
                return False
            last = idx
            if not policy_valid(v, props[k], root):
                return False
        present = {k for k, _ in node}
        if any(r not in present for r in schema.get("required", [])):
            return False
    if isinstance(node, OArr):
        if len(node) < schema.get("minItems", 0):
            return False
        if "maxItems" in schema and len(node) > schema["maxItems"]:
            return False
        if "items" in schema and not all(policy_valid(x, schema["items"], root) for x in node):
            return False
    if isinstance(node, str):
        if len(node) < schema.get("minLength", 0):
            return False
        if "maxLength" in schema and len(node) > schema["maxLength"]:
            return False
        if "pattern" in schema and not pattern_ok(node, schema["pattern"]):
            return False
    return True


def policy_accepts(text, schema, features=None):
    """Engine policy verdict; `features` (a set) receives the notable features used."""
    parser = PolicyParser(text)
    try:
        node = parser.parse()
    except PolicyError:
        return False
    FEATURES.clear()
    ok = policy_valid(node, schema, schema)
    if features is not None:
        features.update(parser.features | FEATURES)
    return ok


# ---- random instances -------------------------------------------------------------------------

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one "
    "had by word but not what all were we when your can said there use an each which she do how their "
    "Paris Berlin Tokyo Beijing Zhejiang University Alice Bob Microsoft OpenAI Hangzhou Marie Curie "
    "2024 3.5 42 e.g. I'm don't"
).split()
EXOTIC = ["é", "ü", "ß", "中文", "北京", "浙江大学", "日本語", "한국어", "😀", "🚀", "€", "—", "“quoted”", "naïve"]
NASTY = ['"', "\\", "/", "\n", "\t", "\r", "\b", "\f", "\u0001", "\u001f", "'", "<tag>", "{", "}", "[", "]", ":", ","]


def random_text(rng, min_len=0, max_len=None):
    cap = max_len if max_len is not None else max(min_len, 16)
    cap = min(cap, max(min_len, 30))
    target = rng.randint(min_len, cap)
    parts = []
    n = 0
    while n < target:
        r = rng.random()
        if r < 0.6:
            p = rng.choice(WORDS) + " "
        elif r < 0.8:
            p = rng.choice(EXOTIC)
        else:
            p = rng.choice(NASTY)
        parts.append(p)
        n += len(p)
    s = "".join(parts)[:target]
    return s


def random_number(rng, integer):
    r = rng.random()
    if r < 0.15:
        i = "0"
    elif r < 0.5:
        i = str(rng.randint(1, 99))
    else:
        i = str(rng.randint(100, 10**rng.randint(3, 12)))
    if rng.random() < 0.25 and i != "0":
        i = "-" + i
    elif rng.random() < 0.03:
        i = "-0"
    if integer:
        return Num(i)
    if rng.random() < 0.5:
        i += "." + str(rng.randint(0, 10**rng.randint(1, 6)))
    if rng.random() < 0.15:
        i += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 30))
    return Num(i)


def random_any(rng, depth=0):
    r = rng.random()
    if depth > 2:
        r = r * 0.6
    if r < 0.12:
        return None
    if r < 0.24:
        return rng.random() < 0.5
    if r < 0.4:
        return random_number(rng, rng.random() < 0.5)
    if r < 0.6:
        return FreeStr(random_text(rng, 0, 12))
    if r < 0.8:
        return [random_any(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    d = {}
    for _ in range(rng.randint(0, 3)):
        d[FreeStr(rng.choice(WORDS + EXOTIC))] = random_any(rng, depth + 1)
    return d


def to_value(v):
    """enum/const Python values to generator values (numbers as Num)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return Num(json.dumps(v))
    if isinstance(v, list):
        return [to_value(x) for x in v]
    if isinstance(v, dict):
        return {k: to_value(x) for k, x in v.items()}
    raise TypeError(v)


def gen_instance(schema, root, rng, depth=0):
    if schema is True or schema == {}:
        return random_any(rng)
    if "$ref" in schema:
        return gen_instance(resolve_ref(root, schema["$ref"]), root, rng, depth)
    if "const" in schema:
        return to_value(schema["const"])
    if "enum" in schema:
        return to_value(rng.choice(schema["enum"]))
    if "anyOf" in schema:
        return gen_instance(rng.choice(schema["anyOf"]), root, rng, depth)
    t = schema.get("type")
    if isinstance(t, list):
        t = rng.choice(t)
    if t is None:
        if "properties" in schema:
            t = "object"
        elif "items" in schema:
            t = "array"
        else:
            return random_any(rng)
    if t == "null":
        return None
    if t == "boolean":
        return rng.random() < 0.5
    if t in ("integer", "number"):
        return random_number(rng, t == "integer")
    if t == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            rx = Rx(schema["pattern"])
            for _ in range(200):
                s = rx.generate(rng)
                if len(s) >= lo and (hi is None or len(s) <= hi):
                    return s
            raise RuntimeError("cannot satisfy %r" % schema)
        return FreeStr(random_text(rng, lo, hi))
    if t == "array":
        lo = schema.get("minItems", 0)
        hi = schema.get("maxItems", lo + 3)
        hi = min(hi, lo + 3)
        if depth > 3:
            hi = lo
        items = schema.get("items", {})
        return [gen_instance(items, root, rng, depth + 1) for _ in range(rng.randint(lo, hi))]
    if t == "object":
        req = set(schema.get("required", []))
        d = {}
        for k, sub in schema.get("properties", {}).items():
            if k in req or (depth <= 3 and rng.random() < 0.6):
                d[k] = gen_instance(sub, root, rng, depth + 1)
        return d
    raise ValueError(t)


# ---- mutations of JSON instances ----------------------------------------------------------------


def walk_paths(v, path=()):
    yield path, v
    if isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk_paths(x, path + (i,))
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from walk_paths(x, path + (k,))


def get_at(v, path):
    for p in path:
        v = v[p]
    return v


def set_at(v, path, new):
    if not path:
        return new
    get_at(v, path[:-1])[path[-1]] = new  # dict assignment keeps the key's position
    return v


def deep_copy(v):
    if isinstance(v, dict):
        return {k: deep_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [deep_copy(x) for x in v]
    return v


def jtype(x):
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, Num):
        return "number"
    if isinstance(x, str):
        return "string"
    return "array" if isinstance(x, list) else "object"


def other_type_value(v, rng):
    candidates = [None, True, Num("7"), Num("-2.5"), "text", [], {}, [Num("1")], {"k": Num("1")}]
    choices = [c for c in candidates if jtype(c) != jtype(v)]
    if isinstance(v, Num) and v.is_integer_literal:
        choices.append(Num("1.5"))
    return deep_copy(rng.choice(choices))


def structural_mutation(value, rng):
    v = deep_copy(value)
    paths = list(walk_paths(v))
    kind = rng.choice(
        ["wrong_type", "extra_key", "reorder", "missing_key", "too_many", "long_string",
         "non_ascii", "drop_item", "int_to_float"]
    )
    if kind == "wrong_type":
        path, old = rng.choice(paths)
        return kind, set_at(v, path, other_type_value(old, rng))
    if kind == "extra_key":
        objs = [p for p, x in paths if isinstance(x, dict)]
        if objs:
            o = get_at(v, rng.choice(objs))
            o[rng.choice(["extra", "note", "id", "name", "unit"])] = rng.choice([Num("1"), "x", None])
            return kind, v
    if kind == "reorder":
        objs = [p for p, x in paths if isinstance(x, dict) and len(x) >= 2]
        if objs:
            o = get_at(v, rng.choice(objs))
            items = list(o.items())
            i = rng.randrange(len(items) - 1)
            items[i], items[i + 1] = items[i + 1], items[i]
            o.clear()
            o.update(items)
            return kind, v
    if kind == "missing_key":
        objs = [p for p, x in paths if isinstance(x, dict) and x]
        if objs:
            o = get_at(v, rng.choice(objs))
            del o[rng.choice(list(o))]
            return kind, v
    if kind == "too_many":
        arrs = [p for p, x in paths if isinstance(x, list) and x]
        if arrs:
            a = get_at(v, rng.choice(arrs))
            a.extend(deep_copy(a[-1]) for _ in range(rng.randint(1, 5)))
            return kind, v
    if kind == "drop_item":
        arrs = [p for p, x in paths if isinstance(x, list) and x]
        if arrs:
            a = get_at(v, rng.choice(arrs))
            del a[rng.randrange(len(a))]
            return kind, v
    if kind == "int_to_float":
        nums = [p for p, x in paths if isinstance(x, Num)]
        if nums:
            p = rng.choice(nums)
            n = get_at(v, p)
            return kind, set_at(v, p, Num(n.text + rng.choice([".0", ".5", "e3"])))
    if kind in ("long_string", "non_ascii"):
        strs = [p for p, x in paths if isinstance(x, str)]
        if strs:
            p = rng.choice(strs)
            s = get_at(v, p)
            if kind == "long_string":
                ns = s + (s or "x") * rng.randint(1, 4) + "y" * rng.randint(1, 140)
            else:
                i = rng.randint(0, len(s))
                ns = s[:i] + rng.choice(EXOTIC + ["\u00a0", "\u2003", "١٢"]) + s[i:]
            return kind, set_at(v, p, type(s)(ns) if isinstance(s, FreeStr) else ns)
    return "wrong_type", set_at(v, (), other_type_value(v, rng))


MUT_CHARS = list(' ,:{}[]"\\/0123456789-+.eEabcxyzntfulTrue\n\t\r\x01\x7f') + ["é", "中", "😀", "\u00a0"]


def text_mutation(text, rng, alphabet=MUT_CHARS):
    kind = rng.choice(["delete", "insert", "replace", "truncate", "dup", "swap", "append"])
    n = len(text)
    if n == 0:
        return "insert", rng.choice(alphabet)
    i = rng.randrange(n)
    if kind == "delete":
        j = min(n, i + rng.choice([1, 1, 1, 2, 3]))
        return kind, text[:i] + text[j:]
    if kind == "insert":
        return kind, text[:i] + rng.choice(alphabet) + text[i:]
    if kind == "replace":
        return kind, text[:i] + rng.choice(alphabet) + text[i + 1 :]
    if kind == "truncate":
        return kind, text[: rng.randrange(n)]
    if kind == "dup":
        j = min(n, i + rng.randint(1, 8))
        return kind, text[:j] + text[i:j] + text[j:]
    if kind == "swap":
        if n >= 2:
            i = min(i, n - 2)
            return kind, text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        return kind, text + text
    return kind, text + rng.choice(alphabet)


def separator_mutation(value, rng):
    seps = [(",", ": "), (", ", ":"), (",", ":"), (",  ", ": "), (", ", " : "), (",\n", ": "), (" , ", ": "), (", ", ":\t")]
    item_sep, key_sep = rng.choice(seps)
    text = dump(value, rng, False, item_sep, key_sep)
    r = rng.random()
    if r < 0.3:
        text = " " + text if rng.random() < 0.5 else text + rng.choice([" ", "\n"])
    elif r < 0.6:
        text = text.replace("{", "{ ", 1).replace("[", "[ ", 1)
    return "separators", text


# ---- GBNF: parser (llama.cpp syntax), Earley recognizer, generator ------------------------------


class GbnfError(Exception):
    pass


class Gbnf:
    """GBNF as llama.cpp reads it. AST nodes:
    ('lit', str) ('cls', negated, [(lo, hi)]) ('any',) ('ref', name)
    ('seq', [nodes]) ('alt', [seqs]) ('rep', node, min, max|None)"""

    def __init__(self, text):
        self.t = text
        self.i = 0
        self.rules = {}
        self.skip(True)
        while self.i < len(self.t):
            name = self.name()
            self.skip(False)
            if not self.t.startswith("::=", self.i):
                raise GbnfError("expected ::= at %d" % self.i)
            self.i += 3
            self.skip(True)
            if name in self.rules:
                raise GbnfError("rule defined twice: " + name)
            self.rules[name] = self.alternatives(False)
            self.skip(True)
        if "root" not in self.rules:
            raise GbnfError("no root")
        for n in self.refs():
            if n not in self.rules:
                raise GbnfError("undefined rule " + n)

    def refs(self):
        out = set()

        def w(a):
            if a[0] == "ref":
                out.add(a[1])
            elif a[0] in ("seq", "alt"):
                for b in a[1]:
                    w(b)
            elif a[0] == "rep":
                w(a[1])

        for r in self.rules.values():
            w(r)
        return out

    def skip(self, newlines):
        while self.i < len(self.t):
            c = self.t[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(self.t) and self.t[self.i] not in "\r\n":
                    self.i += 1
            else:
                break

    @staticmethod
    def is_word(c):
        return c != "" and (c.isascii() and (c.isalnum() or c == "-"))

    def name(self):
        s = self.i
        while self.i < len(self.t) and self.is_word(self.t[self.i]):
            self.i += 1
        if s == self.i:
            raise GbnfError("expected name at %d" % s)
        return self.t[s : self.i]

    def char(self):
        c = self.t[self.i]
        self.i += 1
        if c != "\\":
            return c
        e = self.t[self.i]
        self.i += 1
        if e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            h = self.t[self.i : self.i + n]
            if len(h) != n or not all(x in "0123456789abcdefABCDEF" for x in h):
                raise GbnfError("bad hex escape")
            self.i += n
            return chr(int(h, 16))
        m = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-"}
        if e not in m:
            raise GbnfError("unknown escape \\" + e)
        return m[e]

    def alternatives(self, nested):
        alts = [self.sequence(nested)]
        while self.i < len(self.t) and self.t[self.i] == "|":
            self.i += 1
            self.skip(True)
            alts.append(self.sequence(nested))
        return ("alt", alts)

    def sequence(self, nested):
        items = []
        while self.i < len(self.t):
            c = self.t[self.i]
            if c == '"':
                self.i += 1
                s = []
                while self.t[self.i] != '"':
                    s.append(self.char())
                self.i += 1
                items.append(("lit", "".join(s)))
            elif c == "[":
                self.i += 1
                neg = self.t[self.i] == "^"
                if neg:
                    self.i += 1
                ranges = []
                while self.t[self.i] != "]":
                    lo = self.char()
                    hi = lo
                    if self.t[self.i] == "-" and self.t[self.i + 1] != "]":
                        self.i += 1
                        hi = self.char()
                    ranges.append((lo, hi))
                self.i += 1
                items.append(("cls", neg, ranges))
            elif c == "(":
                self.i += 1
                self.skip(True)
                a = self.alternatives(True)
                if self.t[self.i : self.i + 1] != ")":
                    raise GbnfError("expected ) at %d" % self.i)
                self.i += 1
                items.append(a)
            elif c == ".":
                self.i += 1
                items.append(("any",))
            elif self.is_word(c):
                items.append(("ref", self.name()))
            elif c in "*+?{":
                if not items:
                    raise GbnfError("repetition without item")
                if c == "*":
                    items[-1] = ("rep", items[-1], 0, None)
                    self.i += 1
                elif c == "+":
                    items[-1] = ("rep", items[-1], 1, None)
                    self.i += 1
                elif c == "?":
                    items[-1] = ("rep", items[-1], 0, 1)
                    self.i += 1
                else:
                    m = re.match(r"\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}", self.t[self.i :])
                    if not m:
                        raise GbnfError("bad {} at %d" % self.i)
                    self.i += m.end()
                    lo = int(m.group(1))
                    hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                    items[-1] = ("rep", items[-1], lo, hi)
            else:
                break
            self.skip(nested)
        return ("seq", items)

    # ---- to plain BNF for Earley: nonterminal -> [tuple of symbols] ----
    def to_bnf(self):
        bnf = {}
        counter = [0]

        def fresh(prefix):
            counter[0] += 1
            return "%s#%d" % (prefix, counter[0])

        def sym_list(a):
            k = a[0]
            if k == "lit":
                return [("c", False, ((ch, ch),)) for ch in a[1]]
            if k == "cls":
                return [("c", a[1], tuple(a[2]))]
            if k == "any":
                return [("any",)]
            if k == "ref":
                return [("n", a[1])]
            if k == "seq":
                out = []
                for b in a[1]:
                    out.extend(sym_list(b))
                return out
            if k == "alt":
                n = fresh("g")
                bnf[n] = [tuple(sym_list(b)) for b in a[1]]
                return [("n", n)]
            if k == "rep":
                item = sym_list(a[1])
                lo, hi = a[2], a[3]
                out = item * lo
                if hi is None:
                    star = fresh("star")
                    bnf[star] = [(), tuple(item) + (("n", star),)]
                    out += [("n", star)]
                elif hi > lo:
                    prev = None
                    for _ in range(hi - lo):
                        opt = fresh("opt")
                        bnf[opt] = [(), tuple(item) + ((("n", prev),) if prev else ())]
                        prev = opt
                    out += [("n", prev)]
                return out
            raise AssertionError(a)

        for name, a in self.rules.items():
            bnf[name] = [tuple(sym_list(b)) for b in a[1]]
        return bnf

    # ---- random generation ----
    def min_sizes(self):
        INF = 10**9
        size = {n: INF for n in self.rules}

        def ms(a):
            k = a[0]
            if k == "lit":
                return len(a[1])
            if k in ("cls", "any"):
                return 1
            if k == "ref":
                return size[a[1]]
            if k == "seq":
                return min(INF, sum(ms(b) for b in a[1]))
            if k == "alt":
                return min(ms(b) for b in a[1])
            if k == "rep":
                return min(INF, a[2] * ms(a[1]))
            raise AssertionError(a)

        changed = True
        while changed:
            changed = False
            for n, a in self.rules.items():
                v = ms(a)
                if v < size[n]:
                    size[n] = v
                    changed = True
        self._ms = ms
        return size

    def generate(self, rng, max_depth=8):
        self.min_sizes()
        out = []
        self._gen(self.rules["root"], rng, out, 0, max_depth)
        return "".join(out)

    def _gen(self, a, rng, out, depth, max_depth):
        k = a[0]
        if k == "lit":
            out.append(a[1])
        elif k == "cls":
            out.append(pick_from_set(rng, a[1], a[2]))
        elif k == "any":
            out.append(rng.choice([c for c in POOL if c != "\n"]))
        elif k == "ref":
            self._gen(self.rules[a[1]], rng, out, depth + 1, max_depth)
        elif k == "seq":
            for b in a[1]:
                self._gen(b, rng, out, depth, max_depth)
        elif k == "alt":
            alts = a[1]
            if depth >= max_depth:
                best = min(self._ms(b) for b in alts)
                alts = [b for b in alts if self._ms(b) == best]
            self._gen(rng.choice(alts), rng, out, depth, max_depth)
        elif k == "rep":
            lo, hi = a[2], a[3]
            if hi is None:
                hi = lo + 4
            if depth >= max_depth:
                hi = lo
            for _ in range(rng.randint(lo, min(hi, lo + 5))):
                self._gen(a[1], rng, out, depth + 1, max_depth)

    def alphabet(self):
        chars = set()

        def w(a):
            if a[0] == "lit":
                chars.update(a[1])
            elif a[0] == "cls" and not a[1]:
                for lo, hi in a[2]:
                    chars.add(lo)
                    chars.add(hi)
            elif a[0] in ("seq", "alt"):
                for b in a[1]:
                    w(b)
            elif a[0] == "rep":
                w(a[1])

        for r in self.rules.values():
            w(r)
        return sorted(chars) + ["\n", " ", "\t", "é", "中", "😀", "\x01", "\"", "\\"]


class Earley:
    """Earley recognizer over code points; terminals are char predicates."""

    def __init__(self, bnf, start="root", dot_matches_newline=True):
        self.bnf = bnf
        self.start = start
        self.dot_nl = dot_matches_newline
        nullable = set()
        changed = True
        while changed:
            changed = False
            for n, alts in bnf.items():
                if n not in nullable and any(all(s[0] == "n" and s[1] in nullable for s in alt) for alt in alts):
                    nullable.add(n)
                    changed = True
        self.nullable = nullable

    def term_ok(self, sym, c):
        if sym[0] == "any":
            return self.dot_nl or c != "\n"
        hit = any(lo <= c <= hi for lo, hi in sym[2])
        return hit != sym[1]

    def accepts(self, text):
        bnf = self.bnf
        n = len(text)
        sets = [[] for _ in range(n + 1)]
        seen = [set() for _ in range(n + 1)]

        def add(i, item):
            if item not in seen[i]:
                seen[i].add(item)
                sets[i].append(item)

        for ai in range(len(bnf[self.start])):
            add(0, (self.start, ai, 0, 0))
        for i in range(n + 1):
            j = 0
            while j < len(sets[i]):
                lhs, ai, dot, origin = sets[i][j]
                j += 1
                rhs = bnf[lhs][ai]
                if dot < len(rhs):
                    sym = rhs[dot]
                    if sym[0] == "n":
                        for bi in range(len(bnf[sym[1]])):
                            add(i, (sym[1], bi, 0, i))
                        if sym[1] in self.nullable:
                            add(i, (lhs, ai, dot + 1, origin))
                    elif i < n and self.term_ok(sym, text[i]):
                        add(i + 1, (lhs, ai, dot + 1, origin))
                else:
                    for (l2, a2, d2, o2) in list(sets[origin]):
                        r2 = bnf[l2][a2]
                        if d2 < len(r2) and r2[d2] == ("n", lhs):
                            add(i, (l2, a2, d2 + 1, o2))
            if i < n and not sets[i + 1] and i + 1 <= n:
                return False
        return any(l == self.start and d == len(bnf[l][a]) and o == 0 for (l, a, d, o) in sets[n])


# ----------------------------------------------------------------------------------------
# case generation


def seed_for(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def schema_cases(schema, rng, target):
    closed = close_objects(schema)
    cases = []  # (origin, text)
    seen = set()

    def push(origin, text):
        if text not in seen:
            seen.add(text)
            cases.append((origin, text))

    valid_values = []
    n_valid = target * 2 // 5
    attempts = 0
    while len([c for c in cases if c[0].startswith("valid")]) < n_valid and attempts < n_valid * 5:
        attempts += 1
        v = gen_instance(closed, closed, rng)
        valid_values.append(v)
        fancy = rng.random() < 0.2
        push("valid" + ("_escapes" if fancy else ""), dump(v, rng, fancy))
    attempts = 0
    while len(cases) < target and attempts < target * 10:
        attempts += 1
        v = rng.choice(valid_values)
        r = rng.random()
        if r < 0.4:
            kind, mv = structural_mutation(v, rng)
            push(kind, dump(mv, rng, rng.random() < 0.1))
        elif r < 0.55:
            kind, t = separator_mutation(v, rng)
            push(kind, t)
        else:
            kind, t = text_mutation(dump(v, rng, False), rng)
            push(kind, t)
    return closed, cases


def gbnf_cases(g, rng, target):
    cases = []
    seen = set()

    def push(origin, text):
        if text not in seen:
            seen.add(text)
            cases.append((origin, text))

    valid = []
    n_valid = target * 2 // 5
    attempts = 0
    while len(valid) < n_valid and attempts < n_valid * 20:
        attempts += 1
        s = g.generate(rng, max_depth=rng.choice([4, 6, 8]))
        if len(s) > 400 or s in seen:
            continue
        valid.append(s)
        push("valid", s)
    alphabet = g.alphabet()
    attempts = 0
    while len(cases) < target and attempts < target * 10:
        attempts += 1
        s = rng.choice(valid)
        r = rng.random()
        if r < 0.8:
            kind, t = text_mutation(s, rng, alphabet)
            if rng.random() < 0.25:
                kind2, t = text_mutation(t, rng, alphabet)
                kind += "+" + kind2
        else:
            kind, t = "concat", s + rng.choice(valid)
        push(kind, t)
    return cases


# ----------------------------------------------------------------------------------------
# probes of the known differences between llguidance and the engine's semantics

JSON_PROBES = [
    # (what, schema, text, engine-policy verdict)
    ("escaped solidus \\/", {"type": "string"}, '"a\\/b"', True),
    ("raw DEL U+007F inside a string", {"type": "string"}, '"a\x7fb"', True),
    ("\\u escape of a printable char, plain string", {"type": "string"}, '"\\u0041"', True),
    ("\\u escape of a printable char, string with pattern", {"type": "string", "pattern": "^[A-Z]$"}, '"\\u0041"', True),
    ("\\u escape inside an enum value", {"enum": ["A", "B"]}, '"\\u0041"', True),
    ("\\u escape inside a property key", {"type": "object", "properties": {"a": {"type": "integer"}}}, '{"\\u0061": 1}', True),
    ("surrogate-pair escape is one code point (maxLength 1)", {"type": "string", "maxLength": 1}, '"\\ud83d\\ude00"', True),
    ("raw astral char is one code point (maxLength 1)", {"type": "string", "maxLength": 1}, '"\U0001F600"', True),
    ("lone high surrogate escape", {"type": "string"}, '"\\ud83d"', False),
    ("lone low surrogate escape", {"type": "string"}, '"\\ude00"', False),
    ("2.0 against const 2 (JSON Schema: equal)", {"const": 2}, "2.0", None),
    ("1.0 against type integer (JSON Schema: valid; engine: lexical integer)", {"type": "integer"}, "1.0", False),
    ("-0 is an integer", {"type": "integer"}, "-0", True),
    ("leading zero", {"type": "integer"}, "01", False),
    ("unanchored pattern 'abc' on 'xabcx' (JSON Schema: search)", {"type": "string", "pattern": "abc"}, '"xabcx"', True),
    ("\\d on ARABIC-INDIC DIGIT THREE", {"type": "string", "pattern": "^\\d$"}, '"\u0663"', None),
    ("\\w on e-acute", {"type": "string", "pattern": "^\\w$"}, '"\u00e9"', None),
    ("\\s on NO-BREAK SPACE U+00A0", {"type": "string", "pattern": "^\\s$"}, '"\u00a0"', None),
    ("\\s on EM SPACE U+2003", {"type": "string", "pattern": "^\\s$"}, '"\u2003"', None),
    ("'.' on escaped newline", {"type": "string", "pattern": "^.$"}, '"\\n"', False),
    ("'.' on escaped carriage return", {"type": "string", "pattern": "^.$"}, '"\\r"', True),
    ("duplicate keys in an any-value object", {}, '{"a": 1, "a": 2}', True),
    ("{} accepts a bare string", {}, '"x"', True),
    ("type object without properties is closed: only {}", {"type": "object"}, '{"a": 1}', False),
    ("type object without properties is closed: {} ok", {"type": "object"}, "{}", True),
    ("whitespace before the value", {"type": "integer"}, " 1", False),
    ("newline after the value", {"type": "integer"}, "1\n", False),
]

GBNF_PROBES = [
    # (what, grammar, text, CFG verdict with llama.cpp semantics)
    ("'.' matches a newline in llama.cpp", 'root ::= "a" . "b"', "a\nb", True),
    ("lexer greediness: a terminal rule followed by a literal it could also match",
     'root ::= word "ing"\nword ::= [a-z]+', "going", True),
    ("lexer greediness: optional suffix sharing a first byte with the next terminal",
     'root ::= "x" a b\na ::= "1" " ASC"?\nb ::= " LIMIT"', "x1 LIMIT", True),
    ("\\u escape with leading zeros (converter strips them)", 'root ::= "\\u00e9"', "\u00e9", True),
    ("\\- escape inside a character class", 'root ::= [a\\-z]+', "a-z", True),
]


def departure_probes(checker):
    out = []
    for what, schema, text, expected in JSON_PROBES:
        try:
            m = checker.matcher(json_schema_grammar(close_objects(schema)))
            got = checker.accepts(m, text)
        except Exception as e:  # noqa: BLE001 - recorded, not fatal
            got = "error: %s" % str(e).splitlines()[0]
        out.append({"kind": "json_schema", "what": what, "schema": schema, "text": text,
                    "engine_policy": expected, "llguidance": got})
    for what, grammar, text, expected in GBNF_PROBES:
        try:
            m = checker.matcher(gbnf_grammar(grammar))
            got = checker.accepts(m, text)
        except Exception as e:  # noqa: BLE001
            got = "error: %s" % str(e).splitlines()[0]
        g = Gbnf(grammar)
        cfg = Earley(g.to_bnf()).accepts(text)
        assert cfg == expected, (what, cfg)
        out.append({"kind": "gbnf", "what": what, "grammar": grammar, "text": text,
                    "cfg_llamacpp": expected, "llguidance": got})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-fixture", type=int, default=220, help="target goldens per fixture")
    ap.add_argument("--fixtures", default=FIXTURES)
    ap.add_argument("--max-bytes", type=int, default=3_000_000)
    args = ap.parse_args()

    checker = LLG()
    sdir = os.path.join(args.fixtures, "schemas")
    gdir = os.path.join(args.fixtures, "gbnf")
    lines = []
    meta_fixtures = {}
    disagreements = {}
    jsonschema_mismatches = []
    slow_checks = 0

    def record(rel, kind, cases, llg_answer, oracle_answer, grammar):
        """oracle_answer(text) -> (verdict, category used when it disagrees with llguidance)."""
        nonlocal slow_checks
        kept = []
        dis = []
        for idx, (origin, text) in enumerate(cases):
            a = llg_answer(text)
            if idx % 16 == 0:  # cross-check the fast path against consume + EOS-bit
                assert checker.accepts_slow(grammar, text) == a, (rel, text)
                slow_checks += 1
            o, category = oracle_answer(text)
            if a == o:
                kept.append((origin, text, a))
            else:
                dis.append({"text": text, "origin": origin, "llguidance": a, "oracle": o, "category": category})
        kept = kept[: args.per_fixture]
        for origin, text, a in kept:
            lines.append({"grammar": rel, "kind": kind, "text": text, "accept": a})
        n_acc = sum(1 for _, _, a in kept if a)
        meta_fixtures[rel] = {"cases": len(kept), "accept": n_acc, "reject": len(kept) - n_acc,
                              "disagreements_excluded": len(dis)}
        if dis:
            cats = {}
            for d in dis:
                cats[d["category"]] = cats.get(d["category"], 0) + 1
            examples = []
            for c in sorted(cats):  # a couple of examples per category
                examples += [d for d in dis if d["category"] == c][:2]
            disagreements[rel] = {"count": len(dis), "by_category": cats, "examples": examples}
        if len(kept) < args.per_fixture:
            print("WARNING: %s has only %d cases" % (rel, len(kept)))
        print("%-44s %4d cases (%3d accept) %3d disagreements excluded" % (rel, len(kept), n_acc, len(dis)), flush=True)

    for fn in sorted(os.listdir(sdir)):
        if not fn.endswith(".json"):
            continue
        rel = "schemas/" + fn
        with open(os.path.join(sdir, fn), encoding="utf-8") as f:
            schema = json.load(f)
        rng = random.Random(seed_for(rel))
        closed, cases = schema_cases(schema, rng, args.per_fixture + 60)
        grammar = json_schema_grammar(closed)
        m = checker.matcher(grammar)
        validator = jsonschema.Draft202012Validator(closed)

        def llg_answer(text, m=m, validator=validator, rel=rel):
            a = checker.accepts(m, text)
            if a:
                ok = validator.is_valid(json.loads(text))
                if not ok:
                    jsonschema_mismatches.append({"grammar": rel, "text": text})
            return a

        def oracle(text, closed=closed):
            feats = set()
            ok = policy_accepts(text, closed, feats)
            return ok, ",".join(sorted(feats)) or "other"

        record(rel, "json_schema", cases, llg_answer, oracle, grammar)

    for fn in sorted(os.listdir(gdir)):
        if not fn.endswith(".gbnf"):
            continue
        rel = "gbnf/" + fn
        with open(os.path.join(gdir, fn), encoding="utf-8") as f:
            text = f.read()
        g = Gbnf(text)
        bnf = g.to_bnf()
        earley = Earley(bnf)
        earley_nodotnl = Earley(bnf, dot_matches_newline=False)
        rng = random.Random(seed_for(rel))
        cases = gbnf_cases(g, rng, args.per_fixture + 60)
        grammar = gbnf_grammar(text)
        m = checker.matcher(grammar)
        def cfg_oracle(text, earley=earley, alt=earley_nodotnl):
            ok = earley.accepts(text)
            if "\n" in text and alt.accepts(text) != ok:
                return ok, "dot_matches_newline"
            return ok, "lexer_semantics_or_other"

        record(rel, "gbnf", cases, lambda t, m=m: checker.accepts(m, t), cfg_oracle, grammar)

    out = os.path.join(args.fixtures, "goldens.jsonl")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for rec in lines:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    size = os.path.getsize(out)
    n_acc = sum(1 for r in lines if r["accept"])
    meta = {
        "format_version": 1,
        "generator": "scripts/golden/grammar_goldens.py",
        "reference": {
            "llguidance": llg.__version__,
            "llguidance_core": llg.get_version() if hasattr(llg, "get_version") else None,
            "jsonschema": importlib.metadata.version("jsonschema"),
            "python": platform.python_version(),
        },
        "json_schema_options": {
            "x-guidance": X_GUIDANCE,
            "closed_objects": "additionalProperties:false injected into every object schema lacking it",
        },
        "gbnf": "llguidance.gbnf_to_lark.gbnf_to_lark -> LLMatcher.grammar_from_lark",
        "acceptance": "byte-level tokenizer (256 byte tokens + EOS id 256); accepted iff "
        "validate_tokens(utf8 bytes + [EOS]) consumes everything",
        "oracles": {
            "json_schema": "strict policy parser + validator in this script; jsonschema Draft 2020-12 "
            "on every llguidance-accepted string",
            "gbnf": "Earley recognizer over code points, llama.cpp semantics ('.' = any code point)",
        },
        "totals": {"lines": len(lines), "accept": n_acc, "reject": len(lines) - n_acc, "bytes": size},
        "slow_path_cross_checks": slow_checks,
        "known_departures": departure_probes(checker),
        "jsonschema_mismatches": jsonschema_mismatches,
        "fixtures": meta_fixtures,
        "disagreements": disagreements,
    }
    with open(os.path.join(args.fixtures, "goldens_meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d lines (%d accept / %d reject), %d bytes" % (len(lines), n_acc, len(lines) - n_acc, size))
    print("jsonschema mismatches: %d" % len(jsonschema_mismatches))
    if size > args.max_bytes:
        print("ERROR: goldens.jsonl exceeds %d bytes" % args.max_bytes)
        return 1
    if jsonschema_mismatches:
        print("ERROR: jsonschema rejects %d llguidance-accepted strings (see goldens_meta.json)" % len(jsonschema_mismatches))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
