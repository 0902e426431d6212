import Foundation
import GRDB
import KnowLMCore

/// Turns a question into a `KnowledgeContext`, in stages that work on any graph: question
/// analysis (`QuestionAnalysis`), entity linking (`EntityLinker`), relation linking by labels
/// and meaning (`RelationLinker`), candidate facts and computed answers (`GraphReasoner`),
/// rendering; plus passages from BM25 and dense search fused by reciprocal rank.
public final class Retriever: @unchecked Sendable {
    // @unchecked: the vector index is built once and searched under the lock.
    public let kb: KnowledgeBase
    public let embedder: (any TextEmbedder)?
    public var maxFacts = 6
    public var maxPassages = 3
    private var vectorIndex: (any VectorSearching)?
    let lock = NSLock()

    public init(kb: KnowledgeBase, embedder: (any TextEmbedder)?) {
        self.kb = kb
        self.embedder = embedder
    }

    /// The graph supports an answer when its best candidate scores at least this.
    public static let supportThreshold = 0.5
    /// Candidates shown to the model: within this of the best one.
    public static let candidateWindow = 0.3
    /// Values listed per fact line.
    public static let valuesShown = 8

    private var catalog: RelationCatalog?
    var cachedExamples: [String: [PromptExample]] = [:]

    func relationCatalog(_ db: Database) throws -> RelationCatalog {
        lock.lock()
        defer { lock.unlock() }
        if let catalog { return catalog }
        let made = try RelationCatalog(db, kb: kb)
        catalog = made
        return made
    }

    /// Forgets what was read from the knowledge base once (the relation catalog, the vector
    /// index, the worked examples): call after documents or triples were added through another
    /// path than this retriever, so the next question sees them.
    public func knowledgeChanged() {
        lock.lock()
        defer { lock.unlock() }
        catalog = nil
        vectorIndex = nil
        cachedExamples = [:]
    }

    /// Question → knowledge context, in stages: question analysis, entity linking, relation
    /// linking, candidate facts and computed answers, rendering; passages when the graph has
    /// nothing on the relation asked.
    public func retrieve(_ question: String) throws -> KnowledgeContext {
        let q = QuestionAnalysis(question)
        let language = q.language
        var context = KnowledgeContext(question: question, language: language, facts: [], passages: [], entities: [])
        var mentionNames: [String] = []
        try kb.pool.read { db in
            let catalog = try relationCatalog(db)
            let mentions = try EntityLinker(kb: kb).link(db, q, relationNames: catalog.allNames)
            context.entities = mentions.map(\.entity)
            mentionNames = mentions.map(\.entity.matchedName)
            // Words that name a linked entity's class next to it ("the country Zambia", "the
            // city of Perth") describe the entity; they do not ask for a relation.
            let spans = mentions.map(\.span) + (try EntityLinker(kb: kb).classWords(db, q, mentions: mentions, catalog: catalog))
            let relations = try RelationLinker(catalog: catalog, embedder: embedder).match(q, excluding: spans)
            let reasoner = try GraphReasoner(kb: kb, catalog: catalog, db: db)
            context.relations = relations.values.sorted { $0.score > $1.score }.prefix(5)
                .map { (name: reasoner.relationName($0.relation, language: language), score: $0.score) }
            let topics = mentions.filter { !$0.isClass }
            let classWords = q.contentWords(excluding: spans.filter { span in topics.contains { $0.span == span } })
            let candidates = try reasoner.candidates(topics: topics, relations: relations, question: q, classWords: classWords)
            let best = candidates.first
            context.bestScore = best?.score ?? 0
            // Computed answers: comparison of named entities, a superlative over a list or a
            // class, a count.
            var computed = try reasoner.comparison(topics: topics, relations: relations, question: q)
            if computed == nil {
                // The best list of things (not of values: a chain ending in numbers is not a list
                // to pick from).
                let listCandidate = try candidates.first { c in
                    guard c.values.count >= 2 && c.score >= Self.supportThreshold else { return false }
                    return try !kb.term(db, id: c.values[0]).isLiteral
                }
                // A superlative over a class: one named exactly, or by the head of its name
                // ("the element with the highest …").
                var classID: Int64?
                if topics.isEmpty {
                    classID = mentions.first(where: \.isClass)?.id ?? catalog.classNamed(by: q.contentWords(excluding: spans))?.id
                }
                computed = try reasoner.superlative(listCandidate, ofClass: classID, relations: relations, question: q)
            }
            if computed == nil, let best, best.score >= Self.supportThreshold {
                computed = try reasoner.count(best, question: q)
            }
            if let computed {
                context.computed = .init(kind: computed.kind.rawValue, answer: computed.answer)
                for line in computed.lines {
                    context.facts.append(.init(id: String(context.facts.count + 1), kind: .triple, text: line, triple: nil, passage: nil,
                                               answerNames: [computed.answer], answerText: computed.answer, score: 10))
                }
                return
            }
            let shown = candidates.filter { $0.score >= (best?.score ?? 0) - Self.candidateWindow }.prefix(maxFacts)
            for candidate in shown {
                context.facts.append(try render(candidate, id: context.facts.count + 1, reasoner: reasoner, language: language))
            }
        }
        context.topic = Self.topic(q, mentions: mentionNames)
        if context.computed != nil || context.bestScore >= Self.supportThreshold || maxPassages == 0 { return context }
        // The graph has nothing on the relation asked: passages that mention what the question
        // is about, then the graph's weaker candidates.
        let content = q.contentWords(excluding: [])
        for hit in try searchPassages(question, limit: maxPassages) where Self.isRelevant(hit.text, mentions: mentionNames, content: content) {
            context.passages.append(.init(id: String(context.passages.count + 1), kind: .passage, text: hit.text, triple: nil,
                                          passage: hit, answerNames: [], answerText: "", score: hit.score))
        }
        for i in context.facts.indices { context.facts[i].id = String(context.passages.count + i + 1) }
        return context
    }

