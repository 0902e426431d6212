import GRDB

/// One SQLite statement that computes a query's solutions as term ids, and what to do with
/// its columns.
struct SPARQLPlan {
    enum Column { case term, count }

    var sql: String
    var namedArguments: [String: DatabaseValue]
    var arguments: StatementArguments { StatementArguments(namedArguments) }
    var variables: [String]
    var columns: [Column]
    /// DISTINCT, OFFSET and LIMIT that SQL could not apply (DISTINCT when ORDER BY reads a
    /// variable the projection drops: SPARQL orders before it projects).
    var distinctInSwift = false
    var offsetInSwift = 0
    var limitInSwift: Int?
    var matchers: [SPARQLRegexMatcher] = []
}

/// Compiles a parsed query to SQL over `triples(s, p, o)` and `terms`.
///
/// - Constant terms are looked up to ids once; every join compares ids. Constants (ids
///   included) are statement parameters, so the SQL depends only on the query's shape and
///   join order, and repeated queries reuse a prepared statement.
/// - Triple patterns are ordered by selectivity (capped counts of each pattern's constant
///   positions, then how many positions earlier patterns bind) and joined in that order with
///   `CROSS JOIN`, which SQLite never reorders; each pattern then reads the index whose
///   prefix its bound positions make (SPO, POS or OSP).
/// - FILTERs become WHERE terms, which SQLite checks at the earliest loop that binds their
///   variables. A variable whose term a filter or ORDER BY reads gets one `terms` lookup,
///   right after the pattern that binds it. SQL's NULL logic is SPARQL's error logic
///   (`NULL OR true` is true, `NULL AND false` is false), so an error is NULL throughout.
/// - OPTIONAL is a LEFT JOIN per pattern; a group of several patterns admits a partial match
///   only where `EXISTS` finds the rest (and its filter) for it, so the group matches as a whole.
/// - GROUP BY, COUNT, DISTINCT, ORDER BY, LIMIT and OFFSET are SQL's own.
struct SPARQLCompiler {
    /// Selectivity estimates count at most this many matches per pattern.
    static let estimateCap = 256
    static let xsdString = RDFTerm.xsd + "string"
    static let xsdBoolean = RDFTerm.xsd + "boolean"
    static let regexFunction = "knowlm_sparql_regex"

    private let db: Database
    private let query: SPARQLQuery

    /// Where a variable's id comes from: an SQL expression, whether it is bound in every
    /// solution so far, and the FROM item that binds it (top-level patterns only).
    private struct Binding {
        var expression: String
        var certain: Bool
        var item: Int?
    }

    /// A term computed in SQL, column by column (NULL where unbound or an error).
    struct TermSQL {
        var kind, value, datatype, lang, number: String
        /// The term's id, where it is a stored term or a constant (-1 when not stored).
        var id: String?
        var constant: RDFTerm?
        /// Where the columns are lookups in `terms` by this id (one subquery per column).
        var lookupID: String?
        /// A computed simple literal (`str`, `lang`): `value` is its text, NULL on error.
        var simpleLiteral = false

        static let unbound = TermSQL(kind: "NULL", value: "NULL", datatype: "NULL", lang: "NULL", number: "NULL", id: "NULL")

        /// An expression over the term's columns; for a looked-up term, one lookup for all.
        func over(_ body: (_ kind: String, _ value: String, _ datatype: String, _ lang: String, _ number: String) -> String) -> String {
            if let lookupID { return "(SELECT \(body("kind", "value", "datatype", "lang", "number")) FROM terms WHERE id = \(lookupID))" }
            return "(\(body(kind, value, datatype, lang, number)))"
        }

        static func simpleLiteral(_ value: String) -> TermSQL {
            TermSQL(kind: "(CASE WHEN \(value) IS NULL THEN NULL ELSE 1 END)", value: value, datatype: "''", lang: "''",
                    number: "NULL", id: nil, simpleLiteral: true)
        }
    }

    private var env: [String: Binding] = [:]
    private var items: [String] = []
    private var conditions: [String] = []
    private var termAliases: [String: String] = [:]
    private var termJoinsAfter: [Int: [String]] = [:]
    private var arguments: [String: DatabaseValue] = [:]
    private var aliasCount = 0
    private var ids: [RDFTerm: Int64?] = [:]
    private var estimates: [[Int64?]: Int] = [:]
    private var matchers: [SPARQLRegexMatcher] = []

