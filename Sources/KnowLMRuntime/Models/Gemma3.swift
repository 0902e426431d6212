import Foundation

/// Gemma 3 (the default model): GeGLU, QK-norm, norms before and after both attention and
/// feed-forward, embeddings scaled by sqrt(d), tied output, and five sliding-window (local)
/// layers with their own RoPE base for every global one.
enum Gemma3Architecture: GGUFArchitecture {
    static let names = ["gemma3"]
    /// Every sixth layer is global, as in llama.cpp and the reference implementation, unless
    /// the file says otherwise (`gemma3.attention.sliding_window_pattern`).
    static let slidingPattern = 6

    static func load(_ file: GGUFFile, loader: GGUFWeightLoader) throws -> Transformer {
        var config = try loader.commonConfig(architecture: "gemma3", ropeStyle: .neox, activation: .geluTanh)
        config.normEpsilon = file.float("gemma3.attention.layer_norm_rms_epsilon") ?? 1e-6
        config.embeddingScale = Float(config.embeddingLength).squareRoot()
        config.queryKeyNorm = true
        config.sandwichNorms = true
        config.scalesQueries = true
        config.ropeBaseSlidingWindow = file.float("gemma3.rope.freq_base_swa") ?? 10_000
        if let window = file.int("gemma3.attention.sliding_window"), window > 0 {
            config.slidingWindow = window
            let pattern = max(1, file.int("gemma3.attention.sliding_window_pattern") ?? slidingPattern)
            config.slidingLayers = (0..<config.layerCount).map { ($0 + 1) % pattern != 0 }
        }
        return try Transformer(config: config, weights: loader.model(config))
    }
}