    /// A fact line for a candidate: "Oxygen | discovered by | Joseph Priestly; Carl Scheele",
    /// "Ruthenium; Flerovium | discovered in | Russia", or a chain of two steps.
    func render(_ c: GraphReasoner.Candidate, id: Int, reasoner: GraphReasoner, language: String) throws -> KnowledgeContext.Item {
        func list(_ ids: [Int64]) throws -> String {
            let names = try ids.prefix(Self.valuesShown).map { try reasoner.display($0, language: language) }
            return names.joined(separator: "; ") + (ids.count > names.count ? "; … (\(ids.count) in all)" : "")
        }
        func step(_ from: [Int64], _ s: GraphReasoner.Step, _ to: [Int64]) throws -> String {
            let name = reasoner.relationName(s.relation, language: language)
            return s.inverse ? "\(try list(to)) | \(name) | \(try list(from))" : "\(try list(from)) | \(name) | \(try list(to))"
        }
        var text: String
        var triple: Triple?
        if c.steps.count == 1 {
            text = try step([c.anchor], c.steps[0], c.values)
            if let e = c.edges.first { triple = try kb.resolve(reasoner.db, s: e[0], p: e[1], o: e[2]) }
        } else if !c.steps[0].inverse && !c.steps[1].inverse && c.bridges.count == 1 {
            text = "\(try reasoner.display(c.anchor, language: language)) | \(reasoner.relationName(c.steps[0].relation, language: language)) | "
                + "\(try reasoner.display(c.bridges[0], language: language)) | \(reasoner.relationName(c.steps[1].relation, language: language)) | \(try list(c.values))"
        } else {
            text = try step([c.anchor], c.steps[0], Array(c.bridges.prefix(3))) + "; " + step(Array(c.bridges.prefix(3)), c.steps[1], c.values)
        }
        let names = try c.values.prefix(Self.valuesShown).map { try reasoner.display($0, language: language) }
        var answerNames = names
        if c.values.count == 1, !(try kb.term(reasoner.db, id: c.values[0]).isLiteral) {
            answerNames += try String.fetchAll(reasoner.db, sql: "SELECT label FROM labels WHERE term = ?", arguments: [c.values[0]])
        }
        var item = KnowledgeContext.Item(id: String(id), kind: .triple, text: text, triple: triple, passage: nil,
                     answerNames: answerNames.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } },
                     answerText: names.joined(separator: ", ") + (c.values.count > names.count ? ", …" : ""), score: c.score)
        item.byMeaningOnly = !c.lexical
        return item
    }

    /// What the question is about, for an abstention: its entities and relation, or its words.
    static func topic(_ q: QuestionAnalysis, mentions: [String]) -> String {
        if let entity = mentions.first { return entity }
        let words = q.contentWords(excluding: []).map(\.text)
        return words.isEmpty ? q.question : words.joined(separator: " ")
    }

    /// A passage is about the question when it names one of its entities or shares most of its
    /// content words.
    static func isRelevant(_ text: String, mentions: [String], content: [QuestionAnalysis.Word]) -> Bool {
        let lower = text.lowercased()
        if mentions.contains(where: { !$0.isEmpty && lower.contains($0.lowercased()) }) { return true }
        if content.isEmpty { return false }
        let words = Set(QuestionAnalysis.words(text).map(\.text))
        let shared = content.filter { w in words.contains { WordStem.related($0, w.text) } }.count
        return Double(shared) / Double(content.count) >= 0.5
    }

    /// How passages are found.
    public enum PassageSearch: String, Sendable, CaseIterable {
        /// BM25 and dense results fused by reciprocal rank (k = 60).
        case fused
        /// BM25 full-text search only.
        case text
        /// Dense (embedding) search only.
        case vector
    }

    public func searchPassages(_ query: String, limit: Int, mode: PassageSearch = .fused) throws -> [PassageHit] {
        let depth = mode == .fused ? max(10, limit * 3) : limit
        let lexical = mode == .vector ? [] : try kb.searchText(query, limit: depth)
        var dense: [PassageHit] = []
        if mode != .text, let embedder {
            let q = try embedder.embed([query])[0]
            let hits = try searchVectors(q, k: depth, embedder: embedder)
            let byID = try kb.pool.read { db in try kb.passages(db, ids: hits.map(\.id)) }
            dense = hits.compactMap { hit in byID[hit.id].map { var h = $0; h.score = Double(hit.score); return h } }
        }
        if mode != .fused { return Array((mode == .text ? lexical : dense).prefix(limit)) }
        var fused: [Int64: (hit: PassageHit, score: Double)] = [:]
        for list in [lexical, dense] {
            for (rank, hit) in list.enumerated() {
                let add = 1 / Double(60 + rank + 1)
                fused[hit.chunkID, default: (hit, 0)].score += add
            }
        }
        return fused.values.sorted { $0.score != $1.score ? $0.score > $1.score : $0.hit.chunkID < $1.hit.chunkID }
            .prefix(limit).map { var h = $0.hit; h.score = $0.score; return h }
    }

    /// Dense search: the knowledge base's HNSW index when it has one, exact search otherwise.
    private func searchVectors(_ query: [Float], k: Int, embedder: any TextEmbedder) throws -> [(id: Int64, score: Float)] {
        lock.lock()
        defer { lock.unlock() }
        if vectorIndex == nil {
            let model = embedder.modelName
            vectorIndex = try kb.storedVectorIndex(model: model) != nil
                ? kb.loadVectorIndex(model: model) : ExactVectorIndex.load(from: kb, model: model)
        }
        guard let index = vectorIndex, index.count > 0 else { return [] }
        return index.search(query, k: k)
    }
}

