import Foundation
import GRDB

/// A triple pattern: nil positions match anything.
public struct TriplePattern: Sendable, Equatable {
    public var subject: RDFTerm?
    public var predicate: RDFTerm?
    public var object: RDFTerm?
    public init(subject: RDFTerm? = nil, predicate: RDFTerm? = nil, object: RDFTerm? = nil) {
        self.subject = subject; self.predicate = predicate; self.object = object
    }
}

/// A term found by entity linking, with the name that matched.
public struct LinkedEntity: Sendable, Equatable {
    public var term: RDFTerm
    public var label: String
    public var matchedName: String
    /// How it matched: exact label, alias, or full-text (fuzzy).
    public var match: Match
    public var score: Double
    public enum Match: String, Sendable { case exact, alias, fuzzy }
}

extension KnowledgeBase {
    // MARK: patterns

    /// Triples matching `pattern`, in (s, p, o) id order.
    public func triples(matching pattern: TriplePattern, limit: Int = 100, offset: Int = 0) throws -> [Triple] {
        try pool.read { db in
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible?] = []
            for (column, term) in [("s", pattern.subject), ("p", pattern.predicate), ("o", pattern.object)] {
                guard let term else { continue }
                guard let id = try TripleWriter.existingID(of: term, in: db) else { return [] }
                conditions.append("\(column) = ?")
                arguments.append(id)
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try Row.fetchAll(db, sql: "SELECT s, p, o FROM triples \(whereClause) LIMIT ? OFFSET ?",
                                        arguments: StatementArguments(arguments + [limit, offset]))
            return try rows.map { try resolve(db, s: $0[0], p: $0[1], o: $0[2]) }
        }
    }

    /// Number of triples matching `pattern`.
    public func count(matching pattern: TriplePattern) throws -> Int {
        try pool.read { db in
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible?] = []
            for (column, term) in [("s", pattern.subject), ("p", pattern.predicate), ("o", pattern.object)] {
                guard let term else { continue }
                guard let id = try TripleWriter.existingID(of: term, in: db) else { return 0 }
                conditions.append("\(column) = ?")
                arguments.append(id)
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM triples \(whereClause)", arguments: StatementArguments(arguments)) ?? 0
        }
    }

    // MARK: neighbourhoods and paths

    /// Edges within `hops` of `entity` (both directions), breadth first, optionally only
    /// through the given predicates. Label triples are left out (they are names, not edges).
    public func neighbors(of entity: RDFTerm, hops: Int = 1, predicates: Set<RDFTerm>? = nil,
                          limit: Int = 200) throws -> [Triple] {
        guard (1...3).contains(hops) else { throw KnowledgeBaseError.invalidArgument("hops must be 1, 2 or 3, got \(hops)") }
        return try pool.read { db in
            guard let start = try TripleWriter.existingID(of: entity, in: db) else { return [] }
            let allowed = try predicates.map { try Set($0.compactMap { try TripleWriter.existingID(of: $0, in: db) }) }
            let skip = try labelPredicateIDs(db)
            // rdf:type edges are reported but not followed: a class node links every instance.
            let noExpand = Set(try [RDFTerm.rdfType].compactMap { try TripleWriter.existingID(of: .iri($0), in: db) })
            var frontier: [Int64] = [start]
            var visited: Set<Int64> = [start]
            var edges: [(Int64, Int64, Int64)] = []
            var seenEdges = Set<[Int64]>()
            let outgoing = try db.cachedStatement(sql: "SELECT p, o FROM triples WHERE s = ?")
            let incoming = try db.cachedStatement(sql: "SELECT s, p FROM triples WHERE o = ?")
            for _ in 0..<hops {
                var next: [Int64] = []
                for node in frontier {
                    for row in try Row.fetchAll(outgoing, arguments: [node]) {
                        let p: Int64 = row[0], o: Int64 = row[1]
                        if skip.contains(p) || (allowed != nil && !allowed!.contains(p)) { continue }
                        if seenEdges.insert([node, p, o]).inserted { edges.append((node, p, o)) }
                        if !noExpand.contains(p) && visited.insert(o).inserted { next.append(o) }
                        if edges.count >= limit { break }
                    }
                    for row in try Row.fetchAll(incoming, arguments: [node]) {
                        let s: Int64 = row[0], p: Int64 = row[1]
                        if skip.contains(p) || (allowed != nil && !allowed!.contains(p)) { continue }
                        if noExpand.contains(p) { continue }
                        if seenEdges.insert([s, p, node]).inserted { edges.append((s, p, node)) }
                        if visited.insert(s).inserted { next.append(s) }
                        if edges.count >= limit { break }
                    }
                    if edges.count >= limit { break }
                }
                frontier = next
                if edges.count >= limit || frontier.isEmpty { break }
            }
            return try edges.prefix(limit).map { try resolve(db, s: $0.0, p: $0.1, o: $0.2) }
        }
    }

