import CKernels
import Foundation
import KnowLMCore

/// Weights of one decoder block.
struct LayerWeights: @unchecked Sendable {
    var attentionNorm: [Float]
    var query: WeightMatrix
    var key: WeightMatrix
    var value: WeightMatrix
    var output: WeightMatrix
    var queryBias: [Float]?
    var keyBias: [Float]?
    var valueBias: [Float]?
    var queryNorm: [Float]?
    var keyNorm: [Float]?
    var postAttentionNorm: [Float]?
    var feedForwardNorm: [Float]
    var gate: WeightMatrix
    var up: WeightMatrix
    var down: WeightMatrix
    var postFeedForwardNorm: [Float]?
}

/// All weights of a decoder-only transformer.
struct TransformerWeights: @unchecked Sendable {
    var tokenEmbedding: WeightMatrix
    var layers: [LayerWeights]
    var outputNorm: [Float]
    /// The LM head (the token embedding itself when tied).
    var output: WeightMatrix
    /// Llama 3 RoPE frequency factors (`rope_freqs.weight`), one per pair of dimensions.
    var ropeFrequencyFactors: [Float]?
}

/// Tokens that continue one sequence, in a pass over several (`Transformer.forward(_:scratch:…)`).
struct ForwardSegment {
    var tokens: ArraySlice<TokenID>
    var sequence: InferenceState
}

/// A decoder-only transformer: the forward pass shared by every supported architecture.
/// Architectures differ only in their `TransformerConfig` flags and in how their files name
/// tensors (see the files beside this one).
public final class Transformer: @unchecked Sendable {
    public let config: TransformerConfig
    let weights: TransformerWeights
    /// Receives intermediate tensors named as llama.cpp names them (`attn_norm-3`, `l_out-3`,
    /// `result_output`), for comparing a forward pass with llama.cpp's eval callback.
    public var trace: ((String, UnsafePointer<Float>, Int) -> Void)?

    init(config: TransformerConfig, weights: TransformerWeights) throws {
        try config.validate()
        self.config = config
        self.weights = weights
    }

    /// Runs `tokens` (at positions `state.length ..< state.length + tokens.count`) through the
    /// model, appending them to the KV cache, and writes the logits of the rows selected by
    /// `logitRows` (indices into `tokens`) into `logits` (`logitRows.count × vocabularySize`).
    func forward(_ tokens: ArraySlice<TokenID>, state: InferenceState, logitRows: [Int],
                 logits: UnsafeMutablePointer<Float>) throws {
        try forward([ForwardSegment(tokens: tokens, sequence: state)], scratch: state, logitRows: logitRows, logits: logits)
    }