// MARK: worked examples for the prompt

/// A worked example for the knowledge prompt, built from the knowledge base itself.
public struct PromptExample: Sendable, Equatable {
    public var facts: [(id: String, text: String)]
    public var question: String
    public var answerID: String
    public var answer: String

    public static func == (a: PromptExample, b: PromptExample) -> Bool {
        a.question == b.question && a.answer == b.answer && a.answerID == b.answerID
            && a.facts.map(\.text) == b.facts.map(\.text)
    }
}

extension Retriever {
    /// Entities looked at when choosing the examples' subject (in label order: deterministic).
    static let exampleScan = 3000

    /// Two worked examples from this knowledge base's own triples: a question about one fact of
    /// an entity, and one along two facts. Always the same for a knowledge base (so that the
    /// prompt's prefix is reused from the KV cache); empty when the graph has no entity with
    /// two relations.
    public func examples(language: String, prompts: PromptLibrary) throws -> [PromptExample] {
        lock.lock()
        if let cached = cachedExamples[language] { lock.unlock(); return cached }
        lock.unlock()
        let made: [PromptExample] = try kb.pool.read { db in
            let catalog = try relationCatalog(db)
            let reasoner = try GraphReasoner(kb: kb, catalog: catalog, db: db)
            let subjects = try Int64.fetchAll(db, sql: "SELECT DISTINCT term FROM labels WHERE preferred = 1 ORDER BY id LIMIT \(Self.exampleScan)")
            func show(_ id: Int64) throws -> String { try reasoner.display(id, language: language) }
            func rel(_ id: Int64) -> String { reasoner.relationName(id, language: language) }
            func line(_ s: Int64, _ fact: (Int64, Int64)) throws -> String { "\(try show(s)) | \(rel(fact.0)) | \(try show(fact.1))" }
            func question(_ template: String, _ values: [String: Any]) throws -> String {
                try prompts.render("\(template).\(language)", values).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // The first subject with two single-valued forward facts; better, the first whose
            // entity value has a forward fact of its own (a chain for the second example).
            var chosen: (s: Int64, facts: [(Int64, Int64)], chain: (p1: Int64, x: Int64, p2: Int64, y: Int64)?)?
            for s in subjects {
                let facts = try reasoner.groups(of: s).filter { !$0.0.inverse && $0.1.count == 1 && catalog[$0.0.relation] != nil }
                    .map { ($0.0.relation, $0.1[0]) }
                guard facts.count >= 2 else { continue }
                var chain: (p1: Int64, x: Int64, p2: Int64, y: Int64)?
                for (p1, x) in facts where chain == nil {
                    if try kb.term(db, id: x).isLiteral { continue }
                    let onward = try reasoner.groups(of: x).first { !$0.0.inverse && $0.1.count == 1 && $0.0.relation != p1 && $0.1[0] != s }
                    if let (step2, values2) = onward { chain = (p1, x, step2.relation, values2[0]) }
                }
                if chosen == nil || chain != nil { chosen = (s, facts, chain) }
                if chain != nil { break }
            }
            guard let (s, facts, chain) = chosen else { return [] }
            // The fact asked about comes first, as the retriever ranks the best fact first.
            let asked = chain.flatMap { c in facts.first { $0.0 != c.p1 } } ?? facts[1]
            let shown = [asked] + facts.filter { $0.0 != asked.0 }.prefix(2)
            var examples = [PromptExample(
                facts: try shown.enumerated().map { (id: String($0.offset + 1), text: try line(s, $0.element)) },
                question: try question("knowledge_qa_example", ["entity": try show(s), "relation": rel(asked.0)]),
                answerID: "1", answer: try show(asked.1))]
            if let c = chain {
                examples.append(PromptExample(
                    facts: [(id: "1", text: "\(try line(s, (c.p1, c.x))) | \(rel(c.p2)) | \(try show(c.y))"), (id: "2", text: try line(s, asked))],
                    question: try question("knowledge_qa_example_chain", ["entity": try show(s), "relation": rel(c.p1), "relation2": rel(c.p2)]),
                    answerID: "1", answer: try show(c.y)))
            }
            return examples
        }
        lock.lock()
        cachedExamples[language] = made
        lock.unlock()
        return made
    }
}
