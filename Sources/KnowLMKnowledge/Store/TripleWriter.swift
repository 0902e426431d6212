import Foundation
import GRDB
import GRDBSQLite

/// Adds triples inside one write transaction, with a term-id cache and prepared statements
/// (the bulk-import hot path). Also keeps the entity-label index and provenance up to date.
/// The per-triple statements are bound and stepped through SQLite's C API (GRDB's argument
/// arrays cost more than the inserts themselves at hundreds of thousands of rows).
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
    /// Leave the full-text index of names alone: the caller rebuilds it from `labels` once all
    /// rows are in (`rebuildLabelIndex`), which a bulk import does in a fraction of the time.
    var defersLabelIndex = false

    /// Predicates whose literal objects name their subject (preferred names first).
    static let labelPredicates: [String: Bool] = [
        RDFTerm.rdfsLabel: true, RDFTerm.skosPrefLabel: true, RDFTerm.skosAltLabel: false,
        "http://schema.org/name": true, "http://xmlns.com/foaf/0.1/name": true,
        "http://schema.org/alternateName": false,
    ]

    init(_ db: Database) throws {
        self.db = db
        findTerm = try db.makeStatement(sql: "SELECT id FROM terms WHERE kind = ? AND value = ? AND datatype = ? AND lang = ?")
        insertTerm = try db.makeStatement(sql: "INSERT OR IGNORE INTO terms(kind, value, datatype, lang, number) VALUES (?, ?, ?, ?, ?)")
        insertTriple = try db.makeStatement(sql: "INSERT OR IGNORE INTO triples(s, p, o) VALUES (?, ?, ?)")
        insertProvenance = try db.makeStatement(sql: "INSERT OR IGNORE INTO provenance(s, p, o, source) VALUES (?, ?, ?, ?)")
        insertLabel = try db.makeStatement(sql: "INSERT OR IGNORE INTO labels(term, label, lang, preferred, cjk) VALUES (?, ?, ?, ?, ?)")
        insertLabelText = try db.makeStatement(sql: "INSERT INTO labels_fts(rowid, label, cjk) VALUES (?, ?, ?)")
    }

    /// Most terms the cache holds (~100 MB). Beyond it the cache starts over, and terms not in
    /// it are found by their key in SQLite: an import's memory does not grow with its file.
    static let cacheLimit = 500_000

    /// Sizes the term cache for about `terms` distinct terms (avoids rehashing during a bulk import).
    func expectTerms(_ terms: Int) { cache.reserveCapacity(min(terms, Self.cacheLimit)) }

    /// The id of `term`, adding it when new.
    func id(for term: RDFTerm) throws -> Int64 {
        if let id = cache[term] { return id }
        let (kind, value, datatype, lang) = Self.columns(term)
        // Insert first: for a new term (the common case in a bulk import) that is the only
        // lookup; an existing one is then found by its key.
        let insert = insertTerm.sqliteStatement
        sqlite3_bind_int64(insert, 1, Int64(kind))
        bindText(insert, 2, value)
        bindText(insert, 3, datatype)
        bindText(insert, 4, lang)
        if let number = term.numericValue { sqlite3_bind_double(insert, 5, number) } else { sqlite3_bind_null(insert, 5) }
        try step(insert)
        let id: Int64
        if sqlite3_changes(db.sqliteConnection) > 0 {
            id = sqlite3_last_insert_rowid(db.sqliteConnection)
        } else {
            findTerm.setUncheckedArguments([kind, value, datatype, lang])
            guard let found = try Int64.fetchOne(findTerm) else {
                throw KnowledgeBaseError.invalidArgument("term \(term) could not be stored")
            }
            id = found
        }
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[term] = id
        return id
    }

    private func bindText(_ statement: SQLiteStatement, _ index: Int32, _ text: String) {
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)  // SQLITE_TRANSIENT: SQLite copies
        var text = text
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress {
                    _ = sqlite3_bind_text(statement, index, base, Int32(chars.count), transient)
                } else {
                    _ = sqlite3_bind_text(statement, index, "", 0, transient)  // '' (NULL would bind SQL NULL)
                }
            }
        }
    }

    /// Runs a bound statement that returns no rows and resets it.
    private func step(_ statement: SQLiteStatement) throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
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
        let insert = insertTriple.sqliteStatement
        sqlite3_bind_int64(insert, 1, s)
        sqlite3_bind_int64(insert, 2, p)
        sqlite3_bind_int64(insert, 3, o)
        try step(insert)
        let isNew = sqlite3_changes(db.sqliteConnection) > 0
        if isNew { added += 1 }
        if let source {
            let provenance = insertProvenance.sqliteStatement
            sqlite3_bind_int64(provenance, 1, s)
            sqlite3_bind_int64(provenance, 2, p)
            sqlite3_bind_int64(provenance, 3, o)
            sqlite3_bind_int64(provenance, 4, source)
            try step(provenance)
        }
        if isNew, case .iri(let predicate) = triple.predicate, let preferred = Self.labelPredicates[predicate],
           case .literal(let label, _, let language) = triple.object {
            try addLabel(subject: s, label: label, language: language ?? "", preferred: preferred)
        }
        return isNew
    }

    func addLabel(subject: Int64, label: String, language: String, preferred: Bool) throws {
        let cjk = CJKText.indexTerms(label)
        let insert = insertLabel.sqliteStatement
        sqlite3_bind_int64(insert, 1, subject)
        bindText(insert, 2, label)
        bindText(insert, 3, language)
        sqlite3_bind_int64(insert, 4, preferred ? 1 : 0)
        bindText(insert, 5, cjk)
        try step(insert)
        if sqlite3_changes(db.sqliteConnection) > 0 && !defersLabelIndex {
            let text = insertLabelText.sqliteStatement
            sqlite3_bind_int64(text, 1, sqlite3_last_insert_rowid(db.sqliteConnection))
            bindText(text, 2, label)
            bindText(text, 3, cjk)
            try step(text)
        }
    }

    /// Builds the full-text index of names again from `labels`, all of it, in one pass.
    static func rebuildLabelIndex(_ db: Database) throws {
        try db.execute(sql: "INSERT INTO labels_fts(labels_fts) VALUES ('rebuild')")
    }

    /// Removes the name `id` from `labels` and from the full-text index (which, reading its text
    /// from `labels`, must be told the old text before the row goes).
    static func removeLabel(id: Int64, _ db: Database) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT label, cjk FROM labels WHERE id = ?", arguments: [id]) else { return }
        try db.execute(sql: "INSERT INTO labels_fts(labels_fts, rowid, label, cjk) VALUES ('delete', ?, ?, ?)",
                       arguments: [id, row[0] as String, row[1] as String])
        try db.execute(sql: "DELETE FROM labels WHERE id = ?", arguments: [id])
    }

    /// Records an import source; returns its id.
    static func addSource(kind: String, name: String, hash: String?, in db: Database) throws -> Int64 {
        try db.execute(sql: "INSERT INTO sources(kind, name, content_hash, created_at) VALUES (?, ?, ?, ?)",
                       arguments: [kind, name, hash, Date().timeIntervalSince1970])
        return db.lastInsertedRowID
    }
}
