import Foundation
import GRDB

/// The persisted HNSW index of each embedding model, kept in step with `embeddings`.
///
/// The graph lives in `vector_indexes` (one row per model); the vectors it needs are read back
/// from `embeddings`. It is derived data: `syncVectorIndex` brings a stored graph up to date
/// with the embeddings (adding new chunks, removing deleted ones), and rebuilds it when it is
/// missing or damaged, so an index can never disagree with the rows it indexes for long.
extension KnowledgeBase {
    /// What `syncVectorIndex` did.
    public struct VectorIndexReport: Sendable, Equatable {
        public var vectors = 0
        public var added = 0
        public var removed = 0
        public var rebuilt = false
        public var seconds: Double = 0
    }

    /// Models with stored embeddings.
    public func embeddingModels() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT model FROM embeddings ORDER BY model") }
    }

    /// Loads the stored graph of `model` (or a new one), fills its vectors from `embeddings`,
    /// removes nodes whose chunk is gone and adds chunks it lacks. `save` writes the result
    /// back (inside the caller's transaction when there is one).
    func syncVectorIndex(_ db: Database, model: String, rebuild: Bool = false,
                         parameters: HNSWIndex.Parameters = HNSWIndex.Parameters(), save: Bool,
                         progress: ((Int, Int) -> Void)? = nil) throws -> (HNSWIndex?, VectorIndexReport) {
        let start = Date()
        var report = VectorIndexReport()
        var index: HNSWIndex?
        if !rebuild, let blob = try Data.fetchOne(db, sql: "SELECT graph FROM vector_indexes WHERE model = ? AND kind = 'hnsw'", arguments: [model]) {
            index = try? HNSWIndex.restore(graph: blob)   // damaged: rebuilt below
        }
        report.rebuilt = index == nil
        var pending: [(Int64, [Float])] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT chunk, vector FROM embeddings WHERE model = ? ORDER BY chunk", arguments: [model])
        while let row = try rows.next() {
            let chunk: Int64 = row[0]
            let vector = VectorCodec.decode(row[1])
            if index == nil { index = HNSWIndex(dimension: vector.count, parameters: parameters) }
            if vector.count != index!.dimension {
                throw KnowledgeBaseError.invalidArgument("embeddings of \(model) have mixed dimensions (\(vector.count) and \(index!.dimension))")
            }
            if !index!.fill(chunk, vector) { pending.append((chunk, vector)) }
        }
        guard let index else {
            if save { try db.execute(sql: "DELETE FROM vector_indexes WHERE model = ?", arguments: [model]) }
            return (nil, report)
        }
        report.removed = index.dropUnfilled()
        for (i, (chunk, vector)) in pending.enumerated() {
            index.add(chunk, vector)
            if i % 1000 == 0 { progress?(i, pending.count) }
        }
        report.added = pending.count
        report.vectors = index.count
        if save && (report.added > 0 || report.removed > 0 || report.rebuilt) {
            try db.execute(sql: """
                INSERT INTO vector_indexes(model, kind, graph, vectors, updated_at) VALUES (?, 'hnsw', ?, ?, ?)
                ON CONFLICT(model) DO UPDATE SET kind = excluded.kind, graph = excluded.graph,
                    vectors = excluded.vectors, updated_at = excluded.updated_at
                """, arguments: [model, index.serializedGraph(), index.count, Date().timeIntervalSince1970])
        }
        report.seconds = Date().timeIntervalSince(start)
        return (index, report)
    }

    /// Brings the stored index of `model` up to date (or rebuilds it) in one transaction.
    @discardableResult
    public func updateVectorIndex(model: String, rebuild: Bool = false,
                                  parameters: HNSWIndex.Parameters = HNSWIndex.Parameters(),
                                  progress: ((Int, Int) -> Void)? = nil) throws -> VectorIndexReport {
        try pool.write { db in
            try syncVectorIndex(db, model: model, rebuild: rebuild, parameters: parameters, save: true, progress: progress).1
        }
    }

    /// The index of `model` for searching: the stored graph brought up to date in memory
    /// (nothing is written). Nil when the model has no embeddings.
    public func loadVectorIndex(model: String) throws -> HNSWIndex? {
        try pool.read { db in try syncVectorIndex(db, model: model, save: false).0 }
    }

    /// Whether a stored graph exists for `model`, and how many vectors it covers.
    public func storedVectorIndex(model: String) throws -> Int? {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT vectors FROM vector_indexes WHERE model = ?", arguments: [model]) }
    }
}
