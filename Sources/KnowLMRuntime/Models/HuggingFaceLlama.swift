import Foundation
import KnowLMCore

/// Hugging Face folders of llama-family models (`config.json`, safetensors weights,
/// SentencePiece `tokenizer.model`): LLaMA 1/2, KnowLM-13B-ZhiXi, OneKE, Mistral, Qwen2.
///
/// Hugging Face keeps q/k weights unpermuted and rotates halves, so RoPE is NEOX-style here.
/// F32, F16 and BF16 weights are used in place from the memory map.
enum HuggingFaceLlama {
    static let supportedModelTypes = ["llama", "mistral", "qwen2"]

    static func load(folder: URL) throws -> (Transformer, any Tokenizer) {
        let configURL = folder.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: configURL) else {
            throw RuntimeError.cannotOpen(path: configURL.path, reason: "a Hugging Face model folder needs config.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RuntimeError.malformed(file: "config.json", reason: "not a JSON object")
        }
        let modelType = json["model_type"] as? String ?? "llama"
        guard supportedModelTypes.contains(modelType) else { throw RuntimeError.unknownArchitecture(modelType) }
        func int(_ key: String) throws -> Int {
            guard let v = json[key] as? Int else { throw RuntimeError.missingMetadata("config.json: \(key)") }
            return v
        }
        func double(_ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }
        let dim = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let layers = try int("num_hidden_layers")
        guard heads > 0, layers > 0 else { throw RuntimeError.invalidArgument("config.json: heads and layers must be positive") }
        let headDim = json["head_dim"] as? Int ?? dim / heads
        // transformers ≥ 5 nests RoPE settings in `rope_parameters`; older configs keep
        // `rope_theta` and `rope_scaling` at the top level.
        let ropeParameters = json["rope_parameters"] as? [String: Any]
        let ropeTheta = (ropeParameters?["rope_theta"] as? NSNumber)?.floatValue ?? Float(double("rope_theta") ?? 10000)
        let ropeScaling = (json["rope_scaling"] as? [String: Any]) ?? ropeParameters
        var config = TransformerConfig(
            architecture: modelType,
            vocabularySize: try int("vocab_size"),
            embeddingLength: dim,
            layerCount: layers,
            headCount: heads,
            kvHeadCount: json["num_key_value_heads"] as? Int ?? heads,
            keyLength: headDim,
            valueLength: headDim,
            feedForwardLength: try int("intermediate_size"),
            normEpsilon: Float(double("rms_norm_eps") ?? 1e-6),
            trainedContextLength: json["max_position_embeddings"] as? Int ?? 2048,
            ropeStyle: .neox,
            ropeBase: ropeTheta,
            slidingWindow: nil,
            slidingLayers: [Bool](repeating: false, count: layers),
            embeddingScale: nil,
            attentionScale: 1 / Float(headDim).squareRoot(),
            activation: .silu)
        config.attentionBias = modelType == "qwen2"
        var frequencyFactors: [Float]? = nil
        if let scaling = ropeScaling {
            let type = (scaling["rope_type"] ?? scaling["type"]) as? String
            let factor = (scaling["factor"] as? NSNumber)?.floatValue ?? 1
            switch type {
            case "linear": config.ropeFrequencyScale = 1 / factor
            case "llama3": frequencyFactors = llama3FrequencyFactors(scaling, base: config.ropeBase, headDim: headDim)
            case nil, "default": break
            default: throw RuntimeError.invalidArgument("config.json: rope_scaling type \(type!) is not supported (linear and llama3 are)")
            }
        }
        if modelType == "mistral", let window = json["sliding_window"] as? Int, window > 0 {
            config.slidingWindow = window
            config.slidingLayers = [Bool](repeating: true, count: layers)
        }
        try config.validate()

        let checkpoint = try SafetensorsCheckpoint(folder: folder)
        let loader = SafetensorsWeightLoader(checkpoint: checkpoint)
        let q = heads * headDim, kv = config.kvHeadCount * headDim
        let layerWeights = try (0..<layers).map { i -> LayerWeights in
            let p = "model.layers.\(i)."
            return LayerWeights(
                attentionNorm: try loader.vector(p + "input_layernorm.weight", count: dim),
                query: try loader.matrix(p + "self_attn.q_proj.weight", rows: q, columns: dim),
                key: try loader.matrix(p + "self_attn.k_proj.weight", rows: kv, columns: dim),
                value: try loader.matrix(p + "self_attn.v_proj.weight", rows: kv, columns: dim),
                output: try loader.matrix(p + "self_attn.o_proj.weight", rows: dim, columns: q),
                queryBias: try loader.optionalVector(p + "self_attn.q_proj.bias", count: q),
                keyBias: try loader.optionalVector(p + "self_attn.k_proj.bias", count: kv),
                valueBias: try loader.optionalVector(p + "self_attn.v_proj.bias", count: kv),
                queryNorm: nil, keyNorm: nil, postAttentionNorm: nil,
                feedForwardNorm: try loader.vector(p + "post_attention_layernorm.weight", count: dim),
                gate: try loader.matrix(p + "mlp.gate_proj.weight", rows: config.feedForwardLength, columns: dim),
                up: try loader.matrix(p + "mlp.up_proj.weight", rows: config.feedForwardLength, columns: dim),
                down: try loader.matrix(p + "mlp.down_proj.weight", rows: dim, columns: config.feedForwardLength),
                postFeedForwardNorm: nil)
        }
        let embedding = try loader.matrix("model.embed_tokens.weight", rows: config.vocabularySize, columns: dim)
        let output = checkpoint.tensor("lm_head.weight") != nil
            ? try loader.matrix("lm_head.weight", rows: config.vocabularySize, columns: dim) : embedding
        let weights = TransformerWeights(tokenEmbedding: embedding, layers: layerWeights,
                                         outputNorm: try loader.vector("model.norm.weight", count: dim),
                                         output: output, ropeFrequencyFactors: frequencyFactors)
        let transformer = try Transformer(config: config, weights: weights)

        let tokenizerURL = folder.appendingPathComponent("tokenizer.model")
        guard FileManager.default.fileExists(atPath: tokenizerURL.path) else {
            throw RuntimeError.tokenizer("\(folder.lastPathComponent) has no tokenizer.model (only SentencePiece tokenizers are supported for Hugging Face folders)")
        }
        var addBOS = true
        if let tc = try? JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json"))) as? [String: Any],
           let flag = tc["add_bos_token"] as? Bool {
            addBOS = flag
        }
        return (transformer, try SentencePieceTokenizer(modelFile: tokenizerURL, addsBOS: addBOS))
    }

