import Foundation
import Testing
import KnowLMCore
@testable import KnowLMAgent
import KnowLMKnowledge
import KnowLMRuntime
#if canImport(Glibc)
import Glibc
#endif

/// A knowledge base in a scratch folder, removed when the value goes away.
final class ScratchFolder {
    let directory: URL
    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("knowlm-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: directory) }
    var kbURL: URL { directory.appendingPathComponent("kb.sqlite") }

    /// A small graph of books, a domain none of the prompts was written for.
    func booksKnowledgeBase() throws -> KnowledgeBase {
        let nt = """
        <http://b.org/Dune> <http://www.w3.org/2000/01/rdf-schema#label> "Dune"@en .
        <http://b.org/Herbert> <http://www.w3.org/2000/01/rdf-schema#label> "Frank Herbert"@en .
        <http://b.org/Dune> <http://b.org/author> <http://b.org/Herbert> .
        <http://b.org/Dune> <http://b.org/published> "1965"^^<http://www.w3.org/2001/XMLSchema#integer> .
        <http://b.org/Herbert> <http://b.org/bornIn> <http://b.org/Tacoma> .
        <http://b.org/Tacoma> <http://www.w3.org/2000/01/rdf-schema#label> "Tacoma"@en .
        <http://b.org/author> <http://www.w3.org/2000/01/rdf-schema#label> "author"@en .
        <http://b.org/published> <http://www.w3.org/2000/01/rdf-schema#label> "year published"@en .
        <http://b.org/bornIn> <http://www.w3.org/2000/01/rdf-schema#label> "place of birth"@en .
        """
        let file = directory.appendingPathComponent("books.nt")
        try nt.write(to: file, atomically: true, encoding: .utf8)
        let kb = try KnowledgeBase(url: kbURL)
        _ = try kb.importTriples(from: file)
        return kb
    }
}

/// The agent end to end with the real default model: every action parses and names a real
/// tool, every step is recorded, tool failures of every kind become observations and the run
/// goes on, and a killed run leaves the knowledge base consistent.
@Suite(.serialized)
struct AgentModelTests {
    static let model: LocalModel? = {
        let store = ModelStore()
        guard let path = try? store.resolve(ModelStore.defaultGenerator) else { return nil }
        var options = RuntimeOptions()
        options.contextLength = 2048
        return try? LocalModel.load(path: path, options: options)
    }()

    static func requireModel() throws -> LocalModel {
        try #require(model, "the default model must be installed (scripts/setup.sh)")
    }

