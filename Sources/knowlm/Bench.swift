import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `llama-bench`'s two numbers for one model: prompt processing and token generation speed,
/// plus load time and peak memory, so runs can be compared with llama.cpp side by side.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: model speed (the default) and grammar-constrained decoding.",
        subcommands: [BenchModel.self, BenchBatch.self, BenchGrammar.self, BenchKernels.self], defaultSubcommand: BenchModel.self)
}

struct BenchModel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Measure load time, prompt processing (pp) and generation (tg) speed, and peak memory.")

    @OptionGroup var model: ModelOptions

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens to process.")
    var promptTokens: Int = 512

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Tokens to generate, one at a time.")
    var generateTokens: Int = 128

    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Repetitions of each test (the mean is reported).")
    var repetitions: Int = 3

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Print which kernels run (BLAS core, own kernel set).")
    var verbose = false

    func validate() throws {
        if promptTokens < 1 || generateTokens < 0 || repetitions < 1 { throw ValidationError("counts must be positive") }
    }

    func run() async throws {
        let start = Date()
        let llm = try model.load()
        let loadSeconds = Date().timeIntervalSince(start)
        // Deterministic pseudo-random tokens from the ordinary vocabulary, as llama-bench uses.
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        let vocabulary = UInt64(llm.tokenizer.vocabularySize)
        let prompt: [TokenID] = (0..<promptTokens).map { i in
            if i == 0, let bos = llm.tokenizer.bosID { return bos }
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return TokenID(1000 + (state >> 33) % max(1, vocabulary - 2000))
        }
        var pp: [Double] = [], tg: [Double] = []
        for _ in 0..<repetitions {
            var p = GenerateParameters.greedy(maxTokens: 0)
            p.addBOS = false
            // A distinct second token defeats prefix reuse, so every repetition reads the whole prompt.
            var fresh = prompt
            fresh[min(1, fresh.count - 1)] = TokenID(1000 + pp.count)
            let prefill = try llm.generate(tokens: fresh, parameters: p)
            pp.append(prefill.timings.promptTokensPerSecond)
            if generateTokens > 0 {
                let short = [prompt[0], TokenID(2000 + tg.count)]
                var g = GenerateParameters.greedy(maxTokens: generateTokens)
                g.stop = []
                let result = try llm.generate(tokens: short, parameters: g)
                // Count forward passes, not emitted tokens: an early EOS still decoded that far.
                if result.timings.generatedTokens > 0 { tg.append(result.timings.generationTokensPerSecond) }
            }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        let mean = { (x: [Double]) in x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count) }
        if json {
            print(try jsonLine([
                "model": llm.name, "threads": model.threads ?? ProcessInfo.processInfo.activeProcessorCount,
                "load_seconds": loadSeconds, "pp_tokens": promptTokens, "pp_tokens_per_second": mean(pp),
                "tg_tokens": generateTokens, "tg_tokens_per_second": mean(tg), "peak_rss_mib": peakMiB,
                "precision": model.precision, "blas_core": BLAS.coreName, "blas_core_origin": BLAS.coreOrigin,
                "kernels": BLAS.ownKernels,
            ]))
        } else {
            if verbose { print(BLAS.kernelSummary) }
            print("model \(llm.name)  load \(String(format: "%.3f", loadSeconds)) s  peak RSS \(String(format: "%.0f", peakMiB)) MiB")
            print(String(format: "pp%d: %.1f tokens/s   tg%d: %.1f tokens/s   (mean of %d)", promptTokens, mean(pp), generateTokens, mean(tg), repetitions))
        }
    }
}

/// Which kernels this machine runs: OpenBLAS's core and how it was chosen, and our own set.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels", abstract: "Print which BLAS core and which own kernels run on this CPU.")

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        try BLAS.ensureLoaded()
        if json {
            print(try jsonLine(["blas_core": BLAS.coreName, "blas_core_origin": BLAS.coreOrigin,
                                "best_core_for_cpu": BLAS.bestCoreForCPU ?? "", "kernels": BLAS.ownKernels,
                                "batched_kernels": BLAS.packedBatchKernels ? "packed int8 weights" : "llama.cpp order"]))
        } else {
            print(BLAS.kernelSummary)
        }
    }
}