    init(db: Database, query: SPARQLQuery) {
        self.db = db
        self.query = query
    }

    static func compile(_ query: SPARQLQuery, in db: Database) throws -> SPARQLPlan {
        var compiler = SPARQLCompiler(db: db, query: query)
        var lookups = try SPARQLConnectionState.shared.lookups(for: db)
        compiler.ids = lookups.ids
        compiler.estimates = lookups.estimates
        let plan = try compiler.plan()
        lookups.ids = compiler.ids
        lookups.estimates = compiler.estimates
        SPARQLConnectionState.shared.keep(lookups, for: db)
        return plan
    }

    // MARK: the query

    private mutating func plan() throws -> SPARQLPlan {
        let patternVariables = query.pattern.patternVariables
        let aggregated = query.hasAggregates || !query.groupBy.isEmpty
        let projection = try checkedProjection(patternVariables: patternVariables, aggregated: aggregated)

        try compileWhere()

        var selected: [String] = []
        var columns: [SPARQLPlan.Column] = []
        var aliasColumns: [String: String] = [:]
        for (index, item) in projection.enumerated() {
            switch item {
            case .variable(let v):
                selected.append("\(env[v]?.expression ?? "NULL") AS c\(index)")
                columns.append(.term)
            case .count(let variable, let distinct, let alias):
                let argument = variable.map { env[$0]?.expression ?? "NULL" } ?? "*"
                selected.append("COUNT(\(distinct ? "DISTINCT " : "")\(argument)) AS c\(index)")
                columns.append(.count)
                aliasColumns[alias] = "c\(index)"
            }
        }

        var orderTerms: [String] = []
        for key in query.orderBy {
            let direction = key.descending ? " DESC" : ""
            if let column = aliasColumns[key.variable] {
                orderTerms.append(column + direction)
                continue
            }
            if aggregated && !query.groupBy.contains(key.variable) {
                throw KnowledgeBaseError.sparql("ORDER BY ?\(key.variable): the variable is neither grouped nor a COUNT")
            }
            guard let binding = env[key.variable] else { continue }  // unbound everywhere: orders nothing
            let term: TermSQL
            if aggregated {
                // After grouping, lookups per group beat a join per solution.
                term = termSQL(key.variable, env: env, join: false)
            } else if binding.certain && binding.item != nil {
                term = termSQL(key.variable, env: env, join: true)
            } else {
                // Bound by an OPTIONAL: one row of `terms` (or none) after every join.
                let alias = newAlias("k")
                items.append("LEFT JOIN terms \(alias) ON \(alias).id = \(binding.expression)")
                term = TermSQL(kind: "\(alias).kind", value: "\(alias).value", datatype: "\(alias).datatype", lang: "\(alias).lang",
                               number: "\(alias).number", id: binding.expression)
            }
            orderTerms += [
                "(CASE \(term.kind) WHEN 2 THEN 0 WHEN 0 THEN 1 WHEN 1 THEN 2 END)", term.number, term.value, term.datatype, term.lang,
            ].map { $0 + direction }
        }

        // SELECT * over a pattern without variables: one column SQL needs, none SPARQL shows.
        if selected.isEmpty { selected.append("1 AS c0") }
        let projected = Set(projection.map(\.name))
        let sqlDistinct = query.distinct && query.orderBy.allSatisfy { projected.contains($0.variable) }
        var sql = "SELECT \(sqlDistinct ? "DISTINCT " : "")\(selected.joined(separator: ", "))"
        let from = assembleFrom()
        if !from.isEmpty { sql += "\nFROM " + from }
        if !conditions.isEmpty { sql += "\nWHERE " + conditions.joined(separator: "\n  AND ") }
        if aggregated {
            let groups = query.groupBy.compactMap { env[$0]?.expression }
            if !groups.isEmpty { sql += "\nGROUP BY " + groups.joined(separator: ", ") }
        }
        if !orderTerms.isEmpty { sql += "\nORDER BY " + orderTerms.joined(separator: ", ") }

        var plan = SPARQLPlan(sql: sql, namedArguments: arguments, variables: projection.map(\.name), columns: columns)
        if query.distinct && !sqlDistinct {
            plan.distinctInSwift = true
            plan.offsetInSwift = query.offset
            plan.limitInSwift = query.limit
        } else if query.limit != nil || query.offset > 0 {
            plan.sql += "\nLIMIT \(query.limit ?? -1)" + (query.offset > 0 ? " OFFSET \(query.offset)" : "")
        }
        plan.matchers = matchers
        return plan
    }

