import Foundation
import KnowLMCore

/// How JSON Schema compiles to text.
///
/// Whitespace policy: compact with one space after separators, and none elsewhere —
/// `{"name": "Ada", "tags": ["a", "b"]}`, `{}`, `[]`. Objects are closed: a missing
/// `additionalProperties` means `false`. Properties come in the order `properties` lists
/// them; required ones always, optional ones may be left out.
public struct JSONSchemaOptions: Sendable {
    public var itemSeparator = ", "
    public var keySeparator = ": "
    /// The text that `"x-copy-from-input": true` strings must be spans of (extraction: a
    /// mention cannot be invented). Nil: such a schema is an error.
    public var input: String?
    /// Text the output starts with before the value (e.g. the space after a prompt's "Action:").
    public var prefix = ""
    public init(input: String? = nil, prefix: String = "") { self.input = input; self.prefix = prefix }
}

/// Compiles a JSON Schema (the draft 2020-12 subset that tool definitions and extraction
/// schemas use) into a grammar.
///
/// Supported: `type` (one or a list of object / array / string / number / integer / boolean /
/// null), `properties`, `required`, `additionalProperties: false`, `items`, `minItems`,
/// `maxItems`, `enum`, `const`, `anyOf`, `$ref` to `#`, `#/$defs/…` or `#/definitions/…`,
/// `$defs`, string `minLength` / `maxLength` / `pattern` (see `RegexParser`), and
/// `"x-copy-from-input": true` on strings. Annotations (`title`, `description`, `default`,
/// `examples`, `$schema`, `$id`, `$comment`, `deprecated`, `readOnly`, `writeOnly`) are
/// ignored. Any other keyword is an error that names it: nothing is silently accepted.
public enum JSONSchemaGrammar {
    public static func compile(_ schemaText: String, options: JSONSchemaOptions = JSONSchemaOptions()) throws -> CompiledGrammar {
        let schema: JSONValue
        do { schema = try JSONValue.parse(schemaText) } catch let e as JSONParseError {
            throw RuntimeError.grammar("JSON Schema is not valid JSON: \(e.description)")
        }
        return try compile(schema, options: options)
    }

    public static func compile(_ schema: JSONValue, options: JSONSchemaOptions = JSONSchemaOptions()) throws -> CompiledGrammar {
        var compiler = SchemaCompiler(root: schema, options: options)
        let root = compiler.builder.declare("root")
        let value = try compiler.symbols(for: schema, path: "#")
        compiler.builder.define(root, [options.prefix.isEmpty ? value : GrammarBuilder.literal(options.prefix) + value])
        try compiler.defineReferences()
        return try compiler.builder.compile(root: root)
    }

    static let annotations: Set<String> = ["title", "description", "default", "examples", "$schema", "$id",
                                            "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"]
    static let supported: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "minItems",
                                          "maxItems", "enum", "const", "anyOf", "$ref", "minLength", "maxLength",
                                          "pattern", "x-copy-from-input"]
}

struct SchemaCompiler {
    let root: JSONValue
    let options: JSONSchemaOptions
    var builder = GrammarBuilder()
    private var shared: [String: [GrammarSymbol]] = [:]
    private var references: [String: Int] = [:]
    private var pendingReferences: [(String, Int)] = []

    init(root: JSONValue, options: JSONSchemaOptions) {
        self.root = root
        self.options = options
    }

    func fail(_ path: String, _ message: String) -> RuntimeError {
        RuntimeError.grammar("JSON Schema at \(path): \(message)")
    }

    var item: [GrammarSymbol] { GrammarBuilder.literal(options.itemSeparator) }
    var key: [GrammarSymbol] { GrammarBuilder.literal(options.keySeparator) }

    // MARK: shared rules

    private mutating func sharedRule(_ name: String, _ make: (inout SchemaCompiler) -> [[GrammarSymbol]]) -> [GrammarSymbol] {
        if let s = shared[name] { return s }
        let r = builder.declare(name)
        shared[name] = [.rule(r)]
        builder.define(r, make(&self))
        return [.rule(r)]
    }

