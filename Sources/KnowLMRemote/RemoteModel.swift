import CCurl
import Foundation
import KnowLMCore

/// What can go wrong talking to a remote model; each message says where and what to do.
public enum RemoteError: LocalizedError, Equatable {
    case connection(url: String, reason: String)
    case timeout(url: String, seconds: Double)
    case http(url: String, status: Int, message: String)
    case unsupported(String)
    case malformed(String)

    public var errorDescription: String? {
        switch self {
        case .connection(let url, let reason): return "cannot reach \(url): \(reason) (is the server running? check --endpoint)"
        case .timeout(let url, let seconds): return String(format: "%@ did not answer within %.0f s (raise --remote-timeout?)", url, seconds)
        case .http(let url, let status, let message): return "\(url) answered HTTP \(status): \(message)"
        case .unsupported(let what): return what
        case .malformed(let what): return "the remote server's answer is not what the OpenAI API returns: \(what)"
        }
    }
}

/// A `LanguageModel` behind an OpenAI-compatible server (`knowlm serve`, llama.cpp's
/// `llama-server`, vLLM), for models that outgrow this machine. Completions stream over
/// libcurl; 429 and 5xx answers are retried with backoff (honouring `Retry-After`) while no
/// text has been received yet; nothing else is retried.
///
/// Token counts are the server's (its `usage`); `tokenizer` only estimates (about four bytes
/// per token) for the callers that budget prompts. Grammar constraints run inside a local
/// model's decoding loop, so they are refused here; `startsWithOneOf` is ignored.
public final class RemoteModel: LanguageModel, @unchecked Sendable {
    public let name: String
    public let contextLength: Int
    public let tokenizer: any Tokenizer = EstimatingTokenizer()
    /// Base URL up to and including `/v1`.
    public let endpoint: String
    public let apiKey: String?
    public var retries = 3
    public var timeout: Double = 600
    public var connectTimeout: Double = 10
    /// First wait before a retry, doubled each time.
    public var backoff: Double = 0.5

    public init(endpoint: String, model: String, apiKey: String? = nil, contextLength: Int = 4096) {
        var base = endpoint.trimmingCharacters(in: .whitespaces)
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        self.endpoint = base
        self.name = model
        self.apiKey = apiKey
        self.contextLength = contextLength
    }

    /// The first model the server lists (`GET /v1/models`), for when the user names none.
    public static func firstModel(endpoint: String, apiKey: String?) throws -> String {
        let probe = RemoteModel(endpoint: endpoint, model: "", apiKey: apiKey)
        var response = kl_http_response()
        let url = probe.endpoint + "/models"
        kl_http_get(url, nil, 10_000, 1 << 20, "knowlm", &response)
        defer { kl_http_response_free(&response) }
        guard response.curl_code == 0 else {
            throw RemoteError.connection(url: url, reason: withUnsafeBytes(of: response.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        let body = response.body.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: response.body_length), as: UTF8.self) } ?? ""
        guard response.status == 200 else {
            throw RemoteError.http(url: url, status: response.status, message: Self.errorMessage(body))
        }
        guard let id = (try? JSONValue.parse(body))?["data"]?.arrayValue?.first?["id"]?.stringValue else {
            throw RemoteError.malformed("\(url) lists no model")
        }
        return id
    }