    private func checkedProjection(patternVariables: [String], aggregated: Bool) throws -> [SPARQLProjection] {
        let visible = patternVariables.filter { !$0.hasPrefix("_:") }
        guard let projection = query.projection else {
            if aggregated { throw KnowledgeBaseError.sparql("SELECT * cannot be used with GROUP BY; name the grouped variables") }
            return visible.map { .variable($0) }
        }
        var names = Set<String>()
        for item in projection {
            guard names.insert(item.name).inserted else {
                throw KnowledgeBaseError.sparql("?\(item.name) is projected twice")
            }
            switch item {
            case .variable(let v):
                if aggregated && !query.groupBy.contains(v) {
                    throw KnowledgeBaseError.sparql("?\(v) is neither grouped nor aggregated; add it to GROUP BY or count it")
                }
            case .count(_, _, let alias):
                if patternVariables.contains(alias) {
                    throw KnowledgeBaseError.sparql("COUNT(…) AS ?\(alias): ?\(alias) is already a variable of the pattern")
                }
            }
        }
        return projection
    }

    // MARK: WHERE

    private mutating func compileWhere() throws {
        let elements = query.pattern.elements
        // Every mandatory pattern can join before the OPTIONALs (and be ordered freely) unless
        // a pattern after an OPTIONAL shares a variable with it that nothing before binds: the
        // OPTIONAL may bind it, or its FILTER must see it unbound.
        var canHoist = true
        for (index, element) in elements.enumerated() {
            guard case .optional(let group) = element else { continue }
            let before = Set(elements[..<index].flatMap { element -> [String] in
                if case .triple(let t) = element { return t.variables } else { return [] }
            })
            let after = Set(elements[(index + 1)...].flatMap { element -> [String] in
                if case .triple(let t) = element { return t.variables } else { return [] }
            })
            let mentioned = Set(group.patternVariables).union(group.filters.flatMap(\.variables))
            if !mentioned.subtracting(before).isDisjoint(with: after) { canHoist = false }
        }
        if canHoist {
            for triple in try ordered(query.pattern.triples, bound: []) { try addMandatory(triple) }
            for element in elements { if case .optional(let group) = element { try addOptional(group) } }
        } else {
            var segment: [SPARQLTriplePattern] = []
            for element in elements {
                switch element {
                case .triple(let t):
                    segment.append(t)
                case .optional(let group):
                    for triple in try ordered(segment, bound: Set(env.keys)) { try addMandatory(triple) }
                    segment = []
                    try addOptional(group)
                case .filter:
                    break
                }
            }
            for triple in try ordered(segment, bound: Set(env.keys)) { try addMandatory(triple) }
        }
        for filter in query.pattern.filters {
            for conjunct in filter.conjuncts { conditions.append(try boolean(conjunct, env: env, joins: true)) }
        }
    }

    private mutating func addMandatory(_ triple: SPARQLTriplePattern) throws {
        let alias = newAlias("t")
        items.append(items.isEmpty ? "triples \(alias)" : "CROSS JOIN triples \(alias)")
        var bindings = env
        let joins = try patternConditions(triple, alias: alias, env: &bindings, item: items.count - 1)
        env = bindings
        conditions += joins
    }

    private mutating func addOptional(_ group: SPARQLGroup) throws {
        let patterns = try ordered(group.triples, bound: Set(env.keys))
        // An OPTIONAL without patterns adds no bindings and keeps every solution.
        guard !patterns.isEmpty else { return }
        let filters = group.filters
        if items.isEmpty { items.append("(SELECT 1) AS unit") }
        var local = env
        for (index, triple) in patterns.enumerated() {
            let alias = newAlias("o")
            var on = try patternConditions(triple, alias: alias, env: &local, item: nil)
            if index < patterns.count - 1 {
                on.append(try exists(Array(patterns[(index + 1)...]), filters: filters, env: local))
            } else {
                for filter in filters { on.append(try boolean(filter, env: local, joins: true)) }
            }
            items.append("LEFT JOIN triples \(alias) ON " + on.joined(separator: " AND "))
        }
        for (variable, binding) in local where env[variable]?.expression != binding.expression {
            env[variable] = Binding(expression: binding.expression, certain: false, item: nil)
        }
    }

