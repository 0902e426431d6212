import KnowLMCore

/// The regular-expression subset of JSON Schema's `pattern` that the grammar engine supports:
/// literals, escapes (`\d \D \w \W \s \S \n \t \uXXXX`, escaped punctuation), classes `[...]`
/// with ranges and negation, `.`, groups `(...)` / `(?:...)`, alternation, and the
/// quantifiers `* + ? {m} {m,} {m,n}`; `^` and `$` only at the ends. `\d` is ASCII `[0-9]`,
/// `\w` `[A-Za-z0-9_]`, `\s` Unicode white space (as llguidance reads them).
indirect enum RegexNode {
    case characters([ClosedRange<UInt32>], negated: Bool)
    case sequence([RegexNode])
    case alternation([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?)
}

struct RegexParser {
    let scalars: [Unicode.Scalar]
    let source: String
    var i = 0
    var anchoredStart = false
    var anchoredEnd = false

    init(_ pattern: String) {
        source = pattern
        scalars = Array(pattern.unicodeScalars)
    }

    func error(_ message: String) -> RuntimeError {
        RuntimeError.grammar("pattern \(JSONValue.quote(source)) at character \(i + 1): \(message)")
    }

    static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    /// Unicode White_Space, as Rust's regex (llguidance) reads `\s`.
    static let space: [ClosedRange<UInt32>] = [0x09...0x0D, 0x20...0x20, 0x85...0x85, 0xA0...0xA0, 0x1680...0x1680,
                                                0x2000...0x200A, 0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000]

    mutating func parse() throws -> RegexNode {
        if i < scalars.count, scalars[i] == "^" { anchoredStart = true; i += 1 }
        var end = scalars.count
        if end > i, scalars[end - 1] == "$", end < 2 || scalars[end - 2] != "\\" { anchoredEnd = true; end -= 1 }
        let node = try alternation(until: end)
        guard i == end else { throw error("unexpected ')'") }
        return node
    }

    mutating func alternation(until end: Int) throws -> RegexNode {
        var branches: [RegexNode] = [try sequence(until: end)]
        while i < end, scalars[i] == "|" {
            i += 1
            branches.append(try sequence(until: end))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func sequence(until end: Int) throws -> RegexNode {
        var items: [RegexNode] = []
        while i < end, scalars[i] != "|", scalars[i] != ")" {
            var atom = try self.atom(until: end)
            while i < end, let q = quantifier(until: end) {
                atom = .repeated(atom, min: q.0, max: q.1)
                if i < end, scalars[i] == "?" || scalars[i] == "+" {
                    throw error("lazy and possessive quantifiers are not supported")
                }
            }
            items.append(atom)
        }
        return .sequence(items)
    }

    mutating func quantifier(until end: Int) -> (Int, Int?)? {
        switch scalars[i] {
        case "*": i += 1; return (0, nil)
        case "+": i += 1; return (1, nil)
        case "?": i += 1; return (0, 1)
        case "{":
            var j = i + 1
            func number() -> Int? {
                var s = ""
                while j < end, scalars[j].properties.numericType != nil, scalars[j].isASCII { s.unicodeScalars.append(scalars[j]); j += 1 }
                return s.isEmpty ? nil : Int(s)
            }
            guard let lo = number() else { return nil }
            var hi: Int? = lo
            if j < end, scalars[j] == "," { j += 1; hi = number() }
            guard j < end, scalars[j] == "}" else { return nil }
            i = j + 1
            return (lo, hi)
        default: return nil
        }
    }

    mutating func atom(until end: Int) throws -> RegexNode {
        let c = scalars[i]
        switch c {
        case "(":
            i += 1
            if i + 1 < end, scalars[i] == "?" {
                guard scalars[i + 1] == ":" else { throw error("only (?:...) groups are supported") }
                i += 2
            }
            let inner = try alternation(until: end)
            guard i < end, scalars[i] == ")" else { throw error("missing ')'") }
            i += 1
            return inner
        case "[":
            return try characterClass(until: end)
        case ".":
            i += 1
            return .characters([0x0A...0x0A], negated: true)
        case "\\":
            i += 1
            guard i < end else { throw error("trailing backslash") }
            return try escape(inClass: false)
        case "^", "$":
            throw error("'\(c)' is only supported at the start / end of the pattern")
        case "*", "+", "?", "{":
            if c == "{" { i += 1; return .characters([0x7B...0x7B], negated: false) }
            throw error("quantifier '\(c)' has nothing to repeat")
        default:
            i += 1
            return .characters([c.value...c.value], negated: false)
        }
    }

    mutating func escape(inClass: Bool) throws -> RegexNode {
        let e = scalars[i]
        i += 1
        switch e {
        case "d": return .characters(Self.digit, negated: false)
        case "D": return .characters(Self.digit, negated: true)
        case "w": return .characters(Self.word, negated: false)
        case "W": return .characters(Self.word, negated: true)
        case "s": return .characters(Self.space, negated: false)
        case "S": return .characters(Self.space, negated: true)
        case "n": return .characters([0x0A...0x0A], negated: false)
        case "t": return .characters([0x09...0x09], negated: false)
        case "r": return .characters([0x0D...0x0D], negated: false)
        case "f": return .characters([0x0C...0x0C], negated: false)
        case "v": return .characters([0x0B...0x0B], negated: false)
        case "u":
            guard i + 4 <= scalars.count, let v = UInt32(String(String.UnicodeScalarView(scalars[i..<(i + 4)])), radix: 16) else {
                throw error("\\u needs 4 hexadecimal digits")
            }
            i += 4
            return .characters([v...v], negated: false)
        case "b", "B":
            throw error("word boundaries are not supported")
        default:
            if e.properties.isAlphabetic || e.properties.numericType != nil {
                throw error("escape \\\(e) is not supported")
            }
            return .characters([e.value...e.value], negated: false)
        }
    }

    mutating func characterClass(until end: Int) throws -> RegexNode {
        i += 1
        var negated = false
        if i < end, scalars[i] == "^" { negated = true; i += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard i < end else { throw error("unterminated character class") }
            if scalars[i] == "]" && !first { i += 1; break }
            first = false
            var lo: UInt32
            if scalars[i] == "\\" {
                i += 1
                guard i < end else { throw error("trailing backslash") }
                guard case .characters(let r, let neg) = try escape(inClass: true) else { throw error("bad escape") }
                if neg || r.count != 1 || r[0].count != 1 {
                    if neg { throw error("negated shorthand classes inside [...] are not supported") }
                    ranges += r
                    continue
                }
                lo = r[0].lowerBound
            } else {
                lo = scalars[i].value
                i += 1
            }
            if i + 1 < end, scalars[i] == "-", scalars[i + 1] != "]" {
                i += 1
                var hi: UInt32
                if scalars[i] == "\\" {
                    i += 1
                    guard case .characters(let r, false) = try escape(inClass: true), r.count == 1, r[0].count == 1 else {
                        throw error("bad range end")
                    }
                    hi = r[0].lowerBound
                } else { hi = scalars[i].value; i += 1 }
                guard lo <= hi else { throw error("character range is reversed") }
                ranges.append(lo...hi)
            } else {
                ranges.append(lo...lo)
            }
        }
        return .characters(ranges, negated: negated)
    }
}
