import Foundation
@testable import KnowLMRuntime

/// The tiny random-weight Gemma 3 GGUF (2 layers, one local and one global), written at test
/// time so no weights are committed.
///
/// Metadata: tiny-llama.gguf's (the same 320-token SentencePiece vocabulary) with the Gemma 3
/// hyper-parameters of `scripts/golden/tiny_models.py` in place of the llama ones. Weights: a
/// SplitMix64 stream in tensor order (norms 1 ± 0.1, embeddings ±1, matrices scaled by
/// √(3 / row length)). `scripts/golden/tiny_gemma3_goldens.py` computed llama.cpp's logits and
/// tokenizations for exactly this file (it is written by `swift test --filter
/// tinyGemma3FixtureIsWritten` to `$KNOWLM_TINY_GEMMA3_OUT` when that is set).
enum TinyGemma3 {
    static func url() throws -> URL { try written.get() }

    private static let written: Result<URL, any Error> = Result {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-tiny-gemma3-\(ProcessInfo.processInfo.processIdentifier).gguf")
        try write(to: url)
        return url
    }

    static func write(to url: URL) throws {
        var w = GGUFWriter(copying: try GGUFFile(url: Fixtures.url("tiny/tiny-llama.gguf")))
        w.metadata.removeAll { $0.0.hasPrefix("llama.") }
        w.tensors = []
        w.set("general.architecture", .string("gemma3"))
        w.set("general.name", .string("Tiny Gemma3"))
        let hyper: [(String, GGUFValue)] = [
            ("block_count", .uint32(2)), ("context_length", .uint32(2048)), ("embedding_length", .uint32(48)),
            ("feed_forward_length", .uint32(128)), ("attention.head_count", .uint32(4)), ("attention.head_count_kv", .uint32(2)),
            ("rope.freq_base", .float32(1_000_000)), ("rope.freq_base_swa", .float32(10_000)),
            ("attention.layer_norm_rms_epsilon", .float32(1e-6)), ("attention.key_length", .uint32(16)),
            ("attention.value_length", .uint32(16)), ("attention.sliding_window", .uint32(8)),
            ("attention.sliding_window_pattern", .uint32(2)),
        ]
        for (key, value) in hyper { w.set("gemma3." + key, value) }
        w.set("tokenizer.ggml.add_space_prefix", .bool(false))

        var state: UInt64 = 0x6765_6D6D_6133  // "gemma3"
        func uniform() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(Double(z >> 11) / Double(1 << 53) * 2 - 1)
        }
        func tensor(_ name: String, _ shape: [Int]) {
            let count = shape.reduce(1, *)
            let values: [Float]
            if name.hasSuffix("norm.weight") {
                values = (0..<count).map { _ in 1 + 0.1 * uniform() }
            } else if name == "token_embd.weight" {
                values = (0..<count).map { _ in uniform() }
            } else {
                let scale = (3 / Float(shape[0])).squareRoot()
                values = (0..<count).map { _ in scale * uniform() }
            }
            w.tensors.append((name, shape, .f32, values.withUnsafeBytes { Array($0) }))
        }
        // GGUF shapes list the row length first.
        tensor("token_embd.weight", [48, 320])
        for l in 0..<2 {
            let p = "blk.\(l)."
            tensor(p + "attn_q.weight", [48, 64]); tensor(p + "attn_k.weight", [48, 32]); tensor(p + "attn_v.weight", [48, 32])
            tensor(p + "attn_output.weight", [64, 48])
            tensor(p + "attn_q_norm.weight", [16]); tensor(p + "attn_k_norm.weight", [16])
            tensor(p + "ffn_gate.weight", [48, 128]); tensor(p + "ffn_up.weight", [48, 128]); tensor(p + "ffn_down.weight", [128, 48])
            tensor(p + "attn_norm.weight", [48]); tensor(p + "post_attention_norm.weight", [48])
            tensor(p + "ffn_norm.weight", [48]); tensor(p + "post_ffw_norm.weight", [48])
        }
        tensor("output_norm.weight", [48])
        try w.write(to: url)
    }
}
