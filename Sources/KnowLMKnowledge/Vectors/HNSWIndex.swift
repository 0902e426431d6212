import CKernels
import Foundation

/// Approximate nearest-neighbour search over unit vectors by inner product: a hierarchical
/// navigable small-world graph (Malkov & Yashunin, 2018), as hnswlib builds it: `M` links per
/// node on the upper layers and `2M` on layer 0, neighbours chosen by the diversity heuristic,
/// levels drawn with multiplier 1/ln(M).
///
/// Distances are `1 - q·v`. Labels are caller ids (chunk ids). Adds are incremental; `remove`
/// deletes a node for real: every node that linked to it re-selects its neighbours from its
/// remaining links plus the removed node's, and the last node moves into the freed slot.
/// The graph (not the vectors) serialises to a compact blob that `KnowledgeBase` stores next to
/// the embeddings it indexes.
///
/// Not thread-safe: callers serialise access (`KnowledgeBase` and `Retriever` do).
public final class HNSWIndex: VectorSearching {
    public struct Parameters: Sendable, Equatable {
        /// Links per node on the upper layers (layer 0 keeps twice as many).
        public var m: Int
        /// Candidate list size while inserting.
        public var efConstruction: Int
        public init(m: Int = 16, efConstruction: Int = 200) {
            self.m = m
            self.efConstruction = efConstruction
        }
    }

    public let dimension: Int
    public let parameters: Parameters
    /// Candidate list size while searching (at least k); higher is slower and more exact.
    public var efSearch = 128

    private var maxM: Int { parameters.m }
    private var maxM0: Int { parameters.m * 2 }
    private let levelMultiplier: Double

    public private(set) var count = 0
    private var capacity = 0
    private var vectors: UnsafeMutablePointer<Float>
    /// The same vectors in half precision: the graph walk reads these (half the memory traffic;
    /// the walk is bound by it), and the final candidates are re-ranked in float32.
    private var halfVectors: UnsafeMutablePointer<UInt16>
    private var labels: [Int64] = []
    private var levels: [Int32] = []
    /// Layer-0 links: per node `[count, id0, id1, ...]`, `maxM0 + 1` Int32s.
    private var links0: UnsafeMutablePointer<Int32>
    /// Upper-layer links: per node, `level` blocks of `maxM + 1` Int32s (layer 1 first).
    private var upper: [UnsafeMutablePointer<Int32>?] = []
    private var nodeOf: [Int64: Int32] = [:]
    private var entry: Int32 = -1
    private var maxLevel: Int32 = -1
    private var rng: UInt64

    // Search scratch (reused; the index is used from one thread at a time).
    private var visited: UnsafeMutablePointer<UInt32>
    private var visitEpoch: UInt32 = 0
    private var candidateHeap = CandidateHeap()
    private var resultHeap = CandidateHeap()
    private let freshIDs: UnsafeMutablePointer<Int32>
    private let freshDistances: UnsafeMutablePointer<Float>

    public init(dimension: Int, parameters: Parameters = Parameters(), seed: UInt64 = 100) {
        precondition(dimension > 0 && parameters.m >= 2 && parameters.efConstruction >= 1)
        self.dimension = dimension
        self.parameters = parameters
        levelMultiplier = 1 / log(Double(parameters.m))
        rng = seed
        vectors = .allocate(capacity: 1)
        halfVectors = .allocate(capacity: 1)
        links0 = .allocate(capacity: 1)
        visited = .allocate(capacity: 1)
        freshIDs = .allocate(capacity: parameters.m * 2 + 1)
        freshDistances = .allocate(capacity: parameters.m * 2 + 1)
        reserve(1024)
    }

    deinit {
        vectors.deallocate()
        halfVectors.deallocate()
        links0.deallocate()
        visited.deallocate()
        freshIDs.deallocate()
        freshDistances.deallocate()
        candidateHeap.free()
        resultHeap.free()
        for p in upper { p?.deallocate() }
    }

    public func contains(_ label: Int64) -> Bool { nodeOf[label] != nil }
    public var allLabels: [Int64] { Array(labels.prefix(count)) }

    // MARK: storage