    /// Paths of at most `maxHops` edges between two entities (edges followed in either
    /// direction), shortest first.
    public func paths(from source: RDFTerm, to target: RDFTerm, maxHops: Int = 3, limit: Int = 10) throws -> [[Triple]] {
        guard (1...3).contains(maxHops) else { throw KnowledgeBaseError.invalidArgument("hops must be 1, 2 or 3, got \(maxHops)") }
        return try pool.read { db in
            guard let a = try TripleWriter.existingID(of: source, in: db), let b = try TripleWriter.existingID(of: target, in: db) else { return [] }
            let skip = try labelPredicateIDs(db)
            let outgoing = try db.cachedStatement(sql: "SELECT p, o FROM triples WHERE s = ?")
            let incoming = try db.cachedStatement(sql: "SELECT s, p FROM triples WHERE o = ?")
            func edges(_ node: Int64) throws -> [(edge: (Int64, Int64, Int64), next: Int64)] {
                var out: [((Int64, Int64, Int64), Int64)] = []
                for row in try Row.fetchAll(outgoing, arguments: [node]) where !skip.contains(row[0]) {
                    out.append(((node, row[0], row[1]), row[1]))
                }
                for row in try Row.fetchAll(incoming, arguments: [node]) where !skip.contains(row[1]) {
                    out.append(((row[0], row[1], node), row[0]))
                }
                return out.map { (edge: $0.0, next: $0.1) }
            }
            var results: [[(Int64, Int64, Int64)]] = []
            // Iterative deepening keeps memory small and returns shortest paths first.
            for depth in 1...maxHops {
                func search(_ node: Int64, _ path: [(Int64, Int64, Int64)], _ visited: Set<Int64>) throws {
                    if results.count >= limit { return }
                    if path.count == depth {
                        if node == b { results.append(path) }
                        return
                    }
                    for (edge, next) in try edges(node) where !visited.contains(next) || (next == b && path.count + 1 == depth) {
                        try search(next, path + [edge], visited.union([next]))
                    }
                }
                try search(a, [], [a])
                if results.count >= limit { break }
            }
            return try results.map { try $0.map { try resolve(db, s: $0.0, p: $0.1, o: $0.2) } }
        }
    }

    // MARK: names

    /// The preferred label of a term (English first, then any), or its short form.
    public func label(of term: RDFTerm, preferring languages: [String] = ["en", ""]) throws -> String {
        try pool.read { db in try label(db, of: term, preferring: languages) }
    }

    func label(_ db: Database, of term: RDFTerm, preferring languages: [String] = ["en", ""]) throws -> String {
        guard let id = try TripleWriter.existingID(of: term, in: db) else { return term.shortForm }
        return try label(db, id: id, preferring: languages) ?? term.shortForm
    }

    func label(_ db: Database, id: Int64, preferring languages: [String]) throws -> String? {
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT label, lang, preferred FROM labels WHERE term = ? ORDER BY preferred DESC, id"), arguments: [id])
        for language in languages {
            if let row = rows.first(where: { ($0["lang"] as String) == language && ($0["preferred"] as Int) == 1 }) { return row["label"] }
        }
        return rows.first(where: { ($0["preferred"] as Int) == 1 })?["label"] ?? rows.first?["label"]
    }

    /// All names of a term (labels and aliases, every language).
    public func names(of term: RDFTerm) throws -> [String] {
        try pool.read { db in
            guard let id = try TripleWriter.existingID(of: term, in: db) else { return [] }
            return try String.fetchAll(db, sql: "SELECT label FROM labels WHERE term = ? ORDER BY preferred DESC, id", arguments: [id])
        }
    }

