import Foundation

/// A line-at-a-time N-Triples / N-Quads parser (the graph term of a quad is ignored).
struct NTriplesParser {
    struct Failure: Error { let reason: String }

    private var bytes: [UInt8] = []
    private var i = 0

    /// Parses one line; nil for blank and comment lines.
    mutating func parse(_ line: ArraySlice<UInt8>) throws -> Triple? {
        bytes = Array(line)
        i = 0
        skipSpace()
        if i >= bytes.count || bytes[i] == UInt8(ascii: "#") { return nil }
        let subject = try term(allowLiteral: false, what: "subject")
        skipSpace()
        let predicate = try term(allowLiteral: false, what: "predicate")
        guard case .iri = predicate else { throw Failure(reason: "the predicate must be an IRI") }
        skipSpace()
        let object = try term(allowLiteral: true, what: "object")
        skipSpace()
        if i < bytes.count && bytes[i] != UInt8(ascii: ".") {
            _ = try term(allowLiteral: false, what: "graph")  // N-Quads: ignore the graph name
            skipSpace()
        }
        guard i < bytes.count && bytes[i] == UInt8(ascii: ".") else { throw Failure(reason: "expected '.' at the end of the statement") }
        i += 1
        skipSpace()
        guard i >= bytes.count || bytes[i] == UInt8(ascii: "#") else { throw Failure(reason: "unexpected text after '.'") }
        return Triple(subject, predicate, object)
    }

    private mutating func skipSpace() {
        while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D) { i += 1 }
    }

    private mutating func term(allowLiteral: Bool, what: String) throws -> RDFTerm {
        guard i < bytes.count else { throw Failure(reason: "missing \(what)") }
        switch bytes[i] {
        case UInt8(ascii: "<"):
            return .iri(try iri())
        case UInt8(ascii: "_"):
            guard i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: ":") else { throw Failure(reason: "bad blank node in \(what)") }
            i += 2
            let start = i
            while i < bytes.count && bytes[i] != 0x20 && bytes[i] != 0x09 && !(bytes[i] == UInt8(ascii: ".") && (i + 1 == bytes.count || bytes[i + 1] == 0x20 || bytes[i + 1] == 0x09)) { i += 1 }
            guard i > start else { throw Failure(reason: "empty blank node label in \(what)") }
            return .blank(String(decoding: bytes[start..<i], as: UTF8.self))
        case UInt8(ascii: "\""):
            guard allowLiteral else { throw Failure(reason: "a literal cannot be the \(what)") }
            let text = try quoted()
            if i < bytes.count && bytes[i] == UInt8(ascii: "@") {
                i += 1
                let start = i
                while i < bytes.count && (isAlnum(bytes[i]) || bytes[i] == UInt8(ascii: "-")) { i += 1 }
                guard i > start else { throw Failure(reason: "empty language tag") }
                return .literal(text, datatype: nil, language: String(decoding: bytes[start..<i], as: UTF8.self).lowercased())
            }
            if i + 1 < bytes.count && bytes[i] == UInt8(ascii: "^") && bytes[i + 1] == UInt8(ascii: "^") {
                i += 2
                guard i < bytes.count && bytes[i] == UInt8(ascii: "<") else { throw Failure(reason: "datatype must be an IRI") }
                let datatype = try iri()
                return .literal(text, datatype: datatype == RDFTerm.xsd + "string" ? nil : datatype, language: nil)
            }
            return .literal(text, datatype: nil, language: nil)
        default:
            throw Failure(reason: "unexpected '\(Character(Unicode.Scalar(bytes[i])))' where the \(what) should start")
        }
    }

    private func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    private mutating func iri() throws -> String {
        i += 1
        let start = i
        var needsUnescape = false
        while i < bytes.count && bytes[i] != UInt8(ascii: ">") {
            if bytes[i] == UInt8(ascii: "\\") { needsUnescape = true }
            if bytes[i] == 0x20 || bytes[i] == UInt8(ascii: "<") || bytes[i] == UInt8(ascii: "\"") {
                throw Failure(reason: "invalid character in IRI")
            }
            i += 1
        }
        guard i < bytes.count else { throw Failure(reason: "unterminated IRI") }
        let raw = bytes[start..<i]
        i += 1
        guard !raw.isEmpty else { throw Failure(reason: "empty IRI") }
        return needsUnescape ? try unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    private mutating func quoted() throws -> String {
        i += 1
        let start = i
        var needsUnescape = false
        while i < bytes.count && bytes[i] != UInt8(ascii: "\"") {
            if bytes[i] == UInt8(ascii: "\\") { needsUnescape = true; i += 1 }
            i += 1
        }
        guard i < bytes.count else { throw Failure(reason: "unterminated string literal") }
        let raw = bytes[start..<i]
        i += 1
        return needsUnescape ? try unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    private func unescape(_ raw: ArraySlice<UInt8>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var j = raw.startIndex
        while j < raw.endIndex {
            let b = raw[j]
            guard b == UInt8(ascii: "\\") else { out.append(b); j += 1; continue }
            j += 1
            guard j < raw.endIndex else { throw Failure(reason: "dangling backslash") }
            let e = raw[j]
            j += 1
            switch e {
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"): out.append(e)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let n = e == UInt8(ascii: "u") ? 4 : 8
                guard raw.endIndex - j >= n, let v = UInt32(String(decoding: raw[j..<(j + n)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(v) else { throw Failure(reason: "bad \\u escape") }
                out += Array(String(Character(scalar)).utf8)
                j += n
            default: throw Failure(reason: "unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
