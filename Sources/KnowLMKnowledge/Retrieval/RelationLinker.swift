import Foundation
import GRDB
import KnowLMCore

/// The relations of a knowledge base, with the names a question may use for them and the kind
/// of value they hold. Read once per retriever (the predicates are few even in large graphs).
final class RelationCatalog: @unchecked Sendable {
    // @unchecked: immutable after init except `embeddings`, filled once under `lock`.
    enum ValueKind: String { case entity, number, time, text }

    struct Relation {
        var id: Int64
        /// Labels in every language, and the local name made readable.
        var names: [String]
        /// What prompts show: the English (or any) label, else the readable local name.
        var display: String
        var displayZh: String
        var valueKind: ValueKind
    }

    let relations: [Relation]
    let byID: [Int64: Int]
    private var embeddings: [[[Float]]]?
    private let lock = NSLock()

    init(_ db: Database, kb: KnowledgeBase) throws {
        let skip = try kb.labelPredicateIDs(db)
        let typeID = try TripleWriter.existingID(of: .iri(RDFTerm.rdfType), in: db)
        // Distinct predicates by index seeks (one per predicate, not a scan of the triples).
        let ids = try Int64.fetchAll(db, sql: """
            WITH RECURSIVE ps(p) AS (SELECT MIN(p) FROM triples
              UNION ALL SELECT (SELECT MIN(p) FROM triples WHERE p > ps.p) FROM ps WHERE ps.p IS NOT NULL)
            SELECT p FROM ps WHERE p IS NOT NULL
            """)
        var relations: [Relation] = []
        for id in ids where !skip.contains(id) && id != typeID {
            let term = try kb.term(db, id: id)
            let labels = try Row.fetchAll(db, sql: "SELECT label, lang FROM labels WHERE term = ? ORDER BY preferred DESC, id", arguments: [id])
            let readable = Self.readable(localName: term.value)
            var names = labels.map { $0[0] as String }
            if !readable.isEmpty && !names.contains(where: { $0.lowercased() == readable }) { names.append(readable) }
            let english = labels.first { ($0[1] as String) == "en" || ($0[1] as String) == "" }.map { $0[0] as String }
            let chinese = labels.first { ($0[1] as String) == "zh" }.map { $0[0] as String }
            let display = english ?? (readable.isEmpty ? term.shortForm : readable)
            relations.append(Relation(id: id, names: names, display: display, displayZh: chinese ?? display,
                                      valueKind: try Self.valueKind(db, predicate: id)))
        }
        self.relations = relations
        byID = Dictionary(uniqueKeysWithValues: relations.enumerated().map { ($1.id, $0) })
        // Classes: the distinct objects of rdf:type (index seeks, one per class), with their
        // labels and readable local names, as lower-case words.
        var classes: [(id: Int64, words: [[String]])] = []
        if let typeID {
            let ids = try Int64.fetchAll(db, sql: "WITH RECURSIVE cs(o) AS (SELECT MIN(o) FROM triples WHERE p = ?1 "
                + "UNION ALL SELECT (SELECT MIN(o) FROM triples WHERE p = ?1 AND o > cs.o) FROM cs WHERE cs.o IS NOT NULL) "
                + "SELECT o FROM cs WHERE o IS NOT NULL LIMIT \(Self.maxClasses)", arguments: [typeID])
            for id in ids {
                var names = try String.fetchAll(db, sql: "SELECT label FROM labels WHERE term = ?", arguments: [id])
                names.append(Self.readable(localName: try kb.term(db, id: id).value))
                classes.append((id, names.map { QuestionAnalysis.words($0).map(\.text).filter { !QuestionAnalysis.functionWords.contains($0) } }.filter { !$0.isEmpty }))
            }
        }
        self.classes = classes
        classWordsByID = Dictionary(classes.map { ($0.id, Set($0.words.joined())) }, uniquingKeysWith: { a, _ in a })
    }

    /// The words of a class's names (labels and readable local name), if it is a class.
    func classWords(of id: Int64) -> Set<String> { classWordsByID[id] ?? [] }
    private let classWordsByID: [Int64: Set<String>]

