import Foundation
import KnowLMCore
@testable import KnowLMRuntime
import Testing

/// Continuous batching with the real default model: several generations in one pass give
/// the text each gives alone, cancelled ones free their slot, and a shared prefix is read once.
@Suite(.serialized)
struct BatchedModelTests {
    static func load() throws -> LocalModel {
        var options = RuntimeOptions()
        options.contextLength = 1024
        return try LocalModel.load(path: try Fixtures.defaultModelPath, options: options)
    }

    static let prompts = [
        "The three largest cities of Italy are",
        "Q: What is the boiling point of water at sea level?\nA:",
        "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
        "Once upon a time, in a village by the sea, there lived an old fisherman who",
    ]

    /// Greedy continuations decoded together equal those decoded one at a time, except where
    /// the sequential run itself had a near-tie: batched rows go through the matrix-matrix
    /// kernels, which (as llama.cpp's do) sum K-quant blocks in another order, so the logits
    /// move in the last bits, and a 270M model amplifies that over its layers. Where a text
    /// differs, the two tokens chosen at the first difference must be near-tied in both runs:
    /// each run's choice is within `tieMargin` nats of the other run's choice, by that run's own
    /// log-probabilities. A batching bug (a wrong cache, a mixed-up row) gives far larger gaps,
    /// or the other token missing from the top candidates. Measured on AMD Zen 4 (AVX-512):
    /// 1 of 4 texts identical, the others split at gaps of 0.03 to 0.33 nats; on AVX2 all 4
    /// were identical.
    static let tieMargin: Float = 0.75

    static let greedy: GenerateParameters = {
        var p = GenerateParameters.greedy(maxTokens: 24)
        p.logprobs = 5
        return p
    }()

    @Test func batchedGreedyTextMatchesSequential() async throws {
        let local = try Self.load()
        var alone: [GenerationResult] = []
        for prompt in Self.prompts {
            alone.append(try await local.complete(prompt: prompt, parameters: Self.greedy))
        }
        let batched = BatchedModel(base: try Self.load(), parallel: 4, prefillChunk: 8)
        defer { batched.shutdown() }
        let together = try await withThrowingTaskGroup(of: (Int, GenerationResult).self) { group in
            for (i, prompt) in Self.prompts.enumerated() {
                group.addTask { (i, try await batched.complete(prompt: prompt, parameters: Self.greedy)) }
            }
            var results = [GenerationResult?](repeating: nil, count: Self.prompts.count)
            for try await (i, result) in group { results[i] = result }
            return results.compactMap { $0 }
        }
        #expect(together.count == alone.count)
        var identical = 0
        for (i, (a, b)) in zip(alone, together).enumerated() {
            guard let split = (0..<min(a.tokens.count, b.tokens.count)).first(where: { a.tokens[$0] != b.tokens[$0] }) else {
                #expect(a.tokens == b.tokens, "prompt \(i): one text is a prefix of the other")
                identical += 1
                continue
            }
            for (run, other) in [(a, b), (b, a)] {
                let step = run.logprobs[split]
                let rival = step.top.first { $0.token == other.tokens[split] }?.logprob
                let gap = rival.map { step.logprob - $0 } ?? .infinity
                #expect(gap < Self.tieMargin,
                        "prompt \(i) differs at token \(split), a gap of \(gap) nats: alone \(a.text.debugDescription), batched \(b.text.debugDescription)")
            }
        }
        print("batched greedy: \(identical) of \(alone.count) texts identical to sequential; the rest split at near-ties")
        let stats = batched.statistics
        // Passes carried several sequences at once.
        #expect(stats.rows > stats.passes)
    }

    /// The packed weights batched passes use (`PackedMatrix`) give the llama.cpp-order products
    /// to float rounding, for every packed weight of the default model (the Q8_0 tied head, the
    /// Q5_0/Q8_0/Q4_K/Q6_K projections of a layer), at row counts that exercise the tile tails.
    @Test func packedWeightsAgreeWithTheLlamaCppOrder() throws {
        let model = try Self.load()
        let w = model.transformer.weights
        let threads = ThreadCount(2)
        let layer = w.layers[3]
        let matrices = [w.output, layer.query, layer.key, layer.value, layer.output, layer.gate, layer.up, layer.down]
        let packed = PackedWeights(matrices, threads: threads)
        guard !packed.isEmpty else {
            print("packed weights: not available on this CPU (AVX-512 VNNI); skipped")
            return
        }
        // A budget too small for the head packs what fits after it and leaves the head as it is.
        let small = PackedWeights(matrices, threads: threads, budget: 8 << 20)
        #expect(small.matrix(for: w.output) == nil)
        #expect(small.matrix(for: layer.gate) != nil)
        #expect(small.bytes > 0 && small.bytes <= 8 << 20)
        var rng = SystemRandomNumberGenerator()
        for weight in matrices {
            let p = try #require(packed.matrix(for: weight), "\(weight.name) (\(weight.type)) was not packed")
            for rows in [2, 3, 9] {
                let input = ActivationBatch(width: weight.columns, capacity: rows)
                for i in 0..<(rows * weight.columns) { input.floats[i] = Float.random(in: -2...2, using: &rng) }
                input.invalidate(rows: rows)
                let exact = UnsafeMutablePointer<Float>.allocate(capacity: rows * weight.rows)
                let fast = UnsafeMutablePointer<Float>.allocate(capacity: rows * weight.rows)
                defer { exact.deallocate(); fast.deallocate() }
                MatMul(threads: threads, precision: .llamaCpp)(weight, input, exact, ldo: weight.rows)
                p.multiply(input, fast, ldo: weight.rows, threads: threads)
                var worst: Float = 0, scale: Float = 0
                for i in 0..<(rows * weight.rows) {
                    worst = max(worst, abs(exact[i] - fast[i]))
                    scale = max(scale, abs(exact[i]))
                }
                #expect(scale > 0)
                #expect(worst <= 1e-4 * scale, "\(weight.name) (\(weight.type)) at \(rows) rows: max difference \(worst), max |value| \(scale)")
            }
        }
    }

    /// A consumer that stops reading ends its generation; the slot serves the next request,
    /// and a prompt sharing a prefix with a finished one reuses its cache.
    @Test func cancellationFreesTheSlotAndPrefixesAreReused() async throws {
        let batched = BatchedModel(base: try Self.load(), parallel: 1, prefillChunk: 16)
        defer { batched.shutdown() }
        let long = Task {
            var pieces = 0
            for try await event in batched.generate(prompt: Self.prompts[3], parameters: .greedy(maxTokens: 500)) {
                if case .token = event { pieces += 1 }
                if pieces == 3 { break }
            }
            return pieces
        }
        #expect(try await long.value == 3)
        // With one slot, this runs only if the cancelled generation let go of it.
        let first = try await batched.complete(prompt: Self.prompts[1], parameters: .greedy(maxTokens: 4))
        #expect(first.stopReason == .length || first.stopReason == .endOfSequence)
        let before = batched.statistics.reusedPromptTokens
        let again = try await batched.complete(prompt: Self.prompts[1] + " 100", parameters: .greedy(maxTokens: 2))
        #expect(batched.statistics.reusedPromptTokens - before >= first.promptTokenCount - 1)
        #expect(again.timings.promptTokens < again.promptTokenCount)
    }
}
