import ArgumentParser
import Foundation
import KnowLMAgent
import KnowLMCore
import KnowLMExtraction
import KnowLMKnowledge
import KnowLMRuntime

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the tool-using agent on a task, or look at past runs.",
        subcommands: [AgentRunCommand.self, AgentRunsCommand.self],
        defaultSubcommand: AgentRunCommand.self)
}

struct AgentRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Solve a task with tools, step by step, and verify the answer against the knowledge base.",
        discussion: """
            Each step the model writes one JSON action — a tool call or the final answer — under a grammar built from \
            the tools' parameter schemas and the action rules (a final answer only after a tool gave evidence; no \
            http_get without --allow-network; the last step must answer), so every action parses and names a real tool. \
            Steps, calls and results are recorded in the knowledge base (`knowlm agent runs`), and successful past runs \
            of similar tasks are reused as examples.

            Built-in tools: \(BuiltinTools.names.joined(separator: ", ")). With --functions FILE the model may also \
            call functions you declare (OpenAI tools format); such a call ends the run and is printed, for you to run.
            """)

    @OptionGroup var kb: KnowledgeBaseOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Remote model") var backend: BackendOptions

    @Argument(help: "The task.") var task: String?

    @Option(help: "Comma-separated built-in tools to offer (default: all available).") var tools: String?
    @Option(help: "A JSON file of functions you answer yourself (an array of {name, description, parameters}, or OpenAI tools).")
    var functions: String?
    @Flag(help: "Offer only the --functions, not the built-in tools.") var functionsOnly = false
    @Option(help: "A JSON file of MCP servers whose tools to offer ({\"mcpServers\": {name: {\"command\", \"args\", \"env\"}}}).")
    var mcpConfig: String?
    @Option(help: "Most steps; the last must give the final answer.") var maxSteps = 6
    @Option(help: "Seconds a tool call may take.") var toolTimeout: Double = 30
    @Flag(help: "Allow the http_get tool (public addresses only).") var allowNetwork = false
    @Flag(help: "Let http_get reach loopback and private addresses too.") var allowPrivateAddresses = false
    @Flag(inversion: .prefixedNo, help: "Verify the final answer claim by claim.") var verify = true
    @Flag(inversion: .prefixedNo, help: "Reuse successful past runs of similar tasks as examples.") var feedback = true
    @Flag(inversion: .prefixedNo, help: "Record the run in the knowledge base.") var record = true
    @Option(help: "Run every task of a JSONL file ({\"id\", \"task\" or \"question\", optional \"functions\"}), one JSON line each.")
    var batch: String?
    @Flag(help: "Print {\"answer\", \"steps\", \"verification\", …} instead of the live view.") var json = false
    @Option(help: "Worked examples in the prompt.") var examples = 2
    @Flag(help: "Write the thought before the action (ReAct order) instead of after it.") var thoughtFirst = false
    @Flag(inversion: .prefixedNo, help: "Choose between the allowed actions by the probability of each whole opening.") var scoreActions = true
    @Option(help: "Weight of the content-free prior in that choice (0: none).") var calibrationWeight: Float = 1.0
    @Option(help: "Declared functions: call the one closest to the task (cosine of MiniLM embeddings of the task and the function's name and description) when it reaches this, else answer without a call; 0 leaves both to the model.")
    var functionRelevance: Float = AgentOptions().functionRelevance
    @Flag(help: "Declared functions: let the model write any numbers and keep every optional argument it fills (by default numbers come from the task and optional arguments the task does not mention are left out).")
    var freeArguments = false
    @Flag(help: "Let the model choose the first step even when the knowledge graph has facts on the task (by default such a task first goes to the ask tool).")
    var noKnowledgeFirst = false
    @Flag(help: "Also print each step's prompt and the tools the action rules allowed.") var verbose = false

    func validate() throws {
        if (task == nil) == (batch == nil) { throw ValidationError("give a task or --batch FILE") }
        if maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
        if toolTimeout <= 0 { throw ValidationError("--tool-timeout must be positive") }
        if functionsOnly && functions == nil && batch == nil { throw ValidationError("--functions-only needs --functions") }
    }

    func run() async throws {
        let base = try kb.open()
        let embedder: (any TextEmbedder)? = try? loadEmbedder(nil)
        let llm = try backend.languageModel(local: model)
        if backend.isRemote {
            printError("note: with a remote model, each action is asked for in its JSON Schema (response_format) and parsed; choices are not scored and answers not tied to the observations, and claims are checked without the model")
        }
        let retriever = Retriever(kb: base, embedder: embedder)
        let qa = KnowledgeQA(retriever: retriever, model: llm, prompts: try PromptLibrary())
        let extractor = try? Extractor(model: llm, embedder: embedder)
        let builtins: ToolRegistry
        do {
            builtins = try BuiltinTools.registry(
                names: tools.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                kb: base, retriever: retriever, qa: qa, extractor: extractor, allowNetwork: allowNetwork,
                network: NetworkPolicy(allowPrivateAddresses: allowPrivateAddresses))
        } catch { throw ValidationError(error.localizedDescription) }
        let declared = try functions.map { try readFunctions($0) } ?? []
        var connections: [MCPConnection] = []
        if let mcpConfig {
            let servers: [MCPServerConfig]
            do { servers = try MCPServerConfig.load(mcpConfig) } catch { throw ValidationError(error.localizedDescription) }
            for server in servers {
                let connection = try await MCPConnection.start(server)
                connections.append(connection)
                for tool in try await connection.tools() { builtins.register(tool) }
            }
        }
        defer { for c in connections { Task { await c.close() } } }
        let detector = HallucinationDetector(retriever: retriever, model: llm as? any LocalLanguageModel)
        var options = AgentOptions()
        options.maxSteps = maxSteps
        options.allowNetwork = allowNetwork
        options.verify = verify
        options.reuseFeedback = feedback
        options.record = record
        options.examples = examples
        options.actionSchema.thoughtFirst = thoughtFirst
        options.scoreActions = scoreActions
        options.calibrationWeight = calibrationWeight
        options.functionRelevance = functionRelevance
        options.groundArguments = !freeArguments
        options.knowledgeFirst = !noKnowledgeFirst

        func agent(functions: [ClientTool]) throws -> Agent {
            let registry = ToolRegistry((functionsOnly || (batch != nil && !functions.isEmpty) ? [] : builtins.tools) + functions)
            registry.timeout = .milliseconds(Int64(toolTimeout * 1000))
            var o = options
            // Declared functions alone: the task is answered by a call (or by not calling).
            if registry.tools.allSatisfy({ $0.kind == .client }) { o.verify = false }
            return try Agent(model: llm, registry: registry, kb: base, embedder: embedder, detector: detector, retriever: retriever, options: o)
        }

        if let batch {
            let lines = try readJSONLines(batch)
            let start = Date()
            for (index, object) in lines.enumerated() {
                guard let text = (object["task"] ?? object["question"])?.stringValue else {
                    throw ValidationError("\(batch):\(index + 1): expected \"task\" or \"question\"")
                }
                var functions = declared
                if let list = object["functions"] {
                    // From the line's own text: the parameters' order is the function's order
                    // (numbers the task does not name pair up with parameters in that order).
                    do { functions = try BuiltinTools.clientTools(from: list) } catch {
                        throw ValidationError("\(batch):\(index + 1): \(error.localizedDescription)")
                    }
                }
                let result = await (try agent(functions: functions)).run(text)
                print(runLine(result, id: object["id"] ?? .number(String(index + 1))))
                if (index + 1) % 10 == 0 {
                    printError(String(format: "%d/%d tasks, %.1f s each", index + 1, lines.count, Date().timeIntervalSince(start) / Double(index + 1)))
                }
            }
            return
        }

        let live = !json, verbose = verbose
        let result = await (try agent(functions: declared)).run(task ?? "", onStep: { step in
            if verbose {
                printError("---- prompt of step \(step.index) (\(step.promptTokens) tokens; allowed: \(step.allowedTools.joined(separator: ", "))\(step.finalAllowed ? ", final answer" : "")) ----")
                printError(step.prompt)
                if !step.choiceScores.isEmpty {
                    printError("choice: " + step.choiceScores.map { String(format: "%@ %.2f", $0.action, $0.score) }.joined(separator: ", "))
                }
                printError("----")
            }
            if live { printStep(step) }
        })
        if json {
            print(runLine(result))
        } else {
            if let call = result.call {
                print("call: \(call.tool)(\(call.arguments.serialized(itemSeparator: ", ", keySeparator: ": ")))")
            } else if let answer = result.answer {
                print(answer)
            } else {
                print("no answer: \(result.error ?? result.outcome.rawValue)")
            }
            if let v = result.verification { printVerification(v, heading: "verification: ") }
            if let id = result.id { printError(String(format: "run %@ · %d steps · %.1f s", String(id.prefix(8)), result.steps.count, result.seconds)) }
        }
        if result.outcome == .failed || result.outcome == .cancelled { throw ExitCode(1) }
    }

    func readFunctions(_ path: String) throws -> [ClientTool] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        do { return try BuiltinTools.clientTools(from: try JSONValue.parse(String(decoding: data, as: UTF8.self))) } catch {
            throw ValidationError("\(path): \((error as? LocalizedError)?.errorDescription ?? "\(error)")")
        }
    }
}

