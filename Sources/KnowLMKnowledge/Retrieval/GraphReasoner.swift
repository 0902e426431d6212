import Foundation
import GRDB

/// Stages 3 and 4 of retrieval: candidate answers read off the graph around the linked
/// entities, and answers the graph computes (counts, comparisons, superlatives).
///
/// A candidate is a group of edges: the values of one relation, in one direction, from one
/// entity ("Oxygen → discovered by → …", or inverse, "… → discovered in → Russia"), or a chain
/// of two such steps ("Osaka → country → Japan → currency → …"). Its score is how strongly the
/// question asks for its relations (`RelationLinker`), plus a bonus when the question names the
/// class of its values ("which *elements* …").
struct GraphReasoner {
    /// Below this relation score a group is not a candidate.
    static let minimumRelationScore = 0.35
    /// Each step of a chain needs at least this, from words of its own (a relation named only
    /// by meaning needs `chainStepByMeaning`).
    static let chainStepScore = 0.5
    static let chainStepByMeaning = 0.75
    /// Subtracted from a chain's summed score: a chain must be asked for by both its steps.
    static let chainPenalty = 0.4
    /// The question names the class of the candidate's values.
    static let classBonus = 0.4
    /// Values read per group, and bridge nodes followed per chain.
    static let valuesPerGroup = 2000
    static let bridgesPerChain = 25
    /// Entities whose neighbourhoods are read.
    static let topicsRead = 3

    struct Step: Hashable { var relation: Int64; var inverse: Bool }

    struct Candidate {
        var anchor: Int64
        var steps: [Step]
        /// Bridge nodes of a chain (empty for a single step).
        var bridges: [Int64]
        var values: [Int64]
        var score: Double
        /// Edges that show the answer: (s, p, o) ids.
        var edges: [[Int64]]
        /// Every step's relation is named by the question's words (not only by meaning).
        var lexical = true
    }

    struct Computed {
        enum Kind: String { case count, comparison, superlative }
        var kind: Kind
        /// The answer's words.
        var answer: String
        /// Lines for the prompt and the citations.
        var lines: [String]
    }

    let kb: KnowledgeBase
    let catalog: RelationCatalog
    let db: Database
    let skip: Set<Int64>
    let typeID: Int64?

    init(kb: KnowledgeBase, catalog: RelationCatalog, db: Database) throws {
        self.kb = kb
        self.catalog = catalog
        self.db = db
        skip = try kb.labelPredicateIDs(db)
        typeID = try TripleWriter.existingID(of: .iri(RDFTerm.rdfType), in: db)
    }

    /// Whether a relation match is strong enough to be a step of a chain: named by its words
    /// (`chainStepScore`), or by meaning alone with `chainStepByMeaning`.
    static func canChain(_ m: RelationLinker.Match) -> Bool {
        !m.evidence.isEmpty && (m.lexical ? m.score >= chainStepScore : m.score >= chainStepByMeaning)
    }

    /// Edge groups of a node through the given relations only (indexed look-ups per relation:
    /// a node with thousands of edges is not read whole).
    func groups(of node: Int64, through relations: [Int64]) throws -> [(Step, [Int64])] {
        var out: [(Step, [Int64])] = []
        for p in relations {
            let forward = try Int64.fetchAll(db.cachedStatement(sql: "SELECT o FROM triples WHERE s = ? AND p = ? LIMIT \(Self.valuesPerGroup)"), arguments: [node, p])
            if !forward.isEmpty { out.append((Step(relation: p, inverse: false), forward)) }
            let backward = try Int64.fetchAll(db.cachedStatement(sql: "SELECT s FROM triples WHERE p = ? AND o = ? LIMIT \(Self.valuesPerGroup)"), arguments: [p, node])
            if !backward.isEmpty { out.append((Step(relation: p, inverse: true), backward)) }
        }
        return out
    }

    /// Edge groups of a node: (step, values).
    func groups(of node: Int64) throws -> [(Step, [Int64])] {
        var out: [Step: [Int64]] = [:]
        var order: [Step] = []
        for (sql, inverse) in [("SELECT p, o FROM triples WHERE s = ?", false), ("SELECT p, s FROM triples WHERE o = ?", true)] {
            for row in try Row.fetchAll(db.cachedStatement(sql: sql + " LIMIT \(Self.valuesPerGroup)"), arguments: [node]) {
                let p: Int64 = row[0]
                if skip.contains(p) || p == typeID { continue }
                let step = Step(relation: p, inverse: inverse)
                if out[step] == nil { order.append(step) }
                out[step, default: []].append(row[1])
            }
        }
        return order.map { ($0, out[$0]!) }
    }

