import Foundation
@testable import KnowLMRuntime

/// The tiny random-weight GGUF models of `tiny/goldens.json`, written at test time so that no
/// weights are committed.
///
/// Every file is float32 with two layers and the 320-piece SentencePiece vocabulary of
/// `tiny/hf-llama/tokenizer.model` (the metadata `convert_hf_to_gguf` writes for a
/// SentencePiece vocabulary). Weights are a SplitMix64 stream per model, in tensor order:
/// norms 1 ± 0.1, embeddings ±1, biases ±0.5, matrices scaled by √(3 / row length). `specs` is
/// the one place the models are defined: the goldens script reads them back from the files.
///
/// `scripts/golden/tiny_model_goldens.py` computed llama.cpp's logits and tokenizations (and,
/// for tiny-llama.gguf, transformers' logits of the same weights as a Hugging Face folder) for
/// exactly these files; `swift test --filter tinyModelFixturesAreWritten` copies them to
/// `$KNOWLM_TINY_OUT` when that is set.
enum TinyModels {
    struct Spec: Sendable {
        var file: String
        var architecture: String
        var displayName: String
        var hidden: Int
        var kvHeads: Int
        var ropeTheta: Float
        var epsilon: Float
        var tied: Bool
        var seed: UInt64
        var heads = 4, headDim = 16, ffn = 128, layers = 2, trainingContext = 2048
        /// Llama 3 RoPE scaling (factor, low-frequency factor, high-frequency factor, original context).
        var llama3Rope: (factor: Double, low: Double, high: Double, original: Double)? = nil
        /// Gemma 3: local (sliding-window) RoPE base, window and layer pattern.
        var ropeThetaLocal: Float = 0, slidingWindow = 0, slidingPattern = 0
    }

    static let specs: [Spec] = [
        Spec(file: "tiny-llama.gguf", architecture: "llama", displayName: "Tiny Llama", hidden: 48, kvHeads: 2,
             ropeTheta: 50_000, epsilon: 1e-5, tied: false, seed: 101),
        Spec(file: "tiny-mistral.gguf", architecture: "llama", displayName: "Tiny Mistral", hidden: 48, kvHeads: 1,
             ropeTheta: 1_000_000, epsilon: 1e-5, tied: false, seed: 202),
        Spec(file: "tiny-llama3-rope.gguf", architecture: "llama", displayName: "Tiny Llama3 RoPE", hidden: 48, kvHeads: 2,
             ropeTheta: 10_000, epsilon: 1e-5, tied: true, seed: 303, llama3Rope: (8, 1, 4, 64)),
        Spec(file: "tiny-qwen2.gguf", architecture: "qwen2", displayName: "Tiny Qwen2", hidden: 64, kvHeads: 2,
             ropeTheta: 1_000_000, epsilon: 1e-6, tied: true, seed: 404),
        Spec(file: "tiny-gemma3.gguf", architecture: "gemma3", displayName: "Tiny Gemma3", hidden: 48, kvHeads: 2,
             ropeTheta: 1_000_000, epsilon: 1e-6, tied: true, seed: 505,
             ropeThetaLocal: 10_000, slidingWindow: 8, slidingPattern: 2),
    ]

