import Foundation
import Hummingbird
import HummingbirdTesting
import KnowLMCore
import KnowLMKnowledge
@testable import KnowLMServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One byte per token: enough for the server's loop (sizes, streaming, stops) without a model.
struct ByteTokenizer: Tokenizer {
    var vocabularySize: Int { 258 }
    var bosID: TokenID? { 256 }
    var eosID: TokenID? { 257 }
    var addsBOS: Bool { false }
    var endOfGenerationIDs: Set<TokenID> { [257] }
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID] { text.utf8.map { TokenID($0) } }
    func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8] { token < 256 ? [UInt8(token)] : [] }
}

/// A stand-in generator for tests of the server around the model: it writes `reply` one
/// character at a time, `delay` apart, and counts the generations that were cancelled.
final class ScriptedModel: LanguageModel, @unchecked Sendable {
    let name = "scripted"
    let contextLength: Int
    let tokenizer: any Tokenizer = ByteTokenizer()
    let reply: String
    let delay: Double
    private let lock = NSLock()
    private var _cancelled = 0
    private var _prompts: [String] = []
    var cancelled: Int { lock.lock(); defer { lock.unlock() }; return _cancelled }
    var prompts: [String] { lock.lock(); defer { lock.unlock() }; return _prompts }

    init(reply: String = "Hello there.", delay: Double = 0, contextLength: Int = 512) {
        self.reply = reply
        self.delay = delay
        self.contextLength = contextLength
    }

