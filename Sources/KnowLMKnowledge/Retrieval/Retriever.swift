import Foundation
import GRDB
import KnowLMCore

/// Turns a question into a `KnowledgeContext`: entity linking (exact, alias, full-text) into a
/// ranked 2-hop subgraph, plus passages from BM25 and dense search fused by reciprocal rank.
public final class Retriever: @unchecked Sendable {
    // @unchecked: the vector index is built once and searched under the lock.
    public let kb: KnowledgeBase
    public let embedder: (any TextEmbedder)?
    public var maxFacts = 6
    public var maxPassages = 3
    private var vectorIndex: (any VectorSearching)?
    private let lock = NSLock()

    public init(kb: KnowledgeBase, embedder: (any TextEmbedder)?) {
        self.kb = kb
        self.embedder = embedder
    }

    static let englishStopwords: Set<String> = [
        "a", "an", "the", "of", "in", "on", "at", "to", "is", "are", "was", "were", "be", "what", "which", "who", "whom",
        "where", "when", "how", "many", "much", "does", "do", "did", "and", "or", "for", "by", "with", "from", "as",
        "that", "this", "these", "those", "it", "its", "has", "have", "had", "there", "their", "name", "called", "used",
        "use", "more", "less", "than", "most", "city", "country", "capital", "people", "live", "lives", "located", "big", "bigger",
    ]