    /// Runs several sequences in one pass: every segment's tokens continue its own sequence
    /// (its KV caches, at its own positions); the matrix products run once over all rows, RoPE,
    /// cache writes and attention per segment. `scratch` supplies the pass's buffers (it may be
    /// one of the sequences). `logitRows` index the concatenated rows.
    /// `packed`, when given, replaces the weights it holds in products of 2 or more rows
    /// (batched decoding; last-bit differences from the llama.cpp-order kernels).
    func forward(_ segments: [ForwardSegment], scratch state: InferenceState, logitRows: [Int],
                 logits: UnsafeMutablePointer<Float>, packed: PackedWeights? = nil) throws {
        let n = segments.reduce(0) { $0 + $1.tokens.count }
        guard n > 0 else { return }
        guard n <= state.scratchRows else {
            throw RuntimeError.invalidArgument("batch of \(n) tokens exceeds the batch capacity \(state.scratchRows)")
        }
        for segment in segments {
            let sequence = segment.sequence
            guard sequence.length + segment.tokens.count <= sequence.contextLength else {
                throw RuntimeError.promptTooLong(tokens: sequence.length + segment.tokens.count, context: sequence.contextLength)
            }
            guard segment.tokens.count <= sequence.batchCapacity, sequence.contextLength <= state.contextLength else {
                throw RuntimeError.invalidArgument("a segment of \(segment.tokens.count) tokens does not fit its sequence's cache (batch capacity \(sequence.batchCapacity))")
            }
        }
        var offsets: [Int] = []
        var rowCount = 0
        for segment in segments { offsets.append(rowCount); rowCount += segment.tokens.count }
        let c = config
        let dim = c.embeddingLength
        let matmul = MatMul(threads: state.threads, precision: state.precision, packed: packed)
        let tokens = segments.flatMap(\.tokens)

        // Embeddings.
        let x = state.residual
        for (j, token) in tokens.enumerated() {
            guard token >= 0 && Int(token) < weights.tokenEmbedding.rows else {
                throw RuntimeError.invalidArgument("token id \(token) is outside the vocabulary of \(weights.tokenEmbedding.rows)")
            }
            weights.tokenEmbedding.dequantizeRow(Int(token), into: x + j * dim)
            if let s = c.embeddingScale { VectorOps.scale(x + j * dim, by: s, count: dim) }
        }
        trace?("inp_scaled", x, n * dim)

        let qWidth = c.headCount * c.keyLength
        let kWidth = c.kvHeadCount * c.keyLength
        let vWidth = c.kvHeadCount * c.valueLength
        for (l, layer) in weights.layers.enumerated() {
            // Attention.
            let normed = state.normed
            for j in 0..<n {
                VectorOps.rmsNorm(x + j * dim, layer.attentionNorm, normed.floats + j * dim, count: dim, epsilon: c.normEpsilon)
            }
            normed.invalidate(rows: n)
            matmul(layer.query, normed, state.q, ldo: qWidth)
            trace?("attn_norm-\(l)", normed.floats, n * dim)
            matmul(layer.key, normed, state.k, ldo: kWidth)
            matmul(layer.value, normed, state.v, ldo: vWidth)
            if let b = layer.queryBias { addBias(b, state.q, rows: n, width: qWidth) }
            if let b = layer.keyBias { addBias(b, state.k, rows: n, width: kWidth) }
            if let b = layer.valueBias { addBias(b, state.v, rows: n, width: vWidth) }
            trace?("Vcur-\(l)", state.v, n * vWidth)
            if let w = layer.queryNorm { normalizeHeads(state.q, weight: w, heads: n * c.headCount) }
            if let w = layer.keyNorm { normalizeHeads(state.k, weight: w, heads: n * c.kvHeadCount) }
            trace?("Qcur_normed-\(l)", state.q, n * qWidth)
            trace?("Kcur_normed-\(l)", state.k, n * kWidth)
            let sliding = c.slidingLayers[l]
            let base = sliding ? (c.ropeBaseSlidingWindow ?? c.ropeBase) : c.ropeBase
            // Linear RoPE scaling applies to global layers only (Gemma 3 keeps local layers unscaled).
            let frequencyScale = sliding ? 1 : c.ropeFrequencyScale
            for (segment, offset) in zip(segments, offsets) {
                let rows = segment.tokens.count, position0 = segment.sequence.length
                applyRope(state.q + offset * qWidth, rows: rows, heads: c.headCount, position0: position0, base: base, frequencyScale: frequencyScale)
                applyRope(state.k + offset * kWidth, rows: rows, heads: c.kvHeadCount, position0: position0, base: base, frequencyScale: frequencyScale)
            }

            trace?("Qcur-\(l)", state.q, n * qWidth)
            trace?("Kcur-\(l)", state.k, n * kWidth)
            if c.scalesQueries { VectorOps.scale(state.q, by: c.attentionScale, count: n * qWidth) }
            if state.precision.emulatesLlamaCpp {
                // llama.cpp keeps K and V in half precision and converts queries to half for
                // the q·k products; round the same way so the logits agree.
                VectorOps.roundToHalf(state.q, count: n * qWidth)
                VectorOps.roundToHalf(state.k, count: n * kWidth)
                VectorOps.roundToHalf(state.v, count: n * vWidth)
            }
            for (segment, offset) in zip(segments, offsets) {
                let sequence = segment.sequence, rows = segment.tokens.count
                let cache = sequence.caches[l]
                cache.store(keys: state.k + offset * kWidth, values: state.v + offset * vWidth, rows: rows, position0: sequence.length)
                attention(cache: cache, state: state, contextLength: sequence.contextLength, rowOffset: offset, rows: rows,
                          position0: sequence.length, sliding: sliding)
            }

            let attended = state.attended
            attended.invalidate(rows: n)
            trace?("kqv_out-\(l)", attended.floats, n * c.headCount * c.valueLength)
            matmul(layer.output, attended, state.scratch, ldo: dim)
            if let w = layer.postAttentionNorm {
                for j in 0..<n { VectorOps.rmsNorm(state.scratch + j * dim, w, state.scratch + j * dim, count: dim, epsilon: c.normEpsilon) }
                trace?("attn_post_norm-\(l)", state.scratch, n * dim)
            }
            VectorOps.add(x, state.scratch, count: n * dim)
            trace?("sa_out-\(l)", x, n * dim)

            // Feed-forward.
            for j in 0..<n {
                VectorOps.rmsNorm(x + j * dim, layer.feedForwardNorm, normed.floats + j * dim, count: dim, epsilon: c.normEpsilon)
            }
            normed.invalidate(rows: n)
            let ffn = c.feedForwardLength
            matmul(layer.gate, normed, state.gate, ldo: ffn)
            matmul(layer.up, normed, state.up, ldo: ffn)
            let hidden = state.hidden
            switch (c.activation, state.precision) {
            case (.silu, _): VectorOps.swiglu(state.gate, state.up, hidden.floats, count: n * ffn)
            case (.geluTanh, .float32): VectorOps.gegluExact(state.gate, state.up, hidden.floats, count: n * ffn)
            case (.geluTanh, _): VectorOps.gegluTable(state.gate, state.up, hidden.floats, count: n * ffn)
            }
            hidden.invalidate(rows: n)
            trace?("ffn_geglu-\(l)", hidden.floats, n * ffn)
            matmul(layer.down, hidden, state.scratch, ldo: dim)
            trace?("ffn_out-\(l)", state.scratch, n * dim)
            if let w = layer.postFeedForwardNorm {
                for j in 0..<n { VectorOps.rmsNorm(state.scratch + j * dim, w, state.scratch + j * dim, count: dim, epsilon: c.normEpsilon) }
            }
            VectorOps.add(x, state.scratch, count: n * dim)
            trace?("l_out-\(l)", x, n * dim)
        }
        for segment in segments { segment.sequence.length += segment.tokens.count }

        // Output head, only for the rows asked for.
        guard !logitRows.isEmpty else { return }
        let head = state.headInput
        var done = 0
        while done < logitRows.count {
            let chunk = min(state.scratchRows, logitRows.count - done)
            for (i, row) in logitRows[done..<(done + chunk)].enumerated() {
                VectorOps.rmsNorm(x + row * dim, weights.outputNorm, head.floats + i * dim, count: dim, epsilon: c.normEpsilon)
            }
            head.invalidate(rows: chunk)
            trace?("result_norm", head.floats, chunk * dim)
            matmul(weights.output, head, logits + done * c.vocabularySize, ldo: c.vocabularySize)
            done += chunk
        }
    }

