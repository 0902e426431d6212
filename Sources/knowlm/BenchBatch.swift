import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRuntime

/// Aggregate decoding speed with several generations decoded together (continuous batching,
/// as `knowlm serve --parallel N` runs them), against one at a time.
struct BenchBatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Measure aggregate generation speed with 1, 2, 4, … generations decoded together.")

    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("parallel"), parsing: .upToNextOption, help: "Numbers of concurrent generations to measure.")
    var levels: [Int] = [1, 4, 8]

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Tokens each generation writes.")
    var generateTokens: Int = 64

    func validate() throws {
        if levels.isEmpty || levels.contains(where: { $0 < 1 || $0 > 64 }) { throw ValidationError("--parallel takes numbers from 1 to 64") }
        if generateTokens < 1 { throw ValidationError("--n-gen must be positive") }
    }

    func run() async throws {
        let llm = try model.load()
        printError("model \(llm.name), \(generateTokens) tokens per generation, greedy, no stop token")
        var one: Double?
        for level in levels {
            let batched = BatchedModel(base: llm, parallel: level)
            defer { batched.shutdown() }
            let parameters = GenerateParameters.greedy(maxTokens: generateTokens)
            let start = Date()
            let tokens = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<level {
                    // Distinct prompts, so no generation reuses another's cache.
                    let prompt = "Story \(i + 1): once upon a time, in a town called Number \(i * 7 + 3),"
                    group.addTask {
                        var count = 0
                        for try await event in batched.generate(prompt: prompt, parameters: parameters) {
                            if case .done(let r) = event { count = r.timings.generatedTokens }
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            let seconds = Date().timeIntervalSince(start)
            let rate = Double(tokens) / seconds
            if level == 1 { one = rate }
            let stats = batched.statistics
            print(String(format: "parallel %2d: %6.1f tokens/s aggregate (%d tokens in %.2f s, %.1f rows per pass)%@",
                         level, rate, tokens, seconds, Double(stats.rows) / Double(max(1, stats.passes)),
                         one.map { String(format: ", %.2fx one at a time", rate / $0) } ?? ""))
        }
    }
}