/// The JSON objects of a JSONL file (blank lines skipped), in the order of their keys.
func readJSONLines(_ file: String) throws -> [JSONValue] {
    let content: String
    do { content = try String(contentsOfFile: file, encoding: .utf8) } catch {
        throw ValidationError("cannot read \(file): \(error.localizedDescription)")
    }
    var out: [JSONValue] = []
    for (index, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let trimmed = line.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\u{FEFF}\r")))
        if trimmed.isEmpty { continue }
        guard let value = try? JSONValue.parse(trimmed), value.objectValue != nil else {
            throw ValidationError("\(file):\(index + 1): not a JSON object")
        }
        out.append(value)
    }
    return out
}

func jsonObject(_ value: JSONValue) -> Any {
    (try? JSONSerialization.jsonObject(with: Data(value.serialized().utf8), options: [.fragmentsAllowed])) ?? NSNull()
}

func verificationObject(_ v: Verification) -> [String: Any] {
    jsonObject(v.json) as? [String: Any] ?? [:]
}

/// The response label, then one line per claim: label, text, reason and evidence ids.
func printVerification(_ v: Verification, heading: String) {
    print(heading + v.responseLabel)
    for c in v.claims {
        print("  [\(c.label.rawValue)] \(c.text) — \(c.reason)\(c.evidence.isEmpty ? "" : " (\(c.evidence.joined(separator: ", ")))")")
    }
}

