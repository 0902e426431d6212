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
    func prefill(_ prompt: [TokenID], into logits: UnsafeMutablePointer<Float>) throws -> Int {
        guard !prompt.isEmpty else { throw RuntimeError.invalidArgument("the prompt is empty (no tokens to condition on)") }
        guard prompt.count < state.contextLength else {
            throw RuntimeError.promptTooLong(tokens: prompt.count, context: state.contextLength)
        }
        var common = zip(state.tokens, prompt).prefix { $0 == $1 }.count
        if common == prompt.count { common -= 1 }  // the last token must run again to give logits
        common = state.truncate(to: common, slidingWindow: model.config.slidingWindow)
        var start = common
        while start < prompt.count {
            let end = min(prompt.count, start + state.batchCapacity)
            let last = end == prompt.count
            try model.forward(prompt[start..<end], state: state, logitRows: last ? [end - start - 1] : [], logits: logits)
            state.tokens += prompt[start..<end]
            start = end
        }
        return prompt.count - common
    }

    mutating func run(prompt: [TokenID], parameters p: GenerateParameters, isCancelled: () -> Bool,
                      onToken: (TokenID, String, TokenLogprob?) -> Void) throws -> GenerationResult {
        guard p.maxTokens >= 0 else { throw RuntimeError.invalidArgument("max tokens must not be negative") }
        var timings = GenerationTimings()
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: vocabulary)
        defer { logits.deallocate() }

        let promptStart = Date()
        timings.promptTokens = try prefill(prompt, into: logits)
        timings.promptSeconds = Date().timeIntervalSince(promptStart)

        var sampler = Sampler(parameters: p)
        var detokenizer = StreamingDetokenizer()
        let stops = StopStringMatcher(stops: p.stop)
        var generated: [TokenID] = []
        var logprobs: [TokenLogprob] = []
        var text = ""
        var emitted = 0  // characters of `text` already handed to onToken
        var reason = StopReason.length
        let generationStart = Date()

        // Token sequences of the allowed openings, narrowed as tokens are chosen.
        var openings: [[TokenID]] = try (p.startsWithOneOf ?? []).filter { !$0.isEmpty }.map {
            try tokenizer.encode($0, addBOS: false, parseSpecial: false)
        }.filter { !$0.isEmpty }

        while generated.count < p.maxTokens {
            if isCancelled() { reason = .cancelled; break }
            if !openings.isEmpty {
                // Only the next token of a still-possible opening may be chosen.
                let step = generated.count
                let allowed = Set(openings.compactMap { step < $0.count ? $0[step] : nil })
                let kept = allowed.map { ($0, logits[Int($0)]) }
                logits.update(repeating: -.infinity, count: vocabulary)
                for (token, value) in kept where Int(token) < vocabulary { logits[Int(token)] = value }
            }
            var rawLogprob: TokenLogprob?
            let history = (prompt + generated)[...]
            let token: TokenID
            if let top = p.logprobs {
                // Log-probabilities describe the model's distribution, before penalties.
                let copy = UnsafeMutablePointer<Float>.allocate(capacity: vocabulary)
                defer { copy.deallocate() }
                copy.update(from: logits, count: vocabulary)
                token = sampler.sample(logits, vocabulary: vocabulary, history: history)
                rawLogprob = Sampler.logprobs(copy, count: vocabulary, chosen: token, top: top)
            } else {
                token = sampler.sample(logits, vocabulary: vocabulary, history: history)
            }
            if tokenizer.endOfGenerationIDs.contains(token) { reason = .endOfSequence; break }
            generated.append(token)
            if !openings.isEmpty {
                let step = generated.count - 1
                openings = openings.filter { step < $0.count && $0[step] == token }
                if openings.contains(where: { $0.count == generated.count }) { openings = [] }  // one completed
            }
            if let rawLogprob { logprobs.append(rawLogprob) }
            text += detokenizer.append(token, using: tokenizer)

            if let cut = stops.truncateAtStop(text) {
                text = cut
                reason = .stopString
                if emitted < text.count { onToken(token, String(text.dropFirst(emitted)), rawLogprob) }
                emitted = text.count
                break
            }
            let safe = text.count - stops.heldBackCount(text)
            onToken(token, safe > emitted ? String(text.dropFirst(emitted).prefix(safe - emitted)) : "", rawLogprob)
            emitted = max(emitted, safe)

            if generated.count >= p.maxTokens { reason = .length; break }
            if state.length >= state.contextLength { reason = .contextFull; break }
            try model.forward([token][...], state: state, logitRows: [0], logits: logits)
            state.tokens.append(token)
        }
        if reason != .stopString {
            text += detokenizer.flush()
            if let cut = stops.truncateAtStop(text) { text = cut; reason = .stopString }
        }
        timings.generatedTokens = generated.count
        timings.generationSeconds = Date().timeIntervalSince(generationStart)
        return GenerationResult(text: text, tokens: generated, promptTokenCount: prompt.count,
                                stopReason: reason, timings: timings, logprobs: logprobs)
    }

    /// Beam search: keeps the `numBeams` most probable continuations (sum of log-probabilities,
    /// finished beams ranked by mean log-probability as in Hugging Face's default) and returns
    /// the best. Deterministic; sampling settings are ignored.
    mutating func beamSearch(prompt: [TokenID], parameters p: GenerateParameters, isCancelled: () -> Bool) throws -> GenerationResult {
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
        }
        func makeState() -> InferenceState {
            InferenceState(config: model.config, contextLength: state.contextLength, batchCapacity: 1,
                           threads: state.threads, precision: state.precision)
        }
        let first = makeState()
        first.copy(from: state)
        var beams = [Beam(state: first, tokens: [], score: 0, logits: Array(UnsafeBufferPointer(start: rootLogits, count: vocab)))]
        var finished: [(tokens: [TokenID], score: Float, reason: StopReason)] = []
        var reason = StopReason.length

        for _ in 0..<p.maxTokens {
            if isCancelled() { reason = .cancelled; break }
            var candidates: [(beam: Int, token: TokenID, score: Float)] = []
            for (b, beam) in beams.enumerated() {
                beam.logits.withUnsafeBufferPointer { l in
                    let (m, ls) = Sampler.logSoftmax(l.baseAddress!, count: vocab)
                    for (token, logit) in Sampler.topK(l.baseAddress!, count: vocab, k: width * 2) {
                        candidates.append((b, token, beam.score + logit - m - ls))
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
                next.append(Beam(state: s, tokens: parent.tokens + [candidate.token], score: candidate.score, logits: []))
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
