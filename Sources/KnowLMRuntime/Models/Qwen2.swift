/// Qwen2: the llama block with biases on the q/k/v projections and NEOX-style RoPE.
enum Qwen2Architecture: GGUFArchitecture {
    static let names = ["qwen2"]

    static func load(_ file: GGUFFile, loader: GGUFWeightLoader) throws -> Transformer {
        var config = try loader.commonConfig(architecture: "qwen2", ropeStyle: .neox, activation: .silu)
        config.attentionBias = true
        config.normEpsilon = file.float("qwen2.attention.layer_norm_rms_epsilon") ?? 1e-6
        return try Transformer(config: config, weights: loader.model(config))
    }
}
