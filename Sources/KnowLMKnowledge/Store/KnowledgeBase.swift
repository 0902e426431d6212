import Foundation
import GRDB

/// One knowledge base: a single SQLite file (WAL) holding a triple store, documents with
/// full-text and vector search, and where every fact came from.
///
/// All writes happen in transactions: an import or ingest either lands whole or not at all,
/// even if the process is killed midway.
public final class KnowledgeBase: Sendable {
    public let url: URL
    let pool: DatabasePool

    /// Opens (creating if needed) the knowledge base at `url` and brings its schema up to date.
    public init(url: URL) throws {
        self.url = url
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        pool = try DatabasePool(path: url.path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// Default location: `$KNOWLM_HOME/kb/default.sqlite` (default `~/.cache/knowlm/kb/default.sqlite`).
    public static var defaultURL: URL {
        let home = ProcessInfo.processInfo.environment["KNOWLM_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/knowlm")
        return home.appendingPathComponent("kb/default.sqlite")
    }

    /// `PRAGMA integrity_check` and the name index's own check: "ok" when the file is sound.
    public func integrityCheck() throws -> String {
        let pages = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
        guard pages == "ok" else { return pages }
        // The full-text index of names reads its text from `labels`: check the two agree.
        do {
            try pool.write { db in try db.execute(sql: "INSERT INTO labels_fts(labels_fts) VALUES ('integrity-check')") }
        } catch {
            return "labels_fts: \(error)"
        }
        return "ok"
    }

    /// Counts of what the knowledge base holds.
    public struct Statistics: Sendable, Codable, Equatable {
        public var triples: Int
        public var terms: Int
        public var labelledEntities: Int
        public var sources: Int
        public var documents: Int
        public var chunks: Int
        public var embeddings: Int
        /// Vectors covered by the stored HNSW indexes (all models).
        public var indexedVectors: Int
    }

    public func statistics() throws -> Statistics {
        try pool.read { db in
            func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            return Statistics(
                triples: try count("SELECT COUNT(*) FROM triples"),
                terms: try count("SELECT COUNT(*) FROM terms"),
                labelledEntities: try count("SELECT COUNT(DISTINCT term) FROM labels"),
                sources: try count("SELECT COUNT(*) FROM sources"),
                documents: try count("SELECT COUNT(*) FROM documents"),
                chunks: try count("SELECT COUNT(*) FROM chunks"),
                embeddings: try count("SELECT COUNT(*) FROM embeddings"),
                indexedVectors: try count("SELECT COALESCE(SUM(vectors), 0) FROM vector_indexes"))
        }
    }
}
