import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRuntime

struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed sentences with the sentence embedder (all-MiniLM-L6-v2 by default).")

    @Option(name: [.customShort("m"), .customLong("model")], help: "Embedder folder or catalog name.")
    var model: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read sentences from a file, one per line.")
    var file: String?

    @Option(help: "Sentences per batch.") var batchSize = 64

    @Flag(help: "Print one JSON line per sentence: {\"text\", \"embedding\"}.") var json = false

    @Flag(help: "Only report throughput (sentences/s), not the vectors.") var timing = false

    @Flag(help: fastEmbeddingsHelp) var fastEmbeddings = false

    @Argument(help: "Sentences (when no --file).") var sentences: [String] = []

    func run() async throws {
        let embedder = try loadEmbedder(model, fast: fastEmbeddings)
        let texts = try file.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").map(String.init) } ?? sentences
        guard !texts.isEmpty else { throw ValidationError("no sentences (give them as arguments or with --file)") }
        let start = Date()
        var vectors: [[Float]] = []
        for i in stride(from: 0, to: texts.count, by: batchSize) {
            vectors += try embedder.embed(Array(texts[i..<min(texts.count, i + batchSize)]))
        }
        let seconds = Date().timeIntervalSince(start)
        if timing {
            print(try jsonLine(["sentences": texts.count, "seconds": seconds, "sentences_per_second": Double(texts.count) / seconds]))
            return
        }
        for (text, vector) in zip(texts, vectors) {
            if json {
                print(try jsonLine(["text": text, "embedding": vector.map { Double($0) }]))
            } else {
                print("\(vector.prefix(6).map { String(format: "%.4f", $0) }.joined(separator: " ")) …  \(text.prefix(60))")
            }
        }
    }
}