    /// One character inside a JSON string: anything but `"`, `\`, control characters and DEL
    /// raw, or an escape (`\"` `\\` `\b` `\f` `\n` `\r` `\t`, `\uXXXX` of a non-surrogate,
    /// or a `\uD8xx\uDCxx` surrogate pair). As llguidance: no `\/`, no lone surrogates.
    mutating func stringCharacter() -> [GrammarSymbol] {
        sharedRule("string_char") { c in
            let raw = c.builder.characterClass(SchemaCompiler.mustEscape, negated: true, name: "string_raw")
            let hex = c.builder.characterClass([0x30...0x39, 0x41...0x46, 0x61...0x66], negated: false, name: "hex")
            let simple = c.builder.characterClass([0x22...0x22, 0x5C...0x5C, 0x62...0x62, 0x66...0x66,
                                                   0x6E...0x6E, 0x72...0x72, 0x74...0x74], negated: false, name: "escape_char")
            let notD = c.builder.characterClass([0x30...0x39, 0x41...0x43, 0x45...0x46, 0x61...0x63, 0x65...0x66], negated: false, name: "hex_not_d")
            let d = c.builder.characterClass([0x44...0x44, 0x64...0x64], negated: false, name: "hex_d")
            let low07 = c.builder.characterClass([0x30...0x37], negated: false, name: "hex_0_7")
            let high89ab = c.builder.characterClass([0x38...0x39, 0x41...0x42, 0x61...0x62], negated: false, name: "hex_8_b")
            let lowCF = c.builder.characterClass([0x43...0x46, 0x63...0x66], negated: false, name: "hex_c_f")
            let u = GrammarBuilder.literal("\\u")
            return [raw, GrammarBuilder.literal("\\") + simple,
                    u + notD + hex + hex + hex,
                    u + d + low07 + hex + hex,
                    u + d + high89ab + hex + hex + u + d + lowCF + hex + hex]
        }
    }

    /// Characters JSON strings must escape (as llguidance also escapes DEL).
    static let mustEscape: [ClosedRange<UInt32>] = [0x00...0x1F, 0x22...0x22, 0x5C...0x5C, 0x7F...0x7F]

    /// The escaped spellings of a character that may not appear raw: `\"`, `\n`, or `\u00XX`
    /// with hexadecimal digits of either case.
    mutating func escapedForms(_ c: UInt32) -> [GrammarSymbol] {
        let short = JSONValue.escape(Unicode.Scalar(c)!)
        if !short.hasPrefix("\\u") { return GrammarBuilder.literal(short) }
        var out = GrammarBuilder.literal("\\u")
        for digit in String(format: "%04x", c) {
            let lower = UInt32(digit.unicodeScalars.first!.value)
            if digit.isLetter {
                let upper = lower - 0x20
                out += [.bytes({ var b = ByteSet(); b.insert(UInt8(lower)); b.insert(UInt8(upper)); return b }())]
            } else { out += [.bytes(ByteSet(byte: UInt8(lower)))] }
        }
        return out
    }

    mutating func string() -> [GrammarSymbol] {
        sharedRule("string") { c in
            let chars = c.builder.star(c.stringCharacter(), name: "string_chars")
            return [GrammarBuilder.literal("\"") + chars + GrammarBuilder.literal("\"")]
        }
    }

    mutating func integer() -> [GrammarSymbol] {
        sharedRule("integer") { c in
            let digit = c.builder.characterClass([0x30...0x39], negated: false, name: "digit")
            let nonzero = c.builder.characterClass([0x31...0x39], negated: false, name: "digit19")
            let minus = c.builder.optional(GrammarBuilder.literal("-"), name: "minus")
            let magnitude = c.builder.choice([GrammarBuilder.literal("0"), nonzero + c.builder.star(digit, name: "digits")], name: "int_magnitude")
            return [minus + magnitude]
        }
    }

