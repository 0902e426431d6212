import KnowLMCore

/// A model decoding on this machine: its vocabulary is known, so its output can be held to a
/// grammar (JSON Schema answers, tool calls, agent actions), and it scores continuations.
///
/// `LocalModel` (one sequence at a time) and `BatchedModel` (many at once, for the server)
/// both are; extraction and the agent use these powers with either, and fall back to free
/// text with a model that has none (a remote one).
public protocol LocalLanguageModel: LanguageModel, ContinuationScoring {
    /// The vocabulary as a byte trie (grammar constraints walk it).
    var vocabularyTrie: VocabularyTrie { get }
}

extension LocalModel: LocalLanguageModel {}

extension BatchedModel: LocalLanguageModel {
    public var vocabularyTrie: VocabularyTrie { base.vocabularyTrie }

    /// Scored by the base model, beside the batch (its own cache; the weights are shared).
    public func logProbabilities(of continuations: [String], after prompt: String) async throws -> [Float] {
        try await base.logProbabilities(of: continuations, after: prompt)
    }
}
