import Foundation
import KnowLMCore

/// A source the answer relies on.
public struct Citation: Sendable, Codable, Equatable {
    public var id: String
    public var kind: String
    public var text: String
}

/// What chose an answer's words.
public enum AnswerSource: String, Sendable, Codable {
    /// The model's own words (from a passage).
    case model
    /// A fact of the graph: the model chose which fact, the graph gave the words.
    case graph
    /// Computed from the graph (a count, comparison or superlative), or an abstention.
    case computed
}

/// An answer with the knowledge it came from.
public struct KnowledgeAnswer: Sendable {
    public var answer: String
    public var citations: [Citation]
    public var context: KnowledgeContext
    public var prompt: String
    public var rawOutput: String
    /// Whether a retrieved fact or passage supports the answer; when false the answer is an
    /// abstention ("the knowledge base has nothing on …").
    public var supported: Bool
    public var decidedBy: AnswerSource
    /// Seconds spent retrieving (linking, graph, passages) and in the model.
    public var retrievalSeconds = 0.0
    public var generationSeconds = 0.0
}

/// Question answering over a knowledge base: retrieve, fill the knowledge prompt, generate,
/// and tie the answer to the facts and passages it cites. When nothing retrieved supports an
/// answer, it abstains instead of letting the model invent one.
public struct KnowledgeQA: Sendable {
    public let retriever: Retriever
    public let prompts: PromptLibrary
    public var maxTokens = 32
    private let source: ModelSource

    public init(retriever: Retriever, model: any LanguageModel, prompts: PromptLibrary) {
        self.retriever = retriever
        self.source = ModelSource { model }
        self.prompts = prompts
    }

    /// The model is loaded by `loadModel` on first need: answers the graph gives or computes
    /// (and abstentions) never wait for it.
    public init(retriever: Retriever, loadModel: @escaping @Sendable () throws -> any LanguageModel, prompts: PromptLibrary) {
        self.retriever = retriever
        self.source = ModelSource(loadModel)
        self.prompts = prompts
    }

    /// The model (loaded now if it was not yet).
    public func model() throws -> any LanguageModel { try source.get() }

    /// The knowledge prompt for a question and its context.
    ///
    /// The examples put the citation first: a small model picks a numbered fact more reliably
    /// than it recalls an answer.
    public func prompt(for context: KnowledgeContext) throws -> String {
        func items(_ list: [KnowledgeContext.Item]) -> [[String: Any]] {
            list.map { ["id": $0.id, "text": $0.text.replacingOccurrences(of: "\n", with: " ")] }
        }
        // Items in the order of their numbers (passages may come before facts).
        let ordered = context.items.sorted { (Int($0.id) ?? 0) < (Int($1.id) ?? 0) }
        let examples = try retriever.examples(language: context.language, prompts: prompts).map { e -> [String: Any] in
            ["facts": e.facts.map { ["id": $0.id, "text": $0.text] }, "question": e.question, "answerID": e.answerID, "answer": e.answer]
        }
        return try prompts.render("knowledge_qa.\(context.language)", [
            "question": context.question, "items": items(ordered), "examples": examples,
            "facts": items(context.facts), "passages": items(context.passages),
        ])
    }

