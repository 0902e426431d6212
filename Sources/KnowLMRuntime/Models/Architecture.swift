import Foundation

/// Reads an architecture's hyperparameters and tensors out of a GGUF file.
protocol GGUFArchitecture: SendableMetatype {
    /// `general.architecture` values this type loads.
    static var names: [String] { get }
    static func load(_ file: GGUFFile, loader: GGUFWeightLoader) throws -> Transformer
}

/// Maps `general.architecture` to the type that loads it. Explicit, so adding an
/// architecture is one file and one line here.
public enum ArchitectureRegistry {
    static let architectures: [any GGUFArchitecture.Type] = [
        LlamaArchitecture.self, MistralArchitecture.self, Qwen2Architecture.self, Gemma3Architecture.self,
    ]

    public static var supportedNames: [String] { architectures.flatMap { $0.names } }

    static func architecture(named name: String) throws -> any GGUFArchitecture.Type {
        guard let type = architectures.first(where: { $0.names.contains(name) }) else {
            throw RuntimeError.unknownArchitecture(name)
        }
        return type
    }
}

/// Hands out tensors of a GGUF file as typed weights, checking shapes.
struct GGUFWeightLoader {
    let file: GGUFFile

    func has(_ name: String) -> Bool { file.tensorInfo(name) != nil }

    /// A matrix of `rows` outputs × `columns` inputs (GGUF stores it as [columns, rows]).
    func matrix(_ name: String, rows: Int? = nil, columns: Int? = nil) throws -> WeightMatrix {
        guard let info = file.tensorInfo(name) else { throw RuntimeError.missingTensor(name) }
        guard info.shape.count == 2 || (info.shape.count > 2 && info.shape[2...].allSatisfy { $0 == 1 }) else {
            throw RuntimeError.tensorShape(tensor: name, expected: [columns ?? -1, rows ?? -1], actual: info.shape)
        }
        let actualColumns = info.shape[0], actualRows = info.shape[1]
        if (rows != nil && rows != actualRows) || (columns != nil && columns != actualColumns) {
            throw RuntimeError.tensorShape(tensor: name, expected: [columns ?? actualColumns, rows ?? actualRows], actual: info.shape)
        }
        let data = file.data(of: info)
        return try WeightMatrix(name: name, type: info.type, rows: actualRows, columns: actualColumns,
                                base: data.baseAddress!, owner: file)
    }

    /// A vector (norm weights, biases) dequantized to float.
    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let info = file.tensorInfo(name) else { throw RuntimeError.missingTensor(name) }
        guard info.elementCount == count else {
            throw RuntimeError.tensorShape(tensor: name, expected: [count], actual: info.shape)
        }
        let m = try WeightMatrix(name: name, type: info.type, rows: 1, columns: count,
                                 base: file.data(of: info).baseAddress!, owner: file)
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { m.dequantizeRow(0, into: $0.baseAddress!) }
        return out
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        has(name) ? try vector(name, count: count) : nil
    }

    /// Hyperparameters every llama-style GGUF file states under `<arch>.`.
    func commonConfig(architecture arch: String, ropeStyle: RopeStyle, activation: FeedForwardActivation) throws -> TransformerConfig {
        func int(_ key: String) throws -> Int { try file.requireInt("\(arch).\(key)") }
        let dim = try int("embedding_length")
        let heads = try int("attention.head_count")
        let layers = try int("block_count")
        let kvHeads = file.int("\(arch).attention.head_count_kv") ?? heads
        guard heads > 0 else { throw RuntimeError.invalidArgument("\(arch).attention.head_count is 0") }
        let keyLength = file.int("\(arch).attention.key_length") ?? dim / heads
        let valueLength = file.int("\(arch).attention.value_length") ?? dim / heads
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.shape.count >= 2 else {
            throw RuntimeError.missingTensor("token_embd.weight")
        }
        var scale: Float = 1
        if let type = file.string("\(arch).rope.scaling.type"), type == "linear", let factor = file.float("\(arch).rope.scaling.factor"), factor > 0 {
            scale = 1 / factor
        }
        guard layers > 0 && layers <= 1024 else { throw RuntimeError.invalidArgument("\(arch).block_count is \(layers)") }
        return TransformerConfig(
            architecture: arch,
            vocabularySize: embedding.shape[1],
            embeddingLength: dim,
            layerCount: layers,
            headCount: heads,
            kvHeadCount: kvHeads,
            keyLength: keyLength,
            valueLength: valueLength,
            feedForwardLength: try int("feed_forward_length"),
            normEpsilon: file.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5,
            trainedContextLength: file.int("\(arch).context_length") ?? 2048,
            ropeStyle: ropeStyle,
            ropeBase: file.float("\(arch).rope.freq_base") ?? 10000,
            ropeFrequencyScale: scale,
            slidingWindow: nil,
            slidingLayers: [Bool](repeating: false, count: layers),
            embeddingScale: nil,
            attentionScale: 1 / Float(keyLength).squareRoot(),
            activation: activation)
    }

    /// The blocks of a llama-style model, with whatever optional tensors the file has
    /// (biases, QK-norms, sandwich norms).
    func layers(_ c: TransformerConfig) throws -> [LayerWeights] {
        let dim = c.embeddingLength
        let q = c.headCount * c.keyLength, k = c.kvHeadCount * c.keyLength, v = c.kvHeadCount * c.valueLength
        return try (0..<c.layerCount).map { i in
            let p = "blk.\(i)."
            return LayerWeights(
                attentionNorm: try vector(p + "attn_norm.weight", count: dim),
                query: try matrix(p + "attn_q.weight", rows: q, columns: dim),
                key: try matrix(p + "attn_k.weight", rows: k, columns: dim),
                value: try matrix(p + "attn_v.weight", rows: v, columns: dim),
                output: try matrix(p + "attn_output.weight", rows: dim, columns: c.headCount * c.valueLength),
                queryBias: try optionalVector(p + "attn_q.bias", count: q),
                keyBias: try optionalVector(p + "attn_k.bias", count: k),
                valueBias: try optionalVector(p + "attn_v.bias", count: v),
                queryNorm: try optionalVector(p + "attn_q_norm.weight", count: c.keyLength),
                keyNorm: try optionalVector(p + "attn_k_norm.weight", count: c.keyLength),
                postAttentionNorm: try optionalVector(p + "post_attention_norm.weight", count: dim),
                feedForwardNorm: try vector(p + "ffn_norm.weight", count: dim),
                gate: try matrix(p + "ffn_gate.weight", rows: c.feedForwardLength, columns: dim),
                up: try matrix(p + "ffn_up.weight", rows: c.feedForwardLength, columns: dim),
                down: try matrix(p + "ffn_down.weight", rows: dim, columns: c.feedForwardLength),
                postFeedForwardNorm: try optionalVector(p + "post_ffw_norm.weight", count: dim))
        }
    }

    /// Embedding, final norm, LM head (tied to the embedding when `output.weight` is absent).
    func model(_ c: TransformerConfig) throws -> TransformerWeights {
        let embedding = try matrix("token_embd.weight", rows: c.vocabularySize, columns: c.embeddingLength)
        return TransformerWeights(
            tokenEmbedding: embedding,
            layers: try layers(c),
            outputNorm: try vector("output_norm.weight", count: c.embeddingLength),
            output: has("output.weight") ? try matrix("output.weight", rows: c.vocabularySize, columns: c.embeddingLength) : embedding,
            ropeFrequencyFactors: try optionalVector("rope_freqs.weight", count: c.keyLength / 2))
    }
}