    private func reserve(_ wanted: Int) {
        guard wanted > capacity else { return }
        let newCapacity = max(wanted, capacity * 2)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * dimension)
        v.update(from: vectors, count: count * dimension)
        vectors.deallocate()
        vectors = v
        let h = UnsafeMutablePointer<UInt16>.allocate(capacity: newCapacity * dimension)
        h.update(from: halfVectors, count: count * dimension)
        halfVectors.deallocate()
        halfVectors = h
        let stride = maxM0 + 1
        let l = UnsafeMutablePointer<Int32>.allocate(capacity: newCapacity * stride)
        l.update(from: links0, count: count * stride)
        links0.deallocate()
        links0 = l
        let t = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
        t.initialize(repeating: 0, count: newCapacity)
        visited.deallocate()
        visited = t
        visitEpoch = 0
        capacity = newCapacity
    }

    @inline(__always) private func vector(_ node: Int32) -> UnsafeMutablePointer<Float> {
        vectors + Int(node) * dimension
    }

    /// The link list of `node` on `layer`: `[count, ids...]`.
    @inline(__always) private func linkList(_ node: Int32, _ layer: Int) -> UnsafeMutablePointer<Int32> {
        layer == 0 ? links0 + Int(node) * (maxM0 + 1) : upper[Int(node)]! + (layer - 1) * (maxM + 1)
    }

    @inline(__always) private func distance(_ q: UnsafePointer<Float>, _ node: Int32) -> Float {
        1 - kl_dot_f32(q, vector(node), dimension)
    }

    /// Distance as the graph walk sees it (half-precision copy).
    @inline(__always) private func walkDistance(_ q: UnsafePointer<Float>, _ node: Int32) -> Float {
        var id = node, d: Float = 0
        kl_ip_distances_f16(q, halfVectors, dimension, &id, 1, &d)
        return d
    }

    /// Stores `v` as node `node` (both copies).
    private func store(_ node: Int32, _ v: UnsafePointer<Float>) {
        vector(node).update(from: v, count: dimension)
        kl_fp32_to_fp16_row(v, halfVectors + Int(node) * dimension, Int64(dimension))
    }

    private func randomLevel() -> Int32 {
        // SplitMix64 -> uniform in (0, 1]
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = (Double(z >> 11) + 1) / Double(1 << 53)
        return Int32(min(16, Int(-log(u) * levelMultiplier)))
    }

    private func nextEpoch() {
        visitEpoch &+= 1
        if visitEpoch == 0 {
            visited.update(repeating: 0, count: capacity)
            visitEpoch = 1
        }
    }

    // MARK: search

    /// Greedy descent on one layer (ef = 1).
    private func greedy(_ q: UnsafePointer<Float>, from start: Int32, layer: Int) -> Int32 {
        var current = start
        var best = walkDistance(q, current)
        var changed = true
        while changed {
            changed = false
            let list = linkList(current, layer)
            let n = Int(list[0])
            if n == 0 { break }
            kl_ip_distances_f16(q, halfVectors, dimension, list + 1, Int32(n), freshDistances)
            for i in 0..<n where freshDistances[i] < best {
                best = freshDistances[i]
                current = list[1 + i]
                changed = true
            }
        }
        return current
    }

    /// Best-first search of one layer from `entries`; returns up to `ef` nearest, closest first.
    private func searchLayer(_ q: UnsafePointer<Float>, entries: [Int32], ef: Int, layer: Int) -> [Candidate] {
        nextEpoch()
        let epoch = visitEpoch, visited = self.visited
        var candidates = candidateHeap   // closest on top
        var results = resultHeap         // farthest on top, at most ef
        candidates.removeAll()
        results.removeAll()
        defer { candidateHeap = candidates; resultHeap = results }
        for e in entries {
            let d = walkDistance(q, e)
            visited[Int(e)] = epoch
            candidates.push(Candidate(distance: -d, node: e))
            results.push(Candidate(distance: d, node: e))
        }
        while results.count > ef { results.pop() }
        let fresh = freshIDs, freshDistances = self.freshDistances
        let base = halfVectors, dim = dimension
        while candidates.count > 0 {
            let c = candidates.pop()
            if results.count >= ef && -c.distance > results.top.distance { break }
            let list = linkList(c.node, layer)
            let n = Int(list[0])
            var m = 0
            for i in 0..<n {
                let nb = list[1 + i]
                if visited[Int(nb)] != epoch {
                    visited[Int(nb)] = epoch
                    fresh[m] = nb
                    m += 1
                }
            }
            if m == 0 { continue }
            kl_ip_distances_f16(q, base, dim, fresh, Int32(m), freshDistances)
            for i in 0..<m {
                let d = freshDistances[i]
                if results.count < ef || d < results.top.distance {
                    candidates.push(Candidate(distance: -d, node: fresh[i]))
                    results.push(Candidate(distance: d, node: fresh[i]))
                    if results.count > ef { results.pop() }
                }
            }
        }
        var out = [Candidate](UnsafeBufferPointer(start: results.storage, count: results.count))
        out.sort { $0.distance < $1.distance }
        return out
    }

    /// The `k` nearest stored vectors to `query` (unit length), closest first, with their
    /// cosine similarity.
    public func search(_ query: [Float], k: Int) -> [(id: Int64, score: Float)] { search(query, k: k, ef: nil) }

    public func search(_ query: [Float], k: Int, ef: Int?) -> [(id: Int64, score: Float)] {
        guard count > 0, k > 0, query.count == dimension else { return [] }
        return query.withUnsafeBufferPointer { qb in
            let q = qb.baseAddress!
            var ep = entry
            var layer = Int(maxLevel)
            while layer > 0 {
                ep = greedy(q, from: ep, layer: layer)
                layer -= 1
            }
            // Re-rank the walk's candidates with the float32 vectors.
            var found = searchLayer(q, entries: [ep], ef: max(ef ?? efSearch, k), layer: 0)
            for i in found.indices { found[i].distance = distance(q, found[i].node) }
            found.sort { $0.distance < $1.distance }
            return found.prefix(k).map { (labels[Int($0.node)], 1 - $0.distance) }
        }
    }

    // MARK: insert

    /// hnswlib's neighbour heuristic: keep a candidate only if it is closer to the base than
    /// to every neighbour kept so far. `candidates` sorted closest first.
    private func selectNeighbors(_ candidates: [Candidate], max m: Int) -> [Candidate] {
        if candidates.count <= m { return candidates }
        var kept: [Candidate] = []
        kept.reserveCapacity(m)
        for c in candidates {
            let cv = vector(c.node)
            var good = true
            for s in kept where 1 - kl_dot_f32(cv, vector(s.node), dimension) < c.distance {
                good = false
                break
            }
            if good {
                kept.append(c)
                if kept.count >= m { break }
            }
        }
        return kept
    }

    private func setLinks(_ node: Int32, _ layer: Int, _ ids: [Int32]) {
        let list = linkList(node, layer)
        list[0] = Int32(ids.count)
        for (i, id) in ids.enumerated() { list[1 + i] = id }
    }

    /// Adds `node` to `other`'s links on `layer`, shrinking with the heuristic when full.
    private func link(_ other: Int32, to node: Int32, layer: Int) {
        let limit = layer == 0 ? maxM0 : maxM
        let list = linkList(other, layer)
        let n = Int(list[0])
        for i in 0..<n where list[1 + i] == node { return }
        if n < limit {
            list[1 + n] = node
            list[0] = Int32(n + 1)
            return
        }
        let base = vector(other)
        var candidates = [Candidate(distance: distance(base, node), node: node)]
        for i in 0..<n { candidates.append(Candidate(distance: distance(base, list[1 + i]), node: list[1 + i])) }
        candidates.sort { $0.distance < $1.distance }
        setLinks(other, layer, selectNeighbors(candidates, max: limit).map(\.node))
    }

    /// Adds a vector (unit length) under `label`; an existing label is replaced.
    public func add(_ label: Int64, _ v: [Float]) {
        precondition(v.count == dimension, "vector of \(v.count) values, index of \(dimension)")
        if nodeOf[label] != nil { remove(label) }
        reserve(count + 1)
        let node = Int32(count)
        v.withUnsafeBufferPointer { store(node, $0.baseAddress!) }
        let level = randomLevel()
        labels.append(label)
        levels.append(level)
        linkList(node, 0)[0] = 0
        if level > 0 {
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: Int(level) * (maxM + 1))
            p.initialize(repeating: 0, count: Int(level) * (maxM + 1))
            upper.append(p)
        } else {
            upper.append(nil)
        }
        nodeOf[label] = node
        count += 1
        guard entry >= 0 else {
            entry = node
            maxLevel = level
            return
        }
        let q = UnsafePointer(vector(node))
        var ep = entry
        var layer = Int(maxLevel)
        while layer > Int(level) {
            ep = greedy(q, from: ep, layer: layer)
            layer -= 1
        }
        var entries = [ep]
        for l in stride(from: min(Int(level), Int(maxLevel)), through: 0, by: -1) {
            let found = searchLayer(q, entries: entries, ef: parameters.efConstruction, layer: l).filter { $0.node != node }
            let chosen = selectNeighbors(found, max: maxM)
            setLinks(node, l, chosen.map(\.node))
            for c in chosen { link(c.node, to: node, layer: l) }
            entries = found.isEmpty ? entries : found.map(\.node)
        }
        if level > maxLevel {
            entry = node
            maxLevel = level
        }
    }

    // MARK: delete

    /// Removes `label` (no-op when absent). Nodes that linked to it re-select their
    /// neighbours from their other links and the removed node's links.
    public func remove(_ label: Int64) {
        guard let x = nodeOf[label] else { return }
        let xLevel = Int(levels[Int(x)])
        for layer in 0...xLevel {
            let xList = linkList(x, layer)
            let xLinks = (0..<Int(xList[0])).map { xList[1 + $0] }.filter { $0 != x }
            for y in 0..<Int32(count) where y != x && Int(levels[Int(y)]) >= layer {
                let list = linkList(y, layer)
                let n = Int(list[0])
                guard (0..<n).contains(where: { list[1 + $0] == x }) else { continue }
                var ids = Set((0..<n).map { list[1 + $0] })
                ids.remove(x)
                for z in xLinks where z != y { ids.insert(z) }
                let base = vector(y)
                var candidates = ids.map { Candidate(distance: distance(base, $0), node: $0) }
                candidates.sort { $0.distance < $1.distance }
                setLinks(y, layer, selectNeighbors(candidates, max: layer == 0 ? maxM0 : maxM).map(\.node))
            }
        }
        // New entry point if needed: a remaining node of the highest level.
        if entry == x {
            entry = -1
            maxLevel = -1
            for y in 0..<Int32(count) where y != x && levels[Int(y)] > maxLevel {
                entry = y
                maxLevel = levels[Int(y)]
            }
        }
        // Move the last node into x's slot.
        let last = Int32(count - 1)
        upper[Int(x)]?.deallocate()
        upper[Int(x)] = nil
        nodeOf[label] = nil
        if x != last {
            vector(x).update(from: vector(last), count: dimension)
            (halfVectors + Int(x) * dimension).update(from: halfVectors + Int(last) * dimension, count: dimension)
            (links0 + Int(x) * (maxM0 + 1)).update(from: links0 + Int(last) * (maxM0 + 1), count: maxM0 + 1)
            upper[Int(x)] = upper[Int(last)]
            labels[Int(x)] = labels[Int(last)]
            levels[Int(x)] = levels[Int(last)]
            nodeOf[labels[Int(x)]] = x
            for y in 0..<Int32(last) {
                for layer in 0...Int(levels[Int(y)]) {
                    let list = linkList(y, layer)
                    for i in 0..<Int(list[0]) where list[1 + i] == last { list[1 + i] = x }
                }
            }
            if entry == last { entry = x }
        }
        upper.removeLast()
        labels.removeLast()
        levels.removeLast()
        count -= 1
    }

    // MARK: persistence

    /// Nodes whose vector `fill` has set since `restore` (nil outside a restore).
    private var filled: [Bool]?

    /// Sets the vector of a restored node; false when the graph has no such label.
    @discardableResult
    public func fill(_ label: Int64, _ v: [Float]) -> Bool {
        guard let node = nodeOf[label], v.count == dimension else { return false }
        v.withUnsafeBufferPointer { store(node, $0.baseAddress!) }
        filled?[Int(node)] = true
        return true
    }

    /// Removes the restored nodes that `fill` did not reach; returns how many.
    @discardableResult
    public func dropUnfilled() -> Int {
        guard let filled else { return 0 }
        self.filled = nil
        let gone = filled.indices.filter { !filled[$0] }.map { labels[$0] }
        for label in gone { remove(label) }
        return gone.count
    }

    private static let magic: [UInt8] = Array("KLHNSW01".utf8)

    /// The graph without the vectors: parameters, labels, levels and links.
    public func serializedGraph() -> Data {
        var out = Data()
        out.reserveCapacity(64 + count * (12 + 4 * (maxM0 + 1)))
        out.append(contentsOf: Self.magic)
        func put32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func put64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put32(Int32(dimension)); put32(Int32(parameters.m)); put32(Int32(parameters.efConstruction))
        put32(Int32(count)); put32(entry); put32(maxLevel); put64(rng)
        for i in 0..<count {
            put64(UInt64(bitPattern: labels[i]))
            put32(levels[i])
        }
        for i in 0..<count {
            for layer in 0...Int(levels[i]) {
                let list = linkList(Int32(i), layer)
                let n = Int(list[0])
                put32(Int32(n))
                for j in 0..<n { put32(list[1 + j]) }
            }
        }
        return out
    }

    public enum LoadError: Error, CustomStringConvertible {
        case corrupt(String)
        public var description: String {
            switch self { case .corrupt(let why): return "vector index is damaged (\(why)); rebuild it with `knowlm kb index --rebuild`" }
        }
    }

    /// Restores a graph written by `serializedGraph()`, with zero vectors: `fill` each stored
    /// vector, then `dropUnfilled()` removes nodes whose vectors are gone.
    public static func restore(graph data: Data) throws -> HNSWIndex {
        var offset = 0
        func take(_ n: Int) throws -> Data {
            guard n >= 0, offset + n <= data.count else { throw LoadError.corrupt("truncated at byte \(offset)") }
            defer { offset += n }
            return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + n))
        }
        func get32() throws -> Int32 { Int32(littleEndian: try take(4).withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }) }
        func get64() throws -> UInt64 { UInt64(littleEndian: try take(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
        guard [UInt8](try take(8)) == magic else { throw LoadError.corrupt("unknown format") }
        let dimension = Int(try get32()), m = Int(try get32()), efC = Int(try get32()), n = Int(try get32())
        let entry = try get32(), maxLevel = try get32(), rng = try get64()
        guard (1...65536).contains(dimension), (2...512).contains(m), (1...100_000).contains(efC),
              n >= 0, n <= data.count / 12, entry >= -1, entry < n, maxLevel >= -1, maxLevel <= 16,
              (n == 0) == (entry == -1) else {
            throw LoadError.corrupt("bad header")
        }
        let index = HNSWIndex(dimension: dimension, parameters: Parameters(m: m, efConstruction: efC))
        index.rng = rng
        index.reserve(n)
        for i in 0..<n {
            let label = Int64(bitPattern: try get64())
            let level = try get32()
            guard (0...16).contains(level), level <= maxLevel, index.nodeOf[label] == nil else { throw LoadError.corrupt("bad node \(i)") }
            index.labels.append(label)
            index.levels.append(level)
            index.nodeOf[label] = Int32(i)
            if level > 0 {
                let p = UnsafeMutablePointer<Int32>.allocate(capacity: Int(level) * (m + 1))
                p.initialize(repeating: 0, count: Int(level) * (m + 1))
                index.upper.append(p)
            } else {
                index.upper.append(nil)
            }
        }
        index.count = n
        for i in 0..<n {
            for layer in 0...Int(index.levels[i]) {
                let k = Int(try get32())
                guard k >= 0, k <= (layer == 0 ? 2 * m : m) else { throw LoadError.corrupt("bad link count at node \(i)") }
                let list = index.linkList(Int32(i), layer)
                list[0] = Int32(k)
                for j in 0..<k {
                    let id = try get32()
                    guard id >= 0, id < n, Int(index.levels[Int(id)]) >= layer else { throw LoadError.corrupt("bad link at node \(i)") }
                    list[1 + j] = id
                }
            }
        }
        guard offset == data.count else { throw LoadError.corrupt("trailing bytes") }
        if n > 0 { guard index.levels[Int(entry)] == maxLevel else { throw LoadError.corrupt("bad entry point") } }
        index.entry = entry
        index.maxLevel = maxLevel
        index.vectors.update(repeating: 0, count: n * dimension)
        index.halfVectors.update(repeating: 0, count: n * dimension)
        index.filled = [Bool](repeating: false, count: n)
        return index
    }
}

private struct Candidate {
    var distance: Float
    var node: Int32
}

/// A binary max-heap on `distance` over manually managed storage (the search loop is hot:
/// no bounds or uniqueness checks). The candidate queue stores negated distances.
private struct CandidateHeap {
    private(set) var storage = UnsafeMutablePointer<Candidate>.allocate(capacity: 256)
    private var capacity = 256
    private(set) var count = 0

    func free() { storage.deallocate() }
    mutating func removeAll() { count = 0 }
    var top: Candidate { storage[0] }

    mutating func push(_ c: Candidate) {
        if count == capacity {
            let bigger = UnsafeMutablePointer<Candidate>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: storage, count: count)
            storage.deallocate()
            storage = bigger
            capacity *= 2
        }
        var i = count
        count += 1
        while i > 0 {
            let p = (i - 1) >> 1
            if storage[p].distance >= c.distance { break }
            storage[i] = storage[p]
            i = p
        }
        storage[i] = c
    }

    @discardableResult
    mutating func pop() -> Candidate {
        let first = storage[0]
        count -= 1
        if count > 0 {
            let last = storage[count]
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= count { break }
                var child = l
                if l + 1 < count && storage[l + 1].distance > storage[l].distance { child = l + 1 }
                if storage[child].distance <= last.distance { break }
                storage[i] = storage[child]
                i = child
            }
            storage[i] = last
        }
        return first
    }
}