    /// Classes read at most.
    static let maxClasses = 2000
    /// Classes of the graph, each with its names as words.
    let classes: [(id: Int64, words: [[String]])]

    /// The class a question word names by the head (last word) of one of its names
    /// ("elements" → the class "chemical element"), if any.
    func classNamed(by words: [QuestionAnalysis.Word]) -> (id: Int64, word: QuestionAnalysis.Word)? {
        for w in words {
            for c in classes where c.words.contains(where: { $0.last.map { WordStem.related($0, w.text) } ?? false }) { return (c.id, w) }
        }
        return nil
    }

    subscript(id: Int64) -> Relation? { byID[id].map { relations[$0] } }

    /// Lower-cased names of all relations (a question span equal to one names a relation).
    var allNames: Set<String> { Set(relations.flatMap { $0.names.map { $0.lowercased() } }) }

    /// "directed_by", "birthPlace", "http://x/ontology/discoveredIn" → "directed by",
    /// "birth place", "discovered in".
    static func readable(localName iri: String) -> String {
        var local = Substring(iri)
        if let cut = iri.lastIndex(where: { $0 == "/" || $0 == "#" || $0 == ":" }) { local = iri[iri.index(after: cut)...] }
        var words: [String] = []
        var current = ""
        var previous: Character?
        for c in local {
            if c == "_" || c == "-" || c == " " || c == "." {
                if !current.isEmpty { words.append(current); current = "" }
            } else if c.isUppercase, let p = previous, p.isLowercase || p.isNumber {
                if !current.isEmpty { words.append(current) }
                current = String(c)
            } else {
                current.append(c)
            }
            previous = c
        }
        if !current.isEmpty { words.append(current) }
        return words.map { $0.lowercased() }.joined(separator: " ")
    }

    /// What a relation's objects are, from a sample of them: dates and years are `time`.
    static func valueKind(_ db: Database, predicate: Int64) throws -> ValueKind {
        let rows = try Row.fetchAll(db, sql: """
            SELECT terms.kind, terms.value, terms.datatype, terms.number FROM triples JOIN terms ON terms.id = triples.o
            WHERE triples.p = ? LIMIT 24
            """, arguments: [predicate])
        guard !rows.isEmpty else { return .entity }
        var entity = 0, number = 0, time = 0
        for row in rows {
            let kind: Int = row[0], value: String = row[1], datatype: String = row[2], n: Double? = row[3]
            if kind != 1 { entity += 1; continue }
            if datatype.hasSuffix("date") || datatype.hasSuffix("dateTime") || datatype.hasSuffix("gYear") || GraphValues.date(value) != nil {
                time += 1
            } else if let n {
                number += 1
                if n == n.rounded() && (1000...2100).contains(n) { time += 1 }
            }
        }
        if entity * 2 > rows.count { return .entity }
        if time == rows.count { return .time }
        if number + time >= rows.count / 2 + 1 { return .number }
        return .text
    }

    /// Embeddings of every relation's non-CJK names (computed on first use).
    func nameEmbeddings(_ embedder: any TextEmbedder) throws -> [[[Float]]] {
        lock.lock()
        defer { lock.unlock() }
        if let embeddings { return embeddings }
        var texts: [String] = []
        var owners: [Int] = []
        for (i, r) in relations.enumerated() {
            for name in r.names where !name.unicodeScalars.contains(where: CJKText.isCJK) {
                texts.append(name.lowercased()); owners.append(i)
            }
        }
        var result = [[[Float]]](repeating: [], count: relations.count)
        var start = 0
        while start < texts.count {
            let end = min(texts.count, start + 64)
            let vectors = try embedder.embed(Array(texts[start..<end]))
            for (k, v) in vectors.enumerated() { result[owners[start + k]].append(v) }
            start = end
        }
        embeddings = result
        return result
    }
}