    /// `EXISTS (…)`: the rest of an OPTIONAL group (and its filters) matches.
    private mutating func exists(_ patterns: [SPARQLTriplePattern], filters: [SPARQLExpression], env outer: [String: Binding]) throws -> String {
        var local = outer
        var from: [String] = []
        var on: [String] = []
        for triple in patterns {
            let alias = newAlias("x")
            from.append(from.isEmpty ? "triples \(alias)" : "CROSS JOIN triples \(alias)")
            on += try patternConditions(triple, alias: alias, env: &local, item: nil)
        }
        for filter in filters { on.append(try boolean(filter, env: local, joins: false)) }
        return "EXISTS (SELECT 1 FROM \(from.joined(separator: " ")) WHERE \(on.joined(separator: " AND ")))"
    }

    /// The conditions that join one triple pattern (table `alias`) to what is bound so far,
    /// binding its new variables in `env`.
    private mutating func patternConditions(_ triple: SPARQLTriplePattern, alias: String,
                                            env: inout [String: Binding], item: Int?) throws -> [String] {
        var out: [String] = []
        for (column, position) in triple.positions {
            let sqlColumn = "\(alias).\(column)"
            switch position {
            case .term(let term):
                out.append("\(sqlColumn) = \(parameter(try id(of: term) ?? -1))")
            case .variable(let v):
                if let binding = env[v] {
                    if binding.certain {
                        out.append("\(sqlColumn) = \(binding.expression)")
                    } else {
                        // Bound only where an earlier OPTIONAL matched: compatible when unbound.
                        out.append("(\(binding.expression) IS NULL OR \(sqlColumn) = \(binding.expression))")
                        env[v] = Binding(expression: "COALESCE(\(binding.expression), \(sqlColumn))", certain: true, item: item)
                    }
                } else {
                    env[v] = Binding(expression: sqlColumn, certain: true, item: item)
                }
            }
        }
        return out
    }

    private func assembleFrom() -> String {
        var out: [String] = []
        for (index, item) in items.enumerated() {
            out.append(item)
            out += termJoinsAfter[index] ?? []
        }
        return out.joined(separator: "\n  ")
    }

    // MARK: join order

    /// Greedy join order: the pattern with the fewest estimated matches first, then at each
    /// step a pattern connected to what is bound, preferring bound subjects (a handful of
    /// triples each) over bound objects over constants alone.
    private mutating func ordered(_ patterns: [SPARQLTriplePattern], bound initial: Set<String>) throws -> [SPARQLTriplePattern] {
        var remaining = try patterns.map { ($0, try estimate($0)) }
        var bound = initial
        var out: [SPARQLTriplePattern] = []
        while !remaining.isEmpty {
            var best = 0
            var bestKey = (Int.max, Double.infinity, 0)
            for (index, (triple, count)) in remaining.enumerated() {
                func isBoundVariable(_ term: SPARQLPatternTerm) -> Bool {
                    if case .variable(let v) = term { return bound.contains(v) }
                    return false
                }
                let variables = triple.variables
                let connected = bound.isEmpty || variables.isEmpty || variables.contains(where: bound.contains)
                var estimate = Double(count)
                let subjectBound = isBoundVariable(triple.subject), objectBound = isBoundVariable(triple.object)
                if subjectBound && objectBound {
                    estimate = min(estimate, 1)
                } else if subjectBound {
                    estimate = min(estimate, 2)
                } else if objectBound {
                    estimate = min(estimate, max(1, estimate / 50))
                }
                let constants = triple.positions.filter { if case .term = $0.term { return true } else { return false } }.count
                let key = (count == 0 ? -1 : connected ? 0 : 1, estimate, -constants)
                if key < bestKey { bestKey = key; best = index }
            }
            let (triple, _) = remaining.remove(at: best)
            out.append(triple)
            bound.formUnion(triple.variables)
        }
        return out
    }