    mutating func number() -> [GrammarSymbol] {
        sharedRule("number") { c in
            let digit = c.builder.characterClass([0x30...0x39], negated: false, name: "digit")
            let fraction = c.builder.optional(GrammarBuilder.literal(".") + c.builder.plus(digit, name: "fraction_digits"), name: "fraction")
            let sign = c.builder.characterClass([0x2B...0x2B, 0x2D...0x2D], negated: false, name: "exp_sign")
            let e = c.builder.characterClass([0x45...0x45, 0x65...0x65], negated: false, name: "e")
            let exponent = c.builder.optional(e + c.builder.optional(sign, name: "opt_sign") + c.builder.plus(digit, name: "exp_digits"), name: "exponent")
            return [c.integer() + fraction + exponent]
        }
    }

    /// Any JSON value (the schema `{}` or `true`).
    mutating func anyValue() -> [GrammarSymbol] {
        if let s = shared["value"] { return s }
        let value = builder.declare("value")
        shared["value"] = [.rule(value)]
        let member = string() + key + [.rule(value)]
        let members = member + builder.star(item + member, name: "members")
        let object = GrammarBuilder.literal("{") + builder.optional(members, name: "opt_members") + GrammarBuilder.literal("}")
        let elements = [GrammarSymbol.rule(value)] + builder.star(item + [.rule(value)], name: "elements")
        let array = GrammarBuilder.literal("[") + builder.optional(elements, name: "opt_elements") + GrammarBuilder.literal("]")
        builder.define(value, [object, array, string(), number(),
                               GrammarBuilder.literal("true"), GrammarBuilder.literal("false"), GrammarBuilder.literal("null")])
        return [.rule(value)]
    }

    // MARK: schemas

    mutating func symbols(for schema: JSONValue, path: String) throws -> [GrammarSymbol] {
        switch schema {
        case .bool(true): return anyValue()
        case .bool(false): throw fail(path, "the schema `false` allows no value")
        case .object(let members):
            let unknown = members.map(\.key).filter { !JSONSchemaGrammar.supported.contains($0) && !JSONSchemaGrammar.annotations.contains($0) }
            if !unknown.isEmpty {
                throw fail(path, "unsupported keyword\(unknown.count > 1 ? "s" : "") \(unknown.joined(separator: ", ")) (supported: \(JSONSchemaGrammar.supported.sorted().joined(separator: " ")))")
            }
            return try objectSchema(schema, path: path)
        default:
            throw fail(path, "a schema must be an object or a boolean")
        }
    }

    private mutating func objectSchema(_ s: JSONValue, path: String) throws -> [GrammarSymbol] {
        if let ref = s["$ref"] {
            guard let target = ref.stringValue else { throw fail(path, "$ref must be a string") }
            let others = (s.objectValue ?? []).map(\.key).filter { !JSONSchemaGrammar.annotations.contains($0) && $0 != "$ref" }
            if !others.isEmpty { throw fail(path, "keywords beside $ref are not supported (\(others.joined(separator: ", ")))") }
            return [.rule(try reference(target, path: path))]
        }
        if let c = s["const"] { return GrammarBuilder.literal(serialize(c)) }
        if let e = s["enum"] {
            guard let values = e.arrayValue else { throw fail(path, "enum must be an array") }
            guard !values.isEmpty else { throw fail(path, "enum is empty: no value can satisfy it") }
            return builder.choice(values.map { GrammarBuilder.literal(serialize($0)) }, name: "enum")
        }
        if let any = s["anyOf"] {
            guard let options = any.arrayValue else { throw fail(path, "anyOf must be an array") }
            guard !options.isEmpty else { throw fail(path, "anyOf is empty: no value can satisfy it") }
            let others = (s.objectValue ?? []).map(\.key).filter { !JSONSchemaGrammar.annotations.contains($0) && $0 != "anyOf" }
            if !others.isEmpty { throw fail(path, "keywords beside anyOf are not supported (\(others.joined(separator: ", "))); move them into each option") }
            var alternatives: [[GrammarSymbol]] = []
            for (i, option) in options.enumerated() { alternatives.append(try symbols(for: option, path: "\(path)/anyOf/\(i)")) }
            return builder.choice(alternatives, name: "anyOf")
        }
        var types: [String]
        switch s["type"] {
        case .string(let t)?: types = [t]
        case .array(let list)?:
            types = try list.map { guard let t = $0.stringValue else { throw fail(path, "type list entries must be strings") }; return t }
            guard !types.isEmpty else { throw fail(path, "type is an empty list: no value can satisfy it") }
        case nil:
            if s["properties"] != nil || s["required"] != nil || s["additionalProperties"] != nil { types = ["object"] }
            else if s["items"] != nil || s["minItems"] != nil || s["maxItems"] != nil { types = ["array"] }
            else if s["minLength"] != nil || s["maxLength"] != nil || s["pattern"] != nil || s["x-copy-from-input"] != nil { types = ["string"] }
            else { return anyValue() }
        default: throw fail(path, "type must be a string or a list of strings")
        }
        var alternatives: [[GrammarSymbol]] = []
        for t in types {
            switch t {
            case "string": alternatives.append(try stringSchema(s, path: path))
            case "integer": alternatives.append(integer())
            case "number": alternatives.append(number())
            case "boolean": alternatives.append(builder.choice([GrammarBuilder.literal("true"), GrammarBuilder.literal("false")], name: "boolean"))
            case "null": alternatives.append(GrammarBuilder.literal("null"))
            case "object": alternatives.append(try objectType(s, path: path))
            case "array": alternatives.append(try arrayType(s, path: path))
            default: throw fail(path, "unknown type '\(t)' (object, array, string, number, integer, boolean, null)")
            }
        }
        return builder.choice(alternatives, name: "types")
    }

