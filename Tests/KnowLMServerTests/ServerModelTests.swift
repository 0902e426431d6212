import Foundation
import Hummingbird
import HummingbirdTesting
import KnowLMCore
import KnowLMKnowledge
import KnowLMRemote
import KnowLMRuntime
@testable import KnowLMServer
import Testing

/// The server with the real default model: KnowLM's example request, schema-constrained
/// output, tool calls, log-probabilities and seeds, as a client sees them.
@Suite(.serialized)
struct ServerModelTests {
    static let model: LocalModel? = {
        guard let path = try? ModelStore().resolve(ModelStore.defaultGenerator) else { return nil }
        var options = RuntimeOptions()
        options.contextLength = 2048
        return try? LocalModel.load(path: path, options: options)
    }()

    static func app() throws -> some ApplicationProtocol {
        let llm = try #require(model, "the default model must be installed (scripts/setup.sh)")
        return buildApplication(configuration: ServerConfiguration(),
                                backends: .local(llm, modelID: "gemma-3-270m", prompts: try PromptLibrary()))
    }

    /// KnowLM's README example, answered in KnowLM's response shape.
    @Test func knowlmExample() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/generate", method: .post,
                                     body: body(#"{"instruction": "你好", "input": "", "parameters": {"top_p": 0.75, "top_k": 40, "temperature": 0.1, "max_tokens": 32, "num_beams": 1, "repetition_penalty": 1.1}}"#)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let value = try json(response)
                #expect(value["error"] == .null)
                #expect(value["generated_text"]?.stringValue != nil)
                let count = try #require(value["num_output_tokens_cf"]?.intValue)
                #expect((1...32).contains(count))
            }
        }
    }

    @Test func jsonSchemaResponseFormat() async throws {
        let schema = #"{"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}, "population": {"type": "integer"}}, "required": ["city", "population"]}"#
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: body(#"{"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Give the largest city of Japan and its population as JSON."}], "temperature": 0, "max_tokens": 64, "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": \#(schema)}}}"#)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let message = try #require(try json(response)["choices"]?.arrayValue?.first?["message"])
                let content = try #require(message["content"]?.stringValue)
                let value = try JSONValue.parse(content)
                #expect(value["city"]?.stringValue != nil)
                // An integer by JSON's grammar (it may be longer than Int holds).
                guard case .number(let digits)? = value["population"] else { Issue.record("population is not a number: \(content)"); return }
                #expect(digits.allSatisfy { $0.isNumber || $0 == "-" })
            }
        }
    }

    @Test func requiredToolCall() async throws {
        let tools = #"[{"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]"#
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: body(#"{"messages": [{"role": "user", "content": "What is the weather in Oslo?"}], "temperature": 0, "max_tokens": 80, "tools": \#(tools), "tool_choice": "required"}"#)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let choice = try #require(try json(response)["choices"]?.arrayValue?.first)
                #expect(choice["finish_reason"] == .string("tool_calls"))
                let call = try #require(choice["message"]?["tool_calls"]?.arrayValue?.first)
                #expect(call["type"] == .string("function"))
                #expect(call["function"]?["name"] == .string("get_weather"))
                let arguments = try JSONValue.parse(try #require(call["function"]?["arguments"]?.stringValue))
                #expect(arguments["city"]?.stringValue != nil)
            }
        }
    }

    /// Same seed, same text; log-probabilities come one per generated token.
    @Test func seedsAndLogprobs() async throws {
        let request = #"{"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0.9, "seed": 42, "logprobs": 2}"#
        try await Self.app().test(.router) { client in
            var texts: [String] = []
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/completions", method: .post, body: body(request)) { (response: TestResponse) throws in
                    #expect(response.status == .ok)
                    let value = try json(response)
                    let choice = try #require(value["choices"]?.arrayValue?.first)
                    texts.append(choice["text"]?.stringValue ?? "")
                    let tokens = choice["logprobs"]?["tokens"]?.arrayValue ?? []
                    #expect(tokens.count == value["usage"]?["completion_tokens"]?.intValue)
                    #expect(choice["logprobs"]?["top_logprobs"]?.arrayValue?.first?.objectValue?.count ?? 0 >= 1)
                }
            }
            #expect(texts.count == 2 && texts[0] == texts[1] && !texts[0].isEmpty)
        }
    }

    /// The agent over HTTP with the real model, batched (`parallel` 2) so the scoring of
    /// choices goes through `BatchedModel`: server-sent events of the run's start, its steps
    /// and its end, and the same run read back from the log; then an answer checked claim by
    /// claim.
    @Test func agentRunStreamedAndReadBackThenDetect() async throws {
        let llm = try #require(Self.model, "the default model must be installed (scripts/setup.sh)")
        let scratch = try ScratchKB()
        let prompts = try PromptLibrary()
        let retriever = Retriever(kb: scratch.kb, embedder: nil)
        let knowledge = KnowledgeService(kb: scratch.kb, retriever: retriever, qa: KnowledgeQA(retriever: retriever, model: llm, prompts: prompts))
        let backends = ServerBackends.local(llm, modelID: "gemma-3-270m", parallel: 2, knowledge: knowledge, prompts: prompts)
        defer { (backends.model as? BatchedModel)?.shutdown() }
        try await buildApplication(configuration: ServerConfiguration(), backends: backends).test(.router) { client in
            let triples = #"{"triples": [{"subject": "Dune", "predicate": "author", "object": "Frank Herbert"}, {"subject": "Frank Herbert", "predicate": "place of birth", "object": "Tacoma"}]}"#
            try await client.execute(uri: "/v1/kb/triples", method: .post, body: body(triples)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
            }
            var runID: String?
            let task = #"{"task": "Who wrote Dune?", "max_steps": 3, "tools": ["kg_neighbors", "kg_query", "kb_search"], "stream": true}"#
            try await client.execute(uri: "/v1/agent/runs", method: .post, body: body(task)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let events = String(buffer: response.body).components(separatedBy: "\n\n")
                    .filter { $0.hasPrefix("data: {") }.map { try? JSONValue.parse(String($0.dropFirst(6))) }
                let types = events.map { $0?["type"]?.stringValue ?? "?" }
                #expect(types.first == "run.created", "\(types)")
                #expect(types.last == "run.completed", "\(types)")
                #expect(types.filter { $0 == "step" }.count >= 1)
                runID = events.first??["run_id"]?.stringValue
                let last = try #require(events.last ?? nil)
                #expect(last["steps"]?.arrayValue?.count == types.filter { $0 == "step" }.count)
                #expect(["answered", "forced"].contains(last["outcome"]?.stringValue ?? ""), "\(last.serialized())")
            }
            let id = try #require(runID)
            try await client.execute(uri: "/v1/agent/runs/\(id)", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let value = try json(response)
                #expect(value["run"]?["id"] == .string(id))
                #expect(value["run"]?["task"] == .string("Who wrote Dune?"))
                #expect((value["steps"]?.arrayValue?.count ?? 0) >= 1)
            }
            let claim = #"{"question": "Who wrote Dune?", "answer": "Dune was written by Frank Herbert."}"#
            try await client.execute(uri: "/v1/detect", method: .post, body: body(claim)) { (response: TestResponse) throws in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let value = try json(response)
                #expect(["hallucination", "non-hallucination"].contains(value["response_label"]?.stringValue ?? ""), "\(value.serialized())")
                #expect((value["claims"]?.arrayValue?.count ?? 0) >= 1)
            }
        }
    }

    /// The remote backend's JSON Schema request (what `extract` and `agent` send when their model
    /// is remote) is held by the server's grammar engine: the answer parses and has the field.
    @Test func remoteJSONSchemaIsHeldByTheServer() async throws {
        let llm = try #require(Self.model, "the default model must be installed (scripts/setup.sh)")
        var config = ServerConfiguration()
        config.port = 0
        let app = buildApplication(configuration: config, backends: .local(llm, modelID: "gemma-3-270m", prompts: try PromptLibrary()))
        try await app.test(.live) { client in
            let remote = RemoteModel(endpoint: "http://127.0.0.1:\(try #require(client.port))/v1", model: "gemma-3-270m")
            var parameters = GenerateParameters.greedy(maxTokens: 48)
            parameters.remoteJSONSchema = #"{"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}}, "required": ["city"]}"#
            let result = try await remote.complete(prompt: "The largest city of Japan, as JSON:", parameters: parameters)
            let value = try JSONValue.parse(result.text)
            #expect(value["city"]?.stringValue != nil, "\(result.text)")
        }
    }
}
