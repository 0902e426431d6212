import Foundation
import KnowLMCore

/// A source the answer relies on.
public struct Citation: Sendable, Codable, Equatable {
    public var id: String
    public var kind: String
    public var text: String
}

/// An answer with the knowledge it came from.
public struct KnowledgeAnswer: Sendable {
    public var answer: String
    public var citations: [Citation]
    public var context: KnowledgeContext
    public var prompt: String
    public var rawOutput: String
}

/// Question answering over a knowledge base: retrieve, fill the knowledge prompt, generate,
/// and tie the answer to the facts and passages it cites.
public struct KnowledgeQA: Sendable {
    public let retriever: Retriever
    public let model: any LanguageModel
    public let prompts: PromptLibrary
    public var maxTokens = 32

    public init(retriever: Retriever, model: any LanguageModel, prompts: PromptLibrary) {
        self.retriever = retriever
        self.model = model
        self.prompts = prompts
    }

    /// The knowledge prompt for a question and its context.
    ///
    /// The examples put the citation first: a small model picks a numbered fact more reliably
    /// than it recalls an answer, and then copies that fact's object.
    public func prompt(for context: KnowledgeContext) throws -> String {
        func items(_ list: [KnowledgeContext.Item]) -> [[String: Any]] {
            list.map { ["id": $0.id, "text": $0.text.replacingOccurrences(of: "\n", with: " ")] }
        }
        // Items in the order of their numbers (passages may come before facts).
        let ordered = context.items.sorted { (Int($0.id) ?? 0) < (Int($1.id) ?? 0) }
        return try prompts.render("knowledge_qa.\(context.language)", [
            "question": context.question, "items": items(ordered),
            "facts": items(context.facts), "passages": items(context.passages),
        ])
    }

    public func answer(_ question: String) async throws -> KnowledgeAnswer {
        let context = try retriever.retrieve(question)
        let text = try prompt(for: context)
        var parameters = GenerateParameters.greedy(maxTokens: maxTokens)
        // The answer is the first non-empty line; a following "Question:" or "Facts:" means the
        // model has moved on to inventing the next example.
        parameters.stop = ["\nQuestion", "\nFacts", "\n问题", "\n事实", "\n\n"]
        // With knowledge to cite, the answer starts with a citation: "[" ends the prompt and
        // constrained decoding lets the model choose only among the numbers shown, so its first
        // decision is which fact or passage to use (a base model otherwise often answers from
        // memory or invents a number). The prompt ends "Answer:\n": the citation opens the line
        // below (measured on 120 questions: 79% correct, against 70% continuing "Answer: [").
        let forced = context.items.isEmpty ? "" : context.language == "zh" ? "[" : " ["
        let promptText = text + forced
        if !forced.isEmpty {
            parameters.startsWithOneOf = context.items.map { "\($0.id)]" }
            // The answer is the line that opens with the citation: stop at its end instead of
            // letting the model list more "[2] …" lines up to the token limit.
            parameters.stop.append("\n")
        }
        let result = try await model.complete(prompt: promptText, parameters: parameters)
        let output = (forced.isEmpty ? "" : "[") + result.text
        var (answer, cited) = Self.splitCitations(Self.firstLine(output))
        answer = Self.objectIfEchoedFact(answer)
        if let first = cited.first, let item = context.item(id: first), item.kind == .triple,
           let object = item.answerNames.first, !object.isEmpty {
            // The citation and the words can disagree; the graph decides which to trust.
            let lower = answer.lowercased()
            func names(_ fact: KnowledgeContext.Item) -> Bool {
                !lower.isEmpty && fact.answerNames.contains { !$0.isEmpty && lower.contains($0.lowercased()) }
            }
            if names(item) {
                // agree
            } else if !lower.isEmpty && item.text.lowercased().contains(lower) {
                // The right fact, the wrong part of it (its subject, or the bridge entity of a
                // two-hop path): the fact's answer entity.
                answer = object
            } else if !lower.isEmpty, let passage = context.passages.first(where: { $0.text.lowercased().contains(lower) }) {
                // The words come from a passage: trust them, and cite it.
                cited = [passage.id] + cited.filter { $0 != passage.id }
            } else if let other = context.facts.first(where: names), other.score > item.score {
                // The words are the answer of a fact the retriever ranked higher than the one
                // cited: the number was the slip.
                cited = [other.id] + cited.filter { $0 != other.id }
            } else {
                // Words from a lower-ranked fact (often a neighbour's) or from nowhere in the
                // graph: the cited fact's answer entity.
                answer = object
            }
        }
        var citations = cited.compactMap { id in context.item(id: id).map { Citation(id: $0.id, kind: $0.kind.rawValue, text: $0.text) } }
        if citations.isEmpty {
            // No usable [n]: cite the facts whose object the answer names.
            let lower = answer.lowercased()
            citations = context.facts.filter { fact in
                fact.answerNames.contains { !$0.isEmpty && lower.contains($0.lowercased()) }
            }.map { Citation(id: $0.id, kind: $0.kind.rawValue, text: $0.text) }
        }
        return KnowledgeAnswer(answer: answer, citations: citations, context: context, prompt: promptText, rawOutput: output)
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
