/// LLaMA 1/2/3 (and KnowLM-13B-ZhiXi, OneKE, Mistral 7B converted as `llama`): pre-norm,
/// grouped-query attention, SwiGLU, RoPE on adjacent pairs (the GGUF converter permutes q/k),
/// Llama 3 frequency factors from `rope_freqs.weight`.
enum LlamaArchitecture: GGUFArchitecture {
    static let names = ["llama"]

    static func load(_ file: GGUFFile, loader: GGUFWeightLoader) throws -> Transformer {
        var config = try loader.commonConfig(architecture: "llama", ropeStyle: .normal, activation: .silu)
        if let window = file.int("llama.attention.sliding_window"), window > 0 {
            config.slidingWindow = window
            config.slidingLayers = [Bool](repeating: true, count: config.layerCount)
        }
        return try Transformer(config: config, weights: loader.model(config))
    }
}
