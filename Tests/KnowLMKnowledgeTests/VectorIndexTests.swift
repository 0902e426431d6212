import Foundation
import KnowLMRuntime
import Testing
@testable import KnowLMKnowledge

/// Unit vectors in clusters (like sentence embeddings: most of the space is empty).
private func clusteredVectors(count: Int, dimension: Int, clusters: Int, seed: UInt64) -> [[Float]] {
    var state = seed
    func uniform() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
    func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }
    let centres = (0..<clusters).map { _ in normalized((0..<dimension).map { _ in uniform() }) }
    return (0..<count).map { i in normalized(zip(centres[i % clusters], (0..<dimension).map { _ in uniform() }).map { $0 + 0.35 * $1 }) }
}

private func recall(_ index: HNSWIndex, _ exact: ExactVectorIndex, queries: [[Float]], k: Int, ef: Int) -> Double {
    var found = 0
    for q in queries {
        let truth = Set(exact.search(q, k: k).map(\.id))
        found += index.search(q, k: k, ef: ef).filter { truth.contains($0.id) }.count
    }
    return Double(found) / Double(queries.count * k)
}

struct VectorIndexTests {
    @Test func hnswFindsTheExactNeighbours() {
        let vectors = clusteredVectors(count: 4000, dimension: 48, clusters: 40, seed: 1)
        let index = HNSWIndex(dimension: 48)
        for (i, v) in vectors.enumerated() { index.add(Int64(i) + 1000, v) }
        let exact = ExactVectorIndex(ids: (0..<4000).map { Int64($0) + 1000 }, vectors: vectors, dimension: 48)
        let queries = clusteredVectors(count: 200, dimension: 48, clusters: 40, seed: 2)
        let r = recall(index, exact, queries: queries, k: 10, ef: 128)
        #expect(r >= 0.97, "recall@10 \(r)")
        // The closest hit of a stored vector is itself.
        #expect(index.search(vectors[17], k: 1).first?.id == 1017)
        #expect(index.count == 4000)
    }