    /// Matches of the pattern's constant positions, counted up to `estimateCap`.
    private mutating func estimate(_ triple: SPARQLTriplePattern) throws -> Int {
        var key: [Int64?] = []
        for (_, position) in triple.positions {
            if case .term(let term) = position {
                guard let id = try id(of: term) else { return 0 }
                key.append(id)
            } else {
                key.append(nil)
            }
        }
        if key.allSatisfy({ $0 == nil }) { return Self.estimateCap * 10 }
        if let known = estimates[key] { return known }
        let columns = zip(["s", "p", "o"], key).compactMap { $0.1 == nil ? nil : "\($0.0) = ?" }
        let statement = try db.cachedStatement(sql: """
            SELECT COUNT(*) FROM (SELECT 1 FROM triples WHERE \(columns.joined(separator: " AND ")) LIMIT \(Self.estimateCap))
            """)
        let count = try Int.fetchOne(statement, arguments: StatementArguments(key.compactMap { $0 })) ?? 0
        estimates[key] = count
        return count
    }

    // MARK: terms

    private mutating func id(of term: RDFTerm) throws -> Int64? {
        if let known = ids[term] { return known }
        var id = try storedID(of: term)
        // "x"^^xsd:string and "x" are one RDF term; a store may hold either spelling.
        if id == nil, case .literal(let value, let datatype, let language) = term, language == nil || language == "" {
            if datatype == nil { id = try storedID(of: .literal(value, datatype: Self.xsdString)) }
            if datatype == Self.xsdString { id = try storedID(of: .literal(value)) }
        }
        ids[term] = id
        return id
    }

    /// `TripleWriter.existingID(of:in:)` through a cached statement: queries look up several
    /// terms each, and preparing the statement every time costs more than the lookup.
    private func storedID(of term: RDFTerm) throws -> Int64? {
        let (kind, value, datatype, lang) = TripleWriter.columns(term)
        let statement = try db.cachedStatement(sql: "SELECT id FROM terms WHERE kind = ? AND value = ? AND datatype = ? AND lang = ?")
        return try Int64.fetchOne(statement, arguments: [kind, value, datatype, lang])
    }

    private mutating func newAlias(_ prefix: String) -> String {
        aliasCount += 1
        return "\(prefix)\(aliasCount)"
    }

    private mutating func parameter(_ value: (any DatabaseValueConvertible)?) -> String {
        let name = "a\(arguments.count + 1)"
        arguments[name] = value?.databaseValue ?? .null
        return ":" + name
    }

    /// The columns of a variable's term: a `terms` row joined right after the pattern that
    /// binds it where `join` allows and it is bound by a top-level pattern, else lookups.
    private mutating func termSQL(_ variable: String, env: [String: Binding], join: Bool) -> TermSQL {
        guard let binding = env[variable] else { return .unbound }
        if join, binding.certain, let item = binding.item {
            let alias: String
            if let known = termAliases[variable] {
                alias = known
            } else {
                alias = newAlias("v")
                termAliases[variable] = alias
                termJoinsAfter[item, default: []].append("CROSS JOIN terms \(alias)")
                conditions.append("\(alias).id = \(binding.expression)")
            }
            return TermSQL(kind: "\(alias).kind", value: "\(alias).value", datatype: "\(alias).datatype", lang: "\(alias).lang",
                           number: "\(alias).number", id: binding.expression)
        }
        func lookup(_ column: String) -> String { "(SELECT \(column) FROM terms WHERE id = \(binding.expression))" }
        return TermSQL(kind: lookup("kind"), value: lookup("value"), datatype: lookup("datatype"), lang: lookup("lang"),
                       number: lookup("number"), id: binding.expression, lookupID: binding.expression)
    }

    private mutating func constantSQL(_ term: RDFTerm) throws -> TermSQL {
        let (kind, value, datatype, lang) = TripleWriter.columns(term)
        return TermSQL(kind: "\(kind)", value: parameter(value),
                       datatype: datatype.isEmpty ? "''" : parameter(datatype),
                       lang: lang.isEmpty ? "''" : parameter(lang),
                       number: term.numericValue.map { parameter($0) } ?? "NULL",
                       id: parameter(try id(of: term) ?? -1), constant: term)
    }

