import CKernels
import Foundation
import GRDB

/// Nearest-neighbour search over stored vectors by inner product (cosine for unit vectors).
public protocol VectorSearching: AnyObject {
    var count: Int { get }
    /// The `k` most similar stored vectors, most similar first.
    func search(_ query: [Float], k: Int) -> [(id: Int64, score: Float)]
}

/// Exact nearest-neighbour search over all stored chunk embeddings: one BLAS matrix-vector
/// product per query. The reference that approximate indexes are measured against.
public final class ExactVectorIndex: VectorSearching, @unchecked Sendable {
    // @unchecked: immutable after construction.
    public let dimension: Int
    public let ids: [Int64]
    let matrix: [Float]

    public init(ids: [Int64], vectors: [[Float]], dimension: Int) {
        self.dimension = dimension
        self.ids = ids
        var m = [Float]()
        m.reserveCapacity(ids.count * dimension)
        for v in vectors { m += v }
        matrix = m
    }

    /// Loads every embedding of `model` from the knowledge base.
    public static func load(from kb: KnowledgeBase, model: String) throws -> ExactVectorIndex {
        guard kl_blas_load() == 0 else { throw KnowledgeBaseError.invalidArgument(String(cString: kl_blas_error())) }
        return try kb.pool.read { db in
            var ids: [Int64] = []
            var vectors: [[Float]] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT chunk, vector FROM embeddings WHERE model = ? ORDER BY chunk", arguments: [model])
            while let row = try rows.next() {
                ids.append(row[0])
                vectors.append(VectorCodec.decode(row[1]))
            }
            return ExactVectorIndex(ids: ids, vectors: vectors, dimension: vectors.first?.count ?? 0)
        }
    }

    public var count: Int { ids.count }

    /// The `k` most similar stored vectors by inner product (cosine for unit vectors).
    public func search(_ query: [Float], k: Int) -> [(id: Int64, score: Float)] {
        guard count > 0, query.count == dimension else { return [] }
        var scores = [Float](repeating: 0, count: count)
        kl_sgemv(0, Int32(count), Int32(dimension), 1, matrix, Int32(dimension),
                    query, 1, 0, &scores, 1)
        return topK(scores, k: k).map { (ids[$0.0], $0.1) }
    }

    func topK(_ scores: [Float], k: Int) -> [(Int, Float)] {
        var best: [(Int, Float)] = []
        best.reserveCapacity(k + 1)
        for (i, s) in scores.enumerated() {
            if best.count == k, let last = best.last, s <= last.1 { continue }
            let position = best.firstIndex { $0.1 < s } ?? best.count
            best.insert((i, s), at: position)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
