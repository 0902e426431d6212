import Foundation
import Hummingbird
import KnowLMCore

/// KnowLM's own API: `POST /generate` with an instruction, an optional input and decoding
/// parameters, wrapped in the instruction prompt KnowLM's models were tuned on
/// (`Prompts/generate_alpaca.mustache`).
struct GenerateController {
    let runner: ModelRunner

    func register(on router: Router<BasicRequestContext>) {
        router.post("/generate") { request, context in
            do {
                return try await generate(request)
            } catch {
                // KnowLM's clients read `error` from the same object they read text from.
                let api = APIError.from(error)
                var response = jsonResponse(.object([
                    ("generated_text", .string("")), ("num_output_tokens_cf", .num(0)), ("error", .string(api.message)),
                ]), status: api.status)
                if let retry = api.retryAfter { response.headers[.retryAfter] = String(retry) }
                return response
            }
        }
    }

    func generate(_ request: Request) async throws -> Response {
        let ticket = try runner.gate.admit()
        let body = try await RequestFields.read(request, limit: runner.configuration.maxBodyBytes)
        let instruction = try body.requiredString("instruction")
        let input = try body.string("input") ?? ""
        var parameters = GenerateParameters()
        parameters.maxTokens = 256
        if let p = try body.nested("parameters") {
            parameters = try Self.parameters(p, base: parameters)
        }
        let prompt = try runner.backends.prompts.render("generate_alpaca", [
            "instruction": instruction, "input": input.isEmpty ? nil : input,
        ].compactMapValues { $0 })
        try runner.checkSize(prompt: prompt, parameters: parameters)
        let job = GenerationJob(prompt: prompt, parameters: parameters)
        if try body.bool("stream") == true {
            // An extension of KnowLM's API (the web page uses it): server-sent events with each
            // new piece of text, then the usual object with the whole text.
            return ServerSentEvents.response(ticket: ticket) { send in
                let result = try await runner.run(job) { text, _ in
                    if !text.isEmpty { try await send(.object([("text", .string(text))])) }
                }
                try await send(.object([
                    ("generated_text", .string(result.text.trimmingCharacters(in: .whitespacesAndNewlines))),
                    ("num_output_tokens_cf", .num(result.tokens.count)), ("error", .null),
                ]))
            }
        }
        let result = try await runner.run(job)
        withExtendedLifetime(ticket) {}
        return jsonResponse(.object([
            ("generated_text", .string(result.text.trimmingCharacters(in: .whitespacesAndNewlines))),
            ("num_output_tokens_cf", .num(result.tokens.count)),
            ("error", .null),
        ]))
    }

    /// KnowLM's decoding parameters (Hugging Face names) onto the runtime's.
    static func parameters(_ p: RequestFields, base: GenerateParameters) throws -> GenerateParameters {
        var out = base
        if let v = try p.double("temperature", in: 0...100) { out.temperature = Float(v) }
        if let v = try p.double("top_p", in: 0.000001...1) { out.topP = Float(v) }
        if let v = try p.int("top_k", in: 0...100_000) { out.topK = v }
        if let v = try p.int("max_tokens", in: 1...1_000_000) ?? p.int("max_new_tokens", in: 1...1_000_000) { out.maxTokens = v }
        if let v = try p.int("num_beams", in: 1...8) { out.numBeams = v }
        if let v = try p.double("repetition_penalty", in: 0.000001...100) { out.repeatPenalty = Float(v) }
        if let v = try p.int("seed", in: 0...Int.max) { out.seed = UInt64(v) }
        if let v = try p.strings("stop", max: 8) { out.stop = v }
        if (try p.bool("do_sample")) == false { out.temperature = 0 }
        return out
    }
}
