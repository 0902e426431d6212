import Foundation

/// A text generator: the on-device transformer or a remote endpoint.
///
/// Everything above this protocol (knowledge prompts, extraction, the agent, the server)
/// works with any implementation.
public protocol LanguageModel: Sendable {
    /// Short human-readable name (file name or remote model id).
    var name: String { get }
    /// Longest prompt plus generation, in tokens.
    var contextLength: Int { get }
    var tokenizer: any Tokenizer { get }

    /// Streams a completion of `prompt`. Cancelling the consuming task stops decoding.
    /// `processors` constrain each step (grammars, forced openings), applied in order; each
    /// must be fresh (not used by another generation).
    func generate(prompt: String, parameters: GenerateParameters,
                  processors: [any LogitsProcessor]) -> AsyncThrowingStream<Generation, any Error>
}

extension LanguageModel {
    /// Streams an unconstrained completion of `prompt`.
    public func generate(prompt: String, parameters: GenerateParameters) -> AsyncThrowingStream<Generation, any Error> {
        generate(prompt: prompt, parameters: parameters, processors: [])
    }

    /// Runs a generation to the end and returns its result.
    public func complete(prompt: String, parameters: GenerateParameters,
                         processors: [any LogitsProcessor] = []) async throws -> GenerationResult {
        for try await event in generate(prompt: prompt, parameters: parameters, processors: processors) {
            if case .done(let result) = event { return result }
        }
        throw KnowLMError.generationEndedEarly
    }
}

/// A model that can say how likely each of several continuations of a prompt is — the
/// cheap way to make a model *decide* (pick a type for a span, judge a claim) instead of
/// writing free text.
public protocol ContinuationScoring: Sendable {
    /// The log-probability of each continuation after `prompt`, summed over its tokens.
    /// Implementations reuse what they computed for the prompt across the continuations (and
    /// across calls that share a prefix).
    func logProbabilities(of continuations: [String], after prompt: String) async throws -> [Float]
}

/// A flag set from any thread (a consumer that went away) and read by the thread doing the
/// work (a model's queue, a scheduler, a transfer callback).
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.lock(); value = true; lock.unlock() }
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
