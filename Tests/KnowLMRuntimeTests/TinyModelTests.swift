import Foundation
import KnowLMCore
import Testing
@testable import KnowLMRuntime

/// Tiny random-weight models of every architecture against llama.cpp and transformers
/// (goldens made by scripts/golden/tiny_model_goldens.py for the files of TinyModels).
struct TinyModelTests {
    nonisolated(unsafe) static let golden = try! Fixtures.json("tiny/goldens.json")
    static var models: [[String: Any]] { golden["models"] as! [[String: Any]] }
    static var sequences: [[Int32]] { (golden["sequences"] as! [[Any]]).map { $0.int32s } }
    static var modelNames: [String] { models.map { $0["name"] as! String } }

    static func maxDifference(_ ours: [[Float]], _ theirs: [[Any]]) -> Float {
        var worst: Float = 0
        for (row, expected) in zip(ours, theirs) {
            for (a, b) in zip(row, expected.floats) { worst = max(worst, abs(a - b)) }
        }
        return worst
    }

    @Test(arguments: modelNames)
    func ggufLogitsMatchLlamaCpp(name: String) throws {
        let entry = Self.models.first { $0["name"] as! String == name }!
        var options = RuntimeOptions()
        options.contextLength = 64
        options.batchSize = 7  // several batches per sequence: exercises the cache across calls
        let model = try LocalModel.load(path: Fixtures.tinyModel(entry["file"] as! String).path, options: options)
        #expect(model.transformer.config.architecture == (entry["architecture"] as! String))
        for (sequence, expected) in zip(Self.sequences, entry["logits"] as! [[[Any]]]) {
            let logits = try model.logits(for: sequence)
            #expect(logits.count == expected.count)
            let diff = Self.maxDifference(logits, expected)
            // Both engines round K and V to fp16 in the cache, and that rounding grows with the
            // activations: allow 1e-4 of the largest logit, at least 1e-3 (llama.cpp's own fp16
            // vs fp32 cache difference on these models is up to 1.1e-2; goldens.json "checks").
            let largest = expected.flatMap { $0.floats }.map(abs).max() ?? 0
            let tolerance = max(1e-3, 1e-4 * largest)
            #expect(diff <= tolerance, "\(name): max |logit - llama.cpp| = \(diff), tolerance \(tolerance)")
        }
    }

    @Test(arguments: modelNames)
    func ggufTokenizerMatchesLlamaCpp(name: String) throws {
        let entry = Self.models.first { $0["name"] as! String == name }!
        let tokenizer = try LocalModel.loadTokenizer(path: Fixtures.tinyModel(entry["file"] as! String).path)
        for c in entry["tokenize"] as! [[String: Any]] {
            let ids = try tokenizer.encode(c["text"] as! String, addBOS: c["add_bos"] as! Bool, parseSpecial: c["special"] as! Bool)
            #expect(ids == (c["ids"] as! [Any]).int32s, "\(name): \((c["text"] as! String).debugDescription)")
        }
    }

    @Test(arguments: ["hf-llama", "hf-llama-sharded"])
    func huggingFaceFolderMatchesTransformers(folder: String) throws {
        let hf = Self.golden["hf_llama"] as! [String: Any]
        var options = RuntimeOptions()
        options.contextLength = 64
        options.precision = .float32
        let model = try LocalModel.load(path: TinyHuggingFaceFolders.url(folder).path, options: options)
        for (sequence, expected) in zip(Self.sequences, hf["logits"] as! [[[Any]]]) {
            let diff = Self.maxDifference(try model.logits(for: sequence), expected)
            #expect(diff <= 1e-4, "\(folder): max |logit - transformers| = \(diff)")
        }
        for c in hf["sentencepiece_encode"] as! [[String: Any]] {
            let ids = try model.tokenizer.encode(c["text"] as! String, addBOS: false, parseSpecial: false)
            #expect(ids == (c["ids"] as! [Any]).int32s)
        }
    }

