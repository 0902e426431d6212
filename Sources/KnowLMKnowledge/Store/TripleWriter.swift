import Foundation
import GRDB

/// Adds triples inside one write transaction, with a term-id cache and prepared statements
/// (the bulk-import hot path). Also keeps the entity-label index and provenance up to date.
final class TripleWriter {
    let db: Database
    private var cache: [RDFTerm: Int64] = [:]
    private let findTerm: Statement
    private let insertTerm: Statement
    private let insertTriple: Statement
    private let insertProvenance: Statement
    private let insertLabel: Statement
    private let insertLabelText: Statement
    private(set) var added = 0

    /// Predicates whose literal objects name their subject (preferred names first).
    static let labelPredicates: [String: Bool] = [
        RDFTerm.rdfsLabel: true, RDFTerm.skosPrefLabel: true, RDFTerm.skosAltLabel: false,
        "http://schema.org/name": true, "http://xmlns.com/foaf/0.1/name": true,
        "http://schema.org/alternateName": false,
    ]

    init(_ db: Database) throws {
        self.db = db
        findTerm = try db.makeStatement(sql: "SELECT id FROM terms WHERE kind = ? AND value = ? AND datatype = ? AND lang = ?")
        insertTerm = try db.makeStatement(sql: "INSERT INTO terms(kind, value, datatype, lang, number) VALUES (?, ?, ?, ?, ?)")
        insertTriple = try db.makeStatement(sql: "INSERT OR IGNORE INTO triples(s, p, o) VALUES (?, ?, ?)")
        insertProvenance = try db.makeStatement(sql: "INSERT OR IGNORE INTO provenance(s, p, o, source) VALUES (?, ?, ?, ?)")
        insertLabel = try db.makeStatement(sql: "INSERT OR IGNORE INTO labels(term, label, lang, preferred) VALUES (?, ?, ?, ?)")
        insertLabelText = try db.makeStatement(sql: "INSERT INTO labels_fts(rowid, label, cjk) VALUES (?, ?, ?)")
    }

    /// The id of `term`, adding it when new.
    func id(for term: RDFTerm) throws -> Int64 {
        if let id = cache[term] { return id }
        let (kind, value, datatype, lang) = Self.columns(term)
        findTerm.setUncheckedArguments([kind, value, datatype, lang])
        if let id = try Int64.fetchOne(findTerm) {
            cache[term] = id
            return id
        }
        insertTerm.setUncheckedArguments([kind, value, datatype, lang, term.numericValue])
        try insertTerm.execute()
        let id = db.lastInsertedRowID
        cache[term] = id
        return id
    }

    /// The id of `term` if the knowledge base has it (never adds).
    static func existingID(of term: RDFTerm, in db: Database) throws -> Int64? {
        let (kind, value, datatype, lang) = columns(term)
        return try Int64.fetchOne(db, sql: "SELECT id FROM terms WHERE kind = ? AND value = ? AND datatype = ? AND lang = ?",
                                  arguments: [kind, value, datatype, lang])
    }

    static func columns(_ term: RDFTerm) -> (Int, String, String, String) {
        switch term {
        case .iri(let v): return (0, v, "", "")
        case .blank(let v): return (2, v, "", "")
        case .literal(let v, let datatype, let language): return (1, v, datatype ?? "", language ?? "")
        }
    }

    static func term(kind: Int, value: String, datatype: String, lang: String) -> RDFTerm {
        switch kind {
        case 0: return .iri(value)
        case 2: return .blank(value)
        default: return .literal(value, datatype: datatype.isEmpty ? nil : datatype, language: lang.isEmpty ? nil : lang)
        }
    }

    /// Adds one triple; returns whether it was new. `source` records where it came from.
    @discardableResult
    func add(_ triple: Triple, source: Int64?) throws -> Bool {
        let s = try id(for: triple.subject), p = try id(for: triple.predicate), o = try id(for: triple.object)
        insertTriple.setUncheckedArguments([s, p, o])
        try insertTriple.execute()
        let isNew = db.changesCount > 0
        if isNew { added += 1 }
        if let source {
            insertProvenance.setUncheckedArguments([s, p, o, source])
            try insertProvenance.execute()
        }
        if isNew, case .iri(let predicate) = triple.predicate, let preferred = Self.labelPredicates[predicate],
           case .literal(let label, _, let language) = triple.object {
            try addLabel(subject: s, label: label, language: language ?? "", preferred: preferred)
        }
        return isNew
    }

    func addLabel(subject: Int64, label: String, language: String, preferred: Bool) throws {
        insertLabel.setUncheckedArguments([subject, label, language, preferred ? 1 : 0])
        try insertLabel.execute()
        if db.changesCount > 0 {
            insertLabelText.setUncheckedArguments([db.lastInsertedRowID, label, CJKText.indexTerms(label)])
            try insertLabelText.execute()
        }
    }

    /// Records an import source; returns its id.
    static func addSource(kind: String, name: String, hash: String?, in db: Database) throws -> Int64 {
        try db.execute(sql: "INSERT INTO sources(kind, name, content_hash, created_at) VALUES (?, ?, ?, ?)",
                       arguments: [kind, name, hash, Date().timeIntervalSince1970])
        return db.lastInsertedRowID
    }
}
