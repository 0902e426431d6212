import Foundation
import KnowLMCore

/// One generation: reads the prompt (reusing the cached prefix), then samples token by token
/// until an end token, a stop string, the token limit, a full context or cancellation.
struct GenerationLoop {
    let model: Transformer
    let tokenizer: any Tokenizer
    let state: InferenceState

    var vocabulary: Int { model.config.vocabularySize }

    /// Brings the cache to hold exactly `prompt` and returns the logits after its last token.
    /// Tokens shared with what the cache already holds are not evaluated again.
    /// Stops between batches once `isCancelled` says so (the logits are then not valid; the
    /// caller sees the cancellation before using them).
    func prefill(_ prompt: [TokenID], into logits: UnsafeMutablePointer<Float>, isCancelled: () -> Bool = { false }) throws -> Int {
        guard !prompt.isEmpty else { throw RuntimeError.invalidArgument("the prompt is empty (no tokens to condition on)") }
        guard prompt.count < state.contextLength else {
            throw RuntimeError.promptTooLong(tokens: prompt.count, context: state.contextLength)
        }
        var common = zip(state.tokens, prompt).prefix { $0 == $1 }.count
        if common == prompt.count { common -= 1 }  // the last token must run again to give logits
        common = state.truncate(to: common, slidingWindow: model.config.slidingWindow)
        var start = common
        while start < prompt.count {
            if isCancelled() { break }
            let end = min(prompt.count, start + state.batchCapacity)
            let last = end == prompt.count
            try model.forward(prompt[start..<end], state: state, logitRows: last ? [end - start - 1] : [], logits: logits)
            state.tokens += prompt[start..<end]
            start = end
        }
        return prompt.count - common
    }

    /// Runs every processor over the next token's logits. Returns the allowed list when one
    /// narrowed it (then only those tokens may be chosen; with `fullRow`, every other logit is
    /// also set to `-infinity`); throws when they leave no token at all.
    static func constrain(_ logits: UnsafeMutablePointer<Float>, vocabulary: Int, generated: [TokenID],
                          endOfGeneration: Set<TokenID>, processors: [any LogitsProcessor],
                          fullRow: Bool = false) throws -> [TokenID]? {
        guard !processors.isEmpty else { return nil }
        var view = TokenLogits(values: logits, count: vocabulary, generated: generated, endOfGeneration: endOfGeneration)
        for processor in processors { try processor.process(&view) }
        if fullRow { view.maskOutsideAllowed() }
        if let allowed = view.allowed {
            if allowed.isEmpty { throw RuntimeError.constraintUnsatisfiable(step: generated.count) }
        } else {
            var any = false
            for i in 0..<vocabulary where logits[i] > -.infinity { any = true; break }
            if !any { throw RuntimeError.constraintUnsatisfiable(step: generated.count) }
        }
        return view.allowed
    }

    mutating func run(prompt: [TokenID], parameters p: GenerateParameters, processors: [any LogitsProcessor],
                      isCancelled: () -> Bool,
                      onToken: (TokenID, String, TokenLogprob?) -> Void) throws -> GenerationResult {
        guard p.maxTokens >= 0 else { throw RuntimeError.invalidArgument("max tokens must not be negative") }
        var timings = GenerationTimings()
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocabulary)
        defer { logits.deallocate() }

        let promptStart = Date()
        timings.promptTokens = try prefill(prompt, into: logits, isCancelled: isCancelled)
        timings.promptSeconds = Date().timeIntervalSince(promptStart)