    /// Entities named `text`: exact label matches, then aliases, then full-text matches.
    public func linkEntities(_ text: String, limit: Int = 5) throws -> [LinkedEntity] {
        try pool.read { db in try linkEntities(db, text, limit: limit) }
    }

    func linkEntities(_ db: Database, _ text: String, limit: Int) throws -> [LinkedEntity] {
        do {
            var out: [LinkedEntity] = []
            var seen = Set<Int64>()
            let rows = try Row.fetchAll(db, sql: """
                SELECT term, label, preferred, (SELECT COUNT(*) FROM triples WHERE s = labels.term) AS degree
                FROM labels WHERE label = ? COLLATE NOCASE ORDER BY preferred DESC, degree DESC LIMIT 50
                """, arguments: [text])
            for row in rows {
                let id: Int64 = row["term"]
                guard seen.insert(id).inserted else { continue }
                let preferred: Int = row["preferred"]
                out.append(LinkedEntity(term: try term(db, id: id), label: try label(db, id: id, preferring: ["en", ""]) ?? row["label"],
                                        matchedName: row["label"], match: preferred == 1 ? .exact : .alias,
                                        score: (preferred == 1 ? 2 : 1.5) + log(1 + Double(row["degree"] as Int)) / 100))
            }
            if out.count < limit, let match = CJKText.matchExpression(text, textColumn: "label", cjkColumn: "cjk") {
                let fuzzy = try Row.fetchAll(db, sql: """
                    SELECT labels.term, labels.label, bm25(labels_fts) AS rank FROM labels_fts
                    JOIN labels ON labels.id = labels_fts.rowid
                    WHERE labels_fts MATCH ? ORDER BY rank LIMIT ?
                    """, arguments: [match, limit * 4])
                for row in fuzzy {
                    let id: Int64 = row[0]
                    guard seen.insert(id).inserted else { continue }
                    out.append(LinkedEntity(term: try term(db, id: id), label: try label(db, id: id, preferring: ["en", ""]) ?? row[1],
                                            matchedName: row[1], match: .fuzzy, score: 1 / (1 + max(0, row[2] as Double + 20) / 20)))
                }
            }
            return Array(out.sorted { $0.score > $1.score }.prefix(limit))
        }
    }

    // MARK: helpers

    func term(_ db: Database, id: Int64) throws -> RDFTerm {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT kind, value, datatype, lang FROM terms WHERE id = ?"), arguments: [id]) else {
            throw KnowledgeBaseError.notFound("term #\(id)")
        }
        return TripleWriter.term(kind: row[0], value: row[1], datatype: row[2], lang: row[3])
    }

    func resolve(_ db: Database, s: Int64, p: Int64, o: Int64) throws -> Triple {
        Triple(try term(db, id: s), try term(db, id: p), try term(db, id: o))
    }

    func labelPredicateIDs(_ db: Database) throws -> Set<Int64> {
        Set(try TripleWriter.labelPredicates.keys.compactMap { try TripleWriter.existingID(of: .iri($0), in: db) })
    }
}

extension KnowledgeBase {
    /// Streams every triple as N-Triples lines (with newline), in subject order.
    public func exportNTriples(_ write: (String) throws -> Void) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT s.kind, s.value, s.datatype, s.lang, p.kind, p.value, p.datatype, p.lang, o.kind, o.value, o.datatype, o.lang
                FROM triples JOIN terms s ON s.id = triples.s JOIN terms p ON p.id = triples.p JOIN terms o ON o.id = triples.o
                """)
            var buffer = ""
            while let r = try rows.next() {
                let t = Triple(TripleWriter.term(kind: r[0], value: r[1], datatype: r[2], lang: r[3]),
                               TripleWriter.term(kind: r[4], value: r[5], datatype: r[6], lang: r[7]),
                               TripleWriter.term(kind: r[8], value: r[9], datatype: r[10], lang: r[11]))
                buffer += t.description + "\n"
                if buffer.utf8.count > 1 << 16 { try write(buffer); buffer = "" }
            }
            if !buffer.isEmpty { try write(buffer) }
        }
    }
}
