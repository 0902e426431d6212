import Foundation
import GRDB

/// Stage 1 of retrieval: the spans of a question that name entities of the knowledge base.
///
/// Case-insensitive: every word n-gram (and every CJK substring) is looked up among the labels
/// and aliases with `COLLATE NOCASE`. Longer spans win over the spans inside them; among the
/// entities one span names, the graph decides (the one with more edges and names). In a
/// question written with capitals, names must be capitalised and whole. Relations are never
/// linked as entities, and a class (a node that is only the object of `rdf:type`) is kept apart
/// from the topic entities.
struct EntityLinker {
    /// Longest entity name tried, in words.
    static let maxSpanWords = 6
    /// Longest CJK name tried, in characters.
    static let maxCJKLength = 8
    /// Entities kept per span when several share a name.
    static let entitiesPerSpan = 2

    struct Mention: Equatable {
        var id: Int64
        var entity: LinkedEntity
        /// Character offsets in the question (empty for a full-text guess).
        var span: Range<Int>
        /// Prominence: edges out of and into the entity (label triples excluded) plus its names,
        /// capped at `degreeCap`.
        var degree: Int
        /// Only the object of `rdf:type` edges: a class ("country", "film").
        var isClass: Bool
    }

    static let degreeCap = 1000
    /// Score of a mention: log(1 + degree), plus this when it is capitalised in the question
    /// (not as its first word), plus `perWordBonus` per word.
    static let capitalisedBonus = 2.0
    static let perWordBonus = 0.5

    let kb: KnowledgeBase

    /// `relationNames`: lower-cased names of the graph's relations; a span that is exactly one
    /// of them names the relation, not an entity.
    func link(_ db: Database, _ q: QuestionAnalysis, relationNames: Set<String> = []) throws -> [Mention] {
        let lookup = try db.cachedStatement(sql: "SELECT term, label, preferred FROM labels WHERE label = ? COLLATE NOCASE LIMIT 20")
        let skip = try kb.labelPredicateIDs(db)
        let typeID = try TripleWriter.existingID(of: .iri(RDFTerm.rdfType), in: db)
        var found: [(span: Range<Int>, term: Int64, name: String, preferred: Bool, degree: Int, isClass: Bool)] = []
        var degrees: [Int64: (Int, Bool)?] = [:]
        let runs = Self.capitalisedRuns(q)
        let chars = Array(q.question)
        let cased = chars.contains { $0.isUppercase }
        for (span, text) in Self.candidateSpans(q) where !relationNames.contains(text.lowercased()) {
            // In a question written with capitals, a name is capitalised and whole: "Miller" is
            // not linked inside "James Henry Miller", nor a lower-case word to a capitalised name.
            if runs.contains(where: { $0 != span && $0.lowerBound <= span.lowerBound && span.upperBound <= $0.upperBound }) { continue }
            let lowerInCasedQuestion = cased && chars[span.lowerBound].isLowercase
            for row in try Row.fetchAll(lookup, arguments: [text]) {
                if lowerInCasedQuestion, (row[1] as String).first?.isUppercase ?? false { continue }
                let term: Int64 = row[0]
                if degrees[term] == nil { degrees[term] = try Self.shape(db, term: term, skip: skip, typeID: typeID) }
                guard let shape = degrees[term] ?? nil else { continue }
                found.append((span, term, row[1], (row[2] as Int) == 1, shape.0, shape.1))
            }
        }
        // Longest span first; then entities before classes, the better-connected entity, and
        // a preferred label before an alias.
        found.sort {
            if $0.span.count != $1.span.count { return $0.span.count > $1.span.count }
            if $0.isClass != $1.isClass { return !$0.isClass }
            if $0.degree != $1.degree { return $0.degree > $1.degree }
            if $0.preferred != $1.preferred { return $0.preferred }
            return $0.term < $1.term
        }
        var taken: [Range<Int>] = []
        var perSpan: [Range<Int>: Int] = [:]
        var mentions: [Mention] = []
        for f in found {
            if mentions.contains(where: { $0.id == f.term }) { continue }
            if let count = perSpan[f.span] {
                if count >= Self.entitiesPerSpan { continue }
            } else if taken.contains(where: { $0.overlaps(f.span) }) {
                continue
            }
            taken.append(f.span)
            perSpan[f.span, default: 0] += 1
            let label = try kb.label(db, id: f.term, preferring: q.language == "zh" ? ["zh", "en", ""] : ["en", ""]) ?? f.name
            let rankInSpan = perSpan[f.span]! - 1
            let chars = Array(q.question)
            let capitalised = chars[f.span.lowerBound].isUppercase && !q.words.contains { $0.range.lowerBound == f.span.lowerBound && $0.range.lowerBound == 0 }
            let wordCount = q.words.filter { f.span.contains($0.range.lowerBound) }.count
            let score = log(1 + Double(f.degree)) + (capitalised ? Self.capitalisedBonus : 0)
                + Self.perWordBonus * Double(max(1, wordCount)) - Double(rankInSpan)
            mentions.append(Mention(id: f.term, entity: LinkedEntity(term: try kb.term(db, id: f.term), label: label, matchedName: f.name,
                                                                     match: f.preferred ? .exact : .alias, score: score),
                                    span: f.span, degree: f.degree, isClass: f.isClass))
        }
        if !mentions.contains(where: { !$0.isClass }) {
            // Nothing named exactly: full-text matches on labels, as guesses.
            // A guess differs from the question only in accents, punctuation or word order:
            // every word of the name is in the question ("Sao Paulo" for São Paulo, never
            // "Fort Henry" for "James Henry Miller").
            let questionWords = Set(q.words.map { Self.folded($0.text) })
            for entity in try kb.linkEntities(db, q.question, limit: 2) where entity.match == .fuzzy {
                let nameWords = QuestionAnalysis.words(entity.matchedName).filter { !$0.isFunctionWord }.map { Self.folded($0.text) }
                if nameWords.isEmpty || !nameWords.allSatisfy(questionWords.contains) { continue }
                guard let id = try TripleWriter.existingID(of: entity.term, in: db),
                      let shape = try Self.shape(db, term: id, skip: skip, typeID: typeID), !shape.1 else { continue }
                mentions.append(Mention(id: id, entity: entity, span: 0..<0, degree: shape.0, isClass: false))
            }
        }
        return mentions.sorted { $0.entity.score > $1.entity.score }
    }