    func generate(prompt: String, parameters: GenerateParameters,
                  processors: [any LogitsProcessor]) -> AsyncThrowingStream<Generation, any Error> {
        lock.withLock { _prompts.append(prompt) }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Generation.self)
        let task = Task {
            var text = "", tokens: [TokenID] = []
            var sent = 0  // characters of `text` already streamed
            var reason = StopReason.endOfSequence
            for byte in reply.utf8 {
                if tokens.count >= parameters.maxTokens { reason = .length; break }
                if delay > 0 { try? await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
                if Task.isCancelled {
                    lock.withLock { _cancelled += 1 }
                    continuation.finish()
                    return
                }
                text += String(decoding: [byte], as: UTF8.self)
                tokens.append(TokenID(byte))
                if let stop = parameters.stop.first(where: { text.hasSuffix($0) }) {
                    text.removeLast(stop.count)
                    reason = .stopString
                    break
                }
                // Like the real loop, text that may be the start of a stop string is held back.
                let held = parameters.stop.map { stop in
                    (1..<max(1, stop.count)).last { text.hasSuffix(stop.prefix($0)) } ?? 0
                }.max() ?? 0
                let ready = text.count - held
                let piece = ready > sent ? String(text.dropFirst(sent).prefix(ready - sent)) : ""
                sent = max(sent, ready)
                continuation.yield(.token(TokenID(byte), text: piece, logprob: nil))
            }
            var timings = GenerationTimings()
            timings.promptTokens = prompt.utf8.count
            continuation.yield(.done(GenerationResult(text: text, tokens: tokens, promptTokenCount: prompt.utf8.count,
                                                      stopReason: reason, timings: timings)))
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

func backends(_ model: any LanguageModel) throws -> ServerBackends {
    ServerBackends(model: model, modelID: "scripted", prompts: try PromptLibrary())
}

func json(_ response: TestResponse) throws -> JSONValue {
    try JSONValue.parse(String(buffer: response.body))
}

func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

/// The server's loop with a scripted model: request checking, error objects, admission,
/// keys, streaming format and cancellation. The real model's answers are in `ServerModelTests`.
@Suite struct ServerLoopTests {
    @Test func healthModelsAndUnknownRoutes() async throws {
        let app = buildApplication(configuration: ServerConfiguration(), backends: try backends(ScriptedModel()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                #expect(try json(response)["status"] == .string("ok"))
            }
            try await client.execute(uri: "/v1/models", method: .get) { (response: TestResponse) throws in
                #expect(try json(response)["data"]?.arrayValue?.first?["id"] == .string("scripted"))
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .notFound)
                #expect(try json(response)["error"]?["type"] == .string("not_found_error"))
            }
            try await client.execute(uri: "/", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("<title>KnowLM</title>"))
            }
            // The OpenAPI document names every route the server answers.
            try await client.execute(uri: "/openapi.json", method: .get) { (response: TestResponse) throws in
                let paths = try json(response)["paths"]?.objectValue?.map(\.key) ?? []
                for path in ["/generate", "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings",
                             "/v1/ask", "/v1/kb/search", "/v1/kb/sparql", "/v1/kb/documents", "/v1/kb/triples", "/v1/extract", "/v1/detect", "/v1/agent/runs", "/v1/agent/runs/{id}", "/health", "/metrics"] {
                    #expect(paths.contains(path), "\(path) missing from openapi.json")
                }
            }
            try await client.execute(uri: "/v1/completions", method: .get) { (response: TestResponse) throws in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
        }
    }

    @Test func knowlmGenerateWrapsTheInstruction() async throws {
        let model = ScriptedModel(reply: "Bonjour.")
        let app = buildApplication(configuration: ServerConfiguration(), backends: try backends(model))
        try await app.test(.router) { client in
            try await client.execute(uri: "/generate", method: .post,
                                     body: body(#"{"instruction": "你好", "input": "", "parameters": {"temperature": 0.1, "top_p": 0.75, "top_k": 40, "max_tokens": 64, "num_beams": 1, "repetition_penalty": 1.1}}"#)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
                let value = try json(response)
                #expect(value["generated_text"] == .string("Bonjour."))
                #expect(value["num_output_tokens_cf"]?.intValue == 8)
                #expect(value["error"] == .null)
            }
            try await client.execute(uri: "/generate", method: .post, body: body(#"{"input": "x"}"#)) { (response: TestResponse) throws in
                #expect(response.status == .badRequest)
                #expect(try json(response)["error"]?.stringValue?.contains("instruction") == true)
            }
        }
        #expect(model.prompts.first?.contains("### Instruction:\n你好\n\n### Response:\n") == true)
        #expect(model.prompts.first?.contains("### Input:") == false)
    }

    /// Every kind of bad request gets a 4xx and an OpenAI error object naming the problem.
    @Test func badRequestsGetClientErrors() async throws {
        var config = ServerConfiguration()
        config.maxBodyBytes = 4096
        let app = buildApplication(configuration: config, backends: try backends(ScriptedModel(contextLength: 64)))
        let cases: [(String, String, HTTPResponse.Status, String)] = [
            ("/v1/completions", #"{"prompt": "hi", "max_tokens": 4"#, .badRequest, "not valid JSON"),
            ("/v1/completions", #"["prompt"]"#, .badRequest, "JSON object"),
            ("/v1/completions", #"{"prompt": "hi", "max_tokens": 0}"#, .badRequest, "max_tokens"),
            ("/v1/completions", #"{"prompt": "hi", "max_tokens": 100}"#, .badRequest, "context"),
            ("/v1/completions", #"{"prompt": "hi", "temperature": "hot"}"#, .badRequest, "temperature"),
            ("/v1/completions", #"{"prompt": 7}"#, .badRequest, "prompt"),
            ("/v1/completions", #"{"prompt": "hi", "model": "gpt-9"}"#, .notFound, "gpt-9"),
            ("/v1/completions", #"{"prompt": "hi", "n": 3}"#, .badRequest, "n = 1"),
            ("/v1/chat/completions", #"{"messages": []}"#, .badRequest, "messages"),
            ("/v1/chat/completions", #"{"messages": [{"role": "wizard", "content": "x"}]}"#, .badRequest, "role"),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}"#, .badRequest, "response_format"),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}"#, .badRequest, "tool_choice"),
            ("/v1/embeddings", #"{"input": "x"}"#, .notFound, "embedding"),
            ("/v1/ask", #"{"question": "x"}"#, .notFound, "knowledge base"),
            ("/v1/completions", "{\"prompt\": \"" + String(repeating: "a", count: 5000) + "\"}", .contentTooLarge, "larger"),
        ]
        try await app.test(.router) { client in
            for (uri, text, status, words) in cases {
                try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: body(text)) { (response: TestResponse) throws in
                    #expect(response.status == status, "\(uri) \(text.prefix(80))")
                    let message = try json(response)["error"]?["message"]?.stringValue ?? ""
                    #expect(message.localizedCaseInsensitiveContains(words), "\(uri) \(text.prefix(80)): \(message)")
                }
            }
        }
    }

    @Test func apiKeyGuardsEverythingButHealth() async throws {
        var config = ServerConfiguration()
        config.apiKey = "s3cret"
        let app = buildApplication(configuration: config, backends: try backends(ScriptedModel()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            for uri in ["/v1/models", "/"] {
                try await client.execute(uri: uri, method: .get) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer s3cret"]) { #expect($0.status == .ok) }
            }
        }
    }

    @Test func chatStreamsServerSentEventsWithUsage() async throws {
        let app = buildApplication(configuration: ServerConfiguration(), backends: try backends(ScriptedModel(reply: "Hi!\nUser: more")))
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: body(#"{"messages": [{"role": "user", "content": "Hello"}], "stream": true, "stream_options": {"include_usage": true}}"#)) { (response: TestResponse) throws in
                #expect(response.headers[.contentType] == "text/event-stream")
                let events = String(buffer: response.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(events.last == "data: [DONE]")
                let chunks = try events.dropLast().map { try JSONValue.parse(String($0.dropFirst("data: ".count))) }
                let text = chunks.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.joined()
                // The plain chat wrapper stops at the next user turn.
                #expect(text == "Hi!")
                #expect(chunks.contains { $0["choices"]?.arrayValue?.first?["finish_reason"] == .string("stop") })
                #expect(chunks.last?["usage"]?["completion_tokens"]?.intValue != nil)
            }
        }
    }

    /// With one request running and no queue, the next is refused at once with 429 and
    /// Retry-After; once the first is done, requests are served again.
    @Test func fullQueueAnswers429() async throws {
        var config = ServerConfiguration()
        config.port = 0
        config.parallel = 1
        config.maxQueued = 0
        let model = ScriptedModel(reply: String(repeating: "x", count: 30), delay: 0.02)
        let app = buildApplication(configuration: config, backends: try backends(model))
        try await app.test(.live) { client in
            // The first request on a connection of its own (the test client has one connection).
            let port = try #require(client.port)
            let request = #"{"prompt": "a", "max_tokens": 30}"#
            let fd = try rawRequest(port: port, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(request.utf8.count)\r\n\r\n\(request)")
            defer { close(fd) }
            try await waitUntilBusy(client)
            try await client.execute(uri: "/v1/completions", method: .post, body: body(#"{"prompt": "b"}"#)) { (response: TestResponse) throws in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "1")
                #expect(try json(response)["error"]?["type"] == .string("rate_limit_error"))
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = read(fd, &buffer, buffer.count)
            #expect(String(decoding: buffer[0..<max(0, got)], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            try await client.execute(uri: "/v1/completions", method: .post, body: body(#"{"prompt": "c", "max_tokens": 2}"#)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
            }
        }
    }

    /// A client that goes away mid-stream stops its generation (the model sees the
    /// cancellation) and frees its place in the queue.
    @Test func disconnectedStreamIsCancelled() async throws {
        var config = ServerConfiguration()
        config.port = 0
        config.parallel = 1
        config.maxQueued = 0
        let model = ScriptedModel(reply: String(repeating: "y", count: 400), delay: 0.01)
        let app = buildApplication(configuration: config, backends: try backends(model))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let request = #"{"prompt": "go", "max_tokens": 400, "stream": true}"#
            let fd = try rawRequest(port: port, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(request.utf8.count)\r\n\r\n\(request)")
            var buffer = [UInt8](repeating: 0, count: 4096)
            let got = read(fd, &buffer, buffer.count)
            #expect(got > 0 && String(decoding: buffer[0..<max(0, got)], as: UTF8.self).contains("200"))
            close(fd)
            var waited = 0.0
            while model.cancelled == 0 && waited < 5 { try await Task.sleep(nanoseconds: 50_000_000); waited += 0.05 }
            #expect(model.cancelled == 1)
            // Its admission ticket was released: a new request is served.
            try await Task.sleep(nanoseconds: 100_000_000)
            try await client.execute(uri: "/v1/completions", method: .post, body: body(#"{"prompt": "c", "max_tokens": 2}"#)) { (response: TestResponse) throws in
                #expect(response.status == .ok)
            }
        }
    }
}

/// Waits until the server holds a request (its `/health` says so), at most 10 seconds.
func waitUntilBusy(_ client: some TestClientProtocol) async throws {
    for _ in 0..<200 {
        let busy = try await client.execute(uri: "/health", method: .get) { response in
            (try? JSONValue.parse(String(buffer: response.body))["requests_in_hand"]?.intValue ?? 0) ?? 0 > 0
        }
        if busy { return }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    Issue.record("the first request never reached the server")
}

/// Opens a TCP connection to the loopback port and writes `text`; returns the socket.
func rawRequest(port: Int, _ text: String) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(connected == 0, "connect to 127.0.0.1:\(port)")
    _ = text.withCString { write(fd, $0, strlen($0)) }
    return fd
}
