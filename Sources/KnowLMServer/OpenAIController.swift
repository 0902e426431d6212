import Foundation
import Hummingbird
import KnowLMAgent
import KnowLMCore
import KnowLMKnowledge
import KnowLMRuntime

/// The OpenAI-compatible API: models, completions, chat completions (streaming, JSON Schema
/// output, tool calls) and embeddings.
struct OpenAIController {
    let runner: ModelRunner

    var backends: ServerBackends { runner.backends }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v1/models") { _, _ in models() }
        router.get("/v1/models/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let model = models(only: id) else {
                throw APIError(.notFound, "the model '\(id)' does not exist", code: "model_not_found")
            }
            return jsonResponse(model)
        }
        router.post("/v1/completions") { request, _ in try await completions(request) }
        router.post("/v1/chat/completions") { request, _ in try await chat(request) }
        router.post("/v1/embeddings") { request, _ in try await embeddings(request) }
    }

    // MARK: models

    func models() -> Response {
        var data: [JSONValue] = []
        if backends.model != nil, let m = models(only: backends.modelID) { data.append(m) }
        if let id = backends.embedderID, let m = models(only: id) { data.append(m) }
        return jsonResponse(.object([("object", .string("list")), ("data", .array(data))]))
    }

    func models(only id: String) -> JSONValue? {
        guard (backends.model != nil && id == backends.modelID) || (backends.embedder != nil && id == backends.embedderID) else { return nil }
        return .object([("id", .string(id)), ("object", .string("model")), ("created", .num(0)), ("owned_by", .string("knowlm"))])
    }

    // MARK: shared request fields

    /// Decoding settings common to both completion endpoints (OpenAI's names, plus llama.cpp's
    /// `top_k`, `min_p` and `repeat_penalty`).
    func parameters(_ body: RequestFields, maxTokensKeys: [String], defaultMaxTokens: Int) throws -> GenerateParameters {
        var p = GenerateParameters()
        p.temperature = 1
        p.topP = 1
        p.maxTokens = defaultMaxTokens
        for key in maxTokensKeys {
            if let v = try body.int(key, in: 1...1_000_000) { p.maxTokens = v; break }
        }
        if let v = try body.double("temperature", in: 0...2) { p.temperature = Float(v) }
        if let v = try body.double("top_p", in: 0.000001...1) { p.topP = Float(v) }
        if let v = try body.int("top_k", in: 0...100_000) { p.topK = v }
        if let v = try body.double("min_p", in: 0...0.999) { p.minP = Float(v) }
        if let v = try body.double("repeat_penalty", in: 0.000001...100) { p.repeatPenalty = Float(v) }
        if let v = try body.double("frequency_penalty", in: -2...2) { p.frequencyPenalty = Float(v) }
        if let v = try body.double("presence_penalty", in: -2...2) { p.presencePenalty = Float(v) }
        if let v = try body.int("seed", in: Int.min...Int.max) { p.seed = UInt64(bitPattern: Int64(v)) }
        if let v = try body.strings("stop", max: 4) { p.stop = v.filter { !$0.isEmpty } }
        if let n = try body.int("n", in: 1...128), n != 1 { throw APIError.invalid("only n = 1 is supported", param: "n") }
        return p
    }

    struct StreamOptions { var stream = false; var includeUsage = false }

    func streamOptions(_ body: RequestFields) throws -> StreamOptions {
        var options = StreamOptions()
        options.stream = try body.bool("stream") ?? false
        if let o = try body.nested("stream_options") { options.includeUsage = try o.bool("include_usage") ?? false }
        return options
    }

    static func newID(_ prefix: String) -> String {
        prefix + "-" + String((0..<24).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
    }

    func usage(_ result: GenerationResult) -> JSONValue {
        .object([
            ("prompt_tokens", .num(result.promptTokenCount)),
            ("completion_tokens", .num(result.tokens.count)),
            ("total_tokens", .num(result.promptTokenCount + result.tokens.count)),
        ])
    }

    func tokenText(_ id: TokenID) -> String {
        guard let model = backends.model else { return "" }
        return String(decoding: model.tokenizer.bytes(for: id, renderSpecial: true), as: UTF8.self)
    }

    func tokenBytes(_ id: TokenID) -> JSONValue {
        guard let model = backends.model else { return .array([]) }
        return .array(model.tokenizer.bytes(for: id, renderSpecial: true).map { .num(Int($0)) })
    }

    // MARK: /v1/completions

    func completions(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        try runner.checkModelName(try body.string("model"))
        guard let prompts = try body.strings("prompt"), prompts.count == 1 else {
            throw APIError.invalid("prompt must be one string (batches of prompts are not supported)", param: "prompt")
        }
        var parameters = try self.parameters(body, maxTokensKeys: ["max_tokens"], defaultMaxTokens: 16)
        if let n = try body.int("logprobs", in: 0...20) { parameters.logprobs = n }
        let echo = try body.bool("echo") ?? false
        let options = try streamOptions(body)
        let prompt = prompts[0]
        try runner.checkSize(prompt: prompt, parameters: parameters)
        // Not in OpenAI's completions API, but vLLM takes it there too (and KnowLM's remote
        // backend sends it): the completion is held to the format.
        let grammar = try body.nested("response_format").flatMap { try Self.responseFormat($0) }
        let job = GenerationJob(prompt: prompt, parameters: parameters, grammar: grammar)
        let id = Self.newID("cmpl"), created = Int(Date().timeIntervalSince1970), modelID = backends.modelID

        @Sendable func choice(text: String, finish: String?, logprobs: [TokenLogprob]?) -> JSONValue {
            .object([("index", .num(0)), ("text", .string(text)),
                     ("logprobs", logprobs.map(completionLogprobs) ?? .null),
                     ("finish_reason", finish.map { .string($0) } ?? .null)])
        }
        @Sendable func envelope(_ choices: [JSONValue], usage: JSONValue?) -> JSONValue {
            var members: [(key: String, value: JSONValue)] = [
                ("id", .string(id)), ("object", .string("text_completion")), ("created", .num(created)),
                ("model", .string(modelID)), ("choices", .array(choices)),
            ]
            if let usage { members.append(("usage", usage)) }
            return .object(members)
        }

        if options.stream {
            let wantsLogprobs = parameters.logprobs != nil
            return ServerSentEvents.response(ticket: ticket) { send in
                if echo { try await send(envelope([choice(text: prompt, finish: nil, logprobs: nil)], usage: nil)) }
                let result = try await runner.run(job) { text, logprob in
                    if text.isEmpty && logprob == nil { return }
                    try await send(envelope([choice(text: text, finish: nil, logprobs: wantsLogprobs ? logprob.map { [$0] } : nil)], usage: nil))
                }
                try await send(envelope([choice(text: "", finish: result.stopReason.openAI, logprobs: nil)], usage: nil))
                if options.includeUsage { try await send(envelope([], usage: usage(result))) }
            }
        }
        let result = try await runner.run(job)
        withExtendedLifetime(ticket) {}
        return jsonResponse(envelope([choice(text: (echo ? prompt : "") + result.text, finish: result.stopReason.openAI,
                                             logprobs: parameters.logprobs != nil ? result.logprobs : nil)],
                                     usage: usage(result)))
    }

    /// The legacy completions `logprobs` object.
    func completionLogprobs(_ logprobs: [TokenLogprob]) -> JSONValue {
        var offset = 0
        var offsets: [JSONValue] = []
        for lp in logprobs { offsets.append(.num(offset)); offset += tokenText(lp.token).count }
        return .object([
            ("tokens", .array(logprobs.map { .string(tokenText($0.token)) })),
            ("token_logprobs", .array(logprobs.map { .num($0.logprob) })),
            ("top_logprobs", .array(logprobs.map { lp in .object(lp.top.map { (tokenText($0.token), .num($0.logprob)) }) })),
            ("text_offset", .array(offsets)),
        ])
    }

    // MARK: /v1/chat/completions

    func chat(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        try runner.checkModelName(try body.string("model"))
        let messages = try Self.messages(body)
        var parameters = try self.parameters(body, maxTokensKeys: ["max_completion_tokens", "max_tokens"],
                                             defaultMaxTokens: 256)
        if try body.bool("logprobs") == true { parameters.logprobs = try body.int("top_logprobs", in: 0...20) ?? 0 }
        let options = try streamOptions(body)
        let tools = try ChatTools(body)
        var grammar: CompiledGrammar?
        var prompted = messages
        if let tools, tools.active {
            let description = try tools.systemText(prompts: backends.prompts)
            if let i = prompted.firstIndex(where: { $0.role == "system" || $0.role == "developer" }) {
                prompted[i].content += "\n\n" + description
            } else {
                prompted.insert(ChatMessage(role: "system", content: description), at: 0)
            }
            grammar = try JSONSchemaGrammar.compile(tools.schema())
        } else if let format = try body.nested("response_format") {
            grammar = try Self.responseFormat(format)
        }
        let prompt = try backends.chatTemplate.render(prompted, prompts: backends.prompts)
        parameters.stop += backends.chatTemplate.stops
        // The chat wrapper's markers are written in the prompt as control tokens.
        parameters.parseSpecial = true
        try runner.checkSize(prompt: prompt, parameters: parameters)
        let job = GenerationJob(prompt: prompt, parameters: parameters, grammar: grammar)
        let id = Self.newID("chatcmpl"), created = Int(Date().timeIntervalSince1970), modelID = backends.modelID
        let callsTools = tools?.active == true

        @Sendable func envelope(_ choices: [JSONValue], usage: JSONValue?, chunk: Bool) -> JSONValue {
            var members: [(key: String, value: JSONValue)] = [
                ("id", .string(id)), ("object", .string(chunk ? "chat.completion.chunk" : "chat.completion")),
                ("created", .num(created)), ("model", .string(modelID)), ("choices", .array(choices)),
            ]
            if let usage { members.append(("usage", usage)) }
            return .object(members)
        }

        if options.stream {
            let wantsLogprobs = parameters.logprobs != nil
            return ServerSentEvents.response(ticket: ticket) { send in
                @Sendable func delta(_ members: [(key: String, value: JSONValue)], finish: String?, logprobs: [TokenLogprob]? = nil) -> JSONValue {
                    envelope([.object([
                        ("index", .num(0)), ("delta", .object(members)),
                        ("logprobs", logprobs.map(chatLogprobs) ?? .null),
                        ("finish_reason", finish.map { .string($0) } ?? .null),
                    ])], usage: nil, chunk: true)
                }
                try await send(delta([("role", .string("assistant")), ("content", .string(""))], finish: nil))
                let result = try await runner.run(job) { text, logprob in
                    // Tool calls are sent whole once the JSON is complete.
                    guard !callsTools, !text.isEmpty || logprob != nil else { return }
                    try await send(delta([("content", .string(text))], finish: nil, logprobs: wantsLogprobs ? logprob.map { [$0] } : nil))
                }
                var finish = result.stopReason.openAI
                if callsTools {
                    let reply = ChatTools.reply(result.text)
                    switch reply {
                    case .content(let text):
                        try await send(delta([("content", .string(text))], finish: nil))
                    case .call(let name, let arguments):
                        try await send(delta([("tool_calls", .array([ChatTools.callJSON(name: name, arguments: arguments, index: 0)]))], finish: nil))
                        finish = "tool_calls"
                    }
                }
                try await send(delta([], finish: finish))
                if options.includeUsage { try await send(envelope([], usage: usage(result), chunk: true)) }
            }
        }

        let result = try await runner.run(job)
        withExtendedLifetime(ticket) {}
        var message: [(key: String, value: JSONValue)] = [("role", .string("assistant"))]
        var finish = result.stopReason.openAI
        if callsTools {
            switch ChatTools.reply(result.text) {
            case .content(let text):
                message.append(("content", .string(text)))
            case .call(let name, let arguments):
                message.append(("content", .null))
                message.append(("tool_calls", .array([ChatTools.callJSON(name: name, arguments: arguments, index: nil)])))
                finish = "tool_calls"
            }
        } else {
            message.append(("content", .string(result.text)))
        }
        return jsonResponse(envelope([.object([
            ("index", .num(0)), ("message", .object(message)),
            ("logprobs", parameters.logprobs != nil ? chatLogprobs(result.logprobs) : .null),
            ("finish_reason", .string(finish)),
        ])], usage: usage(result), chunk: false))
    }

    func chatLogprobs(_ logprobs: [TokenLogprob]) -> JSONValue {
        .object([("content", .array(logprobs.map { lp in
            .object([
                ("token", .string(tokenText(lp.token))), ("logprob", .num(lp.logprob)), ("bytes", tokenBytes(lp.token)),
                ("top_logprobs", .array(lp.top.map { alt in
                    .object([("token", .string(tokenText(alt.token))), ("logprob", .num(alt.logprob)), ("bytes", tokenBytes(alt.token))])
                })),
            ])
        }))])
    }

    /// The request's messages, with content parts joined into text.
    static func messages(_ body: RequestFields) throws -> [ChatMessage] {
        guard let list = try body.array("messages"), !list.isEmpty else {
            throw APIError.invalid("messages must be a non-empty array", param: "messages")
        }
        return try list.enumerated().map { index, value in
            let m = try RequestFields(value, path: "messages[\(index)]")
            let role = try m.requiredString("role")
            guard ["system", "developer", "user", "assistant", "tool"].contains(role) else {
                throw APIError.invalid("messages[\(index)].role must be system, developer, user, assistant or tool", param: m.name("role"))
            }
            var content = ""
            if let value = m.object["content"], value != .null {
                if let text = value.stringValue { content = text } else if let parts = value.arrayValue {
                    content = try parts.enumerated().map { i, part in
                        let p = try RequestFields(part, path: m.name("content[\(i)]"))
                        guard try p.string("type") == "text", let text = try p.string("text") else {
                            throw APIError.invalid("\(p.path): only text parts are supported", param: p.path)
                        }
                        return text
                    }.joined(separator: "\n")
                } else {
                    throw APIError.invalid("\(m.name("content")) must be a string or an array of parts", param: m.name("content"))
                }
            }
            // An earlier tool call is shown as the JSON the model would have written.
            if role == "assistant", let calls = try m.array("tool_calls") {
                let written = calls.compactMap { call -> String? in
                    guard let f = call["function"], let name = f["name"]?.stringValue else { return nil }
                    let arguments = f["arguments"]?.stringValue.flatMap { try? JSONValue.parse($0) } ?? .object([])
                    return JSONValue.object([("name", .string(name)), ("arguments", arguments)]).serialized(itemSeparator: ", ", keySeparator: ": ")
                }
                content = ([content] + written).filter { !$0.isEmpty }.joined(separator: "\n")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    /// `response_format`: text, any JSON object, or JSON matching a schema.
    static func responseFormat(_ format: RequestFields) throws -> CompiledGrammar? {
        switch try format.requiredString("type") {
        case "text":
            return nil
        case "json_object":
            return try JSONSchemaGrammar.compile(.object([("type", .string("object"))]))
        case "json_schema":
            guard let spec = try format.nested("json_schema"), let schema = spec.object["schema"] else {
                throw APIError.invalid("response_format.json_schema.schema is required", param: "response_format.json_schema.schema")
            }
            do { return try JSONSchemaGrammar.compile(schema) } catch {
                throw APIError.invalid("response_format.json_schema.schema cannot be used: \(APIError.from(error).message)",
                                       param: "response_format.json_schema.schema")
            }
        default:
            throw APIError.invalid("response_format.type must be text, json_object or json_schema", param: "response_format.type")
        }
    }

    // MARK: /v1/embeddings

    func embeddings(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        defer { withExtendedLifetime(ticket) {} }
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        guard let embedder = backends.embedder, let id = backends.embedderID else {
            throw APIError(.notFound, "this server has no embedding model; start it with --embedder NAME", code: "model_not_found")
        }
        if let requested = try body.string("model"), requested != id, requested != backends.modelID {
            throw APIError(.notFound, "the model '\(requested)' does not exist; embeddings come from '\(id)'", param: "model", code: "model_not_found")
        }
        guard let input = try body.strings("input", max: 2048), !input.isEmpty else {
            throw APIError.invalid("input must be a string or a non-empty array of strings", param: "input")
        }
        let format = try body.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalid("encoding_format must be float or base64", param: "encoding_format")
        }
        if try body.int("dimensions", in: 1...100_000).map({ $0 != embedder.dimension }) == true {
            throw APIError.invalid("dimensions must be \(embedder.dimension) for \(id) (it cannot be shortened)", param: "dimensions")
        }
        let vectors = try await Task.detached { try embedder.embed(input) }.value
        let tokens = input.reduce(0) { $0 + min(embedder.maxTokens, embedder.tokenCount($1)) }
        return jsonResponse(.object([
            ("object", .string("list")),
            ("data", .array(vectors.enumerated().map { i, v in
                .object([("object", .string("embedding")), ("index", .num(i)),
                         ("embedding", format == "base64" ? .string(Self.base64(v)) : .array(v.map { .num($0) }))])
            })),
            ("model", .string(id)),
            ("usage", .object([("prompt_tokens", .num(tokens)), ("total_tokens", .num(tokens))])),
        ]))
    }
}

extension OpenAIController {
    /// OpenAI's base64 encoding: the float32 values, little-endian, base64.
    static func base64(_ vector: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vector.count * 4)
        for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return Data(bytes).base64EncodedString()
    }
}

/// The `tools` and `tool_choice` of a chat request, answered by constrained decoding: the
/// reply is one JSON object, a call `{"name", "arguments"}` whose arguments follow that
/// function's schema, or (with `auto`) `{"content"}`.
struct ChatTools {
    struct Function { var name: String; var description: String; var parameters: JSONValue }
    var functions: [Function]
    /// Calls must be made (`required` or a named function).
    var required: Bool
    /// `tool_choice: none` leaves the tools unused.
    var active: Bool

    enum Reply { case content(String); case call(name: String, arguments: JSONValue) }

    init?(_ body: RequestFields) throws {
        guard let list = try body.array("tools"), !list.isEmpty else {
            if body.has("tool_choice"), try body.string("tool_choice") != "none" {
                throw APIError.invalid("tool_choice needs tools", param: "tool_choice")
            }
            return nil
        }
        functions = try list.enumerated().map { i, value in
            let tool = try RequestFields(value, path: "tools[\(i)]")
            guard try tool.string("type") ?? "function" == "function", let f = try tool.nested("function") else {
                throw APIError.invalid("tools[\(i)] must be {\"type\": \"function\", \"function\": {...}}", param: "tools[\(i)]")
            }
            let name = try f.requiredString("name")
            guard !name.isEmpty, name.count <= 64 else { throw APIError.invalid("\(f.name("name")) must be 1 to 64 characters", param: f.name("name")) }
            let parameters = f.object["parameters"] ?? .object([("type", .string("object")), ("properties", .object([]))])
            guard case .object = parameters else { throw APIError.invalid("\(f.name("parameters")) must be a JSON Schema object", param: f.name("parameters")) }
            return Function(name: name, description: try f.string("description") ?? "", parameters: parameters)
        }
        required = false
        active = true
        if let choice = body.object["tool_choice"], choice != .null {
            if let mode = choice.stringValue {
                switch mode {
                case "none": active = false
                case "auto": break
                case "required": required = true
                default: throw APIError.invalid("tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}", param: "tool_choice")
                }
            } else if let name = choice["function"]?["name"]?.stringValue {
                guard let f = functions.first(where: { $0.name == name }) else {
                    throw APIError.invalid("tool_choice names '\(name)', which is not among tools", param: "tool_choice")
                }
                functions = [f]
                required = true
            } else {
                throw APIError.invalid("tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}", param: "tool_choice")
            }
        }
    }

    /// The JSON Schema the reply must match.
    func schema() -> JSONValue {
        var options: [JSONValue] = functions.map { f in
            .object([
                ("type", .string("object")),
                ("properties", .object([("name", .object([("const", .string(f.name))])), ("arguments", ToolSchema.normalize(f.parameters))])),
                ("required", .array([.string("name"), .string("arguments")])),
            ])
        }
        if !required {
            options.append(.object([
                ("type", .string("object")),
                ("properties", .object([("content", .object([("type", .string("string")), ("minLength", .num(1)), ("maxLength", .num(2000))]))])),
                ("required", .array([.string("content")])),
            ]))
        }
        return options.count == 1 ? options[0] : .object([("anyOf", .array(options))])
    }

    func systemText(prompts: PromptLibrary) throws -> String {
        try prompts.render("chat_tools.en", [
            "tools": functions.map { ["name": $0.name, "description": $0.description,
                                      "parameters": $0.parameters.serialized(itemSeparator: ", ", keySeparator: ": ")] },
            "mayReply": !required,
        ])
    }

    /// What the constrained output says. Output cut short by `max_tokens` is not JSON yet: it
    /// is returned as content, with `finish_reason` "length".
    static func reply(_ text: String) -> Reply {
        guard let value = try? JSONValue.parse(text) else { return .content(text) }
        if let name = value["name"]?.stringValue { return .call(name: name, arguments: value["arguments"] ?? .object([])) }
        return .content(value["content"]?.stringValue ?? "")
    }

    static func callJSON(name: String, arguments: JSONValue, index: Int?) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let index { members.append(("index", .num(index))) }
        members += [
            ("id", .string(OpenAIController.newID("call"))), ("type", .string("function")),
            ("function", .object([("name", .string(name)), ("arguments", .string(arguments.serialized()))])),
        ]
        return .object(members)
    }
}
