import Foundation
import KnowLMCore
import KnowLMExtraction
import KnowLMRuntime
import Prometheus

/// One generation a request asks for.
struct GenerationJob: Sendable {
    var prompt: String
    var parameters: GenerateParameters
    /// Constrains the output (JSON Schema `response_format`, tool calls).
    var grammar: CompiledGrammar?
}

/// Runs generations for the endpoints: admission, size checks, the per-request deadline, and
/// cancellation when the client goes away (the consuming task ends, which stops decoding).
struct ModelRunner: Sendable {
    let backends: ServerBackends
    let configuration: ServerConfiguration
    let gate: AdmissionGate
    let metrics: ServerMetrics

    func model() throws -> any LanguageModel {
        guard let model = backends.model else {
            throw APIError(.notFound, "this server has no generator model; start it with -m MODEL", code: "model_not_found")
        }
        return model
    }

    /// The extractor behind `/v1/extract`: the backends' own, or one made for this request.
    func extractor() throws -> Extractor {
        if let extractor = backends.extractor { return extractor }
        return try Extractor(model: try model(), embedder: backends.embedder, prompts: backends.prompts)
    }

    /// Checks that `model` (when a request names one) is the one served.
    func checkModelName(_ requested: String?) throws {
        guard let requested, !requested.isEmpty else { return }
        guard requested == backends.modelID else {
            throw APIError(.notFound, "the model '\(requested)' does not exist; this server serves '\(backends.modelID)' (GET /v1/models)",
                           param: "model", code: "model_not_found")
        }
    }

    /// Rejects prompts and lengths the context cannot hold, before any work is queued.
    /// Returns the prompt's token count.
    @discardableResult
    func checkSize(prompt: String, parameters: GenerateParameters) throws -> Int {
        let model = try model()
        let tokens = try model.tokenizer.encode(prompt, addBOS: parameters.addBOS && model.tokenizer.addsBOS,
                                                parseSpecial: parameters.parseSpecial).count
        if tokens == 0 { throw APIError.invalid("the prompt is empty", param: "prompt") }
        if tokens + parameters.maxTokens > model.contextLength {
            throw APIError(.badRequest, "this model's context is \(model.contextLength) tokens; the prompt has \(tokens) and max_tokens asks for \(parameters.maxTokens) more",
                                   param: "max_tokens", code: "context_length_exceeded")
        }
        return tokens
    }

    /// Runs `job`, handing each piece of text to `onText` as it is decoded. Stops at the
    /// server's per-request deadline (`504`) and when the calling task is cancelled.
    func run(_ job: GenerationJob,
             onText: @escaping @Sendable (String, TokenLogprob?) async throws -> Void = { _, _ in }) async throws -> GenerationResult {
        let model = try model()
        var processors: [any LogitsProcessor] = []
        if let grammar = job.grammar {
            guard let constrain = backends.constrain else {
                throw APIError.invalid("this server's model cannot be constrained by a grammar (remote model?)")
            }
            processors.append(constrain(grammar))
        }
        let finalProcessors = processors
        let result = try await withDeadline {
            for try await event in model.generate(prompt: job.prompt, parameters: job.parameters, processors: finalProcessors) {
                switch event {
                case .token(_, let text, let logprob):
                    try await onText(text, logprob)
                case .done(let result):
                    return result
                }
            }
            throw KnowLMError.generationEndedEarly
        }
        metrics.record(result)
        return result
    }
}

extension ModelRunner {
    /// Runs `work` under the server's per-request deadline: past it, `work` is cancelled and
    /// the request gets `504`. Cancelling the calling task (the client left) cancels `work`.
    func withDeadline<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = configuration.requestTimeout
        let result: T? = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let result else {
            metrics.timeouts.increment()
            throw APIError(.gatewayTimeout, String(format: "the request ran past the server's limit of %.0f s (waiting included); shorten it or raise --request-timeout", timeout),
                           type: "timeout_error")
        }
        return result
    }
}

/// What `/metrics` reports, kept in a swift-prometheus registry.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let requests: Prometheus.Counter
    let rejected: Prometheus.Counter
    let timeouts: Prometheus.Counter
    let generations: Prometheus.Counter
    let promptTokens: Prometheus.Counter
    let generatedTokens: Prometheus.Counter
    let inHand: Gauge
    let requestDuration: DurationHistogram

    init() {
        requests = registry.makeCounter(descriptor: .init(namespace: "knowlm", metricName: "requests", unitName: "total", helpText: "HTTP requests received"))
        rejected = registry.makeCounter(descriptor: .init(namespace: "knowlm", metricName: "requests_rejected", unitName: "total", helpText: "Requests refused with 429 (queue full)"))
        timeouts = registry.makeCounter(descriptor: .init(namespace: "knowlm", metricName: "requests_timed_out", unitName: "total", helpText: "Requests stopped at the per-request limit"))
        generations = registry.makeCounter(descriptor: .init(namespace: "knowlm", metricName: "generations", unitName: "total", helpText: "Generations finished"))
        promptTokens = registry.makeCounter(descriptor: .init(namespace: "knowlm", metricName: "prompt_tokens", unitName: "total", helpText: "Prompt tokens evaluated"))
        generatedTokens = registry.makeCounter(descriptor: .init(namespace: "knowlm", metricName: "generated_tokens", unitName: "total", helpText: "Tokens generated"))
        inHand = registry.makeGauge(descriptor: .init(namespace: "knowlm", metricName: "requests_in_hand", unitName: "", helpText: "Requests running or waiting for the model"))
        requestDuration = registry.makeDurationHistogram(
            descriptor: .init(namespace: "knowlm", metricName: "request_duration", unitName: "seconds",
                              helpText: "Time to the response head (streams: to their first byte), per request"),
            buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                      .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300)])
    }

    func record(_ result: GenerationResult) {
        generations.increment()
        promptTokens.increment(by: Int64(result.timings.promptTokens))
        generatedTokens.increment(by: Int64(result.tokens.count))
    }

    /// The Prometheus text exposition format.
    func prometheusText(inHand requests: Int) -> String {
        inHand.set(Int64(requests))
        return registry.emitToString()
    }
}

extension StopReason {
    /// OpenAI's `finish_reason`.
    var openAI: String {
        switch self {
        case .length, .contextFull: return "length"
        case .endOfSequence, .stopString, .complete, .cancelled: return "stop"
        }
    }
}