    /// `firstModel` for async callers: the blocking transfer runs on a Dispatch thread, so it
    /// never holds one of Swift concurrency's few threads (which a server in the same process
    /// may need to answer this very request).
    public static func firstModel(endpoint: String, apiKey: String?) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try firstModel(endpoint: endpoint, apiKey: apiKey) as String })
            }
        }
    }

    static func errorMessage(_ body: String) -> String {
        let value = try? JSONValue.parse(body)
        return value?["error"]?["message"]?.stringValue ?? value?["error"]?.stringValue ?? String(body.prefix(300))
    }

    /// The `/v1/completions` request for `prompt`.
    func requestBody(prompt: String, parameters p: GenerateParameters) -> String {
        var members: [(key: String, value: JSONValue)] = [
            ("model", .string(name)), ("prompt", .string(prompt)), ("max_tokens", .number(String(p.maxTokens))),
            ("temperature", .number(String(p.temperature))), ("top_p", .number(String(p.topP))),
            ("top_k", .number(String(p.topK))), ("min_p", .number(String(p.minP))),
            ("repeat_penalty", .number(String(p.repeatPenalty))),
            ("frequency_penalty", .number(String(p.frequencyPenalty))), ("presence_penalty", .number(String(p.presencePenalty))),
            ("stream", .bool(true)), ("stream_options", .object([("include_usage", .bool(true))])),
        ]
        if let seed = p.seed { members.append(("seed", .number(String(Int64(bitPattern: seed))))) }
        if !p.stop.isEmpty { members.append(("stop", .array(p.stop.prefix(4).map { .string($0) }))) }
        if let n = p.logprobs { members.append(("logprobs", .number(String(min(n, 20))))) }
        if let text = p.remoteJSONSchema, let schema = try? JSONValue.parse(text) {
            // OpenAI's form (knowlm serve, vLLM) and llama.cpp's (its /v1/completions reads
            // json_schema); each server ignores the other's.
            members.append(("response_format", .object([
                ("type", .string("json_schema")),
                ("json_schema", .object([("name", .string("answer")), ("schema", schema)])),
            ])))
            members.append(("json_schema", schema))
        }
        return JSONValue.object(members).serialized()
    }

    public func generate(prompt: String, parameters: GenerateParameters,
                         processors: [any LogitsProcessor]) -> AsyncThrowingStream<Generation, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Generation.self)
        guard processors.isEmpty else {
            continuation.finish(throwing: RemoteError.unsupported("grammar constraints need a local model (they run inside its decoding loop); drop --json-schema/--grammar or use -m"))
            return stream
        }
        guard parameters.numBeams <= 1 else {
            continuation.finish(throwing: RemoteError.unsupported("beam search is not part of the OpenAI API; use --beams 1 with a remote model"))
            return stream
        }
        let call = StreamingCall(model: self, prompt: prompt, parameters: parameters, continuation: continuation)
        continuation.onTermination = { _ in call.cancelled.set() }
        DispatchQueue.global().async { call.run() }
        return stream
    }
}

/// One streamed completion: the curl transfer on a Dispatch thread, server-sent events parsed
/// as they arrive, retries before the first text.
final class StreamingCall: @unchecked Sendable {
    let model: RemoteModel
    let prompt: String
    let parameters: GenerateParameters
    let continuation: AsyncThrowingStream<Generation, any Error>.Continuation
    let cancelled = CancellationFlag()
    private var pending = Data()
    private var errorBody = Data()
    private var text = ""
    private var pieces = 0
    private var finishReason: String?
    private var usage: (prompt: Int, completion: Int)?
    private var failure: (any Error)?
    private let started = Date()

    init(model: RemoteModel, prompt: String, parameters: GenerateParameters,
         continuation: AsyncThrowingStream<Generation, any Error>.Continuation) {
        self.model = model; self.prompt = prompt; self.parameters = parameters; self.continuation = continuation
    }

