/// A set of bytes (256 bits): the terminal symbol of byte-level grammars.
public struct ByteSet: Hashable, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}
    public init(_ lo: UInt8, _ hi: UInt8) { insert(lo, hi) }
    public init(byte: UInt8) { insert(byte, byte) }

    public mutating func insert(_ lo: UInt8, _ hi: UInt8) {
        guard lo <= hi else { return }
        for b in Int(lo)...Int(hi) { insert(UInt8(b)) }
    }
    public mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }
    @inline(__always) public func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }
    public var isEmpty: Bool { words.0 | words.1 | words.2 | words.3 == 0 }
    public mutating func formUnion(_ o: ByteSet) {
        words.0 |= o.words.0; words.1 |= o.words.1; words.2 |= o.words.2; words.3 |= o.words.3
    }
    public static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }
    public func hash(into h: inout Hasher) {
        h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3)
    }
}

/// One symbol of a grammar rule's alternative: a byte from a set, or another rule.
public enum GrammarSymbol: Hashable, Sendable {
    case bytes(ByteSet)
    case rule(Int)
}

/// Builds a byte-level context-free grammar: the common target of the GBNF parser, the JSON
/// Schema compiler and the regular-expression compiler. Helpers turn character classes,
/// repetitions and alternations into rules.
public struct GrammarBuilder {
    /// Rule names (for error messages) and bodies: alternatives of symbol sequences.
    public private(set) var names: [String] = []
    var bodies: [[[GrammarSymbol]]?] = []
    private var literalCache: [String: Int] = [:]

    public init() {}

    /// A new, not yet defined rule.
    public mutating func declare(_ name: String) -> Int {
        names.append(name)
        bodies.append(nil)
        return names.count - 1
    }

    public mutating func define(_ rule: Int, _ alternatives: [[GrammarSymbol]]) {
        bodies[rule] = alternatives
    }

    /// A new rule with the given alternatives.
    public mutating func rule(_ name: String, _ alternatives: [[GrammarSymbol]]) -> Int {
        let r = declare(name)
        define(r, alternatives)
        return r
    }

    public func isDefined(_ rule: Int) -> Bool { bodies[rule] != nil }

    /// The bytes of `text` (UTF-8), one symbol each.
    public static func literal(_ text: String) -> [GrammarSymbol] { literal(Array(text.utf8)) }
    public static func literal(_ bytes: [UInt8]) -> [GrammarSymbol] { bytes.map { .bytes(ByteSet(byte: $0)) } }

    /// One character from a set of Unicode scalar ranges (inclusive), as UTF-8.
    public mutating func characterClass(_ ranges: [ClosedRange<UInt32>], negated: Bool, name: String = "class") -> [GrammarSymbol] {
        let set = negated ? UnicodeRanges.complement(ranges) : UnicodeRanges.normalize(ranges)
        var single = ByteSet()
        var multi: [[GrammarSymbol]] = []
        for range in set {
            for sequence in UTF8Ranges.sequences(range.lowerBound, range.upperBound) {
                if sequence.count == 1 { single.insert(sequence[0].0, sequence[0].1) } else {
                    multi.append(sequence.map { .bytes(ByteSet($0.0, $0.1)) })
                }
            }
        }
        if multi.isEmpty { return [.bytes(single)] }  // may be empty: matches nothing
        var alternatives = multi
        if !single.isEmpty { alternatives.insert([.bytes(single)], at: 0) }
        return [.rule(rule(name, alternatives))]
    }

    /// `body*`: a right-recursive rule (constant stack depth in the matcher).
    public mutating func star(_ body: [GrammarSymbol], name: String = "star") -> [GrammarSymbol] {
        let r = declare(name)
        define(r, [body + [.rule(r)], []])
        return [.rule(r)]
    }

    /// `body+`.
    public mutating func plus(_ body: [GrammarSymbol], name: String = "plus") -> [GrammarSymbol] {
        body + star(body, name: name)
    }

    /// `body?`.
    public mutating func optional(_ body: [GrammarSymbol], name: String = "opt") -> [GrammarSymbol] {
        [.rule(rule(name, [body, []]))]
    }

