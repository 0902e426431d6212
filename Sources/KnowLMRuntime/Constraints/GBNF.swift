/// Reads grammars in llama.cpp's GBNF format, so users can bring the grammars they already
/// have:
///
///     root   ::= answer ("," ws answer)*
///     answer ::= "yes" | "no" | [0-9]+ | ( "maybe" [ \t]? )
///     ws     ::= | " " | "\n" [ \t]{0,20}       # an empty alternative matches nothing
///
/// Literals `"..."` and classes `[a-z]`, `[^"\\]` with escapes `\n \r \t \\ \" \[ \] \xHH
/// \uHHHH \UHHHHHHHH`; `.` is any character; groups; `* + ? {m} {m,} {m,n}`; `#` comments.
/// A rule may span several lines: it ends where the next `name ::=` begins. The start rule
/// is `root`. Characters are Unicode scalars, matched as UTF-8.
public enum GBNF {
    /// Parses and checks a grammar (undefined rules, left recursion, a root that matches no
    /// finite string: each a clear error with the line).
    public static func compile(_ text: String) throws -> CompiledGrammar {
        var parser = Parser(text: text)
        let root = try parser.parse()
        return try parser.builder.compile(root: root)
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var i = 0
        var builder = GrammarBuilder()
        var ids: [String: Int] = [:]
        var defined: [String: Int] = [:]  // name -> where its definition starts

        init(text: String) { scalars = Array(text.unicodeScalars) }

        func line(at index: Int) -> Int { scalars[..<min(index, scalars.count)].filter { $0 == "\n" }.count + 1 }

        func error(_ message: String) -> RuntimeError {
            let lineStart = scalars[..<min(i, scalars.count)].lastIndex(of: "\n").map { $0 + 1 } ?? 0
            return RuntimeError.grammar("GBNF line \(line(at: i)), column \(i - lineStart + 1): \(message)")
        }

        var atEnd: Bool { i >= scalars.count }
        var current: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }

