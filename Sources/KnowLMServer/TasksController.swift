import Foundation
import Hummingbird
import KnowLMAgent
import KnowLMCore
import KnowLMExtraction
import KnowLMKnowledge
import KnowLMRuntime

/// The knowledge tasks over HTTP: schema-based extraction (`/v1/extract`), claim-by-claim
/// verification (`/v1/detect`) and the tool-using agent (`/v1/agent/runs`).
struct TasksController {
    let runner: ModelRunner

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/extract") { request, _ in try await extract(request) }
        router.post("/v1/detect") { request, _ in try await detect(request) }
        router.post("/v1/agent/runs") { request, _ in try await startRun(request) }
        router.get("/v1/agent/runs") { request, _ in try listRuns(request) }
        router.get("/v1/agent/runs/:id") { _, context in try showRun(context.parameters.require("id")) }
    }

    // MARK: extraction

    /// `{"task", "schema", "text", "language"?, "max_tokens"?, "to_kg"?, "document"?}` →
    /// `{"task", "result", "spans", "warnings", "stored"?}`; `result` is in OneKE's output format.
    func extract(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        defer { withExtendedLifetime(ticket) {} }
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let taskName = try body.requiredString("task")
        guard let task = IETask(name: taskName) else {
            throw APIError.invalid("task must be one of \(IETask.allCases.map { $0.rawValue.lowercased() }.joined(separator: ", "))", param: "task")
        }
        guard let schemaValue = body.object["schema"], schemaValue != .null else { throw APIError.invalid("schema is required", param: "schema") }
        let schema: IESchema
        do { schema = try IESchema.parse(json: schemaValue, task: task) } catch {
            throw APIError.invalid((error as? LocalizedError)?.errorDescription ?? "\(error)", param: "schema")
        }
        let text = try body.requiredString("text")
        var options = ExtractionOptions(task: task)
        if let language = try body.string("language") {
            guard let lang = IELanguage(rawValue: language) else { throw APIError.invalid("language must be en or zh", param: "language") }
            options.language = lang
        }
        if let maxTokens = try body.int("max_tokens", in: 8...4096) { options.maxTokens = maxTokens }
        // Kept well inside the body limit; longer texts belong in several requests.
        options.maxInputCharacters = min(options.maxInputCharacters, runner.configuration.maxBodyBytes)
        let toKG = try body.bool("to_kg") ?? false
        let document = try body.string("document")
        let knowledge = toKG ? try KnowledgeController.service(runner) : nil
        let extractor = try runner.extractor()
        let settings = options
        let output = try await runner.withDeadline { try await extractor.extract(text, schema: schema, options: settings) }
        var members: [(key: String, value: JSONValue)] = [
            ("task", .string(task.rawValue)),
            ("result", output.result.oneKEObject(task: task, schema: schema)),
            ("spans", .array(output.spans.map { s in
                .object([("text", .string(s.text)), ("label", .string(s.label)), ("start", .num(s.start)), ("end", .num(s.end))])
            })),
            ("warnings", .array(output.warnings.map { .string($0) })),
            ("model_calls", .num(output.modelCalls)),
        ]
        if let knowledge {
            let name = document ?? "text:" + String(SHA256.hex(Array(text.utf8)).prefix(16))
            let report = try output.store(in: knowledge.kb, document: name, schema: schema, model: runner.backends.modelID)
            knowledge.retriever.knowledgeChanged()
            members.append(("stored", .object([
                ("document", .string(name)), ("facts", .num(report.facts)), ("added", .num(report.added)), ("removed", .num(report.removed)),
            ])))
        }
        return jsonResponse(.object(members))
    }

    // MARK: detection

    /// `{"question"?, "answer"}` → the verification: `{"response_label", "claims": [...]}`.
    func detect(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        defer { withExtendedLifetime(ticket) {} }
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let knowledge = try KnowledgeController.service(runner)
        let answer = try body.requiredString("answer").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !answer.isEmpty, answer.count <= 20_000 else { throw APIError.invalid("answer must be 1 to 20000 characters", param: "answer") }
        let question = try body.string("question") ?? ""
        var options = DetectorOptions()
        if try body.bool("use_model") == false { options.useModel = false }
        let detector = HallucinationDetector(retriever: knowledge.retriever, model: runner.backends.model as? any LocalLanguageModel,
                                             options: options)
        let verification = try await runner.withDeadline { try await detector.verify(question: question, answer: answer) }
        return jsonResponse(verification.json)
    }

    // MARK: the agent

    /// `{"task", "tools"?: [built-in names], "functions"?: [OpenAI tools], "max_steps"?,
    /// "verify"?, "knowledge_first"?, "stream"?}`. Streamed: server-sent events `{"type": "run.created", "run_id"}`,
    /// `{"type": "step", …}` per step, then `{"type": "run.completed", …run}`; otherwise the
    /// run as one object. Either way the run is in the log (`GET /v1/agent/runs/{id}`).
    func startRun(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let task = try body.requiredString("task").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !task.isEmpty, task.count <= 4000 else { throw APIError.invalid("task must be 1 to 4000 characters", param: "task") }
        let agent = try makeAgent(body)
        if try body.bool("stream") == true {
            return ServerSentEvents.response(ticket: ticket) { send in
                let events = AsyncStream<JSONValue>.makeStream()
                let run = Task {
                    let result = await agent.run(task, onStart: { id in
                        events.continuation.yield(.object([("type", .string("run.created")), ("run_id", id.map { .string($0) } ?? .null)]))
                    }, onStep: { step in
                        events.continuation.yield(.object([("type", .string("step"))] + (step.json.objectValue ?? [])))
                    })
                    events.continuation.finish()
                    return result
                }
                try await withTaskCancellationHandler {
                    do {
                        for await event in events.stream { try await send(event) }
                        let result = await run.value
                        try await send(.object([("type", .string("run.completed"))] + (result.json.objectValue ?? [])))
                    } catch {
                        run.cancel()
                        throw error
                    }
                } onCancel: { run.cancel() }
            }
        }
        let result = try await runner.withDeadline { await agent.run(task) }
        withExtendedLifetime(ticket) {}
        return jsonResponse(result.json)
    }

    func makeAgent(_ body: RequestFields) throws -> Agent {
        let knowledge = try KnowledgeController.service(runner)
        let model = try runner.model()
        var options = AgentOptions()
        if let steps = try body.int("max_steps", in: 1...12) { options.maxSteps = steps }
        if let verify = try body.bool("verify") { options.verify = verify }
        if let first = try body.bool("knowledge_first") { options.knowledgeFirst = first }
        // The server does not fetch URLs for its callers.
        options.allowNetwork = false
        let names = try body.array("tools").map { list in
            try list.map { item in
                guard let name = item.stringValue else { throw APIError.invalid("tools must be an array of built-in tool names", param: "tools") }
                return name
            }
        }
        let registry: ToolRegistry
        do {
            registry = try BuiltinTools.registry(names: names, kb: knowledge.kb, retriever: knowledge.retriever, qa: knowledge.qa,
                                                 extractor: try? runner.extractor(), allowNetwork: false)
        } catch let error as ToolError {
            throw APIError.invalid(error.localizedDescription, param: "tools")
        }
        if let functions = body.object["functions"], functions != .null {
            for tool in try BuiltinTools.clientTools(from: functions) { registry.register(tool) }
        }
        guard !registry.tools.isEmpty else { throw APIError.invalid("the agent needs at least one tool", param: "tools") }
        // Declared functions alone: the task is answered by a call (or by not calling).
        if registry.tools.allSatisfy({ $0.kind == .client }) { options.verify = false }
        let detector = HallucinationDetector(retriever: knowledge.retriever, model: model as? any LocalLanguageModel)
        return try Agent(model: model, registry: registry, kb: knowledge.kb, embedder: knowledge.retriever.embedder,
                         detector: detector, retriever: knowledge.retriever, options: options,
                         prompts: runner.backends.prompts)
    }

    /// `?limit=N` → the most recent runs in the log.
    func listRuns(_ request: Request) throws -> Response {
        let knowledge = try KnowledgeController.service(runner)
        var limit = 20
        if let text = request.uri.queryParameters.get("limit") {
            guard let n = Int(text), (1...500).contains(n) else { throw APIError.invalid("limit must be an integer from 1 to 500", param: "limit") }
            limit = n
        }
        return jsonResponse(.object([("data", try Self.encode(knowledge.kb.agentRuns(limit: limit)))]))
    }

    /// One run from the log with its steps so far (a running run shows the steps done).
    func showRun(_ id: String) throws -> Response {
        let knowledge = try KnowledgeController.service(runner)
        guard id.count >= 4, id.allSatisfy({ $0.isHexDigit || $0 == "-" }), let (run, steps) = try knowledge.kb.agentRun(id) else {
            throw APIError(.notFound, "no agent run \(id) (GET /v1/agent/runs lists them)", param: "id")
        }
        return jsonResponse(.object([("run", try Self.encode(run)), ("steps", try Self.encode(steps))]))
    }

    /// A log record as JSON (snake_case keys, ISO 8601 dates).
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return try JSONValue.parse(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
