import Foundation
import KnowLMCore
import Testing
@testable import KnowLMRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Bad input gets a one-line error that names the problem, and nothing crashes.
struct RobustnessTests {
    static func tinyOptions() -> RuntimeOptions {
        var options = RuntimeOptions()
        options.contextLength = 32
        options.threads = ThreadCount(1)
        return options
    }

    /// Loads a possibly damaged model and, if it loads, runs it: either works or throws.
    @discardableResult
    static func loadAndRun(_ path: String) -> Bool {
        do {
            let model = try LocalModel.load(path: path, options: tinyOptions())
            _ = try model.logits(for: [1, 2, 3])
            _ = try model.tokenizer.encode("hello world", addBOS: true, parseSpecial: true)
            return true
        } catch {
            let message = error.localizedDescription
            #expect(!message.isEmpty && !message.contains("\n"), "error message should be one line: \(message)")
            return false
        }
    }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    @Test func damagedGGUFFilesLoadOrFailCleanly() throws {
        let source = try Fixtures.tinyModel("tiny-llama.gguf")
        let original = [UInt8](try Data(contentsOf: source))
        let file = try GGUFFile(url: source)
        let headerEnd = file.dataOffset
        // The byte positions of every tensor's type and offset fields in the tensor table.
        var tableFields: [Int] = []
        for info in file.tensors {
            var needle: [UInt8] = []
            withUnsafeBytes(of: UInt64(info.name.utf8.count).littleEndian) { needle += $0 }
            needle += Array(info.name.utf8)
            if let start = original.firstRange(of: needle)?.lowerBound {
                let typeField = start + needle.count + 4 + 8 * info.shape.count
                tableFields += Array(typeField..<(typeField + 12))
            }
        }
        #expect(!tableFields.isEmpty)

        var rng = SeededGenerator(seed: 7)
        var variants: [[UInt8]] = []
        // Truncations: every byte of the first 512, then spread over header and data.
        for length in 0..<512 { variants.append(Array(original.prefix(length))) }
        for _ in 0..<100 { variants.append(Array(original.prefix(Int.random(in: 0..<original.count, using: &rng)))) }
        // Byte flips in the header, metadata and tensor table, in the type/offset fields, and in data.
        func flipped(_ positions: [Int]) -> [UInt8] {
            var bytes = original
            for p in positions { bytes[p] ^= UInt8.random(in: 1...255, using: &rng) }
            return bytes
        }
        for _ in 0..<300 { variants.append(flipped([Int.random(in: 0..<headerEnd, using: &rng)])) }
        for _ in 0..<100 { variants.append(flipped((0..<3).map { _ in Int.random(in: 0..<headerEnd, using: &rng) })) }
        for _ in 0..<100 { variants.append(flipped([tableFields.randomElement(using: &rng)!])) }
        for _ in 0..<30 { variants.append(flipped([Int.random(in: headerEnd..<original.count, using: &rng)])) }

        let directory = try TemporaryDirectory()
        let path = directory.file("damaged.gguf").path
        let memoryBefore = Self.peakResidentBytes()
        var loaded = 0
        for bytes in variants {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if Self.loadAndRun(path) { loaded += 1 }
        }
        let growth = Self.peakResidentBytes() - memoryBefore
        print("damaged GGUF files: \(variants.count), loaded \(loaded), refused \(variants.count - loaded); peak RSS grew \(growth / 1_048_576) MiB")
        #expect(variants.count >= 1000)
        #expect(loaded > 0 && loaded < variants.count)
        // Nothing was allocated on the word of a corrupted count or shape. (Coarse: other suites
        // running in parallel load the 270M model into this process too.)
        #expect(growth < 1 << 30)
    }