    func run() {
        let url = model.endpoint + "/completions"
        let body = model.requestBody(prompt: prompt, parameters: parameters)
        var attempt = 0
        while true {
            if cancelled.isSet { continuation.finish(); return }
            pending = Data(); errorBody = Data()
            var response = kl_http_response()
            var headers = ["Content-Type: application/json", "Accept: text/event-stream"]
            if let key = model.apiKey { headers.append("Authorization: Bearer \(key)") }
            let code = withCStrings(headers) { list in
                body.withCString { b in
                    kl_http_post_stream(url, list, b, strlen(b), Int(model.connectTimeout * 1000), Int(model.timeout * 1000),
                                        { context, status, data, length in
                                            let call = Unmanaged<StreamingCall>.fromOpaque(context!).takeUnretainedValue()
                                            return call.receive(status: status, UnsafeRawBufferPointer(start: data, count: length)) ? 0 : 1
                                        }, Unmanaged.passUnretained(self).toOpaque(), &response)
                }
            }
            let status = response.status
            let curlMessage = withUnsafeBytes(of: response.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            kl_http_response_free(&response)
            if cancelled.isSet { continuation.finish(); return }
            if let failure { continuation.finish(throwing: failure); return }
            if code != 0 && status == 0 {
                // CURLE_OPERATION_TIMEDOUT is 28.
                continuation.finish(throwing: code == 28 ? RemoteError.timeout(url: url, seconds: model.timeout)
                                                         : RemoteError.connection(url: url, reason: curlMessage))
                return
            }
            if status == 200 && code != 0 && code != 23 {
                continuation.finish(throwing: code == 28 ? RemoteError.timeout(url: url, seconds: model.timeout)
                                                         : RemoteError.connection(url: url, reason: curlMessage))
                return
            }
            if status != 200 {
                let message = RemoteModel.errorMessage(String(decoding: errorBody, as: UTF8.self))
                if (status == 429 || status >= 500) && pieces == 0 && attempt < model.retries {
                    let wait = model.backoff * pow(2, Double(attempt))
                    attempt += 1
                    Thread.sleep(forTimeInterval: wait)
                    continue
                }
                continuation.finish(throwing: RemoteError.http(url: url, status: status, message: message))
                return
            }
            break
        }
        var timings = GenerationTimings()
        timings.promptTokens = usage?.prompt ?? 0
        timings.generatedTokens = usage?.completion ?? pieces
        timings.generationSeconds = Date().timeIntervalSince(started)
        let reason: StopReason
        switch finishReason {
        case "length": reason = .length
        case "stop": reason = parameters.stop.isEmpty ? .endOfSequence : .stopString
        default: reason = .endOfSequence
        }
        let result = GenerationResult(text: text, tokens: [], promptTokenCount: usage?.prompt ?? 0, stopReason: reason, timings: timings)
        continuation.yield(.done(result))
        continuation.finish()
    }

    /// Returns false to abort the transfer.
    private func receive(status: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if cancelled.isSet { return false }
        guard status == 200 else {
            if errorBody.count < 65_536 { errorBody.append(contentsOf: bytes) }
            return true
        }
        pending.append(contentsOf: bytes)
        while let range = pending.range(of: Data("\n\n".utf8)) ?? pending.range(of: Data("\r\n\r\n".utf8)) {
            let event = String(decoding: pending[pending.startIndex..<range.lowerBound], as: UTF8.self)
            pending.removeSubrange(pending.startIndex..<range.upperBound)
            for line in event.split(separator: "\n") where line.hasPrefix("data:") {
                let data = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                if data == "[DONE]" { continue }
                guard let value = try? JSONValue.parse(data) else {
                    failure = RemoteError.malformed("an event that is not JSON: \(data.prefix(120))")
                    return false
                }
                if let error = value["error"] {
                    failure = RemoteError.http(url: model.endpoint + "/completions", status: 200,
                                               message: error["message"]?.stringValue ?? error.serialized())
                    return false
                }
                if let u = value["usage"], let p = u["prompt_tokens"]?.intValue, let c = u["completion_tokens"]?.intValue {
                    usage = (p, c)
                }
                if let choice = value["choices"]?.arrayValue?.first {
                    if let piece = choice["text"]?.stringValue, !piece.isEmpty {
                        text += piece
                        pieces += 1
                        continuation.yield(.token(0, text: piece, logprob: nil))
                    }
                    if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
                }
            }
        }
        return true
    }
}

/// Runs `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Token counts for a remote model, estimated (about four UTF-8 bytes per token); the server
/// reports the real counts in `usage`.
public struct EstimatingTokenizer: Tokenizer {
    public init() {}
    public var vocabularySize: Int { 1 }
    public var bosID: TokenID? { nil }
    public var eosID: TokenID? { nil }
    public var addsBOS: Bool { false }
    public var endOfGenerationIDs: Set<TokenID> { [] }
    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID] {
        [TokenID](repeating: 0, count: (text.utf8.count + 3) / 4)
    }
    public func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8] { [] }
}
