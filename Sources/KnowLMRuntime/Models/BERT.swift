import CKernels
import Foundation
import KnowLMCore

/// A BERT sentence encoder (all-MiniLM-L6-v2 and other sentence-transformers BERT models):
/// post-norm transformer over WordPiece tokens, mean pooling over the tokens, unit length.
///
/// Sentences of a batch are stacked without padding, so every linear layer is one BLAS call
/// over all tokens of the batch; only attention runs per sentence. A batch is split into one
/// part per thread (balanced by tokens), each run with single-threaded BLAS: the layer norms,
/// GELU and attention parallelise with the matrix products, and no thread waits at a barrier.
///
/// `EmbeddingPrecision.bfloat16` runs the four linear layers of every block (nearly all the
/// arithmetic) with bfloat16 weights and activations and float32 sums (`kl_bf16_linear`,
/// AVX512_BF16), the rest in float32. Its vectors live in the same space as the float32 ones
/// (same model name): a knowledge base ingested with one can be searched with the other. On a
/// CPU without AVX512_BF16 the embedder stays float32 (`precision` says which one runs).
public final class BERTEmbedder: TextEmbedder, @unchecked Sendable {
    // @unchecked: weights are immutable after loading; scratch memory is per call.
    public let modelName: String
    public let dimension: Int
    public let maxTokens: Int
    public let tokenizer: WordPieceTokenizer
    let heads: Int
    let intermediate: Int
    let epsilon: Float
    let layers: [Layer]
    let wordEmbeddings: [Float]
    let positionEmbeddings: [Float]
    let tokenTypeEmbedding: [Float]
    let embeddingNorm: (weight: [Float], bias: [Float])
    let checkpoint: SafetensorsCheckpoint
    public let precision: EmbeddingPrecision

    struct Layer {
        var qkv: Dense            // (3·d) × d, rows: q then k then v
        var attentionOutput: Dense
        var attentionNorm: (weight: [Float], bias: [Float])
        var up: Dense
        var down: Dense
        var outputNorm: (weight: [Float], bias: [Float])
    }

    /// A linear layer, out = x Wᵀ + b, in float32 (BLAS) or bfloat16 (packed once at load).
    struct Dense {
        let outputs: Int, inputs: Int
        let weight: [Float]
        let bias: [Float]
        let bf16: [UInt16]?

        init(weight: [Float], bias: [Float], outputs: Int, inputs: Int, precision: EmbeddingPrecision) {
            self.outputs = outputs
            self.inputs = inputs
            self.bias = bias
            bf16 = precision == .bfloat16 ? Self.packed(weight, outputs: outputs, inputs: inputs) : nil
            self.weight = bf16 == nil ? weight : []
        }

        /// The weights rounded to bfloat16 in `kl_bf16_linear`'s layout; nil for sizes it cannot take.
        private static func packed(_ weight: [Float], outputs: Int, inputs: Int) -> [UInt16]? {
            var packed = [UInt16](repeating: 0, count: kl_bf16_packed_count(Int64(outputs), Int64(inputs)))
            return kl_bf16_pack(weight, Int64(outputs), Int64(inputs), &packed) == 0 ? packed : nil
        }

        /// out (rows × outputs) = input (rows × inputs) · Wᵀ + bias.
        func apply(_ input: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, scratch: inout [UInt16]) {
            if let packed = bf16 {
                let need = kl_bf16_scratch_count(Int64(inputs))
                if scratch.count < need { scratch = [UInt16](repeating: 0, count: need) }
                let status = kl_bf16_linear(input, Int64(rows), Int64(inputs), packed, bias, Int64(outputs), out, &scratch)
                precondition(status == 0, "bfloat16 weights packed on a CPU without AVX512_BF16")
                return
            }
            for r in 0..<rows { (out + r * outputs).update(from: bias, count: outputs) }
            kl_sgemm(0, 1, Int32(rows), Int32(outputs), Int32(inputs),
                     1, input, Int32(inputs), weight, Int32(inputs), 1, out, Int32(outputs))
        }
    }