    @Test func damagedSafetensorsFoldersLoadOrFailCleanly() throws {
        let source = try TinyHuggingFaceFolders.url("hf-llama")
        let original = [UInt8](try Data(contentsOf: source.appendingPathComponent("model.safetensors")))
        let headerLength = Int(original.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let directory = try TemporaryDirectory()
        for name in ["config.json", "tokenizer.model"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: directory.file(name))
        }
        var rng = SeededGenerator(seed: 11)
        var variants: [[UInt8]] = []
        for _ in 0..<150 { variants.append(Array(original.prefix(Int.random(in: 0..<(8 + headerLength + 64), using: &rng)))) }
        for _ in 0..<250 {
            var bytes = original
            let p = Int.random(in: 0..<(8 + headerLength), using: &rng)
            bytes[p] ^= UInt8.random(in: 1...255, using: &rng)
            variants.append(bytes)
        }
        var loaded = 0
        for bytes in variants {
            try Data(bytes).write(to: directory.file("model.safetensors"))
            if Self.loadAndRun(directory.url.path) { loaded += 1 }
        }
        print("damaged safetensors files: \(variants.count), loaded \(loaded)")
        #expect(loaded < variants.count)
    }

    @Test func unknownArchitectureIsNamed() throws {
        var writer = GGUFWriter(copying: try GGUFFile(url: try Fixtures.tinyModel("tiny-llama.gguf")))
        writer.set("general.architecture", .string("mamba9"))
        let directory = try TemporaryDirectory()
        try writer.write(to: directory.file("m.gguf"))
        #expect {
            try LocalModel.load(path: directory.file("m.gguf").path, options: Self.tinyOptions())
        } throws: { error in
            error.localizedDescription.contains("architecture 'mamba9' is not supported")
        }
    }

    @Test func unsupportedAndUnknownTensorTypesAreNamed() throws {
        let file = try GGUFFile(url: try Fixtures.tinyModel("tiny-llama.gguf"))
        let directory = try TemporaryDirectory()
        // A real ggml type this build cannot compute: IQ4_NL (32 elements in 18 bytes).
        var writer = GGUFWriter(copying: file)
        let i = writer.tensors.firstIndex { $0.name == "blk.0.ffn_down.weight" }!
        let (columns, rows) = (writer.tensors[i].shape[0], writer.tensors[i].shape[1])
        writer.tensors[i].type = GGMLType(rawValue: 20)
        writer.tensors[i].data = [UInt8](repeating: 0, count: columns / 32 * 18 * rows)
        try writer.write(to: directory.file("iq4.gguf"))
        #expect {
            try LocalModel.load(path: directory.file("iq4.gguf").path, options: Self.tinyOptions())
        } throws: { error in
            error.localizedDescription.contains("blk.0.ffn_down.weight: type IQ4_NL is not supported")
        }
        // A type number ggml does not define.
        writer.tensors[i].type = GGMLType(rawValue: 99)
        try writer.write(to: directory.file("t99.gguf"))
        #expect {
            try GGUFFile(url: directory.file("t99.gguf"))
        } throws: { error in
            error.localizedDescription.contains("type 99 is not a known GGUF type")
        }
    }

    @Test func promptLongerThanTheContextIsRefused() throws {
        let model = try LocalModel.load(path: try Fixtures.tinyModel("tiny-llama.gguf").path, options: Self.tinyOptions())
        let prompt = [TokenID](repeating: 5, count: 40)
        #expect {
            try model.generate(tokens: prompt, parameters: .greedy(maxTokens: 4))
        } throws: { error in
            error.localizedDescription == "prompt is 40 tokens but the context holds 32; shorten it or raise -c"
        }
        // Generation that reaches the end of the context stops with a reason instead of failing.
        let result = try model.generate(tokens: [TokenID](repeating: 5, count: 28), parameters: .greedy(maxTokens: 10))
        #expect(result.stopReason == .contextFull || result.stopReason == .endOfSequence)
        #expect(result.tokens.count <= 5)
    }

    @Test func ggufRoundTripsThroughTheWriter() throws {
        let file = try GGUFFile(url: Fixtures.tinyModel("tiny-gemma3.gguf"))
        let directory = try TemporaryDirectory()
        try GGUFWriter(copying: file).write(to: directory.file("copy.gguf"))
        let copy = try GGUFFile(url: directory.file("copy.gguf"))
        #expect(copy.metadataKeys == file.metadataKeys)
        for key in file.metadataKeys { #expect(copy.metadata[key] == file.metadata[key]) }
        #expect(copy.tensors.map(\.name) == file.tensors.map(\.name))
        #expect(copy.tensors.map(\.shape) == file.tensors.map(\.shape))
    }
}
