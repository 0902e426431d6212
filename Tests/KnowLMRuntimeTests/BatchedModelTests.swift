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

    /// Greedy continuations decoded together equal those decoded one at a time.
    @Test func batchedGreedyTextMatchesSequential() async throws {
        let local = try Self.load()
        var alone: [String] = []
        for prompt in Self.prompts {
            alone.append(try await local.complete(prompt: prompt, parameters: .greedy(maxTokens: 24)).text)
        }
        let batched = BatchedModel(base: try Self.load(), parallel: 4, prefillChunk: 8)
        defer { batched.shutdown() }
        let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, prompt) in Self.prompts.enumerated() {
                group.addTask { (i, try await batched.complete(prompt: prompt, parameters: .greedy(maxTokens: 24)).text) }
            }
            var texts = [String](repeating: "", count: Self.prompts.count)
            for try await (i, text) in group { texts[i] = text }
            return texts
        }
        #expect(together == alone)
        let stats = batched.statistics
        // Passes carried several sequences at once.
        #expect(stats.rows > stats.passes)
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
