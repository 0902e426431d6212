import Foundation
import GRDB
import KnowLMCore

/// A passage found by search.
public struct PassageHit: Sendable, Equatable {
    public var chunkID: Int64
    public var documentID: Int64
    public var documentTitle: String
    public var source: String
    public var text: String
    /// Higher is better (BM25 negated, or cosine similarity, or a fused score).
    public var score: Double
}

/// What an ingest did.
public struct IngestReport: Sendable, Equatable {
    public var documentsAdded = 0
    public var documentsUnchanged = 0
    public var documentsReplaced = 0
    public var chunks = 0
    public var seconds: Double = 0
}

extension KnowledgeBase {
    /// One document to store.
    public struct DocumentInput: Sendable {
        public var source: String
        public var title: String
        public var text: String
        public var format: String
        public init(source: String, title: String, text: String, format: String) {
            self.source = source; self.title = title; self.text = text; self.format = format
        }
    }

    /// Reads documents from files and folders (text, Markdown, HTML, JSONL with a `text`,
    /// `content` or `knowledge` field per line).
    public static func readDocuments(at url: URL) throws -> [DocumentInput] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw KnowledgeBaseError.notFound(url.path)
        }
        if isDirectory.boolValue {
            let items = (FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? [])
                .filter { TextExtraction.format(of: $0.path) != nil || $0.pathExtension.lowercased() == "jsonl" }
                .filter { !$0.hasDirectoryPath }
                .sorted { $0.path < $1.path }
            return try items.flatMap { try readDocuments(at: $0) }
        }
        let ext = url.pathExtension.lowercased()
        if ext == "jsonl" || ext == "ndjson" {
            var documents: [DocumentInput] = []
            let content = try String(contentsOf: url, encoding: .utf8)
            for (index, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any],
                      let text = (object["text"] ?? object["content"] ?? object["knowledge"]) as? String else {
                    throw KnowledgeBaseError.badLine(file: url.lastPathComponent, line: index + 1, reason: "expected a JSON object with a \"text\" field")
                }
                let id = (object["id"] as? String) ?? (object["id"] as? Int).map(String.init) ?? String(index + 1)
                documents.append(DocumentInput(source: "\(url.path)#\(id)", title: (object["title"] as? String) ?? "",
                                               text: text, format: "jsonl"))
            }
            return documents
        }
        guard let format = TextExtraction.format(of: url.path) else {
            throw KnowledgeBaseError.unsupportedFormat("\(url.lastPathComponent) (text, Markdown, HTML and JSONL are supported)")
        }
        let raw: String
        do { raw = try String(contentsOf: url, encoding: .utf8) } catch {
            throw KnowledgeBaseError.unsupportedFormat("\(url.lastPathComponent) is not UTF-8 text")
        }
        let text = TextExtraction.plainText(raw, format: format)
        return [DocumentInput(source: url.path, title: url.deletingPathExtension().lastPathComponent, text: text, format: format.rawValue)]
    }

    /// Stores documents: chunks them, indexes the chunks for full-text search and, with an
    /// embedder, stores their vectors and adds them to the model's HNSW index. Unchanged documents (same content hash) are skipped;
    /// a changed document from the same source replaces the old one. One transaction per call.
    /// `progress` gets (chunks embedded, chunks to embed) as the embedding goes; `indexProgress`
    /// the same for the vector index.
    public func ingest(_ documents: [DocumentInput], chunker: Chunker = Chunker(), embedder: (any TextEmbedder)? = nil,
                       progress: ((Int, Int) -> Void)? = nil,
                       indexProgress: ((Int, Int) -> Void)? = nil) throws -> IngestReport {
        let start = Date()
        var report = IngestReport()
        // Decide what is new before the expensive part (embedding), outside the write lock.
        let existing = try pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT content_hash FROM documents"))
        }
        struct Prepared { var input: DocumentInput; var hash: String; var chunks: [String]; var vectors: [[Float]]? }
        var prepared: [Prepared] = []
        var seen = Set<String>()
        for document in documents {
            let hash = SHA256.hex(Array((document.source + "\u{0}" + document.text).utf8))
            if existing.contains(hash) || !seen.insert(hash).inserted {
                report.documentsUnchanged += 1
            } else {
                var chunker = chunker
                if let embedder { chunker.countTokens = { embedder.tokenCount($0) } }
                prepared.append(Prepared(input: document, hash: hash, chunks: chunker.chunks(document.text), vectors: nil))
            }
        }
        if let embedder {
            let all = prepared.flatMap(\.chunks)
            var vectors: [[Float]] = []
            vectors.reserveCapacity(all.count)
            let batch = 64
            progress?(0, all.count)
            for start in stride(from: 0, to: all.count, by: batch) {
                let end = min(all.count, start + batch)
                vectors += try embedder.embed(Array(all[start..<end]))
                progress?(end, all.count)
            }
            var offset = 0
            for i in prepared.indices {
                prepared[i].vectors = Array(vectors[offset..<(offset + prepared[i].chunks.count)])
                offset += prepared[i].chunks.count
            }
        }
        try pool.write { db in
            let insertDocument = try db.makeStatement(sql: "INSERT INTO documents(source, title, format, content_hash, created_at) VALUES (?, ?, ?, ?, ?)")
            let insertChunk = try db.makeStatement(sql: "INSERT INTO chunks(document, ordinal, text, tokens) VALUES (?, ?, ?, ?)")
            let insertText = try db.makeStatement(sql: "INSERT INTO chunks_fts(rowid, text, cjk) VALUES (?, ?, ?)")
            let insertVector = try db.makeStatement(sql: "INSERT INTO embeddings(chunk, model, vector) VALUES (?, ?, ?)")
            for item in prepared {
                // A changed document replaces the old version from the same source.
                let old = try Int64.fetchAll(db, sql: "SELECT id FROM documents WHERE source = ?", arguments: [item.input.source])
                for id in old {
                    try db.execute(sql: "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE document = ?)", arguments: [id])
                    try db.execute(sql: "DELETE FROM documents WHERE id = ?", arguments: [id])
                    report.documentsReplaced += 1
                }
                insertDocument.setUncheckedArguments([item.input.source, item.input.title, item.input.format, item.hash, Date().timeIntervalSince1970])
                try insertDocument.execute()
                let documentID = db.lastInsertedRowID
                for (ordinal, text) in item.chunks.enumerated() {
                    insertChunk.setUncheckedArguments([documentID, ordinal, text, Chunker.approximateTokens(text)])
                    try insertChunk.execute()
                    let chunkID = db.lastInsertedRowID
                    insertText.setUncheckedArguments([chunkID, text, CJKText.indexTerms(text)])
                    try insertText.execute()
                    if let vectors = item.vectors, let name = embedder?.modelName {
                        insertVector.setUncheckedArguments([chunkID, name, VectorCodec.encode(vectors[ordinal])])
                        try insertVector.execute()
                    }
                    report.chunks += 1
                }
                report.documentsAdded += 1 - min(1, old.count)
            }
            // Keep every stored vector index in step (replaced documents removed their chunks).
            var models = Set(try String.fetchAll(db, sql: "SELECT model FROM vector_indexes"))
            if let name = embedder?.modelName, !prepared.isEmpty { models.insert(name) }
            for model in models.sorted() {
                _ = try syncVectorIndex(db, model: model, save: true) { done, total in indexProgress?(done, total) }
            }
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Full-text search over chunks (BM25; English words and Chinese bigrams).
    public func searchText(_ query: String, limit: Int = 10) throws -> [PassageHit] {
        guard let match = CJKText.matchExpression(query) else { return [] }
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT chunks.id, chunks.document, documents.title, documents.source, chunks.text, bm25(chunks_fts) AS rank
                FROM chunks_fts JOIN chunks ON chunks.id = chunks_fts.rowid JOIN documents ON documents.id = chunks.document
                WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?
                """, arguments: [match, limit]).map {
                PassageHit(chunkID: $0[0], documentID: $0[1], documentTitle: $0[2], source: $0[3], text: $0[4], score: -($0[5] as Double))
            }
        }
    }

    /// Chunks by id (for vector search results).
    func passages(_ db: Database, ids: [Int64]) throws -> [Int64: PassageHit] {
        guard !ids.isEmpty else { return [:] }
        var out: [Int64: PassageHit] = [:]
        let rows = try Row.fetchAll(db, sql: """
            SELECT chunks.id, chunks.document, documents.title, documents.source, chunks.text
            FROM chunks JOIN documents ON documents.id = chunks.document WHERE chunks.id IN (\(ids.map { _ in "?" }.joined(separator: ",")))
            """, arguments: StatementArguments(ids))
        for r in rows { out[r[0]] = PassageHit(chunkID: r[0], documentID: r[1], documentTitle: r[2], source: r[3], text: r[4], score: 0) }
        return out
    }
}

/// Float vectors as little-endian float32 BLOBs.
enum VectorCodec {
    static func encode(_ v: [Float]) -> Data { v.withUnsafeBufferPointer { Data(buffer: $0) } }
    static func decode(_ data: Data) -> [Float] {
        data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

extension KnowledgeBase.DocumentInput {
    /// A document sent as text in `format` (text, markdown or html; an upload), stored as its
    /// plain text.
    public init(source: String, title: String, raw: String, format: String) throws {
        guard let kind = TextExtraction.Format(rawValue: format) else {
            throw KnowledgeBaseError.unsupportedFormat("\(format) (text, markdown and html are supported)")
        }
        self.init(source: source, title: title, text: TextExtraction.plainText(raw, format: kind), format: kind.rawValue)
    }
}