/// One run as a line of JSON, written from its `JSONValue` as it is (a declared float's `5.0`
/// stays a float; a round trip through Foundation would write `5`), with `id` first when given.
func runLine(_ run: AgentRun, id: JSONValue? = nil) -> String {
    let members = run.json.objectValue ?? []
    return JSONValue.object((id.map { [(key: "id", value: $0)] } ?? []) + members).serialized()
}

func printStep(_ step: AgentStep) {
    switch step.action {
    case .call(let thought, let tool, let arguments):
        printError("[\(step.index)] \(step.planner.map { "(\($0))" } ?? thought)")
        printError("    → \(tool) \(arguments.serialized(itemSeparator: ", ", keySeparator: ": "))")
        if let r = step.result {
            let lines = r.observation.split(separator: "\n", omittingEmptySubsequences: false)
            let shown = lines.prefix(6).map { "      \($0.prefix(160))" }.joined(separator: "\n")
            printError(String(format: "    ← %@ (%.1f s model, %.2f s tool)%@", r.outcome.rawValue, step.modelSeconds, r.seconds,
                              lines.count > 6 ? ", \(lines.count) lines" : ""))
            printError(shown)
        }
    case .finish(let thought, let answer):
        printError("[\(step.index)] \(thought)")
        printError(String(format: "    ⇒ %@ (%.1f s)", answer, step.modelSeconds))
    }
}