    func edge(_ node: Int64, _ step: Step, _ value: Int64) -> [Int64] {
        step.inverse ? [value, step.relation, node] : [node, step.relation, value]
    }

    /// Candidates around the topic entities, best first.
    func candidates(topics: [EntityLinker.Mention], relations: [Int64: RelationLinker.Match],
                    question q: QuestionAnalysis, classWords: [QuestionAnalysis.Word]) throws -> [Candidate] {
        var out: [Candidate] = []
        let chainRelations = relations.values.filter(Self.canChain).map(\.relation)
        for (rank, topic) in topics.prefix(Self.topicsRead).enumerated() {
            let topicWeight = 0.05 * Double(Self.topicsRead - rank)
            let first = try groups(of: topic.id)
            for (step, values) in first {
                let m = relations[step.relation] ?? RelationLinker.Match(relation: step.relation, score: 0, evidence: [])
                let bonus = try classBonus(values, words: classWords, except: m.lexical ? m.evidence : [])
                guard m.score + bonus >= Self.minimumRelationScore else { continue }
                out.append(Candidate(anchor: topic.id, steps: [step], bridges: [], values: values,
                                     score: m.score + bonus + topicWeight, edges: values.map { edge(topic.id, step, $0) },
                                     lexical: m.lexical || bonus > 0))
                guard Self.canChain(m) else { continue }
                // Chains: a second step from the values, asked for by other words.
                var chains: [Step: Candidate] = [:]
                for bridge in values.prefix(Self.bridgesPerChain) {
                    for (step2, values2) in try groups(of: bridge, through: chainRelations) {
                        // The second step named by a word of its own; the same relation twice
                        // only when the question names it twice.
                        guard let m2 = relations[step2.relation], Self.canChain(m2),
                              step2.relation == step.relation ? m.repeated && q.asksForOthers : !m2.evidence.isSubset(of: m.evidence) else { continue }
                        let onward = values2.filter { $0 != topic.id }
                        if onward.isEmpty { continue }
                        var chain = chains[step2] ?? Candidate(anchor: topic.id, steps: [step, step2], bridges: [], values: [],
                                                               score: m.score + m2.score - Self.chainPenalty + topicWeight, edges: [],
                                                               lexical: m.lexical && m2.lexical)
                        chain.bridges.append(bridge)
                        for v in onward where !chain.values.contains(v) { chain.values.append(v) }
                        chain.edges.append(edge(topic.id, step, bridge))
                        chain.edges += onward.map { edge(bridge, step2, $0) }
                        chains[step2] = chain
                    }
                }
                for var chain in chains.values {
                    chain.score += try classBonus(chain.values, words: classWords, except: m.evidence.union(relations[chain.steps[1].relation]!.evidence))
                    out.append(chain)
                }
            }
        }
        return out.sorted {
            if $0.score != $1.score { return $0.score > $1.score }
            if $0.steps.count != $1.steps.count { return $0.steps.count < $1.steps.count }
            return $0.values.count < $1.values.count
        }
    }

    /// A bonus when a content word (not one naming the relation) names a class of the values.
    func classBonus(_ values: [Int64], words: [QuestionAnalysis.Word], except evidence: Set<Int>) throws -> Double {
        guard let typeID, let first = values.first else { return 0 }
        let candidates = words.filter { !evidence.contains($0.range.lowerBound) }
        if candidates.isEmpty { return 0 }
        let classes = try Int64.fetchAll(db.cachedStatement(sql: "SELECT o FROM triples WHERE s = ? AND p = ? LIMIT 8"), arguments: [first, typeID])
        for c in classes where catalog.classWords(of: c).contains(where: { cw in candidates.contains { WordStem.related($0.text, cw) } }) {
            return Self.classBonus
        }
        return 0
    }

