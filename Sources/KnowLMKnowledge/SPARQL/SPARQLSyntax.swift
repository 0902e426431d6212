/// The parsed form of a query in the supported SPARQL subset.
struct SPARQLQuery: Equatable {
    var distinct = false
    /// nil for `SELECT *`.
    var projection: [SPARQLProjection]?
    var pattern = SPARQLGroup()
    var groupBy: [String] = []
    var orderBy: [SPARQLOrderKey] = []
    var limit: Int?
    var offset = 0

    var hasAggregates: Bool {
        projection?.contains { if case .count = $0 { return true } else { return false } } ?? false
    }
}

enum SPARQLProjection: Equatable {
    case variable(String)
    /// `(COUNT([DISTINCT] *|?v) AS ?alias)`; `variable` nil for `*`.
    case count(variable: String?, distinct: Bool, alias: String)

    var name: String {
        switch self {
        case .variable(let name): return name
        case .count(_, _, let alias): return alias
        }
    }
}

struct SPARQLOrderKey: Equatable {
    var variable: String
    var descending: Bool
}

/// A group graph pattern: triple patterns, filters and OPTIONAL groups, in query order.
struct SPARQLGroup: Equatable {
    var elements: [SPARQLElement] = []

    var triples: [SPARQLTriplePattern] {
        elements.compactMap { if case .triple(let t) = $0 { return t } else { return nil } }
    }

    var filters: [SPARQLExpression] {
        elements.compactMap { if case .filter(let f) = $0 { return f } else { return nil } }
    }

    /// Every variable the group mentions in a triple pattern (its own and its OPTIONALs'),
    /// in order of first appearance.
    var patternVariables: [String] {
        var seen = Set<String>()
        var out: [String] = []
        for element in elements {
            switch element {
            case .triple(let t):
                for v in t.variables where seen.insert(v).inserted { out.append(v) }
            case .optional(let g):
                for v in g.patternVariables where seen.insert(v).inserted { out.append(v) }
            case .filter:
                break
            }
        }
        return out
    }
}

enum SPARQLElement: Equatable {
    case triple(SPARQLTriplePattern)
    case filter(SPARQLExpression)
    case optional(SPARQLGroup)
}

/// A position of a triple pattern. Blank nodes of the query are variables named `_:label`
/// (a name no `?variable` can have), never projected.
enum SPARQLPatternTerm: Hashable {
    case variable(String)
    case term(RDFTerm)
}

struct SPARQLTriplePattern: Equatable {
    var subject: SPARQLPatternTerm
    var predicate: SPARQLPatternTerm
    var object: SPARQLPatternTerm

    var positions: [(column: String, term: SPARQLPatternTerm)] {
        [("s", subject), ("p", predicate), ("o", object)]
    }

    var variables: [String] {
        positions.compactMap { if case .variable(let v) = $0.term { return v } else { return nil } }
    }
}

enum SPARQLComparison: String, Equatable {
    case equal = "=", notEqual = "!=", less = "<", greater = ">", lessOrEqual = "<=", greaterOrEqual = ">="

    /// The operator with its operands swapped (`a < b` is `b > a`).
    var swapped: SPARQLComparison {
        switch self {
        case .equal, .notEqual: return self
        case .less: return .greater
        case .greater: return .less
        case .lessOrEqual: return .greaterOrEqual
        case .greaterOrEqual: return .lessOrEqual
        }
    }

    var sql: String { self == .notEqual ? "<>" : rawValue }
}

indirect enum SPARQLExpression: Equatable {
    case variable(String)
    case term(RDFTerm)
    case not(SPARQLExpression)
    case and(SPARQLExpression, SPARQLExpression)
    case or(SPARQLExpression, SPARQLExpression)
    case compare(SPARQLComparison, SPARQLExpression, SPARQLExpression)
    case str(SPARQLExpression)
    case lang(SPARQLExpression)
    case bound(String)
    /// `regex(text, "pattern", "flags")`: pattern and flags are constants.
    case regex(SPARQLExpression, pattern: String, flags: String)

    /// Variables the expression reads.
    var variables: Set<String> {
        switch self {
        case .variable(let v), .bound(let v): return [v]
        case .term: return []
        case .not(let e), .str(let e), .lang(let e), .regex(let e, _, _): return e.variables
        case .and(let a, let b), .or(let a, let b), .compare(_, let a, let b): return a.variables.union(b.variables)
        }
    }

    /// The top-level `&&` operands (each can be applied on its own).
    var conjuncts: [SPARQLExpression] {
        if case .and(let a, let b) = self { return a.conjuncts + b.conjuncts }
        return [self]
    }
}