struct AgentRunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List recorded agent runs, or show one with its steps.",
        discussion: "knowlm agent runs [list] [--limit N] | knowlm agent runs show ID (a unique prefix of the id is enough)")

    @OptionGroup var kb: KnowledgeBaseOptions
    @Argument(help: "list or show") var action: String = "list"
    @Argument(help: "The run id (for show).") var id: String?
    @Option(help: "Most runs to list.") var limit = 20
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard ["list", "show"].contains(action) else { throw ValidationError("expected list or show, got \(action)") }
        if action == "show" && id == nil { throw ValidationError("show needs a run id") }
    }

    func run() async throws {
        let base = try kb.open()
        if action == "list" {
            let runs = try base.agentRuns(limit: limit)
            if json {
                let encoder = JSONEncoder()
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(runs), as: UTF8.self))
                return
            }
            if runs.isEmpty { print("no agent runs recorded in \(base.url.path)") }
            let formatter = ISO8601DateFormatter()
            for r in runs {
                print("\(r.id.prefix(8))  \(formatter.string(from: r.startedAt))  \(r.outcome.padding(toLength: 11, withPad: " ", startingAt: 0)) \(r.steps) steps  \(r.task.prefix(70))")
            }
            return
        }
        guard let (run, steps) = try base.agentRun(id ?? "") else { throw ValidationError("no run \(id ?? "")") }
        if json {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys]
            struct Shown: Encodable { var run: AgentRunRecord; var steps: [AgentStepRecord] }
            print(String(decoding: try encoder.encode(Shown(run: run, steps: steps)), as: UTF8.self))
            return
        }
        print("run \(run.id)\ntask: \(run.task)\nmodel: \(run.model)\noutcome: \(run.outcome)\ntools: \(run.tools.joined(separator: ", "))")
        for s in steps {
            print(String(format: "[%d] %@ (%d prompt tokens, %.2f s)", s.step, s.planner.map { "(\($0))" } ?? s.thought,
                         s.promptTokens, s.seconds))
            if let tool = s.tool { print("    → \(tool) \(s.arguments ?? "")") }
            if let o = s.observation { print("    ← \(s.outcome): \(o.prefix(400))") }
        }
        if let answer = run.answer { print("answer: \(answer)") }
        if let v = run.verification { print("verification: \(v)") }
    }
}