/// Stage 2 of retrieval: how strongly the question asks for each relation, and which of its
/// words say so. A relation is asked for through its labels (the same words up to their
/// endings), through meaning (embedding similarity between the question's words and the
/// relation's names, for "money" → currency), and through what the question word wants (a
/// "when" wants a date, a "who" an entity).
struct RelationLinker {
    /// Similarity below this counts for nothing; at `embeddingFull` it counts as a label match.
    static let embeddingFloor: Float = 0.35
    static let embeddingFull: Float = 0.80
    /// A relation name's last word is a preposition the question also uses ("discovered by").
    static let prepositionBonus = 0.15
    /// The question word wants this kind of value.
    static let answerTypeBonus = 0.3
    static let answerTypePenalty = 0.3
    /// The bonus goes only to relations already scoring this much.
    static let answerTypeMinimum = 0.3
    /// Weight of the whole question's similarity to a relation name, added to every score.
    static let meaningTieBreak = 0.1

    struct Match {
        var relation: Int64
        var score: Double
        /// Character offsets of the question words that name the relation.
        var evidence: Set<Int>
        /// Every word of the relation's name occurs at least twice in the question (a chain may
        /// then take the relation twice: "the discoverer of X discovered …").
        var repeated = false
        /// Named by its words (same stem) rather than only by meaning.
        var lexical = false
    }

    let catalog: RelationCatalog
    let embedder: (any TextEmbedder)?

    func match(_ q: QuestionAnalysis, excluding spans: [Range<Int>]) throws -> [Int64: Match] {
        // Content words, and the dimensions the comparatives measure ("longer" → length).
        let content = q.contentWords(excluding: spans) + q.dimensionWords
        let allWords = Set(q.words.map(\.text))
        // Chinese: the question with entity names removed, matched by substring.
        let residualCJK = q.language == "zh" ? q.text(excluding: spans) : ""
        var wordVectors: [[Float]] = []
        var phraseVector: [Float]?
        var relationVectors: [[[Float]]] = []
        if let embedder, !content.isEmpty {
            let residual = q.text(excluding: spans)
            let vectors = try embedder.embed([residual.lowercased()] + content.map(\.text))
            phraseVector = vectors[0]
            wordVectors = Array(vectors.dropFirst())
            relationVectors = try catalog.nameEmbeddings(embedder)
        }
        var out: [Int64: Match] = [:]
        for (index, relation) in catalog.relations.enumerated() {
            var best = 0.0
            var evidence = Set<Int>()
            var repeated = false
            var lexical = false
            for name in relation.names {
                if name.unicodeScalars.contains(where: CJKText.isCJK) {
                    guard !residualCJK.isEmpty else { continue }
                    let (score, offsets) = Self.cjkMatch(name, in: q.question, residual: residualCJK, excluding: spans)
                    if score > best { best = score; evidence = offsets; lexical = score > 0 }
                    continue
                }
                let nameWords = QuestionAnalysis.words(name).map(\.text)
                var core = nameWords.filter { !QuestionAnalysis.functionWords.contains($0) }
                if core.isEmpty { core = nameWords }
                guard !core.isEmpty else { continue }
                var matched = 0
                var twice = 0
                var offsets = Set<Int>()
                for word in core {
                    // Every question word that names it is evidence.
                    let hits = content.filter { WordStem.related($0.text, word) }
                    if !hits.isEmpty { matched += 1 }
                    if hits.count >= 2 { twice += 1 }
                    for hit in hits { offsets.insert(hit.range.lowerBound) }
                }
                var score = Double(matched) / Double(core.count)
                if matched > 0, let last = nameWords.last, QuestionAnalysis.relationPrepositions.contains(last), allWords.contains(last) {
                    score += Self.prepositionBonus
                }
                if score > best { best = score; evidence = offsets; repeated = twice == core.count; lexical = matched > 0 }
            }
            var meaning = 0.0
            if let phraseVector, index < relationVectors.count {
                for vector in relationVectors[index] {
                    var bestWord: (Float, Int) = (-1, -1)
                    for (k, w) in wordVectors.enumerated() {
                        let s = Self.dot(w, vector)
                        if s > bestWord.0 { bestWord = (s, content[k].range.lowerBound) }
                    }
                    let phrase = Self.dot(phraseVector, vector)
                    // A word close to the name counts only as far as the whole question is too:
                    // "money" and "currency" in "what money do people pay with", but not
                    // "music" and "genre" in "who composed the music of".
                    let similarity = max(phrase, (bestWord.0 + phrase) / 2)
                    let score = Double(max(0, min(1, (similarity - Self.embeddingFloor) / (Self.embeddingFull - Self.embeddingFloor))))
                    meaning = max(meaning, Double(phrase))
                    if score > best {
                        best = score
                        // A word-level match names its word; a phrase-level one names none. A
                        // relation also named by its words keeps that evidence.
                        if !lexical { evidence = bestWord.1 >= 0 ? [bestWord.1] : [] }
                    }
                }
            }
            // Meaning also breaks ties between relations named by the same word ("who
            // discovered" is closer to "discovered by" than to "discovered in").
            best += Self.meaningTieBreak * max(0, meaning)
            // What the question word wants decides between relations the question names; it
            // does not make a relation asked for on its own.
            let adjustment = Self.typeAdjustment(q.answerType, relation)
            if adjustment < 0 || best >= Self.answerTypeMinimum { best += adjustment }
            if best > 0 { out[relation.id] = Match(relation: relation.id, score: best, evidence: evidence, repeated: repeated, lexical: lexical) }
        }
        return out
    }