    /// Loads a folder with `config.json`, `model.safetensors` and `vocab.txt`.
    public init(folder: URL, precision requested: EmbeddingPrecision = .float32) throws {
        let effectivePrecision: EmbeddingPrecision = requested == .bfloat16 && kl_bf16_available() == 0 ? .float32 : requested
        precision = effectivePrecision
        try BLAS.ensureLoaded()
        let configData: Data
        do { configData = try Data(contentsOf: folder.appendingPathComponent("config.json")) } catch {
            throw RuntimeError.cannotOpen(path: folder.appendingPathComponent("config.json").path, reason: "an embedder folder needs config.json")
        }
        guard let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
            throw RuntimeError.malformed(file: "config.json", reason: "not a JSON object")
        }
        guard (config["model_type"] as? String ?? "bert") == "bert" else {
            throw RuntimeError.unknownArchitecture(config["model_type"] as? String ?? "?")
        }
        func int(_ key: String) throws -> Int {
            guard let v = config[key] as? Int, v > 0 else { throw RuntimeError.missingMetadata("config.json: \(key)") }
            return v
        }
        dimension = try int("hidden_size")
        heads = try int("num_attention_heads")
        intermediate = try int("intermediate_size")
        let layerCount = try int("num_hidden_layers")
        let positions = try int("max_position_embeddings")
        epsilon = Float((config["layer_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-12)
        var maxSequence = positions
        if let sb = try? JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("sentence_bert_config.json"))) as? [String: Any],
           let m = sb["max_seq_length"] as? Int {
            maxSequence = min(m, positions)
        }
        maxTokens = maxSequence
        guard dimension % heads == 0 else { throw RuntimeError.invalidArgument("hidden size \(dimension) is not a multiple of \(heads) heads") }
        modelName = folder.lastPathComponent
        var lowercase = true
        if let tc = try? JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json"))) as? [String: Any],
           let flag = tc["do_lower_case"] as? Bool {
            lowercase = flag
        }
        tokenizer = try WordPieceTokenizer(vocabularyFile: folder.appendingPathComponent("vocab.txt"), lowercase: lowercase)
        let checkpoint = try SafetensorsCheckpoint(folder: folder)
        self.checkpoint = checkpoint

        let vocabularySize = try int("vocab_size")
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            let candidates = [name, "bert." + name]
            guard let (file, info) = candidates.lazy.compactMap({ checkpoint.tensor($0) }).first else { throw RuntimeError.missingTensor(name) }
            guard info.shape == shape else { throw RuntimeError.tensorShape(tensor: name, expected: shape, actual: info.shape) }
            guard let type = SafetensorsWeightLoader.types[info.dtype] else { throw RuntimeError.unsupportedTensorType(tensor: name, type: info.dtype) }
            let count = shape.reduce(1, *)
            let columns = shape.last ?? 1
            let m = try WeightMatrix(name: name, type: type, rows: count / columns, columns: columns,
                                     base: file.data(of: info).baseAddress!, owner: file)
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { buffer in
                for r in 0..<m.rows { m.dequantizeRow(r, into: buffer.baseAddress! + r * columns) }
            }
            return out
        }
        let d = try int("hidden_size"), f = try int("intermediate_size")
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [vocabularySize, d])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [positions, d])
        tokenTypeEmbedding = Array(try tensor("embeddings.token_type_embeddings.weight", [config["type_vocab_size"] as? Int ?? 2, d]).prefix(d))
        embeddingNorm = (try tensor("embeddings.LayerNorm.weight", [d]), try tensor("embeddings.LayerNorm.bias", [d]))
        layers = try (0..<layerCount).map { i in
            let p = "encoder.layer.\(i)."
            func dense(_ names: [String], outputs: Int, inputs: Int) throws -> Dense {
                let weight = try names.flatMap { try tensor(p + $0 + ".weight", [outputs / names.count, inputs]) }
                let bias = try names.flatMap { try tensor(p + $0 + ".bias", [outputs / names.count]) }
                return Dense(weight: weight, bias: bias, outputs: outputs, inputs: inputs, precision: effectivePrecision)
            }
            return Layer(
                qkv: try dense(["attention.self.query", "attention.self.key", "attention.self.value"], outputs: 3 * d, inputs: d),
                attentionOutput: try dense(["attention.output.dense"], outputs: d, inputs: d),
                attentionNorm: (try tensor(p + "attention.output.LayerNorm.weight", [d]), try tensor(p + "attention.output.LayerNorm.bias", [d])),
                up: try dense(["intermediate.dense"], outputs: f, inputs: d),
                down: try dense(["output.dense"], outputs: d, inputs: f),
                outputNorm: (try tensor(p + "output.LayerNorm.weight", [d]), try tensor(p + "output.LayerNorm.bias", [d])))
        }
    }

    public func tokenCount(_ text: String) -> Int { tokenizer.encode(text, maxLength: Int.max / 2).count }

    /// Threads `embed` uses (default: all cores).
    public var threads = ThreadCount.cores

    public func embed(_ texts: [String]) throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        let sequences = texts.map { tokenizer.encode($0, maxLength: maxTokens) }
        let parts = min(threads.value, sequences.count)
        if parts <= 1 { return encode(sequences) }
        // Contiguous parts with about the same number of tokens.
        let total = sequences.reduce(0) { $0 + $1.count }
        var bounds = [0]
        var running = 0
        for (i, s) in sequences.enumerated() {
            running += s.count
            if bounds.count < parts && running * parts >= total * bounds.count && i + 1 < sequences.count { bounds.append(i + 1) }
        }
        bounds.append(sequences.count)
        kl_blas_set_threads(1)
        let cuts = bounds
        let results = PartResults(count: cuts.count - 1)
        DispatchQueue.concurrentPerform(iterations: cuts.count - 1) { part in
            results.set(part, encode(Array(sequences[cuts[part]..<cuts[part + 1]])))
        }
        return results.joined()
    }

    /// Embeddings of tokenized sentences, on the calling thread.
    private func encode(_ sequences: [[Int32]]) -> [[Float]] {
        let lengths = sequences.map(\.count)
        let total = lengths.reduce(0, +)
        let d = dimension, f = intermediate
        var x = [Float](repeating: 0, count: total * d)
        var offsets: [Int] = []
        var row = 0
        for ids in sequences {
            offsets.append(row)
            for (position, id) in ids.enumerated() {
                let w = Int(id) * d, p = position * d, o = (row + position) * d
                for j in 0..<d { x[o + j] = wordEmbeddings[w + j] + positionEmbeddings[p + j] + tokenTypeEmbedding[j] }
            }
            row += ids.count
        }
        layerNorm(&x, rows: total, embeddingNorm)
        var qkv = [Float](repeating: 0, count: total * 3 * d)
        var context = [Float](repeating: 0, count: total * d)
        var projected = [Float](repeating: 0, count: total * d)
        var hidden = [Float](repeating: 0, count: total * f)
        var scratch: [UInt16] = []
        let maxLength = lengths.max()!
        var scores = [Float](repeating: 0, count: maxLength * maxLength)
        let headSize = d / heads
        let scale = 1 / Float(headSize).squareRoot()
        for layer in layers {
            layer.qkv.apply(x, rows: total, into: &qkv, scratch: &scratch)
            for (s, length) in lengths.enumerated() {
                let base = offsets[s]
                qkv.withUnsafeBufferPointer { q in
                    context.withUnsafeMutableBufferPointer { c in
                        scores.withUnsafeMutableBufferPointer { sc in
                            for h in 0..<heads {
                                let qp = q.baseAddress! + base * 3 * d + h * headSize
                                let kp = qp + d, vp = qp + 2 * d
                                kl_sgemm(0, 1, Int32(length), Int32(length), Int32(headSize),
                                            scale, qp, Int32(3 * d), kp, Int32(3 * d), 0, sc.baseAddress!, Int32(length))
                                for i in 0..<length { VectorOps.softmax(sc.baseAddress! + i * length, count: length) }
                                kl_sgemm(0, 0, Int32(length), Int32(headSize), Int32(length),
                                            1, sc.baseAddress!, Int32(length), vp, Int32(3 * d), 0,
                                            c.baseAddress! + base * d + h * headSize, Int32(d))
                            }
                        }
                    }
                }
            }
            layer.attentionOutput.apply(context, rows: total, into: &projected, scratch: &scratch)
            kl_residual_layer_norm(&x, projected, Int64(total), Int64(d), layer.attentionNorm.weight, layer.attentionNorm.bias, epsilon)
            layer.up.apply(x, rows: total, into: &hidden, scratch: &scratch)
            kl_gelu_erf(&hidden, Int64(total * f))
            layer.down.apply(hidden, rows: total, into: &projected, scratch: &scratch)
            kl_residual_layer_norm(&x, projected, Int64(total), Int64(d), layer.outputNorm.weight, layer.outputNorm.bias, epsilon)
        }
        return lengths.indices.map { s in
            var pooled = [Float](repeating: 0, count: d)
            for r in offsets[s]..<(offsets[s] + lengths[s]) { for j in 0..<d { pooled[j] += x[r * d + j] } }
            var norm: Float = 0
            for j in 0..<d { pooled[j] /= Float(lengths[s]); norm += pooled[j] * pooled[j] }
            let inv = 1 / max(norm.squareRoot(), 1e-12)
            return pooled.map { $0 * inv }
        }
    }

    private func layerNorm(_ x: inout [Float], rows: Int, _ p: (weight: [Float], bias: [Float])) {
        kl_residual_layer_norm(&x, nil, Int64(rows), Int64(dimension), p.weight, p.bias, epsilon)
    }
}

/// How `BERTEmbedder` computes its linear layers.
public enum EmbeddingPrecision: String, Sendable, CaseIterable {
    /// float32 throughout (the default; agrees with sentence-transformers to ~1e-7 in cosine).
    case float32
    /// bfloat16 linear layers (`--fast-embeddings`; CPUs with AVX512_BF16): faster, and the
    /// vectors' nearest neighbours nearly all the same (BENCHMARKS.md).
    case bfloat16
}

/// Per-part results written from concurrent workers.
private final class PartResults: @unchecked Sendable {
    // @unchecked: every access holds the lock.
    private var parts: [[[Float]]]
    private let lock = NSLock()
    init(count: Int) { parts = Array(repeating: [], count: count) }
    func set(_ index: Int, _ value: [[Float]]) { lock.lock(); parts[index] = value; lock.unlock() }
    func joined() -> [[Float]] { lock.lock(); defer { lock.unlock() }; return parts.flatMap { $0 } }
}
