/// Mistral: the llama block with grouped-query attention and, when the file states one, a
/// sliding attention window on every layer. Most Mistral GGUF files say `llama`; this loads
/// the ones that say `mistral`.
enum MistralArchitecture: GGUFArchitecture {
    static let names = ["mistral"]

    static func load(_ file: GGUFFile, loader: GGUFWeightLoader) throws -> Transformer {
        var config = try loader.commonConfig(architecture: "mistral", ropeStyle: .normal, activation: .silu)
        if let window = file.int("mistral.attention.sliding_window"), window > 0 {
            config.slidingWindow = window
            config.slidingLayers = [Bool](repeating: true, count: config.layerCount)
        }
        return try Transformer(config: config, weights: loader.model(config))
    }
}