    @Test func removedVectorsAreGoneAndTheRestStillFound() {
        let vectors = clusteredVectors(count: 2000, dimension: 32, clusters: 20, seed: 3)
        let index = HNSWIndex(dimension: 32)
        for (i, v) in vectors.enumerated() { index.add(Int64(i), v) }
        let removed = Set(stride(from: 0, to: 2000, by: 3).map { Int64($0) })
        for id in removed { index.remove(id) }
        index.remove(99_999)   // absent: no-op
        #expect(index.count == 2000 - removed.count)
        #expect(Set(index.allLabels) == Set((0..<2000).map { Int64($0) }).subtracting(removed))
        let kept = (0..<2000).filter { !removed.contains(Int64($0)) }
        let exact = ExactVectorIndex(ids: kept.map { Int64($0) }, vectors: kept.map { vectors[$0] }, dimension: 32)
        let queries = clusteredVectors(count: 100, dimension: 32, clusters: 20, seed: 4)
        for q in queries { #expect(index.search(q, k: 10, ef: 64).allSatisfy { !removed.contains($0.id) }) }
        let r = recall(index, exact, queries: queries, k: 10, ef: 128)
        #expect(r >= 0.95, "recall@10 after deleting a third: \(r)")
        // A removed label can come back; adding a present label replaces its vector.
        index.add(6, vectors[7])
        #expect(index.count == 2000 - removed.count + 1)
        index.add(5, vectors[8])
        #expect(index.count == 2000 - removed.count + 1)
        #expect(index.search(vectors[7], k: 2).map(\.id).contains(6))
        #expect(index.search(vectors[8], k: 2).map(\.id).contains(5))
    }

    @Test func graphRoundTripsAndDamagedGraphsAreRefused() throws {
        let vectors = clusteredVectors(count: 600, dimension: 16, clusters: 8, seed: 5)
        let index = HNSWIndex(dimension: 16)
        for (i, v) in vectors.enumerated() { index.add(Int64(i) * 7, v) }
        let blob = index.serializedGraph()
        let restored = try HNSWIndex.restore(graph: blob)
        for (i, v) in vectors.enumerated() where i != 10 { restored.fill(Int64(i) * 7, v) }
        #expect(restored.dropUnfilled() == 1)   // label 70 had no stored vector any more
        #expect(restored.count == 599 && !restored.contains(70))
        for q in vectors.prefix(50) {
            let a = index.search(q, k: 5, ef: 64).map(\.id).filter { $0 != 70 }
            let b = restored.search(q, k: 5, ef: 64).map(\.id)
            #expect(Array(a.prefix(4)) == Array(b.prefix(4)))
        }
        // Truncations and byte flips anywhere: refused with an error or restored; never a crash.
        var rng = SystemRandomNumberGenerator()
        var refused = 0
        for trial in 0..<300 {
            var damaged = blob
            if trial % 3 == 0 {
                damaged = damaged.prefix(Int.random(in: 0..<blob.count, using: &rng))
            } else {
                for _ in 0..<(1 + trial % 4) {
                    let at = trial % 2 == 0 ? Int.random(in: 0..<min(200, blob.count), using: &rng) : Int.random(in: 0..<blob.count, using: &rng)
                    damaged[at] ^= UInt8.random(in: 1...255, using: &rng)
                }
            }
            do {
                let r = try HNSWIndex.restore(graph: damaged)
                for (i, v) in vectors.enumerated() { r.fill(Int64(i) * 7, v) }
                r.dropUnfilled()
                _ = r.search(vectors[0], k: 5)
            } catch {
                refused += 1
                #expect("\(error)".contains("vector index is damaged"))
            }
        }
        #expect(refused > 0)
    }

    /// The product path: ingest with the real embedder keeps the stored index in step with the
    /// embeddings, through replacements, and search through it finds the passages.
    @Test func ingestMaintainsThePersistedIndex() throws {
        let scratch = try ScratchKnowledgeBase()
        let embedder = try BERTEmbedder(folder: URL(fileURLWithPath: ModelStore().resolve(ModelStore.defaultEmbedder)))
        let texts = [
            "The Eiffel Tower is a wrought-iron lattice tower in Paris.",
            "Mount Fuji is the highest mountain in Japan.",
            "The Amazon is the largest rainforest on Earth.",
            "长城是中国古代的军事防御工程。",
            "Photosynthesis converts light energy into chemical energy in plants.",
        ]
        let documents = texts.enumerated().map { KnowledgeBase.DocumentInput(source: "doc\($0.offset)", title: "", text: $0.element, format: "text") }
        // Progress counts chunks embedded, from 0 to all of them (a bar that ran ahead of the
        // work, counting documents chunked, sat at 90% through the whole embedding).
        var reports: [(Int, Int)] = []
        _ = try scratch.kb.ingest(documents, embedder: embedder, progress: { reports.append(($0, $1)) })
        #expect(reports.first.map { $0 == (0, 5) } == true && reports.last.map { $0 == (5, 5) } == true)
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 <= $1.0 && $0.1 == $1.1 })
        #expect(try scratch.kb.storedVectorIndex(model: embedder.modelName) == 5)
        var changed = documents[1]
        changed.text = "Kilimanjaro is the highest mountain in Africa."
        _ = try scratch.kb.ingest([changed], embedder: embedder)
        let stats = try scratch.kb.statistics()
        #expect(stats.embeddings == 5 && stats.indexedVectors == 5)
        let index = try #require(try scratch.kb.loadVectorIndex(model: embedder.modelName))
        #expect(index.count == 5)
        let q = try embedder.embed(["Which mountain is the tallest in Africa?"])[0]
        let top = try #require(index.search(q, k: 1).first)
        let passage = try scratch.kb.pool.read { db in try scratch.kb.passages(db, ids: [top.id]) }[top.id]
        #expect(passage?.text.contains("Kilimanjaro") == true)
        // A damaged stored graph is rebuilt from the embeddings, not trusted.
        try scratch.kb.pool.write { db in try db.execute(sql: "UPDATE vector_indexes SET graph = x'00'") }
        let report = try scratch.kb.updateVectorIndex(model: embedder.modelName)
        #expect(report.rebuilt && report.vectors == 5)
        #expect(try scratch.kb.integrityCheck() == "ok")
    }
}