    /// The abstention for a context: "The knowledge base has nothing on …".
    public func abstention(_ context: KnowledgeContext) throws -> String {
        try prompts.render("knowledge_qa_abstain.\(context.language)", ["topic": context.topic]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func answer(_ question: String) async throws -> KnowledgeAnswer {
        let start = Date()
        let context = try retriever.retrieve(question)
        let retrieved = Date()
        var answer = try await answer(context)
        answer.retrievalSeconds = retrieved.timeIntervalSince(start)
        answer.generationSeconds = Date().timeIntervalSince(retrieved)
        return answer
    }

    func answer(_ context: KnowledgeContext) async throws -> KnowledgeAnswer {
        func cite(_ items: [KnowledgeContext.Item]) -> [Citation] { items.map { Citation(id: $0.id, kind: $0.kind.rawValue, text: $0.text) } }
        func abstain(prompt: String = "", output: String = "") throws -> KnowledgeAnswer {
            KnowledgeAnswer(answer: try abstention(context), citations: [], context: context, prompt: prompt, rawOutput: output,
                            supported: false, decidedBy: .computed)
        }
        if let computed = context.computed {
            return KnowledgeAnswer(answer: computed.answer, citations: cite(context.facts), context: context, prompt: "", rawOutput: "",
                                   supported: true, decidedBy: .computed)
        }
        guard context.graphSupports || !context.passages.isEmpty else { return try abstain() }
        if context.passages.isEmpty, context.facts.count == 1, let only = context.facts.first,
           only.score >= Retriever.supportThreshold {
            // One fact, for the relation the question asks: there is nothing for the model to
            // choose, and the fact gives the words.
            return KnowledgeAnswer(answer: only.answerText, citations: cite([only]), context: context, prompt: "", rawOutput: "",
                                   supported: true, decidedBy: .graph)
        }
        let text = try prompt(for: context)
        var parameters = GenerateParameters.greedy(maxTokens: maxTokens)
        // The answer is the first non-empty line; a following "Question:" or "Facts:" means the
        // model has moved on to inventing the next example.
        parameters.stop = ["\nQuestion", "\nFacts", "\n问题", "\n事实", "\n\n", "\n"]
        // The answer starts with a citation: "[" ends the prompt and constrained decoding lets
        // the model choose only among the numbers shown, so its first decision is which fact or
        // passage to use (a base model otherwise often answers from memory).
        let forced = context.language == "zh" ? "[" : " ["
        let promptText = text + forced
        parameters.startsWithOneOf = context.items.map { "\($0.id)]" }
        let result = try await model().complete(prompt: promptText, parameters: parameters)
        let output = "[" + result.text
        let (words, cited) = Self.splitCitations(Self.firstLine(output))
        let spoken = Self.objectIfEchoedFact(words)
        guard let first = cited.first, var item = context.item(id: first) else { return try abstain(prompt: promptText, output: output) }
        if item.kind == .triple {
            // The graph gives the words. When the model's words are another shown fact's
            // answer, that fact was meant and the number was the slip.
            let lower = spoken.lowercased()
            func names(_ fact: KnowledgeContext.Item) -> Bool {
                !lower.isEmpty && fact.answerNames.contains { !$0.isEmpty && lower.contains($0.lowercased()) }
            }
            if !names(item), let other = context.facts.first(where: names) { item = other }
            guard item.score >= Retriever.supportThreshold else { return try abstain(prompt: promptText, output: output) }
            return KnowledgeAnswer(answer: item.answerText, citations: cite([item]), context: context, prompt: promptText,
                                   rawOutput: output, supported: true, decidedBy: .graph)
        }
        // A passage: the model's words, supported only when the passage contains them.
        guard Self.passage(item.text, supports: spoken) else { return try abstain(prompt: promptText, output: output) }
        return KnowledgeAnswer(answer: spoken, citations: cite([item]), context: context, prompt: promptText,
                               rawOutput: output, supported: true, decidedBy: .model)
    }

    /// Whether a passage supports an answer: it contains the answer's words (ignoring case and
    /// punctuation), or the answer is a plain yes or no.
    static func passage(_ text: String, supports answer: String) -> Bool {
        let words = QuestionAnalysis.words(answer).map(\.text)
        guard !words.isEmpty else { return false }
        if words.count == 1 && ["yes", "no", "是", "否"].contains(words[0]) { return true }
        let passage = " " + QuestionAnalysis.words(text).map(\.text).joined(separator: " ") + " "
        return passage.contains(" " + words.joined(separator: " ") + " ")
    }

    /// The first non-empty line of the output.
    static func firstLine(_ output: String) -> String {
        output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
    }

    /// When the model echoes a whole fact ("Japan | currency | Yen"), its object.
    static func objectIfEchoedFact(_ answer: String) -> String {
        let parts = answer.components(separatedBy: " | ")
        return parts.count >= 3 && parts.count % 2 == 1 ? parts[parts.count - 1].trimmingCharacters(in: .whitespaces) : answer
    }

    /// "Japanese yen [2][3]" → ("Japanese yen", ["2", "3"]).
    static func splitCitations(_ output: String) -> (String, [String]) {
        var ids: [String] = []
        var answer = ""
        var rest = Substring(output)
        while let open = rest.firstIndex(of: "[") {
            answer += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "]") else { rest = rest[open...]; break }
            let inside = rest[rest.index(after: open)..<close]
            let parts = inside.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if !parts.isEmpty && parts.allSatisfy({ Int($0) != nil }) { ids += parts } else { answer += rest[open...close] }
            rest = rest[rest.index(after: close)...]
        }
        answer += rest
        var seen = Set<String>()
        return (answer.trimmingCharacters(in: .whitespacesAndNewlines), ids.filter { seen.insert($0).inserted })
    }
}

/// A language model loaded once, on first use.
final class ModelSource: @unchecked Sendable {
    // @unchecked: `model` is read and written only under `lock`.
    private let lock = NSLock()
    private let load: @Sendable () throws -> any LanguageModel
    private var model: (any LanguageModel)?

    init(_ load: @escaping @Sendable () throws -> any LanguageModel) { self.load = load }

    func get() throws -> any LanguageModel {
        lock.lock()
        defer { lock.unlock() }
        if let model { return model }
        let loaded = try load()
        model = loaded
        return loaded
    }
}