    static func typeAdjustment(_ type: QuestionAnalysis.AnswerType, _ r: RelationCatalog.Relation) -> Double {
        switch (type, r.valueKind) {
        case (.person, .entity), (.place, .entity), (.time, .time), (.quantity, .number): return answerTypeBonus
        case (.person, _), (.place, _), (.time, _): return -answerTypePenalty
        default: return 0
        }
    }

    /// A Chinese relation name in the question (1), or the share of its characters found there
    /// (at most 0.8), with the offsets matched.
    static func cjkMatch(_ name: String, in question: String, residual: String, excluding spans: [Range<Int>]) -> (Double, Set<Int>) {
        let chars = Array(question)
        let target = Array(name)
        guard !target.isEmpty else { return (0, []) }
        func free(_ i: Int) -> Bool { !spans.contains { $0.contains(i) } }
        if target.count <= chars.count {
            for start in 0...(chars.count - target.count) where Array(chars[start..<(start + target.count)]) == target {
                // Evidence is where the name starts: one word, however many characters.
                if (start..<(start + target.count)).allSatisfy(free) { return (1, [start]) }
            }
        }
        var offsets = Set<Int>()
        for c in Set(target) where c.unicodeScalars.contains(where: CJKText.isCJK) {
            if let i = chars.indices.first(where: { chars[$0] == c && free($0) }) { offsets.insert(i) }
        }
        return (0.8 * Double(offsets.count) / Double(target.count), offsets.min().map { [$0] } ?? [])
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var s: Float = 0
        for i in 0..<min(a.count, b.count) { s += a[i] * b[i] }
        return s
    }
}

/// Reading values of the graph for comparisons.
enum GraphValues {
    /// "1969-07-20", "1969-07", "1969": a sortable number (year + fraction), or nil.
    static func date(_ text: String) -> Double? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts[0].count == 4, let year = Int(parts[0]) else { return nil }
        if parts.count == 1 { return nil }  // a bare year is a number, read as such
        let month = parts.count > 1 ? Int(parts[1].prefix(2)) ?? 1 : 1
        let day = parts.count > 2 ? Int(parts[2].prefix(2)) ?? 1 : 1
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        return Double(year) + Double(month - 1) / 12 + Double(day - 1) / 372
    }
}

/// A relation of the graph and the names it goes by.
public struct RelationInfo: Sendable, Equatable {
    public var term: RDFTerm
    /// What prompts show (the English label, else the readable local name).
    public var name: String
    /// Every label in every language, and the readable local name.
    public var names: [String]
}

extension KnowledgeBase {
    /// The relations (predicates other than labels and `rdf:type`) with their names.
    public func relations() throws -> [RelationInfo] {
        try pool.read { db in
            let catalog = try RelationCatalog(db, kb: self)
            return try catalog.relations.map { RelationInfo(term: try self.term(db, id: $0.id), name: $0.display, names: $0.names) }
        }
    }
}
