import Foundation

/// A node of the graph: an IRI, a literal (with datatype or language) or a blank node.
public enum RDFTerm: Hashable, Sendable, CustomStringConvertible {
    case iri(String)
    case literal(String, datatype: String? = nil, language: String? = nil)
    case blank(String)

    public static let xsd = "http://www.w3.org/2001/XMLSchema#"
    public static let rdfType = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
    public static let rdfsLabel = "http://www.w3.org/2000/01/rdf-schema#label"
    public static let skosAltLabel = "http://www.w3.org/2004/02/skos/core#altLabel"
    public static let skosPrefLabel = "http://www.w3.org/2004/02/skos/core#prefLabel"
    /// Namespace for entities and relations minted from plain `head relation tail` files.
    public static let mintedEntity = "urn:knowlm:entity:"
    public static let mintedRelation = "urn:knowlm:relation:"

    /// Storage kind in the `terms` table.
    var kind: Int {
        switch self {
        case .iri: return 0
        case .literal: return 1
        case .blank: return 2
        }
    }

    public var value: String {
        switch self {
        case .iri(let v), .blank(let v): return v
        case .literal(let v, _, _): return v
        }
    }

    public var isLiteral: Bool { if case .literal = self { return true } else { return false } }

    /// Numeric value of numeric literals (for FILTER comparisons and ORDER BY).
    public var numericValue: Double? {
        guard case .literal(let v, let datatype, _) = self, let datatype, datatype.hasPrefix(Self.xsd) else { return nil }
        switch datatype.dropFirst(Self.xsd.count) {
        case "integer", "int", "long", "short", "decimal", "double", "float", "nonNegativeInteger", "positiveInteger":
            return Double(v)
        default: return nil
        }
    }

    /// N-Triples syntax.
    public var description: String {
        switch self {
        case .iri(let v): return "<\(v)>"
        case .blank(let v): return "_:\(v)"
        case .literal(let v, let datatype, let language):
            let quoted = "\"\(Self.escape(v))\""
            if let language, !language.isEmpty { return "\(quoted)@\(language)" }
            if let datatype, !datatype.isEmpty, datatype != Self.xsd + "string" { return "\(quoted)^^<\(datatype)>" }
            return quoted
        }
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A short human-readable form (local name of an IRI, the text of a literal).
    public var shortForm: String {
        switch self {
        case .literal(let v, _, _): return v
        case .blank(let v): return "_:\(v)"
        case .iri(let v):
            if v.hasPrefix(Self.mintedEntity) || v.hasPrefix(Self.mintedRelation) {
                let local = v.hasPrefix(Self.mintedEntity) ? v.dropFirst(Self.mintedEntity.count) : v.dropFirst(Self.mintedRelation.count)
                return String(local).removingPercentEncoding ?? String(local)
            }
            if let i = v.lastIndex(where: { $0 == "/" || $0 == "#" }) { return String(v[v.index(after: i)...]) }
            return v
        }
    }

    /// An entity IRI minted from a plain name (TSV/CSV/JSONL heads and tails).
    public static func mintedEntity(_ name: String) -> RDFTerm {
        .iri(mintedEntity + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? name))
    }

    public static func mintedRelation(_ name: String) -> RDFTerm {
        .iri(mintedRelation + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? name))
    }
}

/// A statement of the graph.
public struct Triple: Hashable, Sendable, CustomStringConvertible {
    public var subject: RDFTerm
    public var predicate: RDFTerm
    public var object: RDFTerm
    public init(_ subject: RDFTerm, _ predicate: RDFTerm, _ object: RDFTerm) {
        self.subject = subject; self.predicate = predicate; self.object = object
    }
    /// N-Triples line (without the newline).
    public var description: String { "\(subject) \(predicate) \(object) ." }
}
