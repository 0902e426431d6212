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

    func run() async throws {
        let path = try ModelStore().resolve(model)
        let tokenizer: any Tokenizer = try LocalModel.loadTokenizer(path: path)
        let ids = try tokenizer.encode(text, addBOS: bos, parseSpecial: special)
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

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