    @Test func answersFromTheGraphAndRecordsEveryStep() async throws {
        let llm = try Self.requireModel()
        let scratch = try ScratchFolder()
        let kb = try scratch.booksKnowledgeBase()
        let retriever = Retriever(kb: kb, embedder: nil)
        let registry = try BuiltinTools.registry(names: ["kg_query", "kg_neighbors", "calculator"], kb: kb, retriever: retriever,
                                                 qa: nil, extractor: nil, allowNetwork: false)
        var options = AgentOptions()
        options.maxSteps = 4
        let agent = try Agent(model: llm, registry: registry, kb: kb, detector: HallucinationDetector(retriever: retriever, model: llm),
                              options: options)
        let run = await agent.run("Who wrote Dune?")
        #expect(run.error == nil, "\(run.error ?? "")")
        #expect([.answered, .forced].contains(run.outcome))
        #expect(run.steps.count <= 4)
        for step in run.steps {
            if case .call(_, let tool, _) = step.action { #expect(step.allowedTools.contains(tool)) }
        }
        // A final answer only after evidence; grounded in what the tools returned.
        if case .call = try #require(run.steps.first).action {} else { Issue.record("the first action was not a tool call") }
        let answer = try #require(run.answer)
        let observed = run.steps.compactMap { $0.result?.observation }.joined(separator: "\n")
        #expect(observed.contains(answer), "\(answer) is not from the observations")
        #expect(run.verification != nil)
        // The log has the run and every step.
        let runID = try #require(run.id)
        let logged = try #require(try kb.agentRun(runID))
        #expect(logged.steps.count == run.steps.count)
        #expect(logged.run.outcome == run.outcome.rawValue)
        #expect(logged.run.answer == run.answer)
        #expect(try kb.agentRuns().first?.id == run.id)
    }

    /// Knowledge first, with the real model: a question about an entity the graph has facts on
    /// goes to `ask` at the first step and is answered with the graph's words; a task the graph
    /// knows nothing about (arithmetic), or one naming the entity only as an ordinary
    /// lower-case word, is left to the model's choice.
    @Test func knowledgeQuestionsGoToAskFirstAndOtherTasksDoNot() async throws {
        let llm = try Self.requireModel()
        let scratch = try ScratchFolder()
        let kb = try scratch.booksKnowledgeBase()
        let retriever = Retriever(kb: kb, embedder: nil)
        let qa = KnowledgeQA(retriever: retriever, model: llm, prompts: try PromptLibrary())
        let registry = try BuiltinTools.registry(names: ["kg_query", "ask", "calculator", "current_time"], kb: kb, retriever: retriever,
                                                 qa: qa, extractor: nil, allowNetwork: false)
        var options = AgentOptions()
        options.maxSteps = 3
        options.verify = false
        options.record = false
        let agent = try Agent(model: llm, registry: registry, kb: kb, retriever: retriever, options: options)

        let question = "Who is the author of Dune?"
        var recording = options
        recording.record = true
        let run = await (try Agent(model: llm, registry: registry, kb: kb, retriever: retriever, options: recording)).run(question)
        let first = try #require(run.steps.first)
        // The log keeps why the planner took the step (GET /v1/agent/runs/{id}, `agent runs show`).
        let runID = try #require(run.id)
        let logged = try #require(try kb.agentRun(runID))
        #expect(logged.steps.first?.planner == first.planner && logged.steps.dropFirst().allSatisfy { $0.planner == nil })
        guard case .call(_, "ask", let arguments) = first.action else {
            Issue.record("the first action was \(first.action), not ask")
            return
        }
        #expect(arguments["question"]?.stringValue == question)
        #expect(first.choiceScores.isEmpty && first.planner != nil)  // not the model's choice
        #expect(run.answer?.contains("Frank Herbert") == true, "\(run.answer ?? "no answer")")

        for task in ["What is 12 * 12?", "who is the author of dune?"] {
            let other = await agent.run(task)
            let step = try #require(other.steps.first)
            #expect(!step.choiceScores.isEmpty && step.planner == nil, "\(task): the first step was not chosen by the model")
        }
        options.knowledgeFirst = false
        let off = try Agent(model: llm, registry: registry, kb: kb, retriever: retriever, options: options)
        #expect(try #require(await off.run(question).steps.first).choiceScores.isEmpty == false)
    }

    /// Knowledge first gives way to a declared function that fits the task: the caller asked
    /// for calls to it, so the first step calls it instead of sending the task to `ask`.
    @Test func aFittingDeclaredFunctionComesBeforeKnowledgeFirst() async throws {
        let llm = try Self.requireModel()
        let embedder = try BERTEmbedder(folder: URL(fileURLWithPath: try ModelStore().resolve(ModelStore.defaultEmbedder)))
        let scratch = try ScratchFolder()
        let kb = try scratch.booksKnowledgeBase()
        let retriever = Retriever(kb: kb, embedder: nil)
        let qa = KnowledgeQA(retriever: retriever, model: llm, prompts: try PromptLibrary())
        let builtins = try BuiltinTools.registry(names: ["ask", "calculator"], kb: kb, retriever: retriever, qa: qa, extractor: nil, allowNetwork: false)
        var options = AgentOptions()
        options.maxSteps = 2
        options.verify = false
        options.record = false
        let question = "Who is the author of Dune?"
        let plain = try Agent(model: llm, registry: builtins, kb: kb, embedder: embedder, retriever: retriever, options: options)
        #expect(try #require(await plain.run(question).steps.first).planner != nil)
        let author = ClientTool(name: "author_of", description: "Who is the author of a book, such as Dune or Emma?",
                                parameters: try JSONValue.parse(#"{"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}"#))
        let unrelated = ClientTool(name: "paint_cost", description: "Estimate the cost of painting a wall.",
                                   parameters: try JSONValue.parse(#"{"type": "object", "properties": {"width": {"type": "number"}}, "required": ["width"]}"#))
        for (tool, planned) in [(author, false), (unrelated, true)] {
            let agent = try Agent(model: llm, registry: ToolRegistry(builtins.tools + [tool]), kb: kb, embedder: embedder,
                                  retriever: retriever, options: options)
            let run = await agent.run(question)
            let first = try #require(run.steps.first)
            #expect((first.planner != nil) == planned, "\(tool.name): \(first.action)")
            // The fitting function is called at once, with the task's title.
            if !planned { #expect(run.call?.tool == "author_of" && run.steps.count == 1, "\(first.action)") }
        }
    }

    /// Declared functions with the real model and embedder (made-up functions and tasks): a
    /// task one of them fits is answered by calling it with the task's numbers, bound to the
    /// parameters the task names; a task none fits is answered without a call.
    @Test func declaredFunctionsAreCalledWithTheTasksNumbersOrNotAtAll() async throws {
        let llm = try Self.requireModel()
        let embedder = try BERTEmbedder(folder: URL(fileURLWithPath: try ModelStore().resolve(ModelStore.defaultEmbedder)))
        let tools = [
            ClientTool(name: "book_flight", description: "Book a flight between two cities on a date.",
                       parameters: try JSONValue.parse(#"{"type": "object", "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}, "date": {"type": "string"}}, "required": ["origin", "destination", "date"]}"#)),
            ClientTool(name: "paint_cost", description: "Estimate the cost of painting a wall.",
                       parameters: try JSONValue.parse(#"{"type": "object", "properties": {"width": {"type": "number", "description": "Wall width in metres."}, "height": {"type": "number", "description": "Wall height in metres."}, "coats": {"type": "integer", "description": "Coats of paint (default 2)."}}, "required": ["width", "height"]}"#)),
        ]
        var options = AgentOptions()
        options.maxSteps = 2
        options.verify = false
        options.record = false
        let agent = try Agent(model: llm, registry: ToolRegistry(tools), embedder: embedder, options: options)
        let run = await agent.run("How much will it cost to paint a wall with a height of 3 and a width of 7.5 metres?")
        let call = try #require(run.call, "no call: \(run.answer ?? run.error ?? "")")
        #expect(call.tool == "paint_cost")
        #expect(call.arguments["width"] == .number("7.5") && call.arguments["height"] == .number("3"))
        #expect(call.arguments["coats"] == nil, "an optional argument the task does not mention: \(call.arguments.serialized())")
        // The same numbers tied to the other names: the grammar is built for this task, not reused.
        let swapped = await agent.run("How much will it cost to paint a wall with a width of 3 and a height of 7.5 metres?")
        let other = try #require(swapped.call)
        #expect(other.arguments["width"] == .number("3") && other.arguments["height"] == .number("7.5"))
        let unrelated = await agent.run("Who composed the Moonlight Sonata?")
        #expect(unrelated.call == nil && unrelated.outcome == .answered, "\(unrelated.call.map { $0.tool } ?? "")")
    }

    @Test func everyKindOfToolFailureIsRecordedAndTheRunGoesOn() async throws {
        let llm = try Self.requireModel()
        let scratch = try ScratchFolder()
        let kb = try KnowledgeBase(url: scratch.kbURL)
        let faulty: [any Tool] = [ThrowingTool(), HangingTool(), HugeTool(), InvalidUTF8Tool()]
        var expected: [String: ToolCallResult.Outcome] = ["broken": .error, "hang": .timeout, "huge": .ok, "bytes": .ok]
        for tool in faulty {
            let registry = ToolRegistry([tool])
            registry.timeout = .milliseconds(400)
            var options = AgentOptions()
            options.maxSteps = 3
            options.verify = false
            let agent = try Agent(model: llm, registry: registry, kb: kb, options: options)
            let run = await agent.run("Use the \(tool.name) tool to find the answer.")
            #expect(run.error == nil || run.outcome == .failed, "\(tool.name): \(run.error ?? "")")
            let first = try #require(run.steps.first, "\(tool.name): no step")
            #expect(first.result?.outcome == expected.removeValue(forKey: tool.name), "\(tool.name): \(String(describing: first.result?.outcome))")
            #expect(run.steps.count >= 2, "\(tool.name): the run stopped after the failure")
            let runID = try #require(run.id)
            let logged = try #require(try kb.agentRun(runID))
            #expect(logged.steps.count == run.steps.count)
            #expect(logged.steps.allSatisfy { ($0.observation ?? "").utf8.count < 4096 }, "observations are stored truncated")
        }
        #expect(try kb.integrityCheck() == "ok")
    }

    @Test func aKilledRunLeavesTheKnowledgeBaseConsistent() async throws {
        let knowlm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("knowlm")
        try #require(FileManager.default.isExecutableFile(atPath: knowlm.path), "build the knowlm product first (scripts/test.sh does)")
        _ = try Self.requireModel()
        let scratch = try ScratchFolder()
        _ = try scratch.booksKnowledgeBase()
        let process = Process()
        process.executableURL = knowlm
        process.arguments = ["agent", "--kb", scratch.kbURL.path, "--tools", "kg_query,kg_neighbors", "--max-steps", "6", "--no-verify",
                             "In which year was Dune published and where was its author born?"]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        // Kill it once the first step is on screen (so a run and a step are in the log).
        let reader = errors.fileHandleForReading
        var seen = Data()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !String(decoding: seen, as: UTF8.self).contains("←") {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let kb = try KnowledgeBase(url: scratch.kbURL)
        #expect(try kb.integrityCheck() == "ok")
        let killed = try #require(try kb.agentRuns().first)
        #expect(killed.outcome == "running" && killed.steps >= 1)
        // The next run notices the dead process and marks its run interrupted.
        try kb.beginAgentRun(task: "next", model: "m", tools: [], taskEmbedding: nil)
        #expect(try kb.agentRun(killed.id)?.run.outcome == "interrupted")
        #expect(try kb.statistics().triples > 0)
    }
}