    /// Character ranges of words next to a mention that name one of its classes (by label, or
    /// by the class's local name made readable): "the *country* Zambia", "the *city* of Perth",
    /// "Zambia, the *country*".
    func classWords(_ db: Database, _ q: QuestionAnalysis, mentions: [Mention], catalog: RelationCatalog) throws -> [Range<Int>] {
        guard let typeID = try TripleWriter.existingID(of: .iri(RDFTerm.rdfType), in: db) else { return [] }
        var out: [Range<Int>] = []
        for m in mentions where !m.isClass && !m.span.isEmpty {
            let classes = try Int64.fetchAll(db.cachedStatement(sql: "SELECT o FROM triples WHERE s = ? AND p = ? LIMIT 8"), arguments: [m.id, typeID])
            let classWords = classes.reduce(into: Set<String>()) { $0.formUnion(catalog.classWords(of: $1)) }
            guard !classWords.isEmpty else { continue }
            // The nearest content word on each side, across at most two function words
            // ("the city of Perth", "Istanbul is a city").
            let before = q.words.filter { $0.range.upperBound <= m.span.lowerBound }.reversed()
            let after = q.words.filter { $0.range.lowerBound >= m.span.upperBound }
            var neighbours: [QuestionAnalysis.Word] = []
            for side in [Array(before), after] {
                if let w = side.prefix(3).first(where: { !$0.isFunctionWord }) { neighbours.append(w) }
            }
            for w in neighbours where classWords.contains(where: { WordStem.related($0, w.text) }) { out.append(w.range) }
        }
        return out
    }