    /// A number for a node's value of `relation` (a numeric literal, or a date), if it has one.
    func number(_ node: Int64, _ relation: Int64) throws -> Double? {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT terms.number, terms.value, terms.kind FROM triples JOIN terms ON terms.id = triples.o
            WHERE triples.s = ? AND triples.p = ? LIMIT 4
            """), arguments: [node, relation])
        for row in rows {
            if let n = row[0] as Double? { return n }
            if (row[2] as Int) == 1, let d = GraphValues.date(row[1]) { return d }
        }
        return nil
    }

    func display(_ id: Int64, language: String) throws -> String {
        let term = try kb.term(db, id: id)
        if term.isLiteral { return term.value }
        return try kb.label(db, id: id, preferring: language == "zh" ? ["zh", "en", ""] : ["en", ""]) ?? term.shortForm
    }

    func relationName(_ id: Int64, language: String) -> String {
        guard let r = catalog[id] else { return "related to" }
        return language == "zh" ? r.displayZh : r.display
    }

    /// The numeric relation a comparison is about: the one the question asks for most among
    /// those the entities have values of.
    private func numericRelation(for nodes: [Int64], relations: [Int64: RelationLinker.Match],
                                 excluding used: Set<Int>) throws -> (Int64, [(Int64, Double)])? {
        var best: (id: Int64, score: Double, values: [(Int64, Double)])?
        var candidates = 0
        for r in catalog.relations where r.valueKind == .number || r.valueKind == .time {
            let match = relations[r.id]
            if let match, !match.evidence.isEmpty, !match.evidence.isDisjoint(with: used) { continue }
            var values: [(Int64, Double)] = []
            for node in nodes { if let v = try number(node, r.id) { values.append((node, v)) } }
            guard values.count >= 2 else { continue }
            let score = match?.score ?? 0
            if best == nil || score > best!.score { best = (r.id, score, values) }
            candidates += 1
        }
        // The relation asked for; or, when the question's comparative is not a relation's name
        // ("which is longer"), the only numeric relation the entities share.
        guard let best, best.score >= Self.minimumRelationScore || candidates == 1 else { return nil }
        return (best.id, best.values)
    }

    private func direction(_ q: QuestionAnalysis, relation: Int64) -> QuestionAnalysis.Direction {
        var d = q.direction ?? .largest
        if q.agesAreInverted, catalog[relation]?.valueKind == .time { d = d == .largest ? .smallest : .largest }
        return d
    }

    /// "Which is denser, A or B?": the entities' values of the relation asked for, compared.
    func comparison(topics: [EntityLinker.Mention], relations: [Int64: RelationLinker.Match],
                    question q: QuestionAnalysis) throws -> Computed? {
        // Entities named by different spans (two entities sharing one name are not compared).
        var entities: [EntityLinker.Mention] = []
        for m in topics where !m.isClass && !entities.contains(where: { $0.span == m.span }) { entities.append(m) }
        guard entities.count >= 2, q.direction != nil || q.words.contains(where: { $0.text == "or" }) || q.lowercased.contains("还是") else { return nil }
        let nodes = Array(entities.prefix(4).map(\.id))
        guard let (relation, values) = try numericRelation(for: nodes, relations: relations, excluding: []) else { return nil }
        let d = direction(q, relation: relation)
        let sorted = values.sorted { d == .largest ? $0.1 > $1.1 : $0.1 < $1.1 }
        guard sorted[0].1 != sorted[1].1 else { return nil }
        let name = relationName(relation, language: q.language)
        var lines: [String] = []
        for (node, _) in values {
            let value = try Row.fetchOne(db, sql: "SELECT o FROM triples WHERE s = ? AND p = ? LIMIT 1", arguments: [node, relation]).map { $0[0] as Int64 }
            lines.append("\(try display(node, language: q.language)) | \(name) | \(try value.map { try display($0, language: q.language) } ?? "")")
        }
        let winner = try display(sorted[0].0, language: q.language)
        let others = try sorted.dropFirst().map { try display($0.0, language: q.language) }.joined(separator: ", ")
        let word = q.language == "zh" ? (d == .largest ? "\(name)多于" : "\(name)少于") : (d == .largest ? "larger \(name) than" : "smaller \(name) than")
        lines.insert("\(winner) | \(word) | \(others)", at: 0)
        return Computed(kind: .comparison, answer: winner, lines: lines)
    }

    /// "Which element discovered in Sweden has the highest atomic number?": the values of the
    /// best list candidate, ranked by a numeric relation asked for by other words.
    func superlative(_ candidate: Candidate?, ofClass classID: Int64?, relations: [Int64: RelationLinker.Match],
                     question q: QuestionAnalysis) throws -> Computed? {
        guard q.isSuperlative else { return nil }
        var used = Set<Int>()
        let relation: Int64
        let sorted: [(Int64, Double)]
        let values: [(Int64, Double)]
        if let candidate {
            for step in candidate.steps { used.formUnion(relations[step.relation]?.evidence ?? []) }
            let pool = Array(candidate.values.prefix(Self.valuesPerGroup))
            guard pool.count >= 2, let (r, v) = try numericRelation(for: pool, relations: relations, excluding: used) else { return nil }
            relation = r
            values = v
            let d = direction(q, relation: relation)
            sorted = values.sorted { d == .largest ? $0.1 > $1.1 : $0.1 < $1.1 }
        } else if let classID, let typeID {
            // Every member of the class, ranked in SQL (a class may have many thousands).
            let numeric = catalog.relations.filter { ($0.valueKind == .number || $0.valueKind == .time) && (relations[$0.id]?.score ?? 0) >= Self.minimumRelationScore }
                .sorted { (relations[$0.id]?.score ?? 0) > (relations[$1.id]?.score ?? 0) }
            var found: (Int64, [(Int64, Double)], Int)?
            for r in numeric {
                let d = direction(q, relation: r.id)
                // The top three, and (window count) how many members have a value.
                let rows = try Row.fetchAll(db, sql: """
                    SELECT t.s, terms.number, COUNT(*) OVER () FROM triples t JOIN terms ON terms.id = t.o
                    WHERE t.p = ? AND terms.number IS NOT NULL
                      AND EXISTS (SELECT 1 FROM triples m WHERE m.s = t.s AND m.p = ? AND m.o = ?)
                    ORDER BY terms.number \(d == .largest ? "DESC" : "ASC") LIMIT 3
                    """, arguments: [r.id, typeID, classID])
                if rows.count >= 2 { found = (r.id, rows.map { ($0[0] as Int64, $0[1] as Double) }, rows[0][2] as Int); break }
            }
            guard let found else { return nil }
            relation = found.0
            sorted = found.1
            values = Array(repeating: (0, 0), count: found.2)
        } else {
            return nil
        }
        let d = direction(q, relation: relation)
        guard sorted.count >= 2, sorted[0].1 != sorted[1].1 else { return nil }
        let name = relationName(relation, language: q.language)
        let winner = try display(sorted[0].0, language: q.language)
        let word = q.language == "zh" ? (d == .largest ? "\(name)最大" : "\(name)最小") : (d == .largest ? "largest \(name) of \(values.count)" : "smallest \(name) of \(values.count)")
        var lines = ["\(winner) | \(word) | \(try display(try Int64.fetchOne(db, sql: "SELECT o FROM triples WHERE s = ? AND p = ?", arguments: [sorted[0].0, relation]) ?? sorted[0].0, language: q.language))"]
        for (node, _) in sorted.dropFirst().prefix(2) {
            let o = try Int64.fetchOne(db, sql: "SELECT o FROM triples WHERE s = ? AND p = ?", arguments: [node, relation]) ?? node
            lines.append("\(try display(node, language: q.language)) | \(name) | \(try display(o, language: q.language))")
        }
        // "Who discovered the element with the highest atomic number?": a further relation of
        // the winner, named by words of its own.
        let ranking = relations[relation]?.evidence ?? []
        let onward = relations.values.filter { m in
            m.relation != relation && m.lexical && m.score >= Self.chainStepScore && !m.evidence.isEmpty
                && m.evidence.isDisjoint(with: ranking) && m.evidence.isDisjoint(with: used)
        }.sorted { $0.score > $1.score }
        for m in onward {
            let values = try Int64.fetchAll(db, sql: "SELECT o FROM triples WHERE s = ? AND p = ? LIMIT \(Self.valuesPerGroup)", arguments: [sorted[0].0, m.relation])
            guard !values.isEmpty else { continue }
            let names = try values.prefix(8).map { try display($0, language: q.language) }
            lines.insert("\(winner) | \(relationName(m.relation, language: q.language)) | \(names.joined(separator: "; "))", at: 0)
            return Computed(kind: .superlative, answer: names.joined(separator: ", "), lines: lines)
        }
        return Computed(kind: .superlative, answer: winner, lines: lines)
    }

    /// "How many elements did X discover?": the number of values of the best candidate, when
    /// they are things (a single number is the answer itself: "how many people live in …").
    func count(_ candidate: Candidate?, question q: QuestionAnalysis) throws -> Computed? {
        guard q.asksCount, let candidate, !candidate.values.isEmpty else { return nil }
        let literal = try candidate.values.allSatisfy { try kb.term(db, id: $0).isLiteral }
        if literal && candidate.values.count == 1 { return nil }
        let n = candidate.values.count
        let names = try candidate.values.prefix(8).map { try display($0, language: q.language) }
        let list = names.joined(separator: "; ") + (n > names.count ? "; …" : "")
        let relation = relationName(candidate.steps.last!.relation, language: q.language)
        let anchor = try display(candidate.anchor, language: q.language)
        let line = q.language == "zh" ? "\(anchor) | \(relation)（\(n)个）| \(list)" : "\(anchor) | \(relation) (\(n) in all) | \(list)"
        return Computed(kind: .count, answer: String(n), lines: [line])
    }

}
