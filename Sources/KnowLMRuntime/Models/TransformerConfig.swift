import Foundation

/// How rotary embeddings pair up the dimensions of a head.
public enum RopeStyle: String, Sendable {
    /// Adjacent pairs (2i, 2i+1): llama-family GGUF files, whose q/k weights the converter permuted.
    case normal
    /// Halves (i, i + d/2): Qwen2, Gemma and unpermuted Hugging Face llama weights.
    case neox
}

/// The feed-forward nonlinearity.
public enum FeedForwardActivation: String, Sendable {
    case silu
    case geluTanh
}

/// Hyperparameters of a decoder-only transformer, read from GGUF metadata or `config.json`.
public struct TransformerConfig: Sendable, Equatable {
    public var architecture: String
    public var vocabularySize: Int
    public var embeddingLength: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    /// Dimension of each query/key head.
    public var keyLength: Int
    /// Dimension of each value head.
    public var valueLength: Int
    public var feedForwardLength: Int
    public var normEpsilon: Float
    /// Context length the model was trained with.
    public var trainedContextLength: Int
    public var ropeStyle: RopeStyle
    public var ropeBase: Float
    /// RoPE base of the sliding-window layers, when it differs (Gemma 3).
    public var ropeBaseSlidingWindow: Float?
    /// Linear RoPE scaling: positions are multiplied by this.
    public var ropeFrequencyScale: Float = 1
    /// Attention window of sliding-window layers (nil: every layer is global).
    public var slidingWindow: Int?
    /// Which layers use the sliding window.
    public var slidingLayers: [Bool]
    /// Gemma multiplies embeddings by sqrt(embeddingLength).
    public var embeddingScale: Float?
    /// Multiplies q·k before the softmax.
    public var attentionScale: Float
    /// Gemma applies `attentionScale` to the queries themselves (before they are rounded to
    /// half precision in llama.cpp's attention) rather than to the products.
    public var scalesQueries: Bool = false
    public var activation: FeedForwardActivation
    /// Gemma 3: RMS-normalise each query and key head.
    public var queryKeyNorm: Bool = false
    /// Gemma: normalise the outputs of attention and feed-forward before the residual add.
    public var sandwichNorms: Bool = false
    /// Qwen2: biases on the q/k/v projections.
    public var attentionBias: Bool = false

    func validate() throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw RuntimeError.invalidArgument("model hyperparameters are inconsistent: \(what)") }
        }
        try check(vocabularySize > 0 && embeddingLength > 0 && layerCount > 0, "empty dimensions")
        try check(headCount > 0 && kvHeadCount > 0 && headCount % kvHeadCount == 0, "\(headCount) heads are not a multiple of \(kvHeadCount) KV heads")
        try check(keyLength > 0 && keyLength % 2 == 0 && valueLength > 0, "head size \(keyLength)")
        try check(feedForwardLength > 0, "feed-forward length")
        try check(slidingLayers.count == layerCount, "sliding-window layer pattern")
        try check(layerCount <= 1024 && embeddingLength <= 1 << 16 && headCount <= 1024, "implausibly large model")
    }
}
