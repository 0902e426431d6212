import Foundation
import GRDB

extension KnowledgeBase {
    /// Runs a SPARQL SELECT query over the triple store.
    ///
    /// The subset: `PREFIX`; `SELECT [DISTINCT]` variables, `*` or `(COUNT(*|[DISTINCT] ?x) AS ?n)`;
    /// basic graph patterns (`;` and `,` lists, `a`, prefixed names, IRIs, literals with
    /// `@lang` or `^^datatype`, numbers, `true`/`false`, blank nodes as variables); `FILTER`
    /// with `= != < > <= >=`, `&& || !`, `regex`, `lang`, `str` and `bound`; `OPTIONAL { … }`
    /// (with its own FILTERs); `GROUP BY`; `ORDER BY [ASC|DESC](?v)`; `LIMIT`; `OFFSET`.
    /// Anything else throws ``KnowledgeBaseError/sparql(_:)`` naming the construct
    /// ("UNION is not supported (at line 3, column 5)"); syntax errors name the position.
    ///
    /// The whole query runs as one SQLite statement over term ids (see `SPARQLCompiler`);
    /// ids become terms only for the rows returned.
    public func sparql(_ query: String) throws -> SPARQLResult {
        let parsed = try SPARQLParser.parse(query)
        do {
            return try pool.read { db in try SPARQLExecution.run(parsed, in: db) }
        } catch let error as DatabaseError {
            // SQLite's own limits (64 tables in a join, ...) are the query's problem, not the store's.
            throw KnowledgeBaseError.sparql("SQLite could not run the query: \(error.message ?? "error \(error.resultCode)")")
        }
    }

    /// The SQL a query compiles to, followed by SQLite's plan for it.
    public func sparqlExplanation(_ query: String) throws -> String {
        let parsed = try SPARQLParser.parse(query)
        return try pool.read { db in
            let plan = try SPARQLCompiler.compile(parsed, in: db)
            return try SPARQLExecution.withRegexFunction(plan, in: db) {
                let steps = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + plan.sql, arguments: plan.arguments)
                let arguments = plan.namedArguments.sorted { $0.key < $1.key }.map { ":\($0.key) = \($0.value)" }
                return plan.sql + (arguments.isEmpty ? "" : "\n-- " + arguments.joined(separator: ", "))
                    + "\n\nplan:\n" + steps.map { "  " + ($0["detail"] as String? ?? "") }.joined(separator: "\n")
            }
        }
    }
}

enum SPARQLExecution {
    static func run(_ query: SPARQLQuery, in db: Database) throws -> SPARQLResult {
        let plan = try SPARQLCompiler.compile(query, in: db)
        let width = plan.columns.count
        // The SQL has one column even where the projection has none (SELECT * over constants).
        let sqlWidth = max(width, 1)
        var values: [Int64?] = []
        try withRegexFunction(plan, in: db) {
            let statement = try SPARQLConnectionState.shared.statement(plan.sql, in: db)
            let rows = try Row.fetchCursor(statement, arguments: plan.arguments)
            while let row = try rows.next() {
                for column in 0..<sqlWidth { values.append(row[column]) }
            }
        }
        if plan.distinctInSwift {
            var seen = Set<ArraySlice<Int64?>>()
            var kept: [Int64?] = []
            for start in stride(from: 0, to: values.count, by: sqlWidth) {
                let row = values[start..<(start + sqlWidth)]
                if seen.insert(row).inserted { kept += row }
            }
            let count = kept.count / sqlWidth
            let first = min(plan.offsetInSwift, count)
            let last = plan.limitInSwift.map { min(count, first + $0) } ?? count
            values = Array(kept[(first * sqlWidth)..<(last * sqlWidth)])
        }

        var needed = Set<Int64>()
        for (index, value) in values.enumerated() where index % sqlWidth < width && plan.columns[index % sqlWidth] == .term {
            if let value { needed.insert(value) }
        }
        let terms = try self.terms(needed, in: db)
        var rows: [[RDFTerm?]] = []
        rows.reserveCapacity(values.count / sqlWidth)
        for start in stride(from: 0, to: values.count, by: sqlWidth) {
            rows.append((0..<width).map { column -> RDFTerm? in
                guard let value = values[start + column] else { return nil }
                switch plan.columns[column] {
                case .term: return terms[value]
                case .count: return .literal(String(value), datatype: RDFTerm.xsd + "integer")
                }
            })
        }
        return SPARQLResult(variables: plan.variables, rows: rows)
    }

    /// Runs `body` with the query's regular expressions callable from SQL.
    static func withRegexFunction<T>(_ plan: SPARQLPlan, in db: Database, _ body: () throws -> T) throws -> T {
        try SPARQLConnectionState.shared.withRegex(plan.matchers, in: db, body)
    }

    /// Terms by id, in one statement.
    static func terms(_ ids: Set<Int64>, in db: Database) throws -> [Int64: RDFTerm] {
        guard !ids.isEmpty else { return [:] }
        let list = "[" + ids.map(String.init).joined(separator: ",") + "]"
        let statement = try db.cachedStatement(sql: "SELECT id, kind, value, datatype, lang FROM terms WHERE id IN (SELECT value FROM json_each(?))")
        var out: [Int64: RDFTerm] = [:]
        out.reserveCapacity(ids.count)
        let rows = try Row.fetchCursor(statement, arguments: [list])
        while let row = try rows.next() {
            out[row[0]] = TripleWriter.term(kind: row[1], value: row[2], datatype: row[3], lang: row[4])
        }
        return out
    }
}
