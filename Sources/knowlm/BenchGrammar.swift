import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRuntime

/// Grammar-constrained decoding speed: for each JSON Schema in a folder, the grammar's compile
/// time, then greedy generation under it with the default model, timing every token mask.
/// `Benchmarks/grammar_mask_speed.py` replays the same token ids through llguidance and
/// xgrammar, so the three engines are compared on identical steps.
struct BenchGrammar: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Time grammar compilation and per-token mask computation while generating under JSON Schemas.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Folder of *.json schemas (or one schema file).")
    var schemas: String

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Most tokens to generate per schema.")
    var maxTokens: Int = 160

    @Flag(help: "Also time unconstrained generation of the same number of tokens (decoding-speed ratio).")
    var compareUnconstrained = false

    @Flag(help: "One JSON line per schema.")
    var json = false

    func run() async throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: schemas, isDirectory: &isDirectory) else {
            throw ValidationError("--schemas: no such file or folder: \(schemas)")
        }
        let files: [URL] = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(at: URL(fileURLWithPath: schemas), includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            : [URL(fileURLWithPath: schemas)]
        let llm = try model.load()
        let trieStart = Date()
        let trie = llm.vocabularyTrie
        if !json {
            printError(String(format: "vocabulary trie: %d tokens, %d nodes, built in %.0f ms", trie.vocabularySize, trie.nodeCount,
                              Date().timeIntervalSince(trieStart) * 1000))
        }
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let compileStart = DispatchTime.now().uptimeNanoseconds
            let grammar = try JSONSchemaGrammar.compile(text)
            let engine = GrammarEngine(grammar: grammar, trie: trie)
            let compileMs = Double(DispatchTime.now().uptimeNanoseconds - compileStart) / 1e6
            let timed = TimedProcessor(GrammarConstraint(engine: engine))
            let prompt = "A JSON object that matches this JSON Schema:\n\(text)\nJSON: "
            var p = GenerateParameters.greedy(maxTokens: maxTokens)
            p.stop = []
            llm.resetCache()
            let result = try llm.generate(tokens: try llm.tokenizer.encode(prompt, addBOS: true, parseSpecial: false),
                                          parameters: p, processors: [timed])
            var unconstrained: Double?
            if compareUnconstrained {
                llm.resetCache()
                var q = GenerateParameters.greedy(maxTokens: max(1, result.tokens.count))
                q.stop = []
                let free = try llm.generate(tokens: try llm.tokenizer.encode(prompt, addBOS: true, parseSpecial: false), parameters: q)
                unconstrained = free.timings.generationTokensPerSecond
            }
            let times = timed.microseconds.sorted()
            let stepMean = timed.stepMicroseconds.isEmpty ? 0 : timed.stepMicroseconds.reduce(0, +) / Double(timed.stepMicroseconds.count)
            let mean = times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count)
            let p99 = times.isEmpty ? 0 : times[min(times.count - 1, Int((Double(times.count) * 0.99).rounded(.up)) - 1)]
            let parses = (try? JSONValue.parse(result.text)) != nil
            var row: [String: Any] = [
                "schema": file.lastPathComponent, "compile_ms": compileMs, "mask_us_mean": mean, "mask_us_p99": p99,
                "steps": times.count, "mask_us": timed.microseconds, "step_us_mean": stepMean, "token_ids": result.tokens.map { Int($0) }, "text": result.text,
                "stop_reason": result.stopReason.rawValue, "parses": parses,
                "constrained_tokens_per_second": result.timings.generationTokensPerSecond,
            ]
            if let unconstrained { row["unconstrained_tokens_per_second"] = unconstrained }
            if json { print(try jsonLine(row)) } else {
                print(String(format: "%@  compile %.2f ms  mask mean %.0f µs  p99 %.0f µs  (with logits %.0f µs)  %d steps  %@  %.1f tok/s%@",
                             file.lastPathComponent, compileMs, mean, p99, stepMean, times.count, parses ? "parses" : "DOES NOT PARSE",
                             result.timings.generationTokensPerSecond,
                             unconstrained.map { String(format: " (unconstrained %.1f)", $0) } ?? ""))
            }
        }
    }
}

/// Wraps a grammar constraint and records, per step, the time to compute the token mask (what
/// llguidance's and xgrammar's mask calls measure) and the time of the whole step (the mask
/// applied to the logits as well).
final class TimedProcessor: LogitsProcessor, @unchecked Sendable {
    let inner: GrammarConstraint
    var microseconds: [Double] = []
    var stepMicroseconds: [Double] = []
    init(_ inner: GrammarConstraint) { self.inner = inner }
    func process(_ logits: inout TokenLogits) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = inner.engine.mask(for: inner.state)  // computed and cached here; `process` reuses it
        let masked = DispatchTime.now().uptimeNanoseconds
        try inner.process(&logits)
        let end = DispatchTime.now().uptimeNanoseconds
        microseconds.append(Double(masked - start) / 1000)
        stepMicroseconds.append(Double(end - start) / 1000)
    }
    func accept(_ token: TokenID) throws { try inner.accept(token) }
    var isFinished: Bool { inner.isFinished }
    func permits(_ token: TokenID, remaining: Int) -> Bool { inner.permits(token, remaining: remaining) }
    func copy() -> any LogitsProcessor { TimedProcessor(inner.copy() as! GrammarConstraint) }
}