struct Detect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an answer claim by claim against the knowledge base (hallucination detection).",
        discussion: """
            The answer is split into claims; each gets evidence from the graph and the passages, and is labelled \
            supported, contradicted or insufficient_evidence with the evidence ids and a reason. The response is a \
            hallucination when any claim is not supported.
            """)

    @OptionGroup var kb: KnowledgeBaseOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Remote model") var backend: BackendOptions
    @Option(help: "The question the answer answers.") var question: String?
    @Option(help: "The answer to check.") var answer: String?
    @Option(help: "Check every line of a JSONL file ({\"id\", \"question\", \"answer\"}), one JSON line each.") var batch: String?
    @Flag(help: "Only lexical support, no model.") var noModel = false
    @Flag(help: "Print {\"response_label\", \"claims\": [{\"text\", \"label\", \"evidence\", \"reason\"}]}.") var json = false

    func validate() throws {
        if batch == nil && answer == nil { throw ValidationError("give --answer (and --question), or --batch FILE") }
        if batch != nil && answer != nil { throw ValidationError("give either --answer or --batch, not both") }
    }

    func run() async throws {
        let base = try kb.open()
        let embedder: (any TextEmbedder)? = try? loadEmbedder(nil)
        let retriever = Retriever(kb: base, embedder: embedder)
        var options = DetectorOptions()
        var scorer: (any LocalLanguageModel)?
        if backend.isRemote {
            // The model's part of the check compares log-probabilities of continuations, which
            // the OpenAI API does not give for a prompt; the server is still asked to be sure
            // it is there, so a wrong endpoint fails here and not silently.
            _ = try backend.remote()
            printError("note: a remote model cannot score claims; they are checked against the graph and passages only (as --no-model)")
        } else if !noModel {
            scorer = try model.load()
        }
        options.useModel = scorer != nil
        let detector = HallucinationDetector(retriever: retriever, model: scorer, options: options)
        if let batch {
            let lines = try readJSONLines(batch)
            let start = Date()
            for (index, object) in lines.enumerated() {
                guard let a = object["answer"]?.stringValue else { throw ValidationError("\(batch):\(index + 1): expected \"answer\"") }
                let v = try await detector.verify(question: object["question"]?.stringValue ?? "", answer: a)
                var line = verificationObject(v)
                line["id"] = object["id"].map(jsonObject) ?? index + 1
                print(try jsonLine(line))
                if (index + 1) % 50 == 0 {
                    printError(String(format: "%d/%d answers, %.2f s each", index + 1, lines.count, Date().timeIntervalSince(start) / Double(index + 1)))
                }
            }
            return
        }
        let v = try await detector.verify(question: question ?? "", answer: answer ?? "")
        if json {
            print(try jsonLine(verificationObject(v)))
        } else {
            printVerification(v, heading: "")
        }
    }
}

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the knowledge base's tools to other agents over MCP (stdio).",
        discussion: """
            Tools: kb_search, kg_query, kg_neighbors, ask, extract, detect. Point an MCP client at \
            `knowlm mcp --kb PATH` (command and arguments); it speaks JSON-RPC on standard input and output, \
            and logs nothing to standard output.
            """)

    @OptionGroup var kb: KnowledgeBaseOptions
    @OptionGroup var model: ModelOptions
    @Option(help: "Comma-separated tools to serve (default: all of them).") var tools: String?

    func run() async throws {
        let base = try kb.open()
        let embedder: (any TextEmbedder)? = try? loadEmbedder(nil)
        let options = model
        // The model is loaded by the first call that needs it, so listing tools is instant.
        let llm = LazyModel { try options.load() }
        let retriever = Retriever(kb: base, embedder: embedder)
        let qa = KnowledgeQA(retriever: retriever, loadModel: { try llm.get() }, prompts: try PromptLibrary())
        let names = tools.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            ?? ["kb_search", "kg_query", "kg_neighbors", "ask", "extract", "detect"]
        let registry = try BuiltinTools.registry(names: names.filter { !["extract", "detect"].contains($0) }, kb: base, retriever: retriever,
                                                 qa: qa, extractor: nil, allowNetwork: false)
        registry.maxObservationCharacters = 100_000
        registry.timeout = .seconds(300)
        if names.contains("extract") {
            registry.register(LazyTool(name: "extract", description: ExtractTool.summary, parameters: ExtractTool.schema, kind: .compute) {
                ExtractTool(extractor: try Extractor(model: try llm.get(), embedder: embedder))
            })
        }
        if names.contains("detect") {
            registry.register(LazyTool(name: "detect", description: DetectTool.summary, parameters: DetectTool.schema, kind: .knowledge) {
                DetectTool(detector: HallucinationDetector(retriever: retriever, model: try llm.get()))
            })
        }
        try await MCPToolServer.serve(registry)
    }
}

/// A model loaded on first use.
final class LazyModel: @unchecked Sendable {
    private let load: @Sendable () throws -> LocalModel
    private var model: LocalModel?
    private let lock = NSLock()
    init(_ load: @escaping @Sendable () throws -> LocalModel) { self.load = load }
    func get() throws -> LocalModel {
        try lock.withLock {
            if let model { return model }
            let m = try load()
            model = m
            return m
        }
    }
}