    /// Llama 3.1's frequency-dependent RoPE scaling, as factors dividing each pair's angle.
    static func llama3FrequencyFactors(_ s: [String: Any], base: Float, headDim: Int) -> [Float] {
        let factor = (s["factor"] as? NSNumber)?.floatValue ?? 8
        let low = (s["low_freq_factor"] as? NSNumber)?.floatValue ?? 1
        let high = (s["high_freq_factor"] as? NSNumber)?.floatValue ?? 4
        let original = (s["original_max_position_embeddings"] as? NSNumber)?.floatValue ?? 8192
        let lowWavelength = original / low, highWavelength = original / high
        return (0..<(headDim / 2)).map { i in
            let frequency = 1 / powf(base, Float(2 * i) / Float(headDim))
            let wavelength = 2 * Float.pi / frequency
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return factor }
            let smooth = (original / wavelength - low) / (high - low)
            return 1 / ((1 - smooth) / factor + smooth)
        }
    }
}

/// Hands out safetensors tensors as weights, in place where the dtype allows.
struct SafetensorsWeightLoader {
    let checkpoint: SafetensorsCheckpoint

    static let types: [String: GGMLType] = ["F32": .f32, "F16": .f16, "BF16": .bf16]

    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        guard let (file, info) = checkpoint.tensor(name) else { throw RuntimeError.missingTensor(name) }
        guard info.shape == [rows, columns] else { throw RuntimeError.tensorShape(tensor: name, expected: [rows, columns], actual: info.shape) }
        guard let type = Self.types[info.dtype] else { throw RuntimeError.unsupportedTensorType(tensor: name, type: info.dtype) }
        return try WeightMatrix(name: name, type: type, rows: rows, columns: columns,
                                base: file.data(of: info).baseAddress!, owner: file)
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let (file, info) = checkpoint.tensor(name) else { throw RuntimeError.missingTensor(name) }
        guard info.shape.reduce(1, *) == count else { throw RuntimeError.tensorShape(tensor: name, expected: [count], actual: info.shape) }
        guard let type = Self.types[info.dtype] else { throw RuntimeError.unsupportedTensorType(tensor: name, type: info.dtype) }
        let m = try WeightMatrix(name: name, type: type, rows: 1, columns: count, base: file.data(of: info).baseAddress!, owner: file)
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { m.dequantizeRow(0, into: $0.baseAddress!) }
        return out
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        checkpoint.tensor(name) == nil ? nil : try vector(name, count: count)
    }
}
