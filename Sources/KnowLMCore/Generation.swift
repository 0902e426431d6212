import Foundation

/// Decoding settings. Defaults follow llama.cpp's `llama-cli` where it has one.
public struct GenerateParameters: Sendable, Codable, Equatable {
    /// Most tokens to generate (`-n`).
    public var maxTokens: Int = 128
    /// 0 selects greedy decoding.
    public var temperature: Float = 0.8
    /// 0 disables.
    public var topK: Int = 40
    /// 1 disables.
    public var topP: Float = 0.95
    /// 0 disables.
    public var minP: Float = 0.05
    /// 1 disables.
    public var repeatPenalty: Float = 1.0
    /// How many recent tokens the penalties look at.
    public var repeatLastN: Int = 64
    public var frequencyPenalty: Float = 0
    public var presencePenalty: Float = 0
    /// Random seed; `nil` picks one.
    public var seed: UInt64? = nil
    /// Generation stops when any of these appears in the output; the stop string is not returned.
    public var stop: [String] = []
    /// More than 1 runs beam search (deterministic; the sampling settings are ignored).
    public var numBeams: Int = 1
    /// Return the log-probability of each chosen token and this many top alternatives (nil: none).
    public var logprobs: Int? = nil
    /// Prepend BOS when the model asks for it.
    public var addBOS: Bool = true
    /// Parse control tokens written in the prompt.
    public var parseSpecial: Bool = true
    /// Constrained decoding: the output starts with one of these strings (each tokenized on its
    /// own, without BOS); the model's own probabilities choose which, then decoding is free.
    /// Implemented as a `LogitsProcessor` (`PrefixChoiceProcessor`); nil or empty: no constraint.
    public var startsWithOneOf: [String]? = nil
    /// For a model that decodes elsewhere (`RemoteModel`): ask the server to hold the answer to
    /// this JSON Schema, given as JSON text (OpenAI's `response_format`, llama.cpp's
    /// `json_schema`). Local models ignore it: their callers pass a grammar processor, which is
    /// stricter.
    public var remoteJSONSchema: String? = nil

    public init() {}

    /// Greedy decoding of at most `maxTokens` tokens.
    public static func greedy(maxTokens: Int) -> GenerateParameters {
        var p = GenerateParameters()
        p.temperature = 0
        p.maxTokens = maxTokens
        return p
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable, Codable {
    /// The model produced an end-of-generation token.
    case endOfSequence = "eos"
    /// `maxTokens` reached.
    case length
    /// One of the stop strings appeared.
    case stopString = "stop"
    /// The context window is full.
    case contextFull = "context_full"
    /// The caller's task was cancelled.
    case cancelled
    /// A constraint (grammar) was complete and allowed no further token.
    case complete
}

/// Log-probability of one token, with the strongest alternatives at that step.
public struct TokenLogprob: Sendable, Codable, Equatable {
    public var token: TokenID
    public var logprob: Float
    public var top: [Alternative]
    public struct Alternative: Sendable, Codable, Equatable {
        public var token: TokenID
        public var logprob: Float
        public init(token: TokenID, logprob: Float) { self.token = token; self.logprob = logprob }
    }
    public init(token: TokenID, logprob: Float, top: [Alternative]) {
        self.token = token; self.logprob = logprob; self.top = top
    }
}

/// Speed of one generation.
public struct GenerationTimings: Sendable, Codable, Equatable {
    public var promptTokens: Int = 0
    public var promptSeconds: Double = 0
    public var generatedTokens: Int = 0
    public var generationSeconds: Double = 0
    public init() {}
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double {
        generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0
    }
}

/// The finished result of a generation.
public struct GenerationResult: Sendable {
    public var text: String
    public var tokens: [TokenID]
    public var promptTokenCount: Int
    public var stopReason: StopReason
    public var timings: GenerationTimings
    public var logprobs: [TokenLogprob]
    public init(text: String, tokens: [TokenID], promptTokenCount: Int, stopReason: StopReason,
                timings: GenerationTimings, logprobs: [TokenLogprob] = []) {
        self.text = text; self.tokens = tokens; self.promptTokenCount = promptTokenCount
        self.stopReason = stopReason; self.timings = timings; self.logprobs = logprobs
    }
}

/// What a streaming generation emits.
public enum Generation: Sendable {
    /// A new piece of text (may be empty while a multi-byte character is incomplete).
    case token(TokenID, text: String, logprob: TokenLogprob?)
    /// The last event.
    case done(GenerationResult)
}