    private func addBias(_ bias: [Float], _ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        bias.withUnsafeBufferPointer { b in
            for j in 0..<rows { VectorOps.add(x + j * width, b.baseAddress!, count: width) }
        }
    }

    private func normalizeHeads(_ x: UnsafeMutablePointer<Float>, weight: [Float], heads: Int) {
        let d = config.keyLength
        weight.withUnsafeBufferPointer { w in
            for h in 0..<heads { VectorOps.rmsNorm(x + h * d, w.baseAddress!, x + h * d, count: d, epsilon: config.normEpsilon) }
        }
    }

    /// Rotary position embedding, computing angles as ggml does (iterated products in float).
    private func applyRope(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, position0: Int, base: Float,
                           frequencyScale: Float) {
        let d = config.keyLength
        let half = d / 2
        let thetaScale = powf(base, -2 / Float(d))
        var cosines = [Float](repeating: 0, count: half)
        var sines = [Float](repeating: 0, count: half)
        let factors = weights.ropeFrequencyFactors
        for j in 0..<rows {
            var theta = Float(position0 + j)
            for i in 0..<half {
                let angle = frequencyScale * theta / (factors?[i] ?? 1)
                cosines[i] = cosf(angle)
                sines[i] = sinf(angle)
                theta *= thetaScale
            }
            for h in 0..<heads {
                let v = x + (j * heads + h) * d
                switch config.ropeStyle {
                case .normal:
                    for i in 0..<half {
                        let a = v[2 * i], b = v[2 * i + 1]
                        v[2 * i] = a * cosines[i] - b * sines[i]
                        v[2 * i + 1] = a * sines[i] + b * cosines[i]
                    }
                case .neox:
                    // Fused multiply-adds where GCC contracts ggml's expressions, so the rotated
                    // values are bit-identical to llama.cpp's.
                    for i in 0..<half {
                        let a = v[i], b = v[i + half]
                        v[i] = (-b * sines[i]).addingProduct(a, cosines[i])
                        v[i + half] = (b * cosines[i]).addingProduct(a, sines[i])
                    }
                }
            }
        }
    }