    private func serialize(_ v: JSONValue) -> String {
        v.serialized(itemSeparator: options.itemSeparator, keySeparator: options.keySeparator)
    }

    private func count(_ s: JSONValue, _ keyword: String, path: String) throws -> Int? {
        guard let v = s[keyword] else { return nil }
        guard let n = v.intValue, n >= 0 else { throw fail(path, "\(keyword) must be a non-negative integer") }
        return n
    }

    private mutating func stringSchema(_ s: JSONValue, path: String) throws -> [GrammarSymbol] {
        let minLength = try count(s, "minLength", path: path) ?? 0
        let maxLength = try count(s, "maxLength", path: path)
        if let maxLength, maxLength < minLength { throw fail(path, "maxLength \(maxLength) is below minLength \(minLength): no string can satisfy it") }
        if let maxLength, maxLength > 10_000 { throw fail(path, "maxLength above 10000 is not supported") }
        if minLength > 10_000 { throw fail(path, "minLength above 10000 is not supported") }
        let quote = GrammarBuilder.literal("\"")
        if s["x-copy-from-input"]?.boolValue == true {
            guard s["pattern"] == nil, s["maxLength"] == nil, s["minLength"] == nil else {
                throw fail(path, "x-copy-from-input cannot be combined with pattern, minLength or maxLength")
            }
            guard let input = options.input else { throw fail(path, "x-copy-from-input needs an input text to copy from") }
            return quote + (try spanRule(of: input, path: path)) + quote
        }
        if let p = s["pattern"] {
            guard let pattern = p.stringValue else { throw fail(path, "pattern must be a string") }
            guard s["maxLength"] == nil, s["minLength"] == nil else {
                throw fail(path, "pattern together with minLength/maxLength is not supported; put the length into the pattern")
            }
            var parser = RegexParser(pattern)
            let node = try parser.parse()
            var body = try regexSymbols(node)
            let any = jsonCharacters(for: [], negated: true)
            if !parser.anchoredStart { body = builder.star(any, name: "pattern_any") + body }
            if !parser.anchoredEnd { body += builder.star(any, name: "pattern_any") }
            return quote + body + quote
        }
        if minLength == 0 && maxLength == nil { return string() }
        return quote + builder.repeat(stringCharacter(), min: minLength, max: maxLength, name: "string_len") + quote
    }