    /// The written file (once per process).
    static func url(_ file: String) throws -> URL {
        guard let written = written[file] else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: file]) }
        return try written.get()
    }

    private static let written: [String: Result<URL, any Error>] = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-tiny-\(ProcessInfo.processInfo.processIdentifier)")
        var out: [String: Result<URL, any Error>] = [:]
        for spec in specs {
            out[spec.file] = Result {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let url = folder.appendingPathComponent(spec.file)
                try write(spec, to: url)
                return url
            }
        }
        return out
    }()

    static func write(_ spec: Spec, to url: URL) throws {
        let arch = spec.architecture
        var w = GGUFWriter()
        w.set("general.architecture", .string(arch))
        w.set("general.type", .string("model"))
        w.set("general.name", .string(spec.displayName))
        var hyper: [(String, GGUFValue)] = [
            ("block_count", .uint32(UInt32(spec.layers))), ("context_length", .uint32(UInt32(spec.trainingContext))),
            ("embedding_length", .uint32(UInt32(spec.hidden))), ("feed_forward_length", .uint32(UInt32(spec.ffn))),
            ("attention.head_count", .uint32(UInt32(spec.heads))), ("attention.head_count_kv", .uint32(UInt32(spec.kvHeads))),
            ("rope.freq_base", .float32(spec.ropeTheta)),
        ]
        if arch == "gemma3" { hyper.append(("rope.freq_base_swa", .float32(spec.ropeThetaLocal))) }
        hyper += [
            ("attention.layer_norm_rms_epsilon", .float32(spec.epsilon)),
            ("attention.key_length", .uint32(UInt32(spec.headDim))), ("attention.value_length", .uint32(UInt32(spec.headDim))),
        ]
        for (key, value) in hyper { w.set("\(arch).\(key)", value) }
        w.set("general.file_type", .uint32(0))  // all float32
        if arch == "llama" {
            w.set("llama.vocab_size", .uint32(320))
            w.set("llama.rope.dimension_count", .uint32(UInt32(spec.headDim)))
        }
        if arch == "gemma3" {
            w.set("gemma3.attention.sliding_window", .uint32(UInt32(spec.slidingWindow)))
            w.set("gemma3.attention.sliding_window_pattern", .uint32(UInt32(spec.slidingPattern)))
        }
        try addVocabulary(to: &w, spaceSeparatorPrefix: arch != "gemma3")
        w.set("general.quantization_version", .uint32(2))

        var state: UInt64 = spec.seed &* 0x9E37_79B9_7F4A_7C15
        func uniform() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(Double(z >> 11) / Double(1 << 53) * 2 - 1)
        }
        func add(_ name: String, _ values: [Float], _ shape: [Int]) {
            w.tensors.append((name, shape, .f32, values.withUnsafeBytes { Array($0) }))
        }
        // GGUF shapes list the row length first.
        func tensor(_ name: String, _ shape: [Int]) {
            let count = shape.reduce(1, *)
            let values: [Float]
            if name.hasSuffix("norm.weight") {
                values = (0..<count).map { _ in 1 + 0.1 * uniform() }
            } else if name == "token_embd.weight" {
                values = (0..<count).map { _ in uniform() }
            } else if name.hasSuffix(".bias") {
                values = (0..<count).map { _ in 0.5 * uniform() }
            } else {
                let scale = (3 / Float(shape[0])).squareRoot()
                values = (0..<count).map { _ in scale * uniform() }
            }
            add(name, values, shape)
        }
        let h = spec.hidden, q = spec.heads * spec.headDim, kv = spec.kvHeads * spec.headDim
        tensor("token_embd.weight", [h, 320])
        for l in 0..<spec.layers {
            let p = "blk.\(l)."
            tensor(p + "attn_norm.weight", [h])
            tensor(p + "attn_q.weight", [h, q]); tensor(p + "attn_k.weight", [h, kv]); tensor(p + "attn_v.weight", [h, kv])
            if arch == "qwen2" { tensor(p + "attn_q.bias", [q]); tensor(p + "attn_k.bias", [kv]); tensor(p + "attn_v.bias", [kv]) }
            tensor(p + "attn_output.weight", [q, h])
            if arch == "gemma3" {
                tensor(p + "attn_q_norm.weight", [spec.headDim]); tensor(p + "attn_k_norm.weight", [spec.headDim])
                tensor(p + "post_attention_norm.weight", [h])
            }
            tensor(p + "ffn_norm.weight", [h])
            tensor(p + "ffn_gate.weight", [h, spec.ffn]); tensor(p + "ffn_up.weight", [h, spec.ffn]); tensor(p + "ffn_down.weight", [spec.ffn, h])
            if arch == "gemma3" { tensor(p + "post_ffw_norm.weight", [h]) }
        }
        tensor("output_norm.weight", [h])
        if !spec.tied { tensor("output.weight", [h, 320]) }
        if let rope = spec.llama3Rope { add("rope_freqs.weight", llama3RopeFactors(spec, rope), [spec.headDim / 2]) }
        try w.write(to: url)
    }

    /// The per-frequency divisors of Llama 3 RoPE scaling, as `convert_hf_to_gguf` computes them.
    private static func llama3RopeFactors(_ spec: Spec, _ r: (factor: Double, low: Double, high: Double, original: Double)) -> [Float] {
        (0..<(spec.headDim / 2)).map { i in
            let base = Float(spec.ropeTheta)
            let freq = Double(1 / powf(base, Float(2 * i) / Float(spec.headDim)))
            let wavelength = 2 * Double.pi / freq
            if wavelength < r.original / r.high { return 1 }
            if wavelength > r.original / r.low { return Float(r.factor) }
            let smooth = (r.original / wavelength - r.low) / (r.high - r.low)
            return Float(1 / ((1 - smooth) / r.factor + smooth))
        }
    }

    /// `tokenizer.ggml.*` from the committed SentencePiece model, as convert_hf_to_gguf's
    /// `_set_vocab_sentencepiece` writes them.
    private static func addVocabulary(to w: inout GGUFWriter, spaceSeparatorPrefix: Bool) throws {
        let proto = try SentencePieceModelProto(parsing: Array(Data(contentsOf: Fixtures.url("tiny/hf-llama/tokenizer.model"))))
        precondition(proto.pieces.count == 320, "the tiny vocabulary has 320 pieces")
        w.set("tokenizer.ggml.model", .string("llama"))
        w.set("tokenizer.ggml.pre", .string("default"))
        w.set("tokenizer.ggml.tokens", .array(elementType: 8, proto.pieces.map { .string($0.text) }))
        w.set("tokenizer.ggml.scores", .array(elementType: 6, proto.pieces.map { .float32($0.score) }))
        w.set("tokenizer.ggml.token_type", .array(elementType: 5, proto.pieces.map { .int32($0.type.rawValue) }))
        w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(proto.bosID)))
        w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(proto.eosID)))
        w.set("tokenizer.ggml.add_bos_token", .bool(true))
        w.set("tokenizer.ggml.add_eos_token", .bool(false))
        if !spaceSeparatorPrefix { w.set("tokenizer.ggml.add_space_prefix", .bool(false)) }  // Gemma3Model.set_vocab
    }
}