    // MARK: expressions

    private enum Compiled {
        case boolean(String)
        case term(TermSQL)
    }

    private mutating func compile(_ expression: SPARQLExpression, env: [String: Binding], joins: Bool) throws -> Compiled {
        switch expression {
        case .variable(let v):
            return .term(termSQL(v, env: env, join: joins))
        case .term(let t):
            return .term(try constantSQL(t))
        case .not(let e):
            return .boolean("(NOT \(try boolean(e, env: env, joins: joins)))")
        case .and(let a, let b):
            return .boolean("(\(try boolean(a, env: env, joins: joins)) AND \(try boolean(b, env: env, joins: joins)))")
        case .or(let a, let b):
            return .boolean("(\(try boolean(a, env: env, joins: joins)) OR \(try boolean(b, env: env, joins: joins)))")
        case .bound(let v):
            return .boolean(env[v].map { "(\($0.expression) IS NOT NULL)" } ?? "0")
        case .compare(let op, let a, let b):
            let left = try term(a, env: env, joins: joins), right = try term(b, env: env, joins: joins)
            return .boolean(comparison(op, left, right))
        case .str(let e):
            let t = try term(e, env: env, joins: joins)
            if t.simpleLiteral { return .term(t) }
            return .term(.simpleLiteral(t.over { kind, value, _, _, _ in "CASE WHEN \(kind) IN (0, 1) THEN \(value) END" }))
        case .lang(let e):
            let t = try term(e, env: env, joins: joins)
            if t.simpleLiteral { return .term(.simpleLiteral("(CASE WHEN \(t.value) IS NOT NULL THEN '' END)")) }
            return .term(.simpleLiteral(t.over { kind, _, _, lang, _ in "CASE WHEN \(kind) = 1 THEN \(lang) END" }))
        case .regex(let e, let pattern, let flags):
            let t = try term(e, env: env, joins: joins)
            matchers.append(try SPARQLRegexMatcher(pattern: pattern, flags: flags))
            let call = "\(Self.regexFunction)(%@, \(matchers.count - 1))"
            if t.simpleLiteral { return .boolean("(CASE WHEN \(t.value) IS NOT NULL THEN \(call.replacingOccurrences(of: "%@", with: t.value)) END)") }
            // regex() takes string literals: plain, xsd:string or language-tagged.
            return .boolean(t.over { kind, value, datatype, lang, _ in
                "CASE WHEN \(kind) = 1 AND (\(lang) <> '' OR \(datatype) IN ('', '\(Self.xsdString)')) THEN \(call.replacingOccurrences(of: "%@", with: value)) END"
            })
        }
    }

    /// A condition: booleans as they are, other terms by their effective boolean value.
    private mutating func boolean(_ expression: SPARQLExpression, env: [String: Binding], joins: Bool) throws -> String {
        switch try compile(expression, env: env, joins: joins) {
        case .boolean(let sql):
            return sql
        case .term(let t):
            if t.simpleLiteral { return "(length(\(t.value)) > 0)" }
            return t.over { kind, value, datatype, lang, number in
                """
                CASE WHEN \(kind) = 1 AND \(datatype) = '\(Self.xsdBoolean)' THEN \(value) IN ('true', '1') \
                WHEN \(number) IS NOT NULL THEN \(number) <> 0 \
                WHEN \(Self.isSimpleString(kind, datatype, lang)) THEN length(\(value)) > 0 END
                """
            }
        }
    }

    private mutating func term(_ expression: SPARQLExpression, env: [String: Binding], joins: Bool) throws -> TermSQL {
        switch try compile(expression, env: env, joins: joins) {
        case .term(let t):
            return t
        case .boolean(let b):
            return TermSQL(kind: "(CASE WHEN \(b) IS NULL THEN NULL ELSE 1 END)",
                           value: "(CASE WHEN \(b) THEN 'true' WHEN NOT \(b) THEN 'false' END)",
                           datatype: "'\(Self.xsdBoolean)'", lang: "''", number: "NULL", id: nil)
        }
    }

    private static func isSimpleString(_ kind: String, _ datatype: String, _ lang: String) -> String {
        "(\(kind) = 1 AND \(lang) = '' AND \(datatype) IN ('', '\(xsdString)'))"
    }