    @Test func generationIsDeterministicWithASeedAndStopsAtStopStrings() throws {
        var options = RuntimeOptions()
        options.contextLength = 64
        let model = try LocalModel.load(path: try Fixtures.tinyModel("tiny-llama.gguf").path, options: options)
        var p = GenerateParameters()
        p.seed = 42
        p.maxTokens = 12
        let prompt = Self.sequences[0]
        let a = try model.generate(tokens: prompt, parameters: p)
        let b = try model.generate(tokens: prompt, parameters: p)
        #expect(a.tokens == b.tokens)
        #expect(a.tokens.count == 12 && a.stopReason == .length)
        // A stop string taken from the middle of the generated text ends generation there.
        let greedy = try model.generate(tokens: prompt, parameters: .greedy(maxTokens: 12))
        let text = greedy.text
        if text.count >= 4 {
            var s = GenerateParameters.greedy(maxTokens: 12)
            let stop = String(text.dropFirst(2).prefix(2))
            s.stop = [stop]
            let stopped = try model.generate(tokens: prompt, parameters: s)
            #expect(stopped.stopReason == .stopString)
            #expect(!stopped.text.contains(stop))
            #expect(text.hasPrefix(stopped.text))
        }
    }

    @Test func beamSearchScoresAtLeastAsWellAsGreedy() throws {
        var options = RuntimeOptions()
        options.contextLength = 64
        options.precision = .float32
        let model = try LocalModel.load(path: try Fixtures.tinyModel("tiny-qwen2.gguf").path, options: options)
        let prompt = Self.sequences[0]
        let greedy = try model.generate(tokens: prompt, parameters: .greedy(maxTokens: 6))
        var p = GenerateParameters.greedy(maxTokens: 6)
        p.numBeams = 4
        let beam = try model.generate(tokens: prompt, parameters: p)
        func logProbability(_ continuation: [TokenID]) throws -> Float {
            let logits = try model.logits(for: prompt + continuation)
            var total: Float = 0
            for (i, token) in continuation.enumerated() {
                let row = logits[prompt.count - 1 + i]
                let (m, ls) = row.withUnsafeBufferPointer { Sampler.logSoftmax($0.baseAddress!, count: row.count) }
                total += row[Int(token)] - m - ls
            }
            return total
        }
        #expect(beam.tokens.count == greedy.tokens.count)
        #expect(try logProbability(beam.tokens) >= logProbability(greedy.tokens) - 1e-4)
    }

    @Test func promptReusesTheCachedPrefix() throws {
        var options = RuntimeOptions()
        options.contextLength = 64
        let model = try LocalModel.load(path: Fixtures.tinyModel("tiny-gemma3.gguf").path, options: options)
        let long = Self.sequences[1]
        let first = try model.generate(tokens: long, parameters: .greedy(maxTokens: 3))
        #expect(first.timings.promptTokens == long.count)
        let second = try model.generate(tokens: long, parameters: .greedy(maxTokens: 3))
        #expect(second.timings.promptTokens == 1)  // only the last prompt token runs again
        #expect(second.tokens == first.tokens)
        // Reference: a fresh evaluation gives the same continuation.
        let fresh = try LocalModel.load(path: Fixtures.tinyModel("tiny-gemma3.gguf").path, options: options)
        #expect(try fresh.generate(tokens: long, parameters: .greedy(maxTokens: 3)).tokens == first.tokens)
    }
}

/// Writes the tiny GGUF models where scripts/golden/tiny_model_goldens.py reads them (only when
/// KNOWLM_TINY_OUT names a folder).
@Test func tinyModelFixturesAreWritten() throws {
    for spec in TinyModels.specs {
        let url = try TinyModels.url(spec.file)
        #expect(try GGUFFile(url: url).architecture == spec.architecture)
        if let out = ProcessInfo.processInfo.environment["KNOWLM_TINY_OUT"] {
            let target = URL(fileURLWithPath: out).appendingPathComponent(spec.file)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: url, to: target)
        }
    }
}