        var sequence = DecodingSequence(prompt: prompt, parameters: p, processors: processors, tokenizer: tokenizer,
                                        vocabulary: vocabulary)
        let generationStart = Date()
        let state = self.state
        while !sequence.finished {
            if isCancelled() { sequence.cancel(); break }
            if let piece = try sequence.step(logits, contextFull: { state.length >= state.contextLength }) {
                onToken(piece.token, piece.text, piece.logprob)
            }
            guard !sequence.finished, let token = sequence.generated.last else { break }
            try model.forward([token][...], state: state, logitRows: [0], logits: logits)
            state.tokens.append(token)
        }
        timings.generationSeconds = Date().timeIntervalSince(generationStart)
        return sequence.result(timings: timings)
    }

    /// Beam search: keeps the `numBeams` most probable continuations (sum of log-probabilities,
    /// finished beams ranked by mean log-probability as in Hugging Face's default) and returns
    /// the best. Deterministic; sampling settings are ignored.
    mutating func beamSearch(prompt: [TokenID], parameters p: GenerateParameters, processors: [any LogitsProcessor],
                             isCancelled: () -> Bool) throws -> GenerationResult {
        let width = p.numBeams
        var timings = GenerationTimings()
        let vocab = vocabulary
        let rootLogits = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
        defer { rootLogits.deallocate() }
        let promptStart = Date()
        timings.promptTokens = try prefill(prompt, into: rootLogits)
        timings.promptSeconds = Date().timeIntervalSince(promptStart)
        let generationStart = Date()

        struct Beam {
            var state: InferenceState
            var tokens: [TokenID]
            var score: Float
            var logits: [Float]
            var processors: [any LogitsProcessor]
        }
        func makeState() -> InferenceState {
            InferenceState(config: model.config, contextLength: state.contextLength, batchCapacity: 1,
                           threads: state.threads, precision: state.precision)
        }
        let first = makeState()
        first.copy(from: state)
        var beams = [Beam(state: first, tokens: [], score: 0, logits: Array(UnsafeBufferPointer(start: rootLogits, count: vocab)),
                          processors: processors)]
        var finished: [(tokens: [TokenID], score: Float, reason: StopReason)] = []
        var reason = StopReason.length

        for _ in 0..<p.maxTokens {
            if isCancelled() { reason = .cancelled; break }
            var candidates: [(beam: Int, token: TokenID, score: Float)] = []
            for b in beams.indices {
                let generated = beams[b].tokens
                let beamProcessors = beams[b].processors
                let score = beams[b].score
                try beams[b].logits.withUnsafeMutableBufferPointer { l in
                    _ = try Self.constrain(l.baseAddress!, vocabulary: vocab, generated: generated,
                                           endOfGeneration: tokenizer.endOfGenerationIDs, processors: beamProcessors,
                                           fullRow: true)
                    let (m, ls) = Sampler.logSoftmax(l.baseAddress!, count: vocab)
                    for (token, logit) in Sampler.topK(l.baseAddress!, count: vocab, k: width * 2) where logit > -.infinity {
                        candidates.append((b, token, score + logit - m - ls))
                    }
                }
            }
            candidates.sort { $0.score > $1.score }
            var next: [Beam] = []
            var reused = Set<Int>()
            for candidate in candidates {
                if next.count == width { break }
                let parent = beams[candidate.beam]
                if tokenizer.endOfGenerationIDs.contains(candidate.token) {
                    finished.append((parent.tokens, candidate.score / Float(max(1, parent.tokens.count + 1)), .endOfSequence))
                    continue
                }
                let s: InferenceState
                if reused.insert(candidate.beam).inserted { s = parent.state } else { s = makeState(); s.copy(from: parent.state) }
                let childProcessors = parent.processors.map { $0.copy() }
                for processor in childProcessors { try processor.accept(candidate.token) }
                if childProcessors.contains(where: { $0.isFinished }) {
                    finished.append((parent.tokens + [candidate.token], candidate.score / Float(parent.tokens.count + 1), .complete))
                    continue
                }
                next.append(Beam(state: s, tokens: parent.tokens + [candidate.token], score: candidate.score, logits: [],
                                 processors: childProcessors))
            }
            // States handed to two children were copied above before the first child ran on.
            for i in next.indices {
                guard next[i].state.length < next[i].state.contextLength else { reason = .contextFull; continue }
                var logits = [Float](repeating: 0, count: vocab)
                try logits.withUnsafeMutableBufferPointer {
                    try model.forward([next[i].tokens.last!][...], state: next[i].state, logitRows: [0], logits: $0.baseAddress!)
                }
                next[i].state.tokens.append(next[i].tokens.last!)
                next[i].logits = logits
            }
            beams = next
            if beams.isEmpty { break }
            let bestFinished = finished.map(\.score).max() ?? -.infinity
            if finished.count >= width && beams.allSatisfy({ $0.score / Float($0.tokens.count) < bestFinished }) { break }
        }
        for beam in beams { finished.append((beam.tokens, beam.score / Float(max(1, beam.tokens.count)), reason)) }
        let best = finished.max { $0.score < $1.score } ?? ([], 0, reason)
        var text = tokenizer.decode(best.tokens)
        var stopReason = best.reason
        if let cut = StopStringMatcher(stops: p.stop).truncateAtStop(text) { text = cut; stopReason = .stopString }
        timings.generatedTokens = best.tokens.count
        timings.generationSeconds = Date().timeIntervalSince(generationStart)
        // The shared cache no longer matches any known sequence after copying; keep the prompt.
        return GenerationResult(text: text, tokens: best.tokens, promptTokenCount: prompt.count,
                                stopReason: stopReason, timings: timings)
    }
}