    /// Scaled dot-product attention of the batch's queries over the cache, written into
    /// `state.attended`. The cache is used slot by slot in place (a ring for sliding-window
    /// layers); each slot's position decides the causal and window masks.
    /// Attention of the query rows `rowOffset ..< rowOffset + n` of `state` (one sequence, at
    /// positions from `position0`) over `cache`, written to the same rows of `state.attended`.
    private func attention(cache: KVCache, state: InferenceState, contextLength: Int, rowOffset: Int, rows n: Int,
                           position0: Int, sliding: Bool) {
        if state.precision.emulatesLlamaCpp {
            llamaCppAttention(cache: cache, state: state, contextLength: contextLength, rowOffset: rowOffset, rows: n,
                              position0: position0, sliding: sliding)
            return
        }
        let c = config
        let dk = c.keyLength, dv = c.valueLength
        let group = c.headCount / c.kvHeadCount
        let slots = cache.filledSlots
        let scores = state.scores
        let window = sliding ? (c.slidingWindow ?? Int.max) : Int.max
        let qStride = c.headCount * dk, kStride = c.kvHeadCount * dk, vStride = c.kvHeadCount * dv
        let outStride = c.headCount * dv
        let out = state.attended.floats + rowOffset * outStride, q = state.q + rowOffset * qStride
        for h in 0..<c.headCount {
            let g = h / group
            // scores (n × slots) = Q_h (n × dk) · K_gᵀ
            kl_sgemm(0, 1, Int32(n), Int32(slots), Int32(dk),
                        c.scalesQueries ? 1 : c.attentionScale, q + h * dk, Int32(qStride), cache.keys + g * dk, Int32(kStride),
                        0, scores, Int32(slots))
            for j in 0..<n {
                let p = position0 + j
                let row = scores + j * slots
                for s in 0..<slots {
                    let sp = cache.positions[s]
                    if sp < 0 || sp > p || p - sp >= window { row[s] = -.infinity }
                }
                VectorOps.softmax(row, count: slots)
            }
            // out_h (n × dv) = scores · V_g
            kl_sgemm(0, 0, Int32(n), Int32(dv), Int32(slots),
                        1, scores, Int32(slots), cache.values + g * dv, Int32(vStride),
                        0, out + h * dv, Int32(outStride))
        }
    }

    /// Attention computed by `kl_attention_llamacpp`: fp16 keys and values, llama.cpp's
    /// kernel choice by batch size, and its padded KV length (multiples of 256, at most the
    /// context), so the result is bit-identical to llama.cpp's.
    /// Whether llama.cpp's attention order is emulated bit for bit. Only the AVX-512 kernel
    /// does that at speed; elsewhere (AVX2 CPUs, where llama.cpp's own build sums in other
    /// orders too) the vectorised fp16 attention runs instead of a scalar emulation ~10x slower.
    /// `KNOWLM_EXACT_ATTENTION=1` forces the emulation (for checks against llama.cpp).
    static let exactAttention: Bool = kl_attention_llamacpp_is_fast() != 0
        || ProcessInfo.processInfo.environment["KNOWLM_EXACT_ATTENTION"] == "1"

