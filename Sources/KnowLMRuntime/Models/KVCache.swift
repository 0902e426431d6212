import Foundation
import CKernels
import KnowLMCore

/// Keys and values of one layer. A ring of `capacity` slots: position `p` lives in slot
/// `p % capacity`. Global layers get the whole context; sliding-window layers only the window
/// plus one batch, which is all their queries can see.
final class KVCache {
    let capacity: Int
    let keyWidth: Int
    let valueWidth: Int
    /// Whether keys and values are stored in half precision (as llama.cpp's F16 cache) in
    /// `halfKeys`/`halfValues` instead of `keys`/`values`.
    let half: Bool
    /// Float32 storage, `capacity` rows (empty when `half`).
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// Half-precision storage, `capacity` rows (empty unless `half`).
    let halfKeys: UnsafeMutablePointer<UInt16>
    let halfValues: UnsafeMutablePointer<UInt16>
    /// Position held by each slot, -1 when empty.
    private(set) var positions: [Int]
    /// Slots that have ever been written (they fill from 0 upwards).
    private(set) var filledSlots = 0

    init(capacity: Int, keyWidth: Int, valueWidth: Int, half: Bool = false) {
        self.capacity = capacity
        self.keyWidth = keyWidth
        self.valueWidth = valueWidth
        self.half = half
        let floatRows = half ? 0 : capacity, halfRows = half ? capacity : 0
        keys = .allocate(capacity: max(1, floatRows * keyWidth))
        keys.initialize(repeating: 0, count: max(1, floatRows * keyWidth))
        values = .allocate(capacity: max(1, floatRows * valueWidth))
        values.initialize(repeating: 0, count: max(1, floatRows * valueWidth))
        halfKeys = .allocate(capacity: max(1, halfRows * keyWidth))
        halfKeys.initialize(repeating: 0, count: max(1, halfRows * keyWidth))
        halfValues = .allocate(capacity: max(1, halfRows * valueWidth))
        halfValues.initialize(repeating: 0, count: max(1, halfRows * valueWidth))
        positions = [Int](repeating: -1, count: capacity)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
        halfKeys.deallocate()
        halfValues.deallocate()
    }

    func store(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows: Int, position0: Int) {
        for j in 0..<rows {
            let p = position0 + j
            let slot = p % capacity
            if half {
                kl_fp32_to_fp16_row(k + j * keyWidth, halfKeys + slot * keyWidth, Int64(keyWidth))
                kl_fp32_to_fp16_row(v + j * valueWidth, halfValues + slot * valueWidth, Int64(valueWidth))
            } else {
                (keys + slot * keyWidth).update(from: k + j * keyWidth, count: keyWidth)
                (values + slot * valueWidth).update(from: v + j * valueWidth, count: valueWidth)
            }
            positions[slot] = p
            filledSlots = max(filledSlots, slot + 1)
        }
    }

    /// Whether every position in `range` is still held.
    func holds(_ range: Range<Int>) -> Bool {
        range.allSatisfy { positions[$0 % capacity] == $0 }
    }

    /// Forgets positions from `length` on.
    func truncate(to length: Int) {
        for s in 0..<capacity where positions[s] >= length { positions[s] = -1 }
    }

    func copy(from other: KVCache) {
        precondition(other.half == half && other.capacity == capacity)
        if half {
            halfKeys.update(from: other.halfKeys, count: capacity * keyWidth)
            halfValues.update(from: other.halfValues, count: capacity * valueWidth)
        } else {
            keys.update(from: other.keys, count: capacity * keyWidth)
            values.update(from: other.values, count: capacity * valueWidth)
        }
        positions = other.positions
        filledSlots = other.filledSlots
    }
}

/// Everything one sequence needs while it runs: the KV caches, the tokens they hold and the
/// scratch buffers of the forward pass (allocated once, sized for a full batch).
final class InferenceState {
    let contextLength: Int
    let batchCapacity: Int
    let threads: ThreadCount
    let precision: Precision
    let caches: [KVCache]
    /// Tokens whose keys and values are in the caches.
    var tokens: [TokenID] = []
    /// Positions filled so far (equals `tokens.count`).
    var length = 0

    let residual: UnsafeMutablePointer<Float>
    let normed: ActivationBatch
    let attended: ActivationBatch
    let hidden: ActivationBatch
    let headInput: ActivationBatch
    let q: UnsafeMutablePointer<Float>
    let k: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    let scores: UnsafeMutablePointer<Float>
    /// Rows the scratch buffers hold (a forward pass using them runs at most this many).
    let scratchRows: Int
    private var allocations: [UnsafeMutablePointer<Float>] = []

    /// `scratchRows`: rows of the forward pass's buffers (default `batchCapacity`). A sequence
    /// whose passes run in another state's buffers (batched decoding) needs only its caches,
    /// which are still sized for segments of `batchCapacity` tokens.
    init(config c: TransformerConfig, contextLength: Int, batchCapacity: Int, threads: ThreadCount, precision: Precision,
         scratchRows: Int? = nil) {
        self.contextLength = contextLength
        self.batchCapacity = batchCapacity
        self.threads = threads
        self.precision = precision
        let kWidth = c.kvHeadCount * c.keyLength, vWidth = c.kvHeadCount * c.valueLength
        caches = (0..<c.layerCount).map { l in
            let capacity = c.slidingLayers[l] ? min(contextLength, (c.slidingWindow ?? contextLength) + batchCapacity) : contextLength
            return KVCache(capacity: capacity, keyWidth: kWidth, valueWidth: vWidth, half: precision.emulatesLlamaCpp)
        }
        var allocations: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            allocations.append(p)
            return p
        }
        let n = max(1, min(batchCapacity, scratchRows ?? batchCapacity))
        residual = buffer(n * c.embeddingLength)
        q = buffer(n * c.headCount * c.keyLength)
        k = buffer(n * kWidth)
        v = buffer(n * vWidth)
        gate = buffer(n * c.feedForwardLength)
        up = buffer(n * c.feedForwardLength)
        scratch = buffer(n * c.embeddingLength)
        let longestCache = caches.map(\.capacity).max() ?? contextLength
        scores = buffer(n * longestCache)
        self.scratchRows = n
        self.allocations = allocations
        normed = ActivationBatch(width: c.embeddingLength, capacity: n)
        attended = ActivationBatch(width: c.headCount * c.valueLength, capacity: n)
        hidden = ActivationBatch(width: c.feedForwardLength, capacity: n)
        headInput = ActivationBatch(width: c.embeddingLength, capacity: n)
    }

    deinit { for p in allocations { p.deallocate() } }

    /// Keeps the first `length` tokens and forgets the rest, if the caches still hold what the
    /// kept tokens need; otherwise starts over. Returns the length actually kept.
    @discardableResult
    func truncate(to length: Int, slidingWindow: Int?) -> Int {
        var keep = min(length, self.length)
        if keep > 0 {
            let needed = max(0, keep - (slidingWindow ?? keep))..<keep
            if !caches.allSatisfy({ $0.holds($0.capacity >= contextLength ? 0..<keep : needed) }) { keep = 0 }
        }
        for cache in caches { cache.truncate(to: keep) }
        tokens.removeLast(tokens.count - keep)
        self.length = keep
        return keep
    }

    func copy(from other: InferenceState) {
        for (a, b) in zip(caches, other.caches) { a.copy(from: b) }
        tokens = other.tokens
        length = other.length
    }
}