    private func isSimpleString(_ t: TermSQL) -> String {
        t.simpleLiteral ? "(\(t.value) IS NOT NULL)" : Self.isSimpleString(t.kind, t.datatype, t.lang)
    }

    /// `a op b` under SPARQL's rules: numbers by value, plain strings by code point, other
    /// terms only for (in)equality; NULL (an error) where they cannot be compared.
    private mutating func comparison(_ op: SPARQLComparison, _ left: TermSQL, _ right: TermSQL) -> String {
        var (a, b, op) = (left, right, op)
        if a.constant != nil && b.constant == nil { (a, b, op) = (right, left, op.swapped) }
        if op == .equal || op == .notEqual {
            let equal = equality(a, b)
            return op == .equal ? equal : "(NOT \(equal))"
        }
        let o = op.sql
        if let c = b.constant, a.constant == nil {
            let numeric = c.numericValue != nil
            var simple = false, language: String?
            if case .literal(_, let datatype, let lang) = c, !numeric {
                if let lang, !lang.isEmpty { language = lang } else { simple = datatype == nil || datatype == Self.xsdString }
            }
            if a.simpleLiteral { return simple ? "(\(a.value) \(o) \(b.value))" : "NULL" }
            if numeric { return "(\(a.number) \(o) \(b.number))" }
            if language != nil {
                return a.over { kind, value, _, lang, _ in "CASE WHEN \(kind) = 1 AND \(lang) = \(b.lang) THEN \(value) \(o) \(b.value) END" }
            }
            if simple {
                return a.over { kind, value, datatype, lang, _ in
                    "CASE WHEN \(Self.isSimpleString(kind, datatype, lang)) THEN \(value) \(o) \(b.value) END"
                }
            }
            return "NULL"
        }
        return """
            (CASE WHEN \(a.number) IS NOT NULL AND \(b.number) IS NOT NULL THEN \(a.number) \(o) \(b.number) \
            WHEN \(isSimpleString(a)) AND \(isSimpleString(b)) THEN \(a.value) \(o) \(b.value) \
            WHEN \(a.kind) = 1 AND \(b.kind) = 1 AND \(a.lang) <> '' AND \(a.lang) = \(b.lang) THEN \(a.value) \(o) \(b.value) END)
            """
    }

    private func equality(_ a: TermSQL, _ b: TermSQL) -> String {
        if let c = b.constant, a.constant == nil {
            let simple: Bool
            if case .literal(_, let datatype, let lang) = c, c.numericValue == nil, lang == nil || lang == "" {
                simple = datatype == nil || datatype == Self.xsdString
            } else {
                simple = false
            }
            // A computed plain string equals a plain-string constant by text, and nothing else.
            if a.simpleLiteral { return simple ? "(\(a.value) = \(b.value))" : "(CASE WHEN \(a.value) IS NULL THEN NULL ELSE 0 END)" }
            if c.numericValue != nil {
                return a.over { kind, _, _, _, number in
                    "CASE WHEN \(number) IS NOT NULL THEN \(number) = \(b.number) WHEN \(kind) IS NULL THEN NULL ELSE 0 END"
                }
            }
            // A stored variable equals a non-numeric constant exactly when it is that term.
            if let aID = a.id, let bID = b.id { return "(\(aID) = \(bID))" }
        }
        if let aID = a.id, let bID = b.id, a.constant == nil, b.constant == nil {
            return "(CASE WHEN \(a.number) IS NOT NULL AND \(b.number) IS NOT NULL THEN \(a.number) = \(b.number) ELSE \(aID) = \(bID) END)"
        }
        func datatype(_ t: TermSQL) -> String { "(CASE \(t.datatype) WHEN '\(Self.xsdString)' THEN '' ELSE \(t.datatype) END)" }
        return """
            (CASE WHEN \(a.kind) IS NULL OR \(b.kind) IS NULL THEN NULL \
            WHEN \(a.number) IS NOT NULL AND \(b.number) IS NOT NULL THEN \(a.number) = \(b.number) \
            ELSE (\(a.kind) = \(b.kind) AND \(a.value) = \(b.value) AND \(datatype(a)) = \(datatype(b)) AND \(a.lang) = \(b.lang)) END)
            """
    }
}