    /// `body{min,max}` (`max` nil: unbounded).
    public mutating func `repeat`(_ body: [GrammarSymbol], min: Int, max: Int?, name: String = "rep") -> [GrammarSymbol] {
        var out: [GrammarSymbol] = []
        for _ in 0..<min { out += body }
        guard let max else { return out + star(body, name: name) }
        guard max > min else { return out }
        // Nested optionals, (body (body (body)?)?)?, so each count has one parse.
        var tail: [GrammarSymbol] = []
        for _ in 0..<(max - min) {
            tail = [.rule(rule(name, [body + tail, []]))]
        }
        return out + tail
    }

    /// One of several sequences.
    public mutating func choice(_ alternatives: [[GrammarSymbol]], name: String = "alt") -> [GrammarSymbol] {
        if alternatives.count == 1 { return alternatives[0] }
        return [.rule(rule(name, alternatives))]
    }

    /// Checks and flattens the grammar for matching from `root`: every referenced rule must be
    /// defined, no rule may be left-recursive, and the root must derive at least one finite
    /// string. Alternatives that can never finish are dropped.
    public func compile(root: Int) throws -> CompiledGrammar {
        for (i, body) in bodies.enumerated() where body == nil {
            throw RuntimeError.grammar("rule '\(names[i])' is used but never defined")
        }
        let rules = bodies.map { $0! }
        // Productive rules: derive some finite byte string.
        var productive = [Bool](repeating: false, count: rules.count)
        func symbolProductive(_ s: GrammarSymbol) -> Bool {
            switch s {
            case .bytes(let set): return !set.isEmpty
            case .rule(let r): return productive[r]
            }
        }
        var changed = true
        while changed {
            changed = false
            for (r, alternatives) in rules.enumerated() where !productive[r] {
                if alternatives.contains(where: { $0.allSatisfy(symbolProductive) }) { productive[r] = true; changed = true }
            }
        }
        guard productive[root] else {
            throw RuntimeError.grammar("no finite string matches the grammar: rule '\(names[root])' never terminates (every alternative recurses forever or needs an empty character class)")
        }
        let pruned = rules.map { $0.filter { $0.allSatisfy(symbolProductive) } }
        // Reachable rules only, renumbered from the root.
        var order: [Int] = [root]
        var index: [Int: Int] = [root: 0]
        var i = 0
        while i < order.count {
            for alternative in pruned[order[i]] {
                for case .rule(let r) in alternative where index[r] == nil {
                    index[r] = order.count
                    order.append(r)
                }
            }
            i += 1
        }
        // Nullable rules, then left recursion: a rule reachable from itself through positions
        // that only nullable symbols precede.
        var nullable = [Bool](repeating: false, count: rules.count)
        changed = true
        while changed {
            changed = false
            for r in order where !nullable[r] {
                if pruned[r].contains(where: { $0.allSatisfy { if case .rule(let s) = $0 { return nullable[s] } else { return false } } }) {
                    nullable[r] = true; changed = true
                }
            }
        }
        var leftEdges: [Int: [Int]] = [:]
        for r in order {
            for alternative in pruned[r] {
                for symbol in alternative {
                    guard case .rule(let s) = symbol else { break }
                    leftEdges[r, default: []].append(s)
                    if !nullable[s] { break }
                }
            }
        }
        var color: [Int: Int] = [:]  // 1 visiting, 2 done
        func visit(_ r: Int, _ path: [Int]) throws {
            color[r] = 1
            for s in leftEdges[r] ?? [] {
                if color[s] == 1 {
                    let cycle = (path + [r]).drop { $0 != s }.map { names[$0] } + [names[s]]
                    throw RuntimeError.grammar("left recursion: rule '\(names[s])' can start with itself (\(cycle.joined(separator: " -> "))); rewrite it right-recursively, e.g. x ::= y x | y")
                }
                if color[s] == nil { try visit(s, path + [r]) }
            }
            color[r] = 2
        }
        for r in order where color[r] == nil { try visit(r, []) }

        // Flatten: symbols of every alternative back to back, each alternative ended by END.
        var byteSets: [ByteSet] = []
        var setIndex: [ByteSet: Int32] = [:]
        var symbols: [Int32] = []
        var starts: [[Int32]] = Array(repeating: [], count: order.count)
        for (newIndex, r) in order.enumerated() {
            for alternative in pruned[r] {
                starts[newIndex].append(Int32(symbols.count))
                for symbol in alternative {
                    switch symbol {
                    case .bytes(let set):
                        if let k = setIndex[set] { symbols.append(k) } else {
                            let k = Int32(byteSets.count)
                            byteSets.append(set); setIndex[set] = k; symbols.append(k)
                        }
                    case .rule(let s):
                        symbols.append(-Int32(index[s]!) - 1)
                    }
                }
                symbols.append(CompiledGrammar.end)
            }
        }
        return CompiledGrammar(symbols: symbols, ruleStarts: starts, byteSets: byteSets,
                               ruleNames: order.map { names[$0] })
    }
}