    public func retrieve(_ question: String) throws -> KnowledgeContext {
        let language = question.unicodeScalars.contains(where: CJKText.isCJK) ? "zh" : "en"
        let labelLanguages = language == "zh" ? ["zh", "en", ""] : ["en", ""]
        let questionLower = question.lowercased()

        var entities: [LinkedEntity] = []
        var facts: [KnowledgeContext.Item] = []
        try kb.pool.read { db in
            let linked = try linkMentions(db, question: question)
            entities = linked.map(\.entity)
            let skip = try kb.labelPredicateIDs(db)
            let typeID = try TripleWriter.existingID(of: .iri(RDFTerm.rdfType), in: db)
            let populationID = try TripleWriter.existingID(of: .iri("http://knowlm.dev/ontology/population"), in: db)
            let outgoing = try db.cachedStatement(sql: "SELECT p, o FROM triples WHERE s = ? LIMIT 200")
            let incoming = try db.cachedStatement(sql: "SELECT s, p FROM triples WHERE o = ? LIMIT 12")
            var scored: [[Int64]: Double] = [:]
            var predicateMentioned: [Int64: Bool] = [:]
            func mentioned(_ p: Int64) throws -> Bool {
                if let known = predicateMentioned[p] { return known }
                let names = try String.fetchAll(db, sql: "SELECT label FROM labels WHERE term = ?", arguments: [p])
                let hit = names.contains { name in
                    let n = name.lowercased()
                    return n.count > 1 && Self.containsWord(questionLower, n)
                }
                predicateMentioned[p] = hit
                return hit
            }
            let linkedIDs = Set(linked.map(\.id))
            func add(_ s: Int64, _ p: Int64, _ o: Int64, base: Double, relevant: Bool = true, onlyIfMentioned: Bool = false) throws {
                if try onlyIfMentioned && !(relevant && mentioned(p)) { return }
                var score = base
                if p == typeID { score = 0.3 }
                if try relevant && mentioned(p) { score += 4 }
                if linkedIDs.contains(o) && linkedIDs.contains(s) { score += 1 }
                scored[[s, p, o]] = max(scored[[s, p, o]] ?? 0, score)
            }
            for (rank, link) in linked.prefix(4).enumerated() {
                let weight = 1 / Double(1 + rank)
                // A full-text (fuzzy) link is a guess: only its facts about a relation the
                // question names are worth a place before the passages.
                let guessed = link.entity.match == .fuzzy
                var secondHop: [(node: Int64, via: Int64)] = []
                for row in try Row.fetchAll(outgoing, arguments: [link.id]) {
                    let p: Int64 = row[0], o: Int64 = row[1]
                    if skip.contains(p) { continue }
                    try add(link.id, p, o, base: 3 * weight, onlyIfMentioned: guessed)
                    if p != typeID { secondHop.append((o, p)) }
                }
                for row in try Row.fetchAll(incoming, arguments: [link.id]) {
                    let s: Int64 = row[0], p: Int64 = row[1]
                    if skip.contains(p) || p == typeID { continue }
                    try add(s, p, link.id, base: 1.5 * weight, onlyIfMentioned: guessed)
                }
                // A neighbour's fact matters only through a relation the question names ("the
                // country where Osaka is"): "capital of Italy" must not bring in the capitals of
                // Italy's neighbours, which a small model then copies.
                for (node, via) in secondHop.prefix(20) {
                    let relevant = try mentioned(via)
                    for row in try Row.fetchAll(outgoing, arguments: [node]) {
                        let p: Int64 = row[0], o: Int64 = row[1]
                        if skip.contains(p) || p == typeID { continue }
                        try add(node, p, o, base: 1 * weight, relevant: relevant, onlyIfMentioned: guessed)
                    }
                }
            }
            // Paths: the relation asked about, one hop beyond a linked entity ("Osaka | country |
            // Japan | currency | Yen"), so that 2-hop questions read off a single line.
            var paths: [(ids: [Int64], score: Double)] = []
            for link in linked.prefix(3) {
                // Only for relations the entity lacks: a direct fact answers better than a path.
                let direct = Set(try Int64.fetchAll(db, sql: "SELECT DISTINCT p FROM triples WHERE s = ?", arguments: [link.id]))
                for row in try Row.fetchAll(outgoing, arguments: [link.id]) {
                    let p1: Int64 = row[0], x: Int64 = row[1]
                    if skip.contains(p1) || p1 == typeID { continue }
                    for row2 in try Row.fetchAll(outgoing, arguments: [x]) {
                        let p2: Int64 = row2[0], y: Int64 = row2[1]
                        if skip.contains(p2) || p2 == typeID || p2 == p1 || y == link.id || direct.contains(p2) { continue }
                        if try mentioned(p2) { paths.append(([link.id, p1, x, p2, y], 6 + (try mentioned(p1) ? 2 : 0))) }
                    }
                }
            }
            // Comparisons: which of the linked entities has the larger value of a numeric
            // relation the question names, computed from the graph rather than left to the model.
            var comparisons: [(text: String, winner: Int64, score: Double)] = []
            if Self.isComparison(questionLower), linked.count >= 2 {
                let numeric = try Row.fetchAll(db, sql: "SELECT triples.p FROM triples JOIN terms ON terms.id = triples.o WHERE triples.s = ? AND terms.number IS NOT NULL", arguments: [linked[0].id])
                for row in numeric {
                    let p: Int64 = row[0]
                    guard try mentioned(p) || (Self.mentionsQuantity(questionLower) && p == populationID) else { continue }
                    var values: [(id: Int64, value: Double)] = []
                    for link in linked.prefix(4) {
                        if let v = try Double.fetchOne(db, sql: "SELECT terms.number FROM triples JOIN terms ON terms.id = triples.o WHERE s = ? AND p = ?", arguments: [link.id, p]) {
                            values.append((link.id, v))
                        }
                    }
                    guard values.count >= 2 else { continue }
                    let sorted = values.sorted { $0.value > $1.value }
                    let predicate = try kb.label(db, id: p, preferring: labelLanguages) ?? "value"
                    let winner = try kb.label(db, id: sorted[0].id, preferring: labelLanguages) ?? ""
                    let others = try sorted.dropFirst().map { try kb.label(db, id: $0.id, preferring: labelLanguages) ?? "" }.joined(separator: ", ")
                    let relation = language == "zh" ? "\(predicate)多于" : "larger \(predicate) than"
                    comparisons.append(("\(winner) | \(relation) | \(others)", sorted[0].id, 12))
                }
            }
            var items: [(text: String, triple: Triple?, names: [String], score: Double)] = []
            for c in comparisons.prefix(1) {
                items.append((c.text, nil, [try kb.label(db, id: c.winner, preferring: labelLanguages) ?? ""], c.score))
            }
            for path in paths.sorted(by: { $0.score > $1.score }).prefix(3) {
                let names = try path.ids.map { id -> String in
                    let term = try kb.term(db, id: id)
                    return term.isLiteral ? term.value : (try kb.label(db, id: id, preferring: labelLanguages) ?? term.shortForm)
                }
                let triple = Triple(try kb.term(db, id: path.ids[2]), try kb.term(db, id: path.ids[3]), try kb.term(db, id: path.ids[4]))
                items.append((names.joined(separator: " | "), triple, [names[4]], path.score))
            }
            let ranked = scored.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.lexicographicallyPrecedes($1.key) }.prefix(maxFacts)
            for item in items {
                facts.append(.init(id: String(facts.count + 1), kind: .triple, text: item.text, triple: item.triple,
                                   passage: nil, answerNames: item.names, score: item.score))
            }
            for (key, score) in ranked where facts.count < maxFacts {
                let triple = try kb.resolve(db, s: key[0], p: key[1], o: key[2])
                let subject = try kb.label(db, id: key[0], preferring: labelLanguages) ?? triple.subject.shortForm
                let predicate = try kb.label(db, id: key[1], preferring: labelLanguages) ?? triple.predicate.shortForm
                let object = triple.object.isLiteral ? triple.object.value : (try kb.label(db, id: key[2], preferring: labelLanguages) ?? triple.object.shortForm)
                var names = [object]
                if !triple.object.isLiteral { names += try String.fetchAll(db, sql: "SELECT label FROM labels WHERE term = ?", arguments: [key[2]]) }
                facts.append(.init(id: String(facts.count + 1), kind: .triple, text: "\(subject) | \(predicate) | \(object)",
                                   triple: triple, passage: nil, answerNames: names.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }, score: score))
            }
        }

        // Passages: none when the graph already has a fact about the relation asked for (a
        // loosely related passage then only distracts a small model). Otherwise the passages
        // come first (a small model favours the first items) and only facts about the linked
        // entities themselves follow them.
        let graphAnswers = facts.contains { $0.score >= 4 }
        var passages: [KnowledgeContext.Item] = []
        if !graphAnswers && maxPassages > 0 {
            for hit in try searchPassages(question, limit: maxPassages) {
                passages.append(.init(id: String(passages.count + 1), kind: .passage, text: hit.text, triple: nil,
                                      passage: hit, answerNames: [], score: hit.score))
            }
            facts = facts.filter { $0.score >= 3 }
            for i in facts.indices { facts[i].id = String(passages.count + i + 1) }
        }
        return KnowledgeContext(question: question, language: language, facts: facts, passages: passages, entities: entities)
    }

    /// Whether `text` contains `phrase` as whole words ("is a" is not in "is also"); Chinese
    /// and Japanese phrases, written without spaces, match anywhere.
    static func containsWord(_ text: String, _ phrase: String) -> Bool {
        if phrase.unicodeScalars.contains(where: CJKText.isCJK) { return text.contains(phrase) }
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: phrase, range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            if !(before?.isLetter ?? false) && !(before?.isNumber ?? false) && !(after?.isLetter ?? false) && !(after?.isNumber ?? false) {
                return true
            }
            searchRange = text.index(after: found.lowerBound)..<text.endIndex
        }
        return false
    }

    static func isComparison(_ q: String) -> Bool {
        ["more ", "larger", "bigger", "greater", "most ", "fewer", "smaller", "更多", "更大", "较多", "多于", "哪个", "哪一个", "还是", " or "].contains { q.contains($0) }
    }

    static func mentionsQuantity(_ q: String) -> Bool {
        ["populous", "people", "population", "inhabitants", "bigger", "larger", "人口", "人多"].contains { q.contains($0) }
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

    struct Mention { var id: Int64; var entity: LinkedEntity; var span: Range<Int> }

    /// Spans of the question that name entities: longest non-overlapping exact label or alias
    /// matches first; each span keeps its most important entity (population, then degree).
    func linkMentions(_ db: Database, question: String) throws -> [Mention] {
        let candidates = Self.candidateSpans(question)
        let lookup = try db.cachedStatement(sql: "SELECT term, label, preferred FROM labels WHERE label = ? COLLATE NOCASE LIMIT 20")
        let populationID = try TripleWriter.existingID(of: .iri("http://knowlm.dev/ontology/population"), in: db)
        var found: [(span: Range<Int>, text: String, term: Int64, preferred: Bool, importance: Double)] = []
        for (span, text) in candidates {
            for row in try Row.fetchAll(lookup, arguments: [text]) {
                let term: Int64 = row[0]
                // Relations and classes have labels too; only link things that have facts.
                let degree = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM triples WHERE s = ? LIMIT 50)", arguments: [term]) ?? 0
                let asPredicate = try Bool.fetchOne(db, sql: "SELECT 1 FROM triples WHERE p = ? LIMIT 1", arguments: [term]) ?? false
                if asPredicate || degree == 0 { continue }
                var population = 0.0
                if let populationID {
                    population = try Double.fetchOne(db, sql: "SELECT terms.number FROM triples JOIN terms ON terms.id = triples.o WHERE s = ? AND p = ?", arguments: [term, populationID]) ?? 0
                }
                let importance = log(1 + population) + log(1 + Double(degree))
                found.append((span, text, term, (row[2] as Int) == 1, importance))
            }
        }
        found.sort {
            if $0.span.count != $1.span.count { return $0.span.count > $1.span.count }
            if $0.importance != $1.importance { return $0.importance > $1.importance }
            return $0.preferred && !$1.preferred
        }
        var taken: [Range<Int>] = []
        var mentions: [Mention] = []
        for f in found where !taken.contains(where: { $0.overlaps(f.span) }) && !mentions.contains(where: { $0.id == f.term }) {
            taken.append(f.span)
            let label = try kb.label(db, id: f.term, preferring: ["en", ""]) ?? f.text
            let entity = LinkedEntity(term: try kb.term(db, id: f.term), label: label, matchedName: f.text,
                                      match: f.preferred ? .exact : .alias, score: Double(f.span.count) + f.importance / 100)
            mentions.append(Mention(id: f.term, entity: entity, span: f.span))
        }
        if mentions.isEmpty {
            // Nothing named exactly: fall back to full-text matches on labels.
            for entity in try kb.linkEntities(db, question, limit: 2) where entity.match == .fuzzy {
                if let id = try TripleWriter.existingID(of: entity.term, in: db) { mentions.append(Mention(id: id, entity: entity, span: 0..<0)) }
            }
        }
        return mentions.sorted { $0.entity.score > $1.entity.score }
    }

    /// Word n-grams (English) and CJK substrings that could be entity names, with their
    /// character ranges in the question.
    static func candidateSpans(_ question: String) -> [(Range<Int>, String)] {
        let chars = Array(question)
        var out: [(Range<Int>, String)] = []
        // Words: runs of letters, digits, hyphens, apostrophes and dots inside a word.
        var words: [(Range<Int>, String)] = []
        var i = 0
        while i < chars.count {
            if chars[i].isLetter && !chars[i].unicodeScalars.contains(where: CJKText.isCJK) || chars[i].isNumber {
                var j = i
                while j < chars.count, (chars[j].isLetter && !chars[j].unicodeScalars.contains(where: CJKText.isCJK)) || chars[j].isNumber
                        || ((chars[j] == "-" || chars[j] == "'" || chars[j] == "." || chars[j] == "’") && j + 1 < chars.count && chars[j + 1].isLetter) {
                    j += 1
                }
                var word = String(chars[i..<j])
                if word.hasSuffix("'s") || word.hasSuffix("’s") { word.removeLast(2) }
                words.append((i..<(i + word.count), word))
                i = j
            } else {
                i += 1
            }
        }
        for start in words.indices {
            for length in 1...5 where start + length <= words.count {
                let slice = words[start..<(start + length)]
                let text = question.isEmpty ? "" : String(chars[slice.first!.0.lowerBound..<slice.last!.0.upperBound])
                // A single word is a name only when capitalised or a number-free acronym-like token.
                if length == 1 && (englishStopwords.contains(text.lowercased()) || text.count < 2 || !(text.first?.isUppercase ?? false)) { continue }
                if length > 1 && !slice.contains(where: { $0.1.first?.isUppercase ?? false }) { continue }
                out.append((slice.first!.0.lowerBound..<slice.last!.0.upperBound, text))
                // Also the plain joined form when the original had punctuation between words.
                let joined = slice.map(\.1).joined(separator: " ")
                if joined != text { out.append((slice.first!.0.lowerBound..<slice.last!.0.upperBound, joined)) }
            }
        }
        // CJK runs: every substring of 2 to 8 characters.
        i = 0
        while i < chars.count {
            guard chars[i].unicodeScalars.contains(where: CJKText.isCJK) else { i += 1; continue }
            var j = i
            while j < chars.count && chars[j].unicodeScalars.contains(where: CJKText.isCJK) { j += 1 }
            for a in i..<j where a + 2 <= j {
                for b in (a + 2)...min(j, a + 8) { out.append((a..<b, String(chars[a..<b]))) }
            }
            i = j
        }
        return out
    }
}
