import Foundation
import KnowLMCore
import KnowLMRuntime

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
        let timeout = configuration.requestTimeout
        let finalProcessors = processors
        let result: GenerationResult? = try await withThrowingTaskGroup(of: GenerationResult?.self) { group in
            group.addTask {
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
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let result else {
            metrics.timeouts.add(1)
            throw APIError(.gatewayTimeout, String(format: "the request ran past the server's limit of %.0f s (waiting included); shorten it or raise --request-timeout", timeout),
                           type: "timeout_error")
        }
        metrics.record(result)
        return result
    }
}

/// Counters for `/metrics`.
final class ServerMetrics: Sendable {
    let requests = Counter()
    let rejected = Counter()
    let timeouts = Counter()
    let promptTokens = Counter()
    let generatedTokens = Counter()
    let generations = Counter()

    func record(_ result: GenerationResult) {
        generations.add(1)
        promptTokens.add(result.timings.promptTokens)
        generatedTokens.add(result.tokens.count)
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
