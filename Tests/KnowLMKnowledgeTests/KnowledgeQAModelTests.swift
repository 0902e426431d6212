import Foundation
import Testing
import KnowLMCore
@testable import KnowLMKnowledge
import KnowLMRuntime

/// Question answering end to end with the real default model and embedder, over a tiny graph
/// of a domain the retriever was not written for (films), asked in plain English, lower-case
/// or not; and abstention when the graph has nothing on the question.
@Suite(.serialized)
struct KnowledgeQAModelTests {
    static func qa(_ scratch: ScratchKnowledgeBase) throws -> KnowledgeQA {
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        let store = ModelStore()
        let embedder = try BERTEmbedder(folder: URL(fileURLWithPath: store.resolve(ModelStore.defaultEmbedder)))
        var options = RuntimeOptions()
        options.contextLength = 1024
        let model = try LocalModel.load(path: try store.resolve(ModelStore.defaultGenerator), options: options)
        return KnowledgeQA(retriever: Retriever(kb: kb, embedder: embedder), model: model, prompts: try PromptLibrary())
    }

    @Test func answersQuestionsOfEveryKindOverAnotherDomain() async throws {
        let scratch = try ScratchKnowledgeBase()
        let qa = try Self.qa(scratch)
        let cases: [(String, String, AnswerSource)] = [
            ("Who directed Jaws?", "Steven Spielberg", .graph),
            ("when was interstellar released?", "2014", .graph),
            ("Name a film that Christopher Nolan directed.", "Inception", .graph),
            ("where was the director of jaws born?", "Cincinnati", .graph),
            ("How many films did Christopher Nolan direct?", "3", .computed),
            ("Which is longer, Dunkirk or Jaws?", "Jaws", .computed),
        ]
        for (question, expected, source) in cases {
            let answer = try await qa.answer(question)
            #expect(answer.answer.contains(expected), "\(question) → \(answer.answer)")
            #expect(answer.supported && answer.decidedBy == source, "\(question): \(answer.decidedBy)")
            #expect(!answer.citations.isEmpty)
        }
    }

    @Test func abstainsWhenTheKnowledgeBaseHasNothingOnTheQuestion() async throws {
        let scratch = try ScratchKnowledgeBase()
        let qa = try Self.qa(scratch)
        for question in ["Who composed the music of Inception?", "Who directed Titanic?", "what is the budget of jaws?",
                         "Who is the wife of Steven Spielberg?"] {
            let answer = try await qa.answer(question)
            #expect(!answer.supported, "\(question) → \(answer.answer)")
            #expect(answer.answer.hasPrefix("The knowledge base has nothing on"), "\(question) → \(answer.answer)")
            #expect(answer.citations.isEmpty)
        }
    }
}
