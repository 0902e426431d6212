import ArgumentParser
import Foundation
import KnowLMCore
import KnowLMRuntime

struct Tokenize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the token ids of a text.")

    @Option(name: [.customShort("m"), .customLong("model")], help: "GGUF file, Hugging Face folder, or catalog name.")
    var model: String?

    @Flag(help: "Prepend the BOS token.")
    var bos = false

    @Flag(help: "Turn control tokens written in the text (<start_of_turn>) into their ids.")
    var special = false

    @Flag(help: "Print {\"ids\": [...]}.")
    var json = false

    @Argument(help: "The text.")
    var text: String

    @Option(help: ArgumentHelp("Run the tokens through the model and write every intermediate tensor (llama.cpp's names) to this file, for comparison with llama.cpp's eval callback.", visibility: .hidden))
    var dumpTensors: String?

    func run() async throws {
        let path = try ModelStore().resolve(model)
        let tokenizer: any Tokenizer = try LocalModel.loadTokenizer(path: path)
        let ids = try tokenizer.encode(text, addBOS: bos, parseSpecial: special)
        if let dumpTensors {
            // With --dump-tensors, TEXT may also be a comma-separated list of token ids.
            if text.allSatisfy({ $0.isNumber || $0 == "," }), !text.isEmpty {
                try dump(text.split(separator: ",").compactMap { TokenID($0) }, path: path, to: dumpTensors)
                return
            }
            try dump(ids, path: path, to: dumpTensors)
            return
        }
        if json {
            print(try jsonLine(["ids": ids.map { Int($0) }]))
        } else {
            for id in ids {
                let piece = tokenizer.decode([id], renderSpecial: true)
                print("\(String(id).leftPad(7)) -> '\(piece)'")
            }
        }
    }
}

/// Writes `name\tcount\n` headers each followed by `count` little-endian floats.
func dump(_ ids: [TokenID], path: String, to file: String) throws {
    var options = RuntimeOptions()
    options.contextLength = 512
    options.precision = ProcessInfo.processInfo.environment["KNOWLM_PRECISION"].flatMap(Precision.init(rawValue:)) ?? .llamaCpp
    let model = try LocalModel.load(path: path, options: options)
    var out = Data()
    model.transformer.trace = { name, pointer, count in
        out.append(Data("\(name)\t\(count)\n".utf8))
        out.append(Data(bytes: pointer, count: count * 4))
    }
    let logits = try model.logits(for: ids)
    out.append(Data("result_output\t\(logits.count * logits[0].count)\n".utf8))
    for row in logits { row.withUnsafeBytes { out.append(contentsOf: $0) } }
    try out.write(to: URL(fileURLWithPath: file))
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