    private mutating func objectType(_ s: JSONValue, path: String) throws -> [GrammarSymbol] {
        if let extra = s["additionalProperties"], extra != .bool(false) {
            throw fail(path, "additionalProperties other than false is not supported (objects are closed)")
        }
        var properties: [(key: String, value: JSONValue)] = []
        if let p = s["properties"] {
            guard let members = p.objectValue else { throw fail(path, "properties must be an object") }
            properties = members
        }
        var required = Set<String>()
        if let r = s["required"] {
            guard let list = r.arrayValue else { throw fail(path, "required must be an array") }
            for name in list {
                guard let n = name.stringValue else { throw fail(path, "required entries must be strings") }
                guard properties.contains(where: { $0.key == n }) else {
                    throw fail(path, "required property '\(n)' is not in properties, and objects are closed: no object can satisfy it")
                }
                required.insert(n)
            }
        }
        // first[i]: members from i on, none written yet; rest[i]: the same after one was written.
        let n = properties.count
        var members: [[GrammarSymbol]] = []
        for (i, p) in properties.enumerated() {
            members.append(GrammarBuilder.literal(JSONValue.quote(p.key)) + key + (try symbols(for: p.value, path: "\(path)/properties/\(p.key)")))
            _ = i
        }
        var first = [[GrammarSymbol]](repeating: [], count: n + 1)
        var rest = [[GrammarSymbol]](repeating: [], count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            let isRequired = required.contains(properties[i].key)
            let restWith = item + members[i] + rest[i + 1]
            rest[i] = isRequired ? restWith : builder.choice([restWith, rest[i + 1]], name: "members_rest")
            let firstWith = members[i] + rest[i + 1]
            first[i] = isRequired ? firstWith : builder.choice([firstWith, first[i + 1]], name: "members_first")
        }
        return GrammarBuilder.literal("{") + first[0] + GrammarBuilder.literal("}")
    }

    private mutating func arrayType(_ s: JSONValue, path: String) throws -> [GrammarSymbol] {
        let minItems = try count(s, "minItems", path: path) ?? 0
        let maxItems = try count(s, "maxItems", path: path)
        if let maxItems, maxItems < minItems { throw fail(path, "maxItems \(maxItems) is below minItems \(minItems): no array can satisfy it") }
        if minItems > 10_000 || (maxItems ?? 0) > 10_000 { throw fail(path, "minItems/maxItems above 10000 are not supported") }
        let element: [GrammarSymbol]
        if let items = s["items"] {
            let e = try symbols(for: items, path: "\(path)/items")
            element = e.count == 1 ? e : [.rule(builder.rule("item", [e]))]
        } else { element = anyValue() }
        let open = GrammarBuilder.literal("["), close = GrammarBuilder.literal("]")
        if maxItems == 0 { return open + close }
        let more = builder.repeat(item + element, min: max(0, minItems - 1), max: maxItems.map { $0 - 1 }, name: "items")
        let nonEmpty = element + more
        return minItems == 0 ? open + builder.optional(nonEmpty, name: "opt_items") + close : open + nonEmpty + close
    }

    // MARK: $ref

    private mutating func reference(_ target: String, path: String) throws -> Int {
        if let r = references[target] { return r }
        let r = builder.declare("ref:\(target)")
        references[target] = r
        pendingReferences.append((target, r))
        return r
    }

    mutating func defineReferences() throws {
        while let (target, rule) = pendingReferences.popLast() {
            let schema = try resolve(target)
            builder.define(rule, [try symbols(for: schema, path: target)])
        }
    }