    /// Lower-cased, without accents.
    static func folded(_ word: String) -> String {
        word.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
    }

    /// Runs of capitalised words after the question's first word ("James Henry Miller",
    /// "Democratic Republic of the Congo": lower-case joining words inside a run are kept);
    /// empty for a question written in lower case.
    static func capitalisedRuns(_ q: QuestionAnalysis) -> [Range<Int>] {
        let chars = Array(q.question)
        let words = q.words
        func capital(_ w: QuestionAnalysis.Word) -> Bool { chars[w.range.lowerBound].isUppercase || chars[w.range.lowerBound].isNumber }
        let joining: Set<String> = ["of", "the", "de", "del", "da", "van", "von", "and", "la", "le", "du", "di", "al", "el", "bin", "for"]
        var runs: [Range<Int>] = []
        var i = 1
        while i < words.count {
            guard capital(words[i]) else { i += 1; continue }
            var j = i
            while j + 1 < words.count {
                if capital(words[j + 1]) { j += 1; continue }
                // Joining words between two capitalised ones.
                var k = j + 1
                while k < words.count && joining.contains(words[k].text) && !capital(words[k]) { k += 1 }
                if k < words.count && k > j + 1 && capital(words[k]) { j = k } else { break }
            }
            runs.append(words[i].range.lowerBound..<words[j].range.upperBound)
            i = j + 1
        }
        return runs
    }

    /// (degree, isClass) of a term, or nil when it is a relation or has no edges at all.
    static func shape(_ db: Database, term: Int64, skip: Set<Int64>, typeID: Int64?) throws -> (Int, Bool)? {
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM triples WHERE p = ? LIMIT 1"), arguments: [term]) ?? false {
            return nil
        }
        let outgoing = try Int64.fetchAll(db.cachedStatement(sql: "SELECT p FROM triples WHERE s = ? LIMIT \(degreeCap)"), arguments: [term])
            .filter { !skip.contains($0) }.count
        let incoming = try Int64.fetchAll(db.cachedStatement(sql: "SELECT p FROM triples WHERE o = ? LIMIT \(degreeCap)"), arguments: [term])
        let typed = incoming.filter { $0 == typeID }.count
        if outgoing + incoming.count == 0 { return nil }
        let isClass = outgoing == 0 && typed > 0 && typed == incoming.count
        // Prominence: edges, plus names (an entity named in many languages is the one usually
        // meant: Moscow in Russia rather than Moscow, Idaho).
        let names = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM labels WHERE term = ?"), arguments: [term]) ?? 0
        return (min(degreeCap, outgoing + incoming.count + names), isClass)
    }

    /// Word n-grams (up to `maxSpanWords`, not made only of function words) and CJK substrings,
    /// with their character ranges. Spans keep the question's own spelling and also a
    /// space-joined form when punctuation sat between the words.
    static func candidateSpans(_ q: QuestionAnalysis) -> [(Range<Int>, String)] {
        let chars = Array(q.question)
        let words = q.words
        var out: [(Range<Int>, String)] = []
        for start in words.indices {
            for length in 1...maxSpanWords where start + length <= words.count {
                let slice = words[start..<(start + length)]
                if slice.allSatisfy(\.isFunctionWord) { continue }
                if length == 1 && slice.first!.text.count < 2 { continue }
                let range = slice.first!.range.lowerBound..<slice.last!.range.upperBound
                let text = String(chars[range])
                out.append((range, text))
                let joined = slice.map { String(chars[$0.range]) }.joined(separator: " ")
                if joined != text { out.append((range, joined)) }
            }
        }
        var i = 0
        while i < chars.count {
            guard chars[i].unicodeScalars.contains(where: CJKText.isCJK) else { i += 1; continue }
            var j = i
            while j < chars.count && chars[j].unicodeScalars.contains(where: CJKText.isCJK) { j += 1 }
            for a in i..<j where a + 2 <= j {
                for b in (a + 2)...min(j, a + maxCJKLength) { out.append((a..<b, String(chars[a..<b]))) }
            }
            i = j
        }
        return out
    }
}