/// A checked grammar in the flat form the matcher walks: `symbols` holds every alternative
/// back to back, ended by `end`; a symbol ≥ 0 is a byte set, one < 0 (other than `end`) is
/// the rule `-symbol - 1`. Rule 0 is the root.
public struct CompiledGrammar: Sendable {
    static let end = Int32.min
    let symbols: [Int32]
    let ruleStarts: [[Int32]]
    let byteSets: [ByteSet]
    public let ruleNames: [String]
    public var ruleCount: Int { ruleStarts.count }
}

/// Unicode scalar range arithmetic for character classes.
enum UnicodeRanges {
    static let maxScalar: UInt32 = 0x10FFFF

    /// Sorted, merged, surrogates removed.
    static func normalize(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var parts: [ClosedRange<UInt32>] = []
        for r in ranges {
            let lo = r.lowerBound, hi = min(r.upperBound, maxScalar)
            guard lo <= hi else { continue }
            if lo <= 0xDFFF && hi >= 0xD800 {
                if lo < 0xD800 { parts.append(lo...0xD7FF) }
                if hi > 0xDFFF { parts.append(0xE000...hi) }
            } else { parts.append(lo...hi) }
        }
        parts.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for r in parts {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else { merged.append(r) }
        }
        return merged
    }

    /// Every scalar not in `ranges`.
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in normalize(ranges) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= maxScalar { out.append(next...maxScalar) }
        return normalize(out)
    }
}

/// Splits a range of Unicode scalars into sequences of byte ranges whose concatenations are
/// exactly the UTF-8 encodings of the range (the construction regex engines use for UTF-8
/// automata).
enum UTF8Ranges {
    static func sequences(_ lo: UInt32, _ hi: UInt32) -> [[(UInt8, UInt8)]] {
        var out: [[(UInt8, UInt8)]] = []
        split(lo, hi, &out)
        return out
    }

    private static func split(_ lo: UInt32, _ hi: UInt32, _ out: inout [[(UInt8, UInt8)]]) {
        guard lo <= hi else { return }
        if lo <= 0xDFFF && hi >= 0xD800 {
            if lo < 0xD800 { split(lo, 0xD7FF, &out) }
            if hi > 0xDFFF { split(0xE000, hi, &out) }
            return
        }
        for boundary: UInt32 in [0x7F, 0x7FF, 0xFFFF] where lo <= boundary && hi > boundary {
            split(lo, boundary, &out); split(boundary + 1, hi, &out); return
        }
        if hi <= 0x7F { out.append([(UInt8(lo), UInt8(hi))]); return }
        let length = hi <= 0x7FF ? 2 : hi <= 0xFFFF ? 3 : 4
        for i in 1..<length {
            let m: UInt32 = (1 << (6 * UInt32(i))) - 1
            if lo & ~m != hi & ~m {
                if lo & m != 0 { split(lo, lo | m, &out); split((lo | m) + 1, hi, &out); return }
                if hi & m != m { split(lo, (hi & ~m) - 1, &out); split(hi & ~m, hi, &out); return }
            }
        }
        let a = encode(lo), b = encode(hi)
        out.append(zip(a, b).map { ($0, $1) })
    }

    static func encode(_ c: UInt32) -> [UInt8] {
        if c < 0x80 { return [UInt8(c)] }
        if c < 0x800 { return [UInt8(0xC0 | (c >> 6)), UInt8(0x80 | (c & 0x3F))] }
        if c < 0x10000 { return [UInt8(0xE0 | (c >> 12)), UInt8(0x80 | ((c >> 6) & 0x3F)), UInt8(0x80 | (c & 0x3F))] }
        return [UInt8(0xF0 | (c >> 18)), UInt8(0x80 | ((c >> 12) & 0x3F)), UInt8(0x80 | ((c >> 6) & 0x3F)), UInt8(0x80 | (c & 0x3F))]
    }
}
