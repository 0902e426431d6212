import Foundation
import KnowLMCore

/// The sampling side of one generation, advanced a token at a time: constraints, sampling,
/// log-probabilities, stop strings and the text handed out so far. The model side (which
/// forward pass produced the logits) belongs to the caller, so the single-sequence loop and
/// the batch scheduler share this.
struct DecodingSequence {
    let prompt: [TokenID]
    let parameters: GenerateParameters
    let processors: [any LogitsProcessor]
    let tokenizer: any Tokenizer
    let vocabulary: Int
    private var sampler: Sampler
    private var detokenizer = StreamingDetokenizer()
    private let stops: StopStringMatcher
    private let endTokens: Set<TokenID>
    /// The logits before constraints and penalties, for log-probabilities.
    private var rawLogits: [Float]
    private(set) var generated: [TokenID] = []
    private(set) var logprobs: [TokenLogprob] = []
    private(set) var text = ""
    /// Characters of `text` already handed out.
    private var emitted = 0
    private(set) var reason = StopReason.length
    private(set) var finished: Bool

    struct Piece {
        var token: TokenID
        var text: String
        var logprob: TokenLogprob?
    }

    init(prompt: [TokenID], parameters: GenerateParameters, processors: [any LogitsProcessor], tokenizer: any Tokenizer,
         vocabulary: Int) {
        self.prompt = prompt
        self.parameters = parameters
        self.processors = processors
        self.tokenizer = tokenizer
        self.vocabulary = vocabulary
        sampler = Sampler(parameters: parameters)
        stops = StopStringMatcher(stops: parameters.stop)
        endTokens = tokenizer.endOfGenerationIDs
        rawLogits = parameters.logprobs == nil ? [] : [Float](repeating: 0, count: vocabulary)
        finished = parameters.maxTokens <= 0
    }

    mutating func cancel() {
        reason = .cancelled
        finished = true
    }

    /// Chooses the next token from `logits` (the model's output after the last token; they
    /// are modified). Returns the text that became safe to hand out, if any; afterwards either
    /// `finished` is set or `generated.last` is the token to run next.
    mutating func step(_ logits: UnsafeMutablePointer<Float>, contextFull: () -> Bool) throws -> Piece? {
        precondition(!finished, "step after the sequence finished")
        if processors.contains(where: { $0.isFinished }) { reason = .complete; finished = true; return nil }
        let p = parameters, vocabulary = self.vocabulary
        let history = (prompt + generated)[...]
        // Log-probabilities describe the model's distribution, before constraints and penalties.
        if !rawLogits.isEmpty { rawLogits.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: logits, count: vocabulary) } }
        let allowed = try GenerationLoop.constrain(logits, vocabulary: vocabulary, generated: generated,
                                                   endOfGeneration: endTokens, processors: processors)
        guard let token = sampler.sample(logits, vocabulary: vocabulary, history: history, allowed: allowed,
                                         processors: processors, remaining: p.maxTokens - generated.count) else {
            throw RuntimeError.constraintUnsatisfiable(step: generated.count)
        }
        let rawLogprob = rawLogits.isEmpty ? nil : rawLogits.withUnsafeBufferPointer {
            Sampler.logprobs($0.baseAddress!, count: vocabulary, chosen: token, top: p.logprobs ?? 0)
        }
        if endTokens.contains(token) { reason = .endOfSequence; finished = true; return nil }
        generated.append(token)
        for processor in processors { try processor.accept(token) }
        if let rawLogprob { logprobs.append(rawLogprob) }
        text += detokenizer.append(token, using: tokenizer)

        if let cut = stops.truncateAtStop(text) {
            text = cut
            reason = .stopString
            finished = true
            defer { emitted = text.count }
            return emitted < text.count ? Piece(token: token, text: String(text.dropFirst(emitted)), logprob: rawLogprob) : nil
        }
        let safe = text.count - stops.heldBackCount(text)
        let piece = Piece(token: token, text: safe > emitted ? String(text.dropFirst(emitted).prefix(safe - emitted)) : "",
                          logprob: rawLogprob)
        emitted = max(emitted, safe)

        if processors.contains(where: { $0.isFinished }) { reason = .complete; finished = true }
        else if generated.count >= p.maxTokens { reason = .length; finished = true }
        else if contextFull() { reason = .contextFull; finished = true }
        return piece
    }

    /// The finished generation (the text held back for stop strings is released).
    mutating func result(timings: GenerationTimings) -> GenerationResult {
        if reason != .stopString {
            text += detokenizer.flush()
            if let cut = stops.truncateAtStop(text) { text = cut; reason = .stopString }
        }
        var timings = timings
        timings.generatedTokens = generated.count
        return GenerationResult(text: text, tokens: generated, promptTokenCount: prompt.count,
                                stopReason: reason, timings: timings, logprobs: logprobs)
    }
}