    private func llamaCppAttention(cache: KVCache, state: InferenceState, contextLength: Int, rowOffset: Int, rows n: Int,
                                   position0: Int, sliding: Bool) {
        let c = config
        let dk = c.keyLength, dv = c.valueLength
        let group = c.headCount / c.kvHeadCount
        let slots = cache.filledSlots
        let used = position0 + n
        // Slots past `used` hold positions forgotten by a truncation (masked anyway); llama.cpp's
        // view covers the used cells only, padded to a multiple of 256.
        let active = min(slots, used)
        let padded = max(active, min(contextLength, max(256, (used + 255) / 256 * 256)))
        let window = sliding ? (c.slidingWindow ?? Int.max) : Int.max
        let mask = state.scores
        for j in 0..<n {
            let p = position0 + j
            for s in 0..<slots {
                let sp = cache.positions[s]
                mask[j * slots + s] = (sp < 0 || sp > p || p - sp >= window) ? -.infinity : 0
            }
        }
        let qStride = c.headCount * dk, kStride = c.kvHeadCount * dk, vStride = c.kvHeadCount * dv
        let scale = c.scalesQueries ? 1 : c.attentionScale
        let exact = Self.exactAttention
        let scratchSize = exact ? kl_attention_llamacpp_scratch_for(Int32(padded), Int32(dk), Int32(dv), Int32(n)) : max(1, 4 * active)
        // Work items: (head, block of query rows), or for long batches (kv head, block of rows)
        // so that the heads sharing a K/V head share its transposed V. Results do not depend
        // on the split.
        let rowBlock = max(1, min(n, 32))
        let blocks = (n + rowBlock - 1) / rowBlock
        let q = state.q + rowOffset * qStride, out = state.attended.floats + rowOffset * c.headCount * dv
        if exact, group > 1, blocks >= 4 {
            state.threads.parallelFor(c.kvHeadCount * blocks) { items in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize)
                defer { scratch.deallocate() }
                for item in items {
                    // Causal rows cost more the later they are, and each thread takes a
                    // contiguous range of items: pair the first block with the last, the second
                    // with the one before it, and so on, so the ranges weigh the same.
                    let g = item / blocks, i = item % blocks
                    let r0 = (i % 2 == 0 ? i / 2 : blocks - 1 - i / 2) * rowBlock
                    let rows = min(rowBlock, n - r0), h = g * group
                    kl_attention_llamacpp_heads(Int32(group), dk, dv, Int32(rows), Int32(active), Int32(padded), Int32(dk), Int32(dv),
                                                q + r0 * qStride + h * dk, qStride,
                                                cache.halfKeys + g * dk, kStride, cache.halfValues + g * dv, vStride,
                                                mask + r0 * slots, slots, scale, Int32(n),
                                                scratch, out + r0 * c.headCount * dv + h * dv, c.headCount * dv)
                }
            }
            return
        }
        state.threads.parallelFor(c.headCount * blocks) { items in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize)
            defer { scratch.deallocate() }
            for item in items {
                let h = item / blocks, r0 = item % blocks * rowBlock
                let rows = min(rowBlock, n - r0)
                let g = h / group
                guard exact else {
                    kl_attention_f16_fast(Int32(rows), Int32(active), Int32(dk), Int32(dv),
                                          q + r0 * qStride + h * dk, qStride,
                                          cache.halfKeys + g * dk, kStride, cache.halfValues + g * dv, vStride,
                                          mask + r0 * slots, slots, scale, scratch, out + r0 * c.headCount * dv + h * dv,
                                          c.headCount * dv)
                    continue
                }
                kl_attention_llamacpp(Int32(rows), Int32(active), Int32(padded), Int32(dk), Int32(dv),
                                      q + r0 * qStride + h * dk, qStride,
                                      cache.halfKeys + g * dk, kStride, cache.halfValues + g * dv, vStride,
                                      mask + r0 * slots, slots, scale, Int32(n),
                                      scratch, out + r0 * c.headCount * dv + h * dv, c.headCount * dv)
            }
        }
    }
}