        static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_"
        }

        /// Skips spaces, tabs, newlines and comments; returns whether a newline was crossed.
        @discardableResult
        mutating func skipSpace() -> Bool {
            var newline = false
            while let c = current {
                if c == " " || c == "\t" || c == "\r" { i += 1 } else if c == "\n" { newline = true; i += 1 } else if c == "#" {
                    while let d = current, d != "\n" { _ = d; i += 1 }
                } else { break }
            }
            return newline
        }

        /// Whether a rule definition (`name ::=`) starts at the current position.
        func ruleStartsHere() -> Bool {
            var j = i
            while j < scalars.count, Self.isWordCharacter(scalars[j]) { j += 1 }
            guard j > i else { return false }
            while j < scalars.count, scalars[j] == " " || scalars[j] == "\t" { j += 1 }
            return j + 2 < scalars.count && scalars[j] == ":" && scalars[j + 1] == ":" && scalars[j + 2] == "="
        }

        mutating func ruleID(_ name: String) -> Int {
            if let id = ids[name] { return id }
            let id = builder.declare(name)
            ids[name] = id
            return id
        }

        mutating func parse() throws -> Int {
            skipSpace()
            if atEnd { throw error("the grammar is empty (it needs at least `root ::= ...`)") }
            while !atEnd {
                guard ruleStartsHere() else { throw error("expected a rule definition `name ::= ...`") }
                let start = i
                let name = readName()
                if let previous = defined[name] { throw error("rule '\(name)' is defined twice (first on line \(line(at: previous)))") }
                defined[name] = start
                skipSpace()
                i += 3  // ::=
                skipSpace()
                let id = ruleID(name)
                let alternatives = try parseAlternatives(nested: false, ruleName: name)
                builder.define(id, alternatives)
                skipSpace()
            }
            guard let root = ids["root"], defined["root"] != nil else {
                throw RuntimeError.grammar("GBNF: no `root` rule (the grammar starts at the rule named root)")
            }
            return root
        }

        mutating func readName() -> String {
            var name = ""
            while let c = current, Self.isWordCharacter(c) { name.unicodeScalars.append(c); i += 1 }
            return name
        }

        mutating func parseAlternatives(nested: Bool, ruleName: String) throws -> [[GrammarSymbol]] {
            var alternatives: [[GrammarSymbol]] = []
            var sequence: [GrammarSymbol] = []
            while true {
                skipSpace()
                guard let c = current else { break }
                if !nested && ruleStartsHere() { break }
                if c == "|" { alternatives.append(sequence); sequence = []; i += 1; continue }
                if c == ")" {
                    if nested { break }
                    throw error("unmatched ')'")
                }
                var item = try parsePrimary(ruleName: ruleName)
                // Postfix operators apply to the item just read.
                while let p = current, p == "*" || p == "+" || p == "?" || p == "{" {
                    i += 1
                    switch p {
                    case "*": item = builder.star(item, name: "\(ruleName)_star")
                    case "+": item = builder.plus(item, name: "\(ruleName)_plus")
                    case "?": item = builder.optional(item, name: "\(ruleName)_opt")
                    default:
                        let (lo, hi) = try parseBraces()
                        item = builder.repeat(item, min: lo, max: hi, name: "\(ruleName)_rep")
                    }
                }
                sequence += item
            }
            alternatives.append(sequence)
            return alternatives
        }

        mutating func parseBraces() throws -> (Int, Int?) {
            func number() -> Int? {
                var s = ""
                while let c = current, c >= "0" && c <= "9" { s.unicodeScalars.append(c); i += 1 }
                return s.isEmpty ? nil : Int(s)
            }
            skipSpace()
            guard let lo = number() else { throw error("expected a number after '{'") }
            skipSpace()
            var hi: Int? = lo
            if current == "," {
                i += 1
                skipSpace()
                hi = number()
                skipSpace()
            }
            guard current == "}" else { throw error("expected '}' to close the repetition") }
            i += 1
            if let hi, hi < lo { throw error("repetition {\(lo),\(hi)}: the maximum is below the minimum") }
            if lo > 10_000 || (hi ?? 0) > 10_000 { throw error("repetition counts above 10000 are not supported") }
            return (lo, hi)
        }

        mutating func parsePrimary(ruleName: String) throws -> [GrammarSymbol] {
            guard let c = current else { throw error("unexpected end of grammar") }
            switch c {
            case "\"":
                i += 1
                var bytes: [UInt8] = []
                while true {
                    guard let d = current else { throw error("unterminated string literal") }
                    if d == "\"" { i += 1; break }
                    if d == "\n" { throw error("newline inside a string literal (write \\n)") }
                    let scalar = try readCharacter()
                    bytes += UTF8Ranges.encode(scalar.value)
                }
                return GrammarBuilder.literal(bytes)
            case "[":
                i += 1
                var negated = false
                if current == "^" { negated = true; i += 1 }
                var ranges: [ClosedRange<UInt32>] = []
                while true {
                    guard let d = current else { throw error("unterminated character class") }
                    if d == "]" { i += 1; break }
                    let lo = try readCharacter().value
                    if current == "-", i + 1 < scalars.count, scalars[i + 1] != "]" {
                        i += 1
                        let hi = try readCharacter().value
                        guard lo <= hi else { throw error("character range is reversed") }
                        ranges.append(lo...hi)
                    } else { ranges.append(lo...lo) }
                }
                return builder.characterClass(ranges, negated: negated, name: "\(ruleName)_class")
            case ".":
                i += 1
                return builder.characterClass([], negated: true, name: "any_char")
            case "(":
                i += 1
                let alternatives = try parseAlternatives(nested: true, ruleName: ruleName)
                guard current == ")" else { throw error("expected ')'") }
                i += 1
                return builder.choice(alternatives, name: "\(ruleName)_group")
            default:
                if Self.isWordCharacter(c) {
                    return [.rule(ruleID(readName()))]
                }
                throw error("unexpected character '\(c.escaped(asASCII: true))'")
            }
        }

        /// One character of a literal or class, with escapes.
        mutating func readCharacter() throws -> Unicode.Scalar {
            guard let c = current else { throw error("unexpected end of grammar") }
            i += 1
            guard c == "\\" else { return c }
            guard let e = current else { throw error("unterminated escape") }
            i += 1
            func hex(_ count: Int) throws -> Unicode.Scalar {
                var v: UInt32 = 0
                for _ in 0..<count {
                    guard let h = current, h.isASCII, let d = Int(String(h), radix: 16) else {
                        throw error("expected \(count) hexadecimal digits")
                    }
                    v = v * 16 + UInt32(d)
                    i += 1
                }
                guard let s = Unicode.Scalar(v) else { throw error("\\u escape \(v) is not a Unicode scalar") }
                return s
            }
            switch e {
            case "n": return "\n"
            case "r": return "\r"
            case "t": return "\t"
            case "0": return "\0"
            case "x": return try hex(2)
            case "u": return try hex(4)
            case "U": return try hex(8)
            default: return e  // \\ \" \[ \] \- \^ and any other escaped character stand for themselves
            }
        }
    }
}