    private func resolve(_ target: String) throws -> JSONValue {
        guard target.hasPrefix("#") else { throw fail(target, "only local references (#/$defs/…) are supported") }
        var node = root
        let pointer = target.dropFirst()
        if pointer.isEmpty { return root }
        guard pointer.hasPrefix("/") else { throw fail(target, "malformed JSON pointer") }
        for raw in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let part = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node[part] else { throw fail(target, "$ref points to nothing") }
            node = next
        }
        return node
    }

    // MARK: pattern

    /// Characters of a regex class as they appear inside a JSON string: raw where JSON allows
    /// them raw, escaped (`\"`, `\\`, `\n`, `\u001f`) where it requires.
    private mutating func jsonCharacters(for ranges: [ClosedRange<UInt32>], negated: Bool) -> [GrammarSymbol] {
        let set = negated ? UnicodeRanges.complement(ranges) : UnicodeRanges.normalize(ranges)
        let mustEscape = SchemaCompiler.mustEscape
        var alternatives: [[GrammarSymbol]] = []
        var raw: [ClosedRange<UInt32>] = []
        for r in set {
            var lo = r.lowerBound
            for e in mustEscape where e.upperBound >= lo && e.lowerBound <= r.upperBound {
                if e.lowerBound > lo { raw.append(lo...(e.lowerBound - 1)) }
                for c in max(lo, e.lowerBound)...min(r.upperBound, e.upperBound) {
                    alternatives.append(escapedForms(c))
                }
                lo = e.upperBound + 1
            }
            if lo <= r.upperBound { raw.append(lo...r.upperBound) }
        }
        if !raw.isEmpty { alternatives.insert(builder.characterClass(raw, negated: false, name: "pattern_class"), at: 0) }
        if alternatives.isEmpty { return [.bytes(ByteSet())] }  // matches nothing
        return builder.choice(alternatives, name: "pattern_char")
    }

    private mutating func regexSymbols(_ node: RegexNode) throws -> [GrammarSymbol] {
        switch node {
        case .characters(let ranges, let negated): return jsonCharacters(for: ranges, negated: negated)
        case .sequence(let items):
            var out: [GrammarSymbol] = []
            for item in items { out += try regexSymbols(item) }
            return out
        case .alternation(let branches):
            return builder.choice(try branches.map { try regexSymbols($0) }, name: "pattern_alt")
        case .repeated(let inner, let lo, let hi):
            if lo > 10_000 || (hi ?? 0) > 10_000 { throw RuntimeError.grammar("pattern repetition counts above 10000 are not supported") }
            if let hi, hi < lo { throw RuntimeError.grammar("pattern repetition {\(lo),\(hi)}: the maximum is below the minimum") }
            return builder.repeat(try regexSymbols(inner), min: lo, max: hi, name: "pattern_rep")
        }
    }

    // MARK: spans of the input

    /// Strings that are non-empty spans of `input`, JSON-escaped: the input's suffix automaton
    /// as right-recursive rules (each state: stop here, or one more character).
    private mutating func spanRule(of input: String, path: String) throws -> [GrammarSymbol] {
        let key = "span"
        if let s = shared[key] { return s }
        let scalars = Array(input.unicodeScalars)
        guard !scalars.isEmpty else { throw fail(path, "x-copy-from-input: the input text is empty, so no span exists") }
        let automaton = SuffixAutomaton(scalars.map(\.value))
        var rules: [Int] = []
        for q in 0..<automaton.stateCount { rules.append(builder.declare("span_\(q)")) }
        for q in 0..<automaton.stateCount {
            var alternatives: [[GrammarSymbol]] = q == 0 ? [] : [[]]
            for (c, target) in automaton.transitions[q].sorted(by: { $0.key < $1.key }) {
                alternatives.append(escapedForms(c) + [.rule(rules[target])])
            }
            builder.define(rules[q], alternatives)
        }
        shared[key] = [.rule(rules[0])]
        return [.rule(rules[0])]
    }
}

/// The smallest automaton accepting every substring of a text (Blumer et al.): at most 2n
/// states and 3n transitions for n characters.
struct SuffixAutomaton {
    var transitions: [[UInt32: Int]] = [[:]]
    private var link: [Int] = [-1]
    private var length: [Int] = [0]

    var stateCount: Int { transitions.count }

    init(_ text: [UInt32]) {
        var last = 0
        for c in text {
            let current = transitions.count
            transitions.append([:]); link.append(0); length.append(length[last] + 1)
            var p = last
            while p != -1 && transitions[p][c] == nil { transitions[p][c] = current; p = link[p] }
            if p != -1 {
                let q = transitions[p][c]!
                if length[p] + 1 == length[q] { link[current] = q } else {
                    let clone = transitions.count
                    transitions.append(transitions[q]); link.append(link[q]); length.append(length[p] + 1)
                    while p != -1 && transitions[p][c] == q { transitions[p][c] = clone; p = link[p] }
                    link[q] = clone
                    link[current] = clone
                }
            }
            last = current
        }
    }
}
